/* SPDX-License-Identifier: MIT */
/*
 * Round trip: pages written, aged, evicted to the store and touched again
 * come back with their content, through fetch-back.
 * usage: round_trip MECHANISM MEMORY   (rwp|wp|auto, anon|memfd|hugetlbfs)
 */
#include <time.h>

#include "testlib.h"

int main(int argc, char **argv)
{
	struct wset_config config = WSET_CONFIG_INIT;
	enum test_memory kind = test_parse_memory(argc > 2 ? argv[2] : "anon");
	size_t page = test_page_size(kind);
	size_t pages = kind == MEMORY_HUGETLB ? 8 : 1024;
	size_t len = pages * page;
	struct wset_counters counters = WSET_COUNTERS_INIT;
	uint64_t evicted = 0;
	char why[256];
	struct wset *ws;
	int fd, ret;
	uint8_t *mem;
	bool same = true;

	config.mechanism = test_mechanism(argc, argv);
	test_require(config.mechanism);
	mem = test_memory(kind, len, &fd, why, sizeof(why));
	if (!mem)
		tap_skip_all("%s memory: %s", test_memory_name(kind), why);
	ws = test_create(&config);
	tap_plan(11);
	tap_diag("mechanism %s, %s memory, %zu pages of %zu bytes",
		 wset_mechanism_name(wset_mechanism(ws)), test_memory_name(kind),
		 pages, page);

	errno = 4242; /* no library call may touch it */
	ret = test_add(ws, kind, mem, len, fd);
	tap_ok(ret >= 0, "add region: %d", ret);
	/* First touch goes through MISSING faults: zero fill. */
	for (size_t i = 0; i < pages; i++)
		for (size_t off = 0; off < page; off += 512)
			((uint64_t *)(mem + i * page + off))[0] = i * 7919 + off;
	int tick_error = 0;
	for (int t = 0; t < 3; t++)
		if ((ret = wset_tick(ws)) < 0 && !tick_error)
			tick_error = ret;
	tap_ok(tick_error == 0, "tracking intervals run: %s", strerror(-tick_error));
	ret = wset_evict(ws, 2, 0, &evicted);
	tap_ok(ret == 0 && evicted == len, "evict all cold pages: ret %d, %llu of %zu bytes",
	       ret, (unsigned long long)evicted, len);
	/* hugetlbfs has no SEEK_DATA; memfd (shmem) does. */
	off_t data = kind == MEMORY_MEMFD ? lseek(fd, 0, SEEK_DATA) : -1;
	errno = 4242; /* lseek set it (ENXIO: no data) */
	tap_ok(data == -1, "no data left in guest memory file (holes punched)");
	wset_counters(ws, &counters);
	tap_ok(counters.evicted_bytes == len && counters.resident_bytes == 0,
	       "counters: evicted %llu, resident %llu",
	       (unsigned long long)counters.evicted_bytes,
	       (unsigned long long)counters.resident_bytes);
	tap_ok(counters.store.stored_bytes == len, "store holds %llu bytes",
	       (unsigned long long)counters.store.stored_bytes);

	for (size_t i = 0; i < pages; i++)
		for (size_t off = 0; off < page; off += 512)
			if (((uint64_t *)(mem + i * page + off))[0] != i * 7919 + off)
				same = false;
	tap_ok(same, "every page reads back what was written");
	/* Prefetch runs in handler threads: a page it copied in can be read
	 * before the handler has counted it.  Give it a moment. */
	for (int wait = 0; wait < 2000; wait++) {
		const struct timespec pause = { .tv_nsec = 1000000 };

		wset_counters(ws, &counters);
		if (counters.refaults + counters.prefetches == pages &&
		    counters.evicted_bytes == 0)
			break;
		nanosleep(&pause, NULL);
	}
	tap_ok(counters.refaults + counters.prefetches == pages &&
		       counters.evicted_bytes == 0,
	       "fetched back: %llu refaults, %llu prefetched, %llu still evicted",
	       (unsigned long long)counters.refaults,
	       (unsigned long long)counters.prefetches,
	       (unsigned long long)counters.evicted_bytes);
	uint64_t histogram = 0;
	for (int b = 0; b < WSET_LATENCY_BUCKETS; b++)
		histogram += counters.fault_latency_us[b];
	tap_ok(counters.faults >= counters.refaults && histogram == counters.faults,
	       "fault latency histogram holds all %llu faults",
	       (unsigned long long)counters.faults);
	tap_ok(errno == 4242, "errno untouched by the library: %d", errno);
	ret = wset_destroy(ws);
	tap_ok(ret == 0, "destroy: %d", ret);
	return tap_done();
}
