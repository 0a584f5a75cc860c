//! The NOTIFY sender (RFC 1996), tokio driver over the pure [`crate::notify`].
//!
//! Named `notify_out` so each name has one meaning: [`crate::notify`] is the
//! pure RFC 1996 core, this is the sender, and the file-watch crate is only
//! ever spelled `::notify` (in `watch`). It sits above [`crate::served`]
//! and below `store`, which triggers it after each write; it imports only
//! the pure cores.
//!
//! # Design
//!
//! ```text
//!  store write / reload ──Notifier::zone_changed (never blocks)──► unbounded mpsc
//!                                                                     │
//!  actor (one task): per zone with `notify` targets ──► watch<Change> per target
//!     ▲  tallies outcomes; INFO "notified 2/3 secondaries of Z serial S"
//!     └──────────── outcome mpsc ◄── target task (one per zone × target):
//!                                      lookup_host at send time ─► UDP from an
//!                                      ephemeral socket ─► Retry state machine
//!                                      (answer with our ID / retry / give up)
//! ```
//!
//! A target task holds only the newest change for its zone (a `watch`
//! channel), so a newer serial replaces an older one not yet acknowledged
//! (RFC 1996 §3.6 retransmits; we never retransmit an outdated serial).
//! Failures are logged at DEBUG with the target; [`Counters`] count NOTIFYs
//! sent, acknowledged and given up on, per zone, for metrics.

use std::collections::HashMap;
use std::collections::hash_map::RandomState;
use std::hash::{BuildHasher, Hasher};
use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use tokio::net::UdpSocket;
use tokio::sync::{mpsc, watch};
use tokio::task::JoinSet;
use tracing::{debug, info};

use crate::config::Config;
use crate::metrics::{Metrics, NotifyEvent};
use crate::notify::{self, Retry, RetryPolicy, SoaReply, Step, Target};
use crate::rr::{Name, Rr};
use crate::serial::Serial;
use crate::store::committer::{self, Pending};
use crate::tsig::Key;

/// The system clock (seconds since the epoch) for TSIG's time signed.
fn unix_now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// How long a host name lookup may take before the try counts as failed.
const RESOLVE_TIMEOUT: Duration = Duration::from_secs(2);

/// NOTIFY counts for one zone, over all its targets.
#[derive(Debug, Default)]
pub struct Counters {
    /// Messages sent, retransmissions included.
    pub sent: AtomicU64,
    /// Serials a target acknowledged.
    pub acknowledged: AtomicU64,
    /// Serials a target never acknowledged (after the last try).
    pub failed: AtomicU64,
}

impl Counters {
    fn bump(counter: &AtomicU64) {
        counter.fetch_add(1, Ordering::Relaxed);
    }
}

/// A zone is now at `serial` with this SOA.
#[derive(Clone, Debug)]
struct Change {
    zone: Name,
    serial: u32,
    soa: Rr,
}

/// What happened to one serial at one target.
#[derive(Debug)]
struct Outcome {
    zone: Name,
    serial: u32,
    acknowledged: bool,
}

/// The handle writers hold: cheap to clone, and [`Notifier::zone_changed`]
/// never waits.
#[derive(Clone, Debug)]
pub struct Notifier {
    tx: mpsc::UnboundedSender<Msg>,
    /// Per zone with targets; replaced by [`Notifier::reconfigure`].
    counters: Arc<arc_swap::ArcSwap<HashMap<Name, Arc<Counters>>>>,
    book: Arc<Book>,
}

/// What the actor is told.
#[derive(Debug)]
enum Msg {
    Change(Change),
    /// New targets (a config reload): every target task is replaced.
    Plans(HashMap<Name, ZonePlan>),
}

/// One zone's targets and signing key.
#[derive(Debug)]
struct ZonePlan {
    targets: Vec<Target>,
    key: Option<Key>,
}

impl Notifier {
    /// Starts the actor and one task per (zone, target) on the current
    /// runtime; they end when `stop` changes or every handle is dropped.
    pub fn start(config: &Config, metrics: Arc<Metrics>, stop: watch::Receiver<bool>) -> Notifier {
        Notifier::start_with(config, RetryPolicy::default(), metrics, stop)
    }

    /// [`Notifier::start`] with another retry policy (tests).
    pub fn start_with(
        config: &Config,
        policy: RetryPolicy,
        metrics: Arc<Metrics>,
        stop: watch::Receiver<bool>,
    ) -> Notifier {
        let plans = plans_of(config);
        let counters = Arc::new(arc_swap::ArcSwap::from_pointee(counters_for(
            &plans,
            &HashMap::new(),
        )));
        let book = Arc::new(Book::new(&plans));
        let (tx, rx) = mpsc::unbounded_channel();
        let actor = Actor {
            plans,
            counters: counters.clone(),
            policy,
            fudge: config.tsig_fudge,
            book: book.clone(),
            metrics,
        };
        tokio::spawn(actor.run(rx, stop));
        Notifier { tx, counters, book }
    }

    /// Puts the `notify` and `notify_key` settings of `config` in effect
    /// (a config reload): target tasks start and stop to match; counters
    /// and what is known of targets that stay are kept.
    pub fn reconfigure(&self, config: &Config) {
        let plans = plans_of(config);
        let kept = self.counters.load_full();
        self.counters.store(Arc::new(counters_for(&plans, &kept)));
        self.book.replan(&plans);
        let _ = self.tx.send(Msg::Plans(plans));
    }

    /// The zone `zone` now serves `serial` (its SOA is `soa`): NOTIFY its
    /// secondaries. Returns at once; zones without targets cost nothing.
    pub fn zone_changed(&self, zone: &Name, serial: u32, soa: &Rr) {
        if !self.counters.load().contains_key(zone) {
            return;
        }
        let change = Change {
            zone: zone.clone(),
            serial,
            soa: soa.clone(),
        };
        if self.tx.send(Msg::Change(change)).is_err() {
            debug!(zone = %zone, serial, "NOTIFY sender stopped; not notifying");
        }
    }

    /// [`Notifier::zone_changed`] once `commit` is made: the secondaries'
    /// IXFR then finds the new version in the git history instead of a
    /// file not committed yet (answered in full). Not sent if git refused
    /// the commit (the store rolls the change back). Outside a tokio
    /// runtime (some tests), at once.
    pub fn zone_committed(&self, zone: &Name, serial: u32, soa: &Rr, commit: Pending) {
        if !self.counters.load().contains_key(zone) {
            return;
        }
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            return self.zone_changed(zone, serial, soa);
        };
        let this = self.clone();
        let (zone, soa) = (zone.clone(), soa.clone());
        runtime.spawn(async move {
            match commit.done().await {
                committer::Outcome::Committed(_) => this.zone_changed(&zone, serial, &soa),
                committer::Outcome::Failed(why) => {
                    debug!(zone = %zone, serial, "not notifying: the commit failed ({why})");
                }
            }
        });
    }

    /// NOTIFY every zone of `zones` that has targets with the serial it is
    /// served with (at start-up, and after a config reload).
    pub fn announce(&self, zones: &crate::zone::ZoneSet) {
        let with_targets = self.counters.load();
        for z in zones
            .iter()
            .filter(|z| with_targets.contains_key(z.origin()))
        {
            self.zone_changed(z.origin(), z.serial(), z.soa());
        }
    }

    /// The counters of `zone`, if it has NOTIFY targets.
    pub fn counters(&self, zone: &Name) -> Option<Arc<Counters>> {
        self.counters.load().get(zone).cloned()
    }

    /// What each of `zone`'s targets serves, as its SOA last answered
    /// (empty for a zone without `notify` targets).
    pub fn secondaries(&self, zone: &Name) -> Vec<SecondaryStatus> {
        self.book.of(zone)
    }

    /// Every zone's targets, for the metrics.
    pub fn all_secondaries(&self) -> Vec<(Name, SecondaryStatus)> {
        self.book.all()
    }

    /// Waits until at least `n` of `zone`'s targets serve `serial` (or a
    /// later one), or `timeout` passes: true when they do. Propagation-
    /// confirmed writes (`[[zone]] confirm`).
    pub async fn confirmed(&self, zone: &Name, serial: u32, n: usize, timeout: Duration) -> bool {
        let mut changed = self.book.changed.subscribe();
        let wait = async {
            loop {
                if self.book.serving(zone, serial) >= n {
                    return;
                }
                if changed.changed().await.is_err() {
                    // The notifier stopped: nothing will change any more.
                    std::future::pending::<()>().await;
                }
            }
        };
        tokio::time::timeout(timeout, wait).await.is_ok()
    }
}

/// Each zone with `notify` targets: the targets and the signing key.
fn plans_of(config: &Config) -> HashMap<Name, ZonePlan> {
    let mut plans = HashMap::new();
    for z in config.zones.iter().filter(|z| !z.notify.is_empty()) {
        let key = z.notify_key.as_ref().and_then(|name| {
            let k = config.keys.iter().find(|k| &k.key.name == name);
            k.map(|k| k.key.clone())
        });
        let plan = ZonePlan {
            targets: z.notify.clone(),
            key,
        };
        plans.insert(z.name.clone(), plan);
    }
    plans
}

/// Counters for each zone of `plans`, the ones in `kept` kept.
fn counters_for(
    plans: &HashMap<Name, ZonePlan>,
    kept: &HashMap<Name, Arc<Counters>>,
) -> HashMap<Name, Arc<Counters>> {
    plans
        .keys()
        .map(|n| (n.clone(), kept.get(n).cloned().unwrap_or_default()))
        .collect()
}

/// One NOTIFY target of a zone, as the primary last saw it.
#[derive(Clone, Debug, PartialEq)]
pub struct SecondaryStatus {
    /// The target as configured (`host:port`).
    pub target: String,
    /// The serial its SOA last answered with, if it ever answered.
    pub serial: Option<u32>,
    /// The serial it should serve (the zone's newest NOTIFY), if any.
    pub wanted: Option<u32>,
    /// How long it has lacked `wanted` (0 while it serves it).
    pub lag: Duration,
    /// Why the last SOA query got no serial, if it did not.
    pub error: Option<String>,
}

/// One target's entry in the [`Book`].
#[derive(Clone, Debug, Default)]
struct Seen {
    serial: Option<u32>,
    wanted: Option<u32>,
    /// Since when it lacks `wanted` (`None` while it serves it).
    behind_since: Option<Instant>,
    error: Option<String>,
}

/// What every target serves: written by the probers, read by the admin
/// listener and by writes waiting for confirmation.
#[derive(Debug)]
struct Book {
    zones: std::sync::Mutex<HashMap<Name, Vec<(String, Seen)>>>,
    /// Bumped at every change, to wake [`Notifier::confirmed`].
    changed: watch::Sender<u64>,
}

impl Book {
    fn new(plans: &HashMap<Name, ZonePlan>) -> Book {
        let zones = plans
            .iter()
            .map(|(zone, plan)| {
                let targets = plan
                    .targets
                    .iter()
                    .map(|t| (t.to_string(), Seen::default()));
                (zone.clone(), targets.collect())
            })
            .collect();
        Book {
            zones: std::sync::Mutex::new(zones),
            changed: watch::channel(0).0,
        }
    }

    /// The targets of `plans`, keeping what is known of those that stay.
    fn replan(&self, plans: &HashMap<Name, ZonePlan>) {
        let mut zones = self.zones.lock().unwrap_or_else(|p| p.into_inner());
        let old = std::mem::take(&mut *zones);
        for (zone, plan) in plans {
            let before = old.get(zone);
            let targets = plan.targets.iter().map(|t| {
                let label = t.to_string();
                let seen = before
                    .and_then(|ts| ts.iter().find(|(l, _)| *l == label))
                    .map(|(_, s)| s.clone())
                    .unwrap_or_default();
                (label, seen)
            });
            zones.insert(zone.clone(), targets.collect());
        }
    }

    fn update(&self, zone: &Name, target: &str, f: impl FnOnce(&mut Seen)) {
        {
            let mut zones = self.zones.lock().unwrap_or_else(|p| p.into_inner());
            let entry = zones
                .get_mut(zone)
                .and_then(|ts| ts.iter_mut().find(|(t, _)| t == target));
            let Some((_, seen)) = entry else { return };
            f(seen);
            // Only the serial we announced: a target ahead of it (a zone
            // restored with a lower serial) will never take ours.
            let serves = match (seen.serial, seen.wanted) {
                (Some(s), Some(w)) => s == w,
                (_, None) => true,
                (None, Some(_)) => false,
            };
            if serves {
                seen.behind_since = None;
            } else if seen.behind_since.is_none() {
                seen.behind_since = Some(Instant::now());
            }
        }
        self.changed.send_modify(|g| *g = g.wrapping_add(1));
    }

    fn status(target: &str, seen: &Seen) -> SecondaryStatus {
        SecondaryStatus {
            target: target.to_owned(),
            serial: seen.serial,
            wanted: seen.wanted,
            lag: seen.behind_since.map_or(Duration::ZERO, |t| t.elapsed()),
            error: seen.error.clone(),
        }
    }

    fn of(&self, zone: &Name) -> Vec<SecondaryStatus> {
        let zones = self.zones.lock().unwrap_or_else(|p| p.into_inner());
        zones.get(zone).map_or_else(Vec::new, |ts| {
            ts.iter().map(|(t, s)| Book::status(t, s)).collect()
        })
    }

    fn all(&self) -> Vec<(Name, SecondaryStatus)> {
        let zones = self.zones.lock().unwrap_or_else(|p| p.into_inner());
        zones
            .iter()
            .flat_map(|(z, ts)| ts.iter().map(|(t, s)| (z.clone(), Book::status(t, s))))
            .collect()
    }

    /// How many of `zone`'s targets serve `serial` or a later one of ours:
    /// between `serial` and the newest we announced (RFC 1982 order). A
    /// target ahead of that serves something else and never counts.
    fn serving(&self, zone: &Name, serial: u32) -> usize {
        let zones = self.zones.lock().unwrap_or_else(|p| p.into_inner());
        zones.get(zone).map_or(0, |ts| {
            ts.iter()
                .filter(|(_, s)| {
                    s.serial.is_some_and(|have| {
                        let newest = s.wanted.unwrap_or(serial);
                        !Serial(serial).is_after(Serial(have))
                            && !Serial(have).is_after(Serial(newest))
                    })
                })
                .count()
        })
    }
}

/// Outcomes of the newest serial of one zone, for the INFO summary.
struct Tally {
    serial: u32,
    total: usize,
    acknowledged: usize,
    done: usize,
}

struct Actor {
    plans: HashMap<Name, ZonePlan>,
    counters: Arc<arc_swap::ArcSwap<HashMap<Name, Arc<Counters>>>>,
    policy: RetryPolicy,
    fudge: u16,
    book: Arc<Book>,
    metrics: Arc<Metrics>,
}

impl Actor {
    /// One target task and one prober per (zone, target) of the plans;
    /// the senders that hand them each change.
    fn spawn_targets(
        &self,
        out_tx: &mpsc::UnboundedSender<Outcome>,
        stop: &watch::Receiver<bool>,
        tasks: &mut JoinSet<()>,
    ) -> HashMap<Name, Vec<watch::Sender<Option<Change>>>> {
        let mut senders: HashMap<Name, Vec<watch::Sender<Option<Change>>>> = HashMap::new();
        let counters = self.counters.load();
        for (zone, plan) in &self.plans {
            let Some(counters) = counters.get(zone) else {
                continue;
            };
            for target in &plan.targets {
                let (tx, changes) = watch::channel(None);
                let task = TargetTask {
                    target: target.clone(),
                    label: target.to_string(),
                    key: plan.key.clone(),
                    fudge: self.fudge,
                    policy: self.policy,
                    counters: counters.clone(),
                    metrics: self.metrics.clone(),
                    outcomes: out_tx.clone(),
                };
                tasks.spawn(task.run(changes.clone(), stop.clone()));
                let prober = Prober {
                    zone: zone.clone(),
                    target: target.clone(),
                    label: target.to_string(),
                    key: plan.key.clone(),
                    fudge: self.fudge,
                    book: self.book.clone(),
                };
                tasks.spawn(prober.run(changes, stop.clone()));
                senders.entry(zone.clone()).or_default().push(tx);
            }
        }
        senders
    }

    async fn run(mut self, mut rx: mpsc::UnboundedReceiver<Msg>, mut stop: watch::Receiver<bool>) {
        let (out_tx, mut out_rx) = mpsc::unbounded_channel();
        let mut tasks = JoinSet::new();
        let mut senders = self.spawn_targets(&out_tx, &stop, &mut tasks);
        let mut tallies: HashMap<Name, Tally> = HashMap::new();
        loop {
            tokio::select! {
                msg = rx.recv() => {
                    let change = match msg {
                        None => break,
                        Some(Msg::Change(c)) => c,
                        Some(Msg::Plans(plans)) => {
                            // The old tasks end (their serials in flight
                            // are not retried); the new ones wait for the
                            // next change.
                            tasks.abort_all();
                            while tasks.try_join_next().is_some() {}
                            tallies.clear();
                            self.plans = plans;
                            senders = self.spawn_targets(&out_tx, &stop, &mut tasks);
                            continue;
                        }
                    };
                    let Some(targets) = senders.get(&change.zone) else { continue };
                    if tallies.get(&change.zone).is_some_and(|t| t.serial == change.serial) {
                        continue;
                    }
                    let tally = Tally { serial: change.serial, total: targets.len(), acknowledged: 0, done: 0 };
                    if let Some(old) = tallies.insert(change.zone.clone(), tally) {
                        summary(&change.zone, &old, Some(change.serial));
                    }
                    if let Some(plan) = self.plans.get(&change.zone) {
                        for t in &plan.targets {
                            self.book.update(&change.zone, &t.to_string(), |s| s.wanted = Some(change.serial));
                        }
                    }
                    for t in targets {
                        t.send_replace(Some(change.clone()));
                    }
                }
                Some(o) = out_rx.recv() => {
                    let Some(t) = tallies.get_mut(&o.zone).filter(|t| t.serial == o.serial) else {
                        continue;
                    };
                    t.done += 1;
                    t.acknowledged += usize::from(o.acknowledged);
                    if t.done >= t.total && let Some(t) = tallies.remove(&o.zone) {
                        summary(&o.zone, &t, None);
                    }
                }
                _ = stop.changed() => break,
            }
        }
        drop(senders);
        tasks.abort_all();
    }
}

/// RFC 1996 §3.6 leaves it to the operator to notice secondaries that never
/// answer: one INFO line per zone and serial says how many did.
fn summary(zone: &Name, t: &Tally, superseded_by: Option<u32>) {
    match superseded_by {
        None => info!(
            "notified {}/{} secondaries of {zone} serial {}",
            t.acknowledged, t.total, t.serial
        ),
        Some(newer) => info!(
            "notified {}/{} secondaries of {zone} serial {} before serial {newer} replaced it",
            t.acknowledged, t.total, t.serial
        ),
    }
}

/// NOTIFYs for one zone to one target.
struct TargetTask {
    target: Target,
    /// `target` as text, the metrics' label.
    label: String,
    key: Option<Key>,
    fudge: u16,
    policy: RetryPolicy,
    counters: Arc<Counters>,
    metrics: Arc<Metrics>,
    outcomes: mpsc::UnboundedSender<Outcome>,
}

/// The socket of the NOTIFY in flight and where it went.
struct Flight {
    sock: Arc<UdpSocket>,
    dest: SocketAddr,
}

impl TargetTask {
    async fn run(
        self,
        mut changes: watch::Receiver<Option<Change>>,
        mut stop: watch::Receiver<bool>,
    ) {
        let mut retry = Retry::new(self.policy);
        let mut current: Option<Change> = None;
        let mut flight: Option<Flight> = None;
        let mut buf = vec![0u8; 512];
        loop {
            let deadline = retry.deadline();
            let sock = flight.as_ref().map(|f| f.sock.clone());
            // The socket is connected to the target, so the kernel passes
            // only datagrams from its address and port (RFC 1996 §3.6) and
            // reports ICMP port unreachable as ConnectionRefused.
            let recv = async {
                match &sock {
                    Some(s) => s
                        .recv(&mut buf)
                        .await
                        .map(|n| buf.get(..n).map(<[u8]>::to_vec)),
                    None => std::future::pending().await,
                }
            };
            tokio::select! {
                r = changes.changed() => {
                    if r.is_err() {
                        return;
                    }
                    let Some(change) = changes.borrow_and_update().clone() else { continue };
                    let superseded = retry.in_flight();
                    let step = retry.notify(change.serial, random_id(), Instant::now());
                    if let Step::Send { .. } = step {
                        if let Some(old) = superseded {
                            debug!(target = %self.target, zone = %change.zone, "serial {old} superseded by {}", change.serial);
                            self.report(&change.zone, old, false);
                        }
                        current = Some(change);
                    }
                    flight = self.step(step, current.as_ref(), flight).await;
                }
                reply = recv => {
                    let Some(change) = current.as_ref() else { continue };
                    if !self.on_reply(&mut retry, change, reply) {
                        flight = None;
                    }
                }
                _ = sleep_until(deadline) => {
                    let step = retry.poll(Instant::now());
                    flight = self.step(step, current.as_ref(), flight).await;
                }
                _ = stop.changed() => return,
            }
        }
    }

    /// Handles what the socket gave: an answer, a stray datagram or an
    /// error. False when the socket is done with (answered or failed).
    fn on_reply(
        &self,
        retry: &mut Retry,
        change: &Change,
        reply: std::io::Result<Option<Vec<u8>>>,
    ) -> bool {
        let reply = match reply {
            Ok(Some(r)) => r,
            Ok(None) => return true,
            Err(e) => {
                // RFC 1996 §3.6: "an ICMP message indicating that the port
                // is unreachable" ends the retries.
                if e.kind() == std::io::ErrorKind::ConnectionRefused
                    && let Some(serial) = retry.unreachable()
                {
                    Counters::bump(&self.counters.failed);
                    self.count(&change.zone, NotifyEvent::Failed);
                    info!(target = %self.target, zone = %change.zone, serial, "NOTIFY target port unreachable; giving up");
                    self.report(&change.zone, serial, false);
                }
                return false;
            }
        };
        let acked = reply
            .get(..2)
            .map(|b| u16::from_be_bytes([b[0], b[1]]))
            .filter(|&id| notify::is_answer(&reply, id, &change.zone))
            .and_then(|id| retry.answer(id));
        let Some(serial) = acked else {
            return true;
        };
        Counters::bump(&self.counters.acknowledged);
        self.count(&change.zone, NotifyEvent::Acknowledged);
        debug!(target = %self.target, zone = %change.zone, serial, "NOTIFY acknowledged");
        self.report(&change.zone, serial, true);
        false
    }

    /// Carries out `step` for `change`; returns the socket now in flight.
    async fn step(
        &self,
        step: Step,
        change: Option<&Change>,
        flight: Option<Flight>,
    ) -> Option<Flight> {
        let change = change?;
        match step {
            Step::Send { id, attempt, .. } => {
                let msg = notify::message(
                    &change.zone,
                    &change.soa,
                    id,
                    self.key.as_ref().map(|k| (k, unix_now(), self.fudge)),
                );
                match self.send(&msg, flight).await {
                    Ok(f) => {
                        Counters::bump(&self.counters.sent);
                        self.count(&change.zone, NotifyEvent::Sent);
                        debug!(target = %self.target, dest = %f.dest, zone = %change.zone, serial = change.serial, attempt, "NOTIFY sent");
                        Some(f)
                    }
                    Err(e) => {
                        debug!(target = %self.target, zone = %change.zone, serial = change.serial, attempt, "NOTIFY not sent: {e}");
                        None
                    }
                }
            }
            Step::GaveUp { serial } => {
                Counters::bump(&self.counters.failed);
                self.count(&change.zone, NotifyEvent::Failed);
                info!(target = %self.target, zone = %change.zone, serial, "NOTIFY unanswered after the last try; giving up");
                self.report(&change.zone, serial, false);
                None
            }
            Step::WaitUntil(_) | Step::Idle => flight,
        }
    }

    /// Resolves the target now (names may move) and sends `msg`, reusing
    /// the socket in flight when the address is the same.
    async fn send(&self, msg: &[u8], flight: Option<Flight>) -> std::io::Result<Flight> {
        let dest = self.resolve().await?;
        let sock = match flight {
            Some(f) if f.dest == dest => f.sock,
            _ => {
                let local: SocketAddr = if dest.is_ipv4() {
                    (Ipv4Addr::UNSPECIFIED, 0).into()
                } else {
                    (Ipv6Addr::UNSPECIFIED, 0).into()
                };
                let sock = UdpSocket::bind(local).await?;
                sock.connect(dest).await?;
                Arc::new(sock)
            }
        };
        sock.send(msg).await?;
        Ok(Flight { sock, dest })
    }

    async fn resolve(&self) -> std::io::Result<SocketAddr> {
        let host = (self.target.host.as_str(), self.target.port);
        let lookup = tokio::time::timeout(RESOLVE_TIMEOUT, tokio::net::lookup_host(host)).await;
        let mut addrs =
            lookup.map_err(|_| std::io::Error::other("host name lookup timed out"))??;
        addrs
            .next()
            .ok_or_else(|| std::io::Error::other("host name has no addresses"))
    }

    fn count(&self, zone: &Name, event: NotifyEvent) {
        self.metrics.notify(&zone.to_ascii(), &self.label, event);
    }

    fn report(&self, zone: &Name, serial: u32, acknowledged: bool) {
        let _ = self.outcomes.send(Outcome {
            zone: zone.clone(),
            serial,
            acknowledged,
        });
    }
}

/// The first SOA query after a NOTIFY waits this long (the secondary
/// fetches the change first); each next one waits twice as long, up to
/// [`PROBE_MAX_DELAY`].
const PROBE_FIRST_DELAY: Duration = Duration::from_millis(200);
const PROBE_MAX_DELAY: Duration = Duration::from_secs(30);
/// A target still lacking a serial after this long is asked again only
/// at the zone's next change.
const PROBE_GIVE_UP: Duration = Duration::from_secs(15 * 60);
/// How long one SOA query may take, per transport.
const PROBE_TIMEOUT: Duration = Duration::from_secs(2);

/// One SOA query in flight: its ID and its MAC (empty when unsigned).
struct Asked {
    id: u16,
    mac: Vec<u8>,
    /// Why the last UDP answer was not taken (its TSIG), if one was not.
    unverified: std::sync::Mutex<Option<String>>,
}

/// Propagation tracking: after each change of the zone, asks one target
/// for the zone's SOA (UDP, then TCP when truncated or unanswered; signed
/// with `notify_key` when set), with backoff, until it serves the new
/// serial or [`PROBE_GIVE_UP`] passes. What it learns goes to the [`Book`].
struct Prober {
    zone: Name,
    target: Target,
    label: String,
    key: Option<Key>,
    fudge: u16,
    book: Arc<Book>,
}

impl Prober {
    async fn run(
        self,
        mut changes: watch::Receiver<Option<Change>>,
        mut stop: watch::Receiver<bool>,
    ) {
        loop {
            tokio::select! {
                r = changes.changed() => if r.is_err() { return },
                _ = stop.changed() => return,
            }
            let Some(wanted) = changes.borrow_and_update().as_ref().map(|c| c.serial) else {
                continue;
            };
            let started = Instant::now();
            let mut delay = PROBE_FIRST_DELAY;
            // Bounded by PROBE_GIVE_UP (and delays doubling to 30 s).
            while started.elapsed() < PROBE_GIVE_UP {
                tokio::select! {
                    _ = tokio::time::sleep(delay) => {}
                    _ = stop.changed() => return,
                }
                delay = (delay * 2).min(PROBE_MAX_DELAY);
                let asked = self.ask().await;
                let serves = matches!(asked, Ok(s) if s == wanted);
                self.book
                    .update(&self.zone, &self.label, |seen| match asked {
                        Ok(serial) => {
                            seen.serial = Some(serial);
                            seen.error = None;
                        }
                        Err(e) => seen.error = Some(e),
                    });
                // A newer change restarts the loop with its serial.
                if serves || changes.has_changed().unwrap_or(true) {
                    break;
                }
            }
            if changes.has_changed().unwrap_or(false) {
                // Go round at once: `changed()` returns immediately.
                continue;
            }
            debug!(target = %self.target, zone = %self.zone, serial = wanted, "propagation check done");
        }
    }

    /// One SOA query: the serial the target serves, or why it gave none.
    async fn ask(&self) -> Result<u32, String> {
        let host = (self.target.host.as_str(), self.target.port);
        let dest = tokio::time::timeout(RESOLVE_TIMEOUT, tokio::net::lookup_host(host))
            .await
            .map_err(|_| "host name lookup timed out".to_string())?
            .map_err(|e| format!("host name lookup failed: {e}"))?
            .next()
            .ok_or_else(|| "host name has no addresses".to_string())?;
        let id = random_id();
        let (msg, mac) = notify::soa_query(
            &self.zone,
            id,
            self.key.as_ref().map(|k| (k, unix_now(), self.fudge)),
        );
        let asked = Asked {
            id,
            mac,
            unverified: std::sync::Mutex::new(None),
        };
        let udp = tokio::time::timeout(PROBE_TIMEOUT, self.ask_udp(dest, &msg, &asked)).await;
        match udp {
            Ok(Ok(Some(serial))) => return Ok(serial),
            Ok(Err(e)) => return Err(e),
            // Truncated or unanswered: TCP.
            Ok(Ok(None)) | Err(_) => {}
        }
        let tcp = tokio::time::timeout(PROBE_TIMEOUT, self.ask_tcp(dest, &msg, &asked))
            .await
            .map_err(|_| "no answer to the SOA query over UDP or TCP".to_string())
            .and_then(|r| r);
        // Say why UDP answers were not taken, rather than only that TCP
        // failed too.
        let unverified = asked
            .unverified
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .take();
        match (tcp, unverified) {
            (Err(e), Some(why)) => Err(format!("{why}; over TCP: {e}")),
            (r, _) => r,
        }
    }

    /// With `notify_key`, an answer counts only when its TSIG verifies
    /// (RFC 8945 §5.3): a forged "I serve it" must not confirm a write.
    fn check_signed(&self, reply: &[u8], asked: &Asked) -> Result<(), String> {
        let Some(key) = &self.key else {
            return Ok(());
        };
        crate::tsig::verify_response(reply, key, &asked.mac, unix_now(), self.fudge)
            .map_err(|e| format!("the answer's TSIG does not verify ({e})"))
    }

    /// `Ok(None)`: truncated, ask over TCP.
    async fn ask_udp(
        &self,
        dest: SocketAddr,
        msg: &[u8],
        asked: &Asked,
    ) -> Result<Option<u32>, String> {
        let local: SocketAddr = if dest.is_ipv4() {
            (Ipv4Addr::UNSPECIFIED, 0).into()
        } else {
            (Ipv6Addr::UNSPECIFIED, 0).into()
        };
        let sock = UdpSocket::bind(local).await.map_err(|e| e.to_string())?;
        sock.connect(dest).await.map_err(|e| e.to_string())?;
        sock.send(msg).await.map_err(|e| e.to_string())?;
        let mut buf = vec![0u8; 4096];
        // Datagrams that are not our answer are skipped; the caller's
        // timeout bounds the loop.
        loop {
            let n = match sock.recv(&mut buf).await {
                Ok(n) => n,
                Err(e) if e.kind() == std::io::ErrorKind::ConnectionRefused => {
                    return Err("port unreachable (nothing listens there)".into());
                }
                Err(e) => return Err(e.to_string()),
            };
            let reply = buf.get(..n).unwrap_or_default();
            let parsed = notify::soa_reply(reply, asked.id, &self.zone);
            if parsed == SoaReply::NotOurs {
                continue;
            }
            // A datagram that does not verify may be spoofed: the real
            // answer may still come (the caller's timeout bounds the wait).
            if let Err(why) = self.check_signed(reply, asked) {
                debug!(target = %self.target, zone = %self.zone, "SOA answer ignored: {why}");
                *asked.unverified.lock().unwrap_or_else(|p| p.into_inner()) = Some(why);
                continue;
            }
            match parsed {
                SoaReply::Serial(s) => return Ok(Some(s)),
                SoaReply::Truncated => return Ok(None),
                SoaReply::NoSoa(why) => return Err(why),
                SoaReply::NotOurs => {}
            }
        }
    }

    async fn ask_tcp(&self, dest: SocketAddr, msg: &[u8], asked: &Asked) -> Result<u32, String> {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let mut tcp = tokio::net::TcpStream::connect(dest)
            .await
            .map_err(|e| format!("TCP: {e}"))?;
        let len = u16::try_from(msg.len()).map_err(|_| "query too long".to_string())?;
        let mut out = len.to_be_bytes().to_vec();
        out.extend_from_slice(msg);
        tcp.write_all(&out).await.map_err(|e| format!("TCP: {e}"))?;
        let mut len = [0u8; 2];
        tcp.read_exact(&mut len)
            .await
            .map_err(|e| format!("TCP: {e}"))?;
        let mut reply = vec![0u8; usize::from(u16::from_be_bytes(len))];
        tcp.read_exact(&mut reply)
            .await
            .map_err(|e| format!("TCP: {e}"))?;
        let parsed = notify::soa_reply(&reply, asked.id, &self.zone);
        if matches!(parsed, SoaReply::NotOurs | SoaReply::Truncated) {
            return Err("TCP: not an answer to our query".into());
        }
        self.check_signed(&reply, asked)?;
        match parsed {
            SoaReply::Serial(s) => Ok(s),
            SoaReply::NoSoa(why) => Err(why),
            SoaReply::Truncated | SoaReply::NotOurs => {
                Err("TCP: not an answer to our query".into())
            }
        }
    }
}

async fn sleep_until(deadline: Option<Instant>) {
    match deadline {
        Some(d) => tokio::time::sleep_until(d.into()).await,
        None => std::future::pending().await,
    }
}

/// A message ID that is hard to guess (RFC 5452 spirit: off-path spoofed
/// answers should not stop our retries): std's per-instance random hash
/// keys over the time.
fn random_id() -> u16 {
    let mut h = RandomState::new().build_hasher();
    h.write_u128(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos()),
    );
    (h.finish() & 0xFFFF) as u16
}

#[cfg(test)]
mod tests;
