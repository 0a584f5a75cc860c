//! The write log: with `[git] acknowledge = "log"`, the durable record of
//! who made each answered write, so the git commit can be made after the
//! answer without a crash relabelling the write.
//!
//! # Design
//!
//! ```text
//! writer (zone's turn)                         committer thread
//!   edit, write temp, fsync, rename, fsync dir
//!   append {zone, serial old->new, actor,
//!           via, clients, +RRs, -RRs}
//!   fdatasync the log (shared with the
//!     writes appended meanwhile)
//!   submit the commit, ANSWER ─────────────▶  commit (in the background;
//!                                              several zones' writes of
//!                                              one key in one commit)
//!                                             committed(n)
//!                                             idle, nothing outstanding:
//!                                               syncfs (git's objects and
//!                                               ref are on disk), then
//!                                               truncate the log
//! start-up: every record without a commit of its own on HEAD's line
//!   (its writer as author, its `Serial:` trailer) is committed, in order,
//!   under its writer: HEAD's version of the zone + the record's changes
//!   (the text that write produced), before anything else is committed
//! ```
//!
//! Design invariant 1 ("an acknowledged write is in the fsynced zone file
//! before the answer, and in git with its author, or in a durable record
//! that start-up turns into that commit") holds at every step:
//!
//! | crash (or power loss) after | left behind | start-up |
//! |---|---|---|
//! | the rename, before the append | a file git lacks; the write was not answered | committed as an `external change` (no acknowledged write is relabelled) |
//! | a torn append | the same, and a partial last line | the line is ignored (WARN) |
//! | the log's fsync (answered) | the file and the record | the record is committed under its writer |
//! | the commit, before the truncation | the commit and the record | the record is skipped: its commit is on HEAD's line |
//!
//! The log lives in the repository's `.git` directory (`zonewright/writes.log`),
//! so it is neither served, nor watched, nor committed. Each line is one
//! JSON object; RRs are zone-file lines with absolute owners, so a person
//! can read the log too.

use std::fs::{File, OpenOptions};
use std::io::{self, Read, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use serde::{Deserialize, Serialize};
use tracing::warn;

/// One answered write (one batch of one zone), as logged.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Entry {
    /// The zone's origin, absolute (`example.com.`).
    pub zone: String,
    pub old_serial: u32,
    pub new_serial: u32,
    /// The TSIG key or REST token: the commit's author.
    pub actor: String,
    /// The writer (`rfc2136`, `rest`, `expiry`).
    pub via: String,
    /// Where the requests came from.
    pub clients: Vec<String>,
    /// How many requests the batch answered.
    pub requests: usize,
    /// The RRs added and removed, in zone-file syntax, owners absolute.
    pub add: Vec<String>,
    pub remove: Vec<String>,
    /// The files the write went to (relative to `zones_dir` when inside
    /// it): where start-up commits it, even if the zone file was renamed
    /// or its link pointed elsewhere while the server was down. Absent in
    /// records written before this field existed.
    #[serde(
        default,
        skip_serializing_if = "Vec::is_empty",
        deserialize_with = "files_or_none"
    )]
    pub files: Vec<String>,
    /// When the write was logged (Unix seconds): its commit is made at or
    /// after it, so an older commit with the same writer and serials (a
    /// write reverted by hand, the serial then reused) is never taken for
    /// it. Absent in records written before this field existed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub at: Option<i64>,
}

/// `files` when it is a list of strings; anything else (a log edited by
/// hand) reads as absent, so the record is still committed under its
/// writer, on the file HEAD's zone file leads to, rather than dropped.
fn files_or_none<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Vec<String>, D::Error> {
    let value = serde_json::Value::deserialize(d)?;
    Ok(serde_json::from_value(value).unwrap_or_default())
}

/// The open log, shared by the writers (append) and the committer
/// (committed, truncate).
pub struct WriteLog {
    path: PathBuf,
    /// The repository's `.git`: synced (syncfs) before a truncation.
    git_dir: PathBuf,
    file: Mutex<Tail>,
    /// How far the log is known to be on disk (bytes); held while one
    /// writer syncs, so the writers that appended meanwhile share its
    /// fdatasync (group commit of the log).
    synced: Mutex<u64>,
    /// The records found at start-up could not all be committed: they are
    /// kept (the log is never truncated in this run) for the next start.
    keep: std::sync::atomic::AtomicBool,
}

struct Tail {
    file: File,
    /// Bytes in the file.
    end: u64,
    /// Records appended and not yet committed.
    outstanding: u64,
}

/// The log's path inside a repository's `.git` directory.
pub fn path_in(git_dir: &Path) -> PathBuf {
    git_dir.join("zonewright").join("writes.log")
}

/// Where start-up sets aside the records it must not commit (their zone is
/// no longer served, or the zone file never had their change), for a
/// person to read: beside the log.
pub fn unapplied_path(git_dir: &Path) -> PathBuf {
    git_dir.join("zonewright").join("writes.log.unapplied")
}

/// The largest log start-up reads. The log holds only the writes answered
/// and not yet committed (a few batches, or the writes held while git
/// refuses commits): a larger one is no log of ours. It is set aside whole
/// (see [`WriteLog::open`]).
pub const MAX_LOG: u64 = 64 << 20;

/// Opens `path` for appending (creating it), refusing a symbolic link or
/// anything but a regular file, without blocking (a FIFO planted there
/// cannot stall the start): `.git` is a folder people and tools write to.
fn open_regular_append(path: &Path) -> io::Result<File> {
    let file = OpenOptions::new()
        .create(true)
        .append(true)
        .read(true)
        .mode(0o600)
        .custom_flags(libc::O_NOFOLLOW | libc::O_NONBLOCK)
        .open(path)
        .map_err(|e| match e.raw_os_error() {
            Some(libc::ELOOP) => io::Error::other(format!(
                "{} is a symbolic link; refused (the write log is never followed out of .git)",
                path.display()
            )),
            _ => e,
        })?;
    let meta = file.metadata()?;
    if !meta.file_type().is_file() {
        return Err(io::Error::other(format!(
            "{} is not a regular file ({}); refused",
            path.display(),
            crate::config::file_kind(meta.file_type())
        )));
    }
    Ok(file)
}

/// The folder the log lives in, made if missing; a symbolic link or
/// anything but a folder there is refused.
fn log_dir(git_dir: &Path) -> io::Result<PathBuf> {
    let dir = git_dir.join("zonewright");
    match std::fs::symlink_metadata(&dir) {
        Ok(m) if m.is_dir() => {}
        Ok(_) => {
            return Err(io::Error::other(format!(
                "{} is not a folder (a symbolic link?); refused",
                dir.display()
            )));
        }
        Err(e) if e.kind() == io::ErrorKind::NotFound => std::fs::create_dir(&dir)?,
        Err(e) => return Err(e),
    }
    Ok(dir)
}

/// Appends `entries` to the file of records start-up set aside
/// ([`unapplied_path`]), fsynced.
pub fn set_aside(git_dir: &Path, entries: &[Entry]) -> io::Result<PathBuf> {
    log_dir(git_dir)?;
    let path = unapplied_path(git_dir);
    let mut file = open_regular_append(&path)?;
    let mut bytes = Vec::new();
    for e in entries {
        bytes.extend(serde_json::to_vec(e).map_err(io::Error::other)?);
        bytes.push(b'\n');
    }
    file.write_all(&bytes)?;
    file.sync_data()?;
    Ok(path)
}

impl WriteLog {
    /// Opens (creating) the log in `git_dir`, and returns the records a
    /// crash left in it, oldest first.
    pub fn open(git_dir: &Path) -> io::Result<(WriteLog, Vec<Entry>)> {
        log_dir(git_dir)?;
        let path = path_in(git_dir);
        let mut file = open_regular_append(&path)?;
        let size = file.metadata()?.len();
        let mut text = Vec::new();
        if size > MAX_LOG {
            // No log of ours: kept for a person under another name, and
            // the files are committed as found (`external change`).
            let aside = path.with_extension(format!("log.too-large-{}", std::process::id()));
            std::fs::rename(&path, &aside)?;
            tracing::error!(
                "{}: {size} bytes, more than the {MAX_LOG} a write log can hold; set aside as \
                 {} and not replayed (the zone files are committed as found)",
                path.display(),
                aside.display()
            );
            file = open_regular_append(&path)?;
        } else {
            (&file).take(MAX_LOG).read_to_end(&mut text)?;
        }
        let (entries, problems) = decode(&text);
        for p in problems {
            warn!("{}: {p}", path.display());
        }
        let end = file.metadata()?.len();
        let log = WriteLog {
            path,
            git_dir: git_dir.to_owned(),
            file: Mutex::new(Tail {
                file,
                end,
                outstanding: 0,
            }),
            synced: Mutex::new(end),
            keep: std::sync::atomic::AtomicBool::new(false),
        };
        Ok((log, entries))
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Appends `entry` and returns once it is on disk (fdatasync; one
    /// sync covers every record appended before it). On an error the
    /// partial line is cut off again, and the write must not be
    /// acknowledged on the log's strength.
    pub fn append(&self, entry: &Entry) -> io::Result<()> {
        let mut line = serde_json::to_vec(entry).map_err(io::Error::other)?;
        line.push(b'\n');
        let end = {
            let mut tail = self.file.lock().unwrap_or_else(|p| p.into_inner());
            if let Err(e) = tail.file.write_all(&line) {
                // A full disk may have taken part of the line.
                let _ = tail.file.set_len(tail.end);
                return Err(e);
            }
            tail.end += line.len() as u64;
            tail.outstanding += 1;
            tail.end
        };
        let mut synced = self.synced.lock().unwrap_or_else(|p| p.into_inner());
        if *synced >= end {
            return Ok(());
        }
        // Everything appended up to now goes to disk with this sync.
        let (file, upto) = {
            let tail = self.file.lock().unwrap_or_else(|p| p.into_inner());
            (tail.file.try_clone(), tail.end)
        };
        let done = file.and_then(|f| f.sync_data());
        if let Err(e) = done {
            // Not known to be on disk: not counted, so the log is never
            // truncated over it either.
            let mut tail = self.file.lock().unwrap_or_else(|p| p.into_inner());
            tail.outstanding = tail.outstanding.saturating_sub(1);
            return Err(e);
        }
        *synced = upto;
        Ok(())
    }

    /// `n` logged records are committed.
    pub fn committed(&self, n: u64) {
        let mut tail = self.file.lock().unwrap_or_else(|p| p.into_inner());
        tail.outstanding = tail.outstanding.saturating_sub(n);
    }

    /// Records appended and not yet committed.
    pub fn outstanding(&self) -> u64 {
        self.file
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .outstanding
    }

    /// Keep every record in the log for the rest of this run (start-up
    /// could not commit all of the records a crash left).
    pub fn keep(&self) {
        self.keep.store(true, std::sync::atomic::Ordering::Relaxed);
    }

    /// Empties the log when every record in it is committed: first
    /// `syncfs` on the repository's file system (libgit2 does not fsync
    /// its objects and refs, so until then a power cut could lose the
    /// commits the records stand for), then the truncation, fsynced.
    pub fn truncate_if_committed(&self) -> io::Result<bool> {
        if self.keep.load(std::sync::atomic::Ordering::Relaxed) {
            return Ok(false);
        }
        let mut synced = self.synced.lock().unwrap_or_else(|p| p.into_inner());
        let mut tail = self.file.lock().unwrap_or_else(|p| p.into_inner());
        if tail.end == 0 || tail.outstanding > 0 {
            return Ok(false);
        }
        let dir = File::open(&self.git_dir)?;
        rustix::fs::syncfs(&dir)?;
        tail.file.set_len(0)?;
        tail.file.sync_data()?;
        tail.end = 0;
        *synced = 0;
        Ok(true)
    }
}

/// The records of a log's bytes, and what was wrong with the lines that
/// are not (a torn last line: a crash during its append, before it was
/// synced, so that write was never answered).
pub fn decode(bytes: &[u8]) -> (Vec<Entry>, Vec<String>) {
    let mut entries = Vec::new();
    let mut problems = Vec::new();
    let lines: Vec<&[u8]> = bytes.split(|b| *b == b'\n').collect();
    let last = lines.len().saturating_sub(1);
    for (i, line) in lines.iter().enumerate() {
        if line.is_empty() {
            continue;
        }
        // Bytes that are not UTF-8 (a log edited by hand) are read as
        // U+FFFD rather than losing the record's writer.
        let read = serde_json::from_slice::<Entry>(line)
            .or_else(|e| serde_json::from_str(&String::from_utf8_lossy(line)).map_err(|_| e));
        match read {
            Ok(e) => entries.push(e),
            Err(_) if i == last => problems.push(format!(
                "line {}: ignored a partial record (a crash during its append; that write \
                 was not answered)",
                i + 1
            )),
            Err(e) => problems.push(format!(
                "line {}: ignored an unreadable record ({}:{})",
                i + 1,
                e.line(),
                e.column()
            )),
        }
    }
    (entries, problems)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(n: u32) -> Entry {
        Entry {
            zone: "example.com.".into(),
            old_serial: n,
            new_serial: n + 1,
            actor: "acme".into(),
            via: "rfc2136".into(),
            clients: vec!["127.0.0.1:5353".into()],
            requests: 1,
            add: vec![format!("a{n}.example.com. 60 IN TXT \"x\"")],
            remove: Vec::new(),
            files: vec!["example.com.zone".into()],
            at: None,
        }
    }

    #[test]
    fn appended_records_are_read_back_in_order_and_a_truncation_empties_the_log() {
        let dir = tempfile::tempdir().expect("tempdir");
        let (log, found) = WriteLog::open(dir.path()).expect("open");
        assert!(found.is_empty());
        log.append(&entry(1)).expect("append");
        log.append(&entry(2)).expect("append");
        assert_eq!(log.outstanding(), 2);
        // Not everything committed: kept.
        log.committed(1);
        assert!(!log.truncate_if_committed().expect("truncate"));
        drop(log);
        let (log, found) = WriteLog::open(dir.path()).expect("reopen");
        assert_eq!(found, vec![entry(1), entry(2)]);
        // Reopened: the old records are start-up's to commit; the new
        // ones are counted from zero.
        log.append(&entry(3)).expect("append");
        log.committed(1);
        assert!(log.truncate_if_committed().expect("truncate"));
        assert_eq!(std::fs::metadata(log.path()).expect("stat").len(), 0);
        log.append(&entry(4)).expect("append after truncation");
        drop(log);
        let (_, found) = WriteLog::open(dir.path()).expect("reopen");
        assert_eq!(found, vec![entry(4)]);
    }

    #[test]
    fn a_record_with_a_damaged_files_field_is_read_without_it() {
        let mut good = serde_json::to_vec(&entry(1)).expect("json");
        let text = String::from_utf8(good.clone()).expect("utf8");
        let not_list = text.replace("[\"example.com.zone\"]", "42");
        let mut bytes = not_list.into_bytes();
        bytes.push(b'\n');
        // Not UTF-8 inside the files' string.
        let at = text.find("example.com.zone\"]").expect("files");
        good[at] = 0xff;
        bytes.extend(&good);
        bytes.push(b'\n');
        let (entries, problems) = decode(&bytes);
        assert!(problems.is_empty(), "{problems:?}");
        assert_eq!(entries.len(), 2);
        assert!(entries[0].files.is_empty());
        assert_eq!(entries[0].actor, "acme");
        assert_eq!(entries[1].files, ["\u{fffd}xample.com.zone"]);
        assert_eq!(entries[1].add, entry(1).add);
    }

    #[test]
    fn a_torn_last_line_and_a_damaged_line_are_skipped_with_a_reason() {
        let mut bytes = serde_json::to_vec(&entry(1)).expect("json");
        bytes.extend_from_slice(b"\n{\"zone\": garbage\n");
        bytes.extend_from_slice(&serde_json::to_vec(&entry(2)).expect("json"));
        bytes.extend_from_slice(b"\n{\"zone\":\"exa");
        let (entries, problems) = decode(&bytes);
        assert_eq!(entries, vec![entry(1), entry(2)]);
        assert_eq!(problems.len(), 2, "{problems:?}");
        assert!(problems[0].contains("line 2: ignored an unreadable"));
        assert!(problems[1].contains("line 4: ignored a partial record"));
    }

    /// `.git` is writable by people and tools: a symbolic link planted at
    /// the log (or its folder) must not make start-up read, truncate or
    /// append to a file elsewhere.
    #[test]
    fn a_symlinked_log_or_folder_is_refused_and_its_target_left_alone() {
        let dir = tempfile::tempdir().expect("tempdir");
        let outside = dir.path().join("outside.txt");
        std::fs::write(&outside, "precious\n").expect("write");
        let git = dir.path().join("git");
        std::fs::create_dir_all(git.join("zonewright")).expect("mkdir");
        std::os::unix::fs::symlink(&outside, path_in(&git)).expect("symlink");
        let e = WriteLog::open(&git).err().expect("refused");
        assert!(e.to_string().contains("is a symbolic link; refused"), "{e}");
        let e = set_aside(&git, &[entry(1)]).err();
        assert!(e.is_none(), "set_aside writes its own file: {e:?}");
        std::fs::remove_file(unapplied_path(&git)).expect("rm");
        std::os::unix::fs::symlink(&outside, unapplied_path(&git)).expect("symlink");
        assert!(set_aside(&git, &[entry(1)]).is_err());
        assert_eq!(
            std::fs::read_to_string(&outside).expect("read"),
            "precious\n"
        );

        let git2 = dir.path().join("git2");
        std::fs::create_dir(&git2).expect("mkdir");
        std::os::unix::fs::symlink(dir.path(), git2.join("zonewright")).expect("symlink");
        let e = WriteLog::open(&git2).err().expect("refused");
        assert!(e.to_string().contains("is not a folder"), "{e}");
    }

    /// A log larger than any of ours is set aside whole, not read into
    /// memory and replayed.
    #[test]
    fn an_oversized_log_is_set_aside_unread() {
        let dir = tempfile::tempdir().expect("tempdir");
        std::fs::create_dir(dir.path().join("zonewright")).expect("mkdir");
        let f = std::fs::File::create(path_in(dir.path())).expect("create");
        f.set_len(MAX_LOG + 1).expect("sparse");
        drop(f);
        let (log, found) = WriteLog::open(dir.path()).expect("open");
        assert!(found.is_empty());
        assert_eq!(std::fs::metadata(log.path()).expect("stat").len(), 0);
        let kept: Vec<_> = std::fs::read_dir(dir.path().join("zonewright"))
            .expect("ls")
            .filter_map(|e| e.ok())
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .filter(|n| n.starts_with("writes.log.too-large-"))
            .collect();
        assert_eq!(kept.len(), 1, "{kept:?}");
    }

    #[test]
    fn a_kept_log_is_never_truncated() {
        let dir = tempfile::tempdir().expect("tempdir");
        let (log, _) = WriteLog::open(dir.path()).expect("open");
        log.append(&entry(1)).expect("append");
        log.committed(1);
        log.keep();
        assert!(!log.truncate_if_committed().expect("truncate"));
        assert!(std::fs::metadata(log.path()).expect("stat").len() > 0);
    }
}
