// SPDX-License-Identifier: MIT
/*
 * kill -9 of wsetd with a file -> Redis chain (a real redis-server this
 * test starts): a VMM running the helper hands over 8 MiB of random pages
 * and leaves them alone; wsetd evicts them, the file tier keeping 2 MiB
 * (file_capacity) and moving the oldest on to Redis, so that pages are in
 * both tiers.  wsetd is killed, a new one takes the VMM over from a
 * systemd-like fd store and lists both tiers; then the VMM reads every
 * page back through it and checks each one's checksum.  Skips where there
 * is no redis-server (the test guest).
 */
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>

#include "wset_helper.h"

#include "../redis_server.h"
#include "agent_test.h"

#define PAGE 4096u
#define PAGES 2048u /* 8 MiB */

static uint8_t *memory;
static uint64_t sums[PAGES];

static uint64_t hash(const uint8_t *data, size_t len)
{
	uint64_t value = 0xcbf29ce484222325ull;

	for (size_t i = 0; i < len; i++)
		value = (value ^ data[i]) * 0x100000001b3ull;
	return value;
}

/* The VMM: random pages, hand over with the helper, wait for 'v', answer
 * the number of bad pages.  It never lets go: its wsetd is gone. */
static void vmm(int sock, const char *socket_path)
{
	uint64_t state = 0x9e3779b97f4a7c15ull;
	struct wset_helper_region region;
	struct wset_helper *helper;
	char error[512], command;
	unsigned int bad = 0;
	int memfd = memfd_create("guest-ram", MFD_CLOEXEC);

	if (memfd < 0 || ftruncate(memfd, (off_t)PAGES * PAGE) < 0)
		_exit(3);
	memory = mmap(NULL, (size_t)PAGES * PAGE, PROT_READ | PROT_WRITE, MAP_SHARED,
		      memfd, 0);
	if (memory == MAP_FAILED)
		_exit(3);
	for (size_t off = 0; off < (size_t)PAGES * PAGE; off += 8) {
		state ^= state << 13;
		state ^= state >> 7;
		state ^= state << 17;
		memcpy(memory + off, &state, 8);
	}
	for (unsigned int p = 0; p < PAGES; p++)
		sums[p] = hash(memory + (size_t)p * PAGE, PAGE);
	region = (struct wset_helper_region){ memory, (uint64_t)PAGES * PAGE, memfd, 0 };
	if (wset_helper_connect(socket_path, "crash-tiers", &region, 1, &helper, error,
				sizeof(error)) < 0) {
		dprintf(sock, "e%s\n", error);
		_exit(3);
	}
	if (write(sock, "c", 1) != 1 || read(sock, &command, 1) != 1)
		_exit(3);
	for (unsigned int p = 0; p < PAGES; p++)
		bad += hash(memory + (size_t)p * PAGE, PAGE) != sums[p];
	if (write(sock, &bad, sizeof(bad)) != sizeof(bad))
		_exit(3);
	_exit(0);
}

/* The pages the status puts in the tier named name (of the one VMM). */
static uint64_t tier_pages(const struct agent *agent, const char *name)
{
	json_object *status = agent_request(agent, "{\"command\":\"status\"}");
	json_object *vmms, *tiers, *value;
	uint64_t pages = 0;

	if (status && json_object_object_get_ex(status, "vmms", &vmms) &&
	    json_object_array_length(vmms) == 1 &&
	    json_object_object_get_ex(json_object_array_get_idx(vmms, 0), "tiers", &tiers))
		for (size_t i = 0; i < json_object_array_length(tiers); i++) {
			json_object *tier = json_object_array_get_idx(tiers, i);

			if (json_object_object_get_ex(tier, "name", &value) &&
			    strcmp(json_object_get_string(value), name) == 0 &&
			    json_object_object_get_ex(tier, "pages", &value))
				pages = json_object_get_uint64(value);
		}
	json_object_put(status);
	return pages;
}

int main(void)
{
	struct redis_server server;
	uint64_t evicted, in_file = 0, in_redis = 0;
	int ret, sockets[2];
	unsigned int bad = ~0u;
	struct agent agent;
	char why[256], path[64];
	char answer = 0;
	pid_t child;

	ret = redis_server_create(&server, NULL, why, sizeof(why));
	if (ret == 4)
		tap_skip_all("%s", why);
	if (ret < 0) {
		tap_ok(false, "redis-server: %s", why);
		return tap_done();
	}
	snprintf(path, sizeof(path), "/tmp/wsetd-fdstore.%d", (int)getpid());
	if (fd_store_start(path)) {
		tap_ok(false, "a systemd-like fd store listens at %s", path);
		redis_server_destroy(&server);
		return tap_done();
	}
	const char *const arguments[] = {
		"--tiers", "file,redis", "--file-capacity", "2M",
		"--redis-address", server.socket, "--interval-ms", "100",
		"--evict", "yes", "--min-idle-age", "2", NULL,
	};

	if (!agent_started(&agent, arguments)) {
		redis_server_destroy(&server);
		return tap_done();
	}
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sockets) < 0)
		tap_skip_all("socketpair failed");
	child = fork();
	if (child == 0) {
		close(sockets[0]);
		vmm(sockets[1], agent.socket);
	}
	close(sockets[1]);
	tap_ok(read(sockets[0], &answer, 1) == 1 && answer == 'c',
	       "a VMM hands its memory over with the helper");

	/* Evicted, and spread: the file tier over 2 MiB moves the oldest on. */
	evicted = agent_wait_counter(&agent, 1, "evicted_bytes", 30000);
	for (int waited = 0; waited < 300; waited++) {
		evicted = agent_vmm_counter(&agent, 1, "evicted_bytes");
		in_file = tier_pages(&agent, "file");
		in_redis = tier_pages(&agent, "redis");
		if (evicted >= PAGES * PAGE / 2 && in_file && in_redis)
			break;
		sleep_ms(100);
	}
	tap_ok(evicted >= PAGES * PAGE / 2 && in_file > 0 && in_redis > 0,
	       "pages are evicted into both tiers: %llu bytes, %llu pages in the file "
	       "tier, %llu in Redis", (unsigned long long)evicted,
	       (unsigned long long)in_file, (unsigned long long)in_redis);
	for (int waited = 0; waited < 3000 && fd_store_count() < 2; waited++)
		sleep_ms(10);
	tap_ok(fd_store_count() == 2, "wsetd keeps the VMM's userfaultfd and memfd in the "
	       "fd store (%d fds)", fd_store_count());

	kill(agent.pid, SIGKILL);
	ret = wait_exit(agent.pid, 30000);
	agent.pid = 0;
	tap_ok(ret == 128 + SIGKILL, "wsetd is killed with SIGKILL (status %d)", ret);
	ret = agent_restart(&agent, arguments);
	tap_ok(ret == 0 && agent_wait_log(&agent, "fd store: 1 VMMs taken over", 30000) &&
		       agent_wait_vmm_count(&agent, 1, 30000),
	       "a new wsetd takes the VMM over from the fd store");
	in_file = tier_pages(&agent, "file");
	in_redis = tier_pages(&agent, "redis");
	tap_ok(in_file > 0 && in_redis > 0, "it found pages in both tiers: %llu in the "
	       "file tier, %llu in Redis", (unsigned long long)in_file,
	       (unsigned long long)in_redis);

	if (write(sockets[0], "v", 1) != 1 ||
	    read(sockets[0], &bad, sizeof(bad)) != sizeof(bad))
		tap_ok(false, "the VMM reads its memory back");
	else
		tap_ok(bad == 0, "every page comes back with its contents: %u bad of %u",
		       bad, PAGES);
	ret = wait_exit(child, 30000);
	tap_ok(ret == 0, "the VMM exits (status %d)", ret);
	tap_ok(agent_wait_vmm_count(&agent, 0, 30000) &&
		       agent_stop(&agent, SIGTERM, 30000) == 0, "wsetd exits 0 on TERM");
	fd_store_stop();
	agent_finish(&agent);
	redis_server_destroy(&server);
	return tap_done();
}
