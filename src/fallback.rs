//! dynresolve's `fallback` (PURE): in a REST zone, an A query for a name
//! with no data answers the configured address instead of NXDOMAIN.
//!
//! # Design
//!
//! The answer engine ([`crate::answer`]) stays as it is; dispatch hands its
//! result here with the query and the `[rest]` settings, and only an
//! NXDOMAIN for QTYPE A (no CNAME chain in the answer) whose zone is one of
//! the REST zones is rewritten: NOERROR, authoritative, one A record owned
//! by the query name with the REST TTL, and no SOA in the authority section.
//! Names that exist (with other types: NODATA) keep their answer.
//!
//! A pure core, not part of `rest/`: the DNS dispatcher calls it, and an
//! edge imports no other edge; it needs only the answer model and zones.

use std::borrow::Cow;
use std::net::Ipv4Addr;

use crate::rcode::Rcode;
use crate::request::Query;
use crate::response::{Answer, Rec};
use crate::rr::{Name, Rdata, RecordType, Rr};
use crate::zone::ZoneSet;

/// The fallback settings: address, TTL, zones it applies to.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Fallback {
    pub addr: Ipv4Addr,
    pub ttl: u32,
    pub zones: Vec<Name>,
}

/// Rewrites `ans` as the fallback answer when it applies.
pub fn apply<'a>(ans: &mut Answer<'a>, query: &'a Query, zones: &ZoneSet, fb: &Fallback) {
    if ans.rcode != Rcode::NxDomain || query.qtype != RecordType::A || !ans.answer.is_empty() {
        return;
    }
    let Some(zone) = zones.find(&query.qname) else {
        return;
    };
    if !fb.zones.contains(zone.origin()) {
        return;
    }
    ans.rcode = Rcode::NoError;
    ans.authoritative = true;
    ans.authority.clear();
    ans.additional.clear();
    ans.answer.push(Rec {
        owner: &query.qname,
        rr: Cow::Owned(Rr {
            name: query.qname.clone(),
            ttl: fb.ttl,
            rtype: RecordType::A,
            rdata: Rdata::new(fb.addr.octets().to_vec()),
        }),
    });
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;
    use crate::answer::answer;
    use crate::zone::testutil::{a, basic, n};

    fn q(name: &str, qtype: RecordType) -> Query {
        Query {
            id: 1,
            rd: false,
            cd: false,
            qname: n(name),
            qtype,
            qclass: 1,
            edns: None,
        }
    }

    #[test]
    fn only_nxdomain_a_in_rest_zones() {
        let zones = ZoneSet::new(vec![
            Arc::new(basic(
                "service.local.",
                vec![a("valkey.service.local.", 12)],
            )),
            Arc::new(basic("other.test.", vec![])),
        ]);
        let fb = Fallback {
            addr: Ipv4Addr::new(10, 0, 0, 1),
            ttl: 5,
            zones: vec![n("service.local.")],
        };
        // (name, type, rcode after, answer count after)
        let table: &[(&str, RecordType, Rcode, usize)] = &[
            ("missing.service.local.", RecordType::A, Rcode::NoError, 1),
            ("MISSING.service.local.", RecordType::A, Rcode::NoError, 1),
            (
                "missing.service.local.",
                RecordType::AAAA,
                Rcode::NxDomain,
                0,
            ),
            ("valkey.service.local.", RecordType::A, Rcode::NoError, 1),
            ("valkey.service.local.", RecordType::TXT, Rcode::NoError, 0),
            ("missing.other.test.", RecordType::A, Rcode::NxDomain, 0),
        ];
        for (name, qtype, want_rcode, want_n) in table {
            let query = q(name, *qtype);
            let mut ans = answer(&zones, &query);
            apply(&mut ans, &query, &zones, &fb);
            assert_eq!(ans.rcode, *want_rcode, "{name} {qtype}");
            assert_eq!(ans.answer.len(), *want_n, "{name} {qtype}");
        }
        let query = q("missing.service.local.", RecordType::A);
        let mut ans = answer(&zones, &query);
        apply(&mut ans, &query, &zones, &fb);
        assert_eq!(ans.answer[0].rr.rdata.as_bytes(), &[10, 0, 0, 1]);
        assert_eq!(ans.answer[0].rr.ttl, 5);
        assert!(ans.authority.is_empty());
    }
}
