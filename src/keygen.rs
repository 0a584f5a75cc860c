//! `zonewright keygen`: a new TSIG key, printed as ready-to-paste text for
//! the server and for each ACME client.
//!
//! # Design
//!
//! PURE: the caller draws the secret from the OS random source (as many
//! bytes as the hash output, RFC 8945 §6 recommends no less) and passes it
//! in with the key's name, algorithm, zones and the server address; this
//! module only renders text, so every format is unit-tested byte for byte.
//!
//! ```text
//!  main.rs: getrandom -> Spec { name, algorithm, secret, zones, server } -> render(Format) -> stdout
//! ```
//!
//! With `--config`, a key of that name already in the config is rendered
//! again (its algorithm and secret) instead of a new one: the `[[key]]`
//! block goes into the config first, and each client's part is printed
//! from there, so the two always agree.
//!
//! The formats, one per consumer:
//!
//! - `toml`: the `[[key]]` block for zonewright.toml with the least-privilege
//!   ACME grant (`_acme-challenge` and `_acme-challenge.**`, TXT only, in each
//!   zone), and a commented `allow_transfer` hint for clients that read the
//!   zone by AXFR (Caddy's libdns/rfc2136).
//! - `bind`: a BIND key statement, as read by `nsupdate -k` (and named.conf),
//!   with no comment around it (see [`render`]).
//! - `certbot`: the certbot-dns-rfc2136 credentials ini. The algorithm is
//!   written upper case: the plugin looks it up in an upper-case table and an
//!   unknown name silently falls back to HMAC-MD5.
//! - `lego`: lego's `RFC2136_*` environment variables; the algorithm in
//!   miekg/dns form, with the trailing dot (`hmac-sha256.`).
//! - `caddy`: a Caddyfile `dns rfc2136 { ... }` block (caddy-dns/rfc2136:
//!   `key_name`, `key_alg`, `key`, `server`).
//!
//! A listen address on the unspecified address (`0.0.0.0:53`) is rendered as
//! the loopback address of its family: the clients need an address to send
//! to, and a client on the server's own machine is the common case.

use std::fmt::Write as _;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

use base64::Engine;

use crate::rr::Name;
use crate::tsig::Algorithm;

/// The server address when no config is given.
pub const DEFAULT_SERVER: SocketAddr = SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), 53);

/// The owner-name patterns of the ACME grant (see [`crate::policy`]).
pub const ACME_NAMES: [&str; 2] = ["_acme-challenge", "_acme-challenge.**"];

/// What to print.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    Toml,
    Bind,
    Certbot,
    Lego,
    Caddy,
    /// Every format above, each under a `# ---- FORMAT: where it goes` line.
    All,
}

impl Format {
    /// The single formats, in the order `All` prints them.
    pub const EACH: [Format; 5] = [
        Format::Toml,
        Format::Bind,
        Format::Certbot,
        Format::Lego,
        Format::Caddy,
    ];

    fn name(self) -> &'static str {
        match self {
            Format::Toml => "toml",
            Format::Bind => "bind",
            Format::Certbot => "certbot",
            Format::Lego => "lego",
            Format::Caddy => "caddy",
            Format::All => "all",
        }
    }

    /// One line saying where the text goes.
    fn usage(self) -> &'static str {
        match self {
            Format::Toml => "zonewright.toml: append, then restart zonewright",
            Format::Bind => "key file for `nsupdate -k FILE` (chmod 600)",
            Format::Certbot => "certbot --dns-rfc2136 --dns-rfc2136-credentials FILE (chmod 600)",
            Format::Lego => "lego --dns rfc2136: `set -a; . FILE; set +a` (chmod 600)",
            Format::Caddy => {
                "Caddyfile: inside a site's `tls { }` block (module caddy-dns/rfc2136)"
            }
            Format::All => "",
        }
    }
}

/// The new key and where its clients send their UPDATEs.
#[derive(Clone, Debug)]
pub struct Spec<'a> {
    /// Absolute key name (`acme-key.`).
    pub name: &'a Name,
    pub algorithm: Algorithm,
    /// The raw secret; `algorithm.output_len()` random bytes.
    pub secret: &'a [u8],
    /// Absolute zone names the key may write ACME challenges in.
    pub zones: &'a [Name],
    /// The server address as configured (first `listen`), or [`DEFAULT_SERVER`].
    pub server: SocketAddr,
}

/// `format`'s text for `spec`, ending in a newline.
pub fn render(spec: &Spec<'_>, format: Format) -> String {
    if format == Format::All {
        let parts: Vec<String> = Format::EACH
            .iter()
            .map(|f| format!("# ---- {}: {}\n{}", f.name(), f.usage(), body(spec, *f)))
            .collect();
        return parts.join("\n");
    }
    match format {
        // Exactly what tsig-keygen prints: nsupdate -k sniffs a `*.key` file
        // for the dnssec-keygen format, and a comment such as "# key file for
        // ..." makes it read the file as a DNSKEY and fail.
        Format::Bind => body(spec, format),
        _ => format!("# {}\n{}", format.usage(), body(spec, format)),
    }
}

fn body(spec: &Spec<'_>, format: Format) -> String {
    match format {
        Format::Toml => toml_block(spec),
        Format::Bind => bind_key(spec),
        Format::Certbot => certbot_ini(spec),
        Format::Lego => lego_env(spec),
        Format::Caddy => caddy_block(spec),
        Format::All => String::new(),
    }
}

/// The secret as printed everywhere: standard base64 with padding.
pub fn secret_base64(secret: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(secret)
}

/// The address clients send to: the unspecified address becomes loopback.
pub fn client_address(listen: SocketAddr) -> SocketAddr {
    let ip = match listen.ip() {
        IpAddr::V4(v4) if v4.is_unspecified() => IpAddr::V4(Ipv4Addr::LOCALHOST),
        IpAddr::V6(v6) if v6.is_unspecified() => IpAddr::V6(Ipv6Addr::LOCALHOST),
        ip => ip,
    };
    SocketAddr::new(ip, listen.port())
}

/// A name as people write it: relative-looking, no trailing dot.
fn plain(name: &Name) -> String {
    let s = name.to_string();
    match s.strip_suffix('.') {
        Some(t) if !t.is_empty() => t.to_string(),
        _ => s,
    }
}

/// A TOML basic string (quotes and escapes as TOML needs them).
fn toml_str(s: &str) -> String {
    toml::Value::String(s.to_string()).to_string()
}

fn toml_block(spec: &Spec<'_>) -> String {
    let name = plain(spec.name);
    let mut out = format!(
        "[[key]]\nname = {}\nalgorithm = {}\nsecret = {}\n",
        toml_str(&name),
        toml_str(spec.algorithm.config_name()),
        toml_str(&secret_base64(spec.secret)),
    );
    if spec.zones.is_empty() {
        out.push_str("# No --zone given: this key may change nothing until it has a grant, e.g.\n");
        out.push_str("# grant = [ { zone = \"example.com\", names = [\"_acme-challenge\", \"_acme-challenge.**\"], types = [\"TXT\"] } ]\n");
        out.push_str("grant = []\n");
        return out;
    }
    let names: Vec<String> = ACME_NAMES.iter().map(|n| toml_str(n)).collect();
    out.push_str("grant = [\n");
    for z in spec.zones {
        let _ = writeln!(
            out,
            "  {{ zone = {}, names = [{}], types = [\"TXT\"] }},",
            toml_str(&plain(z)),
            names.join(", ")
        );
    }
    out.push_str("]\n");
    out.push_str(
        "# Caddy (libdns/rfc2136) reads the zone by AXFR signed with this key; for it add\n",
    );
    out.push_str("# to each zone's [[zone]] table:\n");
    let _ = writeln!(
        out,
        "#   allow_transfer = [{}]",
        toml_str(&format!("key:{name}"))
    );
    out
}

fn bind_key(spec: &Spec<'_>) -> String {
    format!(
        "key \"{}\" {{\n\talgorithm {};\n\tsecret \"{}\";\n}};\n",
        plain(spec.name),
        spec.algorithm.config_name(),
        secret_base64(spec.secret)
    )
}

fn certbot_ini(spec: &Spec<'_>) -> String {
    format!(
        "dns_rfc2136_server = {}\ndns_rfc2136_port = {}\ndns_rfc2136_name = {}\n\
         dns_rfc2136_secret = {}\ndns_rfc2136_algorithm = {}\n",
        spec.server.ip(),
        spec.server.port(),
        plain(spec.name),
        secret_base64(spec.secret),
        spec.algorithm.config_name().to_ascii_uppercase()
    )
}

fn lego_env(spec: &Spec<'_>) -> String {
    format!(
        "RFC2136_NAMESERVER={}\nRFC2136_TSIG_KEY={}\nRFC2136_TSIG_SECRET={}\n\
         RFC2136_TSIG_ALGORITHM={}\n",
        spec.server,
        plain(spec.name),
        secret_base64(spec.secret),
        spec.algorithm.wire_name()
    )
}

fn caddy_block(spec: &Spec<'_>) -> String {
    format!(
        "dns rfc2136 {{\n\tkey_name \"{}\"\n\tkey_alg \"{}\"\n\tkey \"{}\"\n\tserver \"{}\"\n}}\n",
        plain(spec.name),
        spec.algorithm.config_name(),
        secret_base64(spec.secret),
        spec.server
    )
}

#[cfg(test)]
mod tests;
