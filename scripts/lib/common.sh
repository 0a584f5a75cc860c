# shellcheck shell=bash
# Helpers shared by the scripts in scripts/ (sourced, not run):
#
#   ZW_TAG=interop; source "$root/scripts/lib/common.sh"
#
#   zw_need CMD PACKAGE   exit with "apt-get install PACKAGE" when CMD is missing
#   zw_stop_pid PID [N]   SIGTERM, wait at most N tenths of a second (default
#                         100), then SIGKILL; only ever a PID we started
#   zw_free_ports N       N distinct ports free for both UDP and TCP on
#                         127.0.0.1, below the ephemeral range, space-separated
#   zw_now_us             microseconds since the epoch (for durations)
#   zw_log_tail NAME FILE the last lines of a daemon's log, indented, on stderr
#   zw_knot_conf RUN PORT ZONES
#                         knotd.conf for the benchmarks (up to its `zone:` line;
#                         append the zones): state under RUN, listening on
#                         127.0.0.1@PORT, zone files ZONES/<zone>.zone, one UDP
#                         worker per core, whole-file loads, no journal
#   zw_named_options DIR PORT KEY SECRET
#                         named.conf options and the hmac-sha256 KEY for the
#                         benchmarks (append the zones): state in DIR, port PORT
#   zw_fs_dir DIR         makes DIR; when $fresh is 1, the root of a new ext4
#                         file system (an 8 GiB sparse image DIR.img, loop-
#                         mounted; the mount point is added to the caller's
#                         $mounts array, for it to unmount on exit)
#   zw_fs_of DIR          the file system DIR is on, for a report
#
# Every wait is bounded. ZW_TAG prefixes the messages (default "zonewright").

zw_need() {
    command -v "$1" >/dev/null 2>&1 || {
        echo "${ZW_TAG:-zonewright}: $1 not found (apt-get install $2)" >&2
        exit 1
    }
}

zw_stop_pid() {
    local p=$1 tenths=${2:-100} _
    kill -TERM "$p" 2>/dev/null || return 0
    for _ in $(seq "$tenths"); do
        kill -0 "$p" 2>/dev/null || break
        sleep 0.1
    done
    kill -KILL "$p" 2>/dev/null || true
    wait "$p" 2>/dev/null || true
}

# Ports below the kernel's ephemeral range (ip_local_port_range), where no
# client's source port can land: the servers' UDP sockets (zonewright with
# several workers, named, knotd) and dig's client sockets all set
# SO_REUSEPORT, and Linux then lets a dig of the same user take a server's
# ephemeral port as its source port and send its query to itself. The
# sockets stay bound until every port is chosen, so the N are distinct; one
# pass over the 12,000 candidates at most.
zw_free_ports() {
    "${ZW_PY:-/usr/bin/python3}" - "${1:-1}" <<'PY'
import random, socket, sys
want, held, ports = int(sys.argv[1]), [], []
try:
    low, high = map(int, open("/proc/sys/net/ipv4/ip_local_port_range").read().split())
except (OSError, ValueError):
    low, high = 32768, 60999
start = max(1024, low - 12000) if low >= 3024 else high + 1
count = (low - start) if low >= 3024 else 65535 - high
first = random.randrange(count)
for n in range(count):
    if len(ports) == want:
        break
    port = start + (first + n) % count
    t = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        t.bind(("127.0.0.1", port))
        u.bind(("127.0.0.1", port))
    except OSError:
        t.close()
        u.close()
        continue
    held += [t, u]
    ports.append(port)
if len(ports) != want:
    raise SystemExit("no free ports below the ephemeral range")
print(" ".join(map(str, ports)))
PY
}

zw_now_us() {
    local t=${EPOCHREALTIME/./}
    echo "$((10#$t))"
}

zw_log_tail() {
    echo "   $1 log ($2), last lines:" >&2
    if [[ -s $2 ]]; then tail -n 20 "$2" | sed 's/^/   | /' >&2; else echo "   | (empty)" >&2; fi
}

zw_knot_conf() {
    local run=$1 port=$2 zones=$3
    mkdir -p "$run/run" "$run/db"
    cat <<KNOT
server:
    rundir: "$run/run"
    listen: 127.0.0.1@$port
    udp-workers: $(nproc)
    tcp-workers: 1
    background-workers: 1

database:
    storage: "$run/db"

log:
  - target: stderr
    any: warning

template:
  - id: default
    storage: "$zones"
    file: "%s.zone"
    journal-content: none
    zonefile-sync: -1
    zonefile-load: whole
    semantic-checks: on

zone:
KNOT
}

zw_named_options() {
    local dir=$1 port=$2 key=$3 secret=$4
    cat <<CONF
options {
    directory "$dir";
    listen-on port $port { 127.0.0.1; };
    listen-on-v6 { none; };
    pid-file "$dir/named.pid";
    session-keyfile "$dir/session.key";
    managed-keys-directory "$dir";
    recursion no;
    dnssec-validation no;
    notify no;
};
key "$key" {
    algorithm hmac-sha256;
    secret "$secret";
};
CONF
}

zw_fs_dir() {
    mkdir -p "$1"
    if (( ${fresh:-0} )); then
        truncate -s 8G "$1.img"
        mkfs.ext4 -q -F "$1.img"
        mount -o loop "$1.img" "$1"
        mounts+=("$1")
    fi
}

zw_fs_of() {
    local t
    t=$(findmnt -no FSTYPE -T "$1" 2>/dev/null || stat -f -c %T "$1")
    if (( ${fresh:-0} )); then echo "$t, new image"; else echo "$t at $1"; fi
}
