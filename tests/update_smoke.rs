//! Smoke test of the whole UPDATE path on the real server: a TSIG-signed
//! RFC 2136 UPDATE over UDP is applied, answered NOERROR and signed, shows
//! up in queries, and a retransmission is not applied twice. Also the
//! signed SOA query nsupdate sends without a `zone` line, over UDP and TCP.

mod common;

use std::time::{SystemTime, UNIX_EPOCH};

use common::*;
use hickory_proto::op::{Message, ResponseCode};
use hickory_proto::rr::{Name, RecordType};
use zonewright::tsig::{self, Algorithm, Context, Key, SignParams, Tsig};

const SECRET_B64: &str = "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=";

fn key() -> Key {
    Key::new(
        Name::from_ascii("acme-key.").unwrap(),
        Algorithm::HmacSha256,
        (0u8..32).collect(),
    )
}

fn config() -> String {
    format!(
        "[[key]]\nname = \"acme-key\"\nalgorithm = \"hmac-sha256\"\nsecret = \"{SECRET_B64}\"\n\
         grant = [ {{ zone = \"example.com\", names = [\"_acme-challenge\"], types = [\"TXT\"] }} ]\n"
    )
}

fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

fn sign(mut msg: Vec<u8>) -> (Vec<u8>, Vec<u8>) {
    let p = SignParams {
        time: now(),
        fudge: 300,
        error: 0,
        other: &[],
    };
    let mac = tsig::sign(&mut msg, &key(), Context::Request, p);
    (msg, mac)
}

/// The response's TSIG, checked to verify against the request MAC.
fn verified(resp: &[u8], request_mac: &[u8]) -> Tsig {
    let found = tsig::find(resp).unwrap().expect("the answer is signed");
    let mut body = resp[..found.start].to_vec();
    let ar = u16::from_be_bytes([body[10], body[11]]) - 1;
    body[10..12].copy_from_slice(&ar.to_be_bytes());
    let t = found.tsig;
    let p = SignParams {
        time: t.time_signed,
        fudge: t.fudge,
        error: t.error,
        other: &t.other,
    };
    let mac = tsig::sign(&mut body, &key(), Context::Response { request_mac }, p);
    assert_eq!(mac, t.mac, "the answer's MAC verifies");
    t
}

/// `update add _acme-challenge.example.com. 60 TXT "<token>"`.
fn acme_update(token: &str) -> Vec<u8> {
    let mut m = vec![0x51, 0x52, 0x28, 0, 0, 1, 0, 0, 0, 1, 0, 0];
    m.extend_from_slice(b"\x07example\x03com\x00\x00\x06\x00\x01");
    m.extend_from_slice(b"\x0f_acme-challenge\xc0\x0c\x00\x10\x00\x01\x00\x00\x00\x3c");
    m.extend_from_slice(&((token.len() + 1) as u16).to_be_bytes());
    m.push(token.len() as u8);
    m.extend_from_slice(token.as_bytes());
    m
}

fn txt_count(resp: &Message) -> usize {
    resp.answers
        .iter()
        .filter(|r| r.record_type() == RecordType::TXT)
        .count()
}

#[test]
fn signed_update_over_udp_is_applied_once_and_answered_signed() {
    let server = TestServer::start(
        &[(
            "example.com.zone",
            &simple_zone("example.com", 1, "192.0.2.80"),
        )],
        &config(),
    );
    let (req, mac) = sign(acme_update("token-1"));
    let resp = server.udp_raw(&req).expect("an answer");
    let m = Message::from_vec(&resp).unwrap();
    assert_eq!(m.metadata.id, 0x5152);
    assert_eq!(u8::from(m.metadata.op_code), 5);
    assert_eq!(rcode(&m), ResponseCode::NoError);
    let t = verified(&resp, &mac);
    assert_eq!(t.error, 0);

    let (answer, ok) = server.poll_udp("_acme-challenge.example.com.", RecordType::TXT, |r| {
        txt_count(r) == 1
    });
    assert!(ok, "the TXT is served: {answer:?}");
    let (soa, _) = server.poll_udp("example.com.", RecordType::SOA, |_| true);
    let serial = soa_serial(&soa);
    assert_ne!(serial, Some(1), "the serial moved");

    // The same bytes again (a retransmission, or a replay): the same
    // answer, nothing applied again.
    let again = server.udp_raw(&req).expect("an answer");
    assert_eq!(again, resp);
    let (soa, _) = server.poll_udp("example.com.", RecordType::SOA, |_| true);
    assert_eq!(soa_serial(&soa), serial);

    // A copy under another message ID (still valid: the MAC covers the
    // original ID its TSIG carries): the same answer under the copy's ID,
    // whose MAC verifies once the original ID is put back (RFC 8945
    // §4.3.2), and still nothing applied again.
    let mut reid = req.clone();
    reid[0] ^= 0x55;
    let third = server.udp_raw(&reid).expect("an answer");
    assert_eq!(third[..2], reid[..2], "answered under the copy's ID");
    assert_eq!(third[2..], resp[2..]);
    let t = tsig::find(&third).unwrap().expect("signed").tsig;
    assert_eq!(t.original_id, 0x5152);
    let mut restored = third.clone();
    restored[..2].copy_from_slice(&t.original_id.to_be_bytes());
    verified(&restored, &mac);
    let (soa, _) = server.poll_udp("example.com.", RecordType::SOA, |_| true);
    assert_eq!(soa_serial(&soa), serial);
}

#[test]
fn unsigned_update_is_refused_and_changes_nothing() {
    let server = TestServer::start(
        &[(
            "example.com.zone",
            &simple_zone("example.com", 1, "192.0.2.80"),
        )],
        &config(),
    );
    let resp = server.udp_raw(&acme_update("nope")).expect("an answer");
    let m = Message::from_vec(&resp).unwrap();
    assert_eq!(rcode(&m), ResponseCode::Refused);
    let r = server.udp(&query("_acme-challenge.example.com.", RecordType::TXT));
    assert_eq!(txt_count(&r), 0);
}

#[test]
fn nsupdate_style_signed_soa_query_is_answered_signed_over_udp_and_tcp() {
    let server = TestServer::start(
        &[(
            "example.com.zone",
            &simple_zone("example.com", 1, "192.0.2.80"),
        )],
        &config(),
    );
    let q = query("_acme-challenge.example.com.", RecordType::SOA)
        .to_vec()
        .unwrap();
    let (req, mac) = sign(q);
    let resp = server.udp_raw(&req).expect("an answer");
    verified(&resp, &mac);
    let m = Message::from_vec(&resp).unwrap();
    // NXDOMAIN with the SOA in authority: where nsupdate learns the zone.
    assert!(
        m.authorities
            .iter()
            .any(|r| r.record_type() == RecordType::SOA)
    );

    let mut s = server.tcp_connect();
    tcp_send(&mut s, &req);
    let resp = tcp_recv(&mut s).expect("an answer");
    verified(&resp, &mac);
}

/// Round 46 MEDIUM: the shipped grant `_acme-challenge.**` let the key
/// write `_acme-challenge.*.example.com`. The empty non-terminal it made,
/// `*.example.com`, is a wildcard (RFC 4592 §2.2.2), and every name the
/// zone lacks went from NXDOMAIN to NODATA. A `**` never spans a `*`
/// label: REFUSED, nothing written, the negative answers unchanged.
#[test]
fn a_double_star_grant_never_reaches_through_a_wildcard_label() {
    let s = TestServer::start(
        &[("example.com.zone", &example_zone(1, "192.0.2.80"))],
        &format!(
            "[[key]]\nname = \"acme-key\"\nalgorithm = \"hmac-sha256\"\nsecret = \"{SECRET_B64}\"\n\
             grant = [ {{ zone = \"example.com\", names = [\"_acme-challenge\", \"_acme-challenge.**\"], \
             types = [\"TXT\"] }} ]\n"
        ),
    );
    let send = |id: u16, owner: &str| -> Option<u8> {
        let msg = common::wire::update(id, "example.com", None, owner, 1, Some("planted"));
        let (signed, _) = common::wire::signed(&msg, &common::wire::key("acme-key."), now());
        s.udp_raw(&signed)
            .and_then(|r| r.get(3).copied())
            .map(|b| b & 0x0f)
    };
    let zone_file = s.zones_dir().join("example.com.zone");
    let before = std::fs::read_to_string(&zone_file).unwrap();
    for (id, owner) in [
        (1, "_acme-challenge.*.example.com"),
        (2, "_acme-challenge.a.*.example.com"),
        (3, "_acme-challenge.*.www.example.com"),
    ] {
        assert_eq!(send(id, owner), Some(5), "{owner}: REFUSED");
    }
    assert_eq!(std::fs::read_to_string(&zone_file).unwrap(), before);
    let nx = s.udp(&query("nope.example.com.", RecordType::A));
    assert_eq!(rcode(&nx), ResponseCode::NXDomain);
    // What the grant is for still works.
    assert_eq!(send(4, "_acme-challenge.host.example.com"), Some(0));
}

/// Round 48 MEDIUM: a key granted the name `dyn` (types `*`) could add
/// `dyn NS` and so delegate `host.dyn`, which it may not write, to a
/// nameserver of its own. An NS below the apex, a DNAME, or a delete of
/// every RRset changes what the names below answer: refused unless the
/// grant names them all (`**.dyn`); nothing written, host.dyn answered as
/// before. With the subtree granted, the delegation is made.
#[test]
fn a_key_granted_one_name_cannot_delegate_or_redirect_the_names_below() {
    use common::update::{nsupdate, update_script};
    let zone = format!(
        "{}host.dyn IN A 192.0.2.50\n",
        example_zone(1, "192.0.2.80")
    );
    let grant = |names: &str| {
        format!(
            "[[key]]\nname = \"acme-key\"\nalgorithm = \"hmac-sha256\"\nsecret = \"{SECRET_B64}\"\n\
             grant = [ {{ zone = \"example.com\", names = [{names}], types = [\"*\"] }} ]\n"
        )
    };
    let y = format!("hmac-sha256:acme-key:{SECRET_B64}");
    let s = TestServer::start(&[("example.com.zone", &zone)], &grant("\"dyn\""));
    let port = s.addr.port();
    let zone_file = s.zones_dir().join("example.com.zone");
    let before = std::fs::read_to_string(&zone_file).unwrap();
    for line in [
        "update add dyn.example.com. 60 NS ns.attacker.example.",
        "update add dyn.example.com. 60 DNAME www.example.com.",
        "update delete dyn.example.com.",
    ] {
        let o = nsupdate(
            &["-y", &y],
            false,
            &update_script(port, Some("example.com"), &[line]),
        );
        let err = String::from_utf8_lossy(&o.stderr).to_string();
        assert!(err.contains("REFUSED"), "{line}: {err}");
    }
    assert_eq!(std::fs::read_to_string(&zone_file).unwrap(), before);
    let host = s.udp(&query("host.dyn.example.com.", RecordType::A));
    assert!(host.metadata.authoritative, "{host:?}");
    assert_eq!(a_addrs(&host), [std::net::Ipv4Addr::new(192, 0, 2, 50)]);
    // An A at the granted name itself is still fine.
    let ok = nsupdate(
        &["-y", &y],
        false,
        &update_script(
            port,
            Some("example.com"),
            &["update add dyn.example.com. 60 A 192.0.2.7"],
        ),
    );
    assert!(
        ok.status.success(),
        "{}",
        String::from_utf8_lossy(&ok.stderr)
    );
    drop(s);
    let s = TestServer::start(
        &[("example.com.zone", &zone)],
        &grant("\"dyn\", \"**.dyn\""),
    );
    let o = nsupdate(
        &["-y", &y],
        false,
        &update_script(
            s.addr.port(),
            Some("example.com"),
            &["update add dyn.example.com. 60 NS ns.elsewhere.example."],
        ),
    );
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let host = s.udp(&query("host.dyn.example.com.", RecordType::A));
    assert!(!host.metadata.authoritative, "a referral now: {host:?}");
}

/// Round 49 LOW: a change refused because it would leave the zone
/// invalid (a DNAME above existing names, RFC 6672 §2.4) says why in an
/// Extended DNS Error when the UPDATE carries EDNS, as a grant refusal
/// does; nothing is written.
#[test]
fn an_update_that_would_break_the_zone_says_why_in_an_extended_error() {
    let zone = format!(
        "{}host.dyn IN A 192.0.2.50\n",
        example_zone(1, "192.0.2.80")
    );
    let s = TestServer::start(
        &[("example.com.zone", &zone)],
        &format!(
            "[[key]]\nname = \"acme-key\"\nalgorithm = \"hmac-sha256\"\nsecret = \"{SECRET_B64}\"\n\
             grant = [ {{ zone = \"example.com\", names = [\"@\", \"**\"], types = [\"*\"] }} ]\n"
        ),
    );
    // UPDATE example.com: add dyn.example.com. 60 DNAME www.example.com.,
    // with an OPT RR (payload 1232).
    let mut m = vec![0x51, 0x53, 0x28, 0, 0, 1, 0, 0, 0, 1, 0, 1];
    m.extend_from_slice(b"\x07example\x03com\x00\x00\x06\x00\x01");
    m.extend_from_slice(b"\x03dyn\xc0\x0c\x00\x27\x00\x01\x00\x00\x00\x3c");
    let target = b"\x03www\x07example\x03com\x00";
    m.extend_from_slice(&(target.len() as u16).to_be_bytes());
    m.extend_from_slice(target);
    m.extend_from_slice(&[0, 0, 41, 0x04, 0xd0, 0, 0, 0, 0, 0, 0]);
    let zone_file = s.zones_dir().join("example.com.zone");
    let before = std::fs::read_to_string(&zone_file).unwrap();
    let (signed, _) = sign(m);
    let resp = s.udp_raw(&signed).expect("an answer");
    assert_eq!(resp[3] & 0x0f, 5, "REFUSED");
    let text = String::from_utf8_lossy(&resp);
    assert!(
        text.contains("would leave the zone invalid") && text.contains("DNAME"),
        "{text:?}"
    );
    assert_eq!(std::fs::read_to_string(&zone_file).unwrap(), before);
}
