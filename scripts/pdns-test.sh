#!/bin/sh
# pdns-test.sh - start and stop a throwaway PowerDNS Authoritative server for
# the tests: SQLite backend, DNS and HTTP API on loopback only, everything
# (database, config, control socket, pid, log) inside one directory.
#
#   pdns-test.sh start DIR PORT_DNS PORT_API   prints nothing, exits 0 once
#                                              the API answers
#   pdns-test.sh stop DIR                      stops the server started in DIR
#
# The API key is written to DIR/api.key (mode 0600) for the tests to use.
set -eu

usage() {
	echo "usage: $0 start DIR PORT_DNS PORT_API | stop DIR" >&2
	exit 2
}

schema=/usr/share/pdns-backend-sqlite3/schema/schema.sqlite3.sql

start() {
	dir=$1 port_dns=$2 port_api=$3

	mkdir -p "$dir"
	dir=$(cd "$dir" && pwd)
	if [ -f "$dir/pdns.pid" ] && kill -0 "$(cat "$dir/pdns.pid")" 2>/dev/null; then
		echo "pdns-test: a server already runs in $dir" >&2
		exit 1
	fi

	# A test that crashed before its teardown leaves its server on our
	# ports: stop that one (only if it is still a pdns_server we started).
	stale="${TMPDIR:-/tmp}/dkimrot-pdns-$port_api.pid"
	if [ -f "$stale" ]; then
		old=$(cat "$stale")
		if [ "$(cat "/proc/$old/comm" 2>/dev/null)" = "pdns_server" ]; then
			kill "$old" 2>/dev/null || true
			sleep 0.3
		fi
		rm -f "$stale"
	fi

	rm -f "$dir/pdns.sqlite3"
	sqlite3 "$dir/pdns.sqlite3" <"$schema"

	# A fixed key is enough: the server listens on loopback only and lives
	# as long as one test.
	key="dkimrot-test-$(od -An -N8 -tx1 /dev/urandom | tr -d ' \n')"
	(umask 077 && printf '%s\n' "$key" >"$dir/api.key")

	cat >"$dir/pdns.conf" <<CONF
launch=gsqlite3
gsqlite3-database=$dir/pdns.sqlite3
local-address=127.0.0.1
local-port=$port_dns
socket-dir=$dir
api=yes
api-key=$key
webserver=yes
webserver-address=127.0.0.1
webserver-port=$port_api
webserver-allow-from=127.0.0.0/8
primary=yes
disable-syslog=yes
# No security-status query to the outside world: tests stay on loopback.
security-poll-suffix=
loglevel=4
CONF

	pdns_server --daemon=no --guardian=no --config-dir="$dir" \
		>"$dir/pdns.log" 2>&1 &
	echo $! >"$dir/pdns.pid"
	echo $! >"$stale"

	# Wait (at most 10 s) until the API answers.
	i=0
	while [ $i -lt 100 ]; do
		if curl -s -o /dev/null -H "X-API-Key: $key" \
			"http://127.0.0.1:$port_api/api/v1/servers/localhost" 2>/dev/null; then
			return 0
		fi
		if ! kill -0 "$(cat "$dir/pdns.pid")" 2>/dev/null; then
			echo "pdns-test: pdns_server exited; see $dir/pdns.log" >&2
			tail -n 20 "$dir/pdns.log" >&2
			exit 1
		fi
		sleep 0.1
		i=$((i + 1))
	done
	echo "pdns-test: the API on 127.0.0.1:$port_api did not answer in 10 s" >&2
	stop "$dir"
	exit 1
}

stop() {
	dir=$1

	[ -f "$dir/pdns.pid" ] || return 0
	pid=$(cat "$dir/pdns.pid")
	if kill "$pid" 2>/dev/null; then
		i=0
		while kill -0 "$pid" 2>/dev/null && [ $i -lt 50 ]; do
			sleep 0.1
			i=$((i + 1))
		done
		kill -9 "$pid" 2>/dev/null || true
	fi
	for f in "${TMPDIR:-/tmp}"/dkimrot-pdns-*.pid; do
		[ -f "$f" ] && [ "$(cat "$f")" = "$pid" ] && rm -f "$f"
	done
	rm -f "$dir/pdns.pid"
}

[ $# -ge 1 ] || usage
case "$1" in
start) [ $# -eq 4 ] || usage; start "$2" "$3" "$4" ;;
stop) [ $# -eq 2 ] || usage; stop "$2" ;;
*) usage ;;
esac
