// SPDX-License-Identifier: MIT
/*
 * DAMON through its sysfs interface: see damon.h.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "damon.h"

#define ADMIN "/sys/kernel/mm/damon/admin/kdamonds"
#define CONTEXT ADMIN "/0/contexts/0"
#define SCHEME CONTEXT "/schemes/0"

/* Open the file the format names; the fd or -errno. */
static int open_path(int flags, const char *fmt, va_list ap)
{
	char path[256];
	int fd;

	vsnprintf(path, sizeof(path), fmt, ap);
	fd = open(path, flags | O_CLOEXEC);
	return fd < 0 ? -errno : fd;
}

/* Write value to the file named by the format; 0 or -errno. */
static int put(const char *value, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
static int put(const char *value, const char *fmt, ...)
{
	va_list ap;
	ssize_t n;
	int fd, ret = 0;

	va_start(ap, fmt);
	fd = open_path(O_WRONLY, fmt, ap);
	va_end(ap);
	if (fd < 0)
		return fd;
	n = write(fd, value, strlen(value));
	if (n < 0)
		ret = -errno;
	else if ((size_t)n != strlen(value))
		ret = -EIO;
	close(fd);
	return ret;
}

static int put_u64(uint64_t value, const char *path)
{
	char text[32];

	snprintf(text, sizeof(text), "%llu", (unsigned long long)value);
	return put(text, "%s", path);
}

/* Read the number in the file named by the format; 0 or -errno. */
static int get_u64(uint64_t *value, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
static int get_u64(uint64_t *value, const char *fmt, ...)
{
	char text[32];
	va_list ap;
	ssize_t n;
	int fd;

	va_start(ap, fmt);
	fd = open_path(O_RDONLY, fmt, ap);
	va_end(ap);
	if (fd < 0)
		return fd;
	n = read(fd, text, sizeof(text) - 1);
	close(fd);
	if (n <= 0)
		return n < 0 ? -errno : -EIO;
	text[n] = '\0';
	*value = strtoull(text, NULL, 10);
	return 0;
}

int damon_start(struct damon_monitor *m, const struct bench_area *area,
		uint64_t sample_us, uint64_t aggr_us, char *why, size_t why_len)
{
	uint64_t running = 0, pid = 0;
	const char *step;
	char text[32];
	int ret;

	memset(m, 0, sizeof(*m));
	m->sample_us = sample_us;
	m->aggr_us = aggr_us;
	if (access(ADMIN, F_OK) < 0) {
		snprintf(why, why_len, "%s: %s (CONFIG_DAMON_SYSFS)", ADMIN, strerror(errno));
		return -ENOENT;
	}
	if (get_u64(&running, ADMIN "/nr_kdamonds") == 0 && running > 0 &&
	    get_u64(&pid, ADMIN "/0/pid") == 0 && (int64_t)pid > 0) {
		char operations[32] = "";
		int fd = open(CONTEXT "/operations", O_RDONLY | O_CLOEXEC);

		if (fd >= 0) {
			ssize_t n = read(fd, operations, sizeof(operations) - 1);

			operations[n > 0 ? n - 1 : 0] = '\0';
			close(fd);
		}
		/* The sysfs interface cannot add a kdamond beside a running one. */
		snprintf(why, why_len,
			 "this machine already runs a kdamond (pid %llu, %s monitoring), "
			 "and DAMON's sysfs cannot add one beside it",
			 (unsigned long long)pid, operations[0] ? operations : "unknown");
		return -EBUSY;
	}
	snprintf(text, sizeof(text), "%d", (int)getpid());
	/* Each step in order: a later file exists only after the earlier. */
	if ((ret = put("1", ADMIN "/nr_kdamonds")) < 0) {
		step = "nr_kdamonds";
	} else if ((ret = put("1", ADMIN "/0/contexts/nr_contexts")) < 0) {
		step = "nr_contexts";
	} else if ((ret = put("vaddr", CONTEXT "/operations")) < 0) {
		step = "operations vaddr (CONFIG_DAMON_VADDR)";
	} else if ((ret = put_u64(sample_us, CONTEXT "/monitoring_attrs/intervals/sample_us")) < 0 ||
		   (ret = put_u64(aggr_us, CONTEXT "/monitoring_attrs/intervals/aggr_us")) < 0 ||
		   (ret = put_u64(aggr_us * 10, CONTEXT "/monitoring_attrs/intervals/update_us")) < 0) {
		step = "intervals";
	} else if ((ret = put("1", CONTEXT "/targets/nr_targets")) < 0 ||
		   (ret = put(text, CONTEXT "/targets/0/pid_target")) < 0) {
		step = "target";
	} else if ((ret = put("1", CONTEXT "/targets/0/regions/nr_regions")) < 0 ||
		   (ret = put_u64((uintptr_t)area->addr + area->len,
				  CONTEXT "/targets/0/regions/0/end")) < 0 ||
		   (ret = put_u64((uintptr_t)area->addr, CONTEXT "/targets/0/regions/0/start")) < 0) {
		step = "region";
	} else if ((ret = put("1", CONTEXT "/schemes/nr_schemes")) < 0 ||
		   (ret = put("stat", SCHEME "/action")) < 0 ||
		   (ret = put("0", SCHEME "/access_pattern/sz/min")) < 0 ||
		   (ret = put("18446744073709551615", SCHEME "/access_pattern/sz/max")) < 0 ||
		   (ret = put("0", SCHEME "/access_pattern/nr_accesses/min")) < 0 ||
		   (ret = put("4294967295", SCHEME "/access_pattern/nr_accesses/max")) < 0 ||
		   (ret = put("0", SCHEME "/access_pattern/age/min")) < 0 ||
		   (ret = put("4294967295", SCHEME "/access_pattern/age/max")) < 0) {
		step = "stat scheme";
	} else if ((ret = put("on", ADMIN "/0/state")) < 0) {
		step = "state on";
	} else if ((ret = get_u64(&pid, ADMIN "/0/pid")) < 0) {
		step = "kdamond pid";
	} else {
		m->kdamond_pid = (int)pid;
		return 0;
	}
	snprintf(why, why_len, "DAMON sysfs set-up, %s: %s", step, strerror(-ret));
	damon_stop(m);
	return ret;
}

int64_t damon_snapshot(const struct bench_area *area, uint8_t *accessed)
{
	uint64_t base = (uintptr_t)area->addr, pages = area->len / area->page_size;
	int64_t count = 0;
	int ret;

	memset(accessed, 0, pages);
	/* Returns once the scheme was applied at the next aggregation. */
	ret = put("update_schemes_tried_regions", ADMIN "/0/state");
	if (ret < 0)
		return ret;
	for (int i = 0;; i++) {
		uint64_t start, end, nr_accesses;

		if (get_u64(&start, SCHEME "/tried_regions/%d/start", i) < 0)
			break;
		if (get_u64(&end, SCHEME "/tried_regions/%d/end", i) < 0 ||
		    get_u64(&nr_accesses, SCHEME "/tried_regions/%d/nr_accesses", i) < 0)
			return -EIO;
		if (!nr_accesses || end <= base || start >= base + area->len)
			continue;
		start = start < base ? base : start;
		end = end > base + area->len ? base + area->len : end;
		for (uint64_t page = (start - base) / area->page_size;
		     page < pages && page * area->page_size < end - base; page++) {
			count += !accessed[page];
			accessed[page] = 1;
		}
	}
	return count;
}

uint64_t damon_cpu_ns(const struct damon_monitor *m)
{
	struct timespec ts;
	clockid_t clock;

	if (m->kdamond_pid <= 0 || clock_getcpuclockid(m->kdamond_pid, &clock) != 0 ||
	    clock_gettime(clock, &ts) != 0)
		return 0;
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

void damon_stop(struct damon_monitor *m)
{
	put("off", ADMIN "/0/state");
	put("0", ADMIN "/nr_kdamonds");
	m->kdamond_pid = 0;
}
