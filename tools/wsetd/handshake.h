/* SPDX-License-Identifier: MIT */
/*
 * The VMM handshake (see wsetd(8), "HANDSHAKE"): the regions of guest
 * memory as JSON, the userfaultfd and the memfds as SCM_RIGHTS.  This file
 * turns a parsed JSON document plus the received fds into regions, and
 * refuses anything it cannot serve, saying why.
 */
#ifndef WSETD_HANDSHAKE_H
#define WSETD_HANDSHAKE_H

#include <stddef.h>
#include <stdint.h>

#include <json-c/json.h>

#define HANDSHAKE_MAX_REGIONS 64
/* The userfaultfd plus one memfd per region at most. */
#define HANDSHAKE_MAX_FDS (1 + HANDSHAKE_MAX_REGIONS)
#define HANDSHAKE_MAX_BYTES 65536

struct handshake_region {
	uint64_t base_host_virt_addr;
	uint64_t size;
	uint64_t offset;
	uint64_t page_size;
	int memfd_index; /* index in handshake.fds; -1 for anonymous memory */
};

/* The handshake and reconnect messages' version (wsetd(8), "MESSAGES"). */
#define HANDSHAKE_VERSION 1
/* userfaultfd(2) flag a VMM must not use: kernel-mode faults would fail. */
#define HANDSHAKE_UFFD_USER_MODE_ONLY 1

struct handshake {
	char name[64];
	int version;		   /* 0 when the VMM sent none (Firecracker) */
	long long uffd_flags;	   /* declared by the VMM; -1 when not declared */
	unsigned int uffd_fdinfo_flags; /* file flags the kernel shows */
	uint64_t uffd_api_features; /* from fdinfo: non-zero once UFFDIO_API ran */
	char reconnect[33];	   /* the session token of a reconnect, else "" */
	json_object *regions_json; /* the regions array (borrowed from the document) */
	struct handshake_region regions[HANDSHAKE_MAX_REGIONS];
	int region_count;
	int fds[HANDSHAKE_MAX_FDS]; /* fds[0]: the userfaultfd */
	int fd_count;
};

/*
 * Fill the regions and name of handshake from document and check them
 * against the fds already in handshake->fds.  Returns 0, or -1 with a
 * message in error.
 */
int handshake_parse(json_object *document, struct handshake *handshake,
		    char *error, size_t error_size);

/* Close every received fd not yet handed over (set to -1). */
void handshake_close_fds(struct handshake *handshake);

#endif
