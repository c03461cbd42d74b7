// SPDX-License-Identifier: MIT
/*
 * wsetd's configuration: --check-config accepts good values, refuses bad
 * ones with exit status 2 and a message naming the option and the value,
 * and the command line overrides the file.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "agent_test.h"

static char directory[] = "/tmp/wsetd-config.XXXXXX";
static char output_path[128], config_path[128];

/* Run wsetd with arguments; returns the exit status, output in buffer. */
static int run(const char *const *arguments, char *buffer, size_t size)
{
	FILE *file;
	size_t length;
	int status;

	unlink(output_path);
	status = wait_exit(spawn_tool("wsetd", arguments, output_path), 10000);
	file = fopen(output_path, "r");
	length = file ? fread(buffer, 1, size - 1, file) : 0;
	buffer[length] = '\0';
	if (file)
		fclose(file);
	return status;
}

static void write_config(const char *text)
{
	FILE *file = fopen(config_path, "w");

	if (file) {
		fputs(text, file);
		fclose(file);
	}
}

struct bad_value {
	const char *option;
	const char *value;
	const char *expected;
};

static const struct bad_value bad_values[] = {
	{ "--interval-ms", "0", "interval_ms: '0' is out of range 10..3600000" },
	{ "--interval-ms", "12abc", "interval_ms: '12abc' is not a decimal number" },
	{ "--interval-ms", "-5", "interval_ms: '-5' is not a decimal number" },
	{ "--fault-threads", "65", "fault_threads: '65' is out of range 1..64" },
	{ "--mechanism", "fast", "mechanism: 'fast' is not auto, rwp or wp" },
	{ "--socket", "relative.sock", "socket: 'relative.sock' is not an absolute path" },
	{ "--resident-target", "5X", "resident_target: '5X' is not a size" },
	{ "--max-evict-rate", "99999999999999999999", "max_evict_rate: '99999999999999999999' is not a size" },
	{ "--evict", "maybe", "evict: 'maybe' is not yes or no" },
	{ "--socket-mode", "999", "socket_mode: '999' is not an octal mode" },
	{ "--allowed-uids", "1000,bob", "allowed_uids: '1000,bob' expected numeric uids" },
	{ "--log-level", "loud", "log_level: 'loud' is not error, warning" },
	{ "--tiers", "disk", "tiers: 'disk' names a tier other than compressed, file or redis" },
	{ "--tiers", "redis,file", "tiers: 'redis,file' has file after redis: tiers go fastest first" },
	{ "--tiers", "file,file", "tiers: 'file,file' has file after file" },
	{ "--tiers", "compressed", "a compressed tier keeps pages in wsetd's memory" },
	{ "--compression", "gzip", "compression: 'gzip' is not lz4 or zstd" },
	{ "--redis-address", "localhost", "redis_address: 'localhost' is not host:port" },
	{ "--redis-address", "db:70000", "redis_address: 'db:70000' is not host:port" },
	{ "--redis-user", "bob", "redis_user 'bob' needs redis_password" },
	{ "--redis-tls-ca", "ca.pem", "redis_tls_ca 'ca.pem' is not an absolute path" },
	{ "--redis-tls-ca", "/etc/ca.pem", "redis_tls_ca is set but redis_tls is not" },
	{ "--redis-tls-key", "/etc/client.key", "redis_tls_cert and redis_tls_key go together" },
	{ "--file-capacity", "2Q", "file_capacity: '2Q' is not a size" },
};

int main(void)
{
	char output[8192];
	int status;

	if (!mkdtemp(directory)) {
		tap_ok(false, "scratch directory");
		return tap_done();
	}
	snprintf(output_path, sizeof(output_path), "%s/output", directory);
	snprintf(config_path, sizeof(config_path), "%s/wsetd.conf", directory);
	write_config("");

	{
		const char *const arguments[] = { "--config", config_path, "--check-config", NULL };

		status = run(arguments, output, sizeof(output));
		tap_ok(status == 0 && strstr(output, "interval_ms = 1000") &&
			       strstr(output, "mechanism = auto") && strstr(output, "evict = no"),
		       "defaults are valid and printed");
	}
	for (size_t i = 0; i < sizeof(bad_values) / sizeof(bad_values[0]); i++) {
		const char *const arguments[] = { "--config", config_path, "--check-config",
						  bad_values[i].option, bad_values[i].value, NULL };

		status = run(arguments, output, sizeof(output));
		if (!tap_ok(status == 2 && strstr(output, bad_values[i].expected),
			    "%s %s: exit 2, saying \"%s\"", bad_values[i].option,
			    bad_values[i].value, bad_values[i].expected))
			tap_diag("status %d, output: %s", status, output);
	}
	{
		const char *const arguments[] = { "--config", config_path, "--check-config",
						  "--resident-target", "2G", "--allowed-uids",
						  "1000,1001", "--socket-mode", "0600", NULL };

		status = run(arguments, output, sizeof(output));
		tap_ok(status == 0 && strstr(output, "resident_target = 2147483648") &&
			       strstr(output, "allowed_uids = 1000,1001") &&
			       strstr(output, "socket_mode = 0600"),
		       "sizes, uid lists and modes are parsed");
	}
	{
		const char *const arguments[] = { "--config", config_path, "--check-config",
						  "--interval-ms", "300", NULL };

		write_config("# comment\n\ninterval_ms = 250\n  min_idle_age=9  \n");
		status = run(arguments, output, sizeof(output));
		tap_ok(status == 0 && strstr(output, "interval_ms = 300") &&
			       strstr(output, "min_idle_age = 9"),
		       "the command line overrides the file, the file the defaults");
	}
	{
		const char *const arguments[] = { "--config", config_path, "--check-config", NULL };

		write_config("interval_ms = 250\nnonsense\ncolour = blue\nwss_age = 300\n");
		status = run(arguments, output, sizeof(output));
		tap_ok(status == 2 && strstr(output, "wsetd.conf:2: 'nonsense' is not 'name = value'") &&
			       strstr(output, "wsetd.conf:3: unknown option 'colour'") &&
			       strstr(output, "wsetd.conf:4: wss_age: '300' is out of range 1..255"),
		       "every bad line of the file is reported with its line number");
	}
	{
		const char *const arguments[] = { "--config", config_path, "--check-config", NULL };

		write_config("volatile_tiers = yes\ntiers = compressed,redis\n"
			     "tiers.db = file,redis\ntiers.web = file,compressed\n"
			     "redis_password = hunter2\n");
		status = run(arguments, output, sizeof(output));
		tap_ok(status == 2 && strstr(output, "wsetd.conf:4: tiers.web: 'file,compressed' "
					     "has compressed after file"),
		       "a bad per-VMM chain is reported with its line number");
		write_config("volatile_tiers = yes\ntiers = compressed,redis\n"
			     "tiers.db = file,redis\nredis_password = hunter2\n");
		status = run(arguments, output, sizeof(output));
		tap_ok(status == 0 && strstr(output, "tiers = compressed,redis") &&
			       strstr(output, "tiers.db = file,redis") &&
			       strstr(output, "redis_password = (set)") && !strstr(output, "hunter2"),
		       "tier chains, default and per VMM, are parsed; the password is not printed");
	}
	{
		const char *const arguments[] = { "--config", "/nonexistent/wsetd.conf",
						  "--check-config", NULL };

		status = run(arguments, output, sizeof(output));
		tap_ok(status == 2 && strstr(output, "/nonexistent/wsetd.conf: cannot open"),
		       "a missing configuration file named on the command line is an error");
	}
	{
		const char *const arguments[] = { "--config", config_path, "--check-config",
						  "--socket", "/tmp/same.sock", "--control-socket",
						  "/tmp/same.sock", NULL };

		write_config("");
		status = run(arguments, output, sizeof(output));
		tap_ok(status == 2 && strstr(output, "socket and control_socket are both"),
		       "the two sockets must differ");
	}
	{
		const char *const arguments[] = { "--bogus", "1", NULL };

		status = run(arguments, output, sizeof(output));
		tap_ok(status == 2 && strstr(output, "unknown option '--bogus'"),
		       "an unknown option is named");
	}
	{
		const char *const arguments[] = { "--config", config_path, "--interval-ms", NULL };

		status = run(arguments, output, sizeof(output));
		tap_ok(status == 2 && strstr(output, "--interval-ms needs a value"),
		       "an option without its value is named");
	}
	{
		const char *const arguments[] = { "--config", config_path, "stray", NULL };

		status = run(arguments, output, sizeof(output));
		tap_ok(status == 2 && strstr(output, "unexpected argument 'stray'"),
		       "a stray argument is named");
	}
	{
		const char *const arguments[] = { "--help", NULL };

		status = run(arguments, output, sizeof(output));
		tap_ok(status == 0 && strstr(output, "--check-config") &&
			       strstr(output, "--min-idle-age"),
		       "--help lists the options");
	}
	{
		char command[200];

		snprintf(command, sizeof(command), "rm -rf '%s'", directory);
		if (system(command) != 0)
			tap_diag("could not remove %s", directory);
	}
	return tap_done();
}
