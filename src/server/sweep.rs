//! EDGE: the `[acme] expire_after` sweep. The rules are in [`crate::expire`];
//! this runs them on a timer, reads who wrote each candidate line and when
//! with `git blame`, answers the rules' grant questions from the config's
//! keys and REST tokens, and
//! removes stale challenges through the one write path ([`Store::write`]),
//! one commit per zone with `Via: expiry`.

use std::collections::BTreeMap;
use std::net::{Ipv4Addr, SocketAddr};
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::watch;
use tracing::{debug, error, info, warn};

use crate::config::{Config, Expire};
use crate::expire::{self, Line, MayWrite, Writer, Written};
use crate::git::{self, Identity};
use crate::rr::{Location, Name, RecordType, Rr};
use crate::store::{Store, WriteOutcome, WriteRequest};

use crate::served::State;

/// How often the sweep task looks at the config while the sweep is off or
/// between sweeps (a reload may turn it on, off, or change its interval).
const RECHECK: Duration = Duration::from_secs(5);

/// While `[acme] expire_after` is set (in the config in effect: a reload
/// turns it on, off, or changes it), sweeps at once and then every
/// `expire.interval`, until `stop` turns true.
pub async fn run(state: Arc<State>, store: Arc<Store>, mut stop: watch::Receiver<bool>) {
    let mut last: Option<Expire> = None;
    let mut next = tokio::time::Instant::now();
    loop {
        let now_expire = state.config().acme.expire;
        if now_expire != last {
            match now_expire {
                Some(e) => info!(
                    expire_after = ?e.after, interval = ?e.interval,
                    "stale ACME challenge sweep enabled"
                ),
                None if last.is_some() => info!("stale ACME challenge sweep disabled"),
                None => {}
            }
            last = now_expire;
            next = tokio::time::Instant::now();
        }
        if let Some(e) = last
            && tokio::time::Instant::now() >= next
        {
            sweep(&state, &store, e.after).await;
            next = tokio::time::Instant::now() + e.interval;
        }
        // With the sweep off, `next` is in the past: waking at it would
        // spin this task (a core's worth of polling).
        let recheck = tokio::time::Instant::now() + RECHECK;
        let wake = if last.is_some() {
            next.min(recheck)
        } else {
            recheck
        };
        tokio::select! {
            _ = tokio::time::sleep_until(wake) => {}
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

/// The grants of the configured keys and REST tokens, as the sweep asks
/// them (see [`expire::stale`]).
struct ConfigGrants<'c>(&'c Config);

impl MayWrite for ConfigGrants<'_> {
    fn may_write(&self, writer: &Writer, zone: &Name, owner: &Name, rtype: RecordType) -> bool {
        match writer {
            // The commit's author is the key name without its final dot
            // (`KeyEntry::actor`).
            Writer::Key(actor) => self.0.keys.iter().any(|k| {
                k.key
                    .name
                    .to_ascii()
                    .trim_end_matches('.')
                    .eq_ignore_ascii_case(actor)
                    && k.grants.allows(zone, owner, rtype)
            }),
            // The REST API writes A, AAAA and TXT at service names.
            Writer::Token(name) => {
                matches!(rtype, RecordType::A | RecordType::AAAA | RecordType::TXT)
                    && self.0.rest.as_ref().is_some_and(|r| {
                        r.tokens
                            .iter()
                            .any(|t| &t.name == name && t.may_write(zone, owner))
                    })
            }
            Writer::Other => false,
        }
    }
}

/// The stale challenge records of each served zone. Blocking (git blame).
fn plan(state: &State, after: Duration, now: i64) -> Vec<(Name, Vec<Rr>)> {
    let documents: Vec<_> = state
        .lock()
        .iter()
        .filter_map(|(origin, slot)| {
            let doc = slot.good.as_ref()?.document.clone();
            Some((origin.clone(), doc))
        })
        .collect::<Vec<_>>()
        .into_iter()
        // A small zone keeps only its text: parsed again here, outside
        // the lock.
        .filter_map(|(origin, doc)| Some((origin, doc.get().ok()?)))
        .collect();
    let cnames: Vec<_> = documents
        .iter()
        .flat_map(|(origin, doc)| {
            expire::challenge_cnames(doc)
                .into_iter()
                .map(move |(rr, loc)| (origin, rr, loc))
        })
        .collect();
    let targets = expire::delegated_targets(cnames.iter().map(|&(_, rr, _)| rr));
    let txt: Vec<_> = documents
        .iter()
        .flat_map(|(origin, doc)| {
            expire::candidates(doc, &targets)
                .into_iter()
                .map(move |(rr, loc)| (origin, rr, loc))
        })
        .collect();
    if txt.is_empty() {
        return Vec::new();
    }
    let config = state.config();
    let committer = Identity {
        name: config.git.name.clone(),
        email: config.git.email.clone(),
    };
    let repo = match git::open_or_init(&config.zones_dir, &committer) {
        Ok(r) => r,
        Err(e) => {
            warn!(error = %e, "cannot read ACME challenge ages from git");
            return Vec::new();
        }
    };
    let txt = written(&repo, &txt);
    let cnames = written(&repo, &cnames);
    let mut out: BTreeMap<Name, Vec<Rr>> = BTreeMap::new();
    for (zone, rr) in expire::stale(&txt, &cnames, &ConfigGrants(&config), now, after) {
        out.entry(zone).or_default().push(rr);
    }
    out.into_iter().collect()
}

/// Each record with the commit that last wrote its line (one blame per
/// file: lines are per file, `$INCLUDE`). A file with uncommitted changes
/// or that git cannot read gives its records no commit.
fn written<'a>(repo: &git2::Repository, records: &'a [(&'a Name, &'a Rr, Location)]) -> Vec<Line> {
    let mut by_file: BTreeMap<&str, Vec<(&Name, &Rr, u32)>> = BTreeMap::new();
    for (zone, rr, loc) in records {
        let (zone, rr): (&Name, &Rr) = (zone, rr);
        by_file
            .entry(&loc.file)
            .or_default()
            .push((zone, rr, loc.line));
    }
    let mut out = Vec::new();
    for (file, records) in by_file {
        let lines: Vec<u32> = records.iter().map(|&(_, _, l)| l).collect();
        let commits = match git::line_commits(repo, Path::new(file), &lines) {
            Ok(Some(c)) => c,
            Ok(None) => {
                debug!(
                    file,
                    "uncommitted changes: challenge ages are read once they are committed"
                );
                continue;
            }
            Err(e) => {
                warn!(file, error = %e, "cannot read ACME challenge ages from git");
                continue;
            }
        };
        out.extend(records.iter().zip(commits).map(|(&(zone, rr, _), c)| Line {
            zone: zone.clone(),
            rr: rr.clone(),
            written: c.map(|c| Written {
                time: c.time,
                by: Writer::of_line(&c.author, &c.message, &crate::store::rr_line(rr)),
            }),
        }));
    }
    out
}
