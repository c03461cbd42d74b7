/* SPDX-License-Identifier: MIT */
/* Tell systemd (Type=notify) what wsetd is doing: READY=1, RELOADING=1,
 * STOPPING=1, STATUS=...  Does nothing outside systemd. */
#ifndef WSETD_NOTIFY_H
#define WSETD_NOTIFY_H

void notify_systemd(const char *format, ...) __attribute__((format(printf, 1, 2)));

#endif
