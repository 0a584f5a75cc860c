//! RFC 2136 tables: each case is an UPDATE against the same small zone,
//! named after the section whose rule it exercises.

use super::*;
use crate::rr::Rdata;

fn n(s: &str) -> Name {
    Name::from_ascii(s).expect("name")
}

fn wire_name(s: &str) -> Vec<u8> {
    let mut out = Vec::new();
    for l in n(s).iter() {
        out.push(l.len() as u8);
        out.extend_from_slice(l);
    }
    out.push(0);
    out
}

fn txt(s: &str) -> Rdata {
    let mut v = vec![s.len() as u8];
    v.extend_from_slice(s.as_bytes());
    Rdata::new(v)
}

fn a(ip: [u8; 4]) -> Rdata {
    Rdata::new(ip.to_vec())
}

fn ns(target: &str) -> Rdata {
    Rdata::new(wire_name(target))
}

fn soa() -> Rdata {
    let mut v = wire_name("ns1.example.com.");
    v.extend(wire_name("admin.example.com."));
    for x in [2611220001u32, 3600, 600, 86400, 300] {
        v.extend_from_slice(&x.to_be_bytes());
    }
    Rdata::new(v)
}

fn rr(name: &str, ttl: u32, rtype: RecordType, rdata: Rdata) -> Rr {
    Rr {
        name: n(name),
        ttl,
        rtype,
        rdata,
    }
}

struct FakeZone {
    origin: Name,
    rrs: Vec<Rr>,
}

impl ZoneView for FakeZone {
    fn origin(&self) -> &Name {
        &self.origin
    }
    fn rrs_at(&self, name: &Name) -> Vec<Rr> {
        self.rrs
            .iter()
            .filter(|r| &r.name == name)
            .cloned()
            .collect()
    }
}

fn zone() -> FakeZone {
    use RecordType::*;
    FakeZone {
        origin: n("example.com."),
        rrs: vec![
            rr("example.com.", 3600, SOA, soa()),
            rr("example.com.", 3600, NS, ns("ns1.example.com.")),
            rr("example.com.", 3600, NS, ns("ns2.example.com.")),
            rr("ns1.example.com.", 3600, A, a([192, 0, 2, 1])),
            rr("www.example.com.", 300, A, a([192, 0, 2, 10])),
            rr("www.example.com.", 300, A, a([192, 0, 2, 11])),
            rr("www.example.com.", 300, TXT, txt("hello")),
            rr(
                "alias.example.com.",
                300,
                CNAME,
                Rdata::new(wire_name("www.example.com.")),
            ),
            rr("_acme-challenge.example.com.", 60, TXT, txt("old")),
        ],
    }
}

fn u(name: &str, class: u16, ttl: u32, rtype: RecordType, rdata: Rdata) -> UpdateRr {
    UpdateRr {
        name: n(name),
        rtype,
        class,
        ttl,
        rdata,
    }
}

fn empty() -> Rdata {
    Rdata::new(Vec::new())
}

fn req(prereqs: Vec<UpdateRr>, updates: Vec<UpdateRr>) -> UpdateRequest {
    UpdateRequest {
        id: 1,
        zone: n("example.com."),
        zone_class: CLASS_IN,
        prerequisites: prereqs,
        updates,
    }
}

fn run(prereqs: Vec<UpdateRr>, updates: Vec<UpdateRr>) -> Result<ChangeSet, Rcode> {
    evaluate(&zone(), &req(prereqs, updates))
}

use RecordType::{A, ANY, CNAME, MX, NS, SOA, TXT};

#[test]
fn rfc2136_3_1_1_zone_not_served_is_notauth() {
    let mut r = req(vec![], vec![]);
    r.zone = n("example.org.");
    assert_eq!(evaluate(&zone(), &r), Err(Rcode::NotAuth));
    let mut r = req(vec![], vec![]);
    r.zone_class = 3;
    assert_eq!(evaluate(&zone(), &r), Err(Rcode::NotAuth));
}

#[test]
fn rfc2136_3_2_5_prerequisite_ttl_must_be_zero() {
    let p = u("www.example.com.", CLASS_ANY, 1, A, empty());
    assert_eq!(run(vec![p], vec![]), Err(Rcode::FormErr));
}

#[test]
fn rfc2136_3_2_5_prerequisite_outside_zone_is_notzone() {
    let p = u("www.example.org.", CLASS_ANY, 0, A, empty());
    assert_eq!(run(vec![p], vec![]), Err(Rcode::NotZone));
}

#[test]
fn rfc2136_2_4_1_rrset_exists_value_independent() {
    assert!(
        run(
            vec![u("www.example.com.", CLASS_ANY, 0, A, empty())],
            vec![]
        )
        .is_ok()
    );
    assert_eq!(
        run(
            vec![u("www.example.com.", CLASS_ANY, 0, MX, empty())],
            vec![]
        ),
        Err(Rcode::NxRrset)
    );
    assert_eq!(
        run(
            vec![u("www.example.com.", CLASS_ANY, 0, A, a([1, 2, 3, 4]))],
            vec![]
        ),
        Err(Rcode::FormErr)
    );
}

#[test]
fn rfc2136_2_4_2_rrset_exists_value_dependent() {
    let whole = vec![
        u("www.example.com.", CLASS_IN, 0, A, a([192, 0, 2, 11])),
        u("www.example.com.", CLASS_IN, 0, A, a([192, 0, 2, 10])),
    ];
    assert!(run(whole, vec![]).is_ok());
    let partial = vec![u("www.example.com.", CLASS_IN, 0, A, a([192, 0, 2, 10]))];
    assert_eq!(run(partial, vec![]), Err(Rcode::NxRrset));
    let absent = vec![u("nope.example.com.", CLASS_IN, 0, A, a([192, 0, 2, 10]))];
    assert_eq!(run(absent, vec![]), Err(Rcode::NxRrset));
}

#[test]
fn rfc2136_2_4_3_rrset_does_not_exist() {
    assert!(
        run(
            vec![u("www.example.com.", CLASS_NONE, 0, MX, empty())],
            vec![]
        )
        .is_ok()
    );
    assert_eq!(
        run(
            vec![u("www.example.com.", CLASS_NONE, 0, A, empty())],
            vec![]
        ),
        Err(Rcode::YxRrset)
    );
}

#[test]
fn rfc2136_2_4_4_name_is_in_use() {
    assert!(
        run(
            vec![u("www.example.com.", CLASS_ANY, 0, ANY, empty())],
            vec![]
        )
        .is_ok()
    );
    assert_eq!(
        run(
            vec![u("nope.example.com.", CLASS_ANY, 0, ANY, empty())],
            vec![]
        ),
        Err(Rcode::NxDomain)
    );
}

#[test]
fn rfc2136_2_4_5_name_is_not_in_use() {
    assert!(
        run(
            vec![u("nope.example.com.", CLASS_NONE, 0, ANY, empty())],
            vec![]
        )
        .is_ok()
    );
    assert_eq!(
        run(
            vec![u("www.example.com.", CLASS_NONE, 0, ANY, empty())],
            vec![]
        ),
        Err(Rcode::YxDomain)
    );
}

#[test]
fn rfc2136_3_2_5_prerequisite_with_other_class_is_formerr() {
    assert_eq!(
        run(vec![u("www.example.com.", 3, 0, A, empty())], vec![]),
        Err(Rcode::FormErr)
    );
}

#[test]
fn rfc2136_3_4_1_3_prescan() {
    let cases = [
        (
            u("www.example.org.", CLASS_IN, 60, A, a([1, 2, 3, 4])),
            Rcode::NotZone,
        ),
        (
            u("www.example.com.", CLASS_IN, 60, ANY, empty()),
            Rcode::FormErr,
        ),
        (
            u("www.example.com.", CLASS_IN, 60, RecordType::AXFR, empty()),
            Rcode::FormErr,
        ),
        (
            u("www.example.com.", CLASS_ANY, 60, A, empty()),
            Rcode::FormErr,
        ),
        (
            u("www.example.com.", CLASS_ANY, 0, A, a([1, 2, 3, 4])),
            Rcode::FormErr,
        ),
        (
            u("www.example.com.", CLASS_NONE, 60, A, a([1, 2, 3, 4])),
            Rcode::FormErr,
        ),
        (
            u("www.example.com.", CLASS_NONE, 0, ANY, empty()),
            Rcode::FormErr,
        ),
        (
            u("www.example.com.", 3, 0, A, a([1, 2, 3, 4])),
            Rcode::FormErr,
        ),
    ];
    for (update, want) in cases {
        assert_eq!(run(vec![], vec![update.clone()]), Err(want), "{update:?}");
    }
}

#[test]
fn rfc2136_3_2_prerequisite_failure_applies_nothing() {
    // A failing prerequisite after a valid update: nothing applies.
    let r = run(
        vec![u("nope.example.com.", CLASS_ANY, 0, ANY, empty())],
        vec![u("new.example.com.", CLASS_IN, 60, A, a([1, 2, 3, 4]))],
    );
    assert_eq!(r, Err(Rcode::NxDomain));
}

#[test]
fn rfc2136_2_5_1_add_to_an_rrset() {
    let c = run(
        vec![],
        vec![u(
            "_acme-challenge.example.com.",
            CLASS_IN,
            60,
            TXT,
            txt("token-1"),
        )],
    )
    .expect("ok");
    assert!(c.remove.is_empty());
    assert_eq!(
        c.add,
        vec![rr("_acme-challenge.example.com.", 60, TXT, txt("token-1"))]
    );
}

#[test]
fn rfc2136_3_4_2_2_duplicate_add_changes_nothing() {
    let c = run(
        vec![],
        vec![u("www.example.com.", CLASS_IN, 300, A, a([192, 0, 2, 10]))],
    )
    .expect("ok");
    assert!(c.is_empty(), "{c:?}");
}

#[test]
fn rfc2181_5_2_add_with_new_ttl_retimes_the_rrset() {
    let c = run(
        vec![],
        vec![u("www.example.com.", CLASS_IN, 600, A, a([192, 0, 2, 12]))],
    )
    .expect("ok");
    assert_eq!(c.remove.len(), 2);
    assert_eq!(c.add.len(), 3);
    assert!(c.add.iter().all(|r| r.ttl == 600));
}

#[test]
fn rfc2136_2_5_2_delete_an_rrset() {
    let c = run(
        vec![],
        vec![u("www.example.com.", CLASS_ANY, 0, A, empty())],
    )
    .expect("ok");
    assert_eq!(c.remove.len(), 2);
    assert!(c.add.is_empty());
}

#[test]
fn rfc2136_2_5_3_delete_all_rrsets_from_a_name() {
    let c = run(
        vec![],
        vec![u("www.example.com.", CLASS_ANY, 0, ANY, empty())],
    )
    .expect("ok");
    assert_eq!(c.remove.len(), 3);
}

#[test]
fn rfc2136_3_4_2_3_delete_all_at_apex_keeps_soa_and_ns() {
    let c = run(vec![], vec![u("example.com.", CLASS_ANY, 0, ANY, empty())]).expect("ok");
    assert!(c.is_empty(), "{c:?}");
    let c = run(vec![], vec![u("example.com.", CLASS_ANY, 0, NS, empty())]).expect("ok");
    assert!(c.is_empty());
    let c = run(vec![], vec![u("example.com.", CLASS_ANY, 0, SOA, empty())]).expect("ok");
    assert!(c.is_empty());
}

#[test]
fn rfc2136_2_5_4_delete_an_rr_from_an_rrset() {
    let c = run(
        vec![],
        vec![u("www.example.com.", CLASS_NONE, 0, A, a([192, 0, 2, 10]))],
    )
    .expect("ok");
    assert_eq!(
        c.remove,
        vec![rr("www.example.com.", 300, A, a([192, 0, 2, 10]))]
    );
}

#[test]
fn rfc2136_3_4_2_4_deleting_what_is_not_there_is_a_noop() {
    let c = run(
        vec![],
        vec![u("www.example.com.", CLASS_NONE, 0, A, a([9, 9, 9, 9]))],
    )
    .expect("ok");
    assert!(c.is_empty());
    let c = run(
        vec![],
        vec![u("nope.example.com.", CLASS_ANY, 0, ANY, empty())],
    )
    .expect("ok");
    assert!(c.is_empty());
}

#[test]
fn rfc2136_3_4_2_4_last_apex_ns_is_never_deleted() {
    let c = run(
        vec![],
        vec![
            u("example.com.", CLASS_NONE, 0, NS, ns("ns1.example.com.")),
            u("example.com.", CLASS_NONE, 0, NS, ns("ns2.example.com.")),
        ],
    )
    .expect("ok");
    assert_eq!(
        c.remove,
        vec![rr("example.com.", 3600, NS, ns("ns1.example.com."))]
    );
}

#[test]
fn rfc2136_3_4_2_4_soa_is_never_deleted() {
    let c = run(vec![], vec![u("example.com.", CLASS_NONE, 0, SOA, soa())]).expect("ok");
    assert!(c.is_empty());
}

#[test]
fn rfc2136_3_4_2_2_cname_beside_other_data_is_ignored() {
    let c = run(
        vec![],
        vec![u(
            "www.example.com.",
            CLASS_IN,
            60,
            CNAME,
            Rdata::new(wire_name("x.example.com.")),
        )],
    )
    .expect("ok");
    assert!(c.is_empty());
    let c = run(
        vec![],
        vec![u("alias.example.com.", CLASS_IN, 60, A, a([1, 2, 3, 4]))],
    )
    .expect("ok");
    assert!(c.is_empty());
}

#[test]
fn rfc2136_3_4_2_2_cname_replaces_cname() {
    let c = run(
        vec![],
        vec![u(
            "alias.example.com.",
            CLASS_IN,
            60,
            CNAME,
            Rdata::new(wire_name("ns1.example.com.")),
        )],
    )
    .expect("ok");
    assert_eq!(c.remove.len(), 1);
    assert_eq!(c.add.len(), 1);
    assert_eq!(c.add[0].rdata, Rdata::new(wire_name("ns1.example.com.")));
}

#[test]
fn lego_present_pattern_delete_rrset_then_add() {
    // lego's Present: delete the RRset, then add the new value, in one UPDATE.
    let c = run(
        vec![],
        vec![
            u("_acme-challenge.example.com.", CLASS_ANY, 0, TXT, empty()),
            u(
                "_acme-challenge.example.com.",
                CLASS_IN,
                120,
                TXT,
                txt("new"),
            ),
        ],
    )
    .expect("ok");
    assert_eq!(
        c.remove,
        vec![rr("_acme-challenge.example.com.", 60, TXT, txt("old"))]
    );
    assert_eq!(
        c.add,
        vec![rr("_acme-challenge.example.com.", 120, TXT, txt("new"))]
    );
}

#[test]
fn add_then_delete_in_one_update_changes_nothing() {
    let c = run(
        vec![],
        vec![
            u("tmp.example.com.", CLASS_IN, 60, TXT, txt("x")),
            u("tmp.example.com.", CLASS_NONE, 0, TXT, txt("x")),
        ],
    )
    .expect("ok");
    assert!(c.is_empty());
}

#[test]
fn names_compare_without_case() {
    let c = run(
        vec![],
        vec![u("WWW.Example.COM.", CLASS_NONE, 0, A, a([192, 0, 2, 10]))],
    )
    .expect("ok");
    assert_eq!(c.remove.len(), 1);
}

#[test]
fn touched_lists_every_update() {
    let r = req(
        vec![],
        vec![
            u("a.example.com.", CLASS_IN, 60, TXT, txt("x")),
            u("b.example.com.", CLASS_ANY, 0, ANY, empty()),
        ],
    );
    assert_eq!(
        touched(&r),
        vec![(n("a.example.com."), TXT), (n("b.example.com."), ANY)]
    );
}

/// The view of a served zone (the impl beside the trait).
mod zone_view {
    use super::*;
    use crate::zone::testutil::{a, aaaa, basic, n, txt};

    #[test]
    fn zone_view_lists_every_rr_at_a_name() {
        let z = basic(
            "example.com.",
            vec![
                a("www.example.com.", 1),
                aaaa("www.example.com.", 1),
                txt("www.example.com.", "hi"),
                a("deep.sub.example.com.", 2),
            ],
        );
        let at = ZoneView::rrs_at(&z, &n("WWW.example.com."));
        let mut types: Vec<RecordType> = at.iter().map(|r| r.rtype).collect();
        types.sort_by_key(|t| u16::from(*t));
        assert_eq!(
            types,
            vec![RecordType::A, RecordType::TXT, RecordType::AAAA]
        );
        // Empty non-terminal and absent name: nothing.
        assert!(ZoneView::rrs_at(&z, &n("sub.example.com.")).is_empty());
        assert!(ZoneView::rrs_at(&z, &n("nope.example.com.")).is_empty());
        assert_eq!(ZoneView::origin(&z), &n("example.com."));
        let apex: Vec<RecordType> = ZoneView::rrs_at(&z, &n("example.com."))
            .iter()
            .map(|r| r.rtype)
            .collect();
        assert!(apex.contains(&RecordType::SOA) && apex.contains(&RecordType::NS));
    }
}
