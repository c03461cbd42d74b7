/* SPDX-License-Identifier: MIT */
/*
 * Row 7, end to end: memcached (Debian's) holds a data set in its item
 * memory and serves a skewed GET/SET mix over loopback TCP to a client
 * here (nine requests in ten go to a hot tenth of the keys, one in ten
 * is a SET).  Every value read back is checked against the last one
 * written, and every key is read back once after the measured window: a
 * wrong or missing value is a lost write and fails the run.
 *
 * memcached keeps its items in one shared mapping of a tmpfs file
 * (--memory-file), which wset-run takes for guest RAM.  Competitors, back
 * to back in each repetition, each on a fresh memcached filled the same
 * way and loaded the same time:
 *   untiered   memcached alone;
 *   wset       under wset-run --in-process (natively the wp mechanism),
 *              cold pages evicted to a file store;
 *   zram-swap  in a memory cgroup limited to what wset left resident in
 *              the same repetition, with kernel swap on a zram device.
 * Measured: requests per second over the window after a warm-up, and
 * memcached's resident memory (VmRSS) at its end; also the RAM it costs
 * in all, with what zram's pool holds (and wset's store on a tmpfs).
 */
#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <setjmp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/swap.h>
#include <sys/vfs.h>
#include <sys/wait.h>
#include <unistd.h>

#include "bench.h"

#define BENCH "end_to_end"
#define CASE "memcached/hot10"
#define VALUE_SIZE 4000
#define BATCH 16
#define HOT_PERCENT 90 /* requests that go to the hot tenth of the keys */
#define SET_PERCENT 10
#define TMPFS_MAGIC_NUMBER 0x01021994
#define CGROUP_MEMORY "/sys/fs/cgroup/memory"
#define ZRAM_CONTROL "/sys/class/zram-control"

enum competitor { UNTIERED, WSET, ZRAM_SWAP, COMPETITORS };
static const char *const competitor_names[] = { "untiered", "wset", "zram-swap" };

struct settings {
	uint64_t keys;
	uint64_t item_memory_mib;	/* memcached -m */
	double warm_seconds, measure_seconds;
	unsigned int interval_ms, min_idle_age;
	char wset_run[PATH_MAX];
};

/* What the exit path must undo; kept for a signal handler too, so only
 * plain values and async-signal-safe calls. */
static struct {
	pid_t server;
	char item_file[PATH_MAX];
	char meta_file[PATH_MAX + 8];
	char store_dir[PATH_MAX];
	char cgroup[128];
	char zram_device[64];
	char zram_id_text[16];
	int zram_id;
	bool swap_on;
} undo = { .server = -1, .zram_id = -1 };

static void remove_store_dir(void)
{
	DIR *dir;
	struct dirent *entry;
	char path[PATH_MAX * 2];

	if (!undo.store_dir[0])
		return;
	dir = opendir(undo.store_dir);
	while (dir && (entry = readdir(dir))) {
		if (entry->d_name[0] == '.')
			continue;
		snprintf(path, sizeof(path), "%s/%s", undo.store_dir, entry->d_name);
		unlink(path);
	}
	if (dir)
		closedir(dir);
	rmdir(undo.store_dir);
	undo.store_dir[0] = '\0';
}

static void write_file(const char *path, const char *text)
{
	int fd = open(path, O_WRONLY | O_CLOEXEC);

	if (fd < 0)
		return;
	if (write(fd, text, strlen(text)) < 0) {
		/* Nothing more to do while undoing. */
	}
	close(fd);
}

static void stop_server(void)
{
	if (undo.server > 0) {
		kill(undo.server, SIGKILL);
		waitpid(undo.server, NULL, 0);
		undo.server = -1;
	}
	if (undo.item_file[0]) {
		unlink(undo.item_file);
		unlink(undo.meta_file);
		undo.item_file[0] = '\0';
	}
	if (undo.cgroup[0] && rmdir(undo.cgroup) == 0)
		undo.cgroup[0] = '\0';
}

/* The server first: its swapped pages go with its file, then swapoff
 * has nothing to bring back.  Only async-signal-safe calls: a signal
 * handler runs this too. */
static void undo_swap(void)
{
	stop_server();
	if (undo.swap_on && swapoff(undo.zram_device) == 0)
		undo.swap_on = false;
	if (undo.zram_id >= 0) {
		write_file(ZRAM_CONTROL "/hot_remove", undo.zram_id_text);
		undo.zram_id = -1;
	}
}

static void undo_all(void)
{
	undo_swap();
	remove_store_dir();
}

/* libwset's store files are unlinked: the directory is empty, or holds
 * files to clean up by hand after a crash (the exit path removes them). */
static void on_signal(int signal_number)
{
	undo_swap();
	if (undo.store_dir[0])
		rmdir(undo.store_dir);
	signal(signal_number, SIG_DFL);
	raise(signal_number);
}

/* A program on $PATH, or false. */
static bool on_path(const char *name)
{
	const char *path = getenv("PATH");
	char candidate[PATH_MAX];

	for (const char *at = path ? path : "/usr/bin:/bin"; *at;) {
		size_t length = strcspn(at, ":");

		snprintf(candidate, sizeof(candidate), "%.*s/%s", (int)length, at, name);
		if (access(candidate, X_OK) == 0)
			return true;
		at += length + (at[length] == ':');
	}
	return false;
}

/* wset-run next to this program, in ../tools (build/bench/) or
 * ../../tools (build/tests/bench/), or $WSET_BENCH_WSET_RUN. */
static bool find_wset_run(char *path, size_t size)
{
	static const char *const places[] = { "", "/../tools", "/../../tools" };
	const char *chosen = getenv("WSET_BENCH_WSET_RUN");
	char self[PATH_MAX];
	ssize_t length;

	if (chosen && *chosen) {
		snprintf(path, size, "%s", chosen);
		return access(path, X_OK) == 0;
	}
	length = readlink("/proc/self/exe", self, sizeof(self) - 1);
	if (length < 0)
		return false;
	self[length] = '\0';
	*strrchr(self, '/') = '\0';
	for (size_t i = 0; i < sizeof(places) / sizeof(places[0]); i++) {
		if (snprintf(path, size, "%s%s/wset-run", self, places[i]) < (int)size &&
		    access(path, X_OK) == 0)
			return true;
	}
	return false;
}

static uint64_t next_random(uint64_t *state)
{
	*state ^= *state << 13;
	*state ^= *state >> 7;
	*state ^= *state << 17;
	return *state;
}

/* The value of a key at a version: its first word names both. */
static void value_fill(uint64_t *words, uint64_t key, uint32_t version)
{
	uint64_t x = key << 32 | version;

	words[0] = x;
	for (size_t i = 1; i < VALUE_SIZE / 8; i++) {
		x += 0x9e3779b97f4a7c15ull;
		uint64_t z = x;

		z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
		words[i] = z ^ (z >> 31);
	}
}

/* One client connection with its reply buffer. */
struct client {
	int fd;
	char *in;
	size_t in_length, in_size;
};

struct request {
	uint64_t key;
	uint32_t version;
	bool get;
};

struct workload {
	struct client client;
	uint64_t keys, hot_keys;
	uint32_t *versions;	/* the last version written, per key */
	uint64_t random;
	char *out;		/* one batch of requests */
	size_t out_length, out_size;
	uint64_t expected[VALUE_SIZE / 8];
};

/*
 * Under the zram competitor's memory limit the kernel may OOM-kill
 * memcached: that is a result of the competitor, not a failure of the
 * benchmark. While it runs, a lost connection jumps back here.
 */
static jmp_buf *server_lost;

static void connection_lost(const char *what)
{
	if (server_lost)
		longjmp(*server_lost, 1);
	bench_fail("%s: %s", BENCH, what);
}

static void out_append(struct workload *work, const void *data, size_t length)
{
	if (work->out_length + length > work->out_size) {
		work->out_size = (work->out_length + length) * 2;
		work->out = realloc(work->out, work->out_size);
		if (!work->out)
			bench_fail("%s: out of memory for a batch", BENCH);
	}
	memcpy(work->out + work->out_length, data, length);
	work->out_length += length;
}

static void add_request(struct workload *work, struct request *request)
{
	char line[128];
	int length;

	if (request->get) {
		length = snprintf(line, sizeof(line), "get k%llu\r\n",
				  (unsigned long long)request->key);
		out_append(work, line, (size_t)length);
		return;
	}
	length = snprintf(line, sizeof(line), "set k%llu 0 0 %d\r\n",
			  (unsigned long long)request->key, VALUE_SIZE);
	out_append(work, line, (size_t)length);
	value_fill(work->expected, request->key, request->version);
	out_append(work, work->expected, VALUE_SIZE);
	out_append(work, "\r\n", 2);
}

/* Bytes of the reply to request at in[0..length), 0 while incomplete;
 * fails on anything but the value last written. */
static size_t parse_reply(struct workload *work, const struct request *request,
			  const char *in, size_t length)
{
	const char *end = memmem(in, length, "\r\n", 2);
	unsigned long long key;
	size_t header, total;
	int size;

	if (!end)
		return 0;
	header = (size_t)(end - in) + 2;
	if (!request->get) {
		if (header == 8 && memcmp(in, "STORED", 6) == 0)
			return header;
		bench_fail("%s: SET k%llu: memcached answered '%.*s'", BENCH,
			   (unsigned long long)request->key, (int)(header - 2), in);
	}
	if (header == 5 && memcmp(in, "END", 3) == 0)
		bench_fail("%s: GET k%llu: missing (version %u was written): a lost write",
			   BENCH, (unsigned long long)request->key, request->version);
	if (sscanf(in, "VALUE k%llu 0 %d", &key, &size) != 2 || key != request->key ||
	    size != VALUE_SIZE)
		bench_fail("%s: GET k%llu: memcached answered '%.*s'", BENCH,
			   (unsigned long long)request->key, (int)(header - 2), in);
	total = header + VALUE_SIZE + 2 + 5;
	if (length < total)
		return 0;
	value_fill(work->expected, request->key, request->version);
	if (memcmp(in + header, work->expected, VALUE_SIZE) != 0) {
		uint64_t found;

		memcpy(&found, in + header, sizeof(found));
		bench_fail("%s: GET k%llu: wrong value (key %llu version %llu, expected "
			   "version %u): a lost write", BENCH, key,
			   (unsigned long long)(found >> 32),
			   (unsigned long long)(found & 0xffffffffu), request->version);
	}
	if (memcmp(in + header + VALUE_SIZE, "\r\nEND\r\n", 7) != 0)
		bench_fail("%s: GET k%llu: a malformed reply", BENCH, key);
	return total;
}

/* Send the batch and check every reply, reading while writing so that
 * neither side's socket buffer fills up. */
static void run_batch(struct workload *work, const struct request *requests, int count)
{
	struct client *client = &work->client;
	size_t sent = 0;
	int answered = 0;

	client->in_length = 0;
	while (answered < count) {
		struct pollfd pfd = { .fd = client->fd, .events = POLLIN };
		ssize_t n;

		if (sent < work->out_length)
			pfd.events |= POLLOUT;
		n = poll(&pfd, 1, 10000);
		if (n == 0)
			bench_fail("%s: memcached did not answer for 10 s", BENCH);
		if (n < 0 && errno != EINTR)
			bench_fail("%s: poll: %s", BENCH, strerror(errno));
		if (pfd.revents & POLLOUT) {
			n = send(client->fd, work->out + sent, work->out_length - sent,
				 MSG_NOSIGNAL | MSG_DONTWAIT);
			if (n < 0 && (errno == ECONNRESET || errno == EPIPE))
				connection_lost("sending to memcached: the connection is gone");
			if (n < 0 && errno != EAGAIN && errno != EINTR)
				bench_fail("%s: sending to memcached: %s", BENCH, strerror(errno));
			if (n > 0)
				sent += (size_t)n;
		}
		if (!(pfd.revents & (POLLIN | POLLHUP | POLLERR)))
			continue;
		if (client->in_size - client->in_length < 65536) {
			client->in_size = client->in_size * 2 + 65536;
			client->in = realloc(client->in, client->in_size);
			if (!client->in)
				bench_fail("%s: out of memory for replies", BENCH);
		}
		n = recv(client->fd, client->in + client->in_length,
			 client->in_size - client->in_length, MSG_DONTWAIT);
		if (n == 0 || (n < 0 && errno == ECONNRESET))
			connection_lost("memcached closed the connection");
		if (n < 0) {
			if (errno == EAGAIN || errno == EINTR)
				continue;
			bench_fail("%s: reading from memcached: %s", BENCH, strerror(errno));
		}
		client->in_length += (size_t)n;
		size_t used = 0, step;

		while (answered < count &&
		       (step = parse_reply(work, &requests[answered], client->in + used,
					   client->in_length - used))) {
			used += step;
			answered++;
		}
		memmove(client->in, client->in + used, client->in_length - used);
		client->in_length -= used;
	}
	work->out_length = 0;
}

/* Every key once, version 1. */
static void fill(struct workload *work)
{
	struct request requests[BATCH];

	for (uint64_t key = 0; key < work->keys;) {
		int count = 0;

		for (; count < BATCH && key < work->keys; count++, key++) {
			requests[count] = (struct request){ .key = key, .version = 1 };
			work->versions[key] = 1;
			add_request(work, &requests[count]);
		}
		run_batch(work, requests, count);
	}
}

/* Every key read back at its last version: a write lost to a page that
 * was evicted and never read again in the window shows here. */
static void verify(struct workload *work)
{
	struct request requests[BATCH];

	for (uint64_t key = 0; key < work->keys;) {
		int count = 0;

		for (; count < BATCH && key < work->keys; count++, key++) {
			requests[count] = (struct request){ .key = key, .get = true,
							    .version = work->versions[key] };
			add_request(work, &requests[count]);
		}
		run_batch(work, requests, count);
	}
}

/* The skewed mix for a while; requests per second. */
static double skewed(struct workload *work, double seconds)
{
	uint64_t start = bench_now_ns(), end = start + (uint64_t)(seconds * 1e9), now;
	uint64_t done = 0;
	struct request requests[BATCH];

	do {
		for (int i = 0; i < BATCH; i++) {
			uint64_t r = next_random(&work->random);
			uint64_t key;

			/* The hot keys are every tenth, spread over memory. */
			if (r % 100 < HOT_PERCENT)
				key = (r >> 8) % work->hot_keys * 10;
			else
				key = (r >> 8) % work->keys;
			requests[i] = (struct request){ .key = key, .get = (r >> 40) % 100 >= SET_PERCENT };
			if (!requests[i].get)
				work->versions[key]++;
			requests[i].version = work->versions[key];
			add_request(work, &requests[i]);
		}
		run_batch(work, requests, BATCH);
		done += BATCH;
		now = bench_now_ns();
	} while (now < end);
	return (double)done / ((double)(now - start) / 1e9);
}

static uint16_t free_port(void)
{
	struct sockaddr_in address = { .sin_family = AF_INET,
				       .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t length = sizeof(address);
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

	if (fd < 0 || bind(fd, (struct sockaddr *)&address, sizeof(address)) < 0 ||
	    getsockname(fd, (struct sockaddr *)&address, &length) < 0)
		bench_fail("%s: no free loopback port: %s", BENCH, strerror(errno));
	close(fd);
	return ntohs(address.sin_port);
}

/* Connect once memcached listens; fails if it exits first or takes over
 * 20 s. */
static int connect_server(uint16_t port)
{
	struct sockaddr_in address = { .sin_family = AF_INET, .sin_port = htons(port),
				       .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	uint64_t deadline = bench_now_ns() + 20000000000ull;
	int status, one = 1;

	for (;;) {
		int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

		if (fd < 0)
			bench_fail("%s: socket: %s", BENCH, strerror(errno));
		if (connect(fd, (struct sockaddr *)&address, sizeof(address)) == 0) {
			setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
			return fd;
		}
		close(fd);
		if (waitpid(undo.server, &status, WNOHANG) == undo.server) {
			undo.server = -1;
			bench_fail("%s: memcached exited (status 0x%x) before it listened on "
				   "port %u", BENCH, status, port);
		}
		if (bench_now_ns() > deadline)
			bench_fail("%s: memcached did not listen on port %u within 20 s",
				   BENCH, port);
		/* Wait for the listening socket: each try is a connect(). */
		usleep(2000);
	}
}

static void start_server(const struct settings *settings, enum competitor competitor,
			 uint16_t port)
{
	char memory[32], port_text[16], interval[16], idle_age[16], min_ram[32];
	const char *argv[40];
	int argc = 0;
	pid_t pid;

	snprintf(undo.item_file, sizeof(undo.item_file), "/dev/shm/wset-bench-%d-items",
		 (int)getpid());
	snprintf(undo.meta_file, sizeof(undo.meta_file), "%s.meta", undo.item_file);
	unlink(undo.item_file);
	unlink(undo.meta_file);
	snprintf(memory, sizeof(memory), "%llu", (unsigned long long)settings->item_memory_mib);
	snprintf(port_text, sizeof(port_text), "%u", port);
	snprintf(interval, sizeof(interval), "%u", settings->interval_ms);
	snprintf(idle_age, sizeof(idle_age), "%u", settings->min_idle_age);
	snprintf(min_ram, sizeof(min_ram), "%llu",
		 (unsigned long long)settings->item_memory_mib << 20);
	if (competitor == WSET) {
		argv[argc++] = settings->wset_run;
		argv[argc++] = "--in-process";
		argv[argc++] = "--interval-ms";
		argv[argc++] = interval;
		argv[argc++] = "--min-idle-age";
		argv[argc++] = idle_age;
		argv[argc++] = "--store-dir";
		argv[argc++] = undo.store_dir;
		argv[argc++] = "--min-ram";
		argv[argc++] = min_ram;
		argv[argc++] = "--";
	}
	argv[argc++] = "memcached";
	/* -M: an error instead of evicting when full, so a miss is a loss. */
	argv[argc++] = "-M";
	argv[argc++] = "-m";
	argv[argc++] = memory;
	argv[argc++] = "--memory-file";
	argv[argc++] = undo.item_file;
	argv[argc++] = "-l";
	argv[argc++] = "127.0.0.1";
	argv[argc++] = "-p";
	argv[argc++] = port_text;
	argv[argc++] = "-U";
	argv[argc++] = "0";
	argv[argc++] = "-t";
	argv[argc++] = "1";
	/* memcached refuses to run as root without being told to. */
	if (geteuid() == 0) {
		argv[argc++] = "-u";
		argv[argc++] = "root";
	}
	argv[argc] = NULL;

	pid = fork();
	if (pid < 0)
		bench_fail("%s: fork: %s", BENCH, strerror(errno));
	if (pid == 0) {
		char self[32], procs[192];

		/* Our stdout is JSON lines: the server talks on stderr. */
		dup2(STDERR_FILENO, STDOUT_FILENO);
		if (competitor == ZRAM_SWAP) {
			int fd;

			snprintf(procs, sizeof(procs), "%s/cgroup.procs", undo.cgroup);
			snprintf(self, sizeof(self), "%d", (int)getpid());
			fd = open(procs, O_WRONLY);
			if (fd < 0 || write(fd, self, strlen(self)) < 0) {
				fprintf(stderr, "%s: joining %s: %s\n", BENCH, undo.cgroup,
					strerror(errno));
				_exit(127);
			}
			close(fd);
		}
		execvp(argv[0], (char **)argv);
		fprintf(stderr, "%s: %s: %s\n", BENCH, argv[0], strerror(errno));
		_exit(127);
	}
	undo.server = pid;
}

static uint64_t resident_bytes(pid_t pid)
{
	char path[64], line[256];
	unsigned long long kib = 0;
	FILE *status;

	snprintf(path, sizeof(path), "/proc/%d/status", (int)pid);
	status = fopen(path, "r");
	if (!status)
		bench_fail("%s: %s: %s", BENCH, path, strerror(errno));
	while (fgets(line, sizeof(line), status))
		if (sscanf(line, "VmRSS: %llu kB", &kib) == 1)
			break;
	fclose(status);
	return kib << 10;
}

/* Bytes the server's open files in the store directory hold on disk:
 * libwset's store files are unlinked, so through /proc/PID/fd. */
static uint64_t store_bytes(pid_t pid)
{
	char dir_path[64], link_path[320], target[PATH_MAX];
	struct dirent *entry;
	uint64_t total = 0;
	size_t prefix = strlen(undo.store_dir);
	DIR *dir;

	snprintf(dir_path, sizeof(dir_path), "/proc/%d/fd", (int)pid);
	dir = opendir(dir_path);
	while (dir && (entry = readdir(dir))) {
		struct stat st;
		ssize_t length;

		snprintf(link_path, sizeof(link_path), "%s/%s", dir_path, entry->d_name);
		length = readlink(link_path, target, sizeof(target) - 1);
		if (length <= 0)
			continue;
		target[length] = '\0';
		if (strncmp(target, undo.store_dir, prefix) == 0 && target[prefix] == '/' &&
		    stat(link_path, &st) == 0)
			total += (uint64_t)st.st_blocks * 512;
	}
	if (dir)
		closedir(dir);
	return total;
}

/* wset-run took the item memory: libwset's userfaultfd is open in the
 * server (the helper maps it before memcached listens). */
static bool has_userfaultfd(pid_t pid)
{
	char dir_path[64], link_path[320], target[64];
	struct dirent *entry;
	bool found = false;
	DIR *dir;

	snprintf(dir_path, sizeof(dir_path), "/proc/%d/fd", (int)pid);
	dir = opendir(dir_path);
	while (dir && !found && (entry = readdir(dir))) {
		ssize_t length;

		snprintf(link_path, sizeof(link_path), "%s/%s", dir_path, entry->d_name);
		length = readlink(link_path, target, sizeof(target) - 1);
		if (length <= 0)
			continue;
		target[length] = '\0';
		found = strcmp(target, "anon_inode:[userfaultfd]") == 0;
	}
	if (dir)
		closedir(dir);
	return found;
}

static bool read_u64s(const char *path, uint64_t *values, int count)
{
	FILE *file = fopen(path, "r");
	int found = 0;

	if (!file)
		return false;
	while (found < count) {
		unsigned long long value;

		if (fscanf(file, "%llu", &value) != 1)
			break;
		values[found++] = value;
	}
	fclose(file);
	return found == count;
}

static bool write_text(const char *path, const char *text, char *why, size_t why_len)
{
	int fd = open(path, O_WRONLY | O_CLOEXEC);
	ssize_t n = fd < 0 ? -1 : write(fd, text, strlen(text));

	if (n < 0)
		snprintf(why, why_len, "writing '%s' to %s: %s", text, path, strerror(errno));
	if (fd >= 0)
		close(fd);
	return n >= 0;
}

/* A zram device of disksize bytes as swap: true, or why[] says why not. */
static bool zram_swap_on(uint64_t disksize, char *why, size_t why_len)
{
	char path[128], text[32];
	uint64_t id;
	int status;
	pid_t pid;

	if (geteuid() != 0) {
		snprintf(why, why_len, "swapon needs root");
		return false;
	}
	if (!read_u64s(ZRAM_CONTROL "/hot_add", &id, 1)) {
		snprintf(why, why_len, "no zram device: %s/hot_add: %s", ZRAM_CONTROL,
			 strerror(errno));
		return false;
	}
	undo.zram_id = (int)id;
	snprintf(undo.zram_id_text, sizeof(undo.zram_id_text), "%d", undo.zram_id);
	snprintf(undo.zram_device, sizeof(undo.zram_device), "/dev/zram%d", undo.zram_id);
	/* lz4 when there is a choice: the algorithm zswap setups favour. */
	snprintf(path, sizeof(path), "/sys/block/zram%d/comp_algorithm", undo.zram_id);
	write_file(path, "lz4");
	snprintf(path, sizeof(path), "/sys/block/zram%d/disksize", undo.zram_id);
	snprintf(text, sizeof(text), "%llu", (unsigned long long)disksize);
	if (!write_text(path, text, why, why_len))
		return false;
	pid = fork();
	if (pid == 0) {
		int null = open("/dev/null", O_WRONLY);

		dup2(null, STDOUT_FILENO);
		execlp("mkswap", "mkswap", undo.zram_device, (char *)NULL);
		_exit(127);
	}
	if (pid < 0 || waitpid(pid, &status, 0) != pid || !WIFEXITED(status) ||
	    WEXITSTATUS(status) != 0) {
		snprintf(why, why_len, "mkswap %s failed", undo.zram_device);
		return false;
	}
	if (swapon(undo.zram_device, 0) < 0) {
		snprintf(why, why_len, "swapon %s: %s", undo.zram_device, strerror(errno));
		return false;
	}
	undo.swap_on = true;
	return true;
}

static bool cgroup_create(uint64_t limit, char *why, size_t why_len)
{
	char path[192], text[32];

	snprintf(undo.cgroup, sizeof(undo.cgroup), CGROUP_MEMORY "/wset-bench-%d",
		 (int)getpid());
	if (mkdir(undo.cgroup, 0755) < 0 && errno != EEXIST) {
		snprintf(why, why_len, "a memory cgroup (v1, %s): %s", undo.cgroup,
			 strerror(errno));
		undo.cgroup[0] = '\0';
		return false;
	}
	snprintf(path, sizeof(path), "%s/memory.limit_in_bytes", undo.cgroup);
	snprintf(text, sizeof(text), "%llu", (unsigned long long)limit);
	return write_text(path, text, why, why_len);
}

struct outcome {
	double ops_per_s;
	uint64_t resident, store, swapped, swap_ram;
	bool store_in_ram;	/* the store directory is a tmpfs */
	bool killed;		/* zram-swap: memcached died under the limit */
};

/* False when wset-run did not take the memory (the server was stopped). */
static bool run_competitor(const struct settings *settings, enum competitor competitor,
			   uint64_t seed, struct outcome *outcome)
{
	struct workload work = { .keys = settings->keys, .hot_keys = settings->keys / 10,
				 .random = seed * 2 + 1 };
	uint16_t port = free_port();
	uint64_t zram[3];
	char path[96];

	if (!work.hot_keys)
		work.hot_keys = 1;
	work.versions = calloc(work.keys, sizeof(*work.versions));
	if (!work.versions)
		bench_fail("%s: out of memory for %llu keys", BENCH,
			   (unsigned long long)work.keys);
	start_server(settings, competitor, port);
	work.client.fd = connect_server(port);
	if (competitor == WSET && !has_userfaultfd(undo.server)) {
		close(work.client.fd);
		free(work.versions);
		stop_server();
		return false;
	}
	jmp_buf here;

	if (competitor == ZRAM_SWAP) {
		if (setjmp(here)) {
			/* What was allocated after this point is left. */
			server_lost = NULL;
			close(work.client.fd);
			stop_server();
			outcome->killed = true;
			return true;
		}
		server_lost = &here;
	}
	fill(&work);
	skewed(&work, settings->warm_seconds);
	outcome->ops_per_s = skewed(&work, settings->measure_seconds);
	outcome->resident = resident_bytes(undo.server);
	if (competitor == WSET) {
		struct statfs fs;

		outcome->store = store_bytes(undo.server);
		outcome->store_in_ram = statfs(undo.store_dir, &fs) == 0 &&
					(unsigned long)fs.f_type == TMPFS_MAGIC_NUMBER;
	}
	snprintf(path, sizeof(path), "/sys/block/zram%d/mm_stat", undo.zram_id);
	if (competitor == ZRAM_SWAP && read_u64s(path, zram, 3)) {
		outcome->swapped = zram[0];	/* orig_data_size */
		outcome->swap_ram = zram[2];	/* mem_used_total */
	}
	verify(&work);
	server_lost = NULL;
	close(work.client.fd);
	free(work.client.in);
	free(work.out);
	free(work.versions);
	stop_server();
	return true;
}

int main(int argc, char **argv)
{
	struct bench_options options;
	struct settings settings = { .interval_ms = 100, .min_idle_age = 10 };
	char why[512], template[PATH_MAX];
	bool zram_ready = false, zram_tried = false;
	struct statfs fs;

	bench_parse(argc, argv,
		    "memcached under a skewed GET/SET mix: untiered, under wset-run, and\n"
		    "in a memory cgroup with kernel swap on zram at wset's resident size.\n"
		    "--size is the data set (values of 4000 bytes).\n",
		    128ull << 20, &options);
	if (options.smoke)
		options.size = 8ull << 20;
	settings.keys = options.size / 4096;
	/* Room for every item and memcached's first slab page per class. */
	settings.item_memory_mib = (options.size >> 20) * 5 / 4 + 64;
	settings.warm_seconds = options.smoke ? 0.5 : 2.5;
	settings.measure_seconds = options.smoke ? 0.5 : 2.5;

	if (!on_path("memcached")) {
		bench_skip(&options, BENCH, CASE, "memcached is not installed (Debian: memcached)");
		return options.smoke ? 4 : 0;
	}
	if (statfs("/dev/shm", &fs) < 0 || (unsigned long)fs.f_type != TMPFS_MAGIC_NUMBER) {
		bench_skip(&options, BENCH, CASE, "/dev/shm is not a tmpfs for memcached's item memory");
		return options.smoke ? 4 : 0;
	}
	atexit(undo_all);
	signal(SIGINT, on_signal);
	signal(SIGTERM, on_signal);
	signal(SIGHUP, on_signal);
	signal(SIGPIPE, SIG_IGN);
	bool have_wset_run = find_wset_run(settings.wset_run, sizeof(settings.wset_run));

	if (!have_wset_run)
		bench_skip(&options, BENCH, CASE "/wset",
			   "wset-run not found next to this program or in ../tools");

	for (int rep = 0; rep < options.repetitions; rep++) {
		uint64_t wset_resident = 0, untiered_resident = 0;

		bench_progress("%s: repetition %d of %d (%.0f MiB of items, %.1f s per competitor)",
			       BENCH, rep + 1, options.repetitions,
			       (double)options.size / (1 << 20),
			       settings.warm_seconds + settings.measure_seconds);
		for (int k = 0; k < COMPETITORS; k++) {
			struct outcome outcome = { 0 };
			json_object *line;
			uint64_t limit = 0;

			char name[64];

			snprintf(name, sizeof(name), CASE "/%s", competitor_names[k]);
			if (!bench_selected(&options, name))
				continue;
			if (k == WSET && !have_wset_run)
				continue;
			if (k == ZRAM_SWAP) {
				if (!zram_tried) {
					zram_tried = true;
					zram_ready = zram_swap_on(settings.item_memory_mib << 21, why,
								    sizeof(why));
					if (!zram_ready)
						bench_skip(&options, BENCH, CASE "/zram-swap",
							   "kernel swap on zram: %s", why);
				}
				if (!zram_ready)
					continue;
				/* The same memory as wset; without wset, half of
				 * what memcached holds untiered. */
				limit = wset_resident ? wset_resident :
					untiered_resident ? untiered_resident / 2 :
					settings.item_memory_mib << 19;
				if (!cgroup_create(limit, why, sizeof(why))) {
					bench_skip(&options, BENCH, CASE "/zram-swap", "%s", why);
					zram_ready = false;
					continue;
				}
			}
			if (k == WSET) {
				snprintf(template, sizeof(template), "%s/wset-bench-e2e-XXXXXX",
					 bench_store_dir());
				if (!mkdtemp(template))
					bench_fail("%s: a store directory in %s: %s", BENCH,
						   bench_store_dir(), strerror(errno));
				snprintf(undo.store_dir, sizeof(undo.store_dir), "%s", template);
			}
			if (!run_competitor(&settings, (enum competitor)k, (uint64_t)rep + 1,
					    &outcome)) {
				remove_store_dir();
				bench_skip(&options, BENCH, CASE "/wset",
					   "wset-run did not take memcached's item memory (no "
					   "userfaultfd in the process; its message is above)");
				have_wset_run = false;
				continue;
			}
			remove_store_dir();
			if (outcome.killed) {
				bench_skip(&options, BENCH, CASE "/zram-swap",
					   "repetition %d: memcached was killed (the kernel's OOM "
					   "killer, under the memory cgroup's limit of %llu MiB, "
					   "wset's resident size) before the window ended", rep + 1,
					   (unsigned long long)(limit >> 20));
				continue;
			}
			if (k == WSET)
				wset_resident = outcome.resident;
			if (k == UNTIERED)
				untiered_resident = outcome.resident;
			line = bench_sample(&options, BENCH, CASE, competitor_names[k], rep);
			bench_set_double(line, "ops_per_s", outcome.ops_per_s);
			bench_set_u64(line, "resident_bytes", outcome.resident);
			/* What the application costs in RAM: zram's pool is RAM. */
			bench_set_u64(line, "ram_bytes", outcome.resident + outcome.swap_ram +
				      (outcome.store_in_ram ? outcome.store : 0));
			bench_set_u64(line, "data_bytes", settings.keys * VALUE_SIZE);
			if (k == WSET)
				bench_set_u64(line, "store_bytes", outcome.store);
			if (k == ZRAM_SWAP) {
				bench_set_u64(line, "limit_bytes", limit);
				bench_set_u64(line, "swapped_bytes", outcome.swapped);
				bench_set_u64(line, "swap_ram_bytes", outcome.swap_ram);
			}
			bench_emit(line);
		}
	}
	return 0;
}
