/* SPDX-License-Identifier: MIT */
/* Creating, adopting and destroying a wset. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#include "internal.h"

uint64_t __wset_now_ns(void)
{
	struct timespec now;

	clock_gettime(CLOCK_MONOTONIC, &now);
	return (uint64_t)now.tv_sec * 1000000000ull + (uint64_t)now.tv_nsec;
}

static int check_config(const struct wset_config *config)
{
	if (WSET_STRUCT_CHECK(config, struct wset_config, WSET_STRUCT_SIZE_MAX) ||
	    WSET_POLICY_CHECK(&config->policy))
		return -EINVAL;
	if (config->mechanism != WSET_MECHANISM_AUTO &&
	    config->mechanism != WSET_MECHANISM_RWP &&
	    config->mechanism != WSET_MECHANISM_WP &&
	    config->mechanism != WSET_MECHANISM_MISSING_ONLY)
		return -EINVAL;
	if (config->interval_ms == 0 || config->wss_age == 0 ||
	    config->wss_age > WSET_AGE_MAX)
		return -EINVAL;
	if (config->fault_threads == 0 || config->fault_threads > 64)
		return -EINVAL;
	if (config->store && (!config->store->ops ||
			      WSET_STRUCT_CHECK(config->store->ops,
						struct wset_store_ops,
						WSET_STRUCT_SIZE_MAX) ||
			      !config->store->ops->put ||
			      !config->store->ops->get ||
			      !config->store->ops->drop))
		return -EINVAL;
	if (config->policy.min_idle_age > WSET_AGE_MAX)
		return -EINVAL;
	if (config->last_resort != WSET_LAST_RESORT_WAIT &&
	    config->last_resort != WSET_LAST_RESORT_POISON)
		return -EINVAL;
	return 0;
}

static int open_pagemap(pid_t pid, bool remote)
{
	char path[64];
	int saved = errno;
	int fd;

	if (remote)
		snprintf(path, sizeof(path), "/proc/%d/pagemap", (int)pid);
	else
		snprintf(path, sizeof(path), "/proc/self/pagemap");
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		fd = -errno;
	errno = saved;
	return fd;
}

static void wset_free(struct wset *ws)
{
	if (ws->stop_fd >= 0)
		close(ws->stop_fd);
	if (ws->pagemap_fd >= 0)
		close(ws->pagemap_fd);
	if (ws->own_store)
		wset_store_close(ws->store);
	for (int i = 0; i < ws->region_count; i++)
		__wset_region_free(ws->regions[i]);
	if (ws->staging_owned)
		munmap(ws->staging_local, ws->staging_len);
	else
		free(ws->staging_local);
	free(ws->zero_page);
	__wset_buffers_free(ws);
	free(ws->fault_threads);
	free(ws->handlers);
	__wset_group_put(ws);
	pthread_mutex_destroy(&ws->lock);
	pthread_mutex_destroy(&ws->engine_lock);
	pthread_mutex_destroy(&ws->tracker_lock);
	__wset_io_wait(&ws->prefetches);
	pthread_cond_destroy(&ws->tracker_cond);
	free(ws);
}

/* uffd is not yet initialised; pagemap_fd is open.  On failure neither is
 * closed (the caller still owns them). */
static int wset_init(const struct wset_config *config, int uffd,
		     int pagemap_fd, pid_t pid, bool remote, bool resume,
		     struct wset **out)
{
	struct wset_config defaults = WSET_CONFIG_INIT;
	struct wset_probe probe = WSET_PROBE_INIT;
	struct wset *ws;
	int ret;

	if (!config)
		config = &defaults;
	ret = check_config(config);
	if (ret < 0)
		return ret;
	ret = wset_probe(&probe);
	if (ret < 0)
		return ret;

	ws = calloc(1, sizeof(*ws));
	if (!ws)
		return -ENOMEM;
	ws->config = *config;
	ws->policy = config->policy;
	ws->uffd = -1;
	ws->pagemap_fd = -1;
	ws->stop_fd = -1;
	ws->pid = pid;
	ws->remote = remote;
	pthread_mutex_init(&ws->lock, NULL);
	pthread_mutex_init(&ws->engine_lock, NULL);
	pthread_mutex_init(&ws->tracker_lock, NULL);
	__wset_io_group_init(&ws->prefetches);
	pthread_cond_init(&ws->tracker_cond, NULL);
	ws->rate_last_ns = __wset_now_ns();

	if (resume) {
		/* Set up by the agent before us: learn, do not negotiate. */
		uint64_t features = 0;

		ret = __wset_uffd_features(uffd, &features);
		if (ret == 0)
			ret = __wset_resume_mechanism(config, features, &ws->ops);
		if (ret < 0)
			goto out_free;
		ws->features = ws->ops->features(features & ~WSET_UFFD_INITIALIZED);
		ws->resuming = true;
	} else {
		ret = __wset_select(config, &probe, &ws->ops);
		if (ret < 0)
			goto out_free;
		ws->features = ws->ops->features(probe.uffd_features);
		ret = __wset_uffd_api(uffd, ws->features, NULL);
		if (ret < 0)
			goto out_free;
	}
	ws->counters.mechanism = ws->ops->mechanism;
	ret = -EOPNOTSUPP;
	if (config->last_resort == WSET_LAST_RESORT_POISON &&
	    !(ws->features & UFFD_FEATURE_POISON))
		goto out_free;

	if (config->store) {
		ws->store = config->store;
	} else {
		const char *dir = config->store_dir;

		if (!dir)
			dir = getenv("TMPDIR");
		if (!dir || !*dir)
			dir = "/var/tmp";
		ret = wset_file_store_open(dir, &ws->store);
		if (ret < 0)
			goto out_free;
		ws->own_store = true;
	}

	ws->stop_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (ws->stop_fd < 0) {
		ret = -errno;
		goto out_free;
	}
	ws->uffd = uffd;
	ret = __wset_fault_threads_start(ws);
	if (ret < 0) {
		ws->uffd = -1;
		goto out_free;
	}
	ws->pagemap_fd = pagemap_fd;
	*out = ws;
	return 0;

out_free:
	wset_free(ws);
	return ret;
}

int wset_create(const struct wset_config *config, struct wset **out)
{
	int uffd, pagemap_fd, ret;

	if (!out)
		return -EINVAL;
	uffd = __wset_uffd_open();
	if (uffd < 0)
		return uffd;
	pagemap_fd = open_pagemap(getpid(), false);
	if (pagemap_fd < 0) {
		close(uffd);
		return pagemap_fd;
	}
	ret = wset_init(config, uffd, pagemap_fd, getpid(), false, false, out);
	if (ret < 0) {
		close(uffd);
		close(pagemap_fd);
	}
	return ret;
}

int wset_adopt(const struct wset_config *config, const struct wset_adopt *adopt,
	       struct wset **out)
{
	int pagemap_fd, ret, saved = errno;

	if (!out || !adopt ||
	    WSET_STRUCT_CHECK(adopt, struct wset_adopt, WSET_STRUCT_SIZE_MAX) ||
	    adopt->uffd < 0 || adopt->pid <= 0 ||
	    (adopt->flags & ~WSET_ADOPT_RESUME))
		return -EINVAL;
	if (fcntl(adopt->uffd, F_GETFD) < 0) {
		errno = saved;
		return -EBADF;
	}
	/* The handler threads poll it. */
	int flags = fcntl(adopt->uffd, F_GETFL);
	if (flags >= 0 && !(flags & O_NONBLOCK))
		fcntl(adopt->uffd, F_SETFL, flags | O_NONBLOCK);
	errno = saved;

	pagemap_fd = adopt->pagemap_fd;
	if (pagemap_fd < 0) {
		pagemap_fd = open_pagemap(adopt->pid, true);
		if (pagemap_fd < 0)
			return pagemap_fd;
	}
	ret = wset_init(config, adopt->uffd, pagemap_fd, adopt->pid,
			adopt->pid != getpid(), adopt->flags & WSET_ADOPT_RESUME, out);
	if (ret < 0 && adopt->pagemap_fd < 0)
		close(pagemap_fd);
	return ret;
}

int wset_destroy(struct wset *ws)
{
	int ret = 0;

	if (!ws)
		return 0;
	__wset_tracker_stop(ws);
	/* A member goes at once: its pages are the leader's. */
	if (ws->group_member)
		__wset_group_leave(ws, false);

	pthread_mutex_lock(&ws->engine_lock);
	for (int i = 0; i < ws->region_count; i++) {
		struct wset_region *region = ws->regions[i];
		int err;

		if (!region->active)
			continue;
		err = __wset_restore_region_locked(ws, region);
		if (err < 0 && ret == 0)
			ret = err;
		/* Unregistering would turn what could not come back into holes
		 * (zeroes): leave it registered, so that accesses wait for the
		 * next agent while the VMM holds the userfaultfd. */
		if (err == 0)
			__wset_uffd_unregister(ws->uffd, region->addr, region->len);
	}
	if (ws->staging)
		__wset_uffd_unregister(ws->uffd, ws->staging, ws->staging_len);
	pthread_mutex_unlock(&ws->engine_lock);
	/* A leader once its pages are back in the file: members read them
	 * there from now on (or wait for those that are not). */
	if (!ws->group_member)
		__wset_group_leave(ws, ret < 0);

	__wset_fault_threads_stop(ws);
	close(ws->uffd);
	wset_free(ws);
	return ret;
}

enum wset_mechanism wset_mechanism(const struct wset *ws)
{
	return ws ? ws->ops->mechanism : WSET_MECHANISM_AUTO;
}

const char *wset_version(void)
{
#define WSET_STR2(x) #x
#define WSET_STR(x) WSET_STR2(x)
	return WSET_STR(WSET_VERSION_MAJOR) "." WSET_STR(WSET_VERSION_MINOR);
}
