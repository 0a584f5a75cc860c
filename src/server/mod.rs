//! The DNS edge: UDP and TCP listeners, dispatch to the pure cores, and
//! graceful shutdown.
//!
//! # Design
//!
//! ```text
//!  Listeners::bind(addrs, udp_workers)          (sync; tests bind 127.0.0.1:0)
//!      per address: 1 UDP socket (N handles of it, one per worker) + 1 TCP listener
//!           │
//!  Dns::start(state, store, listeners, stop, tasks)     (called by serve::run)
//!      ├─ N udp::Worker threads: recvmmsg ─► Dispatcher::handle ─► sendmmsg  (one socket)
//!      │     └─ UPDATE ─► its own task: store.write ─► send           (bounded)
//!      └─ tcp::accept per listener ─► tcp::connection task per client
//!            (bounded in all and per source, edge::sources; idle and lifetime)
//!            └─ UPDATE ─► awaited in order on the connection
//!  Dns::stop, Dns::drain ─► wait (bounded) for connections and UPDATEs to finish
//! ```
//!
//! Queries read the current [`ZoneSet`](crate::zone::ZoneSet) snapshot from
//! [`State`] through arc-swap and never wait for the reloader or a writer.
//! Handlers never panic ([`dispatch::Dispatcher::handle`] catches and answers SERVFAIL),
//! and a failing connection ends only itself. The REST API, the watcher
//! and the NOTIFY sender are started beside this edge by
//! [`crate::serve::run`], not from here: an edge imports no other edge.

use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use socket2::{Domain, Protocol, Socket, Type};
use tokio::sync::{Semaphore, watch};
use tokio::task::JoinSet;
use tracing::warn;

pub mod dispatch;
mod ixfr_steps;
mod replay;
#[cfg(test)]
mod signed_tests;
/// The `[acme] expire_after` sweep (the rules: [`crate::expire`]).
pub mod sweep;
mod tcp;
pub mod tsig_layer;
mod udp;
/// RFC 2136 UPDATE at the edge: checks, the write, the signed answer
/// (decoding: [`crate::request::update`]; semantics: [`crate::update`]).
pub mod updater;

pub use dispatch::Dispatcher;

use crate::served::State;
use crate::store::Store;

/// UPDATEs being written at once, over all listeners; beyond it an
/// UPDATE is answered SERVFAIL at once (memory stays bounded).
const MAX_PENDING_UPDATES: usize = 256;

/// How long shutdown waits for open TCP connections to finish.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(5);
/// The receive buffer asked for on each UDP socket (the kernel caps it at
/// `net.core.rmem_max`, 208 KB unless raised, and doubles it).
const UDP_RECEIVE_BUFFER: usize = 4 << 20;
/// Tries to find a port free for both UDP and TCP when binding port 0.
const PORT_ATTEMPTS: usize = 16;

/// A listen address that could not be bound, and why; the inner error of
/// the `io::Error` [`Listeners::bind`] returns.
#[derive(Debug)]
pub struct BindError {
    pub addr: SocketAddr,
    pub source: io::Error,
}

impl BindError {
    /// The address `e` (from [`Listeners::bind`]) failed on, if it says.
    pub fn of(e: &io::Error) -> Option<&BindError> {
        e.get_ref().and_then(|i| i.downcast_ref::<BindError>())
    }
}

impl std::fmt::Display for BindError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "cannot listen on {}: {}", self.addr, self.source)
    }
}

impl std::error::Error for BindError {}

/// Bound, not yet serving, sockets.
#[derive(Debug)]
pub struct Listeners {
    udp: Vec<std::net::UdpSocket>,
    tcp: Vec<std::net::TcpListener>,
    /// The REST API's listener (`[rest] listen`), if any.
    rest: Option<std::net::TcpListener>,
    /// The admin listener (`[admin] listen`), if any.
    admin: Option<std::net::TcpListener>,
}

impl Listeners {
    /// Binds UDP (one socket, with a handle for each of `udp_workers`
    /// workers) and TCP on each address. With port 0 the kernel picks one
    /// port that UDP and TCP then share.
    ///
    /// The workers read one socket, not one SO_REUSEPORT socket each: the
    /// kernel then hands each datagram to whichever worker waits, where
    /// SO_REUSEPORT hashes each client's address to one socket, so a few
    /// busy clients can land on one worker while another idles (5,000
    /// zones, dnsperf with 4 sockets: 225-267k queries/s over four runs,
    /// against 251-269k on one socket). And a port the server holds alone
    /// cannot be joined by another process of the same user that sets
    /// SO_REUSEPORT (dig does, for its source port) and then takes a share
    /// of the queries. The cost is one receive queue's lock shared by the
    /// workers, which matters only at many more cores than a primary of
    /// this kind needs.
    pub fn bind(addrs: &[SocketAddr], udp_workers: usize) -> io::Result<Listeners> {
        let workers = udp_workers.max(1);
        let mut out = Listeners {
            udp: Vec::new(),
            tcp: Vec::new(),
            rest: None,
            admin: None,
        };
        for &addr in addrs {
            // Named in the error: with several addresses, which one failed
            // (and, through [`BindError::of`], the config line it is on).
            let (udp, tcp) = bind_pair(addr)
                .map_err(|e| io::Error::new(e.kind(), BindError { addr, source: e }))?;
            // One receive queue for every worker: as deep as the kernel
            // allows (net.core.rmem_max), so a burst or a flood of junk
            // drops fewer good queries (round 46). Best effort.
            let _ = socket2::SockRef::from(&udp).set_recv_buffer_size(UDP_RECEIVE_BUFFER);
            for _ in 1..workers {
                out.udp.push(udp.try_clone()?);
            }
            out.udp.push(udp);
            out.tcp.push(tcp);
        }
        Ok(out)
    }

    /// Why the host cannot listen on `addr`'s IP address at all: it is not
    /// one of this host's addresses (EADDRNOTAVAIL), or its family is not
    /// enabled. Probed by binding a UDP socket to the address with port 0
    /// (any free port), so a server already listening there, or a port
    /// below 1024 without the privilege, does not get in the way: `check`
    /// runs beside the server. `None` for the host's own addresses and
    /// the wildcards.
    pub fn address_problem(addr: &SocketAddr) -> Option<String> {
        let mut probe = *addr;
        probe.set_port(0);
        let e = std::net::UdpSocket::bind(probe).err()?;
        // With its interface, when it has one (round 54: `fe80::1` for
        // `[fe80::1%1]`).
        let ip = match addr {
            SocketAddr::V6(v6) if v6.scope_id() != 0 => format!("{}%{}", v6.ip(), v6.scope_id()),
            _ => addr.ip().to_string(),
        };
        Some(if e.kind() == io::ErrorKind::AddrNotAvailable {
            format!(
                "{ip} is not an address of this host ({e}): `ip address` lists them; \
                 0.0.0.0 or [::] listens on all"
            )
        } else {
            format!("cannot listen on {ip}: {e}")
        })
    }

    /// Also binds the REST API's TCP listener on `addr` (`[rest] listen`;
    /// tests use port 0), so its address is known before
    /// [`crate::serve::run`].
    pub fn with_rest(mut self, addr: Option<SocketAddr>) -> io::Result<Listeners> {
        if let Some(addr) = addr {
            self.rest = Some(tcp_listener(addr)?);
        }
        Ok(self)
    }

    /// Also binds the admin listener on `addr` (`[admin] listen`).
    pub fn with_admin(mut self, addr: Option<SocketAddr>) -> io::Result<Listeners> {
        if let Some(addr) = addr {
            self.admin = Some(tcp_listener(addr)?);
        }
        Ok(self)
    }

    /// Takes the admin listener out, for the admin server.
    pub fn take_admin(&mut self) -> Option<std::net::TcpListener> {
        self.admin.take()
    }

    /// The admin listener's bound address, if it has one.
    pub fn admin_addr(&self) -> Option<SocketAddr> {
        self.admin.as_ref().and_then(|l| l.local_addr().ok())
    }

    /// Takes the REST API's listener out, for the REST server.
    pub fn take_rest(&mut self) -> Option<std::net::TcpListener> {
        self.rest.take()
    }

    /// The REST API's bound address, if it has a listener.
    pub fn rest_addr(&self) -> Option<SocketAddr> {
        self.rest.as_ref().and_then(|l| l.local_addr().ok())
    }

    /// The addresses actually bound, one per listen address (UDP and TCP
    /// share it).
    pub fn local_addrs(&self) -> Vec<SocketAddr> {
        self.tcp
            .iter()
            .filter_map(|l| l.local_addr().ok())
            .collect()
    }
}

/// The first UDP socket and the TCP listener on one address, same port.
fn bind_pair(addr: SocketAddr) -> io::Result<(std::net::UdpSocket, std::net::TcpListener)> {
    let mut last_err = None;
    for _ in 0..PORT_ATTEMPTS {
        let udp = udp_socket(addr)?;
        let bound = udp.local_addr()?;
        match tcp_listener(bound) {
            Ok(tcp) => return Ok((udp, tcp)),
            // Port 0: UDP got a port TCP can't have; try another.
            Err(e) if addr.port() == 0 && e.kind() == io::ErrorKind::AddrInUse => {
                last_err = Some(e);
            }
            Err(e) => return Err(e),
        }
    }
    Err(last_err.unwrap_or_else(|| io::Error::other("no port free for both UDP and TCP")))
}

/// A UDP socket bound to `addr`, without SO_REUSEPORT: no other socket
/// can join its port.
fn udp_socket(addr: SocketAddr) -> io::Result<std::net::UdpSocket> {
    let s = Socket::new(Domain::for_address(addr), Type::DGRAM, Some(Protocol::UDP))?;
    if addr.is_ipv6() {
        s.set_only_v6(true)?;
    }
    udp::report_destinations(&s, addr.ip())?;
    s.bind(&addr.into())?;
    s.set_nonblocking(true)?;
    Ok(s.into())
}

fn tcp_listener(addr: SocketAddr) -> io::Result<std::net::TcpListener> {
    let s = Socket::new(Domain::for_address(addr), Type::STREAM, Some(Protocol::TCP))?;
    if addr.is_ipv6() {
        s.set_only_v6(true)?;
    }
    s.set_reuse_address(true)?;
    s.bind(&addr.into())?;
    s.listen(1024)?;
    s.set_nonblocking(true)?;
    Ok(s.into())
}

/// The DNS listeners, serving: one thread per UDP socket and a task per
/// TCP listener (and the rejection summary), started by [`Dns::start`]
/// and stopped by [`crate::serve::run`] (the composition root, which also
/// starts the REST API and the watcher: an edge imports no other edge).
pub struct Dns {
    dispatcher: Arc<Dispatcher>,
    udp_stop: Arc<AtomicBool>,
    udp_threads: Vec<std::thread::JoinHandle<()>>,
    connections: Arc<Semaphore>,
    tcp_max_connections: usize,
    updates: Arc<Semaphore>,
}

impl Dns {
    /// Serves DNS on `listeners` (its REST listener, if any, taken out
    /// before) from `state`; UPDATEs write through `store` (built over the
    /// same `state`). The TCP tasks are spawned on `tasks` and end when
    /// `stop` turns true; the UDP threads end on [`Dns::stop`].
    pub fn start(
        state: &Arc<State>,
        store: Arc<Store>,
        listeners: Listeners,
        stop: &watch::Receiver<bool>,
        tasks: &mut JoinSet<()>,
    ) -> io::Result<Dns> {
        let settings = state.config().server.clone();
        let dispatcher = Arc::new(Dispatcher::new(state.clone(), store));
        let updates = Arc::new(Semaphore::new(MAX_PENDING_UPDATES));
        let udp_stop = Arc::new(AtomicBool::new(false));
        let mut udp_threads = Vec::with_capacity(listeners.udp.len());
        for (i, sock) in listeners.udp.into_iter().enumerate() {
            let worker = udp::Worker {
                dispatcher: dispatcher.clone(),
                updates: updates.clone(),
                runtime: tokio::runtime::Handle::current(),
                stop: udp_stop.clone(),
            };
            let thread = std::thread::Builder::new()
                .name(format!("udp-{i}"))
                .spawn(move || worker.run(sock))?;
            udp_threads.push(thread);
        }
        let connections = Arc::new(Semaphore::new(settings.tcp_max_connections));
        let per_source = crate::edge::sources::PerSource::new(settings.tcp_max_per_source);
        for listener in listeners.tcp {
            let listener = tokio::net::TcpListener::from_std(listener)?;
            let accept = tcp::Accept {
                listener,
                dispatcher: dispatcher.clone(),
                updates: updates.clone(),
                connections: connections.clone(),
                per_source: per_source.clone(),
                idle: settings.tcp_idle_timeout,
                lifetime: settings.tcp_max_lifetime,
                stop: stop.clone(),
            };
            tasks.spawn(accept.run());
        }
        tasks.spawn(summarise_rejections(dispatcher.clone(), stop.clone()));
        Ok(Dns {
            dispatcher,
            udp_stop,
            udp_threads,
            connections,
            tcp_max_connections: settings.tcp_max_connections,
            updates,
        })
    }

    /// TSIG keys the dispatcher knows (for the start-up log line).
    pub fn key_count(&self) -> usize {
        self.dispatcher.key_count()
    }

    /// Tells the UDP threads to stop; each sees it within `udp::STOP_POLL`.
    pub fn stop(&self) {
        self.udp_stop.store(true, Ordering::Relaxed);
    }

    /// After [`Dns::stop`] and once the tasks have ended: joins the UDP
    /// threads, then waits (bounded) for open TCP connections to finish
    /// their current request and for UPDATEs already written to be answered.
    pub async fn drain(self) {
        let udp_threads = self.udp_threads;
        let _ = tokio::task::spawn_blocking(move || {
            for t in udp_threads {
                let _ = t.join();
            }
        })
        .await;
        let all = u32::try_from(self.tcp_max_connections).unwrap_or(u32::MAX);
        if tokio::time::timeout(SHUTDOWN_GRACE, self.connections.acquire_many(all))
            .await
            .is_err()
        {
            warn!("some TCP connections were still open at shutdown");
        }
        let all = u32::try_from(MAX_PENDING_UPDATES).unwrap_or(u32::MAX);
        if tokio::time::timeout(SHUTDOWN_GRACE, self.updates.acquire_many(all))
            .await
            .is_err()
        {
            warn!("some UPDATEs were still being written at shutdown");
        }
    }
}

/// Writes the sampled-rejection summary once a minute, so a burst of junk
/// that stops is still summed up ([`crate::edge::guard::RejectLog`]).
async fn summarise_rejections(dispatcher: Arc<Dispatcher>, mut stop: watch::Receiver<bool>) {
    loop {
        tokio::select! {
            _ = tokio::time::sleep(Duration::from_secs(60)) => dispatcher.reject_log.flush(),
            _ = stop.changed() => return,
        }
    }
}

#[cfg(test)]
mod bind_tests {
    use super::*;

    /// A client socket as dig makes one: SO_REUSEPORT, bound to `port` on
    /// any address.
    fn reuseport_client(port: u16) -> io::Result<Socket> {
        let s = Socket::new(Domain::IPV4, Type::DGRAM, Some(Protocol::UDP))?;
        s.set_reuse_port(true)?;
        s.bind(&SocketAddr::from(([0, 0, 0, 0], port)).into())?;
        Ok(s)
    }

    /// The UDP port is taken alone, however many workers read it: a
    /// socket of the same user with SO_REUSEPORT (dig's are) cannot bind
    /// it, so no client's source port is ever the server's and no other
    /// process takes a share of its queries. The workers' handles are one
    /// socket: a datagram sent to the port is read through any of them.
    #[test]
    fn the_udp_port_is_shared_with_no_one_however_many_workers() {
        let any = SocketAddr::from(([127, 0, 0, 1], 0));
        for workers in [1, 2, 4] {
            let l = Listeners::bind(&[any], workers).expect("bind");
            let port = l.local_addrs()[0].port();
            assert_eq!(l.udp.len(), workers);
            assert!(reuseport_client(port).is_err(), "port {port} shared");
            // The one queue is deeper than a socket's default.
            let default: usize = std::fs::read_to_string("/proc/sys/net/core/rmem_default")
                .ok()
                .and_then(|t| t.trim().parse().ok())
                .unwrap_or(0);
            let size = socket2::SockRef::from(&l.udp[0])
                .recv_buffer_size()
                .expect("SO_RCVBUF");
            assert!(size > default, "{size} <= {default}");
            let client = std::net::UdpSocket::bind(any).expect("client");
            client.send_to(b"x", (any.ip(), port)).expect("send");
            let last = l.udp.last().expect("a handle");
            last.set_nonblocking(false).expect("blocking");
            last.set_read_timeout(Some(Duration::from_secs(5)))
                .expect("timeout");
            let mut buf = [0u8; 4];
            assert_eq!(last.recv(&mut buf).expect("received"), 1);
        }
    }
}
