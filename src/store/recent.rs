//! The store's recent writes, per zone, so an edit saved over the file by
//! someone who read it before those writes does not undo them.
//!
//! # Design
//!
//! ```text
//!  every batch written ─► record(zone, what it changed, who, serial)
//!  every edit taken in ─► record(its own change, then what was re-applied)
//!  first edit of a zone found after a (re)start ─► seed: the changes
//!                         committed within the window before the start,
//!                         read back from git (the file's history)
//!                         (kept for [git] rebase_window, in order)
//!  the store finds the file changed on disk (its recheck, or the reloader
//!  deferring to it) ─► plan(zone, served version, saved version)
//!      missing: every acknowledged write of the window re-applied in
//!            order on the saved records: an add the file lacks, a removal
//!            it still has (the edits taken in are in the order, never
//!            re-applied themselves)
//! ```
//!
//! The rule: an acknowledged write made within the window wins over a
//! saved file that lacks it, whatever version the edit started from (a
//! record a key wrote and a person deleted by hand comes back). To delete
//! such a record, use an UPDATE, or wait out the window. People's edits
//! are not re-applied: a save on an older version, a `git checkout` or a
//! `git revert` of a hand edit, is taken as the person's decision (the
//! content cannot tell an accident from a revert).

use std::collections::{HashMap, VecDeque};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use tracing::warn;

use crate::rr::{ChangeSet, Name, Rr};
use crate::zone::Zone;

/// At most this many writes are kept per zone, whatever the window.
const MAX_ENTRIES: usize = 10_000;

/// At most this many writes are kept over all zones, whatever the window:
/// an entry holds its records (about 0.5 KB for an ACME challenge), so a
/// stream of 1,000 writes a second would otherwise keep 450 MB for a
/// 15-minute window. Past it the oldest go first, a tenth at a time, and
/// a WARN says how far back the writes are still kept.
const MAX_TOTAL: usize = 100_000;

/// Every this many writes noted, every zone's writes older than the window
/// are dropped (a zone no longer written to keeps none for long).
const SWEEP_EVERY: usize = 4096;

/// How often the WARN about [`MAX_TOTAL`] may be logged.
const WARN_EVERY: Duration = Duration::from_secs(3600);

/// The writes kept, per zone, oldest first, and their count.
#[derive(Default)]
struct Logs {
    zones: HashMap<Name, VecDeque<Entry>>,
    /// Entries in `zones`.
    total: usize,
    /// Writes noted since the last sweep.
    since_sweep: usize,
    /// When the last WARN about [`MAX_TOTAL`] was logged.
    warned: Option<Instant>,
}

impl Logs {
    /// Drops `zone`'s writes older than `window` at `now`, and its oldest
    /// past [`MAX_ENTRIES`].
    fn prune(&mut self, zone: &Name, window: Duration, now: Instant) {
        let Some(log) = self.zones.get_mut(zone) else {
            return;
        };
        let before = log.len();
        while log.len() > MAX_ENTRIES
            || log
                .front()
                .is_some_and(|e| now.saturating_duration_since(e.at) > window)
        {
            log.pop_front();
        }
        self.total -= before - log.len();
        if log.is_empty() {
            self.zones.remove(zone);
        }
    }

    /// Drops every zone's writes older than `window` at `now`.
    fn sweep(&mut self, window: Duration, now: Instant) {
        let mut dropped = 0;
        self.zones.retain(|_, log| {
            while log
                .front()
                .is_some_and(|e| now.saturating_duration_since(e.at) > window)
            {
                log.pop_front();
                dropped += 1;
            }
            !log.is_empty()
        });
        self.total -= dropped;
        self.since_sweep = 0;
    }

    /// Over [`MAX_TOTAL`]: drops the oldest writes of all zones down to
    /// nine tenths of it (one pass over the entries' times, so the cost
    /// is spread over the tenth noted before the next).
    fn bound(&mut self, window: Duration, now: Instant) {
        if self.total <= MAX_TOTAL {
            return;
        }
        let drop = self.total - MAX_TOTAL / 10 * 9;
        let mut times: Vec<Instant> = self.zones.values().flatten().map(|e| e.at).collect();
        let Some(last) = times.len().checked_sub(1) else {
            return;
        };
        // The time of the `drop`-th oldest: everything up to it goes.
        let (_, &mut cutoff, _) = times.select_nth_unstable(drop.saturating_sub(1).min(last));
        let mut dropped = 0;
        self.zones.retain(|_, log| {
            while log.front().is_some_and(|e| e.at <= cutoff) {
                log.pop_front();
                dropped += 1;
            }
            !log.is_empty()
        });
        self.total -= dropped;
        let kept_for = now.saturating_duration_since(cutoff);
        if kept_for < window
            && self
                .warned
                .is_none_or(|w| now.duration_since(w) > WARN_EVERY)
        {
            self.warned = Some(now);
            warn!(
                kept = MAX_TOTAL / 10 * 9,
                "more writes within [git] rebase_window than the server keeps ({MAX_TOTAL}): \
                 only those of the last {} s are re-applied over an edit saved on an older \
                 version of a zone file",
                kept_for.as_secs()
            );
        }
    }
}

/// One batch the store wrote, or one edit it took in.
#[derive(Clone, Debug)]
pub struct Entry {
    pub at: Instant,
    /// What it added and removed (no serial).
    pub changes: ChangeSet,
    pub actor: String,
    pub via: &'static str,
    /// The serial it wrote.
    pub serial: u32,
}

impl Entry {
    /// An acknowledged write (UPDATE, REST, the sweep, a rollback), not a
    /// person's edit taken in (`external`, `edit`, or a commit git shows
    /// without a known writer).
    pub fn is_write(&self) -> bool {
        !matches!(self.via, "external" | "edit" | "git")
    }
}

/// What a saved file lacks, re-applied on top of it.
#[derive(Debug, Default)]
pub struct Plan {
    /// The records to add and remove (no serial).
    pub missing: ChangeSet,
    /// The writes re-applied, oldest first.
    pub writes: Vec<Entry>,
    /// The saved file's own change: its records against the served
    /// version's (noted as an entry once taken in, so an edit saved later
    /// on a version before it gets it back too).
    pub edit: ChangeSet,
}

/// The recent writes of every zone.
pub struct Recent {
    window: Duration,
    logs: Mutex<Logs>,
    /// Zones whose writes from before this process started were read
    /// back from git ([`Recent::seed`]).
    seeded: Mutex<std::collections::HashSet<Name>>,
}

impl Recent {
    pub fn new(window: Duration) -> Recent {
        Recent {
            window,
            logs: Mutex::default(),
            seeded: Mutex::default(),
        }
    }

    pub fn window(&self) -> Duration {
        self.window
    }

    /// Whether `zone`'s history from before this process is known (or
    /// there is no window to know it for).
    pub fn is_seeded(&self, zone: &Name) -> bool {
        self.window.is_zero()
            || self
                .seeded
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .contains(zone)
    }

    /// Puts `older` (the zone's changes from before this process started,
    /// read back from git, oldest first) ahead of what was noted since;
    /// once per zone.
    pub fn seed(&self, zone: &Name, older: Vec<Entry>) {
        let mut seeded = self.seeded.lock().unwrap_or_else(|p| p.into_inner());
        if !seeded.insert(zone.clone()) {
            return;
        }
        let mut logs = self.logs();
        let log = logs.zones.entry(zone.clone()).or_default();
        let before = log.len();
        // Git times are whole seconds: a write of the start's second may
        // be in both. Only what was noted since is looked at: two changes
        // of the history alike are two (round 59: a write and the
        // committer's re-apply of it to a stale copy, after a move, were
        // taken for one, the write dropped, and a second stale save lost
        // it).
        let same = |a: &ChangeSet, b: &ChangeSet| {
            let eq = |x: &[Rr], y: &[Rr]| {
                x.len() == y.len() && x.iter().zip(y).all(|(p, q)| p.same_rr(q))
            };
            eq(&a.add, &b.add) && eq(&a.remove, &b.remove)
        };
        let older: Vec<Entry> = older
            .into_iter()
            .filter(|e| !log.iter().any(|l| same(&l.changes, &e.changes)))
            .collect();
        for e in older.into_iter().rev() {
            log.push_front(e);
        }
        let added = log.len() - before;
        logs.total += added;
        let now = Instant::now();
        logs.prune(zone, self.window, now);
        logs.bound(self.window, now);
    }

    fn logs(&self) -> std::sync::MutexGuard<'_, Logs> {
        self.logs.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Notes a batch written to `zone`; drops what has left the window
    /// (this zone's at once, every zone's every [`SWEEP_EVERY`] notes) and
    /// the oldest past [`MAX_TOTAL`].
    pub fn record(&self, zone: &Name, entry: Entry) {
        if self.window.is_zero() {
            return;
        }
        let now = entry.at;
        let mut logs = self.logs();
        logs.zones.entry(zone.clone()).or_default().push_back(entry);
        logs.total += 1;
        logs.since_sweep += 1;
        logs.prune(zone, self.window, now);
        if logs.since_sweep >= SWEEP_EVERY {
            logs.sweep(self.window, now);
        }
        logs.bound(self.window, now);
    }

    /// Writes kept over all zones.
    #[cfg(test)]
    fn kept(&self) -> usize {
        let logs = self.logs();
        assert_eq!(
            logs.total,
            logs.zones.values().map(VecDeque::len).sum::<usize>()
        );
        logs.total
    }

    /// What `saved` (the file as found on disk) lacks of the writes made
    /// within the window, given `served` (the version served before it,
    /// the last write's result). See the module docs.
    pub fn plan(&self, zone: &Name, served: &Zone, saved: &Zone, now: Instant) -> Plan {
        let entries: Vec<Entry> = {
            let mut logs = self.logs();
            logs.prune(zone, self.window, now);
            logs.zones
                .get(zone)
                .map(|log| log.iter().cloned().collect())
                .unwrap_or_default()
        };
        let records = |z: &Zone| z.records().cloned().collect::<Vec<Rr>>();
        let diff = crate::ixfr::diff(&records(served), &records(saved));
        let edit = ChangeSet {
            remove: diff.deleted,
            add: diff.added,
            serial: None,
        };
        if entries.is_empty() {
            return Plan {
                edit,
                ..Plan::default()
            };
        }
        // Every acknowledged write of the window (a write wins, whatever
        // version the edit started from); never an edit taken in (this
        // one may undo it on purpose: a `git checkout` of an older version
        // looks exactly like a save on an older version). Edits stay in
        // the chain so the writes after them apply in order.
        let writes: Vec<Entry> = entries.into_iter().filter(Entry::is_write).collect();
        let missing = missing(&writes, saved);
        // The entries that gave something back (for the log and commit).
        let gave = |e: &Entry| {
            e.changes
                .add
                .iter()
                .any(|r| missing.add.iter().any(|m| m.same_rr(r)))
                || e.changes
                    .remove
                    .iter()
                    .any(|r| missing.remove.iter().any(|m| m.same_rr(r)))
        };
        let writes = writes.into_iter().filter(|e| gave(e)).collect();
        Plan {
            missing,
            writes,
            edit,
        }
    }
}

fn has(zone: &Zone, rr: &Rr) -> bool {
    zone.rrset(&rr.name, rr.rtype).iter().any(|r| r.same_rr(rr))
}

/// `writes` re-applied in order on `saved`: each add it lacks, each
/// removal of a record it (still) has.
fn missing(writes: &[Entry], saved: &Zone) -> ChangeSet {
    let mut cs = ChangeSet::default();
    let present = |cs: &ChangeSet, rr: &Rr| {
        cs.add.iter().any(|r| r.same_rr(rr))
            || (has(saved, rr) && !cs.remove.iter().any(|r| r.same_rr(rr)))
    };
    for w in writes {
        for rr in &w.changes.add {
            if !present(&cs, rr) {
                cs.remove.retain(|r| !r.same_rr(rr));
                if !has(saved, rr) {
                    cs.add.push(rr.clone());
                }
            }
        }
        for rr in &w.changes.remove {
            // Removed and added back by the same write: a TTL change (a
            // pull's, an UPDATE's re-add), whose add stands. Re-applying
            // the removal took the RR away altogether: the apex NS of a
            // TTL-only pull, then the zone refused every write.
            if w.changes.add.iter().any(|a| a.same_rr(rr)) {
                continue;
            }
            if present(&cs, rr) {
                cs.add.retain(|r| !r.same_rr(rr));
                if has(saved, rr) {
                    cs.remove.push(rr.clone());
                }
            }
        }
    }
    cs
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::zone::testutil::{a, basic, n, txt};

    fn zone(names: &[&str]) -> Zone {
        basic(
            "example.com.",
            names
                .iter()
                .map(|w| txt(&format!("{w}.example.com."), w))
                .collect(),
        )
    }

    fn add(w: &str, serial: u32) -> Entry {
        Entry {
            at: Instant::now(),
            changes: ChangeSet {
                add: vec![txt(&format!("{w}.example.com."), w)],
                ..ChangeSet::default()
            },
            actor: "k".into(),
            via: "rfc2136",
            serial,
        }
    }

    fn with_edit(names: &[&str]) -> Zone {
        let mut rrs: Vec<Rr> = names
            .iter()
            .map(|w| txt(&format!("{w}.example.com."), w))
            .collect();
        rrs.push(a("edit.example.com.", 9));
        basic("example.com.", rrs)
    }

    /// A write that changed only a TTL (remove the RR, add it back with the
    /// new TTL) is not a removal: an edit saved over its result lacks
    /// nothing of it (it used to re-apply the removal and leave the apex
    /// without NS).
    #[test]
    fn a_ttl_change_is_never_re_applied_as_a_removal() {
        let recent = Recent::new(Duration::from_secs(900));
        let z = n("example.com.");
        let old = txt("w.example.com.", "w");
        let mut new = old.clone();
        new.ttl = 60;
        recent.record(
            &z,
            Entry {
                at: Instant::now(),
                changes: ChangeSet {
                    remove: vec![old],
                    add: vec![new.clone()],
                    serial: None,
                },
                actor: "origin/main".into(),
                via: "git-pull",
                serial: 2,
            },
        );
        let served = basic("example.com.", vec![new.clone()]);
        let saved = basic("example.com.", vec![new, a("edit.example.com.", 9)]);
        let plan = recent.plan(&z, &served, &saved, Instant::now());
        assert!(plan.missing.is_empty(), "{plan:?}");
        assert!(plan.writes.is_empty(), "{plan:?}");
    }

    /// The racing editor: it read the file after w1, the server then wrote
    /// w2 and w3, the editor saved its own record on what it read.
    #[test]
    fn an_edit_on_an_older_version_gets_the_writes_it_missed() {
        let recent = Recent::new(Duration::from_secs(900));
        let z = n("example.com.");
        for (i, w) in ["w1", "w2", "w3"].iter().enumerate() {
            recent.record(&z, add(w, i as u32 + 2));
        }
        let served = zone(&["w1", "w2", "w3"]);
        let saved = with_edit(&["w1"]);
        let plan = recent.plan(&z, &served, &saved, Instant::now());
        assert_eq!(plan.writes.len(), 2, "{plan:?}");
        let added: Vec<String> = plan.missing.add.iter().map(|r| r.name.to_ascii()).collect();
        assert_eq!(added, ["w2.example.com.", "w3.example.com."]);
        assert!(plan.missing.remove.is_empty());
    }

    /// A write wins within the window: a record a key wrote and a person
    /// deleted by hand comes back, whatever version they started from
    /// (outside attack round 5: one record of a multi-record write stayed
    /// deleted).
    #[test]
    fn a_hand_deletion_of_a_write_within_the_window_is_undone() {
        let recent = Recent::new(Duration::from_secs(900));
        let z = n("example.com.");
        recent.record(&z, add("w1", 2));
        recent.record(&z, add("w2", 3));
        let served = zone(&["w1", "w2"]);
        let saved = with_edit(&["w2"]);
        let plan = recent.plan(&z, &served, &saved, Instant::now());
        let added: Vec<String> = plan.missing.add.iter().map(|r| r.name.to_ascii()).collect();
        assert_eq!(added, ["w1.example.com."], "{plan:?}");
        assert_eq!(
            plan.writes.len(),
            1,
            "only the write that gave something back"
        );
    }

    /// Edits taken in are never given back: a save on a version from
    /// before one (or a `git checkout` of it) undoes it; the writes after
    /// it still come back.
    #[test]
    fn an_edit_taken_in_is_not_given_back_but_the_writes_are() {
        let recent = Recent::new(Duration::from_secs(900));
        let z = n("example.com.");
        let mut e = add("h", 2);
        e.via = "external";
        recent.record(&z, e);
        recent.record(&z, add("w", 3));
        let served = zone(&["h", "w"]);
        let plan = recent.plan(&z, &served, &with_edit(&[]), Instant::now());
        let added: Vec<String> = plan.missing.add.iter().map(|r| r.name.to_ascii()).collect();
        assert_eq!(added, ["w.example.com."], "{plan:?}");
    }

    /// Round 59: the history read back holds a write and the committer's
    /// re-apply of the same record to a stale copy (an `external` change
    /// alike): both are kept, so the write is given back to the next stale
    /// copy; only a change also noted since the start is left out.
    #[test]
    fn a_seeded_write_alike_an_edit_after_it_is_kept() {
        let recent = Recent::new(Duration::from_secs(900));
        let z = n("example.com.");
        let mut reapplied = add("w1", 3);
        reapplied.via = "external";
        recent.record(&z, add("w3", 5));
        recent.seed(
            &z,
            vec![add("w1", 2), reapplied, add("w2", 4), add("w3", 5)],
        );
        let plan = recent.plan(
            &z,
            &zone(&["w1", "w2", "w3"]),
            &with_edit(&[]),
            Instant::now(),
        );
        let added: Vec<String> = plan.missing.add.iter().map(|r| r.name.to_ascii()).collect();
        assert_eq!(
            added,
            ["w1.example.com.", "w2.example.com.", "w3.example.com."],
            "{plan:?}"
        );
        assert_eq!(recent.kept(), 4, "w3 once: noted, and read back");
    }

    #[test]
    fn a_removal_missed_is_done_again_and_an_add_then_remove_cancels() {
        let recent = Recent::new(Duration::from_secs(900));
        let z = n("example.com.");
        recent.record(&z, add("w1", 2));
        let mut gone = add("old", 3);
        gone.changes.remove = std::mem::take(&mut gone.changes.add);
        recent.record(&z, gone);
        let mut undo = add("w1", 4);
        undo.changes.remove = std::mem::take(&mut undo.changes.add);
        recent.record(&z, undo);
        // Saved from the version before all three, plus an edit.
        let served = zone(&[]);
        let saved = with_edit(&["old"]);
        let plan = recent.plan(&z, &served, &saved, Instant::now());
        assert!(
            plan.missing.add.is_empty(),
            "w1 added then removed: {plan:?}"
        );
        let removed: Vec<String> = plan
            .missing
            .remove
            .iter()
            .map(|r| r.name.to_ascii())
            .collect();
        assert_eq!(removed, ["old.example.com."]);
    }

    #[test]
    fn writes_older_than_the_window_are_not_reapplied() {
        let recent = Recent::new(Duration::from_secs(60));
        let z = n("example.com.");
        recent.record(&z, add("w1", 2));
        let served = zone(&["w1"]);
        let saved = zone(&[]);
        let later = Instant::now() + Duration::from_secs(61);
        assert!(recent.plan(&z, &served, &saved, later).missing.is_empty());
        assert!(
            recent
                .plan(&z, &served, &saved, Instant::now())
                .missing
                .is_empty(),
            "pruned"
        );
    }

    /// Writes that left the window are dropped as writes come in, this
    /// zone's at once and other zones' at the next sweep: they used to stay
    /// until an edit of the same zone was taken in, up to 10,000 a zone.
    #[test]
    fn writes_that_left_the_window_are_dropped_as_writes_come_in() {
        let recent = Recent::new(Duration::from_secs(60));
        let (z, other) = (n("example.com."), n("example.org."));
        let t0 = Instant::now();
        let at = |secs: u64, w: &str, serial: u32| Entry {
            at: t0 + Duration::from_secs(secs),
            ..add(w, serial)
        };
        recent.record(&z, at(0, "w1", 2));
        recent.record(&other, at(0, "o1", 2));
        assert_eq!(recent.kept(), 2);
        recent.record(&z, at(61, "w2", 3));
        assert_eq!(recent.kept(), 2, "w1 left the window");
        for i in 0..SWEEP_EVERY {
            recent.record(&z, at(62, &format!("x{i}"), 4));
        }
        assert!(
            !recent.logs().zones.contains_key(&other),
            "a zone no longer written to is swept"
        );
        assert_eq!(recent.kept(), SWEEP_EVERY + 1);
    }

    /// Over all zones at most MAX_TOTAL writes are kept, the oldest
    /// dropped first, whatever the window; the newest are still given
    /// back over a stale save.
    #[test]
    fn at_most_max_total_writes_are_kept_the_oldest_dropped_first() {
        let recent = Recent::new(Duration::from_secs(900));
        let t0 = Instant::now();
        let zones: Vec<Name> = (0..50).map(|i| n(&format!("z{i}.example."))).collect();
        for i in 0..MAX_TOTAL + 10 {
            let e = Entry {
                at: t0 + Duration::from_micros(i as u64),
                ..add(&format!("w{i}"), 2)
            };
            recent.record(&zones[i % zones.len()], e);
        }
        let kept = recent.kept();
        assert!(kept <= MAX_TOTAL, "{kept}");
        assert!(kept >= MAX_TOTAL / 10 * 9, "{kept}");
        let logs = recent.logs();
        let oldest = logs
            .zones
            .values()
            .filter_map(|l| l.front())
            .map(|e| e.at)
            .min();
        let newest = logs
            .zones
            .values()
            .filter_map(|l| l.back())
            .map(|e| e.at)
            .max();
        drop(logs);
        assert!(
            oldest.is_some_and(|o| o > t0 + Duration::from_micros(1000)),
            "oldest dropped"
        );
        assert_eq!(
            newest,
            Some(t0 + Duration::from_micros((MAX_TOTAL + 9) as u64))
        );
    }
}
