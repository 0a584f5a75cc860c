//! How the REST API reads a request, attacked over a real socket (issue 12,
//! the outside attack on request parsing): duplicate JSON keys, repeated
//! Content-Type / Content-Encoding lines, transfer codings, a declared
//! length over the limit, and GET-then-PUT of a zone holding names the API
//! cannot write. Each refusal writes nothing.

mod common;
mod rest_common;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, Instant};

use serde_json::Value;

use rest_common::*;

fn zone_file(s: &common::TestServer) -> String {
    std::fs::read_to_string(s.zones_dir().join("service.local.zone")).expect("zone file")
}

/// The error message of an answer.
fn error(r: &Resp) -> &str {
    r.body["error"].as_str().unwrap_or_default()
}

/// An answer read off a raw socket: status, headers (lower-case names) and
/// body, and how long it took.
struct Raw {
    status: u16,
    head: String,
    body: Value,
    took: Duration,
}

/// Sends `head` (request line and header lines, without the blank line;
/// the token is added) and then `body` as bytes on a fresh connection, and
/// reads the answer until the server closes or a full body arrived.
fn raw(addr: SocketAddr, head: &str, body: &[u8]) -> Raw {
    let started = Instant::now();
    let mut tcp = TcpStream::connect(addr).expect("connect");
    tcp.set_read_timeout(Some(Duration::from_secs(20)))
        .expect("timeout");
    let mut req =
        format!("{head}\r\nHost: test\r\nAuthorization: Bearer {TOKEN}\r\n\r\n").into_bytes();
    req.extend_from_slice(body);
    // The server may answer and close before taking the whole body.
    let _ = tcp.write_all(&req);
    let mut got = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        match tcp.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => got.extend_from_slice(&buf[..n]),
        }
        if complete(&got) {
            break;
        }
    }
    let text = String::from_utf8_lossy(&got).into_owned();
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    let status = head
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("no status line in {text:?}"));
    Raw {
        status,
        head: head.to_ascii_lowercase(),
        body: serde_json::from_str(body).unwrap_or(Value::Null),
        took: started.elapsed(),
    }
}

/// Whether `got` holds a whole answer with a Content-Length body.
fn complete(got: &[u8]) -> bool {
    let text = String::from_utf8_lossy(got);
    let Some((head, body)) = text.split_once("\r\n\r\n") else {
        return false;
    };
    head.lines()
        .find_map(|l| {
            let (k, v) = l.split_once(':')?;
            k.eq_ignore_ascii_case("content-length")
                .then(|| v.trim().parse::<usize>().ok())
                .flatten()
        })
        .is_some_and(|n| body.len() >= n)
}

fn raw_error(r: &Raw) -> &str {
    r.body["error"].as_str().unwrap_or_default()
}

/// RFC 8259 §4 leaves an object with a name given twice to each parser
/// ("unpredictable"): serde_json kept the last, so a body could pass the
/// `zone` check with one value and mean another. A key given twice is a 400
/// naming the key and where it is.
#[test]
fn a_json_key_given_twice_is_400_naming_it() {
    let (s, api) = start("rate_limit = 0");
    let before = zone_file(&s);
    let table: &[(&str, &str, &str)] = &[
        (
            "/v1/state",
            r#"{"zone":"example.com","zone":"service.local","services":{}}"#,
            "duplicate key \"zone\" in the body",
        ),
        (
            "/v1/state",
            r#"{"services":{},"services":{"x":{"records":["10.0.0.1"]}}}"#,
            "duplicate key \"services\" in the body",
        ),
        (
            "/v1/state",
            r#"{"services":{"x":{"records":[],"records":["10.0.0.1"]}}}"#,
            "duplicate key \"records\" in services.x",
        ),
        (
            "/v1/state",
            r#"{"services":{"x":{"records":["10.0.0.1"]},"x":{"records":["10.0.0.2"]}}}"#,
            "duplicate key \"x\" in services",
        ),
        (
            "/v1/services/x",
            r#"{"records":["10.0.0.1"],"ttl":5,"ttl":60}"#,
            "duplicate key \"ttl\" in the body",
        ),
        (
            "/v1/services/x",
            r#"{"zone":"other.test","zone":"service.local","records":["10.0.0.1"]}"#,
            "duplicate key \"zone\" in the body",
        ),
        // The same key once its escapes are decoded.
        (
            "/v1/services/x",
            r#"{"records":["10.0.0.1"],"rec\u006frds":["10.0.0.2"]}"#,
            "duplicate key \"records\" in the body",
        ),
    ];
    for (path, body, want) in table {
        let r = api.put(path, body);
        assert_eq!(r.status, 400, "PUT {path} {body}: {}", r.text);
        assert!(error(&r).contains(want), "PUT {path} {body}: {}", r.text);
        assert!(error(&r).contains("at line 1 column"), "{}", r.text);
    }
    let r = api.post(
        "/v1/services/mail/records",
        r#"{"records":["10.0.0.1"],"records":["10.0.0.2"]}"#,
    );
    assert_eq!(r.status, 400, "{}", r.text);
    let r = api.delete_body(
        "/v1/services/mail/records",
        r#"{"records":["10.0.0.9"],"records":["192.0.2.25"]}"#,
    );
    assert_eq!(r.status, 400, "{}", r.text);
    assert_eq!(zone_file(&s), before, "nothing written");
    assert_eq!(api.get("/v1/services/x").status, 404);
}

/// `data` as one chunk and the last chunk (RFC 9112 §7.1).
fn chunked(data: &str) -> Vec<u8> {
    format!("{:x}\r\n{data}\r\n0\r\n\r\n", data.len()).into_bytes()
}

const BODY: &str = r#"{"records":["10.0.0.7"]}"#;

/// Every line of Content-Type and Content-Encoding is checked, not the
/// first: a second Content-Encoding that is not `identity` is a 415, and a
/// second Content-Type (a singleton field, RFC 9110 §5.3, §8.3) a 400
/// whatever it says.
#[test]
fn repeated_content_type_and_encoding_lines_are_refused() {
    let (s, api) = start("rate_limit = 0");
    let addr = s.rest_addr.expect("REST listener");
    let before = zone_file(&s);
    let put = |headers: &str| {
        raw(
            addr,
            &format!(
                "PUT /v1/services/rep HTTP/1.1\r\n{headers}\r\nContent-Length: {}",
                BODY.len()
            ),
            BODY.as_bytes(),
        )
    };
    for (headers, status, want) in [
        (
            "Content-Type: application/json\r\nContent-Encoding: identity\r\nContent-Encoding: gzip",
            415,
            "unsupported Content-Encoding \"gzip\"",
        ),
        (
            "Content-Type: application/json\r\nContent-Encoding: gzip\r\nContent-Encoding: identity",
            415,
            "unsupported Content-Encoding \"gzip\"",
        ),
        (
            "Content-Encoding: identity\r\nContent-Encoding: identity, br",
            415,
            "unsupported Content-Encoding \"identity, br\"",
        ),
        (
            "Content-Type: application/json\r\nContent-Type: text/plain",
            400,
            "Content-Type is given 2 times",
        ),
        (
            "Content-Type: text/plain\r\nContent-Type: application/json",
            400,
            "Content-Type is given 2 times",
        ),
        (
            "Content-Type: application/json\r\nContent-Type: application/json",
            400,
            "Content-Type is given 2 times",
        ),
        // One line holding a list (what a proxy makes of two lines).
        (
            "Content-Type: text/plain, application/vnd.x+json",
            415,
            "unsupported Content-Type",
        ),
    ] {
        let r = put(headers);
        assert_eq!(r.status, status, "{headers}: {}", r.body);
        assert!(raw_error(&r).contains(want), "{headers}: {}", r.body);
    }
    assert_eq!(zone_file(&s), before, "nothing written");
    assert_eq!(api.get("/v1/services/rep").status, 404);
    // One line of each, and identity split over two lines, still work.
    for headers in [
        "Content-Type: application/json\r\nContent-Encoding: identity",
        "Content-Type: application/json\r\nContent-Encoding: identity\r\nContent-Encoding: identity",
    ] {
        assert_eq!(put(headers).status, 200, "{headers}");
    }
}

/// RFC 9112 §6.1: a transfer coding the server does not understand gets
/// 501. hyper framed `gzip, chunked` by its last coding and handed the
/// gzip bytes on as the body; now only `chunked` (once) is taken, on every
/// path, before the token is even looked at.
#[test]
fn a_transfer_coding_other_than_chunked_is_501() {
    let (s, api) = start("rate_limit = 0");
    let addr = s.rest_addr.expect("REST listener");
    let before = zone_file(&s);
    for (head, status) in [
        (
            "PUT /v1/services/te HTTP/1.1\r\nTransfer-Encoding: gzip, chunked",
            501,
        ),
        (
            "PUT /v1/services/te HTTP/1.1\r\nTransfer-Encoding: gzip\r\nTransfer-Encoding: chunked",
            501,
        ),
        (
            "PUT /v1/state HTTP/1.1\r\nTransfer-Encoding: deflate, chunked",
            501,
        ),
        (
            "PUT /v1/services/te HTTP/1.1\r\nTransfer-Encoding: identity, chunked",
            501,
        ),
        (
            "GET /v1/services HTTP/1.1\r\nTransfer-Encoding: gzip, chunked",
            501,
        ),
        (
            "PUT /v1/services/te HTTP/1.1\r\nTransfer-Encoding: chunked, chunked",
            400,
        ),
        // The last coding not chunked: hyper's own 400 (RFC 9112 §6.3).
        (
            "PUT /v1/services/te HTTP/1.1\r\nTransfer-Encoding: gzip",
            400,
        ),
    ] {
        let head = format!("{head}\r\nContent-Type: application/json");
        let r = raw(addr, &head, &chunked(BODY));
        assert_eq!(r.status, status, "{head}: {}", r.body);
        if status == 501 {
            assert!(raw_error(&r).contains("Transfer-Encoding"), "{}", r.body);
            assert!(r.head.contains("connection: close"), "{}", r.head);
        }
    }
    // Checked before the token: an anonymous request learns nothing more.
    let mut tcp = TcpStream::connect(addr).expect("connect");
    tcp.set_read_timeout(Some(Duration::from_secs(20)))
        .expect("timeout");
    let _ = tcp.write_all(
        b"PUT /v1/state HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: gzip, chunked\r\n\r\n0\r\n\r\n",
    );
    let mut answer = String::new();
    let _ = tcp.read_to_string(&mut answer);
    assert!(answer.starts_with("HTTP/1.1 501"), "{answer}");
    assert_eq!(zone_file(&s), before, "nothing written");
    assert_eq!(api.get("/v1/services/te").status, 404);
    // Plain chunked still works.
    let r = raw(
        addr,
        "PUT /v1/services/te HTTP/1.1\r\nTransfer-Encoding: chunked\r\nContent-Type: application/json",
        &chunked(BODY),
    );
    assert_eq!(r.status, 200, "{}", r.body);
}

/// A declared Content-Length over the limit is a 413 at once, the body
/// unread: it waited for `body_timeout` and answered 408.
#[test]
fn a_declared_length_over_the_limit_is_413_at_once() {
    let (s, api) = start("rate_limit = 0\nbody_timeout = \"10s\"");
    let addr = s.rest_addr.expect("REST listener");
    let before = zone_file(&s);
    for (path, length) in [
        ("/v1/services/big", 99_999_999u64),
        ("/v1/services/big", 1_048_577),
        ("/v1/services/big/records", 99_999_999),
        ("/v1/state", 10_485_761),
        // The largest length hyper frames (beyond it: its own 431).
        ("/v1/state", u64::MAX - 2),
    ] {
        let method = if path.ends_with("/records") {
            "POST"
        } else {
            "PUT"
        };
        let head = format!(
            "{method} {path} HTTP/1.1\r\nContent-Type: application/json\r\nContent-Length: {length}"
        );
        let r = raw(addr, &head, br#"{"records":["#);
        assert_eq!(r.status, 413, "{head}: {}", r.body);
        assert!(
            raw_error(&r).contains(&format!("Content-Length is {length}")),
            "{}",
            r.body
        );
        assert!(r.head.contains("connection: close"), "{}", r.head);
        assert!(r.took < Duration::from_secs(5), "{head}: took {:?}", r.took);
        // `Expect: 100-continue` (curl, for large bodies) is answered
        // without a 100: the client need not send the body at all.
        let r = raw(addr, &format!("{head}\r\nExpect: 100-continue"), b"");
        assert_eq!(r.status, 413, "{head}: {}", r.body);
    }
    assert_eq!(zone_file(&s), before, "nothing written");
    // At the limit it is read (and a short body then times out as before:
    // not waited for here).
    let fits = format!(r#"{{"records":["10.0.0.8"]}}{}"#, " ".repeat(1_000_000));
    assert_eq!(api.put("/v1/services/big", &fits).status, 200);
}

/// RFC 9112 §9.6: an answer sent before the body was read (413 for a
/// declared length over the limit, 401, 415) reached a client still
/// sending its body as a connection reset about one time in ten (CI saw it
/// as reqwest's "error sending request"). The server now reads and drops
/// what is left of the body before closing: a client that sends all of it
/// and only then reads gets the answer every time, and its whole body was
/// taken.
#[test]
fn an_early_answer_reaches_a_client_still_sending_its_body() {
    let (s, _api) = start("rate_limit = 0");
    let addr = s.rest_addr.expect("REST listener");
    let before = zone_file(&s);
    let json = "application/json";
    let cases = [
        ("/v1/services/big", 1_500_000, json, TOKEN, 413),
        ("/v1/state", 11_000_000, json, TOKEN, 413),
        ("/v1/services/big", 2_000_000, json, "wrong-token", 401),
        ("/v1/services/big", 2_000_000, "text/plain", TOKEN, 415),
    ];
    for round in 0..5 {
        for (path, length, ctype, token, want) in cases {
            let mut tcp = TcpStream::connect(addr).expect("connect");
            tcp.set_read_timeout(Some(Duration::from_secs(20)))
                .expect("timeout");
            let mut req = format!(
                "PUT {path} HTTP/1.1\r\nHost: test\r\nAuthorization: Bearer {token}\r\n\
                 Content-Type: {ctype}\r\nContent-Length: {length}\r\n\r\n"
            )
            .into_bytes();
            req.resize(req.len() + length, b' ');
            // The answer is small: it waits in our receive buffer while
            // the rest of the body is written.
            let sent = tcp.write_all(&req);
            assert!(
                sent.is_ok(),
                "round {round}, {path} ({want}): the body was cut off: {sent:?}"
            );
            let mut got = Vec::new();
            let mut buf = [0u8; 4096];
            for _ in 0..1000 {
                match tcp.read(&mut buf) {
                    Ok(0) => break,
                    Ok(n) => got.extend_from_slice(&buf[..n]),
                    Err(e) => panic!("round {round}, {path} ({want}): {e}"),
                }
                if complete(&got) {
                    break;
                }
            }
            let text = String::from_utf8_lossy(&got);
            assert!(
                text.starts_with(&format!("HTTP/1.1 {want} ")),
                "round {round}, {path}: {text}"
            );
        }
    }
    assert_eq!(zone_file(&s), before, "nothing written");
}

/// The reading after an early answer is bounded: a client that keeps
/// sending a body declared as 99,999,999 bytes is cut off after at most
/// 32 MiB (or 5 s), not read to the end.
#[test]
fn the_body_read_after_an_early_answer_is_bounded() {
    let (s, _api) = start("rate_limit = 0");
    let addr = s.rest_addr.expect("REST listener");
    let mut tcp = TcpStream::connect(addr).expect("connect");
    tcp.set_write_timeout(Some(Duration::from_secs(10)))
        .expect("timeout");
    let head = format!(
        "PUT /v1/services/big HTTP/1.1\r\nHost: test\r\nAuthorization: Bearer {TOKEN}\r\n\
         Content-Type: application/json\r\nContent-Length: 99999999\r\n\r\n"
    );
    tcp.write_all(head.as_bytes()).expect("head");
    let chunk = vec![b' '; 1 << 20];
    let mut sent = 0usize;
    let started = Instant::now();
    let mut cut = None;
    // At most 90 MiB and 30 s.
    while sent < 90 << 20 && started.elapsed() < Duration::from_secs(30) {
        match tcp.write_all(&chunk) {
            Ok(()) => sent += chunk.len(),
            Err(e) => {
                cut = Some(e);
                break;
            }
        }
    }
    assert!(
        cut.is_some(),
        "the server read {sent} bytes of an endless body"
    );
    // What the kernel buffers on both sides comes on top of the 32 MiB.
    assert!(sent < 48 << 20, "the server read {} MiB", sent >> 20);
}

/// The README: what a GET answers can be sent back as it is. A listing of
/// a zone holding names written by hand that the API cannot write
/// (`*.wild`, `my_host`, `we\.ird`, `_srv._tcp`) went back to `PUT
/// /v1/state` as a 400 "not in zone", and so did a dotted service (`a.b`).
/// Now the listing keys each service by a name a write reads back (`a.b`
/// by its full name), leaves those names out (they are no services: a
/// state push does not delete them either), and a write naming one says
/// what is wrong with it.
#[test]
fn a_listing_goes_back_to_state_as_it_is() {
    let zone = format!(
        "{}*.wild IN A 192.0.2.50\nmy_host IN A 192.0.2.51\nwe\\.ird IN A 192.0.2.52\n\
         _srv._tcp IN A 192.0.2.53\n_srv._tcp IN TXT \"hand\"\na.b IN A 192.0.2.54\n",
        service_zone(ZONE)
    );
    let s = common::TestServer::start(
        &[("service.local.zone", &zone)],
        &rest_config(&[ZONE], "rate_limit = 0"),
    );
    let api = Rest::new(&s);
    let hand = [
        ("x.wild.service.local.", "192.0.2.50"),
        ("my_host.service.local.", "192.0.2.51"),
        ("we\\.ird.service.local.", "192.0.2.52"),
        ("_srv._tcp.service.local.", "192.0.2.53"),
    ];
    let answers = |name: &str| {
        common::a_addrs(&s.udp(&common::query(name, hickory_proto::rr::RecordType::A)))
    };

    let listed = api.get("/v1/services");
    assert_eq!(listed.status, 200, "{}", listed.text);
    let keys: Vec<&String> = listed.body["services"]
        .as_object()
        .expect("services")
        .keys()
        .collect();
    assert_eq!(keys, ["a.b.service.local", "mail"], "{}", listed.text);
    let before = zone_file(&s);
    let r = api.put("/v1/state", &listed.text);
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.body["count"], 2);
    assert_eq!(zone_file(&s), before, "sent back as it is, nothing changes");
    // Each listed name is one GET and PUT address too.
    for key in keys {
        let one = api.get(&format!("/v1/services/{key}"));
        assert_eq!(one.status, 200, "{key}: {}", one.text);
    }

    // GET-modify-PUT of the listing, then an empty state: the services
    // change and go; the hand-written names stay, in the file and in DNS.
    let mut modified = listed.body.clone();
    modified["services"]["mail"]["records"] = serde_json::json!(["192.0.2.26"]);
    assert_eq!(api.put("/v1/state", &modified.to_string()).status, 200);
    assert_eq!(answers("mail.service.local.").len(), 1);
    assert_eq!(api.put_ok("/v1/state", r#"{"services":{}}"#)["count"], 0);
    assert!(answers("mail.service.local.").is_empty());
    assert!(answers("a.b.service.local.").is_empty());
    for (name, addr) in hand {
        let got = answers(name);
        assert_eq!(got.len(), 1, "{name}");
        assert_eq!(got[0].to_string(), addr, "{name}");
    }
    let text = zone_file(&s);
    for line in [
        "*.wild IN A",
        "my_host IN A",
        "we\\.ird IN A",
        "_srv._tcp IN A",
    ] {
        assert!(text.contains(line), "{line} kept:\n{text}");
    }

    // Naming one of them says what is wrong with the name, not "not in
    // zone"; nothing is written.
    let before = zone_file(&s);
    for (key, label) in [
        ("*.wild", "\"*\""),
        ("my_host", "\"my_host\""),
        ("we\\\\.ird", "\"we\\\\\""),
        ("_srv._tcp", "\"_srv\""),
    ] {
        let body = format!(r#"{{"services":{{"{key}":{{"records":["10.0.0.1"]}}}}}}"#);
        let r = api.put("/v1/state", &body);
        assert_eq!(r.status, 400, "{body}: {}", r.text);
        let m = error(&r);
        assert!(
            m.contains(&format!("label {label} holds more than a-z, 0-9 and '-'"))
                && m.contains("edit them in the file")
                && !m.contains("not in zone"),
            "{body}: {m}"
        );
    }
    // A dotted name that is not the zone's is still "not in zone".
    let r = api.put(
        "/v1/state",
        r#"{"services":{"a.b":{"records":["10.0.0.1"]}}}"#,
    );
    assert_eq!(r.status, 400, "{}", r.text);
    assert!(
        error(&r).contains("not in zone service.local"),
        "{}",
        r.text
    );
    assert_eq!(zone_file(&s), before, "nothing written");
}

/// RFC 9110 §11.6.2: one set of credentials. Two Authorization lines (the
/// second appended by the test client) are refused, whichever comes first:
/// a valid token then another was a 200.
#[test]
fn two_authorization_lines_are_refused() {
    let (s, _api) = start("rate_limit = 0");
    let addr = s.rest_addr.expect("REST listener");
    let before = zone_file(&s);
    for first in [format!("Bearer {TOKEN}"), "Bearer wrong".to_owned()] {
        let r = raw(
            addr,
            &format!(
                "PUT /v1/services/twoauth HTTP/1.1\r\nAuthorization: {first}\r\n\
                 Content-Type: application/json\r\nContent-Length: {}",
                BODY.len()
            ),
            BODY.as_bytes(),
        );
        assert_eq!(r.status, 401, "{first}: {:?}", r.head);
    }
    assert_eq!(zone_file(&s), before, "nothing may be written");
}
