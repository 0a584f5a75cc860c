//! Edits made outside zonewright (a person's editor, `cp`, a deploy
//! script, a `git checkout`) recorded in git as `external change` commits,
//! by the configured committer, through the committer thread like every
//! write: the committer is the one place that records to git.
//!
//! Two moments find them: start-up ([`commit_at_start`]: the zones whose
//! files differ from HEAD, found by the store against HEAD's tree read
//! once, so edits made while the server was down, and files a crash left
//! uncommitted, are recorded before the first write), and each reload
//! ([`commit_on_reload`]: the zones it loaded). Each job records exactly
//! the text the loader read, queued at the place in the commit order the
//! reload took when it published the edit (`ReloadReport::ticket`): the
//! history then has the writes published before the edit, the edit, and
//! the writes made on top of it, however late the reload's thread sends
//! its jobs (see `committer`'s module doc). A file that already
//! matches HEAD makes no commit (the committer finds the tree unchanged)
//! but brings the index up to date for it.

use tracing::{debug, info, warn};

use super::committer::{Committer, Job, Outcome, Paths, Pending, Ticket};
use crate::git::PathChange;
use crate::loader::Loaded;
use crate::rr::Name;
use crate::served::{ReloadReport, State};
use crate::zonefile::stored::Stored;

/// Queues an `external change` job for each zone `report` loaded, so an
/// operator's edit becomes one step of the history and IXFR can serve it.
/// Call it right after [`State::reload`], on the same blocking thread,
/// when `[git] commit_external` is on. Returns the jobs' outcomes, to wait
/// for. Without a store serving (no committer registered in the state),
/// nothing can record them: a WARN, and nothing is committed.
pub fn commit_on_reload(state: &State, report: &mut ReloadReport) -> Vec<Pending> {
    // Given up on return, once the jobs are queued at its place.
    let ticket = report.ticket.take();
    if report.documents.is_empty() {
        return Vec::new();
    }
    let Some(committer) = state.committer() else {
        warn!("no store is running: the zones reloaded are not committed to git");
        return Vec::new();
    };
    let serial_of = |zone: &Name| {
        report
            .loaded
            .iter()
            .find(|(n, _)| n == zone)
            .map_or(0, |(_, s)| *s)
    };
    let zones = report
        .documents
        .iter()
        .map(|(zone, doc)| (zone.clone(), serial_of(zone), doc.clone()))
        .collect();
    submit(
        state,
        committer,
        ticket.as_ref(),
        zones,
        "found by a reload",
    )
    .into_iter()
    .map(|(_, p)| p)
    .collect()
}

/// Records the zones found changed at start-up (`found`: each with the
/// version served, which differs from HEAD) and returns how many were
/// committed. Blocking; at start-up, before the first write.
pub fn commit_at_start(state: &State, committer: &Committer, found: Vec<(Name, Loaded)>) -> usize {
    let zones = found
        .into_iter()
        .map(|(zone, good)| {
            let serial = good.zone.serial();
            (zone, serial, good.document)
        })
        .collect();
    let jobs = submit(state, committer, None, zones, "found at start-up");
    committer.barrier();
    let mut committed = 0;
    for (zone, pending) in jobs {
        // A failure was logged by the committer, naming the file.
        if let Some(Outcome::Committed(Some(id))) = pending.outcome() {
            committed += 1;
            debug!(zone = %zone, commit = %id, "committed an external change");
        }
    }
    committed
}

/// Queues the commits of `zones` (each with its serial and the version
/// read) as external changes. One edited with `zonewright edit` is
/// committed on its own, as the person it names; the others in one commit
/// by the server (thousands of zones changed at once, by a first start on
/// an uncommitted folder or a script run over every file, make one
/// commit, not one each), or, when that fails or only one zone changed,
/// each as its own `external change`, all at `at`'s place in the commit
/// order. `what` says, in the message and the log, how they were found.
fn submit(
    state: &State,
    committer: &Committer,
    at: Option<&Ticket>,
    zones: Vec<(Name, u32, Stored)>,
    what: &str,
) -> Vec<(Name, Pending)> {
    let zones_dir = &state.config().zones_dir;
    let mut jobs: Vec<(Name, Pending)> = Vec::new();
    let mut together: Vec<(Name, u32, Stored)> = Vec::new();
    for (zone, serial, doc) in zones {
        match super::offline::person_for(zones_dir, &zone, serial, doc.main_text()) {
            Some(person) => {
                let job = Job::external(&zone, serial, &doc).by(Some(person));
                jobs.push((zone, committer.submit_at(at, job)));
            }
            None => together.push((zone, serial, doc)),
        }
    }
    if together.len() > 1 {
        // A file two zones read (one includes the other's) once: libgit2
        // refuses an update naming a path twice.
        let mut seen = std::collections::HashSet::new();
        let files = together
            .iter()
            .flat_map(|(zone, serial, doc)| Job::external(zone, *serial, doc).files)
            .filter(|f| seen.insert(f.path.clone()))
            .collect();
        let listed: Vec<(&Name, u32)> = together.iter().map(|(z, s, _)| (z, *s)).collect();
        let names = together.iter().map(|(z, _, _)| z.clone()).collect();
        match committer.commit_found_at(at, names, files, found_message(&listed, what)) {
            Ok(id) => {
                let n = together.len();
                if let Some(id) = &id {
                    info!(zones = n, commit = %id, "committed the zone files {what}");
                }
                let outcome = Outcome::Committed(id);
                for (zone, _, _) in together.drain(..) {
                    jobs.push((zone, Pending::settled(outcome.clone())));
                }
            }
            Err(e) => warn!(
                zones = together.len(),
                "cannot commit the zone files {what} in one commit ({e}); committing each on \
                 its own"
            ),
        }
    }
    for (zone, serial, doc) in together {
        let job = Job::external(&zone, serial, &doc);
        jobs.push((zone, committer.submit_at(at, job)));
    }
    jobs
}

/// What [`Committer::commit_paths`] takes for the zone files `report`
/// found deleted, renamed or turned into links. `None` when there are
/// none.
pub fn path_changes(report: &ReloadReport, what: &str) -> Option<Paths> {
    if report.gone_files.is_empty() && report.links.is_empty() {
        return None;
    }
    let listed = report
        .gone_files
        .iter()
        .map(|(zone, file)| (zone, file, PathChange::Gone))
        .chain(
            report
                .links
                .iter()
                .map(|(zone, link)| (zone, link, PathChange::Link)),
        );
    let (mut zones, mut changes, mut owners) = (Vec::new(), Vec::new(), Vec::new());
    for (zone, file, kind) in listed {
        changes.push((file.clone(), kind));
        owners.push(zone.clone());
        zones.push(zone.clone());
    }
    zones.sort();
    zones.dedup();
    Some(Paths {
        zones,
        changes,
        owners,
        what: what.to_owned(),
    })
}

/// Logs how a [`Committer::commit_paths`] went: the commit at INFO, a
/// failure at WARN (the change stays out of git: `git status` shows it).
pub fn log_paths_outcome(made: Result<Option<String>, String>) {
    match made {
        Ok(Some(id)) => info!(commit = %id, "committed zone files deleted or made symbolic links"),
        Ok(None) => debug!("HEAD already holds the zone files deleted or made symbolic links"),
        Err(e) => warn!(
            "cannot commit zone files deleted or made symbolic links yet ({e}); trying again \
             after the next reload, or at the next start (git status shows them meanwhile)"
        ),
    }
}

/// Zones listed in full in the message of a start-up commit; the rest
/// are counted (the commit's diff has them all).
const LISTED: usize = 1000;

/// The message of the one commit recording `zones` (each with its
/// serial), found as `what` says.
fn found_message(zones: &[(&Name, u32)], what: &str) -> String {
    let mut m = format!("{} zones: external changes {what}\n\n", zones.len());
    for (zone, serial) in zones.iter().take(LISTED) {
        m.push_str(&format!("{zone} serial {serial}\n"));
    }
    if zones.len() > LISTED {
        m.push_str(&format!("... and {} more\n", zones.len() - LISTED));
    }
    m.push_str(&format!(
        "\nActor: {}\nVia: {}\n",
        super::committer::EXTERNAL_ACTOR,
        super::committer::EXTERNAL
    ));
    m
}

#[cfg(test)]
mod tests {
    use std::sync::{Arc, Mutex};

    use super::*;
    use crate::git::{self, Identity};
    use crate::store::committer::Names;

    fn me() -> Identity {
        Identity {
            name: "zonewright".into(),
            email: "zonewright@test".into(),
        }
    }

    fn text(serial: u32, www: &str) -> String {
        format!(
            "$ORIGIN example.com.\n$TTL 300\n\
             @ IN SOA ns1 hostmaster {serial} 7200 3600 1209600 300\n\
             \x20 IN NS ns1\nns1 IN A 192.0.2.1\nwww IN A {www}\n"
        )
    }

    /// A state over a zones directory with one committed zone, and its
    /// committer registered.
    fn fixture() -> (tempfile::TempDir, Arc<State>, Arc<Committer>) {
        let dir = tempfile::tempdir().expect("tempdir");
        let file = dir.path().join("example.com.zone");
        std::fs::write(&file, text(1, "192.0.2.10")).expect("write");
        let repo = git::open_or_init(dir.path(), &me()).expect("init");
        let config = crate::config::Config::new(dir.path().to_path_buf(), Vec::new());
        let state = Arc::new(State::new(Arc::new(config)));
        let repo = Arc::new(Mutex::new(Some(repo)));
        let names = Names {
            committer: me(),
            host: "test".into(),
            on_top: true,
        };
        let path = dir.path().to_path_buf();
        let committer =
            state.committer_or_start(|| Arc::new(Committer::start(repo, path, names, None)));
        state.reload();
        (dir, state, committer)
    }

    /// Every zone served (what the store passes are those differing from
    /// HEAD; one HEAD already holds makes no commit either way).
    fn served(state: &State) -> Vec<(Name, Loaded)> {
        let guard = state.lock();
        guard
            .iter()
            .filter_map(|(n, s)| s.good.as_ref().map(|g| (n.clone(), g.clone())))
            .collect()
    }

    fn head_message(dir: &std::path::Path) -> String {
        let repo = git2::Repository::open(dir).expect("open");
        let head = repo.head().expect("head").peel_to_commit().expect("commit");
        head.message().unwrap_or("").to_owned()
    }

    #[test]
    fn start_up_commits_what_differs_from_head_once() {
        let (dir, state, committer) = fixture();
        assert_eq!(
            commit_at_start(&state, &committer, served(&state)),
            1,
            "the new zone file"
        );
        assert!(head_message(dir.path()).contains("external change, serial 1"));
        assert_eq!(
            commit_at_start(&state, &committer, served(&state)),
            0,
            "already in HEAD"
        );
        // The index too (git status is clean), not only HEAD.
        let repo = git2::Repository::open(dir.path()).expect("open");
        let statuses = repo.statuses(None).expect("status");
        let listed: Vec<String> = statuses
            .iter()
            .filter(|s| !s.status().contains(git2::Status::IGNORED))
            .map(|s| format!("{:?} {}", s.status(), s.path().unwrap_or("?")))
            .collect();
        assert!(listed.is_empty(), "git status lists {listed:?}");
    }

    /// A first start on many uncommitted zones makes one commit, listing
    /// each zone and serial, not one per zone.
    #[test]
    fn zones_found_changed_at_start_up_share_one_commit() {
        let (dir, state, committer) = fixture();
        for z in ["example.org", "example.net"] {
            let t = text(7, "192.0.2.30").replace("example.com.", &format!("{z}."));
            std::fs::write(dir.path().join(format!("{z}.zone")), t).expect("write");
        }
        state.reload();
        assert_eq!(commit_at_start(&state, &committer, served(&state)), 3);
        let repo = git2::Repository::open(dir.path()).expect("open");
        let mut walk = repo.revwalk().expect("walk");
        walk.push_head().expect("head");
        let messages: Vec<String> = walk
            .map(|id| {
                let c = repo.find_commit(id.expect("id")).expect("commit");
                c.message().unwrap_or("").to_owned()
            })
            .collect();
        let found: Vec<&String> = messages
            .iter()
            .filter(|m| m.contains("found at start-up"))
            .collect();
        assert_eq!(found.len(), 1, "{messages:?}");
        let m = found[0];
        assert!(
            m.starts_with("3 zones: external changes found at start-up"),
            "{m}"
        );
        for line in [
            "example.com. serial 1",
            "example.org. serial 7",
            "example.net. serial 7",
            "Via: external",
        ] {
            assert!(m.contains(line), "{line} in {m}");
        }
        let head = repo.head().expect("head").peel_to_tree().expect("tree");
        for f in ["example.com.zone", "example.org.zone", "example.net.zone"] {
            assert!(head.get_path(std::path::Path::new(f)).is_ok(), "{f}");
        }
        assert_eq!(commit_at_start(&state, &committer, served(&state)), 0);
    }

    #[test]
    fn a_reload_commits_an_edit_through_the_committer() {
        let (dir, state, committer) = fixture();
        commit_at_start(&state, &committer, served(&state));
        // An operator's edit, picked up by the reloader.
        let file = dir.path().join("example.com.zone");
        std::fs::write(&file, text(2, "192.0.2.20")).expect("write");
        let mut report = state.reload();
        assert_eq!(report.loaded.len(), 1, "{report:?}");
        let pending = commit_on_reload(&state, &mut report);
        assert_eq!(pending.len(), 1);
        committer.barrier();
        assert!(
            matches!(pending[0].outcome(), Some(Outcome::Committed(Some(_)))),
            "a commit was made"
        );
        assert!(head_message(dir.path()).contains("external change, serial 2"));
        let repo = git2::Repository::open(dir.path()).expect("open");
        assert!(!git::is_dirty(&repo, &file).expect("status"));
    }

    #[test]
    fn without_a_committer_nothing_is_committed() {
        let dir = tempfile::tempdir().expect("tempdir");
        std::fs::write(dir.path().join("example.com.zone"), text(1, "192.0.2.10")).expect("write");
        let config = crate::config::Config::new(dir.path().to_path_buf(), Vec::new());
        let state = State::new(Arc::new(config));
        let mut report = state.reload();
        assert_eq!(report.loaded.len(), 1);
        assert!(commit_on_reload(&state, &mut report).is_empty());
        assert!(
            git2::Repository::open(dir.path()).is_err(),
            "no repository made"
        );
    }
}
