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
/// `committer`.
pub fn open_or_init(dir: &Path, committer: &Identity) -> Result<Repository, GitError> {
    if let Ok(repo) = Repository::open(dir)
        && repo.workdir().is_some_and(|w| same_dir(w, dir))
    {
        return Ok(repo);
    }
    let repo = Repository::init(dir).map_err(wrap(dir))?;
    let ignore = dir.join(".gitignore");
    if !ignore.exists() {
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

fn same_dir(a: &Path, b: &Path) -> bool {
    match (a.canonicalize(), b.canonicalize()) {
        (Ok(a), Ok(b)) => a == b,
        _ => false,
    }
}

/// `file` relative to the repository's work tree, with `/` separators.
fn relative(repo: &Repository, file: &Path) -> Result<PathBuf, GitError> {
    let root = repo.workdir().unwrap_or_else(|| repo.path());
    let outside = || GitError::OutsideRepo {
        repo: root.to_path_buf(),
        path: file.to_path_buf(),
    };
    let root = root.canonicalize().map_err(|_| outside())?;
    let parent = file.parent().unwrap_or(Path::new("."));
    let parent = parent.canonicalize().map_err(|_| outside())?;
    let name = file.file_name().ok_or_else(outside)?;
    let rel = parent.join(name);
    let rel = rel.strip_prefix(&root).map_err(|_| outside())?;
    if rel.components().any(|c| !matches!(c, Component::Normal(_))) {
        return Err(outside());
    }
    Ok(rel.to_path_buf())
}

/// Does `file` differ from what HEAD has (modified, new, or untracked)?
pub fn is_dirty(repo: &Repository, file: &Path) -> Result<bool, GitError> {
    let rel = relative(repo, file)?;
    let mut opts = StatusOptions::new();
    opts.include_untracked(true)
        .pathspec(&rel)
        .disable_pathspec_match(true);
    let statuses = repo.statuses(Some(&mut opts)).map_err(wrap(repo.path()))?;
    Ok(statuses
        .iter()
        .any(|s| s.status() != Status::CURRENT && !s.status().contains(Status::IGNORED)))
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
    let head = match repo.head() {
        Ok(h) => Some(h.peel_to_commit().map_err(&err)?),
        Err(e) if matches!(e.code(), ErrorCode::UnbornBranch | ErrorCode::NotFound) => None,
        Err(e) => return Err(err(e)),
    };
    let base = match &head {
        Some(c) => c.tree().map_err(&err)?,
        None => {
            let empty = repo
                .treebuilder(None)
                .map_err(&err)?
                .write()
                .map_err(&err)?;
            repo.find_tree(empty).map_err(&err)?
        }
    };
    let mut update = git2::build::TreeUpdateBuilder::new();
    if file.exists() {
        let blob = repo.blob_path(file).map_err(&err)?;
        update.upsert(&rel, blob, FileMode::Blob);
    } else {
        update.remove(&rel);
    }
    let tree_id = update.create_updated(repo, &base).map_err(&err)?;
    if tree_id == base.id() && head.is_some() {
        return Ok(None);
    }
    let tree = repo.find_tree(tree_id).map_err(&err)?;
    let sig = |who: &Identity| Signature::now(&who.name, &who.email).map_err(&err);
    let parents: Vec<&git2::Commit<'_>> = head.iter().collect();
    let oid = repo
        .commit(
            Some("HEAD"),
            &sig(author)?,
            &sig(committer)?,
            message,
            &tree,
            &parents,
        )
        .map_err(&err)?;
    // Keep the index in step for this one path, so `git status` is clean.
    let mut index = repo.index().map_err(&err)?;
    if file.exists() {
        index.add_path(&rel).map_err(&err)?;
    } else {
        let _ = index.remove_path(&rel);
    }
    index.write().map_err(&err)?;
    Ok(Some(oid))
}

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
            for r in &self.added {
                writeln!(f, "+ {r}")?;
            }
            for r in &self.removed {
                writeln!(f, "- {r}")?;
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

/// When each of `lines` (1-based) of `file` was last written, as the Unix
/// time of the commit that `git blame` gives it on HEAD. `None` for the
/// whole file when it has changes HEAD does not hold (line numbers would
/// not match), and per line for a line past the end of the committed file.
pub fn line_times(
    repo: &Repository,
    file: &Path,
    lines: &[u32],
) -> Result<Option<Vec<Option<i64>>>, GitError> {
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
    Ok(Some(
        lines
            .iter()
            .map(|&l| {
                blame
                    .get_line(l as usize)
                    .filter(|_| (l as usize) <= count)
                    .and_then(|h| h.final_signature().map(|sig| sig.when().seconds()))
            })
            .collect(),
    ))
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
        repo.commit(Some("HEAD"), &sig, &sig, "m", &tree, &parents)
            .expect("commit");
    }

    #[test]
    fn line_times_are_the_commits_that_last_wrote_each_line() {
        let dir = tempfile::tempdir().expect("tempdir");
        let repo = open_or_init(dir.path(), &me()).expect("init");
        let zone = dir.path().join("z.zone");
        commit_at(&repo, &zone, "a\nb\n", 1_000);
        commit_at(&repo, &zone, "a\nb2\nc\n", 2_000);
        let got = line_times(&repo, &zone, &[3, 1, 2]).expect("blame");
        assert_eq!(got, Some(vec![Some(2_000), Some(1_000), Some(2_000)]));
        // Past the end of the file: no time.
        let got = line_times(&repo, &zone, &[1, 9]).expect("blame");
        assert_eq!(got, Some(vec![Some(1_000), None]));
        assert_eq!(line_times(&repo, &zone, &[]).expect("x"), Some(vec![]));
        assert_eq!(line_times(&repo, &zone, &[7]).expect("x"), Some(vec![None]));
        // Uncommitted edits: line numbers are not HEAD's, so no answer.
        std::fs::write(&zone, "new\na\nb2\nc\n").expect("write");
        assert_eq!(line_times(&repo, &zone, &[1]).expect("blame"), None);
    }
}
