//! [`Zone::with_changes`] against [`Zone::build`] of the resulting records:
//! a property test on generated zones and change sets, unit tests of the
//! incremental and fallback paths, and an ignored timing test.

use std::sync::Arc;
use std::time::Instant;

use proptest::prelude::*;

use super::testutil::*;
use super::*;
use crate::answer::answer;
use crate::request::Query;
use crate::rr::ChangeSet;

const ORIGIN: &str = "example.";
const LABELS: [&str; 6] = ["a", "b", "c", "www", "z1", "z2"];
const QTYPES: [RecordType; 8] = [
    RecordType::A,
    RecordType::TXT,
    RecordType::MX,
    RecordType::CNAME,
    RecordType::NS,
    RecordType::DS,
    RecordType::SOA,
    RecordType::AAAA,
];

/// (labels from `LABELS`, wildcard first label, kind, value)
type Gen = (Vec<usize>, bool, u8, u8);

fn owner(labels: &[usize], wild: bool) -> String {
    let mut s = String::new();
    if wild {
        s.push_str("*.");
    }
    for &l in labels {
        s.push_str(LABELS.get(l).copied().unwrap_or("a"));
        s.push('.');
    }
    s.push_str(ORIGIN);
    s
}

/// kind: 0 A (TTL 300), 1 A (TTL 60), 2 TXT, 3 MX, 4 CNAME, 5 NS, 6 out of zone.
fn record((labels, wild, kind, v): &Gen) -> Rr {
    let name = owner(labels, *wild);
    match kind {
        0 => a(&name, *v),
        1 => {
            let mut r = a(&name, *v % 4);
            r.ttl = 60;
            r
        }
        2 => txt(&name, &format!("t{}", v % 4)),
        3 => mx(&name, u16::from(*v % 3), &format!("m{}.{ORIGIN}", v % 3)),
        4 => cname(&name, &format!("c{}.{ORIGIN}", v % 3)),
        5 => ns(&name, &format!("ns{}.{name}", v % 2)),
        _ => a(&format!("x{}.example.org.", v % 3), *v),
    }
}

fn gen_rec(max_kind: u8) -> impl Strategy<Value = Gen> {
    (
        prop::collection::vec(0..LABELS.len(), 1..=4),
        prop::bool::weighted(0.1),
        0..=max_kind,
        any::<u8>(),
    )
}

/// A valid zone: apex, optional delegations with glue, random data with
/// each CNAME alone at its name.
fn base_zone(cuts: (bool, bool), recs: &[Gen]) -> Zone {
    let mut rrs = vec![soa(ORIGIN, 3600, 300), ns(ORIGIN, "ns.example.")];
    rrs.push(a("ns.example.", 53));
    for (on, cut) in [(cuts.0, "z1"), (cuts.1, "z2")] {
        if on {
            let name = format!("{cut}.{ORIGIN}");
            rrs.push(ns(&name, &format!("ns.{name}")));
            rrs.push(a(&format!("ns.{name}"), 7));
        }
    }
    let mut data: Vec<Rr> = recs.iter().map(record).collect();
    let key = |r: &Rr| r.name.to_ascii().to_lowercase();
    let with_other: std::collections::HashSet<String> = rrs
        .iter()
        .chain(&data)
        .filter(|r| r.rtype != RecordType::CNAME)
        .map(key)
        .collect();
    let mut cnamed = std::collections::HashSet::new();
    data.retain(|r| {
        r.rtype != RecordType::CNAME || (!with_other.contains(&key(r)) && cnamed.insert(key(r)))
    });
    rrs.extend(data);
    zone(ORIGIN, rrs)
}

fn messages(v: &[ZoneError]) -> Vec<String> {
    let mut m: Vec<String> = v.iter().map(|e| e.message.clone()).collect();
    m.sort();
    m
}

fn query(name: &Name, qtype: RecordType) -> Query {
    Query {
        id: 1,
        rd: false,
        cd: false,
        qname: name.clone(),
        qtype,
        qclass: 1,
        edns: None,
    }
}

fn node_view(n: &Node) -> String {
    format!(
        "{} cut={} dname={} glue={} {:?}",
        n.name.to_ascii().to_lowercase(),
        n.cut,
        n.dname,
        n.glue,
        n.rrsets
            .iter()
            .map(|s| (s.rtype, &s.rrs, &s.targets))
            .collect::<Vec<_>>()
    )
}

/// Same observable zone; `names` are also looked up and queried.
fn assert_same(got: Zone, want: Zone, names: &[Name]) {
    assert_eq!(got.serial(), want.serial());
    assert_eq!(got.soa(), want.soa());
    assert_eq!(got.negative_soa(), want.negative_soa());
    assert_eq!(got.timers(), want.timers());
    assert_eq!(got.record_count(), want.record_count());
    let recs = |z: &Zone| z.records().cloned().collect::<Vec<_>>();
    assert_eq!(recs(&got), recs(&want));
    assert_eq!(got.records().count(), got.record_count());
    let view = |z: &Zone| z.nodes.iter().map(|n| node_view(n)).collect::<Vec<_>>();
    assert_eq!(view(&got), view(&want));
    assert_eq!(got.apex, want.apex);
    assert_eq!(got.hot.apex_dname, want.hot.apex_dname);
    // The index holds exactly the nodes of the vector, shared.
    assert_eq!(got.hot.index.len(), got.nodes.len());
    for n in &got.nodes {
        let shared = got.hot.index.get(&boxed_key(&n.name));
        assert!(shared.is_some_and(|s| Arc::ptr_eq(s, n)), "{}", n.name);
    }
    let mut qnames: Vec<Name> = names.to_vec();
    for name in names {
        let mut n = name.base_name();
        while n.iter().len() > 0 {
            qnames.push(n.clone());
            n = n.base_name();
        }
        if let Ok(child) = Name::from_ascii("q").and_then(|q| q.append_domain(name)) {
            qnames.push(child);
        }
    }
    for q in &qnames {
        let view = |z: &Zone| z.node(q).map(node_view);
        assert_eq!(view(&got), view(&want), "{q}");
    }
    let got = ZoneSet::new(vec![Arc::new(got)]);
    let want = ZoneSet::new(vec![Arc::new(want)]);
    for q in &qnames {
        for t in QTYPES {
            let query = query(q, t);
            assert_eq!(answer(&got, &query), answer(&want, &query), "{q} {t}");
        }
    }
}

/// `with_changes` equals `build` of `records_after`, result and errors.
fn check(z: &Zone, cs: &ChangeSet, names: &[Name]) {
    let want = Zone::build(n(ORIGIN), with_locs(z.records_after(cs)));
    let got = z.with_changes(cs, &loc(0));
    match (got, want) {
        (Ok((g, gw)), Ok((w, ww))) => {
            assert_eq!(messages(&gw), messages(&ww));
            assert_same(g, w, names);
        }
        (Err(g), Err(w)) => assert_eq!(messages(&g), messages(&w)),
        (g, w) => panic!(
            "with_changes {:?} but build {:?}",
            g.map(|(_, w)| w),
            w.map(|(_, w)| w)
        ),
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(128))]

    #[test]
    fn with_changes_is_build_of_the_result(
        cuts in (any::<bool>(), any::<bool>()),
        recs in prop::collection::vec(gen_rec(4), 0..40),
        removed in prop::collection::vec(any::<prop::sample::Index>(), 0..6),
        remove_other in prop::collection::vec(gen_rec(5), 0..2),
        added in prop::collection::vec(gen_rec(4), 0..6),
        // Now and then an NS (a new cut: full build) or an out-of-zone owner.
        rare in prop::option::weighted(0.2, (gen_rec(0), 5u8..=6)),
        serial in prop::option::of(any::<u32>()),
        probes in prop::collection::vec(gen_rec(0), 0..4),
    ) {
        let z = base_zone(cuts, &recs);
        let all: Vec<Rr> = z.records().cloned().collect();
        let mut remove: Vec<Rr> = removed
            .iter()
            .filter_map(|i| all.get(i.index(all.len().max(1))).cloned())
            .collect();
        remove.extend(remove_other.iter().map(record));
        let mut add: Vec<Rr> = added.iter().map(record).collect();
        if let Some(((labels, wild, _, v), kind)) = rare {
            add.push(record(&(labels, wild, kind, v)));
        }
        let cs = ChangeSet { remove, add, serial };
        let mut names: Vec<Name> = cs.remove.iter().chain(&cs.add).map(|r| r.name.clone()).collect();
        names.extend(probes.iter().map(|g| record(g).name));
        check(&z, &cs, &names);
    }
}

fn changes(remove: Vec<Rr>, add: Vec<Rr>) -> ChangeSet {
    ChangeSet {
        remove,
        add,
        serial: None,
    }
}

/// Whether `with_changes` takes the incremental path (not a full build).
fn incremental(z: &Zone, cs: &ChangeSet) -> bool {
    z.incremental(cs, &loc(0)).is_some()
}

fn names(v: &[&str]) -> Vec<Name> {
    v.iter().map(|s| n(s)).collect()
}

#[test]
fn ents_appear_and_disappear() {
    let z = basic(ORIGIN, vec![a("x.example.", 1)]);
    let cs = changes(vec![], vec![a("a.b.c.example.", 1)]);
    check(&z, &cs, &names(&["a.b.c.example.", "x.example."]));
    assert!(incremental(&z, &cs));
    let (z2, _) = z
        .with_changes(&cs, &loc(0))
        .unwrap_or_else(|e| panic!("{e:?}"));
    assert_eq!(z2.node(&n("b.c.example.")).map(Node::is_empty), Some(true));
    let back = changes(vec![a("A.b.c.example.", 1)], vec![]);
    check(&z2, &back, &names(&["a.b.c.example."]));
    assert!(incremental(&z2, &back));
    let (z3, _) = z2
        .with_changes(&back, &loc(0))
        .unwrap_or_else(|e| panic!("{e:?}"));
    assert!(z3.node(&n("c.example.")).is_none());
    assert_eq!(z3.nodes.len(), z.nodes.len());
    // An ENT stays while a sibling remains below it.
    let two = changes(vec![], vec![a("a.b.c.example.", 1), a("d.c.example.", 1)]);
    let (z4, _) = z
        .with_changes(&two, &loc(0))
        .unwrap_or_else(|e| panic!("{e:?}"));
    check(&z4, &back, &names(&["a.b.c.example.", "d.c.example."]));
}

#[test]
fn cname_beside_data_is_refused() {
    let z = basic(ORIGIN, vec![a("www.example.", 1)]);
    let cs = changes(vec![], vec![cname("www.example.", "x.example.")]);
    check(&z, &cs, &[]);
    assert!(incremental(&z, &cs));
    let e = z.with_changes(&cs, &loc(9)).err().unwrap_or_default();
    assert_eq!(e.len(), 1, "{e:?}");
    assert!(e[0].message.contains("beside other data"));
    assert_eq!(e[0].location.line, 9);
    // Replacing the A by a CNAME is fine.
    check(
        &z,
        &changes(vec![a("www.example.", 1)], cs.add.clone()),
        &names(&["www.example."]),
    );
}

#[test]
fn out_of_zone_and_below_dname_refused() {
    let z = basic(
        ORIGIN,
        vec![rr("d.example.", 300, RecordType::DNAME, &wire("t.net."))],
    );
    for bad in [a("www.example.org.", 1), a("x.y.d.example.", 1)] {
        let cs = changes(vec![], vec![bad]);
        check(&z, &cs, &[]);
        assert!(z.with_changes(&cs, &loc(0)).is_err());
    }
    check(&z, &changes(vec![], vec![txt("d.example.", "ok")]), &[]);
}

#[test]
fn ttl_aligned_with_a_warning() {
    let z = basic(ORIGIN, vec![a("www.example.", 1)]);
    let mut b = a("www.example.", 2);
    b.ttl = 5;
    let cs = changes(vec![], vec![b]);
    check(&z, &cs, &names(&["www.example."]));
    let (z2, w) = z
        .with_changes(&cs, &loc(0))
        .unwrap_or_else(|e| panic!("{e:?}"));
    assert_eq!(w.len(), 1);
    assert!(
        z2.rrset(&n("www.example."), RecordType::A)
            .iter()
            .all(|r| r.ttl == 300)
    );
}

#[test]
fn delegations_and_glue() {
    let z = basic(
        ORIGIN,
        vec![
            ns("sub.example.", "ns.sub.example."),
            a("ns.sub.example.", 2),
        ],
    );
    let probe = names(&["sub.example.", "x.y.sub.example.", "new.example."]);
    // Glue below an existing cut, a second NS at the cut: incremental.
    for cs in [
        changes(vec![], vec![a("x.y.sub.example.", 3)]),
        changes(vec![], vec![ns("sub.example.", "ns2.example.")]),
    ] {
        check(&z, &cs, &probe);
        assert!(incremental(&z, &cs));
    }
    // A new cut, removing the cut, apex NS and SOA changes: full build
    // (here, a missing apex NS or SOA).
    for cs in [
        changes(vec![], vec![ns("new.example.", "ns.example.")]),
        changes(vec![ns("sub.example.", "ns.sub.example.")], vec![]),
        changes(vec![ns(ORIGIN, "ns.example.")], vec![]),
        changes(vec![soa(ORIGIN, 3600, 300)], vec![]),
    ] {
        check(&z, &cs, &probe);
        assert!(!incremental(&z, &cs));
    }
}

#[test]
fn serial_only() {
    let z = basic(ORIGIN, vec![a("www.example.", 1)]);
    let cs = ChangeSet {
        serial: Some(42),
        ..ChangeSet::default()
    };
    check(&z, &cs, &names(&[ORIGIN]));
    assert!(incremental(&z, &cs));
    let (z2, _) = z
        .with_changes(&cs, &loc(0))
        .unwrap_or_else(|e| panic!("{e:?}"));
    assert_eq!(z2.serial(), 42);
    assert_eq!(z2.rrset(&n(ORIGIN), RecordType::SOA), [z2.soa().clone()]);
}

/// `cargo test --release --lib zone -- --ignored --nocapture`
#[test]
#[ignore]
fn time_with_changes_vs_build() {
    let mut rrs = vec![soa(ORIGIN, 3600, 300), ns(ORIGIN, "ns.example.")];
    for i in 0..100_000u32 {
        rrs.push(a(&format!("h{i}.g{}.example.", i % 100), (i % 250) as u8));
    }
    let t = Instant::now();
    let z = zone(ORIGIN, rrs);
    let build = t.elapsed();
    let cs = ChangeSet {
        remove: vec![a("h7.g7.example.", 7)],
        add: vec![a("new.deep.g5.example.", 1), txt("h8.g8.example.", "x")],
        serial: Some(2026_1123),
    };
    // The fastest of 20 runs of each, so other load on the machine counts less.
    let fastest = |f: &mut dyn FnMut()| {
        (0..20)
            .map(|_| {
                let t = Instant::now();
                f();
                t.elapsed()
            })
            .min()
            .unwrap_or_default()
    };
    let clone = fastest(&mut || drop(z.hot.index.clone()));
    let nodes_clone = fastest(&mut || drop(z.nodes.clone()));
    let incremental = fastest(&mut || assert!(z.with_changes(&cs, &loc(0)).is_ok()));
    let big = ChangeSet {
        remove: (0..500u32)
            .map(|i| a(&format!("h{i}.g{}.example.", i % 100), (i % 250) as u8))
            .collect(),
        add: (0..500u32)
            .map(|i| txt(&format!("n{i}.x{}.example.", i % 10), "new"))
            .collect(),
        serial: Some(2026_1124),
    };
    let incremental_1000 = fastest(&mut || assert!(z.with_changes(&big, &loc(0)).is_ok()));
    let records = z.records_after(&cs);
    let t = Instant::now();
    let rebuilt = Zone::build(n(ORIGIN), with_locs(records));
    let rebuild = t.elapsed();
    assert!(rebuilt.is_ok());
    println!(
        "100k records: build {build:?}, build of the changed records {rebuild:?}, \
         with_changes {incremental:?} (3 records), {incremental_1000:?} (1000 records) (index clone alone {clone:?}, node vector clone {nodes_clone:?})"
    );
}

/// A zone grown by writes from one inline shard of its name index past
/// the split (1,024 names), then shrunk again, answers at every step as a
/// zone built from the same records does.
#[test]
fn a_zone_grown_past_one_shard_and_shrunk_answers_as_built() {
    let mut z = basic(ORIGIN, vec![a("x.example.", 1)]);
    let at_start = z.record_count();
    let owner = |i: usize| format!("h{i}.s{}.example.", i % 7);
    let step = 150;
    for start in (0..1_350).step_by(step) {
        let add: Vec<Rr> = (start..start + step).map(|i| a(&owner(i), 7)).collect();
        let probes: Vec<Name> = [start, start + step - 1, start + step, 0]
            .iter()
            .map(|&i| n(&owner(i)))
            .collect();
        let cs = changes(vec![], add);
        check(&z, &cs, &probes);
        z = z
            .with_changes(&cs, &loc(0))
            .unwrap_or_else(|e| panic!("{e:?}"))
            .0;
    }
    assert!(matches!(z.hot.index.shards, Shards::Many(_)), "split");
    for start in (0..1_350).step_by(step).skip(1) {
        let remove: Vec<Rr> = (start..start + step).map(|i| a(&owner(i), 7)).collect();
        let probes = vec![n(&owner(start)), n(&owner(step - 1)), n("s3.example.")];
        let cs = changes(remove, vec![]);
        check(&z, &cs, &probes);
        z = z
            .with_changes(&cs, &loc(0))
            .unwrap_or_else(|e| panic!("{e:?}"))
            .0;
    }
    assert_eq!(z.record_count(), at_start + step, "the first batch is left");
}
