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
use crate::notify::{self, Retry, RetryPolicy, Step, Target};
use crate::rr::{Name, Rr};
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
    tx: mpsc::UnboundedSender<Change>,
    counters: Arc<HashMap<Name, Arc<Counters>>>,
}

/// One zone's targets and signing key.
struct ZonePlan {
    targets: Vec<Target>,
    key: Option<Key>,
}

impl Notifier {
    /// Starts the actor and one task per (zone, target) on the current
    /// runtime; they end when `stop` changes or every handle is dropped.
    pub fn start(config: &Config, stop: watch::Receiver<bool>) -> Notifier {
        Notifier::start_with(config, RetryPolicy::default(), stop)
    }

    /// [`Notifier::start`] with another retry policy (tests).
    pub fn start_with(
        config: &Config,
        policy: RetryPolicy,
        stop: watch::Receiver<bool>,
    ) -> Notifier {
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
        let counters: HashMap<Name, Arc<Counters>> = plans
            .keys()
            .map(|n| (n.clone(), Arc::new(Counters::default())))
            .collect();
        let counters = Arc::new(counters);
        let (tx, rx) = mpsc::unbounded_channel();
        let actor = Actor {
            plans,
            counters: counters.clone(),
            policy,
            fudge: config.tsig_fudge,
        };
        tokio::spawn(actor.run(rx, stop));
        Notifier { tx, counters }
    }

    /// The zone `zone` now serves `serial` (its SOA is `soa`): NOTIFY its
    /// secondaries. Returns at once; zones without targets cost nothing.
    pub fn zone_changed(&self, zone: &Name, serial: u32, soa: &Rr) {
        if !self.counters.contains_key(zone) {
            return;
        }
        let change = Change {
            zone: zone.clone(),
            serial,
            soa: soa.clone(),
        };
        if self.tx.send(change).is_err() {
            debug!(zone = %zone, serial, "NOTIFY sender stopped; not notifying");
        }
    }

    /// [`Notifier::zone_changed`] once `commit` is made: the secondaries'
    /// IXFR then finds the new version in the git history instead of a
    /// file not committed yet (answered in full). Not sent if git refused
    /// the commit (the store rolls the change back). Outside a tokio
    /// runtime (some tests), at once.
    pub fn zone_committed(&self, zone: &Name, serial: u32, soa: &Rr, commit: Pending) {
        if !self.counters.contains_key(zone) {
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

    /// The counters of `zone`, if it has NOTIFY targets.
    pub fn counters(&self, zone: &Name) -> Option<Arc<Counters>> {
        self.counters.get(zone).cloned()
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
    counters: Arc<HashMap<Name, Arc<Counters>>>,
    policy: RetryPolicy,
    fudge: u16,
}

impl Actor {
    async fn run(self, mut rx: mpsc::UnboundedReceiver<Change>, mut stop: watch::Receiver<bool>) {
        let (out_tx, mut out_rx) = mpsc::unbounded_channel();
        let mut senders: HashMap<Name, Vec<watch::Sender<Option<Change>>>> = HashMap::new();
        let mut tasks = JoinSet::new();
        for (zone, plan) in &self.plans {
            let Some(counters) = self.counters.get(zone) else {
                continue;
            };
            for target in &plan.targets {
                let (tx, changes) = watch::channel(None);
                let task = TargetTask {
                    target: target.clone(),
                    key: plan.key.clone(),
                    fudge: self.fudge,
                    policy: self.policy,
                    counters: counters.clone(),
                    outcomes: out_tx.clone(),
                };
                tasks.spawn(task.run(changes, stop.clone()));
                senders.entry(zone.clone()).or_default().push(tx);
            }
        }
        let mut tallies: HashMap<Name, Tally> = HashMap::new();
        loop {
            tokio::select! {
                change = rx.recv() => {
                    let Some(change) = change else { break };
                    let Some(targets) = senders.get(&change.zone) else { continue };
                    if tallies.get(&change.zone).is_some_and(|t| t.serial == change.serial) {
                        continue;
                    }
                    let tally = Tally { serial: change.serial, total: targets.len(), acknowledged: 0, done: 0 };
                    if let Some(old) = tallies.insert(change.zone.clone(), tally) {
                        summary(&change.zone, &old, Some(change.serial));
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
    key: Option<Key>,
    fudge: u16,
    policy: RetryPolicy,
    counters: Arc<Counters>,
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
                    debug!(target = %self.target, zone = %change.zone, serial, "NOTIFY target port unreachable; giving up");
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
                debug!(target = %self.target, zone = %change.zone, serial, "NOTIFY unanswered after the last try; giving up");
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

    fn report(&self, zone: &Name, serial: u32, acknowledged: bool) {
        let _ = self.outcomes.send(Outcome {
            zone: zone.clone(),
            serial,
            acknowledged,
        });
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
