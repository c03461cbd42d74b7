/* SPDX-License-Identifier: MIT */
/*
 * Row 1, arm + scan cost per GiB: each mechanism of tracking.h protects a
 * whole resident area (arm), an eighth of its pages is written, then the
 * mechanism reports the accessed pages (scan).  Arm and scan are timed;
 * the mechanisms take turns on the same area in each repetition, starting
 * with a different one each time.  Memory: anon, shmem (memfd), THP.
 *
 * THP gets a new area before each mechanism: a uffd-wp async write fault
 * splits the huge page it hits, so the next mechanism would find small
 * pages. The share of the area mapped huge at arm time is reported.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "damon.h"
#include "tracking.h"

#define BENCH "arm_scan"

static const enum tracking_kind kinds[] = { TRACK_WP, TRACK_RWP, TRACK_MPROTECT,
					    TRACK_IDLE };
#define KINDS (sizeof(kinds) / sizeof(kinds[0]))

/* Bytes of the area mapped with huge pages, from /proc/self/smaps. */
static uint64_t huge_bytes(const struct bench_area *area)
{
	uintptr_t start = (uintptr_t)area->addr, end = start + area->len;
	uint64_t total = 0, kib;
	uintptr_t from, to;
	bool inside = false;
	char line[256];
	FILE *smaps = fopen("/proc/self/smaps", "re");

	if (!smaps)
		return 0;
	while (fgets(line, sizeof(line), smaps)) {
		if (sscanf(line, "%" SCNxPTR "-%" SCNxPTR " ", &from, &to) == 2)
			inside = from < end && to > start;
		else if (inside && sscanf(line, "AnonHugePages: %" SCNu64 " kB", &kib) == 1)
			total += kib << 10;
	}
	fclose(smaps);
	return total;
}

static void run_one(const struct bench_options *options, const char *name,
		    struct bench_area *area, enum tracking_kind kind, int rep)
{
	uint64_t pages = area->len / area->page_size, start, armed, scanned;
	struct tracking t;
	int64_t found;
	int ret;

	if (!tracking_open_or_skip(&t, kind, area, options, BENCH, name, rep))
		return;
	uint64_t huge = huge_bytes(area);

	start = bench_now_ns();
	ret = tracking_arm(&t);
	armed = bench_now_ns();
	if (ret < 0)
		bench_fail("%s %s: arm: %s", name, tracking_name(kind), strerror(-ret));
	for (uint64_t page = 0; page < pages; page += 8)
		*(volatile uint64_t *)(area->addr + page * area->page_size) += 1;
	scanned = bench_now_ns();
	found = tracking_scan(&t, NULL);
	scanned = bench_now_ns() - scanned;
	if (found < 0)
		bench_fail("%s %s: scan: %s", name, tracking_name(kind), strerror((int)-found));
	tracking_close(&t);

	json_object *line = bench_sample(options, BENCH, name, tracking_name(kind), rep);
	double per_gib = (double)(1ull << 30) / (double)area->len;

	bench_set_u64(line, "bytes", area->len);
	bench_set_u64(line, "accessed_pages", (uint64_t)found);
	bench_set_u64(line, "expected_pages", (pages + 7) / 8);
	bench_set_double(line, "huge_share", (double)huge / (double)area->len);
	bench_set_double(line, "arm_ns_per_gib", (double)(armed - start) * per_gib);
	bench_set_double(line, "scan_ns_per_gib", (double)scanned * per_gib);
	bench_set_double(line, "arm_scan_ns_per_gib",
			 (double)(armed - start + scanned) * per_gib);
	bench_emit(line);
}

/*
 * DAMON does not arm and scan: it samples. Its cost is the CPU time of its
 * kdamond thread per aggregation interval (5 ms sampling, 100 ms
 * aggregation, its defaults), measured over 5 intervals after 2 to settle;
 * its set-up counts as the arm. Reading its regions waits for each
 * aggregation boundary, so only kdamond's work is counted.
 */
static void run_damon(const struct bench_options *options, const char *name,
		      struct bench_area *area, int rep)
{
	uint64_t pages = area->len / area->page_size, start, armed, cpu = 0;
	struct damon_monitor monitor;
	uint8_t *accessed = malloc(pages);
	const int settle = 2, intervals = 5;
	char why[256], full[128];
	int64_t found = 0;

	if (!accessed)
		bench_fail("out of memory");
	start = bench_now_ns();
	if (damon_start(&monitor, area, 5000, 100000, why, sizeof(why)) < 0) {
		if (rep == 0) {
			snprintf(full, sizeof(full), "%s/damon", name);
			bench_skip(options, BENCH, full, "%s", why);
		}
		free(accessed);
		return;
	}
	armed = bench_now_ns();
	for (uint64_t page = 0; page < pages; page += 8)
		*(volatile uint64_t *)(area->addr + page * area->page_size) += 1;
	for (int i = 0; i < settle + intervals && found >= 0; i++) {
		if (i == settle)
			cpu = damon_cpu_ns(&monitor);
		found = damon_snapshot(area, accessed);
	}
	cpu = damon_cpu_ns(&monitor) - cpu;
	damon_stop(&monitor);
	free(accessed);
	if (found < 0)
		bench_fail("%s damon: snapshot: %s", name, strerror((int)-found));

	json_object *line = bench_sample(options, BENCH, name, "damon", rep);
	double per_gib = (double)(1ull << 30) / (double)area->len;
	double scan = (double)cpu / intervals * per_gib;

	bench_set_u64(line, "bytes", area->len);
	bench_set_u64(line, "accessed_pages", (uint64_t)found);
	bench_set_double(line, "arm_ns_per_gib", (double)(armed - start) * per_gib);
	bench_set_double(line, "scan_ns_per_gib", scan);
	bench_set_double(line, "arm_scan_ns_per_gib", (double)(armed - start) * per_gib + scan);
	bench_emit(line);
}

int main(int argc, char **argv)
{
	static const enum bench_memory memories[] = { BENCH_ANON, BENCH_MEMFD, BENCH_THP };
	struct bench_options options;

	bench_parse(argc, argv, "Arm + scan cost per GiB of each tracking mechanism.\n",
		    256ull << 20, &options);
	for (size_t m = 0; m < sizeof(memories) / sizeof(memories[0]); m++) {
		const char *name = bench_memory_name(memories[m]);
		uint64_t len = options.smoke ? 4ull << 20 : options.size;
		struct bench_area area;
		char why[256];

		if (!bench_selected(&options, name))
			continue;
		if (bench_area_map(memories[m], len, &area, why, sizeof(why)) < 0) {
			bench_skip(&options, BENCH, name, "%s", why);
			continue;
		}
		bench_area_fill(&area, 1);
		for (int rep = 0; rep < options.repetitions; rep++) {
			bench_progress("%s: %s, repetition %d of %d", BENCH, name, rep + 1,
				       options.repetitions);
			for (size_t k = 0; k <= KINDS; k++) {
				if (memories[m] == BENCH_THP && (rep || k)) {
					bench_area_unmap(&area);
					if (bench_area_map(memories[m], len, &area, why,
							   sizeof(why)) < 0)
						bench_fail("%s: %s", name, why);
					bench_area_fill(&area, 1);
				}
				if (k == KINDS)
					run_damon(&options, name, &area, rep);
				else
					run_one(&options, name, &area,
						kinds[(k + (size_t)rep) % KINDS], rep);
			}
		}
		bench_area_unmap(&area);
	}
	return 0;
}
