/* SPDX-License-Identifier: MIT */
/*
 * Eviction racing the fetch-back of the same pages.  One thread evicts
 * every page of any age (min_age 0) in a loop while another writes each
 * page and reads it back.  A page fetched back has its store copy dropped
 * after the faulting thread is woken (lib/deferred.c); until that drop is
 * done the page must stay out of eviction, or the late drop deletes the
 * copy a new eviction stored under the same key and the next access reads
 * a hole.
 *
 * usage: evict_refetch MECHANISM MEMORY [--seconds S]
 *   (rwp|wp|auto, anon|memfd|hugetlbfs; S: 5 by default)
 * The run goes on past S until pages were evicted and refaulted a
 * thousand times (for at most 300 s more), so that a slow machine only
 * makes it longer.
 */
#include <pthread.h>
#include <stdatomic.h>
#include <time.h>

#include "testlib.h"

#define MIN_REFAULTS 1000

struct race {
	struct wset *ws;
	uint8_t *mem;
	size_t page;
	size_t pages;
	atomic_bool stop;
	atomic_ulong evict_calls;
	atomic_int evict_error;
};

static void *evictor(void *arg)
{
	struct race *race = arg;

	while (!atomic_load(&race->stop)) {
		uint64_t evicted = 0;
		int ret = wset_tick(race->ws);

		/* The interval finds the pages present again; evict them all. */
		if (ret == 0)
			ret = wset_evict(race->ws, 0, 0, &evicted);

		if (ret < 0 && !atomic_load(&race->evict_error))
			atomic_store(&race->evict_error, ret);
		atomic_fetch_add(&race->evict_calls, 1);
	}
	return NULL;
}

static double now_seconds(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

int main(int argc, char **argv)
{
	struct wset_config config = WSET_CONFIG_INIT;
	enum test_memory kind = test_parse_memory(argc > 2 ? argv[2] : "anon");
	struct wset_counters counters = WSET_COUNTERS_INIT;
	struct race race = { .page = test_page_size(kind) };
	uint64_t bad = 0, zero = 0, checks = 0, round = 0;
	double seconds = 5, started;
	pthread_t thread;
	char why[256];
	int fd, ret;

	for (int i = 3; i + 1 < argc; i += 2)
		if (!strcmp(argv[i], "--seconds"))
			seconds = atof(argv[i + 1]);
	config.mechanism = test_mechanism(argc, argv);
	test_require(config.mechanism);
	race.pages = kind == MEMORY_HUGETLB ? 8 : 1024;
	race.mem = test_memory(kind, race.pages * race.page, &fd, why, sizeof(why));
	if (!race.mem)
		tap_skip_all("%s memory: %s", test_memory_name(kind), why);
	race.ws = test_create(&config);
	tap_plan(5);
	ret = test_add(race.ws, kind, race.mem, race.pages * race.page, fd);
	tap_ok(ret >= 0, "add a %s region of %zu pages: %d", test_memory_name(kind),
	       race.pages, ret);
	for (size_t i = 0; i < race.pages; i++)
		((uint64_t *)(race.mem + i * race.page))[0] = i << 32;

	pthread_create(&thread, NULL, evictor, &race);
	started = now_seconds();
	do {
		round++;
		/* Each page written and read back at once, then all of them
		 * again: between the two the evictor has had its chance. */
		for (size_t pass = 0; pass < 2; pass++)
			for (size_t i = 0; i < race.pages; i++) {
				uint64_t *word = (uint64_t *)(race.mem + i * race.page);
				uint64_t value;

				if (pass == 0)
					*word = i << 32 | round;
				value = *word;
				checks++;
				if (value == (i << 32 | round))
					continue;
				if (bad++ < 5)
					tap_diag("round %llu page %zu reads %#llx",
						 (unsigned long long)round, i,
						 (unsigned long long)value);
				if (!value)
					zero++;
				*word = i << 32 | round;
			}
		wset_counters(race.ws, &counters);
		if (round % 500 == 0)
			tap_diag("round %llu: %llu refaults, %llu evicted bytes, %lu eviction calls",
				 (unsigned long long)round, (unsigned long long)counters.refaults,
				 (unsigned long long)counters.evicted_bytes,
				 atomic_load(&race.evict_calls));
	} while ((now_seconds() - started < seconds || counters.refaults < MIN_REFAULTS) &&
		 now_seconds() - started < seconds + 300);
	atomic_store(&race.stop, true);
	pthread_join(thread, NULL);

	tap_ok(!atomic_load(&race.evict_error), "eviction calls succeeded: %s",
	       strerror(-atomic_load(&race.evict_error)));
	tap_ok(counters.refaults >= MIN_REFAULTS,
	       "%llu refaults, %lu eviction calls in %llu rounds",
	       (unsigned long long)counters.refaults, atomic_load(&race.evict_calls),
	       (unsigned long long)round);
	tap_ok(bad == 0, "every read saw the last write: %llu bad of %llu (%llu zero)",
	       (unsigned long long)bad, (unsigned long long)checks,
	       (unsigned long long)zero);
	ret = wset_destroy(race.ws);
	bad = 0;
	for (size_t i = 0; i < race.pages; i++)
		bad += ((uint64_t *)(race.mem + i * race.page))[0] != (i << 32 | round);
	tap_ok(ret == 0 && bad == 0, "destroy brings every page back: %d, %llu bad",
	       ret, (unsigned long long)bad);
	return tap_done();
}
