// SPDX-License-Identifier: MIT
/*
 * Handshakes with the wrong fds are refused, saying why: none, a first fd
 * that is not a userfaultfd, memfds that are pipes, read-only or too small,
 * a region naming a memfd that was not sent, an fd no region names, too
 * many fds, fds sent to the control socket.  No received fd stays open.
 */
#include <fcntl.h>
#include <linux/userfaultfd.h>
#include <sys/ioctl.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "agent_test.h"
#include "guest_memory.h"
#include "handover.h"

static struct agent agent;
static struct guest_memory memory;

/* Send document (%llu: the region's address) with fds, expect a refusal
 * containing expected. */
static void expect_refusal(const char *label, const char *document_format,
			   const int *fds, int fd_count, const char *expected)
{
	char document[512], answer[1024];
	int fd, length;

	snprintf(document, sizeof(document), document_format,
		 (unsigned long long)(uintptr_t)memory.region_base[0]);
	fd = handover_send_raw(agent.socket, document, strlen(document), fds, fd_count);
	length = fd >= 0 ? handover_read_answer(fd, answer, sizeof(answer), 5000) : -1;
	if (!tap_ok(length > 0 && strstr(answer, "\"ok\":false") && strstr(answer, expected),
		    "%s: refused, saying '%s'", label, expected))
		tap_diag("answer: %s", length > 0 ? answer : "(none)");
	if (fd >= 0)
		close(fd);
}

#define ANON "[{\"base_host_virt_addr\": %llu, \"size\": 4096, \"page_size\": 4096}]"
#define FILE_BACKED "[{\"base_host_virt_addr\": %llu, \"size\": 4096, \"page_size\": 4096, \"memfd\": 1}]"

int main(void)
{
	int uffd, pipe_fds[2], read_only, fds[80], baseline, control_fd;
	struct sockaddr_un address = { .sun_family = AF_UNIX };
	char path[64];

	if (!agent_started(&agent, NULL))
		return tap_done();
	baseline = process_fd_count(agent.pid);
	if (guest_memory_create(&memory, GUEST_MEMFD, 1 << 20, 1) || pipe(pipe_fds)) {
		tap_ok(false, "guest memory");
		agent_cleanup(&agent);
		return tap_done();
	}
	snprintf(path, sizeof(path), "/proc/self/fd/%d", memory.memfd);
	read_only = open(path, O_RDONLY | O_CLOEXEC);
	uffd = handover_userfaultfd();

	expect_refusal("no fds", ANON, NULL, 0, "no userfaultfd received");
	expect_refusal("fd 0 is a pipe", ANON, pipe_fds, 1, "fd 0 is not a userfaultfd");
	expect_refusal("fd 0 is a memfd", ANON, &memory.memfd, 1, "fd 0 is not a userfaultfd");
	expect_refusal("memfd not sent", FILE_BACKED, &uffd, 1, "memfd 1: no such fd");
	fds[0] = uffd;
	fds[1] = pipe_fds[0];
	expect_refusal("memfd is a pipe", FILE_BACKED, fds, 2, "is not a memfd");
	fds[1] = read_only;
	expect_refusal("memfd read-only", FILE_BACKED, fds, 2,
		       "not open for reading and writing");
	fds[1] = memory.memfd;
	expect_refusal("memfd too small",
		       "[{\"base_host_virt_addr\": %llu, \"size\": 4096, \"page_size\": 4096, "
		       "\"memfd\": 1, \"offset\": 1048576}]",
		       fds, 2, "holds 1048576 bytes, the region needs 1052672");
	fds[2] = pipe_fds[1];
	expect_refusal("unreferenced fd", FILE_BACKED, fds, 3,
		       "fd 2 was received but no region names it");
	for (int i = 1; i < 70; i++)
		fds[i] = memory.memfd;
	expect_refusal("70 fds", FILE_BACKED, fds, 70, "more than 65 fds");

	/* fds on the control socket are closed and the request dropped. */
	snprintf(address.sun_path, sizeof(address.sun_path), "%s", agent.control);
	control_fd = handover_send_raw(agent.control, "{\"command\":\"status\"}", 20,
				       pipe_fds, 2);
	if (control_fd >= 0) {
		char answer[256];

		tap_ok(handover_read_answer(control_fd, answer, sizeof(answer), 5000) > 0 &&
			       strstr(answer, "fds received on the control socket"),
		       "control socket: a request with fds is refused");
		close(control_fd);
	} else {
		tap_ok(false, "control socket: connect");
	}

	tap_ok(agent_vmm_count(&agent) == 0, "no VMM was started");
	tap_ok(process_fd_count(agent.pid) == baseline,
	       "every received fd was closed (%d fds before, %d now)", baseline,
	       process_fd_count(agent.pid));
	tap_ok(agent_stop(&agent, SIGTERM, 10000) == 0, "wsetd exits 0 on TERM");
	close(uffd);
	close(read_only);
	guest_memory_destroy(&memory);
	agent_finish(&agent);
	return tap_done();
}
