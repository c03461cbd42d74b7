// SPDX-License-Identifier: MIT
/*
 * kill -9 of wsetd at random moments (during eviction steps, during
 * fetches, in the middle of the pages' return on SIGTERM), then a restart,
 * for WSET_CRASH_CYCLES cycles (default 50), while the demo VMM writes
 * and verifies its memory.  The VMM keeps its own reference to its
 * userfaultfd and reconnects with its session token (argument
 * "reconnect"), or the restarted wsetd takes its fds back from a
 * systemd-like fd store (argument "fdstore").
 *
 * Pass: no read ever finds lost or stale data, every page verifies at the
 * end, and after each restart the VMM's accesses move again within 2 s.
 * Restart-to-resume times are printed (TAP comments).
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#include "agent_test.h"

#define BLOCKED_LIMIT_MS 2000

static uint64_t now_ms(void)
{
	struct timespec now;

	clock_gettime(CLOCK_MONOTONIC, &now);
	return (uint64_t)now.tv_sec * 1000 + (uint64_t)now.tv_nsec / 1000000;
}

static volatile uint64_t *map_progress(const char *path, int timeout_ms)
{
	for (int waited = 0; waited <= timeout_ms; waited += 20) {
		int fd = open(path, O_RDONLY | O_CLOEXEC);

		if (fd >= 0) {
			void *words = mmap(NULL, 16, PROT_READ, MAP_SHARED, fd, 0);

			close(fd);
			if (words != MAP_FAILED)
				return words;
		}
		sleep_ms(20);
	}
	return NULL;
}

/* Wait until the VMM's accesses pass `after`; the milliseconds it took, or
 * -1 after limit_ms. */
static long wait_progress(volatile uint64_t *progress, uint64_t after, int limit_ms)
{
	uint64_t start = now_ms();

	while (__atomic_load_n(&progress[0], __ATOMIC_ACQUIRE) <= after) {
		if (now_ms() - start > (uint64_t)limit_ms)
			return -1;
		sleep_ms(1);
	}
	return (long)(now_ms() - start);
}

static int compare_ms(const void *a, const void *b)
{
	long x = *(const long *)a, y = *(const long *)b;

	return (x > y) - (x < y);
}

/* Over wsetd's log: restarts that took a session over, and the evicted
 * pages they found in its store. */
static void taken_over(const struct agent *agent, int *sessions, long *pages)
{
	FILE *file = fopen(agent->log, "r");
	char buffer[1200];

	*sessions = 0;
	*pages = 0;
	while (file && fgets(buffer, sizeof(buffer), file)) {
		const char *at = strstr(buffer, " resumed, ");

		if (at) {
			(*sessions)++;
			*pages += atol(at + 10);
		}
	}
	if (file)
		fclose(file);
}

/* The last line of the VMM's log holding text, into line. */
static bool vmm_log_line(const char *path, const char *text, char *line, size_t size)
{
	FILE *file = fopen(path, "r");
	char buffer[512];
	bool found = false;

	if (!file)
		return false;
	while (fgets(buffer, sizeof(buffer), file))
		if (strstr(buffer, text)) {
			snprintf(line, size, "%s", buffer);
			line[strcspn(line, "\n")] = '\0';
			found = true;
		}
	fclose(file);
	return found;
}

int main(int argc, char **argv)
{
	const char *mode = argc > 1 ? argv[1] : "reconnect";
	const char *cycles_text = getenv("WSET_CRASH_CYCLES");
	int cycles = cycles_text && atoi(cycles_text) > 0 ? atoi(cycles_text) : 50;
	const char *const arguments[] = {
		"--interval-ms", "100", "--evict", "yes", "--min-idle-age", "1", NULL,
	};
	char vmm_log[160], progress_path[160], mechanism[16], line[512];
	long resume_ms[1000], blocked_ms[1000], worst_blocked = 0;
	int resumed = 0, unblocked = 0, moments[3] = { 0 };
	volatile uint64_t *progress;
	struct agent agent;
	unsigned int seed = (unsigned int)getpid();
	bool rwp;
	pid_t vmm;

	if (strcmp(mode, "reconnect") && strcmp(mode, "fdstore")) {
		fprintf(stderr, "usage: crash_restart [reconnect|fdstore]\n");
		return EXIT_FAIL;
	}
	if (cycles > 1000)
		cycles = 1000;
	if (strcmp(mode, "fdstore") == 0) {
		char path[64];

		snprintf(path, sizeof(path), "/tmp/wsetd-fdstore.%d", (int)getpid());
		if (fd_store_start(path)) {
			tap_ok(false, "a systemd-like fd store listens at %s", path);
			return tap_done();
		}
	}
	if (!agent_started(&agent, arguments))
		return tap_done();
	snprintf(vmm_log, sizeof(vmm_log), "%s/vmm.log", agent.directory);
	snprintf(progress_path, sizeof(progress_path), "%s/vmm.progress", agent.directory);
	{
		const char *const vmm_arguments[] = {
			"--socket", agent.socket, "--name", "crash", "--memory", "8M",
			"--backing", "memfd", "--regions", "2", "--duration", "0",
			"--rate", "4000", "--hot", "10", "--phase", "0.5", "--writes", "30",
			"--report", "1", "--reconnect", "--progress", progress_path, NULL,
		};

		vmm = spawn_tool("wset-demo-vmm", vmm_arguments, vmm_log);
	}
	progress = map_progress(progress_path, 30000);
	if (!tap_ok(vmm > 0 && progress && agent_wait_vmm_count(&agent, 1, 30000),
		    "the demo VMM is served")) {
		agent_finish(&agent);
		return tap_done();
	}
	rwp = strcmp(agent_vmm_string(&agent, 1, "mechanism", mechanism,
				      sizeof(mechanism)), "rwp") == 0;
	if (!rwp)
		tap_diag("mechanism %s: wsetd evicts no memory of another process with it, "
			 "so the cycles kill wsetd while it tracks and restores only",
			 mechanism);
	tap_diag("%d cycles, %s path", cycles, mode);
	if (strcmp(mode, "fdstore") == 0) {
		for (int waited = 0; waited < 30000 && fd_store_count() < 2; waited += 10)
			sleep_ms(10);
		tap_ok(fd_store_count() == 2, "wsetd keeps the VMM's userfaultfd and memfd in "
					      "the fd store (%d fds)", fd_store_count());
	}

	for (int cycle = 0; cycle < cycles; cycle++) {
		int moment = cycle % 3, status;
		unsigned int id;
		uint64_t restarted, accesses;
		json_object *status_answer = agent_request(&agent, "{\"command\":\"status\"}");

		json_object_put(status_answer);
		/* The VMM's id changes with every fresh handover; there is one. */
		id = 0;
		for (unsigned int candidate = 1; candidate < 10000 && !id; candidate++)
			if (agent_vmm_counter(&agent, candidate, "pid") == (uint64_t)vmm)
				id = candidate;
		if (moment == 0 && rwp) {
			/* In or right after an eviction step. */
			uint64_t evictions = agent_vmm_counter(&agent, id, "evictions");

			agent_wait_counter_above(&agent, id, "evictions", evictions, 20000);
			sleep_ms((int)(rand_r(&seed) % 20));
		} else if (moment == 1 && rwp) {
			/* While faults are fetched back. */
			uint64_t refaults = agent_vmm_counter(&agent, id, "refaults");

			agent_wait_counter_above(&agent, id, "refaults", refaults, 20000);
		} else if (moment == 2) {
			/* In the middle of giving every page back on SIGTERM. */
			kill(agent.pid, SIGTERM);
			sleep_ms((int)(rand_r(&seed) % 30));
		} else {
			sleep_ms((int)(rand_r(&seed) % 200));
		}
		moments[moment]++;
		kill(agent.pid, SIGKILL);
		status = wait_exit(agent.pid, 30000);
		agent.pid = 0;
		if (status != 128 + SIGKILL && status != 0) {
			tap_ok(false, "cycle %d: wsetd ended with status %d", cycle, status);
			break;
		}
		restarted = now_ms();
		if (agent_restart(&agent, arguments) < 0) {
			tap_ok(false, "cycle %d: wsetd restarts", cycle);
			break;
		}
		if (!agent_wait_vmm_count(&agent, 1, 30000)) {
			tap_ok(false, "cycle %d: the VMM is served again", cycle);
			break;
		}
		resume_ms[resumed++] = (long)(now_ms() - restarted);
		accesses = __atomic_load_n(&progress[0], __ATOMIC_ACQUIRE);
		blocked_ms[unblocked] = wait_progress(progress, accesses, BLOCKED_LIMIT_MS);
		if (blocked_ms[unblocked] < 0) {
			tap_ok(false, "cycle %d: the VMM's accesses move within %d ms of the "
				      "restart", cycle, BLOCKED_LIMIT_MS);
			break;
		}
		if (blocked_ms[unblocked] > worst_blocked)
			worst_blocked = blocked_ms[unblocked];
		unblocked++;
	}
	if (strcmp(mode, "fdstore") == 0)
		tap_ok(agent_log_contains(&agent, "fd store: 1 VMMs taken over") &&
			       agent_log_contains(&agent, "reconnected to its session"),
		       "restarted wsetds took the VMM over from the fd store, and the VMM's "
		       "reconnect joined that session");
	else
		tap_ok(agent_log_contains(&agent, "resumed, "),
		       "restarted wsetds resumed the session from the VMM's reconnect");
	tap_ok(resumed == cycles && unblocked == cycles,
	       "%d of %d kill -9 cycles: wsetd restarted and served the VMM again (%d in "
	       "eviction, %d in fetches, %d while returning pages)",
	       resumed, cycles, moments[0], moments[1], moments[2]);
	if (resumed) {
		qsort(resume_ms, (size_t)resumed, sizeof(resume_ms[0]), compare_ms);
		tap_diag("restart to resume (wsetd started until it serves the VMM again): "
			 "median %ld ms, max %ld ms over %d restarts (%s path)",
			 resume_ms[resumed / 2], resume_ms[resumed - 1], resumed, mode);
		tap_diag("after each restart the VMM moved again within %ld ms at most",
			 worst_blocked);
	}
	{
		int sessions;
		long pages;

		taken_over(&agent, &sessions, &pages);
		tap_diag("%d restarts took the session over, finding %ld evicted pages in "
			 "its store (%.1f per restart)", sessions, pages,
			 sessions ? (double)pages / sessions : 0.0);
	}

	kill(vmm, SIGTERM);
	{
		int status = wait_exit(vmm, 120000);

		tap_ok(status == 0, "the demo VMM read no lost or stale page and verified "
				    "every page at the end (status %d)", status);
	}
	if (vmm_log_line(vmm_log, "longest access still blocked", line, sizeof(line)))
		tap_diag("%s", line);
	if (vmm_log_line(vmm_log, "bad reads", line, sizeof(line)))
		tap_diag("%s", line);
	if (vmm_log_line(vmm_log, "pages verified", line, sizeof(line)))
		tap_diag("%s", line);
	{
		double longest = -1;
		const char *at = vmm_log_line(vmm_log, "longest access still blocked", line,
					      sizeof(line)) ? strstr(line, "was back: ") : NULL;

		if (at)
			longest = atof(at + 10);
		tap_ok(at && longest <= BLOCKED_LIMIT_MS,
		       "no access stayed blocked more than %d ms after wsetd was back "
		       "(longest %.1f ms)", BLOCKED_LIMIT_MS, longest);
	}
	tap_ok(agent_wait_vmm_count(&agent, 0, 30000), "the VMM is gone");
	if (strcmp(mode, "fdstore") == 0) {
		for (int waited = 0; waited < 30000 && fd_store_count() > 0; waited += 10)
			sleep_ms(10);
		tap_ok(fd_store_count() == 0, "and its fds left the fd store (%d left)",
		       fd_store_count());
	}
	tap_ok(agent_stop(&agent, SIGTERM, 30000) == 0, "wsetd exits 0 on TERM");
	fd_store_stop();
	{
		char command[300];

		snprintf(command, sizeof(command), "ls %s | grep -q '\\.session$'",
			 agent.directory);
		tap_ok(system(command) != 0, "no session is left in the state directory");
	}
	if (tap_failures()) {
		FILE *file = fopen(vmm_log, "r");

		while (file && fgets(line, sizeof(line), file)) {
			line[strcspn(line, "\n")] = '\0';
			tap_diag("vmm: %s", line);
		}
		if (file)
			fclose(file);
	}
	agent_finish(&agent);
	return tap_done();
}
