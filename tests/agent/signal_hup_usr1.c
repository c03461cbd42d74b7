// SPDX-License-Identifier: MIT
/*
 * SIGHUP reloads the configuration file (policies of running VMMs follow
 * it; an invalid file is refused and the old configuration kept), SIGUSR1
 * logs a line of counters per VMM; wsetd keeps serving throughout.
 */
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "agent_test.h"
#include "guest_memory.h"
#include "handover.h"

static void write_config(const struct agent *agent, const char *text)
{
	FILE *file = fopen(agent->config, "w");

	if (file) {
		fputs(text, file);
		fclose(file);
	}
}

static uint64_t daemon_reloads(const struct agent *agent)
{
	json_object *status = agent_request(agent, "{\"command\":\"status\"}"), *about, *value;
	uint64_t reloads = UINT64_MAX;

	if (status && json_object_object_get_ex(status, "daemon", &about) &&
	    json_object_object_get_ex(about, "reloads", &value))
		reloads = json_object_get_uint64(value);
	json_object_put(status);
	return reloads;
}

int main(void)
{
	struct handover_region regions[GUEST_MAX_REGIONS];
	struct handover_result result;
	struct guest_memory memory;
	struct agent agent;
	bool reloaded = false;

	if (!agent_started(&agent, NULL))
		return tap_done();
	write_config(&agent, "# first\nmin_idle_age = 5\n");
	kill(agent.pid, SIGHUP);
	for (int waited = 0; waited < 3000 && !reloaded; waited += 50) {
		sleep_ms(50);
		reloaded = daemon_reloads(&agent) == 1;
	}
	tap_ok(reloaded, "SIGHUP: the configuration is reloaded");

	if (guest_memory_create(&memory, GUEST_MEMFD, 1 << 20, 1)) {
		tap_ok(false, "guest memory");
		agent_cleanup(&agent);
		return tap_done();
	}
	guest_memory_regions(&memory, regions);
	tap_ok(handover(agent.socket, "hup", regions, 1, &result) == 0, "a VMM connects");
	tap_ok(agent_vmm_counter(&agent, result.vmm_id, "policy.min_idle_age") == 5,
	       "it gets the reloaded min_idle_age 5");

	write_config(&agent, "min_idle_age = 9\nevict = yes\n");
	kill(agent.pid, SIGHUP);
	reloaded = false;
	for (int waited = 0; waited < 3000 && !reloaded; waited += 50) {
		sleep_ms(50);
		reloaded = daemon_reloads(&agent) == 2;
	}
	tap_ok(reloaded && agent_vmm_counter(&agent, result.vmm_id, "policy.min_idle_age") == 9 &&
		       agent_vmm_counter(&agent, result.vmm_id, "policy.evict") == 1,
	       "a second SIGHUP changes the running VMM's policy");

	write_config(&agent, "min_idle_age = 0\n");
	kill(agent.pid, SIGHUP);
	tap_ok(agent_wait_log(&agent, "keeping the old one", 10000) &&
		       agent_log_contains(&agent, "min_idle_age: '0' is out of range") &&
		       agent_log_contains(&agent, "keeping the old one"),
	       "an invalid file is refused, naming the bad value");
	tap_ok(daemon_reloads(&agent) == 2 &&
		       agent_vmm_counter(&agent, result.vmm_id, "policy.min_idle_age") == 9,
	       "and the old configuration stays");

	kill(agent.pid, SIGUSR1);
	tap_ok(agent_wait_log(&agent, "stats: vmm 1 hup", 10000), "SIGUSR1 logs the VMM's counters");
	tap_ok(agent_vmm_count(&agent) == 1, "wsetd still serves the VMM");

	handover_close(&result);
	tap_ok(agent_wait_vmm_count(&agent, 0, 5000), "the VMM disconnects");
	tap_ok(agent_stop(&agent, SIGINT, 10000) == 0, "wsetd exits 0 on INT");
	guest_memory_destroy(&memory);
	agent_finish(&agent);
	return tap_done();
}
