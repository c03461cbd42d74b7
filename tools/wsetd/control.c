// SPDX-License-Identifier: MIT
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "control.h"
#include "log.h"
#include "report.h"

struct answer {
	json_object *json; /* the answer, unless text is set */
	char *text;
	size_t text_length;
};

static json_object *failure(const char *format, ...)
	__attribute__((format(printf, 1, 2)));

static json_object *failure(const char *format, ...)
{
	json_object *result = json_object_new_object();
	char message[256];
	va_list arguments;

	va_start(arguments, format);
	vsnprintf(message, sizeof(message), format, arguments);
	va_end(arguments);
	json_object_object_add(result, "ok", json_object_new_boolean(0));
	json_object_object_add(result, "error", json_object_new_string(message));
	return result;
}

static json_object *success(void)
{
	json_object *result = json_object_new_object();

	json_object_object_add(result, "ok", json_object_new_boolean(1));
	return result;
}

static bool get_unsigned(json_object *value, uint64_t *out)
{
	if (!json_object_is_type(value, json_type_int) ||
	    json_object_get_int64(value) < 0)
		return false;
	*out = json_object_get_uint64(value);
	return true;
}

/* The "vmm" member: 1 and *session set, 0 when absent (all), -1 when bad. */
static int target(struct daemon *daemon, json_object *request,
		  struct session **session, json_object **error)
{
	json_object *value;
	uint64_t id;

	*session = NULL;
	if (!json_object_object_get_ex(request, "vmm", &value))
		return 0;
	if (!get_unsigned(value, &id)) {
		*error = failure("vmm: expected a VMM id");
		return -1;
	}
	*session = daemon_find_session(daemon, (unsigned int)id);
	if (!*session) {
		*error = failure("vmm %llu: no such VMM", (unsigned long long)id);
		return -1;
	}
	return 1;
}

static json_object *command_status(struct daemon *daemon, json_object *request)
{
	struct session *session;
	json_object *error, *result;

	switch (target(daemon, request, &session, &error)) {
	case -1:
		return error;
	case 0:
		return report_status(daemon);
	}
	result = success();
	json_object_object_add(result, "vmm", report_session(session));
	return result;
}

static json_object *command_history(struct daemon *daemon, json_object *request)
{
	struct session *session;
	json_object *error, *result, *list;
	int found = target(daemon, request, &session, &error);

	if (found < 0)
		return error;
	result = success();
	list = json_object_new_array();
	json_object_object_add(result, "interval_ms",
			       json_object_new_int((int)daemon->options.interval_ms));
	for (struct session *each = daemon->sessions; each; each = each->next) {
		json_object *entry;

		if (found && each != session)
			continue;
		entry = json_object_new_object();
		json_object_object_add(entry, "id", json_object_new_int((int)each->id));
		json_object_object_add(entry, "name", json_object_new_string(each->name));
		json_object_object_add(entry, "history", history_json(&each->history));
		json_object_array_add(list, entry);
	}
	json_object_object_add(result, "vmms", list);
	return result;
}

/* Apply the members of "policy" over the session's current policy. */
static json_object *update_policy(struct session *session, json_object *changes)
{
	struct wset_policy policy = WSET_POLICY_INIT;
	uint64_t value;
	int ret = wset_get_policy(session->wset, &policy);

	if (ret < 0)
		return failure("vmm %u: %s", session->id, strerror(-ret));
	json_object_object_foreach(changes, key, member) {
		if (strcmp(key, "evict") == 0) {
			if (!json_object_is_type(member, json_type_boolean))
				return failure("policy: evict: expected true or false");
			policy.enabled = json_object_get_boolean(member);
			continue;
		}
		if (!get_unsigned(member, &value))
			return failure("policy: %s: expected a non-negative integer", key);
		if (strcmp(key, "min_idle_age") == 0) {
			if (value < 1 || value > WSET_AGE_MAX)
				return failure("policy: min_idle_age: %llu is out of range 1..%d",
					       (unsigned long long)value, WSET_AGE_MAX);
			policy.min_idle_age = (unsigned int)value;
		} else if (strcmp(key, "resident_target") == 0) {
			policy.resident_target = value;
		} else if (strcmp(key, "max_evict_rate") == 0) {
			policy.max_evict_rate = value;
		} else {
			return failure("policy: unknown key '%s'", key);
		}
	}
	ret = wset_set_policy(session->wset, &policy);
	if (ret < 0)
		return failure("vmm %u: %s", session->id, strerror(-ret));
	log_info("vmm %u: policy: evict %s, min_idle_age %u, resident_target %llu, "
		 "max_evict_rate %llu", session->id, policy.enabled ? "yes" : "no",
		 policy.min_idle_age, (unsigned long long)policy.resident_target,
		 (unsigned long long)policy.max_evict_rate);
	return NULL;
}

static json_object *command_set(struct daemon *daemon, json_object *request)
{
	struct session *session;
	json_object *error, *changes;
	int found = target(daemon, request, &session, &error);

	if (found < 0)
		return error;
	if (!json_object_object_get_ex(request, "policy", &changes) ||
	    !json_object_is_type(changes, json_type_object))
		return failure("set: expected a 'policy' object");
	for (struct session *each = daemon->sessions; each; each = each->next) {
		if (found && each != session)
			continue;
		error = update_policy(each, changes);
		if (error)
			return error;
	}
	return success();
}

static json_object *command_evict(struct daemon *daemon, json_object *request)
{
	struct session *session;
	json_object *error, *value, *result;
	uint64_t min_age = 1, max_bytes = 0, evicted = 0;
	int ret;

	if (target(daemon, request, &session, &error) < 0)
		return error;
	if (!session)
		return failure("evict: needs a vmm");
	if (json_object_object_get_ex(request, "min_age", &value) &&
	    (!get_unsigned(value, &min_age) || min_age > WSET_AGE_MAX))
		return failure("evict: min_age: expected 0..%d", WSET_AGE_MAX);
	if (json_object_object_get_ex(request, "max_bytes", &value) &&
	    !get_unsigned(value, &max_bytes))
		return failure("evict: max_bytes: expected a non-negative integer");
	ret = wset_evict(session->wset, (unsigned int)min_age, max_bytes, &evicted);
	if (ret < 0)
		return failure("vmm %u: evict: %s", session->id, strerror(-ret));
	result = success();
	json_object_object_add(result, "evicted_bytes", json_object_new_uint64(evicted));
	return result;
}

static json_object *command_restore(struct daemon *daemon, json_object *request)
{
	struct session *session;
	json_object *error;
	int ret;

	if (target(daemon, request, &session, &error) < 0)
		return error;
	for (struct session *each = daemon->sessions; each; each = each->next) {
		if (session && each != session)
			continue;
		ret = wset_restore_all(each->wset);
		if (ret < 0)
			return failure("vmm %u: restore: %s", each->id, strerror(-ret));
	}
	return success();
}

static void command_metrics(struct daemon *daemon, struct answer *answer)
{
	FILE *out = open_memstream(&answer->text, &answer->text_length);

	if (!out) {
		answer->json = failure("metrics: out of memory");
		return;
	}
	report_prometheus(daemon, out);
	fclose(out);
}

static void dispatch(struct daemon *daemon, struct connection *connection,
		     struct answer *answer)
{
	json_object *request = connection->document, *value;
	const char *command;
	bool changes;

	if (!json_object_is_type(request, json_type_object) ||
	    !json_object_object_get_ex(request, "command", &value) ||
	    !json_object_is_type(value, json_type_string)) {
		answer->json = failure("expected {\"command\": \"...\", ...}");
		return;
	}
	command = json_object_get_string(value);
	changes = strcmp(command, "set") == 0 || strcmp(command, "evict") == 0 ||
		  strcmp(command, "restore") == 0;
	if (changes && !daemon_uid_allowed(daemon, connection->peer.uid)) {
		answer->json = failure("%s: uid %u may not change wsetd", command,
				       (unsigned int)connection->peer.uid);
		return;
	}
	if (strcmp(command, "status") == 0)
		answer->json = command_status(daemon, request);
	else if (strcmp(command, "history") == 0)
		answer->json = command_history(daemon, request);
	else if (strcmp(command, "set") == 0)
		answer->json = command_set(daemon, request);
	else if (strcmp(command, "evict") == 0)
		answer->json = command_evict(daemon, request);
	else if (strcmp(command, "restore") == 0)
		answer->json = command_restore(daemon, request);
	else if (strcmp(command, "metrics") == 0)
		command_metrics(daemon, answer);
	else
		answer->json = failure("unknown command '%s'", command);
}

void control_answer(struct daemon *daemon, struct connection *connection)
{
	struct answer answer = { 0 };

	dispatch(daemon, connection, &answer);
	if (answer.json) {
		const char *text = json_object_to_json_string_ext(answer.json,
								  JSON_C_TO_STRING_PLAIN);

		connection_send(connection->fd, text, strlen(text));
		connection_send(connection->fd, "\n", 1);
		json_object_put(answer.json);
	} else {
		connection_send(connection->fd, answer.text, answer.text_length);
		free(answer.text);
	}
}

void control_refuse(struct connection *connection, const char *error)
{
	json_object *answer = failure("%s", error);
	const char *text = json_object_to_json_string_ext(answer, JSON_C_TO_STRING_PLAIN);

	log_debug("control request from pid %d refused: %s", (int)connection->peer.pid,
		  error);
	connection_send(connection->fd, text, strlen(text));
	connection_send(connection->fd, "\n", 1);
	json_object_put(answer);
}
