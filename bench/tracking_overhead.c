/* SPDX-License-Identifier: MIT */
/*
 * Row 8, tracking overhead: a skewed workload (nine accesses in ten fall
 * in a hot tenth of the area, one in five writes) runs for a fixed time
 * over an anonymous area and counts its accesses, untracked, then tracked
 * by libwset (tracking only, no eviction) at 1 s and 100 ms intervals.
 * The three take turns in each repetition.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "bench.h"
#include "wset.h"

#define BENCH "tracking_overhead"
#define CASE "anon"

static const unsigned int intervals_ms[] = { 0, 1000, 100 };
#define COMPETITORS 3

static double workload(struct bench_area *area, double seconds, uint64_t seed)
{
	uint64_t words = area->len / 8, hot = words / 10, state = seed * 2 + 1, accesses = 0;
	uint64_t *memory = (uint64_t *)area->addr;
	uint64_t start = bench_now_ns(), end = start + (uint64_t)(seconds * 1e9), now;

	do {
		for (int i = 0; i < 4096; i++) {
			state ^= state << 13;
			state ^= state >> 7;
			state ^= state << 17;
			uint64_t word = state % 10 ? (state >> 8) % hot : (state >> 8) % words;

			if (state % 5 == 0)
				((volatile uint64_t *)memory)[word] = state;
			else
				(void)((volatile uint64_t *)memory)[word];
		}
		accesses += 4096;
		now = bench_now_ns();
	} while (now < end);
	return (double)accesses / ((double)(now - start) / 1e9);
}

int main(int argc, char **argv)
{
	struct bench_options options;
	struct bench_area area;
	double seconds;

	bench_setup(argc, argv, "Workload throughput untracked and tracked at 1 s and 100 ms.\n",
		    256ull << 20, BENCH_ANON, &options, &area);
	seconds = options.smoke ? 0.3 : 4.0;
	bench_area_fill(&area, 1);
	for (int rep = 0; rep < options.repetitions; rep++) {
		bench_progress("%s: repetition %d of %d (%.1f s)", BENCH, rep + 1,
			       options.repetitions, seconds * COMPETITORS);
		for (int k = 0; k < COMPETITORS; k++) {
			unsigned int interval = intervals_ms[(k + rep) % COMPETITORS];
			struct wset_config config = WSET_CONFIG_INIT;
			struct wset_counters counters = WSET_COUNTERS_INIT;
			struct wset *ws = NULL;
			char competitor[32];
			int ret;

			if (interval) {
				config.interval_ms = interval;
				if ((ret = wset_create(&config, &ws)) < 0 ||
				    (ret = wset_add_anon(ws, (uintptr_t)area.addr, area.len)) < 0 ||
				    (ret = wset_start(ws)) < 0)
					bench_fail("tracking: %s", strerror(-ret));
			}
			double rate = workload(&area, seconds, (uint64_t)rep + 1);

			uint64_t tick_ns = 0;

			if (ws) {
				wset_stop(ws);
				/* What one interval costs on this area, timed alone. */
				uint64_t start = bench_now_ns();

				if ((ret = wset_tick(ws)) < 0)
					bench_fail("tracking: %s", strerror(-ret));
				tick_ns = bench_now_ns() - start;
				if (wset_counters(ws, &counters) < 0)
					bench_fail("wset_counters refused the struct");
				snprintf(competitor, sizeof(competitor), "tracked-%ums",
					 interval);
			} else {
				snprintf(competitor, sizeof(competitor), "untracked");
			}
			json_object *line = bench_sample(&options, BENCH, CASE, competitor, rep);
			bench_set_double(line, "accesses_per_s", rate);
			bench_set_u64(line, "intervals", counters.intervals);
			if (ws)
				bench_set_u64(line, "tick_ns", tick_ns);
			if (ws)
				bench_set_string(line, "mechanism",
						 wset_mechanism_name(counters.mechanism));
			bench_emit(line);
			wset_destroy(ws);
		}
	}
	bench_area_unmap(&area);
	return 0;
}
