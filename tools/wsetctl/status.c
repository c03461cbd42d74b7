// SPDX-License-Identifier: MIT
/* wsetctl status, top, metrics and history. */
#include <getopt.h>
#include <stdbool.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "client.h"
#include "commands.h"
#include "exit_codes.h"
#include "format.h"

long parse_vmm(const char *text)
{
	char *end;
	long id;

	if (strcmp(text, "all") == 0)
		return 0;
	id = strtol(text, &end, 10);
	if (*end || id < 1 || text[0] < '0' || text[0] > '9') {
		fprintf(stderr, "wsetctl: '%s' is not a VMM id (a number, or all)\n", text);
		return -1;
	}
	return id;
}

int command_status(int argc, char **argv)
{
	static const struct option options[] = {
		{ "json", no_argument, NULL, 'j' },
		{ 0 },
	};
	bool as_json = false;
	json_object *answer;
	long vmm = 0;
	int choice, exit_code;

	optind = 0;
	while ((choice = getopt_long(argc, argv, "j", options, NULL)) != -1) {
		if (choice != 'j')
			return WSETCTL_EXIT_USAGE;
		as_json = true;
	}
	if (optind < argc && (vmm = parse_vmm(argv[optind++])) < 0)
		return WSETCTL_EXIT_USAGE;
	if (optind < argc) {
		fprintf(stderr, "wsetctl status: unexpected '%s'\n", argv[optind]);
		return WSETCTL_EXIT_USAGE;
	}
	answer = client_exchange(client_request("status"), &exit_code);
	if (!answer)
		return exit_code;
	if (vmm > 0) {
		/* Keep only the VMM asked for. */
		json_object *vmms, *kept = json_object_new_array();

		json_object_object_get_ex(answer, "vmms", &vmms);
		for (size_t i = 0; i < json_object_array_length(vmms); i++) {
			json_object *entry = json_object_array_get_idx(vmms, i);

			if ((long)json_member_u64(entry, "id") == vmm)
				json_object_array_add(kept, json_object_get(entry));
		}
		json_object_object_add(answer, "vmms", kept);
		if (json_object_array_length(kept) == 0) {
			fprintf(stderr, "wsetctl: no VMM %ld\n", vmm);
			json_object_put(answer);
			return WSETCTL_EXIT_REFUSED;
		}
	}
	if (as_json)
		printf("%s\n", json_object_to_json_string_ext(answer, JSON_C_TO_STRING_PRETTY));
	else
		format_status_table(answer, stdout);
	json_object_put(answer);
	return WSETCTL_EXIT_OK;
}

static volatile sig_atomic_t top_stop;

static void stop_top(int signal_number)
{
	(void)signal_number;
	top_stop = 1;
}

static json_object *find_vmm(json_object *status, uint64_t id)
{
	json_object *vmms;

	if (!json_object_object_get_ex(status, "vmms", &vmms))
		return NULL;
	for (size_t i = 0; i < json_object_array_length(vmms); i++)
		if (json_member_u64(json_object_array_get_idx(vmms, i), "id") == id)
			return json_object_array_get_idx(vmms, i);
	return NULL;
}

/* Rates since the previous refresh, a line per VMM seen both times. */
static void print_rates(json_object *before, json_object *after)
{
	json_object *vmms, *about_before, *about_after;
	double seconds;

	json_object_object_get_ex(before, "daemon", &about_before);
	json_object_object_get_ex(after, "daemon", &about_after);
	seconds = (double)(json_member_u64(about_after, "uptime_ms") -
			   json_member_u64(about_before, "uptime_ms")) / 1000;
	if (seconds <= 0 || !json_object_object_get_ex(after, "vmms", &vmms))
		return;
	printf("\n%-4s %10s %10s %12s %12s   (pages per second)\n", "VMM", "FAULTS/S",
	       "REFAULTS/S", "EVICTIONS/S", "PREFETCHES/S");
	for (size_t i = 0; i < json_object_array_length(vmms); i++) {
		json_object *now = json_object_array_get_idx(vmms, i);
		json_object *then = find_vmm(before, json_member_u64(now, "id"));
		if (!then)
			continue;
#define RATE(key) ((double)(json_member_u64(now, key) - json_member_u64(then, key)) / seconds)
		printf("%-4llu %10.0f %10.0f %12.0f %12.0f\n",
		       (unsigned long long)json_member_u64(now, "id"), RATE("faults"),
		       RATE("refaults"), RATE("evictions"), RATE("prefetches"));
#undef RATE
	}
}

int command_top(int argc, char **argv)
{
	double delay = 1.0;
	long iterations = -1;
	int choice;

	optind = 0;
	while ((choice = getopt(argc, argv, "d:n:")) != -1) {
		char *end;

		switch (choice) {
		case 'd':
			delay = strtod(optarg, &end);
			if (*end || delay < 0.1 || delay > 3600) {
				fprintf(stderr, "wsetctl top: -d '%s': expected 0.1 to 3600 seconds\n",
					optarg);
				return WSETCTL_EXIT_USAGE;
			}
			break;
		case 'n':
			iterations = strtol(optarg, &end, 10);
			if (*end || iterations < 1) {
				fprintf(stderr, "wsetctl top: -n '%s': expected a positive count\n",
					optarg);
				return WSETCTL_EXIT_USAGE;
			}
			break;
		default:
			return WSETCTL_EXIT_USAGE;
		}
	}
	signal(SIGINT, stop_top);
	signal(SIGTERM, stop_top);
	json_object *previous = NULL;
	while (!top_stop && iterations != 0) {
		int exit_code;
		json_object *answer = client_exchange(client_request("status"), &exit_code);
		json_object *daemon;
		char now[32];
		time_t clock = time(NULL);

		if (!answer)
			return exit_code;
		strftime(now, sizeof(now), "%H:%M:%S", localtime(&clock));
		json_object_object_get_ex(answer, "daemon", &daemon);
		/* Clear the screen only on a terminal, so the output can be logged. */
		if (isatty(STDOUT_FILENO))
			fputs("\033[H\033[2J", stdout);
		printf("wsetd pid %llu, %llu VMMs, up %llus - %s (every %.1fs, ^C to quit)\n\n",
		       (unsigned long long)json_member_u64(daemon, "pid"),
		       (unsigned long long)json_member_u64(daemon, "vmms"),
		       (unsigned long long)json_member_u64(daemon, "uptime_ms") / 1000,
		       now, delay);
		format_status_table(answer, stdout);
		if (previous)
			print_rates(previous, answer);
		fflush(stdout);
		json_object_put(previous);
		previous = answer;
		if (iterations > 0 && --iterations == 0)
			break;
		struct timespec pause = { (time_t)delay,
					  (long)((delay - (double)(time_t)delay) * 1e9) };
		nanosleep(&pause, NULL);
	}
	json_object_put(previous);
	return WSETCTL_EXIT_OK;
}

int command_metrics(int argc, char **argv)
{
	char *text;

	(void)argv;
	if (argc > 1) {
		fprintf(stderr, "wsetctl metrics: takes no arguments\n");
		return WSETCTL_EXIT_USAGE;
	}
	text = client_exchange_text(client_request("metrics"));
	if (!text)
		return WSETCTL_EXIT_CONNECT;
	fputs(text, stdout);
	free(text);
	return WSETCTL_EXIT_OK;
}

int command_history(int argc, char **argv)
{
	json_object *answer;
	long vmm = 0;
	int exit_code;

	if (argc > 2) {
		fprintf(stderr, "wsetctl history: takes at most a VMM id\n");
		return WSETCTL_EXIT_USAGE;
	}
	if (argc == 2 && (vmm = parse_vmm(argv[1])) < 0)
		return WSETCTL_EXIT_USAGE;
	answer = client_exchange(client_request_for("history", vmm), &exit_code);
	if (!answer)
		return exit_code;
	printf("%s\n", json_object_to_json_string_ext(answer, JSON_C_TO_STRING_PLAIN));
	json_object_put(answer);
	return WSETCTL_EXIT_OK;
}
