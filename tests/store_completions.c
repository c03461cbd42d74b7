/* SPDX-License-Identifier: MIT */
/*
 * Store requests with completions: a store with a submit callback gets
 * each eviction step's puts as several requests in flight together, and
 * a fault's prefetch as one get request per page, also in flight together.
 * This store completes them from a thread of its own, newest first (out of
 * order), fails the puts of every eighth page and the prefetch gets of
 * another eighth, and refuses whole requests on command.  Failed puts
 * leave their pages resident, a refused request is as if every page in it
 * failed, a page whose prefetch failed comes back on its own fault: every
 * page reads back what was written, and every error is counted.
 * usage: store_completions MECHANISM
 */
#include <pthread.h>
#include <stdatomic.h>
#include <sys/mman.h>

#include "testlib.h"

#define PAGES 512
#define PENDING_MAX 64

static struct wset_store *inner;
static size_t page;

static struct {
	pthread_mutex_t lock;
	pthread_cond_t work;
	struct wset_store_request *pending[PENDING_MAX];
	unsigned int count;
	bool stop;
	/* What the library asked for. */
	unsigned int in_flight, in_flight_max, largest;
	unsigned int gets_in_flight, gets_in_flight_max;
	unsigned long put_requests, failed_puts, get_requests, failed_gets;
} store = { .lock = PTHREAD_MUTEX_INITIALIZER, .work = PTHREAD_COND_INITIALIZER };
static atomic_bool refuse, hold_gets;

static bool put_fails(uint64_t key)
{
	return key / page % 8 == 3;
}

static bool get_fails(uint64_t key)
{
	return key / page % 8 == 5;
}

/* With store.lock held: a request the completer may run now (gets wait
 * while hold_gets is set). */
static int runnable_index(void)
{
	for (int i = (int)store.count - 1; i >= 0; i--)
		if (store.pending[i]->write || !atomic_load(&hold_gets))
			return i;
	return -1;
}

static bool runnable(void)
{
	return runnable_index() >= 0;
}

static struct wset_store_request *take_newest(void)
{
	int i = runnable_index();
	struct wset_store_request *req = store.pending[i];

	for (unsigned int j = (unsigned int)i; j + 1 < store.count; j++)
		store.pending[j] = store.pending[j + 1];
	store.count--;
	return req;
}

/* The newest request first: completions come out of order. */
static void *completer(void *arg)
{
	(void)arg;
	pthread_mutex_lock(&store.lock);
	for (;;) {
		struct wset_store_request *req;
		bool write;

		while (!runnable() && !store.stop)
			pthread_cond_wait(&store.work, &store.lock);
		if (!runnable())
			break;
		req = take_newest();
		pthread_mutex_unlock(&store.lock);
		for (unsigned int i = 0; i < req->count; i++) {
			struct wset_store_io *io = &req->io[i];
			bool fails = req->write ? put_fails(io->key) : get_fails(io->key);

			if (fails)
				io->result = -EIO;
			else if (req->write)
				io->result = inner->ops->put(inner->priv, io->key,
							     io->iov[0].iov_base,
							     io->iov[0].iov_len);
			else
				io->result = inner->ops->get(inner->priv, io->key,
							     io->iov[0].iov_base,
							     io->iov[0].iov_len);
			if (fails) {
				pthread_mutex_lock(&store.lock);
				if (req->write)
					store.failed_puts++;
				else
					store.failed_gets++;
				pthread_mutex_unlock(&store.lock);
			}
		}
		/* Counted done once the library has had its completion (req
		 * may be gone then): what the test reads next is settled. */
		write = req->write;
		req->done(req);
		pthread_mutex_lock(&store.lock);
		store.in_flight--;
		if (!write)
			store.gets_in_flight--;
	}
	pthread_mutex_unlock(&store.lock);
	return NULL;
}

static int async_submit(void *priv, struct wset_store_request *req)
{
	(void)priv;
	if (atomic_load(&refuse))
		return -EBUSY;
	pthread_mutex_lock(&store.lock);
	if (store.count == PENDING_MAX) {
		pthread_mutex_unlock(&store.lock);
		return -EAGAIN;
	}
	store.pending[store.count++] = req;
	if (++store.in_flight > store.in_flight_max)
		store.in_flight_max = store.in_flight;
	if (req->count > store.largest)
		store.largest = req->count;
	if (req->write) {
		store.put_requests++;
	} else {
		store.get_requests++;
		if (++store.gets_in_flight > store.gets_in_flight_max)
			store.gets_in_flight_max = store.gets_in_flight;
	}
	/* Let requests pile up a little before completing them. */
	if (store.count >= 2)
		pthread_cond_signal(&store.work);
	pthread_mutex_unlock(&store.lock);
	return 0;
}

/* Wakes the completer when a lone request waits (a step's last). */
static void *nudger(void *arg)
{
	const struct timespec tick = { .tv_nsec = 1000000L };

	(void)arg;
	for (;;) {
		nanosleep(&tick, NULL);
		pthread_mutex_lock(&store.lock);
		if (store.stop) {
			pthread_mutex_unlock(&store.lock);
			return NULL;
		}
		if (store.count)
			pthread_cond_signal(&store.work);
		pthread_mutex_unlock(&store.lock);
	}
}




static const struct wset_store_ops async_ops = WSET_STORE_OPS_INIT(
	.put = test_forward_put,
	.get = test_forward_get,
	.drop = test_forward_drop,
	.stats = test_forward_stats,
	.submit = async_submit
);

static struct test_area areas[2] = TEST_AREAS_INIT;

static void write_all(uint64_t generation)
{
	test_write_areas(areas, 2, PAGES, page, generation);
}

static size_t count_bad(uint64_t generation)
{
	return test_count_bad_areas(areas, 2, PAGES, page, generation);
}




/* Wait (10 s at most) until the prefetch gets in flight are at least (or,
 * with at_least false, at most) count. */
static bool gets_in_flight(unsigned int count, bool at_least)
{
	const struct timespec tick = { .tv_nsec = 1000000L };

	for (int wait = 0; wait < 10000; wait++) {
		unsigned int now;

		pthread_mutex_lock(&store.lock);
		now = store.gets_in_flight;
		pthread_mutex_unlock(&store.lock);
		if (at_least ? now >= count : now <= count)
			return true;
		nanosleep(&tick, NULL);
	}
	return false;
}

static void settle(struct wset *ws);

/* Evict, fault on one anonymous page with its neighbours' gets held, and
 * discard 8 neighbours (MADV_DONTNEED: the handler reads the REMOVE event
 * while their gets are in flight).  Then let the gets complete. */
static void discard_in_flight(struct wset *ws)
{
	uint8_t *mem = areas[0].mem, *at = mem + 101 * page;
	uint64_t evicted = 0;
	size_t nonzero = 0;
	bool held;

	write_all(3);
	settle(ws);
	atomic_store(&hold_gets, true);
	wset_evict(ws, 1, 0, &evicted);
	(void)*(volatile uint8_t *)(mem + 100 * page);
	held = gets_in_flight(2, true);
	madvise(at, 8 * page, MADV_DONTNEED);
	atomic_store(&hold_gets, false);
	pthread_mutex_lock(&store.lock);
	pthread_cond_signal(&store.work);
	pthread_mutex_unlock(&store.lock);
	gets_in_flight(0, false);
	for (size_t i = 0; i < 8 * page; i++)
		nonzero += at[i] != 0;
	tap_ok(held && evicted > 0 && nonzero == 0,
	       "pages discarded while their prefetch was in flight read zeroes: "
	       "%zu non-zero bytes (%llu bytes evicted, gets held: %s)", nonzero,
	       (unsigned long long)evicted, held ? "yes" : "no");
}

static void settle(struct wset *ws)
{
	for (int t = 0; t < 3; t++)
		wset_tick(ws);
}

int main(int argc, char **argv)
{
	struct wset_config config = WSET_CONFIG_INIT;
	struct wset_store async = { .ops = &async_ops, .priv = NULL };
	struct wset_counters counters = WSET_COUNTERS_INIT;
	size_t len, failing;
	uint64_t evicted = 0;
	pthread_t threads[2];
	struct wset *ws;
	int ret;

	page = (size_t)sysconf(_SC_PAGESIZE);
	len = PAGES * page;
	config.mechanism = test_mechanism(argc, argv);
	config.store = &async;
	config.prefetch_pages = 16;
	test_require(config.mechanism);
	ret = wset_file_store_open(getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp", &inner);
	if (ret < 0)
		tap_bail("file store: %s", strerror(-ret));
	async.priv = inner; /* the forwarding callbacks' */
	pthread_create(&threads[0], NULL, completer, NULL);
	pthread_create(&threads[1], NULL, nudger, NULL);
	ws = test_create(&config);
	tap_plan(13);
	test_add_areas(ws, areas, 2, len);
	/* The store refuses every request: nothing leaves, nothing is lost. */
	write_all(1);
	settle(ws);
	atomic_store(&refuse, true);
	ret = wset_evict(ws, 1, 0, &evicted);
	wset_counters(ws, &counters);
	tap_ok(ret == 0 && evicted == 0 && counters.abandoned == 2 * PAGES &&
	       counters.store_put_errors == 2 * PAGES,
	       "refused requests: nothing evicted (%d, %llu bytes), every page abandoned "
	       "(%llu) and counted (%llu)", ret, (unsigned long long)evicted,
	       (unsigned long long)counters.abandoned,
	       (unsigned long long)counters.store_put_errors);
	tap_ok(count_bad(1) == 0, "content intact after refused requests");
	atomic_store(&refuse, false);

	/* Puts complete out of order, some fail. */
	write_all(2);
	settle(ws);
	ret = wset_evict(ws, 1, 0, &evicted);
	wset_counters(ws, &counters);
	failing = store.failed_puts;
	tap_ok(ret == 0 && failing > 0 && evicted == 2 * len - failing * page,
	       "eviction: %llu bytes, all but the %zu pages whose puts fail",
	       (unsigned long long)evicted, failing);
	tap_ok(counters.store_put_errors == 2 * PAGES + failing &&
	       counters.abandoned == 2 * PAGES + failing,
	       "each failed put is counted: %lu failed, %llu errors in all",
	       store.failed_puts, (unsigned long long)counters.store_put_errors);
	tap_ok(store.put_requests >= 2 * PAGES / WSET_STORE_REQUEST_PAGES &&
	       store.largest <= WSET_STORE_REQUEST_PAGES,
	       "puts came as %lu requests of at most %u pages (largest %u)",
	       store.put_requests, WSET_STORE_REQUEST_PAGES, store.largest);
	tap_ok(store.in_flight_max >= 2, "requests were in flight together: up to %u",
	       store.in_flight_max);
	tap_ok(counters.resident_bytes == failing * page,
	       "the failed pages stay resident: %llu bytes",
	       (unsigned long long)counters.resident_bytes);

	/* Reading back: faults get their page with get, and their neighbours
	 * come as requests, out of order; a fault on one in flight waits for
	 * it, a fault on one whose get failed gets it itself. */
	tap_ok(count_bad(2) == 0, "every page reads back what was written last");
	/* The last faults' prefetches may still be in flight. */
	gets_in_flight(0, false);
	wset_counters(ws, &counters);
	tap_ok(counters.prefetches > 0 && store.failed_gets > 0 &&
	       counters.store_get_errors == store.failed_gets &&
	       store.get_requests == counters.prefetches + store.failed_gets,
	       "prefetch brought %llu pages back with %lu one-page requests; "
	       "%lu failed, %llu get errors counted", (unsigned long long)counters.prefetches,
	       store.get_requests, store.failed_gets,
	       (unsigned long long)counters.store_get_errors);
	tap_ok(store.gets_in_flight_max >= 2, "prefetch gets were in flight together: up to %u",
	       store.gets_in_flight_max);
	/* The last completions drop their pages' store copies after waking
	 * the faults: wait for the store to empty (10 s at most). */
	for (int wait = 0; wait < 10000; wait++) {
		const struct timespec tick = { .tv_nsec = 1000000L };

		wset_counters(ws, &counters);
		if (counters.store.stored_bytes == 0)
			break;
		nanosleep(&tick, NULL);
	}
	tap_ok(counters.evicted_bytes == 0 && counters.store.stored_bytes == 0,
	       "all pages back, store empty: %llu evicted, %llu stored",
	       (unsigned long long)counters.evicted_bytes,
	       (unsigned long long)counters.store.stored_bytes);

	/* The VMM discards pages whose prefetch is in flight: they must come
	 * back as zeroes, not as their stored copies. */
	discard_in_flight(ws);
	tap_ok(wset_destroy(ws) == 0, "destroy");
	pthread_mutex_lock(&store.lock);
	store.stop = true;
	pthread_cond_broadcast(&store.work);
	pthread_mutex_unlock(&store.lock);
	pthread_join(threads[0], NULL);
	pthread_join(threads[1], NULL);
	wset_store_close(inner);
	return tap_done();
}
