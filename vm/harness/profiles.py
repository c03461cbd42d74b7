"""Guest profiles: the same kernel booted with other memory settings.

A profile sets guest settings (wset.NAME=VALUE on the kernel command line,
applied by vm/guest/init before any test runs and checked by the
guest-memory-settings test), replaces vm/tests.list with its own list, and
picks which tests of the --tests-from lists run. No profile needs another
kernel build.
"""

import collections
import os

from .common import REPO

Profile = collections.namedtuple(
    "Profile", "description settings tests project_tests")

PROFILES = {
    "thp": Profile(
        description="transparent huge pages always, for anonymous memory "
                    "and shmem, and NUMA balancing on",
        settings={"thp": "always", "shmem_thp": "always",
                  "numa_balancing": "1"},
        tests=os.path.join(REPO, "vm", "profiles", "thp.list"),
        project_tests=r"^integrity-rwp$"),
}


def kernel_arguments(profile):
    """The settings as wset.NAME=VALUE words for the kernel command line."""
    return [f"wset.{name}={value}" for name, value in profile.settings.items()]
