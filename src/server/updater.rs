//! RFC 2136 UPDATE at the edge: the checks that need the configuration
//! (key, replay cache, rate limit, hosted zone, grants, RDATA), then the
//! write through the one write path ([`Store::write`](crate::store::Store::write))
//! and the signed answer.
//!
//! ```text
//!  signed UPDATE ─► replay cache: answered? ─► the same bytes again
//!                │                 in flight? ─► wait for that answer
//!                ├► rate limit ──────────── over ─► REFUSED  (WARN)
//!                ├► decoded (request::decode)? bad  ─► FORMERR
//!                ├► zone hosted? ────────── no   ─► NOTAUTH
//!                ├► every touched (owner, type) in the zone and granted?
//!                │                          no   ─► NOTZONE / REFUSED (WARN)
//!                ├► added RDATA valid? ──── no   ─► FORMERR
//!                └► PendingUpdate ─(async)─► store.write(evaluate) ─► rcode
//!   every answer ─► tsig_layer::Out::seal (signed, then kept in the replay cache)
//! ```
//!
//! `prepare` is synchronous and cheap (it runs on the query path); only
//! [`PendingUpdate::run`] awaits, on its own task.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use tracing::{debug, error, info, warn};

use super::dispatch::{Dispatcher, Step};
use super::replay::{InFlight, Seen, Waiter, Window};
use super::tsig_layer::{Out, Signing};
use crate::edge::guard::Noise;
use crate::metrics::rcode_label;
use crate::rcode::Rcode;
use crate::request::Malformed;
use crate::response::error_for;
use crate::store::{WriteOutcome, WriteRequest};
use crate::tsig::Verified;
use crate::update::{self, UpdateRequest};
use crate::zone::Zone;

/// How long an identical request waits for the first one's answer.
const WAIT_LIMIT: Duration = Duration::from_secs(60);

/// An UPDATE that passed every check and now needs the store, or an
/// identical one waiting for the answer of the first.
pub struct PendingUpdate {
    kind: Kind,
}

enum Kind {
    Write(Box<Write>),
    /// `fallback`: the SERVFAIL sent when no answer comes, unsigned.
    Wait {
        rx: Waiter,
        fallback: Vec<u8>,
        signing: Signing,
    },
}

struct Write {
    dispatcher: Arc<Dispatcher>,
    request: UpdateRequest,
    /// The key that signed it, to look up again at write time.
    key_name: crate::rr::Name,
    actor: String,
    client: SocketAddr,
    signing: Signing,
    in_flight: InFlight,
    /// The unsigned answer with RCODE 0: ID, opcode, QR, zone echoed.
    template: Vec<u8>,
    /// The request carried an OPT RR, so a SERVFAIL may say why (RFC
    /// 8914 Extended DNS Error; RFC 6891 §7: no OPT in an answer to a
    /// request without one).
    edns: bool,
}

/// `answer` (the first copy's, signed) with the message ID of `request`: a
/// client matches an answer to its request by ID (RFC 1035 §4.1.1), and a
/// retransmission may carry a new one. The MAC still verifies: RFC 8945
/// §4.3.2 digests the message "with the message ID replaced by the
/// original ID" that the TSIG RR carries.
fn with_id_of(answer: &[u8], request: &[u8]) -> Vec<u8> {
    let mut out = answer.to_vec();
    if let (Some(id), Some(from)) = (out.get_mut(..2), request.get(..2)) {
        id.copy_from_slice(from);
    }
    out
}

/// The checks of a signed, verified UPDATE (see the module diagram).
pub(super) fn prepare(
    d: &Arc<Dispatcher>,
    bytes: &[u8],
    decoded: Result<UpdateRequest, Malformed>,
    v: &Verified,
    client: SocketAddr,
    now: u64,
) -> Step {
    let signing = Signing::new(v, now, d.fudge);
    let answer = |rcode: Rcode| Step::Out(Out::sign_one(error_for(bytes, rcode), &signing));
    let keys = d.keyring();
    let Some(entry) = keys.1.entry(&v.key.name) else {
        // verify_request found the key here a moment ago.
        return answer(Rcode::ServFail);
    };
    let key = entry.actor();

    // Keyed on the MAC we computed, so a truncated re-send is the same request.
    let cache_key = (v.key.name.to_lowercase().to_ascii(), v.full_mac.clone());
    let window = Window {
        signed: v.tsig.time_signed,
        expires: v.tsig.time_signed.saturating_add(u64::from(v.tsig.fudge)),
    };
    let in_flight = match d.replay.begin(cache_key, window, now) {
        Seen::New(f) => f,
        Seen::Done(response) => {
            // Anyone who captured the request can send it again: sampled.
            if d.reject_log.line(Noise::Replay) {
                info!(%key, %client, "UPDATE already answered (retransmission or replay); the same answer again, nothing applied");
            }
            // Signed when it was first sent: sent again as it is, under
            // this copy's ID.
            return Step::Out(Out::Final(vec![with_id_of(&response, bytes)]));
        }
        Seen::Pending(rx) => {
            debug!(%key, %client, "identical UPDATE in flight; waiting for its answer");
            return Step::Update(PendingUpdate {
                kind: Kind::Wait {
                    rx,
                    fallback: error_for(bytes, Rcode::ServFail),
                    signing,
                },
            });
        }
        Seen::Forgotten => {
            if d.reject_log.line(Noise::Replay) {
                let why = if v.tsig.time_signed < d.replay.started() {
                    "signed before this server started, so it may have been answered before \
                     the restart (a client whose clock is behind ours is refused until it signs \
                     later than the start)"
                } else {
                    "signed no later than an entry the replay cache had to evict, so it may be \
                     a replay"
                };
                warn!(%key, %client, "UPDATE refused: {why}; the client should sign it again");
            }
            d.state.metrics().update("", &key, "REFUSED");
            return answer(Rcode::Refused);
        }
        Seen::Full => {
            warn!(%key, %client, "UPDATE refused: this key's replay cache is full of requests in flight");
            d.state.metrics().update("", &key, "REFUSED");
            return answer(Rcode::Refused);
        }
    };
    // From here every answer is the request's answer for good: it goes into
    // the replay cache, so a copy sent later (a replay of a request refused
    // for the rate limit, say) gets the same answer and is never applied.
    // The zone as served (never the client's spelling), "" if not served.
    let zone_label = decoded
        .as_ref()
        .ok()
        .and_then(|r| zone_label(&d.state, &r.zone))
        .unwrap_or_default();
    match check(d, decoded, entry, &key, client) {
        Ok(request) => Step::Update(PendingUpdate {
            kind: Kind::Write(Box::new(Write {
                dispatcher: d.clone(),
                request,
                key_name: v.key.name.clone(),
                actor: key,
                client,
                signing,
                in_flight,
                template: error_for(bytes, Rcode::NoError),
                edns: crate::request::has_opt(bytes),
            })),
        }),
        Err(refusal) => {
            let metrics = d.state.metrics();
            metrics.update(&zone_label, &key, rcode_label(refusal.0.code()));
            Step::Out(Out::sign(
                vec![refusal_answer(bytes, &refusal)],
                signing,
                Some(in_flight),
            ))
        }
    }
}

/// The served zone's origin as text, if `zone` is served.
fn zone_label(state: &crate::served::State, zone: &crate::rr::Name) -> Option<String> {
    let zones = state.snapshot_for_query();
    zones.get(zone).map(|z| z.origin().to_ascii())
}

/// Rate limit, decoding, zone, grants and RDATA: the request to write, or
/// the RCODE to answer.
fn check(
    d: &Dispatcher,
    decoded: Result<UpdateRequest, Malformed>,
    entry: &super::tsig_layer::KeyEntry,
    key: &str,
    client: SocketAddr,
) -> Result<UpdateRequest, Refusal> {
    // RFC 2136 §3.3: who may update what is local policy; a key over its
    // rate is refused before anything else, even a decoding error.
    if !entry.take_token() {
        warn!(%key, %client, "UPDATE refused: key is over its rate limit");
        let why = format!("key {key} is over its rate limit; try again later");
        return Err((Rcode::Refused, Some((ede::PROHIBITED, why))));
    }
    let request = decoded.map_err(|e| {
        debug!(%key, %client, "{e}");
        (Rcode::FormErr, None)
    })?;
    // RFC 2136 §3.1.2: "If the zone section names a zone for which this
    // server is not authoritative, ... signal NOTAUTH".
    if d.state.snapshot().get(&request.zone).is_none() {
        info!(%key, %client, zone = %request.zone, "UPDATE for a zone not served: NOTAUTH");
        let why = format!("zone {} is not served here", request.zone);
        return Err((Rcode::NotAuth, Some((ede::NOT_AUTHORITATIVE, why))));
    }
    check_grants(entry, &request, key, client)?;
    // Added RDATA must decode as its type: the zone file is written from it.
    for u in &request.updates {
        if u.class == request.zone_class && !crate::rdata::is_valid_wire(u.rtype, &u.rdata) {
            debug!(%key, %client, owner = %u.name, rtype = %u.rtype, "UPDATE adds malformed RDATA");
            return Err((Rcode::FormErr, None));
        }
    }
    Ok(request)
}

/// The key and its grants as the config in effect has them when the
/// write is made (it may have waited behind others): a key removed or a
/// grant withdrawn by a config reload meanwhile stops it, nothing applied.
fn still_allowed(
    d: &Dispatcher,
    key_name: &crate::rr::Name,
    request: &UpdateRequest,
) -> Result<(), Rcode> {
    let keys = d.keyring();
    let Some(entry) = keys.1.entry(key_name) else {
        warn!(key = %key_name, zone = %request.zone, "UPDATE not applied: its key was removed by a config reload while it waited");
        return Err(Rcode::NotAuth);
    };
    for (owner, rtype) in update::touched(request) {
        if !entry.grants.allows(&request.zone, &owner, rtype) {
            warn!(
                key = %key_name, zone = %request.zone, %owner, %rtype,
                "UPDATE not applied: a config reload withdrew the grant while it waited"
            );
            return Err(Rcode::Refused);
        }
    }
    Ok(())
}

/// Why an UPDATE is refused: its RCODE, and for the client's user an RFC
/// 8914 Extended DNS Error (INFO-CODE, EXTRA-TEXT) when there is a reason
/// to give.
type Refusal = (Rcode, Option<(u16, String)>);

/// RFC 8914 §4 INFO-CODEs used here, and the texts of SERVFAILs.
mod ede {
    /// "0 - Other Error": a write that failed.
    pub const OTHER: u16 = 0;
    /// A write that was made neither in the file nor in git.
    pub const FAILED: &str = "the write failed and is not kept (the zone file could not be read, \
                              written or committed, or this zone's setup refuses writes); the \
                              server log has the details";
    /// An UPDATE the server had no room to start.
    pub const BUSY: &str = "too many UPDATEs in progress; nothing applied, try again";
    /// "18 - Prohibited": policy (grants, rate limit).
    pub const PROHIBITED: u16 = 18;
    /// "20 - Not Authoritative".
    pub const NOT_AUTHORITATIVE: u16 = 20;
}

/// The answer to a refused UPDATE: with the Extended DNS Error when the
/// request carried an OPT RR (RFC 6891 §7: no OPT in a response to a
/// request without one), before the TSIG the layer adds.
fn refusal_answer(bytes: &[u8], (rcode, why): &Refusal) -> Vec<u8> {
    let msg = error_for(bytes, *rcode);
    match why {
        Some((code, text)) if crate::request::has_opt(bytes) => {
            crate::response::with_ede(msg, *code, text)
        }
        _ => msg,
    }
}

/// Every (owner, type) the update section touches must be in the zone
/// (RFC 2136 §3.4.1.3: else NOTZONE) and allowed by one of the key's
/// grants; one refusal refuses the whole UPDATE, nothing is applied.
fn check_grants(
    entry: &super::tsig_layer::KeyEntry,
    request: &UpdateRequest,
    key: &str,
    client: SocketAddr,
) -> Result<(), Refusal> {
    for (owner, rtype) in update::touched(request) {
        if !request.zone.zone_of(&owner) {
            info!(%key, %client, zone = %request.zone, %owner, "UPDATE names a record outside the zone: NOTZONE");
            return Err((Rcode::NotZone, None));
        }
        if !entry.grants.allows(&request.zone, &owner, rtype) {
            warn!(
                %key, %client, zone = %request.zone, %owner, %rtype,
                "UPDATE refused: the key's grants do not cover this record; nothing applied"
            );
            let why = format!("key {key} may not change {rtype} at {owner} (its grants)");
            return Err((Rcode::Refused, Some((ede::PROHIBITED, why))));
        }
    }
    Ok(())
}

impl PendingUpdate {
    /// Writes (or waits for the identical request's answer) and returns
    /// the answer to send, sealed by the TSIG layer.
    pub async fn run(self) -> Vec<u8> {
        let out = match self.kind {
            Kind::Write(w) => w.run().await,
            Kind::Wait {
                mut rx,
                fallback,
                signing,
            } => {
                let got = tokio::time::timeout(WAIT_LIMIT, rx.wait_for(Option::is_some)).await;
                match got {
                    // The first request's answer, already sealed, under
                    // this copy's ID.
                    Ok(Ok(answer)) if answer.is_some() => Out::Final(
                        answer
                            .as_deref()
                            .map(|a| with_id_of(a, &fallback))
                            .into_iter()
                            .collect(),
                    ),
                    _ => Out::sign_one(fallback, &signing),
                }
            }
        };
        out.seal().into_iter().next().unwrap_or_default()
    }

    /// The answer when the server is too busy to start the write: a
    /// SERVFAIL (signed); nothing is applied and nothing is cached.
    pub fn busy(self) -> Vec<u8> {
        let out = match self.kind {
            Kind::Write(w) => {
                warn!(key = %w.actor, client = %w.client, "UPDATE not started: too many UPDATEs in progress");
                let msg = failure(w.template, w.edns, ede::BUSY);
                Out::sign_one(msg, &w.signing)
            }
            Kind::Wait {
                fallback, signing, ..
            } => Out::sign_one(fallback, &signing),
        };
        out.seal().into_iter().next().unwrap_or_default()
    }
}

impl Write {
    /// The write through the store, and its answer (unsigned, with the
    /// replay-cache entry to keep it in).
    async fn run(self) -> Out {
        let Write {
            dispatcher,
            request,
            key_name,
            actor,
            client,
            mut signing,
            in_flight,
            template,
            edns,
        } = self;
        let zone = request.zone.clone();
        let d = dispatcher.clone();
        let write = WriteRequest {
            zone: zone.clone(),
            actor: actor.clone(),
            client,
            via: "rfc2136",
            compute: Box::new(move |z: &Zone| {
                still_allowed(&d, &key_name, &request)?;
                update::evaluate(z, &request)
            }),
        };
        // Its own task: a panic in the store or in `compute` ends that task
        // only, and this one still answers SERVFAIL.
        let store = dispatcher.store.clone();
        let result = tokio::spawn(async move { store.write(write).await }).await;
        // Why a change was refused as invalid, for the client's user (the
        // REST API says the same in its 422).
        let mut invalid = None;
        let (code, outcome) = match result {
            Ok(Ok(WriteOutcome::Unchanged)) => {
                (Rcode::NoError, "NOERROR, nothing changed".to_string())
            }
            Ok(Ok(WriteOutcome::Written {
                old_serial,
                new_serial,
                commit,
                logged,
            })) => {
                let commit = match (commit.as_deref(), logged) {
                    (_, true) => "follows (the write is in the write log)",
                    (Some(id), false) => id,
                    (None, false) => "unchanged (HEAD already had it)",
                };
                let text = format!("NOERROR, serial {old_serial} -> {new_serial}, commit {commit}");
                (Rcode::NoError, text)
            }
            Ok(Err(e)) => {
                if let crate::store::WriteError::Invalid(_) = &e {
                    invalid = Some(e.to_string());
                }
                (e.rcode(), format!("{}: {e}", e.rcode()))
            }
            Err(e) => {
                error!(key = %actor, %client, zone = %zone, "UPDATE write task failed: {e}");
                (Rcode::ServFail, "SERVFAIL: write task failed".to_string())
            }
        };
        let label = zone_label(&dispatcher.state, &zone).unwrap_or_default();
        let metrics = dispatcher.state.metrics();
        metrics.update(&label, &actor, rcode_label(code.code()));
        if code == Rcode::ServFail {
            warn!(key = %actor, %client, zone = %zone, outcome = %outcome, "UPDATE");
        } else {
            info!(key = %actor, %client, zone = %zone, outcome = %outcome, "UPDATE");
        }
        // Signed now, seconds after the request maybe.
        signing.time = (dispatcher.clock)();
        let msg = match invalid {
            _ if code == Rcode::ServFail => failure(template, edns, ede::FAILED),
            // RFC 8914 §4.19 "Prohibited" fits a grant; a change that would
            // break the zone is "Other Error" with the reason (round 49: a
            // DNAME above existing names was REFUSED without one).
            Some(why) if edns => {
                crate::response::with_ede(with_rcode(template, code), ede::OTHER, &why)
            }
            _ => with_rcode(template, code),
        };
        Out::sign(vec![msg], signing, Some(in_flight))
    }
}

/// A SERVFAIL, saying why in an Extended DNS Error (INFO-CODE 0, "Other
/// Error") when the request had an OPT RR. Only what the client may know:
/// the details (file paths, the other zone) are in the server's log, as
/// the REST API's 500 says too.
fn failure(template: Vec<u8>, edns: bool, why: &str) -> Vec<u8> {
    let msg = with_rcode(template, Rcode::ServFail);
    if edns {
        crate::response::with_ede(msg, ede::OTHER, why)
    } else {
        msg
    }
}

/// Sets the 4-bit RCODE of an encoded message (every UPDATE rcode fits).
fn with_rcode(mut msg: Vec<u8>, code: Rcode) -> Vec<u8> {
    if let Some(b) = msg.get_mut(3) {
        *b = (*b & 0xF0) | code.header_bits() as u8;
    }
    msg
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rcode_is_set_in_place() {
        let m = with_rcode(vec![0, 1, 0xA8, 0x00, 0, 1], Rcode::NotAuth);
        assert_eq!(m[3], 9);
        assert_eq!(m[2], 0xA8);
    }
}
