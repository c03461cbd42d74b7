/* SPDX-License-Identifier: MIT */
/*
 * What wsetd keeps in its state directory (store_dir) for each VMM, so that
 * a restarted wsetd can serve it again: the session record TOKEN.session
 * (the VMM's identity and regions, JSON), beside the page store
 * TOKEN.pages and its journal TOKEN.journal.  Every file is mode 0600.
 */
#ifndef WSETD_STATE_H
#define WSETD_STATE_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#include <json-c/json.h>

/* 32 hex digits (128 random bits) and the terminating NUL. */
#define STATE_TOKEN_SIZE 33

/* A fresh session token.  Returns 0 or -errno. */
int state_token_new(char token[STATE_TOKEN_SIZE]);

/* Whether text has the form of a token. */
bool state_token_valid(const char *text);

/* Write TOKEN.session atomically: the session's pid, uid, name and the
 * handshake's regions array.  Returns 0 or -errno. */
int state_save(const char *directory, const char *token, pid_t pid, uid_t uid,
	       const char *name, json_object *regions);

/* Read TOKEN.session; the caller puts the object.  NULL with errno set
 * (ENOENT: no such session). */
json_object *state_load(const char *directory, const char *token);

/* Remove TOKEN.session and the session's page store. */
void state_remove(const char *directory, const char *token);

/* Tokens of every session record in directory: calls fn for each. */
void state_each(const char *directory, void (*fn)(void *arg, const char *token),
		void *arg);

#endif
