# libwset tests: one program per behaviour (tests/*.c), TAP output.
#
#   make tests          native binaries in build/tests/
#   make check-native   run tests/tests.list natively through vm/tap-run
#   make guest-tests    static binaries in build/guest/bin/ and
#                       build/guest/tests.list for the QEMU harness
#   make stress         the integrity stress under chaos in the release
#                       guest, not part of make check: STRESS_SECONDS
#                       (1800) per mechanism in STRESS_MECHANISMS (rwp),
#                       STRESS_ARGS for vm/run (e.g. --profile thp)

WSET_TEST_SRCS := $(wildcard tests/*.c)
WSET_TEST_NAMES := $(patsubst tests/%.c,%,$(WSET_TEST_SRCS))
WSET_TESTS := $(addprefix build/tests/,$(WSET_TEST_NAMES))
WSET_GUEST_TESTS := $(addprefix build/guest/bin/,$(WSET_TEST_NAMES))
WSET_TEST_CFLAGS := -std=gnu11 -O2 -g -Wall -Wextra -Werror -D_GNU_SOURCE \
	-pthread -Iinclude -Itests

.PHONY: tests check-native guest-tests stress
tests: $(WSET_TESTS)

# Natively the tests use the shared library, as an embedder would.
WSET_TEST_HEADERS := $(wildcard tests/*.h)
build/tests/%: tests/%.c $(WSET_TEST_HEADERS) include/wset.h $(WSET_SHARED) build/lib/libwset.so
	@mkdir -p $(dir $@)
	$(WSET_CC) $(WSET_TEST_CFLAGS) $< -o $@ -Lbuild/lib -lwset \
		-Wl,-rpath,$(CURDIR)/build/lib

build/guest/bin/%: tests/%.c $(WSET_TEST_HEADERS) include/wset.h $(WSET_STATIC)
	@mkdir -p $(dir $@)
	$(WSET_CC) $(WSET_TEST_CFLAGS) -static $< -o $@ $(WSET_STATIC)

# Other fragments add their lists (mk/tools.mk: tests/agent/tests.list);
# WSET_NATIVE_TEST_LISTS run only natively (mk/store.mk).
WSET_TEST_LISTS := tests/tests.list
WSET_NATIVE_TEST_LISTS :=

check-native: tests
	@cat $(WSET_TEST_LISTS) $(WSET_NATIVE_TEST_LISTS) >build/tests/all.list
	@if [ -x vm/tap-run ]; then \
		vm/tap-run build/tests/all.list build/tests; \
	else \
		echo "vm/tap-run missing" >&2; exit 3; \
	fi

guest-tests: $(WSET_GUEST_TESTS)
	cat $(WSET_TEST_LISTS) >build/guest/tests.list

STRESS_SECONDS ?= 1800
STRESS_MECHANISMS ?= rwp
STRESS_CHAOS ?= all
# One --exec per mechanism, each its own test with room to finish.
stress: build/guest/bin/integrity
	vm/run --flavour release $(STRESS_ARGS) --add build/guest/bin/integrity \
		--exec-timeout $$(($(STRESS_SECONDS) * 2 + 300)) \
		$(foreach mechanism,$(STRESS_MECHANISMS),--exec \
		'./integrity $(mechanism) --chaos $(STRESS_CHAOS) --seconds $(STRESS_SECONDS)')
