# shellcheck shell=bash
# Pebble, the ACME test CA, for the scripts (sourced after common.sh):
#
#   zw_pebble_tls DIR     a throw-away CA (DIR/ca.pem) and a certificate for
#                         127.0.0.1 signed by it (DIR/pebble.pem, pebble.key)
#                         for pebble's HTTPS; the clients trust DIR/ca.pem
#                         (certbot: REQUESTS_CA_BUNDLE, lego: LEGO_CA_CERTIFICATES)
#   zw_pebble_start DIR ACME_PORT MGMT_PORT DNS_SERVER
#                         pebble with DIR/pebble.json and DIR/pebble.log, its
#                         DNS lookups (the challenges) sent to DNS_SERVER
#                         (host:port); sets ZW_PEBBLE_PID (stop it with
#                         zw_stop_pid); ready when its directory answers,
#                         https://127.0.0.1:ACME_PORT/dir (at most ~10 s),
#                         else returns 1. No random 0-15 s sleep before
#                         validating, no rejected nonces.
#
# Needs pebble, openssl and curl.

zw_pebble_tls() {
    local dir=$1
    mkdir -p "$dir"
    openssl req -x509 -newkey rsa:2048 -nodes -days 1 -subj "/CN=zonewright test CA" \
        -keyout "$dir/ca.key" -out "$dir/ca.pem" \
        -addext basicConstraints=critical,CA:TRUE -addext keyUsage=critical,keyCertSign >/dev/null 2>&1
    openssl req -newkey rsa:2048 -nodes -subj "/CN=127.0.0.1" \
        -keyout "$dir/pebble.key" -out "$dir/pebble.csr" >/dev/null 2>&1
    printf 'subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth\n' >"$dir/ext"
    openssl x509 -req -in "$dir/pebble.csr" -CA "$dir/ca.pem" -CAkey "$dir/ca.key" \
        -CAcreateserial -days 1 -extfile "$dir/ext" -out "$dir/pebble.pem" >/dev/null 2>&1
}

zw_pebble_start() {
    local dir=$1 acme=$2 mgmt=$3 dns=$4 _
    cat >"$dir/pebble.json" <<JSON
{
  "pebble": {
    "listenAddress": "127.0.0.1:$acme",
    "managementListenAddress": "127.0.0.1:$mgmt",
    "certificate": "$dir/pebble.pem",
    "privateKey": "$dir/pebble.key",
    "httpPort": 5002,
    "tlsPort": 5001,
    "ocspResponderURL": "",
    "externalAccountBindingRequired": false
  }
}
JSON
    PEBBLE_VA_NOSLEEP=1 PEBBLE_WFE_NONCEREJECT=0 pebble -config "$dir/pebble.json" \
        -dnsserver "$dns" >>"$dir/pebble.log" 2>&1 &
    ZW_PEBBLE_PID=$!
    for _ in $(seq 100); do
        kill -0 "$ZW_PEBBLE_PID" 2>/dev/null || break
        if curl -sS --fail --max-time 2 --cacert "$dir/ca.pem" -o /dev/null \
            "https://127.0.0.1:$acme/dir" 2>/dev/null; then
            return 0
        fi
        sleep 0.1
    done
    echo "${ZW_TAG:-zonewright}: pebble does not answer https://127.0.0.1:$acme/dir" >&2
    zw_log_tail pebble "$dir/pebble.log"
    return 1
}
