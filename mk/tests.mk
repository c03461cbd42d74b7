# libwset tests: one program per behaviour (tests/*.c), TAP output.
#
#   make tests          native binaries in build/tests/
#   make check-native   run tests/tests.list natively through vm/tap-run
#   make guest-tests    static binaries in build/guest/bin/ and
#                       build/guest/tests.list for the QEMU harness

WSET_TEST_SRCS := $(wildcard tests/*.c)
WSET_TEST_NAMES := $(patsubst tests/%.c,%,$(WSET_TEST_SRCS))
WSET_TESTS := $(addprefix build/tests/,$(WSET_TEST_NAMES))
WSET_GUEST_TESTS := $(addprefix build/guest/bin/,$(WSET_TEST_NAMES))
WSET_TEST_CFLAGS := -std=gnu11 -O2 -g -Wall -Wextra -Werror -D_GNU_SOURCE \
	-pthread -Iinclude -Itests

.PHONY: tests check-native guest-tests
tests: $(WSET_TESTS)

# Natively the tests use the shared library, as an embedder would.
build/tests/%: tests/%.c tests/testlib.h include/wset.h $(WSET_SHARED) build/lib/libwset.so
	@mkdir -p $(dir $@)
	$(WSET_CC) $(WSET_TEST_CFLAGS) $< -o $@ -Lbuild/lib -lwset \
		-Wl,-rpath,$(CURDIR)/build/lib

build/guest/bin/%: tests/%.c tests/testlib.h include/wset.h $(WSET_STATIC)
	@mkdir -p $(dir $@)
	$(WSET_CC) $(WSET_TEST_CFLAGS) -static $< -o $@ $(WSET_STATIC)

# Other fragments add their lists (mk/tools.mk: tests/agent/tests.list).
WSET_TEST_LISTS := tests/tests.list

check-native: tests
	@cat $(WSET_TEST_LISTS) >build/tests/all.list
	@if [ -x vm/tap-run ]; then \
		vm/tap-run build/tests/all.list build/tests; \
	else \
		echo "vm/tap-run missing" >&2; exit 3; \
	fi

guest-tests: $(WSET_GUEST_TESTS)
	cat $(WSET_TEST_LISTS) >build/guest/tests.list
