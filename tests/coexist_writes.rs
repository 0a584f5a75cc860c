//! Writers beside zonewright (third outside attack, issue 12): a program
//! that writes a zone file in pieces, a person's edit next to an
//! `$INCLUDE` from `include_dirs`, and an UPDATE that would change an
//! included file. Each is attacked over a real socket with a signed UPDATE
//! (dnspython) against the in-process server; git is read with the git
//! CLI.
//!
//! - A file being written (another process has it open for writing) is not
//!   read half-written: the UPDATE waits until the writer is done, so
//!   nothing the writer wrote is lost and nothing of theirs lands in the
//!   key's commit.
//! - An edit of a zone that includes a file from `include_dirs` is
//!   committed as `external change` (the included file, outside the
//!   repository, is left out), never inside the next writer's commit.
//! - A change that would edit the included file is refused (SERVFAIL)
//!   before anything is written: the included file, the zone file and git
//!   are unchanged, and the record is still served.

mod common;

use std::process::{Child, Command, Stdio};
use std::time::Duration;

use common::TestServer;
use common::update::*;

/// A shell that writes `text` to `file` in two pieces, `pause` apart,
/// through one open file (as `{ a; sleep; b; } > file` does). Waited for
/// (bounded) on drop.
struct PieceWriter(Child);

impl PieceWriter {
    fn start(file: &std::path::Path, first: &str, rest: &str, pause: Duration) -> PieceWriter {
        let script = format!(
            "{{ printf '%s' \"$1\"; sleep {}; printf '%s' \"$2\"; }} > \"$3\"",
            pause.as_secs_f64()
        );
        let child = Command::new("sh")
            .arg("-c")
            .arg(script)
            .arg("sh")
            .arg(first)
            .arg(rest)
            .arg(file)
            .stdin(Stdio::null())
            .spawn()
            .unwrap();
        PieceWriter(child)
    }

    fn wait(mut self) {
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        while std::time::Instant::now() < deadline {
            if let Ok(Some(st)) = self.0.try_wait() {
                assert!(st.success(), "writer failed: {st}");
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        panic!("the writer did not end within 10 s");
    }
}

impl Drop for PieceWriter {
    fn drop(&mut self) {
        if let Ok(None) = self.0.try_wait() {
            let _ = self.0.kill();
        }
        let _ = self.0.wait();
    }
}

#[test]
fn a_zone_file_written_in_pieces_is_read_whole_before_an_update() {
    let s = start();
    let zones = s.zones_dir();
    let file = zones.join(ZONE_FILE);
    let base = fixture_zone();
    // The first 12 lines are a valid zone by themselves (SOA and NS).
    let cut = base
        .match_indices('\n')
        .nth(11)
        .map(|(i, _)| i + 1)
        .unwrap();
    let (first, rest) = base.split_at(cut);
    let rest = format!("{rest}handmade 300 IN A 192.0.2.99\n");
    let writer = PieceWriter::start(&file, first, &rest, Duration::from_millis(1500));
    std::thread::sleep(Duration::from_millis(300));
    let before = commit_count(&zones);
    py_ok(
        s.addr.port(),
        &["add _acme-challenge 60 TXT \"during-the-write\""],
    );
    writer.wait();
    let text = zone_text(&zones);
    for line in base.lines().filter(|l| l.contains(" IN ")) {
        assert!(text.contains(line), "{line:?} lost:\n{text}");
    }
    assert!(text.contains("handmade 300 IN A 192.0.2.99"), "{text}");
    assert!(text.contains("during-the-write"), "{text}");
    assert_eq!(
        dig_short(s.addr.port(), "www.example.com", "A", false),
        vec!["192.0.2.80"]
    );
    // The person's edit as theirs, then the key's change alone.
    assert_eq!(commit_count(&zones), before + 2);
    let edit = commit(&zones, "HEAD~1");
    assert_eq!(edit.author_name, "zonewright");
    assert!(edit.subject.contains("external change"), "{edit:?}");
    let key = commit(&zones, "HEAD");
    assert_eq!(key.author_name, ACME);
    let (_, added) = diff_lines(&zones, "HEAD", ZONE_FILE);
    assert!(
        added.iter().all(|l| !l.contains("handmade")),
        "the person's record is in the key's commit: {added:?}"
    );
    assert!(git(&zones, &["status", "--porcelain"]).trim().is_empty());
}

/// The fixture zone with `$INCLUDE` of `inc` (an absolute path) at the end.
fn zone_with_include(inc: &std::path::Path) -> String {
    format!("{}$INCLUDE {}\n", fixture_zone(), inc.display())
}

fn start_with_include(shared: &std::path::Path, inc: &std::path::Path) -> TestServer {
    let extra = format!(
        "[server]\nudp_workers = 2\ninclude_dirs = [\"{}\"]\n{}",
        shared.display(),
        update_config()
    );
    let s = TestServer::start(&[(ZONE_FILE, &zone_with_include(inc))], &extra);
    wait_committed(&s.zones_dir(), ZONE_FILE);
    s
}

#[test]
fn a_hand_edit_beside_an_include_is_committed_as_theirs() {
    let shared = tempfile::tempdir().unwrap();
    let inc = shared.path().join("hosts.inc");
    std::fs::write(&inc, "included 300 IN A 192.0.2.50\n").unwrap();
    let s = start_with_include(shared.path(), &inc);
    let zones = s.zones_dir();
    let file = zones.join(ZONE_FILE);
    let mut text = std::fs::read_to_string(&file).unwrap();
    text = text.replace("; the end", "handmade 60 IN A 192.0.2.66\n; the end");
    std::fs::write(&file, text).unwrap();
    let before = commit_count(&zones);
    py_ok(
        s.addr.port(),
        &["add _acme-challenge 60 TXT \"after-edit\""],
    );
    assert_eq!(
        commit_count(&zones),
        before + 2,
        "{}",
        git(&zones, &["log", "--stat"])
    );
    let edit = commit(&zones, "HEAD~1");
    assert!(edit.subject.contains("external change"), "{edit:?}");
    let (_, edit_added) = diff_lines(&zones, "HEAD~1", ZONE_FILE);
    assert!(
        edit_added.iter().any(|l| l.contains("handmade")),
        "{edit_added:?}"
    );
    let (_, key_added) = diff_lines(&zones, "HEAD", ZONE_FILE);
    assert_eq!(commit(&zones, "HEAD").author_name, ACME);
    assert!(
        key_added.iter().all(|l| !l.contains("handmade")),
        "the person's record is in the key's commit: {key_added:?}"
    );
    assert_eq!(
        std::fs::read_to_string(&inc).unwrap(),
        "included 300 IN A 192.0.2.50\n"
    );
}

#[test]
fn a_change_to_an_included_file_is_refused_before_anything_is_written() {
    let shared = tempfile::tempdir().unwrap();
    let inc = shared.path().join("acme.inc");
    let included = "_acme-challenge 60 IN TXT \"in-include\"\n";
    std::fs::write(&inc, included).unwrap();
    let s = start_with_include(shared.path(), &inc);
    let zones = s.zones_dir();
    let zone_before = zone_text(&zones);
    let before = commit_count(&zones);
    let r = py_update(
        s.addr.port(),
        &acme_py(),
        false,
        &["delete _acme-challenge TXT \"in-include\""],
    );
    assert_eq!(r.rcode, "SERVFAIL", "{r:?}");
    assert_eq!(std::fs::read_to_string(&inc).unwrap(), included);
    assert_eq!(zone_text(&zones), zone_before);
    assert_eq!(commit_count(&zones), before);
    assert_eq!(
        dig_short(s.addr.port(), "_acme-challenge.example.com", "TXT", false),
        vec!["\"in-include\""]
    );
    // A change to the zone's own file still works.
    py_ok(
        s.addr.port(),
        &["add _acme-challenge.www 60 TXT \"own-file\""],
    );
    assert_eq!(std::fs::read_to_string(&inc).unwrap(), included);
}
