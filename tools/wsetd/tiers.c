// SPDX-License-Identifier: MIT
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "options.h"
#include "tiers.h"
#include "wset_store.h"

static const char *const tier_names[] = {
	[TIER_COMPRESSED] = "compressed",
	[TIER_FILE] = "file",
	[TIER_REDIS] = "redis",
};

int tiers_parse(const char *text, struct wsetd_chain *chain, char *why,
		size_t why_size)
{
	const char *cursor = text;

	chain->count = 0;
	for (;;) {
		size_t length = strcspn(cursor, ",");
		int found = -1;

		for (int i = 0; i < WSETD_TIERS_MAX; i++)
			if (length == strlen(tier_names[i]) &&
			    strncmp(cursor, tier_names[i], length) == 0)
				found = i;
		if (found < 0) {
			snprintf(why, why_size, "names a tier other than compressed, "
				 "file or redis (a comma-separated list, fastest first)");
			return -1;
		}
		/* Fastest first: each tier after the one before it. */
		if (chain->count && (int)chain->tiers[chain->count - 1] >= found) {
			snprintf(why, why_size, "has %s after %s: tiers go fastest "
				 "first (compressed, file, redis), each once",
				 tier_names[found],
				 tier_names[chain->tiers[chain->count - 1]]);
			return -1;
		}
		chain->tiers[chain->count++] = (enum wsetd_tier)found;
		if (cursor[length] == '\0')
			return 0;
		cursor += length + 1;
	}
}

void tiers_format(const struct wsetd_chain *chain, char *buffer, size_t size)
{
	size_t used = 0;

	buffer[0] = '\0';
	for (unsigned int i = 0; i < chain->count && used < size; i++)
		used += (size_t)snprintf(buffer + used, size - used, "%s%s",
					 i ? "," : "", tier_names[chain->tiers[i]]);
}

const struct wsetd_chain *tiers_for(const struct wsetd_options *options,
				    const char *vmm_name)
{
	for (unsigned int i = 0; i < options->vmm_chain_count; i++)
		if (strcmp(options->vmm_chains[i].name, vmm_name) == 0)
			return &options->vmm_chains[i].chain;
	return &options->tiers;
}

/* "host:port" or an absolute unix socket path into config. */
static void redis_address(const struct wsetd_options *options, char *host,
			  size_t host_size, struct wset_redis_config *config)
{
	const char *colon = strrchr(options->redis_address, ':');

	if (options->redis_address[0] == '/') {
		config->host = NULL;
		config->unix_path = options->redis_address;
		return;
	}
	snprintf(host, host_size, "%.*s", (int)(colon - options->redis_address),
		 options->redis_address);
	config->host = host;
	config->port = (unsigned int)strtoul(colon + 1, NULL, 10);
}

static int open_tier(const struct wsetd_options *options, enum wsetd_tier tier,
		     const char *token, struct wset_store **out)
{
	struct wset_compressed_config compressed = WSET_COMPRESSED_CONFIG_INIT;
	struct wset_redis_config redis = WSET_REDIS_CONFIG_INIT;
	char host[256];

	switch (tier) {
	case TIER_COMPRESSED:
		compressed.compression = options->compression;
		compressed.level = (int)options->compression_level;
		compressed.capacity_bytes = options->compressed_capacity;
		compressed.threshold_bytes = options->compress_threshold;
		return wset_compressed_store_open(&compressed, out);
	case TIER_FILE:
		return wset_named_store_open(options->store_dir, token,
					     options->durability, out);
	case TIER_REDIS:
		redis_address(options, host, sizeof(host), &redis);
		redis.user = options->redis_user[0] ? options->redis_user : NULL;
		redis.password = options->redis_password[0] ? options->redis_password : NULL;
		redis.vmm_name = token;
		redis.timeout_ms = options->redis_timeout_ms;
		redis.capacity_bytes = options->redis_capacity;
		redis.cluster = options->redis_cluster;
		redis.tls = options->redis_tls;
		redis.tls_ca = options->redis_tls_ca[0] ? options->redis_tls_ca : NULL;
		redis.tls_cert = options->redis_tls_cert[0] ? options->redis_tls_cert : NULL;
		redis.tls_key = options->redis_tls_key[0] ? options->redis_tls_key : NULL;
		redis.tls_server_name = options->redis_tls_server_name[0] ?
			options->redis_tls_server_name : NULL;
		return wset_redis_store_open(&redis, out);
	}
	return -EINVAL;
}

/* Why a tier did not open, in the terms of the options. */
static const char *open_error(const struct wsetd_options *options, enum wsetd_tier tier,
			      int ret)
{
	if (tier != TIER_REDIS || !options->redis_tls)
		return strerror(-ret);
	switch (ret) {
	case -EKEYREJECTED:
		return "TLS: the server's certificate does not verify (not signed by "
		       "redis_tls_ca, or not for redis_tls_server_name)";
	case -EPROTO:
		return "TLS handshake failed (does the server speak TLS on that port?)";
	case -EINVAL:
		return "TLS: OpenSSL refused redis_tls_ca, redis_tls_cert or redis_tls_key";
	}
	return strerror(-ret);
}

int tiers_open(const struct wsetd_options *options, const char *vmm_name,
	       const char *token, struct wset_store **out, char *error,
	       size_t error_size)
{
	const struct wsetd_chain *chain = tiers_for(options, vmm_name);
	struct wset_store *tiers[WSETD_TIERS_MAX];
	unsigned int opened;
	int ret = 0;

	for (opened = 0; opened < chain->count; opened++) {
		ret = open_tier(options, chain->tiers[opened], token, &tiers[opened]);
		if (ret < 0) {
			snprintf(error, error_size, "cannot open the %s tier%s%s: %s",
				 tier_names[chain->tiers[opened]],
				 chain->tiers[opened] == TIER_REDIS ? " at " : "",
				 chain->tiers[opened] == TIER_REDIS ?
					 options->redis_address : "",
				 open_error(options, chain->tiers[opened], ret));
			break;
		}
	}
	/* The file store alone is what every wsetd before the tiers used. */
	if (ret == 0 && chain->count == 1 && chain->tiers[0] == TIER_FILE) {
		*out = tiers[0];
		return 0;
	}
	if (ret == 0) {
		ret = wset_chain_open(tiers, chain->count, out);
		/* The file store has no capacity of its own: the chain keeps it. */
		for (unsigned int i = 0; ret == 0 && i < chain->count; i++)
			if (chain->tiers[i] == TIER_FILE && options->file_capacity)
				wset_chain_set_capacity(*out, i, options->file_capacity);
		if (ret == 0)
			return 0;
		snprintf(error, error_size, "cannot chain the tiers: %s", strerror(-ret));
	}
	while (opened--)
		wset_store_close(tiers[opened]);
	return ret;
}
