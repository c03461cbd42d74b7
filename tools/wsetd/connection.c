// SPDX-License-Identifier: MIT
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "connection.h"

struct connection *connection_new(enum connection_kind kind, int fd,
				  uint64_t deadline_ms)
{
	struct connection *connection = calloc(1, sizeof(*connection));
	socklen_t length = sizeof(connection->peer);

	if (!connection)
		return NULL;
	connection->kind = kind;
	connection->fd = fd;
	connection->deadline_ms = deadline_ms;
	if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &connection->peer, &length) ||
	    length != sizeof(connection->peer)) {
		free(connection);
		return NULL;
	}
	/* Handshakes and requests are one small array or object. */
	connection->tokener = json_tokener_new_ex(16);
	if (!connection->tokener) {
		free(connection);
		return NULL;
	}
	return connection;
}

static void keep_fds(struct connection *connection, struct msghdr *message,
		     bool *too_many)
{
	for (struct cmsghdr *header = CMSG_FIRSTHDR(message); header;
	     header = CMSG_NXTHDR(message, header)) {
		int count, *fds;

		if (header->cmsg_level != SOL_SOCKET ||
		    header->cmsg_type != SCM_RIGHTS)
			continue;
		count = (int)((header->cmsg_len - CMSG_LEN(0)) / sizeof(int));
		fds = (int *)CMSG_DATA(header);
		for (int i = 0; i < count; i++) {
			if (connection->kind == CONNECTION_VMM &&
			    connection->fd_count < HANDSHAKE_MAX_FDS) {
				connection->fds[connection->fd_count++] = fds[i];
			} else {
				close(fds[i]);
				*too_many = true;
			}
		}
	}
}

int connection_receive(struct connection *connection, char *error,
		       size_t error_size)
{
	char buffer[4096];
	union {
		struct cmsghdr align;
		char bytes[CMSG_SPACE(sizeof(int) * HANDSHAKE_MAX_FDS)];
	} control;

	for (;;) {
		struct iovec vector = { buffer, sizeof(buffer) };
		struct msghdr message = {
			.msg_iov = &vector,
			.msg_iovlen = 1,
			.msg_control = control.bytes,
			.msg_controllen = sizeof(control.bytes),
		};
		bool too_many = false;
		enum json_tokener_error status;
		ssize_t received;

		received = recvmsg(connection->fd, &message, MSG_CMSG_CLOEXEC);
		if (received < 0) {
			if (errno == EAGAIN || errno == EWOULDBLOCK)
				return 0;
			if (errno == EINTR)
				continue;
			snprintf(error, error_size, "receive: %s", strerror(errno));
			return -1;
		}
		keep_fds(connection, &message, &too_many);
		if (too_many || (message.msg_flags & MSG_CTRUNC)) {
			snprintf(error, error_size,
				 connection->kind == CONNECTION_VMM ?
					 "more than %d fds received" :
					 "fds received on the control socket",
				 HANDSHAKE_MAX_FDS);
			return -1;
		}
		if (received == 0) {
			snprintf(error, error_size,
				 "peer closed the connection after %zu bytes, "
				 "before the end of the JSON document",
				 connection->bytes);
			return -1;
		}
		connection->bytes += (size_t)received;
		if (connection->bytes > HANDSHAKE_MAX_BYTES) {
			snprintf(error, error_size, "document longer than %d bytes",
				 HANDSHAKE_MAX_BYTES);
			return -1;
		}
		connection->document = json_tokener_parse_ex(connection->tokener,
							     buffer, (int)received);
		status = json_tokener_get_error(connection->tokener);
		if (status == json_tokener_continue)
			continue;
		if (status != json_tokener_success) {
			snprintf(error, error_size, "malformed JSON at byte %zu: %s",
				 connection->bytes - (size_t)received +
					 json_tokener_get_parse_end(connection->tokener),
				 json_tokener_error_desc(status));
			return -1;
		}
		/* Only whitespace may follow the document. */
		for (size_t i = json_tokener_get_parse_end(connection->tokener);
		     i < (size_t)received; i++) {
			if (!strchr(" \t\r\n", buffer[i])) {
				snprintf(error, error_size,
					 "unexpected data after the JSON document");
				return -1;
			}
		}
		return 1;
	}
}

void connection_free(struct connection *connection)
{
	if (!connection)
		return;
	for (int i = 0; i < connection->fd_count; i++)
		if (connection->fds[i] >= 0)
			close(connection->fds[i]);
	if (connection->fd >= 0)
		close(connection->fd);
	if (connection->document)
		json_object_put(connection->document);
	json_tokener_free(connection->tokener);
	free(connection);
}

int connection_send(int fd, const char *text, size_t length)
{
	while (length) {
		ssize_t sent = send(fd, text, length, MSG_NOSIGNAL);

		if (sent < 0) {
			struct pollfd wait = { .fd = fd, .events = POLLOUT };

			if (errno == EINTR)
				continue;
			if (errno != EAGAIN || poll(&wait, 1, 1000) != 1)
				return -1;
			continue;
		}
		text += sent;
		length -= (size_t)sent;
	}
	return 0;
}
