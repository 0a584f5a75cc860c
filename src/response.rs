//! PURE: responses (RFC 1035 §4.1), with EDNS0 (RFC 6891) and truncation.
//!
//! # Design
//!
//! Every response is written by a [`MessageWriter`], whose type says which
//! section it is in: `MessageWriter<Question>` -> `<Answer>` ->
//! `<Authority>` -> `<Additional>`, each step taken by a method that
//! consumes the writer and only goes forward (in the spirit of `domain`'s
//! MessageBuilder -> QuestionBuilder -> AnswerBuilder -> ...), so a record
//! cannot land in a section already closed and the OPT RR only goes in the
//! additional section. Owner names are compressed by a small compressor (a
//! table of label offsets already in the message, compared
//! case-insensitively, RFC 1035 §4.1.4); RDATA is written as stored,
//! uncompressed (RFC 3597 §4). Each RRset is written, and if it overflows
//! the limit it is rolled back whole (RFC 2181 §9); [`encode`] decides TC
//! from which section lost an RRset. The same writer frames AXFR messages
//! in [`crate::xfr`] and NOTIFYs in [`crate::notify`]; [`refusal`] writes
//! the bare error answers [`crate::request`] describes.
//!
//! The response model [`encode`] writes ([`Answer`], [`Rec`]) is defined
//! here and filled by [`crate::answer`]: imports go `answer` -> `response`
//! -> `request`, never back.

use std::borrow::Cow;

use std::marker::PhantomData;

use crate::rcode::Rcode;
use crate::request::{HEADER_SIZE, Header, OUR_PAYLOAD, Query, Refusal, read_question};
use crate::rr::{Name, RecordType, Rr};

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
    pub rcode: Rcode,
    pub authoritative: bool,
    pub answer: Vec<Rec<'a>>,
    pub authority: Vec<Rec<'a>>,
    pub additional: Vec<Rec<'a>>,
    /// The served zone the question fell in, as text, if any (for the
    /// metrics; not encoded).
    pub zone: Option<&'a std::sync::Arc<str>>,
}

/// Size of an OPT RR without options.
pub const OPT_SIZE: usize = 11;

/// The sections a [`MessageWriter`] can be in, in message order.
pub mod section {
    /// Before any record: the question may be written.
    pub struct Question;
    pub struct Answer;
    pub struct Authority;
    pub struct Additional;
}

/// A section that holds records: its index in the header's counts.
pub trait Records {
    const INDEX: usize;
}

impl Records for section::Answer {
    const INDEX: usize = 0;
}
impl Records for section::Authority {
    const INDEX: usize = 1;
}
impl Records for section::Additional {
    const INDEX: usize = 2;
}

/// `S: Before<T>`: section `T` comes after `S` in a message.
pub trait Before<T> {}
impl Before<section::Answer> for section::Question {}
impl Before<section::Authority> for section::Question {}
impl Before<section::Additional> for section::Question {}
impl Before<section::Authority> for section::Answer {}
impl Before<section::Additional> for section::Answer {}
impl Before<section::Additional> for section::Authority {}

/// A rollback point (see [`MessageWriter::mark`]).
#[derive(Clone, Copy, Debug)]
pub struct Mark {
    len: usize,
    table: usize,
    counts: [u16; 3],
}

/// Writes one DNS message: header, question, records with owner names
/// compressed, in section order (`S`, see [`section`]). Every write that
/// would exceed `limit` fails and leaves the message unchanged.
pub struct MessageWriter<S = section::Question> {
    buf: Vec<u8>,
    /// Offsets of names (and their label suffixes) already written.
    table: Vec<u16>,
    counts: [u16; 3],
    limit: usize,
    section: PhantomData<S>,
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

impl MessageWriter<section::Question> {
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
            section: PhantomData,
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
}

impl<S: Records> MessageWriter<S> {
    /// Writes one class-IN record in this section; false (and nothing
    /// written) if it doesn't fit.
    pub fn record(&mut self, owner: &Name, rtype: RecordType, ttl: u32, rdata: &[u8]) -> bool {
        self.record_in(owner, rtype, 1, ttl, rdata)
    }

    /// [`MessageWriter::record`] in another class (CH for RFC 4892).
    pub fn record_in(
        &mut self,
        owner: &Name,
        rtype: RecordType,
        class: u16,
        ttl: u32,
        rdata: &[u8],
    ) -> bool {
        let mark = self.mark();
        let Ok(rdlen) = u16::try_from(rdata.len()) else {
            return false;
        };
        self.name(owner);
        self.buf.extend_from_slice(&u16::from(rtype).to_be_bytes());
        self.buf.extend_from_slice(&class.to_be_bytes());
        self.buf.extend_from_slice(&ttl.to_be_bytes());
        self.buf.extend_from_slice(&rdlen.to_be_bytes());
        self.buf.extend_from_slice(rdata);
        if self.buf.len() > self.limit {
            self.rollback(mark);
            return false;
        }
        self.counts[S::INDEX] = self.counts[S::INDEX].saturating_add(1);
        true
    }
}

impl MessageWriter<section::Additional> {
    /// Writes an OPT RR (RFC 6891 §6.1.2) with no options: our payload size,
    /// the extended RCODE's upper 8 bits, version 0, DO clear.
    pub fn opt(&mut self, payload: u16, rcode: Rcode) -> bool {
        if self.buf.len() + OPT_SIZE > self.limit {
            return false;
        }
        let ext = u32::from(rcode.extended_bits()) << 24;
        self.buf.push(0);
        self.buf
            .extend_from_slice(&u16::from(RecordType::OPT).to_be_bytes());
        self.buf.extend_from_slice(&payload.to_be_bytes());
        self.buf.extend_from_slice(&ext.to_be_bytes());
        self.buf.extend_from_slice(&0u16.to_be_bytes());
        self.counts[2] = self.counts[2].saturating_add(1);
        true
    }
}

impl<S> MessageWriter<S> {
    /// On to the answer section.
    pub fn answer(self) -> MessageWriter<section::Answer>
    where
        S: Before<section::Answer>,
    {
        self.into_section()
    }

    /// On to the authority section.
    pub fn authority(self) -> MessageWriter<section::Authority>
    where
        S: Before<section::Authority>,
    {
        self.into_section()
    }

    /// On to the additional section.
    pub fn additional(self) -> MessageWriter<section::Additional>
    where
        S: Before<section::Additional>,
    {
        self.into_section()
    }

    fn into_section<T>(self) -> MessageWriter<T> {
        MessageWriter {
            buf: self.buf,
            table: self.table,
            counts: self.counts,
            limit: self.limit,
            section: PhantomData,
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

    /// The finished message with its counts filled in.
    pub fn finish(mut self) -> Vec<u8> {
        self.buf[6..8].copy_from_slice(&self.counts[0].to_be_bytes());
        self.buf[8..10].copy_from_slice(&self.counts[1].to_be_bytes());
        self.buf[10..12].copy_from_slice(&self.counts[2].to_be_bytes());
        self.buf
    }
}

/// Header flags word for a response (RFC 1035 §4.1.1): QR set, RA clear,
/// the RCODE's low four bits (the rest go in the OPT).
pub fn response_flags(opcode: u8, aa: bool, tc: bool, rd: bool, cd: bool, rcode: Rcode) -> u16 {
    let mut f = 0x8000 | (u16::from(opcode & 0xF) << 11) | rcode.header_bits();
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

/// RFC 6891 §6.1.3: an extended RCODE needs an OPT to carry its upper
/// bits; without one it is sent as SERVFAIL.
fn sendable(rcode: Rcode, with_opt: bool) -> Rcode {
    if rcode.is_extended() && !with_opt {
        Rcode::ServFail
    } else {
        rcode
    }
}

/// A response carrying only a header, the question (when given) and an OPT
/// (when `opt_payload` is given): FORMERR, NOTIMP, REFUSED, BADVERS.
pub fn error_response(
    id: u16,
    opcode: u8,
    rd: bool,
    rcode: Rcode,
    question: Option<(&Name, u16, u16)>,
    opt_payload: Option<u16>,
) -> Vec<u8> {
    let rcode = sendable(rcode, opt_payload.is_some());
    let mut w = MessageWriter::new(
        id,
        response_flags(opcode, false, false, rd, false, rcode),
        65535,
    );
    if let Some((name, qtype, qclass)) = question {
        w.question(name, qtype, qclass);
    }
    let mut w = w.additional();
    if let Some(p) = opt_payload {
        w.opt(p, rcode);
    }
    w.finish()
}

/// An error response to the request `bytes`, whatever it is: ID, opcode
/// and RD echoed, and its question (or an UPDATE's zone) when QDCOUNT is 1
/// and it reads cleanly. For the answers given before or without a full
/// decode: a rejected TSIG, an unsigned UPDATE, SERVFAIL after a panic.
pub fn error_for(bytes: &[u8], rcode: Rcode) -> Vec<u8> {
    let h = Header::read(bytes);
    let (id, opcode, rd) = h.map_or((0, 0, false), |h| (h.id, h.op(), h.rd()));
    let q = h
        .filter(|h| h.qdcount == 1)
        .and_then(|_| read_question(bytes));
    error_response(
        id,
        opcode,
        rd,
        rcode,
        q.as_ref().map(|q| (&q.qname, q.qtype, q.qclass)),
        None,
    )
}

/// The answer to a request [`crate::request::decode`] refused: its
/// question echoed when it was readable, an OPT for BADVERS (RFC 6891
/// §6.1.3; the only refusal that needs one).
pub fn refusal(r: &Refusal) -> Vec<u8> {
    let opt = (r.rcode == Rcode::BadVers).then_some(OUR_PAYLOAD);
    error_response(
        r.id,
        r.opcode,
        r.rd,
        r.rcode,
        r.question.as_ref().map(|q| (&q.qname, q.qtype, q.qclass)),
        opt,
    )
}

/// RFC 8914 §2: the EDE option code.
pub const EDE_OPTION: u16 = 15;

/// `msg` (a response without OPT or TSIG yet) with an OPT RR carrying one
/// Extended DNS Error (RFC 8914 §2: INFO-CODE, then EXTRA-TEXT, UTF-8, "not
/// NUL terminated"), its text cut at 200 octets on a character boundary.
/// RCODEs here are below 16, so the OPT's extended bits are 0.
pub fn with_ede(mut msg: Vec<u8>, info_code: u16, text: &str) -> Vec<u8> {
    if msg.len() < HEADER_SIZE {
        return msg;
    }
    let mut cut = text.len().min(200);
    while !text.is_char_boundary(cut) {
        cut -= 1;
    }
    let text = &text.as_bytes()[..cut];
    let option_len = 2 + text.len();
    let rdlen = 4 + option_len;
    msg.push(0); // root owner
    msg.extend_from_slice(&u16::from(RecordType::OPT).to_be_bytes());
    msg.extend_from_slice(&OUR_PAYLOAD.to_be_bytes());
    msg.extend_from_slice(&0u32.to_be_bytes());
    msg.extend_from_slice(&(rdlen as u16).to_be_bytes());
    msg.extend_from_slice(&EDE_OPTION.to_be_bytes());
    msg.extend_from_slice(&(option_len as u16).to_be_bytes());
    msg.extend_from_slice(&info_code.to_be_bytes());
    msg.extend_from_slice(text);
    let arcount = u16::from_be_bytes([msg[10], msg[11]]).saturating_add(1);
    msg[10..12].copy_from_slice(&arcount.to_be_bytes());
    msg
}

/// The CHAOS class (RFC 1035 §3.2.4).
pub const CLASS_CH: u16 = 3;

/// RFC 4892 §2.1: the server's identity and version as CH TXT, when the
/// operator configured them (`identity`: `id.server.`, `hostname.bind.`;
/// `version`: `version.bind.`, `version.server.`); REFUSED otherwise, and
/// for every other CH name. `None` when `query` is not class CH.
pub fn chaos(
    query: &Query,
    identity: Option<&str>,
    version: Option<&str>,
    limit: usize,
) -> Option<Vec<u8>> {
    if query.qclass != CLASS_CH {
        return None;
    }
    let name = query.qname.to_ascii().to_ascii_lowercase();
    let text = match name.as_str() {
        "id.server." | "hostname.bind." => identity,
        "version.bind." | "version.server." => version,
        _ => None,
    };
    let text = text.filter(|t| !t.is_empty() && t.len() <= 255);
    let rcode = if text.is_some() {
        Rcode::NoError
    } else {
        Rcode::Refused
    };
    let flags = response_flags(0, text.is_some(), false, query.rd, query.cd, rcode);
    let mut w = MessageWriter::new(query.id, flags, limit);
    w.question(&query.qname, u16::from(query.qtype), query.qclass);
    let mut w = w.answer();
    if let Some(text) = text
        && matches!(u16::from(query.qtype), 16 | 255)
    {
        let mut rdata = vec![u8::try_from(text.len()).unwrap_or(255)];
        rdata.extend_from_slice(text.as_bytes());
        w.record_in(&query.qname, RecordType::TXT, CLASS_CH, 0, &rdata);
    }
    let mut w = w.additional();
    // RFC 6891 §7: an OPT in the answer when the query had one.
    if query.edns.is_some() {
        w.opt(OUR_PAYLOAD, rcode);
    }
    Some(w.finish())
}

/// A response to `query` with no records and the given RCODE (e.g. REFUSED
/// for AXFR over UDP or from a client not allowed to transfer), with an OPT
/// if the query had EDNS.
pub fn rcode_response(query: &Query, rcode: Rcode) -> Vec<u8> {
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
fn write_rrset<S: Records>(w: &mut MessageWriter<S>, set: &[Rec<'_>]) -> bool {
    let mark = w.mark();
    for r in set {
        if !w.record(r.owner, r.rr.rtype, r.rr.ttl, r.rr.rdata.as_bytes()) {
            w.rollback(mark);
            return false;
        }
    }
    true
}

/// Writes `recs` RRset by RRset; false as soon as one does not fit whole
/// (RFC 2181 §9: "the whole RRSet [is] omitted").
fn write_section<S: Records>(w: &mut MessageWriter<S>, recs: &[Rec<'_>]) -> bool {
    let mut rest = recs;
    while !rest.is_empty() {
        let n = rrset_len(rest);
        let (set, tail) = rest.split_at(n.max(1));
        if !write_rrset(w, set) {
            return false;
        }
        rest = tail;
    }
    true
}

/// Writes the additional section. A referral's in-domain glue (at or below
/// the delegated NS owner) is required: RFC 9471 §3, "If all glue records
/// for in-domain name servers do not fit, the TC flag MUST be set"; false
/// then. Other additional data is dropped silently.
fn write_additional(w: &mut MessageWriter<section::Additional>, answer: &Answer<'_>) -> bool {
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
        if !write_rrset(w, set) {
            let required =
                referral_cut.is_some_and(|cut| set.first().is_some_and(|r| cut.zone_of(r.owner)));
            if required {
                return false;
            }
        }
        rest = tail;
    }
    true
}

/// Encodes `answer` for `query`, within `limit` bytes; sets TC and drops
/// whole RRsets when they don't fit (RFC 2181 §9: TC when the answer or
/// authority section loses data).
pub fn encode(query: &Query, answer: &Answer, limit: usize) -> Vec<u8> {
    let limit = limit.clamp(512, 65535);
    let rcode = sendable(answer.rcode, query.edns.is_some());
    let mut w = MessageWriter::new(
        query.id,
        response_flags(0, answer.authoritative, false, query.rd, query.cd, rcode),
        limit,
    );
    // The OPT must always fit: reserve its 11 bytes.
    let reserve = if query.edns.is_some() { OPT_SIZE } else { 0 };
    w.set_limit(limit - reserve);
    w.question(&query.qname, u16::from(query.qtype), query.qclass);
    let mut w = w.answer();
    let mut fits = write_section(&mut w, &answer.answer);
    let mut w = w.authority();
    fits = fits && write_section(&mut w, &answer.authority);
    let mut w = w.additional();
    fits = fits && write_additional(&mut w, answer);
    w.set_limit(limit);
    if query.edns.is_some() {
        // RFC 6891 §6.1.1: a responder "MUST include an OPT record in the
        // response" when the request had one. DO is left clear: we don't sign.
        w.opt(OUR_PAYLOAD, rcode);
    }
    if !fits {
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

    #[test]
    fn rfc8914_2_ede_in_an_opt_after_the_records_text_cut_on_a_char() {
        let msg = error_response(
            7,
            5,
            false,
            Rcode::Refused,
            Some((&n("example.com."), 6, 1)),
            None,
        );
        let long = "é".repeat(150); // 300 octets
        let out = with_ede(msg, 18, &long);
        let m = Message::from_vec(&out).expect("parses");
        let edns = m.edns.expect("an OPT");
        let opts = format!("{:?}", edns.options());
        assert!(opts.contains("18") || opts.contains("Prohibited"), "{opts}");
        // The text ends the message: 200 octets, whole characters (100 é),
        // after the option's INFO-CODE 18.
        let tail = &out[out.len() - 202..];
        assert_eq!(&tail[..2], &18u16.to_be_bytes());
        assert_eq!(
            String::from_utf8(tail[2..].to_vec()).expect("UTF-8"),
            "é".repeat(100)
        );
        assert_eq!(u16::from_be_bytes([out[10], out[11]]), 1, "ARCOUNT");
        assert_eq!(
            with_ede(vec![1, 2], 18, "x"),
            vec![1, 2],
            "a runt is left alone"
        );
    }

    #[test]
    fn writer_compresses_names() {
        let mut w = MessageWriter::new(1, 0x8400, 512);
        assert!(w.question(&n("Www.Example.com."), 1, 1));
        let mut w = w.answer();
        assert!(w.record(&n("Www.Example.com."), RecordType::A, 5, &[1, 2, 3, 4]));
        let mut w = w.authority();
        assert!(w.record(
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

    /// RFC 6891 §6.1.3: BADVERS (16) goes out as 0 in the header and 1 in
    /// the OPT's extended RCODE, with the question echoed.
    #[test]
    fn rfc6891_6_1_3_badvers_refusal() {
        // A NOTIFY is refused with its question: the refusal to send again.
        let mut b = query();
        b[2] = (4 << 3) | 1;
        let crate::request::Request::Refuse(mut r) = crate::request::decode(&b, None) else {
            panic!("NOTIFY is refused")
        };
        (r.opcode, r.rcode) = (0, Rcode::BadVers);
        let b = refusal(&r);
        let m = Message::from_vec(&b).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(b[3] & 0xF, 0, "low bits of BADVERS (16) are 0");
        assert_eq!(u16::from(m.metadata.response_code), 16);
        assert_eq!(m.queries.len(), 1);
        assert_eq!(m.queries[0].name().to_ascii(), "Example.");
        let e = m.edns.as_ref().map(|e| (e.max_payload(), e.version()));
        assert_eq!(e, Some((1232, 0)));
        // Without an OPT an extended RCODE cannot be sent: SERVFAIL.
        let b = error_response(7, 0, false, Rcode::BadVers, None, None);
        assert_eq!(b[3] & 0xF, 2);
    }

    /// A query for `Example.` A, for the refusal tests.
    fn query() -> Vec<u8> {
        let mut b = vec![0, 7, 1, 0, 0, 1, 0, 0, 0, 0, 0, 0];
        b.extend(wire("Example."));
        b.extend_from_slice(&[0, 1, 0, 1]);
        b
    }
}
