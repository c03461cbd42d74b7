/* SPDX-License-Identifier: MIT */
/*
 * Chaos: a thread doing to tracked memory what the kernel and the host may
 * do to any page at any time, none of which changes a byte of it:
 *
 *   migrate  move_pages(2) of random pages to the other NUMA node
 *   mbind    mbind(MPOL_PREFERRED, MPOL_MF_MOVE) of random ranges
 *   pageout  MADV_PAGEOUT of random ranges (to swap)
 *   split    THP splits through debugfs split_huge_pages
 *
 * A page that loses its tracking protection on the way (a write that
 * arrives without a fault) is what the caller's checks then catch.  Each
 * operation counts what it really did, so a run that did nothing is seen.
 * Operations that cannot run here (one NUMA node, no debugfs, hugetlbfs
 * has no pageout and no THP) are skipped with the reason.
 */
#ifndef WSET_TESTS_CHAOS_H
#define WSET_TESTS_CHAOS_H

#include <dirent.h>
#include <pthread.h>
#include <stdatomic.h>
#include <sys/ioctl.h>
#include <sys/syscall.h>
#include <time.h>

#include "testlib.h"
#include "../lib/uapi/userfaultfd.h"

#ifndef MADV_PAGEOUT
#define MADV_PAGEOUT 21
#endif
#define CHAOS_MPOL_PREFERRED 1
#define CHAOS_MPOL_MF_MOVE (1 << 1)
#define CHAOS_MPOL_MF_MOVE_ALL (1 << 2)
#define CHAOS_SPLIT_CONTROL "/sys/kernel/debug/split_huge_pages"
#define CHAOS_PMD_SIZE ((size_t)2 << 20)
#define CHAOS_MAX_PAGES 64

enum chaos_op {
	CHAOS_MIGRATE,
	CHAOS_MBIND,
	CHAOS_PAGEOUT,
	CHAOS_SPLIT,
	CHAOS_OPS,
};

static const char *const chaos_op_names[CHAOS_OPS] = {
	"migrate", "mbind", "pageout", "split",
};

/* What each operation did to: pages moved to another node (migrate,
 * mbind), pages unmapped (pageout; swapped out where there is swap),
 * PMD-mapped THPs split. */
static const char *const chaos_op_effects[CHAOS_OPS] = {
	"pages migrated", "pages migrated", "pages unmapped", "THPs split",
};

struct chaos_area {
	enum test_memory kind;
	uint8_t *mem;
	size_t len;
	size_t page; /* 4 KiB, or the huge page size on hugetlbfs */
};

struct chaos_counts {
	atomic_ulong calls;
	atomic_ulong effect;
	atomic_ulong errors;
};

struct chaos {
	pthread_t thread;
	unsigned int ops;		/* enabled: 1 << enum chaos_op */
	unsigned int runnable;		/* enabled and possible here */
	char why_not[CHAOS_OPS][128];	/* why an enabled op cannot run */
	struct chaos_area areas[3];
	int area_count;
	int nodes;
	int pagemap_fd;
	int move_flags;			/* MPOL_MF_MOVE_ALL as root */
	atomic_bool stop;
	struct chaos_counts counts[3][CHAOS_OPS]; /* per area */
	char first_error[160];
};

/* "migrate,pageout", "all" or "none": the set of operations, or -1. */
static inline int chaos_parse_ops(const char *list)
{
	char copy[128], *save = NULL;
	unsigned int ops = 0;

	if (!strcmp(list, "all"))
		return (1 << CHAOS_OPS) - 1;
	if (!strcmp(list, "none"))
		return 0;
	snprintf(copy, sizeof(copy), "%s", list);
	for (char *word = strtok_r(copy, ",", &save); word;
	     word = strtok_r(NULL, ",", &save)) {
		int op;

		for (op = 0; op < CHAOS_OPS; op++)
			if (!strcmp(word, chaos_op_names[op]))
				break;
		if (op == CHAOS_OPS)
			return -1;
		ops |= 1u << op;
	}
	return (int)ops;
}

static inline int chaos_numa_nodes(void)
{
	DIR *dir = opendir("/sys/devices/system/node");
	struct dirent *entry;
	int nodes = 0, id;

	while (dir && (entry = readdir(dir)))
		if (sscanf(entry->d_name, "node%d", &id) == 1)
			nodes++;
	if (dir)
		closedir(dir);
	return nodes ? nodes : 1;
}

static inline bool chaos_applies(enum chaos_op op, enum test_memory kind)
{
	/* hugetlbfs pages are neither reclaimed nor THPs. */
	return kind != MEMORY_HUGETLB || op == CHAOS_MIGRATE || op == CHAOS_MBIND;
}

static inline size_t chaos_gcd(size_t a, size_t b)
{
	while (b) {
		size_t r = a % b;

		a = b;
		b = r;
	}
	return a;
}

/* The node of each page, or a negative errno (-ENOENT: not present). */
static inline long chaos_where(void **pages, int count, int *status)
{
	return syscall(SYS_move_pages, 0, (unsigned long)count, pages, NULL,
		       status, 0);
}

static inline int chaos_count_moved(const int *before, const int *after,
				    int count)
{
	int moved = 0;

	for (int i = 0; i < count; i++)
		if (before[i] >= 0 && after[i] >= 0 && before[i] != after[i])
			moved++;
	return moved;
}

/* PMD-mapped bytes in [start, end), from PAGEMAP_SCAN, or -1. */
static inline long chaos_huge_bytes(struct chaos *chaos, uint8_t *start,
				    uint8_t *end)
{
	struct page_region regions[8];
	struct pm_scan_arg arg = {
		.size = sizeof(arg),
		.start = (uintptr_t)start,
		.end = (uintptr_t)end,
		.vec = (uintptr_t)regions,
		.vec_len = 8,
		.category_mask = PAGE_IS_HUGE,
		.return_mask = PAGE_IS_HUGE,
	};
	long bytes = 0;
	long found;

	found = ioctl(chaos->pagemap_fd, PAGEMAP_SCAN, &arg);
	if (found < 0)
		return -1;
	for (long i = 0; i < found; i++)
		bytes += (long)(regions[i].end - regions[i].start);
	return bytes;
}

static inline void chaos_error(struct chaos *chaos, struct chaos_counts *counts,
			       enum chaos_op op, const char *what, int error)
{
	if (atomic_fetch_add(&counts->errors, 1) == 0 && !chaos->first_error[0])
		snprintf(chaos->first_error, sizeof(chaos->first_error),
			 "%s: %s: %s", chaos_op_names[op], what, strerror(error));
}

static inline void chaos_migrate(struct chaos *chaos, struct chaos_area *area,
				 struct chaos_counts *counts, uint64_t *random)
{
	size_t pages = area->len / area->page;
	size_t count = test_random(random) % CHAOS_MAX_PAGES + 1;
	size_t first = test_random(random) % pages;
	size_t step = test_random(random) % pages + 1;
	void *addresses[CHAOS_MAX_PAGES];
	int where[CHAOS_MAX_PAGES], nodes[CHAOS_MAX_PAGES], status[CHAOS_MAX_PAGES];

	/* Scattered and distinct: a step coprime to the page count. */
	while (chaos_gcd(step, pages) != 1)
		step--;
	if (count > pages)
		count = pages;
	for (size_t i = 0; i < count; i++)
		addresses[i] = area->mem + ((first + i * step) % pages) * area->page;
	if (chaos_where(addresses, (int)count, where) < 0) {
		chaos_error(chaos, counts, CHAOS_MIGRATE, "move_pages query", errno);
		return;
	}
	/* Each present page to a node it is not on. */
	for (size_t i = 0; i < count; i++)
		nodes[i] = where[i] >= 0 ? (where[i] + 1) % chaos->nodes : 0;
	atomic_fetch_add(&counts->calls, 1);
	if (syscall(SYS_move_pages, 0, count, addresses, nodes, status,
		    chaos->move_flags) < 0) {
		chaos_error(chaos, counts, CHAOS_MIGRATE, "move_pages", errno);
		return;
	}
	atomic_fetch_add(&counts->effect,
			 (unsigned long)chaos_count_moved(where, status, (int)count));
}

static inline void chaos_mbind(struct chaos *chaos, struct chaos_area *area,
			       struct chaos_counts *counts, uint64_t *random)
{
	size_t pages = area->len / area->page;
	size_t count = test_random(random) %
		       (area->kind == MEMORY_HUGETLB ? 2 : CHAOS_MAX_PAGES) + 1;
	size_t first = test_random(random) % pages;
	unsigned long nodemask = 1ul << (test_random(random) % (uint64_t)chaos->nodes);
	void *addresses[CHAOS_MAX_PAGES];
	int before[CHAOS_MAX_PAGES], after[CHAOS_MAX_PAGES];

	if (first + count > pages)
		count = pages - first;
	for (size_t i = 0; i < count; i++)
		addresses[i] = area->mem + (first + i) * area->page;
	if (chaos_where(addresses, (int)count, before) < 0) {
		chaos_error(chaos, counts, CHAOS_MBIND, "move_pages query", errno);
		return;
	}
	atomic_fetch_add(&counts->calls, 1);
	/* Preferred, not bound: fetch-back may still allocate anywhere. */
	if (syscall(SYS_mbind, area->mem + first * area->page, count * area->page,
		    CHAOS_MPOL_PREFERRED, &nodemask, sizeof(nodemask) * 8,
		    chaos->move_flags) < 0) {
		chaos_error(chaos, counts, CHAOS_MBIND, "mbind", errno);
		return;
	}
	if (chaos_where(addresses, (int)count, after) == 0)
		atomic_fetch_add(&counts->effect,
				 (unsigned long)chaos_count_moved(before, after, (int)count));
}

static inline void chaos_pageout(struct chaos *chaos, struct chaos_area *area,
				 struct chaos_counts *counts, uint64_t *random)
{
	size_t pages = area->len / area->page;
	size_t count = test_random(random) % CHAOS_MAX_PAGES + 1;
	size_t first = test_random(random) % pages;
	void *addresses[CHAOS_MAX_PAGES];
	int before[CHAOS_MAX_PAGES], after[CHAOS_MAX_PAGES];
	int left = 0;

	if (first + count > pages)
		count = pages - first;
	for (size_t i = 0; i < count; i++)
		addresses[i] = area->mem + (first + i) * area->page;
	bool located = chaos_where(addresses, (int)count, before) == 0;
	atomic_fetch_add(&counts->calls, 1);
	if (madvise(area->mem + first * area->page, count * area->page,
		    MADV_PAGEOUT) < 0) {
		chaos_error(chaos, counts, CHAOS_PAGEOUT, "madvise", errno);
		return;
	}
	if (!located || chaos_where(addresses, (int)count, after) < 0)
		return;
	for (size_t i = 0; i < count; i++)
		if (before[i] >= 0 && after[i] < 0)
			left++;
	atomic_fetch_add(&counts->effect, (unsigned long)left);
}

static inline void chaos_split(struct chaos *chaos, struct chaos_area *area,
			       struct chaos_counts *counts, uint64_t *random)
{
	size_t pmds = area->len / CHAOS_PMD_SIZE;
	uint8_t *start, *end;
	char command[96];
	long before, after;
	int control, length;

	if (!pmds)
		return;
	start = area->mem + (test_random(random) % pmds) * CHAOS_PMD_SIZE;
	end = start + CHAOS_PMD_SIZE;
	before = chaos_huge_bytes(chaos, start, end);
	length = snprintf(command, sizeof(command), "%d,0x%lx,0x%lx", (int)getpid(),
			  (unsigned long)(uintptr_t)start, (unsigned long)(uintptr_t)end);
	control = open(CHAOS_SPLIT_CONTROL, O_WRONLY | O_CLOEXEC);
	if (control < 0) {
		chaos_error(chaos, counts, CHAOS_SPLIT, "open " CHAOS_SPLIT_CONTROL, errno);
		return;
	}
	atomic_fetch_add(&counts->calls, 1);
	if (write(control, command, (size_t)length) != length)
		chaos_error(chaos, counts, CHAOS_SPLIT, "write " CHAOS_SPLIT_CONTROL, errno);
	close(control);
	after = chaos_huge_bytes(chaos, start, end);
	if (before > 0 && after >= 0 && after < before)
		atomic_fetch_add(&counts->effect,
				 (unsigned long)((before - after) / (long)CHAOS_PMD_SIZE));
}

static void *chaos_run(void *arg)
{
	struct chaos *chaos = arg;
	uint64_t random = 0x2545f4914f6cdd1dull;
	const struct timespec pace = { .tv_nsec = 2 * 1000000L };

	while (!atomic_load(&chaos->stop)) {
		enum chaos_op op = (enum chaos_op)(test_random(&random) % CHAOS_OPS);
		int index = (int)(test_random(&random) % (uint64_t)chaos->area_count);
		struct chaos_area *area = &chaos->areas[index];
		struct chaos_counts *counts = &chaos->counts[index][op];

		if (!(chaos->runnable & (1u << op)) || !chaos_applies(op, area->kind))
			continue;
		switch (op) {
		case CHAOS_MIGRATE:
			chaos_migrate(chaos, area, counts, &random);
			break;
		case CHAOS_MBIND:
			chaos_mbind(chaos, area, counts, &random);
			break;
		case CHAOS_PAGEOUT:
			chaos_pageout(chaos, area, counts, &random);
			break;
		case CHAOS_SPLIT:
			chaos_split(chaos, area, counts, &random);
			break;
		case CHAOS_OPS:
			break;
		}
		/* Leave the vCPUs to the writers and the tracker most of the time. */
		nanosleep(&pace, NULL);
	}
	return NULL;
}

/* Decide what can run here; every enabled op that cannot gets a reason. */
static inline void chaos_init(struct chaos *chaos, unsigned int ops)
{
	memset(chaos, 0, sizeof(*chaos));
	chaos->ops = ops;
	chaos->runnable = ops;
	chaos->nodes = chaos_numa_nodes();
	chaos->move_flags = geteuid() == 0 ? CHAOS_MPOL_MF_MOVE_ALL : CHAOS_MPOL_MF_MOVE;
	chaos->pagemap_fd = open("/proc/self/pagemap", O_RDONLY | O_CLOEXEC);
	if (chaos->nodes < 2)
		for (int op = CHAOS_MIGRATE; op <= CHAOS_MBIND; op++)
			snprintf(chaos->why_not[op], sizeof(chaos->why_not[op]),
				 "%d NUMA node: nowhere to migrate to", chaos->nodes);
	if (access(CHAOS_SPLIT_CONTROL, W_OK) < 0)
		snprintf(chaos->why_not[CHAOS_SPLIT], sizeof(chaos->why_not[CHAOS_SPLIT]),
			 "no writable %s (debugfs not mounted, or not root): %s",
			 CHAOS_SPLIT_CONTROL, strerror(errno));
	else if (chaos->pagemap_fd < 0)
		snprintf(chaos->why_not[CHAOS_SPLIT], sizeof(chaos->why_not[CHAOS_SPLIT]),
			 "/proc/self/pagemap: %s (THPs cannot be counted)",
			 strerror(errno));
	for (int op = 0; op < CHAOS_OPS; op++)
		if (chaos->why_not[op][0])
			chaos->runnable &= ~(1u << op);
}

static inline void chaos_add_area(struct chaos *chaos, enum test_memory kind,
				  uint8_t *mem, size_t len)
{
	struct chaos_area *area = &chaos->areas[chaos->area_count++];

	area->kind = kind;
	area->mem = mem;
	area->len = len;
	area->page = test_page_size(kind);
}

static inline void chaos_start(struct chaos *chaos)
{
	if (chaos->runnable && chaos->area_count) {
		pthread_create(&chaos->thread, NULL, chaos_run, chaos);
		pthread_setname_np(chaos->thread, "chaos");
	}
}

static inline void chaos_stop(struct chaos *chaos)
{
	atomic_store(&chaos->stop, true);
	if (chaos->runnable && chaos->area_count)
		pthread_join(chaos->thread, NULL);
	if (chaos->pagemap_fd >= 0)
		close(chaos->pagemap_fd);
}

static inline unsigned long chaos_total(struct chaos *chaos, enum chaos_op op,
					bool effect)
{
	unsigned long total = 0;

	for (int i = 0; i < chaos->area_count; i++)
		total += atomic_load(effect ? &chaos->counts[i][op].effect
					    : &chaos->counts[i][op].calls);
	return total;
}

/* Every runnable op has been called at least once (its effect may still
 * be nil, e.g. no THP to split). */
static inline bool chaos_every_op_ran(struct chaos *chaos)
{
	for (int op = 0; op < CHAOS_OPS; op++)
		if ((chaos->runnable & (1u << op)) && !chaos_total(chaos, op, false))
			return false;
	return true;
}

#endif /* WSET_TESTS_CHAOS_H */
