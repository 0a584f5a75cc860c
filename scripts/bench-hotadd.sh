#!/usr/bin/env bash
# Hot-add measurement (not a test; issue 12): how long UPDATEs to one zone
# take while a big zone file is added to the zones directory of a running
# server.
#
# Builds the release binary, generates a zone of N TXT records (big.test,
# pseudo-random hex values, ~105 bytes a line: 1,900,000 records make
# ~200 MB, under the default [server] max_zone_records of 2,000,000),
# starts zonewright on a free local port over a small zone probe.test, and
# sends one signed UPDATE to probe.test every 200 ms
# (scripts/lib/update_probe.py, one at a time, each waiting up to 30 s).
# After a 5 s baseline the big file is copied into the zones directory
# (`cp`, or `mv` from the same file system with -m mv); the script then
# waits for big.test's SOA to be served and for the probe to end, and
# prints: the probe's latencies (p50, p99, the slowest and when it was
# sent, how many took over 1 s), the slowest UPDATEs with their times,
# when big.test was first served, and the server's log lines about
# the big zone (load, external-change commit).
#
# Measured on a shared 2-core VM (issue 12): big.test served 24-42 s after
# the copy, UPDATEs to probe.test unaffected while it loads (p50 13-18 ms).
# Before big.test's blob was written on the reloader's thread, one UPDATE
# then waited 3.8-4.5 s behind big.test's external-change commit in the
# one committer queue; now the commit itself takes milliseconds, and one
# UPDATE near the end of the load still takes 2.5-2.9 s (its commit stalls
# while the loader's memory grows by gigabytes; not seen under strace).
#
# Usage: scripts/bench-hotadd.sh [-n RECORDS] [-d SECONDS] [-m cp|mv] [-b BINARY] [-k]
#   -n RECORDS  records in big.test (default 1900000)
#   -d SECONDS  how long the probe runs (default 60)
#   -m cp|mv    how the file arrives (default cp)
#   -b BINARY   use this zonewright binary instead of building one
#   -k          keep the temporary directory (printed)
#
# Needs: cargo, dig, git, python3 with dnspython (Debian: bind9-dnsutils,
# git, python3-dnspython); about 3 x the file's size on disk (the file, its
# copy, the git object) and a few GB of memory for 2,000,000 records.
set -euo pipefail

records=1900000
duration=60
mode=cp
binary=
keep=0
while getopts "n:d:m:b:kh" opt; do
    case $opt in
        n) records=$OPTARG ;;
        d) duration=$OPTARG ;;
        m) mode=$OPTARG ;;
        b) binary=$OPTARG ;;
        k) keep=1 ;;
        h) sed -n '2,/^set -euo/p' "$0" | sed -e '$d' -e 's/^# \{0,1\}//'; exit 0 ;;
        *) echo "usage: $0 [-n RECORDS] [-d SECONDS] [-m cp|mv] [-b BINARY] [-k]" >&2; exit 2 ;;
    esac
done
[[ $records =~ ^[1-9][0-9]*$ ]] && (( records <= 10000000 )) \
    || { echo "-n: 1..10000000 records" >&2; exit 2; }
[[ $duration =~ ^[1-9][0-9]*$ ]] && (( duration >= 10 && duration <= 3600 )) \
    || { echo "-d: whole seconds, 10..3600" >&2; exit 2; }
case $mode in cp|mv) ;; *) echo "-m: cp or mv" >&2; exit 2 ;; esac

PY=/usr/bin/python3
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
probe="$root/scripts/lib/update_probe.py"
secret='AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8='   # bytes 0..31

ZW_TAG=bench-hotadd
# shellcheck source=scripts/lib/common.sh
source "$root/scripts/lib/common.sh"
zw_need dig bind9-dnsutils
zw_need git git
[[ -n $binary ]] || zw_need cargo cargo
"$PY" -c 'import dns.update, dns.tsig' 2>/dev/null \
    || { echo "bench-hotadd: $PY has no dnspython (apt-get install python3-dnspython)" >&2; exit 1; }

# --- what we start is stopped on exit, by PID ---------------------------------
pids=()
tmp=$(mktemp -d)
cleanup() {
    local pid
    for pid in "${pids[@]}"; do
        zw_stop_pid "$pid"
    done
    if (( keep )); then echo "bench-hotadd: kept $tmp" >&2; else rm -rf "$tmp"; fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

if [[ -z $binary ]]; then
    echo "bench-hotadd: building the release binary" >&2
    (cd "$root" && cargo build --release --locked --quiet)
    binary="$root/target/release/zonewright"
fi

mkdir -p "$tmp/zones" "$tmp/staging"
cat >"$tmp/zones/probe.test.zone" <<'EOF'
$ORIGIN probe.test.
$TTL 300
@ IN SOA ns hostmaster 1 7200 3600 1209600 300
@ IN NS ns
ns IN A 192.0.2.53
EOF

echo "bench-hotadd: generating big.test with $records TXT records" >&2
{
    printf '%s\n' "\$ORIGIN big.test." "\$TTL 3600"
    echo '@ IN SOA ns hostmaster 1 7200 3600 1209600 300'
    echo '@ IN NS ns'
    echo 'ns IN A 192.0.2.53'
    # Pseudo-random hex values (fixed seed): the file compresses about as
    # much as real TXT data, so git's blob write costs what it would.
    awk -v n="$records" 'BEGIN {
        srand(12)
        for (i = 0; i < n; i++) {
            v = ""
            for (j = 0; j < 10; j++) v = v sprintf("%08x", int(rand() * 4294967296))
            printf "h%07d IN TXT \"%s-%07d\"\n", i, v, i
        }
    }'
} >"$tmp/staging/big.test.zone"
size=$(stat -c %s "$tmp/staging/big.test.zone")

port=$(zw_free_ports 1)
cat >"$tmp/zonewright.toml" <<EOF
listen = ["127.0.0.1:$port"]
zones_dir = "zones"
[git]
name = "zonewright"
email = "zonewright@bench"
[[key]]
name = "acme-key"
algorithm = "hmac-sha256"
secret = "$secret"
rate_limit = "off"
grant = [ { zone = "probe.test", names = ["_acme-challenge"], types = ["TXT"] } ]
EOF

RUST_LOG=info "$binary" serve --config "$tmp/zonewright.toml" >"$tmp/server.log" 2>&1 &
pids+=($!)
server=$!
ready=0
for _ in $(seq 100); do
    kill -0 "$server" 2>/dev/null || { zw_log_tail zonewright "$tmp/server.log"; exit 1; }
    if dig +short +time=1 +tries=1 @127.0.0.1 -p "$port" probe.test SOA | grep -q .; then
        ready=1
        break
    fi
    sleep 0.1
done
(( ready )) || { echo "bench-hotadd: no SOA answer from the server" >&2; exit 1; }

"$PY" "$probe" --port "$port" --zone probe.test. --secret "$secret" \
    --interval 0.2 --duration "$duration" >"$tmp/probe.log" 2>&1 &
pids+=($!)
probe_pid=$!
t0=$(zw_now_us)
sleep 5

echo "bench-hotadd: adding big.test.zone ($((size / 1000000)) MB) by $mode" >&2
t_add=$(zw_now_us)
if [[ $mode == cp ]]; then
    cp "$tmp/staging/big.test.zone" "$tmp/zones/big.test.zone"
else
    mv "$tmp/staging/big.test.zone" "$tmp/zones/big.test.zone"
fi
t_added=$(zw_now_us)

served=-
deadline=$(( t0 + duration * 1000000 + 60000000 ))
while (( $(zw_now_us) < deadline )); do
    if dig +short +time=1 +tries=1 @127.0.0.1 -p "$port" big.test SOA 2>/dev/null | grep -q .; then
        served=$(( ($(zw_now_us) - t_add) / 1000 ))
        break
    fi
    sleep 0.1
done
wait "$probe_pid" || true

ms() { echo $(( ($1 - t0) / 1000 )); }
echo
echo "big.test: $size bytes, $records TXT records, added by $mode at t=$(ms "$t_add") ms (took $(( (t_added - t_add) / 1000 )) ms)"
echo "big.test first served: $served ms after the $mode started"
echo "probe.test UPDATEs every 200 ms (t = s since the probe started):"
grep '^{' "$tmp/probe.log" | sed 's/^/  summary: /'
echo "  baseline (before the add): $(grep '^t=' "$tmp/probe.log" | awk -v a="$(( (t_add - t0) / 1000 ))" '
    { split($1, t, "="); split($2, m, "="); if (t[2] * 1000 < a) { n++; s += m[2]; if (m[2] > x) x = m[2] } }
    END { if (n) printf "%d UPDATEs, mean %.1f ms, max %.1f ms", n, s / n, x; else print "none" }')"
echo "  slowest 8:"
grep '^t=' "$tmp/probe.log" | sort -t= -k3 -g -r | head -8 | sed 's/^/    /'
echo "server log about big.test and commits:"
grep -E 'big\.test|external|git commit|zones reloaded' "$tmp/server.log" | cut -c1-220 | sed 's/^/  /' | head -20
