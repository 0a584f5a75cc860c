//! Git lock files left by a crash (issue 12 item 2): a `refs/heads/*.lock`
//! or `index.lock` that no process holds is removed (with a WARN) at
//! start-up and when a commit fails, so writes are committed again; a
//! lock a live process holds is never touched. Real server, real UPDATEs
//! (dnspython), the git CLI to look.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::update::*;

/// The lock file of the branch HEAD points at.
fn branch_lock(zones: &Path) -> PathBuf {
    let head = std::fs::read_to_string(zones.join(".git/HEAD")).unwrap();
    let r = head.trim().strip_prefix("ref: ").unwrap().to_string();
    zones.join(".git").join(format!("{r}.lock"))
}

/// A lock file as a crash leaves it: there, closed, and a minute old.
fn leave_stale(lock: &Path) {
    std::fs::write(lock, "0000000000000000000000000000000000000000\n").unwrap();
    let st = Command::new("touch")
        .args(["-d", "1 minute ago"])
        .arg(lock)
        .status()
        .unwrap();
    assert!(st.success());
}

/// A child process, killed (by its PID) and reaped on drop.
struct Running(Child);

impl Running {
    /// Spawns `cmd`, then waits (at most 5 s) until `ready` holds for its
    /// `/proc/PID` folder.
    fn start(cmd: &mut Command, ready: impl Fn(&Path) -> bool) -> Running {
        let child = cmd.stdin(Stdio::piped()).spawn().unwrap();
        let proc_dir = PathBuf::from(format!("/proc/{}", child.id()));
        let deadline = Instant::now() + Duration::from_secs(5);
        while !ready(&proc_dir) && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(20));
        }
        Running(child)
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// A process that holds `lock` open (as git does while it writes one).
fn hold_open(lock: &Path) -> Running {
    leave_stale(lock);
    Running::start(
        Command::new("sh")
            .arg("-c")
            .arg("exec 3<>\"$1\"; exec sleep 60")
            .arg("sh")
            .arg(lock),
        |p| p.join("fd/3").exists(),
    )
}

/// A `git` process working in `dir` (its current folder): `git cat-file
/// --batch` waiting on its input, as a person's git would be mid-command.
fn git_at(dir: &Path) -> Running {
    Running::start(
        Command::new("git")
            .args(["cat-file", "--batch"])
            .current_dir(dir)
            .stdout(Stdio::null()),
        |p| std::fs::read_to_string(p.join("comm")).is_ok_and(|c| c.trim() == "git"),
    )
}

fn add(port: u16, token: &str) {
    py_ok(port, &[&format!("add _acme-challenge 60 TXT \"{token}\"")]);
}

#[test]
fn a_stale_branch_lock_left_by_a_crash_is_removed_when_a_commit_fails() {
    let s = start();
    let zones = s.zones_dir();
    let lock = branch_lock(&zones);
    leave_stale(&lock);
    let before = commit_count(&zones);
    add(s.addr.port(), "after-the-crash");
    assert!(!lock.exists(), "the stale lock is still there");
    assert_eq!(
        commit_count(&zones),
        before + 1,
        "the write was not committed"
    );
    let last = commit(&zones, "HEAD");
    assert_eq!(last.author_name, ACME);
}

#[test]
fn stale_locks_are_removed_at_start_up() {
    let s = start();
    let zones = s.zones_dir();
    let branch = branch_lock(&zones);
    let index = zones.join(".git/index.lock");
    // As after a kill -9 in the middle of a commit.
    leave_stale(&branch);
    leave_stale(&index);
    let s = s.restart();
    assert!(
        !branch.exists() && !index.exists(),
        "stale locks survived a restart"
    );
    let before = commit_count(&zones);
    add(s.addr.port(), "after-restart");
    assert_eq!(commit_count(&zones), before + 1);
    assert!(git(&zones, &["status", "--porcelain"]).trim().is_empty());
}

/// A `kill -9` mid-commit and an immediate restart: the lock is a moment
/// old, nobody holds it, and the restart's first write must be committed.
#[test]
fn a_young_lock_of_a_killed_server_is_removed_at_a_quick_restart() {
    let s = start();
    let zones = s.zones_dir();
    let branch = branch_lock(&zones);
    let index = zones.join(".git/index.lock");
    let s = s.restart_prepared(|_| {
        std::fs::write(&branch, "0000000000000000000000000000000000000000\n").unwrap();
        std::fs::write(&index, "DIRC").unwrap();
    });
    assert!(
        !branch.exists() && !index.exists(),
        "young stale locks survived a restart"
    );
    let before = commit_count(&zones);
    add(s.addr.port(), "after-quick-restart");
    assert_eq!(commit_count(&zones), before + 1);
    assert_eq!(commit(&zones, "HEAD").author_name, ACME);
}

/// `git commit` closes `index.lock` while the editor is open and renames
/// it afterwards: with a git process working in the repository, an unheld
/// young lock may be its, and is left alone (the write is refused, never
/// acknowledged uncommitted); once that process is gone, it is removed.
#[test]
fn a_young_lock_is_kept_while_a_git_process_works_in_the_repository() {
    let s = start();
    let zones = s.zones_dir();
    let lock = branch_lock(&zones);
    std::fs::write(&lock, "0000000000000000000000000000000000000000\n").unwrap();
    let person = git_at(&zones);
    let before = commit_count(&zones);
    let r = py_update(
        s.addr.port(),
        &acme_py(),
        false,
        &["add _acme-challenge 60 TXT \"while-git-runs\""],
    );
    assert_eq!(r.rcode, "SERVFAIL", "{r:?}");
    assert!(
        lock.exists(),
        "the lock of a git process at work was removed"
    );
    assert_eq!(commit_count(&zones), before);
    drop(person);
    add(s.addr.port(), "after-git-ended");
    assert!(!lock.exists(), "the stale lock is still there");
    let text = git(&zones, &["show", "HEAD:example.com.zone"]);
    assert!(text.contains("after-git-ended"), "{text}");
    assert!(!text.contains("while-git-runs"), "{text}");
}

#[test]
fn a_lock_a_live_process_holds_is_never_removed() {
    let s = start();
    let zones = s.zones_dir();
    let lock = branch_lock(&zones);
    let holder = hold_open(&lock);
    let before = commit_count(&zones);
    // The lock is not ours to remove, so the commit cannot be made: the
    // write is answered SERVFAIL and rolled back, never NOERROR.
    let r = py_update(
        s.addr.port(),
        &acme_py(),
        false,
        &["add _acme-challenge 60 TXT \"while-held\""],
    );
    assert_eq!(r.rcode, "SERVFAIL", "{r:?}");
    assert!(lock.exists(), "a lock held by a live process was removed");
    assert_eq!(commit_count(&zones), before);
    let file = std::fs::read_to_string(zones.join(ZONE_FILE)).unwrap();
    assert!(!file.contains("while-held"), "rolled back: {file}");
    assert!(dig_short(s.addr.port(), ACME_NAME, "TXT", false).is_empty());
    drop(holder);
    std::fs::remove_file(&lock).unwrap();
    // Released: the next write is committed.
    add(s.addr.port(), "after-release");
    // The rollback's own commit failed too if it was tried while the lock
    // was held (its serial step then rides with the next commit).
    let made = commit_count(&zones) - before;
    assert!(made == 1 || made == 2, "{made} commits");
    assert_eq!(commit(&zones, "HEAD").author_name, ACME);
    let text = git(&zones, &["show", "HEAD:example.com.zone"]);
    assert!(text.contains("after-release"), "{text}");
    assert!(!text.contains("while-held"), "{text}");
}

/// Third outside attack: while a lock another process holds fails every
/// commit, a person saves an edit (by rename), an UPDATE fails (SERVFAIL)
/// and its rollback cannot be committed either. Once the lock is gone, the
/// next writer's commit must hold only its own change: the edit is
/// recorded by the server (the rollback's commit) before it, never under
/// the writer's key.
#[test]
fn a_hand_edit_and_a_failed_rollback_are_not_committed_under_the_next_writer() {
    let s = start();
    let zones = s.zones_dir();
    let lock = branch_lock(&zones);
    let holder = hold_open(&lock);
    let file = zones.join(ZONE_FILE);
    let text = std::fs::read_to_string(&file).unwrap();
    let tmp = zones.join(".hand-edit.tmp");
    std::fs::write(&tmp, format!("{text}hand-made 300 IN A 192.0.2.203\n")).unwrap();
    std::fs::rename(&tmp, &file).unwrap();
    let r = py_update(
        s.addr.port(),
        &acme_py(),
        false,
        &["add _acme-challenge 60 TXT \"while-held\""],
    );
    assert_eq!(r.rcode, "SERVFAIL", "{r:?}");
    drop(holder);
    std::fs::remove_file(&lock).unwrap();
    let other = py_key("lego-key", "hmac-sha1", SECRET_SHA1);
    let r = py_update(
        s.addr.port(),
        &other,
        false,
        &["add _acme-challenge 60 TXT \"after-release\""],
    );
    assert!(r.is_signed_ok(), "{r:?}");
    let head = commit(&zones, "HEAD");
    assert_eq!(head.author_name, "lego-key");
    let (_, added) = diff_lines(&zones, "HEAD", ZONE_FILE);
    assert!(
        added.iter().all(|l| !l.contains("hand-made")),
        "the person's record is in the writer's commit: {added:?}"
    );
    let log = git(&zones, &["log", "--format=%an %s", "-S", "hand-made"]);
    assert!(
        log.lines().all(|l| l.starts_with("zonewright ")),
        "the hand edit is recorded under a key: {log}"
    );
    assert!(!log.trim().is_empty(), "the hand edit is not in git");
    let served = std::fs::read_to_string(&file).unwrap();
    assert!(
        served.contains("hand-made") && !served.contains("while-held"),
        "{served}"
    );
}

/// A person's `git add notes.txt && git commit` (the zone files' index
/// entries as they are).
fn person_commits_notes(zones: &Path, text: &str) {
    std::fs::write(zones.join("notes.txt"), text).unwrap();
    git(zones, &["add", "notes.txt"]);
    let who = ["-c", "user.name=P", "-c", "user.email=p@x"];
    git(zones, &[&who[..], &["commit", "-qm", "notes"]].concat());
}

/// A server over the fixture zone answering writes after `ack`
/// (`[git] acknowledge`), its zone file committed; and its zones folder.
fn started_acknowledging(ack: &str) -> (common::TestServer, PathBuf) {
    let config = update_config_with(&format!("acknowledge = \"{ack}\"\n"));
    let s = common::TestServer::start(&[(ZONE_FILE, &fixture_zone())], &config);
    let zones = s.zones_dir();
    wait_committed(&zones, ZONE_FILE);
    (s, zones)
}

/// Outside attack, round 35 (MEDIUM) and round 38 (HIGH): the branch
/// lost a version of the zone file that the file still holds, and the
/// next writer's commit took its records under the writer's key. The
/// branch moved back (`git reset --soft HEAD~1`); a person's `git commit`
/// of another file took the zone file's stale index entry (an older
/// version); the lost commit and its blob pruned (`git gc --prune=now`).
/// Now the server first records the version again, as its own `external
/// change` naming the commit that had recorded it; the writer's commit
/// holds only its own change. Both ways of answering.
#[test]
fn a_version_the_branch_lost_is_never_given_to_the_next_writer() {
    let other = py_key("bind-key", "hmac-sha512", common::update::SECRET_SHA512);
    for ack in ["commit", "log"] {
        let (s, zones) = started_acknowledging(ack);
        let port = s.addr.port();
        // One write with `key`, and its commit once made (log mode: in
        // the background).
        let write = |key: &str, token: &str| {
            let r = py_update(
                port,
                key,
                false,
                &[&format!("add _acme-challenge 60 TXT \"{token}\"")],
            );
            assert!(r.is_signed_ok(), "{ack} {token}: {r:?}");
            let deadline = Instant::now() + Duration::from_secs(10);
            while !commit(&zones, "HEAD").message.contains(token) {
                assert!(Instant::now() < deadline, "{ack}: {token} committed");
                std::thread::sleep(Duration::from_millis(50));
            }
            commit(&zones, "HEAD")
        };
        // `mine` (by `author`) adds only `token`; before it, the server's
        // commit records again the version `lost` had recorded, which
        // holds `was_lost`.
        let check = |mine: &Commit, author: &str, token: &str, lost: &Commit, was_lost: &str| {
            assert_eq!(mine.author_name, author, "{ack}: {mine:?}");
            let (_, added) = diff_lines(&zones, &mine.id, ZONE_FILE);
            assert!(added.iter().any(|l| l.contains(token)), "{ack}: {added:?}");
            assert!(
                !added.iter().any(|l| l.contains(was_lost)),
                "{ack}: {was_lost} under {author}: {added:?}"
            );
            let again = commit(&zones, &format!("{}~1", mine.id));
            assert_eq!(again.author_name, "zonewright", "{ack}: {again:?}");
            assert_eq!(
                again.trailer("Via").as_deref(),
                Some("external"),
                "{again:?}"
            );
            assert_eq!(
                again.trailer("Restores"),
                Some(format!("{} {ZONE_FILE}", lost.id)),
                "{ack}: {again:?}"
            );
            let (_, added) = diff_lines(&zones, &again.id, ZONE_FILE);
            assert!(
                added.iter().any(|l| l.contains(was_lost)),
                "{ack}: {added:?}"
            );
            assert_eq!(file_status(&zones, ZONE_FILE), "", "{ack}");
        };

        // 1. The branch moved back.
        let lost = write(&acme_py(), "first-by-acme");
        git(&zones, &["reset", "-q", "--soft", "HEAD~1"]);
        let mine = write(&other, "second-by-bind");
        check(&mine, "bind-key", "second-by-bind", &lost, "first-by-acme");
        assert_eq!(commit(&zones, &lost.id).author_name, "acme-key");

        // 2. A person's commit of another file took an older index entry
        // for the zone file (the server writes the index when idle).
        let lost = write(&acme_py(), "third-by-acme");
        let older = git(
            &zones,
            &["rev-parse", &format!("{}~1:{ZONE_FILE}", lost.id)],
        );
        git(
            &zones,
            &[
                "update-index",
                "--cacheinfo",
                &format!("100644,{},{ZONE_FILE}", older.trim()),
            ],
        );
        person_commits_notes(&zones, "hand-made\n");
        let mine = write(&other, "fourth-by-bind");
        check(&mine, "bind-key", "fourth-by-bind", &lost, "third-by-acme");

        // 3. The lost commit and its blob pruned.
        let lost = write(&acme_py(), "fifth-by-acme");
        let blob = git(&zones, &["rev-parse", &format!("{}:{ZONE_FILE}", lost.id)]);
        git(&zones, &["reset", "-q", "HEAD~1"]);
        git(&zones, &["reflog", "expire", "--expire=now", "--all"]);
        git(&zones, &["gc", "-q", "--prune=now"]);
        assert!(
            !git_try(&zones, &["cat-file", "-e", blob.trim()])
                .status
                .success()
        );
        let mine = write(&other, "sixth-by-bind");
        check(&mine, "bind-key", "sixth-by-bind", &lost, "fifth-by-acme");
        git(&zones, &["fsck", "--no-progress"]);

        // Everything served and on the branch.
        let served = served_txt(s.addr, "_acme-challenge.example.com.");
        let tokens = [
            "first-by-acme",
            "second-by-bind",
            "third-by-acme",
            "fourth-by-bind",
        ];
        for token in tokens.iter().chain(&["fifth-by-acme", "sixth-by-bind"]) {
            assert!(
                served.iter().any(|t| t.contains(token)),
                "{ack}: {served:?}"
            );
        }

        // A branch that went forward (a person's commit, the index
        // current) loses nothing: no commit of the server's before the
        // next write's.
        person_commits_notes(&zones, "more\n");
        let before = commit(&zones, "HEAD").id;
        let mine = write(&acme_py(), "seventh-by-acme");
        assert_eq!(
            commit(&zones, &format!("{}~1", mine.id)).id,
            before,
            "{ack}"
        );

        // Round 39 (HIGH): a person's own edit of the zone file (serial
        // raised, a record added), committed by hand: the server takes it
        // in with nothing to commit, and the next write is built on it,
        // not on the server's last version (which reverted the person's
        // commit and gave their record to the key).
        let file = zones.join(ZONE_FILE);
        let text = std::fs::read_to_string(&file).unwrap();
        let serial = served_serial(s.addr);
        let raised = text.replacen(&serial.to_string(), &(serial + 1).to_string(), 1);
        std::fs::write(&file, format!("{raised}personrec 300 IN A 192.0.2.99\n")).unwrap();
        let who = ["-c", "user.name=P", "-c", "user.email=p@x"];
        git(&zones, &[&who[..], &["commit", "-qam", "mine"]].concat());
        let theirs = commit(&zones, "HEAD").id;
        let deadline = Instant::now() + Duration::from_secs(10);
        while served_serial(s.addr) != serial + 1 {
            assert!(Instant::now() < deadline, "{ack}: the edit served");
            std::thread::sleep(Duration::from_millis(50));
        }
        let mine = write(&other, "eighth-by-bind");
        let parent = commit(&zones, &format!("{}~1", mine.id)).id;
        assert_eq!(parent, theirs, "{ack}: no restore");
        let (removed, added) = diff_lines(&zones, &mine.id, ZONE_FILE);
        assert!(
            !added.iter().any(|l| l.contains("personrec")),
            "{ack}: {added:?}"
        );
        assert!(
            !removed.iter().any(|l| l.contains("personrec")),
            "{ack}: {removed:?}"
        );
    }
}

/// Round 35 (LOW): HEAD taken off its branch while no write came was
/// visible only on `/ready`; the first write then failed. Now the idle
/// committer looks every second: one ERROR when it happens, one INFO when
/// the branch is checked out again, and no write is needed for either.
#[test]
fn head_leaving_the_branch_is_logged_without_a_write() {
    let dir = scratch();
    let p = Proc::start(dir.path());
    let zones = dir.path().join("zones");
    wait_committed(&zones, ZONE_FILE);
    let wait_log = |what: &str| {
        let deadline = Instant::now() + Duration::from_secs(10);
        while !p.log_text().contains(what) {
            assert!(
                Instant::now() < deadline,
                "{what:?} within 10 s:\n{}",
                p.log_text()
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    };
    let branch = git(&zones, &["symbolic-ref", "--short", "HEAD"]);
    git(&zones, &["checkout", "-q", "--detach"]);
    wait_log("ERROR");
    let log = p.log_text();
    assert!(log.contains("detached"), "{log}");
    assert!(
        log.contains("git -C"),
        "names the command that ends it: {log}"
    );
    git(&zones, &["switch", "-q", branch.trim()]);
    wait_log("usable again");
    // Logged once each, not once a second.
    std::thread::sleep(Duration::from_millis(2500));
    assert_eq!(p.log_text().matches("ERROR").count(), 1, "{}", p.log_text());
    // And writes go through again.
    add(p.port(), "after-the-switch");
}

/// Left open last session: a write answered and committed, then the
/// branch moved back past its commit (`git reset --soft HEAD~1`) with no
/// write after it, stayed off the branch until the zone's next write or a
/// restart. The idle committer now records the version again within a
/// second or two, as the server's `external change` naming the commit that
/// had it; a person's own revert of the file is not recorded over.
#[test]
fn a_write_the_branch_lost_is_recorded_again_without_another_write() {
    for ack in ["commit", "log"] {
        let (s, zones) = started_acknowledging(ack);
        let port = s.addr.port();
        let at_head = |rev: &str| git(&zones, &["show", &format!("{rev}:{ZONE_FILE}")]);
        let wait_head = |token: &str, present: bool| {
            let deadline = Instant::now() + Duration::from_secs(10);
            while at_head("HEAD").contains(token) != present {
                assert!(
                    Instant::now() < deadline,
                    "{ack}: {token} on the branch: {present}"
                );
                std::thread::sleep(Duration::from_millis(50));
            }
        };
        py_ok(port, &["add _acme-challenge 60 TXT \"idle-1\""]);
        wait_head("idle-1", true);
        let lost = commit(&zones, "HEAD");
        git(&zones, &["reset", "-q", "--soft", "HEAD~1"]);
        wait_head("idle-1", true);
        let again = commit(&zones, "HEAD");
        assert_eq!(again.author_name, "zonewright", "{ack}: {again:?}");
        assert_eq!(again.trailer("Via").as_deref(), Some("external"));
        assert_eq!(
            again.trailer("Restores"),
            Some(format!("{} {ZONE_FILE}", lost.id)),
            "{ack}: {again:?}"
        );
        assert_eq!(
            commit(&zones, "HEAD~1").id,
            commit(&zones, &format!("{}~1", lost.id)).id,
            "{ack}: made on the tip the branch was moved to"
        );
        assert_eq!(file_status(&zones, ZONE_FILE), "", "{ack}");

        // A person's revert of the file to that earlier version, committed
        // by them, stands: the file no longer holds the version recorded.
        py_ok(port, &["add _acme-challenge 60 TXT \"idle-2\""]);
        wait_head("idle-2", true);
        git(&zones, &["checkout", "-q", "HEAD~1", "--", ZONE_FILE]);
        git_commit_all(&zones, "a person's revert");
        let reverted = commit(&zones, "HEAD");
        std::thread::sleep(Duration::from_secs(3));
        let since = format!("{}..HEAD", reverted.id);
        let log = git(&zones, &["log", "--format=%B", &since]);
        assert!(
            !log.contains("Restores:"),
            "{ack}: the person's revert recorded over:\n{log}"
        );
    }
}

/// Round 41 (HIGH, MEDIUM): the branch moved back to the version the
/// server started with (a repository a person had committed, so no
/// commit of the server's came first), at once after the write's
/// commit. That version was not known as one the server had recorded,
/// so nothing was restored, and the next key's commit held the lost
/// record under its own name; a move back within a second of a write
/// was not looked at again either. Both ways of answering.
#[test]
fn a_move_back_to_the_start_up_version_at_once_is_restored() {
    let other = py_key("bind-key", "hmac-sha512", common::update::SECRET_SHA512);
    for ack in ["commit", "log"] {
        let dir = scratch();
        let zones = dir.path().join("zones");
        git(&zones, &["init", "-q"]);
        // A first commit without the zone file, then one with it.
        std::fs::write(zones.join("notes.txt"), "notes\n").unwrap();
        git(&zones, &["add", "notes.txt"]);
        git_commit_staged(&zones, "notes");
        let no_file = commit(&zones, "HEAD").id;
        git_commit_all(&zones, "a person's first commit");
        let started = commit(&zones, "HEAD").id;
        let p = Proc::start_with(dir.path(), &format!("acknowledge = \"{ack}\"\n"));
        // Empty while the branch has no such file.
        let at_head = || {
            let o = git_try(&zones, &["show", &format!("HEAD:{ZONE_FILE}")]);
            String::from_utf8_lossy(&o.stdout).into_owned()
        };
        let wait_head = |token: &str| {
            let deadline = Instant::now() + Duration::from_secs(10);
            while !at_head().contains(token) {
                assert!(
                    Instant::now() < deadline,
                    "{ack}: {token} on the branch:\n{}",
                    p.log_text()
                );
                std::thread::sleep(Duration::from_millis(50));
            }
        };
        py_ok(p.port(), &["add _acme-challenge 60 TXT \"start-1\""]);
        wait_head("start-1");
        let lost = commit(&zones, "HEAD");
        let branch = git(&zones, &["symbolic-ref", "HEAD"]);
        git(&zones, &["update-ref", branch.trim(), &started]);
        wait_head("start-1");
        let again = commit(&zones, "HEAD");
        assert_eq!(again.author_name, "zonewright", "{ack}: {again:?}");
        assert_eq!(
            again.trailer("Restores"),
            Some(format!("{} {ZONE_FILE}", lost.id)),
            "{ack}: {again:?}"
        );
        let r = py_update(
            p.port(),
            &other,
            false,
            &["add _acme-challenge 60 TXT \"start-2\""],
        );
        assert!(r.is_signed_ok(), "{ack}: {r:?}");
        wait_head("start-2");
        let mine = commit(&zones, "HEAD");
        let (_, added) = diff_lines(&zones, &mine.id, ZONE_FILE);
        assert!(
            !added.iter().any(|l| l.contains("start-1")),
            "{ack}: start-1 under {}: {added:?}",
            mine.author_name
        );

        // Round 42 (HIGH): moved back to before the file was committed at
        // all. The file is recorded again; the next writer's commit holds
        // only its own record, not the whole file.
        git(&zones, &["update-ref", branch.trim(), &no_file]);
        wait_head("start-2");
        let again = commit(&zones, "HEAD");
        assert_eq!(again.author_name, "zonewright", "{ack}: {again:?}");
        assert!(again.trailer("Restores").is_some(), "{ack}: {again:?}");
        py_ok(p.port(), &["add _acme-challenge 60 TXT \"start-3\""]);
        wait_head("start-3");
        let (_, added) = diff_lines(&zones, "HEAD", ZONE_FILE);
        assert_eq!(
            added.len(),
            2,
            "{ack}: the record and the serial: {added:?}"
        );
    }
}

/// Round 43 (HIGH): zone files the server last recorded in its start-up
/// commit of many zones, with no write since. That commit forgot what the
/// server had recorded and noted nothing, so a branch moved back to before
/// it (or the file untracked with `git rm --cached`) was not restored, and
/// the next key's commit added the whole file under the key's name. The
/// files served are now noted at start-up.
#[test]
fn files_last_recorded_at_start_up_are_restored_and_never_given_to_a_writer() {
    let dir = scratch();
    let zones = dir.path().join("zones");
    std::fs::write(
        zones.join("example.net.zone"),
        common::simple_zone("example.net", 2026010101, "192.0.2.80"),
    )
    .unwrap();
    git(&zones, &["init", "-q"]);
    std::fs::write(zones.join("notes.txt"), "notes\n").unwrap();
    git(&zones, &["add", "notes.txt"]);
    git_commit_staged(&zones, "notes");
    let no_file = commit(&zones, "HEAD").id;
    let p = Proc::start(dir.path());
    wait_committed(&zones, ZONE_FILE);
    let branch = git(&zones, &["symbolic-ref", "HEAD"]);
    let on_branch = || {
        git_try(&zones, &["cat-file", "-e", &format!("HEAD:{ZONE_FILE}")])
            .status
            .success()
    };
    let wait_on_branch = |what: &str| {
        let deadline = Instant::now() + Duration::from_secs(10);
        while !on_branch() {
            assert!(
                Instant::now() < deadline,
                "{what}: not recorded again:\n{}",
                p.log_text()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    };
    let write_alone = |token: &str| {
        py_ok(
            p.port(),
            &[&format!("add _acme-challenge 60 TXT \"{token}\"")],
        );
        let deadline = Instant::now() + Duration::from_secs(10);
        while !commit(&zones, "HEAD").message.contains(token) {
            assert!(Instant::now() < deadline, "{token} committed");
            std::thread::sleep(Duration::from_millis(50));
        }
        let (_, added) = diff_lines(&zones, "HEAD", ZONE_FILE);
        assert_eq!(
            added.len(),
            2,
            "{token}: the record and the serial: {added:?}"
        );
    };
    // 1. Moved back to before the start-up commit.
    git(&zones, &["update-ref", branch.trim(), &no_file]);
    wait_on_branch("moved back");
    let again = commit(&zones, "HEAD");
    assert_eq!(again.author_name, "zonewright", "{again:?}");
    assert!(again.trailer("Restores").is_some(), "{again:?}");
    write_alone("after-move");
    // 2. Untracked by a person.
    git(&zones, &["rm", "-q", "--cached", ZONE_FILE]);
    git_commit_staged(&zones, "untrack");
    wait_on_branch("untracked");
    write_alone("after-untrack");
}
