# wset: working-set tracking and cold-page tiering for VM guest memory.
#
#   make            build the library and tools
#   make check      every test: native, then the patched kernel in QEMU
#   make demo       the demo in QEMU on the RWP kernel (NATIVE=1: this kernel)
#   make vm-run     the harness alone: vm/run, with ARGS="..."
#   make stress     the integrity stress under chaos in QEMU, 30 minutes
#
# Parts of the build live next to their sources and are included here.

.PHONY: all check demo deps vm-run clean

all:

-include mk/*.mk

check:
	@vm/check

# The demo (tools/demo/run): in the QEMU guest on the RWP kernel, or with
# NATIVE=1 on this machine's kernel.
demo:
	@tools/demo/run $(if $(NATIVE),--native)

deps:
	@vm/deps.sh

vm-run:
	@vm/run $(ARGS)

clean:
	rm -rf build/results build/guest
