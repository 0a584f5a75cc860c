//! PURE: query -> response sections (RFC 1034 §4.3.2, RFC 2308, RFC 4592, RFC 8482).
//!
//! STUB: interface only; implementation to follow.

use std::borrow::Cow;

use crate::message::Query;
use crate::rr::{Name, Rr};
use crate::zone::ZoneSet;

/// One record in a response: borrowed from the zone where possible. `owner`
/// differs from `rr.name` for wildcard-synthesised answers (RFC 4592 §3.3.1).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Rec<'a> {
    pub owner: &'a Name,
    pub rr: Cow<'a, Rr>,
}

/// The sections and flags of a response, before encoding.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Answer<'a> {
    /// RFC 1035 §4.1.1 RCODE (extended RCODEs above 15 go in the OPT).
    pub rcode: u16,
    pub authoritative: bool,
    pub answer: Vec<Rec<'a>>,
    pub authority: Vec<Rec<'a>>,
    pub additional: Vec<Rec<'a>>,
}

/// Answers a standard query from the served zones.
pub fn answer<'a>(zones: &'a ZoneSet, query: &'a Query) -> Answer<'a> {
    let _ = (zones, query);
    Answer::default()
}
