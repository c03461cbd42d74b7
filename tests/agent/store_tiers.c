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

#include "../redis_server.h"
#include "agent_test.h"

#define PAGE 4096u
#define PAGES 2048u /* 8 MiB */

/* Odd pages random (the compressed tier refuses them), even pages text
 * (it keeps them). */
static void fill(uint8_t *page, unsigned int index)
{
	uint64_t state = 0x2545f4914f6cdd1dull ^ ((uint64_t)index << 32);

	memset(page, 0, PAGE);
	for (size_t off = 0; off < PAGE; off += index % 2 ? 8 : 64) {
		if (index % 2) {
			state ^= state << 13;
			state ^= state >> 7;
			state ^= state << 17;
			memcpy(page + off, &state, 8);
		} else {
			snprintf((char *)page + off, 64, "page %u line %zu", index, off / 64);
		}
	}
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
	int ret, exit_status, bad;
	struct helper_vmm vmm;
	struct agent agent;
	uint64_t evicted;
	char why[256];

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
	vmm_start(&vmm, agent.socket, "tiered", PAGES, fill, true);
	evicted = agent_wait_counter(&agent, 1, "evicted_bytes", 30000);
	for (int waited = 0; waited < 100 && evicted < PAGES * PAGE / 2; waited++) {
		sleep_ms(100);
		evicted = agent_vmm_counter(&agent, 1, "evicted_bytes");
	}
	tap_ok(evicted >= PAGES * PAGE / 2, "pages are evicted through the chain: "
	       "%llu bytes", (unsigned long long)evicted);

	status = agent_request(&agent, "{\"command\":\"status\"}");
	redis = status_tier(status, "redis");
	tap_ok(status_tier(status, "compressed-lz4") && redis, "the status names both tiers");
	tap_ok(json_member_u64(redis, "pages") > 0 &&
		       json_member_u64(status_tier(status, "compressed-lz4"), "refused") > 0 &&
		       json_member_u64(status_tier(status, "compressed-lz4"), "moved_down") > 0 &&
		       json_member_u64(status_tier(status, "compressed-lz4"), "stored_bytes") <= 16384,
	       "random pages went on to Redis, the oldest text pages moved down: "
	       "Redis %llu pages, compressed %llu pages in %llu bytes",
	       (unsigned long long)json_member_u64(redis, "pages"),
	       (unsigned long long)json_member_u64(status_tier(status, "compressed-lz4"), "pages"),
	       (unsigned long long)json_member_u64(status_tier(status, "compressed-lz4"), "stored_bytes"));
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

	bad = vmm_check(&vmm);
	tap_ok(bad == 0, "the VMM finds every page intact: %d bad of %u", bad, PAGES);
	exit_status = vmm_finish(&vmm, 60000);
	tap_ok(exit_status == 0, "the VMM lets go (exit %d)", exit_status);
	tap_ok(agent_stop(&agent, SIGTERM, 20000) == 0, "wsetd exits 0 on TERM");
	agent_finish(&agent);
	redis_server_destroy(&server);
	return tap_done();
}
