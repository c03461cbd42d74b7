/* SPDX-License-Identifier: MIT */
/*
 * Integrity under fire: threads keep writing and reading checksummed 4 KiB
 * slots over anonymous, memfd and hugetlbfs regions while tracking,
 * eviction and fetch-back run, and, with --chaos, while a thread migrates,
 * pages out and splits the same memory (tests/chaos.h).  Every read must
 * see the last write to that slot: each read that does not is one lost
 * write, counted per memory type, and the slot is written afresh.
 *
 * usage: integrity MECHANISM [--cycles N] [--seconds S] [--chaos OPS]
 *   --cycles N    tracking and eviction cycles (default 300)
 *   --seconds S   run for S seconds instead of a number of cycles
 *   --chaos OPS   all, none (default) or a list of migrate,mbind,pageout,split
 * Either way the run goes on past its budget until everything the test
 * asserts (an eviction, a refault, each chaos operation) has happened.
 */
#include <dirent.h>
#include <pthread.h>
#include <stdatomic.h>
#include <time.h>

#include "chaos.h"
#include "testlib.h"

#define SLOT 4096
#define WORKERS 4

struct slot_header {
	uint64_t sequence;
	uint64_t slot;
	uint64_t checksum; /* of the payload */
};

/* How a read that is not the last write went wrong. */
enum slot_state {
	SLOT_GOOD,
	SLOT_STALE,   /* an older, intact write of this slot: a write was lost */
	SLOT_ZERO,    /* all zeroes: the page was lost */
	SLOT_CORRUPT, /* anything else */
	SLOT_STATES,
};

static const char *const slot_state_names[SLOT_STATES] = {
	"good", "stale", "zero", "corrupt",
};

struct area {
	enum test_memory kind;
	uint8_t *mem;
	size_t len;
	int fd;
	size_t first_slot;
	atomic_ulong checks;
	atomic_ulong bad[SLOT_STATES];
};

static struct area areas[3];
static int area_count;
static size_t slot_count;
static atomic_bool stop;
static atomic_ulong written;

static struct area *slot_area(size_t slot)
{
	for (int i = area_count - 1; i >= 0; i--)
		if (slot >= areas[i].first_slot)
			return &areas[i];
	return NULL;
}

static uint8_t *slot_addr(size_t slot)
{
	struct area *area = slot_area(slot);

	return area->mem + (slot - area->first_slot) * SLOT;
}

static void fill(uint8_t *page, size_t slot, uint64_t sequence)
{
	struct slot_header *header = (struct slot_header *)page;
	uint64_t *payload = (uint64_t *)(page + sizeof(*header));
	size_t words = (SLOT - sizeof(*header)) / sizeof(uint64_t);
	uint64_t seed = slot * 0x9e3779b97f4a7c15ull ^ sequence;

	for (size_t i = 0; i < words; i++)
		payload[i] = test_random(&seed);
	header->slot = slot;
	header->checksum = test_hash(payload, words * sizeof(uint64_t));
	/* The sequence last: a reader that sees it sees the rest (one
	 * writer per slot, and the reader is that same thread). */
	header->sequence = sequence;
}

static bool all_zero(const uint8_t *page)
{
	for (size_t i = 0; i < SLOT; i++)
		if (page[i])
			return false;
	return true;
}

static enum slot_state classify(const uint8_t *page, size_t slot, uint64_t sequence)
{
	const struct slot_header *header = (const struct slot_header *)page;
	size_t words = (SLOT - sizeof(*header)) / sizeof(uint64_t);
	bool intact = header->slot == slot &&
		      header->checksum == test_hash(page + sizeof(*header),
						    words * sizeof(uint64_t));

	if (intact && header->sequence == sequence)
		return SLOT_GOOD;
	if (intact && header->sequence < sequence)
		return SLOT_STALE;
	return all_zero(page) ? SLOT_ZERO : SLOT_CORRUPT;
}

/* Check a slot against its last write; count and describe a bad one. */
static enum slot_state check(size_t slot, uint64_t sequence)
{
	const uint8_t *page = slot_addr(slot);
	struct area *area = slot_area(slot);
	enum slot_state state = classify(page, slot, sequence);
	static atomic_int described;

	atomic_fetch_add(&area->checks, 1);
	if (state == SLOT_GOOD)
		return state;
	atomic_fetch_add(&area->bad[state], 1);
	if (atomic_fetch_add(&described, 1) < 10)
		tap_diag("%s slot %zu: %s: sequence %llu (want %llu), slot field %llu",
			 test_memory_name(area->kind), slot, slot_state_names[state],
			 (unsigned long long)((const struct slot_header *)page)->sequence,
			 (unsigned long long)sequence,
			 (unsigned long long)((const struct slot_header *)page)->slot);
	return state;
}

struct worker {
	pthread_t thread;
	int id;
	uint64_t *sequence; /* per owned slot, in private memory */
	atomic_size_t slot; /* the one being accessed, for a stall report */
};

static struct worker workers[WORKERS];

static size_t owned_slots(int worker)
{
	return (slot_count - (size_t)worker + WORKERS - 1) / WORKERS;
}

/* Slots id, id + WORKERS, ... belong to worker id; a fifth of them are
 * hot and take most of the accesses, the rest go cold and get evicted. */
static void *work(void *arg)
{
	struct worker *worker = arg;
	size_t owned = owned_slots(worker->id);
	uint64_t random = 88172645463325252ull + (uint64_t)worker->id;

	while (!atomic_load(&stop)) {
		uint64_t r = test_random(&random);
		size_t hot = owned / 5 ? owned / 5 : 1;
		size_t i = (r % 10) < 8 ? (r >> 8) % hot : (r >> 8) % owned;
		size_t slot = (size_t)worker->id + i * WORKERS;

		atomic_store(&worker->slot, slot);
		/* A bad slot is written afresh, so that every later bad read
		 * of it is another lost write, not the same one again. */
		if (check(slot, worker->sequence[i]) != SLOT_GOOD || (r & (1ull << 40))) {
			fill(slot_addr(slot), slot, ++worker->sequence[i]);
			atomic_fetch_add(&written, 1);
		}
	}
	/* Final pass: everything, including what is still in the store. */
	for (size_t i = 0; i < owned; i++)
		check((size_t)worker->id + i * WORKERS, worker->sequence[i]);
	return NULL;
}

static double now_seconds(void)
{
	struct timespec now;

	clock_gettime(CLOCK_MONOTONIC, &now);
	return (double)now.tv_sec + (double)now.tv_nsec / 1e9;
}

static unsigned long lost_writes(const struct area *area)
{
	return atomic_load(&area->bad[SLOT_STALE]) + atomic_load(&area->bad[SLOT_ZERO]) +
	       atomic_load(&area->bad[SLOT_CORRUPT]);
}

static void report_lost(const char *prefix)
{
	char line[256];
	size_t used = 0;

	for (int i = 0; i < area_count; i++)
		used += (size_t)snprintf(line + used, sizeof(line) - used, "%s %s %lu",
					 i ? "," : "", test_memory_name(areas[i].kind),
					 lost_writes(&areas[i]));
	tap_diag("%slost writes:%s", prefix, line);
}

/*
 * The watchdog: a progress line every PROGRESS_SECONDS, and when the main
 * thread has not moved on (a cycle, a step of the shutdown) for
 * STALL_SECONDS, the counts so far and where every thread sleeps, then
 * exit: a stall is a failure, and its counts are not lost with it.
 */
#define PROGRESS_SECONDS 10
#ifndef STALL_SECONDS
#define STALL_SECONDS 180
#endif

static struct {
	pthread_mutex_t lock;
	pthread_cond_t done_changed;
	bool done;
	const char *step; /* what the main thread is doing */
	unsigned long heartbeat;
	struct wset *ws;
	double started;
} watch = { .lock = PTHREAD_MUTEX_INITIALIZER,
	    .done_changed = PTHREAD_COND_INITIALIZER };

static void watch_step(const char *step)
{
	pthread_mutex_lock(&watch.lock);
	watch.step = step;
	watch.heartbeat++;
	pthread_mutex_unlock(&watch.lock);
}

static void print_file_line(const char *path, const char *label)
{
	char text[512];
	FILE *file = fopen(path, "r");
	size_t length = file ? fread(text, 1, sizeof(text) - 1, file) : 0;

	if (file)
		fclose(file);
	text[length] = '\0';
	for (char *line = strtok(text, "\n"); line; line = strtok(NULL, "\n"))
		tap_diag("    %s %s", label, line);
}

static void dump_threads(void)
{
	DIR *tasks = opendir("/proc/self/task");
	struct dirent *task;
	char path[320];

	while (tasks && (task = readdir(tasks))) {
		if (task->d_name[0] == '.')
			continue;
		snprintf(path, sizeof(path), "/proc/self/task/%s/comm", task->d_name);
		tap_diag("  thread %s:", task->d_name);
		print_file_line(path, "comm");
		snprintf(path, sizeof(path), "/proc/self/task/%s/wchan", task->d_name);
		print_file_line(path, "wchan");
		snprintf(path, sizeof(path), "/proc/self/task/%s/stack", task->d_name);
		print_file_line(path, "stack");
	}
	if (tasks)
		closedir(tasks);
	for (int i = 0; i < WORKERS; i++) {
		size_t slot = atomic_load(&workers[i].slot);

		tap_diag("  writer-%d at %s slot %zu, %p", i,
			 test_memory_name(slot_area(slot)->kind), slot,
			 (void *)slot_addr(slot));
	}
}

static void *watchdog(void *arg)
{
	unsigned long seen = ~0ul, accesses_seen = 0;
	double still_since = now_seconds(), accesses_since = now_seconds();
	bool dumped = false;

	(void)arg;
	pthread_mutex_lock(&watch.lock);
	while (!watch.done) {
		struct timespec deadline;
		struct wset_counters counters = WSET_COUNTERS_INIT;

		clock_gettime(CLOCK_REALTIME, &deadline);
		deadline.tv_sec += PROGRESS_SECONDS;
		if (pthread_cond_timedwait(&watch.done_changed, &watch.lock, &deadline) == 0 ||
		    watch.done)
			continue;
		if (watch.heartbeat != seen) {
			seen = watch.heartbeat;
			still_since = now_seconds();
		}
		unsigned long accesses = 0;
		for (int i = 0; i < area_count; i++)
			accesses += atomic_load(&areas[i].checks);
		if (accesses != accesses_seen) {
			accesses_seen = accesses;
			accesses_since = now_seconds();
		}
		wset_counters(watch.ws, &counters);
		char prefix[160];
		snprintf(prefix, sizeof(prefix),
			 "t=%.0fs %s: %llu evicted, %llu refaults, %lu writes; ",
			 now_seconds() - watch.started, watch.step,
			 (unsigned long long)counters.evictions,
			 (unsigned long long)counters.refaults, atomic_load(&written));
		report_lost(prefix);
		/* Once per run: where the writers wait when none has moved for
		 * a whole progress period while the main thread runs. */
		if (!dumped && !atomic_load(&stop) &&
		    now_seconds() - accesses_since >= PROGRESS_SECONDS) {
			tap_diag("no writer has moved for %.0f s; the threads:",
				 now_seconds() - accesses_since);
			dump_threads();
			dumped = true;
		}
		if (now_seconds() - still_since >= STALL_SECONDS ||
		    (!atomic_load(&stop) && now_seconds() - accesses_since >= STALL_SECONDS)) {
			tap_diag("stalled for %d s in: %s; the threads:", STALL_SECONDS,
				 watch.step);
			dump_threads();
			report_lost("at the stall: ");
			tap_bail("stalled in %s", watch.step);
		}
	}
	pthread_mutex_unlock(&watch.lock);
	return NULL;
}

/* Has everything the test asserts happened at least once? */
static bool progressed(struct wset *ws, struct chaos *chaos)
{
	struct wset_counters counters = WSET_COUNTERS_INIT;

	wset_counters(ws, &counters);
	return counters.evictions > 0 && counters.refaults > 0 &&
	       chaos_every_op_ran(chaos);
}

static void report_chaos(struct chaos *chaos)
{
	for (int op = 0; op < CHAOS_OPS; op++) {
		char per_area[160] = "";
		unsigned long errors = 0;
		size_t used = 0;

		if (!(chaos->ops & (1u << op)))
			continue;
		if (!(chaos->runnable & (1u << op))) {
			printf("ok %d - chaos %s # SKIP %s\n", ++tap_number,
			       chaos_op_names[op], chaos->why_not[op]);
			continue;
		}
		for (int i = 0; i < chaos->area_count; i++) {
			struct chaos_counts *counts = &chaos->counts[i][op];

			errors += atomic_load(&counts->errors);
			if (!chaos_applies((enum chaos_op)op, chaos->areas[i].kind))
				continue;
			used += (size_t)snprintf(per_area + used, sizeof(per_area) - used,
						 "%s%s %lu/%lu", used ? ", " : "",
						 test_memory_name(chaos->areas[i].kind),
						 atomic_load(&counts->calls),
						 atomic_load(&counts->effect));
		}
		if (errors)
			tap_diag("chaos %s: %lu errors, the first: %s", chaos_op_names[op],
				 errors, chaos->first_error);
		/* A migration that moved nothing tested nothing; pageout needs
		 * swap and a split needs a THP, which a machine may not have. */
		bool moved = (op != CHAOS_MIGRATE && op != CHAOS_MBIND) ||
			     chaos_total(chaos, (enum chaos_op)op, true) > 0;
		tap_ok(errors == 0 && moved && chaos_total(chaos, (enum chaos_op)op, false) > 0,
		       "chaos %s: %lu calls, %lu %s (calls/effect: %s)", chaos_op_names[op],
		       chaos_total(chaos, (enum chaos_op)op, false),
		       chaos_total(chaos, (enum chaos_op)op, true), chaos_op_effects[op],
		       per_area);
	}
}

static int parse_count(const char *option, const char *value)
{
	char *end;
	long count = value ? strtol(value, &end, 10) : 0;

	if (!value || *end || count <= 0 || count > 1000000)
		tap_bail("%s: expected a positive number, got '%s'", option,
			 value ? value : "");
	return (int)count;
}

int main(int argc, char **argv)
{
	struct wset_config config = WSET_CONFIG_INIT;
	int cycles = 300, seconds = 0, chaos_ops = 0;
	struct wset_counters counters = WSET_COUNTERS_INIT;
	uint64_t evicted_total = 0;
	static struct chaos chaos;
	char why[256];
	struct wset *ws;
	int errors = 0;

	config.mechanism = test_mechanism(argc, argv);
	for (int i = 2; i < argc; i++) {
		const char *value = i + 1 < argc ? argv[i + 1] : NULL;

		if (!strcmp(argv[i], "--cycles"))
			cycles = parse_count(argv[i], value);
		else if (!strcmp(argv[i], "--seconds"))
			seconds = parse_count(argv[i], value);
		else if (!strcmp(argv[i], "--chaos")) {
			chaos_ops = value ? chaos_parse_ops(value) : -1;
			if (chaos_ops < 0)
				tap_bail("--chaos: expected all, none or a list of "
					 "migrate,mbind,pageout,split, got '%s'",
					 value ? value : "");
		} else
			tap_bail("unknown argument '%s' (--cycles N, --seconds S, "
				 "--chaos OPS)", argv[i]);
		i++;
	}
	config.fault_threads = 2;
	/* The background tracker applies a policy on top of the explicit
	 * calls below: both paths run at once. */
	config.interval_ms = 50;
	config.policy.enabled = true;
	config.policy.min_idle_age = 2;
	test_require(config.mechanism);
	ws = test_create(&config);
	chaos_init(&chaos, (unsigned int)chaos_ops);

	/* Aligned and advised for THPs (where the system allows them), and
	 * written before tracking starts, as a running guest's memory is:
	 * the same with or without chaos, which can then split them. */
	const struct { enum test_memory kind; size_t len; } wanted[] = {
		{ MEMORY_ANON, 4 << 20 },
		{ MEMORY_MEMFD, 4 << 20 },
		{ MEMORY_HUGETLB, 4 * test_huge_page_size() },
	};
	for (int i = 0; i < 3; i++) {
		struct area *area = &areas[area_count];

		area->kind = wanted[i].kind;
		area->len = wanted[i].len;
		area->mem = test_memory_aligned(area->kind, area->len, CHAOS_PMD_SIZE,
						&area->fd, why, sizeof(why));
		if (!area->mem) {
			tap_diag("no %s region: %s", test_memory_name(area->kind), why);
			continue;
		}
		if (area->kind != MEMORY_HUGETLB)
			madvise(area->mem, area->len, MADV_HUGEPAGE);
		area->first_slot = slot_count;
		slot_count += area->len / SLOT;
		area_count++;
	}
	for (int i = 0; i < WORKERS; i++) {
		workers[i].id = i;
		workers[i].sequence = calloc(owned_slots(i), sizeof(uint64_t));
		for (size_t s = 0; s < owned_slots(i); s++) {
			workers[i].sequence[s] = 1;
			fill(slot_addr((size_t)i + s * WORKERS), (size_t)i + s * WORKERS, 1);
		}
	}
	for (int i = 0; i < area_count; i++) {
		int ret = test_add(ws, areas[i].kind, areas[i].mem, areas[i].len,
				   areas[i].fd);

		if (ret < 0)
			tap_bail("add %s region: %s", test_memory_name(areas[i].kind),
				 strerror(-ret));
		chaos_add_area(&chaos, areas[i].kind, areas[i].mem, areas[i].len);
	}

	tap_plan(6 + __builtin_popcount((unsigned int)chaos_ops) + area_count);
	tap_diag("mechanism %s, %s %d %s, chaos %s", wset_mechanism_name(wset_mechanism(ws)),
		 seconds ? "for" : "at least", seconds ? seconds : cycles,
		 seconds ? "seconds" : "cycles", chaos_ops ? "on" : "off");
	for (int op = 0; op < CHAOS_OPS; op++)
		if (chaos_ops & (1 << op))
			tap_diag("  chaos %s%s%s", chaos_op_names[op],
				 chaos.why_not[op][0] ? ": skipped: " : "", chaos.why_not[op]);
	tap_ok(area_count >= 2, "%d regions (anon, memfd%s), %zu slots", area_count,
	       area_count == 3 ? ", hugetlbfs" : "", slot_count);

	pthread_t watchdog_thread;
	double started = now_seconds();

	watch.ws = ws;
	watch.started = started;
	watch.step = "starting";
	pthread_create(&watchdog_thread, NULL, watchdog, NULL);
	pthread_setname_np(watchdog_thread, "watchdog");
	for (int i = 0; i < WORKERS; i++) {
		char name[16];

		pthread_create(&workers[i].thread, NULL, work, &workers[i]);
		snprintf(name, sizeof(name), "writer-%d", i);
		pthread_setname_np(workers[i].thread, name);
	}
	if (wset_start(ws) < 0)
		tap_bail("wset_start");
	chaos_start(&chaos);
	int cycle;
	for (cycle = 0;; cycle++) {
		watch_step("tracking and eviction cycles");
		const struct timespec pause = { .tv_nsec = 3 * 1000000L };
		double elapsed = now_seconds() - started;
		bool budget_spent = seconds ? elapsed >= seconds : cycle >= cycles;
		uint64_t evicted = 0;

		/* Past the budget, go on until there is something to check,
		 * but not for more than the budget again. */
		if (budget_spent && (progressed(ws, &chaos) ||
				     (seconds ? elapsed >= 2.0 * seconds : cycle >= 2 * cycles)))
			break;
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
	double elapsed = now_seconds() - started;
	watch_step("stopping the chaos thread");
	chaos_stop(&chaos);
	watch_step("wset_stop");
	wset_stop(ws);
	watch_step("the writers' final pass");
	atomic_store(&stop, true);
	for (int i = 0; i < WORKERS; i++)
		pthread_join(workers[i].thread, NULL);

	wset_counters(ws, &counters);
	unsigned long checks = 0;
	for (int i = 0; i < area_count; i++)
		checks += atomic_load(&areas[i].checks);
	tap_diag("%d cycles in %.1f s; checked %lu slots, %lu writes; %llu pages evicted, "
		 "%llu refaults, %llu prefetched, %llu sync faults, %llu unevictable, "
		 "%llu zero fills", cycle, elapsed, checks, atomic_load(&written),
		 (unsigned long long)counters.evictions,
		 (unsigned long long)counters.refaults,
		 (unsigned long long)counters.prefetches,
		 (unsigned long long)counters.sync_faults,
		 (unsigned long long)counters.unevictable_pages,
		 (unsigned long long)counters.zero_fills);
	tap_ok(errors == 0, "tracking and eviction calls succeeded (%d errors)", errors);
	tap_ok(counters.evictions > 0 && evicted_total > 0, "pages were evicted");
	tap_ok(counters.refaults > 0, "pages were fetched back on access");
	report_chaos(&chaos);
	unsigned long lost_total = 0;
	for (int i = 0; i < area_count; i++) {
		struct area *area = &areas[i];

		lost_total += lost_writes(area);
		tap_ok(lost_writes(area) == 0,
		       "%s: %lu lost writes in %lu checks (stale %lu, zero %lu, corrupt %lu)",
		       test_memory_name(area->kind), lost_writes(area),
		       atomic_load(&area->checks), atomic_load(&area->bad[SLOT_STALE]),
		       atomic_load(&area->bad[SLOT_ZERO]),
		       atomic_load(&area->bad[SLOT_CORRUPT]));
	}
	tap_diag("lost writes: %lu (mechanism %s, chaos %s, %.0f s)", lost_total,
		 wset_mechanism_name(wset_mechanism(ws)), chaos_ops ? "on" : "off", elapsed);
	report_lost("");
	/* What is still evicted comes back on destroy. */
	for (int i = 0; i < area_count; i++)
		if (areas[i].kind != MEMORY_ANON)
			msync(areas[i].mem, areas[i].len, MS_SYNC);
	watch_step("wset_destroy");
	int destroyed = wset_destroy(ws);
	pthread_mutex_lock(&watch.lock);
	watch.done = true;
	pthread_cond_signal(&watch.done_changed);
	pthread_mutex_unlock(&watch.lock);
	pthread_join(watchdog_thread, NULL);
	tap_ok(destroyed == 0, "destroy brings every page back");
	unsigned long bad = 0;
	for (int w = 0; w < WORKERS; w++)
		for (size_t i = 0; i < owned_slots(w); i++) {
			size_t slot = (size_t)w + i * WORKERS;

			if (classify(slot_addr(slot), slot, workers[w].sequence[i]) != SLOT_GOOD)
				bad++;
		}
	tap_ok(bad == 0, "after destroy every slot holds its last write (%lu bad)", bad);
	return tap_done();
}
