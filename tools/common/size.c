// SPDX-License-Identifier: MIT
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "size.h"

int decimal_parse(const char *text, uint64_t *value, const char **rest)
{
	char *end;

	if (*text < '0' || *text > '9')
		return -1;
	errno = 0;
	*value = strtoull(text, &end, 10);
	if (errno)
		return -1;
	*rest = end;
	return 0;
}

int size_parse(const char *text, uint64_t *bytes)
{
	unsigned int shift = 0;
	const char *end;

	if (decimal_parse(text, bytes, &end))
		return -1;
	switch (*end) {
	case '\0': break;
	case 'K': case 'k': shift = 10; break;
	case 'M': case 'm': shift = 20; break;
	case 'G': case 'g': shift = 30; break;
	case 'T': case 't': shift = 40; break;
	default: return -1;
	}
	if (*end && end[1] && strcmp(end + 1, "iB") != 0)
		return -1;
	if (shift && *bytes > (UINT64_MAX >> shift))
		return -1;
	*bytes <<= shift;
	return 0;
}
