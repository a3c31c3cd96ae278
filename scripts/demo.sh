#!/bin/sh
# demo.sh - dkimrot's main job on its own: a local BIND primary and
# secondary serving two demo zones, a demo configuration with short timings,
# and the daemon driving two full rotations of each domain's key while
# `dkimrot status` shows them.  Stops what it started; leaves the files.
#
#   make demo                      (or: DKIMROT_BIN=build/dkimrot sh scripts/demo.sh)
#
# DKIMROT_DEMO_DIR (default /tmp/dkimrot-demo) and DKIMROT_DEMO_PORT
# (default 25800, the primary; the secondary is the next port) move it.
set -eu

top=$(cd "$(dirname "$0")/.." && pwd)
bin=${DKIMROT_BIN:-$top/build/dkimrot}
dir=${DKIMROT_DEMO_DIR:-/tmp/dkimrot-demo}
port=${DKIMROT_DEMO_PORT:-25800}
sport=$((port + 1))
py=/usr/bin/python3
daemon_pid=""

say() {
	printf '\n== %s\n' "$*"
}

cleanup() {
	if [ -n "$daemon_pid" ] && kill -0 "$daemon_pid" 2>/dev/null; then
		kill -TERM "$daemon_pid" 2>/dev/null || true
		wait "$daemon_pid" 2>/dev/null || true
	fi
	sh "$top/scripts/bind-pair.sh" stop "$dir/bind" >/dev/null 2>&1 || true
}
trap cleanup EXIT
trap 'exit 130' INT TERM

[ -x "$bin" ] || { echo "demo: $bin is missing: run 'make' first" >&2; exit 1; }

rm -rf "$dir"
mkdir -p "$dir"
dir=$(cd "$dir" && pwd)

say "Starting a BIND primary (127.0.0.1:$port) and secondary (:$sport) for demo.test and example.test"
# A short negative TTL (SOA minimum) keeps the wait before each switch short.
BIND_PAIR_NEG_TTL=2 sh "$top/scripts/bind-pair.sh" start "$dir/bind" "$port" \
	demo.test example.test

# The MTA (zdkimfilter/Courier here) reads keys as group "daemon".
mkdir -p "$dir/keys"
chgrp daemon "$dir/keys"
chmod 0750 "$dir/keys"

cat >"$dir/dkimrot.conf" <<EOF
# Written by scripts/demo.sh: real steps, timings short enough to watch.
state_db = "state.db";

policy = {
  algorithm    = "rsa-2048";
  rotate_every = "1m";          # real use: "90d"
  grace        = "10s";         # real use: "7d"
  ttl          = 5;             # real use: 3600
  selector     = "d%H%M%S";     # a new name each rotation, easy to follow
  propagation_timeout = "20s";
};

dns = (
  { name = "primary"; type = "rfc2136"; server = "127.0.0.1"; port = $port;
    tsig = { name = "dkimrot"; algorithm = "hmac-sha256";
             secret_file = "bind/tsig.secret"; }; }
);

mta = (
  { name = "courier"; type = "zdkimfilter"; keys_dir = "keys"; group = "daemon"; }
);

domains = (
  { domain = "demo.test"; dns = "primary"; mta = "courier";
    nameservers = [ "127.0.0.1:$port", "127.0.0.1:$sport" ]; },
  { domain = "example.test"; dns = "primary"; mta = "courier"; algorithm = "ed25519";
    nameservers = [ "127.0.0.1:$port", "[::1]:$sport" ]; }
);
EOF

run() {
	echo "\$ dkimrot $*"
	"$bin" -c "$dir/dkimrot.conf" "$@"
}

say "Checking the configuration and the system"
run check || true

say "What the next three minutes hold (a dry run: nothing changes)"
run plan --at +3m

say "Starting the daemon (log: $dir/daemon.log)"
"$bin" -c "$dir/dkimrot.conf" daemon --foreground >"$dir/daemon.log" 2>&1 &
daemon_pid=$!

# Two full rotations: each domain's first two keys destroyed, a third signs.
destroyed() {
	"$bin" -q -c "$dir/dkimrot.conf" status --json | "$py" -c '
import json, sys
doc = json.load(sys.stdin)
print(min(sum(k["state"] == "destroyed" for k in d["keys"]) for d in doc["domains"]))'
}

start=$(date +%s)
while :; do
	sleep 10
	now=$(date +%s)
	say "status after $((now - start))s"
	run status
	kill -0 "$daemon_pid" 2>/dev/null || { echo "demo: the daemon died; see $dir/daemon.log" >&2; exit 1; }
	[ "$(destroyed)" -ge 2 ] && break
	if [ $((now - start)) -gt 420 ]; then
		echo "demo: two rotations did not finish in 7 minutes; see $dir/daemon.log" >&2
		exit 1
	fi
done

say "Every nameserver, asked now"
run status --dns

say "A message signed with the key the MTA uses verifies against both nameservers"
link=$(readlink "$dir/keys/demo.test")
sel=${link#demo.test.}
sel=${sel%.private}
"$py" "$top/scripts/dkim-verify.py" "$dir/keys/$link" "$sel" demo.test \
	"127.0.0.1:$port" "127.0.0.1:$sport"

say "Stopping the daemon (SIGTERM) and the nameservers"
kill -TERM "$daemon_pid"
wait "$daemon_pid" || true
daemon_pid=""

cat <<EOF

Done: two full rotations of demo.test (rsa-2048) and example.test (ed25519).
  configuration   $dir/dkimrot.conf
  state database  $dir/state.db      (dkimrot -c $dir/dkimrot.conf status)
  daemon log      $dir/daemon.log
  MTA keys        $dir/keys           (demo.test -> $link)
  nameservers     $dir/bind           (stopped)
EOF
