//! The two file-system primitives of the write path: an atomic replace of a
//! zone file and the cross-process lock beside it.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};

use fs2::FileExt;

/// Replaces `path` with `text` so that a crash at any instant leaves either
/// the old or the new file, never a mix: write a temp file in the same
/// directory, fsync it, give it the original's permissions, rename it over
/// the original, then fsync the directory so the rename itself is durable.
pub fn replace_atomically(path: &Path, text: &str) -> io::Result<()> {
    let dir = parent_dir(path);
    let mut tmp = tempfile::Builder::new()
        .prefix(".zonewright-")
        .suffix(".tmp")
        .tempfile_in(&dir)?;
    tmp.write_all(text.as_bytes())?;
    tmp.as_file().sync_all()?;
    if let Ok(meta) = fs::metadata(path) {
        fs::set_permissions(tmp.path(), meta.permissions())?;
    }
    tmp.persist(path).map_err(|e| e.error)?;
    File::open(&dir)?.sync_all()
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
    /// Blocks until the lock is ours.
    pub fn acquire(zone_file: &Path) -> io::Result<ZoneFileLock> {
        let file = OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(lock_path(zone_file))?;
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
    use std::os::unix::fs::PermissionsExt;

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
        // No temp file left behind.
        let names: Vec<_> = fs::read_dir(dir.path())
            .expect("ls")
            .map(|e| e.expect("entry").file_name())
            .collect();
        assert_eq!(names.len(), 1, "{names:?}");
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
