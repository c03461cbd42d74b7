// SPDX-License-Identifier: MIT
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <sys/mman.h>

#include "wset_helper.h"

#include "agent_test.h"

static bool control_answers(const struct agent *agent);

static int tap_number, tap_failed;

bool tap_ok(bool ok, const char *format, ...)
{
	va_list arguments;

	printf("%s %d - ", ok ? "ok" : "not ok", ++tap_number);
	va_start(arguments, format);
	vprintf(format, arguments);
	va_end(arguments);
	printf("\n");
	fflush(stdout);
	if (!ok)
		tap_failed++;
	return ok;
}

void tap_diag(const char *format, ...)
{
	va_list arguments;

	printf("# ");
	va_start(arguments, format);
	vprintf(format, arguments);
	va_end(arguments);
	printf("\n");
	fflush(stdout);
}

int tap_failures(void)
{
	return tap_failed;
}

int tap_done(void)
{
	printf("1..%d\n", tap_number);
	if (tap_failed)
		printf("# %d of %d failed\n", tap_failed, tap_number);
	fflush(stdout);
	return tap_failed ? EXIT_FAIL : EXIT_PASS;
}

void tap_skip_all(const char *format, ...)
{
	va_list arguments;

	printf("1..%d # SKIP ", tap_number);
	va_start(arguments, format);
	vprintf(format, arguments);
	va_end(arguments);
	printf("\n");
	fflush(stdout);
	exit(tap_failed ? EXIT_FAIL : EXIT_SKIP);
}

const char *tool_path(const char *name)
{
	static char paths[4][PATH_MAX];
	static int next;
	char self[PATH_MAX];
	ssize_t length = readlink("/proc/self/exe", self, sizeof(self) - 1);
	char *slash;
	char *path = paths[next++ % 4];

	if (length < 0)
		return name;
	self[length] = '\0';
	slash = strrchr(self, '/');
	*slash = '\0';
	snprintf(path, PATH_MAX, "%.3000s/%s", self, name);
	return path;
}

void sleep_ms(int milliseconds)
{
	struct timespec pause = { milliseconds / 1000, (long)(milliseconds % 1000) * 1000000 };

	nanosleep(&pause, NULL);
}

/* The fd store (see agent_test.h), used by spawn_tool() for wsetd. */
#define FD_STORE_MAX 512
static struct {
	pthread_mutex_t lock;
	pthread_t thread;
	bool running;
	int socket_fd;
	int fds[FD_STORE_MAX];
	char names[FD_STORE_MAX][40];
	int count;
} fd_store = { .lock = PTHREAD_MUTEX_INITIALIZER, .socket_fd = -1 };

static void fd_store_message(const char *text, const int *fds, int count)
{
	const char *name = strstr(text, "FDNAME=");
	char key[40] = "";

	if (name)
		sscanf(name + 7, "%39[^\n]", key);
	pthread_mutex_lock(&fd_store.lock);
	if (strstr(text, "FDSTOREREMOVE=1")) {
		int kept = 0;

		for (int i = 0; i < fd_store.count; i++) {
			if (strcmp(fd_store.names[i], key) == 0) {
				close(fd_store.fds[i]);
				continue;
			}
			fd_store.fds[kept] = fd_store.fds[i];
			strcpy(fd_store.names[kept++], fd_store.names[i]);
		}
		fd_store.count = kept;
	}
	for (int i = 0; i < count; i++) {
		if (!strstr(text, "FDSTORE=1") || fd_store.count == FD_STORE_MAX) {
			close(fds[i]);
			continue;
		}
		fd_store.fds[fd_store.count] = fds[i];
		strcpy(fd_store.names[fd_store.count++], key);
	}
	pthread_mutex_unlock(&fd_store.lock);
}

static void *fd_store_thread(void *arg)
{
	(void)arg;
	for (;;) {
		char text[512], control[CMSG_SPACE(sizeof(int) * 128)];
		struct iovec vector = { text, sizeof(text) - 1 };
		struct msghdr message = { .msg_iov = &vector, .msg_iovlen = 1,
					  .msg_control = control,
					  .msg_controllen = sizeof(control) };
		int fds[128], count = 0;
		ssize_t length = recvmsg(fd_store.socket_fd, &message, MSG_CMSG_CLOEXEC);

		if (length < 0) {
			if (errno == EINTR)
				continue;
			break;
		}
		text[length] = '\0';
		for (struct cmsghdr *header = CMSG_FIRSTHDR(&message); header;
		     header = CMSG_NXTHDR(&message, header))
			if (header->cmsg_level == SOL_SOCKET && header->cmsg_type == SCM_RIGHTS)
				for (size_t i = 0; i < (header->cmsg_len - CMSG_LEN(0)) / sizeof(int) &&
						   count < 128; i++)
					fds[count++] = ((int *)CMSG_DATA(header))[i];
		if (strstr(text, "STOP-TEST-STORE"))
			break;
		fd_store_message(text, fds, count);
	}
	return NULL;
}

int fd_store_start(const char *socket_path)
{
	struct sockaddr_un address = { .sun_family = AF_UNIX };

	snprintf(address.sun_path, sizeof(address.sun_path), "%s", socket_path);
	unlink(socket_path);
	fd_store.socket_fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (fd_store.socket_fd < 0 ||
	    bind(fd_store.socket_fd, (struct sockaddr *)&address, sizeof(address)) ||
	    pthread_create(&fd_store.thread, NULL, fd_store_thread, NULL))
		return -1;
	fd_store.running = true;
	setenv("NOTIFY_SOCKET", socket_path, 1);
	return 0;
}

int fd_store_count(void)
{
	int count;

	pthread_mutex_lock(&fd_store.lock);
	count = fd_store.count;
	pthread_mutex_unlock(&fd_store.lock);
	return count;
}

void fd_store_stop(void)
{
	struct sockaddr_un address = { .sun_family = AF_UNIX };
	socklen_t length = sizeof(address);
	int fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);

	if (!fd_store.running)
		return;
	getsockname(fd_store.socket_fd, (struct sockaddr *)&address, &length);
	sendto(fd, "STOP-TEST-STORE", 15, 0, (struct sockaddr *)&address, length);
	close(fd);
	pthread_join(fd_store.thread, NULL);
	unsetenv("NOTIFY_SOCKET");
	unlink(address.sun_path);
	close(fd_store.socket_fd);
	for (int i = 0; i < fd_store.count; i++)
		close(fd_store.fds[i]);
	fd_store.count = 0;
	fd_store.running = false;
}

/* In the child, before exec (async-signal-safe only): the stored fds from
 * 3 on, and LISTEN_PID set to this process. */
static void pass_stored_fds(int count, const int *fds, char *pid_entry)
{
	char digits[16];
	int length = 0;
	pid_t pid = getpid();

	for (int i = 0; i < count; i++) {
		int high = fcntl(fds[i], F_DUPFD_CLOEXEC, 1000 + i);

		if (high >= 0) {
			/* fds[i] may sit where an earlier one belongs */
			((int *)fds)[i] = high;
		}
	}
	for (int i = 0; i < count; i++)
		dup2(fds[i], 3 + i);
	do {
		digits[length++] = (char)('0' + pid % 10);
		pid /= 10;
	} while (pid);
	for (int i = 0; i < length; i++)
		pid_entry[11 + i] = digits[length - 1 - i];
	pid_entry[11 + length] = '\0';
}

pid_t spawn_tool(const char *name, const char *const *arguments,
		 const char *output_path)
{
	const char *argv[64];
	int count = 0;
	pid_t pid;

	argv[count++] = tool_path(name);
	for (int i = 0; arguments && arguments[i] && count < 63; i++)
		argv[count++] = arguments[i];
	argv[count] = NULL;
	/* wsetd under the fd store gets what the store keeps. */
	char count_entry[32], pid_entry[32] = "LISTEN_PID=", *names_entry = NULL;
	const char *envp[512];
	int stored = 0, stored_fds[FD_STORE_MAX], envc = 0;

	if (fd_store.running && strcmp(name, "wsetd") == 0) {
		size_t size = 32;

		pthread_mutex_lock(&fd_store.lock);
		stored = fd_store.count;
		memcpy(stored_fds, fd_store.fds, sizeof(int) * (size_t)stored);
		for (int i = 0; i < stored; i++)
			size += strlen(fd_store.names[i]) + 1;
		names_entry = calloc(1, size);
		strcpy(names_entry, "LISTEN_FDNAMES=");
		for (int i = 0; i < stored; i++) {
			if (i)
				strcat(names_entry, ":");
			strcat(names_entry, fd_store.names[i]);
		}
		pthread_mutex_unlock(&fd_store.lock);
		snprintf(count_entry, sizeof(count_entry), "LISTEN_FDS=%d", stored);
		for (char **entry = environ; *entry && envc < 500; entry++)
			if (strncmp(*entry, "LISTEN_", 7))
				envp[envc++] = *entry;
		if (stored) {
			envp[envc++] = count_entry;
			envp[envc++] = pid_entry;
			envp[envc++] = names_entry;
		}
		envp[envc] = NULL;
	}
	fflush(stdout);
	pid = fork();
	if (pid == 0) {
		if (envc && stored)
			pass_stored_fds(stored, stored_fds, pid_entry);
		if (output_path) {
			int fd = open(output_path, O_WRONLY | O_CREAT | O_APPEND, 0644);

			if (fd >= 0) {
				dup2(fd, STDOUT_FILENO);
				dup2(fd, STDERR_FILENO);
				close(fd);
			}
		}
		if (envc)
			execve(argv[0], (char *const *)argv, (char *const *)envp);
		else
			execv(argv[0], (char *const *)argv);
		fprintf(stderr, "exec %s: %s\n", argv[0], strerror(errno));
		_exit(127);
	}
	free(names_entry);
	return pid;
}

int wait_exit(pid_t pid, int timeout_ms)
{
	for (int waited = 0;; waited += 10) {
		int status;
		pid_t done = waitpid(pid, &status, WNOHANG);

		if (done == pid)
			return WIFEXITED(status) ? WEXITSTATUS(status) :
						   128 + WTERMSIG(status);
		if (done < 0)
			return -1;
		if (waited >= timeout_ms) {
			kill(pid, SIGKILL);
			waitpid(pid, &status, 0);
			return -1;
		}
		sleep_ms(10);
	}
}

/* A full status round trip: wsetd has closed the connection when the
 * answer ends, so it holds no fd for it afterwards. */
static bool control_answers(const struct agent *agent)
{
	json_object *answer = agent_request(agent, "{\"command\":\"status\"}");

	json_object_put(answer);
	return answer != NULL;
}

int agent_start(struct agent *agent, const char *const *arguments)
{
	memset(agent, 0, sizeof(*agent));
	snprintf(agent->directory, sizeof(agent->directory), "/tmp/wsetd-test.XXXXXX");
	if (!mkdtemp(agent->directory))
		return -1;
	snprintf(agent->socket, sizeof(agent->socket), "%s/vmm.sock", agent->directory);
	snprintf(agent->control, sizeof(agent->control), "%s/control.sock", agent->directory);
	snprintf(agent->config, sizeof(agent->config), "%s/wsetd.conf", agent->directory);
	snprintf(agent->log, sizeof(agent->log), "%s/wsetd.log", agent->directory);
	return agent_restart(agent, arguments);
}

int agent_restart(struct agent *agent, const char *const *arguments)
{
	const char *argv[64];
	int count = 0;

	argv[count++] = "--config";
	argv[count++] = agent->config;
	argv[count++] = "--socket";
	argv[count++] = agent->socket;
	argv[count++] = "--control-socket";
	argv[count++] = agent->control;
	argv[count++] = "--store-dir";
	argv[count++] = agent->directory;
	argv[count++] = "--log-level";
	argv[count++] = "debug";
	for (int i = 0; arguments && arguments[i] && count < 63; i++)
		argv[count++] = arguments[i];
	argv[count] = NULL;
	/* An empty configuration file unless the test wrote one. */
	if (access(agent->config, F_OK)) {
		FILE *file = fopen(agent->config, "w");

		if (file)
			fclose(file);
	}
	agent->pid = spawn_tool("wsetd", argv, agent->log);
	if (agent->pid < 0)
		return -1;
	for (int waited = 0; waited < 60000; waited += 20) {
		int status;

		if (waitpid(agent->pid, &status, WNOHANG) == agent->pid) {
			agent->pid = 0;
			agent_show_log(agent);
			if (WIFEXITED(status) && WEXITSTATUS(status) == 4)
				tap_skip_all("wsetd: the kernel offers no usable "
					     "userfaultfd mechanism (see log above)");
			return -1;
		}
		if (control_answers(agent))
			return 0;
		sleep_ms(20);
	}
	return -1;
}

int agent_stop(struct agent *agent, int signal_number, int timeout_ms)
{
	int status;

	if (agent->pid <= 0)
		return -1;
	if (signal_number)
		kill(agent->pid, signal_number);
	status = wait_exit(agent->pid, timeout_ms);
	agent->pid = 0;
	return status;
}

void agent_cleanup(struct agent *agent)
{
	char command[200];

	if (agent->pid > 0)
		agent_stop(agent, SIGKILL, 2000);
	if (agent->directory[0] && strncmp(agent->directory, "/tmp/wsetd-test.", 16) == 0) {
		snprintf(command, sizeof(command), "rm -rf '%s'", agent->directory);
		if (system(command) != 0)
			tap_diag("could not remove %s", agent->directory);
	}
}

void agent_show_log(const struct agent *agent)
{
	FILE *file = fopen(agent->log, "r");
	char line[1200];

	if (!file)
		return;
	while (fgets(line, sizeof(line), file)) {
		line[strcspn(line, "\n")] = '\0';
		tap_diag("log: %s", line);
	}
	fclose(file);
}

bool agent_log_contains(const struct agent *agent, const char *text)
{
	FILE *file = fopen(agent->log, "r");
	char line[1200];
	bool found = false;

	if (!file)
		return false;
	while (!found && fgets(line, sizeof(line), file))
		found = strstr(line, text) != NULL;
	fclose(file);
	return found;
}

bool agent_wait_log(const struct agent *agent, const char *text, int timeout_ms)
{
	for (int waited = 0; waited <= timeout_ms; waited += 20) {
		if (agent_log_contains(agent, text))
			return true;
		sleep_ms(20);
	}
	return false;
}

json_object *agent_request(const struct agent *agent, const char *request)
{
	struct sockaddr_un address = { .sun_family = AF_UNIX };
	char answer[1 << 17];
	size_t used = 0;
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);

	snprintf(address.sun_path, sizeof(address.sun_path), "%s", agent->control);
	if (connect(fd, (struct sockaddr *)&address, sizeof(address)) ||
	    send(fd, request, strlen(request), MSG_NOSIGNAL) != (ssize_t)strlen(request)) {
		close(fd);
		return NULL;
	}
	shutdown(fd, SHUT_WR); /* the request is complete */
	for (;;) {
		ssize_t received = recv(fd, answer + used, sizeof(answer) - used - 1, 0);

		if (received <= 0)
			break;
		used += (size_t)received;
	}
	close(fd);
	answer[used] = '\0';
	return json_tokener_parse(answer);
}

static json_object *find_vmm(json_object *status, unsigned int vmm)
{
	json_object *vmms, *id;

	if (!json_object_object_get_ex(status, "vmms", &vmms))
		return NULL;
	for (size_t i = 0; i < json_object_array_length(vmms); i++) {
		json_object *entry = json_object_array_get_idx(vmms, i);

		if (json_object_object_get_ex(entry, "id", &id) &&
		    (unsigned int)json_object_get_int(id) == vmm)
			return entry;
	}
	return NULL;
}

uint64_t agent_vmm_counter(const struct agent *agent, unsigned int vmm,
			   const char *key)
{
	json_object *status = agent_request(agent, "{\"command\":\"status\"}");
	json_object *entry = status ? find_vmm(status, vmm) : NULL, *value = NULL;
	uint64_t result = UINT64_MAX;
	char path[128], *part, *save;

	/* key may name a nested member: "policy.min_idle_age". */
	snprintf(path, sizeof(path), "%s", key);
	value = entry;
	for (part = strtok_r(path, ".", &save); part && value;
	     part = strtok_r(NULL, ".", &save))
		if (!json_object_object_get_ex(value, part, &value))
			value = NULL;
	if (value)
		result = json_object_is_type(value, json_type_boolean) ?
				 (uint64_t)json_object_get_boolean(value) :
				 json_object_get_uint64(value);
	json_object_put(status);
	return result;
}

const char *agent_vmm_string(const struct agent *agent, unsigned int vmm,
			     const char *key, char *buffer, size_t size)
{
	json_object *status = agent_request(agent, "{\"command\":\"status\"}");
	json_object *entry = status ? find_vmm(status, vmm) : NULL, *value;

	snprintf(buffer, size, "?");
	if (entry && json_object_object_get_ex(entry, key, &value))
		snprintf(buffer, size, "%s", json_object_get_string(value));
	json_object_put(status);
	return buffer;
}

int agent_vmm_count(const struct agent *agent)
{
	json_object *status = agent_request(agent, "{\"command\":\"status\"}"), *vmms;
	int count = -1;

	if (status && json_object_object_get_ex(status, "vmms", &vmms))
		count = (int)json_object_array_length(vmms);
	json_object_put(status);
	return count;
}

bool agent_wait_vmm_count(const struct agent *agent, int count, int timeout_ms)
{
	for (int waited = 0; waited <= timeout_ms; waited += 20) {
		if (agent_vmm_count(agent) == count)
			return true;
		sleep_ms(20);
	}
	return false;
}

int process_fd_count(pid_t pid)
{
	char path[64];
	struct dirent *entry;
	DIR *directory;
	int count = 0;

	snprintf(path, sizeof(path), "/proc/%d/fd", (int)pid);
	directory = opendir(path);
	if (!directory)
		return -1;
	while ((entry = readdir(directory)))
		if (entry->d_name[0] != '.')
			count++;
	closedir(directory);
	return count;
}

bool wait_fd_count(pid_t pid, int count, int timeout_ms)
{
	for (int waited = 0; waited <= timeout_ms; waited += 10) {
		if (process_fd_count(pid) == count)
			return true;
		sleep_ms(10);
	}
	return false;
}

bool agent_started(struct agent *agent, const char *const *arguments)
{
	if (agent_start(agent, arguments) == 0)
		return true;
	agent_show_log(agent);
	tap_ok(false, "wsetd starts");
	agent_cleanup(agent);
	return false;
}

void agent_finish(struct agent *agent)
{
	if (tap_failures())
		agent_show_log(agent);
	agent_cleanup(agent);
}

uint64_t agent_wait_counter(const struct agent *agent, unsigned int vmm,
			    const char *key, int timeout_ms)
{
	for (int waited = 0; waited <= timeout_ms; waited += 100) {
		uint64_t value = agent_vmm_counter(agent, vmm, key);

		if (value != 0 && value != UINT64_MAX)
			return value;
		sleep_ms(100);
	}
	return 0;
}

uint64_t agent_wait_counter_above(const struct agent *agent, unsigned int vmm,
				  const char *key, uint64_t above, int timeout_ms)
{
	uint64_t value = UINT64_MAX;

	for (int waited = 0; waited <= timeout_ms; waited += 50) {
		value = agent_vmm_counter(agent, vmm, key);
		if (value != UINT64_MAX && value > above)
			break;
		sleep_ms(50);
	}
	return value;
}

uint64_t agent_evict_some(const struct agent *agent, unsigned int vmm)
{
	uint64_t evicted = agent_wait_counter(agent, vmm, "evicted_bytes", 3000);
	char request[96], mechanism[16];

	if (evicted)
		return evicted;
	snprintf(request, sizeof(request),
		 "{\"command\":\"evict\",\"vmm\":%u,\"min_age\":1}", vmm);
	json_object_put(agent_request(agent, request));
	evicted = agent_wait_counter(agent, vmm, "evicted_bytes", 100);
	if (evicted || strcmp(agent_vmm_string(agent, vmm, "mechanism", mechanism,
					       sizeof(mechanism)), "rwp"))
		return evicted;
	return agent_wait_counter(agent, vmm, "evicted_bytes", 20000);
}

json_object *status_tier(json_object *status, const char *name)
{
	json_object *vmms, *tiers;

	if (!status || !json_object_object_get_ex(status, "vmms", &vmms) ||
	    json_object_array_length(vmms) != 1 ||
	    !json_object_object_get_ex(json_object_array_get_idx(vmms, 0), "tiers", &tiers))
		return NULL;
	for (size_t i = 0; i < json_object_array_length(tiers); i++) {
		json_object *tier = json_object_array_get_idx(tiers, i), *value;

		if (json_object_object_get_ex(tier, "name", &value) &&
		    strcmp(json_object_get_string(value), name) == 0)
			return tier;
	}
	return NULL;
}

uint64_t json_member_u64(json_object *object, const char *key)
{
	json_object *value;

	return object && json_object_object_get_ex(object, key, &value) ?
		json_object_get_uint64(value) : 0;
}

#define VMM_PAGE 4096u

static uint64_t page_hash(const uint8_t *data)
{
	uint64_t value = 0xcbf29ce484222325ull;

	for (size_t i = 0; i < VMM_PAGE; i++)
		value = (value ^ data[i]) * 0x100000001b3ull;
	return value;
}

/* The child: fill, hand over, answer 'c'; on a byte, the number of bad
 * pages; then let go or wait to be killed. */
static void vmm_run(int sock, const char *socket_path, const char *name,
		    unsigned int pages, void (*fill)(uint8_t *, unsigned int), bool let_go)
{
	size_t len = (size_t)pages * VMM_PAGE;
	struct wset_helper_region region;
	struct wset_helper *helper;
	char error[512], command;
	int memfd = memfd_create("guest-ram", MFD_CLOEXEC);
	uint64_t *sums = calloc(pages, sizeof(*sums));
	unsigned int bad = 0;
	uint8_t *memory;

	if (memfd < 0 || !sums || ftruncate(memfd, (off_t)len) < 0)
		_exit(3);
	memory = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_SHARED, memfd, 0);
	if (memory == MAP_FAILED)
		_exit(3);
	for (unsigned int p = 0; p < pages; p++) {
		fill(memory + (size_t)p * VMM_PAGE, p);
		sums[p] = page_hash(memory + (size_t)p * VMM_PAGE);
	}
	region = (struct wset_helper_region){ memory, len, memfd, 0 };
	if (wset_helper_connect(socket_path, name, &region, 1, &helper, error,
				sizeof(error)) < 0) {
		dprintf(sock, "e%s\n", error);
		_exit(3);
	}
	if (write(sock, "c", 1) != 1 || read(sock, &command, 1) != 1)
		_exit(3);
	for (unsigned int p = 0; p < pages; p++)
		bad += page_hash(memory + (size_t)p * VMM_PAGE) != sums[p];
	if (write(sock, &bad, sizeof(bad)) != sizeof(bad))
		_exit(3);
	if (!let_go)
		_exit(0);
	_exit(wset_helper_close(helper, 30000) < 0 ? 2 : 0);
}

bool vmm_start(struct helper_vmm *vmm, const char *socket_path, const char *name,
	       unsigned int pages, void (*fill)(uint8_t *page, unsigned int index),
	       bool let_go)
{
	int sockets[2];
	char answer = 0;

	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sockets) < 0)
		tap_skip_all("socketpair failed");
	vmm->pid = fork();
	if (vmm->pid == 0) {
		close(sockets[0]);
		vmm_run(sockets[1], socket_path, name, pages, fill, let_go);
	}
	close(sockets[1]);
	vmm->sock = sockets[0];
	return tap_ok(vmm->pid > 0 && read(vmm->sock, &answer, 1) == 1 && answer == 'c',
		      "a VMM hands its memory over with the helper");
}

int vmm_check(struct helper_vmm *vmm)
{
	unsigned int bad;

	if (write(vmm->sock, "v", 1) != 1 || read(vmm->sock, &bad, sizeof(bad)) != sizeof(bad))
		return -1;
	return (int)bad;
}

int vmm_finish(struct helper_vmm *vmm, int timeout_ms)
{
	int status = wait_exit(vmm->pid, timeout_ms);

	close(vmm->sock);
	return status;
}
