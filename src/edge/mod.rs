//! Edge support: the guards both network edges share, the DNS listeners
//! (`server/`) and the REST API (`rest/`).
//!
//! - [`sources`]: the client source (an IPv4 address or an IPv6 /64) and
//!   per-source connection caps (TCP and HTTP).
//! - [`guard`]: per-source budgets of rejections and sampled rejection logs.
//! - [`systemd`]: `sd_notify` readiness and reload messages.
//!
//! # Why a folder of its own
//!
//! Both edges need these, and an edge imports no other edge: while they
//! lived in `server/`, `rest` imported the DNS edge for them. They sit in
//! their own layer, above `store` and below the edges, rather than as
//! top-level modules, so the folder list shows the layer; they import only
//! the pure cores (and each other).

pub mod guard;
pub mod sources;
pub mod systemd;
