"""Configure and build a kernel flavour out of tree, under the build locks."""

import fcntl
import os
import re
import shutil
import threading
import time

from .common import (KERNEL_BUILD_LOCK, KERNEL_TREE_LOCK, REPO, HarnessError,
                     file_digest, log, read_stamp, run, write_stamp)

CONFIG_DIR = os.path.join(REPO, "kernel", "config")

# Each flavour is tinyconfig plus these fragments, in order.
FLAVOURS = {
    "release": ["base.config"],
    "debug": ["base.config", "debug.config"],
}


def fragments(flavour):
    if flavour not in FLAVOURS:
        raise HarnessError(f"unknown flavour '{flavour}' "
                           f"(known: {', '.join(FLAVOURS)})")
    return [os.path.join(CONFIG_DIR, name) for name in FLAVOURS[flavour]]


def requested_options(paths):
    """Map each option a fragment sets to its value ('n' when unset)."""
    wanted = {}
    for path in paths:
        with open(path) as fragment:
            for number, line in enumerate(fragment, 1):
                line = line.strip()
                unset = re.match(r"^# (CONFIG_\w+) is not set$", line)
                if unset:
                    wanted[unset.group(1)] = "n"
                    continue
                if not line or line.startswith("#"):
                    continue
                match = re.match(r"^(CONFIG_\w+)=(.+)$", line)
                if not match:
                    raise HarnessError(f"{path}:{number}: cannot parse '{line}'")
                wanted[match.group(1)] = match.group(2)
    return wanted


def config_values(path):
    values = {}
    with open(path) as config:
        for line in config:
            match = re.match(r"^(CONFIG_\w+)=(.+)$", line.strip())
            if match:
                values[match.group(1)] = match.group(2)
    return values


def check_options(config_path, paths):
    """Fail unless every option the fragments ask for survived olddefconfig."""
    have = config_values(config_path)
    lost = []
    for option, value in requested_options(paths).items():
        got = have.get(option, "n")
        if got != value:
            lost.append(f"{option}={value} (got {got})")
    if lost:
        raise HarnessError("options did not survive olddefconfig:\n  " +
                           "\n  ".join(lost))


def _lock(path, mode, what):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    handle = open(path, "w")
    try:
        fcntl.flock(handle, mode | fcntl.LOCK_NB)
    except BlockingIOError:
        log(f"kernel: waiting for {what}")
        fcntl.flock(handle, mode)
    return handle


class TreeLock:
    """Held while a run prepares its source tree: nothing builds from the
    trees meanwhile."""

    def __enter__(self):
        self.handle = _lock(KERNEL_TREE_LOCK, fcntl.LOCK_EX,
                            "the kernel builds to finish before the tree changes")
        return self

    def __exit__(self, *exc):
        fcntl.flock(self.handle, fcntl.LOCK_UN)
        self.handle.close()


class BuildLock:
    """One build of a flavour at a time on this machine, whoever starts it;
    the release and the debug kernel may build side by side (vm/check builds
    the debug kernel beside the release tests).  Holds the trees shared, so
    that no run rewrites a tree under a build."""

    def __init__(self, flavour):
        self.flavour = flavour

    def __enter__(self):
        self.tree = _lock(KERNEL_TREE_LOCK, fcntl.LOCK_SH,
                          "a kernel tree being prepared")
        self.handle = _lock(KERNEL_BUILD_LOCK.format(flavour=self.flavour),
                            fcntl.LOCK_EX,
                            f"another {self.flavour} kernel build to finish")
        return self

    def __exit__(self, *exc):
        for handle in (self.handle, self.tree):
            fcntl.flock(handle, fcntl.LOCK_UN)
            handle.close()


def configure(tree, out, flavour):
    """Write out/.config from tinyconfig and the flavour's fragments.

    The config is made in a scratch directory and copied over only when it
    differs, so an unchanged config never triggers a rebuild.
    """
    paths = fragments(flavour)
    key = file_digest(paths + [os.path.join(tree, "mm", "Kconfig"),
                               os.path.join(tree, "fs", "Kconfig")])
    stamp = os.path.join(out, "config.stamp")
    config = os.path.join(out, ".config")
    if read_stamp(stamp) == key and os.path.exists(config):
        return
    scratch = out + ".config-scratch"
    shutil.rmtree(scratch, ignore_errors=True)
    os.makedirs(scratch)
    log_path = os.path.join(scratch, "config.log")
    run(["make", f"O={scratch}", "tinyconfig"], cwd=tree, log_path=log_path,
        what="make tinyconfig")
    run([os.path.join(tree, "scripts/kconfig/merge_config.sh"), "-m", "-O",
         scratch, os.path.join(scratch, ".config"), *paths], cwd=tree,
        log_path=log_path, what="merge_config.sh")
    run(["make", f"O={scratch}", "olddefconfig"], cwd=tree, log_path=log_path,
        what="make olddefconfig")
    check_options(os.path.join(scratch, ".config"), paths)
    os.makedirs(out, exist_ok=True)
    new = open(os.path.join(scratch, ".config")).read()
    if not os.path.exists(config) or open(config).read() != new:
        shutil.copy(os.path.join(scratch, ".config"), config)
        log(f"kernel: new {flavour} config written to {config}")
    shutil.rmtree(scratch)
    write_stamp(stamp, key)


def _show_progress(log_path, done, started):
    """Print a progress line every 20 s while a build runs."""
    while not done.wait(20):
        try:
            with open(log_path, errors="replace") as build_log:
                lines = build_log.readlines()
        except FileNotFoundError:
            continue
        last = lines[-1].strip() if lines else ""
        log(f"kernel: building, {int(time.time() - started)} s, "
            f"{len(lines)} steps, at: {last[:70]}")


def build(tree, out, flavour):
    """Build bzImage and install UAPI headers into out/usr/include.

    The caller holds BuildLock(flavour).
    """
    os.makedirs(out, exist_ok=True)
    configure(tree, out, flavour)
    check_options(os.path.join(out, ".config"), fragments(flavour))
    log_path = os.path.join(out, "build.log")
    log(f"kernel: building {flavour} in {out} (log: {log_path})")
    started = time.time()
    done = threading.Event()
    ticker = threading.Thread(target=_show_progress,
                              args=(log_path, done, started), daemon=True)
    ticker.start()
    try:
        run(["make", f"O={out}", f"-j{os.cpu_count() or 2}", "bzImage"],
            cwd=tree, log_path=log_path, what=f"kernel build ({flavour})")
    finally:
        done.set()
    log(f"kernel: {flavour} built in {int(time.time() - started)} s")
    run(["make", f"O={out}", "headers_install"], cwd=tree,
        log_path=os.path.join(out, "headers.log"), what="headers_install")
    image = os.path.join(out, "arch", "x86", "boot", "bzImage")
    if not os.path.exists(image):
        raise HarnessError(f"no kernel image at {image}")
    return image


def release_string(out):
    path = os.path.join(out, "include", "config", "kernel.release")
    return read_stamp(path) or "unknown"


