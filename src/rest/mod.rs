//! The REST API (issue #5): dynresolve's endpoints as a second writer
//! through the one write path.
//!
//! # Design
//!
//! ```text
//!  [rest] listen (bound with the DNS sockets: Listeners::with_rest)
//!      │ accept ─► allow CIDRs, per-source and global connection caps:
//!      │           outside or over them the socket is closed unread
//!      │ ─► TLS handshake (rustls, ring, TLS 1.2+; when [rest] tls)
//!      └─ per connection (header_timeout, max_lifetime): hyper http1
//!            ─► axum Router (http.rs, EDGE)
//!            failed-auth throttle per source (429) ─► Bearer token,
//!            constant time (401) ─► write rate per token and per source
//!            (429 + Retry-After) ─► body: JSON by its headers (415), within
//!            body_timeout (408), limit (413), every field known and typed
//!            (400; body.rs, PURE) ─► handler: service.rs (PURE) validates and builds the
//!               compute closure ─► store.write(via "rest", actor = token)
//!               ─► 2xx only once the store returned (durable) + audit log
//!  reads: the served snapshot (the same one DNS answers from)
//!  DNS side: fallback.rs (PURE): NXDOMAIN for an A query in a REST zone
//!            with [rest] fallback ─► the fallback address
//! ```
//!
//! There is no state of its own: a service is an RRset of the zone file, so
//! a REST write is an edit, a serial bump, a git commit (`Via: rest`) and a
//! NOTIFY like any UPDATE, and it survives restarts because the file does.

use std::io;
use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use hyper_util::rt::TokioIo;
use ipnet::IpNet;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::sync::{Semaphore, watch};
use tokio::task::JoinSet;
use tokio_rustls::TlsAcceptor;
use tokio_rustls::rustls;
use tower::ServiceExt;
use tracing::{debug, info, warn};

use crate::config::RestConfig;
use crate::edge::sources::PerSource;
use crate::served::State;
use crate::store::Store;

pub mod admin;
pub mod body;
pub mod http;
pub mod linger;
pub mod service;
pub mod throttle;

/// A TLS handshake slower than this is dropped.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);
/// How long shutdown waits for open requests to finish.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(5);
/// Once a connection is past `max_lifetime` (or the server stops), how
/// long the request in flight may take before the connection is dropped.
const CLOSE_GRACE: Duration = Duration::from_secs(30);

/// The client's address, put in each request's extensions by the server.
#[derive(Clone, Copy, Debug)]
pub struct ClientAddr(pub SocketAddr);

/// The REST server, ready to run on its bound listener.
pub struct Server {
    listener: std::net::TcpListener,
    tls: Option<TlsAcceptor>,
    router: axum::Router,
    allow: Vec<IpNet>,
    max_connections: usize,
    per_source: Arc<PerSource>,
    timeouts: Timeouts,
    /// "REST API" or "admin", for the log.
    label: &'static str,
}

/// Connections the admin listener holds open at once (scrapers, probes),
/// and per source: a prober or scraper needs one or two; a client that
/// opens more gets them closed unread, and one that sends nothing is
/// closed after [`ADMIN_HEADER_TIMEOUT`].
const ADMIN_MAX_CONNECTIONS: usize = 512;
const ADMIN_MAX_PER_SOURCE: usize = 8;
const ADMIN_HEADER_TIMEOUT: Duration = Duration::from_secs(2);
const ADMIN_MAX_LIFETIME: Duration = Duration::from_secs(60);

/// The per-connection bounds.
#[derive(Clone, Copy)]
struct Timeouts {
    header: Duration,
    lifetime: Duration,
}

impl Server {
    /// Builds the router over `state`/`store` and loads the TLS files; an
    /// unreadable certificate or key is an error naming the file.
    pub fn new(
        config: &RestConfig,
        state: Arc<State>,
        store: Arc<Store>,
        listener: std::net::TcpListener,
    ) -> io::Result<Server> {
        let tls = match &config.tls {
            Some(files) => Some(tls_acceptor(&files.cert, &files.key)?),
            None => None,
        };
        let router = http::router(Arc::new(http::Api::new(config.clone(), state, store)));
        Ok(Server {
            listener,
            tls,
            router,
            allow: config.allow.clone(),
            max_connections: config.max_connections,
            per_source: PerSource::new(config.max_per_source),
            timeouts: Timeouts {
                header: config.header_timeout,
                lifetime: config.max_lifetime,
            },
            label: "REST API",
        })
    }

    /// The admin listener (`[admin]`, see [`admin`]): the same connection
    /// loop and bounds as the REST API, over the admin routes, open to
    /// whoever reaches the address (loopback by default).
    pub fn admin(
        listener: std::net::TcpListener,
        state: Arc<State>,
        notifier: Option<crate::notify_out::Notifier>,
    ) -> Server {
        let router = admin::router(Arc::new(admin::Admin::new(state, notifier)));
        Server {
            listener,
            tls: None,
            router,
            allow: Vec::new(),
            max_connections: ADMIN_MAX_CONNECTIONS,
            per_source: PerSource::new(ADMIN_MAX_PER_SOURCE),
            timeouts: Timeouts {
                header: ADMIN_HEADER_TIMEOUT,
                lifetime: ADMIN_MAX_LIFETIME,
            },
            label: "admin",
        }
    }

    /// Serves until `stop` turns true, then lets open requests finish
    /// (bounded by `SHUTDOWN_GRACE`).
    pub async fn run(self, mut stop: watch::Receiver<bool>) {
        let listener = match tokio::net::TcpListener::from_std(self.listener) {
            Ok(l) => l,
            Err(e) => {
                warn!("REST listener unusable: {e}");
                return;
            }
        };
        let scheme = if self.tls.is_some() { "https" } else { "http" };
        match listener.local_addr() {
            Ok(addr) => info!("{} listening on {scheme}://{addr}", self.label),
            Err(e) => info!("{} listening ({scheme}; address unknown: {e})", self.label),
        }
        let slots = Arc::new(Semaphore::new(self.max_connections));
        let mut conns = JoinSet::new();
        loop {
            // Reap finished connections so the set stays as small as the
            // number open.
            while conns.try_join_next().is_some() {}
            let accepted = tokio::select! {
                a = listener.accept() => a,
                _ = stop.wait_for(|s| *s) => break,
            };
            let (tcp, peer) = match accepted {
                Ok(a) => a,
                Err(e) => {
                    // EMFILE and the like: back off rather than spin.
                    warn!("REST accept failed: {e}");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            };
            // Checked before a byte is read: a disallowed or greedy client
            // holds no slot and gets no answer. Debug only: these are the
            // attacker's own connections, and logging each would let it
            // flood the log.
            if !allowed(&self.allow, peer.ip()) {
                debug!(%peer, "REST connection from a disallowed address; closed");
                continue;
            }
            let Some(slot) = self.per_source.try_acquire(peer.ip()) else {
                debug!(%peer, "too many REST connections from this source; closed a new one");
                continue;
            };
            let Ok(permit) = slots.clone().try_acquire_owned() else {
                debug!(%peer, "too many REST connections; closed a new one");
                continue;
            };
            let _ = tcp.set_nodelay(true);
            let router = self.router.clone();
            let tls = self.tls.clone();
            let timeouts = self.timeouts;
            let stop = stop.clone();
            conns.spawn(async move {
                let _held = (permit, slot);
                let closes_at = tokio::time::Instant::now() + timeouts.lifetime;
                match tls {
                    None => serve_conn(tcp, peer, router, timeouts, closes_at, stop).await,
                    Some(acceptor) => {
                        match tokio::time::timeout(HANDSHAKE_TIMEOUT, acceptor.accept(tcp)).await {
                            Ok(Ok(stream)) => {
                                serve_conn(stream, peer, router, timeouts, closes_at, stop).await
                            }
                            Ok(Err(e)) => debug!(%peer, "REST TLS handshake failed: {e}"),
                            Err(_) => debug!(%peer, "REST TLS handshake timed out"),
                        }
                    }
                }
            });
        }
        // Each connection saw `stop` and is finishing its request.
        let drained = tokio::time::timeout(SHUTDOWN_GRACE, async {
            while conns.join_next().await.is_some() {}
        });
        if drained.await.is_err() {
            warn!("some REST requests were still open at shutdown");
            conns.abort_all();
        }
    }
}

/// Whether `[rest] allow` admits `ip` (empty: everyone). An IPv4-mapped
/// IPv6 address is matched as IPv4.
pub fn allowed(allow: &[IpNet], ip: std::net::IpAddr) -> bool {
    let ip = match ip {
        std::net::IpAddr::V6(v6) => v6
            .to_ipv4_mapped()
            .map_or(std::net::IpAddr::V6(v6), std::net::IpAddr::V4),
        v4 => v4,
    };
    allow.is_empty() || allow.iter().any(|n| n.contains(&ip))
}

/// One HTTP/1.1 connection: each request goes to the router with the
/// client's address in its extensions. Headers must arrive within
/// `header_timeout` (hyper starts that clock when it waits for a request,
/// so a silent or idle connection is closed too). At `closes_at`, or when
/// the server stops, hyper is told to finish the request in flight and
/// close; after [`CLOSE_GRACE`] more the connection is dropped.
async fn serve_conn<S>(
    io: S,
    peer: SocketAddr,
    router: axum::Router,
    timeouts: Timeouts,
    closes_at: tokio::time::Instant,
    mut stop: watch::Receiver<bool>,
) where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let service =
        hyper::service::service_fn(move |mut req: hyper::Request<hyper::body::Incoming>| {
            req.extensions_mut().insert(ClientAddr(peer));
            router.clone().oneshot(req)
        });
    let mut builder = hyper::server::conn::http1::Builder::new();
    builder
        .timer(hyper_util::rt::TokioTimer::new())
        .header_read_timeout(timeouts.header);
    let conn = builder.serve_connection(TokioIo::new(io), service);
    tokio::pin!(conn);
    let ended = tokio::select! {
        r = conn.as_mut() => Some(r),
        _ = tokio::time::sleep_until(closes_at) => {
            debug!(%peer, "REST connection reached its maximum lifetime");
            None
        }
        _ = stop.wait_for(|s| *s) => None,
    };
    let result = match ended {
        Some(r) => r,
        None => {
            conn.as_mut().graceful_shutdown();
            match tokio::time::timeout(CLOSE_GRACE, conn).await {
                Ok(r) => r,
                Err(_) => {
                    debug!(%peer, "REST connection dropped: its request outlived the close grace");
                    return;
                }
            }
        }
    };
    if let Err(e) = result {
        debug!(%peer, "REST connection ended: {e}");
    }
}

/// A TLS 1.2+ acceptor (rustls with the ring provider) for PEM files.
fn tls_acceptor(cert: &Path, key: &Path) -> io::Result<TlsAcceptor> {
    use rustls::pki_types::pem::PemObject;
    use rustls::pki_types::{CertificateDer, PrivateKeyDer};
    let err = |path: &Path, e: &dyn std::fmt::Display| {
        io::Error::other(format!("[rest] tls: {}: {e}", path.display()))
    };
    let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(cert)
        .map_err(|e| err(cert, &e))?
        .collect::<Result<_, _>>()
        .map_err(|e| err(cert, &e))?;
    if certs.is_empty() {
        return Err(err(cert, &"no certificate in the file"));
    }
    let key_der = PrivateKeyDer::from_pem_file(key).map_err(|e| err(key, &e))?;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut config = rustls::ServerConfig::builder_with_provider(provider)
        .with_protocol_versions(&[&rustls::version::TLS13, &rustls::version::TLS12])
        .map_err(|e| err(cert, &e))?
        .with_no_client_auth()
        .with_single_cert(certs, key_der)
        .map_err(|e| err(key, &e))?;
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(TlsAcceptor::from(Arc::new(config)))
}
