// SPDX-License-Identifier: MIT
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <sys/random.h>
#include <unistd.h>

#include "state.h"
#include "wset.h"

int state_token_new(char token[STATE_TOKEN_SIZE])
{
	unsigned char bytes[16];

	if (getrandom(bytes, sizeof(bytes), 0) != (ssize_t)sizeof(bytes))
		return -errno;
	for (size_t i = 0; i < sizeof(bytes); i++)
		snprintf(token + 2 * i, 3, "%02x", bytes[i]);
	return 0;
}

bool state_token_valid(const char *text)
{
	size_t length = 0;

	for (; text[length]; length++)
		if (!strchr("0123456789abcdef", text[length]))
			return false;
	return length == STATE_TOKEN_SIZE - 1;
}

static int record_path(char *path, const char *directory, const char *token,
		       const char *suffix)
{
	if (snprintf(path, PATH_MAX, "%s/%s.session%s", directory, token, suffix) >=
	    PATH_MAX)
		return -ENAMETOOLONG;
	return 0;
}

int state_save(const char *directory, const char *token, pid_t pid, uid_t uid,
	       const char *name, json_object *regions)
{
	char path[PATH_MAX], temporary[PATH_MAX];
	json_object *record = json_object_new_object();
	const char *text;
	int fd, ret = 0;

	if (record_path(path, directory, token, "") ||
	    record_path(temporary, directory, token, ".new")) {
		json_object_put(record);
		return -ENAMETOOLONG;
	}
	json_object_object_add(record, "session", json_object_new_string(token));
	json_object_object_add(record, "pid", json_object_new_int((int)pid));
	json_object_object_add(record, "uid", json_object_new_int64((int64_t)uid));
	json_object_object_add(record, "name", json_object_new_string(name));
	json_object_object_add(record, "regions", json_object_get(regions));
	text = json_object_to_json_string_ext(record, JSON_C_TO_STRING_PLAIN);
	fd = open(temporary, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0600);
	if (fd < 0)
		ret = -errno;
	else {
		size_t length = strlen(text);

		if (write(fd, text, length) != (ssize_t)length || fsync(fd))
			ret = errno ? -errno : -EIO;
		close(fd);
		if (ret == 0 && rename(temporary, path))
			ret = -errno;
		if (ret < 0)
			unlink(temporary);
	}
	json_object_put(record);
	return ret;
}

json_object *state_load(const char *directory, const char *token)
{
	char path[PATH_MAX];
	json_object *record;

	if (record_path(path, directory, token, "")) {
		errno = ENAMETOOLONG;
		return NULL;
	}
	if (access(path, R_OK))
		return NULL;
	record = json_object_from_file(path);
	if (!record)
		errno = EINVAL;
	return record;
}

void state_remove(const char *directory, const char *token)
{
	char path[PATH_MAX];

	if (record_path(path, directory, token, "") == 0)
		unlink(path);
	wset_named_store_remove(directory, token);
}

void state_each(const char *directory, void (*fn)(void *arg, const char *token),
		void *arg)
{
	DIR *folder = opendir(directory);
	struct dirent *entry;

	if (!folder)
		return;
	while ((entry = readdir(folder))) {
		char token[STATE_TOKEN_SIZE];
		const char *dot = strchr(entry->d_name, '.');

		if (!dot || strcmp(dot, ".session") ||
		    (size_t)(dot - entry->d_name) != STATE_TOKEN_SIZE - 1)
			continue;
		memcpy(token, entry->d_name, STATE_TOKEN_SIZE - 1);
		token[STATE_TOKEN_SIZE - 1] = '\0';
		if (state_token_valid(token))
			fn(arg, token);
	}
	closedir(folder);
}
