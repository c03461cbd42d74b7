/* SPDX-License-Identifier: MIT */
/* The background thread that runs a tracking interval every interval_ms. */
#include <errno.h>
#include <time.h>

#include "internal.h"

static void *tracker_main(void *arg)
{
	struct wset *ws = arg;
	struct timespec deadline;

	clock_gettime(CLOCK_MONOTONIC, &deadline);
	pthread_mutex_lock(&ws->tracker_lock);
	while (!ws->tracker_stop) {
		uint64_t ns = (uint64_t)deadline.tv_nsec +
			      (uint64_t)ws->config.interval_ms * 1000000ull;

		deadline.tv_sec += (time_t)(ns / 1000000000ull);
		deadline.tv_nsec = (long)(ns % 1000000000ull);
		while (!ws->tracker_stop &&
		       pthread_cond_timedwait(&ws->tracker_cond,
					      &ws->tracker_lock,
					      &deadline) != ETIMEDOUT)
			;
		if (ws->tracker_stop)
			break;
		pthread_mutex_unlock(&ws->tracker_lock);
		/* Errors are counted by the engine; tracking goes on. */
		wset_tick(ws);
		pthread_mutex_lock(&ws->tracker_lock);
	}
	pthread_mutex_unlock(&ws->tracker_lock);
	return NULL;
}

int wset_start(struct wset *ws)
{
	pthread_condattr_t attr;
	int ret;

	if (!ws)
		return -EINVAL;
	pthread_mutex_lock(&ws->tracker_lock);
	if (ws->tracker_running) {
		pthread_mutex_unlock(&ws->tracker_lock);
		return -EALREADY;
	}
	/* The deadline is on CLOCK_MONOTONIC. */
	pthread_cond_destroy(&ws->tracker_cond);
	pthread_condattr_init(&attr);
	pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
	pthread_cond_init(&ws->tracker_cond, &attr);
	pthread_condattr_destroy(&attr);
	ws->tracker_stop = false;
	ret = -pthread_create(&ws->tracker, NULL, tracker_main, ws);
	if (ret == 0)
		ws->tracker_running = true;
	pthread_mutex_unlock(&ws->tracker_lock);
	return ret;
}

int wset_stop(struct wset *ws)
{
	if (!ws)
		return -EINVAL;
	pthread_mutex_lock(&ws->tracker_lock);
	if (!ws->tracker_running) {
		pthread_mutex_unlock(&ws->tracker_lock);
		return -EINVAL;
	}
	ws->tracker_stop = true;
	pthread_cond_broadcast(&ws->tracker_cond);
	pthread_mutex_unlock(&ws->tracker_lock);
	pthread_join(ws->tracker, NULL);
	pthread_mutex_lock(&ws->tracker_lock);
	ws->tracker_running = false;
	pthread_mutex_unlock(&ws->tracker_lock);
	return 0;
}

void __wset_tracker_stop(struct wset *ws)
{
	wset_stop(ws);
}
