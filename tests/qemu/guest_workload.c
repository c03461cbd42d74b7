/* SPDX-License-Identifier: MIT */
/*
 * PID 1 of a QEMU guest whose RAM is under wset (tests/qemu/run): fills
 * fill_mib MiB with checksummed pages, keeps the first hot_mib MiB busy
 * (verifying and rewriting them) and prints its rate every second, until
 * a 'v' arrives on the serial console; then it checks every page, prints
 * the count of bad ones and powers the machine off.  The sizes come from
 * the kernel command line (fill_mib=N hot_mib=N reach init as environment).
 */
#include <fcntl.h>
#include <poll.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/mount.h>
#include <sys/reboot.h>
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

int main(void)
{
	unsigned long fill_mib = setting("fill_mib", 128), hot_mib = setting("hot_mib", 16);
	uint64_t pages = (uint64_t)fill_mib << 20 >> 12, hot = (uint64_t)hot_mib << 20 >> 12;
	uint64_t passes = 0, total_passes = 0;
	double start, last;
	char command = 0;
	int console;

	mount("devtmpfs", "/dev", "devtmpfs", 0, NULL);
	mount("proc", "/proc", "proc", 0, NULL);
	console = open("/dev/ttyS0", O_RDWR | O_NOCTTY);
	if (console >= 0) {
		dup2(console, 0);
		dup2(console, 1);
		dup2(console, 2);
	}
	setvbuf(stdout, NULL, _IOLBF, 0);
	memory = mmap(NULL, pages * PAGE, PROT_READ | PROT_WRITE,
		      MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	generation = calloc(pages, sizeof(*generation));
	if (memory == MAP_FAILED || !generation || hot == 0 || hot > pages) {
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
		       command != 'v')
			;
	}
	uint64_t bad = 0;
	for (uint64_t page = 0; page < pages; page++)
		bad += !page_ok(page);
	printf("wset-guest: verified %llu pages, %llu bad, %llu hot passes\n",
	       (unsigned long long)pages, (unsigned long long)bad,
	       (unsigned long long)total_passes);
	power_off(bad ? 1 : 0);
}
