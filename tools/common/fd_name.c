// SPDX-License-Identifier: MIT
#include <stdio.h>
#include <unistd.h>

#include "fd_name.h"

bool fd_name(int fd, char *name, size_t size)
{
	char path[64];
	ssize_t length;

	if (size == 0)
		return false;
	snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
	length = readlink(path, name, size - 1);
	if (length < 0)
		return false;
	name[length] = '\0';
	return true;
}
