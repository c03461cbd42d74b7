/* SPDX-License-Identifier: MIT */
/* Handler threads: read userfaultfd messages and resolve them. */
#include <errno.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "internal.h"

#define MESSAGES_PER_READ 16
/* A guest that faulted nothing for this long is not in a burst: store
 * drops may go now. */
#define DROP_IDLE_NS 50000
/* About a second of WSET_RETRY_MS periods. */
#define UNKNOWN_ADDRESS_RETRIES 200

/* A MISSING fault whose store read failed, retried until it succeeds. */
struct retry {
	uint64_t addr;
	uint64_t flags;
	uint64_t started_ns;
	unsigned int attempts;
	struct retry *next;
};

static void record_latency(struct wset *ws, uint64_t started_ns)
{
	uint64_t us = (__wset_now_ns() - started_ns) / 1000;
	unsigned int bucket = 0;

	while (us && bucket < WSET_LATENCY_BUCKETS - 1) {
		us >>= 1;
		bucket++;
	}
	__wset_count(&ws->counters.fault_latency_us[bucket], 1);
	__wset_count(&ws->counters.faults, 1);
}

/* Returns -EAGAIN when the fault must be retried later. */
static int handle_missing(struct wset *ws, struct wset_region *region,
			  uint64_t page, uint8_t state, struct wset_prefetch *prefetch)
{
	uint64_t addr = __wset_page_addr(region, page);
	int ret;

	if (state & (PAGE_BUSY | PAGE_RESOLVING))
		return 0; /* the owner of the page wakes us */
	if (!(state & PAGE_EVICTED))
		return __wset_zero_fill(ws, region, addr);
	ret = __wset_fetch(ws, region, page, FETCH_FAULT);
	if (ret == 0) {
		/* The faulting thread is awake already: neighbours come
		 * after, between faults (fault_thread()). */
		if (ws->config.prefetch_pages && prefetch)
			__wset_prefetch_begin(ws, prefetch, region, page);
		return 0;
	}
	if (ret == -EBUSY)
		return 0;
	if (ret == -ENOENT) /* brought back meanwhile */
		return __wset_uffd_wake(ws->uffd, addr, region->page_size);
	if (ret == -ESRCH)
		return ret;
	return -EAGAIN; /* store error or mm changing: retry later */
}

/* RWP (sync mode) or MINOR (wp, zapped batch) protection faults. */
static int handle_protection(struct wset *ws, struct wset_region *region,
			     uint64_t page, uint8_t state)
{
	uint64_t addr = __wset_page_addr(region, page);

	__wset_count(&ws->counters.sync_faults, 1);
	if (state & (PAGE_BUSY | PAGE_RESOLVING))
		return 0; /* the owner wakes us when it is done */
	if (state & PAGE_EVICTED) /* stale message: retry as MISSING */
		return __wset_uffd_wake(ws->uffd, addr, region->page_size);
	return ws->ops->resolve_protection(ws, region, addr);
}

/* Let eviction have the page again.  Waiters that found it being resolved
 * were left for us to wake; when the fault is to be retried, the retry's
 * resolution wakes them. */
static void release_claim(struct wset *ws, struct wset_region *region,
			  uint64_t page, int result)
{
	pthread_mutex_lock(&ws->lock);
	region->state[page] &= (uint8_t)~PAGE_RESOLVING;
	pthread_mutex_unlock(&ws->lock);
	if (result != -EAGAIN && result != -EBUSY)
		__wset_uffd_wake(ws->uffd, __wset_page_addr(region, page),
				 region->page_size);
}

static int handle_fault(struct wset *ws, uint64_t address, uint64_t flags,
			uint64_t started_ns, bool last_chance,
			struct wset_prefetch *prefetch)
{
	struct wset_region *region;
	bool claimed = false;
	uint64_t page = 0;
	uint8_t state = 0;
	int ret;

	pthread_mutex_lock(&ws->lock);
	region = __wset_find_region(ws, address);
	if (region) {
		page = (address - region->addr) / region->page_size;
		state = region->state[page];
		/* A page neither evicted nor owned is resolved in place (zero
		 * fill, protection cleared): keep eviction off it meanwhile,
		 * or a step could empty it between this look and the ioctl,
		 * which would then act on the emptied page. */
		if (!(state & (PAGE_BUSY | PAGE_EVICTED | PAGE_RESOLVING))) {
			region->state[page] |= PAGE_RESOLVING;
			claimed = true;
		}
	}
	pthread_mutex_unlock(&ws->lock);
	/* In no region: a fault at the new address of a region whose REMAP
	 * event another thread is still handling.  Wait for it; what is
	 * still unknown after a while (the staging area) gets zeroes. */
	if (!region && !last_chance)
		return -EAGAIN;
	if (!region)
		return __wset_uffd_zeropage(ws->uffd, address & ~4095ull, 4096, true);

	if (flags & (UFFD_PAGEFAULT_FLAG_RWP | UFFD_PAGEFAULT_FLAG_MINOR))
		ret = handle_protection(ws, region, page, state);
	else
		ret = handle_missing(ws, region, page, state, prefetch);
	if (claimed)
		release_claim(ws, region, page, ret);
	if (ret == -EAGAIN || ret == -EBUSY)
		return -EAGAIN;
	if (ret == 0)
		record_latency(ws, started_ns);
	return ret;
}

/* The VMM discarded or unmapped [start, end): forget those pages. */
static void forget_range(struct wset *ws, uint64_t start, uint64_t end,
			 bool unmap)
{
	pthread_mutex_lock(&ws->lock);
	for (int i = 0; i < ws->region_count; i++) {
		struct wset_region *region = ws->regions[i];
		uint64_t lo, hi;

		if (!region->active || end <= region->addr ||
		    start >= region->addr + region->len)
			continue;
		/* MADV_DONTNEED on a shared file mapping keeps the data, and
		 * MADV_REMOVE cannot be told apart: keep what we hold. */
		if (!unmap && region->kind == REGION_FILE)
			continue;
		lo = start > region->addr ? (start - region->addr) / region->page_size : 0;
		hi = (end - region->addr + region->page_size - 1) / region->page_size;
		if (hi > region->pages)
			hi = region->pages;
		for (uint64_t page = lo; page < hi; page++) {
			uint8_t *state = &region->state[page];

			if (*state & PAGE_BUSY) {
				*state |= PAGE_DISCARDED;
				continue;
			}
			if (*state & PAGE_EVICTED)
				ws->store->ops->drop(ws->store->priv,
						     __wset_store_key(region, page),
						     region->page_size);
			if (*state & (PAGE_EVICTED | PAGE_PRESENT))
				__wset_count(&ws->counters.removed_pages, 1);
			*state = 0;
			region->age[page] = 0;
		}
		if (unmap && start <= region->addr &&
		    end >= region->addr + region->len) {
			region->active = false;
			__atomic_fetch_sub(&ws->counters.tracked_bytes,
					   region->len, __ATOMIC_RELAXED);
		}
	}
	pthread_mutex_unlock(&ws->lock);
}

static void handle_remap(struct wset *ws, uint64_t from, uint64_t to,
			 uint64_t len)
{
	bool moved = false;

	pthread_mutex_lock(&ws->lock);
	for (int i = 0; i < ws->region_count; i++) {
		struct wset_region *region = ws->regions[i];

		if (region->active && region->addr == from && region->len == len) {
			region->addr = to;
			moved = true;
		}
	}
	pthread_mutex_unlock(&ws->lock);
	if (!moved)
		forget_range(ws, from, from + len, true);
}

static int handle_message(struct wset *ws, const struct uffd_msg *msg,
			  uint64_t started_ns, struct wset_prefetch *prefetch)
{
	int ret = 0;

	switch (msg->event) {
	case UFFD_EVENT_PAGEFAULT: {
		uint64_t address = msg->arg.pagefault.address;

		ret = handle_fault(ws, address, msg->arg.pagefault.flags,
				   started_ns, false, prefetch);
		break;
	}
	case UFFD_EVENT_REMOVE:
		forget_range(ws, msg->arg.remove.start, msg->arg.remove.end, false);
		break;
	case UFFD_EVENT_UNMAP:
		forget_range(ws, msg->arg.remove.start, msg->arg.remove.end, true);
		break;
	case UFFD_EVENT_REMAP:
		handle_remap(ws, msg->arg.remap.from, msg->arg.remap.to,
			     msg->arg.remap.len);
		break;
	default:
		break;
	}
	return ret;
}

static void queue_retry(struct retry **list, const struct uffd_msg *msg,
			uint64_t started_ns)
{
	struct retry *retry = malloc(sizeof(*retry));

	if (!retry)
		return; /* the thread stays blocked; the next fault re-queues */
	retry->addr = msg->arg.pagefault.address;
	retry->flags = msg->arg.pagefault.flags;
	retry->attempts = 0;
	retry->started_ns = started_ns;
	retry->next = *list;
	*list = retry;
}

static void run_retries(struct wset *ws, struct retry **list)
{
	struct retry **link = list;

	while (*link) {
		struct retry *retry = *link;

		if (handle_fault(ws, retry->addr, retry->flags, retry->started_ns,
				 ++retry->attempts > UNKNOWN_ADDRESS_RETRIES,
				 NULL) == -EAGAIN) {
			link = &retry->next;
			continue;
		}
		*link = retry->next;
		free(retry);
	}
}

static void *fault_thread(void *arg)
{
	struct wset *ws = arg;
	struct retry *retries = NULL;
	struct uffd_msg msgs[MESSAGES_PER_READ];
	struct wset_prefetch prefetch;
	bool prefetching = false;

	for (;;) {
		struct pollfd fds[2] = {
			{ .fd = ws->uffd, .events = POLLIN },
			{ .fd = ws->stop_fd, .events = POLLIN },
		};
		/* Prefetching: only look for a new fault, then bring back one
		 * more page.  Drops queued: do one run once no fault came for
		 * DROP_IDLE_NS.  Otherwise wait for the next message. */
		bool pending = !prefetching && __wset_deferred_pending(ws);
		struct timespec wait = {
			0, prefetching || (pending && __wset_deferred_urgent(ws)) ? 0 : DROP_IDLE_NS
		};
		int ready;

		if (retries && !prefetching)
			wait = (struct timespec){ 0, WSET_RETRY_MS * 1000000L };
		ready = ppoll(fds, 2, prefetching || pending || retries ? &wait : NULL,
			      NULL);
		if (ready < 0 && errno != EINTR)
			break;
		if (ready == 0 && prefetching)
			prefetching = __wset_prefetch_step(ws, &prefetch);
		else if (ready == 0 && pending)
			__wset_deferred_step(ws);
		if (fds[1].revents)
			break;
		if (fds[0].revents & (POLLERR | POLLHUP | POLLNVAL))
			break;
		if (fds[0].revents & POLLIN) {
			ssize_t got = read(ws->uffd, msgs, sizeof(msgs));
			uint64_t now = __wset_now_ns();

			for (ssize_t i = 0; got > 0 && i < got / (ssize_t)sizeof(msgs[0]); i++) {
				struct wset_prefetch next = { .region = NULL };

				if (handle_message(ws, &msgs[i], now, &next) == -EAGAIN)
					queue_retry(&retries, &msgs[i], now);
				/* The newest fault's neighbours come first. */
				if (next.region) {
					prefetch = next;
					prefetching = true;
				}
			}
		}
		if (retries)
			run_retries(ws, &retries);
	}
	while (retries) {
		struct retry *next = retries->next;

		free(retries);
		retries = next;
	}
	return NULL;
}

int __wset_fault_threads_start(struct wset *ws)
{
	unsigned int count = ws->config.fault_threads;

	int ret = __wset_deferred_start(ws);

	if (ret < 0)
		return ret;
	ws->fault_threads = calloc(count, sizeof(*ws->fault_threads));
	if (!ws->fault_threads) {
		__wset_deferred_stop(ws);
		return -ENOMEM;
	}
	for (unsigned int i = 0; i < count; i++) {
		ret = pthread_create(&ws->fault_threads[i], NULL, fault_thread, ws);
		if (ret) {
			ws->fault_thread_count = i;
			__wset_fault_threads_stop(ws);
			return -ret;
		}
	}
	ws->fault_thread_count = count;
	return 0;
}

void __wset_fault_threads_stop(struct wset *ws)
{
	uint64_t one = 1;

	if (write(ws->stop_fd, &one, sizeof(one)) < 0) {
		/* an eventfd write only fails on overflow: already signalled */
	}
	for (unsigned int i = 0; i < ws->fault_thread_count; i++)
		pthread_join(ws->fault_threads[i], NULL);
	ws->fault_thread_count = 0;
	/* After the handlers: what they queued is finished first. */
	__wset_deferred_stop(ws);
}
