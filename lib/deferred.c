/* SPDX-License-Identifier: MIT */
/*
 * Store drops taken off the fault path.  A handler thread wakes the
 * faulting thread as soon as its page is copied in; dropping the store's
 * copy is queued here and done by one worker thread, adjacent pages in one
 * call, so that no fault waits behind another fault's store bookkeeping.
 * A page whose drop is queued stays busy until it is done: eviction cannot
 * store it again under the same key meanwhile.
 */
#include <errno.h>
#include <stdlib.h>

#include "internal.h"

/* Enough for every page of a few prefetch windows; beyond it callers do
 * the work themselves. */
#define DEFERRED_CAPACITY 4096
/* Drops are batched: the worker is woken for this many, or when the handler threads go idle (__wset_deferred_kick()), not for
 * every page, which would cost each fault a futex wake. */
#define DEFERRED_BATCH 32

struct deferred_item {
	enum wset_deferred_work work;
	struct wset_region *region;
	uint64_t page;
};

struct wset_deferred {
	pthread_t thread;
	pthread_mutex_t lock;
	pthread_cond_t cond;
	pthread_cond_t done_cond; /* signalled as items are done */
	bool stop;
	uint64_t queued; /* items ever queued */
	uint64_t done;	 /* items ever done */
	struct deferred_item items[DEFERRED_CAPACITY];
	size_t head;
	size_t count;
};

/* Drops of adjacent pages are done as one run. */
#define DEFERRED_RUN_MAX 256

static void run_item(struct wset *ws, const struct deferred_item *item,
		     uint64_t count)
{
	__wset_fetch_finish(ws, item->region, item->page, count);
}

/* With the lock held: take the head item and the drops of the pages right
 * after it queued behind it. */
static uint64_t take(struct wset_deferred *deferred, struct deferred_item *item)
{
	uint64_t count = 1;

	*item = deferred->items[deferred->head];
	deferred->head = (deferred->head + 1) % DEFERRED_CAPACITY;
	deferred->count--;
	while (item->work == DEFERRED_DROP && deferred->count &&
	       count < DEFERRED_RUN_MAX) {
		const struct deferred_item *next = &deferred->items[deferred->head];

		if (next->work != DEFERRED_DROP || next->region != item->region ||
		    next->page != item->page + count)
			break;
		deferred->head = (deferred->head + 1) % DEFERRED_CAPACITY;
		deferred->count--;
		count++;
	}
	return count;
}

/* Drains the queue before it returns, even when asked to stop. */
static void *worker(void *arg)
{
	struct wset *ws = arg;
	struct wset_deferred *deferred = ws->deferred;

	pthread_mutex_lock(&deferred->lock);
	for (;;) {
		struct deferred_item item;
		uint64_t count;

		while (!deferred->count && !deferred->stop)
			pthread_cond_wait(&deferred->cond, &deferred->lock);
		if (!deferred->count)
			break;
		count = take(deferred, &item);
		pthread_mutex_unlock(&deferred->lock);
		run_item(ws, &item, count);
		pthread_mutex_lock(&deferred->lock);
		deferred->done += count;
		pthread_cond_broadcast(&deferred->done_cond);
	}
	pthread_mutex_unlock(&deferred->lock);
	return NULL;
}

int __wset_deferred_start(struct wset *ws)
{
	struct wset_deferred *deferred = calloc(1, sizeof(*deferred));
	int ret;

	if (!deferred)
		return -ENOMEM;
	pthread_mutex_init(&deferred->lock, NULL);
	pthread_cond_init(&deferred->cond, NULL);
	pthread_cond_init(&deferred->done_cond, NULL);
	ws->deferred = deferred;
	ret = pthread_create(&deferred->thread, NULL, worker, ws);
	if (ret) {
		ws->deferred = NULL;
		free(deferred);
		return -ret;
	}
	return 0;
}

/* Finishes everything queued, then stops the worker. */
void __wset_deferred_stop(struct wset *ws)
{
	struct wset_deferred *deferred = ws->deferred;

	if (!deferred)
		return;
	pthread_mutex_lock(&deferred->lock);
	deferred->stop = true;
	pthread_cond_signal(&deferred->cond);
	pthread_mutex_unlock(&deferred->lock);
	pthread_join(deferred->thread, NULL);
	ws->deferred = NULL;
	pthread_cond_destroy(&deferred->cond);
	pthread_cond_destroy(&deferred->done_cond);
	pthread_mutex_destroy(&deferred->lock);
	free(deferred);
}

bool __wset_deferred_pending(struct wset *ws)
{
	struct wset_deferred *deferred = ws->deferred;

	return deferred && __atomic_load_n(&deferred->count, __ATOMIC_RELAXED);
}

void __wset_deferred_kick(struct wset *ws)
{
	struct wset_deferred *deferred = ws->deferred;

	if (!deferred)
		return;
	pthread_mutex_lock(&deferred->lock);
	if (deferred->count)
		pthread_cond_signal(&deferred->cond);
	pthread_mutex_unlock(&deferred->lock);
}

void __wset_deferred_flush(struct wset *ws)
{
	struct wset_deferred *deferred = ws->deferred;

	if (!deferred)
		return;
	/* Only what was queued before: faults may keep queueing meanwhile. */
	pthread_mutex_lock(&deferred->lock);
	uint64_t target = deferred->queued;

	pthread_cond_signal(&deferred->cond);
	while (deferred->done < target)
		pthread_cond_wait(&deferred->done_cond, &deferred->lock);
	pthread_mutex_unlock(&deferred->lock);
}

void __wset_defer(struct wset *ws, enum wset_deferred_work work,
		  struct wset_region *region, uint64_t page)
{
	struct wset_deferred *deferred = ws->deferred;
	struct deferred_item item = { .work = work, .region = region, .page = page };
	bool queued = false;

	if (deferred) {
		pthread_mutex_lock(&deferred->lock);
		if (deferred->count < DEFERRED_CAPACITY && !deferred->stop) {
			deferred->items[(deferred->head + deferred->count) %
					DEFERRED_CAPACITY] = item;
			deferred->count++;
			deferred->queued++;
			queued = true;
			if (deferred->count >= DEFERRED_BATCH)
				pthread_cond_signal(&deferred->cond);
		}
		pthread_mutex_unlock(&deferred->lock);
	}
	if (!queued)
		run_item(ws, &item, 1);
}
