#!/usr/bin/env bash
# Many-zones benchmark (not a test): zonewright serving N small zones,
# against Knot DNS (start-up, memory, queries) and BIND 9 (UPDATEs).
#
# Generates N zones of 24 records (scripts/lib/gen_zones.py: z00000.bench,
# z00001.bench, ...; one TSIG key, bench-key, granted TXT at
# _acme-challenge.** in every zone) in a zones directory that is not a git
# repository yet, then:
#   1. zonewright, first start: the time from the exec until every zone
#      answers its SOA with AA (scripts/lib/all_answer.py), and its RSS
#      then; it commits the zone files it finds (git init + commit) while
#      starting. Stopped, then a second start on the now committed
#      directory: the same time and RSS. The start-up log line ("serving N
#      zones, ...") of each start is printed.
#   2. UPDATEs against that second server (scripts/lib/update_load.py
#      --zones N: each operation adds then deletes a TXT record at
#      _acme-challenge.<label> in a random zone, TSIG hmac-sha256, UDP):
#      1 worker, then 8 workers; UPDATEs/s, p50, errors.
#   3. dnsperf over one `www.<zone> A` query per zone (shuffled): QPS,
#      3 s after the UPDATE runs (their commits done: a server at rest,
#      as knotd is when it is measured).
#   4. The same 1-worker UPDATE run on a separate set of M zones, for the
#      p50(N zones)/p50(M zones) ratio (goal <= 1.5).
#   5. knotd on a copy of the N zone files: start time, RSS, the same
#      dnsperf run (goal: zonewright/knotd QPS >= 1).
#   6. named on another copy (update-policy: bench-key, zonesub TXT): start
#      time, RSS, the 8-worker then the 1-worker UPDATE run (goal:
#      zonewright/named 8-worker UPDATEs/s >= 1).
# and prints a results table and the ratio lines. A peer whose binary is
# missing, or that -s leaves out, is skipped with a message.
#
# Usage: scripts/bench-zones.sh [-n N] [-m M] [-d SECONDS] [-l SECONDS] [-c N] [-b BINARY] [-s WHICH] [-a MODE] [-f]
#   -n N        zones in the big set (default 5000)
#   -m M        zones in the small set, for the UPDATE p50 comparison
#               (default 100)
#   -d SECONDS  length of each UPDATE run (default 10)
#   -l SECONDS  length of each dnsperf run (default 10)
#   -c N        dnsperf's client sockets (default 16)
#   -b BINARY   use this zonewright binary instead of building one
#               (cargo build --release --locked)
#   -s WHICH    zonewright, knotd, named or all (default all)
#   -a MODE     zonewright's [git] acknowledge: commit (the default: answer
#               after the git commit) or log (answer after the fsynced
#               write-log record; the commit follows)
#   -f          put zonewright's zones (both sets) and named's on new ext4
#               file systems of their own (sparse images in the temp dir,
#               loop-mounted; needs root, mkfs.ext4 and loop devices), as
#               scripts/bench-update.sh -f does: both servers create, fsync
#               and rename files for every UPDATE, and on an ext4 without a
#               journal (the VMs this was written on) inode allocation
#               slows down with every inode freed in the last minutes
#               (zonewright frees two per write, named none), so figures
#               there depend on what ran before
#
# Needs: dnsperf, knotd, named, git (Debian: dnsperf knot bind9 git),
# /usr/bin/python3 with dnspython (python3-dnspython), and cargo unless -b
# is given.
#
# Every wait is bounded: a server gets at most 180 s to answer for every
# zone (a slower one is reported as not measured), an UPDATE run at most
# its length + 60 s, a dnsperf run its length + 30 s. knotd gets the
# settings of scripts/bench-query.sh (udp-workers = cores, 1 background
# worker, whole zone file loads, no journal); named the options of
# scripts/bench-update.sh (notify no, recursion no). dnsperf: 1 thread, 16
# client sockets (-c; knotd's SO_REUSEPORT sockets each take the clients
# their addresses hash to, so with 4 a run could give one of its two
# threads 3 or 4 of them: knotd measured 177k to 280k queries/s over
# three runs, against 245k to 268k with 16), at most 100 queries
# outstanding, no rate limit. The load
# generators share the machine with the server under test (2 cores on the
# VMs this was written for): read the figures as a comparison of servers
# under the same client, not as any server's ceiling.
set -euo pipefail

zones=5000
small=100
duration=10
qlength=10
qclients=16
binary=
which=all
ack=commit
fresh=0
while getopts "n:m:d:l:c:b:s:a:fh" opt; do
    case $opt in
        n) zones=$OPTARG ;;
        m) small=$OPTARG ;;
        d) duration=$OPTARG ;;
        l) qlength=$OPTARG ;;
        c) qclients=$OPTARG ;;
        b) binary=$OPTARG ;;
        s) which=$OPTARG ;;
        a) ack=$OPTARG ;;
        f) fresh=1 ;;
        h) sed -n '2,/^set -euo/p' "$0" | sed -e '$d' -e 's/^# \{0,1\}//'; exit 0 ;;
        *) echo "usage: $0 [-n N] [-m M] [-d SECONDS] [-l SECONDS] [-c N] [-b BINARY] [-s zonewright|knotd|named|all] [-a commit|log] [-f]" >&2; exit 2 ;;
    esac
done
case $ack in commit|log) ;; *) echo "-a: commit or log" >&2; exit 2 ;; esac
case $which in zonewright|knotd|named|all) ;; *) echo "-s: zonewright, knotd, named or all" >&2; exit 2 ;; esac
if ! [[ $zones =~ ^[1-9][0-9]*$ ]] || (( zones > 100000 )); then
    echo "-n: 1..100000 zones" >&2; exit 2
fi
if ! [[ $qclients =~ ^[1-9][0-9]*$ ]] || (( qclients > 256 )); then
    echo "-c: 1..256 client sockets" >&2; exit 2
fi
if ! [[ $small =~ ^[1-9][0-9]*$ ]] || (( small > 100000 )); then
    echo "-m: 1..100000 zones" >&2; exit 2
fi
if ! [[ $duration =~ ^[1-9][0-9]*$ ]] || (( duration > 3600 )); then
    echo "-d: whole seconds, 1..3600" >&2; exit 2
fi
if ! [[ $qlength =~ ^[1-9][0-9]*$ ]] || (( qlength > 3600 )); then
    echo "-l: whole seconds, 1..3600" >&2; exit 2
fi

PY=/usr/bin/python3
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
gen="$root/scripts/lib/gen_zones.py"
load="$root/scripts/lib/update_load.py"
all_answer="$root/scripts/lib/all_answer.py"
keyname=bench-key
secret=$("$PY" -c 'import base64; print(base64.b64encode(b"zonewright bench key, not secret").decode())')
wait_s=180              # the longest a server gets to answer for every zone
cores=$(nproc)

# shellcheck disable=SC2034  # read by common.sh
ZW_TAG=bench-zones
# shellcheck source=scripts/lib/common.sh disable=SC1091
source "$root/scripts/lib/common.sh"
zw_need dnsperf dnsperf
zw_need git git
zw_need timeout coreutils
"$PY" -c 'import dns.update, dns.tsig' 2>/dev/null \
    || { echo "bench-zones: $PY has no dnspython (apt-get install python3-dnspython)" >&2; exit 1; }

# Which servers run: selected by -s and installed.
run_zw=0 run_knot=0 run_named=0
[[ $which == all || $which == zonewright ]] && run_zw=1
[[ $which == all || $which == knotd ]] && run_knot=1
[[ $which == all || $which == named ]] && run_named=1
(( run_zw )) || echo "bench-zones: zonewright skipped (-s $which)"
if (( run_knot )) && ! command -v knotd >/dev/null 2>&1; then
    echo "bench-zones: knotd not found (apt-get install knot); knotd skipped" >&2
    run_knot=0
elif (( ! run_knot )); then
    echo "bench-zones: knotd skipped (-s $which)"
fi
if (( run_named )) && ! command -v named >/dev/null 2>&1; then
    echo "bench-zones: named not found (apt-get install bind9); named skipped" >&2
    run_named=0
elif (( ! run_named )); then
    echo "bench-zones: named skipped (-s $which)"
fi
[[ $binary != "" ]] || (( ! run_zw )) || zw_need cargo cargo
if (( fresh )); then
    zw_need mkfs.ext4 e2fsprogs
    zw_need findmnt util-linux
    (( EUID == 0 )) || { echo "bench-zones: -f needs root (it loop-mounts file system images)" >&2; exit 1; }
fi

# --- daemons we start are stopped on exit, by PID ---------------------------
pids=()
mounts=()
tmp=$(mktemp -d)
cleanup() {
    local pid m
    for pid in "${pids[@]}"; do
        stop_pid "$pid"
    done
    for m in "${mounts[@]}"; do
        umount "$m" 2>/dev/null || echo "bench-zones: could not unmount $m" >&2
    done
    rm -rf "$tmp"
}
# stop_pid PID [TENTHS]: stops one of ours and forgets it, so that the
# cleanup never signals a PID that has since been reused.
stop_pid() {
    local p keep=()
    zw_stop_pid "$@"
    for p in "${pids[@]}"; do
        [[ $p == "$1" ]] || keep+=("$p")
    done
    pids=("${keep[@]}")
}
trap cleanup EXIT
trap 'exit 130' INT TERM

t_begin=$(zw_now_us)
declare -A res          # [server/what] = figure
failed=()

# rss_mb PID: resident set size in MB (one decimal).
rss_mb() {
    local kb
    kb=$(ps -o rss= -p "$1" 2>/dev/null | tr -d ' ')
    [[ -n $kb ]] || { echo -; return; }
    awk -v k="$kb" 'BEGIN { printf "%.1f\n", k / 1024 }'
}

# secs MICROSECONDS: seconds with 2 decimals.
secs() { awk -v u="$1" 'BEGIN { printf "%.2f\n", u / 1e6 }'; }

# start_server KEY COUNT PORT LOG CMD...: starts CMD (output to LOG), then
# waits (all_answer.py, at most $wait_s) until every one of COUNT zones
# answers its SOA on PORT, or the server exits. Sets $pid; records
# res[KEY/start] (seconds from the exec) and res[KEY/rss]. Returns 1, with
# the reason and the log's tail on stderr, if not every zone answered.
start_server() {
    local key=$1 count=$2 port=$3 log=$4 t0 aa done_pid st=0
    shift 4
    t0=$(zw_now_us)
    "$@" >"$log" 2>&1 &
    pid=$!
    pids+=("$pid")
    "$PY" "$all_answer" "$port" "$count" "$wait_s" >"$tmp/all_answer.out" 2>&1 &
    aa=$!
    pids+=("$aa")
    # Whichever ends first: all_answer.py (bounded by $wait_s) or the server.
    wait -n -p done_pid "$aa" "$pid" || st=$?
    [[ ${done_pid:-} != "$aa" ]] || stop_pid "$aa" 10       # reaped: forget it
    if [[ ${done_pid:-} == "$aa" && $st == 0 ]]; then
        res[$key/start]=$(secs $(( $(zw_now_us) - t0 )))
        res[$key/rss]=$(rss_mb "$pid")
        return 0
    fi
    if [[ ${done_pid:-} == "$pid" ]]; then
        echo "bench-zones: $key: the server exited (status $st) before every zone answered" >&2
        stop_pid "$aa" 10
    else
        echo "bench-zones: $key: $(cat "$tmp/all_answer.out")" >&2
    fi
    zw_log_tail "$key" "$log"
    failed+=("$key/start")
    return 1
}

# json FIELD <<<JSON
json() {
    "$PY" -c 'import json, sys; v = json.load(sys.stdin)[sys.argv[1]]; print("-" if v is None else v)' "$1"
}

# update_run KEY PORT ZONES WORKERS: one update_load.py run; records
# res[KEY/upsW], res[KEY/p50_W], res[KEY/errW].
update_run() {
    local key=$1 port=$2 count=$3 w=$4 out
    echo "   UPDATE, $w worker(s) over $count zones, ${duration}s"
    out=$(timeout $(( duration + 60 )) "$PY" "$load" --port "$port" --key-name "$keyname" \
              --secret "$secret" --algorithm hmac-sha256 --zones "$count" --workers "$w" \
              --timeout 2 --duration "$duration") || true
    out=$(grep '^{' <<<"$out" | tail -n 1) || true
    if [[ -z $out ]]; then
        echo "bench-zones: $key: update_load.py failed ($w workers)" >&2
        failed+=("$key/update$w")
        return 0
    fi
    res[$key/ups$w]=$(json updates_per_s <<<"$out")
    res[$key/p50_$w]=$(json p50_ms <<<"$out")
    res[$key/err$w]=$(json errors <<<"$out")
    if [[ ${res[$key/err$w]} != 0 ]]; then
        echo "   $key: ${res[$key/err$w]} errors, first: $(json first_error <<<"$out")" >&2
    fi
}

# dnsperf_run KEY PORT: the dnsperf run over the shuffled names; records
# res[KEY/qps] and res[KEY/lost].
dnsperf_run() {
    local key=$1 port=$2 out
    echo "   dnsperf, ${qlength}s"
    if ! out=$(timeout $(( qlength + 30 )) dnsperf -s 127.0.0.1 -p "$port" -d "$tmp/queries" \
                   -l "$qlength" -c "$qclients" -T 1 -q 100 -t 2 2>&1); then
        echo "bench-zones: $key: dnsperf failed:" >&2
        tail -n 5 <<<"$out" | sed 's/^/   | /' >&2
        failed+=("$key/dnsperf")
        return 0
    fi
    res[$key/qps]=$(awk '/Queries per second:/ { printf "%.0f\n", $4 }' <<<"$out")
    res[$key/lost]=$(awk '/Queries lost:/ { print $3 }' <<<"$out")
    res[$key/codes]=$(awk '/Response codes:/ { sub(/^ *Response codes: */, ""); print }' <<<"$out")
    [[ -n ${res[$key/qps]} ]] || { echo "bench-zones: $key: no QPS in dnsperf's output" >&2; failed+=("$key/dnsperf"); }
}

# startup_line LOG: zonewright's "serving N zones, ..." line, indented.
startup_line() {
    grep -m 1 -E 'serving [0-9]+ zones?,' "$1" | cut -c1-240 | sed 's/^/   log: /' \
        || echo "   log: (no \"serving N zones\" line)"
}

# --- the zones ----------------------------------------------------------------
port_n=$(zw_free_ports 1)
echo "== generating $zones zones"
zw_fs_dir "$tmp/n"
"$PY" "$gen" "$tmp/n" "$zones" "$port_n"
printf '\n[git]\nacknowledge = "%s"\n' "$ack" >>"$tmp/n/zonewright.toml"
# Query file: one www.<zone> A per zone, in a fixed pseudo-random order.
awk 'BEGIN { srand(42) } { printf "%.9f\t%s\n", rand(), $0 }' "$tmp/n/names.txt" \
    | sort -k1,1 | cut -f2- >"$tmp/queries"
# The peers get copies of the files as generated, before zonewright edits them.
(( ! run_knot )) || cp -r "$tmp/n/zones" "$tmp/knot-zones"
if (( run_named )); then
    zw_fs_dir "$tmp/named"
    cp -r "$tmp/n/zones" "$tmp/named/zones"
fi

# --- zonewright ---------------------------------------------------------------
if (( run_zw )); then
    if [[ -z $binary ]]; then
        echo "== building zonewright (cargo build --release --locked)"
        (cd "$root" && cargo build --release --locked)
        binary="${CARGO_TARGET_DIR:-$root/target}/release/zonewright"
    fi
    if [[ ! -x $binary ]]; then
        echo "bench-zones: $binary is not executable; zonewright skipped" >&2
        failed+=(zonewright/binary)
        run_zw=0
    fi
fi
if (( run_zw )); then
    zw=("$binary" --log-level info serve --config "$tmp/n/zonewright.toml")
    echo "== zonewright, $zones zones on 127.0.0.1:$port_n, first start (zones dir not a git repository; $(zw_fs_of "$tmp/n"))"
    if start_server zw-uncommitted "$zones" "$port_n" "$tmp/zw1.log" "${zw[@]}"; then
        echo "   every zone answered after ${res[zw-uncommitted/start]} s, RSS ${res[zw-uncommitted/rss]} MB"
    fi
    startup_line "$tmp/zw1.log"
    stop_pid "$pid"
    commits=$(git -C "$tmp/n/zones" rev-list --count HEAD 2>/dev/null || echo 0)
    dirty=$(git -C "$tmp/n/zones" status --porcelain 2>/dev/null | wc -l)
    echo "   zones dir now: $commits commit(s), $dirty path(s) not committed"

    echo "== zonewright, second start (committed)"
    if start_server zw "$zones" "$port_n" "$tmp/zw2.log" "${zw[@]}"; then
        echo "   every zone answered after ${res[zw/start]} s, RSS ${res[zw/rss]} MB"
        startup_line "$tmp/zw2.log"
        update_run zw "$port_n" "$zones" 1
        update_run zw "$port_n" "$zones" 8
        # The queries are measured on a server at rest, as knotd's are:
        # the writes' last commits (log mode: up to 200 ms later) and the
        # reload pass that follows them are done after this pause.
        sleep 3
        dnsperf_run zw "$port_n"
    else
        startup_line "$tmp/zw2.log"
    fi
    stop_pid "$pid"

    port_m=$(zw_free_ports 1)
    zw_fs_dir "$tmp/m"
    "$PY" "$gen" "$tmp/m" "$small" "$port_m"
    printf '\n[git]\nacknowledge = "%s"\n' "$ack" >>"$tmp/m/zonewright.toml"
    echo "== zonewright, $small zones on 127.0.0.1:$port_m"
    if start_server zw-small "$small" "$port_m" "$tmp/zw3.log" \
           "$binary" --log-level info serve --config "$tmp/m/zonewright.toml"; then
        echo "   every zone answered after ${res[zw-small/start]} s, RSS ${res[zw-small/rss]} MB"
        update_run zw-small "$port_m" "$small" 1
    fi
    stop_pid "$pid"
fi

# --- knotd --------------------------------------------------------------------
if (( run_knot )); then
    port_k=$(zw_free_ports 1)
    {
        zw_knot_conf "$tmp/knot" "$port_k" "$tmp/knot-zones"
        awk -v n="$zones" 'BEGIN { for (i = 0; i < n; i++) printf "  - domain: z%05d.bench\n", i }'
    } >"$tmp/knot.conf"
    echo "== knotd $(knotd --version | awk '{print $NF; exit}'), $zones zones on 127.0.0.1:$port_k"
    if start_server knotd "$zones" "$port_k" "$tmp/knotd.log" knotd -c "$tmp/knot.conf"; then
        echo "   every zone answered after ${res[knotd/start]} s, RSS ${res[knotd/rss]} MB"
        dnsperf_run knotd "$port_k"
    fi
    stop_pid "$pid"
fi

# --- named --------------------------------------------------------------------
if (( run_named )); then
    port_b=$(zw_free_ports 1)
    d="$tmp/named/zones"
    {
        zw_named_options "$d" "$port_b" "$keyname" "$secret"
        awk -v n="$zones" -v d="$d" -v k="$keyname" 'BEGIN {
            for (i = 0; i < n; i++)
                printf "zone \"z%05d.bench\" { type primary; file \"%s/z%05d.bench.zone\"; update-policy { grant %s zonesub TXT; }; };\n", i, d, i, k
        }'
    } >"$tmp/named.conf"
    named-checkconf "$tmp/named.conf" || { echo "bench-zones: named: bad generated config" >&2; exit 1; }
    echo "== $(named -v), $zones zones on 127.0.0.1:$port_b ($(zw_fs_of "$d"))"
    # -g: foreground, log to stderr; as root it stays root (no -u), which
    # is fine for a throwaway temp dir.
    if start_server named "$zones" "$port_b" "$tmp/named.log" named -g -c "$tmp/named.conf"; then
        echo "   every zone answered after ${res[named/start]} s, RSS ${res[named/rss]} MB"
        update_run named "$port_b" "$zones" 8
        update_run named "$port_b" "$zones" 1
    fi
    stop_pid "$pid"
fi

# --- results ------------------------------------------------------------------
r() { echo "${res[$1]:--}"; }
# ratio A B [FORMAT]: A / B, or "-" when either is missing or B is 0.
ratio() {
    awk -v a="$1" -v b="$2" 'BEGIN {
        if (a == "" || b == "" || a == "-" || b == "-" || b + 0 == 0) print "-"; else printf "%.2f\n", a / b
    }'
}
total=$(( ($(zw_now_us) - t_begin) / 1000000 ))
echo
echo "zones benchmark: zones of 24 records, $cores cores; UPDATE add+delete TXT per op, TSIG hmac-sha256, UDP," \
     "${duration}s per run; dnsperf -c $qclients -T 1 -q 100 -l $qlength over one www A per zone; run took ${total}s"
if (( fresh )); then
    echo "file systems: zonewright's and named's zones each on a new ext4 image (-f)"
else
    echo "file systems: all on $(zw_fs_of "$tmp") (-f: each server's on a new ext4 image)"
fi
fmt='%-22s %6s %9s %8s %10s %8s %10s %8s %7s %9s\n'
# shellcheck disable=SC2059
printf "$fmt" server zones "start s" "RSS MB" "upd/s 1w" "p50 1w" "upd/s 8w" "p50 8w" errors QPS
row() {
    local label=$1 key=$2 count=$3 errs=-
    [[ -n ${res[$key/start]:-} ]] || return 0
    if [[ -n ${res[$key/err1]:-}${res[$key/err8]:-} ]]; then
        errs=$(( ${res[$key/err1]:-0} + ${res[$key/err8]:-0} ))
    fi
    # shellcheck disable=SC2059
    printf "$fmt" "$label" "$count" "$(r "$key/start")" "$(r "$key/rss")" "$(r "$key/ups1")" \
        "$(r "$key/p50_1")" "$(r "$key/ups8")" "$(r "$key/p50_8")" "$errs" "$(r "$key/qps")"
}
row "zonewright uncommitted" zw-uncommitted "$zones"
row "zonewright committed" zw "$zones"
row "zonewright small set" zw-small "$small"
row knotd knotd "$zones"
row named named "$zones"
echo
if (( run_zw )); then
    echo "zonewright start, committed/uncommitted: $(r zw/start) s / $(r zw-uncommitted/start) s = $(ratio "$(r zw/start)" "$(r zw-uncommitted/start)");" \
         "RSS $(r zw/rss) MB / $(r zw-uncommitted/rss) MB"
fi
if (( run_knot )); then
    echo "knotd start (one start): $(r knotd/start) s, RSS $(r knotd/rss) MB"
fi
if (( run_zw )); then
    echo "UPDATE p50, 1 client: $zones zones $(r zw/p50_1) ms, $small zones $(r zw-small/p50_1) ms," \
         "ratio $(ratio "$(r zw/p50_1)" "$(r zw-small/p50_1)") (goal <= 1.5)"
fi
if (( run_zw && run_named )); then
    echo "UPDATE rate, 8 clients, zonewright/named: $(r zw/ups8) / $(r named/ups8) = $(ratio "$(r zw/ups8)" "$(r named/ups8)") (goal >= 1)"
fi
if (( run_zw && run_knot )); then
    echo "dnsperf QPS, zonewright/knotd: $(r zw/qps) / $(r knotd/qps) = $(ratio "$(r zw/qps)" "$(r knotd/qps)") (goal >= 1)"
fi
if (( run_named )); then
    echo "named UPDATE p50: 1 client $(r named/p50_1) ms, 8 clients $(r named/p50_8) ms; start $(r named/start) s"
fi
for k in zw knotd; do
    [[ -z ${res[$k/lost]:-} || ${res[$k/lost]} == 0 ]] \
        || echo "dnsperf $k: ${res[$k/lost]} queries lost; response codes: ${res[$k/codes]:-}"
done
if (( ${#failed[@]} )); then
    echo "not measured: ${failed[*]} (see messages above)"
    exit 1
fi
