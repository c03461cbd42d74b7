/* SPDX-License-Identifier: MIT */
/*
 * libwset - working-set tracking, race-free eviction and fetch-back of
 * guest memory for virtual machine monitors.
 *
 * A struct wset owns (or adopts) one userfaultfd and a set of regions of
 * guest memory.  Every tracking interval it asks the kernel which pages were
 * touched, keeps an age per page (intervals since the last access), and,
 * following a policy, moves cold pages to a store.  Handler threads bring
 * evicted pages back when they are touched again.
 *
 * Conventions
 * - Every function returns 0 (or a non-negative value) on success and a
 *   negative errno value on failure.  No function reads or changes errno.
 * - Handles are opaque.  Configuration structs are initialised with the
 *   designated-initializer macros below and then adjusted field by field.
 * - There is no global state: any number of handles may coexist.
 * - Addresses are uint64_t because, with wset_adopt(), they belong to
 *   another process's address space.
 *
 * Structs the caller allocates (wset_config, wset_policy, wset_adopt,
 * wset_store_ops, wset_probe, wset_counters) start with a size member and
 * end with reserved space, so that they can grow without breaking
 * binaries built against an older header:
 * - Initialise them only with their WSET_*_INIT macro, which sets size to
 *   sizeof the struct of the header the caller was built with and zeroes
 *   the reserved space; never clear or copy them by hand.
 * - Structs the library reads are refused with -EINVAL when size is
 *   smaller than the first stable layout (this header's), larger than
 *   WSET_STRUCT_SIZE_MAX, or when any reserved byte, or any byte beyond
 *   the layout the library knows, is not zero.  New members take the
 *   reserved space or are appended; zero always means the behaviour
 *   before they existed.
 * - Structs the library fills (wset_probe, wset_counters, the policy of
 *   wset_get_policy()) are filled up to size bytes at most, and never
 *   beyond the layout the library knows; size itself is left as it is.
 */
#ifndef WSET_H
#define WSET_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <sys/uio.h>

#ifdef __cplusplus
extern "C" {
#endif

#define WSET_VERSION_MAJOR 1
#define WSET_VERSION_MINOR 2

/* Largest size accepted in the size member of an extensible struct. */
#define WSET_STRUCT_SIZE_MAX 4096u

struct wset;

/* Tracking mechanisms; chosen from what UFFDIO_API reports. */
enum wset_mechanism {
	WSET_MECHANISM_AUTO = 0, /* rwp if the kernel has it, else wp */
	WSET_MECHANISM_RWP = 1,	 /* UFFD_FEATURE_RWP(_ASYNC): sees reads and writes */
	WSET_MECHANISM_WP = 2,	 /* UFFD_FEATURE_WP_ASYNC + PAGEMAP_SCAN: writes only */
	/* Only with WSET_ADOPT_RESUME, for a uffd its VMM initialised without
	 * tracking (Firecracker's order): no tracking, no eviction; MISSING
	 * faults served from the store, zeroes for pages never stored. */
	WSET_MECHANISM_MISSING_ONLY = 3,
};

/* Number of buckets of the idle-age histogram (see wset_histogram()). */
#define WSET_AGE_BUCKETS 10
/* Number of buckets of the fault-latency histogram (see wset_counters()). */
#define WSET_LATENCY_BUCKETS 24
/* Ages saturate at this value. */
#define WSET_AGE_MAX 255

/*
 * Store interface.  A store keeps evicted pages, addressed by a 64-bit key
 * the library chooses (unique per page, multiple of the page size).  Every
 * callback returns 0 or a negative errno value.  The library serialises no
 * calls: a store must accept concurrent calls for different keys.
 *
 * put:   keep len bytes of data under key (overwriting any older copy).
 * get:   copy the len bytes kept under key into buf.
 * drop:  forget key; the library never gets a dropped key again.
 * stats: fill *stats.
 * close: release everything (called by wset_store_close()).
 *
 * sync:  optional (NULL: nothing to do): make every put so far as durable
 *        as the store promises.  The library calls it after each eviction
 *        step's puts and before any of those pages leaves guest memory; a
 *        failing sync abandons the whole step.
 * each:  optional (NULL: the store cannot list): call fn for every key the
 *        store holds, with its length, stopping at fn's first non-zero
 *        return (which each returns).  wset_resume() learns from it which
 *        pages a previous agent evicted.
 *
 * put_batch, get_batch: optional (NULL: the library calls put and get page
 *        by page): count requests at once, each a key and the iovecs of
 *        its data (iovcnt 1 or more, len bytes in all); the store fills
 *        each request's result (0 or a negative errno value: its
 *        completion) before it returns.  The return value is 0, or a
 *        negative errno value when no request was attempted (every result
 *        then counts as that error).  Requests of one batch are for
 *        different keys; a store may merge those for adjacent keys (one
 *        pwritev).
 *
 * submit: optional (since 1.2; NULL: the library runs each request at
 *        once, in order, with put_batch/get_batch or put/get): start req, count
 *        requests that are all puts (req->write) or all gets, and return
 *        0; then call req->done(req) once, from any thread (the calling
 *        one included, before submit returns), when every request's result
 *        is filled.  Or return a negative errno value having started
 *        nothing: done is then never called.  Until done, io, its iovecs
 *        and the memory they name stay valid and untouched by the library.
 *
 * The library puts each eviction step's pages as requests of up to
 * WSET_STORE_REQUEST_PAGES pages, all in flight together when the store
 * has submit: it sees puts of one step concurrently.  With submit, a
 * fault's prefetch comes as one get request per page, all in flight
 * together, and done may call drop for those pages before it returns (so
 * the store calls done without holding a lock its drop takes).  A fault's
 * own page and restores use get, one page at a time.
 *
 * A failing put abandons the eviction of that page (it stays resident); a
 * failing get is retried until it succeeds, the faulting thread stays
 * blocked meanwhile.  Both are counted.  A page is never lost.
 *
 * Define the ops with WSET_STORE_OPS_INIT(), naming the callbacks the store
 * has; it sets size and leaves every other member (and the reserved slots)
 * NULL.  A store's stats callback fills only the members it knows: the
 * library zeroes the struct first, reserved space included.
 */
struct wset_store_stats {
	uint64_t stored_bytes;	/* bytes currently kept */
	uint64_t capacity_bytes; /* 0 when unbounded */
	uint64_t put_count;
	uint64_t get_count;
	uint64_t error_count;
	/* In what was reserved space: requests a store sent on to another
	 * server as the first one answered (libwset-store's Redis tier:
	 * Redis Cluster ASK); 0 from other stores and older libraries. */
	uint64_t redirect_count;
	uint64_t reserved[2];	/* left zero */
};

struct wset_store_io {
	uint64_t key;
	const struct iovec *iov;
	int iovcnt;
	int result;	/* filled by the store */
};

/* Pages of one eviction request (see submit above). */
#define WSET_STORE_REQUEST_PAGES 32

struct wset_store_request {
	struct wset_store_io *io;
	unsigned int count;
	int write;	/* 1: put, 0: get */
	/* Set by the caller: called once every io[].result is filled. */
	void (*done)(struct wset_store_request *req);
	void *arg;	/* the caller's */
};

struct wset_store_ops {
	uint32_t size;	/* sizeof(struct wset_store_ops), set by the macro */
	int (*put)(void *priv, uint64_t key, const void *data, size_t len);
	int (*get)(void *priv, uint64_t key, void *buf, size_t len);
	int (*drop)(void *priv, uint64_t key, size_t len);
	int (*stats)(void *priv, struct wset_store_stats *stats);
	void (*close)(void *priv);
	int (*sync)(void *priv);
	int (*each)(void *priv, int (*fn)(void *arg, uint64_t key, size_t len),
		    void *arg);
	/* Since 1.1, in what was reserved space: NULL before. */
	int (*put_batch)(void *priv, struct wset_store_io *io, unsigned int count);
	int (*get_batch)(void *priv, struct wset_store_io *io, unsigned int count);
	/* Since 1.2, in what was reserved space: NULL before. */
	int (*submit)(void *priv, struct wset_store_request *req);
	void *reserved[1];	/* NULL */
};

#define WSET_STORE_OPS_INIT(...)                                             \
	{                                                                    \
		.size = sizeof(struct wset_store_ops), __VA_ARGS__           \
	}

struct wset_store {
	const struct wset_store_ops *ops;
	void *priv;
};

/*
 * Open a sparse-file store.  path names a directory (an unlinked temporary
 * file is created in it) or a file (created or truncated).  Pages are kept
 * at their key as file offset; dropped pages are hole-punched.  *out must be
 * released with wset_store_close() after the last wset using it is gone.
 */
int wset_file_store_open(const char *path, struct wset_store **out);

/*
 * How durable a page's stored copy is before the page leaves guest memory.
 * WRITTEN: written to the store file (the kernel's page cache) and
 *          journalled: survives any crash or kill of the agent, not a
 *          crash of the host.
 * FSYNC:   also fdatasync()ed, data then journal, once per eviction step:
 *          survives a host crash or power loss too, at the cost of two
 *          flushes per step.
 */
enum wset_durability {
	WSET_DURABILITY_WRITTEN = 0,
	WSET_DURABILITY_FSYNC = 1,
};

/*
 * Open a named, persistent store: directory/name.pages (the sparse page
 * file) and directory/name.journal (the index journal), both created with
 * mode 0600 when missing.  Existing files are reopened and the journal
 * replayed, so the store holds every page put and not dropped before a
 * crash (the store's each callback lists them).  name: 1 to 128 characters
 * from [A-Za-z0-9._-], not starting with a dot.  Errors: -EINVAL (bad
 * name or durability), or what open(2) and reading the journal gave.
 */
int wset_named_store_open(const char *directory, const char *name,
			  enum wset_durability durability,
			  struct wset_store **out);

/* Remove a named store's files (once every page is back in memory).
 * -ENOENT when there was none. */
int wset_named_store_remove(const char *directory, const char *name);

/* Close a store opened by wset_file_store_open() (or any store whose ops
 * have a close callback).  Accepts NULL. */
void wset_store_close(struct wset_store *store);

/*
 * Eviction policy, applied after every tracking interval when enabled.
 * min_idle_age:      evict only pages idle for at least this many intervals.
 *                    A page a fault brought back from the store ages
 *                    every 2nd, 4th, then 8th interval after its 1st, 2nd,
 *                    then 3rd return (see wset_set_policy(3)).
 * resident_target:   stop evicting once resident bytes are at or below this
 *                    (0: no target, evict every page old enough).
 * max_evict_rate:    bytes per second at most (0: unlimited).
 *
 * wset_config embeds this struct, so it grows only into its reserved space:
 * its size is always sizeof(struct wset_policy).
 */
struct wset_policy {
	uint32_t size;
	bool enabled;
	unsigned int min_idle_age;
	uint64_t resident_target;
	uint64_t max_evict_rate;
	uint64_t reserved[4];
};

#define WSET_POLICY_INIT                                                     \
	{                                                                    \
		.size = sizeof(struct wset_policy), .enabled = false,        \
		.min_idle_age = 4, .resident_target = 0, .max_evict_rate = 0, \
	}

/*
 * Library configuration.
 * mechanism:      WSET_MECHANISM_AUTO, or one to insist on (-EOPNOTSUPP
 *                 when the kernel lacks it).
 * interval_ms:    tracking interval used by wset_start().
 * wss_age:        a page belongs to the working set when its age is below
 *                 this (1: touched during the last interval).
 * fault_threads:  handler threads serving faults (1..64).  With one,
 *                 events (REMOVE, UNMAP, REMAP) and faults are handled in
 *                 the order the kernel sent them; with more, a fault may
 *                 overtake an earlier event.
 * prefetch_pages: on a fault on an evicted page, also bring back up to this
 *                 many pages evicted in the same batch (0: none).
 * store:          where evicted pages go; NULL: a sparse-file store in
 *                 store_dir owned by the wset.
 * store_dir:      directory for the default store (NULL: $TMPDIR or /var/tmp).
 * policy:         initial eviction policy.
 * fetch_retries:  a fault whose page the store cannot give is retried every
 *                 5 ms; after this many tries (0: 200, about 1 s) it is
 *                 escalated: counted in wset_counters.fault_escalations and
 *                 .stalled_faults, then handled by last_resort.
 * last_resort:    WSET_LAST_RESORT_WAIT: keep retrying (the faulting thread
 *                 waits, the store may recover); WSET_LAST_RESORT_POISON:
 *                 UFFDIO_POISON the page, so the access fails with SIGBUS
 *                 (a memory error the VMM can forward to the guest) and the
 *                 stored copy is kept.  -EOPNOTSUPP at creation when the
 *                 kernel lacks UFFD_FEATURE_POISON.  A fault is never
 *                 answered with zeroes for a page the store holds.
 */
enum wset_last_resort {
	WSET_LAST_RESORT_WAIT = 0,
	WSET_LAST_RESORT_POISON = 1,
};

struct wset_config {
	uint32_t size;
	enum wset_mechanism mechanism;
	unsigned int interval_ms;
	unsigned int wss_age;
	unsigned int fault_threads;
	unsigned int prefetch_pages;
	struct wset_store *store;
	const char *store_dir;
	struct wset_policy policy;
	unsigned int fetch_retries;
	enum wset_last_resort last_resort;
	uint64_t reserved[8];
};

#define WSET_CONFIG_INIT                                                     \
	{                                                                    \
		.size = sizeof(struct wset_config),                          \
		.mechanism = WSET_MECHANISM_AUTO, .interval_ms = 1000,       \
		.wss_age = 1, .fault_threads = 1, .prefetch_pages = 16,      \
		.store = NULL, .store_dir = NULL,                            \
		.policy = WSET_POLICY_INIT, .fetch_retries = 200,            \
		.last_resort = WSET_LAST_RESORT_WAIT,                        \
	}

/*
 * What the running kernel offers (wset_probe()).  missing names what a
 * kernel lacks when neither mechanism is available, else "".
 */
struct wset_probe {
	uint32_t size;
	uint64_t uffd_features;	 /* as reported by UFFDIO_API */
	bool has_rwp;		 /* UFFD_FEATURE_RWP and UFFD_FEATURE_RWP_ASYNC */
	bool has_wp_async;	 /* UFFD_FEATURE_WP_ASYNC */
	bool has_pagemap_scan;	 /* the PAGEMAP_SCAN ioctl */
	bool has_move;		 /* UFFD_FEATURE_MOVE (anon eviction) */
	enum wset_mechanism best; /* AUTO when none is usable */
	char missing[128];
	uint64_t reserved[4];
};

#define WSET_PROBE_INIT { .size = sizeof(struct wset_probe) }

/* Ask the kernel what it supports.  Opens and closes a scratch
 * userfaultfd; -EPERM or -ENOSYS when userfaultfd is not available. */
int wset_probe(struct wset_probe *out);

/*
 * Create a wset for memory of the calling process: opens a userfaultfd,
 * negotiates features for the chosen mechanism, starts cfg->fault_threads
 * handler threads.  cfg NULL means WSET_CONFIG_INIT.  -EOPNOTSUPP when no
 * usable mechanism exists (wset_probe() says why).
 */
int wset_create(const struct wset_config *cfg, struct wset **out);

/*
 * Adopt the userfaultfd of another process (an agent such as wsetd receives
 * it over SCM_RIGHTS).  The regions then added are addresses in that
 * process.  The agent only ever reaches that memory through the uffd
 * ioctls, the I/O view of each file-backed region (its own mapping of the
 * memfd) and PAGEMAP_SCAN on the process's pagemap.
 *
 * uffd:            the userfaultfd; UFFDIO_API must not have been called on
 *                  it yet (the library negotiates features).  Ownership
 *                  passes to the wset on success.
 * pid:             the process that created the uffd.
 * pagemap_fd:      an open /proc/<pid>/pagemap, or -1 to open it from pid.
 *                  Ownership passes to the wset on success.
 *
 * flags:           0, or WSET_ADOPT_RESUME: the uffd was set up already
 *                  (UFFDIO_API done, regions registered), by an earlier
 *                  agent that died or was restarted, or by the VMM itself.
 *                  The mechanism and features are read from the uffd's
 *                  fdinfo instead of negotiated: rwp or wp as the earlier
 *                  agent chose, WSET_MECHANISM_MISSING_ONLY for features
 *                  without tracking.  Add the same regions in the same
 *                  order as before, then call wset_resume(): until it
 *                  returns, faults on pages not known to be evicted wait
 *                  (the store may hold them), never zero-filled.  -EINVAL
 *                  if UFFDIO_API was never called on it.
 *
 * Without an in-VMM helper (wset_set_helper()), anonymous regions of an
 * adopted process are tracked and fetched back but not evicted (freeing
 * the staging copy needs MADV_DONTNEED in that process), and with the wp
 * mechanism file-backed regions are not evicted either (a race-free drop
 * needs RWP's sync mode or a PTE zap in that process).  Such pages are
 * counted in wset_counters.unevictable_pages.
 */
struct wset_adopt {
	uint32_t size;
	int uffd;
	pid_t pid;
	int pagemap_fd;
	unsigned int flags;
	uint32_t reserved[7];
};

#define WSET_ADOPT_RESUME (1u << 0)

#define WSET_ADOPT_INIT                                                      \
	{                                                                    \
		.size = sizeof(struct wset_adopt), .uffd = -1, .pid = 0,     \
		.pagemap_fd = -1, .flags = 0,                                \
	}

int wset_adopt(const struct wset_config *cfg, const struct wset_adopt *adopt,
	       struct wset **out);

/*
 * The in-VMM helper of an adopted process: what only that process can do
 * in its own address space, reached by the agent through these callbacks
 * (wsetd forwards them to the helper over the handshake socket).  Both
 * return 0 or a negative errno value; they may block, but must not wait
 * for the wset's handler threads' callers (the tracker or wset_evict()).
 *
 * zap:           drop the page table entries of [addr, addr + len), a
 *                range of a file-backed region (MADV_DONTNEED there): the
 *                pages stay in the file, the next access faults.
 * release:       free the pages of [addr, addr + len) of the staging area
 *                (MADV_DONTNEED there).
 * move:          UFFDIO_MOVE len bytes from src to dst on the shared
 *                userfaultfd, done in the target (the kernel refuses moves
 *                from another mm); between an anonymous region and the
 *                staging area.  A short move is -EAGAIN.
 * staging_addr:  a private anonymous mapping of at least
 *                WSET_HELPER_STAGING_BYTES in the target, page aligned,
 *                never touched by it (UFFDIO_MOVE puts evicted anonymous
 *                pages there; the wset reads them with process_vm_readv()).
 * size, reserved: as for every struct a caller allocates (WSET_HELPER_INIT).
 */
#define WSET_HELPER_STAGING_BYTES (256u * 4096u)

struct wset_helper {
	uint32_t size; /* sizeof(struct wset_helper): WSET_HELPER_INIT sets it */
	int (*zap)(void *priv, uint64_t addr, uint64_t len);
	int (*release)(void *priv, uint64_t addr, uint64_t len);
	int (*move)(void *priv, uint64_t dst, uint64_t src, uint64_t len);
	void *priv;
	uint64_t staging_addr;
	uint64_t staging_len;
	uint64_t reserved[4];
};

#define WSET_HELPER_INIT { .size = sizeof(struct wset_helper) }

/*
 * Give an adopted wset its helper, before any region is added: then both
 * mechanisms evict file-backed and anonymous regions of that process.
 * The struct is copied.  -EINVAL (not adopted, bad fields, reserved not
 * zero), -EBUSY (regions already added).
 */
int wset_set_helper(struct wset *ws, const struct wset_helper *helper);

/*
 * Serve member, an adopted process mapping the same memory files as
 * leader (a vhost-user backend of the VMM leader serves), from leader's
 * store: before any region of member is added.  Member's file regions are
 * then registered MINOR as well and never evicted by member itself; the
 * leader's eviction steps keep member's accesses off each batch too, and a
 * member fault on a page the leader evicted is filled from the leader's
 * store (files are matched by st_dev/st_ino, pages by file offset).  Both
 * may be destroyed in any order; a member destroyed while it still maps
 * the file makes the leader bring those pages back and keep them.
 * -EINVAL (same wset, leader is itself a member, member shares already),
 * -EOPNOTSUPP (member has no helper, or no MINOR faults on shmem or
 * hugetlbfs), -EBUSY (member has regions), -ENOSPC (16 members already).
 */
int wset_share_memory(struct wset *leader, struct wset *member);

/*
 * After wset_adopt() with WSET_ADOPT_RESUME and the regions added: take
 * over from the agent that died.  Every page the store holds (its each
 * callback) is evicted unless guest memory has it (a crash between the
 * copy and the hole punch: memory wins and the stored copy is dropped);
 * an eviction step left half done is ended (async mode again, rwp); and
 * every region is woken, so faults whose messages the dead agent read but
 * never answered are delivered again.  Returns the number of evicted pages
 * taken over, or -errno (-EOPNOTSUPP: the store cannot list its keys).
 */
int wset_resume(struct wset *ws);

/*
 * Stop every thread, bring every evicted page back into guest memory
 * (file-backed pages are written into their memory file, without the
 * target's address space; when the target is gone, -ESRCH, they are still
 * written there, never dropped), unregister every region whose pages all
 * came back (the kernel removes all protection) and free ws.
 * Returns 0, or the first error met while restoring.  ws is freed anyway;
 * pages that could not be restored stay in the store (list them with its
 * each callback) and their regions stay registered, never unregistered
 * into holes: while the VMM holds its own reference to the uffd, accesses
 * to them wait for the next agent.  Accepts NULL.
 */
int wset_destroy(struct wset *ws);

/* The mechanism in use, and a printable name for a mechanism. */
enum wset_mechanism wset_mechanism(const struct wset *ws);
const char *wset_mechanism_name(enum wset_mechanism mechanism);

/*
 * Regions.  addr and len must be multiples of the region's page size
 * (4 KiB, or the huge page size of a hugetlbfs fd), the range must be
 * mapped in the target process and must not overlap another region.
 * Errors: -EINVAL (unaligned, zero length, bad flags), -ENOMEM (not fully
 * mapped), -EEXIST (overlap), -EBADF (fd), -EOPNOTSUPP (memory kind not
 * supported by the mechanism), or what UFFDIO_REGISTER returned.
 * Returns a region id (>= 0).
 *
 * wset_add_anon:  private anonymous memory.
 * wset_add_file:  a shared mapping of fd (memfd, shmem, hugetlbfs) at
 *                 offset; the library maps the same range again as its
 *                 I/O view.  fd is duplicated; the caller keeps its own.
 */
int wset_add_anon(struct wset *ws, uint64_t addr, uint64_t len);
int wset_add_file(struct wset *ws, uint64_t addr, uint64_t len, int fd,
		  uint64_t offset);

/* Bring the region's evicted pages back, unregister it and forget it. */
int wset_remove_region(struct wset *ws, int region);

/*
 * Tracking.  wset_tick() runs one interval now in the calling thread: scan,
 * update ages, re-arm, then evict if the policy is enabled.  wset_start()
 * runs it every cfg.interval_ms in a background thread until wset_stop().
 * -EALREADY / -EINVAL when already running / not running.
 */
int wset_tick(struct wset *ws);
int wset_start(struct wset *ws);
int wset_stop(struct wset *ws);

/* Replace or read the eviction policy (any time, from any thread). */
int wset_set_policy(struct wset *ws, const struct wset_policy *policy);
int wset_get_policy(struct wset *ws, struct wset_policy *policy);

/*
 * Evict now, regardless of policy.enabled: resident pages with age >=
 * min_age, at most max_bytes (0: no limit).  *evicted (may be NULL)
 * receives the bytes actually moved to the store.
 */
int wset_evict(struct wset *ws, unsigned int min_age, uint64_t max_bytes,
	       uint64_t *evicted);

/* Bring every evicted page back (e.g. before the agent exits). */
int wset_restore_all(struct wset *ws);

/*
 * Age of the page containing addr in intervals since its last access
 * (0..WSET_AGE_MAX), -ENOENT if addr is in no region, -ENODATA if the page
 * is not resident (never touched or evicted).
 */
int wset_page_age(struct wset *ws, uint64_t addr);

/* A range of target-process addresses. */
struct wset_range {
	uint64_t addr;
	uint64_t len;
};

/*
 * The cold set: resident pages with age >= min_age, merged into ranges,
 * in address order.  Fills at most max ranges; *count receives the number
 * of ranges that exist (may exceed max).
 */
int wset_cold_set(struct wset *ws, unsigned int min_age,
		  struct wset_range *ranges, size_t max, size_t *count);

/*
 * Idle-age histogram of resident memory.  Bucket 0 holds age 0, bucket i
 * (i >= 1) ages [2^(i-1), 2^i - 1], the last bucket everything older.
 */
struct wset_histogram {
	uint64_t bytes[WSET_AGE_BUCKETS];
};

int wset_histogram(struct wset *ws, struct wset_histogram *hist);

/*
 * Counters.  Sizes are in bytes.  fault_latency_us[i] counts resolved
 * faults that took [2^(i-1), 2^i) microseconds (bucket 0: below 1 us, last
 * bucket: everything slower); latency runs from reading the message to
 * the resolving ioctl.
 */
struct wset_counters {
	uint32_t size;
	enum wset_mechanism mechanism;
	uint64_t intervals;	     /* tracking intervals run */
	uint64_t tracked_bytes;	     /* size of all regions */
	uint64_t resident_bytes;     /* present in guest memory */
	uint64_t wss_bytes;	     /* working-set estimate (age < wss_age) */
	uint64_t cold_bytes;	     /* resident with age >= policy.min_idle_age */
	uint64_t evicted_bytes;	     /* currently in the store */
	uint64_t evictions;	     /* pages evicted, total */
	uint64_t refaults;	     /* evicted pages brought back by a fault */
	uint64_t prefetches;	     /* evicted pages brought back by prefetch */
	uint64_t zero_fills;	     /* never-stored pages filled with zeroes */
	uint64_t sync_faults;	     /* protection faults during eviction */
	uint64_t abandoned;	     /* evictions given up (page stays resident) */
	uint64_t unevictable_pages;  /* resident, but UFFDIO_MOVE refused them
					or the region cannot be evicted */
	uint64_t store_put_errors;
	uint64_t store_get_errors;
	uint64_t removed_pages;	     /* forgotten on EVENT_REMOVE / UNMAP */
	uint64_t faults;	     /* fault messages handled */
	uint64_t fault_latency_us[WSET_LATENCY_BUCKETS];
	struct wset_store_stats store;
	uint64_t fault_escalations;  /* faults past fetch_retries, total */
	uint64_t stalled_faults;     /* escalated faults still waiting now */
	uint64_t poisoned_pages;     /* answered with UFFDIO_POISON */
	uint64_t reserved[16];	     /* filled with zeroes */
};

#define WSET_COUNTERS_INIT { .size = sizeof(struct wset_counters) }

int wset_counters(struct wset *ws, struct wset_counters *counters);

/* "MAJOR.MINOR" of the library actually loaded. */
const char *wset_version(void);

#ifdef __cplusplus
}
#endif

#endif /* WSET_H */
