// SPDX-License-Identifier: MIT
/*
 * SIGTERM makes wsetd return every evicted page before it exits: the demo
 * VMM, still running its workload, sees wsetd let go, checks that every
 * page is resident and holds the last data it wrote, and exits 0.
 */
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "agent_test.h"

int main(void)
{
	const char *const arguments[] = {
		"--interval-ms", "100", "--evict", "yes", "--min-idle-age", "2", NULL,
	};
	struct agent agent;
	char vmm_log[160], mechanism[16];
	uint64_t evicted = 0;
	pid_t vmm;
	int status;

	if (!agent_started(&agent, arguments))
		return tap_done();
	snprintf(vmm_log, sizeof(vmm_log), "%s/vmm.log", agent.directory);
	{
		const char *const vmm_arguments[] = {
			"--socket", agent.socket, "--name", "term", "--memory", "32M",
			"--duration", "0", "--hot", "5", "--phase", "1", "--rate", "5000",
			"--report", "1", NULL,
		};
		vmm = spawn_tool("wset-demo-vmm", vmm_arguments, vmm_log);
	}
	tap_ok(agent_wait_vmm_count(&agent, 1, 30000), "the demo VMM connects");
	agent_vmm_string(&agent, 1, "mechanism", mechanism, sizeof(mechanism));
	/* Cold pages appear after min_idle_age intervals; give eviction time. */
	evicted = agent_evict_some(&agent, 1);
	tap_diag("mechanism %s, evicted before SIGTERM: %llu bytes", mechanism,
		 (unsigned long long)evicted);
	status = agent_stop(&agent, SIGTERM, 60000);
	tap_ok(status == 0, "wsetd exits 0 on TERM (status %d)", status);
	tap_ok(agent_log_contains(&agent, "wsetd stopping; released"),
	       "wsetd released the VMM before exiting");
	status = wait_exit(vmm, 60000);
	if (!tap_ok(status == 0, "the demo VMM verified every page (status %d)", status)) {
		char line[300];
		FILE *log = fopen(vmm_log, "r");

		while (log && fgets(line, sizeof(line), log))
			tap_diag("vmm: %s", strtok(line, "\n"));
		if (log)
			fclose(log);
	}
	agent_finish(&agent);
	if (!tap_failures() && evicted == 0)
		tap_skip_all("no page was evicted (mechanism %s; libwset evicts memory "
			     "of another process only with rwp): only the clean stop was tested", mechanism);
	return tap_done();
}
