/* SPDX-License-Identifier: MIT */
/*
 * The chain: tiers stacked fastest first.  It alone knows which tier holds
 * a page, and in what order pages entered each tier, so that a tier over
 * its capacity gives its oldest pages to the tier below.  It times every
 * call into a tier for the per-tier latency histograms.
 *
 * One lock serialises the chain; moves happen under it, so a fetch waits
 * behind a move in progress (bounded by the batch size).
 */
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "tier.h"

#define MOVE_BATCH 32		/* pages moved down at once */
#define MOVE_BATCHES_MAX 64	/* per put, so that one put stays bounded */
#define MOVE_BACKOFF_US 1000000	/* after a failed move, before the next try */

struct chain_page {
	uint64_t key;
	size_t len;
	unsigned int tier;
	struct chain_page *older, *newer;
};

struct chain_tier {
	struct wset_store *store;
	struct chain_page *oldest, *newest;
	uint64_t next_move_us;	/* no move down before this, after a failure */
	uint64_t capacity_bytes; /* wset_chain_set_capacity(); 0: the tier's own */
	struct wset_tier_stats stats; /* pages, page_bytes, refused, moved, latencies */
};

struct chain_store {
	struct wset_store store;
	pthread_mutex_t lock;	/* protects everything below */
	struct key_map pages;	/* key -> struct chain_page */
	unsigned int tier_count;
	size_t smallest_page;
	struct chain_tier tiers[WSET_CHAIN_TIERS_MAX];
};

static void record_latency(uint64_t *histogram, uint64_t start)
{
	uint64_t us = __wset_tier_now_us() - start;
	unsigned int bucket = 0;

	while (bucket < WSET_TIER_LATENCY_BUCKETS - 1 && us >= (1ull << bucket))
		bucket++;
	histogram[bucket]++;
}

static void unlink_page(struct chain_store *chain, struct chain_page *page)
{
	struct chain_tier *tier = &chain->tiers[page->tier];

	*(page->older ? &page->older->newer : &tier->oldest) = page->newer;
	*(page->newer ? &page->newer->older : &tier->newest) = page->older;
	page->older = page->newer = NULL;
	tier->stats.pages--;
	tier->stats.page_bytes -= page->len;
}

static void link_newest(struct chain_store *chain, struct chain_page *page,
			unsigned int index)
{
	struct chain_tier *tier = &chain->tiers[index];

	page->tier = index;
	page->older = tier->newest;
	page->newer = NULL;
	*(tier->newest ? &tier->newest->newer : &tier->oldest) = page;
	tier->newest = page;
	tier->stats.pages++;
	tier->stats.page_bytes += page->len;
}

static int tier_put(struct chain_store *chain, unsigned int index, uint64_t key,
		    const void *data, size_t len)
{
	struct chain_tier *tier = &chain->tiers[index];
	uint64_t start = __wset_tier_now_us();
	int ret = tier->store->ops->put(tier->store->priv, key, data, len);

	record_latency(tier->stats.put_latency, start);
	return ret;
}

static int tier_get(struct chain_store *chain, unsigned int index, uint64_t key,
		    void *buf, size_t len)
{
	struct chain_tier *tier = &chain->tiers[index];
	uint64_t start = __wset_tier_now_us();
	int ret = tier->store->ops->get(tier->store->priv, key, buf, len);

	record_latency(tier->stats.get_latency, start);
	return ret;
}

/* The page is in to now: forget its copy anywhere else. */
static void settle(struct chain_store *chain, struct chain_page *page,
		   unsigned int to)
{
	if (page->tier != to) {
		struct wset_store *from = chain->tiers[page->tier].store;

		/* A failing drop leaves an unreachable copy, never a lost page. */
		from->ops->drop(from->priv, page->key, page->len);
	}
	unlink_page(chain, page);
	link_newest(chain, page, to);
}

static bool over_capacity(struct chain_tier *tier)
{
	struct wset_store_stats stats = { 0 };

	if (tier->store->ops->stats(tier->store->priv, &stats) < 0)
		return false;
	if (tier->capacity_bytes)
		stats.capacity_bytes = tier->capacity_bytes;
	return stats.capacity_bytes && stats.stored_bytes > stats.capacity_bytes;
}

/* Move up to MOVE_BATCH of tier index's oldest pages to the tier below;
 * returns how many moved. */
static unsigned int move_oldest(struct chain_store *chain, unsigned int index)
{
	struct wset_store *below = chain->tiers[index + 1].store;
	struct chain_page *batch[MOVE_BATCH];
	struct wset_store_io io[MOVE_BATCH];
	struct iovec iov[MOVE_BATCH];
	unsigned int count = 0, moved = 0;
	uint64_t start;

	for (struct chain_page *page = chain->tiers[index].oldest;
	     page && count < MOVE_BATCH; page = page->newer) {
		void *buf = malloc(page->len);

		if (!buf)
			break;
		if (tier_get(chain, index, page->key, buf, page->len) < 0) {
			free(buf);
			break;
		}
		batch[count] = page;
		iov[count] = (struct iovec){ buf, page->len };
		io[count] = (struct wset_store_io){ .key = page->key, .iov = &iov[count],
						    .iovcnt = 1, .result = -EIO };
		count++;
	}
	if (below->ops->put_batch) {
		int ret;

		start = __wset_tier_now_us();
		ret = below->ops->put_batch(below->priv, io, count);
		for (unsigned int i = 0; ret < 0 && i < count; i++)
			io[i].result = ret;
		/* One batch, one sample: what a fault behind it would wait. */
		record_latency(chain->tiers[index + 1].stats.put_latency, start);
	} else {
		for (unsigned int i = 0; i < count; i++)
			io[i].result = tier_put(chain, index + 1, io[i].key,
						iov[i].iov_base, iov[i].iov_len);
	}
	for (unsigned int i = 0; i < count; i++) {
		if (io[i].result == 0) {
			settle(chain, batch[i], index + 1);
			chain->tiers[index].stats.moved_down++;
			moved++;
		}
		free(iov[i].iov_base);
	}
	return moved;
}

/* A tier below that fails (Redis away) is not asked again at every put:
 * meanwhile the tier above stays over its capacity. */
static void rebalance(struct chain_store *chain)
{
	uint64_t now = __wset_tier_now_us();

	for (unsigned int index = 0; index + 1 < chain->tier_count; index++) {
		struct chain_tier *tier = &chain->tiers[index];

		if (now < tier->next_move_us)
			continue;
		for (unsigned int n = 0; n < MOVE_BATCHES_MAX && over_capacity(tier); n++)
			if (move_oldest(chain, index) == 0) {
				tier->next_move_us = now + MOVE_BACKOFF_US;
				break;
			}
	}
}

/* The page under key is in tier index now. */
static int place(struct chain_store *chain, uint64_t key, size_t len,
		 unsigned int index)
{
	struct chain_page *page = __wset_map_get(&chain->pages, key);

	if (page) {
		page->len = len;
		settle(chain, page, index);
		return 0;
	}
	page = calloc(1, sizeof(*page));
	if (!page || __wset_map_set(&chain->pages, key, page) < 0) {
		struct wset_store *tier = chain->tiers[index].store;

		free(page);
		tier->ops->drop(tier->priv, key, len);
		return -ENOMEM;
	}
	page->key = key;
	page->len = len;
	link_newest(chain, page, index);
	if (!chain->smallest_page || len < chain->smallest_page)
		chain->smallest_page = len;
	return 0;
}

/* No tier took the page: the caller keeps it, an older copy is of no use. */
static void forget(struct chain_store *chain, uint64_t key)
{
	struct chain_page *page = __wset_map_remove(&chain->pages, key);

	if (page) {
		struct wset_store *tier = chain->tiers[page->tier].store;

		tier->ops->drop(tier->priv, key, page->len);
		unlink_page(chain, page);
		free(page);
	}
}

/* Offer the pending requests to tier index, in one batch when it takes
 * batches; those it refuses stay pending.  Returns how many are left. */
static unsigned int offer(struct chain_store *chain, unsigned int index,
			  struct wset_store_io *io, unsigned int *pending,
			  unsigned int count)
{
	struct wset_store *tier = chain->tiers[index].store;
	unsigned int left = 0;

	if (tier->ops->put_batch) {
		struct wset_store_io *batch = malloc(count * sizeof(*batch));
		uint64_t start = __wset_tier_now_us();
		int ret = batch ? 0 : -ENOMEM;

		for (unsigned int i = 0; batch && i < count; i++)
			batch[i] = io[pending[i]];
		if (batch)
			ret = tier->ops->put_batch(tier->priv, batch, count);
		record_latency(chain->tiers[index].stats.put_latency, start);
		for (unsigned int i = 0; i < count; i++)
			io[pending[i]].result = ret < 0 ? ret : batch[i].result;
		free(batch);
	} else {
		for (unsigned int i = 0; i < count; i++) {
			struct wset_store_io *one = &io[pending[i]];

			one->result = one->iovcnt != 1 ? -EINVAL :
				tier_put(chain, index, one->key, one->iov[0].iov_base,
					 one->iov[0].iov_len);
		}
	}
	for (unsigned int i = 0; i < count; i++) {
		struct wset_store_io *one = &io[pending[i]];

		size_t len = 0;

		for (int k = 0; k < one->iovcnt; k++)
			len += one->iov[k].iov_len;
		if (one->result == 0)
			one->result = place(chain, one->key, len, index);
		else if (one->iovcnt == 1)
			chain->tiers[index].stats.refused++;
		if (one->result < 0)
			pending[left++] = pending[i];
	}
	return left;
}

/*
 * Every request goes to the first tier that takes it, each tier seeing
 * the ones left over from the tier above in one batch.  Then tiers over
 * their capacity move their oldest pages down.
 */
static int chain_put_batch(void *priv, struct wset_store_io *io, unsigned int count)
{
	struct chain_store *chain = priv;
	unsigned int *pending = malloc(count * sizeof(*pending));
	unsigned int left = count;
	int saved = errno;

	if (!pending)
		return -ENOMEM;
	for (unsigned int i = 0; i < count; i++) {
		pending[i] = i;
		io[i].result = -EIO;
	}
	pthread_mutex_lock(&chain->lock);
	for (unsigned int index = 0; index < chain->tier_count && left; index++)
		left = offer(chain, index, io, pending, left);
	for (unsigned int i = 0; i < left; i++)
		forget(chain, io[pending[i]].key);
	rebalance(chain);
	pthread_mutex_unlock(&chain->lock);
	free(pending);
	errno = saved;
	return 0;
}

static int chain_put(void *priv, uint64_t key, const void *data, size_t len)
{
	const struct iovec iov = { (void *)data, len };
	struct wset_store_io io = { .key = key, .iov = &iov, .iovcnt = 1 };
	int ret = chain_put_batch(priv, &io, 1);

	return ret < 0 ? ret : io.result;
}

static int chain_get(void *priv, uint64_t key, void *buf, size_t len)
{
	struct chain_store *chain = priv;
	struct chain_page *page;
	int saved = errno, ret = -ENOENT;

	pthread_mutex_lock(&chain->lock);
	page = __wset_map_get(&chain->pages, key);
	if (page && page->len != len)
		ret = -EINVAL;
	else if (page)
		ret = tier_get(chain, page->tier, key, buf, len);
	pthread_mutex_unlock(&chain->lock);
	errno = saved;
	return ret;
}

/* Each tier gets its pages' requests as one batch (one Redis pipeline). */
static int chain_get_batch(void *priv, struct wset_store_io *io, unsigned int count)
{
	struct chain_store *chain = priv;
	struct wset_store_io *batch = malloc(count * sizeof(*batch));
	unsigned int *from = malloc(count * sizeof(*from));
	int saved = errno;

	if (!batch || !from) {
		free(batch);
		free(from);
		return -ENOMEM;
	}
	pthread_mutex_lock(&chain->lock);
	for (unsigned int index = 0; index < chain->tier_count; index++) {
		struct wset_store *tier = chain->tiers[index].store;
		unsigned int n = 0;

		for (unsigned int i = 0; i < count; i++) {
			struct chain_page *page = __wset_map_get(&chain->pages, io[i].key);

			if (index == 0 && !page)
				io[i].result = -ENOENT;
			if (page && page->tier == index) {
				batch[n] = io[i];
				from[n++] = i;
			}
		}
		if (n && tier->ops->get_batch) {
			uint64_t start = __wset_tier_now_us();
			int ret = tier->ops->get_batch(tier->priv, batch, n);

			record_latency(chain->tiers[index].stats.get_latency, start);
			for (unsigned int j = 0; j < n; j++)
				io[from[j]].result = ret < 0 ? ret : batch[j].result;
		} else {
			for (unsigned int j = 0; j < n; j++)
				io[from[j]].result = batch[j].iovcnt != 1 ? -EINVAL :
					tier_get(chain, index, batch[j].key,
						 batch[j].iov[0].iov_base,
						 batch[j].iov[0].iov_len);
		}
	}
	pthread_mutex_unlock(&chain->lock);
	free(batch);
	free(from);
	errno = saved;
	return 0;
}

static int chain_drop(void *priv, uint64_t key, size_t len)
{
	struct chain_store *chain = priv;
	int saved = errno, ret = 0;

	pthread_mutex_lock(&chain->lock);
	for (uint64_t at = key; at < key + len;) {
		struct chain_page *page = __wset_map_remove(&chain->pages, at);
		struct wset_store *tier;
		int err;

		if (!page) {
			at += chain->smallest_page ? chain->smallest_page : len;
			continue;
		}
		tier = chain->tiers[page->tier].store;
		err = tier->ops->drop(tier->priv, at, page->len);
		if (err < 0 && ret == 0)
			ret = err;
		unlink_page(chain, page);
		at += page->len;
		free(page);
	}
	pthread_mutex_unlock(&chain->lock);
	errno = saved;
	return ret;
}

static int chain_stats(void *priv, struct wset_store_stats *stats)
{
	struct chain_store *chain = priv;
	int saved = errno;

	for (unsigned int i = 0; i < chain->tier_count; i++) {
		struct wset_store *tier = chain->tiers[i].store;
		struct wset_store_stats one = { 0 };

		tier->ops->stats(tier->priv, &one);
		stats->stored_bytes += one.stored_bytes;
		stats->capacity_bytes += one.capacity_bytes;
		stats->put_count += one.put_count;
		stats->get_count += one.get_count;
		stats->error_count += one.error_count;
	}
	errno = saved;
	return 0;
}

static int chain_sync(void *priv)
{
	struct chain_store *chain = priv;
	int saved = errno, ret = 0;

	pthread_mutex_lock(&chain->lock);
	for (unsigned int i = 0; i < chain->tier_count && ret == 0; i++) {
		struct wset_store *tier = chain->tiers[i].store;

		if (tier->ops->sync)
			ret = tier->ops->sync(tier->priv);
	}
	pthread_mutex_unlock(&chain->lock);
	errno = saved;
	return ret;
}

struct chain_each {
	struct chain_store *chain;
	unsigned int tier;
	struct chain_page **found; /* in the order the tiers listed them */
	size_t count, room;
};

/* A page a tier lists: the chain learns where it is. */
static int each_page(void *arg, uint64_t key, size_t len)
{
	struct chain_each *each = arg;
	struct chain_store *chain = each->chain;
	struct chain_page *page;

	/* In two tiers (a move was cut short): both copies are the same. */
	if (__wset_map_get(&chain->pages, key))
		return 0;
	if (each->count == each->room) {
		size_t room = each->room ? each->room * 2 : 1024;
		struct chain_page **found = realloc(each->found, room * sizeof(*found));

		if (!found)
			return -ENOMEM;
		each->found = found;
		each->room = room;
	}
	page = calloc(1, sizeof(*page));
	if (!page || __wset_map_set(&chain->pages, key, page) < 0) {
		free(page);
		return -ENOMEM;
	}
	page->key = key;
	page->len = len;
	link_newest(chain, page, each->tier);
	if (!chain->smallest_page || len < chain->smallest_page)
		chain->smallest_page = len;
	each->found[each->count++] = page;
	return 0;
}

/*
 * Only when every tier can list its pages: a tier that cannot (RAM) lost
 * them with the agent before us, and the pages it held must not look as
 * if they had never been evicted.  fn runs without the lock: it may drop.
 */
static int chain_each(void *priv, int (*fn)(void *arg, uint64_t key, size_t len),
		      void *arg)
{
	struct chain_store *chain = priv;
	struct chain_each each = { .chain = chain };
	int saved = errno, ret = 0;
	uint64_t *keys = NULL;
	size_t *lengths = NULL;

	for (unsigned int i = 0; i < chain->tier_count; i++)
		if (!chain->tiers[i].store->ops->each)
			return -EOPNOTSUPP;
	pthread_mutex_lock(&chain->lock);
	for (each.tier = 0; each.tier < chain->tier_count && ret == 0; each.tier++) {
		struct wset_store *tier = chain->tiers[each.tier].store;

		ret = tier->ops->each(tier->priv, each_page, &each);
	}
	/* Copied out: once the lock is gone a page may be dropped and freed. */
	if (ret == 0 && each.count) {
		keys = malloc(each.count * sizeof(*keys));
		lengths = malloc(each.count * sizeof(*lengths));
		if (!keys || !lengths)
			ret = -ENOMEM;
		for (size_t i = 0; ret == 0 && i < each.count; i++) {
			keys[i] = each.found[i]->key;
			lengths[i] = each.found[i]->len;
		}
	}
	pthread_mutex_unlock(&chain->lock);
	for (size_t i = 0; ret == 0 && i < each.count; i++)
		ret = fn(arg, keys[i], lengths[i]);
	free(each.found);
	free(keys);
	free(lengths);
	errno = saved;
	return ret;
}

static void chain_close(void *priv)
{
	struct chain_store *chain = priv;

	__wset_map_free(&chain->pages, free);
	for (unsigned int i = 0; i < chain->tier_count; i++)
		wset_store_close(chain->tiers[i].store);
	pthread_mutex_destroy(&chain->lock);
	free(chain);
}

static const struct wset_store_ops chain_ops = WSET_STORE_OPS_INIT(
	.put = chain_put,
	.get = chain_get,
	.drop = chain_drop,
	.stats = chain_stats,
	.close = chain_close,
	.sync = chain_sync,
	.each = chain_each,
	.put_batch = chain_put_batch,
	.get_batch = chain_get_batch,
);

int wset_chain_open(struct wset_store *const *tiers, unsigned int count,
		    struct wset_store **out)
{
	struct chain_store *chain;

	if (!tiers || !out || count == 0 || count > WSET_CHAIN_TIERS_MAX)
		return -EINVAL;
	for (unsigned int i = 0; i < count; i++)
		if (!tiers[i] || !tiers[i]->ops || !tiers[i]->ops->put ||
		    !tiers[i]->ops->get || !tiers[i]->ops->drop || !tiers[i]->ops->stats)
			return -EINVAL;
	chain = calloc(1, sizeof(*chain));
	if (!chain)
		return -ENOMEM;
	pthread_mutex_init(&chain->lock, NULL);
	chain->tier_count = count;
	for (unsigned int i = 0; i < count; i++) {
		const struct tier_kind *kind = __wset_tier_kind(tiers[i]);

		chain->tiers[i].store = tiers[i];
		strncpy(chain->tiers[i].stats.name, kind ? kind->name : "file",
			sizeof(chain->tiers[i].stats.name) - 1);
	}
	chain->store.ops = &chain_ops;
	chain->store.priv = chain;
	*out = &chain->store;
	return 0;
}

int wset_chain_tier_stats(struct wset_store *store, unsigned int index,
			  struct wset_tier_stats *stats)
{
	struct chain_store *chain;
	struct wset_store_stats one = { 0 };
	struct wset_store *tier;

	if (!store || !stats || store->ops != &chain_ops)
		return -EINVAL;
	chain = store->priv;
	if (index >= chain->tier_count)
		return -ENOENT;
	tier = chain->tiers[index].store;
	pthread_mutex_lock(&chain->lock);
	*stats = chain->tiers[index].stats;
	pthread_mutex_unlock(&chain->lock);
	tier->ops->stats(tier->priv, &one);
	stats->stored_bytes = one.stored_bytes;
	stats->capacity_bytes = chain->tiers[index].capacity_bytes ?: one.capacity_bytes;
	stats->puts = one.put_count;
	stats->gets = one.get_count;
	stats->errors = one.error_count;
	stats->redirects = one.redirect_count;
	return 0;
}

int wset_chain_set_capacity(struct wset_store *store, unsigned int index,
			    uint64_t capacity_bytes)
{
	struct chain_store *chain;

	if (!store || store->ops != &chain_ops)
		return -EINVAL;
	chain = store->priv;
	if (index >= chain->tier_count)
		return -ENOENT;
	pthread_mutex_lock(&chain->lock);
	chain->tiers[index].capacity_bytes = capacity_bytes;
	rebalance(chain);
	pthread_mutex_unlock(&chain->lock);
	return 0;
}
