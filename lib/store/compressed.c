/* SPDX-License-Identifier: MIT */
/*
 * The compressed RAM tier: pages compressed with lz4 or zstd, kept in
 * memory by key.  Zero pages are a flag; incompressible pages are refused
 * (-E2BIG) so that the chain sends them down.
 */
#include <errno.h>
#include <lz4.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <zstd.h>

#include "tier.h"

struct compressed_page {
	uint32_t length;	/* uncompressed */
	uint32_t compressed;	/* 0: a zero page, no data */
	unsigned char data[];
};

struct compressed_store {
	struct tier_store tier;
	struct wset_compressed_config config;
	pthread_mutex_t lock;	/* protects pages */
	struct key_map pages;
	uint64_t stored_bytes, zero_pages;
	struct tier_counts counts;
};

static bool all_zero(const void *data, size_t len)
{
	const uint64_t *word = data;

	if (len % sizeof(*word))
		return false;
	for (size_t i = 0; i < len / sizeof(*word); i++)
		if (word[i])
			return false;
	return true;
}

/* Compress into out (room bytes); the compressed size, or 0 when it does not fit. */
static size_t compress_page(const struct wset_compressed_config *config,
			    const void *data, size_t len, void *out, size_t room)
{
	if (config->compression == WSET_COMPRESSION_ZSTD) {
		size_t n = ZSTD_compress(out, room, data, len, config->level);

		return ZSTD_isError(n) ? 0 : n;
	}
	int n = LZ4_compress_fast(data, out, (int)len, (int)room,
				  config->level > 0 ? config->level : 1);
	return n > 0 ? (size_t)n : 0;
}

static int decompress_page(const struct wset_compressed_config *config,
			   const struct compressed_page *page, void *buf, size_t len)
{
	if (config->compression == WSET_COMPRESSION_ZSTD) {
		size_t n = ZSTD_decompress(buf, len, page->data, page->compressed);

		return !ZSTD_isError(n) && n == len ? 0 : -EIO;
	}
	return LZ4_decompress_safe((const char *)page->data, buf,
				   (int)page->compressed, (int)len) == (int)len ? 0 : -EIO;
}

static size_t threshold(const struct compressed_store *cs, size_t len)
{
	return cs->config.threshold_bytes ? cs->config.threshold_bytes : len * 3 / 4;
}

static size_t page_cost(const struct compressed_page *page)
{
	return page->compressed;
}

/* Replace key's page by page (NULL: remove); called with the lock held. */
static int replace(struct compressed_store *cs, uint64_t key,
		   struct compressed_page *page)
{
	struct compressed_page *old = page ? __wset_map_get(&cs->pages, key)
					   : __wset_map_remove(&cs->pages, key);

	if (page && __wset_map_set(&cs->pages, key, page) < 0)
		return -ENOMEM;
	if (old) {
		cs->stored_bytes -= page_cost(old);
		cs->zero_pages -= old->compressed == 0;
		free(old);
	}
	if (page) {
		cs->stored_bytes += page_cost(page);
		cs->zero_pages += page->compressed == 0;
	}
	return 0;
}

static int compressed_put(void *priv, uint64_t key, const void *data, size_t len)
{
	struct compressed_store *cs = priv;
	size_t limit = threshold(cs, len), size = 0;
	struct compressed_page *page;
	int ret;

	if (len > UINT32_MAX)
		return -EINVAL;
	page = malloc(sizeof(*page) + limit);
	if (!page)
		return -ENOMEM;
	if (!all_zero(data, len)) {
		size = compress_page(&cs->config, data, len, page->data, limit);
		if (size == 0) {
			/* Does not compress: no copy of it may stay here either. */
			free(page);
			pthread_mutex_lock(&cs->lock);
			replace(cs, key, NULL);
			pthread_mutex_unlock(&cs->lock);
			return -E2BIG;
		}
		page = realloc(page, sizeof(*page) + size) ?: page;
	}
	page->length = (uint32_t)len;
	page->compressed = (uint32_t)size;
	pthread_mutex_lock(&cs->lock);
	/* Over capacity the chain moves the oldest pages down; when it cannot
	 * (the tier below is failing), twice the capacity is the hard limit. */
	if (cs->config.capacity_bytes &&
	    cs->stored_bytes + size > 2 * cs->config.capacity_bytes)
		ret = -ENOSPC;
	else
		ret = replace(cs, key, page);
	pthread_mutex_unlock(&cs->lock);
	if (ret == -ENOSPC) {
		free(page);
		return ret;
	}
	if (ret < 0) {
		free(page);
		tier_count(&cs->counts.error_count, 1);
		return ret;
	}
	tier_count(&cs->counts.put_count, 1);
	return 0;
}

static int compressed_get(void *priv, uint64_t key, void *buf, size_t len)
{
	struct compressed_store *cs = priv;
	struct compressed_page *page;
	int ret = -ENOENT;

	pthread_mutex_lock(&cs->lock);
	page = __wset_map_get(&cs->pages, key);
	if (page && page->length != len)
		ret = -EINVAL;
	else if (page && page->compressed == 0) {
		memset(buf, 0, len);
		ret = 0;
	} else if (page)
		ret = decompress_page(&cs->config, page, buf, len);
	pthread_mutex_unlock(&cs->lock);
	if (ret == 0)
		tier_count(&cs->counts.get_count, 1);
	else
		tier_count(&cs->counts.error_count, 1);
	return ret;
}

static int compressed_drop(void *priv, uint64_t key, size_t len)
{
	struct compressed_store *cs = priv;
	uint64_t page_size = 0;

	/* A drop may cover a run of pages. */
	pthread_mutex_lock(&cs->lock);
	for (uint64_t at = key; at < key + len; at += page_size) {
		struct compressed_page *page = __wset_map_get(&cs->pages, at);

		page_size = page ? page->length : len;
		replace(cs, at, NULL);
	}
	pthread_mutex_unlock(&cs->lock);
	return 0;
}

static int compressed_stats(void *priv, struct wset_store_stats *stats)
{
	struct compressed_store *cs = priv;

	uint64_t stored_bytes;

	pthread_mutex_lock(&cs->lock);
	stored_bytes = cs->stored_bytes;
	pthread_mutex_unlock(&cs->lock);
	tier_report(&cs->counts, stored_bytes, cs->config.capacity_bytes, stats);
	return 0;
}

static void compressed_close(void *priv)
{
	struct compressed_store *cs = priv;

	__wset_map_free(&cs->pages, free);
	pthread_mutex_destroy(&cs->lock);
	free(cs);
}

const struct wset_store_ops __wset_compressed_ops = WSET_STORE_OPS_INIT(
	.put = compressed_put,
	.get = compressed_get,
	.drop = compressed_drop,
	.stats = compressed_stats,
	.close = compressed_close,
);

static const struct tier_kind lz4_kind = { .name = "compressed-lz4" };
static const struct tier_kind zstd_kind = { .name = "compressed-zstd" };

int wset_compressed_store_open(const struct wset_compressed_config *config,
			       struct wset_store **out)
{
	struct compressed_store *cs;

	if (!config || !out || (config->compression != WSET_COMPRESSION_LZ4 &&
				config->compression != WSET_COMPRESSION_ZSTD))
		return -EINVAL;
	if (config->compression == WSET_COMPRESSION_ZSTD &&
	    (config->level < 0 || config->level > ZSTD_maxCLevel()))
		return -EINVAL;
	if (config->compression == WSET_COMPRESSION_LZ4 && config->level < 0)
		return -EINVAL;
	cs = calloc(1, sizeof(*cs));
	if (!cs)
		return -ENOMEM;
	cs->config = *config;
	pthread_mutex_init(&cs->lock, NULL);
	cs->tier.store.ops = &__wset_compressed_ops;
	cs->tier.store.priv = cs;
	cs->tier.kind = config->compression == WSET_COMPRESSION_ZSTD ? &zstd_kind
								     : &lz4_kind;
	*out = &cs->tier.store;
	return 0;
}
