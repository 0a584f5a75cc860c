//! systemd's readiness protocol (`Type=notify`, sd_notify(3)): one
//! datagram to the socket named by `$NOTIFY_SOCKET`, e.g. `READY=1`,
//! `RELOADING=1`, `STATUS=...`. Without that variable (not started by
//! systemd, or tests) it does nothing. A send that fails is logged once at
//! DEBUG: readiness is a courtesy to the service manager, never a reason
//! to stop serving.

use std::os::unix::net::UnixDatagram;

use tracing::debug;

/// Sends `state` (newline-separated `KEY=value` lines) to systemd, if it
/// started us with `Type=notify`.
pub fn notify(state: &str) {
    let Some(path) = std::env::var_os("NOTIFY_SOCKET") else {
        return;
    };
    let sent = UnixDatagram::unbound().and_then(|sock| {
        let bytes = path.as_encoded_bytes();
        if let Some(abstract_name) = bytes.strip_prefix(b"@") {
            // An abstract socket (Linux): systemd passes "@name".
            use std::os::linux::net::SocketAddrExt;
            let addr = std::os::unix::net::SocketAddr::from_abstract_name(abstract_name)?;
            sock.send_to_addr(state.as_bytes(), &addr)
        } else {
            sock.send_to(state.as_bytes(), &path)
        }
    });
    if let Err(e) = sent {
        debug!("sd_notify {state:?} to {path:?} failed: {e}");
    }
}
