/* SPDX-License-Identifier: MIT */
/*
 * The service manager's side channel (systemd, Type=notify): what wsetd is
 * doing (READY=1, RELOADING=1, STOPPING=1, STATUS=...), and its fd store:
 * each VMM's userfaultfd and memfds are kept there under the session token
 * (FDSTORE=1, FDNAME=token), so that a wsetd restarted after a crash gets
 * them back (LISTEN_FDS, LISTEN_FDNAMES) without help from the VMM.
 * Everything does nothing outside a service manager ($NOTIFY_SOCKET unset).
 *
 * The dynamic build uses libsystemd (sd_pid_notify_with_fds,
 * sd_listen_fds_with_names); Debian ships no static libsystemd, so the
 * static build (the test guest) speaks the same datagram protocol itself.
 */
#ifndef WSETD_NOTIFY_H
#define WSETD_NOTIFY_H

#include <stdbool.h>

void notify_systemd(const char *format, ...) __attribute__((format(printf, 1, 2)));

/* Keep fds in the fd store under name; false when there is no manager or
 * it refused. */
bool notify_fd_store(const char *name, const int *fds, int count);

/* Forget the fds kept under name. */
void notify_fd_store_remove(const char *name);

/* The fds the manager passed at start: calls fn for each run of fds with
 * the same name (in the order they were stored), then forgets the
 * environment.  Returns the number of fds passed. */
int notify_listen_fds(void (*fn)(void *arg, const char *name, const int *fds, int count),
		      void *arg);

#endif
