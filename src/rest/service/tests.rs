//! Table tests of names, values and the change sets of each write.

use super::*;
use crate::zone::testutil::{a, basic, n, rr, txt, wire};

fn zone() -> Zone {
    // Apex service.local. with NS ns.service.local. (its A is glue-like:
    // a name server, never a service), one service, a static TXT.
    basic(
        "service.local.",
        vec![
            a("valkey.service.local.", 12),
            a("valkey.service.local.", 13),
            txt("static.service.local.", "keep me"),
            a("service.local.", 1),
            rr(
                "sub.service.local.",
                300,
                RecordType::NS,
                &wire("ns.sub.service.local."),
            ),
            a("ns.sub.service.local.", 53),
        ],
    )
}

fn ip(s: &str) -> Rdata {
    parse_records(RecordType::A, &[s.to_string()]).expect("ip")[0].clone()
}

#[test]
fn names() {
    let z = n("service.local.");
    let ok: &[(&str, &str)] = &[
        ("valkey", "valkey.service.local."),
        ("VALKEY", "valkey.service.local."),
        ("valkey.service.local", "valkey.service.local."),
        ("Valkey.Service.Local", "valkey.service.local."),
        ("a-1.b.service.local", "a-1.b.service.local."),
        ("9lives", "9lives.service.local."),
    ];
    for (raw, want) in ok {
        let got = service_name(raw, &z).unwrap_or_else(|e| panic!("{raw}: {e:?}"));
        assert_eq!(got.to_ascii(), *want, "{raw}");
        assert_eq!(
            short(&got, &z),
            want.trim_end_matches(".service.local."),
            "{raw}"
        );
    }
    let bad: &[(&str, &str)] = &[
        ("", "empty"),
        ("valkey.", "trailing dot"),
        ("valkey.other.zone", "not in zone"),
        ("under_score", "a-z, 0-9"),
        ("sp ace", "a-z, 0-9"),
        (&"x".repeat(64), "1 to 63"),
        ("a..service.local", "1 to 63"),
        // What is wrong is the name, not where it lies.
        ("*.wild", "label \"*\" holds more than a-z, 0-9"),
        ("_srv._tcp", "label \"_srv\" holds"),
        ("we\\.ird", "label \"we\\\\\" holds"),
        ("my_host.service.local", "label \"my_host\" holds"),
        ("x.*.other.zone", "label \"*\" holds"),
    ];
    for (raw, want) in bad {
        match service_name(raw, &z) {
            Err(Error::Invalid(m)) => assert!(m.contains(want), "{raw}: {m}"),
            other => panic!("{raw}: {other:?}"),
        }
    }
    let long = format!("{}.service.local", vec!["a".repeat(60); 4].join("."));
    assert!(matches!(service_name(&long, &z), Err(Error::Invalid(m)) if m.contains("253")));
}

/// What a listing names, `service_name` reads back as the same name; names
/// the API cannot write are no services: not listed, not deleted by state.
#[test]
fn listing_keys_read_back_and_hand_written_names_are_no_services() {
    let z = basic(
        "service.local.",
        vec![
            a("valkey.service.local.", 12),
            a("a.b.service.local.", 2),
            a("x.service.local.service.local.", 3),
            a("*.wild.service.local.", 4),
            a("my_host.service.local.", 5),
            a("we\\.ird.service.local.", 6),
            a("_srv._tcp.service.local.", 7),
            a("Upper.service.local.", 8),
        ],
    );
    let origin = z.origin().clone();
    let keys: Vec<String> = list(&z).into_keys().collect();
    assert_eq!(
        keys,
        [
            "a.b.service.local",
            "upper",
            "valkey",
            "x.service.local.service.local"
        ]
    );
    for key in &keys {
        let name = service_name(key, &origin).expect(key);
        assert_eq!(listed_name(&name, &origin).as_deref(), Some(key.as_str()));
    }
    // The listing pushed back: nothing changes. An empty push deletes the
    // four services and leaves the hand-written names.
    let wanted: Vec<Wanted> = list(&z)
        .iter()
        .map(|(key, s)| Wanted {
            name: service_name(key, &origin).expect(key),
            rtype: RecordType::A,
            records: parse_records(RecordType::A, &s.records).expect("records"),
            ttl: s.ttl,
        })
        .collect();
    let again = replace_state(&z, &wanted, |_| true).expect("state");
    assert!(again.is_empty(), "{again:?}");
    let empty = replace_state(&z, &[], |_| true).expect("state");
    let removed: BTreeSet<String> = empty
        .remove
        .iter()
        .map(|r| r.name.to_lowercase().to_ascii())
        .collect();
    assert_eq!(
        removed.into_iter().collect::<Vec<_>>(),
        [
            "a.b.service.local.",
            "upper.service.local.",
            "valkey.service.local.",
            "x.service.local.service.local."
        ]
    );
}

#[test]
fn zone_of_prefers_the_longest() {
    let zones = [n("local."), n("service.local.")];
    assert_eq!(zone_of("x.service.local", &zones), Some(&zones[1]));
    assert_eq!(zone_of("x.local", &zones), Some(&zones[0]));
    assert_eq!(zone_of("x.other", &zones), None);
}

#[test]
fn values() {
    let table: &[(RecordType, &[&str], Result<usize, &str>)] = &[
        (RecordType::A, &["10.0.0.1", "10.0.0.2", "10.0.0.1"], Ok(2)),
        (RecordType::A, &[], Err("must not be empty")),
        (RecordType::A, &["::1"], Err("not an IPv4 address")),
        (RecordType::A, &["10.0.0.256"], Err("not an IPv4 address")),
        (RecordType::AAAA, &["2001:db8::1"], Ok(1)),
        (RecordType::AAAA, &["10.0.0.1"], Err("not an IPv6 address")),
        (RecordType::TXT, &["hello world"], Ok(1)),
    ];
    for (t, recs, want) in table {
        let recs: Vec<String> = recs.iter().map(|s| s.to_string()).collect();
        match (parse_records(*t, &recs), want) {
            (Ok(v), Ok(n)) => assert_eq!(v.len(), *n, "{recs:?}"),
            (Err(Error::Invalid(m)), Err(w)) => assert!(m.contains(w), "{recs:?}: {m}"),
            (got, _) => panic!("{recs:?}: {got:?}"),
        }
    }
    let many: Vec<String> = (0..65).map(|i| format!("10.0.0.{i}")).collect();
    assert!(
        matches!(parse_records(RecordType::A, &many), Err(Error::Invalid(m)) if m.contains("at most 64"))
    );
    assert!(parse_records(RecordType::TXT, &["x".repeat(256)]).is_err());
    assert!(matches!(parse_type(Some("MX")), Err(Error::Invalid(_))));
    assert_eq!(parse_type(Some("aaaa")), Ok(RecordType::AAAA));
    assert_eq!(ttl_or(Some(0), 5), 5);
    assert_eq!(ttl_or(None, 5), 5);
    assert_eq!(ttl_or(Some(u32::MAX), 5), MAX_TTL);
}

#[test]
fn listing_skips_apex_name_servers_and_other_types() {
    let z = zone();
    let l = list(&z);
    assert_eq!(l.keys().collect::<Vec<_>>(), vec!["valkey"]);
    assert_eq!(l["valkey"].records, vec!["192.0.2.12", "192.0.2.13"]);
    assert_eq!(l["valkey"].ttl, 300);
    let ns = n("ns.service.local.");
    assert_eq!(get(&z, &ns, None), None);
    let st = get(&z, &n("static.service.local."), None).expect("txt");
    assert_eq!(
        (st.rtype, st.records),
        (RecordType::TXT, vec!["keep me".to_string()])
    );
}

#[test]
fn put_is_minimal() {
    let z = zone();
    let v = n("valkey.service.local.");
    // Same records, same TTL: nothing to do.
    let same = put(
        &z,
        &v,
        RecordType::A,
        &[ip("192.0.2.12"), ip("192.0.2.13")],
        300,
    )
    .expect("put");
    assert!(same.is_empty());
    // One record replaced.
    let cs = put(
        &z,
        &v,
        RecordType::A,
        &[ip("192.0.2.12"), ip("192.0.2.14")],
        300,
    )
    .expect("put");
    assert_eq!((cs.remove.len(), cs.add.len()), (1, 1));
    // A new TTL rewrites the set.
    let cs = put(&z, &v, RecordType::A, &[ip("192.0.2.12")], 5).expect("put");
    assert_eq!((cs.remove.len(), cs.add.len()), (2, 1));
    assert_eq!(cs.add[0].ttl, 5);
    // Apex and name servers are refused.
    for bad in [
        "service.local.",
        "ns.service.local.",
        "NS.service.local.",
        "sub.service.local.",
        "ns.sub.service.local.",
        "new.sub.service.local.",
    ] {
        assert!(
            matches!(
                put(&z, &n(bad), RecordType::A, &[ip("10.0.0.1")], 5),
                Err(Error::Conflict(_))
            ),
            "{bad}"
        );
    }
}

#[test]
fn record_level_edits() {
    let z = zone();
    let v = n("valkey.service.local.");
    // Add: duplicates ignored, TTL kept without one.
    let cs = add_records(
        &z,
        &v,
        RecordType::A,
        &[ip("192.0.2.12"), ip("192.0.2.20")],
        None,
        5,
    )
    .expect("add");
    assert_eq!((cs.remove.len(), cs.add.len()), (0, 1));
    assert_eq!(cs.add[0].ttl, 300);
    // Add with a TTL: the whole set moves to it.
    let cs = add_records(&z, &v, RecordType::A, &[ip("192.0.2.12")], Some(30), 5).expect("add");
    assert_eq!((cs.remove.len(), cs.add.len()), (2, 2));
    // Add to a new name creates it with the default TTL.
    let cs = add_records(
        &z,
        &n("new.service.local."),
        RecordType::A,
        &[ip("10.0.0.1")],
        Some(0),
        5,
    )
    .expect("add");
    assert_eq!(cs.add[0].ttl, 5);
    // Remove part, all, or from nothing.
    let (cs, gone) = remove_records(&z, &v, RecordType::A, &[ip("192.0.2.12")]).expect("rm");
    assert_eq!((cs.remove.len(), gone), (1, false));
    let (cs, gone) =
        remove_records(&z, &v, RecordType::A, &[ip("192.0.2.12"), ip("192.0.2.13")]).expect("rm");
    assert_eq!((cs.remove.len(), gone), (2, true));
    assert!(matches!(
        remove_records(
            &z,
            &n("nope.service.local."),
            RecordType::A,
            &[ip("10.0.0.1")]
        ),
        Err(Error::NotFound(_))
    ));
    // Delete.
    assert_eq!(delete(&z, &v, None).expect("delete").remove.len(), 2);
    assert!(matches!(
        delete(&z, &n("nope.service.local."), None),
        Err(Error::NotFound(_))
    ));
    assert!(matches!(
        delete(&z, &n("ns.service.local."), None),
        Err(Error::NotFound(_))
    ));
}

#[test]
fn state_pushed_again_changes_nothing_even_for_dotted_names() {
    let z = zone();
    let wanted = vec![Wanted {
        name: n("web1.ci.service.local."),
        rtype: RecordType::A,
        records: vec![ip("10.0.0.1")],
        ttl: 5,
    }];
    let cs = replace_state(&z, &wanted, |_| true).expect("state");
    assert_eq!(cs.add.len(), 1);
    let (z, _) = z
        .with_changes(&cs, &crate::zone::testutil::loc(1))
        .expect("applies");
    // The same push again: nothing to remove, nothing to add.
    let again = replace_state(&z, &wanted, |_| true).expect("state");
    assert!(again.is_empty(), "{again:?}");
}

#[test]
fn state_replaces_only_services() {
    let z = zone();
    let wanted = vec![Wanted {
        name: n("other.service.local."),
        rtype: RecordType::A,
        records: vec![ip("10.0.0.99")],
        ttl: 5,
    }];
    let cs = replace_state(&z, &wanted, |_| true).expect("state");
    // valkey's two A records go, other's one comes; apex A, NS glue and TXT stay.
    assert_eq!(cs.remove.len(), 2);
    assert!(
        cs.remove
            .iter()
            .all(|r| r.name == n("valkey.service.local."))
    );
    assert_eq!(cs.add.len(), 1);
    assert!(
        replace_state(&z, &[], |_| true)
            .expect("empty")
            .remove
            .len()
            == 2
    );
    // A token narrowed to other names leaves valkey alone.
    let valkey = n("valkey.service.local.");
    let narrowed = replace_state(&z, &[], |x| x != &valkey).expect("narrowed");
    assert!(narrowed.is_empty());
    let ns = vec![Wanted {
        name: n("ns.service.local."),
        ..wanted[0].clone()
    }];
    assert!(matches!(
        replace_state(&z, &ns, |_| true),
        Err(Error::Conflict(_))
    ));
}
