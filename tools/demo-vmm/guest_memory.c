// SPDX-License-Identifier: MIT
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "guest_memory.h"

/* Word i of a page at a version: a cheap mix that differs for every page,
 * version and word, and is never all zero (a zero-filled page fails). */
static inline uint64_t pattern(uint64_t page, uint32_t version, uint64_t word)
{
	uint64_t x = (page << 20) ^ ((uint64_t)version << 44) ^ word;

	x ^= x >> 31;
	x *= 0x9e3779b97f4a7c15ull;
	x ^= x >> 29;
	return x | 1;
}

uint8_t *guest_page(const struct guest_memory *memory, uint64_t page)
{
	uint64_t region = page / memory->region_pages;

	return memory->region_base[region] +
	       (page % memory->region_pages) * GUEST_PAGE_SIZE;
}

static void fill(struct guest_memory *memory, uint64_t page)
{
	uint64_t *words = (uint64_t *)guest_page(memory, page);
	uint32_t version = memory->versions[page];

	for (uint64_t i = 0; i < GUEST_PAGE_SIZE / 8; i++)
		words[i] = pattern(page, version, i);
}

void guest_page_write(struct guest_memory *memory, uint64_t page)
{
	memory->versions[page]++;
	fill(memory, page);
}

bool guest_page_verify(const struct guest_memory *memory, uint64_t page)
{
	const uint64_t *words = (const uint64_t *)guest_page(memory, page);
	uint32_t version = memory->versions[page];

	for (uint64_t i = 0; i < GUEST_PAGE_SIZE / 8; i++)
		if (words[i] != pattern(page, version, i))
			return false;
	return true;
}

int guest_memory_create(struct guest_memory *memory, enum guest_backing backing,
			uint64_t size, int region_count)
{
	uint64_t region_size;

	memset(memory, 0, sizeof(*memory));
	memory->memfd = -1;
	if (region_count < 1 || region_count > GUEST_MAX_REGIONS ||
	    size % ((uint64_t)region_count * GUEST_PAGE_SIZE) || size == 0)
		return -EINVAL;
	memory->backing = backing;
	memory->region_count = region_count;
	region_size = size / (uint64_t)region_count;
	memory->region_pages = region_size / GUEST_PAGE_SIZE;
	memory->pages = size / GUEST_PAGE_SIZE;
	memory->versions = calloc(memory->pages, sizeof(*memory->versions));
	if (!memory->versions)
		return -ENOMEM;
	if (backing == GUEST_MEMFD) {
		memory->memfd = memfd_create("demo-guest-memory", MFD_CLOEXEC);
		if (memory->memfd < 0 || ftruncate(memory->memfd, (off_t)size)) {
			int ret = -errno;

			guest_memory_destroy(memory);
			return ret;
		}
	}
	for (int i = 0; i < region_count; i++) {
		/* Reserve a guard page after each region so that regions are
		 * separate mappings, as a VMM's memory slots are. */
		uint8_t *reserve = mmap(NULL, region_size + GUEST_PAGE_SIZE, PROT_NONE,
					MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
		void *mapped;

		if (reserve == MAP_FAILED) {
			guest_memory_destroy(memory);
			return -ENOMEM;
		}
		if (backing == GUEST_MEMFD)
			mapped = mmap(reserve, region_size, PROT_READ | PROT_WRITE,
				      MAP_SHARED | MAP_FIXED, memory->memfd,
				      (off_t)(region_size * (uint64_t)i));
		else
			mapped = mmap(reserve, region_size, PROT_READ | PROT_WRITE,
				      MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0);
		if (mapped == MAP_FAILED) {
			munmap(reserve, region_size + GUEST_PAGE_SIZE);
			guest_memory_destroy(memory);
			return -ENOMEM;
		}
		/* Tracking works on base pages; keep THP out of the way. */
		madvise(mapped, region_size, MADV_NOHUGEPAGE);
		memory->region_base[i] = mapped;
	}
	for (uint64_t page = 0; page < memory->pages; page++)
		fill(memory, page);
	return 0;
}

void guest_memory_destroy(struct guest_memory *memory)
{
	uint64_t region_size = memory->region_pages * GUEST_PAGE_SIZE;

	for (int i = 0; i < memory->region_count; i++)
		if (memory->region_base[i])
			munmap(memory->region_base[i], region_size + GUEST_PAGE_SIZE);
	if (memory->memfd >= 0)
		close(memory->memfd);
	free(memory->versions);
	memset(memory, 0, sizeof(*memory));
	memory->memfd = -1;
}

int guest_memory_regions(const struct guest_memory *memory,
			 struct handover_region *regions)
{
	uint64_t region_size = memory->region_pages * GUEST_PAGE_SIZE;

	for (int i = 0; i < memory->region_count; i++) {
		regions[i].base = (uint64_t)(uintptr_t)memory->region_base[i];
		regions[i].size = region_size;
		regions[i].page_size = GUEST_PAGE_SIZE;
		regions[i].memfd = memory->memfd;
		regions[i].offset = memory->memfd >= 0 ? region_size * (uint64_t)i : 0;
	}
	return memory->region_count;
}

uint64_t guest_memory_missing_pages(const struct guest_memory *memory)
{
	uint64_t region_size = memory->region_pages * GUEST_PAGE_SIZE, missing = 0;
	unsigned char *residency = malloc(memory->region_pages);

	if (!residency)
		return memory->pages;
	for (int i = 0; i < memory->region_count; i++) {
		if (mincore(memory->region_base[i], region_size, residency)) {
			missing += memory->region_pages;
			continue;
		}
		for (uint64_t page = 0; page < memory->region_pages; page++)
			missing += !(residency[page] & 1);
	}
	free(residency);
	return missing;
}
