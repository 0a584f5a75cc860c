//! Incremental zone transfer (RFC 1995) from the zones' git history, over
//! the real server, checked with our own client, ISC dig and Knot's kdig.

mod common;

use std::net::Ipv4Addr;
use std::path::Path;
use std::process::Command;
use std::time::{SystemTime, UNIX_EPOCH};

use common::*;
use hickory_proto::op::{Message, ResponseCode};
use hickory_proto::rr::rdata::SOA;
use hickory_proto::rr::{Name, RData, Record, RecordType};
use zonewright::git::{self, Identity};
use zonewright::tsig::{self, Algorithm, Context, Key, SignParams};

const FILE: &str = "example.com.zone";

fn me() -> Identity {
    Identity {
        name: "test".into(),
        email: "test@localhost".into(),
    }
}

fn start(extra: &str) -> TestServer {
    let s = TestServer::start(
        &[(FILE, &example_zone(1, "192.0.2.80"))],
        &format!("[[zone]]\nname = \"example.com\"\nallow_transfer = [\"127.0.0.0/8\"]\n{extra}"),
    );
    commit(&s);
    s
}

/// Commits the zone file as it is on disk.
fn commit(s: &TestServer) {
    let repo = git2::Repository::open(s.zones_dir()).unwrap();
    git::commit_file(&repo, &s.zones_dir().join(FILE), &me(), &me(), "test").unwrap();
}

/// Writes and commits version `serial` of the zone (www at `www`, plus
/// `extra` lines), then waits (bounded) until the server serves it.
fn publish(s: &TestServer, serial: u32, www: &str, extra: &str) {
    let text = format!("{}{extra}", example_zone(serial, www));
    write(&s.zones_dir().join(FILE), &text);
    commit(s);
    let (resp, ok) = s.poll_udp("example.com.", RecordType::SOA, |r| {
        soa_serial(r) == Some(serial)
    });
    assert!(ok, "serial {serial} not served within 3 s: {resp:?}");
}

/// An IXFR query carrying the client's SOA (RFC 1995 §3: "the authority
/// section of the IXFR query contains the SOA record of client's version").
fn ixfr_query(zone: &str, serial: u32) -> Message {
    let mut m = query(zone, RecordType::IXFR);
    let name = Name::from_ascii(zone).unwrap();
    let soa = SOA::new(
        Name::from_ascii("ns1.example.com.").unwrap(),
        Name::from_ascii("hostmaster.example.com.").unwrap(),
        serial,
        7200,
        3600,
        1209600,
        300,
    );
    m.add_authority(Record::from_rdata(name, 0, RData::SOA(soa)));
    m
}

/// Sends `q` over TCP and reads the whole answer stream (see
/// [`read_transfer`]).
fn transfer(s: &TestServer, q: &Message) -> (Vec<Record>, ResponseCode) {
    read_transfer(&mut s.tcp_connect(), q)
}

fn www_is(r: &Record, last: u8) -> bool {
    r.name.to_ascii() == "www.example.com."
        && r.data == RData::A(Ipv4Addr::new(192, 0, 2, last).into())
}

#[test]
fn rfc1995_4_ixfr_from_previous_serial_is_incremental() {
    let s = start("");
    publish(&s, 2, "192.0.2.81", "new 60 IN TXT \"added\"\n");
    let (records, rc) = transfer(&s, &ixfr_query("example.com.", 1));
    assert_eq!(rc, ResponseCode::NoError);
    let serials: Vec<Option<u32>> = records.iter().map(serial_of).collect();
    // SOA(2) SOA(1) -www(.80) SOA(2) +www(.81) +new TXT SOA(2)
    assert_eq!(records.len(), 7, "{records:#?}");
    assert_eq!(serials[0], Some(2));
    assert_eq!(serials[1], Some(1));
    assert!(www_is(&records[2], 80), "{records:#?}");
    assert_eq!(serials[3], Some(2));
    let added = &records[4..6];
    assert!(added.iter().any(|r| www_is(r, 81)), "{records:#?}");
    assert!(added.iter().any(|r| r.record_type() == RecordType::TXT
        && r.name.to_ascii() == "new.example.com."
        && r.ttl == 60));
    assert_eq!(serials[6], Some(2));
}

#[test]
fn rfc1995_4_ixfr_over_several_commits_is_condensed() {
    let s = start("");
    publish(&s, 2, "192.0.2.81", "");
    publish(&s, 3, "192.0.2.82", "");
    let (records, _) = transfer(&s, &ixfr_query("example.com.", 1));
    let serials: Vec<Option<u32>> = records.iter().map(serial_of).collect();
    assert_eq!(
        serials,
        vec![Some(3), Some(1), None, Some(3), None, Some(3)]
    );
    assert!(
        www_is(&records[2], 80) && www_is(&records[4], 82),
        "{records:#?}"
    );
    // From 2 as well.
    let (records, _) = transfer(&s, &ixfr_query("example.com.", 2));
    assert!(
        www_is(&records[2], 81) && www_is(&records[4], 82),
        "{records:#?}"
    );
}

#[test]
fn rfc1995_4_unknown_serial_gets_the_whole_zone() {
    let s = start("");
    publish(&s, 2, "192.0.2.81", "");
    // 0 is older than 2 (RFC 1982) but was never committed.
    let (records, rc) = transfer(&s, &ixfr_query("example.com.", 0));
    assert_eq!(rc, ResponseCode::NoError);
    // AXFR form: SOA, every record, SOA.
    assert_eq!(
        records.len(),
        1 + 1 + 2 + 1 + BIG_TXT_COUNT + 1,
        "{records:#?}"
    );
    assert_eq!(serial_of(&records[0]), Some(2));
    assert_eq!(serial_of(&records[records.len() - 1]), Some(2));
    assert_eq!(records.iter().filter(|r| serial_of(r).is_some()).count(), 2);
}

#[test]
fn uncommitted_edit_gets_the_whole_zone() {
    // With commit_external off, an edit on disk stays uncommitted.
    let s = start("[git]\ncommit_external = false\n");
    write(&s.zones_dir().join(FILE), &example_zone(2, "192.0.2.81"));
    let (resp, ok) = s.poll_udp("example.com.", RecordType::SOA, |r| {
        soa_serial(r) == Some(2)
    });
    assert!(ok, "{resp:?}");
    let (records, _) = transfer(&s, &ixfr_query("example.com.", 1));
    assert_eq!(
        records.len(),
        1 + 1 + 2 + 1 + BIG_TXT_COUNT + 1,
        "{records:#?}"
    );
}

#[test]
fn external_edit_is_committed_on_reload_and_becomes_ixfr_able() {
    let s = start("");
    write(&s.zones_dir().join(FILE), &example_zone(2, "192.0.2.81"));
    let (resp, ok) = s.poll_udp("example.com.", RecordType::SOA, |r| {
        soa_serial(r) == Some(2)
    });
    assert!(ok, "{resp:?}");
    // The commit follows the reload on the same thread: poll, bounded.
    let mut last = Vec::new();
    for _ in 0..60 {
        let (records, _) = transfer(&s, &ixfr_query("example.com.", 1));
        if records.len() == 6 {
            // SOA 2, SOA 1, old www, SOA 2, new www, SOA 2.
            assert_eq!(serial_of(&records[0]), Some(2));
            assert_eq!(serial_of(&records[1]), Some(1));
            let repo = git2::Repository::open(s.zones_dir()).unwrap();
            let head = repo.head().unwrap().peel_to_commit().unwrap();
            let msg = head.message().unwrap_or_default().to_owned();
            assert!(msg.contains("external change"), "{msg}");
            return;
        }
        last = records;
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    panic!("no incremental transfer after the external edit: {last:#?}");
}

#[test]
fn rfc1995_2_current_or_newer_serial_gets_one_soa() {
    let s = start("");
    publish(&s, 2, "192.0.2.81", "");
    for serial in [2, 3] {
        let (records, rc) = transfer(&s, &ixfr_query("example.com.", serial));
        assert_eq!(rc, ResponseCode::NoError);
        assert_eq!(records.len(), 1, "{records:#?}");
        assert_eq!(serial_of(&records[0]), Some(2));
    }
}

#[test]
fn rfc5936_5_ixfr_outside_allow_transfer_is_refused() {
    let s = TestServer::start(
        &[(FILE, &example_zone(1, "192.0.2.80"))],
        "[[zone]]\nname = \"example.com\"\nallow_transfer = [\"192.0.2.0/24\"]\n",
    );
    commit(&s);
    publish(&s, 2, "192.0.2.81", "");
    let (records, rc) = transfer(&s, &ixfr_query("example.com.", 1));
    assert_eq!(rc, ResponseCode::Refused);
    assert!(records.is_empty());
}

#[test]
fn rfc1995_2_ixfr_over_udp_still_gets_one_soa() {
    let s = start("");
    publish(&s, 2, "192.0.2.81", "");
    let resp = s.udp(&ixfr_query("example.com.", 1));
    assert_eq!(resp.answers.len(), 1);
    assert_eq!(soa_serial(&resp), Some(2));
}

// ---- a write through the store (signed UPDATE) is IXFR-able at once ----

const SECRET_B64: &str = "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=";

fn acme_update(token: &str) -> Vec<u8> {
    let mut m = vec![0x51, 0x52, 0x28, 0, 0, 1, 0, 0, 0, 1, 0, 0];
    m.extend_from_slice(b"\x07example\x03com\x00\x00\x06\x00\x01");
    m.extend_from_slice(b"\x0f_acme-challenge\xc0\x0c\x00\x10\x00\x01\x00\x00\x00\x3c");
    m.extend_from_slice(&((token.len() + 1) as u16).to_be_bytes());
    m.push(token.len() as u8);
    m.extend_from_slice(token.as_bytes());
    let key = Key::new(
        Name::from_ascii("acme-key.").unwrap(),
        Algorithm::HmacSha256,
        (0u8..32).collect(),
    );
    let time = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let p = SignParams {
        time,
        fudge: 300,
        error: 0,
        other: &[],
    };
    tsig::sign(&mut m, &key, Context::Request, p);
    m
}

#[test]
fn rfc1995_4_signed_update_is_served_incrementally() {
    let s = start(&format!(
        "[[key]]\nname = \"acme-key\"\nalgorithm = \"hmac-sha256\"\nsecret = \"{SECRET_B64}\"\n\
         grant = [ {{ zone = \"example.com\", names = [\"_acme-challenge\"], types = [\"TXT\"] }} ]\n"
    ));
    let resp = Message::from_vec(&s.udp_raw(&acme_update("token-1")).expect("an answer")).unwrap();
    assert_eq!(rcode(&resp), ResponseCode::NoError);
    let (soa, _) = s.poll_udp("example.com.", RecordType::SOA, |r| {
        soa_serial(r) != Some(1)
    });
    let new = soa_serial(&soa).expect("serial");
    let (records, _) = transfer(&s, &ixfr_query("example.com.", 1));
    let serials: Vec<Option<u32>> = records.iter().map(serial_of).collect();
    assert_eq!(
        serials,
        vec![Some(new), Some(1), Some(new), None, Some(new)],
        "{records:#?}"
    );
    assert_eq!(records[3].name.to_ascii(), "_acme-challenge.example.com.");
}

// ---- cross-checks with dig and kdig ----

fn tool(path: &str) -> Option<&str> {
    if Path::new(path).exists() {
        Some(path)
    } else {
        eprintln!("{path} not installed; skipping");
        None
    }
}

fn run(bin: &str, args: &[String]) -> String {
    let o = Command::new(bin).args(args).output().unwrap();
    let out = String::from_utf8_lossy(&o.stdout).into_owned();
    assert!(
        o.status.success(),
        "{bin} {args:?} failed: {out}{}",
        String::from_utf8_lossy(&o.stderr)
    );
    out
}

/// The answer lines (`name ttl class type data`) of dig or kdig output.
fn record_lines(out: &str) -> Vec<String> {
    out.lines()
        .filter(|l| !l.starts_with(';') && !l.trim().is_empty())
        .map(|l| l.split_whitespace().collect::<Vec<_>>().join(" "))
        .collect()
}

fn check_tool_output(out: &str) {
    let lines = record_lines(out);
    assert_eq!(lines.len(), 7, "{out}");
    let soa =
        |l: &String, serial: u32| l.contains(" SOA ") && l.contains(&format!(" {serial} 7200 "));
    assert!(soa(&lines[0], 2), "{out}");
    assert!(soa(&lines[1], 1), "{out}");
    assert!(
        lines[2].starts_with("www.example.com.") && lines[2].ends_with("192.0.2.80"),
        "{out}"
    );
    assert!(soa(&lines[3], 2), "{out}");
    assert!(
        lines[4..6].iter().any(|l| l.ends_with("192.0.2.81")),
        "{out}"
    );
    assert!(lines[4..6].iter().any(|l| l.contains("\"added\"")), "{out}");
    assert!(soa(&lines[6], 2), "{out}");
}

#[test]
fn dig_and_kdig_print_the_incremental_transfer() {
    let s = start("");
    publish(&s, 2, "192.0.2.81", "new 60 IN TXT \"added\"\n");
    let port = s.addr.port().to_string();
    if let Some(dig) = tool("/usr/bin/dig") {
        let args: Vec<String> = ["@127.0.0.1", "-p", &port, "example.com", "IXFR=1"]
            .iter()
            .map(ToString::to_string)
            .chain(["+time=3", "+tries=1"].map(String::from))
            .collect();
        check_tool_output(&run(dig, &args));
    }
    if let Some(kdig) = tool("/usr/bin/kdig") {
        let args: Vec<String> = [
            "@127.0.0.1",
            "-p",
            &port,
            "example.com",
            "IXFR=1",
            "+time=3",
            "+retry=0",
        ]
        .iter()
        .map(ToString::to_string)
        .collect();
        check_tool_output(&run(kdig, &args));
    }
}

/// RFC 8945 §5.3.1: every message of a signed transfer is signed; dig and
/// kdig verify each one and fail the transfer otherwise.
#[test]
fn signed_ixfr_verifies_in_dig_and_kdig() {
    let s = start(&format!(
        "[[key]]\nname = \"acme-key\"\nalgorithm = \"hmac-sha256\"\nsecret = \"{SECRET_B64}\"\n\
         grant = [ {{ zone = \"example.com\", names = [\"_acme-challenge\"], types = [\"TXT\"] }} ]\n"
    ));
    publish(&s, 2, "192.0.2.81", "new 60 IN TXT \"added\"\n");
    let port = s.addr.port().to_string();
    let key = format!("hmac-sha256:acme-key:{SECRET_B64}");
    for (bin, extra) in [("/usr/bin/dig", "+tries=1"), ("/usr/bin/kdig", "+retry=0")] {
        let Some(bin) = tool(bin) else {
            continue;
        };
        let args: Vec<String> = [
            "@127.0.0.1",
            "-p",
            &port,
            "-y",
            &key,
            "example.com",
            "IXFR=1",
            "+time=3",
            extra,
        ]
        .iter()
        .map(ToString::to_string)
        .collect();
        let out = run(bin, &args);
        let lines: Vec<String> = record_lines(&out)
            .into_iter()
            .filter(|l| !l.contains(" TSIG "))
            .collect();
        check_tool_output(&lines.join("\n"));
    }
}

/// A difference too large for one message is framed over several, each
/// signed (RFC 8945 §5.3.1) and each within 65535 octets; kdig and dig
/// verify the whole stream.
#[test]
fn large_signed_ixfr_spans_several_messages() {
    let s = start(&format!(
        "[[key]]\nname = \"acme-key\"\nalgorithm = \"hmac-sha256\"\nsecret = \"{SECRET_B64}\"\n\
         grant = [ {{ zone = \"example.com\", names = [\"_acme-challenge\"], types = [\"TXT\"] }} ]\n"
    ));
    let lines = |tag: &str, n: usize| -> String {
        (0..n)
            .map(|i| format!("bulk{i} IN TXT \"{tag}-{i:04}-{}\"\n", "y".repeat(200)))
            .collect()
    };
    publish(&s, 2, "192.0.2.80", &lines("old", 2000));
    // Half of the bulk records change: 1000 deleted, 1000 added.
    let mut next = lines("new", 1000);
    next.push_str(
        &lines("old", 2000)
            .lines()
            .skip(1000)
            .map(|l| format!("{l}\n"))
            .collect::<String>(),
    );
    publish(&s, 3, "192.0.2.80", &next);
    let port = s.addr.port().to_string();
    let key = format!("hmac-sha256:acme-key:{SECRET_B64}");
    for (bin, extra) in [("/usr/bin/dig", "+tries=1"), ("/usr/bin/kdig", "+retry=0")] {
        let Some(bin) = tool(bin) else {
            continue;
        };
        let args: Vec<String> = [
            "@127.0.0.1",
            "-p",
            &port,
            "-y",
            &key,
            "example.com",
            "IXFR=2",
            "+time=5",
            extra,
        ]
        .iter()
        .map(ToString::to_string)
        .collect();
        let out = run(bin, &args);
        let records: Vec<String> = record_lines(&out)
            .into_iter()
            .filter(|l| !l.contains(" TSIG "))
            .collect();
        assert_eq!(
            records.len(),
            4 + 2000,
            "{bin}: {}",
            &out[out.len().saturating_sub(600)..]
        );
        let tsigs = record_lines(&out)
            .iter()
            .filter(|l| l.contains(" TSIG "))
            .count();
        assert!(tsigs > 1, "{bin}: one TSIG per message, {tsigs} seen");
        assert!(records[0].contains(" 3 7200 ") && records[1].contains(" 2 7200 "));
        assert!(records.last().is_some_and(|l| l.contains(" 3 7200 ")));
    }
}
