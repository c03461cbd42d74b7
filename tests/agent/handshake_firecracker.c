// SPDX-License-Identifier: MIT
/*
 * Firecracker's order: the VMM calls UFFDIO_API and registers its memory
 * itself, then hands the userfaultfd over.  wsetd serves it as a
 * MISSING-only handler (mechanism "missing-only", the reason in status):
 * faults are answered (never left asleep), nothing is tracked or evicted.
 */
#include <linux/userfaultfd.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <unistd.h>

#include "agent_test.h"
#include "handover.h"

#define PAGES 16

static volatile unsigned char *memory;
static volatile int touched;

static void *touch(void *arg)
{
	unsigned int sum = 0;

	(void)arg;
	for (int page = 0; page < PAGES; page++)
		sum += memory[page * 4096];
	touched = sum == 0 ? 1 : -1;
	return NULL;
}

int main(void)
{
	struct agent agent;
	struct uffdio_api api = { .api = UFFD_API };
	struct uffdio_register range = { .mode = UFFDIO_REGISTER_MODE_MISSING };
	char document[256], answer[512], reason[256], mechanism[32];
	pthread_t thread;
	int uffd, fd;

	if (!agent_started(&agent, NULL))
		return tap_done();
	memory = mmap(NULL, PAGES * 4096, PROT_READ | PROT_WRITE,
		      MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	uffd = handover_userfaultfd();
	range.range.start = (uintptr_t)memory;
	range.range.len = PAGES * 4096;
	if (!tap_ok(memory != MAP_FAILED && uffd >= 0 && ioctl(uffd, UFFDIO_API, &api) == 0 &&
			    ioctl(uffd, UFFDIO_REGISTER, &range) == 0,
		    "the VMM calls UFFDIO_API and registers its memory itself")) {
		agent_finish(&agent);
		return tap_done();
	}
	snprintf(document, sizeof(document),
		 "{\"name\": \"fc\", \"regions\": [{\"base_host_virt_addr\": %llu, "
		 "\"size\": %d, \"offset\": 0, \"page_size_kib\": 4}]}",
		 (unsigned long long)(uintptr_t)memory, PAGES * 4096);
	fd = handover_send_raw(agent.socket, document, strlen(document), &uffd, 1);
	tap_ok(fd >= 0 && handover_read_answer(fd, answer, sizeof(answer), 30000) > 0 &&
		       strstr(answer, "\"ok\":true") &&
		       strstr(answer, "\"mechanism\":\"missing-only\""),
	       "the handshake is accepted as missing-only: %s", answer);
	agent_vmm_string(&agent, 1, "mechanism", mechanism, sizeof(mechanism));
	agent_vmm_string(&agent, 1, "mechanism_reason", reason, sizeof(reason));
	tap_ok(strcmp(mechanism, "missing-only") == 0 &&
		       strstr(reason, "the VMM called UFFDIO_API itself"),
	       "status says missing-only and why: %s", reason);
	pthread_create(&thread, NULL, touch, NULL);
	for (int waited = 0; waited < 30000 && !touched; waited += 10)
		sleep_ms(10);
	tap_ok(touched == 1, "faults on its memory are answered (pages never stored read "
			     "as zeroes)");
	if (touched)
		pthread_join(thread, NULL);
	tap_ok(agent_wait_counter(&agent, 1, "faults", 10000) >= PAGES &&
		       agent_vmm_counter(&agent, 1, "evicted_bytes") == 0,
	       "wsetd counted the faults and evicted nothing");
	if (fd >= 0)
		close(fd);
	tap_ok(agent_wait_vmm_count(&agent, 0, 30000), "dropped after disconnect");
	tap_ok(agent_stop(&agent, SIGTERM, 30000) == 0, "wsetd exits 0 on TERM");
	if (!touched) {
		/* Leave no thread asleep on our own userfaultfd. */
		close(uffd);
		pthread_join(thread, NULL);
	} else {
		close(uffd);
	}
	agent_finish(&agent);
	return tap_done();
}
