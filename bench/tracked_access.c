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
 *   numa-hinting: a read of a page the kernel's NUMA balancing scanner
 *             (task_numa_work) made PROT_NONE. No interface arms a chosen
 *             range, so for this run NUMA balancing is switched on with
 *             its scan delay and period at their least, and the touch
 *             starts once /proc/vmstat's numa_pte_updates has grown by the
 *             area's pages. The scanner leaves shmem alone unless its
 *             policy asks for balancing: the area is bound to every node
 *             with MPOL_F_NUMA_BALANCING. The process stays on one CPU, so
 *             the pages are local and the faults migrate nothing (the
 *             sample says how many pages moved). A run counts when
 *             numa_hint_faults grew by at least 90% of the pages during
 *             the touch; the settings are put back after each run.
 */
#include <errno.h>
#include <linux/mempolicy.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/mount.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "tracking.h"

#define BENCH "tracked_access"
#define CASE "memfd"

enum competitor { MINOR, RWP, WP, MPROTECT, NUMA, COMPETITORS };

static const char *competitor_name(enum competitor c)
{
	static const char *names[] = { "minor", "rwp", "wp", "mprotect", "numa-hinting" };

	return names[c];
}

#define NUMA_SYSCTL "/proc/sys/kernel/numa_balancing"
#define NUMA_DEBUGFS "/sys/kernel/debug/sched/numa_balancing"

/* The NUMA balancing knobs this row turns, and their values before. */
static const char *const numa_knobs[] = {
	NUMA_SYSCTL, NUMA_DEBUGFS "/scan_delay_ms", NUMA_DEBUGFS "/scan_period_min_ms",
	NUMA_DEBUGFS "/scan_period_max_ms",
};
#define NUMA_KNOBS (sizeof(numa_knobs) / sizeof(numa_knobs[0]))
static char numa_saved[NUMA_KNOBS][32];
static bool numa_ready;

static int read_text(const char *path, char *text, size_t len)
{
	FILE *f = fopen(path, "re");
	bool ok = f && fgets(text, (int)len, f);

	if (f)
		fclose(f);
	return ok ? 0 : -1;
}

static int write_text(const char *path, const char *text)
{
	FILE *f = fopen(path, "we");
	int ret = f && fputs(text, f) >= 0 ? 0 : -1;

	if (f && fclose(f) != 0)
		ret = -1;
	return ret;
}

static uint64_t vmstat(const char *name)
{
	char line[128];
	size_t len = strlen(name);
	uint64_t value = 0;
	FILE *f = fopen("/proc/vmstat", "re");

	while (f && fgets(line, sizeof(line), f))
		if (strncmp(line, name, len) == 0 && line[len] == ' ')
			value = strtoull(line + len + 1, NULL, 10);
	if (f)
		fclose(f);
	return value;
}

static void numa_restore(void)
{
	for (size_t i = NUMA_KNOBS; numa_ready && i-- > 0;)
		write_text(numa_knobs[i], numa_saved[i]);
}

static int numa_set(char *why, size_t why_len)
{
	static const char *const wanted[NUMA_KNOBS] = { "1", "0", "10", "100" };

	for (size_t i = 0; i < NUMA_KNOBS; i++) {
		if (write_text(numa_knobs[i], wanted[i]) < 0) {
			snprintf(why, why_len, "%s: %s", numa_knobs[i], strerror(errno));
			numa_restore();
			return -1;
		}
	}
	return 0;
}

/*
 * Save the NUMA balancing settings and bind the area to every node with
 * balancing asked for; 0 or -1 with why.
 */
static int numa_setup(const struct bench_area *area, char *why, size_t why_len)
{
	char nodes[64] = "";
	unsigned long mask;
	int last;

	if (read_text("/sys/devices/system/node/online", nodes, sizeof(nodes)) < 0 ||
	    !strpbrk(nodes, "-,")) {
		snprintf(why, why_len, "one NUMA node (online: %s): NUMA balancing does not "
			 "scan", nodes[0] ? strtok(nodes, "\n") : "unknown");
		return -1;
	}
	last = atoi(strpbrk(nodes, "-,") + 1);
	mask = last >= 0 && last < 63 ? (2ul << last) - 1 : ~0ul;
	if (syscall(SYS_mbind, area->addr, area->len, MPOL_BIND | MPOL_F_NUMA_BALANCING,
		    &mask, 64ul, 0u) < 0) {
		snprintf(why, why_len, "mbind(MPOL_BIND | MPOL_F_NUMA_BALANCING): %s",
			 strerror(errno));
		return -1;
	}
	/* The scan knobs live in debugfs, which a small guest may not mount. */
	if (access(NUMA_DEBUGFS, F_OK) < 0)
		mount("debugfs", "/sys/kernel/debug", "debugfs", 0, NULL);
	for (size_t i = 0; i < NUMA_KNOBS; i++) {
		if (read_text(numa_knobs[i], numa_saved[i], sizeof(numa_saved[i])) < 0) {
			snprintf(why, why_len, "%s: %s (CONFIG_NUMA_BALANCING, debugfs)",
				 numa_knobs[i], strerror(errno));
			return -1;
		}
	}
	numa_ready = true;
	atexit(numa_restore);
	return 0;
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

/*
 * ns per access of a NUMA hinting fault, or -1 (skip printed in repetition
 * 0) when this machine cannot take them; *faults gets the count.
 */
static double run_numa(const struct bench_options *options, struct bench_area *area,
		       int rep, uint64_t *faults, uint64_t *migrated)
{
	uint64_t pages = area->len / area->page_size, start, elapsed, marked, hinted, moved;
	static char why[256];
	static int state; /* 0: not tried, 1: set up, -1: cannot */

	if (state == 0)
		state = numa_setup(area, why, sizeof(why)) == 0 ? 1 : -1;
	if (state > 0 && numa_set(why, sizeof(why)) < 0)
		state = -1;
	if (state < 0) {
		if (rep == 0)
			bench_skip(options, BENCH, CASE "/numa-hinting", "%s", why);
		return -1;
	}
	for (int attempt = 0; attempt < 2; attempt++) {
		/* Every page mapped, none marked; then let the scanner go. */
		touch_all(area, true);
		marked = vmstat("numa_pte_updates");
		start = bench_now_ns();
		while (vmstat("numa_pte_updates") - marked < pages &&
		       bench_now_ns() - start < 3000000000ull)
			;
		if (vmstat("numa_pte_updates") - marked < pages)
			continue;
		hinted = vmstat("numa_hint_faults");
		moved = vmstat("numa_pages_migrated");
		start = bench_now_ns();
		touch_all(area, false);
		elapsed = bench_now_ns() - start;
		*faults = vmstat("numa_hint_faults") - hinted;
		*migrated = vmstat("numa_pages_migrated") - moved;
		if (*faults * 10 >= pages * 9) {
			numa_restore();
			return (double)elapsed / (double)pages;
		}
	}
	numa_restore();
	/* Not for lack of trying: say so once and leave the competitor out. */
	snprintf(why, sizeof(why), "NUMA balancing on, its scanner did not mark the "
		 "area's %llu pages within 3 s, twice (numa_pte_updates grew by %llu "
		 "in the last)", (unsigned long long)pages,
		 (unsigned long long)(vmstat("numa_pte_updates") - marked));
	state = -1;
	bench_skip(options, BENCH, CASE "/numa-hinting", "%s", why);
	return -1;
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
	cpu_set_t one;

	/* On one CPU from the start: the area's pages are local to it. */
	CPU_ZERO(&one);
	CPU_SET(sched_getcpu(), &one);
	if (sched_setaffinity(0, sizeof(one), &one) < 0)
		bench_fail("sched_setaffinity: %s", strerror(errno));
	bench_setup(argc, argv, "The cost of one tracked access, per mechanism.\n",
		    64ull << 20, BENCH_MEMFD, &options, &area);
	for (int rep = 0; rep < options.repetitions; rep++) {
		bench_progress("%s: repetition %d of %d", BENCH, rep + 1, options.repetitions);
		for (int k = 0; k < COMPETITORS; k++) {
			enum competitor c = (enum competitor)((k + rep) % COMPETITORS);
			uint64_t faults = 0, migrated = 0;
			double ns = c == NUMA ? run_numa(&options, &area, rep, &faults, &migrated)
					      : run(&options, &area, c, rep);

			if (ns < 0)
				continue;
			json_object *line = bench_sample(&options, BENCH, CASE,
							 competitor_name(c), rep);
			bench_set_u64(line, "pages", area.len / area.page_size);
			if (c == NUMA) {
				bench_set_u64(line, "hint_faults", faults);
				bench_set_u64(line, "pages_migrated", migrated);
			}
			bench_set_double(line, "ns_per_access", ns);
			bench_emit(line);
		}
	}
	bench_area_unmap(&area);
	return 0;
}
