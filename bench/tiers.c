/* SPDX-License-Identifier: MIT */
/*
 * Row 9, the store tiers one by one: eviction throughput (every page of an
 * area put in one put_batch where the tier has it, else page by page),
 * fetch latency (each page got once, in random order, timed) and the
 * compression ratio, for two contents:
 *   demo: the demo VMM's pages (a pseudo-random pattern: incompressible,
 *         so the compressed tiers refuse them and the row says how many);
 *   text: short text lines, as much of a guest's page cache holds;
 *   guest: with --input FILE, pages of a real guest's RAM (bench/guest-ram
 *          writes one), taken evenly over the whole file.
 * Competitors: compressed-lz4, compressed-zstd, file (the baseline), redis
 * (a redis-server this program starts on a unix socket, append-only file
 * fsynced always, as the tests run it).  Every page is checked on the way
 * back.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../tests/redis_server.h"
#include "bench.h"
#include "wset_store.h"

#define BENCH "tiers"
#define PAGE 4096u

enum competitor { LZ4, ZSTD, FILE_TIER, REDIS, COMPETITORS };

static const char *const names[COMPETITORS] = { "compressed-lz4", "compressed-zstd",
						 "file", "redis" };

static void fill(uint8_t *data, uint64_t pages, bool text)
{
	for (uint64_t p = 0; p < pages; p++) {
		uint8_t *page = data + p * PAGE;

		if (!text) {
			for (size_t word = 0; word < PAGE / 8; word++)
				((uint64_t *)page)[word] = bench_pattern(p, word + 1);
			continue;
		}
		memset(page, 0, PAGE);
		for (size_t off = 0; off < PAGE; off += 64)
			snprintf((char *)page + off, 64, "page %llu line %zu of the text",
				 (unsigned long long)p, off / 64);
	}
}

/*
 * pages pages of the file, evenly spread over it (all of them when it
 * holds fewer); returns how many were read, or 0 with why[] set.
 */
static uint64_t read_guest(const char *path, uint8_t *data, uint64_t pages,
			   char *why, size_t why_len)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	struct stat st;
	uint64_t have, stride;

	if (fd < 0 || fstat(fd, &st) < 0) {
		snprintf(why, why_len, "%s: %s", path, strerror(errno));
		if (fd >= 0)
			close(fd);
		return 0;
	}
	have = (uint64_t)st.st_size / PAGE;
	if (have < pages)
		pages = have;
	stride = pages ? have / pages : 1;
	for (uint64_t p = 0; p < pages; p++) {
		if (pread(fd, data + p * PAGE, PAGE, (off_t)(p * stride * PAGE)) != PAGE) {
			snprintf(why, why_len, "%s: short read at page %llu", path,
				 (unsigned long long)(p * stride));
			close(fd);
			return 0;
		}
	}
	close(fd);
	if (!pages)
		snprintf(why, why_len, "%s holds no whole page", path);
	return pages;
}

static int open_tier(enum competitor which, const struct redis_server *server,
		     struct wset_store **out)
{
	struct wset_compressed_config compressed = WSET_COMPRESSED_CONFIG_INIT;
	struct wset_redis_config redis = WSET_REDIS_CONFIG_INIT;

	switch (which) {
	case LZ4:
	case ZSTD:
		compressed.compression = which == ZSTD ? WSET_COMPRESSION_ZSTD
						       : WSET_COMPRESSION_LZ4;
		return wset_compressed_store_open(&compressed, out);
	case FILE_TIER:
		return wset_file_store_open(bench_store_dir(), out);
	case REDIS:
		redis.host = NULL;
		redis.unix_path = server->socket;
		redis.vmm_name = "bench";
		redis.timeout_ms = 10000;
		return wset_redis_store_open(&redis, out);
	default:
		return -EINVAL;
	}
}

static void run(const struct bench_options *options, const char *name,
		enum competitor which, const struct redis_server *server, int rep,
		uint8_t *data, uint64_t pages, uint64_t *latency)
{
	struct wset_store_io *io = calloc(pages, sizeof(*io));
	struct iovec *iov = calloc(pages, sizeof(*iov));
	struct wset_store_stats stats = { 0 };
	uint64_t *order = bench_order(pages, true, (uint64_t)rep + 1);
	uint64_t start, stored = 0, refused = 0;
	static uint8_t back[PAGE];
	struct wset_store *store;
	json_object *line;
	double seconds;
	int ret = open_tier(which, server, &store);

	if (ret < 0)
		bench_fail("%s: open: %s", names[which], strerror(-ret));
	if (!io || !iov || !order)
		bench_fail("out of memory");
	for (uint64_t p = 0; p < pages; p++) {
		iov[p] = (struct iovec){ data + p * PAGE, PAGE };
		io[p] = (struct wset_store_io){ .key = p * PAGE, .iov = &iov[p], .iovcnt = 1 };
	}
	start = bench_now_ns();
	if (store->ops->put_batch) {
		ret = store->ops->put_batch(store->priv, io, (unsigned int)pages);
		if (ret < 0)
			bench_fail("%s: put_batch: %s", names[which], strerror(-ret));
	} else {
		for (uint64_t p = 0; p < pages; p++)
			io[p].result = store->ops->put(store->priv, io[p].key,
						       data + p * PAGE, PAGE);
	}
	seconds = (double)(bench_now_ns() - start) / 1e9;
	store->ops->stats(store->priv, &stats);
	for (uint64_t p = 0; p < pages; p++) {
		if (io[p].result == -E2BIG) {
			refused++;
			continue;
		}
		if (io[p].result < 0)
			bench_fail("%s: put: %s", names[which], strerror(-io[p].result));
		stored++;
	}
	for (uint64_t i = 0, n = 0; i < pages; i++) {
		uint64_t p = order[i];

		if (io[p].result != 0)
			continue;
		start = bench_now_ns();
		ret = store->ops->get(store->priv, p * PAGE, back, PAGE);
		latency[n++] = bench_now_ns() - start;
		if (ret < 0 || memcmp(back, data + p * PAGE, PAGE))
			bench_fail("%s: page %llu came back wrong (%d)", names[which],
				   (unsigned long long)p, ret);
	}
	line = bench_sample(options, BENCH, name, names[which], rep);
	bench_set_u64(line, "pages", pages);
	bench_set_u64(line, "stored_pages", stored);
	bench_set_u64(line, "refused_pages", refused);
	bench_set_double(line, "evict_mib_per_s",
			 (double)(stored * PAGE) / seconds / (1u << 20));
	if (stored) {
		bench_set_u64(line, "get_p50_ns", bench_quantile(latency, stored, 0.50));
		bench_set_u64(line, "get_p99_ns", bench_quantile(latency, stored, 0.99));
	}
	bench_set_double(line, "compression_ratio", stats.stored_bytes ?
			 (double)(stored * PAGE) / (double)stats.stored_bytes : 0.0);
	bench_emit(line);
	for (uint64_t p = 0; p < pages; p++)
		if (io[p].result == 0)
			store->ops->drop(store->priv, p * PAGE, PAGE);
	wset_store_close(store);
	free(io);
	free(iov);
	free(order);
}

int main(int argc, char **argv)
{
	struct bench_options options;
	struct redis_server server;
	bool have_redis;
	char why[256];

	bench_parse(argc, argv,
		    "Per-tier eviction throughput, fetch latency and compression ratio.\n",
		    32ull << 20, &options);
	uint64_t pages = (options.smoke ? 1ull << 20 : options.size) / PAGE;
	uint8_t *data = malloc(pages * PAGE);
	uint64_t *latency = malloc(pages * sizeof(*latency));

	if (!data || !latency)
		bench_fail("out of memory");
	have_redis = redis_server_create(&server, NULL, why, sizeof(why)) == 0;
	for (int content = 0; content < 3; content++) {
		static const char *const contents[] = { "demo", "text", "guest" };
		const char *name = contents[content];
		uint64_t count = pages;

		if (!bench_selected(&options, name))
			continue;
		if (content == 2) {
			if (!options.input)
				continue;
			count = read_guest(options.input, data, pages, why, sizeof(why));
			if (!count) {
				bench_skip(&options, BENCH, name, "%s", why);
				continue;
			}
		} else {
			fill(data, pages, content == 1);
		}
		if (!have_redis)
			bench_skip(&options, BENCH, name, "redis: %s", why);
		for (int rep = 0; rep < options.repetitions; rep++) {
			bench_progress("%s: %s, repetition %d of %d", BENCH, name, rep + 1,
				       options.repetitions);
			for (int c = 0; c < COMPETITORS; c++)
				if (c != REDIS || have_redis)
					run(&options, name, (enum competitor)c, &server,
					    rep, data, count, latency);
		}
	}
	if (have_redis)
		redis_server_destroy(&server);
	free(data);
	free(latency);
	return 0;
}
