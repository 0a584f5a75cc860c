//! Reading zone files from disk into [`Zone`]s: the file-system edge of the
//! pure parser ([`crate::zonefile`]) and validator ([`crate::zone`]).
//!
//! # Design
//!
//! ```text
//!  Config ──► sources() ──► [ZoneSource { origin, path, allow_transfer }]
//!                                   │
//!               load_zone(origin, path)            (blocking; call off the query path)
//!                 stat (FileId) ─► read ─► Document::parse(.., FsIncludes) ─► Zone::build
//!                                   │
//!                 Ok(Loaded { document, zone, files })  /  Err(LoadFailure { problems, files })
//! ```
//!
//! The served zones are every `<zone>.zone` file in `zones_dir` plus the
//! explicit `[[zone]]` entries of the config; an entry with the name of a
//! discovered file overrides its path and adds its settings.
//!
//! Each file is `stat`ed *before* it is read, and the [`FileId`]s of the
//! zone file and every `$INCLUDE`d file are returned with the result, even a
//! failed one. Comparing them with a fresh `stat` tells the reloader (and a
//! later write path) whether the text on disk is still what was parsed; a
//! change during the read shows up as a different identity next time.
//!
//! Files are read whole, up to [`MAX_FILE_BYTES`], and at most
//! [`MAX_INCLUDES`] includes are followed per zone, so a hostile or
//! cyclic zone directory cannot exhaust memory.

use std::cell::RefCell;
use std::collections::BTreeMap;
use std::fmt;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::SystemTime;

use ipnet::IpNet;

use crate::config::{Config, parse_zone_name};
use crate::rr::Name;
use crate::zone::Zone;
use crate::zonefile::{Document, IncludeLoader, ZoneError};

/// Largest zone (or included) file read.
pub const MAX_FILE_BYTES: u64 = 256 << 20;
/// Most `$INCLUDE`s followed while loading one zone.
pub const MAX_INCLUDES: usize = 256;
/// File-name suffix of zone files discovered in `zones_dir`.
pub const ZONE_SUFFIX: &str = ".zone";

/// What identifies a file's content without reading it: if any of these
/// changed, the file may have changed (editors that save by rename change
/// the inode; in-place writes change mtime and usually size).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FileId {
    pub mtime: Option<SystemTime>,
    pub size: u64,
    pub inode: u64,
    pub dev: u64,
}

impl FileId {
    pub fn of(path: &Path) -> io::Result<FileId> {
        Ok(FileId::from_metadata(&std::fs::metadata(path)?))
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
        }
    }
}

/// The files a zone was read from, each with its identity at read time.
pub type FileIds = Vec<(PathBuf, FileId)>;

/// True when every file still has the identity recorded in `files`.
pub fn unchanged(files: &FileIds) -> bool {
    !files.is_empty()
        && files
            .iter()
            .all(|(path, id)| FileId::of(path).ok().as_ref() == Some(id))
}

/// One zone to serve: where its file is and its settings.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ZoneSource {
    pub origin: Name,
    pub path: PathBuf,
    pub allow_transfer: Vec<IpNet>,
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
            LoadProblem::File { path, message } => write!(f, "{}: {message}", path.display()),
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

/// Lists the zones to serve: `<zone>.zone` files in `zones_dir`, then the
/// config's `[[zone]]` entries on top. `Err` when the directory itself
/// cannot be read (callers keep what they serve rather than drop it all).
pub fn sources(config: &Config) -> Result<Sources, LoadProblem> {
    let dir_problem = |e: io::Error| LoadProblem::File {
        path: config.zones_dir.clone(),
        message: format!("cannot read zones directory: {e}"),
    };
    let mut out = Sources::default();
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
        if !path.is_file() {
            continue;
        }
        match parse_zone_name(stem) {
            Some(origin) => {
                out.zones.insert(
                    origin.clone(),
                    ZoneSource {
                        origin,
                        path,
                        allow_transfer: Vec::new(),
                    },
                );
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
        out.zones.insert(
            z.name.clone(),
            ZoneSource {
                origin: z.name.clone(),
                path,
                allow_transfer: z.allow_transfer.clone(),
            },
        );
    }
    Ok(out)
}

/// A zone read and validated from its files.
#[derive(Clone, Debug)]
pub struct Loaded {
    /// The lossless document (later writers edit it).
    pub document: Arc<Document>,
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

/// Reads, parses and validates the zone `origin` from `path`. Blocking.
pub fn load_zone(origin: &Name, path: &Path) -> Result<Loaded, LoadFailure> {
    let file_name = path.display().to_string();
    let includes = FsIncludes::default();
    let (id, text) = match read_file(path) {
        Ok(ok) => ok,
        Err(message) => {
            let files = FileId::of(path)
                .map(|id| vec![(path.to_path_buf(), id)])
                .unwrap_or_default();
            return Err(LoadFailure {
                problems: vec![LoadProblem::File {
                    path: path.to_path_buf(),
                    message,
                }],
                files,
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
        Ok((zone, warnings)) => Ok(Loaded {
            document: Arc::new(document),
            zone: Arc::new(zone),
            files,
            warnings,
        }),
        Err(errors) => Err(fail(errors, files)),
    }
}

/// [`load_zone`], with a panic in the parser or validator (a bug) turned
/// into a load failure, so one bad file cannot take a reloader down.
pub fn load_zone_guarded(origin: &Name, path: &Path) -> Result<Loaded, LoadFailure> {
    std::panic::catch_unwind(|| load_zone(origin, path)).unwrap_or_else(|_| {
        Err(LoadFailure {
            problems: vec![LoadProblem::File {
                path: path.to_path_buf(),
                message: "internal error while loading (this is a bug in zonewright)".into(),
            }],
            files: FileId::of(path)
                .map(|id| vec![(path.to_path_buf(), id)])
                .unwrap_or_default(),
        })
    })
}

/// Stats then reads a file, bounded in size.
fn read_file(path: &Path) -> Result<(FileId, String), String> {
    let id = FileId::of(path).map_err(|e| format!("cannot read: {e}"))?;
    if id.size > MAX_FILE_BYTES {
        return Err(format!("larger than {MAX_FILE_BYTES} bytes"));
    }
    let bytes = std::fs::read(path).map_err(|e| format!("cannot read: {e}"))?;
    let text = String::from_utf8(bytes).map_err(|e| {
        format!(
            "not UTF-8 text (invalid byte at offset {})",
            e.utf8_error().valid_up_to()
        )
    })?;
    Ok((id, text))
}

/// Reads `$INCLUDE`d files relative to the including file's folder (RFC
/// 1035 §5.1 leaves relative names to the implementation; this is what
/// BIND and NSD do for paths under the zone's folder), recording each.
#[derive(Default)]
pub struct FsIncludes {
    read: RefCell<FileIds>,
}

impl IncludeLoader for FsIncludes {
    fn load(&self, from: &str, path: &str) -> Result<(String, String), String> {
        if self.read.borrow().len() >= MAX_INCLUDES {
            return Err(format!("more than {MAX_INCLUDES} $INCLUDEs"));
        }
        let target = Path::new(path);
        let full = if target.is_absolute() {
            target.to_path_buf()
        } else {
            Path::new(from)
                .parent()
                .unwrap_or(Path::new("."))
                .join(target)
        };
        let (id, text) = read_file(&full).map_err(|m| format!("{}: {m}", full.display()))?;
        self.read.borrow_mut().push((full.clone(), id));
        Ok((full.display().to_string(), text))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::ZoneConfig;

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
        let mut config = Config::new(zones.clone(), vec![]);
        config.zones.push(ZoneConfig {
            name: parse_zone_name("example.com").expect("name"),
            file: None,
            allow_transfer: vec!["10.0.0.0/8".parse().expect("net")],
            allow_transfer_keys: vec![],
            notify: vec![],
            notify_key: None,
        });
        config.zones.push(ZoneConfig {
            name: parse_zone_name("third.net").expect("name"),
            file: Some(dir.path().join("elsewhere.txt")),
            allow_transfer: vec![],
            allow_transfer_keys: vec![],
            notify: vec![],
            notify_key: None,
        });
        let s = sources(&config).expect("sources");
        let mut names: Vec<String> = s.zones.keys().map(|n| n.to_ascii()).collect();
        names.sort();
        assert_eq!(names, ["example.com.", "other.org.", "third.net."]);
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

    #[test]
    fn includes_resolve_against_including_folder() {
        let dir = tempfile::tempdir().expect("tmp");
        std::fs::create_dir(dir.path().join("sub")).expect("mkdir");
        std::fs::write(dir.path().join("sub/inc.txt"), "x").expect("write");
        let inc = FsIncludes::default();
        let from = dir.path().join("sub/main.zone").display().to_string();
        let (name, text) = inc.load(&from, "inc.txt").expect("load");
        assert_eq!(text, "x");
        assert!(name.ends_with("sub/inc.txt"));
        assert_eq!(inc.read.borrow().len(), 1);
        assert!(inc.load(&from, "nope.txt").is_err());
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
}
