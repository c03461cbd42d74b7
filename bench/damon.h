/* SPDX-License-Identifier: MIT */
/*
 * DAMON virtual-address monitoring as a baseline for rows 1 and 4,
 * driven through /sys/kernel/mm/damon/admin: one kdamond watching one
 * area of this process, and a "stat" scheme whose tried regions give the
 * access count of each region at an aggregation boundary.
 *
 * DAMON samples: it does not arm and scan like the other mechanisms. Its
 * cost is the kdamond thread's CPU time, its answer the regions of the
 * last aggregation interval.
 */
#ifndef BENCH_DAMON_H
#define BENCH_DAMON_H

#include "bench.h"

struct damon_monitor {
	int kdamond_pid;
	uint64_t sample_us;
	uint64_t aggr_us;
};

/*
 * Start monitoring [area->addr, +area->len) of this process, sampling
 * every sample_us, aggregating every aggr_us. 0, or -errno with why[]
 * saying what is missing (no DAMON sysfs, a kdamond already running).
 */
int damon_start(struct damon_monitor *m, const struct bench_area *area,
		uint64_t sample_us, uint64_t aggr_us, char *why, size_t why_len);
/*
 * Wait for the next aggregation boundary and mark in accessed[] (one byte
 * per page of the area) the pages DAMON saw accessed in the interval that
 * ended there. Returns the number of such pages or -errno.
 */
int64_t damon_snapshot(const struct bench_area *area, uint8_t *accessed);
/* CPU time the kdamond thread has used so far, in ns; 0 if unknown. */
uint64_t damon_cpu_ns(const struct damon_monitor *m);
void damon_stop(struct damon_monitor *m);

#endif
