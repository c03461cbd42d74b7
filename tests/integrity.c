/* SPDX-License-Identifier: MIT */
/*
 * Integrity under fire: threads keep writing and reading checksummed 4 KiB
 * slots over anonymous, memfd and hugetlbfs regions while tracking,
 * eviction and fetch-back run for many cycles.  Every read must see the
 * last write to that slot; no page may be lost or corrupt.
 * usage: integrity MECHANISM [CYCLES]
 */
#include <pthread.h>
#include <stdatomic.h>
#include <time.h>

#include "testlib.h"

#define SLOT 4096
#define WORKERS 4

struct slot_header {
	uint64_t sequence;
	uint64_t slot;
	uint64_t checksum; /* of the payload */
};

struct area {
	enum test_memory kind;
	uint8_t *mem;
	size_t len;
	int fd;
};

static struct area areas[3];
static int area_count;
static size_t slot_count;
static atomic_bool stop;
static atomic_ulong corrupt, checked, written;

static uint8_t *slot_addr(size_t slot)
{
	for (int i = 0; i < area_count; i++) {
		size_t slots = areas[i].len / SLOT;

		if (slot < slots)
			return areas[i].mem + slot * SLOT;
		slot -= slots;
	}
	return NULL;
}

static void fill(uint8_t *page, size_t slot, uint64_t sequence)
{
	struct slot_header *header = (struct slot_header *)page;
	uint64_t *payload = (uint64_t *)(page + sizeof(*header));
	size_t words = (SLOT - sizeof(*header)) / sizeof(uint64_t);
	uint64_t seed = slot * 0x9e3779b97f4a7c15ull ^ sequence;

	for (size_t i = 0; i < words; i++) {
		seed ^= seed << 13;
		seed ^= seed >> 7;
		seed ^= seed << 17;
		payload[i] = seed;
	}
	header->slot = slot;
	header->checksum = test_hash(payload, words * sizeof(uint64_t));
	/* The sequence last: a reader that sees it sees the rest (one
	 * writer per slot, and the reader is that same thread). */
	header->sequence = sequence;
}

static bool check(const uint8_t *page, size_t slot, uint64_t sequence)
{
	const struct slot_header *header = (const struct slot_header *)page;
	size_t words = (SLOT - sizeof(*header)) / sizeof(uint64_t);

	if (header->sequence != sequence || header->slot != slot ||
	    header->checksum != test_hash(page + sizeof(*header),
					  words * sizeof(uint64_t))) {
		if (atomic_fetch_add(&corrupt, 1) < 10)
			tap_diag("slot %zu: sequence %llu (want %llu), slot field %llu",
				 slot, (unsigned long long)header->sequence,
				 (unsigned long long)sequence,
				 (unsigned long long)header->slot);
		return false;
	}
	return true;
}

struct worker {
	pthread_t thread;
	int id;
	uint64_t *sequence; /* per owned slot, in private memory */
};

static uint64_t next_random(uint64_t *state)
{
	*state ^= *state << 13;
	*state ^= *state >> 7;
	*state ^= *state << 17;
	return *state;
}

/* Slots id, id + WORKERS, ... belong to worker id; a fifth of them are
 * hot and take most of the accesses, the rest go cold and get evicted. */
static void *work(void *arg)
{
	struct worker *worker = arg;
	size_t owned = (slot_count - (size_t)worker->id + WORKERS - 1) / WORKERS;
	uint64_t random = 88172645463325252ull + (uint64_t)worker->id;

	for (size_t i = 0; i < owned; i++) {
		size_t slot = (size_t)worker->id + i * WORKERS;

		worker->sequence[i] = 1;
		fill(slot_addr(slot), slot, 1);
	}
	while (!atomic_load(&stop)) {
		uint64_t r = next_random(&random);
		size_t hot = owned / 5 ? owned / 5 : 1;
		size_t i = (r % 10) < 8 ? (r >> 8) % hot : (r >> 8) % owned;
		size_t slot = (size_t)worker->id + i * WORKERS;
		uint8_t *page = slot_addr(slot);

		check(page, slot, worker->sequence[i]);
		atomic_fetch_add(&checked, 1);
		if (r & (1ull << 40)) {
			fill(page, slot, ++worker->sequence[i]);
			atomic_fetch_add(&written, 1);
		}
	}
	/* Final pass: everything, including what is still in the store. */
	for (size_t i = 0; i < owned; i++) {
		size_t slot = (size_t)worker->id + i * WORKERS;

		check(slot_addr(slot), slot, worker->sequence[i]);
		atomic_fetch_add(&checked, 1);
	}
	return NULL;
}

int main(int argc, char **argv)
{
	struct wset_config config = WSET_CONFIG_INIT;
	int cycles = argc > 2 ? atoi(argv[2]) : 300;
	struct worker workers[WORKERS];
	struct wset_counters counters = WSET_COUNTERS_INIT;
	uint64_t evicted_total = 0;
	char why[256];
	struct wset *ws;
	int errors = 0;

	config.mechanism = test_mechanism(argc, argv);
	config.fault_threads = 2;
	/* The background tracker applies a policy on top of the explicit
	 * calls below: both paths run at once. */
	config.interval_ms = 50;
	config.policy.enabled = true;
	config.policy.min_idle_age = 2;
	test_require(config.mechanism);
	ws = test_create(&config);
	tap_plan(7);
	tap_diag("mechanism %s, %d cycles", wset_mechanism_name(wset_mechanism(ws)),
		 cycles);

	const struct { enum test_memory kind; size_t len; } wanted[] = {
		{ MEMORY_ANON, 4 << 20 },
		{ MEMORY_MEMFD, 4 << 20 },
		{ MEMORY_HUGETLB, 4 * test_huge_page_size() },
	};
	for (int i = 0; i < 3; i++) {
		struct area *area = &areas[area_count];

		area->kind = wanted[i].kind;
		area->len = wanted[i].len;
		area->mem = test_memory(area->kind, area->len, &area->fd, why,
					sizeof(why));
		if (!area->mem) {
			tap_diag("no %s region: %s", test_memory_name(area->kind), why);
			continue;
		}
		int ret = test_add(ws, area->kind, area->mem, area->len, area->fd);
		if (ret < 0)
			tap_bail("add %s region: %s", test_memory_name(area->kind),
				 strerror(-ret));
		slot_count += area->len / SLOT;
		area_count++;
	}
	tap_ok(area_count >= 2, "%d regions (anon, memfd%s), %zu slots", area_count,
	       area_count == 3 ? ", hugetlbfs" : "", slot_count);

	for (int i = 0; i < WORKERS; i++) {
		workers[i].id = i;
		workers[i].sequence = calloc(slot_count / WORKERS + 1, sizeof(uint64_t));
		pthread_create(&workers[i].thread, NULL, work, &workers[i]);
	}
	if (wset_start(ws) < 0)
		tap_bail("wset_start");
	for (int cycle = 0; cycle < cycles; cycle++) {
		const struct timespec pause = { .tv_nsec = 3 * 1000000L };
		uint64_t evicted = 0;

		int ret = wset_tick(ws);

		if (ret < 0 && errors++ < 5)
			tap_diag("cycle %d: wset_tick: %s", cycle, strerror(-ret));
		/* Alternate deep and shallow eviction, and now and then bring
		 * everything back while the workers run. */
		ret = wset_evict(ws, cycle % 3 ? 1 : 3, 0, &evicted);
		if (ret < 0 && errors++ < 5)
			tap_diag("cycle %d: wset_evict: %s", cycle, strerror(-ret));
		evicted_total += evicted;
		ret = cycle % 50 == 49 ? wset_restore_all(ws) : 0;
		if (ret < 0 && errors++ < 5)
			tap_diag("cycle %d: wset_restore_all: %s", cycle, strerror(-ret));
		nanosleep(&pause, NULL);
	}
	wset_stop(ws);
	atomic_store(&stop, true);
	for (int i = 0; i < WORKERS; i++)
		pthread_join(workers[i].thread, NULL);

	wset_counters(ws, &counters);
	tap_diag("checked %lu slots, %lu writes; %llu pages evicted, %llu refaults, "
		 "%llu prefetched, %llu sync faults, %llu unevictable, %llu zero fills",
		 atomic_load(&checked), atomic_load(&written),
		 (unsigned long long)counters.evictions,
		 (unsigned long long)counters.refaults,
		 (unsigned long long)counters.prefetches,
		 (unsigned long long)counters.sync_faults,
		 (unsigned long long)counters.unevictable_pages,
		 (unsigned long long)counters.zero_fills);
	tap_ok(errors == 0, "tracking and eviction calls succeeded (%d errors)", errors);
	tap_ok(counters.evictions > 0 && evicted_total > 0, "pages were evicted");
	tap_ok(counters.refaults > 0, "pages were fetched back on access");
	tap_ok(atomic_load(&corrupt) == 0, "no lost or corrupt slot (%lu bad)",
	       atomic_load(&corrupt));
	/* What is still evicted comes back on destroy. */
	for (int i = 0; i < area_count; i++)
		if (areas[i].kind != MEMORY_ANON)
			msync(areas[i].mem, areas[i].len, MS_SYNC);
	tap_ok(wset_destroy(ws) == 0, "destroy brings every page back");
	unsigned long bad = 0;
	for (int w = 0; w < WORKERS; w++) {
		size_t owned = (slot_count - (size_t)w + WORKERS - 1) / WORKERS;

		for (size_t i = 0; i < owned; i++) {
			size_t slot = (size_t)w + i * WORKERS;

			if (!check(slot_addr(slot), slot, workers[w].sequence[i]))
				bad++;
		}
	}
	tap_ok(bad == 0, "after destroy every slot holds its last write (%lu bad)", bad);
	return tap_done();
}
