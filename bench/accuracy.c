/* SPDX-License-Identifier: MIT */
/*
 * Row 4, accuracy: a workload with a known hot set (the first tenth of the
 * area is read, never written; the second tenth is written) runs between
 * arm and scan.  Reported per mechanism: the share of read-hot pages called
 * cold, of write-hot pages called cold, and of untouched pages called hot.
 *
 * DAMON samples instead of arming: the same workload loops while DAMON
 * (5 ms sampling, 100 ms aggregation, its defaults) watches the area, and
 * the pages of the regions it saw accessed in the last of 5 aggregation
 * intervals are its answer.
 */
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "damon.h"
#include "tracking.h"

#define BENCH "accuracy"
#define DAMON_SAMPLE_US 5000
#define DAMON_AGGR_US 100000
#define DAMON_INTERVALS 5

static const enum tracking_kind kinds[] = { TRACK_WP, TRACK_RWP, TRACK_MPROTECT,
					    TRACK_IDLE };
#define KINDS (sizeof(kinds) / sizeof(kinds[0]))

struct workload {
	struct bench_area *area;
	uint64_t tenth;
	atomic_bool stop;
};

/* One round: read the first tenth, write the second. */
static void workload_round(const struct workload *w)
{
	for (uint64_t page = 0; page < 2 * w->tenth; page++) {
		volatile uint64_t *at = (volatile uint64_t *)(w->area->addr +
							      page * w->area->page_size);

		if (page < w->tenth)
			(void)*at;
		else
			*at += 1;
	}
}

static void *workload_loop(void *arg)
{
	struct workload *w = arg;

	while (!atomic_load(&w->stop))
		workload_round(w);
	return NULL;
}

static void emit(const struct bench_options *options, const struct workload *w,
		 const char *competitor, const uint8_t *accessed, int rep)
{
	uint64_t pages = w->area->len / w->area->page_size, tenth = w->tenth;
	uint64_t read_cold = 0, write_cold = 0, cold_hot = 0;

	for (uint64_t page = 0; page < pages; page++) {
		if (page < tenth)
			read_cold += !accessed[page];
		else if (page < 2 * tenth)
			write_cold += !accessed[page];
		else
			cold_hot += accessed[page];
	}
	json_object *line = bench_sample(options, BENCH, "anon", competitor, rep);
	bench_set_double(line, "hot_called_cold", 100.0 * (double)read_cold / (double)tenth);
	bench_set_double(line, "written_called_cold", 100.0 * (double)write_cold / (double)tenth);
	bench_set_double(line, "cold_called_hot",
			 100.0 * (double)cold_hot / (double)(pages - 2 * tenth));
	bench_emit(line);
}

static void run_damon(const struct bench_options *options, struct workload *w,
		      uint8_t *accessed, int rep)
{
	struct damon_monitor monitor;
	pthread_t thread;
	char why[256];

	if (damon_start(&monitor, w->area, DAMON_SAMPLE_US, DAMON_AGGR_US, why,
			sizeof(why)) < 0) {
		if (rep == 0)
			bench_skip(options, BENCH, "anon/damon", "%s", why);
		return;
	}
	atomic_store(&w->stop, false);
	if (pthread_create(&thread, NULL, workload_loop, w) != 0)
		bench_fail("damon: pthread_create failed");
	/* DAMON adapts its regions interval after interval: take the last. */
	for (int i = 0; i < DAMON_INTERVALS; i++) {
		int64_t found = damon_snapshot(w->area, accessed);

		if (found < 0)
			bench_fail("damon: snapshot: %s", strerror((int)-found));
	}
	atomic_store(&w->stop, true);
	pthread_join(thread, NULL);
	damon_stop(&monitor);
	emit(options, w, "damon", accessed, rep);
}

int main(int argc, char **argv)
{
	struct bench_options options;
	struct bench_area area;

	bench_setup(argc, argv, "Read-hot pages called cold, per mechanism.\n",
		    64ull << 20, BENCH_ANON, &options, &area);
	uint64_t pages = area.len / area.page_size;
	struct workload w = { .area = &area, .tenth = pages / 10 };
	uint8_t *accessed = malloc(pages);

	if (!accessed)
		bench_fail("out of memory");
	bench_area_fill(&area, 1);
	for (int rep = 0; rep < options.repetitions; rep++) {
		bench_progress("%s: repetition %d of %d", BENCH, rep + 1, options.repetitions);
		for (size_t k = 0; k < KINDS; k++) {
			enum tracking_kind kind = kinds[(k + (size_t)rep) % KINDS];
			struct tracking t;

			if (!tracking_open_or_skip(&t, kind, &area, &options, BENCH, "anon", rep))
				continue;
			if (tracking_arm(&t) < 0)
				bench_fail("%s: arm: %s", tracking_name(kind), strerror(errno));
			for (int round = 0; round < 4; round++)
				workload_round(&w);
			if (tracking_scan(&t, accessed) < 0)
				bench_fail("%s: scan: %s", tracking_name(kind), strerror(errno));
			tracking_close(&t);
			emit(&options, &w, tracking_name(kind), accessed, rep);
		}
		run_damon(&options, &w, accessed, rep);
	}
	free(accessed);
	bench_area_unmap(&area);
	return 0;
}
