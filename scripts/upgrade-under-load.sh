#!/usr/bin/env bash
# Restarts the kestrel command on a freshly deployed binary several times
# ("kestrel upgrade") while wrk keeps 64 keep-alive connections busy and a
# second wrk opens a new connection for every request. Fails on any wrk
# error (socket errors, non-2xx responses). make test runs a short version.
#
#   scripts/upgrade-under-load.sh [seconds] [upgrades]     (default 30 10)
set -euo pipefail
cd "$(dirname "$0")/.."
command -v wrk >/dev/null || { echo "wrk is not installed; run scripts/install-test-deps.sh" >&2; exit 1; }
KESTREL_UPGRADE_SECONDS="${1:-30}" KESTREL_UPGRADES="${2:-10}" \
	go test -count=1 -run '^TestBinaryUpgradeUnderWrk$' -v -timeout 10m ./cmd/kestrel | grep -E 'upgrades in|wrk:|Socket|^(---|ok|FAIL)'
