/* SPDX-License-Identifier: MIT */
/*
 * Adopting another process's userfaultfd, as wsetd does: a child (the
 * "VMM") sends its userfaultfd and memfd over a Unix socket; the parent
 * tracks the child's memory, serves its first-touch faults, and, where the
 * mechanism allows it race-free from outside (rwp, file-backed), evicts
 * and fetches back.  The child checks its own data.
 * usage: adopt MECHANISM
 */
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>

#include "testlib.h"

#define FILE_PAGES 256
#define ANON_PAGES 64
#define HOT 16

struct layout {
	uint64_t file_addr;
	uint64_t anon_addr;
};

static size_t page;

static void send_fds(int sock, const struct layout *layout, int uffd, int memfd)
{
	char control[CMSG_SPACE(2 * sizeof(int))] = { 0 };
	struct iovec iov = { .iov_base = (void *)layout, .iov_len = sizeof(*layout) };
	struct msghdr msg = {
		.msg_iov = &iov, .msg_iovlen = 1,
		.msg_control = control, .msg_controllen = sizeof(control),
	};
	struct cmsghdr *cmsg = CMSG_FIRSTHDR(&msg);
	int fds[2] = { uffd, memfd };

	cmsg->cmsg_level = SOL_SOCKET;
	cmsg->cmsg_type = SCM_RIGHTS;
	cmsg->cmsg_len = CMSG_LEN(sizeof(fds));
	memcpy(CMSG_DATA(cmsg), fds, sizeof(fds));
	if (sendmsg(sock, &msg, 0) < 0)
		_exit(3);
}

static int receive_fds(int sock, struct layout *layout, int fds[2])
{
	char control[CMSG_SPACE(2 * sizeof(int))];
	struct iovec iov = { .iov_base = layout, .iov_len = sizeof(*layout) };
	struct msghdr msg = {
		.msg_iov = &iov, .msg_iovlen = 1,
		.msg_control = control, .msg_controllen = sizeof(control),
	};
	struct cmsghdr *cmsg;

	if (recvmsg(sock, &msg, 0) != sizeof(*layout))
		return -1;
	cmsg = CMSG_FIRSTHDR(&msg);
	if (!cmsg || cmsg->cmsg_type != SCM_RIGHTS)
		return -1;
	memcpy(fds, CMSG_DATA(cmsg), 2 * sizeof(int));
	return 0;
}

static uint8_t value(size_t i, int generation)
{
	return (uint8_t)(i * 13 + (size_t)generation * 7 + 1);
}

/* The child: memory, a fresh userfaultfd, then commands from the parent. */
static void vmm(int sock)
{
	struct layout layout;
	int memfd = memfd_create("vmm-guest", MFD_CLOEXEC);
	int uffd = (int)syscall(SYS_userfaultfd, O_CLOEXEC);
	uint8_t *file, *anon;
	char command;

	if (memfd < 0 || uffd < 0 || ftruncate(memfd, FILE_PAGES * page) < 0)
		_exit(3);
	file = mmap(NULL, FILE_PAGES * page, PROT_READ | PROT_WRITE, MAP_SHARED, memfd, 0);
	anon = mmap(NULL, ANON_PAGES * page, PROT_READ | PROT_WRITE,
		    MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (file == MAP_FAILED || anon == MAP_FAILED)
		_exit(3);
	layout.file_addr = (uintptr_t)file;
	layout.anon_addr = (uintptr_t)anon;
	send_fds(sock, &layout, uffd, memfd);
	close(uffd);

	while (read(sock, &command, 1) == 1) {
		char answer = 'y';

		switch (command) {
		case 'W': /* first touch of everything */
			for (size_t i = 0; i < FILE_PAGES; i++)
				memset(file + i * page, value(i, 0), page);
			for (size_t i = 0; i < ANON_PAGES; i++)
				memset(anon + i * page, value(i, 1), page);
			break;
		case 'H': /* the hot set */
			for (size_t i = 0; i < HOT; i++)
				file[i * page] = value(i, 0);
			break;
		case 'R': /* check everything */
			for (size_t i = 0; i < FILE_PAGES; i++)
				if (file[i * page] != value(i, 0) ||
				    file[i * page + page - 1] != value(i, 0))
					answer = 'n';
			for (size_t i = 0; i < ANON_PAGES; i++)
				if (anon[i * page + 17] != value(i, 1))
					answer = 'n';
			break;
		case 'Q':
			_exit(0);
		}
		if (write(sock, &answer, 1) != 1)
			_exit(3);
	}
	_exit(0);
}

static char ask(int sock, char command)
{
	char answer = 0;

	if (write(sock, &command, 1) != 1 || read(sock, &answer, 1) != 1)
		return 0;
	return answer;
}

int main(int argc, char **argv)
{
	struct wset_config config = WSET_CONFIG_INIT;
	struct wset_adopt adopt = WSET_ADOPT_INIT;
	struct wset_counters counters = WSET_COUNTERS_INIT;
	struct layout layout;
	int sockets[2], fds[2], ret, status;
	uint64_t evicted = 0;
	struct wset *ws;
	pid_t child;

	page = (size_t)sysconf(_SC_PAGESIZE);
	config.mechanism = test_mechanism(argc, argv);
	test_require(config.mechanism);
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sockets) < 0)
		tap_bail("socketpair");
	child = fork();
	if (child == 0) {
		close(sockets[0]);
		vmm(sockets[1]);
	}
	close(sockets[1]);
	tap_plan(10);
	if (receive_fds(sockets[0], &layout, fds) < 0)
		tap_bail("no file descriptors from the child");

	adopt.uffd = fds[0];
	adopt.pid = child;
	ret = wset_adopt(&config, &adopt, &ws);
	tap_ok(ret == 0, "adopt the child's userfaultfd: %d", ret);
	if (ret < 0)
		tap_bail("cannot go on");
	bool rwp = wset_mechanism(ws) == WSET_MECHANISM_RWP;
	tap_diag("mechanism %s", wset_mechanism_name(wset_mechanism(ws)));
	ret = wset_add_file(ws, layout.file_addr, FILE_PAGES * page, fds[1], 0);
	tap_ok(ret >= 0, "add the child's memfd region: %d", ret);
	close(fds[1]);
	ret = wset_add_anon(ws, layout.anon_addr, ANON_PAGES * page);
	tap_ok(ret >= 0, "add the child's anonymous region: %d", ret);

	tap_ok(ask(sockets[0], 'W') == 'y', "child's first touches are served");
	wset_tick(ws);
	for (int round = 0; round < 3; round++) {
		ask(sockets[0], 'H');
		wset_tick(ws);
	}
	size_t hot = 0, cold = 0;
	for (size_t i = 0; i < FILE_PAGES; i++) {
		int age = wset_page_age(ws, layout.file_addr + i * page);

		if (i < HOT)
			hot += age == 0;
		else
			cold += age >= 3;
	}
	tap_ok(hot == HOT && cold == FILE_PAGES - HOT,
	       "ages seen through the child's pagemap: %zu hot, %zu cold", hot, cold);

	ret = wset_evict(ws, 2, 0, &evicted);
	wset_counters(ws, &counters);
	if (rwp)
		tap_ok(ret == 0 && evicted == (FILE_PAGES - HOT) * page,
		       "rwp evicts the child's cold file pages: %llu bytes",
		       (unsigned long long)evicted);
	else
		tap_ok(ret == 0 && evicted == 0,
		       "wp cannot evict race-free from outside: %llu bytes",
		       (unsigned long long)evicted);
	uint64_t stuck = rwp ? ANON_PAGES : ANON_PAGES + FILE_PAGES;
	tap_ok(counters.unevictable_pages == stuck,
	       "pages that cannot leave are counted: %llu (want %llu)",
	       (unsigned long long)counters.unevictable_pages,
	       (unsigned long long)stuck);
	tap_ok(ask(sockets[0], 'R') == 'y', "child reads all its data back");
	ret = wset_destroy(ws);
	tap_ok(ret == 0, "destroy: %d", ret);
	ask(sockets[0], 'Q');
	waitpid(child, &status, 0);
	tap_ok(WIFEXITED(status) && WEXITSTATUS(status) == 0, "child exited cleanly");
	return tap_done();
}
