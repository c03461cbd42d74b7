// SPDX-License-Identifier: MIT
#include <fcntl.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "log.h"
#include "report.h"

static void add_u64(json_object *object, const char *key, uint64_t value)
{
	json_object_object_add(object, key, json_object_new_uint64(value));
}

uint64_t report_latency_percentile(const uint64_t *buckets, int count,
				   double fraction)
{
	uint64_t total = 0, seen = 0;

	for (int i = 0; i < count; i++)
		total += buckets[i];
	if (!total)
		return 0;
	for (int i = 0; i < count; i++) {
		seen += buckets[i];
		/* Bucket i holds [2^(i-1), 2^i) us, bucket 0 below 1 us. */
		if ((double)seen >= fraction * (double)total)
			return 1ull << i;
	}
	return 1ull << (count - 1);
}

unsigned int report_tiers(struct session *session, struct wset_tier_stats *tiers)
{
	struct wset_store_stats store = { 0 };
	unsigned int count = 0;

	while (count < WSET_CHAIN_TIERS_MAX &&
	       wset_chain_tier_stats(session->store, count, &tiers[count]) == 0)
		count++;
	if (count || !session->store)
		return count;
	/* Not a chain: the file store alone. */
	memset(&tiers[0], 0, sizeof(tiers[0]));
	snprintf(tiers[0].name, sizeof(tiers[0].name), "file");
	session->store->ops->stats(session->store->priv, &store);
	tiers[0].stored_bytes = tiers[0].page_bytes = store.stored_bytes;
	tiers[0].capacity_bytes = store.capacity_bytes;
	tiers[0].puts = store.put_count;
	tiers[0].gets = store.get_count;
	tiers[0].errors = store.error_count;
	return 1;
}

static json_object *tiers_json(struct session *session)
{
	struct wset_tier_stats tiers[WSET_CHAIN_TIERS_MAX];
	unsigned int count = report_tiers(session, tiers);
	json_object *array = json_object_new_array();

	for (unsigned int i = 0; i < count; i++) {
		const struct wset_tier_stats *t = &tiers[i];
		json_object *tier = json_object_new_object();

		json_object_object_add(tier, "name", json_object_new_string(t->name));
		add_u64(tier, "pages", t->pages);
		add_u64(tier, "page_bytes", t->page_bytes);
		add_u64(tier, "stored_bytes", t->stored_bytes);
		add_u64(tier, "capacity_bytes", t->capacity_bytes);
		json_object_object_add(tier, "compression_ratio", json_object_new_double(
			t->stored_bytes ? (double)t->page_bytes / (double)t->stored_bytes : 0));
		add_u64(tier, "puts", t->puts);
		add_u64(tier, "gets", t->gets);
		add_u64(tier, "errors", t->errors);
		add_u64(tier, "refused", t->refused);
		add_u64(tier, "moved_down", t->moved_down);
		add_u64(tier, "put_p50_us", report_latency_percentile(t->put_latency,
				WSET_TIER_LATENCY_BUCKETS, 0.50));
		add_u64(tier, "put_p99_us", report_latency_percentile(t->put_latency,
				WSET_TIER_LATENCY_BUCKETS, 0.99));
		add_u64(tier, "get_p50_us", report_latency_percentile(t->get_latency,
				WSET_TIER_LATENCY_BUCKETS, 0.50));
		add_u64(tier, "get_p99_us", report_latency_percentile(t->get_latency,
				WSET_TIER_LATENCY_BUCKETS, 0.99));
		json_object_array_add(array, tier);
	}
	return array;
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
	add_u64(latency, "p50", report_latency_percentile(counters.fault_latency_us, WSET_LATENCY_BUCKETS, 0.50));
	add_u64(latency, "p90", report_latency_percentile(counters.fault_latency_us, WSET_LATENCY_BUCKETS, 0.90));
	add_u64(latency, "p99", report_latency_percentile(counters.fault_latency_us, WSET_LATENCY_BUCKETS, 0.99));
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
	json_object_object_add(object, "tiers", tiers_json(session));
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

/* A histogram of microsecond buckets (bucket i: below 2^i us) in seconds. */
static void print_histogram(FILE *out, const char *name, const char *labels,
			    const uint64_t *buckets, int count)
{
	uint64_t cumulative = 0;
	double sum = 0;

	for (int i = 0; i < count; i++) {
		cumulative += buckets[i];
		if (i == count - 1)
			break;
		fprintf(out, "%s_bucket{%s,le=\"%g\"} %llu\n", name, labels,
			(double)(1ull << i) / 1e6, (unsigned long long)cumulative);
	}
	fprintf(out, "%s_bucket{%s,le=\"+Inf\"} %llu\n", name, labels,
		(unsigned long long)cumulative);
	/* Only bucket bounds are known: the sum uses each bucket's middle. */
	for (int i = 0; i < count; i++)
		sum += (double)buckets[i] *
		       (i ? 1.5 * (double)(1ull << (i - 1)) : 0.5) / 1e6;
	fprintf(out, "%s_sum{%s} %g\n%s_count{%s} %llu\n", name, labels, sum,
		name, labels, (unsigned long long)cumulative);
}

#define TIER(field) offsetof(struct wset_tier_stats, field)

static const struct metric tier_metrics[] = {
	{ "wset_tier_pages", "gauge", "Pages kept in the tier.", TIER(pages) },
	{ "wset_tier_page_bytes", "gauge", "Uncompressed size of the tier's pages.", TIER(page_bytes) },
	{ "wset_tier_stored_bytes", "gauge", "Bytes the tier uses for them.", TIER(stored_bytes) },
	{ "wset_tier_capacity_bytes", "gauge", "The tier's capacity (0: unbounded).", TIER(capacity_bytes) },
	{ "wset_tier_puts_total", "counter", "Pages the tier took.", TIER(puts) },
	{ "wset_tier_gets_total", "counter", "Pages the tier gave back.", TIER(gets) },
	{ "wset_tier_errors_total", "counter", "Failed calls into the tier.", TIER(errors) },
	{ "wset_tier_refused_total", "counter", "Puts passed to the next tier.", TIER(refused) },
	{ "wset_tier_moved_down_total", "counter", "Pages moved to the tier below.", TIER(moved_down) },
	{ "wset_tier_redirects_total", "counter", "Requests sent on to another server (Redis Cluster ASK).", TIER(redirects) },
};

/* Every tier of every VMM, labelled with the tier's name. */
static void print_tiers(struct daemon *daemon, FILE *out)
{
	static const char *const histograms[] = { "wset_tier_put_latency_seconds",
						  "wset_tier_get_latency_seconds" };
	struct wset_tier_stats tiers[WSET_CHAIN_TIERS_MAX];
	size_t metric_count = sizeof(tier_metrics) / sizeof(tier_metrics[0]);

	for (size_t m = 0; m <= metric_count + 2; m++) {
		if (m < metric_count)
			fprintf(out, "# HELP %s %s\n# TYPE %s %s\n", tier_metrics[m].name,
				tier_metrics[m].help, tier_metrics[m].name,
				tier_metrics[m].type);
		else if (m == metric_count)
			fprintf(out, "# HELP wset_tier_compression_ratio Page bytes per "
				"stored byte.\n# TYPE wset_tier_compression_ratio gauge\n");
		else
			fprintf(out, "# HELP %s Time of a call into the tier.\n"
				"# TYPE %s histogram\n", histograms[m - metric_count - 1],
				histograms[m - metric_count - 1]);
		for (struct session *session = daemon->sessions; session;
		     session = session->next) {
			unsigned int count = report_tiers(session, tiers);

			for (unsigned int t = 0; t < count; t++) {
				char labels[2100];

				snprintf(labels, sizeof(labels),
					 "vmm=\"%u\",name=\"%s\",tier=\"%s\"",
					 session->id, session->name, tiers[t].name);
				if (m < metric_count)
					fprintf(out, "%s{%s} %llu\n", tier_metrics[m].name, labels,
						(unsigned long long)*(uint64_t *)((char *)&tiers[t] +
							tier_metrics[m].offset));
				else if (m == metric_count)
					fprintf(out, "wset_tier_compression_ratio{%s} %g\n", labels,
						tiers[t].stored_bytes ? (double)tiers[t].page_bytes /
							(double)tiers[t].stored_bytes : 0.0);
				else
					print_histogram(out, histograms[m - metric_count - 1], labels,
							m == metric_count + 1 ? tiers[t].put_latency
									      : tiers[t].get_latency,
							WSET_TIER_LATENCY_BUCKETS);
			}
		}
	}
}

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
		char labels[2048];

		snprintf(labels, sizeof(labels), "vmm=\"%u\",name=\"%s\"",
			 session->id, session->name);
		print_histogram(out, "wset_fault_latency_seconds", labels,
				all[index].fault_latency_us, WSET_LATENCY_BUCKETS);
	}
	print_tiers(daemon, out);
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
			   (unsigned long long)report_latency_percentile(c.fault_latency_us, WSET_LATENCY_BUCKETS, 0.99),
			   (unsigned long long)c.store.stored_bytes);
	}
}
