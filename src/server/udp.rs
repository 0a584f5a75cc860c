//! UDP workers, each on an OS thread of its own, all reading one socket
//! per address: blocking receive of a batch, answers from the current
//! snapshot, one send of the batch's answers. No reactor, no task
//! wake-ups in the hot path.
//!
//! Batches: `recvmmsg(2)` with `MSG_WAITFORONE` waits for the first
//! datagram and then takes whatever else is queued, up to [`BATCH`]; the
//! answers go out with one `sendmmsg(2)`. Under load that is two system
//! calls per batch instead of two per query (the kernel's UDP path is most
//! of a query's cost); an idle server answers each query as it comes, the
//! batch being one datagram. The kernel wakes one waiting worker per
//! datagram, so the queries spread over the workers (and so over the
//! cores) whoever sends them (see [`super::Listeners::bind`]).
//!
//! A socket bound to a wildcard address (`0.0.0.0`, `[::]`) answers from
//! the address each query was sent to: the kernel reports it with every
//! datagram (`IP_PKTINFO`, `IPV6_RECVPKTINFO`) and the answer names it as
//! its source. Left to the routing table, the source of an answer to a
//! query sent to 127.0.0.2 (or a host's second address) was the default
//! one, 127.0.0.1, and the client dropped it as from a stranger (round 46).
//!
//! The worker never ends on a bad request; it notices shutdown within
//! [`STOP_POLL`]. An UPDATE runs on a task of the async runtime that sends
//! its answer on the same socket, so the queries behind it never wait for
//! a disk write or a git commit.

use std::io::{ErrorKind, IoSlice, IoSliceMut};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, UdpSocket};
use std::os::fd::AsRawFd;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use nix::errno::Errno;
use nix::sys::socket::{
    ControlMessage, ControlMessageOwned, MsgFlags, MultiHeaders, SockaddrStorage, recvmmsg,
    sendmmsg, sendmsg, setsockopt, sockopt,
};
use tokio::runtime::Handle;
use tokio::sync::Semaphore;
use tracing::debug;

use super::dispatch::{Dispatcher, Handled, Peer};
use crate::request::Transport;

/// Pause after a socket error so a persistent one cannot spin a core.
const ERROR_PAUSE: Duration = Duration::from_millis(10);
/// How often an idle worker checks for shutdown.
pub(super) const STOP_POLL: Duration = Duration::from_millis(200);
/// Most datagrams read (and answers sent) by one system call.
const BATCH: usize = 32;
/// Largest UDP payload; anything longer is cut by the kernel. The buffers
/// are allocated zeroed, so only the pages a datagram reaches are resident.
const MAX_DATAGRAM: usize = 65535;

/// What a worker needs besides its socket.
pub(super) struct Worker {
    pub dispatcher: Arc<Dispatcher>,
    pub updates: Arc<Semaphore>,
    pub runtime: Handle,
    pub stop: Arc<AtomicBool>,
}

impl Worker {
    /// Serves `sock` until `stop` is set. Blocking: run it on its own thread.
    pub(super) fn run(self, sock: UdpSocket) {
        // The receive timeout bounds the wait for a batch's first datagram
        // (recvmmsg's own timeout is only checked between datagrams).
        if let Err(e) = sock
            .set_nonblocking(false)
            .and_then(|()| sock.set_read_timeout(Some(STOP_POLL)))
        {
            tracing::error!("udp worker cannot configure its socket: {e}");
            return;
        }
        // Bound to a wildcard address: the kernel reports each datagram's
        // destination (see `report_destinations`), the answer's source.
        let wildcard = sock.local_addr().is_ok_and(|a| a.ip().is_unspecified());
        let sock = Arc::new(sock);
        let mut bufs: Vec<Vec<u8>> = (0..BATCH).map(|_| vec![0u8; MAX_DATAGRAM]).collect();
        let mut received: Vec<Received> = Vec::with_capacity(BATCH);
        let mut out = Outbox {
            wildcard,
            ..Outbox::default()
        };
        while !self.stop.load(Ordering::Relaxed) {
            received.clear();
            match receive_batch(&sock, wildcard, &mut bufs, &mut received) {
                Ok(()) => {}
                Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {
                    continue;
                }
                Err(e) if e.kind() == ErrorKind::Interrupted => continue,
                Err(e) => {
                    debug!("udp recv: {e}");
                    std::thread::sleep(ERROR_PAUSE);
                    continue;
                }
            }
            for r in &received {
                let Some(request) = bufs.get(r.buf).and_then(|b| b.get(..r.len)) else {
                    continue;
                };
                self.handle(&sock, request, r.from, r.to, &mut out);
            }
            out.flush(&sock);
        }
    }

    /// Answers one datagram: replies join the batch's outbox, an UPDATE
    /// goes to a task that sends its own answer.
    fn handle(
        &self,
        sock: &Arc<UdpSocket>,
        request: &[u8],
        from: SocketAddr,
        to: Option<IpAddr>,
        out: &mut Outbox,
    ) {
        let peer = Peer {
            addr: from,
            transport: Transport::Udp,
        };
        match self.dispatcher.handle(request, peer) {
            Handled::Reply(replies) => {
                for reply in replies {
                    out.push(reply, from, to);
                }
            }
            Handled::Update(pending) => match self.updates.clone().try_acquire_owned() {
                Ok(permit) => {
                    let sock = sock.clone();
                    self.runtime.spawn(async move {
                        let reply = pending.run().await;
                        send(&sock, &reply, from, to);
                        drop(permit);
                    });
                }
                Err(_) => out.push(pending.busy(), from, to),
            },
        }
    }
}

/// One datagram of a batch: its buffer, length, source, and the local
/// address it was sent to (on a wildcard socket).
struct Received {
    buf: usize,
    len: usize,
    from: SocketAddr,
    to: Option<IpAddr>,
}

/// Asks the kernel to report each datagram's destination address on a
/// socket for the wildcard address `ip`; nothing for any other. Set before
/// the socket is bound, so no query arrives without it.
pub(super) fn report_destinations(
    sock: &impl std::os::fd::AsFd,
    ip: IpAddr,
) -> std::io::Result<()> {
    match ip {
        _ if !ip.is_unspecified() => Ok(()),
        IpAddr::V4(_) => setsockopt(sock, sockopt::Ipv4PacketInfo, &true),
        IpAddr::V6(_) => setsockopt(sock, sockopt::Ipv6RecvPacketInfo, &true),
    }
    .map_err(std::io::Error::from)
}

/// Room for the one control message a datagram carries (or an answer
/// sends): the larger of the two packet-info structures.
fn pktinfo_space() -> Vec<u8> {
    nix::cmsg_space!(libc::in6_pktinfo)
}

/// Waits for at least one datagram and takes up to [`BATCH`]; on a
/// `wildcard` socket, with the address each was sent to.
fn receive_batch(
    sock: &UdpSocket,
    wildcard: bool,
    bufs: &mut [Vec<u8>],
    received: &mut Vec<Received>,
) -> std::io::Result<()> {
    // Fresh headers each call: the kernel overwrites each header's address
    // length with the one it stored, which must not cap the next batch's.
    let mut headers =
        MultiHeaders::<SockaddrStorage>::preallocate(bufs.len(), wildcard.then(pktinfo_space));
    let mut iovs: Vec<[IoSliceMut<'_>; 1]> =
        bufs.iter_mut().map(|b| [IoSliceMut::new(b)]).collect();
    let results = recvmmsg(
        sock.as_raw_fd(),
        &mut headers,
        iovs.iter_mut(),
        MsgFlags::MSG_WAITFORONE,
        None,
    )
    .map_err(std::io::Error::from)?;
    for (i, msg) in results.enumerate() {
        let to = if wildcard {
            msg.cmsgs().ok().and_then(|mut c| {
                c.find_map(|m| match m {
                    ControlMessageOwned::Ipv4PacketInfo(info) => Some(IpAddr::V4(Ipv4Addr::from(
                        u32::from_be(info.ipi_addr.s_addr),
                    ))),
                    ControlMessageOwned::Ipv6PacketInfo(info) => {
                        Some(IpAddr::V6(Ipv6Addr::from(info.ipi6_addr.s6_addr)))
                    }
                    _ => None,
                })
            })
        } else {
            None
        };
        if let Some(from) = msg.address.as_ref().and_then(socket_addr) {
            received.push(Received {
                buf: i,
                len: msg.bytes,
                from,
                to,
            });
        }
    }
    Ok(())
}

/// The packet-info structure that makes `local` an answer's source.
enum Source {
    V4(libc::in_pktinfo),
    V6(libc::in6_pktinfo),
}

impl Source {
    fn new(local: IpAddr) -> Source {
        match local {
            IpAddr::V4(a) => Source::V4(libc::in_pktinfo {
                ipi_ifindex: 0,
                ipi_spec_dst: libc::in_addr {
                    s_addr: u32::from(a).to_be(),
                },
                ipi_addr: libc::in_addr { s_addr: 0 },
            }),
            IpAddr::V6(a) => Source::V6(libc::in6_pktinfo {
                ipi6_addr: libc::in6_addr {
                    s6_addr: a.octets(),
                },
                ipi6_ifindex: 0,
            }),
        }
    }

    fn message(&self) -> ControlMessage<'_> {
        match self {
            Source::V4(i) => ControlMessage::Ipv4PacketInfo(i),
            Source::V6(i) => ControlMessage::Ipv6PacketInfo(i),
        }
    }
}

fn socket_addr(addr: &SockaddrStorage) -> Option<SocketAddr> {
    if let Some(v4) = addr.as_sockaddr_in() {
        return Some(SocketAddr::from(*v4));
    }
    addr.as_sockaddr_in6().map(|v6| SocketAddr::from(*v6))
}

/// A batch's answers, sent together.
#[derive(Default)]
struct Outbox {
    /// The socket is bound to a wildcard address: each answer names its
    /// source (the address its query was sent to).
    wildcard: bool,
    replies: Vec<Vec<u8>>,
    to: Vec<Option<SockaddrStorage>>,
    from: Vec<Option<IpAddr>>,
}

impl Outbox {
    fn push(&mut self, reply: Vec<u8>, to: SocketAddr, from: Option<IpAddr>) {
        self.replies.push(reply);
        self.to.push(Some(SockaddrStorage::from(to)));
        self.from.push(from);
    }

    /// Sends every answer, [`BATCH`] per system call, each run of answers
    /// from one local address together. A datagram the kernel refuses (the
    /// peer's address unreachable, say) is skipped with a DEBUG line; the
    /// rest still go out. Each round sends or skips at least one (a
    /// signal's interruption is retried at most 3 times), so the loop ends.
    fn flush(&mut self, sock: &UdpSocket) {
        let mut start = 0;
        let mut interrupted = 0;
        // Headers with room for the source's control message, and without
        // (a header with room but no message would send stale or empty
        // control data).
        let mut with_source: Option<MultiHeaders<SockaddrStorage>> = None;
        let mut plain: Option<MultiHeaders<SockaddrStorage>> = None;
        while start < self.replies.len() {
            let source = self.from.get(start).copied().flatten();
            // The run of answers from the same local address, at most BATCH.
            let run = self
                .from
                .iter()
                .skip(start)
                .take(BATCH)
                .take_while(|f| **f == source)
                .count()
                .max(1);
            let end = (start + run).min(self.replies.len());
            let (Some(replies), Some(to)) = (self.replies.get(start..end), self.to.get(start..end))
            else {
                break;
            };
            let slices: Vec<[IoSlice<'_>; 1]> = replies.iter().map(|r| [IoSlice::new(r)]).collect();
            let info = source.filter(|_| self.wildcard).map(Source::new);
            let cmsgs: Vec<ControlMessage<'_>> = info.iter().map(Source::message).collect();
            let headers = match info {
                Some(_) => with_source
                    .get_or_insert_with(|| MultiHeaders::preallocate(BATCH, Some(pktinfo_space()))),
                None => plain.get_or_insert_with(|| MultiHeaders::preallocate(BATCH, None)),
            };
            match sendmmsg(
                sock.as_raw_fd(),
                headers,
                slices.iter(),
                to,
                &cmsgs,
                MsgFlags::empty(),
            ) {
                Ok(sent) => {
                    let sent = sent.count();
                    if sent == 0 {
                        debug!("udp send: the kernel took none of {} answers", end - start);
                    }
                    start += sent.max(1);
                }
                Err(Errno::EINTR) if interrupted < 3 => interrupted += 1,
                Err(e) => {
                    // The first answer of this round failed: skip it.
                    let peer = to.first().and_then(|a| a.as_ref()).and_then(socket_addr);
                    debug!(peer = ?peer, "udp send: {e}");
                    start += 1;
                }
            }
        }
        self.replies.clear();
        self.to.clear();
        self.from.clear();
    }
}

/// Sends one answer to `to`, from `from` when the query was sent to that
/// local address of a wildcard socket.
fn send(sock: &UdpSocket, reply: &[u8], to: SocketAddr, from: Option<IpAddr>) {
    let info = from.map(Source::new);
    let cmsgs: Vec<ControlMessage<'_>> = info.iter().map(Source::message).collect();
    let sent = sendmsg(
        sock.as_raw_fd(),
        &[IoSlice::new(reply)],
        &cmsgs,
        MsgFlags::empty(),
        Some(&SockaddrStorage::from(to)),
    );
    if let Err(e) = sent {
        debug!(peer = %to, "udp send: {e}");
    }
}
