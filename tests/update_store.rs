//! What an UPDATE does to the zone file and its git history: the commit's
//! author, summary and trailers, a minimal diff, the CalVer serial, no-op
//! UPDATEs, prerequisites, the delete patterns ACME clients use, 50
//! concurrent UPDATEs, and an operator editing the file meanwhile.

mod common;

use std::io::Write;
use std::net::Ipv4Addr;
use std::process::Stdio;
use std::time::{Duration, Instant};

use hickory_proto::rr::RecordType;

use common::update::*;
use common::*;

const ADD_TOKEN1: &str = "add _acme-challenge 60 TXT \"token-1\"";
const ADD_TOKEN2: &str = "add _acme-challenge 60 TXT \"token-2\"";

#[test]
fn commit_author_summary_body_and_trailers() {
    let s = start();
    let zones = s.zones_dir();
    let base = head(&zones).unwrap();
    let expected = calver_next(OLD_SERIAL);

    py_ok(s.addr.port(), &[ADD_TOKEN1]);

    let new = served_serial(s.addr);
    assert!(
        expected.contains(&new),
        "serial {new}, want one of {expected:?}"
    );
    assert_eq!(commits_since(&zones, &base).len(), 1);
    let c = commit(&zones, "HEAD");
    assert_eq!(c.author_name, ACME, "{c:?}");
    assert_eq!(
        (c.committer_name.as_str(), c.committer_email.as_str()),
        ("zonewright", "zonewright@test"),
        "{c:?}"
    );
    assert!(c.subject.starts_with("example.com: +1 -0 TXT"), "{c:?}");
    assert!(c.subject.contains("_acme-challenge.example.com"), "{c:?}");
    assert!(c.subject.contains(&format!("serial {new}")), "{c:?}");
    // The body lists the record added.
    let body = c.message.strip_prefix(&c.subject).unwrap_or(&c.message);
    assert!(
        body.lines()
            .any(|l| l.contains("_acme-challenge.example.com")
                && l.contains("TXT")
                && l.contains("token-1")),
        "body does not list the record: {c:?}"
    );
    assert_eq!(c.trailer("Actor").as_deref(), Some(ACME), "{c:?}");
    assert_eq!(c.trailer("Via").as_deref(), Some("rfc2136"), "{c:?}");
    let client = c.trailer("Client").unwrap_or_default();
    let port = client
        .strip_prefix("127.0.0.1:")
        .and_then(|p| p.parse::<u16>().ok());
    assert!(port.is_some_and(|p| p != 0), "Client: {client:?} in {c:?}");
    assert_eq!(c.serials(), Some((OLD_SERIAL, new)), "{c:?}");
    // The file on disk is what was committed.
    assert!(file_status(&zones, ZONE_FILE).is_empty());

    // The next UPDATE the same day steps the serial by one.
    py_ok(s.addr.port(), &[ADD_TOKEN2]);
    let next = served_serial(s.addr);
    assert!(calver_next(new).contains(&next), "{new} -> {next}");
    let c2 = commit(&zones, "HEAD");
    assert_eq!(c2.serials(), Some((new, next)), "{c2:?}");
    assert!(c2.subject.contains(&format!("serial {next}")), "{c2:?}");
    assert_eq!(commits_since(&zones, &base).len(), 2);
}

#[test]
fn diff_touches_only_the_record_and_the_serial() {
    let s = start();
    let zones = s.zones_dir();
    let original = fixture_zone();

    py_ok(s.addr.port(), &[ADD_TOKEN1]);
    let new = served_serial(s.addr);

    let (removed, added) = diff_lines(&zones, "HEAD", ZONE_FILE);
    assert_eq!(removed.len(), 1, "removed {removed:?}, added {added:?}");
    assert!(removed[0].contains(&OLD_SERIAL.to_string()), "{removed:?}");
    assert_eq!(added.len(), 2, "removed {removed:?}, added {added:?}");
    let serial_line = added.iter().find(|l| l.contains(&new.to_string()));
    let txt_line = added.iter().find(|l| l.contains("token-1"));
    assert!(serial_line.is_some() && txt_line.is_some(), "{added:?}");
    let txt_line = txt_line.unwrap();
    assert!(
        txt_line.contains("_acme-challenge") && txt_line.contains("TXT"),
        "{txt_line:?}"
    );
    // The serial line keeps its layout: only the number differs.
    assert_eq!(
        serial_line
            .unwrap()
            .replace(&new.to_string(), &OLD_SERIAL.to_string()),
        removed[0]
    );

    // Everything else is byte for byte the hand-written file.
    let now = zone_text(&zones);
    let without_txt: String = now
        .split_inclusive('\n')
        .filter(|l| !l.contains("token-1"))
        .collect();
    assert_eq!(
        without_txt.replacen(&new.to_string(), &OLD_SERIAL.to_string(), 1),
        original
    );

    // Deleting it again restores the original apart from the serial.
    py_ok(s.addr.port(), &["delete _acme-challenge TXT \"token-1\""]);
    let newer = served_serial(s.addr);
    let (removed, added) = diff_lines(&zones, "HEAD", ZONE_FILE);
    assert_eq!(removed.len(), 2, "{removed:?} {added:?}");
    assert_eq!(added.len(), 1, "{removed:?} {added:?}");
    assert!(added[0].contains(&newer.to_string()), "{added:?}");
    assert_eq!(
        zone_text(&zones).replacen(&newer.to_string(), &OLD_SERIAL.to_string(), 1),
        original
    );
}

/// RFC 2136 §3.4.2: an UPDATE that changes nothing answers NOERROR and the
/// store writes, bumps and commits nothing.
#[test]
fn noop_update_writes_nothing() {
    let s = start();
    let zones = s.zones_dir();
    let port = s.addr.port();
    py_ok(port, &[ADD_TOKEN1]);
    let serial = served_serial(s.addr);
    // Let the mtime be distinguishable from a rewrite.
    std::thread::sleep(Duration::from_millis(20));
    let before = written(&zones);
    for (what, ops) in [
        ("add an existing record", &[ADD_TOKEN1][..]),
        (
            "delete a missing value",
            &["delete _acme-challenge TXT \"nope\""],
        ),
        (
            "delete a missing RRset",
            &["delete _acme-challenge.sub TXT"],
        ),
        (
            "add and delete the same record",
            &[
                "add _acme-challenge 60 TXT \"gone\"",
                "delete _acme-challenge TXT \"gone\"",
            ],
        ),
    ] {
        for tcp in [false, true] {
            let r = py_update(port, &acme_py(), tcp, ops);
            assert!(r.is_signed_ok(), "{what}: {r:?}");
            assert_nothing_written(&before, &zones, what);
            assert_eq!(served_serial(s.addr), serial, "{what}");
        }
    }
    assert_eq!(served_txt(s.addr, ACME_NAME), ["token-1"]);
}

/// RFC 2136 §3.2: failed prerequisites answer their rcode and change nothing.
#[test]
fn failed_prerequisites_change_nothing() {
    let s = start();
    let zones = s.zones_dir();
    let port = s.addr.port();
    py_ok(port, &[ADD_TOKEN1]);
    let serial = served_serial(s.addr);
    let before = written(&zones);
    for (ops, want) in [
        // nxrrset, but the RRset exists.
        (&["absent _acme-challenge TXT", ADD_TOKEN2][..], "YXRRSET"),
        // nxdomain, but the name exists.
        (&["absent _acme-challenge", ADD_TOKEN2], "YXDOMAIN"),
        // yxdomain, but the name does not exist.
        (&["present _acme-challenge.sub", ADD_TOKEN2], "NXDOMAIN"),
        // yxrrset, but no such RRset.
        (&["present _acme-challenge A", ADD_TOKEN2], "NXRRSET"),
        // yxrrset with a value that is not there.
        (
            &["present _acme-challenge TXT \"token-9\"", ADD_TOKEN2],
            "NXRRSET",
        ),
    ] {
        let r = py_update(port, &acme_py(), false, ops);
        assert_eq!(
            (r.rcode.as_str(), r.tsig.as_str()),
            (want, "valid"),
            "{ops:?}: {r:?}"
        );
        assert_nothing_written(&before, &zones, &format!("{ops:?}"));
    }
    assert_eq!(served_serial(s.addr), serial);
    assert_eq!(served_txt(s.addr, ACME_NAME), ["token-1"]);

    // Prerequisites that hold let the update through.
    py_ok(
        port,
        &[
            "present _acme-challenge TXT",
            "absent _acme-challenge.sub",
            ADD_TOKEN2,
        ],
    );
    assert_eq!(served_txt(s.addr, ACME_NAME), ["token-1", "token-2"]);
}

/// certbot: add two values, delete each with class NONE. lego: delete the
/// RRset and add in one UPDATE. A name below _acme-challenge works too.
#[test]
fn acme_client_patterns() {
    let s = start();
    let zones = s.zones_dir();
    let port = s.addr.port();
    let base = head(&zones).unwrap();

    py_ok(port, &[ADD_TOKEN1]);
    py_ok(port, &[ADD_TOKEN2]);
    assert_eq!(served_txt(s.addr, ACME_NAME), ["token-1", "token-2"]);
    assert_eq!(
        dig_short(port, ACME_NAME, "TXT", false),
        ["\"token-1\"", "\"token-2\""]
    );
    let file = zone_text(&zones);
    assert!(
        file.contains("\"token-1\"") && file.contains("\"token-2\""),
        "{file}"
    );

    py_ok(port, &["delete _acme-challenge TXT \"token-1\""]);
    assert_eq!(served_txt(s.addr, ACME_NAME), ["token-2"]);
    assert!(!zone_text(&zones).contains("token-1"));
    py_ok(port, &["delete _acme-challenge TXT \"token-2\""]);
    assert!(served_txt(s.addr, ACME_NAME).is_empty());

    // lego: delete the RRset, then add, in one message.
    py_ok(port, &[ADD_TOKEN1]);
    py_ok(
        port,
        &[
            "delete _acme-challenge TXT",
            "add _acme-challenge 120 TXT \"lego-1\"",
        ],
    );
    assert_eq!(served_txt(s.addr, ACME_NAME), ["lego-1"]);
    let file = zone_text(&zones);
    assert!(
        !file.contains("token-1") && file.contains("lego-1"),
        "{file}"
    );
    py_ok(port, &["delete _acme-challenge TXT"]);
    assert!(served_txt(s.addr, ACME_NAME).is_empty());

    // The challenge name of a subdomain (_acme-challenge.**).
    py_ok(port, &["add _acme-challenge.www 60 TXT \"deep\""]);
    assert_eq!(
        served_txt(s.addr, "_acme-challenge.www.example.com."),
        ["deep"]
    );
    py_ok(port, &["delete _acme-challenge.www TXT \"deep\""]);
    assert!(served_txt(s.addr, "_acme-challenge.www.example.com.").is_empty());

    assert_eq!(commits_since(&zones, &base).len(), 9);
    // Back to the hand-written file, but for the serial.
    let serial = served_serial(s.addr);
    assert_eq!(
        zone_text(&zones).replacen(&serial.to_string(), &OLD_SERIAL.to_string(), 1),
        fixture_zone()
    );
}

/// 50 UPDATEs at once (25 over UDP, 25 over TCP, from 50 threads): all
/// answered NOERROR, all served and in the file; every commit's file
/// parses and the serials chain strictly upwards.
#[test]
fn fifty_concurrent_updates() {
    let s = start();
    let zones = s.zones_dir();
    let port = s.addr.port();
    let base = head(&zones).unwrap();
    let key = acme_py();
    let spawn = |transport: &str| {
        let mut args = vec![
            "--key".to_string(),
            key.clone(),
            "--count".into(),
            "25".into(),
            "--workers".into(),
            "25".into(),
            "--timeout".into(),
            "20".into(),
            "--op".into(),
            format!("add _acme-challenge 60 TXT \"{transport}-{{i}}\""),
        ];
        if transport == "tcp" {
            args.push("--tcp".into());
        }
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let mut cmd = dnsupdate_cmd(port, &args);
        std::thread::spawn(move || run_bounded(&mut cmd, "", Duration::from_secs(40)))
    };
    let (udp, tcp) = (spawn("udp"), spawn("tcp"));
    let mut want = Vec::new();
    for (transport, h) in [("udp", udp), ("tcp", tcp)] {
        let o = h.join().unwrap();
        assert!(o.status.success(), "{}", text(&o));
        let lines: Vec<PyResult> = String::from_utf8_lossy(&o.stdout)
            .lines()
            .map(PyResult::parse)
            .collect();
        assert_eq!(lines.len(), 25, "{}", text(&o));
        for r in &lines {
            assert!(r.is_signed_ok(), "{transport}: {r:?}");
        }
        want.extend((0..25).map(|i| format!("{transport}-{i}")));
    }
    want.sort();

    assert_eq!(served_txt(s.addr, ACME_NAME), want);
    let file = zone_text(&zones);
    for v in &want {
        assert_eq!(
            file.matches(&format!("\"{v}\"")).count(),
            1,
            "{v} in\n{file}"
        );
    }
    let final_serial = served_serial(s.addr);
    assert_eq!(zone_check(&zone_path(&s)), Ok(final_serial));
    assert!(file_status(&zones, ZONE_FILE).is_empty());

    // The history: between 1 and 50 commits adding 50 records in all; each
    // commit's serial follows the one before and its file parses.
    let scratch = tempfile::tempdir().unwrap();
    let commits = commits_since(&zones, &base);
    assert!(
        (1..=50).contains(&commits.len()),
        "{} commits",
        commits.len()
    );
    let mut prev = OLD_SERIAL;
    let mut added = 0;
    for id in &commits {
        let c = commit(&zones, id);
        let (old, new) = c
            .serials()
            .unwrap_or_else(|| panic!("no Serial trailer: {c:?}"));
        assert_eq!(old, prev, "{c:?}");
        assert!(new > old, "{c:?}");
        assert_eq!(zone_check_at(&zones, id, scratch.path()), Ok(new), "{c:?}");
        let counts = c
            .subject
            .strip_prefix("example.com: +")
            .and_then(|r| r.split_once(' '))
            .and_then(|(n, rest)| Some((n.parse::<usize>().ok()?, rest)));
        let Some((n, rest)) = counts else {
            panic!("summary shape: {c:?}")
        };
        assert!(rest.starts_with("-0 TXT"), "{c:?}");
        added += n;
        prev = new;
    }
    assert_eq!(prev, final_serial);
    assert_eq!(added, 50);
}

fn append_line(s: &TestServer, line: &str) {
    let mut f = std::fs::OpenOptions::new()
        .append(true)
        .open(zone_path(s))
        .unwrap();
    f.write_all(line.as_bytes()).unwrap();
}

/// The operator's lines and the UPDATEs' values are each in the file once
/// and served; the file parses; the hand-written part is intact.
fn assert_everyones_edits(s: &TestServer, ops: std::ops::RangeInclusive<u8>, values: &[String]) {
    let file = zone_text(&s.zones_dir());
    let mut lost = Vec::new();
    for r in ops {
        let line = format!("op-{r} IN A 192.0.2.{}\n", 100 + r);
        if file.matches(&line).count() != 1 {
            lost.push(format!("op-{r}"));
        }
        let resp = s.udp(&query(&format!("op-{r}.example.com."), RecordType::A));
        if a_addrs(&resp) != [Ipv4Addr::new(192, 0, 2, 100 + r)] {
            lost.push(format!("op-{r} (served)"));
        }
    }
    for v in values {
        if file.matches(&format!("\"{v}\"")).count() != 1 {
            lost.push(v.clone());
        }
    }
    assert!(lost.is_empty(), "lost {lost:?}; the file:\n{file}");
    let mut want = values.to_vec();
    want.sort();
    assert_eq!(served_txt(s.addr, ACME_NAME), want);
    assert_eq!(zone_check(&zone_path(s)), Ok(served_serial(s.addr)));
    assert!(file_status(&s.zones_dir(), ZONE_FILE).is_empty());
    assert!(
        file.starts_with("; example.com: written by hand."),
        "{file}"
    );
    assert!(
        file.contains("www     IN  A   192.0.2.80   ; the web server\n"),
        "{file}"
    );
}

/// An operator appends a record (as `echo >> file` would) right before an
/// UPDATE: whoever sees it first (the store's recheck or the watcher), the
/// UPDATE's write keeps it.
#[test]
fn operator_edit_right_before_an_update_is_kept() {
    let s = start();
    let port = s.addr.port();
    let mut values = Vec::new();
    for r in 0..3u8 {
        append_line(&s, &format!("op-{r} IN A 192.0.2.{}\n", 100 + r));
        py_ok(port, &[&format!("add _acme-challenge 60 TXT \"u-{r}\"")]);
        values.push(format!("u-{r}"));
    }
    assert_everyones_edits(&s, 0..=2, &values);
}

/// An operator appends records while UPDATEs are being written (20 from 2
/// threads, 5 appends in between): nobody's edit is lost.
#[test]
fn operator_edit_while_updates_run_is_kept() {
    let s = start();
    let port = s.addr.port();
    let mut child = dnsupdate_cmd(
        port,
        &[
            "--key",
            &acme_py(),
            "--count",
            "20",
            "--workers",
            "2",
            "--timeout",
            "10",
            "--op",
            "add _acme-challenge 60 TXT \"u-{i}\"",
        ],
    )
    .stdout(Stdio::piped())
    .stderr(Stdio::inherit())
    .spawn()
    .unwrap();
    let rx = line_channel(&mut child);
    let mut results = Vec::new();
    let mut appended = 0u8;
    let deadline = Instant::now() + Duration::from_secs(40);
    while results.len() < 20 && Instant::now() < deadline {
        if let Ok(line) = rx.recv_timeout(Duration::from_millis(200)) {
            results.push(PyResult::parse(&line));
            // After the 2nd, 5th, ... answer: more are in flight.
            if appended < 5 && results.len() % 3 == 2 {
                appended += 1;
                append_line(
                    &s,
                    &format!("op-{appended} IN A 192.0.2.{}\n", 100 + appended),
                );
            }
        }
    }
    let _ = child.kill();
    let _ = child.wait();
    assert_eq!(results.len(), 20, "{results:?}");
    assert!(results.iter().all(PyResult::is_signed_ok), "{results:?}");
    assert_eq!(appended, 5);

    // One more UPDATE after the last append, so the store saw them all.
    py_ok(port, &["add _acme-challenge 60 TXT \"u-last\""]);
    let mut values: Vec<String> = (0..20).map(|i| format!("u-{i}")).collect();
    values.push("u-last".into());
    assert_everyones_edits(&s, 1..=5, &values);
}
