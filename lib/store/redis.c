/* SPDX-License-Identifier: MIT */
/*
 * The Redis tier through hiredis: one page per key, SET/GET/DEL, batches
 * pipelined.  A put never waits for Redis to come back: it fails and the
 * page stays where it was.  A get reconnects and retries a few times.
 *
 * With cluster set, the pages are spread over a Redis Cluster: the slot
 * map comes from CLUSTER SLOTS on the configured node (then on any node
 * known), each key goes to the master of its slot (CRC16 of the key; our
 * keys have no hash tag), and a batch is one pipeline per node.  A MOVED
 * answer (slots moved by a resharding or a failover) marks the map stale:
 * it is loaded again and the request goes again, as a retry.  An ASK
 * answer (the slot is being migrated and this key is already on the
 * importing node) is followed at once and only for that request: ASKING,
 * then the command, to the node it names, once the pipelines of the round
 * are read; the map stays as it is, since the slot still belongs to the
 * node that answered.
 */
#include <errno.h>
#include <hiredis/hiredis.h>
#include <inttypes.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "redis_tls.h"
#include "tier.h"

#define REDIS_KEY_MAX 96
#define REDIS_SLOTS 16384
#define REDIS_NODES_MAX 32

/* A server: the only one, or a cluster master. */
struct redis_node {
	char host[64];		/* "" with unix_path (no cluster) */
	unsigned int port;
	redisContext *context;	/* NULL while disconnected */
	SSL *ssl;		/* with tls: the connection over context's socket */
};

struct redis_store {
	struct tier_store tier;
	struct wset_redis_config config;
	char *host, *unix_path, *user, *password, *vmm_name; /* our copies */
	char *tls_server_name;
	SSL_CTX *tls_context;	/* with tls, for every connection */
	pthread_mutex_t lock;	/* protects the nodes, the slot map and sizes */
	struct redis_node nodes[REDIS_NODES_MAX];
	unsigned int node_count; /* 1 without cluster */
	bool slots_stale;	 /* cluster: load the slot map before use */
	uint8_t slot_node[REDIS_SLOTS]; /* cluster: index into nodes */
	struct key_map sizes;	/* key -> length + 1, for stored_bytes */
	uint64_t stored_bytes;
	struct tier_counts counts;
	uint64_t redirect_count; /* ASK answers followed (tier_count()) */
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

static void disconnect(struct redis_node *node)
{
	if (node->ssl)
		SSL_free(node->ssl); /* no close_notify: the socket may be dead */
	if (node->context)
		redisFree(node->context);
	node->ssl = NULL;
	node->context = NULL;
}

/* The next reply on node's connection (sending what is pipelined first),
 * in the clear or through TLS. */
static int node_get_reply(struct redis_node *node, redisReply **reply)
{
	if (node->ssl)
		return __wset_redis_tls_get_reply(node->context, node->ssl, (void **)reply);
	return redisGetReply(node->context, (void **)reply);
}

/* redisCommand() on node's connection: the reply, NULL on I/O errors. */
static redisReply *node_command(struct redis_node *node, const char *format, ...)
{
	redisReply *reply = NULL;
	va_list args;
	int ret;

	va_start(args, format);
	ret = redisvAppendCommand(node->context, format, args);
	va_end(args);
	if (ret != REDIS_OK || node_get_reply(node, &reply) != REDIS_OK)
		return NULL;
	return reply;
}

/* A context to node that answers, authenticated; with the lock held. */
static int connect_node(struct redis_store *rs, struct redis_node *node)
{
	struct timeval timeout = {
		.tv_sec = rs->config.timeout_ms / 1000,
		.tv_usec = (rs->config.timeout_ms % 1000) * 1000,
	};
	redisReply *reply;
	redisContext *c;
	int ret;

	if (node->context)
		return 0;
	c = node->host[0] ? redisConnectWithTimeout(node->host, (int)node->port, timeout)
			  : redisConnectUnixWithTimeout(rs->unix_path, timeout);
	if (!c)
		return -ENOMEM;
	if (c->err || redisSetTimeout(c, timeout) != REDIS_OK) {
		redisFree(c);
		return -ECONNREFUSED;
	}
	node->context = c;
	if (rs->tls_context) {
		ret = __wset_redis_tls_connect(rs->tls_context, c,
					       rs->tls_server_name ?: node->host, &node->ssl);
		if (ret < 0) {
			disconnect(node);
			return ret;
		}
	}
	/* AUTH, or a PING: a server that does not speak our protocol (TLS
	 * expected, or none) is refused here, not at the first page.  One
	 * still loading its data set is there: its -LOADING answers to our
	 * commands are retried as any error is. */
	if (rs->password)
		reply = rs->user ? node_command(node, "AUTH %s %s", rs->user, rs->password)
				 : node_command(node, "AUTH %s", rs->password);
	else
		reply = node_command(node, "PING");
	ret = !reply ? -ECONNREFUSED : 0;
	if (reply && reply->type == REDIS_REPLY_ERROR && strncmp(reply->str, "LOADING", 7))
		ret = -EACCES;
	if (reply)
		freeReplyObject(reply);
	if (ret < 0)
		disconnect(node);
	return ret;
}

/* CRC16/XMODEM (polynomial 0x1021, initial value 0), as Redis Cluster
 * hashes keys to slots. */
static unsigned int key_slot(const char *name)
{
	uint16_t crc = 0;

	for (; *name; name++) {
		crc ^= (uint16_t)((uint8_t)*name << 8);
		for (int bit = 0; bit < 8; bit++)
			crc = crc & 0x8000 ? (uint16_t)(crc << 1 ^ 0x1021) : (uint16_t)(crc << 1);
	}
	return crc % REDIS_SLOTS;
}

/* The node for host:port, added (not connected) when new; NULL when the
 * table is full. */
static struct redis_node *node_named(struct redis_store *rs, const char *host,
				     unsigned int port)
{
	struct redis_node *node;

	for (unsigned int i = 0; i < rs->node_count; i++)
		if (rs->nodes[i].port == port && !strcmp(rs->nodes[i].host, host))
			return &rs->nodes[i];
	if (rs->node_count == REDIS_NODES_MAX)
		return NULL;
	node = &rs->nodes[rs->node_count++];
	snprintf(node->host, sizeof(node->host), "%s", host);
	node->port = port;
	node->context = NULL;
	return node;
}

/* Fill the slot map from one CLUSTER SLOTS reply: [first, last, [host,
 * port, ...], replicas...] per range.  Every slot must be served. */
static int parse_slots(struct redis_store *rs, const redisReply *reply,
		       const char *asked_host)
{
	uint8_t seen[REDIS_SLOTS / 8] = { 0 };
	unsigned int covered = 0;

	if (reply->type != REDIS_REPLY_ARRAY)
		return -EPROTO;
	for (size_t r = 0; r < reply->elements; r++) {
		const redisReply *range = reply->element[r], *master;
		struct redis_node *node;
		const char *host;

		if (range->type != REDIS_REPLY_ARRAY || range->elements < 3 ||
		    range->element[0]->type != REDIS_REPLY_INTEGER ||
		    range->element[1]->type != REDIS_REPLY_INTEGER ||
		    range->element[2]->type != REDIS_REPLY_ARRAY ||
		    range->element[2]->elements < 2)
			return -EPROTO;
		master = range->element[2];
		if (master->element[0]->type != REDIS_REPLY_STRING ||
		    master->element[1]->type != REDIS_REPLY_INTEGER ||
		    range->element[0]->integer < 0 ||
		    range->element[1]->integer >= REDIS_SLOTS ||
		    range->element[0]->integer > range->element[1]->integer)
			return -EPROTO;
		/* An empty host is the node that answered. */
		host = master->element[0]->len ? master->element[0]->str : asked_host;
		node = node_named(rs, host, (unsigned int)master->element[1]->integer);
		if (!node)
			return -ENOSPC;
		for (long long slot = range->element[0]->integer;
		     slot <= range->element[1]->integer; slot++) {
			covered += !(seen[slot / 8] & 1u << (slot % 8));
			seen[slot / 8] |= (uint8_t)(1u << (slot % 8));
			rs->slot_node[slot] = (uint8_t)(node - rs->nodes);
		}
	}
	return covered == REDIS_SLOTS ? 0 : -EAGAIN;
}

/* Load the slot map, asking the configured node first, then every node
 * known; with the lock held. */
static int load_slots(struct redis_store *rs)
{
	int ret = -ECONNREFUSED;

	for (unsigned int i = 0; i < rs->node_count; i++) {
		struct redis_node *node = &rs->nodes[i];
		char asked[sizeof(node->host)];
		redisReply *reply;

		if (connect_node(rs, node) < 0)
			continue;
		reply = node_command(node, "CLUSTER SLOTS");
		if (!reply) {
			disconnect(node);
			continue;
		}
		snprintf(asked, sizeof(asked), "%s", node->host);
		ret = reply->type == REDIS_REPLY_ERROR ? -EPROTO : parse_slots(rs, reply, asked);
		freeReplyObject(reply);
		if (ret == 0) {
			rs->slots_stale = false;
			return 0;
		}
	}
	return ret;
}

/* Ready to send: the slot map loaded (cluster) or the server connected;
 * with the lock held. */
static int connect_locked(struct redis_store *rs)
{
	if (rs->config.cluster)
		return rs->slots_stale ? load_slots(rs) : 0;
	return connect_node(rs, &rs->nodes[0]);
}

/* The node that serves name, connected, or NULL (the request fails). */
static struct redis_node *node_for(struct redis_store *rs, const char *name)
{
	struct redis_node *node = rs->config.cluster ?
		&rs->nodes[rs->slot_node[key_slot(name)]] : &rs->nodes[0];

	return connect_node(rs, node) == 0 ? node : NULL;
}

/* The node an ASK answer names: "ASK <slot> <host>:<port>"; NULL when
 * it names none we can reach. */
static struct redis_node *asked_node(struct redis_store *rs, const char *answer)
{
	const char *address = strchr(answer + strlen("ASK "), ' ');
	const char *colon = address ? strrchr(address, ':') : NULL;
	char host[sizeof(rs->nodes[0].host)];
	unsigned long port;
	char *end;

	if (!colon || colon == address + 1 || (size_t)(colon - address - 1) >= sizeof(host))
		return NULL;
	snprintf(host, sizeof(host), "%.*s", (int)(colon - address - 1), address + 1);
	port = strtoul(colon + 1, &end, 10);
	if (*end || !port || port > 65535)
		return NULL;
	return node_named(rs, host, (unsigned int)port);
}

/* What a reply (or its absence) means; drops the connection on I/O errors.
 * -EAGAIN: the cluster moved the slot; the map is reloaded before the
 * next request.  With asked, an ASK answer is -EAGAIN too, with the node
 * to ask in *asked and the map left alone; without, it is taken as MOVED. */
static int reply_result(struct redis_store *rs, struct redis_node *node,
			redisReply *reply, struct redis_node **asked)
{
	if (asked)
		*asked = NULL;
	if (!reply) {
		/* Timeout or connection lost: the context is unusable. */
		disconnect(node);
		if (rs->config.cluster)
			rs->slots_stale = true; /* a failover may follow */
		return -EIO;
	}
	if (reply->type == REDIS_REPLY_ERROR) {
		if (asked && !strncmp(reply->str, "ASK ", 4)) {
			*asked = asked_node(rs, reply->str);
			if (*asked)
				return -EAGAIN;
		}
		if (!strncmp(reply->str, "MOVED ", 6) || !strncmp(reply->str, "ASK ", 4)) {
			rs->slots_stale = true;
			return -EAGAIN;
		}
		return strncmp(reply->str, "OOM", 3) == 0 ? -ENOSPC : -EIO;
	}
	return 0;
}

/* A command to the node an ASK answer named, after ASKING (which is good
 * for the next command only); with the lock held and no pipeline pending
 * on that node.  The command's reply, NULL on I/O errors. */
static redisReply *asked_command(struct redis_store *rs, struct redis_node *node,
				 const char *format, ...)
{
	redisReply *asking = NULL, *reply = NULL;
	va_list args;
	int ret;

	if (connect_node(rs, node) < 0)
		return NULL;
	tier_count(&rs->redirect_count, 1);
	va_start(args, format);
	ret = redisAppendCommand(node->context, "ASKING") == REDIS_OK &&
	      redisvAppendCommand(node->context, format, args) == REDIS_OK;
	va_end(args);
	if (!ret || node_get_reply(node, &asking) != REDIS_OK ||
	    node_get_reply(node, &reply) != REDIS_OK) {
		if (asking)
			freeReplyObject(asking);
		disconnect(node);
		return NULL;
	}
	freeReplyObject(asking); /* +OK; an error shows in the command's reply */
	return reply;
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

/* The result of a SET's reply. */
static void put_result(struct redis_store *rs, struct redis_node *node,
		       redisReply *reply, struct wset_store_io *io,
		       struct redis_node **asked)
{
	io->result = reply_result(rs, node, reply, asked);
	if (reply)
		freeReplyObject(reply);
	if (io->result == 0) {
		note_size(rs, io->key, io->iov[0].iov_len);
		tier_count(&rs->counts.put_count, 1);
	}
}

/* The result of a GET's reply, into io. */
static void get_result(struct redis_store *rs, struct redis_node *node,
		       redisReply *reply, struct wset_store_io *io,
		       struct redis_node **asked)
{
	int result = reply_result(rs, node, reply, asked);

	if (result == 0 && reply->type == REDIS_REPLY_NIL)
		result = -ENOENT;
	else if (result == 0 && (io->iovcnt != 1 || reply->type != REDIS_REPLY_STRING ||
				 (size_t)reply->len != io->iov[0].iov_len))
		result = -EIO;
	else if (result == 0)
		memcpy(io->iov[0].iov_base, reply->str, (size_t)reply->len);
	/* A broken connection: this and the rest go again next round (as
	 * does a moved slot, -EAGAIN already). */
	io->result = result == -EIO && !node->context ? -EAGAIN : result;
	if (reply)
		freeReplyObject(reply);
}

/*
 * One pipelined round of SETs (write) or GETs, one pipeline per node, for
 * the requests still at -EAGAIN, then the ASK redirects one by one; with
 * the lock held.  node and asked have count entries.  A put that cannot be
 * sent fails; a get that cannot goes again next round.
 */
static void round_trip(struct redis_store *rs, struct wset_store_io *io,
		       unsigned int count, bool write, struct redis_node **node,
		       struct redis_node **asked)
{
	void (*result)(struct redis_store *, struct redis_node *, redisReply *,
		       struct wset_store_io *, struct redis_node **) =
		write ? put_result : get_result;
	int ret = connect_locked(rs);

	for (unsigned int i = 0; i < count; i++) {
		char name[REDIS_KEY_MAX];
		int sent;

		node[i] = NULL;
		if (io[i].result != -EAGAIN || (ret < 0 && !write))
			continue;
		if (ret < 0) {
			io[i].result = ret;
			continue;
		}
		key_name(rs, io[i].key, name);
		node[i] = node_for(rs, name);
		if (write && io[i].iovcnt != 1) {
			io[i].result = -EINVAL;
		} else if (node[i]) {
			sent = write ? redisAppendCommand(node[i]->context, "SET %s %b", name,
							  io[i].iov[0].iov_base,
							  io[i].iov[0].iov_len) :
				       redisAppendCommand(node[i]->context, "GET %s", name);
			if (sent == REDIS_OK)
				continue;
			if (write)
				io[i].result = -ENOMEM;
		} else if (write) {
			io[i].result = -ECONNREFUSED;
		}
		node[i] = NULL;
	}
	/* Each node answers its pipeline in order. */
	for (unsigned int i = 0; i < count; i++) {
		redisReply *reply = NULL;

		asked[i] = NULL;
		if (!node[i])
			continue; /* never sent */
		if (!node[i]->context ||
		    node_get_reply(node[i], &reply) != REDIS_OK)
			reply = NULL;
		result(rs, node[i], reply, &io[i], &asked[i]);
	}
	/* Every pipeline is read: the asked nodes have nothing pending. */
	for (unsigned int i = 0; i < count; i++) {
		char name[REDIS_KEY_MAX];

		if (!asked[i])
			continue;
		key_name(rs, io[i].key, name);
		result(rs, asked[i],
		       write ? asked_command(rs, asked[i], "SET %s %b", name,
					     io[i].iov[0].iov_base, io[i].iov[0].iov_len) :
			       asked_command(rs, asked[i], "GET %s", name),
		       &io[i], NULL);
	}
}

/* Pipeline count SETs; each request gets its own result.  Requests come
 * from the chain and the library with one iovec each.  A put never waits
 * for a server to come back; only a slot the cluster moved is tried again,
 * once, after the map is reloaded. */
static int redis_put_batch(void *priv, struct wset_store_io *io, unsigned int count)
{
	struct redis_node **node = malloc((count ? count : 1) * 2 * sizeof(*node));
	struct redis_store *rs = priv;
	struct pipe_guard guard;

	for (unsigned int i = 0; i < count; i++)
		io[i].result = node ? -EAGAIN : -ENOMEM;
	lock(rs, &guard);
	for (int round = 0; node && round < 2; round++)
		round_trip(rs, io, count, true, node, node + count);
	unlock(rs, &guard);
	free(node);
	for (unsigned int i = 0; i < count; i++) {
		if (io[i].result == -EAGAIN)
			io[i].result = -EIO;
		if (io[i].result < 0)
			tier_count(&rs->counts.error_count, 1);
	}
	return 0;
}

static int redis_put(void *priv, uint64_t key, const void *data, size_t len)
{
	const struct iovec iov = { (void *)data, len };
	struct wset_store_io io = { .key = key, .iov = &iov, .iovcnt = 1 };

	redis_put_batch(priv, &io, 1);
	return io.result;
}

/* Pipelined GETs, with the same reconnect and retries as a single get. */
static int redis_get_batch(void *priv, struct wset_store_io *io, unsigned int count)
{
	struct redis_node **node = malloc((count ? count : 1) * 2 * sizeof(*node));
	struct redis_store *rs = priv;
	struct pipe_guard guard;

	for (unsigned int i = 0; i < count; i++)
		io[i].result = node ? -EAGAIN : -ENOMEM;
	for (unsigned int attempt = 0; node && attempt < rs->config.get_retries; attempt++) {
		bool waiting = false;

		if (attempt)
			usleep(10000u * attempt);
		lock(rs, &guard);
		round_trip(rs, io, count, false, node, node + count);
		unlock(rs, &guard);
		for (unsigned int i = 0; i < count; i++)
			waiting |= io[i].result == -EAGAIN;
		if (!waiting)
			break;
	}
	free(node);
	for (unsigned int i = 0; i < count; i++) {
		if (io[i].result == -EAGAIN)
			io[i].result = -EIO;
		tier_count(io[i].result == 0 ? &rs->counts.get_count : &rs->counts.error_count, 1);
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
	key_name(rs, key, name);
	for (int round = 0; round < 2; round++) {
		struct redis_node *node, *asked;

		ret = connect_locked(rs);
		node = ret == 0 ? node_for(rs, name) : NULL;
		if (!node) {
			ret = ret ?: -ECONNREFUSED;
			break;
		}
		reply = node_command(node, "DEL %s", name);
		ret = reply_result(rs, node, reply, &asked);
		if (reply)
			freeReplyObject(reply);
		if (asked) {
			reply = asked_command(rs, asked, "DEL %s", name);
			ret = reply_result(rs, asked, reply, NULL);
			if (reply)
				freeReplyObject(reply);
		}
		if (ret != -EAGAIN)
			break; /* a moved slot goes once more */
	}
	if (ret == 0)
		note_size(rs, key, 0);
	unlock(rs, &guard);
	(void)len; /* the chain drops page by page */
	if (ret < 0)
		tier_count(&rs->counts.error_count, 1);
	return ret;
}

/* Every key of this VMM on one node, by SCAN: its store key and length;
 * with the lock held. */
static int each_on_node(struct redis_store *rs, struct redis_node *node,
			int (*fn)(void *arg, uint64_t key, size_t len), void *arg)
{
	char pattern[REDIS_KEY_MAX + 2], cursor[32] = "0";
	size_t prefix = strlen("wset::") + strlen(rs->vmm_name);
	int ret = connect_node(rs, node);

	snprintf(pattern, sizeof(pattern), "wset:%s:*", rs->vmm_name);
	do {
		redisReply *reply = ret ? NULL :
			node_command(node, "SCAN %s MATCH %s COUNT 1000", cursor, pattern);

		ret = ret ?: reply_result(rs, node, reply, NULL);
		if (ret == 0 && (reply->type != REDIS_REPLY_ARRAY || reply->elements != 2))
			ret = -EIO;
		for (size_t i = 0; ret == 0 && i < reply->element[1]->elements; i++) {
			const char *name = reply->element[1]->element[i]->str;
			redisReply *length = node_command(node, "STRLEN %s", name);
			char *end;
			uint64_t key = strtoull(name + prefix, &end, 16);

			ret = reply_result(rs, node, length, NULL);
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
	return ret;
}

/* Every key of this VMM: on the server, or on each master of the cluster
 * (a node that serves no slot, such as a replica, is not asked).  Called
 * by a restarted agent, before any other call. */
static int redis_each(void *priv, int (*fn)(void *arg, uint64_t key, size_t len),
		      void *arg)
{
	struct redis_store *rs = priv;
	bool master[REDIS_NODES_MAX] = { !rs->config.cluster };
	struct pipe_guard guard;
	int ret;

	lock(rs, &guard);
	ret = connect_locked(rs);
	for (unsigned int slot = 0; ret == 0 && rs->config.cluster && slot < REDIS_SLOTS; slot++)
		master[rs->slot_node[slot]] = true;
	for (unsigned int i = 0; ret == 0 && i < rs->node_count; i++)
		if (master[i])
			ret = each_on_node(rs, &rs->nodes[i], fn, arg);
	unlock(rs, &guard);
	return ret;
}

static int redis_stats(void *priv, struct wset_store_stats *stats)
{
	struct redis_store *rs = priv;

	uint64_t stored_bytes;

	pthread_mutex_lock(&rs->lock);
	stored_bytes = rs->stored_bytes;
	pthread_mutex_unlock(&rs->lock);
	tier_report(&rs->counts, stored_bytes, rs->config.capacity_bytes, stats);
	stats->redirect_count = tier_load(&rs->redirect_count);
	return 0;
}

static void redis_close(void *priv)
{
	struct redis_store *rs = priv;

	for (unsigned int i = 0; i < rs->node_count; i++)
		disconnect(&rs->nodes[i]);
	__wset_map_free(&rs->sizes, NULL);
	pthread_mutex_destroy(&rs->lock);
	free(rs->host);
	free(rs->unix_path);
	free(rs->user);
	free(rs->password);
	free(rs->vmm_name);
	free(rs->tls_server_name);
	if (rs->tls_context)
		SSL_CTX_free(rs->tls_context);
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
	    (config->user && !config->password) ||
	    (config->cluster && !config->host) ||
	    (config->host && strlen(config->host) >= sizeof(rs->nodes[0].host)) ||
	    (config->tls && !config->host) || !config->tls_cert != !config->tls_key)
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
	rs->tls_server_name = copy(config->tls_server_name, &failed);
	pthread_mutex_init(&rs->lock, NULL);
	/* The configured server; with cluster, the first node asked for the
	 * slot map. */
	snprintf(rs->nodes[0].host, sizeof(rs->nodes[0].host), "%s",
		 config->host ? config->host : "");
	rs->nodes[0].port = rs->config.port;
	rs->node_count = 1;
	rs->slots_stale = rs->config.cluster;
	rs->tier.store.ops = &__wset_redis_ops;
	rs->tier.store.priv = rs;
	rs->tier.kind = &redis_kind;
	if (failed) {
		redis_close(rs);
		return -ENOMEM;
	}
	if (config->tls) {
		ret = __wset_redis_tls_context(config, &rs->tls_context);
		if (ret < 0) {
			redis_close(rs);
			return ret;
		}
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
