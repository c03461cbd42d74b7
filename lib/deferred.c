/* SPDX-License-Identifier: MIT */
/*
 * Store drops taken off the fault path.  A handler thread wakes the
 * faulting thread as soon as its page is copied in; dropping the store's
 * copy is queued here and done by the handler threads once no fault has
 * arrived for a while (fault_thread()), adjacent pages in one call, so
 * that no fault waits behind another fault's store bookkeeping.  A page
 * whose drop is queued stays busy until it is done: eviction cannot store
 * it again under the same key meanwhile.
 */
#include <errno.h>
#include <stdlib.h>

#include "internal.h"

/* Enough for every page of a 64 MiB burst of faults; beyond it a handler
 * drops right after waking the faulting thread. */
#define DEFERRED_CAPACITY 16384
/* Drops of adjacent pages are done as one run of at most this many. */
#define DEFERRED_RUN_MAX 256

struct deferred_item {
	struct wset_region *region;
	uint64_t page;
};

struct wset_deferred {
	pthread_mutex_t lock;
	pthread_cond_t done_cond; /* signalled as items are done */
	uint64_t queued;	  /* items ever queued */
	uint64_t done;		  /* items ever done */
	int waiting;		  /* flushes waiting: drop without delay */
	size_t head;
	size_t count;
	struct deferred_item items[DEFERRED_CAPACITY];
};

int __wset_deferred_start(struct wset *ws)
{
	struct wset_deferred *deferred = calloc(1, sizeof(*deferred));

	if (!deferred)
		return -ENOMEM;
	pthread_mutex_init(&deferred->lock, NULL);
	pthread_cond_init(&deferred->done_cond, NULL);
	ws->deferred = deferred;
	return 0;
}

/* With the lock held: take the head item and the drops of the pages right
 * after it queued behind it. */
static uint64_t take(struct wset_deferred *deferred, struct deferred_item *item)
{
	uint64_t count = 1;

	*item = deferred->items[deferred->head];
	deferred->head = (deferred->head + 1) % DEFERRED_CAPACITY;
	deferred->count--;
	while (deferred->count && count < DEFERRED_RUN_MAX) {
		const struct deferred_item *next = &deferred->items[deferred->head];

		if (next->region != item->region || next->page != item->page + count)
			break;
		deferred->head = (deferred->head + 1) % DEFERRED_CAPACITY;
		deferred->count--;
		count++;
	}
	return count;
}

bool __wset_deferred_step(struct wset *ws)
{
	struct wset_deferred *deferred = ws->deferred;
	struct deferred_item item;
	uint64_t count;
	bool more;

	if (!deferred)
		return false;
	pthread_mutex_lock(&deferred->lock);
	if (!deferred->count) {
		pthread_mutex_unlock(&deferred->lock);
		return false;
	}
	count = take(deferred, &item);
	pthread_mutex_unlock(&deferred->lock);
	__wset_fetch_finish(ws, item.region, item.page, count);
	pthread_mutex_lock(&deferred->lock);
	deferred->done += count;
	more = deferred->count > 0;
	pthread_cond_broadcast(&deferred->done_cond);
	pthread_mutex_unlock(&deferred->lock);
	return more;
}

/* After the handler threads are gone: finish what is queued, free. */
void __wset_deferred_stop(struct wset *ws)
{
	struct wset_deferred *deferred = ws->deferred;

	if (!deferred)
		return;
	while (__wset_deferred_step(ws))
		;
	ws->deferred = NULL;
	pthread_cond_destroy(&deferred->done_cond);
	pthread_mutex_destroy(&deferred->lock);
	free(deferred);
}

bool __wset_deferred_pending(struct wset *ws)
{
	struct wset_deferred *deferred = ws->deferred;

	return deferred && __atomic_load_n(&deferred->count, __ATOMIC_RELAXED);
}

bool __wset_deferred_urgent(struct wset *ws)
{
	struct wset_deferred *deferred = ws->deferred;

	return deferred && __atomic_load_n(&deferred->waiting, __ATOMIC_RELAXED);
}

void __wset_deferred_flush(struct wset *ws)
{
	struct wset_deferred *deferred = ws->deferred;

	/* Prefetch gets in flight first: their completions drop their pages'
	 * store copies themselves. */
	__wset_prefetch_drain(ws);
	if (!deferred)
		return;
	/* Only what was queued before: faults may keep queueing meanwhile.
	 * The handler threads never wait for messages with work queued. */
	pthread_mutex_lock(&deferred->lock);
	uint64_t target = deferred->queued;

	__atomic_fetch_add(&deferred->waiting, 1, __ATOMIC_RELAXED);
	while (deferred->done < target)
		pthread_cond_wait(&deferred->done_cond, &deferred->lock);
	__atomic_fetch_sub(&deferred->waiting, 1, __ATOMIC_RELAXED);
	pthread_mutex_unlock(&deferred->lock);
}

void __wset_defer_drop(struct wset *ws, struct wset_region *region, uint64_t page)
{
	struct wset_deferred *deferred = ws->deferred;
	bool queued = false;

	if (deferred) {
		pthread_mutex_lock(&deferred->lock);
		if (deferred->count < DEFERRED_CAPACITY) {
			deferred->items[(deferred->head + deferred->count) %
					DEFERRED_CAPACITY] =
				(struct deferred_item){ .region = region, .page = page };
			deferred->count++;
			deferred->queued++;
			queued = true;
		}
		pthread_mutex_unlock(&deferred->lock);
	}
	if (!queued)
		__wset_fetch_finish(ws, region, page, 1);
}
