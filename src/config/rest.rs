//! `[rest]` and `[[rest.token]]`: the REST API (issue #5).
//!
//! ```toml
//! [rest]
//! listen = "127.0.0.1:8080"
//! zones = ["service.local"]       # zones the API may write; the first is the default for short names
//! allow = ["127.0.0.0/8"]         # client CIDRs; others are closed at accept; default: all
//! rate_limit = 10                 # write requests per second of each token; reads are not limited
//! source_rate_limit = 10          # write requests per second of one client address (default: rate_limit)
//! auth_failures = 10              # failed authentications per minute of one client address, then 429
//! max_connections = 256           # open connections over all clients
//! max_per_source = 32             # open connections of one client (default: an eighth of max_connections)
//! header_timeout = "10s"          # a request's headers must arrive within this (idle keep-alive too)
//! body_timeout = "10s"            # a request's whole body must arrive within this, else 408
//! max_lifetime = "2m"             # a connection is closed after this (after its request in flight)
//! ttl = 5                         # default TTL when a request gives 0 or none
//! fallback = "10.0.0.1"           # optional: A answer for names with no data in a REST zone
//! tls = { cert = "cert.pem", key = "key.pem" }   # HTTPS; required on a non-loopback address
//!
//! [[rest.token]]
//! name = "controller"             # the git author of its writes
//! token = "$ZONEWRIGHT_TOKEN"     # literal, "$ENV_VAR", or token_file = "path"
//! zones = ["service.local"]       # optional: narrows the token to these zones
//! names = ["*.ci"]                # optional: and to these owner names (grant syntax)
//! git_sync = true                 # optional: may POST /v1/git/sync ([git] remote)
//! ```
//!
//! A client is an IPv4 address or an IPv6 /64 (see
//! [`crate::edge::sources`]).
//!
//! A token is loaded like a key's secret, by `config/secret.rs`: it never
//! appears in a message; a `token_file` that group or others may read is a
//! WARN. A zone named here must be served: a `[[zone]]` entry or a
//! `<zone>.zone` file in `zones_dir`.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::ops::Range;
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::time::Duration;

use ipnet::IpNet;
use serde::Deserialize;
use toml::Spanned;

use super::secret::{self, Env};
use super::{Checker, ZoneConfig, join_clean, parse_cidr, parse_zone_name};
use crate::policy::{Grant, Grants};
use crate::rr::{Name, RecordType};

/// Default write rate: requests per second of each token.
pub const DEFAULT_RATE_LIMIT: u32 = 10;
/// Default failed authentications per minute of one client address.
pub const DEFAULT_AUTH_FAILURES: u32 = 10;
/// Default open REST connections over all clients.
pub const DEFAULT_MAX_CONNECTIONS: usize = 256;
/// Default time to receive a request's headers.
pub const DEFAULT_HEADER_TIMEOUT: Duration = Duration::from_secs(10);
/// Default time to receive a request's whole body.
pub const DEFAULT_BODY_TIMEOUT: Duration = Duration::from_secs(10);
/// Default age at which a connection is closed.
pub const DEFAULT_MAX_LIFETIME: Duration = Duration::from_secs(120);
/// Default TTL of records a request gives no TTL for (dynresolve's).
pub const DEFAULT_TTL: u32 = 5;
/// The `token` / `token_file` pair of a `[[rest.token]]`.
const TOKEN_FIELDS: secret::Kind = secret::Kind {
    inline: "token",
    file: "token_file",
    forms: "the token, \"$ENV_VAR\" or \"{env.VAR}\"",
};

/// The validated `[rest]` section.
#[derive(Clone, PartialEq, Eq)]
pub struct RestConfig {
    pub listen: SocketAddr,
    /// Zones the API may write, absolute and lower case; the first is the
    /// default for short names.
    pub zones: Vec<Name>,
    /// Client networks allowed; empty means all.
    pub allow: Vec<IpNet>,
    /// Write requests per second of each token; `None` = unlimited.
    pub rate_limit: Option<u32>,
    /// Write requests per second of one client address, over all its
    /// tokens; `None` = unlimited.
    pub source_rate_limit: Option<u32>,
    /// Failed authentications per minute of one client address before its
    /// requests are answered 429 unchecked; `None` = never.
    pub auth_failures: Option<u32>,
    /// Open connections over all clients.
    pub max_connections: usize,
    /// Open connections of one client address.
    pub max_per_source: usize,
    /// Time to receive a request's headers (and the first one's after a
    /// connection opens or goes idle).
    pub header_timeout: Duration,
    /// Time to receive a request's whole body.
    pub body_timeout: Duration,
    /// A connection is closed once this old (after the request in flight).
    pub max_lifetime: Duration,
    pub ttl: u32,
    pub fallback: Option<Ipv4Addr>,
    pub tls: Option<TlsFiles>,
    pub tokens: Vec<Token>,
}

impl std::fmt::Debug for RestConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RestConfig")
            .field("listen", &self.listen)
            .field("zones", &self.zones)
            .field("allow", &self.allow)
            .field("rate_limit", &self.rate_limit)
            .field("source_rate_limit", &self.source_rate_limit)
            .field("auth_failures", &self.auth_failures)
            .field("max_connections", &self.max_connections)
            .field("max_per_source", &self.max_per_source)
            .field("header_timeout", &self.header_timeout)
            .field("body_timeout", &self.body_timeout)
            .field("max_lifetime", &self.max_lifetime)
            .field("ttl", &self.ttl)
            .field("fallback", &self.fallback)
            .field("tls", &self.tls)
            .field("tokens", &self.tokens)
            .finish()
    }
}

/// `tls = { cert, key }`: PEM files, resolved against the config's folder.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TlsFiles {
    pub cert: PathBuf,
    pub key: PathBuf,
}

/// One `[[rest.token]]`.
#[derive(Clone, PartialEq, Eq)]
pub struct Token {
    /// Who writes: the git author and the audit log's actor.
    pub name: String,
    /// The bearer token. `Debug` redacts it.
    pub secret: String,
    /// Zones this token may write (a subset of `[rest] zones`).
    pub zones: Vec<Name>,
    /// `names`: the owner names it may write in those zones (grant
    /// patterns, relative to each zone); `None`: every service name.
    pub names: Option<Grants>,
    /// `git_sync = true`: may ask for a pull and push now
    /// (`POST /v1/git/sync`, a forge's push webhook).
    pub git_sync: bool,
}

impl Token {
    /// Whether the token may write services at `name` in `zone` (its zones,
    /// then its `names`, if any).
    pub fn may_write(&self, zone: &Name, name: &Name) -> bool {
        self.zones.contains(zone)
            && self
                .names
                .as_ref()
                .is_none_or(|g| g.allows(zone, name, RecordType::A))
    }
}

impl std::fmt::Debug for Token {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Token")
            .field("name", &self.name)
            .field("secret", &"<redacted>")
            .field("zones", &self.zones)
            .field("names", &self.names)
            .field("git_sync", &self.git_sync)
            .finish()
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawRest {
    listen: Spanned<String>,
    zones: Spanned<Vec<Spanned<String>>>,
    #[serde(default)]
    allow: Vec<Spanned<String>>,
    rate_limit: Option<Spanned<u64>>,
    source_rate_limit: Option<Spanned<u64>>,
    auth_failures: Option<Spanned<u64>>,
    max_connections: Option<Spanned<u64>>,
    max_per_source: Option<Spanned<u64>>,
    header_timeout: Option<Spanned<String>>,
    body_timeout: Option<Spanned<String>>,
    max_lifetime: Option<Spanned<String>>,
    ttl: Option<Spanned<u64>>,
    fallback: Option<Spanned<String>>,
    tls: Option<Spanned<RawTls>>,
    #[serde(default)]
    token: Vec<Spanned<RawToken>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawTls {
    cert: Spanned<String>,
    key: Spanned<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawToken {
    name: Spanned<String>,
    /// A `Value`, not a `String`: serde's message would quote it.
    token: Option<Spanned<toml::Value>>,
    token_file: Option<Spanned<String>>,
    zones: Option<Vec<Spanned<String>>>,
    names: Option<Spanned<Vec<Spanned<String>>>>,
    git_sync: Option<bool>,
}

/// Checks `[rest]`; `zones` are the `[[zone]]` entries, for the check that
/// every REST zone is served.
pub(super) fn check_rest(
    c: &mut Checker<'_>,
    raw: Option<&Spanned<RawRest>>,
    zones: &[ZoneConfig],
    zones_dir: &Path,
    base: &Path,
    env: Env<'_>,
    taken: super::Taken<'_>,
) -> Option<RestConfig> {
    let raw_span = raw?;
    let raw = raw_span.get_ref();
    let listen = check_listen_addr(c, &raw.listen, taken);
    let rest_zones = check_zone_list(c, raw.zones.get_ref(), "rest.zones", zones, zones_dir, None);
    if raw.zones.get_ref().is_empty() {
        c.push(raw.zones.span(), "rest.zones", "needs at least one zone");
    }
    let allow = check_allow(c, &raw.allow);
    let limits = check_limits(c, raw);
    let ttl = check_ttl(c, raw.ttl.as_ref());
    let fallback = check_fallback(c, raw.fallback.as_ref());
    let tls = check_tls(c, raw, listen, base);
    let tokens = check_tokens(c, &raw.token, &rest_zones, zones, zones_dir, base, env);
    if raw.token.is_empty() {
        c.push(
            raw_span.span(),
            "rest.token",
            "needs at least one [[rest.token]] (every endpoint needs a token)",
        );
    }
    Some(RestConfig {
        listen: listen?,
        zones: rest_zones,
        allow,
        rate_limit: limits.rate_limit,
        source_rate_limit: limits.source_rate_limit,
        auth_failures: limits.auth_failures,
        max_connections: limits.max_connections,
        max_per_source: limits.max_per_source,
        header_timeout: limits.header_timeout,
        body_timeout: limits.body_timeout,
        max_lifetime: limits.max_lifetime,
        ttl,
        fallback,
        tls,
        tokens,
    })
}

/// `listen`: an `IP:PORT`.
fn check_listen_addr(
    c: &mut Checker<'_>,
    raw: &Spanned<String>,
    taken: super::Taken<'_>,
) -> Option<SocketAddr> {
    let addr = SocketAddr::from_str(raw.get_ref()).ok();
    if addr.is_none() {
        let msg = format!(
            "invalid socket address {:?} (expected IP:PORT, e.g. \"127.0.0.1:8080\")",
            raw.get_ref()
        );
        c.push(raw.span(), "rest.listen", msg);
    }
    if let Some(msg) = addr.as_ref().and_then(super::unlistenable) {
        c.push(raw.span(), "rest.listen", msg);
        return None;
    }
    let dns = taken.dns.iter().map(|d| ("listen", *d));
    let admin = taken.admin.map(|a| ("admin.listen", a));
    if let Some(a) = &addr
        && let Some((key, other)) = dns.chain(admin).find(|(_, o)| super::clash(a, o))
    {
        c.push(
            raw.span(),
            "rest.listen",
            super::clash_message(a, key, &other),
        );
    }
    if let Some(a) = addr {
        c.listen("rest.listen", a, Some(raw.span()));
    }
    addr
}

/// `allow`: the client networks.
fn check_allow(c: &mut Checker<'_>, raw: &[Spanned<String>]) -> Vec<IpNet> {
    let mut allow = Vec::new();
    for a in raw {
        match parse_cidr(a.get_ref()) {
            Some(net) => allow.push(net),
            None => {
                let msg = format!(
                    "invalid address or CIDR {:?} (e.g. \"127.0.0.0/8\", \"::1\")",
                    a.get_ref()
                );
                c.push(a.span(), "rest.allow", msg);
            }
        }
    }
    allow
}

/// The rates, connection caps and timeouts of `[rest]`.
struct Limits {
    rate_limit: Option<u32>,
    source_rate_limit: Option<u32>,
    auth_failures: Option<u32>,
    max_connections: usize,
    max_per_source: usize,
    header_timeout: Duration,
    body_timeout: Duration,
    max_lifetime: Duration,
}

/// Rates, then connection caps, then timeouts.
fn check_limits(c: &mut Checker<'_>, raw: &RawRest) -> Limits {
    let rate_limit = check_rate(
        c,
        raw.rate_limit.as_ref(),
        "rest.rate_limit",
        Some(DEFAULT_RATE_LIMIT),
    );
    let source_rate_limit = check_rate(
        c,
        raw.source_rate_limit.as_ref(),
        "rest.source_rate_limit",
        rate_limit,
    );
    let auth_failures = check_rate(
        c,
        raw.auth_failures.as_ref(),
        "rest.auth_failures",
        Some(DEFAULT_AUTH_FAILURES),
    );
    let max_connections = c.count(
        &raw.max_connections,
        "rest.max_connections",
        1..1_000_001,
        DEFAULT_MAX_CONNECTIONS,
    );
    let max_per_source = c.count(
        &raw.max_per_source,
        "rest.max_per_source",
        1..1_000_001,
        super::default_per_source(max_connections),
    );
    if let Some(r) = &raw.max_per_source
        && max_per_source > max_connections
    {
        let msg = format!("{max_per_source} is more than max_connections ({max_connections})");
        c.push(r.span(), "rest.max_per_source", msg);
    }
    Limits {
        rate_limit,
        source_rate_limit,
        auth_failures,
        max_connections,
        max_per_source,
        header_timeout: c.duration(
            &raw.header_timeout,
            "rest.header_timeout",
            DEFAULT_HEADER_TIMEOUT,
        ),
        body_timeout: c.duration(&raw.body_timeout, "rest.body_timeout", DEFAULT_BODY_TIMEOUT),
        max_lifetime: c.duration(&raw.max_lifetime, "rest.max_lifetime", DEFAULT_MAX_LIFETIME),
    }
}

/// `ttl`: 1..=2^31-1 seconds.
fn check_ttl(c: &mut Checker<'_>, raw: Option<&Spanned<u64>>) -> u32 {
    let Some(t) = raw else {
        return DEFAULT_TTL;
    };
    match u32::try_from(*t.get_ref()) {
        Ok(n) if (1..=crate::rr::MAX_TTL).contains(&n) => n,
        _ => {
            c.push(t.span(), "rest.ttl", "out of range 1..=2147483647");
            DEFAULT_TTL
        }
    }
}

/// `fallback`: an IPv4 address.
fn check_fallback(c: &mut Checker<'_>, raw: Option<&Spanned<String>>) -> Option<Ipv4Addr> {
    let f = raw?;
    let parsed = Ipv4Addr::from_str(f.get_ref()).ok();
    if parsed.is_none() {
        let msg = format!("invalid IPv4 address {:?}", f.get_ref());
        c.push(f.span(), "rest.fallback", msg);
    }
    parsed
}

/// `tls`, resolved against the config's folder; required unless `listen`
/// is a loopback address.
fn check_tls(
    c: &mut Checker<'_>,
    raw: &RawRest,
    listen: Option<SocketAddr>,
    base: &Path,
) -> Option<TlsFiles> {
    let tls = raw.tls.as_ref().map(|t| {
        let t = t.get_ref();
        TlsFiles {
            cert: join_clean(base, Path::new(t.cert.get_ref())),
            key: join_clean(base, Path::new(t.key.get_ref())),
        }
    });
    if let (Some(addr), None) = (listen, &tls)
        && !is_loopback(addr.ip())
    {
        c.push(
            raw.listen.span(),
            "rest.listen",
            format!(
                "{addr} is not a loopback address: serving tokens over plain HTTP there needs tls = {{ cert = \"...\", key = \"...\" }}"
            ),
        );
    }
    tls
}

/// A per-second (or per-minute) count, 0 meaning unlimited.
fn check_rate(
    c: &mut Checker<'_>,
    raw: Option<&Spanned<u64>>,
    key: &str,
    default: Option<u32>,
) -> Option<u32> {
    match raw {
        None => default,
        Some(r) if *r.get_ref() == 0 => None,
        Some(r) => match u32::try_from(*r.get_ref()) {
            Ok(n) if n <= 1_000_000 => Some(n),
            _ => {
                c.push(r.span(), key, "out of range 0..=1000000 (0 = unlimited)");
                default
            }
        },
    }
}

fn is_loopback(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => v4.is_loopback(),
        IpAddr::V6(v6) => v6.is_loopback() || v6.to_ipv4_mapped().is_some_and(|v| v.is_loopback()),
    }
}

/// Zone names, each served; with `within`, each one of those.
fn check_zone_list(
    c: &mut Checker<'_>,
    raw: &[Spanned<String>],
    key: &str,
    zones: &[ZoneConfig],
    zones_dir: &Path,
    within: Option<&[Name]>,
) -> Vec<Name> {
    let mut out: Vec<Name> = Vec::new();
    for z in raw {
        let Some(name) = parse_zone_name(z.get_ref()) else {
            c.push(
                z.span(),
                key,
                format!("invalid zone name {:?}", z.get_ref()),
            );
            continue;
        };
        if out.contains(&name) {
            c.push(z.span(), key, format!("zone {name} is listed twice"));
            continue;
        }
        match within {
            Some(allowed) if !allowed.contains(&name) => {
                let msg = format!("zone {name} is not one of rest.zones");
                c.push(z.span(), key, msg);
                continue;
            }
            Some(_) => {}
            None => {
                let text = name.to_ascii();
                let file = zones_dir.join(format!("{}.zone", text.trim_end_matches('.')));
                if !zones.iter().any(|zc| zc.name == name) && !file.is_file() {
                    let msg = format!(
                        "zone {name} is not served (no [[zone]] entry and no {})",
                        file.display()
                    );
                    c.push(z.span(), key, msg);
                    continue;
                }
            }
        }
        out.push(name);
    }
    out
}

fn check_tokens(
    c: &mut Checker<'_>,
    raw: &[Spanned<RawToken>],
    rest_zones: &[Name],
    zones: &[ZoneConfig],
    zones_dir: &Path,
    base: &Path,
    env: Env<'_>,
) -> Vec<Token> {
    let mut out: Vec<Token> = Vec::new();
    for (i, t) in raw.iter().enumerate() {
        let key = |f: &str| format!("rest.token[{}].{f}", i + 1);
        let span = t.span();
        let t = t.get_ref();
        let name = t.name.get_ref().trim();
        let name_ok = if name.is_empty() || name.contains(['<', '>', '\n']) {
            c.push(
                t.name.span(),
                key("name"),
                "must be non-empty, without '<', '>' or newlines",
            );
            false
        } else if out.iter().any(|o| o.name == name) {
            c.push(
                t.name.span(),
                key("name"),
                format!("token {name:?} is listed twice"),
            );
            false
        } else {
            true
        };
        let secret = check_secret(c, t, span, &key, base, env);
        if let Some(s) = &secret
            && out.iter().any(|o| &o.secret == s)
        {
            c.push(
                t.name.span(),
                key("token"),
                "the same token is given to another [[rest.token]]; each needs its own",
            );
        }
        let tzones = match &t.zones {
            Some(list) => {
                let z = check_zone_list(c, list, &key("zones"), zones, zones_dir, Some(rest_zones));
                // Empty: a token that writes nothing, only for
                // `git_sync` (a forge's webhook).
                if list.is_empty() && t.git_sync != Some(true) {
                    c.push(
                        t.name.span(),
                        key("zones"),
                        "must not be empty (omit it for all rest.zones; an empty list is for a \
                         git_sync = true token that writes nothing)",
                    );
                }
                z
            }
            None => rest_zones.to_vec(),
        };
        let names = t
            .names
            .as_ref()
            .map(|list| check_token_names(c, list, &tzones, &key("names")));
        if let (true, Some(secret)) = (name_ok, secret) {
            out.push(Token {
                name: name.to_string(),
                secret,
                zones: tzones,
                names,
                git_sync: t.git_sync.unwrap_or(false),
            });
        }
    }
    out
}

/// `names = [...]` of a token: grant patterns (`@`, `*` one label, `**` one
/// or more; relative to each zone unless they end in a dot), one grant per
/// zone of the token, for the service types.
fn check_token_names(
    c: &mut Checker<'_>,
    list: &Spanned<Vec<Spanned<String>>>,
    zones: &[Name],
    key: &str,
) -> Grants {
    if list.get_ref().is_empty() {
        c.push(
            list.span(),
            key,
            "must not be empty (omit it for every name in the token's zones)",
        );
        return Grants::default();
    }
    let names: Vec<String> = list.get_ref().iter().map(|n| n.get_ref().clone()).collect();
    let types: Vec<String> = ["A", "AAAA", "TXT"].map(String::from).to_vec();
    // Labels a service name can have (the API writes only [a-z0-9-]
    // labels), or the pattern's own (round 51: `_acme`, `\*` or `a_b`
    // passed and could never match a service).
    // (An empty label is the grant parser's to report.)
    let label_ok = |l: &str| {
        matches!(l, "*" | "**") || l.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
    };
    // An empty label (`a..b`, `a.b..`) names nothing (round 54: passed).
    if let Some(n) = names.iter().find(|n| {
        let t = n.trim();
        let relative = t.strip_suffix('.').unwrap_or(t);
        relative != "@" && relative.split('.').any(str::is_empty)
    }) {
        c.push(list.span(), key, format!("empty label in {n:?}"));
        return Grants::default();
    }
    if let Some((n, l)) = names.iter().find_map(|n| {
        let relative = n.trim().trim_end_matches('.');
        (relative != "@")
            .then(|| relative.split('.').find(|l| !label_ok(l)))
            .flatten()
            .map(|l| (n, l))
    }) {
        c.push(
            list.span(),
            key,
            format!(
                "label {l:?} of {n:?} can never be part of a service name (service names \
                 are made of a-z, 0-9 and '-'; * and ** match labels)"
            ),
        );
        return Grants::default();
    }
    // The apex is no service (round 52: `@` passed and matched nothing;
    // neither does a zone's own name written absolute).
    let apex = |n: &str| {
        n.trim() == "@"
            || (n.trim().ends_with('.')
                && super::parse_zone_name(n.trim()).is_some_and(|a| zones.contains(&a)))
    };
    if let Some(n) = names.iter().find(|n| apex(n)) {
        c.push(
            list.span(),
            key,
            format!("{n:?} is the zone's apex, which is never a service"),
        );
        return Grants::default();
    }
    // A name is one zone's when it is absolute, and not a zone's whose name
    // it repeats when relative (round 52: with zones service.local and
    // test, "web.test" is web.test.service.local, not web.test.test.): it
    // narrows those zones only. One that fits none of the token's zones
    // is an error (round 50 L5: it matched nothing and passed `check`).
    let fits = |n: &String, z: &Name| {
        !crate::policy::outside_zone(n, z) && !crate::policy::repeats_zone(n, z)
    };
    if let Some(n) = names.iter().find(|n| zones.iter().all(|z| !fits(n, z))) {
        let in_zones: Vec<String> = zones.iter().map(Name::to_ascii).collect();
        let message = match zones {
            // The grant's own message, which says what the name names.
            [only] => Grant::parse(&only.to_ascii(), std::slice::from_ref(n), &types)
                .err()
                .map(|e| e.message),
            _ => None,
        };
        c.push(
            list.span(),
            key,
            message.unwrap_or_else(|| {
                format!(
                    "{n:?} is in none of the token's zones ({}): it can never match a service \
                     name; write names relative to the zones, or end them with one",
                    in_zones.join(", ")
                )
            }),
        );
        return Grants::default();
    }
    let mut grants = Vec::new();
    for zone in zones {
        let names: Vec<String> = names.iter().filter(|n| fits(n, zone)).cloned().collect();
        if names.is_empty() {
            continue;
        }
        match Grant::parse(&zone.to_ascii(), &names, &types) {
            Ok(g) => grants.push(g),
            Err(e) => {
                c.push(list.span(), key, e.message);
                break;
            }
        }
    }
    Grants::from(grants)
}

/// The token: exactly one of `token` (literal, `$VAR`, or the older
/// `{env.VAR}`) and `token_file`, loaded by [`secret::load`], then checked.
/// Messages never quote the token.
fn check_secret(
    c: &mut Checker<'_>,
    t: &RawToken,
    span: Range<usize>,
    key: &dyn Fn(&str) -> String,
    base: &Path,
    env: Env<'_>,
) -> Option<String> {
    let raw = secret::Raw {
        inline: t.token.as_ref(),
        file: t.token_file.as_ref(),
        table: span,
    };
    let secret::Loaded {
        text: value,
        at,
        field,
    } = secret::load(c, &TOKEN_FIELDS, raw, key, base, env)?;
    let value = value.trim();
    if value.len() < 16 {
        c.push(at, key(field), "the token is shorter than 16 characters");
        return None;
    }
    if !value.bytes().all(|b| b.is_ascii_graphic()) {
        c.push(
            at,
            key(field),
            "the token must be printable ASCII without spaces",
        );
        return None;
    }
    Some(value.to_string())
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::super::Config;

    const TOKEN: &str = "s3cr3t-t0ken-for-tests-0123456789";

    fn env(var: &str) -> Option<String> {
        (var == "ZW_TOKEN").then(|| TOKEN.to_string())
    }

    /// A config in a temp dir holding `service.local.zone`.
    fn parse(rest: &str) -> Result<Config, String> {
        let dir = tempfile::tempdir().expect("tempdir");
        std::fs::create_dir(dir.path().join("zones")).expect("mkdir");
        for zone in ["service.local", "other.test"] {
            std::fs::write(dir.path().join(format!("zones/{zone}.zone")), "").expect("write");
        }
        std::fs::write(dir.path().join("tok"), format!("{TOKEN}\n")).expect("write");
        let text = format!("zones_dir = \"zones\"\n{rest}");
        Config::from_toml_env(&dir.path().join("zonewright.toml"), &text, &env).map_err(|e| {
            let e = e.to_string();
            assert!(!e.contains(TOKEN), "token leaked: {e}");
            e
        })
    }

    const GOOD: &str = "[rest]\nlisten = \"127.0.0.1:8080\"\nzones = [\"service.local\"]\n\
                        [[rest.token]]\nname = \"controller\"\n";

    #[test]
    fn token_forms() {
        for form in [
            format!("token = \"{TOKEN}\""),
            "token = \"$ZW_TOKEN\"".to_string(),
            "token = \"{env.ZW_TOKEN}\"".to_string(),
            "token_file = \"tok\"".to_string(),
        ] {
            let c = parse(&format!("{GOOD}{form}\n")).expect(&form);
            let rest = c.rest.expect("rest");
            assert_eq!(rest.tokens[0].secret, TOKEN, "{form}");
            assert_eq!(rest.tokens[0].name, "controller");
            assert_eq!(rest.ttl, super::DEFAULT_TTL);
            assert_eq!(rest.rate_limit, Some(super::DEFAULT_RATE_LIMIT));
            assert_eq!(rest.source_rate_limit, Some(super::DEFAULT_RATE_LIMIT));
            assert_eq!(rest.auth_failures, Some(super::DEFAULT_AUTH_FAILURES));
            assert_eq!(rest.max_connections, 256);
            assert_eq!(rest.max_per_source, 32);
            assert_eq!(rest.header_timeout, super::DEFAULT_HEADER_TIMEOUT);
            assert_eq!(rest.body_timeout, super::DEFAULT_BODY_TIMEOUT);
            assert_eq!(rest.max_lifetime, super::DEFAULT_MAX_LIFETIME);
            assert!(!format!("{rest:?}").contains(TOKEN));
        }
    }

    #[test]
    fn names_narrow_a_token_within_its_zones() {
        use crate::rr::Name;
        let c = parse(&format!(
            "{GOOD}token = \"$ZW_TOKEN\"\nnames = [\"*.ci\", \"web\"]\n"
        ))
        .expect("valid");
        let t = &c.rest.expect("rest").tokens[0];
        let zone = Name::from_ascii("service.local.").expect("zone");
        let name = |s: &str| Name::from_ascii(s).expect("name");
        assert!(t.may_write(&zone, &name("build1.ci.service.local.")));
        assert!(t.may_write(&zone, &name("WEB.service.local.")));
        assert!(!t.may_write(&zone, &name("valkey.service.local.")));
        assert!(!t.may_write(&zone, &name("a.b.ci.service.local.")));
        let other = Name::from_ascii("other.test.").expect("zone");
        assert!(!t.may_write(&other, &name("web.other.test.")));
        // An absolute name in the zone.
        let abs = parse(&format!(
            "{GOOD}token = \"$ZW_TOKEN\"\nnames = [\"db.service.local.\"]\n"
        ))
        .expect("valid");
        let t = &abs.rest.expect("rest").tokens[0];
        assert!(t.may_write(&zone, &name("db.service.local.")));
        assert!(!t.may_write(&zone, &name("web.service.local.")));
        // With two zones, an absolute name narrows its own zone only.
        let two = GOOD.replace("[\"service.local\"]", "[\"service.local\", \"other.test\"]");
        let c = parse(&format!(
            "{two}token = \"$ZW_TOKEN\"\nnames = [\"db.service.local.\", \"web\"]\n"
        ))
        .expect("valid");
        let t = &c.rest.expect("rest").tokens[0];
        assert!(t.may_write(&zone, &name("db.service.local.")));
        assert!(t.may_write(&zone, &name("web.service.local.")));
        assert!(t.may_write(&other, &name("web.other.test.")));
        assert!(!t.may_write(&other, &name("db.service.local.")));
        assert!(!t.may_write(&other, &name("db.other.test.")));
        // A relative name that repeats one zone's name is the others'
        // (round 52: "web.other.test" was refused for naming
        // web.other.test.other.test.).
        let c = parse(&format!(
            "{two}token = \"$ZW_TOKEN\"\nnames = [\"web.other.test\"]\n"
        ))
        .expect("valid");
        let t = &c.rest.expect("rest").tokens[0];
        assert!(t.may_write(&zone, &name("web.other.test.service.local.")));
        assert!(!t.may_write(&other, &name("web.other.test.")));
        assert!(!t.may_write(&other, &name("web.other.test.other.test.")));
        // Without names: every name in its zones.
        let all = parse(&format!("{GOOD}token = \"$ZW_TOKEN\"\n")).expect("valid");
        let t = &all.rest.expect("rest").tokens[0];
        assert!(t.may_write(&zone, &name("valkey.service.local.")));
        assert!(!t.may_write(&other, &name("valkey.other.test.")));
    }

    #[test]
    fn problems_name_file_line_and_key() {
        let table: &[(&str, &str)] = &[
            (
                "token = \"$ZW_UNSET\"\n",
                ":7: rest.token[1].token: environment variable \"ZW_UNSET\" is not set",
            ),
            (
                "token = \"short\"\n",
                ":7: rest.token[1].token: the token is shorter than 16 characters",
            ),
            (
                "token_file = \"nope\"\n",
                ":7: rest.token[1].token_file: cannot read",
            ),
            (
                "",
                ":5: rest.token[1].token: missing: give token or token_file",
            ),
            (
                "token = \"$ZW_TOKEN\"\nzones = [\"other.zone\"]\n",
                ":8: rest.token[1].zones: zone other.zone. is not one of rest.zones",
            ),
            (
                "token = \"$ZW_TOKEN\"\nnames = []\n",
                ":8: rest.token[1].names: must not be empty",
            ),
            (
                "token = \"$ZW_TOKEN\"\nnames = [\"a..b\"]\n",
                ":8: rest.token[1].names: empty label in \"a..b\"",
            ),
            (
                "token = \"$ZW_TOKEN\"\nnames = [\"web\", \"_acme\"]\n",
                ":8: rest.token[1].names: label \"_acme\" of \"_acme\" can never be part of a \
                 service name",
            ),
            (
                "token = \"$ZW_TOKEN\"\nnames = ['a.\\*']\n",
                ":8: rest.token[1].names: label \"\\\\*\" of \"a.\\\\*\" can never be part",
            ),
            (
                "token = \"$ZW_TOKEN\"\nnames = [\"web\", \"x.other.test.\"]\n",
                ":8: rest.token[1].names: \"x.other.test.\" is not in the zone service.local.",
            ),
            (
                "token = \"$ZW_TOKEN\"\nnames = [\"db.service.local\"]\n",
                ":8: rest.token[1].names: \"db.service.local\" is relative to the zone, so it \
                 names db.service.local.service.local.",
            ),
            (
                "token = \"$ZW_TOKEN\"\nnames = [\"@\"]\n",
                ":8: rest.token[1].names: \"@\" is the zone's apex, which is never a service",
            ),
            (
                "token = \"$ZW_TOKEN\"\nnames = [\"service.local..\"]\n",
                ":8: rest.token[1].names: empty label in \"service.local..\"",
            ),
            (
                "token = \"$ZW_TOKEN\"\nnames = [\"web\", \"Service.Local.\"]\n",
                ":8: rest.token[1].names: \"Service.Local.\" is the zone's apex, which is never \
                 a service",
            ),
        ];
        for (extra, want) in table {
            let e = parse(&format!("{GOOD}{extra}")).expect_err(extra);
            assert!(e.contains(want), "{extra:?}: {e}");
            assert!(
                e.starts_with(&std::env::temp_dir().display().to_string()),
                "{e}"
            );
        }
    }

    #[test]
    fn section_problems() {
        let table: &[(&str, &str)] = &[
            (
                "listen = \"0.0.0.0:8080\"\nzones = [\"service.local\"]\n",
                ":3: rest.listen: 0.0.0.0:8080 is not a loopback address",
            ),
            (
                "listen = \"nope\"\nzones = [\"service.local\"]\n",
                ":3: rest.listen: invalid socket address",
            ),
            (
                "listen = \"127.0.0.1:1\"\nzones = [\"missing.zone\"]\n",
                ":4: rest.zones: zone missing.zone. is not served",
            ),
            (
                "listen = \"127.0.0.1:1\"\nzones = [\"service.local\"]\nallow = [\"10.0.0.0/33\"]\n",
                ":5: rest.allow: invalid address or CIDR",
            ),
            (
                "listen = \"127.0.0.1:1\"\nzones = [\"service.local\"]\nfallback = \"::1\"\n",
                ":5: rest.fallback: invalid IPv4 address",
            ),
            (
                "listen = \"127.0.0.1:1\"\nzones = [\"service.local\"]\nttl = 0\n",
                ":5: rest.ttl: out of range",
            ),
            (
                "listen = \"127.0.0.1:1\"\nzones = [\"service.local\"]\nbogus = 1\n",
                "bogus",
            ),
            (
                "listen = \"127.0.0.1:1\"\nzones = [\"service.local\"]\nmax_connections = 4\nmax_per_source = 5\n",
                ":6: rest.max_per_source: 5 is more than max_connections (4)",
            ),
            (
                "listen = \"127.0.0.1:1\"\nzones = [\"service.local\"]\nbody_timeout = \"soon\"\n",
                ":5: rest.body_timeout: invalid duration",
            ),
        ];
        for (body, want) in table {
            let text =
                format!("[rest]\n{body}[[rest.token]]\nname = \"c\"\ntoken = \"$ZW_TOKEN\"\n");
            let e = parse(&text).expect_err(body);
            assert!(e.contains(want), "{body:?}: {e}");
        }
    }

    #[test]
    fn non_loopback_with_tls_is_fine_and_paths_resolve() {
        let text = "[rest]\nlisten = \"0.0.0.0:8443\"\nzones = [\"service.local\"]\n\
                    tls = { cert = \"c.pem\", key = \"k.pem\" }\nfallback = \"10.0.0.1\"\n\
                    [[rest.token]]\nname = \"c\"\ntoken = \"$ZW_TOKEN\"\n";
        let c = parse(text).expect("ok");
        let rest = c.rest.expect("rest");
        let tls = rest.tls.expect("tls");
        assert!(tls.cert.ends_with("c.pem") && tls.cert.is_absolute());
        assert_eq!(rest.fallback, Some("10.0.0.1".parse().expect("ip")));
        assert!(Path::new(&tls.key).ends_with("k.pem"));
    }

    #[test]
    fn limits_and_timeouts() {
        let c = parse(&format!("{GOOD}token = \"$ZW_TOKEN\"\n")).expect("ok");
        let rest = c.rest.expect("rest");
        assert_eq!(rest.source_rate_limit, rest.rate_limit);
        let text = "[rest]\nlisten = \"127.0.0.1:8080\"\nzones = [\"service.local\"]\n\
                    rate_limit = 0\nauth_failures = 0\nmax_connections = 40\n\
                    header_timeout = \"2s\"\nbody_timeout = \"3s\"\nmax_lifetime = \"1m\"\n\
                    [[rest.token]]\nname = \"c\"\ntoken = \"$ZW_TOKEN\"\n";
        let rest = parse(text).expect("ok").rest.expect("rest");
        assert_eq!(rest.rate_limit, None);
        assert_eq!(rest.source_rate_limit, None, "follows rate_limit");
        assert_eq!(rest.auth_failures, None);
        assert_eq!(rest.max_per_source, 5);
        assert_eq!(rest.header_timeout.as_secs(), 2);
        assert_eq!(rest.body_timeout.as_secs(), 3);
        assert_eq!(rest.max_lifetime.as_secs(), 60);
    }

    #[test]
    fn a_token_file_others_may_read_is_a_warning() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().expect("tempdir");
        std::fs::create_dir(dir.path().join("zones")).expect("mkdir");
        std::fs::write(dir.path().join("zones/service.local.zone"), "").expect("write");
        let f = dir.path().join("tok");
        std::fs::write(&f, TOKEN).expect("write");
        let text = format!("zones_dir = \"zones\"\n{GOOD}token_file = \"tok\"\n");
        for (mode, flagged) in [(0o600, false), (0o400, false), (0o640, true), (0o604, true)] {
            std::fs::set_permissions(&f, std::fs::Permissions::from_mode(mode)).expect("chmod");
            let c = Config::from_toml_env(&dir.path().join("zonewright.toml"), &text, &env)
                .expect("config");
            assert_eq!(
                c.warnings.len(),
                usize::from(flagged),
                "{mode:o}: {:?}",
                c.warnings
            );
            if flagged {
                assert!(
                    c.warnings[0].contains("rest.token[1].token_file"),
                    "{:?}",
                    c.warnings
                );
            }
        }
    }

    #[test]
    fn a_token_file_over_64_kib_or_not_a_file_is_refused() {
        let dir = tempfile::tempdir().expect("tempdir");
        std::fs::create_dir(dir.path().join("zones")).expect("mkdir");
        std::fs::write(dir.path().join("zones/service.local.zone"), "").expect("write");
        let big = format!("{TOKEN}\n{}", " ".repeat(64 * 1024));
        std::fs::write(dir.path().join("big"), big).expect("write");
        std::fs::create_dir(dir.path().join("adir")).expect("mkdir");
        for (file, want) in [
            ("big", "larger than 65536 bytes"),
            ("adir", "not a regular file"),
        ] {
            let text = format!("zones_dir = \"zones\"\n{GOOD}token_file = \"{file}\"\n");
            let e = Config::from_toml_env(&dir.path().join("zonewright.toml"), &text, &env)
                .expect_err(file)
                .to_string();
            assert!(
                e.contains(":7: rest.token[1].token_file: cannot read ") && e.contains(want),
                "{e}"
            );
            assert!(!e.contains(TOKEN), "token leaked: {e}");
        }
    }
}
