//! PURE: IXFR (RFC 1995) difference sequences from two zone versions.
//!
//! # Design
//!
//! [`diff`] compares the records of an old and a new version (the SOA
//! excluded) and returns what was deleted and what was added; a TTL change
//! is a deletion of the old RR and an addition of the new one. [`messages`]
//! frames one condensed difference sequence (RFC 1995 §4) with
//! [`crate::xfr::Packer`]: `SOA(new) SOA(old) deleted… SOA(new) added… SOA(new)`.
//! Where the versions come from (git) is the journal's business
//! (`crate::journal`); this module never touches I/O.

use std::collections::HashSet;

use crate::request::Query;
use crate::rr::canonical;
use crate::rr::{RecordType, Rr};
use crate::xfr::Packer;
use crate::zone::NameKey;

/// The records deleted from and added to a zone between two versions.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Diff {
    pub deleted: Vec<Rr>,
    pub added: Vec<Rr>,
}

impl Diff {
    /// Records the difference sequence carries (SOAs not counted).
    pub fn len(&self) -> usize {
        self.deleted.len() + self.added.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// Identity of an RR for the diff: owner (case-folded), type, canonical
/// RDATA (RFC 2136 §1.1 "same RR", as [`Rr::same_rr`]) and the TTL.
type Key = (Vec<u8>, u16, Vec<u8>, u32);

fn key(rr: &Rr) -> Key {
    (
        NameKey::new(&rr.name).as_bytes().to_vec(),
        u16::from(rr.rtype),
        canonical(rr.rtype, &rr.rdata).into_owned(),
        rr.ttl,
    )
}

/// What changed from `old` to `new`: RRs of `old` that are not in `new`
/// (deleted) and RRs of `new` that are not in `old` (added), each in its
/// input order. Two RRs are equal when [`Rr::same_rr`] holds and their TTLs
/// match, so a TTL change is one deletion and one addition. SOA records
/// are left out: the sequence carries them itself (RFC 1995 §4).
pub fn diff(old: &[Rr], new: &[Rr]) -> Diff {
    let not_soa = |rr: &&Rr| rr.rtype != RecordType::SOA;
    let old_keys: HashSet<Key> = old.iter().filter(not_soa).map(key).collect();
    let new_keys: HashSet<Key> = new.iter().filter(not_soa).map(key).collect();
    let mut seen = HashSet::new();
    let deleted = old
        .iter()
        .filter(not_soa)
        .filter(|rr| {
            let k = key(rr);
            !new_keys.contains(&k) && seen.insert(k)
        })
        .cloned()
        .collect();
    let mut seen = HashSet::new();
    let added = new
        .iter()
        .filter(not_soa)
        .filter(|rr| {
            let k = key(rr);
            !old_keys.contains(&k) && seen.insert(k)
        })
        .cloned()
        .collect();
    Diff { deleted, added }
}

/// The response messages of an incremental transfer from `old_soa`'s
/// version to `current_soa`'s, each at most `max_size` octets (pass 65535
/// less the room a TSIG RR needs).
///
/// RFC 1995 §4: "If incremental zone transfer is available, one or more
/// difference sequences is returned. The list of difference sequences is
/// preceded and followed by a copy of the server's current version of the
/// SOA. Each difference sequence represents one update to the zone (one
/// SOA serial change) consisting of deleted RRs and added RRs. The first
/// RR of the deleted RRs is the older SOA RR and the first RR of the added
/// RRs is the newer SOA RR." and, of condensation: "An IXFR server can
/// condense multiple sequences into one". We always send one condensed
/// sequence.
pub fn messages(
    query: &Query,
    current_soa: &Rr,
    old_soa: &Rr,
    diff: &Diff,
    max_size: usize,
) -> Vec<Vec<u8>> {
    let mut p = Packer::new(query, max_size);
    p.push(current_soa);
    p.push(old_soa);
    for rr in &diff.deleted {
        p.push(rr);
    }
    p.push(current_soa);
    for rr in &diff.added {
        p.push(rr);
    }
    p.push(current_soa);
    p.finish()
}

/// RFC 1995 §2: "If an IXFR query with the same or newer version number
/// than that of the server is received, it is replied with a single SOA
/// record of the server's current version, just as in AXFR."
pub fn up_to_date(query: &Query, current_soa: &Rr, max_size: usize) -> Vec<Vec<u8>> {
    let mut p = Packer::new(query, max_size);
    p.push(current_soa);
    p.finish()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rr::soa_with_serial;
    use crate::zone::testutil::*;
    use hickory_proto::op::Message;
    use hickory_proto::rr::RData;

    fn q() -> Query {
        Query {
            id: 4242,
            rd: false,
            cd: false,
            qname: n("example."),
            qtype: RecordType::IXFR,
            qclass: 1,
            edns: None,
        }
    }

    fn soa_at(serial: u32) -> Rr {
        let mut s = soa("example.", 3600, 300);
        s.rdata = soa_with_serial(&s.rdata, serial).unwrap_or_else(|| panic!("soa"));
        s
    }

    fn with_ttl(mut rr: Rr, ttl: u32) -> Rr {
        rr.ttl = ttl;
        rr
    }

    /// Every answer record over all messages, as (type, serial if SOA, text).
    fn sequence(msgs: &[Vec<u8>]) -> Vec<(RecordType, Option<u32>, String)> {
        let mut out = Vec::new();
        for (i, b) in msgs.iter().enumerate() {
            let m = Message::from_vec(b).unwrap_or_else(|e| panic!("{e}"));
            assert_eq!(m.metadata.id, 4242);
            assert!(m.metadata.authoritative);
            assert_eq!(m.queries.len(), usize::from(i == 0));
            for r in m.answers {
                let serial = match &r.data {
                    RData::SOA(s) => Some(s.serial),
                    _ => None,
                };
                out.push((r.record_type(), serial, r.to_string()));
            }
        }
        out
    }

    #[test]
    fn diff_add_delete_and_no_change() {
        let old = vec![a("www.example.", 1), a("mail.example.", 2)];
        let new = vec![a("WWW.example.", 1), a("ftp.example.", 3)];
        let d = diff(&old, &new);
        assert_eq!(d.deleted, vec![a("mail.example.", 2)]);
        assert_eq!(d.added, vec![a("ftp.example.", 3)]);
        assert!(diff(&old, &old).is_empty());
    }

    #[test]
    fn diff_ttl_change_is_delete_plus_add() {
        let old = vec![a("www.example.", 1)];
        let new = vec![with_ttl(a("www.example.", 1), 60)];
        let d = diff(&old, &new);
        assert_eq!(d.deleted, old);
        assert_eq!(d.added, new);
    }

    #[test]
    fn diff_ignores_soa() {
        let d = diff(
            &[soa_at(1), a("www.example.", 1)],
            &[soa_at(2), a("www.example.", 1)],
        );
        assert!(d.is_empty());
    }

    #[test]
    fn diff_from_two_zone_versions() {
        let old = basic(
            "example.",
            vec![a("www.example.", 1), txt("example.", "old")],
        );
        let new = basic(
            "example.",
            vec![a("www.example.", 2), txt("example.", "old")],
        );
        let old_rrs: Vec<Rr> = old.records().cloned().collect();
        let new_rrs: Vec<Rr> = new.records().cloned().collect();
        let d = diff(&old_rrs, &new_rrs);
        assert_eq!(d.deleted, vec![a("www.example.", 1)]);
        assert_eq!(d.added, vec![a("www.example.", 2)]);
    }

    #[test]
    fn rfc1995_4_condensed_sequence_order() {
        // RFC 1995 §7's example, condensed: serial 1 -> 3, nezu deleted,
        // jain-bb changed address.
        let d = Diff {
            deleted: vec![a("nezu.example.", 4), a("jain-bb.example.", 5)],
            added: vec![a("jain-bb.example.", 6)],
        };
        let msgs = messages(&q(), &soa_at(3), &soa_at(1), &d, 65535);
        assert_eq!(msgs.len(), 1);
        let seq = sequence(&msgs);
        let shape: Vec<_> = seq.iter().map(|(t, s, _)| (*t, *s)).collect();
        assert_eq!(
            shape,
            vec![
                (RecordType::SOA, Some(3)),
                (RecordType::SOA, Some(1)),
                (RecordType::A, None),
                (RecordType::A, None),
                (RecordType::SOA, Some(3)),
                (RecordType::A, None),
                (RecordType::SOA, Some(3)),
            ]
        );
        assert!(seq[2].2.contains("nezu.example."));
        assert!(seq[3].2.contains("jain-bb.example."));
        assert!(seq[5].2.contains("0.0.0.6") || seq[5].2.contains("jain-bb"));
    }

    #[test]
    fn rfc1995_4_empty_diff_still_has_the_sequence() {
        let msgs = messages(&q(), &soa_at(3), &soa_at(2), &Diff::default(), 65535);
        let serials: Vec<_> = sequence(&msgs).into_iter().map(|(_, s, _)| s).collect();
        assert_eq!(serials, vec![Some(3), Some(2), Some(3), Some(3)]);
    }

    #[test]
    fn large_diff_is_framed_within_max_size() {
        let added: Vec<Rr> = (0..5000u32)
            .map(|i| txt(&format!("host-{i}.example."), &"x".repeat(100)))
            .collect();
        let d = Diff {
            deleted: vec![],
            added,
        };
        let msgs = messages(&q(), &soa_at(9), &soa_at(8), &d, 16000);
        assert!(msgs.len() > 1);
        assert!(msgs.iter().all(|m| m.len() <= 16000));
        let seq = sequence(&msgs);
        assert_eq!(seq.len(), 5000 + 4);
        assert_eq!(seq.first().map(|s| s.1), Some(Some(9)));
        assert_eq!(seq.last().map(|s| s.1), Some(Some(9)));
    }

    #[test]
    fn rfc1995_2_up_to_date_is_one_soa() {
        let seq = sequence(&up_to_date(&q(), &soa_at(5), 65535));
        assert_eq!(seq.len(), 1);
        assert_eq!(seq[0].1, Some(5));
    }
}
