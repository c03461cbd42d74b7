/* SPDX-License-Identifier: MIT */
/*
 * The index journal of a named store: an append-only file of fixed-size
 * records, "key now holds len bytes" (put) and "key is empty" (drop).
 * Replaying it tells a restarted agent every page the store holds.  A
 * record torn by a crash (short, or a bad check word) ends the replay; the
 * file is then rewritten with one put record per live key, so it never
 * grows across restarts.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "internal.h"

#define JOURNAL_MAGIC 0x314a5357u /* "WSJ1" */
#define JOURNAL_UNIT 4096ull

enum { RECORD_PUT = 1, RECORD_DROP = 2 };

struct journal_record {
	uint32_t magic;
	uint32_t kind;
	uint64_t key;
	uint64_t len;
	uint32_t reserved;
	uint32_t check;
};

struct wset_journal {
	pthread_mutex_t lock;
	int fd;
	/* Per 4 KiB unit of key space: 0 when no page starts there, else
	 * 1 + log2(len / 4 KiB) of the page that does. */
	uint8_t *slots;
	uint64_t slot_count;
	uint64_t stored_bytes;
};

static uint32_t record_check(const struct journal_record *record)
{
	const uint8_t *bytes = (const uint8_t *)record;
	uint32_t hash = 2166136261u; /* FNV-1a over all but the check word */

	for (size_t i = 0; i < offsetof(struct journal_record, check); i++)
		hash = (hash ^ bytes[i]) * 16777619u;
	return hash;
}

static int slot_of_len(uint64_t len)
{
	int order = 0;

	if (len < JOURNAL_UNIT || len % JOURNAL_UNIT)
		return -EINVAL;
	while ((JOURNAL_UNIT << order) < len)
		order++;
	return (JOURNAL_UNIT << order) == len ? order + 1 : -EINVAL;
}

/* Make room for key's slot; called with the lock held (or before use). */
static int reserve(struct wset_journal *journal, uint64_t key)
{
	uint64_t index = key / JOURNAL_UNIT, count = journal->slot_count;
	uint8_t *grown;

	if (index < count)
		return 0;
	if (!count)
		count = 4096;
	while (count <= index)
		count *= 2;
	grown = realloc(journal->slots, count);
	if (!grown)
		return -ENOMEM;
	memset(grown + journal->slot_count, 0, count - journal->slot_count);
	journal->slots = grown;
	journal->slot_count = count;
	return 0;
}

/* Apply one record to the index. */
static int apply(struct wset_journal *journal, uint32_t kind, uint64_t key,
		 uint64_t len)
{
	int slot = slot_of_len(len), ret;
	uint8_t *at;

	if (slot < 0 || key % JOURNAL_UNIT)
		return -EINVAL;
	ret = reserve(journal, key);
	if (ret < 0)
		return ret;
	at = &journal->slots[key / JOURNAL_UNIT];
	if (*at)
		journal->stored_bytes -= JOURNAL_UNIT << (*at - 1);
	*at = kind == RECORD_PUT ? (uint8_t)slot : 0;
	if (*at)
		journal->stored_bytes += len;
	return 0;
}

static int write_all(int fd, const void *data, size_t len)
{
	const char *at = data;

	while (len) {
		ssize_t n = write(fd, at, len);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return n < 0 ? -errno : -EIO;
		at += n;
		len -= (size_t)n;
	}
	return 0;
}

static void fill_record(struct journal_record *record, uint32_t kind,
			uint64_t key, uint64_t len)
{
	memset(record, 0, sizeof(*record));
	record->magic = JOURNAL_MAGIC;
	record->kind = kind;
	record->key = key;
	record->len = len;
	record->check = record_check(record);
}

static int replay(struct wset_journal *journal, int fd)
{
	struct journal_record record;
	off_t offset = 0;
	ssize_t n;

	while ((n = pread(fd, &record, sizeof(record), offset)) == (ssize_t)sizeof(record)) {
		if (record.magic != JOURNAL_MAGIC || record.check != record_check(&record) ||
		    (record.kind != RECORD_PUT && record.kind != RECORD_DROP))
			break; /* torn by a crash: what follows was never promised */
		if (apply(journal, record.kind, record.key, record.len) < 0)
			break;
		offset += (off_t)sizeof(record);
	}
	return n < 0 ? -errno : 0;
}

/* Rewrite the journal as one put per live key, atomically (rename). */
static int compact(struct wset_journal *journal, const char *path)
{
	char temporary[PATH_MAX];
	int fd, ret = 0;

	if (snprintf(temporary, sizeof(temporary), "%s.new", path) >= (int)sizeof(temporary))
		return -ENAMETOOLONG;
	fd = open(temporary, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0600);
	if (fd < 0)
		return -errno;
	for (uint64_t index = 0; index < journal->slot_count && ret == 0; index++) {
		struct journal_record record;

		if (!journal->slots[index])
			continue;
		fill_record(&record, RECORD_PUT, index * JOURNAL_UNIT,
			    JOURNAL_UNIT << (journal->slots[index] - 1));
		ret = write_all(fd, &record, sizeof(record));
	}
	if (ret == 0 && fsync(fd) < 0)
		ret = -errno;
	close(fd);
	if (ret == 0 && rename(temporary, path) < 0)
		ret = -errno;
	if (ret < 0)
		unlink(temporary);
	return ret;
}

int __wset_journal_open(const char *path, struct wset_journal **out)
{
	struct wset_journal *journal = calloc(1, sizeof(*journal));
	int fd, ret;

	if (!journal)
		return -ENOMEM;
	fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
	if (fd < 0) {
		ret = -errno;
		free(journal);
		return ret;
	}
	ret = replay(journal, fd);
	close(fd);
	if (ret == 0)
		ret = compact(journal, path);
	if (ret == 0) {
		journal->fd = open(path, O_WRONLY | O_APPEND | O_CLOEXEC | O_NOFOLLOW);
		if (journal->fd < 0)
			ret = -errno;
	}
	if (ret < 0) {
		free(journal->slots);
		free(journal);
		return ret;
	}
	pthread_mutex_init(&journal->lock, NULL);
	*out = journal;
	return 0;
}

int __wset_journal_record(struct wset_journal *journal, bool put, uint64_t key,
			  uint64_t len)
{
	struct journal_record record;
	int ret;

	fill_record(&record, put ? RECORD_PUT : RECORD_DROP, key, len);
	pthread_mutex_lock(&journal->lock);
	/* The index grows before the record is written, so that a record
	 * on disk is always one the index could take. */
	ret = reserve(journal, key);
	if (ret == 0)
		ret = write_all(journal->fd, &record, sizeof(record));
	if (ret == 0)
		ret = apply(journal, record.kind, key, len);
	pthread_mutex_unlock(&journal->lock);
	return ret;
}

int __wset_journal_sync(struct wset_journal *journal)
{
	return fdatasync(journal->fd) < 0 ? -errno : 0;
}

uint64_t __wset_journal_stored_bytes(struct wset_journal *journal)
{
	uint64_t bytes;

	pthread_mutex_lock(&journal->lock);
	bytes = journal->stored_bytes;
	pthread_mutex_unlock(&journal->lock);
	return bytes;
}

/* Over a copy of the index: fn may call into the store (drop). */
int __wset_journal_each(struct wset_journal *journal,
			int (*fn)(void *arg, uint64_t key, size_t len), void *arg)
{
	uint64_t count;
	uint8_t *slots;
	int ret = 0;

	pthread_mutex_lock(&journal->lock);
	count = journal->slot_count;
	slots = malloc(count ? count : 1);
	if (slots && count)
		memcpy(slots, journal->slots, count);
	pthread_mutex_unlock(&journal->lock);
	if (!slots)
		return -ENOMEM;
	for (uint64_t index = 0; index < count && ret == 0; index++)
		if (slots[index])
			ret = fn(arg, index * JOURNAL_UNIT,
				 (size_t)(JOURNAL_UNIT << (slots[index] - 1)));
	free(slots);
	return ret;
}

void __wset_journal_close(struct wset_journal *journal)
{
	if (!journal)
		return;
	close(journal->fd);
	pthread_mutex_destroy(&journal->lock);
	free(journal->slots);
	free(journal);
}
