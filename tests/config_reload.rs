//! SIGHUP re-reads the config of the running binary: a `[[key]]` added
//! works at once, an invalid config is refused (each problem logged with
//! its line) while the running one keeps serving, and a setting that needs
//! a restart is named. The real binary on 127.0.0.1; every wait bounded;
//! the server is stopped by its PID.

mod common;

use std::net::{Ipv4Addr, SocketAddr, UdpSocket};
use std::path::Path;
use std::process::Child;
use std::time::{Duration, Instant};

use common::wire::{self, now, signed};
use common::*;
use hickory_proto::op::{Message, ResponseCode};
use hickory_proto::rr::RecordType;
use zonewright::tsig::{Algorithm, Key};

/// base64 of 32 bytes of 0x11 and of 0x22.
const OLD_SECRET: &str = "ERERERERERERERERERERERERERERERERERERERERERE=";
const NEW_SECRET: &str = "IiIiIiIiIiIiIiIiIiIiIiIiIiIiIiIiIiIiIiIiIiI=";

fn hmac(name: &str, byte: u8) -> Key {
    Key::new(
        hickory_proto::rr::Name::from_ascii(name).unwrap(),
        Algorithm::HmacSha256,
        vec![byte; 32],
    )
}

fn key_toml(name: &str, secret: &str) -> String {
    format!(
        "[[key]]\nname = \"{name}\"\nalgorithm = \"hmac-sha256\"\nsecret = \"{secret}\"\n\
         grant = [ {{ zone = \"example.com\", names = [\"_acme-challenge\"], types = [\"TXT\"] }} ]\n"
    )
}

struct Running {
    child: Child,
    addr: SocketAddr,
    log: std::path::PathBuf,
}

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Running {
    fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// `zonewright ARGS` run to its end (bounded by its own timeouts).
    fn ctl(&self, args: &[&str]) -> std::process::Output {
        std::process::Command::new(env!("CARGO_BIN_EXE_zonewright"))
            .args(args)
            .output()
            .unwrap()
    }

    fn hangup(&self) {
        let st = std::process::Command::new("kill")
            .args(["-HUP", &self.child.id().to_string()])
            .status()
            .unwrap();
        assert!(st.success());
    }

    fn update(&self, id: u16, k: &Key) -> Option<ResponseCode> {
        let msg = wire::update(
            id,
            "example.com",
            None,
            "_acme-challenge.example.com",
            1,
            Some("t"),
        );
        let (bytes, _) = signed(&msg, k, now());
        let sock = UdpSocket::bind((Ipv4Addr::LOCALHOST, 0)).unwrap();
        sock.set_read_timeout(Some(Duration::from_secs(3))).unwrap();
        sock.send_to(&bytes, self.addr).unwrap();
        let mut buf = vec![0u8; 4096];
        let n = sock.recv(&mut buf).ok()?;
        Message::from_vec(&buf[..n]).ok().map(|m| rcode(&m))
    }

    /// Polls (at most 10 s) until an UPDATE by `k` (IDs from `id` on) is
    /// answered `want`.
    fn until_answer(&self, id: &mut u16, k: &Key, want: ResponseCode) -> bool {
        self.until(10, |r| {
            *id += 1;
            r.update(*id, k) == Some(want)
        })
    }

    /// Polls (at most 10 s) until the log says the config was reloaded.
    fn reloaded(&self) -> bool {
        self.until(10, |r| r.log().contains("config reloaded from"))
    }

    /// Polls (every 100 ms, at most `secs`) until `f` holds.
    fn until(&self, secs: u64, mut f: impl FnMut(&Running) -> bool) -> bool {
        let deadline = Instant::now() + Duration::from_secs(secs);
        loop {
            if f(self) {
                return true;
            }
            if Instant::now() > deadline {
                return false;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

fn start(dir: &Path, config: &str) -> Running {
    let zones = dir.join("zones");
    std::fs::create_dir_all(&zones).unwrap();
    write(
        &zones.join("example.com.zone"),
        &simple_zone("example.com", 1, "192.0.2.80"),
    );
    for _ in 0..5 {
        let port = server_port();
        let text = config.replace("PORT", &port.to_string());
        std::fs::write(dir.join("zonewright.toml"), text).unwrap();
        let log = dir.join(format!("server-{port}.log"));
        let child = serve_command(&dir.join("zonewright.toml"), &log)
            .arg("--init")
            .spawn()
            .unwrap();
        let mut r = Running {
            child,
            addr: (Ipv4Addr::LOCALHOST, port).into(),
            log,
        };
        let up = r.until(15, |r| {
            udp_at(r.addr, &query("example.com.", RecordType::SOA)).is_some()
        });
        if up {
            return r;
        }
        if r.child.try_wait().unwrap().is_none() {
            panic!("not answering after 15 s: {}", r.log());
        }
        // The port was taken meanwhile: another try.
    }
    panic!("no free port in 5 tries");
}

fn udp_at(addr: SocketAddr, q: &Message) -> Option<Message> {
    let sock = UdpSocket::bind((Ipv4Addr::LOCALHOST, 0)).ok()?;
    sock.set_read_timeout(Some(Duration::from_millis(300)))
        .ok()?;
    sock.send_to(&q.to_vec().ok()?, addr).ok()?;
    let mut buf = vec![0u8; 4096];
    let n = sock.recv(&mut buf).ok()?;
    Message::from_vec(&buf[..n]).ok()
}

#[test]
fn sighup_adds_a_key_refuses_a_bad_config_and_names_what_needs_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let admin_port = {
        let l = std::net::TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).unwrap();
        l.local_addr().unwrap().port()
    };
    let base = format!(
        "listen = [\"127.0.0.1:PORT\"]\nzones_dir = \"zones\"\n[server]\nudp_workers = 1\n\
         [admin]\nlisten = \"127.0.0.1:{admin_port}\"\n\
         [[zone]]\nname = \"example.com\"\n{}",
        key_toml("old-key", OLD_SECRET)
    );
    let r = start(dir.path(), &base);
    let (old, new) = (hmac("old-key.", 0x11), hmac("new-key.", 0x22));
    assert_eq!(r.update(1, &old), Some(ResponseCode::NoError));
    assert_eq!(
        r.update(2, &new),
        Some(ResponseCode::NotAuth),
        "unknown key: BADKEY"
    );

    // `zonewright status` asks the admin listener.
    let path = dir.path().join("zonewright.toml");
    let cfg = path.to_str().unwrap();
    let o = r.ctl(&["status", "--config", cfg]);
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(
        o.status.success(),
        "{out}{}",
        String::from_utf8_lossy(&o.stderr)
    );
    assert!(out.starts_with("ready\n"), "{out}");
    assert!(out.contains("example.com.: serial "), "{out}");
    assert!(out.contains("last commit "), "{out}");

    // A key added to the config works after `zonewright reload` (SIGHUP
    // to the server of this config), without a restart.
    let running = std::fs::read_to_string(&path).unwrap();
    let with_new = format!("{running}{}", key_toml("new-key", NEW_SECRET));
    std::fs::write(&path, &with_new).unwrap();
    let o = r.ctl(&["reload", "--config", cfg]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let said = String::from_utf8_lossy(&o.stdout);
    assert!(said.contains(&format!("PID {}", r.child.id())), "{said}");
    let mut id = 10;
    assert!(
        r.until_answer(&mut id, &new, ResponseCode::NoError),
        "the new key never worked: {}",
        r.log()
    );
    assert!(r.log().contains("config reloaded from"), "{}", r.log());

    // An invalid config is refused, line and key named; both keys go on.
    std::fs::write(
        &path,
        format!("{with_new}[[key]]\nname = \"broken\"\nalgorithm = \"hmac-md4\"\n"),
    )
    .unwrap();
    r.hangup();
    assert!(
        r.until(10, |r| r.log().contains("config not reloaded")),
        "{}",
        r.log()
    );
    let log = r.log();
    let lines = with_new.lines().count();
    assert!(
        log.lines()
            .any(|l| l.contains("config not reloaded") && l.contains(&format!(":{}:", lines + 3))),
        "the problem's line ({}) is named: {log}",
        lines + 3
    );
    assert_eq!(r.update(50, &new), Some(ResponseCode::NoError));
    assert_eq!(r.update(51, &old), Some(ResponseCode::NoError));

    // A key removed stops working; a changed listen address is named as
    // needing a restart, and the server keeps its port.
    let other_port = r.addr.port().wrapping_add(1);
    let moved = running.replace(
        &format!("127.0.0.1:{}", r.addr.port()),
        &format!("127.0.0.1:{other_port}"),
    );
    std::fs::write(&path, moved).unwrap();
    r.hangup();
    assert!(
        r.until_answer(&mut id, &new, ResponseCode::NotAuth),
        "the removed key still works: {}",
        r.log()
    );
    assert!(
        r.log().contains("listen changed in") && r.log().contains("next restart"),
        "{}",
        r.log()
    );
    assert_eq!(r.update(70, &old), Some(ResponseCode::NoError));
}

/// An UPDATE that waits in the write path (here behind a person who has
/// the zone file open for writing) while a reload removes its key is not
/// applied: it is answered NOTAUTH and nothing reaches the file or git.
#[test]
fn a_write_waiting_when_its_key_is_removed_is_not_applied() {
    let dir = tempfile::tempdir().unwrap();
    let base = format!(
        "listen = [\"127.0.0.1:PORT\"]\nzones_dir = \"zones\"\n[server]\nudp_workers = 1\n{}",
        key_toml("old-key", OLD_SECRET)
    );
    let with_new = format!("{base}{}", key_toml("new-key", NEW_SECRET));
    let r = start(dir.path(), &with_new);
    let path = dir.path().join("zonewright.toml");
    let running = std::fs::read_to_string(&path).unwrap();
    let zone_file = dir.path().join("zones/example.com.zone");
    let new = hmac("new-key.", 0x22);
    assert_eq!(
        r.update(1, &new),
        Some(ResponseCode::NoError),
        "{}",
        r.log()
    );
    // A person is writing the zone file (changed, and still open for
    // writing): writes wait for them to finish.
    let mut person = std::fs::OpenOptions::new()
        .append(true)
        .open(&zone_file)
        .unwrap();
    std::io::Write::write_all(&mut person, b"; being edited\n").unwrap();
    let (addr, msg) = {
        let m = wire::update(
            2,
            "example.com",
            None,
            "_acme-challenge.example.com",
            1,
            Some("late"),
        );
        (r.addr, signed(&m, &new, now()).0)
    };
    let waiting = std::thread::spawn(move || {
        let sock = UdpSocket::bind((Ipv4Addr::LOCALHOST, 0)).unwrap();
        sock.set_read_timeout(Some(Duration::from_secs(10)))
            .unwrap();
        sock.send_to(&msg, addr).unwrap();
        let mut buf = vec![0u8; 4096];
        let n = sock.recv(&mut buf).ok()?;
        Message::from_vec(&buf[..n]).ok().map(|m| rcode(&m))
    });
    std::thread::sleep(Duration::from_millis(300));
    // The key is removed while the write waits.
    let without = running.replace(&key_toml("new-key", NEW_SECRET), "");
    std::fs::write(&path, without).unwrap();
    r.hangup();
    assert!(r.reloaded(), "{}", r.log());
    drop(person);
    assert_eq!(
        waiting.join().unwrap(),
        Some(ResponseCode::NotAuth),
        "{}",
        r.log()
    );
    let text = std::fs::read_to_string(&zone_file).unwrap();
    assert!(!text.contains("late"), "{text}");
    assert!(
        r.log().contains("its key was removed by a config reload"),
        "{}",
        r.log()
    );
}

/// `[rest] rate_limit` applies on reload: 1 write per second refuses a
/// burst (429); after SIGHUP with 1000, the same burst all lands. No WARN
/// about a restart, since it is live.
#[test]
fn sighup_changes_the_rest_write_rate_limit() {
    let dir = tempfile::tempdir().unwrap();
    let token = "reload-test-token-0123456789abcdef";
    let (r, rest_port) = start_rest(dir.path(), token, "rate_limit = 1\n");
    let burst = |n: usize| -> Vec<u16> {
        (0..n)
            .map(|i| {
                let addr = format!("10.0.0.{}", i + 1);
                put_service(rest_port, token, "x", &addr, Duration::from_secs(5))
            })
            .collect()
    };
    let before = burst(5);
    assert!(before.contains(&429), "{before:?}: {}", r.log());
    std::thread::sleep(Duration::from_millis(1100));
    let path = dir.path().join("zonewright.toml");
    let running = std::fs::read_to_string(&path).unwrap();
    std::fs::write(
        &path,
        running.replace("rate_limit = 1\n", "rate_limit = 1000\n"),
    )
    .unwrap();
    r.hangup();
    assert!(r.reloaded(), "{}", r.log());
    let after = burst(5);
    assert!(after.iter().all(|&c| c == 200), "{after:?}: {}", r.log());
    assert!(!r.log().contains("next restart"), "{}", r.log());
}

/// A REST write waiting in the write path when a reload removes its token
/// is not applied: 403, nothing in the file (attack round 8).
#[test]
fn a_rest_write_waiting_when_its_token_is_removed_is_not_applied() {
    let dir = tempfile::tempdir().unwrap();
    let token = "removed-token-0123456789abcdefgh";
    let (r, rest_port) = start_rest(dir.path(), token, "");
    let zone_file = dir.path().join("zones/example.com.zone");
    let mut person = std::fs::OpenOptions::new()
        .append(true)
        .open(&zone_file)
        .unwrap();
    std::io::Write::write_all(&mut person, b"; being edited\n").unwrap();
    let waiting = std::thread::spawn(move || {
        put_service(
            rest_port,
            token,
            "late",
            "10.9.9.9",
            Duration::from_secs(10),
        )
    });
    std::thread::sleep(Duration::from_millis(300));
    let path = dir.path().join("zonewright.toml");
    let running = std::fs::read_to_string(&path).unwrap();
    std::fs::write(
        &path,
        running.replace(token, "another-token-0123456789abcdefghij"),
    )
    .unwrap();
    r.hangup();
    assert!(r.reloaded(), "{}", r.log());
    drop(person);
    assert_eq!(waiting.join().unwrap(), 403, "{}", r.log());
    let text = std::fs::read_to_string(&zone_file).unwrap();
    assert!(!text.contains("10.9.9.9"), "{text}");
}

/// A server of `example.com` with `[rest]` on a free port and one token
/// (`rest_extra` goes in the `[rest]` table): the server and the port.
fn start_rest(dir: &Path, token: &str, rest_extra: &str) -> (Running, u16) {
    let _ = tokio_rustls::rustls::crypto::ring::default_provider().install_default();
    let rest_port = {
        let l = std::net::TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).unwrap();
        l.local_addr().unwrap().port()
    };
    let base = format!(
        "listen = [\"127.0.0.1:PORT\"]\nzones_dir = \"zones\"\n[server]\nudp_workers = 1\n\
         [rest]\nlisten = \"127.0.0.1:{rest_port}\"\nzones = [\"example.com\"]\n{rest_extra}\
         [[rest.token]]\nname = \"controller\"\ntoken = \"{token}\"\n"
    );
    (start(dir, &base), rest_port)
}

/// PUT /v1/services/NAME with one address: the HTTP status (0: no answer).
fn put_service(port: u16, token: &str, name: &str, addr: &str, wait: Duration) -> u16 {
    reqwest::blocking::Client::builder()
        .timeout(wait)
        .build()
        .unwrap()
        .put(format!("http://127.0.0.1:{port}/v1/services/{name}"))
        .bearer_auth(token)
        .header("content-type", "application/json")
        .body(format!(r#"{{"records":["{addr}"]}}"#))
        .send()
        .map(|r| r.status().as_u16())
        .unwrap_or(0)
}
