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
//!        recheck file identity       (mtime, size, inode, ctime) vs the snapshot;
//!          changed? reload it, and compute again from the new content
//!        compute(zone) -> ChangeSet  (prerequisites included; empty => done)
//!        serial = policy.next(old, now)
//!        Document::apply             (minimal diff: changed RR lines + serial)
//!        Zone::build                 (the result must still be a valid zone)
//!        write each changed file to a temp file beside it, fsync; then
//!          under the state guard: recheck, rename, publish the new
//!          snapshot with the temp files' identities (the watcher sees
//!          its own write as unchanged and does not reload it), and take
//!          its place in the commit order (`committer::Ticket`); a write
//!          that hit the old file in the instant before the rename is put
//!          back and the change computed again on top of it; the old files
//!          are then held open for 10 s, and a later write into one of
//!          them is kept aside and named in an ERROR ([`late`])
//!        fsync the folder            (outside the guard, shared by the
//!                                     writes to its other zones)
//!        [git] acknowledge = "log": append the write-log record, fsync
//!                                    (see [`writelog`]; answered now)
//!        submit the commit           (the text written, to the committer,
//!                                     at the place taken when published)
//!        NOTIFY hook                 (sent once that commit is made, so a
//!                                     secondary's IXFR finds it in git;
//!                                     not awaited)
//!   turn released: the next batch is written while this one commits
//!   answer each write once its commit is made; a commit git refuses is
//!     answered as failed, and the zone is rolled back first
//! ```
//!
//! Invariant 1 of the design (an acknowledged write is durable and in git
//! under its author, or in a durable record that start-up turns into that
//! commit) holds because `write` returns success only after the rename,
//! the directory fsync and the commit, or, with the write log, the
//! record's fsync: start-up commits the records git lacks before anything
//! else ([`writelog`]). See [`committer`] for the pipeline.
//!
//! # When git fails
//!
//! ```text
//! commit of batch N fails      committer: N Failed, zone blocked
//!   N's writers                 trigger a rollback (an empty write of
//!                               ROLLBACK through the zone's turn), then
//!                               answer SERVFAIL / REST 5xx
//! next turn of the zone, before its own batch (write_many):
//!   blocked?  barrier: every job queued earlier has its outcome
//!             undo the blocked changes, newest first, on the zone as it
//!             is (only records still there / still missing), new serial,
//!             written like any batch; its job (via rollback) lifts the
//!             block. The undo cannot be written (full disk)? this batch
//!             fails too and the next turn tries again.
//! ```
//!
//! The zones directory is no git repository at all: every write is
//! refused (SERVFAIL) before anything is written.

pub mod audit;
pub mod committer;
pub mod external;
mod fsio;
mod late;
pub mod offline;
pub mod recent;
pub mod remote;
pub mod writelog;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use tracing::{debug, error, info, warn};

use crate::config::Config;
use crate::git::{self, Identity};
use crate::loader::{self, Loaded, ZoneSource};
use crate::metrics::Phase;
use crate::rcode::Rcode;
use crate::rr::{ChangeSet, Name};
use crate::serial::{Policy, Serial};
use crate::served::State;
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
    /// Written to disk (durable), published, and committed.
    Written {
        old_serial: u32,
        new_serial: u32,
        /// The commit id (`None`: HEAD already held exactly this version,
        /// e.g. a commit made by hand of the same text; or, with `logged`,
        /// not made yet).
        commit: Option<String>,
        /// Answered from the write log (`[git] acknowledge = "log"`): the
        /// commit is made right after the answer.
        logged: bool,
    },
}

/// Why a write did not happen. Nothing was changed in any of these cases.
#[derive(Clone, Debug, thiserror::Error)]
pub enum WriteError {
    /// The request's own outcome (prerequisite failed, FORMERR, ...).
    #[error("rejected: {reason} ({code})", reason = rejection_reason(*.0), code = .0)]
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

/// What an UPDATE RCODE says about the request, in words (RFC 2136 §2.2).
fn rejection_reason(rcode: Rcode) -> &'static str {
    match rcode {
        Rcode::FormErr => "the request is malformed",
        Rcode::NxDomain => "a name the prerequisites say must exist does not",
        Rcode::YxDomain => "a name the prerequisites say must not exist does",
        Rcode::NxRrset => "an RRset the prerequisites say must exist does not",
        Rcode::YxRrset => "an RRset the prerequisites say must not exist does",
        Rcode::NotAuth => "this server is not authoritative for the zone",
        Rcode::NotZone => "a name in the request is outside the zone",
        Rcode::Refused => "refused by policy (grants, limits, or a record the server keeps)",
        Rcode::ServFail => "the server could not carry it out",
        _ => "refused",
    }
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
    /// `[git] rebase_window`: how long a write is re-applied to an edit
    /// saved over the file that lacks it (see [`recent`]).
    pub rebase_window: Duration,
    /// `[serial] external`: raise the serial of an edit made outside
    /// zonewright when it is not above the served one.
    pub raise_external_serial: bool,
    /// `[git] acknowledge`: answer after the commit, or after the write
    /// log's record (see [`writelog`]).
    pub acknowledge: crate::config::Acknowledge,
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
            rebase_window: Duration::from_secs(15 * 60),
            raise_external_serial: true,
            acknowledge: crate::config::Acknowledge::Commit,
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
            rebase_window: config.git.rebase_window,
            raise_external_serial: config.raise_external_serial,
            acknowledge: config.git.acknowledge,
            ..Settings::default()
        }
    }
}

/// At most this many commits of a zone are read back from git when its
/// first edit after a start needs the rebase window (each costs a parse
/// of that version of the zone; the start-up waits for it).
const SEED_COMMITS: usize = 200;

/// More of a zone's commits are read back while their versions total
/// under this many bytes (a small zone's whole window; 64 MB is about
/// 20,000 versions of a zone of 100 records).
const SEED_BYTES: usize = 64 << 20;

/// At most this many commits of the whole repository are walked, once,
/// for the rebase window's history after a start (a tree diff each): a
/// window of 15 minutes holds far fewer unless writes stream at more than
/// 10 a second; a WARN says when the walk stops short of the window.
const HISTORY_COMMITS: usize = 10_000;

/// How often the store recomputes a change when the file keeps changing
/// under it before giving up with SERVFAIL.
const MAX_ATTEMPTS: usize = 4;

/// The write path over the served state.
pub struct Store {
    inner: Arc<Inner>,
    queues: Mutex<std::collections::HashMap<Name, Arc<ZoneQueue>>>,
    /// The git sync task's handle, with `[git] remote` (see [`remote`]).
    sync: std::sync::OnceLock<remote::SyncHandle>,
    /// Why the last pull did not merge (logged once per reason).
    pull_failure: Mutex<Vec<String>>,
}

/// `ReloadReport::gone_files` and `ReloadReport::links` not committed yet.
#[derive(Default)]
struct HeldPaths {
    gone: Vec<(Name, PathBuf)>,
    links: Vec<(Name, PathBuf)>,
}

/// Most zone files [`HeldPaths`] keeps (the oldest are dropped; their
/// changes stay for `git status` and the next start).
const MAX_HELD_PATHS: usize = 10_000;

/// Most writes one group commit takes.
const MAX_BATCH: usize = 64;

/// One queued write and where its answer goes.
struct Queued {
    req: WriteRequest,
    reply: tokio::sync::oneshot::Sender<Reply>,
}

/// What the writer tells a queued write.
#[derive(Clone)]
enum Reply {
    /// The final answer.
    Now(Result<WriteOutcome, WriteError>),
    /// Written, durable and published; the answer follows the batch's commit.
    AfterCommit {
        old_serial: u32,
        new_serial: u32,
        commit: committer::Pending,
    },
}

/// The writes waiting for one zone, and whose turn it is.
#[derive(Default)]
struct ZoneQueue {
    pending: Mutex<std::collections::VecDeque<Queued>>,
    turn: tokio::sync::Mutex<()>,
}

impl ZoneQueue {
    fn push(&self, q: Queued) {
        self.pending
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push_back(q);
    }

    /// The writes at the head of the queue from the same actor and writer
    /// (one commit has one author), in arrival order.
    fn take_batch(&self) -> Vec<Queued> {
        let mut pending = self.pending.lock().unwrap_or_else(|p| p.into_inner());
        let mut batch: Vec<Queued> = Vec::new();
        while batch.len() < MAX_BATCH {
            let same = match (batch.first(), pending.front()) {
                (_, None) => false,
                (None, Some(_)) => true,
                (Some(a), Some(b)) => a.req.actor == b.req.actor && a.req.via == b.req.via,
            };
            match same.then(|| pending.pop_front()).flatten() {
                Some(q) => batch.push(q),
                None => break,
            }
        }
        batch
    }
}

struct Inner {
    state: Arc<State>,
    settings: Settings,
    /// `None` when the zones directory could not be made a repository:
    /// writes still land on disk, and each logs why there is no commit.
    repo: Arc<Mutex<Option<git2::Repository>>>,
    /// Told of every serial change this store publishes (RFC 1996 NOTIFY).
    notifier: std::sync::OnceLock<crate::notify_out::Notifier>,
    /// Records each written batch in git, in order, off the writer's turn
    /// (the state's: external changes the reloader finds queue there too).
    committer: Arc<committer::Committer>,
    /// The writes of the last `rebase_window`, per zone.
    recent: Arc<recent::Recent>,
    /// Per zone, the files of the last edit found conflicting with the
    /// writes it lacked (logged once).
    conflicts: Mutex<std::collections::HashMap<Name, loader::FileIds>>,
    /// When this store started (Unix seconds), moved on once the write
    /// log's records are committed at start-up (they are not recorded
    /// as writes otherwise): the writes before it are read back from git
    /// when an edit first needs them.
    started: std::sync::atomic::AtomicI64,
    /// The history of the rebase window before `started`, read from git
    /// when an edit first needs it, once for every zone.
    history: std::sync::OnceLock<git::History>,
    /// Per zone named by a commit of that window, the file its writes went
    /// to (see [`Inner::written_to`]), read from the commits' messages
    /// alone at start-up.
    named: std::sync::OnceLock<Named>,
    /// Zones found at start-up reading, byte for byte, the version another
    /// zone's last write left in their file (`[[zone]] file` swapped in the
    /// config alone): that file, and why their writes are refused while
    /// they read it (see [`Inner::warn_other_zones_files`]).
    foreign: Mutex<std::collections::HashMap<Name, (PathBuf, String)>>,
    /// Whether the zones directory is a repository (the commits can be
    /// made); looked at without `repo`'s lock, which the committer holds
    /// for a whole commit.
    has_repo: bool,
    /// Zone files deleted or made links not committed yet: git refused
    /// (a write of the zone held meanwhile), or a write found the link
    /// first. Recorded after the next reload (see [`Store::record_paths`]).
    held_paths: Mutex<HeldPaths>,
    /// Per zone served from a file it cannot write with a serial below the
    /// one it had ([`Inner::serve_as_read`]): that higher serial, which
    /// secondaries may hold, so the next take-in raises above it (round
    /// 26: a link put back to the zone's own file served a hand edit at a
    /// serial secondaries already had).
    high_serials: Mutex<std::collections::HashMap<Name, u32>>,
    /// Zones the reloader found edited with their files' identity kept
    /// (rewritten in place, the modification time put back): the next
    /// write reads their files instead of trusting the identity (round
    /// 32: such an edit was never taken in, and the next write erased it).
    edited_in_place: Mutex<std::collections::HashSet<Name>>,
    /// The files' identities each zone last logged "changed on disk" for:
    /// a change that blocks writes (errors in the file, a file another
    /// zone reads) is named once, not again at every write it refuses.
    reported_on_disk: Mutex<std::collections::HashMap<Name, Vec<loader::FileId>>>,
    /// `[git] acknowledge = "log"`: the write log each answered write is
    /// recorded in before its answer.
    log: Option<Arc<writelog::WriteLog>>,
    /// The records a crash left in the write log (any mode), for start-up
    /// to commit under their writers.
    recover: Mutex<Option<(Arc<writelog::WriteLog>, Vec<writelog::Entry>)>>,
    /// The directory fsyncs after a write's rename, shared by the writes
    /// to zones of one folder.
    dir_syncs: fsio::DirSyncs,
    /// The files the writes replaced, watched for a while for writes of
    /// processes that had them open from before ([`late`]).
    late: Arc<late::Late>,
}

impl Store {
    /// A store with the settings of the state's config.
    pub fn new(state: Arc<State>) -> Store {
        let settings = Settings::from_config(&state.config());
        Store::with_settings(state, settings)
    }

    /// Opens (or initialises) the zones directory's git repository. A
    /// failure is logged: the server still serves and writes.
    pub fn with_settings(state: Arc<State>, settings: Settings) -> Store {
        let zones_dir = state.config().zones_dir.clone();
        let repo = match git::open_or_init(&zones_dir, &settings.committer) {
            Ok(r) => {
                // A crash (of ours or of a person's git) may have left a
                // ref or index lock that would fail every commit.
                git::locks::clear_stale(r.path());
                git::repair_index(&r);
                Some(r)
            }
            Err(e) => {
                error!("{e}; writes will not be committed to git");
                None
            }
        };
        let (log, recover) = open_write_log(repo.as_ref(), settings.acknowledge);
        let late = late::Late::new(
            state.config().server.max_zone_file_size,
            repo.as_ref().map(git2::Repository::path),
        );
        let has_repo = repo.is_some();
        let repo = Arc::new(Mutex::new(repo));
        let names = committer::Names {
            committer: settings.committer.clone(),
            host: settings.host.clone(),
            on_top: state.config().git.commit_external,
        };
        // One committer per state, so the reloader's external changes and
        // every store's writes are committed in one order.
        let thread_log = log.clone();
        let committer = state.committer_or_start(|| {
            Arc::new(committer::Committer::start(
                repo.clone(),
                zones_dir,
                names,
                thread_log,
            ))
        });
        let recent = Arc::new(recent::Recent::new(settings.rebase_window));
        // The reloader leaves an edit that needs writing (writes it lacks,
        // a serial to raise) to the store: see `Store::take_in`.
        let (check, raise) = (recent.clone(), settings.raise_external_serial);
        state.set_take_in_check(Arc::new(move |zone, served, saved| {
            needs_writing(&check, raise, zone, served, saved)
        }));
        Store {
            inner: Arc::new(Inner {
                state,
                settings,
                committer,
                repo,
                notifier: std::sync::OnceLock::new(),
                recent,
                conflicts: Mutex::default(),
                started: std::sync::atomic::AtomicI64::new(Utc::now().timestamp()),
                history: std::sync::OnceLock::new(),
                named: std::sync::OnceLock::new(),
                foreign: Mutex::default(),
                log,
                recover: Mutex::new(recover),
                has_repo,
                dir_syncs: fsio::DirSyncs::default(),
                late,
                held_paths: Mutex::default(),
                high_serials: Mutex::default(),
                edited_in_place: Mutex::default(),
                reported_on_disk: Mutex::default(),
            }),
            queues: Mutex::new(Default::default()),
            sync: std::sync::OnceLock::new(),
            pull_failure: Mutex::default(),
        }
    }

    /// The git sync task (`[git] remote`), once the server started it.
    pub fn sync(&self) -> Option<&remote::SyncHandle> {
        self.sync.get()
    }

    /// Sets the git sync task's handle; only the first call takes effect.
    pub fn set_sync(&self, handle: remote::SyncHandle) {
        let _ = self.sync.set(handle);
    }

    /// Takes in an edit made outside zonewright that the reloader left to
    /// the store (`ReloadReport::deferred`): through the zone's turn, like
    /// a write, so it is rebased on the writes it lacks and written back
    /// before any later write is computed on it.
    pub async fn take_in(&self, zone: &Name) -> Result<WriteOutcome, WriteError> {
        // The reloader compared the texts; the files may look unchanged.
        self.inner
            .edited_in_place
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(zone.clone());
        self.write(self.own_turn(zone, committer::EXTERNAL)).await
    }

    /// An empty write of the server's own through `zone`'s turn: what the
    /// turn does before any write (take in an edit, roll back) is all.
    fn own_turn(&self, zone: &Name, via: &'static str) -> WriteRequest {
        WriteRequest {
            zone: zone.clone(),
            actor: self.inner.settings.committer.name.clone(),
            client: SocketAddr::from(([0, 0, 0, 0], 0)),
            via,
            compute: Box::new(|_| Ok(ChangeSet::default())),
        }
    }

    pub fn state(&self) -> &Arc<State> {
        &self.inner.state
    }

    /// Records in git the zone files a person deleted, renamed or turned
    /// into symbolic links (`report.gone_files`, `report.links`), as one
    /// `external change` by the configured committer, so HEAD holds what
    /// is served: a clone of the repository serves the same zones. Each
    /// zone's turn is taken first, so a write answered before its file
    /// went is committed before the removal. Nothing with `[git]
    /// commit_external = false` or without a repository.
    pub async fn record_paths(&self, report: &crate::served::ReloadReport) {
        if !self.inner.has_repo || !self.inner.state.config().git.commit_external {
            return;
        }
        // With those git refused before (tried again on every pass).
        let mut all = crate::served::ReloadReport::default();
        {
            let mut held = self
                .inner
                .held_paths
                .lock()
                .unwrap_or_else(|p| p.into_inner());
            all.gone_files = std::mem::take(&mut held.gone);
            all.links = std::mem::take(&mut held.links);
        }
        // Every zone file that is a link, not only those this pass saw
        // change: a write may have taken the change in first (a link
        // pointed elsewhere during a stream of writes), and links the
        // server refuses to write through are recorded too. What HEAD
        // holds already makes no commit.
        let linked: Vec<(Name, PathBuf)> = {
            let guard = self.inner.state.lock();
            guard
                .iter()
                .filter(|(_, slot)| slot.source.confined)
                .filter_map(|(zone, slot)| Some((zone.clone(), slot.source.link.clone()?)))
                .collect()
        };
        let links: Vec<(Name, PathBuf)> = report.links.iter().chain(&linked).cloned().collect();
        for (list, new) in [
            (&mut all.gone_files, &report.gone_files),
            (&mut all.links, &links),
        ] {
            list.extend(new.iter().cloned());
            let mut seen = std::collections::HashSet::new();
            list.retain(|entry| seen.insert(entry.clone()));
        }
        let Some(paths) = external::path_changes(&all, "found by a reload") else {
            return;
        };
        let queues: Vec<Arc<ZoneQueue>> = paths.zones.iter().map(|z| self.zone_queue(z)).collect();
        let mut turns = Vec::with_capacity(queues.len());
        for q in &queues {
            turns.push(q.turn.lock().await);
        }
        let committer = self.inner.committer.clone();
        let made = tokio::task::spawn_blocking(move || committer.commit_paths(paths)).await;
        drop(turns);
        let made = made.unwrap_or_else(|e| Err(format!("the commit failed: {e}")));
        if made.is_err() {
            let mut guard = self
                .inner
                .held_paths
                .lock()
                .unwrap_or_else(|p| p.into_inner());
            let held = &mut *guard;
            for (list, mut kept) in [
                (&mut held.gone, all.gone_files),
                (&mut held.links, all.links),
            ] {
                let over = kept.len().saturating_sub(MAX_HELD_PATHS);
                kept.drain(..over);
                *list = kept;
            }
        }
        external::log_paths_outcome(made);
    }

    /// Sends NOTIFYs through `notifier` after every write that changes a
    /// serial (the server sets it when it starts). Only the first call
    /// takes effect.
    pub fn set_notifier(&self, notifier: crate::notify_out::Notifier) {
        let _ = self.inner.notifier.set(notifier);
    }

    fn zone_queue(&self, zone: &Name) -> Arc<ZoneQueue> {
        let mut queues = self.queues.lock().unwrap_or_else(|p| p.into_inner());
        queues.entry(zone.clone()).or_default().clone()
    }

    /// Applies one write: lock, recheck, compute, serial bump, minimal-diff
    /// edit, atomic write, publish, git commit. Returns once the change is
    /// durable on disk.
    pub async fn write(&self, req: WriteRequest) -> Result<WriteOutcome, WriteError> {
        let zone = req.zone.clone();
        let via = req.via;
        let queue = self.zone_queue(&zone);
        let (reply, mut answer) = tokio::sync::oneshot::channel();
        queue.push(Queued { req, reply });
        let internal = || {
            Reply::Now(Err(WriteError::Failed(
                "internal error in the write path".into(),
            )))
        };
        let queued = Instant::now();
        let early = {
            // Group commit: whoever holds the zone's turn takes every write
            // queued behind it (same writer), so N concurrent writes cost one
            // fsync and one commit instead of N.
            let _turn = queue.turn.lock().await;
            self.inner.phase(Phase::Queue, queued);
            // Answered by an earlier turn's batch: pass the turn on, so the
            // writes arriving meanwhile pile up for one batch, not one each.
            // Otherwise write batches from the head of the queue (in arrival
            // order, maybe other actors' first) until this write's own has
            // been written: a turn holder that wrote only the head batch and
            // left would strand its write until some later write came along.
            loop {
                match answer.try_recv() {
                    Ok(reply) => break Some(reply),
                    Err(tokio::sync::oneshot::error::TryRecvError::Closed) => {
                        break Some(internal());
                    }
                    Err(tokio::sync::oneshot::error::TryRecvError::Empty) => {
                        let batch = queue.take_batch();
                        if batch.is_empty() {
                            // Cannot happen (this write is queued until a
                            // batch takes it); wait for the answer below.
                            break None;
                        }
                        let inner = self.inner.clone();
                        // A panic drops the batch's reply senders: they
                        // answer with an internal error.
                        let _ = tokio::task::spawn_blocking(move || inner.write_batch(batch)).await;
                    }
                }
            }
        };
        // The turn is free again: the next batch is written while this
        // one's commit is made.
        let reply = match early {
            Some(r) => r,
            None => answer.await.unwrap_or_else(|_| internal()),
        };
        let outcome = self.settle(zone.clone(), reply).await;
        if let Ok(WriteOutcome::Written { new_serial, .. }) = &outcome
            && (via == "rfc2136" || via == "rest")
        {
            self.confirm(&zone, *new_serial).await;
        }
        outcome
    }

    /// Propagation-confirmed writes (`[[zone]] confirm = N`): waits until
    /// N of the zone's NOTIFY targets serve `serial`, or `confirm_timeout`.
    /// Either way the write stands (it is durable and committed): a
    /// timeout is a WARN and a metric, and the answer is still NOERROR.
    async fn confirm(&self, zone: &Name, serial: u32) {
        // O(1) for the common case: a zone without NOTIFY targets cannot
        // have `confirm` (the config refuses more than its targets), so
        // the [[zone]] list (tens of thousands of entries) is not scanned
        // on every write.
        let Some(notifier) = self.inner.notifier.get() else {
            return;
        };
        if notifier.counters(zone).is_none() {
            return;
        }
        let config = self.inner.state.config();
        let Some(z) = config.zones.iter().find(|z| &z.name == zone) else {
            return;
        };
        if z.confirm == 0 {
            return;
        }
        let started = Instant::now();
        if notifier
            .confirmed(zone, serial, z.confirm, z.confirm_timeout)
            .await
        {
            tracing::debug!(
                zone = %zone, serial, took_ms = started.elapsed().as_millis(),
                "{} secondaries serve the write", z.confirm
            );
            return;
        }
        let behind: Vec<String> = notifier
            .secondaries(zone)
            .into_iter()
            .map(|s| match (s.serial, s.error) {
                (_, Some(e)) => format!("{} ({e})", s.target),
                (Some(have), None) => format!("{} (serves {have})", s.target),
                (None, None) => format!("{} (not asked yet)", s.target),
            })
            .collect();
        warn!(
            zone = %zone, serial,
            "answered after confirm_timeout ({:?}): fewer than {} secondaries serve serial {serial}; \
             secondaries: {}",
            z.confirm_timeout, z.confirm, behind.join(", ")
        );
        self.inner.state.metrics().confirm_timeout(&zone.to_ascii());
    }

    /// The final answer to a write: after its batch's commit, if written.
    /// A commit git refused is answered as a failure, once the zone has
    /// been rolled back (or the rollback was tried and logged).
    async fn settle(&self, zone: Name, reply: Reply) -> Result<WriteOutcome, WriteError> {
        let Reply::AfterCommit {
            old_serial,
            new_serial,
            commit,
        } = reply
        else {
            return match reply {
                Reply::Now(r) => r,
                Reply::AfterCommit { .. } => Err(WriteError::Failed("unreachable".into())),
            };
        };
        let waited = Instant::now();
        let outcome = commit.wait(self.inner.settings.commit_timeout).await;
        self.inner.phase(Phase::Commit, waited);
        match outcome {
            committer::Outcome::Committed(commit) => Ok(WriteOutcome::Written {
                old_serial,
                new_serial,
                commit,
                logged: false,
            }),
            committer::Outcome::Failed(why) => {
                let undone = match Box::pin(self.roll_back(&zone)).await {
                    Ok(_) => "it has been rolled back".to_owned(),
                    Err(e) => {
                        format!("rolling it back failed too ({e}); retried at the next write")
                    }
                };
                Err(WriteError::Failed(format!(
                    "serial {new_serial} was written but git could not record it ({why}); {undone}"
                )))
            }
        }
    }

    /// An empty write through `zone`'s turn: the turn undoes the batches
    /// git could not record before its own (see `write_many`).
    async fn roll_back(&self, zone: &Name) -> Result<WriteOutcome, WriteError> {
        self.write(self.own_turn(zone, committer::ROLLBACK)).await
    }

    /// Tries again each rollback that failed (the repository could not
    /// take its commit either: HEAD off the branch), so a write answered
    /// with an error leaves the file and the answers once git can record
    /// again, not at the zone's next write (round 35, HIGH: it stayed
    /// served until then). Called after every reload pass (at least once
    /// every `reload_interval`); a repository still unusable refuses it at
    /// once, as it does any write.
    pub async fn retry_rollbacks(&self) {
        for zone in self.inner.committer.blocked_zones() {
            if let Err(e) = self.roll_back(&zone).await {
                debug!(zone = %zone, "rollback not made yet: {e}");
            }
        }
    }

    /// At shutdown: the rollbacks still pending are tried once more, and
    /// each that still cannot be made is named in a WARN: its write was
    /// answered with an error but is in the file, and the next start
    /// commits it as an `external change` (round 36: a stop right after
    /// HEAD was put back kept such writes without a word).
    pub async fn rollbacks_at_stop(&self) {
        // Bounded: a stuck git must not hold the shutdown.
        let _ = tokio::time::timeout(STOP_ROLLBACKS, self.retry_rollbacks()).await;
        for zone in self.inner.committer.blocked_zones() {
            let why = self
                .inner
                .committer
                .blocked(&zone)
                .map_or_else(String::new, |b| b.reason.to_string());
            warn!(
                zone = %zone,
                "stopping with writes in the zone file that were answered with an error \
                 (when their commit failed: {why}) and could not be rolled back before the \
                 stop; the next start commits them as an external change unless they are \
                 removed from the file by hand first"
            );
        }
    }

    /// Commits every served zone file that differs from git's HEAD as an
    /// `external change` (edits made while the server was down, commits
    /// that failed). Blocking; call at start-up.
    pub fn commit_external_changes(&self) -> usize {
        self.inner.commit_external_changes()
    }
}

/// The longest a stop waits for the rollbacks it tries once more.
const STOP_ROLLBACKS: Duration = Duration::from_secs(5);

/// The zone after a write, with each RRset the write removed records from
/// served at the TTL a reload of the written file gives it.
///
/// A file can hold an RRset whose records have different TTLs; it is
/// served at its first record's TTL (RFC 2181 §5.2, with a warning at
/// load). When a write removes that record, the file gives the others
/// their own TTL, while the zone, changed in place, kept the old one: the
/// TTL served would change at the next reload, and the IXFR read from
/// git would disagree with what was served (outside attack, round 14).
fn realign_ttls(
    zone: Zone,
    document: &crate::zonefile::Document,
    changes: &ChangeSet,
) -> Result<Zone, WriteError> {
    let mut fix = ChangeSet::default();
    let mut seen: std::collections::HashSet<(&Name, crate::rr::RecordType)> = Default::default();
    let touched: Vec<(&Name, crate::rr::RecordType)> = changes
        .remove
        .iter()
        .filter(|r| r.rtype != crate::rr::RecordType::SOA)
        .map(|r| (&r.name, r.rtype))
        .filter(|&k| seen.insert(k))
        .filter(|(name, rtype)| !zone.rrset(name, *rtype).is_empty())
        .collect();
    if touched.is_empty() {
        return Ok(zone);
    }
    for ((name, rtype), ttl) in touched.iter().zip(document.rrset_ttls(&touched)) {
        let served = zone.rrset(name, *rtype);
        let (Some(first), Some(ttl)) = (served.first(), ttl) else {
            continue;
        };
        if first.ttl != ttl {
            fix.remove.extend(served.iter().cloned());
            fix.add
                .extend(served.iter().map(|rr| crate::rr::Rr { ttl, ..rr.clone() }));
        }
    }
    if fix.is_empty() {
        return Ok(zone);
    }
    zone.with_changes(&fix, &pending_location())
        .map(|(z, _)| z)
        .map_err(|errs| WriteError::Invalid(first_message(&errs)))
}

/// The folders the files of `prepared` are in, each once.
fn folders_of(prepared: &[fsio::Prepared]) -> Vec<PathBuf> {
    let mut folders: Vec<PathBuf> = prepared.iter().map(|p| fsio::folder_of(p.path())).collect();
    folders.sort_unstable();
    folders.dedup();
    folders
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

    /// `source`, or, when its plain zone file in `zones_dir` has become a
    /// symbolic link since it was listed (`mv a.zone a.db; ln -s a.db
    /// a.zone`, and a write before the reload saw it), or its link points
    /// elsewhere now, the zone as listed now: the write goes through the
    /// link as it is (not over it, nor to the old target), and the link
    /// is recorded in git after the next reload.
    fn relisted(&self, zone: &Name, source: ZoneSource) -> ZoneSource {
        if !source.confined {
            return source;
        }
        let now = match &source.link {
            // A link still: pointed elsewhere since (writes would go on to
            // the old target until the reload sees it, and be lost from
            // the zone by a crash meanwhile)?
            Some(link) => {
                let again = ZoneSource {
                    path: link.clone(),
                    link: None,
                    read_only: None,
                    ..source.clone()
                }
                .follow_link(&self.state.config().zones_dir);
                if again.link.is_none() || again.path == source.path {
                    return source;
                }
                again
            }
            None => {
                let became_link = std::fs::symlink_metadata(&source.path)
                    .is_ok_and(|m| m.file_type().is_symlink());
                if !became_link {
                    return source;
                }
                source.follow_link(&self.state.config().zones_dir)
            }
        };
        if let Some(link) = &now.link {
            info!(zone = %zone, link = %link.display(), "zone file is a symbolic link now; read from where it leads");
            let mut held = self.held_paths.lock().unwrap_or_else(|p| p.into_inner());
            let entry = (zone.clone(), link.clone());
            if !held.links.contains(&entry) && held.links.len() < MAX_HELD_PATHS {
                held.links.push(entry);
            }
        }
        now
    }

    /// Refuses a write to `zone` when one of its `files` (its zone file,
    /// or one it includes) is read by another zone too: both zone files
    /// linked to one file, one zone's file included by another, a file
    /// both include. The write would change that zone, which the writer's
    /// grants do not name.
    fn not_shared<'p>(
        &self,
        zone: &Name,
        files: impl IntoIterator<Item = &'p PathBuf>,
    ) -> Result<(), WriteError> {
        let guard = self.state.lock();
        let shared = files.into_iter().find_map(|p| {
            let others = guard.other_readers(zone, p);
            (!others.is_empty()).then(|| (p.clone(), others))
        });
        let Some((file, others)) = shared else {
            return Ok(());
        };
        let names: Vec<String> = others.iter().map(ToString::to_string).collect();
        Err(WriteError::Failed(format!(
            "{} is read by zone {} too: writes to zone {zone} are refused (it would change \
             that zone as well; give each zone its own files)",
            file.display(),
            names.join(", "),
        )))
    }

    /// A zone whose writes are refused (its file is outside zones_dir,
    /// another zone's, or read by another zone) and whose file changed on
    /// disk, or that is listed through a link that now leads elsewhere
    /// (round 23: linked to another zone's file while the server runs):
    /// served as it reads now, as the reloader serves such a zone, with
    /// nothing written or committed (the zone owning the file records
    /// it; the link is recorded by the next reload pass). Its serial
    /// cannot be raised: a WARN when it is not above the one served.
    fn serve_as_read(&self, zone: &Name, source: &ZoneSource) {
        // The file's lock first, when it is in the repository: a write of
        // the zone that owns it, begun before it was shared, is then done
        // and queued for its commit, which comes before any commit made
        // here (round 25: its text was committed as this zone's external
        // change, its write's commit then empty).
        let config = self.state.config();
        let _flock = loader::in_repository(&config.zones_dir, &source.path)
            .and_then(|_| fsio::ZoneFileLock::acquire(&source.path).ok());
        self.serve_as_read_locked(zone, source);
    }

    /// [`Inner::serve_as_read`] with the file's lock held by the caller
    /// (a write's turn: locking it again here would wait for ever).
    fn serve_as_read_locked(&self, zone: &Name, source: &ZoneSource) {
        let Ok((_, served)) = self.current(zone) else {
            return;
        };
        let same_file = served.files.first().is_some_and(|(p, _)| *p == source.path);
        if same_file && loader::unchanged(&served.files) {
            return;
        }
        let config = self.state.config();
        let rules = loader::FileRules::new(&config);
        let Ok(loaded) = loader::load_zone_guarded(source, &rules) else {
            return;
        };
        if loaded.document.texts() == served.document.texts() {
            self.state.lock().set(source.clone(), Ok(loaded));
            return;
        }
        let (was, now) = (served.zone.serial(), loaded.zone.serial());
        if !Serial(now).is_after(Serial(was)) {
            let mut high = self.high_serials.lock().unwrap_or_else(|p| p.into_inner());
            let mark = high.entry(zone.clone()).or_insert(was);
            if Serial(was).is_after(Serial(*mark)) {
                *mark = was;
            }
            drop(high);
            warn!(
                zone = %zone, served = was, now, file = %source.path.display(),
                "zone served from a file it cannot write, with a serial not above the one \
                 served before: secondaries will not fetch this version"
            );
        }
        info!(zone = %zone, serial = now, file = %source.path.display(), "zone loaded as it reads");
        let soa = loaded.zone.soa().clone();
        let ticket = {
            let mut guard = self.state.lock();
            guard.set(source.clone(), Ok(loaded.clone()));
            self.committer.ticket()
        };
        // A person's edit of a file in the repository is committed as any
        // edit found is (once: a zone reading the same file after this
        // finds HEAD holding it, and commits nothing).
        let in_repo =
            loaded.document.texts().iter().all(|(name, _)| {
                loader::in_repository(&config.zones_dir, Path::new(name)).is_some()
            });
        if config.git.commit_external && in_repo && self.has_repo {
            let person = self.person_for(zone, now, &loaded);
            let job = committer::Job::external(zone, now, &loaded.document).by(person);
            let commit = self.committer.submit_at(Some(&ticket), job);
            if let Some(n) = self.notifier.get().filter(|_| now != was) {
                n.zone_committed(zone, now, &soa, commit);
            }
        } else if let Some(n) = self.notifier.get().filter(|_| now != was) {
            n.zone_changed(zone, now, &soa);
        }
    }

    /// The served version, reloaded first if the files changed on disk
    /// (someone else's edit, taken in by [`Inner::take_in`]).
    fn fresh(&self, zone: &Name) -> Result<(ZoneSource, Loaded), WriteError> {
        let mut edited_in_place = self
            .edited_in_place
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(zone);
        for _ in 0..MAX_ATTEMPTS {
            let (source, served) = self.current(zone)?;
            let source = self.relisted(zone, source);
            // Read from the file the zone is listed with now: a zone file
            // moved aside and replaced by a link to it (`mv a.zone a.db;
            // ln -s a.db a.zone`) keeps its inode, so the old version looks
            // unchanged, but names the old path, which a write would
            // replace by a plain file.
            let same_file = served.files.first().is_some_and(|(p, _)| *p == source.path);
            // Unless the reloader found the files failing since: a file
            // back in place with the served version's identity but not its
            // text (edited in place, its mtime put back) is then read
            // (round 29: never taken in, the zone left failed).
            let failing = || {
                self.state
                    .lock()
                    .get(zone)
                    .is_some_and(|s| s.failure.is_some())
            };
            let trusted = !std::mem::take(&mut edited_in_place);
            if trusted && same_file && loader::unchanged(&served.files) && !failing() {
                return Ok((source, served));
            }
            wait_for_writers(&served)?;
            self.report_on_disk(zone, &served);
            let rules = loader::FileRules::new(&self.state.config());
            let saved = loader::load_zone_guarded(&source, &rules).map_err(|f| {
                let first = f
                    .problems
                    .first()
                    .map(ToString::to_string)
                    .unwrap_or_default();
                WriteError::Failed(format!(
                    "the zone file on disk has errors, refusing to write over it: {first}"
                ))
            })?;
            // The files as they are now: an edit may have made this zone
            // read another's file since it was served. Then it is served
            // as it reads (its slot names the file, so the other zone's
            // writes are refused from now on) and nothing is written
            // (round 30: it was never loaded, and the other zone's key
            // went on writing what it would serve).
            if let Err(e) = self.not_shared(zone, saved.files.iter().map(|(p, _)| p)) {
                self.serve_as_read_locked(zone, &source);
                return Err(e);
            }
            if let Some(loaded) = self.take_in(zone, &source, &served, saved)? {
                return Ok((source, loaded));
            }
        }
        Err(WriteError::Failed(format!(
            "{} kept changing on disk; nothing was applied",
            zone
        )))
    }

    /// "zone file changed on disk" at INFO, once for each state of the
    /// files on disk; at DEBUG when the same state is read again (round
    /// 41 LOW: a blocking edit logged it at every refused write).
    fn report_on_disk(&self, zone: &Name, served: &Loaded) {
        let ids: Vec<loader::FileId> = served
            .files
            .iter()
            .map(|(p, _)| loader::FileId::now(p))
            .collect();
        let mut reported = self
            .reported_on_disk
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        if reported.get(zone) == Some(&ids) {
            debug!(zone = %zone, "zone file changed on disk; reloading before the write");
            return;
        }
        info!(zone = %zone, "zone file changed on disk; reloading before the write");
        reported.insert(zone.clone(), ids);
    }

    /// Takes in `saved`, an edit made outside zonewright found on disk
    /// over `served`: the writes of the last `rebase_window` it lacks are
    /// re-applied on top of it ([`recent`]) and its serial is raised when
    /// it is not above the served one (`[serial] external = "raise"`),
    /// written back with the minimal diff, published, and recorded as one
    /// `external change` commit (ahead of the write computed on top of
    /// it). `None`: the file changed again meanwhile; read it again.
    fn take_in(
        &self,
        zone: &Name,
        source: &ZoneSource,
        served: &Loaded,
        saved: Loaded,
    ) -> Result<Option<Loaded>, WriteError> {
        if saved.document.texts() == served.document.texts() {
            // Saved again as it was (`:w` without a change, `cp` of the
            // same text, a `touch`-like rewrite): nothing to serve, raise
            // or commit; only the files' new identities are noted.
            debug!(zone = %zone, "zone file saved again unchanged");
            self.state.lock().set(source.clone(), Ok(saved.clone()));
            return Ok(Some(saved));
        }
        // The edit's own warnings (TTLs aligned in an RRset, ...), which the
        // reloader logs only for what it publishes itself.
        for w in &saved.warnings {
            warn!(zone = %zone, "{w}");
        }
        let (plan, serials) = self.plan_take_in(zone, source, served, &saved);
        if !self.must_write_back(&plan, serials) {
            let edit = edit_entry(plan.edit, serials.saved);
            return Ok(Some(
                self.take_in_as_saved(zone, source, saved, serials, edit),
            ));
        }
        self.take_in_rebased(zone, source, served, saved, plan, serials)
    }

    /// What taking in `saved` over `served` involves: the writes of the
    /// window it lacks ([`recent`]) and the two serials.
    fn plan_take_in(
        &self,
        zone: &Name,
        source: &ZoneSource,
        served: &Loaded,
        saved: &Loaded,
    ) -> (recent::Plan, Serials) {
        self.seed_recent(zone, source, served);
        let plan = self
            .recent
            .plan(zone, &served.zone, &saved.zone, Instant::now());
        let shown = served.zone.serial();
        let high = self
            .high_serials
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(zone)
            .copied()
            .filter(|h| Serial(*h).is_after(Serial(shown)));
        let serials = Serials {
            saved: saved.zone.serial(),
            served: high.unwrap_or(shown),
        };
        (plan, serials)
    }

    /// Whether the edit must be written back before it is served: a write
    /// it lacks, or (`[serial] external = "raise"`) a serial not above
    /// the one served.
    fn must_write_back(&self, plan: &recent::Plan, serials: Serials) -> bool {
        !plan.missing.is_empty() || (self.settings.raise_external_serial && !serials.above())
    }

    /// `saved` served and committed as it is (nothing missing, no serial
    /// to raise).
    fn take_in_as_saved(
        &self,
        zone: &Name,
        source: &ZoneSource,
        saved: Loaded,
        serials: Serials,
        edit: recent::Entry,
    ) -> Loaded {
        let mut guard = self.state.lock();
        self.recent.record(zone, edit);
        guard.set(source.clone(), Ok(saved.clone()));
        let ticket = self.committer.ticket();
        drop(guard);
        if !serials.above() {
            warn!(
                zone = %zone, saved = serials.saved, served = serials.served,
                "an edit saved the zone with a serial not above the one served; secondaries \
                 will not fetch it ([serial] external = \"keep\")"
            );
        }
        let notify = self
            .notifier
            .get()
            .filter(|_| serials.saved != serials.served);
        let soa = saved.zone.soa().clone();
        if self.state.config().git.commit_external {
            let was = serials.saved;
            let person = self.person_for(zone, was, &saved);
            let job = committer::Job::external(zone, was, &saved.document).by(person);
            let commit = self.committer.submit_at(Some(&ticket), job);
            if let Some(n) = notify {
                n.zone_committed(zone, was, &soa, commit);
            }
        } else if let Some(n) = notify {
            n.zone_changed(zone, serials.saved, &soa);
        }
        saved
    }

    /// `saved` with the writes it lacks re-applied and its serial raised
    /// if need be, written back, published and committed as one external
    /// change. `None`: raced.
    fn take_in_rebased(
        &self,
        zone: &Name,
        source: &ZoneSource,
        served: &Loaded,
        saved: Loaded,
        plan: recent::Plan,
        serials: Serials,
    ) -> Result<Option<Loaded>, WriteError> {
        let mut changes = plan.missing.clone();
        in_served_order(&mut changes.add, served);
        if !serials.above() {
            let now = (self.settings.now)();
            changes.serial = Some(self.settings.serial_policy.next(serials.served, now));
        }
        let new = changes.serial.unwrap_or(serials.saved);
        let (document, rendered, new_zone, warnings) = saved
            .document
            .get()
            .and_then(|d| d.apply(&changes).map_err(|e| e.message))
            .and_then(|(document, rendered)| {
                let (zone, warnings) = saved
                    .zone
                    .with_changes(&changes, &pending_location())
                    .map_err(|errs| first_message(&errs))?;
                Ok((document, rendered, zone, warnings))
            })
            .map_err(|e| self.conflict(zone, source, &saved, &plan, serials, &e))?;
        let mut prepared = Vec::with_capacity(rendered.files.len());
        for (file, text) in &rendered.files {
            let p = fsio::Prepared::write(Path::new(file), text)
                .map_err(|e| WriteError::Failed(format!("cannot write {file}: {e}")))?;
            prepared.push(p);
        }
        let soa = new_zone.soa().clone();
        let published = Published {
            document,
            zone: new_zone,
            warnings,
        };
        // The history goes on through the edit: its own change, then what
        // was re-applied on top of it (an edit saved later on either
        // version gets the rest back).
        let mut noted = vec![edit_entry(plan.edit.clone(), serials.saved)];
        if !plan.missing.is_empty() {
            noted.push(recent::Entry {
                at: Instant::now(),
                changes: plan.missing.clone(),
                actor: "rebase".into(),
                via: committer::EXTERNAL,
                serial: new,
            });
        }
        let note = Note::TakenIn(zone.clone(), noted);
        let folders = folders_of(&prepared);
        let (stats, ticket) = match self.install(source, &saved, prepared, published, note) {
            Ok(installed) => installed,
            Err(Interrupted::Raced) => return Ok(None),
            Err(Interrupted::Io(e)) => {
                return Err(WriteError::Failed(format!(
                    "cannot replace the zone file: {e}"
                )));
            }
        };
        // The edit with the writes it lacked, served: on disk for good
        // before it is committed (it is never rolled back: it holds answered
        // writes).
        self.sync_folders(&folders).map_err(WriteError::Failed)?;
        log_taken_in(zone, source, &plan, serials, new);
        let notifier = self.notifier.get();
        if self.state.config().git.commit_external {
            let mut files = written_files(rendered, stats);
            // The edit's other files, which the write-back left as they
            // were (an `$INCLUDE` edited, or newly named, while the zone
            // file kept its serial): committed as read, so HEAD holds
            // what is served (round 28: only the zone file was).
            for (name, text) in saved.document.texts() {
                if !files.iter().any(|f| f.path == Path::new(name)) {
                    files.push(committer::WrittenFile {
                        path: PathBuf::from(name),
                        text: Arc::new(text.to_owned()),
                        stat: None,
                        blob: None,
                    });
                }
            }
            let was = serials.saved;
            let writes = plan.writes.len();
            let record = committer::Record::taken_in(zone, (was, new), plan.missing, writes);
            let person = self.person_for(zone, was, &saved);
            let job = committer::Job {
                files,
                record,
                logged: false,
            };
            let commit = self.committer.submit_at(Some(&ticket), job.by(person));
            if let Some(n) = notifier {
                n.zone_committed(zone, new, &soa, commit);
            }
        } else if let Some(n) = notifier {
            n.zone_changed(zone, new, &soa);
        }
        Ok(Some(self.current(zone)?.1))
    }

    /// The zone's changes committed within the rebase window before this
    /// store started, read back from the file's git history into the
    /// recent writes (once per zone): a restart does not forget them.
    fn seed_recent(&self, zone: &Name, source: &ZoneSource, served: &Loaded) {
        if self.recent.is_seeded(zone) {
            return;
        }
        let now = Utc::now().timestamp();
        let window = i64::try_from(self.recent.window().as_secs()).unwrap_or(i64::MAX);
        let limit =
            usize::try_from(self.state.config().server.max_zone_file_size).unwrap_or(usize::MAX);
        let own = self.own_repo(zone);
        let this = audit::plain(zone).to_ascii_lowercase();
        let changes = {
            own.as_ref().map(|r| {
                let history = self.window_history(r);
                // The file the served version was read from, which the
                // writes went to, also when the zone's link now points
                // elsewhere (and HEAD may already say so); for a version
                // read from git (at start-up), the file HEAD's zone file
                // leads to; for a zone whose file HEAD lacks (its `[[zone]]
                // file` moved while the server was down), the file its
                // writes went to, as the window's commits name it (round
                // 55).
                // First of all, the file the window's last write of the
                // zone went to, when the zone is read from another one now
                // (zone files swapped or moved while the server was down):
                // the history of the file it is read from is another
                // zone's, or none.
                let at = self
                    .written_to(r, zone, source)
                    .map(|(at, _)| at)
                    .or_else(|| served.files.first().map(|(p, _)| p.clone()))
                    .or_else(|| git::head_path(r, source.listed()).ok().flatten())
                    .or_else(|| self.moved_from(r, zone, source))
                    .unwrap_or_else(|| source.path.clone());
                // And every other file the window's writes of the zone went
                // to (its `File:` trailers), oldest change first over all.
                let rel = |f: &Path| git::relative(r, f).ok();
                let mut files = vec![at];
                for f in history.zone_files(r, &this) {
                    if !files
                        .iter()
                        .any(|g| *g == f || rel(g).is_some_and(|g| Some(g) == rel(&f)))
                    {
                        files.push(f);
                    }
                }
                let mut all: Vec<git::Change> = Vec::new();
                for (i, file) in files.iter().enumerate() {
                    let got = history.changes(
                        r,
                        file,
                        (now.saturating_sub(window), SEED_COMMITS, SEED_BYTES),
                        limit,
                    );
                    let (changes, left) = match got {
                        Ok(got) => got,
                        Err(e) => return Err(e),
                    };
                    if left > 0 {
                        warn!(
                            zone = %zone, left_out = left, file = %file.display(),
                            "the rebase window read back from git for this zone holds more \
                             changes than are read ({SEED_COMMITS}, or {SEED_BYTES} bytes of \
                             versions): the older ones are not re-applied to an edit that \
                             lacks them"
                        );
                    }
                    // Of a file other than the one read now, only the
                    // changes a `File:` trailer gives to the zone count as
                    // its writes.
                    all.extend(
                        changes
                            .into_iter()
                            .filter(|c| i == 0 || !c.files.is_empty()),
                    );
                }
                all.sort_by_key(|c| (c.time, std::cmp::Reverse(c.seq)));
                Ok(all)
            })
        };
        let changes = match changes {
            Some(Ok(c)) => c,
            Some(Err(e)) => {
                warn!(zone = %zone, "cannot read the zone's recent history from git: {e}");
                Vec::new()
            }
            None => Vec::new(),
        };
        let rules = loader::FileRules::new(&self.state.config());
        let includes = loader::FsIncludes::new(&rules);
        let name = source.path.display().to_string();
        let records = |text: &str| -> Option<Vec<crate::rr::Rr>> {
            let doc = crate::zonefile::Document::parse(&name, text, zone, &includes).ok()?;
            Some(doc.records().map(|(rr, _)| rr.clone()).collect())
        };
        // Each version is parsed once: one change's text after is the
        // next one's before.
        let mut last: Option<(String, Vec<crate::rr::Rr>)> = None;
        let entries = changes
            .into_iter()
            .filter_map(|c| {
                // Another zone's write to a file both read (round 25: a
                // zone linked to another's file while it was written; its
                // history is that zone's): kept in the chain as an edit,
                // never re-applied here.
                let others = !c.of_zone(&this);
                let before = match last.take() {
                    Some((text, rrs)) if text == c.before => rrs,
                    _ => records(&c.before)?,
                };
                let after = records(&c.after)?;
                let d = crate::ixfr::diff(&before, &after);
                last = Some((c.after, after));
                let age = u64::try_from(now.saturating_sub(c.time)).unwrap_or(0);
                Some(recent::Entry {
                    at: Instant::now().checked_sub(Duration::from_secs(age))?,
                    changes: ChangeSet {
                        add: d.added,
                        remove: d.deleted,
                        serial: None,
                    },
                    actor: c.author,
                    via: if others {
                        known_via(None)
                    } else {
                        known_via(c.via.as_deref())
                    },
                    serial: 0,
                })
            })
            .collect();
        self.recent.seed(zone, entries);
    }

    /// A git handle of the store's own for reading history: the walk of
    /// the window's commits (up to HISTORY_COMMITS, a tree compared each)
    /// took seconds on a repository of thousands of commits, and held the
    /// committer's handle all along, so every write to every zone waited
    /// for it (round 53: one edit after a restart stalled all writes for 5
    /// to 30 s). What it reads (commits before this store started) no
    /// commit changes.
    fn own_repo(&self, zone: &Name) -> Option<git2::Repository> {
        let dir = self.state.config().zones_dir.clone();
        self.has_repo
            .then_some(dir)
            .and_then(|d| match git2::Repository::open(&d) {
                Ok(r) => Some(r),
                Err(e) => {
                    warn!(zone = %zone, "cannot open the git repository to read the zone's recent history: {e}");
                    None
                }
            })
    }

    /// The history of the rebase window before this store started, read
    /// once for every zone (the writes since are recorded as they are
    /// made).
    fn window_history(&self, r: &git2::Repository) -> &git::History {
        self.history.get_or_init(|| {
            let now = Utc::now().timestamp();
            let window = i64::try_from(self.recent.window().as_secs()).unwrap_or(i64::MAX);
            let since = now.saturating_sub(window);
            let until = self.started.load(std::sync::atomic::Ordering::Relaxed);
            let history =
                git::History::read(r, (since, until), HISTORY_COMMITS).unwrap_or_else(|e| {
                    warn!("cannot read the recent history from git: {e}");
                    git::History::default()
                });
            if let Some(at) = history.cut_at {
                let when = chrono::DateTime::from_timestamp(at, 0)
                    .map(|t| t.to_rfc3339())
                    .unwrap_or_else(|| at.to_string());
                warn!(
                    "the rebase window read back from git after this start covers only \
                     the last {HISTORY_COMMITS} commits (since {when}): writes committed \
                     before that are not re-applied to an edit that lacks them"
                );
            }
            history
        })
    }

    /// Per zone (lower case, no final dot) named by a commit of the
    /// rebase window before `started`, the file the newest such commit's
    /// `File:` trailer gives for it and that commit; `None` for a zone
    /// whose newest commit has none (made by an older zonewright, or a
    /// deletion). Messages only, no trees: read at every start for every
    /// zone, it costs milliseconds for thousands of commits.
    fn named(&self) -> &Named {
        self.named.get_or_init(|| {
            let Some(repo) = self.own_repo(&Name::root()) else {
                return Named::default();
            };
            let now = Utc::now().timestamp();
            let window = i64::try_from(self.recent.window().as_secs()).unwrap_or(i64::MAX);
            let since = now.saturating_sub(window);
            let until = self.started.load(std::sync::atomic::Ordering::Relaxed);
            let mut named = Named::default();
            let walked =
                git::each_commit_message(&repo, HISTORY_COMMITS, |_, message, time, id| {
                    if time < since {
                        return true;
                    }
                    if time <= until {
                        let files = git::message_files(message);
                        for zone in git::message_zones(message) {
                            let file = files.iter().find(|(z, _)| *z == zone);
                            named
                                .entry(zone)
                                .or_insert_with(|| file.map(|(_, f)| (f.clone(), id)));
                        }
                    }
                    false
                });
            if let Err(e) = walked {
                warn!("cannot read the recent commits from git: {e}");
            }
            named
        })
    }

    /// The file `zone`'s writes of the rebase window went to (in the work
    /// tree) and the commit of the last of them, when the zone is read
    /// from another file now: its file moved, or zone files were swapped
    /// between zones, while the server was down (round 56: each zone's
    /// stale copy was taken in against the other zone's file in HEAD, and
    /// the writes it lacked were lost). `None`: read from that file (or
    /// where HEAD's link to it leads), or no trailer says.
    fn written_to(
        &self,
        r: &git2::Repository,
        zone: &Name,
        source: &ZoneSource,
    ) -> Option<(PathBuf, git2::Oid)> {
        let name = audit::plain(zone).to_ascii_lowercase();
        let (rel, commit) = self.named().get(&name)?.clone()?;
        if git::relative(r, &source.path).is_ok_and(|now| now == rel) {
            return None;
        }
        let at = r.workdir().unwrap_or_else(|| r.path()).join(&rel);
        if git::head_path(r, source.listed()).ok().flatten().as_ref() == Some(&at) {
            return None;
        }
        Some((at, commit))
    }

    /// At start-up, for every zone: a WARN when the file it is read from
    /// now is the one the window's last write of another zone went to:
    /// `[[zone]] file` swapped in the config alone (round 58: with
    /// relative names each zone loads the other's records, and its own
    /// writes are re-applied on top of them) looks exactly like files
    /// swapped on purpose. When the file still holds, byte for byte, the
    /// version that zone's last write left in it, the zone serves the
    /// other zone's records as they were: an ERROR, and its writes are
    /// refused, and none re-applied, until the file changes (round 59:
    /// a key's writes, and the start-up's re-apply of the zone's own,
    /// went into the other zone's file, and stayed there once the config
    /// was put back).
    fn warn_other_zones_files(&self, zones: &[(Name, ZoneSource, Loaded)]) {
        // Each zone's last write, as far back as HISTORY_COMMITS commits
        // (round 61: only the rebase window's were looked at, so zones
        // written once a day got nothing): its file and commit.
        let mut last: std::collections::HashMap<String, (PathBuf, git2::Oid)> = Default::default();
        if let Some(own) = self.own_repo(&Name::root()) {
            let walked = git::each_commit_message(&own, HISTORY_COMMITS, |_, message, _, id| {
                let files = git::message_files(message);
                for zone in git::message_zones(message) {
                    if let Some((_, f)) = files.iter().find(|(z, _)| *z == zone) {
                        last.entry(zone).or_insert_with(|| (f.clone(), id));
                    }
                }
                false
            });
            if let Err(e) = walked {
                warn!("cannot read the commits from git: {e}");
            }
        }
        let mut by_file: std::collections::HashMap<&Path, Vec<(&String, git2::Oid)>> =
            Default::default();
        for (zone, (rel, commit)) in &last {
            by_file
                .entry(rel.as_path())
                .or_default()
                .push((zone, *commit));
        }
        if by_file.is_empty() {
            return;
        }
        let limit =
            usize::try_from(self.state.config().server.max_zone_file_size).unwrap_or(usize::MAX);
        let repo = self.repo.lock().unwrap_or_else(|p| p.into_inner());
        let Some(r) = repo.as_ref() else {
            return;
        };
        let root = r.workdir().unwrap_or_else(|| r.path()).to_path_buf();
        // Most zone files are spelled under the work tree as git has it;
        // the others are resolved (links in the folders' path).
        let rel_of = |path: &Path| match path.strip_prefix(&root) {
            Ok(rel) => Some(rel.to_path_buf()),
            Err(_) => git::relative(r, path).ok(),
        };
        // The file each configured zone reads now, as git names it.
        let reads: std::collections::HashMap<String, PathBuf> = zones
            .iter()
            .filter_map(|(n, s, _)| Some((audit::plain(n).to_ascii_lowercase(), rel_of(&s.path)?)))
            .collect();
        let mut foreign = self.foreign.lock().unwrap_or_else(|p| p.into_inner());
        for (zone, source, loaded) in zones {
            let this = audit::plain(zone).to_ascii_lowercase();
            let Some(rel) = reads.get(&this) else {
                continue;
            };
            let Some(writers) = by_file.get(rel.as_path()) else {
                continue;
            };
            // Another zone still served (a zone renamed in the config, its
            // file kept, is the same zone under a new name: round 60).
            let mut others: Vec<&(&String, git2::Oid)> = writers
                .iter()
                .filter(|(z, _)| **z != this && reads.contains_key(z.as_str()))
                .collect();
            others.sort();
            let Some((other, commit)) = others.first() else {
                continue;
            };
            // A swap: that zone reads the file this zone's last write went
            // to (round 61: a move along a chain, or a zone renamed and its
            // old name given to a new file, were taken for one, and a zone
            // of one template refused).
            let mutual = last
                .get(&this)
                .is_some_and(|(mine, _)| reads.get(other.as_str()) == Some(mine));
            let text = loaded.document.main_text();
            let theirs = mutual
                && git::text_at(r, *commit, rel, limit)
                    .ok()
                    .flatten()
                    .is_some_and(|t| t == text);
            if theirs {
                let why = format!(
                    "zone {} is read from {}, which holds zone {other}'s records as its last \
                     write left them, and zone {other} reads the file zone {}'s last write went \
                     to: the `[[zone]] file` settings look swapped in the config alone; writes \
                     to zone {} are refused until the config is put back (the file is served as \
                     it reads, and edits of it are served, not given this zone's writes)",
                    audit::plain(zone),
                    source.path.display(),
                    audit::plain(zone),
                    audit::plain(zone),
                );
                tracing::error!(zone = %zone, file = %source.path.display(), other = %other, "{why}");
                foreign.insert(zone.clone(), (source.path.clone(), why));
            } else {
                warn!(
                    zone = %zone, file = %source.path.display(), other = %other,
                    "the zone is read from the file the last write of zone {other} went to: if \
                     the `[[zone]] file` settings were swapped by mistake, each zone now serves \
                     the other's records, with its own writes re-applied on top"
                );
            }
        }
    }

    /// Why `zone`'s writes are refused: start-up found it read from
    /// `path`, another zone's file, in a config swapped alone (see
    /// [`Inner::warn_other_zones_files`]); `None` once it is read from
    /// another file (the config put back, SIGHUP).
    fn foreign_file(&self, zone: &Name, path: &Path) -> Option<String> {
        let mut foreign = self.foreign.lock().unwrap_or_else(|p| p.into_inner());
        let (file, why) = foreign.get(zone)?;
        if file == path {
            return Some(why.clone());
        }
        foreign.remove(zone);
        None
    }

    /// Where the zone's writes of the window went, when HEAD has no file
    /// at the path it is read from now: its `[[zone]] file` was moved
    /// while the server was down. The file of the window's newest commit
    /// naming the zone that HEAD still has and no other zone reads now (a
    /// commit of several zones' writes names every zone for each of its
    /// files: round 55, another zone's file was picked and the writes
    /// lost).
    fn moved_from(
        &self,
        r: &git2::Repository,
        zone: &Name,
        source: &ZoneSource,
    ) -> Option<PathBuf> {
        let name = audit::plain(zone).to_ascii_lowercase();
        let mut files = self.window_history(r).files_naming(r, &name);
        files.retain(|f| !same_file(f, &source.path) && !same_file(f, source.listed()));
        {
            let state = self.state.lock();
            files.retain(|f| state.other_readers(zone, f).is_empty());
        }
        files
            .into_iter()
            .find(|f| git::head_path(r, f).ok().flatten().is_some())
    }

    /// At start-up, for a zone read from a file git does not have whose
    /// writes of the window cannot be re-applied: they went to a file
    /// another zone reads now (files swapped between zones), or one git no
    /// longer has, or the zone's new file is outside the repository (its
    /// writes refused). Not told apart from another zone's, so not
    /// re-applied (round 56), and said rather than lost in silence.
    fn warn_writes_not_found(&self, zone: &Name, source: &ZoneSource) {
        let name = audit::plain(zone).to_ascii_lowercase();
        if !self.named().contains_key(&name) {
            return;
        }
        warn!(
            zone = %zone, file = %source.path.display(),
            "the zone is read from a file git does not have, and the writes of the \
             rebase window this file lacks are not re-applied (the file they went to is \
             read by another zone now, was deleted in git, or this file is outside the \
             repository): check it against `git log` of the zone"
        );
    }

    /// Who `zonewright edit` says made `saved`, if it is exactly their file.
    fn person_for(&self, zone: &Name, serial: u32, saved: &Loaded) -> Option<String> {
        let text = Some(saved.document.main_text().to_owned());
        let zones_dir = &self.state.config().zones_dir;
        offline::person_for(zones_dir, zone, serial, text.as_deref().unwrap_or(""))
    }

    /// The person's edit conflicts with a write it lacks: the zone stays as
    /// served, nothing is written over the file. Logged once per version
    /// of the file (the reloader and every write find it again).
    fn conflict(
        &self,
        zone: &Name,
        source: &ZoneSource,
        saved: &Loaded,
        plan: &recent::Plan,
        serials: Serials,
        why: &str,
    ) -> WriteError {
        let mut seen = self.conflicts.lock().unwrap_or_else(|p| p.into_inner());
        if seen.get(zone) != Some(&saved.files) {
            seen.insert(zone.clone(), saved.files.clone());
            error!(
                zone = %zone, file = %source.path.display(),
                "an edit saved over the zone file lacks {} write(s) made within the rebase \
                 window, and they cannot be re-applied to it ({why}); still serving serial {}: \
                 edit the file again",
                plan.writes.len(), serials.served
            );
        }
        WriteError::Failed(format!(
            "the zone file was edited on disk in a way that conflicts with earlier writes \
             ({why}); nothing was applied"
        ))
    }

    /// Runs a batch and sends each write its own answer.
    fn write_batch(&self, batch: Vec<Queued>) {
        let reqs: Vec<&WriteRequest> = batch.iter().map(|q| &q.req).collect();
        let results = self.write_many(&reqs);
        for (q, r) in batch.into_iter().zip(results) {
            let _ = q.reply.send(r);
        }
    }

    /// Applies the writes in order, each computed on the zone as the ones
    /// before it left it (so each gets its own prerequisites and answer),
    /// then records all that changed as one edit, one serial step and one
    /// commit. Returns one result per write.
    /// `zonewright_write_duration_seconds{phase}`: the time since `since`.
    fn phase(&self, phase: Phase, since: Instant) {
        self.state.metrics().write_phase(phase, since.elapsed());
    }

    fn write_many(&self, reqs: &[&WriteRequest]) -> Vec<Reply> {
        let Some(first) = reqs.first() else {
            return Vec::new();
        };
        let every = |e: WriteError| reqs.iter().map(|_| Reply::Now(Err(e.clone()))).collect();
        let (source, files) = match self.current(&first.zone) {
            Ok((source, served)) => {
                let files: Vec<PathBuf> = served.files.iter().map(|(p, _)| p.clone()).collect();
                (self.relisted(&first.zone, source), files)
            }
            Err(e) => return every(e),
        };
        // A zone file linked out of zones_dir cannot be committed (loader).
        if let Some(why) = &source.read_only {
            self.serve_as_read(&first.zone, &source);
            return every(WriteError::Failed(why.clone()));
        }
        // Another zone's file (start-up found the config swapped alone):
        // refused while the zone reads it. An edit of it is served as it
        // reads, never given this zone's writes (round 61: an edit that
        // lifted the refusal put this zone's writes into the other's file).
        if let Some(why) = self.foreign_file(&first.zone, &source.path) {
            self.serve_as_read(&first.zone, &source);
            return every(WriteError::Failed(why));
        }
        // The served version's files (its includes too) while the zone is
        // listed with the file it was read from; once its link leads
        // elsewhere, only the new file: the version read from it is
        // checked in `fresh` (round 24: a link put back from another
        // zone's file was refused for that file, and the person's edit of
        // its own file then served without its take-in).
        let listed_same = files.first() == Some(&source.path);
        let checked: Vec<&PathBuf> = if listed_same {
            std::iter::once(&source.path).chain(&files).collect()
        } else {
            vec![&source.path]
        };
        if let Err(e) = self.not_shared(&first.zone, checked) {
            self.serve_as_read(&first.zone, &source);
            return every(e);
        }
        let _flock = match fsio::ZoneFileLock::acquire(&source.path) {
            Ok(l) => l,
            Err(e) => {
                return every(WriteError::Failed(format!(
                    "cannot lock {}: {e}",
                    source.path.display()
                )));
            }
        };
        if !self.has_repo {
            return every(WriteError::Failed(
                "the zones directory is not a git repository (see the error at start-up); \
                 writes are refused so that none goes unrecorded"
                    .into(),
            ));
        }
        // HEAD detached, or a merge or rebase under way: nothing is written
        // that git could not record now (the committer logs it, once). A
        // rollback is the exception (commit mode): it takes out of the file
        // and the answers a write already answered with an error, and its
        // own commit, if git refuses it too, is held and made before the
        // zone's next one (round 37: refused, the failed write stayed
        // served for as long as HEAD stayed off the branch).
        let rollback = first.via == committer::ROLLBACK && self.log.is_none();
        if !rollback && let Err(why) = self.committer.check_repo() {
            return every(WriteError::Failed(format!(
                "{why}; the write is refused and nothing was written"
            )));
        }
        // Answered writes git has not recorded wait in the write log: no
        // more are taken until it records them (bounded, and said). A
        // person's edit is still taken in (its commit queues behind them).
        let waiting = self.committer.waiting();
        if self.log.is_some() && waiting > 0 && first.via != committer::EXTERNAL {
            return every(WriteError::Failed(format!(
                "git cannot record writes now ({waiting} answered writes wait in the write \
                 log and are committed once it can); the write is refused and nothing was \
                 written"
            )));
        }
        if let Err(e) = self.roll_back_failed(&first.zone) {
            return every(e);
        }
        self.attempts(reqs).unwrap_or_else(|| {
            every(WriteError::Failed(format!(
                "{} kept changing on disk during the write; nothing was applied",
                source.path.display()
            )))
        })
    }

    /// [`Inner::attempt`] until it is not raced (`None`: raced every time).
    fn attempts(&self, reqs: &[&WriteRequest]) -> Option<Vec<Reply>> {
        for _ in 0..MAX_ATTEMPTS {
            match self.attempt(reqs) {
                Attempt::Done(results) => return Some(results),
                Attempt::Raced => continue,
            }
        }
        None
    }

    /// Undoes the batches of `zone` that were written but that git could
    /// not record (see the module docs). Runs in the zone's turn, with its
    /// file lock held. `Err`: the undo could not be written; the zone
    /// stays blocked and the caller's batch must fail.
    fn roll_back_failed(&self, zone: &Name) -> Result<(), WriteError> {
        if self.committer.blocked(zone).is_none() {
            return Ok(());
        }
        // Batches queued before this turn may still fail and join the
        // block: let the committer finish them first.
        self.committer.barrier();
        let Some(blocked) = self.committer.blocked(zone) else {
            return Ok(());
        };
        // The changes undone newest first, as one change set relative to
        // the zone now.
        let mut undo = ChangeSet::default();
        for cs in blocked.changes.iter().rev() {
            merge(
                &mut undo,
                ChangeSet {
                    add: cs.remove.clone(),
                    remove: cs.add.clone(),
                    serial: None,
                },
            );
        }
        let req = WriteRequest {
            zone: zone.clone(),
            actor: self.settings.committer.name.clone(),
            client: SocketAddr::from(([0, 0, 0, 0], 0)),
            via: committer::ROLLBACK,
            // Only what is still there (or still missing): a person may have
            // edited the file since, and that edit stays.
            compute: Box::new(move |z: &Zone| {
                let present =
                    |r: &crate::rr::Rr| z.rrset(&r.name, r.rtype).iter().any(|o| o.same_rr(r));
                Ok(ChangeSet {
                    remove: undo.remove.iter().filter(|r| present(r)).cloned().collect(),
                    add: undo.add.iter().filter(|r| !present(r)).cloned().collect(),
                    serial: None,
                })
            }),
        };
        let outcome = self.attempts(&[&req]).and_then(|mut r| r.pop());
        match outcome {
            // Written; its job lifts the block when the committer takes it.
            Some(Reply::AfterCommit { new_serial, .. }) => {
                warn!(
                    zone = %zone, serial = new_serial, batches = blocked.changes.len(),
                    "rolled back the writes git could not record ({})", blocked.reason
                );
                Ok(())
            }
            Some(Reply::Now(Ok(_))) => {
                info!(zone = %zone, "the writes git could not record are no longer in the file");
                self.committer.unblock(zone);
                Ok(())
            }
            // The undo itself is no valid zone (a person's edit since
            // conflicts with it): leave the file as it is rather than block
            // the zone for good.
            Some(Reply::Now(Err(WriteError::Invalid(m)))) => {
                error!(
                    zone = %zone,
                    "cannot roll back the writes git could not record ({m}); they stay in the \
                     file and are committed with the next write"
                );
                self.committer.unblock(zone);
                Ok(())
            }
            Some(Reply::Now(Err(e))) => Err(WriteError::Failed(format!(
                "an earlier write to this zone could not be committed ({}) and rolling it \
                 back failed: {e}",
                blocked.reason
            ))),
            None => Err(WriteError::Failed(
                "an earlier write to this zone could not be committed, and the file kept \
                 changing during its rollback"
                    .into(),
            )),
        }
    }

    /// One try at a batch on the zone as it is on disk now: compute each
    /// write, edit the document and the zone, write the new files beside
    /// the old, install them (or find a race), then hand the commit to the
    /// committer. Writes that changed nothing or were refused are answered
    /// now; the others after the commit.
    fn attempt(&self, reqs: &[&WriteRequest]) -> Attempt {
        let Some(first) = reqs.first() else {
            return Attempt::Done(Vec::new());
        };
        let mut step = Instant::now();
        let mut lap = |phase| {
            self.phase(phase, step);
            step = Instant::now();
        };
        let (source, loaded) = match self.fresh(&first.zone) {
            Ok(f) => f,
            Err(e) => {
                return Attempt::Done(reqs.iter().map(|_| Reply::Now(Err(e.clone()))).collect());
            }
        };
        let (results, merged) = self.compute(reqs, &loaded);
        lap(Phase::Compute);
        let finish = |results: Results, pending: Reply| {
            Attempt::Done(
                results
                    .into_iter()
                    .map(|r| r.map_or_else(|| pending.clone(), Reply::Now))
                    .collect(),
            )
        };
        let fail = |results, e: WriteError| finish(results, Reply::Now(Err(e)));
        if merged.is_empty() {
            return finish(results, Reply::Now(Ok(WriteOutcome::Unchanged)));
        }
        let edited = match self.edit(&loaded, merged, first) {
            Ok(e) => e,
            Err(e) => return fail(results, e),
        };
        warn_unanswered(&edited.zone, &edited.changes.add, first);
        lap(Phase::Edit);
        // Write and fsync the new versions beside the old ones first...
        let mut prepared = Vec::with_capacity(edited.rendered.files.len());
        for (file, text) in &edited.rendered.files {
            match fsio::Prepared::write(Path::new(file), text) {
                Ok(p) => prepared.push(p),
                Err(e) => {
                    let e = WriteError::Failed(format!("cannot write {file}: {e}"));
                    return fail(results, e);
                }
            }
        }
        lap(Phase::Write);
        let folders = folders_of(&prepared);
        let (old, new) = (edited.old, edited.new);
        let soa = edited.zone.soa().clone();
        let (rendered, changes) = (edited.rendered, edited.changes);
        let published = Published {
            document: edited.document,
            zone: edited.zone,
            warnings: edited.warnings,
        };
        // ...then install them, noting the write for later edits (recent).
        let entry = recent::Entry {
            at: Instant::now(),
            changes: ChangeSet {
                add: changes.add.clone(),
                remove: changes.remove.clone(),
                serial: None,
            },
            actor: first.actor.clone(),
            via: first.via,
            serial: new,
        };
        let note = Note::Write(first.zone.clone(), entry);
        let (stats, ticket) = match self.install(&source, &loaded, prepared, published, note) {
            Ok(installed) => installed,
            Err(Interrupted::Raced) => return Attempt::Raced,
            Err(Interrupted::Io(e)) => {
                let e = WriteError::Failed(format!("cannot replace the zone file: {e}"));
                return fail(results, e);
            }
        };
        // The zone's own file, which the write went to (also when its link
        // points elsewhere now), for the commit's `File:` trailer.
        let file = loaded.files.first().map(|(p, _)| p.clone());
        // The version this write replaced: freed off the answer's path.
        crate::served::release(loaded);
        // The renames made durable outside the served set's lock, one fsync
        // per folder shared with the writes to its other zones. If that
        // fails, the write is served but not known to be on disk: it is
        // answered SERVFAIL and rolled back before the zone's next write,
        // as a batch git refused is.
        if let Err(reason) = self.sync_folders(&folders) {
            error!(zone = %first.zone, "{reason}; the write is rolled back before the next");
            let change = ChangeSet {
                add: changes.add.clone(),
                remove: changes.remove.clone(),
                serial: None,
            };
            self.committer.block_written(&first.zone, &reason, change);
            return fail(results, WriteError::Failed(reason));
        }
        lap(Phase::Install);
        let (commit, logged) = self.submit(
            ticket,
            reqs,
            &results,
            changes,
            (old, new),
            rendered,
            (stats, file),
        );
        // NOTIFY hook (RFC 1996 §3.1: "When a master has updated one or
        // more RRs in which slave servers may be interested"): sent once
        // the version is committed, so the secondaries' IXFR finds it in
        // the git history (the journal); never awaited by this write.
        if let Some(n) = self.notifier.get() {
            n.zone_committed(&first.zone, new, &soa, commit.clone());
        }
        // In the write log: answered now (the commit follows, see
        // `writelog`); otherwise after the commit.
        let reply = if logged {
            Reply::Now(Ok(WriteOutcome::Written {
                old_serial: old,
                new_serial: new,
                commit: None,
                logged: true,
            }))
        } else {
            Reply::AfterCommit {
                old_serial: old,
                new_serial: new,
                commit,
            }
        };
        finish(results, reply)
    }

    /// Each write of the batch computed on the zone the ones before it
    /// produced: its answer now (refused, unchanged, invalid) or `None`
    /// when its change is in the merged change set returned.
    fn compute(&self, reqs: &[&WriteRequest], loaded: &Loaded) -> (Results, ChangeSet) {
        let mut results: Results = Vec::new();
        let mut merged = ChangeSet::default();
        let mut current = loaded.zone.clone();
        let single = reqs.len() == 1;
        for req in reqs {
            let outcome = match (req.compute)(&current) {
                Err(r) => Some(Err(WriteError::Rejected(r))),
                Ok(cs) if cs.is_empty() => Some(Ok(WriteOutcome::Unchanged)),
                // A lone write is validated with the whole edit.
                Ok(cs) if single => {
                    merge(&mut merged, cs);
                    None
                }
                Ok(cs) => match next_zone(&current, &cs).and_then(|z| {
                    z.check_limits_of(&self.state.config().server.limits, &cs.add)?;
                    Ok(z)
                }) {
                    Ok(z) => {
                        current = Arc::new(z);
                        merge(&mut merged, cs);
                        None
                    }
                    Err(msg) => Some(Err(WriteError::Invalid(msg))),
                },
            };
            results.push(outcome);
        }
        (results, merged)
    }

    /// The merged change with the next serial, applied to the document
    /// (minimal diff) and to the zone (in time proportional to the change:
    /// `Zone::with_changes` equals a full `Zone::build` of the edited
    /// records), within the zone limits.
    fn edit(
        &self,
        loaded: &Loaded,
        mut changes: ChangeSet,
        first: &WriteRequest,
    ) -> Result<Edited, WriteError> {
        let old = loaded.zone.serial();
        let new = self.settings.serial_policy.next(old, (self.settings.now)());
        changes.serial = Some(new);
        let (document, rendered) = loaded
            .document
            .get()
            .map_err(WriteError::Failed)?
            .apply(&changes)
            .map_err(|e| WriteError::Invalid(e.message))?;
        let (zone, warnings) = loaded
            .zone
            .with_changes(&changes, &pending_location())
            .map_err(|errs| WriteError::Invalid(first_message(&errs)))?;
        let zone = realign_ttls(zone, &document, &changes)?;
        // Bounded work and memory per zone, whoever writes (design invariant 7).
        if let Err(msg) = zone.check_limits_of(&self.state.config().server.limits, &changes.add) {
            warn!(zone = %first.zone, actor = %first.actor, "write refused: {msg}");
            return Err(WriteError::Invalid(msg));
        }
        // Every file the edit changes must be one git can record: a file
        // `$INCLUDE`d from `include_dirs` (or a `[[zone]] file` elsewhere)
        // is served but never written, before anything is written.
        let zones_dir = &self.state.config().zones_dir;
        if let Some((file, _)) = rendered
            .files
            .iter()
            .find(|(f, _)| loader::in_repository(zones_dir, Path::new(f)).is_none())
        {
            let msg = match loader::nested_repository(zones_dir, Path::new(file)) {
                Some(repo) => format!(
                    "the change would edit {file}, which is inside {}, a git repository of its \
                     own (another zones folder?): zonewright does not write it (serve that \
                     zone from that folder)",
                    repo.display()
                ),
                None => format!(
                    "the change would edit {file}, which is outside zones_dir {} (an $INCLUDE \
                     from include_dirs, or a zone file kept elsewhere): git could not record \
                     it, so zonewright does not write it (move the records into a file in \
                     zones_dir)",
                    zones_dir.display()
                ),
            };
            warn!(zone = %first.zone, actor = %first.actor, "write refused: {msg}");
            return Err(WriteError::Failed(msg));
        }
        // An `$INCLUDE` that is a symbolic link: a write would replace the
        // link by a file and leave its target as it was (round 29). A zone
        // file that is a link is read, and written, at its target.
        if let Some((file, _)) = rendered
            .files
            .iter()
            .find(|(f, _)| std::fs::symlink_metadata(f).is_ok_and(|m| m.file_type().is_symlink()))
        {
            let msg = format!(
                "the change would edit {file}, an $INCLUDEd file that is a symbolic link: \
                 zonewright does not write through it (it would replace the link); point the \
                 $INCLUDE at the file itself"
            );
            warn!(zone = %first.zone, actor = %first.actor, "write refused: {msg}");
            return Err(WriteError::Failed(msg));
        }
        Ok(Edited {
            changes,
            old,
            new,
            document,
            rendered,
            zone,
            warnings,
        })
    }

    /// Under the state guard (the reloader cannot interleave): rechecks
    /// that the files are the ones read, renames the prepared files over
    /// them, and publishes the new zone. Returns the stat of each file
    /// installed, or why not: a race (read the zone again) or an error.
    ///
    /// `note` goes into the recent writes under the same guard as the
    /// publish: the reloader, comparing an edit with the served version,
    /// then always knows the write that made it.
    /// Makes the renames done in `folders` durable: one directory fsync
    /// each, shared with the writes to the folder's other zones
    /// ([`fsio::DirSyncs`]), made after the served set's lock is released.
    fn sync_folders(&self, folders: &[PathBuf]) -> Result<(), String> {
        for dir in folders {
            self.dir_syncs
                .sync(dir)
                .map_err(|e| format!("cannot fsync {} after the rename: {e}", dir.display()))?;
        }
        Ok(())
    }

    fn install(
        &self,
        source: &ZoneSource,
        loaded: &Loaded,
        prepared: Vec<fsio::Prepared>,
        published: Published,
        note: Note,
    ) -> Result<(Vec<git::Stat>, committer::Ticket), Interrupted> {
        let mut guard = self.state.lock();
        if !loader::unchanged(&loaded.files) {
            return Err(Interrupted::Raced);
        }
        // Hold the files we replace open: see `fsio::Replaced`.
        let mut replaced = Vec::with_capacity(prepared.len());
        for p in &prepared {
            let r = fsio::Replaced::open(p.path())?;
            let expected = loaded.files.iter().find(|(f, _)| f == p.path());
            if expected.is_some_and(|(_, id)| id.written() != r.id()) {
                return Err(Interrupted::Raced);
            }
            replaced.push(r);
        }
        let mut installed = Vec::with_capacity(prepared.len());
        for p in prepared {
            let expected = loaded
                .files
                .iter()
                .find(|(f, _)| f == p.path())
                .map(|(_, id)| *id);
            match p.install_over(expected)? {
                Ok(i) => installed.push(i),
                // An editor renamed its save over the file after our last
                // check: it stays, and the change is computed on top of it.
                Err(fsio::Swapped) => {
                    warn!(
                        "zone file replaced (saved by rename) during our write; redoing the \
                         change on top of it"
                    );
                    return Err(Interrupted::Raced);
                }
            }
        }
        // Someone wrote to a file in the instant before our rename: put
        // their version back (it holds their change, not ours) and compute
        // the change again on top of it.
        let mut raced = false;
        for (fsio::Installed { path, .. }, old) in installed.iter().zip(&replaced) {
            if old.changed()? {
                let theirs = old.text(self.state.config().server.max_zone_file_size)?;
                fsio::replace_atomically(path, &theirs)?;
                warn!(
                    file = %path.display(),
                    "zone file written to during our write; redoing the change on top of it"
                );
                raced = true;
            }
        }
        if raced {
            return Err(Interrupted::Raced);
        }
        // The identities come from the temp files' own handles: a write
        // after the rename shows up as a change.
        let files = loaded
            .files
            .iter()
            .map(|(p, id)| {
                let new = installed.iter().find(|i| i.path == *p).map(|i| i.id);
                (p.clone(), new.unwrap_or(*id))
            })
            .collect();
        note.record_in(&self.recent);
        guard.set(
            source.clone(),
            Ok(Loaded {
                document: Arc::new(published.document).into(),
                zone: Arc::new(published.zone),
                files,
                warnings: published.warnings,
            }),
        );
        // This version's place in the commit order: before any version
        // published after it (a reload's, or a later write's).
        let ticket = self.committer.ticket();
        drop(guard);
        // A process that opened a file before the rename may still write
        // to it; closing it (freeing the inode) is left to `late` too.
        self.late.hold(replaced);
        Ok((installed.iter().map(|i| i.stat).collect(), ticket))
    }

    /// Logs the write and queues its commit: the files as written, who
    /// asked (every client whose change is in it) and what changed. With
    /// `[git] acknowledge = "log"`, records it in the write log first
    /// (`true`: recorded, so it may be answered now).
    #[allow(clippy::too_many_arguments)]
    fn submit(
        &self,
        ticket: committer::Ticket,
        reqs: &[&WriteRequest],
        results: &Results,
        changes: ChangeSet,
        (old, new): (u32, u32),
        rendered: crate::zonefile::Rendered,
        (stats, file): (Vec<git::Stat>, Option<PathBuf>),
    ) -> (committer::Pending, bool) {
        let first = reqs[0];
        let changes_count = results.iter().filter(|r| r.is_none()).count();
        let mut clients: Vec<std::net::SocketAddr> = Vec::new();
        for (req, r) in reqs.iter().zip(results) {
            if r.is_none() && !clients.contains(&req.client) {
                clients.push(req.client);
            }
        }
        info!(
            zone = %first.zone, actor = %first.actor, via = first.via, requests = changes_count,
            added = changes.add.len(), removed = changes.remove.len(),
            serial = %format!("{old} -> {new}"), "zone written"
        );
        let files = written_files(rendered, stats);
        let record = committer::Record {
            zone: first.zone.clone(),
            changes,
            old_serial: old,
            new_serial: new,
            actor: first.actor.clone(),
            clients,
            requests: changes_count,
            via: first.via,
            file,
        };
        let logged = self.log_write(&record, &files);
        let job = committer::Job {
            files,
            record,
            logged,
        };
        let pending = self.committer.submit_at(Some(&ticket), job);
        (pending, logged)
    }

    /// Records `record` in the write log (fsynced), when there is one;
    /// `false` when not recorded: the write is then answered after its
    /// commit, as without the log. A rollback is never logged: nobody
    /// waits for its answer.
    fn log_write(&self, record: &committer::Record, files: &[committer::WrittenFile]) -> bool {
        let Some(log) = &self.log else {
            return false;
        };
        if record.via == committer::ROLLBACK {
            return false;
        }
        let entry = writelog::Entry {
            zone: record.zone.to_ascii(),
            old_serial: record.old_serial,
            new_serial: record.new_serial,
            actor: record.actor.clone(),
            via: record.via.to_owned(),
            clients: record.clients.iter().map(|c| c.to_string()).collect(),
            requests: record.requests,
            add: record.changes.add.iter().map(rr_line).collect(),
            remove: record.changes.remove.iter().map(rr_line).collect(),
            files: {
                let dir = &self.state.config().zones_dir;
                files
                    .iter()
                    .map(|f| f.path.strip_prefix(dir).unwrap_or(&f.path))
                    .map(|p| p.display().to_string())
                    .collect()
            },
            at: Some(Utc::now().timestamp()),
        };
        match log.append(&entry) {
            Ok(()) => true,
            Err(e) => {
                error!(
                    zone = %record.zone,
                    "cannot record the write in the write log {}: {e}; it is answered after \
                     its git commit instead",
                    log.path().display()
                );
                false
            }
        }
    }

    /// At start-up: each zone file edited while the server was down is
    /// taken in against HEAD's version (the last one served and
    /// committed): the writes of the window it lacks re-applied, its
    /// serial raised if not above HEAD's. One that conflicts with them is
    /// not committed, and HEAD's version is served until the file is
    /// edited again, as while running. Then every other file that differs
    /// from HEAD is committed as found.
    fn commit_external_changes(&self) -> usize {
        // Writes answered from the write log before a crash come first:
        // a file holding them must not be taken for a person's edit.
        self.recover_logged();
        // The records just committed count as the window's history (the
        // take-in of an edit that lacks them re-applies them), also when
        // their commits came in a later second than the store's start.
        self.started
            .store(Utc::now().timestamp(), std::sync::atomic::Ordering::Relaxed);
        let zones: Vec<(Name, ZoneSource, Loaded)> = {
            let guard = self.state.lock();
            guard
                .iter()
                .filter_map(|(n, s)| {
                    s.good
                        .as_ref()
                        .map(|g| (n.clone(), s.source.clone(), g.clone()))
                })
                .collect()
        };
        // Every zone, changed or not (round 59: a new zone given the file
        // another zone's last write went to got no WARN).
        self.warn_other_zones_files(&zones);
        // HEAD read once; the zones whose files it holds as they are (all
        // of them, on a restart after a clean stop) need nothing more.
        let head = {
            let repo = self.repo.lock().unwrap_or_else(|p| p.into_inner());
            repo.as_ref().and_then(|r| git::HeadFiles::read(r).ok())
        };
        // A zone file that is a link is looked at too, whatever HEAD holds
        // at its target: pointed at another file HEAD has unchanged (an
        // older copy) while the server was down, the zone's last version
        // is where HEAD's link leads, not that file
        // (see `take_in_at_start`).
        // So is one whose writes went to another file than the one it is
        // read from now (see `written_to`), whatever HEAD holds there.
        let moved: std::collections::HashSet<Name> = {
            let repo = self.repo.lock().unwrap_or_else(|p| p.into_inner());
            repo.as_ref()
                .map(|r| {
                    zones
                        .iter()
                        .filter(|(zone, source, _)| self.written_to(r, zone, source).is_some())
                        .map(|(zone, _, _)| zone.clone())
                        .collect()
                })
                .unwrap_or_default()
        };
        let changed = zones.into_iter().filter(|(zone, source, loaded)| {
            source.link.is_some()
                || moved.contains(zone)
                || head.as_ref().is_none_or(|h| {
                    loaded.document.texts().into_iter().any(|(name, text)| {
                        h.holds(Path::new(name), text.as_bytes()) == Some(false)
                    })
                })
        });
        let mut found: Vec<(Name, Loaded, Vec<String>)> = Vec::new();
        let mut taken = 0;
        // Each file is committed once: a file two zones read (round 22:
        // `a.zone -> b.zone` made while the server was down) would
        // otherwise be committed again from the other zone's copy, read
        // before a take-in rewrote it.
        let mut seen = std::collections::HashSet::new();
        let mut rewritten = std::collections::HashSet::new();
        for (zone, source, current) in changed {
            let names: Vec<String> = current
                .document
                .texts()
                .into_iter()
                .map(|(name, _)| name.to_owned())
                .collect();
            // Its files read by another zone too (round 24: `a.zone ->
            // data/b.db`, b's file, made while the server was down): never
            // written here, and committed by the zone HEAD already reads
            // it for, if any.
            let (shared, own_file_shared) = {
                let guard = self.state.lock();
                let shared = current
                    .files
                    .iter()
                    .any(|(p, _)| !guard.other_readers(&zone, p).is_empty());
                (shared, !guard.other_readers(&zone, &source.path).is_empty())
            };
            // A zone whose own file is its own commits it, also when an
            // `$INCLUDE` is shared with another zone (round 29: two zones
            // including one file were never committed).
            let owner = !own_file_shared || self.head_reads(&source);
            match self.take_in_at_start(&zone, &source, &current, shared) {
                Ok(true) => {
                    taken += 1;
                    rewritten.extend(names);
                }
                // A zone whose writes are refused reads another zone's
                // file (that zone records it) or one git cannot hold.
                Ok(false) if source.read_only.is_none() && owner => {
                    if names.first().is_some_and(|n| !seen.contains(n)) {
                        seen.extend(names.iter().cloned());
                        found.push((zone, current, names));
                    }
                }
                Ok(false) | Err(()) => {}
            }
        }
        let found: Vec<(Name, Loaded)> = found
            .into_iter()
            .filter(|(_, _, names)| names.iter().all(|n| !rewritten.contains(n)))
            .map(|(zone, current, _)| (zone, current))
            .collect();
        self.committer.barrier();
        let committed = taken + external::commit_at_start(&self.state, &self.committer, found);
        // HEAD as those commits left it; also when it had none before
        // (round 50: on a first start, a zone file that was a link was
        // committed as its target only, the link left untracked).
        let head_now = {
            let repo = self.repo.lock().unwrap_or_else(|p| p.into_inner());
            repo.as_ref().and_then(|r| git::HeadFiles::read(r).ok())
        };
        if let Some(head) = &head_now {
            self.record_paths_at_start(head);
        }
        // The versions served, as the committer's recorded ones where HEAD
        // holds them (see `Committer::seed`).
        let files: Vec<committer::WrittenFile> = {
            let guard = self.state.lock();
            guard
                .iter()
                .filter_map(|(zone, slot)| slot.good.as_ref().map(|g| (zone, g)))
                .flat_map(|(zone, g)| {
                    committer::Job::external(zone, g.zone.serial(), &g.document).files
                })
                .collect()
        };
        self.committer.seed(files);
        committed
    }

    /// At start-up, after the zone files' texts: the zone files HEAD holds
    /// that were deleted while the server was down, and the zone files
    /// that are symbolic links HEAD lacks as such (see
    /// [`Store::record_paths`]).
    fn record_paths_at_start(&self, head: &git::HeadFiles) {
        // Whatever `[git] commit_external` says, as the edits found at
        // start-up are: HEAD must not keep a deleted zone, nor a file
        // beside it under another name, for a clone to serve.
        let config = self.state.config();
        let mut report = crate::served::ReloadReport::default();
        for file in head.gone_from(&config.zones_dir, |n| loader::zone_file_origin(n).is_some()) {
            let name = file.file_name().and_then(|n| n.to_str());
            if let Some(zone) = name.and_then(loader::zone_file_origin) {
                report.gone_files.push((zone, file));
            }
        }
        // A zone file of any name that the window's last write of a zone
        // went to (its `File:` trailer), moved while the server was down
        // (round 59: `x/a1.db` renamed, and HEAD kept it beside the new
        // file). Older moves are not known.
        let root = {
            let repo = self.repo.lock().unwrap_or_else(|p| p.into_inner());
            repo.as_ref()
                .and_then(|r| r.workdir().map(Path::to_path_buf))
        };
        if let Some(root) = root {
            let guard = self.state.lock();
            for (zone, written) in self.named() {
                let Some((rel, _)) = written else { continue };
                let file = root.join(rel);
                // Most are there (one stat each).
                if file.is_file() {
                    continue;
                }
                let Ok(zone) = Name::from_ascii(format!("{zone}.")) else {
                    continue;
                };
                let known = report.gone_files.iter().any(|(_, f)| same_place(f, &file));
                let read = !guard.other_readers(&zone, &file).is_empty()
                    || guard.get(&zone).is_some_and(|s| {
                        same_place(&s.source.path, &file) || same_place(s.source.listed(), &file)
                    });
                if !known && !read && head.gone(&file) {
                    report.gone_files.push((zone, file));
                }
            }
        }
        {
            let guard = self.state.lock();
            for (zone, slot) in guard.iter() {
                if let Some(link) = slot.source.link_inside(&config.zones_dir)
                    && head.holds_link(link) == Some(false)
                {
                    report.links.push((zone.clone(), link.to_path_buf()));
                }
            }
        }
        if let Some(paths) = external::path_changes(&report, "found at start-up") {
            external::log_paths_outcome(self.committer.commit_paths(paths));
        }
    }

    /// At start-up, before anything else is committed: the write log's
    /// records whose serials HEAD lacks (answered writes a crash kept out
    /// of git) are committed in order, each under its writer, with the
    /// text that write produced (HEAD's version plus its changes). What
    /// cannot be committed stays in the log for the next start. See
    /// [`writelog`].
    fn recover_logged(&self) {
        let taken = self
            .recover
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .take();
        let Some((log, entries)) = taken else {
            return;
        };
        let mut zones: Vec<(Name, Vec<writelog::Entry>)> = Vec::new();
        // Records never to commit: set aside for a person, with why.
        let mut aside: Vec<(writelog::Entry, String)> = Vec::new();
        let mut complete = true;
        for e in entries {
            let Ok(zone) = Name::from_ascii(&e.zone) else {
                aside.push((e, "it names no valid zone".into()));
                continue;
            };
            match zones.iter_mut().find(|(z, _)| *z == zone) {
                Some((_, list)) => list.push(e),
                None => zones.push((zone, vec![e])),
            }
        }
        for (zone, entries) in zones {
            match self.recover_zone(&zone, entries, &mut aside) {
                Ok(0) => {}
                Ok(n) => info!(
                    zone = %zone, commits = n,
                    "committed writes answered before a crash, from the write log, under their writers"
                ),
                Err(why) => {
                    error!(
                        zone = %zone,
                        "cannot commit the writes the write log holds for this zone ({why}); \
                         they stay in {} for the next start",
                        log.path().display()
                    );
                    self.committer.hold_until_restart(format!(
                        "the write log holds answered writes of zone {zone} that git would not \
                         record at start-up ({why}); nothing is committed, and writes are \
                         refused, until they are: make the repository usable and restart \
                         zonewright"
                    ));
                    complete = false;
                }
            }
        }
        if !aside.is_empty() {
            let git_dir = log.path().parent().and_then(Path::parent);
            let (entries, reasons): (Vec<_>, Vec<_>) = aside.into_iter().unzip();
            match git_dir.map(|d| writelog::set_aside(d, &entries)) {
                Some(Ok(file)) => {
                    for (e, why) in entries.iter().zip(&reasons) {
                        error!(
                            zone = %e.zone, serial = e.new_serial, actor = %e.actor,
                            "write log: a record is not committed ({why}); set aside in {}",
                            file.display()
                        );
                    }
                }
                Some(Err(e)) => {
                    error!(
                        "write log: cannot set aside the records that are not committed ({e}); \
                         they stay in {}",
                        log.path().display()
                    );
                    complete = false;
                }
                None => complete = false,
            }
        }
        if !complete {
            log.keep();
            return;
        }
        if let Err(e) = log.truncate_if_committed() {
            warn!("cannot empty the write log {}: {e}", log.path().display());
        }
    }

    /// For each of `entries` (one zone's write-log records), whether a
    /// commit of it is on HEAD's first-parent line (among its last
    /// [`HISTORY_COMMITS`]): authored by its writer, with its `Serial:`
    /// trailer (`Serial: OLD -> NEW` under a summary naming the zone, or
    /// `Serial: ZONE OLD -> NEW` in a commit of several zones), made no
    /// earlier than the record was logged (round 56: a commit of an
    /// earlier write, reverted by hand so that the serials repeated, was
    /// taken for the new write's, and the new write was lost).
    fn records_in_head(&self, zone: &Name, entries: &[writelog::Entry]) -> Vec<bool> {
        let mut held = vec![false; entries.len()];
        let repo = self.repo.lock().unwrap_or_else(|p| p.into_inner());
        let Some(repo) = repo.as_ref() else {
            return held;
        };
        let (plain, absolute) = (audit::plain(zone), zone.to_ascii());
        let head = format!("{plain}:");
        // Older commits cannot hold a record logged since.
        let oldest = entries
            .iter()
            .map(|e| e.at)
            .collect::<Option<Vec<i64>>>()
            .and_then(|at| at.into_iter().min());
        let walked = git::each_commit_message(repo, HISTORY_COMMITS, |author, message, time, _| {
            if oldest.is_some_and(|o| time < o) {
                return true;
            }
            let single = message.starts_with(&head);
            for (e, held) in entries.iter().zip(held.iter_mut()) {
                if *held || logged_author(&e.actor) != author || e.at.is_some_and(|at| time < at) {
                    continue;
                }
                let (old, new) = (e.old_serial, e.new_serial);
                let own = single
                    && message
                        .lines()
                        .any(|l| l == format!("Serial: {old} -> {new}"));
                let grouped = || {
                    message
                        .lines()
                        .any(|l| l == format!("Serial: {absolute} {old} -> {new}"))
                };
                *held = own || grouped();
            }
            held.iter().all(|h| *h)
        });
        if let Err(e) = walked {
            warn!(zone = %zone, "cannot read git's history to find the write log's records in it ({e}): each is committed again");
        }
        held
    }

    /// Commits `entries` (one zone's records, oldest first) that HEAD
    /// lacks; returns how many commits that made. The records of a zone
    /// no longer served go to `aside`: nothing could record them.
    fn recover_zone(
        &self,
        zone: &Name,
        entries: Vec<writelog::Entry>,
        aside: &mut Vec<(writelog::Entry, String)>,
    ) -> Result<usize, String> {
        // HEAD's version of the zone's file: the file the writes went to,
        // as their record names it; else the zone file as found (HEAD's
        // link followed in HEAD's tree: where the writes went if the link
        // was pointed elsewhere while the server was down), where it is
        // served from, or under the naming rule (the file renamed, or
        // deleted, while the server was down). The writes are committed
        // on the file git knows, before start-up records the rename, the
        // deletion or the link's new target.
        let zones_dir = self.state.config().zones_dir.clone();
        let named = zones_dir.join(format!("{}{}", audit::plain(zone), loader::ZONE_SUFFIX));
        let loaded = self.current(zone).ok();
        // Only a path a write of this zone could have recorded: plain
        // names inside zones_dir (written files are never outside it), not
        // another zone's file by name or by what the zones read now (a
        // log edited by hand); the others below still find this zone's.
        let recorded = entries
            .iter()
            .rev()
            .find_map(|e| e.files.first())
            .map(Path::new)
            .filter(|f| {
                f.components()
                    .all(|c| matches!(c, std::path::Component::Normal(_)))
            })
            .map(|f| zones_dir.join(f))
            .filter(|f| {
                let name = f.file_name().and_then(|n| n.to_str());
                name.and_then(loader::zone_file_origin)
                    .is_none_or(|origin| origin == *zone)
            });
        // HEAD holds a record when a commit of it under its writer is on
        // HEAD's line: HEAD's serial says nothing of that, as a person may
        // have committed the file, with a serial of their own, while the
        // server was down (round 55: records were skipped because a
        // person's commit had raised the serial past theirs, and writes
        // answered NOERROR were lost). A record the zone file lacks (a
        // person put an older version back) is committed all the same:
        // it was answered, and the start-up's take-in of the file
        // re-applies it like any write of the rebase window (the log is
        // trusted as the rest of `.git` is).
        let held = self.records_in_head(zone, &entries);
        let mut pending: Vec<writelog::Entry> = entries
            .into_iter()
            .zip(held)
            .filter_map(|(e, held)| (!held).then_some(e))
            .collect();
        // The candidates: the path the records name, the zone's file now,
        // and, for records that name no file (a log of an older
        // zonewright), `NAME.zone` unless another zone reads it now (round
        // 59: with relative names, another zone's `NAME.zone` parsed as
        // this zone, and the records went into that zone's file and were
        // lost; round 60: a leftover copy no zone reads took them).
        let theirs = |p: &Path| !self.state.lock().other_readers(zone, p).is_empty();
        let named = Some(named).filter(|n| recorded.is_none() && !theirs(n));
        let candidates: Vec<PathBuf> = recorded
            .iter()
            .cloned()
            .chain(
                loaded
                    .iter()
                    .flat_map(|(source, _)| [source.listed().to_path_buf(), source.path.clone()]),
            )
            .chain(named)
            .collect();
        // Of the candidates HEAD has, the one whose version is the one the
        // first record was written on, by these in turn:
        // - it is this zone's file with the apex serial the record was
        //   written on (2), or at least this zone's file (1), or not (0);
        // - its blob is the one the record's path had in git when the
        //   record was logged (a person's commit moved it: `git mv`, a swap);
        // - the most lines in common with that version (a person's commit
        //   moved and edited it: round 60, a swap and an edit of both
        //   files in one commit);
        // - no commit touched it since the record was logged (a swap left
        //   uncommitted: round 59, the other zone's file, with relative
        //   names and the same serial, looked the same);
        // - the path the record names; then the order above.
        // Round 58: with zone files swapped while the server was down, the
        // path the zone is read from now holds the other zone's version in
        // git, and the records went onto it, and were lost.
        // A copy left behind: a file on disk no zone reads now, beside the
        // file this zone is read from (round 61: `cp a.db a2.db`, the copy
        // edited and configured, took the key's commit onto the old file).
        let leftovers: Vec<PathBuf> = candidates
            .iter()
            .filter(|c| {
                let read_here = loaded.iter().any(|(source, _)| {
                    same_place(c, &source.path) || same_place(c, source.listed())
                });
                c.is_file() && !read_here && {
                    let guard = self.state.lock();
                    guard.other_readers(zone, c).is_empty()
                }
            })
            .cloned()
            .collect();
        let base_serial = pending.first().map(|e| e.old_serial);
        let logged_at = pending.first().and_then(|e| e.at);
        let fit = |at: &Path, text: &str| -> u8 {
            let file = at.display().to_string();
            let parsed =
                crate::zonefile::Document::parse(&file, text, zone, &crate::zonefile::NoIncludes);
            match parsed.ok().and_then(|d| apex_serial(&d, zone)) {
                Some(serial) if Some(serial) == base_serial => 2,
                Some(_) => 1,
                None => 0,
            }
        };
        let (path, head) = {
            let repo = self.repo.lock().unwrap_or_else(|p| p.into_inner());
            let repo = repo.as_ref().ok_or("no git repository")?;
            let (touched, was) = match (logged_at, &recorded) {
                (Some(at), Some(rec)) => git::since(repo, rec, at, HISTORY_COMMITS)
                    .unwrap_or_else(|e| {
                        warn!(zone = %zone, "cannot read git's history since the write log's records: {e}");
                        Default::default()
                    }),
                _ => Default::default(),
            };
            // The lines of the version the record's path had then.
            let was_text = was
                .and_then(|id| repo.find_blob(id).ok())
                .map(|b| String::from_utf8_lossy(b.content()).into_owned())
                .unwrap_or_default();
            let was_lines: std::collections::HashSet<&str> = was_text.lines().collect();
            // (not a leftover, fit, same blob, lines in common, untouched,
            // named by the record)
            type Score = (bool, u8, bool, usize, bool, bool);
            let mut found: Option<(Score, PathBuf, String)> = None;
            let mut failed = None;
            for path in &candidates {
                match git::head_file(repo, path, usize::MAX) {
                    Ok(Some((at, text))) => {
                        let blob = git2::Oid::hash_object(git2::ObjectType::Blob, text.as_bytes());
                        let same_blob = was.is_some() && blob.ok() == was;
                        let untouched = logged_at.is_some()
                            && git::relative(repo, &at).is_ok_and(|r| !touched.contains(&r));
                        let named_by_record = recorded.as_ref() == Some(path);
                        let common = text.lines().filter(|l| was_lines.contains(l)).count();
                        let score = (
                            !leftovers.contains(path),
                            fit(&at, &text),
                            same_blob,
                            common,
                            untouched,
                            named_by_record,
                        );
                        if found.as_ref().is_none_or(|(best, _, _)| score > *best) {
                            found = Some((score, at, text));
                        }
                    }
                    Ok(None) => {}
                    Err(e) => failed = Some(e.to_string()),
                }
            }
            match (found, failed) {
                (Some((_, at, text)), _) => (at, Some(text)),
                (None, Some(e)) => return Err(e),
                (None, None) => (
                    loaded
                        .as_ref()
                        .map(|(source, _)| source.path.clone())
                        .unwrap_or_default(),
                    None,
                ),
            }
        };
        let loaded = loaded.map(|(_, l)| l);
        if pending.is_empty() {
            return Ok(0);
        }
        // Only the records git lacks are set aside (round 57: those
        // already committed were listed at ERROR too).
        if loaded.is_none() && head.is_none() {
            aside.extend(pending.into_iter().map(|e| {
                (
                    e,
                    "the zone is not served, and git has no file for it".into(),
                )
            }));
            return Ok(0);
        }
        // Git has no file for the zone (its file moved, or was deleted in
        // git, while the server was down): the records go onto the
        // version git last had of the file they were written to, put back
        // first (an `external change` of the committer), so each record's
        // commit holds its write and nothing else; the take-in that
        // follows sees what the person changed (round 56: the file as
        // found was committed under a message naming writes it lacked;
        // round 57: onto the file as found, a person's lines and another
        // key's write went into a key's commit, and a write that no
        // longer applied was undone).
        let restored = match (&head, &loaded) {
            (None, Some(l)) if l.document.texts().len() == 1 => {
                let repo = self.repo.lock().unwrap_or_else(|p| p.into_inner());
                repo.as_ref().and_then(|r| {
                    candidates.iter().find_map(|c| {
                        git::last_committed_text(r, c, usize::MAX, HISTORY_COMMITS)
                            .ok()
                            .flatten()
                    })
                })
            }
            _ => None,
        };
        if let Some(text) = &restored {
            let serial = crate::zonefile::Document::parse(
                &path.display().to_string(),
                text,
                zone,
                &crate::zonefile::NoIncludes,
            )
            .ok()
            .and_then(|d| apex_serial(&d, zone))
            .unwrap_or_default();
            self.committer.commit_now(committer::Job {
                files: vec![committer::WrittenFile {
                    path: path.clone(),
                    text: Arc::new(text.clone()),
                    stat: None,
                    blob: None,
                }],
                record: committer::Record::taken_in(
                    zone,
                    (serial, serial),
                    ChangeSet::default(),
                    0,
                ),
                logged: false,
            })?;
        }
        let base = head.as_deref().or(restored.as_deref());
        let parsed = base.and_then(|text| {
            let file = path.display().to_string();
            crate::zonefile::Document::parse(&file, text, zone, &crate::zonefile::NoIncludes).ok()
        });
        // Each record's version: HEAD's, plus the changes of the records
        // before it and its own, committed one by one. A zone of several
        // files (`$INCLUDE`), more than MAX_REPLAY records, or records
        // that do not apply to HEAD's text: the files as they are now, in
        // one commit naming every record's changes.
        let single = loaded
            .as_ref()
            .is_none_or(|l| l.document.texts().len() == 1)
            && pending.len() <= MAX_REPLAY;
        if let Some(mut doc) = parsed.filter(|_| single) {
            let mut made = 0;
            for e in &pending {
                let Some((next, text)) = replay(&doc, zone, e) else {
                    break;
                };
                self.committer.commit_now(committer::Job {
                    files: vec![committer::WrittenFile {
                        path: path.clone(),
                        text,
                        stat: None,
                        blob: None,
                    }],
                    record: logged_record(zone, std::slice::from_ref(&e)),
                    logged: true,
                })?;
                doc = next;
                made += 1;
            }
            if made == pending.len() {
                return Ok(made);
            }
            pending.drain(..made);
        }
        let Some(loaded) = loaded else {
            // No file to commit the rest from.
            aside.extend(pending.into_iter().map(|e| {
                let why = "the zone is not served, and its changes do not apply to git's \
                                   version of its file";
                (e, why.into())
            }));
            return Ok(0);
        };
        let refs: Vec<&writelog::Entry> = pending.iter().collect();
        let mut files: Vec<committer::WrittenFile> = loaded
            .document
            .texts()
            .into_iter()
            .map(|(name, text)| committer::WrittenFile {
                path: PathBuf::from(name),
                text: Arc::new(text.to_owned()),
                stat: None,
                blob: None,
            })
            .collect();
        // The zone is served from another file than the one the writes
        // went to (its link pointed elsewhere while the server was down):
        // that one holds them, the served one is the person's.
        if head.is_some() && !files.iter().any(|f| same_file(&f.path, &path)) {
            let limit = self.state.config().server.max_zone_file_size;
            let text = read_text(&path, limit)
                .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
            files = vec![committer::WrittenFile {
                path: path.clone(),
                text: Arc::new(text),
                stat: None,
                blob: None,
            }];
        }
        self.committer.commit_now(committer::Job {
            files,
            record: logged_record(zone, &refs),
            logged: true,
        })?;
        Ok(1)
    }

    /// Whether HEAD's zone file for `source` leads to the file it is read
    /// from now (its links followed in HEAD's tree).
    fn head_reads(&self, source: &ZoneSource) -> bool {
        let repo = self.repo.lock().unwrap_or_else(|p| p.into_inner());
        repo.as_ref()
            .and_then(|r| git::head_path(r, source.listed()).ok().flatten())
            .is_some_and(|at| same_file(&at, &source.path))
    }

    /// At start-up, for a zone whose writes are refused (so its serial
    /// cannot be raised): a WARN when it is served with a serial not above
    /// the version HEAD has for it, which secondaries would not fetch (its
    /// link pointed at another zone's file while the server was down).
    fn warn_if_serial_back(
        &self,
        zone: &Name,
        source: &ZoneSource,
        current: &Loaded,
        limit: usize,
    ) {
        let head = {
            let repo = self.repo.lock().unwrap_or_else(|p| p.into_inner());
            repo.as_ref()
                .and_then(|r| git::head_text(r, source.listed(), limit).ok().flatten())
        };
        let Some(head) = head.filter(|h| h.as_str() != current.document.main_text()) else {
            return;
        };
        let name = source.listed().display().to_string();
        let Ok(doc) =
            crate::zonefile::Document::parse(&name, &head, zone, &crate::zonefile::NoIncludes)
        else {
            return;
        };
        let was = apex_serial(&doc, zone);
        let now = current.zone.serial();
        if let Some(was) = was.filter(|w| !Serial(now).is_after(Serial(*w))) {
            warn!(
                zone = %zone, served = now, committed = was, file = %source.path.display(),
                "zone served with a serial not above the one git has for it, and its writes are refused, so it cannot be raised: secondaries will not fetch this version"
            );
        }
    }

    /// See [`Inner::commit_external_changes`]. `Ok(true)`: taken in and
    /// written; `Ok(false)`: nothing to do here (clean, never committed,
    /// unreadable HEAD: committed as found); `Err`: conflicts.
    fn take_in_at_start(
        &self,
        zone: &Name,
        source: &ZoneSource,
        current: &Loaded,
        shared: bool,
    ) -> Result<bool, ()> {
        let limit =
            usize::try_from(self.state.config().server.max_zone_file_size).unwrap_or(usize::MAX);
        let written_to = {
            let repo = self.repo.lock().unwrap_or_else(|p| p.into_inner());
            repo.as_ref().and_then(|r| self.written_to(r, zone, source))
        };
        // Another zone's last written version, as it was: served as it
        // reads, nothing re-applied to it or committed.
        if self
            .foreign
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .contains_key(zone)
        {
            return Err(());
        }
        if source.read_only.is_some() || shared {
            self.warn_if_serial_back(zone, source, current, limit);
            let moved = written_to.is_some() || {
                let repo = self.repo.lock().unwrap_or_else(|p| p.into_inner());
                repo.as_ref()
                    .is_some_and(|r| git::head_path(r, source.listed()).ok().flatten().is_none())
            };
            if moved {
                self.warn_writes_not_found(zone, source);
            }
            return Ok(false);
        }
        // The zone's last committed version: the version its last write
        // of the window left in the file it went to, when it is read from
        // another file now (see `written_to`); else where HEAD's zone file
        // leads, which is not `source.path` when its link was pointed at
        // another file while the server was down.
        let head = if let Some((from, commit)) = &written_to {
            let repo = self.repo.lock().unwrap_or_else(|p| p.into_inner());
            let rel = repo.as_ref().and_then(|r| git::relative(r, from).ok());
            let text = repo
                .as_ref()
                .zip(rel)
                .and_then(|(r, rel)| git::text_at(r, *commit, &rel, limit).ok().flatten());
            drop(repo);
            match &text {
                Some(_) => info!(
                    zone = %zone, from = %from.display(), to = %source.path.display(),
                    "the zone is read from another file than the one its last write went \
                     to (moved, or swapped with another zone's, while the server was down): \
                     its writes are taken from that file's version in git"
                ),
                None => self.warn_writes_not_found(zone, source),
            }
            text
        } else {
            let repo = self.repo.lock().unwrap_or_else(|p| p.into_inner());
            repo.as_ref()
                .and_then(|r| git::head_text(r, source.listed(), limit).ok().flatten())
        };
        // HEAD has no file where the zone is read now, and no trailer
        // says where its writes went (commits of an older zonewright): the
        // version its writes went to, if its `[[zone]] file` moved while
        // the server was down (round 55: the moved file, an older copy,
        // was committed as found, and the writes it lacked were lost).
        let head = head.or_else(|| {
            if written_to.is_some() {
                return None;
            }
            let own = self.own_repo(zone)?;
            let Some(from) = self.moved_from(&own, zone, source) else {
                self.warn_writes_not_found(zone, source);
                return None;
            };
            let text = git::head_text(&own, &from, limit).ok().flatten()?;
            info!(
                zone = %zone, from = %from.display(), to = %source.path.display(),
                "the zone file moved while the server was down: its writes are taken from the file git has"
            );
            Some(text)
        });
        let Some(head) = head else {
            return Ok(false);
        };
        let text = Some(current.document.main_text().to_owned());
        if text.as_deref() == Some(head.as_str()) {
            return Ok(false);
        }
        let rules = loader::FileRules::new(&self.state.config());
        let includes = loader::FsIncludes::new(&rules);
        let name = source.path.display().to_string();
        let Ok(document) = crate::zonefile::Document::parse(&name, &head, zone, &includes) else {
            return Ok(false);
        };
        let records = document
            .records()
            .map(|(rr, loc)| (rr.clone(), loc.clone()))
            .collect();
        let Ok((head_zone, _)) = Zone::build(zone.clone(), records) else {
            return Ok(false);
        };
        let served = Loaded {
            document: Arc::new(document).into(),
            zone: Arc::new(head_zone),
            // No file has this version: every write and reload looks at
            // the file again.
            files: Vec::new(),
            warnings: Vec::new(),
        };
        let Ok(_flock) = fsio::ZoneFileLock::acquire(&source.path) else {
            return Ok(false);
        };
        // Nothing to write back (no write of the window missing, the
        // serial above HEAD's or kept): served as it is, and committed
        // with the other zones found changed, in one commit.
        let (plan, serials) = self.plan_take_in(zone, source, &served, current);
        if !self.must_write_back(&plan, serials) {
            self.recent
                .record(zone, edit_entry(plan.edit, serials.saved));
            if !serials.above() {
                warn!(
                    zone = %zone, saved = serials.saved, served = serials.served,
                    "an edit saved the zone with a serial not above the one committed; \
                     secondaries will not fetch it ([serial] external = \"keep\")"
                );
            }
            return Ok(false);
        }
        match self.take_in(zone, source, &served, current.clone()) {
            Ok(Some(_)) => Ok(true),
            Ok(None) => Ok(false),
            Err(_) => {
                self.state.lock().set(source.clone(), Ok(served));
                Err(())
            }
        }
    }
}

/// A WARN for each record `added` that queries will never see: at or
/// below a delegation in the zone (the query gets the referral; an ACME
/// challenge written into the parent for a delegated name fails this
/// way). The delegation's own NS and DS, and glue (an A or AAAA at a name
/// its NS records name), are what such names are for. Written all the
/// same (RFC 2136 has no rcode for it, and BIND accepts it too): the WARN
/// says why it is not seen. (A write below a DNAME is refused before.)
fn warn_unanswered(zone: &Zone, added: &[crate::rr::Rr], req: &WriteRequest) {
    use crate::rr::RecordType as T;
    for rr in added {
        let key = crate::zone::NameKey::new(&rr.name);
        let crate::zone::Lookup::Referral(cut) = zone.lookup(&key, rr.rtype) else {
            continue;
        };
        let at_cut = rr.name == cut.name;
        let glue = matches!(rr.rtype, T::A | T::AAAA)
            && cut
                .rrset(T::NS)
                .is_some_and(|ns| ns.targets.iter().flatten().any(|t| *t == rr.name));
        if glue || (at_cut && matches!(rr.rtype, T::NS | T::DS)) {
            continue;
        }
        warn!(
            zone = %req.zone, actor = %req.actor, via = req.via,
            "{} {} is at or below the delegation at {}: written, but queries for it get a \
             referral to that zone's servers instead",
            rr.name, rr.rtype, cut.name,
        );
    }
    // A delegation added over records already there hides them the same
    // way (round 52): one WARN per new cut, with how many it hides.
    for cut in added
        .iter()
        .filter(|r| r.rtype == T::NS && r.name != *zone.origin())
        .map(|r| &r.name)
        .collect::<std::collections::BTreeSet<_>>()
    {
        // Addresses are left out: they may be glue for the new NS.
        let hidden = zone
            .records()
            .filter(|r| cut.zone_of(&r.name))
            .filter(|r| !added.iter().any(|a| a.same_rr(r)))
            .filter(|r| !(r.name == *cut && matches!(r.rtype, T::NS | T::DS)))
            .filter(|r| !matches!(r.rtype, T::A | T::AAAA))
            .count();
        if hidden > 0 {
            warn!(
                zone = %req.zone, actor = %req.actor, via = req.via,
                "the delegation added at {cut} hides {hidden} record(s) already at or below it: \
                 queries for them now get a referral to that zone's servers"
            );
        }
    }
}

/// The serial of `doc`'s SOA at `zone`'s apex, if it has one.
fn apex_serial(doc: &crate::zonefile::Document, zone: &Name) -> Option<u32> {
    doc.records()
        .find(|(r, _)| r.rtype == crate::rr::RecordType::SOA && r.name == *zone)
        .and_then(|(r, _)| crate::rr::soa_timers(&r.rdata))
        .map(|t| t.serial)
}

/// The text of the regular file `path` (not a link), at most `limit`
/// bytes of UTF-8.
fn read_text(path: &Path, limit: u64) -> Result<String, String> {
    let (file, meta) = loader::open_regular(path, false)?;
    let bytes = loader::read_bounded(&file, meta.len(), limit)
        .map_err(|e| e.to_string())?
        .ok_or_else(|| format!("larger than {limit} bytes"))?;
    String::from_utf8(bytes).map_err(|_| "not UTF-8 text".to_string())
}

/// Whether `a` and `b` name one file on disk (both exist).
fn same_file(a: &Path, b: &Path) -> bool {
    use std::os::unix::fs::MetadataExt;
    match (std::fs::metadata(a), std::fs::metadata(b)) {
        (Ok(a), Ok(b)) => (a.dev(), a.ino()) == (b.dev(), b.ino()),
        _ => false,
    }
}

/// Whether `a` and `b` name the same path, also when nothing is there
/// (the same name in the same folder, however each is spelled).
fn same_place(a: &Path, b: &Path) -> bool {
    if a == b {
        return true;
    }
    let folder = |p: &Path| p.parent().and_then(|d| std::fs::canonicalize(d).ok());
    a.file_name() == b.file_name() && folder(a).is_some_and(|d| Some(d) == folder(b))
}

/// See [`Inner::named`].
type Named = std::collections::HashMap<String, Option<(PathBuf, git2::Oid)>>;

/// The outcome of one try at a batch.
enum Attempt {
    Done(Vec<Reply>),
    /// The file changed on disk under us: read it again and retry.
    Raced,
}

/// Each write's answer now, or `None` when it waits for the commit.
type Results = Vec<Option<Result<WriteOutcome, WriteError>>>;

/// A batch's change applied: the change (with the new serial), the serials,
/// the edited document, the files' new text, the new zone and its warnings.
struct Edited {
    changes: ChangeSet,
    old: u32,
    new: u32,
    document: crate::zonefile::Document,
    rendered: crate::zonefile::Rendered,
    zone: Zone,
    warnings: Vec<crate::zonefile::ZoneError>,
}

/// What [`Inner::install`] notes in the recent writes.
enum Note {
    /// A batch written.
    Write(Name, recent::Entry),
    /// An edit taken in: its own change, then what was re-applied on top
    /// of it, if anything.
    TakenIn(Name, Vec<recent::Entry>),
}

impl Note {
    fn record_in(self, recent: &recent::Recent) {
        match self {
            Note::Write(zone, entry) => recent.record(&zone, entry),
            Note::TakenIn(zone, entries) => {
                for entry in entries {
                    recent.record(&zone, entry);
                }
            }
        }
    }
}

/// What [`Inner::install`] publishes.
struct Published {
    document: crate::zonefile::Document,
    zone: Zone,
    warnings: Vec<crate::zonefile::ZoneError>,
}

/// Why files were not installed.
enum Interrupted {
    /// A file changed on disk under us: read it again and retry.
    Raced,
    Io(std::io::Error),
}

impl From<std::io::Error> for Interrupted {
    fn from(e: std::io::Error) -> Interrupted {
        Interrupted::Io(e)
    }
}

/// How long a write waits for another process to finish writing the zone
/// file (see [`loader::Writer`]) before it fails.
const WRITER_WAIT: Duration = Duration::from_secs(5);

/// Waits (at most [`WRITER_WAIT`]) until no other process has one of the
/// zone's files open for writing: a file written in pieces is read whole,
/// and the write is not renamed over it while the writer's output still
/// goes to it (it would go to a file nobody reads). After the wait, the
/// write fails (SERVFAIL, REST 500) naming the process.
fn wait_for_writers(loaded: &Loaded) -> Result<(), WriteError> {
    let paths: Vec<&Path> = loaded.files.iter().map(|(p, _)| p.as_path()).collect();
    let deadline = std::time::Instant::now() + WRITER_WAIT;
    loop {
        let Some(w) = loader::writer_of(&paths) else {
            return Ok(());
        };
        if std::time::Instant::now() >= deadline {
            return Err(WriteError::Failed(format!(
                "{w} since more than {}s; not writing over it (write zone files by rename, \
                 or in one go)",
                WRITER_WAIT.as_secs()
            )));
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Folds `next` into `merged`, both relative to the zone before the batch:
/// an RR added then removed (or removed then added back) cancels out.
/// An edit taken in, as an entry of the recent history (so an edit saved
/// on a version before it gets it back: no saved edit is lost either).
fn edit_entry(changes: ChangeSet, serial: u32) -> recent::Entry {
    recent::Entry {
        at: Instant::now(),
        changes,
        actor: committer::EXTERNAL_ACTOR.into(),
        via: committer::EXTERNAL,
        serial,
    }
}

/// Sorts records to re-apply in the order the served version's file has
/// them: appended in that order, they sit as they did (a record moved in
/// the file would show in `git log -p` as removed and added again, and
/// `git blame` would credit it to the edit, hiding it from the ACME
/// sweep). Records it does not have keep their order, after the others.
fn in_served_order(add: &mut [crate::rr::Rr], served: &Loaded) {
    if add.len() < 2 {
        return;
    }
    let key = |rr: &crate::rr::Rr| {
        (
            crate::zone::NameKey::new(&rr.name).as_bytes().to_vec(),
            u16::from(rr.rtype),
            crate::rr::canonical(rr.rtype, &rr.rdata).into_owned(),
        )
    };
    let wanted: std::collections::HashSet<_> = add.iter().map(key).collect();
    let Ok(document) = served.document.get() else {
        return;
    };
    let position: std::collections::HashMap<_, usize> = document
        .records()
        .map(|(rr, _)| key(rr))
        .filter(|k| wanted.contains(k))
        .enumerate()
        .map(|(i, k)| (k, i))
        .collect();
    add.sort_by_key(|rr| position.get(&key(rr)).copied().unwrap_or(usize::MAX));
}

/// A `Via:` read back from git, as one of the writers' names.
fn known_via(via: Option<&str>) -> &'static str {
    const KNOWN: [&str; 6] = [
        "rfc2136",
        "rest",
        "expiry",
        committer::EXTERNAL,
        committer::EDIT,
        committer::ROLLBACK,
    ];
    via.and_then(|v| KNOWN.iter().find(|k| **k == v).copied())
        .unwrap_or("git")
}

/// The serial of an edit found on disk, and of the version served.
#[derive(Clone, Copy)]
struct Serials {
    saved: u32,
    served: u32,
}

impl Serials {
    /// RFC 1982: the edit's serial is above the served one.
    fn above(self) -> bool {
        Serial(self.saved).is_after(Serial(self.served))
    }
}

/// Writes named one by one in the WARN of an edit taken in.
const LISTED_WRITES: usize = 10;

/// The WARN for an edit taken in with writes re-applied or its serial
/// raised.
fn log_taken_in(zone: &Name, source: &ZoneSource, plan: &recent::Plan, s: Serials, new: u32) {
    if plan.missing.is_empty() {
        warn!(
            zone = %zone, saved = s.saved, served = s.served, raised_to = new,
            "an edit saved the zone with a serial not above the one served (a hand edit that \
             kept the serial, or an older version checked out); raised it so secondaries \
             fetch it"
        );
        return;
    }
    warn!(
        zone = %zone, file = %source.path.display(), serial = %format!("{} -> {new}", s.saved),
        "an edit saved over the zone file lacked {} write(s) made within the rebase window; \
         re-applied them on top of it: {}",
        plan.writes.len(), listed(&plan.writes)
    );
}

/// `writes` for a log line: the first [`LISTED_WRITES`] and the last, so
/// one line stays short whatever the window held (round 47: 1,419 writes
/// made a 60,000-character line).
fn listed(writes: &[recent::Entry]) -> String {
    let describe = |w: &recent::Entry| match w.serial {
        // Read back from git (see seed_recent).
        0 => format!("a commit by {} via {}", w.actor, w.via),
        s => format!("serial {s} by {} via {}", w.actor, w.via),
    };
    let mut list: Vec<String> = writes.iter().take(LISTED_WRITES).map(describe).collect();
    if let Some(last) = writes.get(LISTED_WRITES..).and_then(<[_]>::last) {
        let more = writes.len() - LISTED_WRITES;
        list.push(format!("{more} more, the last {}", describe(last)));
    }
    list.join("; ")
}

/// The write log's writers, and the records a crash left in it (see
/// [`writelog`]): the log is written to only with `acknowledge = "log"`,
/// but a log left by an earlier run in that mode is read in any mode.
type LogAndLeft = (
    Option<Arc<writelog::WriteLog>>,
    Option<(Arc<writelog::WriteLog>, Vec<writelog::Entry>)>,
);

fn open_write_log(
    repo: Option<&git2::Repository>,
    acknowledge: crate::config::Acknowledge,
) -> LogAndLeft {
    let Some(repo) = repo else {
        return (None, None);
    };
    let logging = acknowledge == crate::config::Acknowledge::Log;
    let left = std::fs::metadata(writelog::path_in(repo.path())).is_ok_and(|m| m.len() > 0);
    if !logging && !left {
        return (None, None);
    }
    match writelog::WriteLog::open(repo.path()) {
        Ok((log, found)) => {
            let log = Arc::new(log);
            let left = (!found.is_empty()).then(|| (log.clone(), found));
            (logging.then_some(log), left)
        }
        Err(e) => {
            error!(
                "cannot open the write log {}: {e}; writes are answered after their git commit",
                writelog::path_in(repo.path()).display()
            );
            (None, None)
        }
    }
}

/// Most write-log records of one zone start-up commits one by one (each
/// a parse-free edit of the last version); beyond, one commit.
const MAX_REPLAY: usize = 1000;

/// The version `record` produces from `doc`, and its main file's text
/// (`None` when it does not apply: its records are not zone-file lines,
/// or the edit refuses them).
fn replay(
    doc: &crate::zonefile::Document,
    zone: &Name,
    record: &writelog::Entry,
) -> Option<(crate::zonefile::Document, Arc<String>)> {
    // Never below the serial the version has (a person's commit made
    // while the server was down may have raised it past the record's).
    let serial = apex_serial(doc, zone)
        .is_none_or(|at| Serial(record.new_serial).is_after(Serial(at)))
        .then_some(record.new_serial);
    let changes = ChangeSet {
        add: logged_rrs(&record.add, zone)?,
        remove: logged_rrs(&record.remove, zone)?,
        serial,
    };
    let (next, _) = doc.apply(&changes).ok()?;
    let text = next.files().first()?.text.clone();
    Some((next, text))
}

/// The git author name a write-log record's writer is committed under: no
/// angle brackets or line breaks (the log is in `.git`, where anyone could
/// edit it), `unknown` for none.
fn logged_author(actor: &str) -> String {
    let name = actor.replace(['<', '>', '\n', '\r', '\0'], " ");
    match name.trim() {
        "" => "unknown".to_owned(),
        name => name.to_owned(),
    }
}

/// The RRs of a write-log record's lines (owners absolute).
fn logged_rrs(lines: &[String], zone: &Name) -> Option<Vec<crate::rr::Rr>> {
    let text = lines.join("\n");
    let doc =
        crate::zonefile::Document::parse("write log", &text, zone, &crate::zonefile::NoIncludes)
            .ok()?;
    let rrs: Vec<crate::rr::Rr> = doc.records().map(|(r, _)| r.clone()).collect();
    (rrs.len() == lines.len()).then_some(rrs)
}

/// The commit record of `entries` (one zone's write-log records, in
/// order): one record's writer, or, for several, the last one's with
/// every change listed.
fn logged_record(zone: &Name, entries: &[&writelog::Entry]) -> committer::Record {
    let mut changes = ChangeSet::default();
    let mut clients = Vec::new();
    for e in entries {
        changes
            .add
            .extend(logged_rrs(&e.add, zone).unwrap_or_default());
        changes
            .remove
            .extend(logged_rrs(&e.remove, zone).unwrap_or_default());
        for c in e
            .clients
            .iter()
            .filter_map(|c| c.parse::<SocketAddr>().ok())
        {
            if !clients.contains(&c) {
                clients.push(c);
            }
        }
    }
    let (first, last) = (entries.first(), entries.last());
    committer::Record {
        zone: zone.clone(),
        changes,
        old_serial: first.map_or(0, |e| e.old_serial),
        new_serial: last.map_or(0, |e| e.new_serial),
        // A git author name: no angle brackets or line breaks (the log is
        // in `.git`, where anyone could edit it).
        actor: last.map_or_else(|| "unknown".to_owned(), |e| logged_author(&e.actor)),
        clients,
        requests: entries.iter().map(|e| e.requests).sum(),
        via: known_via(last.map(|e| e.via.as_str())),
        file: None,
    }
}

/// The files a write installed, as the committer records them.
fn written_files(
    rendered: crate::zonefile::Rendered,
    stats: Vec<git::Stat>,
) -> Vec<committer::WrittenFile> {
    rendered
        .files
        .into_iter()
        .zip(stats)
        .map(|((path, text), stat)| committer::WrittenFile {
            path: PathBuf::from(path),
            text,
            stat: Some(stat),
            blob: None,
        })
        .collect()
}

/// Whether taking in `saved` (found on disk over `served`) writes to the
/// file: writes of the window it lacks, or a serial to raise. The
/// reloader then leaves it to the store ([`Store::take_in`]).
fn needs_writing(
    recent: &recent::Recent,
    raise: bool,
    zone: &Name,
    served: &Loaded,
    saved: &Loaded,
) -> bool {
    // The version served, back as it was (a file moved away and back, an
    // `$INCLUDE` that went missing and returned): nothing to take in; the
    // reloader serves it, which ends the failure it had (round 28: the
    // zone stayed failed, and was read again every pass).
    if saved.document.texts() == served.document.texts() {
        return false;
    }
    let (was, shown) = (saved.zone.serial(), served.zone.serial());
    // Not seeded yet (the first edit since a start): the store reads the
    // writes before the start back from git.
    !recent.is_seeded(zone)
        || (raise && !Serial(was).is_after(Serial(shown)))
        || !recent
            .plan(zone, &served.zone, &saved.zone, Instant::now())
            .missing
            .is_empty()
}

fn merge(merged: &mut ChangeSet, next: ChangeSet) {
    // The same RR (owner without case, type, canonical RDATA) and TTL,
    // looked up in a map: a change of 200,000 removes and adds (a pull, a
    // REST state push) was quadratic here.
    type Key = (String, u16, Vec<u8>, u32);
    let key = |r: &crate::rr::Rr| -> Key {
        (
            r.name.to_lowercase().to_ascii(),
            u16::from(r.rtype),
            crate::rr::canonical(r.rtype, &r.rdata).into_owned(),
            r.ttl,
        )
    };
    let index = |list: &[Option<crate::rr::Rr>]| {
        let mut at: std::collections::HashMap<Key, std::collections::VecDeque<usize>> =
            Default::default();
        for (i, r) in list.iter().enumerate() {
            if let Some(r) = r {
                at.entry(key(r)).or_default().push_back(i);
            }
        }
        at
    };
    let mut add: Vec<Option<crate::rr::Rr>> = std::mem::take(&mut merged.add)
        .into_iter()
        .map(Some)
        .collect();
    let mut remove: Vec<Option<crate::rr::Rr>> = std::mem::take(&mut merged.remove)
        .into_iter()
        .map(Some)
        .collect();
    let (mut add_at, mut remove_at) = (index(&add), index(&remove));
    // As before: a remove cancels the earliest equal add, an add the
    // earliest equal remove (its own write's too); else each is kept.
    for r in next.remove {
        let k = key(&r);
        match add_at.get_mut(&k).and_then(|q| q.pop_front()) {
            Some(i) => add[i] = None,
            None => {
                remove_at.entry(k).or_default().push_back(remove.len());
                remove.push(Some(r));
            }
        }
    }
    for a in next.add {
        let k = key(&a);
        match remove_at.get_mut(&k).and_then(|q| q.pop_front()) {
            Some(i) => remove[i] = None,
            None => {
                add_at.entry(k).or_default().push_back(add.len());
                add.push(Some(a));
            }
        }
    }
    merged.add = add.into_iter().flatten().collect();
    merged.remove = remove.into_iter().flatten().collect();
}

/// The zone after `changes`, validated: what the next write in a batch is
/// computed on.
fn next_zone(zone: &Zone, changes: &ChangeSet) -> Result<Zone, String> {
    zone.with_changes(changes, &pending_location())
        .map(|(z, _)| z)
        .map_err(|errs| first_message(&errs))
}

/// Where records added by a write are said to be in messages, until the
/// zone is next read from its file.
fn pending_location() -> crate::rr::Location {
    crate::rr::Location {
        file: Arc::from("(this write)"),
        line: 0,
        col: 0,
    }
}

fn first_message(errs: &[crate::zonefile::ZoneError]) -> String {
    errs.first()
        .map(|e| e.message.clone())
        .unwrap_or_else(|| "invalid zone".into())
}

#[cfg(test)]
mod tests;
