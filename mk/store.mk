# libwset-store: the tiers (lib/store/) and the chain, a library of its own
# so that libwset itself needs nothing beyond libc and pthreads.
#
#   make store          build/lib/libwset-store.so.1.1 (+ links), libwset-store.a
#   make store-tests    tests/store/ programs in build/tests/store/ (native
#                       only: they start redis-server, which the guest lacks)
#
# Depends on Debian's liblz4-dev, libzstd-dev, libhiredis-dev and libssl-dev
# (vm/deps.sh); the TLS test also runs the openssl command.

STORE_VERSION := 1.1
STORE_SONAME := libwset-store.so.1
STORE_SRCS := $(wildcard lib/store/*.c)
STORE_HDRS := include/wset_store.h include/wset.h $(wildcard lib/store/*.h)
STORE_PIC_OBJS := $(patsubst lib/store/%.c,build/lib/store/pic/%.o,$(STORE_SRCS))
STORE_STATIC_OBJS := $(patsubst lib/store/%.c,build/lib/store/static/%.o,$(STORE_SRCS))
STORE_SHARED := build/lib/libwset-store.so.$(STORE_VERSION)
STORE_STATIC := build/lib/libwset-store.a
STORE_LIBS := -llz4 -lzstd -lhiredis -lssl -lcrypto
STORE_CFLAGS := $(filter-out -Ilib,$(WSET_CFLAGS)) -Ilib/store

.PHONY: store store-tests
all: store
store: $(STORE_SHARED) build/lib/libwset-store.so $(STORE_STATIC)

build/lib/store/pic/%.o: lib/store/%.c $(STORE_HDRS) mk/store.mk
	@mkdir -p $(dir $@)
	$(WSET_CC) $(STORE_CFLAGS) -fPIC -c $< -o $@

build/lib/store/static/%.o: lib/store/%.c $(STORE_HDRS) mk/store.mk
	@mkdir -p $(dir $@)
	$(WSET_CC) $(STORE_CFLAGS) -c $< -o $@

$(STORE_SHARED): $(STORE_PIC_OBJS) lib/store/libwset-store.map build/lib/libwset.so
	$(WSET_CC) -shared -pthread -Wl,-soname,$(STORE_SONAME) \
		-Wl,--version-script=lib/store/libwset-store.map -Wl,-z,defs \
		-o $@ $(STORE_PIC_OBJS) -Lbuild/lib -lwset $(STORE_LIBS)

build/lib/libwset-store.so: $(STORE_SHARED)
	ln -sf libwset-store.so.$(STORE_VERSION) build/lib/$(STORE_SONAME)
	ln -sf $(STORE_SONAME) $@

$(STORE_STATIC): $(STORE_STATIC_OBJS)
	rm -f $@
	ar rcs $@ $^

STORE_TEST_NAMES := $(patsubst tests/store/%.c,%,$(wildcard tests/store/*.c))
STORE_TESTS := $(addprefix build/tests/store/,$(STORE_TEST_NAMES))

build/tests/store/%: tests/store/%.c tests/store/batch.h tests/redis_server.h $(WSET_TEST_HEADERS) \
		$(STORE_HDRS) build/lib/libwset-store.so build/lib/libwset.so
	@mkdir -p $(dir $@)
	$(WSET_CC) $(WSET_TEST_CFLAGS) -Itests/store $< -o $@ -Lbuild/lib \
		-lwset-store -lwset -Wl,-rpath,$(CURDIR)/build/lib

store-tests: $(STORE_TESTS)
tests: store-tests
# Natively only (make check-native), not in the guest's list.
WSET_NATIVE_TEST_LISTS += tests/store/tests.list

# bench/tiers (row 9) needs libwset-store too; the static copy is for the
# guest's smoke pass (no redis-server there: its Redis case skips).
build/bench/tiers: bench/tiers.c tests/redis_server.h $(BENCH_DEPS) $(STORE_HDRS) $(STORE_STATIC) $(WSET_STATIC)
	@mkdir -p $(dir $@)
	$(WSET_CC) $(BENCH_CFLAGS) $< $(BENCH_COMMON) -o $@ $(STORE_STATIC) $(WSET_STATIC) \
		$(STORE_LIBS) -ljson-c -pthread

build/bench/static/tiers: bench/tiers.c tests/redis_server.h $(BENCH_DEPS) $(STORE_HDRS) $(STORE_STATIC) $(WSET_STATIC)
	@mkdir -p $(dir $@)
	$(WSET_CC) $(BENCH_CFLAGS) -static $< $(BENCH_COMMON) -o $@ $(STORE_STATIC) \
		$(WSET_STATIC) $(STORE_LIBS) -ljson-c -pthread
