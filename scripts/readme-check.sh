#!/usr/bin/env bash
# The README's walk-through, run as written: every ```sh block of README.md,
# in order, in one bash session (variables carry from block to block, as in
# a reader's terminal), in a temporary copy of the checkout, on 127.0.0.1
# only, with `set -euo pipefail`. Fails on the first error and names its
# README line; then lists what it skipped and why.
#
# What differs from a reader's terminal, and why:
#   - `cargo run --release -- ARGS` runs BINARY ARGS, and so does
#     `zonewright ARGS`: `cargo` and `zonewright` on PATH are small scripts
#     that take only those forms (any other cargo command fails the check).
#   - The example config's ports, DNS 5353 and REST 8080, become free ports
#     chosen at the start, in the blocks and in the copy's
#     zones.example/zonewright.toml (--keep-ports: as written).
#   - A `serve` started in the background (`... serve ... &`) is waited for
#     until it answers (example.com SOA, NOERROR, and the REST listener; at
#     most 10 s), as a reader waits for its `serving` line. A `serve` in the
#     foreground (the reader queries from another terminal and stops it with
#     Ctrl-C) is started the same way and stopped (SIGTERM) when its
#     section ends.
#   - Each section (every # heading) must stop the servers it started in
#     the background (`kill %1`): one still running when the next heading
#     begins fails the check. Every server is stopped by its PID (after a
#     failure, with the process group the blocks run in, made by setsid).
#   - dig and kdig fail on an answer whose status is not NOERROR or
#     NXDOMAIN, on a failed transfer, and (dig +short) on an empty answer;
#     curl gets --fail-with-body (an HTTP error fails). A reader sees those
#     in the output; the check has to be told.
#   - A block right after `<!-- readme-check: skip (REASON) -->` is not run
#     and is listed with REASON. A block right after
#     `<!-- readme-check: test-ca (REASON) -->` runs with pebble, a local
#     ACME test CA (started once, its DNS lookups sent to the README's DNS
#     port), in place of Let's Encrypt: certbot gets --server,
#     --non-interactive --agree-tos --register-unsafely-without-email and
#     config, work and logs folders in the temp dir; lego gets --server and
#     --path there; both trust pebble's throw-away HTTPS CA. certbot and
#     lego in any other block fail the check.
#   - TMPDIR is inside the temp dir, so `mktemp -d` copies are removed with
#     it; a block's stdin is /dev/null, its output goes to a log (-v shows
#     it).
# Each block may take 30 s (test-ca blocks 90 s), the whole run 170 s.
# After the last block: no server is left running, the copy of the checkout
# has nothing new or changed (`git status --porcelain --ignored` is empty:
# the walk-through leaves a checkout as it found it), and the real
# checkout's README.md and zones.example are as they were.
#
# Usage: scripts/readme-check.sh [-b BINARY] [--keep-ports] [-v] [--keep-logs DIR]
#   -b BINARY        the zonewright binary to run instead of building one
#                    (cargo build --release --locked)
#   --keep-ports     use the README's ports (5353, 8080) as written
#   -v               print each block's output after it runs
#   --keep-logs DIR  copy the blocks as run and their logs into DIR
#
# Needs (installs nothing): git, dig, nsupdate (bind9-dnsutils), kdig,
# knsupdate (knot-dnsutils), curl, /usr/bin/python3, setsid; for test-ca
# blocks pebble, certbot with python3-certbot-dns-rfc2136, lego, openssl;
# cargo unless -b. Exit 1 on any failure, 2 on usage.
set -euo pipefail

binary=
keep_ports=0
verbose=0
keep=
usage() {
    echo "usage: $0 [-b BINARY] [--keep-ports] [-v] [--keep-logs DIR]" >&2
    exit 2
}
while (( $# )); do
    case $1 in
        -b) (( $# >= 2 )) || usage; binary=$2; shift 2 ;;
        --keep-ports) keep_ports=1; shift ;;
        -v) verbose=1; shift ;;
        --keep-logs) (( $# >= 2 )) || usage; keep=$2; shift 2 ;;
        -h|--help) sed -n '2,/^set -euo/p' "$0" | sed -e '$d' -e 's/^# \{0,1\}//'; exit 0 ;;
        *) usage ;;
    esac
done

block_limit=30       # seconds one block may take
testca_limit=90      # ... one block that gets a certificate from pebble
total_limit=170      # ... the whole run

PY=/usr/bin/python3
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
ZW_TAG=readme-check
ZW_PY=$PY
# shellcheck source=scripts/lib/common.sh
source "$root/scripts/lib/common.sh"
# shellcheck source=scripts/lib/pebble.sh
source "$root/scripts/lib/pebble.sh"
need() { zw_need "$@"; }
need git git
need dig bind9-dnsutils
need nsupdate bind9-dnsutils
need kdig knot-dnsutils
need knsupdate knot-dnsutils
need curl curl
need setsid util-linux
[[ -x $PY ]] || { echo "readme-check: $PY not found" >&2; exit 1; }
[[ -n $binary ]] || need cargo cargo

# --- everything we start is stopped on exit, by PID ---------------------------
tmp=$(mktemp -d "${TMPDIR:-/tmp}/zw-readme.XXXXXX")
driver_pid=
driver_group=
pebble_pid=
# stop_group PGID: the driver and what it started (the README's servers and
# clients run in its process group): SIGTERM, at most 5 s, then SIGKILL.
stop_group() {
    local g=$1 _
    kill -TERM -- "-$g" 2>/dev/null || return 0
    for _ in $(seq 50); do
        kill -0 -- "-$g" 2>/dev/null || return 0
        sleep 0.1
    done
    kill -KILL -- "-$g" 2>/dev/null || true
}
cleanup() {
    # The driver's group outlives it when a block fails with a server running.
    [[ -z $driver_group ]] || stop_group "$driver_group"
    [[ -z $driver_pid ]] || wait "$driver_pid" 2>/dev/null || true
    [[ -z $pebble_pid ]] || zw_stop_pid "$pebble_pid"
    if [[ -n $keep ]] && mkdir -p "$keep"; then
        cp -r "$tmp/blocks" "$tmp/logs" "$keep/" 2>/dev/null || true
        cp "$tmp/index" "$keep/" 2>/dev/null || true
        cp "$tmp/pebble/pebble.log" "$keep/" 2>/dev/null || true
    fi
    rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

if [[ -z $binary ]]; then
    echo "== building zonewright (cargo build --release --locked)"
    (cd "$root" && cargo build --release --locked)
    binary="${CARGO_TARGET_DIR:-$root/target}/release/zonewright"
fi
[[ -x $binary ]] || { echo "readme-check: $binary is not executable" >&2; exit 1; }
binary=$(cd "$(dirname "$binary")" && pwd)/$(basename "$binary")

# --- the copy of the checkout ----------------------------------------------------
# The files git knows or would add (tracked, and new ones not ignored), as
# they are in the working tree, committed in a repository of their own so
# that anything the walk-through leaves behind shows in git status.
work=$tmp/checkout
mkdir -p "$work" "$tmp/tmp" "$tmp/bin" "$tmp/blocks" "$tmp/logs" "$tmp/clients"
before=$(git -C "$root" status --porcelain --ignored -- README.md zones.example)
(cd "$root" && git ls-files -z --cached --others --exclude-standard \
    | while IFS= read -r -d '' f; do [[ -e $f || -L $f ]] && printf '%s\0' "$f"; done \
    | tar --null -T - -cf -) | tar -xf - -C "$work"

if (( keep_ports )); then
    P=5353 R=8080
    read -r A M <<<"$(zw_free_ports 2)"
else
    read -r P R A M <<<"$(zw_free_ports 4)"      # DNS, REST, pebble ACME, pebble management
    sed -i -e "s/\\b5353\\b/$P/g" -e "s/\\b8080\\b/$R/g" "$work/zones.example/zonewright.toml"
fi
git -C "$work" init -q
git -C "$work" add -A -f
git -C "$work" -c user.name=readme-check -c user.email=readme-check@localhost \
    commit -q -m "the checkout, as the README's walk-through starts from it"

# --- the blocks --------------------------------------------------------------------
# index: ID, README line of the opening fence, run|skip|test-ca, section
# number, section title, reason. A block's line N is README line fence + N.
awk -v dir="$tmp/blocks" -v index_file="$tmp/index" '
    function fail(msg) { printf "readme-check: README.md:%d: %s\n", NR, msg > "/dev/stderr"; bad = 1; exit 2 }
    BEGIN { sec = 0; title = "(the introduction)"; n = 0; fence = 0; cur = ""; mark = "" }
    fence {
        if ($0 ~ /^```[[:space:]]*$/) { fence = 0; if (cur != "") close(cur); cur = ""; next }
        if (cur != "") print > cur
        next
    }
    /^```/ {
        fence = 1
        lang = substr($0, 4); sub(/[[:space:]].*$/, "", lang)
        if (lang == "sh") {
            n++
            kind = "run"; reason = ""
            if (mark != "") {
                m = mark
                sub(/^<!-- readme-check: */, "", m); sub(/ *-->[[:space:]]*$/, "", m)
                kind = m; sub(/ .*$/, "", kind)
                reason = m; sub(/^[^ ]* */, "", reason); sub(/^\(/, "", reason); sub(/\)$/, "", reason)
                if (kind != "skip" && kind != "test-ca") fail("unknown readme-check mark: " mark)
                if (reason == "") fail("a readme-check mark needs a reason in parentheses")
            }
            cur = sprintf("%s/%03d.sh", dir, n)
            printf "" > cur
            printf "%03d\t%d\t%s\t%d\t%s\t%s\n", n, NR, kind, sec, title, reason > index_file
        } else {
            if (mark != "") fail("a readme-check mark must come right before a ```sh block")
            cur = ""
        }
        mark = ""
        next
    }
    /^<!-- readme-check:/ { if (mark != "") fail("two readme-check marks"); mark = $0; next }
    /[^[:space:]]/ { if (mark != "") fail("a readme-check mark must come right before a ```sh block") }
    /^#+ / { sec++; title = $0; sub(/^#+ +/, "", title) }
    END { if (!bad && fence) fail("a code block is not closed"); close(index_file) }
' "$work/README.md"
[[ -s $tmp/index ]] || { echo "readme-check: no \`\`\`sh blocks in README.md" >&2; exit 1; }

# The README's ports become ours; a `serve` line waits until the server answers.
serve_re='(cargo run --release --|zonewright)[^#]*[[:space:]]serve([[:space:]]|$)'
fg_lines=()
while IFS=$'\t' read -r id line kind _ _ _; do
    [[ $kind != skip ]] || continue
    f=$tmp/blocks/$id.sh
    (( keep_ports )) || sed -i -e "s/\\b5353\\b/$P/g" -e "s/\\b8080\\b/$R/g" "$f"
    sed -E -i "/$serve_re/{
        s/&([[:space:]]*(#.*)?)\$/\\& zw_wait_ready \$!\\1/
        t
        s/^([^#]*[^#[:space:]])([[:space:]]*(#.*)?)\$/\\1 \\& zw_foreground \$!\\2/
    }" "$f"
    while IFS=: read -r n _; do
        fg_lines+=("README.md:$(( line + n ))")
    done < <(grep -n 'zw_foreground \$!' "$f" || true)
done <"$tmp/index"

# --- pebble, when a block needs a certificate ----------------------------------------
if cut -f3 "$tmp/index" | grep -qx test-ca; then
    need pebble pebble
    need certbot certbot
    need lego lego
    need openssl openssl
    "$PY" -c 'import certbot_dns_rfc2136' 2>/dev/null \
        || { echo "readme-check: certbot has no dns-rfc2136 plugin (apt-get install python3-certbot-dns-rfc2136)" >&2; exit 1; }
    zw_pebble_tls "$tmp/pebble"
    zw_pebble_start "$tmp/pebble" "$A" "$M" "127.0.0.1:$P" || exit 1
    pebble_pid=$ZW_PEBBLE_PID
    echo "== pebble (test CA) on 127.0.0.1:$A, asking 127.0.0.1:$P for the challenges"
fi

# --- the commands as the blocks see them --------------------------------------------
export ZW_RC_DIR=$tmp ZW_RC_BIN=$binary ZW_RC_DNS_PORT=$P ZW_RC_REST_PORT=$R
export ZW_RC_ACME=https://127.0.0.1:$A/dir ZW_RC_CA=$tmp/pebble/ca.pem
ZW_RC_DIG=$(command -v dig) ZW_RC_KDIG=$(command -v kdig) ZW_RC_CURL=$(command -v curl)
ZW_RC_CERTBOT=$(command -v certbot || true) ZW_RC_LEGO=$(command -v lego || true)
export ZW_RC_DIG ZW_RC_KDIG ZW_RC_CURL ZW_RC_CERTBOT ZW_RC_LEGO

cat >"$tmp/bin/cargo" <<'EOF'
#!/usr/bin/env bash
# readme-check: `cargo run --release -- ARGS` is the binary under test.
if [[ ${1-} == run && ${2-} == --release && ${3-} == -- ]]; then
    shift 3
    exec "$ZW_RC_BIN" "$@"
fi
echo "readme-check: 'cargo $*' is not mapped: the README runs zonewright as 'cargo run --release -- ARGS'" >&2
exit 1
EOF
cat >"$tmp/bin/zonewright" <<'EOF'
#!/usr/bin/env bash
exec "$ZW_RC_BIN" "$@"
EOF
cat >"$tmp/bin/dig" <<'EOF'
#!/usr/bin/env bash
# readme-check: dig, failing where a reader would see a failure.
rc=0
out=$("$ZW_RC_DIG" "$@" 2>&1) || rc=$?
[[ -z $out ]] || printf '%s\n' "$out"
(( rc == 0 )) || exit "$rc"
bad=$(grep -oE 'status: [A-Z]+' <<<"$out" | grep -vE 'status: (NOERROR|NXDOMAIN)$' || true)
[[ -z $bad ]] || { echo "readme-check: dig $*: $bad" >&2; exit 1; }
if grep -q 'Transfer failed' <<<"$out"; then echo "readme-check: dig $*: transfer failed" >&2; exit 1; fi
for a; do
    if [[ $a == +short && -z $out ]]; then echo "readme-check: dig $*: no answer" >&2; exit 1; fi
done
exit 0
EOF
cat >"$tmp/bin/kdig" <<'EOF'
#!/usr/bin/env bash
# readme-check: kdig, failing where a reader would see a failure.
rc=0
out=$("$ZW_RC_KDIG" "$@" 2>&1) || rc=$?
[[ -z $out ]] || printf '%s\n' "$out"
(( rc == 0 )) || exit "$rc"
bad=$(grep -oE 'status: [A-Z]+' <<<"$out" | grep -vE 'status: (NOERROR|NXDOMAIN)$' || true)
[[ -z $bad ]] || { echo "readme-check: kdig $*: $bad" >&2; exit 1; }
if grep -qE 'failed to query|WARNING' <<<"$out"; then echo "readme-check: kdig $*: failed" >&2; exit 1; fi
exit 0
EOF
cat >"$tmp/bin/curl" <<'EOF'
#!/usr/bin/env bash
# readme-check: an HTTP error fails the command (a reader sees the error body).
exec "$ZW_RC_CURL" --fail-with-body "$@"
EOF
cat >"$tmp/bin/certbot" <<'EOF'
#!/usr/bin/env bash
# readme-check: certbot against pebble, its state in the temp dir.
[[ ${ZW_RC_TESTCA:-0} == 1 ]] || { echo "readme-check: certbot outside a block marked test-ca" >&2; exit 1; }
state=$(mktemp -d "$ZW_RC_DIR/clients/certbot.XXXXXX")
REQUESTS_CA_BUNDLE=$ZW_RC_CA exec "$ZW_RC_CERTBOT" "$@" --server "$ZW_RC_ACME" \
    --non-interactive --agree-tos --register-unsafely-without-email \
    --config-dir "$state/config" --work-dir "$state/work" --logs-dir "$state/logs"
EOF
cat >"$tmp/bin/lego" <<'EOF'
#!/usr/bin/env bash
# readme-check: lego against pebble, its state in the temp dir.
[[ ${ZW_RC_TESTCA:-0} == 1 ]] || { echo "readme-check: lego outside a block marked test-ca" >&2; exit 1; }
state=$(mktemp -d "$ZW_RC_DIR/clients/lego.XXXXXX")
LEGO_CA_CERTIFICATES=$ZW_RC_CA exec "$ZW_RC_LEGO" --server "$ZW_RC_ACME" --path "$state" "$@"
EOF
chmod +x "$tmp/bin/"*

# --- the driver: one bash that sources every block in order -------------------------
{
    cat <<'EOF'
# Generated by scripts/readme-check.sh: the README's blocks in one shell.
set -Eeuo pipefail
ZW_SEC= ZW_TITLE= ZW_LINE=
ZW_FG=()
ZW_T0=0
zw_err() { [[ -e $ZW_RC_DIR/err ]] || printf '%s\t%s\t%s\n' "$1" "$2" "$3" >"$ZW_RC_DIR/err"; }
trap 'zw_err "$?" "${BASH_SOURCE[0]}" "$LINENO"' ERR
zw_fail() { printf '%s\n' "$*" >"$ZW_RC_DIR/why"; trap - ERR; exit 1; }
zw_now_us() { local t=${EPOCHREALTIME/./}; echo "$((10#$t))"; }
# zw_reap PID: wait at most 5 s for it to end, then reap it; 1 if it did not end.
zw_reap() {
    local _
    for _ in $(seq 50); do
        if ! kill -0 "$1" 2>/dev/null; then wait "$1" 2>/dev/null || true; return 0; fi
        sleep 0.1
    done
    return 1
}
# zw_wait_ready PID: the server answers DNS (example.com SOA, NOERROR) and REST.
zw_wait_ready() {
    local pid=$1 _
    for _ in $(seq 100); do
        if ! kill -0 "$pid" 2>/dev/null; then
            printf 'the server started here exited at once (its log is above)\n' >"$ZW_RC_DIR/why"
            return 1
        fi
        if "$ZW_RC_DIG" +time=1 +tries=1 +norec @127.0.0.1 -p "$ZW_RC_DNS_PORT" example.com SOA 2>/dev/null \
                | grep -q 'status: NOERROR' \
            && "$ZW_RC_CURL" -s -o /dev/null --max-time 1 "http://127.0.0.1:$ZW_RC_REST_PORT/v1/openapi.json"; then
            echo "readme-check: server $pid answers on 127.0.0.1:$ZW_RC_DNS_PORT and :$ZW_RC_REST_PORT"
            return 0
        fi
        sleep 0.1
    done
    printf 'the server started here did not answer within 10 s\n' >"$ZW_RC_DIR/why"
    return 1
}
# zw_foreground PID: a serve the reader runs in the foreground (another
# terminal, Ctrl-C): in the background here, stopped when its section ends.
zw_foreground() { zw_wait_ready "$1" && ZW_FG+=("$1"); }
# zw_section_end TITLE: foreground servers stopped; none left in the background.
zw_section_end() {
    local p
    for p in "${ZW_FG[@]}"; do
        kill -TERM "$p" 2>/dev/null || true
        zw_reap "$p" || zw_fail "the foreground server (PID $p) of section '$1' did not stop on SIGTERM"
        echo "  (stopped the foreground server of '$1', PID $p, as its reader's Ctrl-C would)"
    done
    ZW_FG=()
    for p in $(jobs -p); do
        if kill -0 "$p" 2>/dev/null; then
            zw_reap "$p" || zw_fail "section '$1' left a server running (PID $p): stop it (kill %1) before the next heading"
        else
            wait "$p" 2>/dev/null || true
        fi
    done
}
# zw_begin ID LINE KIND SECTION TITLE LIMIT: a new section first ends the last.
zw_begin() {
    if [[ -n $ZW_SEC && $ZW_SEC != "$4" ]]; then zw_section_end "$ZW_TITLE"; fi
    ZW_SEC=$4 ZW_TITLE=$5 ZW_LINE=$2
    ZW_T0=$(zw_now_us)
    printf '%s %s %s %s\n' "$1" "$ZW_T0" "$6" "$2" >"$ZW_RC_DIR/current.new"
    mv "$ZW_RC_DIR/current.new" "$ZW_RC_DIR/current"
    if [[ $3 == test-ca ]]; then export ZW_RC_TESTCA=1; else export ZW_RC_TESTCA=0; fi
}
zw_end() {
    local d=$(( $(zw_now_us) - ZW_T0 ))
    printf '  ok    README.md:%-5s %-40.40s %3d.%01d s\n' "$ZW_LINE" "$ZW_TITLE" $(( d / 1000000 )) $(( d % 1000000 / 100000 ))
    if [[ $ZW_RC_VERBOSE == 1 ]]; then awk '{ print "        | " $0 }' "$ZW_RC_DIR/logs/$1.log"; fi
}
# zw_skip LINE SECTION TITLE REASON
zw_skip() {
    if [[ -n $ZW_SEC && $ZW_SEC != "$2" ]]; then zw_section_end "$ZW_TITLE"; fi
    ZW_SEC=$2 ZW_TITLE=$3
    printf '  skip  README.md:%-5s %s\n' "$1" "$4"
}
EOF
    while IFS=$'\t' read -r id line kind sec title reason; do
        if [[ $kind == skip ]]; then
            printf 'zw_skip %q %q %q %q\n' "$line" "$sec" "$title" "$reason"
            continue
        fi
        limit=$block_limit
        [[ $kind != test-ca ]] || limit=$testca_limit
        printf 'zw_begin %q %q %q %q %q %q\n' "$id" "$line" "$kind" "$sec" "$title" "$limit"
        printf '{ source %q; } </dev/null >%q 2>&1\n' "$tmp/blocks/$id.sh" "$tmp/logs/$id.log"
        printf 'zw_end %q\n' "$id"
    done <"$tmp/index"
    # shellcheck disable=SC2016 # expanded by the driver
    printf '%s\n' 'zw_section_end "$ZW_TITLE"' 'echo done >"$ZW_RC_DIR/finished"'
} >"$tmp/driver.sh"

# --- run it, each block within its time -------------------------------------------------
echo "== README.md: $(grep -c . "$tmp/index") sh blocks, run in $work (DNS 127.0.0.1:$P, REST :$R; binary $binary)"
export ZW_RC_VERBOSE=$verbose
t0=$(zw_now_us)
(cd "$work" && PATH=$tmp/bin:$PATH TMPDIR=$tmp/tmp exec setsid bash "$tmp/driver.sh") </dev/null 2>"$tmp/driver.err" &
driver_pid=$!
driver_group=$driver_pid     # setsid made it a process group leader
timed_out=
while kill -0 "$driver_pid" 2>/dev/null; do
    now=$(zw_now_us)
    if (( now - t0 > total_limit * 1000000 )); then
        timed_out="the walk-through took over $total_limit s"
        break
    fi
    if [[ -s $tmp/current ]] && read -r cid cstart climit cline <"$tmp/current" \
        && [[ ! -e $tmp/finished ]] && (( now - cstart > climit * 1000000 )); then
        timed_out="README.md:$cline: the block (${cid}) took over $climit s"
        break
    fi
    sleep 0.2
done
rc=0
if [[ -n $timed_out ]]; then
    stop_group "$driver_group"
    wait "$driver_pid" 2>/dev/null || true
    rc=1
else
    wait "$driver_pid" || rc=$?
fi
driver_pid=
# A failed block may leave its servers running: stopped now, by the group
# setsid gave the driver (they are its children, in it).
stop_group "$driver_group"

# line_of FILE LINENO: the README line of a block's line.
readme_line() {
    local id line
    id=$(basename "$1" .sh)
    line=$(awk -F'\t' -v id="$id" '$1 == id { print $2 }' "$tmp/index")
    if [[ -n $line ]]; then echo "README.md:$(( line + $2 ))"; else echo "$1:$2"; fi
}
failed=
if [[ -n $timed_out ]]; then
    failed=$timed_out
elif (( rc != 0 )) || [[ ! -e $tmp/finished ]]; then
    if [[ -s $tmp/err ]]; then
        IFS=$'\t' read -r erc esrc eline <"$tmp/err"
        failed="$(readme_line "$esrc" "$eline"): exit status $erc"
    else
        failed="the walk-through stopped (exit $rc)"
    fi
    if [[ -s $tmp/why ]]; then failed+=": $(cat "$tmp/why")"; fi
fi
if [[ -n $failed ]]; then
    echo
    echo "FAILED: $failed" >&2
    if [[ -s $tmp/current ]]; then
        read -r cid _ _ _ <"$tmp/current"
        if [[ -s $tmp/logs/$cid.log ]]; then
            echo "   the block's output (last 40 lines):" >&2
            tail -n 40 "$tmp/logs/$cid.log" | sed 's/^/   | /' >&2
        fi
    fi
    [[ ! -s $tmp/driver.err ]] || sed 's/^/   driver: /' "$tmp/driver.err" >&2
    exit 1
fi

# --- what the walk-through left behind ---------------------------------------------
problems=()
left=$(git -C "$work" status --porcelain --ignored)
[[ -z $left ]] || problems+=("it left files in the checkout: $(paste -sd' ' - <<<"$left")")
after=$(git -C "$root" status --porcelain --ignored -- README.md zones.example)
[[ $before == "$after" ]] || problems+=("the real checkout's README.md or zones.example changed while it ran")

echo
for l in "${fg_lines[@]}"; do
    echo "== $l: a foreground serve, run in the background and stopped when its section ended"
done
(( keep_ports )) || echo "== ports as run: DNS 5353 -> $P, REST 8080 -> $R"
awk -F'\t' '$3 == "test-ca" { printf "== README.md:%s: certbot/lego against pebble (%s)\n", $2, $6 }' "$tmp/index"
skipped=$(awk -F'\t' '$3 == "skip"' "$tmp/index" | wc -l)
if (( skipped )); then
    echo "== skipped $skipped block(s):"
    awk -F'\t' '$3 == "skip" { printf "   README.md:%s (%s): %s\n", $2, $5, $6 }' "$tmp/index"
fi
if (( ${#problems[@]} )); then
    echo
    printf 'FAILED: %s\n' "${problems[@]}" >&2
    exit 1
fi
ran=$(awk -F'\t' '$3 != "skip"' "$tmp/index" | wc -l)
printf 'OK: %d blocks ran as written in %d s; the checkout is as it was\n' "$ran" $(( ($(zw_now_us) - t0) / 1000000 ))
