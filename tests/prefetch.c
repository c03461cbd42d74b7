/* SPDX-License-Identifier: MIT */
/*
 * Prefetch: a fault on a page evicted in one step also brings back the
 * neighbours (up to prefetch_pages away) evicted in that same step, and
 * nothing from other steps; with prefetch_pages = 0 only the faulting page
 * comes.
 * usage: prefetch MECHANISM
 */
#include "testlib.h"

#define PAGES 64

static uint64_t fetched_after_one_touch(int argc, char **argv, unsigned int prefetch,
					uint64_t *refaults)
{
	struct wset_config config = WSET_CONFIG_INIT;
	size_t page = (size_t)sysconf(_SC_PAGESIZE), len = PAGES * page;
	struct wset_counters counters = WSET_COUNTERS_INIT;
	struct wset *ws;
	uint8_t *mem;
	volatile uint8_t sink;

	config.mechanism = test_mechanism(argc, argv);
	config.prefetch_pages = prefetch;
	ws = test_create(&config);
	mem = test_anon_region(ws, len);
	for (size_t i = 0; i < PAGES; i++)
		mem[i * page] = (uint8_t)i;
	/* Two steps: the first half is older than the second. */
	wset_tick(ws);
	for (size_t i = PAGES / 2; i < PAGES; i++)
		mem[i * page] = (uint8_t)i;
	wset_tick(ws);
	wset_tick(ws);
	wset_evict(ws, 2, 0, NULL); /* first half only */
	wset_evict(ws, 1, 0, NULL); /* then the second half */
	sink = mem[(PAGES / 2 - 1) * page]; /* last page of the first step */
	(void)sink;
	/* The faulting thread runs again before the handler prefetches: give
	 * it time (all it can do, up to two seconds). */
	for (int i = 0; i < 200; i++) {
		wset_counters(ws, &counters);
		if (counters.prefetches >= (prefetch ? PAGES / 2 - 1 : 0) && i >= 5)
			break;
		usleep(10000);
	}
	*refaults = counters.refaults;
	wset_destroy(ws);
	return counters.prefetches;
}

int main(int argc, char **argv)
{
	uint64_t refaults, prefetched;

	test_require(test_mechanism(argc, argv));
	tap_plan(4);
	/* The window covers both steps; only the first step's other pages
	 * may come. */
	prefetched = fetched_after_one_touch(argc, argv, PAGES, &refaults);
	tap_ok(refaults == 1, "one fault: %llu", (unsigned long long)refaults);
	tap_ok(prefetched == PAGES / 2 - 1,
	       "the %d other pages of the same step prefetched, none of the next: %llu",
	       PAGES / 2 - 1, (unsigned long long)prefetched);
	prefetched = fetched_after_one_touch(argc, argv, 0, &refaults);
	tap_ok(refaults == 1, "one fault: %llu", (unsigned long long)refaults);
	tap_ok(prefetched == 0, "no prefetch when turned off: %llu",
	       (unsigned long long)prefetched);
	return tap_done();
}
