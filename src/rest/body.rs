//! Request bodies (PURE: no I/O): which media types count as JSON, and the
//! JSON of each request shape, read field by field so every refusal names
//! the field.
//!
//! # Design
//!
//! ```text
//!  headers ──► media_type()  Content-Type JSON (or absent), no Content-Encoding
//!                            else 415 Unsupported Media Type
//!  bytes   ──► service() / state()
//!                serde_json::Value, no key twice (unique.rs) ─► an object
//!                ─► every key known ─► each value of its JSON type
//!                ─► ServiceInput / StateInput
//!                else 400 naming the field ("services.valkey.records")
//!  handler ──► check_zone(): a `zone` given must be the zone addressed (400)
//! ```
//!
//! Unknown fields are refused: a typo (`"recrods"`) would otherwise be a
//! request without records, or worse a `PUT /v1/state` that deletes every
//! service. But a dynresolve client works GET-modify-PUT, so every field a
//! GET answers is accepted back: a service's `name`, `fqdn` and `zone`, and
//! the listing's `zone`. They are read-only: the path names the service, so
//! `name` and `fqdn` are not compared with it (a GET of one service PUT to
//! another name copies it). `zone` must be the zone the request addresses,
//! though: a listing of one zone pushed to another zone's `/state` would
//! replace that zone's services with it.

use serde_json::{Map, Value};

mod unique;

/// Why a body is refused: the HTTP status is the variant.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum BodyError {
    /// 415: not JSON (by its Content-Type or Content-Encoding).
    Unsupported(String),
    /// 400: not JSON, or not the request's shape (or its headers are
    /// malformed).
    Invalid(String),
    /// 501: a transfer coding other than `chunked` (RFC 9112 §6.1).
    NotImplemented(String),
}

/// The fields of a service a request may write.
const SERVICE_FIELDS: &[&str] = &["type", "records", "ttl"];
/// The fields a GET of a service answers that a write accepts and ignores
/// (`zone` is compared with the zone addressed).
const SERVICE_READ_ONLY: &[&str] = &["name", "fqdn", "zone"];
/// The fields of `PUT /v1/state` a request may write.
const STATE_FIELDS: &[&str] = &["services"];
/// The field of `GET /v1/services` that `PUT /v1/state` accepts back.
const STATE_READ_ONLY: &[&str] = &["zone"];
/// Longest field name quoted back in a message.
const MAX_QUOTED: usize = 64;

/// Checks that a request body is JSON by its headers (RFC 9110 §8.3, §8.4),
/// given every line of each header as received (`get_all`, not `get`: a
/// check of the first line alone let `Content-Encoding: identity` then
/// `Content-Encoding: gzip` through).
///
/// JSON is `application/json` (RFC 8259 §11; its parameters, such as
/// `charset=utf-8`, change nothing) or any `type/name+json` (RFC 6839
/// §3.1). A `charset` other than UTF-8 is refused: "JSON text exchanged
/// between systems that are not part of a closed ecosystem MUST be encoded
/// using UTF-8" (RFC 8259 §8.1). No Content-Type is accepted, and the body
/// is read as JSON: RFC 9110 §8.3 lets a recipient "examine the data to
/// determine its type", and clients that never set the header (Go's
/// `http.NewRequest`, Python's `requests` given a string) send JSON that
/// way.
///
/// Content-Type given more than once is a 400, not a 415: it is a
/// singleton field (`Content-Type = media-type`, RFC 9110 §8.3), and "a
/// sender MUST NOT generate multiple field lines with the same name in a
/// message ... unless that field's definition allows multiple field line
/// values to be recombined as a comma-separated list" (§5.3). Such a
/// request is malformed whatever the types say, and which line a proxy or
/// framework reads is anyone's guess, so even two `application/json` lines
/// are refused.
///
/// Content-Encoding is a list (§8.4), which may come in several lines;
/// every coding of every line must be `identity`, else 415 (§15.5.16: 415
/// also covers an unsupported content coding).
pub fn media_type(content_type: &[&[u8]], content_encoding: &[&[u8]]) -> Result<(), BodyError> {
    for enc in content_encoding {
        let enc = String::from_utf8_lossy(enc);
        if codings(&enc).any(|c| !c.eq_ignore_ascii_case("identity")) {
            return Err(BodyError::Unsupported(format!(
                "unsupported Content-Encoding {:?}: send the JSON body uncompressed",
                quoted(&enc)
            )));
        }
    }
    let raw = match content_type {
        [] => return Ok(()),
        [one] => *one,
        more => {
            return Err(BodyError::Invalid(format!(
                "Content-Type is given {} times: send it once \
                 (Content-Type: application/json; RFC 9110 §5.3, §8.3)",
                more.len()
            )));
        }
    };
    let hint = "send the body as JSON with Content-Type: application/json \
                (curl: -H 'Content-Type: application/json')";
    let Ok(text) = std::str::from_utf8(raw) else {
        return Err(BodyError::Unsupported(format!(
            "unreadable Content-Type: {hint}"
        )));
    };
    let mut parts = text.split(';');
    let essence = parts.next().unwrap_or_default().trim().to_ascii_lowercase();
    // `type "/" subtype`, each a token (RFC 9110 §8.3.1): a list such as
    // "text/plain, application/vnd.x+json" (two lines a proxy folded into
    // one) is no media type.
    let json = essence
        .split_once('/')
        .filter(|(t, sub)| is_token(t) && is_token(sub))
        .is_some_and(|(t, sub)| {
            (t == "application" && sub == "json") || (sub.len() > 5 && sub.ends_with("+json"))
        });
    if !json {
        return Err(BodyError::Unsupported(format!(
            "unsupported Content-Type {:?}: {hint}",
            quoted(text.trim())
        )));
    }
    for param in parts {
        let Some((key, value)) = param.split_once('=') else {
            continue;
        };
        let value = value.trim().trim_matches('"');
        if key.trim().eq_ignore_ascii_case("charset")
            && !value.eq_ignore_ascii_case("utf-8")
            && !value.eq_ignore_ascii_case("utf8")
        {
            return Err(BodyError::Unsupported(format!(
                "unsupported charset {:?}: JSON must be UTF-8 (RFC 8259 §8.1)",
                quoted(value)
            )));
        }
    }
    Ok(())
}

/// Checks the request's Transfer-Encoding lines: only `chunked`, once, is
/// understood.
///
/// hyper frames a request by the last coding alone: `Transfer-Encoding:
/// gzip, chunked` was de-chunked and its gzip bytes handed on as the body.
/// RFC 9112 §6.1: "A server that receives a request message with a
/// transfer coding it does not understand SHOULD respond with 501 (Not
/// Implemented)", so any other coding (`gzip`, `deflate`, `compress`,
/// `identity`, which RFC 9112 no longer defines) is a 501. `chunked` twice
/// is a 400: "A sender MUST NOT apply the chunked transfer coding more than
/// once to a message body" (§6.1), so the request is malformed rather than
/// in a coding we lack. (A request whose last coding is not `chunked`
/// never gets here: hyper answers it 400, as §6.3 requires.)
pub fn transfer_coding(lines: &[&[u8]]) -> Result<(), BodyError> {
    let mut chunked = 0;
    for line in lines {
        let line = String::from_utf8_lossy(line);
        for coding in codings(&line) {
            // A coding may carry parameters (`;q=...` is for TE only, but
            // the name is what counts).
            let name = coding.split(';').next().unwrap_or_default().trim();
            if name.eq_ignore_ascii_case("chunked") {
                chunked += 1;
            } else {
                return Err(BodyError::NotImplemented(format!(
                    "unsupported Transfer-Encoding {:?}: only \"chunked\" is understood \
                     (RFC 9112 §6.1); send the JSON body uncompressed",
                    quoted(&line)
                )));
            }
        }
    }
    if chunked > 1 {
        return Err(BodyError::Invalid(
            "Transfer-Encoding applies \"chunked\" more than once (RFC 9112 §6.1)".into(),
        ));
    }
    Ok(())
}

/// The codings of a comma-separated list field (empty items skipped, RFC
/// 9110 §5.6.1).
fn codings(line: &str) -> impl Iterator<Item = &str> {
    line.split(',').map(str::trim).filter(|c| !c.is_empty())
}

/// RFC 9110 §5.6.2: `token = 1*tchar`.
fn is_token(s: &str) -> bool {
    !s.is_empty()
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b))
}

/// A service as a request gives it (`PUT`, `POST .../records`, `DELETE
/// .../records`, and each entry of `PUT /v1/state`).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ServiceInput {
    pub rtype: Option<String>,
    pub records: Option<Vec<String>>,
    pub ttl: Option<u32>,
    /// Read-only: must be the zone the request addresses ([`check_zone`]).
    pub zone: Option<String>,
}

/// The body of `PUT /v1/state`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct StateInput {
    /// By the name as given, in name order.
    pub services: Option<Vec<(String, ServiceInput)>>,
    /// Read-only, as `GET /v1/services` answers it.
    pub zone: Option<String>,
}

/// The body of a request about one service.
pub fn service(body: &[u8]) -> Result<ServiceInput, BodyError> {
    let value = parse(body)?;
    service_at(object(&value, None)?, None)
}

/// The body of `PUT /v1/state`.
pub fn state(body: &[u8]) -> Result<StateInput, BodyError> {
    let value = parse(body)?;
    let obj = object(&value, None)?;
    known(obj, None, STATE_FIELDS, STATE_READ_ONLY, "GET /v1/services")?;
    let services = match obj.get("services") {
        None | Some(Value::Null) => None,
        Some(Value::Object(map)) => {
            let mut out = Vec::with_capacity(map.len());
            for (name, entry) in map {
                let at = format!("services.{name}");
                out.push((
                    name.clone(),
                    service_at(object(entry, Some(&at))?, Some(&at))?,
                ));
            }
            Some(out)
        }
        Some(other) => return Err(wrong_type(None, "services", "an object", other)),
    };
    Ok(StateInput {
        services,
        zone: string(obj, None, "zone")?,
    })
}

/// A `zone` in the body must name the zone the request addresses
/// (`zone_text`: lower case, no trailing dot).
pub fn check_zone(given: Option<&str>, at: Option<&str>, zone_text: &str) -> Result<(), BodyError> {
    let Some(given) = given else {
        return Ok(());
    };
    if given.trim_end_matches('.').eq_ignore_ascii_case(zone_text) {
        return Ok(());
    }
    Err(BodyError::Invalid(format!(
        "{} is {:?}, but this request addresses zone {zone_text} \
         (use /v1/zones/{}/... for that zone, or drop \"zone\")",
        field(at, "zone"),
        quoted(given),
        quoted(given.trim_end_matches('.')),
    )))
}

fn parse(body: &[u8]) -> Result<Value, BodyError> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Err(BodyError::Invalid(
            "the request has no body: send a JSON object such as {\"records\": [\"10.0.0.1\"]}"
                .into(),
        ));
    }
    unique::from_slice(body).map_err(|e| {
        BodyError::Invalid(if e.is_data() {
            // The one data error of `unique`: a key given twice.
            e.to_string()
        } else {
            format!("invalid JSON body: {e}")
        })
    })
}

fn object<'v>(value: &'v Value, at: Option<&str>) -> Result<&'v Map<String, Value>, BodyError> {
    match value {
        Value::Object(map) => Ok(map),
        other => Err(BodyError::Invalid(format!(
            "{} must be a JSON object, not {}",
            at.unwrap_or("the body"),
            kind(other)
        ))),
    }
}

fn service_at(obj: &Map<String, Value>, at: Option<&str>) -> Result<ServiceInput, BodyError> {
    known(obj, at, SERVICE_FIELDS, SERVICE_READ_ONLY, "a GET")?;
    for name in ["name", "fqdn"] {
        string(obj, at, name)?;
    }
    let records = match obj.get("records") {
        None | Some(Value::Null) => None,
        Some(Value::Array(items)) => {
            let mut out = Vec::with_capacity(items.len());
            for item in items {
                match item {
                    Value::String(s) => out.push(s.clone()),
                    other => {
                        return Err(wrong_type(at, "records", "a list of strings", other));
                    }
                }
            }
            Some(out)
        }
        Some(other) => return Err(wrong_type(at, "records", "a list of strings", other)),
    };
    let ttl = match obj.get("ttl") {
        None | Some(Value::Null) => None,
        Some(v) => Some(
            v.as_u64()
                .and_then(|t| u32::try_from(t).ok())
                .ok_or_else(|| {
                    BodyError::Invalid(format!(
                        "{} must be a whole number of seconds from 0 to {}, not {v}",
                        field(at, "ttl"),
                        u32::MAX
                    ))
                })?,
        ),
    };
    Ok(ServiceInput {
        rtype: string(obj, at, "type")?,
        records,
        ttl,
        zone: string(obj, at, "zone")?,
    })
}

/// Every key of `obj` is one of `fields` or `read_only` (which `source`,
/// a GET, answers).
fn known(
    obj: &Map<String, Value>,
    at: Option<&str>,
    fields: &[&str],
    read_only: &[&str],
    source: &str,
) -> Result<(), BodyError> {
    let Some(unknown) = obj
        .keys()
        .find(|k| !fields.contains(&k.as_str()) && !read_only.contains(&k.as_str()))
    else {
        return Ok(());
    };
    let (these, verb) = match read_only {
        [one] => (format!("\"{one}\""), "is"),
        more => (more.join(", "), "are"),
    };
    Err(BodyError::Invalid(format!(
        "unknown field {:?} in {}; expected one of: {} ({these}, as {source} answers, \
         {verb} accepted and not written)",
        quoted(unknown),
        at.unwrap_or("the body"),
        fields.join(", "),
    )))
}

/// The string at `obj[name]`, if any (null is absent).
fn string(
    obj: &Map<String, Value>,
    at: Option<&str>,
    name: &str,
) -> Result<Option<String>, BodyError> {
    match obj.get(name) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.clone())),
        Some(other) => Err(wrong_type(at, name, "a string", other)),
    }
}

fn wrong_type(at: Option<&str>, name: &str, want: &str, got: &Value) -> BodyError {
    BodyError::Invalid(format!(
        "{} must be {want}, not {}",
        field(at, name),
        kind(got)
    ))
}

/// `"ttl"` at the top level, `services.valkey.ttl` inside an entry.
fn field(at: Option<&str>, name: &str) -> String {
    match at {
        Some(at) => format!("{at}.{name}"),
        None => format!("\"{name}\""),
    }
}

fn kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "a list",
        Value::Object(_) => "an object",
    }
}

/// A client's text as quoted back: at most [`MAX_QUOTED`] characters.
fn quoted(s: &str) -> String {
    match s.char_indices().nth(MAX_QUOTED) {
        Some((cut, _)) => format!("{}...", &s[..cut]),
        None => s.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn unsupported(ct: Option<&str>, enc: Option<&str>) -> bool {
        matches!(
            media_type(
                &ct.map(str::as_bytes).into_iter().collect::<Vec<_>>(),
                &enc.map(str::as_bytes).into_iter().collect::<Vec<_>>()
            ),
            Err(BodyError::Unsupported(_))
        )
    }

    #[test]
    fn json_media_types() {
        for ok in [
            None,
            Some("application/json"),
            Some("Application/JSON"),
            Some("application/json; charset=utf-8"),
            Some("application/json;charset=\"UTF-8\""),
            Some("application/json; charset=utf8"),
            Some("application/merge-patch+json"),
            Some("application/vnd.api+json; charset=utf-8"),
        ] {
            assert!(!unsupported(ok, None), "{ok:?}");
        }
        for bad in [
            "application/x-www-form-urlencoded",
            "text/plain",
            "text/plain; charset=utf-8",
            "multipart/form-data; boundary=x",
            "application/jsonx",
            "application/+json",
            "/json",
            "+json",
            "",
            "application/json; charset=utf-16",
        ] {
            assert!(unsupported(Some(bad), None), "{bad:?}");
        }
        assert!(unsupported(Some("application/json"), Some("gzip")));
        assert!(!unsupported(Some("application/json"), Some("identity")));
        let Err(BodyError::Unsupported(m)) =
            media_type(&[b"application/x-www-form-urlencoded"], &[])
        else {
            panic!("415 expected");
        };
        assert!(
            m.contains("application/x-www-form-urlencoded") && m.contains("-H 'Content-Type"),
            "{m}"
        );
        // Folded lists are no media type.
        for bad in [
            "text/plain, application/vnd.x+json",
            "application/json, text/plain",
            "application /json",
        ] {
            assert!(unsupported(Some(bad), None), "{bad:?}");
        }
    }

    /// Every line counts, not the first: a later gzip or text/plain line
    /// is refused.
    #[test]
    fn repeated_header_lines() {
        let json: &[u8] = b"application/json";
        let r = media_type(&[json, b"text/plain"], &[]);
        assert!(
            matches!(&r, Err(BodyError::Invalid(m)) if m.contains("Content-Type is given 2 times")),
            "{r:?}"
        );
        assert!(matches!(
            media_type(&[json, json], &[]),
            Err(BodyError::Invalid(_))
        ));
        for enc in [
            &[b"identity" as &[u8], b"gzip"] as &[&[u8]],
            &[b"gzip", b"identity"],
            &[b"identity", b"identity, br"],
        ] {
            assert!(
                matches!(media_type(&[json], enc), Err(BodyError::Unsupported(_))),
                "{enc:?}"
            );
        }
        // A list split over lines means the same as one line (RFC 9110
        // §5.3): identity twice is still identity.
        assert!(media_type(&[json], &[b"identity", b"Identity"]).is_ok());
    }

    #[test]
    fn transfer_codings() {
        assert!(transfer_coding(&[]).is_ok());
        assert!(transfer_coding(&[b"chunked"]).is_ok());
        assert!(transfer_coding(&[b"Chunked"]).is_ok());
        for bad in [
            &[b"gzip, chunked" as &[u8]] as &[&[u8]],
            &[b"gzip", b"chunked"],
            &[b"identity, chunked"],
            &[b"x-custom ,chunked"],
        ] {
            let r = transfer_coding(bad);
            assert!(
                matches!(&r, Err(BodyError::NotImplemented(m)) if m.contains("RFC 9112 §6.1")),
                "{bad:?}: {r:?}"
            );
        }
        for twice in [
            &[b"chunked, chunked" as &[u8]] as &[&[u8]],
            &[b"chunked", b"chunked"],
        ] {
            assert!(
                matches!(transfer_coding(twice), Err(BodyError::Invalid(_))),
                "{twice:?}"
            );
        }
    }

    fn invalid(r: Result<impl std::fmt::Debug, BodyError>) -> String {
        match r {
            Err(BodyError::Invalid(m)) => m,
            other => panic!("400 expected: {other:?}"),
        }
    }

    #[test]
    fn service_bodies() {
        let s = service(br#"{"type":"A","records":["10.0.0.1"],"ttl":5}"#).expect("ok");
        assert_eq!(s.records, Some(vec!["10.0.0.1".to_string()]));
        assert_eq!((s.rtype.as_deref(), s.ttl), (Some("A"), Some(5)));
        // What a GET answers is accepted back.
        let got = br#"{"name":"valkey","fqdn":"valkey.service.local","zone":"service.local",
                       "type":"A","records":["10.0.0.12"],"ttl":5}"#;
        assert_eq!(
            service(got).expect("ok").zone.as_deref(),
            Some("service.local")
        );
        // Nulls are absent.
        assert_eq!(
            service(br#"{"records":null,"ttl":null,"type":null}"#).expect("ok"),
            ServiceInput::default()
        );
        // (body, part of the message)
        let table: &[(&[u8], &str)] = &[
            (
                br#"{"recrods":["10.0.0.1"]}"#,
                "unknown field \"recrods\" in the body; expected one of: type, records, ttl",
            ),
            (
                br#"{"records":"10.0.0.1"}"#,
                "\"records\" must be a list of strings, not a string",
            ),
            (
                br#"{"records":[1]}"#,
                "\"records\" must be a list of strings, not a number",
            ),
            (br#"{"ttl":-1}"#, "\"ttl\" must be a whole number"),
            (br#"{"ttl":5.5}"#, "\"ttl\" must be a whole number"),
            (br#"{"ttl":4294967296}"#, "\"ttl\" must be a whole number"),
            (br#"{"type":1}"#, "\"type\" must be a string, not a number"),
            (br#"{"name":[]}"#, "\"name\" must be a string, not a list"),
            (
                br#"["10.0.0.1"]"#,
                "the body must be a JSON object, not a list",
            ),
            (b"", "the request has no body"),
            (b"not json", "invalid JSON body"),
        ];
        for (body, want) in table {
            let m = invalid(service(body));
            assert!(m.contains(want), "{}: {m}", String::from_utf8_lossy(body));
        }
        // A long field name is cut short in the message.
        let long = format!(r#"{{"{}":1}}"#, "x".repeat(10_000));
        assert!(invalid(service(long.as_bytes())).len() < 400);
    }

    #[test]
    fn state_bodies() {
        let s = state(
            br#"{"zone":"service.local","services":{
                   "valkey":{"type":"A","records":["10.0.0.12"],"ttl":5},
                   "redis":{"records":["10.0.0.13"]}}}"#,
        )
        .expect("ok");
        let names: Vec<&str> = s
            .services
            .iter()
            .flatten()
            .map(|(n, _)| n.as_str())
            .collect();
        assert_eq!(names, ["redis", "valkey"]);
        assert_eq!(state(b"{}").expect("ok").services, None);
        let table: &[(&[u8], &str)] = &[
            (
                br#"{"nothing":1}"#,
                "unknown field \"nothing\" in the body; expected one of: services (\"zone\"",
            ),
            (
                br#"{"services":{"valkey":{"recrods":["10.0.0.1"]}}}"#,
                "unknown field \"recrods\" in services.valkey; expected one of: type, records, ttl",
            ),
            (
                br#"{"services":{"valkey":{"ttl":"5"}}}"#,
                "services.valkey.ttl must be a whole number",
            ),
            (
                br#"{"services":[]}"#,
                "\"services\" must be an object, not a list",
            ),
            (
                br#"{"services":{"a":1}}"#,
                "services.a must be a JSON object, not a number",
            ),
            // RFC 8259 §4: a key given twice is refused, not last-one-wins.
            (
                br#"{"zone":"example.com","zone":"service.local","services":{}}"#,
                "duplicate key \"zone\" in the body (give each key once) at line 1 column",
            ),
            (
                br#"{"services":{"v":{"records":[],"records":["10.0.0.1"]}}}"#,
                "duplicate key \"records\" in services.v ",
            ),
        ];
        for (body, want) in table {
            let m = invalid(state(body));
            assert!(m.contains(want), "{}: {m}", String::from_utf8_lossy(body));
        }
    }

    #[test]
    fn zone_must_be_the_one_addressed() {
        assert!(check_zone(None, None, "service.local").is_ok());
        assert!(check_zone(Some("Service.Local."), None, "service.local").is_ok());
        let m = invalid(check_zone(Some("other.test"), None, "service.local"));
        assert!(
            m.contains("\"zone\" is \"other.test\", but this request addresses zone service.local"),
            "{m}"
        );
        let m = invalid(check_zone(Some("x"), Some("services.a"), "service.local"));
        assert!(m.starts_with("services.a.zone is"), "{m}");
    }
}
