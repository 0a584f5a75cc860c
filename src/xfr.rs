//! PURE: AXFR message sequences (RFC 5936) from one zone snapshot.
//!
//! STUB: interface only; implementation to follow.

use crate::message::Query;
use crate::zone::Zone;

/// The messages of a full transfer of `zone`: SOA first and last, records
/// packed into as few messages of at most 65535 bytes as fit.
pub fn axfr(zone: &Zone, query: &Query) -> Vec<Vec<u8>> {
    let _ = (zone, query);
    Vec::new()
}
