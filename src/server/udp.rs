//! One UDP worker per socket: receive, answer from the current snapshot,
//! send. The worker never ends on a bad request; only shutdown stops it.
//! An UPDATE runs on a task of its own that sends its answer on the same
//! socket, so the queries behind it are not kept waiting.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use tokio::net::UdpSocket;
use tokio::sync::{Semaphore, watch};
use tracing::debug;

use super::dispatch::{Dispatcher, Handled, Peer};
use crate::message::Transport;

/// Pause after a socket error so a persistent one cannot spin a core.
const ERROR_PAUSE: Duration = Duration::from_millis(10);

pub(super) async fn worker(
    sock: Arc<UdpSocket>,
    dispatcher: Arc<Dispatcher>,
    updates: Arc<Semaphore>,
    mut stop: watch::Receiver<bool>,
) {
    // Largest UDP payload; anything longer is cut by the kernel.
    let mut buf = vec![0u8; 65535];
    loop {
        let (n, from) = tokio::select! {
            r = sock.recv_from(&mut buf) => match r {
                Ok(ok) => ok,
                Err(e) => {
                    debug!("udp recv: {e}");
                    tokio::time::sleep(ERROR_PAUSE).await;
                    continue;
                }
            },
            _ = stop.changed() => return,
        };
        let peer = Peer {
            addr: from,
            transport: Transport::Udp,
        };
        let Some(request) = buf.get(..n) else {
            continue;
        };
        match dispatcher.handle(request, peer) {
            Handled::Reply(replies) => {
                for reply in replies {
                    send(&sock, &reply, from).await;
                }
            }
            Handled::Update(pending) => match updates.clone().try_acquire_owned() {
                Ok(permit) => {
                    let sock = sock.clone();
                    tokio::spawn(async move {
                        let reply = pending.run().await;
                        send(&sock, &reply, from).await;
                        drop(permit);
                    });
                }
                Err(_) => send(&sock, &pending.busy(), from).await,
            },
        }
    }
}

async fn send(sock: &UdpSocket, reply: &[u8], to: SocketAddr) {
    if let Err(e) = sock.send_to(reply, to).await {
        debug!(peer = %to, "udp send: {e}");
    }
}
