//! The REST API with its peers: git (a commit per effective write, the
//! token's name as author), TSIG UPDATEs to the same zone at the same time
//! (dnspython), a restart, and HTTPS with a self-signed certificate.

mod common;
mod rest_common;

use std::collections::BTreeSet;
use std::time::Duration;

use hickory_proto::rr::RecordType;
use serde_json::json;

use common::TestServer;
use common::update::{
    PyResult, ZONE_FILE, acme_py, commit, commits_since, dnsupdate_cmd, fixture_zone, head,
    run_bounded, text, update_config, wait_committed,
};
use common::{a_addrs, query};
use rest_common::*;

#[test]
fn a_commit_per_effective_write_with_the_token_name() {
    let (s, api) = start("rate_limit = 0");
    let zones = s.zones_dir();
    wait_committed(&zones, "service.local.zone");
    let base = head(&zones).expect("HEAD");

    api.put_ok(
        "/v1/services/valkey",
        r#"{"records":["10.0.0.12"],"ttl":5}"#,
    );
    let after_put = commits_since(&zones, &base);
    assert_eq!(after_put.len(), 1, "one commit for the PUT");
    let c = commit(&zones, &after_put[0]);
    assert_eq!(c.author_name, "controller");
    assert_eq!(c.trailer("Via").as_deref(), Some("rest"));
    assert_eq!(c.trailer("Actor").as_deref(), Some("controller"));
    assert!(
        c.trailer("Client")
            .is_some_and(|v| v.starts_with("127.0.0.1:")),
        "{:?}",
        c.trailers()
    );
    let (old, new) = c.serials().expect("Serial trailer");
    assert!(new > old);
    assert!(c.message.contains("valkey"), "{}", c.message);

    // The same PUT again changes nothing: no commit, no serial bump.
    api.put_ok(
        "/v1/services/valkey",
        r#"{"records":["10.0.0.12"],"ttl":5}"#,
    );
    api.put_ok("/v1/state", &json!({"services": {"valkey": {"records":["10.0.0.12"],"ttl":5}, "mail": {"records":["192.0.2.25"],"ttl":300}}}).to_string());
    let r = api.delete_body("/v1/services/valkey/records", r#"{"records":["10.9.9.9"]}"#);
    assert_eq!(r.status, 200);
    assert_eq!(
        commits_since(&zones, &base).len(),
        1,
        "no-op writes commit nothing"
    );

    // Each further effective write is one more commit.
    api.post(
        "/v1/services/valkey/records",
        r#"{"records":["10.0.0.13"]}"#,
    );
    assert_eq!(api.delete("/v1/services/valkey").status, 204);
    let all = commits_since(&zones, &base);
    assert_eq!(all.len(), 3);
    for id in &all {
        assert_eq!(commit(&zones, id).trailer("Via").as_deref(), Some("rest"));
    }
    // The working tree is clean: what is served is what is committed.
    assert!(common::update::file_status(&zones, "service.local.zone").is_empty());
}

#[test]
fn concurrent_rest_writes_and_updates_all_land() {
    const N: usize = 20;
    let rest = "[rest]\nlisten = \"127.0.0.1:0\"\nzones = [\"example.com\"]\nrate_limit = 0\n\
                [[rest.token]]\nname = \"controller\"\n";
    let config = format!("{}{rest}token = \"{TOKEN}\"\n", update_config());
    let s = TestServer::start(&[(ZONE_FILE, &fixture_zone())], &config);
    let zones = s.zones_dir();
    wait_committed(&zones, ZONE_FILE);
    let base = head(&zones).expect("HEAD");
    let api = Rest::new(&s);
    let port = s.addr.port();

    std::thread::scope(|scope| {
        let updates = scope.spawn(|| {
            let key = acme_py();
            let args = [
                "--key",
                &key,
                "--count",
                "20",
                "--workers",
                "5",
                "--timeout",
                "20",
                "--op",
                "add _acme-challenge 60 TXT \"u-{i}\"",
            ];
            run_bounded(&mut dnsupdate_cmd(port, &args), "", Duration::from_secs(60))
        });
        let writers: Vec<_> = (0..4)
            .map(|w| {
                let api = &api;
                scope.spawn(move || {
                    for i in (w..N).step_by(4) {
                        api.put_ok(
                            &format!("/v1/services/svc{i}"),
                            &format!(r#"{{"records":["10.4.0.{}"]}}"#, i + 1),
                        );
                    }
                })
            })
            .collect();
        for w in writers {
            w.join().expect("writer");
        }
        let o = updates.join().expect("dnsupdate");
        assert!(o.status.success(), "{}", text(&o));
        let lines: Vec<PyResult> = String::from_utf8_lossy(&o.stdout)
            .lines()
            .map(PyResult::parse)
            .collect();
        assert_eq!(lines.len(), N, "{}", text(&o));
        assert!(lines.iter().all(PyResult::is_signed_ok), "{lines:?}");
    });

    // Every REST write is served and listed.
    let list = api.get("/v1/services").body;
    for i in 0..N {
        assert_eq!(
            list["services"][format!("svc{i}")]["records"],
            json!([format!("10.4.0.{}", i + 1)])
        );
        let resp = s.udp(&query(&format!("svc{i}.example.com."), RecordType::A));
        assert_eq!(a_addrs(&resp).len(), 1, "svc{i}");
    }
    // Every UPDATE is served.
    let txt = s.tcp(&query("_acme-challenge.example.com.", RecordType::TXT));
    assert_eq!(txt.answers.len(), N);
    // The commits' serials chain strictly upwards, and both writers appear.
    let ids = commits_since(&zones, &base);
    assert!(!ids.is_empty());
    let mut last = None;
    let mut vias = BTreeSet::new();
    for id in &ids {
        let c = commit(&zones, id);
        let (old, new) = c.serials().expect("Serial trailer");
        assert!(new > old, "{id}: {old} -> {new}");
        if let Some(prev) = last {
            assert_eq!(old, prev, "{id}: the chain is unbroken");
        }
        last = Some(new);
        vias.insert(c.trailer("Via").unwrap_or_default());
    }
    assert_eq!(
        vias,
        BTreeSet::from(["rest".to_string(), "rfc2136".to_string()])
    );
}

#[test]
fn state_survives_a_restart() {
    let (s, api) = start("rate_limit = 0");
    api.put_ok(
        "/v1/services/valkey",
        r#"{"records":["10.0.0.12","10.0.0.13"],"ttl":8}"#,
    );
    let s = s.restart();
    let api2 = Rest::new(&s);
    assert_ne!(api.base, api2.base, "a new REST port after the restart");
    let g = api2.get("/v1/services/valkey");
    assert_eq!(g.status, 200);
    assert_eq!(g.body["records"], json!(["10.0.0.12", "10.0.0.13"]));
    assert_eq!(g.body["ttl"], 8);
    let resp = s.udp(&query("valkey.service.local.", RecordType::A));
    assert_eq!(a_addrs(&resp).len(), 2);
}

#[test]
fn https_with_a_self_signed_certificate() {
    install_crypto();
    let certs = tempfile::tempdir().expect("tempdir");
    let ck = rcgen::generate_simple_self_signed(vec!["localhost".to_string()]).expect("rcgen");
    let cert_pem = ck.cert.pem();
    let cert = certs.path().join("cert.pem");
    let key = certs.path().join("key.pem");
    std::fs::write(&cert, &cert_pem).expect("write");
    std::fs::write(&key, ck.signing_key.serialize_pem()).expect("write");
    let extra = format!(
        "rate_limit = 0\ntls = {{ cert = \"{}\", key = \"{}\" }}",
        cert.display(),
        key.display()
    );
    let zones = [(format!("{ZONE}.zone"), service_zone(ZONE))];
    let s = TestServer::start(&[(&zones[0].0, &zones[0].1)], &rest_config(&[ZONE], &extra));
    let addr = s.rest_addr.expect("REST address");

    let trusting = reqwest::blocking::Client::builder()
        .tls_certs_only([reqwest::Certificate::from_pem(cert_pem.as_bytes()).expect("cert")])
        .resolve("localhost", addr)
        .timeout(Duration::from_secs(20))
        .no_proxy()
        .build()
        .expect("client");
    let url = format!("https://localhost:{}/v1/services/valkey", addr.port());
    let r = trusting
        .put(&url)
        .bearer_auth(TOKEN)
        .body(r#"{"records":["10.0.0.12"]}"#)
        .send()
        .expect("HTTPS PUT");
    assert_eq!(r.status().as_u16(), 200);
    assert_eq!(
        a_addrs(&s.udp(&query("valkey.service.local.", RecordType::A))).len(),
        1
    );
    let g = trusting
        .get(&url)
        .bearer_auth(TOKEN)
        .send()
        .expect("HTTPS GET");
    assert_eq!(g.status().as_u16(), 200);

    // A client that does not trust the certificate gets no answer.
    let other = rcgen::generate_simple_self_signed(vec!["localhost".to_string()]).expect("rcgen");
    let distrusting = reqwest::blocking::Client::builder()
        .tls_certs_only(
            [reqwest::Certificate::from_pem(other.cert.pem().as_bytes()).expect("cert")],
        )
        .resolve("localhost", addr)
        .timeout(Duration::from_secs(20))
        .no_proxy()
        .build()
        .expect("client");
    assert!(distrusting.get(&url).bearer_auth(TOKEN).send().is_err());
    // Nor does plain HTTP on the TLS port.
    let plain = Rest::at(addr);
    let err = plain
        .client
        .get(format!("http://{addr}/v1/services"))
        .bearer_auth(TOKEN)
        .send();
    assert!(err.is_err() || err.is_ok_and(|r| !r.status().is_success()));
}

/// `zonewright serve` itself (main.rs wiring) with `[rest]`: the REST
/// listener comes up, a write is served over DNS, and the audit log line
/// names the client, the token, the name and the values.
#[test]
fn the_binary_serves_rest_and_logs_each_write() {
    use std::net::{Ipv4Addr, SocketAddr, TcpListener, UdpSocket};
    use std::process::{Command, Stdio};
    use std::time::Instant;

    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::create_dir(dir.path().join("zones")).expect("mkdir");
    std::fs::write(
        dir.path().join("zones/service.local.zone"),
        service_zone(ZONE),
    )
    .expect("zone");
    let mut last = String::new();
    for attempt in 0..5 {
        // Free ports now; another process may take them before the server
        // binds, hence the retries.
        let dns_port = UdpSocket::bind((Ipv4Addr::LOCALHOST, 0))
            .expect("udp")
            .local_addr()
            .expect("addr")
            .port();
        let rest_port = TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
            .expect("tcp")
            .local_addr()
            .expect("addr")
            .port();
        let rest_addr = SocketAddr::from((Ipv4Addr::LOCALHOST, rest_port));
        let config = dir.path().join("zonewright.toml");
        std::fs::write(
            &config,
            format!(
                "listen = [\"127.0.0.1:{dns_port}\"]\nzones_dir = \"zones\"\n[server]\nudp_workers = 1\n{}",
                rest_config(&[ZONE], "rate_limit = 0").replace("127.0.0.1:0", &rest_addr.to_string())
            ),
        )
        .expect("config");
        let log = dir.path().join(format!("server-{attempt}.log"));
        let mut child = Command::new(env!("CARGO_BIN_EXE_zonewright"))
            .args(["serve", "--config"])
            .arg(&config)
            .env("RUST_LOG", "info")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log).expect("log"))
            .spawn()
            .expect("spawn");
        let api = Rest::at(rest_addr);
        let deadline = Instant::now() + Duration::from_secs(10);
        let mut ready = false;
        while Instant::now() < deadline {
            if child.try_wait().expect("wait").is_some() {
                break;
            }
            let up = api
                .client
                .get(format!("{}/v1/openapi.json", api.base))
                .send()
                .is_ok_and(|r| r.status().is_success());
            if up {
                ready = true;
                break;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        if !ready {
            let _ = child.kill();
            let _ = child.wait();
            last = std::fs::read_to_string(&log).unwrap_or_default();
            continue;
        }
        api.put_ok(
            "/v1/services/valkey",
            r#"{"records":["10.0.0.12","10.0.0.13"]}"#,
        );
        let dns = SocketAddr::from((Ipv4Addr::LOCALHOST, dns_port));
        let resp = common::update::udp_at(dns, &query("valkey.service.local.", RecordType::A));
        let _ = child.kill();
        let _ = child.wait();
        let resp = resp.expect("DNS answer");
        assert_eq!(a_addrs(&resp).len(), 2);
        let text = std::fs::read_to_string(&log).expect("log");
        let line = text
            .lines()
            .find(|l| l.contains("zonewright::rest::audit"))
            .unwrap_or_else(|| panic!("no audit line in:\n{text}"));
        for want in [
            "client=127.0.0.1:",
            "token=controller",
            "name=\"valkey.service.local\"",
            "10.0.0.12 10.0.0.13",
            "written, serial",
        ] {
            assert!(line.contains(want), "{want:?} not in {line}");
        }
        assert!(!text.contains(TOKEN), "the token must never be logged");
        return;
    }
    panic!("zonewright serve with [rest] did not start: {last}");
}
