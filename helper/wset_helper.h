/* SPDX-License-Identifier: MIT */
/*
 * libwset-helper - the in-VMM side of wset: links into a VMM (or is
 * injected by the wset-run launcher) and hands its guest memory to the
 * wsetd agent, then does for the agent what only the VMM's own address
 * space allows: zap page table entries of file pages being evicted, free
 * the anonymous staging pages, and report RAM added or removed later.
 *
 * The helper creates the userfaultfd itself, with kernel-mode faults (KVM,
 * vhost and every GUP caller must fault too: never UFFD_USER_MODE_ONLY),
 * and keeps its own reference to it, so that an agent that dies stalls
 * guest memory instead of letting it fill with zeroes.
 *
 * Every function returns 0 (or a non-negative value) or a negative errno
 * value and leaves errno alone.  Messages to the agent are described in
 * protocol.h and wsetd(8).
 */
#ifndef WSET_HELPER_H
#define WSET_HELPER_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

struct wset_helper;

/* Guest RAM: a shared mapping of memfd at offset (memfd, shmem, hugetlbfs),
 * or private anonymous memory (memfd -1). */
struct wset_helper_region {
	void *addr;
	uint64_t size;
	int memfd;
	uint64_t offset;
};

/*
 * Create the userfaultfd, connect to wsetd at socket_path (NULL: the
 * default /run/wsetd/wsetd.sock), hand the regions over under name (NULL:
 * none) and start serving the agent.  On failure error (may be NULL) says
 * why: the agent's refusal, or what the kernel refused.  -ECONNREFUSED /
 * -ENOENT: no agent; -EPERM: kernel-mode userfaultfd not allowed.
 */
int wset_helper_connect(const char *socket_path, const char *name,
			const struct wset_helper_region *regions,
			unsigned int count, struct wset_helper **out,
			char *error, size_t error_size);

/* The mechanism the agent uses ("rwp" or "wp") and the VMM's id there. */
const char *wset_helper_mechanism(const struct wset_helper *helper);
unsigned int wset_helper_vmm_id(const struct wset_helper *helper);

/* Hotplug: RAM mapped after connecting, and RAM about to be unmapped (the
 * agent brings its pages back and stops serving it first). */
int wset_helper_add_region(struct wset_helper *helper,
			   const struct wset_helper_region *region);
int wset_helper_remove_region(struct wset_helper *helper, void *addr,
			      uint64_t size);

/* Whether addr lies in guest RAM handed over. */
int wset_helper_covers(struct wset_helper *helper, const void *addr,
		       uint64_t size);

/*
 * Let go: the agent brings every page back and releases the VMM (waits
 * for it, up to timeout_ms), then the helper closes everything.  Returns
 * -ETIMEDOUT when the agent did not finish in time (the userfaultfd is
 * kept open then, so memory stays served or stalled, never zero-filled).
 */
int wset_helper_close(struct wset_helper *helper, int timeout_ms);

#ifdef __cplusplus
}
#endif

#endif
