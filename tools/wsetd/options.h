/* SPDX-License-Identifier: MIT */
/*
 * wsetd options: one struct, filled from defaults, then the configuration
 * file, then the command line.  One table describes every option for all
 * three and for --help.
 */
#ifndef WSETD_OPTIONS_H
#define WSETD_OPTIONS_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/types.h>

#include "wset.h"
#include "wset_store.h"
#include "log.h"
#include "tiers.h"

#define WSETD_DEFAULT_CONFIG "/etc/wsetd.conf"
#define WSETD_DEFAULT_SOCKET "/run/wsetd/wsetd.sock"
#define WSETD_DEFAULT_CONTROL_SOCKET "/run/wsetd/control.sock"
#define WSETD_MAX_ALLOWED_UIDS 16

struct wsetd_options {
	char socket[108];	  /* where VMMs connect (sun_path size) */
	char control_socket[108]; /* where wsetctl connects */
	unsigned int socket_mode; /* permissions of both sockets */
	char store_dir[4096];	  /* state directory: stores, journals, sessions */
	enum wset_durability durability;
	unsigned int fetch_retries;
	enum wset_last_resort last_resort;
	enum wset_mechanism mechanism;
	unsigned int interval_ms;
	unsigned int wss_age;
	unsigned int fault_threads;
	unsigned int prefetch_pages;
	bool evict;		/* policy.enabled for new VMMs */
	unsigned int min_idle_age;
	uint64_t resident_target;
	uint64_t max_evict_rate;
	unsigned int max_vmms;
	unsigned int handshake_timeout_ms;
	unsigned int history_samples; /* samples of WSS/residency kept per VMM */
	uid_t allowed_uids[WSETD_MAX_ALLOWED_UIDS]; /* besides our own uid */
	unsigned int allowed_uid_count;
	enum log_level log_level;
	/* Store tiers (tiers.h): the default chain, and chains by VMM name. */
	struct wsetd_chain tiers;
	struct wsetd_vmm_chain vmm_chains[WSETD_VMM_CHAINS_MAX];
	unsigned int vmm_chain_count;
	bool volatile_tiers;	/* a compressed tier's pages die with wsetd */
	enum wset_compression compression;
	unsigned int compression_level;
	uint64_t compressed_capacity;
	unsigned int compress_threshold;
	uint64_t file_capacity;	  /* 0: unbounded */
	char redis_address[256];  /* host:port or an absolute unix socket path */
	char redis_user[64];
	char redis_password[256];
	unsigned int redis_timeout_ms;
	uint64_t redis_capacity;
	bool redis_cluster;	  /* redis_address is a node of a Redis Cluster */
	bool redis_tls;		  /* through TLS (OpenSSL) */
	char redis_tls_ca[4096];  /* "" for none: each an absolute path */
	char redis_tls_cert[4096];
	char redis_tls_key[4096];
	char redis_tls_server_name[256];
};

/* The command line, kept so that a reload applies it again over the file. */
struct wsetd_command_line {
	const char *config_file; /* NULL: WSETD_DEFAULT_CONFIG if it exists */
	bool check_config;
	bool help;
	bool version;
	int override_count;
	const char *override_names[64];
	const char *override_values[64];
};

/* Parse argv.  Returns 0, or -1 after printing why. */
int options_parse_command_line(int argc, char **argv,
			       struct wsetd_command_line *command_line);

/* Defaults, then the file, then the command line's overrides.  Returns 0,
 * or -1 after logging every bad value (options is then unspecified). */
int options_load(const struct wsetd_command_line *command_line,
		 struct wsetd_options *options);

/* Print the options with their values in configuration-file syntax. */
void options_print(const struct wsetd_options *options, FILE *out);
void options_print_help(FILE *out);

/* The policy the options give a new VMM. */
void options_policy(const struct wsetd_options *options,
		    struct wset_policy *policy);

#endif
