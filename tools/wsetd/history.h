/* SPDX-License-Identifier: MIT */
/* A ring of counter samples per VMM, for plots of WSS and residency. */
#ifndef WSETD_HISTORY_H
#define WSETD_HISTORY_H

#include <stdint.h>

#include <json-c/json.h>

struct history_sample {
	uint64_t time_ms; /* wall clock, milliseconds since the epoch */
	uint64_t wss_bytes;
	uint64_t resident_bytes;
	uint64_t cold_bytes;
	uint64_t evicted_bytes;
	uint64_t refaults;
};

struct history {
	struct history_sample *samples;
	unsigned int capacity;
	unsigned int count;
	unsigned int next; /* where the next sample goes */
};

int history_init(struct history *history, unsigned int capacity);
void history_free(struct history *history);
void history_add(struct history *history, const struct history_sample *sample);

/* {"columns": [...], "samples": [[time_ms, wss, ...], ...]}, oldest first. */
json_object *history_json(const struct history *history);

#endif
