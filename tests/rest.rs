//! The REST API against the real server over HTTP (reqwest) and DNS (UDP
//! and TCP, the harness's clients), following dynresolve's own suite:
//! write, then resolve; every shape and code; names; record-level edits;
//! auth; limits; bulk state; zones kept apart.

mod common;
mod rest_common;

use std::net::Ipv4Addr;

use hickory_proto::op::ResponseCode;
use hickory_proto::rr::RecordType;
use serde_json::{Value, json};

use common::{a_addrs, query, query_edns, rcode};
use rest_common::*;

fn ips(v: &[&str]) -> Vec<Ipv4Addr> {
    v.iter().map(|s| s.parse().expect("ip")).collect()
}

fn sorted(mut v: Vec<Ipv4Addr>) -> Vec<Ipv4Addr> {
    v.sort();
    v
}

#[test]
fn put_then_resolve_over_udp_tcp_and_edns() {
    let (s, api) = start("rate_limit = 0");
    let r = api.put_ok(
        "/v1/services/valkey",
        r#"{"type":"A","records":["10.0.0.12"],"ttl":5}"#,
    );
    assert_eq!(
        r,
        json!({"name":"valkey","fqdn":"valkey.service.local","zone":"service.local",
               "type":"A","records":["10.0.0.12"],"ttl":5})
    );
    // At once: the 2xx came after the snapshot was published.
    let udp = s.udp(&query("valkey.service.local.", RecordType::A));
    assert_eq!(rcode(&udp), ResponseCode::NoError);
    assert_eq!(a_addrs(&udp), ips(&["10.0.0.12"]));
    assert_eq!(udp.answers[0].ttl, 5);
    assert!(udp.metadata.authoritative);
    let tcp = s.tcp(&query("valkey.service.local.", RecordType::A));
    assert_eq!(a_addrs(&tcp), ips(&["10.0.0.12"]));
    let edns = s.udp(&query_edns("valkey.service.local.", RecordType::A, 1232, 0));
    assert_eq!(a_addrs(&edns), ips(&["10.0.0.12"]));
    assert!(edns.edns.is_some(), "EDNS0 answered with an OPT");
}

#[test]
fn multiple_records_and_fifty_per_service() {
    let (s, api) = start("rate_limit = 0");
    api.put_ok(
        "/v1/services/web",
        r#"{"records":["10.0.0.1","10.0.0.2","10.0.0.3"]}"#,
    );
    let resp = s.udp(&query("web.service.local.", RecordType::A));
    assert_eq!(
        sorted(a_addrs(&resp)),
        ips(&["10.0.0.1", "10.0.0.2", "10.0.0.3"])
    );

    let fifty: Vec<String> = (1..=50).map(|i| format!("10.1.0.{i}")).collect();
    let body = json!({"records": fifty}).to_string();
    let r = api.put_ok("/v1/services/big", &body);
    assert_eq!(strings(&r["records"]).len(), 50);
    // 50 A records do not fit 512 bytes: TC over UDP, everything over TCP.
    let tcp = s.tcp(&query("big.service.local.", RecordType::A));
    assert_eq!(a_addrs(&tcp).len(), 50);
    let got = api.get("/v1/services/big");
    assert_eq!(strings(&got.body["records"]).len(), 50);
}

#[test]
fn get_list_put_delete() {
    let (s, api) = start("rate_limit = 0");
    assert_eq!(api.get("/v1/services/valkey").status, 404);
    let list = api.get("/v1/services");
    assert_eq!(list.status, 200);
    // The fixture's apex A, ns1 (a name server) and mail's A: only mail
    // is a service.
    assert_eq!(
        list.body,
        json!({"zone":"service.local","services":{
            "mail":{"type":"A","records":["192.0.2.25"],"ttl":300}}})
    );
    api.put_ok(
        "/v1/services/valkey",
        r#"{"records":["10.0.0.12"],"ttl":7}"#,
    );
    api.put_ok("/v1/services/redis", r#"{"records":["10.0.0.13"]}"#);
    let list = api.get("/v1/services").body;
    assert_eq!(
        list["services"]["valkey"],
        json!({"type":"A","records":["10.0.0.12"],"ttl":7})
    );
    assert_eq!(list["services"]["redis"]["records"], json!(["10.0.0.13"]));
    let one = api.get("/v1/services/valkey");
    assert_eq!(one.status, 200);
    assert_eq!(one.body["fqdn"], "valkey.service.local");
    // Replace.
    api.put_ok(
        "/v1/services/valkey",
        r#"{"records":["10.0.0.99"],"ttl":7}"#,
    );
    assert_eq!(
        strings(&api.get("/v1/services/valkey").body["records"]),
        ["10.0.0.99"]
    );
    // Delete: 204, then 404 on GET and DELETE, NXDOMAIN over DNS.
    let d = api.delete("/v1/services/valkey");
    assert_eq!(d.status, 204, "{}", d.text);
    assert_eq!(api.get("/v1/services/valkey").status, 404);
    let again = api.delete("/v1/services/valkey");
    assert_eq!(again.status, 404);
    assert!(
        again.body["error"]
            .as_str()
            .is_some_and(|e| e.contains("not found"))
    );
    let resp = s.udp(&query("valkey.service.local.", RecordType::A));
    assert_eq!(rcode(&resp), ResponseCode::NXDomain);
}

#[test]
fn default_ttl_when_zero_or_absent() {
    let (s, api) = start("rate_limit = 0\nttl = 9");
    let a = api.put_ok("/v1/services/a", r#"{"records":["10.0.0.1"]}"#);
    let b = api.put_ok("/v1/services/b", r#"{"records":["10.0.0.2"],"ttl":0}"#);
    assert_eq!((a["ttl"].clone(), b["ttl"].clone()), (json!(9), json!(9)));
    assert_eq!(
        s.udp(&query("b.service.local.", RecordType::A)).answers[0].ttl,
        9
    );
}

#[test]
fn validation_errors_write_nothing() {
    let (s, api) = start("rate_limit = 0");
    let before = std::fs::read_to_string(s.zones_dir().join("service.local.zone")).expect("zone");
    let many: Vec<String> = (0..65).map(|i| format!("10.0.1.{i}")).collect();
    let too_many = json!({"records": many}).to_string();
    let table: &[(&str, &str, &str)] = &[
        (
            "/v1/services/x",
            r#"{"type":"MX","records":["10.0.0.1"]}"#,
            "unsupported type",
        ),
        (
            "/v1/services/x",
            r#"{"type":"CNAME","records":["a.example."]}"#,
            "unsupported type",
        ),
        (
            "/v1/services/x",
            r#"{"records":["10.0.0.256"]}"#,
            "not an IPv4 address",
        ),
        (
            "/v1/services/x",
            r#"{"records":["::1"]}"#,
            "not an IPv4 address",
        ),
        ("/v1/services/x", r#"{"records":[]}"#, "must not be empty"),
        ("/v1/services/x", r#"{"ttl":5}"#, "must not be empty"),
        ("/v1/services/x", &too_many, "at most 64"),
        (
            "/v1/services/x",
            r#"{"records":"10.0.0.1"}"#,
            "\"records\" must be a list of strings",
        ),
        (
            "/v1/services/x",
            r#"{"records":["10.0.0.1"],"ttl":-5}"#,
            "\"ttl\" must be a whole number",
        ),
        (
            "/v1/services/x",
            r#"{"records":["10.0.0.1"]"#,
            "invalid JSON",
        ),
        ("/v1/services/x", "not json", "invalid JSON"),
        (
            "/v1/services/bad_name",
            r#"{"records":["10.0.0.1"]}"#,
            "a-z, 0-9",
        ),
        (
            "/v1/services/x.",
            r#"{"records":["10.0.0.1"]}"#,
            "trailing dot",
        ),
        (
            "/v1/services/x.elsewhere.org",
            r#"{"records":["10.0.0.1"]}"#,
            "not in zone",
        ),
        (
            "/v1/services/x",
            r#"{"type":"AAAA","records":["10.0.0.1"]}"#,
            "not an IPv6 address",
        ),
    ];
    for (path, body, want) in table {
        let r = api.put(path, body);
        assert_eq!(r.status, 400, "{path} {body}: {}", r.text);
        let msg = r.body["error"].as_str().unwrap_or_default();
        assert!(msg.contains(want), "{path} {body}: {msg}");
    }
    let long = "a".repeat(64);
    let r = api.put(
        &format!("/v1/services/{long}"),
        r#"{"records":["10.0.0.1"]}"#,
    );
    assert_eq!(r.status, 400);
    // Name servers and the apex are not services.
    for name in ["ns1", "ns1.service.local", "service.local"] {
        let r = api.put(
            &format!("/v1/services/{name}"),
            r#"{"records":["10.0.0.1"]}"#,
        );
        assert_eq!(r.status, 409, "{name}: {}", r.text);
        assert!(
            r.body["error"]
                .as_str()
                .is_some_and(|e| e.contains("name servers"))
        );
    }
    let after = std::fs::read_to_string(s.zones_dir().join("service.local.zone")).expect("zone");
    assert_eq!(before, after, "a refused request wrote nothing");
}

#[test]
fn extension_types_aaaa_and_txt() {
    let (s, api) = start("rate_limit = 0");
    let r = api.put_ok(
        "/v1/services/v6",
        r#"{"type":"AAAA","records":["2001:db8::1"]}"#,
    );
    assert_eq!(r["type"], "AAAA");
    let resp = s.udp(&query("v6.service.local.", RecordType::AAAA));
    assert_eq!(resp.answers.len(), 1);
    api.put_ok("/v1/services/v6", r#"{"type":"TXT","records":["hello"]}"#);
    assert_eq!(
        api.get("/v1/services/v6?type=TXT").body["records"],
        json!(["hello"])
    );
    assert_eq!(api.get("/v1/services/v6").body["type"], "AAAA");
    assert_eq!(api.delete("/v1/services/v6?type=TXT").status, 204);
    assert_eq!(api.get("/v1/services/v6?type=TXT").status, 404);
    assert_eq!(api.get("/v1/services/v6?type=MX").status, 400);
}

#[test]
fn short_and_full_names_and_case() {
    let (s, api) = start("rate_limit = 0");
    let r = api.put_ok(
        "/v1/services/Valkey.Service.Local",
        r#"{"records":["10.0.0.12"]}"#,
    );
    assert_eq!(
        (r["name"].clone(), r["fqdn"].clone()),
        (json!("valkey"), json!("valkey.service.local"))
    );
    // The same service under its short name, in any case.
    for path in [
        "/v1/services/valkey",
        "/v1/services/VALKEY",
        "/v1/services/valkey.service.local",
    ] {
        let g = api.get(path);
        assert_eq!(g.status, 200, "{path}");
        assert_eq!(g.body["name"], "valkey", "{path}");
    }
    // The DNS side matches case-insensitively too.
    let resp = s.udp(&query("VALKEY.service.LOCAL.", RecordType::A));
    assert_eq!(a_addrs(&resp), ips(&["10.0.0.12"]));
    // A full name in another REST zone goes there, via the short routes too.
    let o = api.put_ok("/v1/services/db.other.test", r#"{"records":["10.9.0.1"]}"#);
    assert_eq!(o["zone"], "other.test");
    assert_eq!(
        api.get("/v1/zones/other.test/services/db").body["fqdn"],
        "db.other.test"
    );
    // Multi-label names below the zone: answered and listed by the full
    // name, which is how the API takes them back.
    let deep = api.put_ok(
        "/v1/services/a.b.service.local",
        r#"{"records":["10.0.0.5"]}"#,
    );
    assert_eq!(
        deep["name"], "a.b.service.local",
        "the name the API takes back"
    );
    assert!(api.get("/v1/services").body["services"]["a.b.service.local"].is_object());
}

#[test]
fn record_level_add_and_remove() {
    let (s, api) = start("rate_limit = 0");
    // Add to a new service creates it.
    let r = api.post("/v1/services/cache/records", r#"{"records":["10.0.0.1"]}"#);
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.body["records"], json!(["10.0.0.1"]));
    assert_eq!(r.body["ttl"], 5);
    // Add with duplicates: ignored; a non-zero TTL updates it.
    let r = api.post(
        "/v1/services/cache/records",
        r#"{"records":["10.0.0.1","10.0.0.2","10.0.0.2"],"ttl":30}"#,
    );
    assert_eq!(r.body["records"], json!(["10.0.0.1", "10.0.0.2"]));
    assert_eq!(r.body["ttl"], 30);
    let resp = s.udp(&query("cache.service.local.", RecordType::A));
    assert_eq!(sorted(a_addrs(&resp)), ips(&["10.0.0.1", "10.0.0.2"]));
    assert!(resp.answers.iter().all(|a| a.ttl == 30));
    // Partial remove.
    let r = api.delete_body("/v1/services/cache/records", r#"{"records":["10.0.0.1"]}"#);
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.body["records"], json!(["10.0.0.2"]));
    // Invalid IP and empty list: 400.
    let r = api.delete_body("/v1/services/cache/records", r#"{"records":["nope"]}"#);
    assert_eq!(r.status, 400);
    let r = api.post("/v1/services/cache/records", r#"{"records":[]}"#);
    assert_eq!(r.status, 400);
    // Removing the last one deletes the service: 204.
    let r = api.delete_body("/v1/services/cache/records", r#"{"records":["10.0.0.2"]}"#);
    assert_eq!(r.status, 204, "{}", r.text);
    assert_eq!(api.get("/v1/services/cache").status, 404);
    // Not found.
    let r = api.delete_body("/v1/services/cache/records", r#"{"records":["10.0.0.2"]}"#);
    assert_eq!(r.status, 404);
}

#[test]
fn auth_address_and_codes() {
    let (_s, api) = start("rate_limit = 0");
    let none = api.with_token(None);
    let r = none.get("/v1/services");
    assert_eq!(r.status, 401);
    assert!(r.body["error"].is_string());
    assert_eq!(
        none.put("/v1/services/x", r#"{"records":["10.0.0.1"]}"#)
            .status,
        401
    );
    let wrong = api.with_token(Some("wrong-token-0123456789abcdef"));
    assert_eq!(wrong.get("/v1/services/x").status, 401);
    assert_eq!(wrong.delete("/v1/services/x").status, 401);
    // A token limited to other.test may not touch service.local.
    let other = api.with_token(Some(OTHER_TOKEN));
    let r = other.put(
        "/v1/services/x.service.local",
        r#"{"records":["10.0.0.1"]}"#,
    );
    assert_eq!(r.status, 403, "{}", r.text);
    assert_eq!(other.get("/v1/services").status, 403);
    assert_eq!(
        other
            .put(
                "/v1/zones/other.test/services/x",
                r#"{"records":["10.0.0.1"]}"#
            )
            .status,
        200
    );
    // Unknown path, unknown zone, wrong method: JSON 404/405.
    let r = api.get("/v1/nothing");
    assert_eq!(r.status, 404);
    assert!(r.body["error"].is_string());
    assert_eq!(api.get("/v1/zones/nope.example/services").status, 404);
    let r = api.call(reqwest::Method::PATCH, "/v1/services/x", Some("{}"));
    assert_eq!(r.status, 405);
    assert!(r.body["error"].is_string());
    assert_eq!(
        api.call(reqwest::Method::POST, "/v1/services", Some("{}"))
            .status,
        405
    );
}

/// `[rest] allow`: a client outside it gets no HTTP answer at all (the
/// connection is closed at accept, before its request is read).
#[test]
fn disallowed_address_is_closed_before_auth() {
    let (_s, api) = start("allow = [\"10.0.0.0/8\"]");
    for rest in [api.with_token(None), api.with_token(Some(TOKEN))] {
        let r = rest
            .client
            .get(format!("{}/v1/services", rest.base))
            .bearer_auth(TOKEN)
            .send();
        assert!(r.is_err(), "no answer expected: {r:?}");
    }
}

#[test]
fn write_rate_limit_answers_429_with_retry_after() {
    let (_s, api) = start("rate_limit = 1");
    let mut codes = Vec::new();
    let mut retry = None;
    // One write per second: of back-to-back writes (each well under a
    // second on loopback) the second or a later one is refused.
    for i in 0..10 {
        let r = api.put(
            "/v1/services/x",
            &format!(r#"{{"records":["10.0.0.{i}"]}}"#),
        );
        codes.push(r.status);
        if r.status == 429 {
            retry = r.retry_after.clone();
            assert!(
                r.body["error"]
                    .as_str()
                    .is_some_and(|e| e.contains("rate limit"))
            );
            break;
        }
        assert_eq!(r.status, 200, "{}", r.text);
    }
    assert_eq!(codes[0], 200);
    assert!(codes.contains(&429), "{codes:?}");
    assert!(retry.is_some_and(|s| s.parse::<u64>().is_ok_and(|n| n >= 1)));
    // Reads are not limited.
    for _ in 0..10 {
        assert_eq!(api.get("/v1/services").status, 200);
    }
}

#[test]
fn body_limits_413() {
    let (_s, api) = start("rate_limit = 0");
    // Padded with JSON whitespace: an unknown field would be a 400.
    let big = format!(r#"{{"records":["10.0.0.1"]{}}}"#, " ".repeat(1_100_000));
    let r = api.put("/v1/services/x", &big);
    assert_eq!(r.status, 413, "{}", &r.text[..r.text.len().min(200)]);
    assert!(r.body["error"].is_string());
    // /v1/state takes up to 10 MB.
    let state = format!(r#"{{"services":{{}}{}}}"#, " ".repeat(1_100_000));
    let r = api.put("/v1/state", &state);
    assert_eq!(r.status, 200, "{}", r.text);
    let huge = format!(r#"{{"services":{{}}{}}}"#, " ".repeat(10_600_000));
    assert_eq!(api.put("/v1/state", &huge).status, 413);
}

#[test]
fn bulk_state_replaces_services_only() {
    let (s, api) = start("rate_limit = 0");
    api.put_ok("/v1/services/old", r#"{"records":["10.0.0.1"]}"#);
    let mut services = serde_json::Map::new();
    for i in 0..200 {
        let name = if i % 2 == 0 {
            format!("svc{i}")
        } else {
            format!("svc{i}.service.local")
        };
        services.insert(
            name,
            json!({"records":[format!("10.2.{}.{}", i / 250, i % 250 + 1)]}),
        );
    }
    let body = json!({ "services": services }).to_string();
    let r = api.put_ok("/v1/state", &body);
    assert_eq!(r, json!({"zone":"service.local","count":200}));
    let list = api.get("/v1/services").body;
    let names = list["services"].as_object().expect("services");
    assert_eq!(names.len(), 200, "old and mail gone, 200 new");
    assert!(names.contains_key("svc1") && names.contains_key("svc198"));
    assert!(!names.contains_key("old") && !names.contains_key("mail"));
    // Static data survived: SOA, NS, ns1's address, the apex A, MX, TXT
    // (also at mail, whose A was a service and is gone).
    for (name, t, n) in [
        ("service.local.", RecordType::SOA, 1),
        ("service.local.", RecordType::NS, 1),
        ("service.local.", RecordType::A, 1),
        ("service.local.", RecordType::MX, 1),
        ("ns1.service.local.", RecordType::A, 1),
        ("static.service.local.", RecordType::TXT, 1),
        ("mail.service.local.", RecordType::TXT, 1),
        ("svc7.service.local.", RecordType::A, 1),
    ] {
        let resp = s.udp(&query(name, t));
        assert_eq!(resp.answers.len(), n, "{name} {t}");
    }
    let mail = s.udp(&query("mail.service.local.", RecordType::A));
    assert_eq!(
        (rcode(&mail), mail.answers.len()),
        (ResponseCode::NoError, 0)
    );
    // Empty state: every service goes, static data stays.
    assert_eq!(api.put_ok("/v1/state", r#"{"services":{}}"#)["count"], 0);
    assert_eq!(api.get("/v1/services").body["services"], json!({}));
    assert_eq!(
        s.udp(&query("static.service.local.", RecordType::TXT))
            .answers
            .len(),
        1
    );
    // Bad entries are named; nothing is written.
    let r = api.put(
        "/v1/state",
        r#"{"services":{"a":{"records":["10.0.0.1"]},"b":{"records":["bad"]}}}"#,
    );
    assert_eq!(r.status, 400);
    assert!(
        r.body["error"]
            .as_str()
            .is_some_and(|e| e.contains("services.b"))
    );
    assert_eq!(api.get("/v1/services/a").status, 404);
    assert_eq!(
        api.put(
            "/v1/state",
            r#"{"services":{"ns1":{"records":["10.0.0.1"]}}}"#
        )
        .status,
        409
    );
    assert_eq!(api.put("/v1/state", r#"{"nothing":1}"#).status, 400);
}

#[test]
fn zones_do_not_cross_contaminate() {
    let (s, api) = start("rate_limit = 0");
    api.put_ok("/v1/services/shared", r#"{"records":["10.0.0.1"]}"#);
    api.put_ok(
        "/v1/zones/other.test/services/shared",
        r#"{"records":["10.0.0.2"]}"#,
    );
    assert_eq!(
        a_addrs(&s.udp(&query("shared.service.local.", RecordType::A))),
        ips(&["10.0.0.1"])
    );
    assert_eq!(
        a_addrs(&s.udp(&query("shared.other.test.", RecordType::A))),
        ips(&["10.0.0.2"])
    );
    // State of one zone leaves the other alone.
    api.put_ok("/v1/zones/other.test/state", r#"{"services":{}}"#);
    assert_eq!(api.get("/v1/services/shared").status, 200);
    assert_eq!(api.get("/v1/zones/other.test/services/shared").status, 404);
    let l = api.get("/v1/zones/other.test/services").body;
    assert_eq!(l, json!({"zone":"other.test","services":{}}));
    // A full name of one zone under another zone's path: 400.
    let r = api.put(
        "/v1/zones/other.test/services/x.service.local",
        r#"{"records":["10.0.0.1"]}"#,
    );
    assert_eq!(r.status, 400);
}

#[test]
fn unsupported_query_types_and_nodata() {
    let (s, api) = start("rate_limit = 0");
    api.put_ok("/v1/services/valkey", r#"{"records":["10.0.0.12"]}"#);
    for t in [
        RecordType::AAAA,
        RecordType::MX,
        RecordType::TXT,
        RecordType::SRV,
    ] {
        let resp = s.udp(&query("valkey.service.local.", t));
        assert_eq!(rcode(&resp), ResponseCode::NoError, "{t}");
        assert!(resp.answers.is_empty(), "{t}");
        assert_eq!(resp.authorities.len(), 1, "{t}: SOA in authority");
    }
    // ANY is answered minimally or refused, never with an error.
    let any = s.udp(&query("valkey.service.local.", RecordType::ANY));
    assert!(matches!(
        rcode(&any),
        ResponseCode::NoError | ResponseCode::NotImp | ResponseCode::Refused
    ));
}

#[test]
fn parallel_queries_while_writing() {
    let (s, api) = start("rate_limit = 0");
    api.put_ok("/v1/services/steady", r#"{"records":["10.0.0.1"]}"#);
    std::thread::scope(|scope| {
        let writer = scope.spawn(|| {
            for i in 0..30 {
                api.put_ok(
                    "/v1/services/moving",
                    &format!(r#"{{"records":["10.3.0.{}"]}}"#, i + 1),
                );
            }
        });
        let mut readers = Vec::new();
        for _ in 0..4 {
            readers.push(scope.spawn(|| {
                let mut ok = 0;
                for _ in 0..50 {
                    let resp = s.udp(&query("steady.service.local.", RecordType::A));
                    assert_eq!(
                        a_addrs(&resp),
                        ips(&["10.0.0.1"]),
                        "steady name answered wrongly mid-write"
                    );
                    ok += 1;
                }
                ok
            }));
        }
        writer.join().expect("writer");
        for r in readers {
            assert_eq!(r.join().expect("reader"), 50);
        }
    });
    assert_eq!(
        a_addrs(&s.udp(&query("moving.service.local.", RecordType::A))),
        ips(&["10.3.0.30"])
    );
}

#[test]
fn fallback_answers_names_without_data() {
    let (s, api) = start("rate_limit = 0\nfallback = \"10.0.0.1\"\nttl = 7");
    let resp = s.udp(&query("missing.service.local.", RecordType::A));
    assert_eq!(rcode(&resp), ResponseCode::NoError);
    assert_eq!(a_addrs(&resp), ips(&["10.0.0.1"]));
    assert_eq!(resp.answers[0].ttl, 7);
    // Real data wins; other types keep NXDOMAIN.
    api.put_ok("/v1/services/real", r#"{"records":["10.0.0.50"]}"#);
    assert_eq!(
        a_addrs(&s.udp(&query("real.service.local.", RecordType::A))),
        ips(&["10.0.0.50"])
    );
    let aaaa = s.udp(&query("missing.service.local.", RecordType::AAAA));
    assert_eq!(rcode(&aaaa), ResponseCode::NXDomain);
}

#[test]
fn no_fallback_without_the_option() {
    let (s, _api) = start("rate_limit = 0");
    let resp = s.udp(&query("missing.service.local.", RecordType::A));
    assert_eq!(rcode(&resp), ResponseCode::NXDomain);
}

/// Every (path, method) the router serves is in docs/openapi.json and
/// every operation there is served: documented ones answer 401 without a
/// token (never 404/405), the others 405.
#[test]
fn openapi_document_matches_the_routes() {
    let (_s, api) = start("rate_limit = 0\nauth_failures = 0");
    let doc: Value = serde_json::from_str(zonewright::rest::http::OPENAPI).expect("openapi.json");
    assert!(doc["openapi"].as_str().is_some_and(|v| v.starts_with("3.")));
    let paths = doc["paths"].as_object().expect("paths");
    let mut documented = Vec::new();
    for (path, ops) in paths {
        for m in ops.as_object().expect("ops").keys() {
            documented.push((path.clone(), m.to_uppercase()));
        }
    }
    let mut routed = Vec::new();
    for (path, methods) in zonewright::rest::http::ROUTES {
        for m in *methods {
            routed.push((path.to_string(), m.to_string()));
        }
    }
    // Every body-taking operation documents 415, and takes back every
    // field a GET answers (GET-modify-PUT).
    let schemas = &doc["components"]["schemas"];
    let answered: Vec<&String> = schemas["Service"]["properties"]
        .as_object()
        .expect("Service")
        .keys()
        .collect();
    for (path, ops) in paths {
        for (m, op) in ops.as_object().expect("ops") {
            if op.get("requestBody").is_some() {
                assert!(op["responses"]["415"].is_object(), "{m} {path} lacks 415");
            }
        }
    }
    for input in ["ServiceInput", "RecordsInput"] {
        for field in &answered {
            assert!(
                schemas[input]["properties"][field.as_str()].is_object(),
                "{input} does not take back {field}"
            );
        }
    }
    assert!(schemas["StateInput"]["properties"]["zone"].is_object());
    documented.sort();
    routed.sort();
    assert_eq!(
        documented, routed,
        "docs/openapi.json and rest::http::ROUTES differ"
    );
    // And the running server agrees with both.
    let anon = api.with_token(None);
    for (path, _) in paths {
        let concrete = path.replace("{zone}", ZONE).replace("{name}", "valkey");
        for m in ["GET", "PUT", "POST", "DELETE", "PATCH"] {
            let method = reqwest::Method::from_bytes(m.as_bytes()).expect("method");
            let r = anon.call(method, &concrete, Some("{}"));
            let want = if documented.contains(&(path.clone(), m.to_string())) {
                if path == "/v1/openapi.json" { 200 } else { 401 }
            } else {
                405
            };
            assert_eq!(r.status, want, "{m} {concrete}: {}", r.text);
        }
    }
    let served = api.get("/v1/openapi.json");
    assert_eq!(served.body, doc);
}

/// A zone file broken on disk: a write answers 5xx with a message saying
/// so, writes nothing, and the last good data is still answered.
#[test]
fn broken_zone_file_answers_5xx_and_writes_nothing() {
    let (s, api) = start("rate_limit = 0");
    api.put_ok("/v1/services/valkey", r#"{"records":["10.0.0.12"]}"#);
    let file = s.zones_dir().join("service.local.zone");
    let broken = "$ORIGIN service.local.\n@ IN SOA broken (\n";
    std::fs::write(&file, broken).expect("write");
    let r = api.put("/v1/services/other", r#"{"records":["10.0.0.13"]}"#);
    assert!(
        r.status == 500 || r.status == 503,
        "{}: {}",
        r.status,
        r.text
    );
    let msg = r.body["error"].as_str().unwrap_or_default().to_string();
    assert!(
        msg.contains("nothing was changed") || msg.contains("not being served"),
        "{msg}"
    );
    assert_eq!(
        std::fs::read_to_string(&file).expect("read"),
        broken,
        "nothing written"
    );
    // Until the file is fixed the last good version is what DNS answers.
    let resp = s.udp(&query("valkey.service.local.", RecordType::A));
    assert_eq!(a_addrs(&resp), ips(&["10.0.0.12"]));
}

#[test]
fn a_token_narrowed_to_names_writes_only_those() {
    const CI_TOKEN: &str = "ci-runner-token-0123456789abcdef";
    let config = format!(
        "{}[[rest.token]]\nname = \"ci\"\ntoken = \"{CI_TOKEN}\"\nnames = [\"*.ci\"]\n",
        rest_config(&[ZONE], "rate_limit = 0")
    );
    let zone = service_zone(ZONE);
    let s = common::TestServer::start(&[("service.local.zone", zone.as_str())], &config);
    let api = Rest::new(&s);
    let ci = api.with_token(Some(CI_TOKEN));
    api.put_ok("/v1/services/valkey", r#"{"records":["10.0.0.1"]}"#);
    ci.put_ok(
        "/v1/services/build1.ci.service.local",
        r#"{"records":["10.9.0.1"]}"#,
    );
    let zone_file = s.zones_dir().join("service.local.zone");
    let before = std::fs::read(&zone_file).expect("zone");

    // Outside its names: 403 naming the token and the name, nothing written.
    let r = ci.put("/v1/services/valkey", r#"{"records":["10.9.9.9"]}"#);
    assert_eq!(r.status, 403, "{}", r.text);
    assert!(
        r.body["error"]
            .as_str()
            .is_some_and(|e| e.contains("\"ci\"") && e.contains("valkey")),
        "{}",
        r.text
    );
    assert_eq!(ci.delete("/v1/services/valkey").status, 403);
    // Round 51: also when the write would change nothing (valkey's current
    // value; a service that does not exist): 403, not 200 or 404.
    for r in [
        ci.put("/v1/services/valkey", r#"{"records":["10.0.0.1"]}"#),
        ci.post("/v1/services/valkey/records", r#"{"records":["10.0.0.1"]}"#),
        ci.delete_body("/v1/services/valkey/records", r#"{"records":["10.9.9.9"]}"#),
        ci.delete("/v1/services/nothing-here"),
    ] {
        assert_eq!(r.status, 403, "{}", r.text);
    }
    let r = ci.put(
        "/v1/state",
        r#"{"services":{"build2.ci.service.local":{"records":["10.9.0.2"]},"valkey":{"records":["10.9.9.9"]}}}"#,
    );
    assert_eq!(r.status, 403, "{}", r.text);
    assert_eq!(std::fs::read(&zone_file).expect("zone"), before);

    // Its own slice: state replaces build1.ci by build2.ci and leaves valkey
    // (and every other service) alone.
    let r = ci.put_ok(
        "/v1/state",
        r#"{"services":{"build2.ci.service.local":{"records":["10.9.0.2"]}}}"#,
    );
    assert_eq!(r["count"], 1);
    let list = api.get("/v1/services").body;
    let names = list["services"].as_object().expect("services");
    assert!(
        names.contains_key("valkey") && names.contains_key("mail"),
        "{list}"
    );
    assert!(
        names.contains_key("build2.ci.service.local")
            && !names.contains_key("build1.ci.service.local"),
        "{list}"
    );
    assert_eq!(
        a_addrs(&s.udp(&query("valkey.service.local.", RecordType::A))),
        ips(&["10.0.0.1"])
    );
}

/// The zone file of `service.local` as it is on disk.
fn zone_file(s: &common::TestServer) -> String {
    std::fs::read_to_string(s.zones_dir().join("service.local.zone")).expect("zone")
}

/// An unknown field, at the top level or inside a `/v1/state` entry, is a
/// 400 naming the field (and where it is), never a serde dump; nothing is
/// written.
#[test]
fn unknown_fields_are_refused_by_name() {
    let (s, api) = start("rate_limit = 0");
    api.put_ok("/v1/services/valkey", r#"{"records":["10.0.0.12"]}"#);
    let before = zone_file(&s);
    // (method, path, body, what the message must say)
    let table: &[(reqwest::Method, &str, &str, &str)] = &[
        (
            reqwest::Method::PUT,
            "/v1/services/valkey",
            r#"{"recrods":["10.0.0.1"]}"#,
            r#"unknown field "recrods" in the body; expected one of: type, records, ttl"#,
        ),
        (
            reqwest::Method::POST,
            "/v1/services/valkey/records",
            r#"{"records":["10.0.0.1"],"tll":5}"#,
            r#"unknown field "tll" in the body"#,
        ),
        (
            reqwest::Method::DELETE,
            "/v1/services/valkey/records",
            r#"{"records":["10.0.0.12"],"force":true}"#,
            r#"unknown field "force" in the body"#,
        ),
        (
            reqwest::Method::PUT,
            "/v1/state",
            r#"{"servcies":{}}"#,
            r#"unknown field "servcies" in the body; expected one of: services"#,
        ),
        (
            reqwest::Method::PUT,
            "/v1/zones/service.local/state",
            r#"{"services":{"valkey":{"records":["10.0.0.1"]},"redis":{"recrods":["10.0.0.2"]}}}"#,
            r#"unknown field "recrods" in services.redis; expected one of: type, records, ttl"#,
        ),
    ];
    for (method, path, body, want) in table {
        let r = api.call(method.clone(), path, Some(body));
        assert_eq!(r.status, 400, "{method} {path} {body}: {}", r.text);
        let msg = r.body["error"].as_str().unwrap_or_default();
        assert!(msg.contains(want), "{method} {path} {body}: {msg}");
        assert!(
            !msg.contains("line 1 column"),
            "a serde position, not a field: {msg}"
        );
    }
    assert_eq!(zone_file(&s), before, "a refused request wrote nothing");
    assert_eq!(
        strings(&api.get("/v1/services/valkey").body["records"]),
        ["10.0.0.12"]
    );
}

/// RFC 9110 §15.5.16: a body that is not JSON by its Content-Type gets 415
/// before it is read; JSON is `application/json` with any parameters and
/// the `+json` types (RFC 6839 §3.1); no Content-Type is read as JSON.
#[test]
fn a_body_that_is_not_json_gets_415() {
    let (s, api) = start("rate_limit = 0");
    let before = zone_file(&s);
    let body = r#"{"records":["10.0.0.7"]}"#;
    for ct in [
        "application/x-www-form-urlencoded",
        "text/plain",
        "text/plain; charset=utf-8",
        "multipart/form-data; boundary=zz",
        "application/json; charset=utf-16",
    ] {
        let r = api.call_as(reqwest::Method::PUT, "/v1/services/form", body, Some(ct));
        assert_eq!(r.status, 415, "{ct}: {}", r.text);
        let msg = r.body["error"].as_str().unwrap_or_default();
        assert!(
            msg.contains("unsupported") && (msg.contains(ct) || ct.contains("utf-16")),
            "{ct}: {msg}"
        );
    }
    // `curl -d` without -H: form-urlencoded, with the hint how to fix it.
    let r = api.call_as(
        reqwest::Method::PUT,
        "/v1/state",
        r#"{"services":{}}"#,
        Some("application/x-www-form-urlencoded"),
    );
    assert_eq!(r.status, 415, "{}", r.text);
    assert!(
        r.body["error"]
            .as_str()
            .is_some_and(|m| m.contains("-H 'Content-Type: application/json'")),
        "{}",
        r.text
    );
    let r = api.call_as(
        reqwest::Method::POST,
        "/v1/services/form/records",
        body,
        Some("text/plain"),
    );
    assert_eq!(r.status, 415, "{}", r.text);
    assert_eq!(zone_file(&s), before, "nothing written");
    assert_eq!(api.get("/v1/services/form").status, 404);
    // Accepted: JSON with a charset, a +json type, and no Content-Type.
    for (name, ct) in [
        ("utf8", Some("application/json; charset=utf-8")),
        ("upper", Some("Application/JSON;Charset=\"UTF-8\"")),
        ("suffix", Some("application/vnd.dynresolve+json")),
        ("untyped", None),
    ] {
        let path = format!("/v1/services/{name}");
        let r = api.call_as(reqwest::Method::PUT, &path, body, ct);
        assert_eq!(r.status, 200, "{ct:?}: {}", r.text);
        assert_eq!(
            a_addrs(&s.udp(&query(&format!("{name}.service.local."), RecordType::A))),
            ips(&["10.0.0.7"]),
            "{ct:?}"
        );
    }
    // A compressed body is not read either.
    let r = api
        .client
        .put(format!("{}/v1/services/gz", api.base))
        .bearer_auth(TOKEN)
        .header("content-type", "application/json")
        .header("content-encoding", "gzip")
        .body(body)
        .send()
        .expect("PUT");
    assert_eq!(r.status().as_u16(), 415);
}

/// A dynresolve client works GET-modify-PUT: what each GET answers is
/// accepted back by the matching write (its read-only fields ignored), and
/// sent back unchanged changes nothing. A `zone` that is not the zone the
/// request addresses is a 400 (a listing of one zone pushed to another).
#[test]
fn get_bodies_are_accepted_back_by_the_matching_writes() {
    let (s, api) = start("rate_limit = 0");
    let zones = s.zones_dir();
    api.put_ok(
        "/v1/services/valkey",
        r#"{"records":["10.0.0.12","10.0.0.13"],"ttl":7}"#,
    );
    api.put_ok(
        "/v1/services/v6",
        r#"{"type":"AAAA","records":["2001:db8::1"]}"#,
    );
    api.put_ok(
        "/v1/zones/other.test/services/db",
        r#"{"records":["10.9.0.1"]}"#,
    );
    common::update::wait_committed(&zones, "service.local.zone");
    let head = common::update::head(&zones);
    let file = zone_file(&s);

    // One service, each route and type: GET, then PUT it back as is.
    for (get, put) in [
        ("/v1/services/valkey", "/v1/services/valkey"),
        (
            "/v1/services/valkey.service.local",
            "/v1/zones/service.local/services/valkey",
        ),
        ("/v1/services/v6?type=AAAA", "/v1/services/v6"),
        ("/v1/services/db.other.test", "/v1/services/db.other.test"),
        (
            "/v1/zones/other.test/services/db",
            "/v1/zones/other.test/services/db",
        ),
    ] {
        let got = api.get(get);
        assert_eq!(got.status, 200, "GET {get}: {}", got.text);
        for field in ["name", "fqdn", "zone", "type", "records", "ttl"] {
            assert!(!got.body[field].is_null(), "GET {get} lacks {field}");
        }
        let r = api.put(put, &got.text);
        assert_eq!(r.status, 200, "PUT {put} of GET {get}: {}", r.text);
        assert_eq!(r.body, got.body, "PUT {put} answers what GET {get} did");
    }
    // The listing, back into /v1/state, for each zone.
    for (get, put) in [
        ("/v1/services", "/v1/state"),
        (
            "/v1/zones/other.test/services",
            "/v1/zones/other.test/state",
        ),
    ] {
        let listed = api.get(get);
        assert_eq!(listed.status, 200, "{}", listed.text);
        let r = api.put(put, &listed.text);
        assert_eq!(r.status, 200, "PUT {put} of GET {get}: {}", r.text);
        let n = listed.body["services"].as_object().map_or(0, |m| m.len());
        assert_eq!(r.body["count"], n, "{}", r.text);
    }
    // Sent back unchanged, nothing changed: no write, no commit.
    assert_eq!(zone_file(&s), file);
    assert_eq!(common::update::head(&zones), head);

    // GET-modify-PUT: the change lands.
    let mut got = api.get("/v1/services/valkey").body;
    got["records"] = json!(["10.0.0.14"]);
    api.put_ok("/v1/services/valkey", &got.to_string());
    assert_eq!(
        a_addrs(&s.udp(&query("valkey.service.local.", RecordType::A))),
        ips(&["10.0.0.14"])
    );
    // The record-level writes take a GET body too.
    let got = api.get("/v1/services/valkey");
    let r = api.post("/v1/services/valkey/records", &got.text);
    assert_eq!(r.status, 200, "{}", r.text);
    let r = api.delete_body("/v1/services/valkey/records", &got.text);
    assert_eq!(r.status, 204, "{}", r.text);
    assert_eq!(api.get("/v1/services/valkey").status, 404);

    // Another zone's bodies, sent to this zone's paths: refused by name.
    let before = zone_file(&s);
    let other_list = api.get("/v1/zones/other.test/services").text;
    let r = api.put("/v1/state", &other_list);
    assert_eq!(r.status, 400, "{}", r.text);
    assert!(
        r.body["error"].as_str().is_some_and(|m| m
            .contains("\"zone\" is \"other.test\", but this request addresses zone service.local")),
        "{}",
        r.text
    );
    let other_one = api.get("/v1/zones/other.test/services/db").text;
    let r = api.put("/v1/services/db", &other_one);
    assert_eq!(r.status, 400, "{}", r.text);
    let entry =
        json!({"services": {"db": serde_json::from_str::<Value>(&other_one).expect("json")}});
    let r = api.put("/v1/state", &entry.to_string());
    assert_eq!(r.status, 400, "{}", r.text);
    assert!(
        r.body["error"]
            .as_str()
            .is_some_and(|m| m.contains("services.db.zone is \"other.test\"")),
        "{}",
        r.text
    );
    assert_eq!(zone_file(&s), before, "nothing written");
    assert!(api.get("/v1/services").body["services"]["mail"].is_object());
}
