# wsetd (agent), wsetctl (CLI), wset-demo-vmm, their tests and the demo.
#
#   make tools          build/tools/{wsetd,wsetctl,wset-demo-vmm}
#   make tools-static   the same, static, in build/tools/static/ (for the guest)
#   make agent-tests    tests/agent/ programs in build/tests/agent/ (run by
#                       make check-native through tests/agent/tests.list)
#   make install-tools  binaries, man pages and the systemd unit into
#                       $(DESTDIR)$(PREFIX)
#   (make demo, in the top-level Makefile, runs tools/demo/run)
#
# The tools link libwset statically (build/lib/libwset.a) and json-c;
# wsetd also libwset-store (build/lib/libwset-store.a, mk/store.mk).

TOOLS_CFLAGS := $(WSET_CFLAGS) -Itools/demo-vmm -Itools/common -Ihelper
TOOLS_LIBS := -ljson-c -pthread

# tools/common: what more than one program needs.
COMMON_OBJS := $(patsubst tools/%.c,build/tools/obj/%.o,$(wildcard tools/common/*.c))
WSETD_OBJS := $(patsubst tools/%.c,build/tools/obj/%.o,$(wildcard tools/wsetd/*.c)) $(COMMON_OBJS) \
	build/helper/static/channel.o
WSETCTL_OBJS := $(patsubst tools/%.c,build/tools/obj/%.o,$(wildcard tools/wsetctl/*.c)) $(COMMON_OBJS)
DEMO_OBJS := $(patsubst tools/%.c,build/tools/obj/%.o,$(wildcard tools/demo-vmm/*.c)) $(COMMON_OBJS)
# What a VMM needs to hand its memory over, shared with the tests.
HANDOVER_OBJS := build/tools/obj/demo-vmm/handover.o build/tools/obj/demo-vmm/guest_memory.o $(COMMON_OBJS)

# The dynamic wsetd reaches systemd's fd store through libsystemd (Debian's
# libsystemd-dev, from vm/deps.sh); Debian ships no static libsystemd, so the
# static wsetd (the test guest) speaks the notify protocol itself.
SYSTEMD_LIBS := $(shell pkg-config --libs libsystemd 2>/dev/null)
WSETD_DYNAMIC_OBJS := $(filter-out build/tools/obj/wsetd/notify.o,$(WSETD_OBJS))
ifneq ($(SYSTEMD_LIBS),)
WSETD_DYNAMIC_OBJS += build/tools/obj/wsetd/notify-libsystemd.o
else
WSETD_DYNAMIC_OBJS += build/tools/obj/wsetd/notify.o
endif

TOOLS := build/tools/wsetd build/tools/wsetctl build/tools/wset-demo-vmm
TOOLS_STATIC := $(patsubst build/tools/%,build/tools/static/%,$(TOOLS))
# The launcher for unmodified VMMs: a script and its preload library, which
# carries the helper and libwset (for --in-process) and exports only the
# calls it interposes.
WSET_RUN := build/tools/wset-run build/tools/libwset-run.so

AGENT_TEST_NAMES := $(patsubst tests/agent/%.c,%,$(filter-out tests/agent/agent_test.c,$(wildcard tests/agent/*.c)))
AGENT_TESTS := $(addprefix build/tests/agent/,$(AGENT_TEST_NAMES))
AGENT_GUEST_TESTS := $(addprefix build/guest/bin/agent/,$(AGENT_TEST_NAMES))
AGENT_TEST_CFLAGS := $(TOOLS_CFLAGS) -Itests/agent -Wno-missing-field-initializers

.PHONY: tools tools-static agent-tests agent-guest-tests install-tools
all: tools
tools: $(TOOLS) $(WSET_RUN)
tools-static: $(TOOLS_STATIC)

build/tools/obj/%.o: tools/%.c $(wildcard tools/*/*.h) $(wildcard helper/*.h) include/wset.h include/wset_store.h mk/tools.mk
	@mkdir -p $(dir $@)
	$(WSET_CC) $(TOOLS_CFLAGS) -c $< -o $@

build/tools/obj/wsetd/notify-libsystemd.o: tools/wsetd/notify.c tools/wsetd/notify.h mk/tools.mk
	@mkdir -p $(dir $@)
	$(WSET_CC) $(TOOLS_CFLAGS) -DHAVE_LIBSYSTEMD $(shell pkg-config --cflags libsystemd) -c $< -o $@

build/tools/wsetd: $(WSETD_DYNAMIC_OBJS) $(STORE_STATIC) $(WSET_STATIC)
	$(WSET_CC) -o $@ $^ $(STORE_LIBS) $(TOOLS_LIBS) $(SYSTEMD_LIBS)
build/tools/wsetctl: $(WSETCTL_OBJS)
	$(WSET_CC) -o $@ $^ $(TOOLS_LIBS)
build/tools/wset-demo-vmm: $(DEMO_OBJS)
	$(WSET_CC) -o $@ $^ $(TOOLS_LIBS)

build/tools/wset-run: tools/wset-run/wset-run
	@mkdir -p $(dir $@)
	install -m 755 $< $@
build/tools/libwset-run.so: tools/wset-run/preload.c tools/wset-run/preload.map \
		tools/common/fd_name.c $(HELPER_PIC_OBJS) $(WSET_PIC_OBJS) \
		helper/wset_helper.h include/wset.h
	@mkdir -p $(dir $@)
	$(WSET_CC) $(WSET_CFLAGS) -Ihelper -fPIC -shared -Wl,-z,defs \
		-Wl,--version-script=tools/wset-run/preload.map -o $@ \
		-Itools/common tools/wset-run/preload.c tools/common/fd_name.c \
		$(HELPER_PIC_OBJS) $(WSET_PIC_OBJS) -ldl -ljson-c -pthread

build/tools/static/wsetd: $(WSETD_OBJS) $(STORE_STATIC) $(WSET_STATIC)
	@mkdir -p $(dir $@)
	$(WSET_CC) -static -o $@ $^ $(STORE_LIBS) $(TOOLS_LIBS)
build/tools/static/wsetctl: $(WSETCTL_OBJS)
	@mkdir -p $(dir $@)
	$(WSET_CC) -static -o $@ $^ $(TOOLS_LIBS)
build/tools/static/wset-demo-vmm: $(DEMO_OBJS)
	@mkdir -p $(dir $@)
	$(WSET_CC) -static -o $@ $^ $(TOOLS_LIBS)

# Agent tests find wsetd, wsetctl and the demo VMM next to themselves.
build/tests/agent/%: tests/agent/%.c tests/agent/agent_test.c tests/agent/agent_test.h $(HANDOVER_OBJS) $(HELPER_STATIC) $(TOOLS)
	@mkdir -p $(dir $@)
	cp -f $(TOOLS) $(dir $@)
	$(WSET_CC) $(AGENT_TEST_CFLAGS) -o $@ $< tests/agent/agent_test.c $(HANDOVER_OBJS) $(HELPER_STATIC) $(TOOLS_LIBS)

build/guest/bin/agent/%: tests/agent/%.c tests/agent/agent_test.c tests/agent/agent_test.h $(HANDOVER_OBJS) $(HELPER_STATIC) $(TOOLS_STATIC)
	@mkdir -p $(dir $@)
	cp -f $(TOOLS_STATIC) $(dir $@)
	$(WSET_CC) $(AGENT_TEST_CFLAGS) -static -o $@ $< tests/agent/agent_test.c $(HANDOVER_OBJS) $(HELPER_STATIC) $(TOOLS_LIBS)

agent-tests: $(AGENT_TESTS)
agent-guest-tests: $(AGENT_GUEST_TESTS)
tests: agent-tests
guest-tests: agent-guest-tests
WSET_TEST_LISTS += tests/agent/tests.list

install-tools: tools
	install -d $(DESTDIR)$(PREFIX)/sbin $(DESTDIR)$(PREFIX)/bin \
		$(DESTDIR)$(PREFIX)/share/man/man1 $(DESTDIR)$(PREFIX)/share/man/man8 \
		$(DESTDIR)$(PREFIX)/lib/systemd/system
	install -m 755 build/tools/wsetd $(DESTDIR)$(PREFIX)/sbin/
	install -m 755 build/tools/wsetctl build/tools/wset-demo-vmm build/tools/wset-run \
		$(DESTDIR)$(PREFIX)/bin/
	install -d $(DESTDIR)$(PREFIX)/lib/wset
	install -m 755 build/tools/libwset-run.so $(DESTDIR)$(PREFIX)/lib/wset/
	install -m 644 man/man1/wsetctl.1 man/man1/wset-demo-vmm.1 man/man1/wset-run.1 \
		$(DESTDIR)$(PREFIX)/share/man/man1/
	install -m 644 man/man8/wsetd.8 $(DESTDIR)$(PREFIX)/share/man/man8/
	sed 's|/usr/local/sbin/wsetd|$(PREFIX)/sbin/wsetd|' tools/wsetd/wsetd.service \
		>$(DESTDIR)$(PREFIX)/lib/systemd/system/wsetd.service
