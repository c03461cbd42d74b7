// SPDX-License-Identifier: MIT
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "options.h"
#include "size.h"

enum option_kind {
	KIND_PATH,	/* absolute path, fits the buffer */
	KIND_UNSIGNED,	/* decimal, within [minimum, maximum] */
	KIND_BYTES,	/* decimal with an optional K, M, G or T (binary) suffix */
	KIND_BOOLEAN,	/* yes/no, true/false, on/off, 1/0 */
	KIND_MODE,	/* octal permissions */
	KIND_MECHANISM, /* auto, rwp, wp */
	KIND_UIDS,	/* comma-separated numeric uids, or "none" */
	KIND_LOG_LEVEL, /* error, warning, notice, info, debug */
	KIND_DURABILITY, /* written, fsync */
	KIND_LAST_RESORT, /* wait, poison */
	KIND_TIERS,	/* compressed,file,redis (tiers.h) */
	KIND_COMPRESSION, /* lz4, zstd */
	KIND_STRING,	/* any text that fits the buffer */
	KIND_SECRET,	/* the same, never printed */
	KIND_ADDRESS,	/* host:port, or an absolute unix socket path */
};

struct option_description {
	const char *name; /* in the file; on the command line with '-' for '_' */
	enum option_kind kind;
	size_t offset;
	size_t size;
	uint64_t minimum, maximum;
	const char *default_value;
	const char *help;
};

#define FIELD(field) offsetof(struct wsetd_options, field), \
	sizeof(((struct wsetd_options *)0)->field)

static const struct option_description descriptions[] = {
	{ "socket", KIND_PATH, FIELD(socket), 0, 0, WSETD_DEFAULT_SOCKET,
	  "Unix socket where VMMs hand over their userfaultfd" },
	{ "control_socket", KIND_PATH, FIELD(control_socket), 0, 0,
	  WSETD_DEFAULT_CONTROL_SOCKET, "Unix socket for wsetctl" },
	{ "socket_mode", KIND_MODE, FIELD(socket_mode), 0, 0777, "0660",
	  "permissions of both sockets (octal)" },
	{ "store_dir", KIND_PATH, FIELD(store_dir), 0, 0, "/var/lib/wsetd",
	  "state directory: each VMM's page store, its journal and session record" },
	{ "durability", KIND_DURABILITY, FIELD(durability), 0, 0, "written",
	  "a page leaves memory once its copy is written, or fsync(ed)" },
	{ "fetch_retries", KIND_UNSIGNED, FIELD(fetch_retries), 1, 1000000, "200",
	  "tries (5 ms apart) of a failing fetch before it is escalated" },
	{ "last_resort", KIND_LAST_RESORT, FIELD(last_resort), 0, 0, "wait",
	  "an escalated fault: wait for the store, or poison the page (SIGBUS)" },
	{ "mechanism", KIND_MECHANISM, FIELD(mechanism), 0, 0, "auto",
	  "tracking mechanism: auto, rwp or wp" },
	{ "interval_ms", KIND_UNSIGNED, FIELD(interval_ms), 10, 3600000, "1000",
	  "tracking interval in milliseconds" },
	{ "wss_age", KIND_UNSIGNED, FIELD(wss_age), 1, 255, "1",
	  "a page is in the working set when idle for fewer intervals" },
	{ "fault_threads", KIND_UNSIGNED, FIELD(fault_threads), 1, 64, "1",
	  "fault handler threads per VMM" },
	{ "prefetch_pages", KIND_UNSIGNED, FIELD(prefetch_pages), 0, 4096, "16",
	  "pages of the same eviction batch fetched with a faulting page" },
	{ "evict", KIND_BOOLEAN, FIELD(evict), 0, 0, "no",
	  "evict cold pages of new VMMs" },
	{ "min_idle_age", KIND_UNSIGNED, FIELD(min_idle_age), 1, 255, "4",
	  "evict pages idle for at least this many intervals" },
	{ "resident_target", KIND_BYTES, FIELD(resident_target), 0, UINT64_MAX,
	  "0", "stop evicting at this resident size per VMM (0: none)" },
	{ "max_evict_rate", KIND_BYTES, FIELD(max_evict_rate), 0, UINT64_MAX,
	  "0", "bytes per second evicted at most per VMM (0: unlimited)" },
	{ "max_vmms", KIND_UNSIGNED, FIELD(max_vmms), 1, 4096, "64",
	  "VMMs served at once" },
	{ "handshake_timeout_ms", KIND_UNSIGNED, FIELD(handshake_timeout_ms),
	  100, 600000, "5000", "time a VMM has to complete its handshake" },
	{ "history_samples", KIND_UNSIGNED, FIELD(history_samples), 2, 1000000,
	  "3600", "samples of WSS and residency kept per VMM for plots" },
	{ "allowed_uids", KIND_UIDS, FIELD(allowed_uids), 0, 0, "none",
	  "uids allowed to connect besides wsetd's own (comma-separated)" },
	{ "log_level", KIND_LOG_LEVEL, FIELD(log_level), 0, 0, "info",
	  "error, warning, notice, info or debug" },
	{ "tiers", KIND_TIERS, FIELD(tiers), 0, 0, "file",
	  "store tiers, fastest first: compressed, file, redis (tiers.NAME = ... "
	  "in the file for the VMMs of that name)" },
	{ "volatile_tiers", KIND_BOOLEAN, FIELD(volatile_tiers), 0, 0, "no",
	  "accept that a compressed tier's pages are lost if wsetd dies" },
	{ "compression", KIND_COMPRESSION, FIELD(compression), 0, 0, "lz4",
	  "the compressed tier's algorithm: lz4 or zstd" },
	{ "compression_level", KIND_UNSIGNED, FIELD(compression_level), 0, 19, "0",
	  "zstd level, or lz4 acceleration (0: the library's default)" },
	{ "compressed_capacity", KIND_BYTES, FIELD(compressed_capacity), 0,
	  UINT64_MAX, "256M", "compressed bytes kept in RAM per VMM before the "
	  "oldest move down (0: unbounded)" },
	{ "compress_threshold", KIND_UNSIGNED, FIELD(compress_threshold), 0, 65536,
	  "0", "a page compressed to more bytes goes to the next tier (0: 3/4 page)" },
	{ "file_capacity", KIND_BYTES, FIELD(file_capacity), 0, UINT64_MAX, "0",
	  "bytes the file tier keeps per VMM before the oldest move down (0: unbounded)" },
	{ "redis_address", KIND_ADDRESS, FIELD(redis_address), 0, 0, "127.0.0.1:6379",
	  "the redis tier's server: host:port or a unix socket path" },
	{ "redis_user", KIND_STRING, FIELD(redis_user), 0, 0, "",
	  "ACL user for AUTH (needs redis_password)" },
	{ "redis_password", KIND_SECRET, FIELD(redis_password), 0, 0, "",
	  "password for AUTH (empty: none)" },
	{ "redis_timeout_ms", KIND_UNSIGNED, FIELD(redis_timeout_ms), 10, 600000,
	  "1000", "a Redis command not answered in this time fails" },
	{ "redis_capacity", KIND_BYTES, FIELD(redis_capacity), 0, UINT64_MAX, "0",
	  "bytes kept in Redis per VMM (0: unbounded)" },
	{ "redis_cluster", KIND_BOOLEAN, FIELD(redis_cluster), 0, 0, "no",
	  "redis_address is one node of a Redis Cluster: pages spread over its masters" },
	{ "redis_tls", KIND_BOOLEAN, FIELD(redis_tls), 0, 0, "no",
	  "connect to Redis (host:port) through TLS, verifying its certificate" },
	{ "redis_tls_ca", KIND_STRING, FIELD(redis_tls_ca), 0, 0, "",
	  "CA file (PEM) the server's certificate must verify against (empty: the system's)" },
	{ "redis_tls_cert", KIND_STRING, FIELD(redis_tls_cert), 0, 0, "",
	  "client certificate (PEM) for a server that asks for one (needs redis_tls_key)" },
	{ "redis_tls_key", KIND_STRING, FIELD(redis_tls_key), 0, 0, "",
	  "the client certificate's private key (PEM)" },
	{ "redis_tls_server_name", KIND_STRING, FIELD(redis_tls_server_name), 0, 0, "",
	  "name the server's certificate must carry (empty: redis_address's host)" },
};

#define DESCRIPTION_COUNT (sizeof(descriptions) / sizeof(descriptions[0]))

static const struct option_description *find_description(const char *name)
{
	for (size_t i = 0; i < DESCRIPTION_COUNT; i++)
		if (strcmp(descriptions[i].name, name) == 0)
			return &descriptions[i];
	return NULL;
}

static int parse_boolean(const char *text, bool *value)
{
	static const char *const yes[] = { "yes", "true", "on", "1" };
	static const char *const no[] = { "no", "false", "off", "0" };

	for (size_t i = 0; i < 4; i++) {
		if (strcmp(text, yes[i]) == 0) {
			*value = true;
			return 0;
		}
		if (strcmp(text, no[i]) == 0) {
			*value = false;
			return 0;
		}
	}
	return -1;
}

static int parse_uids(const char *text, struct wsetd_options *options,
		      char *why, size_t why_size)
{
	const char *cursor = text;

	options->allowed_uid_count = 0;
	if (strcmp(text, "none") == 0)
		return 0;
	for (;;) {
		uint64_t uid;
		const char *rest;

		if (decimal_parse(cursor, &uid, &rest) || uid >= UINT32_MAX ||
		    (*rest != ',' && *rest != '\0')) {
			snprintf(why, why_size,
				 "expected numeric uids separated by commas, or none");
			return -1;
		}
		if (options->allowed_uid_count == WSETD_MAX_ALLOWED_UIDS) {
			snprintf(why, why_size, "more than %d uids",
				 WSETD_MAX_ALLOWED_UIDS);
			return -1;
		}
		options->allowed_uids[options->allowed_uid_count++] = (uid_t)uid;
		if (*rest == '\0')
			return 0;
		cursor = rest + 1;
	}
}

static void copy_text(char *field, const char *value, size_t size, char *why,
		      size_t why_size)
{
	if (strlen(value) >= size)
		snprintf(why, why_size, "is longer than %zu bytes", size - 1);
	else
		strcpy(field, value);
}

/* One of two words: *choice 0 for the first, 1 for the second; -1 for neither. */
static int parse_choice(const char *value, const char *first, const char *second,
			int *choice)
{
	*choice = strcmp(value, second) == 0;
	return *choice || strcmp(value, first) == 0 ? 0 : -1;
}

/* Set one option from text; on error, log "ORIGIN: NAME: 'VALUE' ...". */
static int option_set(struct wsetd_options *options,
		      const struct option_description *description,
		      const char *value, const char *origin)
{
	char *field = (char *)options + description->offset;
	char why[160] = "";
	uint64_t number;
	const char *rest;
	int choice;

	switch (description->kind) {
	case KIND_PATH:
		if (value[0] != '/')
			snprintf(why, sizeof(why), "is not an absolute path");
		else
			copy_text(field, value, description->size, why, sizeof(why));
		break;
	case KIND_UNSIGNED:
		if (decimal_parse(value, &number, &rest) || *rest)
			snprintf(why, sizeof(why), "is not a decimal number");
		else if (number < description->minimum ||
			 number > description->maximum)
			snprintf(why, sizeof(why), "is out of range %llu..%llu",
				 (unsigned long long)description->minimum,
				 (unsigned long long)description->maximum);
		else
			*(unsigned int *)field = (unsigned int)number;
		break;
	case KIND_BYTES:
		if (size_parse(value, &number))
			snprintf(why, sizeof(why),
				 "is not a size (a number with an optional K, M, G or T suffix)");
		else
			*(uint64_t *)field = number;
		break;
	case KIND_BOOLEAN:
		if (parse_boolean(value, (bool *)field))
			snprintf(why, sizeof(why), "is not yes or no");
		break;
	case KIND_MODE: {
		char *end;

		errno = 0;
		number = strtoull(value, &end, 8);
		if (errno || *end || value[0] < '0' || value[0] > '7' ||
		    number > description->maximum)
			snprintf(why, sizeof(why), "is not an octal mode up to 0777");
		else
			*(unsigned int *)field = (unsigned int)number;
		break;
	}
	case KIND_MECHANISM:
		if (strcmp(value, "auto") == 0)
			options->mechanism = WSET_MECHANISM_AUTO;
		else if (strcmp(value, "rwp") == 0)
			options->mechanism = WSET_MECHANISM_RWP;
		else if (strcmp(value, "wp") == 0)
			options->mechanism = WSET_MECHANISM_WP;
		else
			snprintf(why, sizeof(why), "is not auto, rwp or wp");
		break;
	case KIND_UIDS:
		parse_uids(value, options, why, sizeof(why));
		break;
	case KIND_LOG_LEVEL:
		if (log_level_parse(value, &options->log_level))
			snprintf(why, sizeof(why),
				 "is not error, warning, notice, info or debug");
		break;
	case KIND_LAST_RESORT:
		if (parse_choice(value, "wait", "poison", &choice))
			snprintf(why, sizeof(why), "is not wait or poison");
		else
			options->last_resort = choice ? WSET_LAST_RESORT_POISON
						      : WSET_LAST_RESORT_WAIT;
		break;
	case KIND_TIERS:
		tiers_parse(value, (struct wsetd_chain *)field, why, sizeof(why));
		break;
	case KIND_COMPRESSION:
		if (parse_choice(value, "lz4", "zstd", &choice))
			snprintf(why, sizeof(why), "is not lz4 or zstd");
		else
			options->compression = choice ? WSET_COMPRESSION_ZSTD
						      : WSET_COMPRESSION_LZ4;
		break;
	case KIND_STRING:
	case KIND_SECRET:
		copy_text(field, value, description->size, why, sizeof(why));
		break;
	case KIND_ADDRESS: {
		const char *colon = strrchr(value, ':');

		if (value[0] == '/' ? strlen(value) >= 108 :
		    !colon || colon == value || decimal_parse(colon + 1, &number, &rest) ||
		    *rest || number == 0 || number > 65535)
			snprintf(why, sizeof(why), "is not host:port (port 1..65535) or "
				 "an absolute unix socket path shorter than 108 bytes");
		else
			copy_text(field, value, description->size, why, sizeof(why));
		break;
	}
	case KIND_DURABILITY:
		if (parse_choice(value, "written", "fsync", &choice))
			snprintf(why, sizeof(why), "is not written or fsync");
		else
			options->durability = choice ? WSET_DURABILITY_FSYNC
						     : WSET_DURABILITY_WRITTEN;
		break;
	}
	if (why[0]) {
		log_error("%s: %s: '%s' %s", origin, description->name, value, why);
		return -1;
	}
	return 0;
}

/* "tiers.NAME = ...": the chain for VMMs that introduce themselves as NAME. */
static int vmm_chain_set(struct wsetd_options *options, const char *name,
			 const char *value, const char *origin)
{
	struct wsetd_vmm_chain *entry = NULL;
	char why[160];

	if (!name[0] || strlen(name) >= sizeof(entry->name)) {
		log_error("%s: tiers.%s: a VMM name of 1..%zu bytes is needed", origin,
			  name, sizeof(entry->name) - 1);
		return -1;
	}
	for (unsigned int i = 0; i < options->vmm_chain_count; i++)
		if (strcmp(options->vmm_chains[i].name, name) == 0)
			entry = &options->vmm_chains[i];
	if (!entry && options->vmm_chain_count == WSETD_VMM_CHAINS_MAX) {
		log_error("%s: tiers.%s: more than %d VMM chains", origin, name,
			  WSETD_VMM_CHAINS_MAX);
		return -1;
	}
	if (!entry)
		entry = &options->vmm_chains[options->vmm_chain_count++];
	snprintf(entry->name, sizeof(entry->name), "%s", name);
	if (tiers_parse(value, &entry->chain, why, sizeof(why))) {
		log_error("%s: tiers.%s: '%s' %s", origin, name, value, why);
		return -1;
	}
	return 0;
}

static bool chain_has(const struct wsetd_chain *chain, enum wsetd_tier tier)
{
	for (unsigned int i = 0; i < chain->count; i++)
		if (chain->tiers[i] == tier)
			return true;
	return false;
}

/* The redis_tls_* options: files as absolute paths, and only with TLS. */
static int check_tls(const struct wsetd_options *options)
{
	const struct {
		const char *name, *value;
	} files[] = {
		{ "redis_tls_ca", options->redis_tls_ca },
		{ "redis_tls_cert", options->redis_tls_cert },
		{ "redis_tls_key", options->redis_tls_key },
	};
	int errors = 0;

	for (size_t i = 0; i < sizeof(files) / sizeof(files[0]); i++) {
		if (files[i].value[0] && files[i].value[0] != '/') {
			log_error("%s '%s' is not an absolute path", files[i].name,
				  files[i].value);
			errors++;
		}
		if (files[i].value[0] && !options->redis_tls) {
			log_error("%s is set but redis_tls is not", files[i].name);
			errors++;
		}
	}
	if (!options->redis_tls_cert[0] != !options->redis_tls_key[0]) {
		log_error("redis_tls_cert and redis_tls_key go together");
		errors++;
	}
	if (options->redis_tls && options->redis_address[0] == '/') {
		log_error("redis_tls needs redis_address as host:port, not the unix "
			  "socket '%s'", options->redis_address);
		errors++;
	}
	return errors;
}

/* What no single value can say: the chains against the other options. */
static int check_tiers(const struct wsetd_options *options)
{
	int errors = 0;

	for (unsigned int i = 0; i <= options->vmm_chain_count; i++) {
		const struct wsetd_chain *chain = i < options->vmm_chain_count ?
			&options->vmm_chains[i].chain : &options->tiers;
		const char *name = i < options->vmm_chain_count ?
			options->vmm_chains[i].name : NULL;

		if (chain_has(chain, TIER_COMPRESSED) && !options->volatile_tiers) {
			log_error("tiers%s%s: a compressed tier keeps pages in wsetd's "
				  "memory, lost if wsetd dies; set volatile_tiers = yes "
				  "to accept that", name ? "." : "", name ? name : "");
			errors++;
		}
		if (chain_has(chain, TIER_COMPRESSED) &&
		    options->durability == WSET_DURABILITY_FSYNC) {
			log_error("tiers%s%s: durability fsync cannot hold for a "
				  "compressed tier (RAM)", name ? "." : "", name ? name : "");
			errors++;
		}
	}
	if (options->redis_cluster && options->redis_address[0] == '/') {
		log_error("redis_cluster needs redis_address as host:port, not the unix "
			  "socket '%s'", options->redis_address);
		errors++;
	}
	if (options->redis_user[0] && !options->redis_password[0]) {
		log_error("redis_user '%s' needs redis_password", options->redis_user);
		errors++;
	}
	errors += check_tls(options);
	return errors;
}

static void strip(char **start)
{
	char *end;

	while (**start == ' ' || **start == '\t')
		(*start)++;
	end = *start + strlen(*start);
	while (end > *start && (end[-1] == ' ' || end[-1] == '\t' ||
				end[-1] == '\n' || end[-1] == '\r'))
		*--end = '\0';
}

/* "name = value" lines; '#' starts a comment line; blank lines are fine. */
static int load_file(const char *path, bool must_exist,
		     struct wsetd_options *options)
{
	FILE *file = fopen(path, "re");
	char line[4096];
	unsigned int number = 0;
	int errors = 0;

	if (!file) {
		if (errno == ENOENT && !must_exist)
			return 0;
		log_error("%s: cannot open: %s", path, strerror(errno));
		return -1;
	}
	while (fgets(line, sizeof(line), file)) {
		char origin[4200], *name = line, *value, *equals;
		const struct option_description *description;

		number++;
		snprintf(origin, sizeof(origin), "%s:%u", path, number);
		if (!strchr(line, '\n') && !feof(file)) {
			log_error("%s: line longer than %zu bytes", origin,
				  sizeof(line) - 2);
			errors++;
			break;
		}
		strip(&name);
		if (name[0] == '\0' || name[0] == '#')
			continue;
		equals = strchr(name, '=');
		if (!equals) {
			log_error("%s: '%s' is not 'name = value'", origin, name);
			errors++;
			continue;
		}
		*equals = '\0';
		value = equals + 1;
		strip(&name);
		strip(&value);
		if (strncmp(name, "tiers.", 6) == 0) {
			errors += vmm_chain_set(options, name + 6, value, origin) != 0;
			continue;
		}
		description = find_description(name);
		if (!description) {
			log_error("%s: unknown option '%s'", origin, name);
			errors++;
			continue;
		}
		if (option_set(options, description, value, origin))
			errors++;
	}
	fclose(file);
	return errors ? -1 : 0;
}

int options_load(const struct wsetd_command_line *command_line,
		 struct wsetd_options *options)
{
	int errors = 0;

	memset(options, 0, sizeof(*options));
	for (size_t i = 0; i < DESCRIPTION_COUNT; i++)
		if (option_set(options, &descriptions[i],
			       descriptions[i].default_value, "default"))
			errors++;
	if (command_line->config_file)
		errors += load_file(command_line->config_file, true, options) != 0;
	else
		errors += load_file(WSETD_DEFAULT_CONFIG, false, options) != 0;
	for (int i = 0; i < command_line->override_count; i++) {
		const struct option_description *description =
			find_description(command_line->override_names[i]);
		char origin[80];

		snprintf(origin, sizeof(origin), "command line");
		if (option_set(options, description,
			       command_line->override_values[i], origin))
			errors++;
	}
	if (!errors)
		errors += check_tiers(options);
	if (!errors && strcmp(options->socket, options->control_socket) == 0) {
		log_error("socket and control_socket are both '%s'", options->socket);
		errors++;
	}
	return errors ? -1 : 0;
}

/* Long option names: the table's names with '-' for '_', then our own. */
enum {
	OPTION_CONFIG = 1000,
	OPTION_CHECK_CONFIG,
	OPTION_HELP,
	OPTION_VERSION,
};

int options_parse_command_line(int argc, char **argv,
			       struct wsetd_command_line *command_line)
{
	static char names[DESCRIPTION_COUNT][64];
	struct option long_options[DESCRIPTION_COUNT + 5];
	int count = 0, choice;

	memset(command_line, 0, sizeof(*command_line));
	for (size_t i = 0; i < DESCRIPTION_COUNT; i++) {
		snprintf(names[i], sizeof(names[i]), "%s", descriptions[i].name);
		for (char *c = names[i]; *c; c++)
			if (*c == '_')
				*c = '-';
		long_options[count++] = (struct option){ names[i],
			required_argument, NULL, (int)i };
	}
	long_options[count++] = (struct option){ "config", required_argument,
						 NULL, OPTION_CONFIG };
	long_options[count++] = (struct option){ "check-config", no_argument,
						 NULL, OPTION_CHECK_CONFIG };
	long_options[count++] = (struct option){ "help", no_argument, NULL,
						 OPTION_HELP };
	long_options[count++] = (struct option){ "version", no_argument, NULL,
						 OPTION_VERSION };
	long_options[count] = (struct option){ 0 };

	optind = 1;
	opterr = 0;
	while ((choice = getopt_long(argc, argv, ":c:hV", long_options, NULL)) != -1) {
		switch (choice) {
		case 'c':
		case OPTION_CONFIG:
			command_line->config_file = optarg;
			break;
		case OPTION_CHECK_CONFIG:
			command_line->check_config = true;
			break;
		case 'h':
		case OPTION_HELP:
			command_line->help = true;
			break;
		case 'V':
		case OPTION_VERSION:
			command_line->version = true;
			break;
		case ':':
			log_error("command line: %s needs a value", argv[optind - 1]);
			return -1;
		case '?':
			log_error("command line: unknown option '%s' (see --help)",
				  argv[optind - 1]);
			return -1;
		default:
			if (command_line->override_count == 64) {
				log_error("command line: too many options");
				return -1;
			}
			command_line->override_names[command_line->override_count] =
				descriptions[choice].name;
			command_line->override_values[command_line->override_count++] =
				optarg;
			break;
		}
	}
	if (optind < argc) {
		log_error("command line: unexpected argument '%s' (see --help)",
			  argv[optind]);
		return -1;
	}
	return 0;
}

static void print_value(const struct wsetd_options *options,
			const struct option_description *description, FILE *out)
{
	const char *field = (const char *)options + description->offset;

	switch (description->kind) {
	case KIND_PATH:
		fputs(field, out);
		break;
	case KIND_UNSIGNED:
		fprintf(out, "%u", *(const unsigned int *)field);
		break;
	case KIND_BYTES:
		fprintf(out, "%llu", (unsigned long long)*(const uint64_t *)field);
		break;
	case KIND_BOOLEAN:
		fputs(*(const bool *)field ? "yes" : "no", out);
		break;
	case KIND_MODE:
		fprintf(out, "0%03o", *(const unsigned int *)field);
		break;
	case KIND_MECHANISM:
		fputs(options->mechanism == WSET_MECHANISM_AUTO ?
			      "auto" : wset_mechanism_name(options->mechanism), out);
		break;
	case KIND_UIDS:
		if (!options->allowed_uid_count)
			fputs("none", out);
		for (unsigned int i = 0; i < options->allowed_uid_count; i++)
			fprintf(out, "%s%u", i ? "," : "",
				(unsigned int)options->allowed_uids[i]);
		break;
	case KIND_LOG_LEVEL:
		fputs(log_level_name(options->log_level), out);
		break;
	case KIND_DURABILITY:
		fputs(options->durability == WSET_DURABILITY_FSYNC ? "fsync" : "written", out);
		break;
	case KIND_LAST_RESORT:
		fputs(options->last_resort == WSET_LAST_RESORT_POISON ? "poison" : "wait", out);
		break;
	case KIND_TIERS: {
		char text[64];

		tiers_format((const struct wsetd_chain *)field, text, sizeof(text));
		fputs(text, out);
		break;
	}
	case KIND_COMPRESSION:
		fputs(options->compression == WSET_COMPRESSION_ZSTD ? "zstd" : "lz4", out);
		break;
	case KIND_STRING:
	case KIND_ADDRESS:
		fputs(field, out);
		break;
	case KIND_SECRET:
		fputs(field[0] ? "(set)" : "", out);
		break;
	}
}

void options_print(const struct wsetd_options *options, FILE *out)
{
	for (size_t i = 0; i < DESCRIPTION_COUNT; i++) {
		fprintf(out, "%s = ", descriptions[i].name);
		print_value(options, &descriptions[i], out);
		fputc('\n', out);
	}
	for (unsigned int i = 0; i < options->vmm_chain_count; i++) {
		char text[64];

		tiers_format(&options->vmm_chains[i].chain, text, sizeof(text));
		fprintf(out, "tiers.%s = %s\n", options->vmm_chains[i].name, text);
	}
}

void options_print_help(FILE *out)
{
	fprintf(out,
		"usage: wsetd [OPTION]...\n"
		"Track the working set of VMMs' guest memory and evict cold pages.\n"
		"\n"
		"  -c, --config FILE     configuration file (default %s)\n"
		"      --check-config    validate the configuration, print it, exit\n"
		"  -h, --help            this text\n"
		"  -V, --version         print the version\n"
		"\n"
		"Every configuration option can be given on the command line as\n"
		"--NAME VALUE (underscores as dashes); it overrides the file:\n",
		WSETD_DEFAULT_CONFIG);
	for (size_t i = 0; i < DESCRIPTION_COUNT; i++) {
		char name[64];

		snprintf(name, sizeof(name), "%s", descriptions[i].name);
		for (char *c = name; *c; c++)
			if (*c == '_')
				*c = '-';
		fprintf(out, "  --%-22s %s (default %s)\n", name,
			descriptions[i].help, descriptions[i].default_value);
	}
	fprintf(out, "\nSee wsetd(8) for the handshake, signals and exit codes.\n");
}

void options_policy(const struct wsetd_options *options,
		    struct wset_policy *policy)
{
	struct wset_policy initial = WSET_POLICY_INIT;

	*policy = initial;
	policy->enabled = options->evict;
	policy->min_idle_age = options->min_idle_age;
	policy->resident_target = options->resident_target;
	policy->max_evict_rate = options->max_evict_rate;
}
