// SPDX-License-Identifier: MIT
/* wsetctl plot: WSS, residency and evicted memory over time, as a PNG
 * rendered by gnuplot. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "client.h"
#include "commands.h"
#include "exit_codes.h"
#include "format.h"

/* Where each column of a history sample row is (history.c in wsetd). */
enum { TIME, WSS, RESIDENT, COLD, EVICTED };

static json_object *read_history_file(const char *path)
{
	json_object *history = json_object_from_file(path);

	if (!history)
		fprintf(stderr, "wsetctl plot: %s: not a history file (%s)\n", path,
			json_util_get_last_err());
	return history;
}

static double row_value(json_object *row, int column)
{
	return (double)json_object_get_uint64(json_object_array_get_idx(row, column));
}

/* Write one VMM's samples as "seconds wss resident cold evicted" in MiB. */
static int write_data(json_object *vmm, const char *path, double origin_ms)
{
	json_object *history, *samples;
	FILE *out = fopen(path, "we");
	size_t count;

	if (!out)
		return -1;
	json_object_object_get_ex(vmm, "history", &history);
	json_object_object_get_ex(history, "samples", &samples);
	count = json_object_array_length(samples);
	for (size_t i = 0; i < count; i++) {
		json_object *row = json_object_array_get_idx(samples, i);

		fprintf(out, "%.3f %.3f %.3f %.3f %.3f\n",
			(row_value(row, TIME) - origin_ms) / 1000,
			row_value(row, WSS) / 1048576, row_value(row, RESIDENT) / 1048576,
			row_value(row, COLD) / 1048576, row_value(row, EVICTED) / 1048576);
	}
	return fclose(out);
}

/* The earliest sample of all VMMs: time 0 of the plot. */
static double origin(json_object *vmms)
{
	double earliest = 0;

	for (size_t i = 0; i < json_object_array_length(vmms); i++) {
		json_object *history, *samples, *row;

		json_object_object_get_ex(json_object_array_get_idx(vmms, i), "history",
					  &history);
		json_object_object_get_ex(history, "samples", &samples);
		row = json_object_array_get_idx(samples, 0);
		if (row && (earliest == 0 || row_value(row, TIME) < earliest))
			earliest = row_value(row, TIME);
	}
	return earliest;
}

static int render(json_object *vmms, const char *directory, const char *output)
{
	size_t count = json_object_array_length(vmms);
	double start = origin(vmms);
	FILE *gnuplot;
	int status;

	for (size_t i = 0; i < count; i++) {
		char path[4200];

		snprintf(path, sizeof(path), "%s/vmm%zu.dat", directory, i);
		if (write_data(json_object_array_get_idx(vmms, i), path, start)) {
			fprintf(stderr, "wsetctl plot: %s: %s\n", path, strerror(errno));
			return WSETCTL_EXIT_PLOT;
		}
	}
	gnuplot = popen("gnuplot", "w");
	if (!gnuplot) {
		fprintf(stderr, "wsetctl plot: cannot run gnuplot: %s\n", strerror(errno));
		return WSETCTL_EXIT_PLOT;
	}
	fprintf(gnuplot,
		"set terminal pngcairo size 1100,620 font 'sans,10'\n"
		"set output '%s'\n"
		"set title 'wset: working set and residency of guest memory'\n"
		"set xlabel 'time (s)'\nset ylabel 'MiB'\n"
		"set grid\nset key outside right top\nset yrange [0:*]\n",
		output);
	fprintf(gnuplot, "plot ");
	for (size_t i = 0; i < count; i++) {
		json_object *vmm = json_object_array_get_idx(vmms, i), *name;
		const char *label;

		json_object_object_get_ex(vmm, "name", &name);
		label = name ? json_object_get_string(name) : "?";
		fprintf(gnuplot,
			"%s'%s/vmm%zu.dat' using 1:2 with lines lw 2 title '%s WSS', "
			"'' using 1:3 with lines lw 2 title '%s resident', "
			"'' using 1:5 with lines lw 1 dt 2 title '%s evicted', "
			"'' using 1:4 with lines lw 1 dt 3 title '%s cold'",
			i ? ", " : "", directory, i, label, label, label, label);
	}
	fprintf(gnuplot, "\n");
	status = pclose(gnuplot);
	if (status == -1 || !WIFEXITED(status) || WEXITSTATUS(status) != 0) {
		fprintf(stderr, "wsetctl plot: gnuplot failed (is gnuplot installed?)\n");
		return WSETCTL_EXIT_PLOT;
	}
	return WSETCTL_EXIT_OK;
}

int command_plot(int argc, char **argv)
{
	const char *output = "wset.png", *input = NULL;
	char directory[] = "/tmp/wsetctl-plot.XXXXXX";
	json_object *answer, *vmms;
	long vmm = 0;
	int choice, exit_code;

	optind = 0;
	while ((choice = getopt(argc, argv, "o:i:")) != -1) {
		switch (choice) {
		case 'o':
			output = optarg;
			break;
		case 'i':
			input = optarg;
			break;
		default:
			return WSETCTL_EXIT_USAGE;
		}
	}
	if (optind < argc && (vmm = parse_vmm(argv[optind++])) < 0)
		return WSETCTL_EXIT_USAGE;
	if (optind < argc || strchr(output, '\'')) {
		fprintf(stderr, "wsetctl plot: usage: plot [-o FILE.png] [-i HISTORY.json] [VMM]\n");
		return WSETCTL_EXIT_USAGE;
	}
	if (input) {
		answer = read_history_file(input);
		exit_code = WSETCTL_EXIT_USAGE;
	} else {
		answer = client_exchange(client_request_for("history", vmm), &exit_code);
	}
	if (!answer)
		return exit_code;
	if (!json_object_object_get_ex(answer, "vmms", &vmms) ||
	    !json_object_is_type(vmms, json_type_array) ||
	    json_object_array_length(vmms) == 0) {
		fprintf(stderr, "wsetctl plot: no VMM history to plot\n");
		json_object_put(answer);
		return WSETCTL_EXIT_REFUSED;
	}
	if (input && vmm > 0) {
		json_object *kept = json_object_new_array();

		for (size_t i = 0; i < json_object_array_length(vmms); i++) {
			json_object *entry = json_object_array_get_idx(vmms, i);

			if ((long)json_member_u64(entry, "id") == vmm)
				json_object_array_add(kept, json_object_get(entry));
		}
		json_object_object_add(answer, "vmms", kept);
		vmms = kept;
	}
	if (!mkdtemp(directory)) {
		fprintf(stderr, "wsetctl plot: mkdtemp: %s\n", strerror(errno));
		json_object_put(answer);
		return WSETCTL_EXIT_PLOT;
	}
	exit_code = render(vmms, directory, output);
	for (size_t i = 0; i < json_object_array_length(vmms); i++) {
		char path[4200];

		snprintf(path, sizeof(path), "%s/vmm%zu.dat", directory, i);
		unlink(path);
	}
	rmdir(directory);
	json_object_put(answer);
	if (exit_code == WSETCTL_EXIT_OK)
		printf("wrote %s\n", output);
	return exit_code;
}
