# libwset-helper (helper/): the in-VMM side, linked into a VMM or injected
# by the wset-run launcher; its protocol end (helper/channel.c) is shared
# with wsetd.
#
#   make helper         build/helper/libwset-helper.so, libwset-helper.a
#   make install-helper into $(DESTDIR)$(PREFIX)

HELPER_SRCS := $(wildcard helper/*.c)
HELPER_HDRS := $(wildcard helper/*.h)
HELPER_PIC_OBJS := $(patsubst helper/%.c,build/helper/pic/%.o,$(HELPER_SRCS))
HELPER_STATIC_OBJS := $(patsubst helper/%.c,build/helper/static/%.o,$(HELPER_SRCS))
HELPER_SHARED := build/helper/libwset-helper.so
HELPER_STATIC := build/helper/libwset-helper.a
# The protocol end wsetd links.
HELPER_CHANNEL_OBJ := build/helper/static/channel.o
HELPER_CFLAGS = $(WSET_CFLAGS) -Ihelper

.PHONY: helper
all: helper
helper: $(HELPER_SHARED) $(HELPER_STATIC)

build/helper/pic/%.o: helper/%.c $(HELPER_HDRS) include/wset.h mk/helper.mk
	@mkdir -p $(dir $@)
	$(WSET_CC) $(HELPER_CFLAGS) -fPIC -c $< -o $@

build/helper/static/%.o: helper/%.c $(HELPER_HDRS) include/wset.h mk/helper.mk
	@mkdir -p $(dir $@)
	$(WSET_CC) $(HELPER_CFLAGS) -c $< -o $@

$(HELPER_SHARED): $(HELPER_PIC_OBJS) helper/libwset-helper.map
	$(WSET_CC) -shared -pthread -Wl,-soname,libwset-helper.so \
		-Wl,--version-script=helper/libwset-helper.map -Wl,-z,defs \
		-o $@ $(HELPER_PIC_OBJS) -ljson-c

$(HELPER_STATIC): $(HELPER_STATIC_OBJS)
	rm -f $@
	ar rcs $@ $^

.PHONY: install-helper
install-helper: helper
	install -d $(DESTDIR)$(PREFIX)/lib $(DESTDIR)$(PREFIX)/include
	install -m 644 helper/wset_helper.h $(DESTDIR)$(PREFIX)/include/
	install -m 755 $(HELPER_SHARED) $(HELPER_STATIC) $(DESTDIR)$(PREFIX)/lib/
