/* SPDX-License-Identifier: MIT */
/* What an open fd of this process refers to, as /proc/self/fd shows it. */
#ifndef WSET_TOOLS_FD_NAME_H
#define WSET_TOOLS_FD_NAME_H

#include <stdbool.h>
#include <stddef.h>

/* The link target of /proc/self/fd/FD ("anon_inode:[userfaultfd]",
 * "/memfd:NAME (deleted)", a path), NUL-terminated and cut to fit size.
 * false when fd is not open. */
bool fd_name(int fd, char *name, size_t size);

#endif
