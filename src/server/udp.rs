//! One UDP worker per SO_REUSEPORT socket, each on an OS thread of its own:
//! blocking receive, answer from the current snapshot, blocking send. No
//! reactor, no task wake-ups in the hot path: two system calls a query,
//! and the kernel spreads queries over the sockets (and so over the cores).
//!
//! The worker never ends on a bad request; it notices shutdown within
//! [`STOP_POLL`]. An UPDATE runs on a task of the async runtime that sends
//! its answer on the same socket, so the queries behind it never wait for
//! a disk write or a git commit.

use std::io::ErrorKind;
use std::net::{SocketAddr, UdpSocket};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use tokio::runtime::Handle;
use tokio::sync::Semaphore;
use tracing::debug;

use super::dispatch::{Dispatcher, Handled, Peer};
use crate::request::Transport;

/// Pause after a socket error so a persistent one cannot spin a core.
const ERROR_PAUSE: Duration = Duration::from_millis(10);
/// How often an idle worker checks for shutdown.
pub(super) const STOP_POLL: Duration = Duration::from_millis(200);

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
        if let Err(e) = sock
            .set_nonblocking(false)
            .and_then(|()| sock.set_read_timeout(Some(STOP_POLL)))
        {
            tracing::error!("udp worker cannot configure its socket: {e}");
            return;
        }
        let sock = Arc::new(sock);
        // Largest UDP payload; anything longer is cut by the kernel.
        let mut buf = vec![0u8; 65535];
        while !self.stop.load(Ordering::Relaxed) {
            let (n, from) = match sock.recv_from(&mut buf) {
                Ok(ok) => ok,
                Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {
                    continue;
                }
                Err(e) => {
                    debug!("udp recv: {e}");
                    std::thread::sleep(ERROR_PAUSE);
                    continue;
                }
            };
            let Some(request) = buf.get(..n) else {
                continue;
            };
            let peer = Peer {
                addr: from,
                transport: Transport::Udp,
            };
            match self.dispatcher.handle(request, peer) {
                Handled::Reply(replies) => {
                    for reply in replies {
                        send(&sock, &reply, from);
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
                    Err(_) => send(&sock, &pending.busy(), from),
                },
            }
        }
    }
}

fn send(sock: &UdpSocket, reply: &[u8], to: SocketAddr) {
    if let Err(e) = sock.send_to(reply, to) {
        debug!(peer = %to, "udp send: {e}");
    }
}
