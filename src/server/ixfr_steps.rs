//! IXFR (RFC 1995) over TCP: the journal's step from the client's serial to
//! the served version, framed by [`crate::ixfr::messages`], or `None` when
//! the caller should send the whole zone in AXFR form.
//!
//! Runs after the transfer permission check (in `dispatch::transfer`), on
//! the blocking pool like every TCP request, so the journal's git reads
//! may block here.

use tracing::debug;

use crate::ixfr;
use crate::journal::Journal;
use crate::request::Query;
use crate::serial::Serial;
use crate::served::State;
use crate::xfr;
use crate::zone::Zone;

/// The messages of an incremental answer to an IXFR for `zone` from the
/// client's `serial`, each leaving `reserve` octets for a TSIG RR; `None`
/// to send a full transfer instead (RFC 1995 §4: "If incremental zone
/// transfer is not available, the entire zone is returned. The first and
/// the last RR of the response is the SOA record of the zone.").
pub fn incremental(
    state: &State,
    journal: &Journal,
    zone: &Zone,
    q: &Query,
    serial: u32,
    reserve: usize,
) -> Option<Vec<Vec<u8>>> {
    let max = xfr::MAX_MESSAGE - reserve;
    let current = Serial(zone.serial());
    // RFC 1995 §2: "If an IXFR query with the same or newer version number
    // than that of the server is received, it is replied with a single SOA
    // record of the server's current version, just as in AXFR."
    if serial == current.0 || Serial(serial).is_after(current) {
        return Some(ixfr::up_to_date(q, zone.soa(), max));
    }
    let file = state.lock().get(zone.origin())?.source.path.clone();
    match journal.incremental(zone, &file, serial) {
        Ok(step) => Some(ixfr::messages(
            q,
            zone.soa(),
            &step.old_soa,
            &step.diff,
            max,
        )),
        Err(why) => {
            debug!(zone = %zone.origin(), from = serial, "IXFR answered in full: {why}");
            None
        }
    }
}
