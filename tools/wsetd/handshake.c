// SPDX-License-Identifier: MIT
#include <fcntl.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "handshake.h"
#include "state.h"

static int fail(char *error, size_t error_size, const char *format, ...)
	__attribute__((format(printf, 3, 4)));

static int fail(char *error, size_t error_size, const char *format, ...)
{
	va_list arguments;

	va_start(arguments, format);
	vsnprintf(error, error_size, format, arguments);
	va_end(arguments);
	return -1;
}

/* A JSON integer that is not negative (json-c keeps large ones unsigned). */
static bool get_unsigned(json_object *value, uint64_t *out)
{
	if (!json_object_is_type(value, json_type_int) ||
	    json_object_get_int64(value) < 0)
		return false;
	*out = json_object_get_uint64(value);
	return true;
}

static bool is_userfaultfd(int fd)
{
	char path[64], target[64];
	ssize_t length;

	snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
	length = readlink(path, target, sizeof(target) - 1);
	if (length < 0)
		return false;
	target[length] = '\0';
	return strcmp(target, "anon_inode:[userfaultfd]") == 0;
}

/*
 * What the kernel shows of a userfaultfd in fdinfo: its file flags (only
 * O_NONBLOCK and O_CLOEXEC survive from creation; UFFD_USER_MODE_ONLY is
 * not shown) and the features word of the API line, 0 until UFFDIO_API.
 */
static void read_uffd_fdinfo(int fd, unsigned int *flags, uint64_t *features)
{
	char path[64], line[256];
	FILE *file;

	*flags = 0;
	*features = 0;
	snprintf(path, sizeof(path), "/proc/self/fdinfo/%d", fd);
	file = fopen(path, "re");
	if (!file)
		return;
	while (fgets(line, sizeof(line), file)) {
		unsigned long long api, word;

		if (sscanf(line, "flags: %o", flags) == 1)
			continue;
		if (sscanf(line, "API: %llx:%llx", &api, &word) == 2)
			*features = word;
	}
	fclose(file);
}

static int parse_region(json_object *object, int index,
			struct handshake_region *region, int fd_count,
			char *error, size_t error_size)
{
	bool has_base = false, has_size = false, has_page_size = false;
	uint64_t value;

	if (!json_object_is_type(object, json_type_object))
		return fail(error, error_size, "region %d: not a JSON object",
			    index);
	region->offset = 0;
	region->memfd_index = -1;
	json_object_object_foreach(object, key, member) {
		if (!get_unsigned(member, &value))
			return fail(error, error_size,
				    "region %d: %s: not a non-negative integer",
				    index, key);
		if (strcmp(key, "base_host_virt_addr") == 0) {
			region->base_host_virt_addr = value;
			has_base = true;
		} else if (strcmp(key, "size") == 0) {
			region->size = value;
			has_size = true;
		} else if (strcmp(key, "offset") == 0) {
			region->offset = value;
		} else if (strcmp(key, "page_size") == 0 ||
			   strcmp(key, "page_size_kib") == 0) {
			if (has_page_size)
				return fail(error, error_size,
					    "region %d: both page_size and page_size_kib",
					    index);
			has_page_size = true;
			region->page_size = key[9] ? value * 1024 : value;
		} else if (strcmp(key, "memfd") == 0) {
			if (value < 1 || value >= (uint64_t)fd_count)
				return fail(error, error_size,
					    "region %d: memfd %llu: no such fd "
					    "(received %d fds; memfd counts from 1, "
					    "fd 0 is the userfaultfd)",
					    index, (unsigned long long)value,
					    fd_count);
			region->memfd_index = (int)value;
		} else {
			return fail(error, error_size,
				    "region %d: unknown key '%s'", index, key);
		}
	}
	if (!has_base || !has_size || !has_page_size)
		return fail(error, error_size,
			    "region %d: needs base_host_virt_addr, size and page_size",
			    index);
	if (region->page_size < 4096 || region->page_size > (1ull << 30) ||
	    (region->page_size & (region->page_size - 1)))
		return fail(error, error_size,
			    "region %d: page_size %llu is not a power of two "
			    "between 4096 and 1 GiB",
			    index, (unsigned long long)region->page_size);
	if (region->memfd_index < 0 && region->page_size != 4096)
		return fail(error, error_size,
			    "region %d: anonymous memory must have page_size "
			    "4096 (huge pages need their memfd)", index);
	if (region->size == 0 || region->size % region->page_size ||
	    region->base_host_virt_addr % region->page_size ||
	    region->offset % region->page_size)
		return fail(error, error_size,
			    "region %d: base_host_virt_addr, size and offset must "
			    "be multiples of page_size %llu and size non-zero",
			    index, (unsigned long long)region->page_size);
	if (region->base_host_virt_addr + region->size <
		    region->base_host_virt_addr ||
	    region->base_host_virt_addr + region->size > (1ull << 57) ||
	    region->offset + region->size < region->offset)
		return fail(error, error_size,
			    "region %d: beyond the address space", index);
	return 0;
}

static int check_memfd(const struct handshake *handshake,
		       const struct handshake_region *region, int index,
		       char *error, size_t error_size)
{
	int fd = handshake->fds[region->memfd_index];
	struct stat status;
	int flags;

	if (fstat(fd, &status) || !S_ISREG(status.st_mode))
		return fail(error, error_size,
			    "region %d: memfd %d is not a memfd, shmem or "
			    "hugetlbfs file", index, region->memfd_index);
	flags = fcntl(fd, F_GETFL);
	if (flags < 0 || (flags & O_ACCMODE) != O_RDWR)
		return fail(error, error_size,
			    "region %d: memfd %d is not open for reading and writing",
			    index, region->memfd_index);
	if ((uint64_t)status.st_size < region->offset + region->size)
		return fail(error, error_size,
			    "region %d: memfd %d holds %lld bytes, the region "
			    "needs %llu",
			    index, region->memfd_index, (long long)status.st_size,
			    (unsigned long long)(region->offset + region->size));
	if (region->page_size != 4096 &&
	    (uint64_t)status.st_blksize != region->page_size)
		return fail(error, error_size,
			    "region %d: page_size %llu but memfd %d has pages "
			    "of %ld bytes",
			    index, (unsigned long long)region->page_size,
			    region->memfd_index, (long)status.st_blksize);
	return 0;
}

static int check_overlaps(const struct handshake *handshake, char *error,
			  size_t error_size)
{
	for (int i = 0; i < handshake->region_count; i++) {
		const struct handshake_region *a = &handshake->regions[i];

		for (int j = i + 1; j < handshake->region_count; j++) {
			const struct handshake_region *b = &handshake->regions[j];

			if (a->base_host_virt_addr < b->base_host_virt_addr + b->size &&
			    b->base_host_virt_addr < a->base_host_virt_addr + a->size)
				return fail(error, error_size,
					    "regions %d and %d overlap", i, j);
		}
	}
	return 0;
}

static int parse_name(json_object *value, struct handshake *handshake,
		      char *error, size_t error_size)
{
	const char *name;

	if (!json_object_is_type(value, json_type_string))
		return fail(error, error_size, "name: not a string");
	name = json_object_get_string(value);
	if (strlen(name) == 0 || strlen(name) >= sizeof(handshake->name))
		return fail(error, error_size, "name: must have 1 to %zu characters",
			    sizeof(handshake->name) - 1);
	for (const char *c = name; *c; c++)
		if (*c < 0x21 || *c > 0x7e || *c == '"' || *c == '\\')
			return fail(error, error_size,
				    "name: only printable ASCII without spaces, "
				    "quotes or backslashes");
	strcpy(handshake->name, name);
	return 0;
}

int handshake_parse(json_object *document, struct handshake *handshake,
		    char *error, size_t error_size)
{
	json_object *regions = document;
	bool used[HANDSHAKE_MAX_FDS] = { false };
	size_t count;

	handshake->name[0] = '\0';
	handshake->region_count = 0;
	handshake->version = 0;
	handshake->uffd_flags = -1;
	handshake->reconnect[0] = '\0';
	/* Firecracker sends the bare array; we also take {"name", "regions"}. */
	if (json_object_is_type(document, json_type_object)) {
		regions = NULL;
		json_object_object_foreach(document, key, member) {
			if (strcmp(key, "regions") == 0)
				regions = member;
			else if (strcmp(key, "name") == 0) {
				if (parse_name(member, handshake, error, error_size))
					return -1;
			} else if (strcmp(key, "version") == 0) {
				uint64_t version;

				if (!get_unsigned(member, &version) || version < 1 ||
				    version > HANDSHAKE_VERSION)
					return fail(error, error_size,
						    "version %s: this wsetd speaks 1 to %d",
						    json_object_to_json_string(member),
						    HANDSHAKE_VERSION);
				handshake->version = (int)version;
			} else if (strcmp(key, "reconnect") == 0) {
				const char *token = json_object_get_string(member);

				if (!json_object_is_type(member, json_type_string) ||
				    !state_token_valid(token))
					return fail(error, error_size,
						    "reconnect: expected the session token "
						    "(32 hex digits) wsetd answered with");
				snprintf(handshake->reconnect, sizeof(handshake->reconnect),
					 "%s", token);
			} else if (strcmp(key, "uffd_flags") == 0) {
				uint64_t flags;

				if (!get_unsigned(member, &flags))
					return fail(error, error_size,
						    "uffd_flags: not a non-negative integer");
				if (flags & HANDSHAKE_UFFD_USER_MODE_ONLY)
					return fail(error, error_size,
						    "uffd_flags %llu: a UFFD_USER_MODE_ONLY "
						    "userfaultfd is refused: KVM and vhost "
						    "accesses to guest memory would fail "
						    "instead of waiting for the page",
						    (unsigned long long)flags);
				handshake->uffd_flags = (long long)flags;
			} else
				return fail(error, error_size, "unknown key '%s'", key);
		}
		if (!regions)
			return fail(error, error_size, "no 'regions'");
	}
	if (!json_object_is_type(regions, json_type_array))
		return fail(error, error_size,
			    "expected a JSON array of regions");
	if (handshake->reconnect[0] && handshake->version < 1)
		return fail(error, error_size, "reconnect needs \"version\": 1");
	handshake->regions_json = regions;
	count = json_object_array_length(regions);
	if (count == 0 || count > HANDSHAKE_MAX_REGIONS)
		return fail(error, error_size, "%zu regions: expected 1 to %d",
			    count, HANDSHAKE_MAX_REGIONS);
	if (handshake->fd_count < 1)
		return fail(error, error_size,
			    "no userfaultfd received (SCM_RIGHTS)");
	if (!is_userfaultfd(handshake->fds[0]))
		return fail(error, error_size, "fd 0 is not a userfaultfd");
	read_uffd_fdinfo(handshake->fds[0], &handshake->uffd_fdinfo_flags,
			 &handshake->uffd_api_features);
	for (size_t i = 0; i < count; i++) {
		struct handshake_region *region = &handshake->regions[i];

		if (parse_region(json_object_array_get_idx(regions, i), (int)i,
				 region, handshake->fd_count, error, error_size))
			return -1;
		if (region->memfd_index > 0) {
			if (check_memfd(handshake, region, (int)i, error, error_size))
				return -1;
			used[region->memfd_index] = true;
		}
		handshake->region_count++;
	}
	for (int i = 1; i < handshake->fd_count; i++)
		if (!used[i])
			return fail(error, error_size,
				    "fd %d was received but no region names it "
				    "as its memfd", i);
	return check_overlaps(handshake, error, error_size);
}

void handshake_close_fds(struct handshake *handshake)
{
	for (int i = 0; i < handshake->fd_count; i++) {
		if (handshake->fds[i] >= 0)
			close(handshake->fds[i]);
		handshake->fds[i] = -1;
	}
}
