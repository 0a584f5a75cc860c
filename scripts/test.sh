#!/usr/bin/env bash
# The test command: formatting, the layer check, lints, the example zones, the
# systemd unit, the interop scripts, the README's walk-through, fuzzing, then
# the test suite. Run from anywhere: scripts/test.sh
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."

section() { printf '\n==== %s\n' "$*"; }

section "cargo fmt --all -- --check"
cargo fmt --all -- --check

section "layers: each module imports only its own layer or lower ones (scripts/check-layers.sh)"
scripts/check-layers.sh

section "cargo clippy --all-targets --locked -- -D warnings"
cargo clippy --all-targets --locked -- -D warnings

section "example zones (named-checkzone, kzonecheck where installed)"
scripts/check-zones.sh

section "systemd unit"
if command -v systemd-analyze >/dev/null 2>&1; then
    scripts/check-systemd.sh
else
    echo "systemd-analyze not installed; skipped"
fi

section "secondaries: BIND, Knot and NSD by NOTIFY + IXFR (scripts/interop-secondaries.sh)"
if command -v named >/dev/null && command -v knotd >/dev/null && command -v nsd >/dev/null; then
    cargo build --release --locked
    scripts/interop-secondaries.sh -b target/release/zonewright --require-ixfr
else
    echo "named, knotd or nsd not installed; skipped (.ci/run installs them)"
fi

section "ACME DNS-01: certbot, lego, nsupdate, libdns's pattern with pebble as the CA (scripts/interop-acme.sh)"
if command -v pebble >/dev/null && command -v certbot >/dev/null && command -v lego >/dev/null \
    && /usr/bin/python3 -c 'import certbot_dns_rfc2136' 2>/dev/null; then
    cargo build --release --locked
    scripts/interop-acme.sh -b target/release/zonewright
else
    echo "pebble, certbot (+ python3-certbot-dns-rfc2136) or lego not installed; skipped (.ci/run installs them)"
fi

section "controllers: external-dns's rfc2136 provider replayed (scripts/interop-externaldns.sh)"
if /usr/bin/python3 -c 'import dns.update, dns.tsig' 2>/dev/null && command -v dig >/dev/null; then
    cargo build --release --locked
    scripts/interop-externaldns.sh -b target/release/zonewright
else
    echo "python3-dnspython or dig not installed; skipped (.ci/run installs them)"
fi

section "DNS as code: octoDNS with octodns-bind's Rfc2136Provider, Knot following (scripts/interop-octodns.sh)"
if python3 -c 'import venv, ensurepip' 2>/dev/null && command -v dig >/dev/null; then
    cargo build --release --locked
    scripts/interop-octodns.sh -b target/release/zonewright
else
    echo "python3-venv or dig not installed; skipped (.ci/run installs them)"
fi

section "README walk-through: every command block in order, on loopback, certbot and lego against pebble (scripts/readme-check.sh)"
if command -v dig >/dev/null && command -v nsupdate >/dev/null && command -v kdig >/dev/null \
    && command -v knsupdate >/dev/null && command -v curl >/dev/null && command -v openssl >/dev/null \
    && command -v pebble >/dev/null && command -v certbot >/dev/null && command -v lego >/dev/null \
    && /usr/bin/python3 -c 'import certbot_dns_rfc2136' 2>/dev/null; then
    cargo build --release --locked
    scripts/readme-check.sh -b target/release/zonewright
else
    echo "dig, nsupdate, kdig, knsupdate, curl, openssl, pebble, certbot (+ python3-certbot-dns-rfc2136) or lego not installed; skipped (.ci/run installs them)"
fi

section "fuzzing: request decoder, TSIG verifier, UPDATE evaluator, zone-file parser, 40 s each (scripts/fuzz.sh)"
scripts/fuzz.sh -t 40
if [[ ${CI:-} == true ]]; then
    # The fuzz build (AddressSanitizer, ~2 GB) is not used again: give CI
    # its disk back for the test build.
    rm -rf fuzz/target
fi

# Last, so the test runner's summary closes the output, followed by one
# line that adds up every test binary's counts.
section "cargo test --locked"
log=$(mktemp)
trap 'rm -f "$log"' EXIT
status=0
cargo test --locked 2>&1 | tee "$log" || status=$?
awk '/^test result:/ {
        for (i = 1; i < NF; i++) {
            if ($(i + 1) ~ /^passed;?$/) p += $i
            if ($(i + 1) ~ /^failed;?$/) f += $i
            if ($(i + 1) ~ /^ignored;?$/) s += $i
        }
    }
    END { printf "tests: %d passed, %d failed, %d skipped\n", p, f, s }' "$log"
exit "$status"
