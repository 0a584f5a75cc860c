//! Writes that land in a zone file after zonewright replaced it.
//!
//! # Design
//!
//! ```text
//! another process                 zonewright (a write)
//!   open(zone, O_APPEND)  ──┐
//!                           │       rename(temp, zone)     the old inode is
//!                           │       check the old inode    now unlinked, held
//!   (preempted, sleeping)   │       answer                 open here
//!   write("x IN A ...")   ──┘──▶  lands in the old inode: nobody reads it
//!
//! Late (this module)
//!   hold the old inode open for GRACE after the rename (at most MAX_HELD
//!     files, MAX_HELD_BYTES)
//!   every TICK: fstat each; changed?  wait until it stays unchanged for
//!     SETTLE and no process has it open for writing
//!   then keep that version under .git/zonewright/late/ (fsynced) and
//!     name it in an ERROR (with the appended lines, for an append):
//!     a person merges it; nothing is served or written over
//! ```
//!
//! The write path already compares the old inode right after its rename
//! ([`super::Inner::install`]) and redoes its change on top of a write
//! found then; this catches what arrives after that instant: a writer
//! that opened the file before the rename and wrote after it (`echo >>
//! zone` preempted between `open` and `write`, a program that opens the
//! file, works, then writes). Such a write used to be lost without a
//! word. A writer that waits longer than [`GRACE`], or whose inode was
//! closed early because more than [`MAX_HELD`] were held (a sixteenth of
//! the open-file limit when that is less), is still not caught.
//!
//! Why not put the late version back in place and take it in like an
//! edit: it was built on the version the write replaced, so putting it
//! back erased whatever came after that (a person's newer save, another
//! late writer's line, round 41), and only the person knows what they
//! meant to change.
//!
//! Closing the old inodes here, off the write path, also frees them off
//! it: the last close of an unlinked file releases its blocks (a discard
//! on file systems mounted with it), which the write used to wait for
//! while holding the served set's lock.

use std::collections::VecDeque;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, Weak};
use std::time::{Duration, Instant};

use tracing::error;

use super::fsio;
use crate::loader::FileId;

/// How long a replaced file is watched for late writes.
pub const GRACE: Duration = Duration::from_secs(10);
/// Most replaced files held open at once (file descriptors; fewer when
/// the process may open few files, see [`held_at_most`]); the oldest
/// unchanged one is closed first.
pub const MAX_HELD: usize = 256;
/// Most bytes of replaced files held at once: a held file's blocks are
/// freed only when it is closed (some 20 versions of a 3 MB,
/// 100,000-record zone file, not 256, so a stream of writes to it cannot
/// fill the disk).
pub const MAX_HELD_BYTES: u64 = 64 << 20;
/// How often the held files are looked at.
const TICK: Duration = Duration::from_millis(100);
/// How long a changed file must stay unchanged before it is taken.
const SETTLE: Duration = Duration::from_millis(200);
/// The longest a changed file is left to a process that keeps it open
/// for writing before it is taken anyway.
const MAX_WAIT: Duration = Duration::from_secs(60);

/// [`MAX_HELD`], or a sixteenth of the open-file limit when that is less
/// (with systemd's default soft limit of 1024: 64), so the held files
/// never crowd out TCP and REST connections.
fn held_at_most() -> usize {
    let limit = rustix::process::getrlimit(rustix::process::Resource::Nofile).current;
    limit.map_or(MAX_HELD, |l| {
        usize::try_from(l / 16).map_or(MAX_HELD, |n| n.clamp(1, MAX_HELD))
    })
}

struct Held {
    replaced: fsio::Replaced,
    at: Instant,
    /// When the file was last seen changing, and its identity then.
    changed: Option<(Instant, FileId)>,
}

/// The replaced files of one store, watched for late writes.
pub struct Late {
    held: Mutex<VecDeque<Held>>,
    /// [`held_at_most`].
    most: usize,
    thread: std::sync::OnceLock<()>,
    /// `server.max_zone_file_size`.
    limit: u64,
    /// Where late versions are kept (`None`: no repository, only the
    /// ERROR).
    aside: Option<PathBuf>,
}

/// What one look at the held files found to do.
enum Found {
    /// Keep this version of the file.
    Take(fsio::Replaced),
    /// Closed: unchanged for the whole grace time, or one too many.
    Close(fsio::Replaced),
}

impl Late {
    pub fn new(limit: u64, git_dir: Option<&Path>) -> Arc<Late> {
        Arc::new(Late {
            held: Mutex::new(VecDeque::new()),
            most: held_at_most(),
            thread: std::sync::OnceLock::new(),
            limit,
            aside: git_dir.map(|g| g.join("zonewright").join("late")),
        })
    }

    /// Watches `replaced` (files a write just renamed its versions over).
    /// Starts the watching thread on first use; without it (it could not
    /// be started) the files are simply closed.
    pub fn hold(self: &Arc<Self>, replaced: Vec<fsio::Replaced>) {
        if replaced.is_empty() {
            return;
        }
        self.thread.get_or_init(|| {
            let weak = Arc::downgrade(self);
            let started = std::thread::Builder::new()
                .name("late-writes".into())
                .spawn(move || run(weak));
            if let Err(e) = started {
                error!("cannot start the thread that watches replaced zone files: {e}");
            }
        });
        let now = Instant::now();
        let mut closed = Vec::new();
        {
            let mut held = self.held.lock().unwrap_or_else(|p| p.into_inner());
            for r in replaced {
                held.push_back(Held {
                    replaced: r,
                    at: now,
                    changed: None,
                });
            }
            // The disk space the held files keep from being freed.
            let mut bytes: u64 = held.iter().map(|h| h.replaced.id().size).sum();
            while held.len() > self.most || bytes > MAX_HELD_BYTES {
                // The oldest not seen changing: a change is never dropped
                // to make room.
                let Some(i) = held.iter().position(|h| h.changed.is_none()) else {
                    break;
                };
                if let Some(h) = held.remove(i) {
                    bytes = bytes.saturating_sub(h.replaced.id().size);
                    closed.push(h.replaced);
                }
            }
        }
        // Closed (and maybe freed) outside the lock.
        drop(closed);
    }

    /// One look at every held file.
    fn look(&self, now: Instant) -> Vec<Found> {
        let mut found = Vec::new();
        let mut held = self.held.lock().unwrap_or_else(|p| p.into_inner());
        let mut keep = VecDeque::with_capacity(held.len());
        for mut h in held.drain(..) {
            let id = h.replaced.current();
            let moved = id.is_some_and(|id| id != h.replaced.id());
            if !moved {
                if now.duration_since(h.at) >= GRACE {
                    found.push(Found::Close(h.replaced));
                } else {
                    keep.push_back(h);
                }
                continue;
            }
            match (h.changed, id) {
                (Some((since, seen)), Some(id)) if seen == id => {
                    let settled = now.duration_since(since) >= SETTLE;
                    let waited_out = now.duration_since(since) >= MAX_WAIT;
                    if settled && (waited_out || h.replaced.writer().is_none()) {
                        found.push(Found::Take(h.replaced));
                    } else {
                        keep.push_back(h);
                    }
                }
                (_, Some(id)) => {
                    h.changed = Some((now, id));
                    keep.push_back(h);
                }
                (_, None) => found.push(Found::Close(h.replaced)),
            }
        }
        *held = keep;
        found
    }

    /// Keeps `replaced`'s late version under `.git/zonewright/late/` and
    /// names it in an ERROR. Putting it back over the zone file was tried
    /// and dropped (round 41): a whole-file put-back of a version made
    /// from an older one erased what came between (a person's newer save,
    /// another late writer's line), and wrote over links and with
    /// half-written text.
    fn take(&self, replaced: &fsio::Replaced) {
        let path = replaced.path();
        let (bytes, whole) = match replaced.bytes(self.limit) {
            Ok(b) => b,
            Err(e) => {
                error!(
                    file = ?path,
                    "another process wrote to the zone file after zonewright replaced it (it \
                     had it open from before the write), and that version cannot be read back \
                     ({e}): its change is lost"
                );
                return;
            }
        };
        // The text past the old end (what an append, `echo >> zone`,
        // added; for another rewrite just its tail), shown quoted and
        // escaped (a late writer must not forge log lines or fields) when
        // short; how much the file grew, always. The paths are quoted too.
        let old = usize::try_from(replaced.id().size).unwrap_or(usize::MAX);
        let tail = bytes.get(old..).unwrap_or_default();
        let appended = Some(tail)
            .filter(|a| whole && !a.is_empty() && a.len() <= SHOWN)
            .and_then(|a| std::str::from_utf8(a).ok())
            .map(|a| a.trim_end().to_owned())
            .unwrap_or_default();
        let grown = bytes.len() as i128 - i128::from(replaced.id().size);
        let cut = if whole {
            String::new()
        } else {
            format!(" (its first {} bytes)", bytes.len())
        };
        match self.keep(path, &bytes) {
            Ok(kept) => error!(
                file = ?path, kept = ?kept, grown_by = grown,
                past_old_end = ?appended,
                "another process wrote to the zone file after zonewright replaced it (it had it \
                 open from before the write): its change is not served. That version{cut} is \
                 kept: merge its change into the zone file by hand (save by rename)"
            ),
            Err(e) => error!(
                file = ?path, grown_by = grown, past_old_end = ?appended,
                "another process wrote to the zone file after zonewright replaced it (it had it \
                 open from before the write): its change is not served, and that version \
                 cannot be kept ({e})"
            ),
        }
    }

    /// Writes `bytes` to a new file under the keeping folder, fsynced.
    fn keep(&self, path: &Path, bytes: &[u8]) -> std::io::Result<PathBuf> {
        use std::io::Write;
        let Some(dir) = &self.aside else {
            return Err(std::io::Error::other("no git repository to keep it in"));
        };
        std::fs::create_dir_all(dir)?;
        let name = path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_else(|| "zone".into());
        let stamp = chrono::Utc::now().format("%Y%m%dT%H%M%S%.6fZ");
        // Unique even for two versions of one file kept in one tick.
        for n in 0..100 {
            let file = dir.join(format!("{name}.{stamp}.{n}"));
            match std::fs::OpenOptions::new()
                .write(true)
                .create_new(true)
                .open(&file)
            {
                Ok(mut f) => {
                    f.write_all(bytes)?;
                    f.sync_all()?;
                    std::fs::File::open(dir)?.sync_all()?;
                    return Ok(file);
                }
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
                Err(e) => return Err(e),
            }
        }
        Err(std::io::Error::other("no free name"))
    }
}

/// The longest append shown in the ERROR.
const SHOWN: usize = 512;

/// The watching thread: ends once the store is gone.
fn run(late: Weak<Late>) {
    loop {
        std::thread::sleep(TICK);
        let Some(late) = late.upgrade() else {
            return;
        };
        // A bug here must not end the watching for the rest of the run.
        let looked = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            for found in late.look(Instant::now()) {
                match found {
                    Found::Take(replaced) => late.take(&replaced),
                    Found::Close(replaced) => drop(replaced),
                }
            }
        }));
        if looked.is_err() {
            error!("internal error while looking at replaced zone files; looking again");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    fn replaced_after_rename(dir: &Path) -> (PathBuf, std::fs::File, fsio::Replaced) {
        let zone = dir.join("a.test.zone");
        std::fs::write(&zone, "old\n").expect("write");
        let appender = std::fs::OpenOptions::new()
            .append(true)
            .open(&zone)
            .expect("open");
        let replaced = fsio::Replaced::open(&zone).expect("open");
        fsio::replace_atomically(&zone, "new\n").expect("replace");
        (zone, appender, replaced)
    }

    /// A `Late` holding `replaced`, replaced now.
    fn holding(replaced: fsio::Replaced) -> Arc<Late> {
        let late = Late::new(1 << 20, None);
        late.held.lock().expect("lock").push_back(Held {
            replaced,
            at: Instant::now(),
            changed: None,
        });
        late
    }

    #[test]
    fn an_unchanged_file_is_closed_after_the_grace_time_and_a_changed_one_taken_once_settled() {
        let dir = tempfile::tempdir().expect("tempdir");
        let (_zone, mut appender, replaced) = replaced_after_rename(dir.path());
        let late = holding(replaced);
        let t0 = Instant::now();
        assert!(late.look(t0).is_empty(), "unchanged, within the grace time");
        appender.write_all(b"late\n").expect("append");
        assert!(late.look(t0).is_empty(), "changed: settling");
        assert!(late.look(t0 + SETTLE / 2).is_empty(), "not settled yet");
        let found = late.look(t0 + SETTLE);
        match found.as_slice() {
            [Found::Take(r)] => {
                assert_eq!(r.text(1 << 20).expect("text"), "old\nlate\n");
            }
            _ => panic!("expected the late version, found {} items", found.len()),
        }
        assert!(late.held.lock().expect("lock").is_empty());

        let (_zone2, _appender2, replaced2) = replaced_after_rename(dir.path());
        late.held.lock().expect("lock").push_back(Held {
            replaced: replaced2,
            at: t0,
            changed: None,
        });
        assert!(matches!(
            late.look(t0 + GRACE).as_slice(),
            [Found::Close(_)]
        ));
    }

    #[test]
    fn a_file_still_open_for_writing_by_another_process_is_waited_for() {
        let dir = tempfile::tempdir().expect("tempdir");
        let zone = dir.path().join("b.test.zone");
        std::fs::write(&zone, "old\n").expect("write");
        // A shell that opened the file for appending before the rename,
        // writes one line, and keeps it open (bounded: it exits by itself).
        let mut child = std::process::Command::new("sh")
            .args([
                "-c",
                "exec 3>>\"$1\"; read go; echo late >&3; read done",
                "sh",
            ])
            .arg(&zone)
            .stdin(std::process::Stdio::piped())
            .spawn()
            .expect("sh");
        // Its open is done once the file shows up among its descriptors.
        let deadline = Instant::now() + Duration::from_secs(10);
        let pid = child.id();
        while Instant::now() < deadline {
            let open = std::fs::read_dir(format!("/proc/{pid}/fd"))
                .map(|d| {
                    d.flatten()
                        .any(|e| std::fs::read_link(e.path()).is_ok_and(|t| t == zone))
                })
                .unwrap_or(false);
            if open {
                break;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        let replaced = fsio::Replaced::open(&zone).expect("open");
        fsio::replace_atomically(&zone, "new\n").expect("replace");
        let mut stdin = child.stdin.take().expect("stdin");
        writeln!(stdin, "go").expect("go");
        let deadline = Instant::now() + Duration::from_secs(10);
        while replaced.current() == Some(replaced.id()) && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(10));
        }
        assert_ne!(
            replaced.current(),
            Some(replaced.id()),
            "the late line landed"
        );
        let writer = replaced.writer().expect("the shell still holds it");
        assert_eq!(writer.0, pid);

        let late = holding(replaced);
        let t0 = Instant::now();
        assert!(late.look(t0).is_empty());
        assert!(late.look(t0 + SETTLE).is_empty(), "still open for writing");
        writeln!(stdin, "done").expect("done");
        drop(stdin);
        let _ = child.wait();
        assert!(matches!(
            late.look(t0 + SETTLE).as_slice(),
            [Found::Take(..)]
        ));
    }
}
