/* SPDX-License-Identifier: MIT */
/*
 * The VMM side of the wsetd handshake (wsetd(8), "HANDSHAKE"): create a
 * userfaultfd, connect to wsetd, send the regions as JSON with the
 * userfaultfd and the memfds as SCM_RIGHTS, read the answer.  A real VMM
 * does the same; the demo VMM and the agent tests use this.
 */
#ifndef DEMO_HANDOVER_H
#define DEMO_HANDOVER_H

#include <fcntl.h>
#include <stddef.h>
#include <stdint.h>

/* The flags the userfaultfd is created with, declared in the handshake as
 * "uffd_flags": never UFFD_USER_MODE_ONLY. */
#define HANDOVER_UFFD_FLAGS (O_CLOEXEC | O_NONBLOCK)
/* The version of the messages this side speaks (wsetd(8), "MESSAGES"). */
#define HANDOVER_VERSION 1

struct handover_region {
	uint64_t base;	    /* address in this process */
	uint64_t size;
	uint64_t page_size; /* 4096, or the huge page size of a hugetlbfs memfd */
	int memfd;	    /* -1 for anonymous memory */
	uint64_t offset;    /* of base in memfd */
};

struct handover_result {
	int socket_fd; /* keep open while wsetd serves this VMM */
	int uffd;      /* the VMM's own reference: keep it for the VMM's life */
	unsigned int vmm_id;
	char mechanism[16];
	char session[33]; /* the token a reconnect names */
	int resumed_pages; /* after a reconnect: evicted pages wsetd took over */
	char error[256]; /* why it failed */
};

/* The handshake document for regions ("name" may be NULL): the caller
 * frees it.  Memfds are numbered in the order of first use from 1. */
char *handover_document(const char *name, const struct handover_region *regions,
			int count);

/*
 * Hand the regions to wsetd at socket_path.  Creates the userfaultfd,
 * sends it and keeps this process's reference in result->uffd: should
 * wsetd die, guest memory stalls until an agent is back instead of being
 * unregistered with every evicted page turned into zeroes.  Returns 0, or
 * -1 with result->error set.
 */
int handover(const char *socket_path, const char *name,
	     const struct handover_region *regions, int count,
	     struct handover_result *result);

/*
 * After wsetd went away without releasing the VMM (it died or is being
 * restarted): connect again and send the reconnect message (wsetd(8),
 * "MESSAGES") with the same regions, the VMM's userfaultfd and memfds.
 * On success result->socket_fd is the new connection.  Returns 0, or -1
 * with result->error set (result->uffd is kept either way).
 */
int handover_reconnect(const char *socket_path, const char *name,
		       const struct handover_region *regions, int count,
		       struct handover_result *result);

/* Send raw bytes with the given fds attached (for tests of malformed
 * handshakes); returns the connected socket or -1. */
int handover_send_raw(const char *socket_path, const void *data, size_t length,
		      const int *fds, int fd_count);

/* Read wsetd's one-line answer (up to size-1 bytes) within timeout_ms.
 * Returns its length, 0 on end of file, -1 on error or timeout. */
int handover_read_answer(int socket_fd, char *answer, size_t size, int timeout_ms);

/* A new userfaultfd (UFFDIO_API not called), or -errno.  Created with
 * HANDOVER_UFFD_FLAGS; there is no user-mode-only fallback. */
int handover_userfaultfd(void);

/* Close the connection and the VMM's userfaultfd reference. */
void handover_close(struct handover_result *result);

#endif
