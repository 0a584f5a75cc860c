//! Nothing lost, whoever edits (issue 14): a person's editor, saving by
//! rename, races a stream of signed UPDATEs (dnspython, over a real
//! socket) on the same zone file. The editor reads the file, thinks, bumps
//! the serial it read by one, appends a record and saves, as editors that
//! save by rename, `sed -i` and deploy scripts do; meanwhile the UPDATEs
//! keep being acknowledged. Every acknowledged write and every saved edit
//! must be in the file and served afterwards, and `git log -p` must show
//! each of them added exactly once.

mod common;
mod rest_common;

use std::io::Write;
use std::path::Path;
use std::time::{Duration, Instant};

use common::update::*;

/// The file's text with the number on its `; serial` line plus one (what
/// a person bumping the serial they read does).
fn bump_serial(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 8);
    for line in text.split_inclusive('\n') {
        match line.find("; serial") {
            Some(at) => {
                let digits: String = line[..at].trim().to_string();
                let n: u64 = digits.parse().unwrap_or(0);
                out.push_str(&line.replacen(&digits, &(n + 1).to_string(), 1));
            }
            None => out.push_str(line),
        }
    }
    out
}

/// Saves `text` as an editor that saves by rename does: a temp file in
/// the same folder, fsynced, renamed over the file.
fn save_by_rename(file: &Path, text: &str) {
    let tmp = file.with_extension("zone.swp");
    let mut f = std::fs::File::create(&tmp).unwrap();
    f.write_all(text.as_bytes()).unwrap();
    f.sync_all().unwrap();
    std::fs::rename(&tmp, file).unwrap();
}

/// The zone file's text once it holds every one of `wanted` (or after
/// 5 s: the caller's asserts say what is missing).
fn file_holding(file: &Path, wanted: &[&str]) -> String {
    let deadline = Instant::now() + Duration::from_secs(5);
    let mut text = std::fs::read_to_string(file).unwrap_or_default();
    while !wanted.iter().all(|w| text.contains(w)) && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(100));
        text = std::fs::read_to_string(file).unwrap_or_default();
    }
    text
}

/// Lines of `git log -p` that add a line containing `needle`.
fn additions(log: &str, needle: &str) -> usize {
    log.lines()
        .filter(|l| l.starts_with('+') && !l.starts_with("+++") && l.contains(needle))
        .count()
}

/// For a failure message: each commit's subject and its diff lines that
/// hold `needle`, newest first.
fn history_of(zones: &Path, needle: &str) -> String {
    let log = git(
        zones,
        &["log", "-p", "--format=commit %h %an: %s", "--", ZONE_FILE],
    );
    log.lines()
        .filter(|l| {
            l.starts_with("commit ")
                || ((l.starts_with('+') || l.starts_with('-')) && l.contains(needle))
        })
        .collect::<Vec<_>>()
        .join("\n")
}

fn race(tcp: bool, think: Duration, edits: usize, updates: usize) {
    let s = start();
    let zones = s.zones_dir();
    let file = zones.join(ZONE_FILE);
    let port = s.addr.port();
    let key = acme_py();
    let count = updates.to_string();
    let writer = std::thread::spawn(move || {
        let mut args = vec!["--key", &key, "--count", &count, "--workers", "1"];
        if tcp {
            args.push("--tcp");
        }
        args.extend(["--op", "add _acme-challenge.u-{i} 60 TXT \"tok-{i}\""]);
        dnsupdate(port, &args)
    });
    // The editor: read, think, bump the serial it read, append, save.
    for n in 0..edits {
        let read = std::fs::read_to_string(&file).unwrap();
        std::thread::sleep(think);
        let mut text = bump_serial(&read);
        text.push_str(&format!("edit-{n} 300 IN A 192.0.2.{}\n", n + 1));
        save_by_rename(&file, &text);
        std::thread::sleep(Duration::from_millis(50 + (n as u64 * 37) % 100));
    }
    let results = writer.join().unwrap();
    let acked: Vec<usize> = results
        .iter()
        .filter(|r| r.is_signed_ok())
        .map(|r| r.i)
        .collect();
    assert!(
        acked.len() * 2 > updates,
        "most UPDATEs are acknowledged: {results:?}"
    );
    // Within 2 s after the last edit (and the last answer), every
    // acknowledged write and every edit is in the file.
    let wanted = |text: &str| {
        acked.iter().all(|i| text.contains(&format!("\"tok-{i}\"")))
            && (0..edits).all(|n| text.contains(&format!("edit-{n} 300 IN A")))
    };
    let deadline = Instant::now() + Duration::from_secs(2);
    let mut text = zone_text(&zones);
    while !wanted(&text) && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(100));
        text = zone_text(&zones);
    }
    for i in &acked {
        assert!(
            text.contains(&format!("\"tok-{i}\"")),
            "acknowledged UPDATE {i} lost:\n{text}"
        );
    }
    for n in 0..edits {
        assert!(
            text.contains(&format!("edit-{n} 300 IN A")),
            "edit {n} lost:\n{text}"
        );
    }
    // Served as in the file.
    for i in acked.iter().step_by(7) {
        let got = dig_short(
            port,
            &format!("_acme-challenge.u-{i}.example.com"),
            "TXT",
            false,
        );
        assert_eq!(got, vec![format!("\"tok-{i}\"")], "UPDATE {i} not served");
    }
    for n in 0..edits {
        let got = dig_short(port, &format!("edit-{n}.example.com"), "A", false);
        assert_eq!(
            got,
            vec![format!("192.0.2.{}", n + 1)],
            "edit {n} not served"
        );
    }
    if let Ok(o) = std::process::Command::new("named-checkzone")
        .args(["example.com"])
        .arg(&file)
        .output()
    {
        assert!(o.status.success(), "named-checkzone: {}", text_of(&o));
    }
    // Committed: git fsck is clean, and `git log -p` adds each write and
    // each edit exactly once.
    wait_committed(&zones, ZONE_FILE);
    let fsck = git_try(&zones, &["fsck", "--no-progress"]);
    assert!(fsck.status.success(), "git fsck: {}", text_of(&fsck));
    let log = git(&zones, &["log", "-p", "--format=", "--", ZONE_FILE]);
    for i in &acked {
        let needle = format!("\"tok-{i}\"");
        assert_eq!(
            additions(&log, &needle),
            1,
            "UPDATE {i} in git log -p:\n{}",
            history_of(&zones, &needle)
        );
    }
    for n in 0..edits {
        let needle = format!("edit-{n} 300 IN A");
        assert_eq!(
            additions(&log, &needle),
            1,
            "edit {n} in git log -p:\n{}",
            history_of(&zones, &needle)
        );
    }
}

fn text_of(o: &std::process::Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

/// Think time 0: the editor saves right after reading (a script). Five
/// rounds, each on a fresh server.
#[test]
fn a_racing_editor_loses_no_acknowledged_update_udp() {
    for _ in 0..5 {
        race(false, Duration::ZERO, 12, 80);
    }
}

/// Think time 500 ms between read and save: 20 or so writes land in
/// between, and the save lacks all of them. Five rounds.
#[test]
fn a_racing_editor_loses_no_acknowledged_update_tcp_with_think_time() {
    for _ in 0..5 {
        race(true, Duration::from_millis(500), 4, 80);
    }
}

/// Round 51: a person saving one zone's file by rename, over and over,
/// does not make writes to *another* zone fail. The inode number each save
/// frees is often given to the next file made, the other zone's write, and
/// the edited zone's slot still listed it until its reload: the other zone
/// was taken for a second reader of its own file, and 37% of its writes
/// were refused (SERVFAIL), while the edited zone's saves were served as
/// read, without the writes they lacked.
#[test]
fn saving_one_zone_by_rename_does_not_refuse_writes_to_another() {
    let other = common::simple_zone("other.test", 1, "192.0.2.7");
    let config = format!(
        "{}[[key]]\nname = \"other-key\"\nalgorithm = \"hmac-sha256\"\nsecret = \"{SECRET_SHA256}\"\n\
         rate_limit = \"off\"\n\
         grant = [ {{ zone = \"other.test\", names = [\"_acme-challenge.**\"], types = [\"TXT\"] }} ]\n",
        update_config()
    );
    let s = common::TestServer::start(
        &[(ZONE_FILE, &fixture_zone()), ("other.test.zone", &other)],
        &config,
    );
    let zones = s.zones_dir();
    wait_committed(&zones, ZONE_FILE);
    wait_committed(&zones, "other.test.zone");
    let port = s.addr.port();
    let writer = std::thread::spawn(move || {
        let key = py_key("other-key", "hmac-sha256", SECRET_SHA256);
        dnsupdate(
            port,
            &[
                "--key",
                &key,
                "--zone",
                "other.test.",
                "--count",
                "120",
                "--workers",
                "2",
                "--op",
                "add _acme-challenge.u-{i} 60 TXT \"tok-{i}\"",
            ],
        )
    });
    // The editor: example.com saved by rename (the same text) every 10 ms,
    // at most 400 times, until the writer is done.
    let file = zones.join(ZONE_FILE);
    let text = std::fs::read_to_string(&file).unwrap();
    for _ in 0..400 {
        if writer.is_finished() {
            break;
        }
        save_by_rename(&file, &text);
        std::thread::sleep(Duration::from_millis(10));
    }
    let results = writer.join().unwrap();
    let refused: Vec<&PyResult> = results.iter().filter(|r| !r.is_signed_ok()).collect();
    assert_eq!(results.len(), 120);
    assert!(refused.is_empty(), "{} refused: {refused:?}", refused.len());
}

/// `[git] rebase_window` decides which hand deletions stand: one of a
/// record written longer ago than the window stays deleted; one of a
/// record a write added within the window (the saved file is then the
/// version from before that write) is re-applied, and the commit says so.
#[test]
fn a_hand_deletion_stands_only_after_the_rebase_window() {
    let config = update_config().replace(
        "email = \"zonewright@test\"\n",
        "email = \"zonewright@test\"\nrebase_window = \"2s\"\n",
    );
    let s = common::TestServer::start(&[(ZONE_FILE, &fixture_zone())], &config);
    let zones = s.zones_dir();
    wait_committed(&zones, ZONE_FILE);
    let file = zones.join(ZONE_FILE);
    let port = s.addr.port();
    let served = |name: &str| dig_short(port, name, "TXT", false);
    // Delete by hand the line holding `needle`, keeping the serial.
    let delete_line = |needle: &str| {
        let text = std::fs::read_to_string(&file).unwrap();
        let kept: String = text
            .split_inclusive('\n')
            .filter(|l| !l.contains(needle))
            .collect();
        assert_ne!(kept, text, "{needle} in the file");
        save_by_rename(&file, &kept);
    };
    // Wait (bounded) until `done` holds for what is served.
    let settle = |done: &dyn Fn() -> bool| {
        let deadline = Instant::now() + Duration::from_secs(5);
        while !done() && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(100));
        }
    };

    py_ok(port, &["add _acme-challenge.old 60 TXT \"old\""]);
    std::thread::sleep(Duration::from_millis(2500));
    let head = commit(&zones, "HEAD").id;
    delete_line("\"old\"");
    settle(&|| commit(&zones, "HEAD").id != head);
    assert!(served("_acme-challenge.old.example.com").is_empty());
    assert!(!zone_text(&zones).contains("\"old\""));
    let edit = commit(&zones, "HEAD");
    assert!(edit.subject.contains("external change"), "{edit:?}");
    assert!(!edit.subject.contains("re-applied"), "{edit:?}");

    py_ok(port, &["add _acme-challenge.new 60 TXT \"new\""]);
    let head = commit(&zones, "HEAD").id;
    delete_line("\"new\"");
    settle(&|| commit(&zones, "HEAD").id != head);
    assert_eq!(served("_acme-challenge.new.example.com"), vec!["\"new\""]);
    assert!(zone_text(&zones).contains("\"new\""));
    let edit = commit(&zones, "HEAD");
    assert!(
        edit.subject.contains("external change") && edit.subject.contains("re-applied 1 write"),
        "{edit:?}"
    );
    assert_eq!(edit.trailer("Reapplied").as_deref(), Some("1"), "{edit:?}");
}

/// The same race with the REST API as the writer, and an editor that does
/// not touch the serial (the server raises it): every service a 200
/// answered is in the file, served, and added once in `git log -p`.
#[test]
fn a_racing_editor_loses_no_acknowledged_rest_write() {
    let (s, api) = rest_common::start("rate_limit = 0");
    let zones = s.zones_dir();
    let file = zones.join("service.local.zone");
    let port = s.addr.port();
    let writes = 60;
    let writer = std::thread::spawn(move || {
        (0..writes)
            .filter(|i| {
                let body = format!(r#"{{"records":["10.9.0.{}"]}}"#, i + 1);
                api.put(&format!("/v1/services/svc-{i}"), &body).status == 200
            })
            .collect::<Vec<usize>>()
    });
    let edits = 10;
    for n in 0..edits {
        let mut text = std::fs::read_to_string(&file).unwrap();
        text.push_str(&format!("edit-{n} 300 IN A 192.0.2.{}\n", n + 1));
        save_by_rename(&file, &text);
        std::thread::sleep(Duration::from_millis(60 + (n as u64 * 41) % 90));
    }
    let acked = writer.join().unwrap();
    assert!(acked.len() * 2 > writes, "{acked:?}");
    let wanted = |text: &str| {
        acked
            .iter()
            .all(|i| text.contains(&format!("10.9.0.{}\n", i + 1)))
            && (0..edits).all(|n| text.contains(&format!("edit-{n} 300 IN A")))
    };
    let deadline = Instant::now() + Duration::from_secs(3);
    let mut text = std::fs::read_to_string(&file).unwrap();
    while !wanted(&text) && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(100));
        text = std::fs::read_to_string(&file).unwrap();
    }
    assert!(wanted(&text), "a write or an edit lost:\n{text}");
    for i in acked.iter().step_by(5) {
        let got = dig_short(port, &format!("svc-{i}.service.local"), "A", false);
        assert_eq!(got, vec![format!("10.9.0.{}", i + 1)], "service {i}");
    }
    for n in 0..edits {
        let got = dig_short(port, &format!("edit-{n}.service.local"), "A", false);
        assert_eq!(got, vec![format!("192.0.2.{}", n + 1)], "edit {n}");
    }
    wait_committed(&zones, "service.local.zone");
    let log = git(
        &zones,
        &["log", "-p", "--format=", "--", "service.local.zone"],
    );
    for i in &acked {
        let value = format!(" 10.9.0.{}", i + 1);
        let added = log
            .lines()
            .filter(|l| l.starts_with('+') && l.trim_end().ends_with(&value))
            .count();
        assert_eq!(added, 1, "service {i}");
    }
    for n in 0..edits {
        assert_eq!(
            additions(&log, &format!("edit-{n} 300 IN A")),
            1,
            "edit {n}"
        );
    }
}

/// Outside attack, round 4: person A opens the file; a write; person B
/// appends a record without touching the serial (taken in, serial raised);
/// another write; A saves what they opened plus their record. Both writes
/// and A's record are kept (B's record is A's to overwrite: edits are
/// never re-applied, or a `git checkout` could not undo one).
#[test]
fn a_stale_save_keeps_the_writes_made_across_another_edit() {
    let s = start();
    let zones = s.zones_dir();
    let file = zones.join(ZONE_FILE);
    let port = s.addr.port();
    let opened = std::fs::read_to_string(&file).unwrap();
    py_ok(port, &["add _acme-challenge.s3 60 TXT \"s3\""]);
    let head = commit(&zones, "HEAD").id;
    let mut b = std::fs::OpenOptions::new()
        .append(true)
        .open(&file)
        .unwrap();
    b.write_all(b"carol 300 IN A 192.0.2.44\n").unwrap();
    drop(b);
    let deadline = Instant::now() + Duration::from_secs(5);
    while commit(&zones, "HEAD").id == head && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(100));
    }
    py_ok(port, &["add _acme-challenge.s4 60 TXT \"s4\""]);
    save_by_rename(&file, &format!("{opened}alice 300 IN A 192.0.2.45\n"));
    let text = file_holding(&file, &["\"s3\"", "\"s4\"", "alice 300"]);
    for w in ["\"s3\"", "\"s4\"", "alice 300"] {
        assert!(text.contains(w), "{w} lost:\n{text}");
    }
    assert!(
        !text.contains("carol 300"),
        "B's edit, overwritten by A:\n{text}"
    );
    assert_eq!(
        dig_short(port, "_acme-challenge.s3.example.com", "TXT", false),
        vec!["\"s3\""]
    );
    assert_eq!(
        dig_short(port, "_acme-challenge.s4.example.com", "TXT", false),
        vec!["\"s4\""]
    );
    assert_eq!(
        dig_short(port, "alice.example.com", "A", false),
        vec!["192.0.2.45"]
    );
}

/// Outside attack, round 4: the window of writes to re-apply was kept in
/// memory only, so a stale save after a restart dropped a write made
/// before it. The writes of the window are now read back from git.
#[test]
fn a_stale_save_after_a_restart_keeps_the_writes_before_it() {
    let s = start();
    let file = s.zones_dir().join(ZONE_FILE);
    let opened = std::fs::read_to_string(&file).unwrap();
    py_ok(
        s.addr.port(),
        &["add _acme-challenge.r1 60 TXT \"before-restart\""],
    );
    wait_committed(&s.zones_dir(), ZONE_FILE);
    let s = s.restart();
    let port = s.addr.port();
    save_by_rename(&file, &format!("{opened}stale 300 IN A 192.0.2.46\n"));
    let text = file_holding(&file, &["stale 300", "before-restart"]);
    assert!(
        text.contains("before-restart"),
        "the write was lost:\n{text}"
    );
    assert!(text.contains("stale 300"), "the edit was lost:\n{text}");
    assert_eq!(
        dig_short(port, "_acme-challenge.r1.example.com", "TXT", false),
        vec!["\"before-restart\""]
    );
    assert_eq!(
        dig_short(port, "stale.example.com", "A", false),
        vec!["192.0.2.46"]
    );
}

/// The SOA serial served.
fn served_serial(port: u16) -> u32 {
    let soa = dig_short(port, "example.com", "SOA", false);
    soa.first()
        .and_then(|l| l.split_whitespace().nth(2))
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("no SOA: {soa:?}"))
}

/// Outside attack, round 4: a serial lowered by hand while the server was
/// down was served as it was after the start (backwards); it is raised
/// above HEAD's now.
#[test]
fn a_serial_lowered_while_stopped_is_raised_at_start() {
    let s = start();
    py_ok(s.addr.port(), &["add _acme-challenge.w 60 TXT \"w\""]);
    wait_committed(&s.zones_dir(), ZONE_FILE);
    let before = served_serial(s.addr.port());
    let s = s.restart_prepared(|zones| {
        let file = zones.join(ZONE_FILE);
        let text = std::fs::read_to_string(&file).unwrap();
        let lowered: String = text
            .split_inclusive('\n')
            .map(|l| {
                if l.contains("; serial") {
                    "                2024010105 ; serial\n".to_string()
                } else {
                    l.to_string()
                }
            })
            .collect();
        std::fs::write(&file, lowered).unwrap();
    });
    let after = served_serial(s.addr.port());
    assert!(
        after > before && after != 2024010105,
        "served {after} after {before}"
    );
    let c = commit(&s.zones_dir(), "HEAD");
    assert!(c.subject.contains("(raised by zonewright)"), "{c:?}");
}

/// Round 55 HIGH: a zone's `[[zone]] file` moved while the server was
/// down, to a copy from before the window's writes: the copy was committed
/// as found, and the writes it lacked were lost (and the serial went
/// back). They are re-applied from the file git has, beside the person's
/// line, and the serial is raised above the one served.
#[test]
fn a_zone_file_moved_while_stopped_keeps_the_writes_it_lacks() {
    let config = |dir: &str| {
        format!(
            "{}[[zone]]\nname = \"example.com\"\nfile = \"{dir}/{ZONE_FILE}\"\n",
            update_config()
        )
    };
    let other = common::simple_zone("zz.test", 1, "192.0.2.9");
    let s = common::TestServer::start_prepared(
        &[(ZONE_FILE, &fixture_zone()), ("zz.test.zone", &other)],
        &config("old"),
        |zones| {
            std::fs::create_dir(zones.join("old")).unwrap();
            std::fs::rename(zones.join(ZONE_FILE), zones.join("old").join(ZONE_FILE)).unwrap();
        },
    );
    let old = format!("old/{ZONE_FILE}");
    wait_committed(&s.zones_dir(), &old);
    let opened = std::fs::read_to_string(s.zones_dir().join(&old)).unwrap();
    py_ok(s.addr.port(), &["add _acme-challenge.m1 60 TXT \"m1\""]);
    py_ok(s.addr.port(), &["add _acme-challenge.m2 60 TXT \"m2\""]);
    wait_committed(&s.zones_dir(), &old);
    let before = served_serial(s.addr.port());
    let stale = format!("{opened}person 300 IN A 192.0.2.77\n");
    let s = s.restart_prepared(|zones| {
        // The newest commit naming the zone is one of several zones'
        // writes (as the write log's commits gather one key's writes): it
        // names both zones for both files, and the other zone's file
        // sorts after the old one.
        let append = |file: &Path, line: &str| {
            let text = std::fs::read_to_string(file).unwrap();
            std::fs::write(file, format!("{text}{line}\n")).unwrap();
        };
        append(&zones.join(&old), "_acme-challenge.m3 60 IN TXT \"m3\"");
        append(&zones.join("zz.test.zone"), "g 60 IN TXT \"g\"");
        git(zones, &["add", "-A"]);
        git(
            zones,
            &[
                "-c",
                "user.name=acme-key",
                "-c",
                "user.email=zonewright@test",
                "commit",
                "-q",
                "-m",
                "acme-key: 2 writes to 2 zones (example.com. zz.test.)\n\n\
                 example.com: +1 -0 TXT _acme-challenge.m3.example.com\n\n\
                 zz.test: +1 -0 TXT g.zz.test\n\n\
                 Actor: acme-key\nVia: rfc2136\n",
            ],
        );
        std::fs::create_dir(zones.join("new")).unwrap();
        std::fs::remove_file(zones.join("old").join(ZONE_FILE)).unwrap();
        std::fs::write(zones.join("new").join(ZONE_FILE), &stale).unwrap();
        let cfg = zones.parent().unwrap().join("zonewright.toml");
        let text = std::fs::read_to_string(&cfg).unwrap();
        std::fs::write(&cfg, text.replace("file = \"old/", "file = \"new/")).unwrap();
    });
    let (zones, port) = (s.zones_dir(), s.addr.port());
    let new = format!("new/{ZONE_FILE}");
    wait_committed(&zones, &new);
    for (name, want) in [("m1", "\"m1\""), ("m2", "\"m2\""), ("m3", "\"m3\"")] {
        let owner = format!("_acme-challenge.{name}.example.com");
        assert_eq!(dig_short(port, &owner, "TXT", false), vec![want], "{name}");
    }
    assert_eq!(
        dig_short(port, "person.example.com", "A", false),
        vec!["192.0.2.77"]
    );
    let file = std::fs::read_to_string(zones.join(&new)).unwrap();
    let head = git(&zones, &["show", &format!("HEAD:{new}")]);
    for text in [&file, &head] {
        for line in ["\"m1\"", "\"m2\"", "\"m3\"", "192.0.2.77"] {
            assert!(text.contains(line), "{line} missing:\n{text}");
        }
    }
    let after = served_serial(port);
    assert!(after > before, "served {after} after {before}");
}

/// Outside attack, round 58 (HIGH): a write made before the zone's file
/// was renamed (`git mv` and the `[[zone]] file` changed, committed, as
/// the README says to rename), another write after it, then a stale copy
/// from before both saved over the renamed file while the server was
/// down: only the second write came back, since the window was read from
/// the new file's history alone. It is now read from every file the
/// window's `File:` trailers give the zone.
#[test]
fn a_write_made_before_a_rename_comes_back_to_a_stale_copy() {
    moved_then_saved_stale(false);
}

/// Outside attack, round 59 (HIGH): the same, with the moved file a
/// stale copy committed by the person: the first start re-applied `r1` to
/// it (the committer's `external change`), `r2` was written on top, and a
/// second stale save, found at the next start, lost `r1`.
#[test]
fn a_write_re_applied_to_a_committed_stale_copy_comes_back_again() {
    moved_then_saved_stale(true);
}

/// `r1` written to `old/`, the file moved to `new/` (`git mv`, config,
/// committed by a person; `stale`: as the copy from before `r1`), `r2`
/// written, then the copy from before both saved over it while the server
/// was down: both come back.
fn moved_then_saved_stale(stale: bool) {
    let (old, new) = (format!("old/{ZONE_FILE}"), format!("new/{ZONE_FILE}"));
    let s = served_from(&old);
    wait_committed(&s.zones_dir(), &old);
    let opened = std::fs::read_to_string(s.zones_dir().join(&old)).unwrap();
    py_ok(s.addr.port(), &["add _acme-challenge.r1 60 TXT \"r1\""]);
    wait_committed(&s.zones_dir(), &old);
    let s = s.restart_prepared(|zones| {
        std::fs::create_dir(zones.join("new")).unwrap();
        git(zones, &["mv", &old, &new]);
        if stale {
            std::fs::write(zones.join(&new), &opened).unwrap();
            git(zones, &["add", &new]);
        }
        person_commits(zones, "rename");
        let cfg = zones.parent().unwrap().join("zonewright.toml");
        let text = std::fs::read_to_string(&cfg).unwrap();
        std::fs::write(&cfg, text.replace("file = \"old/", "file = \"new/")).unwrap();
    });
    let owner = |name: &str| format!("_acme-challenge.{name}.example.com");
    assert_eq!(
        dig_short(s.addr.port(), &owner("r1"), "TXT", true),
        ["\"r1\""]
    );
    py_ok(s.addr.port(), &["add _acme-challenge.r2 60 TXT \"r2\""]);
    wait_committed(&s.zones_dir(), &new);
    let s = s.restart_prepared(|zones| std::fs::write(zones.join(&new), &opened).unwrap());
    let (zones, port) = (s.zones_dir(), s.addr.port());
    wait_committed(&zones, &new);
    for name in ["r1", "r2"] {
        assert_eq!(
            dig_short(port, &owner(name), "TXT", true),
            vec![format!("\"{name}\"")],
            "{}",
            git(&zones, &["log", "--format=%an: %s"])
        );
    }
    let file = std::fs::read_to_string(zones.join(&new)).unwrap();
    let head = git(&zones, &["show", &format!("HEAD:{new}")]);
    for text in [&file, &head] {
        assert!(text.contains("\"r1\"") && text.contains("\"r2\""), "{text}");
    }
}

/// Outside attack, round 59 (LOW): a zone file not named `NAME.zone`
/// renamed while the server was down (`git mv`, not committed, and
/// `[[zone]] file` changed) was committed at its new path only: HEAD kept
/// the old one beside it, and `git status` showed it deleted. The file the
/// window's last write went to (its `File:` trailer), gone from disk and
/// read by no zone, is recorded as deleted now.
#[test]
fn a_zone_file_of_any_name_renamed_while_stopped_leaves_head() {
    let s = served_from("x/a1.db");
    wait_committed(&s.zones_dir(), "x/a1.db");
    py_ok(s.addr.port(), &["add _acme-challenge.r1 60 TXT \"r1\""]);
    wait_committed(&s.zones_dir(), "x/a1.db");
    let s = s.restart_prepared(|zones| {
        std::fs::create_dir(zones.join("y")).unwrap();
        git(zones, &["mv", "x/a1.db", "y/a2.db"]);
        let cfg = zones.parent().unwrap().join("zonewright.toml");
        let text = std::fs::read_to_string(&cfg).unwrap();
        std::fs::write(&cfg, text.replace("x/a1.db", "y/a2.db")).unwrap();
    });
    let zones = s.zones_dir();
    wait_committed(&zones, "y/a2.db");
    assert_eq!(
        dig_short(s.addr.port(), "_acme-challenge.r1.example.com", "TXT", true),
        ["\"r1\""]
    );
    let tree = git(&zones, &["ls-tree", "-r", "--name-only", "HEAD"]);
    assert!(!tree.lines().any(|l| l == "x/a1.db"), "{tree}");
    assert!(tree.lines().any(|l| l == "y/a2.db"), "{tree}");
    let status = git(&zones, &["status", "--porcelain"]);
    assert!(status.is_empty(), "{status}");
}

/// Outside attack, round 59 (LOW): a new zone given the file another
/// zone's last write went to (that zone moved to a new file while the
/// server was down) got no WARN; only zones with writes of their own were
/// looked at. Every zone is now, at each start.
#[test]
fn a_new_zone_on_the_file_of_another_zone_s_last_write_is_warned_of() {
    let dir = scratch();
    let zones = dir.path().join("zones");
    std::fs::rename(zones.join(ZONE_FILE), zones.join("a.db")).unwrap();
    let zone = |name: &str, file: &str| format!("[[zone]]\nname = \"{name}\"\nfile = \"{file}\"\n");
    let mut p = Proc::start_with(dir.path(), &zone("example.com", "a.db"));
    wait_committed(&zones, "a.db");
    py_ok(p.port(), &["add _acme-challenge.r1 60 TXT \"r1\""]);
    wait_committed(&zones, "a.db");
    p.kill9();
    git(&zones, &["mv", "a.db", "a2.db"]);
    std::fs::write(
        zones.join("a.db"),
        common::simple_zone("n.test", 1, "192.0.2.9"),
    )
    .unwrap();
    let config = format!("{}{}", zone("example.com", "a2.db"), zone("n.test", "a.db"));
    let p = Proc::start_with(dir.path(), &config);
    assert_eq!(
        served_txt(p.addr, "_acme-challenge.r1.example.com."),
        ["r1"]
    );
    let log = p.log_text();
    let warned = log.lines().any(|l| {
        l.contains("WARN")
            && l.contains("the last write of zone example.com went to")
            && l.contains("zone=n.test.")
    });
    assert!(warned, "{log}");
}

/// Outside attack, round 59: `[[zone]] file` swapped in the config alone
/// by mistake (the files not moved), with relative names: each zone
/// served the other's records, the start-up re-applied its own writes into
/// the other zone's file, and a key's writes went there too; put back,
/// each zone kept the other's records, a key's record outside its grants.
/// Now a zone whose file holds, byte for byte, the version another zone's
/// last write left in it is served as it reads, with an ERROR, nothing
/// re-applied or committed, and its writes refused; put back, each zone
/// has its own records only.
#[test]
fn zone_files_swapped_in_the_config_alone_take_no_writes() {
    swapped_in_the_config_alone("");
}

/// Round 61 (HIGH): the same with the writes older than the rebase window
/// (here none is kept): only the window's commits were looked at, so a
/// zone written once a day got neither the ERROR nor the refusal.
#[test]
fn zone_files_swapped_in_the_config_alone_take_no_writes_past_the_window() {
    swapped_in_the_config_alone("rebase_window = \"off\"\n");
}

/// `git` goes into the `[git]` table.
fn swapped_in_the_config_alone(git_lines: &str) {
    let keys: String = [("a-key", "a.test"), ("c-key", "c.test")]
        .iter()
        .map(|(key, zone)| {
            format!(
                "[[key]]\nname = \"{key}\"\nalgorithm = \"hmac-sha256\"\nsecret = \"{SECRET_SHA256}\"\n\
                 rate_limit = \"off\"\ngrant = [ {{ zone = \"{zone}\", names = [\"**\"], types = [\"TXT\"] }} ]\n"
            )
        })
        .collect();
    let zone = |name: &str, file: &str| format!("[[zone]]\nname = \"{name}\"\nfile = \"{file}\"\n");
    let dir = scratch();
    let zones = dir.path().join("zones");
    std::fs::write(zones.join("a.db"), relative_zone("192.0.2.10")).unwrap();
    std::fs::write(zones.join("c.db"), relative_zone("192.0.2.30")).unwrap();
    let right = format!(
        "{git_lines}{}{}{keys}",
        zone("a.test", "a.db"),
        zone("c.test", "c.db")
    );
    let swapped = format!(
        "{git_lines}{}{}{keys}",
        zone("a.test", "c.db"),
        zone("c.test", "a.db")
    );
    let update = |p: &Proc, key: &str, zone: &str, value: &str| {
        let op = format!("add w{value} 60 TXT \"{value}\"");
        key_update(p.port(), key, zone, false, &[&op]).rcode
    };
    let mut p = Proc::start_with(dir.path(), &right);
    wait_committed(&zones, "a.db");
    wait_committed(&zones, "c.db");
    assert_eq!(update(&p, "a-key", "a.test.", "a1"), "NOERROR");
    assert_eq!(update(&p, "c-key", "c.test.", "c1"), "NOERROR");
    wait_committed(&zones, "a.db");
    wait_committed(&zones, "c.db");
    p.kill9();
    let head = git(&zones, &["rev-parse", "HEAD"]);
    let texts = |z: &Path| ["a.db", "c.db"].map(|f| std::fs::read_to_string(z.join(f)).unwrap());
    let before = texts(&zones);

    let mut p = Proc::start_with(dir.path(), &swapped);
    let log = p.log_text();
    for (z, other) in [("a.test.", "c.test"), ("c.test.", "a.test")] {
        let said = log.lines().any(|l| {
            l.contains("ERROR")
                && l.contains(&format!("zone={z}"))
                && l.contains(&format!(
                    "holds zone {other}'s records as its last write left them"
                ))
        });
        assert!(said, "{z}:\n{log}");
    }
    let refused = update(&p, "a-key", "a.test.", "a2");
    assert_eq!(refused, "SERVFAIL", "{}", p.log_text());
    assert_eq!(texts(&zones), before, "nothing written");
    assert_eq!(
        git(&zones, &["rev-parse", "HEAD"]),
        head,
        "nothing committed"
    );
    p.kill9();

    let p = Proc::start_with(dir.path(), &right);
    let q = |name: &str| served_txt(p.addr, name);
    assert_eq!(q("wa1.a.test."), ["a1"]);
    assert_eq!(q("wc1.c.test."), ["c1"]);
    assert!(q("wc1.a.test.").is_empty() && q("wa1.c.test.").is_empty());
    assert!(q("wa2.a.test.").is_empty() && q("wa2.c.test.").is_empty());
    assert_eq!(update(&p, "a-key", "a.test.", "a3"), "NOERROR");
    assert_eq!(q("wa3.a.test."), ["a3"]);
    wait_committed(&zones, "a.db");
    drop(p);

    // Swapped again, an edit of the file while the server runs is served
    // as it reads, and given none of this zone's writes; its writes stay
    // refused until the config is put back (round 61: an edit lifted the
    // refusal, and this zone's writes went into the other zone's file).
    let p = Proc::start_with(dir.path(), &swapped);
    assert_eq!(update(&p, "a-key", "a.test.", "a4"), "SERVFAIL");
    let edited = std::fs::read_to_string(zones.join("c.db"))
        .unwrap()
        .replace("@ IN SOA ns1 hostmaster 2", "@ IN SOA ns1 hostmaster 3")
        + "hand 300 IN TXT \"hand\"\n";
    let tmp = zones.join(".c.db.edit");
    std::fs::write(&tmp, edited).unwrap();
    std::fs::rename(&tmp, zones.join("c.db")).unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    while served_txt(p.addr, "hand.a.test.").is_empty() {
        assert!(
            Instant::now() < deadline,
            "edit not served: {}",
            p.log_text()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    assert_eq!(update(&p, "a-key", "a.test.", "a5"), "SERVFAIL");
    let c = std::fs::read_to_string(zones.join("c.db")).unwrap();
    assert!(!c.contains("\"a"), "a.test's writes in c.test's file:\n{c}");
    drop(p);
    let p = Proc::start_with(dir.path(), &right);
    assert_eq!(served_txt(p.addr, "hand.c.test."), ["hand"]);
    assert!(served_txt(p.addr, "wa1.c.test.").is_empty());
    assert_eq!(
        update(&p, "a-key", "a.test.", "a6"),
        "NOERROR",
        "{}",
        p.log_text()
    );
    assert_eq!(served_txt(p.addr, "wa6.a.test."), ["a6"]);
}

/// Round 60 (MEDIUM): a zone renamed in the config (its file kept) is the
/// same zone under a new name: its file holds the old zone's last written
/// version, but no zone reads the file the renamed zone's last write went
/// to (no swap), so its writes are taken, with no ERROR, also with its old
/// name given to a new zone on a new file (round 61).
#[test]
fn a_zone_renamed_in_the_config_keeps_taking_writes() {
    let key = |name: &str, zone: &str| {
        format!(
            "[[key]]\nname = \"{name}\"\nalgorithm = \"hmac-sha256\"\nsecret = \"{SECRET_SHA256}\"\n\
             rate_limit = \"off\"\ngrant = [ {{ zone = \"{zone}\", names = [\"**\"], types = [\"TXT\"] }} ]\n"
        )
    };
    let dir = scratch();
    let zones = dir.path().join("zones");
    std::fs::write(zones.join("a.db"), relative_zone("192.0.2.10")).unwrap();
    let mut p = Proc::start_with(
        dir.path(),
        &format!(
            "[[zone]]\nname = \"a.test\"\nfile = \"a.db\"\n{}",
            key("a-key", "a.test")
        ),
    );
    wait_committed(&zones, "a.db");
    let r = key_update(
        p.port(),
        "a-key",
        "a.test.",
        false,
        &["add w1 60 TXT \"w1\""],
    );
    assert!(r.is_signed_ok(), "{r:?}");
    wait_committed(&zones, "a.db");
    p.kill9();
    // The old name given to a new zone on a file of its own (round 61:
    // the renamed zone was refused as if the files were swapped).
    std::fs::write(zones.join("an.db"), relative_zone("192.0.2.11")).unwrap();
    let p = Proc::start_with(
        dir.path(),
        &format!(
            "[[zone]]\nname = \"z.test\"\nfile = \"a.db\"\n\
             [[zone]]\nname = \"a.test\"\nfile = \"an.db\"\n{}",
            key("z-key", "z.test")
        ),
    );
    let r = key_update(
        p.port(),
        "z-key",
        "z.test.",
        false,
        &["add w2 60 TXT \"w2\""],
    );
    assert!(r.is_signed_ok(), "{r:?}\n{}", p.log_text());
    assert_eq!(served_txt(p.addr, "w2.z.test."), ["w2"]);
    let log = p.log_text();
    assert!(!log.lines().any(|l| l.contains(" ERROR ")), "{log}");
}

/// A server with example.com read from `file` (in a folder of its own).
fn served_from(file: &str) -> common::TestServer {
    let config = format!(
        "{}[[zone]]\nname = \"example.com\"\nfile = \"{file}\"\n",
        update_config()
    );
    common::TestServer::start_prepared(&[(ZONE_FILE, &fixture_zone())], &config, |zones| {
        let to = zones.join(file);
        std::fs::create_dir_all(to.parent().unwrap()).unwrap();
        std::fs::rename(zones.join(ZONE_FILE), to).unwrap();
    })
}

/// `git commit` of what is staged, by a person, with `message`.
fn person_commits(zones: &Path, message: &str) {
    let who = ["-c", "user.name=person", "-c", "user.email=p@test"];
    let args: Vec<&str> = who
        .iter()
        .copied()
        .chain(["commit", "-q", "-m", message])
        .collect();
    git(zones, &args);
}

/// A zone of relative names only (no `$ORIGIN`): read as another zone,
/// it loads as that zone's.
fn relative_zone(www: &str) -> String {
    format!(
        "$TTL 300\n@ IN SOA ns1 hostmaster 1 7200 3600 1209600 300\n\
         \x20 IN NS ns1\nns1 IN A 192.0.2.1\nwww IN A {www}\n"
    )
}

/// The serial `zone` is served with.
fn soa_serial_of(port: u16, zone: &str) -> u32 {
    let soa = dig_short(port, zone, "SOA", true);
    let fields: Vec<&str> = soa
        .first()
        .map(|l| l.split(' ').collect())
        .unwrap_or_default();
    fields
        .get(2)
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("no SOA for {zone}: {soa:?}"))
}

/// Outside attack, round 56: the files of two zones swapped while the
/// server was down, each an older copy of its zone, lost the writes the
/// copies lacked: each zone's copy was taken in against the other zone's
/// file in HEAD (with relative names, it loads as either zone), and the
/// window's writes were looked for in that file's history, the other
/// zone's. Now each commit of a write names the file it went to (`File:`),
/// and start-up takes the edit in against that file's version.
/// `committed`: the person also committed the swap; `log`: with
/// `acknowledge = "log"`.
fn swapped_zone_files_keep_their_writes(committed: bool, log: bool) {
    let grant = "grant = [ { zone = \"a.test\", names = [\"_acme-challenge.**\"], types = [\"TXT\"] }, \
                 { zone = \"b.test\", names = [\"_acme-challenge.**\"], types = [\"TXT\"] } ]";
    let git_table = if log { "acknowledge = \"log\"\n" } else { "" };
    let config = format!(
        "{}[[key]]\nname = \"swap-key\"\nalgorithm = \"hmac-sha256\"\nsecret = \"{SECRET_SHA256}\"\n\
         rate_limit = \"off\"\n{grant}\n\
         [[zone]]\nname = \"a.test\"\nfile = \"one.db\"\n\
         [[zone]]\nname = \"b.test\"\nfile = \"two.db\"\n",
        update_config_with(git_table)
    );
    let (a_text, b_text) = (relative_zone("192.0.2.10"), relative_zone("192.0.2.20"));
    let s = common::TestServer::start(
        &[
            (ZONE_FILE, &fixture_zone()),
            ("one.db", &a_text),
            ("two.db", &b_text),
        ],
        &config,
    );
    let zones = s.zones_dir();
    wait_committed(&zones, "one.db");
    wait_committed(&zones, "two.db");
    let port = s.addr.port();
    let key = py_key("swap-key", "hmac-sha256", SECRET_SHA256);
    let write = |zone: &str, op: &str| {
        let r = dnsupdate(port, &["--key", &key, "--zone", zone, "--op", op]);
        assert!(r.len() == 1 && r[0].is_signed_ok(), "{zone} {op}: {r:?}");
    };
    write("a.test.", "add _acme-challenge.wa 60 TXT \"wa\"");
    write("b.test.", "add _acme-challenge.wb 60 TXT \"wb\"");
    wait_committed(&zones, "one.db");
    wait_committed(&zones, "two.db");
    let before = (soa_serial_of(port, "a.test"), soa_serial_of(port, "b.test"));
    // Each zone's copy from before its write, now in the other's file,
    // with a person's line in a.test's.
    let a_stale = format!("{a_text}person 300 IN A 192.0.2.77\n");
    let s = s.restart_prepared(|zones| {
        std::fs::write(zones.join("two.db"), &a_stale).unwrap();
        std::fs::write(zones.join("one.db"), &b_text).unwrap();
        let cfg = zones.parent().unwrap().join("zonewright.toml");
        let text = std::fs::read_to_string(&cfg).unwrap();
        let text = text
            .replace("file = \"one.db\"", "file = \"@B@\"")
            .replace("file = \"two.db\"", "file = \"one.db\"")
            .replace("file = \"@B@\"", "file = \"two.db\"");
        std::fs::write(&cfg, text).unwrap();
        if committed {
            git(zones, &["add", "-A"]);
            person_commits(zones, "swap");
        }
    });
    let (zones, port) = (s.zones_dir(), s.addr.port());
    wait_committed(&zones, "one.db");
    wait_committed(&zones, "two.db");
    // Each zone's write is back, in its own zone only.
    for (zone, mine, theirs) in [("a.test", "wa", "wb"), ("b.test", "wb", "wa")] {
        let q = |w: &str| dig_short(port, &format!("_acme-challenge.{w}.{zone}"), "TXT", true);
        assert_eq!(q(mine), vec![format!("\"{mine}\"")], "{zone}");
        assert!(q(theirs).is_empty(), "{zone} answers {theirs}");
    }
    assert_eq!(dig_short(port, "www.a.test", "A", true), vec!["192.0.2.10"]);
    assert_eq!(
        dig_short(port, "person.a.test", "A", true),
        vec!["192.0.2.77"]
    );
    assert_eq!(dig_short(port, "www.b.test", "A", true), vec!["192.0.2.20"]);
    for (file, mine, theirs) in [
        ("two.db", "\"wa\"", "\"wb\""),
        ("one.db", "\"wb\"", "\"wa\""),
    ] {
        let on_disk = std::fs::read_to_string(zones.join(file)).unwrap();
        let head = git(&zones, &["show", &format!("HEAD:{file}")]);
        for text in [&on_disk, &head] {
            assert!(text.contains(mine), "{mine} missing from {file}:\n{text}");
            assert!(!text.contains(theirs), "{theirs} in {file}:\n{text}");
        }
    }
    let after = (soa_serial_of(port, "a.test"), soa_serial_of(port, "b.test"));
    assert!(
        after.0 > before.0 && after.1 > before.1,
        "served {after:?} after {before:?}"
    );
}

#[test]
fn zone_files_swapped_while_stopped_keep_their_writes() {
    swapped_zone_files_keep_their_writes(false, false);
}

#[test]
fn zone_files_swapped_and_committed_while_stopped_keep_their_writes_in_log_mode() {
    swapped_zone_files_keep_their_writes(true, true);
}

/// Outside attack, round 4: an edit that conflicts with a write it lacks,
/// found at start-up, was committed as it was (the write lost). Now, as
/// while running: HEAD's version is served, the file is left as saved and
/// not committed, and writes fail until the file is edited again.
#[test]
fn a_conflicting_edit_found_at_start_is_not_taken_in() {
    let s = start();
    let opened = std::fs::read_to_string(s.zones_dir().join(ZONE_FILE)).unwrap();
    py_ok(s.addr.port(), &["add _acme-challenge.c 60 TXT \"z1\""]);
    wait_committed(&s.zones_dir(), ZONE_FILE);
    let saved = format!("{opened}_acme-challenge.c 300 IN CNAME www\n");
    let head = commit(&s.zones_dir(), "HEAD").id;
    let s = s.restart_prepared(|zones| std::fs::write(zones.join(ZONE_FILE), &saved).unwrap());
    let zones = s.zones_dir();
    let port = s.addr.port();
    assert_eq!(
        dig_short(port, "_acme-challenge.c.example.com", "TXT", false),
        vec!["\"z1\""]
    );
    assert_eq!(
        zone_text(&zones),
        saved,
        "the person's file is left as saved"
    );
    assert_eq!(commit(&zones, "HEAD").id, head, "nothing committed");
    let r = py_update(
        port,
        &acme_py(),
        false,
        &["add _acme-challenge.d 60 TXT \"d\""],
    );
    assert_eq!(r.rcode, "SERVFAIL", "{r:?}");
}

/// Outside attack, round 4: records re-applied to a stale save were
/// appended in write order, so one that joined an RRset written earlier
/// moved in the file: `git log -p` showed it added twice and `git blame`
/// credited the edit with it (hiding it from the ACME sweep). They now
/// keep the served file's order.
#[test]
fn reapplied_records_keep_their_place_and_their_author() {
    let s = start();
    let zones = s.zones_dir();
    let file = zones.join(ZONE_FILE);
    let port = s.addr.port();
    let opened = std::fs::read_to_string(&file).unwrap();
    for (name, value) in [("x", "x1"), ("y", "y2"), ("x", "x3"), ("z", "z4")] {
        py_ok(
            port,
            &[&format!("add _acme-challenge.{name} 60 TXT \"{value}\"")],
        );
    }
    wait_committed(&zones, ZONE_FILE);
    save_by_rename(&file, &format!("{opened}late 300 IN A 192.0.2.47\n"));
    file_holding(&file, &["late 300", "\"x3\""]);
    wait_committed(&zones, ZONE_FILE);
    let log = git(&zones, &["log", "-p", "--format=", "--", ZONE_FILE]);
    for value in ["x1", "y2", "x3", "z4"] {
        assert_eq!(
            additions(&log, &format!("\"{value}\"")),
            1,
            "{value}:\n{log}"
        );
    }
    let blame = git(&zones, &["blame", "--line-porcelain", ZONE_FILE]);
    let author_of = |needle: &str| {
        let mut author = String::new();
        for l in blame.lines() {
            if let Some(a) = l.strip_prefix("author ") {
                author = a.to_string();
            }
            if l.starts_with('\t') && l.contains(needle) {
                return author;
            }
        }
        panic!("{needle} not in the file");
    };
    for value in ["x1", "y2", "x3", "z4"] {
        assert_eq!(author_of(&format!("\"{value}\"")), ACME, "{value}");
    }
}

/// Outside attack, round 5: one record of a multi-record write, deleted by
/// hand (by someone who saw it), stayed deleted. A write wins within the
/// window whatever version the edit started from: it comes back.
#[test]
fn a_record_of_a_multi_record_write_deleted_by_hand_comes_back() {
    let s = start();
    let zones = s.zones_dir();
    let file = zones.join(ZONE_FILE);
    let port = s.addr.port();
    py_ok(
        port,
        &[
            "add _acme-challenge.t 60 TXT \"n-a\"",
            "add _acme-challenge.t 60 TXT \"n-b\"",
            "add _acme-challenge.t 60 TXT \"n-c\"",
            "add _acme-challenge.t 60 TXT \"n-d\"",
        ],
    );
    py_ok(port, &["add _acme-challenge.s 60 TXT \"single1\""]);
    wait_committed(&zones, ZONE_FILE);
    let text = std::fs::read_to_string(&file).unwrap();
    let kept: String = text
        .split_inclusive('\n')
        .filter(|l| !l.contains("\"n-d\"") && !l.contains("\"single1\""))
        .collect();
    save_by_rename(&file, &kept);
    let text = file_holding(&file, &["\"n-d\"", "\"single1\""]);
    assert!(
        text.contains("\"n-d\"") && text.contains("\"single1\""),
        "{text}"
    );
    let mut got = dig_short(port, "_acme-challenge.t.example.com", "TXT", false);
    got.sort();
    assert_eq!(got, ["\"n-a\"", "\"n-b\"", "\"n-c\"", "\"n-d\""]);
}

/// Outside attack, round 13: a change a person staged in a zone file
/// without saving it there was reset in the git index when the file was
/// saved again as it was (which also raised the serial and made an
/// `external change` commit). Such a save now changes nothing: no commit,
/// the same serial, the index entry left alone.
#[test]
fn a_staged_change_survives_the_file_saved_again_unchanged() {
    let com = common::example_zone(1, "192.0.2.80");
    let net = "$ORIGIN example.net.\n$TTL 300\n@ IN SOA ns1 h 1 2 3 4 5\n@ IN NS ns1\n\
               ns1 IN A 192.0.2.9\n";
    let s = common::TestServer::start_prepared(
        &[("example.com.zone", &com), ("example.net.zone", net)],
        "",
        |zones| {
            git(zones, &["init", "-q"]);
            git(zones, &["add", "-A"]);
            git(
                zones,
                &[
                    "-c",
                    "user.name=alice",
                    "-c",
                    "user.email=alice@test",
                    "commit",
                    "-qm",
                    "zones",
                ],
            );
        },
    );
    let zones = s.zones_dir();
    // Staged straight into the index (the file is not touched).
    let staged = format!("{com}staged IN A 192.0.2.7\n");
    let o = run_bounded(
        std::process::Command::new("git")
            .arg("-C")
            .arg(&zones)
            .args(["hash-object", "-w", "--stdin"]),
        &staged,
        Duration::from_secs(20),
    );
    assert!(o.status.success(), "git hash-object: {}", text(&o));
    let blob = String::from_utf8_lossy(&o.stdout).trim().to_owned();
    let info = format!("100644,{blob},example.com.zone");
    git(&zones, &["update-index", "--cacheinfo", &info]);
    let cached = || git(&zones, &["diff", "--cached", "--name-only"]);
    assert_eq!(cached(), "example.com.zone\n");
    // Saved again as it was, then a real edit of the other zone: once
    // that is committed, the first save has been taken in too.
    let head = commit(&zones, "HEAD").id;
    s.save_by_rename("example.com.zone", &com);
    s.save_by_rename("example.net.zone", &format!("{net}www IN A 192.0.2.10\n"));
    wait_committed(&zones, "example.net.zone");
    assert_eq!(cached(), "example.com.zone\n", "the staged change is kept");
    // The unchanged save made no commit of its own (nor raised the serial).
    let since = commits_since(&zones, &head);
    assert_eq!(since.len(), 1, "{since:?}");
    assert_eq!(zone_text(&zones), com);
    let show = git(&zones, &["show", ":example.com.zone"]);
    assert_eq!(show, staged);
}

/// A first start on a folder of hundreds of zone files git has never seen
/// (an existing BIND or NSD setup moved over): one commit holds them all,
/// its blobs written as one pack rather than a loose object each, and the
/// repository is whole: `git fsck` finds nothing wrong, `git status` is
/// clean, and every file in HEAD is the file on disk.
#[test]
fn a_first_start_on_hundreds_of_zone_files_commits_them_whole_in_one_commit() {
    let names: Vec<String> = (0..300).map(|i| format!("z{i:03}.test")).collect();
    let texts: Vec<String> = names
        .iter()
        .enumerate()
        .map(|(i, n)| common::simple_zone(n, 1 + i as u32, &format!("192.0.2.{}", i % 250)))
        .collect();
    let files: Vec<(String, &str)> = names
        .iter()
        .zip(&texts)
        .map(|(n, t)| (format!("{n}.zone"), t.as_str()))
        .collect();
    let zones: Vec<(&str, &str)> = files.iter().map(|(f, t)| (f.as_str(), *t)).collect();
    let s = common::TestServer::start(&zones, "");
    let dir = s.zones_dir();
    for (i, n) in names.iter().enumerate().step_by(37) {
        let resp = s.udp(&common::query(
            &format!("{n}."),
            hickory_proto::rr::RecordType::SOA,
        ));
        assert_eq!(
            resp.answers.first().and_then(common::serial_of),
            Some(1 + i as u32),
            "{n} answers"
        );
    }
    let log = git(&dir, &["log", "--format=%s"]);
    assert!(
        log.lines()
            .any(|l| l == "300 zones: external changes found at start-up"),
        "one commit holds them all: {log}"
    );
    assert_eq!(
        git(&dir, &["status", "--porcelain"]),
        "",
        "nothing left over"
    );
    git(&dir, &["fsck", "--no-dangling"]);
    let packs = std::fs::read_dir(dir.join(".git/objects/pack"))
        .expect("pack folder")
        .flatten()
        .filter(|e| e.file_name().to_string_lossy().ends_with(".pack"))
        .count();
    assert_eq!(packs, 1, "the blobs are in one pack");
    for (f, t) in &files {
        assert_eq!(
            &git(&dir, &["show", &format!("HEAD:{f}")]),
            t,
            "{f} in HEAD"
        );
    }
}

/// The binary serving the fixture zone (committed), its folder (kept
/// for the test's length) and the zones folder.
fn started() -> (tempfile::TempDir, Proc, std::path::PathBuf) {
    let dir = scratch();
    let s = Proc::start(dir.path());
    let zones = dir.path().join("zones");
    wait_committed(&zones, ZONE_FILE);
    (dir, s, zones)
}

/// The late versions under `.git/zonewright/late` (bounded wait: until
/// there are `count`, or 5 s), with their texts.
fn kept_late(zones: &Path, count: usize) -> Vec<(std::path::PathBuf, String)> {
    let dir = zones.join(".git/zonewright/late");
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let found: Vec<_> = std::fs::read_dir(&dir)
            .map(|d| d.flatten().map(|e| e.path()).collect())
            .unwrap_or_default();
        if found.len() >= count || Instant::now() > deadline {
            return found
                .into_iter()
                .map(|p| {
                    let text = std::fs::read_to_string(&p).unwrap_or_default();
                    (p, text)
                })
                .collect();
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// Outside attack, round 40: a process that opened the zone file for
/// appending before an UPDATE replaced it, and wrote after the UPDATE's
/// last look at it (`echo >> zone` preempted between `open` and `write`),
/// put its line into the replaced file, and it was lost without a word.
/// The server now watches the files it replaced for 10 s: such a version
/// is kept under `.git/zonewright/late/` and named in an ERROR with the
/// appended line. It is not put back (round 41: a put-back erased what
/// came after the version it was made from): the acknowledged write and
/// everything else stay as they are.
#[test]
fn a_line_appended_through_a_file_opened_before_an_update_is_kept_and_named() {
    let (_dir, s, zones) = started();
    let file = zones.join(ZONE_FILE);
    let port = s.port();
    // Opened before the UPDATE, written after its answer.
    let mut late = std::fs::OpenOptions::new()
        .append(true)
        .open(&file)
        .unwrap();
    py_ok(port, &["add _acme-challenge.l1 60 TXT \"l1\""]);
    late.write_all(b"latecomer 300 IN A 192.0.2.47\n").unwrap();
    drop(late);
    let kept = kept_late(&zones, 1);
    assert_eq!(kept.len(), 1, "{kept:?}");
    assert!(
        kept[0].1.contains("latecomer 300 IN A 192.0.2.47"),
        "{kept:?}"
    );
    let text = std::fs::read_to_string(&file).unwrap();
    assert!(text.contains("\"l1\""), "the acknowledged write:\n{text}");
    assert!(!text.contains("latecomer"), "not put back:\n{text}");
    assert_eq!(
        dig_short(port, "_acme-challenge.l1.example.com", "TXT", false),
        vec!["\"l1\""]
    );
    let log = s.log_text();
    let line = log
        .lines()
        .find(|l| l.contains("another process wrote to the zone file after zonewright replaced it"))
        .unwrap_or_else(|| panic!("no ERROR:\n{log}"));
    assert!(line.contains("ERROR"), "{line}");
    assert!(line.contains(&kept[0].0.display().to_string()), "{line}");
    assert!(line.contains("latecomer 300 IN A 192.0.2.47"), "{line}");
}

/// Round 41 (HIGH): two late writers, and a person's save between them,
/// each made from an older version. Every late version is kept (none
/// replaces another), and nothing is written over the person's save or
/// the acknowledged writes.
#[test]
fn late_writers_never_write_over_a_newer_save_or_each_other() {
    let (_dir, s, zones) = started();
    let file = zones.join(ZONE_FILE);
    let port = s.port();
    let open = || {
        std::fs::OpenOptions::new()
            .append(true)
            .open(&file)
            .unwrap()
    };
    let mut a = open();
    py_ok(port, &["add _acme-challenge.m1 60 TXT \"m1\""]);
    let mut b = open();
    py_ok(port, &["add _acme-challenge.m2 60 TXT \"m2\""]);
    let current = std::fs::read_to_string(&file).unwrap();
    save_by_rename(
        &file,
        &format!("{}person 300 IN A 192.0.2.49\n", bump_serial(&current)),
    );
    b.write_all(b"late-b 300 IN A 192.0.2.51\n").unwrap();
    a.write_all(b"late-a 300 IN A 192.0.2.50\n").unwrap();
    drop((a, b));
    let kept = kept_late(&zones, 2);
    assert_eq!(kept.len(), 2, "{kept:?}");
    assert!(
        kept.iter().any(|(_, t)| t.contains("late-a 300")),
        "{kept:?}"
    );
    assert!(
        kept.iter().any(|(_, t)| t.contains("late-b 300")),
        "{kept:?}"
    );
    let text = file_holding(&file, &["\"m1\"", "\"m2\"", "person 300"]);
    for w in ["\"m1\"", "\"m2\"", "person 300"] {
        assert!(text.contains(w), "{w} lost:\n{text}");
    }
    assert_eq!(
        dig_short(port, "person.example.com", "A", false),
        vec!["192.0.2.49"]
    );
    assert_eq!(
        dig_short(port, "_acme-challenge.m1.example.com", "TXT", false),
        vec!["\"m1\""]
    );
}
