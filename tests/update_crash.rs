//! The binary as a separate process: start-up commits of files changed
//! while it was down, and kill -9 in the middle of UPDATEs (every zone
//! file parses afterwards, every acknowledged UPDATE is there).

mod common;

use std::collections::BTreeSet;
use std::path::Path;
use std::process::Stdio;
use std::time::{Duration, Instant};

use hickory_proto::rr::RecordType;

use common::update::*;
use common::*;

/// A scratch directory with zones/example.com.zone from the fixture.
fn scratch(with_git: bool) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let zones = dir.path().join("zones");
    std::fs::create_dir(&zones).unwrap();
    std::fs::write(zones.join(ZONE_FILE), fixture_zone()).unwrap();
    if with_git {
        git(&zones, &["init", "-q"]);
        git_commit_all(&zones, "fixture");
    }
    dir
}

/// Waits up to 10 s for HEAD's message to contain `needle`.
fn wait_head_message(zones: &Path, needle: &str) -> Commit {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        if head(zones).is_some() {
            let c = commit(zones, "HEAD");
            if c.message.contains(needle) {
                return c;
            }
            if Instant::now() >= deadline {
                panic!("HEAD never mentioned {needle:?}: {c:?}");
            }
        } else if Instant::now() >= deadline {
            panic!("no HEAD in {zones:?}");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// A zones dir that is no git repository yet: the server makes it one and
/// commits the zone file as it is.
#[test]
fn startup_initialises_the_repository() {
    let dir = scratch(false);
    let zones = dir.path().join("zones");
    let p = Proc::start(dir.path());
    wait_committed(&zones, ZONE_FILE);
    assert_eq!(
        git(&zones, &["show", &format!("HEAD:{ZONE_FILE}")]),
        fixture_zone(),
        "{}",
        p.log_text()
    );
    // The zone file is tracked; the store's lock and temp files are not.
    let tracked = git(&zones, &["ls-files"]);
    assert!(tracked.lines().any(|l| l == ZONE_FILE), "{tracked}");
    assert!(
        tracked
            .lines()
            .all(|l| !l.ends_with(".lock") && !l.ends_with(".tmp")),
        "{tracked}"
    );
}

/// A file changed while the server was down is committed at start-up as
/// an "external change", touching only that file.
#[test]
fn startup_commits_uncommitted_changes_as_external_change() {
    let dir = scratch(true);
    let zones = dir.path().join("zones");
    let fixture_head = head(&zones).unwrap();
    let mut text = fixture_zone();
    text.push_str("ops IN A 192.0.2.55\n");
    std::fs::write(zones.join(ZONE_FILE), &text).unwrap();
    // An unrelated untracked file is left alone.
    std::fs::write(zones.join("NOTES.txt"), "not a zone\n").unwrap();

    let p = Proc::start(dir.path());
    let c = wait_head_message(&zones, "external change");
    assert_eq!(
        commits_since(&zones, &fixture_head),
        std::slice::from_ref(&c.id),
        "{}",
        p.log_text()
    );
    assert_eq!(
        git(&zones, &["show", "--name-only", "--format=", "HEAD"]).trim(),
        ZONE_FILE
    );
    // The edit kept HEAD's serial: raised ([serial] external = "raise"),
    // so secondaries fetch it; the rest is the text as edited.
    assert!(c.subject.contains("(raised by zonewright)"), "{c:?}");
    let committed = git(&zones, &["show", &format!("HEAD:{ZONE_FILE}")]);
    let but_serial = |t: &str| -> Vec<String> {
        t.lines()
            .filter(|l| !l.contains("; serial"))
            .map(str::to_string)
            .collect()
    };
    assert_eq!(but_serial(&committed), but_serial(&text));
    assert!(!committed.contains("2024010101"), "{committed}");
    assert_eq!(
        std::fs::read_to_string(zones.join(ZONE_FILE)).unwrap(),
        committed
    );
    assert!(file_status(&zones, ZONE_FILE).is_empty());
    assert_eq!(
        git(&zones, &["status", "--porcelain", "--", "NOTES.txt"]).trim(),
        "?? NOTES.txt"
    );
    let resp = udp_at(p.addr, &query("ops.example.com.", RecordType::A)).expect("answer");
    assert_eq!(a_addrs(&resp), [std::net::Ipv4Addr::new(192, 0, 2, 55)]);

    // A clean restart commits nothing more.
    drop(p);
    let head_before = head(&zones);
    let p = Proc::start(dir.path());
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(head(&zones), head_before, "{}", p.log_text());
}

/// kill -9 while UPDATEs are being answered, then restart: every zone file
/// parses, every UPDATE answered NOERROR is in the file and served, git
/// is usable and catches up.
#[test]
fn kill_9_during_updates_then_restart() {
    let dir = scratch(false);
    let zones = dir.path().join("zones");
    let mut p = Proc::start(dir.path());
    wait_committed(&zones, ZONE_FILE);

    // 400 UPDATEs over TCP from 4 threads; each answer printed as it comes.
    let mut client = dnsupdate_cmd(
        p.port(),
        &[
            "--key",
            &acme_py(),
            "--tcp",
            "--count",
            "400",
            "--workers",
            "4",
            "--timeout",
            "2",
            "--op",
            "add _acme-challenge 60 TXT \"k-{i}\"",
        ],
    )
    .stdout(Stdio::piped())
    .stderr(Stdio::inherit())
    .spawn()
    .unwrap();
    let rx = line_channel(&mut client);
    let mut results = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(20);
    while results
        .iter()
        .filter(|r: &&PyResult| r.rcode == "NOERROR")
        .count()
        < 20
    {
        assert!(
            Instant::now() < deadline,
            "too slow: {results:?}\n{}",
            p.log_text()
        );
        if let Ok(line) = rx.recv_timeout(Duration::from_millis(100)) {
            results.push(PyResult::parse(&line));
        }
    }
    p.kill9();

    // The rest fail fast (connection refused or closed); bounded anyway.
    let deadline = Instant::now() + Duration::from_secs(20);
    while results.len() < 400 && Instant::now() < deadline {
        if let Ok(line) = rx.recv_timeout(Duration::from_millis(100)) {
            results.push(PyResult::parse(&line));
        }
    }
    let _ = client.kill();
    let _ = client.wait();
    assert_eq!(results.len(), 400, "client did not finish");
    let acked: BTreeSet<String> = results
        .iter()
        .filter(|r| r.rcode == "NOERROR")
        .map(|r| format!("k-{}", r.i))
        .collect();
    for r in &results {
        assert!(
            r.rcode == "NOERROR" || r.rcode.starts_with("ERROR:") || r.rcode == "TIMEOUT",
            "{r:?}"
        );
        if r.rcode == "NOERROR" {
            assert!(r.is_signed_ok(), "{r:?}");
        }
    }
    assert!(
        acked.len() >= 20 && acked.len() < 400,
        "{} acked",
        acked.len()
    );
    eprintln!(
        "kill -9 after {} acknowledged UPDATEs; {} failed",
        acked.len(),
        results.len() - acked.len()
    );

    // Every zone file parses, and holds every acknowledged UPDATE.
    let mut zone_files = 0;
    for e in std::fs::read_dir(&zones).unwrap() {
        let path = e.unwrap().path();
        if path.extension().is_some_and(|x| x == "zone") {
            zone_files += 1;
            assert!(
                zone_check(&path).is_ok(),
                "{path:?}: {:?}",
                zone_check(&path)
            );
        }
    }
    assert_eq!(zone_files, 1);
    let file = zone_text(&zones);
    for v in &acked {
        assert!(
            file.contains(&format!("\"{v}\"")),
            "acknowledged {v} lost:\n{file}"
        );
    }

    // Restart: served, committed, writable.
    let p = Proc::start(dir.path());
    let served: BTreeSet<String> = served_txt(p.addr, ACME_NAME).into_iter().collect();
    assert!(
        served.is_superset(&acked),
        "lost: {:?}",
        acked.difference(&served)
    );
    assert_eq!(
        zone_check(&zones.join(ZONE_FILE)),
        Ok(served_serial(p.addr))
    );
    wait_committed(&zones, ZONE_FILE);
    let fsck = git_try(&zones, &["fsck", "--no-progress"]);
    assert!(fsck.status.success(), "{}", text(&fsck));

    let before = head(&zones).unwrap();
    let r = py_update(
        p.port(),
        &acme_py(),
        true,
        &["add _acme-challenge 60 TXT \"after-crash\""],
    );
    assert!(r.is_signed_ok(), "{r:?}\n{}", p.log_text());
    assert_eq!(commits_since(&zones, &before).len(), 1, "{}", p.log_text());
    let c = commit(&zones, "HEAD");
    assert!(c.subject.starts_with("example.com: +1 -0 TXT"), "{c:?}");
    assert!(served_txt(p.addr, ACME_NAME).contains(&"after-crash".to_string()));
}
