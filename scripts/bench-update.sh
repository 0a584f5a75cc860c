#!/usr/bin/env bash
# UPDATE benchmark (not a test): TSIG-signed RFC 2136 UPDATEs against
# zonewright and against BIND 9 (named) serving the same zone with the same
# key.
#
# For each zone size (bench.test: SOA, NS, ns A, then h0..hN-1 A records)
# each server is started on a free 127.0.0.1 port and driven by
# scripts/lib/update_load.py (dnspython) twice: 1 worker (sequential), then
# 8 workers (concurrent). A worker repeats one operation: an UPDATE adding a
# TXT record at a unique name, then an UPDATE deleting it, each over UDP,
# signed with hmac-sha256 (key acme-key), waiting for a NOERROR answer whose
# TSIG verifies (2 s timeout). Printed per server x zone size x concurrency:
# UPDATEs/s (NOERROR answers per second), p50/p99 latency per UPDATE,
# errors; then the ratios zonewright/named.
#
# Usage: scripts/bench-update.sh [-d SECONDS] [-s zonewright|named|both] [-z SIZES] [-b BINARY] [-f] [-a MODE]
#   -d SECONDS  length of each run (default 10)
#   -s WHICH    which servers to run (default both)
#   -z SIZES    comma-separated zone sizes in A records (default 1000,100000)
#   -b BINARY   use this zonewright binary instead of building one
#   -a MODE     zonewright's [git] acknowledge: commit (default) or log
#   -f          give each server and zone size a new ext4 file system (a
#               sparse image in the temp dir, loop-mounted; needs root,
#               mkfs.ext4 and loop devices), so no run inherits the state
#               an earlier one (or a build) left in the file system
#
# Why -f: both servers create, fsync and rename files for every UPDATE,
# and what that costs depends on the file system's recent history. On a
# machine whose root file system is ext4 without a journal (seen on the
# 2-core VMs this was measured on), inode allocation slows down after
# many recent deletions, and figures for the same binary drifted by 3x
# between consecutive runs (after a cargo build, for instance). A fresh,
# ordinary (journaled) ext4 gives repeatable figures; the script prints
# which file system each run used.
#
# Needs: named (bind9), dig (bind9-dnsutils), /usr/bin/python3 with
# dnspython (python3-dnspython), git, curl (zonewright's /metrics: the
# mean time per write phase), and cargo unless -b is given.
#
# named gets options close to zonewright's job: notify off, no recursion.
# Per UPDATE it appends to its journal (bench.test.zone.jnl) and fsyncs it
# (2 fsyncs per UPDATE under strace, BIND 9.18) but, unlike zonewright, does
# not rewrite the zone file or commit to git. The load generator is Python
# (one core's worth of signing and parsing at most); on a small machine it
# competes with the server for CPU, so read the figures as a comparison of
# the two servers under the same client, not as either server's ceiling.
# If zonewright does not answer UPDATEs with NOERROR yet, the script says so
# ("zonewright: UPDATE not answered NOERROR: ...") and still runs named.
set -euo pipefail

duration=10
which=both
sizes=1000,100000
binary=
fresh=0
ack=commit
while getopts "d:s:z:b:a:fh" opt; do
    case $opt in
        d) duration=$OPTARG ;;
        s) which=$OPTARG ;;
        z) sizes=$OPTARG ;;
        b) binary=$OPTARG ;;
        f) fresh=1 ;;
        a) ack=$OPTARG ;;
        h) sed -n '2,/^set -euo/p' "$0" | sed -e '$d' -e 's/^# \{0,1\}//'; exit 0 ;;
        *) echo "usage: $0 [-d SECONDS] [-s zonewright|named|both] [-z SIZES] [-b BINARY] [-f] [-a commit|log]" >&2; exit 2 ;;
    esac
done
case $ack in commit|log) ;; *) echo "-a: commit or log" >&2; exit 2 ;; esac
case $which in zonewright|named|both) ;; *) echo "-s: zonewright, named or both" >&2; exit 2 ;; esac
if ! [[ $duration =~ ^[1-9][0-9]*$ ]] || (( duration > 3600 )); then
    echo "-d: whole seconds, 1..3600" >&2; exit 2
fi
[[ $sizes =~ ^[1-9][0-9]*(,[1-9][0-9]*)*$ ]] || { echo "-z: comma-separated sizes, e.g. 1000,100000" >&2; exit 2; }
IFS=, read -r -a zone_sizes <<<"$sizes"
for n in "${zone_sizes[@]}"; do
    (( n <= 10000000 )) || { echo "-z: at most 10000000 records" >&2; exit 2; }
done

PY=/usr/bin/python3
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
load="$root/scripts/lib/update_load.py"
secret='AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8='   # bytes 0..31
keyname=acme-key
concurrencies=(1 8)

ZW_TAG=bench
# shellcheck source=scripts/lib/common.sh
source "$root/scripts/lib/common.sh"
need() { zw_need "$@"; }
need dig bind9-dnsutils
need git git
[[ $which == zonewright ]] || need named bind9
[[ $which == named || -n $binary ]] || need cargo cargo
"$PY" -c 'import dns.update, dns.tsig' 2>/dev/null \
    || { echo "bench: $PY has no dnspython (apt-get install python3-dnspython)" >&2; exit 1; }
if (( fresh )); then
    need mkfs.ext4 e2fsprogs
    need findmnt util-linux
    (( EUID == 0 )) || { echo "bench: -f needs root (it loop-mounts file system images)" >&2; exit 1; }
fi

# --- daemons we start are stopped on exit, by PID ---------------------------
pids=()
tmp=$(mktemp -d)
stop_pid() { zw_stop_pid "$1"; }
mounts=()
cleanup() {
    local pid m
    for pid in "${pids[@]}"; do
        stop_pid "$pid"
    done
    for m in "${mounts[@]}"; do
        umount "$m" 2>/dev/null || echo "bench: could not unmount $m" >&2
    done
    rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

free_port() { zw_free_ports 1; }

# run_dir NAME: sets $dir to a new directory for one server's run (with
# -f, a new ext4 file system; see zw_fs_dir). Not called in a subshell: it
# records the mount for cleanup.
run_dir() {
    dir="$tmp/$1"
    zw_fs_dir "$dir"
}

# Waits until the server on port $1 (PID $2) answers the SOA of bench.test:
# at most 50 tries, 100 ms apart (plus dig's 1 s timeout per try).
wait_ready() {
    local port=$1 pid=$2 _
    for _ in $(seq 50); do
        kill -0 "$pid" 2>/dev/null || { echo "server (pid $pid) exited"; return 1; }
        if dig +short +time=1 +tries=1 @127.0.0.1 -p "$port" bench.test SOA 2>/dev/null | grep -q .; then
            return 0
        fi
        sleep 0.1
    done
    echo "no SOA answer on 127.0.0.1:$port after 50 tries"
    return 1
}

# gen_zone FILE N: bench.test with SOA, NS, ns A and h0..hN-1 A.
gen_zone() {
    {
        printf '%s\n' "\$ORIGIN bench.test." "\$TTL 3600"
        echo '@ IN SOA ns.bench.test. hostmaster.bench.test. 1 7200 3600 1209600 300'
        echo '@ IN NS ns.bench.test.'
        echo 'ns IN A 192.0.2.53'
        awk -v n="$2" 'BEGIN { for (i = 0; i < n; i++) printf "h%d IN A 198.51.%d.%d\n", i, int(i / 254) % 256, i % 254 + 1 }'
    } >"$1"
}

# run_load PORT WORKERS ARGS...: one JSON line from update_load.py.
run_load() {
    local port=$1 workers=$2
    shift 2
    timeout $(( duration + 60 )) "$PY" "$load" --port "$port" --secret "$secret" \
        --key-name "$keyname" --algorithm hmac-sha256 --zone bench.test. \
        --workers "$workers" --timeout 2 "$@"
}

# json FIELD <<<JSON
json() {
    "$PY" -c 'import json, sys; v = json.load(sys.stdin)[sys.argv[1]]; print("-" if v is None else v)' "$1"
}

# metrics: zonewright's /metrics on its admin listener (empty if unreachable).
metrics() {
    curl -s --max-time 5 "http://127.0.0.1:$admin_port/metrics" || true
}

# phases BEFORE AFTER: the mean time of each write phase
# (zonewright_write_duration_seconds) between two /metrics texts: where a
# write's time goes (queue, per write; compute, edit, write, install, per
# batch of writes; commit is the background commit with acknowledge =
# "log"), and how many writes a batch took.
phases() {
    "$PY" - "$1" "$2" <<'PY'
import re, sys
def read(path):
    out = {}
    for line in open(path, encoding="utf-8", errors="replace"):
        m = re.match(r'zonewright_write_duration_seconds_(sum|count)\{phase="(\w+)"\} (\S+)', line)
        if m:
            out[(m.group(2), m.group(1))] = float(m.group(3))
    return out
a, b = read(sys.argv[1]), read(sys.argv[2])
parts = []
for phase in ("queue", "compute", "edit", "write", "install", "commit"):
    n = b.get((phase, "count"), 0) - a.get((phase, "count"), 0)
    t = b.get((phase, "sum"), 0) - a.get((phase, "sum"), 0)
    if n > 0:
        parts.append(f"{phase} {t / n * 1000:.2f}")
print("   mean ms per write: " + (", ".join(parts) if parts else "(no /metrics)"))
# queue is timed once per write, edit once per batch (group commit).
writes = b.get(("queue", "count"), 0) - a.get(("queue", "count"), 0)
batches = b.get(("edit", "count"), 0) - a.get(("edit", "count"), 0)
if writes > 0 and batches > 0:
    print(f"   writes per batch: {writes / batches:.2f} ({int(writes)} writes, {int(batches)} batches)")
PY
}

declare -A result       # [server/size/conc] = "ups p50 p99 errors"
failed=()

# bench_server NAME SIZE PORT PID LOG: preflight one add+delete, then the runs.
bench_server() {
    local name=$1 size=$2 port=$3 pid=$4 log=$5 why out c st
    if ! why=$(wait_ready "$port" "$pid"); then
        if ! kill -0 "$pid" 2>/dev/null; then
            st=0
            wait "$pid" 2>/dev/null || st=$?
            why="$why with status $st"
        fi
        echo "$name: UPDATE not answered NOERROR: server not serving bench.test ($why); log tail:" >&2
        if [[ -s $log ]]; then tail -n 20 "$log" | sed 's/^/   | /' >&2; else echo "   | (empty)" >&2; fi
        failed+=("$name/$size")
        return 0
    fi
    out=$(run_load "$port" 1 --count 1 --prefix "pre${size}" --check) || {
        why=$(json first_error <<<"$out" 2>/dev/null || echo "load generator failed")
        echo "$name: UPDATE not answered NOERROR: $why" >&2
        failed+=("$name/$size")
        return 0
    }
    for c in "${concurrencies[@]}"; do
        echo "   $c worker(s), ${duration}s"
        [[ $name == zonewright ]] && metrics >"$tmp/metrics.before"
        out=$(run_load "$port" "$c" --duration "$duration" --prefix "r${size}c${c}") || true
        if [[ $name == zonewright ]]; then
            metrics >"$tmp/metrics.after"
            phases "$tmp/metrics.before" "$tmp/metrics.after"
        fi
        if [[ -z $out ]]; then
            echo "$name: load generator failed (zone $size, $c workers)" >&2
            failed+=("$name/$size/$c")
            continue
        fi
        echo "$out" >>"$tmp/results.jsonl"
        result[$name/$size/$c]="$(json updates_per_s <<<"$out") $(json p50_ms <<<"$out") $(json p99_ms <<<"$out") $(json errors <<<"$out")"
        if [[ $(json errors <<<"$out") != 0 ]]; then
            echo "   $name: $(json errors <<<"$out") errors, first: $(json first_error <<<"$out")" >&2
        fi
    done
}

# --- zonewright -------------------------------------------------------------
if [[ $which != named ]]; then
    if [[ -z $binary ]]; then
        echo "== building zonewright (cargo build --release --locked)"
        if (cd "$root" && cargo build --release --locked); then
            binary="${CARGO_TARGET_DIR:-$root/target}/release/zonewright"
        else
            echo "zonewright: build failed; skipping it" >&2
            failed+=(zonewright/build)
        fi
    fi
    if [[ -n $binary && ! -x $binary ]]; then
        echo "zonewright: $binary is not executable; skipping it" >&2
        failed+=(zonewright/binary)
        binary=
    fi
    if [[ -n $binary ]]; then
        for size in "${zone_sizes[@]}"; do
            run_dir "zw-$size"
            mkdir -p "$dir/zones"
            gen_zone "$dir/zones/bench.test.zone" "$size"
            git -C "$dir/zones" init -q
            git -C "$dir/zones" add bench.test.zone
            git -C "$dir/zones" -c user.name=bench -c user.email=bench@localhost \
                commit -qm "bench.test: $size records"
            port=$(free_port)
            admin_port=$(free_port)
            cat >"$dir/zonewright.toml" <<TOML
listen = ["127.0.0.1:$port"]
zones_dir = "$dir/zones"

[admin]
listen = "127.0.0.1:$admin_port"

[[key]]
name = "$keyname"
algorithm = "hmac-sha256"
secret = "$secret"
rate_limit = "off"
grant = [ { zone = "bench.test", names = ["**"], types = ["TXT"] } ]

[git]
acknowledge = "$ack"
TOML
            echo "== zonewright, bench.test with $size records, on 127.0.0.1:$port, files on $(zw_fs_of "$dir")"
            "$binary" --log-level warn serve --config "$dir/zonewright.toml" \
                >"$dir/zonewright.log" 2>&1 &
            pid=$!
            pids+=("$pid")
            bench_server zonewright "$size" "$port" "$pid" "$dir/zonewright.log"
            stop_pid "$pid"
        done
    fi
fi

# --- named ------------------------------------------------------------------
if [[ $which != zonewright ]]; then
    for size in "${zone_sizes[@]}"; do
        run_dir "named-$size"
        gen_zone "$dir/bench.test.zone" "$size"
        port=$(free_port)
        {
            zw_named_options "$dir" "$port" "$keyname" "$secret"
            cat <<CONF
zone "bench.test" {
    type primary;
    file "$dir/bench.test.zone";
    update-policy { grant $keyname zonesub TXT; };
};
CONF
        } >"$dir/named.conf"
        named-checkconf "$dir/named.conf" || { echo "named: bad generated config" >&2; exit 1; }
        echo "== $(named -v), bench.test with $size records, on 127.0.0.1:$port, files on $(zw_fs_of "$dir")"
        # -g: foreground, log to stderr. As root named keeps running as root
        # (no -u), which is fine for a throwaway temp dir.
        named -g -c "$dir/named.conf" >"$dir/named.log" 2>&1 &
        pid=$!
        pids+=("$pid")
        bench_server named "$size" "$port" "$pid" "$dir/named.log"
        stop_pid "$pid"
    done
fi

# --- results ----------------------------------------------------------------
echo
fs="the temp dir's file system"
(( fresh )) && fs="a new ext4 file system per run (-f)"
echo "UPDATE benchmark: add TXT + delete TXT per op, TSIG hmac-sha256, UDP, ${duration}s per run, $(nproc) cores, $fs"
printf '%-11s %9s %8s %11s %9s %9s %7s\n' server records workers "updates/s" "p50 ms" "p99 ms" errors
for name in zonewright named; do
    for size in "${zone_sizes[@]}"; do
        for c in "${concurrencies[@]}"; do
            [[ -n ${result[$name/$size/$c]:-} ]] || continue
            read -r ups p50 p99 errs <<<"${result[$name/$size/$c]}"
            printf '%-11s %9s %8s %11s %9s %9s %7s\n' "$name" "$size" "$c" "$ups" "$p50" "$p99" "$errs"
        done
    done
done
for size in "${zone_sizes[@]}"; do
    for c in "${concurrencies[@]}"; do
        z=${result[zonewright/$size/$c]:-}
        n=${result[named/$size/$c]:-}
        [[ -n $z && -n $n ]] || continue
        awk -v z="$z" -v n="$n" -v s="$size" -v c="$c" 'BEGIN {
            split(z, a, " "); split(n, b, " ")
            printf "ratio zonewright/named, %s records, %s worker(s): updates/s %s, p50 %s, p99 %s\n", s, c,
                (b[1] > 0 ? sprintf("%.2f", a[1] / b[1]) : "-"),
                (b[2] > 0 && a[2] != "-" ? sprintf("%.2f", a[2] / b[2]) : "-"),
                (b[3] > 0 && a[3] != "-" ? sprintf("%.2f", a[3] / b[3]) : "-")
        }'
    done
done
if (( ${#failed[@]} )); then
    echo "not measured: ${failed[*]} (see messages above)"
    exit 1
fi
