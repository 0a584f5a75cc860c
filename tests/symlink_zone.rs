//! A zone file that is a symbolic link (issue 12, item 7).
//!
//! A write replaces a zone file by renaming a new file over it; done to a
//! symlink, that turned the link into a regular file on the first write
//! and git recorded a type change. The decision: write through.
//!
//! - link to a file inside `zones_dir` (the git repository): the target is
//!   the zone's file for writing, locking, watching and committing; an
//!   UPDATE is NOERROR, the link stays a link, the target holds the record
//!   and the commit names the target;
//! - link to a file in an `[server] include_dirs` location: such a file
//!   cannot be committed, so writes are refused (UPDATE: SERVFAIL, REST:
//!   500) with a log line naming link and target; the file is unchanged
//!   and the zone is still answered.
//!
//! The UPDATE tests run the real binary as a child process (its log is
//! read), the REST one the in-process server; all over 127.0.0.1. Every
//! wait is bounded; only the processes started here are killed, by PID.

mod common;
mod rest_common;

use std::net::{Ipv4Addr, SocketAddr, UdpSocket};
use std::path::{Path, PathBuf};
use std::process::{Child, Command};
use std::time::{Duration, Instant};

use common::update::{git, head, run_bounded, text, txt_values};
use common::wire::{self, SECRET_B64};
use common::{a_addrs, query, rcode, simple_zone};
use hickory_proto::op::{Message, ResponseCode};
use hickory_proto::rr::RecordType;

/// A temp folder holding `zonewright.toml`, `zones/` (a git repository
/// with `example.com.zone` a symlink and `other.org.zone` a plain file)
/// and `shared/` (an include_dirs location).
struct Setup {
    top: tempfile::TempDir,
    /// `[git] acknowledge`, when not the default.
    acknowledge: Option<&'static str>,
    /// More config, appended (`[[zone]]` tables).
    extra: &'static str,
}

impl Setup {
    /// `example.com.zone` links to `target` (relative to `zones/`), where
    /// the zone is written; all of `zones/` is committed, the link as a
    /// link.
    fn new(target: &str) -> Setup {
        let top = tempfile::tempdir().unwrap();
        let s = Setup {
            top,
            acknowledge: None,
            extra: "",
        };
        for d in ["zones/data", "shared"] {
            std::fs::create_dir_all(s.top.path().join(d)).unwrap();
        }
        let zones = s.zones();
        std::fs::write(
            zones.join(target),
            simple_zone("example.com", 1, "192.0.2.80"),
        )
        .unwrap();
        std::os::unix::fs::symlink(target, zones.join("example.com.zone")).unwrap();
        std::fs::write(
            zones.join("other.org.zone"),
            simple_zone("other.org", 1, "192.0.2.90"),
        )
        .unwrap();
        s.git(&["init", "-q"]);
        s.git(&["add", "-A"]);
        s.git(&["commit", "-q", "-m", "zones, example.com by a symlink"]);
        s
    }

    fn zones(&self) -> PathBuf {
        self.top.path().join("zones")
    }

    fn shared(&self) -> PathBuf {
        self.top.path().join("shared")
    }

    fn git(&self, args: &[&str]) -> String {
        let o = run_bounded(
            Command::new("git")
                .arg("-C")
                .arg(self.zones())
                .args(["-c", "user.name=person", "-c", "user.email=p@test"])
                .args(args),
            "",
            Duration::from_secs(20),
        );
        assert!(o.status.success(), "git {args:?}: {}", text(&o));
        String::from_utf8_lossy(&o.stdout).into_owned()
    }

    fn link_target(&self) -> PathBuf {
        std::fs::read_link(self.zones().join("example.com.zone"))
            .expect("example.com.zone is still a symbolic link")
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
    fn start(setup: &Setup) -> Server {
        Server::start_serving(setup, &["example.com.", "other.org."])
    }

    /// [`Server::start`], ready once each of `zones` answers.
    fn start_serving(setup: &Setup, zones: &[&str]) -> Server {
        let mut last = String::new();
        for attempt in 0..5 {
            let port = UdpSocket::bind((Ipv4Addr::LOCALHOST, 0))
                .unwrap()
                .local_addr()
                .unwrap()
                .port();
            let addr = SocketAddr::from((Ipv4Addr::LOCALHOST, port));
            let config = setup.top.path().join("zonewright.toml");
            let ack = setup
                .acknowledge
                .map(|a| format!("acknowledge = \"{a}\"\n"))
                .unwrap_or_default();
            std::fs::write(
                &config,
                format!(
                    "listen = [\"{addr}\"]\nzones_dir = \"zones\"\n\
                     [server]\nudp_workers = 1\ninclude_dirs = [\"shared\"]\n\
                     [git]\nname = \"zonewright\"\nemail = \"zonewright@test\"\n{ack}\
                     [[key]]\nname = \"acme-key\"\nalgorithm = \"hmac-sha256\"\n\
                     secret = \"{SECRET_B64}\"\nrate_limit = \"off\"\n\
                     grant = [ {{ zone = \"example.com\", names = [\"_acme-challenge\"], types = [\"TXT\"] }},\n\
                     \x20         {{ zone = \"other.org\", names = [\"_acme-challenge\"], types = [\"TXT\"] }} ]\n{}",
                    setup.extra
                ),
            )
            .unwrap();
            let log = setup.top.path().join(format!("server-{attempt}.log"));
            let child = common::serve_command(&config, &log).spawn().unwrap();
            let mut s = Server { child, addr, log };
            let deadline = Instant::now() + Duration::from_secs(10);
            loop {
                if let Some(st) = s.child.try_wait().unwrap() {
                    last = format!("exited {st}: {}", s.log_text());
                    break;
                }
                let up = |zone: &str| {
                    let probe = query(zone, RecordType::SOA).to_vec().unwrap();
                    s.udp_wait(&probe, Duration::from_millis(200))
                        .is_some_and(|m| rcode(&m) == ResponseCode::NoError)
                };
                if zones.iter().all(|z| up(z)) {
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

    /// One UDP exchange; `None` without an answer within `wait`.
    fn udp_wait(&self, bytes: &[u8], wait: Duration) -> Option<Message> {
        let sock = UdpSocket::bind((Ipv4Addr::LOCALHOST, 0)).unwrap();
        sock.set_read_timeout(Some(wait)).unwrap();
        sock.send_to(bytes, self.addr).unwrap();
        let mut buf = vec![0u8; 65535];
        let (n, _) = sock.recv_from(&mut buf).ok()?;
        Message::from_vec(&buf[..n]).ok()
    }

    /// One UDP exchange; `None` without an answer within 3 s.
    fn udp_raw(&self, bytes: &[u8]) -> Option<Message> {
        self.udp_wait(bytes, Duration::from_secs(3))
    }

    fn udp(&self, msg: &Message) -> Option<Message> {
        self.udp_raw(&msg.to_vec().unwrap())
    }

    fn a(&self, name: &str) -> Vec<Ipv4Addr> {
        let resp = self
            .udp(&query(name, RecordType::A))
            .unwrap_or_else(|| panic!("no answer for {name}: {}", self.log_text()));
        a_addrs(&resp)
    }

    /// A signed UPDATE adding `_acme-challenge.ZONE. 60 TXT "value"`: its rcode.
    fn add_txt(&self, zone: &str, value: &str) -> ResponseCode {
        let owner = format!("_acme-challenge.{zone}");
        let body = wire::update(0x5a5a, zone, None, &owner, 1, Some(value));
        let signed = wire::signed(&body, &wire::key("acme-key."), wire::now()).0;
        let resp = self
            .udp_raw(&signed)
            .unwrap_or_else(|| panic!("UPDATE of {zone} not answered: {}", self.log_text()));
        rcode(&resp)
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
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Polls (up to 10 s) until `ok` holds.
fn eventually(what: &str, mut ok: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while !ok() {
        assert!(Instant::now() < deadline, "not within 10 s: {what}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Polls until `git status --porcelain` in `zones` is empty.
fn eventually_clean(zones: &Path) {
    eventually("git status clean", || {
        git(zones, &["status", "--porcelain"]).is_empty()
    });
}

/// An UPDATE to other.org answered NOERROR and written through the link
/// `other.org.zone -> target`: the link stays a link, the target has it.
fn written_through_link(server: &Server, zones: &Path, target: &str, value: &str) {
    answered(server, "other.org", value);
    assert_eq!(
        std::fs::read_link(zones.join("other.org.zone")).ok(),
        Some(PathBuf::from(target)),
        "the link stays a link"
    );
    let text = std::fs::read_to_string(zones.join(target)).unwrap();
    assert!(text.contains(value), "{text}");
}

/// A zone file of relative names (any origin can read it): third.net's,
/// or one two zones share.
const RELATIVE_ZONE: &str =
    "$TTL 300\n@ IN SOA ns1 hostmaster 5 3600 900 604800 300\n@ IN NS ns1\nns1 IN A 192.0.2.53\n";

/// An UPDATE adding `value` to `zone`, answered NOERROR.
fn answered(server: &Server, zone: &str, value: &str) {
    assert_eq!(
        server.add_txt(zone, value),
        ResponseCode::NoError,
        "{}",
        server.log_text()
    );
}

/// An UPDATE to other.org answered SERVFAIL, with a log line holding
/// every one of `why`.
fn refused(server: &Server, value: &str, why: &[&str]) {
    assert_eq!(
        server.add_txt("other.org", value),
        ResponseCode::ServFail,
        "{}",
        server.log_text()
    );
    assert!(server.wait_log(why).is_some(), "{}", server.log_text());
}

/// Holds the current branch's ref lock open (a live process's: git
/// commits fail) until the file is dropped; returns it and its path.
fn hold_ref_lock(zones: &Path) -> (std::fs::File, PathBuf) {
    let branch = git(zones, &["symbolic-ref", "--short", "HEAD"]);
    let lock_path = zones
        .join(".git/refs/heads")
        .join(format!("{}.lock", branch.trim()));
    (std::fs::File::create(&lock_path).unwrap(), lock_path)
}

#[test]
fn a_zone_file_linked_inside_zones_dir_is_written_through() {
    let setup = Setup::new("data/example.com.db");
    let zones = setup.zones();
    let server = Server::start(&setup);
    answered(&server, "example.com", "through-the-link");
    // The link is still the link; the target has the record.
    assert_eq!(setup.link_target(), Path::new("data/example.com.db"));
    let target = std::fs::read_to_string(zones.join("data/example.com.db")).unwrap();
    assert!(target.contains("through-the-link"), "{target}");
    let resp = server
        .udp(&query("_acme-challenge.example.com.", RecordType::TXT))
        .expect("TXT answer");
    assert_eq!(txt_values(&resp), ["through-the-link"]);
    // Locked beside the target, not the link.
    assert!(zones.join("data/.example.com.db.lock").exists());
    assert!(!zones.join(".example.com.zone.lock").exists());
    // The commit names the target only; git still has the link as a link.
    eventually("the write's commit", || {
        git(&zones, &["log", "-1", "--format=%an"]).trim() == "acme-key"
    });
    let stat = git(&zones, &["log", "-1", "--stat", "--format="]);
    assert!(stat.contains("data/example.com.db"), "{stat}");
    assert!(!stat.contains("example.com.zone"), "{stat}");
    let tree = git(&zones, &["ls-tree", "HEAD", "example.com.zone"]);
    assert!(tree.starts_with("120000 "), "not a link in git: {tree}");
    assert_eq!(git(&zones, &["status", "--porcelain"]), "");

    // A person's edit of the target is followed (the stat pass), and the
    // next write goes on top of it, through the link again.
    let edited = format!(
        "{}_acme-challenge IN TXT \"through-the-link\"\n",
        simple_zone("example.com", 5, "192.0.2.99")
    );
    let tmp = zones.join("data/.example.com.db.new");
    std::fs::write(&tmp, edited).unwrap();
    std::fs::rename(&tmp, zones.join("data/example.com.db")).unwrap();
    eventually("the edited target served", || {
        server.a("www.example.com.") == [Ipv4Addr::new(192, 0, 2, 99)]
    });
    assert_eq!(
        server.add_txt("example.com", "second"),
        ResponseCode::NoError
    );
    assert_eq!(setup.link_target(), Path::new("data/example.com.db"));
    let target = std::fs::read_to_string(zones.join("data/example.com.db")).unwrap();
    assert!(
        target.contains("192.0.2.99") && target.contains("\"second\""),
        "{target}"
    );
}

#[test]
fn a_zone_file_linked_into_include_dirs_is_served_but_not_written() {
    let setup = Setup::new("../shared/example.com.zone");
    let zones = setup.zones();
    let target = setup.shared().join("example.com.zone");
    let before = std::fs::read(&target).unwrap();
    let head_before = head(&zones);
    let server = Server::start(&setup);
    assert_eq!(
        server.add_txt("example.com", "refused"),
        ResponseCode::ServFail,
        "{}",
        server.log_text()
    );
    // One log line names the link and the target.
    let link = zones.join("example.com.zone").display().to_string();
    let logged = server.wait_log(&[&link, "is a symbolic link to", "shared/example.com.zone"]);
    assert!(logged.is_some(), "{}", server.log_text());
    // Nothing changed: the target, the link, git.
    assert_eq!(std::fs::read(&target).unwrap(), before);
    assert_eq!(setup.link_target(), Path::new("../shared/example.com.zone"));
    assert_eq!(head(&zones), head_before);
    // Still answered; other zones still written.
    assert_eq!(server.a("www.example.com."), [Ipv4Addr::new(192, 0, 2, 80)]);
    let resp = server
        .udp(&query("_acme-challenge.example.com.", RecordType::TXT))
        .expect("TXT answer");
    assert_eq!(rcode(&resp), ResponseCode::NXDomain);
    assert_eq!(
        server.add_txt("other.org", "plain-file"),
        ResponseCode::NoError
    );
}

/// The REST API maps the refusal as it maps any store failure: 500, the
/// body saying nothing changed; reads keep working.
#[test]
fn rest_writes_to_a_zone_linked_into_include_dirs_answer_500() {
    use rest_common::{Rest, ZONE, rest_config, service_zone};
    let extra = format!(
        "[server]\nudp_workers = 2\ninclude_dirs = [\"shared\"]\n{}",
        rest_config(&[ZONE], "rate_limit = 0")
    );
    let zone = service_zone(ZONE);
    let s = common::TestServer::start_prepared(&[("service.local.zone", &zone)], &extra, |zones| {
        let shared = zones.parent().unwrap().join("shared");
        std::fs::create_dir(&shared).unwrap();
        std::fs::rename(
            zones.join("service.local.zone"),
            shared.join("service.local.zone"),
        )
        .unwrap();
        std::os::unix::fs::symlink(
            "../shared/service.local.zone",
            zones.join("service.local.zone"),
        )
        .unwrap();
    });
    let api = Rest::new(&s);
    let target = s.dir.path().join("shared/service.local.zone");
    let before = std::fs::read(&target).unwrap();
    let r = api.put("/v1/services/valkey", r#"{"records":["10.0.0.12"]}"#);
    assert_eq!(r.status, 500, "{}", r.text);
    assert!(
        r.body["error"]
            .as_str()
            .is_some_and(|m| m.contains("nothing was changed")),
        "{}",
        r.text
    );
    assert_eq!(std::fs::read(&target).unwrap(), before);
    assert!(
        std::fs::symlink_metadata(s.zones_dir().join("service.local.zone"))
            .unwrap()
            .file_type()
            .is_symlink()
    );
    let got = api.get("/v1/services/mail");
    assert_eq!(got.status, 200, "{}", got.text);
    assert_eq!(
        a_addrs(&s.udp(&query("mail.service.local.", RecordType::A))),
        [Ipv4Addr::new(192, 0, 2, 25)]
    );
}

/// A zone file swapped for a link out of `zones_dir` (refused: the last
/// good version stays served), then put back as a plain file with a new
/// serial: the plain file is served and written again. The slot kept the
/// link's source (read-only, the outside path) while the store took the
/// edit in, so every UPDATE failed naming the link, until a restart
/// (outside attack finding).
#[test]
fn a_zone_file_linked_out_and_put_back_is_served_and_written_again() {
    let setup = Setup::new("data/example.com.db");
    let zones = setup.zones();
    let outside = setup.top.path().join("outside");
    std::fs::create_dir(&outside).unwrap();
    std::fs::write(
        outside.join("other.org.db"),
        simple_zone("other.org", 2, "192.0.2.66"),
    )
    .unwrap();
    let server = Server::start(&setup);
    assert_eq!(server.a("www.other.org."), [Ipv4Addr::new(192, 0, 2, 90)]);
    let swap = zones.join(".swap");
    std::os::unix::fs::symlink(outside.join("other.org.db"), &swap).unwrap();
    std::fs::rename(&swap, zones.join("other.org.zone")).unwrap();
    assert!(
        server.wait_log(&["other.org", "outside"]).is_some(),
        "the link out is refused: {}",
        server.log_text()
    );
    assert_eq!(server.a("www.other.org."), [Ipv4Addr::new(192, 0, 2, 90)]);
    // A plain file again, with a higher serial and a new address.
    std::fs::write(&swap, simple_zone("other.org", 3, "192.0.2.91")).unwrap();
    std::fs::rename(&swap, zones.join("other.org.zone")).unwrap();
    eventually("the plain file served", || {
        server.a("www.other.org.") == [Ipv4Addr::new(192, 0, 2, 91)]
    });
    answered(&server, "other.org", "back-in-zones-dir");
    let text = std::fs::read_to_string(zones.join("other.org.zone")).unwrap();
    assert!(text.contains("back-in-zones-dir"), "{text}");
    assert!(
        !std::fs::read_to_string(outside.join("other.org.db"))
            .unwrap()
            .contains("back-in-zones-dir"),
        "nothing written outside"
    );
}

/// A plain zone file replaced at runtime by a link to a file inside
/// `zones_dir`: served from the target, and written through the link
/// (the link stays a link), as a link found at start-up is.
#[test]
fn a_zone_file_linked_inside_at_runtime_is_written_through() {
    let setup = Setup::new("data/example.com.db");
    let zones = setup.zones();
    let server = Server::start(&setup);
    assert_eq!(server.a("www.other.org."), [Ipv4Addr::new(192, 0, 2, 90)]);
    std::fs::write(
        zones.join("data/other.org.db"),
        simple_zone("other.org", 2, "192.0.2.92"),
    )
    .unwrap();
    let swap = zones.join(".swap");
    std::os::unix::fs::symlink("data/other.org.db", &swap).unwrap();
    std::fs::rename(&swap, zones.join("other.org.zone")).unwrap();
    eventually("the link's target served", || {
        server.a("www.other.org.") == [Ipv4Addr::new(192, 0, 2, 92)]
    });
    written_through_link(&server, &zones, "data/other.org.db", "through-the-new-link");
    // git has the link as a link (not the old plain file, which a clone
    // would serve instead), and nothing is left for `git status`.
    eventually("the link committed", || {
        git(&zones, &["ls-tree", "HEAD", "other.org.zone"]).starts_with("120000 ")
    });
    assert_eq!(
        git(&zones, &["show", "HEAD:other.org.zone"]),
        "data/other.org.db"
    );
    eventually_clean(&zones);
    let log = git(&zones, &["log", "--format=%an|%B"]);
    assert!(
        log.contains("zonewright|other.org: external change: other.org.zone is a symbolic link to data/other.org.db"),
        "{log}"
    );
}

/// Outside attack, round 16: a zone file made a link while the server was
/// down is recorded as that link at start-up.
#[test]
fn a_zone_file_made_a_link_while_stopped_is_committed_as_a_link_at_start() {
    let setup = Setup::new("data/example.com.db");
    let zones = setup.zones();
    std::fs::rename(
        zones.join("other.org.zone"),
        zones.join("data/other.org.db"),
    )
    .unwrap();
    std::os::unix::fs::symlink("data/other.org.db", zones.join("other.org.zone")).unwrap();
    let server = Server::start(&setup);
    eventually("the link committed", || {
        git(&zones, &["ls-tree", "HEAD", "other.org.zone"]).starts_with("120000 ")
    });
    eventually_clean(&zones);
    assert_eq!(
        git(&zones, &["show", "HEAD:data/other.org.db"]),
        simple_zone("other.org", 1, "192.0.2.90")
    );
    // The link committed first by a person stays as it was: no commit.
    assert_eq!(
        git(&zones, &["log", "--format=%s", "--", "example.com.zone"])
            .lines()
            .count(),
        1
    );
    assert_eq!(server.a("www.other.org."), [Ipv4Addr::new(192, 0, 2, 90)]);
}

/// Outside attack, round 50: a zone named with `[[zone]] file` in
/// zones_dir (as the example config names its zones) that is a link was
/// committed as its target only, at start-up and when made one while the
/// server runs (HEAD kept the old plain file, `git status` showed `T`).
#[test]
fn a_zone_file_named_in_the_config_and_made_a_link_is_committed_as_a_link() {
    let mut setup = Setup::new("data/example.com.db");
    setup.extra = "[[zone]]\nname = \"other.org\"\nfile = \"other.org.zone\"\n\
                   [[zone]]\nname = \"example.com\"\nfile = \"example.com.zone\"\n";
    let zones = setup.zones();
    // At start-up: other.org.zone made a link to a copy while stopped.
    std::fs::copy(
        zones.join("other.org.zone"),
        zones.join("data/other.org.db"),
    )
    .unwrap();
    std::fs::remove_file(zones.join("other.org.zone")).unwrap();
    std::os::unix::fs::symlink("data/other.org.db", zones.join("other.org.zone")).unwrap();
    let server = Server::start(&setup);
    eventually("the link committed at start-up", || {
        git(&zones, &["ls-tree", "HEAD", "other.org.zone"]).starts_with("120000 ")
            && !git(&zones, &["ls-tree", "HEAD", "data/other.org.db"]).is_empty()
    });
    eventually_clean(&zones);
    // While running: put back as a plain file, committed, then a link to
    // another copy swapped in by rename.
    std::fs::remove_file(zones.join("other.org.zone")).unwrap();
    std::fs::copy(
        zones.join("data/other.org.db"),
        zones.join("other.org.zone"),
    )
    .unwrap();
    eventually("the plain file committed", || {
        git(&zones, &["ls-tree", "HEAD", "other.org.zone"]).starts_with("100644 ")
    });
    std::fs::copy(zones.join("other.org.zone"), zones.join("data/copy.db")).unwrap();
    std::os::unix::fs::symlink("data/copy.db", zones.join("x")).unwrap();
    std::fs::rename(zones.join("x"), zones.join("other.org.zone")).unwrap();
    eventually("the new link committed", || {
        git(&zones, &["ls-tree", "HEAD", "other.org.zone"]).starts_with("120000 ")
            && !git(&zones, &["ls-tree", "HEAD", "data/copy.db"]).is_empty()
    });
    eventually_clean(&zones);
    assert_eq!(server.a("www.other.org."), [Ipv4Addr::new(192, 0, 2, 90)]);
}

/// A zone file a person deletes while the server runs: the zone is no
/// longer served, and git records the deletion (a clone would otherwise
/// serve it again), after the writes answered before it.
#[test]
fn a_zone_file_deleted_at_runtime_is_removed_in_git() {
    let setup = Setup::new("data/example.com.db");
    let zones = setup.zones();
    let server = Server::start(&setup);
    assert_eq!(
        server.add_txt("other.org", "before-the-deletion"),
        ResponseCode::NoError
    );
    std::fs::remove_file(zones.join("other.org.zone")).unwrap();
    eventually("other.org no longer served", || {
        server
            .udp(&query("www.other.org.", RecordType::A))
            .is_some_and(|m| rcode(&m) == ResponseCode::Refused)
    });
    eventually("the deletion committed", || {
        git(&zones, &["ls-tree", "HEAD", "other.org.zone"]).is_empty()
    });
    eventually_clean(&zones);
    let log = git(&zones, &["log", "--format=%an|%s", "--", "other.org.zone"]);
    let lines: Vec<&str> = log.lines().collect();
    assert_eq!(
        lines.first().copied(),
        Some("zonewright|other.org: external change: other.org.zone deleted"),
        "{log}"
    );
    // The write answered before the deletion is in the history, before it.
    assert!(
        lines.get(1).is_some_and(|l| l.starts_with("acme-key|")),
        "{log}"
    );
    let body = git(&zones, &["log", "-1", "--format=%B"]);
    assert!(body.contains("Via: external"), "{body}");
    // The other zone is untouched, and still written.
    assert_eq!(
        server.add_txt("example.com", "still-written"),
        ResponseCode::NoError
    );
    // Outside attack, round 19: put back as an older copy (serial 1, a
    // new address, without the write answered before the deletion). It
    // is taken in over the version served before the deletion, like any
    // edit: the write is re-applied and the serial raised above it (the
    // copy was served as it was, the write lost and the serial reused).
    std::fs::write(
        zones.join("other.org.zone"),
        simple_zone("other.org", 1, "192.0.2.91"),
    )
    .unwrap();
    eventually("other.org served again", || {
        server.a("www.other.org.") == [Ipv4Addr::new(192, 0, 2, 91)]
    });
    eventually("the answered write re-applied", || {
        server
            .udp(&query("_acme-challenge.other.org.", RecordType::TXT))
            .is_some_and(|m| txt_values(&m) == ["before-the-deletion"])
    });
    let text = std::fs::read_to_string(zones.join("other.org.zone")).unwrap();
    assert!(text.contains("before-the-deletion"), "{text}");
    let soa = server
        .udp(&query("other.org.", RecordType::SOA))
        .expect("SOA answer");
    let serial = common::soa_serial(&soa);
    assert!(serial.is_some_and(|s| s > 2), "serial {serial:?}");
    eventually_clean(&zones);
}

/// A zone file deleted while the server was down, and one renamed (the
/// zone found under another file name): HEAD loses the old names at start.
#[test]
fn zone_files_deleted_or_renamed_while_stopped_leave_git_at_start() {
    let setup = Setup::new("data/example.com.db");
    let zones = setup.zones();
    std::fs::remove_file(zones.join("other.org.zone")).unwrap();
    let server = Server::start_serving(&setup, &["example.com."]);
    eventually("the deletion committed", || {
        git(&zones, &["ls-tree", "HEAD", "other.org.zone"]).is_empty()
    });
    eventually_clean(&zones);
    assert_eq!(
        git(&zones, &["log", "-1", "--format=%s"]).trim(),
        "other.org: external change: other.org.zone deleted"
    );
    // Renamed at runtime: the new name is committed, the old one removed.
    std::fs::write(
        zones.join("third.net.zone"),
        simple_zone("third.net", 1, "192.0.2.30"),
    )
    .unwrap();
    eventually("third.net committed", || {
        !git(&zones, &["ls-tree", "HEAD", "third.net.zone"]).is_empty()
    });
    std::fs::rename(zones.join("third.net.zone"), zones.join("THIRD.net.zone")).unwrap();
    eventually("the old name removed", || {
        git(&zones, &["ls-tree", "HEAD", "third.net.zone"]).is_empty()
            && !git(&zones, &["ls-tree", "HEAD", "THIRD.net.zone"]).is_empty()
    });
    eventually_clean(&zones);
    assert_eq!(server.a("www.third.net."), [Ipv4Addr::new(192, 0, 2, 30)]);
}

/// Outside attack, round 17: a zone file moved aside and replaced by a
/// link to it (`mv a.zone a.db; ln -s a.db a.zone`: the same text, the
/// same inode) was committed as a link without its target, and the next
/// UPDATE replaced the link with a plain file.
#[test]
fn a_zone_file_moved_aside_and_linked_stays_a_link_and_its_target_is_committed() {
    let setup = Setup::new("data/example.com.db");
    let zones = setup.zones();
    let server = Server::start(&setup);
    std::fs::rename(zones.join("other.org.zone"), zones.join("other.org.db")).unwrap();
    std::os::unix::fs::symlink("other.org.db", zones.join("other.org.zone")).unwrap();
    eventually("the link and its target committed", || {
        git(&zones, &["ls-tree", "HEAD", "other.org.zone"]).starts_with("120000 ")
            && !git(&zones, &["ls-tree", "HEAD", "other.org.db"]).is_empty()
    });
    written_through_link(&server, &zones, "other.org.db", "through-the-moved-file");
    eventually_clean(&zones);
}

/// Outside attack, round 17: a deletion git could not commit then (a ref
/// lock a live process holds) was never tried again while the server ran.
#[test]
fn a_deletion_git_refused_is_committed_once_git_takes_it() {
    let setup = Setup::new("data/example.com.db");
    let zones = setup.zones();
    let server = Server::start(&setup);
    let (lock, lock_path) = hold_ref_lock(&zones);
    std::fs::remove_file(zones.join("other.org.zone")).unwrap();
    assert!(
        server
            .wait_log(&["cannot commit zone files deleted", "trying again"])
            .is_some(),
        "{}",
        server.log_text()
    );
    assert!(!git(&zones, &["ls-tree", "HEAD", "other.org.zone"]).is_empty());
    drop(lock);
    std::fs::remove_file(&lock_path).unwrap();
    eventually("the deletion committed", || {
        git(&zones, &["ls-tree", "HEAD", "other.org.zone"]).is_empty()
    });
    eventually_clean(&zones);
}

/// Outside attack, round 17: in `acknowledge = "log"` mode, a write
/// answered but not yet committed when the server was killed, to a zone
/// whose file was then deleted while it was down, was set aside at
/// start-up (never in git), and the deletion committed. The write is now
/// committed under its writer first, then the deletion.
#[test]
fn a_logged_write_to_a_zone_deleted_while_stopped_is_committed_before_the_deletion() {
    let mut setup = Setup::new("data/example.com.db");
    setup.acknowledge = Some("log");
    let zones = setup.zones();
    let server = Server::start(&setup);
    let (lock, lock_path) = hold_ref_lock(&zones);
    answered(&server, "other.org", "answered-from-the-log");
    drop(server); // SIGKILL, before git could take the commit
    drop(lock);
    std::fs::remove_file(&lock_path).unwrap();
    std::fs::remove_file(zones.join("other.org.zone")).unwrap();
    let server = Server::start_serving(&setup, &["example.com."]);
    eventually("the deletion committed", || {
        git(&zones, &["ls-tree", "HEAD", "other.org.zone"]).is_empty()
    });
    let log = git(&zones, &["log", "--format=%an|%s", "--", "other.org.zone"]);
    let lines: Vec<&str> = log.lines().collect();
    assert!(
        lines
            .first()
            .is_some_and(|l| l.ends_with("other.org.zone deleted")),
        "{log}"
    );
    assert!(
        lines.get(1).is_some_and(|l| l.starts_with("acme-key|")),
        "the answered write, under its writer, before the deletion: {log}\n{}",
        server.log_text()
    );
    let diff = git(&zones, &["log", "-p", "--", "other.org.zone"]);
    assert!(diff.contains("+_acme-challenge"), "{diff}");
    assert!(diff.contains("answered-from-the-log"), "{diff}");
    assert!(
        !server.log_text().contains("set aside"),
        "{}",
        server.log_text()
    );
}

/// Outside attack, round 15: `zones_dir` a symbolic link, pointed at
/// another folder while the server runs: every write was refused, and
/// rollbacks left serial bumps in the new folder. The server now keeps
/// the folder (and repository) it started on until it restarts, and a
/// config reload says so.
#[test]
fn zones_dir_linked_and_pointed_elsewhere_keeps_the_folder_it_started_on() {
    let setup = Setup::new("data/example.com.db");
    let top = setup.top.path().to_path_buf();
    std::fs::rename(top.join("zones"), top.join("real")).unwrap();
    std::os::unix::fs::symlink("real", top.join("zones")).unwrap();
    let server = Server::start(&setup);
    let clone = run_bounded(
        Command::new("git")
            .arg("clone")
            .arg("-q")
            .arg(top.join("real"))
            .arg(top.join("other")),
        "",
        Duration::from_secs(20),
    );
    assert!(clone.status.success(), "{}", text(&clone));
    let other_before = std::fs::read(top.join("other/other.org.zone")).unwrap();
    std::os::unix::fs::symlink("other", top.join("swap")).unwrap();
    std::fs::rename(top.join("swap"), top.join("zones")).unwrap();
    answered(&server, "other.org", "after-the-repoint");
    let real = std::fs::read_to_string(top.join("real/other.org.zone")).unwrap();
    assert!(real.contains("after-the-repoint"), "{real}");
    assert_eq!(
        std::fs::read(top.join("other/other.org.zone")).unwrap(),
        other_before,
        "the other folder is left alone"
    );
    eventually("the write committed in the folder started on", || {
        git(&top.join("real"), &["log", "-1", "--format=%an"]).trim() == "acme-key"
    });
    // Still served from there after a full pass.
    std::thread::sleep(Duration::from_millis(1500));
    let resp = server
        .udp(&query("_acme-challenge.other.org.", RecordType::TXT))
        .expect("TXT answer");
    assert_eq!(txt_values(&resp), ["after-the-repoint"]);
    // A config reload says the change waits for a restart.
    let hup = Command::new("kill")
        .args(["-HUP", &server.child.id().to_string()])
        .status()
        .unwrap();
    assert!(hup.success());
    assert!(
        server
            .wait_log(&["zones_dir changed", "next restart"])
            .is_some(),
        "{}",
        server.log_text()
    );
}

/// Outside attack, round 18: an UPDATE right after `mv a.zone a.db; ln -s
/// a.db a.zone`, before any reload saw the link, replaced the link with
/// a plain file (and left a.db stale and untracked).
#[test]
fn a_write_right_after_a_zone_file_becomes_a_link_goes_through_it() {
    let setup = Setup::new("data/example.com.db");
    let zones = setup.zones();
    let server = Server::start(&setup);
    std::fs::rename(zones.join("other.org.zone"), zones.join("other.org.db")).unwrap();
    std::os::unix::fs::symlink("other.org.db", zones.join("other.org.zone")).unwrap();
    written_through_link(&server, &zones, "other.org.db", "at-once");
    eventually("the link and its target committed", || {
        git(&zones, &["ls-tree", "HEAD", "other.org.zone"]).starts_with("120000 ")
            && git(&zones, &["show", "HEAD:other.org.db"]).contains("at-once")
    });
    eventually_clean(&zones);
}

/// Outside attack, round 18: a chain of links (`a.zone -> a.l1 ->
/// data/a.db`) was committed without the link in the middle; a zone file
/// replaced by a dangling link stayed in HEAD as the old file; a link
/// into `.git` was served.
#[test]
fn link_chains_dangling_links_and_links_into_git_are_recorded_or_refused() {
    let setup = Setup::new("data/example.com.db");
    let zones = setup.zones();
    let server = Server::start(&setup);
    std::fs::rename(
        zones.join("other.org.zone"),
        zones.join("data/other.org.db"),
    )
    .unwrap();
    std::os::unix::fs::symlink("data/other.org.db", zones.join("other.org.l1")).unwrap();
    std::os::unix::fs::symlink("other.org.l1", zones.join(".swap")).unwrap();
    std::fs::rename(zones.join(".swap"), zones.join("other.org.zone")).unwrap();
    eventually("the chain committed", || {
        git(&zones, &["ls-tree", "HEAD", "other.org.zone"]).starts_with("120000 ")
            && git(&zones, &["ls-tree", "HEAD", "other.org.l1"]).starts_with("120000 ")
            && !git(&zones, &["ls-tree", "HEAD", "data/other.org.db"]).is_empty()
    });
    eventually_clean(&zones);
    assert_eq!(server.a("www.other.org."), [Ipv4Addr::new(192, 0, 2, 90)]);

    // Dangling: no longer served, and HEAD has the link (a clone serves
    // no other.org either), not the old file.
    std::os::unix::fs::symlink("nowhere.db", zones.join(".swap")).unwrap();
    std::fs::rename(zones.join(".swap"), zones.join("other.org.zone")).unwrap();
    eventually("other.org no longer served", || {
        server
            .udp(&query("www.other.org.", RecordType::A))
            .is_some_and(|m| rcode(&m) == ResponseCode::Refused)
    });
    eventually("the dangling link committed", || {
        git(&zones, &["show", "HEAD:other.org.zone"]) == "nowhere.db"
    });
    eventually_clean(&zones);

    // Into git's own folder: refused like a link out of zones_dir.
    std::fs::write(
        zones.join(".git/evil.db"),
        simple_zone("other.org", 7, "192.0.2.66"),
    )
    .unwrap();
    std::os::unix::fs::symlink(".git/evil.db", zones.join(".swap")).unwrap();
    std::fs::rename(zones.join(".swap"), zones.join("other.org.zone")).unwrap();
    assert!(
        server.wait_log(&["git's own folder", "refused"]).is_some(),
        "{}",
        server.log_text()
    );
    let resp = server
        .udp(&query("www.other.org.", RecordType::A))
        .expect("answer");
    assert_ne!(a_addrs(&resp), [Ipv4Addr::new(192, 0, 2, 66)], "not served");
    // The link itself is recorded (a clone serves no other.org either);
    // nothing in .git is.
    eventually("the refused link committed", || {
        git(&zones, &["show", "HEAD:other.org.zone"]) == ".git/evil.db"
    });
    eventually_clean(&zones);
}

/// Outside attack, round 19: a zone link pointed at another file while
/// writes stream in: a write could take the change in before the reload
/// saw it, and the new link was never committed (HEAD kept the old one).
#[test]
fn a_zone_link_pointed_elsewhere_under_writes_is_committed() {
    let setup = Setup::new("data/example.com.db");
    let zones = setup.zones();
    let server = Server::start(&setup);
    std::fs::copy(
        zones.join("data/example.com.db"),
        zones.join("data/example.com.2.db"),
    )
    .unwrap();
    assert_eq!(
        server.add_txt("example.com", "before"),
        ResponseCode::NoError
    );
    std::os::unix::fs::symlink("data/example.com.2.db", zones.join(".swap")).unwrap();
    std::fs::rename(zones.join(".swap"), zones.join("example.com.zone")).unwrap();
    assert_eq!(
        server.add_txt("example.com", "after"),
        ResponseCode::NoError
    );
    // Round 20: written through the link as it is now, at once (not to
    // the old target until a reload saw the change).
    let old = std::fs::read_to_string(zones.join("data/example.com.db")).unwrap();
    assert!(!old.contains("\"after\""), "{old}");
    eventually("the new link committed", || {
        git(&zones, &["show", "HEAD:example.com.zone"]) == "data/example.com.2.db"
    });
    eventually_clean(&zones);
    let resp = server
        .udp(&query("_acme-challenge.example.com.", RecordType::TXT))
        .expect("TXT answer");
    let served = txt_values(&resp);
    assert!(served.contains(&"after".to_string()), "{served:?}");
    let text = std::fs::read_to_string(zones.join("data/example.com.2.db")).unwrap();
    assert!(text.contains("\"after\""), "{text}");
}

/// Outside attack, round 18: a zone file linked to another zone's file
/// (`other.org.zone -> example.com.zone`): a write to other.org would
/// change the file of example.com. Writes to it are refused.
#[test]
fn a_zone_file_linked_to_another_zones_file_is_not_written() {
    let setup = Setup::new("data/example.com.db");
    let zones = setup.zones();
    std::fs::write(
        zones.join("third.net.zone"),
        "$TTL 300\n@ IN SOA ns1 hostmaster 1 3600 900 604800 300\n@ IN NS ns1\nns1 IN A 192.0.2.53\n",
    )
    .unwrap();
    let server = Server::start(&setup);
    let before = std::fs::read(zones.join("third.net.zone")).unwrap();
    std::fs::remove_file(zones.join("other.org.zone")).unwrap();
    std::os::unix::fs::symlink("third.net.zone", zones.join("other.org.zone")).unwrap();
    eventually("other.org served from the linked file", || {
        server
            .udp(&query("ns1.other.org.", RecordType::A))
            .is_some_and(|m| a_addrs(&m) == [Ipv4Addr::new(192, 0, 2, 53)])
    });
    refused(
        &server,
        "not-into-third-net",
        &["the file of zone third.net", "refused"],
    );
    std::thread::sleep(Duration::from_millis(1500));
    assert_eq!(std::fs::read(zones.join("third.net.zone")).unwrap(), before);
    assert!(
        std::fs::symlink_metadata(zones.join("other.org.zone"))
            .unwrap()
            .file_type()
            .is_symlink()
    );
    // git has the link, as the disk does.
    eventually("the link committed", || {
        git(&zones, &["show", "HEAD:other.org.zone"]) == "third.net.zone"
    });
    eventually_clean(&zones);
}

/// Outside attack, round 18: in `acknowledge = "log"` mode, a write
/// committed before a kill -9, its zone file renamed while the server was
/// down: start-up committed the write a second time, creating the new
/// file under the key's name.
#[test]
fn a_rename_while_stopped_does_not_commit_a_logged_write_again() {
    let mut setup = Setup::new("data/example.com.db");
    setup.acknowledge = Some("log");
    let zones = setup.zones();
    let server = Server::start(&setup);
    assert_eq!(server.add_txt("other.org", "once"), ResponseCode::NoError);
    eventually("the write committed", || {
        git(&zones, &["log", "-1", "--format=%an"]).trim() == "acme-key"
    });
    drop(server); // SIGKILL: the log may still hold the record
    std::fs::rename(zones.join("other.org.zone"), zones.join("OTHER.org.zone")).unwrap();
    let server = Server::start(&setup);
    eventually("the rename committed", || {
        git(&zones, &["ls-tree", "HEAD", "other.org.zone"]).is_empty()
            && !git(&zones, &["ls-tree", "HEAD", "OTHER.org.zone"]).is_empty()
    });
    eventually_clean(&zones);
    let authors = git(&zones, &["log", "--format=%an"]);
    assert_eq!(
        authors.lines().filter(|a| *a == "acme-key").count(),
        1,
        "{authors}\n{}",
        server.log_text()
    );
}

/// Outside attack, round 19: two zone files linked to one file: a key
/// granted one of the zones changed the other's data through it. A write
/// to a file another zone reads is refused.
#[test]
fn a_file_two_zones_read_is_not_written_for_either() {
    let setup = Setup::new("data/example.com.db");
    let zones = setup.zones();
    let relative = RELATIVE_ZONE;
    std::fs::write(zones.join("data/shared.db"), relative).unwrap();
    std::fs::remove_file(zones.join("other.org.zone")).unwrap();
    std::os::unix::fs::symlink("data/shared.db", zones.join("other.org.zone")).unwrap();
    std::os::unix::fs::symlink("data/shared.db", zones.join("third.net.zone")).unwrap();
    let server = Server::start_serving(&setup, &["example.com.", "other.org.", "third.net."]);
    refused(
        &server,
        "into-third-net",
        &["is read by zone third.net", "refused"],
    );
    assert_eq!(
        std::fs::read_to_string(zones.join("data/shared.db")).unwrap(),
        relative
    );
    let resp = server
        .udp(&query("_acme-challenge.third.net.", RecordType::TXT))
        .expect("answer");
    assert!(txt_values(&resp).is_empty());
}

/// Outside attack, round 20: a file two zones include (`$INCLUDE
/// common.inc` in both): a write to one changed the other. Refused.
#[test]
fn a_file_two_zones_include_is_not_written_for_either() {
    let setup = Setup::new("data/example.com.db");
    let zones = setup.zones();
    let common = RELATIVE_ZONE;
    std::fs::write(zones.join("common.inc"), common).unwrap();
    for zone in ["other.org", "third.net"] {
        std::fs::write(
            zones.join(format!("{zone}.zone")),
            format!("$ORIGIN {zone}.\n$INCLUDE common.inc\n"),
        )
        .unwrap();
    }
    let server = Server::start_serving(&setup, &["example.com.", "other.org.", "third.net."]);
    refused(
        &server,
        "into-third-net",
        &["common.inc is read by zone third.net", "refused"],
    );
    assert_eq!(
        std::fs::read_to_string(zones.join("common.inc")).unwrap(),
        common
    );
}

/// Outside attack, round 20: a zone file deleted and put back unchanged
/// was served but never committed again (HEAD's last word was its
/// deletion).
#[test]
fn a_zone_file_deleted_and_put_back_unchanged_is_committed_again() {
    let setup = Setup::new("data/example.com.db");
    let zones = setup.zones();
    let server = Server::start(&setup);
    let text = std::fs::read(zones.join("other.org.zone")).unwrap();
    std::fs::remove_file(zones.join("other.org.zone")).unwrap();
    eventually("the deletion committed", || {
        git(&zones, &["ls-tree", "HEAD", "other.org.zone"]).is_empty()
    });
    std::fs::write(zones.join("other.org.zone"), &text).unwrap();
    eventually("committed again", || {
        !git(&zones, &["ls-tree", "HEAD", "other.org.zone"]).is_empty()
    });
    eventually_clean(&zones);
    assert_eq!(server.a("www.other.org."), [Ipv4Addr::new(192, 0, 2, 90)]);
}

/// Outside attack, round 21: a zone file edited to include another
/// zone's file, and a write at once (before the reload saw the edit):
/// the write changed the other zone's file. Refused either way.
#[test]
fn a_write_right_after_an_edit_that_includes_another_zones_file_is_refused() {
    let setup = Setup::new("data/example.com.db");
    let zones = setup.zones();
    let third = RELATIVE_ZONE;
    std::fs::write(zones.join("third.net.zone"), third).unwrap();
    let server = Server::start_serving(&setup, &["example.com.", "other.org.", "third.net."]);
    std::fs::write(
        zones.join(".swap"),
        "$ORIGIN other.org.\n$INCLUDE third.net.zone\n",
    )
    .unwrap();
    std::fs::rename(zones.join(".swap"), zones.join("other.org.zone")).unwrap();
    refused(
        &server,
        "into-third-net",
        &["third.net.zone is read by zone third.net", "refused"],
    );
    std::thread::sleep(Duration::from_millis(1500));
    assert_eq!(
        std::fs::read_to_string(zones.join("third.net.zone")).unwrap(),
        third
    );
}

/// Outside attack, round 21 (left open then): a write answered through
/// the zone's link, then the link pointed at another file while the
/// server is down. The write is in the old target (log mode, `kill -9`:
/// only there and in the write log). Start-up commits it under its
/// writer, in the file it went to, then takes the new target in against
/// that version, as any file edited while the server was down: the write
/// the new target lacks is re-applied. Before, the new target was
/// compared with HEAD's version of itself (none), so it was served as
/// found and committed under the writer's name, and the write was left
/// out of git.
#[test]
fn a_write_then_the_link_pointed_elsewhere_while_stopped_is_kept() {
    // The new target a new file, or one HEAD holds unchanged (round 22:
    // start-up then took the zone for unchanged and served the old copy).
    for (ack, tracked) in [
        (Some("log"), false),
        (None, false),
        (Some("log"), true),
        (None, true),
    ] {
        let mut setup = Setup::new("data/example.com.db");
        setup.acknowledge = ack;
        let zones = setup.zones();
        let new_target = || {
            let text = std::fs::read_to_string(zones.join("data/example.com.db")).unwrap();
            std::fs::write(
                zones.join("data/new.db"),
                text.replace("192.0.2.80", "192.0.2.81"),
            )
            .unwrap();
        };
        if tracked {
            new_target();
            setup.git(&["add", "data/new.db"]);
            setup.git(&["commit", "-q", "-m", "an older copy"]);
        }
        let server = Server::start(&setup);
        // Log mode: the commit held off, so only the log has the write.
        let held = ack.map(|_| hold_ref_lock(&zones));
        answered(&server, "example.com", "answered-before-the-repoint");
        drop(server); // SIGKILL
        if let Some((lock, lock_path)) = held {
            drop(lock);
            std::fs::remove_file(&lock_path).unwrap();
        }
        // The person's new target: the zone as first committed, another
        // address.
        if !tracked {
            let first = git(&zones, &["rev-list", "--max-parents=0", "HEAD"]);
            let committed = git(
                &zones,
                &["show", &format!("{}:data/example.com.db", first.trim())],
            );
            assert!(!committed.contains("answered-before-the-repoint"));
            std::fs::write(
                zones.join("data/new.db"),
                committed.replace("192.0.2.80", "192.0.2.81"),
            )
            .unwrap();
        }
        relink(&zones, "data/new.db");
        let server = Server::start(&setup);
        eventually_clean(&zones);
        let log = git(&zones, &["log", "--format=%an|%s", "--name-only"]);
        let writer = git(
            &zones,
            &[
                "log",
                "-p",
                "--author=acme-key",
                "--",
                "data/example.com.db",
            ],
        );
        assert!(
            writer.contains("answered-before-the-repoint"),
            "{ack:?} {tracked}: the answered write, under its writer, in the file it went to: \
             {log}\n{}",
            server.log_text()
        );
        let taken = git(
            &zones,
            &["log", "-1", "--format=%an|%s", "--", "data/new.db"],
        );
        assert!(
            taken.starts_with("zonewright|") && taken.contains("re-applied 1 write"),
            "{ack:?} {tracked}: {log}\n{}",
            server.log_text()
        );
        let new = std::fs::read_to_string(zones.join("data/new.db")).unwrap();
        assert!(new.contains("answered-before-the-repoint"), "{new}");
        assert_eq!(setup.link_target(), PathBuf::from("data/new.db"));
        assert_eq!(
            server.a("www.example.com"),
            vec![Ipv4Addr::new(192, 0, 2, 81)],
            "the person's new target is served"
        );
        assert_eq!(
            git(&zones, &["cat-file", "-p", "HEAD:example.com.zone"]),
            "data/new.db",
            "the link's new target committed"
        );
    }
}

/// Outside attack, round 22: a zone's link pointed at an older copy while
/// the server runs, the writes made before this server started (so known
/// only from git): they are re-applied to the new target, as for any
/// edit that lacks them.
#[test]
fn a_link_pointed_at_an_older_copy_after_a_restart_keeps_the_writes() {
    let setup = Setup::new("data/example.com.db");
    let zones = setup.zones();
    let server = Server::start(&setup);
    answered(&server, "example.com", "before-the-restart");
    drop(server);
    let server = Server::start(&setup);
    let first = git(&zones, &["rev-list", "--max-parents=0", "HEAD"]);
    let committed = git(
        &zones,
        &["show", &format!("{}:data/example.com.db", first.trim())],
    );
    std::fs::write(zones.join("data/copy.db"), committed).unwrap();
    relink(&zones, "data/copy.db");
    let kept = || {
        std::fs::read_to_string(zones.join("data/copy.db"))
            .unwrap()
            .contains("before-the-restart")
    };
    let deadline = Instant::now() + Duration::from_secs(10);
    while !kept() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(50));
    }
    assert!(kept(), "not re-applied: {}", server.log_text());
    eventually_clean(&zones);
    let log = git(
        &zones,
        &["log", "-1", "--format=%an|%s", "--", "data/copy.db"],
    );
    assert!(log.contains("re-applied 1 write"), "{log}");
}

/// Outside attack, round 22: while the server is down, a zone's link is
/// pointed at another zone's file, which is edited too. That zone's
/// take-in (serial raised, written back) is the only commit of the file:
/// the linked zone's copy, read before the take-in, is not committed over
/// it under the linked zone's name. The linked zone, whose writes are
/// refused, is served with a serial below the one it had: a WARN says so.
#[test]
fn a_link_to_another_zones_file_made_while_stopped_commits_that_file_once() {
    let setup = Setup::new("data/example.com.db");
    let zones = setup.zones();
    std::fs::write(zones.join("other.org.zone"), RELATIVE_ZONE).unwrap();
    // example.com's serial above other.org's.
    std::fs::write(
        zones.join("data/example.com.db"),
        simple_zone("example.com", 20, "192.0.2.80"),
    )
    .unwrap();
    setup.git(&["commit", "-q", "-am", "other.org of relative names"]);
    let server = Server::start(&setup);
    answered(&server, "example.com", "before-the-link");
    drop(server);
    let mut text = std::fs::read_to_string(zones.join("other.org.zone")).unwrap();
    text.push_str("hand IN A 192.0.2.7\n");
    std::fs::write(zones.join("other.org.zone"), &text).unwrap();
    relink(&zones, "other.org.zone");
    let server = Server::start(&setup);
    eventually_clean(&zones);
    let log = git(&zones, &["log", "--format=%an|%s", "--", "other.org.zone"]);
    assert!(
        log.lines().all(|l| !l.contains("|example.com:")),
        "no commit of other.org's file under example.com: {log}\n{}",
        server.log_text()
    );
    assert!(
        log.lines()
            .next()
            .is_some_and(|l| l.contains("|other.org: external change")),
        "{log}"
    );
    let head = git(&zones, &["show", "HEAD:other.org.zone"]);
    assert!(head.contains("hand IN A 192.0.2.7"), "{head}");
    assert!(
        server
            .wait_log(&["example.com", "serial not above the one git has"])
            .is_some(),
        "{}",
        server.log_text()
    );
}

/// Outside attack, round 23: the rebase window read back from git after a
/// restart covered only the repository's last 200 commits, so writes to
/// one zone followed by 200 writes to another were not re-applied to an
/// edit made while the server was down that lacked them.
#[test]
fn the_window_after_a_restart_reaches_past_200_commits_of_other_zones() {
    let setup = Setup::new("data/example.com.db");
    let zones = setup.zones();
    let server = Server::start(&setup);
    for i in 0..3 {
        answered(&server, "example.com", &format!("early-{i}"));
    }
    for i in 0..205 {
        answered(&server, "other.org", &format!("later-{i}"));
    }
    drop(server);
    // While down: both zones' first versions put back, with a line of
    // the person's (round 24: a zone's own 205 writes, beyond its newest
    // 200 commits).
    let first = git(&zones, &["rev-list", "--max-parents=0", "HEAD"]);
    for (file, zone) in [
        ("data/example.com.db", "example.com"),
        ("other.org.zone", "other.org"),
    ] {
        let mut text = git(&zones, &["show", &format!("{}:{file}", first.trim())]);
        text.push_str(&format!("hand.{zone}. IN A 192.0.2.7\n"));
        std::fs::write(zones.join(file), &text).unwrap();
    }
    let server = Server::start(&setup);
    eventually_clean(&zones);
    let other = std::fs::read_to_string(zones.join("other.org.zone")).unwrap();
    for i in 0..205 {
        assert!(
            other.contains(&format!("\"later-{i}\"")),
            "later-{i} re-applied: {}",
            server.log_text()
        );
    }
    let now = std::fs::read_to_string(zones.join("data/example.com.db")).unwrap();
    for i in 0..3 {
        assert!(
            now.contains(&format!("early-{i}")),
            "early-{i} re-applied: {now}\n{}",
            server.log_text()
        );
    }
    assert!(now.contains("hand.example.com. IN A 192.0.2.7"), "{now}");
    let log = git(
        &zones,
        &["log", "-1", "--format=%s", "--", "data/example.com.db"],
    );
    assert!(log.contains("re-applied 3 writes"), "{log}");
}

/// Outside attack, round 23: a zone's link pointed, while the server
/// runs, at another zone's file (directly, or the file that zone's link
/// leads to): the zone kept serving its old version, while git recorded
/// the new link. It is now served as it reads (its writes refused), with
/// a WARN since its serial went below the one it had.
#[test]
fn a_link_pointed_at_another_zones_file_at_runtime_is_served_as_it_reads() {
    for target in ["other.org.zone", "data/other.org.db"] {
        let setup = Setup::new("data/example.com.db");
        let zones = setup.zones();
        std::fs::write(zones.join("data/other.org.db"), RELATIVE_ZONE).unwrap();
        std::fs::remove_file(zones.join("other.org.zone")).unwrap();
        std::os::unix::fs::symlink("data/other.org.db", zones.join("other.org.zone")).unwrap();
        std::fs::write(
            zones.join("data/example.com.db"),
            simple_zone("example.com", 20, "192.0.2.80"),
        )
        .unwrap();
        setup.git(&["add", "-A"]);
        setup.git(&["commit", "-q", "-m", "other.org by a link too"]);
        let server = Server::start(&setup);
        answered(&server, "example.com", "before-the-link");
        std::os::unix::fs::symlink(target, zones.join("swap")).unwrap();
        std::fs::rename(zones.join("swap"), zones.join("example.com.zone")).unwrap();
        eventually("served from the other zone's file", || {
            server.a("ns1.example.com") == vec![Ipv4Addr::new(192, 0, 2, 53)]
        });
        assert_eq!(
            server.add_txt("example.com", "after-the-link"),
            ResponseCode::ServFail,
            "{target}: {}",
            server.log_text()
        );
        assert!(
            server
                .wait_log(&["example.com", "serial not above"])
                .is_some(),
            "{target}: {}",
            server.log_text()
        );
        let other = std::fs::read_to_string(zones.join("data/other.org.db")).unwrap();
        assert_eq!(other, RELATIVE_ZONE, "{target}: nothing written to it");
    }
}

/// Both zones links into `data/`: example.com (serial 20) to
/// `data/example.com.db`, other.org to `data/other.org.db` (relative
/// names, so either zone can read it), committed.
fn two_linked_zones() -> Setup {
    let setup = Setup::new("data/example.com.db");
    let zones = setup.zones();
    std::fs::write(zones.join("data/other.org.db"), RELATIVE_ZONE).unwrap();
    std::fs::remove_file(zones.join("other.org.zone")).unwrap();
    std::os::unix::fs::symlink("data/other.org.db", zones.join("other.org.zone")).unwrap();
    std::fs::write(
        zones.join("data/example.com.db"),
        simple_zone("example.com", 20, "192.0.2.80"),
    )
    .unwrap();
    setup.git(&["add", "-A"]);
    setup.git(&["commit", "-q", "-m", "both zones by links"]);
    setup
}

/// Points `zones/example.com.zone` at `target` (atomically).
fn relink(zones: &Path, target: &str) {
    std::os::unix::fs::symlink(target, zones.join("swap")).unwrap();
    std::fs::rename(zones.join("swap"), zones.join("example.com.zone")).unwrap();
}

/// Outside attack, round 24: while the server is down, example.com's link
/// is pointed at the file other.org's link reads. Start-up re-applied
/// example.com's writes into other.org's file (a key's records in a zone
/// its grant does not name). That file is now never written for
/// example.com: it is served as it reads, its writes refused.
#[test]
fn a_link_to_another_zones_data_file_made_while_stopped_is_not_written() {
    let setup = two_linked_zones();
    let zones = setup.zones();
    let server = Server::start(&setup);
    answered(&server, "example.com", "before-the-link");
    drop(server);
    relink(&zones, "data/other.org.db");
    let server = Server::start(&setup);
    assert_eq!(
        std::fs::read_to_string(zones.join("data/other.org.db")).unwrap(),
        RELATIVE_ZONE,
        "nothing of example.com's written to other.org's file: {}",
        server.log_text()
    );
    assert_eq!(
        server.a("ns1.example.com"),
        vec![Ipv4Addr::new(192, 0, 2, 53)]
    );
    assert_eq!(
        server.add_txt("example.com", "after-the-link"),
        ResponseCode::ServFail,
        "{}",
        server.log_text()
    );
    eventually_clean(&zones);
    let log = git(
        &zones,
        &["log", "--format=%an|%s", "--", "data/other.org.db"],
    );
    assert!(
        log.lines().all(|l| !l.contains("|example.com:")),
        "{log}\n{}",
        server.log_text()
    );
    assert!(
        server
            .wait_log(&["example.com", "serial not above"])
            .is_some(),
        "{}",
        server.log_text()
    );
}

/// Outside attack, round 24: while the server runs, example.com's link is
/// pointed at other.org's file; a person edits other.org's file (the edit
/// is committed as theirs, not inside a key's later commit), and
/// example.com's own file (dropping a write, adding a line); the link is
/// put back: the dropped write is re-applied and the person's line
/// committed as an external change, not inside the next write's commit.
#[test]
fn a_link_to_another_zones_file_and_back_at_runtime_keeps_writes_and_edits() {
    let setup = two_linked_zones();
    let zones = setup.zones();
    let server = Server::start(&setup);
    for v in ["w0", "w1"] {
        answered(&server, "example.com", v);
    }
    relink(&zones, "data/other.org.db");
    eventually("served from other.org's file", || {
        server.a("ns1.example.com") == vec![Ipv4Addr::new(192, 0, 2, 53)]
    });
    // The person's edit of the shared file: committed as an edit.
    let shared = format!("{RELATIVE_ZONE}shared-hand IN A 192.0.2.8\n");
    std::fs::write(zones.join("data/other.org.db.new"), &shared).unwrap();
    std::fs::rename(
        zones.join("data/other.org.db.new"),
        zones.join("data/other.org.db"),
    )
    .unwrap();
    eventually("the shared file's edit committed", || {
        git(&zones, &["show", "HEAD:data/other.org.db"]).contains("shared-hand")
    });
    let by = git(
        &zones,
        &["log", "-1", "--format=%an|%s", "--", "data/other.org.db"],
    );
    assert!(
        by.starts_with("zonewright|") && by.contains("external change"),
        "{by}"
    );
    // example.com's own file: w0 dropped, a line added; then linked back.
    let own = std::fs::read_to_string(zones.join("data/example.com.db")).unwrap();
    let edited: String = own
        .lines()
        .filter(|l| !l.contains("\"w0\""))
        .map(|l| format!("{l}\n"))
        .collect::<String>()
        + "hand IN A 192.0.2.7\n";
    assert!(
        !edited.contains("\"w0\"") && edited.contains("\"w1\""),
        "{own}"
    );
    std::fs::write(zones.join("data/example.com.db.new"), &edited).unwrap();
    std::fs::rename(
        zones.join("data/example.com.db.new"),
        zones.join("data/example.com.db"),
    )
    .unwrap();
    relink(&zones, "data/example.com.db");
    eventually("w0 re-applied to example.com's own file", || {
        std::fs::read_to_string(zones.join("data/example.com.db"))
            .unwrap()
            .contains("\"w0\"")
    });
    // Round 26: the serial goes above the 22 example.com had before the
    // detour (secondaries hold 22), not only above other.org's 5.
    let back = std::fs::read_to_string(zones.join("data/example.com.db")).unwrap();
    assert!(
        back.contains("hostmaster.example.com. 23 "),
        "{back}\n{}",
        server.log_text()
    );
    answered(&server, "example.com", "w2");
    eventually_clean(&zones);
    let w2 = git(
        &zones,
        &[
            "log",
            "-1",
            "-p",
            "--author=acme-key",
            "--",
            "data/example.com.db",
        ],
    );
    assert!(w2.contains("\"w2\""), "{w2}");
    assert!(
        !w2.contains("+hand IN A") && !w2.contains("-_acme-challenge"),
        "the key's commit holds only its write: {w2}"
    );
    let hand = git(
        &zones,
        &[
            "log",
            "-p",
            "--author=zonewright",
            "--",
            "data/example.com.db",
        ],
    );
    assert!(hand.contains("+hand IN A 192.0.2.7"), "{hand}");
}

/// Outside attack, round 25: after a restart, example.com's link pointed
/// at other.org's file and back: example.com's rebase window was read from
/// that file's history, so other.org's key's writes were re-applied into
/// example.com (records a grant never named). A zone's window now holds
/// only commits naming it.
#[test]
fn a_link_to_another_zones_file_and_back_never_takes_that_zones_writes() {
    let setup = two_linked_zones();
    let zones = setup.zones();
    let server = Server::start(&setup);
    for v in ["v0", "v1"] {
        answered(&server, "other.org", v);
    }
    drop(server);
    let server = Server::start(&setup);
    relink(&zones, "data/other.org.db");
    eventually("served from other.org's file", || {
        server.a("ns1.example.com") == vec![Ipv4Addr::new(192, 0, 2, 53)]
    });
    relink(&zones, "data/example.com.db");
    eventually("served from its own file again", || {
        server.a("ns1.example.com") == vec![Ipv4Addr::new(192, 0, 2, 1)]
    });
    answered(&server, "example.com", "own");
    eventually_clean(&zones);
    let own = std::fs::read_to_string(zones.join("data/example.com.db")).unwrap();
    assert!(
        !own.contains("\"v0\"") && !own.contains("\"v1\""),
        "other.org's writes in example.com: {own}\n{}",
        server.log_text()
    );
    assert!(own.contains("\"own\""), "{own}");
}
