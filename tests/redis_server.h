/* SPDX-License-Identifier: MIT */
/*
 * A real redis-server for a test, on a unix socket in a fresh temporary
 * directory, with an append-only file fsynced at every write (so that a
 * kill -9 loses no acknowledged page).  Start, kill -9, restart.  Used by
 * the tests/store/ and tests/agent/ programs, so it needs neither's TAP.
 */
#ifndef WSET_TEST_REDIS_SERVER_H
#define WSET_TEST_REDIS_SERVER_H

#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

struct redis_server {
	char directory[80];
	char socket[100]; /* fits sun_path */
	char maxmemory[32]; /* "" for none */
	pid_t pid;
};

/* Whether a TCP port of the loopback is free to listen on (for the
 * servers the TLS and Cluster tests start on ports). */
static inline bool redis_port_free(unsigned int port)
{
	struct sockaddr_in address = {
		.sin_family = AF_INET,
		.sin_port = htons((uint16_t)port),
		.sin_addr.s_addr = htonl(INADDR_LOOPBACK),
	};
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	bool free_port = fd >= 0 && bind(fd, (struct sockaddr *)&address, sizeof(address)) == 0;

	if (fd >= 0)
		close(fd);
	return free_port;
}

static inline bool redis_server_answers(const struct redis_server *server)
{
	struct sockaddr_un address = { .sun_family = AF_UNIX };
	char reply[8] = "";
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	bool ok = false;

	snprintf(address.sun_path, sizeof(address.sun_path), "%s", server->socket);
	if (fd >= 0 && connect(fd, (struct sockaddr *)&address, sizeof(address)) == 0 &&
	    write(fd, "PING\r\n", 6) == 6 && read(fd, reply, sizeof(reply) - 1) > 0)
		ok = strncmp(reply, "+PONG", 5) == 0;
	if (fd >= 0)
		close(fd);
	return ok;
}

/* Start (again, with the same files); false with why on failure. */
static inline bool redis_server_start(struct redis_server *server, char *why,
				      size_t why_len)
{
	const struct timespec tick = { .tv_nsec = 10 * 1000000L };
	pid_t pid = fork();

	if (pid < 0) {
		snprintf(why, why_len, "fork: %s", strerror(errno));
		return false;
	}
	if (pid == 0) {
		int null = open("/dev/null", O_WRONLY);

		/* Never outlive a test that dies or is timed out. */
		prctl(PR_SET_PDEATHSIG, SIGKILL);

		dup2(null, STDOUT_FILENO);
		execlp("redis-server", "redis-server", "--port", "0",
		       "--unixsocket", server->socket, "--dir", server->directory,
		       "--save", "", "--appendonly", "yes", "--appendfsync", "always",
		       "--maxmemory", server->maxmemory[0] ? server->maxmemory : "0",
		       "--maxmemory-policy", "noeviction", (char *)NULL);
		_exit(127);
	}
	server->pid = pid;
	for (int waited = 0; waited < 1000; waited++) {
		int status;

		if (redis_server_answers(server))
			return true;
		if (waitpid(pid, &status, WNOHANG) == pid) {
			server->pid = 0;
			snprintf(why, why_len, "redis-server exited (status %d)", status);
			return false;
		}
		nanosleep(&tick, NULL);
	}
	snprintf(why, why_len, "redis-server did not answer within 10 s");
	return false;
}

static inline void redis_server_kill(struct redis_server *server)
{
	if (server->pid > 0) {
		kill(server->pid, SIGKILL);
		waitpid(server->pid, NULL, 0);
	}
	server->pid = 0;
}

/* A new server in a new directory.  0; 4 when there is no redis-server to
 * run (the test skips); -1 on other failures; why says which. */
static inline int redis_server_create(struct redis_server *server,
				      const char *maxmemory, char *why,
				      size_t why_len)
{
	const char *tmp = getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp";

	memset(server, 0, sizeof(*server));
	if (system("command -v redis-server >/dev/null 2>&1") != 0) {
		snprintf(why, why_len, "no redis-server on PATH (Debian's "
			 "redis-server, vm/deps.sh)");
		return 4;
	}
	if (snprintf(server->directory, sizeof(server->directory),
		     "%s/wset-redis-XXXXXX", tmp) >= (int)sizeof(server->directory)) {
		snprintf(why, why_len, "TMPDIR %s is too long for a unix socket path", tmp);
		return 4;
	}
	if (!mkdtemp(server->directory)) {
		snprintf(why, why_len, "mkdtemp %s: %s", server->directory, strerror(errno));
		return -1;
	}
	snprintf(server->socket, sizeof(server->socket), "%s/redis.sock", server->directory);
	snprintf(server->maxmemory, sizeof(server->maxmemory), "%s", maxmemory ? maxmemory : "");
	return redis_server_start(server, why, why_len) ? 0 : -1;
}

/* Kill it and remove its files. */
static inline void redis_server_destroy(struct redis_server *server)
{
	char command[400];

	redis_server_kill(server);
	snprintf(command, sizeof(command), "rm -rf '%s'", server->directory);
	if (system(command) != 0)
		fprintf(stderr, "could not remove %s\n", server->directory);
}

#endif
