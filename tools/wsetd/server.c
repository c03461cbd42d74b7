// SPDX-License-Identifier: MIT
/* The event loop: sockets, signals, timer and VMMs in one epoll set. */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/signalfd.h>
#include <sys/stat.h>
#include <sys/timerfd.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "control.h"
#include "daemon.h"
#include "exit_codes.h"
#include "log.h"
#include "notify.h"
#include "report.h"
#include "state.h"

/* How often the timer checks handshake deadlines and samples history. */
#define TIMER_PERIOD_MS 100
/* Connections still sending their handshake or request, at most. */
#define MAX_PENDING 128

static uint64_t clock_ms(clockid_t clock)
{
	struct timespec now;

	clock_gettime(clock, &now);
	return (uint64_t)now.tv_sec * 1000 + (uint64_t)now.tv_nsec / 1000000;
}

uint64_t clock_monotonic_ms(void)
{
	return clock_ms(CLOCK_MONOTONIC);
}

uint64_t clock_wall_ms(void)
{
	return clock_ms(CLOCK_REALTIME);
}

struct session *daemon_find_session(struct daemon *daemon, unsigned int id)
{
	for (struct session *session = daemon->sessions; session; session = session->next)
		if (session->id == id)
			return session;
	return NULL;
}

bool daemon_uid_allowed(const struct daemon *daemon, uid_t uid)
{
	if (uid == geteuid() || uid == 0)
		return true;
	for (unsigned int i = 0; i < daemon->options.allowed_uid_count; i++)
		if (daemon->options.allowed_uids[i] == uid)
			return true;
	return false;
}

static int watch_fd(struct daemon *daemon, int fd, struct watch *watch)
{
	struct epoll_event event = { .events = EPOLLIN, .data.ptr = watch };

	return epoll_ctl(daemon->epoll_fd, EPOLL_CTL_ADD, fd, &event);
}

/* Bind a listening socket; a stale socket file from an earlier run (nobody
 * accepting on it) is replaced, a live one is an error. */
static int listen_on(const char *path, unsigned int mode)
{
	struct sockaddr_un address = { .sun_family = AF_UNIX };
	struct stat status;
	int fd;

	snprintf(address.sun_path, sizeof(address.sun_path), "%s", path);
	if (lstat(path, &status) == 0) {
		int probe = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
		bool live;

		if (!S_ISSOCK(status.st_mode)) {
			log_error("%s: exists and is not a socket", path);
			close(probe);
			return -1;
		}
		live = connect(probe, (struct sockaddr *)&address, sizeof(address)) == 0;
		close(probe);
		if (live) {
			log_error("%s: another wsetd is listening there", path);
			return -1;
		}
		unlink(path);
	}
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd < 0) {
		log_error("socket: %s", strerror(errno));
		return -1;
	}
	if (bind(fd, (struct sockaddr *)&address, sizeof(address)) ||
	    chmod(path, mode) || listen(fd, 64)) {
		log_error("%s: cannot listen: %s", path, strerror(errno));
		close(fd);
		return -1;
	}
	return fd;
}

static int setup(struct daemon *daemon)
{
	struct itimerspec period = {
		.it_interval = { 0, TIMER_PERIOD_MS * 1000000 },
		.it_value = { 0, TIMER_PERIOD_MS * 1000000 },
	};
	sigset_t signals;

	sigemptyset(&signals);
	sigaddset(&signals, SIGTERM);
	sigaddset(&signals, SIGINT);
	sigaddset(&signals, SIGHUP);
	sigaddset(&signals, SIGUSR1);
	/* Blocked in every thread: libwset's threads start after this. */
	if (sigprocmask(SIG_BLOCK, &signals, NULL))
		return WSETD_EXIT_FAILURE;
	signal(SIGPIPE, SIG_IGN);
	daemon->signal_fd = signalfd(-1, &signals, SFD_CLOEXEC | SFD_NONBLOCK);
	daemon->timer_fd = timerfd_create(CLOCK_MONOTONIC, TFD_CLOEXEC | TFD_NONBLOCK);
	daemon->epoll_fd = epoll_create1(EPOLL_CLOEXEC);
	if (daemon->signal_fd < 0 || daemon->timer_fd < 0 || daemon->epoll_fd < 0 ||
	    timerfd_settime(daemon->timer_fd, 0, &period, NULL)) {
		log_error("setup: %s", strerror(errno));
		return WSETD_EXIT_FAILURE;
	}
	if (mkdir(daemon->options.store_dir, 0700) && errno != EEXIST) {
		log_error("%s: cannot create the state directory: %s",
			  daemon->options.store_dir, strerror(errno));
		return WSETD_EXIT_FAILURE;
	}
	daemon->vmm_listen_fd = listen_on(daemon->options.socket,
					  daemon->options.socket_mode);
	if (daemon->vmm_listen_fd < 0)
		return WSETD_EXIT_SOCKET;
	daemon->control_listen_fd = listen_on(daemon->options.control_socket,
					      daemon->options.socket_mode);
	if (daemon->control_listen_fd < 0)
		return WSETD_EXIT_SOCKET;
	daemon->signal_watch = (struct watch){ WATCH_SIGNAL, NULL };
	daemon->timer_watch = (struct watch){ WATCH_TIMER, NULL };
	daemon->vmm_watch = (struct watch){ WATCH_VMM_LISTENER, NULL };
	daemon->control_watch = (struct watch){ WATCH_CONTROL_LISTENER, NULL };
	if (watch_fd(daemon, daemon->signal_fd, &daemon->signal_watch) ||
	    watch_fd(daemon, daemon->timer_fd, &daemon->timer_watch) ||
	    watch_fd(daemon, daemon->vmm_listen_fd, &daemon->vmm_watch) ||
	    watch_fd(daemon, daemon->control_listen_fd, &daemon->control_watch)) {
		log_error("epoll: %s", strerror(errno));
		return WSETD_EXIT_FAILURE;
	}
	daemon->started_ms = clock_wall_ms();
	return WSETD_EXIT_OK;
}

static void pending_remove(struct daemon *daemon, struct pending *pending)
{
	for (struct pending **link = &daemon->pending; *link; link = &(*link)->next) {
		if (*link == pending) {
			*link = pending->next;
			daemon->pending_count--;
			break;
		}
	}
	connection_free(pending->connection); /* closing drops it from epoll */
	free(pending);
}

/* Answer a VMM with one JSON line (session: NULL when refused). */
static void reply(int fd, const struct session *session, const char *error)
{
	json_object *answer = json_object_new_object();
	const char *text;

	json_object_object_add(answer, "ok", json_object_new_boolean(session != NULL));
	if (session) {
		json_object_object_add(answer, "version",
				       json_object_new_int(HANDSHAKE_VERSION));
		json_object_object_add(answer, "vmm", json_object_new_int((int)session->id));
		json_object_object_add(answer, "mechanism", json_object_new_string(
			wset_mechanism_name(wset_mechanism(session->wset))));
		json_object_object_add(answer, "session",
				       json_object_new_string(session->token));
		if (session->resumed)
			json_object_object_add(answer, "resumed_pages",
					       json_object_new_int(session->resumed_pages));
		if (session->helper)
			json_object_object_add(answer, "helper", json_object_new_int(
				(int)helper_session_version(session)));
	} else {
		json_object_object_add(answer, "error", json_object_new_string(error));
	}
	text = json_object_to_json_string_ext(answer, JSON_C_TO_STRING_PLAIN);
	connection_send(fd, text, strlen(text));
	connection_send(fd, "\n", 1);
	json_object_put(answer);
}

static void reject(struct daemon *daemon, struct connection *connection,
		   const char *why)
{
	daemon->vmms_rejected++;
	log_warning("vmm from pid %d uid %u refused: %s", (int)connection->peer.pid,
		    (unsigned int)connection->peer.uid, why);
	reply(connection->fd, NULL, why);
}

static void accept_connection(struct daemon *daemon, int listen_fd,
			      enum connection_kind kind)
{
	struct pending *pending;
	struct epoll_event event = { .events = EPOLLIN | EPOLLRDHUP };
	int fd = accept4(listen_fd, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);

	if (fd < 0)
		return;
	/* Connections still sending count against fds: bound them. */
	if (daemon->pending_count >= MAX_PENDING) {
		log_warning("%d connections are still sending their request: "
			    "closing a new one", MAX_PENDING);
		close(fd);
		return;
	}
	pending = calloc(1, sizeof(*pending));
	if (pending)
		pending->connection = connection_new(kind, fd,
			clock_monotonic_ms() + daemon->options.handshake_timeout_ms);
	if (!pending || !pending->connection) {
		log_error("out of memory accepting a connection");
		free(pending);
		close(fd);
		return;
	}
	pending->watch = (struct watch){ WATCH_CONNECTION, pending };
	pending->next = daemon->pending;
	daemon->pending = pending;
	daemon->pending_count++;
	event.data.ptr = &pending->watch;
	if (epoll_ctl(daemon->epoll_fd, EPOLL_CTL_ADD, fd, &event))
		pending_remove(daemon, pending);
}

/*
 * The token of the session a handshake starts: a new one, or for a
 * reconnect the one it names, once its record says it is this VMM (same
 * pid and uid, same regions) and no session serves it now.
 */
static int session_token(struct daemon *daemon, struct handshake *handshake,
			 const struct ucred *peer, char *token, char *error,
			 size_t error_size)
{
	const char *directory = daemon->options.store_dir;
	json_object *record, *value;
	int ret = -1;

	if (!handshake->reconnect[0]) {
		if (state_token_new(token) == 0)
			return 0;
		snprintf(error, error_size, "no random bytes for a session token");
		return -1;
	}
	for (struct session *session = daemon->sessions; session; session = session->next)
		if (strcmp(session->token, handshake->reconnect) == 0) {
			snprintf(error, error_size, "reconnect: session %s is served "
				 "already (vmm %u)", handshake->reconnect, session->id);
			return -1;
		}
	record = state_load(directory, handshake->reconnect);
	if (!record) {
		snprintf(error, error_size, "reconnect: no session %s in %.150s",
			 handshake->reconnect, directory);
		return -1;
	}
	if (!json_object_object_get_ex(record, "pid", &value) ||
	    json_object_get_int(value) != (int)peer->pid ||
	    !json_object_object_get_ex(record, "uid", &value) ||
	    json_object_get_int64(value) != (int64_t)peer->uid)
		snprintf(error, error_size, "reconnect: session %s belongs to another "
			 "process", handshake->reconnect);
	else if (!json_object_object_get_ex(record, "regions", &value) ||
		 !json_object_equal(value, handshake->regions_json))
		snprintf(error, error_size, "reconnect: the regions differ from those "
			 "of session %s", handshake->reconnect);
	else {
		if (!handshake->name[0] &&
		    json_object_object_get_ex(record, "name", &value))
			snprintf(handshake->name, sizeof(handshake->name), "%s",
				 json_object_get_string(value));
		strcpy(token, handshake->reconnect);
		ret = 0;
	}
	json_object_put(record);
	return ret;
}

/* A session now served: into the list, its pidfd (and socket, if it has
 * one: it is in the epoll set already, as a pending connection) watched. */
static void add_session(struct daemon *daemon, struct session *session)
{
	struct epoll_event event = { .events = EPOLLIN | EPOLLRDHUP };

	daemon->next_id++;
	daemon->vmms_accepted++;
	session->started_ms = clock_wall_ms();
	session->next = daemon->sessions;
	daemon->sessions = session;
	daemon->session_count++;
	if (session->socket_fd >= 0) {
		/* A helper's messages are the helper channel's to read: here
		 * only its hanging up. */
		if (session->helper)
			event.events = EPOLLRDHUP;
		event.data.ptr = &session->socket_watch;
		epoll_ctl(daemon->epoll_fd, EPOLL_CTL_MOD, session->socket_fd, &event);
	}
	event.events = EPOLLIN;
	event.data.ptr = &session->process_watch;
	epoll_ctl(daemon->epoll_fd, EPOLL_CTL_ADD, session->pid_fd, &event);
	session_sample(session, session->started_ms);
	if (session->resumed)
		log_notice("vmm %u %s: pid %d uid %u, %d regions, mechanism %s: "
			   "session %s resumed, %d evicted pages taken over",
			   session->id, session->name, (int)session->pid,
			   (unsigned int)session->uid, session->region_count,
			   wset_mechanism_name(wset_mechanism(session->wset)),
			   session->token, session->resumed_pages);
	else
		log_notice("vmm %u %s: pid %d uid %u, %d regions, mechanism %s, session %s",
			   session->id, session->name, (int)session->pid,
			   (unsigned int)session->uid, session->region_count,
			   wset_mechanism_name(wset_mechanism(session->wset)),
			   session->token);
	notify_systemd("STATUS=serving %u VMMs", daemon->session_count);
}

/* The service manager keeps the session's fds, so that a wsetd restarted
 * after a crash takes the VMM over without its help. */
static void store_fds(const char *token, const struct handshake *handshake)
{
	notify_fd_store_remove(token);
	if (notify_fd_store(token, handshake->fds, handshake->fd_count))
		log_debug("session %s: %d fds kept in the service manager's fd store",
			  token, handshake->fd_count);
}

/* A reconnect for a session taken over from the fd store, which has no
 * connection yet: the VMM's new connection becomes its own. */
static bool attach(struct daemon *daemon, struct connection *connection,
		   struct handshake *handshake)
{
	for (struct session *session = daemon->sessions; session; session = session->next) {
		if (strcmp(session->token, handshake->reconnect) || session->socket_fd >= 0 ||
		    session->pid != connection->peer.pid)
			continue;
		struct epoll_event event = { .events = EPOLLIN | EPOLLRDHUP,
					     .data.ptr = &session->socket_watch };

		handshake_close_fds(handshake);
		session->socket_fd = connection->fd;
		connection->fd = -1;
		epoll_ctl(daemon->epoll_fd, EPOLL_CTL_MOD, session->socket_fd, &event);
		log_notice("vmm %u %s: reconnected to its session %s", session->id,
			   session->name, session->token);
		reply(session->socket_fd, session, NULL);
		return true;
	}
	return false;
}

static void start_session(struct daemon *daemon, struct connection *connection)
{
	char token[STATE_TOKEN_SIZE];
	struct handshake handshake;
	struct session *session, *leader = NULL;
	char error[256];

	memcpy(handshake.fds, connection->fds, sizeof(handshake.fds));
	handshake.fd_count = connection->fd_count;
	connection->fd_count = 0; /* the handshake owns the fds now */
	/* Checked once the handshake is read, so that the VMM gets the answer
	 * rather than a connection reset in the middle of its message. */
	error[0] = '\0';
	if (!daemon_uid_allowed(daemon, connection->peer.uid))
		snprintf(error, sizeof(error), "uid %u is not allowed",
			 (unsigned int)connection->peer.uid);
	else if (daemon->session_count >= daemon->options.max_vmms)
		snprintf(error, sizeof(error), "already serving max_vmms = %u VMMs",
			 daemon->options.max_vmms);
	if (error[0]) {
		handshake_close_fds(&handshake);
		reject(daemon, connection, error);
		return;
	}
	if (handshake_parse(connection->document, &handshake, error, sizeof(error)) == 0 &&
	    handshake.reconnect[0] && attach(daemon, connection, &handshake))
		return;
	/* Another process's session on the same memory file (a reconnecting
	 * VMM's own earlier one is not another): this process joins it, one
	 * store for all (a vhost-user backend of that VMM). */
	for (int i = 1; !error[0] && i < handshake.fd_count; i++) {
		struct session *other = session_serving_file(daemon->sessions,
							     handshake.fds[i],
							     connection->peer.pid);

		if (other && leader && other != leader)
			snprintf(error, sizeof(error),
				 "fd %d: vmm %u serves this memory file, vmm %u "
				 "another one it maps: memory shared with two "
				 "VMMs is not served", i, other->id, leader->id);
		else if (other)
			leader = other;
	}
	if (error[0] ||
	    session_token(daemon, &handshake, &connection->peer, token, error,
			  sizeof(error))) {
		handshake_close_fds(&handshake);
		reject(daemon, connection, error);
		return;
	}
	store_fds(token, &handshake);
	if (session_start(&daemon->options, &handshake, &connection->peer,
			  daemon->next_id, token, handshake.reconnect[0] != '\0',
			  leader, connection->fd, &session, error, sizeof(error)) < 0) {
		notify_fd_store_remove(token);
		handshake_close_fds(&handshake);
		reject(daemon, connection, error);
		return;
	}
	connection->fd = -1; /* the session keeps the connection */
	add_session(daemon, session);
	reply(session->socket_fd, session, NULL);
	if (helper_start(session) < 0)
		log_warning("vmm %u %s: cannot talk to its helper: nothing will be "
			    "evicted that needs it", session->id, session->name);
}

/* At start: a session whose fds the service manager kept for us (we
 * crashed or were killed), resumed from its record in the state
 * directory.  Its VMM may reconnect later; until then it has no socket. */
static void resume_stored(void *arg, const char *token, const int *fds, int count)
{
	struct daemon *daemon = arg;
	json_object *record = state_token_valid(token) ?
				      state_load(daemon->options.store_dir, token) : NULL;
	json_object *document = NULL, *value;
	struct handshake handshake = { .fd_count = 0 };
	struct ucred peer = { 0 };
	struct session *session;
	char error[256] = "";

	for (int i = 0; i < count && i < HANDSHAKE_MAX_FDS; i++)
		handshake.fds[handshake.fd_count++] = fds[i];
	for (int i = HANDSHAKE_MAX_FDS; i < count; i++)
		close(fds[i]);
	if (!record) {
		snprintf(error, sizeof(error), "no session record in %.150s",
			 daemon->options.store_dir);
	} else {
		document = json_object_new_object();
		if (json_object_object_get_ex(record, "name", &value))
			json_object_object_add(document, "name", json_object_get(value));
		if (json_object_object_get_ex(record, "regions", &value))
			json_object_object_add(document, "regions", json_object_get(value));
		if (json_object_object_get_ex(record, "pid", &value))
			peer.pid = json_object_get_int(value);
		if (json_object_object_get_ex(record, "uid", &value))
			peer.uid = (uid_t)json_object_get_int64(value);
		if (handshake_parse(document, &handshake, error, sizeof(error)) == 0 &&
		    session_start(&daemon->options, &handshake, &peer, daemon->next_id,
				  token, true, NULL, -1, &session, error, sizeof(error)) == 0) {
			handshake_close_fds(&handshake);
			add_session(daemon, session);
			error[0] = '\0';
		}
	}
	if (error[0]) {
		log_warning("fd store: session %s: cannot resume: %s", token, error);
		handshake_close_fds(&handshake);
		notify_fd_store_remove(token);
	}
	json_object_put(document);
	json_object_put(record);
}

static void pending_ready(struct daemon *daemon, struct pending *pending)
{
	struct connection *connection = pending->connection;
	char error[256];
	int status = connection_receive(connection, error, sizeof(error));

	if (status == 0)
		return;
	if (status < 0) {
		if (connection->kind == CONNECTION_VMM)
			reject(daemon, connection, error);
		else
			control_refuse(connection, error);
	} else if (connection->kind == CONNECTION_VMM) {
		start_session(daemon, connection);
	} else {
		control_answer(daemon, connection);
	}
	pending_remove(daemon, pending);
}

static int end_session(struct daemon *daemon, struct session *session,
		       const char *why)
{
	unsigned int id = session->id;
	char name[64];
	int ret;

	for (struct session **link = &daemon->sessions; *link; link = &(*link)->next) {
		if (*link == session) {
			*link = session->next;
			break;
		}
	}
	daemon->session_count--;
	notify_systemd("STATUS=serving %u VMMs", daemon->session_count);
	snprintf(name, sizeof(name), "%s", session->name);
	notify_fd_store_remove(session->token);
	/* Closing the fds below also removes them from the epoll set. */
	ret = session_stop(session);
	if (ret < 0)
		log_warning("vmm %u %s: %s; could not restore every page: %s",
			    id, name, why, strerror(-ret));
	else
		log_notice("vmm %u %s: %s; released", id, name, why);
	return ret;
}

static void session_socket_ready(struct daemon *daemon, struct session *session)
{
	char buffer[256];
	ssize_t received;

	/* With a helper only hanging up is reported here. */
	if (session->helper) {
		end_session(daemon, session, "connection closed");
		return;
	}
	received = recv(session->socket_fd, buffer, sizeof(buffer), MSG_DONTWAIT);

	/* After the handshake a VMM sends nothing: data is ignored, end of
	 * file or an error means it went away. */
	if (received > 0 || (received < 0 && errno == EAGAIN))
		return;
	end_session(daemon, session, "connection closed");
}

static void timer_expired(struct daemon *daemon)
{
	uint64_t expirations, now = clock_monotonic_ms();
	struct pending *pending = daemon->pending, *next;

	if (read(daemon->timer_fd, &expirations, sizeof(expirations)) < 0)
		return;
	for (; pending; pending = next) {
		next = pending->next;
		if (now < pending->connection->deadline_ms)
			continue;
		if (pending->connection->kind == CONNECTION_VMM)
			reject(daemon, pending->connection,
			       "handshake not complete within handshake_timeout_ms");
		pending_remove(daemon, pending);
	}
	if (now >= daemon->next_sample_ms) {
		uint64_t wall = clock_wall_ms();

		for (struct session *session = daemon->sessions; session;
		     session = session->next)
			session_sample(session, wall);
		daemon->next_sample_ms = now + daemon->options.interval_ms;
	}
}

static void reload(struct daemon *daemon)
{
	struct wsetd_options fresh;
	struct wset_policy policy = WSET_POLICY_INIT;

	log_notice("reloading the configuration");
	notify_systemd("RELOADING=1");
	if (options_load(&daemon->command_line, &fresh)) {
		log_error("reload: configuration invalid, keeping the old one");
		notify_systemd("READY=1\nSTATUS=reload failed: configuration invalid");
		return;
	}
	if (strcmp(fresh.socket, daemon->options.socket) ||
	    strcmp(fresh.control_socket, daemon->options.control_socket))
		log_warning("reload: socket paths change only at restart");
	strcpy(fresh.socket, daemon->options.socket);
	strcpy(fresh.control_socket, daemon->options.control_socket);
	daemon->options = fresh;
	log_set_level(fresh.log_level);
	options_policy(&fresh, &policy);
	for (struct session *session = daemon->sessions; session; session = session->next)
		wset_set_policy(session->wset, &policy);
	daemon->reloads++;
	notify_systemd("READY=1");
}

/* Returns true when the loop must stop. */
static bool signal_received(struct daemon *daemon)
{
	struct signalfd_siginfo info;

	while (read(daemon->signal_fd, &info, sizeof(info)) == sizeof(info)) {
		switch (info.ssi_signo) {
		case SIGTERM:
		case SIGINT:
			log_notice("%s from pid %u: returning every page, then exiting",
				   strsignal((int)info.ssi_signo), info.ssi_pid);
			notify_systemd("STOPPING=1\nSTATUS=returning every page to %u VMMs",
				       daemon->session_count);
			return true;
		case SIGHUP:
			reload(daemon);
			break;
		case SIGUSR1:
			report_log(daemon);
			break;
		}
	}
	return false;
}

static int shut_down(struct daemon *daemon)
{
	int status = WSETD_EXIT_OK;

	while (daemon->pending)
		pending_remove(daemon, daemon->pending);
	while (daemon->sessions) {
		struct session *session = daemon->sessions;
		int socket_fd = dup(session->socket_fd);

		if (end_session(daemon, session, "wsetd stopping") < 0)
			status = WSETD_EXIT_RESTORE_FAILED;
		else if (socket_fd >= 0)
			/* Every page is back: the VMM may let its uffd go. */
			connection_send(socket_fd, "{\"event\":\"released\"}\n", 21);
		if (socket_fd >= 0)
			close(socket_fd);
	}
	unlink(daemon->options.socket);
	unlink(daemon->options.control_socket);
	return status;
}

static void waiting_session(void *arg, const char *token)
{
	const struct daemon *daemon = arg;

	for (const struct session *session = daemon->sessions; session;
	     session = session->next)
		if (strcmp(session->token, token) == 0)
			return;

	log_notice("session %s from an earlier run: its pages stay in %s until "
		   "its VMM reconnects", token, daemon->options.store_dir);
}

int daemon_run(struct daemon *daemon)
{
	int status = setup(daemon);

	if (status != WSETD_EXIT_OK)
		return status;
	log_notice("listening on %s (VMMs) and %s (control), library %s",
		   daemon->options.socket, daemon->options.control_socket,
		   wset_version());
	if (notify_listen_fds(resume_stored, daemon) > 0)
		log_notice("fd store: %u VMMs taken over", daemon->session_count);
	state_each(daemon->options.store_dir, waiting_session, daemon);
	notify_systemd("READY=1\nSTATUS=listening on %s, no VMM yet", daemon->options.socket);
	for (;;) {
		/* One event at a time: a handler may free the owner of
		 * another ready fd; level triggering reports it again. */
		struct epoll_event events[1];
		int count = epoll_wait(daemon->epoll_fd, events, 1, -1);

		if (count < 0) {
			if (errno == EINTR)
				continue;
			log_error("epoll_wait: %s", strerror(errno));
			shut_down(daemon);
			return WSETD_EXIT_FAILURE;
		}
		for (int i = 0; i < count; i++) {
			struct watch *watch = events[i].data.ptr;

			switch (watch->kind) {
			case WATCH_SIGNAL:
				if (signal_received(daemon))
					return shut_down(daemon);
				break;
			case WATCH_TIMER:
				timer_expired(daemon);
				break;
			case WATCH_VMM_LISTENER:
				accept_connection(daemon, daemon->vmm_listen_fd,
						  CONNECTION_VMM);
				break;
			case WATCH_CONTROL_LISTENER:
				accept_connection(daemon, daemon->control_listen_fd,
						  CONNECTION_CONTROL);
				break;
			case WATCH_CONNECTION:
				pending_ready(daemon, watch->owner);
				break;
			case WATCH_SESSION_SOCKET:
				session_socket_ready(daemon, watch->owner);
				break;
			case WATCH_SESSION_PROCESS:
				end_session(daemon, watch->owner, "process exited");
				break;
			}
		}
	}
}
