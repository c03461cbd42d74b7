"""Static builds of the upstream mm selftests from the patched tree.

They are compiled against the UAPI headers of the same tree, so tests that
the series adds to uffd-unit-tests.c see the new UAPI.
"""

import glob
import os

from .common import log, run

MM = os.path.join("tools", "testing", "selftests", "mm")

# Program -> its sources in tools/testing/selftests/mm.
PROGRAMS = {
    "uffd-unit-tests": ["uffd-unit-tests.c", "uffd-common.c", "vm_util.c",
                        "thp_settings.c"],
    "uffd-stress": ["uffd-stress.c", "uffd-common.c", "vm_util.c",
                    "thp_settings.c"],
    "pagemap_ioctl": ["pagemap_ioctl.c", "vm_util.c", "thp_settings.c"],
}


def read_text(path):
    with open(path) as f:
        return f.read()


def build(tree, out, bindir):
    """Build every program into bindir; return their paths."""
    os.makedirs(bindir, exist_ok=True)
    source_dir = os.path.join(tree, MM)
    headers = os.path.join(out, "usr", "include")
    # Static PIE, not plain static: x86-64 places the brk heap of a non-PIE
    # static program anywhere in the GiB after its image, and uffd-common.c
    # maps shmem test areas at a fixed 1 GiB hint, which then failed now and
    # then ("mmap of memfd failed at 0x40000000", 1 run in 300).  A static
    # PIE has its heap far above.
    flags = ["-static-pie", "-fPIE", "-O2", "-Wall", "-U_FORTIFY_SOURCE",
             "-I", tree, "-isystem", headers,
             "-isystem", os.path.join(tree, "tools", "include", "uapi")]
    built = []
    for program, sources in PROGRAMS.items():
        target = os.path.join(bindir, program)
        # Relative names: tests use __FILE__ to name files in the guest.
        inputs = [os.path.join(source_dir, source) for source in sources]
        inputs += glob.glob(os.path.join(source_dir, "*.h"))
        inputs.append(os.path.join(headers, "linux", "userfaultfd.h"))
        newest_input = max(os.path.getmtime(path) for path in inputs)
        command = ["gcc", *flags, "-o", target, *sources, "-lrt", "-lpthread",
                   "-lm"]
        stamp = target + ".command"
        if (os.path.exists(target) and os.path.exists(stamp)
                and os.path.getmtime(target) >= newest_input
                and read_text(stamp) == " ".join(command)):
            built.append(target)
            continue
        run(command, cwd=source_dir, what=f"building selftest {program}")
        with open(stamp, "w") as f:
            f.write(" ".join(command))
        built.append(target)
    log(f"selftests: {', '.join(PROGRAMS)} built in {bindir}")
    return built
