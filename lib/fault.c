/* SPDX-License-Identifier: MIT */
/* Handler threads: read userfaultfd messages and resolve them. */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#include "internal.h"

#define MESSAGES_PER_READ 16
/* A guest that faulted nothing for this long is not in a burst: store
 * drops may go now. */
#define DROP_IDLE_NS 50000
/* About a second of WSET_RETRY_MS periods. */
#define UNKNOWN_ADDRESS_RETRIES 200
/* Faults one handler thread keeps for retrying; allocated with the thread,
 * so that the retry path never allocates.  Beyond them, a fault is retried
 * in place (the thread waits with it) rather than dropped. */
#define RETRY_SLOTS 1024

/* A fault that could not be resolved yet (store read failed, mm
 * changing, address not known yet). */
struct retry {
	bool used;
	bool escalated;
	uint64_t addr;
	uint64_t flags;
	uint64_t started_ns;
	unsigned int attempts;
};

struct handler {
	struct wset *ws;
	struct retry retries[RETRY_SLOTS];
	unsigned int pending;
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
	/* Taking over from a dead agent: the store may hold this page; it
	 * waits until wset_resume() knows, never zeroes meanwhile. */
	if (!(state & PAGE_EVICTED) && __atomic_load_n(&ws->resuming, __ATOMIC_ACQUIRE))
		return -EAGAIN;
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
	if (ret == -EAGAIN)
		return -EAGAIN; /* mm changing: retry later */
	return -EIO; /* the store could not give the page: retry, escalate */
}

/* RWP (sync mode) or MINOR (wp, zapped batch) protection faults. */
static int handle_protection(struct wset *ws, struct wset_region *region,
			     uint64_t page, uint8_t state, uint64_t flags)
{
	uint64_t addr = __wset_page_addr(region, page);

	__wset_count(&ws->counters.sync_faults, 1);
	if (state & (PAGE_BUSY | PAGE_RESOLVING))
		return 0; /* the owner wakes us when it is done */
	/* MINOR on an evicted page: a message from before the hole punch, or
	 * the page cache got the page through another mapping (a process
	 * not served with us).  Fetching settles both: the copy fills the
	 * hole, or finds memory newer and keeps it.  Waking alone would fault
	 * again on the same page forever in the second case. */
	if ((state & PAGE_EVICTED) && (flags & UFFD_PAGEFAULT_FLAG_MINOR))
		return handle_missing(ws, region, page, state, NULL);
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
	if (result != -EAGAIN && result != -EBUSY && result != -EIO)
		__wset_uffd_wake(ws->uffd, __wset_page_addr(region, page),
				 region->page_size);
}

/* The page size of the target's mapping at addr (smaps), 4096 if unknown. */
static uint64_t mapping_page_size(struct wset *ws, uint64_t addr)
{
	char path[64], line[256];
	uint64_t start = 0, end = 0, size = 4096;
	bool inside = false;
	int saved = errno;
	FILE *smaps;

	snprintf(path, sizeof(path), "/proc/%d/smaps", (int)ws->pid);
	smaps = fopen(path, "re");
	while (smaps && fgets(line, sizeof(line), smaps)) {
		unsigned long long kib;

		if (sscanf(line, "%" SCNx64 "-%" SCNx64 " ", &start, &end) == 2)
			inside = addr >= start && addr < end;
		else if (inside && sscanf(line, "KernelPageSize: %llu kB", &kib) == 1) {
			size = kib * 1024;
			break;
		}
	}
	if (smaps)
		fclose(smaps);
	errno = saved;
	return size;
}

/* A fault outside every region, still unknown after a while (the staging
 * area, memory the VMM registered itself): the zeroes any untouched page
 * has, in the page size of its mapping (hugetlbfs takes no ZEROPAGE). */
static int zero_unknown(struct wset *ws, uint64_t address)
{
	uint64_t size = mapping_page_size(ws, address), start = address & ~(size - 1);
	int saved = errno, ret;
	void *zeroes;

	if (size == 4096)
		return __wset_uffd_zeropage(ws->uffd, start, size, true);
	/* Never touched, so it reads as zeroes without taking memory. */
	zeroes = mmap(NULL, size, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (zeroes == MAP_FAILED) {
		ret = -errno;
		errno = saved;
		return ret == -ENOMEM ? -EAGAIN : ret;
	}
	ret = __wset_uffd_copy(ws->uffd, start, zeroes, size, true);
	munmap(zeroes, size);
	errno = saved;
	return ret == -EEXIST ? 0 : ret;
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

	/* A page of a memory file whose group leader serves it (group.c). */
	ret = __wset_group_fault(ws, address, flags);
	if (ret == 0)
		record_latency(ws, started_ns);
	if (ret <= 0)
		return ret;
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
	if (!region && (!last_chance || __atomic_load_n(&ws->resuming, __ATOMIC_ACQUIRE)))
		return -EAGAIN;
	if (!region)
		return zero_unknown(ws, address);

	if (flags & (UFFD_PAGEFAULT_FLAG_RWP | UFFD_PAGEFAULT_FLAG_MINOR))
		ret = handle_protection(ws, region, page, state, flags);
	else
		ret = handle_missing(ws, region, page, state, prefetch);
	if (claimed)
		release_claim(ws, region, page, ret);
	if (ret == -EBUSY)
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

static bool retryable(int result)
{
	return result == -EAGAIN || result == -EIO;
}

/* Past fetch_retries: count it, then the last resort.  Returns true when
 * the fault is answered (poisoned). */
static bool escalate(struct wset *ws, struct retry *retry, int result)
{
	if (!retry->escalated) {
		retry->escalated = true;
		__wset_count(&ws->counters.fault_escalations, 1);
		__wset_count(&ws->counters.stalled_faults, 1);
	}
	if (result != -EIO || ws->config.last_resort != WSET_LAST_RESORT_POISON)
		return false;
	pthread_mutex_lock(&ws->lock);
	struct wset_region *region = __wset_find_region(ws, retry->addr);
	uint64_t size = region ? region->page_size : 4096;
	pthread_mutex_unlock(&ws->lock);
	if (__wset_uffd_poison(ws->uffd, retry->addr & ~(size - 1), size) < 0)
		return false;
	__wset_count(&ws->counters.poisoned_pages, 1);
	return true;
}

static void retire(struct wset *ws, struct handler *handler, struct retry *retry)
{
	if (retry->escalated)
		__atomic_fetch_sub(&ws->counters.stalled_faults, 1, __ATOMIC_RELAXED);
	retry->used = false;
	handler->pending--;
}

/* One more try; false while the fault still waits. */
static bool try_again(struct wset *ws, struct retry *retry)
{
	unsigned int limit = ws->config.fetch_retries ? ws->config.fetch_retries : 200;
	int result = handle_fault(ws, retry->addr, retry->flags, retry->started_ns,
				  ++retry->attempts > UNKNOWN_ADDRESS_RETRIES, NULL);

	if (!retryable(result))
		return true;
	return retry->attempts >= limit && escalate(ws, retry, result);
}

static void queue_retry(struct wset *ws, struct handler *handler,
			const struct uffd_msg *msg, uint64_t started_ns)
{
	const struct timespec pause = { .tv_nsec = WSET_RETRY_MS * 1000000L };
	struct retry *retry = NULL, in_place = { 0 };

	/* A fault woken to try again comes back as a new message: the retry
	 * already queued for its page answers both. */
	for (unsigned int i = 0; i < RETRY_SLOTS; i++)
		if (handler->retries[i].used &&
		    handler->retries[i].addr >> 12 == msg->arg.pagefault.address >> 12)
			return;
	for (unsigned int i = 0; i < RETRY_SLOTS && !retry; i++)
		if (!handler->retries[i].used)
			retry = &handler->retries[i];
	*(retry ? retry : &in_place) = (struct retry){
		.used = true, .addr = msg->arg.pagefault.address,
		.flags = msg->arg.pagefault.flags, .started_ns = started_ns,
	};
	if (retry) {
		handler->pending++;
		return;
	}
	/* Every slot is taken: this thread waits with the fault. */
	while (!try_again(ws, &in_place))
		nanosleep(&pause, NULL);
	if (in_place.escalated)
		__atomic_fetch_sub(&ws->counters.stalled_faults, 1, __ATOMIC_RELAXED);
}

static void run_retries(struct wset *ws, struct handler *handler)
{
	for (unsigned int i = 0; i < RETRY_SLOTS && handler->pending; i++) {
		struct retry *retry = &handler->retries[i];

		if (retry->used && try_again(ws, retry))
			retire(ws, handler, retry);
	}
}

/* The handler cannot go on: better a loud exit than faults left asleep
 * (a restarted agent takes over from its state directory). */
static void handler_fails(const char *why)
{
	fprintf(stderr, "libwset: fault handler thread: %s: aborting, so that no "
		"fault is left unanswered\n", why);
	abort();
}

static void *fault_thread(void *arg)
{
	struct handler *handler = arg;
	struct wset *ws = handler->ws;
	struct uffd_msg msgs[MESSAGES_PER_READ];
	struct wset_prefetch prefetch;
	bool prefetching = false;

	for (;;) {
		struct pollfd fds[2] = {
			{ .fd = ws->uffd, .events = POLLIN },
			{ .fd = ws->stop_fd, .events = POLLIN },
		};
		/* Prefetching: only look for a new fault, then bring back one
		 * more page (or, with a store that has submit, send the gets of
		 * them all).  Drops queued: do one run once no fault came for
		 * DROP_IDLE_NS (at once when a flush waits).  Otherwise wait
		 * for the next message. */
		bool pending = !prefetching && __wset_deferred_pending(ws);
		struct timespec wait = {
			0, prefetching || (pending && __wset_deferred_urgent(ws)) ? 0 : DROP_IDLE_NS
		};
		int ready;

		if (handler->pending && !prefetching)
			wait = (struct timespec){ 0, WSET_RETRY_MS * 1000000L };
		ready = ppoll(fds, 2, prefetching || pending || handler->pending ? &wait : NULL,
			      NULL);
		if (ready < 0 && errno != EINTR)
			handler_fails(strerror(errno));
		if (ready == 0 && prefetching)
			prefetching = __wset_prefetch_step(ws, &prefetch);
		else if (ready == 0 && pending)
			__wset_deferred_step(ws);
		if (fds[1].revents)
			break;
		if (fds[0].revents & (POLLERR | POLLHUP | POLLNVAL))
			handler_fails("the userfaultfd reports an error");
		if (fds[0].revents & POLLIN) {
			ssize_t got = read(ws->uffd, msgs, sizeof(msgs));
			uint64_t now = __wset_now_ns();

			for (ssize_t i = 0; got > 0 && i < got / (ssize_t)sizeof(msgs[0]); i++) {
				struct wset_prefetch next = { .region = NULL };

				if (retryable(handle_message(ws, &msgs[i], now, &next)))
					queue_retry(ws, handler, &msgs[i], now);
				/* The newest fault's neighbours come first. */
				if (next.region) {
					prefetch = next;
					prefetching = true;
				}
			}
		}
		if (handler->pending)
			run_retries(ws, handler);
	}
	/* Stopping: faults still pending stay for the next handler (the
	 * kernel keeps them asleep until the uffd is woken or closed). */
	return NULL;
}

int __wset_fault_threads_start(struct wset *ws)
{
	unsigned int count = ws->config.fault_threads;
	int err = __wset_deferred_start(ws);

	if (err < 0)
		return err;
	ws->fault_threads = calloc(count, sizeof(*ws->fault_threads));
	ws->handlers = calloc(count, sizeof(struct handler));
	if (!ws->fault_threads || !ws->handlers) {
		__wset_deferred_stop(ws);
		return -ENOMEM;
	}
	for (unsigned int i = 0; i < count; i++) {
		struct handler *handler = (struct handler *)ws->handlers + i;
		int ret;

		handler->ws = ws;
		ret = pthread_create(&ws->fault_threads[i], NULL, fault_thread, handler);
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
	/* After the handlers: what they started or queued is finished
	 * first. */
	__wset_prefetch_drain(ws);
	__wset_deferred_stop(ws);
}
