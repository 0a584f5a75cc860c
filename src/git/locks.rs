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
//! `/proc/*/fd`) and it is older than [`MIN_AGE`] (the moment between a
//! git process closing it and renaming it). Stale locks are removed with a
//! WARN naming each one, at start-up and when a commit fails.

use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use tracing::warn;

/// A lock younger than this may be one a git process is about to rename.
pub const MIN_AGE: Duration = Duration::from_secs(5);
/// Lock files looked at under `refs/` (a bound on a hostile tree).
const MAX_REF_FILES: usize = 10_000;

/// Removes the stale lock files of the repository whose git directory is
/// `git_dir`; returns those removed.
pub fn clear_stale(git_dir: &Path) -> Vec<PathBuf> {
    let mut candidates: Vec<PathBuf> =
        ["index.lock", "HEAD.lock", "packed-refs.lock", "config.lock"]
            .iter()
            .map(|f| git_dir.join(f))
            .filter(|p| p.exists())
            .collect();
    ref_locks(&git_dir.join("refs"), &mut candidates);
    candidates.retain(|p| old_enough(p));
    if candidates.is_empty() {
        return Vec::new();
    }
    let Some(held) = open_files() else {
        return Vec::new();
    };
    let mut removed = Vec::new();
    for lock in candidates {
        let canonical = std::fs::canonicalize(&lock).unwrap_or_else(|_| lock.clone());
        if held.contains(&canonical) {
            continue;
        }
        match std::fs::remove_file(&lock) {
            Ok(()) => {
                warn!(
                    lock = %lock.display(),
                    "removed a stale git lock file (no process holds it; left by a crash)"
                );
                removed.push(lock);
            }
            Err(e) => warn!(lock = %lock.display(), "cannot remove a stale git lock file: {e}"),
        }
    }
    removed
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

fn old_enough(p: &Path) -> bool {
    std::fs::symlink_metadata(p)
        .and_then(|m| m.modified())
        .ok()
        .and_then(|t| SystemTime::now().duration_since(t).ok())
        .is_some_and(|age| age >= MIN_AGE)
}

/// The files some process on this machine has open (what `/proc` lets us
/// see; as root, all of them). Without `/proc`, nothing is known to be
/// free, so nothing is removed.
fn open_files() -> Option<std::collections::HashSet<PathBuf>> {
    let mut held = std::collections::HashSet::new();
    let procs = std::fs::read_dir("/proc").ok()?;
    for p in procs.flatten() {
        if !p
            .file_name()
            .to_string_lossy()
            .bytes()
            .all(|b| b.is_ascii_digit())
        {
            continue;
        }
        let Ok(fds) = std::fs::read_dir(p.path().join("fd")) else {
            continue;
        };
        for fd in fds.flatten() {
            if let Ok(target) = std::fs::read_link(fd.path()) {
                held.insert(target);
            }
        }
    }
    Some(held)
}
