//! PURE: query -> response sections (RFC 1034 §4.3.2, RFC 2308, RFC 4592, RFC 8482).
//!
//! # Design
//!
//! [`answer`] reads one immutable [`ZoneSet`] snapshot: no locks, and the
//! records in the response are borrowed from the zone (`Cow::Borrowed`);
//! only a DNAME-synthesised CNAME is owned. The zone is chosen by longest
//! match ([`ZoneSet::find_key`]), then a loop runs RFC 1034 §4.3.2 step 3
//! per name of the chain: [`Zone::lookup`] descends from the apex and
//! reports a referral (cut above or at the name), a DNAME above the name,
//! an exact match (an empty non-terminal included), a wildcard match at the
//! closest encloser (RFC 4592), or NXDOMAIN. Exact and wildcard matches
//! answer the type, follow a CNAME (at most [`MAX_CHAIN`] steps, never
//! revisiting a node), or give NODATA. A CNAME whose target lies in another
//! zone we serve is followed there: step 3a says "go back to step 1", and
//! step 1 searches all "available zones" (BIND does the same; Knot and NSD
//! stop at the zone's edge). A target in no zone we serve ends the chain;
//! the resolver follows it. This is what lets a validator that asks us
//! directly (an ACME CA's DNS-01 check through an `_acme-challenge` CNAME
//! into an auth zone) see the TXT in one answer.
//!
//! Owners: records at the query name are given `&query.qname`, so the
//! response repeats the name with the case the client sent (0x20). Records
//! at other names borrow the zone's owner, or the CNAME target as stored.
//!
//! Choices documented here:
//! - ANY (RFC 8482 §4.2): the node's RRset with the lowest type code (RRsets
//!   are kept sorted by type), so at most one RRset; a CNAME node answers
//!   its CNAME.
//! - Meta-types as QTYPE: OPT, TKEY, TSIG (41, 249, 250) are FORMERR (RFC
//!   6891 §6.1.1: OPT "MUST NOT be ... in a question"; TKEY/TSIG are
//!   additional-section only); MAILA/MAILB (253, 254) NOTIMP; AXFR/IXFR
//!   never reach here (NOTIMP if they do).
//! - QCLASS: IN, or ANY (255) treated as IN; anything else REFUSED.
//! - DS at a zone's apex is answered from the parent zone when the parent
//!   is also hosted (RFC 4035 §3.1.4.1); DS at a delegation point is
//!   answered from the parent side (authoritative DS or NODATA).
//! - After a DNAME substitution the chain continues only while the names
//!   exist as nodes in the zone (the owner of a further synthesised record
//!   would be a name we don't hold); resolvers re-query the rest.

use std::borrow::Cow;

use hickory_proto::serialize::binary::{BinDecodable, BinDecoder};

use crate::rcode::Rcode;
use crate::request::Query;
use crate::response::{Answer, Rec};
use crate::rr::{Name, Rdata, RecordType, Rr};
use crate::zone::{Lookup, NameKey, Node, RrSet, Zone, ZoneSet};

/// Most CNAME/DNAME steps followed for one query (loop guard).
pub const MAX_CHAIN: usize = 8;

/// The name being resolved: borrowed for the response's lifetime, or a
/// DNAME-synthesised name we can look up but not use as an owner.
enum Cur<'a> {
    Ref(&'a Name),
    Synth(Name),
}

impl<'a> Cur<'a> {
    fn name(&self) -> &Name {
        match self {
            Cur::Ref(n) => n,
            Cur::Synth(n) => n,
        }
    }

    fn owner(&self) -> Option<&'a Name> {
        match self {
            Cur::Ref(n) => Some(*n),
            Cur::Synth(_) => None,
        }
    }
}

fn push_set<'a>(section: &mut Vec<Rec<'a>>, owner: &'a Name, set: &'a RrSet) {
    section.extend(set.rrs.iter().map(|rr| Rec {
        owner,
        rr: Cow::Borrowed(rr),
    }));
}

/// RFC 2308 §3: the SOA in AUTHORITY, TTL min(SOA TTL, MINIMUM).
fn negative<'a>(zone: &'a Zone, ans: &mut Answer<'a>, nxdomain: bool) {
    if nxdomain {
        ans.rcode = Rcode::NxDomain;
    }
    let soa = zone.negative_soa();
    ans.authority.push(Rec {
        owner: &soa.name,
        rr: Cow::Borrowed(soa),
    });
}

/// A/AAAA for in-zone targets (RFC 1035 §3.3.9 / §4.3.2 step 6: "add other
/// RRs which may be useful ... to the additional section"). `glue_ok` lets
/// occluded names (below a cut) be used, for referrals and NS answers.
fn add_addresses<'a>(zone: &'a Zone, set: &'a RrSet, glue_ok: bool, ans: &mut Answer<'a>) {
    for target in set.targets.iter().flatten() {
        let key = NameKey::new(target);
        if !zone.contains_key(&key) {
            continue;
        }
        let Some(node) = zone.node_by_key(key.as_bytes()) else {
            continue;
        };
        if node.glue && !glue_ok {
            continue;
        }
        if ans
            .additional
            .iter()
            .any(|r| std::ptr::eq(r.owner, &node.name))
        {
            continue;
        }
        for t in [RecordType::A, RecordType::AAAA] {
            if let Some(s) = node.rrset(t) {
                push_set(&mut ans.additional, &node.name, s);
            }
        }
    }
}

fn wants_additional(rtype: RecordType) -> bool {
    matches!(
        rtype,
        RecordType::NS | RecordType::MX | RecordType::SRV | RecordType::SVCB | RecordType::HTTPS
    )
}

/// RFC 6672 §2.2: replace the DNAME owner suffix of `name` with `target`.
/// `None` when the result would exceed 255 octets (YXDOMAIN).
fn dname_substitute(name: &Name, owner_labels: usize, target: &Name) -> Option<(Name, Vec<u8>)> {
    let keep = name.iter().len().checked_sub(owner_labels)?;
    let mut wire = Vec::with_capacity(64);
    for l in name.iter().take(keep) {
        wire.push(l.len() as u8);
        wire.extend_from_slice(l);
    }
    for l in target.iter() {
        wire.push(l.len() as u8);
        wire.extend_from_slice(l);
    }
    wire.push(0);
    if wire.len() > 255 {
        return None;
    }
    let new = Name::read(&mut BinDecoder::new(&wire)).ok()?;
    Some((new, wire))
}

/// Answers a standard query from the served zones.
pub fn answer<'a>(zones: &'a ZoneSet, query: &'a Query) -> Answer<'a> {
    let mut ans = Answer::default();
    // RFC 1035 §3.2.4 classes: we serve IN only; ANY (255) reads as IN.
    if query.qclass != 1 && query.qclass != 255 {
        ans.rcode = Rcode::Refused;
        return ans;
    }
    match u16::from(query.qtype) {
        41 | 249 | 250 => {
            ans.rcode = Rcode::FormErr;
            return ans;
        }
        251..=254 => {
            ans.rcode = Rcode::NotImp;
            return ans;
        }
        _ => {}
    }
    let key = NameKey::new(&query.qname);
    let Some(mut zone) = zones.find_key(&key, 0) else {
        // Not authoritative for any zone holding the name.
        ans.rcode = Rcode::Refused;
        return ans;
    };
    if query.qtype == RecordType::DS && zone.origin().iter().len() == key.labels() {
        // RFC 4035 §3.1.4.1: DS lives on the parent side of the cut.
        if let Some(parent) = zones.find_key(&key, 1) {
            zone = parent;
        }
    }
    ans.authoritative = true;
    ans.zone = Some(zone.label());
    resolve(zones, zone, query, key, &mut ans);
    ans
}

/// The chain of RFC 1034 §4.3.2 from the query name: each step looks the
/// current name up in its zone and either ends the answer or follows a
/// CNAME or DNAME to the next name (at most [`MAX_CHAIN`] links; a node met
/// twice ends a loop).
fn resolve<'a>(
    zones: &'a ZoneSet,
    mut zone: &'a Zone,
    query: &'a Query,
    mut key: NameKey,
    ans: &mut Answer<'a>,
) {
    let qtype = query.qtype;
    let mut cur = Cur::Ref(&query.qname);
    let mut seen: [*const Node; MAX_CHAIN + 1] = [std::ptr::null(); MAX_CHAIN + 1];
    for step in 0..=MAX_CHAIN {
        if step > 0 {
            key = NameKey::new(cur.name());
            // RFC 1034 §4.3.2 step 1: "search the available zones for the
            // zone which is the nearest ancestor to QNAME". None of ours:
            // the chain leaves our data and the resolver follows it.
            match zones.find_key(&key, 0) {
                Some(z) => zone = z,
                None => return,
            }
        }
        let next = match zone.lookup(&key, qtype) {
            Lookup::Exact(node) | Lookup::Wildcard(node)
                if seen[..step].iter().any(|p| std::ptr::eq(*p, node)) =>
            {
                Next::Done
            }
            Lookup::Exact(node) => {
                seen[step] = node;
                at_node(zone, node, cur.owner().unwrap_or(&node.name), qtype, ans)
            }
            // RFC 4592 §3.3.1: synthesised RRs have "the owner name ...
            // set to the QNAME" (the current name).
            Lookup::Wildcard(node) => match cur.owner() {
                Some(owner) => {
                    seen[step] = node;
                    at_node(zone, node, owner, qtype, ans)
                }
                None => Next::Done,
            },
            Lookup::Referral(cut) => {
                referral(zone, cut, ans);
                Next::Done
            }
            Lookup::Dname(node) => dname(&cur, node, ans),
            Lookup::NxDomain => {
                // RFC 2308 §2.1 NXDOMAIN; RFC 6604 §3: the RCODE reflects the
                // last name in a chain.
                negative(zone, ans, true);
                Next::Done
            }
        };
        match next {
            Next::Done => return,
            Next::Follow(c) => cur = c,
        }
    }
}

/// After one step of [`resolve`]: the answer is complete, or the chain
/// goes on at a new name.
enum Next<'a> {
    Done,
    Follow(Cur<'a>),
}

/// RFC 1034 §4.3.2 3b: "copy the NS RRs for the subzone into the authority
/// section ... put whatever addresses are available into the additional
/// section". Not authoritative unless a chain already answered.
fn referral<'a>(zone: &'a Zone, cut: &'a Node, ans: &mut Answer<'a>) {
    if ans.answer.is_empty() {
        ans.authoritative = false;
    }
    if let Some(set) = cut.rrset(RecordType::NS) {
        push_set(&mut ans.authority, &cut.name, set);
        add_addresses(zone, set, true, ans);
    }
}

/// RFC 6672 §2.2: the DNAME goes in the answer, followed by a CNAME
/// synthesised with the DNAME's TTL; the chain goes on at the substituted
/// name.
fn dname<'a>(cur: &Cur<'a>, node: &'a Node, ans: &mut Answer<'a>) -> Next<'a> {
    let Some(owner) = cur.owner() else {
        return Next::Done;
    };
    let Some(set) = node.rrset(RecordType::DNAME) else {
        return Next::Done;
    };
    let (Some(drr), Some(Some(target))) = (set.rrs.first(), set.targets.first()) else {
        return Next::Done;
    };
    push_set(&mut ans.answer, &node.name, set);
    let Some((new, wire)) = dname_substitute(cur.name(), node.name.iter().len(), target) else {
        // RFC 6672 §2.2: "If the substitution ... would overflow the legal
        // size for a <domain-name>, the query ... YXDOMAIN".
        ans.rcode = Rcode::YxDomain;
        return Next::Done;
    };
    ans.answer.push(Rec {
        owner,
        rr: Cow::Owned(Rr {
            name: owner.clone(),
            ttl: drr.ttl,
            rtype: RecordType::CNAME,
            rdata: Rdata::new(wire),
        }),
    });
    Next::Follow(Cur::Synth(new))
}

/// The answer at a node found for the current name (`owner`, the query
/// name for a wildcard): the RRset asked for, a CNAME to follow, or NODATA.
fn at_node<'a>(
    zone: &'a Zone,
    node: &'a Node,
    owner: &'a Name,
    qtype: RecordType,
    ans: &mut Answer<'a>,
) -> Next<'a> {
    if qtype == RecordType::ANY {
        // RFC 8482 §4.2: "A DNS responder MAY behave as if the QTYPE was
        // ... one RRset" - the one with the lowest type.
        match node.rrsets.first() {
            Some(set) => {
                push_set(&mut ans.answer, owner, set);
                if wants_additional(set.rtype) {
                    add_addresses(zone, set, set.rtype == RecordType::NS, ans);
                }
            }
            None => negative(zone, ans, false),
        }
        return Next::Done;
    }
    if let Some(set) = node.rrset(qtype) {
        // RFC 1034 §4.3.2 3a: "copy matching RRs ... into the answer".
        push_set(&mut ans.answer, owner, set);
        if wants_additional(qtype) {
            add_addresses(zone, set, qtype == RecordType::NS, ans);
        }
        return Next::Done;
    }
    if qtype != RecordType::CNAME
        && let Some(set) = node.rrset(RecordType::CNAME)
    {
        // RFC 1034 §4.3.2 3a: "If the data at the node is a CNAME, and
        // QTYPE doesn't match CNAME, copy the CNAME RR into the answer
        // section ... change QNAME to the canonical name in the CNAME RR,
        // and go back to step 1."
        push_set(&mut ans.answer, owner, set);
        return match set.targets.first().and_then(Option::as_ref) {
            Some(t) => Next::Follow(Cur::Ref(t)),
            None => Next::Done,
        };
    }
    // RFC 2308 §2.2 NODATA: "the name exists but there are no records of
    // the requested type" (empty non-terminals too).
    negative(zone, ans, false);
    Next::Done
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;
    use crate::request::{Edns, Query};
    use crate::response::encode;
    use crate::rr::RecordType as T;
    use crate::zone::testutil::*;
    use hickory_proto::op::Message;

    fn query(name: &str, qtype: T) -> Query {
        Query {
            id: 4242,
            rd: true,
            cd: false,
            qname: n(name),
            qtype,
            qclass: 1,
            edns: None,
        }
    }

    fn set(zones: Vec<Zone>) -> ZoneSet {
        ZoneSet::new(zones.into_iter().map(Arc::new).collect())
    }

    /// (rcode, AA, answer owner/type, authority types, additional owner/type)
    #[derive(Debug, PartialEq)]
    struct Shape {
        rcode: Rcode,
        aa: bool,
        answer: Vec<(String, T)>,
        authority: Vec<T>,
        additional: Vec<(String, T)>,
    }

    fn recs(v: &[Rec<'_>]) -> Vec<(String, T)> {
        v.iter()
            .map(|r| (r.owner.to_ascii().to_lowercase(), r.rr.rtype))
            .collect()
    }

    fn shape(zones: &ZoneSet, name: &str, qtype: T) -> Shape {
        let q = query(name, qtype);
        let a = answer(zones, &q);
        Shape {
            rcode: a.rcode,
            aa: a.authoritative,
            answer: recs(&a.answer),
            authority: a.authority.iter().map(|r| r.rr.rtype).collect(),
            additional: recs(&a.additional),
        }
    }

    fn own(v: &[(&str, T)]) -> Vec<(String, T)> {
        v.iter().map(|(n, t)| (n.to_string(), *t)).collect()
    }

    fn ok(answer: &[(&str, T)], authority: &[T], additional: &[(&str, T)]) -> Shape {
        Shape {
            rcode: Rcode::NoError,
            aa: true,
            answer: own(answer),
            authority: authority.to_vec(),
            additional: own(additional),
        }
    }

    fn nodata() -> Shape {
        ok(&[], &[T::SOA], &[])
    }

    fn nxdomain() -> Shape {
        Shape {
            rcode: Rcode::NxDomain,
            ..nodata()
        }
    }

    fn referral(ns: usize, additional: &[(&str, T)]) -> Shape {
        Shape {
            rcode: Rcode::NoError,
            aa: false,
            answer: vec![],
            authority: vec![T::NS; ns],
            additional: own(additional),
        }
    }

    // RFC 4592 §2.2.1:
    //
    //   $ORIGIN example.
    //   example.                 3600 IN  SOA   <SOA RDATA>
    //   example.                 3600     NS    ns.example.com.
    //   example.                 3600     NS    ns.example.net.
    //   *.example.               3600     TXT   "this is a wildcard"
    //   *.example.               3600     MX    10 host1.example.
    //   sub.*.example.           3600     TXT   "this is not a wildcard"
    //   host1.example.           3600     A     192.0.2.1
    //   _ssh._tcp.host1.example. 3600     SRV   <SRV RDATA>
    //   _ssh._tcp.host2.example. 3600     SRV   <SRV RDATA>
    //   subdel.example.          3600     NS    ns.example.com.
    //   subdel.example.          3600     NS    ns.example.net.
    fn rfc4592_zone() -> ZoneSet {
        set(vec![zone(
            "example.",
            vec![
                soa("example.", 3600, 3600),
                ns("example.", "ns.example.com."),
                ns("example.", "ns.example.net."),
                txt("*.example.", "this is a wildcard"),
                mx("*.example.", 10, "host1.example."),
                txt("sub.*.example.", "this is not a wildcard"),
                a("host1.example.", 1),
                srv("_ssh._tcp.host1.example.", "host1.example."),
                srv("_ssh._tcp.host2.example.", "host2.example."),
                ns("subdel.example.", "ns.example.com."),
                ns("subdel.example.", "ns.example.net."),
            ],
        )])
    }

    #[test]
    fn rfc4592_2_2_1_table() {
        let z = rfc4592_zone();
        let table: Vec<(&str, T, Shape)> = vec![
            // "QNAME=host3.example. QTYPE=MX ... the answer will be a
            // 'host3.example. IN MX ...'"
            (
                "host3.example.",
                T::MX,
                ok(
                    &[("host3.example.", T::MX)],
                    &[],
                    &[("host1.example.", T::A)],
                ),
            ),
            // "QNAME=host3.example. QTYPE=A ... 'no error, but no data'
            // because there is no A RR set at '*.example.'"
            ("host3.example.", T::A, nodata()),
            // "QNAME=foo.bar.example. QTYPE=TXT ... 'foo.bar.example. IN
            // TXT ...' because bar.example. does not exist"
            (
                "foo.bar.example.",
                T::TXT,
                ok(&[("foo.bar.example.", T::TXT)], &[], &[]),
            ),
            // "QNAME=host1.example., QTYPE=MX ... because host1.example. exists"
            ("host1.example.", T::MX, nodata()),
            // "QNAME=sub.*.example., QTYPE=MX ... because sub.*.example. exists"
            ("sub.*.example.", T::MX, nodata()),
            // "QNAME=_telnet._tcp.host1.example., QTYPE=SRV ... because
            // _tcp.host1.example. exists (without data)"
            ("_telnet._tcp.host1.example.", T::SRV, nxdomain()),
            // "QNAME=host.subdel.example., QTYPE=A ... because
            // subdel.example. exists (and is a zone cut)"
            ("host.subdel.example.", T::A, referral(2, &[])),
            // "QNAME=ghost.*.example., QTYPE=MX ... because *.example. exists"
            ("ghost.*.example.", T::MX, nxdomain()),
            // Existing names answer normally.
            (
                "_ssh._tcp.host1.example.",
                T::SRV,
                ok(
                    &[("_ssh._tcp.host1.example.", T::SRV)],
                    &[],
                    &[("host1.example.", T::A)],
                ),
            ),
            ("_tcp.host1.example.", T::TXT, nodata()),
            (
                "*.example.",
                T::TXT,
                ok(&[("*.example.", T::TXT)], &[], &[]),
            ),
            (
                "sub.*.example.",
                T::TXT,
                ok(&[("sub.*.example.", T::TXT)], &[], &[]),
            ),
            // The wildcard doesn't reach the empty non-terminal's children.
            ("x._tcp.host2.example.", T::TXT, nxdomain()),
        ];
        for (name, qtype, want) in table {
            assert_eq!(shape(&z, name, qtype), want, "{name} {qtype}");
        }
    }

    #[test]
    fn rfc4592_3_3_1_owner_is_qname_and_case_kept() {
        let z = rfc4592_zone();
        let q = query("HoSt3.Example.", T::TXT);
        let a = answer(&z, &q);
        assert_eq!(a.answer.len(), 1);
        assert!(std::ptr::eq(a.answer[0].owner, &q.qname));
        assert_eq!(a.answer[0].rr.name.to_ascii(), "*.example.");
        assert!(matches!(a.answer[0].rr, Cow::Borrowed(_)));
    }

    #[test]
    fn rfc4592_4_3_wildcard_cname_followed() {
        let z = set(vec![basic(
            "example.",
            vec![
                cname("*.w.example.", "target.example."),
                a("target.example.", 7),
            ],
        )]);
        assert_eq!(
            shape(&z, "x.w.example.", T::A),
            ok(
                &[("x.w.example.", T::CNAME), ("target.example.", T::A)],
                &[],
                &[]
            )
        );
    }

    fn cname_zone() -> ZoneSet {
        let mut rrs = vec![
            cname("a.example.", "b.example."),
            cname("b.example.", "c.example."),
            a("c.example.", 3),
            cname("loop1.example.", "loop2.example."),
            cname("loop2.example.", "loop1.example."),
            cname("out.example.", "www.example.net."),
            cname("dangling.example.", "nothing.example."),
            cname("toref.example.", "www.sub.example."),
            ns("sub.example.", "ns.sub.example."),
            a("ns.sub.example.", 9),
        ];
        for i in 0..20 {
            rrs.push(cname(
                &format!("c{i}.example."),
                &format!("c{}.example.", i + 1),
            ));
        }
        set(vec![basic("example.", rrs)])
    }

    #[test]
    fn rfc1034_4_3_2_cname_chain_in_zone() {
        let z = cname_zone();
        assert_eq!(
            shape(&z, "a.example.", T::A),
            ok(
                &[
                    ("a.example.", T::CNAME),
                    ("b.example.", T::CNAME),
                    ("c.example.", T::A)
                ],
                &[],
                &[]
            )
        );
        // QTYPE CNAME is not followed.
        assert_eq!(
            shape(&z, "a.example.", T::CNAME),
            ok(&[("a.example.", T::CNAME)], &[], &[])
        );
    }

    #[test]
    fn rfc1034_4_3_2_cname_loop_and_long_chain_stop() {
        let z = cname_zone();
        let s = shape(&z, "loop1.example.", T::A);
        assert_eq!(s.rcode, Rcode::NoError);
        assert_eq!(s.answer.len(), 2);
        let s = shape(&z, "c0.example.", T::A);
        assert_eq!(s.rcode, Rcode::NoError);
        assert_eq!(s.answer.len(), MAX_CHAIN + 1);
        assert!(s.answer.iter().all(|(_, t)| *t == T::CNAME));
    }

    #[test]
    fn rfc1034_4_3_2_cname_out_of_zone_stops() {
        let z = cname_zone();
        assert_eq!(
            shape(&z, "out.example.", T::A),
            ok(&[("out.example.", T::CNAME)], &[], &[])
        );
    }

    fn two_zones() -> ZoneSet {
        set(vec![
            basic(
                "example.",
                vec![
                    cname("_acme-challenge.example.", "example.auth.example.net."),
                    cname("gone.example.", "nothing.auth.example.net."),
                    cname("deep.example.", "www.child.example."),
                    ns("child.example.", "ns.child.example."),
                    a("ns.child.example.", 7),
                ],
            ),
            basic(
                "auth.example.net.",
                vec![
                    txt("example.auth.example.net.", "token"),
                    cname("back.auth.example.net.", "_acme-challenge.example."),
                ],
            ),
            basic("child.example.", vec![a("www.child.example.", 8)]),
        ])
    }

    #[test]
    fn rfc1034_4_3_2_step_1_cname_into_another_served_zone() {
        let z = two_zones();
        assert_eq!(
            shape(&z, "_acme-challenge.example.", T::TXT),
            ok(
                &[
                    ("_acme-challenge.example.", T::CNAME),
                    ("example.auth.example.net.", T::TXT)
                ],
                &[],
                &[]
            )
        );
        // And back again: each name is looked up in its own zone.
        assert_eq!(
            shape(&z, "back.auth.example.net.", T::TXT).answer,
            own(&[
                ("back.auth.example.net.", T::CNAME),
                ("_acme-challenge.example.", T::CNAME),
                ("example.auth.example.net.", T::TXT)
            ])
        );
        // The best zone for the target wins over a delegation in the first
        // zone: the child zone is served here too.
        assert_eq!(
            shape(&z, "deep.example.", T::A).answer,
            own(&[("deep.example.", T::CNAME), ("www.child.example.", T::A)])
        );
    }

    #[test]
    fn rfc2308_2_1_nxdomain_at_the_end_of_a_chain_into_another_zone() {
        let z = two_zones();
        let q = query("gone.example.", T::TXT);
        let a = answer(&z, &q);
        assert_eq!(a.rcode, Rcode::NxDomain);
        assert!(a.authoritative);
        assert_eq!(recs(&a.answer), own(&[("gone.example.", T::CNAME)]));
        // The SOA of the zone that said the last name does not exist.
        assert_eq!(a.authority.len(), 1);
        assert_eq!(a.authority[0].rr.name, n("auth.example.net."));
    }

    #[test]
    fn rfc6604_3_cname_to_nxdomain() {
        let z = cname_zone();
        let s = shape(&z, "dangling.example.", T::A);
        assert_eq!(s.rcode, Rcode::NxDomain);
        assert_eq!(s.answer, own(&[("dangling.example.", T::CNAME)]));
        assert_eq!(s.authority, vec![T::SOA]);
    }

    #[test]
    fn rfc1034_4_3_2_cname_into_delegation() {
        let z = cname_zone();
        let s = shape(&z, "toref.example.", T::A);
        assert!(s.aa);
        assert_eq!(s.answer, own(&[("toref.example.", T::CNAME)]));
        assert_eq!(s.authority, vec![T::NS]);
        assert_eq!(s.additional, own(&[("ns.sub.example.", T::A)]));
    }

    fn dname_zone() -> ZoneSet {
        set(vec![basic(
            "example.",
            vec![
                rr("old.example.", 1800, T::DNAME, &wire("new.example.")),
                a("www.new.example.", 5),
                rr("ext.example.", 1800, T::DNAME, &wire("example.net.")),
                rr(
                    "long.example.",
                    1800,
                    T::DNAME,
                    &wire(&format!(
                        "{}.{}.{}.example.",
                        "a".repeat(63),
                        "b".repeat(63),
                        "c".repeat(63)
                    )),
                ),
            ],
        )])
    }

    #[test]
    fn rfc6672_2_2_dname_synthesis() {
        let z = dname_zone();
        let q = query("WWW.old.example.", T::A);
        let a = answer(&z, &q);
        assert_eq!(a.rcode, Rcode::NoError);
        assert_eq!(
            recs(&a.answer),
            own(&[
                ("old.example.", T::DNAME),
                ("www.old.example.", T::CNAME),
                ("www.new.example.", T::A)
            ])
        );
        let cname = &a.answer[1];
        assert_eq!(
            cname.rr.ttl, 1800,
            "synthesised CNAME takes the DNAME's TTL"
        );
        assert_eq!(cname.rr.rdata.as_bytes(), &wire("WWW.new.example.")[..]);
        assert!(std::ptr::eq(cname.owner, &q.qname));
        // Target missing: NXDOMAIN after synthesis.
        let s = shape(&z, "nope.old.example.", T::A);
        assert_eq!(s.rcode, Rcode::NxDomain);
        assert_eq!(s.answer.len(), 2);
        // Out of zone: DNAME and CNAME only.
        let s = shape(&z, "x.ext.example.", T::A);
        assert_eq!(
            s,
            ok(
                &[("ext.example.", T::DNAME), ("x.ext.example.", T::CNAME)],
                &[],
                &[]
            )
        );
        // The owner itself is not redirected.
        assert_eq!(shape(&z, "old.example.", T::A), nodata());
        assert_eq!(
            shape(&z, "old.example.", T::DNAME),
            ok(&[("old.example.", T::DNAME)], &[], &[])
        );
    }

    #[test]
    fn rfc6672_2_2_yxdomain() {
        let z = dname_zone();
        let q = format!("{}.long.example.", "x".repeat(63));
        let s = shape(&z, &q, T::A);
        assert_eq!(s.rcode, Rcode::YxDomain);
        assert_eq!(s.answer, own(&[("long.example.", T::DNAME)]));
    }

    fn deleg_zone(ds: bool) -> Zone {
        let mut rrs = vec![
            ns("sub.example.", "ns1.sub.example."),
            ns("sub.example.", "ns.other.net."),
            ns("sub.example.", "ns.example."),
            a("ns1.sub.example.", 10),
            aaaa("ns1.sub.example.", 10),
            a("sub.example.", 99),
        ];
        if ds {
            rrs.push(rr("sub.example.", 3600, T::DS, &[0, 1, 8, 2, 0xAB]));
        }
        basic("example.", rrs)
    }

    #[test]
    fn rfc1034_4_3_2_referral_with_glue() {
        let z = set(vec![deleg_zone(false)]);
        let glue = [
            ("ns1.sub.example.", T::A),
            ("ns1.sub.example.", T::AAAA),
            ("ns.example.", T::A),
        ];
        for name in [
            "www.sub.example.",
            "sub.example.",
            "a.b.sub.example.",
            "ns1.sub.example.",
        ] {
            assert_eq!(shape(&z, name, T::A), referral(3, &glue), "{name}");
        }
        assert_eq!(shape(&z, "sub.example.", T::NS), referral(3, &glue));
    }

    #[test]
    fn rfc4035_3_1_4_1_ds_at_cut_from_parent() {
        let z = set(vec![deleg_zone(false)]);
        assert_eq!(shape(&z, "sub.example.", T::DS), nodata());
        let z = set(vec![deleg_zone(true)]);
        assert_eq!(
            shape(&z, "sub.example.", T::DS),
            ok(&[("sub.example.", T::DS)], &[], &[])
        );
        // Below the cut, DS is still a referral.
        assert!(!shape(&z, "x.sub.example.", T::DS).aa);
    }

    #[test]
    fn longest_match_parent_and_child_hosted() {
        let child = basic("sub.example.", vec![a("www.sub.example.", 42)]);
        let z = set(vec![deleg_zone(true), child]);
        assert_eq!(
            shape(&z, "www.sub.example.", T::A),
            ok(&[("www.sub.example.", T::A)], &[], &[])
        );
        // The child's apex answers for itself...
        assert_eq!(
            shape(&z, "sub.example.", T::NS),
            ok(
                &[("sub.example.", T::NS)],
                &[],
                &[("ns.sub.example.", T::A)]
            )
        );
        // ... except DS, which the hosted parent answers.
        assert_eq!(
            shape(&z, "sub.example.", T::DS),
            ok(&[("sub.example.", T::DS)], &[], &[])
        );
    }

    #[test]
    fn rfc2308_2_nxdomain_nodata_ent() {
        let z = set(vec![basic("example.", vec![a("a.b.example.", 1)])]);
        assert_eq!(shape(&z, "a.b.example.", T::AAAA), nodata());
        assert_eq!(shape(&z, "b.example.", T::A), nodata());
        assert_eq!(shape(&z, "c.example.", T::A), nxdomain());
        assert_eq!(shape(&z, "x.a.b.example.", T::A), nxdomain());
    }

    #[test]
    fn rfc2308_3_nxdomain_soa_ttl() {
        for (ttl, minimum, want) in [(3600, 300, 300), (60, 300, 60)] {
            let z = set(vec![zone(
                "example.",
                vec![
                    soa("example.", ttl, minimum),
                    ns("example.", "ns.example.net."),
                ],
            )]);
            let q = query("nope.example.", T::A);
            let a = answer(&z, &q);
            assert_eq!(a.rcode, Rcode::NxDomain);
            assert_eq!(a.authority.len(), 1);
            assert_eq!(a.authority[0].rr.ttl, want);
            assert!(matches!(a.authority[0].rr, Cow::Borrowed(_)));
        }
    }

    #[test]
    fn rfc8482_4_2_any_minimal() {
        let z = set(vec![basic(
            "example.",
            vec![
                txt("www.example.", "t"),
                aaaa("www.example.", 1),
                a("www.example.", 1),
                a("www.example.", 2),
                cname("alias.example.", "www.example."),
            ],
        )]);
        assert_eq!(
            shape(&z, "www.example.", T::ANY),
            ok(&[("www.example.", T::A), ("www.example.", T::A)], &[], &[])
        );
        assert_eq!(
            shape(&z, "alias.example.", T::ANY),
            ok(&[("alias.example.", T::CNAME)], &[], &[])
        );
        assert_eq!(shape(&z, "nope.example.", T::ANY), nxdomain());
    }

    #[test]
    fn refused_outside_and_for_other_classes() {
        let z = set(vec![basic("example.", vec![])]);
        let s = shape(&z, "www.example.org.", T::A);
        assert_eq!((s.rcode, s.aa, s.answer.len()), (Rcode::Refused, false, 0));
        let mut q = query("example.", T::SOA);
        q.qclass = 3; // CH
        assert_eq!(answer(&z, &q).rcode, Rcode::Refused);
        q.qclass = 255; // ANY reads as IN
        assert_eq!(answer(&z, &q).answer.len(), 1);
    }

    #[test]
    fn meta_qtypes() {
        let z = set(vec![basic("example.", vec![])]);
        assert_eq!(shape(&z, "example.", T::OPT).rcode, Rcode::FormErr);
        assert_eq!(shape(&z, "example.", T::from(250)).rcode, Rcode::FormErr);
        assert_eq!(shape(&z, "example.", T::from(254)).rcode, Rcode::NotImp);
    }

    #[test]
    fn additional_for_mx_srv_in_zone_only() {
        let z = set(vec![basic(
            "example.",
            vec![
                mx("example.", 10, "mail.example."),
                mx("example.", 20, "mx.other.net."),
                mx("example.", 30, "MAIL.example."),
                a("mail.example.", 25),
                aaaa("mail.example.", 25),
                srv("_sip._udp.example.", "mail.example."),
            ],
        )]);
        assert_eq!(
            shape(&z, "example.", T::MX),
            ok(
                &[
                    ("example.", T::MX),
                    ("example.", T::MX),
                    ("example.", T::MX)
                ],
                &[],
                &[("mail.example.", T::A), ("mail.example.", T::AAAA)]
            )
        );
        assert_eq!(
            shape(&z, "_sip._udp.example.", T::SRV).additional,
            own(&[("mail.example.", T::A), ("mail.example.", T::AAAA)])
        );
    }

    // --- encoding of answers (response.rs) ------------------------------

    fn wire_of(zones: &ZoneSet, q: &Query, limit: usize) -> (Vec<u8>, Message) {
        let a = answer(zones, q);
        let b = encode(q, &a, limit);
        let m = Message::from_vec(&b).unwrap_or_else(|e| panic!("{e}"));
        (b, m)
    }

    fn big_zone() -> ZoneSet {
        let mut rrs = vec![mx("example.", 10, "mail.example.")];
        for i in 0..40 {
            rrs.push(a("big.example.", i));
            rrs.push(a("mail.example.", i));
            rrs.push(a("ns1.sub.example.", i));
        }
        rrs.push(ns("sub.example.", "ns1.sub.example."));
        set(vec![basic("example.", rrs)])
    }

    #[test]
    fn rfc1035_4_1_1_header_and_case_echo() {
        let z = set(vec![basic("example.", vec![a("www.example.", 1)])]);
        let q = query("wWw.ExAmple.", T::A);
        let (b, m) = wire_of(&z, &q, 512);
        assert_eq!(m.metadata.id, 4242);
        assert!(m.metadata.authoritative);
        assert!(m.metadata.recursion_desired);
        assert!(!m.metadata.recursion_available);
        assert!(!m.metadata.truncation);
        assert_eq!(m.queries[0].name().to_ascii(), "wWw.ExAmple.");
        assert_eq!(m.answers[0].name.to_ascii(), "wWw.ExAmple.");
        // Answer owner compressed to the question: 12 + 17 + (2+10+4).
        assert_eq!(b.len(), 12 + 17 + 16);
    }

    #[test]
    fn rfc4592_3_3_1_wire_owner_is_qname() {
        let z = rfc4592_zone();
        let q = query("FOO.bar.Example.", T::MX);
        let (_, m) = wire_of(&z, &q, 512);
        assert_eq!(m.answers.len(), 1);
        assert_eq!(m.answers[0].name.to_ascii(), "FOO.bar.Example.");
        assert_eq!(m.additionals.len(), 1);
        // Compression may point into the question's "Example.": names are
        // compared without case (RFC 4343), only the QNAME's case is echoed.
        assert_eq!(m.additionals[0].name, n("host1.example."));
    }

    #[test]
    fn rfc2181_9_truncation_whole_rrsets_tc_and_opt() {
        let z = big_zone();
        let mut q = query("big.example.", T::A);
        let (_, m) = wire_of(&z, &q, 512);
        assert!(m.metadata.truncation);
        assert_eq!(m.answers.len(), 0, "no partial RRset");
        q.edns = Some(Edns {
            payload: 512,
            version: 0,
            dnssec_ok: true,
        });
        let (b, m) = wire_of(&z, &q, 512);
        assert!(m.metadata.truncation);
        assert!(b.len() <= 512);
        let e = m
            .edns
            .as_ref()
            .map(|e| (e.max_payload(), e.flags().dnssec_ok));
        assert_eq!(e, Some((1232, false)), "OPT present, DO clear");
        let (b, m) = wire_of(&z, &q, 1232);
        assert!(!m.metadata.truncation);
        assert_eq!(m.answers.len(), 40);
        assert!(b.len() <= 1232);
        assert!(m.edns.is_some());
    }

    #[test]
    fn rfc2181_9_additional_dropped_without_tc() {
        let z = big_zone();
        let q = query("example.", T::MX);
        let (b, m) = wire_of(&z, &q, 512);
        assert!(!m.metadata.truncation);
        assert_eq!(m.answers.len(), 1);
        assert_eq!(m.additionals.len(), 0);
        assert!(b.len() <= 512);
        let (_, m) = wire_of(&z, &q, 65535);
        assert_eq!(m.additionals.len(), 40);
    }

    #[test]
    fn rfc9471_3_referral_glue_must_fit() {
        let z = big_zone();
        let q = query("www.sub.example.", T::A);
        let (_, m) = wire_of(&z, &q, 512);
        assert!(m.metadata.truncation);
        assert!(!m.metadata.authoritative);
        let (_, m) = wire_of(&z, &q, 65535);
        assert!(!m.metadata.truncation);
        assert_eq!(m.authorities.len(), 1);
        assert_eq!(m.additionals.len(), 40);
    }

    #[test]
    fn rfc6891_6_1_3_extended_rcode_split() {
        let mut q = query("example.", T::A);
        q.edns = Some(Edns {
            payload: 4096,
            version: 0,
            dnssec_ok: false,
        });
        let b = crate::response::rcode_response(&q, Rcode::BadVers);
        assert_eq!(b[3] & 0xF, 0);
        let m = Message::from_vec(&b).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(m.edns.as_ref().map(|e| e.rcode_high()), Some(1));
        let b = crate::response::rcode_response(&query("example.", T::AXFR), Rcode::Refused);
        assert_eq!(b[3] & 0xF, 5);
        assert_eq!(b[2] & 0x04, 0, "AA clear on REFUSED");
    }
}

#[cfg(test)]
mod bench {
    use std::sync::Arc;
    use std::time::Instant;

    use super::*;
    use crate::request::{Request, decode};
    use crate::response::encode;
    use crate::zone::testutil::*;

    /// Rough throughput check: `cargo test --release --lib -- --ignored bench --nocapture`.
    #[test]
    #[ignore]
    fn bench_parse_answer_encode() {
        let mut rrs = Vec::new();
        for i in 0..100_000u32 {
            rrs.push(a(&format!("host{i}.example."), (i % 250) as u8));
        }
        let zones = ZoneSet::new(vec![Arc::new(basic("example.", rrs))]);
        let mut packets = Vec::new();
        for i in 0..1000u32 {
            let mut b = vec![0x12, 0x34, 0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 1];
            b.extend(wire(&format!("host{}.example.", i * 97)));
            b.extend_from_slice(&[0, 1, 0, 1]);
            b.extend_from_slice(&[0, 0, 41, 0x04, 0xd0, 0, 0, 0, 0, 0, 0]);
            packets.push(b);
        }
        let n = 1_000_000;
        let start = Instant::now();
        let mut bytes = 0usize;
        for i in 0..n {
            if let Request::Query(q) = decode(&packets[i % packets.len()], None) {
                let ans = answer(&zones, &q);
                bytes += encode(&q, &ans, 1232).len();
            }
        }
        let el = start.elapsed();
        println!(
            "{n} queries in {el:?}: {:.0} qps single core ({bytes} bytes)",
            n as f64 / el.as_secs_f64()
        );
    }
}
