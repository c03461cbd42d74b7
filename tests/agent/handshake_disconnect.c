// SPDX-License-Identifier: MIT
/*
 * Peers that go away or stall in the middle of a handshake: wsetd closes
 * what they sent (fds included), answers a stalled peer when
 * handshake_timeout_ms runs out, bounds the connections still sending, and
 * keeps serving.
 *
 * Every step waits for an event (a log line, an answer, an fd count), so
 * that a slow kernel only makes the test slower.  The flood runs against a
 * wsetd with a long handshake timeout: with a short one, on a slow guest the
 * first connections time out before the last are made and the bound is
 * never reached.
 */
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "agent_test.h"
#include "guest_memory.h"
#include "handover.h"

int main(void)
{
	const char *const arguments[] = { "--handshake-timeout-ms", "300", NULL };
	const char *const patient[] = { "--handshake-timeout-ms", "600000", NULL };
	struct handover_region regions[GUEST_MAX_REGIONS];
	struct handover_result result;
	struct guest_memory memory;
	struct agent agent;
	char half[256], answer[512];
	int baseline, fds[2], fd;
	bool settled;

	if (!agent_started(&agent, arguments))
		return tap_done();
	baseline = process_fd_count(agent.pid);
	if (guest_memory_create(&memory, GUEST_MEMFD, 1 << 20, 1)) {
		tap_ok(false, "guest memory");
		agent_cleanup(&agent);
		return tap_done();
	}
	snprintf(half, sizeof(half), "{\"name\": \"half\", \"regions\": [{\"base_host_virt_addr\": %llu, ",
		 (unsigned long long)(uintptr_t)memory.region_base[0]);

	/* Connect and leave at once. */
	fd = handover_send_raw(agent.socket, "", 0, NULL, 0);
	close(fd);
	tap_ok(agent_wait_log(&agent, "after 0 bytes", 10000),
	       "a peer that leaves before sending is noticed");

	/* Half a document with the userfaultfd and the memfd, then leave. */
	fds[0] = handover_userfaultfd();
	fds[1] = memory.memfd;
	fd = handover_send_raw(agent.socket, half, strlen(half), fds, 2);
	close(fds[0]);
	settled = wait_fd_count(agent.pid, baseline + 3, 10000);
	tap_ok(settled,
	       "mid-handshake wsetd holds the socket and both fds (%d fds, had %d)",
	       process_fd_count(agent.pid), baseline);
	close(fd);
	tap_ok(agent_wait_log(&agent, "before the end of the JSON document", 10000),
	       "a peer that leaves mid-handshake is refused");
	settled = wait_fd_count(agent.pid, baseline, 10000);
	tap_ok(settled,
	       "its socket and fds are closed (%d fds, had %d)",
	       process_fd_count(agent.pid), baseline);

	/* Half a document, then nothing: the timeout answers. */
	fds[0] = handover_userfaultfd();
	fd = handover_send_raw(agent.socket, half, strlen(half), fds, 2);
	close(fds[0]);
	tap_ok(handover_read_answer(fd, answer, sizeof(answer), 30000) > 0 &&
		       strstr(answer, "not complete within handshake_timeout_ms"),
	       "a stalled peer is refused after handshake_timeout_ms");
	tap_ok(handover_read_answer(fd, answer, sizeof(answer), 30000) == 0,
	       "and its connection closed");
	close(fd);
	settled = wait_fd_count(agent.pid, baseline, 10000);
	tap_ok(settled, "no fd left behind (%d fds, had %d)",
	       process_fd_count(agent.pid), baseline);

	/* A connection that sends nothing at all also times out. */
	fd = handover_send_raw(agent.socket, "", 0, NULL, 0);
	tap_ok(handover_read_answer(fd, answer, sizeof(answer), 30000) > 0 &&
		       strstr(answer, "\"ok\":false"),
	       "a silent peer is refused after handshake_timeout_ms");
	close(fd);

	/*
	 * A flood of silent connections against a patient wsetd: it holds 128
	 * at a time, refuses the rest, and closes each one whose peer leaves.
	 */
	tap_ok(agent_stop(&agent, SIGTERM, 10000) == 0, "wsetd exits 0 on TERM");
	if (agent_restart(&agent, patient)) {
		tap_ok(false, "wsetd restarted with a long handshake timeout");
		guest_memory_destroy(&memory);
		agent_finish(&agent);
		return tap_done();
	}
	baseline = process_fd_count(agent.pid);
	{
		int flood[140];

		for (int i = 0; i < 140; i++)
			flood[i] = handover_send_raw(agent.socket, "", 0, NULL, 0);
		tap_ok(agent_wait_log(&agent, "are still sending their request", 30000),
		       "140 silent connections: wsetd refuses those past 128");
		settled = wait_fd_count(agent.pid, baseline + 128, 30000);
		tap_ok(settled,
		       "and holds exactly 128 (%d fds above its %d)",
		       process_fd_count(agent.pid) - baseline, baseline);
		for (int i = 0; i < 140; i++)
			if (flood[i] >= 0)
				close(flood[i]);
		settled = wait_fd_count(agent.pid, baseline, 30000);
		tap_ok(settled,
		       "all of them are closed when their peers leave (%d fds, had %d)",
		       process_fd_count(agent.pid), baseline);
	}

	guest_memory_regions(&memory, regions);
	tap_ok(handover(agent.socket, "after", regions, 1, &result) == 0,
	       "a good handshake is accepted afterwards");
	if (result.socket_fd >= 0)
		handover_close(&result);
	tap_ok(agent_wait_vmm_count(&agent, 0, 5000), "and dropped on disconnect");
	tap_ok(wait_fd_count(agent.pid, baseline, 10000), "no fd left behind at the end");
	tap_ok(agent_stop(&agent, SIGTERM, 10000) == 0, "wsetd exits 0 on TERM");
	guest_memory_destroy(&memory);
	agent_finish(&agent);
	return tap_done();
}
