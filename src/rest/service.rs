//! REST services over a zone snapshot (PURE: no I/O, no clock).
//!
//! # Design
//!
//! A *service* is what a dynresolve controller pushes: a name and its
//! addresses. Here it is nothing but an RRset in the zone file:
//!
//! - the A RRset of a name in the zone other than the apex and the zone's
//!   own name servers (in-zone targets of the apex NS RRset, whose
//!   addresses are glue, never services);
//! - as an extension over dynresolve, a request may say `"type": "AAAA"` or
//!   `"type": "TXT"` to address that RRset of the name instead (A stays the
//!   default).
//!
//! Listing and bulk replacement (`PUT /v1/state`) deal in A RRsets, exactly
//! dynresolve's services: state replacement deletes the A RRsets it does not
//! name and writes the RRsets it names (of any of the three types); SOA, NS,
//! name-server addresses, the apex and every other RRset stay as they were.
//!
//! Everything here turns a request plus a [`Zone`] into a [`ChangeSet`]
//! (or an answer). The write functions are the `compute` closures of
//! [`crate::store::WriteRequest`]: the store re-runs them on the fresh zone
//! when the file changed under it, so concurrent writers never lose an
//! edit. Each change set is minimal: records already present with the same
//! TTL are neither removed nor added, so a write that changes nothing is an
//! empty change set and commits nothing.
//!
//! Names (dynresolve's rules): a short name (`valkey`) gets the zone's
//! suffix; a full name (`valkey.service.local`, no trailing dot) must lie in
//! the zone; labels are `[a-z0-9-]`, 1 to 63 octets, 253 in all; matching is
//! case-insensitive and answers are lower case. A listing keys each service
//! by a name these rules read back as the same name ([`listed_name`]), so
//! what `GET /v1/services` answers `PUT /v1/state` takes back as it is; an
//! A RRset at a name outside them (`*.wild`, `_srv._tcp`, written by hand)
//! is no service: not listed, not deleted by a state push.

use std::collections::{BTreeMap, BTreeSet};
use std::net::{Ipv4Addr, Ipv6Addr};

use crate::rcode::Rcode;
use crate::rr::{ChangeSet, MAX_TTL, Name, Rdata, RecordType, Rr};
use crate::zone::{Lookup, Zone};

/// Most records one service may hold (dynresolve's limit).
pub const MAX_RECORDS: usize = 64;
/// RFC 1035 §3.3: a <character-string> holds at most 255 octets.
const MAX_TXT: usize = 255;

/// Why a request is refused, before or while computing its change.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Error {
    /// 400: the request itself is wrong.
    Invalid(String),
    /// 403: the name lies outside the zones or names the token may write.
    Forbidden(String),
    /// 404: no such service.
    NotFound(String),
    /// 409: the name is the apex or one of the zone's name servers.
    Conflict(String),
}

impl Error {
    /// The rcode a `compute` closure returns for this error; [`from_rcode`]
    /// maps it back after the store.
    pub fn rcode(&self) -> Rcode {
        match self {
            Error::Invalid(_) => Rcode::FormErr,
            Error::Forbidden(_) => Rcode::Refused,
            Error::NotFound(_) => Rcode::NxDomain,
            Error::Conflict(_) => Rcode::YxDomain,
        }
    }
}

/// The answer for a `compute` closure's rcode, naming `name`.
pub fn from_rcode(rcode: Rcode, name: &str) -> Error {
    match rcode {
        Rcode::NxDomain => Error::NotFound(format!("service {name} not found")),
        Rcode::YxDomain => Error::Conflict(format!(
            "{name} is the zone apex or one of its name servers; it is not a service"
        )),
        _ => Error::Invalid(format!("the change to {name} was refused")),
    }
}

/// The record types a service may have; A is the default.
pub fn parse_type(t: Option<&str>) -> Result<RecordType, Error> {
    match t.map(str::to_ascii_uppercase).as_deref() {
        None | Some("") | Some("A") => Ok(RecordType::A),
        Some("AAAA") => Ok(RecordType::AAAA),
        Some("TXT") => Ok(RecordType::TXT),
        Some(other) => Err(Error::Invalid(format!(
            "unsupported type {other:?}: use \"A\" (or the extensions \"AAAA\", \"TXT\")"
        ))),
    }
}

/// The zone's name without the trailing dot, lower case.
pub fn zone_text(zone: &Name) -> String {
    zone.to_lowercase()
        .to_ascii()
        .trim_end_matches('.')
        .to_string()
}

/// Whether a name (full, lower case, no trailing dot) lies in `zone`
/// (at or below its apex).
fn text_in_zone(name: &str, zone: &str) -> bool {
    name == zone || name.ends_with(&format!(".{zone}"))
}

/// Whether `raw` is written as a full name of `zone` (case-insensitive).
pub fn is_full_in(raw: &str, zone: &Name) -> bool {
    text_in_zone(&raw.to_ascii_lowercase(), &zone_text(zone))
}

/// The zone (longest match) among `zones` that the full name `raw` lies in.
pub fn zone_of<'z>(raw: &str, zones: &'z [Name]) -> Option<&'z Name> {
    zones
        .iter()
        .filter(|z| is_full_in(raw, z))
        .max_by_key(|z| z.num_labels())
}

/// `raw` (short or full) as an absolute, lower-case name in `zone`.
pub fn service_name(raw: &str, zone: &Name) -> Result<Name, Error> {
    let lower = raw.to_ascii_lowercase();
    let ztext = zone_text(zone);
    if lower.is_empty() {
        return Err(Error::Invalid("the service name is empty".into()));
    }
    if lower.ends_with('.') {
        return Err(Error::Invalid(format!(
            "invalid name {raw:?}: no trailing dot (use \"valkey\" or \"valkey.{ztext}\")"
        )));
    }
    // What the name is made of before where it lies: `*.wild` or
    // `_srv._tcp` are names of no zone the API writes, not names of
    // another zone.
    if let Some(bad) = lower.split('.').find(|l| !l.bytes().all(service_octet)) {
        return Err(Error::Invalid(format!(
            "invalid name {raw:?}: label {bad:?} holds more than a-z, 0-9 and '-', \
             the only characters of a service name (wildcards, '_' names and escaped \
             names are zone-file data the API does not write; edit them in the file)"
        )));
    }
    let full = if text_in_zone(&lower, &ztext) {
        lower
    } else if lower.contains('.') {
        return Err(Error::Invalid(format!(
            "name {raw:?} is not in zone {ztext} (give a short name, or a full name ending in .{ztext})"
        )));
    } else {
        format!("{lower}.{ztext}")
    };
    if full.len() > 253 {
        return Err(Error::Invalid(format!(
            "invalid name {raw:?}: longer than 253 characters with the zone"
        )));
    }
    if full.split('.').any(|l| l.is_empty() || l.len() > 63) {
        return Err(Error::Invalid(format!(
            "invalid name {raw:?}: each label must be 1 to 63 characters"
        )));
    }
    let mut name = Name::from_ascii(&full)
        .map_err(|e| Error::Invalid(format!("invalid name {raw:?}: {e}")))?;
    name.set_fqdn(true);
    Ok(name)
}

/// An octet a service name's labels may hold (lower case: names are
/// lowered first).
fn service_octet(b: u8) -> bool {
    b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-'
}

/// The key a listing (`GET /v1/services`) gives the service at `name`:
/// one that [`service_name`] reads back as `name`, so the listing can be
/// sent to `PUT /v1/state` as it is. The short name when that reads back
/// (`valkey`), else the full name (`a.b.service.local`: a name with dots is
/// a full name, and `a.b` would be "not in zone"). `None` for a name the
/// API cannot write (`*.wild`, `_srv._tcp`, `my_host`, `we\.ird`, written by
/// hand): it is no service, so it is neither listed nor deleted by a state
/// push.
pub fn listed_name(name: &Name, zone: &Name) -> Option<String> {
    [short(name, zone), zone_text(name)]
        .into_iter()
        .find(|raw| service_name(raw, zone).is_ok_and(|n| &n == name))
}

/// The name relative to `zone`, lower case (`valkey`, `a.b`); the apex is `@`.
pub fn short(name: &Name, zone: &Name) -> String {
    let full = zone_text(name);
    let z = zone_text(zone);
    match full.strip_suffix(&format!(".{z}")) {
        Some(s) => s.to_string(),
        None => "@".to_string(),
    }
}

/// In-zone targets of the apex NS RRset: the zone's own name servers.
pub fn name_servers(zone: &Zone) -> Vec<Name> {
    zone.rrset(zone.origin(), RecordType::NS)
        .iter()
        .filter_map(|rr| crate::rr::target_name(RecordType::NS, &rr.rdata))
        .filter(|t| zone.contains(t))
        .map(|t| t.to_lowercase())
        .collect()
}

/// Whether `name` may hold a service: not the apex, not a name server,
/// not at or below a delegation (glue, RFC 1034 §4.2.1) or a DNAME
/// (RFC 6672: names below it are redirected).
fn check_writable(zone: &Zone, name: &Name) -> Result<(), Error> {
    if name == zone.origin() || name_servers(zone).contains(name) {
        return Err(Error::Conflict(format!(
            "{} is the zone apex or one of its name servers; it is not a service",
            zone_text(name)
        )));
    }
    let key = crate::zone::NameKey::new(name);
    if let Lookup::Referral(_) | Lookup::Dname(_) = zone.lookup(&key, RecordType::A) {
        return Err(Error::Conflict(format!(
            "{} is at or below a delegation or DNAME in the zone; it is not a service",
            zone_text(name)
        )));
    }
    Ok(())
}

/// One service as the API shows it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Service {
    pub rtype: RecordType,
    /// Presentation form, in zone order.
    pub records: Vec<String>,
    pub ttl: u32,
}

/// A record's value as the API shows it.
fn value_text(rtype: RecordType, rdata: &Rdata) -> String {
    let b = rdata.as_bytes();
    match rtype {
        RecordType::A => match <[u8; 4]>::try_from(b) {
            Ok(o) => Ipv4Addr::from(o).to_string(),
            Err(_) => crate::rdata::to_text(rtype, rdata, None),
        },
        RecordType::AAAA => match <[u8; 16]>::try_from(b) {
            Ok(o) => Ipv6Addr::from(o).to_string(),
            Err(_) => crate::rdata::to_text(rtype, rdata, None),
        },
        RecordType::TXT => {
            // The character-strings joined (RFC 7208 §3.3 style).
            let mut out = Vec::new();
            let mut at = 0;
            while let Some(&len) = b.get(at) {
                let end = (at + 1 + usize::from(len)).min(b.len());
                out.extend_from_slice(&b[at + 1..end]);
                at = end;
            }
            String::from_utf8_lossy(&out).into_owned()
        }
        _ => crate::rdata::to_text(rtype, rdata, None),
    }
}

/// The RRset of `name`/`rtype` as a service, if any.
fn service_of(zone: &Zone, name: &Name, rtype: RecordType) -> Option<Service> {
    let rrs = zone.rrset(name, rtype);
    let first = rrs.first()?;
    Some(Service {
        rtype,
        records: rrs.iter().map(|r| value_text(rtype, &r.rdata)).collect(),
        ttl: first.ttl,
    })
}

/// The service at `name`: of type `rtype`, or without one the first of A,
/// AAAA, TXT the name has. `None` for the apex and name servers.
pub fn get(zone: &Zone, name: &Name, rtype: Option<RecordType>) -> Option<Service> {
    check_writable(zone, name).ok()?;
    match rtype {
        Some(t) => service_of(zone, name, t),
        None => [RecordType::A, RecordType::AAAA, RecordType::TXT]
            .into_iter()
            .find_map(|t| service_of(zone, name, t)),
    }
}

/// Every service (A RRset) of the zone, by [`listed_name`].
pub fn list(zone: &Zone) -> BTreeMap<String, Service> {
    let origin = zone.origin();
    service_names(zone)
        .into_iter()
        .filter_map(|n| {
            Some((
                listed_name(&n, origin)?,
                service_of(zone, &n, RecordType::A)?,
            ))
        })
        .collect()
}

/// Request values -> RDATA, checked: 1 to [`MAX_RECORDS`], each valid for
/// the type, duplicates dropped (first one kept).
pub fn parse_records(rtype: RecordType, records: &[String]) -> Result<Vec<Rdata>, Error> {
    if records.is_empty() {
        return Err(Error::Invalid("records must not be empty".into()));
    }
    if records.len() > MAX_RECORDS {
        return Err(Error::Invalid(format!(
            "too many records: {} (at most {MAX_RECORDS} per service)",
            records.len()
        )));
    }
    let mut out: Vec<Rdata> = Vec::with_capacity(records.len());
    for r in records {
        let rdata = match rtype {
            RecordType::A => r
                .parse::<Ipv4Addr>()
                .map(|a| Rdata::new(a.octets().to_vec()))
                .map_err(|_| Error::Invalid(format!("{r:?} is not an IPv4 address")))?,
            RecordType::AAAA => r
                .parse::<Ipv6Addr>()
                .map(|a| Rdata::new(a.octets().to_vec()))
                .map_err(|_| Error::Invalid(format!("{r:?} is not an IPv6 address")))?,
            _ => {
                if r.len() > MAX_TXT {
                    return Err(Error::Invalid(format!(
                        "TXT record longer than {MAX_TXT} bytes"
                    )));
                }
                let mut b = Vec::with_capacity(r.len() + 1);
                b.push(u8::try_from(r.len()).unwrap_or(u8::MAX));
                b.extend_from_slice(r.as_bytes());
                Rdata::new(b)
            }
        };
        if !out.contains(&rdata) {
            out.push(rdata);
        }
    }
    Ok(out)
}

/// The TTL to write: `ttl` unless 0 or absent, else `default`; capped.
pub fn ttl_or(ttl: Option<u32>, default: u32) -> u32 {
    match ttl {
        Some(t) if t > 0 => t.min(MAX_TTL),
        _ => default.min(MAX_TTL),
    }
}

fn rr(name: &Name, rtype: RecordType, ttl: u32, rdata: Rdata) -> Rr {
    Rr {
        name: name.clone(),
        ttl,
        rtype,
        rdata,
    }
}

/// Replaces the RRset `name`/`rtype` with `want` at `ttl`, minimally: with
/// the same TTL only the difference; with a new TTL the whole set.
fn replace(
    zone: &Zone,
    name: &Name,
    rtype: RecordType,
    want: &[Rdata],
    ttl: u32,
    cs: &mut ChangeSet,
) {
    let have = zone.rrset(name, rtype);
    let same_ttl = have.iter().all(|r| r.ttl == ttl);
    // Sets, so a state push of many records costs linear time.
    let wanted: std::collections::HashSet<&Rdata> = want.iter().collect();
    let present: std::collections::HashSet<&Rdata> = have.iter().map(|r| &r.rdata).collect();
    for old in have {
        if !same_ttl || !wanted.contains(&old.rdata) {
            cs.remove.push(old.clone());
        }
    }
    for new in want {
        if !same_ttl || !present.contains(new) {
            cs.add.push(rr(name, rtype, ttl, new.clone()));
        }
    }
}

/// PUT /v1/services/{name}: the name's RRset of the type becomes `records`.
pub fn put(
    zone: &Zone,
    name: &Name,
    rtype: RecordType,
    records: &[Rdata],
    ttl: u32,
) -> Result<ChangeSet, Error> {
    check_writable(zone, name)?;
    let mut cs = ChangeSet::default();
    replace(zone, name, rtype, records, ttl, &mut cs);
    Ok(cs)
}

/// DELETE /v1/services/{name}: removes the service's RRset (as [`get`]
/// finds it); `NotFound` if there is none.
pub fn delete(zone: &Zone, name: &Name, rtype: Option<RecordType>) -> Result<ChangeSet, Error> {
    let not_found = || Error::NotFound(format!("service {} not found", short(name, zone.origin())));
    check_writable(zone, name).map_err(|_| not_found())?;
    let service = get(zone, name, rtype).ok_or_else(not_found)?;
    Ok(ChangeSet {
        remove: zone.rrset(name, service.rtype).to_vec(),
        ..ChangeSet::default()
    })
}

/// POST /v1/services/{name}/records: adds `records` (creating the service;
/// duplicates ignored); a non-zero `ttl` sets the TTL of the whole set.
pub fn add_records(
    zone: &Zone,
    name: &Name,
    rtype: RecordType,
    records: &[Rdata],
    ttl: Option<u32>,
    default_ttl: u32,
) -> Result<ChangeSet, Error> {
    check_writable(zone, name)?;
    let have = zone.rrset(name, rtype);
    let ttl = match (ttl, have.first()) {
        (Some(t), _) if t > 0 => t.min(MAX_TTL),
        (_, Some(first)) => first.ttl,
        _ => ttl_or(None, default_ttl),
    };
    let mut want: Vec<Rdata> = have.iter().map(|r| r.rdata.clone()).collect();
    for r in records {
        if !want.contains(r) {
            want.push(r.clone());
        }
    }
    if want.len() > MAX_RECORDS {
        return Err(Error::Invalid(format!(
            "too many records: the service would hold {} (at most {MAX_RECORDS})",
            want.len()
        )));
    }
    let mut cs = ChangeSet::default();
    replace(zone, name, rtype, &want, ttl, &mut cs);
    Ok(cs)
}

/// DELETE /v1/services/{name}/records: removes those of `records` present;
/// `NotFound` when the service does not exist. Returns whether the service
/// is gone afterwards (the answer is then 204).
pub fn remove_records(
    zone: &Zone,
    name: &Name,
    rtype: RecordType,
    records: &[Rdata],
) -> Result<(ChangeSet, bool), Error> {
    let have = zone.rrset(name, rtype);
    if have.is_empty() || check_writable(zone, name).is_err() {
        return Err(Error::NotFound(format!(
            "service {} not found",
            short(name, zone.origin())
        )));
    }
    let remove: Vec<Rr> = have
        .iter()
        .filter(|r| records.contains(&r.rdata))
        .cloned()
        .collect();
    let gone = remove.len() == have.len();
    Ok((
        ChangeSet {
            remove,
            ..ChangeSet::default()
        },
        gone,
    ))
}

/// One service of a bulk replacement, already validated.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Wanted {
    pub name: Name,
    pub rtype: RecordType,
    pub records: Vec<Rdata>,
    pub ttl: u32,
}

/// The owners of the zone's A services (lower case): every A RRset but the
/// apex's and the name servers' addresses, at names the API may write
/// (a [`listed_name`], not below a cut or DNAME).
fn service_names(zone: &Zone) -> BTreeSet<Name> {
    let servers = name_servers(zone);
    let origin = zone.origin();
    zone.records()
        .filter(|r| r.rtype == RecordType::A)
        .map(|r| r.name.to_lowercase())
        .filter(|n| n != origin && !servers.contains(n))
        .filter(|n| listed_name(n, origin).is_some())
        .filter(|n| check_writable(zone, n).is_ok())
        .collect()
}

/// PUT /v1/state: the zone's services become exactly `wanted`: A services
/// not named are deleted, the named RRsets replaced; nothing else changes
/// (A RRsets at names the API cannot write, such as `*.wild`, are no
/// services: `service_names`).
/// Only services at names `mine` accepts are deleted: a token narrowed to
/// some names replaces its own slice of the zone and leaves the rest.
pub fn replace_state(
    zone: &Zone,
    wanted: &[Wanted],
    mine: impl Fn(&Name) -> bool,
) -> Result<ChangeSet, Error> {
    let mut cs = ChangeSet::default();
    for w in wanted {
        check_writable(zone, &w.name)?;
    }
    // Straight from the zone's names: a short name with a dot in it
    // ("web1.ci") read back through `service_name` would not parse, and
    // the service was removed on every push that named it (and re-added on
    // the next, since it was then absent).
    for name in service_names(zone) {
        if mine(&name)
            && !wanted
                .iter()
                .any(|w| w.name == name && w.rtype == RecordType::A)
        {
            cs.remove
                .extend(zone.rrset(&name, RecordType::A).iter().cloned());
        }
    }
    for w in wanted {
        replace(zone, &w.name, w.rtype, &w.records, w.ttl, &mut cs);
    }
    Ok(cs)
}

#[cfg(test)]
mod tests;
