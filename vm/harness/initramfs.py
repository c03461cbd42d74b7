"""The guest's initramfs: busybox, the init script, test binaries, lists."""

import os
import shutil
import subprocess

from .common import REPO, HarnessError

BUSYBOX = "/bin/busybox"
GUEST_DIR = os.path.join(REPO, "vm", "guest")


def _copy_executable(source, destination):
    shutil.copy(source, destination)
    os.chmod(destination, 0o755)


def build(root, image, binaries, test_lines, extra_files):
    """Lay out `root` and pack it into the gzip'd cpio `image`.

    binaries: files copied to /tests/bin; test_lines: the test list lines;
    extra_files: files copied to /extra (for --add).
    """
    if not os.path.exists(BUSYBOX):
        raise HarnessError("no static busybox at /bin/busybox "
                           "(run vm/deps.sh: busybox-static)")
    shutil.rmtree(root, ignore_errors=True)
    for directory in ("bin", "dev", "proc", "sys", "tmp", "tests/bin",
                      "extra"):
        os.makedirs(os.path.join(root, directory))
    _copy_executable(BUSYBOX, os.path.join(root, "bin", "busybox"))
    _copy_executable(os.path.join(GUEST_DIR, "init"), os.path.join(root, "init"))
    bindir = os.path.join(root, "tests", "bin")
    _copy_executable(os.path.join(REPO, "vm", "tap-run"),
                     os.path.join(bindir, "tap-run"))
    for check in ("check-topology", "check-memory-settings"):
        _copy_executable(os.path.join(GUEST_DIR, check),
                         os.path.join(bindir, check))
    for binary in binaries:
        destination = os.path.join(bindir, os.path.basename(binary))
        if os.path.isdir(binary):
            shutil.copytree(binary, destination, dirs_exist_ok=True)
        else:
            _copy_executable(binary, destination)
    for extra in extra_files:
        if not os.path.exists(extra):
            raise HarnessError(f"--add: no such file: {extra}")
        destination = os.path.join(root, "extra", os.path.basename(extra))
        if os.path.isdir(extra):
            shutil.copytree(extra, destination)
        else:
            shutil.copy2(extra, destination)
    with open(os.path.join(root, "tests", "list"), "w") as listing:
        listing.write("\n".join(test_lines) + "\n")

    files = subprocess.run(["find", "."], cwd=root, capture_output=True,
                           text=True, check=True).stdout
    with open(image, "wb") as out:
        cpio = subprocess.Popen(["cpio", "-o", "-H", "newc", "--quiet",
                                 "-R", "0:0"], cwd=root,
                                stdin=subprocess.PIPE, stdout=subprocess.PIPE)
        gzip = subprocess.Popen(["gzip", "-1"], stdin=cpio.stdout, stdout=out)
        cpio.stdout.close()
        cpio.communicate(files.encode())
        gzip.wait()
        if cpio.returncode or gzip.returncode:
            raise HarnessError("packing the initramfs failed")
    return image

