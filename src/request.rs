//! PURE: the request side of the wire (RFC 1035 §4.1): the one decoder of
//! what arrives.
//!
//! # Design
//!
//! ```text
//!  bytes ─► Header::read (12 octets; QR=1 or a runt ─► Drop)
//!        ─► opcode: QUERY  ─► question ─► answer section (skipped)
//!                   │          ─► authority (IXFR: the client's SOA serial)
//!                   │          ─► additional (the OPT; a TSIG RR is walked over)
//!                   │          ─► Query / Axfr / Ixfr, or Refuse(FORMERR, BADVERS)
//!                   ├ UPDATE ─► update::parse up to the TSIG RR ─► Update
//!                   └ other  ─► Refuse(NOTIMP)
//! ```
//!
//! Every record is read by [`read_rr`] and every name skipped by
//! [`skip_name`], here and in [`crate::tsig::find`] (which locates the
//! TSIG RR and the offset the MAC covers) and [`update`] (which decodes
//! the UPDATE sections, names expanded). A query's question name is read
//! through hickory's `Name::read`, which keeps the case as sent; the other
//! records of a query are only walked. No hickory `Message` is built.
//!
//! The result is a typed [`Request`]; error answers are described
//! ([`Refusal`]), not built: [`crate::response`] writes every response.

use crate::rcode::Rcode;
use crate::rr::wire::{u16_at, u32_at};
use crate::rr::{Name, RecordType};
use hickory_proto::serialize::binary::{BinDecodable, BinDecoder};

pub mod update;

pub use update::{Malformed, UpdateRequest};

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

/// A request, decoded.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Request {
    Query(Query),
    Axfr(Query),
    /// IXFR with the client's serial from its authority-section SOA (RFC 1995 §3).
    Ixfr(Query, Option<u32>),
    /// RFC 2136 UPDATE: its zone, prerequisites and updates, or why they
    /// could not be read (FORMERR, answered once the key's rate allows).
    Update(Result<UpdateRequest, Malformed>),
    /// Answered with a bare error (NOTIMP, FORMERR, BADVERS).
    Refuse(Refusal),
    /// Not answerable at all (a response, or too short to carry an ID).
    Drop,
}

/// A request answered with only its header, its question when that was
/// readable, and an OPT when the RCODE needs one.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Refusal {
    pub id: u16,
    pub opcode: u8,
    pub rd: bool,
    pub rcode: Rcode,
    pub question: Option<Question>,
}

/// Opcodes (RFC 1035 §4.1.1, RFC 1996, RFC 2136).
pub mod opcode {
    pub const QUERY: u8 = 0;
    pub const IQUERY: u8 = 1;
    pub const STATUS: u8 = 2;
    pub const NOTIFY: u8 = 4;
    pub const UPDATE: u8 = 5;
}

/// Our advertised EDNS UDP payload size (DNS flag day 2020, RFC 9715).
pub const OUR_PAYLOAD: u16 = 1232;
/// Header size.
pub const HEADER_SIZE: usize = 12;

/// The size limit for a response to `query` over `transport`: 512 for UDP
/// without EDNS (RFC 1035 §4.2.1), the client's payload capped by
/// `max_udp` (`[server] max_udp_payload`) with EDNS, at least 512 (RFC
/// 6891 §6.2.5: "Values lower than 512 MUST be treated as equal to 512"),
/// 65535 for TCP (RFC 1035 §4.2.2).
pub fn size_limit(query: &Query, transport: Transport, max_udp: u16) -> usize {
    match (transport, query.edns) {
        (Transport::Tcp, _) => 65535,
        (Transport::Udp, None) => 512,
        (Transport::Udp, Some(e)) => usize::from(e.payload.min(max_udp)).max(512),
    }
}

/// Decodes `bytes`. `tsig_start` is the offset of a verified TSIG RR (the
/// end of what an UPDATE's sections may span), `None` when unsigned.
pub fn decode(bytes: &[u8], tsig_start: Option<usize>) -> Request {
    let Some(h) = Header::read(bytes) else {
        return Request::Drop;
    };
    if h.is_response() {
        // RFC 1035 §4.1.1 QR=1: a response; never answer it.
        return Request::Drop;
    }
    match h.op() {
        opcode::QUERY => query(bytes, &h),
        opcode::UPDATE => {
            let (end, tsig_count) = tsig_start.map_or((bytes.len(), 0), |s| (s, 1));
            Request::Update(update::parse(bytes, end, tsig_count))
        }
        // RFC 1035 §4.1.1 "Not Implemented": IQUERY is obsolete (RFC 3425),
        // STATUS undefined, NOTIFY is for secondaries (we are a primary).
        _ => {
            let question = (h.qdcount == 1).then(|| read_question(bytes)).flatten();
            h.refuse(Rcode::NotImp, question)
        }
    }
}

/// A standard query: exactly one question, the other sections well formed,
/// nothing after them.
fn query(bytes: &[u8], h: &Header) -> Request {
    let Some(q) = (h.qdcount == 1).then(|| read_question(bytes)).flatten() else {
        // QDCOUNT != 1, or the question is truncated or has bad labels.
        return h.refuse(Rcode::FormErr, None);
    };
    // The other sections: answer (skipped), authority (SOA for IXFR),
    // additional (OPT); then nothing may follow.
    let sections = skip_answers(bytes, q.end, h.ancount)
        .and_then(|at| ixfr_serial(bytes, at, h.nscount))
        .and_then(|(at, serial)| read_edns(bytes, at, h.arcount).map(|e| (e, serial)));
    let Some(((at, edns), ixfr_serial)) = sections else {
        return h.refuse(Rcode::FormErr, Some(q));
    };
    if at != bytes.len() {
        // Trailing bytes after the declared records.
        return h.refuse(Rcode::FormErr, Some(q));
    }
    if edns.as_ref().is_some_and(|e| e.version > 0) {
        // RFC 6891 §6.1.3: "If a responder does not implement the VERSION
        // level of the request, then it MUST respond with RCODE=BADVERS."
        return h.refuse(Rcode::BadVers, Some(q));
    }
    let query = Query {
        id: h.id,
        rd: h.rd(),
        cd: h.flags & 0x0010 != 0,
        qname: q.qname,
        qtype: RecordType::from(q.qtype),
        qclass: q.qclass,
        edns,
    };
    match query.qtype {
        RecordType::AXFR => Request::Axfr(query),
        RecordType::IXFR => Request::Ixfr(query, ixfr_serial),
        _ => Request::Query(query),
    }
}

/// Skips a (possibly compressed) name at `at`; returns the offset after it
/// and whether it was the root name. The whole name is checked, pointers
/// followed: RFC 1035 §4.1.4 says a pointer refers to "a prior occurance
/// of the same name", so each pointer must point before the one followed
/// last (as BIND and Knot require). That makes a pointer loop impossible
/// to follow and a malformed name (a loop included) FORMERR.
pub(crate) fn skip_name(b: &[u8], at: usize) -> Option<(usize, bool)> {
    let start = at;
    let mut pos = at;
    let mut end = None;
    let mut limit = at;
    let mut total = 0usize;
    loop {
        let len = *b.get(pos)?;
        match len & 0xC0 {
            0x00 => {
                if len == 0 {
                    return Some((end.unwrap_or(pos + 1), pos == start));
                }
                total += usize::from(len) + 1;
                if total > 255 {
                    return None;
                }
                pos += 1 + usize::from(len);
                if pos > b.len() {
                    return None;
                }
            }
            0xC0 => {
                let target = usize::from(u16::from_be_bytes([len & 0x3F, *b.get(pos + 1)?]));
                if target >= limit.min(pos) {
                    return None;
                }
                end.get_or_insert(pos + 2);
                limit = target;
                pos = target;
            }
            _ => return None,
        }
    }
}

/// RFC 7873 §5.2.2: a COOKIE option (code 10) holds a Client Cookie of 8
/// octets, optionally followed by a Server Cookie of 8 to 32: "If the
/// COOKIE option is too short to contain a Server Cookie (length < 8) or
/// too long (length > 40), ... FORMERR", as is a length between 9 and 15.
/// Other options pass.
fn cookie_ok(code: u16, len: u16) -> bool {
    code != 10 || len == 8 || (16..=40).contains(&len)
}

/// A fixed-size record header after the owner name.
pub(crate) struct RrHead {
    pub rtype: u16,
    pub class: u16,
    pub ttl: u32,
    pub rdata_start: usize,
    pub rdata_end: usize,
    pub owner_is_root: bool,
}

/// The record at `at`: its fixed fields and where its RDATA lies, the
/// owner name checked as [`skip_name`] does, the RDATA within the message.
pub(crate) fn read_rr(b: &[u8], at: usize) -> Option<RrHead> {
    let (at, owner_is_root) = skip_name(b, at)?;
    let rtype = u16_at(b, at)?;
    let class = u16_at(b, at + 2)?;
    let ttl = u32_at(b, at + 4)?;
    let rdlen = usize::from(u16_at(b, at + 8)?);
    let rdata_start = at + 10;
    let rdata_end = rdata_start + rdlen;
    if rdata_end > b.len() {
        return None;
    }
    Some(RrHead {
        rtype,
        class,
        ttl,
        rdata_start,
        rdata_end,
        owner_is_root,
    })
}

/// The question as parsed: name (its case as sent), type, class, and the
/// offset after it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Question {
    pub qname: Name,
    pub qtype: u16,
    pub qclass: u16,
    end: usize,
}

/// The question at offset 12 (the first, or an UPDATE's zone).
pub fn read_question(b: &[u8]) -> Option<Question> {
    let rest = b.get(HEADER_SIZE..)?;
    let mut dec = BinDecoder::new(rest);
    let qname = Name::read(&mut dec).ok()?;
    let at = HEADER_SIZE + dec.index();
    let qtype = u16_at(b, at)?;
    let qclass = u16_at(b, at + 2)?;
    Some(Question {
        qname,
        qtype,
        qclass,
        end: at + 4,
    })
}

/// The fixed header (RFC 1035 §4.1.1).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Header {
    pub id: u16,
    pub flags: u16,
    pub qdcount: u16,
    pub ancount: u16,
    pub nscount: u16,
    pub arcount: u16,
}

impl Header {
    /// The first twelve octets, if there are that many.
    pub fn read(b: &[u8]) -> Option<Header> {
        Some(Header {
            id: u16_at(b, 0)?,
            flags: u16_at(b, 2)?,
            qdcount: u16_at(b, 4)?,
            ancount: u16_at(b, 6)?,
            nscount: u16_at(b, 8)?,
            arcount: u16_at(b, 10)?,
        })
    }

    /// QR: the message is a response.
    pub fn is_response(&self) -> bool {
        self.flags & 0x8000 != 0
    }

    pub fn op(&self) -> u8 {
        ((self.flags >> 11) & 0xF) as u8
    }

    pub fn rd(&self) -> bool {
        self.flags & 0x0100 != 0
    }

    fn refuse(&self, rcode: Rcode, question: Option<Question>) -> Request {
        Request::Refuse(Refusal {
            id: self.id,
            opcode: self.op(),
            rd: self.rd(),
            rcode,
            question,
        })
    }
}

/// Skips `count` answer-section RRs from `at`; `None` (FORMERR) for a
/// malformed one or an OPT RR (RFC 6891 §6.1.1: it belongs in the
/// additional section).
fn skip_answers(b: &[u8], mut at: usize, count: u16) -> Option<usize> {
    for _ in 0..count {
        let h = read_rr(b, at).filter(|h| h.rtype != u16::from(RecordType::OPT))?;
        at = h.rdata_end;
    }
    Some(at)
}

/// Reads `count` authority-section RRs from `at`: the end, and the serial
/// of the first SOA (RFC 1995 §3: an IXFR request carries the client's SOA
/// there; the serial follows MNAME and RNAME). `None` (FORMERR) for a
/// malformed RR or SOA, or an OPT RR.
fn ixfr_serial(b: &[u8], mut at: usize, count: u16) -> Option<(usize, Option<u32>)> {
    let mut serial = None;
    for _ in 0..count {
        let h = read_rr(b, at).filter(|h| h.rtype != u16::from(RecordType::OPT))?;
        if h.rtype == u16::from(RecordType::SOA) && serial.is_none() {
            let s = skip_name(b, h.rdata_start)
                .and_then(|(p, _)| skip_name(b, p))
                .filter(|&(p, _)| p + 20 <= h.rdata_end)
                .and_then(|(p, _)| u32_at(b, p))?;
            serial = Some(s);
        }
        at = h.rdata_end;
    }
    Some((at, serial))
}

/// Whether the message `b` carries an OPT RR (RFC 6891) in its additional
/// section, whatever its opcode (an UPDATE's zone section is read as its
/// question). False for anything that does not read.
pub fn has_opt(b: &[u8]) -> bool {
    let Some(h) = Header::read(b) else {
        return false;
    };
    // An UPDATE has one zone entry, a query one question.
    if h.qdcount != 1 {
        return false;
    }
    let Some(q) = read_question(b) else {
        return false;
    };
    let records = skip_answers(b, q.end, h.ancount).and_then(|at| skip_answers(b, at, h.nscount));
    let Some(mut at) = records else {
        return false;
    };
    for _ in 0..h.arcount {
        let Some(rr) = read_rr(b, at) else {
            return false;
        };
        if rr.rtype == u16::from(RecordType::OPT) {
            return true;
        }
        at = rr.rdata_end;
    }
    false
}

/// Reads `count` additional-section RRs from `at`: the end, and the EDNS
/// parameters of the OPT RR if there is one. `None` (FORMERR) for a
/// malformed RR, a second OPT RR, an OPT RR not owned by the root, or
/// malformed options.
fn read_edns(b: &[u8], mut at: usize, count: u16) -> Option<(usize, Option<Edns>)> {
    let mut edns = None;
    for _ in 0..count {
        let h = read_rr(b, at)?;
        if h.rtype == u16::from(RecordType::OPT) {
            // RFC 6891 §6.1.1: "If a query message with more than one OPT RR
            // is received, a FORMERR (RCODE=1) MUST be returned", and the
            // owner "MUST be 0 (root domain)".
            if edns.is_some() || !h.owner_is_root {
                return None;
            }
            // Options are well-formed TLVs; unknown ones are ignored.
            let mut o = h.rdata_start;
            while o < h.rdata_end {
                let (code, len) = (u16_at(b, o)?, u16_at(b, o + 2)?);
                if o + 4 + usize::from(len) > h.rdata_end || !cookie_ok(code, len) {
                    return None;
                }
                o += 4 + usize::from(len);
            }
            edns = Some(Edns {
                // RFC 6891 §6.2.5: "Values lower than 512 MUST be treated as
                // equal to 512."
                payload: h.class.max(512),
                version: ((h.ttl >> 16) & 0xFF) as u8,
                dnssec_ok: h.ttl & 0x8000 != 0,
            });
        }
        at = h.rdata_end;
    }
    Some((at, edns))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::zone::testutil::wire;

    fn header(id: u16, flags: u16, counts: [u16; 4]) -> Vec<u8> {
        let mut b = id.to_be_bytes().to_vec();
        b.extend_from_slice(&flags.to_be_bytes());
        for c in counts {
            b.extend_from_slice(&c.to_be_bytes());
        }
        b
    }

    fn question(name: &str, qtype: u16, qclass: u16) -> Vec<u8> {
        let mut b = wire(name);
        b.extend_from_slice(&qtype.to_be_bytes());
        b.extend_from_slice(&qclass.to_be_bytes());
        b
    }

    fn opt(payload: u16, version: u8, do_bit: bool, options: &[u8]) -> Vec<u8> {
        let mut b = vec![0, 0, 41];
        b.extend_from_slice(&payload.to_be_bytes());
        b.extend_from_slice(&[0, version, if do_bit { 0x80 } else { 0 }, 0]);
        b.extend_from_slice(&(options.len() as u16).to_be_bytes());
        b.extend_from_slice(options);
        b
    }

    fn query_bytes(name: &str, qtype: u16, ar: Option<Vec<u8>>) -> Vec<u8> {
        let mut b = header(0x1234, 0x0100, [1, 0, 0, u16::from(ar.is_some())]);
        b.extend(question(name, qtype, 1));
        if let Some(ar) = ar {
            b.extend(ar);
        }
        b
    }

    fn parse_request(b: &[u8]) -> Request {
        decode(b, None)
    }

    fn reply_rcode(r: &Request) -> Option<(u16, u8, u16)> {
        match r {
            Request::Refuse(r) => Some((r.id, r.opcode, r.rcode.code())),
            _ => None,
        }
    }

    fn refusal(r: Request) -> Refusal {
        match r {
            Request::Refuse(r) => r,
            other => panic!("expected a refusal, got {other:?}"),
        }
    }

    #[test]
    fn rfc1035_4_1_plain_query_case_kept() {
        let r = parse_request(&query_bytes("WwW.Example.COM.", 1, None));
        let Request::Query(q) = r else {
            panic!("{r:?}")
        };
        assert_eq!(q.id, 0x1234);
        assert!(q.rd);
        assert!(!q.cd);
        assert_eq!(q.qname.to_ascii(), "WwW.Example.COM.");
        assert_eq!(q.qtype, RecordType::A);
        assert_eq!(q.qclass, 1);
        assert_eq!(q.edns, None);
    }

    #[test]
    fn drops_responses_and_short_messages() {
        let mut b = query_bytes("example.", 1, None);
        b[2] |= 0x80;
        assert_eq!(parse_request(&b), Request::Drop);
        assert_eq!(parse_request(&[0; 11]), Request::Drop);
        assert_eq!(parse_request(&[]), Request::Drop);
    }

    #[test]
    fn rfc6891_6_1_1_edns_parsed() {
        let r = parse_request(&query_bytes(
            "example.",
            1,
            Some(opt(
                4096,
                0,
                true,
                &[0, 10, 0, 8, 1, 2, 3, 4, 5, 6, 7, 8, 0xFF, 0xEE, 0, 0],
            )),
        ));
        let Request::Query(q) = r else {
            panic!("{r:?}")
        };
        assert_eq!(
            q.edns,
            Some(Edns {
                payload: 4096,
                version: 0,
                dnssec_ok: true
            })
        );
        let r = parse_request(&query_bytes("example.", 1, Some(opt(100, 0, false, &[]))));
        let Request::Query(q) = r else {
            panic!("{r:?}")
        };
        assert_eq!(q.edns.map(|e| e.payload), Some(512));
        assert_eq!(size_limit(&q, Transport::Udp, OUR_PAYLOAD), 512);
        assert_eq!(size_limit(&q, Transport::Tcp, OUR_PAYLOAD), 65535);
    }

    #[test]
    fn rfc6891_6_1_1_two_opts_formerr() {
        let mut b = header(7, 0x0000, [1, 0, 0, 2]);
        b.extend(question("example.", 1, 1));
        b.extend(opt(1232, 0, false, &[]));
        b.extend(opt(1232, 0, false, &[]));
        assert_eq!(reply_rcode(&parse_request(&b)), Some((7, 0, 1)));
        // OPT owner not root.
        let mut b = header(7, 0x0000, [1, 0, 0, 1]);
        b.extend(question("example.", 1, 1));
        let mut o = wire("x.");
        o.extend_from_slice(&opt(1232, 0, false, &[])[1..]);
        b.extend(o);
        assert_eq!(reply_rcode(&parse_request(&b)), Some((7, 0, 1)));
    }

    #[test]
    fn rfc6891_6_1_3_badvers() {
        let r = parse_request(&query_bytes("example.", 1, Some(opt(1232, 1, false, &[]))));
        let r = refusal(r);
        assert_eq!(r.rcode, Rcode::BadVers);
        assert!(r.question.is_some(), "the question is echoed");
    }

    /// A query with one answer RR whose owner is `owner` (raw bytes).
    fn with_answer(owner: &[u8], rtype: u16) -> Vec<u8> {
        let mut b = header(0x1234, 0x0100, [1, 1, 0, 0]);
        b.extend(question("www.example.com.", 1, 1));
        b.extend_from_slice(owner);
        b.extend_from_slice(&rtype.to_be_bytes());
        b.extend_from_slice(&[0, 1, 0, 0, 0, 60, 0, 4, 192, 0, 2, 1]);
        b
    }

    #[test]
    fn rfc1035_4_1_4_compression_loops_and_forward_pointers_are_formerr() {
        // The question starts at 12; the answer's owner is at 33.
        let at = 12 + wire("www.example.com.").len() + 4;
        assert_eq!(at, 33);
        let formerr = Some((0x1234, 0, Rcode::FormErr.code()));
        // A pointer to itself, to the byte after it, and a two-pointer loop.
        let ptr = |to: usize| [0xC0 | (to >> 8) as u8, to as u8];
        for owner in [
            ptr(at).to_vec(),
            ptr(at + 2).to_vec(),
            [&[1, b'a'][..], &ptr(at)].concat(),
        ] {
            let r = parse_request(&with_answer(&owner, 1));
            assert_eq!(reply_rcode(&r), formerr, "{owner:?}");
        }
        // A pointer back into the question is fine.
        let r = parse_request(&with_answer(&ptr(12), 1));
        assert!(matches!(r, Request::Query(_)), "{r:?}");
        // A chain of pointers that goes back each time is fine; one that
        // goes forward again is not.
        let mut b = with_answer(&ptr(12), 1);
        let second = b.len();
        b.extend_from_slice(&[1, b'x']);
        b.extend_from_slice(&ptr(at));
        b.extend_from_slice(&[0, 1, 0, 1, 0, 0, 0, 60, 0, 4, 192, 0, 2, 2]);
        b[7] = 2;
        assert!(matches!(parse_request(&b), Request::Query(_)));
        let mut loop_back = b.clone();
        // The first answer's owner now points at the second's.
        loop_back[at..at + 2].copy_from_slice(&ptr(second));
        assert_eq!(reply_rcode(&parse_request(&loop_back)), formerr);
    }

    #[test]
    fn rfc7873_5_2_2_a_cookie_of_a_bad_length_is_formerr() {
        for (len, ok) in [
            (3u16, false),
            (8, true),
            (12, false),
            (16, true),
            (40, true),
            (41, false),
        ] {
            let mut option = vec![0, 10];
            option.extend_from_slice(&len.to_be_bytes());
            option.extend(std::iter::repeat_n(7u8, usize::from(len)));
            let r = parse_request(&query_bytes(
                "www.example.com.",
                1,
                Some(opt(1232, 0, false, &option)),
            ));
            if ok {
                assert!(matches!(r, Request::Query(_)), "{len}: {r:?}");
            } else {
                assert_eq!(
                    reply_rcode(&r),
                    Some((0x1234, 0, Rcode::FormErr.code())),
                    "{len}"
                );
            }
        }
    }

    #[test]
    fn rfc6891_6_1_1_opt_outside_the_additional_section_is_formerr() {
        let r = parse_request(&with_answer(&[0], 41));
        assert_eq!(reply_rcode(&r), Some((0x1234, 0, Rcode::FormErr.code())));
        let mut b = header(0x1234, 0x0100, [1, 0, 1, 0]);
        b.extend(question("www.example.com.", 1, 1));
        b.extend(opt(1232, 0, false, &[]));
        assert_eq!(
            reply_rcode(&parse_request(&b)),
            Some((0x1234, 0, Rcode::FormErr.code()))
        );
    }

    #[test]
    fn rfc1035_4_1_1_formerr_cases() {
        // QDCOUNT 0 and 2.
        let b = header(9, 0x0100, [0, 0, 0, 0]);
        assert_eq!(reply_rcode(&parse_request(&b)), Some((9, 0, 1)));
        let mut b = header(9, 0, [2, 0, 0, 0]);
        b.extend(question("a.", 1, 1));
        b.extend(question("b.", 1, 1));
        assert_eq!(reply_rcode(&parse_request(&b)), Some((9, 0, 1)));
        // Truncated question.
        let mut b = query_bytes("example.", 1, None);
        b.pop();
        assert_eq!(reply_rcode(&parse_request(&b)), Some((0x1234, 0, 1)));
        // Trailing garbage.
        let mut b = query_bytes("example.", 1, None);
        b.push(0);
        let r = parse_request(&b);
        assert_eq!(reply_rcode(&r), Some((0x1234, 0, 1)));
        assert!(refusal(r).question.is_some(), "question echoed once parsed");
        // Bad label type.
        let mut b = header(9, 0, [1, 0, 0, 0]);
        b.extend_from_slice(&[0x80, 0, 0, 1, 0, 1]);
        let r = parse_request(&b);
        assert_eq!(reply_rcode(&r), Some((9, 0, 1)));
        assert!(
            refusal(r).question.is_none(),
            "no question when it didn't parse"
        );
    }

    #[test]
    fn rfc1035_4_1_1_other_opcodes_notimp() {
        // UPDATE (5) is decoded (see update's tests).
        for op in [1u8, 2, 4, 3, 15] {
            let mut b = query_bytes("example.", 6, None);
            b[2] = (op << 3) | 1;
            assert_eq!(
                reply_rcode(&parse_request(&b)),
                Some((0x1234, op, 4)),
                "opcode {op}"
            );
        }
    }

    #[test]
    fn axfr_and_rfc1995_3_ixfr_serial() {
        let r = parse_request(&query_bytes("example.", 252, None));
        assert!(matches!(r, Request::Axfr(_)));
        let mut b = header(3, 0, [1, 0, 1, 0]);
        b.extend(question("example.", 251, 1));
        // Authority SOA with compressed owner pointing at the question name.
        b.extend_from_slice(&[0xC0, 12, 0, 6, 0, 1, 0, 0, 0, 0]);
        let mut rd = vec![0xC0, 12, 0xC0, 12];
        for v in [42u32, 1, 2, 3, 4] {
            rd.extend_from_slice(&v.to_be_bytes());
        }
        b.extend_from_slice(&(rd.len() as u16).to_be_bytes());
        b.extend(rd);
        let r = parse_request(&b);
        let Request::Ixfr(q, serial) = r else {
            panic!("{r:?}")
        };
        assert_eq!(serial, Some(42));
        assert_eq!(q.qtype, RecordType::IXFR);
    }

    #[test]
    fn rfc1995_3_ixfr_without_soa_and_notimp_echoes_question() {
        let r = parse_request(&query_bytes("example.", 251, None));
        assert!(matches!(r, Request::Ixfr(_, None)));
        let mut b = query_bytes("Example.", 6, None);
        b[2] = (opcode::NOTIFY << 3) | 0x04;
        let r = refusal(parse_request(&b));
        assert_eq!(r.rcode, Rcode::NotImp);
        let q = r.question.expect("question echoed");
        assert_eq!((q.qname.to_ascii().as_str(), q.qtype), ("Example.", 6));
    }

    proptest::proptest! {
        #[test]
        fn parse_never_panics(bytes in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..300)) {
            let _ = parse_request(&bytes);
        }

        #[test]
        fn parse_never_panics_with_valid_header(tail in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..200), counts in proptest::prelude::any::<[u8; 4]>()) {
            let mut b = header(1, 0, [1, u16::from(counts[1] % 3), u16::from(counts[2] % 3), u16::from(counts[3] % 3)]);
            b.extend(question("example.", 1, 1));
            b.extend(tail);
            let _ = parse_request(&b);
        }
    }
}
