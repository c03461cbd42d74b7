# A QEMU (TCG) guest whose init is tests/qemu/guest_workload, for
# tests/qemu/run and the QEMU demo (tools/demo/qemu.sh), sourced by both.
# The caller sets scratch (a directory), kernel, ram, fill and hot (MiB),
# memory (QEMU's RAM options: $memfd_ram or $anonymous_ram once this file
# is sourced) and, for the workload to be found, runs from the top of the
# tree; qemu_pid and reader_pid name the guest running now.

# pack_initramfs: $scratch/initramfs.gz with the workload as /init.
pack_initramfs() {
	mkdir -p "$scratch/root/dev" "$scratch/root/proc"
	cp build/tests/qemu/guest-workload "$scratch/root/init" &&
	(cd "$scratch/root" && find . | cpio -o -H newc -R 0:0 --quiet | gzip -1) \
		>"$scratch/initramfs.gz"
}

now_ms() { date +%s%3N; }

# wait_for FILE PATTERN SECONDS: until a line of FILE matches
wait_for() {
	deadline=$(($(now_ms) + $3 * 1000))
	while ! grep -q "$2" "$1" 2>/dev/null; do
		[ "$(now_ms)" -lt "$deadline" ] || return 1
		kill -0 "$qemu_pid" 2>/dev/null || { grep -q "$2" "$1"; return; }
		sleep 0.1
	done
}

rss_kib() { awk '/^VmRSS:/ { print $2 }' "/proc/$1/status" 2>/dev/null || echo 0; }

# Guest RAM: a memfd backend (what vhost-user needs), or plain anonymous.
memfd_ram="-object memory-backend-memfd,id=ram,size=${ram}M -machine pc,memory-backend=ram"
anonymous_ram="-machine pc"
memory=$memfd_ram

# boot NAME [wset-run ARGS --]: QEMU in the background, its console in
# $scratch/NAME.console, its serial input $scratch/NAME.in.  devices (more
# QEMU options) and append (more kernel command line) are added when set.
boot() {
	name=$1
	shift
	mkfifo "$scratch/$name.in" "$scratch/$name.out"
	# shellcheck disable=SC2086
	"$@" qemu-system-x86_64 -accel tcg -cpu max -smp 1 -m "$ram" \
		$memory ${devices:-} \
		-kernel "$kernel" -initrd "$scratch/initramfs.gz" \
		-append "console=ttyS0 quiet panic=-1 fill_mib=$fill hot_mib=$hot${append:+ $append}" \
		-display none -nodefaults -no-reboot \
		-chardev "pipe,id=console,path=$scratch/$name" -serial chardev:console \
		>"$scratch/$name.qemu.log" 2>&1 &
	qemu_pid=$!
	cat "$scratch/$name.out" >"$scratch/$name.console" &
	reader_pid=$!
}

# finish_guest NAME: ask for the check, wait for it, echo the bad pages
finish_guest() {
	printf 'v\n' >"$scratch/$1.in"
	wait_for "$scratch/$1.console" 'wset-guest: verified' 300 || { echo -1; return; }
	wait "$qemu_pid" 2>/dev/null
	qemu_pid=
	kill "$reader_pid" 2>/dev/null
	reader_pid=
	sed -n 's/.*verified [0-9]* pages, \([0-9]*\) bad.*/\1/p' "$scratch/$1.console"
}

