/* SPDX-License-Identifier: MIT */
/* Feature detection: ask UFFDIO_API and PAGEMAP_SCAN, pick a mechanism. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include "internal.h"

/* UFFDIO_API with no features asks what the kernel offers; the ioctl may
 * run once per userfaultfd, so use a scratch one. */
int __wset_query_features(uint64_t *features)
{
	struct uffdio_api api = { .api = UFFD_API, .features = 0 };
	int uffd = __wset_uffd_open();
	int ret;

	if (uffd < 0)
		return uffd;
	int saved = errno;
	ret = ioctl(uffd, UFFDIO_API, &api) < 0 ? -errno : 0;
	errno = saved;
	close(uffd);
	if (ret == 0)
		*features = api.features;
	return ret;
}

/* A zero-length scan is a no-op on kernels that have PAGEMAP_SCAN and
 * -ENOTTY on those that do not. */
static bool has_pagemap_scan(void)
{
	struct pm_scan_arg arg = { .size = sizeof(arg) };
	int saved = errno;
	int fd = open("/proc/self/pagemap", O_RDONLY | O_CLOEXEC);
	bool ok;

	if (fd < 0) {
		errno = saved;
		return false;
	}
	ok = ioctl(fd, PAGEMAP_SCAN, &arg) >= 0;
	close(fd);
	errno = saved;
	return ok;
}

int wset_probe(struct wset_probe *caller)
{
	struct wset_probe probe = WSET_PROBE_INIT, *out = &probe;
	uint64_t features = 0;
	int ret;

	if (!caller)
		return -EINVAL;
	ret = __wset_query_features(&features);
	if (ret < 0)
		return ret;
	out->uffd_features = features;
	out->has_rwp = (features & UFFD_FEATURE_RWP) &&
		       (features & UFFD_FEATURE_RWP_ASYNC);
	out->has_wp_async = features & UFFD_FEATURE_WP_ASYNC;
	out->has_pagemap_scan = has_pagemap_scan();
	out->has_move = features & UFFD_FEATURE_MOVE;
	if (out->has_rwp && out->has_pagemap_scan)
		out->best = WSET_MECHANISM_RWP;
	else if (out->has_wp_async && out->has_pagemap_scan)
		out->best = WSET_MECHANISM_WP;
	else
		out->best = WSET_MECHANISM_AUTO;

	if (out->best == WSET_MECHANISM_AUTO)
		snprintf(out->missing, sizeof(out->missing),
			 "no %s%s%s: need RWP, or WP_ASYNC+PAGEMAP_SCAN (Linux>=6.7)",
			 out->has_wp_async ? "" : "WP_ASYNC",
			 !out->has_wp_async && !out->has_pagemap_scan ? " and " : "",
			 out->has_pagemap_scan ? "" : "PAGEMAP_SCAN");
	else if (!out->has_rwp)
		snprintf(out->missing, sizeof(out->missing),
			 "no UFFD_FEATURE_RWP: reads are invisible to tracking");
	return WSET_STRUCT_FILL(caller, out);
}

int __wset_select(const struct wset_config *config,
		  const struct wset_probe *probe,
		  const struct wset_mechanism_ops **ops)
{
	switch (config->mechanism) {
	case WSET_MECHANISM_AUTO:
		if (probe->best == WSET_MECHANISM_RWP)
			*ops = &__wset_rwp_ops;
		else if (probe->best == WSET_MECHANISM_WP)
			*ops = &__wset_wp_ops;
		else
			return -EOPNOTSUPP;
		return 0;
	case WSET_MECHANISM_RWP:
		if (!probe->has_rwp || !probe->has_pagemap_scan)
			return -EOPNOTSUPP;
		*ops = &__wset_rwp_ops;
		return 0;
	case WSET_MECHANISM_WP:
		if (!probe->has_wp_async || !probe->has_pagemap_scan)
			return -EOPNOTSUPP;
		*ops = &__wset_wp_ops;
		return 0;
	case WSET_MECHANISM_MISSING_ONLY:
		return -EINVAL; /* only for a uffd set up already */
	}
	return -EINVAL;
}

const char *wset_mechanism_name(enum wset_mechanism mechanism)
{
	switch (mechanism) {
	case WSET_MECHANISM_AUTO:
		return "auto";
	case WSET_MECHANISM_RWP:
		return "rwp";
	case WSET_MECHANISM_WP:
		return "wp";
	case WSET_MECHANISM_MISSING_ONLY:
		return "missing-only";
	}
	return "unknown";
}

/* Features both mechanisms want when offered: fetch-back of shmem and
 * hugetlbfs, the events that keep the store index in step, and MOVE for
 * anonymous eviction. */
uint64_t __wset_common_features(uint64_t offered)
{
	return offered & (UFFD_FEATURE_MISSING_SHMEM |
			  UFFD_FEATURE_MISSING_HUGETLBFS |
			  UFFD_FEATURE_EVENT_REMOVE | UFFD_FEATURE_EVENT_UNMAP |
			  UFFD_FEATURE_EVENT_REMAP | UFFD_FEATURE_MOVE |
			  UFFD_FEATURE_POISON);
}
