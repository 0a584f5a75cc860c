//! The config loader against fixture files, good and bad.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use zonewright::config::Config;

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/config")
        .join(name)
}

fn error_of(name: &str) -> String {
    let path = fixture(name);
    let e = Config::load(&path).unwrap_err().to_string();
    // Messages name the file as given; strip the folder for comparison.
    e.replace(&format!("{}/", path.parent().unwrap().display()), "")
}

#[test]
fn good_config_loads_every_key() {
    let path = fixture("good/zonewright.toml");
    let c = Config::load(&path).unwrap();
    let want: Vec<SocketAddr> = vec![
        "127.0.0.1:5353".parse().unwrap(),
        "[::1]:5353".parse().unwrap(),
    ];
    assert_eq!(c.listen, want);
    assert_eq!(c.zones_dir, fixture("good/zones"));
    assert_eq!(c.server.udp_workers, 2);
    assert_eq!(c.server.tcp_idle_timeout, Duration::from_secs(10));
    assert_eq!(c.server.tcp_max_connections, 512);
    assert_eq!(c.server.tcp_max_per_source, 64);
    assert_eq!(c.server.tcp_max_lifetime, Duration::from_secs(120));
    assert_eq!(c.server.reload_interval, Duration::from_secs(1));
    assert_eq!(c.server.max_udp_payload, 1232);
    assert_eq!(c.zones.len(), 1);
    assert_eq!(c.zones[0].name.to_ascii(), "example.com.");
    assert_eq!(
        c.zones[0].file,
        Some(fixture("good/zones/example.com.zone"))
    );
    assert_eq!(c.zones[0].allow_transfer.len(), 2);
}

#[test]
fn bad_listen_names_file_line_key_and_value() {
    let e = error_of("bad_listen.toml");
    assert!(
        e.starts_with("bad_listen.toml:4: listen: invalid socket address \"127.0.0.1\""),
        "{e}"
    );
    assert_eq!(e.lines().count(), 1);
}

#[test]
fn unknown_key_is_an_error_naming_it() {
    assert_eq!(
        error_of("unknown_key.toml"),
        "unknown_key.toml:5: server.udp_worker: unknown key `udp_worker`"
    );
    assert_eq!(
        error_of("zone_unknown_key.toml"),
        "zone_unknown_key.toml:3: zone[1].allow_transfers: unknown key `allow_transfers`"
    );
}

#[test]
fn every_bad_value_is_listed() {
    let e = error_of("bad_values.toml");
    let lines: Vec<&str> = e.lines().collect();
    assert_eq!(lines.len(), 2, "{e}");
    assert!(
        lines[0].starts_with(
            "bad_values.toml:3: server.tcp_idle_timeout: invalid duration \"forever\""
        ),
        "{e}"
    );
    assert!(
        lines[1].starts_with(
            "bad_values.toml:6: zone[1].allow_transfer: invalid address or CIDR \"10.0.0.0/40\""
        ),
        "{e}"
    );
}

#[test]
fn missing_file_is_one_clear_error() {
    let e = error_of("does-not-exist.toml");
    assert!(e.starts_with("does-not-exist.toml: cannot read:"), "{e}");
}

#[test]
fn notify_targets_and_transfer_keys_load() {
    let c = Config::load(&fixture("notify/zonewright.toml")).unwrap();
    let z = &c.zones[0];
    let targets: Vec<String> = z.notify.iter().map(ToString::to_string).collect();
    assert_eq!(
        targets,
        ["127.0.0.1:5301", "ns2.example.net:53", "[::1]:5302"]
    );
    assert_eq!(z.notify_key.as_ref().unwrap().to_ascii(), "xfr-key.");
    assert_eq!(z.allow_transfer.len(), 1);
    assert_eq!(z.allow_transfer_keys.len(), 1);
    assert_eq!(z.allow_transfer_keys[0].to_ascii(), "xfr-key.");
}

#[test]
fn unknown_transfer_and_notify_keys_and_bad_targets_are_errors() {
    let e = error_of("notify_bad.toml");
    let lines: Vec<&str> = e.lines().collect();
    assert_eq!(lines.len(), 3, "{e}");
    assert!(
        lines.iter().any(|l| l
            .starts_with("notify_bad.toml:5: zone[1].allow_transfer: no [[key]] named \"nobody\"")),
        "{e}"
    );
    assert!(
        lines.iter().any(|l| l
            .starts_with("notify_bad.toml:6: zone[1].notify: invalid notify target \"[::1:53\"")),
        "{e}"
    );
    assert!(
        lines
            .iter()
            .any(|l| l
                .starts_with("notify_bad.toml:7: zone[1].notify_key: no [[key]] named \"ghost\"")),
        "{e}"
    );
}
