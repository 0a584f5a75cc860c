//! The audit trail: committing one zone file at a time to the git
//! repository that is `zones_dir`.
//!
//! Every write the store makes becomes one commit that touches exactly the
//! zone file it changed: the tree is HEAD's tree with that one entry
//! replaced, so files someone else staged or edited are never swept in.
//! The author is whoever asked for the change (a TSIG key, a REST token,
//! "external change"), the committer is the server's configured identity,
//! and the message ends in trailers (`Actor:`, `Client:`, `Via:`,
//! `Serial:`) that `git log --format=%(trailers)` can read back.
//!
//! Blocking (libgit2): callers run it on a blocking thread.

use std::fmt;
use std::path::{Component, Path, PathBuf};

pub mod locks;
pub mod remote;
pub mod state;

use git2::{ErrorCode, FileMode, Oid, Repository, Signature, Status, StatusOptions};

/// A name and address for a commit's author or committer.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Identity {
    pub name: String,
    pub email: String,
}

/// What went wrong, with the repository and file involved.
#[derive(Debug, thiserror::Error)]
pub enum GitError {
    #[error("{path}: not inside the git repository {repo}")]
    OutsideRepo { repo: PathBuf, path: PathBuf },
    #[error("git repository {repo}: {source}")]
    Git {
        repo: PathBuf,
        #[source]
        source: git2::Error,
    },
}

fn wrap(repo: &Path) -> impl Fn(git2::Error) -> GitError + '_ {
    move |source| GitError::Git {
        repo: repo.to_path_buf(),
        source,
    }
}

/// What a new zones repository ignores: the store's lock files and the
/// temp files of atomic writes.
pub const IGNORE: &str = ".*.lock\n.zonewright-*.tmp\n";

/// Opens the repository whose work tree is exactly `dir`, creating it when
/// `dir` is not one. (Never a parent's repository: a zones directory inside
/// some other checkout gets its own history.) A new repository gets a
/// `.gitignore` for the store's lock and temp files, committed by
/// `committer` (or, when the folder has one already, that one).
pub fn open_or_init(dir: &Path, committer: &Identity) -> Result<Repository, GitError> {
    if let Ok(repo) = Repository::open(dir)
        && repo.workdir().is_some_and(|w| same_dir(w, dir))
    {
        exclude_our_files(&repo);
        return Ok(repo);
    }
    let repo = Repository::init(dir).map_err(wrap(dir))?;
    let ignore = dir.join(".gitignore");
    if ignore.is_file() {
        // The folder's own .gitignore (zones.example has one, keeping the
        // config and its secrets out): the first commit, so `git status`
        // is clean; our lock files go to .git/info/exclude if it does not
        // cover them.
        commit_file(
            &repo,
            &ignore,
            committer,
            committer,
            "Track the zones folder's .gitignore\n",
        )?;
        exclude_our_files(&repo);
    } else if !ignore.exists() {
        std::fs::write(&ignore, IGNORE).map_err(|e| GitError::Git {
            repo: dir.to_path_buf(),
            source: git2::Error::from_str(&format!("cannot write .gitignore: {e}")),
        })?;
        commit_file(
            &repo,
            &ignore,
            committer,
            committer,
            "Ignore zonewright's lock and temp files\n",
        )?;
    }
    Ok(repo)
}

/// In a repository zonewright did not create, `git status` would list the
/// store's lock files as untracked: add the [`IGNORE`] patterns to
/// `.git/info/exclude` (local to the clone, never committed) unless the
/// repository already ignores them. A failure only leaves them listed.
fn exclude_our_files(repo: &Repository) {
    let probe = Path::new(".zonewright-probe.zone.lock");
    if repo.status_should_ignore(probe).unwrap_or(true) {
        return;
    }
    let exclude = repo.path().join("info").join("exclude");
    let written = append_exclude(&exclude);
    if let Err(e) = written {
        tracing::warn!(
            "cannot add zonewright's lock files to {}: {e}; git status will list them",
            exclude.display()
        );
    }
}

/// Appends the [`IGNORE`] patterns to the exclude file, keeping what is
/// there (only a missing file is created).
fn append_exclude(exclude: &Path) -> std::io::Result<()> {
    use std::io::Write;
    let ends_open = match std::fs::read(exclude) {
        Ok(bytes) => !bytes.is_empty() && !bytes.ends_with(b"\n"),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            if let Some(dir) = exclude.parent() {
                std::fs::create_dir_all(dir)?;
            }
            false
        }
        Err(e) => return Err(e),
    };
    let mut f = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(exclude)?;
    let lead = if ends_open { "\n" } else { "" };
    write!(f, "{lead}# zonewright's lock and temp files\n{IGNORE}")
}

fn same_dir(a: &Path, b: &Path) -> bool {
    match (a.canonicalize(), b.canonicalize()) {
        (Ok(a), Ok(b)) => a == b,
        _ => false,
    }
}

/// `file` relative to the repository's work tree, with `/` separators.
pub fn relative(repo: &Repository, file: &Path) -> Result<PathBuf, GitError> {
    let root = repo.workdir().unwrap_or_else(|| repo.path());
    let outside = || GitError::OutsideRepo {
        repo: root.to_path_buf(),
        path: file.to_path_buf(),
    };
    let real_root = crate::paths::canonical_root(root).map_err(|_| outside())?;
    // `a.zone` has the parent `""`, which is no folder to canonicalise.
    let parent = crate::paths::parent_in(file, root, &real_root).map_err(|_| outside())?;
    let root = real_root;
    let name = file.file_name().ok_or_else(outside)?;
    let rel = parent.join(name);
    let rel = rel.strip_prefix(&root).map_err(|_| outside())?;
    if rel.components().any(|c| !matches!(c, Component::Normal(_))) {
        return Err(outside());
    }
    // A file in a repository of its own nested here is that one's (as
    // `git add` says: the path is in another repository).
    if nested_in(&root, rel).is_some() {
        return Err(outside());
    }
    Ok(rel.to_path_buf())
}

/// The folder between `root` and `root/rel` that is a git repository of
/// its own (has a `.git`), if one is: a file there is that repository's,
/// not `root`'s (round 54: a `[[zone]] file` inside another zonewright's
/// zones folder, nested in this one's, was written and committed by both
/// servers, each taking the other's writes for edits).
pub fn nested_in(root: &Path, rel: &Path) -> Option<PathBuf> {
    let mut dir = root.to_path_buf();
    for c in rel.parent()?.components() {
        dir.push(c);
        if std::fs::symlink_metadata(dir.join(".git")).is_ok() {
            return Some(dir);
        }
    }
    None
}

/// Does `file` differ from what HEAD has (modified, new, or untracked)?
pub fn is_dirty(repo: &Repository, file: &Path) -> Result<bool, GitError> {
    let rel = relative(repo, file)?;
    let mut opts = StatusOptions::new();
    opts.include_untracked(true)
        .pathspec(&rel)
        .disable_pathspec_match(true);
    let statuses = repo.statuses(Some(&mut opts)).map_err(wrap(repo.path()))?;
    let listed = statuses
        .iter()
        .any(|s| s.status() != Status::CURRENT && !s.status().contains(Status::IGNORED));
    if !listed {
        return Ok(false);
    }
    // Status compares through the index, which the store's committer
    // writes after the commit (and a crash can leave behind): compare the
    // file with HEAD's blob itself.
    Ok(head_blob(repo, &rel)? != blob_id_of(repo, file)?)
}

/// One change of a file in the history: when it was committed, by whom,
/// through which writer (the `Via:` trailer), and the file's text before
/// and after.
#[derive(Clone, Debug)]
pub struct Change {
    pub time: i64,
    pub author: String,
    pub via: Option<String>,
    /// The zones the commit's message names (`ZONE: ...` lines, lower
    /// case, no final dot); empty for a message not in zonewright's form.
    pub zones: Vec<String>,
    /// The commit's `File:` trailers (see [`message_files`]): which file
    /// each zone's write went to; empty for a commit without them.
    pub files: Vec<(String, PathBuf)>,
    /// The file changed, relative to the work tree.
    pub file: PathBuf,
    /// The commit's place in the walk (0: HEAD's; higher: older), which
    /// orders commits made in the same second.
    pub seq: usize,
    pub before: String,
    pub after: String,
}

impl Change {
    /// Whether this change is `zone`'s (lower case, no final dot) to this
    /// file: its commit's `File:` trailer says so, or, for a commit
    /// without trailers, it names `zone` (among others), or no zone at
    /// all (a person's commit, whose `Via:` never makes it a write).
    pub fn of_zone(&self, zone: &str) -> bool {
        if self.files.is_empty() {
            return self.zones.is_empty() || self.zones.iter().any(|z| z == zone);
        }
        self.files.iter().any(|(z, f)| z == zone && *f == self.file)
    }
}

/// Which files each commit of a stretch of history changed, read once for
/// every zone: seeding one zone's recent writes from git used to walk the
/// history (two root trees read per commit) for that zone alone, so a
/// script editing thousands of files made each zone pay the whole walk.
#[derive(Debug, Default)]
pub struct History {
    /// Per file (relative to the work tree), its changes, oldest first.
    files: std::collections::HashMap<PathBuf, Vec<ChangeRef>>,
    /// The walk stopped at its `max` commits before reaching `since`: the
    /// time of the oldest commit read (older changes are missing).
    pub cut_at: Option<i64>,
}

/// One change of one file: the commit's time, author and `Via:`, and the
/// blobs before and after (`None`: the file did not exist).
#[derive(Clone, Debug)]
struct ChangeRef {
    time: i64,
    author: String,
    via: Option<String>,
    zones: std::sync::Arc<Vec<String>>,
    files: std::sync::Arc<Vec<(String, PathBuf)>>,
    seq: usize,
    before: Option<Oid>,
    after: Option<Oid>,
}

/// The zones a zonewright commit message names: its `ZONE: ...` summary
/// lines (one, or one per zone of a group commit), lower case, without
/// the final dot. Trailers (`Via: rfc2136`) name no zone: a zone's name
/// has a dot.
pub fn message_zones(message: &str) -> Vec<String> {
    let mut zones: Vec<String> = message
        .lines()
        .filter_map(|l| l.split_once(": ").map(|(head, _)| head))
        .filter(|head| head.contains('.') && !head.contains(char::is_whitespace))
        .map(|head| {
            // `example.com.` and `example.com` alike; the root stays `.`.
            let head = head
                .strip_suffix('.')
                .filter(|h| !h.is_empty())
                .unwrap_or(head);
            head.to_ascii_lowercase()
        })
        .collect();
    zones.sort();
    zones.dedup();
    zones
}

/// The zone files a zonewright commit message names in its `File:`
/// trailers (see `store::committer`): `File: PATH` under a message naming
/// one zone, `File: ZONE PATH` per zone in one naming several. Each as
/// (zone, lower case, no final dot; path relative to the work tree).
pub fn message_files(message: &str) -> Vec<(String, PathBuf)> {
    let zones = message_zones(message);
    let values = message
        .lines()
        .filter_map(|l| l.strip_prefix("File: "))
        .filter(|v| !v.is_empty());
    match zones.as_slice() {
        [zone] => values.map(|v| (zone.clone(), PathBuf::from(v))).collect(),
        _ => values
            .filter_map(|v| v.split_once(' '))
            .filter_map(|(zone, path)| {
                let plain = zone.strip_suffix('.').filter(|z| !z.is_empty());
                let zone = plain.unwrap_or(zone).to_ascii_lowercase();
                zones.contains(&zone).then(|| (zone, PathBuf::from(path)))
            })
            .collect(),
    }
}

impl History {
    /// The files changed on HEAD's first-parent line by commits made at or
    /// after `since` and at or before `until` (Unix seconds); at most `max`
    /// commits are walked.
    pub fn read(
        repo: &Repository,
        (since, until): (i64, i64),
        max: usize,
    ) -> Result<History, GitError> {
        let err = wrap(repo.path());
        let mut commit = match repo.head() {
            Ok(h) => h.peel_to_commit().map_err(&err)?,
            Err(_) => return Ok(History::default()),
        };
        let mut files: std::collections::HashMap<PathBuf, Vec<ChangeRef>> = Default::default();
        let mut cut_at = None;
        for walked in 0..=max {
            let time = commit.time().seconds();
            if time < since {
                break;
            }
            if walked == max {
                cut_at = Some(time);
                break;
            }
            let Ok(parent) = commit.parent(0) else {
                break;
            };
            if time <= until {
                let (old, new) = (parent.tree().map_err(&err)?, commit.tree().map_err(&err)?);
                let mut changed = Vec::new();
                changed_blobs(repo, Some(&old), Some(&new), Path::new(""), &mut changed)
                    .map_err(&err)?;
                let message = commit.message().unwrap_or_default();
                let via = message
                    .lines()
                    .rev()
                    .find_map(|l| l.strip_prefix("Via: ").map(|v| v.trim().to_string()));
                let author = commit.author().name().unwrap_or_default().to_string();
                let zones = std::sync::Arc::new(message_zones(message));
                let written = std::sync::Arc::new(message_files(message));
                for (path, before, after) in changed {
                    files.entry(path).or_default().push(ChangeRef {
                        time,
                        author: author.clone(),
                        via: via.clone(),
                        zones: zones.clone(),
                        files: written.clone(),
                        seq: walked,
                        before,
                        after,
                    });
                }
            }
            commit = parent;
        }
        for changes in files.values_mut() {
            changes.reverse();
        }
        Ok(History { files, cut_at })
    }

    /// The files (in the work tree) changed by commits whose message names
    /// `zone` (lower case, no final dot), the file of the newest such
    /// change first: where the zone's writes went, also when the zone is
    /// read from another path now (its `[[zone]] file` moved while the
    /// server was down). A commit of several zones' writes names them all
    /// for each of its files, so the caller keeps the one no other zone
    /// reads now.
    pub fn files_naming(&self, repo: &Repository, zone: &str) -> Vec<PathBuf> {
        let root = repo.workdir().unwrap_or_else(|| repo.path());
        let mut found: Vec<(i64, &PathBuf)> = self
            .files
            .iter()
            .filter_map(|(path, changes)| {
                let newest = changes
                    .iter()
                    .filter(|c| c.zones.iter().any(|z| z == zone))
                    .map(|c| c.time)
                    .max()?;
                Some((newest, path))
            })
            .collect();
        found.sort_by(|a, b| b.cmp(a));
        found.into_iter().map(|(_, path)| root.join(path)).collect()
    }

    /// The files (in the work tree) the `File:` trailers of the history's
    /// commits name as `zone`'s (lower case, no final dot): every file its
    /// writes of the window went to, also one it was moved away from
    /// since (round 58: a write made before a zone's file moved was not
    /// re-applied to a stale copy saved over the moved file).
    pub fn zone_files(&self, repo: &Repository, zone: &str) -> Vec<PathBuf> {
        let root = repo.workdir().unwrap_or_else(|| repo.path());
        let mut found: Vec<PathBuf> = self
            .files
            .iter()
            .filter(|(path, changes)| {
                changes
                    .iter()
                    .any(|c| c.files.iter().any(|(z, f)| z == zone && f == *path))
            })
            .map(|(path, _)| root.join(path))
            .collect();
        found.sort();
        found
    }

    /// The changes to `file` committed at or after `since`, oldest first,
    /// with their texts: the newest `newest` of them, and more while the
    /// texts read stay under `budget` bytes (a small zone's whole window,
    /// a large zone's last few changes); a version over `limit` bytes (or
    /// not UTF-8) ends the list there, as if the history stopped before
    /// it. The second value: how many changes since `since` were left out.
    pub fn changes(
        &self,
        repo: &Repository,
        file: &Path,
        (since, newest, budget): (i64, usize, usize),
        limit: usize,
    ) -> Result<(Vec<Change>, usize), GitError> {
        let rel = relative(repo, file)?;
        let Some(refs) = self.files.get(&rel) else {
            return Ok((Vec::new(), 0));
        };
        let text = |id: Option<Oid>| -> Option<String> {
            let Some(id) = id else {
                return Some(String::new());
            };
            let blob = repo.find_blob(id).ok()?;
            (blob.size() <= limit)
                .then(|| String::from_utf8(blob.content().to_vec()).ok())
                .flatten()
        };
        let mut out = Vec::new();
        let mut read = 0usize;
        let window: Vec<&ChangeRef> = refs.iter().rev().filter(|r| r.time >= since).collect();
        // Newest first, as the walk went: stop at the first unreadable one.
        for r in &window {
            if out.len() >= newest && read >= budget {
                break;
            }
            let (Some(before), Some(after)) = (text(r.before), text(r.after)) else {
                break;
            };
            read = read
                .saturating_add(before.len())
                .saturating_add(after.len());
            out.push(Change {
                time: r.time,
                author: r.author.clone(),
                via: r.via.clone(),
                zones: r.zones.to_vec(),
                files: r.files.to_vec(),
                file: rel.clone(),
                seq: r.seq,
                before,
                after,
            });
        }
        let left = window.len() - out.len();
        out.reverse();
        Ok((out, left))
    }
}

/// The text `file` had in the newest of HEAD's commit and its first
/// parents' (at most `max`) that holds it as a file: its last committed
/// version, also once a later commit deleted it. `None`: none of them has
/// it, or it is over `limit` bytes or not UTF-8.
pub fn last_committed_text(
    repo: &Repository,
    file: &Path,
    limit: usize,
    max: usize,
) -> Result<Option<String>, GitError> {
    let err = wrap(repo.path());
    let rel = relative(repo, file)?;
    let mut commit = match repo.head() {
        Ok(h) => h.peel_to_commit().map_err(&err)?,
        Err(_) => return Ok(None),
    };
    for _ in 0..max {
        let entry = commit.tree().map_err(&err)?.get_path(&rel).ok();
        if let Some(e) = entry.filter(|e| e.kind() == Some(git2::ObjectType::Blob)) {
            let blob = repo.find_blob(e.id()).map_err(&err)?;
            let text = (blob.size() <= limit)
                .then(|| String::from_utf8(blob.content().to_vec()).ok())
                .flatten();
            return Ok(text);
        }
        let Ok(parent) = commit.parent(0) else {
            break;
        };
        commit = parent;
    }
    Ok(None)
}

/// The text `rel` (relative to the work tree) has in `commit`, `None`
/// when that commit holds no file there, or one over `limit` bytes or not
/// UTF-8.
pub fn text_at(
    repo: &Repository,
    commit: Oid,
    rel: &Path,
    limit: usize,
) -> Result<Option<String>, GitError> {
    let err = wrap(repo.path());
    let tree = repo
        .find_commit(commit)
        .and_then(|c| c.tree())
        .map_err(&err)?;
    let Some(entry) = tree.get_path(rel).ok() else {
        return Ok(None);
    };
    if entry.kind() != Some(git2::ObjectType::Blob) || entry.filemode() == i32::from(FileMode::Link)
    {
        return Ok(None);
    }
    let blob = repo.find_blob(entry.id()).map_err(&err)?;
    Ok((blob.size() <= limit)
        .then(|| String::from_utf8(blob.content().to_vec()).ok())
        .flatten())
}

/// Calls `each` with the author's name, the message, the time (Unix
/// seconds) and the id of HEAD's commit and its first parents', newest
/// first, at most `max` of them, until it returns true. Reads commits only
/// (no trees): thousands take milliseconds.
pub fn each_commit_message(
    repo: &Repository,
    max: usize,
    mut each: impl FnMut(&str, &str, i64, Oid) -> bool,
) -> Result<(), GitError> {
    let err = wrap(repo.path());
    let mut commit = match repo.head() {
        Ok(h) => h.peel_to_commit().map_err(&err)?,
        Err(_) => return Ok(()),
    };
    for _ in 0..max {
        let stop = {
            let author = commit.author();
            each(
                author.name().unwrap_or_default(),
                commit.message().unwrap_or_default(),
                commit.time().seconds(),
                commit.id(),
            )
        };
        if stop {
            break;
        }
        let Ok(parent) = commit.parent(0) else {
            break;
        };
        commit = parent;
    }
    Ok(())
}

/// The files (blobs, links, submodules: every entry but a folder) that
/// differ between `old` and `new` (`None`: an empty tree), under `prefix`,
/// with their ids before and after (`None`: not there), appended to `out`
/// in the trees' order.
///
/// libgit2's tree-to-tree diff did this for the history walk, building a
/// path string and a delta for every one of the 5,000 entries of a flat
/// zones folder's root tree: with 10,000 commits in the rebase window that
/// walk took 11 s, inside start-up when an edit was waiting (round 54).
/// Both trees are sorted in git's order, so one pass in step over their
/// entries compares ids; a folder whose id is the same on both sides is
/// skipped whole.
fn changed_blobs(
    repo: &Repository,
    old: Option<&git2::Tree<'_>>,
    new: Option<&git2::Tree<'_>>,
    prefix: &Path,
    out: &mut Vec<(PathBuf, Option<Oid>, Option<Oid>)>,
) -> Result<(), git2::Error> {
    use std::cmp::Ordering;
    use std::os::unix::ffi::OsStrExt;
    let entries = |t: Option<&git2::Tree<'_>>| t.map(|t| t.len()).unwrap_or(0);
    fn at<'t>(t: Option<&'t git2::Tree<'_>>, i: usize) -> Option<git2::TreeEntry<'t>> {
        t.and_then(|t| t.get(i))
    }
    let is_tree = |e: &git2::TreeEntry<'_>| e.kind() == Some(git2::ObjectType::Tree);
    // One side's entry: a folder is walked (against nothing), a file is
    // listed as added or removed.
    let one_side = |e: &git2::TreeEntry<'_>, removed: bool, out: &mut Vec<_>| {
        let path = prefix.join(std::ffi::OsStr::from_bytes(e.name_bytes()));
        if is_tree(e) {
            let tree = repo.find_tree(e.id())?;
            let (o, n) = if removed {
                (Some(&tree), None)
            } else {
                (None, Some(&tree))
            };
            changed_blobs(repo, o, n, &path, out)
        } else {
            let id = Some(e.id());
            out.push(if removed {
                (path, id, None)
            } else {
                (path, None, id)
            });
            Ok(())
        }
    };
    let (mut i, mut j) = (0, 0);
    while i < entries(old) || j < entries(new) {
        let (a, b) = (at(old, i), at(new, j));
        let order = match (&a, &b) {
            // Nearly every entry: the same name (and kind) on both sides.
            (Some(a), Some(b)) if a.name_bytes() == b.name_bytes() && is_tree(a) == is_tree(b) => {
                Ordering::Equal
            }
            (Some(a), Some(b)) => git_order(a.name_bytes(), is_tree(a), b.name_bytes(), is_tree(b)),
            (Some(_), None) => Ordering::Less,
            (None, _) => Ordering::Greater,
        };
        match (order, a, b) {
            (Ordering::Equal, Some(a), Some(b)) => {
                i += 1;
                j += 1;
                if a.id() == b.id() && a.filemode() == b.filemode() {
                    continue;
                }
                if is_tree(&a) {
                    let path = prefix.join(std::ffi::OsStr::from_bytes(a.name_bytes()));
                    let (o, n) = (repo.find_tree(a.id())?, repo.find_tree(b.id())?);
                    changed_blobs(repo, Some(&o), Some(&n), &path, out)?;
                } else {
                    let path = prefix.join(std::ffi::OsStr::from_bytes(a.name_bytes()));
                    out.push((path, Some(a.id()), Some(b.id())));
                }
            }
            (Ordering::Less, Some(a), _) => {
                i += 1;
                one_side(&a, true, out)?;
            }
            (_, _, Some(b)) => {
                j += 1;
                one_side(&b, false, out)?;
            }
            // Unreachable: an entry was there on the side the order chose.
            _ => break,
        }
    }
    Ok(())
}

/// Git's order of tree entries: by name, a folder's name compared as if
/// it ended in `/` (so `a.zone` sorts before the folder `a`'s `a/`, and a
/// file `a` and a folder `a` are two entries).
fn git_order(a: &[u8], a_tree: bool, b: &[u8], b_tree: bool) -> std::cmp::Ordering {
    let end = |tree: bool| if tree { b'/' } else { 0 };
    let ka = a.iter().copied().chain(std::iter::once(end(a_tree)));
    let kb = b.iter().copied().chain(std::iter::once(end(b_tree)));
    ka.cmp(kb)
}

/// Every file HEAD's tree holds, read once: start-up compares thousands
/// of zone files with it without a `git status` (which reads the whole
/// index) per file.
pub struct HeadFiles {
    /// The work tree, as the repository names it.
    given: PathBuf,
    /// The work tree, canonical.
    root: PathBuf,
    /// Each file's blob and mode (a file, or `FileMode::Link`).
    blobs: std::collections::HashMap<PathBuf, (Oid, i32)>,
}

impl HeadFiles {
    /// HEAD's files (none on an unborn branch).
    pub fn read(repo: &Repository) -> Result<HeadFiles, GitError> {
        let err = wrap(repo.path());
        let given = repo.workdir().unwrap_or_else(|| repo.path()).to_path_buf();
        let root = crate::paths::canonical_root(&given).unwrap_or_else(|_| given.clone());
        let mut blobs = std::collections::HashMap::new();
        let tree = match repo.head() {
            Ok(h) => Some(h.peel_to_tree().map_err(&err)?),
            Err(e) if matches!(e.code(), ErrorCode::UnbornBranch | ErrorCode::NotFound) => None,
            Err(e) => return Err(err(e)),
        };
        if let Some(tree) = tree {
            tree.walk(git2::TreeWalkMode::PreOrder, |dir, entry| {
                use std::os::unix::ffi::OsStrExt;
                if entry.kind() == Some(git2::ObjectType::Blob) {
                    let name = std::ffi::OsStr::from_bytes(entry.name_bytes());
                    blobs.insert(Path::new(dir).join(name), (entry.id(), entry.filemode()));
                }
                git2::TreeWalkResult::Ok
            })
            .map_err(&err)?;
        }
        Ok(HeadFiles { given, root, blobs })
    }

    /// Whether HEAD holds exactly `bytes` at `file`; `None` for a file
    /// outside the work tree (never committed).
    pub fn holds(&self, file: &Path, bytes: &[u8]) -> Option<bool> {
        let rel = self.rel(file)?;
        Some(self.blobs.get(&rel).is_some_and(|(id, mode)| {
            *mode != i32::from(FileMode::Link)
                && Oid::hash_object(git2::ObjectType::Blob, bytes).is_ok_and(|b| b == *id)
        }))
    }

    /// `file` relative to the work tree (`None`: outside it).
    fn rel(&self, file: &Path) -> Option<PathBuf> {
        let parent = crate::paths::parent_in(file, &self.given, &self.root).ok()?;
        let path = parent.join(file.file_name()?);
        Some(path.strip_prefix(&self.root).ok()?.to_path_buf())
    }

    /// Whether HEAD holds `link` as the symbolic link it is on disk (the
    /// same target); `None` when it is outside the work tree or no link.
    pub fn holds_link(&self, link: &Path) -> Option<bool> {
        use std::os::unix::ffi::OsStrExt;
        let rel = self.rel(link)?;
        let target = std::fs::read_link(link).ok()?;
        let id = Oid::hash_object(git2::ObjectType::Blob, target.as_os_str().as_bytes()).ok()?;
        Some(self.blobs.get(&rel) == Some(&(id, i32::from(FileMode::Link))))
    }

    /// Whether HEAD holds `file` (in the work tree) and it is gone from
    /// disk as a file (see [`HeadFiles::gone_from`]).
    pub fn gone(&self, file: &Path) -> bool {
        self.rel(file)
            .is_some_and(|rel| self.blobs.contains_key(&rel))
            && gone_as_file(file)
    }

    /// The files HEAD holds directly in `dir` whose names `wanted`
    /// accepts and that are gone from disk as files: nothing there, a
    /// folder, or a link that leads to no file.
    pub fn gone_from(&self, dir: &Path, wanted: impl Fn(&str) -> bool) -> Vec<PathBuf> {
        let real = if dir == self.given {
            Some(self.root.clone())
        } else {
            dir.canonicalize().ok()
        };
        let Some(rel_dir) =
            real.and_then(|r| r.strip_prefix(&self.root).ok().map(Path::to_path_buf))
        else {
            return Vec::new();
        };
        let mut out: Vec<PathBuf> = self
            .blobs
            .keys()
            .filter(|p| p.parent() == Some(rel_dir.as_path()))
            .filter(|p| p.file_name().and_then(|n| n.to_str()).is_some_and(&wanted))
            .filter_map(|p| {
                let file = dir.join(p.file_name()?);
                gone_as_file(&file).then_some(file)
            })
            .collect();
        out.sort();
        out
    }
}

/// The newest commit (first parents from HEAD, at most `limit` of them)
/// that changed `file`: its id, author, time (Unix seconds) and summary.
/// `None` when none of those did (or there is no HEAD).
pub fn last_change(
    repo: &Repository,
    file: &Path,
    limit: usize,
) -> Result<Option<(String, String, i64, String)>, GitError> {
    let rel = relative(repo, file)?;
    let blob_at = |c: &git2::Commit<'_>| {
        c.tree()
            .ok()
            .and_then(|t| t.get_path(&rel).ok())
            .map(|e| e.id())
    };
    let Ok(mut commit) = repo.head().and_then(|h| h.peel_to_commit()) else {
        return Ok(None);
    };
    for _ in 0..limit {
        let here = blob_at(&commit);
        let parent = commit.parent(0).ok();
        let before = parent.as_ref().and_then(blob_at);
        if here != before {
            let author = commit.author();
            return Ok(Some((
                commit.id().to_string(),
                String::from_utf8_lossy(author.name_bytes()).into_owned(),
                commit.time().seconds(),
                String::from_utf8_lossy(commit.summary_bytes().unwrap_or_default()).into_owned(),
            )));
        }
        let Some(p) = parent else { break };
        commit = p;
    }
    Ok(None)
}

/// The text HEAD has for `file` (`None`: not in HEAD, or over `limit`
/// bytes, or not UTF-8). Where HEAD holds a symbolic link at `file`, the
/// text of the file it leads to in HEAD (see [`head_file`]), never the
/// link's own target string.
pub fn head_text(repo: &Repository, file: &Path, limit: usize) -> Result<Option<String>, GitError> {
    Ok(head_file(repo, file, limit)?.map(|(_, text)| text))
}

/// Links followed in HEAD's tree before giving up (a loop, a long chain).
const MAX_HEAD_LINKS: usize = 8;

/// The file HEAD's `file` is, following the symbolic links HEAD holds on
/// the way (at most [`MAX_HEAD_LINKS`], each relative and inside the work
/// tree, resolved in HEAD's tree, not on disk), and its text: `(path in
/// the work tree, text)`. `None`: nothing there in HEAD, a folder, a link
/// leading out of the tree or to nothing, or a file over `limit` bytes or
/// not UTF-8.
///
/// This is where a zone's last committed version is when its zone file is
/// a link that was pointed elsewhere since (while the server was down):
/// HEAD still holds the old link, which leads to the file the writes went
/// to.
pub fn head_file(
    repo: &Repository,
    file: &Path,
    limit: usize,
) -> Result<Option<(PathBuf, String)>, GitError> {
    let err = wrap(repo.path());
    let rel = relative(repo, file)?;
    let Some((rel, id)) = head_resolved(repo, &rel)? else {
        return Ok(None);
    };
    let blob = repo.find_blob(id).map_err(&err)?;
    let text = (blob.size() <= limit)
        .then(|| String::from_utf8(blob.content().to_vec()).ok())
        .flatten();
    let root = repo.workdir().unwrap_or_else(|| repo.path());
    Ok(text.map(|t| (root.join(rel), t)))
}

/// The file HEAD's `file` is, its links followed in HEAD's tree (see
/// [`head_file`]), without reading it.
pub fn head_path(repo: &Repository, file: &Path) -> Result<Option<PathBuf>, GitError> {
    let rel = relative(repo, file)?;
    let root = repo.workdir().unwrap_or_else(|| repo.path());
    Ok(head_resolved(repo, &rel)?.map(|(rel, _)| root.join(rel)))
}

/// What happened to the files since `at` (Unix seconds), looking back
/// along HEAD's first parents (at most `max` commits): the files (relative
/// to the work tree, as [`relative`] gives them) changed by commits made
/// after it, and the blob `file` had in
/// the newest commit made at or before it (`None`: no such commit within
/// `max`, or no such file then; links not followed). Start-up uses these
/// to find which file git now has a crashed write's version at: moved by
/// a person's commit, or left where it was.
pub fn since(
    repo: &Repository,
    file: &Path,
    at: i64,
    max: usize,
) -> Result<(std::collections::HashSet<PathBuf>, Option<Oid>), GitError> {
    let err = wrap(repo.path());
    let mut changed = std::collections::HashSet::new();
    let rel = relative(repo, file)?;
    let mut commit = match repo.head() {
        Ok(h) => h.peel_to_commit().map_err(&err)?,
        Err(_) => return Ok((changed, None)),
    };
    for _ in 0..max {
        let tree = commit.tree().map_err(&err)?;
        if commit.time().seconds() <= at {
            return Ok((changed, tree.get_path(&rel).ok().map(|e| e.id())));
        }
        let parent = commit.parent(0).ok();
        let old = parent
            .as_ref()
            .map(|p| p.tree())
            .transpose()
            .map_err(&err)?;
        let mut diff = Vec::new();
        changed_blobs(repo, old.as_ref(), Some(&tree), Path::new(""), &mut diff).map_err(&err)?;
        changed.extend(diff.into_iter().map(|(path, _, _)| path));
        match parent {
            Some(p) => commit = p,
            None => break,
        }
    }
    Ok((changed, None))
}

/// Nothing at `file`, a folder, or a link that leads to no file.
fn gone_as_file(file: &Path) -> bool {
    match std::fs::symlink_metadata(file) {
        Err(e) => e.kind() == std::io::ErrorKind::NotFound,
        Ok(m) if m.is_dir() => true,
        Ok(m) if m.file_type().is_symlink() => !std::fs::metadata(file).is_ok_and(|m| m.is_file()),
        Ok(_) => false,
    }
}

/// The blob HEAD has at `rel`, if any (a link's own blob for a link).
fn head_blob(repo: &Repository, rel: &Path) -> Result<Option<Oid>, GitError> {
    let Some(head) = head_tree(repo)? else {
        return Ok(None);
    };
    Ok(head.get_path(rel).ok().map(|e| e.id()))
}

/// HEAD's tree (`None`: no commit yet).
fn head_tree(repo: &Repository) -> Result<Option<git2::Tree<'_>>, GitError> {
    let err = wrap(repo.path());
    match repo.head() {
        Ok(h) => h.peel_to_tree().map(Some).map_err(&err),
        Err(e) if matches!(e.code(), ErrorCode::UnbornBranch | ErrorCode::NotFound) => Ok(None),
        Err(e) => Err(err(e)),
    }
}

/// Where `rel` leads in HEAD's tree (see [`head_file`]): the regular
/// file's path and blob.
fn head_resolved(repo: &Repository, rel: &Path) -> Result<Option<(PathBuf, Oid)>, GitError> {
    use std::os::unix::ffi::OsStrExt;
    let Some(head) = head_tree(repo)? else {
        return Ok(None);
    };
    let mut rel = rel.to_path_buf();
    for _ in 0..=MAX_HEAD_LINKS {
        let Ok(entry) = head.get_path(&rel) else {
            return Ok(None);
        };
        if entry.kind() != Some(git2::ObjectType::Blob) {
            return Ok(None);
        }
        if entry.filemode() != i32::from(FileMode::Link) {
            return Ok(Some((rel, entry.id())));
        }
        let blob = repo.find_blob(entry.id()).map_err(wrap(repo.path()))?;
        let target = Path::new(std::ffi::OsStr::from_bytes(blob.content()));
        let Some(next) = rel.parent().and_then(|dir| join_inside(dir, target)) else {
            return Ok(None);
        };
        rel = next;
    }
    Ok(None)
}

/// `dir/target` resolved lexically (`.` and `..`), `None` when `target`
/// is absolute or climbs out of the tree.
fn join_inside(dir: &Path, target: &Path) -> Option<PathBuf> {
    let mut out = dir.to_path_buf();
    for c in target.components() {
        match c {
            Component::Normal(n) => out.push(n),
            Component::CurDir => {}
            Component::ParentDir => {
                if !out.pop() {
                    return None;
                }
            }
            Component::RootDir | Component::Prefix(_) => return None,
        }
    }
    Some(out)
}

/// The id `file`'s content would have as a blob (`None` when it is gone).
fn blob_id_of(repo: &Repository, file: &Path) -> Result<Option<Oid>, GitError> {
    if !file.exists() {
        return Ok(None);
    }
    Oid::hash_file(git2::ObjectType::Blob, file)
        .map(Some)
        .map_err(wrap(repo.path()))
}

/// Commits the current content of `file` (and only it) on HEAD. Returns
/// `None` when the file already matches HEAD: nothing to record.
pub fn commit_file(
    repo: &Repository,
    file: &Path,
    author: &Identity,
    committer: &Identity,
    message: &str,
) -> Result<Option<Oid>, GitError> {
    let err = wrap(repo.path());
    let rel = relative(repo, file)?;
    let blob = if file.exists() {
        Some(repo.blob_path(file).map_err(&err)?)
    } else {
        None
    };
    let oid = commit_blobs(
        repo,
        &[(rel.clone(), blob)],
        (author, committer),
        message,
        None,
    )?;
    // Keep the index in step for this one path, so `git status` is clean;
    // also when HEAD already holds the file but the index lags behind it
    // (the server stopped after a commit, before the index was written).
    let mut index = fresh_index(repo)?;
    if file.exists() {
        index.add_path(&rel).map_err(&err)?;
    } else {
        let _ = index.remove_path(&rel);
    }
    index.write().map_err(&err)?;
    Ok(oid)
}

/// A version of a file that the caller wrote itself: its bytes, and the
/// file's metadata as written (for the index entry).
pub struct Written<'a> {
    pub file: &'a Path,
    /// `file` relative to the repository ([`relative`]), when the caller
    /// has it already.
    pub rel: Option<&'a Path>,
    pub bytes: &'a [u8],
    /// The file's stat as written; `None` when the bytes are a version
    /// read earlier (the file may have changed since): the index entry
    /// then has no stat, so `git status` always looks at the file itself.
    pub stat: Option<Stat>,
    /// The blob of `bytes`, when the caller has written it already.
    pub blob: Option<Oid>,
}

/// The stat fields git's index keeps to tell, without reading a file,
/// that it is the version recorded: (seconds, nanoseconds) times, device,
/// inode, owner and size.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Stat {
    pub ctime: (i64, i64),
    pub mtime: (i64, i64),
    pub dev: u64,
    pub ino: u64,
    pub uid: u32,
    pub gid: u32,
    pub size: u64,
}

impl Stat {
    pub fn of(m: &std::fs::Metadata) -> Stat {
        use std::os::unix::fs::MetadataExt;
        Stat {
            ctime: (m.ctime(), m.ctime_nsec()),
            mtime: (m.mtime(), m.mtime_nsec()),
            dev: m.dev(),
            ino: m.ino(),
            uid: m.uid(),
            gid: m.gid(),
            size: m.size(),
        }
    }
}

/// Commits each `written.bytes` as the content of its file (and only those
/// files) on HEAD, in one commit, without reading the files again: the
/// store's committer records exactly the version it wrote, even when the
/// next write has already replaced the file on disk. Each blob is hashed
/// once, from memory. Returns the commit (`None` when HEAD already holds
/// those bytes) and the index entries that record the files as written,
/// for [`update_index`].
pub fn commit_written(
    repo: &Repository,
    written: &[Written<'_>],
    author: &Identity,
    committer: &Identity,
    message: &str,
) -> Result<(Option<Oid>, Vec<git2::IndexEntry>), GitError> {
    commit_written_on(repo, written, (author, committer), message, None)
}

/// [`commit_written`], made on `on_top` (see [`OnTop`]) when given.
pub fn commit_written_on(
    repo: &Repository,
    written: &[Written<'_>],
    (author, committer): (&Identity, &Identity),
    message: &str,
    on_top: Option<&OnTop<'_>>,
) -> Result<(Option<Oid>, Vec<git2::IndexEntry>), GitError> {
    let err = wrap(repo.path());
    let mut blobs = Vec::with_capacity(written.len());
    let mut entries = Vec::with_capacity(written.len());
    for w in written {
        let rel = match w.rel {
            Some(r) => r.to_path_buf(),
            None => relative(repo, w.file)?,
        };
        let blob = match w.blob {
            Some(b) => b,
            None => repo.blob(w.bytes).map_err(&err)?,
        };
        entries.push(index_entry(&rel, blob, w.stat.unwrap_or_default()));
        blobs.push((rel, Some((blob, FileMode::Blob))));
    }
    let oid = commit_entries(repo, &blobs, (author, committer), message, None, on_top)?;
    Ok((oid, entries))
}

/// A version of a file the branch must hold before a commit is made on
/// it (see [`OnTop`]).
pub struct Expected<'a> {
    /// The file, relative to the repository.
    pub rel: PathBuf,
    /// The blob the branch must hold there.
    pub blob: Oid,
    /// Its text, to write the blob again if it is gone (pruned).
    pub text: &'a [u8],
    /// Versions of the file zonewright recorded before it, as
    /// [`short_id`]s: a branch that holds one of them lost the newer ones.
    /// A branch that holds a version zonewright never recorded (a person
    /// committed it: their edit, a pull, a merge, `git commit -a` of the
    /// file as it was) is built on as it is.
    pub earlier: &'a [u64],
}

/// In [`Expected::earlier`]: the file was not on the branch before
/// zonewright recorded it.
pub const ABSENT: u64 = 0;

/// Whether a branch whose tree holds `found` at a file lost the version
/// `x_blob` of it: it holds one of the versions recorded before, not
/// `x_blob` itself, or no such file at all (moved back to before the
/// file was first committed, or `git rm --cached`: the file served and
/// written must be on the branch, and a writer's commit must not add it
/// whole under the writer's name, round 42).
pub fn lost(x_blob: Oid, earlier: &[u64], found: Option<Oid>) -> bool {
    match found {
        Some(id) => id != x_blob && earlier.contains(&short_id(id)),
        None => true,
    }
}

/// The first 8 bytes of an object id: enough to tell a few hundred
/// versions of one file apart, at a fifth of the memory.
pub fn short_id(id: Oid) -> u64 {
    let mut b = [0u8; 8];
    b.copy_from_slice(&id.as_bytes()[..8]);
    u64::from_be_bytes(b)
}

/// What a commit of zonewright's is made on: the version of each file
/// it last recorded, which the file held when the new version was made
/// from it. A branch that holds an earlier version of zonewright's there
/// (moved back outside zonewright by `git reset`; a person's `git commit`
/// that took a stale index entry for the file; the commit pruned) first
/// gets a commit, by
/// `who`, that records those versions again; the new commit goes on top,
/// and the branch moves to it in one compare-and-swap from the tip both
/// were built on. Without it, the new commit's diff would hold the lost
/// version's records under its own author.
pub struct OnTop<'a> {
    pub expected: Vec<Expected<'a>>,
    pub who: &'a Identity,
    /// The message of that commit, given the versions it records.
    pub message: &'a dyn Fn(&[&Expected<'a>]) -> String,
    /// Set once the commit is made: the files (`rel`) whose versions it
    /// recorded again (empty: the branch lacked none).
    pub restored: std::cell::RefCell<Vec<PathBuf>>,
}

/// The index entry saying the file at `rel` holds `blob`, with the stat it
/// had when written: `git status` trusts it while the file is that version
/// and looks again once it changes. A zero stat (the default) makes status
/// always compare the content.
fn index_entry(rel: &Path, blob: Oid, st: Stat) -> git2::IndexEntry {
    index_entry_as(rel, blob, st, FileMode::Blob)
}

/// [`index_entry`] for an entry of `mode` (a file, or a symbolic link).
fn index_entry_as(rel: &Path, blob: Oid, st: Stat, mode: FileMode) -> git2::IndexEntry {
    use std::os::unix::ffi::OsStrExt;
    // The index stores 32-bit stat fields; git truncates them the same way.
    let time = |(secs, nanos): (i64, i64)| git2::IndexTime::new(secs as i32, nanos as u32);
    let path = rel.as_os_str().as_bytes().to_vec();
    git2::IndexEntry {
        ctime: time(st.ctime),
        mtime: time(st.mtime),
        dev: st.dev as u32,
        ino: st.ino as u32,
        mode: u32::try_from(i32::from(mode)).unwrap_or(0o100644),
        uid: st.uid,
        gid: st.gid,
        file_size: st.size as u32,
        id: blob,
        // The low 12 bits hold the path's length (0xfff: longer).
        flags: path.len().min(0xfff) as u16,
        flags_extended: 0,
        path,
    }
}

/// Writes `entries` into the index (one write for all of them), so
/// `git status` agrees with HEAD about the files the store committed.
pub fn update_index(repo: &Repository, entries: &[git2::IndexEntry]) -> Result<(), GitError> {
    let err = wrap(repo.path());
    let mut index = fresh_index(repo)?;
    for e in entries {
        index.add(e).map_err(&err)?;
    }
    index.write().map_err(&err)
}

/// Removes `paths` (relative to the work tree) from the index.
pub fn remove_from_index(repo: &Repository, paths: &[&Path]) -> Result<(), GitError> {
    if paths.is_empty() {
        return Ok(());
    }
    let err = wrap(repo.path());
    let mut index = fresh_index(repo)?;
    for p in paths {
        // A path the index does not hold is fine.
        let _ = index.remove_path(p);
    }
    index.write().map_err(&err)
}

/// The repository's index as it is on disk now. libgit2 keeps the index it
/// read first in memory; writing that back would undo what someone staged
/// since with `git add` (or a `git commit` made by hand). An index git
/// cannot read (overwritten, truncated by a full disk) is rebuilt from
/// HEAD, as `git read-tree HEAD` would, with a WARN: commits never needed
/// it, but `git status` and `git fsck` fail until it is repaired.
fn fresh_index(repo: &Repository) -> Result<git2::Index, GitError> {
    let err = wrap(repo.path());
    let read = repo.index().and_then(|mut index| {
        index.read(false)?;
        Ok(index)
    });
    match read {
        Ok(index) => Ok(index),
        Err(e) if e.class() == git2::ErrorClass::Index => {
            rebuild_index(repo, &e)?;
            let mut index = repo.index().map_err(&err)?;
            index.read(true).map_err(&err)?;
            Ok(index)
        }
        Err(e) => Err(err(e)),
    }
}

/// Replaces an unreadable index with HEAD's tree (the damaged file is kept
/// beside it as `index.corrupt` for a person to look at).
fn rebuild_index(repo: &Repository, why: &git2::Error) -> Result<(), GitError> {
    let err = wrap(repo.path());
    let path = repo.path().join("index");
    let kept = repo.path().join("index.corrupt");
    tracing::warn!(
        "git index {} cannot be read ({}); rebuilding it from HEAD (the damaged file is kept \
         as {})",
        path.display(),
        why.message(),
        kept.display()
    );
    let mut index = git2::Index::new().map_err(&err)?;
    if let Ok(head) = repo.head().and_then(|h| h.peel_to_tree()) {
        index.read_tree(&head).map_err(&err)?;
    }
    std::fs::rename(&path, &kept).map_err(|e| {
        err(git2::Error::from_str(&format!(
            "cannot move the damaged index aside: {e}"
        )))
    })?;
    let mut on_disk = git2::Index::open(&path).map_err(&err)?;
    for entry in index.iter() {
        on_disk.add(&entry).map_err(&err)?;
    }
    on_disk.write().map_err(&err)
}

/// Rebuilds the index from HEAD when git cannot read it (see
/// `fresh_index`), and catches up the entries a crash left behind HEAD
/// (see [`stale_entries`]); at start-up, so `git status` works before any
/// write.
pub fn repair_index(repo: &Repository) {
    let caught_up = fresh_index(repo).and_then(|mut index| {
        let stale = stale_entries(repo, &index);
        if stale.is_empty() {
            return Ok(0);
        }
        let err = wrap(repo.path());
        for e in &stale {
            index.add(e).map_err(&err)?;
        }
        index.write().map_err(&err)?;
        Ok(stale.len())
    });
    match caught_up {
        Ok(0) => {}
        Ok(n) => tracing::info!(
            "git index: {n} entries were behind HEAD (the last commits' index update was cut \
             off) and now match it"
        ),
        Err(e) => tracing::warn!("git index: {e}"),
    }
}

/// The index writes of the store's commits trail them (they are batched
/// while the committer is busy), so a crash can leave index entries at an
/// older version than HEAD while the files match HEAD: `git status` then
/// shows them as changed both ways, and a person's next `git commit` would
/// record those older versions, taking answered writes back out of HEAD.
/// These are the entries to put right: for each index entry at stage 0
/// whose blob is not HEAD's but whose file on disk is HEAD's version, and
/// whose blob is the path's version in one of the last [`STALE_HISTORY`]
/// commits before HEAD (first parents), the entry with HEAD's blob (and no
/// stat, so git compares the content). A version a person staged is never
/// touched: its file differs from HEAD, or its blob is the file's, or (a
/// change staged and then undone in the file) no commit has it.
fn stale_entries(repo: &Repository, index: &git2::Index) -> Vec<git2::IndexEntry> {
    use std::os::unix::ffi::OsStrExt;
    let behind = head_differs(repo, index);
    if behind.is_empty() {
        return behind;
    }
    let mut left: Vec<Option<git2::IndexEntry>> = behind.into_iter().map(Some).collect();
    let mut out = Vec::new();
    let Ok(mut walk) = repo.revwalk() else {
        return out;
    };
    if walk.push_head().is_err() || walk.simplify_first_parent().is_err() {
        return out;
    }
    // Bounded: STALE_HISTORY commits, and done once every entry is placed.
    for oid in walk.take(STALE_HISTORY).flatten() {
        let Ok(tree) = repo.find_commit(oid).and_then(|c| c.tree()) else {
            break;
        };
        for slot in &mut left {
            let Some((path, id)) = slot.as_ref().map(|e| (e.path.clone(), e.id)) else {
                continue;
            };
            let path = Path::new(std::ffi::OsStr::from_bytes(&path));
            if tree.get_path(path).is_ok_and(|t| t.id() == id)
                && let Some(found) = slot.take()
            {
                out.push(found);
            }
        }
        if left.iter().all(Option::is_none) {
            break;
        }
    }
    let head = repo.head().and_then(|h| h.peel_to_tree());
    out.into_iter()
        .filter_map(|e| {
            let path = Path::new(std::ffi::OsStr::from_bytes(&e.path));
            let in_head = head.as_ref().ok()?.get_path(path).ok()?.id();
            let zero = git2::IndexTime::new(0, 0);
            Some(git2::IndexEntry {
                ctime: zero,
                mtime: zero,
                dev: 0,
                ino: 0,
                uid: 0,
                gid: 0,
                file_size: 0,
                id: in_head,
                ..e
            })
        })
        .collect()
}

/// How many commits back [`stale_entries`] looks for an index entry's
/// blob: the index update of the commits made since the last one that
/// reached the disk was lost, and the committer writes the index at least
/// once per round.
const STALE_HISTORY: usize = 1_000;

/// The index entries at stage 0 whose blob is not HEAD's while the file on
/// disk is HEAD's version (regular files only).
fn head_differs(repo: &Repository, index: &git2::Index) -> Vec<git2::IndexEntry> {
    use std::os::unix::ffi::OsStrExt;
    let (Some(workdir), Ok(head)) = (repo.workdir(), repo.head().and_then(|h| h.peel_to_tree()))
    else {
        return Vec::new();
    };
    let mut out = Vec::new();
    for e in index.iter() {
        // Bits 12-13 of the flags: the merge stage (0 outside a conflict).
        if (e.flags >> 12) & 3 != 0 {
            continue;
        }
        let path = Path::new(std::ffi::OsStr::from_bytes(&e.path));
        let Ok(in_head) = head.get_path(path) else {
            continue;
        };
        if in_head.id() == e.id || in_head.kind() != Some(git2::ObjectType::Blob) {
            continue;
        }
        let file = workdir.join(path);
        let is_regular = std::fs::symlink_metadata(&file).is_ok_and(|m| m.file_type().is_file());
        if !is_regular
            || git2::Oid::hash_file(git2::ObjectType::Blob, &file).ok() != Some(in_head.id())
        {
            continue;
        }
        out.push(e);
    }
    out
}

/// A change to a path of the work tree that is no zone file's text: a
/// zone file a person deleted, or turned into a symbolic link. Either is
/// recorded as the path is on disk when committed (see [`commit_paths`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PathChange {
    /// The zone file is gone (deleted, a dangling link, a folder now).
    Gone,
    /// The zone file is a symbolic link now.
    Link,
}

/// What [`commit_paths`] made: the commit (`None`: HEAD already agreed),
/// the index entries of the links and files recorded, and the paths
/// (relative) to drop from the index.
pub struct PathsCommitted {
    pub commit: Option<Oid>,
    pub index: Vec<git2::IndexEntry>,
    pub gone: Vec<PathBuf>,
}

/// What [`commit_paths`] recorded for one of its changes (by position).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PathDone {
    Deleted,
    /// A link, to this target (as the link reads).
    Link(String),
}

/// Most links followed from one zone file (as the kernel's limit).
const MAX_LINKS: usize = 40;

/// Records `changes` (paths in the work tree), whichever kind, as they are
/// on disk when called, in one commit on HEAD whose tree is HEAD's with
/// just those paths changed, as `git add -A` of them would:
///
/// - nothing there, or a folder: the path is removed (when HEAD has it);
/// - a symbolic link: recorded as one (mode 120000, the link's target as
///   the blob), and so is each link it leads through inside the work
///   tree, and the plain file at the end of them when HEAD lacks it (a
///   clone must not hold a dangling link or a stale file);
/// - a plain file: left as HEAD has it (a file put back meanwhile is the
///   reload's to commit).
///
/// What HEAD already holds is left out; `message` gets what is recorded
/// (each change's position and what it became). Each path is recorded
/// once (the first change naming it).
pub fn commit_paths(
    repo: &Repository,
    changes: &[(PathBuf, PathChange)],
    who: (&Identity, &Identity),
    message: impl FnOnce(&[(usize, PathDone)]) -> String,
) -> Result<PathsCommitted, GitError> {
    let head = match repo.head() {
        Ok(h) => Some(h.peel_to_tree().map_err(wrap(repo.path()))?),
        Err(e) if matches!(e.code(), ErrorCode::UnbornBranch | ErrorCode::NotFound) => None,
        Err(e) => return Err(wrap(repo.path())(e)),
    };
    let mut out = Recorded {
        head,
        tree: Vec::new(),
        index: Vec::new(),
        gone: Vec::new(),
        done: Vec::new(),
    };
    for (i, (file, _)) in changes.iter().enumerate() {
        let rel = relative(repo, file)?;
        match std::fs::symlink_metadata(file) {
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => out.gone(i, rel),
            Err(_) => {}
            Ok(m) if m.is_dir() => out.gone(i, rel),
            Ok(m) if m.file_type().is_symlink() => out.links(repo, i, file)?,
            Ok(_) => {}
        }
    }
    let commit = if out.tree.is_empty() {
        None
    } else {
        commit_entries(repo, &out.tree, who, &message(&out.done), None, None)?
    };
    Ok(PathsCommitted {
        commit,
        index: out.index,
        gone: out.gone,
    })
}

/// What [`commit_paths`] puts in the tree and the index.
struct Recorded<'r> {
    head: Option<git2::Tree<'r>>,
    tree: Vec<(PathBuf, Option<(Oid, FileMode)>)>,
    index: Vec<git2::IndexEntry>,
    gone: Vec<PathBuf>,
    done: Vec<(usize, PathDone)>,
}

impl Recorded<'_> {
    /// HEAD's entry at `rel`: its blob and mode.
    fn in_head(&self, rel: &Path) -> Option<(Oid, i32)> {
        let e = self.head.as_ref()?.get_path(rel).ok()?;
        Some((e.id(), e.filemode()))
    }

    /// Whether `rel` is in the tree to commit already (each path once:
    /// libgit2 refuses an update naming one twice).
    fn taken(&self, rel: &Path) -> bool {
        self.tree.iter().any(|(r, _)| r == rel)
    }

    /// `rel` removed: from the tree when HEAD has it (libgit2 refuses to
    /// remove what is not there), from the index in any case.
    fn gone(&mut self, i: usize, rel: PathBuf) {
        if self.in_head(&rel).is_some() && !self.taken(&rel) {
            self.tree.push((rel.clone(), None));
            self.done.push((i, PathDone::Deleted));
        }
        if !self.gone.contains(&rel) {
            self.gone.push(rel);
        }
    }

    /// The link at `file`, each further link it leads through inside the
    /// work tree, and the plain file it ends at there, as far as HEAD
    /// does not hold them so.
    fn links(&mut self, repo: &Repository, i: usize, file: &Path) -> Result<(), GitError> {
        let before = self.tree.len();
        self.follow(repo, file)?;
        if self.tree.len() > before {
            let target = std::fs::read_link(file)
                .map_or_else(|_| "?".to_owned(), |t| t.to_string_lossy().into_owned());
            self.done.push((i, PathDone::Link(target)));
        }
        Ok(())
    }

    /// See [`Recorded::links`].
    fn follow(&mut self, repo: &Repository, file: &Path) -> Result<(), GitError> {
        use std::os::unix::ffi::OsStrExt;
        let err = wrap(repo.path());
        let mut at = file.to_path_buf();
        for _ in 0..MAX_LINKS {
            // Not in the work tree, or in git's own folder: not recorded.
            let Some(rel) = relative(repo, &at).ok().filter(|r| {
                r.components()
                    .next()
                    .is_some_and(|c| c.as_os_str() != ".git")
            }) else {
                return Ok(());
            };
            let Ok(meta) = std::fs::symlink_metadata(&at) else {
                return Ok(());
            };
            if meta.is_file() {
                if self.in_head(&rel).is_none() && !self.taken(&rel) {
                    let blob = repo.blob_path(&at).map_err(&err)?;
                    self.index
                        .push(index_entry_as(&rel, blob, Stat::of(&meta), FileMode::Blob));
                    self.tree.push((rel, Some((blob, FileMode::Blob))));
                }
                return Ok(());
            }
            if !meta.file_type().is_symlink() {
                return Ok(());
            }
            let Ok(target) = std::fs::read_link(&at) else {
                return Ok(());
            };
            let bytes = target.as_os_str().as_bytes();
            let blob = Oid::hash_object(git2::ObjectType::Blob, bytes).map_err(&err)?;
            let link = i32::from(FileMode::Link);
            if self.in_head(&rel) != Some((blob, link)) && !self.taken(&rel) {
                let blob = repo.blob(bytes).map_err(&err)?;
                self.index
                    .push(index_entry_as(&rel, blob, Stat::of(&meta), FileMode::Link));
                self.tree.push((rel, Some((blob, FileMode::Link))));
            }
            at = match at.parent() {
                Some(dir) => dir.join(&target),
                None => target,
            };
        }
        Ok(())
    }
}

/// Makes the merge commit of a pull: HEAD and `theirs` as parents, HEAD's
/// tree with `blobs` put in (`None`: removed). Made even when the tree is
/// HEAD's (the zones' merged records are already in HEAD): the commit is
/// what makes `theirs` part of the history, so the next push is a
/// fast-forward. Returns it and the index entries of `blobs` (zero stat:
/// `git status` compares their content).
pub fn commit_merge(
    repo: &Repository,
    blobs: &[(PathBuf, Option<Oid>)],
    theirs: Oid,
    who: (&Identity, &Identity),
    message: &str,
) -> Result<(Option<Oid>, Vec<git2::IndexEntry>), GitError> {
    let oid = commit_blobs(repo, blobs, who, message, Some(theirs))?;
    let entries = blobs
        .iter()
        .filter_map(|(rel, blob)| blob.map(|b| index_entry(rel, b, Stat::default())))
        .collect();
    Ok((oid, entries))
}

/// Records each blob (or, when `None`, the removal) at its path in one
/// commit on HEAD whose tree is HEAD's with just those entries changed.
/// `None` when the tree would not change.
fn commit_blobs(
    repo: &Repository,
    blobs: &[(PathBuf, Option<Oid>)],
    who: (&Identity, &Identity),
    message: &str,
    merged: Option<Oid>,
) -> Result<Option<Oid>, GitError> {
    let entries: Vec<(PathBuf, Option<(Oid, FileMode)>)> = blobs
        .iter()
        .map(|(rel, blob)| (rel.clone(), blob.map(|b| (b, FileMode::Blob))))
        .collect();
    commit_entries(repo, &entries, who, message, merged, None)
}

/// How often a commit made [`OnTop`] is built again when the branch
/// moved between the look at its tip and the compare-and-swap, or its
/// lock was held (a `git` command at work), with a pause of
/// [`MOVED_PAUSE`] times the attempt before each.
const MOVED_TRIES: usize = 5;
const MOVED_PAUSE: std::time::Duration = std::time::Duration::from_millis(10);
/// How many of the branch's newest reflog entries [`verify`] looks
/// through for the commit it made.
const REFLOG_LOOK: usize = 100;

/// [`commit_blobs`] with each entry's mode given: a file (`Blob`) or a
/// symbolic link (`Link`, the blob holding the link's target); made on
/// `on_top` when given (and then built again, up to [`MOVED_TRIES`] times,
/// on a branch that moved meanwhile).
fn commit_entries(
    repo: &Repository,
    blobs: &[(PathBuf, Option<(Oid, FileMode)>)],
    who: (&Identity, &Identity),
    message: &str,
    merged: Option<Oid>,
    on_top: Option<&OnTop<'_>>,
) -> Result<Option<Oid>, GitError> {
    let tries = if on_top.is_some() { MOVED_TRIES } else { 1 };
    let mut attempt = 0;
    loop {
        attempt += 1;
        match commit_entries_once(repo, blobs, who, message, merged, on_top) {
            Err(Moved(e)) if attempt < tries => {
                tracing::debug!(
                    "the branch moved while a commit was made ({e}); building it again"
                );
                std::thread::sleep(MOVED_PAUSE * u32::try_from(attempt).unwrap_or(1));
            }
            Err(Moved(e)) => return Err(e),
            Ok(made) => return made,
        }
    }
}

/// A commit whose compare-and-swap found the branch moved (`Err`), or
/// the result of the attempt.
struct Moved(GitError);

fn commit_entries_once(
    repo: &Repository,
    blobs: &[(PathBuf, Option<(Oid, FileMode)>)],
    (author, committer): (&Identity, &Identity),
    message: &str,
    merged: Option<Oid>,
    on_top: Option<&OnTop<'_>>,
) -> Result<Result<Option<Oid>, GitError>, Moved> {
    let err = wrap(repo.path());
    // The branch HEAD names, and the commit on it: the new commit goes on
    // that branch, never on whatever HEAD is when the commit is written
    // (round 32, HIGH: a `git checkout --detach` between the look at the
    // repository and the commit put an answered write's commit on the
    // detached HEAD, off the branch; `git switch` back left it dangling).
    // (branch, the tip built on, the commit to move it to, objects
    // written, the files whose lost versions it records again)
    type Built<'r> = (
        String,
        Option<git2::Commit<'r>>,
        Option<Oid>,
        Vec<Oid>,
        Vec<PathBuf>,
    );
    let attempt = || -> Result<Built<'_>, GitError> {
        let branch = state::head_branch(repo)
            .map_err(|why| git2::Error::from_str(&format!("{}; no commit is made", why.short())))
            .map_err(&err)?;
        let head = match repo.find_reference(&branch) {
            Ok(r) => Some(r.peel_to_commit().map_err(&err)?),
            Err(e) if e.code() == ErrorCode::NotFound => None,
            Err(e) => return Err(err(e)),
        };
        let empty_tree = || -> Result<git2::Tree<'_>, GitError> {
            let empty = repo
                .treebuilder(None)
                .map_err(&err)?
                .write()
                .map_err(&err)?;
            repo.find_tree(empty).map_err(&err)
        };
        let sig = |who: &Identity| Signature::now(&who.name, &who.email).map_err(&err);
        let mut objects: Vec<Oid> = Vec::new();
        // What the new commit is built on: the tip, or the commit that
        // records again the versions the tip lacks (see `OnTop`).
        let mut parent = head.clone();
        let mut restored = Vec::new();
        let mut base = match &head {
            Some(c) => c.tree().map_err(&err)?,
            None => empty_tree()?,
        };
        if let (Some(on), Some(tip)) = (on_top, &head) {
            let lacking: Vec<&Expected<'_>> = on
                .expected
                .iter()
                .filter(|x| {
                    lost(
                        x.blob,
                        x.earlier,
                        base.get_path(&x.rel).ok().map(|e| e.id()),
                    )
                })
                .collect();
            if !lacking.is_empty() {
                let mut update = git2::build::TreeUpdateBuilder::new();
                for x in &lacking {
                    // Pruned with the commit that had it: written again.
                    let blob = match repo.find_blob(x.blob) {
                        Ok(_) => x.blob,
                        Err(_) => repo.blob(x.text).map_err(&err)?,
                    };
                    update.upsert(&x.rel, blob, FileMode::Blob);
                    objects.push(blob);
                }
                let tree_id = update.create_updated(repo, &base).map_err(&err)?;
                let tree = repo.find_tree(tree_id).map_err(&err)?;
                let who = sig(on.who)?;
                let id = repo
                    .commit(None, &who, &who, &(on.message)(&lacking), &tree, &[tip])
                    .map_err(&err)?;
                objects.extend([tree_id, id]);
                parent = Some(repo.find_commit(id).map_err(&err)?);
                base = tree;
                restored = lacking.iter().map(|x| x.rel.clone()).collect();
            }
        }
        let mut update = git2::build::TreeUpdateBuilder::new();
        for (rel, blob) in blobs {
            match blob {
                Some((b, mode)) => update.upsert(rel, *b, *mode),
                None => update.remove(rel),
            };
        }
        let tree_id = update.create_updated(repo, &base).map_err(&err)?;
        if tree_id == base.id() && parent.is_some() && merged.is_none() {
            // Nothing of its own: the commit that records the lost
            // versions (if any) is the one the branch moves to.
            let restore = objects.last().copied();
            return Ok((branch, head, restore, objects, restored));
        }
        let tree = repo.find_tree(tree_id).map_err(&err)?;
        let other = match merged {
            Some(id) => Some(repo.find_commit(id).map_err(&err)?),
            None => None,
        };
        let parents: Vec<&git2::Commit<'_>> = parent.iter().chain(other.iter()).collect();
        let oid = repo
            .commit(
                None,
                &sig(author)?,
                &sig(committer)?,
                message,
                &tree,
                &parents,
            )
            .map_err(&err)?;
        objects.extend(blobs.iter().filter_map(|(_, b)| b.map(|(id, _)| id)));
        objects.extend([tree_id, oid]);
        Ok((branch, head, Some(oid), objects, restored))
    };
    let (branch, head, oid, objects, restored) = match attempt() {
        Ok(a) => a,
        Err(e) => return Ok(Err(e)),
    };
    let Some(oid) = oid else {
        return Ok(Ok(None));
    };
    // The branch moves to it only from the commit it was built on (compare
    // and swap): a commit or pull made on it meanwhile makes this one
    // fail, to be made again on top, as `git commit` would.
    let summary = message.lines().next().unwrap_or_default();
    let moved = match &head {
        Some(parent) => repo.reference_matching(
            &branch,
            oid,
            true,
            parent.id(),
            &format!("commit: {summary}"),
        ),
        None => repo.reference(&branch, oid, false, &format!("commit (initial): {summary}")),
    };
    match moved {
        Ok(_) => {}
        Err(e) if matches!(e.code(), ErrorCode::Modified | ErrorCode::Locked) => {
            return Err(Moved(err(e)));
        }
        Err(e) => return Ok(Err(err(e))),
    }
    if let Err(why) = verify(repo, &branch, oid, &objects) {
        // Never leave the branch on a commit that is not all there.
        if let Some(parent) = head.as_ref()
            && repo.refname_to_id(&branch).ok() == Some(oid)
        {
            let _ = repo.reference_matching(
                &branch,
                parent.id(),
                true,
                oid,
                "zonewright: undo an incomplete commit",
            );
        }
        return Ok(Err(err(git2::Error::from_str(&format!(
            "the commit was not written completely ({why}{})",
            if why.starts_with("HEAD moved") {
                ""
            } else {
                "; is the disk full?"
            }
        )))));
    }
    if let Some(on) = on_top {
        *on.restored.borrow_mut() = restored;
    }
    Ok(Ok(Some(oid)))
}

/// Reads back, through a new handle (no cache), that `branch` is `commit`
/// and that each of `objects` can be read. libgit2 can report success for
/// a commit whose files a full disk cut short: on a full tmpfs it returned
/// the id of a commit that was never there (issue 12 item 4).
fn verify(repo: &Repository, branch: &str, commit: Oid, objects: &[Oid]) -> Result<(), String> {
    let fresh = Repository::open(repo.path()).map_err(|e| e.message().to_owned())?;
    let head = fresh
        .refname_to_id(branch)
        .map_err(|e| format!("{branch} cannot be read back: {}", e.message()))?;
    // Someone committed, pulled or reset right after the branch moved to
    // the commit: it was made (its reflog entry says so), and a commit of
    // zonewright's later records again what the branch lost of it (see
    // `OnTop`). With no such entry, say so rather than suggest a full disk.
    let was_on_it = || {
        fresh
            .reflog(branch)
            .is_ok_and(|log| log.iter().take(REFLOG_LOOK).any(|e| e.id_new() == commit))
    };
    if head != commit && !was_on_it() {
        return Err(format!(
            "HEAD moved while the commit was made ({branch} is now {head}); the commit {commit} \
             is not on it"
        ));
    }
    let odb = fresh.odb().map_err(|e| e.message().to_owned())?;
    for id in objects {
        odb.read_header(*id)
            .map_err(|e| format!("object {id} cannot be read back: {}", e.message()))?;
    }
    // The commits it was built on: one pruned while it was made (`git gc
    // --prune=now` beside a running server, round 38) breaks the history
    // for good; the write is recorded all the same, and a person must
    // know (once per missing commit).
    if let Ok(made) = fresh.find_commit(commit) {
        for parent in made.parent_ids() {
            if odb.read_header(parent).is_err() {
                broken_history(repo.path(), parent);
            }
        }
    }
    Ok(())
}

/// Logs (ERROR, once per commit) that the history lacks `missing`.
fn broken_history(repo: &Path, missing: Oid) {
    static SAID: std::sync::Mutex<Option<Oid>> = std::sync::Mutex::new(None);
    let mut said = SAID.lock().unwrap_or_else(|p| p.into_inner());
    if *said == Some(missing) {
        return;
    }
    *said = Some(missing);
    tracing::error!(
        "git repository {}: commit {missing} is missing from the branch's history (pruned by \
         `git gc --prune=now` or `git prune` while the server ran?): `git log` and `git fsck` \
         fail beyond it. Writes are still committed on top; restore the object from a clone \
         or a backup",
        repo.display()
    );
}

/// Most RR lines a commit message lists; the diff has the rest (a pull
/// or an UPDATE of 200,000 records must not make a message of megabytes).
pub const MAX_MESSAGE_RRS: usize = 2_000;

/// A commit message: summary line, the records added and removed in
/// zone-file syntax, then trailers.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Message {
    pub summary: String,
    pub added: Vec<String>,
    pub removed: Vec<String>,
    pub trailers: Vec<(&'static str, String)>,
}

impl fmt::Display for Message {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "{}", self.summary.trim())?;
        if !self.added.is_empty() || !self.removed.is_empty() {
            writeln!(f)?;
            let lines = self.added.iter().map(|r| ("+", r));
            let lines = lines.chain(self.removed.iter().map(|r| ("-", r)));
            for (sign, r) in lines.clone().take(MAX_MESSAGE_RRS) {
                writeln!(f, "{sign} {r}")?;
            }
            let more = lines.count().saturating_sub(MAX_MESSAGE_RRS);
            if more > 0 {
                writeln!(f, "... and {more} more (the commit's diff has every one)")?;
            }
        }
        if !self.trailers.is_empty() {
            writeln!(f)?;
            for (k, v) in &self.trailers {
                // A trailer value is one line; newlines from a client could
                // forge trailers.
                writeln!(f, "{k}: {}", v.replace(['\n', '\r'], " "))?;
            }
        }
        Ok(())
    }
}

/// The commit that last wrote a line: when, by whom, and its message (whose
/// trailers say through which writer).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LineCommit {
    /// The author time, Unix seconds.
    pub time: i64,
    pub author: String,
    pub message: String,
}

/// The commit that `git blame` gives each of `lines` (1-based) of `file` on
/// HEAD. `None` for the whole file when it has changes HEAD does not hold
/// (line numbers would not match), and per line for a line past the end
/// of the committed file.
pub fn line_commits(
    repo: &Repository,
    file: &Path,
    lines: &[u32],
) -> Result<Option<Vec<Option<LineCommit>>>, GitError> {
    let (Some(&first), Some(&last)) = (lines.iter().min(), lines.iter().max()) else {
        return Ok(Some(Vec::new()));
    };
    if is_dirty(repo, file)? {
        return Ok(None);
    }
    let err = wrap(repo.path());
    let rel = relative(repo, file)?;
    // The file matches HEAD, so its lines are the committed ones; blame
    // would attribute a line past the end to the last hunk.
    let text = std::fs::read(file).map_err(|e| GitError::Git {
        repo: repo.path().to_path_buf(),
        source: git2::Error::from_str(&format!("{}: {e}", file.display())),
    })?;
    let count = text.split(|&b| b == b'\n').count() - usize::from(text.ends_with(b"\n"));
    let last = last
        .min(u32::try_from(count).unwrap_or(u32::MAX))
        .max(first);
    let mut opts = git2::BlameOptions::new();
    // Only the lines asked for: blame stops walking history once they are
    // all attributed, which for recent challenge records is a few commits.
    opts.min_line(first as usize).max_line(last as usize);
    let blame = repo.blame_file(&rel, Some(&mut opts)).map_err(&err)?;
    let mut commits: std::collections::HashMap<Oid, LineCommit> = Default::default();
    let mut out = Vec::with_capacity(lines.len());
    for &l in lines {
        let Some(hunk) = blame.get_line(l as usize).filter(|_| (l as usize) <= count) else {
            out.push(None);
            continue;
        };
        let id = hunk.final_commit_id();
        let line = match commits.entry(id) {
            std::collections::hash_map::Entry::Occupied(e) => e.get().clone(),
            std::collections::hash_map::Entry::Vacant(e) => {
                let c = repo.find_commit(id).map_err(&err)?;
                let author = c.author();
                e.insert(LineCommit {
                    time: author.when().seconds(),
                    author: String::from_utf8_lossy(author.name_bytes()).into_owned(),
                    message: String::from_utf8_lossy(c.message_bytes()).into_owned(),
                })
                .clone()
            }
        };
        out.push(Some(line));
    }
    Ok(Some(out))
}

/// Writes `texts` as blobs into one new pack file of the repository at
/// `dir` rather than one loose object each: for thousands of files at
/// once (a first start on an uncommitted folder of 50,000 zones), a loose
/// object costs a file creation, a link and an unlink, and those made
/// most of the commit's time (about 10 of its 14 s). Blobs the repository
/// already has are not written again. Returns each text's blob id, in
/// order.
///
/// Uses a handle of its own with libgit2's in-memory object backend in
/// front, dumped as a pack through the object database's pack writer
/// (which indexes it beside the others); the committer's handle finds the
/// new pack when it first looks an object up.
pub fn write_blobs_packed(dir: &Path, texts: &[&[u8]]) -> Result<Vec<Oid>, git2::Error> {
    let repo = Repository::open(dir)?;
    let odb = repo.odb()?;
    // The object database as it is on disk, without the in-memory backend.
    let on_disk = Repository::open(dir)?;
    let disk = on_disk.odb()?;
    let mempack = odb.add_new_mempack_backend(1000)?;
    let ids = texts
        .iter()
        .map(|t| odb.write(git2::ObjectType::Blob, t))
        .collect::<Result<Vec<Oid>, git2::Error>>()?;
    // Only the blobs the repository lacked go into the pack (a blob
    // already stored was found, not written again).
    let new: Vec<Oid> = {
        let mut seen = std::collections::HashSet::new();
        ids.iter()
            .copied()
            .filter(|id| seen.insert(*id))
            .filter(|id| !disk.exists(*id))
            .collect()
    };
    if new.is_empty() {
        return Ok(ids);
    }
    let mut builder = repo.packbuilder()?;
    for id in &new {
        builder.insert_object(*id, None)?;
    }
    let mut pack = git2::Buf::new();
    builder.write_buf(&mut pack)?;
    let mut writer = odb.packwriter()?;
    std::io::Write::write_all(&mut writer, &pack)
        .map_err(|e| git2::Error::from_str(&format!("cannot write the pack: {e}")))?;
    writer.commit()?;
    mempack.reset()?;
    Ok(ids)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn me() -> Identity {
        Identity {
            name: "zonewright".into(),
            email: "zonewright@test".into(),
        }
    }

    fn key() -> Identity {
        Identity {
            name: "acme-key".into(),
            email: "zonewright@host".into(),
        }
    }

    /// A repository with `a.zone` committed once: the commit and the
    /// branch HEAD names.
    fn one_commit() -> (tempfile::TempDir, Repository, Oid, String) {
        let dir = tempfile::tempdir().expect("tempdir");
        let repo = open_or_init(dir.path(), &me()).expect("init");
        let file = dir.path().join("a.zone");
        std::fs::write(&file, "one\n").expect("write");
        let first = commit_file(&repo, &file, &me(), &me(), "one")
            .expect("commit")
            .expect("made");
        let branch = state::head_branch(&repo).expect("on a branch");
        (dir, repo, first, branch)
    }

    /// Round 32 (HIGH): a commit goes on the branch HEAD names, or is not
    /// made. With HEAD detached (a `git checkout --detach` after the look
    /// at the repository), it was made on the detached HEAD, and was off
    /// the branch once HEAD went back to it.
    #[test]
    fn commits_go_on_the_branch_never_on_a_detached_head() {
        let (dir, repo, first, branch) = one_commit();
        let file = dir.path().join("a.zone");
        assert!(branch.starts_with("refs/heads/"), "{branch}");
        assert_eq!(repo.refname_to_id(&branch).expect("branch"), first);

        repo.set_head_detached(first).expect("detach");
        std::fs::write(&file, "two\n").expect("write");
        let e = commit_file(&repo, &file, &key(), &me(), "two").expect_err("detached");
        assert!(e.to_string().contains("HEAD is detached"), "{e}");
        assert_eq!(
            repo.refname_to_id("HEAD").expect("head"),
            first,
            "HEAD kept"
        );
        assert_eq!(repo.refname_to_id(&branch).expect("branch"), first);

        repo.set_head(&branch).expect("attach");
        let second = commit_file(&repo, &file, &key(), &me(), "two")
            .expect("commit")
            .expect("made");
        assert_eq!(repo.refname_to_id(&branch).expect("branch"), second);
        assert_eq!(repo.refname_to_id("HEAD").expect("head"), second);
        let c = repo.find_commit(second).expect("commit");
        assert_eq!(c.parent_id(0).expect("parent"), first);
        assert_eq!(c.author().name().ok(), Some("acme-key"));
        // HEAD's reflog has it too, as after `git commit`.
        let log = repo.reflog("HEAD").expect("reflog");
        assert_eq!(log.get(0).map(|e| e.id_new()), Some(second));
    }

    /// Round 33: a branch deleted, or HEAD pointed at a misspelt one, in a
    /// repository with a history is no new repository: no commit (it was
    /// a parentless commit, a new history of one file). A HEAD naming
    /// the branch through another symbolic ref commits on that branch
    /// (it failed: the alias was compared as the branch).
    #[test]
    fn no_new_history_on_a_missing_branch_and_aliases_followed() {
        let (dir, repo, first, branch) = one_commit();
        let file = dir.path().join("a.zone");

        repo.set_head("refs/heads/typo").expect("misspelt");
        std::fs::write(&file, "two\n").expect("write");
        let e = commit_file(&repo, &file, &key(), &me(), "two").expect_err("typo");
        assert!(e.to_string().contains("does not exist"), "{e}");
        assert!(repo.find_reference("refs/heads/typo").is_err(), "not made");

        repo.reference_symbolic("refs/heads/alias", &branch, false, "alias")
            .expect("alias");
        repo.set_head("refs/heads/alias")
            .expect("through the alias");
        let second = commit_file(&repo, &file, &key(), &me(), "two")
            .expect("commit")
            .expect("made");
        assert_eq!(repo.refname_to_id(&branch).expect("branch"), second);
        let parent = repo.find_commit(second).and_then(|c| c.parent_id(0));
        assert_eq!(parent.expect("parent"), first);

        repo.set_head(&branch).expect("back");
        repo.find_reference("refs/heads/alias")
            .and_then(|mut r| r.delete())
            .expect("rm alias");
        repo.find_reference(&branch)
            .and_then(|mut r| r.delete())
            .expect("rm branch");
        std::fs::write(&file, "three\n").expect("write");
        let e = commit_file(&repo, &file, &key(), &me(), "three").expect_err("deleted");
        assert!(e.to_string().contains("does not exist"), "{e}");
        assert!(repo.find_reference(&branch).is_err(), "no new history");
    }

    /// Only what is still so on disk is recorded: a "gone" file that is
    /// back, or a "link" that is a plain file again, is left as HEAD has
    /// it; HEAD's files are told apart from links.
    #[test]
    fn paths_are_recorded_as_they_are_on_disk_when_committed() {
        let dir = tempfile::tempdir().expect("tempdir");
        let repo = open_or_init(dir.path(), &me()).expect("init");
        let file = |n: &str| dir.path().join(n);
        for n in ["a.zone", "b.zone", "c.zone", "notes.txt"] {
            std::fs::write(file(n), format!("{n}\n")).expect("write");
            commit_file(&repo, &file(n), &me(), &me(), n).expect("commit");
        }
        std::fs::remove_file(file("a.zone")).expect("rm");
        std::fs::remove_file(file("notes.txt")).expect("rm");
        std::fs::create_dir(file("data")).expect("mkdir");
        std::fs::rename(file("c.zone"), file("data/c.db")).expect("mv");
        std::os::unix::fs::symlink("data/c.db", file("c.zone")).expect("ln");
        let head = HeadFiles::read(&repo).expect("head");
        let zone = |n: &str| n.ends_with(".zone");
        assert_eq!(head.gone_from(dir.path(), zone), [file("a.zone")]);
        assert_eq!(head.holds_link(&file("c.zone")), Some(false));
        assert_eq!(head.holds_link(&file("b.zone")), None, "no link");
        let changes = [
            (file("a.zone"), PathChange::Gone),
            (file("b.zone"), PathChange::Gone),
            (file("b.zone"), PathChange::Link),
            (file("c.zone"), PathChange::Link),
            // Named twice (a deletion held, then seen again): once.
            (file("a.zone"), PathChange::Link),
        ];
        let mut told = Vec::new();
        let made = commit_paths(&repo, &changes, (&me(), &me()), |done| {
            told = done.to_vec();
            "paths".to_owned()
        })
        .expect("commit");
        assert!(made.commit.is_some());
        assert_eq!(
            told,
            [
                (0, PathDone::Deleted),
                (3, PathDone::Link("data/c.db".into()))
            ],
            "what was recorded, by change"
        );
        assert_eq!(made.gone, [PathBuf::from("a.zone")]);
        assert_eq!(made.index.len(), 2, "the link and the file it points to");
        let tree = repo.head().and_then(|h| h.peel_to_tree()).expect("tree");
        assert!(
            tree.get_path(Path::new("data/c.db")).is_ok(),
            "the target too"
        );
        assert!(tree.get_path(Path::new("a.zone")).is_err(), "removed");
        assert!(tree.get_path(Path::new("notes.txt")).is_ok(), "not asked");
        assert_eq!(
            tree.get_path(Path::new("b.zone")).expect("b").filemode(),
            i32::from(FileMode::Blob)
        );
        let c = tree.get_path(Path::new("c.zone")).expect("c");
        assert_eq!(c.filemode(), i32::from(FileMode::Link));
        let target = repo.find_blob(c.id()).expect("blob");
        assert_eq!(target.content(), b"data/c.db");
        let head = HeadFiles::read(&repo).expect("head");
        assert_eq!(head.holds_link(&file("c.zone")), Some(true));
        assert!(head.gone_from(dir.path(), zone).is_empty());
        // Nothing more to record: no commit.
        let again =
            commit_paths(&repo, &changes, (&me(), &me()), |_| "again".to_owned()).expect("again");
        assert_eq!(again.commit, None);
    }

    /// The zones a commit message names, whether one zone's or a group
    /// commit's; trailers and RR lines name none.
    #[test]
    fn message_zones_are_the_summary_lines_zones() {
        let one = "Example.COM: +1 -0 TXT _acme-challenge.example.com, serial 2\n\n\
                   + _acme-challenge.example.com. 60 IN TXT \"x\"\n\nActor: k\nVia: rfc2136\n";
        assert_eq!(message_zones(one), ["example.com"]);
        let group = "k: 3 writes to 2 zones (a.test. b.test.)\n\na.test: +1 -0 TXT x.a.test\n\
                     + x.a.test. 60 IN TXT \"1\"\n\nb.test.: +2 -0 TXT y.b.test\n\nVia: rest\n";
        assert_eq!(message_zones(group), ["a.test", "b.test"]);
        assert_eq!(message_zones(".: +1 -0 TXT x, serial 3\n"), ["."]);
        assert!(message_zones("fix typo\n\nSigned-off-by: A <a@b>\n").is_empty());
    }

    /// The `File:` trailers: the path whole under one zone's message
    /// (spaces and all), `ZONE PATH` per zone in a group's, where a zone
    /// the message does not name is left out.
    #[test]
    fn message_files_are_the_file_trailers() {
        let one = "example.com: +1 -0 TXT x, serial 2\n\nActor: k\nVia: rfc2136\n\
                   Serial: 1 -> 2\nFile: sub dir/example.com.zone\n";
        assert_eq!(
            message_files(one),
            [(
                "example.com".to_owned(),
                PathBuf::from("sub dir/example.com.zone")
            )]
        );
        let group = "k: 2 writes to 2 zones (a.test. b.test.)\n\na.test: +1 -0 TXT x.a.test\n\n\
                     b.test: +1 -0 TXT y.b.test\n\nVia: rfc2136\nSerial: a.test. 1 -> 2\n\
                     Serial: b.test. 5 -> 6\nFile: a.test. two.db\nFile: B.test. one.db\n\
                     File: c.test. three.db\n";
        assert_eq!(
            message_files(group),
            [
                ("a.test".to_owned(), PathBuf::from("two.db")),
                ("b.test".to_owned(), PathBuf::from("one.db")),
            ]
        );
        assert!(message_files("fix typo\n\nFile: x.zone\n").is_empty());
    }

    /// HEAD's version of a zone file that is a link is the file the link
    /// leads to in HEAD's tree (chains followed), never the link's target
    /// string; links out of the tree, absolute, looping or to a folder
    /// lead to nothing.
    #[test]
    fn head_text_follows_the_links_head_holds() {
        let dir = tempfile::tempdir().expect("tempdir");
        let repo = open_or_init(dir.path(), &me()).expect("init");
        let file = |n: &str| dir.path().join(n);
        std::fs::create_dir(file("data")).expect("mkdir");
        std::fs::write(file("data/a.db"), "zone a\n").expect("write");
        std::fs::write(file("plain.zone"), "plain\n").expect("write");
        for (link, target) in [
            ("a.zone", "data/a.db"),
            ("chain.zone", "a.zone"),
            ("data/up.zone", "../a.zone"),
            ("out.zone", "../outside.db"),
            ("abs.zone", "/etc/hostname"),
            ("loop1.zone", "loop2.zone"),
            ("loop2.zone", "loop1.zone"),
            ("dir.zone", "data"),
            ("dangling.zone", "data/none.db"),
        ] {
            std::os::unix::fs::symlink(target, file(link)).expect("ln");
        }
        let mut index = repo.index().expect("index");
        index
            .add_all(["*"], git2::IndexAddOption::DEFAULT, None)
            .expect("add");
        let tree = repo
            .find_tree(index.write_tree().expect("tree"))
            .expect("tree");
        let sig = Signature::now("zonewright", "zonewright@test").expect("sig");
        let parent = repo.head().and_then(|h| h.peel_to_commit()).ok();
        let parents: Vec<&git2::Commit<'_>> = parent.iter().collect();
        repo.commit(Some("HEAD"), &sig, &sig, "links", &tree, &parents)
            .expect("commit");
        let text = |n: &str| head_text(&repo, &file(n), usize::MAX).expect("head");
        assert_eq!(text("plain.zone").as_deref(), Some("plain\n"));
        for followed in ["a.zone", "chain.zone", "data/up.zone", "data/a.db"] {
            assert_eq!(text(followed).as_deref(), Some("zone a\n"), "{followed}");
        }
        for nothing in [
            "out.zone",
            "abs.zone",
            "loop1.zone",
            "dir.zone",
            "dangling.zone",
            "missing.zone",
        ] {
            assert_eq!(text(nothing), None, "{nothing}");
        }
        let at = head_path(&repo, &file("chain.zone")).expect("path");
        assert_eq!(
            at.map(|p| p.canonicalize().expect("exists")),
            Some(file("data/a.db").canonicalize().expect("exists"))
        );
        // Pointed elsewhere on disk: HEAD still leads to the old file.
        std::fs::remove_file(file("a.zone")).expect("rm");
        std::os::unix::fs::symlink("plain.zone", file("a.zone")).expect("ln");
        assert_eq!(text("a.zone").as_deref(), Some("zone a\n"));
    }

    /// `zones_dir` a link to the repository's folder: the repository
    /// knows its real folder, so once the link points at another folder,
    /// no path in that one can be taken for one of this repository (a
    /// zone missing there is never removed from this HEAD).
    #[test]
    fn a_repository_opened_through_a_link_refuses_paths_after_a_repoint() {
        let top = tempfile::tempdir().expect("tempdir");
        let (real, other) = (top.path().join("real"), top.path().join("other"));
        std::fs::create_dir(&real).expect("mkdir");
        std::fs::create_dir(&other).expect("mkdir");
        let zones = top.path().join("zones");
        std::os::unix::fs::symlink(&real, &zones).expect("ln");
        let repo = open_or_init(&zones, &me()).expect("init");
        assert!(relative(&repo, &zones.join("a.zone")).is_ok());
        std::fs::remove_file(&zones).expect("rm link");
        std::os::unix::fs::symlink(&other, &zones).expect("ln");
        let gone = [(zones.join("a.zone"), PathChange::Gone)];
        assert!(
            commit_paths(&repo, &gone, (&me(), &me()), |_| "gone".to_owned()).is_err(),
            "a path of the other folder"
        );
    }

    /// Thousands of blobs at once go into one pack, which a handle opened
    /// before it finds; blobs already there are not written again.
    #[test]
    fn blobs_written_as_one_pack_are_found_by_another_handle() {
        let dir = tempfile::tempdir().expect("tempdir");
        let repo = open_or_init(dir.path(), &me()).expect("init");
        let texts: Vec<String> = (0..300).map(|i| format!("zone {i}\n")).collect();
        let bytes: Vec<&[u8]> = texts.iter().map(|t| t.as_bytes()).collect();
        let ids = write_blobs_packed(dir.path(), &bytes).expect("packed");
        assert_eq!(ids.len(), 300);
        let packs: Vec<_> = std::fs::read_dir(dir.path().join(".git/objects/pack"))
            .expect("pack dir")
            .flatten()
            .filter(|e| e.file_name().to_string_lossy().ends_with(".pack"))
            .collect();
        assert_eq!(packs.len(), 1, "one pack");
        for (id, text) in ids.iter().zip(&texts) {
            let blob = repo.find_blob(*id).expect("found through the older handle");
            assert_eq!(blob.content(), text.as_bytes());
        }
        // Again: nothing new, no second pack.
        let again = write_blobs_packed(dir.path(), &bytes).expect("again");
        assert_eq!(again, ids);
        let count = std::fs::read_dir(dir.path().join(".git/objects/pack"))
            .expect("pack dir")
            .flatten()
            .filter(|e| e.file_name().to_string_lossy().ends_with(".pack"))
            .count();
        assert_eq!(count, 1);
    }

    #[test]
    fn init_commit_and_detect_changes() {
        let dir = tempfile::tempdir().expect("tempdir");
        let repo = open_or_init(dir.path(), &me()).expect("init");
        let zone = dir.path().join("example.com.zone");
        std::fs::write(&zone, "first\n").expect("write");
        assert!(is_dirty(&repo, &zone).expect("status"));
        let first = commit_file(&repo, &zone, &key(), &me(), "one").expect("commit");
        assert!(first.is_some());
        assert!(!is_dirty(&repo, &zone).expect("status"));
        // Unchanged content: nothing to commit.
        assert_eq!(
            commit_file(&repo, &zone, &key(), &me(), "again").expect("c"),
            None
        );
        std::fs::write(&zone, "second\n").expect("write");
        assert!(is_dirty(&repo, &zone).expect("status"));
        let second = commit_file(&repo, &zone, &key(), &me(), "two")
            .expect("c")
            .expect("oid");
        let c = repo.find_commit(second).expect("commit");
        assert_eq!(c.author().name().ok(), Some("acme-key"));
        assert_eq!(c.committer().name().ok(), Some("zonewright"));
        // .gitignore, then the two zone commits.
        assert_eq!(c.parent_count(), 1);
        let ignored = dir.path().join(".example.com.zone.lock");
        std::fs::write(&ignored, "").expect("lock file");
        assert!(!is_dirty(&repo, &ignored).expect("status"));
        assert_eq!(c.message().ok(), Some("two"));
    }

    /// The committer's path: the bytes written are recorded even when the
    /// file already holds the next version, and the index tracks the file.
    #[test]
    fn commit_written_records_the_bytes_given_and_keeps_status_true() {
        let dir = tempfile::tempdir().expect("tempdir");
        let repo = open_or_init(dir.path(), &me()).expect("init");
        let zone = dir.path().join("example.com.zone");
        let commit = |bytes: &[u8], meta: &std::fs::Metadata, msg: &str| {
            let w = Written {
                file: &zone,
                rel: None,
                bytes,
                stat: Some(Stat::of(meta)),
                blob: None,
            };
            commit_written(&repo, &[w], &key(), &me(), msg).expect("commit")
        };
        std::fs::write(&zone, "version 1\n").expect("write");
        let meta1 = std::fs::metadata(&zone).expect("stat");
        let (c1, entries) = commit(b"version 1\n", &meta1, "one");
        let c1 = c1.expect("a commit");
        // The index is written separately (the committer defers it); the
        // file is what HEAD holds all the same.
        assert!(!is_dirty(&repo, &zone).expect("status"));
        update_index(&repo, &entries).expect("index");
        assert!(
            !is_dirty(&repo, &zone).expect("status"),
            "clean after the index"
        );
        // The next version is on disk before its commit: status sees it.
        std::fs::write(&zone, "version 2, longer\n").expect("write");
        let meta2 = std::fs::metadata(&zone).expect("stat");
        assert!(is_dirty(&repo, &zone).expect("status"));
        // Recording v1 again changes nothing.
        assert_eq!(commit(b"version 1\n", &meta1, "again").0, None);
        let (c2, entries) = commit(b"version 2, longer\n", &meta2, "two");
        let c2 = c2.expect("a commit");
        update_index(&repo, &entries).expect("index");
        assert!(!is_dirty(&repo, &zone).expect("status"));
        let blob_of = |c: Oid| {
            let tree = repo.find_commit(c).expect("commit").tree().expect("tree");
            let entry = tree.get_path(Path::new("example.com.zone")).expect("entry");
            repo.find_blob(entry.id()).expect("blob").content().to_vec()
        };
        assert_eq!(blob_of(c1), b"version 1\n");
        assert_eq!(blob_of(c2), b"version 2, longer\n");
        // git itself agrees the work tree is clean.
        let out = std::process::Command::new("git")
            .args(["status", "--porcelain"])
            .current_dir(dir.path())
            .output();
        if let Ok(out) = out {
            assert!(out.status.success());
            assert_eq!(String::from_utf8_lossy(&out.stdout), "");
        }
    }

    /// A crash between a commit and the index write leaves `git status`
    /// showing the committed change as staged and modified; committing the
    /// file again (as start-up does) repairs the index without a commit.
    #[test]
    fn a_stale_index_is_repaired_without_a_new_commit() {
        let dir = tempfile::tempdir().expect("tempdir");
        let repo = open_or_init(dir.path(), &me()).expect("init");
        let zone = dir.path().join("example.com.zone");
        std::fs::write(&zone, "v1\n").expect("write");
        commit_file(&repo, &zone, &key(), &me(), "one").expect("commit");
        std::fs::write(&zone, "v2\n").expect("write");
        let meta = std::fs::metadata(&zone).expect("stat");
        let w = Written {
            file: &zone,
            rel: None,
            bytes: b"v2\n",
            stat: Some(Stat::of(&meta)),
            blob: None,
        };
        let (c2, _entries_never_written) =
            commit_written(&repo, &[w], &key(), &me(), "two").expect("commit");
        assert!(c2.is_some());
        // The file is what HEAD holds, whatever the index says.
        assert!(!is_dirty(&repo, &zone).expect("status"));
        let porcelain = std::process::Command::new("git")
            .args(["status", "--porcelain"])
            .current_dir(dir.path())
            .output();
        if let Ok(out) = porcelain {
            assert_eq!(
                String::from_utf8_lossy(&out.stdout).trim(),
                "MM example.com.zone"
            );
        }
        let head = repo.head().expect("head").target();
        assert_eq!(
            commit_file(&repo, &zone, &me(), &me(), "again").expect("c"),
            None
        );
        assert_eq!(repo.head().expect("head").target(), head, "no new commit");
        let porcelain = std::process::Command::new("git")
            .args(["status", "--porcelain"])
            .current_dir(dir.path())
            .output();
        if let Ok(out) = porcelain {
            assert_eq!(String::from_utf8_lossy(&out.stdout), "", "index repaired");
        }
    }

    /// After a crash between a commit and its (batched) index update, the
    /// index holds the file's older version while the file and HEAD hold
    /// the new one; start-up puts the entry right, so a person's next `git
    /// commit` cannot record the older version. An entry a person staged
    /// (its file differs from HEAD) stays.
    #[test]
    fn index_entries_behind_head_are_caught_up_and_staged_ones_kept() {
        let dir = tempfile::tempdir().expect("tempdir");
        let repo = open_or_init(dir.path(), &me()).expect("init");
        let zone = dir.path().join("example.com.zone");
        let other = dir.path().join("other.zone");
        std::fs::write(&zone, "v1\n").expect("write");
        std::fs::write(&other, "o1\n").expect("write");
        commit_file(&repo, &zone, &key(), &me(), "one").expect("commit");
        commit_file(&repo, &other, &key(), &me(), "one").expect("commit");
        let git = |args: &[&str]| {
            std::process::Command::new("git")
                .args(args)
                .current_dir(dir.path())
                .output()
                .ok()
        };
        let Some(_) = git(&["add", "-A"]) else {
            return; // no git command here: nothing to compare with
        };
        // The index at v1 (as git add left it); then a commit of v2 by the
        // store whose index update never came (the crash).
        std::fs::write(&zone, "v2\n").expect("write");
        let meta = std::fs::metadata(&zone).expect("stat");
        let w = Written {
            file: &zone,
            rel: None,
            bytes: b"v2\n",
            stat: Some(Stat::of(&meta)),
            blob: None,
        };
        commit_written(&repo, &[w], &key(), &me(), "two").expect("commit");
        // A person stages a change of the other file, and one of the zone
        // file that they then undo in the file only: the index alone holds
        // it, with a blob no commit has.
        std::fs::write(&other, "o2 staged\n").expect("write");
        git(&["add", "other.zone"]);
        let third = dir.path().join("third.zone");
        std::fs::write(&third, "t1\n").expect("write");
        commit_file(&repo, &third, &key(), &me(), "three").expect("commit");
        git(&["add", "third.zone"]);
        std::fs::write(&third, "t2 staged, then undone in the file\n").expect("write");
        git(&["add", "third.zone"]);
        std::fs::write(&third, "t1\n").expect("write");
        let before = git(&["status", "--porcelain"]).expect("git");
        let before = String::from_utf8_lossy(&before.stdout).into_owned();
        assert!(before.contains("MM example.com.zone"), "{before}");
        assert!(before.contains("MM third.zone"), "{before}");
        repair_index(&repo);
        let after = git(&["status", "--porcelain"]).expect("git");
        assert_eq!(
            String::from_utf8_lossy(&after.stdout),
            "M  other.zone\nMM third.zone\n"
        );
    }

    /// Issue 12 item 5: an index overwritten with garbage is rebuilt from
    /// HEAD (the damaged one kept aside), so `git status` works again and
    /// the next index update lands.
    #[test]
    fn a_corrupt_index_is_rebuilt_from_head() {
        let dir = tempfile::tempdir().expect("tempdir");
        let repo = open_or_init(dir.path(), &me()).expect("init");
        let zone = dir.path().join("example.com.zone");
        std::fs::write(&zone, "v1\n").expect("write");
        commit_file(&repo, &zone, &key(), &me(), "one").expect("commit");
        std::fs::write(repo.path().join("index"), b"garbage, not an index").expect("corrupt");
        std::fs::write(&zone, "v2\n").expect("write");
        let meta = std::fs::metadata(&zone).expect("stat");
        let w = Written {
            file: &zone,
            rel: None,
            bytes: b"v2\n",
            stat: Some(Stat::of(&meta)),
            blob: None,
        };
        let (c2, entries) = commit_written(&repo, &[w], &key(), &me(), "two").expect("commit");
        assert!(c2.is_some());
        update_index(&repo, &entries).expect("index rebuilt and updated");
        assert!(repo.path().join("index.corrupt").exists());
        let status = std::process::Command::new("git")
            .args(["status", "--porcelain"])
            .current_dir(dir.path())
            .output();
        if let Ok(out) = status {
            assert!(out.status.success(), "{out:?}");
            assert_eq!(String::from_utf8_lossy(&out.stdout), "", "clean");
        }
    }

    /// What someone stages or commits by hand between two of ours stays:
    /// the index written is the one on disk, not the one read at start.
    #[test]
    fn a_file_committed_by_hand_between_two_writes_stays_in_the_index() {
        let dir = tempfile::tempdir().expect("tempdir");
        let repo = open_or_init(dir.path(), &me()).expect("init");
        let zone = dir.path().join("a.zone");
        let write = |text: &str, msg: &str| {
            std::fs::write(&zone, text).expect("write");
            let meta = std::fs::metadata(&zone).expect("stat");
            let w = Written {
                file: &zone,
                rel: None,
                bytes: text.as_bytes(),
                stat: Some(Stat::of(&meta)),
                blob: None,
            };
            let (_, entries) = commit_written(&repo, &[w], &key(), &me(), msg).expect("commit");
            update_index(&repo, &entries).expect("index");
        };
        write("v1\n", "one");
        // By hand, with git itself: a second zone file.
        std::fs::write(dir.path().join("b.zone"), "b\n").expect("write");
        let git = |args: &[&str]| {
            std::process::Command::new("git")
                .args(args)
                .current_dir(dir.path())
                .output()
        };
        let Ok(added) = git(&[
            "-c",
            "user.name=op",
            "-c",
            "user.email=op@x",
            "add",
            "b.zone",
        ]) else {
            return; // no git binary: nothing to compare with
        };
        assert!(added.status.success());
        let done = git(&[
            "-c",
            "user.name=op",
            "-c",
            "user.email=op@x",
            "commit",
            "-qm",
            "b",
        ]);
        assert!(done.is_ok_and(|o| o.status.success()));
        write("v2\n", "two");
        let status = git(&["status", "--porcelain"]).expect("git status");
        assert_eq!(
            String::from_utf8_lossy(&status.stdout),
            "",
            "nothing staged or lost"
        );
    }

    #[test]
    fn last_change_is_the_newest_commit_that_changed_the_file_not_head() {
        let dir = tempfile::tempdir().expect("tempdir");
        let repo = open_or_init(dir.path(), &me()).expect("init");
        let (a, b) = (dir.path().join("a.zone"), dir.path().join("b.zone"));
        std::fs::write(&a, "one").expect("a");
        commit_file(&repo, &a, &me(), &me(), "a: first\n").expect("commit a");
        std::fs::write(&b, "two").expect("b");
        commit_file(&repo, &b, &me(), &me(), "b: first\n").expect("commit b");
        let (_, _, _, summary) = last_change(&repo, &a, 100).expect("walk").expect("found");
        assert_eq!(summary, "a: first");
        let (_, _, _, summary) = last_change(&repo, &b, 100).expect("walk").expect("found");
        assert_eq!(summary, "b: first");
        assert!(
            last_change(&repo, &dir.path().join("c.zone"), 100)
                .expect("walk")
                .is_none()
        );
    }

    #[test]
    fn a_new_repository_commits_the_folders_own_gitignore() {
        let dir = tempfile::tempdir().expect("tempdir");
        std::fs::write(dir.path().join(".gitignore"), "zonewright.toml\n").expect("ignore");
        std::fs::write(dir.path().join("zonewright.toml"), "secret").expect("config");
        std::fs::write(dir.path().join(".example.com.zone.lock"), "").expect("lock");
        let repo = open_or_init(dir.path(), &me()).expect("init");
        let ignore = dir.path().join(".gitignore");
        assert!(!is_dirty(&repo, &ignore).expect("status"), "committed");
        assert_eq!(
            std::fs::read_to_string(&ignore).expect("read"),
            "zonewright.toml\n",
            "kept as the user wrote it"
        );
        let config = dir.path().join("zonewright.toml");
        assert!(repo.status_should_ignore(&config).expect("ignored?"));
        // Our lock files are ignored too, through .git/info/exclude.
        let lock = Path::new(".example.com.zone.lock");
        assert!(repo.status_should_ignore(lock).expect("ignored?"));
    }

    #[test]
    fn an_existing_repository_learns_to_ignore_the_lock_files() {
        let dir = tempfile::tempdir().expect("tempdir");
        Repository::init(dir.path()).expect("git init");
        std::fs::write(dir.path().join(".example.com.zone.lock"), "").expect("lock");
        // The user's own patterns, not even UTF-8, and no final newline.
        let exclude = dir.path().join(".git/info/exclude");
        std::fs::create_dir_all(dir.path().join(".git/info")).expect("mkdir");
        std::fs::write(&exclude, b"*.bak\n# caf\xe9").expect("exclude");
        let repo = open_or_init(dir.path(), &me()).expect("open");
        let lock = dir.path().join(".example.com.zone.lock");
        assert!(!is_dirty(&repo, &lock).expect("status"));
        let kept = std::fs::read(&exclude).expect("read");
        assert!(
            kept.starts_with(b"*.bak\n# caf\xe9\n# zonewright"),
            "{kept:?}"
        );
        // Not committed: the work tree has no .gitignore of ours.
        assert!(!dir.path().join(".gitignore").exists());
        // Opening again adds nothing twice.
        drop(open_or_init(dir.path(), &me()).expect("open"));
        let again = String::from_utf8_lossy(&std::fs::read(&exclude).expect("x")).into_owned();
        assert_eq!(again.matches(".*.lock").count(), 1, "{again}");
    }

    #[test]
    fn only_the_named_file_is_committed() {
        let dir = tempfile::tempdir().expect("tempdir");
        let repo = open_or_init(dir.path(), &me()).expect("init");
        let a = dir.path().join("a.zone");
        let b = dir.path().join("b.zone");
        std::fs::write(&a, "a\n").expect("write");
        std::fs::write(&b, "b\n").expect("write");
        let oid = commit_file(&repo, &a, &key(), &me(), "a")
            .expect("c")
            .expect("oid");
        let tree = repo.find_commit(oid).expect("c").tree().expect("tree");
        assert!(tree.get_name("a.zone").is_some());
        assert!(tree.get_name("b.zone").is_none());
        assert!(tree.get_name(".gitignore").is_some());
        assert!(is_dirty(&repo, &b).expect("status"));
    }

    #[test]
    fn a_parent_checkout_is_not_used() {
        let outer = tempfile::tempdir().expect("tempdir");
        open_or_init(outer.path(), &me()).expect("outer");
        let inner = outer.path().join("zones");
        std::fs::create_dir(&inner).expect("mkdir");
        let repo = open_or_init(&inner, &me()).expect("inner");
        assert!(same_dir(repo.workdir().expect("workdir"), &inner));
    }

    #[test]
    fn files_outside_the_repository_are_refused() {
        let dir = tempfile::tempdir().expect("tempdir");
        let other = tempfile::tempdir().expect("tempdir");
        let repo = open_or_init(dir.path(), &me()).expect("init");
        let stray = other.path().join("x.zone");
        std::fs::write(&stray, "x\n").expect("write");
        let e = commit_file(&repo, &stray, &key(), &me(), "x").expect_err("outside");
        assert!(e.to_string().contains("x.zone"), "{e}");
    }

    #[test]
    fn message_layout_and_trailer_injection() {
        let m = Message {
            summary: "example.com: +1 -0 TXT _acme-challenge.example.com, serial 2611220003".into(),
            added: vec!["_acme-challenge 60 IN TXT \"token-1\"".into()],
            removed: vec![],
            trailers: vec![
                ("Actor", "acme-key".into()),
                ("Client", "127.0.0.1:5353\nVia: forged".into()),
            ],
        };
        let text = m.to_string();
        assert_eq!(
            text,
            "example.com: +1 -0 TXT _acme-challenge.example.com, serial 2611220003\n\n\
             + _acme-challenge 60 IN TXT \"token-1\"\n\n\
             Actor: acme-key\nClient: 127.0.0.1:5353 Via: forged\n"
        );
    }
    /// Commits `text` as `file` with author and committer time `when`.
    fn commit_at(repo: &Repository, file: &Path, text: &str, when: i64) {
        std::fs::write(file, text).expect("write");
        let rel = relative(repo, file).expect("rel");
        let mut index = repo.index().expect("index");
        index.add_path(&rel).expect("add");
        index.write().expect("index write");
        let tree = repo
            .find_tree(index.write_tree().expect("tree"))
            .expect("t");
        let sig = Signature::new("t", "t@t", &git2::Time::new(when, 0)).expect("sig");
        let parent = repo.head().ok().and_then(|h| h.peel_to_commit().ok());
        let parents: Vec<&git2::Commit<'_>> = parent.iter().collect();
        repo.commit(
            Some("HEAD"),
            &sig,
            &sig,
            &format!("m {when}"),
            &tree,
            &parents,
        )
        .expect("commit");
    }

    /// The tree walk the history reads each commit with finds the same
    /// changed files as libgit2's tree diff: nested folders, a folder
    /// deleted and added, a file turned into a folder of the same name
    /// (git orders `x`, `x.a`, then the folder `x/`), a mode changed, a
    /// link added.
    #[test]
    fn the_history_s_tree_walk_finds_what_libgit2_s_diff_finds() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().expect("tempdir");
        let repo = open_or_init(dir.path(), &me()).expect("init");
        let root = dir.path();
        let write = |rel: &str, text: &str| {
            let p = root.join(rel);
            std::fs::create_dir_all(p.parent().expect("parent")).expect("mkdir");
            std::fs::write(p, text).expect("write");
        };
        let snapshot = || -> Oid {
            let mut index = repo.index().expect("index");
            index.clear().expect("clear");
            index
                .add_all(["*"], git2::IndexAddOption::DEFAULT, None)
                .expect("add");
            index.write_tree().expect("tree")
        };
        let mut trees = Vec::new();
        write("a.zone", "a1");
        write("b.zone", "b1");
        write("sub/c.zone", "c1");
        write("sub/deep/d.zone", "d1");
        write("x", "file x");
        write("x.a", "x.a");
        trees.push(snapshot());
        write("b.zone", "b2");
        std::fs::remove_dir_all(root.join("sub/deep")).expect("rm");
        write("sub/e.zone", "e1");
        std::fs::remove_file(root.join("x")).expect("rm");
        write("x/y", "in folder x");
        write("new/f.zone", "f1");
        trees.push(snapshot());
        // The folder `x` on both sides, `x.a` (ordered before it) on one.
        std::fs::remove_file(root.join("x.a")).expect("rm");
        trees.push(snapshot());
        write("x.a", "x.a again");
        trees.push(snapshot());
        std::fs::set_permissions(root.join("a.zone"), std::fs::Permissions::from_mode(0o755))
            .expect("chmod");
        std::os::unix::fs::symlink("a.zone", root.join("l.zone")).expect("ln");
        std::fs::remove_dir_all(root.join("x")).expect("rm");
        write("x", "file again");
        std::fs::remove_dir_all(root.join("new")).expect("rm");
        trees.push(snapshot());
        let empty = repo.treebuilder(None).expect("builder");
        trees.insert(0, empty.write().expect("empty"));
        let blob = |id: Oid| (!id.is_zero()).then_some(id);
        for pair in trees.windows(2) {
            let (old, new) = (
                repo.find_tree(pair[0]).expect("old"),
                repo.find_tree(pair[1]).expect("new"),
            );
            for (o, n) in [(&old, &new), (&new, &old)] {
                let mut ours = Vec::new();
                changed_blobs(&repo, Some(o), Some(n), Path::new(""), &mut ours).expect("walk");
                let diff = repo
                    .diff_tree_to_tree(Some(o), Some(n), None)
                    .expect("diff");
                let mut theirs: Vec<_> = diff
                    .deltas()
                    .map(|d| {
                        let path = d.new_file().path().or(d.old_file().path()).expect("path");
                        (
                            path.to_path_buf(),
                            blob(d.old_file().id()),
                            blob(d.new_file().id()),
                        )
                    })
                    .collect();
                assert!(!theirs.is_empty());
                ours.sort();
                theirs.sort();
                assert_eq!(ours, theirs);
            }
        }
    }

    /// The history read once serves every file: each file's changes in
    /// the window, oldest first, with both texts; a file's commits outside
    /// `[since, until]` are left out.
    #[test]
    fn history_lists_each_files_changes_in_the_window() {
        let dir = tempfile::tempdir().expect("tempdir");
        let repo = open_or_init(dir.path(), &me()).expect("init");
        let (a, b) = (dir.path().join("a.zone"), dir.path().join("b.zone"));
        commit_at(&repo, &a, "a1\n", 1_000);
        commit_at(&repo, &b, "b1\n", 2_000);
        commit_at(&repo, &a, "a2\n", 3_000);
        commit_at(&repo, &b, "b2\n", 4_000);
        commit_at(&repo, &a, "a3\n", 9_000);
        let h = History::read(&repo, (1_500, 5_000), 100).expect("history");
        let texts = |file: &Path, since: i64| -> Vec<(i64, String, String)> {
            h.changes(&repo, file, (since, 100, 0), 1 << 20)
                .expect("changes")
                .0
                .into_iter()
                .map(|c| (c.time, c.before, c.after))
                .collect()
        };
        assert_eq!(
            texts(&a, 1_500),
            vec![(3_000, "a1\n".into(), "a2\n".into())]
        );
        assert_eq!(
            texts(&b, 1_500),
            vec![
                (2_000, String::new(), "b1\n".into()),
                (4_000, "b1\n".into(), "b2\n".into())
            ]
        );
        // A later `since` (the window moved on) drops the older ones.
        assert_eq!(
            texts(&b, 3_000),
            vec![(4_000, "b1\n".into(), "b2\n".into())]
        );
        assert_eq!(h.cut_at, None, "the walk reached the window's start");
        // At most `max` commits are walked, newest first; the walk says
        // where it stopped.
        let h = History::read(&repo, (0, 10_000), 2).expect("history");
        assert_eq!(h.cut_at, Some(3_000));
        let (b_changes, left) = h.changes(&repo, &b, (0, 100, 0), 1 << 20).expect("b");
        assert_eq!((b_changes.len(), left), (1, 0));
        assert!(
            h.changes(&repo, &dir.path().join("c.zone"), (0, 100, 0), 1)
                .expect("c")
                .0
                .is_empty()
        );
        // The newest `newest` changes of one file, and more within the
        // byte budget; how many were left out.
        let h = History::read(&repo, (0, 10_000), 100).expect("history");
        let (a_changes, left) = h.changes(&repo, &a, (0, 1, 0), 1 << 20).expect("a");
        let times: Vec<i64> = a_changes.iter().map(|c| c.time).collect();
        assert_eq!((times, left), (vec![9_000], 2));
        let (a_changes, left) = h.changes(&repo, &a, (0, 1, 1 << 20), 1 << 20).expect("a");
        assert_eq!((a_changes.len(), left), (3, 0), "within the budget");
    }

    #[test]
    fn line_commits_are_the_commits_that_last_wrote_each_line() {
        let dir = tempfile::tempdir().expect("tempdir");
        let repo = open_or_init(dir.path(), &me()).expect("init");
        let zone = dir.path().join("z.zone");
        commit_at(&repo, &zone, "a\nb\n", 1_000);
        commit_at(&repo, &zone, "a\nb2\nc\n", 2_000);
        let times = |got: Option<Vec<Option<LineCommit>>>| {
            got.map(|v| v.into_iter().map(|c| c.map(|c| c.time)).collect::<Vec<_>>())
        };
        let got = line_commits(&repo, &zone, &[3, 1, 2]).expect("blame");
        let first = got.as_ref().and_then(|v| v[1].clone()).expect("line 1");
        assert_eq!(
            (first.author.as_str(), first.message.as_str()),
            ("t", "m 1000")
        );
        assert_eq!(
            times(got),
            Some(vec![Some(2_000), Some(1_000), Some(2_000)])
        );
        // Past the end of the file: no commit.
        let got = line_commits(&repo, &zone, &[1, 9]).expect("blame");
        assert_eq!(times(got), Some(vec![Some(1_000), None]));
        assert_eq!(line_commits(&repo, &zone, &[]).expect("x"), Some(vec![]));
        assert_eq!(
            line_commits(&repo, &zone, &[7]).expect("x"),
            Some(vec![None])
        );
        // Uncommitted edits: line numbers are not HEAD's, so no answer.
        std::fs::write(&zone, "new\na\nb2\nc\n").expect("write");
        assert_eq!(line_commits(&repo, &zone, &[1]).expect("blame"), None);
    }
}
