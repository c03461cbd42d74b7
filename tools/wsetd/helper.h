/* SPDX-License-Identifier: MIT */
/*
 * The in-VMM helper's side of a session (helper/protocol.h, wsetd(8)
 * "HELPER MESSAGES"): its offer in the handshake, the callbacks through
 * which libwset has it zap and release pages in the VMM, and the RAM it
 * reports added or removed later.
 */
#ifndef WSETD_HELPER_H
#define WSETD_HELPER_H

#include <stddef.h>
#include <stdint.h>

#include <json-c/json.h>

struct session;

/* {"helper": {"version": 1, "staging": ADDR, "staging_size": BYTES}} */
struct helper_offer {
	unsigned int version; /* 0: no helper */
	uint64_t staging;
	uint64_t staging_size;
};

/* Parse the offer; 0, or -1 with a message in error. */
int helper_parse_offer(json_object *value, struct helper_offer *offer,
		       char *error, size_t error_size);

/* The version wsetd speaks with a helper that offered `offered`. */
unsigned int helper_version(const struct helper_offer *offer);

/* Before the session's regions are added: give its wset the helper.
 * 0 or a negative errno value. */
int helper_attach(struct session *session, const struct helper_offer *offer);

/* Remember a region's id by address (for REMOVE_REGION). */
void helper_note_region(struct session *session, uint64_t addr, int id);

/* After the handshake's answer was sent: start talking. */
int helper_start(struct session *session);

/* The helper protocol version spoken with the session's VMM (0: none). */
unsigned int helper_session_version(const struct session *session);

/* Before the wset goes: stop talking (the wset's calls fail from then on,
 * no hotplug request runs any more). */
void helper_disconnect(struct session *session);

/* After the wset is gone: free it all. */
void helper_stop(struct session *session);

#endif
