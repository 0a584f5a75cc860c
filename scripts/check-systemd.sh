#!/usr/bin/env bash
# Checks the syntax of systemd/zonewright.service with `systemd-analyze verify`.
#
# The real unit names /usr/local/bin/zonewright and the user zonewright,
# which need not exist here, so this verifies a temporary copy whose
# ExecStart/ExecReload point at /bin/true. Every other line is checked as
# written. Exits 0 with a note when systemd-analyze is not installed.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
unit="$here/systemd/zonewright.service"

if ! command -v systemd-analyze >/dev/null 2>&1; then
    echo "check-systemd: systemd-analyze not found; skipped"
    exit 0
fi

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

sed -e 's|^ExecStart=.*|ExecStart=/bin/true|' \
    -e 's|^ExecReload=.*|ExecReload=/bin/true|' \
    "$unit" >"$tmp/zonewright.service"

# verify prints warnings for unknown or misspelled settings but may still
# exit 0 for some of them, so fail on any output mentioning the unit file.
out=$(SYSTEMD_LOG_LEVEL=warning systemd-analyze verify --man=no \
      "$tmp/zonewright.service" 2>&1) || {
    echo "$out"
    echo "check-systemd: systemd-analyze verify failed"
    exit 1
}
if grep -F "zonewright.service" <<<"$out"; then
    echo "check-systemd: systemd-analyze verify reported problems (above)"
    exit 1
fi
[ -n "$out" ] && echo "$out"
echo "check-systemd: systemd/zonewright.service OK"
