/* SPDX-License-Identifier: MIT */
/*
 * The in-VMM helper: the handshake with wsetd (the Firecracker-shaped
 * region list plus {"helper": ...}), then the agent's requests, answered
 * in this address space.  See wset_helper.h.
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <unistd.h>

#include <json-c/json.h>

#include "channel.h"
#include "uapi/userfaultfd.h"
#include "wset_helper.h"

#define DEFAULT_SOCKET "/run/wsetd/wsetd.sock"
#define MAX_REGIONS 64
#define STAGING_BYTES (256u * 4096u) /* WSET_HELPER_STAGING_BYTES */
#define REQUEST_TIMEOUT_MS 30000
#ifndef USERFAULTFD_IOC_NEW
#define USERFAULTFD_IOC_NEW _IO(0xAA, 0x00)
#endif

struct wset_helper {
	int uffd; /* our own reference, kept while the agent serves us */
	int socket_fd;
	void *staging;
	struct wset_channel *channel;
	char mechanism[16];
	unsigned int vmm_id;
	pthread_mutex_t lock; /* regions */
	struct wset_helper_region regions[MAX_REGIONS];
	unsigned int region_count;
};

static int say(char *error, size_t size, int ret, const char *format, ...)
	__attribute__((format(printf, 4, 5)));

static int say(char *error, size_t size, int ret, const char *format, ...)
{
	va_list arguments;

	if (error && size) {
		va_start(arguments, format);
		vsnprintf(error, size, format, arguments);
		va_end(arguments);
	}
	return ret;
}

/* Kernel-mode faults or nothing: a UFFD_USER_MODE_ONLY context would miss
 * the accesses of KVM, vhost and every other GUP caller. */
static int open_userfaultfd(char *error, size_t size)
{
	int fd = (int)syscall(SYS_userfaultfd, O_CLOEXEC | O_NONBLOCK);
	int first = errno, device;

	if (fd >= 0)
		return fd;
	device = open("/dev/userfaultfd", O_RDWR | O_CLOEXEC);
	if (device >= 0) {
		fd = ioctl(device, USERFAULTFD_IOC_NEW, O_CLOEXEC | O_NONBLOCK);
		close(device);
		if (fd >= 0)
			return fd;
	}
	return say(error, size, -first,
		   "cannot create a userfaultfd with kernel-mode faults (%s): "
		   "run as root or with CAP_SYS_PTRACE, allow it with sysctl "
		   "vm.unprivileged_userfaultfd=1, or give access to "
		   "/dev/userfaultfd", strerror(first));
}

static uint64_t region_page_size(const struct wset_helper_region *region)
{
	struct stat status;

	if (region->memfd >= 0 && fstat(region->memfd, &status) == 0 &&
	    status.st_blksize > 4096)
		return (uint64_t)status.st_blksize; /* hugetlbfs */
	return 4096;
}

static bool range_within(uint64_t addr, uint64_t len, uint64_t start,
			 uint64_t size)
{
	return len && addr >= start && addr + len >= addr &&
	       addr + len <= start + size;
}

/* Whether [addr, addr + len) lies in guest RAM of the kind asked for. */
static bool in_guest_ram(struct wset_helper *helper, uint64_t addr,
			 uint64_t len, bool file)
{
	bool inside = false;

	pthread_mutex_lock(&helper->lock);
	for (unsigned int i = 0; i < helper->region_count; i++) {
		const struct wset_helper_region *region = &helper->regions[i];

		if ((region->memfd >= 0) == file &&
		    range_within(addr, len, (uintptr_t)region->addr, region->size))
			inside = true;
	}
	pthread_mutex_unlock(&helper->lock);
	return inside;
}

static bool in_staging(struct wset_helper *helper, uint64_t addr, uint64_t len)
{
	return range_within(addr, len, (uintptr_t)helper->staging, STAGING_BYTES);
}

static int64_t move_pages(struct wset_helper *helper, uint64_t dst, uint64_t src,
			  uint64_t len)
{
	struct uffdio_move move = { .dst = dst, .src = src, .len = len };

	if (ioctl(helper->uffd, UFFDIO_MOVE, &move) < 0)
		return -errno;
	return (uint64_t)move.move == len ? 0 : -EAGAIN;
}

/* The agent may only zap guest file memory, move pages between guest
 * anonymous memory and the staging area, and free staging pages. */
static int64_t handle_request(void *arg, const struct wset_helper_message *request,
			      int fd)
{
	struct wset_helper *helper = arg;
	uint64_t addr = request->addr, len = request->len, src = request->offset;
	int saved = errno;
	int64_t ret = -EINVAL;

	if (fd >= 0)
		close(fd);
	switch (request->type) {
	case WSET_HELPER_ZAP:
		if (in_guest_ram(helper, addr, len, true))
			ret = madvise((void *)(uintptr_t)addr, len, MADV_DONTNEED) < 0 ?
				      -errno : 0;
		break;
	case WSET_HELPER_RELEASE:
		if (in_staging(helper, addr, len))
			ret = madvise((void *)(uintptr_t)addr, len, MADV_DONTNEED) < 0 ?
				      -errno : 0;
		break;
	case WSET_HELPER_MOVE:
		if ((in_staging(helper, addr, len) &&
		     in_guest_ram(helper, src, len, false)) ||
		    (in_staging(helper, src, len) &&
		     in_guest_ram(helper, addr, len, false)))
			ret = move_pages(helper, addr, src, len);
		break;
	default:
		ret = -EOPNOTSUPP;
	}
	errno = saved;
	return ret;
}

static int send_handshake(struct wset_helper *helper, const char *name,
			  const struct wset_helper_region *regions,
			  unsigned int count)
{
	json_object *document = json_object_new_object();
	json_object *list = json_object_new_array();
	json_object *offer = json_object_new_object();
	int fds[1 + MAX_REGIONS], fd_count = 1, ret = 0;

	fds[0] = helper->uffd;
	for (unsigned int i = 0; i < count; i++) {
		json_object *entry = json_object_new_object();

		json_object_object_add(entry, "base_host_virt_addr",
			json_object_new_uint64((uintptr_t)regions[i].addr));
		json_object_object_add(entry, "size",
			json_object_new_uint64(regions[i].size));
		json_object_object_add(entry, "offset",
			json_object_new_uint64(regions[i].offset));
		json_object_object_add(entry, "page_size",
			json_object_new_uint64(region_page_size(&regions[i])));
		if (regions[i].memfd >= 0) {
			json_object_object_add(entry, "memfd",
					       json_object_new_int(fd_count));
			fds[fd_count++] = regions[i].memfd;
		}
		json_object_array_add(list, entry);
	}
	if (name)
		json_object_object_add(document, "name", json_object_new_string(name));
	json_object_object_add(document, "regions", list);
	json_object_object_add(offer, "version",
			       json_object_new_int(WSET_HELPER_PROTOCOL_VERSION));
	json_object_object_add(offer, "staging",
			       json_object_new_uint64((uintptr_t)helper->staging));
	json_object_object_add(offer, "staging_size",
			       json_object_new_uint64(STAGING_BYTES));
	json_object_object_add(document, "helper", offer);

	const char *text = json_object_to_json_string_ext(document,
							  JSON_C_TO_STRING_PLAIN);
	size_t length = strlen(text);
	union {
		struct cmsghdr align;
		char bytes[CMSG_SPACE(sizeof(int) * (1 + MAX_REGIONS))];
	} control;
	struct iovec vector = { (void *)text, length };
	struct msghdr message = {
		.msg_iov = &vector, .msg_iovlen = 1,
		.msg_control = control.bytes,
		.msg_controllen = CMSG_SPACE(sizeof(int) * (size_t)fd_count),
	};
	struct cmsghdr *cmsg;

	memset(&control, 0, sizeof(control));
	cmsg = CMSG_FIRSTHDR(&message);
	cmsg->cmsg_level = SOL_SOCKET;
	cmsg->cmsg_type = SCM_RIGHTS;
	cmsg->cmsg_len = CMSG_LEN(sizeof(int) * (size_t)fd_count);
	memcpy(CMSG_DATA(cmsg), fds, sizeof(int) * (size_t)fd_count);
	ssize_t sent = sendmsg(helper->socket_fd, &message, MSG_NOSIGNAL);
	if (sent < 0)
		ret = -errno;
	else if ((size_t)sent < length &&
		 send(helper->socket_fd, text + sent, length - (size_t)sent,
		      MSG_NOSIGNAL) != (ssize_t)(length - (size_t)sent))
		ret = -EIO;
	json_object_put(document);
	return ret;
}

/* The agent's one-line answer; byte by byte, so that nothing after it is
 * taken from the channel. */
static int read_answer(struct wset_helper *helper, char *error, size_t size)
{
	char line[1024];
	size_t length = 0;
	json_object *answer, *value;
	int ret = 0;

	while (length < sizeof(line) - 1) {
		ssize_t got = recv(helper->socket_fd, line + length, 1, 0);

		if (got < 0 && errno == EINTR)
			continue;
		if (got <= 0)
			return say(error, size, -ECONNRESET,
				   "wsetd closed the connection before answering");
		if (line[length] == '\n')
			break;
		length++;
	}
	line[length] = '\0';
	answer = json_tokener_parse(line);
	if (!answer)
		return say(error, size, -EPROTO, "wsetd answered: %s", line);
	if (!json_object_object_get_ex(answer, "ok", &value) ||
	    !json_object_get_boolean(value)) {
		ret = say(error, size, -ECONNREFUSED, "wsetd refused: %s",
			  json_object_object_get_ex(answer, "error", &value) ?
				  json_object_get_string(value) : line);
	} else if (!json_object_object_get_ex(answer, "helper", &value) ||
		   json_object_get_int(value) != WSET_HELPER_PROTOCOL_VERSION) {
		ret = say(error, size, -EPROTONOSUPPORT,
			  "wsetd does not speak helper protocol version %d: %s",
			  WSET_HELPER_PROTOCOL_VERSION, line);
	} else {
		if (json_object_object_get_ex(answer, "mechanism", &value))
			snprintf(helper->mechanism, sizeof(helper->mechanism), "%s",
				 json_object_get_string(value));
		if (json_object_object_get_ex(answer, "vmm", &value))
			helper->vmm_id = (unsigned int)json_object_get_int(value);
	}
	json_object_put(answer);
	return ret;
}

static int connect_agent(const char *path, char *error, size_t size)
{
	struct sockaddr_un address = { .sun_family = AF_UNIX };
	int fd, ret;

	if (strlen(path) >= sizeof(address.sun_path))
		return say(error, size, -ENAMETOOLONG, "socket path too long: %s",
			   path);
	strcpy(address.sun_path, path);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return say(error, size, -errno, "socket: %s", strerror(errno));
	if (connect(fd, (struct sockaddr *)&address, sizeof(address)) < 0) {
		ret = -errno;
		close(fd);
		return say(error, size, ret, "cannot reach wsetd at %s: %s", path,
			   strerror(-ret));
	}
	return fd;
}

static void helper_free(struct wset_helper *helper)
{
	if (helper->socket_fd >= 0)
		close(helper->socket_fd);
	if (helper->uffd >= 0)
		close(helper->uffd);
	if (helper->staging)
		munmap(helper->staging, STAGING_BYTES);
	pthread_mutex_destroy(&helper->lock);
	free(helper);
}

int wset_helper_connect(const char *socket_path, const char *name,
			const struct wset_helper_region *regions,
			unsigned int count, struct wset_helper **out,
			char *error, size_t error_size)
{
	struct wset_helper *helper;
	int saved = errno, ret;

	if (!out || !regions || count == 0 || count > MAX_REGIONS)
		return say(error, error_size, -EINVAL,
			   "between 1 and %d regions are needed", MAX_REGIONS);
	helper = calloc(1, sizeof(*helper));
	if (!helper)
		return -ENOMEM;
	helper->socket_fd = -1;
	pthread_mutex_init(&helper->lock, NULL);
	memcpy(helper->regions, regions, sizeof(*regions) * count);
	helper->region_count = count;
	helper->uffd = open_userfaultfd(error, error_size);
	if (helper->uffd < 0) {
		ret = helper->uffd;
		helper->uffd = -1;
		goto fail;
	}
	/* Where the agent moves anonymous pages out: never touched here. */
	helper->staging = mmap(NULL, STAGING_BYTES, PROT_READ | PROT_WRITE,
			       MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	if (helper->staging == MAP_FAILED) {
		helper->staging = NULL;
		ret = say(error, error_size, -errno, "staging area: %s",
			  strerror(errno));
		goto fail;
	}
	madvise(helper->staging, STAGING_BYTES, MADV_NOHUGEPAGE);
	helper->socket_fd = connect_agent(socket_path ? socket_path : DEFAULT_SOCKET,
					  error, error_size);
	if (helper->socket_fd < 0) {
		ret = helper->socket_fd;
		helper->socket_fd = -1;
		goto fail;
	}
	ret = send_handshake(helper, name, regions, count);
	if (ret < 0) {
		say(error, error_size, ret, "sending the handshake: %s", strerror(-ret));
		goto fail;
	}
	ret = read_answer(helper, error, error_size);
	if (ret < 0)
		goto fail;
	ret = __wset_channel_open(helper->socket_fd, WSET_HELPER_PROTOCOL_VERSION,
				  handle_request, NULL, helper, &helper->channel);
	if (ret < 0) {
		say(error, error_size, ret, "helper threads: %s", strerror(-ret));
		goto fail;
	}
	*out = helper;
	errno = saved;
	return 0;
fail:
	helper_free(helper);
	errno = saved;
	return ret;
}

const char *wset_helper_mechanism(const struct wset_helper *helper)
{
	return helper->mechanism;
}

unsigned int wset_helper_vmm_id(const struct wset_helper *helper)
{
	return helper->vmm_id;
}

int wset_helper_add_region(struct wset_helper *helper,
			   const struct wset_helper_region *region)
{
	int64_t ret;

	pthread_mutex_lock(&helper->lock);
	if (helper->region_count == MAX_REGIONS) {
		pthread_mutex_unlock(&helper->lock);
		return -ENOSPC;
	}
	/* Known before the agent can ask for a zap in it. */
	helper->regions[helper->region_count++] = *region;
	pthread_mutex_unlock(&helper->lock);
	ret = __wset_channel_call(helper->channel, WSET_HELPER_ADD_REGION,
				  (uintptr_t)region->addr, region->size,
				  region->offset, region->memfd,
				  REQUEST_TIMEOUT_MS);
	if (ret < 0) {
		pthread_mutex_lock(&helper->lock);
		helper->region_count--;
		pthread_mutex_unlock(&helper->lock);
	}
	return ret < 0 ? (int)ret : 0;
}

int wset_helper_remove_region(struct wset_helper *helper, void *addr,
			      uint64_t size)
{
	int64_t ret = __wset_channel_call(helper->channel,
					  WSET_HELPER_REMOVE_REGION,
					  (uintptr_t)addr, size, 0, -1,
					  REQUEST_TIMEOUT_MS);

	pthread_mutex_lock(&helper->lock);
	for (unsigned int i = 0; i < helper->region_count; i++) {
		if (helper->regions[i].addr == addr) {
			helper->regions[i] = helper->regions[--helper->region_count];
			break;
		}
	}
	pthread_mutex_unlock(&helper->lock);
	return ret < 0 ? (int)ret : 0;
}

int wset_helper_covers(struct wset_helper *helper, const void *addr,
		       uint64_t size)
{
	int covered = 0;

	pthread_mutex_lock(&helper->lock);
	for (unsigned int i = 0; i < helper->region_count; i++) {
		uint64_t start = (uintptr_t)helper->regions[i].addr;
		uint64_t end = start + helper->regions[i].size;

		if ((uintptr_t)addr < end && (uintptr_t)addr + size > start)
			covered = 1;
	}
	pthread_mutex_unlock(&helper->lock);
	return covered;
}

int wset_helper_close(struct wset_helper *helper, int timeout_ms)
{
	int ret;

	if (!helper)
		return 0;
	ret = __wset_channel_hang_up(helper->channel, timeout_ms);
	__wset_channel_close(helper->channel);
	if (ret < 0) {
		/* Keep the userfaultfd: served or stalled, never zero-filled. */
		helper->uffd = -1;
	}
	helper_free(helper);
	return ret;
}
