//! `[git] acknowledge = "log"`: a write is answered once it is in the
//! fsynced zone file and in the fsynced write log, and committed right
//! after. The binary as a separate process, real UPDATEs (dnspython), the
//! git CLI to look, and `kill -9` between the answer and the commit (a ref
//! lock a live process holds keeps the commit from being made).

mod common;

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::update::*;

const LOG_MODE: &str = "acknowledge = \"log\"\n";

fn write_log(zones: &Path) -> PathBuf {
    zones.join(".git/zonewright/writes.log")
}

/// Waits up to 10 s for `pred`.
fn eventually(what: &str, pred: impl Fn() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while !pred() {
        assert!(Instant::now() < deadline, "never: {what}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// The authors of the commits whose diff adds or removes `needle`.
fn authors_touching(zones: &Path, needle: &str) -> Vec<String> {
    git(zones, &["log", "--format=%an", "-S", needle])
        .lines()
        .map(str::to_owned)
        .collect()
}

/// A process holding the branch's ref lock open (as git does while it
/// updates the ref), killed and reaped on drop.
struct LockHolder(Child, PathBuf);

impl LockHolder {
    fn hold(zones: &Path) -> LockHolder {
        let head = std::fs::read_to_string(zones.join(".git/HEAD")).unwrap();
        let r = head.trim().strip_prefix("ref: ").unwrap().to_string();
        let lock = zones.join(".git").join(format!("{r}.lock"));
        std::fs::write(&lock, "0000000000000000000000000000000000000000\n").unwrap();
        let child = Command::new("sh")
            .arg("-c")
            .arg("exec 3<>\"$1\"; exec sleep 60")
            .arg("sh")
            .arg(&lock)
            .stdin(Stdio::null())
            .spawn()
            .unwrap();
        let fd = PathBuf::from(format!("/proc/{}/fd/3", child.id()));
        eventually("the lock is held", || fd.exists());
        LockHolder(child, lock)
    }
}

impl Drop for LockHolder {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
        let _ = std::fs::remove_file(&self.1);
    }
}

#[test]
fn a_logged_update_is_answered_then_committed_under_its_key() {
    let dir = scratch();
    let zones = dir.path().join("zones");
    let p = Proc::start_with(dir.path(), LOG_MODE);
    wait_committed(&zones, ZONE_FILE);
    let r = py_update(
        p.port(),
        &acme_py(),
        false,
        &["add _acme-challenge 60 TXT \"logged-1\""],
    );
    assert_eq!(r.rcode, "NOERROR", "{r:?}\n{}", p.log_text());
    assert!(r.is_signed_ok(), "{r:?}");
    assert!(zone_text(&zones).contains("\"logged-1\""));
    eventually("the write is committed", || {
        authors_touching(&zones, "\"logged-1\"") == [ACME]
    });
    let head = commit(&zones, "HEAD");
    assert_eq!(head.trailer("Via").as_deref(), Some("rfc2136"), "{head:?}");
    assert!(
        p.log_text()
            .contains("commit follows (the write is in the write log)"),
        "{}",
        p.log_text()
    );
    eventually("the log is emptied", || {
        std::fs::metadata(write_log(&zones)).is_ok_and(|m| m.len() == 0)
    });
}

/// A server in log mode whose branch ref lock a live process holds, and
/// an UPDATE adding TXT `value` answered NOERROR from the write log (its
/// commit refused): the folder, the zones, the server, the lock holder.
fn answered_while_git_refuses(value: &str) -> (tempfile::TempDir, PathBuf, Proc, LockHolder) {
    let dir = scratch();
    let zones = dir.path().join("zones");
    let p = Proc::start_with(dir.path(), LOG_MODE);
    wait_committed(&zones, ZONE_FILE);
    let holder = LockHolder::hold(&zones);
    let r = py_update(
        p.port(),
        &acme_py(),
        true,
        &[&format!("add _acme-challenge 60 TXT \"{value}\"")],
    );
    assert_eq!(r.rcode, "NOERROR", "{r:?}\n{}", p.log_text());
    (dir, zones, p, holder)
}

/// The crash the write log is for: an UPDATE answered NOERROR from the
/// log, its commit refused (a live process holds the ref lock), then
/// `kill -9`. The next start (in the default mode: a log left behind is
/// read in any mode) commits it under the key, never as an `external
/// change`; the UPDATE refused meanwhile (SERVFAIL) is nowhere.
#[test]
fn an_update_answered_before_a_crash_is_committed_at_start_up_under_its_key() {
    let (dir, zones, mut p, holder) = answered_while_git_refuses("before-crash");
    eventually("the commit is refused and the write held", || {
        p.log_text().contains("were answered from the write log")
    });
    let refused = py_update(
        p.port(),
        &acme_py(),
        true,
        &["add _acme-challenge 60 TXT \"while-held\""],
    );
    assert_eq!(refused.rcode, "SERVFAIL", "{refused:?}");
    assert!(!zone_text(&zones).contains("while-held"));
    p.kill9();
    drop(holder);
    assert!(
        std::fs::metadata(write_log(&zones)).is_ok_and(|m| m.len() > 0),
        "the record is on disk"
    );
    assert!(authors_touching(&zones, "\"before-crash\"").is_empty());

    let p = Proc::start(dir.path());
    assert_eq!(
        authors_touching(&zones, "\"before-crash\""),
        [ACME],
        "{}",
        p.log_text()
    );
    let external = git(&zones, &["log", "--format=%s", "--grep", "external change"]);
    assert_eq!(
        external.lines().count(),
        1,
        "only the first start's commit of the zone as found: {external}"
    );
    assert!(authors_touching(&zones, "while-held").is_empty());
    assert_eq!(
        std::fs::metadata(write_log(&zones)).map(|m| m.len()).ok(),
        Some(0),
        "{}",
        p.log_text()
    );
    let status = git(&zones, &["status", "--porcelain", "--", ZONE_FILE]);
    assert!(status.is_empty(), "{status}");
    assert!(served_txt(p.addr, ACME_NAME).contains(&"before-crash".to_string()));
}

/// Round 34 (HIGH): a logged write start-up cannot commit (git refuses:
/// here a ref lock a live process holds across the restart) is not
/// committed under another name once git takes commits again in that
/// run. It was: the zone file went in as zonewright's `external change`,
/// and the next start, finding the serial in HEAD, dropped the record.
/// Now that run commits nothing and refuses writes, saying why; the next
/// start commits the record under its key.
#[test]
fn a_logged_write_start_up_cannot_commit_is_never_relabelled() {
    let (dir, zones, mut p, holder) = answered_while_git_refuses("across-restarts");
    p.kill9();

    // Started while git still refuses: the record stays in the log.
    let mut p = Proc::start(dir.path());
    eventually("start-up says the record waits", || {
        p.log_text().contains("they stay in")
    });
    drop(holder);
    // Git takes commits again; the committer tries every 5 s. Nothing is
    // committed in this run, and writes are refused, saying why.
    std::thread::sleep(Duration::from_secs(7));
    assert!(
        authors_touching(&zones, "\"across-restarts\"").is_empty(),
        "not committed under another name:\n{}",
        p.log_text()
    );
    let refused = py_update(
        p.port(),
        &acme_py(),
        true,
        &["add _acme-challenge 60 TXT \"refused\""],
    );
    assert_eq!(refused.rcode, "SERVFAIL", "{refused:?}\n{}", p.log_text());
    assert!(
        p.log_text().contains("restart zonewright"),
        "{}",
        p.log_text()
    );
    assert!(!zone_text(&zones).contains("\"refused\""));
    p.kill9();

    // The next start commits it under its key, and empties the log.
    let p = Proc::start(dir.path());
    assert_eq!(
        authors_touching(&zones, "\"across-restarts\""),
        [ACME],
        "{}",
        p.log_text()
    );
    assert_eq!(
        std::fs::metadata(write_log(&zones)).map(|m| m.len()).ok(),
        Some(0),
        "{}",
        p.log_text()
    );
    assert!(served_txt(p.addr, ACME_NAME).contains(&"across-restarts".to_string()));
}

/// Outside attack, round 58 (HIGH): writes answered from the log, a
/// crash before their commits, then the files of the two zones swapped
/// while the server was down (HEAD's versions written under each other's
/// names, `[[zone]] file` swapped, nothing committed). Start-up put each
/// zone's records onto the file the zone is read from now, git's version
/// of which is the other zone's, and both writes were lost. Each record
/// now goes onto the version it was written on (this zone's apex SOA with
/// the record's old serial), at the path it names: both writes served, in
/// their own zone, committed under their key.
#[test]
fn logged_writes_survive_a_crash_and_zone_files_swapped_while_down() {
    crash_then_swap(false);
}

/// Round 59 (MEDIUM): the same with files of relative names at the same
/// serial, where each file reads as either zone at the serial the records
/// were written on: each key's recovered commit was built on the other
/// zone's version (a state never served, mended by a later `external
/// change`). The path the records name, untouched in git since they were
/// logged, wins the tie.
#[test]
fn logged_writes_survive_a_crash_and_relative_zone_files_swapped_while_down() {
    crash_then_swap(true);
}

/// `b.test`'s write committed and `a.test`'s answered from the log alone,
/// `kill -9`, then their files
/// (and `[[zone]] file`) swapped, uncommitted; `relative`: the files have
/// no `$ORIGIN` and the same serial.
fn crash_then_swap(relative: bool) {
    let key = "swap-key";
    let grant = "grant = [ { zone = \"a.test\", names = [\"**\"], types = [\"TXT\"] }, \
                 { zone = \"b.test\", names = [\"**\"], types = [\"TXT\"] } ]";
    let config = |a: &str, b: &str| {
        format!(
            "{LOG_MODE}[[zone]]\nname = \"a.test\"\nfile = \"{a}\"\n\
             [[zone]]\nname = \"b.test\"\nfile = \"{b}\"\n\
             [[key]]\nname = \"{key}\"\nalgorithm = \"hmac-sha256\"\n\
             secret = \"{SECRET_SHA256}\"\nrate_limit = \"off\"\n{grant}\n"
        )
    };
    let dir = scratch();
    let zones = dir.path().join("zones");
    let text = |origin: &str, www: &str| {
        let t = common::simple_zone(origin, 1, www);
        match relative {
            true => t
                .replace(&format!("$ORIGIN {origin}.\n"), "")
                .replace(&format!(".{origin}."), ""),
            false => t,
        }
    };
    std::fs::write(zones.join("one.db"), text("a.test", "192.0.2.10")).unwrap();
    std::fs::write(zones.join("two.db"), text("b.test", "192.0.2.20")).unwrap();
    let mut p = Proc::start_with(dir.path(), &config("one.db", "two.db"));
    wait_committed(&zones, "one.db");
    wait_committed(&zones, "two.db");
    let signer = py_key(key, "hmac-sha256", SECRET_SHA256);
    // b.test's write committed; a.test's answered from the log alone (a
    // write after a refused commit would be refused: one at a time).
    let mut holder = None;
    for (zone, op) in [
        ("b.test.", "add wb 60 TXT \"B1\""),
        ("a.test.", "add wa 60 TXT \"A1\""),
    ] {
        let r = dnsupdate(
            p.port(),
            &["--key", &signer, "--zone", zone, "--tcp", "--op", op],
        );
        assert!(
            r.len() == 1 && r[0].is_signed_ok(),
            "{zone}: {r:?}\n{}",
            p.log_text()
        );
        if holder.is_none() {
            wait_committed(&zones, "two.db");
            holder = Some(LockHolder::hold(&zones));
        }
    }
    p.kill9();
    drop(holder);
    let (a, b) = (
        git(&zones, &["show", "HEAD:one.db"]),
        git(&zones, &["show", "HEAD:two.db"]),
    );
    std::fs::write(zones.join("one.db"), &b).unwrap();
    std::fs::write(zones.join("two.db"), &a).unwrap();
    let p = Proc::start_with(dir.path(), &config("two.db", "one.db"));
    for (name, want) in [("wa.a.test.", "A1"), ("wb.b.test.", "B1")] {
        assert_eq!(served_txt(p.addr, name), [want], "{name}\n{}", p.log_text());
    }
    for (file, origin, mine, theirs) in [
        ("two.db", "a.test.", "\"A1\"", "\"B1\""),
        ("one.db", "b.test.", "\"B1\"", "\"A1\""),
    ] {
        let on_disk = std::fs::read_to_string(zones.join(file)).unwrap();
        let head = git(&zones, &["show", &format!("HEAD:{file}")]);
        for text in [&on_disk, &head] {
            assert!(
                relative || text.contains(&format!("$ORIGIN {origin}")),
                "{file}:\n{text}"
            );
            assert!(
                text.contains(mine) && !text.contains(theirs),
                "{file}:\n{text}"
            );
        }
    }
    // A swap made on purpose looks like one made by mistake in the
    // config alone: each zone's WARN names the other.
    let log = p.log_text();
    for (zone, other) in [("a.test.", "b.test"), ("b.test.", "a.test")] {
        let warned = log.lines().any(|l| {
            l.contains("WARN")
                && l.contains(&format!("the last write of zone {other} went to"))
                && l.contains(&format!("zone={zone}"))
        });
        assert!(warned, "{zone}:\n{log}");
    }
    for (value, www, file) in [
        ("\"A1\"", "192.0.2.10", "one.db"),
        ("\"B1\"", "192.0.2.20", "two.db"),
    ] {
        // Newest first: the record's own commit is the first to add it.
        let authors = authors_touching(&zones, value);
        assert_eq!(
            authors.last().map(String::as_str),
            Some(key),
            "{value}: {authors:?}"
        );
        // Built on its own zone's version, in the file it was written to.
        let commits = git(&zones, &["log", "--format=%H", "-S", value]);
        let first = commits.lines().last().unwrap_or_default();
        let version = git(&zones, &["show", &format!("{first}:{file}")]);
        assert!(
            version.contains(value) && version.contains(www),
            "{value} committed onto another zone's version of {file}:\n{version}"
        );
    }
}

/// Round 59 (HIGH): the write log holds owner names in presentation form
/// and start-up reads them back with the zone-file parser. They were
/// printed with octal escapes (`\012` for a line feed), which RFC 1035's
/// `\DDD` reads as decimal: after a `kill -9` alone, the key's commit
/// added a name nobody wrote (a line feed and a space came back as a form
/// feed and a `(`), and the take-in then added the real one too (both
/// served for good); a UTF-8 letter (`\303`, over 255) made the record
/// unreadable, its commit named no change, and with the file put back
/// before the restart the write was lost. Now each owner comes back
/// exactly, once, under the key, in its commit's message too.
#[test]
fn logged_owners_with_escapes_are_recovered_exactly() {
    let dir = scratch();
    let zones = dir.path().join("zones");
    let mut p = Proc::start_with(dir.path(), LOG_MODE);
    wait_committed(&zones, ZONE_FILE);
    let holder = LockHolder::hold(&zones);
    // (owner as dnsupdate.py and the zone file spell it, its labels, TXT)
    let odd: [(&str, &[&[u8]], &str); 2] = [
        ("_acme-challenge.a\\010b\\032c", &[b"a\nb c"], "odd-space"),
        (
            "_acme-challenge.caf\\195\\169",
            &[b"caf\xc3\xa9"],
            "odd-utf8",
        ),
    ];
    // Single quotes: dnsupdate.py splits its ops with shlex.
    let ops: Vec<String> = odd
        .iter()
        .map(|(owner, _, v)| format!("add '{owner}' 60 TXT \"{v}\""))
        .collect();
    let ops: Vec<&str> = ops.iter().map(String::as_str).collect();
    let r = py_update(p.port(), &acme_py(), true, &ops);
    assert_eq!(r.rcode, "NOERROR", "{r:?}\n{}", p.log_text());
    eventually("the commit is refused and the write held", || {
        p.log_text().contains("were answered from the write log")
    });
    p.kill9();
    drop(holder);

    let p = Proc::start(dir.path());
    let text = zone_text(&zones);
    let message = git(
        &zones,
        &["log", "-1", "--format=%an%n%B", "-S", "odd-space"],
    );
    assert!(message.starts_with(&format!("{ACME}\n")), "{message}");
    // Round 60: the subject too, not hickory's octal (`\040` for a space).
    let subject = message.lines().nth(1).unwrap_or_default();
    assert!(
        subject.contains("_acme-challenge.a\\010b\\032c.example.com"),
        "{subject}"
    );
    assert!(
        !message.contains("\\012") && !message.contains("\\040"),
        "{message}"
    );
    for (owner, labels, value) in odd {
        let lines: Vec<&str> = text.lines().filter(|l| l.contains(value)).collect();
        assert_eq!(lines.len(), 1, "one record, not two names:\n{text}");
        let line = format!("{owner} 60 IN TXT \"{value}\"");
        assert_eq!(lines[0], line, "{text}");
        assert!(
            message.contains(&format!("+ {owner}.example.com. 60 IN TXT \"{value}\"")),
            "{message}"
        );
        let mut name: Vec<&[u8]> = vec![b"_acme-challenge"];
        name.extend_from_slice(labels);
        name.extend_from_slice(&[b"example", b"com"]);
        let mut q = hickory_proto::op::Message::query();
        q.add_query(hickory_proto::op::Query::query(
            hickory_proto::rr::Name::from_labels(name).unwrap(),
            hickory_proto::rr::RecordType::TXT,
        ));
        let resp = tcp_at(p.addr, &q).expect("TCP answer");
        assert_eq!(txt_values(&resp), [value], "{resp:?}");
    }
    let status = git(&zones, &["status", "--porcelain", "--", ZONE_FILE]);
    assert!(status.is_empty(), "{status}");
}

/// Round 59 (HIGH): a zone's records never go into another zone's file.
/// `b.test` is read from `a.test.zone` (the file name `a.test`'s would
/// have by the naming rule), `a.test` from `a.db`, both of relative
/// names. After a crash with `a.test`'s writes in the log, the person
/// commits `a.db` broken (`git reset --hard`, then a typo): start-up took
/// `a.test.zone`, which parses as `a.test` too, and committed `a.test`'s
/// records into `b.test`'s file under the key, and `b.test`'s take-in
/// removed them again; fixed, `a.test` lacked them. Now `NAME.zone` is a
/// candidate only when no other zone reads it: the records are set aside
/// (ERROR, `writes.log.unapplied`), and `b.test`'s file is left alone.
#[test]
fn logged_writes_never_go_into_another_zone_s_file() {
    let key = "rel-key";
    let grant = "grant = [ { zone = \"a.test\", names = [\"**\"], types = [\"TXT\"] } ]";
    let config = format!(
        "{LOG_MODE}[[zone]]\nname = \"a.test\"\nfile = \"a.db\"\n\
         [[zone]]\nname = \"b.test\"\nfile = \"a.test.zone\"\n\
         [[key]]\nname = \"{key}\"\nalgorithm = \"hmac-sha256\"\n\
         secret = \"{SECRET_SHA256}\"\nrate_limit = \"off\"\n{grant}\n"
    );
    let relative = |www: &str| {
        format!(
            "$TTL 300\n@ IN SOA ns1 hostmaster 1 7200 3600 1209600 300\n\
             \x20 IN NS ns1\nns1 IN A 192.0.2.1\nwww IN A {www}\n"
        )
    };
    let dir = scratch();
    let zones = dir.path().join("zones");
    std::fs::write(zones.join("a.db"), relative("192.0.2.10")).unwrap();
    std::fs::write(zones.join("a.test.zone"), relative("192.0.2.20")).unwrap();
    let mut p = Proc::start_with(dir.path(), &config);
    wait_committed(&zones, "a.db");
    wait_committed(&zones, "a.test.zone");
    let b_file = git(&zones, &["show", "HEAD:a.test.zone"]);
    let holder = LockHolder::hold(&zones);
    // One UPDATE: once its commit is refused, the next write would be
    // refused too (git cannot record writes now).
    let ops = ["add wL1 60 TXT \"L1\"", "add wL2 60 TXT \"L2\""];
    let r = key_update(p.port(), key, "a.test.", true, &ops);
    assert!(r.is_signed_ok(), "{r:?}\n{}", p.log_text());
    p.kill9();
    drop(holder);
    git(&zones, &["reset", "-q", "--hard"]);
    let broken = relative("192.0.2.10").replace("www IN A 192.0.2.10", "www IN A not-an-address");
    std::fs::write(zones.join("a.db"), broken).unwrap();
    person_commit(&zones, "oops", "a.db");

    let p = Proc::start_with(dir.path(), &config);
    // b.test is served (NOERROR, no TXT there), a.test is not (a.db broken).
    assert_eq!(served_txt(p.addr, "www.b.test."), Vec::<String>::new());
    let log = p.log_text();
    assert!(
        authors_touching(&zones, "\"L1\"").is_empty(),
        "a.test's write went into a commit:\n{}",
        git(&zones, &["log", "-p"])
    );
    assert_eq!(
        std::fs::read_to_string(zones.join("a.test.zone")).unwrap(),
        b_file
    );
    assert_eq!(git(&zones, &["show", "HEAD:a.test.zone"]), b_file);
    let aside = std::fs::read_to_string(zones.join(".git/zonewright/writes.log.unapplied"))
        .unwrap_or_default();
    for value in ["L1", "L2"] {
        assert!(
            aside.contains(&format!("\\\"{value}\\\"")),
            "{aside}\n{log}"
        );
    }
    assert!(log.contains("ERROR") && log.contains("set aside"), "{log}");
}

/// Two zones of relative names at the same serial, each with a marker
/// record (`a.test` in `a.db`, `b.test` in `b.db`, `a-key` granted
/// `a.test`), and `a.test`'s write `"L1"` answered from the log, then
/// `kill -9`; `extra` goes into the folder and git first. The folder,
/// the zones, and the config with `a.test` and `b.test` reading `files`.
fn crashed_with_a_logged_write(
    extra: &[(&str, &str)],
) -> (
    tempfile::TempDir,
    PathBuf,
    impl Fn(&str, &str) -> String + use<>,
) {
    let config = |a: &str, b: &str| {
        format!(
            "{LOG_MODE}[[zone]]\nname = \"a.test\"\nfile = \"{a}\"\n\
             [[zone]]\nname = \"b.test\"\nfile = \"{b}\"\n\
             [[key]]\nname = \"a-key\"\nalgorithm = \"hmac-sha256\"\n\
             secret = \"{SECRET_SHA256}\"\nrate_limit = \"off\"\n\
             grant = [ {{ zone = \"a.test\", names = [\"**\"], types = [\"TXT\"] }} ]\n"
        )
    };
    let dir = scratch();
    let zones = dir.path().join("zones");
    for (file, text) in [("a.db", marked("a")), ("b.db", marked("b"))] {
        std::fs::write(zones.join(file), text).unwrap();
    }
    let mut p = Proc::start_with(dir.path(), &config("a.db", "b.db"));
    wait_committed(&zones, "a.db");
    wait_committed(&zones, "b.db");
    for (file, text) in extra {
        std::fs::write(zones.join(file), text).unwrap();
        person_commit(&zones, "a copy", file);
    }
    let holder = LockHolder::hold(&zones);
    let r = key_update(p.port(), "a-key", "a.test.", true, &["add w 60 TXT \"L1\""]);
    assert!(r.is_signed_ok(), "{r:?}\n{}", p.log_text());
    p.kill9();
    drop(holder);
    // The person's commits below come in a later second than the record.
    std::thread::sleep(Duration::from_millis(1100));
    git(&zones, &["reset", "-q", "--hard"]);
    (dir, zones, config)
}

/// A zone of relative names at serial 1 with the marker `who`.
fn marked(who: &str) -> String {
    format!(
        "$TTL 300\n@ IN SOA ns1 hostmaster 1 7200 3600 1209600 300\n\
         \x20 IN NS ns1\nns1 IN A 192.0.2.1\nmarker IN TXT \"only-{who}\"\n"
    )
}

/// The files the key's commit of `"L1"` changed.
fn key_commit_files(zones: &Path) -> Vec<String> {
    let commits = git(
        zones,
        &["log", "--author=a-key", "--format=%H", "-S", "\"L1\""],
    );
    let first = commits.lines().last().unwrap_or_default().to_owned();
    assert!(!first.is_empty(), "no commit of the key");
    git(zones, &["show", "--format=", "--name-only", &first])
        .lines()
        .map(str::to_owned)
        .collect()
}

/// Round 60 (MEDIUM): a byte-identical copy of a zone's file left in git
/// under its `NAME.zone`, read by no zone, took the key's recovered commit
/// when a person had committed an edit of the real file meanwhile. A
/// record that names its file is committed onto that file.
#[test]
fn a_logged_write_is_not_committed_onto_a_leftover_copy() {
    let copy = marked("a");
    let (dir, zones, config) = crashed_with_a_logged_write(&[("a.test.zone", &copy)]);
    let p = edited_as(&dir, &zones, &config, "a.db", 50);
    drop(p);
}

/// `a.test`'s file as it was, its serial set to `serial` and a person's
/// line added, saved as `file`, committed by the person, `a.test` read
/// from it: the key's recovered commit is on `file`, everything served,
/// nothing left uncommitted. The server.
fn edited_as(
    dir: &tempfile::TempDir,
    zones: &Path,
    config: &impl Fn(&str, &str) -> String,
    file: &str,
    serial: u32,
) -> Proc {
    let was = marked("a").replace("hostmaster 1 ", &format!("hostmaster {serial} "));
    std::fs::write(zones.join(file), was + "hand 300 IN TXT \"person\"\n").unwrap();
    person_commit(zones, "person edit", file);
    let p = Proc::start_with(dir.path(), &config(file, "b.db"));
    assert_eq!(key_commit_files(zones), [file], "{}", p.log_text());
    assert_eq!(served_txt(p.addr, "w.a.test."), ["L1"]);
    assert_eq!(served_txt(p.addr, "hand.a.test."), ["person"]);
    let status = git(zones, &["status", "--porcelain"]);
    assert!(status.is_empty(), "{status}");
    p
}

/// Round 60 (MEDIUM): one commit of the person's swapped the two zones'
/// files and edited both while the server was down (the config followed):
/// the key's recovered commit was built on the other zone's version. The
/// version with the most lines in common with the one the record was
/// written on is taken.
#[test]
fn a_logged_write_follows_its_file_through_a_swap_and_edit_commit() {
    let (dir, zones, config) = crashed_with_a_logged_write(&[]);
    let (a, b) = (marked("a"), marked("b"));
    std::fs::write(
        zones.join("a.db"),
        format!("{b}handb 300 IN TXT \"person-b\"\n"),
    )
    .unwrap();
    std::fs::write(
        zones.join("b.db"),
        format!("{a}handa 300 IN TXT \"person-a\"\n"),
    )
    .unwrap();
    person_commit(&zones, "swap and edit", "a.db b.db");
    let p = Proc::start_with(dir.path(), &config("b.db", "a.db"));
    assert_eq!(key_commit_files(&zones), ["b.db"], "{}", p.log_text());
    assert_eq!(served_txt(p.addr, "w.a.test."), ["L1"]);
    assert!(served_txt(p.addr, "w.b.test.").is_empty());
    assert_eq!(served_txt(p.addr, "marker.a.test."), ["only-a"]);
    assert_eq!(served_txt(p.addr, "marker.b.test."), ["only-b"]);
}

/// Round 61 (HIGH): the zone's file copied (`cp`, not `git mv`), the copy
/// edited and configured while the server was down: the key's recovered
/// commit went onto the old file, which no zone reads any more (a file
/// left behind ranks below the others now).
#[test]
fn a_logged_write_is_not_committed_onto_a_file_left_behind() {
    let (dir, zones, config) = crashed_with_a_logged_write(&[]);
    let p = edited_as(&dir, &zones, &config, "a2.db", 7);
    assert!(
        zones.join("a.db").is_file(),
        "the old file is left as it was"
    );
    drop(p);
}

/// `git add FILES` (space-separated) and `git commit -m message`, by a person.
fn person_commit(zones: &Path, message: &str, files: &str) {
    let mut add = vec!["add"];
    add.extend(files.split(' '));
    git(zones, &add);
    git(
        zones,
        &[
            "-c",
            "user.name=person",
            "-c",
            "user.email=p@test",
            "commit",
            "-q",
            "-m",
            message,
        ],
    );
}
