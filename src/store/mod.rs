//! The one write path. Every writer (RFC 2136 UPDATE, the REST API, expiry)
//! builds a [`WriteRequest`] and hands it to [`Store::write`]; no writer
//! touches a zone file itself.
//!
//! # Design
//!
//! ```text
//! write(req)
//!   per-zone tokio mutex (queues writers in this process)
//!   └─ blocking thread:
//!        flock .<file>.lock          (other processes, cooperating scripts)
//!        recheck file identity       (mtime, size, inode) vs the snapshot;
//!          changed? reload it, and compute again from the new content
//!        compute(zone) -> ChangeSet  (prerequisites included; empty => done)
//!        serial = policy.next(old, now)
//!        Document::apply             (minimal diff: changed RR lines + serial)
//!        Zone::build                 (the result must still be a valid zone)
//!        write each changed file to a temp file beside it, fsync; then
//!          under the state guard: recheck, rename, fsync dir, publish the
//!          new snapshot with the temp files' identities (the watcher sees
//!          its own write as unchanged and does not reload it); a write that
//!          hit the old file in the instant before the rename is put back
//!          and the change computed again on top of it
//!        NOTIFY hook                 (queued to the notifier, not awaited)
//!        git commit of that file     (time-limited; a failure is logged,
//!                                     the write stands: the file is durable)
//! ```
//!
//! Invariant 1 of the design (an acknowledged write is durable) holds
//! because `write` returns only after the rename and the directory fsync.

mod audit;
mod fsio;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::{DateTime, Utc};
use tracing::{error, info, warn};

use crate::config::Config;
use crate::git::{self, Identity};
use crate::loader::{self, Loaded, ZoneSource};
use crate::rr::{ChangeSet, Name};
use crate::serial::Policy;
use crate::server::State;
use crate::update::Rcode;
use crate::zone::Zone;

pub use audit::{Provenance, rr_line};

/// Computes the change from a zone snapshot: re-run by the store when the
/// file changed under it (prerequisites included), so nobody's edit is lost.
pub type Compute = Box<dyn Fn(&Zone) -> Result<ChangeSet, Rcode> + Send + Sync>;

/// One write, from one writer.
pub struct WriteRequest {
    /// The zone's origin.
    pub zone: Name,
    /// Who asks: the TSIG key or REST token name; the git author.
    pub actor: String,
    /// From where: the client's address and port.
    pub client: SocketAddr,
    /// Which writer: "rfc2136", "rest", "expiry".
    pub via: &'static str,
    pub compute: Compute,
}

/// What a successful write did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum WriteOutcome {
    /// The change set was empty: nothing written, no serial bump, no commit.
    Unchanged,
    /// Written to disk (durable), published, and committed unless git failed.
    Written {
        old_serial: u32,
        new_serial: u32,
        /// The commit id, or `None` when git failed (logged at ERROR).
        commit: Option<String>,
    },
}

/// Why a write did not happen. Nothing was changed in any of these cases.
#[derive(Debug, thiserror::Error)]
pub enum WriteError {
    /// The request's own outcome (prerequisite failed, FORMERR, ...).
    #[error("rejected with rcode {0:?}")]
    Rejected(Rcode),
    /// No such zone is served (or its file is broken and not served).
    #[error("zone {0} is not served")]
    NoZone(Name),
    /// The result would not be a valid zone (the message says why).
    #[error("the change would leave the zone invalid: {0}")]
    Invalid(String),
    /// The file kept changing under us, or the disk write failed.
    #[error("{0}")]
    Failed(String),
}

impl WriteError {
    /// The DNS rcode to answer with (RFC 2136 §2.2).
    pub fn rcode(&self) -> Rcode {
        match self {
            WriteError::Rejected(r) => *r,
            WriteError::NoZone(_) => Rcode::NotAuth,
            WriteError::Invalid(_) => Rcode::Refused,
            WriteError::Failed(_) => Rcode::ServFail,
        }
    }
}

/// How the store stamps and records writes.
#[derive(Clone, Debug)]
pub struct Settings {
    pub serial_policy: Policy,
    /// The committer of every commit.
    pub committer: Identity,
    /// Domain part of authors' addresses: `acme-key <zonewright@HOST>`.
    pub host: String,
    pub commit_timeout: Duration,
    /// The clock, passed in so tests control serials.
    pub now: fn() -> DateTime<Utc>,
}

impl Default for Settings {
    fn default() -> Settings {
        let host = crate::config::hostname();
        Settings {
            serial_policy: Policy::CalVer,
            committer: Identity {
                name: "zonewright".into(),
                email: format!("zonewright@{host}"),
            },
            host,
            commit_timeout: Duration::from_secs(10),
            now: Utc::now,
        }
    }
}

impl Settings {
    /// The settings `[serial]` and `[git]` ask for.
    pub fn from_config(config: &Config) -> Settings {
        Settings {
            serial_policy: config.serial_policy,
            committer: Identity {
                name: config.git.name.clone(),
                email: config.git.email.clone(),
            },
            commit_timeout: config.git.commit_timeout,
            ..Settings::default()
        }
    }
}

/// How often the store recomputes a change when the file keeps changing
/// under it before giving up with SERVFAIL.
const MAX_ATTEMPTS: usize = 4;

/// The write path over the served state.
pub struct Store {
    inner: Arc<Inner>,
    locks: Mutex<std::collections::HashMap<Name, Arc<tokio::sync::Mutex<()>>>>,
}

struct Inner {
    state: Arc<State>,
    settings: Settings,
    /// `None` when the zones directory could not be made a repository:
    /// writes still land on disk, and each logs why there is no commit.
    repo: Arc<Mutex<Option<git2::Repository>>>,
    zones_dir: PathBuf,
    /// Told of every serial change this store publishes (RFC 1996 NOTIFY).
    notifier: std::sync::OnceLock<crate::server::notify::Notifier>,
}

impl Store {
    /// A store with the settings of the state's config.
    pub fn new(state: Arc<State>) -> Store {
        let settings = Settings::from_config(state.config());
        Store::with_settings(state, settings)
    }

    /// Opens (or initialises) the zones directory's git repository. A
    /// failure is logged: the server still serves and writes.
    pub fn with_settings(state: Arc<State>, settings: Settings) -> Store {
        let zones_dir = state.config().zones_dir.clone();
        let repo = match git::open_or_init(&zones_dir, &settings.committer) {
            Ok(r) => Some(r),
            Err(e) => {
                error!("{e}; writes will not be committed to git");
                None
            }
        };
        Store {
            inner: Arc::new(Inner {
                state,
                settings,
                repo: Arc::new(Mutex::new(repo)),
                zones_dir,
                notifier: std::sync::OnceLock::new(),
            }),
            locks: Mutex::new(Default::default()),
        }
    }

    pub fn state(&self) -> &Arc<State> {
        &self.inner.state
    }

    /// Sends NOTIFYs through `notifier` after every write that changes a
    /// serial (the server sets it when it starts). Only the first call
    /// takes effect.
    pub fn set_notifier(&self, notifier: crate::server::notify::Notifier) {
        let _ = self.inner.notifier.set(notifier);
    }

    fn zone_lock(&self, zone: &Name) -> Arc<tokio::sync::Mutex<()>> {
        let mut locks = self.locks.lock().unwrap_or_else(|p| p.into_inner());
        locks.entry(zone.clone()).or_default().clone()
    }

    /// Applies one write: lock, recheck, compute, serial bump, minimal-diff
    /// edit, atomic write, publish, git commit. Returns once the change is
    /// durable on disk.
    pub async fn write(&self, req: WriteRequest) -> Result<WriteOutcome, WriteError> {
        let lock = self.zone_lock(&req.zone);
        let _queued = lock.lock().await;
        let inner = self.inner.clone();
        tokio::task::spawn_blocking(move || inner.write(&req))
            .await
            .unwrap_or_else(|_| {
                Err(WriteError::Failed(
                    "internal error in the write path".into(),
                ))
            })
    }

    /// Commits every served zone file that differs from git's HEAD as an
    /// `external change` (edits made while the server was down, commits
    /// that failed). Blocking; call at start-up.
    pub fn commit_external_changes(&self) -> usize {
        self.inner.commit_external_changes()
    }
}

impl Inner {
    /// The served version of `zone` and where it comes from.
    fn current(&self, zone: &Name) -> Result<(ZoneSource, Loaded), WriteError> {
        let guard = self.state.lock();
        let slot = guard
            .get(zone)
            .ok_or_else(|| WriteError::NoZone(zone.clone()))?;
        let good = slot
            .good
            .clone()
            .ok_or_else(|| WriteError::NoZone(zone.clone()))?;
        Ok((slot.source.clone(), good))
    }

    /// The served version, reloaded first if the files changed on disk.
    fn fresh(&self, zone: &Name) -> Result<(ZoneSource, Loaded), WriteError> {
        let (source, loaded) = self.current(zone)?;
        if loader::unchanged(&loaded.files) {
            return Ok((source, loaded));
        }
        info!(zone = %zone, "zone file changed on disk; reloading before the write");
        match loader::load_zone_guarded(&source.origin, &source.path) {
            Ok(l) => {
                self.state.lock().set(source.clone(), Ok(l.clone()));
                Ok((source, l))
            }
            Err(f) => {
                let first = f
                    .problems
                    .first()
                    .map(ToString::to_string)
                    .unwrap_or_default();
                Err(WriteError::Failed(format!(
                    "the zone file on disk has errors, refusing to write over it: {first}"
                )))
            }
        }
    }

    fn write(&self, req: &WriteRequest) -> Result<WriteOutcome, WriteError> {
        let (source, _) = self.current(&req.zone)?;
        let _flock = fsio::ZoneFileLock::acquire(&source.path).map_err(|e| {
            WriteError::Failed(format!("cannot lock {}: {e}", source.path.display()))
        })?;
        for _ in 0..MAX_ATTEMPTS {
            let (source, loaded) = self.fresh(&req.zone)?;
            let mut changes = (req.compute)(&loaded.zone).map_err(WriteError::Rejected)?;
            if changes.is_empty() {
                return Ok(WriteOutcome::Unchanged);
            }
            let old = loaded.zone.serial();
            let new = self.settings.serial_policy.next(old, (self.settings.now)());
            changes.serial = Some(new);
            let (document, rendered) = loaded
                .document
                .apply(&changes)
                .map_err(|e| WriteError::Invalid(e.message))?;
            let records = document
                .records()
                .map(|(rr, l)| (rr.clone(), l.clone()))
                .collect();
            let (zone, warnings) = Zone::build(source.origin.clone(), records)
                .map_err(|errs| WriteError::Invalid(first_message(&errs)))?;
            // Write and fsync the new versions beside the old ones first...
            let mut prepared = Vec::with_capacity(rendered.files.len());
            for (file, text) in &rendered.files {
                let p = fsio::Prepared::write(Path::new(file), text)
                    .map_err(|e| WriteError::Failed(format!("cannot write {file}: {e}")))?;
                prepared.push(p);
            }
            let soa = zone.soa().clone();
            {
                // ...then, under the state guard (the reloader cannot
                // interleave), recheck, rename, and publish.
                let mut guard = self.state.lock();
                if !loader::unchanged(&loaded.files) {
                    continue;
                }
                let fail = |e: std::io::Error| {
                    WriteError::Failed(format!("cannot replace the zone file: {e}"))
                };
                // Hold the files we replace open: see `fsio::Replaced`.
                let mut replaced = Vec::with_capacity(prepared.len());
                for p in &prepared {
                    let r = fsio::Replaced::open(p.path()).map_err(fail)?;
                    let expected = loaded.files.iter().find(|(f, _)| f == p.path());
                    if expected.is_some_and(|(_, id)| *id != r.id()) {
                        break;
                    }
                    replaced.push(r);
                }
                if replaced.len() != prepared.len() {
                    continue;
                }
                let mut installed = Vec::with_capacity(prepared.len());
                for p in prepared {
                    installed.push(p.install().map_err(fail)?);
                }
                // Someone wrote to a file in the instant before our rename:
                // put their version back (it holds their change, not ours)
                // and compute the change again on top of it.
                let mut raced = false;
                for ((path, _), old) in installed.iter().zip(&replaced) {
                    if old.changed().map_err(fail)? {
                        let theirs = old.text().map_err(fail)?;
                        fsio::replace_atomically(path, &theirs).map_err(fail)?;
                        warn!(
                            file = %path.display(),
                            "zone file written to during our write; redoing the change on top of it"
                        );
                        raced = true;
                    }
                }
                if raced {
                    continue;
                }
                // The identities come from the temp files' own handles: a
                // write after the rename shows up as a change.
                let files = loaded
                    .files
                    .iter()
                    .map(|(p, id)| {
                        let new = installed.iter().find(|(q, _)| q == p).map(|(_, id)| *id);
                        (p.clone(), new.unwrap_or(*id))
                    })
                    .collect();
                let published = Loaded {
                    document: Arc::new(document),
                    zone: Arc::new(zone),
                    files,
                    warnings,
                };
                guard.set(source.clone(), Ok(published));
            }
            // NOTIFY hook (RFC 1996 §3.1: "When a master has updated one or
            // more RRs in which slave servers may be interested"):
            // queued for the notifier, never awaited by this write.
            if let Some(n) = self.notifier.get() {
                n.zone_changed(&req.zone, new, &soa);
            }
            let who = Provenance {
                actor: &req.actor,
                client: Some(req.client),
                via: req.via,
            };
            let message = audit::message(&req.zone, &changes, old, new, &who);
            let files: Vec<PathBuf> = rendered
                .files
                .iter()
                .map(|(f, _)| PathBuf::from(f))
                .collect();
            let commit = self.commit(&files, &req.actor, &message.to_string());
            info!(
                zone = %req.zone, actor = %req.actor, client = %req.client, via = req.via,
                added = changes.add.len(), removed = changes.remove.len(),
                serial = %format!("{old} -> {new}"), "zone written"
            );
            return Ok(WriteOutcome::Written {
                old_serial: old,
                new_serial: new,
                commit,
            });
        }
        Err(WriteError::Failed(format!(
            "{} kept changing on disk during the write; nothing was applied",
            source.path.display()
        )))
    }

    /// Commits `files` on a helper thread, waiting at most the configured
    /// time. A failure never undoes the write: it is logged with the
    /// command that records the file by hand, and the next commit of the
    /// file picks the change up anyway.
    fn commit(&self, files: &[PathBuf], actor: &str, message: &str) -> Option<String> {
        let author = Identity {
            name: actor.to_owned(),
            email: format!("zonewright@{}", self.settings.host),
        };
        let committer = self.settings.committer.clone();
        let repo = self.repo.clone();
        let (files2, message2) = (files.to_vec(), message.to_owned());
        let (tx, rx) = mpsc::channel();
        let spawned = std::thread::Builder::new()
            .name("git-commit".into())
            .spawn(move || {
                let guard = repo.lock().unwrap_or_else(|p| p.into_inner());
                let result = match guard.as_ref() {
                    None => Err("the zones directory is not a git repository".to_owned()),
                    Some(r) => commit_all(r, &files2, &author, &committer, &message2),
                };
                let _ = tx.send(result);
            });
        let outcome = match spawned {
            Ok(_) => rx
                .recv_timeout(self.settings.commit_timeout)
                .unwrap_or_else(|_| Err("git commit timed out".to_owned())),
            Err(e) => Err(format!("cannot start the commit thread: {e}")),
        };
        match outcome {
            Ok(oid) => oid,
            Err(e) => {
                let list = files
                    .iter()
                    .map(|f| f.display().to_string())
                    .collect::<Vec<_>>()
                    .join(" ");
                error!(
                    "git commit failed: {e}; the change is on disk but not in git. Record it with: \
                     git -C {} add {list} && git -C {} commit -m 'record change' \
                     (the next write to this zone commits it too)",
                    self.zones_dir.display(),
                    self.zones_dir.display()
                );
                None
            }
        }
    }

    fn commit_external_changes(&self) -> usize {
        let zones: Vec<(Name, PathBuf, u32)> = {
            let guard = self.state.lock();
            guard
                .iter()
                .filter_map(|(n, s)| {
                    s.good
                        .as_ref()
                        .map(|g| (n.clone(), s.source.path.clone(), g.zone.serial()))
                })
                .collect()
        };
        let guard = self.repo.lock().unwrap_or_else(|p| p.into_inner());
        let Some(repo) = guard.as_ref() else {
            return 0;
        };
        let mut committed = 0;
        for (zone, path, serial) in zones {
            match git::is_dirty(repo, &path) {
                Ok(false) => {}
                Ok(true) => {
                    let who = Provenance {
                        actor: "external change",
                        client: None,
                        via: "external",
                    };
                    let msg = audit::external_message(&zone, serial, &who).to_string();
                    let me = self.settings.committer.clone();
                    match git::commit_file(repo, &path, &me, &me, &msg) {
                        Ok(Some(_)) => {
                            committed += 1;
                            info!(zone = %zone, file = %path.display(), "committed an external change");
                        }
                        Ok(None) => {}
                        Err(e) => error!(zone = %zone, "cannot commit external change: {e}"),
                    }
                }
                Err(e) => warn!(zone = %zone, "cannot check git status: {e}"),
            }
        }
        committed
    }
}

/// Commits each file in turn (one zone is normally one file; includes
/// changed by the same write are recorded in the same message).
fn commit_all(
    repo: &git2::Repository,
    files: &[PathBuf],
    author: &Identity,
    committer: &Identity,
    message: &str,
) -> Result<Option<String>, String> {
    let mut last = None;
    for f in files {
        if let Some(oid) =
            git::commit_file(repo, f, author, committer, message).map_err(|e| e.to_string())?
        {
            last = Some(oid.to_string());
        }
    }
    Ok(last)
}

fn first_message(errs: &[crate::zonefile::ZoneError]) -> String {
    errs.first()
        .map(|e| e.message.clone())
        .unwrap_or_else(|| "invalid zone".into())
}

#[cfg(test)]
mod tests;
