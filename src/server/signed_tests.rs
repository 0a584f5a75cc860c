//! Dispatch of signed requests and UPDATEs, with a fixed clock: RFC 8945
//! answers (signed, BADKEY, BADSIG, BADTIME), RFC 2136 refusals, grants,
//! rate limits and the replay cache. The store is whatever the branch has;
//! these tests only rely on its answer being signed.

use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;

use hickory_proto::op::{Message, ResponseCode};
use hickory_proto::rr::RecordType;

use super::dispatch::{Dispatcher, Handled, Peer};
use crate::config::Config;
use crate::rcode::Rcode;
use crate::request::Transport;
use crate::rr::Name;
use crate::served::State;
use crate::store::Store;
use crate::tsig::{self, Algorithm, Context, Key, SignParams, Tsig};

const NOW: u64 = 1_800_000_000;
const SECRET_B64: &str = "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=";

fn n(s: &str) -> Name {
    Name::from_ascii(s).expect("name")
}

fn acme_key() -> Key {
    Key::new(n("acme-key."), Algorithm::HmacSha256, (0u8..32).collect())
}

struct Fixture {
    _dir: tempfile::TempDir,
    d: Arc<Dispatcher>,
}

fn fixture(extra: &str) -> Fixture {
    let dir = tempfile::tempdir().expect("dir");
    let zones = dir.path().join("zones");
    std::fs::create_dir(&zones).expect("mkdir");
    let mut zone = String::from(
        "$ORIGIN example.com.\n$TTL 300\n\
         @ IN SOA ns1 hostmaster 1 7200 3600 1209600 300\n  IN NS ns1\nns1 IN A 192.0.2.1\n",
    );
    for i in 0..20 {
        zone.push_str(&format!("big IN TXT \"{i:03}-{}\"\n", "x".repeat(200)));
    }
    std::fs::write(zones.join("example.com.zone"), zone).expect("zone");
    let text = format!(
        "zones_dir = \"zones\"\n[[zone]]\nname = \"example.com\"\nallow_transfer = [\"127.0.0.0/8\"]\n\
         [[key]]\nname = \"acme-key\"\nalgorithm = \"hmac-sha256\"\nsecret = \"{SECRET_B64}\"\n{extra}\
         grant = [ {{ zone = \"example.com\", names = [\"_acme-challenge\", \"_acme-challenge.**\"], types = [\"TXT\"] }} ]\n"
    );
    let config = Config::from_toml(&dir.path().join("zonewright.toml"), &text).expect("config");
    let state = Arc::new(State::new(Arc::new(config)));
    state.reload();
    let store = Arc::new(Store::new(state.clone()));
    let d = Arc::new(Dispatcher::with_clock(
        state,
        store,
        Arc::new(|| NOW),
        NOW - 60,
    ));
    Fixture { _dir: dir, d }
}

fn udp() -> Peer {
    Peer {
        addr: SocketAddr::from(([127, 0, 0, 1], 5300)),
        transport: Transport::Udp,
    }
}

fn tcp() -> Peer {
    Peer {
        addr: SocketAddr::from(([127, 0, 0, 1], 5301)),
        transport: Transport::Tcp,
    }
}

fn sign_request(mut msg: Vec<u8>, key: &Key, time: u64) -> (Vec<u8>, Vec<u8>) {
    let p = SignParams {
        time,
        fudge: 300,
        error: 0,
        other: &[],
    };
    let mac = tsig::sign(&mut msg, key, Context::Request, p);
    (msg, mac)
}

fn query(name: &str, rtype: RecordType) -> Vec<u8> {
    let mut m = Message::query();
    m.metadata.id = 0x4242;
    m.add_query(hickory_proto::op::Query::query(n(name), rtype));
    m.to_vec().expect("encode")
}

fn push_name(out: &mut Vec<u8>, name: &Name) {
    for l in name.iter() {
        out.push(l.len() as u8);
        out.extend_from_slice(l);
    }
    out.push(0);
}

/// An UPDATE of `zone` with the given update-section RRs
/// (owner, type, class, ttl, rdata).
fn update(zone: &str, rrs: &[(&str, u16, u16, u32, &[u8])]) -> Vec<u8> {
    let mut m = vec![0x12, 0x34, 0x28, 0, 0, 1, 0, 0];
    m.extend_from_slice(&(rrs.len() as u16).to_be_bytes());
    m.extend_from_slice(&[0, 0]);
    push_name(&mut m, &n(zone));
    m.extend_from_slice(&[0, 6, 0, 1]);
    for (owner, t, c, ttl, rdata) in rrs {
        push_name(&mut m, &n(owner));
        m.extend_from_slice(&t.to_be_bytes());
        m.extend_from_slice(&c.to_be_bytes());
        m.extend_from_slice(&ttl.to_be_bytes());
        m.extend_from_slice(&(rdata.len() as u16).to_be_bytes());
        m.extend_from_slice(rdata);
    }
    m
}

fn acme_add(token: &str) -> Vec<u8> {
    let mut txt = vec![token.len() as u8];
    txt.extend_from_slice(token.as_bytes());
    update(
        "example.com.",
        &[("_acme-challenge.example.com.", 16, 1, 60, &txt)],
    )
}

fn replies(h: Handled) -> Vec<Vec<u8>> {
    h.into_replies().expect("an immediate reply")
}

fn one(h: Handled) -> Vec<u8> {
    let mut r = replies(h);
    assert_eq!(r.len(), 1);
    r.remove(0)
}

fn rcode_of(msg: &[u8]) -> u8 {
    msg[3] & 0x0F
}

/// Checks the response's TSIG verifies as a response to `request_mac`
/// (or, with `prior`, as a continuation); returns the TSIG.
fn verify_response(resp: &[u8], key: &Key, ctx: Context<'_>) -> Tsig {
    let found = tsig::find(resp).expect("parse").expect("signed");
    let mut body = resp[..found.start].to_vec();
    let ar = u16::from_be_bytes([body[10], body[11]]) - 1;
    body[10..12].copy_from_slice(&ar.to_be_bytes());
    let t = &found.tsig;
    let p = SignParams {
        time: t.time_signed,
        fudge: t.fudge,
        error: t.error,
        other: &t.other,
    };
    let mac = tsig::sign(&mut body, key, ctx, p);
    assert_eq!(mac, t.mac, "response MAC does not verify");
    found.tsig
}

fn unsigned_tsig(resp: &[u8]) -> Tsig {
    let t = tsig::find(resp).expect("parse").expect("a TSIG RR").tsig;
    assert!(t.mac.is_empty(), "must be unsigned");
    t
}

#[test]
fn rfc8945_5_3_signed_soa_query_gets_a_signed_answer() {
    let f = fixture("");
    let (req, mac) = sign_request(query("example.com.", RecordType::SOA), &acme_key(), NOW);
    for peer in [udp(), tcp()] {
        let resp = one(f.d.handle(&req, peer));
        let m = Message::from_vec(&resp).expect("decode");
        assert_eq!(m.metadata.response_code, ResponseCode::NoError);
        assert_eq!(m.metadata.id, 0x4242);
        assert_eq!(m.answers.len(), 1);
        let t = verify_response(&resp, &acme_key(), Context::Response { request_mac: &mac });
        assert_eq!((t.time_signed, t.fudge, t.error), (NOW, 300, 0));
    }
}

#[test]
fn rfc8945_5_3_signed_answer_too_big_for_udp_is_question_only_tc() {
    let f = fixture("");
    let (req, mac) = sign_request(query("big.example.com.", RecordType::TXT), &acme_key(), NOW);
    let resp = one(f.d.handle(&req, udp()));
    assert!(resp.len() <= 512, "{}", resp.len());
    let m = Message::from_vec(&resp).expect("decode");
    assert!(m.metadata.truncation);
    assert_eq!(m.metadata.response_code, ResponseCode::NoError);
    assert_eq!(m.queries.len(), 1);
    assert!(m.answers.is_empty());
    verify_response(&resp, &acme_key(), Context::Response { request_mac: &mac });
    // Over TCP the whole RRset fits, signed.
    let resp = one(f.d.handle(&req, tcp()));
    let m = Message::from_vec(&resp).expect("decode");
    assert_eq!(m.answers.len(), 20);
    verify_response(&resp, &acme_key(), Context::Response { request_mac: &mac });
}

#[test]
fn rfc8945_5_3_1_signed_axfr_signs_every_message() {
    let f = fixture("");
    let (req, mac) = sign_request(query("example.com.", RecordType::AXFR), &acme_key(), NOW);
    let msgs = replies(f.d.handle(&req, tcp()));
    assert!(!msgs.is_empty());
    let mut prior = verify_response(
        &msgs[0],
        &acme_key(),
        Context::Response { request_mac: &mac },
    )
    .mac;
    for m in &msgs[1..] {
        prior = verify_response(m, &acme_key(), Context::Continuation { prior_mac: &prior }).mac;
    }
    // AXFR over UDP: REFUSED, still signed.
    let resp = one(f.d.handle(&req, udp()));
    assert_eq!(rcode_of(&resp), 5);
    verify_response(&resp, &acme_key(), Context::Response { request_mac: &mac });
}

#[test]
fn rfc8945_5_2_1_unknown_key_is_notauth_badkey_unsigned() {
    let f = fixture("");
    let other = Key::new(n("nobody."), Algorithm::HmacSha256, vec![1; 32]);
    let (req, _) = sign_request(query("example.com.", RecordType::SOA), &other, NOW);
    let resp = one(f.d.handle(&req, udp()));
    assert_eq!(rcode_of(&resp), 9);
    let m = Message::from_vec(&resp).expect("decode");
    assert_eq!(m.queries.len(), 1, "the question is echoed");
    let t = unsigned_tsig(&resp);
    assert_eq!(t.error, Rcode::BadKey.code());
    assert_eq!(t.key_name, n("nobody."));
    // A known name with another algorithm is BADKEY too.
    let wrong_alg = Key::new(n("acme-key."), Algorithm::HmacSha1, (0u8..32).collect());
    let (req, _) = sign_request(query("example.com.", RecordType::SOA), &wrong_alg, NOW);
    let t = unsigned_tsig(&one(f.d.handle(&req, udp())));
    assert_eq!(t.error, Rcode::BadKey.code());
}

#[test]
fn rfc8945_5_2_2_bad_mac_is_notauth_badsig_unsigned() {
    let f = fixture("");
    let forged = Key::new(n("acme-key."), Algorithm::HmacSha256, vec![9; 32]);
    let (req, _) = sign_request(acme_add("x"), &forged, NOW);
    let resp = one(f.d.handle(&req, udp()));
    assert_eq!(rcode_of(&resp), 9);
    assert_eq!(unsigned_tsig(&resp).error, Rcode::BADSIG.code());
}

#[test]
fn rfc8945_5_2_3_badtime_is_signed_with_server_time() {
    let f = fixture("");
    let then = NOW - 1000;
    let (req, mac) = sign_request(acme_add("x"), &acme_key(), then);
    let resp = one(f.d.handle(&req, udp()));
    assert_eq!(rcode_of(&resp), 9);
    let t = verify_response(&resp, &acme_key(), Context::Response { request_mac: &mac });
    assert_eq!(t.error, Rcode::BadTime.code());
    assert_eq!(t.time_signed, then, "the client's time comes back");
    assert_eq!(t.fudge, 300, "the client's fudge comes back");
    assert_eq!(t.other, tsig::badtime_other(NOW).to_vec());
}

#[test]
fn rfc8945_5_1_tsig_not_last_is_formerr() {
    let f = fixture("");
    let (mut req, _) = sign_request(query("example.com.", RecordType::SOA), &acme_key(), NOW);
    // Append an OPT after the TSIG.
    req.extend_from_slice(&[0, 0, 41, 0x04, 0xd0, 0, 0, 0, 0, 0, 0]);
    let ar = u16::from_be_bytes([req[10], req[11]]) + 1;
    req[10..12].copy_from_slice(&ar.to_be_bytes());
    let resp = one(f.d.handle(&req, udp()));
    assert_eq!(rcode_of(&resp), 1);
}

#[test]
fn rfc2136_3_3_unsigned_update_is_refused() {
    let f = fixture("");
    let resp = one(f.d.handle(&acme_add("x"), udp()));
    assert_eq!(rcode_of(&resp), 5);
    assert_eq!(
        tsig::find(&resp).expect("parse"),
        None,
        "unsigned request, unsigned answer"
    );
    let m = Message::from_vec(&resp).expect("decode");
    assert_eq!(m.metadata.id, 0x1234);
    assert_eq!(u8::from(m.metadata.op_code), 5);
    assert_eq!(m.queries.len(), 1, "the zone section is echoed");
}

#[test]
fn rfc2136_3_3_grants_refuse_the_whole_update() {
    let f = fixture("");
    let allowed: &[u8] = b"\x02ok";
    let msg = update(
        "example.com.",
        &[
            ("_acme-challenge.example.com.", 16, 1, 60, allowed),
            ("www.example.com.", 1, 1, 60, &[192, 0, 2, 9]),
        ],
    );
    let (req, mac) = sign_request(msg, &acme_key(), NOW);
    let resp = one(f.d.handle(&req, udp()));
    assert_eq!(rcode_of(&resp), 5);
    verify_response(&resp, &acme_key(), Context::Response { request_mac: &mac });
    // Deleting every RRset at the name needs a grant of every type.
    let msg = update(
        "example.com.",
        &[("_acme-challenge.example.com.", 255, 255, 0, &[])],
    );
    let (req, _) = sign_request(msg, &acme_key(), NOW);
    assert_eq!(rcode_of(&one(f.d.handle(&req, udp()))), 5);
}

#[test]
fn rfc2136_3_4_1_3_outside_the_zone_is_notzone_and_unknown_zone_notauth() {
    let f = fixture("");
    let msg = update(
        "example.com.",
        &[("_acme-challenge.example.org.", 16, 1, 60, b"\x01x")],
    );
    let (req, _) = sign_request(msg, &acme_key(), NOW);
    assert_eq!(rcode_of(&one(f.d.handle(&req, udp()))), 10);
    let msg = update(
        "example.org.",
        &[("_acme-challenge.example.org.", 16, 1, 60, b"\x01x")],
    );
    let (req, mac) = sign_request(msg, &acme_key(), NOW);
    let resp = one(f.d.handle(&req, udp()));
    assert_eq!(rcode_of(&resp), 9);
    verify_response(&resp, &acme_key(), Context::Response { request_mac: &mac });
}

#[test]
fn malformed_update_and_bad_rdata_are_formerr() {
    let f = fixture("");
    // TXT whose character-string runs past the RDATA.
    let msg = update(
        "example.com.",
        &[("_acme-challenge.example.com.", 16, 1, 60, b"\x09ab")],
    );
    let (req, _) = sign_request(msg, &acme_key(), NOW);
    assert_eq!(rcode_of(&one(f.d.handle(&req, udp()))), 1);
    // Two zones in the zone section.
    let mut msg = acme_add("x");
    msg[5] = 2;
    let (req, _) = sign_request(msg, &acme_key(), NOW);
    assert_eq!(rcode_of(&one(f.d.handle(&req, udp()))), 1);
}

#[tokio::test]
async fn granted_update_is_written_signed_and_never_applied_twice() {
    let f = fixture("");
    let (req, mac) = sign_request(acme_add("token-1"), &acme_key(), NOW);
    let Handled::Update(pending) = f.d.handle(&req, udp()) else {
        panic!("expected an UPDATE for the store");
    };
    // An identical request while the first is in flight waits for it.
    let Handled::Update(waiting) = f.d.handle(&req, tcp()) else {
        panic!("expected to wait for the first");
    };
    let first = pending.run().await;
    assert_eq!(waiting.run().await, first);
    let m = Message::from_vec(&first).expect("decode");
    assert_eq!(m.metadata.id, 0x1234);
    assert_eq!(u8::from(m.metadata.op_code), 5);
    assert_eq!(m.queries.len(), 1, "zone echoed");
    assert_eq!(m.metadata.response_code, ResponseCode::NoError);
    verify_response(&first, &acme_key(), Context::Response { request_mac: &mac });
    let serial = |d: &Dispatcher| {
        d.state
            .snapshot()
            .get(&n("example.com."))
            .map(|z| z.serial())
    };
    let written = serial(&f.d);
    assert_ne!(written, Some(1), "the serial moved");
    let txt = f.d.state.snapshot().get(&n("example.com.")).map(|z| {
        z.rrset(&n("_acme-challenge.example.com."), RecordType::TXT)
            .len()
    });
    assert_eq!(txt, Some(1));
    // A retransmission gets the same bytes, at once, and nothing is applied.
    let again = one(f.d.handle(&req, udp()));
    assert_eq!(again, first);
    assert_eq!(serial(&f.d), written);
}

#[test]
fn rate_limit_refuses_a_key_over_its_rate() {
    let f = fixture("rate_limit = \"1/60s\"\n");
    let (req, _) = sign_request(acme_add("a"), &acme_key(), NOW);
    assert!(matches!(f.d.handle(&req, udp()), Handled::Update(_)));
    let (req, mac) = sign_request(acme_add("b"), &acme_key(), NOW);
    let resp = one(f.d.handle(&req, udp()));
    assert_eq!(rcode_of(&resp), 5);
    verify_response(&resp, &acme_key(), Context::Response { request_mac: &mac });
}

#[test]
fn unsigned_queries_are_unchanged() {
    let f = fixture("");
    let resp = one(f.d.handle(&query("example.com.", RecordType::SOA), udp()));
    assert_eq!(tsig::find(&resp).expect("parse"), None);
    assert_eq!(rcode_of(&resp), 0);
    let _ = Path::new(".");
}
