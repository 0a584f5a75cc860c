//! The REST API (issue #5): dynresolve's endpoints as a second writer
//! through the one write path.
//!
//! # Design
//!
//! ```text
//!  [rest] listen (bound with the DNS sockets: Listeners::with_rest)
//!      │ accept ─► TLS handshake (rustls, ring, TLS 1.2+; when [rest] tls)
//!      └─ per connection: hyper http1 ─► axum Router (http.rs, EDGE)
//!            allow CIDRs (403) ─► Bearer token, constant time (401)
//!            ─► write rate (429 + Retry-After) ─► body limit (413)
//!            ─► handler: service.rs (PURE) validates and builds the
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
use hyper_util::server::graceful::GracefulShutdown;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::sync::{Semaphore, watch};
use tokio_rustls::TlsAcceptor;
use tokio_rustls::rustls;
use tower::ServiceExt;
use tracing::{info, warn};

use crate::config::RestConfig;
use crate::server::State;
use crate::store::Store;

pub mod fallback;
pub mod http;
pub mod service;

/// Concurrent REST connections; beyond it new ones are closed at once.
const MAX_CONNECTIONS: usize = 256;
/// A TLS handshake slower than this is dropped.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);
/// How long shutdown waits for open requests to finish.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(5);
/// A connection idle this long between requests is closed.
const HEADER_TIMEOUT: Duration = Duration::from_secs(30);

/// The client's address, put in each request's extensions by the server.
#[derive(Clone, Copy, Debug)]
pub struct ClientAddr(pub SocketAddr);

/// The REST server, ready to run on its bound listener.
pub struct Server {
    listener: std::net::TcpListener,
    tls: Option<TlsAcceptor>,
    router: axum::Router,
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
        })
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
            Ok(addr) => info!("REST API listening on {scheme}://{addr}"),
            Err(e) => info!("REST API listening ({scheme}; address unknown: {e})"),
        }
        let graceful = GracefulShutdown::new();
        let slots = Arc::new(Semaphore::new(MAX_CONNECTIONS));
        loop {
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
            let Ok(permit) = slots.clone().try_acquire_owned() else {
                warn!(%peer, "too many REST connections; closing a new one");
                continue;
            };
            let _ = tcp.set_nodelay(true);
            let router = self.router.clone();
            let tls = self.tls.clone();
            let watcher = graceful.watcher();
            tokio::spawn(async move {
                let _permit = permit;
                match tls {
                    None => serve_conn(tcp, peer, router, watcher).await,
                    Some(acceptor) => {
                        match tokio::time::timeout(HANDSHAKE_TIMEOUT, acceptor.accept(tcp)).await {
                            Ok(Ok(stream)) => serve_conn(stream, peer, router, watcher).await,
                            Ok(Err(e)) => info!(%peer, "REST TLS handshake failed: {e}"),
                            Err(_) => info!(%peer, "REST TLS handshake timed out"),
                        }
                    }
                }
            });
        }
        if tokio::time::timeout(SHUTDOWN_GRACE, graceful.shutdown())
            .await
            .is_err()
        {
            warn!("some REST requests were still open at shutdown");
        }
    }
}

/// One HTTP/1.1 connection: each request goes to the router with the
/// client's address in its extensions.
async fn serve_conn<S>(
    io: S,
    peer: SocketAddr,
    router: axum::Router,
    watcher: hyper_util::server::graceful::Watcher,
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
        .header_read_timeout(HEADER_TIMEOUT);
    let conn = builder.serve_connection(TokioIo::new(io), service);
    if let Err(e) = watcher.watch(conn).await {
        info!(%peer, "REST connection ended: {e}");
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
