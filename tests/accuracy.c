/* SPDX-License-Identifier: MIT */
/*
 * Accuracy: a workload with a known hot set - a quarter of the pages
 * written every interval, a quarter only read, the rest idle - over an
 * anonymous and a memfd region.  rwp must find the true working set; wp
 * sees writes only, and the test reports how many read-only hot pages it
 * wrongly calls cold.
 * usage: accuracy MECHANISM
 */
#include "testlib.h"

#define PAGES 1024
#define INTERVALS 6

static bool written_hot(size_t i) { return i < PAGES / 4; }
static bool read_hot(size_t i) { return i >= PAGES / 4 && i < PAGES / 2; }

int main(int argc, char **argv)
{
	struct wset_config config = WSET_CONFIG_INIT;
	size_t page = (size_t)sysconf(_SC_PAGESIZE), len = PAGES * page;
	enum test_memory kinds[2] = { MEMORY_ANON, MEMORY_MEMFD };
	uint8_t *mem[2];
	int fd[2];
	struct wset_counters counters = WSET_COUNTERS_INIT;
	struct wset_histogram hist;
	struct wset_range ranges[8];
	size_t range_count = 0;
	char why[256];
	struct wset *ws;
	volatile uint64_t sink = 0;
	bool rwp;

	config.mechanism = test_mechanism(argc, argv);
	test_require(config.mechanism);
	ws = test_create(&config);
	rwp = wset_mechanism(ws) == WSET_MECHANISM_RWP;
	tap_plan(11);
	tap_diag("mechanism %s", wset_mechanism_name(wset_mechanism(ws)));
	for (int r = 0; r < 2; r++) {
		mem[r] = test_memory(kinds[r], len, &fd[r], why, sizeof(why));
		if (!mem[r])
			tap_bail("%s", why);
		int ret = test_add(ws, kinds[r], mem[r], len, fd[r]);
		if (ret < 0)
			tap_bail("add region: %s", strerror(-ret));
		for (size_t i = 0; i < PAGES; i++)
			memset(mem[r] + i * page, (int)(i & 0xff) | 1, page);
	}
	int tick_error = wset_tick(ws);
	for (int interval = 0; interval < INTERVALS; interval++) {
		for (int r = 0; r < 2; r++)
			for (size_t i = 0; i < PAGES; i++) {
				uint64_t *word = (uint64_t *)(mem[r] + i * page);

				if (written_hot(i))
					word[1] = (uint64_t)interval;
				else if (read_hot(i))
					sink += *(volatile uint64_t *)word;
			}
		int ret = wset_tick(ws);
		if (ret < 0 && !tick_error)
			tick_error = ret;
	}
	(void)sink;
	tap_ok(tick_error == 0, "tracking intervals run: %s", strerror(-tick_error));

	for (int r = 0; r < 2; r++) {
		size_t written_found = 0, read_found = 0, idle_found = 0;

		for (size_t i = 0; i < PAGES; i++) {
			int age = wset_page_age(ws, (uintptr_t)(mem[r] + i * page));

			if (written_hot(i))
				written_found += age == 0;
			else if (read_hot(i))
				read_found += age == 0;
			else
				idle_found += age >= INTERVALS;
		}
		const char *name = test_memory_name(kinds[r]);
		tap_ok(written_found == PAGES / 4, "%s: written hot pages found: %zu of %d",
		       name, written_found, PAGES / 4);
		tap_ok(idle_found == PAGES / 2, "%s: idle pages aged: %zu of %d", name,
		       idle_found, PAGES / 2);
		if (rwp)
			tap_ok(read_found == PAGES / 4, "%s: rwp finds read-only hot pages: %zu of %d",
			       name, read_found, PAGES / 4);
		else
			tap_ok(true, "%s: wp wrongly calls cold %zu of %d read-only hot pages",
			       name, PAGES / 4 - read_found, PAGES / 4);
		tap_diag("%s: read-only hot pages called cold: %zu of %d (%s)", name,
			 PAGES / 4 - read_found, PAGES / 4,
			 wset_mechanism_name(wset_mechanism(ws)));
	}

	wset_counters(ws, &counters);
	uint64_t hot_pages = rwp ? PAGES / 2 : PAGES / 4;
	tap_ok(counters.wss_bytes >= 2 * hot_pages * page &&
		       counters.wss_bytes <= 2 * (PAGES / 2) * page,
	       "working-set estimate %llu bytes (true hot set %zu bytes)",
	       (unsigned long long)counters.wss_bytes, 2 * (size_t)(PAGES / 2) * page);
	if (rwp)
		tap_ok(counters.wss_bytes == 2 * (PAGES / 2) * page, "rwp estimate is exact");
	else
		tap_ok(counters.wss_bytes == 2 * (PAGES / 4) * page,
		       "wp estimate counts written pages only");

	wset_histogram(ws, &hist);
	uint64_t total = 0;
	for (int b = 0; b < WSET_AGE_BUCKETS; b++)
		total += hist.bytes[b];
	tap_ok(total == counters.resident_bytes && hist.bytes[0] == counters.wss_bytes,
	       "histogram: %llu bytes in total, %llu at age 0",
	       (unsigned long long)total, (unsigned long long)hist.bytes[0]);

	wset_cold_set(ws, INTERVALS, ranges, 8, &range_count);
	uint64_t cold = 0;
	for (size_t i = 0; i < range_count && i < 8; i++)
		cold += ranges[i].len;
	/* wp adds the read-only hot pages, which sit next to the idle ones. */
	size_t cold_pages = rwp ? PAGES / 2 : PAGES / 2 + PAGES / 4;
	tap_ok(range_count == 2 && cold == 2 * cold_pages * page,
	       "cold set at age %d: %zu ranges, %llu bytes (want %zu)", INTERVALS,
	       range_count, (unsigned long long)cold, 2 * cold_pages * page);
	wset_destroy(ws);
	return tap_done();
}
