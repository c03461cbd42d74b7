/* SPDX-License-Identifier: MIT */
/* What the tiers of libwset-store share with the chain. */
#ifndef WSET_STORE_TIER_H
#define WSET_STORE_TIER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/uio.h>

#include "wset_store.h"

/* What a tier of ours tells the chain beyond its wset_store_ops: its name.
 * A tier store starts with struct tier_store so that the chain can find it. */
struct tier_kind {
	const char *name;
};

struct tier_store {
	struct wset_store store;
	const struct tier_kind *kind;
};

extern const struct wset_store_ops __wset_compressed_ops;
extern const struct wset_store_ops __wset_redis_ops;

/* The kind of one of our tiers; NULL for any other store. */
const struct tier_kind *__wset_tier_kind(const struct wset_store *store);

/* A map from 64-bit keys to pointers; not locked. */
struct key_map {
	struct key_map_entry **buckets;
	size_t bucket_count; /* a power of two */
	size_t count;
};

void *__wset_map_get(const struct key_map *map, uint64_t key);
/* Set key to value (replacing); -ENOMEM. */
int __wset_map_set(struct key_map *map, uint64_t key, void *value);
/* Remove key; returns its value or NULL. */
void *__wset_map_remove(struct key_map *map, uint64_t key);
/* Call fn on every value, then free the map (not the values). */
void __wset_map_free(struct key_map *map, void (*fn)(void *value));

/* Microseconds since some fixed point. */
uint64_t __wset_tier_now_us(void);

static inline void tier_count(uint64_t *counter, uint64_t n)
{
	__atomic_fetch_add(counter, n, __ATOMIC_RELAXED);
}

static inline uint64_t tier_load(const uint64_t *counter)
{
	return __atomic_load_n(counter, __ATOMIC_RELAXED);
}

/* What every tier counts, and how its stats callback reports it (the
 * byte count under the tier's own lock, the rest as they stand). */
struct tier_counts {
	uint64_t put_count, get_count, error_count;
};

static inline void tier_report(const struct tier_counts *counts, uint64_t stored_bytes,
			       uint64_t capacity_bytes, struct wset_store_stats *stats)
{
	stats->stored_bytes = stored_bytes;
	stats->capacity_bytes = capacity_bytes;
	stats->put_count = tier_load(&counts->put_count);
	stats->get_count = tier_load(&counts->get_count);
	stats->error_count = tier_load(&counts->error_count);
}

#endif /* WSET_STORE_TIER_H */
