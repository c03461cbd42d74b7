// SPDX-License-Identifier: MIT
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "log.h"
#include "session.h"

static int pidfd_open_process(pid_t pid)
{
	return (int)syscall(SYS_pidfd_open, pid, 0);
}

static void session_free(struct session *session)
{
	wset_store_close(session->store);
	if (session->pid_fd >= 0)
		close(session->pid_fd);
	if (session->socket_fd >= 0)
		close(session->socket_fd);
	history_free(&session->history);
	free(session);
}

/* What wset_add_anon() and wset_add_file() mean by their errors. */
static const char *region_error(int error)
{
	switch (error) {
	case -ENOMEM: return "not mapped in the VMM over its whole length";
	case -EEXIST: return "overlaps a region already added";
	case -EINVAL: return "unaligned, or not the kind of memory it claims";
	case -EBADF: return "its memfd is unusable";
	case -EOPNOTSUPP: return "this memory kind is not supported by the mechanism";
	default: return "refused by libwset";
	}
}

static int add_regions(struct session *session, struct handshake *handshake,
		       char *error, size_t error_size)
{
	for (int i = 0; i < handshake->region_count; i++) {
		const struct handshake_region *region = &handshake->regions[i];
		int ret;

		if (region->memfd_index < 0)
			ret = wset_add_anon(session->wset,
					    region->base_host_virt_addr,
					    region->size);
		else
			ret = wset_add_file(session->wset,
					    region->base_host_virt_addr,
					    region->size,
					    handshake->fds[region->memfd_index],
					    region->offset);
		if (ret < 0) {
			snprintf(error, error_size, "region %d: %s (%s)", i,
				 region_error(ret), strerror(-ret));
			return ret;
		}
		helper_note_region(session, region->base_host_virt_addr, ret);
		session->region_count++;
		struct stat status;
		if (region->memfd_index >= 0 &&
		    fstat(handshake->fds[region->memfd_index], &status) == 0 &&
		    session->file_count < HANDSHAKE_MAX_REGIONS) {
			session->files[session->file_count].dev = status.st_dev;
			session->files[session->file_count++].ino = status.st_ino;
		}
	}
	return 0;
}

/* A session that never started: a new one leaves no files behind, one
 * taken over keeps them (its pages are there). */
static void forget_new(struct session *session)
{
	wset_store_close(session->store);
	session->store = NULL;
	if (!session->resumed)
		state_remove(session->state_dir, session->token);
	session_free(session);
}

int session_start(const struct wsetd_options *options,
		  struct handshake *handshake, const struct ucred *peer,
		  unsigned int id, const char *token, bool resume,
		  struct session *leader, int socket_fd, struct session **out,
		  char *error, size_t error_size)
{
	struct wset_config config = WSET_CONFIG_INIT;
	struct wset_adopt adopt = WSET_ADOPT_INIT;
	struct session *session = calloc(1, sizeof(*session));
	bool initialized;
	int ret;

	if (!session || history_init(&session->history, options->history_samples)) {
		free(session);
		snprintf(error, error_size, "out of memory");
		return -ENOMEM;
	}
	session->id = id;
	snprintf(session->token, sizeof(session->token), "%s", token);
	session->state_dir = options->store_dir;
	session->resumed = resume;
	session->pid = peer->pid;
	session->uid = peer->uid;
	session->socket_fd = -1;
	session->uffd_flags = handshake->uffd_flags;
	session->uffd_fdinfo_flags = handshake->uffd_fdinfo_flags;
	session->socket_watch = (struct watch){ WATCH_SESSION_SOCKET, session };
	session->process_watch = (struct watch){ WATCH_SESSION_PROCESS, session };
	if (handshake->name[0])
		snprintf(session->name, sizeof(session->name), "%s", handshake->name);
	else
		snprintf(session->name, sizeof(session->name), "pid%d", (int)peer->pid);
	/* Opened before adopting: the pid cannot be reused while we hold it. */
	session->pid_fd = pidfd_open_process(peer->pid);
	if (session->pid_fd < 0) {
		ret = -errno;
		snprintf(error, error_size, "pidfd_open(%d): %s", (int)peer->pid,
			 strerror(errno));
		session_free(session);
		return ret;
	}

	config.mechanism = options->mechanism;
	config.interval_ms = options->interval_ms;
	config.wss_age = options->wss_age;
	config.fault_threads = options->fault_threads;
	config.prefetch_pages = options->prefetch_pages;
	config.store_dir = options->store_dir;
	config.fetch_retries = options->fetch_retries;
	config.last_resort = options->last_resort;
	options_policy(options, &config.policy);
	ret = tiers_open(options, session->name, token, &session->store, error,
			 error_size);
	if (ret < 0) {
		session_free(session);
		return ret;
	}
	config.store = session->store;
	adopt.uffd = handshake->fds[0];
	adopt.pid = peer->pid;
	/* Set up already: by the wsetd before us, or by the VMM itself in
	 * Firecracker's order (UFFDIO_API called, memory registered). */
	initialized = resume || handshake->uffd_api_features != 0;
	adopt.flags = initialized ? WSET_ADOPT_RESUME : 0;
	ret = wset_adopt(&config, &adopt, &session->wset);
	if (ret < 0) {
		snprintf(error, error_size, "cannot adopt the userfaultfd: %s",
			 strerror(-ret));
		forget_new(session);
		return ret;
	}
	handshake->fds[0] = -1; /* the wset owns it now */

	ret = 0;
	if (handshake->helper.version) {
		ret = helper_attach(session, &handshake->helper);
		if (ret < 0)
			snprintf(error, error_size, "helper: %s", strerror(-ret));
	}
	if (ret == 0 && leader) {
		ret = wset_share_memory(leader->wset, session->wset);
		if (ret < 0)
			snprintf(error, error_size,
				 "vmm %u serves the same memory file, and this "
				 "process cannot be served from its store: %s%s",
				 leader->id, strerror(-ret),
				 ret == -EOPNOTSUPP && !handshake->helper.version ?
					 " (it runs no in-VMM helper: start it under wset-run)" : "");
		else
			session->leader_id = leader->id;
	}
	if (ret == 0)
		ret = add_regions(session, handshake, error, error_size);
	if (ret == 0 && initialized && !resume)
		snprintf(session->mechanism_reason, sizeof(session->mechanism_reason),
			 "the VMM called UFFDIO_API itself (features 0x%llx)%s",
			 (unsigned long long)(handshake->uffd_api_features & 0x7fffffffull),
			 wset_mechanism(session->wset) == WSET_MECHANISM_MISSING_ONLY ?
				 " without tracking: faults are served from the store, "
				 "nothing is tracked or evicted" : "");
	else if (ret == 0)
		snprintf(session->mechanism_reason, sizeof(session->mechanism_reason),
			 "%s", resume ? "taken over from an earlier wsetd" :
			       leader ? "negotiated by wsetd; maps guest memory of "
					"the vmm it shares, served from that store" :
					"negotiated by wsetd");
	if (ret == 0 && initialized) {
		ret = wset_resume(session->wset);
		if (ret < 0)
			snprintf(error, error_size, "cannot take the session over: %s",
				 strerror(-ret));
		else
			session->resumed_pages = ret;
		ret = ret < 0 ? ret : 0;
	}
	if (ret == 0 && !resume) {
		ret = state_save(options->store_dir, token, peer->pid, peer->uid,
				 session->name, handshake->regions_json);
		if (ret < 0)
			snprintf(error, error_size, "cannot write %s/%s.session: %s",
				 options->store_dir, token, strerror(-ret));
	}
	if (ret == 0) {
		ret = wset_start(session->wset);
		if (ret < 0)
			snprintf(error, error_size, "cannot start tracking: %s",
				 strerror(-ret));
	}
	if (ret < 0) {
		wset_destroy(session->wset);
		helper_stop(session);
		forget_new(session);
		return ret;
	}
	/* Memfds were duplicated by the library: ours are no longer needed. */
	handshake_close_fds(handshake);
	session->socket_fd = socket_fd;
	*out = session;
	return 0;
}

/* A page the store still holds after the session ended: say where. */
static int log_kept_page(void *arg, uint64_t key, size_t len)
{
	struct session *session = arg;

	log_warning("vmm %u %s: page at store offset %llu (%zu bytes) could not go "
		    "back; it stays in %s/%s.pages", session->id, session->name,
		    (unsigned long long)key, len, session->state_dir, session->token);
	return 0;
}

int session_stop(struct session *session)
{
	struct wset_store_stats stats = { 0 };
	int ret;

	/* The step in progress ends with its helper requests answered; then
	 * no hotplug request may reach the wset while it goes. */
	wset_stop(session->wset);
	helper_disconnect(session);
	ret = wset_destroy(session->wset);
	helper_stop(session);

	session->store->ops->stats(session->store->priv, &stats);
	if (ret == 0 && stats.stored_bytes == 0) {
		wset_store_close(session->store);
		session->store = NULL;
		state_remove(session->state_dir, session->token);
	} else {
		session->store->ops->each(session->store->priv, log_kept_page, session);
	}
	session_free(session);
	return ret;
}

static struct session *session_by_id(struct session *sessions, unsigned int id)
{
	for (struct session *each = sessions; each; each = each->next)
		if (each->id == id)
			return each;
	return NULL;
}

struct session *session_serving_file(struct session *sessions, int fd,
				     pid_t pid)
{
	struct stat status;

	if (fstat(fd, &status))
		return NULL;
	for (struct session *each = sessions; each; each = each->next)
		for (int i = 0; each->pid != pid && i < each->file_count; i++)
			if (each->files[i].dev == status.st_dev &&
			    each->files[i].ino == status.st_ino)
			{
				/* A member whose leader is gone is returned as
				 * it is: it cannot lead, so joining it fails. */
				struct session *leader = each->leader_id ?
					session_by_id(sessions, each->leader_id) : NULL;

				return leader ? leader : each;
			}
	return NULL;
}

void session_sample(struct session *session, uint64_t now_ms)
{
	struct wset_counters counters = WSET_COUNTERS_INIT;
	struct history_sample sample;

	if (wset_counters(session->wset, &counters) < 0)
		return;
	if (counters.fault_escalations > session->escalations_logged) {
		log_warning("vmm %u %s: %llu faults could not be fetched from the store "
			    "within fetch_retries (%llu waiting now, %llu pages poisoned, "
			    "%llu store read errors)", session->id, session->name,
			    (unsigned long long)(counters.fault_escalations -
						 session->escalations_logged),
			    (unsigned long long)counters.stalled_faults,
			    (unsigned long long)counters.poisoned_pages,
			    (unsigned long long)counters.store_get_errors);
		session->escalations_logged = counters.fault_escalations;
	}
	sample.time_ms = now_ms;
	sample.wss_bytes = counters.wss_bytes;
	sample.resident_bytes = counters.resident_bytes;
	sample.cold_bytes = counters.cold_bytes;
	sample.evicted_bytes = counters.evicted_bytes;
	sample.refaults = counters.refaults;
	history_add(&session->history, &sample);
}
