//! Live reload: keep the served zones in step with the zone files.
//!
//! # Design
//!
//! ```text
//!  inotify (notify's recommended watcher) on zones_dir and the folders of
//!  explicit zone files ──► Notify ──► debounce (150 ms) ─┐
//!  stat fallback every reload_interval (default 1 s) ────┼─► spawn_blocking(State::reload)
//!  SIGHUP ───────────────────────────────────────────────┘
//! ```
//!
//! Every trigger runs the same [`State::reload`], which lists the zones,
//! compares each zone's (mtime, size, inode, ctime) of its file and includes with
//! what was last read, and reparses only what changed, off the query path.
//! Events just make that happen sooner; the periodic pass is what makes it
//! correct on file systems without events (NFS, some container mounts) and
//! for changes a watch misses. Folders are watched rather than files, so an
//! editor that saves by writing a new file and renaming it over the old
//! (vim, most IDEs) is seen like any other write. A zone that fails keeps
//! serving its last good version; `State::reload` logs each file:line:col.
//! A reload that changed a zone's serial (not the start-up load, which
//! happens before `run`) NOTIFYs its secondaries (RFC 1996 §3.1).

use std::collections::HashSet;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use notify::{EventKind, RecommendedWatcher, RecursiveMode, Watcher};
use tokio::sync::{Notify, watch};
use tracing::{debug, error, info, warn};

use crate::config::Config;
use crate::notify_out::Notifier;
use crate::rr::Name;
use crate::served::{ReloadReport, State};
use crate::store::Store;

/// Wait after the first event for an editor's burst of writes to finish.
pub const DEBOUNCE: Duration = Duration::from_millis(150);

/// Runs until `stop` changes (or its sender is dropped); tells `notifier`
/// of every serial a reload changed, and hands `store` the edits it must
/// take in (writes they lack, a serial to raise; `ReloadReport::deferred`).
pub async fn run(
    state: Arc<State>,
    store: Option<Arc<Store>>,
    notifier: Option<Notifier>,
    mut stop: watch::Receiver<bool>,
) {
    let wake = Arc::new(Notify::new());
    let events = Arc::new(Mutex::new(Events::default()));
    let _watcher = start_watcher(&state.config(), wake.clone(), events.clone());
    let interval = state.config().server.reload_interval;
    let full = tokio::time::sleep(interval);
    tokio::pin!(full);
    let mut hangup = hangup_signal();
    let mut reloaded_by_signal = false;
    loop {
        // The files events named since the last pass; `None`: look at all.
        let files = tokio::select! {
            _ = wake.notified() => {
                tokio::time::sleep(DEBOUNCE).await;
                take(&events)
            }
            () = &mut full => {
                let _ = take(&events);
                None
            }
            Some(()) = recv_hangup(&mut hangup) => {
                crate::edge::systemd::notify("RELOADING=1");
                info!("SIGHUP: reloading the config and the zones");
                reload_config(&state, notifier.as_ref());
                reloaded_by_signal = true;
                None
            }
            _ = stop.changed() => {
                if let Some(store) = &store {
                    store.rollbacks_at_stop().await;
                }
                return;
            }
        };
        if files.as_ref().is_some_and(HashSet::is_empty) {
            // Only zonewright's own temp and lock files changed.
            continue;
        }
        let st = state.clone();
        let reload = move || {
            let started = std::time::Instant::now();
            // Nothing is logged for a pass that changes nothing: a debug
            // log written into zones_dir would wake the next (it did, every
            // 150 ms, forever). A file no zone reads still makes a pass
            // over every zone: it may be a new zone's file, or one a zone
            // reaches by another path (`sub/../x`, a link).
            let report = files.and_then(|f| st.reload_files(&f));
            let (mut report, took) = match report {
                Some(r) => (r, None),
                None => (st.reload(), Some(started.elapsed())),
            };
            // Edits made outside zonewright become commits, so secondaries
            // can take them by IXFR (the git history is the journal).
            let commits = if st.config().git.commit_external {
                crate::store::external::commit_on_reload(&st, &mut report)
            } else {
                for (zone, serial) in &report.loaded {
                    warn!(
                        zone = %zone, serial,
                        "zone reloaded from a file not committed to git ([git] commit_external \
                         = false): secondaries cannot get this version by IXFR"
                    );
                }
                Vec::new()
            };
            (report, commits, took)
        };
        match tokio::task::spawn_blocking(reload).await {
            Ok((report, commits, took)) => {
                if let Some(took) = took {
                    let now = tokio::time::Instant::now();
                    let later = next_full(interval, took);
                    let at = now
                        .checked_add(later)
                        .unwrap_or(now + Duration::from_secs(3600));
                    full.as_mut().reset(at);
                }
                // Committed before the NOTIFY, so a secondary asking for
                // the new serial gets it by IXFR (bounded by the commit
                // timeout; a slow commit goes on in the background).
                let limit = state.config().git.commit_timeout;
                for c in commits {
                    c.wait(limit).await;
                }
                log_report(&report);
                if let Some(n) = &notifier {
                    notify_changed(&state, &report, n);
                }
                if let Some(store) = &store {
                    store.record_paths(&report).await;
                    take_in(store, &report.deferred, &stop).await;
                    store.retry_rollbacks().await;
                }
            }
            Err(e) => error!("reload failed: {e}"),
        }
        if std::mem::take(&mut reloaded_by_signal) {
            let zones = state.snapshot().len();
            crate::edge::systemd::notify(&format!("READY=1\nSTATUS=serving {zones} zones"));
        }
    }
}

/// SIGHUP: reads the config file again. A valid one is put in effect at
/// once (keys, grants, tokens, zones, notify targets, confirm; see
/// [`crate::config::live_part`]), with a WARN naming each changed setting
/// that needs a restart. An invalid one changes nothing: each problem is
/// logged as `file:line: key: message` and the running config stays.
fn reload_config(state: &State, notifier: Option<&Notifier>) {
    let running = state.config();
    let new = match Config::load(&running.path) {
        Ok(c) => c,
        Err(e) => {
            for line in e.to_string().lines() {
                error!("config not reloaded: {line}");
            }
            error!(
                "config not reloaded: {} has problems; the running config stays in effect",
                running.path.display()
            );
            state.metrics().config_reload(false);
            return;
        }
    };
    let (effective, restart) = crate::config::live_part(&running, new);
    for w in &effective.warnings {
        warn!("{w}");
    }
    for name in &restart {
        warn!(
            "config reload: {name} changed in {}; it takes effect at the next restart \
             (the running value stays until then)",
            running.path.display()
        );
    }
    state.metrics().config_reload(true);
    let (keys, zones) = (effective.keys.len(), effective.zones.len());
    let effective = Arc::new(effective);
    state.set_config(effective.clone());
    if let Some(n) = notifier {
        n.reconfigure(&effective);
        // New targets learn the current serials (and are tracked from now).
        n.announce(&state.snapshot());
    }
    info!(
        "config reloaded from {}: {keys} key(s), {zones} [[zone]] entr{}",
        running.path.display(),
        if zones == 1 { "y" } else { "ies" }
    );
}

/// The wait before the next pass over every zone: `reload_interval`, or
/// [`FULL_PASS_SHARE`] times as long as the last pass took when that is
/// longer, so the pass never takes more than 5% of a core (50,000 zones:
/// about 0.5 s a pass, so one every 10 s; events still reload an edited
/// zone at once).
fn next_full(interval: Duration, took: Duration) -> Duration {
    const LONGEST: Duration = Duration::from_secs(3600);
    interval.max(took.saturating_mul(FULL_PASS_SHARE).min(LONGEST))
}

/// See [`next_full`].
const FULL_PASS_SHARE: u32 = 20;

/// Edits the reload left to the store, taken in one zone at a time (each
/// through its zone's turn, after the writes queued before it).
/// Stops early on shutdown: the rest are taken in at the next start.
async fn take_in(store: &Store, zones: &[Name], stop: &watch::Receiver<bool>) {
    for zone in zones {
        if *stop.borrow() {
            return;
        }
        // The store logged why (once per version of the file).
        if let Err(e) = store.take_in(zone).await {
            debug!(zone = %zone, "the edited zone file was not taken in: {e}");
        }
    }
}

/// The files named by events since the last pass (`all`: too many to
/// list, or one the watcher could not name).
#[derive(Default)]
struct Events {
    files: HashSet<PathBuf>,
    all: bool,
}

/// Events named at most this many files between passes; beyond, a pass
/// looks at every zone.
const MAX_EVENT_FILES: usize = 1024;

impl Events {
    /// Notes the files `event` names; `false` when it names only our own
    /// temp and lock files (no pass needs to run for it).
    fn note(&mut self, event: &notify::Event) -> bool {
        if event.paths.is_empty() {
            self.all = true;
            return true;
        }
        let mut noted = false;
        for p in &event.paths {
            if own_file(p) {
                continue;
            }
            noted = true;
            if self.files.len() >= MAX_EVENT_FILES {
                self.all = true;
                return true;
            }
            self.files.insert(p.clone());
        }
        noted
    }
}

/// The files named since the last pass, or `None` for a pass over every
/// zone; resets.
fn take(events: &Mutex<Events>) -> Option<HashSet<PathBuf>> {
    let mut e = events.lock().unwrap_or_else(|p| p.into_inner());
    let taken = std::mem::take(&mut *e);
    (!taken.all).then_some(taken.files)
}

/// A temp file the store writes a zone file through (`.zonewright-*.tmp`,
/// renamed over the zone file: that rename names the zone file too) or a
/// zone's lock file (`.NAME.lock`): no zone reads them.
fn own_file(path: &std::path::Path) -> bool {
    path.file_name().and_then(|n| n.to_str()).is_some_and(|n| {
        (n.starts_with(".zonewright-") && n.ends_with(".tmp"))
            || (n.starts_with('.') && n.ends_with(".lock"))
    })
}

/// RFC 1996 §3.1: NOTIFY for each zone whose served serial the reload
/// changed (a file edited by hand, a `git pull`); a reload that reparsed a
/// file but kept its serial sends nothing.
fn notify_changed(state: &State, report: &ReloadReport, notifier: &Notifier) {
    let zones = state.snapshot();
    for (name, serial) in &report.loaded {
        if report.previous.get(name) == Some(serial) {
            continue;
        }
        if let Some(zone) = zones.get(name).filter(|z| z.serial() == *serial) {
            notifier.zone_changed(name, *serial, zone.soa());
        }
    }
}

fn log_report(report: &ReloadReport) {
    if report.changed() {
        info!(
            loaded = report.loaded.len(),
            removed = report.removed.len(),
            failed = report.failed.len(),
            "zones reloaded"
        );
    }
}

/// The folders to watch: zones_dir and those of explicit zone files.
fn watch_dirs(config: &Config) -> Vec<PathBuf> {
    let mut dirs = vec![config.zones_dir.clone()];
    for z in &config.zones {
        if let Some(parent) = z.file.as_deref().and_then(|f| f.parent())
            && !dirs.iter().any(|d| d == parent)
        {
            dirs.push(parent.to_path_buf());
        }
    }
    dirs
}

/// Starts inotify on the zone folders; `None` (with a warning) when the
/// platform or the folder does not allow it: the stat pass still runs.
fn start_watcher(
    config: &Config,
    wake: Arc<Notify>,
    events: Arc<Mutex<Events>>,
) -> Option<RecommendedWatcher> {
    // Each write of ours raises half a dozen events on its temp and lock
    // files; waking the reload task for those (to find nothing to do) cost
    // a wake-up each, so only events naming other files wake it.
    let handler = move |event: notify::Result<notify::Event>| {
        let wanted = match event {
            Ok(e) if matches!(e.kind, EventKind::Access(_)) => false,
            Ok(e) => events.lock().unwrap_or_else(|p| p.into_inner()).note(&e),
            Err(e) => {
                debug!("file watch: {e}");
                events.lock().unwrap_or_else(|p| p.into_inner()).all = true;
                true
            }
        };
        if wanted {
            wake.notify_one();
        }
    };
    let mut watcher = match notify::recommended_watcher(handler) {
        Ok(w) => w,
        Err(e) => {
            warn!(
                "file watching unavailable ({e}); checking zone files every {:?}",
                config.server.reload_interval
            );
            return None;
        }
    };
    for dir in watch_dirs(config) {
        if let Err(e) = watcher.watch(&dir, RecursiveMode::NonRecursive) {
            warn!(
                "cannot watch {} ({e}); checking it every {:?}",
                dir.display(),
                config.server.reload_interval
            );
        }
    }
    Some(watcher)
}

#[cfg(unix)]
type Hangup = Option<tokio::signal::unix::Signal>;
#[cfg(not(unix))]
type Hangup = Option<()>;

#[cfg(unix)]
fn hangup_signal() -> Hangup {
    use tokio::signal::unix::{SignalKind, signal};
    signal(SignalKind::hangup()).ok()
}

#[cfg(not(unix))]
fn hangup_signal() -> Hangup {
    None
}

/// Waits for SIGHUP; pends forever where there is none.
async fn recv_hangup(hangup: &mut Hangup) -> Option<()> {
    #[cfg(unix)]
    if let Some(sig) = hangup {
        return sig.recv().await;
    }
    let _ = hangup;
    std::future::pending().await
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event(paths: &[&str]) -> notify::Event {
        let mut e = notify::Event::new(EventKind::Modify(notify::event::ModifyKind::Any));
        for p in paths {
            e = e.add_path(PathBuf::from(p));
        }
        e
    }

    /// The full pass waits `reload_interval`, or 20 times its own last
    /// duration when that is longer (at most 5% of a core).
    #[test]
    fn the_full_pass_takes_at_most_a_twentieth_of_the_time() {
        let second = Duration::from_secs(1);
        assert_eq!(next_full(second, Duration::from_millis(10)), second);
        assert_eq!(
            next_full(second, Duration::from_millis(550)),
            Duration::from_secs(11)
        );
        assert_eq!(next_full(second, Duration::MAX), Duration::from_secs(3600));
    }

    /// The store's own temp and lock files wake nobody's zone; a zone
    /// file does; an event without a path, or too many files, means a
    /// pass over every zone.
    #[test]
    fn events_name_the_files_to_reload_and_bound_them() {
        let events = Mutex::new(Events::default());
        let own = events.lock().expect("lock").note(&event(&[
            "/z/.zonewright-abc123.tmp",
            "/z/.example.com.zone.lock",
        ]));
        assert!(!own, "our own files wake no pass");
        assert_eq!(take(&events), Some(HashSet::new()));
        let zone = events
            .lock()
            .expect("lock")
            .note(&event(&["/z/example.com.zone"]));
        assert!(zone);
        assert_eq!(
            take(&events),
            Some(HashSet::from([PathBuf::from("/z/example.com.zone")]))
        );
        assert!(events.lock().expect("lock").note(&event(&[])));
        assert_eq!(take(&events), None);
        for i in 0..=MAX_EVENT_FILES {
            let p = format!("/z/z{i}.test.zone");
            assert!(events.lock().expect("lock").note(&event(&[p.as_str()])));
        }
        let e = events.lock().expect("lock");
        assert!(e.all && e.files.len() <= MAX_EVENT_FILES);
    }
}
