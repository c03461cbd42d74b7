// SPDX-License-Identifier: MIT
/*
 * wsetd with a tier chain, compressed RAM -> Redis (a real redis-server
 * this test starts), serving a VMM that runs the helper: half its pages
 * are text (they compress, and overflow the small compressed tier to
 * Redis), half random (straight to Redis).  The VMM checks every page's
 * checksum after the evictions; wsetctl status, the status JSON and the
 * Prometheus text show each tier.  Skips where there is no redis-server
 * (the test guest).
 */
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>

#include "wset_helper.h"

#include "../redis_server.h"
#include "agent_test.h"

#define PAGE 4096u
#define PAGES 2048u /* 8 MiB */

static uint8_t *memory;
static uint64_t sums[PAGES];

static uint64_t hash(const uint8_t *data, size_t len)
{
	uint64_t value = 0xcbf29ce484222325ull;

	for (size_t i = 0; i < len; i++)
		value = (value ^ data[i]) * 0x100000001b3ull;
	return value;
}

static void write_pages(void)
{
	uint64_t state = 0x2545f4914f6cdd1dull;

	for (unsigned int p = 0; p < PAGES; p++) {
		uint8_t *page = memory + (size_t)p * PAGE;

		memset(page, 0, PAGE);
		for (size_t off = 0; off < PAGE; off += p % 2 ? 8 : 64) {
			if (p % 2) {
				state ^= state << 13;
				state ^= state >> 7;
				state ^= state << 17;
				memcpy(page + off, &state, 8);
			} else {
				snprintf((char *)page + off, 64, "page %u line %zu", p, off / 64);
			}
		}
		sums[p] = hash(page, PAGE);
	}
}

/* The VMM: fill, hand over with the helper, wait for 'v', answer the
 * number of bad pages, let go. */
static void vmm(int sock, const char *socket_path)
{
	struct wset_helper_region region;
	struct wset_helper *helper;
	char error[512], command;
	unsigned int bad = 0;
	int memfd = memfd_create("guest-ram", MFD_CLOEXEC);

	if (memfd < 0 || ftruncate(memfd, (off_t)PAGES * PAGE) < 0)
		_exit(3);
	memory = mmap(NULL, (size_t)PAGES * PAGE, PROT_READ | PROT_WRITE, MAP_SHARED,
		      memfd, 0);
	if (memory == MAP_FAILED)
		_exit(3);
	write_pages();
	region = (struct wset_helper_region){ memory, (uint64_t)PAGES * PAGE, memfd, 0 };
	if (wset_helper_connect(socket_path, "tiered", &region, 1, &helper, error,
				sizeof(error)) < 0) {
		dprintf(sock, "e%s\n", error);
		_exit(3);
	}
	if (write(sock, "c", 1) != 1 || read(sock, &command, 1) != 1)
		_exit(3);
	for (unsigned int p = 0; p < PAGES; p++)
		bad += hash(memory + (size_t)p * PAGE, PAGE) != sums[p];
	if (write(sock, &bad, sizeof(bad)) != sizeof(bad))
		_exit(3);
	_exit(wset_helper_close(helper, 30000) < 0 ? 2 : 0);
}

static json_object *tier_of(json_object *status, const char *name)
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

static uint64_t member(json_object *object, const char *key)
{
	json_object *value;

	return object && json_object_object_get_ex(object, key, &value) ?
		json_object_get_uint64(value) : 0;
}

/* wsetctl's output for arguments, into buffer. */
static void wsetctl(const struct agent *agent, const char *command, char *buffer,
		    size_t size)
{
	const char *const arguments[] = { "-s", agent->control, command, NULL };
	char output[160];
	FILE *file;

	snprintf(output, sizeof(output), "%s/wsetctl.out", agent->directory);
	wait_exit(spawn_tool("wsetctl", arguments, output), 10000);
	file = fopen(output, "r");
	buffer[file ? fread(buffer, 1, size - 1, file) : 0] = '\0';
	if (file)
		fclose(file);
}

int main(void)
{
	static char buffer[65536];
	struct redis_server server;
	json_object *status, *redis;
	int ret, exit_status, sockets[2];
	unsigned int bad = ~0u;
	struct agent agent;
	uint64_t evicted;
	char why[256];
	char answer = 0;
	pid_t child;

	ret = redis_server_create(&server, NULL, why, sizeof(why));
	if (ret == 4)
		tap_skip_all("%s", why);
	if (ret < 0) {
		tap_ok(false, "redis-server: %s", why);
		return tap_done();
	}
	{
		const char *const arguments[] = {
			"--tiers", "compressed,redis", "--volatile-tiers", "yes",
			"--compressed-capacity", "16K", "--redis-address", server.socket,
			"--interval-ms", "100", "--evict", "yes", "--min-idle-age", "2", NULL,
		};

		if (!agent_started(&agent, arguments)) {
			redis_server_destroy(&server);
			return tap_done();
		}
	}
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sockets) < 0)
		tap_skip_all("socketpair failed");
	child = fork();
	if (child == 0) {
		close(sockets[0]);
		vmm(sockets[1], agent.socket);
	}
	close(sockets[1]);
	tap_ok(read(sockets[0], &answer, 1) == 1 && answer == 'c',
	       "a VMM hands its memory over with the helper");
	evicted = agent_wait_counter(&agent, 1, "evicted_bytes", 30000);
	for (int waited = 0; waited < 100 && evicted < PAGES * PAGE / 2; waited++) {
		sleep_ms(100);
		evicted = agent_vmm_counter(&agent, 1, "evicted_bytes");
	}
	tap_ok(evicted >= PAGES * PAGE / 2, "pages are evicted through the chain: "
	       "%llu bytes", (unsigned long long)evicted);

	status = agent_request(&agent, "{\"command\":\"status\"}");
	redis = tier_of(status, "redis");
	tap_ok(tier_of(status, "compressed-lz4") && redis, "the status names both tiers");
	tap_ok(member(redis, "pages") > 0 &&
		       member(tier_of(status, "compressed-lz4"), "refused") > 0 &&
		       member(tier_of(status, "compressed-lz4"), "moved_down") > 0 &&
		       member(tier_of(status, "compressed-lz4"), "stored_bytes") <= 16384,
	       "random pages went on to Redis, the oldest text pages moved down: "
	       "Redis %llu pages, compressed %llu pages in %llu bytes",
	       (unsigned long long)member(redis, "pages"),
	       (unsigned long long)member(tier_of(status, "compressed-lz4"), "pages"),
	       (unsigned long long)member(tier_of(status, "compressed-lz4"), "stored_bytes"));
	json_object_put(status);

	wsetctl(&agent, "status", buffer, sizeof(buffer));
	tap_ok(strstr(buffer, "TIER") && strstr(buffer, "compressed-lz4") &&
		       strstr(buffer, "redis"), "wsetctl status shows the tiers");
	wsetctl(&agent, "metrics", buffer, sizeof(buffer));
	tap_ok(strstr(buffer, "wset_tier_pages{vmm=\"1\",name=\"tiered\",tier=\"redis\"}") &&
		       strstr(buffer, "wset_tier_get_latency_seconds_bucket{vmm=\"1\","
				      "name=\"tiered\",tier=\"redis\",le=") &&
		       strstr(buffer, "wset_tier_compression_ratio{vmm=\"1\",name=\"tiered\","
				      "tier=\"compressed-lz4\"}"),
	       "the Prometheus text labels the metrics with the tier");

	if (write(sockets[0], "v", 1) != 1 ||
	    read(sockets[0], &bad, sizeof(bad)) != sizeof(bad))
		tap_ok(false, "the VMM checks its memory");
	else
		tap_ok(bad == 0, "every page comes back intact: %u bad of %u", bad, PAGES);
	exit_status = wait_exit(child, 60000);
	tap_ok(exit_status == 0, "the VMM lets go (exit %d)", exit_status);
	tap_ok(agent_stop(&agent, SIGTERM, 20000) == 0, "wsetd exits 0 on TERM");
	agent_finish(&agent);
	redis_server_destroy(&server);
	return tap_done();
}
