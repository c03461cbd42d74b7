/* SPDX-License-Identifier: MIT */
/* Shared by the benchmark programs: see bench.h. */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#include "bench.h"
#include "size.h"
#include "wset.h"

#ifndef MFD_HUGETLB
#define MFD_HUGETLB 0x0004U
#endif

#define HUGE_PAGE_SIZE (2ull << 20)

void bench_parse(int argc, char **argv, const char *usage, uint64_t default_size,
		 struct bench_options *options)
{
	static const struct option long_options[] = {
		{ "reps", required_argument, NULL, 'r' },
		{ "size", required_argument, NULL, 's' },
		{ "smoke", no_argument, NULL, 'k' },
		{ "only", required_argument, NULL, 'o' },
		{ "input", required_argument, NULL, 'i' },
		{ "help", no_argument, NULL, 'h' },
		{ 0 },
	};
	const char *where = getenv("WSET_BENCH_WHERE");
	int opt;

	*options = (struct bench_options){
		.repetitions = 5,
		.size = default_size,
		.where = where && *where ? where : "native",
	};
	while ((opt = getopt_long(argc, argv, "", long_options, NULL)) != -1) {
		const char *rest;
		uint64_t value;

		switch (opt) {
		case 'r':
			if (decimal_parse(optarg, &value, &rest) || *rest || value < 1 ||
			    value > 1000) {
				fprintf(stderr, "%s: --reps '%s': expected 1 to 1000\n",
					argv[0], optarg);
				exit(2);
			}
			options->repetitions = (int)value;
			break;
		case 's':
			if (size_parse(optarg, &value) || value < (1 << 20) ||
			    value > (64ull << 30)) {
				fprintf(stderr, "%s: --size '%s': expected 1M to 64G\n",
					argv[0], optarg);
				exit(2);
			}
			options->size = value;
			break;
		case 'k':
			options->smoke = true;
			break;
		case 'o':
			options->only = optarg;
			break;
		case 'i':
			options->input = optarg;
			break;
		case 'h':
			printf("usage: %s [--reps N] [--size BYTES] [--smoke] [--only CASE] [--input FILE]\n%s",
			       argv[0], usage);
			exit(0);
		default:
			fprintf(stderr, "usage: %s [--reps N] [--size BYTES] [--smoke] [--only CASE] [--input FILE]\n",
				argv[0]);
			exit(2);
		}
	}
	if (optind < argc) {
		fprintf(stderr, "%s: unexpected argument '%s'\n", argv[0], argv[optind]);
		exit(2);
	}
	if (options->smoke)
		options->repetitions = 1;
}

void bench_setup(int argc, char **argv, const char *usage, uint64_t default_size,
		 int kind, struct bench_options *options, struct bench_area *area)
{
	char why[256];

	bench_parse(argc, argv, usage, default_size, options);
	if (options->smoke)
		options->size = 4ull << 20;
	if (bench_area_map((enum bench_memory)kind, options->size, area, why,
			   sizeof(why)) < 0)
		bench_fail("%s", why);
}

bool bench_selected(const struct bench_options *options, const char *name)
{
	return !options->only || strstr(name, options->only);
}

uint64_t bench_now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

const char *bench_memory_name(enum bench_memory kind)
{
	switch (kind) {
	case BENCH_ANON:
		return "anon";
	case BENCH_MEMFD:
		return "memfd";
	case BENCH_HUGETLB:
		return "hugetlbfs";
	case BENCH_THP:
		return "thp";
	}
	return "?";
}

/* Like the tests: raise the pool when too few huge pages are free; never
 * lower it (other programs may hold some). */
static void reserve_huge_pages(uint64_t pages)
{
	FILE *meminfo = fopen("/proc/meminfo", "r");
	long free_pages = 0, total = 0;
	char line[256];

	while (meminfo && fgets(line, sizeof(line), meminfo)) {
		sscanf(line, "HugePages_Free: %ld", &free_pages);
		sscanf(line, "HugePages_Total: %ld", &total);
	}
	if (meminfo)
		fclose(meminfo);
	if (free_pages >= (long)pages)
		return;
	FILE *nr = fopen("/proc/sys/vm/nr_hugepages", "w");

	if (nr) {
		fprintf(nr, "%ld\n", total + (long)pages - free_pages);
		fclose(nr);
	}
}

int bench_area_map(enum bench_memory kind, uint64_t len, struct bench_area *area,
		   char *why, size_t why_len)
{
	int ret;

	*area = (struct bench_area){ .kind = kind, .len = len, .fd = -1,
				     .page_size = 4096 };
	if (kind == BENCH_MEMFD || kind == BENCH_HUGETLB) {
		unsigned int flags = kind == BENCH_HUGETLB ? MFD_HUGETLB : 0;

		if (kind == BENCH_HUGETLB) {
			area->page_size = HUGE_PAGE_SIZE;
			area->len = len = (len + HUGE_PAGE_SIZE - 1) & ~(HUGE_PAGE_SIZE - 1);
			reserve_huge_pages(len / HUGE_PAGE_SIZE);
		}
		area->fd = memfd_create("wset-bench", flags | MFD_CLOEXEC);
		if (area->fd < 0 || ftruncate(area->fd, (off_t)len) < 0)
			goto fail;
		area->addr = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_SHARED,
				  area->fd, 0);
		if (area->addr == MAP_FAILED)
			goto fail;
		/* Huge pages are only known to exist once each is faulted. */
		if (kind == BENCH_HUGETLB &&
		    fallocate(area->fd, 0, 0, (off_t)len) < 0)
			goto fail;
		if (kind == BENCH_HUGETLB)
			fallocate(area->fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE,
				  0, (off_t)len);
		return 0;
	}
	if (kind == BENCH_THP) {
		/* 2 MiB aligned so that every PMD can be huge. */
		uint8_t *raw = mmap(NULL, len + HUGE_PAGE_SIZE, PROT_READ | PROT_WRITE,
				    MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

		if (raw == MAP_FAILED)
			goto fail;
		area->addr = (uint8_t *)(((uintptr_t)raw + HUGE_PAGE_SIZE - 1) &
					 ~(uintptr_t)(HUGE_PAGE_SIZE - 1));
		if (area->addr != raw)
			munmap(raw, (size_t)(area->addr - raw));
		munmap(area->addr + len, HUGE_PAGE_SIZE - (size_t)(area->addr - raw));
		if (madvise(area->addr, len, MADV_HUGEPAGE) < 0)
			goto fail;
		return 0;
	}
	area->addr = mmap(NULL, len, PROT_READ | PROT_WRITE,
			  MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (area->addr == MAP_FAILED)
		goto fail;
	return 0;
fail:
	ret = -errno;
	snprintf(why, why_len, "%s memory of %llu bytes: %s", bench_memory_name(kind),
		 (unsigned long long)len, strerror(errno));
	if (area->addr && area->addr != MAP_FAILED)
		munmap(area->addr, len);
	if (area->fd >= 0)
		close(area->fd);
	area->addr = NULL;
	area->fd = -1;
	return ret;
}

void bench_area_unmap(struct bench_area *area)
{
	if (area->addr)
		munmap(area->addr, area->len);
	if (area->fd >= 0)
		close(area->fd);
	area->addr = NULL;
	area->fd = -1;
}

int bench_area_discard(struct bench_area *area)
{
	if (area->fd >= 0)
		return fallocate(area->fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE,
				 0, (off_t)area->len) < 0 ? -errno : 0;
	return madvise(area->addr, area->len, MADV_DONTNEED) < 0 ? -errno : 0;
}

uint64_t bench_pattern(uint64_t page, uint64_t seed)
{
	uint64_t x = (page + 1) * 0x9e3779b97f4a7c15ull ^ seed;

	x ^= x >> 31;
	return x * 0xbf58476d1ce4e5b9ull | 1;
}

/* One word per 512 bytes: every page is written whole, cheaply. */
void bench_area_fill(struct bench_area *area, uint64_t seed)
{
	uint64_t pages = area->len / area->page_size;

	for (uint64_t page = 0; page < pages; page++) {
		uint8_t *at = area->addr + page * area->page_size;
		uint64_t value = bench_pattern(page, seed);

		for (uint64_t off = 0; off < area->page_size; off += 512)
			*(volatile uint64_t *)(at + off) = value;
	}
}

static const char *chosen_store_dir;

void bench_set_store_dir(const char *dir)
{
	chosen_store_dir = dir;
}

const char *bench_store_dir(void)
{
	const char *dir = getenv("TMPDIR");

	if (chosen_store_dir)
		return chosen_store_dir;
	return dir && *dir ? dir : "/var/tmp";
}

int bench_floor_file(void)
{
	char path[4096];
	int fd;

	snprintf(path, sizeof(path), "%s/wset-bench-floor-XXXXXX", bench_store_dir());
	fd = mkstemp(path);
	if (fd < 0)
		bench_fail("floor file in %s: %s", bench_store_dir(), strerror(errno));
	unlink(path);
	return fd;
}

struct wset *bench_wset_open(struct bench_area *area, unsigned int prefetch_pages,
			     uint64_t seed)
{
	struct wset_config config = WSET_CONFIG_INIT;
	struct wset *ws;
	int ret;

	config.store_dir = bench_store_dir();
	config.prefetch_pages = prefetch_pages;
	ret = wset_create(&config, &ws);
	if (ret < 0)
		bench_fail("wset_create: %s", strerror(-ret));
	bench_area_fill(area, seed);
	ret = area->fd >= 0 ? wset_add_file(ws, (uintptr_t)area->addr, area->len,
					    area->fd, 0)
			    : wset_add_anon(ws, (uintptr_t)area->addr, area->len);
	if (ret < 0)
		bench_fail("adding the %s area: %s", bench_memory_name(area->kind),
			   strerror(-ret));
	if ((ret = wset_tick(ws)) < 0)
		bench_fail("tracking: %s", strerror(-ret));
	return ws;
}

uint64_t *bench_order(uint64_t pages, bool random, uint64_t seed)
{
	uint64_t *order = malloc(pages * sizeof(*order));
	uint64_t state = seed * 2 + 1;

	if (!order)
		bench_fail("out of memory for an order of %llu pages",
			   (unsigned long long)pages);
	for (uint64_t i = 0; i < pages; i++)
		order[i] = i;
	for (uint64_t i = pages; random && i > 1; i--) {
		uint64_t j, tmp;

		state ^= state << 13;
		state ^= state >> 7;
		state ^= state << 17;
		j = state % i;
		tmp = order[i - 1];
		order[i - 1] = order[j];
		order[j] = tmp;
	}
	return order;
}

static int compare_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

uint64_t bench_quantile(uint64_t *samples, size_t count, double q)
{
	size_t at;

	if (!count)
		return 0;
	qsort(samples, count, sizeof(*samples), compare_u64);
	at = (size_t)(q * (double)(count - 1) + 0.5);
	return samples[at < count ? at : count - 1];
}

json_object *bench_sample(const struct bench_options *options, const char *bench,
			  const char *name, const char *competitor, int rep)
{
	json_object *line = json_object_new_object();

	bench_set_string(line, "bench", bench);
	bench_set_string(line, "case", name);
	bench_set_string(line, "competitor", competitor);
	json_object_object_add(line, "rep", json_object_new_int(rep));
	bench_set_string(line, "where", options->where);
	return line;
}

void bench_set_u64(json_object *line, const char *key, uint64_t value)
{
	json_object_object_add(line, key, json_object_new_uint64(value));
}

void bench_set_double(json_object *line, const char *key, double value)
{
	json_object_object_add(line, key, json_object_new_double(value));
}

void bench_set_string(json_object *line, const char *key, const char *value)
{
	json_object_object_add(line, key, json_object_new_string(value));
}

void bench_emit(json_object *line)
{
	printf("%s\n", json_object_to_json_string_ext(line, JSON_C_TO_STRING_PLAIN));
	fflush(stdout);
	json_object_put(line);
}

void bench_skip(const struct bench_options *options, const char *bench,
		const char *name, const char *fmt, ...)
{
	json_object *line = json_object_new_object();
	char reason[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(reason, sizeof(reason), fmt, ap);
	va_end(ap);
	bench_set_string(line, "bench", bench);
	bench_set_string(line, "case", name);
	bench_set_string(line, "skip", reason);
	bench_set_string(line, "where", options->where);
	fprintf(stderr, "%s %s: skipped: %s\n", bench, name, reason);
	bench_emit(line);
}

void bench_progress(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
}

void bench_fail(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	exit(1);
}
