//! REST test helpers: a server with `[rest]` on 127.0.0.1:0, and a
//! blocking reqwest client (rustls, ring provider) with a bounded timeout.
#![allow(dead_code)]

use std::net::SocketAddr;
use std::time::Duration;

use reqwest::Method;
use reqwest::blocking::Client;
use serde_json::Value;

use crate::common::TestServer;

pub const TOKEN: &str = "controller-token-0123456789abcdef";
/// A second token, limited to `other.test`.
pub const OTHER_TOKEN: &str = "other-team-token-0123456789abcdef";
pub const ZONE: &str = "service.local";
pub const OTHER: &str = "other.test";

/// A zone with the parts state replacement must leave alone: SOA, NS and
/// the name server's address, an apex A, MX, and a static TXT.
pub fn service_zone(origin: &str) -> String {
    format!(
        "$ORIGIN {origin}.\n$TTL 300\n\
         @ IN SOA ns1.{origin}. hostmaster.{origin}. 2024010101 7200 3600 1209600 300\n\
         \x20 IN NS ns1.{origin}.\n\
         \x20 IN A 192.0.2.10\n\
         \x20 IN MX 10 mail.{origin}.\n\
         ns1 IN A 192.0.2.1\n\
         static IN TXT \"keep me\"\n\
         mail IN A 192.0.2.25\n\
         mail IN TXT \"v=spf1 -all\"\n"
    )
}

/// `[rest]` over `zones` (the first is the default) with two tokens:
/// `controller` (all zones) and `other-team` (only `other.test`, if served).
pub fn rest_config(zones: &[&str], extra: &str) -> String {
    let list: Vec<String> = zones.iter().map(|z| format!("\"{z}\"")).collect();
    let mut c = format!(
        "[git]\nname = \"zonewright\"\nemail = \"zonewright@test\"\n\
         [rest]\nlisten = \"127.0.0.1:0\"\nzones = [{}]\n{extra}\n\
         [[rest.token]]\nname = \"controller\"\ntoken = \"{TOKEN}\"\n",
        list.join(", ")
    );
    if zones.contains(&OTHER) {
        c.push_str(&format!(
            "[[rest.token]]\nname = \"other-team\"\ntoken = \"{OTHER_TOKEN}\"\nzones = [\"{OTHER}\"]\n"
        ));
    }
    c
}

/// A server over `service.local` and `other.test` with `[rest]` settings
/// `extra` (e.g. `rate_limit = 0`).
pub fn start(extra: &str) -> (TestServer, Rest) {
    let zones = [
        (format!("{ZONE}.zone"), service_zone(ZONE)),
        (format!("{OTHER}.zone"), service_zone(OTHER)),
    ];
    let zones: Vec<(&str, &str)> = zones
        .iter()
        .map(|(a, b)| (a.as_str(), b.as_str()))
        .collect();
    let s = TestServer::start(&zones, &rest_config(&[ZONE, OTHER], extra));
    let rest = Rest::new(&s);
    (s, rest)
}

pub fn install_crypto() {
    let _ = tokio_rustls::rustls::crypto::ring::default_provider().install_default();
}

/// A client of one server's REST API.
pub struct Rest {
    pub base: String,
    pub client: Client,
    pub token: Option<String>,
}

/// An answer: status, Retry-After, and the body (JSON when it is).
#[derive(Debug)]
pub struct Resp {
    pub status: u16,
    pub retry_after: Option<String>,
    pub body: Value,
    pub text: String,
}

impl Rest {
    pub fn new(s: &TestServer) -> Rest {
        Rest::at(s.rest_addr.expect("REST listener"))
    }

    pub fn at(addr: SocketAddr) -> Rest {
        install_crypto();
        let client = Client::builder()
            .timeout(Duration::from_secs(20))
            .no_proxy()
            .build()
            .expect("client");
        Rest {
            base: format!("http://{addr}"),
            client,
            token: Some(TOKEN.to_string()),
        }
    }

    pub fn with_token(&self, token: Option<&str>) -> Rest {
        Rest {
            base: self.base.clone(),
            client: self.client.clone(),
            token: token.map(str::to_string),
        }
    }

    pub fn call(&self, method: Method, path: &str, body: Option<&str>) -> Resp {
        let mut req = self
            .client
            .request(method.clone(), format!("{}{path}", self.base));
        if let Some(t) = &self.token {
            req = req.bearer_auth(t);
        }
        if let Some(b) = body {
            req = req
                .header("content-type", "application/json")
                .body(b.to_string());
        }
        let resp = req
            .send()
            .unwrap_or_else(|e| panic!("{method} {path}: {e}"));
        let status = resp.status().as_u16();
        let retry_after = resp
            .headers()
            .get("retry-after")
            .and_then(|v| v.to_str().ok())
            .map(str::to_string);
        let text = resp.text().unwrap_or_default();
        let body = serde_json::from_str(&text).unwrap_or(Value::Null);
        Resp {
            status,
            retry_after,
            body,
            text,
        }
    }

    /// A request with `body` sent as is, with the Content-Type `content_type`
    /// (none when `None`) instead of [`Rest::call`]'s `application/json`.
    pub fn call_as(
        &self,
        method: Method,
        path: &str,
        body: &str,
        content_type: Option<&str>,
    ) -> Resp {
        let mut req = self
            .client
            .request(method.clone(), format!("{}{path}", self.base))
            .body(body.to_string());
        if let Some(t) = &self.token {
            req = req.bearer_auth(t);
        }
        if let Some(ct) = content_type {
            req = req.header("content-type", ct);
        }
        let resp = req
            .send()
            .unwrap_or_else(|e| panic!("{method} {path}: {e}"));
        let status = resp.status().as_u16();
        let retry_after = resp
            .headers()
            .get("retry-after")
            .and_then(|v| v.to_str().ok())
            .map(str::to_string);
        let text = resp.text().unwrap_or_default();
        let body = serde_json::from_str(&text).unwrap_or(Value::Null);
        Resp {
            status,
            retry_after,
            body,
            text,
        }
    }

    pub fn get(&self, path: &str) -> Resp {
        self.call(Method::GET, path, None)
    }

    pub fn put(&self, path: &str, body: &str) -> Resp {
        self.call(Method::PUT, path, Some(body))
    }

    pub fn post(&self, path: &str, body: &str) -> Resp {
        self.call(Method::POST, path, Some(body))
    }

    pub fn delete(&self, path: &str) -> Resp {
        self.call(Method::DELETE, path, None)
    }

    pub fn delete_body(&self, path: &str, body: &str) -> Resp {
        self.call(Method::DELETE, path, Some(body))
    }

    /// PUT that must answer 200.
    pub fn put_ok(&self, path: &str, body: &str) -> Value {
        let r = self.put(path, body);
        assert_eq!(r.status, 200, "PUT {path} {body}: {}", r.text);
        r.body
    }
}

/// The strings of a JSON array.
pub fn strings(v: &Value) -> Vec<String> {
    v.as_array()
        .map(|a| {
            a.iter()
                .filter_map(|x| x.as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default()
}
