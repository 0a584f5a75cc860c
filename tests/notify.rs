//! NOTIFY (RFC 1996) and key-based transfer permissions on the real
//! server: a write or a file edit NOTIFYs the configured secondaries
//! without delaying the writer; AXFR is allowed by CIDR or TSIG key. Only
//! 127.0.0.1; every wait is bounded.

mod common;

use std::net::{Ipv4Addr, UdpSocket};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use common::*;
use hickory_proto::op::{Message, MessageType, OpCode, ResponseCode};
use hickory_proto::rr::{Name, RData, RecordType};
use zonewright::tsig::{self, Algorithm, Context, Key, SignParams};

const ACME_B64: &str = "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=";
const XFR_B64: &str = "eGZyLWtleS1zZWNyZXQteGZyLWtleS1zZWNyZXQhIQ==";
const OTHER_B64: &str = "b3RoZXIta2V5LXNlY3JldC1vdGhlci1rZXktc2VjcmV0";

fn key(name: &str, b64: &str) -> Key {
    use base64::Engine;
    let secret = base64::engine::general_purpose::STANDARD
        .decode(b64)
        .unwrap();
    Key::new(
        Name::from_ascii(format!("{name}.")).unwrap(),
        Algorithm::HmacSha256,
        secret,
    )
}

fn keys_config() -> String {
    format!(
        "[[key]]\nname = \"acme-key\"\nalgorithm = \"hmac-sha256\"\nsecret = \"{ACME_B64}\"\n\
         grant = [ {{ zone = \"example.com\", names = [\"_acme-challenge\"], types = [\"TXT\"] }} ]\n\
         [[key]]\nname = \"xfr-key\"\nalgorithm = \"hmac-sha256\"\nsecret = \"{XFR_B64}\"\n\
         [[key]]\nname = \"other-key\"\nalgorithm = \"hmac-sha256\"\nsecret = \"{OTHER_B64}\"\n"
    )
}

/// A server for example.com (serial 1) that NOTIFYs `targets`.
fn server(targets: &[String]) -> TestServer {
    let list: Vec<String> = targets.iter().map(|t| format!("{t:?}")).collect();
    let extra = format!(
        "{}[[zone]]\nname = \"example.com\"\nnotify = [{}]\nnotify_key = \"xfr-key\"\n\
         allow_transfer = [\"192.0.2.0/24\", \"key:xfr-key\"]\n",
        keys_config(),
        list.join(", ")
    );
    TestServer::start(
        &[(
            "example.com.zone",
            &simple_zone("example.com", 1, "192.0.2.80"),
        )],
        &extra,
    )
}

fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

fn sign(mut msg: Vec<u8>, key: &Key) -> Vec<u8> {
    let p = SignParams {
        time: now(),
        fudge: 300,
        error: 0,
        other: &[],
    };
    tsig::sign(&mut msg, key, Context::Request, p);
    msg
}

/// `update add _acme-challenge.example.com. 60 TXT "<token>"` with ID `id`.
fn acme_update(id: u16, token: &str) -> Vec<u8> {
    let mut m = id.to_be_bytes().to_vec();
    m.extend_from_slice(&[0x28, 0, 0, 1, 0, 0, 0, 1, 0, 0]);
    m.extend_from_slice(b"\x07example\x03com\x00\x00\x06\x00\x01");
    m.extend_from_slice(b"\x0f_acme-challenge\xc0\x0c\x00\x10\x00\x01\x00\x00\x00\x3c");
    m.extend_from_slice(&((token.len() + 1) as u16).to_be_bytes());
    m.push(token.len() as u8);
    m.extend_from_slice(token.as_bytes());
    sign(m, &key("acme-key", ACME_B64))
}

/// A UDP socket playing a secondary.
fn secondary() -> (UdpSocket, String) {
    let sock = UdpSocket::bind((Ipv4Addr::LOCALHOST, 0)).unwrap();
    let addr = sock.local_addr().unwrap().to_string();
    (sock, addr)
}

/// The next NOTIFY to arrive within `wait`, answered (so retries stop).
fn next_notify(sock: &UdpSocket, wait: Duration) -> Option<Message> {
    next_notify_raw(sock, wait).map(|(m, _)| m)
}

fn next_notify_raw(sock: &UdpSocket, wait: Duration) -> Option<(Message, Vec<u8>)> {
    let deadline = Instant::now() + wait;
    let mut buf = vec![0u8; 65535];
    loop {
        let left = deadline.checked_duration_since(Instant::now())?;
        sock.set_read_timeout(Some(left.max(Duration::from_millis(1))))
            .unwrap();
        let (n, from) = sock.recv_from(&mut buf).ok()?;
        let Ok(m) = Message::from_vec(&buf[..n]) else {
            continue;
        };
        // The propagation tracker's SOA queries are not NOTIFYs.
        if m.metadata.op_code != OpCode::Notify {
            continue;
        }
        let mut reply = buf[..n].to_vec();
        reply[2] |= 0x80;
        sock.send_to(&reply, from).unwrap();
        return Some((m, buf[..n].to_vec()));
    }
}

fn update(s: &TestServer, id: u16, token: &str) -> (ResponseCode, Duration) {
    let started = Instant::now();
    let resp = s.udp_raw(&acme_update(id, token)).expect("an answer");
    let took = started.elapsed();
    (rcode(&Message::from_vec(&resp).unwrap()), took)
}

fn assert_notify_for(m: &Message, serial_not: u32) {
    assert_eq!(m.metadata.op_code, OpCode::Notify);
    assert_eq!(m.metadata.message_type, MessageType::Query);
    assert!(m.metadata.authoritative, "AA set");
    assert_eq!(m.queries.len(), 1);
    assert_eq!(m.queries[0].name().to_ascii(), "example.com.");
    assert_eq!(m.queries[0].query_type(), RecordType::SOA);
    let serial = m.answers.iter().find_map(|r| match &r.data {
        RData::SOA(s) => Some(s.serial),
        _ => None,
    });
    assert!(serial.is_some_and(|s| s != serial_not), "{serial:?}");
}

/// RFC 8945: the NOTIFY is signed with `notify_key` and verifies.
fn assert_signed_by_xfr_key(raw: &[u8]) {
    let k = key("xfr-key", XFR_B64);
    let v = tsig::verify_request(raw, |n| (*n == k.name).then_some(&k), now(), 300);
    assert!(matches!(v, Ok(Some(_))), "{v:?}");
}

/// At start-up every target hears the serial the zone is served with (as
/// BIND and Knot notify at load): serial 1 here, signed, answered.
fn startup_notify(sec: &UdpSocket) {
    let (m, raw) = next_notify_raw(sec, Duration::from_secs(2)).expect("a NOTIFY at start-up");
    assert_eq!(soa_serial(&m), Some(1), "{m:?}");
    assert_signed_by_xfr_key(&raw);
}

#[test]
fn rfc1996_4_1_update_sends_notify_without_waiting_for_a_dead_target() {
    let (sec, addr) = secondary();
    // A port nobody listens on: bound, then released.
    let dead = UdpSocket::bind((Ipv4Addr::LOCALHOST, 0))
        .unwrap()
        .local_addr()
        .unwrap()
        .to_string();
    let s = server(&[addr, dead]);
    startup_notify(&sec);
    let (rc, took) = update(&s, 0x0101, "token-1");
    assert_eq!(rc, ResponseCode::NoError);
    assert!(took < Duration::from_secs(1), "UPDATE answered in {took:?}");
    let (m, raw) = next_notify_raw(&sec, Duration::from_secs(1)).expect("a NOTIFY within 1 s");
    assert_notify_for(&m, 1);
    assert_signed_by_xfr_key(&raw);
}

#[test]
fn rfc1996_unchanged_update_sends_no_notify() {
    let (sec, addr) = secondary();
    let s = server(&[addr]);
    startup_notify(&sec);
    assert_eq!(update(&s, 0x0201, "same").0, ResponseCode::NoError);
    assert!(next_notify(&sec, Duration::from_secs(1)).is_some());
    // The same record again: nothing changes, no serial bump, no NOTIFY.
    assert_eq!(update(&s, 0x0202, "same").0, ResponseCode::NoError);
    assert!(next_notify(&sec, Duration::from_millis(500)).is_none());
}

#[test]
fn rfc1996_4_1_file_edit_sends_notify() {
    let (sec, addr) = secondary();
    let s = server(&[addr]);
    startup_notify(&sec);
    s.save_by_rename(
        "example.com.zone",
        &simple_zone("example.com", 5, "192.0.2.81"),
    );
    let m = next_notify(&sec, Duration::from_secs(3)).expect("a NOTIFY after the reload");
    assert_notify_for(&m, 1);
    assert_eq!(soa_serial(&m), Some(5));
}

#[test]
fn rfc1996_received_notify_is_answered_notimp() {
    let s = server(&[]);
    let resp = s.udp_raw(&opcode_message(4)).expect("an answer");
    let m = Message::from_vec(&resp).unwrap();
    assert_eq!(rcode(&m), ResponseCode::NotImp);
    assert_eq!(m.metadata.op_code, OpCode::Notify);
}

/// The first message of an AXFR of example.com over TCP, `key` signing it.
fn axfr_first(s: &TestServer, key: Option<&Key>) -> Vec<u8> {
    let q = query("example.com.", RecordType::AXFR).to_vec().unwrap();
    let q = match key {
        Some(k) => sign(q, k),
        None => q,
    };
    let mut conn = s.tcp_connect();
    tcp_send(&mut conn, &q);
    tcp_recv(&mut conn).expect("an answer")
}

#[test]
fn rfc5936_5_axfr_allowed_with_listed_key() {
    let s = server(&[]);
    let resp = axfr_first(&s, Some(&key("xfr-key", XFR_B64)));
    let m = Message::from_vec(&resp).unwrap();
    assert_eq!(rcode(&m), ResponseCode::NoError);
    assert_eq!(m.answers[0].record_type(), RecordType::SOA);
    assert!(tsig::find(&resp).unwrap().is_some(), "answer signed");
}

#[test]
fn rfc5936_5_axfr_refused_with_unlisted_key_signed() {
    let s = server(&[]);
    let resp = axfr_first(&s, Some(&key("other-key", OTHER_B64)));
    let m = Message::from_vec(&resp).unwrap();
    assert_eq!(rcode(&m), ResponseCode::Refused);
    assert!(m.answers.is_empty());
    assert!(
        tsig::find(&resp).unwrap().is_some(),
        "the refusal is signed"
    );
}

#[test]
fn rfc5936_5_axfr_refused_unsigned_from_unlisted_address() {
    let s = server(&[]);
    let m = Message::from_vec(&axfr_first(&s, None)).unwrap();
    assert_eq!(rcode(&m), ResponseCode::Refused);
}

#[test]
fn rfc8945_axfr_with_bad_secret_is_notauth() {
    let s = server(&[]);
    let resp = axfr_first(&s, Some(&key("xfr-key", OTHER_B64)));
    let m = Message::from_vec(&resp).unwrap();
    assert_eq!(rcode(&m), ResponseCode::NotAuth);
    assert!(m.answers.is_empty());
}
