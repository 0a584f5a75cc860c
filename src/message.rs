//! PURE: the request side of the wire (RFC 1035 §4.1) and response encoding
//! with EDNS0 (RFC 6891) and truncation.
//!
//! STUB: interface only; implementation to follow.

use crate::answer::Answer;
use crate::rr::{Name, RecordType};

/// How the request arrived; decides size limits and what is allowed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Transport {
    Udp,
    Tcp,
}

/// EDNS0 parameters from the request's OPT record (RFC 6891 §6.1.3).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Edns {
    pub payload: u16,
    pub version: u8,
    pub dnssec_ok: bool,
}

/// A decoded standard query (opcode QUERY, one question).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Query {
    pub id: u16,
    pub rd: bool,
    pub cd: bool,
    pub qname: Name,
    pub qtype: RecordType,
    pub qclass: u16,
    pub edns: Option<Edns>,
}

/// What a request asks for, decided from the header and question alone.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Request {
    Query(Query),
    Axfr(Query),
    /// IXFR with the client's serial from its authority-section SOA (RFC 1995 §3).
    Ixfr(Query, Option<u32>),
    /// Any other opcode: answered with the given response bytes (NOTIMP, FORMERR, ...).
    Reply(Vec<u8>),
    /// Not answerable at all (a response, or too short to carry an ID).
    Drop,
}

/// Classifies raw request bytes.
pub fn parse_request(bytes: &[u8]) -> Request {
    let _ = bytes;
    Request::Drop
}

/// Encodes `answer` for `query`, within `limit` bytes; sets TC and drops
/// whole RRsets when they don't fit (RFC 2181 §9).
pub fn encode(query: &Query, answer: &Answer, limit: usize) -> Vec<u8> {
    let _ = (query, answer, limit);
    Vec::new()
}
