#!/bin/sh
# The demo scenario, natively or in the guest: wsetd and one demo VMM, a
# status table every few seconds, then the final table, the history (for
# the plot), and SIGTERM: wsetd returns every page and the VMM checks all
# of its memory.
#
# usage: scenario.sh BINDIR WORKDIR SECONDS MEMORY
# Exit status: 0 when wsetd stopped cleanly and the VMM verified every page.
set -u
bindir=$1
workdir=$2
seconds=$3
memory=$4
here=$(dirname "$0")

rm -rf "$workdir"
mkdir -p "$workdir"
control=$workdir/control.sock
wsetctl="$bindir/wsetctl -s $control"

. "$here/start-wsetd.sh"
start_wsetd "$bindir/wsetd" "$workdir"

"$bindir/wset-demo-vmm" --socket "$workdir/vmm.sock" --memory "$memory" \
	--duration 0 --phase 12 --report 4 >"$workdir/vmm.log" 2>&1 &
vmm=$!

elapsed=0
while [ $elapsed -lt "$seconds" ]; do
	sleep 5
	elapsed=$((elapsed + 5))
	if ! kill -0 $vmm 2>/dev/null; then
		echo "demo: the demo VMM stopped early:"
		cat "$workdir/vmm.log"
		break
	fi
	echo "--- t=${elapsed}s of ${seconds}s"
	$wsetctl status
	grep 'demo-vmm: t=' "$workdir/vmm.log" | tail -n 1
done

echo "=== final status"
$wsetctl status
$wsetctl history >"$workdir/history.json"
$wsetctl metrics >"$workdir/metrics.prom"
$wsetctl status --json >"$workdir/status.json"

echo "=== SIGTERM to wsetd: every evicted page goes back to the VMM"
kill -TERM $wsetd
wait $wsetd
wsetd_status=$?
wait $vmm
vmm_status=$?
cat "$workdir/wsetd.log"
tail -n 3 "$workdir/vmm.log"
echo "demo: wsetd exit status $wsetd_status, demo VMM exit status $vmm_status"
[ $wsetd_status -eq 0 ] && [ $vmm_status -eq 0 ]
