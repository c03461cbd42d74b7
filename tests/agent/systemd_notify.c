// SPDX-License-Identifier: MIT
/*
 * Under systemd (Type=notify) wsetd reports READY=1 once it listens,
 * RELOADING=1 then READY=1 around a SIGHUP reload, a STATUS line when a
 * VMM comes, and STOPPING=1 on SIGTERM, on the datagram socket named by
 * $NOTIFY_SOCKET.
 */
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "agent_test.h"
#include "guest_memory.h"
#include "handover.h"

/* Collect every datagram that arrives within timeout_ms into text. */
static void drain(int fd, char *text, size_t size, int timeout_ms)
{
	size_t used = strlen(text);
	struct pollfd wait = { .fd = fd, .events = POLLIN };

	while (used + 1 < size && poll(&wait, 1, timeout_ms) == 1) {
		ssize_t received = recv(fd, text + used, size - used - 2, 0);

		if (received <= 0)
			break;
		used += (size_t)received;
		text[used++] = '\n';
		text[used] = '\0';
	}
}

int main(void)
{
	struct sockaddr_un address = { .sun_family = AF_UNIX };
	struct handover_region regions[GUEST_MAX_REGIONS];
	struct handover_result result;
	struct guest_memory memory;
	struct agent agent;
	char path[64], received[4096] = "";
	int fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);

	snprintf(path, sizeof(path), "/tmp/wsetd-notify.%d", (int)getpid());
	snprintf(address.sun_path, sizeof(address.sun_path), "%s", path);
	unlink(path);
	if (fd < 0 || bind(fd, (struct sockaddr *)&address, sizeof(address))) {
		tap_ok(false, "a notification socket");
		return tap_done();
	}
	setenv("NOTIFY_SOCKET", path, 1);
	if (!agent_started(&agent, NULL)) {
		unlink(path);
		return tap_done();
	}
	drain(fd, received, sizeof(received), 200);
	tap_ok(strstr(received, "READY=1") != NULL, "READY=1 once listening");

	if (guest_memory_create(&memory, GUEST_MEMFD, 1 << 20, 1) == 0) {
		guest_memory_regions(&memory, regions);
		if (handover(agent.socket, "notified", regions, 1, &result) == 0) {
			drain(fd, received, sizeof(received), 200);
			tap_ok(strstr(received, "STATUS=serving 1 VMMs") != NULL,
			       "STATUS says how many VMMs are served");
			handover_close(&result);
			agent_wait_vmm_count(&agent, 0, 5000);
		} else {
			tap_ok(false, "a VMM connects: %s", result.error);
		}
		guest_memory_destroy(&memory);
	}

	received[0] = '\0';
	kill(agent.pid, SIGHUP);
	drain(fd, received, sizeof(received), 500);
	tap_ok(strstr(received, "RELOADING=1") &&
		       strstr(strstr(received, "RELOADING=1"), "READY=1"),
	       "SIGHUP: RELOADING=1, then READY=1");
	received[0] = '\0';
	kill(agent.pid, SIGTERM);
	drain(fd, received, sizeof(received), 500);
	tap_ok(strstr(received, "STOPPING=1") != NULL, "SIGTERM: STOPPING=1");
	tap_ok(agent_stop(&agent, 0, 10000) == 0, "wsetd exits 0");
	agent_finish(&agent);
	close(fd);
	unlink(path);
	return tap_done();
}
