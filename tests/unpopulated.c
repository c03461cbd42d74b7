/* SPDX-License-Identifier: MIT */
/*
 * Pages of a file region never populated are holes, not cold pages: with
 * the wp mechanism they carry a uffd-wp marker that PAGEMAP_SCAN reports
 * as swapped.  They must count neither as resident nor as cold, and a
 * rate-limited eviction must reach the real cold pages behind them.
 * usage: unpopulated MECHANISM
 */
#include "testlib.h"

#define PAGES 256
#define FILLED 64 /* the first quarter; the rest stays a hole */

int main(int argc, char **argv)
{
	struct wset_config config = WSET_CONFIG_INIT;
	size_t page = (size_t)sysconf(_SC_PAGESIZE), len = PAGES * page;
	struct wset_counters counters;
	uint64_t evicted = 0;
	char why[128];
	struct wset *ws;
	uint8_t *mem;
	int fd, ret;

	config.mechanism = test_mechanism(argc, argv);
	test_require(config.mechanism);
	ws = test_create(&config);
	mem = test_memory(MEMORY_MEMFD, len, &fd, why, sizeof(why));
	if (!mem)
		tap_bail("%s", why);
	tap_plan(4);
	/* Registered empty; the last quarter filled three intervals later, so
	 * that the holes are older than any real page. */
	ret = test_add(ws, MEMORY_MEMFD, mem, len, fd);
	tap_ok(ret >= 0, "add an empty memfd region: %d", ret);
	for (int i = 0; i < 3; i++)
		wset_tick(ws);
	for (size_t i = PAGES - FILLED; i < PAGES; i++)
		memset(mem + i * page, (int)i, page);
	for (int i = 0; i < 4; i++)
		wset_tick(ws);
	wset_counters(ws, &counters);
	tap_ok(counters.resident_bytes == FILLED * page,
	       "resident: %llu bytes, the filled quarter is %zu",
	       (unsigned long long)counters.resident_bytes, FILLED * page);
	/* A budget smaller than the region: only what is really there may be
	 * picked. */
	ret = wset_evict(ws, 2, FILLED * page / 2, &evicted);
	tap_ok(ret == 0 && evicted == FILLED * page / 2,
	       "an eviction with a budget of half the filled pages evicts that much: %llu bytes (%d)",
	       (unsigned long long)evicted, ret);
	bool intact = true;
	for (size_t i = PAGES - FILLED; i < PAGES; i++)
		if (mem[i * page] != (uint8_t)i || mem[i * page + page - 1] != (uint8_t)i)
			intact = false;
	tap_ok(intact, "every filled page reads back");
	wset_destroy(ws);
	return tap_done();
}
