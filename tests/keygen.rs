//! `zonewright keygen`, run as the built binary: the key it prints, pasted
//! into a config, lets ISC nsupdate (with the printed BIND key file) add and
//! delete an ACME challenge TXT on the real server, and nothing else.

mod common;

use std::path::Path;
use std::process::{Command, Output};
use std::time::Duration;

use common::TestServer;
use common::update::{
    ZONE_FILE, commit, dig_short, fixture_zone, nsupdate, run_bounded, text, update_script,
    wait_committed, zone_text,
};

fn keygen(args: &[&str]) -> Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_zonewright"));
    cmd.arg("keygen").args(args).env_remove("RUST_LOG");
    run_bounded(&mut cmd, "", Duration::from_secs(10))
}

fn keygen_ok(args: &[&str]) -> String {
    let o = keygen(args);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    String::from_utf8(o.stdout).expect("utf-8")
}

/// The value of `key = value` (ini) or `KEY=value` (env) in `text`.
fn value<'a>(text: &'a str, key: &str) -> &'a str {
    text.lines()
        .find_map(|l| {
            let (k, v) = l.split_once('=')?;
            (k.trim() == key).then_some(v.trim())
        })
        .unwrap_or_else(|| panic!("no {key} in {text}"))
}

/// One section of `--format all`: the text after `# ---- NAME: ...`.
fn section<'a>(all: &'a str, name: &str) -> &'a str {
    let start = all
        .find(&format!("# ---- {name}: "))
        .unwrap_or_else(|| panic!("no {name} section in {all}"));
    let rest = &all[start..];
    let end = rest[1..].find("# ---- ").map_or(rest.len(), |e| e + 1);
    &rest[..end]
}

/// The secret in a BIND key statement.
fn bind_secret(text: &str) -> &str {
    text.split_once("secret \"")
        .and_then(|(_, r)| r.split_once('"'))
        .map(|(s, _)| s)
        .unwrap_or_else(|| panic!("no secret in {text}"))
}

#[test]
fn generated_key_lets_nsupdate_add_and_delete_a_challenge_and_nothing_else() {
    // One run, pasted as printed: the TOML section into the config, the
    // BIND section into nsupdate's key file.
    let all = keygen_ok(&["acme-key", "--zone", "example.com"]);
    let toml = section(&all, "toml");
    let bind = section(&all, "bind");
    let s = TestServer::start(&[(ZONE_FILE, &fixture_zone())], toml);
    let zones = s.zones_dir();
    wait_committed(&zones, ZONE_FILE);
    let before = zone_text(&zones);
    let key_file = s.dir.path().join("acme-key.key");
    // Without the section's header line: as `--format bind` prints it.
    let bind = bind.split_once('\n').expect("header").1;
    std::fs::write(&key_file, bind).expect("write key file");
    let secret = bind_secret(bind);
    assert_eq!(secret.len(), 44, "32 bytes of base64: {secret}");
    assert_eq!(value(toml, "secret").trim_matches('"'), secret);

    // A second run draws a new secret.
    let other = keygen_ok(&["acme-key", "--format", "bind"]);
    assert_ne!(bind_secret(&other), secret);
    let other_file = s.dir.path().join("other.key");
    std::fs::write(&other_file, &other).expect("write key file");

    let k = key_file.to_str().expect("path");
    let port = s.addr.port();
    let name = "_acme-challenge.www.example.com";
    let add = update_script(
        port,
        Some("example.com"),
        &[&format!("update add {name} 60 TXT \"token-1\"")],
    );
    let o = nsupdate(&["-k", k], false, &add);
    assert!(o.status.success(), "{}", text(&o));
    assert_eq!(dig_short(port, name, "TXT", false), ["\"token-1\""]);
    let c = commit(&zones, "HEAD");
    assert_eq!(c.author_name, "acme-key", "{c:?}");

    // Least privilege: an A record, or a TXT outside _acme-challenge, is refused.
    for line in [
        "update add www.example.com 60 TXT \"nope\"",
        "update add _acme-challenge.example.com 60 CAA 0 issue \"ca.example\"",
    ] {
        let o = nsupdate(
            &["-k", k],
            false,
            &update_script(port, Some("example.com"), &[line]),
        );
        assert!(!o.status.success(), "{line}: {}", text(&o));
        assert!(
            String::from_utf8_lossy(&o.stderr).contains("REFUSED"),
            "{line}: {}",
            text(&o)
        );
    }
    // Another keygen run's secret is not this key's secret.
    let o = nsupdate(
        &["-k", other_file.to_str().expect("path")],
        false,
        &update_script(
            port,
            Some("example.com"),
            &[&format!("update delete {name} TXT")],
        ),
    );
    assert!(!o.status.success(), "{}", text(&o));
    assert_eq!(dig_short(port, name, "TXT", false), ["\"token-1\""]);

    let del = update_script(
        port,
        Some("example.com"),
        &[&format!("update delete {name} TXT")],
    );
    let o = nsupdate(&["-k", k], true, &del);
    assert!(o.status.success(), "{}", text(&o));
    assert!(dig_short(port, name, "TXT", false).is_empty());
    // Only the serial line differs from before.
    let serial_masked = |t: &str| -> Vec<String> {
        t.lines()
            .map(|l| {
                if l.contains("; serial") {
                    "SERIAL".to_string()
                } else {
                    l.to_string()
                }
            })
            .collect()
    };
    assert_eq!(serial_masked(&zone_text(&zones)), serial_masked(&before));
}

#[test]
fn client_formats_take_the_server_from_the_config() {
    let dir = tempfile::tempdir().expect("dir");
    let cfg = dir.path().join("zonewright.toml");
    std::fs::write(&cfg, "listen = [\"0.0.0.0:5300\", \"127.0.0.1:5301\"]\n").expect("write");
    let c = cfg.to_str().expect("path");
    let args = ["acme-key", "--algorithm", "HMAC-SHA512", "--config", c];
    let certbot = keygen_ok(&[&args[..], &["--format", "certbot"]].concat());
    assert_eq!(value(&certbot, "dns_rfc2136_server"), "127.0.0.1");
    assert_eq!(value(&certbot, "dns_rfc2136_port"), "5300");
    assert_eq!(value(&certbot, "dns_rfc2136_algorithm"), "HMAC-SHA512");
    // 64 bytes of secret for hmac-sha512.
    assert_eq!(value(&certbot, "dns_rfc2136_secret").len(), 88);
    let lego = keygen_ok(&[&args[..], &["--format", "lego"]].concat());
    assert_eq!(value(&lego, "RFC2136_NAMESERVER"), "127.0.0.1:5300");
    assert_eq!(value(&lego, "RFC2136_TSIG_ALGORITHM"), "hmac-sha512.");
    let caddy = keygen_ok(&[&args[..], &["--format", "caddy"]].concat());
    assert!(caddy.contains("\tserver \"127.0.0.1:5300\"\n"), "{caddy}");
    // Without --config: 127.0.0.1:53.
    let lego = keygen_ok(&["acme-key", "--format", "lego"]);
    assert_eq!(value(&lego, "RFC2136_NAMESERVER"), "127.0.0.1:53");
}

#[test]
fn bad_arguments_exit_1_with_one_clear_message() {
    for (args, want) in [
        (&["bad name"][..], "invalid key name \"bad name\""),
        (
            &["k", "--algorithm", "hmac-sha3"][..],
            "unknown --algorithm \"hmac-sha3\"",
        ),
        (&["k", "--zone", "a..b"][..], "invalid --zone \"a..b\""),
        (
            &["k", "--config", "/nonexistent/zonewright.toml"][..],
            "/nonexistent/zonewright.toml: cannot read",
        ),
    ] {
        let o = keygen(args);
        assert_eq!(o.status.code(), Some(1), "{args:?}: {}", text(&o));
        let err = String::from_utf8_lossy(&o.stderr);
        assert!(err.contains(want), "{args:?}: {err}");
        assert!(o.stdout.is_empty(), "{args:?}: nothing printed on error");
    }
    assert!(!Path::new("/nonexistent").exists());
}

#[test]
fn a_key_already_in_the_config_is_printed_again_not_replaced() {
    let dir = tempfile::tempdir().expect("dir");
    let cfg = dir.path().join("zonewright.toml");
    let toml = keygen_ok(&["acme-key", "--zone", "example.com", "--format", "toml"]);
    std::fs::write(&cfg, format!("listen = [\"127.0.0.1:5300\"]\n{toml}")).expect("write");
    let secret = value(&toml, "secret").trim_matches('"').to_string();
    let c = cfg.to_str().expect("path");

    let o = keygen(&["acme-key", "--config", c, "--format", "certbot"]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let ini = String::from_utf8_lossy(&o.stdout);
    assert_eq!(value(&ini, "dns_rfc2136_secret"), secret);
    assert_eq!(value(&ini, "dns_rfc2136_algorithm"), "HMAC-SHA256");
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("key acme-key is in the config"), "{err}");

    // A different algorithm for the same name is an error, not a new key.
    let o = keygen(&["acme-key", "--config", c, "--algorithm", "hmac-sha512"]);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    assert!(
        String::from_utf8_lossy(&o.stderr).contains("uses hmac-sha256"),
        "{}",
        text(&o)
    );
    // Another name gets a new secret.
    let lego = keygen_ok(&["other-key", "--config", c, "--format", "lego"]);
    assert_ne!(value(&lego, "RFC2136_TSIG_SECRET"), secret);
}
