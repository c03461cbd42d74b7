/* SPDX-License-Identifier: MIT */
/*
 * A skewed workload over guest memory: most accesses fall in a hot window
 * that moves every phase, a few anywhere; some accesses write a new version
 * of the page.  Every read checks the page's content.
 */
#ifndef DEMO_WORKLOAD_H
#define DEMO_WORKLOAD_H

#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "guest_memory.h"
#include "link.h"

struct workload_options {
	double duration_s;	/* stop after this long (0: until released) */
	double rate;		/* page accesses per second */
	double hot_fraction;	/* of all pages, in the hot window */
	double cold_accesses;	/* fraction of accesses anywhere in memory */
	double write_fraction;	/* fraction of accesses that write */
	double phase_s;		/* the hot window moves by half its size */
	double report_s;	/* progress line interval */
	uint64_t seed;
	/* When set: [0] accesses done, [1] CLOCK_MONOTONIC ns of the last,
	 * updated after every access (for tests watching progress). */
	uint64_t *progress;
};

struct workload_result {
	uint64_t accesses;
	uint64_t writes;
	uint64_t bad_pages;	/* reads that found the wrong content */
	uint64_t slow_accesses; /* over 50 us: fetched back or blocked */
	uint64_t max_latency_ns;
	bool released;		/* wsetd gave every page back */
	bool lost;		/* wsetd went away and the link gave up */
	uint64_t max_wait_after_back_ns; /* longest access still blocked once
					    wsetd was back after a restart */
};

/* Make workload_run() return after its current batch (async-signal-safe). */
void workload_request_stop(void);

/* Run until the duration ends, a stop is requested, or link (may be NULL)
 * says wsetd released the VMM or is lost. */
void workload_run(struct guest_memory *memory, const struct workload_options *options,
		  const struct agent_link *link, FILE *log, struct workload_result *result);

#endif
