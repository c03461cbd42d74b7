/* SPDX-License-Identifier: MIT */
/*
 * The Redis tier through hiredis: one page per key, SET/GET/DEL, batches
 * pipelined.  A put never waits for Redis to come back: it fails and the
 * page stays where it was.  A get reconnects and retries a few times.
 */
#include <errno.h>
#include <hiredis/hiredis.h>
#include <inttypes.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "tier.h"

#define REDIS_KEY_MAX 96

struct redis_store {
	struct tier_store tier;
	struct wset_redis_config config;
	char *host, *unix_path, *user, *password, *vmm_name; /* our copies */
	pthread_mutex_t lock;	/* protects context and sizes */
	redisContext *context;	/* NULL while disconnected */
	struct key_map sizes;	/* key -> length + 1, for stored_bytes */
	uint64_t stored_bytes, put_count, get_count, error_count;
};

/*
 * hiredis writes to its socket with write(): a Redis gone away would raise
 * SIGPIPE in our caller.  While a thread holds the lock, SIGPIPE is
 * blocked for it, and one we caused is consumed before it is unblocked.
 */
struct pipe_guard {
	sigset_t old_mask;
	bool was_pending;
};

static void lock(struct redis_store *rs, struct pipe_guard *guard)
{
	sigset_t pipe_set, pending;

	sigemptyset(&pipe_set);
	sigaddset(&pipe_set, SIGPIPE);
	sigpending(&pending);
	guard->was_pending = sigismember(&pending, SIGPIPE);
	pthread_sigmask(SIG_BLOCK, &pipe_set, &guard->old_mask);
	pthread_mutex_lock(&rs->lock);
}

static void unlock(struct redis_store *rs, struct pipe_guard *guard)
{
	const struct timespec none = { 0 };
	sigset_t pipe_set, pending;

	pthread_mutex_unlock(&rs->lock);
	sigemptyset(&pipe_set);
	sigaddset(&pipe_set, SIGPIPE);
	sigpending(&pending);
	if (!guard->was_pending && sigismember(&pending, SIGPIPE))
		while (sigtimedwait(&pipe_set, NULL, &none) < 0 && errno == EINTR)
			;
	pthread_sigmask(SIG_SETMASK, &guard->old_mask, NULL);
}

static void key_name(const struct redis_store *rs, uint64_t key, char *name)
{
	snprintf(name, REDIS_KEY_MAX, "wset:%s:%" PRIx64, rs->vmm_name, key);
}

static void disconnect(struct redis_store *rs)
{
	if (rs->context)
		redisFree(rs->context);
	rs->context = NULL;
}

/* A context that answers, authenticated; with the lock held. */
static int connect_locked(struct redis_store *rs)
{
	struct timeval timeout = {
		.tv_sec = rs->config.timeout_ms / 1000,
		.tv_usec = (rs->config.timeout_ms % 1000) * 1000,
	};
	redisReply *reply;
	redisContext *c;

	if (rs->context)
		return 0;
	c = rs->host ? redisConnectWithTimeout(rs->host, (int)rs->config.port, timeout)
		     : redisConnectUnixWithTimeout(rs->unix_path, timeout);
	if (!c)
		return -ENOMEM;
	if (c->err || redisSetTimeout(c, timeout) != REDIS_OK) {
		redisFree(c);
		return -ECONNREFUSED;
	}
	if (rs->password) {
		reply = rs->user ? redisCommand(c, "AUTH %s %s", rs->user, rs->password)
				 : redisCommand(c, "AUTH %s", rs->password);
		if (!reply || reply->type == REDIS_REPLY_ERROR) {
			if (reply)
				freeReplyObject(reply);
			redisFree(c);
			return -EACCES;
		}
		freeReplyObject(reply);
	}
	rs->context = c;
	return 0;
}

/* What a reply (or its absence) means; drops the connection on I/O errors. */
static int reply_result(struct redis_store *rs, redisReply *reply)
{
	if (!reply) {
		/* Timeout or connection lost: the context is unusable. */
		disconnect(rs);
		return -EIO;
	}
	if (reply->type == REDIS_REPLY_ERROR)
		return strncmp(reply->str, "OOM", 3) == 0 ? -ENOSPC : -EIO;
	return 0;
}

static void note_size(struct redis_store *rs, uint64_t key, size_t len)
{
	uintptr_t old = (uintptr_t)(len ? __wset_map_get(&rs->sizes, key)
					: __wset_map_remove(&rs->sizes, key));

	if (len && __wset_map_set(&rs->sizes, key, (void *)(uintptr_t)(len + 1)) < 0)
		return; /* only the byte count suffers */
	if (old)
		rs->stored_bytes -= old - 1;
	rs->stored_bytes += len;
}

/* Pipeline count SETs; each request gets its own result.  Requests come
 * from the chain and the library with one iovec each. */
static int redis_put_batch(void *priv, struct wset_store_io *io, unsigned int count)
{
	struct redis_store *rs = priv;
	struct pipe_guard guard;
	unsigned int sent = 0;
	int ret;

	lock(rs, &guard);
	ret = connect_locked(rs);
	for (unsigned int i = 0; i < count; i++) {
		char name[REDIS_KEY_MAX];

		io[i].result = ret;
		if (ret < 0)
			continue;
		key_name(rs, io[i].key, name);
		if (io[i].iovcnt != 1)
			io[i].result = -EINVAL;
		else if (redisAppendCommand(rs->context, "SET %s %b", name,
					    io[i].iov[0].iov_base,
					    io[i].iov[0].iov_len) != REDIS_OK)
			io[i].result = -ENOMEM;
		else
			sent = i + 1;
	}
	for (unsigned int i = 0; i < sent; i++) {
		redisReply *reply = NULL;

		if (io[i].result < 0)
			continue; /* never sent */
		if (!rs->context ||
		    redisGetReply(rs->context, (void **)&reply) != REDIS_OK)
			reply = NULL;
		io[i].result = reply_result(rs, reply);
		if (reply)
			freeReplyObject(reply);
		if (io[i].result == 0) {
			note_size(rs, io[i].key, io[i].iov[0].iov_len);
			tier_count(&rs->put_count, 1);
		}
	}
	unlock(rs, &guard);
	for (unsigned int i = 0; i < count; i++)
		if (io[i].result < 0)
			tier_count(&rs->error_count, 1);
	return 0;
}

static int redis_put(void *priv, uint64_t key, const void *data, size_t len)
{
	const struct iovec iov = { (void *)data, len };
	struct wset_store_io io = { .key = key, .iov = &iov, .iovcnt = 1 };

	redis_put_batch(priv, &io, 1);
	return io.result;
}

/* One pipelined round of GETs for the requests not yet answered (result
 * -EAGAIN); with the lock held. */
static void get_round(struct redis_store *rs, struct wset_store_io *io,
		      unsigned int count)
{
	unsigned int sent = 0;
	int ret = connect_locked(rs);

	for (unsigned int i = 0; ret == 0 && i < count; i++) {
		char name[REDIS_KEY_MAX];

		if (io[i].result != -EAGAIN)
			continue;
		key_name(rs, io[i].key, name);
		if (redisAppendCommand(rs->context, "GET %s", name) != REDIS_OK)
			break;
		sent = i + 1;
	}
	for (unsigned int i = 0; i < sent; i++) {
		redisReply *reply = NULL;
		int result;

		if (io[i].result != -EAGAIN)
			continue;
		if (!rs->context || redisGetReply(rs->context, (void **)&reply) != REDIS_OK)
			reply = NULL;
		result = reply_result(rs, reply);
		if (result == 0 && reply->type == REDIS_REPLY_NIL)
			result = -ENOENT;
		else if (result == 0 && (io[i].iovcnt != 1 || reply->type != REDIS_REPLY_STRING ||
					 (size_t)reply->len != io[i].iov[0].iov_len))
			result = -EIO;
		else if (result == 0)
			memcpy(io[i].iov[0].iov_base, reply->str, (size_t)reply->len);
		/* A broken connection: this and the rest go again next round. */
		io[i].result = result == -EIO && !rs->context ? -EAGAIN : result;
		if (reply)
			freeReplyObject(reply);
	}
}

/* Pipelined GETs, with the same reconnect and retries as a single get. */
static int redis_get_batch(void *priv, struct wset_store_io *io, unsigned int count)
{
	struct redis_store *rs = priv;
	struct pipe_guard guard;

	for (unsigned int i = 0; i < count; i++)
		io[i].result = -EAGAIN;
	for (unsigned int attempt = 0; attempt < rs->config.get_retries; attempt++) {
		bool waiting = false;

		if (attempt)
			usleep(10000u * attempt);
		lock(rs, &guard);
		get_round(rs, io, count);
		unlock(rs, &guard);
		for (unsigned int i = 0; i < count; i++)
			waiting |= io[i].result == -EAGAIN;
		if (!waiting)
			break;
	}
	for (unsigned int i = 0; i < count; i++) {
		if (io[i].result == -EAGAIN)
			io[i].result = -EIO;
		tier_count(io[i].result == 0 ? &rs->get_count : &rs->error_count, 1);
	}
	return 0;
}

static int redis_get(void *priv, uint64_t key, void *buf, size_t len)
{
	const struct iovec iov = { buf, len };
	struct wset_store_io io = { .key = key, .iov = &iov, .iovcnt = 1 };

	redis_get_batch(priv, &io, 1);
	return io.result;
}

static int redis_drop(void *priv, uint64_t key, size_t len)
{
	struct redis_store *rs = priv;
	char name[REDIS_KEY_MAX];
	struct pipe_guard guard;
	redisReply *reply;
	int ret;

	lock(rs, &guard);
	ret = connect_locked(rs);
	if (ret == 0) {
		key_name(rs, key, name);
		reply = redisCommand(rs->context, "DEL %s", name);
		ret = reply_result(rs, reply);
		if (reply)
			freeReplyObject(reply);
	}
	if (ret == 0)
		note_size(rs, key, 0);
	unlock(rs, &guard);
	(void)len; /* the chain drops page by page */
	if (ret < 0)
		tier_count(&rs->error_count, 1);
	return ret;
}

/* Every key of this VMM, by SCAN: its store key and length.  Called by a
 * restarted agent, before any other call. */
static int redis_each(void *priv, int (*fn)(void *arg, uint64_t key, size_t len),
		      void *arg)
{
	struct redis_store *rs = priv;
	char pattern[REDIS_KEY_MAX + 2], cursor[32] = "0";
	size_t prefix = strlen("wset::") + strlen(rs->vmm_name);
	struct pipe_guard guard;
	int ret;

	snprintf(pattern, sizeof(pattern), "wset:%s:*", rs->vmm_name);
	lock(rs, &guard);
	ret = connect_locked(rs);
	do {
		redisReply *reply = ret ? NULL :
			redisCommand(rs->context, "SCAN %s MATCH %s COUNT 1000", cursor,
				     pattern);

		ret = ret ?: reply_result(rs, reply);
		if (ret == 0 && (reply->type != REDIS_REPLY_ARRAY || reply->elements != 2))
			ret = -EIO;
		for (size_t i = 0; ret == 0 && i < reply->element[1]->elements; i++) {
			const char *name = reply->element[1]->element[i]->str;
			redisReply *length = redisCommand(rs->context, "STRLEN %s", name);
			char *end;
			uint64_t key = strtoull(name + prefix, &end, 16);

			ret = reply_result(rs, length);
			if (ret == 0 && (*end || length->type != REDIS_REPLY_INTEGER))
				ret = -EIO;
			if (ret == 0) {
				note_size(rs, key, (size_t)length->integer);
				ret = fn(arg, key, (size_t)length->integer);
			}
			if (length)
				freeReplyObject(length);
		}
		if (ret == 0)
			snprintf(cursor, sizeof(cursor), "%s", reply->element[0]->str);
		if (reply)
			freeReplyObject(reply);
	} while (ret == 0 && strcmp(cursor, "0") != 0);
	unlock(rs, &guard);
	return ret;
}

static int redis_stats(void *priv, struct wset_store_stats *stats)
{
	struct redis_store *rs = priv;

	pthread_mutex_lock(&rs->lock);
	stats->stored_bytes = rs->stored_bytes;
	pthread_mutex_unlock(&rs->lock);
	stats->capacity_bytes = rs->config.capacity_bytes;
	stats->put_count = tier_load(&rs->put_count);
	stats->get_count = tier_load(&rs->get_count);
	stats->error_count = tier_load(&rs->error_count);
	return 0;
}

static void redis_close(void *priv)
{
	struct redis_store *rs = priv;

	disconnect(rs);
	__wset_map_free(&rs->sizes, NULL);
	pthread_mutex_destroy(&rs->lock);
	free(rs->host);
	free(rs->unix_path);
	free(rs->user);
	free(rs->password);
	free(rs->vmm_name);
	free(rs);
}

const struct wset_store_ops __wset_redis_ops = WSET_STORE_OPS_INIT(
	.put = redis_put,
	.get = redis_get,
	.drop = redis_drop,
	.stats = redis_stats,
	.close = redis_close,
	.each = redis_each,
	.put_batch = redis_put_batch,
	.get_batch = redis_get_batch,
);

static const struct tier_kind redis_kind = { .name = "redis" };

static bool valid_vmm_name(const char *name)
{
	size_t length = name ? strlen(name) : 0;

	if (length == 0 || length > 64)
		return false;
	for (; *name; name++)
		if (!strchr("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
			    "0123456789._-", *name))
			return false;
	return true;
}

static char *copy(const char *text, bool *failed)
{
	char *result = text ? strdup(text) : NULL;

	if (text && !result)
		*failed = true;
	return result;
}

int wset_redis_store_open(const struct wset_redis_config *config,
			  struct wset_store **out)
{
	struct pipe_guard guard;
	struct redis_store *rs;
	bool failed = false;
	int ret;

	if (!config || !out || !valid_vmm_name(config->vmm_name) ||
	    (!config->host && !config->unix_path) || config->port > 65535 ||
	    (config->user && !config->password))
		return -EINVAL;
	rs = calloc(1, sizeof(*rs));
	if (!rs)
		return -ENOMEM;
	rs->config = *config;
	if (!rs->config.port)
		rs->config.port = 6379;
	if (!rs->config.timeout_ms)
		rs->config.timeout_ms = 1000;
	if (!rs->config.get_retries)
		rs->config.get_retries = 5;
	rs->host = copy(config->host, &failed);
	rs->unix_path = copy(config->unix_path, &failed);
	rs->user = copy(config->user, &failed);
	rs->password = copy(config->password, &failed);
	rs->vmm_name = copy(config->vmm_name, &failed);
	pthread_mutex_init(&rs->lock, NULL);
	rs->tier.store.ops = &__wset_redis_ops;
	rs->tier.store.priv = rs;
	rs->tier.kind = &redis_kind;
	if (failed) {
		redis_close(rs);
		return -ENOMEM;
	}
	/* Say at once when Redis is not there or refuses the credentials. */
	lock(rs, &guard);
	ret = connect_locked(rs);
	unlock(rs, &guard);
	if (ret < 0) {
		redis_close(rs);
		return ret;
	}
	*out = &rs->tier.store;
	return 0;
}
