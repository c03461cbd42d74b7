// SPDX-License-Identifier: MIT
/*
 * A VMM running the in-VMM helper (libwset-helper) hands wsetd a memfd
 * region and an anonymous region; wsetd evicts the cold part of both with
 * the mechanism given (wp on stock kernels), while the VMM keeps a hot set
 * busy and a racer writes pages at random, some of them in the middle of
 * their eviction.  Pass: the VMM's RSS drops by at least 60 % of the cold
 * part, and every page holds what was last written to it.
 * usage: helper_evict MECHANISM (wp skips on a kernel with RWP, where
 * make check runs it under TCG: the native run covers it)
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "agent_test.h"
#include "wset_helper.h"

#define PAGE 4096u
#define FILE_PAGES 4096u /* 16 MiB */
#define ANON_PAGES 2048u /* 8 MiB */
#define PAGES (FILE_PAGES + ANON_PAGES)
#define HOT_EVERY 20u	 /* one page in 20 is hot: 5 % */

static uint8_t *file_memory, *anon_memory;
static uint32_t generation[PAGES];

static uint64_t *page_words(unsigned int page)
{
	uint8_t *base = page < FILE_PAGES ? file_memory + (size_t)page * PAGE :
					   anon_memory + (size_t)(page - FILE_PAGES) * PAGE;
	return (uint64_t *)base;
}

static uint64_t word(unsigned int page, uint32_t gen, unsigned int index)
{
	return (((uint64_t)page << 32) | gen) ^ ((index + 1) * 0x9e3779b97f4a7c15ull);
}

static void write_page(unsigned int page)
{
	uint64_t *words = page_words(page);
	uint32_t gen = ++generation[page];

	for (unsigned int i = 0; i < PAGE / 8; i++)
		words[i] = word(page, gen, i);
}

static unsigned int bad_pages(void)
{
	unsigned int bad = 0;

	for (unsigned int page = 0; page < PAGES; page++) {
		const uint64_t *words = page_words(page);

		for (unsigned int i = 0; i < PAGE / 8; i++) {
			if (words[i] != word(page, generation[page], i)) {
				if (getenv("HELPER_EVICT_SHOW"))
					fprintf(stderr, "bad page %u (%s) word %u: %llx gen %u\n",
						page, page < FILE_PAGES ? "file" : "anon", i,
						(unsigned long long)words[i], generation[page]);
				bad++;
				break;
			}
		}
	}
	return bad;
}

static bool command_waiting(int sock, char *command)
{
	return recv(sock, command, 1, MSG_DONTWAIT) == 1;
}

/*
 * The VMM.  Commands: 'r' race (hot set plus random writes), 'q' quiet
 * (hot set only), 'v' verify (answers the bad page count, then lets go).
 */
static void vmm(int sock, const char *socket_path, const char *mechanism)
{
	struct wset_helper_region regions[2];
	struct wset_helper *helper;
	char error[512], command = 'q';
	unsigned int seed = 1;
	int memfd = memfd_create("guest-ram", MFD_CLOEXEC);
	int ret;

	if (memfd < 0 || ftruncate(memfd, (off_t)FILE_PAGES * PAGE) < 0)
		_exit(3);
	file_memory = mmap(NULL, (size_t)FILE_PAGES * PAGE, PROT_READ | PROT_WRITE,
			   MAP_SHARED, memfd, 0);
	anon_memory = mmap(NULL, (size_t)ANON_PAGES * PAGE, PROT_READ | PROT_WRITE,
			   MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (file_memory == MAP_FAILED || anon_memory == MAP_FAILED)
		_exit(3);
	/* Small pages: eviction and the RSS figure are per 4 KiB page. */
	madvise(anon_memory, (size_t)ANON_PAGES * PAGE, MADV_NOHUGEPAGE);
	for (unsigned int page = 0; page < PAGES; page++)
		write_page(page);
	regions[0] = (struct wset_helper_region){ file_memory,
		(uint64_t)FILE_PAGES * PAGE, memfd, 0 };
	regions[1] = (struct wset_helper_region){ anon_memory,
		(uint64_t)ANON_PAGES * PAGE, -1, 0 };
	if (write(sock, "f", 1) != 1) /* filled: the parent takes the RSS */
		_exit(3);
	ret = wset_helper_connect(socket_path, "helper-test", regions, 2, &helper,
				  error, sizeof(error));
	if (ret < 0) {
		dprintf(sock, "e%s\n", error);
		_exit(3);
	}
	if (strcmp(wset_helper_mechanism(helper), mechanism)) {
		dprintf(sock, "emechanism %s, not %s\n",
			wset_helper_mechanism(helper), mechanism);
		_exit(3);
	}
	if (write(sock, "c", 1) != 1)
		_exit(3);
	for (;;) {
		command_waiting(sock, &command);
		if (command == 'v')
			break;
		for (unsigned int page = 0; page < PAGES; page += HOT_EVERY)
			write_page(page);
		if (command == 'r') {
			/* About 4000 random writes a second: most pages stay
			 * cold, and some writes land in an eviction step. */
			for (int i = 0; i < 40; i++)
				write_page(rand_r(&seed) % PAGES);
		}
		usleep(10000);
	}
	unsigned int bad = bad_pages();
	if (write(sock, &bad, sizeof(bad)) != sizeof(bad))
		_exit(3);
	ret = wset_helper_close(helper, 30000);
	/* After the agent let go every page must still be intact. */
	bad = bad_pages();
	if (ret < 0 || bad)
		fprintf(stderr, "vmm: let go: %s, %u bad pages\n", strerror(-ret), bad);
	_exit(bad ? 1 : ret < 0 ? 2 : 0);
}

static long rss_kib(pid_t pid)
{
	char path[64], line[128];
	long kib = -1;
	FILE *status;

	snprintf(path, sizeof(path), "/proc/%d/status", (int)pid);
	status = fopen(path, "re");
	while (status && fgets(line, sizeof(line), status))
		if (sscanf(line, "VmRSS: %ld kB", &kib) == 1)
			break;
	if (status)
		fclose(status);
	return kib;
}

static uint64_t now_ms(void)
{
	struct timespec now;

	clock_gettime(CLOCK_MONOTONIC, &now);
	return (uint64_t)now.tv_sec * 1000 + (uint64_t)now.tv_nsec / 1000000;
}

/* Wait for a counter of VMM 1 to reach at least target; its last value. */
static uint64_t wait_counter_at_least(const struct agent *agent, const char *key,
				      uint64_t target, int timeout_ms)
{
	uint64_t deadline = now_ms() + (uint64_t)timeout_ms, value = 0;

	while (now_ms() < deadline) {
		value = agent_vmm_counter(agent, 1, key);
		if (value != UINT64_MAX && value >= target)
			return value;
		sleep_ms(50);
	}
	return value == UINT64_MAX ? 0 : value;
}

int main(int argc, char **argv)
{
	const char *mechanism = argc > 1 ? argv[1] : "wp";
	const char *const arguments[] = {
		"--mechanism", mechanism, "--interval-ms", "100", "--evict", "yes",
		"--min-idle-age", "3", NULL,
	};
	const uint64_t cold_bytes = (uint64_t)(PAGES - PAGES / HOT_EVERY) * PAGE;
	struct agent agent;
	int sockets[2], status;
	char answer = 0;
	unsigned int bad = ~0u;
	pid_t child;

	if (!agent_started(&agent, arguments))
		return tap_done();
	/* make check runs wp natively; under TCG its time goes to rwp. */
	if (!strcmp(mechanism, "wp") && agent_log_contains(&agent, "rwp yes")) {
		agent_stop(&agent, SIGTERM, 10000);
		agent_cleanup(&agent);
		tap_skip_all("wp: run natively; on a kernel with RWP only the rwp "
			     "variant runs");
	}
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sockets) < 0)
		tap_skip_all("socketpair failed");
	child = fork();
	if (child == 0) {
		close(sockets[0]);
		vmm(sockets[1], agent.socket, mechanism);
	}
	close(sockets[1]);
	if (read(sockets[0], &answer, 1) != 1 || answer != 'f') {
		tap_ok(false, "the VMM fills its memory");
		goto out;
	}
	long rss_before = rss_kib(child);
	if (read(sockets[0], &answer, 1) != 1 || answer != 'c') {
		char reason[512] = "";
		ssize_t got = read(sockets[0], reason, sizeof(reason) - 1);

		reason[got > 0 ? got : 0] = '\0';
		if (strstr(reason, "mechanism") || strstr(reason, "not available") ||
		    strstr(reason, "not supported")) {
			kill(child, SIGKILL);
			wait_exit(child, 5000);
			agent_stop(&agent, SIGTERM, 10000);
			agent_cleanup(&agent);
			tap_skip_all("%s: %s", mechanism, reason);
		}
		tap_ok(false, "the VMM hands its memory over with the helper: %s", reason);
		goto out;
	}
	tap_ok(true, "the VMM hands a memfd and an anonymous region over with the helper");

	/* Race: evictions while random writes go on, and refaults. */
	if (write(sockets[0], "r", 1) != 1)
		goto out;
	uint64_t evicted = wait_counter_at_least(&agent, "evictions", PAGES / 2, 60000);
	uint64_t refaults = wait_counter_at_least(&agent, "refaults", 1000, 60000);
	tap_ok(evicted >= PAGES / 2 && refaults >= 1000,
	       "%s evicts while the VMM writes at random: %llu evictions, %llu refaults",
	       mechanism, (unsigned long long)evicted, (unsigned long long)refaults);

	/* Quiet: the cold part leaves; RSS must show it. */
	if (write(sockets[0], "q", 1) != 1)
		goto out;
	long target = rss_before - (long)(cold_bytes * 6 / 10 / 1024);
	uint64_t deadline = now_ms() + 60000;
	long rss_after = rss_kib(child);
	while (rss_after > target && now_ms() < deadline) {
		sleep_ms(100);
		rss_after = rss_kib(child);
	}
	tap_ok(rss_after <= target,
	       "VMM RSS %ld KiB -> %ld KiB: dropped by %.0f %% of the cold part (%llu KiB), 60 %% needed",
	       rss_before, rss_after,
	       100.0 * (double)(rss_before - rss_after) * 1024 / (double)cold_bytes,
	       (unsigned long long)(cold_bytes / 1024));
	tap_diag("%llu bytes in the store, %llu pages unevictable, %llu abandoned",
		 (unsigned long long)agent_vmm_counter(&agent, 1, "evicted_bytes"),
		 (unsigned long long)agent_vmm_counter(&agent, 1, "unevictable_pages"),
		 (unsigned long long)agent_vmm_counter(&agent, 1, "abandoned"));

	if (write(sockets[0], "v", 1) != 1 ||
	    read(sockets[0], &bad, sizeof(bad)) != sizeof(bad))
		tap_ok(false, "the VMM verifies its memory");
	else
		tap_ok(bad == 0, "every page holds its last write: %u bad of %u", bad, PAGES);
	status = wait_exit(child, 60000);
	tap_ok(status == 0, "the VMM lets go and finds every page intact (exit %d)", status);
	tap_ok(agent_stop(&agent, SIGTERM, 10000) == 0, "wsetd exits 0 on TERM");
	agent_finish(&agent);
	return tap_done();
out:
	kill(child, SIGKILL);
	wait_exit(child, 5000);
	agent_stop(&agent, SIGTERM, 10000);
	agent_finish(&agent);
	return tap_done();
}
