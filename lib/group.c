/* SPDX-License-Identifier: MIT */
/*
 * Processes that map the same memory file (QEMU and its vhost-user
 * backends) served from one store: the leader's.  A memory file is known
 * by its st_dev/st_ino; each process maps ranges of it at offsets of its
 * own.  The leader tracks and evicts; members only fault.
 *
 * The protocol, per page of a shared file (state: the leader's):
 *   - A member registers its mappings MISSING + MINOR with its own
 *     userfaultfd, so that it faults on a hole (MISSING) and on a page of
 *     the page cache its page tables do not map (MINOR).
 *   - Eviction step of the leader: after isolating the batch in its own
 *     mapping, the leader zaps the same file range in every member's
 *     mapping (through the member's helper).  From then until the step is
 *     over, a member access is a MINOR fault (before the hole punch) or a
 *     MISSING fault (after), and its handler sees the page PAGE_BUSY and
 *     retries later: no member write can land between the copy to the
 *     store and the hole punch.  A write that came before the zap is in the
 *     page cache, so the copy has it.  The step ends by waking the members
 *     over the batch.
 *   - Member fault on an evicted page: the page is written back into the
 *     file (the page cache every mapping shows) while PAGE_BUSY, then its
 *     store copy is dropped and the leader's waiters woken; the member's
 *     thread is woken, faults again (MINOR) and the page is mapped with
 *     UFFDIO_CONTINUE.  A leader fault on the same page races harmlessly:
 *     a fetch sets PAGE_BUSY and the loser finds the page busy (and waits
 *     to be woken or retries) or no longer evicted (and maps what the page
 *     cache has; a fill that finds the page there already, -EEXIST, only
 *     wakes).
 *   - Member fault on a page neither evicted nor busy: claimed
 *     PAGE_RESOLVING (eviction skips it meanwhile) and resolved in the
 *     member: UFFDIO_CONTINUE (MINOR) or a zero page (MISSING: a hole
 *     never stored).
 *   - A member never zero-fills a hole of a page the leader stored.  When
 *     the leader goes with pages it could not bring back, member faults on
 *     those files wait (a next agent may serve them) rather than read
 *     zeroes.
 * Locks: group->lock is read-held by fault handling and by an eviction
 * step's isolate and wake, write-held to join and leave.  glibc's
 * default rwlock prefers readers, which a leader step calling a member's
 * helper relies on: the member's handler threads must keep reading while
 * a member waits to leave.  Under it, one ws->lock at a time.
 */
#include <errno.h>
#include <stdlib.h>

#include "internal.h"

#define GROUP_MAX_MEMBERS 16
/* Member mappings touched by one run of an eviction step. */
#define GROUP_MAX_RANGES 256

struct wset_group {
	pthread_rwlock_t lock;
	struct wset *leader;	/* NULL once it left */
	bool stall;		/* it left with pages it could not bring back */
	struct wset *members[GROUP_MAX_MEMBERS];
	int member_count;
	unsigned int users;	/* wsets pointing here (atomic) */
};

struct member_range {
	struct wset *member;
	uint64_t addr, len;
};

static bool same_file(const struct wset_region *a, const struct wset_region *b)
{
	return a->kind == REGION_FILE && b->kind == REGION_FILE &&
	       a->dev == b->dev && a->ino == b->ino && a->page_size == b->page_size;
}

/* Where the members map file pages [first, first + count) of the leader's
 * region.  Called with group->lock held. */
static int member_ranges(struct wset_group *group, const struct wset_region *region,
			 uint64_t first, uint64_t count, struct member_range *out)
{
	uint64_t lo = region->offset + first * region->page_size;
	uint64_t hi = lo + count * region->page_size;
	int n = 0;

	for (int m = 0; m < group->member_count; m++) {
		struct wset *member = group->members[m];

		pthread_mutex_lock(&member->lock);
		for (int r = 0; r < member->region_count; r++) {
			const struct wset_region *view = member->regions[r];
			uint64_t from, to;

			if (!view->active || !same_file(view, region))
				continue;
			from = lo > view->offset ? lo : view->offset;
			to = hi < view->offset + view->len ? hi : view->offset + view->len;
			if (from >= to)
				continue;
			if (n == GROUP_MAX_RANGES) {
				pthread_mutex_unlock(&member->lock);
				return -E2BIG;
			}
			out[n++] = (struct member_range){
				member, view->addr + (from - view->offset), to - from
			};
		}
		pthread_mutex_unlock(&member->lock);
	}
	return n;
}

static bool leads(const struct wset *ws, const struct wset_region *region)
{
	return ws->group && !ws->group_member && region->kind == REGION_FILE;
}

int __wset_group_isolate(struct wset *ws, struct wset_region *region,
			 const uint64_t *pages, size_t count)
{
	struct member_range ranges[GROUP_MAX_RANGES];
	int ret = 0;

	if (!leads(ws, region))
		return 0;
	pthread_rwlock_rdlock(&ws->group->lock);
	for (size_t i = 0; i < count && ret == 0;) {
		size_t run = 1;
		int n;

		while (i + run < count && pages[i + run] == pages[i] + run)
			run++;
		n = member_ranges(ws->group, region, pages[i], run, ranges);
		ret = n < 0 ? n : 0;
		for (int j = 0; j < n && ret == 0; j++)
			ret = __wset_zap(ranges[j].member, ranges[j].addr, ranges[j].len);
		i += run;
	}
	pthread_rwlock_unlock(&ws->group->lock);
	return ret;
}

/* Called with group->lock held: one page, whatever the number of views. */
static void wake_one(struct wset *ws, struct wset_region *region,
			   uint64_t page)
{
	struct wset_group *group = ws->group;
	uint64_t at = region->offset + page * region->page_size;

	for (int m = 0; m < group->member_count; m++) {
		struct wset *member = group->members[m];

		for (int r = 0; r < WSET_MAX_REGIONS; r++) {
			struct wset_region *view = __wset_active_region(member, r);

			if (view && same_file(view, region) && at >= view->offset &&
			    at - view->offset < view->len)
				__wset_uffd_wake(member->uffd,
						 view->addr + (at - view->offset),
						 region->page_size);
		}
	}
}

void __wset_group_wake(struct wset *ws, struct wset_region *region,
		       uint64_t first, uint64_t count)
{
	struct member_range ranges[GROUP_MAX_RANGES];
	int n;

	if (!leads(ws, region) || count == 0)
		return;
	pthread_rwlock_rdlock(&ws->group->lock);
	n = member_ranges(ws->group, region, first, count, ranges);
	if (n == -E2BIG) {
		/* More mappings than a batch holds: wake page by page. */
		for (uint64_t page = first; page < first + count; page++)
			wake_one(ws, region, page);
	}
	for (int j = 0; j < n; j++)
		__wset_uffd_wake(ranges[j].member->uffd, ranges[j].addr, ranges[j].len);
	pthread_rwlock_unlock(&ws->group->lock);
}

/* A page of the member's own, not stored by the leader: map what the page
 * cache has (MINOR) or give the zeroes a hole never written has
 * (MISSING); -EEXIST means it is there already.  The caller wakes. */
static int resolve_here(struct wset *ws, struct wset_region *view,
			uint64_t addr, uint64_t flags)
{
	int ret;

	if (flags & UFFD_PAGEFAULT_FLAG_MINOR)
		ret = __wset_uffd_continue(ws->uffd, addr, view->page_size,
					   UFFDIO_CONTINUE_MODE_DONTWAKE);
	else
		ret = __wset_zero_fill(ws, view, addr);
	return ret == -EEXIST ? 0 : ret;
}

/*
 * A fault of a member: 1 when the page is not the group's business (no
 * leader region maps it: the caller handles it as usual), else 0 (woken)
 * or a retryable -EAGAIN / -EIO.
 */
int __wset_group_fault(struct wset *ws, uint64_t address, uint64_t flags)
{
	struct wset_group *group = ws->group;
	struct wset_region *view, *region = NULL;
	struct wset *leader;
	uint64_t addr = 0, at = 0, page = 0;
	uint8_t state = 0;
	int ret = 1;

	if (!group || !ws->group_member)
		return 1;
	pthread_rwlock_rdlock(&group->lock);
	pthread_mutex_lock(&ws->lock);
	view = __wset_find_region(ws, address);
	if (view && view->kind == REGION_FILE) {
		addr = address & ~(view->page_size - 1);
		at = view->offset + (addr - view->addr);
	}
	pthread_mutex_unlock(&ws->lock);
	leader = group->leader;
	if (!view || view->kind != REGION_FILE)
		goto out;
	if (!leader && group->stall) {
		ret = -EAGAIN;
		goto out;
	}

	if (!leader)
		goto alone;
	pthread_mutex_lock(&leader->lock);
	for (int r = 0; r < leader->region_count && !region; r++) {
		struct wset_region *each = leader->regions[r];

		if (each->active && same_file(each, view) && at >= each->offset &&
		    at - each->offset < each->len)
			region = each;
	}
	if (region) {
		page = (at - region->offset) / region->page_size;
		state = region->state[page];
		if ((state & (PAGE_BUSY | PAGE_RESOLVING)) ||
		    __atomic_load_n(&leader->resuming, __ATOMIC_ACQUIRE))
			ret = -EAGAIN; /* its owner finishes first */
		else if (state & PAGE_EVICTED)
			ret = 0;
		else
			region->state[page] |= PAGE_RESOLVING;
	}
	pthread_mutex_unlock(&leader->lock);
	if (ret == -EAGAIN)
		goto out;
alone:
	if (!region) {
		/* Not the leader's: a MINOR fault (registered for the group
		 * whatever the mechanism) maps the page cache's page; a
		 * MISSING one is the caller's as usual. */
		if (!(flags & UFFD_PAGEFAULT_FLAG_MINOR))
			goto out;
		ret = resolve_here(ws, view, addr, flags);
		ret = ret == -EAGAIN ? ret : 0;
		goto wake;
	}

	if (state & PAGE_EVICTED) {
		/* Into the page cache through the file itself, as a restore
		 * does, settled at once: a fetch through the leader's mapping
		 * would leave the page busy until the leader's handler threads
		 * drop its store copy, and they may sleep until the leader
		 * faults, while the leader waits on our I/O. */
		ret = __wset_fetch(leader, region, page, FETCH_RESTORE);
		if (ret == 0)
			__wset_count(&ws->counters.refaults, 1);
		if (ret == -EBUSY)
			ret = -EAGAIN;
		else if (ret == -ENOENT) /* brought back meanwhile */
			ret = 0;
		else if (ret < 0 && ret != -EAGAIN)
			ret = -EIO;
	} else {
		uint64_t leader_addr;

		ret = resolve_here(ws, view, addr, flags);
		pthread_mutex_lock(&leader->lock);
		region->state[page] &= (uint8_t)~PAGE_RESOLVING;
		leader_addr = __wset_page_addr(region, page);
		pthread_mutex_unlock(&leader->lock);
		/* A leader fault that found the page claimed waits for us. */
		__wset_uffd_wake(leader->uffd, leader_addr, region->page_size);
		/* A page gone from the page cache meanwhile (the guest
		 * discarded it): the woken access faults again, as MISSING. */
		if (ret < 0 && ret != -EAGAIN)
			ret = 0;
	}
wake:
	/* Waking an access that is not asleep is harmless; one that is faults
	 * again and finds the page mapped or in the page cache. */
	if (ret == 0)
		__wset_uffd_wake(ws->uffd, addr, view->page_size);
out:
	pthread_rwlock_unlock(&group->lock);
	return ret;
}

int wset_share_memory(struct wset *leader, struct wset *member)
{
	struct wset_group *group;
	int ret = 0;

	if (!leader || !member || leader == member || leader->group_member ||
	    member->group)
		return -EINVAL;
	/* Isolating a batch zaps the member's page tables and holds its
	 * accesses with MINOR faults. */
	if (!__wset_reaches_target(member) ||
	    !(member->features & (UFFD_FEATURE_MINOR_SHMEM | UFFD_FEATURE_MINOR_HUGETLBFS)))
		return -EOPNOTSUPP;
	pthread_mutex_lock(&leader->engine_lock);
	pthread_mutex_lock(&member->engine_lock);
	if (member->region_count) {
		ret = -EBUSY;
		goto out;
	}
	group = leader->group;
	if (!group) {
		group = calloc(1, sizeof(*group));
		if (!group) {
			ret = -ENOMEM;
			goto out;
		}
		pthread_rwlock_init(&group->lock, NULL);
		group->leader = leader;
		group->users = 1;
		leader->group = group;
	}
	pthread_rwlock_wrlock(&group->lock);
	if (group->member_count == GROUP_MAX_MEMBERS || !group->leader) {
		ret = group->leader ? -ENOSPC : -EINVAL;
	} else {
		group->members[group->member_count++] = member;
		__atomic_fetch_add(&group->users, 1, __ATOMIC_RELAXED);
		member->group = group;
		member->group_member = true;
	}
	pthread_rwlock_unlock(&group->lock);
out:
	pthread_mutex_unlock(&member->engine_lock);
	pthread_mutex_unlock(&leader->engine_lock);
	return ret;
}

/* Whether the member still maps a file the leader's region is in. */
static bool still_mapped(struct wset *member, const struct wset_region *region)
{
	for (int r = 0; r < WSET_MAX_REGIONS; r++) {
		struct wset_region *view = __wset_active_region(member, r);

		if (view && same_file(view, region) &&
		    __wset_maps_covered(member->pid, view->addr, view->len, true) == 0)
			return true;
	}
	return false;
}

/*
 * A member that stops being served while it still maps the file would
 * read holes (and fill them with zeroes for everyone): the leader brings
 * every page of that file back and keeps it resident from then on.  Held:
 * group->lock (read), so the leader stays.
 */
static void keep_resident_for(struct wset *member)
{
	struct wset *leader = member->group->leader;

	if (!leader)
		return;
	pthread_mutex_lock(&leader->engine_lock);
	for (int r = 0; r < WSET_MAX_REGIONS; r++) {
		struct wset_region *region = __wset_active_region(leader, r);

		if (!region || !region->evictable || region->kind != REGION_FILE ||
		    !still_mapped(member, region))
			continue;
		region->evictable = false;
		__wset_restore_region_locked(leader, region);
	}
	pthread_mutex_unlock(&leader->engine_lock);
}

/* wset_destroy(): a member at once; the leader once its pages are back
 * (kept_pages: some could not come back). */
void __wset_group_leave(struct wset *ws, bool kept_pages)
{
	struct wset_group *group = ws->group;

	if (!group)
		return;
	if (ws->group_member) {
		pthread_rwlock_rdlock(&group->lock);
		keep_resident_for(ws);
		pthread_rwlock_unlock(&group->lock);
	}
	pthread_rwlock_wrlock(&group->lock);
	if (!ws->group_member) {
		group->leader = NULL;
		group->stall = kept_pages;
	}
	for (int m = 0; m < group->member_count; m++)
		if (group->members[m] == ws)
			group->members[m--] = group->members[--group->member_count];
	pthread_rwlock_unlock(&group->lock);
}

/* wset_free(): after the handler threads stopped. */
void __wset_group_put(struct wset *ws)
{
	struct wset_group *group = ws->group;

	if (!group)
		return;
	ws->group = NULL;
	if (__atomic_sub_fetch(&group->users, 1, __ATOMIC_ACQ_REL) == 0) {
		pthread_rwlock_destroy(&group->lock);
		free(group);
	}
}
