"""The kernel source: Debian's linux-source-6.12, a pristine git repository
of it, and one work tree per run name with the patch series applied.

Applying a changed series checks out only the files whose content changed,
so the kernel build that follows is incremental.
"""

import glob
import os
import re
import shutil
import subprocess
import tempfile

from .common import (BUILD, HarnessError, file_digest, log, read_stamp, run,
                     write_stamp)

TARBALL = "/usr/src/linux-source-6.12.tar.xz"
PACKAGE = "linux-source-6.12"
PRISTINE = os.path.join(BUILD, "linux")
BASE_TAG = "base"


def git(*args, cwd=PRISTINE, env=None):
    return run(["git", "-c", "user.name=wset harness",
                "-c", "user.email=harness@wset.invalid", *args],
               cwd=cwd, env=env, what="git " + " ".join(args[:2]))


def package_version():
    out = subprocess.run(["dpkg-query", "-W", "-f=${Version}", PACKAGE],
                         capture_output=True, text=True)
    if out.returncode != 0:
        raise HarnessError(f"{PACKAGE} is not installed (run vm/deps.sh)")
    return out.stdout.strip()


def ensure_pristine():
    """Extract the Debian source once into a git repository tagged `base`."""
    version = package_version()
    stamp = os.path.join(BUILD, "linux.version")
    if read_stamp(stamp) == version and os.path.isdir(PRISTINE + "/.git"):
        return version
    if os.path.isdir(PRISTINE):
        log(f"source: {PACKAGE} changed to {version}; extracting again")
        shutil.rmtree(PRISTINE)
    os.makedirs(BUILD, exist_ok=True)
    log(f"source: extracting {TARBALL} ({PACKAGE} {version})")
    scratch = tempfile.mkdtemp(dir=BUILD, prefix="extract.")
    run(["tar", "-xf", TARBALL, "-C", scratch], what="extracting the source")
    os.rename(os.path.join(scratch, "linux-source-6.12"), PRISTINE)
    os.rmdir(scratch)
    log("source: importing into git (about 30 s)")
    git("init", "-q")
    git("config", "gc.auto", "0")
    # Debian's top-level .gitignore ignores the whole tree: force the add.
    git("add", "-A", "-f")
    git("commit", "-q", "-m", f"Linux {kernel_release(PRISTINE)} "
        f"(Debian {PACKAGE} {version})")
    git("tag", BASE_TAG)
    write_stamp(stamp, version)
    return version


def kernel_release(tree):
    """VERSION.PATCHLEVEL.SUBLEVEL from a tree's Makefile."""
    fields = {}
    with open(os.path.join(tree, "Makefile")) as makefile:
        for line in makefile:
            match = re.match(r"^(VERSION|PATCHLEVEL|SUBLEVEL) = (\d+)", line)
            if match:
                fields[match.group(1)] = match.group(2)
            if len(fields) == 3:
                break
    return f"{fields['VERSION']}.{fields['PATCHLEVEL']}.{fields['SUBLEVEL']}"


def series_patches(series_dir):
    """The patches of a series in order; a cover letter carries no diff."""
    patches = sorted(glob.glob(os.path.join(series_dir, "*.patch")))
    with_diffs = []
    for patch in patches:
        with open(patch, errors="replace") as handle:
            if re.search(r"^diff --git ", handle.read(), re.M):
                with_diffs.append(patch)
    return with_diffs


def _series_digest(series_dir):
    patches = series_patches(series_dir) if os.path.isdir(series_dir) else []
    return patches, file_digest(patches, extra=git("rev-parse", BASE_TAG).strip())


def current_tree(name, series_dir):
    """The work tree for `name` if it has `series_dir` applied already, on
    the current source package; None when prepare_tree() has work to do."""
    series_dir = os.path.abspath(series_dir)
    workdir = os.path.join(BUILD, "vm", name)
    tree = os.path.join(workdir, "src")
    if read_stamp(os.path.join(BUILD, "linux.version")) != package_version() or \
            not os.path.isdir(PRISTINE + "/.git") or not os.path.exists(tree + "/.git"):
        return None
    if read_stamp(os.path.join(workdir, "series.stamp")) != _series_digest(series_dir)[1]:
        return None
    return tree


def prepare_tree(name, series_dir):
    """Return the work tree for `name` with `series_dir` applied."""
    series_dir = os.path.abspath(series_dir)
    ensure_pristine()
    workdir = os.path.join(BUILD, "vm", name)
    tree = os.path.join(workdir, "src")
    os.makedirs(workdir, exist_ok=True)
    if not os.path.isdir(os.path.join(tree, ".git")) and \
            not os.path.isfile(os.path.join(tree, ".git")):
        log(f"source: creating work tree {tree}")
        git("worktree", "prune")
        git("worktree", "add", "-q", "--detach", tree, BASE_TAG)

    patches, digest = _series_digest(series_dir)
    stamp = os.path.join(workdir, "series.stamp")
    if read_stamp(stamp) == digest:
        log(f"source: {len(patches)} patches already applied in {tree}")
        return tree

    # Build the patched tree in a private index, then check it out: git
    # rewrites only the files whose content differs from what is there.
    index = os.path.join(workdir, "series.index")
    env = dict(os.environ, GIT_INDEX_FILE=index)
    git("read-tree", BASE_TAG, cwd=tree, env=env)
    for patch in patches:
        result = subprocess.run(["git", "apply", "--cached", patch], cwd=tree,
                                env=env, capture_output=True, text=True)
        if result.returncode != 0:
            raise HarnessError(f"patch {os.path.basename(patch)} does not "
                               f"apply:\n{result.stderr.strip()}")
    tree_id = git("write-tree", cwd=tree, env=env).strip()
    os.unlink(index)
    commit = git("commit-tree", tree_id, "-p", BASE_TAG, "-m",
                 f"series {os.path.abspath(series_dir)} ({len(patches)} patches)",
                 cwd=tree).strip()
    git("checkout", "-q", "-f", "--detach", commit, cwd=tree)
    write_stamp(stamp, digest)
    log(f"source: applied {len(patches)} patches from {series_dir}")
    return tree
