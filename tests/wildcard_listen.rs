//! A server listening on the wildcard addresses (`0.0.0.0`, `[::]`)
//! answers each UDP query and UPDATE from the address it was sent to
//! (round 46 HIGH: every answer came from the routing table's default
//! source, 127.0.0.1, and dig and nsupdate dropped answers to queries
//! sent to 127.0.0.2 as from a stranger).
//!
//! Binding a wildcard address listens on every interface of the machine,
//! so the server and its clients run in a network namespace of their own
//! (`unshare -n`: loopback only, with an extra IPv6 address). Skipped,
//! with a note, where namespaces, dig or nsupdate are not available.

mod common;

use std::path::Path;
use std::process::Command;

use common::*;

const PORT: u16 = 5300;

/// Whether this process may make a network namespace (root, or a kernel
/// that lets users), and has ip, dig and nsupdate.
fn available() -> bool {
    let tools = ["/usr/bin/dig", "/usr/bin/nsupdate"];
    if let Some(t) = tools.iter().find(|t| !Path::new(t).exists()) {
        eprintln!("SKIPPED: {t} not installed (apt-get install bind9-dnsutils)");
        return false;
    }
    let ns = Command::new("unshare")
        .args(["-n", "ip", "link", "set", "lo", "up"])
        .status();
    if !ns.is_ok_and(|s| s.success()) {
        eprintln!("SKIPPED: cannot make a network namespace (unshare -n, ip)");
        return false;
    }
    true
}

#[test]
fn udp_answers_come_from_the_address_the_query_was_sent_to() {
    if !available() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let zones = dir.path().join("zones");
    std::fs::create_dir(&zones).unwrap();
    write(
        &zones.join("example.com.zone"),
        &example_zone(1, "192.0.2.80"),
    );
    let config = dir.path().join("zonewright.toml");
    write(
        &config,
        &format!(
            "listen = [\"0.0.0.0:{PORT}\", \"[::]:{PORT}\"]\nzones_dir = \"zones\"\n\
             [server]\nudp_workers = 2\n\
             [[key]]\nname = \"acme-key\"\nalgorithm = \"hmac-sha256\"\nsecret = \"{}\"\n\
             grant = [{{ zone = \"example.com\", names = [\"_acme-challenge\"], types = [\"TXT\"] }}]\n",
            common::wire::SECRET_B64
        ),
    );
    let log = dir.path().join("server.log");
    let key = format!("hmac-sha256:acme-key:{}", common::wire::SECRET_B64);
    // Every wait bounded: 10 s for the server, 2 s per query (one try).
    let script = format!(
        r#"set -u
ip link set lo up
ip -6 addr add fd00::2/128 dev lo nodad
"$0" serve --config "$1" > "$2" 2>&1 & sp=$!
for i in $(seq 1 100); do grep -q ' serving ' "$2" && break; sleep 0.1; done
for a in 127.0.0.2 127.9.9.9 ::1 fd00::2; do
  echo "query $a $(dig @$a -p {PORT} www.example.com A +tries=1 +time=2 +short 2>&1 | tr '\n' ' ')"
done
for a in 127.0.0.3 fd00::2; do
  printf 'server %s {PORT}\nzone example.com\nupdate add _acme-challenge.example.com 60 TXT "from %s"\nsend\n' "$a" "$a" \
    | timeout 10 nsupdate -t 2 -u 2 -r 0 -y "$3" && echo "update $a NOERROR"
done
echo "txt $(dig @127.0.0.4 -p {PORT} _acme-challenge.example.com TXT +tries=1 +time=2 +short | sort | tr '\n' ' ')"
kill $sp; wait $sp
"#
    );
    let out = Command::new("timeout")
        .args(["60", "unshare", "-n", "sh", "-c", &script])
        .arg(env!("CARGO_BIN_EXE_zonewright"))
        .arg(&config)
        .arg(&log)
        .arg(&key)
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let server = std::fs::read_to_string(&log).unwrap_or_default();
    let why = format!(
        "{text}\n{}\nserver log:\n{server}",
        String::from_utf8_lossy(&out.stderr)
    );
    for a in ["127.0.0.2", "127.9.9.9", "::1", "fd00::2"] {
        assert!(
            text.lines().any(|l| l == format!("query {a} 192.0.2.80 ")),
            "the answer to a query sent to {a}: {why}"
        );
    }
    for a in ["127.0.0.3", "fd00::2"] {
        assert!(
            text.lines().any(|l| l == format!("update {a} NOERROR")),
            "the UPDATE sent to {a}: {why}"
        );
    }
    assert!(
        text.contains("txt \"from 127.0.0.3\" \"from fd00::2\" "),
        "both UPDATEs applied: {why}"
    );
}
