/* SPDX-License-Identifier: MIT */
/*
 * Two wsets on two mappings of one memfd, the second a member of the
 * first's group (wset_share_memory(), what wsetd does for a vhost-user
 * backend): pages the leader evicted read back through the member's
 * mapping, and a thread writing through the member's mapping while the
 * leader evicts again loses no write.
 * usage: share_memory MECHANISM   (rwp|wp|auto)
 */
#include <pthread.h>

#include "testlib.h"

#define PAGES 512

static uint8_t *member_view;
static uint64_t last_written[PAGES]; /* by the writer, per page */
static size_t lost_writes;	      /* found gone by the writer */
static volatile bool stop_writing;

static uint64_t *word(uint8_t *view, size_t page)
{
	return (uint64_t *)(view + page * 4096);
}

/* The backend: keeps writing through its own mapping, each time checking
 * that its previous write is still there (a write lost while the page was
 * evicted would be overwritten by the next one otherwise). */
static void *writer(void *arg)
{
	(void)arg;
	for (uint64_t round = 1; !stop_writing; round++)
		for (size_t page = 0; page < PAGES; page += 3) {
			if (round > 1 && *word(member_view, page) != last_written[page])
				lost_writes++;
			*word(member_view, page) = round << 16 | page;
			last_written[page] = round << 16 | page;
		}
	return NULL;
}

int main(int argc, char **argv)
{
	struct wset_config config = WSET_CONFIG_INIT;
	struct wset_counters counters = WSET_COUNTERS_INIT;
	size_t len = PAGES * 4096;
	uint64_t evicted = 0, total = 0;
	struct wset *leader, *member;
	pthread_t thread;
	char why[256];
	uint8_t *view;
	size_t wrong = 0, lost = 0;
	int fd, ret;

	config.mechanism = test_mechanism(argc, argv);
	test_require(config.mechanism);
	view = test_memory(MEMORY_MEMFD, len, &fd, why, sizeof(why));
	if (!view)
		tap_skip_all("memfd memory: %s", why);
	member_view = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	if (member_view == MAP_FAILED)
		tap_skip_all("second mapping: %s", strerror(errno));
	leader = test_create(&config);
	member = test_create(&config);
	tap_plan(8);

	tap_ok(wset_share_memory(leader, leader) == -EINVAL, "a wset cannot join itself");
	ret = wset_share_memory(leader, member);
	tap_ok(ret == 0, "the member joins the leader's group: %d", ret);
	tap_ok(wset_share_memory(leader, member) == -EINVAL, "and only once");
	ret = test_add(leader, MEMORY_MEMFD, view, len, fd);
	if (ret >= 0)
		ret = test_add(member, MEMORY_MEMFD, member_view, len, fd);
	tap_ok(ret >= 0, "both mappings added: %d", ret);

	for (size_t page = 0; page < PAGES; page++)
		*word(view, page) = page * 7919;
	for (int t = 0; t < 3; t++)
		wset_tick(leader);
	ret = wset_evict(leader, 2, 0, &evicted);
	tap_ok(ret == 0 && evicted == len, "the leader evicts every page: %d, %llu bytes",
	       ret, (unsigned long long)evicted);
	for (size_t page = 0; page < PAGES; page++)
		wrong += *word(member_view, page) != page * 7919;
	wset_counters(member, &counters);
	tap_ok(wrong == 0 && counters.refaults == PAGES,
	       "the member reads every evicted page back (%zu wrong, %llu served "
	       "from the leader's store)", wrong, (unsigned long long)counters.refaults);

	/* The leader evicts again and again while the member writes: the
	 * leader's reads map the pages in its view (cold under wp, which sees
	 * writes only; under rwp they age out over the ticks). */
	pthread_create(&thread, NULL, writer, NULL);
	for (int pass = 0; pass < 20; pass++) {
		uint64_t sum = 0;

		for (size_t page = 0; page < PAGES; page++)
			sum += *(volatile uint64_t *)word(view, page);
		(void)sum;
		for (int t = 0; t < 3; t++)
			wset_tick(leader);
		if (wset_evict(leader, 2, 0, &evicted) == 0)
			total += evicted;
	}
	stop_writing = true;
	pthread_join(thread, NULL);
	for (size_t page = 0; page < PAGES; page += 3)
		lost += *word(view, page) != last_written[page] ||
			*word(member_view, page) != last_written[page];
	tap_ok(total > 0, "evicted %llu bytes while the member wrote",
	       (unsigned long long)total);
	tap_ok(lost == 0 && lost_writes == 0,
	       "no write of the member is lost (%zu found gone meanwhile, %zu pages "
	       "differ at the end)", lost_writes, lost);

	wset_destroy(member);
	wset_destroy(leader);
	return tap_done();
}
