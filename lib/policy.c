/* SPDX-License-Identifier: MIT */
/* The eviction policy: how much may go out after an interval. */
#include <errno.h>

#include "internal.h"

static int check_policy(const struct wset_policy *policy)
{
	if (WSET_POLICY_CHECK(policy) || policy->min_idle_age > WSET_AGE_MAX)
		return -EINVAL;
	return 0;
}

int wset_set_policy(struct wset *ws, const struct wset_policy *policy)
{
	int ret;

	if (!ws || !policy)
		return -EINVAL;
	ret = check_policy(policy);
	if (ret < 0)
		return ret;
	pthread_mutex_lock(&ws->lock);
	ws->policy = *policy;
	pthread_mutex_unlock(&ws->lock);
	return 0;
}

int wset_get_policy(struct wset *ws, struct wset_policy *policy)
{
	struct wset_policy current;

	if (!ws || !policy)
		return -EINVAL;
	pthread_mutex_lock(&ws->lock);
	current = ws->policy;
	pthread_mutex_unlock(&ws->lock);
	return WSET_STRUCT_FILL(policy, &current);
}

/* Bytes the policy lets go now: above the resident target, and within
 * the rate budget (refilled continuously, at most one second's worth). */
uint64_t __wset_policy_budget(struct wset *ws, const struct wset_policy *policy)
{
	uint64_t budget = UINT64_MAX;

	if (policy->resident_target) {
		uint64_t resident;

		pthread_mutex_lock(&ws->lock);
		resident = __wset_resident_bytes(ws);
		pthread_mutex_unlock(&ws->lock);
		if (resident <= policy->resident_target)
			return 0;
		budget = resident - policy->resident_target;
	}
	if (policy->max_evict_rate) {
		uint64_t now = __wset_now_ns();
		uint64_t elapsed = now - ws->rate_last_ns;
		uint64_t refill = (uint64_t)((double)policy->max_evict_rate *
					     (double)elapsed / 1e9);

		ws->rate_last_ns = now;
		ws->rate_budget += refill;
		if (ws->rate_budget > policy->max_evict_rate)
			ws->rate_budget = policy->max_evict_rate;
		if (budget > ws->rate_budget)
			budget = ws->rate_budget;
	}
	return budget;
}

void __wset_policy_spent(struct wset *ws, uint64_t bytes)
{
	ws->rate_budget = bytes > ws->rate_budget ? 0 : ws->rate_budget - bytes;
}
