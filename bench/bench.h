/* SPDX-License-Identifier: MIT */
/*
 * What every benchmark program shares: options, clocks, guest memory of
 * each kind, orders of access, percentiles and the JSON lines they print.
 *
 * Every program prints one JSON object per line on stdout: one "sample"
 * line per competitor and repetition, and "skip" lines saying why a case
 * did not run.  bench/render turns the lines of one run into the table.
 */
#ifndef BENCH_H
#define BENCH_H

#include <json-c/json.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct bench_options {
	int repetitions;	/* --reps N */
	uint64_t size;		/* --size BYTES (K/M/G suffix) */
	bool smoke;		/* --smoke: tiny sizes, one repetition */
	const char *where;	/* $WSET_BENCH_WHERE, else "native" */
	const char *only;	/* --only CASE: run the cases containing it */
	const char *input;	/* --input FILE: pages to work on (tiers: a guest's RAM) */
};

/* Parses argv; exits 2 with a message naming the bad value. */
void bench_parse(int argc, char **argv, const char *usage,
		 uint64_t default_size, struct bench_options *options);
/* For a program that works on one area: bench_parse(), then the area
 * (4 MiB with --smoke); exits 1 when it cannot be mapped. */
struct bench_area;
void bench_setup(int argc, char **argv, const char *usage, uint64_t default_size,
		 int kind, struct bench_options *options, struct bench_area *area);
bool bench_selected(const struct bench_options *options, const char *name);

uint64_t bench_now_ns(void);

/* Guest memory of one kind; fd is -1 for anonymous memory. */
enum bench_memory { BENCH_ANON, BENCH_MEMFD, BENCH_HUGETLB, BENCH_THP };
struct bench_area {
	enum bench_memory kind;
	uint8_t *addr;
	uint64_t len;
	uint64_t page_size;
	int fd;
};
const char *bench_memory_name(enum bench_memory kind);
/* 0, or -errno with why[] filled. */
int bench_area_map(enum bench_memory kind, uint64_t len, struct bench_area *area,
		   char *why, size_t why_len);
void bench_area_unmap(struct bench_area *area);
/* Give the area's pages back to the kernel (they read as zeroes next). */
int bench_area_discard(struct bench_area *area);
/* Write a pattern that depends on the page and the seed; check it. */
void bench_area_fill(struct bench_area *area, uint64_t seed);
uint64_t bench_pattern(uint64_t page, uint64_t seed);

/* Where stores go: $TMPDIR, else /var/tmp (libwset's default), unless
 * bench_set_store_dir() chose another directory. */
const char *bench_store_dir(void);
void bench_set_store_dir(const char *dir);
/* An unlinked file in bench_store_dir(), for a floor to write into. */
int bench_floor_file(void);
/* A wset (store in bench_store_dir(), prefetch_pages as given) tracking
 * the whole area, filled with the seed's pattern and scanned once: every
 * page is resident and a candidate for wset_evict(ws, 0, ...). */
struct wset;
struct wset *bench_wset_open(struct bench_area *area, unsigned int prefetch_pages,
			     uint64_t seed);

/* The order pages are touched in: 0..n-1 or a seeded permutation. */
uint64_t *bench_order(uint64_t pages, bool random, uint64_t seed);

/* Sorts samples in place; q in [0, 1]. */
uint64_t bench_quantile(uint64_t *samples, size_t count, double q);

/* A sample line: {"bench":..,"case":..,"competitor":..,"rep":..,
 * "where":.., ...}; add fields, then bench_emit() prints and frees it. */
json_object *bench_sample(const struct bench_options *options, const char *bench,
			  const char *name, const char *competitor, int rep);
void bench_set_u64(json_object *line, const char *key, uint64_t value);
void bench_set_double(json_object *line, const char *key, double value);
void bench_set_string(json_object *line, const char *key, const char *value);
void bench_emit(json_object *line);
/* {"bench":..,"case":..,"skip":reason,"where":..} */
void bench_skip(const struct bench_options *options, const char *bench,
		const char *name, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));
/* Progress on stderr. */
void bench_progress(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* Exit 1 with a message (a broken invariant: wrong data, failed setup). */
void bench_fail(const char *fmt, ...)
	__attribute__((format(printf, 1, 2), noreturn));

#endif
