/* SPDX-License-Identifier: MIT */
/* The state of a running wsetd, shared by the event loop and its handlers. */
#ifndef WSETD_DAEMON_H
#define WSETD_DAEMON_H

#include <stdbool.h>
#include <stdint.h>

#include "connection.h"
#include "options.h"
#include "session.h"

/* A connection still sending its document. */
struct pending {
	struct watch watch;
	struct connection *connection;
	struct pending *next;
};

struct daemon {
	struct wsetd_command_line command_line;
	struct wsetd_options options;
	int epoll_fd;
	int signal_fd;
	int timer_fd;
	int vmm_listen_fd;
	int control_listen_fd;
	struct watch signal_watch, timer_watch, vmm_watch, control_watch;
	struct session *sessions;
	unsigned int session_count;
	unsigned int next_id;
	struct pending *pending;
	int pending_count;
	uint64_t started_ms;
	uint64_t next_sample_ms;
	/* Totals since start. */
	uint64_t vmms_accepted;
	uint64_t vmms_rejected;
	uint64_t reloads;
};

/* Run until TERM or INT.  Returns an exit code (exit_codes.h). */
int daemon_run(struct daemon *daemon);

/* Find a running VMM by id. */
struct session *daemon_find_session(struct daemon *daemon, unsigned int id);

/* Whether uid may hand over a VMM or change policies. */
bool daemon_uid_allowed(const struct daemon *daemon, uid_t uid);

uint64_t clock_monotonic_ms(void);
uint64_t clock_wall_ms(void);

#endif
