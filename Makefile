# wset: working-set tracking and cold-page tiering for VM guest memory.
#
#   make            build the library and tools
#   make check      every test: native, then the patched kernel in QEMU
#   make demo       the demo in QEMU on the RWP kernel (NATIVE=1: this kernel;
#                   QEMU=1: an unmodified QEMU under wset-run, natively)
#   make vm-run     the harness alone: vm/run, with ARGS="..."
#   make bench      the benchmarks (bench/run): bench/results.md and charts
#   make stress     the integrity stress under chaos in QEMU, 30 minutes
#
# Parts of the build live next to their sources and are included here.

.PHONY: all check demo deps vm-run clean

all:

# lib.mk and tests.mk first: the others use their variables in rules.
include mk/lib.mk mk/tests.mk
-include $(filter-out mk/lib.mk mk/tests.mk,$(sort $(wildcard mk/*.mk)))

check:
	@vm/check

# The demo (tools/demo/run): in the QEMU guest on the RWP kernel, or with
# NATIVE=1 on this machine's kernel.
demo:
	@tools/demo/run $(if $(NATIVE),--native)$(if $(QEMU),--qemu)

deps:
	@vm/deps.sh

vm-run:
	@vm/run $(ARGS)

clean:
	rm -rf build/results build/guest
