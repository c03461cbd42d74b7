# Sourced by the demo scenarios (scenario.sh, qemu.sh).
# start_wsetd WSETD WORKDIR: wsetd with the demo's configuration (next to
# this file, in $here) serving $WORKDIR/vmm.sock and $control, its log in
# $WORKDIR/wsetd.log and its pid in $wsetd; returns once $wsetctl reaches
# it, or exits 1 with the log.
start_wsetd() {
	"$1" --config "$here/wsetd.conf" --socket "$2/vmm.sock" \
		--control-socket "$control" --store-dir "$2" \
		2>"$2/wsetd.log" &
	wsetd=$!
	tries=0
	until $wsetctl status >/dev/null 2>&1; do
		tries=$((tries + 1))
		if [ $tries -gt 100 ] || ! kill -0 $wsetd 2>/dev/null; then
			echo "demo: wsetd did not start:"
			cat "$2/wsetd.log"
			exit 1
		fi
		sleep 0.1
	done
}
