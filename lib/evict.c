/* SPDX-License-Identifier: MIT */
/*
 * Eviction, shared by both mechanisms.  One step takes a batch of cold
 * pages of one region through:
 *   begin (rwp: sync mode) -> rescan (drop pages touched since the last
 *   scan) -> isolate (file: mechanism; anon: UFFDIO_MOVE to staging) ->
 *   copy to the store -> drop (hole punch / release staging) -> wake ->
 *   end (rwp: async mode).
 * A page whose copy fails is given back and stays resident.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "internal.h"

enum step_result {
	STEP_STORED,
	STEP_ABANDONED, /* the store refused it: stays resident */
	STEP_SKIPPED,	/* touched, gone or unmovable: not evicted */
	STEP_UNREAD,	/* anonymous, its staging copy could not be read:
			   moved back, never copied back */
};

struct step {
	struct wset_region *region;
	uint64_t pages[WSET_BATCH_PAGES];
	enum step_result result[WSET_BATCH_PAGES];
	size_t count;
	uint32_t batch;
};

/* How many entries from i on are adjacent pages whose result matches
 * `want` (a run).  Slot i of the staging area goes with entry i, so a run
 * is contiguous both in guest memory and in staging. */
static size_t run_length(const struct step *step, size_t i, bool (*want)(enum step_result))
{
	size_t run = 1;

	while (i + run < step->count && want(step->result[i + run]) &&
	       step->pages[i + run] == step->pages[i] + run)
		run++;
	return run;
}

static bool is_taken(enum step_result result)
{
	return result != STEP_SKIPPED;
}

static bool is_stored(enum step_result result)
{
	return result == STEP_STORED;
}

static bool is_not_abandoned(enum step_result result)
{
	return result != STEP_ABANDONED;
}

/* Slot of the staging area in the target, and where we read it. */
static uint64_t staging_slot(struct wset *ws, size_t slot)
{
	return ws->staging + slot * (uint64_t)sysconf(_SC_PAGESIZE);
}

static uint8_t *staging_copy(struct wset *ws, size_t slot)
{
	return ws->staging_local + slot * (size_t)sysconf(_SC_PAGESIZE);
}

static void release_busy(struct step *step, size_t i)
{
	step->region->state[step->pages[i]] &= (uint8_t)~(PAGE_BUSY | PAGE_DISCARDED);
	step->result[i] = STEP_SKIPPED;
}

/* Drop from the batch the pages touched or gone since they were picked. */
static int rescan(struct wset *ws, struct step *step)
{
	struct wset_region *region = step->region;
	uint64_t first = step->pages[0], last = step->pages[step->count - 1];
	uint64_t span = last - first + 1;
	uint64_t start = __wset_page_addr(region, first);
	uint64_t end = __wset_page_addr(region, last + 1);
	uint8_t *present = calloc(span, 1), *touched = calloc(span, 1);
	int ret = -ENOMEM;

	if (!present || !touched)
		goto out;
	ret = __wset_pagemap_mark(ws, region, start, end, 0, 0,
				  PAGE_IS_PRESENT, present);
	if (ret == 0)
		ret = ws->ops->scan_touched(ws, region, start, end, touched, false);
	if (ret < 0)
		goto out;
	pthread_mutex_lock(&ws->lock);
	for (size_t i = 0; i < step->count; i++) {
		uint64_t page = step->pages[i], at = page - first;

		if (touched[at])
			region->age[page] = 0;
		if (!present[at])
			region->state[page] &= (uint8_t)~PAGE_PRESENT;
		if (touched[at] || !present[at])
			release_busy(step, i);
	}
	pthread_mutex_unlock(&ws->lock);
out:
	free(present);
	free(touched);
	return ret;
}

/* Does staging slot i hold a page?  Every step leaves its slots empty, so
 * a page there after a failed move is the one we tried to move. */
static bool staging_holds(struct wset *ws, size_t i)
{
	return __wset_page_present(ws, staging_slot(ws, i));
}

static void isolate_anon_page(struct wset *ws, struct step *step, size_t i)
{
	struct wset_region *region = step->region;
	uint64_t page = step->pages[i];
	int ret;

	if (ws->staging_broken) {
		pthread_mutex_lock(&ws->lock);
		region->state[page] |= PAGE_UNMOVABLE;
		release_busy(step, i);
		pthread_mutex_unlock(&ws->lock);
		return;
	}
	ret = __wset_move(ws, staging_slot(ws, i), __wset_page_addr(region, page),
			  region->page_size);
	/* A kernel may move the page, retry internally and then report the
	 * retry's -EEXIST or -ENOENT (seen on 6.18): where the page is, not
	 * the error, says what happened. */
	if (ret < 0 && staging_holds(ws, i))
		ret = 0;
	if (ret == 0)
		return;
	pthread_mutex_lock(&ws->lock);
	if (ret == -EAGAIN) {
		/* The mm is changing: try this page another time. */
	} else if (ret == -ENOENT) {
		region->state[page] &= (uint8_t)~PAGE_PRESENT;
	} else {
		/* KSM, shared after fork, pinned: stays resident. */
		region->state[page] |= PAGE_UNMOVABLE;
	}
	release_busy(step, i);
	pthread_mutex_unlock(&ws->lock);
}

/* Anonymous pages leave guest memory atomically: after the move a guest
 * access is a MISSING fault that waits for the step to end.  In our own
 * address space a run of adjacent pages moves in one call; what it leaves
 * behind, and every page of an adopted process (moved by its helper) goes
 * one page at a time. */
static void isolate_anon(struct wset *ws, struct step *step)
{
	struct wset_region *region = step->region;
	bool runs = !ws->remote && !ws->staging_broken;

	for (size_t i = 0; i < step->count;) {
		size_t run, moved_pages = 0;
		uint64_t moved = 0;

		if (step->result[i] == STEP_SKIPPED) {
			i++;
			continue;
		}
		run = runs ? run_length(step, i, is_taken) : 1;
		if (run > 1) {
			__wset_uffd_move_run(ws->uffd, (uintptr_t)staging_slot(ws, i),
					     __wset_page_addr(region, step->pages[i]),
					     run * region->page_size, &moved);
			moved_pages = moved / region->page_size;
		}
		for (size_t j = i + moved_pages; j < i + run; j++)
			isolate_anon_page(ws, step, j);
		i += run;
	}
}

static int isolate_file(struct wset *ws, struct step *step)
{
	uint64_t pages[WSET_BATCH_PAGES];
	size_t count = 0;
	int ret;

	for (size_t i = 0; i < step->count; i++)
		if (step->result[i] != STEP_SKIPPED)
			pages[count++] = step->pages[i];
	ret = ws->ops->isolate_file(ws, step->region, pages, count);
	/* Other processes mapping the file (group.c) are kept off it too. */
	if (ret == 0)
		ret = __wset_group_isolate(ws, step->region, pages, count);
	return ret;
}

static const void *page_source(struct wset *ws, struct step *step, size_t i)
{
	struct wset_region *region = step->region;

	if (region->kind == REGION_FILE)
		return region->io_view + step->pages[i] * region->page_size;
	return staging_copy(ws, i);
}

/*
 * A file-backed run is written to the store from our I/O view, whose PTEs
 * are gone wherever a page was evicted before.  A store write from an
 * unmapped source fails its atomic copy and faults the source in a piece
 * at a time; one MADV_POPULATE_READ maps the run first (on hugetlbfs a
 * write from a fresh view ran at half the speed of one from a mapped one).
 * Only a hint: the write still faults in whatever this did not map.
 */
static void map_source(struct wset *ws, struct step *step)
{
	struct wset_region *region = step->region;
	int saved = errno;

	if (region->kind != REGION_FILE)
		return;
	for (size_t i = 0; i < step->count;) {
		size_t run;

		if (step->result[i] == STEP_SKIPPED) {
			i++;
			continue;
		}
		run = run_length(step, i, is_taken);
		madvise((void *)page_source(ws, step, i), run * region->page_size,
			MADV_POPULATE_READ);
		i += run;
	}
	errno = saved;
}

/* An adopted process's staging page is read over before it is stored;
 * false (the entry marked unread) when that fails. */
static bool staging_read_over(struct wset *ws, struct step *step, size_t i)
{
	struct wset_region *region = step->region;

	if (region->kind != REGION_ANON || !ws->remote ||
	    __wset_staging_read(ws, staging_slot(ws, i), staging_copy(ws, i),
				region->page_size) == 0)
		return true;
	step->result[i] = STEP_UNREAD;
	__wset_count(&ws->counters.abandoned, 1);
	return false;
}

/* One request of a step's puts. */
struct step_request {
	struct wset_io io;
	struct step *step;
	size_t entry[WSET_STORE_REQUEST_PAGES];	/* step entry of each page */
	struct wset_store_io pages[WSET_STORE_REQUEST_PAGES];
	struct iovec iov[WSET_STORE_REQUEST_PAGES];
};

/* Pages whose put failed are abandoned: they stay resident.  Requests of
 * one step complete concurrently, each for entries of its own. */
static void step_request_done(struct wset_io *io)
{
	struct step_request *request = (struct step_request *)io;
	struct wset *ws = io->ws;

	for (unsigned int n = 0; n < io->req.count; n++) {
		if (request->pages[n].result == 0)
			continue;
		__wset_count(&ws->counters.store_put_errors, 1);
		__wset_count(&ws->counters.abandoned, 1);
		request->step->result[request->entry[n]] = STEP_ABANDONED;
	}
}

/*
 * The step's pages go to the store as requests of up to
 * WSET_STORE_REQUEST_PAGES: with a store that has submit they are in
 * flight together, and while the store works on one the next is prepared
 * (an adopted process's staging pages are read over).  Without memory for
 * the requests, the step is given up.
 */
static void copy_out(struct wset *ws, struct step *step)
{
	enum { REQUESTS = (WSET_BATCH_PAGES + WSET_STORE_REQUEST_PAGES - 1) /
			  WSET_STORE_REQUEST_PAGES };
	struct wset_region *region = step->region;
	struct step_request *requests = calloc(REQUESTS, sizeof(*requests));
	struct wset_io_group group;
	struct step_request *request = NULL;
	unsigned int used = 0;

	if (!requests) {
		for (size_t i = 0; i < step->count; i++)
			if (step->result[i] != STEP_SKIPPED) {
				step->result[i] = STEP_ABANDONED;
				__wset_count(&ws->counters.abandoned, 1);
			}
		return;
	}
	__wset_io_group_init(&group);
	for (size_t i = 0; i < step->count; i++) {
		unsigned int n;

		if (step->result[i] == STEP_SKIPPED || !staging_read_over(ws, step, i))
			continue;
		if (!request) {
			request = &requests[used++];
			request->step = step;
			request->io.req = (struct wset_store_request){
				.io = request->pages, .write = 1,
			};
			request->io.group = &group;
			request->io.complete = step_request_done;
		}
		n = request->io.req.count++;
		request->iov[n] = (struct iovec){ (void *)page_source(ws, step, i),
						  region->page_size };
		request->pages[n] = (struct wset_store_io){
			.key = __wset_store_key(region, step->pages[i]),
			.iov = &request->iov[n], .iovcnt = 1, .result = -EIO,
		};
		request->entry[n] = i;
		if (n + 1 == WSET_STORE_REQUEST_PAGES) {
			__wset_io_submit(ws, &request->io);
			request = NULL;
		}
	}
	if (request)
		__wset_io_submit(ws, &request->io);
	__wset_io_wait(&group);
	free(requests);
}

/* Before any page of the step leaves guest memory, its stored copy must be
 * as durable as the store promises; if it cannot be, the step is given up
 * and every page stays resident. */
static void make_durable(struct wset *ws, struct step *step)
{
	if (!ws->store->ops->sync || ws->store->ops->sync(ws->store->priv) == 0)
		return;
	for (size_t i = 0; i < step->count; i++) {
		if (step->result[i] != STEP_STORED)
			continue;
		ws->store->ops->drop(ws->store->priv,
				     __wset_store_key(step->region, step->pages[i]),
				     step->region->page_size);
		__wset_count(&ws->counters.store_put_errors, 1);
		__wset_count(&ws->counters.abandoned, 1);
		step->result[i] = STEP_ABANDONED;
	}
}

static int punch_hole(struct wset_region *region, uint64_t page, size_t pages)
{
	int saved = errno, ret = 0;

	if (fallocate(region->fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE,
		      (off_t)(region->offset + page * region->page_size),
		      (off_t)(pages * region->page_size)) < 0)
		ret = -errno;
	errno = saved;
	return ret;
}

/* Free stored pages, give abandoned ones back. */
static void drop_and_give_back(struct wset *ws, struct step *step)
{
	struct wset_region *region = step->region;
	size_t slots = 0;

	for (size_t i = 0; i < step->count; i++) {
		uint64_t page = step->pages[i];
		uint64_t addr = __wset_page_addr(region, page);

		if (step->result[i] == STEP_SKIPPED)
			continue;
		if (region->kind == REGION_FILE) {
			/* One hole for a run of adjacent stored pages. */
			size_t run = step->result[i] == STEP_STORED ?
				     run_length(step, i, is_stored) : 1;

			if (step->result[i] == STEP_STORED &&
			    punch_hole(region, page, run) < 0) {
				for (size_t j = i; j < i + run; j++) {
					ws->store->ops->drop(ws->store->priv,
							     __wset_store_key(region, step->pages[j]),
							     region->page_size);
					step->result[j] = STEP_ABANDONED;
				}
				__wset_count(&ws->counters.abandoned, run);
			}
			i += run - 1;
			continue;
		}
		slots = i + 1;
		if (step->result[i] == STEP_STORED)
			continue;
		/* Abandoned anonymous page: back where it was.  Should the
		 * move fail and the page still be in staging, copy it instead
		 * (from our copy of it, when we have one): the staging page is
		 * the only copy. */
		int ret;

		while ((ret = __wset_move(ws, addr, staging_slot(ws, i),
					       region->page_size)) == -EAGAIN &&
		       staging_holds(ws, i))
			__wset_mm_wait();
		if (ret < 0 && staging_holds(ws, i)) {
			if (step->result[i] == STEP_UNREAD) {
				/* Neither here nor readable: keep the slot. */
				ws->staging_broken = true;
				continue;
			}
			while (__wset_uffd_copy(ws->uffd, addr, staging_copy(ws, i),
						region->page_size, true) == -EAGAIN)
				__wset_mm_wait();
		}
		step->result[i] = STEP_ABANDONED;
		/* A failed move wakes nobody, even when it moved the page. */
		if (ret < 0)
			__wset_uffd_wake(ws->uffd, addr, region->page_size);
	}
	/* Every slot used by the step is emptied at once; if that fails the
	 * slots stay taken and anonymous eviction stops. */
	if (slots && !ws->staging_broken &&
	    __wset_staging_release(ws, ws->staging, slots * region->page_size) < 0)
		ws->staging_broken = true;
}

/* Publish the outcome, then let blocked accesses retry. */
static uint64_t finish(struct wset *ws, struct step *step)
{
	struct wset_region *region = step->region;
	uint64_t stored = 0;

	pthread_mutex_lock(&ws->lock);
	for (size_t i = 0; i < step->count; i++) {
		uint64_t page = step->pages[i];
		uint8_t *state = &region->state[page];

		if (step->result[i] == STEP_SKIPPED)
			continue;
		if (step->result[i] == STEP_STORED) {
			*state &= (uint8_t)~PAGE_PRESENT;
			*state |= PAGE_EVICTED;
			region->batch[page] = step->batch;
			stored++;
		}
		*state &= (uint8_t)~PAGE_BUSY;
		if (*state & PAGE_DISCARDED) {
			/* The VMM dropped the page meanwhile: so do we. */
			*state &= (uint8_t)~(PAGE_DISCARDED | PAGE_EVICTED);
			if (step->result[i] == STEP_STORED)
				ws->store->ops->drop(ws->store->priv,
						     __wset_store_key(region, page),
						     region->page_size);
		}
	}
	pthread_mutex_unlock(&ws->lock);
	__wset_count(&ws->counters.evictions, stored);

	for (size_t i = 0; i < step->count;) {
		uint64_t addr = __wset_page_addr(region, step->pages[i]);
		size_t run;

		/* Stored: the waiter retries into a MISSING fault.  Skipped:
		 * a fault that arrived while the page was busy was left for
		 * us to wake.  One wake per run of adjacent pages. */
		if (step->result[i] == STEP_ABANDONED) {
			if (region->kind == REGION_FILE)
				ws->ops->release_file(ws, region, step->pages[i]);
			i++;
			continue;
		}
		run = run_length(step, i, is_not_abandoned);
		__wset_uffd_wake(ws->uffd, addr, run * region->page_size);
		i += run;
	}
	/* Members of a group retry what they found busy. */
	if (step->count)
		__wset_group_wake(ws, region, step->pages[0],
				  step->pages[step->count - 1] - step->pages[0] + 1);
	return stored * region->page_size;
}

static uint64_t run_step(struct wset *ws, struct step *step, int *error)
{
	int ret = ws->ops->evict_begin(ws);
	uint64_t stored = 0;

	if (ret < 0)
		goto out_release;
	ret = rescan(ws, step);
	if (ret < 0) {
		pthread_mutex_lock(&ws->lock);
		for (size_t i = 0; i < step->count; i++)
			release_busy(step, i);
		pthread_mutex_unlock(&ws->lock);
		finish(ws, step);
		goto out_end;
	}
	if (step->region->kind == REGION_FILE) {
		ret = isolate_file(ws, step);
		if (ret < 0) {
			/* Some pages may be zapped already: give them all back. */
			for (size_t i = 0; i < step->count; i++)
				if (step->result[i] != STEP_SKIPPED)
					step->result[i] = STEP_ABANDONED;
			stored = finish(ws, step);
			goto out_end;
		}
	} else {
		isolate_anon(ws, step);
	}
	map_source(ws, step);
	copy_out(ws, step);
	make_durable(ws, step);
	drop_and_give_back(ws, step);
	stored = finish(ws, step);
out_end:
	{
		int end = ws->ops->evict_end(ws);

		if (ret == 0)
			ret = end;
	}
	if (ret < 0 && *error == 0)
		*error = ret;
	return stored;

out_release:
	pthread_mutex_lock(&ws->lock);
	for (size_t i = 0; i < step->count; i++)
		release_busy(step, i);
	pthread_mutex_unlock(&ws->lock);
	finish(ws, step);
	*error = ret;
	return 0;
}

static bool candidate(const struct wset_region *region, uint64_t page)
{
	return (region->state[page] &
		(PAGE_PRESENT | PAGE_BUSY | PAGE_EVICTED | PAGE_UNMOVABLE |
		 PAGE_RESOLVING)) == PAGE_PRESENT;
}

/* The age at which the budget runs out: pages older than it all fit. */
static unsigned int cutoff_age(struct wset *ws, unsigned int min_age,
			       uint64_t budget)
{
	uint64_t bytes[WSET_AGE_MAX + 1] = { 0 };
	uint64_t sum = 0;

	for (int r = 0; r < ws->region_count; r++) {
		struct wset_region *region = ws->regions[r];

		if (!region->active || !region->evictable)
			continue;
		for (uint64_t page = 0; page < region->pages; page++)
			if (candidate(region, page))
				bytes[region->age[page]] += region->page_size;
	}
	for (unsigned int age = WSET_AGE_MAX; age > min_age; age--) {
		sum += bytes[age];
		if (sum >= budget)
			return age;
	}
	return min_age;
}

/* Fill step with up to a batch of pages of region aged exactly `age` (or
 * older when `older` is set), starting at *cursor. */
static void pick(struct wset *ws, struct step *step, struct wset_region *region,
		 uint64_t *cursor, unsigned int age, bool older, uint64_t budget)
{
	step->region = region;
	step->count = 0;
	step->batch = ++ws->next_batch;
	for (; *cursor < region->pages && step->count < WSET_BATCH_PAGES; (*cursor)++) {
		uint64_t page = *cursor;

		if (!candidate(region, page))
			continue;
		if (older ? region->age[page] <= age : region->age[page] != age)
			continue;
		if ((step->count + 1) * region->page_size > budget)
			break;
		region->state[page] |= PAGE_BUSY;
		step->result[step->count] = STEP_STORED;
		step->pages[step->count++] = page;
	}
}

/* Called with engine_lock held. */
int __wset_evict_locked(struct wset *ws, unsigned int min_age,
			uint64_t max_bytes, uint64_t *evicted)
{
	uint64_t budget = max_bytes ? max_bytes : UINT64_MAX;
	uint64_t total = 0;
	unsigned int cutoff;
	int error = 0;
	struct step *step = malloc(sizeof(*step));

	if (!step)
		return -ENOMEM;
	/* Pages fetched back just now are still busy until their store copy
	 * is dropped: let that finish, so that they count as candidates. */
	__wset_deferred_flush(ws);
	pthread_mutex_lock(&ws->lock);
	cutoff = cutoff_age(ws, min_age, budget);
	pthread_mutex_unlock(&ws->lock);

	/* Oldest first: everything above the cutoff, then the cutoff age. */
	for (int pass = 0; pass < 2 && total < budget; pass++) {
		bool older = pass == 0;

		if (older && cutoff >= WSET_AGE_MAX)
			continue;
		for (int r = 0; r < WSET_MAX_REGIONS && total < budget; r++) {
			struct wset_region *region = __wset_active_region(ws, r);
			uint64_t cursor = 0;

			while (region && region->evictable && cursor < region->pages && total < budget) {
				pthread_mutex_lock(&ws->lock);
				pick(ws, step, region, &cursor, cutoff, older,
				     budget - total);
				pthread_mutex_unlock(&ws->lock);
				if (step->count == 0)
					break;
				total += run_step(ws, step, &error);
			}
		}
	}
	free(step);
	if (evicted)
		*evicted = total;
	return error;
}

int wset_evict(struct wset *ws, unsigned int min_age, uint64_t max_bytes,
	       uint64_t *evicted)
{
	int ret;

	if (!ws || min_age > WSET_AGE_MAX)
		return -EINVAL;
	pthread_mutex_lock(&ws->engine_lock);
	ret = __wset_evict_locked(ws, min_age, max_bytes, evicted);
	pthread_mutex_unlock(&ws->engine_lock);
	return ret;
}
