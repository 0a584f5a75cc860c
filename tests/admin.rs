//! The admin listener over real sockets: `/health`, `/ready`, `/metrics`
//! and `/v1/zones/{zone}/status`, each metric family appearing after the
//! event it counts, label sets that a client cannot grow, propagation
//! tracking and propagation-confirmed writes (`[[zone]] confirm`). The
//! secondary here is a UDP socket that answers NOTIFY and SOA queries
//! with a serial the test chooses (`scripts/interop-secondaries.sh` runs
//! BIND, Knot and NSD). Only 127.0.0.1; every wait is bounded.

mod common;

use std::net::{Ipv4Addr, SocketAddr, UdpSocket};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::time::{Duration, Instant};

use common::wire::{self, SECRET_B64, key, now, signed};
use common::*;
use hickory_proto::op::{Message, MessageType, OpCode, ResponseCode};
use hickory_proto::rr::rdata::SOA;
use hickory_proto::rr::{Name, RData, Record, RecordType};
use serde_json::Value;

/// A secondary that acknowledges NOTIFYs and answers SOA queries for
/// example.com with `serial` (or not at all while `silent`); while
/// `follow`, a NOTIFY sets `serial` to the one it announces (a secondary
/// that transfers at once).
struct FakeSecondary {
    addr: SocketAddr,
    serial: Arc<AtomicU32>,
    silent: Arc<AtomicBool>,
    follow: Arc<AtomicBool>,
    /// Answer SOA queries without the AA bit (a cache, a lost zone).
    no_aa: Arc<AtomicBool>,
    stop: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl FakeSecondary {
    fn start(serial: u32) -> FakeSecondary {
        let sock = UdpSocket::bind((Ipv4Addr::LOCALHOST, 0)).unwrap();
        sock.set_read_timeout(Some(Duration::from_millis(100)))
            .unwrap();
        let addr = sock.local_addr().unwrap();
        let serial = Arc::new(AtomicU32::new(serial));
        let silent = Arc::new(AtomicBool::new(false));
        let stop = Arc::new(AtomicBool::new(false));
        let follow = Arc::new(AtomicBool::new(false));
        let no_aa = Arc::new(AtomicBool::new(false));
        let (s, q, x, f) = (serial.clone(), silent.clone(), stop.clone(), follow.clone());
        let na = no_aa.clone();
        let thread = std::thread::spawn(move || {
            let deadline = Instant::now() + Duration::from_secs(120);
            let mut buf = vec![0u8; 4096];
            while !x.load(Ordering::Relaxed) && Instant::now() < deadline {
                let Ok((n, from)) = sock.recv_from(&mut buf) else {
                    continue;
                };
                let Ok(m) = Message::from_vec(&buf[..n]) else {
                    continue;
                };
                if q.load(Ordering::Relaxed) {
                    continue;
                }
                if m.metadata.op_code == OpCode::Notify && f.load(Ordering::Relaxed) {
                    for r in &m.answers {
                        if let RData::SOA(soa) = &r.data {
                            s.store(soa.serial, Ordering::Relaxed);
                        }
                    }
                }
                let mut r = m.clone();
                r.metadata.message_type = MessageType::Response;
                r.signature = None;
                if m.metadata.op_code == OpCode::Query {
                    r.metadata.authoritative = !na.load(Ordering::Relaxed);
                    let origin = Name::from_ascii("example.com.").unwrap();
                    let soa = SOA::new(
                        Name::from_ascii("ns1.example.com.").unwrap(),
                        Name::from_ascii("hostmaster.example.com.").unwrap(),
                        s.load(Ordering::Relaxed),
                        3600,
                        600,
                        86400,
                        60,
                    );
                    r.add_answer(Record::from_rdata(origin, 60, RData::SOA(soa)));
                }
                if let Ok(bytes) = r.to_vec() {
                    let _ = sock.send_to(&bytes, from);
                }
            }
        });
        FakeSecondary {
            addr,
            serial,
            silent,
            follow,
            no_aa,
            stop,
            thread: Some(thread),
        }
    }
}

impl Drop for FakeSecondary {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

fn config(secondary: SocketAddr, confirm: usize, extra: &str) -> String {
    format!(
        "[admin]\nlisten = \"127.0.0.1:0\"\n\
         [[key]]\nname = \"acme-key\"\nalgorithm = \"hmac-sha256\"\nsecret = \"{SECRET_B64}\"\n\
         grant = [ {{ zone = \"example.com\", names = [\"_acme-challenge\"], types = [\"TXT\"] }} ]\n\
         [[zone]]\nname = \"example.com\"\nnotify = [\"{secondary}\"]\n{extra}\
         confirm = {confirm}\nconfirm_timeout = \"1s\"\nallow_transfer = [\"127.0.0.0/8\"]\n"
    )
}

fn start(secondary: SocketAddr, confirm: usize) -> TestServer {
    start_with(secondary, confirm, "")
}

fn start_with(secondary: SocketAddr, confirm: usize, extra: &str) -> TestServer {
    TestServer::start(
        &[(
            "example.com.zone",
            &simple_zone("example.com", 1, "192.0.2.80"),
        )],
        &config(secondary, confirm, extra),
    )
}

/// An UPDATE under `confirm = 1` that must wait for the whole 1 s
/// `confirm_timeout`: answered NOERROR all the same, and counted.
fn assert_unconfirmed(s: &TestServer, id: u16, why: &str) {
    let k = key("acme-key.");
    let started = Instant::now();
    assert_eq!(
        update_with(s, id, "t-unconfirmed", &k),
        ResponseCode::NoError
    );
    let waited = started.elapsed();
    assert!(
        waited >= Duration::from_millis(900),
        "{why}: answered after {waited:?}"
    );
    assert_eq!(
        metric(
            s,
            r#"zonewright_confirm_timeouts_total{zone="example.com."}"#
        ),
        Some(1.0),
        "{why}"
    );
}

fn client() -> reqwest::blocking::Client {
    let _ = tokio_rustls::rustls::crypto::ring::default_provider().install_default();
    reqwest::blocking::Client::builder()
        .timeout(Duration::from_secs(5))
        .build()
        .unwrap()
}

fn get(s: &TestServer, path: &str) -> (u16, String) {
    let url = format!("http://{}{path}", s.admin_addr.expect("[admin] bound"));
    let r = client().get(url).send().expect("admin answers");
    (r.status().as_u16(), r.text().unwrap_or_default())
}

fn get_json(s: &TestServer, path: &str) -> (u16, Value) {
    let (status, body) = get(s, path);
    let v = serde_json::from_str(&body).unwrap_or_else(|e| panic!("{path}: {e}: {body}"));
    (status, v)
}

/// The value of the metric line that starts with `series` (labels included).
fn metric(s: &TestServer, series: &str) -> Option<f64> {
    let (status, text) = get(s, "/metrics");
    assert_eq!(status, 200);
    text.lines()
        .find_map(|l| l.strip_prefix(series)?.strip_prefix(' ')?.parse().ok())
}

fn update_with(s: &TestServer, id: u16, token: &str, k: &zonewright::tsig::Key) -> ResponseCode {
    let msg = wire::update(
        id,
        "example.com",
        None,
        "_acme-challenge.example.com",
        1,
        Some(token),
    );
    let (bytes, _) = signed(&msg, k, now());
    let resp = s
        .udp_raw_wait(&bytes, Duration::from_secs(5))
        .expect("an answer");
    rcode(&Message::from_vec(&resp).unwrap())
}

/// A forged UPDATE: sent, its answer (if any) read and ignored.
fn forged_update(s: &TestServer, id: u16, k: &zonewright::tsig::Key) {
    let msg = wire::update(
        id,
        "example.com",
        None,
        "_acme-challenge.example.com",
        1,
        Some("x"),
    );
    let (bytes, _) = signed(&msg, k, now());
    let _ = s.udp_raw_wait(&bytes, Duration::from_millis(300));
}

fn serial_of(s: &TestServer) -> u32 {
    soa_serial(&s.udp(&query("example.com.", RecordType::SOA))).expect("SOA")
}

#[test]
fn health_ready_and_unknown_paths() {
    let sec = FakeSecondary::start(1);
    let s = start(sec.addr, 0);
    let (status, v) = get_json(&s, "/health");
    assert_eq!((status, v["status"].as_str()), (200, Some("alive")));
    let (status, v) = get_json(&s, "/ready");
    assert_eq!(status, 200, "{v}");
    assert_eq!(v["ready"], Value::Bool(true));
    let (status, v) = get_json(&s, "/nope");
    assert_eq!(status, 404, "{v}");
    assert!(v["error"].as_str().unwrap().contains("/metrics"), "{v}");
    // Read-only: no other method.
    let url = format!("http://{}/metrics", s.admin_addr.unwrap());
    let r = client().post(url).body("x").send().unwrap();
    assert_eq!(r.status().as_u16(), 405);
    let (status, v) = get_json(&s, "/v1/zones/nothere.example/status");
    assert_eq!(status, 404, "{v}");
    assert!(v["error"].as_str().unwrap().contains("not served"), "{v}");
    let (status, _) = get_json(&s, "/v1/zones/bad..name/status");
    assert_eq!(status, 400);
}

#[test]
fn ready_is_503_naming_a_zone_that_does_not_load() {
    let sec = FakeSecondary::start(1);
    let s = start(sec.addr, 0);
    write(
        &s.zones_dir().join("example.com.zone"),
        "$ORIGIN example.com.\n@ IN SOA broken\n",
    );
    let deadline = Instant::now() + Duration::from_secs(10);
    let (status, v) = loop {
        let (status, v) = get_json(&s, "/ready");
        if status != 200 || Instant::now() > deadline {
            break (status, v);
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    assert_eq!(status, 503, "{v}");
    let problems = v["problems"].to_string();
    assert!(problems.contains("example.com"), "{problems}");
    assert!(
        problems.contains("serves its last good version"),
        "{problems}"
    );
    // The status says the same, and the last good version still serves.
    let (_, st) = get_json(&s, "/v1/zones/example.com/status");
    assert!(st["error"].as_str().is_some_and(|e| !e.is_empty()), "{st}");
    assert!(metric(&s, r#"zonewright_reloads_total{result="failed"}"#) >= Some(1.0));
    assert_eq!(st["serial"], Value::from(1));
}

#[test]
fn each_metric_family_appears_after_the_event_it_counts() {
    let sec = FakeSecondary::start(1);
    let s = start(sec.addr, 0);
    let base = metric(
        &s,
        r#"zonewright_dns_requests_total{zone="example.com.",type="A",proto="udp"}"#,
    )
    .unwrap_or(0.0);
    let r = s.udp(&query("www.example.com.", RecordType::A));
    assert_eq!(rcode(&r), ResponseCode::NoError);
    let _ = s.udp(&query("www.not-ours.test.", RecordType::A));
    assert_eq!(
        metric(
            &s,
            r#"zonewright_dns_requests_total{zone="example.com.",type="A",proto="udp"}"#
        ),
        Some(base + 1.0)
    );
    assert!(
        metric(
            &s,
            r#"zonewright_dns_responses_total{zone="",rcode="REFUSED"}"#
        ) >= Some(1.0)
    );
    assert!(
        metric(
            &s,
            r#"zonewright_dns_request_duration_seconds_count{proto="udp"}"#
        ) >= Some(2.0)
    );

    // An UPDATE: counted by zone, key and result; its phases timed; the
    // commit counted; the zone's serial and the NOTIFY to the target.
    let k = key("acme-key.");
    assert_eq!(update_with(&s, 7, "t-1", &k), ResponseCode::NoError);
    let serial = serial_of(&s);
    assert_eq!(
        metric(
            &s,
            r#"zonewright_dns_updates_total{zone="example.com.",key="acme-key",result="NOERROR"}"#
        ),
        Some(1.0)
    );
    for phase in ["queue", "compute", "edit", "write", "install", "commit"] {
        let series = format!(r#"zonewright_write_duration_seconds_count{{phase="{phase}"}}"#);
        assert!(metric(&s, &series) >= Some(1.0), "{series}");
    }
    assert!(metric(&s, "zonewright_git_commits_total") >= Some(1.0));
    assert_eq!(metric(&s, "zonewright_git_usable"), Some(1.0));
    assert_eq!(
        metric(&s, r#"zonewright_zone_serial{zone="example.com."}"#),
        Some(f64::from(serial))
    );
    let target = sec.addr.to_string();
    let sent = format!(r#"zonewright_notify_sent_total{{zone="example.com.",target="{target}"}}"#);
    let acked =
        format!(r#"zonewright_notify_acknowledged_total{{zone="example.com.",target="{target}"}}"#);
    let deadline = Instant::now() + Duration::from_secs(10);
    while metric(&s, &acked).is_none() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(100));
    }
    assert!(metric(&s, &sent) >= Some(1.0));
    assert!(metric(&s, &acked) >= Some(1.0));

    // Transfers by kind and result.
    let mut tcp = s.tcp_connect();
    tcp_send(
        &mut tcp,
        &query("example.com.", RecordType::AXFR).to_vec().unwrap(),
    );
    assert!(tcp_recv(&mut tcp).is_some());
    let _ = s.udp(&query("example.com.", RecordType::AXFR));
    assert_eq!(
        metric(
            &s,
            r#"zonewright_transfers_total{zone="example.com.",kind="axfr",result="full"}"#
        ),
        Some(1.0)
    );
    assert_eq!(
        metric(
            &s,
            r#"zonewright_transfers_total{zone="example.com.",kind="axfr",result="refused"}"#
        ),
        Some(1.0)
    );
    assert!(metric(&s, r#"zonewright_reloads_total{result="ok"}"#) >= Some(1.0));
}

/// An attacker controls query names and types, key names and MACs: none
/// of it becomes a label, so the metrics stay as large as the config.
#[test]
fn attack_labels_cannot_be_grown_by_clients() {
    let sec = FakeSecondary::start(1);
    let s = start(sec.addr, 0);
    let (_, before) = get(&s, "/metrics");
    for i in 0..200u16 {
        let mut q = query(&format!("x{i}.attacker-{i}.test."), RecordType::A);
        q.queries[0].query_type = RecordType::Unknown(60_000 + i);
        let _ = s.udp_raw(&q.to_vec().unwrap());
        // Case games on a served zone are the same zone.
        let _ = s.udp(&query(&format!("WwW{i}.ExAmPlE.CoM."), RecordType::A));
    }
    // Forged UPDATEs: a made-up key, and our key with a wrong secret.
    for i in 0..20u16 {
        let made_up = zonewright::tsig::Key::new(
            hickory_proto::rr::Name::from_ascii(format!("evil-{i}.")).unwrap(),
            zonewright::tsig::Algorithm::HmacSha256,
            vec![7; 32],
        );
        forged_update(&s, 100 + i, &made_up);
        let guessed = zonewright::tsig::Key::new(
            hickory_proto::rr::Name::from_ascii("acme-key.").unwrap(),
            zonewright::tsig::Algorithm::HmacSha256,
            vec![i as u8; 32],
        );
        // Answered NOTAUTH until the source is over its budget of
        // rejections, then not at all: either way nothing is applied.
        forged_update(&s, 200 + i, &guessed);
    }
    let txt = s.udp(&query("_acme-challenge.example.com.", RecordType::TXT));
    assert_eq!(
        rcode(&txt),
        ResponseCode::NXDomain,
        "nothing forged was applied"
    );
    let (_, after) = get(&s, "/metrics");
    for needle in ["attacker", "evil-", "ExAmPlE", "WwW", "type=\"60", "TYPE60"] {
        assert!(!after.contains(needle), "{needle} became a label:\n{after}");
    }
    assert!(
        metric(
            &s,
            r#"zonewright_dns_updates_total{zone="",key="unknown",result="BADKEY"}"#
        ) >= Some(1.0),
        "{after}"
    );
    assert!(
        metric(
            &s,
            r#"zonewright_dns_updates_total{zone="",key="acme-key",result="BADSIG"}"#
        ) >= Some(1.0),
        "{after}"
    );
    assert!(
        metric(
            &s,
            r#"zonewright_dns_requests_total{zone="",type="other",proto="udp"}"#
        ) >= Some(200.0)
    );
    // Bounded: the series count grows by a handful, not by the 600 requests.
    let series = |t: &str| t.lines().filter(|l| !l.starts_with('#')).count();
    assert!(
        series(&after) < series(&before) + 40,
        "{} -> {} series",
        series(&before),
        series(&after)
    );
}

#[test]
fn status_tracks_the_secondary_until_it_serves_the_serial() {
    let sec = FakeSecondary::start(1);
    let s = start(sec.addr, 0);
    let k = key("acme-key.");
    assert_eq!(update_with(&s, 9, "t-1", &k), ResponseCode::NoError);
    let serial = serial_of(&s);
    // The secondary still serves 1: behind, with a lag that grows.
    let (_, v) = get_json(&s, "/v1/zones/example.com/status");
    assert_eq!(v["serial"], Value::from(serial), "{v}");
    assert_eq!(v["last_commit"]["author"], Value::from("acme-key"), "{v}");
    let secs = v["secondaries"].as_array().expect("secondaries");
    assert_eq!(secs.len(), 1, "{v}");
    assert_eq!(secs[0]["target"], Value::from(sec.addr.to_string()));
    // It catches up: the prober sees the new serial and the lag is 0.
    sec.serial.store(serial, Ordering::Relaxed);
    let deadline = Instant::now() + Duration::from_secs(40);
    let v = loop {
        let (_, v) = get_json(&s, "/v1/zones/example.com/status");
        let s0 = &v["secondaries"][0];
        if s0["serial"] == serial || Instant::now() > deadline {
            break v;
        }
        std::thread::sleep(Duration::from_millis(200));
    };
    let s0 = &v["secondaries"][0];
    assert_eq!(s0["serial"], Value::from(serial), "{v}");
    assert_eq!(s0["lag_seconds"], Value::from(0.0), "{v}");
    assert_eq!(s0["in_sync"], Value::Bool(true), "{v}");
    let target = sec.addr.to_string();
    assert_eq!(
        metric(
            &s,
            &format!(r#"zonewright_secondary_serial{{zone="example.com.",target="{target}"}}"#)
        ),
        Some(f64::from(serial))
    );
}

#[test]
fn confirmed_write_waits_for_the_secondary_or_times_out() {
    let sec = FakeSecondary::start(1);
    let s = start(sec.addr, 1);
    let k = key("acme-key.");
    // A secondary that transfers as soon as notified: the answer comes
    // once it serves the new serial, well before the timeout.
    sec.follow.store(true, Ordering::Relaxed);
    let started = Instant::now();
    assert_eq!(update_with(&s, 11, "t-1", &k), ResponseCode::NoError);
    let quick = started.elapsed();
    assert_eq!(
        metric(
            &s,
            r#"zonewright_confirm_timeouts_total{zone="example.com."}"#
        ),
        None
    );
    // A silent secondary: the write still stands (NOERROR, durable,
    // committed), answered after confirm_timeout (1 s), counted.
    sec.silent.store(true, Ordering::Relaxed);
    let started = Instant::now();
    assert_eq!(update_with(&s, 12, "t-2", &k), ResponseCode::NoError);
    let waited = started.elapsed();
    assert!(
        waited >= Duration::from_millis(900),
        "answered after {waited:?}"
    );
    assert!(quick < waited, "confirmed {quick:?}, timed out {waited:?}");
    assert_eq!(
        metric(
            &s,
            r#"zonewright_confirm_timeouts_total{zone="example.com."}"#
        ),
        Some(1.0)
    );
    let txt = s.udp(&query("_acme-challenge.example.com.", RecordType::TXT));
    assert_eq!(txt.answers.len(), 2, "both writes stand");
}

#[test]
fn config_refuses_confirm_beyond_the_targets() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("zonewright.toml");
    let text = "zones_dir = \".\"\n[admin]\nlisten = \"0.0.0.0:9153\"\n\
                [[zone]]\nname = \"example.com\"\nnotify = [\"127.0.0.1:5300\"]\nconfirm = 2\n";
    std::fs::write(&path, text).unwrap();
    let err = zonewright::config::Config::load(&path)
        .unwrap_err()
        .to_string();
    assert!(
        err.contains(":7: zone[1].confirm: confirm = 2 but the zone has 1 notify target"),
        "{err}"
    );
    let text = text.replace("confirm = 2", "confirm = 1");
    std::fs::write(&path, text).unwrap();
    let c = zonewright::config::Config::load(&path).unwrap();
    let w = c.warnings.join("\n");
    assert!(
        w.contains("admin.listen: 0.0.0.0:9153 is not a loopback address"),
        "{w}"
    );
}

/// A real BIND secondary: after an UPDATE, the status shows it catching up
/// (its serial reaches the zone's, the lag goes to 0). Skipped, saying so,
/// where `named` is not installed (`.ci/run` installs it).
#[test]
fn status_against_a_real_bind_secondary() {
    if std::process::Command::new("named")
        .arg("-v")
        .output()
        .is_err()
    {
        eprintln!("SKIPPED: named not installed (apt-get install bind9)");
        return;
    }
    // named's UDP sockets use SO_REUSEPORT, as dig's do: see server_port.
    let port = common::server_port();
    let target: SocketAddr = (Ipv4Addr::LOCALHOST, port).into();
    let s = start(target, 0);
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path().display();
    let conf = format!(
        "options {{ directory \"{d}\"; listen-on port {port} {{ 127.0.0.1; }}; listen-on-v6 {{ none; }};\n\
         pid-file \"{d}/named.pid\"; session-keyfile \"{d}/session.key\"; managed-keys-directory \"{d}\";\n\
         recursion no; dnssec-validation no; notify no; }};\n\
         zone \"example.com\" {{ type secondary; file \"example.com.bk\";\n\
         primaries {{ 127.0.0.1 port {}; }}; allow-notify {{ 127.0.0.1; }}; }};\n",
        s.addr.port()
    );
    std::fs::write(dir.path().join("named.conf"), conf).unwrap();
    let log = std::fs::File::create(dir.path().join("named.log")).unwrap();
    struct Kill(std::process::Child);
    impl Drop for Kill {
        fn drop(&mut self) {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }
    let named = std::process::Command::new("named")
        .args(["-g", "-4", "-c"])
        .arg(dir.path().join("named.conf"))
        .stdout(log.try_clone().unwrap())
        .stderr(log)
        .spawn()
        .expect("named starts");
    let _named = Kill(named);
    // BIND loads the zone from us (AXFR) first.
    let soa_at = |serial: u32| {
        let sock = UdpSocket::bind((Ipv4Addr::LOCALHOST, 0)).unwrap();
        sock.set_read_timeout(Some(Duration::from_millis(300)))
            .unwrap();
        let q = query("example.com.", RecordType::SOA).to_vec().unwrap();
        let _ = sock.send_to(&q, target);
        let mut buf = vec![0u8; 4096];
        sock.recv(&mut buf)
            .ok()
            .and_then(|n| Message::from_vec(&buf[..n]).ok())
            .and_then(|m| soa_serial(&m))
            == Some(serial)
    };
    let deadline = Instant::now() + Duration::from_secs(30);
    while !soa_at(1) && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(200));
    }
    assert!(
        soa_at(1),
        "named never loaded example.com from zonewright (see {d}/named.log)"
    );
    let k = key("acme-key.");
    assert_eq!(update_with(&s, 21, "t-bind", &k), ResponseCode::NoError);
    let serial = serial_of(&s);
    let deadline = Instant::now() + Duration::from_secs(40);
    let v = loop {
        let (_, v) = get_json(&s, "/v1/zones/example.com/status");
        if v["secondaries"][0]["in_sync"] == Value::Bool(true) || Instant::now() > deadline {
            break v;
        }
        std::thread::sleep(Duration::from_millis(200));
    };
    let s0 = &v["secondaries"][0];
    assert_eq!(s0["serial"], Value::from(serial), "{v}");
    assert_eq!(s0["lag_seconds"], Value::from(0.0), "{v}");
    assert!(soa_at(serial), "named serves the new serial");
}

/// With `notify_key`, the SOA answers that track propagation must carry a
/// TSIG that verifies (RFC 8945 §5.3): a secondary (or a spoofer) that
/// answers unsigned with the right serial does not confirm a write.
#[test]
fn attack_unsigned_soa_answers_do_not_confirm_a_write_under_notify_key() {
    let sec = FakeSecondary::start(1);
    sec.follow.store(true, Ordering::Relaxed);
    let s = start_with(sec.addr, 1, "notify_key = \"acme-key\"\n");
    assert_unconfirmed(&s, 31, "unsigned answers");
    // The probe's UDP wait (2 s) and its TCP try end with the reason.
    let deadline = Instant::now() + Duration::from_secs(10);
    let v = loop {
        let (_, v) = get_json(&s, "/v1/zones/example.com/status");
        if v["secondaries"][0]["error"].is_string() || Instant::now() > deadline {
            break v;
        }
        std::thread::sleep(Duration::from_millis(200));
    };
    let s0 = &v["secondaries"][0];
    assert_eq!(s0["in_sync"], Value::Bool(false), "{v}");
    assert!(
        s0["error"].as_str().is_some_and(|e| e.contains("TSIG")),
        "{v}"
    );
}

/// A secondary that serves a serial ahead of ours (a zone restored with a
/// lower serial) will never take this write: no confirmation, and the
/// status shows it behind with a lag.
#[test]
fn a_secondary_ahead_of_the_zone_does_not_confirm_and_shows_a_lag() {
    let sec = FakeSecondary::start(u32::MAX / 2);
    let s = start(sec.addr, 1);
    assert_unconfirmed(&s, 41, "secondary ahead");
    let (_, v) = get_json(&s, "/v1/zones/example.com/status");
    let s0 = &v["secondaries"][0];
    assert_eq!(s0["serial"], Value::from(u32::MAX / 2), "{v}");
    assert_eq!(s0["in_sync"], Value::Bool(false), "{v}");
    assert!(s0["lag_seconds"].as_f64().is_some_and(|l| l > 0.5), "{v}");
}

/// `/ready` and `zonewright_git_usable` tell the truth while git refuses
/// commits (a ref lock held by another process), and recover after.
#[test]
fn ready_is_503_while_git_refuses_commits_and_200_after() {
    let sec = FakeSecondary::start(1);
    let s = start(sec.addr, 0);
    let git_dir = s.zones_dir().join(".git");
    let head = std::fs::read_to_string(git_dir.join("HEAD")).unwrap();
    let branch = head
        .trim()
        .strip_prefix("ref: ")
        .expect("on a branch")
        .to_owned();
    let lock = git_dir.join(format!("{branch}.lock"));
    // Held open, as a running git holds it (a lock nobody holds is stale,
    // and the server removes it).
    let held = std::fs::File::create(&lock).unwrap();
    let k = key("acme-key.");
    assert_eq!(update_with(&s, 51, "t-locked", &k), ResponseCode::ServFail);
    let (status, v) = get_json(&s, "/ready");
    assert_eq!(status, 503, "{v}");
    assert!(
        v["problems"]
            .to_string()
            .contains("git does not take commits"),
        "{v}"
    );
    assert_eq!(metric(&s, "zonewright_git_usable"), Some(0.0));
    drop(held);
    std::fs::remove_file(&lock).unwrap();
    // The next write commits (after the rollback of the failed one).
    let deadline = Instant::now() + Duration::from_secs(20);
    let mut id = 52;
    while update_with(&s, id, "t-free", &k) != ResponseCode::NoError && Instant::now() < deadline {
        id += 1;
        std::thread::sleep(Duration::from_millis(200));
    }
    let (status, v) = get_json(&s, "/ready");
    assert_eq!(status, 200, "{v}");
    assert_eq!(metric(&s, "zonewright_git_usable"), Some(1.0));
}

/// A person's edit found while git refused commits is committed once git
/// takes commits again, with no write needed to trigger it, and `/ready`
/// turns 200 then (attack round 8).
#[test]
fn a_held_edit_is_committed_once_git_recovers_without_another_write() {
    let sec = FakeSecondary::start(1);
    let s = start(sec.addr, 0);
    let zones = s.zones_dir();
    let head = std::fs::read_to_string(zones.join(".git/HEAD")).unwrap();
    let branch = head
        .trim()
        .strip_prefix("ref: ")
        .expect("on a branch")
        .to_owned();
    let lock = zones.join(".git").join(format!("{branch}.lock"));
    let held = std::fs::File::create(&lock).unwrap();
    write(
        &zones.join("example.com.zone"),
        &simple_zone("example.com", 7, "192.0.2.81"),
    );
    let deadline = Instant::now() + Duration::from_secs(10);
    while serial_of(&s) != 7 && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(100));
    }
    assert_eq!(serial_of(&s), 7, "the edit is served");
    let deadline = Instant::now() + Duration::from_secs(10);
    while get_json(&s, "/ready").0 == 200 && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(100));
    }
    assert_eq!(get_json(&s, "/ready").0, 503, "the external commit failed");
    drop(held);
    std::fs::remove_file(&lock).unwrap();
    let deadline = Instant::now() + Duration::from_secs(20);
    let clean = || {
        let out = std::process::Command::new("git")
            .args(["status", "--porcelain", "example.com.zone"])
            .current_dir(&zones)
            .output()
            .unwrap();
        out.stdout.is_empty()
    };
    while !(clean() && get_json(&s, "/ready").0 == 200) && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(200));
    }
    assert!(clean(), "the edit is committed");
    let (status, v) = get_json(&s, "/ready");
    assert_eq!(status, 200, "{v}");
}

/// An SOA answer without AA (a cache, a server that lost the zone) says
/// nothing about what the secondary serves: no confirmation.
#[test]
fn a_non_authoritative_soa_answer_does_not_confirm() {
    let sec = FakeSecondary::start(1);
    sec.follow.store(true, Ordering::Relaxed);
    sec.no_aa.store(true, Ordering::Relaxed);
    let s = start(sec.addr, 1);
    assert_unconfirmed(&s, 61, "answers without AA");
}

/// The sum of every series of `family` (`name{...} value` lines).
fn family_sum(s: &TestServer, family: &str) -> f64 {
    let (status, text) = get(s, "/metrics");
    assert_eq!(status, 200);
    text.lines()
        .filter(|l| l.starts_with(&format!("{family}{{")))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum()
}

/// Every request answered but UPDATE is counted once in
/// `dns_requests_total`, `dns_responses_total` and the answer-time
/// histogram, error answers included; a datagram dropped unanswered is
/// counted in none (round 27: FORMERR, NOTIMP, BADVERS, CHAOS and NOTAUTH
/// answers were missing from the first two, and dropped packets were in
/// the histogram).
#[test]
fn every_answer_is_counted_once_and_a_dropped_datagram_not_at_all() {
    let sec = FakeSecondary::start(1);
    let s = start(sec.addr, 0);
    let families = [
        "zonewright_dns_requests_total",
        "zonewright_dns_responses_total",
        "zonewright_dns_request_duration_seconds_count",
    ];
    let before: Vec<f64> = families.iter().map(|f| family_sum(&s, f)).collect();
    let rcode_of = |bytes: &[u8]| bytes.get(3).map(|b| b & 0x0f);
    let mut answered = 0.0;
    // NOTIFY and STATUS: NOTIMP.
    for op in [4, 2] {
        let r = s.udp_raw(&opcode_message(op)).expect("answered");
        assert_eq!(rcode_of(&r), Some(4));
        answered += 1.0;
    }
    // No question: FORMERR.
    let mut empty = query("www.example.com.", RecordType::A).to_vec().unwrap();
    empty.truncate(12);
    empty[4] = 0;
    empty[5] = 0;
    assert_eq!(rcode_of(&s.udp_raw(&empty).expect("answered")), Some(1));
    answered += 1.0;
    // EDNS version 1: BADVERS.
    let r = s.udp(&query_edns("www.example.com.", RecordType::A, 1232, 1));
    // 16 (hickory names it BADSIG, the value BADVERS shares).
    assert_eq!(u16::from(r.metadata.response_code), 16);
    answered += 1.0;
    // CHAOS.
    let mut ch = query("version.bind.", RecordType::TXT);
    ch.queries[0].set_query_class(hickory_proto::rr::DNSClass::CH);
    s.udp(&ch);
    answered += 1.0;
    // Signed with a key the server does not have: NOTAUTH (BADKEY).
    let plain = query("www.example.com.", RecordType::A).to_vec().unwrap();
    let (forged, _) = signed(&plain, &key("no-such-key."), now());
    assert_eq!(rcode_of(&s.udp_raw(&forged).expect("answered")), Some(9));
    answered += 1.0;
    // Over TCP, a plain query.
    assert_eq!(
        rcode(&s.tcp(&query("www.example.com.", RecordType::A))),
        ResponseCode::NoError
    );
    answered += 1.0;
    // A response (QR=1) and a runt: dropped, not answered.
    let mut response = plain.clone();
    response[2] |= 0x80;
    assert!(
        s.udp_raw_wait(&response, Duration::from_millis(300))
            .is_none()
    );
    assert!(
        s.udp_raw_wait(&[0, 1, 2, 3, 4], Duration::from_millis(300))
            .is_none()
    );
    for (family, was) in families.iter().zip(before) {
        assert_eq!(
            family_sum(&s, family) - was,
            answered,
            "{family} counts each answer once"
        );
    }
}
