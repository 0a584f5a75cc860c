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
//! A write is still answered only after its commit is made (or the commit
//! timed out, or git failed: then the ERROR log says how to record it), so
//! invariant 1 holds as before; what the pipeline buys is that batch N+1's
//! disk write overlaps batch N's commit instead of waiting for it. Commits
//! are made from the bytes the writer wrote, so batch N's commit records
//! batch N's version even when the file on disk is already N+1's, and one
//! thread makes them in submission order, so history follows the serials.
//!
//! When commits fall behind the writes (a burst of UPDATEs), the batches
//! queued for one zone from the same actor and writer are recorded as one
//! commit (git-level group commit): its message lists every RR each batch
//! added and removed, in order, with the serial range and the number of
//! requests, and its tree is the last batch's version. The index is
//! written when the queue is empty, before that commit is answered, not
//! once per commit.

use std::net::SocketAddr;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, mpsc};
use std::time::Duration;

use tokio::sync::watch;
use tracing::{error, warn};

use super::audit::{self, Provenance};
use crate::git::{self, Identity};
use crate::rr::{ChangeSet, Name};
use crate::zonefile::Document;

/// A file version the writer installed (or the reloader read): what the
/// commit records.
pub struct WrittenFile {
    pub path: PathBuf,
    pub text: String,
    /// The file's stat as written, for the index entry; `None` for a
    /// version read from disk earlier (see [`git::Written::stat`]).
    pub stat: Option<git::Stat>,
}

/// The writer of a change nobody made through zonewright.
pub const EXTERNAL: &str = "external";

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
}

impl Record {
    fn external(zone: &Name, serial: u32) -> Record {
        Record {
            zone: zone.clone(),
            changes: ChangeSet::default(),
            old_serial: serial,
            new_serial: serial,
            actor: "external change".into(),
            clients: Vec::new(),
            requests: 1,
            via: EXTERNAL,
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

    fn message(&self) -> String {
        let who = Provenance {
            actor: &self.actor,
            clients: self.clients.clone(),
            requests: self.requests,
            via: self.via,
        };
        if self.via == EXTERNAL {
            return audit::external_message(&self.zone, self.new_serial, &who).to_string();
        }
        audit::message(
            &self.zone,
            &self.changes,
            self.old_serial,
            self.new_serial,
            &who,
        )
        .to_string()
    }
}

/// One batch's commit.
pub struct Job {
    pub files: Vec<WrittenFile>,
    pub record: Record,
}

impl Job {
    /// Records `document` (every file of it, as it was read) as an
    /// `external change` of `zone` at `serial`: an edit made outside
    /// zonewright that the reloader or the store found on disk. Queued
    /// like any write, it lands in history between the writes made before
    /// the edit and those made on top of it, with exactly the text read.
    pub fn external(zone: &Name, serial: u32, document: &Document) -> Job {
        let files = document
            .files()
            .iter()
            .map(|f| WrittenFile {
                path: PathBuf::from(f.name.as_ref()),
                text: f.text.clone(),
                stat: None,
            })
            .collect();
        Job {
            files,
            record: Record::external(zone, serial),
        }
    }
}

/// The message of an `external change` commit of `zone` at `serial`.
pub fn external_message(zone: &Name, serial: u32) -> String {
    Record::external(zone, serial).message()
}

/// `None` until the commit is done; then the commit id, or `None` when git
/// failed (logged).
type Done = Option<Option<String>>;

/// The commit a batch's writes wait for.
#[derive(Clone)]
pub struct Pending {
    rx: watch::Receiver<Done>,
    /// Set by the first of the batch's writers that gave up waiting, so the
    /// warning is logged once per batch.
    warned: Arc<AtomicBool>,
}

impl Pending {
    /// The commit id once the commit is made, waiting at most `limit`.
    /// `None` when git failed or the commit is slower than `limit`; the
    /// write stands either way (it is on disk), and a slow commit goes on
    /// in the background.
    pub async fn wait(mut self, limit: Duration) -> Option<String> {
        match tokio::time::timeout(limit, self.rx.wait_for(Option::is_some)).await {
            Ok(Ok(done)) => done.clone().flatten(),
            // The committer is gone (it logged why).
            Ok(Err(_)) => None,
            Err(_) => {
                if !self.warned.swap(true, Ordering::Relaxed) {
                    warn!(
                        "git commit not done after {limit:?}; answering without it \
                         (the change is on disk, and the commit goes on in the background)"
                    );
                }
                None
            }
        }
    }

    /// The outcome if the commit is done (`Some(None)`: git failed), without
    /// waiting.
    pub fn outcome(&self) -> Option<Option<String>> {
        self.rx.borrow().clone()
    }

    /// A pending commit that is already settled (a commit made directly,
    /// and the fallback when the committer is gone).
    pub fn settled(id: Option<String>) -> Pending {
        let (_, rx) = watch::channel(Some(id));
        Pending {
            rx,
            warned: Arc::new(AtomicBool::new(false)),
        }
    }
}

/// A job on the queue, with where its outcome goes.
type Queued = (Job, watch::Sender<Done>);

/// Most batches one commit records.
const MAX_GROUP: usize = 256;

/// Most commits waiting in the queue. Each holds its files' full text, so
/// the bound bounds memory: a writer that finds the queue full waits (in
/// its zone's turn, on its blocking thread) until the committer catches up.
const QUEUE: usize = 32;

/// How long dropping the committer (at shutdown) waits for the commits
/// still queued.
const DRAIN_LIMIT: Duration = Duration::from_secs(10);

/// The queue of commits and the thread that makes them.
pub struct Committer {
    tx: Mutex<Option<mpsc::SyncSender<Queued>>>,
    zones_dir: PathBuf,
    /// Closed by the thread when it ends (in a mutex only to be `Sync`).
    finished: Mutex<Option<mpsc::Receiver<()>>>,
}

impl Drop for Committer {
    /// Closes the queue and waits (bounded) for the thread to commit what
    /// is queued, so a shutdown records every write it answered.
    fn drop(&mut self) {
        drop(self.tx.get_mut().unwrap_or_else(|p| p.into_inner()).take());
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
}

impl Committer {
    /// Starts the committer thread over `repo` (`None`: the zones directory
    /// is no repository; every job then fails with that reason, logged).
    pub fn start(
        repo: Arc<Mutex<Option<git2::Repository>>>,
        zones_dir: PathBuf,
        names: Names,
    ) -> Committer {
        let (tx, rx) = mpsc::sync_channel::<Queued>(QUEUE);
        let (finished_tx, finished) = mpsc::channel::<()>();
        let dir = zones_dir.clone();
        let spawned = std::thread::Builder::new()
            .name("git-committer".into())
            .spawn(move || {
                run(&rx, &repo, &dir, &names);
                drop(finished_tx);
            });
        let tx = match spawned {
            Ok(_) => Some(tx),
            Err(e) => {
                error!("cannot start the git committer thread: {e}; writes will not be committed");
                None
            }
        };
        Committer {
            tx: Mutex::new(tx),
            zones_dir,
            finished: Mutex::new(Some(finished)),
        }
    }

    /// Queues `job` behind the commits already submitted; waits while the
    /// queue is full. Call it from a blocking thread.
    pub fn submit(&self, job: Job) -> Pending {
        let (done, rx) = watch::channel(None);
        let tx = self.tx.lock().unwrap_or_else(|p| p.into_inner());
        let refused = match tx.as_ref() {
            Some(tx) => tx.send((job, done)).err().map(|e| e.0.0),
            None => Some(job),
        };
        if let Some(job) = refused {
            log_failure(
                &self.zones_dir,
                &job.files,
                "the git committer thread is not running",
            );
            return Pending::settled(None);
        }
        Pending {
            rx,
            warned: Arc::new(AtomicBool::new(false)),
        }
    }
}

/// The committer thread: takes the jobs in order, records each run of
/// joinable ones as one commit, answers them, and writes the index when
/// nothing is waiting. Ends when the store is dropped.
fn run(
    rx: &mpsc::Receiver<Queued>,
    repo: &Mutex<Option<git2::Repository>>,
    dir: &Path,
    names: &Names,
) {
    let mut next: Option<Queued> = None;
    // Index entries of commits made since the index was last written.
    let mut unindexed: Vec<git2::IndexEntry> = Vec::new();
    loop {
        let first = match next.take() {
            Some(q) => q,
            None => match rx.recv() {
                Ok(q) => q,
                Err(_) => break,
            },
        };
        let mut rest: Vec<Queued> = Vec::new();
        while rest.len() + 1 < MAX_GROUP {
            let last = rest.last().map_or(&first.0.record, |(j, _)| &j.record);
            match rx.try_recv() {
                Ok(q) if last.joins(&q.0.record) => rest.push(q),
                Ok(q) => {
                    next = Some(q);
                    break;
                }
                Err(_) => break,
            }
        }
        let (first, first_done) = first;
        let (jobs, mut dones): (Vec<Job>, Vec<watch::Sender<Done>>) = rest.into_iter().unzip();
        dones.push(first_done);
        let (files, record) = combine(first, jobs);
        let id = match catch_unwind(AssertUnwindSafe(|| commit(repo, &files, &record, names))) {
            Ok(Ok((id, entries))) => {
                unindexed.extend(entries);
                id
            }
            Ok(Err(e)) => {
                log_failure(dir, &files, &e);
                None
            }
            Err(_) => {
                log_failure(dir, &files, "the commit panicked");
                None
            }
        };
        // Nothing more queued: bring the index up to date before answering,
        // so `git status` is clean once the last write is answered.
        if next.is_none() {
            match rx.try_recv() {
                Ok(q) => next = Some(q),
                Err(_) => write_index(repo, &mut unindexed),
            }
        }
        for done in dones {
            let _ = done.send(Some(id.clone()));
        }
    }
    write_index(repo, &mut unindexed);
}

/// One commit's files (each path's last version) and record.
fn combine(first: Job, jobs: Vec<Job>) -> (Vec<WrittenFile>, Record) {
    let (mut files, mut record) = (first.files, first.record);
    for job in jobs {
        record.append(job.record);
        for f in job.files {
            match files.iter_mut().find(|g| g.path == f.path) {
                Some(g) => *g = f,
                None => files.push(f),
            }
        }
    }
    (files, record)
}

/// Makes the commit; returns its id and the index entries to write.
fn commit(
    repo: &Mutex<Option<git2::Repository>>,
    files: &[WrittenFile],
    record: &Record,
    names: &Names,
) -> Result<(Option<String>, Vec<git2::IndexEntry>), String> {
    let guard = repo.lock().unwrap_or_else(|p| p.into_inner());
    let Some(repo) = guard.as_ref() else {
        return Err("the zones directory is not a git repository".to_owned());
    };
    let written: Vec<git::Written<'_>> = files
        .iter()
        .map(|f| git::Written {
            file: &f.path,
            bytes: f.text.as_bytes(),
            stat: f.stat,
        })
        .collect();
    // An edit nobody made through zonewright is authored, as at start-up,
    // by the configured committer.
    let author = if record.via == EXTERNAL {
        names.committer.clone()
    } else {
        Identity {
            name: record.actor.clone(),
            email: format!("zonewright@{}", names.host),
        }
    };
    let message = record.message();
    let attempt = || git::commit_written(repo, &written, &author, &names.committer, &message);
    // A lock a crashed git left behind fails every commit until removed:
    // remove it (only when no process holds it) and try once more.
    let (oid, entries) = attempt()
        .or_else(|e| {
            if git::locks::clear_stale(repo.path()).is_empty() {
                Err(e)
            } else {
                attempt()
            }
        })
        .map_err(|e| e.to_string())?;
    Ok((oid.map(|o| o.to_string()), entries))
}

/// Writes the pending index entries (a failure only leaves `git status`
/// behind until the next write; it is logged).
fn write_index(repo: &Mutex<Option<git2::Repository>>, entries: &mut Vec<git2::IndexEntry>) {
    if entries.is_empty() {
        return;
    }
    let guard = repo.lock().unwrap_or_else(|p| p.into_inner());
    if let Some(repo) = guard.as_ref()
        && let Err(e) = git::update_index(repo, entries)
    {
        warn!("cannot update the git index (git status may show committed changes): {e}");
    }
    entries.clear();
}

/// A failed commit never undoes the write: the log says how to record the
/// file by hand, and the next commit of the file picks the change up anyway.
fn log_failure(zones_dir: &Path, files: &[WrittenFile], why: &str) {
    let list = files
        .iter()
        .map(|f| f.path.display().to_string())
        .collect::<Vec<_>>()
        .join(" ");
    let dir = zones_dir.display();
    error!(
        "git commit failed: {why}; the change is on disk but not in git. Record it with: \
         git -C {dir} add {list} && git -C {dir} commit -m 'record change' \
         (the next write to this zone commits it too)"
    );
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rr::{Rdata, RecordType, Rr};

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
            };
            let committer = Committer::start(repo.clone(), dir.path().to_path_buf(), names);
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
            };
            Job {
                files: vec![WrittenFile {
                    path,
                    text,
                    stat: Some(git::Stat::of(&meta)),
                }],
                record,
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

    fn settle(pending: Vec<Pending>) -> Vec<Option<String>> {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_time()
            .build()
            .expect("runtime");
        pending
            .into_iter()
            .map(|p| rt.block_on(p.wait(Duration::from_secs(10))))
            .collect()
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
        assert!(a[0].is_some() && b[0].is_some() && a != b);
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
        let (tx, rx) = mpsc::channel();
        let mut pending = Vec::new();
        for job in jobs {
            let (done, rx) = watch::channel(None);
            tx.send((job, done)).expect("queue");
            pending.push(Pending {
                rx,
                warned: Arc::new(AtomicBool::new(false)),
            });
        }
        drop(tx);
        let names = Names {
            committer: me(),
            host: "test".into(),
        };
        run(&rx, &f.repo, f.dir.path(), &names);
        let ids = settle(pending);
        assert!(ids.iter().all(Option::is_some), "{ids:?}");
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
        let ids: Vec<Option<Option<String>>> = pending.iter().map(Pending::outcome).collect();
        assert!(ids.iter().all(|i| matches!(i, Some(Some(_)))), "{ids:?}");
        let f = Fixture {
            dir,
            repo: repo.clone(),
            committer: Committer::start(
                repo,
                std::env::temp_dir(),
                Names {
                    committer: me(),
                    host: "test".into(),
                },
            ),
        };
        let h = f.history();
        assert_eq!(h.len(), 3, "three actors in turn: three commits");
        assert_eq!(h[2].2, "; version 4\n");
    }

    #[test]
    fn no_repository_answers_without_a_commit() {
        let dir = tempfile::tempdir().expect("tempdir");
        let names = Names {
            committer: me(),
            host: "test".into(),
        };
        let c = Committer::start(Arc::new(Mutex::new(None)), dir.path().to_path_buf(), names);
        let path = dir.path().join("z");
        std::fs::write(&path, "x").expect("write");
        let meta = std::fs::metadata(&path).expect("stat");
        let p = c.submit(Job {
            files: vec![WrittenFile {
                path,
                text: "x".into(),
                stat: Some(git::Stat::of(&meta)),
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
            },
        });
        assert_eq!(settle(vec![p]), vec![None]);
    }
}
