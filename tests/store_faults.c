/* SPDX-License-Identifier: MIT */
/*
 * Store faults: a store that fails writes or reads on command.  A failed
 * put abandons the eviction (the page stays resident and intact); a failed
 * get keeps the faulting thread waiting until the store recovers.  Nothing
 * is lost and every error is counted.
 * usage: store_faults MECHANISM
 */
#include <pthread.h>
#include <stdatomic.h>
#include <time.h>

#include "testlib.h"

#define PAGES 256

static struct wset_store *inner;
static atomic_bool fail_put, fail_get;
static atomic_ulong put_failures, get_failures;

static int flaky_put(void *priv, uint64_t key, const void *data, size_t len)
{
	(void)priv;
	if (atomic_load(&fail_put)) {
		atomic_fetch_add(&put_failures, 1);
		return -EIO;
	}
	return inner->ops->put(inner->priv, key, data, len);
}

static int flaky_get(void *priv, uint64_t key, void *buf, size_t len)
{
	(void)priv;
	if (atomic_load(&fail_get)) {
		atomic_fetch_add(&get_failures, 1);
		return -EIO;
	}
	return inner->ops->get(inner->priv, key, buf, len);
}



static const struct wset_store_ops flaky_ops = WSET_STORE_OPS_INIT(
	.put = flaky_put,
	.get = flaky_get,
	.drop = test_forward_drop,
	.stats = test_forward_stats
);

static struct test_area areas[2] = TEST_AREAS_INIT;
static size_t page;

static void write_all(uint64_t generation)
{
	test_write_areas(areas, 2, PAGES, page, generation);
}

static size_t count_bad(uint64_t generation)
{
	return test_count_bad_areas(areas, 2, PAGES, page, generation);
}



static atomic_bool reader_done;
static size_t reader_bad;

static void *reader(void *arg)
{
	reader_bad = count_bad(*(uint64_t *)arg);
	atomic_store(&reader_done, true);
	return NULL;
}

int main(int argc, char **argv)
{
	struct wset_config config = WSET_CONFIG_INIT;
	struct wset_store flaky = { .ops = &flaky_ops, .priv = NULL };
	struct wset_counters counters = WSET_COUNTERS_INIT;
	const struct timespec pause = { .tv_nsec = 200 * 1000000L };
	uint64_t generation = 0x5eed, evicted = 0;
	size_t len = PAGES * (size_t)sysconf(_SC_PAGESIZE);
	pthread_t thread;
	struct wset *ws;
	int ret;

	page = (size_t)sysconf(_SC_PAGESIZE);
	config.mechanism = test_mechanism(argc, argv);
	config.store = &flaky;
	config.fetch_retries = 10; /* escalate after about 50 ms */
	test_require(config.mechanism);
	ret = wset_file_store_open(getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp", &inner);
	if (ret < 0)
		tap_bail("file store: %s", strerror(-ret));
	flaky.priv = inner; /* the forwarding callbacks' */
	ws = test_create(&config);
	tap_plan(14);
	test_add_areas(ws, areas, 2, len);
	write_all(generation);
	for (int t = 0; t < 3; t++)
		wset_tick(ws);

	/* Puts fail: nothing leaves, nothing is lost. */
	atomic_store(&fail_put, true);
	ret = wset_evict(ws, 1, 0, &evicted);
	wset_counters(ws, &counters);
	tap_ok(ret == 0 && evicted == 0, "eviction with a failing store moves nothing (%d, %llu bytes)",
	       ret, (unsigned long long)evicted);
	tap_ok(counters.store_put_errors == 2 * PAGES && counters.abandoned == 2 * PAGES,
	       "every failed put is counted: %llu errors, %llu abandoned",
	       (unsigned long long)counters.store_put_errors,
	       (unsigned long long)counters.abandoned);
	tap_ok(counters.resident_bytes == 2 * len && counters.evicted_bytes == 0,
	       "pages stay resident: %llu bytes", (unsigned long long)counters.resident_bytes);
	tap_ok(count_bad(generation) == 0, "content intact after abandoned evictions");
	off_t data = lseek(areas[1].fd, 0, SEEK_DATA);
	tap_ok(data == 0, "memfd pages were not punched");

	/* The store recovers: eviction works, writes after the abandoned
	 * attempt included. */
	atomic_store(&fail_put, false);
	write_all(++generation);
	for (int t = 0; t < 3; t++)
		wset_tick(ws);
	ret = wset_evict(ws, 1, 0, &evicted);
	tap_ok(ret == 0 && evicted == 2 * len, "eviction after recovery: %llu bytes",
	       (unsigned long long)evicted);

	/* Gets fail: a reader blocks, is not handed garbage, and finishes once
	 * the store answers again. */
	atomic_store(&fail_get, true);
	pthread_create(&thread, NULL, reader, &generation);
	nanosleep(&pause, NULL);
	tap_ok(!atomic_load(&reader_done), "reader waits while the store fails");
	wset_counters(ws, &counters);
	tap_ok(counters.store_get_errors > 0, "failed gets are counted: %llu",
	       (unsigned long long)counters.store_get_errors);
	for (int waited = 0; waited < 30000 && !counters.stalled_faults; waited += 10) {
		const struct timespec tick = { .tv_nsec = 10 * 1000000L };

		nanosleep(&tick, NULL);
		wset_counters(ws, &counters);
	}
	tap_ok(counters.fault_escalations > 0 && counters.stalled_faults > 0,
	       "past fetch_retries the fault is escalated, and keeps waiting: %llu "
	       "escalations, %llu stalled", (unsigned long long)counters.fault_escalations,
	       (unsigned long long)counters.stalled_faults);
	ret = wset_restore_all(ws);
	tap_ok(ret < 0, "restore_all reports the store error: %d", ret);
	atomic_store(&fail_get, false);
	pthread_join(thread, NULL);
	tap_ok(reader_bad == 0, "reader sees every page intact after recovery");
	wset_counters(ws, &counters);
	tap_ok(counters.stalled_faults == 0, "no fault is stalled after recovery");
	tap_ok(counters.evicted_bytes == 0 && counters.store.stored_bytes == 0,
	       "all pages back, store empty: %llu evicted, %llu stored",
	       (unsigned long long)counters.evicted_bytes,
	       (unsigned long long)counters.store.stored_bytes);
	tap_ok(wset_destroy(ws) == 0, "destroy");
	wset_store_close(inner);
	return tap_done();
}
