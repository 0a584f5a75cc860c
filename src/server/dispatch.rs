//! One request in, the messages to send back out: the glue between the
//! sockets and the pure cores, the same for UDP and TCP.
//!
//! ```text
//!  bytes ─► Header::read (QR=1, runt ─► nothing)
//!        ─► TSIG? tsig::verify_request ─► rejected ─► NOTAUTH/FORMERR (tsig_layer::reject)
//!        ─► UPDATE unsigned ─► REFUSED (not decoded)
//!        ─► request::decode (once, up to the verified TSIG RR)
//!             ├► Update ─► update::prepare ─► Handled::Update (async: store.write)
//!             ├► Query  ─► answer(snapshot) ─► encode(limit - TSIG)
//!             ├► Axfr   ─► TCP + allow_transfer (CIDR or key:NAME)? xfr::axfr : REFUSED
//!             ├► Ixfr   ─► up to date or UDP? SOA only
//!             │           : ixfr_steps (git journal diff) or as AXFR
//!             ├► Refuse ─► response::refusal (NOTIMP, FORMERR, BADVERS)
//!             └► Drop   ─► nothing
//!     every answer ─► tsig_layer::Out::seal: signed when the request verified
//! ```
//!
//! [`Dispatcher::handle`] is synchronous and never panics: it runs under
//! `catch_unwind`, and a request whose handler panicked is answered
//! SERVFAIL (RFC 1035 §4.1.1) when its header can be read, so one bad
//! request costs one answer, not a worker. The one slow thing, an UPDATE's
//! write, comes back as [`Handled::Update`] for the caller to run on a task
//! of its own, so queries never wait for it.

use std::borrow::Cow;
use std::net::SocketAddr;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use tracing::{debug, error, info, warn};

use super::replay::{self, ReplayCache};
use super::tsig_layer::{Keyring, LiveKeys, Out, Signing, reject};
pub use super::updater::PendingUpdate;
use crate::answer::answer;
use crate::edge::guard::{Budget, Noise, RejectLog, Source};
use crate::journal::Journal;
use crate::metrics::Proto;
use crate::rcode::Rcode;
use crate::request::{Header, OUR_PAYLOAD, Query, Request, Transport, decode, opcode, size_limit};
use crate::response::{Answer, MessageWriter, Rec, encode, error_for, refusal, response_flags};
use crate::served::State;
use crate::store::Store;
use crate::tsig;
use crate::xfr;

/// Largest DNS message on TCP (RFC 1035 §4.2.2: two-octet length).
pub const TCP_MAX: usize = 65535;
/// UDP limit without EDNS0 (RFC 1035 §2.3.4).
pub const UDP_PLAIN: usize = 512;

/// Where a request came from and how.
#[derive(Clone, Copy, Debug)]
pub struct Peer {
    pub addr: SocketAddr,
    pub transport: Transport,
}

/// Seconds since the epoch, as TSIG counts them.
pub type Clock = Arc<dyn Fn() -> u64 + Send + Sync>;

/// The system clock.
pub fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// A request handled, before the TSIG layer: an answer to seal, or an
/// UPDATE to run (it seals its own answer through the same layer).
pub(super) enum Step {
    Out(Out),
    Update(PendingUpdate),
}

/// What [`Dispatcher::handle`] made of a request.
pub enum Handled {
    /// Send these (none, one, or a transfer stream), in order.
    Reply(Vec<Vec<u8>>),
    /// An UPDATE to run on a task of its own; send what it returns.
    Update(PendingUpdate),
}

impl Handled {
    /// The replies, for callers that know no UPDATE is involved (tests).
    pub fn into_replies(self) -> Option<Vec<Vec<u8>>> {
        match self {
            Handled::Reply(r) => Some(r),
            Handled::Update(_) => None,
        }
    }
}

/// Everything a request may need: the served state, the write path, the
/// keys, the replay cache and the clock. One per server, shared.
pub struct Dispatcher {
    pub(super) state: Arc<State>,
    pub(super) store: Arc<Store>,
    pub(super) keys: LiveKeys,
    pub(super) replay: Arc<ReplayCache>,
    pub(super) clock: Clock,
    /// `[tsig] fudge`: for our signatures, and the most time skew accepted.
    pub(super) fudge: u16,
    /// The zones' git history, for IXFR (RFC 1995).
    pub(super) journal: Journal,
    /// `[rest] fallback`: the A answer for names with no data in REST zones.
    pub(super) fallback: Option<crate::fallback::Fallback>,
    /// Per-source budget of rejected signatures (`[tsig] reject_limit`).
    pub(super) budget: Budget,
    /// Sampled logging of rejections anyone can cause.
    pub(super) reject_log: RejectLog,
}

impl Dispatcher {
    /// A dispatcher on the system clock, for a server that started when
    /// `state` was made ([`State::created_at`]).
    pub fn new(state: Arc<State>, store: Arc<Store>) -> Dispatcher {
        let started = state.created_at();
        Dispatcher::with_clock(state, store, Arc::new(unix_now), started)
    }

    /// A dispatcher whose TSIG clock is `clock`, for a server that started
    /// at `started` (tests): UPDATEs signed before then are refused,
    /// as they may have been answered before a restart (see the replay cache, `server::replay`).
    pub fn with_clock(
        state: Arc<State>,
        store: Arc<Store>,
        clock: Clock,
        started: u64,
    ) -> Dispatcher {
        let config = state.config().clone();
        Dispatcher {
            keys: LiveKeys::new(config.clone()),
            fudge: config.tsig_fudge,
            journal: Journal::new(config.zones_dir.clone()),
            replay: Arc::new(ReplayCache::new(replay::CAPACITY, started)),
            budget: Budget::new(config.tsig_reject_limit),
            reject_log: RejectLog::default(),
            fallback: config.rest.as_ref().and_then(|r| {
                Some(crate::fallback::Fallback {
                    addr: r.fallback?,
                    ttl: r.ttl,
                    zones: r.zones.clone(),
                })
            }),
            state,
            store,
            clock,
        }
    }

    /// The keys of the configuration in effect.
    pub(super) fn keyring(&self) -> Arc<(Arc<crate::config::Config>, Keyring)> {
        self.keys.get(self.state.config())
    }

    /// Number of configured TSIG keys.
    pub fn key_count(&self) -> usize {
        self.keyring().1.len()
    }

    /// What to send back for `bytes`: every answer leaves through the TSIG
    /// layer ([`Out::seal`]), signed when the request verified.
    pub fn handle(self: &Arc<Self>, bytes: &[u8], peer: Peer) -> Handled {
        let arrived = std::time::Instant::now();
        let sealed = catch_unwind(AssertUnwindSafe(|| match self.handle_inner(bytes, peer) {
            Step::Out(out) => Handled::Reply(out.seal()),
            Step::Update(p) => Handled::Update(p),
        }));
        let handled = match sealed {
            Ok(handled) => handled,
            Err(_) => {
                error!(peer = %peer.addr, "request handler panicked; answering SERVFAIL");
                let msgs = self.servfail_out(bytes).seal();
                if Header::read(bytes).is_some_and(|h| h.op() != opcode::UPDATE) {
                    // Answered without reading the question: no zone, type `other`.
                    self.count(None, 0, peer, &msgs);
                }
                Handled::Reply(msgs)
            }
        };
        // The answer time of what was answered here (not of a dropped
        // datagram, nor of an UPDATE: those have their own histogram).
        if let Handled::Reply(msgs) = &handled
            && !msgs.is_empty()
            && Header::read(bytes).is_some_and(|h| h.op() != opcode::UPDATE)
        {
            let metrics = self.state.metrics();
            metrics.answered(proto(peer.transport), arrived.elapsed());
        }
        handled
    }

    /// SERVFAIL for a request whose handler panicked, to be signed when the
    /// request verified (RFC 8945 §5.3: every answer to a signed request
    /// is signed, errors included).
    fn servfail_out(&self, bytes: &[u8]) -> Out {
        let Some(msg) = servfail(bytes) else {
            return Out::Final(Vec::new());
        };
        let now = (self.clock)();
        let verified = catch_unwind(AssertUnwindSafe(|| {
            let keys = self.keyring();
            tsig::verify_request(bytes, |n| keys.1.lookup(n), now, self.fudge)
        }));
        match verified {
            Ok(Ok(Some(v))) => Out::sign_one(msg, &Signing::new(&v, now, self.fudge)),
            _ => Out::Final(vec![msg]),
        }
    }

    fn handle_inner(self: &Arc<Self>, bytes: &[u8], peer: Peer) -> Step {
        // RFC 1035 §4.1.1 QR=1: a response; never answer it (nor a runt).
        let Some(header) = Header::read(bytes).filter(|h| !h.is_response()) else {
            return Step::Out(Out::Final(Vec::new()));
        };
        let now = (self.clock)();
        let source = Source::new(peer.addr, peer.transport);
        // RFC 8945 §5.2: verify any TSIG over the bytes as received. The
        // keyring is looked up only for a request that carries a TSIG RR
        // (the shared `Arc`s it clones cost both UDP threads on every
        // query otherwise).
        let keys = std::cell::OnceCell::new();
        let lookup = |n: &crate::rr::Name| keys.get_or_init(|| self.keyring()).1.lookup(n);
        let verified = match tsig::verify_request(bytes, lookup, now, self.fudge) {
            Ok(v) => v,
            Err(r) => {
                // A source over its budget learns nothing more from its
                // rejections. Its valid requests still verify and are
                // answered, so a spoofer who burns a real client's UDP
                // budget cannot lock that client out.
                if self.budget.is_blocked(&source) {
                    return Step::Out(Out::Final(self.over_budget(bytes, peer)));
                }
                // The rejection that empties the budget is answered as the
                // ones after it will be: nothing to compare with the others.
                if self.budget.reject(source) {
                    self.log_rejection(bytes, &r, peer, true);
                    return Step::Out(Out::Final(self.over_budget(bytes, peer)));
                }
                self.log_rejection(bytes, &r, peer, false);
                let msgs = vec![reject(bytes, &r, now, self.fudge)];
                if header.op() == opcode::UPDATE {
                    self.count_rejected_update(bytes, &r);
                } else {
                    // Answered without reading the question: no zone, type `other`.
                    self.count(None, 0, peer, &msgs);
                }
                return Step::Out(Out::Final(msgs));
            }
        };
        // RFC 2136 §3.3: "the server ... may check ... whether the
        // requestor is permitted to update the zone"; unsigned requestors
        // never are, and their UPDATE is not decoded.
        if header.op() == opcode::UPDATE && verified.is_none() {
            return self.unsigned_update(bytes, peer);
        }
        // The one decode, up to the verified TSIG RR.
        let request = decode(bytes, verified.as_ref().map(|v| v.start));
        match (request, verified) {
            (Request::Update(update), Some(v)) => {
                super::updater::prepare(self, bytes, update, &v, peer.addr, now)
            }
            (Request::Update(_), None) => self.unsigned_update(bytes, peer),
            (request, None) => Step::Out(Out::Final(self.reply(request, peer, None))),
            (request, Some(v)) => {
                let signing = Signing::new(&v, now, self.fudge);
                let msgs = self.reply(request, peer, Some(&signing));
                Step::Out(Out::sign(msgs, signing, None))
            }
        }
    }

    /// `zonewright_dns_updates_total` for an UPDATE whose TSIG failed: the
    /// key only when it is one of ours (a client's made-up names must not
    /// grow the label set), the zone not read.
    fn count_rejected_update(&self, bytes: &[u8], r: &tsig::Rejection) {
        let found = tsig::find(bytes).ok().flatten().map(|f| f.tsig);
        let keys = self.keyring();
        let ours = found.and_then(|t| keys.1.lookup(&t.key_name));
        // Spelled as the key's writes are (`acme-key`, the git author).
        let key = ours.map_or_else(
            || "unknown".to_owned(),
            |k| k.name.to_ascii().trim_end_matches('.').to_owned(),
        );
        let result = match r {
            tsig::Rejection::BadKey => "BADKEY",
            tsig::Rejection::BadSig => "BADSIG",
            tsig::Rejection::BadTrunc => "BADTRUNC",
            tsig::Rejection::BadTime { .. } => "BADTIME",
            tsig::Rejection::Malformed(_) => "FORMERR",
        };
        self.state.metrics().update("", &key, result);
    }

    /// REFUSED, unsigned, with a sampled log line.
    fn unsigned_update(&self, bytes: &[u8], peer: Peer) -> Step {
        self.state.metrics().update("", "", "REFUSED");
        if self.reject_log.line(Noise::UnsignedUpdate) {
            info!(peer = %peer.addr, "unsigned UPDATE refused");
        }
        Step::Out(Out::Final(vec![error_for(bytes, Rcode::Refused)]))
    }

    /// The answer to a rejected signed request from a source that has used
    /// up its budget of rejections: none over UDP (the address may be
    /// spoofed, and an answer would tell a guesser something), REFUSED over
    /// TCP (the source is proven, and the connection should not hang).
    fn over_budget(&self, bytes: &[u8], peer: Peer) -> Vec<Vec<u8>> {
        if self.reject_log.line(Noise::OverBudget) {
            info!(
                peer = %peer.addr, transport = ?peer.transport,
                "rejected signed request not answered: this source is over its budget of \
                 rejected signatures ([tsig] reject_limit)"
            );
        }
        let msgs = match peer.transport {
            Transport::Udp => Vec::new(),
            Transport::Tcp => vec![error_for(bytes, Rcode::Refused)],
        };
        if Header::read(bytes).is_some_and(|h| h.op() != opcode::UPDATE) {
            // Answered without reading the question: no zone, type `other`.
            self.count(None, 0, peer, &msgs);
        }
        msgs
    }

    /// One line per rejected signature: a WARN naming the key when it is
    /// one of ours (the operator needs it to fix a client), sampled INFO
    /// otherwise. Names from the packet are logged escaped (`?`).
    fn log_rejection(&self, bytes: &[u8], r: &tsig::Rejection, peer: Peer, exhausted: bool) {
        let found = tsig::find(bytes).ok().flatten().map(|f| f.tsig);
        let key_name = found.as_ref().map(|t| t.key_name.to_ascii());
        let algorithm = found.as_ref().map(|t| t.algorithm.to_ascii());
        let keys = self.keyring();
        let ours = found.as_ref().and_then(|t| keys.1.lookup(&t.key_name));
        let kind = match (r, ours) {
            (tsig::Rejection::Malformed(_), _) => Noise::Malformed,
            (tsig::Rejection::BadKey, None) => Noise::UnknownKey,
            _ => Noise::KnownKey,
        };
        let may_log = match ours {
            Some(k) if kind == Noise::KnownKey => self.reject_log.key_line(&k.name.to_ascii()),
            _ => self.reject_log.line(kind),
        };
        if !may_log {
            return;
        }
        let budget = if exhausted {
            "; this source is now over its budget of rejections ([tsig] reject_limit)"
        } else {
            ""
        };
        match (kind, ours) {
            (Noise::KnownKey, Some(k)) => {
                // The request's algorithm name comes from the packet:
                // quoted and escaped.
                let used = algorithm.as_deref().unwrap_or("none");
                let reason = match r {
                    tsig::Rejection::BadKey => format!(
                        "key {} is {}; the request used {used:?} (BADKEY)",
                        k.name, k.algorithm
                    ),
                    other => format!("{other} (key {}, {})", k.name, k.algorithm),
                };
                warn!(client = %peer.addr, "signed request rejected: {reason}{budget}");
            }
            _ => info!(
                // Names from the packet, escaped (`?`).
                key = ?key_name.as_deref().unwrap_or("none"),
                algorithm = ?algorithm.as_deref().unwrap_or("none"),
                client = %peer.addr,
                "signed request rejected: {r}{budget}"
            ),
        }
    }

    /// Queries, transfers and the opcodes we don't implement, unsigned
    /// unless `signing`;
    /// `signing` (the request verified) leaves room for the TSIG RR in
    /// each message and names the key `allow_transfer` may list.
    fn reply(&self, request: Request, peer: Peer, signing: Option<&Signing>) -> Vec<Vec<u8>> {
        let state = &self.state;
        let max_udp = state.config_now().server.max_udp_payload;
        let reserve = signing.map_or(0, Signing::rr_len);
        match request {
            Request::Query(q) if q.qclass == crate::response::CLASS_CH => {
                let server = &state.config().server;
                let limit = size_limit(&q, peer.transport, max_udp).saturating_sub(reserve);
                let (id, version) = (server.identity.as_deref(), server.version.as_deref());
                let msgs: Vec<Vec<u8>> = crate::response::chaos(&q, id, version, limit)
                    .into_iter()
                    .collect();
                self.count(None, u16::from(q.qtype), peer, &msgs);
                msgs
            }
            Request::Query(q) => {
                let zones = state.snapshot_for_query();
                let mut a = answer(&zones, &q);
                if let Some(fb) = &self.fallback {
                    crate::fallback::apply(&mut a, &q, &zones, fb);
                }
                let qtype = u16::from(q.qtype);
                let metrics = state.metrics();
                metrics.query(a.zone, qtype, proto(peer.transport), a.rcode.code());
                vec![encode_within(
                    &q,
                    &a,
                    size_limit(&q, peer.transport, max_udp),
                    reserve,
                )]
            }
            // RFC 5936 §4.2: AXFR is TCP only.
            Request::Axfr(q) if peer.transport == Transport::Udp => {
                // The served origin, never the client's spelling of it.
                let zones = state.snapshot_for_query();
                let zone = zones.get(&q.qname).map(|z| z.origin().to_ascii());
                let zone = zone.unwrap_or_default();
                state.metrics().transfer(&zone, "axfr", "refused");
                let msgs = refused(&q, max_udp);
                self.count_transfer(&q, peer, &msgs);
                msgs
            }
            Request::Axfr(q) => {
                let msgs = transfer(state, &q, peer, signing, None, reserve, &self.journal);
                self.count_transfer(&q, peer, &msgs);
                msgs
            }
            Request::Ixfr(q, serial) => {
                let msgs = transfer(
                    state,
                    &q,
                    peer,
                    signing,
                    Some(serial),
                    reserve,
                    &self.journal,
                );
                self.count_transfer(&q, peer, &msgs);
                msgs
            }
            Request::Refuse(r) => {
                let msgs = vec![refusal(&r)];
                let qtype = r.question.as_ref().map_or(0, |q| q.qtype);
                // BADVERS (16) is carried in the OPT RR, not the header.
                let rcode = r.rcode.code();
                self.state
                    .metrics()
                    .query(None, qtype, proto(peer.transport), rcode);
                msgs
            }
            // Taken by `handle_inner` (prepared or refused).
            Request::Update(_) | Request::Drop => Vec::new(),
        }
    }
}

impl Dispatcher {
    /// Counts an answer in `dns_requests_total` and `dns_responses_total`
    /// by the RCODE its first message carries (nothing when none is sent).
    fn count(&self, zone: Option<&Arc<str>>, qtype: u16, peer: Peer, msgs: &[Vec<u8>]) {
        if let Some(rcode) = msgs.first().and_then(|m| header_rcode(m)) {
            self.state
                .metrics()
                .query(zone, qtype, proto(peer.transport), rcode);
        }
    }

    /// [`Dispatcher::count`] for a transfer: the zone when the question
    /// names a served apex.
    fn count_transfer(&self, q: &Query, peer: Peer, msgs: &[Vec<u8>]) {
        let zones = self.state.snapshot_for_query();
        let zone = zones.get(&q.qname).map(|z| z.label());
        self.count(zone, u16::from(q.qtype), peer, msgs);
    }
}

/// The RCODE in a message's header (the low four bits of octet 3).
fn header_rcode(msg: &[u8]) -> Option<u16> {
    msg.get(3).map(|b| u16::from(b & 0x0f))
}

fn proto(t: Transport) -> Proto {
    match t {
        Transport::Udp => Proto::Udp,
        Transport::Tcp => Proto::Tcp,
    }
}

/// Encodes within `limit` less `reserve` octets for the TSIG RR. RFC 8945
/// §5.3: "If the TSIG record cannot be added without causing the message
/// to be truncated, the server MUST alter the response so that a TSIG can
/// be included. This response contains only the question and a TSIG
/// record, has the TC bit set, and has an RCODE of 0 (NOERROR)." (encode
/// never goes below 512 octets, so that case does happen for plain UDP.)
fn encode_within(q: &Query, a: &Answer<'_>, limit: usize, reserve: usize) -> Vec<u8> {
    let msg = encode(q, a, limit.saturating_sub(reserve));
    if reserve == 0 || msg.len() + reserve <= limit {
        return msg;
    }
    let flags = response_flags(0, false, true, q.rd, q.cd, Rcode::NoError);
    let mut w = MessageWriter::new(q.id, flags, TCP_MAX);
    w.question(&q.qname, u16::from(q.qtype), q.qclass);
    let mut w = w.additional();
    if q.edns.is_some() {
        w.opt(OUR_PAYLOAD, Rcode::NoError);
    }
    w.finish()
}

fn refused(q: &Query, max_udp: u16) -> Vec<Vec<u8>> {
    let a = Answer {
        rcode: Rcode::Refused,
        ..Answer::default()
    };
    vec![encode(q, &a, size_limit(q, Transport::Udp, max_udp))]
}

/// AXFR (RFC 5936) and IXFR (RFC 1995). Only for the apex of a served zone
/// and only to peers in its `allow_transfer` (by address, or by the TSIG
/// key `signing` says the request verified with); anything else is REFUSED
/// (RFC 5936 §4.2.1, the choice BIND and Knot make). IXFR: a client that
/// is up to date gets the SOA alone (RFC 1995 §2), over UDP everyone gets
/// the SOA alone ("fall back to TCP", RFC 1995 §2), a client whose version
/// is in the zone file's git history gets the differences (RFC 1995 §4,
/// [`super::ixfr_steps`]), and otherwise the full zone in AXFR form.
/// `reserve` octets of each message are left for a TSIG RR.
fn transfer(
    state: &State,
    q: &Query,
    peer: Peer,
    signing: Option<&Signing>,
    ixfr: Option<Option<u32>>,
    reserve: usize,
    journal: &Journal,
) -> Vec<Vec<u8>> {
    let max_udp = state.config().server.max_udp_payload;
    let kind = if ixfr.is_some() { "ixfr" } else { "axfr" };
    let metrics = state.metrics();
    let zones = state.snapshot();
    let Some(zone) = zones.get(&q.qname) else {
        metrics.transfer("", kind, "refused");
        return refused(q, max_udp);
    };
    let label = zone.origin().to_ascii();
    let key = signing.map(|s| &s.key.name);
    if !state.may_transfer(zone.origin(), peer.addr.ip(), key) {
        // Signed by `query` when the request was: RFC 8945 §5.3.
        debug!(peer = %peer.addr, zone = %zone.origin(), "transfer refused by allow_transfer");
        metrics.transfer(&label, kind, "refused");
        return refused(q, max_udp);
    }
    let soa_only = match ixfr {
        None => false,
        Some(serial) => peer.transport == Transport::Udp || serial == Some(zone.serial()),
    };
    if soa_only {
        metrics.transfer(&label, kind, "soa");
        let soa = zone.soa();
        let a = Answer {
            rcode: Rcode::NoError,
            authoritative: true,
            answer: vec![Rec {
                owner: &soa.name,
                rr: Cow::Borrowed(soa),
            }],
            ..Answer::default()
        };
        return vec![encode_within(
            q,
            &a,
            size_limit(q, peer.transport, max_udp),
            reserve,
        )];
    }
    // RFC 1995 §4: the differences from the client's version when the git
    // history has them (super::ixfr_steps), else the whole zone.
    if let Some(Some(serial)) = ixfr
        && let Some(msgs) = super::ixfr_steps::incremental(state, journal, zone, q, serial, reserve)
    {
        info!(
            peer = %peer.addr, zone = %zone.origin(), from = serial, to = zone.serial(),
            messages = msgs.len(), "IXFR answered incrementally"
        );
        metrics.transfer(&label, kind, "incremental");
        return msgs;
    }
    metrics.transfer(&label, kind, "full");
    xfr::axfr_with_max(zone, q, xfr::MAX_MESSAGE - reserve)
}

/// A SERVFAIL for a request we could not answer, echoing its ID, opcode,
/// RD and question when they can be read; `None` for responses and runts.
/// Built like every error response ([`error_for`]), under `catch_unwind`
/// (it runs after a handler panicked): header only if even that fails.
pub fn servfail(request: &[u8]) -> Option<Vec<u8>> {
    if request.len() < 12 || request[2] & 0x80 != 0 {
        return None;
    }
    if let Ok(bytes) = catch_unwind(|| error_for(request, Rcode::ServFail)) {
        return Some(bytes);
    }
    // Header only: ID, QR=1 with the request's opcode and RD, RCODE=2.
    let mut out = vec![0u8; 12];
    out[..2].copy_from_slice(&request[..2]);
    out[2] = 0x80 | (request[2] & 0x79);
    out[3] = 2;
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rr::{Name, RecordType};
    use hickory_proto::op::{Message, MessageType, ResponseCode};

    fn query(edns: Option<u16>) -> Query {
        Query {
            id: 1,
            rd: false,
            cd: false,
            qname: Name::root(),
            qtype: RecordType::A,
            qclass: 1,
            edns: edns.map(|payload| crate::request::Edns {
                payload,
                version: 0,
                dnssec_ok: false,
            }),
        }
    }

    #[test]
    fn rfc6891_6_2_5_payload_limits() {
        assert_eq!(size_limit(&query(None), Transport::Udp, 1232), 512);
        assert_eq!(size_limit(&query(Some(100)), Transport::Udp, 1232), 512);
        assert_eq!(size_limit(&query(Some(1000)), Transport::Udp, 1232), 1000);
        assert_eq!(size_limit(&query(Some(4096)), Transport::Udp, 1232), 1232);
        assert_eq!(size_limit(&query(None), Transport::Tcp, 1232), 65535);
    }

    #[test]
    fn servfail_echoes_header() {
        let mut q = Message::query();
        q.metadata.id = 0x1234;
        q.metadata.recursion_desired = true;
        q.add_query(hickory_proto::op::Query::query(
            Name::from_ascii("www.example.com.").expect("name"),
            RecordType::A,
        ));
        let bytes = q.to_vec().expect("encode");
        let resp = Message::from_vec(&servfail(&bytes).expect("resp")).expect("decode");
        assert_eq!(resp.metadata.id, 0x1234);
        assert_eq!(resp.metadata.response_code, ResponseCode::ServFail);
        assert_eq!(resp.metadata.message_type, MessageType::Response);
        assert!(resp.metadata.recursion_desired);
        assert_eq!(resp.queries.len(), 1);
    }

    #[test]
    fn servfail_header_only_for_garbage() {
        let garbage = [0xab, 0xcd, 0x01, 0x00, 0xff, 0xff, 0, 0, 0, 0, 0, 0, 1];
        let out = servfail(&garbage).expect("resp");
        assert_eq!(&out[..4], &[0xab, 0xcd, 0x81, 0x02]);
        assert_eq!(servfail(&[0; 5]), None);
        let mut response = garbage;
        response[2] |= 0x80;
        assert_eq!(servfail(&response), None);
    }
}
