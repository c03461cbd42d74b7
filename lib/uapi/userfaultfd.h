/* SPDX-License-Identifier: MIT */
/*
 * The userfaultfd and PAGEMAP_SCAN UAPI that libwset needs, for system
 * headers older than the running kernel.  Values are binary-compatible with
 * upstream Linux (WP_ASYNC, MOVE, PAGEMAP_SCAN: 6.7/6.8) and with the RWP
 * series (SPEC section 2).  Each block only fills in what is missing.
 */
#ifndef WSET_UAPI_USERFAULTFD_H
#define WSET_UAPI_USERFAULTFD_H

#include <linux/types.h>
#include <linux/ioctl.h>
#include <linux/userfaultfd.h>
#include <linux/fs.h>

#ifndef UFFD_FEATURE_WP_UNPOPULATED
#define UFFD_FEATURE_WP_UNPOPULATED (1 << 13)
#endif
#ifndef UFFD_FEATURE_POISON
#define UFFD_FEATURE_POISON (1 << 14)
#endif
#ifndef UFFD_FEATURE_WP_ASYNC
#define UFFD_FEATURE_WP_ASYNC (1 << 15)
#endif
#ifndef UFFD_FEATURE_MOVE
#define UFFD_FEATURE_MOVE (1 << 16)
#endif

/* UFFDIO_POISON (6.6): a page that can never be supplied reads as a
 * memory error (SIGBUS), not as zeroes. */
#ifndef _UFFDIO_POISON
#define _UFFDIO_POISON (0x08)
struct uffdio_poison {
	struct uffdio_range range;
#define UFFDIO_POISON_MODE_DONTWAKE ((__u64)1 << 0)
	__u64 mode;
	__s64 updated;
};
#define UFFDIO_POISON _IOWR(UFFDIO, _UFFDIO_POISON, struct uffdio_poison)
#endif

/* Read-write protection (the wset kernel series). */
#ifndef UFFD_FEATURE_RWP
#define UFFD_FEATURE_RWP (1 << 17)
#endif
#ifndef UFFD_FEATURE_RWP_ASYNC
#define UFFD_FEATURE_RWP_ASYNC (1 << 18)
#endif
#ifndef UFFDIO_REGISTER_MODE_RWP
#define UFFDIO_REGISTER_MODE_RWP ((__u64)1 << 3)
#endif
#ifndef UFFD_PAGEFAULT_FLAG_RWP
#define UFFD_PAGEFAULT_FLAG_RWP (1 << 3)
#endif
#ifndef UFFD_PAGEFAULT_FLAG_MINOR
#define UFFD_PAGEFAULT_FLAG_MINOR (1 << 2)
#endif

#ifndef UFFDIO_RWPROTECT
#define _UFFDIO_RWPROTECT (0x09)
struct uffdio_rwprotect {
	struct uffdio_range range;
	__u64 mode;
};
#define UFFDIO_RWPROTECT_MODE_RWP ((__u64)1 << 0)
#define UFFDIO_RWPROTECT_MODE_DONTWAKE ((__u64)1 << 1)
#define UFFDIO_RWPROTECT _IOWR(UFFDIO, _UFFDIO_RWPROTECT, struct uffdio_rwprotect)
#endif

#ifndef UFFDIO_SET_MODE
#define _UFFDIO_SET_MODE (0x0A)
struct uffdio_set_mode {
	__u64 enable;
	__u64 disable;
};
#define UFFDIO_SET_MODE _IOW(UFFDIO, _UFFDIO_SET_MODE, struct uffdio_set_mode)
#endif

#ifndef UFFDIO_MOVE
#define _UFFDIO_MOVE (0x05)
struct uffdio_move {
	__u64 dst;
	__u64 src;
	__u64 len;
#define UFFDIO_MOVE_MODE_DONTWAKE ((__u64)1 << 0)
#define UFFDIO_MOVE_MODE_ALLOW_SRC_HOLES ((__u64)1 << 1)
	__u64 mode;
	__s64 move;
};
#define UFFDIO_MOVE _IOWR(UFFDIO, _UFFDIO_MOVE, struct uffdio_move)
#endif

#ifndef PAGEMAP_SCAN
#define PAGEMAP_IOCTL_MAGIC 'f'
#define PAGE_IS_WPALLOWED (1 << 0)
#define PAGE_IS_WRITTEN (1 << 1)
#define PAGE_IS_FILE (1 << 2)
#define PAGE_IS_PRESENT (1 << 3)
#define PAGE_IS_SWAPPED (1 << 4)
#define PAGE_IS_PFNZERO (1 << 5)
#define PAGE_IS_HUGE (1 << 6)
#define PAGE_IS_SOFT_DIRTY (1 << 7)
struct page_region {
	__u64 start;
	__u64 end;
	__u64 categories;
};
#define PM_SCAN_WP_MATCHING (1 << 0)
#define PM_SCAN_CHECK_WPASYNC (1 << 1)
struct pm_scan_arg {
	__u64 size;
	__u64 flags;
	__u64 start;
	__u64 end;
	__u64 walk_end;
	__u64 vec;
	__u64 vec_len;
	__u64 max_pages;
	__u64 category_inverted;
	__u64 category_mask;
	__u64 category_anyof_mask;
	__u64 return_mask;
};
#define PAGEMAP_SCAN _IOWR(PAGEMAP_IOCTL_MAGIC, 16, struct pm_scan_arg)
#endif
#ifndef PAGE_IS_ACCESSED
#define PAGE_IS_ACCESSED (1 << 9)
#endif

#ifndef UFFDIO_CONTINUE_MODE_WP
#define UFFDIO_CONTINUE_MODE_WP ((__u64)1 << 1)
#endif

#ifndef UFFD_USER_MODE_ONLY
#define UFFD_USER_MODE_ONLY 1
#endif

#endif /* WSET_UAPI_USERFAULTFD_H */
