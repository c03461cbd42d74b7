/* SPDX-License-Identifier: MIT */
/* The size member and reserved space of the structs callers allocate. */
#include <errno.h>
#include <stddef.h>
#include <string.h>

#include "internal.h"

/* Every extensible struct starts with its size, so that the library finds
 * it whatever layout the caller was built with. */
_Static_assert(offsetof(struct wset_config, size) == 0, "size first");
_Static_assert(offsetof(struct wset_policy, size) == 0, "size first");
_Static_assert(offsetof(struct wset_adopt, size) == 0, "size first");
_Static_assert(offsetof(struct wset_store_ops, size) == 0, "size first");
_Static_assert(offsetof(struct wset_probe, size) == 0, "size first");
_Static_assert(offsetof(struct wset_counters, size) == 0, "size first");

int __wset_struct_check(const void *caller, uint32_t size, size_t used,
			size_t known, size_t limit)
{
	const unsigned char *bytes = caller;

	/* No release had a smaller layout: there is nothing to default. */
	if (size < known || size > limit)
		return -EINVAL;
	/* The reserved space, and what a newer header added, must be unused. */
	for (size_t i = used; i < size; i++)
		if (bytes[i])
			return -EINVAL;
	return 0;
}

int __wset_struct_fill(void *caller, uint32_t size, const void *filled,
		       size_t known)
{
	size_t start = sizeof(uint32_t);
	size_t end = size < known ? size : known;

	if (size < start)
		return -EINVAL;
	memcpy((unsigned char *)caller + start,
	       (const unsigned char *)filled + start, end - start);
	return 0;
}
