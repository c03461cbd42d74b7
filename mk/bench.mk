# Benchmarks: one program per question (bench/*.c), JSON lines out.
#
#   make bench-programs   native programs in build/bench/
#   make bench-static     static copies in build/bench/static/ (for the guest)
#   make bench            the whole run: bench/run (native and TCG guest rows),
#                         then bench/results.md and its charts
#   (make check runs every program once on tiny sizes: bench/tests.list)

BENCH_SRCS := $(filter-out bench/bench.c bench/tracking.c bench/damon.c,$(wildcard bench/*.c))
BENCH_NAMES := $(patsubst bench/%.c,%,$(BENCH_SRCS))
BENCH_PROGRAMS := $(addprefix build/bench/,$(BENCH_NAMES))
BENCH_STATIC := $(addprefix build/bench/static/,$(BENCH_NAMES))
BENCH_CFLAGS := $(WSET_CFLAGS) -Ibench -Itools/common
BENCH_COMMON := bench/bench.c bench/tracking.c bench/damon.c tools/common/size.c
BENCH_DEPS := bench/bench.h bench/tracking.h bench/damon.h $(BENCH_COMMON) include/wset.h mk/bench.mk

.PHONY: bench bench-programs bench-static
bench-programs: $(BENCH_PROGRAMS)
bench-static: $(BENCH_STATIC)

build/bench/%: bench/%.c $(BENCH_DEPS) $(WSET_STATIC)
	@mkdir -p $(dir $@)
	$(WSET_CC) $(BENCH_CFLAGS) $< $(BENCH_COMMON) -o $@ $(WSET_STATIC) -ljson-c -pthread

build/bench/static/%: bench/%.c $(BENCH_DEPS) $(WSET_STATIC)
	@mkdir -p $(dir $@)
	$(WSET_CC) $(BENCH_CFLAGS) -static $< $(BENCH_COMMON) -o $@ $(WSET_STATIC) -ljson-c -pthread

bench:
	@bench/run


# The smoke pass runs with the tests (bench/tests.list): natively from
# build/tests/bench/, in the guest from build/guest/bin/bench/.
BENCH_TEST_PROGRAMS := $(addprefix build/tests/bench/,$(BENCH_NAMES))
BENCH_GUEST_PROGRAMS := $(addprefix build/guest/bin/bench/,$(BENCH_NAMES))
WSET_TEST_LISTS += bench/tests.list
WSET_NATIVE_TEST_LISTS += bench/tests-native.list
tests: $(BENCH_TEST_PROGRAMS)
guest-tests: $(BENCH_GUEST_PROGRAMS)

build/tests/bench/%: build/bench/%
	@mkdir -p $(dir $@)
	cp $< $@

build/guest/bin/bench/%: build/bench/static/%
	@mkdir -p $(dir $@)
	cp $< $@

# Row 7 runs memcached under wset-run, which it finds in ../tools.
build/bench/end_to_end: | build/tools/wset-run build/tools/libwset-run.so
