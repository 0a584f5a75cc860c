//! The served state: an immutable [`ZoneSet`] snapshot for queries, and per
//! zone the source, last good document and file identities for writers and
//! the reloader.
//!
//! Its own layer, above the pure cores and `loader`, below `store` and the
//! edges: the store, the REST API, the journal and the watcher all read and
//! publish through it, so it is no concern of the DNS listeners
//! (`server/`), where it lived before. It holds the handle of the git
//! committer thread ([`crate::store::committer`], which imports only `git`
//! and the pure cores) so the reloader's external changes and the store's
//! writes are committed in one order.
//!
//! # Design
//!
//! ```text
//!   queries ──load()──► ArcSwap<ZoneSet>   (never blocks; old snapshots live
//!                           ▲               on while a response uses them)
//!                           │ store() when a guard that changed something drops
//!   reloader / writers ──lock()──► ZonesGuard ──► BTreeMap<Name, Slot>
//! ```
//!
//! The mutex is a `std` one: nothing awaits under it, and only the reloader
//! and the write path take it; queries only touch the arc-swap. No zone
//! file is read under it (the reloader reads first, then publishes), so a
//! slow or hostile file cannot stall writes to other zones. The guard
//! republishes the snapshot when it drops after a change, so the map and
//! the served snapshot cannot drift apart: the previous snapshot with the
//! changed zones replaced ([`ZoneSet::with`]; the set is sharded, so a
//! write to one of 5,000 zones copies one shard, not the set). A served
//! small zone keeps its document as text ([`crate::zonefile::stored`]).
//!
//! The watcher reloads the zones whose files its events named
//! ([`State::reload_files`]) and, every `reload_interval`, all of them
//! ([`State::reload`]).

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard};

use arc_swap::ArcSwap;
use ipnet::IpNet;
use tracing::{debug, error, info, warn};

use crate::config::Config;
use crate::loader::{self, FileIds, LoadFailure, LoadProblem, Loaded, ZoneSource};
use crate::rr::Name;
use crate::zone::ZoneSet;
use crate::zonefile::stored::Stored;

/// One configured or discovered zone.
#[derive(Debug)]
pub struct Slot {
    pub source: ZoneSource,
    /// The last version that parsed and validated; what is served.
    pub good: Option<Loaded>,
    /// File identities at the last load attempt, good or not.
    pub seen: FileIds,
    /// Why the last load attempt failed (its first problem, and how many
    /// more), while the files stay as they are; `None` after a success.
    pub failure: Option<String>,
    /// Every problem of that attempt, as logged (empty after a success):
    /// a pass that finds exactly these again does not log them again.
    pub problems: Vec<String>,
}

/// The per-zone slots by origin, and which zones read each file (its zone
/// file, or an `$INCLUDE`d one): a file event finds its zones without a
/// pass over all of them. Read through `Deref`; changed only by
/// [`Slots::insert`] and [`Slots::remove`], which keep the two in step.
#[derive(Debug, Default)]
pub struct Slots {
    zones: BTreeMap<Name, Slot>,
    by_path: HashMap<PathBuf, Vec<Name>>,
    /// The same by (device, inode): a file two zones read under two
    /// names (a symbolic or hard link) is one file.
    by_file: HashMap<(u64, u64), Vec<Name>>,
}

impl std::ops::Deref for Slots {
    type Target = BTreeMap<Name, Slot>;

    fn deref(&self) -> &Self::Target {
        &self.zones
    }
}

impl Slots {
    fn paths(slot: &Slot) -> impl Iterator<Item = &PathBuf> {
        std::iter::once(&slot.source.path).chain(slot.seen.iter().map(|(p, _)| p))
    }

    fn files(slot: &Slot) -> impl Iterator<Item = (u64, u64)> + '_ {
        slot.seen
            .iter()
            .filter(|(_, id)| *id != crate::loader::FileId::ABSENT)
            .map(|(_, id)| (id.dev, id.inode))
    }

    fn insert(&mut self, name: Name, slot: Slot) {
        self.remove(&name);
        for p in Self::paths(&slot) {
            let names = self.by_path.entry(p.clone()).or_default();
            if !names.contains(&name) {
                names.push(name.clone());
            }
        }
        for f in Self::files(&slot) {
            let names = self.by_file.entry(f).or_default();
            if !names.contains(&name) {
                names.push(name.clone());
            }
        }
        self.zones.insert(name, slot);
    }

    fn remove(&mut self, name: &Name) -> Option<Slot> {
        let slot = self.zones.remove(name)?;
        for p in Self::paths(&slot) {
            if let Some(names) = self.by_path.get_mut(p) {
                names.retain(|n| n != name);
                if names.is_empty() {
                    self.by_path.remove(p);
                }
            }
        }
        for f in Self::files(&slot) {
            if let Some(names) = self.by_file.get_mut(&f) {
                names.retain(|n| n != name);
                if names.is_empty() {
                    self.by_file.remove(&f);
                }
            }
        }
        Some(slot)
    }

    /// The zones that read `path`.
    fn reading(&self, path: &Path) -> &[Name] {
        self.by_path.get(path).map_or(&[], Vec::as_slice)
    }

    /// Whether zone `name` reads the file `file` (device, inode) now: one
    /// of the files it was read from is, at its path, still that file. An
    /// inode number freed by a save by rename over one zone's file is
    /// given to the next file made, often another zone's write, while the
    /// first zone's slot still lists it until its next reload (round 51:
    /// that zone was taken for a second reader of the other's file, whose
    /// writes were refused, 37% of them, and whose saved edits were served
    /// as read, without the writes they lacked).
    fn still_reads(&self, name: &Name, file: (u64, u64)) -> bool {
        self.zones.get(name).is_some_and(|slot| {
            slot.seen.iter().any(|(p, id)| {
                (id.dev, id.inode) == file
                    && crate::loader::FileId::of(p).is_ok_and(|now| (now.dev, now.inode) == file)
            })
        })
    }

    /// The zones that read the file at `path`: by that name, and by the
    /// file it is now (round 29: an `$INCLUDE` that is a link to another
    /// zone's file was not seen as shared; round 36: an event names a file
    /// under its own name in the folder watched, while a zone may read it
    /// as `sub/../x.db` or through a link), sorted, each once.
    fn reading_file(&self, path: &Path) -> Vec<Name> {
        let now = crate::loader::FileId::of(path).ok();
        let by_file = now
            .and_then(|id| self.by_file.get(&(id.dev, id.inode)))
            .into_iter()
            .flatten()
            .filter(|name| now.is_some_and(|id| self.still_reads(name, (id.dev, id.inode))));
        let mut names: Vec<Name> = self.reading(path).iter().chain(by_file).cloned().collect();
        names.sort();
        names.dedup();
        names
    }
}

/// What one reload did.
#[derive(Debug, Default)]
pub struct ReloadReport {
    /// Zones (re)loaded, with their new serial.
    pub loaded: Vec<(Name, u32)>,
    /// The serial each zone of `loaded` that was served before had then.
    pub previous: HashMap<Name, u32>,
    /// The documents of the zones loaded, as read (for committing them as
    /// external changes).
    pub documents: Vec<(Name, crate::zonefile::stored::Stored)>,
    /// Their place in the commit order, taken when they were published
    /// (with a committer and `[git] commit_external`): their commits go
    /// before those of any write made on top of them (see
    /// `Committer::ticket`). Hold it only until they are queued: the
    /// commits of later writes wait behind it.
    pub ticket: Option<crate::store::committer::Ticket>,
    /// Zones whose files failed; the last good version (if any) still serves.
    pub failed: Vec<(Name, Vec<LoadProblem>)>,
    pub removed: Vec<Name>,
    /// Zone files in `zones_dir` that stopped being a zone's file (deleted,
    /// or the zone found under another name), each with the zone it was;
    /// with `links`, for recording in git what a person changed on disk
    /// (see `Store::record_paths`).
    pub gone_files: Vec<(Name, PathBuf)>,
    /// Zones loaded from a file in `zones_dir` that is a symbolic link:
    /// the link, as found.
    pub links: Vec<(Name, PathBuf)>,
    /// Zones whose files were edited in a way the store must write back
    /// (writes the edit lacks, a serial to raise): not published here;
    /// hand them to `Store::take_in`.
    pub deferred: Vec<Name>,
    /// Problems outside any one zone (unreadable directory, bad file names).
    pub problems: Vec<LoadProblem>,
}

impl ReloadReport {
    pub fn changed(&self) -> bool {
        !self.loaded.is_empty() || !self.removed.is_empty()
    }
}

/// Each configured zone's `allow_transfer`.
fn transfer_acls(config: &Config) -> HashMap<Name, TransferAcl> {
    config
        .zones
        .iter()
        .map(|z| {
            let acl = TransferAcl {
                nets: z.allow_transfer.clone(),
                keys: z.allow_transfer_keys.clone(),
            };
            (z.name.clone(), acl)
        })
        .collect()
}

/// One zone's `allow_transfer`: source networks and TSIG key names.
#[derive(Debug, Default)]
struct TransferAcl {
    nets: Vec<IpNet>,
    keys: Vec<Name>,
}

/// Shared by the listeners, the reloader and (later) the write path.
pub struct State {
    /// Swapped whole by [`State::set_config`] (SIGHUP).
    config: ArcSwap<Config>,
    snapshot: ArcSwap<ZoneSet>,
    zones: Mutex<Slots>,
    /// allow_transfer per zone, from the config (rebuilt when it is).
    transfer_acl: ArcSwap<HashMap<Name, TransferAcl>>,
    /// The git committer of the store over this state, once there is one:
    /// external changes the reloader finds are committed through it, in
    /// order with the store's own commits.
    committer: std::sync::OnceLock<Arc<crate::store::committer::Committer>>,
    /// Set by the store: whether an edited file (saved) found over the
    /// served version must go through the store rather than be published.
    take_in_check: std::sync::OnceLock<TakeInCheck>,
    /// The first reload (start-up) is over: later loads are logged each
    /// at INFO, the start-up ones at DEBUG (a summary line says how many).
    started: std::sync::atomic::AtomicBool,
    /// This server's counters (`/metrics` on the admin listener).
    metrics: Arc<crate::metrics::Metrics>,
    /// When this state was made (seconds since the epoch): for `serve`,
    /// once it holds the zones folder's lock and its listeners, before any
    /// zone loads. See [`State::created_at`].
    created: u64,
    /// Every listener is bound and serving (see `serve::run`).
    serving: std::sync::atomic::AtomicBool,
    /// Per zone, why the last pull from `[git] remote` could not merge the
    /// remote's version (set by each pull; shown in the zone's status).
    pull_failures: Mutex<std::collections::HashMap<Name, String>>,
    /// The zones folder's problems (bad file names) logged already: each
    /// is logged once while it lasts.
    problems_logged: Mutex<std::collections::HashSet<String>>,
    /// The serial each zone removed while running had then (at most
    /// [`MAX_REMOVED`]): a zone served again is warned about when its
    /// serial is not above it, as its secondaries would ignore it.
    removed_serials: Mutex<HashMap<Name, u32>>,
    /// The last version of zones removed while running (at most
    /// [`MAX_KEPT`]): a zone file put back is taken in over it.
    removed_versions: Mutex<HashMap<Name, Loaded>>,
}

/// Most removed zones whose last versions are kept, and the most records
/// a kept one has (memory: a zone file deleted by mistake and put back is
/// the case served; a larger zone put back is served as found, with the
/// serial WARN).
const MAX_KEPT: usize = 100;
const MAX_KEPT_RECORDS: usize = 10_000;

/// Most removed zones whose serials are kept (see `removed_serials`).
const MAX_REMOVED: usize = 100_000;

/// Most new zones-folder problems logged in one pass (the rest counted).
const MAX_PROBLEM_LINES: usize = 20;

/// `(zone, served, saved) -> the store must take it in`.
pub type TakeInCheck = Arc<dyn Fn(&Name, &Loaded, &Loaded) -> bool + Send + Sync>;

impl State {
    /// An empty state for `config`; call [`State::reload`] to load zones.
    pub fn new(config: Arc<Config>) -> State {
        let transfer_acl = transfer_acls(&config);
        State {
            config: ArcSwap::new(config),
            snapshot: ArcSwap::from_pointee(ZoneSet::default()),
            zones: Mutex::new(Slots::default()),
            transfer_acl: ArcSwap::from_pointee(transfer_acl),
            committer: std::sync::OnceLock::new(),
            take_in_check: std::sync::OnceLock::new(),
            started: std::sync::atomic::AtomicBool::new(false),
            metrics: Arc::new(crate::metrics::Metrics::new()),
            created: std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.as_secs()),
            serving: std::sync::atomic::AtomicBool::new(false),
            pull_failures: Mutex::default(),
            problems_logged: Mutex::default(),
            removed_serials: Mutex::default(),
            removed_versions: Mutex::default(),
        }
    }

    /// Records the zones the last pull could not merge, and why.
    pub fn set_pull_failures(&self, failures: std::collections::HashMap<Name, String>) {
        *self.pull_failures.lock().unwrap_or_else(|p| p.into_inner()) = failures;
    }

    /// Why the last pull could not merge `zone`'s remote version, if so.
    pub fn pull_failure(&self, zone: &Name) -> Option<String> {
        self.pull_failures
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(zone)
            .cloned()
    }

    /// When this state was made, in seconds since the epoch. No other
    /// server answered from this zones folder after then (`serve` holds
    /// its lock by then), so an UPDATE signed later cannot be one a
    /// previous server answered: the replay cache refuses only those
    /// signed before (a start that reads the zones for a while no longer
    /// refuses the UPDATEs that waited for it, round 54).
    pub fn created_at(&self) -> u64 {
        self.created
    }

    /// This server's counters.
    pub fn metrics(&self) -> &Arc<crate::metrics::Metrics> {
        &self.metrics
    }

    /// Called once every listener is bound and serving (`/ready`).
    pub fn set_serving(&self) {
        self.serving
            .store(true, std::sync::atomic::Ordering::Relaxed);
    }

    pub fn is_serving(&self) -> bool {
        self.serving.load(std::sync::atomic::Ordering::Relaxed)
    }

    /// The zones whose files do not load now, with why (their last good
    /// version, if any, still serves).
    pub fn failing(&self) -> Vec<(Name, String, bool)> {
        let zones = self.zones.lock().unwrap_or_else(|p| p.into_inner());
        zones
            .iter()
            .filter_map(|(n, s)| {
                let why = s.failure.clone()?;
                Some((n.clone(), why, s.good.is_some()))
            })
            .collect()
    }

    /// One zone's file and load failure (if failing), if the zone is known.
    pub fn zone_source(&self, origin: &Name) -> Option<(PathBuf, Option<String>)> {
        let zones = self.zones.lock().unwrap_or_else(|p| p.into_inner());
        zones
            .get(origin)
            .map(|s| (s.source.path.clone(), s.failure.clone()))
    }

    /// The store's check for edits it must take in (see [`TakeInCheck`]);
    /// only the first call takes effect.
    pub fn set_take_in_check(&self, check: TakeInCheck) {
        let _ = self.take_in_check.set(check);
    }

    /// The state's committer, started by `start` if there is none yet.
    pub fn committer_or_start(
        &self,
        start: impl FnOnce() -> Arc<crate::store::committer::Committer>,
    ) -> Arc<crate::store::committer::Committer> {
        self.committer.get_or_init(start).clone()
    }

    /// The state's committer, if a store has started one.
    pub fn committer(&self) -> Option<&Arc<crate::store::committer::Committer>> {
        self.committer.get()
    }

    /// The configuration in effect now (a new one after SIGHUP).
    pub fn config(&self) -> Arc<Config> {
        self.config.load_full()
    }

    /// The configuration in effect, for a read that ends with the request
    /// (no shared reference count touched: see `arc_swap::Guard`).
    pub fn config_now(&self) -> arc_swap::Guard<Arc<Config>> {
        self.config.load()
    }

    /// Puts `config` in effect: keys, grants, tokens, zones, transfer and
    /// NOTIFY settings are read from it from now on. The caller keeps what
    /// needs a restart as it was (see `main`'s reload).
    pub fn set_config(&self, config: Arc<Config>) {
        self.transfer_acl.store(Arc::new(transfer_acls(&config)));
        self.config.store(config);
    }

    /// The current snapshot. Lock-free; hold it for as long as a response
    /// (or a whole AXFR) needs a consistent view.
    pub fn snapshot(&self) -> Arc<ZoneSet> {
        self.snapshot.load_full()
    }

    /// The current snapshot for one query: no reference count is touched
    /// (arc-swap's guard), so worker threads don't contend on a shared
    /// counter. Hold it briefly; for an AXFR use [`State::snapshot`].
    pub fn snapshot_for_query(&self) -> arc_swap::Guard<Arc<ZoneSet>> {
        self.snapshot.load()
    }

    /// May `peer` transfer the zone `origin`, its request signed and
    /// verified with the TSIG key `key` (if any)? Yes when the address is in
    /// one of the zone's `allow_transfer` CIDRs, or the key is one of its
    /// `key:NAME` entries; nothing listed, no transfers. RFC 5936 §5: "an
    /// implementation SHOULD require ... that the IP address of the client
    /// ... \[be\] on an access control list ... or that \[it\] be signed".
    pub fn may_transfer(&self, origin: &Name, peer: std::net::IpAddr, key: Option<&Name>) -> bool {
        self.transfer_acl.load().get(origin).is_some_and(|acl| {
            acl.nets.iter().any(|n| n.contains(&peer))
                || key.is_some_and(|k| acl.keys.iter().any(|a| a == k))
        })
    }

    /// Exclusive access to the per-zone slots; changes are published when
    /// the guard drops.
    pub fn lock(&self) -> ZonesGuard<'_> {
        ZonesGuard {
            state: self,
            zones: self.zones.lock().unwrap_or_else(|p| p.into_inner()),
            changed: Vec::new(),
        }
    }

    /// Brings the served zones in line with the files: reparses zones whose
    /// files changed identity, adds new ones, removes deleted ones. A zone
    /// that fails keeps serving its last good version. Blocking: run it on a
    /// blocking thread, never on the query path.
    ///
    /// Files are read with no lock held: the slots are copied under the
    /// lock, every changed zone is read and parsed, and the results are put
    /// in under the lock again, all at once (one new snapshot). A zone that
    /// a writer published meanwhile keeps the writer's version (ours may be
    /// older); the next pass compares its files again. So a slow or hostile
    /// file delays only its own zone's reload, never a write or another zone.
    pub fn reload(&self) -> ReloadReport {
        let mut report = ReloadReport::default();
        let sources = match loader::sources(&self.config()) {
            Ok(s) => s,
            Err(p) => {
                error!("{p}; keeping the zones already served");
                report.problems.push(p);
                return report;
            }
        };
        // Each problem once, while it lasts (a folder of bad names must not
        // log every file on every pass).
        let now: std::collections::HashSet<String> =
            sources.problems.iter().map(ToString::to_string).collect();
        {
            let mut logged = self
                .problems_logged
                .lock()
                .unwrap_or_else(|p| p.into_inner());
            for p in now
                .iter()
                .filter(|p| !logged.contains(*p))
                .take(MAX_PROBLEM_LINES)
            {
                warn!("{p}");
            }
            let new = now.iter().filter(|p| !logged.contains(*p)).count();
            if new > MAX_PROBLEM_LINES {
                warn!(
                    "... and {} more such problems in the zones folder",
                    new - MAX_PROBLEM_LINES
                );
            }
            *logged = now;
        }
        report.problems = sources.problems;
        let reads = self.read_changed(sources.zones, true, &mut report);
        self.publish(reads, &mut report);
        self.started
            .store(true, std::sync::atomic::Ordering::Relaxed);
        let ok = report.failed.is_empty() && report.problems.is_empty();
        self.metrics.reload(ok);
        report
    }

    /// A reload of just the zones that read one of `files` (their zone
    /// file or an `$INCLUDE`d one, as named by file events): O(changed
    /// files), not O(zones), so a write to one of 50,000 zones does not
    /// make the watcher stat them all. `None` when a file belongs to no
    /// zone served (a new zone file, a file of a zone that failed): the
    /// caller reloads everything.
    pub fn reload_files(&self, files: &std::collections::HashSet<PathBuf>) -> Option<ReloadReport> {
        let zones: BTreeMap<Name, ZoneSource> = {
            let guard = self.lock();
            let mut found = BTreeMap::new();
            let mut matched: std::collections::HashSet<&PathBuf> = Default::default();
            for f in files {
                for name in guard.zones.reading_file(f) {
                    if let Some(slot) = guard.get(&name) {
                        matched.insert(f);
                        found.insert(name.clone(), slot.source.clone());
                    }
                }
            }
            // A file gone (deleted, renamed away) may be a zone gone: the
            // full pass drops it rather than report it unreadable.
            if found.is_empty() || matched.len() < files.len() || files.iter().any(|f| !f.exists())
            {
                return None;
            }
            // Logged only for a pass over zones' files: a debug log written
            // into zones_dir names none, and its own line must not wake the
            // next pass's line (it did, every 150 ms, forever).
            debug!("zone files changed; reloading: {files:?}");
            found
        };
        let mut report = ReloadReport::default();
        let reads = self.read_changed(zones, false, &mut report);
        self.publish(reads, &mut report);
        self.metrics.reload(report.failed.is_empty());
        Some(report)
    }

    /// The first half of a reload: drops the zones that are gone, then,
    /// with no lock held, reads every zone whose files changed.
    fn read_changed(
        &self,
        zones: BTreeMap<Name, ZoneSource>,
        all: bool,
        report: &mut ReloadReport,
    ) -> Vec<ZoneRead> {
        // Under the lock: drop what is gone (when `zones` is every zone),
        // note what each slot has seen (and, for a pass over the files
        // events named, what it serves).
        type Seen = (ZoneSource, FileIds, Option<Stored>);
        // In `zones`' order, what each zone's slot has seen (`None`: new).
        let seen: Vec<Option<Seen>> = {
            let mut guard = self.lock();
            // One walk over both sorted maps: a lookup of each zone in the
            // other map costs some 13 comparisons of DNS names, and a pass
            // over 5,000 zones made 200,000 of them, a second, forever.
            let merged = merge_sorted(&zones, &guard.zones);
            let zones_dir = self.config().zones_dir.clone();
            let gone: Vec<Name> = merged
                .iter()
                .filter(|(_, listed, slot)| {
                    all && listed.is_none()
                        && slot.is_some_and(|s| !missed_by_listing(&s.source, &zones_dir))
                })
                .map(|(n, _, _)| (*n).clone())
                .collect();
            // A zone now found under another file name (`a.zone` renamed
            // `a.test.zone`): the old name is gone too. A zone file that
            // became a symbolic link (or a link pointed elsewhere): the
            // link is recorded as one.
            for (name, listed, slot) in &merged {
                let Some(source) = listed else {
                    continue;
                };
                let before = slot.map(|s| &s.source);
                if let Some(b) = before
                    && b.confined
                    && b.listed() != source.listed()
                {
                    report
                        .gone_files
                        .push(((*name).clone(), b.listed().to_path_buf()));
                }
                if let Some(link) = source.link_inside(&zones_dir)
                    && before != Some(*source)
                {
                    report.links.push(((*name).clone(), link.to_path_buf()));
                }
            }
            let seen = merged
                .iter()
                .filter(|(_, listed, _)| listed.is_some())
                .map(|(_, _, slot)| {
                    slot.map(|s| {
                        let kept = (!all)
                            .then(|| s.good.as_ref().map(|g| g.document.clone()))
                            .flatten();
                        (s.source.clone(), s.seen.clone(), kept)
                    })
                })
                .collect();
            for name in gone {
                if let Some(slot) = guard.remove(&name) {
                    if let Some(good) = &slot.good {
                        let mut removed = self
                            .removed_serials
                            .lock()
                            .unwrap_or_else(|p| p.into_inner());
                        if removed.len() < MAX_REMOVED {
                            removed.insert(name.clone(), good.zone.serial());
                        }
                        let mut kept = self
                            .removed_versions
                            .lock()
                            .unwrap_or_else(|p| p.into_inner());
                        if kept.len() < MAX_KEPT && good.zone.record_count() <= MAX_KEPT_RECORDS {
                            kept.insert(name.clone(), good.clone());
                        }
                    }
                    if slot.source.confined {
                        report
                            .gone_files
                            .push((name.clone(), slot.source.listed().to_path_buf()));
                    }
                }
                info!(zone = %name, "zone removed (file deleted or no longer configured)");
                report.removed.push(name);
            }
            seen
        };
        // No lock: stat what changed, then read it. A file an event named
        // whose identity did not change is compared with what is served:
        // rewritten in place with its mtime put back (`cp -p`, `rsync
        // --inplace`, `touch -r`), it is otherwise never seen, and the
        // next write would be computed on the old text and erase it.
        let limit = self.config().server.max_zone_file_size;
        let changed: Vec<(Name, ZoneSource, Option<&FileIds>)> = zones
            .into_iter()
            .zip(&seen)
            .filter_map(|((name, source), before)| {
                let before = before.as_ref();
                let same = before.is_some_and(|(src, files, kept)| {
                    *src == source
                        && loader::unchanged(files)
                        && kept.as_ref().is_none_or(|k| same_texts(files, k, limit))
                });
                if same {
                    return None;
                }
                Some((name, source, before.map(|(_, files, _)| files)))
            })
            .collect();
        // Being written in pieces: read it once the writer is done (the
        // next pass; its last write wakes the watcher). One look at the
        // processes for every changed zone.
        let paths: Vec<&Path> = changed
            .iter()
            .flat_map(|(_, source, before)| {
                std::iter::once(source.path.as_path()).chain(
                    before
                        .iter()
                        .flat_map(|f| f.iter().map(|(p, _)| p.as_path())),
                )
            })
            .collect();
        let writers = loader::writers_of(&paths);
        let rules = loader::FileRules::new(&self.config());
        let mut to_read = Vec::new();
        for (name, source, before) in changed {
            let written = writers.iter().find(|w| {
                w.file == source.path || before.is_some_and(|f| f.iter().any(|(p, _)| *p == w.file))
            });
            if let Some(w) = written {
                debug!(zone = %name, "{w}; reading it when the writer is done");
                continue;
            }
            to_read.push((name, source, before.cloned()));
        }
        let results = load_all(&to_read, &rules);
        // A large file's git blob written now, with no lock and no place in
        // the commit order held: its commit, queued once it is published,
        // then finds the blob there (a hash, not a compression: seconds for
        // a 200 MB file), and the writes queued behind it wait that less.
        if let Some(committer) = self
            .committer()
            .filter(|_| self.config().git.commit_external)
        {
            for loaded in results.iter().flatten() {
                for (_, text) in loaded.document.shared_texts() {
                    committer.prewrite_blob(&text);
                }
            }
        }
        to_read
            .into_iter()
            .zip(results)
            .map(|((name, source, before), result)| (name, source, before, result))
            .collect()
    }

    /// The second half: under the lock, puts in each zone read unless its
    /// slot changed since (a writer published a newer version meanwhile).
    fn publish(&self, reads: Vec<ZoneRead>, report: &mut ReloadReport) {
        let mut guard = self.lock();
        for (name, source, before, result) in reads {
            if guard.get(&name).map(|s| &s.seen) != before.as_ref() {
                debug!(zone = %name, "zone changed while it was read; comparing again next pass");
                continue;
            }
            match result {
                // Replaced since it was read: a store's write swaps its file
                // in and back out (`RENAME_EXCHANGE`, under this lock) when
                // an editor's save came first, and a pass that read the
                // file in that instant would serve (and commit) a version
                // nobody acknowledged. The rename back wakes the next pass.
                Ok(loaded) if !loader::unchanged(&loaded.files) => {
                    debug!(zone = %name, "zone file replaced while it was read; reading it again next pass");
                }
                Ok(loaded) => {
                    // (A file the store cannot write, linked from outside
                    // zones_dir, is served as read.)
                    let served = guard.get(&name).and_then(|s| s.good.as_ref());
                    // A zone removed while running and back (its file
                    // deleted, then an older copy put back): taken in over
                    // the version it had, like an edit, so the writes the
                    // copy lacks are re-applied and its serial raised.
                    if served.is_none()
                        && source.read_only.is_none()
                        && let Some(check) = self.take_in_check.get()
                        && let Some(kept) = self.kept_version(&name)
                    {
                        if kept.document.texts() == loaded.document.texts() {
                            // Put back as it was: what secondaries hold.
                            self.removed_serials
                                .lock()
                                .unwrap_or_else(|p| p.into_inner())
                                .remove(&name);
                        } else if check(&name, &kept, &loaded) {
                            info!(
                                zone = %name,
                                "zone file back after its removal; taking it in over the \
                                 version served then"
                            );
                            guard.set(source, Ok(kept));
                            report.deferred.push(name);
                            continue;
                        }
                    }
                    if let (Some(check), Some(served)) = (self.take_in_check.get(), served)
                        && source.read_only.is_none()
                        && check(&name, served, &loaded)
                    {
                        // Left as it is (its files still differ from what
                        // was seen): the store takes it in, from the file
                        // as it is now listed (a zone file that was a link
                        // out of zones_dir and is a plain file again).
                        debug!(zone = %name, "edited zone file left to the store to take in");
                        if guard.get(&name).is_some_and(|s| s.source != source) {
                            guard.set_source(source);
                        }
                        report.deferred.push(name);
                        continue;
                    }
                    // The same text under a new identity (`chmod`, `touch`,
                    // a new hard link, a save of the same bytes, or a file
                    // the store took in while this pass read it): the new
                    // identity is noted and nothing else happens. Before,
                    // two INFO lines said the zone was loaded (round 50
                    // L3), and its text was queued for a commit, which a
                    // write computed meanwhile could precede: that commit
                    // then undid the write in `git log -p`.
                    if served.is_some_and(|s| s.document.texts() == loaded.document.texts())
                        && guard
                            .get(&name)
                            .is_some_and(|s| s.source == source && s.failure.is_none())
                    {
                        debug!(zone = %name, "zone file's identity changed, not its text");
                        guard.set(source, Ok(loaded));
                        continue;
                    }
                    for w in &loaded.warnings {
                        warn!(zone = %name, "{w}");
                    }
                    let serial = loaded.zone.serial();
                    let file = source.path.display();
                    if self.started.load(std::sync::atomic::Ordering::Relaxed) {
                        info!(zone = %name, serial, file = %file, "zone loaded");
                    } else {
                        debug!(zone = %name, serial, file = %file, "zone loaded");
                    }
                    if let Some(was) = served {
                        let before = was.zone.serial();
                        report.previous.insert(name.clone(), before);
                        // Served as saved (`[serial] external = "keep"`, or a
                        // zone the store does not write): say what the
                        // README promises (round 40: a hand revert that
                        // lowered the serial was served without a word).
                        let lower =
                            !crate::serial::Serial(serial).is_after(crate::serial::Serial(before));
                        if lower && was.document.texts() != loaded.document.texts() {
                            warn!(
                                zone = %name, saved = serial, served = before, file = %file,
                                "an edit saved the zone with a serial not above the one \
                                 served; secondaries will not fetch it ([serial] external \
                                 = \"keep\", or a file zonewright does not write)"
                            );
                        }
                    } else {
                        self.warn_if_served_again_lower(&name, serial);
                    }
                    report.loaded.push((name.clone(), serial));
                    report
                        .documents
                        .push((name.clone(), loaded.document.clone()));
                    guard.set(source, Ok(loaded));
                    if report.ticket.is_none() && self.config().git.commit_external {
                        report.ticket = self.committer().map(|c| c.ticket());
                    }
                }
                Err(failure) => {
                    // A file still missing or unreadable has nothing to
                    // compare, so it is read again every pass: the same
                    // failure as the last pass is said once at ERROR, then
                    // at DEBUG (not two ERROR lines a second, forever).
                    let problems: Vec<String> =
                        failure.problems.iter().map(ToString::to_string).collect();
                    let last = guard.zones.get(&name).map(|s| &s.problems);
                    if last == Some(&problems) {
                        debug!(zone = %name, "zone file still has the errors it had at the last pass");
                    } else {
                        for p in &failure.problems {
                            error!(zone = %name, "{p}");
                        }
                        match guard.zones.get(&name).and_then(|s| s.good.as_ref()) {
                            Some(good) => error!(
                                zone = %name,
                                serial = good.zone.serial(),
                                "zone file has errors; still serving the last good version"
                            ),
                            None => error!(zone = %name, "zone file has errors; zone not served"),
                        }
                    }
                    report.failed.push((name.clone(), failure.problems.clone()));
                    guard.set(source, Err(failure));
                }
            }
        }
    }
}

/// Whether a zone the directory listing did not return is still there:
/// its file, found by an earlier listing of the same `zones_dir`, is still
/// at its path. A listing is not atomic with renames: POSIX leaves it
/// unspecified whether readdir(3) returns an entry renamed while the
/// listing runs, and on tmpfs a listing that ran beside writes (each a
/// `RENAME_EXCHANGE` of a temp file with the zone file) missed a few zone
/// files a second. Those zones were dropped, and UPDATEs to them answered
/// NOTAUTH, until the next pass found them again. A zone is dropped only
/// when its file is gone (or no longer a file); a listing that missed it
/// leaves it served, and the next pass lists it again.
fn missed_by_listing(source: &ZoneSource, zones_dir: &Path) -> bool {
    source.confined
        && source.listed().parent() == Some(zones_dir)
        && std::fs::metadata(source.listed()).is_ok_and(|m| !m.is_dir())
}

/// Every name of `a` and `b` once, in their (shared) order, with its value
/// in each: one comparison a step.
fn merge_sorted<'m, A, B>(
    a: &'m BTreeMap<Name, A>,
    b: &'m BTreeMap<Name, B>,
) -> Vec<(&'m Name, Option<&'m A>, Option<&'m B>)> {
    let mut out = Vec::with_capacity(a.len().max(b.len()));
    let (mut a, mut b) = (a.iter().peekable(), b.iter().peekable());
    loop {
        let order = match (a.peek(), b.peek()) {
            (None, None) => break,
            (Some(_), None) => std::cmp::Ordering::Less,
            (None, Some(_)) => std::cmp::Ordering::Greater,
            (Some((x, _)), Some((y, _))) => x.cmp(y),
        };
        match order {
            std::cmp::Ordering::Less => {
                if let Some((n, v)) = a.next() {
                    out.push((n, Some(v), None));
                }
            }
            std::cmp::Ordering::Greater => {
                if let Some((n, v)) = b.next() {
                    out.push((n, None, Some(v)));
                }
            }
            std::cmp::Ordering::Equal => {
                if let (Some((n, x)), Some((_, y))) = (a.next(), b.next()) {
                    out.push((n, Some(x), Some(y)));
                }
            }
        }
    }
    out
}

/// What a zone's status says of a failed load: the first problem, and how
/// many more there are.
fn failure_summary(problems: &[impl std::fmt::Display]) -> String {
    match problems {
        [] => "the zone did not load".into(),
        [one] => one.to_string(),
        [first, more @ ..] => format!("{first} (and {} more problems)", more.len()),
    }
}

impl State {
    /// The last version of `zone` when it was removed while running, if
    /// kept (taken: a zone comes back once).
    fn kept_version(&self, zone: &Name) -> Option<Loaded> {
        self.removed_versions
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(zone)
    }

    /// A zone removed while running and served again (its file deleted and
    /// put back) with a serial not above the one it had: its secondaries
    /// still hold that one and ignore this version (RFC 1982 order), so a
    /// WARN says to raise it.
    fn warn_if_served_again_lower(&self, zone: &Name, serial: u32) {
        let before = self
            .removed_serials
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(zone);
        if let Some(old) = before
            && !crate::serial::Serial(serial).is_after(crate::serial::Serial(old))
        {
            warn!(
                zone = %zone, serial, before = old,
                "zone served again with a serial not above {old}, the one it had when its \
                 file was removed: secondaries that still hold {old} ignore this version \
                 until the serial is raised above it"
            );
        }
    }
}

/// Whether every file of `files` holds, byte for byte, the text `kept`
/// has for it (a file larger than `limit`, or unreadable, does not).
fn same_texts(files: &FileIds, kept: &Stored, limit: u64) -> bool {
    let texts = kept.texts();
    files.iter().all(|(path, id)| {
        let Some((_, text)) = texts.iter().find(|(name, _)| Path::new(name) == path) else {
            return false;
        };
        if id.size != text.len() as u64 || id.size > limit {
            return false;
        }
        let mut bytes = Vec::new();
        std::fs::File::open(path)
            .and_then(|f| {
                std::io::Read::read_to_end(&mut std::io::Read::take(f, limit + 1), &mut bytes)
            })
            .is_ok_and(|_| bytes == text.as_bytes())
    })
}

/// One zone read by a reload: its name, source, the files its slot had
/// seen when the read began (`None`: a new zone) and what was read.
/// From this many zones to read at once (a start, a reload of every
/// file), they are read and parsed on every core.
const PARALLEL_LOAD: usize = 64;

/// Loads each zone of `zones` (in order, one result each): on every core
/// when there are many, each thread taking a contiguous share. A panic in
/// a parser is already a load failure ([`loader::load_zone_guarded`]).
fn load_all<T>(
    zones: &[(Name, ZoneSource, T)],
    rules: &loader::FileRules,
) -> Vec<Result<Loaded, loader::LoadFailure>>
where
    T: Sync,
{
    let load = |part: &[(Name, ZoneSource, T)]| -> Vec<_> {
        part.iter()
            .map(|(_, source, _)| loader::load_zone_guarded(source, rules))
            .collect()
    };
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get().min(8));
    if zones.len() < PARALLEL_LOAD || threads < 2 {
        return load(zones);
    }
    let share = zones.len().div_ceil(threads);
    std::thread::scope(|scope| {
        let handles: Vec<_> = zones
            .chunks(share)
            .map(|part| (part, scope.spawn(move || load(part))))
            .collect();
        handles
            .into_iter()
            .flat_map(|(part, h)| h.join().unwrap_or_else(|_| load(part)))
            .collect()
    })
}

type ZoneRead = (
    Name,
    ZoneSource,
    Option<FileIds>,
    Result<Loaded, LoadFailure>,
);

/// The per-zone slots, locked. Publishes a new snapshot on drop if changed.
pub struct ZonesGuard<'a> {
    state: &'a State,
    zones: MutexGuard<'a, Slots>,
    /// The zones whose served version changed (put in or taken out).
    changed: Vec<Name>,
}

impl ZonesGuard<'_> {
    /// The zones other than `origin` that read `path` (as their zone file
    /// or through `$INCLUDE`).
    pub fn other_readers(&self, origin: &Name, path: &Path) -> Vec<Name> {
        let mut names = self.zones.reading_file(path);
        names.retain(|n| n != origin);
        names
    }

    pub fn get(&self, origin: &Name) -> Option<&Slot> {
        self.zones.get(origin)
    }

    pub fn iter(&self) -> impl Iterator<Item = (&Name, &Slot)> {
        self.zones.iter()
    }

    /// Records a load attempt for `source`: a success replaces what is
    /// served; a failure only records the files seen, keeping the last good.
    pub fn set(&mut self, source: ZoneSource, result: Result<Loaded, LoadFailure>) {
        let name = source.origin.clone();
        let (previous, failed) = self
            .zones
            .remove(&name)
            .map_or((None, None), |s| (s.good, s.failure));
        let slot = match result {
            Ok(loaded) => {
                self.changed.push(name.clone());
                if let Some(why) = failed {
                    // Its ERROR was logged once; say it is over.
                    info!(
                        zone = %name,
                        serial = loaded.zone.serial(),
                        "zone file loads again (it had: {why})"
                    );
                }
                if let Some(old) = previous {
                    let large = old.zone.record_count() >= DROP_LATER_FROM;
                    drop_later(old, large);
                }
                // Served, a small zone keeps only its text (see `Stored`).
                let loaded = Loaded {
                    document: loaded.document.lighten(),
                    ..loaded
                };
                Slot {
                    source,
                    seen: loaded.files.clone(),
                    good: Some(loaded),
                    failure: None,
                    problems: Vec::new(),
                }
            }
            Err(failure) => Slot {
                source,
                failure: Some(failure_summary(&failure.problems)),
                problems: failure.problems.iter().map(ToString::to_string).collect(),
                seen: failure.files,
                good: previous,
            },
        };
        self.zones.insert(name, slot);
    }

    /// Points `origin`'s slot at `source` (the file as the last listing
    /// found it), keeping what it serves and has seen: the store, which
    /// takes the edit in from `source`, must read the file that is there
    /// now, not one a link replaced since (a stale `read_only` would
    /// refuse every write to the zone).
    pub fn set_source(&mut self, source: ZoneSource) {
        let name = source.origin.clone();
        if let Some(mut slot) = self.zones.remove(&name) {
            slot.source = source;
            self.zones.insert(name, slot);
        }
    }

    pub fn remove(&mut self, origin: &Name) -> Option<Slot> {
        let slot = self.zones.remove(origin);
        if slot.as_ref().is_some_and(|s| s.good.is_some()) {
            self.changed.push(origin.clone());
        }
        slot
    }
}

impl Drop for ZonesGuard<'_> {
    /// The next snapshot is the current one with the changed zones
    /// replaced: a write to one of 5,000 zones costs the same as to one
    /// of 100 (the snapshot is only ever stored under this lock, so none
    /// is lost).
    fn drop(&mut self) {
        if self.changed.is_empty() {
            return;
        }
        let mut put = Vec::new();
        let mut removed = Vec::new();
        for name in std::mem::take(&mut self.changed) {
            match self.zones.get(&name).and_then(|s| s.good.as_ref()) {
                Some(good) => put.push(good.zone.clone()),
                None => removed.push(name),
            }
        }
        let large = put.iter().any(|z| z.record_count() >= DROP_LATER_FROM);
        let next = self.state.snapshot.load().with(put, &removed);
        // The replaced snapshot may hold the last reference to a replaced
        // zone's index.
        drop_later(self.state.snapshot.swap(Arc::new(next)), large);
    }
}

/// Frees a replaced version of a zone (a writer's copy of what was
/// served) off the caller's path when it is large: whichever of its holders
/// lets go last frees it, so each hands it to [`drop_later`].
pub fn release(loaded: Loaded) {
    let large = loaded.zone.record_count() >= DROP_LATER_FROM;
    drop_later(loaded, large);
}

/// Zones from this many records up are freed by the dropper thread.
const DROP_LATER_FROM: usize = 10_000;

/// Frees what a write replaced: the old version of a large zone (its
/// document and index, some 100,000 entries, took 3-5 ms to free, a third
/// of such a write's time, under the served set's lock) goes to a thread
/// of its own; anything small is freed here. At most [`DROP_QUEUE`] wait
/// for that thread (a full queue: freed here), so memory stays bounded.
fn drop_later<T: Send + 'static>(value: T, large: bool) {
    const DROP_QUEUE: usize = 4;
    type Boxed = Box<dyn Send>;
    static DROPPER: std::sync::OnceLock<Option<std::sync::mpsc::SyncSender<Boxed>>> =
        std::sync::OnceLock::new();
    if !large {
        return;
    }
    let dropper = DROPPER.get_or_init(|| {
        let (tx, rx) = std::sync::mpsc::sync_channel::<Boxed>(DROP_QUEUE);
        std::thread::Builder::new()
            .name("dropper".into())
            .spawn(move || rx.into_iter().for_each(drop))
            .ok()
            .map(|_| tx)
    });
    if let Some(tx) = dropper {
        // Full or gone: freed here, as if there were no dropper.
        let _ = tx.try_send(Box::new(value));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{ZoneConfig, parse_zone_name};

    fn name(s: &str) -> Name {
        parse_zone_name(s).expect("name")
    }

    /// The merge of two zone maps gives every name once, in order, with
    /// its value in each (what `read_changed` looked up name by name).
    #[test]
    fn merge_sorted_pairs_each_name_once() {
        let a: BTreeMap<Name, u8> = ["b.test", "c.test", "A.test"]
            .iter()
            .enumerate()
            .map(|(i, z)| (name(z), i as u8))
            .collect();
        let b: BTreeMap<Name, char> = [("a.test", 'x'), ("d.test", 'y'), ("c.test", 'z')]
            .iter()
            .map(|(z, c)| (name(z), *c))
            .collect();
        let got: Vec<(String, Option<u8>, Option<char>)> = merge_sorted(&a, &b)
            .into_iter()
            .map(|(n, x, y)| (n.to_ascii().to_lowercase(), x.copied(), y.copied()))
            .collect();
        let want: Vec<(String, Option<u8>, Option<char>)> = vec![
            ("a.test.".into(), Some(2), Some('x')),
            ("b.test.".into(), Some(0), None),
            ("c.test.".into(), Some(1), Some('z')),
            ("d.test.".into(), None, Some('y')),
        ];
        assert_eq!(got, want);
    }

    /// The path index follows every insert and removal: a file names the
    /// zones that read it now, and no more (a zone's old include included).
    #[test]
    fn slots_know_which_zones_read_a_file() {
        let id = crate::loader::FileId::ABSENT;
        let slot = |zone: &str, file: &str, includes: &[&str]| Slot {
            source: ZoneSource::named(name(zone), PathBuf::from(file)),
            good: None,
            seen: includes.iter().map(|p| (PathBuf::from(p), id)).collect(),
            failure: None,
            problems: Vec::new(),
        };
        let mut slots = Slots::default();
        slots.insert(
            name("a.test"),
            slot("a.test", "/z/a", &["/z/a", "/z/common"]),
        );
        slots.insert(
            name("b.test"),
            slot("b.test", "/z/b", &["/z/b", "/z/common"]),
        );
        assert_eq!(slots.reading(Path::new("/z/a")), [name("a.test")]);
        assert_eq!(
            slots.reading(Path::new("/z/common")),
            [name("a.test"), name("b.test")]
        );
        // a.test no longer includes the common file.
        slots.insert(name("a.test"), slot("a.test", "/z/a", &["/z/a"]));
        assert_eq!(slots.reading(Path::new("/z/common")), [name("b.test")]);
        assert!(slots.remove(&name("b.test")).is_some());
        assert!(slots.reading(Path::new("/z/common")).is_empty());
        assert!(slots.reading(Path::new("/z/b")).is_empty());
        assert_eq!(slots.len(), 1);
        assert!(slots.remove(&name("b.test")).is_none());
    }

    /// A listing of the zones folder that missed a zone file (readdir is
    /// not atomic with renames: on tmpfs, 6 to 41 zones a run were dropped
    /// under 1,200 UPDATEs/s, their UPDATEs answered NOTAUTH) does not drop
    /// the zone while its file is at its path; a file deleted, renamed away
    /// or replaced by a folder does.
    #[test]
    fn a_zone_file_a_listing_missed_is_not_a_zone_removed() {
        let z = OneZone::new();
        let path = z.dir.path().join("example.com.zone");
        let mut report = ReloadReport::default();
        // The listing came back without example.com.zone.
        let reads = z.state.read_changed(BTreeMap::new(), true, &mut report);
        z.state.publish(reads, &mut report);
        assert!(report.removed.is_empty(), "{report:?}");
        assert_eq!(z.served(), Some(1));
        // The file renamed away, then a folder in its place: gone.
        std::fs::rename(&path, z.dir.path().join("example.com.zone.bak")).expect("mv");
        let mut report = ReloadReport::default();
        let reads = z.state.read_changed(BTreeMap::new(), true, &mut report);
        z.state.publish(reads, &mut report);
        assert_eq!(report.removed, vec![name("example.com")]);
        assert_eq!(z.served(), None);
        std::fs::rename(z.dir.path().join("example.com.zone.bak"), &path).expect("mv");
        assert_eq!(z.state.reload().loaded, vec![(name("example.com"), 1)]);
        std::fs::remove_file(&path).expect("rm");
        std::fs::create_dir(&path).expect("mkdir");
        assert_eq!(z.state.reload().removed, vec![name("example.com")]);
    }

    /// Round 51: an inode number a zone's slot still lists, freed by a
    /// save by rename over that zone's file and given to another zone's
    /// new file, does not make that zone a reader of the other's file; a
    /// file two zones read under two names (a hard link) still is shared.
    #[test]
    fn a_reused_inode_number_is_not_a_shared_file() {
        let dir = tempfile::tempdir().expect("tmp");
        let (a, b) = (dir.path().join("a.zone"), dir.path().join("b.zone"));
        std::fs::write(&a, "a").expect("write");
        std::fs::write(&b, "b").expect("write");
        let id = |p: &Path| crate::loader::FileId::of(p).expect("stat");
        let slot = |zone: &str, file: &Path, seen: crate::loader::FileId| Slot {
            source: ZoneSource::named(name(zone), file.to_path_buf()),
            good: None,
            seen: vec![(file.to_path_buf(), seen)],
            failure: None,
            problems: Vec::new(),
        };
        let mut slots = Slots::default();
        // a.test's slot lists the inode b.zone has now (its own old one,
        // reused), as after an editor's save over a.zone and a write to
        // b.test, before a.test's reload.
        slots.insert(name("a.test"), slot("a.test", &a, id(&b)));
        slots.insert(name("b.test"), slot("b.test", &b, id(&b)));
        assert_eq!(slots.reading_file(&b), [name("b.test")]);
        // a.zone made a hard link to b.zone: read by both.
        std::fs::remove_file(&a).expect("rm");
        std::fs::hard_link(&b, &a).expect("ln");
        assert_eq!(slots.reading_file(&b), [name("a.test"), name("b.test")]);
    }

    fn state() -> State {
        let mut config = Config::new("/nonexistent".into(), vec![]);
        for (zone, nets, keys) in [
            ("cidr.test", vec!["192.0.2.0/24"], vec![]),
            ("key.test", vec![], vec!["xfr-key"]),
            ("both.test", vec!["10.0.0.0/8"], vec!["xfr-key"]),
            ("none.test", vec![], vec![]),
        ] {
            config.zones.push(ZoneConfig {
                name: name(zone),
                file: None,
                allow_transfer: nets.iter().map(|n| n.parse().expect("net")).collect(),
                allow_transfer_keys: keys.into_iter().map(name).collect(),
                notify: vec![],
                notify_key: None,
                confirm: 0,
                confirm_timeout: crate::config::DEFAULT_CONFIRM_TIMEOUT,
            });
        }
        State::new(Arc::new(config))
    }

    /// A folder holding example.com.zone, saved by rename as an editor
    /// does, and a state serving it (for the reload races below).
    struct OneZone {
        dir: tempfile::TempDir,
        state: State,
    }

    impl OneZone {
        /// Serving serial 1.
        fn new() -> OneZone {
            let dir = tempfile::tempdir().expect("tmp");
            let state = State::new(Arc::new(Config::new(dir.path().to_path_buf(), vec![])));
            let z = OneZone { dir, state };
            z.save(1);
            z.state.reload();
            assert_eq!(z.served(), Some(1));
            z
        }

        fn save(&self, serial: u32) {
            let tmp = self.dir.path().join(".new");
            let text = format!(
                "$ORIGIN example.com.\n$TTL 300\n\
                 @ IN SOA ns1 hostmaster {serial} 7200 3600 1209600 300\n\
                 \x20 IN NS ns1\nns1 IN A 192.0.2.1\n"
            );
            std::fs::write(&tmp, text).expect("write");
            std::fs::rename(&tmp, self.dir.path().join("example.com.zone")).expect("rename");
        }

        fn served(&self) -> Option<u32> {
            let zones = self.state.snapshot();
            zones.get(&name("example.com")).map(|z| z.serial())
        }

        /// A reload's first half: the zone read, not yet published.
        fn read(&self, report: &mut ReloadReport) -> Vec<ZoneRead> {
            let sources = loader::sources(&self.state.config()).expect("sources");
            let reads = self.state.read_changed(sources.zones, true, report);
            assert_eq!(reads.len(), 1);
            reads
        }
    }

    #[test]
    fn a_reload_never_overwrites_what_a_writer_published_while_it_read() {
        let z = OneZone::new();
        let s = &z.state;
        // A hand edit, read by a reload...
        z.save(2);
        let mut report = ReloadReport::default();
        let reads = z.read(&mut report);
        // ...while a writer publishes serial 3 (as `Store::write` does,
        // under the lock; no lock is held by the reload meanwhile).
        z.save(3);
        let rules = loader::FileRules::new(&s.config());
        let source = s
            .lock()
            .get(&name("example.com"))
            .expect("slot")
            .source
            .clone();
        let newer = loader::load_zone(&source, &rules).expect("load");
        s.lock().set(source, Ok(newer));
        assert_eq!(z.served(), Some(3));
        // The reload's older read is dropped, not published over it.
        s.publish(reads, &mut report);
        assert_eq!(z.served(), Some(3));
        assert!(report.loaded.is_empty(), "{report:?}");
        // And the next pass finds nothing to do.
        assert!(!s.reload().changed());
        assert_eq!(z.served(), Some(3));
    }

    /// A version replaced on disk after it was read (a store's write
    /// swapped in and back out because an editor's save came first) is
    /// not published: the pass that read it drops it, and the next one
    /// serves what is on disk.
    #[test]
    fn a_version_replaced_after_it_was_read_is_not_published() {
        let z = OneZone::new();
        let s = &z.state;
        z.save(2);
        let mut report = ReloadReport::default();
        let reads = z.read(&mut report);
        // Replaced (by rename) before the pass publishes what it read.
        z.save(3);
        s.publish(reads, &mut report);
        assert_eq!(z.served(), Some(1), "the version read is gone: not served");
        assert!(
            report.loaded.is_empty() && report.documents.is_empty(),
            "{report:?}"
        );
        assert_eq!(s.reload().loaded, vec![(name("example.com"), 3)]);
        assert_eq!(z.served(), Some(3));
    }

    /// A `chmod`, a `touch` or a save of the same bytes changes the file's
    /// identity, not what is served: the pass reports nothing loaded (no
    /// INFO lines, no commit, no NOTIFY), and notes the new identity so the
    /// next pass does not read the file again.
    #[test]
    fn a_change_of_identity_alone_is_not_reported_as_a_load() {
        use std::os::unix::fs::PermissionsExt;
        let z = OneZone::new();
        let (s, file) = (&z.state, z.dir.path().join("example.com.zone"));
        let changes: [&dyn Fn(); 3] = [
            &|| {
                std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o600))
                    .expect("chmod")
            },
            &|| {
                let f = std::fs::File::options()
                    .write(true)
                    .open(&file)
                    .expect("open");
                let later = std::time::SystemTime::now() + std::time::Duration::from_secs(5);
                f.set_modified(later).expect("touch");
            },
            // The same bytes, saved by rename.
            &|| z.save(1),
        ];
        for (i, change) in changes.iter().enumerate() {
            change();
            let report = s.reload();
            assert!(!report.changed(), "change {i}: {report:?}");
            assert!(report.documents.is_empty(), "change {i}: {report:?}");
            let slots = s.lock();
            let slot = slots.get(&name("example.com")).expect("slot");
            assert!(
                loader::unchanged(&slot.seen),
                "change {i}: the new identity noted"
            );
        }
        // An edit of the text is still a load.
        z.save(2);
        assert_eq!(s.reload().loaded, vec![(name("example.com"), 2)]);
    }

    /// The watcher's pass for the files events named: only the zones that
    /// read them are looked at; a file no zone reads (a new zone file)
    /// sends the caller to a full reload, which finds it.
    #[test]
    fn a_reload_of_named_files_reads_only_their_zones() {
        let dir = tempfile::tempdir().expect("tmp");
        let zone = |origin: &str, serial: u32| {
            format!(
                "$ORIGIN {origin}.\n$TTL 300\n\
                 @ IN SOA ns1 hostmaster {serial} 7200 3600 1209600 300\n\
                 \x20 IN NS ns1\nns1 IN A 192.0.2.1\n"
            )
        };
        let path = |origin: &str| dir.path().join(format!("{origin}.zone"));
        for z in ["a.test", "b.test"] {
            std::fs::write(path(z), zone(z, 1)).expect("write");
        }
        let s = State::new(Arc::new(Config::new(dir.path().to_path_buf(), vec![])));
        s.reload();
        let served = |z: &str| s.snapshot().get(&name(z)).map(|z| z.serial());
        // Both edited; an event named only a.test's file.
        for z in ["a.test", "b.test"] {
            std::fs::write(path(z), zone(z, 2)).expect("write");
        }
        let named: std::collections::HashSet<PathBuf> = [path("a.test")].into();
        let report = s.reload_files(&named).expect("a zone's file");
        assert_eq!(report.loaded, vec![(name("a.test"), 2)]);
        assert_eq!(report.previous.get(&name("a.test")), Some(&1));
        assert!(report.removed.is_empty(), "the other zones are not dropped");
        assert_eq!((served("a.test"), served("b.test")), (Some(2), Some(1)));
        // A new zone file is no zone's yet: a full reload is needed.
        std::fs::write(path("c.test"), zone("c.test", 1)).expect("write");
        let new: std::collections::HashSet<PathBuf> = [path("c.test"), path("a.test")].into();
        assert!(s.reload_files(&new).is_none());
        let report = s.reload();
        assert_eq!(report.loaded.len(), 2, "{report:?}");
        assert_eq!((served("b.test"), served("c.test")), (Some(2), Some(1)));
        // A zone file deleted: the full pass drops the zone (a pass over
        // just its file would find it unreadable and keep serving it).
        std::fs::remove_file(path("b.test")).expect("rm");
        let gone: std::collections::HashSet<PathBuf> = [path("b.test")].into();
        assert!(s.reload_files(&gone).is_none());
        assert_eq!(s.reload().removed, vec![name("b.test")]);
    }

    /// Outside attack, round 6: a file rewritten in place, same size, its
    /// mtime put back, kept its identity: never reloaded, and the next
    /// write erased the edit. A pass over the files events named compares
    /// their text with what is served; since round 46 the identity has the
    /// change time too, which such a rewrite moves. Round 36: also when the zone reads
    /// the file under another name than the event gives (an `$INCLUDE` of
    /// `sub/../inc.db`, a zone file that is a link): found by identity.
    #[test]
    fn an_in_place_rewrite_with_its_mtime_put_back_is_seen_by_the_event_pass() {
        // The file rewritten in place: the zone file; an `$INCLUDE` the
        // zone file reads as `sub/../inc.db`; the target of the zone file,
        // a link to it.
        let zone_file = "a.test.zone";
        for (i, edited) in ["a.test.zone", "inc.db", "real.db"].into_iter().enumerate() {
            let dir = tempfile::tempdir().expect("tmp");
            std::fs::create_dir(dir.path().join("sub")).expect("sub");
            let record = |www: &str| format!("www IN A {www}\n");
            let head = "$ORIGIN a.test.\n$TTL 300\n@ IN SOA ns1 hostmaster 1 7200 3600 1209600 300\n\
                        \x20 IN NS ns1\nns1 IN A 192.0.2.1\n";
            let first = record("192.0.2.11");
            let edited_path = dir.path().join(edited);
            match i {
                0 => std::fs::write(&edited_path, format!("{head}{first}")).expect("write"),
                1 => {
                    std::fs::write(
                        dir.path().join(zone_file),
                        format!("{head}$INCLUDE sub/../inc.db\n"),
                    )
                    .expect("write");
                    std::fs::write(&edited_path, &first).expect("write");
                }
                _ => std::fs::write(&edited_path, format!("{head}{first}")).expect("write"),
            }
            if i == 2 {
                std::os::unix::fs::symlink(edited, dir.path().join(zone_file)).expect("link");
            }
            let s = State::new(Arc::new(Config::new(dir.path().to_path_buf(), vec![])));
            s.reload();
            let www = |s: &State| {
                let zone = s.snapshot().get(&name("a.test")).cloned().expect("zone");
                zone.records()
                    .find(|r| r.name == name("www.a.test"))
                    .map(|r| r.rdata.0.to_vec())
            };
            assert_eq!(www(&s), Some(vec![192, 0, 2, 11]), "layout {i}");
            let rewrite = |from: &str, to: &str| {
                use std::io::{Seek, Write};
                let before = std::fs::metadata(&edited_path).expect("stat");
                let now = std::fs::read_to_string(&edited_path).expect("read");
                let mut f = std::fs::OpenOptions::new()
                    .write(true)
                    .open(&edited_path)
                    .expect("open");
                f.seek(std::io::SeekFrom::Start(0)).expect("seek");
                f.write_all(now.replace(from, to).as_bytes())
                    .expect("rewrite");
                f.set_modified(before.modified().expect("mtime"))
                    .expect("mtime back");
            };
            // The periodic pass goes by identity, which now includes the
            // change time the mtime's restore moved (round 46)...
            rewrite("192.0.2.11", "192.0.2.95");
            assert!(s.reload().changed(), "layout {i}");
            assert_eq!(www(&s), Some(vec![192, 0, 2, 95]), "layout {i}");
            // ...and the pass over the file an event named (by its name in
            // the folder) compares the text too.
            rewrite("192.0.2.95", "192.0.2.96");
            let named: std::collections::HashSet<PathBuf> = [edited_path.clone()].into();
            let report = s.reload_files(&named).expect("a zone's file");
            assert_eq!(report.loaded.len(), 1, "layout {i}: {report:?}");
            assert_eq!(www(&s), Some(vec![192, 0, 2, 96]), "layout {i}");
            // And a file that did not change is not read again as changed.
            let report = s.reload_files(&named).expect("a zone's file");
            assert!(report.loaded.is_empty(), "layout {i}: {report:?}");
        }
    }

    #[test]
    fn rfc5936_5_transfer_by_address_or_key() {
        let s = state();
        let inside: std::net::IpAddr = "192.0.2.7".parse().expect("ip");
        let outside: std::net::IpAddr = "198.51.100.1".parse().expect("ip");
        let xfr = name("xfr-key");
        let other = name("other-key");
        assert!(s.may_transfer(&name("cidr.test"), inside, None));
        assert!(!s.may_transfer(&name("cidr.test"), outside, None));
        assert!(!s.may_transfer(&name("cidr.test"), outside, Some(&xfr)));
        assert!(s.may_transfer(&name("key.test"), outside, Some(&xfr)));
        assert!(!s.may_transfer(&name("key.test"), outside, Some(&other)));
        assert!(!s.may_transfer(&name("key.test"), inside, None));
        assert!(s.may_transfer(&name("both.test"), "10.1.2.3".parse().expect("ip"), None));
        assert!(s.may_transfer(&name("both.test"), outside, Some(&xfr)));
        assert!(!s.may_transfer(&name("none.test"), inside, Some(&xfr)));
        assert!(!s.may_transfer(&name("unknown.test"), inside, Some(&xfr)));
    }
}
