//! DNS over TCP (RFC 7766): two-octet length framing, several requests per
//! connection answered in order, an idle timeout, and bounds on open
//! connections. RFC 7766 §6.2.2: "To mitigate the risk of unintentional
//! server overload, DNS clients MUST take care to minimize the number of
//! concurrent TCP connections made to any individual server" and servers
//! may impose limits; the policy is ours:
//!
//! - at most `tcp_max_connections` open over all listeners, and at most
//!   `tcp_max_per_source` of one source (an IPv4 address or an IPv6 /64,
//!   see [`super::sources`]); beyond either, a new connection is accepted
//!   and closed at once, before anything is read. One client cannot take
//!   every slot from AXFR, IXFR, TCP UPDATE and TC retries of others.
//! - a connection idle `tcp_idle_timeout` is closed (RFC 7766 §6.2.3), and
//!   so is one older than `tcp_max_lifetime` however busy it is: the
//!   lifetime is checked only while waiting for the next request, so a
//!   response or a zone transfer under way is always finished first.
//!
//! Each request runs on the blocking pool: an AXFR of a large zone is
//! real work and must not stall the reactor; a panic there ends only that
//! request (answered SERVFAIL). An UPDATE's write is then awaited on the
//! connection, so its answer keeps its place in the order.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{OwnedSemaphorePermit, Semaphore, watch};
use tokio::time::timeout;
use tracing::{debug, warn};

use super::dispatch::{Dispatcher, Handled, Peer, TCP_MAX};
use crate::edge::sources::{PerSource, SourceSlot};
use crate::request::Transport;

/// Pause after an accept error (e.g. out of file descriptors).
const ACCEPT_PAUSE: Duration = Duration::from_millis(100);

pub(super) struct Accept {
    pub listener: TcpListener,
    pub dispatcher: Arc<Dispatcher>,
    pub updates: Arc<Semaphore>,
    pub connections: Arc<Semaphore>,
    pub per_source: Arc<PerSource>,
    pub idle: Duration,
    pub lifetime: Duration,
    pub stop: watch::Receiver<bool>,
}

impl Accept {
    pub async fn run(mut self) {
        loop {
            let (stream, peer) = tokio::select! {
                r = self.listener.accept() => match r {
                    Ok(ok) => ok,
                    Err(e) => {
                        warn!("tcp accept: {e}");
                        tokio::time::sleep(ACCEPT_PAUSE).await;
                        continue;
                    }
                },
                _ = self.stop.changed() => return,
            };
            let Some(slot) = self.per_source.try_acquire(peer.ip()) else {
                debug!(%peer, "too many TCP connections from this source; closing new one");
                drop(stream);
                continue;
            };
            let Ok(permit) = self.connections.clone().try_acquire_owned() else {
                debug!(%peer, "too many TCP connections; closing new one");
                drop(stream);
                continue;
            };
            let conn = Connection {
                stream,
                peer,
                dispatcher: self.dispatcher.clone(),
                updates: self.updates.clone(),
                idle: self.idle,
                closes_at: tokio::time::Instant::now() + self.lifetime,
                stop: self.stop.clone(),
                _permit: permit,
                _slot: slot,
            };
            tokio::spawn(conn.run());
        }
    }
}

struct Connection {
    stream: TcpStream,
    peer: SocketAddr,
    dispatcher: Arc<Dispatcher>,
    updates: Arc<Semaphore>,
    idle: Duration,
    /// `tcp_max_lifetime` after the accept.
    closes_at: tokio::time::Instant,
    stop: watch::Receiver<bool>,
    _permit: OwnedSemaphorePermit,
    _slot: SourceSlot,
}

impl Connection {
    async fn run(mut self) {
        let _ = self.stream.set_nodelay(true);
        loop {
            let request = tokio::select! {
                r = read_message(&mut self.stream, self.idle) => match r {
                    Some(bytes) => bytes,
                    None => return,
                },
                _ = self.stop.changed() => return,
                // Only here, between messages: never mid-response.
                _ = tokio::time::sleep_until(self.closes_at) => {
                    debug!(peer = %self.peer, "tcp connection reached its maximum lifetime");
                    return;
                }
            };
            let dispatcher = self.dispatcher.clone();
            let peer = Peer {
                addr: self.peer,
                transport: Transport::Tcp,
            };
            let handled = tokio::task::spawn_blocking(move || dispatcher.handle(&request, peer));
            let replies = match handled.await {
                Ok(Handled::Reply(out)) => out,
                Ok(Handled::Update(pending)) => match self.updates.clone().try_acquire_owned() {
                    Ok(_permit) => vec![pending.run().await],
                    Err(_) => vec![pending.busy()],
                },
                Err(e) => {
                    warn!(peer = %self.peer, "tcp request task failed: {e}");
                    return;
                }
            };
            for reply in replies {
                if !self.write_message(&reply).await {
                    return;
                }
            }
        }
    }

    /// Writes one framed message; false when the connection is done.
    async fn write_message(&mut self, msg: &[u8]) -> bool {
        let Ok(len) = u16::try_from(msg.len()) else {
            warn!(peer = %self.peer, len = msg.len(), "response too long for TCP; dropped");
            return true;
        };
        let mut framed = Vec::with_capacity(msg.len() + 2);
        framed.extend_from_slice(&len.to_be_bytes());
        framed.extend_from_slice(msg);
        match timeout(self.idle, self.stream.write_all(&framed)).await {
            Ok(Ok(())) => true,
            Ok(Err(e)) => {
                debug!(peer = %self.peer, "tcp write: {e}");
                false
            }
            Err(_) => {
                debug!(peer = %self.peer, "tcp write timed out");
                false
            }
        }
    }
}

/// Reads one length-prefixed message, or `None` on EOF, error, idle
/// timeout or a zero length.
async fn read_message(stream: &mut TcpStream, idle: Duration) -> Option<Vec<u8>> {
    let mut len = [0u8; 2];
    timeout(idle, stream.read_exact(&mut len))
        .await
        .ok()?
        .ok()?;
    let len = usize::from(u16::from_be_bytes(len));
    if len == 0 || len > TCP_MAX {
        return None;
    }
    let mut buf = vec![0u8; len];
    timeout(idle, stream.read_exact(&mut buf))
        .await
        .ok()?
        .ok()?;
    Some(buf)
}
