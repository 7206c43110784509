#!/usr/bin/env bash
# Slow-client attack with slowhttptest (Debian package) against the server,
# in slow-headers (slowloris) and slow-body (R-U-Dead-Yet) modes, while a
# normal client keeps sending requests. Every slow connection must be closed
# within its timeout plus 2 s and the normal client must never fail.
#
#   scripts/slowhttp.sh [connections] [seconds]     (default 500 60)
set -euo pipefail
cd "$(dirname "$0")/.."
if ! command -v slowhttptest >/dev/null; then
	sudo_cmd=""; [ "$(id -u)" -ne 0 ] && sudo_cmd="sudo"
	$sudo_cmd apt-get update -qq && $sudo_cmd apt-get install -y -qq slowhttptest
fi
ulimit -n 65536 2>/dev/null || true
SLOWHTTP_CONNS="${1:-500}" SLOWHTTP_SECONDS="${2:-60}" \
	go test -count=1 -run 'TestSlowClients' -v -timeout 30m . | grep -E 'slow (headers|body)|^(---|ok|FAIL)'
