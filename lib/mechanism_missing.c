/* SPDX-License-Identifier: MIT */
/*
 * missing-only: a userfaultfd the VMM initialised itself (UFFDIO_API called
 * and memory registered before the handover, in Firecracker's order).  Its
 * features were chosen without tracking, so nothing is tracked or evicted;
 * MISSING faults are served from the store (what an earlier agent left
 * there) and with zeroes for pages never stored, as the kernel would.
 */
#include <errno.h>

#include "internal.h"

static uint64_t missing_features(uint64_t negotiated)
{
	return negotiated;
}

static uint64_t missing_register_mode(const struct wset *ws,
				      const struct wset_region *region)
{
	(void)ws;
	(void)region;
	return UFFDIO_REGISTER_MODE_MISSING;
}

static bool missing_can_evict_file(const struct wset *ws)
{
	(void)ws;
	return false;
}

static int missing_arm(struct wset *ws, struct wset_region *region,
		       uint64_t start, uint64_t end)
{
	(void)ws;
	(void)region;
	(void)start;
	(void)end;
	return 0;
}

/* Nothing can be seen: no page counts as touched. */
static int missing_scan_touched(struct wset *ws, struct wset_region *region,
				uint64_t start, uint64_t end, uint8_t *touched,
				bool rearm)
{
	(void)ws;
	(void)region;
	(void)start;
	(void)end;
	(void)touched;
	(void)rearm;
	return 0;
}

static int missing_nothing(struct wset *ws)
{
	(void)ws;
	return 0;
}

static int missing_isolate_file(struct wset *ws, struct wset_region *region,
				const uint64_t *pages, size_t count)
{
	(void)ws;
	(void)region;
	(void)pages;
	(void)count;
	return -EOPNOTSUPP;
}

static int missing_release_file(struct wset *ws, struct wset_region *region,
				uint64_t page)
{
	(void)ws;
	(void)region;
	(void)page;
	return 0;
}

/* No protection is ever set: a stray protection fault is simply retried. */
static int missing_resolve_protection(struct wset *ws, struct wset_region *region,
				      uint64_t addr)
{
	(void)ws;
	(void)region;
	(void)addr;
	return 0;
}

const struct wset_mechanism_ops __wset_missing_ops = {
	.mechanism = WSET_MECHANISM_MISSING_ONLY,
	.features = missing_features,
	.register_mode = missing_register_mode,
	.can_evict_file = missing_can_evict_file,
	.arm = missing_arm,
	.scan_touched = missing_scan_touched,
	.evict_begin = missing_nothing,
	.evict_end = missing_nothing,
	.isolate_file = missing_isolate_file,
	.release_file = missing_release_file,
	.resolve_protection = missing_resolve_protection,
};
