// SPDX-License-Identifier: MIT
/*
 * A VMM that dies (SIGKILL) while some of its pages are evicted: wsetd
 * notices at once, drops it without hanging, keeps no fd and no store file
 * of it, and goes on serving.
 */
#include <dirent.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "agent_test.h"

/* Files in the scratch directory other than ours: leftover store files. */
static int stray_files(const struct agent *agent)
{
	DIR *directory = opendir(agent->directory);
	struct dirent *entry;
	int count = 0;

	while (directory && (entry = readdir(directory))) {
		if (entry->d_name[0] == '.' || strstr(entry->d_name, ".sock") ||
		    !strcmp(entry->d_name, "wsetd.log") || !strcmp(entry->d_name, "wsetd.conf") ||
		    !strcmp(entry->d_name, "vmm.log"))
			continue;
		tap_diag("stray file: %s", entry->d_name);
		count++;
	}
	if (directory)
		closedir(directory);
	return count;
}

int main(void)
{
	const char *const arguments[] = {
		"--interval-ms", "100", "--evict", "yes", "--min-idle-age", "2", NULL,
	};
	struct agent agent;
	char vmm_log[160], mechanism[16];
	uint64_t evicted = 0;
	struct timespec before, after;
	int baseline;
	pid_t vmm;
	bool dropped;

	if (!agent_started(&agent, arguments))
		return tap_done();
	baseline = process_fd_count(agent.pid);
	snprintf(vmm_log, sizeof(vmm_log), "%s/vmm.log", agent.directory);
	{
		const char *const vmm_arguments[] = {
			"--socket", agent.socket, "--name", "doomed", "--memory", "32M",
			"--duration", "0", "--hot", "5", "--phase", "1", "--rate", "5000",
			NULL,
		};
		vmm = spawn_tool("wset-demo-vmm", vmm_arguments, vmm_log);
	}
	tap_ok(agent_wait_vmm_count(&agent, 1, 30000), "the demo VMM connects");
	agent_vmm_string(&agent, 1, "mechanism", mechanism, sizeof(mechanism));
	evicted = agent_evict_some(&agent, 1);
	tap_diag("evicted when killed: %llu bytes", (unsigned long long)evicted);

	clock_gettime(CLOCK_MONOTONIC, &before);
	kill(vmm, SIGKILL);
	wait_exit(vmm, 5000);
	dropped = agent_wait_vmm_count(&agent, 0, 10000);
	clock_gettime(CLOCK_MONOTONIC, &after);
	tap_ok(dropped, "wsetd drops the dead VMM within 10 s (took %ld ms)",
	       (long)((after.tv_sec - before.tv_sec) * 1000 +
		      (after.tv_nsec - before.tv_nsec) / 1000000));
	tap_ok(process_fd_count(agent.pid) == baseline,
	       "no fd of it left in wsetd (%d before, %d now)", baseline,
	       process_fd_count(agent.pid));
	tap_ok(stray_files(&agent) == 0, "no store file left behind");
	tap_ok(agent_vmm_count(&agent) == 0, "wsetd still answers");
	tap_ok(agent_stop(&agent, SIGTERM, 10000) == 0, "wsetd exits 0 on TERM");
	agent_finish(&agent);
	if (!tap_failures() && evicted == 0)
		tap_skip_all("no page was evicted (mechanism %s; libwset evicts memory "
			     "of another process only with rwp): a VMM dying with evicted pages was not exercised", mechanism);
	return tap_done();
}
