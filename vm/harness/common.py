"""Exit codes, logging and command helpers shared by the harness modules."""

import hashlib
import os
import subprocess
import sys
import time

# Exit codes of vm/run: part of its interface, listed in vm/README.md.
EXIT_PASS = 0
EXIT_TEST_FAILURE = 1
EXIT_KERNEL_PROBLEM = 2
EXIT_INFRASTRUCTURE = 3

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
BUILD = os.path.join(REPO, "build")
# The source trees (held exclusive to change one, shared while building),
# and one lock per flavour's build: build/.kernel-build-FLAVOUR.lock.
KERNEL_TREE_LOCK = os.path.join(BUILD, ".kernel-tree.lock")
KERNEL_BUILD_LOCK = os.path.join(BUILD, ".kernel-build-{flavour}.lock")


class HarnessError(Exception):
    """A failure that ends the run with a given exit code."""

    def __init__(self, message, code=EXIT_INFRASTRUCTURE):
        super().__init__(message)
        self.code = code


def log(message):
    stamp = time.strftime("%H:%M:%S")
    print(f"[vm {stamp}] {message}", file=sys.stderr, flush=True)


def run(args, cwd=None, env=None, log_path=None, what=None):
    """Run a command; on failure raise HarnessError naming `what`.

    With log_path the output goes to that file and its last lines are shown
    on failure; otherwise it is captured and shown on failure.
    """
    what = what or " ".join(args)
    if log_path:
        with open(log_path, "w") as out:
            result = subprocess.run(args, cwd=cwd, env=env, stdout=out,
                                    stderr=subprocess.STDOUT)
        if result.returncode != 0:
            with open(log_path, errors="replace") as out:
                tail = "".join(out.readlines()[-30:])
            raise HarnessError(f"{what} failed (exit {result.returncode}); "
                               f"last lines of {log_path}:\n{tail}")
        return ""
    result = subprocess.run(args, cwd=cwd, env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True)
    if result.returncode != 0:
        raise HarnessError(f"{what} failed (exit {result.returncode}):\n"
                           f"{result.stdout[-3000:]}")
    return result.stdout


def file_digest(paths, extra=""):
    """A digest of the names and contents of files, for cache stamps."""
    digest = hashlib.sha256(extra.encode())
    for path in paths:
        digest.update(os.path.basename(path).encode() + b"\0")
        with open(path, "rb") as handle:
            digest.update(handle.read())
        digest.update(b"\0")
    return digest.hexdigest()


def read_stamp(path):
    try:
        with open(path) as handle:
            return handle.read().strip()
    except FileNotFoundError:
        return None


def write_stamp(path, value):
    with open(path + ".tmp", "w") as handle:
        handle.write(value + "\n")
    os.replace(path + ".tmp", path)
