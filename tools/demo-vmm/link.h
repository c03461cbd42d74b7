/* SPDX-License-Identifier: MIT */
/*
 * The demo VMM's link to wsetd, watched by its own thread while the guest
 * runs: a "released" event means every page is back; end of file without
 * it means wsetd died or is restarting.  Then, with reconnect set, the
 * thread reconnects (handover_reconnect()) until wsetd answers, while the
 * guest's accesses to evicted pages wait in the kernel; after a release
 * (wsetd stopped cleanly, e.g. for an upgrade) it hands the memory over
 * afresh to the next wsetd.
 */
#ifndef DEMO_LINK_H
#define DEMO_LINK_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "handover.h"

struct agent_link {
	const char *socket_path;
	const char *name;
	const struct handover_region *regions;
	int region_count;
	struct handover_result *handed;
	bool reconnect;
	FILE *log;
	/* Written by the link thread, read by anyone (atomics). */
	bool released;	     /* wsetd gave every page back */
	bool lost;	     /* wsetd went away and reconnect is off */
	uint64_t reconnects;
	uint64_t back_ns;    /* CLOCK_MONOTONIC when wsetd last answered */
	pthread_t thread;
	int stop_pipe[2];
};

/* Start watching link->handed->socket_fd.  Returns 0 or -errno. */
int agent_link_start(struct agent_link *link);

/* Stop the thread (wsetd still serves the VMM unless it released it). */
void agent_link_stop(struct agent_link *link);

bool agent_link_released(const struct agent_link *link);
bool agent_link_lost(const struct agent_link *link);
uint64_t agent_link_back_ns(const struct agent_link *link);

#endif
