#!/bin/sh
# Run every test binary given, one after another (tests that share real
# servers must not race), and close with one line: "N passed, N failed".
set -u

top=$(cd "$(dirname "$0")/.." && pwd)
export DKIMROT_TOP="$top"
jobs=${TEST_JOBS:-1}
passed=0
failed=0
bad=""

for bin in "$@"; do
	name=$(basename "$bin")
	out=$(mktemp)
	"$bin" --jobs "$jobs" --short-filename ${CRITERION_ARGS:-} >"$out" 2>&1
	rc=$?
	cat "$out"
	line=$(grep -a 'Synthesis:' "$out" | tail -n 1)
	p=$(echo "$line" | sed -n 's/.*Passing: \([0-9]*\).*/\1/p')
	f=$(echo "$line" | sed -n 's/.*Failing: \([0-9]*\).*/\1/p')
	c=$(echo "$line" | sed -n 's/.*Crashing: \([0-9]*\).*/\1/p')
	passed=$((passed + ${p:-0}))
	failed=$((failed + ${f:-0} + ${c:-0}))
	if [ "$rc" -ne 0 ] || [ -z "$line" ]; then
		bad="$bad $name"
		[ -z "$line" ] && failed=$((failed + 1))
	fi
	rm -f "$out"
done

echo "tests: $passed passed, $failed failed"
if [ -n "$bad" ]; then
	echo "failing test programs:$bad" >&2
	exit 1
fi
exit 0
