// SPDX-License-Identifier: MIT
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "format.h"

const char *format_bytes(uint64_t bytes, char *buffer, size_t size)
{
	static const char units[] = "KMGTP";
	double value = (double)bytes;
	int unit = -1;

	while (value >= 1024 && unit < 4) {
		value /= 1024;
		unit++;
	}
	if (unit < 0)
		snprintf(buffer, size, "%llu", (unsigned long long)bytes);
	else if (value < 10)
		snprintf(buffer, size, "%.1f%c", value, units[unit]);
	else
		snprintf(buffer, size, "%.0f%c", value, units[unit]);
	return buffer;
}

const char *format_microseconds(uint64_t us, char *buffer, size_t size)
{
	if (us == 0)
		snprintf(buffer, size, "-");
	else if (us < 10000)
		snprintf(buffer, size, "%lluus", (unsigned long long)us);
	else if (us < 10000000)
		snprintf(buffer, size, "%llums", (unsigned long long)(us / 1000));
	else
		snprintf(buffer, size, "%llus", (unsigned long long)(us / 1000000));
	return buffer;
}

uint64_t json_member_u64(json_object *object, const char *key)
{
	json_object *value;

	if (!json_object_object_get_ex(object, key, &value))
		return 0;
	return json_object_get_uint64(value);
}

static const char *member_string(json_object *object, const char *key)
{
	json_object *value;

	if (!json_object_object_get_ex(object, key, &value))
		return "?";
	return json_object_get_string(value);
}

static void format_tier_table(json_object *vmms, FILE *out);

void format_status_table(json_object *status, FILE *out)
{
	json_object *vmms;
	size_t count;

	if (!json_object_object_get_ex(status, "vmms", &vmms))
		return;
	count = json_object_array_length(vmms);
	fprintf(out, "%-4s %-12s %7s %-4s %7s %7s %8s %7s %7s %8s %7s %7s %7s\n",
		"VMM", "NAME", "PID", "MECH", "TRACKED", "WSS", "RESIDENT", "COLD",
		"EVICTED", "REFAULTS", "P50", "P99", "STORE");
	for (size_t i = 0; i < count; i++) {
		json_object *vmm = json_object_array_get_idx(vmms, i);
		json_object *latency = NULL, *store = NULL;
		char tracked[16], wss[16], resident[16], cold[16], evicted[16],
			p50[16], p99[16], stored[16];

		json_object_object_get_ex(vmm, "fault_latency_us", &latency);
		json_object_object_get_ex(vmm, "store", &store);
		fprintf(out, "%-4llu %-12.12s %7llu %-4s %7s %7s %8s %7s %7s %8llu %7s %7s %7s\n",
			(unsigned long long)json_member_u64(vmm, "id"),
			member_string(vmm, "name"),
			(unsigned long long)json_member_u64(vmm, "pid"),
			member_string(vmm, "mechanism"),
			format_bytes(json_member_u64(vmm, "tracked_bytes"), tracked, 16),
			format_bytes(json_member_u64(vmm, "wss_bytes"), wss, 16),
			format_bytes(json_member_u64(vmm, "resident_bytes"), resident, 16),
			format_bytes(json_member_u64(vmm, "cold_bytes"), cold, 16),
			format_bytes(json_member_u64(vmm, "evicted_bytes"), evicted, 16),
			(unsigned long long)json_member_u64(vmm, "refaults"),
			format_microseconds(json_member_u64(latency, "p50"), p50, 16),
			format_microseconds(json_member_u64(latency, "p99"), p99, 16),
			format_bytes(json_member_u64(store, "stored_bytes"), stored, 16));
	}
	if (count == 0)
		fprintf(out, "(no VMM connected)\n");
	format_tier_table(vmms, out);
}

/* Each VMM's store tiers, fastest first. */
static void format_tier_table(json_object *vmms, FILE *out)
{
	bool header = false;

	for (size_t i = 0; i < json_object_array_length(vmms); i++) {
		json_object *vmm = json_object_array_get_idx(vmms, i), *tiers, *ratio;

		if (!json_object_object_get_ex(vmm, "tiers", &tiers))
			continue;
		for (size_t t = 0; t < json_object_array_length(tiers); t++) {
			json_object *tier = json_object_array_get_idx(tiers, t);
			char page_bytes[16], stored[16], capacity[16], put[16], get[16];

			if (!header)
				fprintf(out, "\n%-4s %-16s %8s %8s %8s %8s %6s %8s %8s %8s %8s %7s\n",
					"VMM", "TIER", "PAGES", "BYTES", "STORED", "CAPACITY",
					"RATIO", "PUT_P99", "GET_P99", "ERRORS", "REFUSED",
					"MOVED");
			header = true;
			json_object_object_get_ex(tier, "compression_ratio", &ratio);
			fprintf(out, "%-4llu %-16.16s %8llu %8s %8s %8s %6.2f %8s %8s %8llu %8llu %7llu\n",
				(unsigned long long)json_member_u64(vmm, "id"),
				member_string(tier, "name"),
				(unsigned long long)json_member_u64(tier, "pages"),
				format_bytes(json_member_u64(tier, "page_bytes"), page_bytes, 16),
				format_bytes(json_member_u64(tier, "stored_bytes"), stored, 16),
				json_member_u64(tier, "capacity_bytes") ?
					format_bytes(json_member_u64(tier, "capacity_bytes"),
						     capacity, 16) : "-",
				ratio ? json_object_get_double(ratio) : 0.0,
				format_microseconds(json_member_u64(tier, "put_p99_us"), put, 16),
				format_microseconds(json_member_u64(tier, "get_p99_us"), get, 16),
				(unsigned long long)json_member_u64(tier, "errors"),
				(unsigned long long)json_member_u64(tier, "refused"),
				(unsigned long long)json_member_u64(tier, "moved_down"));
		}
	}
}
