// SPDX-License-Identifier: MIT
#include <errno.h>
#include <poll.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "link.h"

static uint64_t monotonic_ns(void)
{
	struct timespec now;

	clock_gettime(CLOCK_MONOTONIC, &now);
	return (uint64_t)now.tv_sec * 1000000000ull + (uint64_t)now.tv_nsec;
}

/* Wait for wsetd's next line; 1 released, 0 gone, -1 asked to stop. */
static int watch(struct agent_link *link)
{
	char line[256];

	for (;;) {
		struct pollfd fds[2] = {
			{ .fd = link->handed->socket_fd, .events = POLLIN },
			{ .fd = link->stop_pipe[0], .events = POLLIN },
		};
		int length;

		if (poll(fds, 2, -1) < 0) {
			if (errno == EINTR)
				continue;
			return 0;
		}
		if (fds[1].revents)
			return -1;
		length = handover_read_answer(link->handed->socket_fd, line, sizeof(line), 1000);
		if (length <= 0)
			return 0;
		if (strstr(line, "\"event\":\"released\""))
			return 1;
	}
}

/* Reconnect (or, after a release, hand over afresh) until wsetd answers;
 * false when asked to stop. */
static bool reconnect(struct agent_link *link, bool fresh)
{
	uint64_t started = monotonic_ns();
	unsigned int attempts = 0;

	if (fresh)
		handover_close(link->handed);
	for (;;) {
		struct pollfd stop = { .fd = link->stop_pipe[0], .events = POLLIN };

		attempts++;
		if (fresh ? handover(link->socket_path, link->name, link->regions,
				     link->region_count, link->handed) == 0 :
			    handover_reconnect(link->socket_path, link->name, link->regions,
					       link->region_count, link->handed) == 0)
			break;
		/* wsetd had given every page back and ended the session, but
		 * died before it could say so: start afresh. */
		if (!fresh && strstr(link->handed->error, "reconnect: no session")) {
			fresh = true;
			handover_close(link->handed);
		}
		/* wsetd is not listening yet: try again soon. */
		if (poll(&stop, 1, 10) != 0)
			return false;
	}
	__atomic_store_n(&link->back_ns, monotonic_ns(), __ATOMIC_RELEASE);
	__atomic_fetch_add(&link->reconnects, 1, __ATOMIC_RELAXED);
	fprintf(link->log, "demo-vmm: wsetd %s; %s after %.1f ms (%u attempts): "
		"vmm %u, %d evicted pages taken over\n",
		fresh ? "released the memory" : "was gone",
		fresh ? "handed over again" : "reconnected",
		(double)(monotonic_ns() - started) / 1e6, attempts,
		link->handed->vmm_id, link->handed->resumed_pages);
	fflush(link->log);
	return true;
}

static void *link_thread(void *arg)
{
	struct agent_link *link = arg;

	for (;;) {
		int status = watch(link);

		if (status < 0)
			break;
		if (status == 1 && !link->reconnect) {
			__atomic_store_n(&link->released, true, __ATOMIC_RELEASE);
			break;
		}
		if (!link->reconnect) {
			fprintf(link->log, "demo-vmm: wsetd went away without giving the "
				"memory back\n");
			fflush(link->log);
			__atomic_store_n(&link->lost, true, __ATOMIC_RELEASE);
			break;
		}
		if (!reconnect(link, status == 1))
			break;
	}
	return NULL;
}

int agent_link_start(struct agent_link *link)
{
	int ret;

	if (pipe2(link->stop_pipe, O_CLOEXEC))
		return -errno;
	link->back_ns = monotonic_ns();
	ret = pthread_create(&link->thread, NULL, link_thread, link);
	if (ret) {
		close(link->stop_pipe[0]);
		close(link->stop_pipe[1]);
		return -ret;
	}
	return 0;
}

void agent_link_stop(struct agent_link *link)
{
	char byte = 0;

	if (write(link->stop_pipe[1], &byte, 1) != 1) {
		/* the thread may have ended already; join either way */
	}
	pthread_join(link->thread, NULL);
	close(link->stop_pipe[0]);
	close(link->stop_pipe[1]);
}

bool agent_link_released(const struct agent_link *link)
{
	return __atomic_load_n(&link->released, __ATOMIC_ACQUIRE);
}

bool agent_link_lost(const struct agent_link *link)
{
	return __atomic_load_n(&link->lost, __ATOMIC_ACQUIRE);
}

uint64_t agent_link_back_ns(const struct agent_link *link)
{
	return __atomic_load_n(&link->back_ns, __ATOMIC_ACQUIRE);
}
