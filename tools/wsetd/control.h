/* SPDX-License-Identifier: MIT */
/*
 * The control socket: one JSON request per connection, one answer, then
 * the connection closes.  Commands (see wsetd(8), "CONTROL SOCKET"):
 * status, metrics, history, set, evict, restore.
 */
#ifndef WSETD_CONTROL_H
#define WSETD_CONTROL_H

#include "daemon.h"

/* Answer the request that connection has received completely. */
void control_answer(struct daemon *daemon, struct connection *connection);

/* Answer a request that could not be read with {"ok": false, "error"}. */
void control_refuse(struct connection *connection, const char *error);

#endif
