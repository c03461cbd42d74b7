/* SPDX-License-Identifier: MIT */
/* Regions of guest memory: validation, I/O view, registration. */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/vfs.h>
#include <unistd.h>

#include "internal.h"

#ifndef HUGETLBFS_MAGIC
#define HUGETLBFS_MAGIC 0x958458f6
#endif

/* Called with ws->lock held. */
struct wset_region *__wset_find_region(struct wset *ws, uint64_t addr)
{
	for (int i = 0; i < ws->region_count; i++) {
		struct wset_region *region = ws->regions[i];

		if (region->active && addr >= region->addr &&
		    addr - region->addr < region->len)
			return region;
	}
	return NULL;
}

/* The region at index if it is active, else NULL.  Regions are never
 * freed before wset_destroy(), so the pointer stays valid. */
struct wset_region *__wset_active_region(struct wset *ws, int index)
{
	struct wset_region *region = NULL;

	pthread_mutex_lock(&ws->lock);
	if (index < ws->region_count && ws->regions[index]->active)
		region = ws->regions[index];
	pthread_mutex_unlock(&ws->lock);
	return region;
}

/*
 * 0 if [addr, addr + len) is mapped without gaps in pid, else -ENOMEM;
 * -EINVAL if some of it is not the kind asked for: private anonymous
 * memory (file = false) or a shared file mapping (file = true).
 */
int __wset_maps_covered(pid_t pid, uint64_t addr, uint64_t len, bool file)
{
	char path[64], line[512];
	uint64_t cursor = addr, end = addr + len;
	int saved = errno, ret = 0;
	FILE *maps;

	snprintf(path, sizeof(path), "/proc/%d/maps", (int)pid);
	maps = fopen(path, "re");
	if (!maps) {
		ret = -errno;
		errno = saved;
		return ret;
	}
	while (cursor < end && fgets(line, sizeof(line), maps)) {
		uint64_t start, stop, inode;
		char perms[8], name[256] = "";

		if (sscanf(line, "%" SCNx64 "-%" SCNx64 " %7s %*s %*s %" SCNu64 " %255s",
			   &start, &stop, perms, &inode, name) < 4)
			continue;
		if (stop <= cursor)
			continue;
		if (start > cursor)
			break;
		bool shared = perms[3] == 's';
		bool anonymous = inode == 0 && !strstr(name, "anon_hugepage");
		if (file ? !shared : shared || !anonymous)
			ret = -EINVAL;
		cursor = stop;
	}
	fclose(maps);
	errno = saved;
	if (cursor < end)
		return -ENOMEM;
	return ret;
}

void __wset_region_free(struct wset_region *region)
{
	if (!region)
		return;
	if (region->io_view)
		munmap(region->io_view, region->len);
	if (region->fd >= 0)
		close(region->fd);
	free(region->state);
	free(region->age);
	free(region->batch);
	free(region);
}

static bool overlaps(struct wset *ws, uint64_t addr, uint64_t len)
{
	for (int i = 0; i < ws->region_count; i++) {
		struct wset_region *region = ws->regions[i];

		if (region->active && addr < region->addr + region->len &&
		    region->addr < addr + len)
			return true;
	}
	return false;
}

static int check_range(struct wset *ws, enum wset_region_kind kind,
		       uint64_t addr, uint64_t len, uint64_t page_size)
{
	if (len == 0 || addr % page_size || len % page_size ||
	    addr + len < addr)
		return -EINVAL;
	if (overlaps(ws, addr, len))
		return -EEXIST;
	return __wset_maps_covered(ws->pid, addr, len, kind == REGION_FILE);
}

/* The staging area takes pages moved out of anonymous regions; UFFDIO_MOVE
 * wants it in the target and registered with the same userfaultfd.  In
 * our own process we map it; an adopted one's helper has mapped it and
 * we read it through a local copy. */
static int ensure_staging(struct wset *ws)
{
	uint64_t len = (uint64_t)WSET_BATCH_PAGES * (uint64_t)sysconf(_SC_PAGESIZE);
	uint64_t area;
	int ret, saved = errno;

	if (ws->staging)
		return 0;
	if (ws->remote) {
		area = ws->helper.staging_addr;
		ret = __wset_maps_covered(ws->pid, area, len, false);
		if (ret < 0)
			return ret;
		ws->staging_local = aligned_alloc(4096, len);
		if (!ws->staging_local)
			return -ENOMEM;
	} else {
		void *mapping = mmap(NULL, len, PROT_READ | PROT_WRITE,
				     MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE,
				     -1, 0);

		if (mapping == MAP_FAILED) {
			ret = -errno;
			errno = saved;
			return ret;
		}
		/* Keep THP out: moves and releases are per small page. */
		madvise(mapping, len, MADV_NOHUGEPAGE);
		errno = saved;
		area = (uintptr_t)mapping;
		ws->staging_local = mapping;
		ws->staging_owned = true;
	}
	ret = __wset_uffd_register(ws->uffd, area, len,
				   UFFDIO_REGISTER_MODE_MISSING, NULL);
	if (ret < 0) {
		if (ws->staging_owned)
			munmap(ws->staging_local, len);
		else
			free(ws->staging_local);
		ws->staging_local = NULL;
		ws->staging_owned = false;
		return ret;
	}
	ws->staging = area;
	ws->staging_len = len;
	return 0;
}

static int ensure_zero_page(struct wset *ws, uint64_t page_size)
{
	if (ws->zero_page && ws->max_page_size >= page_size)
		return 0;
	uint8_t *zero = aligned_alloc(4096, page_size);
	if (!zero)
		return -ENOMEM;
	memset(zero, 0, page_size);
	free(ws->zero_page);
	ws->zero_page = zero;
	ws->max_page_size = page_size;
	return 0;
}

static struct wset_region *region_new(enum wset_region_kind kind,
				      uint64_t addr, uint64_t len,
				      uint64_t page_size)
{
	struct wset_region *region = calloc(1, sizeof(*region));

	if (!region)
		return NULL;
	region->kind = kind;
	region->addr = addr;
	region->len = len;
	region->page_size = page_size;
	region->pages = len / page_size;
	region->fd = -1;
	region->state = calloc(region->pages, 1);
	region->age = calloc(region->pages, 1);
	region->batch = calloc(region->pages, sizeof(*region->batch));
	if (!region->state || !region->age || !region->batch) {
		__wset_region_free(region);
		return NULL;
	}
	return region;
}

/* Register, arm and publish.  Called with engine_lock held. */
static int region_attach(struct wset *ws, struct wset_region *region)
{
	uint64_t mode;
	int ret;

	if (ws->region_count == WSET_MAX_REGIONS)
		return -ENOSPC;
	ret = ensure_zero_page(ws, region->page_size);
	if (ret < 0)
		return ret;
	if (region->kind == REGION_ANON && region->evictable) {
		ret = ensure_staging(ws);
		if (ret < 0)
			return ret;
	}
	mode = ws->ops->register_mode(ws, region);
	/* A group member's accesses are held by MINOR faults while the
	 * leader evicts (group.c). */
	if (ws->group_member && region->kind == REGION_FILE)
		mode |= UFFDIO_REGISTER_MODE_MINOR;
	ret = __wset_uffd_register(ws->uffd, region->addr, region->len, mode, NULL);
	if (ret < 0)
		return ret;
	ret = ws->ops->arm(ws, region, region->addr, region->addr + region->len);
	if (ret < 0) {
		__wset_uffd_unregister(ws->uffd, region->addr, region->len);
		return ret;
	}

	pthread_mutex_lock(&ws->lock);
	region->id = ws->region_count;
	region->store_base = ws->next_store_base;
	/* Keys of different regions never meet, even for huge pages. */
	ws->next_store_base += (region->len + (1ull << 30) - 1) & ~((1ull << 30) - 1);
	region->active = true;
	ws->regions[ws->region_count++] = region;
	__wset_count(&ws->counters.tracked_bytes, region->len);
	pthread_mutex_unlock(&ws->lock);
	return region->id;
}

/* Takes engine_lock (the caller drops it) and makes a region for a
 * valid range. */
static int region_begin(struct wset *ws, enum wset_region_kind kind,
			uint64_t addr, uint64_t len, uint64_t page_size,
			struct wset_region **out)
{
	int ret;

	pthread_mutex_lock(&ws->engine_lock);
	pthread_mutex_lock(&ws->lock);
	ret = check_range(ws, kind, addr, len, page_size);
	pthread_mutex_unlock(&ws->lock);
	if (ret < 0)
		return ret;
	*out = region_new(kind, addr, len, page_size);
	return *out ? 0 : -ENOMEM;
}

int wset_add_anon(struct wset *ws, uint64_t addr, uint64_t len)
{
	uint64_t page_size = (uint64_t)sysconf(_SC_PAGESIZE);
	struct wset_region *region;
	int ret;

	if (!ws)
		return -EINVAL;
	ret = region_begin(ws, REGION_ANON, addr, len, page_size, &region);
	if (ret < 0)
		goto out;
	/* Freeing the staging copy needs MADV_DONTNEED in the target. */
	region->evictable = __wset_reaches_target(ws) &&
			    (ws->features & UFFD_FEATURE_MOVE);
	ret = region_attach(ws, region);
	if (ret < 0)
		__wset_region_free(region);
out:
	pthread_mutex_unlock(&ws->engine_lock);
	return ret;
}

static int file_page_size(int fd, uint64_t *page_size, struct stat *out)
{
	struct statfs fs;
	struct stat st;
	int saved = errno, ret = 0;

	if (fstat(fd, &st) < 0 || fstatfs(fd, &fs) < 0)
		ret = -EBADF;
	else if (!S_ISREG(st.st_mode))
		ret = -EINVAL;
	else if ((unsigned long)fs.f_type == HUGETLBFS_MAGIC)
		*page_size = (uint64_t)st.st_blksize;
	else
		*page_size = (uint64_t)sysconf(_SC_PAGESIZE);
	*out = st;
	errno = saved;
	return ret;
}

int wset_add_file(struct wset *ws, uint64_t addr, uint64_t len, int fd,
		  uint64_t offset)
{
	struct wset_region *region = NULL;
	uint64_t page_size;
	struct stat file;
	int ret, saved = errno;
	void *view;

	if (!ws)
		return -EINVAL;
	if (fd < 0)
		return -EBADF;
	ret = file_page_size(fd, &page_size, &file);
	if (ret < 0)
		return ret;
	if (offset % page_size || offset + len < offset)
		return -EINVAL;

	ret = region_begin(ws, REGION_FILE, addr, len, page_size, &region);
	if (ret < 0)
		goto out;
	region->hugetlb = page_size != (uint64_t)sysconf(_SC_PAGESIZE);
	region->offset = offset;
	region->dev = file.st_dev;
	region->ino = file.st_ino;
	region->fd = fcntl(fd, F_DUPFD_CLOEXEC, 0);
	if (region->fd < 0) {
		ret = -errno;
		goto out_free;
	}
	view = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_SHARED, region->fd,
		    (off_t)offset);
	if (view == MAP_FAILED) {
		ret = -errno;
		goto out_free;
	}
	region->io_view = view;
	/* A group member's pages are evicted by the leader. */
	region->evictable = ws->ops->can_evict_file(ws) && !ws->group_member;
	ret = region_attach(ws, region);
	if (ret >= 0)
		goto out;
out_free:
	__wset_region_free(region);
out:
	pthread_mutex_unlock(&ws->engine_lock);
	errno = saved;
	return ret;
}

int wset_remove_region(struct wset *ws, int id)
{
	struct wset_region *region;
	int ret;

	if (!ws || id < 0)
		return -EINVAL;
	pthread_mutex_lock(&ws->engine_lock);
	pthread_mutex_lock(&ws->lock);
	region = id < ws->region_count ? ws->regions[id] : NULL;
	pthread_mutex_unlock(&ws->lock);
	ret = -ENOENT;
	if (!region || !region->active)
		goto out;
	ret = __wset_restore_region_locked(ws, region);
	if (ret < 0)
		goto out;
	__wset_uffd_unregister(ws->uffd, region->addr, region->len);
	pthread_mutex_lock(&ws->lock);
	region->active = false;
	__atomic_fetch_sub(&ws->counters.tracked_bytes, region->len, __ATOMIC_RELAXED);
	pthread_mutex_unlock(&ws->lock);
	/* The struct stays until wset_destroy(): handler threads may still
	 * hold a pointer to it. */
	if (region->io_view) {
		munmap(region->io_view, region->len);
		region->io_view = NULL;
	}
out:
	pthread_mutex_unlock(&ws->engine_lock);
	return ret;
}
