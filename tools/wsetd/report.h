/* SPDX-License-Identifier: MIT */
/* Counters of the VMMs as JSON (wsetctl status) and Prometheus text. */
#ifndef WSETD_REPORT_H
#define WSETD_REPORT_H

#include <stdio.h>

#include <json-c/json.h>

#include "daemon.h"
#include "wset_store.h"

/* The status of one VMM: identity, counters, latency percentiles, policy. */
json_object *report_session(struct session *session);

/* {"daemon": {...}, "vmms": [...]} */
json_object *report_status(struct daemon *daemon);

/* Prometheus text exposition format, version 0.0.4. */
void report_prometheus(struct daemon *daemon, FILE *out);

/* One log line per VMM (SIGUSR1). */
void report_log(struct daemon *daemon);

/* The upper bound in microseconds of the bucket holding the given fraction
 * of samples in count buckets, or 0 when there were none. */
uint64_t report_latency_percentile(const uint64_t *buckets, int count,
				   double fraction);

/* The session's store tiers (a store that is no chain: one, "file"). */
unsigned int report_tiers(struct session *session, struct wset_tier_stats *tiers);

#endif
