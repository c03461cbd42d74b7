# wset: working-set tracking and cold-page tiering for VM guest memory.
#
#   make            build the library and tools
#   make check      every test: native, then the patched kernel in QEMU
#   make demo       the demo (arrives with the agent, see README.md)
#   make vm-run     the harness alone: vm/run, with ARGS="..."
#
# Parts of the build live next to their sources and are included here.

.PHONY: all check demo deps vm-run clean

all:

-include mk/*.mk

check:
	@vm/check

# Replaced by the agent's demo (issue 5); until then it says so.
demo:
	@echo "make demo: the demo arrives with wsetd; see README.md" >&2; exit 2

deps:
	@vm/deps.sh

vm-run:
	@vm/run $(ARGS)

clean:
	rm -rf build/results build/guest
