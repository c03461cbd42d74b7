/* SPDX-License-Identifier: MIT */
/* Fetch-back: evicted pages return with UFFDIO_COPY, others are zeroed. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <time.h>

#include "internal.h"

/*
 * UFFDIO_COPY; -EAGAIN means the mm is changing, e.g. a madvise() that
 * waits for a handler thread to read its REMOVE event.  Handler threads
 * must then go back to reading messages (retry = false); other callers
 * wait for the change to pass.
 */
static int copy_in(struct wset *ws, uint64_t addr, const void *buf,
		   uint64_t len, bool wake, bool retry)
{
	const struct timespec pause = { .tv_nsec = 100000 };
	int ret;

	for (;;) {
		ret = __wset_uffd_copy(ws->uffd, addr, buf, len, wake);
		if (ret != -EAGAIN || !retry)
			return ret;
		nanosleep(&pause, NULL);
	}
}

struct wset_buffer {
	struct wset_buffer *next;
	uint64_t size;
	void *data;
};

/* A page-aligned buffer of size bytes, from the pool when one is free. */
static struct wset_buffer *buffer_get(struct wset *ws, uint64_t size)
{
	struct wset_buffer **link, *buffer = NULL;

	pthread_mutex_lock(&ws->lock);
	for (link = &ws->buffers; *link; link = &(*link)->next)
		if ((*link)->size == size) {
			buffer = *link;
			*link = buffer->next;
			break;
		}
	pthread_mutex_unlock(&ws->lock);
	if (buffer)
		return buffer;
	buffer = malloc(sizeof(*buffer));
	if (!buffer)
		return NULL;
	buffer->size = size;
	buffer->data = aligned_alloc(4096, size);
	if (!buffer->data) {
		free(buffer);
		return NULL;
	}
	return buffer;
}

static void buffer_put(struct wset *ws, struct wset_buffer *buffer)
{
	if (!buffer)
		return;
	pthread_mutex_lock(&ws->lock);
	buffer->next = ws->buffers;
	ws->buffers = buffer;
	pthread_mutex_unlock(&ws->lock);
}

void __wset_buffers_free(struct wset *ws)
{
	while (ws->buffers) {
		struct wset_buffer *next = ws->buffers->next;

		free(ws->buffers->data);
		free(ws->buffers);
		ws->buffers = next;
	}
}

/*
 * File-backed: put the page back into the memory file itself, without the
 * VMM's address space: the fast path for restores, and the only way left
 * once the VMM is gone (a vhost-user backend or a successor may still map
 * the file).  hugetlbfs takes no write(2): copy through the I/O view.
 */
static int write_back(struct wset_region *region, uint64_t page, const void *buf)
{
	uint64_t done = 0, at = region->offset + page * region->page_size;
	int saved = errno, ret = 0;

	if (region->hugetlb) {
		memcpy(region->io_view + page * region->page_size, buf, region->page_size);
		return 0;
	}
	while (done < region->page_size) {
		ssize_t n = pwrite(region->fd, (const char *)buf + done,
				   region->page_size - done, (off_t)(at + done));

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			ret = n < 0 ? -errno : -EIO;
			break;
		}
		done += (uint64_t)n;
	}
	errno = saved;
	return ret;
}

/* Take an evicted page to bring it back: 0, or -EBUSY when another step
 * owns it (it wakes waiters when done), -ENOENT when it is not evicted. */
static int claim(struct wset *ws, struct wset_region *region, uint64_t page)
{
	uint8_t *state = &region->state[page];
	int ret = 0;

	pthread_mutex_lock(&ws->lock);
	if (*state & PAGE_BUSY)
		ret = -EBUSY;
	else if (!(*state & PAGE_EVICTED))
		ret = -ENOENT;
	else
		*state |= PAGE_BUSY;
	pthread_mutex_unlock(&ws->lock);
	return ret;
}

/* A claimed page stays evicted after all. */
static void unclaim(struct wset *ws, struct wset_region *region, uint64_t page)
{
	uint64_t addr;

	pthread_mutex_lock(&ws->lock);
	region->state[page] &= (uint8_t)~PAGE_BUSY;
	/* Prefetch runs beside event handling: wake where the page is now. */
	addr = __wset_page_addr(region, page);
	pthread_mutex_unlock(&ws->lock);
	/* A fault that found the page busy left its waking to us: wake it
	 * so that it faults again and a handler retries the fetch. */
	__wset_uffd_wake(ws->uffd, addr, region->page_size);
}

/*
 * A claimed page's stored copy is in buf: put it in place, publish and
 * wake its waiters.  The caller then drops the store's copy (a restore's
 * is dropped here).  On error the page stays evicted and is unclaimed.
 * A page the VMM discarded while its copy was on the way (a REMOVE event
 * read meanwhile: a prefetch in flight leaves the handler free to read
 * one) is not put back: the drop then forgets it, and a fault on it finds
 * a page never stored.
 */
static int install(struct wset *ws, struct wset_region *region, uint64_t page,
		   const void *buf, enum wset_fetch_reason reason)
{
	uint8_t *state = &region->state[page];
	bool discarded;
	uint64_t addr;
	int ret;

	pthread_mutex_lock(&ws->lock);
	addr = __wset_page_addr(region, page);
	discarded = *state & PAGE_DISCARDED;
	pthread_mutex_unlock(&ws->lock);
	if (discarded && reason != FETCH_RESTORE)
		return 0;
	/* Publish the new state before the faulting thread runs again, so
	 * that what it reads next (counters, ages) already says so.  Other
	 * threads see the page as soon as it is copied in: publish at once. */
	if (region->kind == REGION_FILE && reason == FETCH_RESTORE) {
		ret = write_back(region, page, buf);
	} else {
		ret = copy_in(ws, addr, buf, region->page_size, false,
			      reason == FETCH_RESTORE);
		/* -EEXIST: guest memory has the page after all (an agent died
		 * between storing it and freeing it, or the VMM wrote it through
		 * another mapping).  Memory is the newer copy: keep it. */
		if (ret == -EEXIST)
			ret = 0;
		/* -ESRCH: the VMM is gone; its memory file may not be. */
		if (ret == -ESRCH && region->kind == REGION_FILE)
			ret = write_back(region, page, buf);
	}
	if (ret < 0) {
		unclaim(ws, region, page);
		return ret;
	}
	pthread_mutex_lock(&ws->lock);
	*state &= (uint8_t)~(PAGE_EVICTED | PAGE_DISCARDED);
	*state |= PAGE_PRESENT;
	region->age[page] = 0;
	if (reason == FETCH_FAULT) {
		if ((*state & PAGE_SHIELD) != PAGE_SHIELD)
			*state = (uint8_t)(*state + (1 << PAGE_SHIELD_SHIFT));
		__wset_count(&ws->counters.refaults, 1);
	}
	else if (reason == FETCH_PREFETCH)
		__wset_count(&ws->counters.prefetches, 1);
	pthread_mutex_unlock(&ws->lock);
	if (reason == FETCH_RESTORE)
		__wset_fetch_finish(ws, region, page, 1);
	else
		__wset_uffd_wake(ws->uffd, addr, region->page_size);
	return 0;
}

/*
 * Bring an evicted page back.  0: done; -EBUSY: another step owns it (it
 * wakes waiters when done); -ENOENT: not evicted; otherwise the store or
 * copy error (-EAGAIN: try again later), and the page stays evicted.
 */
int __wset_fetch(struct wset *ws, struct wset_region *region, uint64_t page,
		 enum wset_fetch_reason reason)
{
	struct wset_buffer *buf;
	int ret = claim(ws, region, page);

	if (ret < 0)
		return ret;
	buf = buffer_get(ws, region->page_size);
	if (!buf) {
		unclaim(ws, region, page);
		return -ENOMEM;
	}
	ret = ws->store->ops->get(ws->store->priv, __wset_store_key(region, page),
				  buf->data, region->page_size);
	if (ret < 0) {
		__wset_count(&ws->counters.store_get_errors, 1);
		unclaim(ws, region, page);
	} else {
		ret = install(ws, region, page, buf->data, reason);
		/* The faulting thread runs on already; the store's copy is
		 * dropped after, off the fault path. */
		if (ret == 0 && reason != FETCH_RESTORE)
			__wset_defer_drop(ws, region, page);
	}
	buffer_put(ws, buf);
	return ret;
}

/* Pages [page, page + count) are back: forget the store's copies (one
 * call for the run when the store takes runs) and let the pages go.
 * While they are still busy: once they are not, a new eviction may store
 * them again under the same keys. */
void __wset_fetch_finish(struct wset *ws, struct wset_region *region,
			 uint64_t page, uint64_t count)
{
	uint64_t key = __wset_store_key(region, page), addr;

	if (count > 1 && __wset_store_takes_runs(ws->store))
		ws->store->ops->drop(ws->store->priv, key, count * region->page_size);
	else
		for (uint64_t i = 0; i < count; i++)
			ws->store->ops->drop(ws->store->priv, key + i * region->page_size,
					     region->page_size);
	pthread_mutex_lock(&ws->lock);
	for (uint64_t i = page; i < page + count; i++) {
		uint8_t *state = &region->state[i];

		if (*state & PAGE_DISCARDED) {
			/* The VMM dropped the page after it came back. */
			*state = 0;
			region->age[i] = 0;
		}
		*state &= (uint8_t)~PAGE_BUSY;
	}
	/* Where the pages are now: a REMAP may have moved the region since. */
	addr = __wset_page_addr(region, page);
	pthread_mutex_unlock(&ws->lock);
	__wset_uffd_wake(ws->uffd, addr, count * region->page_size);
}

/* A page never stored: zeroes (hugetlbfs has no UFFDIO_ZEROPAGE).  Runs
 * in handler threads, which wake the faulting thread themselves: -EAGAIN
 * is for the caller to retry later. */
int __wset_zero_fill(struct wset *ws, struct wset_region *region,
		     uint64_t addr)
{
	int ret;

	if (region->hugetlb)
		ret = copy_in(ws, addr, ws->zero_page, region->page_size, false,
			      false);
	else
		ret = __wset_uffd_zeropage(ws->uffd, addr, region->page_size,
					   false);
	/* UFFDIO_ZEROPAGE refuses a PTE holding a uffd-wp marker (wp on
	 * anonymous memory with WP_UNPOPULATED); UFFDIO_COPY takes it. */
	if (ret == -EEXIST && !region->hugetlb)
		ret = copy_in(ws, addr, ws->zero_page, region->page_size, false,
			      false);
	if (ret == -EEXIST)
		ret = 0; /* resolved by someone else */
	else if (ret == 0)
		__wset_count(&ws->counters.zero_fills, 1);
	return ret;
}

/*
 * Pages evicted in the same step as a faulting page are likely wanted
 * together.  Prefetch visits page + 1, page - 1, page + 2, ... within
 * prefetch_pages of the faulting page and brings back at most
 * prefetch_pages of them.  With a store that has submit, the handler
 * thread claims them all in its first idle moment and gets each with a
 * request of its own, all in flight together: it goes back to faults at
 * once, and a fault on a page in flight waits for that page alone.  Any
 * other store gets them a page per idle moment, so that the handler can
 * serve a new fault between two pages.
 */
void __wset_prefetch_begin(struct wset *ws, struct wset_prefetch *prefetch,
			   struct wset_region *region, uint64_t page)
{
	*prefetch = (struct wset_prefetch){
		.region = region,
		.page = page,
		.distance = 1,
		.budget = ws->config.prefetch_pages,
	};
	pthread_mutex_lock(&ws->lock);
	prefetch->batch = region->batch[page];
	pthread_mutex_unlock(&ws->lock);
}

struct prefetch_get {
	struct wset_io io;	/* first: the completion gets this */
	struct wset_region *region;
	uint64_t page;
	struct wset_buffer *buffer;
	struct wset_store_io get;
	struct iovec iov;
};

/* On the store's completion thread: nobody waits for the prefetch but a
 * fault on its page, so the store's copy is dropped here too (a drop
 * queued for the handler threads could find them waiting for messages). */
static void prefetch_done(struct wset_io *io)
{
	struct prefetch_get *get = (struct prefetch_get *)io;
	struct wset *ws = io->ws;

	if (get->get.result < 0) {
		__wset_count(&ws->counters.store_get_errors, 1);
		unclaim(ws, get->region, get->page);
	} else if (install(ws, get->region, get->page, get->buffer->data,
			   FETCH_PREFETCH) == 0) {
		__wset_fetch_finish(ws, get->region, get->page, 1);
	}
	buffer_put(ws, get->buffer);
	free(get);
}

static int prefetch_submit(struct wset *ws, struct wset_region *region, uint64_t page)
{
	struct prefetch_get *get;
	int ret = claim(ws, region, page);

	if (ret < 0)
		return ret;
	get = calloc(1, sizeof(*get));
	if (get)
		get->buffer = buffer_get(ws, region->page_size);
	if (!get || !get->buffer) {
		free(get);
		unclaim(ws, region, page);
		return -ENOMEM;
	}
	get->region = region;
	get->page = page;
	get->iov = (struct iovec){ get->buffer->data, region->page_size };
	get->get = (struct wset_store_io){
		.key = __wset_store_key(region, page),
		.iov = &get->iov, .iovcnt = 1, .result = -EIO,
	};
	get->io.req = (struct wset_store_request){ .io = &get->get, .count = 1 };
	get->io.group = &ws->prefetches;
	get->io.complete = prefetch_done;
	__wset_io_submit(ws, &get->io);
	return 0;
}

bool __wset_prefetch_step(struct wset *ws, struct wset_prefetch *prefetch)
{
	struct wset_region *region = prefetch->region;
	unsigned int limit = ws->config.prefetch_pages;
	bool in_flight = ws->store->ops->submit != NULL;

	while (prefetch->budget && prefetch->distance <= limit) {
		uint64_t page = prefetch->page, other;
		bool valid, same;

		if (!prefetch->below) {
			other = page + prefetch->distance;
			valid = other < region->pages;
		} else {
			valid = page >= prefetch->distance;
			other = page - prefetch->distance;
			prefetch->distance++;
		}
		prefetch->below = !prefetch->below;
		if (!valid)
			continue;
		pthread_mutex_lock(&ws->lock);
		same = region->batch[other] == prefetch->batch &&
		       (region->state[other] & (PAGE_EVICTED | PAGE_BUSY)) ==
			       PAGE_EVICTED;
		pthread_mutex_unlock(&ws->lock);
		if (!same)
			continue;
		if (in_flight) {
			if (prefetch_submit(ws, region, other) == 0)
				prefetch->budget--;
		} else if (__wset_fetch(ws, region, other, FETCH_PREFETCH) == 0) {
			prefetch->budget--;
			break;
		}
	}
	return prefetch->budget && prefetch->distance <= limit;
}

/* Until every prefetch get in flight has completed. */
void __wset_prefetch_drain(struct wset *ws)
{
	__wset_io_drain(&ws->prefetches);
}

/* Bring every evicted page of region back.  Store read errors are retried
 * for a while; a page that still fails stays in the store.  Called with
 * engine_lock held. */
int __wset_restore_region_locked(struct wset *ws, struct wset_region *region)
{
	const struct timespec pause = { .tv_nsec = WSET_RETRY_MS * 1000000L };
	int ret = 0;

	__wset_deferred_flush(ws);
	for (uint64_t page = 0; page < region->pages; page++) {
		int err, failures = 0, waits = 0;

		for (;;) {
			err = __wset_fetch(ws, region, page, FETCH_RESTORE);
			if (err == 0 || err == -ENOENT || err == -ESRCH)
				break;
			/* -EBUSY: a handler thread is bringing it in. */
			if (err == -EBUSY ? ++waits > 1000 : ++failures >= 3)
				break;
			nanosleep(&pause, NULL);
		}
		if (err == -ENOENT)
			err = 0;
		if (err < 0 && ret == 0)
			ret = err;
	}
	return ret;
}

int wset_restore_all(struct wset *ws)
{
	int ret = 0;

	if (!ws)
		return -EINVAL;
	pthread_mutex_lock(&ws->engine_lock);
	for (int i = 0; i < WSET_MAX_REGIONS; i++) {
		struct wset_region *region = __wset_active_region(ws, i);

		if (!region)
			continue;
		int err = __wset_restore_region_locked(ws, region);
		if (err < 0 && ret == 0)
			ret = err;
	}
	pthread_mutex_unlock(&ws->engine_lock);
	return ret;
}
