//! NOTIFY (RFC 1996), the pure part: where to send, what to send, and when
//! to send it again. No tokio, no sockets; the clock is an argument. The
//! tokio sender that drives it is [`crate::notify_out`].
//!
//! # Design
//!
//! ```text
//!  config `notify = [..]` ──► Target::parse ("host", "host:port", "[v6]:port")
//!  zone changed to serial S ──► Retry::notify(S, id, now) ──► Step::Send
//!       no answer by the deadline ──► Retry::poll(now) ──► Send again (2, 4, 8, 16 s)
//!       │                                               └► GaveUp after the last try
//!       answer with opcode NOTIFY and our ID ──► Retry::answer(id) ──► acknowledged
//!       ICMP port unreachable ──► Retry::unreachable() ──► given up
//!  message(zone, soa, id) ──► bytes (opcode NOTIFY, AA, SOA question, SOA answer)
//! ```
//!
//! RFC 1996 §3.6: over UDP the master resends "until either too many
//! copies have been sent (a 'timeout'), an ICMP message indicating that the
//! port is unreachable, or until a NOTIFY response is received from the
//! slave with a matching query ID, QNAME, IP source address, and UDP source
//! port number." We send at most 5 copies, 2, 4, 8 and 16 s apart. A newer serial replaces the notify in flight for the same zone and
//! target, so a burst of writes costs one NOTIFY each, never a storm of
//! retries for serials already out of date.

use std::fmt;
use std::time::{Duration, Instant};

use crate::rcode::Rcode;
use crate::request::{Header, opcode, read_question};
use crate::response::MessageWriter;
use crate::rr::{Name, RecordType, Rr};
use crate::serial::Serial;
use crate::tsig::{self, Context, Key, SignParams};

/// The port a target without one is sent to.
pub const DEFAULT_PORT: u16 = 53;

/// One configured NOTIFY destination: a host name or address, and a port.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Target {
    /// A host name to resolve at send time, or an IP address (IPv6 without
    /// brackets).
    pub host: String,
    pub port: u16,
}

/// Why a `notify` entry is not a target; names the entry.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("invalid notify target {entry:?}: {why} (use \"host\", \"host:port\" or \"[v6]:port\")")]
pub struct TargetError {
    pub entry: String,
    pub why: &'static str,
}

impl Target {
    /// Parses `host`, `host:port`, `192.0.2.1`, `192.0.2.1:5300`, `[::1]`,
    /// `[::1]:5300` or a bare IPv6 address; the port defaults to 53.
    pub fn parse(entry: &str) -> Result<Target, TargetError> {
        let err = |why| TargetError {
            entry: entry.to_string(),
            why,
        };
        if entry.is_empty() || entry.contains(char::is_whitespace) {
            return Err(err("empty or contains spaces"));
        }
        if let Some(rest) = entry.strip_prefix('[') {
            let (addr, after) = rest.split_once(']').ok_or_else(|| err("missing ']'"))?;
            let port = match after {
                "" => DEFAULT_PORT,
                p => parse_port(p.strip_prefix(':').ok_or_else(|| err("junk after ']'"))?)
                    .ok_or_else(|| err("bad port"))?,
            };
            addr.parse::<std::net::Ipv6Addr>()
                .map_err(|_| err("not an IPv6 address inside [ ]"))?;
            return Ok(Target {
                host: addr.to_string(),
                port,
            });
        }
        if entry.parse::<std::net::Ipv6Addr>().is_ok() {
            return Ok(Target {
                host: entry.to_string(),
                port: DEFAULT_PORT,
            });
        }
        let (host, port) = match entry.rsplit_once(':') {
            Some((h, p)) => (h, parse_port(p).ok_or_else(|| err("bad port"))?),
            None => (entry, DEFAULT_PORT),
        };
        if host.is_empty() || host.contains(':') || Name::from_ascii(host).is_err() {
            return Err(err("bad host name"));
        }
        Ok(Target {
            host: host.to_string(),
            port,
        })
    }
}

fn parse_port(p: &str) -> Option<u16> {
    p.parse::<u16>().ok().filter(|&p| p != 0)
}

impl fmt::Display for Target {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.host.contains(':') {
            write!(f, "[{}]:{}", self.host, self.port)
        } else {
            write!(f, "{}:{}", self.host, self.port)
        }
    }
}

/// Builds the NOTIFY for `zone` whose SOA is now `soa`, signed with `key`
/// (at `now`, Unix seconds) when given.
///
/// RFC 1996 §3.1: "the master may send the changed RR's name, class, type,
/// and optionally, new RDATA(s), to each known slave server using a best
/// efforts protocol based on the NOTIFY opcode." §3.7: "A NOTIFY request
/// has QDCOUNT>0, ANCOUNT>=0, AUCOUNT>=0, ADCOUNT>=0. If ANCOUNT>0, then
/// the answer section represents an unsecure hint at the new RRset for
/// this <QNAME,QCLASS,QTYPE>." So: one question (zone, SOA, IN), and the
/// new SOA in the answer section as that hint. AA is set, as BIND and
/// Knot set it in the NOTIFYs they send.
pub fn message(zone: &Name, soa: &Rr, id: u16, key: Option<(&Key, u64, u16)>) -> Vec<u8> {
    let flags = (u16::from(opcode::NOTIFY) << 11) | 0x0400;
    let mut w = MessageWriter::new(id, flags, 65535);
    w.question(zone, u16::from(RecordType::SOA), 1);
    let mut w = w.answer();
    w.record(&soa.name, RecordType::SOA, soa.ttl, soa.rdata.as_bytes());
    signed(w.finish(), key)
}

/// `msg` with a TSIG RR signed by `key` at its time with its fudge, when
/// a key is given (RFC 8945 §4).
fn signed(msg: Vec<u8>, key: Option<(&Key, u64, u16)>) -> Vec<u8> {
    signed_with_mac(msg, key).0
}

/// [`signed`], and the request's MAC (empty when unsigned), which the
/// answer's MAC must cover (RFC 8945 §5.3).
fn signed_with_mac(mut msg: Vec<u8>, key: Option<(&Key, u64, u16)>) -> (Vec<u8>, Vec<u8>) {
    let mut mac = Vec::new();
    if let Some((key, now, fudge)) = key {
        let p = SignParams {
            time: now,
            fudge,
            error: Rcode::NoError.code(),
            other: &[],
        };
        mac = tsig::sign(&mut msg, key, Context::Request, p);
    }
    (msg, mac)
}

/// Is `reply` the answer to our NOTIFY `id` for `zone`? RFC 1996 §3.6: a
/// master retransmits "until either too many copies have been sent (a
/// 'timeout'), an ICMP message indicating that the port is unreachable, or
/// until a NOTIFY response is received from the slave with a matching query
/// ID, QNAME, IP source address, and UDP source port number" (the edge
/// checks the address and port). QR must be set and the opcode NOTIFY; a
/// response without a question is accepted on its ID. Any RCODE counts,
/// §4.8: "When a master server receives a NOTIFY response, it deletes this
/// query from the retry queue".
pub fn is_answer(reply: &[u8], id: u16, zone: &Name) -> bool {
    let Some(h) = Header::read(reply) else {
        return false;
    };
    if h.id != id || !h.is_response() || h.op() != opcode::NOTIFY {
        return false;
    }
    if h.qdcount == 0 {
        return true;
    }
    // A question that does not read is not an answer we can trust; names
    // compare case-insensitively.
    read_question(reply).is_some_and(|q| q.qname == *zone)
}

/// How often and how patiently to retransmit.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Tries in all, the first included.
    pub tries: u32,
    /// Wait after the first try; doubled after each later one...
    pub first_wait: Duration,
    /// ...up to this.
    pub max_wait: Duration,
}

impl Default for RetryPolicy {
    /// Five tries, waiting 2, 4, 8, 16 and 16 s (about 46 s in all).
    fn default() -> Self {
        RetryPolicy {
            tries: 5,
            first_wait: Duration::from_secs(2),
            max_wait: Duration::from_secs(16),
        }
    }
}

impl RetryPolicy {
    /// The wait after try `n` (1-based).
    pub fn wait(&self, n: u32) -> Duration {
        let factor = 1u32 << n.saturating_sub(1).min(16);
        self.first_wait.saturating_mul(factor).min(self.max_wait)
    }
}

/// What the driver should do now.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Step {
    /// Send (or resend) the NOTIFY for `serial` with this `id`; this is try
    /// number `attempt` (1-based).
    Send { serial: u32, id: u16, attempt: u32 },
    /// Nothing to do before this instant (unless an answer comes).
    WaitUntil(Instant),
    /// The last try went unanswered: the secondary will find the new serial
    /// at its next SOA refresh (RFC 1996 §3.6, RFC 1034 §4.3.5).
    GaveUp { serial: u32 },
    /// Nothing in flight.
    Idle,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Pending {
    serial: u32,
    id: u16,
    tries: u32,
    deadline: Instant,
}

/// The NOTIFY state of one (zone, target) pair.
#[derive(Clone, Debug)]
pub struct Retry {
    policy: RetryPolicy,
    pending: Option<Pending>,
}

impl Retry {
    pub fn new(policy: RetryPolicy) -> Retry {
        Retry {
            policy,
            pending: None,
        }
    }

    /// The zone is now at `serial`: start notifying with a fresh `id`. A
    /// serial not newer (RFC 1982) than the one in flight changes nothing
    /// (`Step::WaitUntil` the current deadline), so repeats cause no storm.
    pub fn notify(&mut self, serial: u32, id: u16, now: Instant) -> Step {
        if let Some(p) = self.pending
            && !Serial(serial).is_after(Serial(p.serial))
        {
            return Step::WaitUntil(p.deadline);
        }
        self.pending = Some(Pending {
            serial,
            id,
            tries: 1,
            deadline: now + self.policy.wait(1),
        });
        Step::Send {
            serial,
            id,
            attempt: 1,
        }
    }

    /// The serial being notified, if any.
    pub fn in_flight(&self) -> Option<u32> {
        self.pending.map(|p| p.serial)
    }

    /// When [`Retry::poll`] has something to do next, if anything is pending.
    pub fn deadline(&self) -> Option<Instant> {
        self.pending.map(|p| p.deadline)
    }

    /// A reply with `id` came (checked with [`is_answer`]): the serial it
    /// acknowledges, ending the retries, or `None` for a stale ID.
    pub fn answer(&mut self, id: u16) -> Option<u32> {
        let p = self.pending.filter(|p| p.id == id)?;
        self.pending = None;
        Some(p.serial)
    }

    /// The target is unreachable (ICMP port unreachable, RFC 1996 §3.6: a
    /// reason to stop): the serial given up on, if one was pending.
    pub fn unreachable(&mut self) -> Option<u32> {
        self.pending.take().map(|p| p.serial)
    }

    /// Time passes: resend when the wait is over, give up after the last
    /// try. Retransmissions keep the ID, so a late answer to an earlier try
    /// still counts (RFC 1996 §3.6 "retransmit").
    pub fn poll(&mut self, now: Instant) -> Step {
        let Some(mut p) = self.pending else {
            return Step::Idle;
        };
        if now < p.deadline {
            return Step::WaitUntil(p.deadline);
        }
        if p.tries >= self.policy.tries {
            self.pending = None;
            return Step::GaveUp { serial: p.serial };
        }
        p.tries += 1;
        p.deadline = now + self.policy.wait(p.tries);
        self.pending = Some(p);
        Step::Send {
            serial: p.serial,
            id: p.id,
            attempt: p.tries,
        }
    }
}

/// An SOA query for `zone` with ID `id` (signed with `key` when given): how
/// the primary asks a secondary which serial it serves, after a NOTIFY.
/// Returns the query and its MAC (empty when unsigned), to verify the
/// answer with ([`tsig::verify_response`]).
pub fn soa_query(zone: &Name, id: u16, key: Option<(&Key, u64, u16)>) -> (Vec<u8>, Vec<u8>) {
    let mut w = MessageWriter::new(id, 0, 65535);
    w.question(zone, u16::from(RecordType::SOA), 1);
    signed_with_mac(w.finish(), key)
}

/// What a secondary's answer to [`soa_query`] `id` for `zone` says.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SoaReply {
    /// The serial it serves.
    Serial(u32),
    /// Truncated: ask again over TCP.
    Truncated,
    /// Not the answer to our query (another ID, no QR): ignore it.
    NotOurs,
    /// An answer without the zone's SOA (REFUSED, NOTAUTH, not loaded...).
    NoSoa(String),
}

/// Reads a secondary's answer to [`soa_query`].
pub fn soa_reply(reply: &[u8], id: u16, zone: &Name) -> SoaReply {
    let Some(h) = Header::read(reply) else {
        return SoaReply::NotOurs;
    };
    if h.id != id || !h.is_response() || h.op() != 0 {
        return SoaReply::NotOurs;
    }
    if reply.get(2).is_some_and(|b| b & 0x02 != 0) {
        return SoaReply::Truncated;
    }
    // A secondary that serves the zone answers with AA (RFC 1035 §4.1.1);
    // without it the answer comes from a cache or a server that lost the
    // zone, and says nothing about what the secondary serves.
    if reply.get(2).is_some_and(|b| b & 0x04 == 0) {
        return SoaReply::NoSoa("answered without the AA bit (not serving the zone)".into());
    }
    let Ok(msg) = hickory_proto::op::Message::from_vec(reply) else {
        return SoaReply::NoSoa("answer does not parse".into());
    };
    let rcode = msg.metadata.response_code;
    let serial = msg.answers.iter().find_map(|r| match &r.data {
        hickory_proto::rr::RData::SOA(soa) if r.name == *zone => Some(soa.serial),
        _ => None,
    });
    match serial {
        Some(s) if rcode == hickory_proto::op::ResponseCode::NoError => SoaReply::Serial(s),
        _ => SoaReply::NoSoa(format!("answered {rcode} without the zone's SOA")),
    }
}

#[cfg(test)]
mod tests;
