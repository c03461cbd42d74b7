/* SPDX-License-Identifier: MIT */
/* Exit codes of wsetd: part of its interface, listed in wsetd(8). */
#ifndef WSETD_EXIT_CODES_H
#define WSETD_EXIT_CODES_H

enum wsetd_exit {
	WSETD_EXIT_OK = 0,	      /* stopped by TERM/INT, every page returned */
	WSETD_EXIT_FAILURE = 1,	      /* an unexpected run-time error */
	WSETD_EXIT_USAGE = 2,	      /* bad command line or configuration */
	WSETD_EXIT_SOCKET = 3,	      /* a socket could not be set up */
	WSETD_EXIT_UNSUPPORTED = 4,   /* the kernel offers no usable mechanism */
	WSETD_EXIT_RESTORE_FAILED = 5, /* stopped, but some pages stayed in a store */
};

#endif
