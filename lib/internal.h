/* SPDX-License-Identifier: MIT */
/* Internal state of libwset, shared by the files of lib/. */
#ifndef WSET_INTERNAL_H
#define WSET_INTERNAL_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "wset.h"
#include "uapi/userfaultfd.h"

#define WSET_MAX_REGIONS 64
/* Pages handled per eviction step (one sync window). */
#define WSET_BATCH_PAGES 256
/* How long a fault whose store read failed waits before the next try. */
#define WSET_RETRY_MS 5

/* Per-page state bits (struct wset_region.state). */
enum {
	PAGE_PRESENT = 1 << 0,	 /* resident in guest memory at the last look */
	PAGE_EVICTED = 1 << 1,	 /* content is in the store, not in memory */
	PAGE_BUSY = 1 << 2,	 /* an eviction or fetch step owns the page */
	PAGE_DISCARDED = 1 << 3, /* the VMM dropped it while busy */
	PAGE_UNMOVABLE = 1 << 4, /* UFFDIO_MOVE refused it; skip until touched */
	PAGE_RESOLVING = 1 << 5, /* a handler resolves a fault on it in place:
				    not to be evicted meanwhile */
	/* How often (0-3) a fault brought the page back from the store: it
	 * was called cold and was not, which the wp mechanism, blind to
	 * reads, does to every page that is only read. Such a page ages
	 * 2^n times slower, so it leaves half as often after each return. */
	PAGE_SHIELD = 3 << 6,
};
#define PAGE_SHIELD_SHIFT 6

enum wset_region_kind {
	REGION_ANON,
	REGION_FILE,
};

struct wset_region {
	int id;
	bool active;
	enum wset_region_kind kind;
	uint64_t addr; /* in the target process */
	uint64_t len;
	uint64_t page_size;
	uint64_t pages;
	bool hugetlb;
	bool evictable;
	int fd;		  /* file-backed: our duplicate */
	uint64_t offset;  /* file-backed: offset of addr in fd */
	dev_t dev;	  /* file-backed: the file, as other processes */
	ino_t ino;	  /* mapping it find it (group.c) */
	uint8_t *io_view; /* file-backed: our own unprotected mapping */
	uint64_t store_base;
	/* Per page, under wset.lock. */
	uint8_t *state;
	uint8_t *age;
	uint32_t *batch;
};

struct wset;

/*
 * What differs between the rwp and wp mechanisms.  Everything else (ages,
 * batches, copying, stores, faults) lives in the shared engine.
 */
struct wset_mechanism_ops {
	enum wset_mechanism mechanism;
	/* Features to ask UFFDIO_API for, given what the kernel offers. */
	uint64_t (*features)(uint64_t offered);
	/* UFFDIO_REGISTER mode for a region. */
	uint64_t (*register_mode)(const struct wset *ws,
				  const struct wset_region *region);
	/* Whether file-backed pages can be evicted race-free. */
	bool (*can_evict_file)(const struct wset *ws);
	/* Protect [start, end) so the next access is recorded. */
	int (*arm)(struct wset *ws, struct wset_region *region, uint64_t start,
		   uint64_t end);
	/* Mark touched[i] for pages of [start, end) accessed since the last
	 * arm; re-arm them when rearm is set. */
	int (*scan_touched)(struct wset *ws, struct wset_region *region,
			    uint64_t start, uint64_t end, uint8_t *touched,
			    bool rearm);
	/* Around one eviction step: make accesses to protected pages block. */
	int (*evict_begin)(struct wset *ws);
	int (*evict_end)(struct wset *ws);
	/* File-backed: keep guest accesses off the listed pages until the step
	 * ends (pages[i] are indexes; returns 0 or -errno). */
	int (*isolate_file)(struct wset *ws, struct wset_region *region,
			    const uint64_t *pages, size_t count);
	/* File-backed: give a page whose eviction was abandoned back. */
	int (*release_file)(struct wset *ws, struct wset_region *region,
			    uint64_t page);
	/* Resolve a protection fault on a page that is not being evicted,
	 * without waking the faulting thread: the caller does. */
	int (*resolve_protection)(struct wset *ws, struct wset_region *region,
				  uint64_t addr);
};

extern const struct wset_mechanism_ops __wset_rwp_ops;
extern const struct wset_mechanism_ops __wset_wp_ops;
extern const struct wset_mechanism_ops __wset_missing_ops;

/* Store requests in flight, counted (store_queue.c). */
struct wset_io_group {
	pthread_mutex_t lock;
	pthread_cond_t done;
	uint64_t outstanding;
};

struct wset {
	struct wset_config config;
	struct wset_policy policy;
	const struct wset_mechanism_ops *ops;
	uint64_t features; /* negotiated with UFFDIO_API */
	int uffd;
	int pagemap_fd;
	pid_t pid;
	bool remote;
	/* Adopted with WSET_ADOPT_RESUME and wset_resume() not done yet: a
	 * page not known to be evicted may still be one (atomic). */
	bool resuming;

	/* Protects regions' per-page arrays, region list, policy, counters
	 * that are not atomics. Never held across a uffd ioctl or madvise:
	 * they may need a handler thread to read an event first. */
	pthread_mutex_t lock;
	/* Serialises tick, eviction, restore and region removal. */
	pthread_mutex_t engine_lock;

	struct wset_region *regions[WSET_MAX_REGIONS];
	int region_count;
	uint64_t next_store_base;
	uint32_t next_batch;

	/* Anonymous eviction: where UFFDIO_MOVE puts pages, an area of the
	 * target process (ours, or the helper's in an adopted one), and where
	 * we read them (the area itself, or a local copy). */
	uint64_t staging;
	uint64_t staging_len;
	uint8_t *staging_local;
	bool staging_owned;  /* we mapped it (not adopted) */
	bool staging_broken; /* a release failed: no more anonymous eviction */

	/* The in-VMM helper of an adopted process (wset_set_helper()). */
	struct wset_helper helper;
	bool has_helper;

	struct wset_store *store;
	bool own_store;

	/* Processes sharing memory files with this one (group.c): set once
	 * by wset_share_memory(), kept until wset_free(). */
	struct wset_group *group;
	bool group_member; /* served from the group leader's store */

	/* Threads. */
	int stop_fd; /* eventfd: wakes handler threads to exit */
	pthread_t *fault_threads;
	void *handlers; /* per thread, with its retry slots (fault.c) */
	unsigned int fault_thread_count;
	struct wset_deferred *deferred; /* deferred.c: queued store drops */
	struct wset_io_group prefetches; /* fetch.c: prefetch gets in flight */
	pthread_t tracker;
	bool tracker_running;
	pthread_mutex_t tracker_lock;
	pthread_cond_t tracker_cond;
	bool tracker_stop;

	/* Eviction rate limit: byte budget refilled over time. */
	uint64_t rate_last_ns;
	uint64_t rate_budget;

	/* Page buffers for fetch-back, kept for reuse (under lock): a
	 * fresh huge page buffer per fault would cost more than the copy. */
	struct wset_buffer *buffers;

	struct wset_counters counters; /* updated with __wset_count() */
	uint8_t *zero_page;	       /* zeroes, for hugetlb zero fills */
	uint64_t max_page_size;
};

/* Counters are bumped from several threads without the lock. */
static inline void __wset_count(uint64_t *counter, uint64_t n)
{
	__atomic_fetch_add(counter, n, __ATOMIC_RELAXED);
}

static inline uint64_t __wset_page_addr(const struct wset_region *region,
					uint64_t page)
{
	return region->addr + page * region->page_size;
}

uint64_t __wset_now_ns(void);

/* struct_size.c: a struct the caller passes in (size at least the known
 * layout, at most limit, zero from used on) and one the library fills (up
 * to the caller's size, never past the known layout). */
int __wset_struct_check(const void *caller, uint32_t size, size_t used,
			size_t known, size_t limit);
int __wset_struct_fill(void *caller, uint32_t size, const void *filled,
		       size_t known);
#define WSET_STRUCT_CHECK(ptr, type, limit)                                 \
	__wset_struct_check((ptr), (ptr)->size, offsetof(type, reserved),   \
			    sizeof(type), (limit))
#define WSET_STRUCT_FILL(ptr, filled)                                       \
	__wset_struct_fill((ptr), (ptr)->size, (filled), sizeof(*(filled)))
/* wset_config embeds the policy: it grows only into its reserved space. */
#define WSET_POLICY_CHECK(policy)                                           \
	WSET_STRUCT_CHECK((policy), struct wset_policy, sizeof(struct wset_policy))

/* probe.c */
int __wset_query_features(uint64_t *features);
uint64_t __wset_common_features(uint64_t offered);
int __wset_select(const struct wset_config *config,
		  const struct wset_probe *probe,
		  const struct wset_mechanism_ops **ops);

/* uffd.c: thin wrappers returning -errno. */
void __wset_mm_wait(void);
int __wset_uffd_open(void);
int __wset_uffd_api(int uffd, uint64_t features, uint64_t *ioctls);
int __wset_uffd_register(int uffd, uint64_t addr, uint64_t len, uint64_t mode,
			 uint64_t *ioctls);
int __wset_uffd_unregister(int uffd, uint64_t addr, uint64_t len);
int __wset_uffd_wake(int uffd, uint64_t addr, uint64_t len);
int __wset_uffd_copy(int uffd, uint64_t dst, const void *src, uint64_t len,
		     bool wake);
int __wset_uffd_zeropage(int uffd, uint64_t addr, uint64_t len, bool wake);
int __wset_uffd_continue(int uffd, uint64_t addr, uint64_t len, uint64_t mode);
int __wset_uffd_move(int uffd, uint64_t dst, uint64_t src, uint64_t len);
/* Many pages in one call: 0 when all of len moved, else -errno with
 * *moved the bytes that did (the rest is for the caller to retry). */
int __wset_uffd_move_run(int uffd, uint64_t dst, uint64_t src, uint64_t len,
			 uint64_t *moved);
int __wset_uffd_writeprotect(int uffd, uint64_t addr, uint64_t len, bool protect);
int __wset_uffd_rwprotect(int uffd, uint64_t addr, uint64_t len, uint64_t mode);
int __wset_uffd_set_mode(int uffd, uint64_t enable, uint64_t disable);
int __wset_uffd_features(int uffd, uint64_t *features);
int __wset_uffd_poison(int uffd, uint64_t addr, uint64_t len);
/* The kernel's bit in the features word once UFFDIO_API has run
 * (UFFD_FEATURE_INITIALIZED in fs/userfaultfd.c; not UAPI). */
#define WSET_UFFD_INITIALIZED (1ull << 31)

/* resume.c */
int __wset_resume_mechanism(const struct wset_config *config, uint64_t features,
			    const struct wset_mechanism_ops **ops);

/* helper.c */
bool __wset_reaches_target(const struct wset *ws);
int __wset_zap(struct wset *ws, uint64_t addr, uint64_t len);
int __wset_staging_release(struct wset *ws, uint64_t addr, uint64_t len);
int __wset_move(struct wset *ws, uint64_t dst, uint64_t src, uint64_t len);
int __wset_staging_read(struct wset *ws, uint64_t addr, void *buf, uint64_t len);

/* group.c: processes mapping the same memory files, one store. */
struct wset_group;
int __wset_group_fault(struct wset *ws, uint64_t address, uint64_t flags);
int __wset_group_isolate(struct wset *ws, struct wset_region *region,
			 const uint64_t *pages, size_t count);
void __wset_group_wake(struct wset *ws, struct wset_region *region,
		       uint64_t first, uint64_t count);
void __wset_group_leave(struct wset *ws, bool kept_pages);
void __wset_group_put(struct wset *ws);

/* pagemap.c */
typedef void (*__wset_scan_fn)(void *arg, uint64_t start, uint64_t end,
			       uint64_t categories);
int __wset_pagemap_scan(int pagemap_fd, uint64_t start, uint64_t end,
			uint64_t flags, uint64_t category_mask,
			uint64_t anyof_mask, uint64_t return_mask,
			__wset_scan_fn fn, void *arg);
int __wset_pagemap_mark(struct wset *ws, struct wset_region *region,
			uint64_t start, uint64_t end, uint64_t flags,
			uint64_t category_mask, uint64_t anyof_mask,
			uint8_t *marks);
bool __wset_page_present(struct wset *ws, uint64_t addr);
int __wset_pagemap_mark_each(struct wset *ws, struct wset_region *region,
			     uint64_t start, uint64_t end, uint64_t flags,
			     uint64_t category_mask, uint64_t anyof_mask,
			     uint8_t *marks, __wset_scan_fn then, void *then_arg);

/* region.c */
struct wset_region *__wset_find_region(struct wset *ws, uint64_t addr);
struct wset_region *__wset_active_region(struct wset *ws, int index);
int __wset_maps_covered(pid_t pid, uint64_t addr, uint64_t len, bool file);
void __wset_region_free(struct wset_region *region);

/* track.c */
int __wset_tick_locked(struct wset *ws);

/* evict.c */
int __wset_evict_locked(struct wset *ws, unsigned int min_age,
			uint64_t max_bytes, uint64_t *evicted);

/* policy.c */
uint64_t __wset_policy_budget(struct wset *ws, const struct wset_policy *policy);
void __wset_policy_spent(struct wset *ws, uint64_t bytes);

/* stats.c (called with ws->lock held) */
uint64_t __wset_resident_bytes(struct wset *ws);

/* fetch.c */
enum wset_fetch_reason {
	FETCH_FAULT,
	FETCH_PREFETCH,
	FETCH_RESTORE,
};
int __wset_fetch(struct wset *ws, struct wset_region *region, uint64_t page,
		 enum wset_fetch_reason reason);
void __wset_buffers_free(struct wset *ws);
int __wset_zero_fill(struct wset *ws, struct wset_region *region,
		     uint64_t addr);
int __wset_restore_region_locked(struct wset *ws, struct wset_region *region);
void __wset_fetch_finish(struct wset *ws, struct wset_region *region,
			 uint64_t page, uint64_t count);
/* Prefetch around a faulting page, one page per step (see fetch.c). */
struct wset_prefetch {
	struct wset_region *region;
	uint64_t page;		/* the faulting page */
	uint32_t batch;		/* its eviction step */
	unsigned int distance;	/* of the next candidate */
	bool below;		/* the next candidate is below the page */
	unsigned int budget;	/* pages still to bring back */
};
void __wset_prefetch_begin(struct wset *ws, struct wset_prefetch *prefetch,
			   struct wset_region *region, uint64_t page);
/* Bring back the next page; false when nothing is left to do. */
bool __wset_prefetch_step(struct wset *ws, struct wset_prefetch *prefetch);
/* Wait for the prefetch gets in flight (after the handlers stop, and
 * before a flush of the deferred drops). */
void __wset_prefetch_drain(struct wset *ws);

/* fault.c */
int __wset_fault_threads_start(struct wset *ws);
void __wset_fault_threads_stop(struct wset *ws);

/* store_queue.c: store requests with completions.  The caller fills
 * req.io, req.count, req.write, complete and group (struct wset_io_group
 * is above); complete runs on whichever thread completes the request,
 * before the group counts it done.  __wset_io_drain() waits for a group's
 * requests; __wset_io_wait() drains it, then ends it. */
struct wset_io {
	struct wset_store_request req;
	struct wset_io_group *group;
	void (*complete)(struct wset_io *io);
	struct wset *ws;	/* set by __wset_io_submit() */
};
void __wset_io_group_init(struct wset_io_group *group);
/* Never fails: a request the store refuses completes at once, with every
 * result the error. */
void __wset_io_submit(struct wset *ws, struct wset_io *io);
void __wset_io_drain(struct wset_io_group *group);
void __wset_io_wait(struct wset_io_group *group);

/* deferred.c: store drops, done after the faulting thread was woken. */
struct wset_deferred;
int __wset_deferred_start(struct wset *ws);
/* After the handler threads stopped: finishes what is queued. */
void __wset_deferred_stop(struct wset *ws);
/* Queue the drop of a fetched page's store copy, or drop it now when the
 * queue is full. */
void __wset_defer_drop(struct wset *ws, struct wset_region *region, uint64_t page);
/* Handler threads, when no fault came for a while: one run of drops;
 * true when more is queued.  They never wait for messages while
 * __wset_deferred_pending(). */
bool __wset_deferred_step(struct wset *ws);
bool __wset_deferred_pending(struct wset *ws);
/* A flush is waiting: handler threads drop at once, between faults. */
bool __wset_deferred_urgent(struct wset *ws);
/* Wait until everything queued so far is done.  Never from a handler
 * thread, nor with ws->lock held.  Eviction, restore and the counters
 * call it, so that they see every fetched page settled. */
void __wset_deferred_flush(struct wset *ws);

/* tracker.c */
void __wset_tracker_stop(struct wset *ws);

/* store_file.c: the temporary file store drops a run of adjacent pages
 * in one call (keys are file offsets). */
bool __wset_store_takes_runs(const struct wset_store *store);

/* store_journal.c: the index journal of a named store. */
struct wset_journal;
int __wset_journal_open(const char *path, struct wset_journal **out);
int __wset_journal_record(struct wset_journal *journal, bool put, uint64_t key,
			  uint64_t len);
int __wset_journal_sync(struct wset_journal *journal);
uint64_t __wset_journal_stored_bytes(struct wset_journal *journal);
int __wset_journal_each(struct wset_journal *journal,
			int (*fn)(void *arg, uint64_t key, size_t len), void *arg);
void __wset_journal_close(struct wset_journal *journal);

/* store.c */
static inline uint64_t __wset_store_key(const struct wset_region *region,
					uint64_t page)
{
	return region->store_base + page * region->page_size;
}

#endif /* WSET_INTERNAL_H */
