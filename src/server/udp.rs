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
//! The worker never ends on a bad request; it notices shutdown within
//! [`STOP_POLL`]. An UPDATE runs on a task of the async runtime that sends
//! its answer on the same socket, so the queries behind it never wait for
//! a disk write or a git commit.

use std::io::{ErrorKind, IoSlice, IoSliceMut};
use std::net::{SocketAddr, UdpSocket};
use std::os::fd::AsRawFd;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use nix::errno::Errno;
use nix::sys::socket::{MsgFlags, MultiHeaders, SockaddrStorage, recvmmsg, sendmmsg};
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
        let sock = Arc::new(sock);
        let mut bufs: Vec<Vec<u8>> = (0..BATCH).map(|_| vec![0u8; MAX_DATAGRAM]).collect();
        let mut received: Vec<(usize, usize, SocketAddr)> = Vec::with_capacity(BATCH);
        let mut out = Outbox::default();
        while !self.stop.load(Ordering::Relaxed) {
            received.clear();
            match receive_batch(&sock, &mut bufs, &mut received) {
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
            for &(i, n, from) in &received {
                let Some(request) = bufs.get(i).and_then(|b| b.get(..n)) else {
                    continue;
                };
                self.handle(&sock, request, from, &mut out);
            }
            out.flush(&sock);
        }
    }

    /// Answers one datagram: replies join the batch's outbox, an UPDATE
    /// goes to a task that sends its own answer.
    fn handle(&self, sock: &Arc<UdpSocket>, request: &[u8], from: SocketAddr, out: &mut Outbox) {
        let peer = Peer {
            addr: from,
            transport: Transport::Udp,
        };
        match self.dispatcher.handle(request, peer) {
            Handled::Reply(replies) => {
                for reply in replies {
                    out.push(reply, from);
                }
            }
            Handled::Update(pending) => match self.updates.clone().try_acquire_owned() {
                Ok(permit) => {
                    let sock = sock.clone();
                    self.runtime.spawn(async move {
                        let reply = pending.run().await;
                        send(&sock, &reply, from);
                        drop(permit);
                    });
                }
                Err(_) => out.push(pending.busy(), from),
            },
        }
    }
}

/// Waits for at least one datagram and takes up to [`BATCH`]: `received`
/// gets (buffer index, length, source) for each.
fn receive_batch(
    sock: &UdpSocket,
    bufs: &mut [Vec<u8>],
    received: &mut Vec<(usize, usize, SocketAddr)>,
) -> std::io::Result<()> {
    // Fresh headers each call: the kernel overwrites each header's address
    // length with the one it stored, which must not cap the next batch's.
    let mut headers = MultiHeaders::<SockaddrStorage>::preallocate(bufs.len(), None);
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
        if let Some(from) = msg.address.as_ref().and_then(socket_addr) {
            received.push((i, msg.bytes, from));
        }
    }
    Ok(())
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
    replies: Vec<Vec<u8>>,
    to: Vec<Option<SockaddrStorage>>,
}

impl Outbox {
    fn push(&mut self, reply: Vec<u8>, to: SocketAddr) {
        self.replies.push(reply);
        self.to.push(Some(SockaddrStorage::from(to)));
    }

    /// Sends every answer, [`BATCH`] per system call. A datagram the
    /// kernel refuses (the peer's address unreachable, say) is skipped
    /// with a DEBUG line; the rest still go out. Each round sends or skips
    /// at least one (a signal's interruption is retried at most 3 times),
    /// so the loop ends.
    fn flush(&mut self, sock: &UdpSocket) {
        let mut start = 0;
        let mut interrupted = 0;
        let mut headers: Option<MultiHeaders<SockaddrStorage>> = None;
        while start < self.replies.len() {
            let end = (start + BATCH).min(self.replies.len());
            let (Some(replies), Some(to)) = (self.replies.get(start..end), self.to.get(start..end))
            else {
                break;
            };
            let headers = headers.get_or_insert_with(|| MultiHeaders::preallocate(BATCH, None));
            let slices: Vec<[IoSlice<'_>; 1]> = replies.iter().map(|r| [IoSlice::new(r)]).collect();
            match sendmmsg(
                sock.as_raw_fd(),
                headers,
                slices.iter(),
                to,
                [],
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
    }
}

fn send(sock: &UdpSocket, reply: &[u8], to: SocketAddr) {
    if let Err(e) = sock.send_to(reply, to) {
        debug!(peer = %to, "udp send: {e}");
    }
}
