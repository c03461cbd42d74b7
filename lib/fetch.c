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

/*
 * Bring an evicted page back.  0: done; -EBUSY: another step owns it (it
 * wakes waiters when done); -ENOENT: not evicted; otherwise the store or
 * copy error (-EAGAIN: try again later), and the page stays evicted.
 */
int __wset_fetch(struct wset *ws, struct wset_region *region, uint64_t page,
		 enum wset_fetch_reason reason)
{
	uint64_t addr = __wset_page_addr(region, page);
	uint64_t key = __wset_store_key(region, page);
	uint8_t *state = &region->state[page];
	void *buf;
	int ret;

	pthread_mutex_lock(&ws->lock);
	if (*state & PAGE_BUSY)
		ret = -EBUSY;
	else if (!(*state & PAGE_EVICTED))
		ret = -ENOENT;
	else
		ret = 0;
	if (ret == 0)
		*state |= PAGE_BUSY;
	pthread_mutex_unlock(&ws->lock);
	if (ret < 0)
		return ret;

	buf = aligned_alloc(4096, region->page_size);
	if (!buf) {
		ret = -ENOMEM;
		goto out_unbusy;
	}
	ret = ws->store->ops->get(ws->store->priv, key, buf, region->page_size);
	if (ret < 0) {
		__wset_count(&ws->counters.store_get_errors, 1);
		goto out_unbusy;
	}
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
	if (ret < 0)
		goto out_unbusy;
	free(buf);
	pthread_mutex_lock(&ws->lock);
	*state &= (uint8_t)~(PAGE_EVICTED | PAGE_DISCARDED);
	*state |= PAGE_PRESENT;
	region->age[page] = 0;
	if (reason == FETCH_FAULT)
		__wset_count(&ws->counters.refaults, 1);
	else if (reason == FETCH_PREFETCH)
		__wset_count(&ws->counters.prefetches, 1);
	pthread_mutex_unlock(&ws->lock);
	/* While the page is still busy: once it is not, a new eviction may
	 * store it again under the same key. */
	ws->store->ops->drop(ws->store->priv, key, region->page_size);

	pthread_mutex_lock(&ws->lock);
	if (*state & PAGE_DISCARDED) {
		/* The VMM dropped the page after it came back. */
		*state = 0;
		region->age[page] = 0;
	}
	*state &= (uint8_t)~PAGE_BUSY;
	pthread_mutex_unlock(&ws->lock);
	__wset_uffd_wake(ws->uffd, addr, region->page_size);
	return 0;

out_unbusy:
	free(buf);
	pthread_mutex_lock(&ws->lock);
	*state &= (uint8_t)~PAGE_BUSY;
	pthread_mutex_unlock(&ws->lock);
	/* A fault that found the page busy left its waking to us: wake it
	 * so that it faults again and a handler retries the fetch. */
	__wset_uffd_wake(ws->uffd, addr, region->page_size);
	return ret;
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

/* Pages evicted in the same step as `page` are likely wanted together. */
void __wset_prefetch(struct wset *ws, struct wset_region *region,
		     uint64_t page)
{
	unsigned int budget = ws->config.prefetch_pages;
	uint64_t lo = page > budget ? page - budget : 0;
	uint64_t hi = page + budget + 1 < region->pages ? page + budget + 1
							 : region->pages;
	uint32_t batch;

	if (!budget)
		return;
	pthread_mutex_lock(&ws->lock);
	batch = region->batch[page];
	pthread_mutex_unlock(&ws->lock);
	for (uint64_t other = lo; other < hi && budget; other++) {
		bool same;

		if (other == page)
			continue;
		pthread_mutex_lock(&ws->lock);
		same = region->batch[other] == batch &&
		       (region->state[other] & (PAGE_EVICTED | PAGE_BUSY)) ==
			       PAGE_EVICTED;
		pthread_mutex_unlock(&ws->lock);
		if (same && __wset_fetch(ws, region, other, FETCH_PREFETCH) == 0)
			budget--;
	}
}

/* Bring every evicted page of region back.  Store read errors are retried
 * for a while; a page that still fails stays in the store.  Called with
 * engine_lock held. */
int __wset_restore_region_locked(struct wset *ws, struct wset_region *region)
{
	const struct timespec pause = { .tv_nsec = WSET_RETRY_MS * 1000000L };
	int ret = 0;

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
