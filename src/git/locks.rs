//! Lock files a crashed git left behind.
//!
//! git (and libgit2) take a ref, the index or the config by creating
//! `NAME.lock` with `O_CREAT|O_EXCL`, writing it, and renaming it over
//! `NAME`; the file stays open in the process that made it until then. A
//! process killed in between (zonewright under `kill -9`, or a person's
//! `git commit`) leaves the lock behind, and every later commit fails with
//! "the reference is locked" until someone deletes it: git never does.
//!
//! A lock file is stale when no live process has it open (read from
//! `/proc/*/fd`), no `git` process works in the repository (its current
//! folder is inside it: `git commit` closes `index.lock` while the editor
//! is open and renames it after), and it is still there, unchanged, a
//! moment later ([`SETTLE`]: a git process elsewhere, `git -C` aside, may
//! be between closing a lock and renaming it). Stale locks are removed
//! with a WARN naming each one, at start-up and when a commit or an index
//! write fails. A lock that only a `git` process in the repository could
//! be holding is left alone until it is [`BUSY_AGE`] old: a long `git
//! log` in a person's shell must not keep a crash's lock forever.
//!
//! An earlier rule (a lock is stale once 5 s old) left the lock of a
//! `kill -9` in place across a quick restart, and the restart's first
//! writes were refused.

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use tracing::{debug, warn};

/// How long an unheld lock must stay unchanged to be stale.
pub const SETTLE: Duration = Duration::from_millis(150);
/// The age from which a lock is stale even with a `git` process working
/// in the repository.
pub const BUSY_AGE: Duration = Duration::from_secs(600);
/// Lock files looked at under `refs/` (a bound on a hostile tree).
const MAX_REF_FILES: usize = 10_000;

/// Removes the stale lock files of the repository whose git directory is
/// `git_dir`; returns those removed. Sleeps [`SETTLE`] when there is a
/// candidate.
pub fn clear_stale(git_dir: &Path) -> Vec<PathBuf> {
    let mut candidates: Vec<PathBuf> =
        ["index.lock", "HEAD.lock", "packed-refs.lock", "config.lock"]
            .iter()
            .map(|f| git_dir.join(f))
            .filter(|p| p.exists())
            .collect();
    ref_locks(&git_dir.join("refs"), &mut candidates);
    libgit2_temp_files(&git_dir.join("objects"), &mut candidates);
    if candidates.is_empty() {
        return Vec::new();
    }
    let Some(before) = Processes::scan(git_dir) else {
        return Vec::new();
    };
    let seen: Vec<(PathBuf, Option<Seen>)> = candidates
        .into_iter()
        .filter(|lock| before.may_remove(lock))
        .map(|lock| {
            let s = Seen::of(&lock);
            (lock, s)
        })
        .collect();
    if seen.is_empty() {
        return Vec::new();
    }
    std::thread::sleep(SETTLE);
    let Some(after) = Processes::scan(git_dir) else {
        return Vec::new();
    };
    let mut removed = Vec::new();
    for (lock, first) in seen {
        if first.is_none() || Seen::of(&lock) != first || !after.may_remove(&lock) {
            continue;
        }
        match std::fs::remove_file(&lock) {
            Ok(()) => {
                warn!(
                    lock = %lock.display(),
                    "removed a stale git {} (no process holds it; left by a crash)",
                    kind_of(&lock)
                );
                removed.push(lock);
            }
            Err(e) => warn!(
                lock = %lock.display(),
                "cannot remove a stale git {}: {e}",
                kind_of(&lock)
            ),
        }
    }
    removed
}

/// A lock file's identity and state: changed means some process is using
/// it.
#[derive(PartialEq, Eq)]
struct Seen {
    ino: u64,
    len: u64,
    mtime: Option<SystemTime>,
}

impl Seen {
    fn of(p: &Path) -> Option<Seen> {
        use std::os::unix::fs::MetadataExt;
        let m = std::fs::symlink_metadata(p).ok()?;
        Some(Seen {
            ino: m.ino(),
            len: m.len(),
            mtime: m.modified().ok(),
        })
    }
}

/// What `/proc` tells about the processes that may be using the locks.
struct Processes {
    /// Every file some process has open.
    open: HashSet<PathBuf>,
    /// A `git` process (PID) whose current folder is in the repository.
    git_inside: Option<u32>,
}

impl Processes {
    /// Reads `/proc` (as root, every process; otherwise this user's).
    /// `None` without `/proc`: nothing is known to be free.
    fn scan(git_dir: &Path) -> Option<Processes> {
        use std::os::unix::fs::MetadataExt;
        let canonical = std::fs::canonicalize(git_dir).unwrap_or_else(|_| git_dir.to_path_buf());
        let repo = canonical.parent().unwrap_or(&canonical).to_path_buf();
        // Only a process that can write the repository can hold its locks:
        // its owner's, or root's (round 54: any local user's process named
        // `git`, working in the readable zones folder, kept a crash's stale
        // lock in place and every write failing). A repository its group
        // or others may write counts every process.
        let git_meta = std::fs::metadata(&canonical).ok();
        let shared = git_meta.as_ref().is_none_or(|m| m.mode() & 0o022 != 0);
        let owner = git_meta.as_ref().map(MetadataExt::uid);
        let mut open = HashSet::new();
        let mut git_inside = None;
        for p in std::fs::read_dir("/proc").ok()?.flatten() {
            let name = p.file_name();
            let Some(pid) = name.to_str().and_then(|s| s.parse::<u32>().ok()) else {
                continue;
            };
            // (`/proc/PID` belongs to the process's effective user.)
            let uid = std::fs::metadata(p.path()).map(|m| m.uid()).ok();
            if !shared && uid.is_some_and(|u| u != 0 && Some(u) != owner) {
                continue;
            }
            if let Ok(fds) = std::fs::read_dir(p.path().join("fd")) {
                for fd in fds.flatten() {
                    if let Ok(target) = std::fs::read_link(fd.path()) {
                        open.insert(target);
                    }
                }
            }
            let is_git = std::fs::read_to_string(p.path().join("comm"))
                .is_ok_and(|c| c.trim_end() == "git" || c.starts_with("git-"));
            if is_git
                && std::fs::read_link(p.path().join("cwd")).is_ok_and(|cwd| cwd.starts_with(&repo))
            {
                git_inside = Some(pid);
            }
        }
        Some(Processes { open, git_inside })
    }

    /// Whether `lock` may be removed as far as processes go.
    fn may_remove(&self, lock: &Path) -> bool {
        let canonical = std::fs::canonicalize(lock).unwrap_or_else(|_| lock.to_path_buf());
        if self.open.contains(&canonical) {
            return false;
        }
        match self.git_inside {
            None => true,
            Some(pid) => {
                let old = age(lock).is_some_and(|a| a >= BUSY_AGE);
                if !old {
                    debug!(
                        lock = %lock.display(), pid,
                        "git lock file kept: a git process works in the repository"
                    );
                }
                old
            }
        }
    }
}

/// The temp files libgit2 writes an object or a pack through
/// (`objects/tmp_object_git2_*`, `objects/pack/pack_git2_*`), renamed into
/// place when complete: a crash in between (a first start's pack of
/// thousands of zone files, under `kill -9`) leaves them, full size, and
/// nothing else ever removes them. They are stale under the same rules as
/// a lock: no process has them open, none changes them meanwhile.
fn libgit2_temp_files(objects: &Path, out: &mut Vec<PathBuf>) {
    for (dir, prefix) in [
        (objects.to_path_buf(), "tmp_object_git2_"),
        (objects.join("pack"), "pack_git2_"),
    ] {
        let Ok(entries) = std::fs::read_dir(&dir) else {
            continue;
        };
        for e in entries.flatten().take(MAX_REF_FILES) {
            let named = e
                .file_name()
                .to_str()
                .is_some_and(|n| n.starts_with(prefix));
            if named && e.file_type().is_ok_and(|t| t.is_file()) {
                out.push(e.path());
            }
        }
    }
}

/// What a candidate is, for the log.
fn kind_of(path: &Path) -> &'static str {
    if path.extension().is_some_and(|x| x == "lock") {
        "lock file"
    } else {
        "temp file"
    }
}

/// Every `*.lock` below `refs/`, depth first, bounded.
fn ref_locks(dir: &Path, out: &mut Vec<PathBuf>) {
    let mut stack = vec![dir.to_path_buf()];
    let mut seen = 0usize;
    while let Some(d) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&d) else {
            continue;
        };
        for e in entries.flatten() {
            seen += 1;
            if seen > MAX_REF_FILES {
                return;
            }
            let Ok(kind) = e.file_type() else { continue };
            let path = e.path();
            if kind.is_dir() {
                stack.push(path);
            } else if kind.is_file() && path.extension().is_some_and(|x| x == "lock") {
                out.push(path);
            }
        }
    }
}

fn age(p: &Path) -> Option<Duration> {
    std::fs::symlink_metadata(p)
        .and_then(|m| m.modified())
        .ok()
        .and_then(|t| SystemTime::now().duration_since(t).ok())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A pack or object libgit2 was writing when the process died is
    /// removed like a stale lock; one still open (being written by a live
    /// process, here this one) is kept, and so are finished packs.
    #[test]
    fn libgit2_temp_files_a_crash_left_are_removed_and_open_ones_kept() {
        let dir = tempfile::tempdir().expect("tempdir");
        let git_dir = dir.path().join(".git");
        let pack = git_dir.join("objects/pack");
        std::fs::create_dir_all(&pack).expect("mkdir");
        let left = pack.join("pack_git2_d3adb33f");
        let object = git_dir.join("objects/tmp_object_git2_abc");
        let writing = pack.join("pack_git2_0pen");
        let finished = pack.join("pack-1234.pack");
        for f in [&left, &object, &writing, &finished] {
            std::fs::write(f, b"PACK").expect("write");
        }
        let held = std::fs::File::open(&writing).expect("open");
        let removed = clear_stale(&git_dir);
        assert!(
            !left.exists() && !object.exists(),
            "stale temp files removed"
        );
        assert!(writing.exists(), "a temp file still open is kept");
        assert!(finished.exists(), "a finished pack is no temp file");
        assert_eq!(removed.len(), 2);
        drop(held);
    }

    /// Round 54 MEDIUM: a process named `git` of another local user, its
    /// current folder in the (readable) repository, kept a crash's stale
    /// ref lock in place, so every write failed. Only the repository
    /// owner's (or root's) processes count; the same process of the owner
    /// still keeps a fresh lock. (Needs root to run a process as another
    /// user: says so and checks nothing otherwise.)
    #[test]
    fn only_a_git_process_that_can_write_the_repository_keeps_a_lock() {
        use std::os::unix::fs::PermissionsExt;
        use std::os::unix::process::CommandExt;
        if !rustix::process::geteuid().is_root() {
            eprintln!("not root: cannot run a process as another user; nothing checked");
            return;
        }
        let dir = tempfile::tempdir().expect("tempdir");
        let open = std::fs::Permissions::from_mode(0o755);
        std::fs::set_permissions(dir.path(), open.clone()).expect("chmod");
        let git_dir = dir.path().join(".git");
        std::fs::create_dir_all(git_dir.join("refs/heads")).expect("mkdir");
        std::fs::set_permissions(&git_dir, open.clone()).expect("chmod");
        let lock = git_dir.join("refs/heads/master.lock");
        // A program named `git` that only waits.
        let fake = dir.path().join("git");
        std::fs::copy("/bin/sleep", &fake).expect("copy sleep");
        std::fs::set_permissions(&fake, open).expect("chmod");
        let spawn = |uid: u32| {
            std::process::Command::new(&fake)
                .arg("30")
                .current_dir(dir.path())
                .uid(uid)
                .gid(uid)
                .spawn()
                .expect("spawn")
        };
        let running = |pid: u32| {
            (0..100).any(|_| {
                let named = std::fs::read_to_string(format!("/proc/{pid}/comm"))
                    .is_ok_and(|c| c.trim_end() == "git");
                if !named {
                    std::thread::sleep(Duration::from_millis(20));
                }
                named
            })
        };
        // Another user's (nobody's): the lock is removed.
        std::fs::write(&lock, b"0000000000000000000000000000000000000000\n").expect("lock");
        let mut other = spawn(65534);
        assert!(running(other.id()), "the fake git runs");
        let removed = clear_stale(&git_dir);
        let _ = other.kill();
        let _ = other.wait();
        assert_eq!(
            removed,
            vec![lock.clone()],
            "another user's git holds nothing"
        );
        // The owner's (root's): a fresh lock is kept.
        std::fs::write(&lock, b"0000000000000000000000000000000000000000\n").expect("lock");
        let mut own = spawn(0);
        assert!(running(own.id()), "the fake git runs");
        let removed = clear_stale(&git_dir);
        let _ = own.kill();
        let _ = own.wait();
        assert!(removed.is_empty(), "the owner's git at work keeps its lock");
        assert!(lock.exists());
    }
}
