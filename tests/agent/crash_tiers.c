// SPDX-License-Identifier: MIT
/*
 * kill -9 of wsetd with a file -> Redis chain (a real redis-server this
 * test starts): a VMM running the helper hands over 8 MiB of random pages
 * and leaves them alone; wsetd evicts them, the file tier keeping 2 MiB
 * (file_capacity) and moving the oldest on to Redis, so that pages are in
 * both tiers.  wsetd is killed, a new one takes the VMM over from a
 * systemd-like fd store and lists both tiers; then the VMM reads every
 * page back through it and checks each one's checksum.  Skips where there
 * is no redis-server (the test guest).
 */
#include <stdio.h>
#include <string.h>

#include "../redis_server.h"
#include "agent_test.h"

#define PAGE 4096u
#define PAGES 2048u /* 8 MiB */

/* Random pages (the file tier and Redis take them as they are). */
static void fill(uint8_t *page, unsigned int index)
{
	uint64_t state = 0x9e3779b97f4a7c15ull ^ ((uint64_t)index << 32);

	for (size_t off = 0; off < PAGE; off += 8) {
		state ^= state << 13;
		state ^= state >> 7;
		state ^= state << 17;
		memcpy(page + off, &state, 8);
	}
}

/* The pages the status puts in the tier named name (of the one VMM). */
static uint64_t tier_pages(const struct agent *agent, const char *name)
{
	json_object *status = agent_request(agent, "{\"command\":\"status\"}");
	uint64_t pages = json_member_u64(status_tier(status, name), "pages");

	json_object_put(status);
	return pages;
}

int main(void)
{
	struct redis_server server;
	uint64_t evicted, in_file = 0, in_redis = 0;
	struct helper_vmm vmm;
	struct agent agent;
	char why[256], path[64];
	int ret, bad;

	ret = redis_server_create(&server, NULL, why, sizeof(why));
	if (ret == 4)
		tap_skip_all("%s", why);
	if (ret < 0) {
		tap_ok(false, "redis-server: %s", why);
		return tap_done();
	}
	snprintf(path, sizeof(path), "/tmp/wsetd-fdstore.%d", (int)getpid());
	if (fd_store_start(path)) {
		tap_ok(false, "a systemd-like fd store listens at %s", path);
		redis_server_destroy(&server);
		return tap_done();
	}
	const char *const arguments[] = {
		"--tiers", "file,redis", "--file-capacity", "2M",
		"--redis-address", server.socket, "--interval-ms", "100",
		"--evict", "yes", "--min-idle-age", "2", NULL,
	};

	if (!agent_started(&agent, arguments)) {
		redis_server_destroy(&server);
		return tap_done();
	}
	/* It never lets go: its wsetd is gone. */
	vmm_start(&vmm, agent.socket, "crash-tiers", PAGES, fill, false);

	/* Evicted, and spread: the file tier over 2 MiB moves the oldest on. */
	evicted = agent_wait_counter(&agent, 1, "evicted_bytes", 30000);
	for (int waited = 0; waited < 300; waited++) {
		evicted = agent_vmm_counter(&agent, 1, "evicted_bytes");
		in_file = tier_pages(&agent, "file");
		in_redis = tier_pages(&agent, "redis");
		if (evicted >= PAGES * PAGE / 2 && in_file && in_redis)
			break;
		sleep_ms(100);
	}
	tap_ok(evicted >= PAGES * PAGE / 2 && in_file > 0 && in_redis > 0,
	       "pages are evicted into both tiers: %llu bytes, %llu pages in the file "
	       "tier, %llu in Redis", (unsigned long long)evicted,
	       (unsigned long long)in_file, (unsigned long long)in_redis);
	for (int waited = 0; waited < 3000 && fd_store_count() < 2; waited++)
		sleep_ms(10);
	tap_ok(fd_store_count() == 2, "wsetd keeps the VMM's userfaultfd and memfd in the "
	       "fd store (%d fds)", fd_store_count());

	kill(agent.pid, SIGKILL);
	ret = wait_exit(agent.pid, 30000);
	agent.pid = 0;
	tap_ok(ret == 128 + SIGKILL, "wsetd is killed with SIGKILL (status %d)", ret);
	ret = agent_restart(&agent, arguments);
	tap_ok(ret == 0 && agent_wait_log(&agent, "fd store: 1 VMMs taken over", 30000) &&
		       agent_wait_vmm_count(&agent, 1, 30000),
	       "a new wsetd takes the VMM over from the fd store");
	in_file = tier_pages(&agent, "file");
	in_redis = tier_pages(&agent, "redis");
	tap_ok(in_file > 0 && in_redis > 0, "it found pages in both tiers: %llu in the "
	       "file tier, %llu in Redis", (unsigned long long)in_file,
	       (unsigned long long)in_redis);

	bad = vmm_check(&vmm);
	tap_ok(bad == 0, "the VMM reads every page back with its contents: %d bad of %u",
	       bad, PAGES);
	ret = vmm_finish(&vmm, 30000);
	tap_ok(ret == 0, "the VMM exits (status %d)", ret);
	tap_ok(agent_wait_vmm_count(&agent, 0, 30000) &&
		       agent_stop(&agent, SIGTERM, 30000) == 0, "wsetd exits 0 on TERM");
	fd_store_stop();
	agent_finish(&agent);
	redis_server_destroy(&server);
	return tap_done();
}
