use std::time::{Duration, Instant};

use hickory_proto::op::{Message, MessageType, OpCode};
use hickory_proto::rr::RData;

use super::*;
use crate::rr::Rdata;
use crate::tsig::Algorithm;

fn t(host: &str, port: u16) -> Target {
    Target {
        host: host.to_string(),
        port,
    }
}

#[test]
fn targets_parse_with_default_port() {
    let ok = [
        ("127.0.0.1:5301", t("127.0.0.1", 5301)),
        ("127.0.0.1", t("127.0.0.1", 53)),
        ("ns2.example.net", t("ns2.example.net", 53)),
        ("ns2.example.net:5300", t("ns2.example.net", 5300)),
        ("[::1]:5302", t("::1", 5302)),
        ("[::1]", t("::1", 53)),
        ("2001:db8::1", t("2001:db8::1", 53)),
    ];
    for (entry, want) in ok {
        assert_eq!(Target::parse(entry), Ok(want), "{entry}");
    }
    assert_eq!(t("::1", 5302).to_string(), "[::1]:5302");
    assert_eq!(t("ns2.example.net", 53).to_string(), "ns2.example.net:53");
}

#[test]
fn bad_targets_name_the_entry() {
    for entry in [
        "",
        "host:",
        "host:0",
        "host:99999",
        "[::1",
        "[::1]5300",
        "[nope]:53",
        "a b",
        ":53",
        "a..b",
    ] {
        let e = Target::parse(entry).expect_err(entry);
        assert_eq!(e.entry, entry);
        assert!(e.to_string().contains(&format!("{entry:?}")), "{e}");
    }
}

#[test]
fn rfc1996_3_6_backoff_doubles_and_caps() {
    let p = RetryPolicy::default();
    let waits: Vec<u64> = (1..=6).map(|n| p.wait(n).as_secs()).collect();
    assert_eq!(waits, [2, 4, 8, 16, 16, 16]);
}

#[test]
fn rfc1996_3_6_retransmits_then_gives_up() {
    let t0 = Instant::now();
    let mut r = Retry::new(RetryPolicy::default());
    assert_eq!(r.poll(t0), Step::Idle);
    assert_eq!(
        r.notify(7, 100, t0),
        Step::Send {
            serial: 7,
            id: 100,
            attempt: 1
        }
    );
    let mut now = t0;
    assert_eq!(r.poll(now), Step::WaitUntil(t0 + Duration::from_secs(2)));
    for (attempt, wait) in [(2, 2), (3, 4), (4, 8), (5, 16)] {
        now += Duration::from_secs(wait);
        assert_eq!(
            r.poll(now),
            Step::Send {
                serial: 7,
                id: 100,
                attempt
            }
        );
    }
    now += Duration::from_secs(15);
    assert!(matches!(r.poll(now), Step::WaitUntil(_)));
    now += Duration::from_secs(1);
    assert_eq!(r.poll(now), Step::GaveUp { serial: 7 });
    assert_eq!(r.poll(now), Step::Idle);
    assert_eq!(r.in_flight(), None);
}

#[test]
fn rfc1996_3_7_matching_answer_stops_retries() {
    let t0 = Instant::now();
    let mut r = Retry::new(RetryPolicy::default());
    r.notify(7, 100, t0);
    assert_eq!(r.answer(99), None, "another ID is not our answer");
    assert_eq!(r.answer(100), Some(7));
    assert_eq!(r.poll(t0 + Duration::from_secs(60)), Step::Idle);
    assert_eq!(r.answer(100), None, "a duplicate answer is ignored");
}

#[test]
fn newer_serial_supersedes_the_pending_notify() {
    let t0 = Instant::now();
    let mut r = Retry::new(RetryPolicy::default());
    r.notify(7, 100, t0);
    let t1 = t0 + Duration::from_secs(3);
    assert!(matches!(r.poll(t1), Step::Send { attempt: 2, .. }));
    // The same or an older serial again: nothing new is sent.
    assert!(matches!(r.notify(7, 101, t1), Step::WaitUntil(_)));
    assert!(matches!(r.notify(6, 102, t1), Step::WaitUntil(_)));
    assert_eq!(
        r.notify(8, 103, t1),
        Step::Send {
            serial: 8,
            id: 103,
            attempt: 1
        }
    );
    assert_eq!(r.answer(100), None, "the old serial's answer is stale");
    assert_eq!(r.deadline(), Some(t1 + Duration::from_secs(2)));
    assert_eq!(r.answer(103), Some(8));
}

#[test]
fn rfc1982_wrapping_serial_is_newer() {
    let t0 = Instant::now();
    let mut r = Retry::new(RetryPolicy::default());
    r.notify(u32::MAX, 1, t0);
    assert!(matches!(r.notify(2, 2, t0), Step::Send { serial: 2, .. }));
}

fn soa(serial: u32) -> Rr {
    let mut rdata = b"\x03ns1\x07example\x03com\x00\x0ahostmaster\x07example\x03com\x00".to_vec();
    for v in [serial, 7200, 3600, 1_209_600, 300] {
        rdata.extend_from_slice(&u32::to_be_bytes(v));
    }
    Rr {
        name: Name::from_ascii("example.com.").expect("name"),
        ttl: 3600,
        rtype: RecordType::SOA,
        rdata: Rdata::new(rdata),
    }
}

#[test]
fn rfc1996_3_7_message_has_soa_question_and_new_soa_answer() {
    let zone = Name::from_ascii("example.com.").expect("name");
    let bytes = message(&zone, &soa(2024010102), 0x4242, None);
    let m = Message::from_vec(&bytes).expect("decodes");
    assert_eq!(m.metadata.id, 0x4242);
    assert_eq!(m.metadata.op_code, OpCode::Notify);
    assert_eq!(m.metadata.message_type, MessageType::Query);
    assert!(m.metadata.authoritative);
    assert_eq!(m.queries.len(), 1);
    assert_eq!(m.queries[0].name(), &zone);
    assert_eq!(m.queries[0].query_type(), RecordType::SOA);
    assert_eq!(m.answers.len(), 1);
    match &m.answers[0].data {
        RData::SOA(s) => assert_eq!(s.serial, 2024010102),
        other => panic!("not an SOA: {other:?}"),
    }
}

#[test]
fn rfc1996_signed_notify_verifies() {
    let zone = Name::from_ascii("example.com.").expect("name");
    let key = Key::new(
        Name::from_ascii("xfr-key.").expect("name"),
        Algorithm::HmacSha256,
        (0u8..32).collect(),
    );
    let bytes = message(&zone, &soa(9), 7, Some((&key, 1_700_000_000, 300)));
    let v = tsig::verify_request(
        &bytes,
        |n| (*n == key.name).then_some(&key),
        1_700_000_010,
        300,
    )
    .expect("verifies")
    .expect("signed");
    assert_eq!(v.key.name, key.name);
    let m = Message::from_vec(&bytes).expect("decodes");
    assert_eq!(m.metadata.op_code, OpCode::Notify);
}

#[test]
fn rfc1996_3_6_answers_match_by_id_qr_opcode_and_qname() {
    let zone = Name::from_ascii("example.com.").expect("name");
    let mut reply = vec![0u8; 12];
    reply[..3].copy_from_slice(&[
        0x12,
        0x34,
        0x80 | (crate::request::opcode::NOTIFY << 3) | 0x04,
    ]);
    assert!(is_answer(&reply, 0x1234, &zone));
    assert!(!is_answer(&reply, 0x1235, &zone));
    assert!(!is_answer(&reply[..11], 0x1234, &zone));
    reply[2] = 0x80; // a QUERY response
    assert!(!is_answer(&reply, 0x1234, &zone));
    reply[2] = crate::request::opcode::NOTIFY << 3; // a request, not a response
    assert!(!is_answer(&reply, 0x1234, &zone));

    // With the question echoed: the QNAME must be the zone.
    let mut echoed = message(&zone, &soa(3), 0x1234, None);
    echoed[2] |= 0x80;
    assert!(is_answer(&echoed, 0x1234, &zone));
    let other = Name::from_ascii("example.net.").expect("name");
    assert!(!is_answer(&echoed, 0x1234, &other));
}

#[test]
fn rfc1996_3_6_unreachable_target_stops_retries() {
    let t0 = Instant::now();
    let mut r = Retry::new(RetryPolicy::default());
    assert_eq!(r.unreachable(), None);
    r.notify(7, 100, t0);
    assert_eq!(r.unreachable(), Some(7));
    assert_eq!(r.poll(t0 + Duration::from_secs(60)), Step::Idle);
}
