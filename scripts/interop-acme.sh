#!/usr/bin/env bash
# Interop test: ACME DNS-01 end to end through zonewright, with real clients
# and a real (test) ACME CA, all on 127.0.0.1.
#
# zonewright serves example.test (and auth.example.test, a delegated zone
# for the CNAME pattern) on a free port P, with one TSIG key made by
# `zonewright keygen acme-key --zone example.test --zone auth.example.test`
# (the [[key]] block appended to the config, then `keygen --config` again
# for the certbot ini, lego's environment and nsupdate's key file).
# Pebble is the ACME CA, its -dnsserver pointing at 127.0.0.1:P, its HTTPS
# served with a throw-away CA and 127.0.0.1 certificate made here with
# openssl (trusted by the clients through REQUESTS_CA_BUNDLE and
# LEGO_CA_CERTIFICATES). Then:
#   1. certbot certonly --dns-rfc2136 for example.test and *.example.test
#      (credentials ini from keygen --format certbot);
#   2. lego --dns rfc2136 for the same names (env from keygen --format lego);
#   3. lego for cname.example.test, whose _acme-challenge is a CNAME into
#      auth.example.test: lego follows it and writes there, and pebble
#      sees the TXT through the CNAME in zonewright's answer;
#   4. nsupdate with the key file from keygen --format bind: add a TXT
#      (no zone line: nsupdate finds the zone by a signed SOA query), check
#      it with dig, delete it;
#   5. scripts/lib/acme_libdns.py: libdns/rfc2136's pattern (what Caddy
#      sends): TCP UPDATE delete-RRset + add, signed AXFR read-back, delete
#      of the one value, AXFR again;
#   6. confirm: pebble asks a BIND secondary (fed by NOTIFY + IXFR) instead
#      of zonewright; certbot (--dns-rfc2136-propagation-seconds 1) and lego
#      (no propagation wait) get 5 certificates each with `[[zone]] confirm
#      = 1` (switched by SIGHUP), and the same runs with confirm = 0 are
#      counted (a write answered before the secondary has it can fail).
# After each: the certificate (1-3) exists and `openssl verify`s against
# pebble's root and intermediate (fetched from its management port); no
# _acme-challenge TXT is left (dig, and a signed AXFR of both zones); git
# log shows the adds and removes, authored by the key; the zone files are
# byte-identical to before except the SOA serial line. The time each step
# took is printed, then a summary. Exit 1 on any failure, 2 on usage.
#
# Usage: scripts/interop-acme.sh [-b BINARY] [--only certbot,lego,cname,nsupdate,libdns,confirm]
#          [--keep-logs DIR]
#   -b BINARY        use this zonewright binary instead of building one
#                    (cargo build --release --locked)
#   --only LIST      run only these steps (default: all six)
#   --keep-logs DIR  copy configs, logs and zone files into DIR before the
#                    temp dir is removed
#
# Needs (installs nothing): pebble, certbot with python3-certbot-dns-rfc2136,
# lego, openssl, curl, dig, nsupdate, git, /usr/bin/python3 with dnspython,
# named (step 6) and cargo unless -b.
set -euo pipefail

binary=
only=certbot,lego,cname,nsupdate,libdns,confirm
keep=
usage() {
    echo "usage: $0 [-b BINARY] [--only certbot,lego,cname,nsupdate,libdns,confirm] [--keep-logs DIR]" >&2
    exit 2
}
while (( $# )); do
    case $1 in
        -b) (( $# >= 2 )) || usage; binary=$2; shift 2 ;;
        --only) (( $# >= 2 )) || usage; only=$2; shift 2 ;;
        --keep-logs) (( $# >= 2 )) || usage; keep=$2; shift 2 ;;
        -h|--help) sed -n '2,/^set -euo/p' "$0" | sed -e '$d' -e 's/^# \{0,1\}//'; exit 0 ;;
        *) usage ;;
    esac
done
IFS=, read -r -a steps <<<"$only"
for s in "${steps[@]}"; do
    case $s in certbot|lego|cname|nsupdate|libdns|confirm) ;; *) usage ;; esac
done
(( ${#steps[@]} > 0 )) || usage
wants() { [[ ,$only, == *,$1,* ]]; }

PY=/usr/bin/python3
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
zone=example.test
auth=auth.example.test
keyname=acme-key

ZW_TAG=interop-acme
ZW_PY=$PY
# shellcheck source=scripts/lib/common.sh
source "$root/scripts/lib/common.sh"
# shellcheck source=scripts/lib/pebble.sh
source "$root/scripts/lib/pebble.sh"
need() { zw_need "$@"; }
need pebble pebble
need certbot certbot
need lego lego
need openssl openssl
need curl curl
need dig bind9-dnsutils
need nsupdate bind9-dnsutils
need git git
[[ -n $binary ]] || need cargo cargo
[[ -x $PY ]] || { echo "interop-acme: $PY not found" >&2; exit 1; }
"$PY" -c 'import dns.query' 2>/dev/null || { echo "interop-acme: no dnspython (apt-get install python3-dnspython)" >&2; exit 1; }
if wants certbot && ! "$PY" -c 'import certbot_dns_rfc2136' 2>/dev/null; then
    echo "interop-acme: certbot has no dns-rfc2136 plugin (apt-get install python3-certbot-dns-rfc2136)" >&2
    exit 1
fi

# --- everything we start is stopped on exit, by PID -------------------------
declare -A pid=()          # [name] = PID of a daemon we started
tmp=$(mktemp -d "${TMPDIR:-/tmp}/zw-acme.XXXXXX")
cleanup() {
    local n
    for n in "${!pid[@]}"; do
        zw_stop_pid "${pid[$n]}"
    done
    if [[ -n $keep ]] && mkdir -p "$keep"; then
        find "$tmp" -type f \( -name '*.log' -o -name '*.toml' -o -name '*.json' -o -name '*.zone' \
            -o -name '*.out' \) -exec cp --parents {} "$keep" \; 2>/dev/null || true
    fi
    rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

secs_since() { local d=$(( $(zw_now_us) - $1 )); printf '%d.%01d' $(( d / 1000000 )) $(( d % 1000000 / 100000 )); }

read -r P A M <<<"$(zw_free_ports 3)"   # zonewright, pebble ACME, pebble management

# --- the throw-away CA for pebble's HTTPS -----------------------------------
echo "== throw-away CA and a 127.0.0.1 certificate for pebble's HTTPS (openssl)"
zw_pebble_tls "$tmp/tls"

# --- zonewright ---------------------------------------------------------------
if [[ -z $binary ]]; then
    echo "== building zonewright (cargo build --release --locked)"
    (cd "$root" && cargo build --release --locked)
    binary="${CARGO_TARGET_DIR:-$root/target}/release/zonewright"
fi
[[ -x $binary ]] || { echo "interop-acme: $binary is not executable" >&2; exit 1; }

zdir=$tmp/zw/zones
mkdir -p "$zdir"
# The SOA serial sits on its own line ("; serial"): the before/after
# comparison masks exactly that line.
cat >"$zdir/$zone.zone" <<ZONE
; example.test: the ACME interop zone. Challenge TXT records come and go;
; everything else here must stay as written.
\$ORIGIN $zone.
\$TTL 60

@       IN  SOA ns.$zone. hostmaster.$zone. (
                1          ; serial
                3600 600 1209600 60 )
        IN  NS  ns.$zone.
ns      IN  A   127.0.0.1
www     IN  A   127.0.0.1
cname   IN  A   127.0.0.1

; The CNAME pattern: the challenge for cname.example.test lives in
; auth.example.test (delegated below, served by this same server).
_acme-challenge.cname  IN  CNAME  _acme-challenge.cname.$auth.
auth    IN  NS  ns.$auth.
ns.auth IN  A   127.0.0.1
ZONE
cat >"$zdir/$auth.zone" <<ZONE
; auth.example.test: only ACME challenges are written here.
\$ORIGIN $auth.
\$TTL 60

@       IN  SOA ns.$auth. hostmaster.$zone. (
                1          ; serial
                3600 600 1209600 60 )
        IN  NS  ns.$auth.
ns      IN  A   127.0.0.1
ZONE
git -C "$zdir" init -q
git -C "$zdir" add .
git -C "$zdir" -c user.name=interop -c user.email=interop@localhost commit -q -m "initial zones"

cfg=$tmp/zw/zonewright.toml
printf 'listen = ["127.0.0.1:%s"]\nzones_dir = "zones"\n\n' "$P" >"$cfg"
echo "== zonewright keygen $keyname --zone $zone --zone $auth --format toml >>$cfg"
{
    "$binary" keygen "$keyname" --zone "$zone" --zone "$auth" --format toml
    echo
    # libdns/rfc2136 (Caddy) reads records by AXFR signed with the key.
    printf '[[zone]]\nname = "%s"\nallow_transfer = ["key:%s"]\n' "$zone" "$keyname"
    printf '[[zone]]\nname = "%s"\nallow_transfer = ["key:%s"]\n' "$auth" "$keyname"
} >>"$cfg"
# The key is in the config now: keygen prints it again for each client.
echo "== zonewright keygen $keyname --config $cfg --format bind|certbot|lego"
umask 077
{
    "$binary" keygen "$keyname" --config "$cfg" --format bind >"$tmp/acme-key.conf"
    "$binary" keygen "$keyname" --config "$cfg" --format certbot >"$tmp/certbot.ini"
    "$binary" keygen "$keyname" --config "$cfg" --format lego >"$tmp/lego.env"
} 2>>"$tmp/keygen.log"
umask 022
secret=$(sed -n 's/^RFC2136_TSIG_SECRET=//p' "$tmp/lego.env")
[[ -n $secret ]] || { echo "interop-acme: keygen printed no secret" >&2; cat "$tmp/lego.env" >&2; exit 1; }
grep -qF "secret = \"$secret\"" "$cfg" || { echo "interop-acme: keygen --config printed another secret" >&2; exit 1; }

# ask NAME TYPE [dig options]: dig +short, one try, 1 s timeout.
ask() {
    local n=$1 t=$2; shift 2
    dig +short +norec +time=1 +tries=1 "$@" @127.0.0.1 -p "$P" "$n" "$t" 2>/dev/null || true
}
"$binary" --log-level info serve --config "$cfg" >>"$tmp/zw/zonewright.log" 2>&1 &
pid[zonewright]=$!
up=0
for _ in $(seq 100); do                      # at most ~10 s
    kill -0 "${pid[zonewright]}" 2>/dev/null || break
    if [[ -n $(ask "$zone" SOA) && -n $(ask "$auth" SOA) ]] && kill -0 "${pid[zonewright]}" 2>/dev/null; then
        up=1; break
    fi
    sleep 0.1
done
if (( ! up )); then
    echo "interop-acme: zonewright does not answer on 127.0.0.1:$P" >&2
    zw_log_tail zonewright "$tmp/zw/zonewright.log"
    exit 1
fi
echo "== zonewright on 127.0.0.1:$P ($binary)"

# --- pebble ---------------------------------------------------------------------
# start_pebble NAME ACME_PORT MGMT_PORT DNS_SERVER: pebble with its own
# config, log, root and intermediate ($tmp/NAME-root.pem, ...), ready when
# its directory answers (at most ~10 s). No random 0-15 s sleep before
# validating; no rejected nonces (clients retry them, but it costs time).
start_pebble() {
    local name=$1 a=$2 m=$3 dns=$4 started=0
    zw_pebble_start "$tmp/tls" "$a" "$m" "$dns" && started=1
    # Stopped by the cleanup, whether it came up or not.
    [[ -n ${ZW_PEBBLE_PID:-} ]] && pid[$name]=$ZW_PEBBLE_PID
    (( started )) || return 1
    # Pebble makes a new root and intermediate at each start.
    curl_ca -o "$tmp/$name-root.pem" "https://127.0.0.1:$m/roots/0" &&
        curl_ca -o "$tmp/$name-intermediate.pem" "https://127.0.0.1:$m/intermediates/0" || return 1
    echo "== $name on 127.0.0.1:$a (management :$m), -dnsserver $dns"
}
curl_ca() { curl -sS --fail --max-time 2 --cacert "$tmp/tls/ca.pem" "$@"; }
start_pebble pebble "$A" "$M" "127.0.0.1:$P" || exit 1
dir_url=https://127.0.0.1:$A/dir

# --- the checks after each step ---------------------------------------------------
failures=()
declare -A took=()
fail() { echo "   FAIL: $1" >&2; failures+=("$1"); }

masked() { sed 's/^\([[:space:]]*\)[0-9][0-9]*\([[:space:]]*; serial\)$/\1SERIAL\2/' "$1"; }
snapshot() {
    base=$(git -C "$zdir" rev-parse HEAD)
    masked "$zdir/$zone.zone" >"$tmp/before.$zone"
    masked "$zdir/$auth.zone" >"$tmp/before.$auth"
}

# no_challenges STEP: no TXT at any _acme-challenge name, by dig and by a
# signed AXFR of both zones.
no_challenges() {
    local n z left
    for n in "_acme-challenge.$zone" "_acme-challenge.www.$zone" "_acme-challenge.cname.$zone" \
        "_acme-challenge.cname.$auth"; do
        left=$(ask "$n" TXT | grep -v '\.$' || true)
        [[ -z $left ]] || fail "$1: TXT left at $n: $left"
    done
    for z in "$zone" "$auth"; do
        left=$(dig +time=2 +tries=1 -y "hmac-sha256:$keyname:$secret" @127.0.0.1 -p "$P" "$z" AXFR 2>&1 \
            | grep -E '^_acme-challenge[^[:space:]]*[[:space:]].*[[:space:]]TXT[[:space:]]' || true)
        [[ -z $left ]] || fail "$1: AXFR of $z still holds: $left"
    done
}

# audit STEP MIN_ADDS: commits since the snapshot are all by the key, add
# and remove TXT lines (at least MIN_ADDS of each), and leave the zone files
# as before except the serial line.
audit() {
    local step=$1 min=$2 authors adds removes z
    authors=$(git -C "$zdir" log --format=%an "$base..HEAD" | sort | uniq -c | sed 's/^ *//' | paste -sd, -)
    adds=$(git -C "$zdir" log -p --format= "$base..HEAD" | grep -cE '^\+[^+].*[[:space:]]TXT[[:space:]]' || true)
    removes=$(git -C "$zdir" log -p --format= "$base..HEAD" | grep -cE '^-[^-].*[[:space:]]TXT[[:space:]]' || true)
    echo "   git log: commits by ${authors:-nobody}; $adds TXT lines added, $removes removed"
    git -C "$zdir" log --reverse --format='%an: %s' "$base..HEAD" | sed 's/^/     /'
    [[ -n $authors && $authors != *,* && $authors == *" $keyname" ]] || fail "$step: commits not all by $keyname: $authors"
    (( adds >= min && removes >= min )) || fail "$step: expected at least $min TXT adds and removes in git log"
    for z in "$zone" "$auth"; do
        if ! diff <(cat "$tmp/before.$z") <(masked "$zdir/$z.zone") >"$tmp/diff.$z"; then
            fail "$step: $z.zone differs from before beyond the serial:"
            sed 's/^/   | /' "$tmp/diff.$z" >&2
        fi
    done
    # (The store's lock files, .NAME.zone.lock, are not zone data.)
    local status
    status=$(git -C "$zdir" status --porcelain | grep -v '^?? \..*\.zone\.lock$' || true)
    [[ -z $status ]] || fail "$step: uncommitted changes: $(paste -sd' ' - <<<"$status")"
}

# verify_cert STEP FILE: exists and chains to pebble's root.
verify_cert() {
    local ca=pebble
    if [[ ! -s $2 ]]; then fail "$1: no certificate at $2"; return; fi
    if openssl verify -CAfile "$tmp/$ca-root.pem" -untrusted "$tmp/$ca-intermediate.pem" "$2" \
        >"$tmp/verify.out" 2>&1; then
        echo "   certificate: $(openssl x509 -noout -ext subjectAltName -in "$2" | tail -n 1 | sed 's/^ *//'); verifies against pebble's root"
    else
        fail "$1: openssl verify: $(cat "$tmp/verify.out")"
    fi
}

# run_step STEP LIMIT_S COMMAND...: runs COMMAND (output in STEP.out) with a
# time limit, records the seconds it took; shows the output on failure.
run_step() {
    local step=$1 limit=$2 t0 rc=0; shift 2
    t0=$(zw_now_us)
    timeout "$limit" "$@" >"$tmp/$step.out" 2>&1 || rc=$?
    took[$step]=$(secs_since "$t0")
    if (( rc != 0 )); then
        fail "$step: exit $rc after ${took[$step]} s"
        tail -n 25 "$tmp/$step.out" | sed 's/^/   | /' >&2
        return 1
    fi
    echo "   $step took ${took[$step]} s"
}

# --- 1. certbot --------------------------------------------------------------------
if wants certbot; then
    echo "== 1. certbot certonly --dns-rfc2136 -d $zone -d '*.$zone'"
    snapshot
    run_step certbot 120 env REQUESTS_CA_BUNDLE="$tmp/tls/ca.pem" certbot certonly \
        --non-interactive --agree-tos --register-unsafely-without-email \
        --server "$dir_url" \
        --config-dir "$tmp/certbot/config" --work-dir "$tmp/certbot/work" --logs-dir "$tmp/certbot/logs" \
        --dns-rfc2136 --dns-rfc2136-credentials "$tmp/certbot.ini" \
        --dns-rfc2136-propagation-seconds 1 \
        --cert-name zw -d "$zone" -d "*.$zone" || true
    verify_cert certbot "$tmp/certbot/config/live/zw/fullchain.pem"
    no_challenges certbot
    audit certbot 2
fi

# --- 2 and 3. lego -------------------------------------------------------------------
# lego 4.9 checks propagation on the zone's NS hosts, looked up through the
# system resolver (which leaves loopback): --dns.disable-cp skips that;
# --dns.resolvers sends its SOA walk (and CNAME lookup) to zonewright.
lego_run() {
    local step=$1 url=$2; shift 2
    # shellcheck disable=SC2046
    run_step "$step" 120 env $(grep -v "^#" "$tmp/lego.env") \
        RFC2136_SEQUENCE_INTERVAL=1 RFC2136_PROPAGATION_TIMEOUT=10 RFC2136_POLLING_INTERVAL=1 \
        LEGO_CA_CERTIFICATES="$tmp/tls/ca.pem" \
        lego --server "$url" --accept-tos --email "acme@$zone" --path "$tmp/lego-$step" \
        --dns rfc2136 --dns.disable-cp --dns.resolvers "127.0.0.1:$P" "$@" run || true
}
if wants lego; then
    echo "== 2. lego --dns rfc2136 -d $zone -d '*.$zone'"
    snapshot
    lego_run lego "$dir_url" -d "$zone" -d "*.$zone"
    verify_cert lego "$tmp/lego-lego/certificates/$zone.crt"
    no_challenges lego
    audit lego 2
fi
# Pebble's VA sends its TXT query straight to zonewright and takes the
# answer as final. zonewright serves both zones, so it follows the CNAME
# into auth.example.test in the one answer (RFC 1034 §4.3.2 step 1), as a
# CA's recursive resolver would.
if wants cname; then
    echo "== 3. lego -d cname.$zone: _acme-challenge.cname.$zone CNAME _acme-challenge.cname.$auth."
    snapshot
    lego_run cname "$dir_url" -d "cname.$zone"
    verify_cert cname "$tmp/lego-cname/certificates/cname.$zone.crt"
    no_challenges cname
    audit cname 1
    changed=$(git -C "$zdir" log --format= --name-only "$base..HEAD" | sort -u | paste -sd' ' -)
    [[ $changed == "$auth.zone" ]] || fail "cname: lego changed '$changed', not just $auth.zone"
    grep -q "Found CNAME entry" "$tmp/cname.out" || fail "cname: lego did not report following the CNAME"
fi

# --- 4. nsupdate ---------------------------------------------------------------------
if wants nsupdate; then
    echo "== 4. nsupdate -k (key file from keygen --format bind): add, dig, delete"
    snapshot
    t0=$(zw_now_us)
    n="_acme-challenge.www.$zone"
    # No zone line: nsupdate finds the zone with a signed SOA query.
    printf 'server 127.0.0.1 %s\nupdate add %s 60 TXT "nsupdate-token"\nsend\n' "$P" "$n" >"$tmp/ns-add.txt"
    printf 'server 127.0.0.1 %s\nupdate delete %s TXT "nsupdate-token"\nsend\n' "$P" "$n" >"$tmp/ns-del.txt"
    if timeout 20 nsupdate -t 5 -k "$tmp/acme-key.conf" "$tmp/ns-add.txt" >"$tmp/nsupdate.out" 2>&1; then
        got=$(ask "$n" TXT)
        echo "   dig $n TXT: $got"
        [[ $got == '"nsupdate-token"' ]] || fail "nsupdate: dig answered '$got' after the add"
        if timeout 20 nsupdate -t 5 -k "$tmp/acme-key.conf" "$tmp/ns-del.txt" >>"$tmp/nsupdate.out" 2>&1; then
            got=$(ask "$n" TXT)
            [[ -z $got ]] || fail "nsupdate: dig answered '$got' after the delete"
        else
            fail "nsupdate: delete failed: $(cat "$tmp/nsupdate.out")"
        fi
    else
        fail "nsupdate: add failed: $(cat "$tmp/nsupdate.out")"
    fi
    took[nsupdate]=$(secs_since "$t0")
    echo "   nsupdate took ${took[nsupdate]} s"
    no_challenges nsupdate
    audit nsupdate 1
fi

# --- 5. libdns/rfc2136's pattern (Caddy) ---------------------------------------------
if wants libdns; then
    echo "== 5. libdns/rfc2136 pattern (dnspython): TCP UPDATE delete-RRset + add, signed AXFR"
    snapshot
    if run_step libdns 60 "$PY" "$root/scripts/lib/acme_libdns.py" --port "$P" --zone "$zone" \
        --key-name "$keyname" --algorithm hmac-sha256 --secret "$secret" \
        --name "_acme-challenge.$zone." --value "libdns-token"; then
        sed 's/^/   /' "$tmp/libdns.out"
    fi
    no_challenges libdns
    audit libdns 1
fi

# --- 6. propagation-confirmed writes, the CA asking a BIND secondary -------------------
# The CA resolves through a secondary, as a real CA's resolvers reach the
# public (secondary) servers: pebble's -dnsserver is a BIND secondary of
# example.test, fed by zonewright's NOTIFY + IXFR. With `confirm = 1`
# zonewright answers each UPDATE only once BIND serves it, so certbot with
# --dns-rfc2136-propagation-seconds 1 and lego with no propagation wait
# must succeed every time; with `confirm = 0` the runs that lose the race
# are counted (reported, not failed). confirm is switched by SIGHUP.
confirm_runs=5
set_confirm() {
    local n=$1 _
    sed -i "/^confirm = /d" "$cfg"
    sed -i "/^name = \"$zone\"\$/a confirm = $n" "$cfg"
    local before
    before=$(grep -c "config reloaded from" "$tmp/zw/zonewright.log" || true)
    kill -HUP "${pid[zonewright]}"
    for _ in $(seq 50); do
        (( $(grep -c "config reloaded from" "$tmp/zw/zonewright.log" || true) > before )) && return 0
        sleep 0.1
    done
    fail "confirm: zonewright did not reload its config (confirm = $n)"
    return 1
}
if wants confirm; then
    need named bind9
    echo "== 6. confirm: pebble asks a BIND secondary; certbot and lego $confirm_runs times each with confirm = 1, then 0"
    t0=$(zw_now_us)
    read -r S A2 M2 <<<"$(zw_free_ports 3)"
    mkdir -p "$tmp/named"
    {
        zw_named_options "$tmp/named" "$S" "$keyname" "$secret"
        printf 'zone "%s" { type secondary; file "%s.bk"; primaries { 127.0.0.1 port %s key "%s"; };\n' \
            "$zone" "$zone" "$P" "$keyname"
        printf '    allow-notify { 127.0.0.1; }; request-ixfr yes; };\n'
    } >"$tmp/named/named.conf"
    sed -i "/^name = \"$zone\"\$/a notify = [\"127.0.0.1:$S\"]\nnotify_key = \"$keyname\"\nconfirm_timeout = \"10s\"" "$cfg"
    set_confirm 1 || true
    named -g -4 -c "$tmp/named/named.conf" >"$tmp/named/named.log" 2>&1 &
    pid[named]=$!
    up=0
    for _ in $(seq 100); do
        if [[ -n $(dig +short +norec +time=1 +tries=1 @127.0.0.1 -p "$S" "$zone" SOA 2>/dev/null) ]]; then up=1; break; fi
        sleep 0.1
    done
    (( up )) || { fail "confirm: BIND never loaded $zone from zonewright"; zw_log_tail named "$tmp/named/named.log"; }
    mkdir -p "$tmp/tls2"
    cp "$tmp/tls/ca.pem" "$tmp/tls/pebble.pem" "$tmp/tls/pebble.key" "$tmp/tls2/"
    if (( up )) && zw_pebble_start "$tmp/tls2" "$A2" "$M2" "127.0.0.1:$S"; then
        pid[pebble2]=$ZW_PEBBLE_PID
        url2=https://127.0.0.1:$A2/dir
        declare -A won=()
        for c in 1 0; do
            set_confirm "$c" || break
            timeouts_before=$(grep -c "answered after confirm_timeout" "$tmp/zw/zonewright.log" || true)
            won[certbot$c]=0 won[lego$c]=0
            for i in $(seq "$confirm_runs"); do
                if timeout 120 env REQUESTS_CA_BUNDLE="$tmp/tls/ca.pem" certbot certonly \
                    --non-interactive --agree-tos --register-unsafely-without-email --server "$url2" \
                    --config-dir "$tmp/cb2/config" --work-dir "$tmp/cb2/work" --logs-dir "$tmp/cb2/logs" \
                    --dns-rfc2136 --dns-rfc2136-credentials "$tmp/certbot.ini" \
                    --dns-rfc2136-propagation-seconds 1 \
                    --cert-name "c$c-$i" -d "$zone" >>"$tmp/confirm-certbot$c.out" 2>&1; then
                    won[certbot$c]=$(( won[certbot$c] + 1 ))
                fi
                # shellcheck disable=SC2046
                if timeout 120 env $(grep -v "^#" "$tmp/lego.env") \
                    RFC2136_SEQUENCE_INTERVAL=1 RFC2136_PROPAGATION_TIMEOUT=10 RFC2136_POLLING_INTERVAL=1 \
                    LEGO_CA_CERTIFICATES="$tmp/tls/ca.pem" \
                    lego --server "$url2" --accept-tos --email "acme@$zone" --path "$tmp/lego2-$c-$i" \
                    --dns rfc2136 --dns.disable-cp --dns.resolvers "127.0.0.1:$P" -d "$zone" run \
                    >>"$tmp/confirm-lego$c.out" 2>&1; then
                    won[lego$c]=$(( won[lego$c] + 1 ))
                fi
            done
            echo "   confirm = $c: certbot ${won[certbot$c]}/$confirm_runs, lego ${won[lego$c]}/$confirm_runs certificates (CA asking the secondary)"
            if (( c == 1 )); then
                # Each write confirmed by BIND's signed SOA answer, none
                # answered only because confirm_timeout ran out.
                late=$(( $(grep -c "answered after confirm_timeout" "$tmp/zw/zonewright.log" || true) - timeouts_before ))
                (( late == 0 )) || fail "confirm: $late write(s) answered after confirm_timeout, not confirmed by BIND"
            fi
        done
        for client in certbot lego; do
            if (( ${won[${client}1]:-0} != confirm_runs )); then
                fail "confirm: with confirm = 1, $client got ${won[${client}1]:-0}/$confirm_runs certificates"
                tail -n 20 "$tmp/confirm-${client}1.out" | sed 's/^/   | /' >&2
            fi
        done
    else
        fail "confirm: the second pebble did not start"
    fi
    took[confirm]=$(secs_since "$t0")
    no_challenges confirm
fi

# --- summary ---------------------------------------------------------------------------
echo
echo "== summary (seconds each step took)"
for s in "${steps[@]}"; do
    r=ok
    if printf '%s\n' "${failures[@]+"${failures[@]}"}" | grep -q "^$s:"; then r=FAILED; fi
    printf '   %-9s %6s s  %s\n' "$s" "${took[$s]:--}" "$r"
done
if (( ${#failures[@]} )); then
    echo
    echo "FAILED:"
    printf '   %s\n' "${failures[@]}"
    zw_log_tail zonewright "$tmp/zw/zonewright.log"
    zw_log_tail pebble "$tmp/tls/pebble.log"
    exit 1
fi
echo "OK: every client got its certificate or its records through zonewright, and left nothing behind"
