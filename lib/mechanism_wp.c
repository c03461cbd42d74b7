/* SPDX-License-Identifier: MIT */
/*
 * The wp mechanism (stock kernels >= 6.7): UFFD_FEATURE_WP_ASYNC with
 * PAGEMAP_SCAN sees writes only.  Async write-protection is fixed for the
 * life of the context, so an eviction step keeps guest accesses off a
 * file-backed batch by zapping its PTEs in the calling process: the page
 * stays in the page cache and the next access is a MINOR fault that the
 * handler holds until the step is over.  That zap needs the target's
 * address space: our own, or an adopted process's through its helper.
 */
#include <errno.h>

#include "internal.h"

static uint64_t wp_features(uint64_t offered)
{
	return __wset_common_features(offered) |
	       (offered & (UFFD_FEATURE_WP_HUGETLBFS_SHMEM |
			   UFFD_FEATURE_WP_UNPOPULATED |
			   UFFD_FEATURE_MINOR_SHMEM |
			   UFFD_FEATURE_MINOR_HUGETLBFS)) |
	       UFFD_FEATURE_WP_ASYNC;
}

static bool wp_can_evict_file(const struct wset *ws)
{
	return __wset_reaches_target(ws);
}

static uint64_t wp_register_mode(const struct wset *ws,
				 const struct wset_region *region)
{
	uint64_t mode = UFFDIO_REGISTER_MODE_WP | UFFDIO_REGISTER_MODE_MISSING;

	if (region->kind == REGION_FILE && wp_can_evict_file(ws))
		mode |= UFFDIO_REGISTER_MODE_MINOR;
	return mode;
}

static int wp_arm(struct wset *ws, struct wset_region *region, uint64_t start,
		  uint64_t end)
{
	int ret;

	(void)region;
	while ((ret = __wset_uffd_writeprotect(ws->uffd, start, end - start,
					       true)) == -EAGAIN)
		__wset_mm_wait();
	return ret;
}

static int wp_scan_touched(struct wset *ws, struct wset_region *region,
			   uint64_t start, uint64_t end, uint8_t *touched,
			   bool rearm)
{
	uint64_t flags = rearm ? PM_SCAN_WP_MATCHING | PM_SCAN_CHECK_WPASYNC : 0;

	return __wset_pagemap_mark(ws, region, start, end, flags,
				   PAGE_IS_WRITTEN, 0, touched);
}

static int wp_evict_nothing(struct wset *ws)
{
	(void)ws;
	return 0;
}

/* One zap per run of adjacent pages (pages are in ascending order): each
 * waits for a handler thread to read its REMOVE event. */
static int wp_isolate_file(struct wset *ws, struct wset_region *region,
			   const uint64_t *pages, size_t count)
{
	for (size_t i = 0; i < count;) {
		size_t run = 1;
		int ret;

		while (i + run < count && pages[i + run] == pages[i] + run)
			run++;
		ret = __wset_zap(ws, __wset_page_addr(region, pages[i]),
				 run * region->page_size);
		if (ret < 0)
			return ret;
		i += run;
	}
	return 0;
}

/* Map the page-cache page again, still write-protected so that tracking
 * does not count it as written. */
static int wp_continue(struct wset *ws, struct wset_region *region,
		       uint64_t addr, bool wake)
{
	int ret = __wset_uffd_continue(ws->uffd, addr, region->page_size,
				       UFFDIO_CONTINUE_MODE_WP |
				       (wake ? 0 : UFFDIO_CONTINUE_MODE_DONTWAKE));

	if (ret == -EEXIST)
		ret = wake ? __wset_uffd_wake(ws->uffd, addr, region->page_size) : 0;
	return ret;
}

/* A handler thread: its caller wakes the faulting thread. */
static int wp_resolve_protection(struct wset *ws, struct wset_region *region,
				 uint64_t addr)
{
	return wp_continue(ws, region, addr, false);
}

/* Called by the engine, not a handler thread: wait out mm changes. */
static int wp_release_file(struct wset *ws, struct wset_region *region,
			   uint64_t page)
{
	int ret;

	while ((ret = wp_continue(ws, region, __wset_page_addr(region, page),
				  true)) == -EAGAIN)
		__wset_mm_wait();
	return ret;
}

const struct wset_mechanism_ops __wset_wp_ops = {
	.mechanism = WSET_MECHANISM_WP,
	.features = wp_features,
	.register_mode = wp_register_mode,
	.can_evict_file = wp_can_evict_file,
	.arm = wp_arm,
	.scan_touched = wp_scan_touched,
	.evict_begin = wp_evict_nothing,
	.evict_end = wp_evict_nothing,
	.isolate_file = wp_isolate_file,
	.release_file = wp_release_file,
	.resolve_protection = wp_resolve_protection,
};
