/* SPDX-License-Identifier: MIT */
/*
 * A client connection that sends one JSON document (a VMM's handshake or a
 * wsetctl request), read without blocking from a Unix stream socket,
 * together with any fds it passes with SCM_RIGHTS.
 */
#ifndef WSETD_CONNECTION_H
#define WSETD_CONNECTION_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include <json-c/json.h>

#include "handshake.h"

enum connection_kind {
	CONNECTION_VMM,
	CONNECTION_CONTROL,
};

struct connection {
	enum connection_kind kind;
	int fd;
	struct ucred peer;
	uint64_t deadline_ms; /* the document must be complete by then */
	size_t bytes;
	json_tokener *tokener;
	json_object *document; /* once complete */
	/* Received fds, in order; only VMM connections may send any. */
	int fds[HANDSHAKE_MAX_FDS];
	int fd_count;
};

/* Set up a connection on an accepted socket (reads SO_PEERCRED).  Returns
 * NULL when out of memory or the peer is unknown. */
struct connection *connection_new(enum connection_kind kind, int fd,
				  uint64_t deadline_ms);

/*
 * Read what is there.  Returns 1 once the document is complete, 0 when more
 * is needed, -1 on error or end of file before the end of the document
 * (error says which).
 */
int connection_receive(struct connection *connection, char *error,
		       size_t error_size);

/* Close the socket and every fd still held; free. */
void connection_free(struct connection *connection);

/* Write all of text (the socket is non-blocking: waits up to a second). */
int connection_send(int fd, const char *text, size_t length);

#endif
