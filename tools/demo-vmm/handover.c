// SPDX-License-Identifier: MIT
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include <json-c/json.h>

#include "handover.h"

int handover_userfaultfd(void)
{
	/* Never UFFD_USER_MODE_ONLY, even when that is all an unprivileged
	 * process may create: faults taken inside the kernel (KVM, vhost,
	 * O_DIRECT, process_vm_readv) would fail with EFAULT instead of
	 * waiting for the page. */
	int fd = (int)syscall(SYS_userfaultfd, HANDOVER_UFFD_FLAGS);

	return fd < 0 ? -errno : fd;
}

void handover_close(struct handover_result *result)
{
	if (result->socket_fd >= 0)
		close(result->socket_fd);
	if (result->uffd >= 0)
		close(result->uffd);
	result->socket_fd = -1;
	result->uffd = -1;
}

/* Index of memfd in fds[] (adding it), counting the userfaultfd as 0. */
static int memfd_index(int memfd, int *fds, int *fd_count)
{
	for (int i = 1; i < *fd_count; i++)
		if (fds[i] == memfd)
			return i;
	fds[*fd_count] = memfd;
	return (*fd_count)++;
}

static char *document_and_fds(const char *name, const char *session,
			      const struct handover_region *regions, int count,
			      int *fds, int *fd_count)
{
	json_object *document = json_object_new_object();
	json_object *array = json_object_new_array();
	char *text;

	*fd_count = 1;
	for (int i = 0; i < count; i++) {
		json_object *region = json_object_new_object();

		json_object_object_add(region, "base_host_virt_addr",
				       json_object_new_uint64(regions[i].base));
		json_object_object_add(region, "size", json_object_new_uint64(regions[i].size));
		json_object_object_add(region, "offset", json_object_new_uint64(regions[i].offset));
		json_object_object_add(region, "page_size",
				       json_object_new_uint64(regions[i].page_size));
		if (regions[i].memfd >= 0)
			json_object_object_add(region, "memfd", json_object_new_int(
				memfd_index(regions[i].memfd, fds, fd_count)));
		json_object_array_add(array, region);
	}
	if (session) {
		json_object_object_add(document, "version",
				       json_object_new_int(HANDOVER_VERSION));
		json_object_object_add(document, "reconnect", json_object_new_string(session));
	}
	if (name)
		json_object_object_add(document, "name", json_object_new_string(name));
	json_object_object_add(document, "uffd_flags", json_object_new_int(HANDOVER_UFFD_FLAGS));
	json_object_object_add(document, "regions", array);
	text = strdup(json_object_to_json_string_ext(document, JSON_C_TO_STRING_PLAIN));
	json_object_put(document);
	return text;
}

char *handover_document(const char *name, const struct handover_region *regions,
			int count)
{
	int fds[1 + 64], fd_count;

	if (count > 64)
		return NULL;
	return document_and_fds(name, NULL, regions, count, fds, &fd_count);
}

int handover_send_raw(const char *socket_path, const void *data, size_t length,
		      const int *fds, int fd_count)
{
	struct sockaddr_un address = { .sun_family = AF_UNIX };
	union {
		struct cmsghdr align;
		char bytes[CMSG_SPACE(sizeof(int) * 128)];
	} control;
	struct iovec vector = { (void *)data, length };
	struct msghdr message = { .msg_iov = &vector, .msg_iovlen = 1 };
	int fd;

	if (fd_count > 128 || strlen(socket_path) >= sizeof(address.sun_path))
		return -1;
	strcpy(address.sun_path, socket_path);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -1;
	if (connect(fd, (struct sockaddr *)&address, sizeof(address)))
		goto fail;
	if (fd_count > 0) {
		struct cmsghdr *header;

		message.msg_control = control.bytes;
		message.msg_controllen = CMSG_SPACE(sizeof(int) * (size_t)fd_count);
		header = CMSG_FIRSTHDR(&message);
		header->cmsg_level = SOL_SOCKET;
		header->cmsg_type = SCM_RIGHTS;
		header->cmsg_len = CMSG_LEN(sizeof(int) * (size_t)fd_count);
		memcpy(CMSG_DATA(header), fds, sizeof(int) * (size_t)fd_count);
	}
	if (length && sendmsg(fd, &message, MSG_NOSIGNAL) != (ssize_t)length)
		goto fail;
	return fd;
fail:
	close(fd);
	return -1;
}

int handover_read_answer(int socket_fd, char *answer, size_t size, int timeout_ms)
{
	size_t used = 0;

	while (used + 1 < size) {
		struct pollfd wait = { .fd = socket_fd, .events = POLLIN };
		ssize_t received;

		if (poll(&wait, 1, timeout_ms) != 1)
			return -1;
		received = recv(socket_fd, answer + used, 1, 0);
		if (received < 0)
			return -1;
		if (received == 0 || answer[used] == '\n')
			break;
		used++;
	}
	answer[used] = '\0';
	return (int)used;
}

static int parse_answer(const char *text, struct handover_result *result)
{
	json_object *answer = json_tokener_parse(text), *value;
	int ret = -1;

	if (!answer) {
		snprintf(result->error, sizeof(result->error),
			 "unreadable answer from wsetd: '%.200s'", text);
		return -1;
	}
	if (json_object_object_get_ex(answer, "ok", &value) &&
	    json_object_get_boolean(value)) {
		json_object_object_get_ex(answer, "vmm", &value);
		result->vmm_id = (unsigned int)json_object_get_int(value);
		json_object_object_get_ex(answer, "mechanism", &value);
		snprintf(result->mechanism, sizeof(result->mechanism), "%s",
			 json_object_get_string(value));
		if (json_object_object_get_ex(answer, "session", &value))
			snprintf(result->session, sizeof(result->session), "%s",
				 json_object_get_string(value));
		result->resumed_pages =
			json_object_object_get_ex(answer, "resumed_pages", &value) ?
				json_object_get_int(value) : 0;
		ret = 0;
	} else {
		snprintf(result->error, sizeof(result->error), "wsetd refused: %.200s",
			 json_object_object_get_ex(answer, "error", &value) ?
				 json_object_get_string(value) : text);
	}
	json_object_put(answer);
	return ret;
}

/* Send the handshake (or, with session, the reconnect message) with
 * result->uffd and the memfds; read and parse the answer. */
static int exchange(const char *socket_path, const char *name, const char *session,
		    const struct handover_region *regions, int count,
		    struct handover_result *result)
{
	int fds[1 + 64], fd_count;
	char *document, answer[1024];

	fds[0] = result->uffd;
	document = document_and_fds(name, session, regions, count, fds, &fd_count);
	if (!document) {
		snprintf(result->error, sizeof(result->error), "out of memory");
		return -1;
	}
	result->socket_fd = handover_send_raw(socket_path, document, strlen(document),
					      fds, fd_count);
	free(document);
	if (result->socket_fd < 0) {
		snprintf(result->error, sizeof(result->error), "cannot send to %s: %s",
			 socket_path, strerror(errno));
		return -1;
	}
	if (handover_read_answer(result->socket_fd, answer, sizeof(answer), 60000) <= 0)
		snprintf(result->error, sizeof(result->error), "no answer from wsetd");
	else if (parse_answer(answer, result) == 0)
		return 0;
	close(result->socket_fd);
	result->socket_fd = -1;
	return -1;
}

int handover(const char *socket_path, const char *name,
	     const struct handover_region *regions, int count,
	     struct handover_result *result)
{
	int uffd;

	memset(result, 0, sizeof(*result));
	result->socket_fd = -1;
	result->uffd = -1;
	if (count < 1 || count > 64) {
		snprintf(result->error, sizeof(result->error), "1 to 64 regions");
		return -1;
	}
	uffd = handover_userfaultfd();
	if (uffd < 0) {
		snprintf(result->error, sizeof(result->error), "userfaultfd: %s%s",
			 strerror(-uffd),
			 uffd == -EPERM ? " (needs CAP_SYS_PTRACE or "
					  "vm.unprivileged_userfaultfd = 1; a user-mode-only "
					  "userfaultfd is not used: KVM and vhost accesses "
					  "would fail instead of waiting)" : "");
		return -1;
	}
	/* Kept: while this reference lives, an agent that dies leaves faults
	 * waiting for the next one instead of the kernel unregistering the
	 * memory (which would make every evicted page read as zeroes). */
	result->uffd = uffd;
	if (exchange(socket_path, name, NULL, regions, count, result) == 0)
		return 0;
	handover_close(result);
	return -1;
}

int handover_reconnect(const char *socket_path, const char *name,
		       const struct handover_region *regions, int count,
		       struct handover_result *result)
{
	char session[sizeof(result->session)];

	if (result->socket_fd >= 0)
		close(result->socket_fd);
	result->socket_fd = -1;
	snprintf(session, sizeof(session), "%s", result->session);
	return exchange(socket_path, name, session, regions, count, result);
}
