// SPDX-License-Identifier: MIT
/*
 * A VMM that dies (SIGKILL) while some of its pages are evicted: wsetd
 * notices at once, writes every evicted page back into the memory file
 * (which another process, here the test, still holds), drops it without
 * hanging, keeps no fd and no store file of it, and goes on serving.
 */
#include <dirent.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "agent_test.h"

/* Open the VMM's memfd through /proc, as a vhost-user backend holds it. */
static int hold_memfd(pid_t pid)
{
	char path[64], target[128];
	DIR *directory;
	struct dirent *entry;
	int fd = -1;

	snprintf(path, sizeof(path), "/proc/%d/fd", (int)pid);
	directory = opendir(path);
	while (directory && fd < 0 && (entry = readdir(directory))) {
		char link[400];
		ssize_t length;

		snprintf(link, sizeof(link), "%s/%s", path, entry->d_name);
		length = readlink(link, target, sizeof(target) - 1);
		if (length <= 0)
			continue;
		target[length] = '\0';
		if (strstr(target, "/memfd:"))
			fd = open(link, O_RDONLY | O_CLOEXEC);
	}
	if (directory)
		closedir(directory);
	return fd;
}

/* Pages of the file that read as zeroes (a hole: the page was lost). */
static uint64_t zero_pages(int fd, uint64_t *pages)
{
	static uint64_t words[512];
	uint64_t zero = 0;

	*pages = 0;
	while (pread(fd, words, sizeof(words), (off_t)(*pages * sizeof(words))) ==
	       (ssize_t)sizeof(words)) {
		bool all_zero = true;

		for (int i = 0; i < 512 && all_zero; i++)
			all_zero = words[i] == 0;
		zero += all_zero;
		(*pages)++;
	}
	return zero;
}

/* Files in the scratch directory other than ours: leftover store files. */
static int stray_files(const struct agent *agent)
{
	DIR *directory = opendir(agent->directory);
	struct dirent *entry;
	int count = 0;

	while (directory && (entry = readdir(directory))) {
		if (entry->d_name[0] == '.' || strstr(entry->d_name, ".sock") ||
		    !strcmp(entry->d_name, "wsetd.log") || !strcmp(entry->d_name, "wsetd.conf") ||
		    !strcmp(entry->d_name, "vmm.log"))
			continue;
		tap_diag("stray file: %s", entry->d_name);
		count++;
	}
	if (directory)
		closedir(directory);
	return count;
}

int main(void)
{
	const char *const arguments[] = {
		"--interval-ms", "100", "--evict", "yes", "--min-idle-age", "2", NULL,
	};
	struct agent agent;
	char vmm_log[160], mechanism[16];
	uint64_t evicted = 0;
	struct timespec before, after;
	int baseline;
	pid_t vmm;
	int memfd;
	bool dropped;

	if (!agent_started(&agent, arguments))
		return tap_done();
	baseline = process_fd_count(agent.pid);
	snprintf(vmm_log, sizeof(vmm_log), "%s/vmm.log", agent.directory);
	{
		const char *const vmm_arguments[] = {
			"--socket", agent.socket, "--name", "doomed", "--memory", "32M",
			"--duration", "0", "--hot", "5", "--phase", "1", "--rate", "5000",
			NULL,
		};
		vmm = spawn_tool("wset-demo-vmm", vmm_arguments, vmm_log);
	}
	tap_ok(agent_wait_vmm_count(&agent, 1, 30000), "the demo VMM connects");
	agent_vmm_string(&agent, 1, "mechanism", mechanism, sizeof(mechanism));
	evicted = agent_evict_some(&agent, 1);
	tap_diag("evicted when killed: %llu bytes", (unsigned long long)evicted);
	memfd = hold_memfd(vmm);
	tap_ok(memfd >= 0, "the test holds the VMM's memfd");

	clock_gettime(CLOCK_MONOTONIC, &before);
	kill(vmm, SIGKILL);
	wait_exit(vmm, 5000);
	dropped = agent_wait_vmm_count(&agent, 0, 10000);
	clock_gettime(CLOCK_MONOTONIC, &after);
	tap_ok(dropped, "wsetd drops the dead VMM within 10 s (took %ld ms)",
	       (long)((after.tv_sec - before.tv_sec) * 1000 +
		      (after.tv_nsec - before.tv_nsec) / 1000000));
	tap_ok(process_fd_count(agent.pid) == baseline,
	       "no fd of it left in wsetd (%d before, %d now)", baseline,
	       process_fd_count(agent.pid));
	{
		uint64_t pages = 0, zero = memfd >= 0 ? zero_pages(memfd, &pages) : 1;

		tap_ok(memfd >= 0 && zero == 0 && pages == 8192,
		       "every page of the dead VMM's memfd holds data: the evicted ones "
		       "were written back (%llu of %llu pages read as zeroes)",
		       (unsigned long long)zero, (unsigned long long)pages);
		if (memfd >= 0)
			close(memfd);
	}
	tap_ok(stray_files(&agent) == 0, "no store file left behind");
	tap_ok(agent_vmm_count(&agent) == 0, "wsetd still answers");
	tap_ok(agent_stop(&agent, SIGTERM, 10000) == 0, "wsetd exits 0 on TERM");
	agent_finish(&agent);
	if (!tap_failures() && evicted == 0)
		tap_skip_all("no page was evicted (mechanism %s; libwset evicts memory "
			     "of another process only with rwp): a VMM dying with evicted pages was not exercised", mechanism);
	return tap_done();
}
