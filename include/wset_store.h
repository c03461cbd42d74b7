/* SPDX-License-Identifier: MIT */
/*
 * libwset-store: tiers for libwset's store interface and the chain that
 * moves pages between them by age.
 *
 *   compressed RAM (lz4 or zstd)  ->  file (wset_named_store_open())  ->  Redis
 *
 * Each tier is a struct wset_store of its own; wset_chain_open() stacks
 * any of them, oldest pages moving down when a tier is over capacity.  The
 * chain is the store a wset is created with.  Same conventions as wset.h:
 * functions return 0 or a negative errno value and never touch errno.
 */
#ifndef WSET_STORE_H
#define WSET_STORE_H

#include <stdint.h>

#include "wset.h"

#ifdef __cplusplus
extern "C" {
#endif

enum wset_compression {
	WSET_COMPRESSION_LZ4 = 0,
	WSET_COMPRESSION_ZSTD = 1,
};

/*
 * A compressed RAM tier.  All-zero pages are kept as a flag (no storage).
 * A page whose compressed size is above threshold_bytes is refused with
 * -E2BIG: a chain passes it straight to the next tier.
 */
struct wset_compressed_config {
	enum wset_compression compression;
	int level;		  /* zstd level (0: zstd's default); lz4: acceleration */
	uint64_t capacity_bytes;  /* compressed bytes kept before the chain
				   * moves the oldest down (0: unbounded);
				   * puts beyond twice it fail, -ENOSPC */
	uint32_t threshold_bytes; /* 0: 3/4 of the page */
};

#define WSET_COMPRESSED_CONFIG_INIT                                          \
	{                                                                    \
		.compression = WSET_COMPRESSION_LZ4,                         \
	}

int wset_compressed_store_open(const struct wset_compressed_config *config,
			       struct wset_store **out);

/*
 * A Redis tier through hiredis.  A page lives under
 * "wset:<vmm_name>:<store key in hex>" (the store key is the page's
 * offset in the wset's store space).  Puts fail at once when Redis is
 * unreachable, stalls beyond timeout_ms or is out of memory (-ENOSPC):
 * the page then stays where it was.  Gets reconnect and retry up to
 * get_retries times before they fail (the library retries further).
 *
 * cluster: host:port is one node of a Redis Cluster (TCP only).  The slot
 * map is read from it (CLUSTER SLOTS) and, when it is down, from any node
 * known; each page goes to the master of its key's slot, a batch as one
 * pipeline per node.  A MOVED answer reloads the map and the request goes
 * again (a put once, a get within get_retries).  An ASK answer (a slot
 * being migrated) sends that request alone to the node named, after
 * ASKING, without touching the map; redirect_count in the tier's stats
 * counts them.
 *
 * tls: the connection (to the server, or to every node of the cluster)
 * goes through TLS with OpenSSL; the server's certificate must verify
 * against tls_ca (NULL: the system's trust store) and name
 * tls_server_name (NULL: host; an IP address is matched against the
 * certificate's IP entries).  tls_cert and tls_key, both or neither, are
 * the client certificate for a server that asks for one.
 *
 * The struct grows at its end, into reserved: start from
 * WSET_REDIS_CONFIG_INIT (or zero it) and set the fields you use.
 */
struct wset_redis_config {
	const char *host;	  /* NULL: unix_path is used */
	unsigned int port;	  /* 0: 6379 */
	const char *unix_path;	  /* used when host is NULL */
	const char *user;	  /* ACL user, NULL: none */
	const char *password;	  /* NULL: no AUTH */
	const char *vmm_name;	  /* part of every key; [A-Za-z0-9._-], 1..64 */
	unsigned int timeout_ms;  /* connect and command timeout; 0: 1000 */
	unsigned int get_retries; /* 0: 5 */
	uint64_t capacity_bytes;  /* 0: unbounded */
	bool cluster;		  /* host:port is a node of a Redis Cluster */
	bool tls;		  /* TLS over TCP (not with unix_path) */
	const char *tls_ca;	  /* CA file (PEM) to verify the server */
	const char *tls_cert;	  /* client certificate (PEM), NULL: none */
	const char *tls_key;	  /* its private key (PEM) */
	const char *tls_server_name; /* name the certificate must carry */
	uint64_t reserved[8];	  /* zero */
};

#define WSET_REDIS_CONFIG_INIT                                               \
	{                                                                    \
		.host = "127.0.0.1",                                         \
	}

int wset_redis_store_open(const struct wset_redis_config *config,
			  struct wset_store **out);

/*
 * A chain of count (1..WSET_CHAIN_TIERS_MAX) tiers, fastest first.  It takes
 * over the tiers (wset_store_close() of the chain closes them).  A put goes
 * to the first tier that takes it; after each put every tier over its
 * capacity moves its oldest pages to the tiers below until it is not.  A
 * page moves only once the tier below holds it: a failing move leaves it
 * where it is.
 */
#define WSET_CHAIN_TIERS_MAX 4
int wset_chain_open(struct wset_store *const *tiers, unsigned int count,
		    struct wset_store **out);

#define WSET_TIER_LATENCY_BUCKETS 20	/* bucket i: < 2^i microseconds */

struct wset_tier_stats {
	char name[16];		/* "compressed-lz4", "file", "redis", ... */
	uint64_t pages;		/* pages the chain keeps in this tier */
	uint64_t page_bytes;	/* their uncompressed size */
	uint64_t stored_bytes;	/* what the tier uses for them */
	uint64_t capacity_bytes;
	uint64_t puts, gets, errors;
	uint64_t refused;	/* puts passed down (incompressible, full, failing) */
	uint64_t moved_down;	/* pages moved to the tier below */
	uint64_t put_latency[WSET_TIER_LATENCY_BUCKETS];
	uint64_t get_latency[WSET_TIER_LATENCY_BUCKETS];
	uint64_t redirects;	/* requests sent on to another server (Redis
				 * Cluster ASK), from the tier's redirect_count */
	uint64_t reserved[7];	/* zero: room to grow */
};

/*
 * Since 1.1: the capacity the chain holds tier index to, in place of the
 * tier's own (0: the tier's own again), for a tier that has none, such as
 * the file store: beyond it the oldest pages move down.  -ENOENT past the
 * last tier.
 */
int wset_chain_set_capacity(struct wset_store *chain, unsigned int index,
			    uint64_t capacity_bytes);

/* Fill *stats for tier index of chain; -ENOENT past the last tier. */
int wset_chain_tier_stats(struct wset_store *chain, unsigned int index,
			  struct wset_tier_stats *stats);

#ifdef __cplusplus
}
#endif

#endif /* WSET_STORE_H */
