"""The wset test harness: build a patched Linux 6.12 and run tests in QEMU."""
