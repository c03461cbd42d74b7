/* SPDX-License-Identifier: MIT */
/*
 * Removing a region brings its evicted pages back and lets go of it: the
 * memory is then plain memory again, untouched by the library, with all
 * its data; the other regions go on being tracked.
 * usage: remove_region MECHANISM
 */
#include "testlib.h"

#define PAGES 128

int main(int argc, char **argv)
{
	struct wset_config config = WSET_CONFIG_INIT;
	size_t page = (size_t)sysconf(_SC_PAGESIZE), len = PAGES * page;
	struct wset_counters counters = WSET_COUNTERS_INIT;
	uint8_t *mem[2];
	int fd[2], id[2];
	char why[256];
	struct wset *ws;
	uint64_t evicted = 0;
	int ret;

	config.mechanism = test_mechanism(argc, argv);
	test_require(config.mechanism);
	ws = test_create(&config);
	tap_plan(6);
	for (int r = 0; r < 2; r++) {
		enum test_memory kind = r ? MEMORY_MEMFD : MEMORY_ANON;

		mem[r] = test_memory(kind, len, &fd[r], why, sizeof(why));
		if (!mem[r])
			tap_bail("%s", why);
		id[r] = test_add(ws, kind, mem[r], len, fd[r]);
		if (id[r] < 0)
			tap_bail("add: %s", strerror(-id[r]));
		for (size_t i = 0; i < PAGES; i++)
			memset(mem[r] + i * page, (int)(i + 3 * r) | 1, page);
	}
	wset_tick(ws);
	wset_tick(ws);
	ret = wset_evict(ws, 1, 0, &evicted);
	tap_ok(ret == 0 && evicted == 2 * len, "both regions evicted: %llu bytes",
	       (unsigned long long)evicted);

	ret = wset_remove_region(ws, id[0]);
	wset_counters(ws, &counters);
	tap_ok(ret == 0 && counters.evicted_bytes == len && counters.tracked_bytes == len,
	       "removal restores the anonymous region: %d, %llu bytes still evicted, %llu tracked",
	       ret, (unsigned long long)counters.evicted_bytes,
	       (unsigned long long)counters.tracked_bytes);
	uint64_t faults = counters.faults;
	bool intact = true;
	for (size_t i = 0; i < len; i++)
		intact &= mem[0][i] == (uint8_t)((i / page) | 1);
	wset_counters(ws, &counters);
	tap_ok(intact && counters.faults == faults,
	       "its data is all there, read without a single fault (%llu)",
	       (unsigned long long)(counters.faults - faults));
	tap_ok(wset_page_age(ws, (uintptr_t)mem[0]) == -ENOENT, "the library forgot it");

	intact = true;
	for (size_t i = 0; i < len; i++)
		intact &= mem[1][i] == (uint8_t)((i / page + 3) | 1);
	wset_counters(ws, &counters);
	tap_ok(intact && counters.refaults + counters.prefetches >= PAGES,
	       "the other region still fetches back: %llu refaults, %llu prefetched",
	       (unsigned long long)counters.refaults,
	       (unsigned long long)counters.prefetches);
	tap_ok(wset_destroy(ws) == 0, "destroy");
	return tap_done();
}
