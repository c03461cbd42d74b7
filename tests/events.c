/* SPDX-License-Identifier: MIT */
/*
 * Events keep the store index in step with the VMM: MADV_DONTNEED of an
 * evicted anonymous page drops its stored copy (the page reads as zeroes),
 * mremap of a region moves it (evicted pages come back at the new
 * address), munmap forgets the region and its stored pages.
 * usage: events MECHANISM
 */
#include "testlib.h"

#define PAGES 64

/* Events are read before madvise/munmap return, but handled just after:
 * wait until the counters say so. */
static void settle(struct wset *ws, struct wset_counters *counters,
		   bool (*done)(const struct wset_counters *))
{
	for (int i = 0; i < 1000; i++) {
		wset_counters(ws, counters);
		if (done(counters))
			return;
		usleep(1000);
	}
}

static uint64_t removed_target, tracked_target;

static bool removed(const struct wset_counters *c)
{
	return c->removed_pages >= removed_target;
}

static bool unmapped(const struct wset_counters *c)
{
	return c->tracked_bytes <= tracked_target;
}

int main(int argc, char **argv)
{
	struct wset_config config = WSET_CONFIG_INIT;
	size_t page = (size_t)sysconf(_SC_PAGESIZE), len = PAGES * page;
	struct wset_counters before = WSET_COUNTERS_INIT, after = WSET_COUNTERS_INIT;
	uint64_t evicted;
	struct wset *ws;
	uint8_t *mem, *moved;
	int ret;

	config.mechanism = test_mechanism(argc, argv);
	test_require(config.mechanism);
	ws = test_create(&config);
	tap_plan(8);
	mem = test_anon_region(ws, len);
	for (size_t i = 0; i < PAGES; i++)
		memset(mem + i * page, (int)i + 1, page);
	wset_tick(ws);
	wset_tick(ws);
	ret = wset_evict(ws, 1, 0, &evicted);
	tap_ok(ret == 0 && evicted == len, "all %d pages evicted", PAGES);

	/* DONTNEED: the VMM discards pages 0..7. */
	wset_counters(ws, &before);
	madvise(mem, 8 * page, MADV_DONTNEED);
	removed_target = before.removed_pages + 8;
	settle(ws, &after, removed);
	tap_ok(after.removed_pages == before.removed_pages + 8 &&
		       after.store.stored_bytes == before.store.stored_bytes - 8 * page,
	       "MADV_DONTNEED drops 8 stored pages (%llu removed, %llu bytes stored)",
	       (unsigned long long)after.removed_pages,
	       (unsigned long long)after.store.stored_bytes);
	bool zero = true;
	for (size_t i = 0; i < 8 * page; i++)
		zero &= mem[i] == 0;
	tap_ok(zero, "discarded pages read back as zeroes");
	tap_ok(mem[8 * page] == 9, "the next page still comes back from the store");

	/* mremap: the region follows its memory. */
	moved = mmap(NULL, len, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	moved = mremap(mem, len, len, MREMAP_MAYMOVE | MREMAP_FIXED, moved);
	if (moved == MAP_FAILED)
		tap_bail("mremap: %s", strerror(errno));
	bool same = true;
	for (size_t i = 9; i < PAGES; i++)
		same &= moved[i * page] == (uint8_t)(i + 1) &&
			moved[i * page + page - 1] == (uint8_t)(i + 1);
	tap_ok(same, "after mremap, evicted pages come back at the new address");
	tap_ok(wset_page_age(ws, (uintptr_t)(moved + 9 * page)) >= 0 &&
		       wset_page_age(ws, (uintptr_t)mem) == -ENOENT,
	       "the region moved with its memory");

	/* Evict again, then munmap: the region and its pages are forgotten. */
	wset_tick(ws);
	wset_tick(ws);
	wset_evict(ws, 1, 0, NULL);
	wset_counters(ws, &before);
	munmap(moved, len);
	tracked_target = before.tracked_bytes - len;
	settle(ws, &after, unmapped);
	tap_ok(after.tracked_bytes == before.tracked_bytes - len,
	       "munmap forgets the region: tracked %llu -> %llu bytes",
	       (unsigned long long)before.tracked_bytes,
	       (unsigned long long)after.tracked_bytes);
	tap_ok(after.store.stored_bytes == 0 && after.evicted_bytes == 0,
	       "and drops its stored pages: %llu bytes left",
	       (unsigned long long)after.store.stored_bytes);
	wset_destroy(ws);
	return tap_done();
}
