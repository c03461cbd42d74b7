/* SPDX-License-Identifier: MIT */
/*
 * The named, persistent store: its journal survives a close (as it
 * survives an agent's crash) and a torn last record; its files are mode
 * 0600; a full filesystem (a small tmpfs mounted for the test) abandons
 * evictions without losing a page; and a store whose sync fails (EIO,
 * injected by a store wrapper only this test sets) keeps every page of the
 * step resident, because no page leaves memory before its copy is durable.
 * usage: store_persist MECHANISM
 */
#include <stdlib.h>
#include <sys/mount.h>
#include <sys/stat.h>

#include "testlib.h"

#define PAGES 1024

static struct wset_store *inner;
static unsigned long sync_calls;

static int failing_sync(void *priv)
{
	(void)priv;
	sync_calls++;
	return -EIO;
}

static const struct wset_store_ops unsyncable_ops = WSET_STORE_OPS_INIT(
	.put = test_forward_put,
	.get = test_forward_get,
	.drop = test_forward_drop,
	.stats = test_forward_stats,
	.sync = failing_sync
);

static int count_key(void *arg, uint64_t key, size_t len)
{
	(void)key;
	*(uint64_t *)arg += len;
	return 0;
}

static uint64_t listed_bytes(struct wset_store *store)
{
	uint64_t bytes = 0;

	store->ops->each(store->priv, count_key, &bytes);
	return bytes;
}

static void fill(uint8_t *mem, size_t page, uint64_t generation)
{
	for (size_t i = 0; i < PAGES; i++)
		for (size_t off = 0; off < page; off += 512)
			*(uint64_t *)(mem + i * page + off) = generation ^ (i << 20) ^ off;
}

static size_t count_bad(const uint8_t *mem, size_t page, uint64_t generation)
{
	size_t bad = 0;

	for (size_t i = 0; i < PAGES; i++)
		for (size_t off = 0; off < page; off += 512)
			if (*(const uint64_t *)(mem + i * page + off) !=
			    (generation ^ (i << 20) ^ off)) {
				bad++;
				break;
			}
	return bad;
}

static bool mode_0600(const char *directory, const char *file)
{
	char path[512];
	struct stat status;

	snprintf(path, sizeof(path), "%s/%s", directory, file);
	return stat(path, &status) == 0 && (status.st_mode & 0777) == 0600;
}

static void journal_survives(const char *directory)
{
	uint8_t data[4096], back[4096];
	struct wset_store *store;
	char path[512];
	FILE *journal;
	int ret;

	tap_ok(wset_named_store_open(directory, "../escape", WSET_DURABILITY_WRITTEN,
				     &store) == -EINVAL &&
		       wset_named_store_open(directory, "", WSET_DURABILITY_WRITTEN, &store) ==
			       -EINVAL,
	       "names with a slash, or empty, are refused");
	ret = wset_named_store_open(directory, "unit", WSET_DURABILITY_FSYNC, &store);
	if (!tap_ok(ret == 0, "a named store opens (%s)", strerror(-ret)))
		return;
	for (int i = 0; i < 3; i++) {
		memset(data, 'a' + i, sizeof(data));
		store->ops->put(store->priv, (uint64_t)i * 8192, data, sizeof(data));
	}
	store->ops->drop(store->priv, 8192, sizeof(data));
	tap_ok(store->ops->sync(store->priv) == 0, "fsync durability: sync succeeds");
	wset_store_close(store);
	tap_ok(mode_0600(directory, "unit.pages") && mode_0600(directory, "unit.journal"),
	       "unit.pages and unit.journal are mode 0600");

	/* A crash in the middle of a record leaves a torn tail. */
	snprintf(path, sizeof(path), "%s/unit.journal", directory);
	journal = fopen(path, "a");
	if (journal) {
		fwrite("torn!!!", 1, 7, journal);
		fclose(journal);
	}
	ret = wset_named_store_open(directory, "unit", WSET_DURABILITY_WRITTEN, &store);
	if (!tap_ok(ret == 0, "it opens again, a torn record at the end"))
		return;
	{
		struct wset_store_stats stats;

		store->ops->stats(store->priv, &stats);
		tap_ok(listed_bytes(store) == 8192 && stats.stored_bytes == 8192,
		       "the journal lists the 2 pages put and not dropped (%llu bytes listed, "
		       "%llu stored)", (unsigned long long)listed_bytes(store),
		       (unsigned long long)stats.stored_bytes);
	}
	memset(data, 'c', sizeof(data));
	tap_ok(store->ops->get(store->priv, 16384, back, sizeof(back)) == 0 &&
		       memcmp(back, data, sizeof(data)) == 0,
	       "a page put before the close reads back");
	wset_store_close(store);
	tap_ok(wset_named_store_remove(directory, "unit") == 0 &&
		       !mode_0600(directory, "unit.pages"),
	       "wset_named_store_remove() removes the files");
}

/* A tracker over a memfd region of PAGES pages, filled and aged. */
static struct wset *memfd_tracker(struct wset_config *config, uint64_t generation,
				  uint8_t **mem, int *fd)
{
	size_t page = (size_t)sysconf(_SC_PAGESIZE);
	struct wset *ws = test_create(config);
	char why[256];

	*mem = test_memory(MEMORY_MEMFD, PAGES * page, fd, why, sizeof(why));
	if (!*mem || test_add(ws, MEMORY_MEMFD, *mem, PAGES * page, *fd) < 0)
		tap_bail("memfd region: %s", *mem ? "add failed" : why);
	fill(*mem, page, generation);
	for (int t = 0; t < 3; t++)
		wset_tick(ws);
	return ws;
}

static void full_filesystem(enum wset_mechanism mechanism, const char *mount_point)
{
	size_t page = (size_t)sysconf(_SC_PAGESIZE), len = PAGES * page;
	struct wset_config config = WSET_CONFIG_INIT;
	struct wset_counters counters = WSET_COUNTERS_INIT;
	uint64_t evicted = 0;
	struct wset *ws;
	uint8_t *mem;
	int fd, ret;

	if (mount("wset-test", mount_point, "tmpfs", 0, "size=256k,mode=0700")) {
		int error = errno;

		for (int i = 0; i < 5; i++)
			tap_ok(true, "# SKIP full filesystem: cannot mount a 256 KiB tmpfs: %s",
			       strerror(error));
		return;
	}
	ret = wset_named_store_open(mount_point, "full", WSET_DURABILITY_WRITTEN,
				    &config.store);
	if (!tap_ok(ret == 0, "a store on a 256 KiB tmpfs opens")) {
		umount(mount_point);
		return;
	}
	config.mechanism = mechanism;
	ws = memfd_tracker(&config, 0xf011, &mem, &fd);
	ret = wset_evict(ws, 1, 0, &evicted);
	wset_counters(ws, &counters);
	tap_ok(evicted > 0 && evicted < len && counters.store_put_errors > 0 &&
		       counters.abandoned >= counters.store_put_errors,
	       "ENOSPC: %llu KiB evicted before the filesystem filled, %llu puts failed "
	       "and were abandoned", (unsigned long long)(evicted >> 10),
	       (unsigned long long)counters.store_put_errors);
	tap_ok(count_bad(mem, page, 0xf011) == 0,
	       "every page reads back intact, evicted or abandoned");
	tap_ok(wset_destroy(ws) == 0, "wset_destroy() returns every page");
	wset_store_close(config.store);
	munmap(mem, len);
	close(fd);
	tap_ok(umount(mount_point) == 0, "the tmpfs is unmounted");
}

static void sync_failure(enum wset_mechanism mechanism, const char *directory)
{
	size_t page = (size_t)sysconf(_SC_PAGESIZE), len = PAGES * page;
	struct wset_config config = WSET_CONFIG_INIT;
	struct wset_store unsyncable = { .ops = &unsyncable_ops };
	struct wset_counters counters = WSET_COUNTERS_INIT;
	uint64_t evicted = 1;
	struct wset *ws;
	uint8_t *mem;
	int fd, ret;

	ret = wset_named_store_open(directory, "unsyncable", WSET_DURABILITY_FSYNC, &inner);
	unsyncable.priv = inner; /* the forwarding callbacks' */
	if (!tap_ok(ret == 0, "a store for the sync test opens"))
		return;
	config.mechanism = mechanism;
	config.store = &unsyncable;
	ws = memfd_tracker(&config, 0x5e1f, &mem, &fd);
	wset_evict(ws, 1, 0, &evicted);
	wset_counters(ws, &counters);
	tap_ok(sync_calls > 0 && evicted == 0 && counters.abandoned == PAGES,
	       "EIO from sync: the steps are given up (%lu syncs, %llu bytes evicted, "
	       "%llu abandoned)", sync_calls, (unsigned long long)evicted,
	       (unsigned long long)counters.abandoned);
	tap_ok(lseek(fd, 0, SEEK_HOLE) == (off_t)len && count_bad(mem, page, 0x5e1f) == 0,
	       "no page left memory: no hole in the memfd, every page intact");
	tap_ok(listed_bytes(inner) == 0, "and the store keeps no copy of them");
	wset_destroy(ws);
	wset_store_close(inner);
	munmap(mem, len);
	close(fd);
}

int main(int argc, char **argv)
{
	enum wset_mechanism mechanism = test_mechanism(argc, argv);
	char directory[] = "/tmp/wset-store-persist.XXXXXX", mount_point[600];
	char command[700];

	test_require(mechanism);
	if (!mkdtemp(directory))
		tap_bail("mkdtemp: %s", strerror(errno));
	tap_plan(17);
	journal_survives(directory);
	snprintf(mount_point, sizeof(mount_point), "%s/full", directory);
	mkdir(mount_point, 0700);
	full_filesystem(mechanism, mount_point);
	sync_failure(mechanism, directory);
	snprintf(command, sizeof(command), "rm -rf '%s'", directory);
	if (system(command))
		tap_diag("could not remove %s", directory);
	return tap_done();
}
