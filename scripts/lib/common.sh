# shellcheck shell=bash
# Helpers shared by the scripts in scripts/ (sourced, not run):
#
#   ZW_TAG=interop; source "$root/scripts/lib/common.sh"
#
#   zw_need CMD PACKAGE   exit with "apt-get install PACKAGE" when CMD is missing
#   zw_stop_pid PID [N]   SIGTERM, wait at most N tenths of a second (default
#                         100), then SIGKILL; only ever a PID we started
#   zw_free_ports N       N distinct ports free for both UDP and TCP on
#                         127.0.0.1, chosen by the kernel, space-separated
#   zw_now_us             microseconds since the epoch (for durations)
#   zw_log_tail NAME FILE the last lines of a daemon's log, indented, on stderr
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

# The sockets stay bound until every port is chosen, so the N are distinct;
# at most 200 tries.
zw_free_ports() {
    "${ZW_PY:-/usr/bin/python3}" - "${1:-1}" <<'PY'
import socket, sys
want, held, ports = int(sys.argv[1]), [], []
for _ in range(200):
    if len(ports) == want:
        break
    t = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    t.bind(("127.0.0.1", 0))
    port = t.getsockname()[1]
    u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        u.bind(("127.0.0.1", port))
    except OSError:
        t.close()
        continue
    held += [t, u]
    ports.append(port)
if len(ports) != want:
    raise SystemExit("no free ports")
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
