// SPDX-License-Identifier: MIT
/*
 * The control socket and wsetctl: status as JSON and as a table, metrics
 * in Prometheus text, history, policy changes (validated, and refused to
 * uids that may not change wsetd), errors for bad requests, wsetctl's exit
 * codes, and a PNG plot when gnuplot is installed.
 */
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "agent_test.h"
#include "guest_memory.h"
#include "handover.h"

static struct agent agent;

/* As uid 65534, which may only create a user-mode-only userfaultfd (the
 * handshake code refuses to): the uid check comes before any other. */
static bool intruder_refused(const struct handover_region *regions)
{
	char *document = handover_document("intruder", regions, 1);
	int uffd = (int)syscall(SYS_userfaultfd, O_CLOEXEC | 1 /* UFFD_USER_MODE_ONLY */);
	char answer[512] = "";
	int fd = -1;

	if (document && uffd >= 0)
		fd = handover_send_raw(agent.socket, document, strlen(document), &uffd, 1);
	if (fd >= 0)
		handover_read_answer(fd, answer, sizeof(answer), 30000);
	free(document);
	if (fd >= 0)
		close(fd);
	if (uffd >= 0)
		close(uffd);
	return strstr(answer, "uid 65534 is not allowed") != NULL;
}

static bool answer_has(const char *request, const char *expected)
{
	json_object *answer = agent_request(&agent, request);
	bool found = answer && strstr(json_object_to_json_string_ext(answer,
								     JSON_C_TO_STRING_PLAIN),
				      expected);

	if (!found)
		tap_diag("answer to %s: %s", request,
			 answer ? json_object_to_json_string(answer) : "(none)");
	json_object_put(answer);
	return found;
}

/* Run wsetctl -s CONTROL arguments...; status and output. */
static int wsetctl(char *output, size_t size, const char *const *arguments)
{
	const char *argv[24] = { "-s", agent.control };
	char path[160];
	FILE *file;
	size_t length;
	int count = 2, status;

	for (int i = 0; arguments[i] && count < 23; i++)
		argv[count++] = arguments[i];
	argv[count] = NULL;
	snprintf(path, sizeof(path), "%s/wsetctl.out", agent.directory);
	unlink(path);
	status = wait_exit(spawn_tool("wsetctl", argv, path), 20000);
	file = fopen(path, "r");
	length = file ? fread(output, 1, size - 1, file) : 0;
	output[length] = '\0';
	if (file)
		fclose(file);
	return status;
}

static bool have_gnuplot(void)
{
	return system("command -v gnuplot >/dev/null 2>&1") == 0;
}

/* A request sent from uid 65534 must not change anything. */
static void unprivileged_set(unsigned int vmm)
{
	char request[160];
	int pipe_fds[2], status;
	pid_t child;

	if (geteuid() != 0) {
		tap_diag("not root: cannot test a request from another uid");
		return;
	}
	snprintf(request, sizeof(request),
		 "{\"command\":\"set\",\"vmm\":%u,\"policy\":{\"min_idle_age\":3}}", vmm);
	/* Let that uid reach the socket in the scratch directory. */
	if (pipe(pipe_fds) || chmod(agent.directory, 0711))
		return;
	child = fork();
	if (child == 0) {
		json_object *answer;
		char verdict = 'n';

		if (setgid(65534) == 0 && setuid(65534) == 0) {
			struct handover_region regions[GUEST_MAX_REGIONS];
			struct guest_memory memory;

			answer = agent_request(&agent, request);
			if (answer && strstr(json_object_to_json_string(answer),
					     "uid 65534 may not change wsetd"))
				verdict = 'y';
			/* Nor may it hand over a VMM. */
			if (guest_memory_create(&memory, GUEST_MEMFD, 1 << 20, 1) == 0) {
				guest_memory_regions(&memory, regions);
				if (!intruder_refused(regions))
					verdict = 'n';
			}
		} else {
			verdict = 's';
		}
		if (write(pipe_fds[1], &verdict, 1) != 1)
			_exit(1);
		_exit(0);
	}
	{
		char verdict = 'n';

		close(pipe_fds[1]);
		if (read(pipe_fds[0], &verdict, 1) != 1)
			verdict = 'n';
		close(pipe_fds[0]);
		waitpid(child, &status, 0);
		if (verdict == 's')
			tap_diag("setuid(65534) failed: cannot test a request from another uid");
		else
			tap_ok(verdict == 'y' &&
				       agent_vmm_counter(&agent, vmm, "policy.min_idle_age") == 4,
			       "a set and a handshake from uid 65534 are refused (the "
			       "sockets are made world-writable for this)");
	}
}

int main(void)
{
	const char *const arguments[] = { "--interval-ms", "100", "--socket-mode", "0666", NULL };
	struct handover_region regions[GUEST_MAX_REGIONS];
	struct handover_result result;
	struct guest_memory memory;
	char output[65536], png[200], request[200];
	int status;

	if (!agent_started(&agent, arguments))
		return tap_done();
	if (guest_memory_create(&memory, GUEST_MEMFD, 2 << 20, 1)) {
		tap_ok(false, "guest memory");
		agent_cleanup(&agent);
		return tap_done();
	}
	guest_memory_regions(&memory, regions);
	tap_ok(handover(agent.socket, "ctl", regions, 1, &result) == 0, "a VMM connects");
	/* History samples come with tracking intervals. */
	agent_wait_counter_above(&agent, result.vmm_id, "intervals", 2, 30000);

	tap_ok(answer_has("{\"command\":\"status\"}", "\"name\":\"ctl\""), "status lists the VMM");
	tap_ok(answer_has("{\"command\":\"status\"}", "\"fault_latency_us\":{\"p50\""),
	       "status has fault latency percentiles");
	tap_ok(answer_has("{\"command\":\"history\",\"vmm\":1}", "\"columns\":[\"time_ms\",\"wss_bytes\""),
	       "history has samples");
	tap_ok(answer_has("{\"command\":", "before the end of the JSON document"),
	       "an incomplete request gets an error");
	tap_ok(answer_has("{\"command\": ]", "malformed JSON"),
	       "a malformed request gets an error");
	tap_ok(answer_has("[1,2]", "expected {\\\"command\\\""), "a request that is not an object is refused");
	tap_ok(answer_has("{\"command\":\"reboot\"}", "unknown command 'reboot'"),
	       "an unknown command is named");
	tap_ok(answer_has("{\"command\":\"status\",\"vmm\":99}", "vmm 99: no such VMM"),
	       "an unknown VMM is named");
	tap_ok(answer_has("{\"command\":\"set\",\"vmm\":1,\"policy\":{\"min_idle_age\":0}}",
			  "min_idle_age: 0 is out of range"),
	       "set: an out-of-range value is refused");
	tap_ok(answer_has("{\"command\":\"set\",\"vmm\":1,\"policy\":{\"speed\":1}}",
			  "unknown key 'speed'"),
	       "set: an unknown key is refused");
	tap_ok(answer_has("{\"command\":\"set\",\"policy\":{\"evict\":\"yes\"}}",
			  "evict: expected true or false"),
	       "set: a wrongly typed value is refused");
	snprintf(request, sizeof(request),
		 "{\"command\":\"set\",\"vmm\":%u,\"policy\":{\"resident_target\":1048576}}",
		 result.vmm_id);
	tap_ok(answer_has(request, "\"ok\":true") &&
		       agent_vmm_counter(&agent, result.vmm_id, "policy.resident_target") == 1048576,
	       "set: resident_target changes at run time");
	unprivileged_set(result.vmm_id);
	tap_ok(answer_has("{\"command\":\"evict\",\"vmm\":1,\"min_age\":1}", "\"evicted_bytes\":"),
	       "evict now answers how much it moved");
	tap_ok(answer_has("{\"command\":\"evict\"}", "evict: needs a vmm"),
	       "evict needs a VMM");
	tap_ok(answer_has("{\"command\":\"restore\",\"vmm\":1}", "\"ok\":true") &&
		       agent_vmm_counter(&agent, 1, "evicted_bytes") == 0,
	       "restore brings everything back");
	for (uint64_t page = 0; page < memory.pages; page++)
		if (!guest_page_verify(&memory, page)) {
			tap_ok(false, "page %llu intact after evict and restore",
			       (unsigned long long)page);
			break;
		}

	{
		const char *const status_arguments[] = { "status", NULL };

		status = wsetctl(output, sizeof(output), status_arguments);
		tap_ok(status == 0 && strstr(output, "RESIDENT") && strstr(output, "ctl"),
		       "wsetctl status prints a table");
		for (char *line = strtok(output, "\n"); line; line = strtok(NULL, "\n"))
			tap_diag("%s", line);
	}
	{
		const char *const json_arguments[] = { "status", "--json", "1", NULL };
		json_object *parsed;

		status = wsetctl(output, sizeof(output), json_arguments);
		parsed = json_tokener_parse(output);
		tap_ok(status == 0 && parsed, "wsetctl status --json prints JSON");
		json_object_put(parsed);
	}
	{
		const char *const metrics_arguments[] = { "metrics", NULL };

		status = wsetctl(output, sizeof(output), metrics_arguments);
		tap_ok(status == 0 && strstr(output, "# TYPE wset_wss_bytes gauge") &&
			       strstr(output, "wset_resident_bytes{vmm=\"1\",name=\"ctl\"}") &&
			       strstr(output, "wset_fault_latency_seconds_bucket{vmm=\"1\",name=\"ctl\",le=\"+Inf\"}"),
		       "wsetctl metrics prints Prometheus text");
	}
	{
		const char *const set_arguments[] = { "set", "1", "min_idle_age=7", "evict=yes", NULL };

		status = wsetctl(output, sizeof(output), set_arguments);
		tap_ok(status == 0 && agent_vmm_counter(&agent, 1, "policy.min_idle_age") == 7 &&
			       agent_vmm_counter(&agent, 1, "policy.evict") == 1,
		       "wsetctl set changes the policy");
	}
	{
		const char *const bad_arguments[] = { "set", "1", "min_idle_age=0", NULL };

		tap_ok(wsetctl(output, sizeof(output), bad_arguments) == 2 &&
			       strstr(output, "min_idle_age: '0' is not 1..255"),
		       "wsetctl set: a bad value is exit 2, named");
	}
	{
		const char *const missing_arguments[] = { "set", "42", "evict=no", NULL };

		tap_ok(wsetctl(output, sizeof(output), missing_arguments) == 1 &&
			       strstr(output, "vmm 42: no such VMM"),
		       "wsetctl set: an unknown VMM is exit 1");
	}
	{
		const char *const argv[] = { "-s", "/nonexistent/control.sock", "status", NULL };
		char path[160];

		snprintf(path, sizeof(path), "%s/unreachable.out", agent.directory);
		tap_ok(wait_exit(spawn_tool("wsetctl", argv, path), 10000) == 3,
		       "wsetctl: an unreachable wsetd is exit 3");
	}
	{
		const char *const top_arguments[] = { "top", "-n", "2", "-d", "0.2", NULL };

		status = wsetctl(output, sizeof(output), top_arguments);
		tap_ok(status == 0 && strstr(output, "wsetd pid") &&
			       strstr(strstr(output, "wsetd pid") + 1, "wsetd pid") &&
			       strstr(output, "REFAULTS/S"),
		       "wsetctl top refreshes the table and shows rates");
	}
	snprintf(png, sizeof(png), "%s/plot.png", agent.directory);
	if (have_gnuplot()) {
		const char *const plot_arguments[] = { "plot", "-o", png, NULL };
		unsigned char magic[8] = { 0 };
		int fd;

		status = wsetctl(output, sizeof(output), plot_arguments);
		fd = open(png, O_RDONLY);
		if (fd < 0 || read(fd, magic, sizeof(magic)) != sizeof(magic))
			magic[1] = 0;
		if (fd >= 0)
			close(fd);
		tap_ok(status == 0 && !memcmp(magic, "\x89PNG\r\n\x1a\n", 8),
		       "wsetctl plot writes a PNG");
	} else {
		tap_diag("gnuplot is not installed: wsetctl plot not tested here");
	}

	handover_close(&result);
	tap_ok(agent_wait_vmm_count(&agent, 0, 5000), "the VMM disconnects");
	tap_ok(agent_stop(&agent, SIGTERM, 10000) == 0, "wsetd exits 0 on TERM");
	guest_memory_destroy(&memory);
	agent_finish(&agent);
	return tap_done();
}
