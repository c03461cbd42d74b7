// SPDX-License-Identifier: MIT
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#ifdef HAVE_LIBSYSTEMD
#include <systemd/sd-daemon.h>
#endif

#include "notify.h"

#define MAX_LISTEN_FDS 4096
/* sd_listen_fds(3): passed fds start here. */
#define LISTEN_FDS_START 3

#ifdef HAVE_LIBSYSTEMD

static bool send_message(const char *message, const int *fds, int count)
{
	return sd_pid_notify_with_fds(0, 0, message, fds, (unsigned int)count) > 0;
}

#else

/* The sd_notify protocol: one datagram of "KEY=VALUE" lines to the socket
 * named by $NOTIFY_SOCKET ("@" starts an abstract name), fds attached with
 * SCM_RIGHTS. */
static bool send_message(const char *message, const int *fds, int count)
{
	const char *path = getenv("NOTIFY_SOCKET");
	struct sockaddr_un address = { .sun_family = AF_UNIX };
	struct iovec vector = { (void *)message, strlen(message) };
	struct msghdr header = {
		.msg_name = &address,
		.msg_iov = &vector,
		.msg_iovlen = 1,
	};
	char *control = NULL;
	bool sent;
	int fd;

	if (!path || (path[0] != '/' && path[0] != '@') ||
	    strlen(path) >= sizeof(address.sun_path))
		return false;
	memcpy(address.sun_path, path, strlen(path));
	if (path[0] == '@')
		address.sun_path[0] = '\0';
	header.msg_namelen = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + strlen(path));
	if (count > 0) {
		struct cmsghdr *cmsg;

		control = calloc(1, CMSG_SPACE(sizeof(int) * (size_t)count));
		if (!control)
			return false;
		header.msg_control = control;
		header.msg_controllen = CMSG_SPACE(sizeof(int) * (size_t)count);
		cmsg = CMSG_FIRSTHDR(&header);
		cmsg->cmsg_level = SOL_SOCKET;
		cmsg->cmsg_type = SCM_RIGHTS;
		cmsg->cmsg_len = CMSG_LEN(sizeof(int) * (size_t)count);
		memcpy(CMSG_DATA(cmsg), fds, sizeof(int) * (size_t)count);
	}
	fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	sent = fd >= 0 && sendmsg(fd, &header, MSG_NOSIGNAL) == (ssize_t)vector.iov_len;
	if (fd >= 0)
		close(fd);
	free(control);
	return sent;
}

#endif

void notify_systemd(const char *format, ...)
{
	char message[256];
	va_list arguments;

	va_start(arguments, format);
	vsnprintf(message, sizeof(message), format, arguments);
	va_end(arguments);
	send_message(message, NULL, 0);
}

bool notify_fd_store(const char *name, const int *fds, int count)
{
	char message[128];

	snprintf(message, sizeof(message), "FDSTORE=1\nFDNAME=%s", name);
	return send_message(message, fds, count);
}

void notify_fd_store_remove(const char *name)
{
	char message[128];

	snprintf(message, sizeof(message), "FDSTOREREMOVE=1\nFDNAME=%s", name);
	send_message(message, NULL, 0);
}

/* LISTEN_PID, LISTEN_FDS and LISTEN_FDNAMES, checked as sd_listen_fds(3)
 * does; names split in place at the colons. */
static int listen_environment(char **names_copy)
{
	const char *pid = getenv("LISTEN_PID"), *count = getenv("LISTEN_FDS");
	const char *names = getenv("LISTEN_FDNAMES");
	long fds;

	if (!pid || !count || strtol(pid, NULL, 10) != (long)getpid())
		return 0;
	fds = strtol(count, NULL, 10);
	if (fds <= 0 || fds > MAX_LISTEN_FDS)
		return 0;
	*names_copy = strdup(names ? names : "");
	return *names_copy ? (int)fds : 0;
}

int notify_listen_fds(void (*fn)(void *arg, const char *name, const int *fds, int count),
		      void *arg)
{
	char *names = NULL, *cursor, *save = NULL;
	const char *previous = NULL;
	int count = listen_environment(&names), run = 0;
	int fds[MAX_LISTEN_FDS];

	cursor = names;
	for (int i = 0; i < count; i++) {
		const char *name = cursor ? strtok_r(i ? NULL : cursor, ":", &save) : NULL;
		int fd = LISTEN_FDS_START + i;

		if (!name)
			name = "unknown";
		/* Passed fds must not leak into anything we exec. */
		fcntl(fd, F_SETFD, FD_CLOEXEC);
		if (previous && strcmp(previous, name) && run) {
			fn(arg, previous, fds, run);
			run = 0;
		}
		previous = name;
		fds[run++] = fd;
	}
	if (run)
		fn(arg, previous, fds, run);
	free(names);
	unsetenv("LISTEN_PID");
	unsetenv("LISTEN_FDS");
	unsetenv("LISTEN_FDNAMES");
	return count;
}
