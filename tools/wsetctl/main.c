// SPDX-License-Identifier: MIT
/* wsetctl: query and control a running wsetd.  See wsetctl(1). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "client.h"
#include "commands.h"
#include "exit_codes.h"

static const struct {
	const char *name;
	int (*run)(int argc, char **argv);
	const char *usage;
} commands[] = {
	{ "status", command_status, "status [--json] [VMM]   a table per VMM" },
	{ "top", command_top, "top [-d SECONDS] [-n COUNT] the table, refreshed" },
	{ "metrics", command_metrics, "metrics                 Prometheus text" },
	{ "history", command_history, "history [VMM]           samples as JSON" },
	{ "plot", command_plot, "plot [-o FILE.png] [-i HISTORY.json] [VMM]" },
	{ "set", command_set, "set VMM|all KEY=VALUE... evict, min_idle_age, "
			      "resident_target, max_evict_rate" },
	{ "evict", command_evict, "evict VMM [min_age=N] [max_bytes=SIZE]" },
	{ "restore", command_restore, "restore VMM|all         fetch every page back" },
};

static void usage(FILE *out)
{
	fprintf(out, "usage: wsetctl [-s CONTROL_SOCKET] COMMAND [ARGUMENTS]\n"
		     "Query and control wsetd (default socket %s,\n"
		     "or $WSETD_CONTROL_SOCKET).\n\nCommands:\n", WSETCTL_DEFAULT_SOCKET);
	for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
		fprintf(out, "  %s\n", commands[i].usage);
}

int main(int argc, char **argv)
{
	const char *environment = getenv("WSETD_CONTROL_SOCKET");
	int choice;

	if (environment && *environment)
		client_socket_path = environment;
	/* Options before the command only ('+'): the rest belong to it. */
	while ((choice = getopt(argc, argv, "+s:h")) != -1) {
		switch (choice) {
		case 's':
			client_socket_path = optarg;
			break;
		case 'h':
			usage(stdout);
			return WSETCTL_EXIT_OK;
		default:
			usage(stderr);
			return WSETCTL_EXIT_USAGE;
		}
	}
	if (optind >= argc) {
		usage(stderr);
		return WSETCTL_EXIT_USAGE;
	}
	if (strcmp(argv[optind], "help") == 0 || strcmp(argv[optind], "--help") == 0) {
		usage(stdout);
		return WSETCTL_EXIT_OK;
	}
	for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
		if (strcmp(argv[optind], commands[i].name) == 0)
			return commands[i].run(argc - optind, argv + optind);
	fprintf(stderr, "wsetctl: unknown command '%s'\n", argv[optind]);
	usage(stderr);
	return WSETCTL_EXIT_USAGE;
}
