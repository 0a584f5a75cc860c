#!/usr/bin/env bash
# Interop test: zonewright as a hidden primary, BIND 9 (named), Knot (knotd)
# and NSD as its secondaries, every transfer signed with TSIG key xfr-key
# (hmac-sha256).
#
# zonewright serves example.test on a free 127.0.0.1 port P; the three
# secondaries (each on its own free port) pull it from 127.0.0.1@P with the
# key and accept NOTIFY from 127.0.0.1 signed with the key. Then:
#   1. initial AXFR: each secondary answers the primary's SOA serial
#      (dig every 20 ms, at most 10 s);
#   2. 20 UPDATEs in a row (nsupdate -y, each adding TXT t<i>.example.test):
#      after each UPDATE's answer, the time until each secondary answers the
#      new record (dig every 20 ms, at most 5 s); p50/max per secondary;
#   3. the secondaries' logs: was IXFR used after the first transfer?
#      (informational; a failure with --require-ixfr);
#   4. an edit of the zone file on disk (a record appended, the serial bumped,
#      atomic mv) reaches every secondary (at most 10 s);
#   5. three hand edits that leave the serial line as it is: a record
#      appended in place (printf >>), one record deleted and one added by
#      sed -i, a record appended by a save by rename (temp file + mv). After
#      each, the primary must serve it under a serial it raised above the
#      one served ([serial] external = "raise", the default), written back
#      into the file and committed as "(raised by zonewright)" (at most 10 s
#      each); every secondary must serve it (at most 10 s) and have fetched
#      that serial by IXFR (the transfer of that serial, read from the logs
#      written since the edit, see xfr_kind; a failure with --require-ixfr);
#      once the edit is committed, the primary must answer IXFR from the
#      previous serial incrementally itself (so an AXFR above comes from
#      when the transfer ran, not from a history without the step);
#   6. `git checkout HEAD~3 -- example.test.zone` in the zones repository,
#      i.e. the version before the three hand edits, with its older serial:
#      the primary must raise the serial above the served one and commit it,
#      and every secondary must serve that version again (the record 5.
#      deleted is back, the three it added are gone, the UPDATEs of 2. are
#      still there), by IXFR as in 5. The last three commits are hand edits
#      on purpose: had they been UPDATEs made within [git] rebase_window
#      (15 min), the checkout would be a saved file lacking acknowledged
#      writes, and the server re-applies those (README, "Hand edits and
#      dynamic writes");
#   7. a change reviewed on a git branch, pulled by the server: the zones
#      repository has a remote, origin, a bare repository in the temp dir
#      (the forge; [git] remote = "origin", pull_interval = "off",
#      push_interval = "500ms"). Once the server has pushed its HEAD there
#      (at most 10 s), a clone of it (the laptop) commits a record
#      appended to the zone file, serial line kept, and pushes it; then
#      kill -USR1 the primary. It must serve the record under a serial it
#      raised above the one served, and every secondary must follow by IXFR
#      (as in 5.: follow); the UPDATEs of 2. are still served; the server's
#      last merge commit has the laptop's commit as its second parent (at
#      most 5 s) and the remote's branch becomes the server's HEAD (pushed,
#      at most 10 s);
#   8. the primary is stopped: every secondary keeps answering meanwhile;
#      it is started again on the same port and one more UPDATE reaches every
#      secondary (at most 15 s).
# A summary table follows. Exit status 1 if a secondary did not start, missed
# a change, stopped answering while the primary was down, or (with
# --require-ixfr) never used IXFR or got a hand edit, the checkout or the
# pull by anything but IXFR; 1 as well if the primary did not raise, write
# back or commit the serial of an edit (or, with --require-ixfr, did not
# answer IXFR from the previous serial incrementally once committed), or
# did not push, pull or make the merge commit of 7.; 2 on a usage error.
#
# Usage: scripts/interop-secondaries.sh [-b BINARY] [--no-notify|--self-notify] [--require-ixfr]
#          [--key-transfer] [--only named,knot,nsd] [--keep-logs DIR]
#   -b BINARY        use this zonewright binary instead of building one
#                    (cargo build --release --locked)
#   --no-notify      leave notify/notify_key and "key:xfr-key" out of the
#                    primary's config: the secondaries follow by their SOA
#                    refresh timer (1 s in the zone, the daemons' minimums
#                    lowered to 1 s; Knot's lowest is 2 s), not by NOTIFY
#   --self-notify    as --no-notify, but with refresh 3600 s: the script
#                    itself sends each secondary a NOTIFY signed with the key
#                    (scripts/interop/notify.py) after every change, as
#                    zonewright will; checks the secondaries' NOTIFY setup
#   --require-ixfr   fail unless each secondary used IXFR after its first
#                    transfer
#   --only LIST      run only these secondaries (default named,knot,nsd)
#   --key-transfer   allow_transfer = ["key:xfr-key"] only (no CIDR): the
#                    secondaries' signed transfers must be allowed by the key,
#                    and an unsigned AXFR from 127.0.0.1 must be refused
#   --keep-logs DIR  copy every config and log into DIR before the temp dir
#                    is removed
# Without --no-notify/--self-notify the primary sends the NOTIFYs (config
# notify = [...], notify_key; allow_transfer also names "key:xfr-key") and
# the zone's refresh is 3600 s, so a secondary that converges did so
# because of a NOTIFY.
#
# Needs (installs nothing): named, knotd, nsd, dig, nsupdate, git (2.28 or
# later, for init -b),
# /usr/bin/python3 with dnspython, and cargo unless -b.
set -euo pipefail

binary=
notify_by=primary         # primary | script | timer
require_ixfr=0
only=named,knot,nsd
keep=
key_transfer=0
usage() {
    echo "usage: $0 [-b BINARY] [--no-notify|--self-notify] [--require-ixfr] [--key-transfer]" \
        "[--only named,knot,nsd] [--keep-logs DIR]" >&2
    exit 2
}
while (( $# )); do
    case $1 in
        -b) (( $# >= 2 )) || usage; binary=$2; shift 2 ;;
        --no-notify) notify_by=timer; shift ;;
        --self-notify) notify_by=script; shift ;;
        --require-ixfr) require_ixfr=1; shift ;;
        --key-transfer) key_transfer=1; shift ;;
        --only) (( $# >= 2 )) || usage; only=$2; shift 2 ;;
        --keep-logs) (( $# >= 2 )) || usage; keep=$2; shift 2 ;;
        -h|--help) sed -n '2,/^set -euo/p' "$0" | sed -e '$d' -e 's/^# \{0,1\}//'; exit 0 ;;
        *) usage ;;
    esac
done
IFS=, read -r -a secondaries <<<"$only"
for s in "${secondaries[@]}"; do
    case $s in named|knot|nsd) ;; *) echo "--only: named, knot, nsd" >&2; exit 2 ;; esac
done
(( ${#secondaries[@]} > 0 )) || usage

PY=/usr/bin/python3
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
zone=example.test
keyname=xfr-key
updates=20

ZW_TAG=interop
ZW_PY=$PY
# shellcheck source=scripts/lib/common.sh
source "$root/scripts/lib/common.sh"
need() { zw_need "$@"; }
need dig bind9-dnsutils
need nsupdate bind9-dnsutils
need git git
for s in "${secondaries[@]}"; do
    case $s in
        named) need named bind9 ;;
        knot) need knotd knot ;;
        nsd) need nsd nsd ;;
    esac
done
[[ -n $binary ]] || need cargo cargo
[[ -x $PY ]] || { echo "interop: $PY not found" >&2; exit 1; }

# --- everything we start is stopped on exit, by PID -------------------------
declare -A pid=()          # [name] = PID of a daemon we started
tmp=$(mktemp -d "${TMPDIR:-/tmp}/zw-interop.XXXXXX")
cleanup() {
    local n
    for n in "${!pid[@]}"; do
        zw_stop_pid "${pid[$n]}"
    done
    if [[ -n $keep ]]; then
        if mkdir -p "$keep"; then
            find "$tmp" -type f \( -name '*.log' -o -name '*.conf' -o -name '*.toml' \
                -o -name '*.zone' \) -exec cp --parents {} "$keep" \; 2>/dev/null || true
        fi
    fi
    rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# ask PORT NAME TYPE: dig +short, one try, 1 s timeout; empty on no answer.
ask() {
    dig +short +norec +time=1 +tries=1 @127.0.0.1 -p "$1" "$2" "$3" 2>/dev/null || true
}

# serial_at PORT: the SOA serial served on PORT, or empty.
serial_at() {
    ask "$1" "$zone" SOA | awk 'NF >= 7 { print $3; exit }'
}

# wait_for PORT NAME TYPE WANT LIMIT_MS START_US: polls every 20 ms until the
# answer contains WANT (fixed string); prints the ms since START_US, or
# "miss" after LIMIT_MS.
wait_for() {
    local port=$1 name=$2 type=$3 want=$4 limit=$5 start=$6 t i
    for (( i = 0; i < 100000; i++ )); do
        if ask "$port" "$name" "$type" | grep -qF -- "$want"; then
            t=$(zw_now_us)
            echo $(( (t - start) / 1000 ))
            return 0
        fi
        t=$(zw_now_us)
        (( (t - start) / 1000 < limit )) || break
        sleep 0.02
    done
    echo miss
}

# wait_all NAME TYPE WANT LIMIT_MS START_US TAG: wait_for on every running
# secondary at once; results in res[TAG/secondary].
declare -A res=()
wait_all() {
    local name=$1 type=$2 want=$3 limit=$4 start=$5 tag=$6 s
    local -A poller=()
    for s in "${running[@]}"; do
        wait_for "${port[$s]}" "$name" "$type" "$want" "$limit" "$start" >"$tmp/wait.$s" &
        poller[$s]=$!
    done
    for s in "${running[@]}"; do
        wait "${poller[$s]}" || true
        res[$tag/$s]=$(<"$tmp/wait.$s")
    done
}

# --- the primary ------------------------------------------------------------
if [[ -z $binary ]]; then
    echo "== building zonewright (cargo build --release --locked)"
    (cd "$root" && cargo build --release --locked)
    binary="${CARGO_TARGET_DIR:-$root/target}/release/zonewright"
fi
[[ -x $binary ]] || { echo "interop: $binary is not executable" >&2; exit 1; }

secret=$("$PY" -c 'import base64, os; print(base64.b64encode(os.urandom(32)).decode())')
read -r -a ports <<<"$(zw_free_ports 4)"
declare -A port=([primary]=${ports[0]} [named]=${ports[1]} [knot]=${ports[2]} [nsd]=${ports[3]})
P=${port[primary]}

mkdir -p "$tmp/primary/zones"
zfile="$tmp/primary/zones/$zone.zone"
# Without NOTIFY: refresh and retry 1 s, so that the secondaries poll the
# serial every second (each daemon's own minimum lowered below). With NOTIFY:
# 3600 s and 600 s, so that only a NOTIFY makes a secondary follow quickly.
if [[ $notify_by == timer ]]; then refresh=1 retry=1; else refresh=3600 retry=600; fi
cat >"$zfile" <<ZONE
\$ORIGIN $zone.
\$TTL 60
@ IN SOA ns.$zone. hostmaster.$zone. 1 $refresh $retry 1209600 60
@ IN NS ns.$zone.
ns IN A 192.0.2.53
ZONE
git -C "$tmp/primary/zones" init -q
git -C "$tmp/primary/zones" add "$zone.zone"
git -C "$tmp/primary/zones" -c user.name=interop -c user.email=interop@localhost \
    commit -q -m "initial $zone"

# The zones repository's remote for 7.: origin, a bare repository in the
# temp dir (the forge), holding the zones repository's branch before the
# primary starts ([git] remote must exist at start-up). lgit: git with the
# machine's and the user's config left out (HOME in the temp dir), for the
# remote's set-up and the laptop of 7.
lgit() {
    GIT_CONFIG_NOSYSTEM=1 HOME="$tmp/home" XDG_CONFIG_HOME="$tmp/home/.config" \
        GIT_TERMINAL_PROMPT=0 git "$@" </dev/null
}
mkdir -p "$tmp/home"
remote_git=$tmp/remote.git
branch=$(git -C "$tmp/primary/zones" symbolic-ref --short HEAD)
if ! { lgit init -q --bare -b "$branch" "$remote_git" \
        && lgit -C "$tmp/primary/zones" remote add origin "$remote_git" \
        && lgit -C "$tmp/primary/zones" push -q origin "$branch"; } 2>"$tmp/remote.err"; then
    echo "interop: could not set up $remote_git as the remote origin of the zones repository:" >&2
    sed 's/^/   | /' "$tmp/remote.err" >&2
    exit 1
fi

notify_list=
for s in "${secondaries[@]}"; do
    notify_list+="${notify_list:+, }\"127.0.0.1:${port[$s]}\""
done
{
    echo "listen = [\"127.0.0.1:$P\"]"
    echo "zones_dir = \"$tmp/primary/zones\""
    echo
    # 7.: pull only on SIGUSR1, push the server's commits within 500 ms.
    echo "[git]"
    echo "remote = \"origin\""
    echo "pull_interval = \"off\""
    echo "push_interval = \"500ms\""
    echo
    echo "[[key]]"
    echo "name = \"$keyname\""
    echo "algorithm = \"hmac-sha256\""
    echo "secret = \"$secret\""
    echo "rate_limit = \"off\""
    echo "grant = [ { zone = \"$zone\", names = [\"**\"], types = [\"*\"] } ]"
    echo
    echo "[[zone]]"
    echo "name = \"$zone\""
    if [[ $notify_by == primary ]]; then
        echo "notify = [$notify_list]"
        echo "notify_key = \"$keyname\""
    fi
    if (( key_transfer )); then
        echo "allow_transfer = [\"key:$keyname\"]"
    elif [[ $notify_by == primary ]]; then
        echo "allow_transfer = [\"127.0.0.0/8\", \"key:$keyname\"]"
    else
        echo "allow_transfer = [\"127.0.0.0/8\"]"
    fi
} >"$tmp/primary/zonewright.toml"

# start_primary: zonewright on 127.0.0.1:P, ready when it answers the SOA
# (at most 100 tries, 50 ms apart, plus dig's timeout).
start_primary() {
    local _
    "$binary" --log-level info serve --config "$tmp/primary/zonewright.toml" \
        >>"$tmp/primary/zonewright.log" 2>&1 &
    pid[primary]=$!
    for _ in $(seq 100); do
        if ! kill -0 "${pid[primary]}" 2>/dev/null; then
            echo "interop: zonewright exited" >&2
            zw_log_tail zonewright "$tmp/primary/zonewright.log"
            unset 'pid[primary]'
            return 1
        fi
        # An answer counts only if our process is still alive after it (not
        # some other process that took the port meanwhile).
        if [[ -n $(serial_at "$P") ]] && kill -0 "${pid[primary]}" 2>/dev/null; then
            return 0
        fi
        sleep 0.05
    done
    echo "interop: zonewright does not answer the SOA of $zone on 127.0.0.1:$P" >&2
    zw_log_tail zonewright "$tmp/primary/zonewright.log"
    return 1
}

case $notify_by in
    primary) how="it sends NOTIFY to $notify_list" ;;
    script) how="this script sends the NOTIFYs" ;;
    timer) how="no NOTIFY: secondaries poll every 1 s" ;;
esac
echo "== zonewright primary on 127.0.0.1:$P ($how)"
start_primary || exit 1

# --- the secondaries --------------------------------------------------------
# Each gets its own folder, config and log; the same key; NOTIFY accepted
# from 127.0.0.1 when signed with the key.
#
# Quirks met here (BIND 9.18, Knot 3.2, NSD 4.6):
# - named: min-refresh-time/min-retry-time (default 300 s) clamp the SOA's
#   1 s timers; `controls { };` keeps it off the rndc port 953; it accepts
#   NOTIFY from a primaries address even unsigned, whatever allow-notify
#   says; the transfer kind ("got incremental response") is logged only at
#   debug level 3, hence -d 3.
# - knotd: refresh-min-interval/retry-min-interval refuse values below 2;
#   3.2 names the primary `master:`; zonefile-load none and zonefile-sync -1
#   keep the zone in its journal (in the temp dir) only.
# - nsd: username "" and chroot "" or it drops to user nsd and chroots;
#   database "" (no nsd.db); xfrd-reload-timeout 0, else a transfer is served
#   up to 1 s later; control-enable no, so no nsd-control-setup; -d keeps the
#   main process in the foreground but it still forks a server child; it
#   logs no transfer kind (see ixfr_seen).

conf_named() {
    local d=$tmp/named
    mkdir -p "$d"
    cat >"$d/named.conf" <<CONF
options {
    directory "$d";
    pid-file "$d/named.pid";
    session-keyfile "$d/session.key";
    managed-keys-directory "$d";
    listen-on port ${port[named]} { 127.0.0.1; };
    listen-on-v6 { none; };
    recursion no;
    notify no;
    dnssec-validation no;
    // Follow SOA refresh/retry of 1 s (the defaults clamp them to 300 s).
    min-refresh-time 1;
    min-retry-time 1;
};
controls { };
key "$keyname" {
    algorithm hmac-sha256;
    secret "$secret";
};
zone "$zone" {
    type secondary;
    file "$zone.bk";
    primaries { 127.0.0.1 port $P key "$keyname"; };
    allow-notify { key "$keyname"; };
    request-ixfr yes;
};
CONF
    log[named]=$d/stdout.log        # named -g logs to stderr
    argv=(named -g -d 3 -4 -c "$d/named.conf")
}

conf_knot() {
    local d=$tmp/knot
    mkdir -p "$d"
    cat >"$d/knot.conf" <<CONF
server:
    rundir: "$d"
    listen: 127.0.0.1@${port[knot]}
log:
  - target: stderr
    any: info
database:
    storage: "$d"
control:
    listen: "$d/knot.sock"
key:
  - id: $keyname
    algorithm: hmac-sha256
    secret: $secret
remote:
  - id: primary
    address: 127.0.0.1@$P
    key: $keyname
acl:
  - id: notify-from-primary
    address: 127.0.0.1
    key: $keyname
    action: notify
template:
  - id: default
    storage: "$d"
    file: "%s.zone"
    zonefile-sync: -1
    zonefile-load: none
    journal-content: changes
    refresh-min-interval: 2
    retry-min-interval: 2
zone:
  - domain: $zone
    master: primary
    acl: notify-from-primary
CONF
    log[knot]=$d/stdout.log         # log target stderr
    argv=(knotd -c "$d/knot.conf")
}

conf_nsd() {
    local d=$tmp/nsd
    mkdir -p "$d"
    cat >"$d/nsd.conf" <<CONF
server:
    ip-address: 127.0.0.1
    port: ${port[nsd]}
    do-ip6: no
    username: ""
    chroot: ""
    zonesdir: "$d"
    database: ""
    zonelistfile: "$d/zone.list"
    xfrdfile: "$d/xfrd.state"
    xfrdir: "$d"
    pidfile: "$d/nsd.pid"
    logfile: "$d/nsd.log"
    verbosity: 2
    server-count: 1
    # Serve a transfer at once (default: wait 1 s to batch reloads).
    xfrd-reload-timeout: 0
remote-control:
    control-enable: no
key:
    name: "$keyname"
    algorithm: hmac-sha256
    secret: "$secret"
zone:
    name: "$zone"
    zonefile: "$zone.zone"
    request-xfr: 127.0.0.1@$P $keyname
    # Its own source address, so the primary's log tells its transfers apart.
    outgoing-interface: 127.0.0.3
    allow-notify: 127.0.0.1 $keyname
    min-refresh-time: 1
    min-retry-time: 1
CONF
    log[nsd]=$d/nsd.log
    argv=(nsd -d -c "$d/nsd.conf")
}

declare -A log=() started=()
running=()
argv=()
for s in "${secondaries[@]}"; do
    "conf_$s"
    echo "== $s secondary on 127.0.0.1:${port[$s]}: ${argv[*]}"
    "${argv[@]}" >>"$tmp/$s/stdout.log" 2>&1 &
    pid[$s]=$!
done
# Started = still running and answering a query (any rcode) within 10 s.
for s in "${secondaries[@]}"; do
    started[$s]=no
    for _ in $(seq 100); do
        kill -0 "${pid[$s]}" 2>/dev/null || break
        if dig +norec +time=1 +tries=1 @127.0.0.1 -p "${port[$s]}" "$zone" SOA >/dev/null 2>&1 \
            && kill -0 "${pid[$s]}" 2>/dev/null; then
            started[$s]=yes
            break
        fi
        sleep 0.1
    done
    if [[ ${started[$s]} == yes ]]; then
        running+=("$s")
    else
        echo "interop: $s did not start" >&2
        zw_log_tail "$s" "$tmp/$s/stdout.log"
        [[ ${log[$s]} == "$tmp/$s/stdout.log" ]] || zw_log_tail "$s" "${log[$s]}"
        unset "pid[$s]"
    fi
done

failures=()

# self_notify: with --self-notify, a NOTIFY signed with the key to every
# running secondary (one try each, 1 s timeout); a refusal is a failure.
# notify_ms: how long the helper took (Python start-up included), a part of
# the convergence times that a primary sending NOTIFY itself would not add.
notify_ms=
notify_all=""
self_notify() {
    local s ports=() out t0
    [[ $notify_by == script ]] || return 0
    t0=$(zw_now_us)
    for s in "${running[@]}"; do ports+=("${port[$s]}"); done
    (( ${#ports[@]} )) || return 0
    if ! out=$("$PY" "$root/scripts/interop/notify.py" --zone "$zone" --key-name "$keyname" \
            --secret "$secret" "${ports[@]}" 2>&1); then
        for s in "${running[@]}"; do
            out=${out//${port[$s]} /$s: }
        done
        echo "   NOTIFY not accepted: ${out//$'\n'/; }" >&2
        failures+=("NOTIFY not accepted ($1): ${out//$'\n'/; }")
    fi
    notify_ms=$(( ($(zw_now_us) - t0) / 1000 ))
    notify_all+="$notify_ms "
}

# --- 1. initial AXFR ---------------------------------------------------------
serial0=$(serial_at "$P")
echo "== 1. initial transfer of serial $serial0"
wait_all "$zone" SOA "hostmaster.$zone. $serial0 " 10000 "$(zw_now_us)" axfr
for s in "${running[@]}"; do
    echo "   $s: ${res[axfr/$s]} ms"
    [[ ${res[axfr/$s]} != miss ]] || failures+=("$s: initial transfer")
done

# stats "MS MS ...": "p50 max" (p50 = lower median), or "- -".
stats() {
    # shellcheck disable=SC2086
    printf '%s\n' $1 | sort -n | awk 'NF { v[n++] = $1 } END {
        if (n == 0) { print "- -"; exit }
        print v[int((n - 1) / 2)], v[n - 1] }'
}
# --- 2. UPDATEs --------------------------------------------------------------
echo "== 2. $updates UPDATEs, each followed until every secondary answers it"
# update FILE: nsupdate -y with the key; 5 s timeout.
update() {
    timeout 20 nsupdate -t 5 -y "hmac-sha256:$keyname:$secret" "$1"
}
declare -A conv=()     # [secondary] = space-separated ms of each converged UPDATE
declare -A missed=()
for s in "${running[@]}"; do conv[$s]=""; missed[$s]=0; done
update_failed=0
for (( i = 1; i <= updates; i++ )); do
    printf 'server 127.0.0.1 %s\nzone %s\nupdate add t%d.%s 60 TXT "v%d"\nsend\n' \
        "$P" "$zone" "$i" "$zone" "$i" >"$tmp/update.txt"
    if ! update "$tmp/update.txt" >"$tmp/nsupdate.out" 2>&1; then
        echo "   UPDATE $i failed:" >&2
        sed 's/^/   | /' "$tmp/nsupdate.out" >&2
        update_failed=$(( update_failed + 1 ))
        continue
    fi
    start=$(zw_now_us)
    self_notify "UPDATE $i"
    wait_all "t$i.$zone" TXT "\"v$i\"" 5000 "$start" "u$i"
    line="   t$i:"
    for s in "${running[@]}"; do
        r=${res[u$i/$s]}
        line+=" $s $r"
        if [[ $r == miss ]]; then
            missed[$s]=$(( ${missed[$s]} + 1 ))
        else
            conv[$s]+="$r "
            line+=" ms"
        fi
        line+=";"
    done
    [[ -z $notify_ms ]] || line+=" (NOTIFY sent after $notify_ms ms)"
    echo "$line"
done
(( update_failed == 0 )) || failures+=("primary: $update_failed UPDATEs failed")
if [[ -n $notify_all ]]; then
    read -r a b <<<"$(stats "$notify_all")"
    echo "   (the NOTIFY helper itself took p50 $a ms, max $b ms of these times)"
fi

declare -A p50=() pmax=()
for s in "${running[@]}"; do
    read -r a b <<<"$(stats "${conv[$s]}")"
    p50[$s]=$a
    pmax[$s]=$b
    echo "   $s: p50 ${p50[$s]} ms, max ${pmax[$s]} ms, missed ${missed[$s]}/$updates"
    (( ${missed[$s]} == 0 )) || failures+=("$s: missed ${missed[$s]} UPDATEs")
done

# --- 3. IXFR? ----------------------------------------------------------------
# How each daemon shows the kind of an incoming transfer (BIND 9.18, Knot 3.2,
# NSD 4.6), see ixfr_seen.
echo "== 3. IXFR after the first transfer?"
# The size of a full transfer now (signed AXFR from the primary), for NSD.
axfr_bytes=$(dig +time=2 +tries=1 -y "hmac-sha256:$keyname:$secret" @127.0.0.1 -p "$P" "$zone" AXFR 2>/dev/null \
    | sed -n 's/^;; XFR size: .*bytes \([0-9]*\)).*/\1/p' | tail -n 1)
if [[ -n $axfr_bytes ]]; then
    echo "   (a signed AXFR of the zone now: $axfr_bytes bytes)"
else
    echo "   signed AXFR from the primary failed" >&2
    failures+=("primary: signed AXFR")
fi
if (( key_transfer )); then
    # Allowed by the key only: an unsigned AXFR from 127.0.0.1 gets no zone.
    if dig +time=2 +tries=1 @127.0.0.1 -p "$P" "$zone" AXFR 2>/dev/null | grep -q "IN[[:space:]]SOA"; then
        echo "   an unsigned AXFR was answered although allow_transfer names only the key" >&2
        failures+=("primary: unsigned AXFR answered with allow_transfer = key only")
    else
        echo "   (an unsigned AXFR is refused: allow_transfer names only the key)"
    fi
fi
declare -A ixfr=() mark=()
# mark_logs: the size of every log now (the primary's and each secondary's);
# xfr_kind SECONDARY SERIAL then reads only what was logged after it, the
# transfers of one change.
mark_logs() {
    local s
    mark[primary]=$(stat -c %s "$tmp/primary/zonewright.log" 2>/dev/null || echo 0)
    for s in "${running[@]}"; do
        mark[$s]=$(stat -c %s "${log[$s]}" 2>/dev/null || echo 0)
    done
}
# since NAME FILE: FILE from the mark of NAME on.
since() {
    tail -c "+$(( ${mark[$1]:-0} + 1 ))" "$2" 2>/dev/null || true
}
# xfr_kind SECONDARY [SERIAL]: how the secondary got SERIAL, from what was
# logged after mark_logs: "ixfr" (an incremental answer), "axfr" (an AXFR,
# or an IXFR answered with the whole zone) or "none" (no transfer of SERIAL
# logged yet). Without SERIAL: "ixfr" if any transfer in its whole log was
# incremental, else "none".
xfr_kind() {
    local s=$1 n=${2:-} f=${log[$1]} plog=$tmp/primary/zonewright.log
    if [[ -z $n ]]; then
        if case $s in
            # named -g -d 3: "transfer of 'example.test/IN' from 127.0.0.1#P:
            # got incremental response" (an AXFR or AXFR-style answer: "got
            # nonincremental response").
            named) grep -q "got incremental response" "$f" ;;
            # knotd: "[example.test.] IXFR, incoming, remote 127.0.0.1@P,
            # finished, ..."; an AXFR-style answer to IXFR is logged "IXFR,
            # incoming, ..., receiving AXFR-style IXFR" and then "AXFR, incoming".
            knot) grep -q "IXFR, incoming, .*finished" "$f" ;;
            # nsd logs no transfer kind, even at verbosity 3; it transfers
            # from 127.0.0.3 (outgoing-interface), and the primary logs every
            # incremental answer with the peer's address.
            nsd) grep -q 'IXFR answered incrementally.*peer=127\.0\.0\.3' "$plog" ;;
        esac; then echo ixfr; else echo none; fi
        return 0
    fi
    case $s in
        # The kind of the last response before "zone example.test/IN:
        # transferred serial N: TSIG ...".
        named) since named "$f" | awk -v n="$n" '
            /got nonincremental response/ { k = "axfr" }
            /got incremental response/ { k = "ixfr" }
            index($0, "transferred serial " n ":") { kind = k }
            END { print (kind == "" ? "none" : kind) }' ;;
        # The kind of the last transfer before "refresh, ..., zone updated,
        # ..., serial M -> N, ...".
        knot) since knot "$f" | awk -v n="$n" '
            /IXFR, incoming, .*started/ { k = "ixfr" }
            /AXFR-style IXFR|AXFR, incoming/ { k = "axfr" }
            /zone updated/ && index($0, "-> " n ",") { kind = k }
            END { print (kind == "" ? "none" : kind) }' ;;
        # The primary: "IXFR answered incrementally peer=127.0.0.3:X zone=Z
        # from=M to=N"; nsd: "received update to serial N" (any kind; an
        # answer in full is logged by the primary at debug level only).
        nsd)
            if since primary "$plog" | grep -qE \
                "IXFR answered incrementally peer=127\.0\.0\.3:[0-9]+ zone=$zone\. from=[0-9]+ to=$n( |\$)"; then
                echo ixfr
            elif since nsd "$f" | grep -qF "received update to serial $n "; then
                echo axfr
            else
                echo none
            fi ;;
    esac
}
ixfr_seen() {
    [[ $(xfr_kind "$1") == ixfr ]]
}
for s in "${running[@]}"; do
    if ixfr_seen "$s"; then ixfr[$s]=yes; else ixfr[$s]=no; fi
    echo "   $s: IXFR used: ${ixfr[$s]}"
    if (( require_ixfr )) && [[ ${ixfr[$s]} == no ]]; then failures+=("$s: no IXFR"); fi
done

# --- 4. an edit on disk -------------------------------------------------------
echo "== 4. zone file edited on disk"
edit_txt=                 # the TXT of "edited", once written
# The primary reloads the file by itself; the serial in the SOA line is the
# third field after SOA.
old=$(serial_at "$P")
new=$(( old + 1 ))
sed -E "s/^(@[[:space:]]+([0-9]+[[:space:]]+)?IN[[:space:]]+SOA[[:space:]]+[^[:space:]]+[[:space:]]+[^[:space:]]+[[:space:]]+)$old([[:space:]])/\\1$new\\3/" \
    "$zfile" >"$zfile.tmp"
printf 'edited 60 IN TXT "on disk %s"\n' "$new" >>"$zfile.tmp"
if cmp -s "$zfile" "$zfile.tmp" || ! grep -q " $new " "$zfile.tmp"; then
    echo "interop: could not find serial $old in the SOA line of $zfile:" >&2
    grep -n SOA "$zfile" >&2 || true
    rm -f "$zfile.tmp"
    failures+=("primary: zone file edit")
    for s in "${running[@]}"; do res[edit/$s]=-; done
else
    mv "$zfile.tmp" "$zfile"
    edit_txt="on disk $new"
    start=$(zw_now_us)
    wait_for "$P" "edited.$zone" TXT "on disk $new" 10000 "$start" >"$tmp/wait.primary" &
    primary_poller=$!
    if [[ $notify_by == script ]]; then
        # NOTIFY once the primary serves the new serial, like the primary would.
        wait "$primary_poller" || true
        self_notify "disk edit"
    fi
    wait_all "edited.$zone" TXT "on disk $new" 10000 "$start" edit
    wait "$primary_poller" || true
    echo "   primary serves serial $new after $(<"$tmp/wait.primary") ms (since the mv)"
    for s in "${running[@]}"; do
        echo "   $s: ${res[edit/$s]} ms"
        [[ ${res[edit/$s]} != miss ]] || failures+=("$s: missed the edit on disk")
    done
fi

# --- helpers for 5. and 6.: edits that leave the serial to zonewright --------
zdir=$tmp/primary/zones
# zgit ARGS: git in the zones repository; never takes the index lock for a
# read (status, diff), so it does not get in the way of the primary's commits.
zgit() {
    git --no-optional-locks -C "$zdir" -c user.name=interop -c user.email=interop@localhost "$@"
}
# file_serial [REV]: the serial in the SOA line of the zone file, on disk or
# at REV in git (the third field after SOA).
file_serial() {
    { if (( $# )); then zgit show "$1:$zone.zone" 2>/dev/null; else cat "$zfile"; fi; } |
        awk '{ for (i = 1; i + 3 <= NF; i++) if ($i == "SOA") { print $(i + 3); exit } }'
}
# serial_after A B: B is after A (RFC 1982, 32 bits).
serial_after() {
    local d=$(( ($2 - $1) & 0xFFFFFFFF ))
    (( d > 0 && d < 0x80000000 ))
}
# settle SERIAL: wait until the zone file has SERIAL, HEAD has it and the
# file is HEAD's (at most 100 tries, 50 ms apart).
settle() {
    local _
    for _ in $(seq 100); do
        if [[ $(file_serial) == "$1" && $(file_serial HEAD) == "$1" ]] \
            && zgit diff --quiet HEAD -- "$zone.zone" 2>/dev/null; then
            return 0
        fi
        sleep 0.05
    done
    return 1
}
# nxdomain PORT NAME: the server on PORT answers NXDOMAIN for NAME (one try,
# 1 s timeout; no answer is not NXDOMAIN).
nxdomain() {
    dig +norec +time=1 +tries=1 @127.0.0.1 -p "$1" "$2" TXT 2>/dev/null | grep -q "status: NXDOMAIN"
}

# follow TAG OLD NAME WANT START_US HEAD [SUBJECT]: after a change of the zone file that
# left its serial to zonewright (mark_logs called before it, at START_US,
# when the zones repository's HEAD was the commit HEAD): the
# primary must serve NAME TXT containing WANT (at most 10 s) under a serial
# after OLD; every secondary must then serve it (at most 10 s since START_US,
# res[TAG/s]) and have fetched that serial by IXFR (kind[TAG/s], the kind
# logged within at most 20 tries 100 ms apart; a failure with
# --require-ixfr); and the serial must be written back into the file and
# committed, "(raised by zonewright)" (settle; the commits since HEAD are
# listed), after which the primary must answer IXFR=OLD incrementally itself
# (a failure with --require-ixfr). Sets served to the serial; returns 1 if
# the primary does not serve the change. An optional SUBJECT replaces
# "(raised by zonewright)" as what the subject of the last commit of the
# zone file must contain (a fixed string; "SERIAL" in it stands for the
# serial served).
declare -A kind=()
served=
follow() {
    local tag=$1 old=$2 name=$3 want=$4 start=$5 head=$6 subject=${7:-"(raised by zonewright)"} s ms k _
    ms=$(wait_for "$P" "$name.$zone" TXT "$want" 10000 "$start")
    served=$(serial_at "$P")
    if [[ $ms == miss ]]; then
        echo "   the primary does not serve $name.$zone TXT \"$want\" after 10 s (serial $served)" >&2
        failures+=("primary: $tag: not served")
        for s in "${running[@]}"; do res[$tag/$s]=-; kind[$tag/$s]=-; done
        return 1
    fi
    echo "   primary serves it after $ms ms, serial $old -> $served"
    serial_after "$old" "$served" || failures+=("primary: $tag: served with serial $served, not above $old")
    self_notify "$tag"
    wait_all "$name.$zone" TXT "$want" 10000 "$start" "$tag"
    for s in "${running[@]}"; do
        k=-
        if [[ ${res[$tag/$s]} != miss ]]; then
            for _ in $(seq 20); do
                k=$(xfr_kind "$s" "$served")
                [[ $k == none ]] || break
                sleep 0.1
            done
        fi
        kind[$tag/$s]=$k
        echo "   $s: ${res[$tag/$s]} ms, serial $(serial_at "${port[$s]}"), transfer of $served: $k"
        if [[ ${res[$tag/$s]} == miss ]]; then
            failures+=("$s: missed $tag")
        elif (( require_ixfr )) && [[ $k != ixfr ]]; then
            failures+=("$s: $tag: serial $served by $k, not IXFR")
        fi
    done
    if ! settle "$served"; then
        echo "   serial $served not written back and committed after 5 s: file $(file_serial), HEAD $(file_serial HEAD)" >&2
        failures+=("primary: $tag: serial $served not in the file and committed (file $(file_serial), HEAD $(file_serial HEAD))")
        return 0
    fi
    zgit log --format='   commit: %s' "$head..HEAD" -- "$zone.zone"
    subject=${subject//SERIAL/$served}
    if ! zgit log -1 --format=%s -- "$zone.zone" | grep -qF -- "$subject"; then
        failures+=("primary: $tag: the commit does not say \"$subject\": $(zgit log -1 --format=%s -- "$zone.zone")")
    fi
    # Once committed, the primary itself must answer IXFR=OLD incrementally
    # (its answer's second record is the SOA of OLD; a full answer has the
    # zone's records there): the history holds the step, whatever the
    # secondaries' transfers above raced with.
    k=$(dig +time=2 +tries=1 -y "hmac-sha256:$keyname:$secret" @127.0.0.1 -p "$P" "$zone" "IXFR=$old" \
        +noall +answer 2>/dev/null | awk -v o="$old" 'NR == 2 { print ($4 == "SOA" && $7 == o) ? "yes" : "no" }')
    echo "   the primary answers IXFR=$old incrementally once committed: ${k:-no answer}"
    if (( require_ixfr )) && [[ $k != yes ]]; then
        failures+=("primary: $tag: IXFR=$old not answered incrementally after the commit")
    fi
}

# --- 5. hand edits that keep the serial ---------------------------------------
echo "== 5. three hand edits that leave the serial line as it is"
hand=(hand-a hand-b hand-c)
# hand_edit TAG DESC NAME: after the edit just made (mark_logs and start
# before it), NAME.zone TXT "by hand TAG" must reach everyone (follow).
hand_edit() {
    echo "   $1: $2"
    follow "$1" "$old" "$3" "by hand $1" "$start" "$head" || true
}
# a. A record appended in place (one write(2)).
old=$(serial_at "$P") head=$(zgit rev-parse HEAD)
mark_logs
start=$(zw_now_us)
printf 'hand-a 60 IN TXT "by hand a"\n' >>"$zfile"
hand_edit a "printf >> (in place), serial $(file_serial) kept" hand-a
# b. sed -i (a new file renamed over it): "edited" of 4. deleted, one added.
old=$(serial_at "$P") head=$(zgit rev-parse HEAD)
if grep -q '^edited[[:space:]]' "$zfile"; then
    mark_logs
    start=$(zw_now_us)
    sed -i -e '/^edited[[:space:]]/d' -e '$a hand-b 60 IN TXT "by hand b"' "$zfile"
    hand_edit b "sed -i (by rename): edited deleted, hand-b added, serial $(file_serial) kept" hand-b
    for s in primary "${running[@]}"; do
        if ! nxdomain "${port[$s]}" "edited.$zone"; then
            echo "   $s still answers edited.$zone after b" >&2
            failures+=("$s: b: the record deleted by hand is still served")
        fi
    done
else
    echo "   b: no line \"edited\" in $zfile (4. failed?)" >&2
    failures+=("primary: b: no record \"edited\" to delete")
    for s in "${running[@]}"; do res[b/$s]=-; kind[b/$s]=-; done
fi
# c. A save by rename: a copy in the same folder, a record appended, mv.
old=$(serial_at "$P") head=$(zgit rev-parse HEAD)
mark_logs
cp "$zfile" "$zfile.tmp"
printf 'hand-c 60 IN TXT "by hand c"\n' >>"$zfile.tmp"
start=$(zw_now_us)
mv "$zfile.tmp" "$zfile"
hand_edit c "temp file + mv (by rename), serial $(file_serial) kept" hand-c

# --- 6. git checkout of an older version -------------------------------------------
echo "== 6. git checkout HEAD~3 -- $zone.zone (the version before the three hand edits)"
# HEAD~3 must be that version: "edited" there, no "hand-" record.
old=$(serial_at "$P") head=$(zgit rev-parse HEAD)
back=$(zgit show "HEAD~3:$zone.zone" 2>/dev/null || true)
if [[ -n $edit_txt ]] && grep -q '^edited[[:space:]]' <<<"$back" && ! grep -q '^hand-' <<<"$back"; then
    echo "   HEAD~3 has serial $(file_serial HEAD~3); served: $old"
    mark_logs
    start=$(zw_now_us)
    if zgit checkout HEAD~3 -- "$zone.zone" 2>"$tmp/checkout.err"; then
        if follow checkout "$old" edited "$edit_txt" "$start" "$head"; then
            # Everyone at the new serial: the hand records gone, the UPDATEs kept.
            for s in primary "${running[@]}"; do
                for n in "${hand[@]}"; do
                    if ! nxdomain "${port[$s]}" "$n.$zone"; then
                        echo "   $s still answers $n.$zone" >&2
                        failures+=("$s: checkout: $n still served")
                    fi
                done
                if ! ask "${port[$s]}" "t$updates.$zone" TXT | grep -qF "\"v$updates\""; then
                    echo "   $s no longer answers t$updates.$zone" >&2
                    failures+=("$s: checkout: t$updates (an UPDATE before HEAD~3) lost")
                fi
            done
            if ! zgit diff --cached --quiet HEAD -- "$zone.zone"; then
                echo "   (the index still differs from HEAD for $zone.zone after the commit)"
            fi
        fi
    else
        sed 's/^/   | /' "$tmp/checkout.err" >&2
        failures+=("primary: git checkout HEAD~3 failed")
        for s in "${running[@]}"; do res[checkout/$s]=-; kind[checkout/$s]=-; done
    fi
else
    echo "   HEAD~3 is not the version before the three hand edits; git log:" >&2
    zgit log --format='   | %h %s' -5 >&2
    failures+=("primary: checkout: HEAD~3 is not the version before the hand edits")
    for s in "${running[@]}"; do res[checkout/$s]=-; kind[checkout/$s]=-; done
fi

# --- 7. a change reviewed on a git branch, pulled by the server ----------------
echo "== 7. a change reviewed on a git branch (origin: $remote_git, $branch), pulled on SIGUSR1"
laptop=$tmp/laptop
pull_want="reviewed on a branch"
# remote_head: the commit of the remote's branch, or empty.
remote_head() {
    lgit --git-dir="$remote_git" rev-parse -q --verify "refs/heads/$branch^{commit}" 2>/dev/null || true
}
# wait_pushed: until the remote's branch is the zones repository's HEAD (at
# most 100 tries, 100 ms apart; the server pushes at most every 500 ms).
wait_pushed() {
    local _ h
    for _ in $(seq 100); do
        h=$(zgit rev-parse -q --verify HEAD 2>/dev/null || true)
        [[ -n $h && $(remote_head) == "$h" ]] && return 0
        sleep 0.1
    done
    return 1
}
pull_skip() {
    failures+=("$1")
    for s in "${running[@]}"; do res[pull/$s]=-; kind[pull/$s]=-; done
}
t0=$(zw_now_us)
if ! wait_pushed; then
    echo "   the remote's $branch is $(remote_head), not HEAD $(zgit rev-parse HEAD) after 10 s" >&2
    pull_skip "primary: pull: HEAD not pushed to origin/$branch after 10 s"
elif ! lgit clone -q --branch "$branch" "$remote_git" "$laptop" 2>"$tmp/laptop.err"; then
    sed 's/^/   | /' "$tmp/laptop.err" >&2
    pull_skip "pull: git clone of $remote_git failed"
else
    echo "   the server's HEAD is on origin/$branch after $(( ($(zw_now_us) - t0) / 1000 )) ms; cloned as the laptop"
    # The laptop: a record appended, the serial line as the server wrote it.
    lgit -C "$laptop" config user.name laptop
    lgit -C "$laptop" config user.email laptop@localhost
    laptop_serial=$(awk '{ for (i = 1; i + 3 <= NF; i++) if ($i == "SOA") { print $(i + 3); exit } }' \
        "$laptop/$zone.zone")
    printf 'pulled 60 IN TXT "%s"\n' "$pull_want" >>"$laptop/$zone.zone"
    if lgit -C "$laptop" commit -q -am "pulled: a record reviewed on a branch" 2>"$tmp/laptop.err" \
        && lgit -C "$laptop" push -q origin "$branch" 2>>"$tmp/laptop.err"; then
        laptop_commit=$(lgit -C "$laptop" rev-parse HEAD)
        echo "   laptop: commit ${laptop_commit:0:12} pushed (+pulled TXT, serial line kept at $laptop_serial)"
        old=$(serial_at "$P") head=$(zgit rev-parse HEAD)
        mark_logs
        start=$(zw_now_us)
        kill -USR1 "${pid[primary]}"
        pulled=0
        follow pull "$old" pulled "$pull_want" "$start" "$head" "TXT pulled.$zone, serial SERIAL" && pulled=1
        # What the primary logged of the pull and push since the signal.
        since primary "$tmp/primary/zonewright.log" | grep -E 'git (pull|push)' | head -n 10 \
            | sed -E 's/^[^ ]+ +/   primary: /' || true
        if (( pulled )); then
            # The write of the pull is by the remote's branch, via git-pull.
            w=$(zgit log -1 --format='%an|%B' -- "$zone.zone")
            if [[ ${w%%|*} != "origin/$branch" || $w != *"Via: git-pull"* ]]; then
                echo "   the pull's commit is not authored origin/$branch with Via: git-pull: ${w//$'\n'/ / }" >&2
                failures+=("primary: pull: the zone's commit is by ${w%%|*}, not origin/$branch via git-pull")
            fi
            # Everyone: the UPDATEs of 2. kept.
            for s in primary "${running[@]}"; do
                if ! ask "${port[$s]}" "t$updates.$zone" TXT | grep -qF "\"v$updates\""; then
                    echo "   $s no longer answers t$updates.$zone" >&2
                    failures+=("$s: pull: t$updates (an UPDATE) lost")
                fi
            done
            # The merge commit: parents the server's line and the laptop's
            # commit (at most 100 tries, 50 ms apart: it follows the write).
            parents=
            for _ in $(seq 100); do
                parents=$(zgit log --merges -1 --format=%P 2>/dev/null || true)
                [[ $parents == *" $laptop_commit" ]] && break
                sleep 0.05
            done
            merge=$(zgit log --merges -1 --format=%H 2>/dev/null || true)
            if [[ $parents == *" $laptop_commit" ]]; then
                echo "   merge commit ${merge:0:12}$([[ $merge == "$(zgit rev-parse HEAD)" ]] && echo " (HEAD)"):" \
                    "$(zgit log -1 --format=%s "$merge")"
                # Its first parent: the server's line, on from the HEAD before the pull.
                if ! zgit merge-base --is-ancestor "$head" "${parents%% *}"; then
                    failures+=("primary: pull: the merge's first parent ${parents:0:12} does not descend from the HEAD before the pull ${head:0:12}")
                fi
            else
                echo "   no merge commit with the laptop's ${laptop_commit:0:12} as second parent after 5 s;" \
                    "last merge's parents: ${parents:-none}" >&2
                failures+=("primary: pull: no merge commit with parent ${laptop_commit:0:12} (last merge: ${parents:-none})")
            fi
            # Pushed: the remote's branch is the server's HEAD again.
            t0=$(zw_now_us)
            if wait_pushed; then
                echo "   origin/$branch is the server's HEAD again after $(( ($(zw_now_us) - t0) / 1000 )) ms"
                if [[ -n $merge ]] && ! lgit --git-dir="$remote_git" merge-base --is-ancestor "$merge" "refs/heads/$branch"; then
                    failures+=("primary: pull: the merge commit is not on origin/$branch")
                fi
            else
                echo "   origin/$branch is $(remote_head), HEAD $(zgit rev-parse HEAD) after 10 s" >&2
                failures+=("primary: pull: HEAD not pushed to origin/$branch after 10 s")
            fi
        fi
    else
        sed 's/^/   | /' "$tmp/laptop.err" >&2
        pull_skip "pull: the laptop's commit or push failed"
    fi
fi

# --- 8. primary restart ---------------------------------------------------------
echo "== 8. primary stopped, secondaries keep serving, primary started again"
zw_stop_pid "${pid[primary]}"
unset 'pid[primary]'
declare -A down=()
for s in "${running[@]}"; do down[$s]=0; done
# 10 rounds, 200 ms apart: about 2 s of downtime (longer than the refresh
# and retry timers of 1 s of --no-notify, so the secondaries do try the
# primary). Serving = answering the zone's SOA.
for (( r = 0; r < 10; r++ )); do
    for s in "${running[@]}"; do
        if ask "${port[$s]}" "$zone" SOA | grep -qF "hostmaster.$zone. "; then
            down[$s]=$(( ${down[$s]} + 1 ))
        fi
    done
    sleep 0.2
done
for s in "${running[@]}"; do
    echo "   $s: answered ${down[$s]}/10 queries while the primary was down"
    (( ${down[$s]} == 10 )) || failures+=("$s: stopped answering while the primary was down")
done
restarted=0
for _ in 1 2 3; do
    if start_primary; then restarted=1; break; fi
    sleep 1
done
if (( restarted )); then
    printf 'server 127.0.0.1 %s\nzone %s\nupdate add after-restart.%s 60 TXT "back"\nsend\n' \
        "$P" "$zone" "$zone" >"$tmp/update.txt"
    if update "$tmp/update.txt" >"$tmp/nsupdate.out" 2>&1; then
        start=$(zw_now_us)
        self_notify "after the restart"
        wait_all "after-restart.$zone" TXT '"back"' 15000 "$start" restart
        for s in "${running[@]}"; do
            echo "   $s: caught up after ${res[restart/$s]} ms"
            [[ ${res[restart/$s]} != miss ]] || failures+=("$s: missed the UPDATE after the restart")
        done
    else
        echo "   UPDATE after the restart failed:" >&2
        sed 's/^/   | /' "$tmp/nsupdate.out" >&2
        failures+=("primary: UPDATE after the restart")
    fi
else
    failures+=("primary: did not restart on port $P")
fi

# --- summary -----------------------------------------------------------------
echo
echo "== summary (${how%% to *}; times in ms)"
# hand: the slowest of the three hand edits of 5. and the kinds of their
# transfers (one word when all agree); checkout: 6. and its transfer's kind;
# pull: 7. and its transfer's kind.
printf '%-9s %-7s %5s %8s %8s %7s %5s %8s %15s %10s %10s %6s %9s\n' \
    secondary started "axfr" "upd p50" "upd max" missed ixfr "disk" "hand" "checkout" "pull" "down" "restart"
for s in "${secondaries[@]}"; do
    if [[ ${started[$s]} == yes ]]; then
        hand_ms='' hand_kinds=''
        for t in a b c; do
            hand_ms+="${res[$t/$s]:--} "
            [[ ",$hand_kinds," == *",${kind[$t/$s]:--},"* ]] || hand_kinds+="${hand_kinds:+,}${kind[$t/$s]:--}"
        done
        if [[ $hand_ms == *miss* ]]; then hand_ms=miss
        elif [[ $hand_ms == *-* ]]; then hand_ms=-
        else read -r _ hand_ms <<<"$(stats "$hand_ms")"
        fi
        printf '%-9s %-7s %5s %8s %8s %7s %5s %8s %15s %10s %10s %6s %9s\n' "$s" yes "${res[axfr/$s]}" \
            "${p50[$s]}" "${pmax[$s]}" "${missed[$s]}/$updates" "${ixfr[$s]}" \
            "${res[edit/$s]:--}" "$hand_ms $hand_kinds" \
            "${res[checkout/$s]:--} ${kind[checkout/$s]:--}" \
            "${res[pull/$s]:--} ${kind[pull/$s]:--}" "${down[$s]}/10" "${res[restart/$s]:--}"
    else
        printf '%-9s %-7s\n' "$s" no
        failures+=("$s: did not start")
    fi
done
if (( ${#failures[@]} )); then
    echo
    echo "FAILED:"
    printf '   %s\n' "${failures[@]}"
    for s in "${running[@]}"; do
        if printf '%s\n' "${failures[@]}" | grep -q "^$s:"; then zw_log_tail "$s" "${log[$s]}"; fi
    done
    if printf '%s\n' "${failures[@]}" | grep -q "^primary:"; then
        zw_log_tail zonewright "$tmp/primary/zonewright.log"
    fi
    exit 1
fi
echo "OK: every secondary followed every change"
