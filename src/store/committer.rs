//! The store's committer: one thread per store that records each written
//! batch in git, in the order the batches were written, while the writer
//! already works on the next batch.
//!
//! # Design
//!
//! ```text
//! writer (holds the zone's turn)        committer thread (FIFO)
//!   batch N: edit, write, fsync,
//!   rename, publish, submit(N) ───────▶ commit N from the text written
//!   turn released                        (blob from memory, not the file)
//!   batch N+1: edit, write, ...          done(N) ──▶ batch N's writes
//!   submit(N+1) ──────────────────────▶ commit N+1     are answered
//! ```
//!
//! A write is answered only after its commit is made, so invariant 1 holds
//! (NOERROR means the change is in git under its author); what the
//! pipeline buys is that batch N+1's
//! disk write overlaps batch N's commit instead of waiting for it. Commits
//! are made from the bytes the writer wrote, so batch N's commit records
//! batch N's version even when the file on disk is already N+1's, and one
//! thread makes them in queue order, so history follows the serials.
//!
//! The queue order is the order in which the versions were *published*,
//! not the order in which their commits happen to be sent: whoever
//! publishes a version (a write, the store taking in an edit, the
//! reloader serving one) takes a place in the queue ([`Ticket`]) under the
//! served set's lock, and sends the commit through that place later (after
//! the directory fsync, or the reload pass). What is sent through a later
//! place waits until the earlier ones are given up:
//!
//! ```text
//! reloader: publish edit E, take place 7 ─┐      (slow to send: a pass
//! write W on top of E: publish, place 8   │       over other zones)
//!   send W at 8: waits ───────────────────┼──▶ thread gets E (7), then W (8)
//! reloader: send E at 7, give up 7 ───────┘
//! ```
//!
//! Without it, W's commit went first and E's, sent later, removed W's
//! records in `git log -p`; the next write's commit added them again.
//!
//! When commits fall behind the writes (a burst of UPDATEs), the batches
//! queued for one zone from the same actor and writer are recorded as one
//! commit (git-level group commit): its message lists every RR each batch
//! added and removed, in order, with the serial range and the number of
//! requests, and its tree is the last batch's version. The index is
//! written when the queue is empty, before that commit is answered, not
//! once per commit.
//!
//! # When git fails
//!
//! A commit that cannot be made (a ref lock held by a live process, a
//! read-only `.git`, a full disk) is never answered as success. The batch
//! is answered [`Outcome::Failed`] (SERVFAIL, a REST 5xx), and its zone is
//! *blocked*: the batches already written on top of it fail too, since
//! their files hold its change, and their changes are kept in
//! [`Blocked`]. Before the next write to the zone, the store undoes every
//! blocked change with a compensating write (a new serial, so secondaries
//! that took the failed version follow) whose job, via [`ROLLBACK`], lifts
//! the block. Nothing answered SERVFAIL stays in the file or reaches git
//! under anyone else's name.
//!
//! ```text
//!   job N   commit fails ──► Failed; zone blocked {N}
//!   job N+1 (written on N) ──► Failed; blocked {N, N+1}
//!   store, next turn: barrier (queue drained), undo N+1 then N, write,
//!   job R (via rollback) ──► block lifted; commit R
//! ```

use std::collections::HashMap;
use std::net::SocketAddr;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, mpsc};
use std::time::Duration;

use tokio::sync::watch;
use tracing::{error, info, warn};

use super::audit::{self, Provenance};
use super::writelog::WriteLog;
use crate::git::{self, Identity};
use crate::rr::{ChangeSet, Name};
use crate::zonefile::stored::Stored;

/// A file version the writer installed (or the reloader read): what the
/// commit records.
pub struct WrittenFile {
    pub path: PathBuf,
    /// Shared with the document served (see `zonefile::parse::FileDoc`).
    pub text: Arc<String>,
    /// The file's stat as written, for the index entry; `None` for a
    /// version read from disk earlier (see [`git::Written::stat`]).
    pub stat: Option<git::Stat>,
    /// The text's blob, when already written to the object database
    /// (see [`Committer::submit`]); `None`: the committer writes it.
    pub blob: Option<git2::Oid>,
}

/// The writer of a change nobody made through zonewright.
pub const EXTERNAL: &str = "external";
/// The `Via:` of an external change made with `zonewright edit`.
pub const EDIT: &str = "edit";
/// The actor of an `external change` nobody named.
pub const EXTERNAL_ACTOR: &str = "external change";

/// What one batch changed and who asked: the commit message's content.
pub struct Record {
    pub zone: Name,
    pub changes: ChangeSet,
    pub old_serial: u32,
    pub new_serial: u32,
    pub actor: String,
    pub clients: Vec<SocketAddr>,
    pub requests: usize,
    pub via: &'static str,
    /// The zone's own file (the one its `$INCLUDE`s are read from) as
    /// written, for the commit's `File:` trailer; `None`: the first file
    /// of the commit (a person's edit, whose files are the document's,
    /// that one first).
    pub file: Option<PathBuf>,
}

impl Record {
    fn external(zone: &Name, serial: u32) -> Record {
        Record::taken_in(zone, (serial, serial), ChangeSet::default(), 0)
    }

    /// An `external change` whose serial went from `old` to `new` with
    /// `reapplied` (the records of `writes` writes the saved file lacked)
    /// written on top (see `store::recent`).
    pub fn taken_in(
        zone: &Name,
        (old, new): (u32, u32),
        reapplied: ChangeSet,
        writes: usize,
    ) -> Record {
        Record {
            zone: zone.clone(),
            changes: reapplied,
            old_serial: old,
            new_serial: new,
            actor: EXTERNAL_ACTOR.into(),
            clients: Vec::new(),
            requests: writes,
            via: EXTERNAL,
            file: None,
        }
    }

    /// Can `next` be recorded in the same commit (same zone, author and
    /// writer, and the serial continues)?
    fn joins(&self, next: &Record) -> bool {
        self.via != EXTERNAL
            && self.zone == next.zone
            && self.actor == next.actor
            && self.via == next.via
            && self.new_serial == next.old_serial
    }

    /// Appends `next`: every RR it added and removed is listed after this
    /// one's (an add then a remove both stay in the record).
    fn append(&mut self, next: Record) {
        self.changes.add.extend(next.changes.add);
        self.changes.remove.extend(next.changes.remove);
        self.new_serial = next.new_serial;
        for c in next.clients {
            if !self.clients.contains(&c) {
                self.clients.push(c);
            }
        }
        self.requests += next.requests;
    }

    /// The person who made an external change with `zonewright edit`
    /// (see `store::offline`), if one did.
    pub fn person(&self) -> Option<&str> {
        (self.via == EXTERNAL && self.actor != EXTERNAL_ACTOR).then_some(self.actor.as_str())
    }

    /// The commit message; `file`: the zone's file (as in the repository)
    /// for the `File:` trailer.
    fn message(&self, file: Option<&str>) -> String {
        let who = Provenance {
            actor: &self.actor,
            clients: self.clients.clone(),
            requests: self.requests,
            via: if self.person().is_some() {
                EDIT
            } else {
                self.via
            },
        };
        let mut m = if self.via == EXTERNAL {
            let serials = (self.old_serial, self.new_serial);
            audit::external_message(&self.zone, serials, &self.changes, self.requests, &who)
        } else {
            audit::message(
                &self.zone,
                &self.changes,
                self.old_serial,
                self.new_serial,
                &who,
            )
        };
        if let Some(f) = file {
            m.trailers.push(("File", f.to_owned()));
        }
        m.to_string()
    }
}

/// A file's path in the repository as a `File:` trailer gives it: `None`
/// for one no trailer can carry (a line break, not UTF-8), which then
/// has none.
fn trailer_path(rel: &Path) -> Option<String> {
    rel.to_str()
        .filter(|p| !p.is_empty() && !p.contains(['\n', '\r']))
        .map(str::to_owned)
}

/// The message of one commit recording `records` (one per zone, in the
/// order written; one author, one writer): a single zone's message as
/// [`Record::message`]; several zones' (writes of one key to many zones,
/// committed together when commits lag the writes) a summary line, then
/// each zone's summary and RR lines, then one set of trailers with a
/// `Serial:` per zone.
///
/// `files` holds each record's zone file (as in the repository), for the
/// `File:` trailers: `File: PATH` under a single zone's message, `File:
/// ZONE PATH` per zone in a group's. Start-up reads them back to find the
/// file a zone's writes went to when the zone is read from another file
/// now (zone files swapped or moved while the server was down: round 56).
fn group_message(records: &[Record], files: &[Option<String>]) -> String {
    let [first, ..] = records else {
        return String::new();
    };
    if records.len() == 1 {
        return first.message(files.first().and_then(|f| f.as_deref()));
    }
    let zones: Vec<String> = records
        .iter()
        .map(|r| crate::rdata::name_to_text(&r.zone, None))
        .collect();
    let writes: usize = records.iter().map(|r| r.requests.max(1)).sum();
    let mut listed = zones.iter().take(3).cloned().collect::<Vec<_>>().join(" ");
    if zones.len() > 3 {
        listed.push_str(&format!(" and {} more", zones.len() - 3));
    }
    let mut out = format!(
        "{}: {writes} writes to {} zones ({listed})\n",
        first.actor,
        records.len()
    );
    let mut clients: Vec<SocketAddr> = Vec::new();
    for r in records {
        let who = Provenance {
            actor: &r.actor,
            clients: r.clients.clone(),
            requests: r.requests,
            via: r.via,
        };
        let m = audit::message(&r.zone, &r.changes, r.old_serial, r.new_serial, &who);
        out.push_str(&format!("\n{}\n", m.summary.trim()));
        let lines = m.added.iter().map(|l| ("+", l));
        let lines = lines.chain(m.removed.iter().map(|l| ("-", l)));
        for (sign, line) in lines.clone().take(git::MAX_MESSAGE_RRS) {
            out.push_str(&format!("{sign} {line}\n"));
        }
        let more = lines.count().saturating_sub(git::MAX_MESSAGE_RRS);
        if more > 0 {
            out.push_str(&format!(
                "... and {more} more (the commit's diff has every one)\n"
            ));
        }
        for c in &r.clients {
            if !clients.contains(c) {
                clients.push(*c);
            }
        }
    }
    out.push_str(&format!(
        "\nActor: {}\n",
        first.actor.replace(['\n', '\r'], " ")
    ));
    for c in clients.iter().filter(|c| !c.ip().is_unspecified()) {
        out.push_str(&format!("Client: {c}\n"));
    }
    if writes > 1 {
        out.push_str(&format!("Requests: {writes}\n"));
    }
    out.push_str(&format!("Via: {}\n", first.via));
    for r in records {
        out.push_str(&format!(
            "Serial: {} {} -> {}\n",
            crate::rdata::name_to_text(&r.zone, None),
            r.old_serial,
            r.new_serial
        ));
    }
    for (r, f) in records.iter().zip(files) {
        if let Some(f) = f {
            out.push_str(&format!(
                "File: {} {f}\n",
                crate::rdata::name_to_text(&r.zone, None)
            ));
        }
    }
    out
}

/// One batch's commit.
pub struct Job {
    pub files: Vec<WrittenFile>,
    pub record: Record,
    /// The write was answered on the strength of its record in the write
    /// log (`[git] acknowledge = "log"`): its commit is never rolled back,
    /// but held and retried until git takes it (see [`super::writelog`]).
    pub logged: bool,
}

impl Job {
    /// Records `document` (every file of it, as it was read) as an
    /// `external change` of `zone` at `serial`: an edit made outside
    /// zonewright that the reloader or the store found on disk. Queued
    /// like any write, it lands in history between the writes made before
    /// the edit and those made on top of it, with exactly the text read.
    pub fn external(zone: &Name, serial: u32, document: &Stored) -> Job {
        let files = document
            .shared_texts()
            .into_iter()
            .map(|(name, text)| WrittenFile {
                path: PathBuf::from(name),
                text,
                stat: None,
                blob: None,
            })
            .collect();
        Job {
            files,
            record: Record::external(zone, serial),
            logged: false,
        }
    }

    /// The same job, authored by `person` (noted by `zonewright edit`).
    pub fn by(mut self, person: Option<String>) -> Job {
        if let Some(p) = person {
            self.record.actor = p;
        }
        self
    }
}

/// The message of an `external change` commit of `zone` at `serial`.
pub fn external_message(zone: &Name, serial: u32) -> String {
    Record::external(zone, serial).message(None)
}

/// How a batch's commit ended.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// Recorded in git: the commit id (`None`: HEAD already held exactly
    /// these bytes, so there was nothing to record).
    Committed(Option<String>),
    /// Not recorded, and why (logged at ERROR). The write must not be
    /// acknowledged; the store rolls it back.
    Failed(Arc<str>),
}

/// `None` until the commit is done.
type Done = Option<Outcome>;

/// The writer of a compensating write that undoes batches git could not
/// record (see the module docs).
pub const ROLLBACK: &str = "rollback";

/// A zone with batches written but not committed: every later batch of it
/// fails too (it holds their change), until a [`ROLLBACK`] job.
#[derive(Clone, Debug)]
pub struct Blocked {
    /// Why the first of them failed.
    pub reason: Arc<str>,
    /// What each failed batch changed, oldest first: the store undoes them
    /// newest first.
    pub changes: Vec<ChangeSet>,
}

/// The commit a batch's writes wait for.
#[derive(Clone)]
pub struct Pending {
    rx: watch::Receiver<Done>,
    /// Set by the first of the batch's writers that gave up waiting, so the
    /// warning is logged once per batch.
    warned: Arc<AtomicBool>,
}

impl Pending {
    /// How the commit ended. A commit slower than `limit` is waited for
    /// all the same (answering before it would acknowledge a write that
    /// is not in git), with one WARN per batch saying so.
    pub async fn wait(mut self, limit: Duration) -> Outcome {
        let slow = tokio::time::timeout(limit, self.rx.wait_for(Option::is_some))
            .await
            .map(|done| done.map(|d| d.clone()));
        let done = match slow {
            Ok(done) => done,
            Err(_) => {
                if !self.warned.swap(true, Ordering::Relaxed) {
                    warn!(
                        "git commit not done after {limit:?}; the write waits for it \
                         (queries are not affected)"
                    );
                }
                self.rx.wait_for(Option::is_some).await.map(|d| d.clone())
            }
        };
        match done {
            Ok(Some(outcome)) => outcome,
            // The committer is gone (it logged why).
            Ok(None) | Err(_) => Outcome::Failed("the git committer stopped".into()),
        }
    }

    /// The outcome, once the commit is done (no limit, no warning: for
    /// those that follow the commit, not the writer waiting on it).
    pub async fn done(mut self) -> Outcome {
        match self.rx.wait_for(Option::is_some).await.map(|d| d.clone()) {
            Ok(Some(outcome)) => outcome,
            Ok(None) | Err(_) => Outcome::Failed("the git committer stopped".into()),
        }
    }

    /// The outcome if the commit is done, without waiting.
    pub fn outcome(&self) -> Option<Outcome> {
        self.rx.borrow().clone()
    }

    /// A pending commit that is already settled (a commit made directly,
    /// and the fallback when the committer is gone).
    pub fn settled(outcome: Outcome) -> Pending {
        let (_, rx) = watch::channel(Some(outcome));
        Pending {
            rx,
            warned: Arc::new(AtomicBool::new(false)),
        }
    }
}

/// A job on the queue, with where its outcome goes.
type Queued = (Job, watch::Sender<Done>);

/// What the committer thread is asked to do, in queue order.
enum Msg {
    /// Commit this job (maybe together with the jobs queued after it).
    Job(Box<Queued>),
    /// Signal once every message queued before this one is handled.
    Barrier(mpsc::Sender<()>),
    /// Lift the zone's block without a commit: its rollback changed
    /// nothing (the failed changes were already gone from the file).
    Unblock(Name),
    /// Record the files of many zones found changed in one commit by the
    /// server (see [`Committer::commit_found`]).
    Found(
        Vec<Name>,
        Vec<WrittenFile>,
        String,
        mpsc::Sender<Result<Option<String>, String>>,
    ),
    /// Record zone files a person deleted or turned into links (see
    /// [`Committer::commit_paths`]).
    Paths(Box<Paths>, mpsc::Sender<Result<Option<String>, String>>),
    /// Make this job's commit now, under its actor, and say how it went
    /// (start-up's commits of the write log's records).
    Now(Box<Job>, mpsc::Sender<Result<Option<String>, String>>),
    /// Make a pull's merge commit (see [`Committer::commit_merge`]).
    Merge(Box<Merge>, mpsc::Sender<Result<Option<String>, String>>),
    /// The files served at start-up (see [`Committer::seed`]).
    Seed(Vec<WrittenFile>),
}

/// Zone files a person deleted or turned into symbolic links, to record
/// (see [`Committer::commit_paths`]).
pub struct Paths {
    /// The zones they were (or are) the files of.
    pub zones: Vec<Name>,
    /// Each path, and the zone it is (or was) the file of.
    pub changes: Vec<(PathBuf, git::PathChange)>,
    pub owners: Vec<Name>,
    /// How they were found (`found by a reload`), for the message.
    pub what: String,
}

/// A pull's merge commit: HEAD and `theirs` as parents, HEAD's tree with
/// `files` (paths relative to the work tree, written to disk already)
/// put in, `None` removed.
pub struct Merge {
    pub theirs: git2::Oid,
    pub files: Vec<(PathBuf, Option<git2::Oid>)>,
    pub message: String,
}

/// The zones with batches git could not record.
type BlockedZones = Arc<Mutex<HashMap<Name, Blocked>>>;

/// Most batches one commit records.
const MAX_GROUP: usize = 256;
/// Most file text the logged batches gathered for one round may hold (see
/// [`gather_logged`]): each holds its files' full text (3 MB for a zone of
/// 100,000 records).
const GATHER_BYTES: usize = 64 << 20;

/// The bytes of file text a job holds.
fn job_bytes(job: &Job) -> usize {
    job.files.iter().map(|f| f.text.len()).sum()
}

/// Most commits waiting in the queue. Each holds its files' full text, so
/// the bound bounds memory: a writer that finds the queue full waits (in
/// its zone's turn, on its blocking thread) until the committer catches up.
const QUEUE: usize = 32;

/// How long dropping the committer (at shutdown) waits for the commits
/// still queued.
const DRAIN_LIMIT: Duration = Duration::from_secs(10);

/// The committer thread's queue, and the places taken in it (see
/// [`Committer::ticket`]).
struct Queue {
    /// The number of the next place: taken without the lock below, so
    /// taking a place (under the served set's lock) never waits for a
    /// sender blocked on a full queue.
    next: std::sync::atomic::AtomicU64,
    order: Mutex<Order>,
    /// `None` once the committer is dropped (or its thread never started).
    tx: Mutex<Option<mpsc::SyncSender<Msg>>>,
}

/// The places taken in the queue, numbered in the order taken.
#[derive(Default)]
struct Order {
    /// The oldest place still held: what is sent through it goes to the
    /// thread at once; what is sent through a later one waits here.
    head: u64,
    /// Messages sent through places behind the head, in order.
    waiting: std::collections::BTreeMap<u64, Vec<Msg>>,
    /// Places given up behind the head.
    given_up: std::collections::BTreeSet<u64>,
}

impl Queue {
    fn take(self: &Arc<Self>) -> Ticket {
        let place = self.next.fetch_add(1, Ordering::Relaxed);
        Ticket {
            place,
            queue: self.clone(),
        }
    }

    /// Sends `msg` at `at`'s place (`None`: a place of its own, taken and
    /// given up at once). Waits while the thread's queue is full. Gives
    /// `msg` back when it was sent at once and the thread is gone (one
    /// that waits and finds the thread gone is dropped: its caller sees
    /// its answer channel closed).
    fn send(&self, at: Option<&Ticket>, msg: Msg) -> Result<(), Msg> {
        let mut order = self.order.lock().unwrap_or_else(|p| p.into_inner());
        let place = match at {
            Some(t) => t.place,
            None => {
                let place = self.next.fetch_add(1, Ordering::Relaxed);
                order.given_up.insert(place);
                place
            }
        };
        let sent = if place == order.head {
            self.deliver(msg)
        } else {
            order.waiting.entry(place).or_default().push(msg);
            Ok(())
        };
        self.advance(&mut order);
        sent
    }

    /// Gives up `place`, and sends what waited behind it.
    fn give_up(&self, place: u64) {
        let mut order = self.order.lock().unwrap_or_else(|p| p.into_inner());
        order.given_up.insert(place);
        self.advance(&mut order);
    }

    /// Moves the head past the places given up, sending what each place
    /// it reaches had waiting, in order. Bounded by the places taken.
    fn advance(&self, order: &mut Order) {
        loop {
            let head = order.head;
            for msg in order.waiting.remove(&head).unwrap_or_default() {
                let _ = self.deliver(msg);
            }
            if !order.given_up.remove(&head) {
                return;
            }
            order.head += 1;
        }
    }

    fn deliver(&self, msg: Msg) -> Result<(), Msg> {
        let tx = self.tx.lock().unwrap_or_else(|p| p.into_inner());
        match tx.as_ref() {
            Some(tx) => tx.send(msg).map_err(|e| e.0),
            None => Err(msg),
        }
    }

    /// Closes the thread's queue: it ends once it has handled what was
    /// sent. What waits behind a place still held is dropped.
    fn close(&self) {
        drop(self.tx.lock().unwrap_or_else(|p| p.into_inner()).take());
    }
}

/// A place in the commit order (see [`Committer::ticket`]); given up when
/// dropped.
pub struct Ticket {
    place: u64,
    queue: Arc<Queue>,
}

impl Drop for Ticket {
    fn drop(&mut self) {
        self.queue.give_up(self.place);
    }
}

impl std::fmt::Debug for Ticket {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Ticket({})", self.place)
    }
}

/// The queue of commits and the thread that makes them.
pub struct Committer {
    queue: Arc<Queue>,
    zones_dir: PathBuf,
    /// Zones whose writes git could not record (shared with the thread).
    blocked: BlockedZones,
    /// A handle of its own on the same repository, for the writers'
    /// look at its state (HEAD detached, a merge under way): the thread
    /// holds `repo` for a whole commit, and a write must not wait for a
    /// commit of another zone (or its own, answered from the write log).
    checker: Mutex<Option<git2::Repository>>,
    /// When [`Committer::check_repo`] last found the repository usable: a
    /// write within [`CHECK_REUSE`] of it takes that answer.
    checked_ok: Mutex<Option<std::time::Instant>>,
    health: Arc<Health>,
    /// Closed by the thread when it ends (in a mutex only to be `Sync`).
    finished: Mutex<Option<mpsc::Receiver<()>>>,
}

impl Drop for Committer {
    /// Closes the queue and waits (bounded) for the thread to commit what
    /// is queued, so a shutdown records every write it answered.
    fn drop(&mut self) {
        self.queue.close();
        let finished = self
            .finished
            .get_mut()
            .unwrap_or_else(|p| p.into_inner())
            .take();
        if let Some(finished) = finished
            && let Err(mpsc::RecvTimeoutError::Timeout) = finished.recv_timeout(DRAIN_LIMIT)
        {
            warn!(
                "git commits still queued after {DRAIN_LIMIT:?} at shutdown; \
                 the files are on disk and are committed at the next start"
            );
        }
    }
}

/// Who the commits name besides the actor.
pub struct Names {
    /// The committer of every commit.
    pub committer: Identity,
    /// Domain part of authors' addresses: `acme-key <zonewright@HOST>`.
    pub host: String,
    /// Each commit of a write is made on the version of each file the
    /// committer last recorded (see [`git::OnTop`]). Off with `[git]
    /// commit_external = false`, where the server does not record a
    /// person's edit, so what it last recorded is not what the file held.
    pub on_top: bool,
}

impl Committer {
    /// Starts the committer thread over `repo` (`None`: the zones directory
    /// is no repository; every job then fails with that reason, logged).
    pub fn start(
        repo: Arc<Mutex<Option<git2::Repository>>>,
        zones_dir: PathBuf,
        names: Names,
        log: Option<Arc<WriteLog>>,
    ) -> Committer {
        let (tx, rx) = mpsc::sync_channel::<Msg>(QUEUE);
        let (finished_tx, finished) = mpsc::channel::<()>();
        let dir = zones_dir.clone();
        let blocked = BlockedZones::default();
        let thread_blocked = blocked.clone();
        let health = Arc::new(Health::default());
        let (thread_repo, thread_health) = (repo.clone(), health.clone());
        let checker = {
            let guard = repo.lock().unwrap_or_else(|p| p.into_inner());
            guard
                .as_ref()
                .and_then(|r| git2::Repository::open(r.path()).ok())
        };
        let spawned = std::thread::Builder::new()
            .name("git-committer".into())
            .spawn(move || {
                let blocked = &thread_blocked;
                let log = log.as_deref();
                run(
                    &rx,
                    &thread_repo,
                    &dir,
                    &names,
                    blocked,
                    &thread_health,
                    log,
                );
                drop(finished_tx);
            });
        let tx = match spawned {
            Ok(_) => Some(tx),
            Err(e) => {
                error!("cannot start the git committer thread: {e}; writes will be refused");
                None
            }
        };
        Committer {
            queue: Arc::new(Queue {
                next: Default::default(),
                order: Mutex::default(),
                tx: Mutex::new(tx),
            }),
            zones_dir,
            blocked,
            checker: Mutex::new(checker),
            checked_ok: Mutex::new(None),
            health,
            finished: Mutex::new(Some(finished)),
        }
    }

    /// Sends `msg` behind everything queued and every place taken
    /// ([`Committer::ticket`]); gives it back when the thread is gone.
    fn send(&self, msg: Msg) -> Result<(), Msg> {
        self.queue.send(None, msg)
    }

    /// A place in the commit order, taken now: what is sent through it
    /// ([`Committer::submit_at`], [`Committer::commit_found_at`]) is
    /// committed after everything sent or placed before it, and before
    /// anything sent or placed after it, whenever it is sent. Take it
    /// under the served set's lock where a version is published, so the
    /// commits follow the order in which the versions were served (a
    /// reload's edit, published before a write computed on top of it,
    /// was committed after that write when the reload's thread was slow
    /// to queue it: the edit's commit undid the write in `git log -p`, and
    /// the next write's commit added it again). The place is given up
    /// when the ticket is dropped; meanwhile, what comes after it waits,
    /// so never wait on a commit sent after it while holding it.
    pub fn ticket(&self) -> Ticket {
        self.queue.take()
    }

    /// Queues `job` behind the commits already submitted; waits while the
    /// queue is full. Call it from a blocking thread.
    ///
    /// An `external change` (a file the reloader read, up to any size) has
    /// its blobs written here, on the caller's thread: hashing and
    /// compressing a 200 MB zone file takes seconds, and on the committer
    /// thread every other zone's writes would wait behind it (issue 12
    /// item 6). The committer then only builds the tree and the commit.
    pub fn submit(&self, job: Job) -> Pending {
        self.submit_at(None, job)
    }

    /// Writes `text`'s blob to the repository now, on the caller's thread,
    /// when it is large enough for [`Committer::submit`] to write it before
    /// queueing an external change (a later write of it only hashes it and
    /// finds it there). Nothing is waited for; a failure is left to that
    /// write to report.
    pub fn prewrite_blob(&self, text: &str) {
        if text.len() < PREHASH_MIN {
            return;
        }
        if let Ok(repo) = git2::Repository::open(&self.zones_dir) {
            let _ = repo.blob(text.as_bytes());
        }
    }

    /// [`Committer::submit`] at `at`'s place in the order (`None`: behind
    /// everything).
    pub fn submit_at(&self, at: Option<&Ticket>, mut job: Job) -> Pending {
        if job.record.via == EXTERNAL && job.files.iter().any(|f| f.text.len() >= PREHASH_MIN) {
            prehash(&self.zones_dir, &mut job.files);
        }
        let (done, rx) = watch::channel(None);
        if let Err(Msg::Job(refused)) = self.queue.send(at, Msg::Job(Box::new((job, done)))) {
            let (job, _) = *refused;
            let why = "the git committer thread is not running";
            log_failure(
                &self.zones_dir,
                &job.files,
                (job.record.via, job.logged),
                why,
            );
            return Pending::settled(Outcome::Failed(why.into()));
        }
        Pending {
            rx,
            warned: Arc::new(AtomicBool::new(false)),
        }
    }

    /// Commits made and commits refused since start, and why git refuses
    /// commits now (`None` while it takes them, as far as the last commit
    /// or check saw).
    pub fn stats(&self) -> (u64, u64, Option<String>) {
        let h = &self.health;
        // Looked at now, not only at the next commit: a HEAD detached or a
        // merge begun while no write came is seen here. (Read only: the
        // committer thread's own check logs it and takes the held commits
        // once it is over.)
        let now = {
            let guard = self.checker.lock().unwrap_or_else(|p| p.into_inner());
            guard
                .as_ref()
                .and_then(|r| git::state::usable(r).err().map(|e| e.to_string()))
        };
        let held = h.unusable.lock().unwrap_or_else(|p| p.into_inner()).clone();
        let stuck = h.stuck.lock().unwrap_or_else(|p| p.into_inner()).clone();
        let why = stuck.or(now).or(held);
        let why = why.or_else(|| {
            let failing = h.failing.lock().unwrap_or_else(|p| p.into_inner());
            failing
                .as_ref()
                .map(|e| format!("the last commit failed ({e}); the next one may succeed"))
        });
        let waiting = self.waiting();
        let why = why.or_else(|| {
            (waiting > 0).then(|| {
                format!("{waiting} answered writes wait in the write log for git to record them")
            })
        });
        let blocked = self.blocked.lock().unwrap_or_else(|p| p.into_inner());
        let why = why.or_else(|| {
            blocked
                .iter()
                .next()
                .map(|(z, b)| format!("a commit to {z} failed ({}); not rolled back yet", b.reason))
        });
        (
            h.made.load(Ordering::Relaxed),
            h.refused.load(Ordering::Relaxed),
            why,
        )
    }

    /// The failed batches of `zone` not yet rolled back, if any. Complete
    /// only after a [`Committer::barrier`] (batches queued earlier may
    /// still fail).
    /// The zones with writes in the file that git could not record, each
    /// waiting for its rollback.
    pub fn blocked_zones(&self) -> Vec<Name> {
        self.blocked
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .keys()
            .cloned()
            .collect()
    }

    pub fn blocked(&self, zone: &Name) -> Option<Blocked> {
        self.blocked
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(zone)
            .cloned()
    }

    /// Records `files` (the zone files of `zones`, found changed at
    /// start-up or by a reload, as read) in one commit with `message`,
    /// authored by the server, after everything queued before; waits for
    /// it. `Err` when git fails, and, without trying, when one of the
    /// zones has a commit git could not make yet (held, or blocked): the
    /// caller then records each zone on its own, in order after it.
    pub fn commit_found(
        &self,
        zones: Vec<Name>,
        files: Vec<WrittenFile>,
        message: String,
    ) -> Result<Option<String>, String> {
        self.commit_found_at(None, zones, files, message)
    }

    /// [`Committer::commit_found`] at `at`'s place in the order.
    pub fn commit_found_at(
        &self,
        at: Option<&Ticket>,
        zones: Vec<Name>,
        files: Vec<WrittenFile>,
        message: String,
    ) -> Result<Option<String>, String> {
        let mut files = files;
        if files.len() >= PACK_MIN {
            prehash_packed(&self.zones_dir, &mut files);
        }
        let (tx, rx) = mpsc::channel();
        self.queue
            .send(at, Msg::Found(zones, files, message, tx))
            .map_err(|_| "the committer has stopped".to_owned())?;
        rx.recv()
            .map_err(|_| "the committer has stopped".to_owned())?
    }

    /// Notes `files` (each zone file served, as read at start-up) as the
    /// versions the committer recorded where HEAD holds them, so a branch
    /// later moved back past them, or without them, is caught (see
    /// [`git::OnTop`]) before any write: otherwise a writer's commit made
    /// on such a branch adds the whole file under the writer's name
    /// (round 43). Not waited for.
    pub fn seed(&self, files: Vec<WrittenFile>) {
        let _ = self.send(Msg::Seed(files));
    }

    /// Records, after everything queued before it and by the configured
    /// committer, the zone files a person deleted or turned into symbolic
    /// links (as [`git::commit_paths`] takes them), and waits for it:
    /// HEAD then holds what is on disk, so a
    /// clone serves what this server serves. The logged writes of those
    /// zones git lacks are committed first (the file they wrote must not
    /// come back after its removal); while one of them is held, nothing is
    /// recorded.
    pub fn commit_paths(&self, paths: Paths) -> Result<Option<String>, String> {
        let (tx, rx) = mpsc::channel();
        self.send(Msg::Paths(Box::new(paths), tx))
            .map_err(|_| "the committer has stopped".to_owned())?;
        rx.recv()
            .map_err(|_| "the committer has stopped".to_owned())?
    }

    /// Makes a pull's merge commit after everything queued before it, by
    /// the configured committer, and waits for it. Refused while a commit
    /// git could not make is held (a person's edit, a logged write, a
    /// blocked zone): the pull is tried again later.
    pub fn commit_merge(&self, merge: Merge) -> Result<Option<String>, String> {
        let (tx, rx) = mpsc::channel();
        self.send(Msg::Merge(Box::new(merge), tx))
            .map_err(|_| "the committer has stopped".to_owned())?;
        rx.recv()
            .map_err(|_| "the committer has stopped".to_owned())?
    }

    /// Writes answered from the write log that git has not recorded yet
    /// (held while git refuses commits; the store refuses new writes
    /// meanwhile, so that what waits stays bounded).
    pub fn waiting(&self) -> usize {
        self.health.waiting.load(Ordering::Relaxed)
    }

    /// Makes `job`'s commit (under its actor) after everything queued
    /// before, and waits for it; never rolls anything back. Start-up
    /// commits the write log's records this way.
    pub fn commit_now(&self, job: Job) -> Result<Option<String>, String> {
        let (tx, rx) = mpsc::channel();
        self.send(Msg::Now(Box::new(job), tx))
            .map_err(|_| "the committer has stopped".to_owned())?;
        rx.recv()
            .map_err(|_| "the committer has stopped".to_owned())?
    }

    /// Returns once every job submitted before it has its outcome. Call
    /// it from a blocking thread.
    pub fn barrier(&self) {
        let (tx, rx) = mpsc::channel();
        if self.send(Msg::Barrier(tx)).is_ok() {
            // An error means the thread ended: nothing is left to wait for.
            let _ = rx.recv();
        }
    }

    /// `Err` with the reason (logged once, at ERROR) while the repository
    /// must not be committed on: HEAD detached, or a merge, rebase ... under
    /// way (see `git::state`). The store asks before it writes anything,
    /// so such a write fails with nothing written; the thread asks again
    /// before each commit, for a change in between (that write then fails
    /// and is rolled back like any whose commit failed).
    ///
    /// A look that found the repository usable is taken again for
    /// [`CHECK_REUSE`]: a look costs about twenty system calls (git's
    /// state files, its config, HEAD) under one lock every writer shares,
    /// and 8 clients writing at once queued behind it. The thread's own
    /// look before each commit is never skipped, so a rebase begun in
    /// that window holds the commit (log mode: answered, committed once
    /// the rebase is over) or fails the write (commit mode) as before.
    pub fn check_repo(&self) -> Result<(), String> {
        let mut last = self.checked_ok.lock().unwrap_or_else(|p| p.into_inner());
        if last.is_some_and(|at| at.elapsed() < CHECK_REUSE) {
            return Ok(());
        }
        let checked = self.health.check(&self.checker);
        *last = checked.is_ok().then(std::time::Instant::now);
        checked
    }

    /// Commits nothing more in this run, and refuses writes with `why`:
    /// the write log holds answered writes that start-up could not commit
    /// (git refused). Committing anything else first (a person's edit
    /// found on reload, a later write) would put their records into a
    /// commit under another name, and the next start, finding their
    /// serials in HEAD, would drop them (round 34, HIGH). They stay in
    /// the log, and the next start commits them under their writers.
    pub fn hold_until_restart(&self, why: String) {
        *self.health.stuck.lock().unwrap_or_else(|p| p.into_inner()) = Some(why);
    }

    /// Blocks `zone` for a batch that is in the file and served but that
    /// cannot be answered with success (its rename could not be made
    /// durable): the zone's next write first rolls it back, as it does a
    /// batch git refused.
    pub fn block_written(&self, zone: &Name, reason: &str, change: ChangeSet) {
        block(&self.blocked, zone, &Arc::from(reason), vec![change]);
    }

    /// Lifts `zone`'s block after a rollback that had nothing to undo.
    pub fn unblock(&self, zone: &Name) {
        if self.send(Msg::Unblock(zone.clone())).is_err() {
            self.blocked
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .remove(zone);
        }
    }
}

/// How long a look at the repository that found it usable stands for the
/// writes that follow (see [`Committer::check_repo`]).
const CHECK_REUSE: std::time::Duration = std::time::Duration::from_millis(5);

/// The size from which an external change's blobs are written before it
/// is queued (below it, opening a repository handle costs more than the
/// hash saves the queue).
const PREHASH_MIN: usize = 1 << 20;

/// Writes each file's blob to the repository at `zones_dir` through a
/// handle of its own (writing an object is safe beside the committer's:
/// loose objects are content-addressed and renamed into place). A failure
/// leaves `blob` empty: the committer tries again and reports it.
fn prehash(zones_dir: &Path, files: &mut [WrittenFile]) {
    let Ok(repo) = git2::Repository::open(zones_dir) else {
        return;
    };
    for f in files.iter_mut().filter(|f| f.blob.is_none()) {
        f.blob = repo.blob(f.text.as_bytes()).ok();
    }
}

/// The number of files from which a found change's blobs are written as
/// one pack before it is queued (see [`git::write_blobs_packed`]).
const PACK_MIN: usize = 256;

/// Writes the blobs of `files` into one pack (see
/// [`git::write_blobs_packed`]). A failure leaves `blob` empty: the
/// committer writes them as loose objects and reports what fails.
fn prehash_packed(zones_dir: &Path, files: &mut [WrittenFile]) {
    let texts: Vec<&[u8]> = files.iter().map(|f| f.text.as_bytes()).collect();
    match git::write_blobs_packed(zones_dir, &texts) {
        Ok(ids) => {
            for (f, id) in files.iter_mut().zip(ids) {
                f.blob = Some(id);
            }
        }
        Err(e) => warn!(
            "cannot write {} zone files' blobs as one pack ({}); writing them one by one",
            files.len(),
            e.message()
        ),
    }
}

/// Whether one of `zones` has an earlier commit git could not make yet: a
/// person's edit, a logged write, a blocked zone. A commit for them now
/// would land before it.
fn any_held(
    zones: &[Name],
    edits: &HashMap<Name, Job>,
    logged: &[Queued],
    blocked: &Mutex<HashMap<Name, Blocked>>,
) -> bool {
    let blocked = blocked.lock().unwrap_or_else(|p| p.into_inner());
    zones.iter().any(|z| {
        edits.contains_key(z)
            || logged.iter().any(|(j, _)| &j.record.zone == z)
            || blocked.contains_key(z)
    })
}

/// Makes a server's commit (`commit`) unless `held` or the repository is
/// unusable; a panic in it is an error, not the committer's end.
fn unless_held<T>(
    held: bool,
    health: &Health,
    repo: &Mutex<Option<git2::Repository>>,
    commit: impl FnOnce() -> Result<T, String>,
) -> Result<T, String> {
    if held {
        return Err("a zone has an earlier commit git could not make yet".to_owned());
    }
    health.check(repo)?;
    catch_unwind(AssertUnwindSafe(commit)).unwrap_or_else(|_| Err("the commit panicked".to_owned()))
}

/// The committer thread: takes the jobs in order, records each run of
/// joinable ones as one commit, answers them, and writes the index when
/// nothing is waiting. Ends when the store is dropped.
fn run(
    rx: &mpsc::Receiver<Msg>,
    repo: &Mutex<Option<git2::Repository>>,
    dir: &Path,
    names: &Names,
    blocked: &Mutex<HashMap<Name, Blocked>>,
    health: &Health,
    log: Option<&WriteLog>,
) {
    let mut next: Option<Msg> = None;
    let kept: Kept = Mutex::new(HashMap::new());
    let to = Target {
        repo,
        kept: &kept,
        dir,
        names,
        health,
        logged: false,
    };
    // Index entries of commits made since the index was last written.
    let mut unindexed = Unindexed::default();
    // Per zone, the last `external change` whose commit failed.
    let mut edits: HashMap<Name, Job> = HashMap::new();
    // Logged writes (answered already) git has not recorded yet, oldest
    // first: committed before anything else, in order.
    let mut logged: Vec<Queued> = Vec::new();
    // When held commits were last tried while idle.
    let mut held_tried: Option<std::time::Instant> = None;
    // When the write log was last emptied (at most every TRUNCATE_EVERY).
    let mut truncated = std::time::Instant::now();
    // When the next round of logged writes may be committed (see
    // `logged_pause`).
    let mut logged_at: Option<std::time::Instant> = None;
    // The branch's tip `restore_lost` last found holding every version
    // the committer recorded.
    let mut checked_tip: Option<git2::Oid> = None;
    // The tip at which an idle restore last failed (logged once).
    let mut restore_warned: Option<git2::Oid> = None;
    loop {
        let msg = match next.take() {
            Some(m) => m,
            None => match rx.try_recv() {
                Ok(m) => m,
                Err(mpsc::TryRecvError::Disconnected) => break,
                // Idle: nothing may stay out of the index meanwhile.
                Err(mpsc::TryRecvError::Empty) => {
                    unindexed.write(repo);
                    if let Some(log) = log
                        && logged.is_empty()
                        && truncated.elapsed() >= TRUNCATE_EVERY
                    {
                        truncated = std::time::Instant::now();
                        if let Err(e) = log.truncate_if_committed() {
                            warn!("cannot empty the write log {}: {e}", log.path().display());
                        }
                    }
                    match recv_idle(rx) {
                        Ok(m) => m,
                        Err(Idle::Closed) => break,
                        // The repository was unusable: once it is usable
                        // again, what is held is committed now rather than
                        // at the zone's next write.
                        // Held commits (a person's edit found while a
                        // ref lock was held, say) are tried again while
                        // idle too, every HELD_RETRY: not only at the
                        // zone's next write, which may never come.
                        Err(Idle::Recheck) => {
                            // Looked at every RECHECK, writes or not: HEAD
                            // taken off its branch is logged (ERROR) when it
                            // happens, not at the next write, which fails.
                            let was_unusable = health.is_unusable();
                            let recovered = health.check(repo).is_ok() && was_unusable;
                            let held = !edits.is_empty() || !logged.is_empty();
                            let retry = held
                                && !health.is_unusable()
                                && held_tried.is_none_or(|t| t.elapsed() >= HELD_RETRY);
                            if recovered || retry {
                                held_tried = Some(std::time::Instant::now());
                                let u = &mut unindexed;
                                let mut try_commit =
                                    |files: &[WrittenFile], records: &[Record], logged| {
                                        commit_logged(&Target { logged, ..to }, files, records, u)
                                    };
                                let flushed = flush_logged(
                                    &mut logged,
                                    &mut edits,
                                    blocked,
                                    &mut try_commit,
                                    log,
                                );
                                health.set_waiting(answered(&logged));
                                if flushed {
                                    commit_held(&mut edits, blocked, &mut |files, record| {
                                        try_commit(files, std::slice::from_ref(record), false)
                                    });
                                }
                            }
                            if edits.is_empty() && logged.is_empty() && !health.is_unusable() {
                                let idle = (&mut checked_tip, &mut restore_warned);
                                restore_lost(&to, idle, &mut unindexed);
                            }
                            continue;
                        }
                    }
                }
            },
        };
        let first = match msg {
            Msg::Job(q) => {
                // The versions kept change: the tip is looked at again,
                // also if the branch is later moved back to the one looked
                // at last (round 41: a reset within a second of a write).
                checked_tip = None;
                *q
            }
            Msg::Barrier(done) => {
                // Everything before it is committed: the index too.
                unindexed.write(repo);
                let _ = done.send(());
                continue;
            }
            Msg::Unblock(zone) => {
                blocked
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .remove(&zone);
                continue;
            }
            Msg::Found(zones, files, message, done) => {
                forget(&kept);
                let held = any_held(&zones, &edits, &logged, blocked);
                let made = unless_held(held, health, repo, || found(repo, &files, &message, names));
                if made.is_ok() {
                    seed_kept(repo, &kept, &files, names);
                }
                let _ = done.send(made.map(|(id, entries)| {
                    unindexed.add(entries);
                    unindexed.write(repo);
                    id
                }));
                continue;
            }
            Msg::Seed(files) => {
                seed_kept(repo, &kept, &files, names);
                continue;
            }
            Msg::Paths(job, done) => {
                forget(&kept);
                let zones = &job.zones;
                if logged.iter().any(|(j, _)| zones.contains(&j.record.zone)) {
                    let u = &mut unindexed;
                    let mut try_commit = |files: &[WrittenFile], records: &[Record], logged| {
                        commit_logged(&Target { logged, ..to }, files, records, u)
                    };
                    flush_logged(&mut logged, &mut edits, blocked, &mut try_commit, log);
                    health.set_waiting(answered(&logged));
                }
                let held = any_held(zones, &edits, &logged, blocked);
                let made = unless_held(held, health, repo, || {
                    paths(repo, &job, names, &mut unindexed)
                });
                let _ = done.send(made);
                continue;
            }
            Msg::Merge(merge, done) => {
                forget(&kept);
                let held = !edits.is_empty()
                    || !logged.is_empty()
                    || !blocked.lock().unwrap_or_else(|p| p.into_inner()).is_empty();
                let made = if held {
                    Err("an earlier commit git could not make is still held".to_owned())
                } else {
                    health.check(repo)
                }
                .and_then(|()| {
                    catch_unwind(AssertUnwindSafe(|| merged(repo, &merge, names)))
                        .unwrap_or_else(|_| Err("the commit panicked".to_owned()))
                });
                let _ = done.send(made.map(|(id, entries)| {
                    unindexed.add(entries);
                    unindexed.write(repo);
                    id
                }));
                continue;
            }
            Msg::Now(job, done) => {
                let records = std::slice::from_ref(&job.record);
                let u = &mut unindexed;
                let target = Target { logged: true, ..to };
                let made = commit_logged(&target, &job.files, records, u);
                unindexed.write(repo);
                let _ = done.send(made);
                continue;
            }
        };
        if first.0.logged {
            // Answered already: queued behind the logged writes git lacks,
            // with every logged write of the same key and writer queued
            // right behind it, whatever the zone (one commit, one tree).
            logged.push(first);
            gather_logged(rx, logged_at, &mut logged, &mut next);
            let u = &mut unindexed;
            let mut try_commit = |files: &[WrittenFile], records: &[Record], logged| {
                commit_logged(&Target { logged, ..to }, files, records, u)
            };
            let round = std::time::Instant::now();
            flush_logged(&mut logged, &mut edits, blocked, &mut try_commit, log);
            let now = std::time::Instant::now();
            logged_at = Some(now + logged_pause(now - round));
            health.set_waiting(answered(&logged));
            if next.is_none() {
                match rx.try_recv() {
                    Ok(m) => next = Some(m),
                    Err(_) => unindexed.write(repo),
                }
            }
            unindexed.write_if_due(repo);
            continue;
        }
        let (first, first_done) = first;
        let (jobs, mut dones) = joinable(rx, &first.record, &mut next);
        dones.push(first_done);
        let (files, record, each) = combine(first, jobs);
        let mut try_commit = |files: &[WrittenFile], record: &Record| {
            let records = std::slice::from_ref(record);
            commit_logged(&to, files, records, &mut unindexed)
        };
        // Logged writes git lacks come first: a person's edit of their
        // zone found meanwhile (whose file holds them) must not be
        // committed before them, under the server's name.
        let behind_logged = logged.iter().any(|(j, _)| j.record.zone == record.zone);
        let own = record.via == EXTERNAL || record.via == ROLLBACK;
        if behind_logged && own && dones.len() == 1 {
            // The server's own commit (a person's edit, whose file holds
            // those writes too) waits behind them, in order.
            if let Some(done) = dones.pop() {
                let job = Job {
                    files,
                    record,
                    logged: false,
                };
                logged.push((job, done));
            }
            continue;
        }
        let outcome = if behind_logged {
            let reason: Arc<str> = format!(
                "writes to {} answered from the write log are not in git yet",
                record.zone
            )
            .into();
            // A write of ours (not logged: its record could not be
            // appended) fails, and is rolled back like any whose commit
            // failed.
            if !own {
                block(blocked, &record.zone, &reason, each);
            }
            Outcome::Failed(reason)
        } else {
            match earlier_edit(&mut edits, blocked, &record, &mut try_commit) {
                Err(reason) => {
                    // Not on top of an edit git lacks: the write fails and is
                    // rolled back (see `earlier_edit`).
                    block(blocked, &record.zone, &reason, each);
                    Outcome::Failed(reason)
                }
                Ok(()) => decide(blocked, &record, each, || try_commit(&files, &record)),
            }
        };
        // A commit of the server's own that git could not make (a person's
        // edit found on disk, or a rollback, whose file holds such an edit
        // too) is kept, to be made before the zone's next commit: never
        // folded into a writer's.
        if (record.via == EXTERNAL || record.via == ROLLBACK)
            && matches!(outcome, Outcome::Failed(_))
        {
            edits.insert(
                record.zone.clone(),
                Job {
                    files,
                    record,
                    logged: false,
                },
            );
        }
        // Nothing more queued: bring the index up to date before answering,
        // so `git status` is clean once the last write is answered.
        if next.is_none() {
            match rx.try_recv() {
                Ok(m) => next = Some(m),
                Err(_) => unindexed.write(repo),
            }
        }
        unindexed.write_if_due(repo);
        for done in dones {
            let _ = done.send(Some(outcome.clone()));
        }
    }
    // Shutting down: one more try for the logged writes git lacks (what
    // stays is committed from the write log at the next start).
    if !logged.is_empty() {
        let u = &mut unindexed;
        let mut try_commit = |files: &[WrittenFile], records: &[Record], logged| {
            commit_logged(&Target { logged, ..to }, files, records, u)
        };
        flush_logged(&mut logged, &mut edits, blocked, &mut try_commit, log);
    }
    unindexed.write(repo);
    if let Some(log) = log
        && logged.is_empty()
        && let Err(e) = log.truncate_if_committed()
    {
        warn!("cannot empty the write log {}: {e}", log.path().display());
    }
}

/// The answered (logged) writes among the held commits.
fn answered(held: &[Queued]) -> usize {
    held.iter().filter(|(j, _)| j.logged).count()
}

/// Writes answered from the write log are committed in rounds: after a
/// round, the committer gathers the writes that arrive for
/// [`logged_pause`] of it ([`gather_logged`]), so they share the next
/// round's commits. Nobody waits for these commits but the NOTIFY that
/// follows them, and a commit costs about the same whatever it holds (a
/// folder of 5,000 zone files has a 225 KB root tree to write; a
/// 100,000-record zone a 4 MB blob to hash and compress): one commit every
/// few milliseconds took as much CPU as the writes themselves.
const LOGGED_GATHER: Duration = Duration::from_millis(20);
/// The longest pause between two rounds (the NOTIFYs wait that long).
const LOGGED_GATHER_MAX: Duration = Duration::from_millis(200);
/// The pause is this many times the last round's cost, so committing
/// logged writes takes at most about a tenth of one core under any load.
const LOGGED_DUTY: u32 = 10;

/// The pause after a round of logged commits that took `took`: ten times
/// that, at least [`LOGGED_GATHER`] and at most [`LOGGED_GATHER_MAX`].
fn logged_pause(took: Duration) -> Duration {
    took.saturating_mul(LOGGED_DUTY)
        .clamp(LOGGED_GATHER, LOGGED_GATHER_MAX)
}

/// How often, at most, the idle committer empties the write log (each
/// time costs a `syncfs`).
const TRUNCATE_EVERY: Duration = Duration::from_secs(1);

/// Takes the logged jobs queued behind (any zone, any writer) onto
/// `logged`, waiting for more until `logged_at` (the last round's end and
/// its [`logged_pause`]), and stopping early at [`MAX_GROUP`] jobs
/// or [`GATHER_BYTES`] of file text; the first message that does not join
/// is kept in `next`. The jobs are taken off the queue as they come, so a
/// writer never waits for a slot in it meanwhile. [`flush_logged`] then
/// commits them all, in order, one commit per run of one key and writer:
/// writes of two keys taking turns cost one pause per round, not one per
/// commit.
fn gather_logged(
    rx: &mpsc::Receiver<Msg>,
    logged_at: Option<std::time::Instant>,
    logged: &mut Vec<Queued>,
    next: &mut Option<Msg>,
) {
    let deadline = logged_at;
    let mut bytes: usize = logged.iter().map(|(j, _)| job_bytes(j)).sum();
    while logged.len() < MAX_GROUP && bytes < GATHER_BYTES {
        let now = std::time::Instant::now();
        let got = match deadline {
            Some(d) if d > now => rx.recv_timeout(d - now).ok(),
            _ => rx.try_recv().ok(),
        };
        match got {
            Some(Msg::Job(q)) if q.0.logged => {
                bytes = bytes.saturating_add(job_bytes(&q.0));
                logged.push(*q);
            }
            Some(m) => {
                *next = Some(m);
                break;
            }
            // The pause is over and nothing more is queued (or the server
            // is stopping).
            None => break,
        }
    }
}

/// Commits the held logged writes, oldest first, each run of one key and
/// writer as one commit (its zones' files, each at its last version).
/// Stops at the first commit git refuses: `false`, and the rest stay held
/// (tried again every [`HELD_RETRY`] and before the next logged write).
/// A person's edit git could not record earlier is committed first, as
/// for any write (see [`earlier_edit`]).
fn flush_logged(
    logged: &mut Vec<Queued>,
    edits: &mut HashMap<Name, Job>,
    blocked: &Mutex<HashMap<Name, Blocked>>,
    try_commit: &mut impl FnMut(&[WrittenFile], &[Record], bool) -> Result<Option<String>, String>,
    log: Option<&WriteLog>,
) -> bool {
    while let Some((head, _)) = logged.first() {
        if !head.logged {
            // A commit of the server's own queued behind logged writes.
            let (job, done) = logged.remove(0);
            match try_commit(&job.files, std::slice::from_ref(&job.record), false) {
                Ok(id) => {
                    let _ = done.send(Some(Outcome::Committed(id)));
                    continue;
                }
                Err(_) => {
                    logged.insert(0, (job, done));
                    return false;
                }
            }
        }
        let (actor, via) = (head.record.actor.clone(), head.record.via);
        let n = logged
            .iter()
            .take(MAX_GROUP)
            .take_while(|(j, _)| j.logged && j.record.actor == actor && j.record.via == via)
            .count();
        // One record per zone, in the order first written.
        let mut records: Vec<Record> = Vec::new();
        let mut files: Vec<WrittenFile> = Vec::new();
        for (job, _) in logged.iter().take(n) {
            let r = &job.record;
            let copy = Record {
                zone: r.zone.clone(),
                changes: r.changes.clone(),
                old_serial: r.old_serial,
                new_serial: r.new_serial,
                actor: r.actor.clone(),
                clients: r.clients.clone(),
                requests: r.requests,
                via: r.via,
                file: r.file.clone(),
            };
            match records.iter_mut().find(|x| x.zone == r.zone) {
                Some(x) => x.append(copy),
                None => records.push(copy),
            }
            for f in &job.files {
                let copy = WrittenFile {
                    path: f.path.clone(),
                    text: f.text.clone(),
                    stat: f.stat,
                    blob: f.blob,
                };
                match files.iter_mut().find(|g| g.path == f.path) {
                    Some(g) => *g = copy,
                    None => files.push(copy),
                }
            }
        }
        for r in &records {
            let mut one = |files: &[WrittenFile], record: &Record| {
                try_commit(files, std::slice::from_ref(record), false)
            };
            if earlier_edit(edits, blocked, r, &mut one).is_err() {
                return false;
            }
        }
        let id = match try_commit(&files, &records, true) {
            Ok(id) => id,
            Err(_) => return false,
        };
        for (_, done) in logged.drain(..n) {
            let _ = done.send(Some(Outcome::Committed(id.clone())));
        }
        if let Some(log) = log {
            log.committed(n as u64);
        }
    }
    true
}

/// The jobs queued right behind `first` that join its commit (same zone,
/// actor and writer, serials in sequence; at most [`MAX_GROUP`] in all),
/// split into jobs and their answer channels. The first message that does
/// not join is kept in `next`.
fn joinable(
    rx: &mpsc::Receiver<Msg>,
    first: &Record,
    next: &mut Option<Msg>,
) -> (Vec<Job>, Vec<watch::Sender<Done>>) {
    let mut rest: Vec<Queued> = Vec::new();
    while rest.len() + 1 < MAX_GROUP {
        let last = rest.last().map_or(first, |(j, _)| &j.record);
        match rx.try_recv() {
            Ok(Msg::Job(q)) if last.joins(&q.0.record) => rest.push(*q),
            Ok(m) => {
                *next = Some(m);
                break;
            }
            Err(_) => break,
        }
    }
    rest.into_iter().unzip()
}

/// How often an unusable repository is looked at again while no commit
/// is asked for.
const RECHECK: Duration = Duration::from_secs(1);

/// Why the idle committer thread woke up without a message.
enum Idle {
    /// The queue is closed: the store is gone.
    Closed,
    /// Time to look at the unusable repository again.
    Recheck,
}

/// How often held commits are tried again while nothing else comes.
const HELD_RETRY: Duration = Duration::from_secs(5);

/// The next message, or [`Idle::Recheck`] after [`RECHECK`] without one
/// (the store may find the repository unusable before any commit does).
fn recv_idle(rx: &mpsc::Receiver<Msg>) -> Result<Msg, Idle> {
    rx.recv_timeout(RECHECK).map_err(|e| match e {
        mpsc::RecvTimeoutError::Timeout => Idle::Recheck,
        mpsc::RecvTimeoutError::Disconnected => Idle::Closed,
    })
}

/// Whether the repository could be committed on at the last look (see
/// `git::state`): on a detached HEAD, or in the middle of a merge or
/// rebase, a commit would be lost or land inside the person's operation,
/// so none is made, and the write fails and is rolled back like any other
/// whose commit failed. The change of state is logged once (ERROR, then
/// INFO when it is usable again), not once per write.
#[derive(Default)]
struct Health {
    /// Why commits are refused now; `None` while the repository is usable.
    unusable: Mutex<Option<String>>,
    /// Commits made and commits git refused, since start (metrics).
    made: std::sync::atomic::AtomicU64,
    refused: std::sync::atomic::AtomicU64,
    /// Why the last commit failed, until one succeeds (`/ready`).
    failing: Mutex<Option<String>>,
    /// Logged writes (answered) git has not recorded yet.
    waiting: std::sync::atomic::AtomicUsize,
    /// Set at start-up when the write log held answered writes git would
    /// not record: nothing is committed in this run (see
    /// [`Committer::hold_until_restart`]).
    stuck: Mutex<Option<String>>,
}

impl Health {
    fn set_waiting(&self, n: usize) {
        self.waiting.store(n, Ordering::Relaxed);
    }

    fn is_unusable(&self) -> bool {
        self.unusable
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .is_some()
    }

    /// Looks at the repository before a write or a commit; `Err` with the
    /// reason when no commit may be made now.
    fn check(&self, repo: &Mutex<Option<git2::Repository>>) -> Result<(), String> {
        let mut unusable = self.unusable.lock().unwrap_or_else(|p| p.into_inner());
        let stuck = self.stuck.lock().unwrap_or_else(|p| p.into_inner()).clone();
        let now = match stuck {
            Some(why) => Err(why),
            None => {
                let guard = repo.lock().unwrap_or_else(|p| p.into_inner());
                // No repository at all: `commit` says so.
                match guard.as_ref() {
                    Some(r) => git::state::usable(r).map_err(|e| e.to_string()),
                    None => Ok(()),
                }
            }
        };
        match (now, unusable.take()) {
            (Ok(()), None) => Ok(()),
            (Ok(()), Some(_)) => {
                info!(
                    "the git repository is usable again: writes are committed again, and \
                     the changes held meanwhile are committed now"
                );
                Ok(())
            }
            (Err(why), was) => {
                if was.as_ref() != Some(&why) {
                    error!(
                        "{why}. Until then every write (UPDATE, REST) is refused (SERVFAIL, \
                         REST 5xx) and rolled back; queries keep being answered, and what is \
                         held is committed once the repository is usable again"
                    );
                }
                *unusable = Some(why.clone());
                Err(why)
            }
        }
    }
}

/// The held commits of the server's own (see [`earlier_edit`]) of every
/// zone not waiting for a rollback, made now; those that fail again stay
/// held.
fn commit_held(
    edits: &mut HashMap<Name, Job>,
    blocked: &Mutex<HashMap<Name, Blocked>>,
    try_commit: &mut impl FnMut(&[WrittenFile], &Record) -> Result<Option<String>, String>,
) {
    let zones: Vec<Name> = edits.keys().cloned().collect();
    for zone in zones {
        let waits = blocked
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .contains_key(&zone);
        if waits {
            continue;
        }
        let Some(edit) = edits.remove(&zone) else {
            continue;
        };
        match try_commit(&edit.files, &edit.record) {
            Ok(_) => info!(
                zone = %zone, via = edit.record.via,
                "committed a change of the server's own (an edit made outside zonewright, or a \
                 rollback) that git could not record earlier"
            ),
            Err(_) => {
                edits.insert(zone, edit);
            }
        }
    }
}

/// Where the committer thread commits, and what it knows of its jobs.
#[derive(Clone, Copy)]
struct Target<'a> {
    repo: &'a Mutex<Option<git2::Repository>>,
    /// Per file, the version the committer last recorded.
    kept: &'a Kept,
    dir: &'a Path,
    names: &'a Names,
    health: &'a Health,
    /// The jobs committed are answered already (write log): a failure
    /// holds them, it rolls nothing back.
    logged: bool,
}

/// Makes one commit (a panic in git2 is a failed commit, not a dead
/// thread), keeps its index entries, and logs a failure. Nothing is tried
/// on a repository that must not be committed on now (see [`Health`]).
fn commit_logged(
    to: &Target<'_>,
    files: &[WrittenFile],
    records: &[Record],
    unindexed: &mut Unindexed,
) -> Result<Option<String>, String> {
    let Target {
        repo,
        kept,
        dir,
        names,
        health,
        logged,
    } = *to;
    let via = records.first().map_or("", |r| r.via);
    let set_failing = |why: Option<&str>| {
        *health.failing.lock().unwrap_or_else(|p| p.into_inner()) = why.map(str::to_owned);
    };
    if let Err(e) = health.check(repo) {
        health.refused.fetch_add(1, Ordering::Relaxed);
        set_failing(Some(&e));
        return Err(e);
    }
    let made = catch_unwind(AssertUnwindSafe(|| {
        commit(repo, kept, files, records, names)
    }));
    match &made {
        Ok(Ok(_)) => {
            health.made.fetch_add(1, Ordering::Relaxed);
            set_failing(None);
        }
        Ok(Err(e)) => {
            health.refused.fetch_add(1, Ordering::Relaxed);
            set_failing(Some(e));
        }
        Err(_) => {
            health.refused.fetch_add(1, Ordering::Relaxed);
            set_failing(Some("the commit panicked"));
        }
    }
    match made {
        Ok(Ok((id, entries))) => {
            unindexed.add(entries);
            Ok(id)
        }
        Ok(Err(e)) => {
            log_failure(dir, files, (via, logged), &e);
            Err(e)
        }
        Err(_) => {
            let e = "the commit panicked".to_owned();
            log_failure(dir, files, (via, logged), &e);
            Err(e)
        }
    }
}

/// The outcome of a group of `record`'s zone, given the zones blocked by
/// earlier failures; `commit` makes the commit. See the module docs.
fn decide(
    blocked: &Mutex<HashMap<Name, Blocked>>,
    record: &Record,
    each: Vec<ChangeSet>,
    commit: impl FnOnce() -> Result<Option<String>, String>,
) -> Outcome {
    let zone = &record.zone;
    if record.via == ROLLBACK {
        // The rollback's own failure blocks nothing: the file then holds
        // HEAD's records (a newer serial, and any person's edit), and the
        // failed rollback is held and committed, as the server's, before
        // the zone's next commit (see `earlier_edit`).
        blocked
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(zone);
        return match commit() {
            Ok(id) => Outcome::Committed(id),
            Err(e) => Outcome::Failed(e.into()),
        };
    }
    let earlier = {
        let mut guard = blocked.lock().unwrap_or_else(|p| p.into_inner());
        guard.get_mut(zone).map(|b| {
            // A person's edit found on disk is no write of ours to undo.
            if record.via != EXTERNAL {
                b.changes.extend(each.iter().cloned());
            }
            b.reason.clone()
        })
    };
    if let Some(reason) = earlier {
        return Outcome::Failed(
            format!(
                "an earlier write to {zone} could not be committed ({reason}), \
                 and this one was written on top of it"
            )
            .into(),
        );
    }
    match commit() {
        Ok(id) => Outcome::Committed(id),
        Err(e) => {
            let reason: Arc<str> = e.into();
            if record.via != EXTERNAL {
                block(blocked, zone, &reason, each);
            }
            Outcome::Failed(reason)
        }
    }
}

/// Blocks `zone` after a failed batch whose changes are `each`: its later
/// batches fail until the rollback (see the module docs).
fn block(
    blocked: &Mutex<HashMap<Name, Blocked>>,
    zone: &Name,
    reason: &Arc<str>,
    each: Vec<ChangeSet>,
) {
    let mut guard = blocked.lock().unwrap_or_else(|p| p.into_inner());
    match guard.get_mut(zone) {
        Some(b) => b.changes.extend(each),
        None => {
            guard.insert(
                zone.clone(),
                Blocked {
                    reason: reason.clone(),
                    changes: each,
                },
            );
        }
    }
}

/// Before a batch of `record`'s zone is committed, the server's own commit
/// that failed earlier (held in `edits`: a person's `external change`, or
/// a rollback, whose file may hold such an edit) is made first, under the
/// server's name: a write's commit records the whole file, and must not
/// take a person's records under the writer's name. If that commit fails
/// again, a write or REST change fails too (`Err`: it is not committed on
/// top of the held one, and is rolled back). A newer external change, or
/// a rollback, replaces the held one: its commit records the same file
/// with what came since.
fn earlier_edit(
    edits: &mut HashMap<Name, Job>,
    blocked: &Mutex<HashMap<Name, Blocked>>,
    record: &Record,
    try_commit: &mut impl FnMut(&[WrittenFile], &Record) -> Result<Option<String>, String>,
) -> Result<(), Arc<str>> {
    let Some(edit) = edits.remove(&record.zone) else {
        return Ok(());
    };
    if record.via == EXTERNAL || record.via == ROLLBACK {
        return Ok(());
    }
    // Failed writes wait for their rollback: the file read then holds them
    // too, and they must not be recorded as the person's. The rollback's
    // commit records the edit.
    let is_blocked = blocked
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .contains_key(&record.zone);
    if is_blocked {
        edits.insert(record.zone.clone(), edit);
        return Ok(());
    }
    match try_commit(&edit.files, &edit.record) {
        Ok(_) => {
            tracing::info!(
                zone = %record.zone, via = edit.record.via,
                "committed a change of the server's own (an edit made outside zonewright, or a \
                 rollback) that git could not record earlier"
            );
            Ok(())
        }
        Err(e) => {
            edits.insert(record.zone.clone(), edit);
            Err(format!(
                "an edit made outside zonewright (or a rollback) is in the zone file but git \
                 cannot record it ({e}); this write is not committed on top of it"
            )
            .into())
        }
    }
}

/// One commit's files (each path's last version), record, and the change
/// of each job in it, in order.
fn combine(first: Job, jobs: Vec<Job>) -> (Vec<WrittenFile>, Record, Vec<ChangeSet>) {
    let (mut files, mut record) = (first.files, first.record);
    let mut each = vec![record.changes.clone()];
    for job in jobs {
        each.push(job.record.changes.clone());
        record.append(job.record);
        for f in job.files {
            match files.iter_mut().find(|g| g.path == f.path) {
                Some(g) => *g = f,
                None => files.push(f),
            }
        }
    }
    (files, record, each)
}

/// The commit of [`Msg::Found`]: every file inside the repository, by the
/// configured committer.
fn found(
    repo: &Mutex<Option<git2::Repository>>,
    files: &[WrittenFile],
    message: &str,
    names: &Names,
) -> Result<(Option<String>, Vec<git2::IndexEntry>), String> {
    let who = &names.committer;
    commit_files(repo, files, true, (who, who), message, None)
}

/// The commit of [`Msg::Paths`], by the configured committer, with the
/// index brought in step: the links' entries written, the removed paths
/// dropped (after any entry still pending for them).
fn paths(
    repo: &Mutex<Option<git2::Repository>>,
    job: &Paths,
    names: &Names,
    unindexed: &mut Unindexed,
) -> Result<Option<String>, String> {
    let git::PathsCommitted {
        commit,
        index,
        gone,
    } = {
        let guard = repo.lock().unwrap_or_else(|p| p.into_inner());
        let Some(repo) = guard.as_ref() else {
            return Err("the zones directory is not a git repository".to_owned());
        };
        let who = (&names.committer, &names.committer);
        with_stale_locks_cleared(repo, || {
            git::commit_paths(repo, &job.changes, who, |done| {
                audit::paths_message(job, done)
            })
        })?
    };
    unindexed.entries.retain(|e| {
        gone.iter()
            .all(|g| g.as_os_str().as_encoded_bytes() != e.path)
    });
    unindexed.add(index);
    unindexed.write(repo);
    let guard = repo.lock().unwrap_or_else(|p| p.into_inner());
    if let Some(repo) = guard.as_ref() {
        let gone: Vec<&Path> = gone.iter().map(PathBuf::as_path).collect();
        if let Err(e) = git::remove_from_index(repo, &gone) {
            warn!("cannot remove deleted zone files from the git index: {e}");
        }
    }
    Ok(commit.map(|o| o.to_string()))
}

/// The commit of [`Msg::Merge`], by the configured committer; paths the
/// merge removed leave the index at once.
fn merged(
    repo: &Mutex<Option<git2::Repository>>,
    merge: &Merge,
    names: &Names,
) -> Result<(Option<String>, Vec<git2::IndexEntry>), String> {
    let guard = repo.lock().unwrap_or_else(|p| p.into_inner());
    let Some(repo) = guard.as_ref() else {
        return Err("the zones directory is not a git repository".to_owned());
    };
    let who = (&names.committer, &names.committer);
    let (oid, entries) = with_stale_locks_cleared(repo, || {
        git::commit_merge(repo, &merge.files, merge.theirs, who, &merge.message)
    })?;
    let gone: Vec<&Path> = merge
        .files
        .iter()
        .filter(|(_, b)| b.is_none())
        .map(|(p, _)| p.as_path())
        .collect();
    if let Err(e) = git::remove_from_index(repo, &gone) {
        warn!("cannot remove files the merge deleted from the git index: {e}");
    }
    Ok((oid.map(|o| o.to_string()), entries))
}

/// Makes the commit of `records` (one author: see [`group_message`]);
/// returns its id and the index entries to write.
fn commit(
    repo: &Mutex<Option<git2::Repository>>,
    kept: &Kept,
    files: &[WrittenFile],
    records: &[Record],
    names: &Names,
) -> Result<(Option<String>, Vec<git2::IndexEntry>), String> {
    let Some(record) = records.first() else {
        return Err("nothing to commit".to_owned());
    };
    // An edit nobody made through zonewright is authored, as at start-up,
    // by the configured committer; one made with `zonewright edit` by the
    // person it names.
    let author = if record.via == EXTERNAL && record.person().is_none() {
        names.committer.clone()
    } else {
        Identity {
            name: record.actor.clone(),
            email: format!("zonewright@{}", names.host),
        }
    };
    // A person's edit records the files git can: an `$INCLUDE`d file from
    // `include_dirs` is outside the repository (the store never writes
    // one, so a write's files are all inside).
    let inside_only = record.via == EXTERNAL;
    let who = (&author, &names.committer);
    // A writer's commit (and a rollback) is made on the versions the
    // committer last recorded, which the files held when it was made: what
    // the branch lost of them is recorded again first, as the server's, not
    // under the writer's name (see `git::OnTop`). A person's edit is made
    // on what they saved, whatever the branch holds.
    let book = Book {
        kept,
        on_top: names.on_top && record.via != EXTERNAL,
    };
    let trailers: Vec<Option<String>> = {
        let guard = repo.lock().unwrap_or_else(|p| p.into_inner());
        records
            .iter()
            .map(|r| {
                let file = r.file.as_deref();
                let first = files.first().filter(|_| records.len() == 1);
                let file = file.or_else(|| first.map(|f| f.path.as_path()))?;
                let rel = git::relative(guard.as_ref()?, file).ok()?;
                trailer_path(&rel)
            })
            .collect()
    };
    commit_files(
        repo,
        files,
        inside_only,
        who,
        &group_message(records, &trailers),
        Some(book),
    )
}

/// The version of a file the committer recorded last: its blob, the
/// commit, and its text (shared with the document served).
#[derive(Clone)]
struct KeptVersion {
    blob: git2::Oid,
    commit: git2::Oid,
    text: Arc<String>,
    /// The blobs it recorded for the file before ([`git::short_id`]s),
    /// oldest first, at most [`EARLIER_KEPT`] (see
    /// [`git::Expected::earlier`]): 2 KB a file at most.
    earlier: Vec<u64>,
}

/// How many earlier versions of a file the committer remembers: a branch
/// moved back further, or an index entry older than that, is not
/// recognised as a version the branch lost (the index is written at least
/// every [`INDEX_EVERY`], and a file takes at most a few hundred commits a
/// second).
const EARLIER_KEPT: usize = 256;

/// Per file (as in the repository), the version the committer recorded
/// last. Forgotten whenever a commit of another kind (a pull's merge, a
/// person's found changes, deleted or renamed files) may have changed
/// what the files hold.
type Kept = Mutex<HashMap<PathBuf, KeptVersion>>;

/// What [`commit_files`] keeps of the versions it records, and whether the
/// commit is made on those it kept (see [`git::OnTop`]).
struct Book<'a> {
    kept: &'a Kept,
    on_top: bool,
}

impl Book<'_> {
    /// The versions of `rels` the committer recorded last.
    fn versions(&self, rels: &[PathBuf]) -> Vec<(PathBuf, KeptVersion)> {
        if !self.on_top {
            return Vec::new();
        }
        let kept = self.kept.lock().unwrap_or_else(|p| p.into_inner());
        rels.iter()
            .filter_map(|r| kept.get(r).map(|k| (r.clone(), k.clone())))
            .collect()
    }

    /// After a commit (`commit`; the branch's tip when none was made
    /// because the branch held the files already, e.g. a person's own
    /// commit of what the server then read): the versions of `rels` it
    /// recorded.
    fn keep(
        &self,
        repo: &git2::Repository,
        rels: &[PathBuf],
        files: &[&WrittenFile],
        entries: &[git2::IndexEntry],
        commit: Option<git2::Oid>,
    ) {
        let Some(commit) = commit else {
            return;
        };
        let mut kept = self.kept.lock().unwrap_or_else(|p| p.into_inner());
        for ((rel, f), e) in rels.iter().zip(files).zip(entries) {
            let mut earlier = match kept.remove(rel) {
                Some(k) => {
                    let mut earlier = k.earlier;
                    earlier.push(git::short_id(k.blob));
                    earlier
                }
                // The first since start: the version the branch held before
                // (HEAD's at start-up, which was served) counts as recorded,
                // so a branch moved back to it is caught too (round 41).
                None => vec![before(repo, commit, rel)],
            };
            earlier.retain(|b| *b != git::short_id(e.id));
            let over = earlier.len().saturating_sub(EARLIER_KEPT);
            earlier.drain(..over);
            kept.insert(
                rel.clone(),
                KeptVersion {
                    blob: e.id,
                    commit,
                    text: f.text.clone(),
                    earlier,
                },
            );
        }
    }
}

/// Notes each of `files` that HEAD holds as it is, and that no commit of
/// this run recorded yet, as the version the committer recorded last, and
/// the version before it in HEAD's parent as recorded earlier: the file
/// holds and serves it, so a branch moved back from it has lost it, also
/// when HEAD was a person's commit (round 44: undone by `git reset --soft
/// HEAD~1` while the file kept it, the next writer's commit carried it).
fn seed_kept(
    repo: &Mutex<Option<git2::Repository>>,
    kept: &Kept,
    files: &[WrittenFile],
    names: &Names,
) {
    if !names.on_top {
        return;
    }
    let guard = repo.lock().unwrap_or_else(|p| p.into_inner());
    let Some(repo) = guard.as_ref() else {
        return;
    };
    let Some(head) = repo.head().ok().and_then(|h| h.peel_to_commit().ok()) else {
        return;
    };
    let Ok(tree) = head.tree() else {
        return;
    };
    // Read once: a lookup per file in a tree of thousands of files.
    let parent = head.parent(0).ok().and_then(|p| p.tree().ok());
    let mut kept = kept.lock().unwrap_or_else(|p| p.into_inner());
    for f in files {
        let Ok(rel) = git::relative(repo, &f.path) else {
            continue;
        };
        if kept.contains_key(&rel) {
            continue;
        }
        let Ok(entry) = tree.get_path(&rel) else {
            continue;
        };
        let blob = f
            .blob
            .or_else(|| git2::Oid::hash_object(git2::ObjectType::Blob, f.text.as_bytes()).ok());
        if blob != Some(entry.id()) {
            continue;
        }
        let was = parent.as_ref().and_then(|t| t.get_path(&rel).ok());
        let mut earlier = vec![was.map_or(git::ABSENT, |e| git::short_id(e.id()))];
        earlier.retain(|b| *b != git::short_id(entry.id()));
        kept.insert(
            rel,
            KeptVersion {
                blob: entry.id(),
                commit: head.id(),
                text: f.text.clone(),
                earlier,
            },
        );
    }
}

/// The file `rel` in the first parent of `commit`, as [`git::short_id`]
/// ([`git::ABSENT`]: not there, or no parent).
fn before(repo: &git2::Repository, commit: git2::Oid, rel: &Path) -> u64 {
    repo.find_commit(commit)
        .ok()
        .and_then(|c| c.parent(0).ok())
        .and_then(|p| p.tree().ok())
        .and_then(|t| t.get_path(rel).ok())
        .map_or(git::ABSENT, |e| git::short_id(e.id()))
}

/// Forgets every version kept: a commit of another kind may change what
/// the files hold (see [`Kept`]).
fn forget(kept: &Kept) {
    kept.lock().unwrap_or_else(|p| p.into_inner()).clear();
}

/// While idle: the versions the committer recorded that the branch no
/// longer holds (moved back by `git reset --soft`, `update-ref`, `branch
/// -f`; untracked; a person's commit of a version the file never held),
/// recorded again now, not only at the file's next write, which may never
/// come (until then an answered write would be off the branch, and that
/// write's diff would carry the difference under its writer's name). The commit is the one [`git::OnTop`] makes before
/// a write, with no write on top; the branch's tip is looked at again
/// after it moves or a commit was made (`checked`: the tip last found
/// holding them all), and a commit that failed is tried again each time. A file that no longer holds the version recorded (a person
/// changed it too) is left to the reloader.
fn restore_lost(
    to: &Target<'_>,
    (checked, warned): (&mut Option<git2::Oid>, &mut Option<git2::Oid>),
    unindexed: &mut Unindexed,
) {
    if !to.names.on_top {
        return;
    }
    let (tip, lost) = {
        let guard = to.repo.lock().unwrap_or_else(|p| p.into_inner());
        let Some(repo) = guard.as_ref() else {
            return;
        };
        let tip = repo.head().ok().and_then(|h| h.target());
        if tip.is_none() || tip == *checked {
            return;
        }
        let (Some(tree), Some(root)) = (
            tip.and_then(|t| repo.find_commit(t).ok())
                .and_then(|c| c.tree().ok()),
            repo.workdir(),
        ) else {
            return;
        };
        let kept = to.kept.lock().unwrap_or_else(|p| p.into_inner());
        let lost: Vec<WrittenFile> = kept
            .iter()
            // Any other version, or none: while idle, a branch that differs
            // from a file still holding what was recorded (below) is
            // behind what is served, whoever moved it (round 44: a
            // person's commit made through the index only, or a person's
            // own commit undone while the file keeps it, was otherwise
            // carried by the next write's diff under the writer's name).
            .filter(|(rel, k)| tree.get_path(rel).ok().map(|e| e.id()) != Some(k.blob))
            // The file still holds that version: one a person changed
            // (`git checkout HEAD~1 -- FILE`, `reset --hard`) is theirs,
            // taken in by the reloader, not recorded over.
            .filter(|(rel, k)| std::fs::read(root.join(rel)).is_ok_and(|b| b == k.text.as_bytes()))
            .map(|(rel, k)| WrittenFile {
                path: root.join(rel),
                text: k.text.clone(),
                stat: None,
                blob: Some(k.blob),
            })
            .collect();
        (tip, lost)
    };
    if lost.is_empty() {
        *checked = tip;
        return;
    }
    let book = Book {
        kept: to.kept,
        on_top: true,
    };
    let who = (&to.names.committer, &to.names.committer);
    // Only the commit that records the versions again is made: the files
    // are those versions, so nothing is left for a commit of their own.
    let message = "external change: versions the branch lost, recorded again";
    let made = catch_unwind(AssertUnwindSafe(|| {
        commit_files(to.repo, &lost, false, who, message, Some(book))
    }));
    let why = match made {
        Ok(Ok((_, entries))) => {
            unindexed.add(entries);
            return;
        }
        Ok(Err(e)) => e,
        Err(_) => "the commit panicked".to_owned(),
    };
    // Tried again every second while idle (a ref lock held by a `git`
    // command is let go), logged once per tip.
    if *warned != tip {
        *warned = tip;
        warn!("cannot record again the versions the branch lost: {why}; trying again");
    }
}

/// The files of `lacking` (the versions the branch lost), each with the
/// commit that had recorded it (from `kept`).
fn lost_versions<'a>(
    lacking: impl IntoIterator<Item = &'a Path>,
    kept: &[(PathBuf, KeptVersion)],
) -> Vec<(String, String)> {
    lacking
        .into_iter()
        .map(|rel| {
            let commit = kept
                .iter()
                .find(|(r, _)| r == rel)
                .map(|(_, k)| k.commit.to_string())
                .unwrap_or_default();
            (rel.display().to_string(), commit)
        })
        .collect()
}

/// The message of the commit that records again the versions `lacking`
/// the branch lost, each recorded first in the commit `kept` names.
fn restored(lacking: &[&git::Expected<'_>], kept: &[(PathBuf, KeptVersion)]) -> String {
    let named = lost_versions(lacking.iter().map(|x| x.rel.as_path()), kept);
    audit::restored_message(&named, EXTERNAL_ACTOR).to_string()
}

/// One WARN per version recorded again, once its commit is made (the
/// message is built for every attempt at it).
fn warn_restored(restored: &[PathBuf], kept: &[(PathBuf, KeptVersion)]) {
    for (file, commit) in lost_versions(restored.iter().map(PathBuf::as_path), kept) {
        warn!(
            "{file}: the branch no longer holds the version zonewright recorded (or found \
             at start-up) in commit {commit}, which the file holds (the branch moved back, \
             the file was untracked, or a commit took an older index entry); recorded again \
             as an external change"
        );
    }
}

/// Commits `files` (with `inside_only`, those inside the repository) as
/// (author, committer) with `message`. A lock a crashed git left behind
/// fails every commit until removed: it is removed (only when no process
/// holds it) and the commit tried once more.
fn commit_files(
    repo: &Mutex<Option<git2::Repository>>,
    files: &[WrittenFile],
    inside_only: bool,
    (author, committer): (&Identity, &Identity),
    message: &str,
    book: Option<Book<'_>>,
) -> Result<(Option<String>, Vec<git2::IndexEntry>), String> {
    let guard = repo.lock().unwrap_or_else(|p| p.into_inner());
    let Some(repo) = guard.as_ref() else {
        return Err("the zones directory is not a git repository".to_owned());
    };
    // The files git can record, each with its path in the repository,
    // found once for the commit, the versions kept and the index.
    let mut inside: Vec<&WrittenFile> = Vec::with_capacity(files.len());
    let mut rels: Vec<PathBuf> = Vec::with_capacity(files.len());
    for f in files {
        match git::relative(repo, &f.path) {
            Ok(rel) => {
                inside.push(f);
                rels.push(rel);
            }
            Err(_) if inside_only => {}
            Err(e) => return Err(e.to_string()),
        }
    }
    let written: Vec<git::Written<'_>> = inside
        .iter()
        .zip(&rels)
        .map(|(f, rel)| git::Written {
            file: &f.path,
            rel: Some(rel),
            bytes: f.text.as_bytes(),
            stat: f.stat,
            blob: f.blob,
        })
        .collect();
    let versions = book.as_ref().map(|b| b.versions(&rels)).unwrap_or_default();
    let message_of = |lacking: &[&git::Expected<'_>]| restored(lacking, &versions);
    let on_top = git::OnTop {
        expected: versions
            .iter()
            .map(|(rel, k)| git::Expected {
                rel: rel.clone(),
                blob: k.blob,
                text: k.text.as_bytes(),
                earlier: &k.earlier,
            })
            .collect(),
        who: committer,
        message: &message_of,
        restored: std::cell::RefCell::default(),
    };
    let on_top = (!on_top.expected.is_empty()).then_some(&on_top);
    let (oid, entries) = with_stale_locks_cleared(repo, || {
        git::commit_written_on(repo, &written, (author, committer), message, on_top)
    })?;
    if let Some(on) = on_top {
        warn_restored(&on.restored.borrow(), &versions);
    }
    if let Some(b) = &book {
        // Not made: the branch holds these versions already (its tip).
        let at = oid.or_else(|| repo.head().ok().and_then(|h| h.target()));
        b.keep(repo, &rels, &inside, &entries, at);
    }
    let entries = changed_entries(repo, oid, entries);
    Ok((oid.map(|o| o.to_string()), entries))
}

/// The index entries of the files commit `made` changed. A file whose
/// content the commit did not change (saved again as it was, or a commit
/// not made because nothing changed) keeps its index entry: it may hold a
/// change a person staged, and `git status` compares the content anyway.
fn changed_entries(
    repo: &git2::Repository,
    made: Option<git2::Oid>,
    entries: Vec<git2::IndexEntry>,
) -> Vec<git2::IndexEntry> {
    use std::os::unix::ffi::OsStrExt;
    let Some(made) = made else {
        return Vec::new();
    };
    let parent = repo
        .find_commit(made)
        .ok()
        .and_then(|c| c.parent(0).ok())
        .and_then(|p| p.tree().ok());
    let Some(before) = parent else {
        return entries;
    };
    entries
        .into_iter()
        .filter(|e| {
            let path = Path::new(std::ffi::OsStr::from_bytes(&e.path));
            before.get_path(path).map_or(true, |t| t.id() != e.id)
        })
        .collect()
}

/// Runs `attempt`; when it fails and a lock a crashed git left behind is
/// found (and removed: only when no process holds it), runs it once more.
fn with_stale_locks_cleared<T>(
    repo: &git2::Repository,
    attempt: impl Fn() -> Result<T, git::GitError>,
) -> Result<T, String> {
    attempt()
        .or_else(|e| {
            if git::locks::clear_stale(repo.path()).is_empty() {
                Err(e)
            } else {
                attempt()
            }
        })
        .map_err(|e| e.to_string())
}

/// Attempts at writing the index while another process holds
/// `index.lock` (a `git status` refreshing the index holds it for a few
/// milliseconds), and the pause between them.
const INDEX_TRIES: u32 = 5;
const INDEX_PAUSE: Duration = Duration::from_millis(20);

/// Under a stream of writes the index is written at least this often,
/// not only when the committer is idle: a person's `git commit` takes the
/// zone files' entries from it, and an entry older than the branch's
/// version reverts the file in that commit (which the next write's commit
/// then records again, see `git::OnTop`).
const INDEX_EVERY: Duration = Duration::from_secs(1);

/// Index entries of commits made since the index was last written.
#[derive(Default)]
struct Unindexed {
    entries: Vec<git2::IndexEntry>,
    /// The last write failed (logged once until one succeeds).
    failing: bool,
    /// When the index was last written (or first left behind).
    since: Option<std::time::Instant>,
}

impl Unindexed {
    /// Writes the pending entries once they have waited [`INDEX_EVERY`].
    fn write_if_due(&mut self, repo: &Mutex<Option<git2::Repository>>) {
        if self.entries.is_empty() {
            self.since = None;
            return;
        }
        let since = *self.since.get_or_insert_with(std::time::Instant::now);
        if since.elapsed() >= INDEX_EVERY {
            self.write(repo);
            self.since = None;
        }
    }

    /// Adds a commit's entries; an older entry for the same path is
    /// dropped (so the list stays bounded by the files while the index
    /// cannot be written).
    fn add(&mut self, entries: Vec<git2::IndexEntry>) {
        self.entries
            .retain(|old| entries.iter().all(|new| new.path != old.path));
        self.entries.extend(entries);
    }

    /// Writes the pending entries. A failure leaves only `git status`
    /// behind: the entries are kept and tried again whenever the committer
    /// is next idle (at least every [`RECHECK`]), so a `git status` that
    /// held the lock at the wrong moment cannot leave the index stale.
    fn write(&mut self, repo: &Mutex<Option<git2::Repository>>) {
        if self.entries.is_empty() {
            return;
        }
        let guard = repo.lock().unwrap_or_else(|p| p.into_inner());
        let Some(repo) = guard.as_ref() else {
            self.entries.clear();
            return;
        };
        let mut failure = None;
        for attempt in 0..INDEX_TRIES {
            match git::update_index(repo, &self.entries) {
                Ok(()) => {
                    if self.failing {
                        info!("the git index is up to date again");
                    }
                    self.entries.clear();
                    self.failing = false;
                    return;
                }
                Err(e) => failure = Some(e),
            }
            // An `index.lock` a crash left behind: removed (only when no
            // process holds it) and tried again at once.
            if attempt == 0 && !git::locks::clear_stale(repo.path()).is_empty() {
                continue;
            }
            std::thread::sleep(INDEX_PAUSE);
        }
        if let Some(e) = failure.filter(|_| !self.failing) {
            warn!(
                "cannot update the git index (git status shows committed changes until it \
                 can; trying again): {e}"
            );
        }
        self.failing = true;
    }
}

/// Logs a commit that could not be made, and what becomes of the change.
fn log_failure(zones_dir: &Path, files: &[WrittenFile], (via, logged): (&str, bool), why: &str) {
    let list = files
        .iter()
        .map(|f| f.path.display().to_string())
        .collect::<Vec<_>>()
        .join(" ");
    let dir = zones_dir.display();
    if logged {
        error!(
            "git commit failed: {why}; the writes ({list}) were answered from the write log \
             and stay in it: they are committed under their writers once git takes commits \
             again (tried every {HELD_RETRY:?}, and at the next start); until then new writes \
             are refused"
        );
    } else if via == EXTERNAL {
        error!(
            "git commit of an edit made outside zonewright failed: {why}; the edit is on \
             disk ({list}) and is committed with the next commit of the file or at the next \
             start (or by hand: git -C {dir} add {list} && git -C {dir} commit)"
        );
    } else if via == ROLLBACK {
        error!(
            "git commit of a rollback failed: {why}; the file ({list}) no longer holds \
             the failed writes, and the rollback is committed, under the server's name, \
             before the zone's next commit (or as an external change at the next start)"
        );
    } else {
        error!(
            "git commit failed: {why}; the write ({list}) is answered as failed \
             (SERVFAIL, REST 5xx) and rolled back before the zone's next write"
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rr::{Rdata, RecordType, Rr};

    /// Places in the commit order: what is sent through a place reaches
    /// the thread after what was sent through earlier places and before
    /// what was sent through later ones (or without one), whenever it is
    /// sent; a place given up unused lets what waited behind it go.
    #[test]
    fn messages_reach_the_thread_in_the_order_their_places_were_taken() {
        let (tx, rx) = mpsc::sync_channel::<Msg>(QUEUE);
        let queue = Arc::new(Queue {
            next: Default::default(),
            order: Mutex::default(),
            tx: Mutex::new(Some(tx)),
        });
        let mark = |n: &str| Msg::Unblock(Name::from_ascii(n).expect("name"));
        let got = || -> Vec<String> {
            rx.try_iter()
                .map(|m| match m {
                    Msg::Unblock(n) => n.to_string(),
                    _ => "other".into(),
                })
                .collect()
        };
        let put = |at: Option<&Ticket>, n: &str| {
            assert!(queue.send(at, mark(n)).is_ok(), "sent {n}");
        };
        let (a, b, c) = (queue.take(), queue.take(), queue.take());
        put(Some(&c), "c1");
        put(None, "after");
        put(Some(&b), "b1");
        assert!(got().is_empty(), "all wait behind a");
        put(Some(&a), "a1");
        assert_eq!(got(), ["a1"], "a is the head: sent at once");
        put(Some(&a), "a2");
        drop(c);
        assert_eq!(got(), ["a2"], "c is given up, but a and b are held");
        drop(a);
        assert_eq!(got(), ["b1"], "b is the head now");
        drop(b);
        assert_eq!(got(), ["c1", "after"]);
        put(None, "last");
        assert_eq!(got(), ["last"], "no place held: sent at once");
        // A place given up unused, while a later one waits.
        let (d, e) = (queue.take(), queue.take());
        put(Some(&e), "e1");
        drop(d);
        assert_eq!(got(), ["e1"]);
        drop(e);
        let order = queue.order.lock().expect("order");
        assert!(order.waiting.is_empty() && order.given_up.is_empty());
        assert_eq!(order.head, queue.next.load(Ordering::Relaxed));
    }

    fn txt(value: &str) -> Rr {
        let mut w = vec![value.len() as u8];
        w.extend_from_slice(value.as_bytes());
        Rr {
            name: Name::from_ascii("_acme-challenge.example.com.").expect("name"),
            ttl: 60,
            rtype: RecordType::TXT,
            rdata: Rdata::new(w),
        }
    }

    struct Fixture {
        dir: tempfile::TempDir,
        repo: Arc<Mutex<Option<git2::Repository>>>,
        committer: Committer,
    }

    fn me() -> Identity {
        Identity {
            name: "zonewright".into(),
            email: "zonewright@test".into(),
        }
    }

    impl Fixture {
        fn new() -> Fixture {
            let dir = tempfile::tempdir().expect("tempdir");
            let repo = git::open_or_init(dir.path(), &me()).expect("init");
            let repo = Arc::new(Mutex::new(Some(repo)));
            let names = Names {
                committer: me(),
                host: "test".into(),
                on_top: true,
            };
            let committer = Committer::start(repo.clone(), dir.path().to_path_buf(), names, None);
            Fixture {
                dir,
                repo,
                committer,
            }
        }

        /// Writes version `n` of the zone file; the job that commits it.
        fn write(&self, actor: &str, n: u32, add: Option<&str>, remove: Option<&str>) -> Job {
            let path = self.dir.path().join("example.com.zone");
            let text = format!("; version {n}\n");
            std::fs::write(&path, &text).expect("write");
            let meta = std::fs::metadata(&path).expect("stat");
            let record = Record {
                zone: Name::from_ascii("example.com.").expect("zone"),
                changes: ChangeSet {
                    add: add.into_iter().map(txt).collect(),
                    remove: remove.into_iter().map(txt).collect(),
                    ..ChangeSet::default()
                },
                old_serial: n - 1,
                new_serial: n,
                actor: actor.into(),
                clients: vec![format!("127.0.0.{n}:53").parse().expect("addr")],
                requests: 1,
                via: "rfc2136",
                file: None,
            };
            Job {
                files: vec![WrittenFile {
                    path,
                    text: text.into(),
                    stat: Some(git::Stat::of(&meta)),
                    blob: None,
                }],
                record,
                logged: false,
            }
        }

        /// (author, message, file content) of each commit after the
        /// repository's first, oldest first.
        fn history(&self) -> Vec<(String, String, String)> {
            let guard = self.repo.lock().expect("lock");
            let repo = guard.as_ref().expect("repo");
            let mut walk = repo.revwalk().expect("walk");
            walk.push_head().expect("head");
            let mut out = Vec::new();
            for id in walk {
                let c = repo.find_commit(id.expect("id")).expect("commit");
                let Ok(entry) = c
                    .tree()
                    .expect("tree")
                    .get_path(Path::new("example.com.zone"))
                else {
                    continue;
                };
                let blob = repo.find_blob(entry.id()).expect("blob");
                out.push((
                    c.author().name().unwrap_or_default().to_owned(),
                    c.message().unwrap_or_default().to_owned(),
                    String::from_utf8_lossy(blob.content()).into_owned(),
                ));
            }
            out.reverse();
            out
        }
    }

    fn settle(pending: Vec<Pending>) -> Vec<Outcome> {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_time()
            .build()
            .expect("runtime");
        pending
            .into_iter()
            .map(|p| rt.block_on(p.wait(Duration::from_secs(10))))
            .collect()
    }

    /// The idle restore records again a version the branch lost while the
    /// file still holds it, and leaves a file a person changed alone.
    #[test]
    fn restore_lost_records_again_only_what_the_file_still_holds() {
        let dir = tempfile::tempdir().expect("tempdir");
        let repo = git::open_or_init(dir.path(), &me()).expect("init");
        let repo = Mutex::new(Some(repo));
        let names = Names {
            committer: me(),
            host: "test".into(),
            on_top: true,
        };
        let kept: Kept = Mutex::new(HashMap::new());
        let health = Health::default();
        let to = Target {
            repo: &repo,
            kept: &kept,
            dir: dir.path(),
            names: &names,
            health: &health,
            logged: false,
        };
        let path = dir.path().join("example.com.zone");
        let write = |text: &str| {
            std::fs::write(&path, text).expect("write");
            let file = WrittenFile {
                path: path.clone(),
                text: Arc::new(text.to_owned()),
                stat: None,
                blob: None,
            };
            let book = Book {
                kept: &kept,
                on_top: true,
            };
            commit_files(&repo, &[file], false, (&me(), &me()), text, Some(book))
                .expect("commit")
                .0
                .expect("made")
        };
        let first = write("; version 1\n");
        let second = write("; version 2\n");
        let tip = || {
            let guard = repo.lock().expect("lock");
            let repo = guard.as_ref().expect("repo");
            repo.head()
                .expect("head")
                .target()
                .expect("tip")
                .to_string()
        };
        let move_back = || {
            let guard = repo.lock().expect("lock");
            let repo = guard.as_ref().expect("repo");
            let id = git2::Oid::from_str(&first).expect("id");
            repo.reference("refs/heads/master", id, true, "test: moved back")
                .or_else(|_| repo.reference("refs/heads/main", id, true, "test: moved back"))
                .expect("ref");
        };
        let mut unindexed = Unindexed::default();
        // A person changed the file back too: theirs, not recorded over.
        move_back();
        std::fs::write(&path, "; version 1\n").expect("revert");
        let mut checked = None;
        restore_lost(&to, (&mut checked, &mut None), &mut unindexed);
        assert_eq!(tip(), first);
        // The file still holds what was recorded: recorded again.
        std::fs::write(&path, "; version 2\n").expect("put back");
        let mut checked = None;
        restore_lost(&to, (&mut checked, &mut None), &mut unindexed);
        let guard = repo.lock().expect("lock");
        let r = guard.as_ref().expect("repo");
        let head = r.head().expect("head").peel_to_commit().expect("commit");
        assert_eq!(head.parent_id(0).expect("parent").to_string(), first);
        let message = head.message().unwrap_or_default();
        assert!(
            message.contains(&format!("Restores: {second} example.com.zone")),
            "{message}"
        );
        assert_eq!(zone_at(r, &head), b"; version 2\n");
        // A person's commit of a version the file never held (through the
        // index only): the file still holds what was recorded, so that is
        // recorded again on top of it.
        let alice = {
            let theirs = r.blob(b"; theirs\n").expect("blob");
            let mut update = git2::build::TreeUpdateBuilder::new();
            update.upsert("example.com.zone", theirs, git2::FileMode::Blob);
            let tree_id = update
                .create_updated(r, &head.tree().expect("tree"))
                .expect("tree");
            let tree = r.find_tree(tree_id).expect("tree");
            let sig = git2::Signature::now("alice", "alice@test").expect("sig");
            r.commit(
                Some("HEAD"),
                &sig,
                &sig,
                "alice, index only",
                &tree,
                &[&head],
            )
            .expect("commit")
        };
        drop(head);
        drop(guard);
        restore_lost(&to, (&mut None, &mut None), &mut unindexed);
        let guard = repo.lock().expect("lock");
        let r = guard.as_ref().expect("repo");
        let head = r.head().expect("head").peel_to_commit().expect("commit");
        assert_eq!(head.parent_id(0).expect("parent"), alice);
        assert_eq!(zone_at(r, &head), b"; version 2\n");
    }

    /// The text of `example.com.zone` in `commit`.
    fn zone_at(r: &git2::Repository, commit: &git2::Commit<'_>) -> Vec<u8> {
        let tree = commit.tree().expect("tree");
        let entry = tree.get_path(Path::new("example.com.zone")).expect("entry");
        r.find_blob(entry.id()).expect("blob").content().to_vec()
    }

    #[test]
    fn external_message_has_trailers() {
        let m = external_message(&Name::from_ascii("example.com.").expect("n"), 5);
        assert!(
            m.starts_with("example.com: external change, serial 5\n"),
            "{m}"
        );
        assert!(m.contains("Via: external"));
        assert!(m.contains("Serial: 5\n"));
    }

    /// A big external change must not hold up other zones' commits: its
    /// blob is written before it is queued, and the commit uses it.
    #[test]
    fn an_external_change_is_hashed_before_it_is_queued() {
        let f = Fixture::new();
        let path = f.dir.path().join("big.test.zone");
        let text = "; a hand-made zone file\n".repeat(1000);
        std::fs::write(&path, &text).expect("write");
        let mut files = vec![WrittenFile {
            path: path.clone(),
            text: text.clone().into(),
            stat: None,
            blob: None,
        }];
        prehash(f.dir.path(), &mut files);
        let blob = files[0].blob.expect("hashed on the caller's thread");
        {
            let guard = f.repo.lock().expect("lock");
            let repo = guard.as_ref().expect("repo");
            assert_eq!(
                repo.find_blob(blob).expect("written").content(),
                text.as_bytes()
            );
        }
        let job = Job {
            files,
            record: Record::external(&Name::from_ascii("big.test.").expect("zone"), 1),
            logged: false,
        };
        let done = settle(vec![f.committer.submit(job)]);
        assert!(matches!(done[0], Outcome::Committed(Some(_))), "{done:?}");
        let guard = f.repo.lock().expect("lock");
        let repo = guard.as_ref().expect("repo");
        let tree = repo.head().and_then(|h| h.peel_to_tree()).expect("tree");
        let entry = tree.get_name("big.test.zone").expect("committed");
        assert_eq!(entry.id(), blob);
    }

    /// On a detached HEAD nothing is committed (the store asks first, the
    /// thread again before each commit); an edit found meanwhile is held
    /// and committed, without any write, once HEAD is back on its branch.
    #[test]
    fn a_detached_head_holds_commits_until_it_is_back_on_its_branch() {
        let f = Fixture::new();
        let set_head = |detach: bool, branch: &str| {
            let guard = f.repo.lock().expect("lock");
            let repo = guard.as_ref().expect("repo");
            if detach {
                let id = repo.head().and_then(|h| h.peel_to_commit()).expect("head");
                repo.set_head_detached(id.id()).expect("detach");
            } else {
                repo.set_head(branch).expect("attach");
            }
        };
        let branch = {
            let guard = f.repo.lock().expect("lock");
            let repo = guard.as_ref().expect("repo");
            repo.head().expect("head").name().expect("utf-8").to_owned()
        };
        set_head(true, &branch);
        let why = f.committer.check_repo().expect_err("detached");
        assert!(why.contains("HEAD is detached"), "{why}");
        let mut edit = f.write("acme-key", 2, Some("by hand"), None);
        edit.record = Record::external(&edit.record.zone, 2);
        let done = settle(vec![f.committer.submit(edit)]);
        assert!(
            matches!(&done[0], Outcome::Failed(w) if w.contains("detached")),
            "{done:?}"
        );
        assert!(f.history().is_empty());

        set_head(false, &branch);
        let deadline = std::time::Instant::now() + Duration::from_secs(5);
        while f.history().is_empty() && std::time::Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(50));
        }
        let h = f.history();
        assert_eq!(h.len(), 1, "the held edit is committed: {h:?}");
        assert!(h[0].1.contains("external change"), "{}", h[0].1);
        assert_eq!(f.committer.check_repo(), Ok(()));
    }

    #[test]
    fn each_write_is_answered_with_its_commit_which_records_its_version() {
        let f = Fixture::new();
        let a = settle(vec![f.committer.submit(f.write(
            "acme-key",
            2,
            Some("one"),
            None,
        ))]);
        let b = settle(vec![f.committer.submit(f.write(
            "acme-key",
            3,
            None,
            Some("one"),
        ))]);
        assert!(matches!(&a[0], Outcome::Committed(Some(_))), "{a:?}");
        assert!(matches!(&b[0], Outcome::Committed(Some(_))), "{b:?}");
        assert_ne!(a, b);
        let h = f.history();
        assert_eq!(h.len(), 2, "{h:?}");
        assert_eq!(h[0].2, "; version 2\n");
        assert!(
            h[0].1
                .contains("+ _acme-challenge.example.com. 60 IN TXT \"one\"")
        );
        assert!(h[1].1.contains("Serial: 2 -> 3"), "{}", h[1].1);
        assert_eq!(h[1].0, "acme-key");
    }

    /// Queues `jobs` before the committer thread looks at its queue, runs
    /// the thread's loop here until the queue is done, and returns each
    /// job's outcome.
    fn run_queued<const N: usize>(f: &Fixture, jobs: [Job; N], health: &Health) -> Vec<Outcome> {
        let (tx, rx) = mpsc::channel();
        let mut pending = Vec::new();
        for job in jobs {
            let (done, rx) = watch::channel(None);
            tx.send(Msg::Job(Box::new((job, done)))).expect("queue");
            pending.push(Pending {
                rx,
                warned: Arc::new(AtomicBool::new(false)),
            });
        }
        drop(tx);
        let names = Names {
            committer: me(),
            host: "test".into(),
            on_top: true,
        };
        run(
            &rx,
            &f.repo,
            f.dir.path(),
            &names,
            &Mutex::default(),
            health,
            None,
        );
        settle(pending)
    }

    /// The pause between rounds of logged commits follows their cost, so
    /// a folder of thousands of zones or a huge zone file (whose commits
    /// cost milliseconds) is committed in fewer, larger rounds, while a
    /// lone ACME write's commit (and its NOTIFY) never waits long.
    #[test]
    fn the_pause_between_logged_rounds_is_ten_times_their_cost_within_bounds() {
        let ms = Duration::from_millis;
        assert_eq!(logged_pause(Duration::ZERO), LOGGED_GATHER);
        assert_eq!(logged_pause(ms(1)), LOGGED_GATHER);
        assert_eq!(logged_pause(ms(9)), ms(90));
        assert_eq!(logged_pause(ms(15)), ms(150));
        assert_eq!(logged_pause(ms(500)), LOGGED_GATHER_MAX);
        assert_eq!(logged_pause(Duration::MAX), LOGGED_GATHER_MAX);
    }

    /// With the write log, the logged writes of one key queued behind each
    /// other share one commit whatever their zone (one tree written for
    /// many zones); its message lists each zone's changes and serials.
    #[test]
    fn logged_writes_of_one_key_to_several_zones_share_a_commit() {
        let f = Fixture::new();
        let job = |zone: &str, actor: &str, n: u32, value: &str| {
            let path = f.dir.path().join(format!("{zone}zone"));
            let text = format!("; {zone} version {n}\n");
            std::fs::write(&path, &text).expect("write");
            Job {
                files: vec![WrittenFile {
                    path: path.clone(),
                    text: text.into(),
                    stat: None,
                    blob: None,
                }],
                record: Record {
                    zone: Name::from_ascii(zone).expect("zone"),
                    changes: ChangeSet {
                        add: vec![txt(value)],
                        ..ChangeSet::default()
                    },
                    old_serial: n - 1,
                    new_serial: n,
                    actor: actor.into(),
                    clients: vec!["127.0.0.1:53".parse().expect("addr")],
                    requests: 1,
                    via: "rfc2136",
                    file: Some(path),
                },
                logged: true,
            }
        };
        let jobs = [
            job("example.com.", "acme-key", 2, "a"),
            job("example.net.", "acme-key", 7, "b"),
            job("example.com.", "acme-key", 3, "c"),
            job("example.net.", "other-key", 8, "d"),
        ];
        let health = Health::default();
        let ids = run_queued(&f, jobs, &health);
        assert!(ids[0] == ids[1] && ids[1] == ids[2], "{ids:?}");
        assert_ne!(ids[2], ids[3], "another key: its own commit");
        let guard = f.repo.lock().expect("lock");
        let repo = guard.as_ref().expect("repo");
        let head = repo.head().and_then(|h| h.peel_to_commit()).expect("head");
        let group = head.parent(0).expect("parent");
        let msg = group.message().unwrap_or_default();
        assert_eq!(group.author().name().ok(), Some("acme-key"));
        assert!(
            msg.starts_with("acme-key: 3 writes to 2 zones (example.com. example.net.)\n"),
            "{msg}"
        );
        assert!(msg.contains("Serial: example.com. 1 -> 3\n"), "{msg}");
        assert!(msg.contains("Serial: example.net. 6 -> 7\n"), "{msg}");
        // Which file each zone's writes went to, for a start-up that finds
        // the zones read from other files.
        assert!(
            msg.ends_with(
                "File: example.com. example.com.zone\nFile: example.net. example.net.zone\n"
            ),
            "{msg}"
        );
        let own = head.message().unwrap_or_default();
        assert!(
            own.ends_with("Serial: 7 -> 8\nFile: example.net.zone\n"),
            "{own}"
        );
        assert!(
            msg.contains("+ _acme-challenge.example.com. 60 IN TXT \"c\""),
            "{msg}"
        );
        assert_eq!(msg.matches("Via: rfc2136").count(), 1, "{msg}");
        let tree = group.tree().expect("tree");
        let text = |name: &str| {
            let id = tree.get_name(name).expect("in the tree").id();
            String::from_utf8(repo.find_blob(id).expect("blob").content().to_vec()).expect("utf-8")
        };
        assert_eq!(text("example.com.zone"), "; example.com. version 3\n");
        assert_eq!(text("example.net.zone"), "; example.net. version 7\n");
        assert_eq!(health.waiting.load(Ordering::Relaxed), 0);
    }

    /// Batches queued while a commit is being made are recorded together
    /// when they come from the same actor; another actor gets its own.
    #[test]
    fn queued_batches_of_one_actor_share_a_commit_that_lists_every_change() {
        let f = Fixture::new();
        // All four are queued before the committer looks at the queue.
        let jobs = [
            f.write("acme-key", 2, Some("a"), None),
            f.write("acme-key", 3, None, Some("a")),
            f.write("acme-key", 4, Some("b"), None),
            f.write("other-key", 5, Some("c"), None),
        ];
        let ids = run_queued(&f, jobs, &Health::default());
        assert!(
            ids.iter().all(|i| matches!(i, Outcome::Committed(Some(_)))),
            "{ids:?}"
        );
        assert!(
            ids[0] == ids[1] && ids[1] == ids[2],
            "one actor: one commit"
        );
        assert_ne!(ids[2], ids[3], "another actor: its own commit");
        let h = f.history();
        assert_eq!(h.len(), 2, "{h:?}");
        let (author, msg, content) = &h[0];
        assert_eq!(author, "acme-key");
        assert_eq!(content, "; version 4\n");
        // Both the add and the remove of "a" stay on record.
        assert!(
            msg.contains("- _acme-challenge.example.com. 60 IN TXT \"a\""),
            "{msg}"
        );
        assert!(
            msg.contains("+ _acme-challenge.example.com. 60 IN TXT \"b\""),
            "{msg}"
        );
        assert!(msg.contains("-> 4\n"), "{msg}");
        assert!(msg.contains("127.0.0.4:53"), "{msg}");
        assert!(msg.contains("Serial: 1 -> 4\n"), "{msg}");
        assert!(msg.contains("Requests: 3\n"), "{msg}");
        let (author, msg, content) = &h[1];
        assert_eq!(author, "other-key");
        assert_eq!(content, "; version 5\n");
        assert!(msg.contains("Serial: 4 -> 5"), "{msg}");
        // The index was brought up to date once the queue was empty.
        let guard = f.repo.lock().expect("lock");
        let repo = guard.as_ref().expect("repo");
        let file = f.dir.path().join("example.com.zone");
        assert!(!git::is_dirty(repo, &file).expect("status"));
    }

    /// Dropping the committer (shutdown) commits what is queued first.
    #[test]
    fn dropping_the_committer_commits_the_queue() {
        let f = Fixture::new();
        let jobs = [
            f.write("acme-key", 2, Some("a"), None),
            f.write("other-key", 3, Some("b"), None),
            f.write("acme-key", 4, Some("c"), None),
        ];
        let pending: Vec<Pending> = jobs.into_iter().map(|j| f.committer.submit(j)).collect();
        let Fixture {
            dir,
            repo,
            committer,
        } = f;
        drop(committer);
        let ids: Vec<Option<Outcome>> = pending.iter().map(Pending::outcome).collect();
        assert!(
            ids.iter()
                .all(|i| matches!(i, Some(Outcome::Committed(Some(_))))),
            "{ids:?}"
        );
        let f = Fixture {
            dir,
            repo: repo.clone(),
            committer: Committer::start(
                repo,
                std::env::temp_dir(),
                Names {
                    committer: me(),
                    host: "test".into(),
                    on_top: true,
                },
                None,
            ),
        };
        let h = f.history();
        assert_eq!(h.len(), 3, "three actors in turn: three commits");
        assert_eq!(h[2].2, "; version 4\n");
    }

    #[test]
    fn no_repository_fails_every_commit() {
        let dir = tempfile::tempdir().expect("tempdir");
        let names = Names {
            committer: me(),
            host: "test".into(),
            on_top: true,
        };
        let c = Committer::start(
            Arc::new(Mutex::new(None)),
            dir.path().to_path_buf(),
            names,
            None,
        );
        let path = dir.path().join("z");
        std::fs::write(&path, "x").expect("write");
        let meta = std::fs::metadata(&path).expect("stat");
        let p = c.submit(Job {
            files: vec![WrittenFile {
                path,
                text: Arc::new("x".into()),
                stat: Some(git::Stat::of(&meta)),
                blob: None,
            }],
            record: Record {
                zone: Name::from_ascii("example.com.").expect("zone"),
                changes: ChangeSet::default(),
                old_serial: 1,
                new_serial: 2,
                actor: "k".into(),
                clients: Vec::new(),
                requests: 1,
                via: "rfc2136",
                file: None,
            },
            logged: false,
        });
        let out = settle(vec![p]);
        assert!(
            matches!(&out[..], [Outcome::Failed(why)] if why.contains("not a git repository")),
            "{out:?}"
        );
    }

    /// A commit git refuses fails its batch and every batch of the zone
    /// queued behind it (they hold its change), keeps what each changed
    /// for the store's rollback, and leaves other zones alone; the
    /// rollback job lifts the block and is committed.
    #[test]
    fn a_failed_commit_blocks_its_zone_until_the_rollback() {
        let f = Fixture::new();
        // Another process holds the branch's ref lock: every commit fails.
        let head = std::fs::read_to_string(f.dir.path().join(".git/HEAD")).expect("HEAD");
        let branch = head.trim().trim_start_matches("ref: ");
        let lock = f.dir.path().join(".git").join(format!("{branch}.lock"));
        let held = std::fs::File::create(&lock).expect("lock");
        let a = f.committer.submit(f.write("acme-key", 2, Some("a"), None));
        let b = f.committer.submit(f.write("other-key", 3, Some("b"), None));
        let mut external = f.write("x", 4, None, None);
        external.record = Record::external(&external.record.zone, 4);
        let c = f.committer.submit(external);
        let out = settle(vec![a, b, c]);
        assert!(
            out.iter().all(|o| matches!(o, Outcome::Failed(_))),
            "{out:?}"
        );
        let zone = Name::from_ascii("example.com.").expect("zone");
        f.committer.barrier();
        let blocked = f.committer.blocked(&zone).expect("blocked");
        // The external change is no write to undo: two change sets.
        assert_eq!(blocked.changes.len(), 2, "{blocked:?}");
        assert_eq!(blocked.changes[0].add, vec![txt("a")]);
        assert_eq!(blocked.changes[1].add, vec![txt("b")]);
        drop(held);
        std::fs::remove_file(&lock).expect("unlock");
        // Still blocked although git works again: a write on top of the
        // failed ones is not committed until they are undone.
        let d = settle(vec![f.committer.submit(f.write(
            "acme-key",
            5,
            Some("d"),
            None,
        ))]);
        assert!(matches!(&d[0], Outcome::Failed(_)), "{d:?}");
        let mut rollback = f.write("zonewright", 6, None, Some("a"));
        rollback.record.via = ROLLBACK;
        let r = settle(vec![f.committer.submit(rollback)]);
        assert!(matches!(&r[0], Outcome::Committed(Some(_))), "{r:?}");
        assert!(f.committer.blocked(&zone).is_none());
        let e = settle(vec![f.committer.submit(f.write(
            "acme-key",
            7,
            Some("e"),
            None,
        ))]);
        assert!(matches!(&e[0], Outcome::Committed(Some(_))), "{e:?}");
        let h = f.history();
        assert_eq!(
            h.len(),
            2,
            "only the rollback and the write after it: {h:?}"
        );
        assert_eq!(h[0].0, "zonewright");
        assert!(h[0].1.contains("Via: rollback"), "{}", h[0].1);
    }

    /// The branch's ref lock, held open by this process (so it is not
    /// stale): every commit fails while the file is held.
    fn hold_branch_lock(f: &Fixture) -> (std::fs::File, PathBuf) {
        let head = std::fs::read_to_string(f.dir.path().join(".git/HEAD")).expect("HEAD");
        let branch = head.trim().trim_start_matches("ref: ");
        let lock = f.dir.path().join(".git").join(format!("{branch}.lock"));
        (std::fs::File::create(&lock).expect("lock"), lock)
    }

    /// CI, round 19: a `git status` (which refreshes the index, holding
    /// `index.lock` meanwhile) at the moment the committer wrote the index
    /// left the index stale until the next write: `git status` showed the
    /// committed file modified. The entries are kept and written once the
    /// lock is free.
    #[test]
    fn an_index_write_refused_by_a_held_lock_is_made_once_it_is_free() {
        let f = Fixture::new();
        let lock = f.dir.path().join(".git/index.lock");
        // Held open by this process, so never removed as stale.
        let held = std::fs::File::create(&lock).expect("lock");
        let w = settle(vec![f.committer.submit(f.write(
            "acme-key",
            2,
            Some("a"),
            None,
        ))]);
        assert!(matches!(&w[0], Outcome::Committed(Some(_))), "{w:?}");
        // The index entry differs from HEAD's blob (`git status`: "MM").
        let dirty = || {
            let guard = f.repo.lock().expect("lock");
            let repo = guard.as_ref().expect("repo");
            let rel = Path::new("example.com.zone");
            let head = repo.head().expect("head").peel_to_tree().expect("tree");
            let committed = head.get_path(rel).expect("committed").id();
            let mut index = repo.index().expect("index");
            index.read(true).expect("read");
            index.get_path(rel, 0).map(|e| e.id) != Some(committed)
        };
        assert!(dirty(), "the index was written through a held lock");
        drop(held);
        std::fs::remove_file(&lock).expect("unlock");
        // Written when the idle committer looks again (every RECHECK).
        let deadline = std::time::Instant::now() + RECHECK * 10;
        while dirty() && std::time::Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(50));
        }
        assert!(!dirty(), "the index stayed stale after the lock was freed");
    }

    /// A person's edit whose commit failed is committed as theirs before
    /// the next write, never inside the writer's commit.
    #[test]
    fn an_edit_git_could_not_record_is_committed_as_theirs_before_the_next_write() {
        let f = Fixture::new();
        let (held, lock) = hold_branch_lock(&f);
        let mut edit = f.write("x", 2, None, None);
        edit.record = Record::external(&edit.record.zone, 2);
        let out = settle(vec![f.committer.submit(edit)]);
        assert!(matches!(&out[0], Outcome::Failed(_)), "{out:?}");
        // While git still fails, a write is not committed on top of it.
        let w = settle(vec![f.committer.submit(f.write(
            "acme-key",
            3,
            Some("a"),
            None,
        ))]);
        let Outcome::Failed(why) = &w[0] else {
            panic!("{w:?}");
        };
        assert!(why.contains("edit made outside zonewright"), "{why}");
        let zone = Name::from_ascii("example.com.").expect("zone");
        assert!(f.committer.blocked(&zone).is_some());
        // Its rollback records the file (with the edit), by the server.
        drop(held);
        std::fs::remove_file(&lock).expect("unlock");
        let mut rollback = f.write("zonewright", 4, None, Some("a"));
        rollback.record.via = ROLLBACK;
        let r = settle(vec![f.committer.submit(rollback)]);
        assert!(matches!(&r[0], Outcome::Committed(Some(_))), "{r:?}");
        // Another edit fails to commit; git then works: the next write
        // first records the edit as an external change.
        let (held, lock) = hold_branch_lock(&f);
        let mut edit = f.write("x", 5, None, None);
        edit.record = Record::external(&edit.record.zone, 5);
        assert!(matches!(
            settle(vec![f.committer.submit(edit)])[0],
            Outcome::Failed(_)
        ));
        drop(held);
        std::fs::remove_file(&lock).expect("unlock");
        let w = settle(vec![f.committer.submit(f.write(
            "acme-key",
            6,
            Some("b"),
            None,
        ))]);
        assert!(matches!(&w[0], Outcome::Committed(Some(_))), "{w:?}");
        let h = f.history();
        let last: Vec<(&str, &str, &str)> = h
            .iter()
            .rev()
            .take(2)
            .map(|(a, m, t)| (a.as_str(), m.as_str(), t.as_str()))
            .collect();
        assert_eq!(last[1].0, "zonewright", "{h:?}");
        assert!(last[1].1.contains("external change, serial 5"), "{h:?}");
        assert_eq!(last[1].2, "; version 5\n");
        assert_eq!(last[0].0, "acme-key", "{h:?}");
        assert_eq!(last[0].2, "; version 6\n");
    }

    /// A rollback git could not record (a person's edit in its file) is
    /// committed as the server's before the next write, never inside it.
    #[test]
    fn a_rollback_git_could_not_record_is_committed_before_the_next_write() {
        let f = Fixture::new();
        let (held, lock) = hold_branch_lock(&f);
        let mut edit = f.write("x", 2, None, None);
        edit.record = Record::external(&edit.record.zone, 2);
        assert!(matches!(
            settle(vec![f.committer.submit(edit)])[0],
            Outcome::Failed(_)
        ));
        let w = settle(vec![f.committer.submit(f.write(
            "acme-key",
            3,
            Some("a"),
            None,
        ))]);
        assert!(matches!(&w[0], Outcome::Failed(_)), "{w:?}");
        let mut rollback = f.write("zonewright", 4, None, Some("a"));
        rollback.record.via = ROLLBACK;
        let r = settle(vec![f.committer.submit(rollback)]);
        assert!(matches!(&r[0], Outcome::Failed(_)), "{r:?}");
        drop(held);
        std::fs::remove_file(&lock).expect("unlock");
        let w = settle(vec![f.committer.submit(f.write(
            "key2",
            5,
            Some("b"),
            None,
        ))]);
        assert!(matches!(&w[0], Outcome::Committed(Some(_))), "{w:?}");
        let h = f.history();
        assert_eq!(h.len(), 2, "{h:?}");
        assert_eq!(h[0].0, "zonewright");
        assert!(h[0].1.contains("Via: rollback"), "{}", h[0].1);
        assert_eq!(h[0].2, "; version 4\n");
        assert_eq!(h[1].0, "key2");
        assert_eq!(h[1].2, "; version 5\n");
    }

    /// An `$INCLUDE`d file outside the repository does not fail a
    /// person's edit: the files git can record are committed.
    #[test]
    fn an_edit_records_the_files_inside_the_repository() {
        let f = Fixture::new();
        let outside = tempfile::tempdir().expect("tempdir");
        let mut edit = f.write("x", 2, None, None);
        edit.record = Record::external(&edit.record.zone, 2);
        edit.files.push(WrittenFile {
            path: outside.path().join("acme.inc"),
            text: Arc::new("t 60 IN TXT \"included\"\n".into()),
            stat: None,
            blob: None,
        });
        let out = settle(vec![f.committer.submit(edit)]);
        assert!(matches!(&out[0], Outcome::Committed(Some(_))), "{out:?}");
        let h = f.history();
        assert_eq!(h.last().map(|c| c.2.as_str()), Some("; version 2\n"));
    }

    #[test]
    fn unblock_lifts_the_block_in_queue_order() {
        let blocked: Mutex<HashMap<Name, Blocked>> = Mutex::default();
        let zone = Name::from_ascii("example.com.").expect("zone");
        let record = |via: &'static str| Record {
            zone: zone.clone(),
            changes: ChangeSet::default(),
            old_serial: 1,
            new_serial: 2,
            actor: "k".into(),
            clients: Vec::new(),
            requests: 1,
            via,
            file: None,
        };
        let failed = decide(&blocked, &record("rfc2136"), vec![], || Err("no".into()));
        assert_eq!(failed, Outcome::Failed("no".into()));
        let mut called = false;
        let after = decide(&blocked, &record("rest"), vec![], || {
            called = true;
            Ok(None)
        });
        assert!(matches!(after, Outcome::Failed(_)) && !called);
        let f = Fixture::new();
        f.committer
            .blocked
            .lock()
            .expect("lock")
            .insert(zone.clone(), blocked.lock().expect("lock")[&zone].clone());
        f.committer.unblock(&zone);
        f.committer.barrier();
        assert!(f.committer.blocked(&zone).is_none());
    }
}
