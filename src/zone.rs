//! PURE: a validated zone (apex, RRsets, delegations) and the set of zones served.
//!
//! STUB: interface only; implementation to follow.

use std::sync::Arc;

use crate::rr::{Location, Name, Rr};
use crate::zonefile::ZoneError;

/// One zone, validated and indexed for lookups. Immutable once built.
#[derive(Debug)]
pub struct Zone {}

impl Zone {
    /// Validates and indexes the records of one zone (RFC 1035 §5.2,
    /// RFC 2181 §5.2 and §10.1). Returns the zone and warnings, or every error.
    pub fn build(
        origin: Name,
        records: Vec<(Rr, Location)>,
    ) -> Result<(Zone, Vec<ZoneError>), Vec<ZoneError>> {
        let _ = (origin, records);
        todo!()
    }

    pub fn origin(&self) -> &Name {
        todo!()
    }

    /// The apex SOA record.
    pub fn soa(&self) -> &Rr {
        todo!()
    }

    pub fn serial(&self) -> u32 {
        todo!()
    }

    /// Every RR except the apex SOA, in a stable order (for AXFR).
    pub fn records(&self) -> impl Iterator<Item = &Rr> {
        std::iter::empty()
    }
}

/// The zones served, for longest-match selection.
#[derive(Debug, Default)]
pub struct ZoneSet {}

impl ZoneSet {
    pub fn new(zones: Vec<Arc<Zone>>) -> Self {
        let _ = zones;
        ZoneSet {}
    }

    /// The zone with the longest origin that is `qname` or an ancestor of it.
    pub fn find(&self, qname: &Name) -> Option<&Arc<Zone>> {
        let _ = qname;
        None
    }

    /// The zone whose origin is exactly `origin`.
    pub fn get(&self, origin: &Name) -> Option<&Arc<Zone>> {
        let _ = origin;
        None
    }

    pub fn iter(&self) -> impl Iterator<Item = &Arc<Zone>> {
        std::iter::empty()
    }
}
