/* SPDX-License-Identifier: MIT */
/*
 * The demo VMM's guest memory: regions of anonymous memory or of one memfd,
 * every page holding a pattern derived from its number and a version, so
 * any lost or stale page is detected.
 */
#ifndef DEMO_GUEST_MEMORY_H
#define DEMO_GUEST_MEMORY_H

#include <stdbool.h>
#include <stdint.h>

#include "handover.h"

#define GUEST_PAGE_SIZE 4096
#define GUEST_MAX_REGIONS 8

enum guest_backing {
	GUEST_ANONYMOUS,
	GUEST_MEMFD,
};

struct guest_memory {
	enum guest_backing backing;
	int memfd; /* -1 for anonymous memory */
	int region_count;
	uint8_t *region_base[GUEST_MAX_REGIONS];
	uint64_t region_pages;	/* pages per region */
	uint64_t pages;		/* in all regions */
	uint32_t *versions;	/* per page, kept outside guest memory */
};

/* Map size bytes as region_count regions (with unmapped gaps between them)
 * and fill every page.  Returns 0 or -errno. */
int guest_memory_create(struct guest_memory *memory, enum guest_backing backing,
			uint64_t size, int region_count);
void guest_memory_destroy(struct guest_memory *memory);

/* The regions as the handshake describes them. */
int guest_memory_regions(const struct guest_memory *memory,
			 struct handover_region *regions);

uint8_t *guest_page(const struct guest_memory *memory, uint64_t page);

/* Rewrite a page with its next version. */
void guest_page_write(struct guest_memory *memory, uint64_t page);

/* Whether a page holds its current version. */
bool guest_page_verify(const struct guest_memory *memory, uint64_t page);

/* Pages that are not resident (mincore), without touching any. */
uint64_t guest_memory_missing_pages(const struct guest_memory *memory);

#endif
