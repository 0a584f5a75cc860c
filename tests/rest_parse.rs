//! How the REST API reads a request, attacked over a real socket (issue 12,
//! the outside attack on request parsing): duplicate JSON keys, repeated
//! Content-Type / Content-Encoding lines, transfer codings, a declared
//! length over the limit, and GET-then-PUT of a zone holding names the API
//! cannot write. Each refusal writes nothing.

mod common;
mod rest_common;

use rest_common::*;

fn zone_file(s: &common::TestServer) -> String {
    std::fs::read_to_string(s.zones_dir().join("service.local.zone")).expect("zone file")
}

/// The error message of an answer.
fn error(r: &Resp) -> &str {
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
