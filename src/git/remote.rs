//! Fetch and push: the `git` command, run with a time limit.
//!
//! Fetching and pushing go through the `git` program rather than libgit2:
//! the user's own git setup (ssh keys, `~/.ssh/config`, `core.sshCommand`,
//! credential helpers, `insteadOf` URLs, proxies) then works exactly as in
//! their shell, and no ssh or https stack is linked in. Everything else
//! (reading trees, the merge base, the merge commit) stays in libgit2.
//!
//! Each command runs in its own process group with stdin closed,
//! `GIT_TERMINAL_PROMPT=0` (a missing credential fails instead of asking)
//! and automatic `gc`/maintenance off (a repack must not start beside the
//! committer); one that outlives its time limit is killed with its group
//! (ssh included).

use std::io::Read;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use git2::{Oid, Repository};

/// Bytes kept of a command's stdout and of its stderr each.
const OUTPUT_LIMIT: u64 = 64 * 1024;

/// A branch of a remote of the zones repository.
#[derive(Clone, Debug)]
pub struct Remote {
    /// The repository's work tree (`zones_dir`).
    pub workdir: PathBuf,
    /// The remote's name (`origin`), as `git remote` lists it.
    pub name: String,
    /// The branch on the remote (`main`).
    pub branch: String,
    /// Most time one fetch or push may take.
    pub timeout: Duration,
    /// Set at shutdown: a fetch or push under way is stopped at once
    /// (its process group killed) instead of running out its timeout.
    pub cancel: Arc<AtomicBool>,
}

/// How a push went.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Pushed {
    /// The remote's branch is now the commit pushed.
    Done,
    /// The remote moved on (not a fast-forward): fetch, merge, push again.
    Rejected(String),
}

impl Remote {
    /// The remote-tracking ref `refs/remotes/<remote>/<branch>`.
    pub fn tracking_ref(&self) -> String {
        format!("refs/remotes/{}/{}", self.name, self.branch)
    }

    /// `origin/main`, for messages.
    pub fn label(&self) -> String {
        format!("{}/{}", self.name, self.branch)
    }

    /// The remote's URL, or why the remote cannot be used (checked at
    /// start-up: a misspelt remote is a config error, not a retry loop).
    pub fn url(&self, repo: &Repository) -> Result<String, String> {
        let remote = repo.find_remote(&self.name).map_err(|_| {
            format!(
                "the zones repository {} has no remote {:?} (git remote add {} URL)",
                self.workdir.display(),
                self.name,
                self.name
            )
        })?;
        remote
            .url()
            .map(str::to_owned)
            .map_err(|_| format!("remote {:?} has no URL git can read", self.name))
    }

    /// Fetches the branch into its remote-tracking ref; returns the commit
    /// it names, or `None` when the remote has no such branch yet (an
    /// empty repository: the first push creates it).
    pub fn fetch(&self) -> Result<Option<Oid>, String> {
        let refspec = format!("+refs/heads/{}:{}", self.branch, self.tracking_ref());
        let out = self.git(&["fetch", "--quiet", "--no-tags", "--", &self.name, &refspec])?;
        if !out.ok {
            if out.stderr.contains("couldn't find remote ref") {
                return Ok(None);
            }
            return Err(format!("git fetch {}: {}", self.label(), out.reason()));
        }
        let repo = Repository::open(&self.workdir).map_err(|e| e.message().to_owned())?;
        let id = repo
            .refname_to_id(&self.tracking_ref())
            .map_err(|e| format!("{}: {}", self.tracking_ref(), e.message()))?;
        Ok(Some(id))
    }

    /// Pushes `commit` to the branch (a fast-forward only) and moves the
    /// remote-tracking ref to it.
    pub fn push(&self, commit: Oid) -> Result<Pushed, String> {
        let refspec = format!("{commit}:refs/heads/{}", self.branch);
        let out = self.git(&["push", "--porcelain", "--", &self.name, &refspec])?;
        if !out.ok {
            // `--porcelain`: a line `!<TAB>from:to<TAB>[rejected] (reason)`.
            let rejected = out
                .stdout
                .lines()
                .find(|l| l.starts_with('!'))
                .map(|l| l.rsplit('\t').next().unwrap_or(l).trim().to_owned());
            return match rejected {
                Some(why) if why.contains("fetch first") || why.contains("non-fast-forward") => {
                    Ok(Pushed::Rejected(why))
                }
                Some(why) => Err(format!("git push {}: {why}", self.label())),
                None => Err(format!("git push {}: {}", self.label(), out.reason())),
            };
        }
        if let Ok(repo) = Repository::open(&self.workdir) {
            let _ = repo.reference(&self.tracking_ref(), commit, true, "zonewright: pushed");
        }
        Ok(Pushed::Done)
    }

    /// Runs `git -C workdir ARGS` within the time limit.
    fn git(&self, args: &[&str]) -> Result<Output, String> {
        let mut cmd = Command::new("git");
        cmd.arg("-C")
            .arg(&self.workdir)
            .args(["-c", "gc.auto=0", "-c", "maintenance.auto=false"])
            .args(args)
            .env("GIT_TERMINAL_PROMPT", "0")
            .env("LC_ALL", "C")
            .stdin(Stdio::null());
        run(cmd, self.timeout, &self.cancel)
    }
}

/// What a finished command printed.
struct Output {
    ok: bool,
    stdout: String,
    stderr: String,
}

impl Output {
    /// The last lines of stderr (git's reason), or the exit status.
    fn reason(&self) -> String {
        let lines: Vec<&str> = self
            .stderr
            .lines()
            .map(str::trim)
            .filter(|l| !l.is_empty())
            .collect();
        let tail = lines[lines.len().saturating_sub(3)..].join("; ");
        if tail.is_empty() {
            "failed without a message".to_owned()
        } else {
            tail
        }
    }
}

/// Runs `cmd` in a process group of its own, reading its output (bounded)
/// on threads; past `timeout` the group is killed.
fn run(mut cmd: Command, timeout: Duration, cancel: &AtomicBool) -> Result<Output, String> {
    use std::os::unix::process::CommandExt;
    cmd.stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .process_group(0);
    let mut child = cmd
        .spawn()
        .map_err(|e| format!("cannot run git (is it installed?): {e}"))?;
    let reader = |pipe: Option<Box<dyn Read + Send>>| {
        std::thread::spawn(move || {
            let mut text = Vec::new();
            if let Some(p) = pipe {
                let mut p = p.take(OUTPUT_LIMIT);
                let _ = p.read_to_end(&mut text);
                // Drain the rest so the child never blocks on a full pipe.
                let _ = std::io::copy(&mut p.into_inner(), &mut std::io::sink());
            }
            String::from_utf8_lossy(&text).into_owned()
        })
    };
    let out = reader(
        child
            .stdout
            .take()
            .map(|p| Box::new(p) as Box<dyn Read + Send>),
    );
    let err = reader(
        child
            .stderr
            .take()
            .map(|p| Box::new(p) as Box<dyn Read + Send>),
    );
    let start = Instant::now();
    let status = loop {
        match child.try_wait() {
            Ok(Some(status)) => break Some(status),
            Ok(None) if start.elapsed() < timeout && !cancel.load(Ordering::Relaxed) => {
                std::thread::sleep(Duration::from_millis(10))
            }
            Ok(None) | Err(_) => {
                kill_group(child.id());
                let _ = child.kill();
                let _ = child.wait();
                break None;
            }
        }
    };
    let stdout = out.join().unwrap_or_default();
    let stderr = err.join().unwrap_or_default();
    match status {
        Some(s) => Ok(Output {
            ok: s.success(),
            stdout,
            stderr,
        }),
        None if cancel.load(Ordering::Relaxed) => {
            Err("stopped: the server is shutting down".to_owned())
        }
        None => Err(format!("git did not finish within {timeout:?}; stopped")),
    }
}

/// SIGKILL to the process group `pgid` (the command and what it started).
fn kill_group(pgid: u32) {
    let Some(pid) = i32::try_from(pgid)
        .ok()
        .and_then(rustix::process::Pid::from_raw)
    else {
        return;
    };
    let _ = rustix::process::kill_process_group(pid, rustix::process::Signal::KILL);
}
