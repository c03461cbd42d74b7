/* SPDX-License-Identifier: MIT */
/*
 * What only the target process can do in its own address space: zap PTEs
 * of file pages, move anonymous pages to staging and back, free staging
 * pages; and reading the staging area.  In our
 * own process we do it directly; in an adopted one through its in-VMM
 * helper (wset_set_helper()).
 */
#include <errno.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/uio.h>
#include <unistd.h>

#include "internal.h"

/* Whether the operations below can reach the target's address space. */
bool __wset_reaches_target(const struct wset *ws)
{
	return !ws->remote || ws->has_helper;
}

static int discard_here(uint64_t addr, uint64_t len)
{
	int saved = errno;
	int ret = madvise((void *)(uintptr_t)addr, len, MADV_DONTNEED) < 0 ?
			  -errno : 0;

	errno = saved;
	return ret;
}

/* MADV_DONTNEED in the target: here, or by the helper's callback. */
static int discard(struct wset *ws, uint64_t addr, uint64_t len, bool staging)
{
	if (!ws->remote)
		return discard_here(addr, len);
	if (!ws->has_helper)
		return -EOPNOTSUPP;
	return (staging ? ws->helper.release : ws->helper.zap)(ws->helper.priv,
							       addr, len);
}

int __wset_zap(struct wset *ws, uint64_t addr, uint64_t len)
{
	return discard(ws, addr, len, false);
}

int __wset_staging_release(struct wset *ws, uint64_t addr, uint64_t len)
{
	return discard(ws, addr, len, true);
}

int __wset_move(struct wset *ws, uint64_t dst, uint64_t src, uint64_t len)
{
	if (!ws->remote)
		return __wset_uffd_move(ws->uffd, dst, src, len);
	if (!ws->has_helper)
		return -EOPNOTSUPP;
	return ws->helper.move(ws->helper.priv, dst, src, len);
}

/* Copy staging pages of the target into buf (a no-op in our own process,
 * where buf is the staging area itself). */
int __wset_staging_read(struct wset *ws, uint64_t addr, void *buf, uint64_t len)
{
	struct iovec local = { .iov_base = buf, .iov_len = len };
	struct iovec remote = { .iov_base = (void *)(uintptr_t)addr, .iov_len = len };
	int saved = errno, ret = 0;
	ssize_t got;

	if (!ws->remote)
		return 0;
	got = process_vm_readv(ws->pid, &local, 1, &remote, 1, 0);
	if (got < 0)
		ret = -errno;
	else if ((uint64_t)got != len)
		ret = -EFAULT;
	errno = saved;
	return ret;
}

int wset_set_helper(struct wset *ws, const struct wset_helper *helper)
{
	long page = sysconf(_SC_PAGESIZE);
	int ret = 0;

	if (!ws || !helper ||
	    WSET_STRUCT_CHECK(helper, struct wset_helper, WSET_STRUCT_SIZE_MAX) ||
	    !ws->remote || !helper->zap || !helper->release ||
	    !helper->move ||
	    helper->staging_len < WSET_HELPER_STAGING_BYTES ||
	    helper->staging_addr % (uint64_t)page ||
	    helper->staging_addr + helper->staging_len < helper->staging_addr)
		return -EINVAL;
	pthread_mutex_lock(&ws->engine_lock);
	if (ws->region_count || ws->has_helper) {
		ret = -EBUSY;
	} else {
		ws->helper = *helper;
		ws->has_helper = true;
	}
	pthread_mutex_unlock(&ws->engine_lock);
	return ret;
}
