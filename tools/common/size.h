/* SPDX-License-Identifier: MIT */
/* Sizes on command lines and in configuration files: "4096", "64M", "2GiB". */
#ifndef WSET_TOOLS_SIZE_H
#define WSET_TOOLS_SIZE_H

#include <stdint.h>

/* Strict unsigned decimal: digits only, no sign, no overflow; *rest points
 * after the digits.  Returns 0 or -1. */
int decimal_parse(const char *text, uint64_t *value, const char **rest);

/* Decimal bytes with an optional K, M, G or T suffix (binary units, an
 * optional "iB" after it).  Returns 0, or -1 for anything else, overflow
 * included. */
int size_parse(const char *text, uint64_t *bytes);

#endif
