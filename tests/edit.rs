//! `zonewright edit` (issue 14), the real binary with a scripted
//! `$EDITOR`, against a running server taking signed UPDATEs (dnspython)
//! meanwhile: both kept, each commit under its author; an edit with
//! errors or without changes writes nothing.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::{Duration, Instant};

use common::update::*;

/// A shell script `$EDITOR` that runs `body` with the copy as `$1`.
fn editor(dir: &Path, name: &str, body: &str) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, format!("#!/bin/sh\nset -e\n{body}\n")).unwrap();
    let mut perm = std::fs::metadata(&path).unwrap().permissions();
    std::os::unix::fs::PermissionsExt::set_mode(&mut perm, 0o755);
    std::fs::set_permissions(&path, perm).unwrap();
    path
}

fn edit(config: &Path, editor: &Path, author: &str) -> Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_zonewright"));
    cmd.args(["edit", ZONE, "--config"])
        .arg(config)
        .args(["--author", author])
        .env("EDITOR", editor)
        .env_remove("VISUAL");
    run_bounded(&mut cmd, "", Duration::from_secs(60))
}

#[test]
fn an_edit_and_streaming_updates_are_both_kept_each_under_its_author() {
    let s = start();
    let zones = s.zones_dir();
    let port = s.addr.port();
    let before = commit(&zones, "HEAD").id;
    // The person takes 1.5 s in the editor: delete www, add a host.
    let ed = editor(
        s.dir.path(),
        "ed.sh",
        "sleep 1.5\nsed -i '/^www/d' \"$1\"\nprintf 'handmade 300 IN A 192.0.2.77\\n' >> \"$1\"",
    );
    let key = acme_py();
    let writer = std::thread::spawn(move || {
        dnsupdate(
            port,
            &[
                "--key",
                &key,
                "--count",
                "40",
                "--workers",
                "1",
                "--op",
                "add _acme-challenge.e-{i} 60 TXT \"e-{i}\"",
            ],
        )
    });
    let out = edit(&s.config_path(), &ed, "alice");
    let results = writer.join().unwrap();
    assert!(out.status.success(), "{}", text(&out));
    assert!(text(&out).contains("+1 -1"), "{}", text(&out));
    let acked: Vec<usize> = results
        .iter()
        .filter(|r| r.is_signed_ok())
        .map(|r| r.i)
        .collect();
    assert_eq!(acked.len(), 40, "{results:?}");
    // Taken in by the server within a few seconds.
    let deadline = Instant::now() + Duration::from_secs(5);
    while !dig_short(port, "handmade.example.com", "A", false).contains(&"192.0.2.77".into())
        && Instant::now() < deadline
    {
        std::thread::sleep(Duration::from_millis(100));
    }
    let file = zone_text(&zones);
    assert!(file.contains("handmade 300 IN A 192.0.2.77"), "{file}");
    assert!(!file.contains("www "), "{file}");
    for i in &acked {
        assert!(
            file.contains(&format!("\"e-{i}\"")),
            "UPDATE {i} lost:\n{file}"
        );
    }
    assert_eq!(
        dig_short(port, "handmade.example.com", "A", false),
        vec!["192.0.2.77"]
    );
    assert!(dig_short(port, "www.example.com", "A", false).is_empty());
    // The person's commit: author alice, Via: edit, exactly their change.
    wait_committed(&zones, ZONE_FILE);
    let log = git(
        &zones,
        &["log", "--format=%H %an", &format!("{before}..HEAD")],
    );
    let edits: Vec<&str> = log.lines().filter(|l| l.ends_with(" alice")).collect();
    assert_eq!(edits.len(), 1, "{log}");
    let id = edits[0].split(' ').next().unwrap_or_default();
    let c = commit(&zones, id);
    assert_eq!(c.trailer("Via").as_deref(), Some("edit"), "{c:?}");
    let (removed, added) = diff_lines(&zones, id, ZONE_FILE);
    assert!(
        added.iter().any(|l| l.contains("handmade")) && removed.iter().any(|l| l.contains("www")),
        "{added:?} {removed:?}"
    );
    assert!(
        added
            .iter()
            .chain(&removed)
            .all(|l| !l.contains("_acme-challenge")),
        "no UPDATE in the person's commit: {added:?} {removed:?}"
    );
    // The UPDATEs' commits are the key's.
    let keys = log
        .lines()
        .filter(|l| l.ends_with(&format!(" {ACME}")))
        .count();
    assert!(keys >= 1, "{log}");
}

#[test]
fn an_edit_with_errors_or_without_changes_writes_nothing() {
    let s = start();
    let zones = s.zones_dir();
    let before = zone_text(&zones);
    let head = commit(&zones, "HEAD").id;
    let bad = editor(
        s.dir.path(),
        "bad.sh",
        "printf 'broken IN A 999.1.2.3\\n' >> \"$1\"",
    );
    let out = edit(&s.config_path(), &bad, "alice");
    assert!(!out.status.success());
    let t = text(&out);
    assert!(t.contains("999.1.2.3") || t.contains("line"), "{t}");
    assert!(t.contains("nothing changed"), "{t}");
    let same = editor(s.dir.path(), "same.sh", "true");
    let out = edit(&s.config_path(), &same, "alice");
    assert!(out.status.success(), "{}", text(&out));
    assert!(text(&out).contains("no changes"), "{}", text(&out));
    let unknown = Command::new(env!("CARGO_BIN_EXE_zonewright"))
        .args(["edit", "nope.test", "--author", "alice", "--config"])
        .arg(s.config_path())
        .env("EDITOR", &same)
        .output()
        .unwrap();
    assert!(!unknown.status.success());
    assert!(
        String::from_utf8_lossy(&unknown.stderr).contains("not served"),
        "{}",
        String::from_utf8_lossy(&unknown.stderr)
    );
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(zone_text(&zones), before);
    assert_eq!(commit(&zones, "HEAD").id, head);
}

/// An edit the server would read with warnings (round 28: an RRset given
/// two TTLs was aligned without a word) is taken, and the person is told
/// on stderr what the file will be read as.
#[test]
fn an_edit_with_warnings_is_taken_and_its_warnings_are_shown() {
    let s = start();
    let zones = s.zones_dir();
    let port = s.addr.port();
    let ed = editor(
        s.dir.path(),
        "ttl.sh",
        "printf 'ttl-a 300 IN A 192.0.2.81\\nttl-a 600 IN A 192.0.2.82\\n' >> \"$1\"",
    );
    let out = edit(&s.config_path(), &ed, "alice");
    let t = text(&out);
    assert!(out.status.success(), "{t}");
    assert!(
        t.contains("warning") && t.contains("TTL 600 differs from 300"),
        "the TTL warning is shown: {t}"
    );
    assert!(t.contains("+2 -0"), "{t}");
    let file = zone_text(&zones);
    assert!(
        file.contains("192.0.2.81") && file.contains("192.0.2.82"),
        "{file}"
    );
    let deadline = Instant::now() + Duration::from_secs(5);
    while dig_short(port, "ttl-a.example.com", "A", false).len() < 2 && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(100));
    }
    assert_eq!(dig_short(port, "ttl-a.example.com", "A", false).len(), 2);
}

/// The config `zonewright edit` reads while no server runs: the zones
/// directory `zones`, committed, and the keys of the update tests.
fn offline_config(zones: &Path) -> PathBuf {
    git(zones, &["init", "-q"]);
    git_commit_all(zones, "zones");
    let path = zones.with_file_name("offline.toml");
    std::fs::write(
        &path,
        format!(
            "listen = [\"127.0.0.1:0\"]\nzones_dir = {:?}\n{}",
            zones.display().to_string(),
            update_config()
        ),
    )
    .unwrap();
    path
}

/// Outside attack, round 4: with the server stopped, an edit's note named
/// its author for whatever the file held at the next start (a record
/// appended by hand afterwards was committed as theirs), and a second
/// edit took the first's credit. Now the note holds the file's digest,
/// and a second edit waits for the first to be committed.
#[test]
fn edits_made_while_the_server_is_stopped_keep_their_authors() {
    let add = |dir: &Path, name: &str, host: &str| {
        editor(
            dir,
            name,
            &format!("printf '{host} 300 IN A 192.0.2.9\\n' >> \"$1\""),
        )
    };
    // An edit, then a record appended by hand: committed by the committer.
    let s = common::TestServer::start_prepared(
        &[(ZONE_FILE, &fixture_zone())],
        &update_config(),
        |zones| {
            let config = offline_config(zones);
            let ed = add(zones.parent().unwrap(), "ed1.sh", "stopped1");
            let out = edit(&config, &ed, "stopper");
            assert!(out.status.success(), "{}", text(&out));
            let second = add(zones.parent().unwrap(), "ed2.sh", "stopped2");
            let out = edit(&config, &second, "caser");
            assert!(!out.status.success(), "a second edit waits: {}", text(&out));
            assert!(text(&out).contains("not committed yet"), "{}", text(&out));
            let mut f = std::fs::OpenOptions::new()
                .append(true)
                .open(zones.join(ZONE_FILE))
                .unwrap();
            std::io::Write::write_all(&mut f, b"handx 300 IN TXT \"by hand\"\n").unwrap();
        },
    );
    let zones = s.zones_dir();
    wait_committed(&zones, ZONE_FILE);
    let c = commit(&zones, "HEAD");
    assert_eq!(c.author_name, "zonewright", "{c:?}");
    assert_ne!(c.trailer("Via").as_deref(), Some("edit"), "{c:?}");
    // An edit alone: committed as its author's.
    let s = common::TestServer::start_prepared(
        &[(ZONE_FILE, &fixture_zone())],
        &update_config(),
        |zones| {
            let config = offline_config(zones);
            let ed = add(zones.parent().unwrap(), "ed3.sh", "stopped3");
            let out = edit(&config, &ed, "stopper");
            assert!(out.status.success(), "{}", text(&out));
        },
    );
    let zones = s.zones_dir();
    wait_committed(&zones, ZONE_FILE);
    let c = commit(&zones, "HEAD");
    assert_eq!(c.author_name, "stopper", "{c:?}");
    assert_eq!(c.trailer("Via").as_deref(), Some("edit"), "{c:?}");
}

/// A key's or token's name, or one with '<' or '>', is no author.
#[test]
fn an_author_that_is_a_key_name_or_no_name_is_refused() {
    let s = start();
    let same = editor(s.dir.path(), "same.sh", "true");
    for author in [
        ACME,
        "ACME-KEY.",
        "eve <evil@example.com>",
        "zonewright",
        "acme-expiry",
    ] {
        let out = edit(&s.config_path(), &same, author);
        assert!(!out.status.success(), "{author:?}: {}", text(&out));
        assert!(text(&out).contains("--author"), "{}", text(&out));
    }
}

/// Outside attack, round 5: with the server stopped, a record appended by
/// hand and then an edit were committed together as the editor's. The
/// edit now refuses a file with changes not committed yet.
#[test]
fn an_edit_over_changes_not_committed_yet_is_refused() {
    let _s = common::TestServer::start_prepared(
        &[(ZONE_FILE, &fixture_zone())],
        &update_config(),
        |zones| {
            let config = offline_config(zones);
            let mut f = std::fs::OpenOptions::new()
                .append(true)
                .open(zones.join(ZONE_FILE))
                .unwrap();
            std::io::Write::write_all(&mut f, b"handx 300 IN A 192.0.2.8\n").unwrap();
            let ed = editor(
                zones.parent().unwrap(),
                "ed.sh",
                "printf 'bob 300 IN A 192.0.2.9\\n' >> \"$1\"",
            );
            let out = edit(&config, &ed, "bob");
            assert!(!out.status.success(), "{}", text(&out));
            assert!(text(&out).contains("not committed yet"), "{}", text(&out));
            let file = std::fs::read_to_string(zones.join(ZONE_FILE)).unwrap();
            assert!(!file.contains("bob 300"), "{file}");
        },
    );
}
