// SPDX-License-Identifier: MIT
#include <time.h>

#include "workload.h"

#define SLOW_ACCESS_NS 50000

static volatile sig_atomic_t stop_requested;

void workload_request_stop(void)
{
	stop_requested = 1;
}

static uint64_t now_ns(void)
{
	struct timespec now;

	clock_gettime(CLOCK_MONOTONIC, &now);
	return (uint64_t)now.tv_sec * 1000000000ull + (uint64_t)now.tv_nsec;
}

/* xorshift64*: fast, good enough to spread accesses. */
static uint64_t next_random(uint64_t *state)
{
	*state ^= *state >> 12;
	*state ^= *state << 25;
	*state ^= *state >> 27;
	return *state * 0x2545f4914f6cdd1dull;
}

static double random_unit(uint64_t *state)
{
	return (double)(next_random(state) >> 11) / (double)(1ull << 53);
}

void workload_run(struct guest_memory *memory, const struct workload_options *options,
		  const struct agent_link *link, FILE *log, struct workload_result *result)
{
	uint64_t hot_pages = (uint64_t)(options->hot_fraction * (double)memory->pages);
	uint64_t start = now_ns(), next_report = start, state = options->seed | 1;
	uint64_t last_accesses = 0, last_slow = 0, interval_max = 0;

	*result = (struct workload_result){ 0 };
	if (hot_pages < 1)
		hot_pages = 1;
	for (;;) {
		uint64_t now = now_ns();
		double elapsed = (double)(now - start) / 1e9;
		uint64_t phase = (uint64_t)(elapsed / options->phase_s);
		uint64_t hot_start = (phase * (hot_pages / 2 + 1)) % memory->pages;

		if ((options->duration_s > 0 && elapsed >= options->duration_s) ||
		    stop_requested)
			break;
		if (link && agent_link_released(link)) {
			result->released = true;
			break;
		}
		if (link && agent_link_lost(link)) {
			result->lost = true;
			break;
		}
		if (now >= next_report) {
			fprintf(log, "demo-vmm: t=%5.1fs phase %llu hot pages [%llu, %llu) "
				     "accesses %llu (+%llu) writes %llu slow %llu (+%llu) "
				     "max %.0fus bad %llu\n",
				elapsed, (unsigned long long)phase,
				(unsigned long long)hot_start,
				(unsigned long long)(hot_start + hot_pages),
				(unsigned long long)result->accesses,
				(unsigned long long)(result->accesses - last_accesses),
				(unsigned long long)result->writes,
				(unsigned long long)result->slow_accesses,
				(unsigned long long)(result->slow_accesses - last_slow),
				(double)interval_max / 1000,
				(unsigned long long)result->bad_pages);
			fflush(log);
			last_accesses = result->accesses;
			last_slow = result->slow_accesses;
			interval_max = 0;
			next_report = now + (uint64_t)(options->report_s * 1e9);
		}
		/* Pace to the rate: a batch, then sleep until it is due. */
		for (int i = 0; i < 100; i++) {
			uint64_t page, before, took;

			if (random_unit(&state) < options->cold_accesses)
				page = next_random(&state) % memory->pages;
			else
				page = (hot_start + next_random(&state) % hot_pages) %
				       memory->pages;
			before = now_ns();
			if (!guest_page_verify(memory, page)) {
				result->bad_pages++;
				fprintf(log, "demo-vmm: page %llu: wrong content "
					     "(version %u expected)\n",
					(unsigned long long)page, memory->versions[page]);
			}
			if (random_unit(&state) < options->write_fraction) {
				guest_page_write(memory, page);
				result->writes++;
			}
			took = now_ns() - before;
			result->accesses++;
			if (link) {
				/* Blocked across wsetd's return: count from then. */
				uint64_t back = agent_link_back_ns(link), done = before + took;

				if (before < back && done > back &&
				    done - back > result->max_wait_after_back_ns)
					result->max_wait_after_back_ns = done - back;
			}
			if (options->progress) {
				__atomic_store_n(&options->progress[0], result->accesses,
						 __ATOMIC_RELEASE);
				__atomic_store_n(&options->progress[1], before + took,
						 __ATOMIC_RELEASE);
			}
			if (took > SLOW_ACCESS_NS)
				result->slow_accesses++;
			if (took > interval_max)
				interval_max = took;
			if (took > result->max_latency_ns)
				result->max_latency_ns = took;
		}
		{
			uint64_t due = start + (uint64_t)((double)result->accesses /
							  options->rate * 1e9);
			uint64_t current = now_ns();

			if (due > current) {
				uint64_t wait = due - current;
				struct timespec pause = { (time_t)(wait / 1000000000ull),
							  (long)(wait % 1000000000ull) };

				nanosleep(&pause, NULL);
			}
		}
	}
}
