//! The one write path. Every writer (RFC 2136 UPDATE, the REST API, expiry)
//! builds a [`WriteRequest`] and hands it to [`Store::write`].
//!
//! STUB: API only; implementation follows in this module.

use std::net::SocketAddr;
use std::sync::Arc;

use crate::rr::{ChangeSet, Name};
use crate::server::State;
use crate::update::Rcode;
use crate::zone::Zone;

/// Computes the change from a zone snapshot: re-run by the store when the
/// file changed under it (prerequisites included), so nobody's edit is lost.
pub type Compute = Box<dyn Fn(&Zone) -> Result<ChangeSet, Rcode> + Send + Sync>;

/// One write, from one writer.
pub struct WriteRequest {
    /// The zone's origin.
    pub zone: Name,
    /// Who asks: the TSIG key or REST token name; the git author.
    pub actor: String,
    /// From where: the client's address and port.
    pub client: SocketAddr,
    /// Which writer: "rfc2136", "rest", "expiry".
    pub via: &'static str,
    pub compute: Compute,
}

/// What a successful write did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum WriteOutcome {
    /// The change set was empty: nothing written, no serial bump, no commit.
    Unchanged,
    /// Written to disk (durable), published, and committed unless git failed.
    Written {
        old_serial: u32,
        new_serial: u32,
        /// The commit id, or `None` when git failed (logged at ERROR).
        commit: Option<String>,
    },
}

/// Why a write did not happen. Nothing was changed in any of these cases.
#[derive(Debug, thiserror::Error)]
pub enum WriteError {
    /// The request's own outcome (prerequisite failed, FORMERR, ...).
    #[error("rejected with rcode {0:?}")]
    Rejected(Rcode),
    /// No such zone is served (or its file is broken and not served).
    #[error("zone {0} is not served")]
    NoZone(Name),
    /// The result would not be a valid zone (the message says why).
    #[error("the change would leave the zone invalid: {0}")]
    Invalid(String),
    /// The file kept changing under us, or the disk write failed.
    #[error("{0}")]
    Failed(String),
}

impl WriteError {
    /// The DNS rcode to answer with (RFC 2136 §2.2).
    pub fn rcode(&self) -> Rcode {
        match self {
            WriteError::Rejected(r) => *r,
            WriteError::NoZone(_) => Rcode::NotAuth,
            WriteError::Invalid(_) => Rcode::Refused,
            WriteError::Failed(_) => Rcode::ServFail,
        }
    }
}

/// The write path over the served state.
pub struct Store {
    state: Arc<State>,
}

impl Store {
    pub fn new(state: Arc<State>) -> Store {
        Store { state }
    }

    pub fn state(&self) -> &Arc<State> {
        &self.state
    }

    /// Applies one write: lock, recheck, compute, serial bump, minimal-diff
    /// edit, atomic write, publish, git commit. Returns once the change is
    /// durable on disk.
    pub async fn write(&self, req: WriteRequest) -> Result<WriteOutcome, WriteError> {
        Err(WriteError::Failed(format!(
            "store not implemented yet ({})",
            req.zone
        )))
    }
}
