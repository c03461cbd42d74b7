/* SPDX-License-Identifier: MIT */
/*
 * The raw tracking mechanisms the kernel-side rows compare, without
 * libwset in between: arm a whole area, let accesses happen, scan which
 * pages were accessed.
 *   rwp:      UFFDIO_RWPROTECT (async) + PAGEMAP_SCAN PAGE_IS_ACCESSED
 *   wp:       UFFDIO_WRITEPROTECT (async) + PAGEMAP_SCAN PAGE_IS_WRITTEN
 *   mprotect: mprotect(PROT_NONE), a SIGSEGV handler that records and
 *             opens each page
 *   idle:     /sys/kernel/mm/page_idle/bitmap through /proc/self/pagemap
 */
#ifndef BENCH_TRACKING_H
#define BENCH_TRACKING_H

#include "bench.h"

enum tracking_kind { TRACK_RWP, TRACK_WP, TRACK_MPROTECT, TRACK_IDLE };

struct tracking {
	enum tracking_kind kind;
	struct bench_area *area;
	int uffd;
	int pagemap;
	int idle_bitmap;
	uint64_t *pfns; /* idle: the page frame of each page at arm time */
};

const char *tracking_name(enum tracking_kind kind);
/* 0, or -errno with why[] saying what this kernel or memory lacks. */
int tracking_open(struct tracking *t, enum tracking_kind kind,
		  struct bench_area *area, char *why, size_t why_len);
void tracking_close(struct tracking *t);
/* tracking_open(), or false after printing (in repetition 0) why the
 * case NAME/mechanism is absent. */
bool tracking_open_or_skip(struct tracking *t, enum tracking_kind kind,
			   struct bench_area *area, const struct bench_options *options,
			   const char *bench, const char *name, int rep);
/* Protect (or mark idle) every page of the area. */
int tracking_arm(struct tracking *t);
/* Count the pages accessed since tracking_arm(); accessed[page] is set
 * for each when accessed is not NULL. */
int64_t tracking_scan(struct tracking *t, uint8_t *accessed);

#endif
