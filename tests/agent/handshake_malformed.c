// SPDX-License-Identifier: MIT
/*
 * Malformed handshakes are refused with an answer that says why, every fd
 * that came with them is closed, and wsetd goes on serving good ones.
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "agent_test.h"
#include "guest_memory.h"
#include "handover.h"

struct bad_case {
	const char *label;
	const char *document; /* %1$llu: base of region 0, %2$llu: of region 1 */
	const char *expected; /* in the error */
	bool with_memfd;      /* send the memfd as fd 1 */
};

static const struct bad_case cases[] = {
	{ "broken JSON", "[{\"base_host_virt_addr\": %1$llu,, }]", "malformed JSON" },
	{ "not an array", "\"regions\"", "expected a JSON array" },
	{ "regions not an array", "{\"regions\": 5}", "expected a JSON array" },
	{ "unknown top-level key", "{\"regions\": [], \"colour\": 1}", "unknown key 'colour'" },
	{ "no regions", "[]", "0 regions" },
	{ "region not an object", "[7]", "region 0: not a JSON object" },
	{ "missing size", "[{\"base_host_virt_addr\": %1$llu, \"page_size\": 4096}]",
	  "needs base_host_virt_addr, size and page_size" },
	{ "negative size", "[{\"base_host_virt_addr\": %1$llu, \"size\": -4096, \"page_size\": 4096}]",
	  "size: not a non-negative integer" },
	{ "string address", "[{\"base_host_virt_addr\": \"%1$llu\", \"size\": 4096, \"page_size\": 4096}]",
	  "base_host_virt_addr: not a non-negative integer" },
	{ "unknown region key", "[{\"base_host_virt_addr\": %1$llu, \"size\": 4096, \"page_size\": 4096, \"flags\": 1}]",
	  "unknown key 'flags'" },
	{ "unaligned base", "[{\"base_host_virt_addr\": %1$llu1, \"size\": 4096, \"page_size\": 4096}]",
	  "multiples of page_size" },
	{ "zero size", "[{\"base_host_virt_addr\": %1$llu, \"size\": 0, \"page_size\": 4096}]",
	  "multiples of page_size" },
	{ "odd page size", "[{\"base_host_virt_addr\": %1$llu, \"size\": 12288, \"page_size\": 3072}]",
	  "not a power of two" },
	{ "both page sizes", "[{\"base_host_virt_addr\": %1$llu, \"size\": 4096, \"page_size\": 4096, \"page_size_kib\": 4}]",
	  "both page_size and page_size_kib" },
	{ "huge pages without memfd", "[{\"base_host_virt_addr\": %1$llu, \"size\": 2097152, \"page_size\": 2097152}]",
	  "anonymous memory must have page_size 4096" },
	{ "overlap", "[{\"base_host_virt_addr\": %1$llu, \"size\": 8192, \"page_size\": 4096},"
		     "{\"base_host_virt_addr\": %1$llu, \"size\": 4096, \"page_size\": 4096}]",
	  "regions 0 and 1 overlap" },
	{ "beyond the address space", "[{\"base_host_virt_addr\": 18446744073709547520, \"size\": 8192, \"page_size\": 4096}]",
	  "beyond the address space" },
	{ "trailing data", "[{\"base_host_virt_addr\": %1$llu, \"size\": 4096, \"page_size\": 4096}] x",
	  "after the JSON document" },
	{ "name too long", "{\"name\": \"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\", "
			   "\"regions\": [{\"base_host_virt_addr\": %1$llu, \"size\": 4096, \"page_size\": 4096}]}",
	  "name: must have" },
	{ "memfd index out of range", "[{\"base_host_virt_addr\": %1$llu, \"size\": 4096, \"page_size\": 4096, \"memfd\": 2}]",
	  "memfd 2: no such fd", true },
	{ "memfd index 0", "[{\"base_host_virt_addr\": %1$llu, \"size\": 4096, \"page_size\": 4096, \"memfd\": 0}]",
	  "memfd 0: no such fd", true },
	{ "user-mode-only userfaultfd", "{\"uffd_flags\": 524289, \"regions\": [{\"base_host_virt_addr\": %1$llu, \"size\": 4096, \"page_size\": 4096}]}",
	  "UFFD_USER_MODE_ONLY userfaultfd is refused" },
	{ "message version from the future", "{\"version\": 99, \"regions\": [{\"base_host_virt_addr\": %1$llu, \"size\": 4096, \"page_size\": 4096}]}",
	  "version 99: this wsetd speaks 1 to" },
	{ "unmapped memory", "[{\"base_host_virt_addr\": 4096, \"size\": 4096, \"page_size\": 4096}]",
	  "region 0: not mapped in the VMM" },
};

int main(void)
{
	const char *const arguments[] = { "--handshake-timeout-ms", "2000", NULL };
	struct guest_memory memory;
	struct handover_region regions[GUEST_MAX_REGIONS];
	struct handover_result result;
	struct agent agent;
	int baseline;

	if (!agent_started(&agent, arguments))
		return tap_done();
	baseline = process_fd_count(agent.pid);
	if (guest_memory_create(&memory, GUEST_MEMFD, 1 << 20, 1)) {
		tap_ok(false, "guest memory");
		agent_cleanup(&agent);
		return tap_done();
	}
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		const struct bad_case *bad = &cases[i];
		char document[1024], answer[1024];
		int fds[2], fd, length;

		snprintf(document, sizeof(document), bad->document,
			 (unsigned long long)(uintptr_t)memory.region_base[0]);
		fds[0] = handover_userfaultfd();
		fds[1] = memory.memfd;
		fd = handover_send_raw(agent.socket, document, strlen(document), fds,
				       bad->with_memfd ? 2 : 1);
		close(fds[0]);
		length = fd >= 0 ? handover_read_answer(fd, answer, sizeof(answer), 5000) : -1;
		if (!tap_ok(length > 0 && strstr(answer, "\"ok\":false") &&
				    strstr(answer, bad->expected),
			    "%s: refused, saying '%s'", bad->label, bad->expected))
			tap_diag("answer: %s", length > 0 ? answer : "(none)");
		if (fd >= 0)
			close(fd);
	}
	tap_ok(agent_vmm_count(&agent) == 0, "no VMM was started");
	tap_ok(process_fd_count(agent.pid) == baseline,
	       "wsetd holds as many fds as before (%d, has %d)", baseline,
	       process_fd_count(agent.pid));
	tap_ok(agent_vmm_counter(&agent, 0, "x") == UINT64_MAX, "status still answers");
	guest_memory_regions(&memory, regions);
	tap_ok(handover(agent.socket, "after", regions, 1, &result) == 0,
	       "a good handshake is accepted afterwards");
	if (result.socket_fd >= 0)
		handover_close(&result);
	tap_ok(agent_wait_vmm_count(&agent, 0, 5000), "and dropped on disconnect");
	tap_ok(agent_stop(&agent, SIGTERM, 10000) == 0, "wsetd exits 0 on TERM");
	{
		char command[200];

		snprintf(command, sizeof(command),
			 "ls %s | grep -Eq '\\.(pages|journal|session)$'", agent.directory);
		tap_ok(system(command) != 0,
		       "refused VMMs leave no store or session file in the state directory");
	}
	guest_memory_destroy(&memory);
	agent_finish(&agent);
	return tap_done();
}
