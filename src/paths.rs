//! Resolving paths (symbolic links, `..`) for the confinement checks, in
//! one `lstat` for the common case instead of a walk of every component.
//!
//! # Design
//!
//! ```text
//!  canonical_root(zones_dir)     the configured folder, resolved once and
//!                                 reused while its (device, inode) stays
//!                                 the same (one stat instead of a readlink
//!                                 per component, per zone, per write)
//!  resolve_in(file, root, real)  a file directly in `root` that is no
//!                                 symbolic link resolves to real/<name>;
//!                                 anything else (a link, a subfolder, a
//!                                 name with `..`) is canonicalised as before
//! ```
//!
//! The confinement checks (a zone file or `$INCLUDE` must resolve inside
//! `zones_dir` or `include_dirs`; git records only files in its work tree)
//! ask the same question about the same folder for every zone at start-up
//! and for every write: with 50,000 zones the readlinks alone were an
//! eighth of the start-up's CPU. The answers are the ones
//! [`Path::canonicalize`] gives: a root moved or replaced by a link has a
//! new (device, inode) and is resolved again; a file that is a link is
//! resolved in full.

use std::collections::HashMap;
use std::io;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

/// A root resolved: the (device, inode) it had, and the path.
type Resolved = ((u64, u64), PathBuf);

/// Resolved roots, by the path they were asked for.
static ROOTS: Mutex<Option<HashMap<PathBuf, Resolved>>> = Mutex::new(None);

/// Most roots remembered (a process serves a handful; the tests many).
const MAX_ROOTS: usize = 1024;

/// `root` resolved, as [`Path::canonicalize`] would: remembered while the
/// folder it names keeps its (device, inode).
pub fn canonical_root(root: &Path) -> io::Result<PathBuf> {
    let meta = std::fs::metadata(root)?;
    let id = (meta.dev(), meta.ino());
    {
        let roots = ROOTS.lock().unwrap_or_else(|p| p.into_inner());
        if let Some((seen, real)) = roots.as_ref().and_then(|m| m.get(root))
            && *seen == id
        {
            return Ok(real.clone());
        }
    }
    let real = root.canonicalize()?;
    let mut roots = ROOTS.lock().unwrap_or_else(|p| p.into_inner());
    let map = roots.get_or_insert_with(HashMap::new);
    if map.len() >= MAX_ROOTS {
        map.clear();
    }
    map.insert(root.to_path_buf(), (id, real.clone()));
    Ok(real)
}

/// `file` resolved, as [`Path::canonicalize`] would: when it lies
/// directly in `root` (as given, unresolved) and is no symbolic link,
/// `real_root` (`root` resolved) joined with its name, for one `lstat`.
pub fn resolve_in(file: &Path, root: &Path, real_root: &Path) -> io::Result<PathBuf> {
    if let (Some(parent), Some(name)) = (file.parent(), file.file_name())
        && parent == root
    {
        let meta = std::fs::symlink_metadata(file)?;
        if !meta.file_type().is_symlink() {
            return Ok(real_root.join(name));
        }
    }
    file.canonicalize()
}

/// `file`'s folder resolved: `real_root` when it is `root` (as given),
/// otherwise canonicalised.
pub fn parent_in(file: &Path, root: &Path, real_root: &Path) -> io::Result<PathBuf> {
    let parent = match file.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    if parent == root {
        return Ok(real_root.to_path_buf());
    }
    parent.canonicalize()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn answers_are_those_of_canonicalize() {
        let base = tempfile::tempdir().expect("tempdir");
        let real = base.path().join("real");
        std::fs::create_dir(&real).expect("dir");
        std::fs::create_dir(real.join("sub")).expect("sub");
        std::fs::write(real.join("a.zone"), "a").expect("a");
        std::fs::write(base.path().join("outside.zone"), "o").expect("o");
        let link = base.path().join("link");
        std::os::unix::fs::symlink(&real, &link).expect("link");
        // Files reached through a link to the root, a link out of it, a
        // subfolder, `..`: the same answer as canonicalize.
        std::os::unix::fs::symlink(base.path().join("outside.zone"), real.join("out.zone"))
            .expect("out");
        let root = canonical_root(&link).expect("root");
        assert_eq!(root, real.canonicalize().expect("c"));
        for name in [
            "a.zone",
            "out.zone",
            "sub",
            "sub/../a.zone",
            "../outside.zone",
        ] {
            let file = link.join(name);
            assert_eq!(
                resolve_in(&file, &link, &root).expect("resolved"),
                file.canonicalize().expect("c"),
                "{name}"
            );
        }
        assert!(resolve_in(&link.join("missing.zone"), &link, &root).is_err());
        assert_eq!(
            parent_in(&link.join("a.zone"), &link, &root).expect("p"),
            root
        );
    }

    /// A root replaced by a link elsewhere (a new inode) resolves anew.
    #[test]
    fn a_root_replaced_is_resolved_again() {
        let base = tempfile::tempdir().expect("tempdir");
        let one = base.path().join("one");
        let two = base.path().join("two");
        std::fs::create_dir(&one).expect("one");
        std::fs::create_dir(&two).expect("two");
        let root = base.path().join("zones");
        std::os::unix::fs::symlink(&one, &root).expect("link");
        assert_eq!(
            canonical_root(&root).expect("r"),
            one.canonicalize().expect("c")
        );
        std::fs::remove_file(&root).expect("unlink");
        std::os::unix::fs::symlink(&two, &root).expect("relink");
        assert_eq!(
            canonical_root(&root).expect("r"),
            two.canonicalize().expect("c")
        );
        std::fs::remove_file(&root).expect("unlink");
        assert!(canonical_root(&root).is_err());
    }
}
