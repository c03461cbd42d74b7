/* SPDX-License-Identifier: MIT */
/*
 * The structs callers allocate carry their size and reserved space.  A
 * struct the library reads is refused with -EINVAL when its size is below
 * the first stable layout or above WSET_STRUCT_SIZE_MAX, when a reserved
 * byte is set, or when a newer caller's bytes beyond the known layout are
 * set; with those bytes zero it is accepted.  A struct the library fills
 * is filled up to the caller's size and never past the layout the library
 * knows: the bytes after it keep their poison.
 * usage: struct_size [MECHANISM]
 */
#include "testlib.h"

#define POISON 0xa5

/* A store that is always full: enough for a wset that never evicts. */
static int closes;

static int full_put(void *priv, uint64_t key, const void *data, size_t len)
{
	(void)priv, (void)key, (void)data, (void)len;
	return -ENOSPC;
}

static int full_put_batch(void *priv, struct wset_store_io *io, unsigned int count)
{
	(void)priv;
	for (unsigned int i = 0; i < count; i++)
		io[i].result = -ENOSPC;
	return 0;
}

static int full_get(void *priv, uint64_t key, void *buf, size_t len)
{
	(void)priv, (void)key, (void)buf, (void)len;
	return -ENOENT;
}

static int full_drop(void *priv, uint64_t key, size_t len)
{
	(void)priv, (void)key, (void)len;
	return 0;
}

static void full_close(void *priv)
{
	(void)priv;
	closes++;
}

/* What a caller built against a newer header passes: the same struct with
 * members appended. */
struct newer_config {
	struct wset_config config;
	uint64_t appended[4];
};

struct newer_adopt {
	struct wset_adopt adopt;
	uint64_t appended[2];
};

struct newer_store_ops {
	struct wset_store_ops ops;
	void *appended[2];
};

struct newer_counters {
	struct wset_counters counters;
	uint64_t appended[4];
};

static int create_with(const struct wset_config *config)
{
	struct wset *ws = NULL;
	int ret = wset_create(config, &ws);

	if (ret == 0)
		ret = wset_destroy(ws);
	return ret;
}

static bool all_poison(const void *start, size_t len)
{
	const unsigned char *bytes = start;

	for (size_t i = 0; i < len; i++)
		if (bytes[i] != POISON)
			return false;
	return true;
}

static void config_sizes(const struct wset_config *good)
{
	struct newer_config newer = { .config = *good };
	struct wset_config config;

	EXPECT_AS(create_with(good), 0,
		  "config from WSET_CONFIG_INIT");
	config = *good;
	config.size = 0;
	EXPECT_AS(create_with(&config), -EINVAL,
		  "config size 0");
	config.size = sizeof(config) - sizeof(uint64_t);
	EXPECT_AS(create_with(&config), -EINVAL,
		  "config smaller than the first layout");
	config.size = WSET_STRUCT_SIZE_MAX + 1;
	EXPECT_AS(create_with(&config), -EINVAL,
		  "config size above WSET_STRUCT_SIZE_MAX");
	config = *good;
	config.reserved[7] = 1;
	EXPECT_AS(create_with(&config), -EINVAL,
		  "config reserved byte set");

	newer.config.size = sizeof(newer);
	EXPECT_AS(create_with(&newer.config), 0,
		  "newer config, appended members zero");
	newer.appended[3] = 1;
	EXPECT_AS(create_with(&newer.config), -EINVAL,
		  "newer config, an appended member set");

	/* The embedded policy grows only into its reserved space. */
	config = *good;
	config.policy.size = sizeof(config.policy) + sizeof(uint64_t);
	EXPECT_AS(create_with(&config), -EINVAL,
		  "embedded policy larger than its slot");
	config = *good;
	config.policy.reserved[0] = 1;
	EXPECT_AS(create_with(&config), -EINVAL,
		  "embedded policy reserved byte set");
}

static void store_ops_sizes(const struct wset_config *good)
{
	struct newer_store_ops newer = {
		.ops = WSET_STORE_OPS_INIT(.put = full_put, .get = full_get,
					   .drop = full_drop, .close = full_close),
	};
	struct wset_store_ops ops = newer.ops;
	struct wset_store store = { .ops = &ops };
	struct wset_config config = *good;

	config.store = &store;
	EXPECT_AS(create_with(&config), 0,
		  "store ops from WSET_STORE_OPS_INIT");
	ops.size = sizeof(ops) - sizeof(void *);
	EXPECT_AS(create_with(&config), -EINVAL,
		  "store ops smaller than the first layout");
	ops.size = sizeof(ops);
	ops.reserved[0] = (void *)full_drop;
	EXPECT_AS(create_with(&config), -EINVAL,
		  "store ops reserved slot set");
	ops.reserved[0] = NULL;
	ops.put_batch = full_put_batch;
	EXPECT_AS(create_with(&config), 0,
		  "store ops with put_batch (1.1, in what was reserved space)");
	ops.put_batch = NULL;

	newer.ops.size = sizeof(newer);
	store.ops = &newer.ops;
	EXPECT_AS(create_with(&config), 0,
		  "newer store ops, appended slots NULL");
	newer.appended[1] = (void *)full_drop;
	EXPECT_AS(create_with(&config), -EINVAL,
		  "newer store ops, an appended slot set");

	/* wset_store_close() closes only stores wset_create() accepts. */
	closes = 0;
	wset_store_close(&store);
	newer.appended[1] = NULL;
	wset_store_close(&store);
	tap_ok(closes == 1, "wset_store_close closes only the valid store: %d close", closes);
}

static void adopt_sizes(const struct wset_config *config)
{
	struct newer_adopt newer = { .adopt = WSET_ADOPT_INIT };
	struct wset_adopt adopt = WSET_ADOPT_INIT;
	struct wset *ws;
	int closed_fd = dup(0);

	/* A closed uffd: past the struct checks, wset_adopt() says -EBADF. */
	close(closed_fd);
	adopt.uffd = closed_fd;
	adopt.pid = getpid();
	EXPECT_AS(wset_adopt(config, &adopt, &ws), -EBADF,
		  "adopt from WSET_ADOPT_INIT, closed uffd");
	adopt.size = sizeof(adopt) - sizeof(uint32_t);
	EXPECT_AS(wset_adopt(config, &adopt, &ws), -EINVAL,
		  "adopt smaller than the first layout");
	adopt.size = sizeof(adopt);
	adopt.reserved[6] = 1;
	EXPECT_AS(wset_adopt(config, &adopt, &ws), -EINVAL,
		  "adopt reserved byte set");

	newer.adopt.uffd = closed_fd;
	newer.adopt.pid = getpid();
	newer.adopt.size = sizeof(newer);
	EXPECT_AS(wset_adopt(config, &newer.adopt, &ws), -EBADF,
		  "newer adopt, appended members zero: closed uffd");
	newer.appended[0] = 1;
	EXPECT_AS(wset_adopt(config, &newer.adopt, &ws), -EINVAL,
		  "newer adopt, an appended member set");
}

static void policy_sizes(struct wset *ws)
{
	struct wset_policy policy = WSET_POLICY_INIT, read_back;

	policy.min_idle_age = 7;
	policy.resident_target = 1 << 20;
	EXPECT_AS(wset_set_policy(ws, &policy), 0,
		  "policy from WSET_POLICY_INIT");
	policy.size = sizeof(policy) + sizeof(uint64_t);
	EXPECT_AS(wset_set_policy(ws, &policy), -EINVAL,
		  "policy larger than its layout");
	policy.size = sizeof(policy) - sizeof(uint64_t);
	EXPECT_AS(wset_set_policy(ws, &policy), -EINVAL,
		  "policy smaller than the first layout");
	policy.size = sizeof(policy);
	policy.reserved[3] = 1;
	EXPECT_AS(wset_set_policy(ws, &policy), -EINVAL,
		  "policy reserved byte set");

	/* Filled up to the caller's size: here up to min_idle_age. */
	memset(&read_back, POISON, sizeof(read_back));
	read_back.size = offsetof(struct wset_policy, resident_target);
	EXPECT(wset_get_policy(ws, &read_back), 0);
	tap_ok(read_back.min_idle_age == 7 &&
		       read_back.size == offsetof(struct wset_policy, resident_target) &&
		       all_poison(&read_back.resident_target,
				  sizeof(read_back) - read_back.size),
	       "wset_get_policy fills %u bytes and leaves the rest", read_back.size);
	read_back = (struct wset_policy)WSET_POLICY_INIT;
	EXPECT(wset_get_policy(ws, &read_back), 0);
	tap_ok(read_back.min_idle_age == 7 && read_back.resident_target == 1 << 20,
	       "wset_get_policy fills the whole policy");
}

static void counters_sizes(struct wset *ws, uint64_t tracked)
{
	struct wset_counters counters;
	struct newer_counters newer;
	size_t known = sizeof(struct wset_counters);
	size_t filled = offsetof(struct wset_counters, resident_bytes);

	memset(&counters, POISON, sizeof(counters));
	counters.size = 0;
	EXPECT_AS(wset_counters(ws, &counters), -EINVAL,
		  "counters size 0");
	tap_ok(all_poison(&counters.mechanism, known - sizeof(counters.size)),
	       "size 0: nothing filled");

	/* An older, smaller struct: filled only up to its size. */
	memset(&counters, POISON, sizeof(counters));
	counters.size = (uint32_t)filled;
	EXPECT_AS(wset_counters(ws, &counters), 0,
		  "counters of a smaller size");
	tap_ok(counters.mechanism == wset_mechanism(ws) &&
		       counters.tracked_bytes == tracked &&
		       counters.size == filled,
	       "the first %zu bytes are filled (tracked %llu)", filled,
	       (unsigned long long)counters.tracked_bytes);
	tap_ok(all_poison(&counters.resident_bytes, known - filled),
	       "the %zu bytes after the caller's size keep their poison",
	       known - filled);

	/* A newer, larger struct: the library fills what it knows. */
	memset(&newer, POISON, sizeof(newer));
	newer.counters.size = sizeof(newer);
	EXPECT_AS(wset_counters(ws, &newer.counters), 0,
		  "counters of a larger size");
	bool reserved_zero = true;
	for (size_t i = 0; i < sizeof(newer.counters.reserved) / sizeof(uint64_t); i++)
		reserved_zero &= newer.counters.reserved[i] == 0;
	tap_ok(newer.counters.tracked_bytes == tracked && reserved_zero &&
		       all_poison(newer.appended, sizeof(newer.appended)),
	       "a newer caller gets the known layout, reserved zero, its own "
	       "members untouched");
}

static void probe_sizes(void)
{
	struct wset_probe full = WSET_PROBE_INIT, probe;
	size_t filled = offsetof(struct wset_probe, has_rwp);

	EXPECT(wset_probe(&full), 0);
	memset(&probe, POISON, sizeof(probe));
	probe.size = 0;
	EXPECT_AS(wset_probe(&probe), -EINVAL,
		  "probe size 0");
	probe.size = (uint32_t)filled;
	EXPECT_AS(wset_probe(&probe), 0,
		  "probe of a smaller size");
	tap_ok(probe.uffd_features == full.uffd_features &&
		       all_poison(&probe.has_rwp, sizeof(probe) - filled),
	       "wset_probe fills %zu bytes and leaves the rest", filled);
}

int main(int argc, char **argv)
{
	struct wset_config config = WSET_CONFIG_INIT;
	size_t page = (size_t)sysconf(_SC_PAGESIZE);
	struct wset *ws;

	config.mechanism = test_mechanism(argc, argv);
	ws = test_create(&config);
	tap_plan(41);

	config_sizes(&config);
	store_ops_sizes(&config);
	adopt_sizes(&config);
	test_anon_region(ws, 4 * page);
	policy_sizes(ws);
	counters_sizes(ws, 4 * page);
	probe_sizes();

	EXPECT(wset_destroy(ws), 0);
	return tap_done();
}
