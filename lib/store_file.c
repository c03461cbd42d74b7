/* SPDX-License-Identifier: MIT */
/*
 * The sparse-file store: a page lives at its key as file offset.  A named
 * store adds an index journal (store_journal.c) and keeps both files, so
 * that a restarted agent finds every page it had evicted.
 */
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <unistd.h>

#include "internal.h"

struct file_store {
	struct wset_store store;
	int fd;
	struct wset_journal *journal; /* named stores only */
	enum wset_durability durability;
	uint64_t stored_bytes;
	uint64_t put_count;
	uint64_t get_count;
	uint64_t error_count;
};

/* pwritev or preadv all of the iovecs at key, however the kernel splits it;
 * *done says how far it got (all of it on success). */
static int transfer_vector(struct file_store *fs, bool write, uint64_t key,
			   const struct iovec *iov, int iovcnt, size_t *done)
{
	struct iovec rest[IOV_MAX];
	off_t offset = (off_t)key;
	int first = 0;

	if (iovcnt < 1 || iovcnt > IOV_MAX)
		return -EINVAL;
	memcpy(rest, iov, (size_t)iovcnt * sizeof(*rest));
	*done = 0;
	while (first < iovcnt) {
		ssize_t n = write ? pwritev(fs->fd, rest + first, iovcnt - first, offset)
				  : preadv(fs->fd, rest + first, iovcnt - first, offset);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			__wset_count(&fs->error_count, 1);
			return n < 0 ? -errno : -EIO;
		}
		offset += n;
		*done += (size_t)n;
		/* Skip what is done, part of an iovec included. */
		while (first < iovcnt && (size_t)n >= rest[first].iov_len)
			n -= (ssize_t)rest[first++].iov_len;
		if (first < iovcnt) {
			rest[first].iov_base = (char *)rest[first].iov_base + n;
			rest[first].iov_len -= (size_t)n;
		}
	}
	return 0;
}

/* pwrite or pread all of len bytes at key. */
static int transfer(struct file_store *fs, bool write, uint64_t key, void *buf,
		    size_t len)
{
	const struct iovec iov = { buf, len };
	size_t done;

	return transfer_vector(fs, write, key, &iov, 1, &done);
}

static size_t io_length(const struct wset_store_io *io)
{
	size_t len = 0;

	for (int i = 0; i < io->iovcnt; i++)
		len += io->iov[i].iov_len;
	return len;
}

/*
 * Requests for adjacent keys in one pwritev or preadv (as many as IOV_MAX
 * iovecs allow); each request gets its run's result.  A put is journalled
 * after its data, as file_put does.
 */
static int file_batch(struct file_store *fs, bool write, struct wset_store_io *io,
		      unsigned int count)
{
	struct iovec iov[IOV_MAX];
	int saved = errno;

	for (unsigned int i = 0; i < count;) {
		unsigned int run = 0;
		uint64_t next = io[i].key;
		size_t done, end = 0;
		int iovcnt = 0, ret;

		while (i + run < count && io[i + run].key == next &&
		       iovcnt + io[i + run].iovcnt <= IOV_MAX) {
			memcpy(iov + iovcnt, io[i + run].iov,
			       (size_t)io[i + run].iovcnt * sizeof(*iov));
			iovcnt += io[i + run].iovcnt;
			next += io_length(&io[i + run]);
			run++;
		}
		if (run == 0) { /* one request of more than IOV_MAX iovecs */
			io[i++].result = -EINVAL;
			continue;
		}
		ret = transfer_vector(fs, write, io[i].key, iov, iovcnt, &done);
		for (unsigned int j = i; j < i + run; j++) {
			size_t len = io_length(&io[j]);

			/* A run cut short (ENOSPC): the requests done are done. */
			end += len;
			io[j].result = end <= done ? 0 : ret;
			if (ret == 0 && write && fs->journal) {
				io[j].result = __wset_journal_record(fs->journal, true,
								     io[j].key, len);
				if (io[j].result < 0)
					__wset_count(&fs->error_count, 1);
			}
			if (io[j].result == 0 && write) {
				__wset_count(&fs->stored_bytes, len);
				__wset_count(&fs->put_count, 1);
			} else if (io[j].result == 0) {
				__wset_count(&fs->get_count, 1);
			}
		}
		i += run;
	}
	errno = saved;
	return 0;
}

static int file_put_batch(void *priv, struct wset_store_io *io, unsigned int count)
{
	return file_batch(priv, true, io, count);
}

static int file_get_batch(void *priv, struct wset_store_io *io, unsigned int count)
{
	return file_batch(priv, false, io, count);
}

static int file_put(void *priv, uint64_t key, const void *data, size_t len)
{
	struct file_store *fs = priv;
	int saved = errno;
	int ret = transfer(fs, true, key, (void *)data, len);
	/* The data first: a journal record names only data already there. */
	if (ret == 0 && fs->journal) {
		ret = __wset_journal_record(fs->journal, true, key, len);
		if (ret < 0)
			__wset_count(&fs->error_count, 1);
	}
	if (ret == 0) {
		__wset_count(&fs->stored_bytes, len);
		__wset_count(&fs->put_count, 1);
	}
	errno = saved;
	return ret;
}

static int file_get(void *priv, uint64_t key, void *buf, size_t len)
{
	int saved = errno;
	struct file_store *fs = priv;
	int ret = transfer(fs, false, key, buf, len);

	if (ret == 0)
		__wset_count(&fs->get_count, 1);
	errno = saved;
	return ret;
}

static int file_drop(void *priv, uint64_t key, size_t len)
{
	struct file_store *fs = priv;
	int saved = errno;

	/* Forgotten in the journal before the data goes. */
	if (fs->journal) {
		int ret = __wset_journal_record(fs->journal, false, key, len);

		if (ret < 0) {
			__wset_count(&fs->error_count, 1);
			errno = saved;
			return ret;
		}
	}
	if (fallocate(fs->fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE,
		      (off_t)key, (off_t)len) < 0) {
		int ret = -errno;

		__wset_count(&fs->error_count, 1);
		errno = saved;
		return ret;
	}
	__atomic_fetch_sub(&fs->stored_bytes, len, __ATOMIC_RELAXED);
	return 0;
}

static int file_stats(void *priv, struct wset_store_stats *stats)
{
	struct file_store *fs = priv;

	stats->stored_bytes = __atomic_load_n(&fs->stored_bytes, __ATOMIC_RELAXED);
	stats->capacity_bytes = 0;
	stats->put_count = __atomic_load_n(&fs->put_count, __ATOMIC_RELAXED);
	stats->get_count = __atomic_load_n(&fs->get_count, __ATOMIC_RELAXED);
	stats->error_count = __atomic_load_n(&fs->error_count, __ATOMIC_RELAXED);
	return 0;
}

static void file_close(void *priv)
{
	struct file_store *fs = priv;

	close(fs->fd);
	__wset_journal_close(fs->journal);
	free(fs);
}

static int file_sync(void *priv)
{
	struct file_store *fs = priv;
	int saved = errno, ret = 0;

	if (fs->durability != WSET_DURABILITY_FSYNC)
		return 0;
	/* Data, then the journal that names it. */
	if (fdatasync(fs->fd) < 0)
		ret = -errno;
	if (ret == 0 && fs->journal)
		ret = __wset_journal_sync(fs->journal);
	if (ret < 0)
		__wset_count(&fs->error_count, 1);
	errno = saved;
	return ret;
}

static int file_each(void *priv, int (*fn)(void *arg, uint64_t key, size_t len),
		     void *arg)
{
	struct file_store *fs = priv;

	return fs->journal ? __wset_journal_each(fs->journal, fn, arg) : -EOPNOTSUPP;
}

static const struct wset_store_ops file_store_ops = WSET_STORE_OPS_INIT(
	.put = file_put,
	.get = file_get,
	.drop = file_drop,
	.stats = file_stats,
	.close = file_close,
	.sync = file_sync,
	.each = file_each,
	.put_batch = file_put_batch,
	.get_batch = file_get_batch,
);

static struct file_store *store_new(int fd, struct wset_journal *journal,
				    enum wset_durability durability)
{
	struct file_store *fs = calloc(1, sizeof(*fs));

	if (!fs)
		return NULL;
	fs->fd = fd;
	fs->journal = journal;
	fs->durability = durability;
	fs->store.ops = &file_store_ops;
	fs->store.priv = fs;
	return fs;
}

/* A named store journals each page: runs only for the temporary store. */
bool __wset_store_takes_runs(const struct wset_store *store)
{
	return store->ops == &file_store_ops &&
	       !((const struct file_store *)store->priv)->journal;
}


/* An unlinked file in dir: nothing is left behind after a crash. */
static int open_in_directory(const char *dir)
{
	char path[PATH_MAX];
	int fd = open(dir, O_RDWR | O_TMPFILE | O_CLOEXEC, 0600);

	if (fd >= 0)
		return fd;
	if (snprintf(path, sizeof(path), "%s/wset-store-XXXXXX", dir) >=
	    (int)sizeof(path))
		return -ENAMETOOLONG;
	fd = mkostemp(path, O_CLOEXEC);
	if (fd < 0)
		return -errno;
	unlink(path);
	return fd;
}

int wset_file_store_open(const char *path, struct wset_store **out)
{
	struct file_store *fs;
	struct stat st;
	int saved = errno, fd;

	if (!path || !*path || !out)
		return -EINVAL;
	if (stat(path, &st) == 0 && S_ISDIR(st.st_mode))
		fd = open_in_directory(path);
	else
		fd = open(path, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd < 0) {
		fd = fd == -1 ? -errno : fd;
		errno = saved;
		return fd;
	}
	fs = store_new(fd, NULL, WSET_DURABILITY_WRITTEN);
	if (!fs) {
		close(fd);
		errno = saved;
		return -ENOMEM;
	}
	*out = &fs->store;
	errno = saved;
	return 0;
}

static bool valid_name(const char *name)
{
	size_t length = name ? strlen(name) : 0;

	if (length == 0 || length > 128 || name[0] == '.')
		return false;
	for (const char *c = name; *c; c++)
		if (!isalnum((unsigned char)*c) && !strchr("._-", *c))
			return false;
	return true;
}

static int named_paths(const char *directory, const char *name, char *pages,
		       char *journal)
{
	if (!directory || !*directory || !valid_name(name))
		return -EINVAL;
	if (snprintf(pages, PATH_MAX, "%s/%s.pages", directory, name) >= PATH_MAX ||
	    snprintf(journal, PATH_MAX, "%s/%s.journal", directory, name) >= PATH_MAX)
		return -ENAMETOOLONG;
	return 0;
}

int wset_named_store_open(const char *directory, const char *name,
			  enum wset_durability durability,
			  struct wset_store **out)
{
	char pages[PATH_MAX], journal_path[PATH_MAX];
	struct wset_journal *journal;
	struct file_store *fs;
	int saved = errno, fd, ret;

	if (!out || (durability != WSET_DURABILITY_WRITTEN &&
		     durability != WSET_DURABILITY_FSYNC))
		return -EINVAL;
	ret = named_paths(directory, name, pages, journal_path);
	if (ret < 0)
		return ret;
	fd = open(pages, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
	if (fd < 0) {
		ret = -errno;
		errno = saved;
		return ret;
	}
	ret = __wset_journal_open(journal_path, &journal);
	if (ret < 0) {
		close(fd);
		errno = saved;
		return ret;
	}
	fs = store_new(fd, journal, durability);
	if (!fs) {
		__wset_journal_close(journal);
		close(fd);
		errno = saved;
		return -ENOMEM;
	}
	fs->stored_bytes = __wset_journal_stored_bytes(journal);
	*out = &fs->store;
	errno = saved;
	return 0;
}

int wset_named_store_remove(const char *directory, const char *name)
{
	char pages[PATH_MAX], journal[PATH_MAX];
	int saved = errno, ret = named_paths(directory, name, pages, journal);

	if (ret < 0)
		return ret;
	if (unlink(journal) < 0)
		ret = -errno;
	if (unlink(pages) < 0 && ret == 0)
		ret = -errno;
	errno = saved;
	return ret;
}
