//! The two file-system primitives of the write path: an atomic replace of a
//! zone file and the cross-process lock beside it.
//!
//! Both open only regular files and never block on opening: the lock file
//! with `O_NOFOLLOW | O_NONBLOCK` (a symlink planted at `.NAME.lock` cannot
//! make us create or truncate a file elsewhere, a FIFO cannot stall us),
//! the file being replaced with `O_NONBLOCK` and checked by `fstat`.

use std::fs::{self, File};
use std::io::{self, Write};
use std::path::{Path, PathBuf};

use fs2::FileExt;

use crate::loader::FileId;

/// A zone file's next version, written and fsynced beside it but not yet
/// in place. Replacing is split in two so the slow part (writing, fsync)
/// happens before the caller's last recheck of the file on disk, and only
/// the rename after it: a crash at any instant leaves either the old or the
/// new file, never a mix, and the window in which an editor's save could be
/// overwritten is a stat and a rename.
pub struct Prepared {
    path: PathBuf,
    tmp: tempfile::NamedTempFile,
    id: FileId,
    meta: fs::Metadata,
    /// What was written, read back after the rename (see
    /// [`Prepared::install_over`]).
    text: std::sync::Arc<String>,
}

/// A zone file's new version, in place.
pub struct Installed {
    pub path: PathBuf,
    /// Its identity: content and mtime from before the rename (see
    /// [`Prepared::write`]), the change time the rename gave it (a write
    /// by someone else after the rename moves it again).
    pub id: FileId,
    /// Its stat for git's index: as written, with the ctime the rename
    /// gave it (git compares ctime; a stat from before the rename would
    /// make every `git status` read the whole file again). A write by
    /// someone else after the rename still shows: it changes the mtime.
    pub stat: crate::git::Stat,
}

impl Prepared {
    /// Writes `text` to a temp file in `path`'s directory, gives it the
    /// original's owner, group and permissions, and fsyncs it.
    pub fn write(path: &Path, text: &std::sync::Arc<String>) -> io::Result<Prepared> {
        use std::os::unix::fs::{MetadataExt, PermissionsExt};
        // Created with the original's mode, so that (the umask allowing)
        // no chmod follows: one system call and one inotify event fewer
        // per write.
        let original = fs::metadata(path).ok();
        let want = original.as_ref().map(fs::Metadata::permissions);
        let mut builder = tempfile::Builder::new();
        builder.prefix(".zonewright-").suffix(".tmp");
        if let Some(mode) = &want {
            builder.permissions(mode.clone());
        }
        let mut tmp = builder.tempfile_in(parent_dir(path))?;
        tmp.write_all(text.as_bytes())?;
        // The identity the file will have once renamed, taken from our own
        // handle: a write by someone else after the rename changes it, so
        // the reloader notices instead of taking their change for ours.
        let mut meta = tmp.as_file().metadata()?;
        // The owner and group too (round 32: a 0640 file kept for a
        // reader's group came back as the server's), where we may give
        // them (root, or a group the server is in); else ours, as before.
        // Before the mode: a chown clears the set-id bits.
        if let Some(o) = &original
            && (o.uid(), o.gid()) != (meta.uid(), meta.gid())
            && std::os::unix::fs::fchown(tmp.as_file(), Some(o.uid()), Some(o.gid()))
                .or_else(|_| std::os::unix::fs::fchown(tmp.as_file(), None, Some(o.gid())))
                .is_ok()
        {
            meta = tmp.as_file().metadata()?;
        }
        // The mode before the fsync, so the fsync makes it durable with
        // the content.
        if let Some(mode) = want
            && meta.permissions().mode() & 0o7777 != mode.mode() & 0o7777
        {
            tmp.as_file().set_permissions(mode)?;
            meta = tmp.as_file().metadata()?;
        }
        tmp.as_file().sync_all()?;
        let id = FileId::from_metadata(&meta);
        Ok(Prepared {
            path: path.to_path_buf(),
            tmp,
            id,
            meta,
            text: text.clone(),
        })
    }

    /// The zone file this will replace.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Renames the temp file over the zone file and fsyncs the directory so
    /// the rename itself is durable.
    pub fn install(self) -> io::Result<Installed> {
        match self.install_over(None)? {
            Ok(installed) => {
                File::open(parent_dir(&installed.path))?.sync_all()?;
                Ok(installed)
            }
            Err(Swapped) => Err(io::Error::other("the file was replaced meanwhile")),
        }
    }

    /// Like [`Prepared::install`], but only over the file whose identity
    /// is `expected`: the two are swapped atomically (`renameat2` with
    /// `RENAME_EXCHANGE`), and if what came out is another file (an editor
    /// renamed its save over the zone file after our last check), they are
    /// swapped back and `Ok(Err(Swapped))` says so: their save stays, ours
    /// is dropped. Where the file system cannot exchange, a plain rename.
    ///
    /// The rename is not yet durable: the caller fsyncs the directory
    /// ([`DirSyncs::sync`], shared with the writes to other zones of the
    /// folder) before it answers, outside the lock it holds for the rename.
    pub fn install_over(self, expected: Option<FileId>) -> io::Result<Result<Installed, Swapped>> {
        let Prepared {
            path,
            tmp,
            id,
            meta,
            text,
        } = self;
        let (file, tmp_path) = tmp.into_parts();
        let exchanged = expected.is_some()
            && match rustix::fs::renameat_with(
                rustix::fs::CWD,
                &*tmp_path,
                rustix::fs::CWD,
                &path,
                rustix::fs::RenameFlags::EXCHANGE,
            ) {
                Ok(()) => true,
                // Not supported here (an old kernel, some network or FUSE
                // file systems): the plain rename below.
                Err(e) if e == rustix::io::Errno::INVAL || e == rustix::io::Errno::NOSYS => false,
                Err(e) => return Err(e.into()),
            };
        let mut meta = meta;
        if exchanged {
            // `tmp_path` now names what was the zone file.
            // Compared without the change time, which the exchange moved.
            let old = fs::metadata(&*tmp_path);
            let was = old.as_ref().map(|m| FileId::from_metadata(m).written());
            if expected.is_some_and(|want| was.as_ref().ok() != Some(&want.written())) {
                rustix::fs::renameat_with(
                    rustix::fs::CWD,
                    &*tmp_path,
                    rustix::fs::CWD,
                    &path,
                    rustix::fs::RenameFlags::EXCHANGE,
                )?;
                File::open(parent_dir(&path))?.sync_all()?;
                // Dropping `tmp_path` removes our version.
                return Ok(Err(Swapped));
            }
            // A `chmod` or `chown` of the old file since we copied its
            // mode and owner (round 50 L4: undone by the rename, 1 of 50
            // racing writes) is carried over; one of our file since the
            // rename is left alone.
            if let Ok(old) = &old
                && keep_attributes(&file, old, &meta)
            {
                meta = file.metadata()?;
            }
            // Dropping `tmp_path` removes the old file.
            drop(tmp_path);
        } else {
            tmp_path.persist(&path).map_err(|e| e.error)?;
        }
        let mut stat = crate::git::Stat::of(&meta);
        // Without a change time, the identity matches no file: the next
        // write, or the reloader's next pass, reads the file again.
        let mut id = id.written();
        if let Ok(after) = file.metadata() {
            stat.ctime = crate::git::Stat::of(&after).ctime;
            // The change time is the rename's, unless someone wrote to the
            // file between the rename and this stat, putting its size and
            // mtime back (round 50: an edit timed by inotify's IN_MOVED_TO
            // landed there, 9 of 20 times, and was taken for ours). Read
            // back after the stat: such an edit shows in the text; one
            // made after it moves the change time (the kernel gives a
            // change time read by a stat a finer one at the next change).
            if reads_back(&file, &text) {
                id = id.renamed(&after);
            }
        }
        Ok(Ok(Installed { path, id, stat }))
    }
}

/// Gives `file` (ours, as `ours` was prepared) the mode, owner and group
/// `old` has now where they differ (owner and group where we may: root,
/// or a group we are in). `true`: something was changed.
fn keep_attributes(file: &File, old: &fs::Metadata, ours: &fs::Metadata) -> bool {
    use std::os::unix::fs::{MetadataExt, PermissionsExt};
    let mut changed = false;
    if (old.uid(), old.gid()) != (ours.uid(), ours.gid()) {
        changed |= std::os::unix::fs::fchown(file, Some(old.uid()), Some(old.gid()))
            .or_else(|_| std::os::unix::fs::fchown(file, None, Some(old.gid())))
            .is_ok();
    }
    // After the owner: a chown clears the set-id bits.
    let mode = old.permissions().mode() & 0o7777;
    if mode != ours.permissions().mode() & 0o7777 || changed {
        changed |= file
            .set_permissions(fs::Permissions::from_mode(mode))
            .is_ok();
    }
    changed
}

/// Whether `file` holds exactly `text` (read from the start, in 64 KiB
/// pieces: no copy of a large zone file).
fn reads_back(file: &File, text: &str) -> bool {
    use std::os::unix::fs::FileExt;
    let want = text.as_bytes();
    let mut buf = vec![0u8; 64 * 1024];
    let mut at = 0usize;
    // Bounded: each pass reads at least one byte or ends.
    loop {
        let Ok(n) = file.read_at(&mut buf, at as u64) else {
            return false;
        };
        if n == 0 {
            return at == want.len();
        }
        let end = at + n;
        if end > want.len() || buf[..n] != want[at..end] {
            return false;
        }
        at = end;
    }
}

/// The directory fsyncs that make renames durable, shared by concurrent
/// writes (group commit): a write's rename is covered by any fsync of its
/// folder that starts after the rename, so of eight writes to zones of one
/// folder that rename while an fsync runs, the next fsync covers all eight
/// instead of each waiting for its own in turn.
#[derive(Default)]
pub struct DirSyncs {
    dirs: std::sync::Mutex<std::collections::HashMap<PathBuf, std::sync::Arc<DirSync>>>,
}

#[derive(Default)]
struct DirSync {
    /// Renames done in the folder (tickets taken after each rename).
    renamed: std::sync::atomic::AtomicU64,
    /// The renames known to be durable; held while one writer fsyncs, so
    /// the others wait for it and then find themselves covered.
    synced: std::sync::Mutex<u64>,
}

impl DirSyncs {
    /// Returns once the renames done in `dir` before this call are
    /// durable (an fsync of `dir`, this caller's or one that started after
    /// the call). An error means this caller's own fsync failed.
    pub fn sync(&self, dir: &Path) -> io::Result<()> {
        use std::sync::atomic::Ordering::SeqCst;
        let d = {
            let mut dirs = self.dirs.lock().unwrap_or_else(|p| p.into_inner());
            dirs.entry(dir.to_path_buf()).or_default().clone()
        };
        let ticket = d.renamed.fetch_add(1, SeqCst) + 1;
        let mut synced = d.synced.lock().unwrap_or_else(|p| p.into_inner());
        if *synced >= ticket {
            return Ok(());
        }
        // Every ticket taken so far was taken after its rename: this fsync,
        // which starts now, covers them all.
        let upto = d.renamed.load(SeqCst);
        File::open(dir)?.sync_all()?;
        *synced = upto.max(*synced);
        Ok(())
    }
}

/// The folder a zone file is in (`.` for a bare name).
pub fn folder_of(path: &Path) -> PathBuf {
    parent_dir(path)
}

/// [`Prepared::install_over`] found another file than expected in place
/// and left it there.
#[derive(Debug)]
pub struct Swapped;

/// The zone file about to be replaced, held open across the rename. A
/// writer that does not take our lock (an editor, `echo >>`) may write to
/// it in the instant between our last check and the rename; their bytes
/// then land in the inode we just replaced. Holding it open lets us see
/// that afterwards and put their version back, instead of losing it.
pub struct Replaced {
    file: File,
    id: FileId,
    path: PathBuf,
}

impl Replaced {
    /// Opens `path` (which may be a symlink an operator made) if it is a
    /// regular file, without blocking: this runs under the state guard.
    pub fn open(path: &Path) -> io::Result<Replaced> {
        let (file, meta) = crate::loader::open_regular(path, true).map_err(io::Error::other)?;
        // Without the change time: replacing the file moves it.
        let id = FileId::from_metadata(&meta).written();
        Ok(Replaced {
            file,
            id,
            path: path.to_path_buf(),
        })
    }

    /// The path it was opened at (the zone file it was).
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Its identity now (`None`: it cannot be looked at).
    pub fn current(&self) -> Option<FileId> {
        self.file
            .metadata()
            .ok()
            .map(|m| FileId::from_metadata(&m).written())
    }

    /// A process other than this one that has it open for writing (pid,
    /// command), from `/proc` ([`crate::loader::each_fd_open_for_writing`]).
    pub fn writer(&self) -> Option<(u32, String)> {
        use std::os::unix::fs::MetadataExt;
        let (dev, ino) = (self.id.dev, self.id.inode);
        let mut writer = None;
        crate::loader::each_fd(|pid, proc_dir, fd| {
            // The descriptor's own inode, also once unlinked.
            let same = fs::metadata(fd).is_ok_and(|m| m.dev() == dev && m.ino() == ino)
                && crate::loader::fd_open_for_writing(proc_dir, fd);
            if same {
                writer = Some((pid, crate::loader::command_of(proc_dir)));
            }
            same
        });
        writer
    }

    /// The identity at open time, without the change time (compare with
    /// what the change was computed on, [`FileId::written`]).
    pub fn id(&self) -> FileId {
        self.id
    }

    /// Was it written to since it was opened?
    pub fn changed(&self) -> io::Result<bool> {
        Ok(FileId::from_metadata(&self.file.metadata()?).written() != self.id)
    }

    /// Its content now, at most `limit` bytes of it, and whether that is
    /// all of it.
    pub fn bytes(&self, limit: u64) -> io::Result<(Vec<u8>, bool)> {
        use std::io::{Read, Seek, SeekFrom};
        let mut f = &self.file;
        f.seek(SeekFrom::Start(0))?;
        let mut bytes = Vec::new();
        f.take(limit.saturating_add(1)).read_to_end(&mut bytes)?;
        let whole = bytes.len() as u64 <= limit;
        bytes.truncate(usize::try_from(limit).unwrap_or(usize::MAX));
        Ok((bytes, whole))
    }

    /// Its whole content now, if at most `limit` bytes.
    pub fn text(&self, limit: u64) -> io::Result<String> {
        use std::io::{Seek, SeekFrom};
        let mut f = &self.file;
        f.seek(SeekFrom::Start(0))?;
        let size = f.metadata()?.len();
        let bytes = crate::loader::read_bounded(f, size, limit)?
            .ok_or_else(|| io::Error::other(format!("larger than {limit} bytes")))?;
        String::from_utf8(bytes).map_err(|_| io::Error::other("not UTF-8 text"))
    }
}

/// Replaces `path` with `text` atomically ([`Prepared`] in one go).
pub fn replace_atomically(path: &Path, text: &str) -> io::Result<()> {
    Prepared::write(path, &std::sync::Arc::new(text.to_owned()))?
        .install()
        .map(|_| ())
}

fn parent_dir(path: &Path) -> PathBuf {
    match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    }
}

/// `dir/.NAME.lock` for `dir/NAME`: the lock file beside a zone file.
pub fn lock_path(zone_file: &Path) -> PathBuf {
    let name = zone_file
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "zone".into());
    parent_dir(zone_file).join(format!(".{name}.lock"))
}

/// An exclusive advisory lock (flock) on the zone's lock file, held until
/// dropped, so two zonewright processes (or a cooperating script using
/// `flock(1)` on the same file) never write one zone at once.
pub struct ZoneFileLock {
    file: File,
}

impl ZoneFileLock {
    /// Blocks until the lock is ours. The lock file is created if missing;
    /// a symlink or anything but a regular file there is an error (flock
    /// waits regardless of `O_NONBLOCK`, which only keeps the open from
    /// waiting for a FIFO's reader).
    pub fn acquire(zone_file: &Path) -> io::Result<ZoneFileLock> {
        use rustix::fs::{Mode, OFlags};
        let path = lock_path(zone_file);
        // Read-only, as flock(1) opens it: a lock needs no write access,
        // and closing a file opened for writing raises an inotify event
        // (IN_CLOSE_WRITE) that wakes the file watcher on every write.
        let flags =
            OFlags::RDONLY | OFlags::CREATE | OFlags::NOFOLLOW | OFlags::NONBLOCK | OFlags::CLOEXEC;
        let file = rustix::fs::open(&path, flags, Mode::from_raw_mode(0o666))
            .map(File::from)
            .map_err(io::Error::from)
            .map_err(|e| match e.raw_os_error() {
                Some(libc::ELOOP) => {
                    io::Error::other(format!("{} is a symbolic link; refused", path.display()))
                }
                // A FIFO without a reader (or a device without a driver).
                Some(libc::ENXIO) => {
                    io::Error::other(format!("{} is not a regular file; refused", path.display()))
                }
                // The lock file named (round 32: "Permission denied" read
                // as if the zone file were unreadable).
                _ => io::Error::new(e.kind(), format!("{}: {e}", path.display())),
            })?;
        let kind = file.metadata()?.file_type();
        if !kind.is_file() {
            return Err(io::Error::other(format!(
                "{} is not a regular file ({}); refused",
                path.display(),
                crate::config::file_kind(kind)
            )));
        }
        file.lock_exclusive()?;
        Ok(ZoneFileLock { file })
    }
}

impl Drop for ZoneFileLock {
    fn drop(&mut self) {
        let _ = FileExt::unlock(&self.file);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::fs::OpenOptions;
    use std::os::unix::fs::PermissionsExt;

    /// Concurrent writers to zones of one folder each return only once an
    /// fsync that started after their rename has finished; an fsync that
    /// fails (the folder is gone) is that caller's error, not a success
    /// borrowed from another's.
    #[test]
    fn dir_syncs_are_shared_and_their_errors_reported() {
        let dir = tempfile::tempdir().expect("tempdir");
        let syncs = std::sync::Arc::new(DirSyncs::default());
        let workers: Vec<_> = (0..8)
            .map(|i| {
                let (syncs, dir) = (syncs.clone(), dir.path().to_path_buf());
                std::thread::spawn(move || {
                    for j in 0..20 {
                        let p = dir.join(format!("z{i}.zone"));
                        Prepared::write(&p, &std::sync::Arc::new(format!("{j}\n")))?
                            .install_over(None)?
                            .map_err(|_| io::Error::other("swapped"))?;
                        syncs.sync(&folder_of(&p))?;
                    }
                    Ok::<(), io::Error>(())
                })
            })
            .collect();
        for w in workers {
            w.join().expect("no panic").expect("every sync succeeds");
        }
        for i in 0..8 {
            let text = fs::read_to_string(dir.path().join(format!("z{i}.zone"))).expect("read");
            assert_eq!(text, "19\n");
        }
        let gone = dir.path().join("gone");
        assert!(syncs.sync(&gone).is_err());
        assert_eq!(folder_of(Path::new("a.zone")), PathBuf::from("."));
    }

    /// Round 50 L4: a `chmod` of the zone file between a write's temp
    /// file taking the old mode and its rename was undone by the rename.
    /// The mode the old file has at the rename is carried over, and the
    /// index stat and identity are those of the file in place.
    #[test]
    fn a_chmod_while_a_write_is_prepared_is_kept() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("example.com.zone");
        fs::write(&path, "old\n").expect("write");
        fs::set_permissions(&path, fs::Permissions::from_mode(0o644)).expect("chmod");
        let expected = FileId::of(&path).expect("stat");
        let prepared =
            Prepared::write(&path, &std::sync::Arc::new("new\n".into())).expect("prepare");
        fs::set_permissions(&path, fs::Permissions::from_mode(0o600)).expect("chmod");
        let Ok(installed) = prepared.install_over(Some(expected)).expect("install") else {
            panic!("not swapped: only the mode changed");
        };
        assert_eq!(fs::read_to_string(&path).expect("read"), "new\n");
        let meta = fs::metadata(&path).expect("meta");
        assert_eq!(meta.permissions().mode() & 0o7777, 0o600);
        assert_eq!(installed.stat, crate::git::Stat::of(&meta));
        assert_eq!(FileId::of(&path).expect("stat"), installed.id);
    }

    #[test]
    fn replace_keeps_permissions_and_content() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("example.com.zone");
        fs::write(&path, "old\n").expect("write");
        fs::set_permissions(&path, fs::Permissions::from_mode(0o640)).expect("chmod");
        replace_atomically(&path, "new\n").expect("replace");
        assert_eq!(fs::read_to_string(&path).expect("read"), "new\n");
        let mode = fs::metadata(&path).expect("meta").permissions().mode() & 0o777;
        assert_eq!(mode, 0o640);
        // The identity taken before the rename is the installed file's.
        let prepared =
            Prepared::write(&path, &std::sync::Arc::new("newer\n".into())).expect("prepare");
        let installed = prepared.install().expect("install");
        assert_eq!(FileId::of(&path).expect("stat"), installed.id);
        // The stat for git's index is the file's as it is in place.
        let now = crate::git::Stat::of(&fs::metadata(&path).expect("stat"));
        assert_eq!(installed.stat, now);
        // No temp file left behind.
        let names: Vec<_> = fs::read_dir(dir.path())
            .expect("ls")
            .map(|e| e.expect("entry").file_name())
            .collect();
        assert_eq!(names.len(), 1, "{names:?}");
    }

    /// Round 32: the owner and group stay (a 0640 file kept for a
    /// reader's group came back as the server's), set-id bits too. Needs
    /// root to give a file away; elsewhere it checks nothing is lost.
    #[test]
    fn replace_keeps_owner_and_group() {
        use std::os::unix::fs::MetadataExt;
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("example.com.zone");
        fs::write(&path, "old\n").expect("write");
        let nobody = 65534;
        if std::os::unix::fs::chown(&path, Some(nobody), Some(nobody)).is_err() {
            replace_atomically(&path, "new\n").expect("replace");
            assert_eq!(fs::read_to_string(&path).expect("read"), "new\n");
            return;
        }
        fs::set_permissions(&path, fs::Permissions::from_mode(0o2640)).expect("chmod");
        replace_atomically(&path, "new\n").expect("replace");
        let meta = fs::metadata(&path).expect("meta");
        assert_eq!((meta.uid(), meta.gid()), (nobody, nobody));
        assert_eq!(meta.permissions().mode() & 0o7777, 0o2640);
        assert_eq!(fs::read_to_string(&path).expect("read"), "new\n");
    }

    #[test]
    fn a_write_to_the_replaced_file_is_seen() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("example.com.zone");
        fs::write(&path, "ours\n").expect("write");
        let old = Replaced::open(&path).expect("open");
        let mut late = OpenOptions::new().append(true).open(&path).expect("open");
        replace_atomically(&path, "new\n").expect("replace");
        assert!(!old.changed().expect("stat"));
        // A writer that opened the file before the rename writes after it.
        late.write_all(b"theirs\n").expect("append");
        assert!(old.changed().expect("stat"));
        assert_eq!(old.text(1 << 20).expect("read"), "ours\ntheirs\n");
        assert!(old.text(5).is_err(), "bounded");
        assert_eq!(fs::read_to_string(&path).expect("read"), "new\n");
    }

    #[test]
    fn lock_file_is_never_a_symlink_or_a_fifo() {
        let dir = tempfile::tempdir().expect("tempdir");
        let zone = dir.path().join("example.com.zone");
        let target = dir.path().join("elsewhere");
        std::os::unix::fs::symlink(&target, lock_path(&zone)).expect("ln");
        let e = ZoneFileLock::acquire(&zone).err().expect("symlink refused");
        assert!(e.to_string().contains("symbolic link"), "{e}");
        assert!(!target.exists(), "nothing created through the link");
        fs::remove_file(lock_path(&zone)).expect("rm");
        let made = std::process::Command::new("mkfifo")
            .arg(lock_path(&zone))
            .status()
            .expect("mkfifo");
        assert!(made.success());
        // Returns at once rather than waiting for a reader.
        let e = ZoneFileLock::acquire(&zone).err().expect("fifo refused");
        assert!(e.to_string().contains("not a regular file"), "{e}");
        let e = Replaced::open(&lock_path(&zone))
            .err()
            .expect("fifo refused");
        assert!(e.to_string().contains("FIFO"), "{e}");
    }

    #[test]
    fn lock_file_sits_beside_the_zone_and_is_exclusive() {
        let dir = tempfile::tempdir().expect("tempdir");
        let zone = dir.path().join("example.com.zone");
        assert_eq!(lock_path(&zone), dir.path().join(".example.com.zone.lock"));
        let held = ZoneFileLock::acquire(&zone).expect("lock");
        let other = OpenOptions::new()
            .write(true)
            .open(lock_path(&zone))
            .expect("open");
        assert!(other.try_lock_exclusive().is_err(), "second lock must fail");
        drop(held);
        assert!(other.try_lock_exclusive().is_ok());
    }
}
