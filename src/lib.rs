//! zonewright: an authoritative DNS server whose single source of truth is a
//! directory of RFC 1035 zone files kept in git.
//!
//! # Layout
//!
//! Protocol and file logic is pure (no tokio, no sockets, no `std::fs`); the
//! edges do I/O and call the cores.
//!
//! ```text
//!  zone files ──► zonefile (PURE: lossless parse/edit) ──► zone (PURE: validate, index)
//!                                                              │
//!  watch (notify + stat fallback) ──► reload ──► ArcSwap<ZoneSet> snapshot
//!                                                              │
//!  UDP/TCP listeners (server) ──► tsig (PURE: verify) ──► message (PURE: decode)
//!        │                                   ├──► answer (PURE) ──► message::encode ──► tsig sign
//!        │                                   └──► xfr (PURE: AXFR messages, each signed)
//!        └─ UPDATE ──► policy (PURE: grants) ──► store::write(compute = update::evaluate (PURE))
//!                        store: lock ─ recheck ─ serial (PURE) ─ zonefile edit (PURE) ─ atomic
//!                               write ─ publish snapshot ─► committer thread: git commit ─► answer
//! ```
//!
//! - [`rr`]: records as held (class IN, RDATA in wire form) and change sets.
//! - [`rdata`]: RDATA presentation format <-> wire, per type and RFC 3597.
//! - [`zonefile`]: the lossless document model and its minimal-diff editor.
//! - [`zone`]: validation at load, lookups, the set of served zones.
//! - [`answer`]: the query algorithm (RFC 1034 §4.3.2, RFC 2308, RFC 4592).
//! - [`message`]: request classification and response encoding (EDNS0, TC).
//! - [`xfr`]: AXFR message sequences.
//! - [`ixfr`]: IXFR (RFC 1995): diff of two zone versions -> one condensed difference sequence.
//! - [`journal`]: the IXFR journal: serials -> commits from each zone file's git history, diff cache.
//! - [`notify`]: RFC 1996 NOTIFY: targets, message, retry state machine (PURE).
//! - [`serial`]: RFC 1982 serial arithmetic and the serial policies.
//! - [`tsig`]: RFC 8945 TSIG verify/sign over raw bytes, clock passed in.
//! - [`expire`]: which ACME challenge records are stale (`[acme] expire_after`); swept by
//!   `server::expire` through the store.
//! - [`policy`]: grants: which key or token may change which names and types.
//! - [`update`]: RFC 2136 UPDATE semantics: snapshot + message -> change set or rcode.
//! - [`git`]: the audit trail: one commit per write, touching only that zone file; stale
//!   lock files a crash left are removed (`git::locks`).
//! - [`store`]: the one write path: lock, recheck, serial, edit, atomic write, publish, then
//!   the committer thread's git commit (pipelined with the next write).
//! - [`config`]: TOML config with clear errors.
//! - [`keygen`]: `zonewright keygen`: a TSIG key as text for the config and each ACME client (PURE).
//! - [`loader`]: reading zone files from disk into zones (the file-system edge).
//! - [`server`]: tokio listeners and dispatch; the guards at the edge (per-source budget of
//!   TSIG rejections and sampled logs in `server::guard`, per-source connection caps in
//!   `server::sources`, the replay cache in `server::replay`).
//! - [`rest`]: the REST API (dynresolve-compatible), a second writer through the store.
//! - [`watch`]: file watching and reload into snapshots.

pub mod answer;
pub mod config;
pub mod edge;
pub mod expire;
pub mod fallback;
pub mod git;
pub mod ixfr;
pub mod journal;
pub mod keygen;
pub mod loader;
pub mod message;
pub mod notify;
pub mod notify_out;
pub mod policy;
pub mod rdata;
pub mod rest;
pub mod rr;
pub mod serial;
pub mod served;
pub mod server;
pub mod store;
pub mod tsig;
pub mod update;
pub mod watch;
pub mod xfr;
pub mod zone;
pub mod zonefile;
