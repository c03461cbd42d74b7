/* SPDX-License-Identifier: MIT */
/* The userfaultfd ioctls libwset uses, each returning 0 or -errno. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "internal.h"

#ifndef USERFAULTFD_IOC_NEW
#define USERFAULTFD_IOC_NEW _IO(0xAA, 0x00)
#endif

/* A short pause while the target mm is changing (-EAGAIN). */
void __wset_mm_wait(void)
{
	const struct timespec pause = { .tv_nsec = 100000 };

	nanosleep(&pause, NULL);
}

static int uffd_ioctl(int uffd, unsigned long request, void *arg)
{
	int saved = errno;
	int ret = ioctl(uffd, request, arg) < 0 ? -errno : 0;

	errno = saved;
	return ret;
}

/* Faults from the kernel (KVM, vhost, GUP) must reach us too, so no
 * UFFD_USER_MODE_ONLY; /dev/userfaultfd serves when the syscall is
 * restricted by vm.unprivileged_userfaultfd. */
int __wset_uffd_open(void)
{
	int saved = errno;
	int fd = syscall(SYS_userfaultfd, O_CLOEXEC | O_NONBLOCK);
	int ret;

	if (fd >= 0) {
		errno = saved;
		return fd;
	}
	ret = -errno;
	int dev = open("/dev/userfaultfd", O_RDWR | O_CLOEXEC);
	if (dev >= 0) {
		fd = ioctl(dev, USERFAULTFD_IOC_NEW, O_CLOEXEC | O_NONBLOCK);
		if (fd < 0)
			ret = -errno;
		close(dev);
	}
	errno = saved;
	return fd >= 0 ? fd : ret;
}

int __wset_uffd_api(int uffd, uint64_t features, uint64_t *ioctls)
{
	struct uffdio_api api = { .api = UFFD_API, .features = features };
	int ret = uffd_ioctl(uffd, UFFDIO_API, &api);

	if (ret == 0 && ioctls)
		*ioctls = api.ioctls;
	return ret;
}

int __wset_uffd_register(int uffd, uint64_t addr, uint64_t len, uint64_t mode,
			 uint64_t *ioctls)
{
	struct uffdio_register reg = {
		.range = { .start = addr, .len = len },
		.mode = mode,
	};
	int ret = uffd_ioctl(uffd, UFFDIO_REGISTER, &reg);

	if (ret == 0 && ioctls)
		*ioctls = reg.ioctls;
	return ret;
}

int __wset_uffd_unregister(int uffd, uint64_t addr, uint64_t len)
{
	struct uffdio_range range = { .start = addr, .len = len };

	return uffd_ioctl(uffd, UFFDIO_UNREGISTER, &range);
}

int __wset_uffd_wake(int uffd, uint64_t addr, uint64_t len)
{
	struct uffdio_range range = { .start = addr, .len = len };

	return uffd_ioctl(uffd, UFFDIO_WAKE, &range);
}

int __wset_uffd_copy(int uffd, uint64_t dst, const void *src, uint64_t len,
		     bool wake)
{
	struct uffdio_copy copy = {
		.dst = dst,
		.src = (uint64_t)(uintptr_t)src,
		.len = len,
		.mode = wake ? 0 : UFFDIO_COPY_MODE_DONTWAKE,
	};

	return uffd_ioctl(uffd, UFFDIO_COPY, &copy);
}

int __wset_uffd_zeropage(int uffd, uint64_t addr, uint64_t len, bool wake)
{
	struct uffdio_zeropage zero = {
		.range = { .start = addr, .len = len },
		.mode = wake ? 0 : UFFDIO_ZEROPAGE_MODE_DONTWAKE,
	};

	return uffd_ioctl(uffd, UFFDIO_ZEROPAGE, &zero);
}

int __wset_uffd_continue(int uffd, uint64_t addr, uint64_t len, uint64_t mode)
{
	struct uffdio_continue cont = {
		.range = { .start = addr, .len = len },
		.mode = mode,
	};

	return uffd_ioctl(uffd, UFFDIO_CONTINUE, &cont);
}

int __wset_uffd_move(int uffd, uint64_t dst, uint64_t src, uint64_t len)
{
	struct uffdio_move move = { .dst = dst, .src = src, .len = len };
	int ret = uffd_ioctl(uffd, UFFDIO_MOVE, &move);

	/* A short move reports the bytes moved; treat it as failure of the
	 * rest (we move one page at a time, so it is all or nothing). */
	if (ret == 0 && (uint64_t)move.move != len)
		ret = -EAGAIN;
	return ret;
}

int __wset_uffd_writeprotect(int uffd, uint64_t addr, uint64_t len, bool protect)
{
	struct uffdio_writeprotect wp = {
		.range = { .start = addr, .len = len },
		.mode = protect ? UFFDIO_WRITEPROTECT_MODE_WP : 0,
	};

	return uffd_ioctl(uffd, UFFDIO_WRITEPROTECT, &wp);
}

int __wset_uffd_rwprotect(int uffd, uint64_t addr, uint64_t len, uint64_t mode)
{
	struct uffdio_rwprotect rwp = {
		.range = { .start = addr, .len = len },
		.mode = mode,
	};

	return uffd_ioctl(uffd, UFFDIO_RWPROTECT, &rwp);
}

int __wset_uffd_poison(int uffd, uint64_t addr, uint64_t len)
{
	struct uffdio_poison poison = { .range = { .start = addr, .len = len } };

	return uffd_ioctl(uffd, UFFDIO_POISON, &poison);
}

int __wset_uffd_set_mode(int uffd, uint64_t enable, uint64_t disable)
{
	struct uffdio_set_mode mode = { .enable = enable, .disable = disable };

	return uffd_ioctl(uffd, UFFDIO_SET_MODE, &mode);
}

/*
 * The features word of a userfaultfd as its fdinfo shows it ("API:" line):
 * what UFFDIO_API negotiated, plus the kernel's own "initialised" bit; 0
 * when UFFDIO_API never ran.  This is how an agent learns what another
 * process (an agent before it, or a VMM) set up on a uffd it received.
 */
int __wset_uffd_features(int uffd, uint64_t *features)
{
	char path[64], line[256];
	int saved = errno, ret = -ENOENT;
	FILE *file;

	snprintf(path, sizeof(path), "/proc/self/fdinfo/%d", uffd);
	file = fopen(path, "re");
	if (!file) {
		ret = -errno;
		errno = saved;
		return ret;
	}
	while (fgets(line, sizeof(line), file)) {
		unsigned long long api, word;

		if (sscanf(line, "API: %llx:%llx", &api, &word) == 2) {
			*features = word;
			ret = 0;
		}
	}
	fclose(file);
	errno = saved;
	return ret;
}
