/* SPDX-License-Identifier: MIT */
/*
 * The rwp mechanism (UFFD_FEATURE_RWP, the wset kernel series): every
 * access to a protected page is seen.  In async mode the kernel unprotects
 * on access; an eviction step flips the context to sync mode so that
 * accesses to the batch block until the step is done.
 */
#include <errno.h>

#include "internal.h"

static uint64_t rwp_features(uint64_t offered)
{
	/* MINOR: for a group member's mappings (group.c). */
	return __wset_common_features(offered) | UFFD_FEATURE_RWP |
	       UFFD_FEATURE_RWP_ASYNC |
	       (offered & (UFFD_FEATURE_MINOR_SHMEM | UFFD_FEATURE_MINOR_HUGETLBFS));
}

static uint64_t rwp_register_mode(const struct wset *ws,
				  const struct wset_region *region)
{
	(void)ws;
	(void)region;
	return UFFDIO_REGISTER_MODE_RWP | UFFDIO_REGISTER_MODE_MISSING;
}

/* Sync mode blocks accesses in any process, so the agent can evict too. */
static bool rwp_can_evict_file(const struct wset *ws)
{
	(void)ws;
	return true;
}

/* -EAGAIN means the mm is changing (mremap, fork, a madvise waiting for
 * its event to be read): wait for it to pass.  Not for handler threads. */
static int rwp_protect(struct wset *ws, uint64_t start, uint64_t end,
		       bool protect)
{
	int ret;

	while ((ret = __wset_uffd_rwprotect(ws->uffd, start, end - start,
					   protect ? UFFDIO_RWPROTECT_MODE_RWP : 0)) ==
	       -EAGAIN)
		__wset_mm_wait();
	return ret;
}

static int rwp_arm(struct wset *ws, struct wset_region *region, uint64_t start,
		   uint64_t end)
{
	(void)region;
	return rwp_protect(ws, start, end, true);
}

struct rearm {
	struct wset *ws;
	struct wset_region *region;
	int error;
};

static void rearm_range(void *arg, uint64_t start, uint64_t end,
			uint64_t categories)
{
	struct rearm *rearm = arg;

	(void)categories;
	if (rearm->error == 0)
		rearm->error = rwp_arm(rearm->ws, rearm->region, start, end);
}

/*
 * Re-arm only what the scan reported, as it reports it: a page touched
 * after the scan is still unprotected at the next one and counts then,
 * instead of being protected again unseen.  Pages never protected (just
 * filled) are reported too, as they lack the uffd bit.
 */
static int rwp_scan_touched(struct wset *ws, struct wset_region *region,
			    uint64_t start, uint64_t end, uint8_t *touched,
			    bool rearm)
{
	struct rearm state = { .ws = ws, .region = region };
	int ret = __wset_pagemap_mark_each(ws, region, start, end, 0,
					   PAGE_IS_ACCESSED, 0, touched,
					   rearm ? rearm_range : NULL, &state);

	return ret < 0 ? ret : state.error;
}

static int rwp_evict_begin(struct wset *ws)
{
	return __wset_uffd_set_mode(ws->uffd, 0, UFFD_FEATURE_RWP_ASYNC);
}

/* Back to async; the kernel wakes every waiter and they resolve alone. */
static int rwp_evict_end(struct wset *ws)
{
	return __wset_uffd_set_mode(ws->uffd, UFFD_FEATURE_RWP_ASYNC, 0);
}

/* In sync mode the batch pages are already unreachable. */
static int rwp_isolate_file(struct wset *ws, struct wset_region *region,
			    const uint64_t *pages, size_t count)
{
	(void)ws;
	(void)region;
	(void)pages;
	(void)count;
	return 0;
}

/* The page stays protected; evict_end wakes anyone waiting on it. */
static int rwp_release_file(struct wset *ws, struct wset_region *region,
			    uint64_t page)
{
	(void)ws;
	(void)region;
	(void)page;
	return 0;
}

/* Handler threads: -EAGAIN goes back to the caller, who retries after
 * reading pending events. */
static int rwp_resolve_protection(struct wset *ws, struct wset_region *region,
				  uint64_t addr)
{
	return __wset_uffd_rwprotect(ws->uffd, addr, region->page_size,
				     UFFDIO_RWPROTECT_MODE_DONTWAKE);
}

const struct wset_mechanism_ops __wset_rwp_ops = {
	.mechanism = WSET_MECHANISM_RWP,
	.features = rwp_features,
	.register_mode = rwp_register_mode,
	.can_evict_file = rwp_can_evict_file,
	.arm = rwp_arm,
	.scan_touched = rwp_scan_touched,
	.evict_begin = rwp_evict_begin,
	.evict_end = rwp_evict_end,
	.isolate_file = rwp_isolate_file,
	.release_file = rwp_release_file,
	.resolve_protection = rwp_resolve_protection,
};
