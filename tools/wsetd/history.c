// SPDX-License-Identifier: MIT
#include <stdlib.h>

#include "history.h"

int history_init(struct history *history, unsigned int capacity)
{
	history->samples = calloc(capacity, sizeof(*history->samples));
	history->capacity = capacity;
	history->count = 0;
	history->next = 0;
	return history->samples ? 0 : -1;
}

void history_free(struct history *history)
{
	free(history->samples);
	history->samples = NULL;
}

void history_add(struct history *history, const struct history_sample *sample)
{
	history->samples[history->next] = *sample;
	history->next = (history->next + 1) % history->capacity;
	if (history->count < history->capacity)
		history->count++;
}

json_object *history_json(const struct history *history)
{
	static const char *const columns[] = {
		"time_ms", "wss_bytes", "resident_bytes", "cold_bytes",
		"evicted_bytes", "refaults",
	};
	json_object *result = json_object_new_object();
	json_object *names = json_object_new_array();
	json_object *rows = json_object_new_array();
	unsigned int first = (history->next + history->capacity - history->count) %
			     history->capacity;

	for (size_t i = 0; i < sizeof(columns) / sizeof(columns[0]); i++)
		json_object_array_add(names, json_object_new_string(columns[i]));
	for (unsigned int i = 0; i < history->count; i++) {
		const struct history_sample *sample =
			&history->samples[(first + i) % history->capacity];
		json_object *row = json_object_new_array();

		json_object_array_add(row, json_object_new_uint64(sample->time_ms));
		json_object_array_add(row, json_object_new_uint64(sample->wss_bytes));
		json_object_array_add(row, json_object_new_uint64(sample->resident_bytes));
		json_object_array_add(row, json_object_new_uint64(sample->cold_bytes));
		json_object_array_add(row, json_object_new_uint64(sample->evicted_bytes));
		json_object_array_add(row, json_object_new_uint64(sample->refaults));
		json_object_array_add(rows, row);
	}
	json_object_object_add(result, "columns", names);
	json_object_object_add(result, "samples", rows);
	return result;
}
