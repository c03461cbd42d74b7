// SPDX-License-Identifier: MIT
#include <fcntl.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "log.h"
#include "report.h"

uint64_t report_latency_percentile(const uint64_t *buckets, double fraction)
{
	uint64_t total = 0, seen = 0;

	for (int i = 0; i < WSET_LATENCY_BUCKETS; i++)
		total += buckets[i];
	if (!total)
		return 0;
	for (int i = 0; i < WSET_LATENCY_BUCKETS; i++) {
		seen += buckets[i];
		/* Bucket i holds [2^(i-1), 2^i) us, bucket 0 below 1 us. */
		if ((double)seen >= fraction * (double)total)
			return 1ull << i;
	}
	return 1ull << (WSET_LATENCY_BUCKETS - 1);
}

static void add_u64(json_object *object, const char *key, uint64_t value)
{
	json_object_object_add(object, key, json_object_new_uint64(value));
}

static json_object *policy_json(struct session *session)
{
	struct wset_policy policy = WSET_POLICY_INIT;
	json_object *object = json_object_new_object();

	if (wset_get_policy(session->wset, &policy) == 0) {
		json_object_object_add(object, "evict",
				       json_object_new_boolean(policy.enabled));
		add_u64(object, "min_idle_age", policy.min_idle_age);
		add_u64(object, "resident_target", policy.resident_target);
		add_u64(object, "max_evict_rate", policy.max_evict_rate);
	}
	return object;
}

/* "O_RDONLY|O_NONBLOCK|O_CLOEXEC" for the flags userfaultfd(2) takes. */
static json_object *file_flags_json(unsigned int flags)
{
	char text[64];

	snprintf(text, sizeof(text), "%s%s%s",
		 (flags & O_ACCMODE) == O_RDWR ? "O_RDWR" :
		 (flags & O_ACCMODE) == O_WRONLY ? "O_WRONLY" : "O_RDONLY",
		 flags & O_NONBLOCK ? "|O_NONBLOCK" : "",
		 flags & O_CLOEXEC ? "|O_CLOEXEC" : "");
	return json_object_new_string(text);
}

/* The userfaultfd's creation flags: what the VMM declared, what the kernel
 * shows (fdinfo has the file flags, not UFFD_USER_MODE_ONLY). */
static json_object *uffd_json(struct session *session)
{
	json_object *object = json_object_new_object();

	json_object_object_add(object, "declared_flags",
			       session->uffd_flags < 0 ? NULL :
			       file_flags_json((unsigned int)session->uffd_flags));
	json_object_object_add(object, "fdinfo_flags",
			       file_flags_json(session->uffd_fdinfo_flags));
	json_object_object_add(object, "user_mode_only",
			       session->uffd_flags < 0 ? NULL :
			       json_object_new_boolean(false));
	return object;
}

json_object *report_session(struct session *session)
{
	struct wset_counters counters = WSET_COUNTERS_INIT;
	json_object *object = json_object_new_object();
	json_object *latency, *histogram, *store;

	json_object_object_add(object, "id", json_object_new_int((int)session->id));
	json_object_object_add(object, "name", json_object_new_string(session->name));
	json_object_object_add(object, "pid", json_object_new_int((int)session->pid));
	add_u64(object, "uid", session->uid);
	json_object_object_add(object, "mechanism", json_object_new_string(
		wset_mechanism_name(wset_mechanism(session->wset))));
	json_object_object_add(object, "mechanism_reason",
			       json_object_new_string(session->mechanism_reason));
	json_object_object_add(object, "regions",
			       json_object_new_int(session->region_count));
	/* A process sharing another VMM's memory files (a vhost-user
	 * backend): served from that VMM's store. */
	if (session->leader_id)
		add_u64(object, "served_from_vmm", session->leader_id);
	json_object_object_add(object, "uffd", uffd_json(session));
	add_u64(object, "uptime_ms", clock_wall_ms() - session->started_ms);
	if (wset_counters(session->wset, &counters) < 0)
		return object;
	add_u64(object, "intervals", counters.intervals);
	add_u64(object, "tracked_bytes", counters.tracked_bytes);
	add_u64(object, "resident_bytes", counters.resident_bytes);
	add_u64(object, "wss_bytes", counters.wss_bytes);
	add_u64(object, "cold_bytes", counters.cold_bytes);
	add_u64(object, "evicted_bytes", counters.evicted_bytes);
	add_u64(object, "evictions", counters.evictions);
	add_u64(object, "refaults", counters.refaults);
	add_u64(object, "prefetches", counters.prefetches);
	add_u64(object, "zero_fills", counters.zero_fills);
	add_u64(object, "sync_faults", counters.sync_faults);
	add_u64(object, "abandoned", counters.abandoned);
	add_u64(object, "unevictable_pages", counters.unevictable_pages);
	add_u64(object, "store_put_errors", counters.store_put_errors);
	add_u64(object, "store_get_errors", counters.store_get_errors);
	add_u64(object, "removed_pages", counters.removed_pages);
	add_u64(object, "faults", counters.faults);
	add_u64(object, "fault_escalations", counters.fault_escalations);
	add_u64(object, "stalled_faults", counters.stalled_faults);
	add_u64(object, "poisoned_pages", counters.poisoned_pages);
	json_object_object_add(object, "session", json_object_new_string(session->token));
	json_object_object_add(object, "resumed", json_object_new_boolean(session->resumed));
	json_object_object_add(object, "connected",
			       json_object_new_boolean(session->socket_fd >= 0));

	latency = json_object_new_object();
	add_u64(latency, "p50", report_latency_percentile(counters.fault_latency_us, 0.50));
	add_u64(latency, "p90", report_latency_percentile(counters.fault_latency_us, 0.90));
	add_u64(latency, "p99", report_latency_percentile(counters.fault_latency_us, 0.99));
	histogram = json_object_new_array();
	for (int i = 0; i < WSET_LATENCY_BUCKETS; i++)
		json_object_array_add(histogram,
				      json_object_new_uint64(counters.fault_latency_us[i]));
	json_object_object_add(latency, "histogram", histogram);
	json_object_object_add(object, "fault_latency_us", latency);

	store = json_object_new_object();
	add_u64(store, "stored_bytes", counters.store.stored_bytes);
	add_u64(store, "capacity_bytes", counters.store.capacity_bytes);
	add_u64(store, "puts", counters.store.put_count);
	add_u64(store, "gets", counters.store.get_count);
	add_u64(store, "errors", counters.store.error_count);
	json_object_object_add(object, "store", store);
	json_object_object_add(object, "policy", policy_json(session));
	return object;
}

json_object *report_status(struct daemon *daemon)
{
	json_object *result = json_object_new_object();
	json_object *about = json_object_new_object();
	json_object *vmms = json_object_new_array();

	json_object_object_add(about, "pid", json_object_new_int((int)getpid()));
	json_object_object_add(about, "library", json_object_new_string(wset_version()));
	add_u64(about, "uptime_ms", clock_wall_ms() - daemon->started_ms);
	add_u64(about, "interval_ms", daemon->options.interval_ms);
	add_u64(about, "vmms", daemon->session_count);
	add_u64(about, "vmms_accepted", daemon->vmms_accepted);
	add_u64(about, "vmms_rejected", daemon->vmms_rejected);
	add_u64(about, "reloads", daemon->reloads);
	for (struct session *session = daemon->sessions; session; session = session->next)
		json_object_array_add(vmms, report_session(session));
	json_object_object_add(result, "ok", json_object_new_boolean(1));
	json_object_object_add(result, "daemon", about);
	json_object_object_add(result, "vmms", vmms);
	return result;
}

struct metric {
	const char *name;
	const char *type;
	const char *help;
	size_t offset;
};

#define COUNTER(field) offsetof(struct wset_counters, field)

static const struct metric metrics[] = {
	{ "wset_tracked_bytes", "gauge", "Size of all tracked regions.", COUNTER(tracked_bytes) },
	{ "wset_resident_bytes", "gauge", "Tracked memory present in guest memory.", COUNTER(resident_bytes) },
	{ "wset_wss_bytes", "gauge", "Working-set size estimate.", COUNTER(wss_bytes) },
	{ "wset_cold_bytes", "gauge", "Resident memory idle for at least min_idle_age intervals.", COUNTER(cold_bytes) },
	{ "wset_evicted_bytes", "gauge", "Memory currently kept in the store.", COUNTER(evicted_bytes) },
	{ "wset_intervals_total", "counter", "Tracking intervals run.", COUNTER(intervals) },
	{ "wset_evictions_total", "counter", "Pages evicted.", COUNTER(evictions) },
	{ "wset_refaults_total", "counter", "Evicted pages brought back by a fault.", COUNTER(refaults) },
	{ "wset_prefetches_total", "counter", "Evicted pages brought back by prefetch.", COUNTER(prefetches) },
	{ "wset_zero_fills_total", "counter", "Never-stored pages filled with zeroes.", COUNTER(zero_fills) },
	{ "wset_sync_faults_total", "counter", "Protection faults during eviction.", COUNTER(sync_faults) },
	{ "wset_abandoned_total", "counter", "Evictions given up.", COUNTER(abandoned) },
	{ "wset_unevictable_pages", "gauge", "Pages that cannot be evicted.", COUNTER(unevictable_pages) },
	{ "wset_store_put_errors_total", "counter", "Failed store writes.", COUNTER(store_put_errors) },
	{ "wset_store_get_errors_total", "counter", "Failed store reads.", COUNTER(store_get_errors) },
	{ "wset_faults_total", "counter", "Fault messages handled.", COUNTER(faults) },
	{ "wset_fault_escalations_total", "counter", "Faults the store could not answer within fetch_retries.", COUNTER(fault_escalations) },
	{ "wset_stalled_faults", "gauge", "Escalated faults still waiting.", COUNTER(stalled_faults) },
	{ "wset_poisoned_pages_total", "counter", "Pages answered with UFFDIO_POISON.", COUNTER(poisoned_pages) },
	{ "wset_store_bytes", "gauge", "Bytes kept by the store.", COUNTER(store.stored_bytes) },
};

void report_prometheus(struct daemon *daemon, FILE *out)
{
	size_t count = daemon->session_count ? daemon->session_count : 1;
	struct wset_counters *all = calloc(count, sizeof(*all));
	struct session *session;
	size_t index;

	fprintf(out, "# HELP wsetd_vmms VMMs served now.\n# TYPE wsetd_vmms gauge\n"
		     "wsetd_vmms %u\n", daemon->session_count);
	fprintf(out, "# HELP wsetd_vmms_rejected_total Handshakes refused.\n"
		     "# TYPE wsetd_vmms_rejected_total counter\n"
		     "wsetd_vmms_rejected_total %llu\n",
		(unsigned long long)daemon->vmms_rejected);
	if (!all)
		return;
	for (session = daemon->sessions, index = 0; session;
	     session = session->next, index++) {
		all[index] = (struct wset_counters)WSET_COUNTERS_INIT;
		wset_counters(session->wset, &all[index]);
	}
	for (size_t m = 0; m < sizeof(metrics) / sizeof(metrics[0]); m++) {
		fprintf(out, "# HELP %s %s\n# TYPE %s %s\n", metrics[m].name,
			metrics[m].help, metrics[m].name, metrics[m].type);
		for (session = daemon->sessions, index = 0; session;
		     session = session->next, index++)
			fprintf(out, "%s{vmm=\"%u\",name=\"%s\"} %llu\n",
				metrics[m].name, session->id, session->name,
				(unsigned long long)*(uint64_t *)((char *)&all[index] +
								  metrics[m].offset));
	}
	fprintf(out, "# HELP wset_fault_latency_seconds Time to resolve a fault.\n"
		     "# TYPE wset_fault_latency_seconds histogram\n");
	for (session = daemon->sessions, index = 0; session;
	     session = session->next, index++) {
		uint64_t cumulative = 0;

		for (int i = 0; i < WSET_LATENCY_BUCKETS; i++) {
			cumulative += all[index].fault_latency_us[i];
			if (i == WSET_LATENCY_BUCKETS - 1)
				break;
			fprintf(out, "wset_fault_latency_seconds_bucket{vmm=\"%u\","
				     "name=\"%s\",le=\"%g\"} %llu\n",
				session->id, session->name, (double)(1ull << i) / 1e6,
				(unsigned long long)cumulative);
		}
		fprintf(out, "wset_fault_latency_seconds_bucket{vmm=\"%u\",name=\"%s\","
			     "le=\"+Inf\"} %llu\n", session->id, session->name,
			(unsigned long long)cumulative);
		/* Only bucket bounds are known: the sum uses each bucket's middle. */
		double sum = 0;
		for (int i = 0; i < WSET_LATENCY_BUCKETS; i++)
			sum += (double)all[index].fault_latency_us[i] *
			       (i ? 1.5 * (double)(1ull << (i - 1)) : 0.5) / 1e6;
		fprintf(out, "wset_fault_latency_seconds_sum{vmm=\"%u\",name=\"%s\"} %g\n"
			     "wset_fault_latency_seconds_count{vmm=\"%u\",name=\"%s\"} %llu\n",
			session->id, session->name, sum, session->id, session->name,
			(unsigned long long)cumulative);
	}
	free(all);
}

void report_log(struct daemon *daemon)
{
	log_notice("stats: %u VMMs, %llu accepted, %llu rejected, %llu reloads",
		   daemon->session_count, (unsigned long long)daemon->vmms_accepted,
		   (unsigned long long)daemon->vmms_rejected,
		   (unsigned long long)daemon->reloads);
	for (struct session *session = daemon->sessions; session; session = session->next) {
		struct wset_counters c = WSET_COUNTERS_INIT;

		if (wset_counters(session->wset, &c) < 0)
			continue;
		log_notice("stats: vmm %u %s pid %d: tracked %llu wss %llu resident %llu "
			   "cold %llu evicted %llu refaults %llu faults %llu "
			   "fault_p99_us %llu store %llu",
			   session->id, session->name, (int)session->pid,
			   (unsigned long long)c.tracked_bytes,
			   (unsigned long long)c.wss_bytes,
			   (unsigned long long)c.resident_bytes,
			   (unsigned long long)c.cold_bytes,
			   (unsigned long long)c.evicted_bytes,
			   (unsigned long long)c.refaults,
			   (unsigned long long)c.faults,
			   (unsigned long long)report_latency_percentile(c.fault_latency_us, 0.99),
			   (unsigned long long)c.store.stored_bytes);
	}
}
