/* SPDX-License-Identifier: MIT */
/* Exit codes of wsetctl: part of its interface, listed in wsetctl(1). */
#ifndef WSETCTL_EXIT_CODES_H
#define WSETCTL_EXIT_CODES_H

enum wsetctl_exit {
	WSETCTL_EXIT_OK = 0,
	WSETCTL_EXIT_REFUSED = 1, /* wsetd answered with an error */
	WSETCTL_EXIT_USAGE = 2,	  /* bad command line */
	WSETCTL_EXIT_CONNECT = 3, /* wsetd unreachable or its answer unreadable */
	WSETCTL_EXIT_PLOT = 4,	  /* gnuplot missing or failed */
};

#endif
