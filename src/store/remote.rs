//! The zones repository as a peer of a git remote (`[git] remote`): pull
//! the branch with a record-level merge through the store, push the
//! server's commits.
//!
//! # Design
//!
//! ```text
//! pull (every pull_interval, SIGUSR1, POST /v1/git/sync)
//!   git fetch REMOTE +refs/heads/BRANCH:refs/remotes/REMOTE/BRANCH
//!   theirs already in HEAD?                    ──► nothing to do
//!   base = merge-base(HEAD, theirs); diff base..theirs, per path:
//!     the file of a served zone, changed:  parse base and theirs; every
//!       RRset that differs (SOA aside) becomes theirs in the served zone:
//!       one store write per zone (zone lock, minimal diff on the server's
//!       text, serial from [serial] policy), author REMOTE/BRANCH,
//!       Via: git-pull. An RRset changed here too since the base takes the
//!       remote's version; the values it replaced are listed.
//!     any other path (a new zone file, a removed one, a README): git's
//!       three-way merge of the file (a conflicting hunk takes theirs),
//!       written to the work tree; the watcher serves or drops zones
//!   a zone the remote broke (does not parse, or the merged zone is
//!     invalid)? ERROR naming the remote commit and file:line; the zone
//!     keeps serving; no merge commit, so the next pull tries again
//!   else the merge commit: parents HEAD and theirs, HEAD's tree with the
//!     other paths put in (the zones' records are in HEAD already)
//!
//! push (at most every push_interval, never on a write's path)
//!   HEAD not on the remote-tracking ref? git push REMOTE HEAD:BRANCH
//!   rejected (the remote moved)? pull, then push again
//!   failed? retried with backoff; the lag (commits, age) logged
//! ```
//!
//! Applying the remote's changes as writes, rather than checking out its
//! files, is what keeps the serial line from conflicting (the server owns
//! the serial) and keeps every acknowledged write: the server's text is
//! edited, never replaced. A pull that finds nothing new costs one fetch.
//!
//! What the remote can do: whoever may push to the branch changes any
//! record of any zone (as a person with a shell on the server could); the
//! grants of `[[key]]` do not apply to it. Paths under `.git`, symlinks
//! and submodules in the remote are never written to the work tree.

use std::collections::{BTreeMap, HashMap};
use std::net::SocketAddr;
use std::path::{Component, Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use git2::{Delta, FileMode, Oid, Repository};
use tracing::{error, info, warn};

use super::committer::Merge;
use super::{Store, WriteError, WriteOutcome, WriteRequest};
use crate::config::SyncSettings;
use crate::git::remote::{Pushed, Remote};
use crate::rr::{ChangeSet, Name, RecordType, Rr};
use crate::zone::Zone;

/// The `Via:` of the writes a pull makes.
pub const VIA: &str = "git-pull";

/// Largest file a pull reads from the remote (a zone file or another).
const MAX_FILE: usize = 64 * 1024 * 1024;

/// What one pull did.
#[derive(Clone, Debug, Default, serde::Serialize)]
pub struct PullReport {
    /// The remote's commit pulled (`None`: the branch does not exist yet).
    pub theirs: Option<String>,
    /// Whether HEAD already held it (nothing merged).
    pub up_to_date: bool,
    /// The merge commit made.
    pub merge: Option<String>,
    /// Zones changed by the pull, with the number of records changed.
    pub zones: Vec<ZoneChange>,
    /// Other paths taken from the remote (written or removed).
    pub files: Vec<String>,
    /// Values of this server's the remote's version replaced (an RRset
    /// changed on both sides since the merge base).
    pub replaced: Vec<String>,
    /// Zones (or files) not merged, with why: the next pull tries again.
    pub failed: Vec<String>,
    /// Paths the remote changed that the server keeps as it has them
    /// (its own config file: a pull never writes it).
    pub kept: Vec<String>,
    /// Changes of the remote's in zone files that are not RRsets (the
    /// SOA's fields, `$INCLUDE` lines): not merged, kept as the server
    /// has them.
    pub not_carried: Vec<String>,
    /// Whether HEAD was pushed after the pull.
    pub pushed: bool,
}

#[derive(Clone, Debug, serde::Serialize)]
pub struct ZoneChange {
    pub zone: String,
    pub records: usize,
}

/// One zone file the remote changed.
struct ZonePlan {
    origin: Name,
    rel: PathBuf,
    base: Option<String>,
    theirs: String,
}

/// What a pull has to do, read from git in one go.
struct Plan {
    theirs: Oid,
    zones: Vec<ZonePlan>,
    /// Other paths: their merged blob (`None`: removed) and executable bit.
    files: Vec<(PathBuf, Option<(Oid, bool)>)>,
    failed: Vec<String>,
    /// Paths kept as the server has them.
    kept: Vec<PathBuf>,
}

impl Store {
    /// The remote, branch and limits of `[git] remote`, checked against
    /// the repository (the remote must exist; the branch defaults to the
    /// one checked out).
    pub fn remote_of(&self, sync: &SyncSettings) -> Result<Remote, String> {
        let workdir = self.inner.state.config().zones_dir.clone();
        let repo = Repository::open(&workdir)
            .map_err(|e| format!("{}: {}", workdir.display(), e.message()))?;
        let branch = match &sync.branch {
            Some(b) => b.clone(),
            None => repo
                .head()
                .ok()
                .and_then(|h| h.shorthand().ok().map(str::to_owned))
                .ok_or("git.branch: HEAD is on no branch; set [git] branch")?,
        };
        let remote = Remote {
            workdir,
            name: sync.remote.clone(),
            branch,
            timeout: sync.timeout,
            cancel: Arc::default(),
        };
        remote.url(&repo)?;
        Ok(remote)
    }

    /// Fetches the remote's branch and merges it (see the module docs).
    pub async fn pull(&self, remote: &Remote) -> Result<PullReport, String> {
        let fetcher = remote.clone();
        let theirs = blocking(move || fetcher.fetch()).await?;
        let Some(theirs) = theirs else {
            return Ok(PullReport {
                up_to_date: true,
                ..PullReport::default()
            });
        };
        let mut report = PullReport {
            theirs: Some(theirs.to_string()),
            ..PullReport::default()
        };
        let state = self.inner.state.clone();
        let workdir = remote.workdir.clone();
        let label = remote.label();
        let plan = blocking(move || {
            let config = state.config().path.canonicalize().ok();
            let zones = || zone_files(&state);
            plan(&workdir, theirs, (zones, config.as_deref()), &label)
        })
        .await;
        // Past the fetch, what goes wrong is the pull's, not the remote's
        // reachability: listed in `failed` (the webhook's answer is 200).
        let plan = match plan {
            Ok(p) => p,
            Err(e) => return Ok(self.not_merged(report, e)),
        };
        let Some(mut plan) = plan else {
            self.inner.state.set_pull_failures(HashMap::new());
            report.up_to_date = true;
            return Ok(report);
        };
        report.failed = plan.failed.clone();
        report.kept = plan.kept.iter().map(|p| p.display().to_string()).collect();
        for k in &report.kept {
            warn!(
                "git pull {}: {k} changed in the remote; it is this server's config, which a \
                 pull never writes: kept as it is here",
                remote.label()
            );
        }
        let short = short(plan.theirs);
        let mut zone_failures = HashMap::new();
        // Every zone file parsed before any is written: one that does not
        // parse (or anything else wrong with the pull) writes nothing.
        // Parsing is CPU work (seconds for a zone of 200,000 records): on
        // the blocking pool, never on the threads that answer requests.
        let (zones, label, tag) = (
            std::mem::take(&mut plan.zones),
            remote.label(),
            short.clone(),
        );
        let results = blocking(move || {
            Ok(zones
                .iter()
                .map(|z| (z.origin.clone(), parse_zone(&label, &tag, z)))
                .collect::<Vec<_>>())
        })
        .await?;
        let mut parsed = Vec::with_capacity(results.len());
        for (origin, result) in results {
            match result {
                Ok(p) => {
                    report.not_carried.extend(p.not_carried.iter().cloned());
                    parsed.push(p);
                }
                Err(why) => {
                    zone_failures.insert(origin, why.clone());
                    report.failed.push(why);
                }
            }
        }
        if !report.failed.is_empty() {
            parsed.clear();
        }
        for zone in &parsed {
            match self.merge_zone(remote, &short, zone).await {
                Ok((records, replaced)) => {
                    if records > 0 {
                        report.zones.push(ZoneChange {
                            zone: zone.origin.to_string(),
                            records,
                        });
                    }
                    report.replaced.extend(replaced);
                }
                Err(why) => {
                    zone_failures.insert(zone.origin.clone(), why.clone());
                    report.failed.push(why);
                }
            }
        }
        self.inner.state.set_pull_failures(zone_failures);
        if !report.failed.is_empty() {
            // Once per remote commit and reasons, not on every pull.
            if self.first_failure(&report.failed) {
                for f in &report.failed {
                    error!("git pull: not merged: {f}");
                }
                error!(
                    "git pull {} {short}: no merge commit; the zones above keep serving \
                     their version, and each pull tries again (logged again when the \
                     remote or the reason changes)",
                    remote.label()
                );
            }
            return Ok(report);
        }
        self.first_failure(&[]);
        let workdir = remote.workdir.clone();
        let files = plan.files.clone();
        let written = match blocking(move || write_files(&workdir, theirs, &files)).await {
            Ok(w) => w,
            Err(e) => {
                return Ok(self.not_merged(report, format!("{} {short}: {e}", remote.label())));
            }
        };
        report.files = written
            .iter()
            .map(|(p, _)| p.display().to_string())
            .collect();
        let message = merge_message(&remote.label(), &short, &report);
        let committer = self.inner.committer.clone();
        let merge = Merge {
            theirs,
            files: written,
            message,
        };
        let made = match blocking(move || committer.commit_merge(merge)).await {
            Ok(m) => m,
            Err(e) => {
                let why = format!("{} {short}: the merge commit: {e}", remote.label());
                return Ok(self.not_merged(report, why));
            }
        };
        report.merge = made;
        info!(
            "git pull {} {short}: merged ({} zone{} changed, {} other file{}){}",
            remote.label(),
            report.zones.len(),
            if report.zones.len() == 1 { "" } else { "s" },
            report.files.len(),
            if report.files.len() == 1 { "" } else { "s" },
            report
                .merge
                .as_deref()
                .map(|m| format!(", merge commit {}", &m[..m.len().min(12)]))
                .unwrap_or_default()
        );
        for r in &report.replaced {
            warn!(
                "git pull {}: the remote's version replaced {r}",
                remote.label()
            );
        }
        for n in &report.not_carried {
            warn!("git pull: {n}");
        }
        Ok(report)
    }

    /// A pull that stopped: `why` is logged and listed in the report.
    fn not_merged(&self, mut report: PullReport, why: String) -> PullReport {
        if self.first_failure(std::slice::from_ref(&why)) {
            error!("git pull: not merged: {why}; the next pull tries again");
        }
        report.failed.push(why);
        report
    }

    /// Whether `failed` differs from the last pull's reasons (remembered;
    /// empty: the pull merged). Each reason names the remote commit.
    fn first_failure(&self, failed: &[String]) -> bool {
        let mut last = self.pull_failure.lock().unwrap_or_else(|p| p.into_inner());
        let new = last.as_slice() != failed;
        *last = failed.to_vec();
        new
    }

    /// Applies the remote's changes to one zone as one write; returns the
    /// records changed and the values of ours the remote replaced.
    async fn merge_zone(
        &self,
        remote: &Remote,
        short: &str,
        plan: &ParsedZone,
    ) -> Result<(usize, Vec<String>), String> {
        let (file, base, target) = (&plan.file, &plan.base, &plan.target);
        let at = |e: String| format!("{} {short}: {e}", remote.label());
        if target.is_empty() {
            return Ok((0, Vec::new()));
        }
        // Worked out inside the write, on the zone as it is under its lock
        // (each time the store computes): an UPDATE answered between the
        // plan and the write is listed too when the remote's version
        // replaces it.
        let seen: Arc<std::sync::Mutex<(usize, Vec<String>)>> = Arc::default();
        let (compute, cell) = (Arc::new(target.clone()), seen.clone());
        let base = Arc::new(base.clone());
        let outcome = self
            .write(WriteRequest {
                zone: plan.origin.clone(),
                actor: remote.label(),
                client: SocketAddr::from(([0, 0, 0, 0], 0)),
                via: VIA,
                compute: Box::new(move |zone| {
                    let change = changes_to(zone, &compute);
                    let replaced = replaced_values(zone, &base, &compute);
                    *cell.lock().unwrap_or_else(|p| p.into_inner()) =
                        (change.add.len() + change.remove.len(), replaced);
                    Ok(change)
                }),
            })
            .await;
        let (changed, replaced) =
            std::mem::take(&mut *seen.lock().unwrap_or_else(|p| p.into_inner()));
        match outcome {
            Ok(WriteOutcome::Unchanged) => Ok((0, Vec::new())),
            Ok(WriteOutcome::Written { .. }) => Ok((changed, replaced)),
            Err(WriteError::Invalid(why)) => Err(at(format!(
                "{file}: the merged zone would be invalid: {why}"
            ))),
            Err(e) => Err(at(format!("{file}: {e}"))),
        }
    }
}

/// A zone file of the pull, parsed: the RRsets the remote changed.
struct ParsedZone {
    origin: Name,
    file: String,
    base: BTreeMap<(Name, RecordType), Vec<Rr>>,
    target: BTreeMap<(Name, RecordType), Vec<Rr>>,
    /// Changes of the remote's the pull does not take (SOA, `$INCLUDE`).
    not_carried: Vec<String>,
}

/// Parses the base and the remote's version of one zone file; an error
/// names the remote commit and `file:line:col`.
fn parse_zone(label: &str, short: &str, plan: &ZonePlan) -> Result<ParsedZone, String> {
    let file = plan.rel.display().to_string();
    let at = |e: String| format!("{label} {short}: {e}");
    let base = match &plan.base {
        Some(text) => rrsets(&file, text, &plan.origin).map_err(at)?,
        None => BTreeMap::new(),
    };
    let theirs = rrsets(&file, &plan.theirs, &plan.origin).map_err(at)?;
    let target = changed_rrsets(&base, &theirs);
    // What the remote changed that is not an RRset the pull can take:
    // said, never dropped in silence (the merge commit keeps the server's).
    let mut not_carried = Vec::new();
    let soa = |sets: &BTreeMap<(Name, RecordType), Vec<Rr>>| {
        sets.get(&(plan.origin.to_lowercase(), RecordType::SOA))
            .and_then(|v| v.first())
            .map(soa_without_serial)
    };
    if plan.base.is_some() && soa(&base) != soa(&theirs) {
        not_carried.push(format!(
            "{label} {short}: {file}: the SOA's fields besides the serial changed; not \
             merged (the SOA is the server's: change it on the server)"
        ));
    }
    let includes = |text: &str| -> Vec<String> {
        text.lines()
            .map(str::trim_start)
            .filter(|l| {
                l.len() > 8 && l.is_char_boundary(8) && l[..8].eq_ignore_ascii_case("$include")
            })
            .map(|l| l.split(';').next().unwrap_or(l).trim().to_owned())
            .collect()
    };
    if includes(plan.base.as_deref().unwrap_or_default()) != includes(&plan.theirs) {
        not_carried.push(format!(
            "{label} {short}: {file}: $INCLUDE lines changed; not merged (change them on \
             the server; the included files themselves are merged as files)"
        ));
    }
    Ok(ParsedZone {
        origin: plan.origin.clone(),
        file,
        base,
        target,
        not_carried,
    })
}

/// An SOA's TTL and RDATA with the serial left out (mname, rname, then
/// serial, refresh, retry, expire, minimum: the serial is the 4 octets
/// 20 before the end).
fn soa_without_serial(rr: &Rr) -> (u32, Vec<u8>) {
    let wire = rr.rdata.as_bytes();
    let mut out = wire.to_vec();
    if let Some(at) = wire.len().checked_sub(20) {
        out.drain(at..at + 4);
    }
    (rr.ttl, out)
}

/// Every served zone's file, canonical, to its origin (read only when a
/// pull has something to merge: a stat per zone).
fn zone_files(state: &crate::served::State) -> HashMap<PathBuf, Name> {
    state
        .snapshot()
        .iter()
        .filter_map(|z| {
            let (path, _) = state.zone_source(z.origin())?;
            Some((path.canonicalize().ok()?, z.origin().clone()))
        })
        .collect()
}

/// The abbreviated commit id, for messages.
fn short(id: Oid) -> String {
    id.to_string()[..12].to_owned()
}

/// Runs `f` on the blocking pool; a panic there is an error, not a crash.
async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, String> + Send + 'static,
) -> Result<T, String> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| format!("the git sync task failed: {e}"))?
}

/// The records of a zone file's text, by RRset (names lower-cased by the
/// parser's comparison; `$INCLUDE`d files are not read: they are merged
/// as files).
fn rrsets(
    file: &str,
    text: &str,
    origin: &Name,
) -> Result<BTreeMap<(Name, RecordType), Vec<Rr>>, String> {
    let doc =
        crate::zonefile::Document::parse(file, text, origin, &SkipIncludes).map_err(|errs| {
            errs.iter()
                .take(3)
                .map(ToString::to_string)
                .collect::<Vec<_>>()
                .join("; ")
        })?;
    let mut out: BTreeMap<(Name, RecordType), Vec<Rr>> = BTreeMap::new();
    for (rr, _) in doc.records() {
        out.entry((rr.name.to_lowercase(), rr.rtype))
            .or_default()
            .push(rr.clone());
    }
    Ok(out)
}

/// `$INCLUDE`s read as empty: their files are merged as files.
struct SkipIncludes;

impl crate::zonefile::IncludeLoader for SkipIncludes {
    fn load(&self, _from: &str, path: &str) -> Result<(String, String), String> {
        Ok((path.to_owned(), String::new()))
    }
}

/// Every RRset (SOA aside: the serial is the server's) that differs
/// between `base` and `theirs`, as `theirs` has it (empty: removed).
fn changed_rrsets(
    base: &BTreeMap<(Name, RecordType), Vec<Rr>>,
    theirs: &BTreeMap<(Name, RecordType), Vec<Rr>>,
) -> BTreeMap<(Name, RecordType), Vec<Rr>> {
    let mut target = BTreeMap::new();
    for key in base.keys().chain(theirs.keys()) {
        if key.1 == RecordType::SOA || target.contains_key(key) {
            continue;
        }
        let (b, t) = (base.get(key), theirs.get(key));
        if !same_set(b.map_or(&[][..], |v| v), t.map_or(&[][..], |v| v)) {
            target.insert(key.clone(), t.cloned().unwrap_or_default());
        }
    }
    target
}

/// Same records, TTLs included.
fn same_set(a: &[Rr], b: &[Rr]) -> bool {
    let has = |set: &[Rr], r: &Rr| set.iter().any(|x| x.same_rr(r) && x.ttl == r.ttl);
    a.len() == b.len() && a.iter().all(|r| has(b, r)) && b.iter().all(|r| has(a, r))
}

/// The change that makes each RRset of `target` in `zone` exactly the
/// target's records (TTL included).
fn changes_to(zone: &Zone, target: &BTreeMap<(Name, RecordType), Vec<Rr>>) -> ChangeSet {
    let mut out = ChangeSet::default();
    let has = |set: &[Rr], r: &Rr| set.iter().any(|x| x.same_rr(r) && x.ttl == r.ttl);
    for ((name, rtype), want) in target {
        let have = zone.rrset(name, *rtype);
        out.remove
            .extend(have.iter().filter(|r| !has(want, r)).cloned());
        out.add
            .extend(want.iter().filter(|r| !has(have, r)).cloned());
    }
    out
}

/// The records of ours that the remote's version replaces in RRsets we
/// changed too since the base (RR lines, for the log and the merge
/// commit).
fn replaced_values(
    zone: &Zone,
    base: &BTreeMap<(Name, RecordType), Vec<Rr>>,
    target: &BTreeMap<(Name, RecordType), Vec<Rr>>,
) -> Vec<String> {
    let has = |set: &[Rr], r: &Rr| set.iter().any(|x| x.same_rr(r) && x.ttl == r.ttl);
    let mut out = Vec::new();
    for (key, want) in target {
        let ours = zone.rrset(&key.0, key.1);
        let base = base.get(key).map_or(&[][..], |v| v);
        if same_set(ours, base) {
            continue;
        }
        out.extend(
            ours.iter()
                .filter(|r| !has(want, r) && !has(base, r))
                .map(super::rr_line),
        );
    }
    out
}

/// Reads what a pull of `theirs` has to do; `None` when HEAD holds it.
fn plan(
    workdir: &Path,
    theirs: Oid,
    (zone_files, config): (impl FnOnce() -> HashMap<PathBuf, Name>, Option<&Path>),
    label: &str,
) -> Result<Option<Plan>, String> {
    let g = |e: git2::Error| format!("{}: {}", workdir.display(), e.message());
    let repo = Repository::open(workdir).map_err(g)?;
    let head = repo.head().and_then(|h| h.peel_to_commit()).map_err(g)?;
    if head.id() == theirs || repo.graph_descendant_of(head.id(), theirs).map_err(g)? {
        return Ok(None);
    }
    let base = repo.merge_base(head.id(), theirs).map_err(|_| {
        format!(
            "{label} has no history in common with the zones repository's HEAD; make the \
             zones folder a clone of the remote (or push it to an empty branch) first"
        )
    })?;
    let tree = |id: Oid| repo.find_commit(id).and_then(|c| c.tree()).map_err(g);
    let (base_tree, ours_tree, theirs_tree) = (tree(base)?, tree(head.id())?, tree(theirs)?);
    let diff = repo
        .diff_tree_to_tree(Some(&base_tree), Some(&theirs_tree), None)
        .map_err(g)?;
    let tag = format!("{label} {}", short(theirs));
    let mut out = Plan {
        theirs,
        zones: Vec::new(),
        files: Vec::new(),
        failed: Vec::new(),
        kept: Vec::new(),
    };
    // Paths zonewright never writes (under .git, `..`) stop the pull before
    // git's merge is asked (libgit2 refuses such trees with an error that
    // would not name the remote commit).
    let odb = repo.odb().map_err(g)?;
    for d in diff.deltas() {
        let Some(rel) = d.new_file().path().or(d.old_file().path()) else {
            continue;
        };
        let name = rel.display();
        if !safe_path(rel) {
            out.failed
                .push(format!("{tag}: {name:?}: not a path zonewright writes"));
            continue;
        }
        // The size from the object's header: a blob is never inflated to
        // learn it is too big (a few KB of compressed zeros can claim GBs).
        let id = d.new_file().id();
        let blob = matches!(
            d.new_file().mode(),
            FileMode::Blob | FileMode::BlobExecutable
        );
        if blob
            && !id.is_zero()
            && odb
                .read_header(id)
                .map_or(true, |(size, _)| size > MAX_FILE)
        {
            out.failed.push(format!(
                "{tag}: {name:?}: over {} MB (or unreadable); not taken",
                MAX_FILE >> 20
            ));
        }
    }
    if !out.failed.is_empty() {
        return Ok(Some(out));
    }
    let mut opts = git2::MergeOptions::new();
    opts.file_favor(git2::FileFavor::Theirs);
    let merged = repo
        .merge_trees(&base_tree, &ours_tree, &theirs_tree, Some(&opts))
        .map_err(|e| format!("{tag}: git cannot merge it: {}", e.message()))?;
    let root = workdir.canonicalize().map_err(|e| e.to_string())?;
    let zone_files = zone_files();
    let blob_text = |id: Oid| -> Result<String, String> {
        let blob = repo.find_blob(id).map_err(g)?;
        if blob.size() > MAX_FILE {
            return Err(format!("over {} MB", MAX_FILE >> 20));
        }
        String::from_utf8(blob.content().to_vec()).map_err(|_| "not UTF-8 text".to_owned())
    };
    for d in diff.deltas() {
        let Some(rel) = d.new_file().path().or(d.old_file().path()) else {
            continue;
        };
        let rel = rel.to_path_buf();
        let name = rel.display().to_string();
        let gone = d.status() == Delta::Deleted;
        let zone = zone_files.get(&root.join(&rel)).filter(|_| !gone);
        if let Some(origin) = zone {
            let mode = d.new_file().mode();
            if !matches!(mode, FileMode::Blob | FileMode::BlobExecutable) {
                out.failed
                    .push(format!("{tag}: {name}: not a regular file"));
                continue;
            }
            let base_text = match d.old_file().id() {
                id if id.is_zero() => None,
                id => Some(blob_text(id).map_err(|e| format!("{name}: {e}"))?),
            };
            match blob_text(d.new_file().id()) {
                Ok(theirs) => out.zones.push(ZonePlan {
                    origin: origin.clone(),
                    rel,
                    base: base_text,
                    theirs,
                }),
                Err(e) => out.failed.push(format!("{tag}: {name}: {e}")),
            }
            continue;
        }
        if config.is_some_and(|c| c == root.join(&rel)) {
            out.kept.push(rel);
            continue;
        }
        // Any other path: as git's merge has it (a conflict: theirs).
        let entry = merged
            .get_path(&rel, 0)
            .or_else(|| merged.get_path(&rel, 3));
        match entry {
            None => out.files.push((rel, None)),
            Some(e) => {
                let mode = e.mode;
                let exec = mode == u32::try_from(i32::from(FileMode::BlobExecutable)).unwrap_or(0);
                let blob = mode == u32::try_from(i32::from(FileMode::Blob)).unwrap_or(0);
                if blob || exec {
                    // A new zone file (`<zone>.zone` at the top, as the
                    // loader serves them) must parse, as a changed one must.
                    if let Some(why) =
                        new_zone_problem(&rel, &zone_files, &root, || blob_text(e.id))
                    {
                        out.failed.push(format!("{tag}: {why}"));
                        continue;
                    }
                    out.files.push((rel, Some((e.id, exec))));
                } else {
                    out.failed.push(format!(
                        "{tag}: {name}: a symlink or submodule; zonewright does not write those"
                    ));
                }
            }
        }
    }
    Ok(Some(out))
}

/// Why a file the pull would add as a new zone (`NAME.zone` at the top of
/// the zones folder, not served yet) cannot be served: it does not parse.
/// `None` for any other path, or a zone file that parses.
fn new_zone_problem(
    rel: &Path,
    served: &HashMap<PathBuf, Name>,
    root: &Path,
    text: impl FnOnce() -> Result<String, String>,
) -> Option<String> {
    let file = rel.to_str()?;
    let stem = file
        .strip_suffix(".zone")
        .filter(|s| !s.contains('/') && !s.starts_with('.'))?;
    if served.contains_key(&root.join(rel)) {
        return None;
    }
    let origin = crate::config::parse_zone_name(stem)?;
    match text() {
        Err(e) => Some(format!("{file}: {e}")),
        Ok(t) => rrsets(file, &t, &origin).err(),
    }
}

/// A relative path of plain components, none of them `.git` (any case).
fn safe_path(rel: &Path) -> bool {
    rel.components().all(|c| match c {
        Component::Normal(s) => !s.eq_ignore_ascii_case(".git"),
        _ => false,
    }) && rel.components().next().is_some()
}

/// Writes the merged files into the work tree (atomically, each fsynced)
/// and removes those the remote removed; returns the (path, blob) list
/// for the merge commit. A path through a symlinked folder is refused.
fn write_files(
    workdir: &Path,
    theirs: Oid,
    files: &[(PathBuf, Option<(Oid, bool)>)],
) -> Result<Vec<(PathBuf, Option<Oid>)>, String> {
    let repo = Repository::open(workdir).map_err(|e| e.message().to_owned())?;
    unchanged_since_head(&repo, workdir, files)?;
    let mut out = Vec::with_capacity(files.len());
    for (rel, blob) in files {
        let path = workdir.join(rel);
        let name = rel.display();
        // Every folder on the way must be a real folder inside the tree.
        let mut dir = workdir.to_path_buf();
        let parents: Vec<Component<'_>> = rel
            .parent()
            .map_or(Vec::new(), |p| p.components().collect());
        for c in parents {
            dir.push(c);
            match std::fs::symlink_metadata(&dir) {
                Ok(m) if m.is_dir() => {}
                Ok(_) => return Err(format!("{name}: {} is not a folder", dir.display())),
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                    std::fs::create_dir(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
                }
                Err(e) => return Err(format!("{}: {e}", dir.display())),
            }
        }
        if std::fs::symlink_metadata(&path).is_ok_and(|m| !m.is_file()) {
            return Err(format!("{name}: is not a regular file here; not replaced"));
        }
        match blob {
            None => {
                match std::fs::remove_file(&path) {
                    Ok(()) => {}
                    Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                    Err(e) => return Err(format!("{name}: cannot remove: {e}")),
                }
                out.push((rel.clone(), None));
            }
            Some((id, exec)) => {
                let blob = repo
                    .find_blob(*id)
                    .map_err(|e| format!("{name} in {}: {}", short(theirs), e.message()))?;
                write_atomically(&path, blob.content(), *exec)
                    .map_err(|e| format!("{name}: cannot write: {e}"))?;
                out.push((rel.clone(), Some(*id)));
            }
        }
    }
    Ok(out)
}

/// Refuses the pull when a path it would write or remove holds changes
/// nobody committed (a person's work in progress is never overwritten):
/// the file must be as HEAD has it, or absent where HEAD has none.
fn unchanged_since_head(
    repo: &Repository,
    workdir: &Path,
    files: &[(PathBuf, Option<(Oid, bool)>)],
) -> Result<(), String> {
    let head = repo
        .head()
        .and_then(|h| h.peel_to_tree())
        .map_err(|e| e.message().to_owned())?;
    for (rel, target) in files {
        let committed = head.get_path(rel).ok().map(|e| e.id());
        let on_disk = match std::fs::symlink_metadata(workdir.join(rel)) {
            Ok(m) if m.is_file() => Some(
                std::fs::read(workdir.join(rel))
                    .ok()
                    .and_then(|bytes| Oid::hash_object(git2::ObjectType::Blob, &bytes).ok()),
            ),
            Ok(_) => Some(None),
            Err(_) => None,
        };
        // As HEAD has it, or already as the pull would leave it (an earlier
        // pull wrote it, then git refused its merge commit).
        let wanted = target.map(|(id, _)| id);
        let same = match (committed, on_disk) {
            (None, None) => true,
            (Some(c), Some(Some(d))) => c == d,
            _ => false,
        } || match (wanted, on_disk) {
            (None, None) => true,
            (Some(w), Some(Some(d))) => w == d,
            _ => false,
        };
        if !same {
            return Err(format!(
                "{}: changed in the zones folder and not committed; commit or remove it, and \
                 the next pull merges",
                rel.display()
            ));
        }
    }
    Ok(())
}

/// Temp file beside `path`, fsync, rename, fsync the folder.
fn write_atomically(path: &Path, bytes: &[u8], exec: bool) -> std::io::Result<()> {
    use std::io::Write;
    use std::os::unix::fs::PermissionsExt;
    let dir = path.parent().unwrap_or(Path::new("."));
    let mut tmp = tempfile::Builder::new()
        .prefix(".zonewright-")
        .suffix(".tmp")
        .tempfile_in(dir)?;
    tmp.write_all(bytes)?;
    let mode = if exec { 0o755 } else { 0o644 };
    tmp.as_file()
        .set_permissions(std::fs::Permissions::from_mode(mode))?;
    tmp.as_file().sync_all()?;
    tmp.persist(path).map_err(|e| e.error)?;
    std::fs::File::open(dir)?.sync_all()
}

/// The merge commit's message: what came from where, and what the
/// remote's version replaced.
fn merge_message(label: &str, short: &str, report: &PullReport) -> String {
    let mut m = format!("Merge {label} ({short}) into the served zones\n\n");
    for z in &report.zones {
        m.push_str(&format!(
            "{}: {} record{} from {label} (applied as a write, Via: {VIA})\n",
            z.zone,
            z.records,
            if z.records == 1 { "" } else { "s" }
        ));
    }
    if !report.files.is_empty() {
        m.push_str(&format!("Files: {}\n", report.files.join(", ")));
    }
    if !report.not_carried.is_empty() {
        m.push_str("Not merged (kept as the server has them):\n");
        for n in &report.not_carried {
            m.push_str(&format!("  {n}\n"));
        }
    }
    if !report.kept.is_empty() {
        m.push_str(&format!(
            "Kept as the server has them (its config is never pulled): {}\n",
            report.kept.join(", ")
        ));
    }
    if !report.replaced.is_empty() {
        m.push_str(&format!(
            "\nChanged on both sides since the merge base; {label}'s version replaced:\n"
        ));
        for r in &report.replaced {
            m.push_str(&format!("  {r}\n"));
        }
    }
    m.push_str(&format!("\nVia: {VIA}\n"));
    m
}

/// How the sync task is asked to sync now, and answered.
pub type SyncRequest = tokio::sync::oneshot::Sender<Result<PullReport, String>>;

/// Why [`SyncHandle::sync_now`] has no report.
#[derive(Debug)]
pub enum SyncError {
    /// Syncs are queued already (the one asked for runs with them).
    Busy,
    /// The fetch failed (git's reason), or the task stopped.
    Failed(String),
}

/// A handle to ask the sync task for a pull and push now (SIGUSR1,
/// `POST /v1/git/sync`).
#[derive(Clone)]
pub struct SyncHandle {
    tx: tokio::sync::mpsc::Sender<Option<SyncRequest>>,
}

impl SyncHandle {
    /// Asks for a sync and waits for its report.
    pub async fn sync_now(&self) -> Result<PullReport, SyncError> {
        let (tx, rx) = tokio::sync::oneshot::channel();
        self.tx.try_send(Some(tx)).map_err(|_| SyncError::Busy)?;
        rx.await
            .map_err(|_| SyncError::Failed("the git sync task has stopped".to_owned()))?
            .map_err(SyncError::Failed)
    }

    /// Asks for a sync without waiting (SIGUSR1); one already queued is
    /// enough.
    pub fn poke(&self) {
        let _ = self.tx.try_send(None);
    }
}

/// Longest wait between push attempts after failures.
const MAX_BACKOFF: Duration = Duration::from_secs(300);

/// The sync task: pulls every `pull_interval` and when asked, pushes at
/// most every `push_interval`, until `stop`.
pub fn start(
    store: Arc<Store>,
    remote: Remote,
    settings: SyncSettings,
    stop: tokio::sync::watch::Receiver<bool>,
) -> (SyncHandle, impl std::future::Future<Output = ()>) {
    let (tx, rx) = tokio::sync::mpsc::channel(4);
    (SyncHandle { tx }, run(store, remote, settings, rx, stop))
}

async fn run(
    store: Arc<Store>,
    remote: Remote,
    settings: SyncSettings,
    mut asks: tokio::sync::mpsc::Receiver<Option<SyncRequest>>,
    mut stop: tokio::sync::watch::Receiver<bool>,
) {
    let label = remote.label();
    // Shutdown stops a fetch or push under way at once.
    let (cancel, mut stopping) = (remote.cancel.clone(), stop.clone());
    tokio::spawn(async move {
        while stopping.changed().await.is_ok() {
            if *stopping.borrow() {
                cancel.store(true, std::sync::atomic::Ordering::Relaxed);
                return;
            }
        }
    });
    info!(
        "git sync with {label}: pull {}, push {}",
        settings
            .pull_interval
            .map_or("when asked".to_owned(), |d| format!("every {d:?}")),
        if settings.push {
            format!("at most every {:?}", settings.push_interval)
        } else {
            "off".to_owned()
        }
    );
    let far = Duration::from_secs(365 * 24 * 3600);
    let mut next_pull = Instant::now() + settings.pull_interval.unwrap_or(far);
    let mut next_push = Instant::now();
    let mut push_failures: u32 = 0;
    let mut pull_failures: u32 = 0;
    // A pull at start-up: what was pushed while the server was down.
    let mut pending: Vec<SyncRequest> = Vec::new();
    let mut pull_now = settings.pull_interval.is_some();
    loop {
        if pull_now {
            pull_now = false;
            let result = store.pull(&remote).await;
            match &result {
                // The first failure and every 20th after it at ERROR (an
                // unreachable remote must not fill the log every 30 s).
                Err(e) if *stop.borrow() => info!("git pull {label}: {e}"),
                Err(e) => {
                    pull_failures += 1;
                    if pull_failures == 1 || pull_failures.is_multiple_of(20) {
                        error!("git pull {label}: {e} ({pull_failures} in a row)");
                    } else {
                        warn!("git pull {label}: {e}");
                    }
                }
                Ok(_) if pull_failures > 0 => {
                    info!("git pull {label}: working again after {pull_failures} failures");
                    pull_failures = 0;
                }
                Ok(_) => {}
            }
            count_pull(store.inner.state.metrics(), &result);
            next_pull = Instant::now() + settings.pull_interval.unwrap_or(far);
            let mut result = result;
            // A push right after the pull, unless pushes are backing off
            // after failures (a failing pull must not make every pull a
            // push attempt too).
            let stopping = *stop.borrow();
            if settings.push && !stopping && (push_failures == 0 || Instant::now() >= next_push) {
                let pushed = push(&store, &remote).await;
                if let Ok(r) = &mut result {
                    r.pushed = matches!(pushed, Ok(true));
                }
                note_push(
                    &label,
                    pushed,
                    &mut push_failures,
                    &mut next_push,
                    &settings,
                );
            }
            for p in pending.drain(..) {
                let _ = p.send(result.clone());
            }
        }
        if *stop.borrow() {
            break;
        }
        let wake = if settings.push {
            next_pull.min(next_push)
        } else {
            next_pull
        };
        tokio::select! {
            _ = stop.changed() => break,
            ask = asks.recv() => match ask {
                None => break,
                Some(reply) => {
                    pending.extend(reply);
                    pull_now = true;
                }
            },
            _ = tokio::time::sleep_until(wake.into()) => {
                if Instant::now() >= next_pull {
                    pull_now = true;
                } else if settings.push {
                    let pushed = push(&store, &remote).await;
                    note_push(&label, pushed, &mut push_failures, &mut next_push, &settings);
                }
            }
        }
        if *stop.borrow() {
            break;
        }
    }
}

/// Logs a push's outcome and sets when the next push may be tried.
fn note_push(
    label: &str,
    pushed: Result<bool, String>,
    failures: &mut u32,
    next: &mut Instant,
    settings: &SyncSettings,
) {
    match pushed {
        Ok(_) => {
            if *failures > 0 {
                info!("git push {label}: working again after {failures} failed attempts");
            }
            *failures = 0;
            *next = Instant::now() + settings.push_interval;
        }
        Err(e) => {
            *failures = failures.saturating_add(1);
            let wait = settings
                .push_interval
                .saturating_mul(1 << (*failures).min(8))
                .min(MAX_BACKOFF);
            warn!("git push {label}: {e}; trying again in {wait:?}");
            *next = Instant::now() + wait;
        }
    }
}

/// Pushes HEAD when the remote lacks it: `Ok(true)` pushed, `Ok(false)`
/// nothing to push. A rejected push (the remote moved) pulls and tries
/// once more. Counts the result and the lag in the metrics.
async fn push(store: &Store, remote: &Remote) -> Result<bool, String> {
    let metrics = store.inner.state.metrics().clone();
    for attempt in 0..2 {
        let r = remote.clone();
        let Some(lag) = blocking(move || unpushed(&r)).await? else {
            metrics.git_push("", (0, 0));
            return Ok(false);
        };
        let r = remote.clone();
        let head = lag.head;
        let pushed = blocking(move || r.push(head)).await;
        match pushed {
            Ok(Pushed::Done) => {
                metrics.git_push("pushed", (0, 0));
                return Ok(true);
            }
            Ok(Pushed::Rejected(why)) if attempt == 0 => {
                info!(
                    "git push {}: rejected ({why}); {lag}; pulling first",
                    remote.label()
                );
                count_pull(&metrics, &store.pull(remote).await);
            }
            Ok(Pushed::Rejected(why)) => {
                metrics.git_push("failed", (lag.commits, lag.age));
                return Err(format!("rejected again ({why}); {lag}"));
            }
            Err(e) => {
                metrics.git_push("failed", (lag.commits, lag.age));
                return Err(format!("{e}; {lag}"));
            }
        }
    }
    Ok(false)
}

/// Counts a pull's result in the metrics.
fn count_pull(metrics: &crate::metrics::Metrics, pulled: &Result<PullReport, String>) {
    metrics.git_pull(match pulled {
        Err(_) => "failed",
        Ok(r) if !r.failed.is_empty() => "not_merged",
        Ok(r) if r.up_to_date => "up_to_date",
        Ok(_) => "merged",
    });
}

/// What the remote lacks: HEAD, how many commits, the oldest one's age.
struct Lag {
    head: Oid,
    commits: u64,
    age: u64,
    branch: String,
}

impl std::fmt::Display for Lag {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} commit{} not on {} yet, the oldest {} s old",
            self.commits,
            if self.commits == 1 { "" } else { "s" },
            self.branch,
            self.age
        )
    }
}

/// The lag, when the remote-tracking ref lacks HEAD; `None` when it has
/// it.
fn unpushed(remote: &Remote) -> Result<Option<Lag>, String> {
    let g = |e: git2::Error| e.message().to_owned();
    let repo = Repository::open(&remote.workdir).map_err(g)?;
    let head = repo.head().and_then(|h| h.peel_to_commit()).map_err(g)?;
    let tracking = repo.refname_to_id(&remote.tracking_ref()).ok();
    if let Some(t) = tracking
        && (t == head.id() || repo.graph_descendant_of(t, head.id()).unwrap_or(false))
    {
        return Ok(None);
    }
    let mut walk = repo.revwalk().map_err(g)?;
    walk.push(head.id()).map_err(g)?;
    if let Some(t) = tracking {
        let _ = walk.hide(t);
    }
    let mut commits = 0u64;
    let mut oldest = head.time().seconds();
    for id in walk.take(10_000).flatten() {
        commits += 1;
        if let Ok(c) = repo.find_commit(id) {
            oldest = oldest.min(c.time().seconds());
        }
    }
    let age = chrono::Utc::now().timestamp().saturating_sub(oldest).max(0);
    Ok(Some(Lag {
        head: head.id(),
        commits,
        age: u64::try_from(age).unwrap_or(0),
        branch: remote.label(),
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    const BASE: &str = "$ORIGIN example.com.\n$TTL 300\n\
        @ IN SOA ns1 hostmaster 1 3600 900 604800 300\n@ IN NS ns1\n\
        ns1 IN A 192.0.2.1\nwww IN A 192.0.2.10\nold IN A 192.0.2.20\n";

    fn origin() -> Name {
        Name::from_ascii("example.com.").expect("name")
    }

    fn zone_of(text: &str) -> Zone {
        let doc =
            crate::zonefile::Document::parse("z", text, &origin(), &SkipIncludes).expect("parses");
        let records = doc
            .records()
            .map(|(rr, loc)| (rr.clone(), loc.clone()))
            .collect();
        Zone::build(origin(), records).expect("valid").0
    }

    fn target(base: &str, theirs: &str) -> BTreeMap<(Name, RecordType), Vec<Rr>> {
        changed_rrsets(
            &rrsets("z", base, &origin()).expect("base"),
            &rrsets("z", theirs, &origin()).expect("theirs"),
        )
    }

    fn lines(rrs: &[Rr]) -> Vec<String> {
        let mut v: Vec<String> = rrs.iter().map(crate::store::rr_line).collect();
        v.sort();
        v
    }

    #[test]
    fn the_remotes_changes_apply_and_ours_stay() {
        // The remote moved www, removed old, added mail and bumped the
        // serial (ignored: the server owns it).
        let theirs = BASE
            .replace("www IN A 192.0.2.10", "www IN A 192.0.2.11")
            .replace("old IN A 192.0.2.20\n", "mail IN A 192.0.2.25\n")
            .replace("hostmaster 1 ", "hostmaster 7 ");
        // The server gained an UPDATE's TXT since the base.
        let ours = format!("{BASE}_acme-challenge 60 IN TXT \"tok\"\n");
        let t = target(BASE, &theirs);
        assert_eq!(t.len(), 3, "www, old and mail: {t:?}");
        let change = changes_to(&zone_of(&ours), &t);
        assert_eq!(
            lines(&change.add),
            [
                "mail.example.com. 300 IN A 192.0.2.25",
                "www.example.com. 300 IN A 192.0.2.11"
            ]
        );
        assert_eq!(
            lines(&change.remove),
            [
                "old.example.com. 300 IN A 192.0.2.20",
                "www.example.com. 300 IN A 192.0.2.10"
            ]
        );
        assert!(change.serial.is_none());
        // Nothing of ours the remote did not touch is replaced.
        let base = rrsets("z", BASE, &origin()).expect("base");
        assert!(replaced_values(&zone_of(&ours), &base, &t).is_empty());
    }

    #[test]
    fn an_rrset_changed_on_both_sides_takes_the_remotes_and_lists_ours() {
        let theirs = BASE.replace("www IN A 192.0.2.10", "www IN A 192.0.2.11");
        let ours = BASE.replace(
            "www IN A 192.0.2.10",
            "www IN A 192.0.2.10\nwww IN A 192.0.2.99",
        );
        let base = rrsets("z", BASE, &origin()).expect("base");
        let t = target(BASE, &theirs);
        let zone = zone_of(&ours);
        assert_eq!(
            replaced_values(&zone, &base, &t),
            ["www.example.com. 300 IN A 192.0.2.99"]
        );
        let change = changes_to(&zone, &t);
        assert_eq!(lines(&change.add), ["www.example.com. 300 IN A 192.0.2.11"]);
        assert_eq!(change.remove.len(), 2);
    }

    #[test]
    fn a_ttl_change_is_a_change_and_reapplying_is_a_no_op() {
        let theirs = BASE.replace("www IN A", "www 60 IN A");
        let t = target(BASE, &theirs);
        assert_eq!(t.len(), 1);
        let change = changes_to(&zone_of(BASE), &t);
        assert_eq!(lines(&change.add), ["www.example.com. 60 IN A 192.0.2.10"]);
        // Pulled once already (a pull whose merge commit git refused):
        // the same pull again changes nothing.
        assert!(changes_to(&zone_of(&theirs), &t).is_empty());
    }

    #[test]
    fn soa_fields_and_include_lines_are_said_not_carried() {
        let plan = |theirs: String| ZonePlan {
            origin: origin(),
            rel: PathBuf::from("example.com.zone"),
            base: Some(BASE.to_owned()),
            theirs,
        };
        // A serial alone is the server's business: nothing to say.
        let p = parse_zone(
            "o/m",
            "abc",
            &plan(BASE.replace("hostmaster 1 ", "hostmaster 9 ")),
        )
        .expect("parses");
        assert!(p.not_carried.is_empty(), "{:?}", p.not_carried);
        assert!(p.target.is_empty());
        let p = parse_zone(
            "o/m",
            "abc",
            &plan(BASE.replace(" 3600 900 ", " 7200 900 ")),
        )
        .expect("parses");
        assert_eq!(p.not_carried.len(), 1);
        assert!(p.not_carried[0].contains("SOA"), "{:?}", p.not_carried);
        let p =
            parse_zone("o/m", "abc", &plan(format!("{BASE}$INCLUDE extra.inc\n"))).expect("parses");
        assert_eq!(p.not_carried.len(), 1);
        assert!(p.not_carried[0].contains("$INCLUDE"), "{:?}", p.not_carried);
    }

    #[test]
    fn paths_outside_the_tree_or_into_git_are_refused() {
        for bad in [
            ".git/hooks/post-commit",
            "a/.GIT/config",
            "../x",
            "/etc/passwd",
            "",
        ] {
            assert!(!safe_path(Path::new(bad)), "{bad}");
        }
        for good in ["example.com.zone", "sub/dir/x.zone", ".gitignore", "git/x"] {
            assert!(safe_path(Path::new(good)), "{good}");
        }
    }

    #[test]
    fn a_broken_remote_file_names_its_line() {
        let theirs = format!("{BASE}bad IN A 300.1.1.1\n");
        let err = rrsets("example.com.zone", &theirs, &origin()).expect_err("broken");
        assert!(err.starts_with("example.com.zone:8:"), "{err}");
    }

    /// A repository with `files` committed on HEAD; returns it and the commit.
    fn commit(repo: &Repository, files: &[(&str, &str)], parents: &[Oid]) -> Oid {
        let mut tb = repo.treebuilder(None).expect("treebuilder");
        for (name, text) in files {
            let blob = repo.blob(text.as_bytes()).expect("blob");
            tb.insert(name, blob, i32::from(FileMode::Blob))
                .expect("insert");
        }
        let tree = repo.find_tree(tb.write().expect("tree")).expect("tree");
        let sig = git2::Signature::now("t", "t@x").expect("sig");
        let parents: Vec<git2::Commit<'_>> = parents
            .iter()
            .map(|p| repo.find_commit(*p).expect("parent"))
            .collect();
        let refs: Vec<&git2::Commit<'_>> = parents.iter().collect();
        repo.commit(None, &sig, &sig, "c", &tree, &refs)
            .expect("commit")
    }

    #[test]
    fn the_plan_splits_zones_from_other_files_and_keeps_ours() {
        let dir = tempfile::tempdir().expect("tempdir");
        let repo = Repository::init(dir.path()).expect("init");
        let base = commit(
            &repo,
            &[("example.com.zone", BASE), ("README", "a\nb\nc\n")],
            &[],
        );
        let ours_text = BASE.replace("ns1 IN A", "ns1 60 IN A");
        let ours = commit(
            &repo,
            &[
                ("example.com.zone", &ours_text),
                ("README", "a\nb\nc\n"),
                ("mine", "x\n"),
            ],
            &[base],
        );
        let theirs_text = BASE.replace("www IN A 192.0.2.10", "www IN A 192.0.2.11");
        let theirs = commit(
            &repo,
            &[
                ("example.com.zone", &theirs_text),
                ("README", "a\nB\nc\n"),
                (
                    "example.net.zone",
                    &BASE.replace("example.com", "example.net"),
                ),
                ("broken.example.zone", "new"),
            ],
            &[base],
        );
        repo.reference("refs/heads/main", ours, true, "t")
            .expect("ref");
        repo.set_head("refs/heads/main").expect("head");
        let zone_file = dir
            .path()
            .canonicalize()
            .expect("c")
            .join("example.com.zone");
        std::fs::write(&zone_file, &ours_text).expect("write");
        let zones = HashMap::from([(zone_file, origin())]);
        let plan = plan(dir.path(), theirs, (|| zones.clone(), None), "origin/main")
            .expect("plan")
            .expect("something to merge");
        // A new zone file must parse, as a changed one must.
        assert_eq!(plan.failed.len(), 1, "{:?}", plan.failed);
        assert!(
            plan.failed[0].contains("broken.example.zone:1:"),
            "{:?}",
            plan.failed
        );
        assert_eq!(plan.zones.len(), 1);
        assert_eq!(plan.zones[0].base.as_deref(), Some(BASE));
        assert_eq!(plan.zones[0].theirs, theirs_text);
        let mut files: Vec<String> = plan
            .files
            .iter()
            .map(|(p, _)| p.display().to_string())
            .collect();
        files.sort();
        // `mine` is ours alone (not in the diff); the README and the new
        // zone file are the remote's.
        assert_eq!(files, ["README", "example.net.zone"]);
        // Pulled already: nothing to do.
        assert!(plan_is_none(dir.path(), ours, &zones));
    }

    fn plan_is_none(dir: &Path, theirs: Oid, zones: &HashMap<PathBuf, Name>) -> bool {
        plan(dir, theirs, (|| zones.clone(), None), "origin/main")
            .expect("plan")
            .is_none()
    }
}
