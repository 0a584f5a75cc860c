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

/// A `[[zone]]` whose file is missing is read again every pass (1 s):
/// its ERROR is logged once, not at each pass; the file written later is
/// served, and its removal is an ERROR again (a new failure). Runs the
/// binary, so its log is its own.
#[test]
fn a_missing_zone_file_is_reported_once_not_every_pass() {
    let dir = tempfile::tempdir().unwrap();
    let zones = dir.path().join("zones");
    std::fs::create_dir(&zones).unwrap();
    write(
        &zones.join("example.com.zone"),
        &example_zone(1, "192.0.2.80"),
    );
    let config = dir.path().join("zonewright.toml");
    write(
        &config,
        "listen = [\"127.0.0.1:0\"]\nzones_dir = \"zones\"\n[server]\nreload_interval = \"200ms\"\n\
         [[zone]]\nname = \"later.test\"\n",
    );
    let log = dir.path().join("server.log");
    let child = serve_command(&config, &log)
        .env("RUST_LOG", "zonewright=debug")
        .spawn()
        .unwrap();
    struct Kill(std::process::Child);
    impl Drop for Kill {
        fn drop(&mut self) {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }
    let child = Kill(child);
    let text = || std::fs::read_to_string(&log).unwrap_or_default();
    // Bounded: 20 s, 50 ms a turn.
    let wait_for = |what: &dyn Fn(&str) -> bool, why: &str| {
        let deadline = std::time::Instant::now() + Duration::from_secs(20);
        while !what(&text()) {
            assert!(
                std::time::Instant::now() < deadline,
                "{why} within 20 s:\n{}",
                text()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    };
    let errors = |t: &str| {
        t.lines()
            .filter(|l| l.contains("ERROR") && l.contains("later.test"))
            .count()
    };
    let again = "still has the errors it had at the last pass";
    wait_for(
        &|t| t.matches(again).count() >= 3,
        "three passes over the missing file",
    );
    let t = text();
    // The problem and "zone not served": two lines, once.
    assert_eq!(errors(&t), 2, "{t}");
    assert!(t.contains("later.test.zone: cannot read"), "{t}");
    write(
        &zones.join("later.test.zone"),
        &simple_zone("later.test", 7, "192.0.2.7"),
    );
    wait_for(
        &|t| {
            t.lines()
                .any(|l| l.contains("zone loaded") && l.contains("later.test"))
        },
        "the file written is served",
    );
    std::fs::remove_file(zones.join("later.test.zone")).unwrap();
    wait_for(&|t| errors(t) > 2, "its removal reported");
    drop(child);
}
