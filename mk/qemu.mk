# Real QEMU under wset-run (tests/qemu/): the guest's init program, static.
#
#   make qemu-tests     build/tests/qemu/guest-workload (tests/qemu/run runs
#                       it; vm/check does after the release kernel is built)

QEMU_TEST_BINS := build/tests/qemu/guest-workload

.PHONY: qemu-tests
# (tools.mk comes later: the tools by name.)
qemu-tests: $(QEMU_TEST_BINS) build/tools/wsetd build/tools/wsetctl \
	build/tools/wset-run build/tools/libwset-run.so
tests: qemu-tests

build/tests/qemu/guest-workload: tests/qemu/guest_workload.c mk/qemu.mk
	@mkdir -p $(dir $@)
	$(WSET_CC) -std=gnu11 -O2 -Wall -Wextra -Werror -static $< -o $@
