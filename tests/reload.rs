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
