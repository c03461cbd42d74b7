// SPDX-License-Identifier: MIT
/* wsetctl set, evict and restore: changes to a running wsetd. */
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "client.h"
#include "commands.h"
#include "exit_codes.h"
#include "format.h"
#include "size.h"

/* A whole decimal number. */
static int parse_unsigned(const char *text, uint64_t *value)
{
	const char *rest;

	return decimal_parse(text, value, &rest) || *rest ? -1 : 0;
}

/* KEY=VALUE into the "policy" object; -1 after printing why. */
static int add_setting(json_object *policy, const char *setting)
{
	const char *equals = strchr(setting, '=');
	char key[64];
	uint64_t value;

	if (!equals || (size_t)(equals - setting) >= sizeof(key)) {
		fprintf(stderr, "wsetctl set: '%s' is not KEY=VALUE\n", setting);
		return -1;
	}
	memcpy(key, setting, (size_t)(equals - setting));
	key[equals - setting] = '\0';
	equals++;
	if (strcmp(key, "evict") == 0) {
		bool on = !strcmp(equals, "yes") || !strcmp(equals, "on") ||
			  !strcmp(equals, "true") || !strcmp(equals, "1");
		bool off = !strcmp(equals, "no") || !strcmp(equals, "off") ||
			   !strcmp(equals, "false") || !strcmp(equals, "0");

		if (!on && !off) {
			fprintf(stderr, "wsetctl set: evict: '%s' is not yes or no\n", equals);
			return -1;
		}
		json_object_object_add(policy, key, json_object_new_boolean(on));
	} else if (strcmp(key, "min_idle_age") == 0) {
		if (parse_unsigned(equals, &value) || value < 1 || value > 255) {
			fprintf(stderr, "wsetctl set: min_idle_age: '%s' is not 1..255\n",
				equals);
			return -1;
		}
		json_object_object_add(policy, key, json_object_new_uint64(value));
	} else if (strcmp(key, "resident_target") == 0 ||
		   strcmp(key, "max_evict_rate") == 0) {
		if (size_parse(equals, &value)) {
			fprintf(stderr, "wsetctl set: %s: '%s' is not a size (e.g. 512M)\n",
				key, equals);
			return -1;
		}
		json_object_object_add(policy, key, json_object_new_uint64(value));
	} else {
		fprintf(stderr, "wsetctl set: unknown setting '%s' (evict, min_idle_age, "
				"resident_target, max_evict_rate)\n", key);
		return -1;
	}
	return 0;
}

int command_set(int argc, char **argv)
{
	json_object *request, *policy, *answer;
	long vmm;
	int exit_code;

	if (argc < 3) {
		fprintf(stderr, "wsetctl set: usage: set VMM|all KEY=VALUE...\n");
		return WSETCTL_EXIT_USAGE;
	}
	vmm = parse_vmm(argv[1]);
	if (vmm < 0)
		return WSETCTL_EXIT_USAGE;
	policy = json_object_new_object();
	for (int i = 2; i < argc; i++) {
		if (add_setting(policy, argv[i])) {
			json_object_put(policy);
			return WSETCTL_EXIT_USAGE;
		}
	}
	request = client_request_for("set", vmm);
	json_object_object_add(request, "policy", policy);
	answer = client_exchange(request, &exit_code);
	json_object_put(answer);
	return exit_code;
}

int command_evict(int argc, char **argv)
{
	json_object *request, *answer;
	uint64_t value;
	char size[16];
	long vmm;
	int exit_code;

	if (argc < 2 || (vmm = parse_vmm(argv[1])) <= 0) {
		fprintf(stderr, "wsetctl evict: usage: evict VMM [min_age=N] [max_bytes=SIZE]\n");
		return WSETCTL_EXIT_USAGE;
	}
	request = client_request_for("evict", vmm);
	for (int i = 2; i < argc; i++) {
		if (strncmp(argv[i], "min_age=", 8) == 0 &&
		    !parse_unsigned(argv[i] + 8, &value) && value <= 255) {
			json_object_object_add(request, "min_age", json_object_new_uint64(value));
		} else if (strncmp(argv[i], "max_bytes=", 10) == 0 &&
			   !size_parse(argv[i] + 10, &value)) {
			json_object_object_add(request, "max_bytes", json_object_new_uint64(value));
		} else {
			fprintf(stderr, "wsetctl evict: bad argument '%s'\n", argv[i]);
			json_object_put(request);
			return WSETCTL_EXIT_USAGE;
		}
	}
	answer = client_exchange(request, &exit_code);
	if (answer)
		printf("evicted %s\n",
		       format_bytes(json_member_u64(answer, "evicted_bytes"), size, sizeof(size)));
	json_object_put(answer);
	return exit_code;
}

int command_restore(int argc, char **argv)
{
	json_object *answer;
	long vmm;
	int exit_code;

	if (argc != 2 || (vmm = parse_vmm(argv[1])) < 0) {
		fprintf(stderr, "wsetctl restore: usage: restore VMM|all\n");
		return WSETCTL_EXIT_USAGE;
	}
	answer = client_exchange(client_request_for("restore", vmm), &exit_code);
	json_object_put(answer);
	return exit_code;
}
