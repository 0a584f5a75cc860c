//! The binary's `check`, `zone check` and `serve` error paths, run as a
//! real process.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/config")
        .join(name)
}

fn zonewright(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_zonewright"))
        .args(args)
        .env_remove("RUST_LOG")
        .output()
        .unwrap()
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

#[test]
fn check_good_config_exits_0_with_a_summary_per_zone() {
    let cfg = fixture("good/zonewright.toml");
    let o = zonewright(&["check", "--config", cfg.to_str().unwrap()]);
    let out = stdout(&o);
    assert_eq!(o.status.code(), Some(0), "{out}{}", stderr(&o));
    assert!(out.contains("example.com.: OK, serial 2024010101"), "{out}");
    assert_eq!(out.lines().count(), 1, "{out}");
}

#[test]
fn check_broken_zone_exits_1_with_file_line_col() {
    let cfg = fixture("bad_zone/zonewright.toml");
    let o = zonewright(&["check", "--config", cfg.to_str().unwrap()]);
    let out = stdout(&o);
    assert_eq!(o.status.code(), Some(1), "{out}{}", stderr(&o));
    let zone_file = fixture("bad_zone/zones/example.com.zone");
    let prefix = format!("{}:5:", zone_file.display());
    assert!(
        out.lines().any(|l| l.starts_with(&prefix)),
        "want {prefix}...: {out}"
    );
}

#[test]
fn check_bad_config_exits_1_naming_file_line_and_key() {
    let cfg = fixture("bad_listen.toml");
    let o = zonewright(&["check", "--config", cfg.to_str().unwrap()]);
    let out = stdout(&o);
    assert_eq!(o.status.code(), Some(1));
    let want = format!(
        "{}:4: listen: invalid socket address \"127.0.0.1\"",
        cfg.display()
    );
    assert!(out.starts_with(&want), "{out}");
    assert!(
        !out.contains("Spanned") && !out.contains("Error {"),
        "{out}"
    );
}

#[test]
fn check_missing_config_exits_1() {
    let o = zonewright(&["check", "--config", "/nonexistent/zonewright.toml"]);
    assert_eq!(o.status.code(), Some(1));
    assert!(
        stdout(&o).contains("/nonexistent/zonewright.toml: cannot read"),
        "{}",
        stdout(&o)
    );
}

#[test]
fn zone_check_takes_origin_from_file_name() {
    let f = fixture("good/zones/example.com.zone");
    let o = zonewright(&["zone", "check", f.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(0), "{}{}", stdout(&o), stderr(&o));
    assert!(stdout(&o).contains("example.com.: OK, serial 2024010101"));

    let bad = fixture("bad_zone/zones/example.com.zone");
    let o = zonewright(&["zone", "check", bad.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(1));
    assert!(
        stdout(&o).contains(&format!("{}:5:", bad.display())),
        "{}",
        stdout(&o)
    );
}

/// An empty zone file's errors (no SOA, no NS at the apex) name the file
/// (round 57: they read `:0:0: no NS records at the apex`).
#[test]
fn an_empty_zone_file_s_errors_name_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let f = dir.path().join("empty.test.zone");
    std::fs::write(&f, "").unwrap();
    let o = zonewright(&["zone", "check", f.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(1), "{}", stdout(&o));
    let out = stdout(&o);
    let problems: Vec<&str> = out.lines().filter(|l| l.contains("at the apex")).collect();
    assert_eq!(problems.len(), 2, "{out}");
    for line in problems {
        assert!(line.starts_with(&format!("{}: no ", f.display())), "{line}");
    }
}

#[test]
fn zone_check_with_wrong_origin_fails() {
    // The records are absolute names in example.com; as origin example.org
    // the SOA is missing at the apex.
    let f = fixture("good/zones/example.com.zone");
    let o = zonewright(&[
        "zone",
        "check",
        f.to_str().unwrap(),
        "--origin",
        "example.org",
    ]);
    assert_eq!(o.status.code(), Some(1), "{}", stdout(&o));
}

#[test]
fn serve_with_bad_config_exits_1_with_one_clear_error() {
    let cfg = fixture("unknown_key.toml");
    let o = zonewright(&["serve", "--config", cfg.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(1));
    let err = stderr(&o);
    let want = format!(
        "{}:5: server.udp_worker: unknown key `udp_worker`",
        cfg.display()
    );
    assert!(err.contains(&want), "{err}");
    assert_eq!(err.lines().count(), 1, "{err}");
}

#[test]
fn bad_log_level_is_rejected() {
    let o = zonewright(&["--log-level", "=[", "check", "--config", "x"]);
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
}

/// `serve --strict`: one zone file that fails to load stops start-up
/// (exit 1, the zone named), before anything is bound or committed.
#[test]
fn serve_strict_refuses_to_start_when_a_zone_fails() {
    let dir = tempfile::tempdir().expect("tempdir");
    let zones = dir.path().join("zones");
    std::fs::create_dir(&zones).expect("zones");
    std::fs::write(
        zones.join("good.test.zone"),
        "$ORIGIN good.test.\n$TTL 60\n@ IN SOA ns h 1 2 3 4 5\n@ IN NS ns\nns IN A 192.0.2.1\n",
    )
    .expect("good");
    std::fs::write(
        zones.join("broken.test.zone"),
        "$ORIGIN broken.test.\n@ IN SOA ns h 1 2 3 4 5\nwww IN A not-an-address\n",
    )
    .expect("broken");
    let cfg = dir.path().join("zonewright.toml");
    // Port 0: the kernel picks one; nothing else may listen on it.
    std::fs::write(&cfg, "listen = [\"127.0.0.1:0\"]\nzones_dir = \"zones\"\n").expect("cfg");
    let o = zonewright(&["serve", "--strict", "--config", cfg.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    let err = stderr(&o);
    assert!(
        err.contains("--strict: 1 zone(s) failed to load: broken.test."),
        "{err}"
    );
    assert!(
        err.contains("broken.test.zone:3"),
        "the failure is logged: {err}"
    );
    assert!(
        !zones.join(".git").exists(),
        "nothing is committed before refusing"
    );
}

#[test]
fn check_warns_on_grants_for_zones_not_served_and_keys_nothing_uses() {
    let dir = tempfile::tempdir().unwrap();
    let zone = std::fs::read_to_string(fixture("good/zones/example.com.zone")).unwrap();
    std::fs::write(dir.path().join("example.com.zone"), zone).unwrap();
    let cfg = dir.path().join("zonewright.toml");
    let secret = "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=";
    std::fs::write(
        &cfg,
        format!(
            "zones_dir = \".\"\n\
             [[key]]\nname = \"acme-key\"\nalgorithm = \"hmac-sha256\"\nsecret = \"{secret}\"\n\
             grant = [ {{ zone = \"auth.exmaple.com\", names = [\"**\"], types = [\"TXT\"] }},\n\
                       {{ zone = \"example.com\", names = [\"_acme-challenge\"], types = [\"TXT\"] }} ]\n\
             [[key]]\nname = \"spare\"\nalgorithm = \"hmac-sha256\"\nsecret = \"{secret}\"\n"
        ),
    )
    .unwrap();
    let o = zonewright(&["check", "--config", cfg.to_str().unwrap()]);
    let out = stdout(&o);
    assert_eq!(
        o.status.code(),
        Some(0),
        "warnings only: {out}{}",
        stderr(&o)
    );
    assert!(
        out.contains("key acme-key: a grant names zone auth.exmaple.com. is not served"),
        "{out}"
    );
    assert!(
        out.contains("key spare: no grant, allow_transfer or notify_key uses it"),
        "{out}"
    );
    assert!(!out.contains("grant names zone example.com."), "{out}");
}

#[test]
fn reload_and_status_without_a_server_say_why() {
    let cfg = fixture("good/zonewright.toml");
    let o = zonewright(&["reload", "--config", cfg.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(1));
    assert!(
        stderr(&o).contains("no running `zonewright serve` uses"),
        "{}",
        stderr(&o)
    );
    let o = zonewright(&["status", "--config", cfg.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(1));
    assert!(stderr(&o).contains("no [admin] section"), "{}", stderr(&o));
}

/// Round 50 L2: an address that is not this host's passed `check`, and
/// `serve` then failed without the line. Both now name file, line and key;
/// a port another process holds is named by its line too.
#[test]
fn check_and_serve_name_the_line_of_an_address_they_cannot_listen_on() {
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::create_dir(dir.path().join("zones")).expect("zones");
    let cfg = dir.path().join("zonewright.toml");
    // 192.0.2.0/24 is TEST-NET-1 (RFC 5737): on no host's interfaces.
    std::fs::write(
        &cfg,
        "zones_dir = \"zones\"\nlisten = [\n  \"127.0.0.1:0\",\n  \"192.0.2.1:53\",\n]\n\
         [admin]\nlisten = \"[2001:db8::53]:9153\"\n",
    )
    .expect("cfg");
    let c = cfg.to_str().expect("utf-8");
    let o = zonewright(&["check", "--config", c]);
    let out = stdout(&o);
    assert_eq!(o.status.code(), Some(1), "{out}{}", stderr(&o));
    let want = format!(
        "{c}:4: listen: 192.0.2.1 is not an address of this host (Cannot assign requested address"
    );
    assert!(out.contains(&want), "{out}");
    // (A host without IPv6 says why in other words.)
    let want = format!("{c}:7: admin.listen: ");
    assert!(out.contains(&want) && out.contains("2001:db8::53"), "{out}");
    let want = format!("{c}:4: listen: ");
    assert!(out.contains(&want), "{out}");
    let o = zonewright(&["serve", "--config", c]);
    assert_eq!(o.status.code(), Some(1));
    let err = stderr(&o);
    assert!(
        err.contains(&format!("zonewright: {c}:4: listen: 192.0.2.1 is not")),
        "{err}"
    );
    assert!(!dir.path().join("zones/.git").exists(), "nothing started");

    // A port held by another socket: serve names the line.
    let held = std::net::UdpSocket::bind("127.0.0.1:0").expect("bind");
    let port = held.local_addr().expect("addr").port();
    std::fs::write(
        &cfg,
        format!("zones_dir = \"zones\"\nlisten = [\n  \"127.0.0.1:{port}\",\n]\n"),
    )
    .expect("cfg");
    let o = zonewright(&["check", "--config", c]);
    assert_eq!(
        o.status.code(),
        Some(0),
        "check runs beside the server: {}",
        stdout(&o)
    );
    let o = zonewright(&["serve", "--config", c]);
    assert_eq!(o.status.code(), Some(1));
    let err = stderr(&o);
    let want = format!("{c}:3: listen: cannot listen on 127.0.0.1:{port}: Address already in use");
    assert!(err.contains(&want), "{err}");
}

/// A required key left out is named with its table (`rest.zones`), not as
/// serde's "missing field".
#[test]
fn check_names_a_required_key_left_out() {
    let dir = tempfile::tempdir().expect("tempdir");
    let cfg = dir.path().join("zonewright.toml");
    std::fs::write(
        &cfg,
        "[[key]]\nname = \"a\"\nalgorithm = \"hmac-sha256\"\nsecret = \"YWFhYQ==\"\n\
         [[key]]\nname = \"b\"\n",
    )
    .expect("cfg");
    let c = cfg.to_str().expect("utf-8");
    let o = zonewright(&["check", "--config", c]);
    let out = stdout(&o);
    assert_eq!(o.status.code(), Some(1));
    assert!(
        out.contains(&format!("{c}:5: key[2].algorithm: is required")),
        "{out}"
    );
    std::fs::write(&cfg, "[rest]\nlisten = \"127.0.0.1:0\"\n").expect("cfg");
    let out = stdout(&zonewright(&["check", "--config", c]));
    assert!(
        out.contains(&format!("{c}:1: rest.zones: is required")),
        "{out}"
    );
    assert!(!out.contains("missing field"), "{out}");
}

/// Starts `serve` on `cfg` with stderr in `log`; waits (at most 30 s) until
/// it says it is serving.
fn serving(cfg: &Path, log: &Path) -> std::process::Child {
    let err = std::fs::File::create(log).expect("log");
    let mut child = Command::new(env!("CARGO_BIN_EXE_zonewright"))
        .args(["serve", "--config", cfg.to_str().expect("utf-8")])
        .env_remove("RUST_LOG")
        .stderr(err)
        .spawn()
        .expect("spawn");
    for _ in 0..300 {
        if std::fs::read_to_string(log).is_ok_and(|t| t.contains("serving ")) {
            return child;
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    let _ = child.kill();
    let _ = child.wait();
    panic!("not serving after 30 s: {:?}", std::fs::read_to_string(log));
}

/// Round 53 HIGH: a second server on the same zones folder (an older one
/// left running, or the folder through a bind mount) took the first's
/// writes for a person's edits, committed them as `external change`, and
/// raced it for the branch. The second now refuses to start, naming the
/// first; once the first is gone, a server starts again.
#[test]
fn a_second_server_on_one_zones_folder_refuses_to_start() {
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::create_dir(dir.path().join("zones")).expect("zones");
    let cfg = dir.path().join("zonewright.toml");
    std::fs::write(&cfg, "zones_dir = \"zones\"\nlisten = [\"127.0.0.1:0\"]\n").expect("cfg");
    let mut first = serving(&cfg, &dir.path().join("first.log"));
    let o = zonewright(&["serve", "--config", cfg.to_str().expect("utf-8")]);
    let _ = first.kill();
    let _ = first.wait();
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    let err = stderr(&o);
    let want = format!(
        "is served by another zonewright (pid {}) already",
        first.id()
    );
    assert!(err.contains(&want), "{err}");
    // The lock went with the process.
    let mut again = serving(&cfg, &dir.path().join("again.log"));
    // Round 54: the lock file deleted while the server runs (`git clean
    // -X`) is made and locked again within a second or two, so a second
    // server is still refused.
    let lock = dir.path().join("zones/.zonewright-serve.lock");
    std::fs::remove_file(&lock).expect("rm");
    let mut back = false;
    for _ in 0..50 {
        std::thread::sleep(std::time::Duration::from_millis(100));
        if lock.exists() {
            back = true;
            break;
        }
    }
    let o = zonewright(&["serve", "--config", cfg.to_str().expect("utf-8")]);
    let _ = again.kill();
    let _ = again.wait();
    assert!(back, "the lock file is made again");
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    assert!(
        stderr(&o).contains("is served by another zonewright"),
        "{}",
        stderr(&o)
    );
    // Something else planted at the lock path (a folder, a hard link to
    // another file) is refused, not taken for no lock at all.
    std::fs::remove_file(&lock).expect("rm");
    std::fs::create_dir(&lock).expect("mkdir");
    let o = zonewright(&["serve", "--config", cfg.to_str().expect("utf-8")]);
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    assert!(
        stderr(&o).contains("not zonewright's lock file"),
        "{}",
        stderr(&o)
    );
    std::fs::remove_dir(&lock).expect("rmdir");
    let precious = dir.path().join("precious");
    std::fs::write(&precious, "precious\n").expect("write");
    std::fs::hard_link(&precious, &lock).expect("ln");
    let o = zonewright(&["serve", "--config", cfg.to_str().expect("utf-8")]);
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    assert!(stderr(&o).contains("a hard link"), "{}", stderr(&o));
    assert_eq!(
        std::fs::read_to_string(&precious).expect("read"),
        "precious\n"
    );
}
