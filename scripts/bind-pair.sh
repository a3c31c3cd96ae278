#!/bin/sh
# bind-pair.sh - a BIND 9 primary and secondary on loopback high ports, for
# the tests and benchmarks that need real nameservers.
#
#   bind-pair.sh start DIR PORT [ZONE ...]   (default zone: example.test)
#   bind-pair.sh stop DIR
#
# start writes everything into DIR and prints "primary PID" and
# "secondary PID".  The primary listens on 127.0.0.1 and ::1 port PORT, the
# secondary on PORT+1; neither has a control channel.  Each zone has an SOA
# (TTL 600, minimum 300, refresh 60), two NS names whose A records are
# 127.0.0.1 (the ports are configured, never taken from NS), a few other
# names, and a foreign DKIM record at legacy._domainkey.ZONE.  When
# DIR/ZONE.extra exists it is appended to the zone file (the benchmark puts
# thousands of records there).  When DIR/ZONE.policy exists its lines are
# added to the zone's update-policy (a test with a domain below the apex
# grants "subdomain _domainkey.SUB.ZONE TXT" there).
#
# TSIG: key "dkimrot" (hmac-sha256, secret in DIR/tsig.secret) may change
# only TXT records at or below _domainkey.ZONE; any other name is REFUSED by
# the update policy.  Keys "dkimrot-sha512", "dkimrot-sha1" and
# "dkimrot-md5" (DIR/tsig-sha512.secret ...) have the same rights.  Every
# secret file is mode 0600.
#
# The primary sends NOTIFY at once (notify-delay 0) to the secondary's
# port; the secondary transfers from the primary.  start waits (at most
# 20 s) until both servers answer every zone's SOA with the AA bit.
# stop sends SIGCONT (a test may have paused the secondary) and SIGTERM,
# waits (at most 10 s), then SIGKILLs whatever named still runs on DIR.
set -eu

usage() {
	echo "usage: $0 start DIR PORT [ZONE ...] | stop DIR" >&2
	exit 2
}

# The pids of every named started with a configuration file inside DIR.
pids_of() {
	pgrep -f -- "named -c $1/" 2>/dev/null || true
}

secret_new() {
	# $1 bytes of randomness, base64
	openssl rand -base64 "$1"
}

write_key() {
	# name algorithm secret-file
	sec=$(secret_new 32)
	(umask 077 && printf '%s\n' "$sec" >"$3")
	chmod 0600 "$3"
	printf 'key "%s" { algorithm %s; secret "%s"; };\n' "$1" "$2" "$sec"
}

write_zone() {
	# zone file
	z=$1
	cat >"$2" <<EOF
\$TTL 600
@		600 IN SOA ns1.$z. hostmaster.$z. 1 60 30 86400 ${BIND_PAIR_NEG_TTL:-300}
@		IN NS	ns1.$z.
@		IN NS	ns2.$z.
ns1		IN A	127.0.0.1
ns2		IN A	127.0.0.1
www		IN A	127.0.0.1
@		IN TXT	"v=spf1 -all"
_domainkey	IN TXT	"o=-"
legacy._domainkey IN TXT "v=DKIM1; k=rsa; p=MFwwDQYJKoZIhvcNAQEBBQADSwAwSAJBAKHjRMrpT07zPAdPQ8wZ2rMOs9pQBB9Sd8Z3CbDGOmyaMiVz5aNwqYL3vMhzK1ZC4YcnEVnNc0k2ZfLHrCrTJRkCAwEAAQ=="
EOF
	if [ -f "$DIR/$z.extra" ]; then
		cat "$DIR/$z.extra" >>"$2"
	fi
}

conf_common() {
	# role port
	cat <<EOF
include "$DIR/keys.conf";
controls { };
options {
	directory "$DIR/$1";
	pid-file "$DIR/$1.pid";
	session-keyfile none;
	listen-on port $2 { 127.0.0.1; };
	listen-on-v6 port $2 { ::1; };
	recursion no;
	dnssec-validation no;
	notify-delay 0;
	notify-source 127.0.0.1;
	notify-source-v6 ::1;
	transfer-source 127.0.0.1;
	min-refresh-time 5;
	min-retry-time 5;
	allow-transfer { 127.0.0.1; ::1; };
	allow-query { any; };
	max-journal-size 10m;
};
logging {
	channel f { file "$DIR/$1.log" versions 0 size 20m; severity info; print-time yes; };
	category default { f; };
	category lame-servers { null; };
};
EOF
}

wait_soa() {
	# port zone: true once the server answers the zone's SOA with AA
	out=$(dig +norec +time=1 +tries=1 -p "$1" @127.0.0.1 "$2" SOA 2>/dev/null) || return 1
	echo "$out" | grep -q 'status: NOERROR' && echo "$out" | grep -q 'flags: qr aa'
}

start() {
	[ $# -ge 2 ] || usage
	DIR=$1
	PORT=$2
	shift 2
	[ $# -gt 0 ] || set -- example.test
	SPORT=$((PORT + 1))
	mkdir -p "$DIR/primary" "$DIR/secondary"
	DIR=$(cd "$DIR" && pwd)

	if [ -n "$(pids_of "$DIR")" ]; then
		echo "bind-pair: a named already runs in $DIR; stop it first" >&2
		exit 1
	fi

	# named binds with SO_REUSEPORT: a second server on the same port starts
	# without complaint and the two answer each other's queries.  Refuse.
	if command -v ss >/dev/null 2>&1 &&
		[ -n "$(ss -Hlnu "( sport = :$PORT or sport = :$SPORT )" 2>/dev/null)" ]; then
		echo "bind-pair: port $PORT or $SPORT is already in use (another test run?)" >&2
		exit 1
	fi

	{
		write_key dkimrot hmac-sha256 "$DIR/tsig.secret"
		write_key dkimrot-sha512 hmac-sha512 "$DIR/tsig-sha512.secret"
		write_key dkimrot-sha1 hmac-sha1 "$DIR/tsig-sha1.secret"
		write_key dkimrot-md5 hmac-md5 "$DIR/tsig-md5.secret"
	} >"$DIR/keys.conf"
	chmod 0600 "$DIR/keys.conf"

	conf_common primary "$PORT" >"$DIR/primary.conf"
	conf_common secondary "$SPORT" >"$DIR/secondary.conf"
	for z in "$@"; do
		write_zone "$z" "$DIR/primary/$z.db"
		rm -f "$DIR/primary/$z.db.jnl" "$DIR/secondary/$z.db" "$DIR/secondary/$z.db.jnl"
		cat >>"$DIR/primary.conf" <<EOF
zone "$z" {
	type primary;
	file "$DIR/primary/$z.db";
	notify explicit;
	also-notify { 127.0.0.1 port $SPORT; };
	update-policy {
		grant dkimrot subdomain _domainkey.$z TXT;
		grant dkimrot-sha512 subdomain _domainkey.$z TXT;
		grant dkimrot-sha1 subdomain _domainkey.$z TXT;
		grant dkimrot-md5 subdomain _domainkey.$z TXT;
$(cat "$DIR/$z.policy" 2>/dev/null || true)
	};
};
EOF
		cat >>"$DIR/secondary.conf" <<EOF
zone "$z" {
	type secondary;
	file "$DIR/secondary/$z.db";
	primaries { 127.0.0.1 port $PORT; };
	notify no;
};
EOF
	done

	named-checkconf "$DIR/primary.conf"
	named-checkconf "$DIR/secondary.conf"

	# -n 1: one worker thread each; the machine is shared.
	named -c "$DIR/primary.conf" -f -n 1 >"$DIR/primary.out" 2>&1 &
	echo $! >"$DIR/primary.pidfile"
	named -c "$DIR/secondary.conf" -f -n 1 >"$DIR/secondary.out" 2>&1 &
	echo $! >"$DIR/secondary.pidfile"

	tries=0
	for z in "$@"; do
		until wait_soa "$PORT" "$z" && wait_soa "$SPORT" "$z"; do
			tries=$((tries + 1))
			if [ "$tries" -ge 100 ]; then
				echo "bind-pair: servers in $DIR did not answer $z within 20 s" >&2
				tail -n 5 "$DIR/primary.log" "$DIR/secondary.log" >&2 || true
				stop "$DIR"
				exit 1
			fi
			sleep 0.2
		done
	done
	echo "primary $(cat "$DIR/primary.pidfile")"
	echo "secondary $(cat "$DIR/secondary.pidfile")"
}

stop() {
	[ $# -ge 1 ] || usage
	DIR=$(cd "$1" 2>/dev/null && pwd) || exit 0
	for pid in $(cat "$DIR/primary.pidfile" "$DIR/secondary.pidfile" 2>/dev/null) \
		$(pids_of "$DIR"); do
		kill -CONT "$pid" 2>/dev/null || true
		kill -TERM "$pid" 2>/dev/null || true
	done
	n=0
	while [ -n "$(pids_of "$DIR")" ] && [ "$n" -lt 50 ]; do
		sleep 0.2
		n=$((n + 1))
	done
	for pid in $(pids_of "$DIR"); do
		kill -KILL "$pid" 2>/dev/null || true
	done
	rm -f "$DIR/primary.pidfile" "$DIR/secondary.pidfile"
}

[ $# -ge 1 ] || usage
cmd=$1
shift
case "$cmd" in
start) start "$@" ;;
stop) stop "$@" ;;
*) usage ;;
esac
