/* SPDX-License-Identifier: MIT */
/*
 * Messages between the in-VMM helper and wsetd, after the handshake (see
 * wsetd(8), "HANDSHAKE" and "HELPER MESSAGES").  The helper offers
 * {"helper": {"version": V, ...}} in the handshake; wsetd answers
 * "helper": V' (V' <= V, the version both speak) and from then on each
 * side sends fixed-size binary messages on the same socket, in host byte
 * order (both ends are on one machine).  A request gets exactly one reply
 * carrying its id; either side may have several requests in flight.
 * Unknown types are answered with -EOPNOTSUPP, never dropped.
 */
#ifndef WSET_HELPER_PROTOCOL_H
#define WSET_HELPER_PROTOCOL_H

#include <stdint.h>

#define WSET_HELPER_PROTOCOL_VERSION 1

enum wset_helper_type {
	/* wsetd -> helper */
	WSET_HELPER_ZAP = 1,	 /* MADV_DONTNEED [addr, addr + len) of guest
				    file memory: PTEs go, the file keeps it */
	WSET_HELPER_RELEASE = 2, /* MADV_DONTNEED [addr, addr + len) of the
				    staging area: its pages are freed */
	WSET_HELPER_MOVE = 3,	 /* UFFDIO_MOVE len bytes from offset to addr,
				    between guest anonymous memory and the
				    staging area (the kernel moves only
				    within the caller's mm); a short move is
				    -EAGAIN */
	/* helper -> wsetd */
	WSET_HELPER_ADD_REGION = 16,	/* guest RAM mapped at addr, len bytes;
					   a memfd as SCM_RIGHTS (file memory at
					   offset) or none (anonymous) */
	WSET_HELPER_REMOVE_REGION = 17, /* the region at addr is going away */
	/* either way */
	WSET_HELPER_REPLY = 0x100,	/* result: 0 (ADD_REGION: the region
					   id) or a negative errno value */
};

struct wset_helper_message {
	uint16_t version; /* WSET_HELPER_PROTOCOL_VERSION agreed on */
	uint16_t type;	  /* enum wset_helper_type */
	uint32_t size;	  /* sizeof(struct wset_helper_message) */
	uint64_t id;	  /* chosen by the requester; echoed by the reply */
	uint64_t addr;
	uint64_t len;
	uint64_t offset;
	int64_t result;	  /* replies only */
};

#endif
