// SPDX-License-Identifier: MIT
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "channel.h"
#include "helper.h"
#include "log.h"
#include "session.h"

/* An eviction step waits for the helper's answer as long as the helper is
 * there: a request given up on could still be carried out afterwards (a
 * move into the staging area behind the step's back). */
#define HELPER_TIMEOUT_MS (-1)

struct helper_region {
	uint64_t addr;
	int id;
};

struct session_helper {
	struct session *session;
	unsigned int version;
	struct wset_channel *channel; /* NULL until helper_start() */
	struct helper_region regions[HANDSHAKE_MAX_REGIONS];
	int region_count;
};

int helper_parse_offer(json_object *value, struct helper_offer *offer,
		       char *error, size_t error_size)
{
	bool has_version = false, has_staging = false, has_size = false;

	if (!json_object_is_type(value, json_type_object)) {
		snprintf(error, error_size, "helper: not a JSON object");
		return -1;
	}
	json_object_object_foreach(value, key, member) {
		uint64_t number;

		if (!json_object_is_type(member, json_type_int) ||
		    json_object_get_int64(member) < 0) {
			snprintf(error, error_size,
				 "helper: %s: not a non-negative integer", key);
			return -1;
		}
		number = json_object_get_uint64(member);
		if (strcmp(key, "version") == 0) {
			if (number < 1 || number > 65535) {
				snprintf(error, error_size,
					 "helper: version %llu: expected 1 or more",
					 (unsigned long long)number);
				return -1;
			}
			offer->version = (unsigned int)number;
			has_version = true;
		} else if (strcmp(key, "staging") == 0) {
			offer->staging = number;
			has_staging = true;
		} else if (strcmp(key, "staging_size") == 0) {
			offer->staging_size = number;
			has_size = true;
		} else {
			snprintf(error, error_size, "helper: unknown key '%s'", key);
			return -1;
		}
	}
	if (!has_version || !has_staging || !has_size) {
		snprintf(error, error_size,
			 "helper: needs version, staging and staging_size");
		return -1;
	}
	if (offer->staging_size < WSET_HELPER_STAGING_BYTES ||
	    offer->staging % 4096) {
		snprintf(error, error_size,
			 "helper: staging must be page aligned and at least %u bytes",
			 WSET_HELPER_STAGING_BYTES);
		return -1;
	}
	return 0;
}

unsigned int helper_version(const struct helper_offer *offer)
{
	return offer->version < WSET_HELPER_PROTOCOL_VERSION ?
		       offer->version : WSET_HELPER_PROTOCOL_VERSION;
}

static int call(void *priv, uint16_t type, uint64_t addr, uint64_t len,
		uint64_t offset)
{
	struct session_helper *helper = priv;
	struct wset_channel *channel = __atomic_load_n(&helper->channel,
						       __ATOMIC_ACQUIRE);

	if (!channel)
		return -ENOTCONN;
	return (int)__wset_channel_call(channel, type, addr, len, offset, -1,
					HELPER_TIMEOUT_MS);
}

static int zap(void *priv, uint64_t addr, uint64_t len)
{
	return call(priv, WSET_HELPER_ZAP, addr, len, 0);
}

static int release(void *priv, uint64_t addr, uint64_t len)
{
	return call(priv, WSET_HELPER_RELEASE, addr, len, 0);
}

static int move(void *priv, uint64_t dst, uint64_t src, uint64_t len)
{
	return call(priv, WSET_HELPER_MOVE, dst, len, src);
}

int helper_attach(struct session *session, const struct helper_offer *offer)
{
	struct session_helper *helper = calloc(1, sizeof(*helper));
	struct wset_helper callbacks = {
		.size = sizeof(struct wset_helper),
		.zap = zap,
		.release = release,
		.move = move,
		.staging_addr = offer->staging,
		.staging_len = offer->staging_size,
	};
	int ret;

	if (!helper)
		return -ENOMEM;
	helper->session = session;
	helper->version = helper_version(offer);
	callbacks.priv = helper;
	ret = wset_set_helper(session->wset, &callbacks);
	if (ret < 0) {
		free(helper);
		return ret;
	}
	session->helper = helper;
	return 0;
}

void helper_note_region(struct session *session, uint64_t addr, int id)
{
	struct session_helper *helper = session->helper;

	if (helper && helper->region_count < HANDSHAKE_MAX_REGIONS)
		helper->regions[helper->region_count++] =
			(struct helper_region){ addr, id };
}

/* RAM the VMM mapped or is about to unmap (hotplug). */
static int64_t handle_request(void *arg, const struct wset_helper_message *request,
			      int fd)
{
	struct session_helper *helper = arg;
	struct session *session = helper->session;
	int ret;

	switch (request->type) {
	case WSET_HELPER_ADD_REGION:
		if (fd >= 0)
			ret = wset_add_file(session->wset, request->addr,
					    request->len, fd, request->offset);
		else
			ret = wset_add_anon(session->wset, request->addr,
					    request->len);
		if (fd >= 0)
			close(fd);
		if (ret >= 0) {
			helper_note_region(session, request->addr, ret);
			__atomic_fetch_add(&session->region_count, 1, __ATOMIC_RELAXED);
		}
		log_notice("vmm %u %s: region at 0x%llx, %llu bytes added: %s",
			   session->id, session->name,
			   (unsigned long long)request->addr,
			   (unsigned long long)request->len,
			   ret >= 0 ? "tracked" : strerror(-ret));
		return ret;
	case WSET_HELPER_REMOVE_REGION:
		ret = -ENOENT;
		for (int i = 0; i < helper->region_count; i++) {
			if (helper->regions[i].addr != request->addr)
				continue;
			ret = wset_remove_region(session->wset, helper->regions[i].id);
			helper->regions[i] = helper->regions[--helper->region_count];
			if (ret == 0)
				__atomic_fetch_sub(&session->region_count, 1,
						   __ATOMIC_RELAXED);
			break;
		}
		log_notice("vmm %u %s: region at 0x%llx removed: %s", session->id,
			   session->name, (unsigned long long)request->addr,
			   ret == 0 ? "every page back" : strerror(-ret));
		return ret;
	default:
		if (fd >= 0)
			close(fd);
		return -EOPNOTSUPP;
	}
}

int helper_start(struct session *session)
{
	struct session_helper *helper = session->helper;
	struct wset_channel *channel;
	int ret;

	if (!helper)
		return 0;
	ret = __wset_channel_open(session->socket_fd, (uint16_t)helper->version,
				  handle_request, NULL, helper, &channel);
	if (ret == 0)
		__atomic_store_n(&helper->channel, channel, __ATOMIC_RELEASE);
	return ret;
}

unsigned int helper_session_version(const struct session *session)
{
	return session->helper ? session->helper->version : 0;
}

void helper_disconnect(struct session *session)
{
	struct session_helper *helper = session->helper;

	if (helper && helper->channel)
		__wset_channel_shutdown(helper->channel);
}

void helper_stop(struct session *session)
{
	struct session_helper *helper = session->helper;

	if (!helper)
		return;
	__wset_channel_close(helper->channel);
	free(helper);
	session->helper = NULL;
}
