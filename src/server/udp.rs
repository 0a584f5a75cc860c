//! One UDP worker per socket: receive, answer from the current snapshot,
//! send. The worker never ends on a bad request; only shutdown stops it.

use std::sync::Arc;
use std::time::Duration;

use tokio::net::UdpSocket;
use tokio::sync::watch;
use tracing::debug;

use super::State;
use super::dispatch::{self, Peer};
use crate::message::Transport;

/// Pause after a socket error so a persistent one cannot spin a core.
const ERROR_PAUSE: Duration = Duration::from_millis(10);

pub(super) async fn worker(sock: UdpSocket, state: Arc<State>, mut stop: watch::Receiver<bool>) {
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
            ip: from.ip(),
            transport: Transport::Udp,
        };
        let Some(request) = buf.get(..n) else {
            continue;
        };
        for reply in dispatch::handle(&state, request, peer) {
            if let Err(e) = sock.send_to(&reply, from).await {
                debug!(peer = %from, "udp send: {e}");
            }
        }
    }
}
