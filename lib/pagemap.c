/* SPDX-License-Identifier: MIT */
/* PAGEMAP_SCAN walks over the target process's page tables. */
#include <errno.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include "internal.h"

#define SCAN_VEC 256

int __wset_pagemap_scan(int pagemap_fd, uint64_t start, uint64_t end,
			uint64_t flags, uint64_t category_mask,
			uint64_t anyof_mask, uint64_t return_mask,
			__wset_scan_fn fn, void *arg)
{
	struct page_region vec[SCAN_VEC];
	uint64_t cursor = start;
	int saved = errno;

	while (cursor < end) {
		struct pm_scan_arg scan = {
			.size = sizeof(scan),
			.flags = flags,
			.start = cursor,
			.end = end,
			.vec = (uint64_t)(uintptr_t)vec,
			.vec_len = SCAN_VEC,
			.category_mask = category_mask,
			.category_anyof_mask = anyof_mask,
			.return_mask = return_mask,
		};
		long count = ioctl(pagemap_fd, PAGEMAP_SCAN, &scan);

		if (count < 0) {
			int ret = -errno;

			errno = saved;
			if (ret == -EINTR)
				continue;
			return ret;
		}
		for (long i = 0; i < count; i++)
			fn(arg, vec[i].start, vec[i].end, vec[i].categories);
		/* The walk may stop early when vec fills up. */
		if (scan.walk_end <= cursor)
			break;
		cursor = scan.walk_end;
	}
	errno = saved;
	return 0;
}

struct mark_walk {
	const struct wset_region *region;
	uint8_t *marks;
	uint64_t first; /* page index that marks[0] stands for */
	uint64_t count;
	__wset_scan_fn then;
	void *then_arg;
};

static void mark_range(void *arg, uint64_t start, uint64_t end,
		       uint64_t categories)
{
	struct mark_walk *walk = arg;
	const struct wset_region *region = walk->region;
	uint64_t first = (start - region->addr) / region->page_size;
	uint64_t last = (end - region->addr + region->page_size - 1) /
			region->page_size;

	for (uint64_t page = first; page < last; page++)
		if (page >= walk->first && page < walk->first + walk->count)
			walk->marks[page - walk->first] = 1;
	if (walk->then)
		walk->then(walk->then_arg, start, end, categories);
}

/* Set marks[i] for every page of [start, end) (addresses inside region,
 * marks[0] for start) that the scan reports, and hand each reported range
 * to then (if not NULL). */
int __wset_pagemap_mark_each(struct wset *ws, struct wset_region *region,
			     uint64_t start, uint64_t end, uint64_t flags,
			     uint64_t category_mask, uint64_t anyof_mask,
			     uint8_t *marks, __wset_scan_fn then, void *then_arg)
{
	struct mark_walk walk = {
		.region = region,
		.marks = marks,
		.first = (start - region->addr) / region->page_size,
		.count = (end - start) / region->page_size,
		.then = then,
		.then_arg = then_arg,
	};

	return __wset_pagemap_scan(ws->pagemap_fd, start, end, flags,
				   category_mask, anyof_mask,
				   category_mask | anyof_mask, mark_range,
				   &walk);
}

int __wset_pagemap_mark(struct wset *ws, struct wset_region *region,
			uint64_t start, uint64_t end, uint64_t flags,
			uint64_t category_mask, uint64_t anyof_mask,
			uint8_t *marks)
{
	return __wset_pagemap_mark_each(ws, region, start, end, flags,
					category_mask, anyof_mask, marks, NULL,
					NULL);
}

/* Whether a page (resident or swapped) is mapped at addr in the target:
 * the classic pagemap entry, bits 63 and 62. */
bool __wset_page_present(struct wset *ws, uint64_t addr)
{
	uint64_t entry = 0;
	int saved = errno;
	ssize_t got = pread(ws->pagemap_fd, &entry, sizeof(entry),
			    (off_t)(addr / 4096 * sizeof(entry)));

	errno = saved;
	return got == sizeof(entry) && (entry >> 62);
}
