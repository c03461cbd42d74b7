// SPDX-License-Identifier: MIT
/*
 * A well-formed handshake is accepted: memfd and anonymous regions, with
 * wsetd's {"name", "regions"} form and Firecracker's bare array.  The VMM
 * shows up in status with its layout; when it disconnects wsetd drops it
 * and holds no more fds than before.
 */
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "agent_test.h"
#include "guest_memory.h"
#include "handover.h"

static void hand_over(struct agent *agent, enum guest_backing backing,
		      const char *label, int baseline_fds)
{
	struct guest_memory memory;
	struct handover_region regions[GUEST_MAX_REGIONS];
	struct handover_result result;
	int ok;

	if (guest_memory_create(&memory, backing, 4 << 20, 2)) {
		tap_ok(false, "%s: guest memory", label);
		return;
	}
	guest_memory_regions(&memory, regions);
	ok = handover(agent->socket, label, regions, 2, &result) == 0;
	if (!tap_ok(ok, "%s: handshake accepted", label)) {
		tap_diag("%s", result.error);
		guest_memory_destroy(&memory);
		return;
	}
	tap_ok(agent_vmm_count(agent) == 1, "%s: status lists one VMM", label);
	tap_ok(agent_vmm_counter(agent, result.vmm_id, "tracked_bytes") == 4 << 20,
	       "%s: tracked_bytes is the size of both regions", label);
	tap_ok(agent_vmm_counter(agent, result.vmm_id, "regions") == 2,
	       "%s: two regions", label);
	tap_ok(agent_vmm_counter(agent, result.vmm_id, "pid") == (uint64_t)getpid(),
	       "%s: pid from SO_PEERCRED", label);
	{
		json_object *status = agent_request(agent, "{\"command\":\"status\"}");
		const char *text = status ? json_object_to_json_string_ext(
						    status, JSON_C_TO_STRING_PLAIN) : "";

		tap_ok(strstr(text, "\"uffd\":{\"declared_flags\":\"O_RDONLY|O_NONBLOCK|"
				    "O_CLOEXEC\",\"fdinfo_flags\":\"O_RDONLY|O_NONBLOCK|"
				    "O_CLOEXEC\",\"user_mode_only\":false}") != NULL,
		       "%s: status shows the userfaultfd's creation flags", label);
		json_object_put(status);
	}
	handover_close(&result);
	tap_ok(agent_wait_vmm_count(agent, 0, 5000), "%s: dropped after disconnect", label);
	for (uint64_t page = 0; page < memory.pages; page++)
		if (!guest_page_verify(&memory, page)) {
			tap_ok(false, "%s: page %llu intact", label, (unsigned long long)page);
			break;
		}
	tap_ok(process_fd_count(agent->pid) == baseline_fds,
	       "%s: wsetd holds %d fds again (has %d)", label, baseline_fds,
	       process_fd_count(agent->pid));
	guest_memory_destroy(&memory);
}

/* Firecracker's form: a bare array, page_size_kib, no name, anonymous. */
static void firecracker_form(struct agent *agent, int baseline_fds)
{
	struct guest_memory memory;
	char document[512], answer[512];
	int uffd, fd;

	if (guest_memory_create(&memory, GUEST_ANONYMOUS, 1 << 20, 1)) {
		tap_ok(false, "firecracker form: guest memory");
		return;
	}
	snprintf(document, sizeof(document),
		 "[{\"base_host_virt_addr\": %llu, \"size\": %llu, \"offset\": 0, "
		 "\"page_size_kib\": 4}]",
		 (unsigned long long)(uintptr_t)memory.region_base[0], 1ull << 20);
	uffd = handover_userfaultfd();
	fd = handover_send_raw(agent->socket, document, strlen(document), &uffd, 1);
	close(uffd);
	tap_ok(fd >= 0 && handover_read_answer(fd, answer, sizeof(answer), 10000) > 0 &&
		       strstr(answer, "\"ok\":true"),
	       "firecracker form: accepted");
	tap_ok(agent_vmm_count(agent) == 1, "firecracker form: one VMM");
	if (fd >= 0)
		close(fd);
	tap_ok(agent_wait_vmm_count(agent, 0, 5000), "firecracker form: dropped");
	tap_ok(process_fd_count(agent->pid) == baseline_fds, "firecracker form: no fd left");
	guest_memory_destroy(&memory);
}

int main(void)
{
	struct agent agent;
	int baseline;

	if (!agent_started(&agent, NULL))
		return tap_done();
	baseline = process_fd_count(agent.pid);
	hand_over(&agent, GUEST_MEMFD, "memfd", baseline);
	hand_over(&agent, GUEST_ANONYMOUS, "anon", baseline);
	firecracker_form(&agent, baseline);
	tap_ok(agent_stop(&agent, SIGTERM, 10000) == 0, "wsetd exits 0 on TERM");
	agent_finish(&agent);
	return tap_done();
}
