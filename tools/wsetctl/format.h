/* SPDX-License-Identifier: MIT */
/* Human-readable sizes and the status table. */
#ifndef WSETCTL_FORMAT_H
#define WSETCTL_FORMAT_H

#include <stdint.h>
#include <stdio.h>

#include <json-c/json.h>

/* "1.5G", "512K", "0": binary units, at most 6 characters. */
const char *format_bytes(uint64_t bytes, char *buffer, size_t size);

/* "12us", "3ms", "-" for none. */
const char *format_microseconds(uint64_t us, char *buffer, size_t size);

/* A member as an unsigned number (0 when missing). */
uint64_t json_member_u64(json_object *object, const char *key);

/* The table of wsetctl status: a line per VMM of a "status" answer. */
void format_status_table(json_object *status, FILE *out);

#endif
