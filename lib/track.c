/* SPDX-License-Identifier: MIT */
/* One tracking interval: scan, age every page, re-arm. */
#include <errno.h>
#include <stdlib.h>

#include "internal.h"

static int track_region(struct wset *ws, struct wset_region *region)
{
	uint64_t end = region->addr + region->len;
	uint8_t *present = calloc(region->pages, 1);
	uint8_t *touched = calloc(region->pages, 1);
	int ret = -ENOMEM;

	if (!present || !touched)
		goto out;
	/* Presence first: a page that appears between the two scans is then
	 * at worst seen as touched but not present, and counted next time.
	 * In a file mapping a swap-format entry is only ever a uffd-wp
	 * marker (write-protected before it was populated), never data:
	 * counting it would fill the cold set with holes. */
	ret = __wset_pagemap_mark(ws, region, region->addr, end, 0, 0,
				  region->kind == REGION_FILE ? PAGE_IS_PRESENT :
				  PAGE_IS_PRESENT | PAGE_IS_SWAPPED, present);
	if (ret < 0)
		goto out;
	ret = ws->ops->scan_touched(ws, region, region->addr, end, touched, true);
	if (ret < 0)
		goto out;

	uint64_t interval = __atomic_load_n(&ws->counters.intervals, __ATOMIC_RELAXED);

	pthread_mutex_lock(&ws->lock);
	for (uint64_t page = 0; page < region->pages; page++) {
		uint8_t *state = &region->state[page];
		unsigned int shield = (*state & PAGE_SHIELD) >> PAGE_SHIELD_SHIFT;

		if (*state & (PAGE_BUSY | PAGE_EVICTED))
			continue;
		if (touched[page]) {
			region->age[page] = 0;
			*state |= PAGE_PRESENT;
			*state &= (uint8_t)~PAGE_UNMOVABLE;
		} else if (present[page]) {
			/* A page faults brought back ages every 2^shield intervals. */
			if (region->age[page] < WSET_AGE_MAX &&
			    !(interval & ((1u << shield) - 1)))
				region->age[page]++;
			*state |= PAGE_PRESENT;
		} else {
			region->age[page] = 0;
			*state &= (uint8_t)~PAGE_PRESENT;
		}
	}
	pthread_mutex_unlock(&ws->lock);
out:
	free(present);
	free(touched);
	return ret;
}

/* Called with engine_lock held. */
int __wset_tick_locked(struct wset *ws)
{
	struct wset_policy policy;
	int ret = 0;

	for (int i = 0; i < WSET_MAX_REGIONS; i++) {
		struct wset_region *region = __wset_active_region(ws, i);

		if (!region)
			continue;
		int err = track_region(ws, region);
		if (err < 0 && ret == 0)
			ret = err;
	}
	__wset_count(&ws->counters.intervals, 1);

	pthread_mutex_lock(&ws->lock);
	policy = ws->policy;
	pthread_mutex_unlock(&ws->lock);
	if (policy.enabled) {
		uint64_t budget = __wset_policy_budget(ws, &policy);
		uint64_t evicted = 0;

		if (budget) {
			int err = __wset_evict_locked(ws, policy.min_idle_age,
						      budget, &evicted);
			if (err < 0 && ret == 0)
				ret = err;
			__wset_policy_spent(ws, evicted);
		}
	}
	return ret;
}

int wset_tick(struct wset *ws)
{
	int ret;

	if (!ws)
		return -EINVAL;
	pthread_mutex_lock(&ws->engine_lock);
	ret = __wset_tick_locked(ws);
	pthread_mutex_unlock(&ws->engine_lock);
	return ret;
}
