#!/bin/sh
# Install the Debian packages that dkimrot's build, tests, benchmarks and
# demo need.  Does nothing when every one of them is already there.
set -eu

PKGS="build-essential pkg-config libssl-dev libldns-dev libconfig-dev libsqlite3-dev
libcurl4-openssl-dev libjansson-dev libcriterion-dev
bind9 bind9-utils bind9-dnsutils ldnsutils pdns-server pdns-backend-sqlite3
python3 python3-dkim sqlite3 openssl iproute2 procps curl jq"

missing=""
for p in $PKGS; do
	st=$(dpkg-query -W -f='${Status}' "$p" 2>/dev/null || true)
	case "$st" in
	*"install ok installed"*) ;;
	*) missing="$missing $p" ;;
	esac
done

if [ -z "$missing" ]; then
	echo "deps: every package is installed"
	exit 0
fi

if [ "$(id -u)" -ne 0 ]; then
	echo "deps: missing:$missing; run 'make deps' as root" >&2
	exit 1
fi

echo "deps: installing:$missing"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
# shellcheck disable=SC2086
apt-get install -y -qq --no-install-recommends $missing
