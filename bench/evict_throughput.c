/* SPDX-License-Identifier: MIT */
/*
 * Row 6, eviction throughput: wset_evict() of a whole area, every page
 * resident and cold, in GiB/s, against the floor of the same bytes copied
 * with memcpy and written into a file in the store's directory.  A third
 * competitor, write-free, does what any eviction must: it writes each run
 * of the area straight into such a file and then frees it (a hole punched
 * in the memory file, or MADV_DONTNEED), with no tracking, no isolation
 * and no bookkeeping; what wset takes beyond it is the engine's own cost.
 * The three run back to back on the same area, in an order that changes
 * with the repetition; afterwards every page wset evicted is read back and
 * checked (not timed).  Each memory kind runs with the store in
 * the default directory (a disk here) and again in /dev/shm (tmpfs), which
 * tells the engine's own cost from the store file system's.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "bench.h"
#include "wset.h"

#define BENCH "evict_throughput"
#define FLOOR_CHUNK (1u << 20)

static double floor_seconds(struct bench_area *area, uint64_t seed)
{
	uint8_t *buf = aligned_alloc(4096, FLOOR_CHUNK);
	uint64_t start;
	int fd = bench_floor_file();

	if (!buf)
		bench_fail("out of memory for the floor's buffer");
	bench_area_fill(area, seed);
	start = bench_now_ns();
	for (uint64_t off = 0; off < area->len; off += FLOOR_CHUNK) {
		size_t len = area->len - off < FLOOR_CHUNK ? area->len - off : FLOOR_CHUNK;

		memcpy(buf, area->addr + off, len);
		if (pwrite(fd, buf, len, (off_t)off) != (ssize_t)len)
			bench_fail("floor: pwrite: %s", strerror(errno));
	}
	double seconds = (double)(bench_now_ns() - start) / 1e9;
	close(fd);
	free(buf);
	return seconds;
}

/* Each chunk written from guest memory itself, then given back. */
static double write_free_seconds(struct bench_area *area, uint64_t seed)
{
	uint64_t start;
	int fd = bench_floor_file();

	/* hugetlbfs frees whole huge pages only. */
	uint64_t chunk = area->page_size > FLOOR_CHUNK ? area->page_size : FLOOR_CHUNK;

	bench_area_fill(area, seed);
	start = bench_now_ns();
	for (uint64_t off = 0; off < area->len; off += chunk) {
		size_t len = area->len - off < chunk ? area->len - off : chunk;
		int ret;

		if (pwrite(fd, area->addr + off, len, (off_t)off) != (ssize_t)len)
			bench_fail("write-free: pwrite: %s", strerror(errno));
		if (area->fd >= 0)
			ret = fallocate(area->fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE,
					(off_t)off, (off_t)len);
		else
			ret = madvise(area->addr + off, len, MADV_DONTNEED);
		if (ret < 0)
			bench_fail("write-free: freeing: %s", strerror(errno));
	}
	double seconds = (double)(bench_now_ns() - start) / 1e9;
	close(fd);
	return seconds;
}

static double wset_seconds(struct bench_area *area, uint64_t seed,
			   struct wset_counters *counters)
{
	struct wset_config defaults = WSET_CONFIG_INIT;
	uint64_t evicted = 0, start, pages = area->len / area->page_size;
	struct wset *ws = bench_wset_open(area, defaults.prefetch_pages, seed);
	double seconds;
	int ret;

	start = bench_now_ns();
	ret = wset_evict(ws, 0, 0, &evicted);
	seconds = (double)(bench_now_ns() - start) / 1e9;
	if (ret < 0 || evicted != area->len)
		bench_fail("evicted %llu of %llu bytes: %s", (unsigned long long)evicted,
			   (unsigned long long)area->len, strerror(-ret));
	if (wset_counters(ws, counters) < 0)
		bench_fail("wset_counters refused the struct");
	for (uint64_t page = 0; page < pages; page++)
		if (*(volatile uint64_t *)(area->addr + page * area->page_size) !=
		    bench_pattern(page, seed))
			bench_fail("page %llu came back with the wrong content",
				   (unsigned long long)page);
	ret = wset_destroy(ws);
	if (ret < 0)
		bench_fail("wset_destroy: %s", strerror(-ret));
	return seconds;
}

int main(int argc, char **argv)
{
	static const enum bench_memory kinds[] = { BENCH_MEMFD, BENCH_ANON,
						   BENCH_HUGETLB };
	struct bench_options options;

	bench_parse(argc, argv,
		    "Eviction throughput against memcpy + a write into the store file.\n",
		    256ull << 20, &options);
	for (size_t n = 0; n < 2 * sizeof(kinds) / sizeof(kinds[0]); n++) {
		size_t k = n % (sizeof(kinds) / sizeof(kinds[0]));
		bool tmpfs = n >= sizeof(kinds) / sizeof(kinds[0]);
		char name[64];

		snprintf(name, sizeof(name), "%s%s", bench_memory_name(kinds[k]),
			 tmpfs ? "/tmpfs-store" : "");
		bench_set_store_dir(tmpfs ? "/dev/shm" : NULL);
		uint64_t len = options.smoke ? 4ull << 20 : options.size;
		struct bench_area area;
		char why[256];

		if (kinds[k] == BENCH_HUGETLB)
			len = options.smoke ? 8ull << 20 : len / 4;
		if (!bench_selected(&options, name))
			continue;
		/* The QEMU guest's initramfs has no /dev/shm. */
		if (tmpfs && access("/dev/shm", W_OK) != 0) {
			bench_skip(&options, BENCH, name, "no writable /dev/shm: %s",
				   strerror(errno));
			continue;
		}
		if (bench_area_map(kinds[k], len, &area, why, sizeof(why)) < 0) {
			bench_skip(&options, BENCH, name, "%s", why);
			continue;
		}
		for (int rep = 0; rep < options.repetitions; rep++) {
			bench_progress("%s: %s, repetition %d of %d", BENCH, name, rep + 1,
				       options.repetitions);
			for (int turn = 0; turn < 3; turn++) {
				static const char *const competitors[] = { "floor", "wset",
									   "write-free" };
				struct wset_counters counters = WSET_COUNTERS_INIT;
				/* Each competitor follows each other one in turn (a
				 * disk store's writeback spills into the next run). */
				int who = rep % 2 ? (3 + rep / 2 - turn) % 3 : (turn + rep / 2) % 3;
				double seconds = who == 0 ? floor_seconds(&area, rep + 1) :
						 who == 1 ? wset_seconds(&area, rep + 1, &counters) :
							    write_free_seconds(&area, rep + 1);
				json_object *line = bench_sample(&options, BENCH, name,
								 competitors[who], rep);

				bench_set_u64(line, "bytes", area.len);
				bench_set_double(line, "seconds", seconds);
				bench_set_double(line, "gib_per_s",
						 (double)area.len / seconds / (1u << 30));
				bench_emit(line);
			}
		}
		bench_area_unmap(&area);
	}
	return 0;
}
