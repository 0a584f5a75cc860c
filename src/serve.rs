//! The composition root: starts every edge over one served state and one
//! store, and stops them all on shutdown.
//!
//! # Design
//!
//! ```text
//!  run(state, store, listeners, shutdown)
//!      ├─ notify_out::Notifier: RFC 1996 NOTIFY actor + a task per (zone, target)
//!      ├─ rest::Server (with [rest]): HTTP(S) API ─► store.write (same store)
//!      ├─ rest::Server::admin (with [admin]): /health /ready /metrics status
//!      ├─ server::Dns: UDP and TCP listeners ─► Dispatcher ─► store.write
//!      ├─ server::sweep (with [acme] expire_after): the sweep ─► store.write
//!      ├─ watch::run: inotify + stat fallback ─► State::reload (blocking pool)
//!      │     └─ serial changed ─► Notifier ◄─ store.write (after publish)
//!      └─ shutdown.await ─► signal all ─► wait (bounded) for them to finish
//! ```
//!
//! Its own layer above the edges (`server/`, `rest/`, `watch`), so none of
//! them imports another. Like mini-redis's `server::run`, [`run`] takes
//! listeners that are already bound and a shutdown future, so tests start
//! a real server in-process on port 0 and learn its address from
//! [`Listeners::local_addrs`]; the binary uses the same function.

use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::sync::Arc;

use tokio::sync::watch;
use tokio::task::JoinSet;
use tracing::{info, warn};

use crate::notify_out::Notifier;
use crate::served::State;
use crate::server::{Dns, Listeners};
use crate::store::Store;

/// Serves DNS (and the REST API, with `[rest]`) on `listeners` from
/// `state`, and keeps `state` in step with the zone files, until
/// `shutdown` completes; every writer writes through `store` (built over
/// the same `state`). Call [`State::reload`] first to serve the zones from
/// the start.
pub async fn run(
    state: Arc<State>,
    store: Arc<Store>,
    mut listeners: Listeners,
    shutdown: impl Future<Output = ()>,
) -> io::Result<()> {
    let addrs = listeners.local_addrs();
    let (stop_tx, stop_rx) = watch::channel(false);
    let notifier = Notifier::start(&state.config(), state.metrics().clone(), stop_rx.clone());
    // As BIND and Knot do at load: every secondary hears the serial we
    // start with (it may have missed changes while we were down), and
    // propagation tracking knows from the start what each should serve.
    notifier.announce(&state.snapshot());
    store.set_notifier(notifier.clone());
    let sweep_store = store.clone();
    let watch_store = store.clone();
    // Built before serving so a bad TLS certificate stops start-up.
    let rest = match (listeners.take_rest(), &state.config().rest) {
        (Some(l), Some(cfg)) => Some(crate::rest::Server::new(
            cfg,
            state.clone(),
            store.clone(),
            l,
        )?),
        (None, Some(_)) => {
            warn!("[rest] is configured but no REST listener was bound (Listeners::with_rest)");
            None
        }
        _ => None,
    };
    if let Some(addr) = listeners.admin_addr() {
        // The bound address (a port of 0 is the system's choice).
        info!("admin listener (/health, /ready, /metrics) on {addr}");
    }
    let admin = listeners
        .take_admin()
        .map(|l| crate::rest::Server::admin(l, state.clone(), Some(notifier.clone())));
    let mut tasks = JoinSet::new();
    if let Some(sync) = state.config().git.sync.clone() {
        let remote = store
            .remote_of(&sync)
            .map_err(|e| io::Error::other(format!("[git] remote: {e}")))?;
        let (handle, task) =
            crate::store::remote::start(store.clone(), remote, sync, stop_rx.clone());
        store.set_sync(handle.clone());
        tasks.spawn(task);
        tasks.spawn(pull_on_sigusr1(handle, stop_rx.clone()));
    }
    let dns = Dns::start(&state, store, listeners, &stop_rx, &mut tasks)?;
    // Always running: a config reload may turn [acme] expire_after on.
    tasks.spawn(crate::server::sweep::run(
        state.clone(),
        sweep_store,
        stop_rx.clone(),
    ));
    if let Some(rest) = rest {
        tasks.spawn(rest.run(stop_rx.clone()));
    }
    if let Some(admin) = admin {
        tasks.spawn(admin.run(stop_rx.clone()));
    }
    tasks.spawn(crate::watch::run(
        state.clone(),
        Some(watch_store),
        Some(notifier),
        stop_rx.clone(),
    ));
    state.set_serving();
    log_startup(&state, &addrs, dns.key_count());
    let zones = state.snapshot().len();
    crate::edge::systemd::notify(&format!("READY=1\nSTATUS=serving {zones} zones"));

    shutdown.await;
    info!("shutting down");
    let _ = stop_tx.send(true);
    dns.stop();
    while tasks.join_next().await.is_some() {}
    dns.drain().await;
    Ok(())
}

/// `kill -USR1`: pull and push now (a forge's webhook can also
/// `POST /v1/git/sync`).
async fn pull_on_sigusr1(
    handle: crate::store::remote::SyncHandle,
    mut stop: watch::Receiver<bool>,
) {
    use tokio::signal::unix::{SignalKind, signal};
    let Ok(mut usr1) = signal(SignalKind::user_defined1()) else {
        warn!("cannot listen for SIGUSR1; pulls happen on their interval only");
        return;
    };
    loop {
        tokio::select! {
            _ = stop.changed() => return,
            got = usr1.recv() => match got {
                Some(()) => {
                    info!("SIGUSR1: git pull and push now");
                    handle.poke();
                }
                None => return,
            },
        }
    }
}

/// One line, whatever the number of zones (each zone is at DEBUG, each
/// failure at ERROR as it was read).
fn log_startup(state: &State, addrs: &[SocketAddr], keys: usize) {
    let zones = state.snapshot();
    // Every record, the SOA too (as `zonewright check` counts them).
    let records: usize = zones.iter().map(|z| z.record_count() + 1).sum();
    let listen: Vec<String> = addrs.iter().map(ToString::to_string).collect();
    info!(
        udp_workers = state.config().server.udp_workers,
        "serving {} zone{}, {records} records, {keys} key{} on {} (UDP and TCP)",
        zones.len(),
        if zones.len() == 1 { "" } else { "s" },
        if keys == 1 { "" } else { "s" },
        listen.join(", ")
    );
}
