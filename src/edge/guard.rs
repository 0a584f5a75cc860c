//! Abuse guards in front of TSIG: a per-source budget for rejected signed
//! requests, and sampled logging of traffic nobody can be held to.
//!
//! # Design
//!
//! ```text
//!  signed request from S ─► verify ─► valid ─► answered, whatever S's budget
//!                                  └► rejected ─► S blocked? ── yes ─► UDP: no answer; TCP: REFUSED
//!                                                 └► S's budget -1 ─► empty? block S until a token is back
//!
//!  rejection of a known key (BADSIG, BADTIME, BADTRUNC)  ─► WARN: key, algorithm, client, reason
//!  unknown key, malformed TSIG, unsigned UPDATE, blocked ─► INFO for the first few per minute,
//!                                                          then counted; one summary line a minute
//! ```
//!
//! **The budget.** Every rejected signed request (BADKEY, BADSIG,
//! BADTRUNC, BADTIME, a malformed TSIG) takes a token from its source's
//! bucket (`[tsig] reject_limit`, default 20 per 60 s, refilled one at a
//! time). With the bucket empty the source is blocked until a token is back,
//! and its rejected requests go unanswered over UDP (REFUSED over TCP): an
//! online guesser gets 20 answers a minute, and learns nothing while
//! blocked. Valid requests are answered whatever the budget: UDP sources
//! can be spoofed, and a spoofer who burns a real client's budget must not
//! lock that client out (nsupdate, for one, does not retry a truncated
//! UPDATE answer over TCP). A source is an IPv4 address or an IPv6 /64, and
//! UDP and TCP count apart. Governor's keyed limiter holds the buckets; entries that are
//! back to full are dropped when the map grows, so spoofed sources cost
//! memory only for as long as their bucket takes to refill.
//!
//! **The logs.** Anything a spoofed UDP packet can cause is logged at most
//! [`SAMPLE`] times a minute per kind, then counted in one summary line,
//! so 60,000 junk packets make a handful of lines. Rejections naming a
//! configured key keep a WARN each (the operator needs them to debug a
//! client), up to [`KNOWN_KEY_LINES`] a minute, also summarised beyond that.

use std::fmt;
use std::hash::Hash;
use std::net::SocketAddr;
use std::num::NonZeroU32;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use governor::clock::{Clock, DefaultClock};
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};
use tracing::{info, warn};

use crate::request::Transport;

/// Lines per kind per minute before a kind is only counted.
pub const SAMPLE: u32 = 5;
/// WARN lines per minute for rejections that name a configured key.
pub const KNOWN_KEY_LINES: u32 = 60;
/// How often counted lines are summed up.
const INTERVAL: Duration = Duration::from_secs(60);
/// Sources tracked before buckets that are full again are dropped.
const PRUNE_AT: usize = 10_000;
/// Sources blocked at once (entries beyond are unblocked earliest first).
const MAX_BLOCKED: usize = 65_536;

/// Where a request came from, as the budget counts it: the client (an
/// IPv4 address or an IPv6 /64, as connection caps count it) and whether
/// it came over TCP.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Source {
    client: super::sources::Source,
    tcp: bool,
}

impl Source {
    pub fn new(addr: SocketAddr, transport: Transport) -> Source {
        Source {
            client: super::sources::Source::of(addr.ip()),
            tcp: transport == Transport::Tcp,
        }
    }
}

/// The per-source budget of rejected signed requests.
pub struct Budget {
    limiter: Option<DefaultKeyedRateLimiter<Source>>,
    /// Sources with an empty bucket, and when their next token is back.
    blocked: Mutex<std::collections::HashMap<Source, Instant>>,
}

impl Budget {
    /// `rate` is `(n, per)`: n rejections at once, refilled over `per`;
    /// `None` turns the budget off.
    pub fn new(rate: Option<(u32, Duration)>) -> Budget {
        let limiter = rate.and_then(|(n, per)| {
            let burst = NonZeroU32::new(n)?;
            let one = (per / n).max(Duration::from_nanos(1));
            Quota::with_period(one).map(|q| RateLimiter::keyed(q.allow_burst(burst)))
        });
        Budget {
            limiter,
            blocked: Mutex::new(std::collections::HashMap::new()),
        }
    }

    fn blocked(&self) -> std::sync::MutexGuard<'_, std::collections::HashMap<Source, Instant>> {
        self.blocked.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Whether `source` has used up its budget (checked before verifying).
    pub fn is_blocked(&self, source: &Source) -> bool {
        let mut blocked = self.blocked();
        match blocked.get(source) {
            Some(until) if *until > Instant::now() => true,
            Some(_) => {
                blocked.remove(source);
                false
            }
            None => false,
        }
    }

    /// Counts one rejection against `source`; true when it has now used up
    /// its budget (and is blocked until a token is back).
    pub fn reject(&self, source: Source) -> bool {
        let Some(limiter) = &self.limiter else {
            return false;
        };
        if limiter.len() > PRUNE_AT {
            limiter.retain_recent();
            limiter.shrink_to_fit();
        }
        let Err(not_until) = limiter.check_key(&source) else {
            return false;
        };
        let wait = not_until.wait_time_from(DefaultClock::default().now());
        let mut blocked = self.blocked();
        let now = Instant::now();
        if blocked.len() >= MAX_BLOCKED {
            blocked.retain(|_, until| *until > now);
        }
        if blocked.len() < MAX_BLOCKED {
            blocked.insert(source, now + wait);
        }
        true
    }
}

/// What a sampled log line is about.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Noise {
    /// A TSIG naming a key or algorithm we do not have (BADKEY).
    UnknownKey,
    /// A TSIG RR that cannot be read, or a MAC of a forbidden length.
    Malformed,
    /// An UPDATE without TSIG.
    UnsignedUpdate,
    /// A signed request from a source over its budget.
    OverBudget,
    /// An UPDATE already answered, sent again (a retransmission, or a
    /// replay by anyone who captured it), or one the replay cache cannot
    /// vouch for.
    Replay,
    /// A REST request with a wrong token (from any number of addresses).
    RestAuth,
    /// A rejection naming a configured key (BADSIG, BADTIME, BADTRUNC).
    KnownKey,
}

impl Noise {
    const ALL: [Noise; 7] = [
        Noise::UnknownKey,
        Noise::Malformed,
        Noise::UnsignedUpdate,
        Noise::OverBudget,
        Noise::KnownKey,
        Noise::Replay,
        Noise::RestAuth,
    ];

    fn index(self) -> usize {
        self as usize
    }

    fn limit(self) -> u32 {
        match self {
            Noise::KnownKey => KNOWN_KEY_LINES,
            _ => SAMPLE,
        }
    }
}

impl fmt::Display for Noise {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Noise::UnknownKey => "unknown TSIG key or algorithm",
            Noise::Malformed => "malformed TSIG",
            Noise::UnsignedUpdate => "unsigned UPDATE",
            Noise::OverBudget => "over the rejection budget",
            Noise::KnownKey => "rejected signature of a configured key",
            Noise::Replay => "UPDATE sent again after its answer (retransmission or replay)",
            Noise::RestAuth => "REST request with a wrong token",
        })
    }
}

#[derive(Default)]
struct Tally {
    since: Option<Instant>,
    logged: [u32; 7],
    counted: [u64; 7],
    /// Rejections naming a configured key, per key (logged, counted): a
    /// flood naming one key never hides the rejections of another. Only
    /// configured key names get here, so the map is as small as the config.
    per_key: std::collections::HashMap<String, (u32, u64)>,
}

/// Sampled logging: [`RejectLog::line`] says whether to log this one.
#[derive(Default)]
pub struct RejectLog {
    tally: Mutex<Tally>,
}

impl RejectLog {
    fn tally(&self) -> std::sync::MutexGuard<'_, Tally> {
        self.tally.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Whether a line of `kind` may be logged now; if not, it is counted
    /// for the next summary. Closes the interval when it has run out.
    pub fn line(&self, kind: Noise) -> bool {
        let mut t = self.open_interval();
        let i = kind.index();
        if t.logged[i] < kind.limit() {
            t.logged[i] += 1;
            true
        } else {
            t.counted[i] += 1;
            false
        }
    }

    /// Whether a rejection naming the configured key `key` may be logged
    /// now: [`KNOWN_KEY_LINES`] a minute for each key.
    pub fn key_line(&self, key: &str) -> bool {
        let mut t = self.open_interval();
        let (logged, counted) = t.per_key.entry(key.to_owned()).or_default();
        if *logged < KNOWN_KEY_LINES {
            *logged += 1;
            true
        } else {
            *counted += 1;
            false
        }
    }

    /// The tally, a new interval begun (and the last summed up) if the
    /// last has run out.
    fn open_interval(&self) -> std::sync::MutexGuard<'_, Tally> {
        let mut t = self.tally();
        let now = Instant::now();
        if t.since.is_none_or(|s| now.duration_since(s) >= INTERVAL) {
            summarise(&t);
            *t = Tally {
                since: Some(now),
                ..Tally::default()
            };
        }
        t
    }

    /// Logs the summary of the interval if it has run out (a timer calls
    /// this, so a burst that stops is still summed up).
    pub fn flush(&self) {
        let mut t = self.tally();
        if t.since.is_some_and(|s| s.elapsed() >= INTERVAL) {
            summarise(&t);
            *t = Tally::default();
        }
    }
}

fn summarise(t: &Tally) {
    for kind in Noise::ALL {
        let n = t.counted[kind.index()];
        if n == 0 {
            continue;
        }
        info!(count = n, kind = %kind, "{n} more requests in the last minute: {kind} (not logged one by one)");
    }
    for (key, (_, n)) in &t.per_key {
        if *n > 0 {
            warn!(key = %key, count = n, "{n} more rejected signatures naming key {key} in the last minute were not logged one by one");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn src(ip: &str, tcp: bool) -> Source {
        let addr = SocketAddr::new(ip.parse().expect("ip"), 5353);
        let t = if tcp { Transport::Tcp } else { Transport::Udp };
        Source::new(addr, t)
    }

    #[test]
    fn a_source_is_blocked_after_its_budget_and_others_are_not() {
        let b = Budget::new(Some((3, Duration::from_secs(60))));
        let s = src("192.0.2.1", false);
        assert!(!b.reject(s));
        assert!(!b.reject(s));
        assert!(!b.reject(s));
        assert!(!b.is_blocked(&s));
        assert!(b.reject(s));
        assert!(b.is_blocked(&s));
        // The same address over TCP, and another address, are untouched.
        assert!(!b.is_blocked(&src("192.0.2.1", true)));
        assert!(!b.is_blocked(&src("192.0.2.2", false)));
    }

    #[test]
    fn ipv6_counts_per_64_and_mapped_v4_as_v4() {
        assert_eq!(src("2001:db8::1", true), src("2001:db8::ffff:2", true));
        assert_ne!(src("2001:db8::1", true), src("2001:db8:0:1::1", true));
        assert_eq!(src("::ffff:192.0.2.1", true), src("192.0.2.1", true));
    }

    #[test]
    fn off_never_blocks() {
        let b = Budget::new(None);
        let s = src("192.0.2.1", false);
        for _ in 0..100 {
            assert!(!b.reject(s));
        }
        assert!(!b.is_blocked(&s));
    }

    #[test]
    fn sampling_logs_the_first_few_then_counts() {
        let log = RejectLog::default();
        let logged = (0..100).filter(|_| log.line(Noise::UnknownKey)).count();
        assert_eq!(logged, SAMPLE as usize);
        // Kinds are sampled apart.
        assert!(log.line(Noise::UnsignedUpdate));
        let known = (0..100).filter(|_| log.key_line("acme-key.")).count();
        assert_eq!(known, KNOWN_KEY_LINES as usize);
        // A flood naming one key leaves every other key its own lines.
        assert!(log.key_line("admin-key."));
    }
}
