//! Issue 11, connections and the REST edge, attacked over real sockets:
//! one source cannot take every TCP DNS or REST slot (127.0.0.2 attacks,
//! 127.0.0.1 is the bystander: all of 127/8 is loopback on Linux), old
//! connections are closed, a stalled body is cut off, `[rest] allow` holds
//! at accept, logs cannot be forged, 5xx bodies carry no paths, rate
//! limits are per token and per source, failed authentication is
//! throttled.

mod common;
mod rest_common;

use std::io::{ErrorKind, Read, Write};
use std::net::{Ipv4Addr, SocketAddr, TcpStream};
use std::time::{Duration, Instant};

use hickory_proto::op::{Message, ResponseCode};
use hickory_proto::rr::RecordType;
use socket2::{Domain, Protocol, Socket, Type};

use common::{TestServer, example_zone, query, rcode, tcp_recv};

/// The attacker's address: loopback, but another source than 127.0.0.1.
const ATTACKER: Ipv4Addr = Ipv4Addr::new(127, 0, 0, 2);

/// A TCP connection to `to` from `from` (port chosen by the kernel), with
/// bounded read and write timeouts.
fn connect_from(from: Ipv4Addr, to: SocketAddr) -> TcpStream {
    let s = Socket::new(Domain::IPV4, Type::STREAM, Some(Protocol::TCP)).expect("socket");
    s.bind(&SocketAddr::from((from, 0)).into()).expect("bind");
    s.connect_timeout(&to.into(), Duration::from_secs(3))
        .expect("connect");
    let s: TcpStream = s.into();
    s.set_read_timeout(Some(Duration::from_secs(3)))
        .expect("timeout");
    s.set_write_timeout(Some(Duration::from_secs(3)))
        .expect("timeout");
    s
}

/// Whether the peer closed `s` (EOF or reset) within `wait`; data read
/// meanwhile is discarded.
#[allow(dead_code)] // used by the REST tests below
fn closed_within(s: &mut TcpStream, wait: Duration) -> bool {
    let deadline = Instant::now() + wait;
    let mut buf = [0u8; 4096];
    while Instant::now() < deadline {
        let left = deadline.saturating_duration_since(Instant::now());
        s.set_read_timeout(Some(left.max(Duration::from_millis(10))))
            .expect("timeout");
        match s.read(&mut buf) {
            Ok(0) => return true,
            Ok(_) => continue,
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {
                return false;
            }
            Err(_) => return true,
        }
    }
    false
}

/// A framed query for www.example.com/A.
fn framed_query() -> Vec<u8> {
    let q = query("www.example.com.", RecordType::A)
        .to_vec()
        .expect("encode");
    let mut framed = u16::try_from(q.len())
        .expect("short")
        .to_be_bytes()
        .to_vec();
    framed.extend_from_slice(&q);
    framed
}

/// A query over `s` and its answer; `None` if the server closed it.
fn dns_query_over(s: &mut TcpStream) -> Option<Message> {
    s.write_all(&framed_query()).ok()?;
    Message::from_vec(&tcp_recv(s)?).ok()
}

// ---------------------------------------------------------------------------
// TCP DNS
// ---------------------------------------------------------------------------

/// One source opens as many connections as the server has slots and keeps
/// them busy; another source is still answered over TCP, and the attacker
/// got only its per-source share (the default: an eighth of the slots).
#[test]
fn tcp_slots_taken_by_one_source_leave_another_served() {
    let s = TestServer::start(
        &[("example.com.zone", &example_zone(1, "192.0.2.80"))],
        "[server]\nudp_workers = 1\ntcp_max_connections = 16\n",
    );
    let mut held: Vec<TcpStream> = (0..16).map(|_| connect_from(ATTACKER, s.addr)).collect();
    // Each one sends a query, as a client keeping its connections warm.
    let served = held
        .iter_mut()
        .map(dns_query_over)
        .filter(Option::is_some)
        .count();
    assert!(served >= 1, "the attacker is still a client like others");
    assert!(
        served <= 4,
        "one source must stay under a quarter of 16 slots; it got {served}"
    );
    // The bystander, meanwhile.
    let mut mine = connect_from(Ipv4Addr::LOCALHOST, s.addr);
    let resp = dns_query_over(&mut mine).expect("127.0.0.1 answered over TCP");
    assert_eq!(rcode(&resp), ResponseCode::NoError);
    drop(held);
}

/// A connection that keeps querying is still closed once it is older than
/// `tcp_max_lifetime`; every answer it got before was whole.
#[test]
fn tcp_connection_is_closed_after_its_max_lifetime() {
    let s = TestServer::start(
        &[("example.com.zone", &example_zone(1, "192.0.2.80"))],
        "[server]\nudp_workers = 1\ntcp_idle_timeout = \"10s\"\ntcp_max_lifetime = \"1s\"\n",
    );
    let mut c = connect_from(Ipv4Addr::LOCALHOST, s.addr);
    let started = Instant::now();
    let mut answered = 0;
    let mut closed = false;
    // Busy: a query every 200 ms, well inside the idle timeout.
    for _ in 0..40 {
        if started.elapsed() > Duration::from_secs(8) {
            break;
        }
        if c.write_all(&framed_query()).is_err() {
            closed = true;
            break;
        }
        match tcp_recv(&mut c) {
            Some(bytes) => {
                let resp = Message::from_vec(&bytes).expect("a whole answer");
                assert_eq!(rcode(&resp), ResponseCode::NoError);
                answered += 1;
            }
            None => {
                closed = true;
                break;
            }
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    assert!(answered >= 1, "served before its lifetime ended");
    assert!(
        closed,
        "a busy connection must be closed after tcp_max_lifetime (1 s); still open after {:?}",
        started.elapsed()
    );
    // New connections are fine.
    let mut again = connect_from(Ipv4Addr::LOCALHOST, s.addr);
    assert!(dns_query_over(&mut again).is_some());
}
