/* SPDX-License-Identifier: MIT */
/*
 * Row 3, the reviewers' question: entering and leaving eviction mode.
 *   rwp: the cold set is RWP-protected already; UFFDIO_SET_MODE turns
 *        RWP_ASYNC off (accesses now block) and on again;
 *   wp:  UFFDIO_WRITEPROTECT of the cold set, and its removal.
 * The cold set grows from 1 MiB to --size (default 1 GiB; the guest
 * passes less, it has 2 GiB of RAM).  Both run on the same resident
 * anonymous area, back to back.  Each times its second flip: the first
 * one after arming pays for code and data the arm pushed out (under TCG,
 * retranslating the ioctl path: some 100-500 us whatever the size, then
 * a few us from the next flip on).
 */
#include <errno.h>
#include <linux/userfaultfd.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>

#include "tracking.h"
#include "uapi/userfaultfd.h"

#define BENCH "mode_flip"

static int64_t flip_ns(struct tracking *t)
{
	struct uffdio_range range = { .start = (uintptr_t)t->area->addr,
				      .len = t->area->len };
	uint64_t start;
	int ret;

	if (t->kind == TRACK_RWP) {
		struct uffdio_set_mode sync = { .disable = UFFD_FEATURE_RWP_ASYNC };
		struct uffdio_set_mode async = { .enable = UFFD_FEATURE_RWP_ASYNC };

		start = bench_now_ns();
		ret = ioctl(t->uffd, UFFDIO_SET_MODE, &sync);
		if (ret == 0)
			ret = ioctl(t->uffd, UFFDIO_SET_MODE, &async);
	} else {
		struct uffdio_writeprotect on = { .range = range,
						  .mode = UFFDIO_WRITEPROTECT_MODE_WP };
		struct uffdio_writeprotect off = { .range = range };

		start = bench_now_ns();
		ret = ioctl(t->uffd, UFFDIO_WRITEPROTECT, &on);
		if (ret == 0)
			ret = ioctl(t->uffd, UFFDIO_WRITEPROTECT, &off);
	}
	uint64_t elapsed = bench_now_ns() - start;

	return ret < 0 ? -errno : (int64_t)elapsed;
}

int main(int argc, char **argv)
{
	static const enum tracking_kind kinds[] = { TRACK_WP, TRACK_RWP };
	struct bench_options options;
	struct bench_area whole;
	char why[256];

	bench_parse(argc, argv,
		    "UFFDIO_SET_MODE against UFFDIO_WRITEPROTECT of the cold set.\n",
		    1ull << 30, &options);
	if (options.smoke)
		options.size = 4ull << 20;
	if (bench_area_map(BENCH_ANON, options.size, &whole, why, sizeof(why)) < 0)
		bench_fail("%s", why);
	bench_area_fill(&whole, 1);
	for (uint64_t size = 1ull << 20; size <= options.size; size *= 4) {
		struct bench_area cold = whole;
		char name[32];

		cold.len = size;
		cold.fd = -1;
		snprintf(name, sizeof(name), "%lluM", (unsigned long long)(size >> 20));
		for (int rep = 0; rep < options.repetitions; rep++) {
			bench_progress("%s: cold set %s, repetition %d of %d", BENCH, name,
				       rep + 1, options.repetitions);
			for (size_t k = 0; k < 2; k++) {
				enum tracking_kind kind = kinds[(k + (size_t)rep) % 2];
				struct tracking t;
				int64_t ns;

				if (!tracking_open_or_skip(&t, kind, &cold, &options, BENCH, name, rep))
					continue;
				/* rwp: the cold set is protected before the flip. */
				if (kind == TRACK_RWP && tracking_arm(&t) < 0)
					bench_fail("arming the cold set: %s", strerror(errno));
				ns = flip_ns(&t);
				if (ns >= 0)
					ns = flip_ns(&t);
				tracking_close(&t);
				if (ns < 0)
					bench_fail("%s flip: %s", tracking_name(kind),
						   strerror((int)-ns));
				json_object *line = bench_sample(&options, BENCH, name,
								 tracking_name(kind), rep);
				bench_set_u64(line, "cold_bytes", size);
				bench_set_u64(line, "flip_ns", (uint64_t)ns);
				bench_emit(line);
			}
		}
	}
	bench_area_unmap(&whole);
	return 0;
}
