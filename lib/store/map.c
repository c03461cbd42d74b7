/* SPDX-License-Identifier: MIT */
/* A chained hash map from store keys to pointers, and small shared bits. */
#include <errno.h>
#include <stdlib.h>
#include <time.h>

#include "tier.h"

struct key_map_entry {
	struct key_map_entry *next;
	uint64_t key;
	void *value;
};

static size_t bucket_of(const struct key_map *map, uint64_t key)
{
	/* Keys are multiples of the page size: mix the high bits in. */
	key ^= key >> 33;
	key *= 0xff51afd7ed558ccdull;
	key ^= key >> 33;
	return (size_t)key & (map->bucket_count - 1);
}

void *__wset_map_get(const struct key_map *map, uint64_t key)
{
	if (!map->bucket_count)
		return NULL;
	for (struct key_map_entry *e = map->buckets[bucket_of(map, key)]; e; e = e->next)
		if (e->key == key)
			return e->value;
	return NULL;
}

static int grow(struct key_map *map)
{
	size_t count = map->bucket_count ? map->bucket_count * 2 : 1024;
	struct key_map_entry **buckets = calloc(count, sizeof(*buckets));
	struct key_map old = *map;

	if (!buckets)
		return -ENOMEM;
	map->buckets = buckets;
	map->bucket_count = count;
	for (size_t i = 0; i < old.bucket_count; i++) {
		struct key_map_entry *e = old.buckets[i], *next;

		for (; e; e = next) {
			size_t b = bucket_of(map, e->key);

			next = e->next;
			e->next = buckets[b];
			buckets[b] = e;
		}
	}
	free(old.buckets);
	return 0;
}

int __wset_map_set(struct key_map *map, uint64_t key, void *value)
{
	struct key_map_entry *e;
	size_t b;

	if (map->count >= map->bucket_count && grow(map) < 0)
		return -ENOMEM;
	b = bucket_of(map, key);
	for (e = map->buckets[b]; e; e = e->next)
		if (e->key == key) {
			e->value = value;
			return 0;
		}
	e = malloc(sizeof(*e));
	if (!e)
		return -ENOMEM;
	e->key = key;
	e->value = value;
	e->next = map->buckets[b];
	map->buckets[b] = e;
	map->count++;
	return 0;
}

void *__wset_map_remove(struct key_map *map, uint64_t key)
{
	struct key_map_entry **link;

	if (!map->bucket_count)
		return NULL;
	for (link = &map->buckets[bucket_of(map, key)]; *link; link = &(*link)->next) {
		struct key_map_entry *e = *link;
		void *value = e->value;

		if (e->key != key)
			continue;
		*link = e->next;
		free(e);
		map->count--;
		return value;
	}
	return NULL;
}

void __wset_map_free(struct key_map *map, void (*fn)(void *value))
{
	for (size_t i = 0; i < map->bucket_count; i++) {
		struct key_map_entry *e = map->buckets[i], *next;

		for (; e; e = next) {
			next = e->next;
			if (fn)
				fn(e->value);
			free(e);
		}
	}
	free(map->buckets);
	map->buckets = NULL;
	map->bucket_count = map->count = 0;
}

uint64_t __wset_tier_now_us(void)
{
	struct timespec now;

	clock_gettime(CLOCK_MONOTONIC, &now);
	return (uint64_t)now.tv_sec * 1000000 + (uint64_t)now.tv_nsec / 1000;
}

const struct tier_kind *__wset_tier_kind(const struct wset_store *store)
{
	if (store->ops == &__wset_compressed_ops || store->ops == &__wset_redis_ops)
		return ((const struct tier_store *)store)->kind;
	return NULL;
}
