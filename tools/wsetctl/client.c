// SPDX-License-Identifier: MIT
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "client.h"
#include "exit_codes.h"

const char *client_socket_path = WSETCTL_DEFAULT_SOCKET;

json_object *client_request(const char *command)
{
	json_object *request = json_object_new_object();

	json_object_object_add(request, "command", json_object_new_string(command));
	return request;
}

json_object *client_request_for(const char *command, long vmm)
{
	json_object *request = client_request(command);

	if (vmm > 0)
		json_object_object_add(request, "vmm", json_object_new_int64(vmm));
	return request;
}

static int connect_to_daemon(void)
{
	struct sockaddr_un address = { .sun_family = AF_UNIX };
	int fd;

	if (strlen(client_socket_path) >= sizeof(address.sun_path)) {
		fprintf(stderr, "wsetctl: %s: path too long\n", client_socket_path);
		return -1;
	}
	strcpy(address.sun_path, client_socket_path);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0 || connect(fd, (struct sockaddr *)&address, sizeof(address))) {
		fprintf(stderr, "wsetctl: cannot reach wsetd at %s: %s\n",
			client_socket_path, strerror(errno));
		if (fd >= 0)
			close(fd);
		return -1;
	}
	return fd;
}

char *client_exchange_text(json_object *request)
{
	const char *text = json_object_to_json_string_ext(request, JSON_C_TO_STRING_PLAIN);
	size_t length = strlen(text), size = 0, capacity = 65536;
	char *answer = NULL;
	int fd = connect_to_daemon();

	if (fd < 0)
		goto out;
	while (length) {
		ssize_t sent = send(fd, text, length, MSG_NOSIGNAL);

		if (sent < 0) {
			fprintf(stderr, "wsetctl: send: %s\n", strerror(errno));
			goto out;
		}
		text += sent;
		length -= (size_t)sent;
	}
	shutdown(fd, SHUT_WR); /* the request is complete */
	answer = malloc(capacity);
	for (;;) {
		ssize_t received;

		if (!answer) {
			fprintf(stderr, "wsetctl: out of memory\n");
			goto out;
		}
		received = recv(fd, answer + size, capacity - size - 1, 0);
		if (received < 0) {
			fprintf(stderr, "wsetctl: receive: %s\n", strerror(errno));
			free(answer);
			answer = NULL;
			goto out;
		}
		if (received == 0)
			break;
		size += (size_t)received;
		if (capacity - size < 4096) {
			char *bigger = realloc(answer, capacity * 2);

			if (!bigger)
				free(answer);
			answer = bigger;
			capacity *= 2;
		}
	}
	answer[size] = '\0';
	if (size == 0) {
		fprintf(stderr, "wsetd closed the connection without an answer\n");
		free(answer);
		answer = NULL;
	}
out:
	if (fd >= 0)
		close(fd);
	json_object_put(request);
	return answer;
}

json_object *client_exchange(json_object *request, int *exit_code)
{
	char *text = client_exchange_text(request);
	json_object *answer, *ok, *error;

	*exit_code = WSETCTL_EXIT_CONNECT;
	if (!text)
		return NULL;
	answer = json_tokener_parse(text);
	free(text);
	if (!answer || !json_object_object_get_ex(answer, "ok", &ok)) {
		fprintf(stderr, "wsetctl: unreadable answer from wsetd\n");
		json_object_put(answer);
		return NULL;
	}
	if (!json_object_get_boolean(ok)) {
		fprintf(stderr, "wsetctl: wsetd: %s\n",
			json_object_object_get_ex(answer, "error", &error) ?
				json_object_get_string(error) : "request refused");
		json_object_put(answer);
		*exit_code = WSETCTL_EXIT_REFUSED;
		return NULL;
	}
	*exit_code = WSETCTL_EXIT_OK;
	return answer;
}
