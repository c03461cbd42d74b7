# TAP output for the scripts of tests/qemu, sourced by them: ok, diag,
# skip_all and finish (exit 0 when every test passed, else 1).
tests=0
failures=0
ok() { # CONDITION-STATUS DESCRIPTION
	tests=$((tests + 1))
	if [ "$1" -eq 0 ]; then
		echo "ok $tests - $2"
	else
		echo "not ok $tests - $2"
		failures=$((failures + 1))
	fi
}
diag() { echo "# $*"; }
skip_all() { echo "1..0 # SKIP $*"; exit 4; }
finish() {
	echo "1..$tests"
	[ "$failures" -eq 0 ]
	exit $?
}
