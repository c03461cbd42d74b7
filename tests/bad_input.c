/* SPDX-License-Identifier: MIT */
/*
 * Bad input to every public function: each returns the documented -errno
 * and leaves errno alone.
 * usage: bad_input [MECHANISM]
 */
#include <sys/socket.h>

#include "testlib.h"

static int create_with(struct wset_config config)
{
	struct wset *ws = NULL;
	int ret = wset_create(&config, &ws);

	if (ret == 0)
		wset_destroy(ws);
	return ret;
}

int main(int argc, char **argv)
{
	struct wset_config config = WSET_CONFIG_INIT, bad;
	struct wset_store_ops no_ops = WSET_STORE_OPS_INIT();
	struct wset_store broken = { .ops = &no_ops };
	struct wset_policy policy = WSET_POLICY_INIT;
	struct wset_adopt adopt = WSET_ADOPT_INIT;
	struct wset_counters counters = WSET_COUNTERS_INIT;
	struct wset_histogram hist;
	struct wset_range range;
	struct wset_store *store;
	size_t page = (size_t)sysconf(_SC_PAGESIZE), count;
	struct wset *ws;
	int fd, pipe_fds[2], region, closed_fd;
	uint8_t *mem, *hole;
	char why[128];

	config.mechanism = test_mechanism(argc, argv);
	ws = test_create(&config);
	tap_plan(70);

	EXPECT(wset_probe(NULL), -EINVAL);
	EXPECT(wset_create(&config, NULL), -EINVAL);
	bad = config; bad.interval_ms = 0;
	EXPECT(create_with(bad), -EINVAL);
	bad = config; bad.fault_threads = 0;
	EXPECT(create_with(bad), -EINVAL);
	bad = config; bad.fault_threads = 65;
	EXPECT(create_with(bad), -EINVAL);
	bad = config; bad.mechanism = (enum wset_mechanism)99;
	EXPECT(create_with(bad), -EINVAL);
	bad = config; bad.wss_age = 0;
	EXPECT(create_with(bad), -EINVAL);
	bad = config; bad.store = &broken;
	EXPECT(create_with(bad), -EINVAL);
	bad = config; bad.policy.min_idle_age = WSET_AGE_MAX + 1;
	EXPECT(create_with(bad), -EINVAL);
	bad = config; bad.store_dir = "/nonexistent/wset";
	EXPECT(create_with(bad), -ENOENT);

	struct wset *adopted;
	EXPECT(wset_adopt(&config, NULL, &adopted), -EINVAL);
	EXPECT(wset_adopt(&config, &adopt, &adopted), -EINVAL);
	adopt.pid = getpid();
	EXPECT(wset_adopt(&config, &adopt, NULL), -EINVAL);
	closed_fd = dup(0);
	close(closed_fd);
	adopt.uffd = closed_fd;	/* nothing opens a file before its use */
	EXPECT(wset_adopt(&config, &adopt, &adopted), -EBADF);
	adopt.uffd = 0;
	adopt.pid = 0;
	EXPECT(wset_adopt(&config, &adopt, &adopted), -EINVAL);

	EXPECT(wset_destroy(NULL), 0);
	EXPECT(wset_mechanism(NULL), WSET_MECHANISM_AUTO);
	EXPECT(strcmp(wset_mechanism_name((enum wset_mechanism)99), "unknown"), 0);

	/* Regions. */
	mem = test_memory(MEMORY_MEMFD, 16 * page, &fd, why, sizeof(why));
	if (!mem)
		tap_bail("%s", why);
	/* Below vm.mmap_min_addr: never mapped. */
	hole = (uint8_t *)(uintptr_t)page;
	uint8_t *anon = mmap(NULL, 8 * page, PROT_READ | PROT_WRITE,
			     MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	EXPECT(wset_add_anon(NULL, (uintptr_t)anon, page), -EINVAL);
	EXPECT(wset_add_anon(ws, (uintptr_t)anon, 0), -EINVAL);
	EXPECT(wset_add_anon(ws, (uintptr_t)anon + 1, page), -EINVAL);
	EXPECT(wset_add_anon(ws, (uintptr_t)anon, page + 1), -EINVAL);
	EXPECT(wset_add_anon(ws, UINT64_MAX - page + 1, 2 * page), -EINVAL);
	EXPECT(wset_add_anon(ws, (uintptr_t)hole, 4 * page), -ENOMEM);
	EXPECT(wset_add_file(NULL, (uintptr_t)mem, page, fd, 0), -EINVAL);
	EXPECT(wset_add_file(ws, (uintptr_t)mem, page, -1, 0), -EBADF);
	closed_fd = dup(0);
	close(closed_fd);
	EXPECT(wset_add_file(ws, (uintptr_t)mem, page, closed_fd, 0), -EBADF);
	if (pipe(pipe_fds) < 0)
		tap_bail("pipe");
	EXPECT(wset_add_file(ws, (uintptr_t)mem, page, pipe_fds[0], 0), -EINVAL);
	EXPECT(wset_add_file(ws, (uintptr_t)mem, page, fd, 1), -EINVAL);
	EXPECT(wset_add_file(ws, (uintptr_t)mem, 0, fd, 0), -EINVAL);
	EXPECT(wset_add_file(ws, (uintptr_t)hole, page, fd, 0), -ENOMEM);
	EXPECT(wset_add_anon(ws, (uintptr_t)mem, page), -EINVAL);
	EXPECT(wset_add_file(ws, (uintptr_t)anon, page, fd, 0), -EINVAL);
	region = wset_add_anon(ws, (uintptr_t)anon, 8 * page);
	tap_ok(region >= 0, "a good anonymous region is accepted: %d", region);
	EXPECT(wset_add_anon(ws, (uintptr_t)anon + 4 * page, page), -EEXIST);
	EXPECT(wset_add_anon(ws, (uintptr_t)anon, 8 * page), -EEXIST);
	EXPECT(wset_remove_region(NULL, region), -EINVAL);
	EXPECT(wset_remove_region(ws, -1), -EINVAL);
	EXPECT(wset_remove_region(ws, 999), -ENOENT);

	/* Tracking and policy. */
	EXPECT(wset_tick(NULL), -EINVAL);
	EXPECT(wset_start(NULL), -EINVAL);
	EXPECT(wset_stop(NULL), -EINVAL);
	EXPECT(wset_stop(ws), -EINVAL);
	EXPECT(wset_start(ws), 0);
	EXPECT(wset_start(ws), -EALREADY);
	EXPECT(wset_stop(ws), 0);
	EXPECT(wset_set_policy(NULL, &policy), -EINVAL);
	EXPECT(wset_set_policy(ws, NULL), -EINVAL);
	policy.min_idle_age = WSET_AGE_MAX + 1;
	EXPECT(wset_set_policy(ws, &policy), -EINVAL);
	EXPECT(wset_get_policy(NULL, &policy), -EINVAL);
	EXPECT(wset_get_policy(ws, NULL), -EINVAL);
	EXPECT(wset_evict(NULL, 1, 0, NULL), -EINVAL);
	EXPECT(wset_evict(ws, WSET_AGE_MAX + 1, 0, NULL), -EINVAL);
	EXPECT(wset_restore_all(NULL), -EINVAL);

	/* Readers. */
	EXPECT(wset_page_age(NULL, (uintptr_t)anon), -EINVAL);
	EXPECT(wset_page_age(ws, (uintptr_t)hole), -ENOENT);
	EXPECT(wset_page_age(ws, (uintptr_t)anon), -ENODATA);
	EXPECT(wset_cold_set(NULL, 1, &range, 1, &count), -EINVAL);
	EXPECT(wset_cold_set(ws, 1, &range, 1, NULL), -EINVAL);
	EXPECT(wset_cold_set(ws, 1, NULL, 1, &count), -EINVAL);
	EXPECT(wset_cold_set(ws, WSET_AGE_MAX + 1, &range, 1, &count), -EINVAL);
	EXPECT(wset_histogram(NULL, &hist), -EINVAL);
	EXPECT(wset_histogram(ws, NULL), -EINVAL);
	EXPECT(wset_counters(NULL, &counters), -EINVAL);
	EXPECT(wset_counters(ws, NULL), -EINVAL);

	/* Stores. */
	EXPECT(wset_file_store_open(NULL, &store), -EINVAL);
	EXPECT(wset_file_store_open("", &store), -EINVAL);
	EXPECT(wset_file_store_open("/nonexistent/dir/file", &store), -ENOENT);
	wset_store_close(NULL);

	EXPECT(wset_remove_region(ws, region), 0);
	EXPECT(wset_remove_region(ws, region), -ENOENT);
	wset_destroy(ws);
	return tap_done();
}
