#!/usr/bin/env bash
# Interop test: Kubernetes external-dns's rfc2136 provider, with its TXT
# registry, against zonewright. external-dns (Go) is not installed here:
# scripts/interop/externaldns.py replays what its syncs send, message for
# message, ported from kubernetes-sigs/external-dns (commit 2bf1bf8a;
# provider/rfc2136/rfc2136.go, registry/txt/registry.go, endpoint/labels.go,
# registry/mapper/mapper.go, plan/plan.go, controller/controller.go RunOnce;
# the helper names the function behind each step). Configured as its RFC2136
# tutorial does: --rfc2136-zone=example.test --rfc2136-zone=k8s.test,
# --rfc2136-tsig-keyname=externaldns-key (hmac-sha256), --rfc2136-axfr,
# --policy=sync, --txt-owner-id=k8s, --managed-record-types=A,AAAA,CNAME,TXT,
# the defaults otherwise (batches of 50, min TTL 0, no TXT prefix, no
# domain filter).
#
# zonewright serves example.test and k8s.test on a free 127.0.0.1 port, each
# with allow_transfer = ["key:externaldns-key"]; the key's grant is
# names = ["**"], types = ["A", "AAAA", "CNAME", "TXT"] in both zones (what
# the provider writes: the records and their TXT ownership records; never
# the apex, never SOA), rate_limit = "off" (a first sync of a large cluster
# sends hundreds of UPDATEs at once). The zone files start with their NS
# records, 800 hand-written hosts and 150 DKIM keys in example.test (no
# owner; its AXFR then takes 2 messages, each signed), 5 A records owned
# through old-format ownership TXTs (the TXT at the record's own name, as
# external-dns wrote them before v0.12) and 3 owned by another external-dns
# (owner other-cluster). Every sync:
#   - a TSIG-signed AXFR of each zone over TCP (rfc2136.go List), read by
#     the TXT registry (registry.go TXTRegistry.Records);
#   - the plan (plan.go Calculate, sync policy);
#   - if anything changed: creates, then updates, then deletes (rfc2136.go
#     ApplyChanges), 50 endpoints per chunk, one UPDATE per zone per chunk,
#     no prerequisites, uncompressed, signed, each over a new TCP connection
#     (makeClient: "tcp"); an update is delete-one-RR (class NONE) of each old
#     value + add of each new one in the same message (UpdateRecord); the
#     registry adds the new-format ownership TXT "<type>-<name>" with
#     "heritage=external-dns,external-dns/owner=k8s,external-dns/resource=..."
#     (registry.go generateTXTRecordWithFilter, labels.go SerializePlain).
# The syncs, in order (each desired state is the helper's seeded model):
#   migrate   the 5 old-format records: the registry forces an update that
#             writes their new-format TXTs; then a sync with no change
#   create    300 endpoints (A, 2 of them wildcards, AAAA, A+AAAA at 20
#             names, CNAME, TXT; TTLs 0 (none configured), 60, 300, 3600)
#             and a claim on a name the other owner holds (never sent); then
#             a sync with no change
#   stray     two names outside both zones, sent with zone "." (findMsgZone):
#             RFC 2136 §3.1.1 says NOTAUTH; one new name in k8s.test; again
#             (only the "." message is sent again); then without the strays
#             (no change)
#   update    100 endpoints changed (targets, TTLs, targets + resource); the
#             ownership TXT updates of k8s.test re-add the same TXTs (NOERROR,
#             no change, no commit); then a sync with no change
#   delete    100 endpoints removed (2 old-format: their old TXT stays, as
#             external-dns leaves it); then a sync with no change
#   mixed     10 creates, 10 updates, 10 deletes, one A -> CNAME and one
#             CNAME -> A (sent as add-then-delete: RFC 2136 §3.4.2.2 ignores
#             the add; the next sync adds it); then a sync with no change
# After every sync: every UPDATE answered NOERROR (NOTAUTH for zone "."),
# signed, within the provider's 2 s read timeout; each zone, AXFRed, equals
# the model exactly (RRs and TTLs, the SOA aside) and equals RFC 2136 applied
# to the messages sent; git HEAD's zone files equal what is served (SOA
# included) and the working tree is clean; the new commits number exactly
# the messages that changed a zone, each authored by the key with
# "Via: rfc2136"; a sync with no change sends no UPDATE and makes no
# commit; zonewright is still running. A summary table follows.
# Exit status 1 on any failure, 2 on a usage error.
#
# Usage: scripts/interop-externaldns.sh [-b BINARY] [--keep-logs DIR]
#   -b BINARY        use this zonewright binary instead of building one
#                    (cargo build --release --locked)
#   --keep-logs DIR  copy the config, the zone files, zonewright's log and
#                    each sync's output into DIR before the temp dir is removed
#
# Needs (installs nothing): git, /usr/bin/python3 with dnspython, timeout
# (coreutils), and cargo unless -b.
set -euo pipefail

binary=
keep=
usage() {
    echo "usage: $0 [-b BINARY] [--keep-logs DIR]" >&2
    exit 2
}
while (( $# )); do
    case $1 in
        -b) (( $# >= 2 )) || usage; binary=$2; shift 2 ;;
        --keep-logs) (( $# >= 2 )) || usage; keep=$2; shift 2 ;;
        -h|--help) sed -n '2,/^set -euo/p' "$0" | sed -e '$d' -e 's/^# \{0,1\}//'; exit 0 ;;
        *) usage ;;
    esac
done

PY=/usr/bin/python3
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
helper=$root/scripts/interop/externaldns.py
keyname=externaldns-key
zones=(example.test k8s.test)

ZW_TAG=interop-externaldns
ZW_PY=$PY
# shellcheck source=scripts/lib/common.sh
source "$root/scripts/lib/common.sh"
zw_need git git
zw_need timeout coreutils
[[ -n $binary ]] || zw_need cargo cargo
[[ -x $PY ]] || { echo "$ZW_TAG: $PY not found" >&2; exit 1; }
"$PY" -c 'import dns.tsig, dns.zone' 2>/dev/null || {
    echo "$ZW_TAG: dnspython not found for $PY (apt-get install python3-dnspython)" >&2
    exit 1
}

t_all=$(zw_now_us)
if [[ -z $binary ]]; then
    echo "== building zonewright (cargo build --release --locked)"
    (cd "$root" && cargo build --release --locked)
    binary="${CARGO_TARGET_DIR:-$root/target}/release/zonewright"
fi
[[ -x $binary ]] || { echo "$ZW_TAG: $binary is not executable" >&2; exit 1; }

# --- everything we start is stopped on exit, by PID -------------------------
zw_pid=
tmp=$(mktemp -d "${TMPDIR:-/tmp}/zw-externaldns.XXXXXX")
cleanup() {
    if [[ -n $zw_pid ]]; then zw_stop_pid "$zw_pid"; fi
    if [[ -n $keep ]] && mkdir -p "$keep"; then
        cp -r "$tmp/." "$keep/" 2>/dev/null || true
    fi
    rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# --- zones, config, server ----------------------------------------------------
zdir=$tmp/zones
mkdir -p "$zdir"
zgit() {
    git --no-optional-locks -C "$zdir" -c user.name=interop -c user.email=interop@localhost "$@"
}
"$PY" "$helper" seed --zones-dir "$zdir"
zgit init -q
zgit add .
zgit commit -q -m "initial zones"

secret=$("$PY" -c 'import base64, os; print(base64.b64encode(os.urandom(32)).decode())')
read -r P <<<"$(zw_free_ports 1)"
{
    echo "listen = [\"127.0.0.1:$P\"]"
    echo "zones_dir = \"$zdir\""
    echo
    echo "[[key]]"
    echo "name = \"$keyname\""
    echo "algorithm = \"hmac-sha256\""
    echo "secret = \"$secret\""
    echo "rate_limit = \"off\""
    echo "grant = ["
    for z in "${zones[@]}"; do
        echo "  { zone = \"$z\", names = [\"**\"], types = [\"A\", \"AAAA\", \"CNAME\", \"TXT\"] },"
    done
    echo "]"
    for z in "${zones[@]}"; do
        echo
        echo "[[zone]]"
        echo "name = \"$z\""
        echo "allow_transfer = [\"key:$keyname\"]"
    done
} >"$tmp/zonewright.toml"

log=$tmp/zonewright.log
echo "== zonewright on 127.0.0.1:$P ($binary)"
"$binary" --log-level info serve --config "$tmp/zonewright.toml" >>"$log" 2>&1 &
zw_pid=$!
if ! timeout 20 "$PY" "$helper" wait --port "$P" --tries 100 || ! kill -0 "$zw_pid" 2>/dev/null; then
    echo "$ZW_TAG: zonewright did not start" >&2
    zw_log_tail zonewright "$log"
    exit 1
fi

# --- the syncs ------------------------------------------------------------------
failures=()
summary=()
# sync ARGS...: one external-dns sync (the helper, at most 300 s), then the
# git checks against its RESULT line.
sync() {
    local tag="$*" before out rc=0 line commits authors via dirty t0 ms
    local -A r=()
    before=$(zgit rev-parse HEAD)
    out=$tmp/sync.$(( ${#summary[@]} + 1 )).out
    t0=$(zw_now_us)
    timeout 300 "$PY" "$helper" sync "$@" --port "$P" --key-name "$keyname" --secret "$secret" \
        --zones-dir "$zdir" >"$out" 2>&1 || rc=$?
    ms=$(( ($(zw_now_us) - t0) / 1000 ))
    cat "$out"
    line=$(grep '^RESULT ' "$out" | tail -n 1 || true)
    if [[ -z $line ]]; then
        failures+=("$tag: the helper printed no RESULT (exit $rc)")
        summary+=("$(printf '%-22s %s' "$tag" "no result")")
        return 0
    fi
    for kv in ${line#RESULT }; do r[${kv%%=*}]=${kv#*=}; done
    if (( rc != 0 )); then
        while IFS= read -r f; do
            failures+=("$tag: ${f#   FAIL: }")
        done < <(grep '^   FAIL: ' "$out" || true)
        (( ${r[failures]:-0} > 0 )) || failures+=("$tag: helper exit status $rc")
    fi
    # The commits since: exactly one per UPDATE that changed a zone (the
    # provider waits for each answer, and with [git] acknowledge = "commit"
    # NOERROR means committed), each authored by the key, Via: rfc2136.
    commits=$(zgit rev-list --count "$before..HEAD")
    authors=$(zgit log --format=%an "$before..HEAD" | sort -u | paste -sd, -)
    via=$(zgit log --format=%B "$before..HEAD" | grep -c '^Via: rfc2136$' || true)
    if (( commits != ${r[changing]:-0} )); then
        failures+=("$tag: $commits commit(s), but ${r[changing]} UPDATE(s) changed a zone")
    fi
    if (( commits > 0 )) && [[ $authors != "$keyname" ]]; then
        failures+=("$tag: commits authored by \"$authors\", not only by the key $keyname")
    fi
    if (( via != commits )); then
        failures+=("$tag: $via of $commits commit(s) say Via: rfc2136")
    fi
    if (( commits > 0 )); then
        zgit log -n 3 --format='   commit %h %an: %s' "$before..HEAD"
        (( commits <= 3 )) || echo "   ... $(( commits - 3 )) more commit(s)"
    else
        echo "   no commit"
    fi
    dirty=$(zgit status --porcelain -- '*.zone')
    [[ -z $dirty ]] || failures+=("$tag: zone files differ from HEAD after the sync: ${dirty//$'\n'/; }")
    if ! kill -0 "$zw_pid" 2>/dev/null; then
        failures+=("$tag: zonewright is no longer running")
        zw_log_tail zonewright "$log"
        zw_pid=
    fi
    summary+=("$(printf '%-22s %8s %7s %7s %6s %7s %7s %6s %7s' "$tag" "${r[messages]}" "${r[noerror]}" \
        "${r[notauth]}" "${r[other]}" "${r[changing]}" "$commits" "${r[slow]}" "$ms")")
}

steps=(
    "migrate" "migrate --noop"
    "create" "create --noop"
    "stray" "stray --again" "settled --noop"
    "update" "update --noop"
    "delete" "delete --noop"
    "mixed" "mixed --again" "mixed --noop"
)
for s in "${steps[@]}"; do
    [[ -n $zw_pid ]] || { failures+=("$s: not run (zonewright stopped)"); continue; }
    # shellcheck disable=SC2086  # a step is a phase and its flags
    sync $s
done

# --- zonewright's log -------------------------------------------------------------
if grep -qiE 'panick|panic:' "$log"; then
    failures+=("zonewright panicked (see its log)")
    zw_log_tail zonewright "$log"
fi
errors=$(grep -cE '\bERROR\b' "$log" || true)
warns=$(grep -cE '\bWARN\b' "$log" || true)
echo
echo "== zonewright's log: $errors ERROR, $warns WARN line(s)"
grep -E '\b(ERROR|WARN)\b' "$log" | head -n 5 | sed 's/^/   | /' || true
if (( errors > 0 )); then failures+=("zonewright logged $errors ERROR line(s)"); fi

# --- summary --------------------------------------------------------------------------
echo
echo "== summary (zone changes: UPDATEs that changed a zone; slow: answers over 2 s)"
printf '%-22s %8s %7s %7s %6s %7s %7s %6s %7s\n' sync messages NOERROR NOTAUTH other changes commits slow ms
printf '%s\n' "${summary[@]}"
echo "   total $(( ($(zw_now_us) - t_all) / 1000 )) ms"
if (( ${#failures[@]} )); then
    echo
    echo "FAILED:"
    printf '   %s\n' "${failures[@]}"
    exit 1
fi
echo "OK: every external-dns sync was answered and applied as the provider expects"
