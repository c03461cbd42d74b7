/* SPDX-License-Identifier: MIT */
/* One end of the helper protocol: see channel.h. */
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "channel.h"

struct queued {
	struct wset_helper_message message;
	int fd;
	struct queued *next;
};

struct waiter {
	uint64_t id;
	bool done;
	int64_t result;
	struct waiter *next;
};

struct wset_channel {
	int fd;
	uint16_t version;
	wset_channel_handler handler;
	void (*on_close)(void *arg);
	void *arg;

	pthread_mutex_t send_lock; /* one message at a time on the socket */
	pthread_mutex_t lock;	   /* everything below */
	pthread_cond_t changed;	   /* a reply, a request or the end arrived */
	uint64_t next_id;
	struct waiter *waiters;
	struct queued *queue, **queue_tail;
	bool gone;    /* the peer went away or we are closing */
	bool closing; /* __wset_channel_shutdown() was called */
	bool joined;  /* and has stopped the threads */
	bool refusing; /* hanging up: requests are no longer carried out */
	bool busy;     /* the worker is carrying one out */
	pthread_t reader, worker;
};

static int send_message(struct wset_channel *channel,
			const struct wset_helper_message *message, int fd)
{
	union {
		struct cmsghdr align;
		char bytes[CMSG_SPACE(sizeof(int))];
	} control;
	const char *data = (const char *)message;
	size_t left = sizeof(*message);
	int ret = 0;

	pthread_mutex_lock(&channel->send_lock);
	while (left) {
		struct iovec vector = { (void *)data, left };
		struct msghdr header = { .msg_iov = &vector, .msg_iovlen = 1 };
		ssize_t sent;

		if (fd >= 0) {
			memset(&control, 0, sizeof(control));
			header.msg_control = control.bytes;
			header.msg_controllen = sizeof(control.bytes);
			struct cmsghdr *cmsg = CMSG_FIRSTHDR(&header);
			cmsg->cmsg_level = SOL_SOCKET;
			cmsg->cmsg_type = SCM_RIGHTS;
			cmsg->cmsg_len = CMSG_LEN(sizeof(int));
			memcpy(CMSG_DATA(cmsg), &fd, sizeof(int));
		}
		sent = sendmsg(channel->fd, &header, MSG_NOSIGNAL);
		if (sent < 0) {
			struct pollfd wait = { .fd = channel->fd, .events = POLLOUT };

			if (errno == EINTR)
				continue;
			if (errno == EAGAIN && poll(&wait, 1, 1000) >= 0)
				continue;
			ret = -errno;
			break;
		}
		fd = -1; /* the fd went with the first byte */
		data += sent;
		left -= (size_t)sent;
	}
	pthread_mutex_unlock(&channel->send_lock);
	return ret;
}

/* One whole message, and the fd that came with it (or -1).  0 on success,
 * -1 when the peer is gone or sent something we cannot read. */
static int receive_message(struct wset_channel *channel,
			   struct wset_helper_message *message, int *fd)
{
	char *data = (char *)message;
	size_t got = 0;

	*fd = -1;
	while (got < sizeof(*message)) {
		union {
			struct cmsghdr align;
			char bytes[CMSG_SPACE(sizeof(int) * 4)];
		} control;
		struct iovec vector = { data + got, sizeof(*message) - got };
		struct msghdr header = {
			.msg_iov = &vector, .msg_iovlen = 1,
			.msg_control = control.bytes,
			.msg_controllen = sizeof(control.bytes),
		};
		struct pollfd wait = { .fd = channel->fd, .events = POLLIN };
		ssize_t received = recvmsg(channel->fd, &header, MSG_CMSG_CLOEXEC);

		if (received < 0 && (errno == EAGAIN || errno == EINTR)) {
			poll(&wait, 1, -1);
			continue;
		}
		if (received <= 0)
			goto fail;
		for (struct cmsghdr *cmsg = CMSG_FIRSTHDR(&header); cmsg;
		     cmsg = CMSG_NXTHDR(&header, cmsg)) {
			if (cmsg->cmsg_level != SOL_SOCKET ||
			    cmsg->cmsg_type != SCM_RIGHTS)
				continue;
			int count = (int)((cmsg->cmsg_len - CMSG_LEN(0)) / sizeof(int));
			int *fds = (int *)CMSG_DATA(cmsg);

			for (int i = 0; i < count; i++) {
				if (*fd < 0)
					*fd = fds[i];
				else
					close(fds[i]); /* one fd per message */
			}
		}
		got += (size_t)received;
	}
	if (message->size != sizeof(*message) ||
	    message->version != channel->version)
		goto fail;
	return 0;
fail:
	if (*fd >= 0)
		close(*fd);
	*fd = -1;
	return -1;
}

static void *reader_main(void *arg)
{
	struct wset_channel *channel = arg;
	struct wset_helper_message message;
	int fd;

	while (receive_message(channel, &message, &fd) == 0) {
		pthread_mutex_lock(&channel->lock);
		if (message.type == WSET_HELPER_REPLY) {
			for (struct waiter *w = channel->waiters; w; w = w->next) {
				if (w->id == message.id) {
					w->done = true;
					w->result = message.result;
				}
			}
			if (fd >= 0)
				close(fd);
		} else {
			struct queued *item = malloc(sizeof(*item));

			if (item) {
				item->message = message;
				item->fd = fd;
				item->next = NULL;
				*channel->queue_tail = item;
				channel->queue_tail = &item->next;
			} else if (fd >= 0) {
				close(fd);
			}
		}
		pthread_cond_broadcast(&channel->changed);
		pthread_mutex_unlock(&channel->lock);
	}
	pthread_mutex_lock(&channel->lock);
	channel->gone = true;
	bool closing = channel->closing;
	pthread_cond_broadcast(&channel->changed);
	pthread_mutex_unlock(&channel->lock);
	if (!closing && channel->on_close)
		channel->on_close(channel->arg);
	return NULL;
}

static void *worker_main(void *arg)
{
	struct wset_channel *channel = arg;

	pthread_mutex_lock(&channel->lock);
	for (;;) {
		struct queued *item = channel->queue;

		if (!item) {
			if (channel->gone)
				break;
			pthread_cond_wait(&channel->changed, &channel->lock);
			continue;
		}
		channel->queue = item->next;
		if (!channel->queue)
			channel->queue_tail = &channel->queue;
		bool refused = channel->refusing;
		channel->busy = !refused;
		pthread_mutex_unlock(&channel->lock);

		struct wset_helper_message reply = item->message;

		/* A request we can no longer answer is not carried out: the
		 * peer takes it as not done. */
		if (channel->gone || refused) {
			if (item->fd >= 0)
				close(item->fd);
		} else {
			reply.result = channel->handler(channel->arg, &item->message,
							item->fd);
			reply.type = WSET_HELPER_REPLY;
			send_message(channel, &reply, -1);
		}
		free(item);
		pthread_mutex_lock(&channel->lock);
		channel->busy = false;
		pthread_cond_broadcast(&channel->changed);
	}
	pthread_mutex_unlock(&channel->lock);
	return NULL;
}

int __wset_channel_open(int socket_fd, uint16_t version,
			wset_channel_handler handler,
			void (*on_close)(void *arg), void *arg,
			struct wset_channel **out)
{
	struct wset_channel *channel = calloc(1, sizeof(*channel));
	sigset_t all, old;
	int ret;

	if (!channel)
		return -ENOMEM;
	channel->fd = socket_fd;
	channel->version = version;
	channel->handler = handler;
	channel->on_close = on_close;
	channel->arg = arg;
	channel->queue_tail = &channel->queue;
	pthread_mutex_init(&channel->send_lock, NULL);
	pthread_mutex_init(&channel->lock, NULL);
	pthread_cond_init(&channel->changed, NULL);
	/* Our threads take no signals: the process's own threads do. */
	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	ret = -pthread_create(&channel->reader, NULL, reader_main, channel);
	if (ret == 0) {
		ret = -pthread_create(&channel->worker, NULL, worker_main, channel);
		if (ret < 0) {
			shutdown(socket_fd, SHUT_RDWR);
			pthread_join(channel->reader, NULL);
		}
	}
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (ret < 0) {
		free(channel);
		return ret;
	}
	*out = channel;
	return 0;
}

static void deadline_in(struct timespec *deadline, int timeout_ms);

int64_t __wset_channel_call(struct wset_channel *channel, uint16_t type,
			    uint64_t addr, uint64_t len, uint64_t offset,
			    int fd, int timeout_ms)
{
	struct wset_helper_message message = {
		.version = channel->version,
		.type = type,
		.size = sizeof(message),
		.addr = addr,
		.len = len,
		.offset = offset,
	};
	struct waiter waiter = { 0 };
	struct timespec deadline;
	int64_t ret;

	deadline_in(&deadline, timeout_ms);
	pthread_mutex_lock(&channel->lock);
	if (channel->gone) {
		pthread_mutex_unlock(&channel->lock);
		return -EPIPE;
	}
	waiter.id = message.id = ++channel->next_id;
	waiter.next = channel->waiters;
	channel->waiters = &waiter;
	pthread_mutex_unlock(&channel->lock);

	ret = send_message(channel, &message, fd);

	pthread_mutex_lock(&channel->lock);
	while (ret == 0 && !waiter.done && !channel->gone) {
		if (timeout_ms < 0)
			pthread_cond_wait(&channel->changed, &channel->lock);
		else if (pthread_cond_timedwait(&channel->changed, &channel->lock,
						&deadline) == ETIMEDOUT)
			break;
	}
	if (ret == 0)
		ret = waiter.done ? waiter.result :
		      channel->gone ? -EPIPE : -ETIMEDOUT;
	for (struct waiter **link = &channel->waiters; *link; link = &(*link)->next) {
		if (*link == &waiter) {
			*link = waiter.next;
			break;
		}
	}
	pthread_mutex_unlock(&channel->lock);
	return ret;
}

static void deadline_in(struct timespec *deadline, int timeout_ms)
{
	clock_gettime(CLOCK_REALTIME, deadline);
	deadline->tv_sec += timeout_ms / 1000;
	deadline->tv_nsec += (long)(timeout_ms % 1000) * 1000000L;
	if (deadline->tv_nsec >= 1000000000L) {
		deadline->tv_sec++;
		deadline->tv_nsec -= 1000000000L;
	}
}

int __wset_channel_hang_up(struct wset_channel *channel, int timeout_ms)
{
	struct timespec deadline;
	bool gone;

	deadline_in(&deadline, timeout_ms);
	/* The request being carried out is answered; none after it is done,
	 * as no answer could reach the peer any more. */
	pthread_mutex_lock(&channel->lock);
	channel->refusing = true;
	while (channel->busy)
		pthread_cond_wait(&channel->changed, &channel->lock);
	pthread_mutex_unlock(&channel->lock);
	shutdown(channel->fd, SHUT_WR);
	pthread_mutex_lock(&channel->lock);
	while (!channel->gone)
		if (pthread_cond_timedwait(&channel->changed, &channel->lock,
					   &deadline) == ETIMEDOUT)
			break;
	gone = channel->gone;
	pthread_mutex_unlock(&channel->lock);
	return gone ? 0 : -ETIMEDOUT;
}

void __wset_channel_shutdown(struct wset_channel *channel)
{
	bool joined;

	pthread_mutex_lock(&channel->lock);
	channel->closing = true;
	joined = channel->joined;
	channel->joined = true;
	pthread_mutex_unlock(&channel->lock);
	if (joined)
		return;
	shutdown(channel->fd, SHUT_RDWR);
	pthread_join(channel->reader, NULL);
	pthread_join(channel->worker, NULL);
}

void __wset_channel_close(struct wset_channel *channel)
{
	if (!channel)
		return;
	__wset_channel_shutdown(channel);
	while (channel->queue) {
		struct queued *item = channel->queue;

		channel->queue = item->next;
		if (item->fd >= 0)
			close(item->fd);
		free(item);
	}
	pthread_cond_destroy(&channel->changed);
	pthread_mutex_destroy(&channel->lock);
	pthread_mutex_destroy(&channel->send_lock);
	free(channel);
}
