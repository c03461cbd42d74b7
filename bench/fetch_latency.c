/* SPDX-License-Identifier: MIT */
/*
 * Row 5, fetch-back latency: every page of an area is evicted, then touched
 * once in a given order; the toucher times each access, which is how long
 * the faulting thread stays blocked.  Competitors, back to back on the same
 * area in the same order:
 *   floor: a bare MISSING handler that preads the page from a file in the
 *          store's directory and resolves with UFFDIO_COPY;
 *   wset:  libwset's default file store and handler thread, prefetch off
 *          (prefetch-0) or at its default (prefetch-default).
 * Cases: memory kind x order (random, sequential) x prefetch.
 */
#include <errno.h>
#include <fcntl.h>
#include <linux/userfaultfd.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "bench.h"
#include "wset.h"

#define BENCH "fetch_latency"

struct floor_handler {
	int uffd;
	int file;
	int stop[2];
	struct bench_area *area;
	uint8_t *buf;
};

static void *floor_serve(void *arg)
{
	struct floor_handler *h = arg;

	for (;;) {
		struct pollfd fds[2] = { { .fd = h->uffd, .events = POLLIN },
					 { .fd = h->stop[0], .events = POLLIN } };
		struct uffd_msg msg;

		if (poll(fds, 2, -1) < 0 && errno != EINTR)
			break;
		if (fds[1].revents)
			break;
		if (read(h->uffd, &msg, sizeof(msg)) != sizeof(msg))
			continue;
		if (msg.event != UFFD_EVENT_PAGEFAULT)
			continue;
		uint64_t addr = msg.arg.pagefault.address & ~(h->area->page_size - 1);
		uint64_t offset = addr - (uintptr_t)h->area->addr;
		struct uffdio_copy copy = { .dst = addr, .src = (uintptr_t)h->buf,
					    .len = h->area->page_size };

		if (pread(h->file, h->buf, h->area->page_size, (off_t)offset) !=
		    (ssize_t)h->area->page_size)
			bench_fail("floor: pread: %s", strerror(errno));
		if (ioctl(h->uffd, UFFDIO_COPY, &copy) < 0 && errno != EEXIST)
			bench_fail("floor: UFFDIO_COPY: %s", strerror(errno));
	}
	return NULL;
}

/* Touch every page in order, one timed read each; checks the content. */
static void touch(const char *who, struct bench_area *area, const uint64_t *order,
		  uint64_t pages, uint64_t seed, uint64_t *latency)
{
	for (uint64_t i = 0; i < pages; i++) {
		volatile uint64_t *at =
			(volatile uint64_t *)(area->addr + order[i] * area->page_size);
		uint64_t start = bench_now_ns(), value = *at;

		latency[i] = bench_now_ns() - start;
		if (value != bench_pattern(order[i], seed))
			bench_fail("%s, %s memory: page %llu (touch %llu of %llu) came back "
				   "with the wrong content: %#llx, expected %#llx", who,
				   bench_memory_name(area->kind), (unsigned long long)order[i],
				   (unsigned long long)i + 1, (unsigned long long)pages,
				   (unsigned long long)value,
				   (unsigned long long)bench_pattern(order[i], seed));
	}
}

static void run_floor(struct bench_area *area, const uint64_t *order,
		      uint64_t seed, uint64_t *latency)
{
	struct floor_handler h = { .area = area };
	struct uffdio_api api = { .api = UFFD_API };
	struct uffdio_register reg = {
		.range = { .start = (uintptr_t)area->addr, .len = area->len },
		.mode = UFFDIO_REGISTER_MODE_MISSING,
	};
	pthread_t thread;

	h.file = bench_floor_file();
	bench_area_fill(area, seed);
	if (pwrite(h.file, area->addr, area->len, 0) != (ssize_t)area->len)
		bench_fail("floor: writing the file: %s", strerror(errno));
	h.buf = aligned_alloc(4096, area->page_size);
	h.uffd = (int)syscall(SYS_userfaultfd, O_CLOEXEC | O_NONBLOCK);
	if (h.uffd < 0 || ioctl(h.uffd, UFFDIO_API, &api) < 0 ||
	    ioctl(h.uffd, UFFDIO_REGISTER, &reg) < 0)
		bench_fail("floor: userfaultfd: %s", strerror(errno));
	if (bench_area_discard(area) < 0)
		bench_fail("floor: discarding the area: %s", strerror(errno));
	if (pipe(h.stop) < 0 || pthread_create(&thread, NULL, floor_serve, &h))
		bench_fail("floor: handler thread");
	touch("floor", area, order, area->len / area->page_size, seed, latency);
	if (write(h.stop[1], "", 1) != 1)
		bench_fail("floor: stopping the handler");
	pthread_join(thread, NULL);
	close(h.uffd);
	close(h.file);
	close(h.stop[0]);
	close(h.stop[1]);
	free(h.buf);
}

static void run_wset(struct bench_area *area, const uint64_t *order,
		     uint64_t seed, unsigned int prefetch, uint64_t *latency,
		     struct wset_counters *counters)
{
	struct wset_config defaults = WSET_CONFIG_INIT;
	uint64_t evicted = 0;
	struct wset *ws = bench_wset_open(area, prefetch != ~0u ? prefetch
							       : defaults.prefetch_pages, seed);
	int ret;

	if ((ret = wset_evict(ws, 0, 0, &evicted)) < 0)
		bench_fail("evicting: %s", strerror(-ret));
	if (evicted != area->len)
		bench_fail("evicted %llu of %llu bytes", (unsigned long long)evicted,
			   (unsigned long long)area->len);
	touch(prefetch ? "wset" : "wset (prefetch off)", area, order,
	      area->len / area->page_size, seed, latency);
	if (wset_counters(ws, counters) < 0)
		bench_fail("wset_counters refused the struct");
	ret = wset_destroy(ws);
	if (ret < 0)
		bench_fail("wset_destroy: %s", strerror(-ret));
}

static void emit(const struct bench_options *options, const char *name,
		 const char *competitor, int rep, uint64_t *latency, uint64_t pages,
		 const struct wset_counters *counters)
{
	json_object *line = bench_sample(options, BENCH, name, competitor, rep);

	bench_set_u64(line, "pages", pages);
	bench_set_u64(line, "p50_ns", bench_quantile(latency, pages, 0.50));
	bench_set_u64(line, "p99_ns", bench_quantile(latency, pages, 0.99));
	bench_set_u64(line, "max_ns", bench_quantile(latency, pages, 1.0));
	if (counters) {
		bench_set_u64(line, "refaults", counters->refaults);
		bench_set_u64(line, "prefetches", counters->prefetches);
	}
	bench_emit(line);
}

int main(int argc, char **argv)
{
	static const enum bench_memory kinds[] = { BENCH_MEMFD, BENCH_ANON,
						   BENCH_HUGETLB };
	struct bench_options options;

	bench_parse(argc, argv,
		    "Fetch-back latency against a bare MISSING + UFFDIO_COPY handler.\n",
		    64ull << 20, &options);
	for (size_t k = 0; k < sizeof(kinds) / sizeof(kinds[0]); k++) {
		uint64_t len = options.smoke ? 4ull << 20 : options.size;
		struct bench_area area;
		char why[256];

		if (kinds[k] == BENCH_HUGETLB)
			len = options.smoke ? 8ull << 20 : len;
		for (int random = 1; random >= 0; random--) {
			for (int prefetch = 0; prefetch < 2; prefetch++) {
				char name[96];

				snprintf(name, sizeof(name), "%s/%s/prefetch-%s",
					 bench_memory_name(kinds[k]),
					 random ? "random" : "sequential",
					 prefetch ? "default" : "0");
				if (!bench_selected(&options, name))
					continue;
				if (bench_area_map(kinds[k], len, &area, why, sizeof(why)) < 0) {
					bench_skip(&options, BENCH, name, "%s", why);
					continue;
				}
				uint64_t pages = area.len / area.page_size;
				uint64_t *order = bench_order(pages, random, 42);
				uint64_t *latency = malloc(pages * sizeof(*latency));

				for (int rep = 0; rep < options.repetitions; rep++) {
					struct wset_counters counters = WSET_COUNTERS_INIT;

					bench_progress("%s: %s, repetition %d of %d", BENCH,
						       name, rep + 1, options.repetitions);
					/* Alternate who goes first: drift hits both. */
					for (int turn = 0; turn < 2; turn++) {
						if ((turn + rep) % 2 == 0) {
							run_floor(&area, order, rep + 1, latency);
							emit(&options, name, "floor", rep, latency, pages, NULL);
						} else {
							run_wset(&area, order, rep + 1,
								 prefetch ? ~0u : 0, latency, &counters);
							emit(&options, name, "wset", rep, latency, pages,
							     &counters);
						}
					}
				}
				free(order);
				free(latency);
				bench_area_unmap(&area);
			}
		}
	}
	return 0;
}
