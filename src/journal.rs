//! The IXFR journal: the git history of each zone file, read as a list of
//! versions (one commit = one serial step), and the differences between
//! an old version and the one served.
//!
//! # Design
//!
//! ```text
//!  incremental(zone, file, from_serial)
//!    file dirty (not committed)?            ─► Fallback (AXFR)
//!    index for the zone at HEAD?            no: walk `git log` of the file from HEAD,
//!                                               newest first (bounded), one SOA serial
//!                                               per distinct blob (parsed once, cached)
//!    HEAD's serial == the served serial?    no: Fallback (reloader not caught up)
//!    from_serial in the index?              no: Fallback (unknown or too old)
//!    diff cache (zone, old blob, new blob)? hit: the cached step
//!    parse + build the old version, ixfr::diff against the served zone
//!    larger than the zone?                  yes: Fallback
//! ```
//!
//! Blocking (libgit2 and parsing): callers run it on a blocking thread
//! (the TCP path already runs the dispatcher on tokio's blocking pool).
//! A zone file with `$INCLUDE` cannot be read back from git with its
//! includes, so such zones always fall back to AXFR.

use std::collections::{HashMap, VecDeque};
use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use git2::{Oid, Repository, Sort};

use crate::git;
use crate::ixfr::{self, Diff};
use crate::loader::MAX_FILE_BYTES;
use crate::rr::{Name, RecordType, Rr, soa_timers};
use crate::zone::Zone;
use crate::zonefile::{Document, NoIncludes};

/// Most versions of one zone file kept in the index.
pub const MAX_VERSIONS: usize = 1000;
/// Most commits walked (of the whole repository) to find them.
pub const MAX_COMMITS: usize = 20_000;
/// Differences kept for reuse (secondaries tend to ask the same question).
pub const DIFF_CACHE: usize = 16;

/// One committed version of a zone file.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Version {
    pub commit: Oid,
    pub blob: Oid,
    pub serial: u32,
}

/// One incremental step: the old version's SOA and what changed since.
#[derive(Debug)]
pub struct Step {
    pub old_soa: Rr,
    pub diff: Diff,
}

/// Why no incremental answer could be built; the caller sends AXFR.
#[derive(Debug, PartialEq, Eq)]
pub enum Fallback {
    NoRepository(String),
    Git(String),
    /// The served file differs from HEAD: its history is not in git yet.
    Uncommitted,
    /// HEAD's version of the file is not the one served (or doesn't parse).
    HeadNotServed,
    /// The client's serial is not in the history kept.
    UnknownSerial(u32),
    /// The old version could not be read back.
    OldVersion(String),
    /// The difference is larger than the zone itself.
    TooLarge,
}

impl fmt::Display for Fallback {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Fallback::NoRepository(e) => write!(f, "no git repository: {e}"),
            Fallback::Git(e) => write!(f, "git: {e}"),
            Fallback::Uncommitted => write!(f, "the zone file has uncommitted changes"),
            Fallback::HeadNotServed => write!(f, "git HEAD's version is not the one served"),
            Fallback::UnknownSerial(s) => write!(f, "serial {s} is not in the history kept"),
            Fallback::OldVersion(e) => write!(f, "cannot read the old version: {e}"),
            Fallback::TooLarge => write!(f, "the difference is larger than the zone"),
        }
    }
}

fn git_err(e: git2::Error) -> Fallback {
    Fallback::Git(e.message().to_owned())
}

/// The versions of one zone file, newest first, as of one HEAD.
#[derive(Debug, Default)]
struct Index {
    head: Option<Oid>,
    path: PathBuf,
    /// The newest version (HEAD's), if its file parsed.
    newest: Option<Version>,
    /// Newest first; the newest version of each serial.
    versions: Vec<Version>,
    /// Serial of each blob seen (`None`: did not parse), so a rebuild
    /// after a new commit parses only the new blob.
    blob_serials: HashMap<Oid, Option<u32>>,
}

impl Index {
    fn find(&self, serial: u32) -> Option<Version> {
        self.versions.iter().find(|v| v.serial == serial).copied()
    }
}

type CacheKey = (Name, Oid, Oid);

/// Per-zone indexes and the recent differences. One per server.
pub struct Journal {
    zones_dir: PathBuf,
    /// One lock per zone: rebuilding one zone's index (a git walk) never
    /// holds up another zone's IXFR.
    indexes: Mutex<HashMap<Name, Arc<Mutex<Index>>>>,
    diffs: Mutex<VecDeque<(CacheKey, Arc<Step>)>>,
}

impl Journal {
    /// A journal over the git repository that is `zones_dir`. Nothing is
    /// read until the first IXFR.
    pub fn new(zones_dir: impl Into<PathBuf>) -> Journal {
        Journal {
            zones_dir: zones_dir.into(),
            indexes: Mutex::new(HashMap::new()),
            diffs: Mutex::new(VecDeque::new()),
        }
    }

    fn repo(&self) -> Result<Repository, Fallback> {
        Repository::open(&self.zones_dir).map_err(|e| Fallback::NoRepository(e.message().into()))
    }

    /// The versions of the zone `origin` (file `file`) known at HEAD,
    /// newest first. Rebuilds the index when HEAD moved.
    pub fn versions(&self, origin: &Name, file: &Path) -> Result<Vec<Version>, Fallback> {
        let repo = self.repo()?;
        let slot = self.index_of(origin);
        let mut index = slot.lock().unwrap_or_else(|p| p.into_inner());
        refresh(&repo, &mut index, origin, file)?;
        Ok(index.versions.clone())
    }

    /// The records of the committed version with `serial` (SOA first).
    pub fn records_at(&self, origin: &Name, file: &Path, serial: u32) -> Result<Vec<Rr>, Fallback> {
        let repo = self.repo()?;
        let version = {
            let slot = self.index_of(origin);
            let mut index = slot.lock().unwrap_or_else(|p| p.into_inner());
            refresh(&repo, &mut index, origin, file)?;
            index.find(serial).ok_or(Fallback::UnknownSerial(serial))?
        };
        let zone = build_version(&repo, origin, version.blob)?;
        Ok(std::iter::once(zone.soa().clone())
            .chain(zone.records().cloned())
            .collect())
    }

    /// The step from the client's version `from` to `current`, the served
    /// version of the zone kept in `file`, or why there is none.
    pub fn incremental(
        &self,
        current: &Zone,
        file: &Path,
        from: u32,
    ) -> Result<Arc<Step>, Fallback> {
        let origin = current.origin();
        let repo = self.repo()?;
        match git::is_dirty(&repo, file) {
            Ok(false) => {}
            Ok(true) => return Err(Fallback::Uncommitted),
            Err(e) => return Err(Fallback::Git(e.to_string())),
        }
        let (old, new) = {
            let slot = self.index_of(origin);
            let mut index = slot.lock().unwrap_or_else(|p| p.into_inner());
            refresh(&repo, &mut index, origin, file)?;
            let new = index.newest.ok_or(Fallback::HeadNotServed)?;
            if new.serial != current.serial() {
                return Err(Fallback::HeadNotServed);
            }
            let old = index.find(from).ok_or(Fallback::UnknownSerial(from))?;
            (old, new)
        };
        let key = (origin.clone(), old.blob, new.blob);
        if let Some(step) = self.cached(&key) {
            return Ok(step);
        }
        let old_zone = build_version(&repo, origin, old.blob)?;
        let old_rrs: Vec<Rr> = old_zone.records().cloned().collect();
        let new_rrs: Vec<Rr> = current.records().cloned().collect();
        let diff = ixfr::diff(&old_rrs, &new_rrs);
        // RFC 1995 §4: "If incremental zone transfer is not available, the
        // entire zone is returned." We also send the whole zone when that
        // is smaller than the difference.
        if diff.len() > current.record_count() {
            return Err(Fallback::TooLarge);
        }
        let step = Arc::new(Step {
            old_soa: old_zone.soa().clone(),
            diff,
        });
        self.remember(key, step.clone());
        Ok(step)
    }

    fn index_of(&self, origin: &Name) -> Arc<Mutex<Index>> {
        let mut all = self.indexes.lock().unwrap_or_else(|p| p.into_inner());
        all.entry(origin.clone()).or_default().clone()
    }

    fn cached(&self, key: &CacheKey) -> Option<Arc<Step>> {
        let mut cache = self.diffs.lock().unwrap_or_else(|p| p.into_inner());
        let at = cache.iter().position(|(k, _)| k == key)?;
        let hit = cache.remove(at)?;
        let step = hit.1.clone();
        cache.push_front(hit);
        Some(step)
    }

    fn remember(&self, key: CacheKey, step: Arc<Step>) {
        let mut cache = self.diffs.lock().unwrap_or_else(|p| p.into_inner());
        cache.retain(|(k, _)| *k != key);
        cache.push_front((key, step));
        cache.truncate(DIFF_CACHE);
    }
}

/// `file` relative to the repository's work tree.
fn relative(repo: &Repository, file: &Path) -> Result<PathBuf, Fallback> {
    let root = repo
        .workdir()
        .ok_or_else(|| Fallback::NoRepository("bare repository".into()))?;
    let real_root = crate::paths::canonical_root(root).map_err(|e| Fallback::Git(e.to_string()))?;
    let file = crate::paths::resolve_in(file, root, &real_root)
        .map_err(|e| Fallback::Git(e.to_string()))?;
    let root = real_root;
    file.strip_prefix(&root)
        .map(Path::to_path_buf)
        .map_err(|_| Fallback::Git(format!("{} is outside the repository", file.display())))
}

/// The index of `origin`, rebuilt when HEAD (or the file) changed.
fn refresh(
    repo: &Repository,
    index: &mut Index,
    origin: &Name,
    file: &Path,
) -> Result<(), Fallback> {
    let path = relative(repo, file)?;
    let head = repo
        .head()
        .and_then(|h| h.peel_to_commit())
        .map_err(git_err)?
        .id();
    if index.head != Some(head) || index.path != path {
        rebuild(repo, index, origin, path, head)?;
    }
    Ok(())
}

/// Walks the history from HEAD, newest first: one version per distinct
/// blob of the file, up to [`MAX_VERSIONS`], stopping where the file did
/// not exist. The newest version of a serial wins.
///
/// Only first parents are followed: that line is the zone as this server
/// served it (a pull's merge commit has the server's HEAD first). The
/// other side of a merge holds versions nobody was served, some with a
/// serial the server also served with other contents (a person's commit
/// on a branch keeps the serial it started from): taken as that serial's
/// version, they made an IXFR from it leave out changes.
fn rebuild(
    repo: &Repository,
    index: &mut Index,
    origin: &Name,
    path: PathBuf,
    head: Oid,
) -> Result<(), Fallback> {
    let mut walk = repo.revwalk().map_err(git_err)?;
    walk.set_sorting(Sort::TOPOLOGICAL | Sort::TIME)
        .map_err(git_err)?;
    walk.push(head).map_err(git_err)?;
    walk.simplify_first_parent().map_err(git_err)?;
    let mut versions: Vec<Version> = Vec::new();
    let mut newest = None;
    let mut blob_serials = HashMap::new();
    let mut last_blob = None;
    for (n, oid) in walk.enumerate() {
        if n >= MAX_COMMITS || versions.len() >= MAX_VERSIONS {
            break;
        }
        let oid = oid.map_err(git_err)?;
        let commit = repo.find_commit(oid).map_err(git_err)?;
        let tree = commit.tree().map_err(git_err)?;
        let Ok(entry) = tree.get_path(&path) else {
            break; // the file's history starts here
        };
        let blob = entry.id();
        if last_blob == Some(blob) {
            continue; // a commit of some other file
        }
        let is_head = last_blob.is_none();
        last_blob = Some(blob);
        let serial = match index.blob_serials.get(&blob) {
            Some(s) => *s,
            None => blob_serial(repo, origin, blob),
        };
        blob_serials.insert(blob, serial);
        // A version that did not parse is skipped.
        let Some(serial) = serial else { continue };
        let version = Version {
            commit: oid,
            blob,
            serial,
        };
        if is_head {
            newest = Some(version);
        }
        if !versions.iter().any(|v| v.serial == serial) {
            versions.push(version);
        }
    }
    *index = Index {
        head: Some(head),
        path,
        newest,
        versions,
        blob_serials,
    };
    Ok(())
}

/// The text of a blob, bounded in size.
fn blob_text(repo: &Repository, blob: Oid) -> Result<String, Fallback> {
    let b = repo.find_blob(blob).map_err(git_err)?;
    if b.size() as u64 > MAX_FILE_BYTES {
        return Err(Fallback::OldVersion(format!(
            "larger than {MAX_FILE_BYTES} bytes"
        )));
    }
    String::from_utf8(b.content().to_vec())
        .map_err(|_| Fallback::OldVersion("not UTF-8 text".into()))
}

/// The serial of the apex SOA in a blob, `None` if it does not parse.
fn blob_serial(repo: &Repository, origin: &Name, blob: Oid) -> Option<u32> {
    soa_serial(&blob_text(repo, blob).ok()?, origin)
}

/// How much of a file [`soa_serial`] first tries: the SOA is nearly
/// always at the top, so big zones need not be parsed whole.
const SOA_SCAN: usize = 16 * 1024;

/// The apex SOA's serial in zone-file text: from a prefix (cut at a line
/// end) when that parses and holds the SOA, else from the whole text.
fn soa_serial(text: &str, origin: &Name) -> Option<u32> {
    let find = |t: &str| {
        let doc = Document::parse("(git)", t, origin, &NoIncludes).ok()?;
        doc.records()
            .map(|(rr, _)| rr)
            .find(|rr| rr.rtype == RecordType::SOA && rr.name == *origin)
            .and_then(|rr| soa_timers(&rr.rdata))
            .map(|t| t.serial)
    };
    if text.len() > SOA_SCAN {
        let cut = text
            .char_indices()
            .take_while(|(i, _)| *i < SOA_SCAN)
            .filter(|(_, c)| *c == '\n')
            .last()
            .map(|(i, _)| i + 1);
        if let Some(serial) = cut.and_then(|c| find(&text[..c])) {
            return Some(serial);
        }
    }
    find(text)
}

/// An old version, parsed and validated as the loader does.
fn build_version(repo: &Repository, origin: &Name, blob: Oid) -> Result<Zone, Fallback> {
    let text = blob_text(repo, blob)?;
    let first = |errs: Vec<crate::zonefile::ZoneError>| {
        Fallback::OldVersion(
            errs.first()
                .map(ToString::to_string)
                .unwrap_or_else(|| "invalid zone".into()),
        )
    };
    let doc = Document::parse("(git)", &text, origin, &NoIncludes).map_err(first)?;
    let records = doc
        .records()
        .map(|(rr, l)| (rr.clone(), l.clone()))
        .collect();
    Zone::build(origin.clone(), records)
        .map(|(z, _)| z)
        .map_err(first)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::git::Identity;
    use crate::loader::{FileRules, ZoneSource, load_zone};

    fn me() -> Identity {
        Identity {
            name: "zonewright".into(),
            email: "zonewright@test".into(),
        }
    }

    fn text(serial: u32, www: &str, extra: &str) -> String {
        format!(
            "$ORIGIN example.com.\n$TTL 300\n\
             @ IN SOA ns1 hostmaster {serial} 7200 3600 1209600 300\n\
             \x20 IN NS ns1\nns1 IN A 192.0.2.1\nwww IN A {www}\n{extra}"
        )
    }

    struct Fixture {
        dir: tempfile::TempDir,
        repo: Repository,
        file: PathBuf,
        origin: Name,
    }

    impl Fixture {
        fn new() -> Fixture {
            let dir = tempfile::tempdir().expect("tempdir");
            let repo = git::open_or_init(dir.path(), &me()).expect("init");
            let file = dir.path().join("example.com.zone");
            let origin = Name::from_ascii("example.com.").expect("name");
            Fixture {
                dir,
                repo,
                file,
                origin,
            }
        }

        fn commit(&self, text: &str) {
            std::fs::write(&self.file, text).expect("write");
            git::commit_file(&self.repo, &self.file, &me(), &me(), "v").expect("commit");
        }

        fn served(&self) -> Arc<Zone> {
            let source = ZoneSource::named(self.origin.clone(), self.file.clone());
            load_zone(&source, &FileRules::for_file(&self.file))
                .unwrap_or_else(|f| panic!("{:?}", f.problems))
                .zone
        }

        fn journal(&self) -> Journal {
            Journal::new(self.dir.path())
        }
    }

    fn names(rrs: &[Rr]) -> Vec<String> {
        rrs.iter().map(crate::store::audit::rr_line).collect()
    }

    #[test]
    fn index_lists_versions_newest_first_and_reads_old_records() {
        let f = Fixture::new();
        f.commit(&text(1, "192.0.2.10", ""));
        f.commit(&text(2, "192.0.2.20", ""));
        f.commit("this is not a zone file\n");
        f.commit(&text(3, "192.0.2.30", "mail IN MX 10 ns1\n"));
        let j = f.journal();
        let serials: Vec<u32> = j
            .versions(&f.origin, &f.file)
            .expect("versions")
            .iter()
            .map(|v| v.serial)
            .collect();
        assert_eq!(serials, vec![3, 2, 1]);
        let old = j.records_at(&f.origin, &f.file, 1).expect("records");
        assert_eq!(old[0].rtype, RecordType::SOA);
        assert!(
            names(&old).iter().any(|l| l.contains("192.0.2.10")),
            "{old:?}"
        );
        assert_eq!(
            j.records_at(&f.origin, &f.file, 9).err(),
            Some(Fallback::UnknownSerial(9))
        );
    }

    #[test]
    fn rfc1995_4_step_from_an_old_version() {
        let f = Fixture::new();
        f.commit(&text(1, "192.0.2.10", "old IN TXT \"bye\"\n"));
        f.commit(&text(2, "192.0.2.20", "old IN TXT \"bye\"\n"));
        f.commit(&text(3, "192.0.2.30", "new 60 IN TXT \"hi\"\n"));
        let j = f.journal();
        let step = j.incremental(&f.served(), &f.file, 1).expect("step");
        assert_eq!(soa_timers(&step.old_soa.rdata).map(|t| t.serial), Some(1));
        let deleted = names(&step.diff.deleted).join("\n");
        let added = names(&step.diff.added).join("\n");
        assert!(
            deleted.contains("192.0.2.10") && deleted.contains("bye"),
            "{deleted}"
        );
        assert!(
            added.contains("192.0.2.30") && added.contains("hi"),
            "{added}"
        );
        assert_eq!(step.diff.len(), 4);
        // The same question again comes from the cache.
        let again = j.incremental(&f.served(), &f.file, 1).expect("step");
        assert!(Arc::ptr_eq(&step, &again));
        // From the previous version only www changed.
        let step = j.incremental(&f.served(), &f.file, 2).expect("step");
        assert_eq!(step.diff.len(), 4);
    }

    #[test]
    fn ttl_change_is_a_step() {
        let f = Fixture::new();
        f.commit(&text(1, "192.0.2.10", ""));
        f.commit(&text(2, "192.0.2.10", "").replace("www IN", "www 60 IN"));
        let step = f
            .journal()
            .incremental(&f.served(), &f.file, 1)
            .expect("step");
        assert_eq!(step.diff.deleted.len(), 1);
        assert_eq!(step.diff.added.len(), 1);
        assert_eq!(step.diff.added[0].ttl, 60);
    }

    #[test]
    fn fallbacks_unknown_dirty_and_stale_head() {
        let f = Fixture::new();
        f.commit(&text(1, "192.0.2.10", ""));
        f.commit(&text(2, "192.0.2.20", ""));
        let j = f.journal();
        let served = f.served();
        assert_eq!(
            j.incremental(&served, &f.file, 7).err(),
            Some(Fallback::UnknownSerial(7))
        );
        // An edit not yet committed: its history is not in git.
        std::fs::write(&f.file, text(3, "192.0.2.30", "")).expect("write");
        assert_eq!(
            j.incremental(&f.served(), &f.file, 1).err(),
            Some(Fallback::Uncommitted)
        );
        // Committed, but the served snapshot is still the old one.
        git::commit_file(&f.repo, &f.file, &me(), &me(), "v3").expect("commit");
        assert_eq!(
            j.incremental(&served, &f.file, 1).err(),
            Some(Fallback::HeadNotServed)
        );
        // The index follows HEAD.
        assert!(j.incremental(&f.served(), &f.file, 1).is_ok());
    }

    #[test]
    fn a_difference_larger_than_the_zone_falls_back() {
        let f = Fixture::new();
        let many: String = (0..10)
            .map(|i| format!("h{i} IN A 192.0.2.{i}\n"))
            .collect();
        f.commit(&text(1, "192.0.2.10", &many));
        f.commit(&text(2, "192.0.2.20", ""));
        assert_eq!(
            f.journal().incremental(&f.served(), &f.file, 1).err(),
            Some(Fallback::TooLarge)
        );
    }

    #[test]
    fn no_repository_falls_back() {
        let dir = tempfile::tempdir().expect("tempdir");
        let file = dir.path().join("example.com.zone");
        std::fs::write(&file, text(1, "192.0.2.10", "")).expect("write");
        let origin = Name::from_ascii("example.com.").expect("name");
        let source = ZoneSource::named(origin.clone(), file.clone());
        let zone = load_zone(&source, &FileRules::for_file(&file))
            .expect("load")
            .zone;
        let r = Journal::new(dir.path()).incremental(&zone, &file, 0);
        assert!(matches!(r, Err(Fallback::NoRepository(_))), "{r:?}");
    }

    #[test]
    fn soa_serial_from_a_prefix_or_the_whole_text() {
        let origin = Name::from_ascii("example.com.").expect("name");
        let big: String = (0..2000)
            .map(|i| format!("h{i} IN A 192.0.2.1\n"))
            .collect();
        assert_eq!(soa_serial(&text(7, "192.0.2.1", &big), &origin), Some(7));
        // The SOA after the prefix, in parentheses over several lines.
        let late = format!(
            "$ORIGIN example.com.\n$TTL 300\n{big}@ IN SOA ns1 hostmaster (\n 9 7200\n 3600 1209600 300 )\n"
        );
        assert_eq!(soa_serial(&late, &origin), Some(9));
        assert_eq!(soa_serial("garbage (", &origin), None);
    }
}
