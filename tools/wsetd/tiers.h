/* SPDX-License-Identifier: MIT */
/*
 * The chain of store tiers a VMM's pages go to, fastest first: any of
 * compressed (RAM, libwset-store), file (the named store in store_dir) and
 * redis, in that order, each at most once.
 */
#ifndef WSETD_TIERS_H
#define WSETD_TIERS_H

#include <stddef.h>

#include "wset.h"

enum wsetd_tier {
	TIER_COMPRESSED,
	TIER_FILE,
	TIER_REDIS,
};

#define WSETD_TIERS_MAX 3
#define WSETD_VMM_CHAINS_MAX 16

struct wsetd_chain {
	unsigned int count;
	enum wsetd_tier tiers[WSETD_TIERS_MAX];
};

/* A chain for the VMMs of one name (from "tiers.NAME = ..."). */
struct wsetd_vmm_chain {
	char name[64];
	struct wsetd_chain chain;
};

/* "compressed,file,redis"; 0, or -1 with why filled. */
int tiers_parse(const char *text, struct wsetd_chain *chain, char *why,
		size_t why_size);
/* The same text back, into buffer. */
void tiers_format(const struct wsetd_chain *chain, char *buffer, size_t size);

struct wsetd_options;

/* The chain for a VMM of that name (its own, or the default). */
const struct wsetd_chain *tiers_for(const struct wsetd_options *options,
				    const char *vmm_name);

/* Open the store for a session: the named file store alone, or a chain
 * with it.  key_name names the session in Redis keys.  0, or -errno with
 * error filled. */
int tiers_open(const struct wsetd_options *options, const char *vmm_name,
	       const char *token, struct wset_store **out, char *error,
	       size_t error_size);

#endif
