/* SPDX-License-Identifier: MIT */
/* Taking over a userfaultfd from an agent that died or was restarted. */
#include <errno.h>
#include <unistd.h>

#include "internal.h"

/* The mechanism the earlier agent negotiated, from the features word; a
 * uffd the VMM initialised itself without tracking is missing-only. */
int __wset_resume_mechanism(const struct wset_config *config, uint64_t features,
			    const struct wset_mechanism_ops **ops)
{
	if (!(features & WSET_UFFD_INITIALIZED))
		return -EINVAL;
	/* RWP_ASYNC is missing when the agent died inside an eviction step. */
	if (features & UFFD_FEATURE_RWP)
		*ops = &__wset_rwp_ops;
	else if (features & UFFD_FEATURE_WP_ASYNC)
		*ops = &__wset_wp_ops;
	else
		*ops = &__wset_missing_ops;
	if (config->mechanism != WSET_MECHANISM_AUTO &&
	    config->mechanism != (*ops)->mechanism)
		return -EOPNOTSUPP;
	return 0;
}

struct take_over {
	struct wset *ws;
	int evicted;
};

/* Whether the memory file has the page (hole-punched pages read as holes;
 * hugetlbfs answers "data" everywhere, and a fetch then finds the page
 * present and keeps memory's copy). */
static bool file_has_page(const struct wset_region *region, uint64_t page)
{
	off_t at = (off_t)(region->offset + page * region->page_size);
	int saved = errno;
	off_t data = lseek(region->fd, at, SEEK_DATA);

	errno = saved;
	return data == at;
}

static int take_over_page(void *arg, uint64_t key, size_t len)
{
	struct take_over *take = arg;
	struct wset *ws = take->ws;

	for (int i = 0; i < ws->region_count; i++) {
		struct wset_region *region = ws->regions[i];
		uint64_t page;

		if (!region->active || key < region->store_base ||
		    key - region->store_base >= region->len)
			continue;
		page = (key - region->store_base) / region->page_size;
		if (len != region->page_size)
			return 0; /* not ours: leave it in the store */
		if (region->kind == REGION_FILE && file_has_page(region, page)) {
			/* Stored, but the hole was never punched: memory wins. */
			ws->store->ops->drop(ws->store->priv, key, len);
			return 0;
		}
		pthread_mutex_lock(&ws->lock);
		region->state[page] = PAGE_EVICTED;
		region->age[page] = 0;
		region->batch[page] = 0;
		pthread_mutex_unlock(&ws->lock);
		take->evicted++;
		return 0;
	}
	return 0; /* in no region added: kept, never dropped */
}

int wset_resume(struct wset *ws)
{
	struct take_over take = { .ws = ws, .evicted = 0 };
	int ret;

	if (!ws)
		return -EINVAL;
	if (!ws->store->ops->each)
		return -EOPNOTSUPP;
	pthread_mutex_lock(&ws->engine_lock);
	ret = ws->store->ops->each(ws->store->priv, take_over_page, &take);
	/* An eviction step the dead agent left open ends here. */
	if (ret == 0)
		ret = ws->ops->evict_end(ws);
	/* From now on a page not marked evicted really is not. */
	if (ret == 0)
		__atomic_store_n(&ws->resuming, false, __ATOMIC_RELEASE);
	/* Faults whose messages the dead agent read and never answered sleep
	 * until woken: wake every region so they fault again. */
	for (int i = 0; ret == 0 && i < ws->region_count; i++)
		if (ws->regions[i]->active)
			__wset_uffd_wake(ws->uffd, ws->regions[i]->addr,
					 ws->regions[i]->len);
	pthread_mutex_unlock(&ws->engine_lock);
	return ret < 0 ? ret : take.evicted;
}
