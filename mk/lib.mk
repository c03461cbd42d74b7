# libwset: shared and static library, pkg-config file.
#
#   make lib            build/lib/libwset.so.1.2 (+ links), libwset.a, wset.pc
#   make install-lib    into $(DESTDIR)$(PREFIX)

WSET_VERSION := 1.2
WSET_SONAME := libwset.so.1
PREFIX ?= /usr/local

WSET_CC ?= cc
WSET_CFLAGS := -std=gnu11 -O2 -g -Wall -Wextra -Werror -Wshadow \
	-Wstrict-prototypes -Wmissing-prototypes -D_GNU_SOURCE -pthread \
	-Iinclude -Ilib
WSET_LIB_SRCS := $(wildcard lib/*.c)
WSET_LIB_HDRS := include/wset.h $(wildcard lib/*.h lib/uapi/*.h)
WSET_PIC_OBJS := $(patsubst lib/%.c,build/lib/pic/%.o,$(WSET_LIB_SRCS))
WSET_STATIC_OBJS := $(patsubst lib/%.c,build/lib/static/%.o,$(WSET_LIB_SRCS))
WSET_SHARED := build/lib/libwset.so.$(WSET_VERSION)
WSET_STATIC := build/lib/libwset.a
WSET_PC := build/lib/wset.pc

.PHONY: lib install-lib
all: lib
lib: $(WSET_SHARED) build/lib/libwset.so $(WSET_STATIC) $(WSET_PC)

build/lib/pic/%.o: lib/%.c $(WSET_LIB_HDRS) mk/lib.mk
	@mkdir -p $(dir $@)
	$(WSET_CC) $(WSET_CFLAGS) -fPIC -c $< -o $@

build/lib/static/%.o: lib/%.c $(WSET_LIB_HDRS) mk/lib.mk
	@mkdir -p $(dir $@)
	$(WSET_CC) $(WSET_CFLAGS) -c $< -o $@

$(WSET_SHARED): $(WSET_PIC_OBJS) lib/libwset.map
	$(WSET_CC) -shared -pthread -Wl,-soname,$(WSET_SONAME) \
		-Wl,--version-script=lib/libwset.map -Wl,-z,defs \
		-o $@ $(WSET_PIC_OBJS)

build/lib/libwset.so: $(WSET_SHARED)
	ln -sf libwset.so.$(WSET_VERSION) build/lib/$(WSET_SONAME)
	ln -sf $(WSET_SONAME) $@

$(WSET_STATIC): $(WSET_STATIC_OBJS)
	rm -f $@
	ar rcs $@ $^

$(WSET_PC): lib/wset.pc.in mk/lib.mk
	@mkdir -p $(dir $@)
	sed -e 's|@PREFIX@|$(PREFIX)|' -e 's|@VERSION@|$(WSET_VERSION)|' $< >$@

install-lib: lib
	install -d $(DESTDIR)$(PREFIX)/lib/pkgconfig $(DESTDIR)$(PREFIX)/include \
		$(DESTDIR)$(PREFIX)/share/man/man3
	install -m 644 include/wset.h $(DESTDIR)$(PREFIX)/include/
	install -m 755 $(WSET_SHARED) $(DESTDIR)$(PREFIX)/lib/
	ln -sf libwset.so.$(WSET_VERSION) $(DESTDIR)$(PREFIX)/lib/$(WSET_SONAME)
	ln -sf $(WSET_SONAME) $(DESTDIR)$(PREFIX)/lib/libwset.so
	install -m 644 $(WSET_STATIC) $(DESTDIR)$(PREFIX)/lib/
	sed -e 's|@PREFIX@|$(PREFIX)|' -e 's|@VERSION@|$(WSET_VERSION)|' \
		lib/wset.pc.in >$(DESTDIR)$(PREFIX)/lib/pkgconfig/wset.pc
	install -m 644 man/man3/*.3 $(DESTDIR)$(PREFIX)/share/man/man3/
