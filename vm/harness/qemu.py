"""Boot a kernel under QEMU (TCG), stream the guest's TAP, watch the console.

The guest writes results to its second serial port; kernel messages go to
the first. The host enforces a boot timeout (the guest must say it booted)
and a total timeout, and scans the console for kernel splats.
"""

import os
import re
import subprocess
import sys
import time

from .common import HarnessError

BOOTED = "wset-guest: booted"
DONE = re.compile(r"^wset-guest: done status (\d+)")

# Console lines that mean the kernel misbehaved, even if every test passed.
SPLATS = re.compile(
    r"BUG[: ]|WARNING:|Call Trace:|Kernel panic|Oops|KASAN|UBSAN|"
    r"general protection fault|possible circular locking|"
    r"possible recursive locking|inconsistent lock state|"
    r"suspicious RCU usage|bad unlock balance|lock held when returning|"
    r"lockdep is turned off|DEBUG_LOCKS_WARN_ON|INFO: task .* blocked for more than|"
    r"soft lockup|hard LOCKUP|RCU stall|rcu_.*detected stall")


class BootResult:
    def __init__(self):
        self.booted = False
        self.guest_status = None   # exit status of the guest's test runner
        self.timed_out = None      # "boot" or "total" when a timeout hit
        self.qemu_status = None
        self.splats = []           # console lines that look like a splat
        self.tap = []              # the guest's TAP lines


def command(image, initramfs, console, results, cpus, memory, append):
    # One TCG thread for all vCPUs: with a thread per vCPU, a vCPU spinning
    # on another (TLB shootdown, IPI) that the host has not scheduled makes
    # the uffd tests ten times slower on a busy 2-core host.
    return ["qemu-system-x86_64", "-accel", "tcg,thread=single", "-cpu", "max",
            "-smp", str(cpus), "-m", memory,
            "-kernel", image, "-initrd", initramfs, "-append", append,
            "-display", "none", "-monitor", "none", "-no-reboot",
            "-serial", f"file:{console}", "-serial", f"file:{results}"]


def boot(image, initramfs, rundir, append, boot_timeout, total_timeout,
         cpus=2, memory="2G", verbose=True, echo=sys.stdout):
    """Boot, follow the results channel until QEMU exits or time runs out."""
    console = os.path.join(rundir, "console.log")
    results = os.path.join(rundir, "results.log")
    for path in (console, results):
        open(path, "w").close()
    argv = command(image, initramfs, console, results, cpus, memory, append)
    with open(os.path.join(rundir, "qemu-command"), "w") as record:
        record.write(" ".join(argv) + "\n")
    try:
        qemu = subprocess.Popen(argv, stdin=subprocess.DEVNULL,
                                stdout=subprocess.DEVNULL,
                                stderr=open(os.path.join(rundir, "qemu.log"), "w"))
    except FileNotFoundError as error:
        raise HarnessError(f"cannot start QEMU: {error}") from error

    outcome = BootResult()
    started = time.time()
    offset = 0
    pending = ""
    while True:
        exited = qemu.poll() is not None
        with open(results, errors="replace") as stream:
            stream.seek(offset)
            chunk = stream.read()
            offset = stream.tell()
        pending += chunk
        *lines, pending = pending.split("\n")
        for line in lines:
            line = line.rstrip("\r")
            _take_line(outcome, line, verbose, echo)
        if exited:
            if pending:
                _take_line(outcome, pending.rstrip("\r"), verbose, echo)
            break
        elapsed = time.time() - started
        if not outcome.booted and elapsed > boot_timeout:
            outcome.timed_out = "boot"
        elif elapsed > total_timeout:
            outcome.timed_out = "total"
        if outcome.timed_out:
            qemu.kill()
            qemu.wait()
            break
        time.sleep(0.3)
    outcome.qemu_status = qemu.returncode
    with open(console, errors="replace") as log:
        outcome.splats = [line.rstrip() for line in log if SPLATS.search(line)]
    return outcome


def _take_line(outcome, line, verbose, echo):
    if line.startswith(BOOTED):
        outcome.booted = True
    done = DONE.match(line)
    if done:
        outcome.guest_status = int(done.group(1))
    if re.match(r"^(not )?ok \d+", line) or line.startswith("#") or \
            line.startswith("TAP version") or re.match(r"^1\.\.\d+", line):
        outcome.tap.append(line)
    # Quietly, show results and what is starting, not every test's output.
    if verbose or not line.startswith("# ") or line.startswith("# run "):
        print(line, file=echo, flush=True)
