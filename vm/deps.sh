#!/bin/sh
# Install the Debian packages that building and testing wset needs.
# Idempotent and quiet when everything is already there.
set -eu

packages="
	build-essential flex bison bc cpio kmod xz-utils rsync python3 git
	libelf-dev libssl-dev
	linux-source-6.12
	qemu-system-x86
	linux-image-cloud-amd64
	busybox-static
	pkg-config
	libjson-c-dev gnuplot-nox
	libsystemd-dev
	liblz4-dev libzstd-dev libhiredis-dev redis-server
	memcached openssl
	$*
"

missing=
for package in $packages; do
	if ! dpkg-query -W -f='${Status}' "$package" 2>/dev/null |
	     grep -q 'install ok installed'; then
		missing="$missing $package"
	fi
done
[ -z "$missing" ] && exit 0

echo "deps: installing$missing"
if [ "$(id -u)" -ne 0 ]; then
	echo "deps: need root to install packages (run as root or install them by hand)" >&2
	exit 3
fi
export DEBIAN_FRONTEND=noninteractive
apt-get update -q >/dev/null || { echo "deps: apt-get update failed" >&2; exit 3; }
# shellcheck disable=SC2086
apt-get install -y -q --no-install-recommends $missing >/dev/null ||
	{ echo "deps: apt-get install failed for:$missing" >&2; exit 3; }
