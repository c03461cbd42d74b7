/* SPDX-License-Identifier: MIT */
/*
 * Anonymous pages UFFDIO_MOVE refuses stay resident, intact, and counted:
 * here pages shared with a forked child (not exclusive to the VMM).  Once
 * written again they are the VMM's own and can leave.
 * usage: unmovable MECHANISM
 */
#include <signal.h>
#include <sys/wait.h>

#include "testlib.h"

#define PAGES 64

int main(int argc, char **argv)
{
	struct wset_config config = WSET_CONFIG_INIT;
	size_t page = (size_t)sysconf(_SC_PAGESIZE), len = PAGES * page;
	struct wset_counters counters = WSET_COUNTERS_INIT;
	uint64_t evicted = 0;
	struct wset *ws;
	uint8_t *mem;
	pid_t child;
	int ret;

	config.mechanism = test_mechanism(argc, argv);
	test_require(config.mechanism);
	ws = test_create(&config);
	tap_plan(6);
	mem = test_anon_region(ws, len);
	for (size_t i = 0; i < PAGES; i++)
		memset(mem + i * page, (int)i + 1, page);

	/* The child shares every page copy-on-write. */
	child = fork();
	if (child == 0) {
		pause();
		_exit(0);
	}
	wset_tick(ws);
	wset_tick(ws);
	ret = wset_evict(ws, 1, 0, &evicted);
	wset_counters(ws, &counters);
	tap_ok(ret == 0 && evicted == 0, "shared pages are not moved: %llu bytes evicted",
	       (unsigned long long)evicted);
	tap_ok(counters.unevictable_pages == PAGES, "and are counted: %llu unevictable",
	       (unsigned long long)counters.unevictable_pages);
	tap_ok(counters.resident_bytes == len, "they stay resident: %llu bytes",
	       (unsigned long long)counters.resident_bytes);
	bool intact = true;
	for (size_t i = 0; i < len; i++)
		intact &= mem[i] == (uint8_t)(i / page + 1);
	tap_ok(intact, "and intact");

	/* Written again, they are ours alone and may go. */
	kill(child, SIGKILL);
	waitpid(child, NULL, 0);
	for (size_t i = 0; i < PAGES; i++)
		mem[i * page] = (uint8_t)(i + 1);
	wset_tick(ws);
	wset_tick(ws);
	ret = wset_evict(ws, 1, 0, &evicted);
	tap_ok(ret == 0 && evicted == len, "after a write they are evicted: %llu bytes",
	       (unsigned long long)evicted);
	intact = true;
	for (size_t i = 0; i < len; i++)
		intact &= mem[i] == (uint8_t)(i / page + 1);
	tap_ok(intact, "and come back intact");
	wset_destroy(ws);
	return tap_done();
}
