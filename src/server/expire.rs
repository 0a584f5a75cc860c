//! EDGE: the `[acme] expire_after` sweep. The rules are in [`crate::expire`];
//! this runs them on a timer, reads record ages with `git blame`, and
//! removes stale challenges through the one write path ([`Store::write`]),
//! one commit per zone with `Via: expiry`.

use std::collections::BTreeMap;
use std::net::{Ipv4Addr, SocketAddr};
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::watch;
use tracing::{debug, error, info, warn};

use crate::config::Expire;
use crate::expire;
use crate::git::{self, Identity};
use crate::rr::{Name, Rr};
use crate::store::{Store, WriteOutcome, WriteRequest};

use super::State;

/// Sweeps once now, then every `expire.interval`, until `stop` turns true.
pub async fn run(
    state: Arc<State>,
    store: Arc<Store>,
    expire: Expire,
    mut stop: watch::Receiver<bool>,
) {
    info!(
        expire_after = ?expire.after,
        interval = ?expire.interval,
        "stale ACME challenge sweep enabled"
    );
    loop {
        sweep(&state, &store, expire.after).await;
        tokio::select! {
            _ = tokio::time::sleep(expire.interval) => {}
            _ = stop.changed() => {}
        }
        if *stop.borrow() {
            return;
        }
    }
}

/// One sweep over every served zone; returns how many records it removed.
pub async fn sweep(state: &Arc<State>, store: &Store, after: Duration) -> usize {
    let st = state.clone();
    let now = chrono::Utc::now().timestamp();
    let plans = match tokio::task::spawn_blocking(move || plan(&st, after, now)).await {
        Ok(plans) => plans,
        Err(e) => {
            error!(error = %e, "the ACME challenge sweep failed (this is a bug in zonewright)");
            return 0;
        }
    };
    let mut removed = 0;
    for (zone, stale) in plans {
        let wanted = stale.len();
        let req = WriteRequest {
            zone: zone.clone(),
            actor: expire::ACTOR.to_owned(),
            client: SocketAddr::from((Ipv4Addr::UNSPECIFIED, 0)),
            via: expire::VIA,
            compute: Box::new(move |z| Ok(expire::removal(z, &stale))),
        };
        match store.write(req).await {
            Ok(WriteOutcome::Written { new_serial, .. }) => {
                info!(zone = %zone, records = wanted, serial = new_serial,
                    "expired stale ACME challenges");
                removed += wanted;
            }
            Ok(WriteOutcome::Unchanged) => {
                debug!(zone = %zone, "stale ACME challenges were already gone");
            }
            Err(e) => warn!(zone = %zone, error = %e,
                "could not expire stale ACME challenges; the next sweep tries again"),
        }
    }
    removed
}

/// The stale challenge records of each served zone. Blocking (git blame).
fn plan(state: &State, after: Duration, now: i64) -> Vec<(Name, Vec<Rr>)> {
    let snapshot = state.snapshot();
    let delegated = expire::delegated_targets(snapshot.iter().map(|z| &**z));
    let documents: Vec<_> = state
        .lock()
        .iter()
        .filter_map(|(origin, slot)| {
            let doc = slot.good.as_ref()?.document.clone();
            Some((origin.clone(), doc))
        })
        .collect();
    let config = state.config();
    let committer = Identity {
        name: config.git.name.clone(),
        email: config.git.email.clone(),
    };
    let mut repo = None;
    let mut out = Vec::new();
    for (origin, doc) in documents {
        let candidates = expire::candidates(&doc, &delegated);
        if candidates.is_empty() {
            continue;
        }
        let repo = match &repo {
            Some(r) => r,
            None => match git::open_or_init(&config.zones_dir, &committer) {
                Ok(r) => repo.insert(r),
                Err(e) => {
                    warn!(error = %e, "cannot read ACME challenge ages from git");
                    return out;
                }
            },
        };
        // Lines are per file ($INCLUDE): one blame per file.
        let mut by_file: BTreeMap<&str, Vec<(&Rr, u32)>> = BTreeMap::new();
        for (rr, loc) in candidates {
            by_file.entry(&loc.file).or_default().push((rr, loc.line));
        }
        let mut aged = Vec::new();
        for (file, records) in by_file {
            let lines: Vec<u32> = records.iter().map(|&(_, l)| l).collect();
            match git::line_times(repo, Path::new(file), &lines) {
                Ok(Some(times)) => {
                    aged.extend(
                        records
                            .iter()
                            .zip(times)
                            .map(|(&(rr, _), t)| (rr.clone(), t)),
                    );
                }
                Ok(None) => debug!(
                    file,
                    "uncommitted changes: challenge ages are read once they are committed"
                ),
                Err(e) => warn!(file, error = %e, "cannot read ACME challenge ages from git"),
            }
        }
        let stale = expire::stale(&aged, now, after);
        if !stale.is_empty() {
            out.push((origin, stale));
        }
    }
    out
}
