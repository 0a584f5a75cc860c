//! Issue 11, items 4 and 9: what the server reads from the zones directory.
//! Each test runs the real binary (`zonewright serve`, as a child process
//! under `ulimit -v`, so a regression that reads `/dev/zero` dies rather
//! than eating the machine) over 127.0.0.1, plants a hostile `$INCLUDE`,
//! symlink, oversized file or lock-file symlink the way a person with push
//! access to the zones repository could, and checks that:
//!
//! - the server logs one clear `file:line` error and `zonewright check`
//!   reports the same,
//! - the last good version of the zone keeps serving,
//! - a signed UPDATE to *another* zone is answered within 2 s meanwhile
//!   (before the fix a FIFO include held the zones lock and stalled it).
//!
//! Every wait is bounded; only processes started here are killed, by PID.

mod common;

use std::net::{Ipv4Addr, SocketAddr, UdpSocket};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::update::{run_bounded, text};
use common::wire::{self, SECRET_B64};
use common::{a_addrs, query, rcode, simple_zone};
use hickory_proto::op::{Message, ResponseCode};
use hickory_proto::rr::RecordType;

/// The line of the `$INCLUDE` in [`edited_zone`].
const INCLUDE_LINE: usize = 7;
/// Virtual memory for the server child, in KiB (4 GiB).
const ULIMIT_V_KIB: u64 = 4 << 20;

/// A temp folder holding `zonewright.toml`, `zones/` and `outside/`.
struct Setup {
    top: tempfile::TempDir,
}

impl Setup {
    fn new() -> Setup {
        let top = tempfile::tempdir().unwrap();
        std::fs::create_dir(top.path().join("zones")).unwrap();
        std::fs::create_dir(top.path().join("outside")).unwrap();
        std::fs::write(
            top.path().join("outside/evil.inc"),
            "evil IN A 192.0.2.66\n",
        )
        .unwrap();
        let zones = top.path().join("zones");
        std::fs::write(
            zones.join("example.com.zone"),
            simple_zone("example.com", 1, "192.0.2.80"),
        )
        .unwrap();
        std::fs::write(
            zones.join("other.org.zone"),
            simple_zone("other.org", 1, "192.0.2.90"),
        )
        .unwrap();
        Setup { top }
    }

    fn zones(&self) -> PathBuf {
        self.top.path().join("zones")
    }

    fn outside(&self) -> PathBuf {
        self.top.path().join("outside")
    }

    fn config_path(&self) -> PathBuf {
        self.top.path().join("zonewright.toml")
    }

    /// Writes the config (listening on `addr`, `server_extra` under `[server]`).
    fn write_config(&self, addr: SocketAddr, server_extra: &str) {
        let config = format!(
            "listen = [\"{addr}\"]\nzones_dir = \"zones\"\n\
             [server]\nudp_workers = 1\n{server_extra}\n\
             [git]\nname = \"zonewright\"\nemail = \"zonewright@test\"\n\
             [[key]]\nname = \"acme-key\"\nalgorithm = \"hmac-sha256\"\nsecret = \"{SECRET_B64}\"\n\
             rate_limit = \"off\"\n\
             grant = [ {{ zone = \"other.org\", names = [\"_acme-challenge\"], types = [\"TXT\"] }} ]\n"
        );
        std::fs::write(self.config_path(), config).unwrap();
    }

    /// Saves `text` as `zones/NAME` the way editors do (new file, rename).
    fn save(&self, name: &str, text: &str) {
        let tmp = self.zones().join(format!(".{name}.new"));
        std::fs::write(&tmp, text).unwrap();
        std::fs::rename(&tmp, self.zones().join(name)).unwrap();
    }

    /// Commits `files` in the zones repository, as a `git pull` would
    /// bring them (`-f`: the lock-file pattern is excluded locally).
    fn commit(&self, files: &[&str]) {
        let git = |args: &[&str]| {
            let o = run_bounded(
                Command::new("git")
                    .arg("-C")
                    .arg(self.zones())
                    .args(["-c", "user.name=pusher", "-c", "user.email=p@test"])
                    .args(args),
                "",
                Duration::from_secs(20),
            );
            assert!(o.status.success(), "git {args:?}: {}", text(&o));
        };
        let mut add = vec!["add", "-f", "--"];
        add.extend_from_slice(files);
        git(&add);
        git(&["commit", "-q", "-m", "pushed"]);
    }

    /// `zonewright check` on the config: exit status and stdout.
    fn check(&self) -> (Option<i32>, String) {
        let o = run_bounded(
            Command::new(env!("CARGO_BIN_EXE_zonewright"))
                .args(["check", "--config"])
                .arg(self.config_path())
                .env_remove("RUST_LOG"),
            "",
            Duration::from_secs(20),
        );
        (
            o.status.code(),
            String::from_utf8_lossy(&o.stdout).into_owned(),
        )
    }
}

/// `zonewright serve` as a child process, killed (by PID) on drop.
struct Server {
    child: Child,
    addr: SocketAddr,
    log: PathBuf,
}

impl Server {
    /// Starts the binary on a free port (up to 5 tries), ready once both
    /// zones answer (up to 10 s per try).
    fn start(setup: &Setup, server_extra: &str) -> Server {
        let mut last = String::new();
        for attempt in 0..5 {
            let port = UdpSocket::bind((Ipv4Addr::LOCALHOST, 0))
                .unwrap()
                .local_addr()
                .unwrap()
                .port();
            let addr = SocketAddr::from((Ipv4Addr::LOCALHOST, port));
            setup.write_config(addr, server_extra);
            let log = setup.top.path().join(format!("server-{attempt}.log"));
            let child = Command::new("sh")
                .arg("-c")
                .arg(format!("ulimit -v {ULIMIT_V_KIB} && exec \"$0\" \"$@\""))
                .arg(env!("CARGO_BIN_EXE_zonewright"))
                .args(["serve", "--config"])
                .arg(setup.config_path())
                .env("RUST_LOG", "info")
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(std::fs::File::create(&log).unwrap())
                .spawn()
                .unwrap();
            let mut s = Server { child, addr, log };
            let deadline = Instant::now() + Duration::from_secs(10);
            loop {
                if let Some(st) = s.child.try_wait().unwrap() {
                    last = format!("exited {st}: {}", s.log_text());
                    break;
                }
                let up = |zone: &str| {
                    s.udp(&query(zone, RecordType::SOA), Duration::from_millis(500))
                        .is_some_and(|m| rcode(&m) == ResponseCode::NoError)
                };
                if up("example.com.") && up("other.org.") {
                    return s;
                }
                if Instant::now() >= deadline {
                    last = format!("not answering after 10 s: {}", s.log_text());
                    break;
                }
                std::thread::sleep(Duration::from_millis(50));
            }
        }
        panic!("zonewright serve did not start: {last}");
    }

    fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    fn udp_raw(&self, bytes: &[u8], wait: Duration) -> Option<Vec<u8>> {
        let sock = UdpSocket::bind((Ipv4Addr::LOCALHOST, 0)).unwrap();
        sock.set_read_timeout(Some(wait)).unwrap();
        sock.send_to(bytes, self.addr).unwrap();
        let mut buf = vec![0u8; 65535];
        let (n, _) = sock.recv_from(&mut buf).ok()?;
        buf.truncate(n);
        Some(buf)
    }

    fn udp(&self, msg: &Message, wait: Duration) -> Option<Message> {
        let bytes = self.udp_raw(&msg.to_vec().unwrap(), wait)?;
        Message::from_vec(&bytes).ok()
    }

    /// The A records of `name`, asked once (3 s at most).
    fn a(&self, name: &str) -> Vec<Ipv4Addr> {
        let resp = self
            .udp(&query(name, RecordType::A), Duration::from_secs(3))
            .unwrap_or_else(|| panic!("no answer for {name}: {}", self.log_text()));
        a_addrs(&resp)
    }

    /// Waits up to 10 s for a log line holding every one of `parts`.
    fn wait_log(&self, parts: &[&str]) -> Option<String> {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let found = self
                .log_text()
                .lines()
                .find(|l| parts.iter().all(|p| l.contains(p)))
                .map(str::to_owned);
            if found.is_some() || Instant::now() >= deadline {
                return found;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// A signed UPDATE adding a TXT to other.org: its rcode, if answered
    /// within 2 s.
    fn update_other_zone(&self, token: &str) -> Option<ResponseCode> {
        let resp = self.udp_raw(&signed_update("other.org", token), Duration::from_secs(2))?;
        Message::from_vec(&resp).ok().map(|m| rcode(&m))
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// `update add _acme-challenge.ZONE. 60 TXT "TOKEN"`, TSIG-signed with acme-key.
fn signed_update(zone: &str, token: &str) -> Vec<u8> {
    let owner = format!("_acme-challenge.{zone}");
    let body = wire::update(0x5152, zone, None, &owner, 1, Some(token));
    wire::signed(&body, &wire::key("acme-key."), wire::now()).0
}

/// example.com at serial 2, www moved, with `$INCLUDE <include>` on
/// line [`INCLUDE_LINE`].
fn edited_zone(include: &str) -> String {
    format!(
        "{}$INCLUDE {include}\n",
        simple_zone("example.com", 2, "192.0.2.99")
    )
}

/// The whole attack: start, plant, edit example.com to include `include`
/// (`{outside}` stands for the absolute path of the `outside/` folder),
/// then the checks of the module doc. `want` is in the expected error.
fn refused_include(server_extra: &str, plant: impl FnOnce(&Setup), include: &str, want: &str) {
    let setup = Setup::new();
    let server = Server::start(&setup, server_extra);
    plant(&setup);
    let include = include.replace("{outside}", &setup.outside().display().to_string());
    setup.save("example.com.zone", &edited_zone(&include));
    let at = format!("example.com.zone:{INCLUDE_LINE}:");
    let logged = server.wait_log(&[&at, want]);
    assert!(
        logged.is_some(),
        "no `{at} ... {want}` error logged within 10 s:\n{}",
        server.log_text()
    );
    // Another zone's writer is not held up.
    let started = Instant::now();
    let answer = server.update_other_zone("still-writable");
    assert_eq!(
        answer,
        Some(ResponseCode::NoError),
        "UPDATE to other.org not answered NOERROR within 2 s (took {:?}):\n{}",
        started.elapsed(),
        server.log_text()
    );
    // The last good version keeps serving.
    assert_eq!(
        server.a("www.example.com."),
        [Ipv4Addr::new(192, 0, 2, 80)],
        "{}",
        server.log_text()
    );
    assert!(server.a("evil.example.com.").is_empty());
    // `zonewright check` says the same, and fails.
    let (code, out) = setup.check();
    assert_eq!(code, Some(1), "{out}");
    assert!(
        out.lines().any(|l| l.contains(&at) && l.contains(want)),
        "check output lacks `{at} ... {want}`:\n{out}"
    );
}

fn mkfifo(path: &Path) {
    let o = run_bounded(
        Command::new("mkfifo").arg(path),
        "",
        Duration::from_secs(10),
    );
    assert!(o.status.success(), "mkfifo: {}", text(&o));
}

#[test]
fn include_of_a_fifo_is_refused_and_blocks_nobody() {
    refused_include(
        "",
        |s| mkfifo(&s.zones().join("evil.fifo")),
        "evil.fifo",
        "not a regular file (a FIFO)",
    );
}

#[test]
fn include_of_dev_zero_is_refused_as_outside() {
    refused_include("", |_| {}, "/dev/zero", "outside zones_dir");
}

#[test]
fn include_of_dev_zero_in_an_allowed_dir_is_refused_as_a_device() {
    refused_include(
        "include_dirs = [\"/dev\"]",
        |_| {},
        "/dev/zero",
        "not a regular file (a character device)",
    );
}

#[test]
fn include_of_an_absolute_path_outside_zones_dir_is_refused() {
    refused_include("", |_| {}, "{outside}/evil.inc", "outside zones_dir");
}

#[test]
fn include_climbing_out_with_dotdot_is_refused() {
    refused_include("", |_| {}, "../outside/evil.inc", "outside zones_dir");
}

#[test]
fn committed_symlink_pointing_outside_is_refused() {
    refused_include(
        "",
        |s| {
            std::os::unix::fs::symlink("../outside/evil.inc", s.zones().join("link.inc")).unwrap();
            s.commit(&["link.inc"]);
        },
        "link.inc",
        "outside zones_dir",
    );
}

#[test]
fn committed_symlink_to_dev_zero_is_refused() {
    refused_include(
        "",
        |s| {
            std::os::unix::fs::symlink("/dev/zero", s.zones().join("zero.inc")).unwrap();
            s.commit(&["zero.inc"]);
        },
        "zero.inc",
        "outside zones_dir",
    );
}

#[test]
fn includes_that_resolve_inside_or_into_include_dirs_are_served() {
    let setup = Setup::new();
    let server = Server::start(&setup, "include_dirs = [\"outside\"]");
    std::fs::create_dir(setup.zones().join("sub")).unwrap();
    std::fs::write(
        setup.zones().join("sub/real.inc"),
        "inside IN A 192.0.2.55\n",
    )
    .unwrap();
    std::os::unix::fs::symlink("sub/real.inc", setup.zones().join("in.inc")).unwrap();
    setup.save(
        "example.com.zone",
        &format!(
            "{}$INCLUDE in.inc\n$INCLUDE ../outside/evil.inc\n",
            simple_zone("example.com", 2, "192.0.2.99")
        ),
    );
    let deadline = Instant::now() + Duration::from_secs(10);
    while server.a("www.example.com.") != [Ipv4Addr::new(192, 0, 2, 99)] {
        assert!(
            Instant::now() < deadline,
            "not reloaded: {}",
            server.log_text()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    assert_eq!(
        server.a("inside.example.com."),
        [Ipv4Addr::new(192, 0, 2, 55)]
    );
    assert_eq!(
        server.a("evil.example.com."),
        [Ipv4Addr::new(192, 0, 2, 66)]
    );
    let (code, out) = setup.check();
    assert_eq!(code, Some(0), "{out}");
}

#[test]
fn zone_file_over_max_zone_file_size_is_refused() {
    let setup = Setup::new();
    let server = Server::start(&setup, "max_zone_file_size = \"1KiB\"");
    let padded = format!(
        "{}{}",
        simple_zone("example.com", 2, "192.0.2.99"),
        "; padding\n".repeat(120)
    );
    setup.save("example.com.zone", &padded);
    let want = "larger than 1024 bytes ([server] max_zone_file_size)";
    assert!(
        server.wait_log(&["example.com.zone: ", want]).is_some(),
        "{}",
        server.log_text()
    );
    assert_eq!(
        server.update_other_zone("size"),
        Some(ResponseCode::NoError)
    );
    assert_eq!(server.a("www.example.com."), [Ipv4Addr::new(192, 0, 2, 80)]);
    let (code, out) = setup.check();
    assert_eq!(code, Some(1), "{out}");
    assert!(
        out.contains("example.com.zone: ") && out.contains(want),
        "{out}"
    );
}

#[test]
fn lock_file_symlink_is_not_followed() {
    let setup = Setup::new();
    let server = Server::start(&setup, "");
    let victim = setup.outside().join("victim");
    let lock = setup.zones().join(".other.org.zone.lock");
    let _ = std::fs::remove_file(&lock);
    std::os::unix::fs::symlink(&victim, &lock).unwrap();
    setup.commit(&[".other.org.zone.lock"]);
    let answer = server.update_other_zone("through-the-link");
    assert_eq!(
        answer,
        Some(ResponseCode::ServFail),
        "{}",
        server.log_text()
    );
    assert!(!victim.exists(), "the lock file's symlink was followed");
    assert!(
        server
            .wait_log(&[".other.org.zone.lock is a symbolic link; refused"])
            .is_some(),
        "{}",
        server.log_text()
    );
}
