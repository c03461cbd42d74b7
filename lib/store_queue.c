/* SPDX-License-Identifier: MIT */
/*
 * Store requests with completions.  Eviction hands a store its pages as
 * requests and waits for their group to complete: a store with a submit
 * callback runs them its own way, several in flight together; any other
 * store gets each request at once, on the submitting thread, through
 * put_batch/get_batch or page by page, in order.  (Run beside the evictor,
 * requests changed the order in which a named store's pages and journal
 * records take space: on a full file system the journal ran out first.)
 */
#include <errno.h>

#include "internal.h"

void __wset_io_group_init(struct wset_io_group *group)
{
	pthread_mutex_init(&group->lock, NULL);
	pthread_cond_init(&group->done, NULL);
	group->outstanding = 0;
}

/* The store's done callback: the caller's completion, then the count. */
static void io_done(struct wset_store_request *req)
{
	struct wset_io *io = req->arg;
	struct wset_io_group *group = io->group;

	if (io->complete)
		io->complete(io);
	pthread_mutex_lock(&group->lock);
	group->outstanding--;
	pthread_cond_broadcast(&group->done);
	pthread_mutex_unlock(&group->lock);
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
	const struct wset_store_ops *ops = ws->store->ops;
	int ret;

	io->ws = ws;
	io->req.arg = io;
	io->req.done = io_done;
	pthread_mutex_lock(&io->group->lock);
	io->group->outstanding++;
	pthread_mutex_unlock(&io->group->lock);
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

/* Every request of the group has completed. */
void __wset_io_drain(struct wset_io_group *group)
{
	pthread_mutex_lock(&group->lock);
	while (group->outstanding)
		pthread_cond_wait(&group->done, &group->lock);
	pthread_mutex_unlock(&group->lock);
}

/* Drained, and the group can go. */
void __wset_io_wait(struct wset_io_group *group)
{
	__wset_io_drain(group);
	pthread_cond_destroy(&group->done);
	pthread_mutex_destroy(&group->lock);
}
