//! Whether the zones repository may be committed on now.
//!
//! A commit made on a detached HEAD belongs to no branch: the next
//! `git checkout` leaves it behind and it is lost to `git log` (and to a
//! `git push`). A commit made while a merge, rebase, cherry-pick, revert,
//! bisect or `git am` is under way lands in the middle of the person's
//! operation. In both cases the audit trail would not hold the write, so
//! the server refuses to start, and a running server refuses writes (see
//! `store::committer`) until the repository is back on a branch, at rest.

use std::fmt;
use std::path::{Path, PathBuf};

use git2::{Repository, RepositoryState};

/// Why the repository must not be committed on now, with what to do.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Unusable {
    /// The repository's work tree (the zones directory).
    pub repo: PathBuf,
    pub why: Why,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Why {
    /// HEAD names a commit, not a branch.
    Detached,
    /// HEAD names a ref that is not a branch (a tag, a remote's branch).
    NotBranch(String),
    /// HEAD names a branch that does not exist, in a repository that has
    /// a history (deleted, or misspelt): a commit would start a new one.
    MissingBranch(String),
    /// HEAD reaches no branch within [`MAX_REFS`] refs (a loop, or a chain
    /// longer than git follows).
    Chain,
    /// A git operation is under way: its name (`merge`, `rebase` ...).
    InProgress(&'static str),
    /// HEAD cannot be read.
    Head(String),
}

impl fmt::Display for Unusable {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let dir = self.repo.display();
        match &self.why {
            Why::Detached => write!(
                f,
                "git repository {dir}: HEAD is detached (on no branch), so commits would be \
                 lost at the next checkout; put it back on a branch: git -C {dir} switch BRANCH"
            ),
            Why::InProgress(op) => write!(
                f,
                "git repository {dir}: a {op} is in progress, so commits would land inside \
                 it; finish it or abort it: {}",
                way_out(op, &dir.to_string())
            ),
            Why::NotBranch(_) | Why::MissingBranch(_) | Why::Chain => write!(
                f,
                "git repository {dir}: {}; put HEAD back on a branch: git -C {dir} switch BRANCH",
                self.why.short()
            ),
            Why::Head(e) => write!(f, "git repository {dir}: cannot read HEAD: {e}"),
        }
    }
}

impl Why {
    /// What is wrong, without the repository or the way back.
    pub fn short(&self) -> String {
        match self {
            Why::Detached => "HEAD is detached (no branch to commit on)".into(),
            Why::NotBranch(name) => format!("HEAD names {name}, not a branch"),
            Why::MissingBranch(name) => format!(
                "HEAD names the branch {name}, which does not exist (deleted, or misspelt?) in \
                 a repository with a history, so a commit would start a new history"
            ),
            Why::Chain => format!(
                "HEAD reaches no branch within {MAX_REFS} refs (a loop of symbolic refs, or a \
                 chain longer than git follows)"
            ),
            Why::InProgress(op) => format!("a {op} is in progress"),
            Why::Head(e) => format!("cannot read HEAD: {e}"),
        }
    }
}

/// Whether the object database holds a commit (stops at the first; a new
/// repository holds none, at most the blobs of a `git add`). An
/// unreadable database counts as holding one.
fn has_commits(repo: &Repository) -> bool {
    let Ok(odb) = repo.odb() else {
        return true;
    };
    let mut found = false;
    let mut unreadable = false;
    let _ = odb.foreach(|id| {
        match odb.read_header(*id) {
            Ok((_, kind)) => found = kind == git2::ObjectType::Commit,
            Err(_) => unreadable = true,
        }
        !(found || unreadable)
    });
    found || unreadable
}

/// The most refs read from HEAD (HEAD included) to its branch, as git
/// bounds symbolic-ref chains.
const MAX_REFS: usize = 5;

/// The branch HEAD names (`refs/heads/main`, through any chain of
/// symbolic refs), born or not; an error when HEAD is detached (no
/// branch to commit on), names no branch, or names a branch that does
/// not exist in a repository that has a history (round 33, HIGH: a write
/// after `git update-ref -d refs/heads/main`, or after HEAD was pointed
/// at a misspelt branch, made a commit with no parent, a new history of
/// one file, off the real branch). The committer commits on this branch;
/// [`usable`], the look before every write and at start-up, asks the
/// same (round 34, LOW: a missing branch was caught only at the commit,
/// after the write was made and briefly served).
pub fn head_branch(repo: &Repository) -> Result<String, Why> {
    use git2::ErrorCode;
    let head = |e: git2::Error| Why::Head(e.message().to_owned());
    let mut name = "HEAD".to_owned();
    // At most MAX_REFS refs read, HEAD included, as git reads them
    // (SYMREF_MAXDEPTH): HEAD -> l3 -> l2 -> l1 -> main resolves, one link
    // more does not, for git 2.47 as here (round 36: a chain git calls
    // broken was followed; round 35 had counted one link more).
    for _ in 0..MAX_REFS {
        let r = match repo.find_reference(&name) {
            Ok(r) => r,
            Err(e) if e.code() == ErrorCode::NotFound && name != "HEAD" => {
                if !name.starts_with("refs/heads/") {
                    return Err(Why::NotBranch(name));
                }
                // An unborn branch is only a new repository's (its first
                // commit): none with any ref (a branch, a tag, a remote's
                // branch: a history a parentless commit would stand
                // beside), with a HEAD that pointed at commits before, or
                // with any commit at all (round 35: the branch deleted and
                // the reflog expired left only dangling commits, and the
                // next write started a new history).
                let refs = repo.references().map_err(head)?.next().is_some();
                let history = repo.reflog("HEAD").map(|l| l.len()).unwrap_or(0);
                if refs || history > 0 || has_commits(repo) {
                    return Err(Why::MissingBranch(name));
                }
                return Ok(name);
            }
            Err(e) => return Err(head(e)),
        };
        match r.symbolic_target_bytes() {
            Some(target) => name = String::from_utf8_lossy(target).into_owned(),
            None if name == "HEAD" => return Err(Why::Detached),
            None if name.starts_with("refs/heads/") => return Ok(name),
            None => return Err(Why::NotBranch(name)),
        }
    }
    Err(Why::Chain)
}

impl std::error::Error for Unusable {}

/// The commands that end an operation `op` under way.
fn way_out(op: &str, dir: &str) -> String {
    match op {
        "bisect" => format!("git -C {dir} bisect reset"),
        "merge" => format!("git -C {dir} commit, or git -C {dir} merge --abort"),
        "git am" => format!("git -C {dir} am --continue, or git -C {dir} am --abort"),
        _ => format!("git -C {dir} {op} --continue, or git -C {dir} {op} --abort"),
    }
}

/// The name of the operation under way in `state`, `None` when at rest.
fn operation(state: RepositoryState) -> Option<&'static str> {
    use RepositoryState as S;
    match state {
        S::Clean => None,
        S::Merge => Some("merge"),
        S::Revert | S::RevertSequence => Some("revert"),
        S::CherryPick | S::CherryPickSequence => Some("cherry-pick"),
        S::Bisect => Some("bisect"),
        S::Rebase | S::RebaseInteractive | S::RebaseMerge => Some("rebase"),
        S::ApplyMailbox | S::ApplyMailboxOrRebase => Some("git am"),
    }
}

/// `Ok` when `repo` is on a branch (or an unborn one) with no operation
/// under way: commits made now stay in its history.
pub fn usable(repo: &Repository) -> Result<(), Unusable> {
    let dir = repo.workdir().unwrap_or_else(|| repo.path());
    let unusable = |why| Unusable {
        // Without git's trailing `/`, for the messages.
        repo: dir.components().collect(),
        why,
    };
    // An operation first: a rebase detaches HEAD, and "a rebase is in
    // progress" is the more useful message.
    if let Some(op) = operation(repo.state()) {
        return Err(unusable(Why::InProgress(op)));
    }
    head_branch(repo).map(|_| ()).map_err(unusable)
}

/// At start-up: `Ok` when `dir` is no repository of its own yet (the
/// server makes it one) or one that [`usable`] accepts.
pub fn check_at_start(dir: &Path) -> Result<(), Unusable> {
    match Repository::open(dir) {
        Ok(repo) if repo.workdir().is_some_and(|w| super::same_dir(w, dir)) => usable(&repo),
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::process::Command;

    fn git(dir: &Path, args: &[&str]) {
        let out = Command::new("git")
            .arg("-C")
            .arg(dir)
            .args(["-c", "user.name=t", "-c", "user.email=t@t"])
            .args(args)
            .output()
            .expect("git runs");
        assert!(out.status.success(), "git {args:?}: {out:?}");
    }

    fn repo_with_two_commits() -> tempfile::TempDir {
        let dir = tempfile::tempdir().expect("tempdir");
        git(dir.path(), &["init", "-q", "-b", "main"]);
        std::fs::write(dir.path().join("a.zone"), "one\n").expect("write");
        git(dir.path(), &["add", "a.zone"]);
        git(dir.path(), &["commit", "-qm", "one"]);
        std::fs::write(dir.path().join("a.zone"), "two\n").expect("write");
        git(dir.path(), &["commit", "-qam", "two"]);
        dir
    }

    #[test]
    fn a_branch_at_rest_and_an_unborn_one_are_usable() {
        let dir = repo_with_two_commits();
        assert_eq!(check_at_start(dir.path()), Ok(()));
        let empty = tempfile::tempdir().expect("tempdir");
        git(empty.path(), &["init", "-q"]);
        assert_eq!(check_at_start(empty.path()), Ok(()));
        // No repository yet: the server makes one.
        let none = tempfile::tempdir().expect("tempdir");
        assert_eq!(check_at_start(none.path()), Ok(()));
    }

    #[test]
    fn a_detached_head_is_named_with_the_way_back() {
        let dir = repo_with_two_commits();
        git(dir.path(), &["checkout", "-q", "HEAD~1"]);
        let e = check_at_start(dir.path()).expect_err("detached");
        assert_eq!(e.why, Why::Detached);
        let msg = e.to_string();
        assert!(
            msg.contains("HEAD is detached") && msg.contains("switch"),
            "{msg}"
        );
        git(dir.path(), &["checkout", "-q", "main"]);
        assert_eq!(check_at_start(dir.path()), Ok(()));
    }

    /// HEAD at a tag, at a missing branch, or in a loop of symbolic refs:
    /// each refused with what is wrong and the way back (round 34: a loop
    /// was refused without saying so, the others only at the commit).
    #[test]
    fn head_off_every_branch_is_named() {
        let dir = repo_with_two_commits();
        let cases: [(&[&str], Why); 3] = [
            (
                &["symbolic-ref", "HEAD", "refs/tags/v1"],
                Why::NotBranch("refs/tags/v1".into()),
            ),
            (
                &["symbolic-ref", "HEAD", "refs/heads/mian"],
                Why::MissingBranch("refs/heads/mian".into()),
            ),
            (&["symbolic-ref", "HEAD", "refs/heads/loop"], Why::Chain),
        ];
        git(
            dir.path(),
            &["symbolic-ref", "refs/heads/loop", "refs/heads/loop2"],
        );
        git(
            dir.path(),
            &["symbolic-ref", "refs/heads/loop2", "refs/heads/loop"],
        );
        for (cmd, want) in cases {
            git(dir.path(), cmd);
            let e = check_at_start(dir.path()).expect_err("off every branch");
            assert_eq!(e.why, want);
            let msg = e.to_string();
            assert!(msg.contains("switch BRANCH"), "{msg}");
            if want == Why::Chain {
                assert!(msg.contains("loop"), "{msg}");
            }
        }
        // The reflog expired and every branch gone, a tag left: still a
        // repository with a history, not a new one.
        let tagged = repo_with_two_commits();
        git(tagged.path(), &["tag", "v1"]);
        git(tagged.path(), &["update-ref", "-d", "refs/heads/main"]);
        git(
            tagged.path(),
            &["reflog", "expire", "--expire=now", "--all"],
        );
        let e = check_at_start(tagged.path()).expect_err("a tag holds the history");
        assert_eq!(e.why, Why::MissingBranch("refs/heads/main".into()));
        // Every ref gone and the reflog expired: the commits left dangling
        // still make it a repository with a history.
        let bare = repo_with_two_commits();
        git(bare.path(), &["update-ref", "-d", "refs/heads/main"]);
        git(bare.path(), &["reflog", "expire", "--expire=now", "--all"]);
        let _ = std::fs::remove_file(bare.path().join(".git/logs/HEAD"));
        let e = check_at_start(bare.path()).expect_err("dangling commits are a history");
        assert_eq!(e.why, Why::MissingBranch("refs/heads/main".into()));
        // A new repository with files added but nothing committed is new.
        let added = tempfile::tempdir().expect("tempdir");
        git(added.path(), &["init", "-q", "-b", "main"]);
        std::fs::write(added.path().join("a.zone"), "one\n").expect("write");
        git(added.path(), &["add", "a.zone"]);
        assert_eq!(check_at_start(added.path()), Ok(()));
        // Four links from HEAD to the branch, as git follows; five are refused.
        for (i, to) in ["a2", "a3", "a4", "a5", "main"].iter().enumerate() {
            git(
                dir.path(),
                &[
                    "symbolic-ref",
                    &format!("refs/heads/a{}", i + 1),
                    &format!("refs/heads/{to}"),
                ],
            );
        }
        git(dir.path(), &["symbolic-ref", "HEAD", "refs/heads/a3"]);
        assert_eq!(
            check_at_start(dir.path()),
            Ok(()),
            "HEAD -> a3 .. a5 -> main: 4 links"
        );
        git(dir.path(), &["symbolic-ref", "HEAD", "refs/heads/a2"]);
        let e = check_at_start(dir.path()).expect_err("5 links");
        assert_eq!(e.why, Why::Chain);
        // An alias of main is main.
        git(
            dir.path(),
            &["symbolic-ref", "refs/heads/alias", "refs/heads/main"],
        );
        git(dir.path(), &["symbolic-ref", "HEAD", "refs/heads/alias"]);
        assert_eq!(check_at_start(dir.path()), Ok(()));
        let repo = Repository::open(dir.path()).expect("open");
        assert_eq!(head_branch(&repo).as_deref(), Ok("refs/heads/main"));
    }

    #[test]
    fn a_merge_in_progress_is_named_with_the_way_out() {
        let dir = repo_with_two_commits();
        git(dir.path(), &["checkout", "-q", "-b", "side", "HEAD~1"]);
        std::fs::write(dir.path().join("a.zone"), "three\n").expect("write");
        git(dir.path(), &["commit", "-qam", "three"]);
        // Conflicts: the merge stays in progress.
        let out = Command::new("git")
            .arg("-C")
            .arg(dir.path())
            .args(["-c", "user.name=t", "-c", "user.email=t@t", "merge", "main"])
            .output()
            .expect("git runs");
        assert!(!out.status.success(), "the merge should conflict");
        let e = check_at_start(dir.path()).expect_err("merging");
        assert_eq!(e.why, Why::InProgress("merge"));
        assert!(e.to_string().contains("merge --abort"), "{e}");
        git(dir.path(), &["merge", "--abort"]);
        assert_eq!(check_at_start(dir.path()), Ok(()));
    }
}
