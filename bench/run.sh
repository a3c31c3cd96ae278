#!/bin/sh
# Run every benchmark program in the directory given (built by `make bench`)
# one after another, so they do not compete for the two cores.  Each prints
# its own table; the figures go into the issue notes, never into tests.
set -u

dir=${1:?usage: bench/run.sh BUILD_BENCH_DIR}
top=$(cd "$(dirname "$0")/.." && pwd)
export DKIMROT_TOP="$top"
status=0

for b in "$dir"/bench_*; do
	[ -x "$b" ] || continue
	echo "== $(basename "$b")"
	"$b" || { echo "$(basename "$b") failed" >&2; status=1; }
	echo
done
exit $status
