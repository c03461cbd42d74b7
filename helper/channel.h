/* SPDX-License-Identifier: MIT */
/*
 * One end of the helper protocol (protocol.h) on a connected socket, used
 * by the helper and by wsetd alike: a reader thread takes replies to our
 * requests and queues the peer's requests for a worker thread, which
 * answers them one at a time with the handler.  Requests never wait on
 * each other's handling, so a handler may itself call the peer.
 */
#ifndef WSET_CHANNEL_H
#define WSET_CHANNEL_H

#include <stdint.h>

#include "protocol.h"

struct wset_channel;

/* Answer one request: the reply's result.  fd is a received fd or -1; the
 * handler owns it. */
typedef int64_t (*wset_channel_handler)(void *arg,
					const struct wset_helper_message *request,
					int fd);

/* on_close runs once, in the reader thread, when the peer goes away (end of
 * file, error, malformed message); may be NULL. */
int __wset_channel_open(int socket_fd, uint16_t version,
			wset_channel_handler handler,
			void (*on_close)(void *arg), void *arg,
			struct wset_channel **out);

/* Send a request (with fd as SCM_RIGHTS when fd >= 0) and wait up to
 * timeout_ms (< 0: as long as the peer is there) for its reply: the
 * result, or -ETIMEDOUT, -EPIPE (the peer is gone), -errno of sending.
 * A request that timed out may still be carried out later. */
int64_t __wset_channel_call(struct wset_channel *channel, uint16_t type,
			    uint64_t addr, uint64_t len, uint64_t offset,
			    int fd, int timeout_ms);

/* Tell the peer we are done: the request being carried out is answered,
 * later ones are not carried out (the peer takes them as failed); shut our
 * sending side and wait up to timeout_ms for the peer to close its end:
 * 0, or -ETIMEDOUT. */
int __wset_channel_hang_up(struct wset_channel *channel, int timeout_ms);

/* Stop both threads (shutting the socket down): from then on calls fail at
 * once with -EPIPE, and no handler runs.  The channel stays valid. */
void __wset_channel_shutdown(struct wset_channel *channel);

/* Shut down (if not yet) and free the channel, once nobody calls it any
 * more; the socket itself stays the caller's to close. */
void __wset_channel_close(struct wset_channel *channel);

#endif
