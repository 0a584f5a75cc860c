//! PURE: the request side of the wire (RFC 1035 §4.1) and response encoding
//! with EDNS0 (RFC 6891) and truncation.
//!
//! # Design
//!
//! Requests are decoded by hand: the 12-byte header, the one question (the
//! name through hickory's `Name::read`, which keeps the case as sent), then
//! the remaining records are only *walked* (names skipped, RDATA skipped)
//! except an OPT in the additional section and, for IXFR, the SOA in the
//! authority section. No hickory `Message` is built on the query path.
//! Opcodes are classified by [`classify_opcode`], one arm per opcode, so
//! UPDATE/NOTIFY can gain their own [`Request`] variants later.
//!
//! Responses are written by [`MessageWriter`]: header, question, then
//! records with owner names compressed by a small compressor (a table of
//! label offsets already in the message, compared case-insensitively,
//! RFC 1035 §4.1.4); RDATA is written as stored, uncompressed (RFC 3597 §4).
//! Each RRset is written, and if it overflows the limit it is rolled back
//! whole (RFC 2181 §9); [`encode`] decides TC from which section lost an
//! RRset. The same writer frames AXFR messages in [`crate::xfr`].
//!
//! The response model [`encode`] writes ([`Answer`], [`Rec`]) is defined
//! here, the codec, and filled by [`crate::answer`]: imports go `answer` ->
//! `message` only.

use std::borrow::Cow;

use crate::rr::wire::{u16_at, u32_at};
use crate::rr::{Name, RecordType, Rr};
use hickory_proto::serialize::binary::{BinDecodable, BinDecoder};

/// One record in a response: borrowed from the zone where possible. `owner`
/// differs from `rr.name` for wildcard-synthesised answers (RFC 4592 §3.3.1).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Rec<'a> {
    pub owner: &'a Name,
    pub rr: Cow<'a, Rr>,
}

/// The sections and flags of a response, before encoding.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Answer<'a> {
    /// RFC 1035 §4.1.1 RCODE (extended RCODEs above 15 go in the OPT).
    pub rcode: u16,
    pub authoritative: bool,
    pub answer: Vec<Rec<'a>>,
    pub authority: Vec<Rec<'a>>,
    pub additional: Vec<Rec<'a>>,
}

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

/// RCODEs used here (RFC 1035 §4.1.1, RFC 2136 §2.2, RFC 6891 §9).
pub mod rcode {
    pub const NOERROR: u16 = 0;
    pub const FORMERR: u16 = 1;
    pub const SERVFAIL: u16 = 2;
    pub const NXDOMAIN: u16 = 3;
    pub const NOTIMP: u16 = 4;
    pub const REFUSED: u16 = 5;
    pub const YXDOMAIN: u16 = 6;
    pub const NOTAUTH: u16 = 9;
    pub const BADVERS: u16 = 16;
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
/// Size of an OPT RR without options.
pub const OPT_SIZE: usize = 11;
/// Header size.
pub const HEADER_SIZE: usize = 12;

/// How [`parse_request`] handles an opcode. UPDATE (RFC 2136) and NOTIFY
/// (RFC 1996) never reach it: the dispatcher routes them (UPDATE to the
/// store, NOTIFY refused: we are a primary) by the header's opcode first.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum OpcodeClass {
    /// Standard query: parsed into [`Request::Query`]/[`Request::Axfr`]/[`Request::Ixfr`].
    Query,
    /// Answered with NOTIMP (RFC 1035 §4.1.1: "Not Implemented").
    NotImplemented,
}

pub fn classify_opcode(op: u8) -> OpcodeClass {
    match op {
        opcode::QUERY => OpcodeClass::Query,
        // IQUERY is obsolete (RFC 3425), STATUS undefined; UPDATE and
        // NOTIFY are routed before parsing (see above).
        _ => OpcodeClass::NotImplemented,
    }
}

/// The size limit for a response to `query` over `transport`: 512 for UDP
/// without EDNS (RFC 1035 §4.2.1), min(client payload, 1232) with EDNS
/// (RFC 6891 §6.2.5; payloads below 512 were raised to 512 when parsed),
/// 65535 for TCP.
pub fn size_limit(query: &Query, transport: Transport) -> usize {
    match (transport, query.edns) {
        (Transport::Tcp, _) => 65535,
        (Transport::Udp, None) => 512,
        (Transport::Udp, Some(e)) => usize::from(e.payload.clamp(512, OUR_PAYLOAD)),
    }
}

// ---------------------------------------------------------------------------
// Request parsing

/// Skips a (possibly compressed) name at `at`; returns the offset after it
/// and whether it was the root name. The whole name is checked, pointers
/// followed: RFC 1035 §4.1.4 says a pointer refers to "a prior occurance
/// of the same name", so each pointer must point before the one followed
/// last (as BIND and Knot require). That makes a pointer loop impossible
/// to follow and a malformed name (a loop included) FORMERR.
fn skip_name(b: &[u8], at: usize) -> Option<(usize, bool)> {
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
struct RrHead {
    rtype: u16,
    class: u16,
    ttl: u32,
    rdata_start: usize,
    rdata_end: usize,
    owner_is_root: bool,
}

fn read_rr(b: &[u8], at: usize) -> Option<RrHead> {
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

/// The question as parsed: name, type, class, and the offset after it.
struct Question {
    qname: Name,
    qtype: u16,
    qclass: u16,
    end: usize,
}

fn read_question(b: &[u8]) -> Option<Question> {
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

/// Classifies raw request bytes.
pub fn parse_request(bytes: &[u8]) -> Request {
    let Some(h) = Header::read(bytes) else {
        return Request::Drop;
    };
    if h.flags & 0x8000 != 0 {
        // RFC 1035 §4.1.1 QR=1: a response; never answer it.
        return Request::Drop;
    }
    let question = if h.qdcount == 1 {
        read_question(bytes)
    } else {
        None
    };
    let reply = |rcode: u16, q: Option<&Question>| {
        Request::Reply(error_response(
            h.id,
            h.op(),
            h.rd(),
            rcode,
            q.map(|q| (&q.qname, q.qtype, q.qclass)),
            None,
        ))
    };
    match classify_opcode(h.op()) {
        OpcodeClass::NotImplemented => return reply(rcode::NOTIMP, question.as_ref()),
        OpcodeClass::Query => {}
    }
    let Some(q) = question else {
        // QDCOUNT != 1, or the question is truncated or has bad labels.
        return reply(rcode::FORMERR, None);
    };
    // The other sections: answer (skipped), authority (SOA for IXFR),
    // additional (OPT); then nothing may follow.
    let sections = skip_answers(bytes, q.end, h.ancount)
        .and_then(|at| ixfr_serial(bytes, at, h.nscount))
        .and_then(|(at, serial)| read_edns(bytes, at, h.arcount).map(|e| (e, serial)));
    let Some(((at, edns), ixfr_serial)) = sections else {
        return reply(rcode::FORMERR, Some(&q));
    };
    if at != bytes.len() {
        // Trailing bytes after the declared records.
        return reply(rcode::FORMERR, Some(&q));
    }
    if edns.as_ref().is_some_and(|e| e.version > 0) {
        // RFC 6891 §6.1.3: "If a responder does not implement the VERSION
        // level of the request, then it MUST respond with RCODE=BADVERS."
        return Request::Reply(error_response(
            h.id,
            h.op(),
            h.rd(),
            rcode::BADVERS,
            Some((&q.qname, q.qtype, q.qclass)),
            Some(OUR_PAYLOAD),
        ));
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

/// The fixed header (RFC 1035 §4.1.1).
struct Header {
    id: u16,
    flags: u16,
    qdcount: u16,
    ancount: u16,
    nscount: u16,
    arcount: u16,
}

impl Header {
    fn read(b: &[u8]) -> Option<Header> {
        Some(Header {
            id: u16_at(b, 0)?,
            flags: u16_at(b, 2)?,
            qdcount: u16_at(b, 4)?,
            ancount: u16_at(b, 6)?,
            nscount: u16_at(b, 8)?,
            arcount: u16_at(b, 10)?,
        })
    }

    fn op(&self) -> u8 {
        ((self.flags >> 11) & 0xF) as u8
    }

    fn rd(&self) -> bool {
        self.flags & 0x0100 != 0
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

// ---------------------------------------------------------------------------
// Response writing

/// Response sections, for [`MessageWriter::record`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Section {
    Answer,
    Authority,
    Additional,
}

/// A rollback point (see [`MessageWriter::mark`]).
#[derive(Clone, Copy, Debug)]
pub struct Mark {
    len: usize,
    table: usize,
    counts: [u16; 3],
}

/// Writes one DNS message: header, question, records with owner names
/// compressed. Every write that would exceed `limit` fails and leaves the
/// message unchanged.
pub struct MessageWriter {
    buf: Vec<u8>,
    /// Offsets of names (and their label suffixes) already written.
    table: Vec<u16>,
    counts: [u16; 3],
    limit: usize,
}

/// Most names kept for compression (bounds the compressor's work).
const TABLE_MAX: usize = 128;

/// Case-insensitively compares the name at `off` in `buf` (following
/// pointers) with the labels from `labels`.
fn name_matches<'l>(
    buf: &[u8],
    mut off: usize,
    mut labels: impl Iterator<Item = &'l [u8]>,
) -> bool {
    let mut hops = 0;
    loop {
        let Some(&len) = buf.get(off) else {
            return false;
        };
        if len & 0xC0 == 0xC0 {
            let Some(&lo) = buf.get(off + 1) else {
                return false;
            };
            hops += 1;
            if hops > 64 {
                return false;
            }
            off = usize::from(u16::from_be_bytes([len & 0x3F, lo]));
            continue;
        }
        let label = labels.next();
        if len == 0 {
            return label.is_none();
        }
        let Some(label) = label else {
            return false;
        };
        let Some(stored) = buf.get(off + 1..off + 1 + usize::from(len)) else {
            return false;
        };
        if !stored.eq_ignore_ascii_case(label) {
            return false;
        }
        off += 1 + usize::from(len);
    }
}

impl MessageWriter {
    /// Starts a message with this ID and flags word (QR, opcode, AA, ...,
    /// RCODE low bits), all counts zero.
    pub fn new(id: u16, flags: u16, limit: usize) -> MessageWriter {
        let mut buf = Vec::with_capacity(limit.min(1232));
        buf.extend_from_slice(&id.to_be_bytes());
        buf.extend_from_slice(&flags.to_be_bytes());
        buf.extend_from_slice(&[0; 8]);
        MessageWriter {
            buf,
            table: Vec::new(),
            counts: [0; 3],
            limit: limit.clamp(HEADER_SIZE, 65535),
        }
    }

    pub fn len(&self) -> usize {
        self.buf.len()
    }

    pub fn is_empty(&self) -> bool {
        self.buf.len() <= HEADER_SIZE
    }

    pub fn limit(&self) -> usize {
        self.limit
    }

    /// Lowers or raises the limit (e.g. to reserve room for an OPT or TSIG).
    pub fn set_limit(&mut self, limit: usize) {
        self.limit = limit.clamp(HEADER_SIZE, 65535);
    }

    /// Records written so far in answer, authority, additional.
    pub fn counts(&self) -> [u16; 3] {
        self.counts
    }

    pub fn flags(&self) -> u16 {
        u16::from_be_bytes([self.buf[2], self.buf[3]])
    }

    pub fn set_flags(&mut self, flags: u16) {
        self.buf[2..4].copy_from_slice(&flags.to_be_bytes());
    }

    pub fn mark(&self) -> Mark {
        Mark {
            len: self.buf.len(),
            table: self.table.len(),
            counts: self.counts,
        }
    }

    pub fn rollback(&mut self, mark: Mark) {
        self.buf.truncate(mark.len);
        self.table.truncate(mark.table);
        self.counts = mark.counts;
    }

    /// Writes a name, compressed against names already in the message.
    fn name(&mut self, name: &Name) {
        let n = name.iter().len();
        let mut pointer = None;
        let mut split = n;
        'suffix: for i in 0..n {
            for &off in &self.table {
                if name_matches(&self.buf, usize::from(off), name.iter().skip(i)) {
                    pointer = Some(off);
                    split = i;
                    break 'suffix;
                }
            }
        }
        for l in name.iter().take(split) {
            let off = self.buf.len();
            if off < 0x4000 && self.table.len() < TABLE_MAX {
                self.table.push(off as u16);
            }
            self.buf.push(l.len() as u8);
            self.buf.extend_from_slice(l);
        }
        match pointer {
            Some(off) => self.buf.extend_from_slice(&(0xC000 | off).to_be_bytes()),
            None => self.buf.push(0),
        }
    }

    /// Writes the question (the name as given, so its case is echoed).
    pub fn question(&mut self, qname: &Name, qtype: u16, qclass: u16) -> bool {
        let mark = self.mark();
        self.name(qname);
        self.buf.extend_from_slice(&qtype.to_be_bytes());
        self.buf.extend_from_slice(&qclass.to_be_bytes());
        if self.buf.len() > self.limit {
            self.rollback(mark);
            return false;
        }
        self.buf[4..6].copy_from_slice(&1u16.to_be_bytes());
        true
    }

    /// Writes one class-IN record; false (and nothing written) if it
    /// doesn't fit.
    pub fn record(
        &mut self,
        section: Section,
        owner: &Name,
        rtype: RecordType,
        ttl: u32,
        rdata: &[u8],
    ) -> bool {
        let mark = self.mark();
        let Ok(rdlen) = u16::try_from(rdata.len()) else {
            return false;
        };
        self.name(owner);
        self.buf.extend_from_slice(&u16::from(rtype).to_be_bytes());
        self.buf.extend_from_slice(&1u16.to_be_bytes());
        self.buf.extend_from_slice(&ttl.to_be_bytes());
        self.buf.extend_from_slice(&rdlen.to_be_bytes());
        self.buf.extend_from_slice(rdata);
        if self.buf.len() > self.limit {
            self.rollback(mark);
            return false;
        }
        let i = section as usize;
        self.counts[i] = self.counts[i].saturating_add(1);
        true
    }

    /// Writes an OPT RR (RFC 6891 §6.1.2) with no options: our payload size,
    /// the extended RCODE's upper 8 bits, version 0, DO clear.
    pub fn opt(&mut self, payload: u16, rcode: u16) -> bool {
        if self.buf.len() + OPT_SIZE > self.limit {
            return false;
        }
        let ext = u32::from((rcode >> 4) & 0xFF) << 24;
        self.buf.push(0);
        self.buf
            .extend_from_slice(&u16::from(RecordType::OPT).to_be_bytes());
        self.buf.extend_from_slice(&payload.to_be_bytes());
        self.buf.extend_from_slice(&ext.to_be_bytes());
        self.buf.extend_from_slice(&0u16.to_be_bytes());
        self.counts[2] = self.counts[2].saturating_add(1);
        true
    }

    /// The finished message with its counts filled in.
    pub fn finish(mut self) -> Vec<u8> {
        self.buf[6..8].copy_from_slice(&self.counts[0].to_be_bytes());
        self.buf[8..10].copy_from_slice(&self.counts[1].to_be_bytes());
        self.buf[10..12].copy_from_slice(&self.counts[2].to_be_bytes());
        self.buf
    }
}

/// Header flags word for a response (RFC 1035 §4.1.1): QR set, RA clear.
pub fn response_flags(opcode: u8, aa: bool, tc: bool, rd: bool, cd: bool, rcode: u16) -> u16 {
    let mut f = 0x8000 | (u16::from(opcode & 0xF) << 11) | (rcode & 0xF);
    if aa {
        f |= 0x0400;
    }
    if tc {
        f |= 0x0200;
    }
    if rd {
        f |= 0x0100;
    }
    if cd {
        f |= 0x0010;
    }
    f
}

/// A response carrying only a header, the question (when given) and an OPT
/// (when `opt_payload` is given): FORMERR, NOTIMP, REFUSED, BADVERS.
/// An extended RCODE (above 15) without an OPT is sent as SERVFAIL.
pub fn error_response(
    id: u16,
    opcode: u8,
    rd: bool,
    rcode: u16,
    question: Option<(&Name, u16, u16)>,
    opt_payload: Option<u16>,
) -> Vec<u8> {
    let rcode = if rcode > 15 && opt_payload.is_none() {
        rcode::SERVFAIL
    } else {
        rcode
    };
    let mut w = MessageWriter::new(
        id,
        response_flags(opcode, false, false, rd, false, rcode),
        65535,
    );
    if let Some((name, qtype, qclass)) = question {
        w.question(name, qtype, qclass);
    }
    if let Some(p) = opt_payload {
        w.opt(p, rcode);
    }
    w.finish()
}

/// A response to `query` with no records and the given RCODE (e.g. REFUSED
/// for AXFR over UDP or from a client not allowed to transfer), with an OPT
/// if the query had EDNS.
pub fn rcode_response(query: &Query, rcode: u16) -> Vec<u8> {
    let answer = Answer {
        rcode,
        ..Answer::default()
    };
    encode(query, &answer, 65535)
}

/// Length of the run of records starting at `recs[0]` with the same owner
/// and type: one RRset.
fn rrset_len(recs: &[Rec<'_>]) -> usize {
    let Some(first) = recs.first() else {
        return 0;
    };
    recs.iter()
        .take_while(|r| {
            r.rr.rtype == first.rr.rtype
                && (std::ptr::eq(r.owner, first.owner) || r.owner == first.owner)
        })
        .count()
}

/// Writes one RRset; false (and rolled back) if it doesn't fit whole.
fn write_rrset(w: &mut MessageWriter, section: Section, set: &[Rec<'_>]) -> bool {
    let mark = w.mark();
    for r in set {
        if !w.record(
            section,
            r.owner,
            r.rr.rtype,
            r.rr.ttl,
            r.rr.rdata.as_bytes(),
        ) {
            w.rollback(mark);
            return false;
        }
    }
    true
}

/// Encodes `answer` for `query`, within `limit` bytes; sets TC and drops
/// whole RRsets when they don't fit (RFC 2181 §9).
pub fn encode(query: &Query, answer: &Answer, limit: usize) -> Vec<u8> {
    let limit = limit.clamp(512, 65535);
    let rcode = if answer.rcode > 15 && query.edns.is_none() {
        rcode::SERVFAIL
    } else {
        answer.rcode
    };
    let mut w = MessageWriter::new(
        query.id,
        response_flags(0, answer.authoritative, false, query.rd, query.cd, rcode),
        limit,
    );
    // The OPT must always fit: reserve its 11 bytes.
    let reserve = if query.edns.is_some() { OPT_SIZE } else { 0 };
    w.set_limit(limit - reserve);
    w.question(&query.qname, u16::from(query.qtype), query.qclass);

    let mut tc = false;
    // RFC 2181 §9: "the whole RRSet [is] omitted" and TC set when the
    // answer or authority section loses data.
    'sections: for (section, recs) in [
        (Section::Answer, &answer.answer),
        (Section::Authority, &answer.authority),
    ] {
        let mut rest: &[Rec<'_>] = recs;
        while !rest.is_empty() {
            let n = rrset_len(rest);
            let (set, tail) = rest.split_at(n.max(1));
            if !write_rrset(&mut w, section, set) {
                tc = true;
                break 'sections;
            }
            rest = tail;
        }
    }
    if !tc {
        // A referral's in-domain glue (at or below the delegated NS owner)
        // is required: RFC 9471 §3, "If all glue records for in-domain name
        // servers do not fit, the TC flag MUST be set". Other additional
        // data is dropped silently.
        let referral_cut = if !answer.authoritative && answer.answer.is_empty() {
            answer
                .authority
                .iter()
                .find(|r| r.rr.rtype == RecordType::NS)
                .map(|r| r.owner)
        } else {
            None
        };
        let mut rest: &[Rec<'_>] = &answer.additional;
        while !rest.is_empty() {
            let n = rrset_len(rest);
            let (set, tail) = rest.split_at(n.max(1));
            if !write_rrset(&mut w, Section::Additional, set) {
                let required = referral_cut
                    .is_some_and(|cut| set.first().is_some_and(|r| cut.zone_of(r.owner)));
                if required {
                    tc = true;
                    break;
                }
            }
            rest = tail;
        }
    }
    w.set_limit(limit);
    if let Some(_e) = query.edns {
        // RFC 6891 §6.1.1: a responder "MUST include an OPT record in the
        // response" when the request had one. DO is left clear: we don't sign.
        w.opt(OUR_PAYLOAD, rcode);
    }
    if tc {
        let f = w.flags() | 0x0200;
        w.set_flags(f);
    }
    w.finish()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::zone::testutil::{n, wire};
    use hickory_proto::op::Message;

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

    fn reply_rcode(r: &Request) -> Option<(u16, u8, u16)> {
        match r {
            Request::Reply(b) => {
                let id = u16_at(b, 0)?;
                let flags = u16_at(b, 2)?;
                Some((id, ((flags >> 11) & 0xF) as u8, flags & 0xF))
            }
            _ => None,
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
        assert_eq!(size_limit(&q, Transport::Udp), 512);
        assert_eq!(size_limit(&q, Transport::Tcp), 65535);
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
        let Request::Reply(b) = &r else {
            panic!("{r:?}")
        };
        let m = Message::from_vec(b).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(b[3] & 0xF, 0, "low bits of BADVERS (16) are 0");
        assert_eq!(u16::from(m.metadata.response_code), 16);
        assert_eq!(m.queries.len(), 1);
        let e = m.edns.as_ref().map(|e| (e.max_payload(), e.version()));
        assert_eq!(e, Some((1232, 0)));
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
        let formerr = Some((0x1234, 0, rcode::FORMERR));
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
                assert_eq!(reply_rcode(&r), Some((0x1234, 0, rcode::FORMERR)), "{len}");
            }
        }
    }

    #[test]
    fn rfc6891_6_1_1_opt_outside_the_additional_section_is_formerr() {
        let r = parse_request(&with_answer(&[0], 41));
        assert_eq!(reply_rcode(&r), Some((0x1234, 0, rcode::FORMERR)));
        let mut b = header(0x1234, 0x0100, [1, 0, 1, 0]);
        b.extend(question("www.example.com.", 1, 1));
        b.extend(opt(1232, 0, false, &[]));
        assert_eq!(
            reply_rcode(&parse_request(&b)),
            Some((0x1234, 0, rcode::FORMERR))
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
        let Request::Reply(bytes) = r else { panic!() };
        assert_eq!(u16_at(&bytes, 4), Some(1), "question echoed once parsed");
        // Bad label type.
        let mut b = header(9, 0, [1, 0, 0, 0]);
        b.extend_from_slice(&[0x80, 0, 0, 1, 0, 1]);
        let r = parse_request(&b);
        assert_eq!(reply_rcode(&r), Some((9, 0, 1)));
        let Request::Reply(bytes) = r else { panic!() };
        assert_eq!(
            u16_at(&bytes, 4),
            Some(0),
            "no question when it didn't parse"
        );
    }

    #[test]
    fn rfc1035_4_1_1_other_opcodes_notimp() {
        for op in [1u8, 2, 4, 5, 3, 15] {
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
        let Request::Reply(bytes) = parse_request(&b) else {
            panic!("expected a reply")
        };
        let m = Message::from_vec(&bytes).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(u16::from(m.metadata.response_code), 4);
        assert_eq!(m.queries.len(), 1);
        assert_eq!(m.queries[0].name().to_ascii(), "Example.");
    }

    #[test]
    fn writer_compresses_names() {
        let mut w = MessageWriter::new(1, 0x8400, 512);
        assert!(w.question(&n("Www.Example.com."), 1, 1));
        assert!(w.record(
            Section::Answer,
            &n("Www.Example.com."),
            RecordType::A,
            5,
            &[1, 2, 3, 4]
        ));
        assert!(w.record(
            Section::Authority,
            &n("example.COM."),
            RecordType::NS,
            5,
            &wire("ns.example.com.")
        ));
        let b = w.finish();
        // Header 12 + question 17+4; answer: pointer 2 + 10 + 4; authority: pointer 2 + 10 + 16.
        assert_eq!(b.len(), 12 + 21 + 16 + 28);
        let m = Message::from_vec(&b).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(m.answers[0].name.to_ascii(), "Www.Example.com.");
        assert_eq!(
            m.authorities[0].name.to_ascii().to_lowercase(),
            "example.com."
        );
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
