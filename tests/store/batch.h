/* SPDX-License-Identifier: MIT */
/*
 * Whole-store batches for the store tests: count pages of 4 KiB at keys
 * 0, 4096, ..., put and got back with one put_batch and one get_batch.
 */
#ifndef WSET_TESTS_STORE_BATCH_H
#define WSET_TESTS_STORE_BATCH_H

#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/uio.h>

#include "wset.h"

#define BATCH_PAGE 4096

/* Each page's words from generation, its index and salt. */
static inline void batch_fill(uint8_t (*pages)[BATCH_PAGE], size_t count,
			      uint64_t generation, uint64_t salt)
{
	for (size_t i = 0; i < count; i++)
		for (size_t off = 0; off < BATCH_PAGE; off += 8)
			*(uint64_t *)&pages[i][off] = (generation << 48) ^ (i << 20) ^ off ^ salt;
}

/* The requests of a batch over count buffers, one iovec each. */
static inline struct wset_store_io *batch_requests(uint8_t (*buffers)[BATCH_PAGE],
						   size_t count, struct iovec **iov)
{
	struct wset_store_io *io = calloc(count, sizeof(*io));

	*iov = calloc(count, sizeof(**iov));
	if (!io || !*iov)
		abort();
	for (size_t i = 0; i < count; i++) {
		(*iov)[i] = (struct iovec){ buffers[i], BATCH_PAGE };
		io[i] = (struct wset_store_io){ .key = i * BATCH_PAGE, .iov = &(*iov)[i],
						.iovcnt = 1 };
	}
	return io;
}

/* Put every page in one batch: how many failed. */
static inline unsigned int batch_put_all(struct wset_store *store,
					 uint8_t (*pages)[BATCH_PAGE], size_t count)
{
	struct iovec *iov;
	struct wset_store_io *io = batch_requests(pages, count, &iov);
	unsigned int failed = 0;

	store->ops->put_batch(store->priv, io, (unsigned int)count);
	for (size_t i = 0; i < count; i++)
		failed += io[i].result != 0;
	free(io);
	free(iov);
	return failed;
}

/* Get every page in one batch: how many failed, and how many came back
 * with other bytes than were put (never acceptable). */
static inline void batch_get_all(struct wset_store *store,
				 uint8_t (*pages)[BATCH_PAGE], size_t count,
				 unsigned int *failed, unsigned int *wrong)
{
	uint8_t (*back)[BATCH_PAGE] = calloc(count, BATCH_PAGE);
	struct iovec *iov;
	struct wset_store_io *io;

	if (!back)
		abort();
	io = batch_requests(back, count, &iov);
	*failed = *wrong = 0;
	store->ops->get_batch(store->priv, io, (unsigned int)count);
	for (size_t i = 0; i < count; i++) {
		if (io[i].result != 0)
			(*failed)++;
		else if (memcmp(back[i], pages[i], BATCH_PAGE))
			(*wrong)++;
	}
	free(io);
	free(iov);
	free(back);
}

#endif /* WSET_TESTS_STORE_BATCH_H */
