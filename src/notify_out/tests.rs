use super::*;
use crate::config::{ZoneConfig, parse_zone_name};
use crate::rr::{Rdata, RecordType};

fn soa(serial: u32) -> Rr {
    let mut rdata = b"\x03ns1\x07example\x03com\x00\x0ahostmaster\x07example\x03com\x00".to_vec();
    for v in [serial, 7200, 3600, 1_209_600, 300] {
        rdata.extend_from_slice(&v.to_be_bytes());
    }
    Rr {
        name: zone(),
        ttl: 3600,
        rtype: RecordType::SOA,
        rdata: Rdata::new(rdata),
    }
}

fn zone() -> Name {
    parse_zone_name("example.com").expect("name")
}

fn fast() -> RetryPolicy {
    RetryPolicy {
        tries: 3,
        first_wait: Duration::from_millis(100),
        max_wait: Duration::from_millis(200),
    }
}

/// A notifier for example.com with one target: `sock`.
async fn setup(policy: RetryPolicy) -> (Notifier, UdpSocket, watch::Sender<bool>) {
    let sock = UdpSocket::bind((Ipv4Addr::LOCALHOST, 0))
        .await
        .expect("bind");
    let target = Target::parse(&sock.local_addr().expect("addr").to_string()).expect("target");
    let mut config = Config::new("/nonexistent".into(), vec![]);
    config.zones.push(ZoneConfig {
        name: zone(),
        file: None,
        allow_transfer: vec![],
        allow_transfer_keys: vec![],
        notify: vec![target],
        notify_key: None,
        confirm: 0,
        confirm_timeout: crate::config::DEFAULT_CONFIRM_TIMEOUT,
    });
    let (stop_tx, stop_rx) = watch::channel(false);
    (
        Notifier::start_with(&config, policy, Default::default(), stop_rx),
        sock,
        stop_tx,
    )
}

/// The next NOTIFY within 1 s: (ID, serial in the answer, sender). The
/// propagation tracker's SOA queries to the same target are skipped.
async fn recv(sock: &UdpSocket) -> Option<(u16, u32, SocketAddr)> {
    recv_within(sock, Duration::from_secs(1)).await
}

async fn recv_within(sock: &UdpSocket, wait: Duration) -> Option<(u16, u32, SocketAddr)> {
    let deadline = tokio::time::Instant::now() + wait;
    let mut buf = [0u8; 512];
    loop {
        let (n, from) = tokio::time::timeout_at(deadline, sock.recv_from(&mut buf))
            .await
            .ok()?
            .ok()?;
        let Ok(m) = hickory_proto::op::Message::from_vec(&buf[..n]) else {
            continue;
        };
        if m.metadata.op_code != hickory_proto::op::OpCode::Notify {
            continue;
        }
        let serial = m.answers.iter().find_map(|r| match &r.data {
            hickory_proto::rr::RData::SOA(s) => Some(s.serial),
            _ => None,
        })?;
        return Some((m.metadata.id, serial, from));
    }
}

async fn answer(sock: &UdpSocket, id: u16, to: SocketAddr) {
    let mut reply = id.to_be_bytes().to_vec();
    reply.extend_from_slice(&[
        0x80 | (crate::request::opcode::NOTIFY << 3) | 0x04,
        0,
        0,
        0,
        0,
        0,
        0,
        0,
        0,
        0,
    ]);
    sock.send_to(&reply, to).await.expect("send");
}

async fn settle<F: Fn() -> bool>(f: F) -> bool {
    for _ in 0..100 {
        if f() {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    false
}

#[tokio::test]
async fn rfc1996_3_6_retransmits_with_the_same_id_until_answered() {
    let (n, sock, _stop) = setup(fast()).await;
    n.zone_changed(&zone(), 2, &soa(2));
    let (id, serial, from) = recv(&sock).await.expect("first try");
    assert_eq!(serial, 2);
    let (id2, serial2, from2) = recv(&sock).await.expect("a retransmission");
    assert_eq!((id2, serial2), (id, 2));
    answer(&sock, id, from2).await;
    let c = n.counters(&zone()).expect("counters");
    assert!(settle(|| c.acknowledged.load(Ordering::Relaxed) == 1).await);
    assert!(c.sent.load(Ordering::Relaxed) >= 2);
    assert_eq!(c.failed.load(Ordering::Relaxed), 0);
    assert_eq!(from.ip(), from2.ip());
    // Answered: no more tries.
    let more = recv_within(&sock, Duration::from_millis(400)).await;
    assert!(more.is_none(), "no retransmission after the answer");
}

#[tokio::test]
async fn rfc1996_3_6_gives_up_after_the_last_try() {
    let (n, sock, _stop) = setup(fast()).await;
    n.zone_changed(&zone(), 2, &soa(2));
    for _ in 0..3 {
        recv(&sock).await.expect("a try");
    }
    let c = n.counters(&zone()).expect("counters");
    assert!(settle(|| c.failed.load(Ordering::Relaxed) == 1).await);
    assert_eq!(c.sent.load(Ordering::Relaxed), 3);
    assert_eq!(c.acknowledged.load(Ordering::Relaxed), 0);
}

#[tokio::test]
async fn newer_serial_replaces_the_one_in_flight() {
    let (n, sock, _stop) = setup(fast()).await;
    n.zone_changed(&zone(), 2, &soa(2));
    let (_, serial, _) = recv(&sock).await.expect("first");
    assert_eq!(serial, 2);
    n.zone_changed(&zone(), 3, &soa(3));
    // (A retransmission of 2 may still be on its way; skip it.)
    let mut got = recv(&sock).await.expect("the newer serial");
    if got.1 == 2 {
        got = recv(&sock).await.expect("the newer serial");
    }
    let (id, serial, from) = got;
    assert_eq!(serial, 3);
    answer(&sock, id, from).await;
    let c = n.counters(&zone()).expect("counters");
    assert!(settle(|| c.acknowledged.load(Ordering::Relaxed) == 1).await);
    let more = recv_within(&sock, Duration::from_millis(400)).await;
    assert!(more.is_none(), "serial 2 is not retried once 3 is out");
}

#[tokio::test]
async fn rfc1996_3_6_port_unreachable_gives_up_at_once() {
    // Default policy: the next try would be 2 s away; the ICMP port
    // unreachable ends it well before.
    let (n, sock, _stop) = setup(RetryPolicy::default()).await;
    drop(sock);
    n.zone_changed(&zone(), 2, &soa(2));
    let c = n.counters(&zone()).expect("counters");
    assert!(settle(|| c.failed.load(Ordering::Relaxed) == 1).await);
    assert_eq!(c.sent.load(Ordering::Relaxed), 1);
}

#[tokio::test]
async fn zones_without_targets_cost_nothing() {
    let (n, _sock, _stop) = setup(fast()).await;
    let other = parse_zone_name("example.net").expect("name");
    n.zone_changed(&other, 2, &soa(2));
    assert!(n.counters(&other).is_none());
}
