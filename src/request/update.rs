//! Decoding an UPDATE message (RFC 2136 §2) into its sections.
//!
//! RDATA comes out uncompressed, as the zone holds it. RFC 3597 §4:
//! "Receiving servers MUST decompress domain names in RRs of well-known
//! type, and SHOULD also decompress RRs of type RP, AFSDB, RT, SIG, PX,
//! NXT, NAPTR, and SRV (although the current specification of the SRV RR
//! in [RFC2782] prohibits compression, [RFC2052] mandated it, and some
//! servers following that earlier specification are still in use)." The
//! RFC 1035 types and RP, AFSDB, RT, PX and SRV are expanded here (some
//! clients still compress an SRV target: dnspython 2.3 does); every other
//! type is taken as the octets sent.

use hickory_proto::serialize::binary::{BinDecodable, BinDecoder};

use super::read_rr as read_head;
use crate::rr::wire::u16_at;
use crate::rr::{Name, Rdata, RecordType};

pub const CLASS_IN: u16 = 1;
pub const CLASS_NONE: u16 = 254;
pub const CLASS_ANY: u16 = 255;

/// One RR of the prerequisite or update section, class kept as sent: it
/// carries the meaning (RFC 2136 §2.4, §2.5).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UpdateRr {
    pub name: Name,
    pub rtype: RecordType,
    pub class: u16,
    pub ttl: u32,
    pub rdata: Rdata,
}

/// An UPDATE's zone, prerequisites and updates (RFC 2136 §2).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UpdateRequest {
    pub id: u16,
    pub zone: Name,
    pub zone_class: u16,
    pub prerequisites: Vec<UpdateRr>,
    pub updates: Vec<UpdateRr>,
}

/// Why an UPDATE could not be decoded: always FORMERR (RFC 2136 §3.1.1,
/// §3.8), the message says what to log.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("malformed UPDATE: {0}")]
pub struct Malformed(pub &'static str);

/// Reads a possibly compressed name at `pos` of the whole message; returns
/// the name and the offset after it in the sequence (not after a pointer's target).
fn read_name(msg: &[u8], pos: usize) -> Option<(Name, usize)> {
    let mut d = BinDecoder::new(msg);
    d.read_slice(pos).ok()?;
    let name = Name::read(&mut d).ok()?;
    Some((name, d.index()))
}

fn push_name(out: &mut Vec<u8>, name: &Name) {
    for label in name.iter() {
        out.push(label.len() as u8);
        out.extend_from_slice(label);
    }
    out.push(0);
}

/// RDATA at `pos..pos + len`, names expanded for the types that may carry
/// them compressed (see the module doc).
fn read_rdata(msg: &[u8], pos: usize, len: usize, rtype: RecordType) -> Option<Rdata> {
    let end = pos.checked_add(len)?;
    let raw = msg.get(pos..end)?;
    // (number of names first, fixed octets after them) for each type whose
    // names RFC 1035 allows to be compressed (RFC 3597 §4).
    let (names, prefix) = match u16::from(rtype) {
        2 | 3 | 4 | 5 | 7 | 8 | 9 | 12 => (1, 0), // NS MD MF CNAME MB MG MR PTR
        6 => (2, 0),                              // SOA
        14 => (2, 0),                             // MINFO
        15 => (1, 2),                             // MX: preference first
        17 => (2, 0),                             // RP
        18 | 21 => (1, 2),                        // AFSDB, RT: a u16 first
        26 => (2, 2),                             // PX: preference first
        33 => (1, 6),                             // SRV: priority, weight, port
        _ => return Some(Rdata::new(raw)),
    };
    if len == 0 {
        // Empty RDATA (class ANY/NONE deletions, RFC 2136 §2.5.2).
        return Some(Rdata::new(Vec::new()));
    }
    let mut out = Vec::with_capacity(len + 32);
    let mut at = pos;
    out.extend_from_slice(msg.get(at..at + prefix)?);
    at += prefix;
    for _ in 0..names {
        let (name, next) = read_name(msg, at)?;
        push_name(&mut out, &name);
        at = next;
    }
    if at > end {
        return None;
    }
    out.extend_from_slice(msg.get(at..end)?);
    Some(Rdata::new(out))
}

/// The record at `pos` ([`super::read_rr`] checks its framing), its owner
/// and RDATA names decoded; and the offset after it.
fn read_rr(msg: &[u8], pos: usize) -> Option<(UpdateRr, usize)> {
    let h = read_head(msg, pos)?;
    let (name, _) = read_name(msg, pos)?;
    let rtype = RecordType::from(h.rtype);
    let rdata = read_rdata(msg, h.rdata_start, h.rdata_end - h.rdata_start, rtype)?;
    let rr = UpdateRr {
        name,
        rtype,
        class: h.class,
        ttl: h.ttl,
        rdata,
    };
    Some((rr, h.rdata_end))
}

/// Decodes `msg[..end]` (the message without its TSIG RR, if any) as an
/// UPDATE. ARCOUNT is taken from the header less `tsig_count`.
pub fn parse(msg: &[u8], end: usize, tsig_count: u16) -> Result<UpdateRequest, Malformed> {
    let msg = msg.get(..end).ok_or(Malformed("shorter than its header"))?;
    let header = |i| u16_at(msg, i).ok_or(Malformed("shorter than its header"));
    let id = header(0)?;
    let (zocount, prcount, upcount) = (header(4)?, header(6)?, header(8)?);
    let adcount = header(10)?.saturating_sub(tsig_count);
    // RFC 2136 §3.1.1: "The Zone Section is checked to see that there is
    // exactly one RR therein and that the RR's ZTYPE is SOA, else signal
    // FORMERR to the requestor."
    if zocount != 1 {
        return Err(Malformed("zone section must hold exactly one zone"));
    }
    let (zone, mut at) = read_name(msg, 12).ok_or(Malformed("bad zone name"))?;
    let ztype = u16_at(msg, at).ok_or(Malformed("truncated zone section"))?;
    let zone_class = u16_at(msg, at + 2).ok_or(Malformed("truncated zone section"))?;
    if ztype != u16::from(RecordType::SOA) {
        return Err(Malformed("zone section type is not SOA"));
    }
    at += 4;
    let mut section = |count: u16, opt_allowed: bool| -> Result<Vec<UpdateRr>, Malformed> {
        let mut rrs = Vec::with_capacity(usize::from(count).min(1024));
        for _ in 0..count {
            let (rr, next) = read_rr(msg, at).ok_or(Malformed("truncated or bad record"))?;
            // RFC 6891 §6.1.1: the OPT RR belongs in the additional section.
            if rr.rtype == RecordType::OPT && !opt_allowed {
                return Err(Malformed("OPT record outside the additional section"));
            }
            rrs.push(rr);
            at = next;
        }
        Ok(rrs)
    };
    let prerequisites = section(prcount, false)?;
    let updates = section(upcount, false)?;
    // The additional section (RFC 2136 §2.6) carries nothing we use; it is
    // only checked to be well formed.
    section(adcount, true)?;
    if at != msg.len() {
        return Err(Malformed("trailing octets after the last record"));
    }
    Ok(UpdateRequest {
        id,
        zone,
        zone_class,
        prerequisites,
        updates,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn unhex(s: &str) -> Vec<u8> {
        (0..s.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&s[i..i + 2], 16).expect("hex"))
            .collect()
    }

    /// The hmac-sha256 UPDATE that dnspython signed for the TSIG vectors:
    /// `update add _acme-challenge 60 TXT "token-1"` in zone example.com.
    fn dnspython_update() -> Vec<u8> {
        let line = include_str!("../../tests/fixtures/tsig/vectors.txt")
            .lines()
            .find(|l| l.starts_with("hmac-sha256 "))
            .expect("vector");
        unhex(line.split_whitespace().nth(1).expect("request"))
    }

    #[test]
    fn rfc2136_2_decodes_a_signed_update() {
        let msg = dnspython_update();
        // The TSIG RR is the last record: walk to it (zone section, then
        // ANCOUNT + NSCOUNT + ARCOUNT records).
        let (mut at, _) = super::super::skip_name(&msg, 12).expect("zone");
        at += 4;
        let records = (6..12).step_by(2).map(|i| u16_at(&msg, i).expect("count"));
        let mut tsig_start = at;
        for _ in 0..records.map(usize::from).sum::<usize>() {
            tsig_start = at;
            at = read_head(&msg, at).expect("record").rdata_end;
        }
        assert_eq!(at, msg.len());
        let req = parse(&msg, tsig_start, 1).expect("update");
        // As the server decodes it, once the TSIG verified.
        assert_eq!(
            crate::request::decode(&msg, Some(tsig_start)),
            crate::request::Request::Update(Ok(req.clone()))
        );
        assert_eq!(req.id, 4242);
        assert_eq!(req.zone, Name::from_ascii("example.com.").expect("n"));
        assert_eq!(req.zone_class, CLASS_IN);
        assert!(req.prerequisites.is_empty());
        assert_eq!(req.updates.len(), 1);
        let u = &req.updates[0];
        assert_eq!(
            u.name,
            Name::from_ascii("_acme-challenge.example.com.").expect("n")
        );
        assert_eq!((u.rtype, u.class, u.ttl), (RecordType::TXT, CLASS_IN, 60));
        assert_eq!(u.rdata.as_bytes(), b"\x07token-1");
    }

    #[test]
    fn rfc3597_4_compressed_names_in_rdata_are_expanded() {
        // Zone example.com, one update: www 60 IN CNAME <pointer to example.com>.
        let mut m = vec![0, 7, 0x28, 0, 0, 1, 0, 0, 0, 1, 0, 0];
        m.extend_from_slice(b"\x07example\x03com\x00\x00\x06\x00\x01");
        m.extend_from_slice(b"\x03www\xc0\x0c\x00\x05\x00\x01\x00\x00\x00\x3c\x00\x02\xc0\x0c");
        let req = parse(&m, m.len(), 0).expect("update");
        assert_eq!(req.updates[0].rdata.as_bytes(), b"\x07example\x03com\x00");
    }

    /// Outside attack, round 14: dnspython 2.3 compresses an SRV's target;
    /// the add was FORMERR and the delete of the same record removed
    /// nothing (NOERROR).
    #[test]
    fn rfc3597_4_a_compressed_srv_target_is_expanded() {
        // _sip._tcp 60 IN SRV 0 5 5060 <pointer to example.com>.
        let mut m = vec![0, 7, 0x28, 0, 0, 1, 0, 0, 0, 1, 0, 0];
        m.extend_from_slice(b"\x07example\x03com\x00\x00\x06\x00\x01");
        m.extend_from_slice(b"\x04_sip\x04_tcp\xc0\x0c\x00\x21\x00\x01\x00\x00\x00\x3c\x00\x08");
        m.extend_from_slice(b"\x00\x00\x00\x05\x13\xc4\xc0\x0c");
        let req = parse(&m, m.len(), 0).expect("update");
        assert_eq!(
            req.updates[0].rdata.as_bytes(),
            b"\x00\x00\x00\x05\x13\xc4\x07example\x03com\x00"
        );
        // An RDATA too short for its fixed part is malformed.
        let mut short = vec![0, 7, 0x28, 0, 0, 1, 0, 0, 0, 1, 0, 0];
        short.extend_from_slice(b"\x07example\x03com\x00\x00\x06\x00\x01");
        short
            .extend_from_slice(b"\x04_sip\x04_tcp\xc0\x0c\x00\x21\x00\x01\x00\x00\x00\x3c\x00\x04");
        short.extend_from_slice(b"\x00\x00\x00\x05");
        assert!(parse(&short, short.len(), 0).is_err());
    }

    #[test]
    fn rfc2136_3_1_1_zone_section_must_be_one_soa() {
        let mut m = vec![0, 7, 0x28, 0, 0, 2, 0, 0, 0, 0, 0, 0];
        m.extend_from_slice(b"\x00\x00\x06\x00\x01\x00\x00\x06\x00\x01");
        assert!(parse(&m, m.len(), 0).is_err());
        let mut m = vec![0, 7, 0x28, 0, 0, 1, 0, 0, 0, 0, 0, 0];
        m.extend_from_slice(b"\x00\x00\x01\x00\x01");
        assert_eq!(
            parse(&m, m.len(), 0),
            Err(Malformed("zone section type is not SOA"))
        );
    }

    #[test]
    fn rfc6891_6_1_1_opt_outside_the_additional_section_is_formerr() {
        // An OPT RR (root owner, type 41) in the update section, then in the
        // additional section, where it belongs.
        let opt = b"\x00\x00\x29\x04\xd0\x00\x00\x00\x00\x00\x00";
        let mut m = vec![0, 7, 0x28, 0, 0, 1, 0, 0, 0, 1, 0, 0];
        m.extend_from_slice(b"\x07example\x03com\x00\x00\x06\x00\x01");
        m.extend_from_slice(opt);
        assert_eq!(
            parse(&m, m.len(), 0),
            Err(Malformed("OPT record outside the additional section"))
        );
        let mut m = vec![0, 7, 0x28, 0, 0, 1, 0, 0, 0, 0, 0, 1];
        m.extend_from_slice(b"\x07example\x03com\x00\x00\x06\x00\x01");
        m.extend_from_slice(opt);
        assert!(parse(&m, m.len(), 0).is_ok());
    }

    #[test]
    fn truncated_and_mutated_messages_never_panic() {
        let msg = dnspython_update();
        for cut in 0..msg.len() {
            let _ = parse(&msg, cut, 0);
        }
        let mut m = msg.clone();
        for i in 0..m.len() {
            for bit in [0x01, 0x40, 0xc0] {
                m[i] ^= bit;
                let _ = parse(&m, m.len(), 1);
                m[i] ^= bit;
            }
        }
    }
}
