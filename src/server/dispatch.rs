//! One request in, the messages to send back out: the glue between the
//! sockets and the pure cores, the same for UDP and TCP.
//!
//! ```text
//!  bytes ─► message::parse_request ─► Query ─► answer(snapshot) ─► encode(limit)
//!                                   ├► Axfr  ─► TCP + allow_transfer? xfr::axfr : REFUSED
//!                                   ├► Ixfr  ─► up to date or UDP? SOA only : as AXFR
//!                                   ├► Reply(bytes) ─► bytes
//!                                   └► Drop ─► nothing
//! ```
//!
//! [`handle`] never panics: the pure calls run under `catch_unwind`, and a
//! request whose handler panicked is answered SERVFAIL (RFC 1035 §4.1.1)
//! when its header can be read, so one bad request costs one answer, not a
//! worker.

use std::borrow::Cow;
use std::net::IpAddr;
use std::panic::{AssertUnwindSafe, catch_unwind};

use hickory_proto::op::{Message, MessageType, ResponseCode};
use tracing::{debug, error};

use super::State;
use crate::answer::{Answer, Rec, answer};
use crate::message::{Edns, Query, Request, Transport, encode, parse_request};
use crate::xfr;

/// Largest DNS message on TCP (RFC 1035 §4.2.2: two-octet length).
pub const TCP_MAX: usize = 65535;
/// UDP limit without EDNS0 (RFC 1035 §2.3.4).
pub const UDP_PLAIN: usize = 512;

const RCODE_REFUSED: u16 = 5;

/// Where a request came from and how.
#[derive(Clone, Copy, Debug)]
pub struct Peer {
    pub ip: IpAddr,
    pub transport: Transport,
}

/// The messages that answer `bytes` (none, one, or an AXFR stream).
pub fn handle(state: &State, bytes: &[u8], peer: Peer) -> Vec<Vec<u8>> {
    match catch_unwind(AssertUnwindSafe(|| handle_inner(state, bytes, peer))) {
        Ok(out) => out,
        Err(_) => {
            error!(peer = %peer.ip, "request handler panicked; answering SERVFAIL");
            servfail(bytes).into_iter().collect()
        }
    }
}

fn handle_inner(state: &State, bytes: &[u8], peer: Peer) -> Vec<Vec<u8>> {
    let max_udp = state.config().server.max_udp_payload;
    match parse_request(bytes) {
        Request::Query(q) => {
            let zones = state.snapshot();
            let a = answer(&zones, &q);
            vec![encode(&q, &a, limit(&q, peer.transport, max_udp))]
        }
        // RFC 5936 §4.2: AXFR is TCP only.
        Request::Axfr(q) if peer.transport == Transport::Udp => refused(&q, max_udp),
        Request::Axfr(q) => transfer(state, &q, peer, None),
        Request::Ixfr(q, serial) => transfer(state, &q, peer, Some(serial)),
        Request::Reply(bytes) => vec![bytes],
        Request::Drop => Vec::new(),
    }
}

/// The response size limit: 512 without EDNS0, else the client's payload
/// (at least 512, RFC 6891 §6.2.5) capped by ours; 65535 on TCP.
pub fn limit(q: &Query, transport: Transport, max_udp: u16) -> usize {
    match (transport, q.edns) {
        (Transport::Tcp, _) => TCP_MAX,
        (Transport::Udp, None) => UDP_PLAIN,
        (Transport::Udp, Some(Edns { payload, .. })) => {
            usize::from(payload.min(max_udp)).max(UDP_PLAIN)
        }
    }
}

fn refused(q: &Query, max_udp: u16) -> Vec<Vec<u8>> {
    let a = Answer {
        rcode: RCODE_REFUSED,
        ..Answer::default()
    };
    vec![encode(q, &a, limit(q, Transport::Udp, max_udp))]
}

/// AXFR (RFC 5936) and IXFR (RFC 1995). Only for the apex of a served zone
/// and only to peers in its `allow_transfer`; anything else is REFUSED
/// (RFC 5936 §4.2.1, the choice BIND and Knot make). IXFR has no history
/// to diff from yet: a client that is up to date gets the SOA alone
/// (RFC 1995 §2), over UDP everyone gets the SOA alone ("fall back to TCP",
/// RFC 1995 §2), and otherwise the full zone in AXFR form (RFC 1995 §4).
fn transfer(state: &State, q: &Query, peer: Peer, ixfr: Option<Option<u32>>) -> Vec<Vec<u8>> {
    let max_udp = state.config().server.max_udp_payload;
    let zones = state.snapshot();
    let Some(zone) = zones.get(&q.qname) else {
        return refused(q, max_udp);
    };
    if !state.may_transfer(zone.origin(), peer.ip) {
        debug!(peer = %peer.ip, zone = %zone.origin(), "transfer refused by allow_transfer");
        return refused(q, max_udp);
    }
    let soa_only = match ixfr {
        None => false,
        Some(serial) => peer.transport == Transport::Udp || serial == Some(zone.serial()),
    };
    if soa_only {
        let soa = zone.soa();
        let a = Answer {
            rcode: 0,
            authoritative: true,
            answer: vec![Rec {
                owner: &soa.name,
                rr: Cow::Borrowed(soa),
            }],
            ..Answer::default()
        };
        return vec![encode(q, &a, limit(q, peer.transport, max_udp))];
    }
    xfr::axfr(zone, q)
}

/// A SERVFAIL for a request we could not answer, echoing its ID, opcode,
/// RD and question when they can be read; `None` for responses and runts.
pub fn servfail(request: &[u8]) -> Option<Vec<u8>> {
    if request.len() < 12 || request[2] & 0x80 != 0 {
        return None;
    }
    let echoed = catch_unwind(|| {
        let req = Message::from_vec(request).ok()?;
        let mut resp = Message::error_msg(
            req.metadata.id,
            req.metadata.op_code,
            ResponseCode::ServFail,
        );
        resp.metadata.message_type = MessageType::Response;
        resp.metadata.recursion_desired = req.metadata.recursion_desired;
        resp.add_queries(req.queries);
        resp.to_vec().ok()
    });
    if let Ok(Some(bytes)) = echoed {
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

    fn query(edns: Option<u16>) -> Query {
        Query {
            id: 1,
            rd: false,
            cd: false,
            qname: Name::root(),
            qtype: RecordType::A,
            qclass: 1,
            edns: edns.map(|payload| Edns {
                payload,
                version: 0,
                dnssec_ok: false,
            }),
        }
    }

    #[test]
    fn rfc6891_6_2_5_payload_limits() {
        assert_eq!(limit(&query(None), Transport::Udp, 1232), 512);
        assert_eq!(limit(&query(Some(100)), Transport::Udp, 1232), 512);
        assert_eq!(limit(&query(Some(1000)), Transport::Udp, 1232), 1000);
        assert_eq!(limit(&query(Some(4096)), Transport::Udp, 1232), 1232);
        assert_eq!(limit(&query(None), Transport::Tcp, 1232), 65535);
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
