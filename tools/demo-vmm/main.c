// SPDX-License-Identifier: MIT
/*
 * wset-demo-vmm: stands in for a VMM and its guest.  It maps guest memory
 * (anonymous or a memfd), hands it to wsetd like a real VMM would, runs a
 * skewed workload whose hot set moves, and checks every page it reads.
 * When wsetd lets go (it stopped, or the run ended) it checks that every
 * page is back and holds the last data written.  See wset-demo-vmm(1).
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "guest_memory.h"
#include "handover.h"
#include "link.h"
#include "size.h"
#include "workload.h"

enum demo_exit {
	DEMO_EXIT_OK = 0,      /* every page verified */
	DEMO_EXIT_DATA = 1,    /* a page was lost or held wrong data */
	DEMO_EXIT_USAGE = 2,
	DEMO_EXIT_SETUP = 3,   /* memory or the handover to wsetd failed */
};

struct demo_options {
	const char *socket;
	const char *name;
	uint64_t memory;
	enum guest_backing backing;
	int regions;
	bool use_wsetd;
	bool reconnect;
	const char *progress_path;
	struct workload_options workload;
};

static void usage(FILE *out)
{
	fprintf(out,
		"usage: wset-demo-vmm [OPTION]...\n"
		"  --socket PATH        wsetd's VMM socket (default $WSETD_SOCKET or\n"
		"                       /run/wsetd/wsetd.sock)\n"
		"  --name NAME          name shown by wsetctl (default demo)\n"
		"  --memory SIZE        guest memory, e.g. 256M (default 256M)\n"
		"  --backing KIND       memfd or anon (default memfd)\n"
		"  --regions N          memory regions, 1 to %d (default 2)\n"
		"  --duration SECONDS   run time; 0: until wsetd lets go or SIGTERM\n"
		"                       (default 60)\n"
		"  --rate N             page accesses per second (default 20000)\n"
		"  --hot PERCENT        size of the hot window (default 10)\n"
		"  --cold-accesses PERCENT  accesses anywhere in memory (default 1)\n"
		"  --writes PERCENT     accesses that write (default 20)\n"
		"  --phase SECONDS      the hot window moves every (default 10)\n"
		"  --report SECONDS     progress line every (default 2)\n"
		"  --seed N             random seed (default 1)\n"
		"  --no-wsetd           keep the memory to itself (baseline)\n"
		"  --reconnect          when wsetd goes away without releasing the\n"
		"                       memory, reconnect until it is back\n"
		"  --progress FILE      keep accesses done and the time of the last\n"
		"                       in FILE (two native 64-bit words)\n"
		"Exit: 0 all data verified, 1 lost or wrong data, 2 usage, 3 setup.\n",
		GUEST_MAX_REGIONS);
}

static int parse_number(const char *name, const char *text, double minimum,
			double maximum, double *value)
{
	char *end;

	*value = strtod(text, &end);
	if (*end || end == text || *value < minimum || *value > maximum) {
		fprintf(stderr, "wset-demo-vmm: --%s '%s': expected %g to %g\n", name,
			text, minimum, maximum);
		return -1;
	}
	return 0;
}

static int parse_memory(const char *text, uint64_t *bytes)
{
	if (size_parse(text, bytes) || *bytes < (1 << 20) || *bytes > (64ull << 30)) {
		fprintf(stderr, "wset-demo-vmm: --memory '%s': expected 1M to 64G\n", text);
		return -1;
	}
	return 0;
}

static int parse_options(int argc, char **argv, struct demo_options *options)
{
	static const struct option long_options[] = {
		{ "socket", required_argument, NULL, 's' },
		{ "name", required_argument, NULL, 'N' },
		{ "memory", required_argument, NULL, 'm' },
		{ "backing", required_argument, NULL, 'b' },
		{ "regions", required_argument, NULL, 'r' },
		{ "duration", required_argument, NULL, 'd' },
		{ "rate", required_argument, NULL, 'R' },
		{ "hot", required_argument, NULL, 'H' },
		{ "cold-accesses", required_argument, NULL, 'C' },
		{ "writes", required_argument, NULL, 'w' },
		{ "phase", required_argument, NULL, 'p' },
		{ "report", required_argument, NULL, 'P' },
		{ "seed", required_argument, NULL, 'S' },
		{ "no-wsetd", no_argument, NULL, 'n' },
		{ "reconnect", no_argument, NULL, 'c' },
		{ "progress", required_argument, NULL, 'g' },
		{ "help", no_argument, NULL, 'h' },
		{ 0 },
	};
	double value;
	int choice;

	while ((choice = getopt_long(argc, argv, "h", long_options, NULL)) != -1) {
		switch (choice) {
		case 's': options->socket = optarg; break;
		case 'N': options->name = optarg; break;
		case 'm':
			if (parse_memory(optarg, &options->memory))
				return -1;
			break;
		case 'b':
			if (strcmp(optarg, "memfd") == 0)
				options->backing = GUEST_MEMFD;
			else if (strcmp(optarg, "anon") == 0)
				options->backing = GUEST_ANONYMOUS;
			else {
				fprintf(stderr, "wset-demo-vmm: --backing '%s': memfd or anon\n",
					optarg);
				return -1;
			}
			break;
		case 'r':
			if (parse_number("regions", optarg, 1, GUEST_MAX_REGIONS, &value))
				return -1;
			options->regions = (int)value;
			break;
		case 'd':
			if (parse_number("duration", optarg, 0, 86400,
					 &options->workload.duration_s))
				return -1;
			break;
		case 'R':
			if (parse_number("rate", optarg, 1, 1e8, &options->workload.rate))
				return -1;
			break;
		case 'H':
			if (parse_number("hot", optarg, 0.01, 100, &value))
				return -1;
			options->workload.hot_fraction = value / 100;
			break;
		case 'C':
			if (parse_number("cold-accesses", optarg, 0, 100, &value))
				return -1;
			options->workload.cold_accesses = value / 100;
			break;
		case 'w':
			if (parse_number("writes", optarg, 0, 100, &value))
				return -1;
			options->workload.write_fraction = value / 100;
			break;
		case 'p':
			if (parse_number("phase", optarg, 0.1, 86400, &options->workload.phase_s))
				return -1;
			break;
		case 'P':
			if (parse_number("report", optarg, 0.1, 86400, &options->workload.report_s))
				return -1;
			break;
		case 'S':
			if (parse_number("seed", optarg, 0, 1e18, &value))
				return -1;
			options->workload.seed = (uint64_t)value;
			break;
		case 'n': options->use_wsetd = false; break;
		case 'c': options->reconnect = true; break;
		case 'g': options->progress_path = optarg; break;
		case 'h':
			usage(stdout);
			exit(DEMO_EXIT_OK);
		default:
			usage(stderr);
			return -1;
		}
	}
	if (optind < argc) {
		fprintf(stderr, "wset-demo-vmm: unexpected argument '%s'\n", argv[optind]);
		return -1;
	}
	if (options->memory % ((uint64_t)options->regions * GUEST_PAGE_SIZE)) {
		fprintf(stderr, "wset-demo-vmm: --memory must split into %d regions of "
				"whole pages\n", options->regions);
		return -1;
	}
	return 0;
}

/* After the run: every page must be resident (if wsetd let go) and hold the
 * last version written. */
static int final_check(struct guest_memory *memory, bool released)
{
	uint64_t missing = released ? guest_memory_missing_pages(memory) : 0, bad = 0;

	if (missing)
		fprintf(stderr, "demo-vmm: FAIL: %llu pages were not returned by wsetd\n",
			(unsigned long long)missing);
	for (uint64_t page = 0; page < memory->pages; page++)
		bad += !guest_page_verify(memory, page);
	if (bad)
		fprintf(stderr, "demo-vmm: FAIL: %llu of %llu pages hold wrong data\n",
			(unsigned long long)bad, (unsigned long long)memory->pages);
	else
		printf("demo-vmm: all %llu pages verified%s\n",
		       (unsigned long long)memory->pages,
		       released ? " (every page resident after wsetd let go)" : "");
	return missing || bad ? DEMO_EXIT_DATA : DEMO_EXIT_OK;
}

/* The progress file: created, two words, mapped shared. */
static int open_progress(struct demo_options *options)
{
	int fd = open(options->progress_path, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	void *words;

	if (fd < 0 || ftruncate(fd, 2 * sizeof(uint64_t))) {
		fprintf(stderr, "wset-demo-vmm: --progress '%s': %s\n", options->progress_path,
			strerror(errno));
		if (fd >= 0)
			close(fd);
		return -1;
	}
	words = mmap(NULL, 2 * sizeof(uint64_t), PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	close(fd);
	if (words == MAP_FAILED) {
		fprintf(stderr, "wset-demo-vmm: --progress: mmap: %s\n", strerror(errno));
		return -1;
	}
	options->workload.progress = words;
	return 0;
}

static void on_stop_signal(int signal_number)
{
	(void)signal_number;
	workload_request_stop();
}

int main(int argc, char **argv)
{
	struct demo_options options = {
		.socket = getenv("WSETD_SOCKET") ? getenv("WSETD_SOCKET") :
						   "/run/wsetd/wsetd.sock",
		.name = "demo",
		.memory = 256ull << 20,
		.backing = GUEST_MEMFD,
		.regions = 2,
		.use_wsetd = true,
		.workload = {
			.duration_s = 60, .rate = 20000, .hot_fraction = 0.10,
			.cold_accesses = 0.01, .write_fraction = 0.20, .phase_s = 10,
			.report_s = 2, .seed = 1,
		},
	};
	struct handover_region regions[GUEST_MAX_REGIONS];
	struct handover_result handed = { .socket_fd = -1, .uffd = -1 };
	struct agent_link link = { 0 };
	struct workload_result result;
	struct guest_memory memory;
	int ret, status;

	if (parse_options(argc, argv, &options))
		return DEMO_EXIT_USAGE;
	/* TERM and INT end the run early; every page is still verified. */
	{
		struct sigaction stop = { .sa_handler = on_stop_signal };

		sigaction(SIGTERM, &stop, NULL);
		sigaction(SIGINT, &stop, NULL);
	}
	setvbuf(stdout, NULL, _IOLBF, 0);
	ret = guest_memory_create(&memory, options.backing, options.memory, options.regions);
	if (ret < 0) {
		fprintf(stderr, "wset-demo-vmm: guest memory: %s\n", strerror(-ret));
		return DEMO_EXIT_SETUP;
	}
	printf("demo-vmm: pid %d, %llu MiB of %s guest memory in %d regions\n",
	       (int)getpid(), (unsigned long long)(options.memory >> 20),
	       options.backing == GUEST_MEMFD ? "memfd" : "anonymous", options.regions);
	if (options.use_wsetd) {
		guest_memory_regions(&memory, regions);
		if (handover(options.socket, options.name, regions, options.regions,
			     &handed)) {
			fprintf(stderr, "wset-demo-vmm: %s\n", handed.error);
			guest_memory_destroy(&memory);
			return DEMO_EXIT_SETUP;
		}
		printf("demo-vmm: handed to wsetd at %s: vmm %u, mechanism %s, session %s\n",
		       options.socket, handed.vmm_id, handed.mechanism, handed.session);
		link = (struct agent_link){
			.socket_path = options.socket, .name = options.name,
			.regions = regions, .region_count = options.regions,
			.handed = &handed, .reconnect = options.reconnect, .log = stdout,
		};
		ret = agent_link_start(&link);
		if (ret < 0) {
			fprintf(stderr, "wset-demo-vmm: link thread: %s\n", strerror(-ret));
			return DEMO_EXIT_SETUP;
		}
	}
	if (options.progress_path && open_progress(&options) < 0)
		return DEMO_EXIT_SETUP;
	workload_run(&memory, &options.workload, options.use_wsetd ? &link : NULL, stdout,
		     &result);
	printf("demo-vmm: %s after %llu accesses (%llu writes), %llu slow (>50us), "
	       "max %.0fus, %llu bad reads\n",
	       result.released ? "wsetd let go" : "run complete",
	       (unsigned long long)result.accesses, (unsigned long long)result.writes,
	       (unsigned long long)result.slow_accesses,
	       (double)result.max_latency_ns / 1000, (unsigned long long)result.bad_pages);
	if (options.use_wsetd)
		printf("demo-vmm: wsetd came back %llu times; longest access still "
		       "blocked after it was back: %.1f ms\n",
		       (unsigned long long)__atomic_load_n(&link.reconnects, __ATOMIC_RELAXED),
		       (double)result.max_wait_after_back_ns / 1e6);
	/* Gone without releasing: evicted pages would wait for ever. */
	status = result.lost ? DEMO_EXIT_DATA : final_check(&memory, result.released);
	if (result.bad_pages)
		status = DEMO_EXIT_DATA;
	if (options.use_wsetd)
		agent_link_stop(&link);
	handover_close(&handed);
	guest_memory_destroy(&memory);
	return status;
}
