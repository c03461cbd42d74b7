/* SPDX-License-Identifier: MIT */
/*
 * PID 1 of a QEMU guest whose RAM is under wset (tests/qemu/run): fills
 * fill_mib MiB with checksummed pages, keeps the first hot_mib MiB busy
 * (verifying and rewriting them) and prints its rate every second, until
 * a 'v' arrives on the serial console; then it checks every page, prints
 * the count of bad ones and powers the machine off.  The sizes come from
 * the kernel command line (fill_mib=N hot_mib=N reach init as environment).
 *
 * With disk_mib=N (tests/qemu/vhost-user) the guest also has a virtio disk
 * served by a vhost-user backend: each 'd' on the console is one round
 * that writes N MiB of cold pages to /dev/vda with O_DIRECT (the backend
 * reads them from guest memory) and reads them back, with O_DIRECT too,
 * into N MiB of other cold pages (the backend writes guest memory), then
 * counts the bytes that differ from what was written (see disk_round()).  Kernel modules in
 * /modules (loaded in name order) provide the disk driver when the kernel
 * does not have it built in.
 */
#define _GNU_SOURCE /* O_DIRECT */
#include <fcntl.h>
#include <poll.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/mount.h>
#include <sys/reboot.h>
#include <sys/syscall.h>
#include <dirent.h>
#include <time.h>
#include <unistd.h>

#define PAGE 4096u

static uint8_t *memory;
static uint32_t *generation;

static uint64_t word(uint64_t page, uint32_t gen, unsigned int index)
{
	return ((page << 32) | gen) ^ ((index + 1) * 0x9e3779b97f4a7c15ull);
}

static void write_page(uint64_t page)
{
	uint64_t *words = (uint64_t *)(memory + page * PAGE);
	uint32_t gen = ++generation[page];

	for (unsigned int i = 0; i < PAGE / 8; i++)
		words[i] = word(page, gen, i);
}

static int page_ok(uint64_t page)
{
	const uint64_t *words = (const uint64_t *)(memory + page * PAGE);

	for (unsigned int i = 0; i < PAGE / 8; i++)
		if (words[i] != word(page, generation[page], i))
			return 0;
	return 1;
}

static double now(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

static unsigned long setting(const char *name, unsigned long fallback)
{
	const char *text = getenv(name);

	return text ? strtoul(text, NULL, 10) : fallback;
}

static void power_off(int code)
{
	printf("wset-guest: exit %d\n", code);
	fflush(stdout);
	sync();
	reboot(RB_AUTOBOOT); /* QEMU runs with -no-reboot: it exits */
	_exit(code);
}

/* Every /modules/\*.ko, in name order (the test numbers them). */
static void load_modules(void)
{
	struct dirent **names;
	int count = scandir("/modules", &names, NULL, alphasort);

	for (int i = 0; i < count; i++) {
		char path[300];
		int fd;

		snprintf(path, sizeof(path), "/modules/%s", names[i]->d_name);
		fd = names[i]->d_name[0] == '.' ? -1 : open(path, O_RDONLY | O_CLOEXEC);
		if (fd >= 0 && syscall(SYS_finit_module, fd, "", 0) != 0)
			printf("wset-guest: cannot load %s: %m\n", path);
		if (fd >= 0)
			close(fd);
		free(names[i]);
	}
	if (count > 0)
		free(names);
}

/* The disk appears once its driver probed it: wait, up to a minute. */
static int open_disk(void)
{
	for (int tries = 0; tries < 600; tries++) {
		int fd = open("/dev/vda", O_RDWR | O_DIRECT);

		if (fd >= 0)
			return fd;
		usleep(100000);
	}
	return -1;
}

/* One round of disk I/O through guest pages nobody touched since the fill
 * (evicted, if wset did its work): round r uses pages [first, first + n) as
 * the source and the n pages after them as the destination.  Returns the
 * bytes of the destination that differ from the source's content. */
static uint64_t disk_round(int disk, uint64_t first, uint64_t n, unsigned int round)
{
	const uint64_t chunk = 16; /* pages per request */
	uint64_t bad = 0, sum = 0;
	uint8_t *source = memory + first * PAGE, *target = source + n * PAGE;

	/* Odd rounds read the destination in first: the backend then writes
	 * resident pages that are cold (under wp only writes count as
	 * accesses), which the agent may be evicting meanwhile; even rounds
	 * have it write evicted pages. */
	for (uint64_t page = 0; round % 2 && page < n; page++)
		sum += *(volatile uint8_t *)(target + page * PAGE);
	for (int pass = 0; pass < 2; pass++) {
		for (uint64_t done = 0; done < n; done += chunk) {
			size_t len = (size_t)((n - done < chunk ? n - done : chunk) * PAGE);
			off_t at = (off_t)(done * PAGE);
			ssize_t got = pass == 0 ? pwrite(disk, source + done * PAGE, len, at) :
					  pread(disk, target + done * PAGE, len, at);

			if (got != (ssize_t)len) {
				printf("wset-guest: disk round %u: I/O error at %lld: %m\n",
				       round, (long long)at);
				return n * PAGE;
			}
		}
	}
	(void)sum;
	for (uint64_t page = 0; page < n; page++) {
		const uint64_t *words = (const uint64_t *)(target + page * PAGE);
		uint64_t from = first + page;

		for (unsigned int i = 0; i < PAGE / 8; i++) {
			uint64_t diff = words[i] ^ word(from, generation[from], i);

			for (; diff; diff >>= 8)
				bad += (diff & 0xff) != 0;
		}
		/* The destination holds its own pattern again for the final check. */
		write_page(first + n + page);
	}
	return bad;
}

int main(void)
{
	unsigned long fill_mib = setting("fill_mib", 128), hot_mib = setting("hot_mib", 16);
	uint64_t pages = (uint64_t)fill_mib << 20 >> 12, hot = (uint64_t)hot_mib << 20 >> 12;
	uint64_t passes = 0, total_passes = 0;
	uint64_t disk_pages = (uint64_t)setting("disk_mib", 0) << 20 >> 12;
	unsigned int round = 0;
	double start, last;
	char command = 0;
	int console, disk = -1;

	mount("devtmpfs", "/dev", "devtmpfs", 0, NULL);
	mount("proc", "/proc", "proc", 0, NULL);
	console = open("/dev/ttyS0", O_RDWR | O_NOCTTY);
	if (console >= 0) {
		dup2(console, 0);
		dup2(console, 1);
		dup2(console, 2);
	}
	setvbuf(stdout, NULL, _IOLBF, 0);
	if (disk_pages) {
		load_modules();
		disk = open_disk();
		if (disk < 0) {
			printf("wset-guest: no disk at /dev/vda\n");
			power_off(1);
		}
	}
	memory = mmap(NULL, pages * PAGE, PROT_READ | PROT_WRITE,
		      MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	generation = calloc(pages, sizeof(*generation));
	if (memory == MAP_FAILED || !generation || hot == 0 ||
	    hot + 2 * disk_pages > pages) {
		printf("wset-guest: cannot set up %lu MiB (hot %lu MiB)\n", fill_mib,
		       hot_mib);
		power_off(1);
	}
	start = now();
	for (uint64_t page = 0; page < pages; page++)
		write_page(page);
	printf("wset-guest: filled %lu MiB (%llu pages) in %.1f s, hot %lu MiB\n",
	       fill_mib, (unsigned long long)pages, now() - start, hot_mib);

	start = last = now();
	while (command != 'v') {
		struct pollfd input = { .fd = 0, .events = POLLIN };
		uint64_t bad = 0;

		for (uint64_t page = 0; page < hot; page++) {
			bad += !page_ok(page);
			write_page(page);
		}
		if (bad)
			printf("wset-guest: %llu bad hot pages\n", (unsigned long long)bad);
		passes++;
		total_passes++;
		double t = now();
		if (t - last >= 1.0) {
			printf("wset-guest: hot rate %.1f MiB/s\n",
			       (double)passes * (double)hot_mib / (t - last));
			passes = 0;
			last = t;
		}
		while (poll(&input, 1, 0) == 1 && read(0, &command, 1) == 1 &&
		       command != 'v') {
			if (command != 'd' || disk < 0)
				continue;
			/* Rounds walk through the cold pages above the hot set. */
			uint64_t rounds = (pages - hot) / (2 * disk_pages);
			uint64_t first = hot + (round % rounds) * 2 * disk_pages;
			double began = now();
			uint64_t bad_bytes = disk_round(disk, first, disk_pages, round);

			printf("wset-guest: disk round %u: %llu MiB written and read "
			       "back in %.1f s, %llu bad bytes\n", round,
			       (unsigned long long)(disk_pages * PAGE >> 20),
			       now() - began, (unsigned long long)bad_bytes);
			round++;
		}
	}
	uint64_t bad = 0;
	for (uint64_t page = 0; page < pages; page++)
		bad += !page_ok(page);
	printf("wset-guest: verified %llu pages, %llu bad, %llu hot passes\n",
	       (unsigned long long)pages, (unsigned long long)bad,
	       (unsigned long long)total_passes);
	power_off(bad ? 1 : 0);
}
