//! Queries against the real server over real UDP and TCP sockets.

mod common;

use std::net::Ipv4Addr;
use std::time::{Duration, Instant};

use common::*;
use hickory_proto::op::{Message, ResponseCode};
use hickory_proto::rr::RecordType;

fn server() -> TestServer {
    TestServer::start(
        &[("example.com.zone", &example_zone(2024010101, "192.0.2.80"))],
        "",
    )
}

#[test]
fn rfc1034_4_3_2_a_answer_is_authoritative_over_udp_and_tcp() {
    let s = server();
    for resp in [
        s.udp(&query("www.example.com.", RecordType::A)),
        s.tcp(&query("www.example.com.", RecordType::A)),
    ] {
        assert_eq!(rcode(&resp), ResponseCode::NoError);
        assert!(resp.metadata.authoritative, "AA must be set");
        assert_eq!(a_addrs(&resp), vec![Ipv4Addr::new(192, 0, 2, 80)]);
    }
}

#[test]
fn response_echoes_id_and_question() {
    let s = server();
    let q = query("WWW.Example.COM.", RecordType::A);
    let resp = s.udp(&q);
    assert!(is_response_to(&resp, &q));
    assert_eq!(resp.queries.len(), 1);
    assert_eq!(resp.queries[0].name(), q.queries[0].name());
}

#[test]
fn rfc2308_nxdomain_with_soa() {
    let s = server();
    let resp = s.udp(&query("nope.example.com.", RecordType::A));
    assert_eq!(rcode(&resp), ResponseCode::NXDomain);
    assert!(resp.metadata.authoritative);
    assert!(
        resp.authorities
            .iter()
            .any(|r| r.record_type() == RecordType::SOA),
        "negative answer carries the SOA: {resp:?}"
    );
}

#[test]
fn foreign_zone_is_refused() {
    let s = server();
    let resp = s.udp(&query("www.example.org.", RecordType::A));
    assert_eq!(rcode(&resp), ResponseCode::Refused);
    assert!(!resp.metadata.authoritative);
}

#[test]
fn rfc2181_9_truncation_drops_whole_rrset_and_tcp_gets_it_all() {
    let s = server();
    for q in [
        query("big.example.com.", RecordType::TXT),
        query_edns("big.example.com.", RecordType::TXT, 1232, 0),
    ] {
        let resp = s.udp(&q);
        assert!(resp.metadata.truncation, "TC expected: {:?}", resp.metadata);
        let txt = resp
            .answers
            .iter()
            .filter(|r| r.record_type() == RecordType::TXT)
            .count();
        assert!(txt == 0 || txt == BIG_TXT_COUNT, "partial RRset of {txt}");
    }
    let resp = s.tcp(&query("big.example.com.", RecordType::TXT));
    assert!(!resp.metadata.truncation);
    assert_eq!(resp.answers.len(), BIG_TXT_COUNT);
}

#[test]
fn rfc6891_7_opt_in_response_to_opt_query() {
    let s = server();
    let resp = s.udp(&query_edns("www.example.com.", RecordType::A, 1232, 0));
    assert_eq!(rcode(&resp), ResponseCode::NoError);
    assert!(resp.edns.is_some(), "OPT expected in response");
    let plain = s.udp(&query("www.example.com.", RecordType::A));
    assert!(plain.edns.is_none(), "no OPT without one in the query");
}

#[test]
fn rfc6891_6_1_3_unknown_version_is_badvers() {
    let s = server();
    let resp = s.udp(&query_edns("www.example.com.", RecordType::A, 1232, 1));
    assert_eq!(u16::from(resp.metadata.response_code), 16, "{resp:?}");
    assert!(resp.edns.is_some());
    assert!(resp.answers.is_empty());
}

#[test]
fn garbage_gets_formerr_and_runts_are_dropped() {
    let s = server();
    // A header claiming one question, followed by a broken name.
    let garbage = [
        0x12, 0x34, 0x00, 0x00, 0, 1, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 0xff,
    ];
    let resp = Message::from_vec(&s.udp_raw(&garbage).expect("an answer")).unwrap();
    assert_eq!(resp.metadata.id, 0x1234);
    assert_eq!(rcode(&resp), ResponseCode::FormErr);
    assert!(
        s.udp_raw_wait(&[1, 2, 3], Duration::from_millis(300))
            .is_none()
    );
    // The server is still there.
    let ok = s.udp(&query("www.example.com.", RecordType::A));
    assert_eq!(rcode(&ok), ResponseCode::NoError);
}

#[test]
fn unknown_opcode_is_notimp() {
    let s = server();
    let bytes = opcode_message(3);
    let resp = Message::from_vec(&s.udp_raw(&bytes).expect("an answer")).unwrap();
    assert_eq!(rcode(&resp), ResponseCode::NotImp);
    assert_eq!(resp.metadata.id, u16::from_be_bytes([bytes[0], bytes[1]]));
}

#[test]
fn rfc7766_6_2_1_several_queries_on_one_connection_in_order() {
    let s = server();
    let mut conn = s.tcp_connect();
    let names = ["www.example.com.", "ns1.example.com.", "nope.example.com."];
    let queries: Vec<Message> = names.iter().map(|n| query(n, RecordType::A)).collect();
    // Pipelined: all sent before any answer is read.
    for q in &queries {
        tcp_send(&mut conn, &q.to_vec().unwrap());
    }
    for q in &queries {
        let resp = Message::from_vec(&tcp_recv(&mut conn).expect("answer")).unwrap();
        assert!(is_response_to(&resp, q));
    }
    // And one more after the burst.
    let q = query("www.example.com.", RecordType::A);
    tcp_send(&mut conn, &q.to_vec().unwrap());
    let resp = Message::from_vec(&tcp_recv(&mut conn).expect("answer")).unwrap();
    assert_eq!(a_addrs(&resp), vec![Ipv4Addr::new(192, 0, 2, 80)]);
}

#[test]
fn rfc7766_6_2_3_idle_connections_are_closed() {
    let s = TestServer::start(
        &[("example.com.zone", &example_zone(1, "192.0.2.80"))],
        "[server]\nudp_workers = 1\ntcp_idle_timeout = \"300ms\"\n",
    );
    let mut conn = s.tcp_connect();
    let started = Instant::now();
    assert!(tcp_recv(&mut conn).is_none(), "closed without an answer");
    let waited = started.elapsed();
    assert!(waited < Duration::from_secs(2), "closed after {waited:?}");
}

#[test]
fn tcp_connection_limit_closes_extra_connections() {
    let s = TestServer::start(
        &[("example.com.zone", &example_zone(1, "192.0.2.80"))],
        "[server]\nudp_workers = 1\ntcp_max_connections = 2\ntcp_max_per_source = 2\n",
    );
    let mut held: Vec<_> = (0..2).map(|_| s.tcp_connect()).collect();
    // Make sure both are accepted and served before the third arrives.
    for c in &mut held {
        let q = query("www.example.com.", RecordType::A);
        tcp_send(c, &q.to_vec().unwrap());
        assert!(tcp_recv(c).is_some());
    }
    let mut extra = s.tcp_connect();
    let q = query("www.example.com.", RecordType::A);
    let _ = std::io::Write::write_all(&mut extra, &q.to_vec().unwrap());
    assert!(
        tcp_recv(&mut extra).is_none(),
        "third connection must be closed"
    );
    drop(held);
    // Capacity comes back once the others close.
    let (resp, ok) = {
        let deadline = Instant::now() + Duration::from_secs(3);
        loop {
            let mut c = s.tcp_connect();
            tcp_send(&mut c, &q.to_vec().unwrap());
            if let Some(bytes) = tcp_recv(&mut c) {
                break (Some(bytes), true);
            }
            if Instant::now() > deadline {
                break (None, false);
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    };
    assert!(ok && resp.is_some());
}

/// Four workers answer on one port that no other socket can join: a
/// process of the same user that sets SO_REUSEPORT (as dig does for its
/// source port, or as a hijacker would) cannot bind it to take a share of
/// the queries, on the listen address or the wildcard.
#[test]
fn udp_workers_share_one_port_no_one_can_join() {
    use socket2::{Domain, Protocol, Socket, Type};
    let s = TestServer::start(
        &[("example.com.zone", &example_zone(1, "192.0.2.80"))],
        "[server]\nudp_workers = 4\n",
    );
    for _ in 0..20 {
        let resp = s.udp(&query("www.example.com.", RecordType::A));
        assert_eq!(rcode(&resp), ResponseCode::NoError);
    }
    for ip in [Ipv4Addr::LOCALHOST, Ipv4Addr::UNSPECIFIED] {
        let joiner = Socket::new(Domain::IPV4, Type::DGRAM, Some(Protocol::UDP)).unwrap();
        joiner.set_reuse_port(true).unwrap();
        joiner.set_reuse_address(true).unwrap();
        let at = std::net::SocketAddr::from((ip, s.addr.port()));
        assert!(
            joiner.bind(&at.into()).is_err(),
            "{at} joined the server's port"
        );
    }
}

/// A burst from several sockets reaches the server faster than it reads,
/// so its workers take the datagrams in batches (recvmmsg) and answer them
/// together (sendmmsg): every query gets exactly its own answer, on the
/// socket that asked, whatever else shares its batch (a runt that gets no
/// answer, a 60,000-byte datagram, NXDOMAIN and FORMERR answers).
#[test]
fn udp_burst_answers_every_query_once_to_its_own_socket() {
    use std::collections::HashMap;
    use std::net::UdpSocket;
    let s = server();
    const SOCKETS: u16 = 4;
    const PER_SOCKET: u16 = 32;
    let socks: Vec<UdpSocket> = (0..SOCKETS)
        .map(|_| {
            let sock = UdpSocket::bind((Ipv4Addr::LOCALHOST, 0)).unwrap();
            sock.set_read_timeout(Some(Duration::from_secs(3))).unwrap();
            sock
        })
        .collect();
    // What each (socket, id) must be answered with.
    let mut expect: HashMap<(u16, u16), ResponseCode> = HashMap::new();
    for (k, sock) in socks.iter().enumerate() {
        let k = k as u16;
        for j in 0..PER_SOCKET {
            let id = k * 1000 + j;
            // Two FORMERRs a socket: 8 in all, within the 20 rejections
            // a source may get answered (`[tsig] reject_limit`).
            let bytes = match j {
                2 if k == 0 => {
                    // 60,000 bytes (one only: the socket's receive buffer,
                    // some 200 KB, would drop a few such): a header
                    // claiming one question, then a name that never ends.
                    let mut g = vec![0xffu8; 60_000];
                    g[..12].copy_from_slice(&[0, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0]);
                    g[..2].copy_from_slice(&id.to_be_bytes());
                    expect.insert((k, id), ResponseCode::FormErr);
                    g
                }
                2 | 3 => {
                    let mut g = vec![0, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0xff, 0xff];
                    g[..2].copy_from_slice(&id.to_be_bytes());
                    expect.insert((k, id), ResponseCode::FormErr);
                    g
                }
                _ if j % 8 == 6 => vec![1, 2, 3], // a runt: dropped, never answered
                _ if j % 2 == 0 => {
                    let mut q = query("www.example.com.", RecordType::A);
                    q.metadata.id = id;
                    expect.insert((k, id), ResponseCode::NoError);
                    q.to_vec().unwrap()
                }
                _ => {
                    let mut q = query(&format!("n{id}.example.com."), RecordType::A);
                    q.metadata.id = id;
                    expect.insert((k, id), ResponseCode::NXDomain);
                    q.to_vec().unwrap()
                }
            };
            sock.send_to(&bytes, s.addr).unwrap();
        }
    }
    let mut seen: HashMap<(u16, u16), ResponseCode> = HashMap::new();
    let mut buf = vec![0u8; 65535];
    for (k, sock) in socks.iter().enumerate() {
        let k = k as u16;
        let wanted = expect.keys().filter(|(sk, _)| *sk == k).count();
        // Bounded: one read per expected answer, each at most 3 s.
        for _ in 0..wanted {
            let Ok((n, from)) = sock.recv_from(&mut buf) else {
                break;
            };
            assert_eq!(from, s.addr);
            let resp = Message::from_vec(&buf[..n]).unwrap();
            let prev = seen.insert((k, resp.metadata.id), rcode(&resp));
            assert!(
                prev.is_none(),
                "socket {k} got id {} twice",
                resp.metadata.id
            );
        }
    }
    let mut missing: Vec<_> = expect.keys().filter(|k| !seen.contains_key(k)).collect();
    missing.sort_unstable();
    assert!(missing.is_empty(), "no answer to (socket, id) {missing:?}");
    assert_eq!(seen, expect);
    // Nothing more arrives (the runts stay unanswered).
    for sock in &socks {
        sock.set_read_timeout(Some(Duration::from_millis(200)))
            .unwrap();
        assert!(sock.recv_from(&mut buf).is_err());
    }
}

/// The UDP path reads IPv6 sources too (skipped where ::1 is missing).
#[test]
fn udp_and_tcp_over_ipv6_loopback() {
    use std::net::UdpSocket;
    if UdpSocket::bind("[::1]:0").is_err() {
        eprintln!("SKIPPED: no ::1 on this machine");
        return;
    }
    let s = TestServer::start_listening(
        "[::1]:0",
        &[("example.com.zone", &example_zone(1, "192.0.2.80"))],
        "",
        |_| {},
    );
    assert!(s.addr.is_ipv6());
    let sock = UdpSocket::bind("[::1]:0").unwrap();
    sock.set_read_timeout(Some(Duration::from_secs(3))).unwrap();
    for id in 0..20u16 {
        let mut q = query("www.example.com.", RecordType::A);
        q.metadata.id = id;
        sock.send_to(&q.to_vec().unwrap(), s.addr).unwrap();
    }
    let mut buf = vec![0u8; 65535];
    let mut ids = Vec::new();
    for _ in 0..20 {
        let (n, from) = sock.recv_from(&mut buf).unwrap();
        assert_eq!(from, s.addr);
        let resp = Message::from_vec(&buf[..n]).unwrap();
        assert_eq!(a_addrs(&resp), vec![Ipv4Addr::new(192, 0, 2, 80)]);
        ids.push(resp.metadata.id);
    }
    ids.sort_unstable();
    assert_eq!(ids, (0..20).collect::<Vec<u16>>());
    let resp = s.tcp(&query("www.example.com.", RecordType::A));
    assert_eq!(rcode(&resp), ResponseCode::NoError);
}

fn chaos_txt(s: &TestServer, name: &str) -> Message {
    let mut q = query(name, RecordType::TXT);
    q.queries[0].query_class = hickory_proto::rr::DNSClass::CH;
    s.udp(&q)
}

#[test]
fn rfc4892_identity_and_version_only_when_configured() {
    let s = TestServer::start(
        &[("example.com.zone", &example_zone(2024010101, "192.0.2.80"))],
        "[server]\nudp_workers = 2\nidentity = \"ns1.test\"\nversion = \"zonewright test\"\n",
    );
    for (name, text) in [
        ("id.server.", "ns1.test"),
        ("HOSTNAME.bind.", "ns1.test"),
        ("version.bind.", "zonewright test"),
        ("version.server.", "zonewright test"),
    ] {
        let r = chaos_txt(&s, name);
        assert_eq!(rcode(&r), ResponseCode::NoError, "{name}");
        assert_eq!(r.answers.len(), 1, "{name}");
        assert_eq!(r.answers[0].dns_class, hickory_proto::rr::DNSClass::CH);
        assert!(
            r.answers[0].data.to_string().contains(text),
            "{name}: {r:?}"
        );
    }
    // With EDNS, the answer has an OPT too (RFC 6891 §7).
    let mut q = query_edns("id.server.", RecordType::TXT, 1232, 0);
    q.queries[0].query_class = hickory_proto::rr::DNSClass::CH;
    let r = s.udp(&q);
    assert_eq!(r.answers.len(), 1);
    assert!(r.edns.is_some(), "{r:?}");
    // Any other CH name is refused, and nothing leaks when unset.
    assert_eq!(
        rcode(&chaos_txt(&s, "authors.bind.")),
        ResponseCode::Refused
    );
    let plain = server();
    for name in ["id.server.", "version.bind."] {
        let r = chaos_txt(&plain, name);
        assert_eq!(rcode(&r), ResponseCode::Refused, "{name}");
        assert!(r.answers.is_empty());
    }
}
