/* SPDX-License-Identifier: MIT */
/*
 * Helpers shared by the libwset tests: TAP output, skips with a reason,
 * guest-like memory of each kind, the mechanism named on the command line.
 * Exit codes: 0 pass, 1 fail, 4 skip.
 */
#ifndef WSET_TESTLIB_H
#define WSET_TESTLIB_H

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "wset.h"

#ifndef MFD_HUGETLB
#define MFD_HUGETLB 0x0004U
#endif

static int tap_planned, tap_number, tap_failed;

static inline void tap_plan(int count)
{
	tap_planned = count;
	printf("TAP version 13\n1..%d\n", count);
	fflush(stdout);
}

static inline void tap_diag(const char *fmt, ...)
	__attribute__((format(printf, 1, 2)));
static inline void tap_diag(const char *fmt, ...)
{
	va_list ap;

	printf("# ");
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	printf("\n");
	fflush(stdout);
}

static inline bool tap_ok(bool ok, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
static inline bool tap_ok(bool ok, const char *fmt, ...)
{
	va_list ap;

	printf("%s %d - ", ok ? "ok" : "not ok", ++tap_number);
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	printf("\n");
	fflush(stdout);
	if (!ok)
		tap_failed++;
	return ok;
}

static inline void tap_skip_all(const char *fmt, ...)
	__attribute__((format(printf, 1, 2), noreturn));
static inline void tap_skip_all(const char *fmt, ...)
{
	va_list ap;

	printf("1..0 # SKIP ");
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	printf("\n");
	fflush(stdout);
	exit(4);
}

static inline void tap_bail(const char *fmt, ...)
	__attribute__((format(printf, 1, 2), noreturn));
static inline void tap_bail(const char *fmt, ...)
{
	va_list ap;

	printf("Bail out! ");
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	printf("\n");
	fflush(stdout);
	exit(1);
}

static inline int tap_done(void)
{
	if (tap_number != tap_planned) {
		printf("# planned %d tests, ran %d\n", tap_planned, tap_number);
		return 1;
	}
	return tap_failed ? 1 : 0;
}

/* One TAP line: call returns want and leaves errno as it was. */
#define ERRNO_CANARY 4242
#define EXPECT(call, want) EXPECT_AS(call, want, #call)
#define EXPECT_AS(call, want, what)                                           \
	do {                                                                  \
		errno = ERRNO_CANARY;                                         \
		long got_ = (long)(call);                                     \
		int errno_ = errno;                                           \
		tap_ok(got_ == (long)(want) && errno_ == ERRNO_CANARY,        \
		       "%s = %ld (want %ld), errno %s", what, got_,           \
		       (long)(want),                                          \
		       errno_ == ERRNO_CANARY ? "untouched" : "changed");     \
	} while (0)

/* "rwp", "wp" or "auto" (default) as the first argument. */
static inline enum wset_mechanism test_mechanism(int argc, char **argv)
{
	if (argc < 2 || !strcmp(argv[1], "auto"))
		return WSET_MECHANISM_AUTO;
	if (!strcmp(argv[1], "rwp"))
		return WSET_MECHANISM_RWP;
	if (!strcmp(argv[1], "wp"))
		return WSET_MECHANISM_WP;
	tap_bail("unknown mechanism '%s' (rwp, wp or auto)", argv[1]);
}

/* Skip (exit 4) when the kernel cannot run the mechanism asked for. */
static inline void test_require(enum wset_mechanism mechanism)
{
	struct wset_probe probe = WSET_PROBE_INIT;
	int ret = wset_probe(&probe);

	if (ret < 0)
		tap_skip_all("userfaultfd unavailable: %s", strerror(-ret));
	if (mechanism == WSET_MECHANISM_RWP && !probe.has_rwp)
		tap_skip_all("kernel lacks UFFD_FEATURE_RWP/RWP_ASYNC "
			     "(UFFDIO_API features 0x%llx): needs the wset kernel",
			     (unsigned long long)probe.uffd_features);
	if (mechanism == WSET_MECHANISM_WP &&
	    (!probe.has_wp_async || !probe.has_pagemap_scan))
		tap_skip_all("kernel lacks UFFD_FEATURE_WP_ASYNC or PAGEMAP_SCAN");
	if (probe.best == WSET_MECHANISM_AUTO)
		tap_skip_all("%s", probe.missing);
}

static inline struct wset *test_create(struct wset_config *config)
{
	struct wset *ws;
	int ret;

	test_require(config->mechanism);
	ret = wset_create(config, &ws);
	if (ret < 0)
		tap_bail("wset_create: %s", strerror(-ret));
	return ws;
}

enum test_memory {
	MEMORY_ANON,
	MEMORY_MEMFD,
	MEMORY_HUGETLB,
};

/* A memory kind by its name on the command line: anon, memfd or hugetlbfs. */
static inline enum test_memory test_parse_memory(const char *name)
{
	if (!strcmp(name, "anon"))
		return MEMORY_ANON;
	if (!strcmp(name, "memfd"))
		return MEMORY_MEMFD;
	if (!strcmp(name, "hugetlbfs"))
		return MEMORY_HUGETLB;
	tap_bail("unknown memory kind '%s'", name);
}

static inline const char *test_memory_name(enum test_memory kind)
{
	return kind == MEMORY_ANON ? "anon" : kind == MEMORY_MEMFD ? "memfd" : "hugetlbfs";
}

static inline size_t test_huge_page_size(void)
{
	FILE *meminfo = fopen("/proc/meminfo", "r");
	char line[128];
	size_t kib = 2048;

	while (meminfo && fgets(line, sizeof(line), meminfo))
		if (sscanf(line, "Hugepagesize: %zu kB", &kib) == 1)
			break;
	if (meminfo)
		fclose(meminfo);
	return kib * 1024;
}

/* Make sure `pages` huge pages are free, reserving more if we may. */
static inline bool test_reserve_huge_pages(long pages)
{
	FILE *meminfo = fopen("/proc/meminfo", "r");
	char line[128];
	long free_pages = 0, total = 0;

	while (meminfo && fgets(line, sizeof(line), meminfo)) {
		sscanf(line, "HugePages_Free: %ld", &free_pages);
		sscanf(line, "HugePages_Total: %ld", &total);
	}
	if (meminfo)
		fclose(meminfo);
	if (free_pages >= pages)
		return true;
	FILE *nr = fopen("/proc/sys/vm/nr_hugepages", "w");
	if (!nr)
		return false;
	fprintf(nr, "%ld\n", total + pages - free_pages);
	fclose(nr);
	return true;
}

/*
 * A mapping of len bytes at an address aligned to `align` (a power of two;
 * 0 for any), e.g. so that transparent huge pages fit.
 */
static inline void *test_map_aligned(size_t len, size_t align, int prot,
				     int flags, int fd)
{
	uint8_t *reserved, *start;

	if (!align)
		return mmap(NULL, len, prot, flags, fd, 0);
	reserved = mmap(NULL, len + align, PROT_NONE,
			MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	if (reserved == MAP_FAILED)
		return MAP_FAILED;
	start = (uint8_t *)(((uintptr_t)reserved + align - 1) & ~(uintptr_t)(align - 1));
	if (start > reserved)
		munmap(reserved, (size_t)(start - reserved));
	munmap(start + len, (size_t)(reserved + align - start));
	return mmap(start, len, prot, flags | MAP_FIXED, fd, 0);
}

/*
 * Guest-like memory: private anonymous, a shared memfd mapping, or a
 * shared hugetlbfs memfd mapping, at an address aligned to `align` (0: any).
 * *fd is -1 for anonymous memory.  NULL with a reason in `why` when the
 * kind is not available here.
 */
static inline void *test_memory_aligned(enum test_memory kind, size_t len,
					size_t align, int *fd, char *why,
					size_t why_len)
{
	void *mem;

	*fd = -1;
	if (kind == MEMORY_ANON) {
		mem = test_map_aligned(len, align, PROT_READ | PROT_WRITE,
				       MAP_PRIVATE | MAP_ANONYMOUS, -1);
		if (mem == MAP_FAILED) {
			snprintf(why, why_len, "mmap: %s", strerror(errno));
			return NULL;
		}
		return mem;
	}
	if (kind == MEMORY_HUGETLB &&
	    !test_reserve_huge_pages((long)(len / test_huge_page_size()))) {
		snprintf(why, why_len, "cannot reserve %zu huge pages",
			 len / test_huge_page_size());
		return NULL;
	}
	*fd = memfd_create("wset-test", MFD_CLOEXEC |
				      (kind == MEMORY_HUGETLB ? MFD_HUGETLB : 0));
	if (*fd < 0) {
		snprintf(why, why_len, "memfd_create: %s", strerror(errno));
		return NULL;
	}
	if (ftruncate(*fd, (off_t)len) < 0) {
		snprintf(why, why_len, "ftruncate: %s", strerror(errno));
		close(*fd);
		return NULL;
	}
	mem = test_map_aligned(len, align, PROT_READ | PROT_WRITE, MAP_SHARED, *fd);
	if (mem == MAP_FAILED) {
		snprintf(why, why_len, "mmap %s: %s", test_memory_name(kind),
			 strerror(errno));
		close(*fd);
		return NULL;
	}
	return mem;
}

static inline void *test_memory(enum test_memory kind, size_t len, int *fd,
				char *why, size_t why_len)
{
	return test_memory_aligned(kind, len, 0, fd, why, why_len);
}

static inline int test_add(struct wset *ws, enum test_memory kind, void *mem,
			   size_t len, int fd)
{
	if (kind == MEMORY_ANON)
		return wset_add_anon(ws, (uintptr_t)mem, len);
	return wset_add_file(ws, (uintptr_t)mem, len, fd, 0);
}

/* Private anonymous memory added to `ws` as a region; bails on failure. */
static inline uint8_t *test_anon_region(struct wset *ws, size_t len)
{
	void *mem = mmap(NULL, len, PROT_READ | PROT_WRITE,
			 MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	int ret;

	if (mem == MAP_FAILED)
		tap_bail("mmap: %s", strerror(errno));
	ret = wset_add_anon(ws, (uintptr_t)mem, len);
	if (ret < 0)
		tap_bail("add: %s", strerror(-ret));
	return mem;
}

static inline size_t test_page_size(enum test_memory kind)
{
	return kind == MEMORY_HUGETLB ? test_huge_page_size()
				      : (size_t)sysconf(_SC_PAGESIZE);
}

/* The next number of a xorshift64 sequence (state must not be 0). */
static inline uint64_t test_random(uint64_t *state)
{
	*state ^= *state << 13;
	*state ^= *state >> 7;
	*state ^= *state << 17;
	return *state;
}

/* A cheap checksum over a buffer (FNV-1a). */
static inline uint64_t test_hash(const void *data, size_t len)
{
	const uint8_t *bytes = data;
	uint64_t hash = 1469598103934665603ull;

	for (size_t i = 0; i < len; i++)
		hash = (hash ^ bytes[i]) * 1099511628211ull;
	return hash;
}

/* A word every 256 bytes of pages [0, pages) of mem, from generation, the
 * page and area (a salt per area): written, then counted back. */
static inline uint64_t test_word(uint64_t generation, size_t page, size_t off,
				 unsigned int area)
{
	return generation ^ ((uint64_t)page << 20) ^ off ^ (uint64_t)area << 40;
}

static inline void test_write_words(uint8_t *mem, size_t pages, size_t page_size,
				    uint64_t generation, unsigned int area)
{
	for (size_t i = 0; i < pages; i++)
		for (size_t off = 0; off < page_size; off += 256)
			*(uint64_t *)(mem + i * page_size + off) =
				test_word(generation, i, off, area);
}

/* How many pages hold a word other than written. */
static inline size_t test_count_bad_pages(const uint8_t *mem, size_t pages,
					  size_t page_size, uint64_t generation,
					  unsigned int area)
{
	size_t bad = 0;

	for (size_t i = 0; i < pages; i++)
		for (size_t off = 0; off < page_size; off += 256)
			if (*(const uint64_t *)(mem + i * page_size + off) !=
			    test_word(generation, i, off, area)) {
				bad++;
				break;
			}
	return bad;
}

/* Callbacks of a test store that wraps another: priv is the inner store. */
static inline int test_forward_put(void *priv, uint64_t key, const void *data,
				   size_t len)
{
	struct wset_store *inner = priv;

	return inner->ops->put(inner->priv, key, data, len);
}

static inline int test_forward_get(void *priv, uint64_t key, void *buf, size_t len)
{
	struct wset_store *inner = priv;

	return inner->ops->get(inner->priv, key, buf, len);
}

static inline int test_forward_drop(void *priv, uint64_t key, size_t len)
{
	struct wset_store *inner = priv;

	return inner->ops->drop(inner->priv, key, len);
}

static inline int test_forward_stats(void *priv, struct wset_store_stats *stats)
{
	struct wset_store *inner = priv;

	return inner->ops->stats(inner->priv, stats);
}

/* The two areas of the store tests: anonymous memory and a memfd. */
struct test_area {
	enum test_memory kind;
	uint8_t *mem;
	int fd;
};

#define TEST_AREAS_INIT { { MEMORY_ANON, NULL, -1 }, { MEMORY_MEMFD, NULL, -1 } }

/* Map each area (len bytes) and add it to ws, or bail out. */
static inline void test_add_areas(struct wset *ws, struct test_area *areas,
				  unsigned int count, size_t len)
{
	char why[256];

	for (unsigned int a = 0; a < count; a++) {
		int ret;

		areas[a].mem = test_memory(areas[a].kind, len, &areas[a].fd, why,
					   sizeof(why));
		if (!areas[a].mem)
			tap_bail("%s", why);
		ret = test_add(ws, areas[a].kind, areas[a].mem, len, areas[a].fd);
		if (ret < 0)
			tap_bail("add region: %s", strerror(-ret));
	}
}

/* test_write_words() and test_count_bad_pages() over the areas. */
static inline void test_write_areas(const struct test_area *areas, unsigned int count,
				    size_t pages, size_t page_size, uint64_t generation)
{
	for (unsigned int a = 0; a < count; a++)
		test_write_words(areas[a].mem, pages, page_size, generation, a);
}

static inline size_t test_count_bad_areas(const struct test_area *areas,
					  unsigned int count, size_t pages,
					  size_t page_size, uint64_t generation)
{
	size_t bad = 0;

	for (unsigned int a = 0; a < count; a++)
		bad += test_count_bad_pages(areas[a].mem, pages, page_size,
					    generation, a);
	return bad;
}

#endif /* WSET_TESTLIB_H */
