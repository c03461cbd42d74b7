// SPDX-License-Identifier: MIT
/*
 * Several VMMs at once, each isolated: every one has its own layout and
 * counters, a policy change for one leaves the others alone, one dying
 * leaves the others running, and each verifies all of its data.  The VMMs
 * run until the test stops them (SIGTERM), never for a fixed time.
 */
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "agent_test.h"
#include "guest_memory.h"
#include "handover.h"

struct vmm {
	const char *name;
	const char *memory;
	const char *backing;
	uint64_t bytes;
	unsigned int id;
	pid_t pid;
	char log[160];
};

static unsigned int find_id(const struct agent *agent, const char *name)
{
	json_object *status = agent_request(agent, "{\"command\":\"status\"}"), *vmms, *value;
	unsigned int id = 0;

	if (status && json_object_object_get_ex(status, "vmms", &vmms))
		for (size_t i = 0; i < json_object_array_length(vmms); i++) {
			json_object *entry = json_object_array_get_idx(vmms, i);

			if (json_object_object_get_ex(entry, "name", &value) &&
			    !strcmp(json_object_get_string(value), name) &&
			    json_object_object_get_ex(entry, "id", &value))
				id = (unsigned int)json_object_get_int(value);
		}
	json_object_put(status);
	return id;
}

int main(void)
{
	const char *const arguments[] = { "--interval-ms", "100", "--max-vmms", "3", NULL };
	struct vmm vmms[3] = {
		{ "alpha", "8M", "memfd", 8 << 20 },
		{ "beta", "16M", "anon", 16 << 20 },
		{ "gamma", "24M", "memfd", 24 << 20 },
	};
	struct agent agent;
	uint64_t intervals[3];
	char request[200];
	json_object *answer;

	if (!agent_started(&agent, arguments))
		return tap_done();
	for (int i = 0; i < 3; i++) {
		const char *const vmm_arguments[] = {
			"--socket", agent.socket, "--name", vmms[i].name, "--memory",
			vmms[i].memory, "--backing", vmms[i].backing, "--duration", "0",
			"--rate", "3000", "--phase", "1", NULL,
		};

		snprintf(vmms[i].log, sizeof(vmms[i].log), "%s/%s.log", agent.directory,
			 vmms[i].name);
		vmms[i].pid = spawn_tool("wset-demo-vmm", vmm_arguments, vmms[i].log);
	}
	tap_ok(agent_wait_vmm_count(&agent, 3, 30000), "three VMMs are served");
	for (int i = 0; i < 3; i++) {
		vmms[i].id = find_id(&agent, vmms[i].name);
		tap_ok(vmms[i].id && agent_vmm_counter(&agent, vmms[i].id, "tracked_bytes") ==
					     vmms[i].bytes,
		       "%s: its own layout (%s)", vmms[i].name, vmms[i].memory);
		tap_ok(agent_vmm_counter(&agent, vmms[i].id, "pid") == (uint64_t)vmms[i].pid,
		       "%s: its own pid", vmms[i].name);
	}

	{
		struct handover_region regions[GUEST_MAX_REGIONS];
		struct handover_result refused;
		struct guest_memory memory;

		if (guest_memory_create(&memory, GUEST_MEMFD, 1 << 20, 1) == 0) {
			guest_memory_regions(&memory, regions);
			tap_ok(handover(agent.socket, "fourth", regions, 1, &refused) < 0 &&
				       strstr(refused.error, "already serving max_vmms = 3"),
			       "a fourth VMM is refused: max_vmms = 3");
			guest_memory_destroy(&memory);
		}
	}

	snprintf(request, sizeof(request),
		 "{\"command\":\"set\",\"vmm\":%u,\"policy\":{\"min_idle_age\":9,\"evict\":true}}",
		 vmms[1].id);
	answer = agent_request(&agent, request);
	tap_ok(answer && strstr(json_object_to_json_string(answer), "true"),
	       "policy change for beta accepted");
	json_object_put(answer);
	tap_ok(agent_vmm_counter(&agent, vmms[1].id, "policy.min_idle_age") == 9 &&
		       agent_vmm_counter(&agent, vmms[1].id, "policy.evict") == 1,
	       "beta has the new policy");
	tap_ok(agent_vmm_counter(&agent, vmms[0].id, "policy.min_idle_age") == 4 &&
		       agent_vmm_counter(&agent, vmms[2].id, "policy.min_idle_age") == 4 &&
		       agent_vmm_counter(&agent, vmms[0].id, "policy.evict") == 0,
	       "alpha and gamma keep theirs");

	kill(vmms[0].pid, SIGKILL);
	wait_exit(vmms[0].pid, 5000);
	tap_ok(agent_wait_vmm_count(&agent, 2, 5000), "alpha killed: two VMMs left");
	for (int i = 1; i < 3; i++)
		intervals[i] = agent_vmm_counter(&agent, vmms[i].id, "intervals");
	for (int i = 1; i < 3; i++) {
		uint64_t now = agent_wait_counter_above(&agent, vmms[i].id, "intervals",
							intervals[i], 30000);

		tap_ok(now != UINT64_MAX && now > intervals[i],
		       "%s is still tracked after alpha died (interval %llu, then %llu)",
		       vmms[i].name, (unsigned long long)intervals[i],
		       (unsigned long long)now);
	}
	/* The VMMs run until told to stop, then verify every page. */
	for (int i = 1; i < 3; i++)
		kill(vmms[i].pid, SIGTERM);
	for (int i = 1; i < 3; i++) {
		int status = wait_exit(vmms[i].pid, 120000);

		tap_ok(status == 0, "%s verified all of its data (status %d)", vmms[i].name,
		       status);
	}
	tap_ok(agent_wait_vmm_count(&agent, 0, 5000), "every VMM is gone");
	tap_ok(agent_stop(&agent, SIGTERM, 10000) == 0, "wsetd exits 0 on TERM");
	agent_finish(&agent);
	return tap_done();
}
