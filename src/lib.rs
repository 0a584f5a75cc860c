//! zonewright: an authoritative DNS server whose single source of truth is a
//! directory of RFC 1035 zone files kept in git.
//!
//! # Layout
//!
//! Protocol and file logic is pure (no tokio, no sockets, no `std::fs`); the
//! edges do I/O and call the cores. The modules form layers, each importing
//! only its own layer or lower ones; `scripts/check-layers.sh` (run by
//! `scripts/test.sh` and `tests/layers.rs`) fails on an upward import.
//!
//! ```text
//!  main.rs (binary)
//!  ── composition ────── serve (starts every edge; stops them on shutdown)
//!  ── edges ──────────── server/ (DNS sockets)   rest/ (HTTP)   watch (file watching)
//!  ── edge support ───── edge/ (per-source guards and caps both network edges share)
//!  ── write path ─────── store (lock, recheck, serial, edit, atomic write, publish)
//!  ── NOTIFY sending ─── notify_out
//!  ── served state ───── served (ArcSwap<ZoneSet>, reload)   loader   journal
//!  ── recorder ───────── store::committer, store::audit (git commits, in order)
//!  ── pure cores ─────── rr rdata rcode request response zonefile zone answer fallback
//!                        update policy tsig serial xfr ixfr notify expire keygen config; git
//! ```
//!
//! How a query and an UPDATE travel:
//!
//! ```text
//!  zone files ──► zonefile (PURE: lossless parse/edit) ──► zone (PURE: validate, index)
//!                                                              │
//!  watch (notify + stat fallback) ──► served::State::reload ──► ArcSwap<ZoneSet> snapshot
//!                                                              │
//!  UDP/TCP listeners (server) ──► tsig (PURE: verify) ──► request (PURE: decode once)
//!        │                                   ├──► answer (PURE) ──► response::encode ┐
//!        │                                   └──► xfr (PURE: AXFR messages) ─────────┤
//!        └─ UPDATE ──► policy (PURE: grants) ──► store::write(compute =             │
//!                        update::evaluate (PURE))                                    │
//!                        store: lock ─ recheck ─ serial (PURE) ─ zonefile edit (PURE) ─ atomic
//!                               write ─ publish snapshot ─► committer thread: git commit ─┤
//!  every answer, unsigned ─► server::tsig_layer::Out::seal (the one signer) ◄────────────┘
//!  edits found on disk (start-up, reload) ─► store::external ─► the same committer thread
//! ```
//!
//! No edge imports another. Pure cores (`rdata` imports `rr`; `answer`
//! imports `response`, which imports `request`; `tsig` and `update` import
//! `request`; never the reverse):
//!
//! - [`rr`]: records as held (class IN, RDATA in wire form), change sets, the canonical
//!   form (RFC 4034 §6.2) and the wire cursor.
//! - [`rdata`]: RDATA presentation format <-> wire, per type and RFC 3597; the one
//!   parser and printer of names in presentation form (the zone file's too).
//! - [`zonefile`]: the lossless document model and its minimal-diff editor.
//! - [`zone`]: validation at load, lookups, the set of served zones.
//! - [`rcode`]: the one RCODE type (header, OPT extended bits, TSIG error field).
//! - [`request`]: the one request decoder: header, question, EDNS, IXFR serial, the
//!   UPDATE sections (`request::update`), into a typed [`request::Request`]; the record
//!   walker `tsig::find` uses to locate the TSIG RR.
//! - [`response`]: the response model ([`response::Answer`]) and the one writer, whose
//!   type enforces section order; encoding with EDNS0 and TC, and every error answer.
//! - [`answer`]: the query algorithm (RFC 1034 §4.3.2, RFC 2308, RFC 4592).
//! - [`fallback`]: dynresolve's `fallback` address for REST zones, applied to answers.
//! - [`xfr`]: AXFR message sequences.
//! - [`ixfr`]: IXFR (RFC 1995): diff of two zone versions -> one condensed difference sequence.
//! - [`notify`]: RFC 1996 NOTIFY: targets, message, retry state machine (PURE).
//! - [`serial`]: RFC 1982 serial arithmetic and the serial policies.
//! - [`tsig`]: RFC 8945 TSIG verify/sign over raw bytes, clock passed in.
//! - [`expire`]: which ACME challenge records are stale (`[acme] expire_after`); swept by
//!   `server::sweep` through the store.
//! - [`policy`]: grants: which key or token may change which names and types.
//! - [`update`]: RFC 2136 UPDATE semantics: snapshot + decoded UPDATE -> change set or rcode.
//! - [`config`]: TOML config with clear errors; one loader of TSIG secrets and REST tokens.
//! - [`keygen`]: `zonewright keygen`: a TSIG key as text for the config and each ACME client (PURE).
//! - [`git`]: the audit trail: one commit per write, touching only that zone file; stale
//!   lock files a crash left are removed (`git::locks`).
//!
//! Above them:
//!
//! - [`served`]: the served state: the snapshot set (arc-swap), its reload from the files,
//!   per-zone sources, and the handle of the store's committer thread.
//! - [`loader`]: reading zone files from disk into zones (the file-system edge).
//! - [`journal`]: the IXFR journal: serials -> commits from each zone file's git history, diff
//!   cache (a reader: only the store's committer writes to git).
//! - [`notify_out`]: the NOTIFY sender: a tokio actor driving [`notify`] for each changed zone.
//! - [`store`]: the one write path: lock, recheck, serial, edit, atomic write, publish, then
//!   the committer thread's git commit (`store::committer`, pipelined with the next write);
//!   edits found on disk are taken in with the recent writes they lack re-applied
//!   (`store::recent`); `zonewright edit`'s write (`store::offline`); `[git] remote`'s
//!   pull (a record-level merge written through the store) and push (`store::remote`).
//! - [`edge`]: the guards both network edges share: per-source budget of TSIG and REST
//!   rejections and sampled logs (`edge::guard`), per-source connection caps (`edge::sources`).
//! - [`server`]: tokio listeners and dispatch, the replay cache (`server::replay`), the
//!   ACME expiry sweep.
//! - [`rest`]: the REST API (dynresolve-compatible), a second writer through the store.
//! - [`watch`]: file watching and reload into snapshots; edits that need writing go to the store.
//! - [`edit`]: `zonewright edit ZONE`: a person's edit of a copy, applied through `store::offline`.
//! - [`serve`]: the composition root: [`serve::run`] starts the NOTIFY sender, the REST API,
//!   the DNS listeners, the expiry sweep and the watcher, and stops them on shutdown.

pub mod answer;
pub mod config;
pub mod ctl;
pub mod edge;
pub mod edit;
pub mod expire;
pub mod fallback;
#[cfg(test)]
mod fixture;
pub mod git;
pub mod ixfr;
pub mod journal;
pub mod keygen;
pub mod loader;
pub mod metrics;
pub mod notify;
pub mod notify_out;
pub mod paths;
pub mod policy;
pub mod rcode;
pub mod rdata;
pub mod request;
pub mod response;
pub mod rest;
pub mod rr;
pub mod serial;
pub mod serve;
pub mod served;
pub mod server;
pub mod store;
pub mod tsig;
pub mod update;
pub mod watch;
pub mod xfr;
pub mod zone;
pub mod zonefile;
