//! PURE: AXFR message sequences (RFC 5936) from one zone snapshot.
//!
//! # Design
//!
//! [`Packer`] frames any sequence of records into response messages of at
//! most `max_size` bytes: each message has the query's ID, QR and AA set,
//! the question in the first message only (RFC 5936 §2.2.1 allows that),
//! and owner names compressed within the message. A record that doesn't
//! fit starts a new message. [`axfr`] feeds it SOA, every other record,
//! SOA (RFC 5936 §2.2). IXFR will feed it its own sequence, and TSIG can
//! sign each message after leaving room for the signature through a smaller
//! `max_size` ([`axfr_with_max`]).

use crate::rcode::Rcode;
use crate::request::Query;
use crate::response::{MessageWriter, response_flags, section};
use crate::rr::Rr;
use crate::zone::Zone;

/// Largest DNS message over TCP (RFC 1035 §4.2.2 two-octet length).
pub const MAX_MESSAGE: usize = 65535;

/// Packs records into as few messages as fit `max_size`.
pub struct Packer<'q> {
    query: &'q Query,
    max_size: usize,
    current: Option<MessageWriter<section::Answer>>,
    done: Vec<Vec<u8>>,
}

impl<'q> Packer<'q> {
    pub fn new(query: &'q Query, max_size: usize) -> Packer<'q> {
        Packer {
            query,
            max_size: max_size.clamp(512, MAX_MESSAGE),
            current: None,
            done: Vec::new(),
        }
    }

    fn fresh(&self) -> MessageWriter<section::Answer> {
        let flags = response_flags(0, true, false, self.query.rd, false, Rcode::NoError);
        let mut w = MessageWriter::new(self.query.id, flags, self.max_size);
        if self.done.is_empty() {
            w.question(
                &self.query.qname,
                u16::from(self.query.qtype),
                self.query.qclass,
            );
        }
        w.answer()
    }

    /// Adds one record (answer section). A record too large even for an
    /// empty message is skipped and reported with `false`.
    pub fn push(&mut self, rr: &Rr) -> bool {
        let mut w = match self.current.take() {
            Some(w) => w,
            None => self.fresh(),
        };
        if w.record(&rr.name, rr.rtype, rr.ttl, rr.rdata.as_bytes()) {
            self.current = Some(w);
            return true;
        }
        if w.counts()[0] > 0 {
            self.done.push(w.finish());
            w = self.fresh();
        }
        let ok = w.record(&rr.name, rr.rtype, rr.ttl, rr.rdata.as_bytes());
        self.current = Some(w);
        ok
    }

    /// The messages, in order.
    pub fn finish(mut self) -> Vec<Vec<u8>> {
        if let Some(w) = self.current.take() {
            self.done.push(w.finish());
        }
        self.done
    }
}

/// The messages of a full transfer of `zone`: SOA first and last, records
/// packed into as few messages of at most 65535 bytes as fit.
pub fn axfr(zone: &Zone, query: &Query) -> Vec<Vec<u8>> {
    axfr_with_max(zone, query, MAX_MESSAGE)
}

/// [`axfr`] with messages of at most `max_size` bytes (e.g. leaving room
/// for a TSIG record).
pub fn axfr_with_max(zone: &Zone, query: &Query, max_size: usize) -> Vec<Vec<u8>> {
    let mut p = Packer::new(query, max_size);
    // RFC 5936 §2.2: "The first and the last RR transmitted must be the SOA
    // record of the zone", and every other record once in between.
    p.push(zone.soa());
    for rr in zone.records() {
        p.push(rr);
    }
    p.push(zone.soa());
    p.finish()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rr::RecordType;
    use crate::zone::testutil::*;
    use hickory_proto::op::Message;

    fn q(name: &str) -> Query {
        Query {
            id: 77,
            rd: false,
            cd: false,
            qname: n(name),
            qtype: RecordType::AXFR,
            qclass: 1,
            edns: None,
        }
    }

    #[test]
    fn rfc5936_2_2_small_zone_one_message() {
        let z = basic(
            "example.",
            vec![a("www.example.", 1), txt("example.", "hi")],
        );
        let msgs = axfr(&z, &q("Example."));
        assert_eq!(msgs.len(), 1);
        let m = Message::from_vec(&msgs[0]).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(m.metadata.id, 77);
        assert!(m.metadata.authoritative);
        assert_eq!(m.queries.len(), 1);
        assert_eq!(m.queries[0].name().to_ascii(), "Example.");
        let types: Vec<_> = m.answers.iter().map(|r| r.record_type()).collect();
        assert_eq!(types.first(), Some(&RecordType::SOA));
        assert_eq!(types.last(), Some(&RecordType::SOA));
        assert_eq!(types.len(), 2 + z.record_count());
    }

    #[test]
    fn rfc5936_2_2_10000_records_framed() {
        let more: Vec<_> = (0..10_000u32)
            .map(|i| {
                txt(
                    &format!("host-{i}.sub{}.example.", i % 37),
                    "some text to make the record larger than tiny",
                )
            })
            .collect();
        let z = basic("example.", more);
        let msgs = axfr(&z, &q("example."));
        assert!(msgs.len() > 1);
        let mut total = 0;
        for (i, b) in msgs.iter().enumerate() {
            assert!(b.len() <= 65535);
            let m = Message::from_vec(b).unwrap_or_else(|e| panic!("{e}"));
            assert_eq!(m.queries.len(), usize::from(i == 0));
            if i == 0 {
                assert_eq!(
                    m.answers.first().map(|r| r.record_type()),
                    Some(RecordType::SOA)
                );
            }
            if i == msgs.len() - 1 {
                assert_eq!(
                    m.answers.last().map(|r| r.record_type()),
                    Some(RecordType::SOA)
                );
            }
            total += m.answers.len();
        }
        assert_eq!(total, z.record_count() + 2);
        // As few messages as fit: every message but the last is nearly full.
        for b in &msgs[..msgs.len() - 1] {
            assert!(b.len() > 65535 - 200, "{}", b.len());
        }
        // A smaller max leaves room (e.g. for TSIG).
        for b in axfr_with_max(&z, &q("example."), 16000) {
            assert!(b.len() <= 16000);
        }
    }
}
