# Benchmarks: one program per question (bench/*.c), JSON lines out.
#
#   make bench-programs   native programs in build/bench/
#   make bench-static     static copies in build/bench/static/ (for the guest)
#   make bench            the whole run: bench/run (native and TCG guest rows),
#                         then bench/results.md and its charts
#   make bench-smoke      every program once on tiny sizes (make check runs it)

BENCH_SRCS := $(filter-out bench/bench.c bench/tracking.c,$(wildcard bench/*.c))
BENCH_NAMES := $(patsubst bench/%.c,%,$(BENCH_SRCS))
BENCH_PROGRAMS := $(addprefix build/bench/,$(BENCH_NAMES))
BENCH_STATIC := $(addprefix build/bench/static/,$(BENCH_NAMES))
BENCH_CFLAGS := $(WSET_CFLAGS) -Ibench -Itools/common
BENCH_COMMON := bench/bench.c bench/tracking.c tools/common/size.c
BENCH_DEPS := bench/bench.h bench/tracking.h $(BENCH_COMMON) include/wset.h mk/bench.mk

.PHONY: bench bench-programs bench-static bench-smoke
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

bench-smoke: bench-programs
	@bench/smoke
