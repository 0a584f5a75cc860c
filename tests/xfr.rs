//! Zone transfers (RFC 5936) over the real server.

mod common;

use common::*;
use hickory_proto::op::{Message, ResponseCode};
use hickory_proto::rr::RecordType;

fn server() -> TestServer {
    TestServer::start(
        &[
            ("example.com.zone", &example_zone(2024010101, "192.0.2.80")),
            (
                "example.net.zone",
                &simple_zone("example.net", 7, "192.0.2.9"),
            ),
        ],
        "[[zone]]\nname = \"example.com\"\nallow_transfer = [\"127.0.0.0/8\"]\n\
         [[zone]]\nname = \"example.net\"\nallow_transfer = [\"192.0.2.0/24\"]\n",
    )
}

/// Reads AXFR messages until the closing SOA (bounded by count and the
/// socket timeout); returns every answer record in order.
fn axfr(s: &TestServer, zone: &str) -> (Vec<hickory_proto::rr::Record>, ResponseCode) {
    let mut conn = s.tcp_connect();
    let q = query(zone, RecordType::AXFR);
    tcp_send(&mut conn, &q.to_vec().unwrap());
    let mut records = Vec::new();
    for _ in 0..1000 {
        let Some(bytes) = tcp_recv(&mut conn) else {
            break;
        };
        let msg = Message::from_vec(&bytes).unwrap();
        assert!(is_response_to(&msg, &q));
        if rcode(&msg) != ResponseCode::NoError {
            return (records, rcode(&msg));
        }
        records.extend(msg.answers);
        let soas = records
            .iter()
            .filter(|r| r.record_type() == RecordType::SOA)
            .count();
        if soas >= 2 {
            break;
        }
    }
    (records, ResponseCode::NoError)
}

#[test]
fn rfc5936_2_2_axfr_soa_first_and_last_all_records() {
    let s = server();
    let (records, rcode) = axfr(&s, "example.com.");
    assert_eq!(rcode, ResponseCode::NoError);
    assert!(records.len() >= 2);
    assert_eq!(records[0].record_type(), RecordType::SOA);
    assert_eq!(records[records.len() - 1].record_type(), RecordType::SOA);
    // SOA + NS + 2 A + MX + 20 TXT, SOA again.
    assert_eq!(
        records.len(),
        1 + 1 + 2 + 1 + BIG_TXT_COUNT + 1,
        "{records:?}"
    );
    let txt = records
        .iter()
        .filter(|r| r.record_type() == RecordType::TXT)
        .count();
    assert_eq!(txt, BIG_TXT_COUNT);
}

#[test]
fn rfc5936_5_axfr_refused_outside_allow_transfer() {
    let s = server();
    let (records, rcode) = axfr(&s, "example.net.");
    assert_eq!(rcode, ResponseCode::Refused);
    assert!(records.is_empty());
}

/// Round 47 LOW: an IPv4-mapped network in `allow_transfer` means the
/// IPv4 one (it never matched an IPv4 client, whose address is IPv4 on
/// the IPv4 socket); an IPv4 network outside it still refuses.
#[test]
fn a_mapped_ipv4_network_in_allow_transfer_admits_its_ipv4_clients() {
    let s = TestServer::start(
        &[
            ("example.com.zone", &example_zone(2024010101, "192.0.2.80")),
            (
                "example.net.zone",
                &simple_zone("example.net", 7, "192.0.2.9"),
            ),
        ],
        "[[zone]]\nname = \"example.com\"\nallow_transfer = [\"::ffff:127.0.0.0/104\"]\n\
         [[zone]]\nname = \"example.net\"\nallow_transfer = [\"::ffff:192.0.2.0/120\"]\n",
    );
    let (records, rcode) = axfr(&s, "example.com.");
    assert_eq!(rcode, ResponseCode::NoError);
    assert!(records.len() > 2, "{records:?}");
    let (records, rcode) = axfr(&s, "example.net.");
    assert_eq!(rcode, ResponseCode::Refused);
    assert!(records.is_empty());
}

#[test]
fn axfr_of_unserved_or_non_apex_name_is_refused() {
    let s = server();
    assert_eq!(axfr(&s, "example.org.").1, ResponseCode::Refused);
    assert_eq!(axfr(&s, "www.example.com.").1, ResponseCode::Refused);
}

#[test]
fn rfc5936_4_2_axfr_over_udp_is_refused() {
    let s = server();
    let resp = s.udp(&query("example.com.", RecordType::AXFR));
    assert_eq!(rcode(&resp), ResponseCode::Refused);
    assert!(resp.answers.is_empty());
}

#[test]
fn rfc1995_ixfr_over_udp_gets_the_soa() {
    let s = server();
    let resp = s.udp(&query("example.com.", RecordType::IXFR));
    assert_eq!(rcode(&resp), ResponseCode::NoError, "{resp:?}");
    assert_eq!(soa_serial(&resp), Some(2024010101));
}
