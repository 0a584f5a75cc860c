use std::path::Path;
use std::process::{Command, Stdio};

use super::*;
use crate::config::Config;
use crate::rr::RecordType;

/// The bytes 0x01..=0x20: base64 `AQIDBAUGBwgJCgsMDQ4PEBESExQVFhcYGRobHB0eHyA=`.
fn secret() -> Vec<u8> {
    (1..=32).collect()
}
const B64: &str = "AQIDBAUGBwgJCgsMDQ4PEBESExQVFhcYGRobHB0eHyA=";

fn n(s: &str) -> Name {
    Name::from_ascii(s).expect("test name")
}

fn render_with(zones: &[Name], server: SocketAddr, format: Format) -> String {
    let name = n("acme-key.");
    let secret = secret();
    let spec = Spec {
        name: &name,
        algorithm: Algorithm::HmacSha256,
        secret: &secret,
        zones,
        server,
    };
    render(&spec, format)
}

fn one(format: Format) -> String {
    render_with(&[n("example.com.")], DEFAULT_SERVER, format)
}

#[test]
fn toml_block_has_the_least_privilege_grant() {
    let zones = [n("example.com."), n("example.org.")];
    let text = render_with(&zones, DEFAULT_SERVER, Format::Toml);
    let want = format!(
        "# zonewright.toml: append, then restart zonewright\n\
         [[key]]\nname = \"acme-key\"\nalgorithm = \"hmac-sha256\"\nsecret = \"{B64}\"\n\
         grant = [\n\
         \x20 {{ zone = \"example.com\", names = [\"_acme-challenge\", \"_acme-challenge.**\"], types = [\"TXT\"] }},\n\
         \x20 {{ zone = \"example.org\", names = [\"_acme-challenge\", \"_acme-challenge.**\"], types = [\"TXT\"] }},\n\
         ]\n\
         # Caddy (libdns/rfc2136) reads the zone by AXFR signed with this key; for it add\n\
         # to each zone's [[zone]] table:\n\
         #   allow_transfer = [\"key:acme-key\"]\n"
    );
    assert_eq!(text, want);
}

#[test]
fn toml_block_parses_with_the_config_loader_and_grants_only_acme_txt() {
    let zones = [n("example.com."), n("example.org.")];
    let text = render_with(&zones, DEFAULT_SERVER, Format::Toml);
    let c = Config::from_toml(Path::new("/etc/zw/zonewright.toml"), &text).expect("parses");
    assert_eq!(c.keys.len(), 1);
    let k = &c.keys[0];
    assert_eq!(k.key.name, n("acme-key."));
    assert_eq!(k.key.algorithm, Algorithm::HmacSha256);
    for zone in &zones {
        for owner in [
            "_acme-challenge",
            "_acme-challenge.www",
            "_acme-challenge.a.b",
        ] {
            let owner = n(&format!("{owner}.{zone}"));
            assert!(k.grants.allows(zone, &owner, RecordType::TXT), "{owner}");
            assert!(!k.grants.allows(zone, &owner, RecordType::A), "{owner}");
        }
        assert!(!k.grants.allows(zone, zone, RecordType::TXT));
        assert!(
            !k.grants
                .allows(zone, &n(&format!("www.{zone}")), RecordType::TXT)
        );
    }
    assert!(!k.grants.allows(
        &n("example.net."),
        &n("_acme-challenge.example.net."),
        RecordType::TXT
    ));
}

#[test]
fn toml_block_without_zones_grants_nothing_and_says_so() {
    let text = render_with(&[], DEFAULT_SERVER, Format::Toml);
    assert!(text.contains("# No --zone given"), "{text}");
    let c = Config::from_toml(Path::new("/etc/zw/zonewright.toml"), &text).expect("parses");
    assert!(c.keys[0].grants.list().is_empty());
}

#[test]
fn bind_key_file() {
    assert_eq!(
        one(Format::Bind),
        format!("key \"acme-key\" {{\n\talgorithm hmac-sha256;\n\tsecret \"{B64}\";\n}};\n")
    );
}

/// ISC nsupdate reads the key file (a bad one prints "could not read key"
/// or "could not create key" on stderr).
#[test]
fn bind_key_file_is_accepted_by_nsupdate() {
    let dir = tempfile::tempdir().expect("dir");
    for alg in Algorithm::ALL {
        let name = n("acme-key.");
        let secret = vec![7u8; alg.output_len()];
        let spec = Spec {
            name: &name,
            algorithm: alg,
            secret: &secret,
            zones: &[],
            server: DEFAULT_SERVER,
        };
        let path = dir.path().join(format!("{alg}.key"));
        std::fs::write(&path, render(&spec, Format::Bind)).expect("write");
        let out = Command::new("/usr/bin/nsupdate")
            .arg("-k")
            .arg(&path)
            .stdin(Stdio::null())
            .output()
            .expect("run /usr/bin/nsupdate (bind9-dnsutils)");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(out.status.success(), "{alg}: {stderr}");
        assert!(stderr.trim().is_empty(), "{alg}: {stderr}");
    }
}

#[test]
fn certbot_ini_has_upper_case_algorithm() {
    assert_eq!(
        one(Format::Certbot),
        format!(
            "# certbot --dns-rfc2136 --dns-rfc2136-credentials FILE (chmod 600)\n\
             dns_rfc2136_server = 127.0.0.1\ndns_rfc2136_port = 53\n\
             dns_rfc2136_name = acme-key\ndns_rfc2136_secret = {B64}\n\
             dns_rfc2136_algorithm = HMAC-SHA256\n"
        )
    );
}

#[test]
fn lego_env_uses_host_port_and_dotted_algorithm() {
    let server: SocketAddr = "[::]:5353".parse().expect("addr");
    let text = render_with(&[], client_address(server), Format::Lego);
    assert_eq!(
        text,
        format!(
            "# lego --dns rfc2136: `set -a; . FILE; set +a` (chmod 600)\n\
             RFC2136_NAMESERVER=[::1]:5353\nRFC2136_TSIG_KEY=acme-key\n\
             RFC2136_TSIG_SECRET={B64}\nRFC2136_TSIG_ALGORITHM=hmac-sha256.\n"
        )
    );
    // miekg/dns names HMAC-MD5 by its long name.
    let name = n("k.");
    let spec = Spec {
        name: &name,
        algorithm: Algorithm::HmacMd5,
        secret: &[1; 16],
        zones: &[],
        server: DEFAULT_SERVER,
    };
    assert!(
        render(&spec, Format::Lego).contains("RFC2136_TSIG_ALGORITHM=hmac-md5.sig-alg.reg.int.\n")
    );
}

#[test]
fn caddy_block() {
    let server: SocketAddr = "192.0.2.1:5300".parse().expect("addr");
    assert_eq!(
        render_with(&[], server, Format::Caddy),
        format!(
            "# Caddyfile: inside a site's `tls {{ }}` block (module caddy-dns/rfc2136)\n\
             dns rfc2136 {{\n\tkey_name \"acme-key\"\n\tkey_alg \"hmac-sha256\"\n\
             \tkey \"{B64}\"\n\tserver \"192.0.2.1:5300\"\n}}\n"
        )
    );
}

#[test]
fn all_prints_every_format_under_a_header() {
    let all = one(Format::All);
    for f in Format::EACH {
        let single = one(f);
        let body = match f {
            Format::Bind => &single[..],
            _ => single.split_once('\n').expect("header line").1,
        };
        let header = format!("# ---- {}: {}\n", f.name(), f.usage());
        assert!(all.contains(&format!("{header}{body}")), "{f:?}:\n{all}");
    }
}

#[test]
fn unspecified_listen_becomes_loopback() {
    let v4: SocketAddr = "0.0.0.0:53".parse().expect("addr");
    assert_eq!(client_address(v4), DEFAULT_SERVER);
    let given: SocketAddr = "192.0.2.1:53".parse().expect("addr");
    assert_eq!(client_address(given), given);
}
