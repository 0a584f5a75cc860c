#!/usr/bin/env bash
# Checks the zone files in zones.example/ with other servers' zone checkers,
# so the examples stay valid RFC 1035 whatever zonewright accepts.
# named-checkzone (bind9-utils) and kzonecheck (knot-dnssecutils) are each
# used when installed; with neither, this says so and exits 0.
#
# named-checkzone runs in "-i local" mode: its default also resolves
# out-of-zone name server names (the glue names below delegations) in the
# live DNS, which documentation names never resolve in.
set -euo pipefail

dir="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)/zones.example"
checked=0
for file in "$dir"/*.zone; do
    zone=$(basename "$file" .zone)
    if command -v named-checkzone >/dev/null 2>&1; then
        named-checkzone -q -i local -k fail -m fail -n fail -r fail -S fail -M fail "$zone" "$file" \
            || { echo "named-checkzone: $zone failed:"; named-checkzone -i local "$zone" "$file"; exit 1; }
        echo "named-checkzone $zone: OK"
        checked=1
    fi
    if command -v kzonecheck >/dev/null 2>&1; then
        kzonecheck -o "$zone" "$file"
        echo "kzonecheck $zone: OK"
        checked=1
    fi
done
[[ $checked == 1 ]] || echo "check-zones: neither named-checkzone nor kzonecheck installed; skipped"
