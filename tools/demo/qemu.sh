#!/bin/sh
# The QEMU demo (make demo QEMU=1), natively: wsetd, and an unmodified
# QEMU (TCG) under wset-run booting the release kernel of the series with
# a guest that fills most of its RAM and keeps a small part hot; a status
# table every few seconds, then the final table and the history (for the
# plot), then the guest checks every page.
#
# usage: tools/demo/qemu.sh KERNEL WORKDIR SECONDS
# Exit status: 0 when the guest found every page intact.
set -u
kernel=$1
workdir=$2
seconds=$3
ram=384
fill=256
hot=32

rm -rf "$workdir"
mkdir -p "$workdir"
scratch=$workdir
control=$workdir/control.sock
wsetctl="build/tools/wsetctl -s $control"
qemu_pid=
reader_pid=

. tests/qemu/guest.sh
pack_initramfs || { echo "demo: cannot pack the initramfs"; exit 1; }

here=tools/demo
. tools/demo/start-wsetd.sh
start_wsetd build/tools/wsetd "$workdir"

echo "demo: wset-run -- qemu-system-x86_64 -m $ram (memfd RAM), the guest fills $fill MiB, $hot MiB hot"
boot qemu build/tools/wset-run --socket "$workdir/vmm.sock" --name qemu --
if ! wait_for "$workdir/qemu.console" 'wset-guest: filled' 180; then
	echo "demo: the guest did not come up:"
	cat "$workdir/qemu.qemu.log" "$workdir/qemu.console"
	kill "$wsetd"
	exit 1
fi
cat "$workdir/qemu.qemu.log"
grep 'wset-guest: filled' "$workdir/qemu.console"

elapsed=0
while [ $elapsed -lt "$seconds" ]; do
	sleep 5
	elapsed=$((elapsed + 5))
	echo "--- t=${elapsed}s of ${seconds}s, QEMU RSS $(rss_kib "$qemu_pid") KiB"
	$wsetctl status
	grep 'hot rate' "$workdir/qemu.console" | tail -n 1
done

echo "=== final status"
$wsetctl status
$wsetctl history >"$workdir/history.json"
$wsetctl status --json >"$workdir/status.json"

echo "=== the guest checks every page"
bad=$(finish_guest qemu)
grep 'wset-guest: verified' "$workdir/qemu.console"
# QEMU has exited: wsetd lets go of it (its evicted pages have nowhere to
# go back to), then stops.
tries=0
until [ "$($wsetctl status --json 2>/dev/null | sed -n 's/.*"vmms":\([0-9]*\).*/\1/p' | head -n 1)" = 0 ]; do
	tries=$((tries + 1))
	[ $tries -gt 300 ] && break
	sleep 0.1
done
kill -TERM $wsetd
wait $wsetd
wsetd_status=$?
cat "$workdir/wsetd.log"
echo "demo: wsetd exit status $wsetd_status, $bad bad pages in the guest"
[ "$bad" = 0 ] && [ $wsetd_status -eq 0 ]
