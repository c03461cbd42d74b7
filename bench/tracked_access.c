/* SPDX-License-Identifier: MIT */
/*
 * Row 2, the cost of one tracked access: a resident shmem (memfd) area is
 * armed whole, then every page is touched once; the loop's time over the
 * page count is the cost of one access that the mechanism records.
 *   rwp:      a read of an RWP-protected page (async fault, in the kernel)
 *   wp:       a write to a write-protected page (async fault)
 *   mprotect: a read of a PROT_NONE page (SIGSEGV, mprotect back)
 *   minor:    the baseline, a read of a page in the page cache but not
 *             mapped (MADV_DONTNEED on the shared mapping)
 * NUMA hinting faults have no interface that arms a chosen range (the
 * kernel's scanner picks ranges at its own pace): the row says so.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>

#include "tracking.h"

#define BENCH "tracked_access"
#define CASE "memfd"

enum competitor { MINOR, RWP, WP, MPROTECT, COMPETITORS };

static const char *competitor_name(enum competitor c)
{
	static const char *names[] = { "minor", "rwp", "wp", "mprotect" };

	return names[c];
}

static void touch_all(struct bench_area *area, bool write)
{
	uint64_t pages = area->len / area->page_size;

	for (uint64_t page = 0; page < pages; page++) {
		volatile uint64_t *at = (volatile uint64_t *)(area->addr + page * area->page_size);

		if (write)
			*at += 1;
		else
			(void)*at;
	}
}

/* ns per access, or -1 when the mechanism is not here (skip printed). */
static double run(const struct bench_options *options, struct bench_area *area,
		  enum competitor c, int rep)
{
	static const enum tracking_kind kinds[] = { [RWP] = TRACK_RWP, [WP] = TRACK_WP,
						    [MPROTECT] = TRACK_MPROTECT };
	uint64_t pages = area->len / area->page_size, start, elapsed;
	struct tracking t;

	touch_all(area, true); /* every page resident and mapped */
	if (c == MINOR) {
		if (madvise(area->addr, area->len, MADV_DONTNEED) < 0)
			bench_fail("MADV_DONTNEED: %s", strerror(errno));
		start = bench_now_ns();
		touch_all(area, false);
		elapsed = bench_now_ns() - start;
		return (double)elapsed / (double)pages;
	}
	if (!tracking_open_or_skip(&t, kinds[c], area, options, BENCH, CASE, rep))
		return -1;
	if (tracking_arm(&t) < 0)
		bench_fail("%s: arm: %s", competitor_name(c), strerror(errno));
	start = bench_now_ns();
	touch_all(area, c == WP);
	elapsed = bench_now_ns() - start;
	int64_t seen = tracking_scan(&t, NULL);

	tracking_close(&t);
	if (seen != (int64_t)pages)
		bench_fail("%s recorded %lld of %llu accesses", competitor_name(c),
			   (long long)seen, (unsigned long long)pages);
	return (double)elapsed / (double)pages;
}

int main(int argc, char **argv)
{
	struct bench_options options;
	struct bench_area area;

	bench_setup(argc, argv, "The cost of one tracked access, per mechanism.\n",
		    64ull << 20, BENCH_MEMFD, &options, &area);
	bench_skip(&options, BENCH, CASE "/numa-hinting",
		   "no interface arms NUMA hinting faults on a chosen range: the "
		   "kernel's task_numa_work scanner picks ranges at its own pace");
	for (int rep = 0; rep < options.repetitions; rep++) {
		bench_progress("%s: repetition %d of %d", BENCH, rep + 1, options.repetitions);
		for (int k = 0; k < COMPETITORS; k++) {
			enum competitor c = (enum competitor)((k + rep) % COMPETITORS);
			double ns = run(&options, &area, c, rep);

			if (ns < 0)
				continue;
			json_object *line = bench_sample(&options, BENCH, CASE,
							 competitor_name(c), rep);
			bench_set_u64(line, "pages", area.len / area.page_size);
			bench_set_double(line, "ns_per_access", ns);
			bench_emit(line);
		}
	}
	bench_area_unmap(&area);
	return 0;
}
