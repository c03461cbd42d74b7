/* SPDX-License-Identifier: MIT */
/* Readers: counters, idle-age histogram, cold set, page ages. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"

static bool resident(const struct wset_region *region, uint64_t page)
{
	return (region->state[page] & (PAGE_PRESENT | PAGE_EVICTED)) == PAGE_PRESENT;
}

static unsigned int age_bucket(unsigned int age)
{
	unsigned int bucket = 0;

	while (age && bucket < WSET_AGE_BUCKETS - 1) {
		age >>= 1;
		bucket++;
	}
	return bucket;
}

/* Called with ws->lock held. */
static void histogram_locked(struct wset *ws, struct wset_histogram *hist)
{
	memset(hist, 0, sizeof(*hist));
	for (int i = 0; i < ws->region_count; i++) {
		struct wset_region *region = ws->regions[i];

		if (!region->active)
			continue;
		for (uint64_t page = 0; page < region->pages; page++)
			if (resident(region, page))
				hist->bytes[age_bucket(region->age[page])] +=
					region->page_size;
	}
}

uint64_t __wset_resident_bytes(struct wset *ws)
{
	struct wset_histogram hist;
	uint64_t bytes = 0;

	histogram_locked(ws, &hist);
	for (int bucket = 0; bucket < WSET_AGE_BUCKETS; bucket++)
		bytes += hist.bytes[bucket];
	return bytes;
}

int wset_counters(struct wset *ws, struct wset_counters *counters)
{
	struct wset_counters out;

	if (!ws || !counters)
		return -EINVAL;
	pthread_mutex_lock(&ws->lock);
	memcpy(&out, &ws->counters, sizeof(out));
	out.resident_bytes = out.wss_bytes = out.cold_bytes = 0;
	out.evicted_bytes = 0;
	out.unevictable_pages = 0;
	for (int i = 0; i < ws->region_count; i++) {
		struct wset_region *region = ws->regions[i];

		if (!region->active)
			continue;
		for (uint64_t page = 0; page < region->pages; page++) {
			if (region->state[page] & PAGE_EVICTED) {
				out.evicted_bytes += region->page_size;
				continue;
			}
			if (!resident(region, page))
				continue;
			out.resident_bytes += region->page_size;
			if (!region->evictable ||
			    (region->state[page] & PAGE_UNMOVABLE))
				out.unevictable_pages++;
			if (region->age[page] < ws->config.wss_age)
				out.wss_bytes += region->page_size;
			if (region->age[page] >= ws->policy.min_idle_age)
				out.cold_bytes += region->page_size;
		}
	}
	pthread_mutex_unlock(&ws->lock);
	memset(out.reserved, 0, sizeof(out.reserved));
	memset(&out.store, 0, sizeof(out.store));
	if (ws->store->ops->stats)
		ws->store->ops->stats(ws->store->priv, &out.store);
	return WSET_STRUCT_FILL(counters, &out);
}

int wset_histogram(struct wset *ws, struct wset_histogram *hist)
{
	if (!ws || !hist)
		return -EINVAL;
	pthread_mutex_lock(&ws->lock);
	histogram_locked(ws, hist);
	pthread_mutex_unlock(&ws->lock);
	return 0;
}

/* Regions are kept in the order they were added: sort for address order. */
static int by_address(const void *a, const void *b)
{
	const struct wset_region *x = *(struct wset_region *const *)a;
	const struct wset_region *y = *(struct wset_region *const *)b;

	return x->addr < y->addr ? -1 : x->addr > y->addr;
}

int wset_cold_set(struct wset *ws, unsigned int min_age,
		  struct wset_range *ranges, size_t max, size_t *count)
{
	struct wset_region *sorted[WSET_MAX_REGIONS];
	size_t found = 0;
	int n = 0;

	if (!ws || !count || (max && !ranges) || min_age > WSET_AGE_MAX)
		return -EINVAL;
	pthread_mutex_lock(&ws->lock);
	for (int i = 0; i < ws->region_count; i++)
		if (ws->regions[i]->active)
			sorted[n++] = ws->regions[i];
	qsort(sorted, (size_t)n, sizeof(sorted[0]), by_address);
	for (int i = 0; i < n; i++) {
		struct wset_region *region = sorted[i];
		bool open = false;

		for (uint64_t page = 0; page < region->pages; page++) {
			bool cold = resident(region, page) &&
				    region->age[page] >= min_age;

			if (!cold) {
				open = false;
				continue;
			}
			if (open) {
				if (found <= max)
					ranges[found - 1].len += region->page_size;
				continue;
			}
			open = true;
			found++;
			if (found <= max) {
				ranges[found - 1].addr = __wset_page_addr(region, page);
				ranges[found - 1].len = region->page_size;
			}
		}
	}
	pthread_mutex_unlock(&ws->lock);
	*count = found;
	return 0;
}

int wset_page_age(struct wset *ws, uint64_t addr)
{
	struct wset_region *region;
	int ret;

	if (!ws)
		return -EINVAL;
	pthread_mutex_lock(&ws->lock);
	region = __wset_find_region(ws, addr);
	if (!region) {
		ret = -ENOENT;
	} else {
		uint64_t page = (addr - region->addr) / region->page_size;

		ret = resident(region, page) ? region->age[page] : -ENODATA;
	}
	pthread_mutex_unlock(&ws->lock);
	return ret;
}
