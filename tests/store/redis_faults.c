/* SPDX-License-Identifier: MIT */
/*
 * A wset evicting through a chain (compressed RAM -> Redis) to a real
 * redis-server that this test starts, kills -9 and restarts, and then runs
 * with a small maxmemory.  No page is ever lost: every page's checksum is
 * checked after each step.
 * - Redis killed while pages are being fetched: the faulting readers wait,
 *   the Redis tier reconnects once it is back, every page comes back.
 * - Redis down during an eviction: incompressible pages (which only Redis
 *   would take) stay resident; compressible ones stay in RAM.
 * - Redis out of memory (OOM replies): the pages it refuses stay resident.
 * usage: redis_faults MECHANISM
 */
#include <pthread.h>
#include <stdatomic.h>

#include "redis_server.h"
#include "testlib.h"
#include "wset_store.h"

#define PAGES 256

static struct test_area areas[2] = TEST_AREAS_INIT;
static uint64_t sums[2][PAGES];
static size_t page;

/* Odd pages random (only Redis takes them), even pages text-like. */
static void write_all(uint64_t generation)
{
	uint64_t state = generation | 1;

	for (int a = 0; a < 2; a++)
		for (size_t i = 0; i < PAGES; i++) {
			uint8_t *p = areas[a].mem + i * page;

			if (i % 2)
				for (size_t off = 0; off < page; off += 8)
					*(uint64_t *)(p + off) = test_random(&state);
			else
				for (size_t off = 0; off < page; off += 64)
					snprintf((char *)p + off, 64, "area %d page %zu gen %llu",
						 a, i, (unsigned long long)generation);
			sums[a][i] = test_hash(p, page);
		}
}

static size_t count_bad(void)
{
	size_t bad = 0;

	for (int a = 0; a < 2; a++)
		for (size_t i = 0; i < PAGES; i++)
			bad += test_hash(areas[a].mem + i * page, page) != sums[a][i];
	return bad;
}

static atomic_bool reader_done;
static size_t reader_bad;

static void *reader(void *arg)
{
	(void)arg;
	reader_bad = count_bad();
	atomic_store(&reader_done, true);
	return NULL;
}

static struct wset_tier_stats tier(struct wset_store *chain, unsigned int index)
{
	struct wset_tier_stats stats = { 0 };

	wset_chain_tier_stats(chain, index, &stats);
	return stats;
}

/* Pages fetched back stay busy until their stored copies are dropped,
 * off the fault path: wait for that before evicting them again. */
static void wait_for_drops(struct wset_store *chain)
{
	const struct timespec tick = { .tv_nsec = 10 * 1000000L };

	/* The library lets a page go just after the chain has dropped it. */
	for (int waited = 0, quiet = 0; waited < 2000 && quiet < 10; waited++) {
		quiet = tier(chain, 0).pages == 0 && tier(chain, 1).pages == 0 ?
			quiet + 1 : 0;
		nanosleep(&tick, NULL);
	}
}

static uint64_t evict_all(struct wset *ws, struct wset_store *chain)
{
	uint64_t evicted = 0;

	wait_for_drops(chain);
	for (int t = 0; t < 3; t++)
		wset_tick(ws);
	if (wset_evict(ws, 1, 0, &evicted) < 0)
		return 0;
	return evicted;
}

static int count_page(void *arg, uint64_t key, size_t len)
{
	(void)key;
	*(size_t *)arg += len == page;
	return 0;
}

/* What a restarted agent sees: a new chain over the same Redis keys lists
 * them (each), and every page reads back intact.  A chain with a RAM tier
 * refuses to list: its pages died with the old agent. */
static void take_over(const struct redis_server *server)
{
	struct wset_redis_config redis = WSET_REDIS_CONFIG_INIT;
	struct wset_compressed_config compressed = WSET_COMPRESSED_CONFIG_INIT;
	struct wset_store *tiers[2], *chain;
	uint8_t data[4096];
	size_t listed = 0, bad = 0;
	uint64_t state = 7;
	int ret;

	redis.host = NULL;
	redis.unix_path = server->socket;
	redis.vmm_name = "taken-over";
	for (int round = 0; round < 2; round++) {
		if (wset_redis_store_open(&redis, &tiers[0]) < 0 ||
		    wset_chain_open(tiers, 1, &chain) < 0)
			tap_bail("chain over Redis");
		if (round == 0)
			for (uint64_t i = 0; i < 64; i++) {
				for (size_t off = 0; off < page; off += 8)
					*(uint64_t *)(data + off) = test_random(&state);
				sums[0][i] = test_hash(data, page);
				ret = chain->ops->put(chain->priv, i * page, data, page);
				bad += ret != 0;
			}
		wset_store_close(chain);
	}
	if (wset_redis_store_open(&redis, &tiers[0]) < 0 ||
	    wset_chain_open(tiers, 1, &chain) < 0)
		tap_bail("chain over Redis");
	ret = chain->ops->each(chain->priv, count_page, &listed);
	tap_ok(ret == 0 && listed == 64 && bad == 0, "a new chain lists the 64 pages "
	       "an earlier one left in Redis (%d, %zu)", ret, listed);
	/* Back in one pipelined batch. */
	{
		static uint8_t pages[64][4096];
		struct wset_store_io io[64];
		struct iovec iov[64];

		for (uint64_t i = 0; i < 64; i++) {
			iov[i] = (struct iovec){ pages[i], page };
			io[i] = (struct wset_store_io){ .key = i * page, .iov = &iov[i],
							.iovcnt = 1 };
		}
		ret = chain->ops->get_batch(chain->priv, io, 64);
		for (uint64_t i = 0; i < 64; i++) {
			bad += ret != 0 || io[i].result != 0 ||
			       test_hash(pages[i], page) != sums[0][i];
			chain->ops->drop(chain->priv, i * page, page);
		}
	}
	tap_ok(bad == 0 && tier(chain, 0).pages == 0, "and reads them back intact "
	       "in one pipelined get_batch (%zu bad)", bad);
	wset_store_close(chain);
	if (wset_compressed_store_open(&compressed, &tiers[0]) < 0 ||
	    wset_redis_store_open(&redis, &tiers[1]) < 0 ||
	    wset_chain_open(tiers, 2, &chain) < 0)
		tap_bail("chain");
	ret = chain->ops->each(chain->priv, count_page, &listed);
	tap_ok(ret == -EOPNOTSUPP, "a chain with a RAM tier refuses to list (%d)", ret);
	wset_store_close(chain);
}

int main(int argc, char **argv)
{
	struct wset_compressed_config compressed = WSET_COMPRESSED_CONFIG_INIT;
	struct wset_redis_config redis = WSET_REDIS_CONFIG_INIT;
	struct wset_counters counters = WSET_COUNTERS_INIT;
	struct wset_config config = WSET_CONFIG_INIT;
	const struct timespec pause = { .tv_nsec = 300 * 1000000L };
	size_t len = PAGES * (size_t)sysconf(_SC_PAGESIZE);
	struct wset_store *tiers[2], *chain;
	struct redis_server server;
	uint64_t evicted, before;
	pthread_t thread;
	char why[256];
	struct wset *ws;
	int ret;

	page = (size_t)sysconf(_SC_PAGESIZE);
	config.mechanism = test_mechanism(argc, argv);
	test_require(config.mechanism);
	ret = redis_server_create(&server, NULL, why, sizeof(why));
	if (ret == 4)
		tap_skip_all("%s", why);
	if (ret < 0)
		tap_bail("%s", why);
	tap_plan(18);

	compressed.capacity_bytes = 4096; /* most text pages move on to Redis */
	redis.host = NULL;
	redis.unix_path = server.socket;
	redis.vmm_name = "test-vmm";
	redis.timeout_ms = 3000; /* appendfsync always on a busy disk */
	ret = wset_compressed_store_open(&compressed, &tiers[0]);
	if (ret < 0)
		tap_bail("compressed store: %s", strerror(-ret));
	ret = wset_redis_store_open(&redis, &tiers[1]);
	if (ret < 0)
		tap_bail("redis store: %s", strerror(-ret));
	ret = wset_chain_open(tiers, 2, &chain);
	if (ret < 0)
		tap_bail("chain: %s", strerror(-ret));
	config.store = chain;
	config.fetch_retries = 10;
	ws = test_create(&config);
	test_add_areas(ws, areas, 2, len);

	/* Healthy: everything leaves, most of it to Redis, all comes back. */
	write_all(1);
	evicted = evict_all(ws, chain);
	wset_counters(ws, &counters);
	tap_ok(evicted == 2 * len, "eviction through the chain: %llu of %zu bytes "
	       "(%llu failed puts, %llu abandoned)", (unsigned long long)evicted, 2 * len,
	       (unsigned long long)counters.store_put_errors,
	       (unsigned long long)counters.abandoned);
	tap_ok(tier(chain, 1).pages >= PAGES && tier(chain, 0).stored_bytes <= 4096 &&
	       tier(chain, 0).moved_down > 0,
	       "Redis holds %llu pages, the compressed tier %llu in %llu bytes",
	       (unsigned long long)tier(chain, 1).pages,
	       (unsigned long long)tier(chain, 0).pages,
	       (unsigned long long)tier(chain, 0).stored_bytes);
	tap_ok(count_bad() == 0, "every page comes back intact");

	/* Redis killed -9 with pages in it; readers fault on them meanwhile. */
	write_all(2);
	evicted = evict_all(ws, chain);
	before = tier(chain, 1).pages;
	redis_server_kill(&server);
	pthread_create(&thread, NULL, reader, NULL);
	nanosleep(&pause, NULL);
	tap_ok(evicted == 2 * len && before > 0 && !atomic_load(&reader_done),
	       "with Redis killed, a reader of its %llu pages waits (%llu bytes evicted)",
	       (unsigned long long)before, (unsigned long long)evicted);
	if (!redis_server_start(&server, why, sizeof(why)))
		tap_bail("restart: %s", why);
	pthread_join(thread, NULL);
	wset_counters(ws, &counters);
	tap_ok(reader_bad == 0, "after the restart every page comes back intact "
	       "(%zu bad, %llu failed gets on the way)", reader_bad,
	       (unsigned long long)counters.store_get_errors);
	tap_ok(counters.store_get_errors > 0, "the failed gets were counted");

	/* Redis down during an eviction. */
	write_all(3);
	redis_server_kill(&server);
	wset_counters(ws, &counters);
	before = counters.store_put_errors;
	evicted = evict_all(ws, chain);
	wset_counters(ws, &counters);
	tap_ok(evicted < 2 * len && counters.store_put_errors - before >= PAGES,
	       "with Redis down, the incompressible pages stay: %llu of %zu bytes "
	       "evicted, %llu failed puts", (unsigned long long)evicted, 2 * len,
	       (unsigned long long)(counters.store_put_errors - before));
	tap_ok(counters.resident_bytes >= len && tier(chain, 0).stored_bytes <= 2 * 4096,
	       "%llu bytes stay resident; the compressed tier, unable to move pages "
	       "down, stops at twice its capacity (%llu bytes)",
	       (unsigned long long)counters.resident_bytes,
	       (unsigned long long)tier(chain, 0).stored_bytes);
	tap_ok(count_bad() == 0, "no page lost while Redis was down");
	if (!redis_server_start(&server, why, sizeof(why)))
		tap_bail("restart: %s", why);
	write_all(4);
	/*
	 * A restarted Redis answers -LOADING while it reads its append-only
	 * file back, and the puts of that time fail (their pages stay): wait
	 * for eviction to take every page, 10 s at most.
	 */
	const struct timespec retry = { .tv_nsec = 100 * 1000000L };
	int rounds = 0;

	evicted = 0;
	while (evicted < 2 * len && rounds++ < 100) {
		if (rounds > 1)
			nanosleep(&retry, NULL);
		evicted += evict_all(ws, chain);
	}
	tap_ok(evicted == 2 * len && count_bad() == 0, "Redis back: eviction resumes "
	       "(%llu bytes in %d rounds), pages intact", (unsigned long long)evicted,
	       rounds);
	for (unsigned int t = 0; t < 2; t++) {
		struct wset_tier_stats s = tier(chain, t);
		uint64_t gets = 0, puts = 0, get_weighted = 0, put_weighted = 0;

		for (int b = 0; b < WSET_TIER_LATENCY_BUCKETS; b++) {
			gets += s.get_latency[b];
			puts += s.put_latency[b];
			get_weighted += s.get_latency[b] << b;
			put_weighted += s.put_latency[b] << b;
		}
		tap_diag("{\"tier\":\"%s\",\"puts\":%llu,\"gets\":%llu,\"errors\":%llu,"
			 "\"moved_down\":%llu,\"put_mean_us_below\":%llu,\"get_mean_us_below\":%llu}",
			 s.name, (unsigned long long)s.puts, (unsigned long long)s.gets,
			 (unsigned long long)s.errors, (unsigned long long)s.moved_down,
			 (unsigned long long)(puts ? put_weighted / puts : 0),
			 (unsigned long long)(gets ? get_weighted / gets : 0));
	}

	/* A small maxmemory: Redis answers OOM, those pages stay resident. */
	ret = wset_restore_all(ws);
	tap_ok(ret == 0 && count_bad() == 0, "everything restored before the "
	       "maxmemory run (%d)", ret);
	redis_server_kill(&server);
	snprintf(server.maxmemory, sizeof(server.maxmemory), "1500kb");
	if (!redis_server_start(&server, why, sizeof(why)))
		tap_bail("restart with maxmemory: %s", why);
	write_all(5);
	wset_counters(ws, &counters);
	before = counters.store_put_errors;
	evicted = evict_all(ws, chain);
	wset_counters(ws, &counters);
	tap_ok(evicted > 0 && evicted < 2 * len && counters.store_put_errors > before,
	       "Redis out of memory refuses some pages: %llu of %zu bytes evicted, "
	       "%llu failed puts", (unsigned long long)evicted, 2 * len,
	       (unsigned long long)(counters.store_put_errors - before));
	tap_ok(tier(chain, 1).errors > 0, "the Redis tier counts its errors: %llu",
	       (unsigned long long)tier(chain, 1).errors);
	tap_ok(count_bad() == 0, "no page lost to the OOM replies");
	ret = wset_restore_all(ws);
	tap_ok(ret == 0 && count_bad() == 0 && tier(chain, 1).pages == 0,
	       "all pages back, Redis tier empty (%d, %llu pages)", ret,
	       (unsigned long long)tier(chain, 1).pages);
	wset_destroy(ws);
	wset_store_close(chain);
	take_over(&server);
	redis_server_destroy(&server);
	return tap_done();
}
