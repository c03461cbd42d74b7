/* SPDX-License-Identifier: MIT */
/*
 * One VMM served by wsetd: the libwset handle running on its adopted
 * userfaultfd, the connection it handed it over on (its closing means the
 * VMM is gone), a pidfd of the VMM process, and its history.
 */
#ifndef WSETD_SESSION_H
#define WSETD_SESSION_H

#include <stdint.h>
#include <sys/socket.h>
#include <sys/types.h>

#include "handshake.h"
#include "history.h"
#include "state.h"
#include "options.h"
#include "wset.h"

/* What an epoll event belongs to; embedded in its owner. */
enum watch_kind {
	WATCH_SIGNAL,
	WATCH_TIMER,
	WATCH_VMM_LISTENER,
	WATCH_CONTROL_LISTENER,
	WATCH_CONNECTION,
	WATCH_SESSION_SOCKET,
	WATCH_SESSION_PROCESS,
};

struct watch {
	enum watch_kind kind;
	void *owner;
};

struct session {
	unsigned int id;
	char token[STATE_TOKEN_SIZE]; /* names its files in the state directory */
	struct wset_store *store;     /* persistent, named by token */
	const char *state_dir;	      /* options.store_dir at the start */
	bool resumed;		      /* taken over from an earlier wsetd */
	int resumed_pages;	      /* evicted pages taken over */
	uint64_t escalations_logged;  /* fault escalations already logged */
	char mechanism_reason[200];   /* why this mechanism, for status */
	char name[64];
	pid_t pid;
	uid_t uid;
	int socket_fd; /* the VMM's connection, kept open while it runs */
	int pid_fd;    /* readable when the VMM process exits */
	struct wset *wset;
	struct session_helper *helper; /* NULL: the VMM runs no helper */
	/* The memory files served, by identity: a later process mapping one
	 * of them (a vhost-user backend) is served from this session's store
	 * (wset_share_memory()). */
	struct { dev_t dev; ino_t ino; } files[HANDSHAKE_MAX_REGIONS];
	unsigned int leader_id; /* 0, or the session whose store serves us */
	int file_count;
	int region_count;
	long long uffd_flags;		/* declared in the handshake, -1: not */
	unsigned int uffd_fdinfo_flags; /* as fdinfo shows them */
	uint64_t started_ms; /* wall clock */
	struct history history;
	struct watch socket_watch;
	struct watch process_watch;
	struct session *next;
};

/*
 * Adopt the handshake's userfaultfd, add its regions and start tracking,
 * with the persistent store named token in options->store_dir.  With
 * resume, the userfaultfd comes from an earlier wsetd (a reconnect or the
 * fd store): take over its evicted pages (wset_resume()).  The fds handed
 * over are set to -1 in handshake.  Returns 0, or a negative errno value
 * with a message in error.
 */
int session_start(const struct wsetd_options *options,
		  struct handshake *handshake, const struct ucred *peer,
		  unsigned int id, const char *token, bool resume,
		  struct session *leader, int socket_fd, struct session **out,
		  char *error, size_t error_size);

/* Stop tracking, bring every evicted page back, release everything.  The
 * session's files are removed once every page is back; otherwise they
 * stay, and the pages still in the store are logged.  Returns
 * wset_destroy()'s result. */
int session_stop(struct session *session);

/* The session of another process than pid serving the memory file fd
 * (the group's leader when that session is a member), or NULL. */
struct session *session_serving_file(struct session *sessions, int fd,
				     pid_t pid);

/* Record a history sample now. */
void session_sample(struct session *session, uint64_t now_ms);

#endif
