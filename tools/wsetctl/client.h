/* SPDX-License-Identifier: MIT */
/* Requests to wsetd's control socket: one JSON request, one answer. */
#ifndef WSETCTL_CLIENT_H
#define WSETCTL_CLIENT_H

#include <json-c/json.h>

#define WSETCTL_DEFAULT_SOCKET "/run/wsetd/control.sock"

/* The socket path: set by -s, else $WSETD_CONTROL_SOCKET, else the default. */
extern const char *client_socket_path;

/*
 * Send request (consumed) and return the whole answer as text (free it), or
 * NULL after printing why.
 */
char *client_exchange_text(json_object *request);

/*
 * Send request (consumed) and return the parsed answer, or NULL after
 * printing why.  *exit_code is set to the wsetctl exit code on failure:
 * WSETCTL_EXIT_CONNECT, or WSETCTL_EXIT_REFUSED when wsetd said "ok": false.
 */
json_object *client_exchange(json_object *request, int *exit_code);

/* A request {"command": name}. */
json_object *client_request(const char *command);

/* The same for one VMM ({"vmm": id}), or for all when vmm is 0. */
json_object *client_request_for(const char *command, long vmm);

#endif
