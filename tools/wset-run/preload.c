/* SPDX-License-Identifier: MIT */
/*
 * The wset-run preload library: finds an unmodified VMM's guest RAM as it
 * is mapped and hands it to wsetd through the in-VMM helper (or, with
 * WSET_RUN_IN_PROCESS, runs libwset in the VMM itself).  Guest RAM is:
 *   - a shared mapping of QEMU's memory-backend-memfd (also as mapped by a
 *     vhost-user backend, which receives the same memfd);
 *   - a shared mapping of a hugetlbfs file (-mem-path, memory-backend-file);
 *   - a shared mapping of at least WSET_RUN_MIN_RAM bytes of a tmpfs file
 *     (memory-backend-file on /dev/shm, or an application's item memory
 *     such as memcached --memory-file);
 *   - a private anonymous MAP_FIXED read-write mapping of at least
 *     WSET_RUN_MIN_RAM bytes (QEMU's plain RAM: a reservation activated in
 *     place).
 * RAM unmapped later is handed back first (hotplug); a userfaultfd opened
 * by the VMM itself (QEMU's postcopy migration) makes wset stand down.
 *
 * Interposed: mmap, munmap and syscall, each only watching and then doing
 * what the original does.  The constructor only reads the environment.
 */
#include <dlfcn.h>
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/vfs.h>
#include <unistd.h>

#include "fd_name.h"
#include "wset.h"
#include "wset_helper.h"

#ifndef HUGETLBFS_MAGIC
#define HUGETLBFS_MAGIC 0x958458f6
#endif
#ifndef TMPFS_MAGIC
#define TMPFS_MAGIC 0x01021994
#endif
#define MAX_RAM 64
#define EXPORT __attribute__((visibility("default")))

/* From the environment (wset-run sets it), read once by the constructor. */
static struct {
	const char *socket;
	const char *name;
	bool in_process;
	bool quiet;
	uint64_t min_ram;
	unsigned int interval_ms;
	unsigned int min_idle_age;
	const char *store_dir;
} settings;

static pthread_mutex_t state_lock = PTHREAD_MUTEX_INITIALIZER;
static struct wset_helper *helper;   /* handed to wsetd */
static struct wset *in_process;      /* or run here */
static struct {
	uint64_t addr, size;
	int id; /* in_process region id */
} ram[MAX_RAM];
static int ram_count;
static bool stood_down; /* postcopy, an error, or a forked child */
static __thread bool inside;	/* our own calls pass straight through */

static void *(*real_mmap)(void *, size_t, int, int, int, off_t);
static int (*real_munmap)(void *, size_t);
static long (*real_syscall)(long, ...);

static void say(const char *format, ...) __attribute__((format(printf, 1, 2)));

static void say(const char *format, ...)
{
	char line[512];
	va_list arguments;
	int length;

	if (settings.quiet)
		return;
	va_start(arguments, format);
	length = vsnprintf(line, sizeof(line) - 1, format, arguments);
	va_end(arguments);
	if (length < 0)
		return;
	if (length > (int)sizeof(line) - 2)
		length = (int)sizeof(line) - 2;
	line[length++] = '\n';
	/* One write: lines of several processes do not interleave. */
	if (write(STDERR_FILENO, "wset-run: ", 10) < 0 ||
	    write(STDERR_FILENO, line, (size_t)length) < 0)
		return;
}

static uint64_t env_number(const char *name, uint64_t fallback)
{
	const char *text = getenv(name);
	char *end;
	unsigned long long value;

	if (!text || !*text)
		return fallback;
	errno = 0;
	value = strtoull(text, &end, 10);
	return errno || *end ? fallback : value;
}

__attribute__((constructor)) static void read_environment(void)
{
	settings.socket = getenv("WSET_RUN_SOCKET");
	settings.name = getenv("WSET_RUN_NAME");
	settings.in_process = env_number("WSET_RUN_IN_PROCESS", 0) != 0;
	settings.quiet = env_number("WSET_RUN_QUIET", 0) != 0;
	settings.min_ram = env_number("WSET_RUN_MIN_RAM", 64ull << 20);
	settings.interval_ms = (unsigned int)env_number("WSET_RUN_INTERVAL_MS", 1000);
	settings.min_idle_age = (unsigned int)env_number("WSET_RUN_MIN_IDLE_AGE", 15);
	settings.store_dir = getenv("WSET_RUN_STORE_DIR");
}

static void resolve(void)
{
	if (!real_mmap)
		real_mmap = (void *(*)(void *, size_t, int, int, int, off_t))
			dlsym(RTLD_NEXT, "mmap");
	if (!real_munmap)
		real_munmap = (int (*)(void *, size_t))dlsym(RTLD_NEXT, "munmap");
	if (!real_syscall)
		real_syscall = (long (*)(long, ...))dlsym(RTLD_NEXT, "syscall");
}

/* QEMU's memfd backend names its memfd after the backend type. */
static bool is_guest_memfd(int fd)
{
	char target[128];

	return fd_name(fd, target, sizeof(target)) &&
	       strncmp(target, "/memfd:memory-backend-memfd", 27) == 0;
}

static bool is_filesystem(int fd, unsigned long magic)
{
	struct statfs fs;

	return fstatfs(fd, &fs) == 0 && (unsigned long)fs.f_type == magic;
}

static bool is_hugetlbfs(int fd)
{
	return is_filesystem(fd, HUGETLBFS_MAGIC);
}

static bool looks_like_ram(size_t length, int prot, int flags, int fd)
{
	if ((prot & (PROT_READ | PROT_WRITE)) != (PROT_READ | PROT_WRITE))
		return false;
	if (fd >= 0 && (flags & MAP_TYPE) == MAP_PRIVATE && is_hugetlbfs(fd)) {
		/* Private copies of a file cannot be evicted to it. */
		say("guest RAM on hugetlbfs mapped private (-mem-path without "
		    "share=on) is not handed over: use -object memory-backend-file,"
		    "mem-path=...,share=on");
		return false;
	}
	if (fd >= 0)
		return (flags & MAP_TYPE) == MAP_SHARED &&
		       (is_guest_memfd(fd) || is_hugetlbfs(fd) ||
			(length >= settings.min_ram && is_filesystem(fd, TMPFS_MAGIC)));
	return (flags & (MAP_ANONYMOUS | MAP_FIXED)) == (MAP_ANONYMOUS | MAP_FIXED) &&
	       (flags & MAP_TYPE) == MAP_PRIVATE && length >= settings.min_ram;
}

static void forked_child(void)
{
	/* The helper's threads stay with the parent. */
	helper = NULL;
	in_process = NULL;
	stood_down = true;
}

static int start_in_process(void)
{
	struct wset_config config = WSET_CONFIG_INIT;

	config.interval_ms = settings.interval_ms;
	config.store_dir = settings.store_dir;
	config.policy.enabled = true;
	config.policy.min_idle_age = settings.min_idle_age;
	return wset_create(&config, &in_process);
}

/* Called with state_lock held, inside. */
static void hand_over(void *addr, size_t length, int fd, off_t offset)
{
	struct wset_helper_region region = { addr, length, fd, (uint64_t)offset };
	char error[512] = "";
	int ret, id = -1;

	if (ram_count == MAX_RAM) {
		say("more than %d guest RAM regions: %p not tracked", MAX_RAM, addr);
		return;
	}
	if (settings.in_process) {
		ret = in_process ? 0 : start_in_process();
		if (ret == 0)
			ret = id = fd >= 0 ?
				wset_add_file(in_process, (uintptr_t)addr, length, fd,
					      (uint64_t)offset) :
				wset_add_anon(in_process, (uintptr_t)addr, length);
		if (ret >= 0 && ram_count == 0)
			ret = wset_start(in_process);
		if (ret < 0)
			snprintf(error, sizeof(error), "libwset: %s", strerror(-ret));
	} else if (!helper) {
		pthread_atfork(NULL, NULL, forked_child);
		ret = wset_helper_connect(settings.socket, settings.name, &region, 1,
					  &helper, error, sizeof(error));
	} else {
		ret = wset_helper_add_region(helper, &region);
		if (ret < 0)
			snprintf(error, sizeof(error), "wsetd refused it: %s",
				 strerror(-ret));
	}
	if (ret < 0) {
		say("guest RAM at %p (%zu MiB) not handed over: %s", addr,
		    length >> 20, error);
		if (ram_count == 0 && !settings.in_process)
			stood_down = true; /* no agent: run untouched */
		return;
	}
	ram[ram_count].addr = (uintptr_t)addr;
	ram[ram_count].size = length;
	ram[ram_count].id = id;
	ram_count++;
	say("guest RAM at %p, %zu MiB (%s) %s", addr, length >> 20,
	    fd < 0 ? "anonymous" : is_hugetlbfs(fd) ? "hugetlbfs" :
	    is_guest_memfd(fd) ? "memfd" : "tmpfs",
	    settings.in_process ? "tracked in process" :
	    ram_count == 1 ? "handed to wsetd" : "added (hotplug)");
	if (ram_count == 1 && helper)
		say("wsetd serves this process as vmm %u, mechanism %s",
		    wset_helper_vmm_id(helper), wset_helper_mechanism(helper));
}

EXPORT void *mmap(void *addr, size_t length, int prot, int flags, int fd,
		  off_t offset)
{
	void *result;

	resolve();
	result = real_mmap(addr, length, prot, flags, fd, offset);
	if (result == MAP_FAILED || inside || stood_down ||
	    !looks_like_ram(length, prot, flags, fd))
		return result;
	int saved = errno;
	inside = true;
	pthread_mutex_lock(&state_lock);
	if (!stood_down)
		hand_over(result, length, fd, offset);
	pthread_mutex_unlock(&state_lock);
	inside = false;
	errno = saved;
	return result;
}

EXPORT void *mmap64(void *addr, size_t length, int prot, int flags, int fd,
		    off_t offset)
{
	return mmap(addr, length, prot, flags, fd, offset);
}

/* RAM about to go (hot-unplug): every page comes back before the unmap. */
EXPORT int munmap(void *addr, size_t length)
{
	resolve();
	if (!inside && ram_count) {
		int saved = errno;

		inside = true;
		pthread_mutex_lock(&state_lock);
		for (int i = 0; i < ram_count; i++) {
			if (ram[i].addr >= (uintptr_t)addr + length ||
			    ram[i].addr + ram[i].size <= (uintptr_t)addr)
				continue;
			int ret = in_process ?
				wset_remove_region(in_process, ram[i].id) :
				helper ? wset_helper_remove_region(
						 helper, (void *)(uintptr_t)ram[i].addr,
						 ram[i].size) : 0;
			say("guest RAM at %p, %llu MiB removed%s%s",
			    (void *)(uintptr_t)ram[i].addr,
			    (unsigned long long)(ram[i].size >> 20),
			    ret < 0 ? ": " : "", ret < 0 ? strerror(-ret) : "");
			ram[i--] = ram[--ram_count];
		}
		pthread_mutex_unlock(&state_lock);
		inside = false;
		errno = saved;
	}
	return real_munmap(addr, length);
}

/* A userfaultfd of the VMM's own (QEMU's postcopy migration) would fight
 * ours over the same memory: give every page back and stand down first.
 * One opened before any guest RAM is handed over is left alone: a
 * vhost-user backend (libvhost-user) opens one to probe for postcopy
 * support while it negotiates features, before it maps guest RAM; a
 * backend doing postcopy opens another later and makes us stand down. */
static void stand_down(void)
{
	pthread_mutex_lock(&state_lock);
	if (!helper && !in_process) {
		pthread_mutex_unlock(&state_lock);
		return;
	}
	if (!stood_down) {
		say("the VMM opens its own userfaultfd (postcopy migration?): "
		    "bringing every page back, wset stands down for this process");
		if (helper)
			wset_helper_close(helper, 120000);
		if (in_process)
			wset_destroy(in_process);
		helper = NULL;
		in_process = NULL;
		ram_count = 0;
	}
	stood_down = true;
	pthread_mutex_unlock(&state_lock);
}

EXPORT long syscall(long number, ...)
{
	va_list arguments;
	long a[6];

	va_start(arguments, number);
	for (int i = 0; i < 6; i++)
		a[i] = va_arg(arguments, long);
	va_end(arguments);
	resolve();
	if (number == SYS_userfaultfd && !inside) {
		int saved = errno;

		inside = true;
		stand_down();
		inside = false;
		errno = saved;
	}
	return real_syscall(number, a[0], a[1], a[2], a[3], a[4], a[5]);
}
