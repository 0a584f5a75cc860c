#!/usr/bin/env bash
# Query benchmark (not a test): zonewright against Knot DNS on the same zone.
#
# Builds the release binary, generates a zone of 10,000 names (bench.test:
# h0..h9999 with A records, plus SOA and NS), a dnsperf query file (90%
# existing names, 10% NXDOMAIN), serves the zone with zonewright and then
# with knotd on free local ports, runs the same dnsperf against each, and
# prints queries per second, average latency and the ratio zonewright/knotd.
#
# Usage: scripts/bench-query.sh [-l SECONDS] [-s zonewright|knotd|both] [-b BINARY]
#   -l SECONDS  dnsperf run length per server (default 20)
#   -s WHICH    which servers to run (default both)
#   -b BINARY   use this zonewright binary instead of building one
#
# Needs: cargo, dnsperf, knotd, dig (Debian: dnsperf knot bind9-dnsutils),
# python3 (to pick free ports).
#
# dnsperf settings, the same for both servers: 1 thread and 4 clients
# (UDP sockets), at most 100 queries outstanding, no rate limit, so each
# server is driven at its saturation point. On a 2-core machine dnsperf
# takes about one core; both servers get the rest. knotd gets as many UDP
# workers as there are cores, which is zonewright's default.
set -euo pipefail

duration=20
which=both
binary=
while getopts "l:s:b:h" opt; do
    case $opt in
        l) duration=$OPTARG ;;
        s) which=$OPTARG ;;
        b) binary=$OPTARG ;;
        h) sed -n '2,/^set -euo/p' "$0" | sed -e '$d' -e 's/^# \{0,1\}//'; exit 0 ;;
        *) echo "usage: $0 [-l SECONDS] [-s zonewright|knotd|both] [-b BINARY]" >&2; exit 2 ;;
    esac
done
case $which in zonewright|knotd|both) ;; *) echo "-s: zonewright, knotd or both" >&2; exit 2 ;; esac
[[ $duration =~ ^[1-9][0-9]*$ ]] || { echo "-l: a whole number of seconds" >&2; exit 2; }

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
ZW_TAG=bench
# shellcheck source=scripts/lib/common.sh
source "$root/scripts/lib/common.sh"
zw_need dnsperf dnsperf
zw_need dig bind9-dnsutils
zw_need python3 python3
ZW_PY=$(command -v python3)
[[ $which == zonewright ]] || zw_need knotd knot

names=10000
cores=$(nproc)

# --- daemons we start are stopped on exit, by PID ---------------------------
pids=()
tmp=$(mktemp -d)
cleanup() {
    local pid
    for pid in "${pids[@]}"; do
        zw_stop_pid "$pid" 50                # at most 5 s each
    done
    rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# Waits until the server on port $1 (PID $2) answers the SOA of bench.test:
# at most 50 tries, 100 ms apart.
wait_ready() {
    local port=$1 pid=$2 _
    for _ in $(seq 50); do
        kill -0 "$pid" 2>/dev/null || { echo "bench: server (pid $pid) exited" >&2; return 1; }
        if dig +short +time=1 +tries=1 @127.0.0.1 -p "$port" bench.test SOA 2>/dev/null | grep -q .; then
            return 0
        fi
        sleep 0.1
    done
    echo "bench: no answer on 127.0.0.1:$port after 50 tries" >&2
    return 1
}

# --- the zone and the queries -----------------------------------------------
mkdir -p "$tmp/zones"
zone="$tmp/zones/bench.test.zone"
{
    printf '%s\n' "\$ORIGIN bench.test." "\$TTL 3600"
    echo '@ IN SOA ns.bench.test. hostmaster.bench.test. 1 7200 3600 1209600 300'
    echo '@ IN NS ns.bench.test.'
    echo 'ns IN A 192.0.2.53'
    awk -v n="$names" 'BEGIN { for (i = 0; i < n; i++) printf "h%d IN A 198.51.100.%d\n", i, i % 254 + 1 }'
} >"$zone"

queries="$tmp/queries"
awk -v n="$names" 'BEGIN {
    srand(42)
    for (i = 0; i < 100000; i++) {
        if (i % 10 == 9) printf "nx%d.bench.test A\n", int(rand() * n)   # 10% NXDOMAIN
        else             printf "h%d.bench.test A\n", int(rand() * n)    # 90% existing
    }
}' >"$queries"

# Runs dnsperf against port $1, prints "qps latency lost codes" on one line.
run_dnsperf() {
    local port=$1 out
    out=$(dnsperf -s 127.0.0.1 -p "$port" -d "$queries" -l "$duration" \
                  -c 4 -T 1 -q 100 -t 2 2>&1) || { echo "$out" >&2; return 1; }
    echo "$out" >"$tmp/dnsperf-$port.log"
    awk '
        /Queries per second:/ { qps = $4 }
        /Average Latency/     { lat = $4 }
        /Queries lost:/       { lost = $3 " " $4 }
        /Response codes:/     { sub(/^ *Response codes: */, ""); codes = $0 }
        END { if (qps == "") exit 1; printf "%s %s %s %s\n", qps, lat, lost, codes }
    ' "$tmp/dnsperf-$port.log"
}

declare -A result
report() {
    local name=$1 qps lat lostn codes
    read -r qps lat lostn _ codes <<<"${result[$name]}"
    printf '%-11s %12.0f %14.3f %10s   %s\n' "$name" "$qps" "$(awk -v l="$lat" 'BEGIN { print l * 1000 }')" "$lostn" "$codes"
}

# --- zonewright -------------------------------------------------------------
if [[ $which != knotd ]]; then
    if [[ -z $binary ]]; then
        echo "== building zonewright (cargo build --release --locked)"
        (cd "$root" && cargo build --release --locked)
        binary="${CARGO_TARGET_DIR:-$root/target}/release/zonewright"
    fi
    [[ -x $binary ]] || { echo "bench: $binary is not executable" >&2; exit 1; }
    port=$(zw_free_ports 1)
    cat >"$tmp/zonewright.toml" <<TOML
listen = ["127.0.0.1:$port"]
zones_dir = "zones"
TOML
    echo "== zonewright on 127.0.0.1:$port"
    "$binary" --log-level warn serve --config "$tmp/zonewright.toml" \
        >"$tmp/zonewright.log" 2>&1 &
    zw_pid=$!
    pids+=("$zw_pid")
    wait_ready "$port" "$zw_pid" || { cat "$tmp/zonewright.log" >&2; exit 1; }
    echo "   dnsperf for ${duration}s"
    result[zonewright]=$(run_dnsperf "$port")
    kill -TERM "$zw_pid" 2>/dev/null || true
fi

# --- knotd ------------------------------------------------------------------
if [[ $which != zonewright ]]; then
    port2=$(zw_free_ports 1)
    {
        zw_knot_conf "$tmp/knot" "$port2" "$tmp/zones"
        echo "  - domain: bench.test"
    } >"$tmp/knot.conf"
    echo "== knotd $(knotd --version | awk '{print $NF; exit}') on 127.0.0.1:$port2"
    knotd -c "$tmp/knot.conf" >"$tmp/knotd.log" 2>&1 &
    kn_pid=$!
    pids+=("$kn_pid")
    wait_ready "$port2" "$kn_pid" || { cat "$tmp/knotd.log" >&2; exit 1; }
    echo "   dnsperf for ${duration}s"
    result[knotd]=$(run_dnsperf "$port2")
fi

# --- results ----------------------------------------------------------------
echo
echo "bench.test: $names names; queries 90% existing / 10% NXDOMAIN; dnsperf -c 4 -T 1 -q 100 -l $duration; $cores cores"
printf '%-11s %12s %14s %10s   %s\n' server QPS "avg lat (ms)" lost "response codes"
for name in zonewright knotd; do
    [[ -n ${result[$name]:-} ]] && report "$name"
done
if [[ -n ${result[zonewright]:-} && -n ${result[knotd]:-} ]]; then
    read -r zq _ <<<"${result[zonewright]}"
    read -r kq _ <<<"${result[knotd]}"
    awk -v z="$zq" -v k="$kq" 'BEGIN { printf "ratio zonewright/knotd (QPS): %.2f\n", z / k }'
fi
