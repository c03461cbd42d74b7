/* SPDX-License-Identifier: MIT */
/*
 * The compressed tier in a chain above a file tier: zero pages take no
 * room, incompressible pages go straight down, the compressed tier stays
 * within its capacity by moving its oldest pages down, and every page
 * comes back with the same checksum from wherever it is.
 * usage: tiers lz4|zstd
 */
#include "testlib.h"
#include "wset_store.h"

#define PAGES 1024
#define PAGE 4096
#define CAPACITY (64 * 1024)

enum content { ZERO, RANDOM, TEXT };

static enum content content_of(size_t i)
{
	return i % 4 == 0 ? ZERO : i % 4 == 1 ? RANDOM : TEXT;
}

static uint64_t random_state = 0x9e3779b97f4a7c15ull;

static void fill(uint8_t *page, size_t i, uint64_t generation)
{
	memset(page, 0, PAGE);
	if (content_of(i) == RANDOM)
		for (size_t off = 0; off < PAGE; off += 8)
			*(uint64_t *)(page + off) = test_random(&random_state);
	else if (content_of(i) == TEXT)
		for (size_t off = 0; off < PAGE; off += 64)
			snprintf((char *)page + off, 64, "page %zu generation %llu line %zu",
				 i, (unsigned long long)generation, off / 64);
}

static uint64_t percentile(const uint64_t *histogram, double fraction)
{
	uint64_t total = 0, seen = 0;

	for (int i = 0; i < WSET_TIER_LATENCY_BUCKETS; i++)
		total += histogram[i];
	for (int i = 0; i < WSET_TIER_LATENCY_BUCKETS; i++) {
		seen += histogram[i];
		if (total && seen >= fraction * total)
			return 1ull << i;
	}
	return 0;
}

static void report(struct wset_store *chain, unsigned int tiers)
{
	for (unsigned int t = 0; t < tiers; t++) {
		struct wset_tier_stats s;

		if (wset_chain_tier_stats(chain, t, &s) < 0)
			continue;
		tap_diag("{\"tier\":\"%s\",\"pages\":%llu,\"page_bytes\":%llu,"
			 "\"stored_bytes\":%llu,\"ratio\":%.2f,\"refused\":%llu,"
			 "\"moved_down\":%llu,\"put_p50_us_below\":%llu,"
			 "\"get_p50_us_below\":%llu,\"get_p99_us_below\":%llu}",
			 s.name, (unsigned long long)s.pages,
			 (unsigned long long)s.page_bytes,
			 (unsigned long long)s.stored_bytes,
			 s.stored_bytes ? (double)s.page_bytes / s.stored_bytes : 0.0,
			 (unsigned long long)s.refused, (unsigned long long)s.moved_down,
			 (unsigned long long)percentile(s.put_latency, 0.5),
			 (unsigned long long)percentile(s.get_latency, 0.5),
			 (unsigned long long)percentile(s.get_latency, 0.99));
	}
}

int main(int argc, char **argv)
{
	struct wset_compressed_config config = WSET_COMPRESSED_CONFIG_INIT;
	struct wset_store *tiers[2], *chain;
	struct wset_tier_stats compressed, file;
	static uint64_t sums[PAGES];
	static uint8_t page[PAGE], back[PAGE];
	size_t bad = 0, failed = 0;
	int ret;

	if (argc != 2 || (strcmp(argv[1], "lz4") && strcmp(argv[1], "zstd")))
		tap_bail("usage: tiers lz4|zstd");
	config.compression = strcmp(argv[1], "zstd") == 0 ? WSET_COMPRESSION_ZSTD
							  : WSET_COMPRESSION_LZ4;
	config.capacity_bytes = CAPACITY;
	tap_plan(12);
	ret = wset_compressed_store_open(&config, &tiers[0]);
	if (ret < 0)
		tap_bail("compressed store: %s", strerror(-ret));
	ret = wset_file_store_open(getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp", &tiers[1]);
	if (ret < 0)
		tap_bail("file store: %s", strerror(-ret));
	ret = wset_chain_open(tiers, 2, &chain);
	if (ret < 0)
		tap_bail("chain: %s", strerror(-ret));

	/* Zero pages alone: a flag each, no bytes. */
	for (size_t i = 0; i < PAGES; i += 4) {
		fill(page, i, 1);
		failed += chain->ops->put(chain->priv, (uint64_t)i * PAGE, page, PAGE) != 0;
	}
	wset_chain_tier_stats(chain, 0, &compressed);
	tap_ok(failed == 0 && compressed.pages == PAGES / 4 && compressed.stored_bytes == 0,
	       "%llu zero pages kept in %llu bytes", (unsigned long long)compressed.pages,
	       (unsigned long long)compressed.stored_bytes);

	for (size_t i = 0; i < PAGES; i++) {
		fill(page, i, 1);
		sums[i] = test_hash(page, PAGE);
		if (content_of(i) != ZERO)
			failed += chain->ops->put(chain->priv, (uint64_t)i * PAGE, page, PAGE) != 0;
	}
	tap_ok(failed == 0, "every put succeeds (%zu failed)", failed);
	wset_chain_tier_stats(chain, 0, &compressed);
	wset_chain_tier_stats(chain, 1, &file);
	tap_ok(compressed.refused == PAGES / 4, "every incompressible page goes "
	       "straight down: %llu refused", (unsigned long long)compressed.refused);
	tap_ok(compressed.stored_bytes <= CAPACITY, "the compressed tier is within "
	       "its capacity: %llu <= %d bytes", (unsigned long long)compressed.stored_bytes,
	       CAPACITY);
	tap_ok(compressed.moved_down > 0 && compressed.pages + file.pages == PAGES,
	       "the oldest pages moved down: %llu moved, %llu + %llu pages",
	       (unsigned long long)compressed.moved_down,
	       (unsigned long long)compressed.pages, (unsigned long long)file.pages);
	tap_ok(compressed.stored_bytes &&
	       (double)compressed.page_bytes / compressed.stored_bytes > 4.0,
	       "text pages compress better than 4:1 (%llu in %llu bytes)",
	       (unsigned long long)compressed.page_bytes,
	       (unsigned long long)compressed.stored_bytes);

	/* Oldest first: the zero pages, put first, all left before any of
	 * the text pages. */
	tap_ok(compressed.moved_down >= PAGES / 4 &&
	       compressed.stored_bytes >= compressed.pages * 16,
	       "the zero pages, the oldest, moved first (%llu moved, %llu pages "
	       "left in %llu bytes)", (unsigned long long)compressed.moved_down,
	       (unsigned long long)compressed.pages,
	       (unsigned long long)compressed.stored_bytes);

	for (size_t i = 0; i < PAGES; i++) {
		ret = chain->ops->get(chain->priv, (uint64_t)i * PAGE, back, PAGE);
		bad += ret != 0 || test_hash(back, PAGE) != sums[i];
	}
	tap_ok(bad == 0, "every page comes back intact from its tier (%zu bad)", bad);
	report(chain, 2);

	/* Overwrite a page that moved down: the new copy is what comes back. */
	fill(page, 2, 2);
	sums[2] = test_hash(page, PAGE);
	ret = chain->ops->put(chain->priv, 2 * PAGE, page, PAGE);
	ret = ret ?: chain->ops->get(chain->priv, 2 * PAGE, back, PAGE);
	tap_ok(ret == 0 && test_hash(back, PAGE) == sums[2], "an overwritten page "
	       "comes back new (%d)", ret);

	for (size_t i = 0; i < PAGES; i++)
		chain->ops->drop(chain->priv, (uint64_t)i * PAGE, PAGE);
	wset_chain_tier_stats(chain, 0, &compressed);
	wset_chain_tier_stats(chain, 1, &file);
	tap_ok(compressed.pages == 0 && file.pages == 0 && compressed.stored_bytes == 0,
	       "dropping every page empties both tiers");
	ret = chain->ops->get(chain->priv, 0, back, PAGE);
	tap_ok(ret == -ENOENT, "a dropped page is gone: %d", ret);
	struct wset_tier_stats none;
	tap_ok(wset_chain_tier_stats(chain, 2, &none) == -ENOENT, "no third tier");
	wset_store_close(chain);
	return tap_done();
}
