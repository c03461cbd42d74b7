/* SPDX-License-Identifier: MIT */
/* The raw tracking mechanisms: see tracking.h. */
#include <errno.h>
#include <fcntl.h>
#include <linux/userfaultfd.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "tracking.h"
#include "uapi/userfaultfd.h"

#define SCAN_VEC 512

/* mprotect: one area at a time, found by the signal handler. */
static struct bench_area *protected_area;
static uint8_t *protected_touched;

static void on_segv(int sig, siginfo_t *info, void *context)
{
	uint8_t *addr = info->si_addr;
	struct bench_area *area = protected_area;

	(void)context;
	if (!area || addr < area->addr || addr >= area->addr + area->len) {
		signal(sig, SIG_DFL);
		return;
	}
	uint64_t page = (uint64_t)(addr - area->addr) / area->page_size;

	protected_touched[page] = 1;
	mprotect(area->addr + page * area->page_size, area->page_size,
		 PROT_READ | PROT_WRITE);
}

const char *tracking_name(enum tracking_kind kind)
{
	switch (kind) {
	case TRACK_RWP:
		return "rwp";
	case TRACK_WP:
		return "wp";
	case TRACK_MPROTECT:
		return "mprotect";
	case TRACK_IDLE:
		return "idle-page";
	}
	return "?";
}

static int fail(char *why, size_t why_len, const char *what)
{
	int ret = -errno;

	snprintf(why, why_len, "%s: %s", what, strerror(errno));
	return ret ? ret : -EINVAL;
}

static int open_uffd(struct tracking *t, char *why, size_t why_len)
{
	bool rwp = t->kind == TRACK_RWP;
	uint64_t want = rwp ? UFFD_FEATURE_RWP | UFFD_FEATURE_RWP_ASYNC
			    : UFFD_FEATURE_WP_ASYNC | UFFD_FEATURE_WP_HUGETLBFS_SHMEM |
				      UFFD_FEATURE_WP_UNPOPULATED;
	struct uffdio_api probe = { .api = UFFD_API }, api = { .api = UFFD_API };
	struct uffdio_register reg = {
		.range = { .start = (uintptr_t)t->area->addr, .len = t->area->len },
		.mode = rwp ? UFFDIO_REGISTER_MODE_RWP : UFFDIO_REGISTER_MODE_WP,
	};
	int scratch = (int)syscall(SYS_userfaultfd, O_CLOEXEC);

	if (scratch < 0 || ioctl(scratch, UFFDIO_API, &probe) < 0)
		return fail(why, why_len, "userfaultfd");
	close(scratch);
	uint64_t required = rwp ? want : (uint64_t)UFFD_FEATURE_WP_ASYNC;

	if ((probe.features & required) != required) {
		snprintf(why, why_len, "this kernel has no %s",
			 rwp ? "UFFD_FEATURE_RWP_ASYNC" : "UFFD_FEATURE_WP_ASYNC");
		return -EOPNOTSUPP;
	}
	api.features = want & probe.features;
	t->uffd = (int)syscall(SYS_userfaultfd, O_CLOEXEC | O_NONBLOCK);
	if (t->uffd < 0 || ioctl(t->uffd, UFFDIO_API, &api) < 0)
		return fail(why, why_len, "UFFDIO_API");
	if (ioctl(t->uffd, UFFDIO_REGISTER, &reg) < 0)
		return fail(why, why_len, "UFFDIO_REGISTER");
	t->pagemap = open("/proc/self/pagemap", O_RDONLY | O_CLOEXEC);
	if (t->pagemap < 0)
		return fail(why, why_len, "/proc/self/pagemap");
	return 0;
}

int tracking_open(struct tracking *t, enum tracking_kind kind,
		  struct bench_area *area, char *why, size_t why_len)
{
	uint64_t pages = area->len / area->page_size;

	*t = (struct tracking){ .kind = kind, .area = area, .uffd = -1,
				.pagemap = -1, .idle_bitmap = -1 };
	switch (kind) {
	case TRACK_RWP:
	case TRACK_WP:
		return open_uffd(t, why, why_len);
	case TRACK_MPROTECT: {
		struct sigaction sa = { .sa_sigaction = on_segv, .sa_flags = SA_SIGINFO };

		protected_touched = calloc(pages, 1);
		protected_area = area;
		if (!protected_touched || sigaction(SIGSEGV, &sa, NULL) < 0)
			return fail(why, why_len, "SIGSEGV handler");
		return 0;
	}
	case TRACK_IDLE:
		t->idle_bitmap = open("/sys/kernel/mm/page_idle/bitmap", O_RDWR | O_CLOEXEC);
		if (t->idle_bitmap < 0)
			return fail(why, why_len,
				    "/sys/kernel/mm/page_idle/bitmap (CONFIG_IDLE_PAGE_TRACKING)");
		t->pagemap = open("/proc/self/pagemap", O_RDONLY | O_CLOEXEC);
		t->pfns = calloc(pages, sizeof(*t->pfns));
		if (t->pagemap < 0 || !t->pfns)
			return fail(why, why_len, "/proc/self/pagemap");
		return 0;
	}
	return -EINVAL;
}

bool tracking_open_or_skip(struct tracking *t, enum tracking_kind kind,
			   struct bench_area *area, const struct bench_options *options,
			   const char *bench, const char *name, int rep)
{
	char why[256], full[128];

	if (tracking_open(t, kind, area, why, sizeof(why)) == 0)
		return true;
	if (rep == 0) {
		snprintf(full, sizeof(full), "%s/%s", name, tracking_name(kind));
		bench_skip(options, bench, full, "%s", why);
	}
	tracking_close(t);
	return false;
}

void tracking_close(struct tracking *t)
{
	if (t->uffd >= 0)
		close(t->uffd);
	if (t->pagemap >= 0)
		close(t->pagemap);
	if (t->idle_bitmap >= 0)
		close(t->idle_bitmap);
	if (t->kind == TRACK_MPROTECT) {
		mprotect(t->area->addr, t->area->len, PROT_READ | PROT_WRITE);
		signal(SIGSEGV, SIG_DFL);
		protected_area = NULL;
		free(protected_touched);
		protected_touched = NULL;
	}
	free(t->pfns);
	t->uffd = t->pagemap = t->idle_bitmap = -1;
	t->pfns = NULL;
}

/* The page frames of the area (pagemap needs CAP_SYS_ADMIN for them). */
static int read_pfns(struct tracking *t)
{
	uint64_t pages = t->area->len / t->area->page_size;
	off_t at = (off_t)((uintptr_t)t->area->addr / 4096 * 8);

	if (pread(t->pagemap, t->pfns, pages * 8, at) != (ssize_t)(pages * 8))
		return -errno;
	for (uint64_t i = 0; i < pages; i++)
		t->pfns[i] = t->pfns[i] >> 63 ? t->pfns[i] & ((1ull << 55) - 1) : 0;
	return 0;
}

/* Idle bits are set and read 64 frames at a time. */
static int idle_arm(struct tracking *t)
{
	uint64_t pages = t->area->len / t->area->page_size, ones = ~0ull;
	uint64_t last_word = ~0ull;
	int ret = read_pfns(t);

	for (uint64_t i = 0; ret == 0 && i < pages; i++) {
		uint64_t word = t->pfns[i] / 64;

		if (!t->pfns[i] || word == last_word)
			continue;
		if (pwrite(t->idle_bitmap, &ones, 8, (off_t)(word * 8)) != 8)
			ret = -errno;
		last_word = word;
	}
	return ret;
}

static int64_t idle_scan(struct tracking *t, uint8_t *accessed)
{
	uint64_t pages = t->area->len / t->area->page_size, last_word = ~0ull, bits = 0;
	int64_t count = 0;

	for (uint64_t i = 0; i < pages; i++) {
		uint64_t word = t->pfns[i] / 64;

		if (!t->pfns[i])
			continue;
		if (word != last_word &&
		    pread(t->idle_bitmap, &bits, 8, (off_t)(word * 8)) != 8)
			return -errno;
		last_word = word;
		bool hot = !(bits >> (t->pfns[i] % 64) & 1);

		count += hot;
		if (accessed)
			accessed[i] = hot;
	}
	return count;
}

int tracking_arm(struct tracking *t)
{
	struct uffdio_range range = { .start = (uintptr_t)t->area->addr,
				      .len = t->area->len };

	switch (t->kind) {
	case TRACK_RWP: {
		struct uffdio_rwprotect rw = { .range = range,
					       .mode = UFFDIO_RWPROTECT_MODE_RWP };

		return ioctl(t->uffd, UFFDIO_RWPROTECT, &rw) < 0 ? -errno : 0;
	}
	case TRACK_WP: {
		struct uffdio_writeprotect wp = { .range = range,
						  .mode = UFFDIO_WRITEPROTECT_MODE_WP };

		return ioctl(t->uffd, UFFDIO_WRITEPROTECT, &wp) < 0 ? -errno : 0;
	}
	case TRACK_MPROTECT:
		memset(protected_touched, 0, t->area->len / t->area->page_size);
		return mprotect(t->area->addr, t->area->len, PROT_NONE) < 0 ? -errno : 0;
	case TRACK_IDLE:
		return idle_arm(t);
	}
	return -EINVAL;
}

int64_t tracking_scan(struct tracking *t, uint8_t *accessed)
{
	uint64_t pages = t->area->len / t->area->page_size;
	uint64_t category = t->kind == TRACK_RWP ? PAGE_IS_ACCESSED : PAGE_IS_WRITTEN;
	uint64_t cursor = (uintptr_t)t->area->addr, end = cursor + t->area->len;
	struct page_region vec[SCAN_VEC];
	int64_t count = 0;

	if (accessed)
		memset(accessed, 0, pages);
	if (t->kind == TRACK_MPROTECT) {
		for (uint64_t i = 0; i < pages; i++) {
			count += protected_touched[i];
			if (accessed)
				accessed[i] = protected_touched[i];
		}
		return count;
	}
	if (t->kind == TRACK_IDLE)
		return idle_scan(t, accessed);
	while (cursor < end) {
		struct pm_scan_arg scan = {
			.size = sizeof(scan), .start = cursor, .end = end,
			.vec = (uintptr_t)vec, .vec_len = SCAN_VEC,
			.category_mask = category, .return_mask = category,
		};
		long n = ioctl(t->pagemap, PAGEMAP_SCAN, &scan);

		if (n < 0)
			return -errno;
		for (long i = 0; i < n; i++) {
			uint64_t first = (vec[i].start - (uintptr_t)t->area->addr) / t->area->page_size;
			uint64_t last = (vec[i].end - (uintptr_t)t->area->addr) / t->area->page_size;

			count += (int64_t)(last - first);
			if (accessed)
				memset(accessed + first, 1, last - first);
		}
		if (scan.walk_end <= cursor)
			break;
		cursor = scan.walk_end;
	}
	return count;
}
