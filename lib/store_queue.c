/* SPDX-License-Identifier: MIT */
/*
 * Store requests with completions.  Eviction hands a store its pages as
 * requests and waits for their completions: a store with a submit
 * callback runs them its own way, several in flight together; any other
 * store gets each request at once, on the submitting thread, through
 * put_batch/get_batch or page by page, in order.  (An I/O thread of the
 * library's running them beside the evictor changed the order in which a
 * named store's pages and journal records take space: on a full file
 * system the journal, not the pages, ran out first.)
 */
#include <errno.h>
#include <stdlib.h>

#include "internal.h"

struct wset_io_queue {
	pthread_mutex_t lock;
	pthread_cond_t done;	/* a request completed */
	uint64_t outstanding;	/* submitted, not completed */
};

int __wset_io_init(struct wset *ws)
{
	struct wset_io_queue *queue = calloc(1, sizeof(*queue));

	if (!queue)
		return -ENOMEM;
	pthread_mutex_init(&queue->lock, NULL);
	pthread_cond_init(&queue->done, NULL);
	ws->io_queue = queue;
	return 0;
}

/* The store's done callback: the caller's completion, then the count. */
static void io_done(struct wset_store_request *req)
{
	struct wset_io *io = req->arg;
	struct wset_io_queue *queue = io->ws->io_queue;
	struct wset_io_group *group = io->group;

	if (io->complete)
		io->complete(io);
	/* io may be gone now: only group and queue from here on. */
	pthread_mutex_lock(&queue->lock);
	if (group)
		group->outstanding--;
	queue->outstanding--;
	pthread_cond_broadcast(&queue->done);
	pthread_mutex_unlock(&queue->lock);
}

static void fail_all(struct wset_store_request *req, int error)
{
	for (unsigned int i = 0; i < req->count; i++)
		req->io[i].result = error;
}

/* A request for a store without submit, on the submitting thread. */
static void run(struct wset_store *store, struct wset_store_request *req)
{
	const struct wset_store_ops *ops = store->ops;
	int (*batch)(void *, struct wset_store_io *, unsigned int) =
		req->write ? ops->put_batch : ops->get_batch;

	if (batch) {
		int ret = batch(store->priv, req->io, req->count);

		if (ret < 0)
			fail_all(req, ret);
	} else {
		for (unsigned int i = 0; i < req->count; i++) {
			struct wset_store_io *io = &req->io[i];

			/* The library asks with one iovec per request. */
			if (io->iovcnt != 1)
				io->result = -EINVAL;
			else if (req->write)
				io->result = ops->put(store->priv, io->key,
						      io->iov[0].iov_base,
						      io->iov[0].iov_len);
			else
				io->result = ops->get(store->priv, io->key,
						      io->iov[0].iov_base,
						      io->iov[0].iov_len);
		}
	}
	req->done(req);
}

void __wset_io_submit(struct wset *ws, struct wset_io *io)
{
	struct wset_io_queue *queue = ws->io_queue;
	const struct wset_store_ops *ops = ws->store->ops;
	int ret;

	io->ws = ws;
	io->req.arg = io;
	io->req.done = io_done;
	pthread_mutex_lock(&queue->lock);
	if (io->group)
		io->group->outstanding++;
	queue->outstanding++;
	pthread_mutex_unlock(&queue->lock);
	if (!ops->submit) {
		run(ws->store, &io->req);
		return;
	}
	ret = ops->submit(ws->store->priv, &io->req);
	if (ret < 0) {
		fail_all(&io->req, ret);
		io_done(&io->req);
	}
}

static void wait_for(struct wset *ws, const uint64_t *outstanding)
{
	struct wset_io_queue *queue = ws->io_queue;

	pthread_mutex_lock(&queue->lock);
	while (*outstanding)
		pthread_cond_wait(&queue->done, &queue->lock);
	pthread_mutex_unlock(&queue->lock);
}

void __wset_io_wait(struct wset *ws, struct wset_io_group *group)
{
	wait_for(ws, &group->outstanding);
}

/* Every request submitted so far, of any caller, has completed. */
void __wset_io_drain(struct wset *ws)
{
	if (ws->io_queue)
		wait_for(ws, &ws->io_queue->outstanding);
}

void __wset_io_free(struct wset *ws)
{
	struct wset_io_queue *queue = ws->io_queue;

	if (!queue)
		return;
	__wset_io_drain(ws);
	pthread_mutex_destroy(&queue->lock);
	pthread_cond_destroy(&queue->done);
	free(queue);
	ws->io_queue = NULL;
}
