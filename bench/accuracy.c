/* SPDX-License-Identifier: MIT */
/*
 * Row 4, accuracy: a workload with a known hot set (the first tenth of the
 * area is read, never written; the second tenth is written) runs between
 * arm and scan.  Reported per mechanism: the share of read-hot pages called
 * cold, of write-hot pages called cold, and of untouched pages called hot.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tracking.h"

#define BENCH "accuracy"

static const enum tracking_kind kinds[] = { TRACK_WP, TRACK_RWP, TRACK_MPROTECT,
					    TRACK_IDLE };
#define KINDS (sizeof(kinds) / sizeof(kinds[0]))

int main(int argc, char **argv)
{
	struct bench_options options;
	struct bench_area area;

	bench_setup(argc, argv, "Read-hot pages called cold, per mechanism.\n",
		    64ull << 20, BENCH_ANON, &options, &area);
	uint64_t pages = area.len / area.page_size, tenth = pages / 10;
	uint8_t *accessed = malloc(pages);

	bench_area_fill(&area, 1);
	bench_skip(&options, BENCH, "anon/damon",
		   "not measured: the DAMON sysfs set-up is not written yet");
	for (int rep = 0; rep < options.repetitions; rep++) {
		bench_progress("%s: repetition %d of %d", BENCH, rep + 1, options.repetitions);
		for (size_t k = 0; k < KINDS; k++) {
			enum tracking_kind kind = kinds[(k + (size_t)rep) % KINDS];
			uint64_t read_cold = 0, write_cold = 0, cold_hot = 0;
			struct tracking t;

			if (!tracking_open_or_skip(&t, kind, &area, &options, BENCH, "anon", rep))
				continue;
			if (tracking_arm(&t) < 0)
				bench_fail("%s: arm: %s", tracking_name(kind), strerror(errno));
			for (int round = 0; round < 4; round++)
				for (uint64_t page = 0; page < 2 * tenth; page++) {
					volatile uint64_t *at = (volatile uint64_t *)(area.addr + page * area.page_size);

					if (page < tenth)
						(void)*at;
					else
						*at += 1;
				}
			if (tracking_scan(&t, accessed) < 0)
				bench_fail("%s: scan: %s", tracking_name(kind), strerror(errno));
			tracking_close(&t);
			for (uint64_t page = 0; page < pages; page++) {
				if (page < tenth)
					read_cold += !accessed[page];
				else if (page < 2 * tenth)
					write_cold += !accessed[page];
				else
					cold_hot += accessed[page];
			}
			json_object *line = bench_sample(&options, BENCH, "anon", tracking_name(kind), rep);
			bench_set_double(line, "hot_called_cold", 100.0 * (double)read_cold / (double)tenth);
			bench_set_double(line, "written_called_cold", 100.0 * (double)write_cold / (double)tenth);
			bench_set_double(line, "cold_called_hot",
					 100.0 * (double)cold_hot / (double)(pages - 2 * tenth));
			bench_emit(line);
		}
	}
	free(accessed);
	bench_area_unmap(&area);
	return 0;
}
