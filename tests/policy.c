/* SPDX-License-Identifier: MIT */
/*
 * Eviction policy: pages younger than min_idle_age stay, eviction stops at
 * the resident target, the rate limit caps bytes per second, the
 * background tracker applies it all by itself, and a page a fault brought
 * back from the store ages slower than one that never left.
 * usage: policy MECHANISM
 */
#include <time.h>

#include "testlib.h"

#define PAGES 1024
#define HOT 100

static size_t page;

static uint8_t *setup(struct wset *ws)
{
	uint8_t *mem = mmap(NULL, PAGES * page, PROT_READ | PROT_WRITE,
			    MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	int ret;

	if (mem == MAP_FAILED)
		tap_bail("mmap");
	ret = wset_add_anon(ws, (uintptr_t)mem, PAGES * page);
	if (ret < 0)
		tap_bail("add region: %s", strerror(-ret));
	for (size_t i = 0; i < PAGES; i++)
		mem[i * page] = (uint8_t)i;
	return mem;
}

static void touch_hot(uint8_t *mem, int round)
{
	for (size_t i = 0; i < HOT; i++)
		mem[i * page + 1] = (uint8_t)round;
}

static double now_seconds(void)
{
	struct timespec now;

	clock_gettime(CLOCK_MONOTONIC, &now);
	return (double)now.tv_sec + (double)now.tv_nsec / 1e9;
}

static void pause_ms(long ms)
{
	const struct timespec pause = { .tv_sec = ms / 1000,
					.tv_nsec = (ms % 1000) * 1000000L };

	nanosleep(&pause, NULL);
}

int main(int argc, char **argv)
{
	struct wset_config config = WSET_CONFIG_INIT;
	struct wset_policy policy = WSET_POLICY_INIT, read_back = WSET_POLICY_INIT;
	struct wset_counters counters = WSET_COUNTERS_INIT;
	struct wset *ws;
	uint8_t *mem;
	size_t hot_evicted = 0;

	page = (size_t)sysconf(_SC_PAGESIZE);
	config.mechanism = test_mechanism(argc, argv);
	test_require(config.mechanism);
	tap_plan(11);

	/* Resident target and minimum idle age. */
	ws = test_create(&config);
	mem = setup(ws);
	policy.enabled = true;
	policy.min_idle_age = 3;
	policy.resident_target = 600 * page;
	tap_ok(wset_set_policy(ws, &policy) == 0 && wset_get_policy(ws, &read_back) == 0 &&
		       read_back.resident_target == policy.resident_target,
	       "policy set and read back");
	for (int round = 0; round < 8; round++) {
		touch_hot(mem, round);
		wset_tick(ws);
	}
	wset_counters(ws, &counters);
	tap_ok(counters.resident_bytes == 600 * page,
	       "resident memory stops at the target: %llu pages",
	       (unsigned long long)(counters.resident_bytes / page));
	for (size_t i = 0; i < HOT; i++)
		hot_evicted += wset_page_age(ws, (uintptr_t)(mem + i * page)) == -ENODATA;
	tap_ok(hot_evicted == 0, "pages younger than min_idle_age stay (%zu hot pages evicted)",
	       hot_evicted);
	bool intact = true;
	for (size_t i = 0; i < PAGES; i++)
		intact &= mem[i * page] == (uint8_t)i;
	tap_ok(intact, "evicted pages read back intact");
	wset_destroy(ws);

	/* Rate limit: at most one second's worth, refilled over time. */
	ws = test_create(&config);
	mem = setup(ws);
	policy = (struct wset_policy)WSET_POLICY_INIT;
	policy.enabled = true;
	policy.min_idle_age = 1;
	policy.max_evict_rate = 100 * page; /* 100 pages per second */
	wset_set_policy(ws, &policy);
	wset_tick(ws); /* sees the writes: age 0 */
	pause_ms(1100);
	/*
	 * The bucket is empty once the first burst is taken, no earlier than
	 * `started`: from then on it refills at the rate, however slow the
	 * kernel (a debug kernel under TCG takes tens of ms per tick).
	 */
	double started = now_seconds();
	wset_tick(ws); /* age 1: evicts what the budget allows */
	wset_counters(ws, &counters);
	uint64_t first = counters.evictions;
	tap_ok(first >= 95 && first <= 100, "first burst limited to one second's worth: %llu pages",
	       (unsigned long long)first);
	wset_tick(ws);
	double allowed = 100 * (now_seconds() - started) + 1;
	wset_counters(ws, &counters);
	tap_ok(counters.evictions - first <= allowed,
	       "no budget left right after: %llu more pages (%.0f allowed)",
	       (unsigned long long)(counters.evictions - first), allowed);
	pause_ms(300);
	wset_tick(ws);
	wset_counters(ws, &counters);
	uint64_t refill = counters.evictions - first;
	tap_ok(refill >= 25 && refill <= 100, "budget refills with time: %llu pages after 300 ms",
	       (unsigned long long)refill);
	wset_destroy(ws);

	/* The background tracker does the same on its own. */
	config.interval_ms = 20;
	config.policy.enabled = true;
	config.policy.min_idle_age = 2;
	ws = test_create(&config);
	mem = setup(ws);
	tap_ok(wset_start(ws) == 0, "tracker started");
	/* Up to 10 s on a slow machine; usually a few intervals. */
	for (int round = 0; round < 500; round++) {
		touch_hot(mem, round);
		pause_ms(20);
		wset_counters(ws, &counters);
		if (counters.intervals >= 5 && counters.evictions >= PAGES - HOT - 50)
			break;
	}
	wset_stop(ws);
	wset_counters(ws, &counters);
	tap_ok(counters.intervals >= 5 && counters.evictions >= PAGES - HOT - 50,
	       "background tracking: %llu intervals, %llu pages evicted",
	       (unsigned long long)counters.intervals,
	       (unsigned long long)counters.evictions);
	wset_destroy(ws);

	/*
	 * Refaults: a page called cold that a fault brought back ages at half
	 * speed after (a quarter after two returns, an eighth after three).
	 * Region A goes to the store and is read back; region B, written
	 * after, never left. Both then sit untouched for the same intervals.
	 */
	config = (struct wset_config)WSET_CONFIG_INIT;
	config.mechanism = test_mechanism(argc, argv);
	config.prefetch_pages = 0; /* every page back by its own fault */
	ws = test_create(&config);
	mem = setup(ws);
	wset_tick(ws);
	uint64_t evicted = 0;
	int ret = wset_evict(ws, 0, 0, &evicted);
	bool back = ret == 0 && evicted == PAGES * page;
	for (size_t i = 0; i < PAGES; i++)
		back &= *(volatile uint8_t *)(mem + i * page) == (uint8_t)i;
	uint8_t *other = mmap(NULL, PAGES * page, PROT_READ | PROT_WRITE,
			      MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (other == MAP_FAILED || wset_add_anon(ws, (uintptr_t)other, PAGES * page) < 0)
		tap_bail("second region");
	for (size_t i = 0; i < PAGES; i++)
		other[i * page] = (uint8_t)i;
	tap_ok(back, "region A evicted whole (%d, %llu bytes) and read back by faults", ret,
	       (unsigned long long)evicted);
	for (int round = 0; round < 9; round++)
		wset_tick(ws);
	int refaulted_max = -1, stayed_min = 255;
	for (size_t i = 0; i < PAGES; i++) {
		int a = wset_page_age(ws, (uintptr_t)(mem + i * page));
		int b = wset_page_age(ws, (uintptr_t)(other + i * page));

		/* An age that cannot be read (a negative errno) fails it. */
		refaulted_max = a < 0 ? 255 : a > refaulted_max ? a : refaulted_max;
		stayed_min = b < stayed_min ? b : stayed_min;
	}
	tap_ok(stayed_min >= 7 && refaulted_max >= 0 && refaulted_max <= stayed_min / 2 + 1,
	       "after 9 intervals, pages that came back are at most %d intervals old, "
	       "pages that never left at least %d", refaulted_max, stayed_min);
	wset_destroy(ws);
	return tap_done();
}
