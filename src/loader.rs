//! Reading zone files from disk into [`Zone`]s: the file-system edge of the
//! pure parser ([`crate::zonefile`]) and validator ([`crate::zone`]).
//!
//! # Design
//!
//! ```text
//!  Config ──► sources() ──► [ZoneSource { origin, path, allow_transfer, confined }]
//!                                                    │  (and link, read_only: symlinks followed)
//!  Config ──► FileRules { max_size, roots, limits }  │
//!               load_zone(source, rules)            (blocking; call off the query path)
//!                 (confine) ─► open regular ─► fstat (FileId) ─► bounded read
//!                   ─► Document::parse(.., FsIncludes) ─► Zone::build
//!                                   │
//!                 Ok(Loaded { document, zone, files })  /  Err(LoadFailure { problems, files })
//! ```
//!
//! The served zones are every `<zone>.zone` file in `zones_dir` plus the
//! explicit `[[zone]]` entries of the config; an entry with the name of a
//! discovered file overrides its path and adds its settings.
//!
//! # A zone file that is a symbolic link
//!
//! A write replaces a zone file by renaming a new file over it, which
//! would replace a symlink with a regular file (and git would record a
//! type change). So [`sources`] resolves a zone file that is a symlink, and
//! the zone's [`ZoneSource::path`], which everything after it reads, locks,
//! writes, watches and commits, is the file it points to; the link stays a
//! link, and [`ZoneSource::link`] keeps its name for messages:
//!
//! - target inside `zones_dir` (the git repository): written through; the
//!   commit records the target;
//! - target anywhere else (an `[server] include_dirs` location, or where a
//!   `[[zone]] file` points): served, but writes are refused
//!   ([`ZoneSource::read_only`] says why, naming link and target), as such
//!   a file cannot be committed to the zones repository.
//!
//! Each file is `fstat`ed when opened, *before* it is read, and the [`FileId`]s of the
//! zone file and every `$INCLUDE`d file are returned with the result, even a
//! failed one. Comparing them with a fresh `stat` tells the reloader (and a
//! later write path) whether the text on disk is still what was parsed; a
//! change during the read shows up as a different identity next time.
//!
//! # Which files are read, and how much
//!
//! A zone directory is often a git clone that several people push to, so
//! its content is less trusted than the config. [`FileRules`] holds what
//! the config allows:
//!
//! - **Only regular files.** Every file is opened with `O_NONBLOCK` (a FIFO
//!   cannot stall the open), then `fstat`ed through the open descriptor and
//!   refused unless it is a regular file (a FIFO, `/dev/zero` or a socket
//!   never gets read; `stat` alone says size 0 for those).
//! - **Bounded.** A zone's text, its file and every `$INCLUDE`d file
//!   together, is at most `[server] max_zone_file_size` bytes; each read
//!   takes at most one byte more than what is left, so the bound holds even
//!   for a file that grows while it is read. At most [`MAX_INCLUDES`]
//!   includes are followed per zone.
//! - **Confined.** Every `$INCLUDE`, and a zone file found in `zones_dir`
//!   (discovered, or a `[[zone]]` without `file`), must *resolve* (symlinks
//!   and `..` followed) inside `zones_dir` or one of `[server]
//!   include_dirs`; the resolved path is then opened with `O_NOFOLLOW`. A
//!   symlink that stays inside is fine. A zone file the config names with
//!   `[[zone]] file` is trusted where it is (the config's author chose it)
//!   but must still be a regular file; its includes are confined like any.
//!   The check is on the path as it resolves at load time: someone who can
//!   swap folders of the tree for symlinks in the instant between the check
//!   and the open could still redirect it, but not to a FIFO or a device.
//!
//! Nothing here holds a lock: callers read first and publish after (see
//! `State::reload`), so a slow disk stalls only the zone being read.

use std::cell::{Cell, RefCell};
use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::fs::{File, Metadata, OpenOptions};
use std::io::{self, Read};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::SystemTime;

use ipnet::IpNet;

use crate::config::{Config, parse_zone_name};
use crate::rr::Name;
use crate::zone::Zone;
use crate::zonefile::stored::Stored;
use crate::zonefile::{Document, IncludeLoader, ZoneError};

/// Largest file read where no config says otherwise (git blobs for IXFR):
/// the default of `[server] max_zone_file_size`.
pub const MAX_FILE_BYTES: u64 = crate::config::DEFAULT_MAX_ZONE_FILE_SIZE;
/// Most `$INCLUDE`s followed while loading one zone.
pub const MAX_INCLUDES: usize = 256;
/// File-name suffix of zone files discovered in `zones_dir`.
pub const ZONE_SUFFIX: &str = ".zone";

/// What identifies a file's content without reading it: if any of these
/// changed, the file may have changed (editors that save by rename change
/// the inode; in-place writes change mtime and usually size).
///
/// And the inode's change time, which no one can set: an in-place write
/// that keeps the size and puts the mtime back (`cp -p`, `touch -r`,
/// `rsync --inplace`) still moves it (round 46: such an edit followed at
/// once by a write was computed over and lost, the identity looking
/// unchanged until the watcher read the text). A rename, a chmod or a
/// new hard link move it too: the file is then read again, and found
/// unchanged.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FileId {
    pub mtime: Option<SystemTime>,
    pub size: u64,
    pub inode: u64,
    pub dev: u64,
    /// Seconds and nanoseconds; `None` where not known (never equal to a
    /// file's).
    pub ctime: Option<(i64, i64)>,
}

impl FileId {
    /// What a file that cannot be looked at (missing, a link loop or
    /// dangling link, a folder it cannot search) is recorded as: no file
    /// has inode 0, so a file that appears there later never matches it.
    pub const ABSENT: FileId = FileId {
        mtime: None,
        size: 0,
        inode: 0,
        dev: 0,
        ctime: None,
    };

    pub fn of(path: &Path) -> io::Result<FileId> {
        Ok(FileId::from_metadata(&std::fs::metadata(path)?))
    }

    /// `path`'s identity now, [`FileId::ABSENT`] if it has none.
    pub fn now(path: &Path) -> FileId {
        FileId::of(path).unwrap_or(FileId::ABSENT)
    }

    /// The identity of an open file (fstat), e.g. a temp file about to be
    /// renamed into place: what it will be, whatever happens after.
    pub fn from_metadata(m: &std::fs::Metadata) -> FileId {
        use std::os::unix::fs::MetadataExt;
        FileId {
            mtime: m.modified().ok(),
            size: m.len(),
            inode: m.ino(),
            dev: m.dev(),
            ctime: Some((m.ctime(), m.ctime_nsec())),
        }
    }

    /// The identity with the change time left out: what a file we rename
    /// over or unlink ourselves (which moves its ctime) is compared by,
    /// for what another process wrote into it.
    pub fn written(self) -> FileId {
        FileId {
            ctime: None,
            ..self
        }
    }

    /// This identity with the change time `after` has: a file we renamed
    /// into place, whose content and mtime were taken from our own handle
    /// before the rename.
    pub fn renamed(self, after: &std::fs::Metadata) -> FileId {
        use std::os::unix::fs::MetadataExt;
        FileId {
            ctime: Some((after.ctime(), after.ctime_nsec())),
            ..self
        }
    }
}

/// The files a zone was read from, each with its identity at read time.
pub type FileIds = Vec<(PathBuf, FileId)>;

/// Another process that has a zone file open for writing: a writer that
/// truncates the file and writes it in pieces (`cat a b > zone`, a script
/// that writes line by line, `cp` onto the file). The file may then hold a
/// prefix that happens to be a valid zone; read and rewritten, the rest of
/// the writer's output would go to a file nobody reads any more.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Writer {
    pub pid: u32,
    pub command: String,
    pub file: PathBuf,
}

impl std::fmt::Display for Writer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} is open for writing by process {} ({})",
            self.file.display(),
            self.pid,
            self.command
        )
    }
}

/// The first process other than this one with one of `files` open for
/// writing (from `/proc`: as root every process, otherwise this user's).
/// `None` also without `/proc`.
pub fn writer_of(files: &[&Path]) -> Option<Writer> {
    writers_of(files).into_iter().next()
}

/// Every file of `files` that a process other than this one has open for
/// writing, with one such process each, from one pass over `/proc` (a
/// reload of thousands of zones looks once, not once per zone).
pub fn writers_of(files: &[&Path]) -> Vec<Writer> {
    let targets: HashMap<PathBuf, &Path> = files
        .iter()
        .filter_map(|f| f.canonicalize().ok().map(|c| (c, *f)))
        .collect();
    let mut found: HashMap<&Path, Writer> = HashMap::new();
    if targets.is_empty() {
        return Vec::new();
    }
    each_fd(|pid, proc_dir, fd| {
        let Ok(target) = std::fs::read_link(fd) else {
            return false;
        };
        if let Some(file) = targets.get(&target).copied()
            && !found.contains_key(file)
            && fd_open_for_writing(proc_dir, fd)
        {
            found.entry(file).or_insert_with(|| Writer {
                pid,
                command: command_of(proc_dir),
                file: file.to_path_buf(),
            });
        }
        false
    });
    found.into_values().collect()
}

/// Calls `found(pid, /proc/PID, /proc/PID/fd/N)` for each descriptor of
/// each process other than this one, until it returns `true` (as root
/// every process, otherwise this user's; nothing without `/proc`).
pub fn each_fd(mut found: impl FnMut(u32, &Path, &Path) -> bool) {
    let me = std::process::id();
    let Ok(procs) = std::fs::read_dir("/proc") else {
        return;
    };
    for p in procs.flatten() {
        let Some(pid) = p.file_name().to_str().and_then(|s| s.parse::<u32>().ok()) else {
            continue;
        };
        if pid == me {
            continue;
        }
        let dir = p.path();
        let Ok(fds) = std::fs::read_dir(dir.join("fd")) else {
            continue;
        };
        for fd in fds.flatten() {
            if found(pid, &dir, &fd.path()) {
                return;
            }
        }
    }
}

/// Whether `fd` (`/proc/PID/fd/N`) of the process at `proc_dir` is open
/// for writing: fdinfo's `flags:` is the open(2) flags in octal.
pub fn fd_open_for_writing(proc_dir: &Path, fd: &Path) -> bool {
    const O_ACCMODE: u32 = 0o3;
    let Some(n) = fd.file_name() else {
        return false;
    };
    std::fs::read_to_string(proc_dir.join("fdinfo").join(n))
        .ok()
        .is_some_and(|t| {
            t.lines()
                .find_map(|l| l.strip_prefix("flags:"))
                .and_then(|v| u32::from_str_radix(v.trim(), 8).ok())
                .is_some_and(|flags| flags & O_ACCMODE != 0)
        })
}

/// The command name of the process at `proc_dir` (`/proc/PID/comm`).
pub fn command_of(proc_dir: &Path) -> String {
    std::fs::read_to_string(proc_dir.join("comm"))
        .map(|c| c.trim_end().to_owned())
        .unwrap_or_default()
}

/// True when every file still has the identity recorded in `files` (a
/// file recorded [`FileId::ABSENT`] still cannot be looked at).
pub fn unchanged(files: &FileIds) -> bool {
    !files.is_empty() && files.iter().all(|(path, id)| FileId::now(path) == *id)
}

/// One zone to serve: where its file is and its settings.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ZoneSource {
    pub origin: Name,
    pub path: PathBuf,
    pub allow_transfer: Vec<IpNet>,
    /// The file was found in `zones_dir` (not named by `[[zone]] file`):
    /// it must resolve inside the allowed folders like an `$INCLUDE`.
    pub confined: bool,
    /// The zone file as found, when it is a symbolic link: `path` is then
    /// the file it resolves to (see the module doc).
    pub link: Option<PathBuf>,
    /// Why writes to the zone are refused, when they are: its file is a
    /// symlink to a file outside `zones_dir`, which cannot be committed.
    /// The store answers a write with this message (SERVFAIL, 500).
    pub read_only: Option<String>,
}

impl ZoneSource {
    /// The zone file in `zones_dir` when it is a symbolic link to a file
    /// inside `zones_dir` (written through or not): git records it as a
    /// link (see `Store::record_paths`).
    pub fn link_inside(&self, zones_dir: &Path) -> Option<&Path> {
        // Also a `[[zone]] file` in zones_dir (round 50: the example
        // config names its files, and such a link was never recorded).
        self.link
            .as_deref()
            .filter(|l| l.starts_with(zones_dir) && self.path.starts_with(zones_dir))
    }

    /// The zone file as found in its folder: the link when it is one.
    pub fn listed(&self) -> &Path {
        self.link.as_deref().unwrap_or(&self.path)
    }

    /// A zone file named by the operator (config or command line): read
    /// where it is, only its includes confined.
    pub fn named(origin: Name, path: PathBuf) -> ZoneSource {
        ZoneSource {
            origin,
            path,
            allow_transfer: Vec::new(),
            confined: false,
            link: None,
            read_only: None,
        }
    }

    /// Follows `path` when it is a symbolic link (see the module doc): the
    /// target becomes `path`, inside `zones_dir` under `zones_dir`'s own
    /// name (so git and the messages see it as the rest of the tree),
    /// anywhere else as it resolves, and then read-only. A link that does
    /// not resolve is left as it is: loading it says why.
    pub fn follow_link(mut self, zones_dir: &Path) -> ZoneSource {
        let is_link =
            std::fs::symlink_metadata(&self.path).is_ok_and(|m| m.file_type().is_symlink());
        let Some(target) = is_link.then(|| self.path.canonicalize().ok()).flatten() else {
            return self;
        };
        let in_repo = in_repository(zones_dir, &target);
        let link = std::mem::replace(
            &mut self.path,
            match &in_repo {
                Some(rel) => zones_dir.join(rel),
                None => target.clone(),
            },
        );
        // Another zone's file (`a.zone -> b.zone`): a write to this zone
        // would change that zone's file, under a key granted this one.
        let other = in_repo
            .as_ref()
            .filter(|rel| rel.components().count() == 1)
            .and_then(|rel| rel.to_str())
            .and_then(zone_file_origin)
            .filter(|o| *o != self.origin);
        if let Some(other) = other {
            self.read_only = Some(format!(
                "the zone file {} is a symbolic link to {}, the file of zone {other}: writes \
                 to zone {} are refused (copy the file instead of linking it)",
                link.display(),
                target.display(),
                self.origin,
            ));
        }
        if in_repo.is_none() {
            self.read_only = Some(format!(
                "the zone file {} is a symbolic link to {}, outside zones_dir {}: \
                 writes to it could not be committed, so writes to zone {} are refused \
                 (move the file into zones_dir, or write it by hand)",
                link.display(),
                target.display(),
                zones_dir.display(),
                self.origin,
            ));
        }
        self.link = Some(link);
        self
    }
}

/// `file`'s path relative to `zones_dir` (the repository's work tree) when
/// it lies inside it and not in its `.git` folder, symbolic links resolved;
/// `None` otherwise: a file git cannot record.
pub fn in_repository(zones_dir: &Path, file: &Path) -> Option<PathBuf> {
    let root = crate::paths::canonical_root(zones_dir).ok()?;
    let resolved = crate::paths::resolve_in(file, zones_dir, &root)
        .ok()
        .or_else(|| {
            // Not there (yet): its folder, resolved, and its name.
            let parent = crate::paths::parent_in(file, zones_dir, &root).ok()?;
            Some(parent.join(file.file_name()?))
        })?;
    resolved
        .strip_prefix(&root)
        .ok()
        .map(Path::to_path_buf)
        .filter(|rel| {
            rel.components()
                .next()
                .is_some_and(|c| matches!(c, std::path::Component::Normal(n) if n != ".git"))
        })
        .filter(|rel| crate::git::nested_in(&root, rel).is_none())
}

/// The git repository of its own that `file`, inside `zones_dir`, lies in
/// (see [`crate::git::nested_in`]), for messages.
pub fn nested_repository(zones_dir: &Path, file: &Path) -> Option<PathBuf> {
    let root = crate::paths::canonical_root(zones_dir).ok()?;
    let resolved = crate::paths::resolve_in(file, zones_dir, &root).ok()?;
    let rel = resolved.strip_prefix(&root).ok()?;
    crate::git::nested_in(&root, rel)
}

/// What may be read for a zone: how much, and from which folders.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FileRules {
    /// Bytes read for one zone, its file and includes together.
    pub max_size: u64,
    /// Where `$INCLUDE`s (and zone files found in `zones_dir`) may resolve:
    /// `zones_dir`, then `[server] include_dirs`.
    pub roots: Vec<PathBuf>,
    /// What one zone may hold (`[server] max_zone_records`, `max_rrset_records`).
    pub limits: crate::zone::Limits,
}

impl FileRules {
    /// The rules `config` sets.
    pub fn new(config: &Config) -> FileRules {
        let mut roots = vec![config.zones_dir.clone()];
        roots.extend(config.server.include_dirs.iter().cloned());
        FileRules {
            max_size: config.server.max_zone_file_size,
            roots,
            limits: config.server.limits,
        }
    }

    /// For `zonewright zone check FILE`: FILE's folder plays `zones_dir`.
    pub fn for_file(path: &Path) -> FileRules {
        FileRules {
            max_size: crate::config::DEFAULT_MAX_ZONE_FILE_SIZE,
            roots: vec![parent_dir(path)],
            limits: crate::zone::Limits::default(),
        }
    }

    /// The roots as given and as they resolve now (a missing one allows
    /// nothing).
    fn resolved_roots(&self) -> Vec<(PathBuf, PathBuf)> {
        self.roots
            .iter()
            .filter_map(|r| Some((r.clone(), crate::paths::canonical_root(r).ok()?)))
            .collect()
    }
}

fn parent_dir(path: &Path) -> PathBuf {
    match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    }
}

/// A problem loading a zone or listing the zones directory.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum LoadProblem {
    /// A file could not be read (or is not acceptable as a zone file).
    File { path: PathBuf, message: String },
    /// An error inside a zone file, with file:line:col.
    Zone(ZoneError),
}

impl fmt::Display for LoadProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            // A file name with a control character (a newline in a name a
            // remote pushed) is written escaped: it must not make a line
            // of its own in the log.
            LoadProblem::File { path, message } => {
                let shown = path.display().to_string();
                if shown.chars().any(char::is_control) {
                    write!(f, "{shown:?}: {message}")
                } else {
                    write!(f, "{shown}: {message}")
                }
            }
            LoadProblem::Zone(e) => write!(f, "{e}"),
        }
    }
}

/// The zones the config asks for, and any problems finding them.
#[derive(Clone, Debug, Default)]
pub struct Sources {
    /// By origin, so the order is stable.
    pub zones: BTreeMap<Name, ZoneSource>,
    pub problems: Vec<LoadProblem>,
}

/// What the config names but nothing serves or uses, as warnings for
/// `check` and the start-up log: grants and REST tokens for zones not
/// served (they would refuse at run time), and keys nothing uses.
pub fn unused_references(config: &Config, served: &BTreeMap<Name, ZoneSource>) -> Vec<String> {
    let file = config.path.display();
    let mut out = Vec::new();
    let why = |zone: &Name| {
        format!(
            "zone {zone} is not served (no [[zone]] entry and no {} in {})",
            format!("{}zone", zone.to_ascii()).trim_start_matches('.'),
            config.zones_dir.display()
        )
    };
    let mut used: std::collections::HashSet<&Name> = Default::default();
    for z in &config.zones {
        used.extend(&z.allow_transfer_keys);
        used.extend(&z.notify_key);
    }
    for k in &config.keys {
        let name = k.key.name.to_ascii();
        let name = name.trim_end_matches('.');
        for g in k.grants.list() {
            if !served.contains_key(&g.zone) {
                out.push(format!(
                    "{file}: key {name}: a grant names {}: writes there are refused (NOTAUTH)",
                    why(&g.zone)
                ));
            }
        }
        if k.grants.list().is_empty() && !used.contains(&k.key.name) {
            out.push(format!(
                "{file}: key {name}: no grant, allow_transfer or notify_key uses it; \
                 it can change nothing"
            ));
        }
    }
    for t in config.rest.iter().flat_map(|r| &r.tokens) {
        for z in &t.zones {
            if !served.contains_key(z) {
                out.push(format!(
                    "{file}: rest.token {}: names {}: its writes there fail (503)",
                    t.name,
                    why(z)
                ));
            }
        }
    }
    out
}

/// Lists the zones to serve: `<zone>.zone` files in `zones_dir`, then the
/// config's `[[zone]]` entries on top. `Err` when the directory itself
/// cannot be read (callers keep what they serve rather than drop it all).
/// The zone a file directly in `zones_dir` named `file_name` holds, by
/// the naming rule: `ORIGIN.zone`, not hidden (`None`: no zone file).
pub fn zone_file_origin(file_name: &str) -> Option<Name> {
    let stem = file_name.strip_suffix(ZONE_SUFFIX)?;
    if file_name.starts_with('.') || stem.is_empty() {
        return None;
    }
    parse_zone_name(stem)
}

pub fn sources(config: &Config) -> Result<Sources, LoadProblem> {
    let dir_problem = |e: io::Error| LoadProblem::File {
        path: config.zones_dir.clone(),
        message: format!("cannot read zones directory: {e}"),
    };
    let mut out = Sources::default();
    // Which file each discovered zone came from: two names for one zone
    // (`aab.test.zone` and `a\065b.test.zone`, or `Example.com.zone` and
    // `example.com.zone`) must not leave one silently unread.
    let mut found: HashMap<Name, PathBuf> = HashMap::new();
    for entry in std::fs::read_dir(&config.zones_dir).map_err(dir_problem)? {
        let entry = entry.map_err(dir_problem)?;
        let Some(file_name) = entry.file_name().to_str().map(str::to_owned) else {
            continue;
        };
        let Some(stem) = file_name.strip_suffix(ZONE_SUFFIX) else {
            continue;
        };
        if file_name.starts_with('.') || stem.is_empty() {
            continue;
        }
        let path = entry.path();
        // Folders and dangling links are skipped; anything else named
        // *.zone is a zone, and loading it says why if it is not a regular
        // file (a FIFO, a device, a link out of zones_dir). The entry's
        // type comes with the listing (no stat per file for the common
        // case, a regular file: the full reload pass lists every zone).
        let link = match entry.file_type() {
            Ok(t) if t.is_dir() => continue,
            Ok(t) if t.is_symlink() => match std::fs::metadata(&path) {
                Ok(m) if !m.is_dir() => true,
                _ => continue,
            },
            Ok(_) => false,
            Err(_) => continue,
        };
        match parse_zone_name(stem) {
            Some(origin) => {
                let source = ZoneSource {
                    confined: true,
                    ..ZoneSource::named(origin.clone(), path.clone())
                };
                let source = if link {
                    source.follow_link(&config.zones_dir)
                } else {
                    source
                };
                if let Some(other) = found.get(&origin) {
                    // The same name twice: a listing is not atomic with
                    // renames (see `served::missed_by_listing`), and one
                    // running beside a rename may return an entry twice.
                    if *other == path {
                        continue;
                    }
                    let (kept, ignored) = if preferred_file(&origin, &path, other) {
                        (path.clone(), other.clone())
                    } else {
                        (other.clone(), path.clone())
                    };
                    out.problems.push(LoadProblem::File {
                        path: ignored.clone(),
                        message: format!(
                            "names zone {origin} too, as {} does (which is served); file \
                             ignored: rename or remove one of them",
                            kept.display()
                        ),
                    });
                    if kept != path {
                        continue;
                    }
                }
                found.insert(origin.clone(), path);
                out.zones.insert(origin, source);
            }
            None => out.problems.push(LoadProblem::File {
                path,
                message: format!("{stem:?} is not a valid zone name; file ignored"),
            }),
        }
    }
    for z in &config.zones {
        let path = z.file.clone().unwrap_or_else(|| {
            let name = z.name.to_ascii();
            let name = name.trim_end_matches('.');
            config.zones_dir.join(format!("{name}{ZONE_SUFFIX}"))
        });
        let source = ZoneSource {
            allow_transfer: z.allow_transfer.clone(),
            confined: z.file.is_none(),
            ..ZoneSource::named(z.name.clone(), path)
        };
        out.zones
            .insert(z.name.clone(), source.follow_link(&config.zones_dir));
    }
    Ok(out)
}

/// Of two files naming the same zone, whether `path` is the one served
/// rather than `other`: the file named as the zone is written
/// (`example.com.zone`), else the one first in byte order, so the choice
/// does not depend on the order the folder lists them in.
fn preferred_file(origin: &Name, path: &Path, other: &Path) -> bool {
    let plain = format!("{}{ZONE_SUFFIX}", origin.to_ascii().trim_end_matches('.'));
    let named = |p: &Path| p.file_name().is_some_and(|n| n == plain.as_str());
    match (named(path), named(other)) {
        (true, false) => true,
        (false, true) => false,
        _ => path.file_name() < other.file_name(),
    }
}

/// A zone read and validated from its files.
#[derive(Clone, Debug)]
pub struct Loaded {
    /// The lossless document (later writers edit it); a served small
    /// zone keeps only its text (see [`Stored`]).
    pub document: Stored,
    pub zone: Arc<Zone>,
    /// The zone file first, then every included file.
    pub files: FileIds,
    pub warnings: Vec<ZoneError>,
}

/// Why a zone could not be loaded, and the identities of the files read,
/// so the same broken text is not reported again until it changes.
#[derive(Clone, Debug)]
pub struct LoadFailure {
    pub problems: Vec<LoadProblem>,
    pub files: FileIds,
}

/// Reads, parses and validates the zone of `source` under `rules`.
/// Blocking, and holds no lock: publish the result afterwards.
pub fn load_zone(source: &ZoneSource, rules: &FileRules) -> Result<Loaded, LoadFailure> {
    let (origin, path) = (&source.origin, source.path.as_path());
    let file_name = path.display().to_string();
    let includes = FsIncludes::new(rules);
    let opened = if source.confined {
        includes
            .confine(path)
            .and_then(|real| open_regular(&real, false))
    } else {
        open_regular(path, true)
    };
    let (id, text) = match opened.and_then(|o| includes.read(o)) {
        Ok(ok) => ok,
        Err(message) => {
            // Named as the operator sees it: the link, and where it leads.
            let problem = match &source.link {
                Some(link) if !message.contains(&file_name) => LoadProblem::File {
                    path: link.clone(),
                    message: format!("(a symbolic link to {file_name}) {message}"),
                },
                Some(link) => LoadProblem::File {
                    path: link.clone(),
                    message,
                },
                None => LoadProblem::File {
                    path: path.to_path_buf(),
                    message,
                },
            };
            return Err(LoadFailure {
                problems: vec![problem],
                files: stat_of(path),
            });
        }
    };
    let parsed = Document::parse(&file_name, &text, origin, &includes);
    let mut files = vec![(path.to_path_buf(), id)];
    files.extend(includes.read.into_inner());
    let fail = |errors: Vec<ZoneError>, files: FileIds| LoadFailure {
        problems: errors.into_iter().map(LoadProblem::Zone).collect(),
        files,
    };
    let document = match parsed {
        Ok(d) => d,
        Err(errors) => return Err(fail(errors, files)),
    };
    let records = document
        .records()
        .map(|(rr, loc)| (rr.clone(), loc.clone()))
        .collect();
    match Zone::build(origin.clone(), records) {
        Ok((zone, _)) if let Err(message) = zone.check_limits(&rules.limits) => Err(LoadFailure {
            problems: vec![LoadProblem::File {
                path: source.path.clone(),
                message: format!("{message}; refused"),
            }],
            files,
        }),
        Ok((zone, warnings)) => Ok(Loaded {
            // A small zone keeps only its text from now on (see `Stored`):
            // dropped here, one zone at a time, the parsed document leaves
            // no holes behind a start-up that reads thousands.
            document: Stored::keep(Arc::new(document)),
            zone: Arc::new(zone),
            files,
            warnings,
        }),
        // An error of the whole zone found where no record is (an empty
        // file has no apex SOA): it names the file (round 57: `:0:0: no
        // NS records at the apex`, no file named).
        Err(mut errors) => {
            for e in errors.iter_mut().filter(|e| e.location.file.is_empty()) {
                e.location.file = Arc::from(file_name.as_str());
            }
            Err(fail(errors, files))
        }
    }
}

/// [`load_zone`], with a panic in the parser or validator (a bug) turned
/// into a load failure, so one bad file cannot take a reloader down.
pub fn load_zone_guarded(source: &ZoneSource, rules: &FileRules) -> Result<Loaded, LoadFailure> {
    std::panic::catch_unwind(|| load_zone(source, rules)).unwrap_or_else(|_| {
        Err(LoadFailure {
            problems: vec![LoadProblem::File {
                path: source.path.clone(),
                message: "internal error while loading (this is a bug in zonewright)".into(),
            }],
            files: stat_of(&source.path),
        })
    })
}

/// `path` with its identity now ([`FileId::ABSENT`] when it has none):
/// recorded with a failure, so the same problem is reported once, not at
/// every reload, and the file's appearance or change (a missing zone file
/// or `$INCLUDE` put there, a link loop mended) makes the next pass read
/// the zone again.
fn stat_of(path: &Path) -> FileIds {
    vec![(path.to_path_buf(), FileId::now(path))]
}

/// Opens `path` for reading if, and only if, it is a regular file:
/// `O_NONBLOCK` so a FIFO cannot stall the open, `O_NOFOLLOW` unless
/// `follow`, and the type taken from the open descriptor (fstat), so what
/// is checked is what is read.
pub fn open_regular(path: &Path, follow: bool) -> Result<(File, Metadata), String> {
    let mut flags = libc::O_NONBLOCK;
    if !follow {
        flags |= libc::O_NOFOLLOW;
    }
    let file = OpenOptions::new()
        .read(true)
        .custom_flags(flags)
        .open(path)
        .map_err(|e| match e.raw_os_error() {
            Some(libc::ELOOP) if !follow => "is a symbolic link; refused".to_string(),
            _ => format!("cannot read: {e}"),
        })?;
    let meta = file.metadata().map_err(|e| format!("cannot read: {e}"))?;
    if !meta.file_type().is_file() {
        return Err(format!(
            "not a regular file ({}); refused",
            kind(meta.file_type())
        ));
    }
    Ok((file, meta))
}

pub use crate::config::file_kind as kind;

/// Reads at most `limit` bytes from `file`: `Ok(None)` if there is more.
/// Takes `limit + 1` so a file that grows while it is read is caught too.
pub fn read_bounded(mut file: &File, size_hint: u64, limit: u64) -> io::Result<Option<Vec<u8>>> {
    let capacity = usize::try_from(size_hint.min(limit)).unwrap_or(0);
    let mut bytes = Vec::with_capacity(capacity.saturating_add(1));
    (&mut file)
        .take(limit.saturating_add(1))
        .read_to_end(&mut bytes)?;
    Ok((bytes.len() as u64 <= limit).then_some(bytes))
}

/// Reads `$INCLUDE`d files relative to the including file's folder (RFC
/// 1035 §5.1 leaves relative names to the implementation; this is what
/// BIND and NSD do for paths under the zone's folder), confined to the
/// roots of the [`FileRules`], recording each. Also keeps the zone's byte
/// budget, which the zone file itself is read against first.
pub struct FsIncludes {
    read: RefCell<FileIds>,
    /// Each root as given and resolved.
    roots: Vec<(PathBuf, PathBuf)>,
    max: u64,
    left: Cell<u64>,
}

impl FsIncludes {
    pub fn new(rules: &FileRules) -> FsIncludes {
        FsIncludes {
            read: RefCell::new(Vec::new()),
            roots: rules.resolved_roots(),
            max: rules.max_size,
            left: Cell::new(rules.max_size),
        }
    }

    /// `path` resolved (symlinks, `..`), if inside one of the roots.
    fn confine(&self, path: &Path) -> Result<PathBuf, String> {
        let real = match self
            .roots
            .iter()
            .find(|(root, _)| path.parent() == Some(root))
        {
            Some((root, real_root)) => crate::paths::resolve_in(path, root, real_root),
            None => path.canonicalize(),
        }
        .map_err(|e| format!("cannot read: {e}"))?;
        // Git's own folder is no zone folder: nothing in it is committed,
        // and a person's edit there would be served without a trace.
        let in_git = |root: &Path| {
            real.strip_prefix(root)
                .ok()
                .and_then(|rel| rel.components().next())
                .is_some_and(|c| c.as_os_str() == ".git")
        };
        if let Some((_, root)) = self.roots.iter().find(|(_, root)| in_git(root)) {
            return Err(format!(
                "resolves to {}, inside {}/.git (git's own folder); refused",
                real.display(),
                root.display()
            ));
        }
        if self.roots.iter().any(|(_, root)| real.starts_with(root)) {
            return Ok(real);
        }
        let allowed: Vec<String> = self
            .roots
            .iter()
            .map(|(_, r)| r.display().to_string())
            .collect();
        Err(format!(
            "resolves to {}, outside zones_dir and [server] include_dirs (allowed: {}); refused",
            real.display(),
            allowed.join(", ")
        ))
    }

    /// Reads an opened file against what is left of the zone's budget.
    fn read(&self, (file, meta): (File, Metadata)) -> Result<(FileId, String), String> {
        let left = self.left.get();
        let bytes = read_bounded(&file, meta.len(), left)
            .map_err(|e| format!("cannot read: {e}"))?
            .ok_or_else(|| {
                let max = self.max;
                if left == max {
                    format!("larger than {max} bytes ([server] max_zone_file_size); refused")
                } else {
                    format!(
                        "takes the zone over {max} bytes ([server] max_zone_file_size counts \
                         the zone file and its $INCLUDEs together); refused"
                    )
                }
            })?;
        self.left.set(left - bytes.len() as u64);
        let text = String::from_utf8(bytes).map_err(|e| {
            format!(
                "not UTF-8 text (invalid byte at offset {})",
                e.utf8_error().valid_up_to()
            )
        })?;
        Ok((FileId::from_metadata(&meta), text))
    }
}

impl IncludeLoader for FsIncludes {
    fn load(&self, from: &str, path: &str) -> Result<(String, String), String> {
        if self.read.borrow().len() >= MAX_INCLUDES {
            return Err(format!("more than {MAX_INCLUDES} $INCLUDEs"));
        }
        let full = parent_dir(Path::new(from)).join(path);
        let result = self
            .confine(&full)
            .and_then(|real| open_regular(&real, false))
            .and_then(|opened| self.read(opened));
        match result {
            Ok((id, text)) => {
                self.read.borrow_mut().push((full.clone(), id));
                Ok((full.display().to_string(), text))
            }
            Err(message) => {
                // Recorded, so fixing the include (not only the zone file)
                // makes the next reload read the zone again.
                self.read.borrow_mut().extend(stat_of(&full));
                Err(message)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::ZoneConfig;

    /// Two files naming one zone (an escape, a letter's case): the file
    /// named as the zone is written is served, whatever order the folder
    /// lists them in, and the other is reported, not silently unread.
    #[test]
    fn two_files_naming_one_zone_serve_one_and_report_the_other() {
        let dir = tempfile::tempdir().expect("tmp");
        let zones = dir.path().join("zones");
        std::fs::create_dir(&zones).expect("mkdir");
        for f in [
            "a\\065b.test.zone",
            "aab.test.zone",
            "Example.org.zone",
            "EXAMPLE.org.zone",
        ] {
            std::fs::write(zones.join(f), "").expect("write");
        }
        let config = Config::new(zones.clone(), vec![]);
        let s = sources(&config).expect("sources");
        let file = |zone: &str| {
            s.zones[&parse_zone_name(zone).expect("name")]
                .path
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
        };
        assert_eq!(file("aab.test").as_deref(), Some("aab.test.zone"));
        // Neither is written as the zone's name: the first in byte order.
        assert_eq!(file("example.org").as_deref(), Some("EXAMPLE.org.zone"));
        let problems: Vec<String> = s.problems.iter().map(ToString::to_string).collect();
        assert_eq!(problems.len(), 2, "{problems:?}");
        assert!(
            problems
                .iter()
                .any(|p| p.contains("a\\065b.test.zone") && p.contains("names zone aab.test.")),
            "{problems:?}"
        );
        assert!(
            problems.iter().any(|p| p.contains("Example.org.zone")),
            "{problems:?}"
        );
    }

    #[test]
    fn discovers_zone_files_and_applies_overrides() {
        let dir = tempfile::tempdir().expect("tmp");
        let zones = dir.path().join("zones");
        std::fs::create_dir(&zones).expect("mkdir");
        for f in [
            "example.com.zone",
            "Other.org.zone",
            ".hidden.zone",
            "x.zone~",
            "bad name.zone",
        ] {
            std::fs::write(zones.join(f), "").expect("write");
        }
        std::fs::create_dir(zones.join("dir.zone")).expect("mkdir");
        std::os::unix::fs::symlink("nowhere", zones.join("dangling.zone")).expect("ln");
        std::os::unix::fs::symlink("/dev/zero", zones.join("zero.zone")).expect("ln");
        let mut config = Config::new(zones.clone(), vec![]);
        config.zones.push(ZoneConfig {
            name: parse_zone_name("example.com").expect("name"),
            file: None,
            allow_transfer: vec!["10.0.0.0/8".parse().expect("net")],
            allow_transfer_keys: vec![],
            notify: vec![],
            notify_key: None,
            confirm: 0,
            confirm_timeout: crate::config::DEFAULT_CONFIRM_TIMEOUT,
        });
        config.zones.push(ZoneConfig {
            name: parse_zone_name("third.net").expect("name"),
            file: Some(dir.path().join("elsewhere.txt")),
            allow_transfer: vec![],
            allow_transfer_keys: vec![],
            notify: vec![],
            notify_key: None,
            confirm: 0,
            confirm_timeout: crate::config::DEFAULT_CONFIRM_TIMEOUT,
        });
        let s = sources(&config).expect("sources");
        let mut names: Vec<String> = s.zones.keys().map(|n| n.to_ascii()).collect();
        names.sort();
        assert_eq!(names, ["example.com.", "other.org.", "third.net.", "zero."]);
        // Listed, and refused when loaded (it resolves outside zones_dir).
        let zero = &s.zones[&parse_zone_name("zero").expect("n")];
        assert!(zero.confined);
        let f = load_zone(zero, &FileRules::new(&config)).expect_err("refused");
        assert!(
            f.problems[0].to_string().contains("outside zones_dir"),
            "{:?}",
            f.problems
        );
        let ex = &s.zones[&parse_zone_name("example.com").expect("n")];
        assert_eq!(ex.path, zones.join("example.com.zone"));
        assert_eq!(ex.allow_transfer.len(), 1);
        assert_eq!(s.problems.len(), 1, "{:?}", s.problems);
    }

    #[test]
    fn missing_dir_is_an_error() {
        let config = Config::new(PathBuf::from("/nonexistent/zw-zones"), vec![]);
        let e = sources(&config).expect_err("missing");
        assert!(e.to_string().contains("cannot read zones directory"), "{e}");
    }

    fn rules(dir: &Path, max_size: u64) -> FileRules {
        FileRules {
            max_size,
            roots: vec![dir.to_path_buf()],
            limits: crate::zone::Limits::default(),
        }
    }

    #[test]
    fn includes_resolve_against_including_folder() {
        let dir = tempfile::tempdir().expect("tmp");
        std::fs::create_dir(dir.path().join("sub")).expect("mkdir");
        std::fs::write(dir.path().join("sub/inc.txt"), "x").expect("write");
        let inc = FsIncludes::new(&rules(dir.path(), 1 << 20));
        let from = dir.path().join("sub/main.zone").display().to_string();
        let (name, text) = inc.load(&from, "inc.txt").expect("load");
        assert_eq!(text, "x");
        assert!(name.ends_with("sub/inc.txt"));
        assert_eq!(inc.read.borrow().len(), 1);
        assert!(inc.load(&from, "nope.txt").is_err());
        // Up and back in again is inside.
        let (_, text) = inc.load(&from, "../sub/inc.txt").expect("load");
        assert_eq!(text, "x");
    }

    #[test]
    fn includes_are_confined_to_the_roots() {
        let top = tempfile::tempdir().expect("tmp");
        let zones = top.path().join("zones");
        let shared = top.path().join("shared");
        for d in [&zones, &shared] {
            std::fs::create_dir(d).expect("mkdir");
        }
        std::fs::write(shared.join("keys.inc"), "k").expect("write");
        std::fs::write(zones.join("real.inc"), "r").expect("write");
        std::os::unix::fs::symlink(shared.join("keys.inc"), zones.join("out.inc")).expect("ln");
        std::os::unix::fs::symlink("real.inc", zones.join("in.inc")).expect("ln");
        let from = zones.join("example.com.zone").display().to_string();
        let outside = |inc: &FsIncludes, path: &str| {
            let e = inc.load(&from, path).expect_err(path);
            assert!(e.contains("outside zones_dir"), "{path}: {e}");
        };
        let inc = FsIncludes::new(&rules(&zones, 1 << 20));
        outside(&inc, "../shared/keys.inc");
        outside(&inc, &shared.join("keys.inc").display().to_string());
        outside(&inc, "out.inc");
        outside(&inc, "/etc/hostname");
        // A symlink that stays inside is fine.
        assert_eq!(inc.load(&from, "in.inc").expect("inside").1, "r");
        // include_dirs widen it.
        let mut wide = rules(&zones, 1 << 20);
        wide.roots.push(shared.clone());
        let inc = FsIncludes::new(&wide);
        assert_eq!(
            inc.load(&from, "../shared/keys.inc").expect("allowed").1,
            "k"
        );
        assert_eq!(inc.load(&from, "out.inc").expect("allowed").1, "k");
    }

    #[test]
    fn only_regular_files_are_read() {
        let dir = tempfile::tempdir().expect("tmp");
        let fifo = dir.path().join("evil.fifo");
        let made = std::process::Command::new("mkfifo")
            .arg(&fifo)
            .status()
            .expect("mkfifo");
        assert!(made.success());
        // Returns at once (O_NONBLOCK), no writer needed.
        let e = open_regular(&fifo, false).expect_err("fifo");
        assert!(e.contains("not a regular file (a FIFO)"), "{e}");
        let e = open_regular(Path::new("/dev/zero"), true).expect_err("dev");
        assert!(e.contains("not a regular file (a character device)"), "{e}");
        let e = open_regular(dir.path(), true).expect_err("dir");
        assert!(e.contains("(a directory)"), "{e}");
        std::os::unix::fs::symlink("/dev/zero", dir.path().join("zero")).expect("ln");
        let e = open_regular(&dir.path().join("zero"), false).expect_err("link");
        assert!(e.contains("symbolic link"), "{e}");
        let mut dev = rules(dir.path(), 1 << 20);
        dev.roots.push(PathBuf::from("/dev"));
        let inc = FsIncludes::new(&dev);
        let from = dir.path().join("z.zone").display().to_string();
        let e = inc.load(&from, "/dev/zero").expect_err("dev");
        assert!(e.contains("character device"), "{e}");
        let e = inc.load(&from, "zero").expect_err("dev");
        assert!(e.contains("character device"), "{e}");
    }

    #[test]
    fn the_size_budget_covers_the_zone_and_its_includes() {
        let dir = tempfile::tempdir().expect("tmp");
        let zone = dir.path().join("example.com.zone");
        let head = "$ORIGIN example.com.\n$TTL 300\n\
                    @ IN SOA ns1 hostmaster 1 7200 3600 1209600 300\n\
                    \x20 IN NS ns1\nns1 IN A 192.0.2.1\n";
        std::fs::write(&zone, format!("{head}$INCLUDE big.inc\n")).expect("write");
        std::fs::write(dir.path().join("big.inc"), "; pad\n".repeat(300)).expect("write");
        let origin = parse_zone_name("example.com").expect("name");
        let mut source = ZoneSource::named(origin, zone.clone());
        source.confined = true;
        assert!(load_zone(&source, &rules(dir.path(), 1 << 20)).is_ok());
        let f = load_zone(&source, &rules(dir.path(), 1024)).expect_err("over");
        let msg = f.problems[0].to_string();
        assert!(
            msg.contains(":6:") && msg.contains("takes the zone over 1024 bytes"),
            "{msg}"
        );
        // The failed include is recorded, so fixing it alone reloads the zone.
        assert_eq!(f.files.len(), 2, "{:?}", f.files);
        let f = load_zone(&source, &rules(dir.path(), 100)).expect_err("over");
        let msg = f.problems[0].to_string();
        assert!(
            msg.contains("larger than 100 bytes ([server] max_zone_file_size)"),
            "{msg}"
        );
        assert_eq!(
            read_bounded(&File::open(&zone).expect("open"), 0, 10).expect("read"),
            None
        );
    }

    #[test]
    fn a_zone_file_in_zones_dir_is_confined_a_named_one_is_not() {
        let top = tempfile::tempdir().expect("tmp");
        let zones = top.path().join("zones");
        std::fs::create_dir(&zones).expect("mkdir");
        let text = "$ORIGIN example.com.\n$TTL 300\n\
                    @ IN SOA ns1 hostmaster 1 7200 3600 1209600 300\n\
                    \x20 IN NS ns1\nns1 IN A 192.0.2.1\n";
        let elsewhere = top.path().join("elsewhere.zone");
        std::fs::write(&elsewhere, text).expect("write");
        let link = zones.join("example.com.zone");
        std::os::unix::fs::symlink(&elsewhere, &link).expect("ln");
        let origin = parse_zone_name("example.com").expect("name");
        let mut source = ZoneSource::named(origin, link);
        assert!(load_zone(&source, &rules(&zones, 1 << 20)).is_ok());
        source.confined = true;
        let f = load_zone(&source, &rules(&zones, 1 << 20)).expect_err("outside");
        assert!(
            f.problems[0].to_string().contains("outside zones_dir"),
            "{:?}",
            f.problems
        );
    }

    /// A zone file that is a symlink: the target is the zone's path; inside
    /// zones_dir it is written through, anywhere else it is read-only.
    #[test]
    fn a_zone_file_symlink_is_followed() {
        let top = tempfile::tempdir().expect("tmp");
        let zones = top.path().join("zones");
        let shared = top.path().join("shared");
        for d in [zones.join("data"), zones.join(".git"), shared.clone()] {
            std::fs::create_dir_all(d).expect("mkdir");
        }
        let text = "$TTL 300\n@ IN SOA ns1 hostmaster 1 7200 3600 1209600 300\n\
                    \x20 IN NS ns1\nns1 IN A 192.0.2.1\n";
        for f in [
            zones.join("data/inside.db"),
            zones.join(".git/hidden.db"),
            shared.join("outside.zone"),
            zones.join("plain.test.zone"),
        ] {
            std::fs::write(f, text).expect("write");
        }
        let ln = |target: &Path, name: &str| {
            std::os::unix::fs::symlink(target, zones.join(name)).expect("ln");
        };
        ln(Path::new("data/inside.db"), "inside.test.zone");
        ln(&shared.join("outside.zone"), "outside.test.zone");
        ln(Path::new(".git/hidden.db"), "hidden.test.zone");
        ln(Path::new("inside.test.zone"), "chain.test.zone");
        let mut config = Config::new(zones.clone(), vec![]);
        config.server.include_dirs.push(shared.clone());
        config.zones.push(ZoneConfig {
            name: parse_zone_name("named.test").expect("name"),
            file: Some(zones.join("inside.test.zone")),
            allow_transfer: vec![],
            allow_transfer_keys: vec![],
            notify: vec![],
            notify_key: None,
            confirm: 0,
            confirm_timeout: crate::config::DEFAULT_CONFIRM_TIMEOUT,
        });
        let s = sources(&config).expect("sources");
        let get = |z: &str| s.zones[&parse_zone_name(z).expect("name")].clone();
        // (zone, path, writable)
        let table: &[(&str, PathBuf, bool)] = &[
            ("plain.test", zones.join("plain.test.zone"), true),
            ("inside.test", zones.join("data/inside.db"), true),
            ("chain.test", zones.join("data/inside.db"), true),
            ("named.test", zones.join("data/inside.db"), true),
            (
                "outside.test",
                shared.canonicalize().expect("c").join("outside.zone"),
                false,
            ),
            (
                "hidden.test",
                zones.canonicalize().expect("c").join(".git/hidden.db"),
                false,
            ),
        ];
        for (zone, path, writable) in table {
            let src = get(zone);
            assert_eq!(&src.path, path, "{zone}");
            assert_eq!(
                src.read_only.is_none(),
                *writable,
                "{zone}: {:?}",
                src.read_only
            );
            assert_eq!(src.link.is_some(), *zone != "plain.test", "{zone}");
        }
        let why = get("outside.test").read_only.expect("read-only");
        assert!(
            why.contains("outside.test.zone is a symbolic link to")
                && why.contains("shared/outside.zone, outside zones_dir"),
            "{why}"
        );
        // Each loads, from its target; the include_dirs one too. Not one
        // in git's own folder (nothing there is committed).
        let rules = FileRules::new(&config);
        for (zone, ..) in table.iter().filter(|(z, ..)| *z != "hidden.test") {
            let loaded = load_zone(&get(zone), &rules)
                .unwrap_or_else(|f| panic!("{zone}: {:?}", f.problems));
            assert_eq!(loaded.files[0].0, get(zone).path, "{zone}");
        }
        let hidden = load_zone(&get("hidden.test"), &rules).expect_err("in .git");
        let msg = hidden.problems[0].to_string();
        assert!(msg.contains("git's own folder"), "{msg}");
        // A link out of the allowed folders is refused, named by the link.
        std::os::unix::fs::symlink("/etc/passwd", zones.join("etc.test.zone")).expect("ln");
        let s = sources(&config).expect("sources");
        let etc = &s.zones[&parse_zone_name("etc.test").expect("name")];
        let f = load_zone(etc, &rules).expect_err("outside");
        let msg = f.problems[0].to_string();
        assert!(
            msg.starts_with(&zones.join("etc.test.zone").display().to_string())
                && msg.contains("/etc/passwd, outside zones_dir"),
            "{msg}"
        );
    }

    #[test]
    fn file_identity_tracks_changes() {
        let dir = tempfile::tempdir().expect("tmp");
        let p = dir.path().join("a");
        std::fs::write(&p, "one").expect("write");
        let files = vec![(p.clone(), FileId::of(&p).expect("id"))];
        assert!(unchanged(&files));
        std::fs::write(dir.path().join("b"), "two!").expect("write");
        std::fs::rename(dir.path().join("b"), &p).expect("rename");
        assert!(!unchanged(&files));
        std::fs::remove_file(&p).expect("rm");
        assert!(!unchanged(&files));
    }

    /// Round 46: rewritten in place, same size, the mtime put back: inode,
    /// size and mtime are as before; the change time is not. Left out
    /// ([`FileId::written`]), the identity is the old one.
    #[test]
    fn an_in_place_rewrite_with_its_mtime_put_back_changes_the_identity() {
        use std::io::Write;
        let dir = tempfile::tempdir().expect("tmp");
        let p = dir.path().join("a");
        std::fs::write(&p, "one").expect("write");
        let before = FileId::of(&p).expect("id");
        let files = vec![(p.clone(), before)];
        let mtime = std::fs::metadata(&p)
            .expect("stat")
            .modified()
            .expect("mtime");
        // Some file systems keep the ctime to a clock tick: past it.
        std::thread::sleep(std::time::Duration::from_millis(20));
        let mut f = std::fs::OpenOptions::new()
            .write(true)
            .open(&p)
            .expect("open");
        f.write_all(b"two").expect("write");
        f.set_modified(mtime).expect("mtime back");
        drop(f);
        let after = FileId::of(&p).expect("id");
        assert_eq!(after.written(), before.written(), "only the ctime moved");
        assert_ne!(after, before);
        assert!(!unchanged(&files));
    }
}
