//! Live reload: edits, broken edits, new and deleted zone files.

mod common;

use std::net::Ipv4Addr;
use std::time::Duration;

use common::*;
use hickory_proto::op::ResponseCode;
use hickory_proto::rr::RecordType;

fn server() -> TestServer {
    TestServer::start(&[("example.com.zone", &example_zone(1, "192.0.2.80"))], "")
}

#[test]
fn edit_in_place_is_served() {
    let s = server();
    write(
        &s.zones_dir().join("example.com.zone"),
        &example_zone(2, "192.0.2.81"),
    );
    let (resp, ok) = s.poll_udp("www.example.com.", RecordType::A, |r| {
        a_addrs(r) == [Ipv4Addr::new(192, 0, 2, 81)]
    });
    assert!(ok, "edit not served within 3 s: {resp:?}");
}

#[test]
fn save_by_rename_is_served() {
    let s = server();
    s.save_by_rename("example.com.zone", &example_zone(2, "192.0.2.82"));
    let (resp, ok) = s.poll_udp("www.example.com.", RecordType::A, |r| {
        a_addrs(r) == [Ipv4Addr::new(192, 0, 2, 82)]
    });
    assert!(ok, "rename-save not served within 3 s: {resp:?}");
    // A second save (new inode again) is seen too.
    s.save_by_rename("example.com.zone", &example_zone(3, "192.0.2.83"));
    let (resp, ok) = s.poll_udp("www.example.com.", RecordType::A, |r| {
        a_addrs(r) == [Ipv4Addr::new(192, 0, 2, 83)]
    });
    assert!(ok, "second save not served: {resp:?}");
}

#[test]
fn broken_edit_keeps_last_good_version() {
    let s = server();
    s.save_by_rename(
        "example.com.zone",
        "$ORIGIN example.com.\n@ IN SOA ( broken\nwww IN A 999.1.2.3\n",
    );
    // Give the reloader ample time to see and reject it.
    std::thread::sleep(Duration::from_millis(1500));
    let resp = s.udp(&query("www.example.com.", RecordType::A));
    assert_eq!(rcode(&resp), ResponseCode::NoError);
    assert_eq!(a_addrs(&resp), vec![Ipv4Addr::new(192, 0, 2, 80)]);
    // Fixing the file is picked up.
    s.save_by_rename("example.com.zone", &example_zone(5, "192.0.2.85"));
    let (resp, ok) = s.poll_udp("www.example.com.", RecordType::A, |r| {
        a_addrs(r) == [Ipv4Addr::new(192, 0, 2, 85)]
    });
    assert!(ok, "fixed file not served: {resp:?}");
}

#[test]
fn new_file_adds_zone_and_deleting_it_removes_it() {
    let s = server();
    let refused = s.udp(&query("www.example.org.", RecordType::A));
    assert_eq!(rcode(&refused), ResponseCode::Refused);

    s.save_by_rename(
        "example.org.zone",
        &simple_zone("example.org", 1, "192.0.2.44"),
    );
    let (resp, ok) = s.poll_udp("www.example.org.", RecordType::A, |r| {
        a_addrs(r) == [Ipv4Addr::new(192, 0, 2, 44)]
    });
    assert!(ok, "new zone not served: {resp:?}");
    assert!(resp.metadata.authoritative);

    std::fs::remove_file(s.zones_dir().join("example.org.zone")).unwrap();
    let (resp, ok) = s.poll_udp("www.example.org.", RecordType::A, |r| {
        rcode(r) == ResponseCode::Refused
    });
    assert!(ok, "deleted zone still served: {resp:?}");
    // The other zone is untouched.
    let resp = s.udp(&query("www.example.com.", RecordType::A));
    assert_eq!(a_addrs(&resp), vec![Ipv4Addr::new(192, 0, 2, 80)]);
}

#[test]
fn queries_keep_answering_during_reloads() {
    let s = server();
    for i in 0..10u32 {
        write(
            &s.zones_dir().join("example.com.zone"),
            &example_zone(10 + i, "192.0.2.80"),
        );
        for _ in 0..5 {
            let resp = s.udp(&query("www.example.com.", RecordType::A));
            assert_eq!(rcode(&resp), ResponseCode::NoError);
            assert_eq!(a_addrs(&resp), vec![Ipv4Addr::new(192, 0, 2, 80)]);
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// The binary over `zones`, with a debug log of its own and the admin
/// listener on a port the system picks (learnt from the log).
struct Binary {
    child: std::process::Child,
    log: std::path::PathBuf,
    admin: std::net::SocketAddr,
}

impl Binary {
    fn start(dir: &std::path::Path, extra: &str) -> Binary {
        let config = dir.join("zonewright.toml");
        write(
            &config,
            &format!(
                "listen = [\"127.0.0.1:{}\"]\nzones_dir = \"zones\"\n[server]\n\
                 reload_interval = \"100ms\"\n[admin]\nlisten = \"127.0.0.1:0\"\n{extra}",
                server_port()
            ),
        );
        let log = dir.join("server.log");
        let child = serve_command(&config, &log)
            .env("RUST_LOG", "zonewright=debug")
            .spawn()
            .unwrap();
        let mut b = Binary {
            child,
            log,
            admin: std::net::SocketAddr::from((Ipv4Addr::LOCALHOST, 0)),
        };
        b.wait_for(&|t| t.contains("admin listener"), "the admin listener");
        let t = b.text();
        let port = t
            .lines()
            .find_map(|l| l.split("admin listener").nth(1)?.split("127.0.0.1:").nth(1))
            .and_then(|p| p.trim().parse::<u16>().ok())
            .expect("admin port in the log");
        b.admin.set_port(port);
        b
    }

    fn text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Bounded: 20 s, 50 ms a turn.
    fn wait_for(&self, what: &dyn Fn(&str) -> bool, why: &str) {
        let deadline = std::time::Instant::now() + Duration::from_secs(20);
        while !what(&self.text()) {
            assert!(
                std::time::Instant::now() < deadline,
                "{why} within 20 s:\n{}",
                self.text()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// The DNS address, from the start-up line.
    fn dns(&self) -> std::net::SocketAddr {
        let t = self.text();
        let port = t
            .lines()
            .find(|l| l.contains(" serving "))
            .and_then(|l| l.split(" on 127.0.0.1:").nth(1))
            .map(|r| {
                r.chars()
                    .take_while(char::is_ascii_digit)
                    .collect::<String>()
            })
            .and_then(|p| p.parse::<u16>().ok())
            .expect("DNS port in the log");
        std::net::SocketAddr::from((Ipv4Addr::LOCALHOST, port))
    }

    /// (status, body) of an admin GET.
    fn get(&self, path: &str) -> (u16, String) {
        use std::io::{Read, Write};
        let mut s = std::net::TcpStream::connect(self.admin).unwrap();
        s.set_read_timeout(Some(IO_TIMEOUT)).unwrap();
        write!(s, "GET {path} HTTP/1.0\r\nHost: x\r\n\r\n").unwrap();
        let mut text = String::new();
        s.read_to_string(&mut text).unwrap();
        let status = text
            .split(' ')
            .nth(1)
            .and_then(|c| c.parse().ok())
            .unwrap_or(0);
        let body = text.split_once("\r\n\r\n").map_or("", |(_, b)| b);
        (status, body.to_owned())
    }

    /// `/metrics`' value of `series` (0 when absent).
    fn metric(&self, series: &str) -> f64 {
        let (_, body) = self.get("/metrics");
        body.lines()
            .find_map(|l| l.strip_prefix(series)?.strip_prefix(' ')?.parse().ok())
            .unwrap_or(0.0)
    }

    /// Waits until the server has made `n` more passes over the files.
    fn passes(&self, n: f64) {
        let count = || {
            self.metric(r#"zonewright_reloads_total{result="ok"}"#)
                + self.metric(r#"zonewright_reloads_total{result="failed"}"#)
        };
        let target = count() + n;
        let deadline = std::time::Instant::now() + Duration::from_secs(20);
        while count() < target {
            assert!(
                std::time::Instant::now() < deadline,
                "{n} passes within 20 s"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// ERROR lines naming `zone`.
    fn errors(&self, zone: &str) -> usize {
        self.text()
            .lines()
            .filter(|l| l.contains("ERROR") && l.contains(zone))
            .count()
    }
}

/// A zones folder holding example.com and `files` (name, text).
fn folder(files: &[(&str, &str)]) -> (tempfile::TempDir, std::path::PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let zones = dir.path().join("zones");
    std::fs::create_dir(&zones).unwrap();
    write(
        &zones.join("example.com.zone"),
        &example_zone(1, "192.0.2.80"),
    );
    for (name, text) in files {
        write(&zones.join(name), text);
    }
    (dir, zones)
}

/// inc.test, with `$INCLUDE inc.test.extra`.
fn inc_zone() -> String {
    format!(
        "{}$INCLUDE inc.test.extra\n",
        simple_zone("inc.test", 1, "192.0.2.1")
    )
}

impl Binary {
    /// Waits until `name` A is served as `want` alone (bounded: 20 s).
    fn wait_served(&self, name: &str, want: Ipv4Addr) {
        let deadline = std::time::Instant::now() + Duration::from_secs(20);
        loop {
            let r = common::update::udp_at(self.dns(), &query(name, RecordType::A));
            if r.as_ref().map(a_addrs) == Some(vec![want]) {
                return;
            }
            assert!(
                std::time::Instant::now() < deadline,
                "{name} {want} not served within 20 s: {r:?}\n{}",
                self.text()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for Binary {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A `[[zone]]` whose file is missing: reported once (not at every pass,
/// nor counted as a failed pass each time), served once the file is
/// written, reported again when it is removed.
#[test]
fn a_missing_zone_file_is_reported_once_and_served_once_written() {
    let (dir, zones) = folder(&[]);
    let b = Binary::start(dir.path(), "[[zone]]\nname = \"later.test\"\n");
    b.wait_for(
        &|t| t.contains("zone not served"),
        "the missing file reported",
    );
    let failed = b.metric(r#"zonewright_reloads_total{result="failed"}"#);
    b.passes(5.0);
    // The problem and "zone not served": two lines, once.
    assert_eq!(b.errors("later.test"), 2, "{}", b.text());
    assert!(b.text().contains("later.test.zone: cannot read"));
    assert_eq!(
        b.metric(r#"zonewright_reloads_total{result="failed"}"#),
        failed,
        "a pass that reads nothing new is no failed pass"
    );
    write(
        &zones.join("later.test.zone"),
        &simple_zone("later.test", 7, "192.0.2.7"),
    );
    b.wait_for(
        &|t| {
            t.lines()
                .any(|l| l.contains("zone loaded") && l.contains("later.test"))
        },
        "the file written is served",
    );
    // The recovery is said at INFO, as the failure was at ERROR.
    assert!(
        b.text().lines().any(|l| l.contains("INFO")
            && l.contains("zone file loads again")
            && l.contains("later.test")),
        "{}",
        b.text()
    );
    std::fs::remove_file(zones.join("later.test.zone")).unwrap();
    b.wait_for(
        &|t| t.matches("later.test.zone: cannot read").count() == 2,
        "its removal reported",
    );
}

/// Round 41 LOW-11: a broken edit that blocks writes is named once at
/// INFO ("changed on disk"), not again at every write it refuses; the
/// refusals themselves still each get SERVFAIL, and the fixed file is
/// written to.
#[test]
fn a_blocking_edit_is_reported_once_however_many_writes_it_refuses() {
    let (dir, zones) = folder(&[]);
    let b = Binary::start(dir.path(), &acme_key(&["example.com"]));
    b.wait_for(&|t| t.contains(" serving "), "the server");
    let path = zones.join("example.com.zone");
    let good = std::fs::read_to_string(&path).unwrap();
    write(&path, &format!("{good}broken IN A 999.0.0.1\n"));
    let info = |b: &Binary| {
        b.text()
            .lines()
            .filter(|l| l.contains("INFO") && l.contains("zone file changed on disk"))
            .count()
    };
    for id in 1..=4 {
        assert_eq!(
            b.add_challenge(id, "example.com", "blocked"),
            Some(2),
            "{}",
            b.text()
        );
    }
    assert_eq!(info(&b), 1, "{}", b.text());
    assert!(
        b.text().contains("refusing to write over it"),
        "{}",
        b.text()
    );
    // Fixed: the next write lands on it.
    write(&path, &format!("{good}fixed IN A 192.0.2.9\n"));
    assert_eq!(
        b.add_challenge(9, "example.com", "after"),
        Some(0),
        "{}",
        b.text()
    );
    assert!(
        std::fs::read_to_string(&path)
            .unwrap()
            .contains("fixed IN A 192.0.2.9")
    );
}

/// A zone whose `$INCLUDE` is missing is read again once the include is
/// there, and a served zone whose include is removed and put back with
/// other records serves them (both were left as they were until the zone
/// file itself changed).
#[test]
fn a_missing_include_put_back_is_read() {
    let (dir, zones) = folder(&[("inc.test.zone", &inc_zone())]);
    let b = Binary::start(dir.path(), "");
    b.wait_for(
        &|t| t.contains("inc.test.extra: cannot read"),
        "the include reported",
    );
    b.passes(3.0);
    write(&zones.join("inc.test.extra"), "extra IN A 192.0.2.80\n");
    b.wait_for(
        &|t| {
            t.lines()
                .any(|l| l.contains("zone loaded") && l.contains("inc.test"))
        },
        "the zone read once its include is there",
    );
    std::fs::remove_file(zones.join("inc.test.extra")).unwrap();
    b.wait_for(
        &|t| t.matches("inc.test.extra: cannot read").count() == 2,
        "the include's removal reported",
    );
    b.passes(3.0);
    write(&zones.join("inc.test.extra"), "extra IN A 192.0.2.99\n");
    b.wait_served("extra.inc.test.", Ipv4Addr::new(192, 0, 2, 99));
    assert_eq!(
        b.text().matches("zone file loads again").count(),
        2,
        "each recovery said once: {}",
        b.text()
    );
}

/// A broken zone file edited so that only its second problem changes is
/// reported again (the first problem and the count are the same).
#[test]
fn a_changed_second_problem_is_reported() {
    let (dir, zones) = folder(&[]);
    let broken = |second: &str| {
        format!(
            "{}bad IN A 999.1.1.1\n{second}\n",
            simple_zone("two.test", 1, "192.0.2.1")
        )
    };
    write(&zones.join("two.test.zone"), &broken("foo IN BOGUS x"));
    let b = Binary::start(dir.path(), "[[zone]]\nname = \"two.test\"\n");
    b.wait_for(
        &|t| t.contains("zone not served"),
        "the broken file reported",
    );
    b.passes(2.0);
    let before = b.errors("two.test");
    write(&zones.join("two.test.zone"), &broken("foo IN AAAA zz"));
    b.wait_for(
        &|t| t.lines().any(|l| l.contains("ERROR") && l.contains("AAAA")),
        "the changed second problem reported",
    );
    assert!(b.errors("two.test") > before, "{}", b.text());
}

/// A person's edit taken in by the store (its serial kept, so raised) is
/// warned about as a reload would: an RRset with two TTLs (round 27: the
/// warning was logged only on the reloader's own path).
#[test]
fn an_edit_taken_in_logs_its_warnings() {
    let zone = simple_zone("example.com", 1, "192.0.2.80");
    let (dir, zones) = folder(&[]);
    write(&zones.join("example.com.zone"), &zone);
    let b = Binary::start(dir.path(), "");
    b.wait_for(&|t| t.contains(" serving "), "the server");
    write(
        &zones.join("example.com.zone"),
        &format!("{zone}t 60 IN A 10.0.0.1\nt 120 IN A 10.0.0.2\n"),
    );
    b.wait_for(
        &|t| {
            t.lines()
                .any(|l| l.contains("WARN") && l.contains("TTL 120 differs from 60"))
        },
        "the TTL warning",
    );
}

/// A zone file moved away and back unchanged (same inode, mtime and size
/// as the version served): the zone loads again, says so, and `/ready`
/// stops naming it (round 28: it stayed "broken" until a write).
#[test]
fn a_zone_file_moved_away_and_back_loads_again() {
    let (dir, zones) = folder(&[
        ("inc.test.zone", &inc_zone()),
        ("inc.test.extra", "extra IN A 192.0.2.80\n"),
    ]);
    let b = Binary::start(dir.path(), "[[zone]]\nname = \"inc.test\"\n");
    b.wait_for(&|t| t.contains(" serving "), "the server");
    for (file, away) in [
        ("inc.test.extra", "extra.bak"),
        ("inc.test.zone", "zone.bak"),
    ] {
        let before = b.text().matches("zone file loads again").count();
        let gone = format!("{file}: cannot read");
        std::fs::rename(zones.join(file), dir.path().join(away)).unwrap();
        b.wait_for(&|t| t.contains(&gone), "the file's absence reported");
        std::fs::rename(dir.path().join(away), zones.join(file)).unwrap();
        b.wait_for(
            &|t| t.matches("zone file loads again").count() > before,
            "the zone loading again",
        );
        assert_eq!(b.get("/ready").0, 200, "{file}: {:?}", b.get("/ready"));
    }
}

/// A person's edit of an `$INCLUDE`d file in zones_dir, the zone file's
/// serial kept (so raised by the server), and an `$INCLUDE` newly named
/// in the zone file: both included files are committed with the zone
/// file, so HEAD holds what is served (round 28: only the zone file was
/// committed, the include left modified or untracked).
#[test]
fn an_edited_or_new_include_is_committed_with_the_zone() {
    let zone = inc_zone();
    let (dir, zones) = folder(&[
        ("inc.test.zone", &zone),
        ("inc.test.extra", "extra IN A 192.0.2.80\n"),
    ]);
    let b = Binary::start(dir.path(), "");
    b.wait_for(&|t| t.contains(" serving "), "the server");
    let git = |args: &[&str]| {
        let out = std::process::Command::new("git")
            .arg("-C")
            .arg(&zones)
            .args(args)
            .output()
            .unwrap();
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    // Committed once the write-back's commit is made: wait for a clean tree.
    let clean = |why: &str| {
        let deadline = std::time::Instant::now() + Duration::from_secs(20);
        loop {
            let status = git(&["status", "--porcelain"]);
            if status.trim().is_empty() {
                return;
            }
            assert!(
                std::time::Instant::now() < deadline,
                "{why}: not committed within 20 s:\n{status}\n{}",
                b.text()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    };
    clean("the start");
    write(&zones.join("inc.test.extra"), "extra IN A 192.0.2.99\n");
    b.wait_served("extra.inc.test.", Ipv4Addr::new(192, 0, 2, 99));
    clean("the edited include");
    assert!(git(&["show", "HEAD:inc.test.extra"]).contains("192.0.2.99"));
    write(&zones.join("more.inc"), "more IN A 192.0.2.77\n");
    write(
        &zones.join("inc.test.zone"),
        &format!("{zone}$INCLUDE more.inc\n"),
    );
    b.wait_served("more.inc.test.", Ipv4Addr::new(192, 0, 2, 77));
    clean("the new include");
    assert!(git(&["show", "HEAD:more.inc"]).contains("192.0.2.77"));
}

/// `[[key]] acme-key` granted `_acme-challenge` TXT in `zones`.
fn acme_key(zones: &[&str]) -> String {
    let grants: Vec<String> = zones
        .iter()
        .map(|z| format!("{{ zone = \"{z}\", names = [\"_acme-challenge\"], types = [\"TXT\"] }}"))
        .collect();
    format!(
        "[[key]]\nname = \"acme-key\"\nalgorithm = \"hmac-sha256\"\nsecret = \"{}\"\n\
         grant = [{}]\n",
        common::wire::SECRET_B64,
        grants.join(", ")
    )
}

impl Binary {
    /// The RCODE of a signed UPDATE deleting `_acme-challenge` TXT of `zone`.
    fn delete_challenge(&self, id: u16, zone: &str) -> Option<u8> {
        let answer = self.delete_challenge_answer(id, zone, false)?;
        answer.get(3).map(|b| b & 0x0f)
    }

    /// The answer to that UPDATE, sent with an OPT RR (EDNS, 1232 octets)
    /// when `edns`.
    fn delete_challenge_answer(&self, id: u16, zone: &str, edns: bool) -> Option<Vec<u8>> {
        let owner = format!("_acme-challenge.{zone}");
        self.signed_answer(
            common::wire::update(id, zone, None, &owner, 255, None),
            edns,
        )
    }

    /// The RCODE of a signed UPDATE adding `_acme-challenge` TXT `value`.
    fn add_challenge(&self, id: u16, zone: &str, value: &str) -> Option<u8> {
        let owner = format!("_acme-challenge.{zone}");
        let msg = common::wire::update(id, zone, None, &owner, 1, Some(value));
        let answer = self.signed_answer(msg, false)?;
        answer.get(3).map(|b| b & 0x0f)
    }

    /// `msg` signed with acme-key (with an OPT RR first when `edns`), sent
    /// over UDP: the answer.
    fn signed_answer(&self, mut msg: Vec<u8>, edns: bool) -> Option<Vec<u8>> {
        if edns {
            // Root owner, type OPT (41), class = payload 1232, TTL 0, no RDATA.
            msg.extend_from_slice(&[0, 0, 41, 0x04, 0xd0, 0, 0, 0, 0, 0, 0]);
            let arcount = u16::from_be_bytes([msg[10], msg[11]]) + 1;
            msg[10..12].copy_from_slice(&arcount.to_be_bytes());
        }
        let (signed, _) =
            common::wire::signed(&msg, &common::wire::key("acme-key."), common::wire::now());
        let sock = std::net::UdpSocket::bind((Ipv4Addr::LOCALHOST, 0)).unwrap();
        sock.set_read_timeout(Some(IO_TIMEOUT)).unwrap();
        sock.send_to(&signed, self.dns()).unwrap();
        let mut buf = [0u8; 4096];
        let n = sock.recv(&mut buf).ok()?;
        (n > 12).then(|| buf[..n].to_vec())
    }
}

/// Round 29: an `$INCLUDE` that is a symbolic link is not written through
/// (the write replaced the link by a file, its target left as it was),
/// and a zone including another zone's file through a link reads a
/// shared file, so the other zone's writes are refused too.
#[test]
fn includes_that_are_links_are_not_written_through_nor_shared_unseen() {
    let soa_a = simple_zone("a.test", 1, "192.0.2.1");
    let soa_b = simple_zone("b.test", 1, "192.0.2.2");
    let (dir, zones) = folder(&[
        ("a.test.zone", &format!("{soa_a}$INCLUDE a-own.inc\n")),
        ("a-own.inc", "_acme-challenge IN TXT \"a\"\n"),
        ("b.test.zone", &format!("{soa_b}$INCLUDE b-link.inc\n")),
        ("b-real.inc", "_acme-challenge IN TXT \"b\"\n"),
    ]);
    std::os::unix::fs::symlink("b-real.inc", zones.join("b-link.inc")).unwrap();
    let b = Binary::start(dir.path(), &acme_key(&["a.test", "b.test"]));
    b.wait_for(&|t| t.contains(" serving "), "the server");
    // SERVFAIL (2): b's record lives in the linked include.
    assert_eq!(b.delete_challenge(1, "b.test"), Some(2), "{}", b.text());
    assert!(
        std::fs::symlink_metadata(zones.join("b-link.inc"))
            .unwrap()
            .file_type()
            .is_symlink(),
        "the link is still a link"
    );
    assert!(
        b.text()
            .contains("an $INCLUDEd file that is a symbolic link")
    );
    // a.test writes its own include: fine until b.test reads it too.
    assert_eq!(b.delete_challenge(2, "a.test"), Some(0), "{}", b.text());
    write(
        &zones.join("a-own.inc"),
        "_acme-challenge IN TXT \"again\"\n",
    );
    std::fs::remove_file(zones.join("b-link.inc")).unwrap();
    std::os::unix::fs::symlink("a-own.inc", zones.join("b-link.inc")).unwrap();
    // Bounded: 20 s, 50 ms a turn.
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    loop {
        let r = common::update::udp_at(b.dns(), &query("_acme-challenge.b.test.", RecordType::TXT));
        if r.is_some_and(|m| {
            m.answers
                .iter()
                .any(|a| a.data.to_string().contains("again"))
        }) {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "b.test not read through its new link within 20 s:\n{}",
            b.text()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    assert_eq!(b.delete_challenge(3, "a.test"), Some(2), "{}", b.text());
    assert!(b.text().contains("is read by zone b.test"), "{}", b.text());
    // With EDNS, the SERVFAIL says why in an Extended DNS Error (RFC
    // 8914, INFO-CODE 0), pointing to the log; no path, no other zone.
    let answer = b
        .delete_challenge_answer(4, "a.test", true)
        .expect("an answer");
    assert_eq!(answer[3] & 0x0f, 2, "SERVFAIL");
    let text = String::from_utf8_lossy(&answer);
    assert!(
        text.contains("the write failed and is not kept") && text.contains("server log"),
        "EDE text: {text:?}"
    );
    assert!(
        !text.contains("b.test") && !text.contains(".inc"),
        "{text:?}"
    );
    // EDE option 15, INFO-CODE 0, right before the text.
    let needle = b"the write failed";
    let at = answer
        .windows(needle.len())
        .position(|w| w == needle)
        .expect("text");
    assert_eq!(&answer[at - 6..at - 4], &[0, 15], "option code");
    assert_eq!(&answer[at - 2..at], &[0, 0], "INFO-CODE 0");
}

/// Round 29: two zones including one file are both committed at
/// start-up (neither was: each saw the include shared).
#[test]
fn zones_sharing_an_include_are_committed_at_start() {
    let (dir, zones) = folder(&[
        (
            "s1.test.zone",
            &format!(
                "{}$INCLUDE shared.inc\n",
                simple_zone("s1.test", 1, "192.0.2.1")
            ),
        ),
        (
            "s2.test.zone",
            &format!(
                "{}$INCLUDE shared.inc\n",
                simple_zone("s2.test", 1, "192.0.2.2")
            ),
        ),
        ("shared.inc", "extra IN A 192.0.2.9\n"),
    ]);
    let b = Binary::start(dir.path(), "");
    b.wait_for(&|t| t.contains(" serving "), "the server");
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    loop {
        let out = std::process::Command::new("git")
            .arg("-C")
            .arg(&zones)
            .args(["status", "--porcelain"])
            .output()
            .unwrap();
        let status = String::from_utf8_lossy(&out.stdout).into_owned();
        if out.status.success() && status.trim().is_empty() {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "not all committed within 20 s:\n{status}\n{}",
            b.text()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Round 29: an `$INCLUDE` moved away, edited in place to the same size
/// with its mtime put back, and moved back (the served version's
/// identity, another text) is taken in, and the zone loads again.
#[test]
fn an_include_back_with_the_served_identity_but_new_text_is_taken_in() {
    let (dir, zones) = folder(&[
        ("inc.test.zone", &inc_zone()),
        ("inc.test.extra", "extra IN A 192.0.2.80\n"),
    ]);
    let b = Binary::start(dir.path(), "");
    b.wait_for(&|t| t.contains(" serving "), "the server");
    let away = dir.path().join("extra.bak");
    std::fs::rename(zones.join("inc.test.extra"), &away).unwrap();
    b.wait_for(
        &|t| t.contains("inc.test.extra: cannot read"),
        "the absence",
    );
    let mtime = std::fs::metadata(&away).unwrap().modified().unwrap();
    {
        use std::io::{Seek, Write};
        let mut f = std::fs::OpenOptions::new().write(true).open(&away).unwrap();
        f.seek(std::io::SeekFrom::Start(0)).unwrap();
        f.write_all(b"extra IN A 192.0.2.81\n").unwrap();
    }
    std::fs::File::options()
        .write(true)
        .open(&away)
        .unwrap()
        .set_modified(mtime)
        .unwrap();
    std::fs::rename(&away, zones.join("inc.test.extra")).unwrap();
    b.wait_served("extra.inc.test.", Ipv4Addr::new(192, 0, 2, 81));
    b.wait_for(
        &|t| t.contains("zone file loads again"),
        "the zone loading again",
    );
    assert_eq!(b.get("/ready").0, 200, "{:?}", b.get("/ready"));
}

/// Round 30: a zone that starts including another zone's file while the
/// server runs is served as it reads, and the other zone's writes are
/// refused from then on (it was never loaded, stuck taking the edit in,
/// while the other zone's key went on writing what it would serve).
#[test]
fn a_zone_including_another_zones_file_at_runtime_shares_it() {
    let soa_b = simple_zone("b.test", 1, "192.0.2.2");
    let (dir, zones) = folder(&[
        (
            "a.test.zone",
            &format!(
                "{}$INCLUDE a-own.inc\n",
                simple_zone("a.test", 1, "192.0.2.1")
            ),
        ),
        (
            "a-own.inc",
            "_acme-challenge IN TXT \"a\"\nx IN A 192.0.2.50\n",
        ),
        ("b.test.zone", &soa_b),
    ]);
    let b = Binary::start(dir.path(), &acme_key(&["a.test", "b.test"]));
    b.wait_for(&|t| t.contains(" serving "), "the server");
    write(
        &zones.join("b.test.zone"),
        &format!("{soa_b}$INCLUDE a-own.inc\n"),
    );
    b.wait_served("x.b.test.", Ipv4Addr::new(192, 0, 2, 50));
    assert_eq!(b.delete_challenge(1, "a.test"), Some(2), "{}", b.text());
    assert!(b.text().contains("is read by zone b.test"), "{}", b.text());
    assert_eq!(b.get("/ready").0, 200, "{:?}", b.get("/ready"));
}

/// Rewrites `path` in place with `from` replaced by `to` (the same
/// length), then puts its modification time back: an edit that keeps the
/// size and mtime (`cp -p`, `touch -r`). The file's stat from before.
fn rewrite_keeping_mtime(path: &std::path::Path, from: &str, to: &str) -> std::fs::Metadata {
    use std::io::Write;
    let before = std::fs::metadata(path).unwrap();
    let text = std::fs::read_to_string(path).unwrap();
    let edited = text.replace(from, to);
    assert_ne!(text, edited, "{from} not in {text}");
    assert_eq!(text.len(), edited.len());
    let mut f = std::fs::OpenOptions::new().write(true).open(path).unwrap();
    f.write_all(edited.as_bytes()).unwrap();
    f.set_modified(before.modified().unwrap()).unwrap();
    before
}

/// Round 46 (MEDIUM): the same edit followed at once by a write, before
/// the watcher (which waits 150 ms for more events) has read it. The
/// write trusted the unchanged inode, size and mtime, was computed on the
/// old text and replaced the file: the edit was lost without a word. The
/// inode's change time, which the mtime's restore moves, now tells.
#[test]
fn an_edit_in_place_with_its_mtime_put_back_and_a_write_at_once_keeps_both() {
    use std::os::unix::fs::MetadataExt;
    let (dir, zones) = folder(&[]);
    let b = Binary::start(dir.path(), &acme_key(&["example.com"]));
    b.wait_for(&|t| t.contains(" serving "), "the server");
    b.wait_served("www.example.com.", Ipv4Addr::new(192, 0, 2, 80));
    let path = zones.join("example.com.zone");
    // Three rounds: each the edit of one address, then a write at once.
    for round in 1..=3u8 {
        let from = format!("www IN A 192.0.2.{}", 79 + round);
        let to = format!("www IN A 192.0.2.{}", 80 + round);
        let before = rewrite_keeping_mtime(&path, &from, &to);
        let after = std::fs::metadata(&path).unwrap();
        assert_eq!(
            (after.len(), after.modified().unwrap(), after.ino()),
            (before.len(), before.modified().unwrap(), before.ino()),
            "round {round}: the identity the server used to trust is kept"
        );
        let value = format!("at-once-{round}");
        assert_eq!(
            b.add_challenge(10 + u16::from(round), "example.com", &value),
            Some(0),
            "round {round}: {}",
            b.text()
        );
        let now = std::fs::read_to_string(&path).unwrap();
        assert!(
            now.contains(&to) && now.contains(&value),
            "round {round}: the edit or the write is missing:\n{now}"
        );
        b.wait_served("www.example.com.", Ipv4Addr::new(192, 0, 2, 80 + round));
    }
}

/// Round 50 (HIGH): the same edit made the instant after a write's rename,
/// by a program woken by inotify's IN_MOVED_TO, and a second write at
/// once. The server took the file's identity (its change time included)
/// with a stat some 180 µs after the rename; an edit in between was taken
/// for the server's own file, and the second write erased it (9 of 20
/// times). The server now reads the file back after that stat.
#[test]
fn an_edit_in_place_the_instant_after_a_writes_rename_is_kept() {
    use rustix::fs::inotify;
    let (dir, zones) = folder(&[]);
    let b = Binary::start(dir.path(), &acme_key(&["example.com"]));
    b.wait_for(&|t| t.contains(" serving "), "the server");
    b.wait_served("www.example.com.", Ipv4Addr::new(192, 0, 2, 80));
    let path = zones.join("example.com.zone");
    let mut raced = 0;
    for round in 1..=15u8 {
        let (from, to) = (
            format!("www IN A 192.0.2.{}", 79 + round),
            format!("www IN A 192.0.2.{}", 80 + round),
        );
        // The racer: woken by the rename of the zone file into place, it
        // rewrites it in place, same size, and puts the times back.
        let ino = inotify::init(inotify::CreateFlags::CLOEXEC).unwrap();
        inotify::add_watch(&ino, &zones, inotify::WatchFlags::MOVED_TO).unwrap();
        let (done_tx, done_rx) = std::sync::mpsc::channel();
        let racer_path = path.clone();
        let (racer_from, racer_to) = (from.clone(), to.clone());
        std::thread::spawn(move || {
            let mut buf = [std::mem::MaybeUninit::uninit(); 4096];
            let mut events = inotify::Reader::new(&ino, &mut buf);
            // Bounded: the zone file's event, or the "stop" file's.
            for _ in 0..64 {
                let Ok(e) = events.next() else { return };
                let name = e.file_name().map(|n| n.to_string_lossy().into_owned());
                match name.as_deref() {
                    Some("example.com.zone") => break,
                    Some("stop") => return,
                    _ => {}
                }
            }
            let edited = (|| -> std::io::Result<bool> {
                use std::os::unix::fs::FileExt;
                let f = std::fs::OpenOptions::new()
                    .read(true)
                    .write(true)
                    .open(&racer_path)?;
                let meta = f.metadata()?;
                let text = std::fs::read_to_string(&racer_path)?;
                let Some(at) = text.find(&racer_from) else {
                    return Ok(false);
                };
                f.write_all_at(racer_to.as_bytes(), at as u64)?;
                f.set_times(
                    std::fs::FileTimes::new()
                        .set_accessed(meta.accessed()?)
                        .set_modified(meta.modified()?),
                )?;
                Ok(true)
            })();
            let _ = done_tx.send(edited.unwrap_or(false));
        });
        let first = format!("first-{round}");
        assert_eq!(
            b.add_challenge(20 + u16::from(round), "example.com", &first),
            Some(0),
            "{}",
            b.text()
        );
        let second = format!("second-{round}");
        assert_eq!(
            b.add_challenge(40 + u16::from(round), "example.com", &second),
            Some(0),
            "{}",
            b.text()
        );
        let edited = done_rx
            .recv_timeout(Duration::from_secs(5))
            .unwrap_or(false);
        if !edited {
            // The racer missed: wake it so it ends, and try the next round
            // from the same address.
            std::fs::write(dir.path().join("stop"), "").unwrap();
            std::fs::rename(dir.path().join("stop"), zones.join("stop")).unwrap();
            std::fs::remove_file(zones.join("stop")).unwrap();
            b.wait_served("www.example.com.", Ipv4Addr::new(192, 0, 2, 79 + round));
            continue;
        }
        raced += 1;
        // The edit is taken in, and both writes kept: now in the file (the
        // second write, or the reloader, took it in) and served.
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        loop {
            let now = std::fs::read_to_string(&path).unwrap();
            if now.contains(&to) && now.contains(&first) && now.contains(&second) {
                break;
            }
            assert!(
                std::time::Instant::now() < deadline,
                "round {round}: the edit or a write is missing:\n{now}\n{}",
                b.text()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        b.wait_served("www.example.com.", Ipv4Addr::new(192, 0, 2, 80 + round));
    }
    eprintln!("raced in {raced} of 15 rounds");
    assert!(raced > 0, "the racer never edited the file");
}

/// Round 32: a zone file rewritten in place in zones_dir, same size, its
/// modification time put back, is taken in (served, committed as an
/// external change), and a write after it keeps it. The reloader saw the
/// new text, but the store trusted the unchanged identity: the edit was
/// never served, and the next write erased it.
#[test]
fn an_edit_in_place_with_its_mtime_put_back_is_taken_in_and_kept() {
    let (dir, zones) = folder(&[]);
    let b = Binary::start(dir.path(), &acme_key(&["example.com"]));
    b.wait_for(&|t| t.contains(" serving "), "the server");
    b.wait_served("www.example.com.", Ipv4Addr::new(192, 0, 2, 80));
    // Past the second the file was written in, so the edit would move
    // the mtime if it were not put back.
    std::thread::sleep(Duration::from_millis(1100));
    let path = zones.join("example.com.zone");
    let before = rewrite_keeping_mtime(&path, "www IN A 192.0.2.80", "www IN A 192.0.2.81");
    let after = std::fs::metadata(&path).unwrap();
    assert_eq!(
        (after.len(), after.modified().unwrap()),
        (before.len(), before.modified().unwrap()),
        "the identity is kept"
    );
    b.wait_served("www.example.com.", Ipv4Addr::new(192, 0, 2, 81));
    assert!(
        b.text()
            .contains("zone file changed on disk; reloading before the write"),
        "{}",
        b.text()
    );
    // A write after it is computed on the edit: NOERROR, and the file
    // still has the person's address.
    assert_eq!(
        b.add_challenge(7, "example.com", "after-the-edit"),
        Some(0),
        "{}",
        b.text()
    );
    let now = std::fs::read_to_string(&path).unwrap();
    assert!(
        now.contains("www IN A 192.0.2.81") && now.contains("after-the-edit"),
        "{now}"
    );
    b.wait_served("www.example.com.", Ipv4Addr::new(192, 0, 2, 81));
    // Committed as an external change (bounded: 20 s).
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    loop {
        let out = std::process::Command::new("git")
            .arg("-C")
            .arg(&zones)
            .args(["log", "--format=%s", "-p", "--", "example.com.zone"])
            .output()
            .unwrap();
        let log = String::from_utf8_lossy(&out.stdout).into_owned();
        if log.contains("external change") && log.contains("+www IN A 192.0.2.81") {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the edit is not committed:\n{log}\n{}",
            b.text()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}
