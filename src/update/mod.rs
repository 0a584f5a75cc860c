//! PURE: RFC 2136 UPDATE semantics — a zone snapshot and a decoded UPDATE
//! in, a [`ChangeSet`] or the RFC's rcode out.
//!
//! The order is the RFC's: zone section (§3.1), prerequisites (§3.2, all
//! five forms, exactly as the §3.2.5 pseudocode), prescan (§3.4.1.3), then
//! the updates (§3.4.2.7) applied one after another to a working copy of
//! the RRsets they touch. The change set is the difference between that
//! copy and the snapshot, so an UPDATE that changes nothing yields an empty
//! change set (the store then writes, bumps and commits nothing).
//!
//! The whole UPDATE applies or nothing does: any error returns before a
//! change set exists. The caller checks grants on [`touched`] first and
//! the serial is the store's business: SOA cannot be changed here.

use std::collections::{BTreeMap, HashSet};

use crate::rcode::Rcode;
pub use crate::request::update::{CLASS_ANY, CLASS_IN, CLASS_NONE, UpdateRequest, UpdateRr};
use crate::rr::{ChangeSet, Name, RecordType, Rr};

/// What the update logic needs from a zone snapshot.
pub trait ZoneView {
    /// The zone's apex.
    fn origin(&self) -> &Name;
    /// Every RR owned by `name` (none for an absent name or an empty non-terminal).
    fn rrs_at(&self, name: &Name) -> Vec<Rr>;
}

/// The update logic reads zones through this view: every RR at a name,
/// whatever its type (RFC 2136 §3.2.5 and §3.4.2 look at whole names).
impl ZoneView for crate::zone::Zone {
    fn origin(&self) -> &Name {
        crate::zone::Zone::origin(self)
    }

    fn rrs_at(&self, name: &Name) -> Vec<Rr> {
        self.node(name)
            .map(|n| {
                n.rrsets
                    .iter()
                    .flat_map(|s| s.rrs.iter().cloned())
                    .collect()
            })
            .unwrap_or_default()
    }
}

/// The (owner, type) pairs an UPDATE's update section would change, for the
/// grants check; `RecordType::ANY` stands for "every RRset at the name".
pub fn touched(req: &UpdateRequest) -> Vec<(Name, RecordType)> {
    req.updates
        .iter()
        .map(|rr| (rr.name.clone(), rr.rtype))
        .collect()
}

fn is_meta_for_add(t: RecordType) -> bool {
    // ANY, AXFR, MAILA, MAILB (RFC 2136 §3.4.1.3).
    matches!(u16::from(t), 252..=255)
}

fn is_meta_for_delete(t: RecordType) -> bool {
    matches!(u16::from(t), 252..=254)
}

/// Working copy of the RRs at the names an UPDATE touches.
struct Working<'z, Z: ZoneView> {
    zone: &'z Z,
    names: BTreeMap<Name, Vec<Rr>>,
}

impl<'z, Z: ZoneView> Working<'z, Z> {
    fn at(&mut self, name: &Name) -> &mut Vec<Rr> {
        let zone = self.zone;
        self.names
            .entry(name.clone())
            .or_insert_with(|| zone.rrs_at(name))
    }
}

/// What tells RRs of one owner apart (RFC 2181 §5: type and RDATA, names
/// in RDATA without case): all the RRs compared here share their owner, so
/// sets of these keep the comparisons linear in the RRset's size.
fn identity(rr: &Rr) -> (RecordType, Vec<u8>) {
    (
        rr.rtype,
        crate::rr::canonical(rr.rtype, &rr.rdata).into_owned(),
    )
}

/// [`Rr::same_rr`] for two RRs already known to share their owner (the
/// RRs at one name): type and canonical RDATA, without comparing names.
fn same_data(a: &Rr, b: &Rr) -> bool {
    a.rtype == b.rtype
        && crate::rr::canonical(a.rtype, &a.rdata) == crate::rr::canonical(b.rtype, &b.rdata)
}

/// Whether two lists of RRs of one owner hold the same RRs (each list
/// already without duplicates).
fn same_set(a: &[&Rr], b: &[&Rr]) -> bool {
    let b: HashSet<(RecordType, Vec<u8>)> = b.iter().map(|r| identity(r)).collect();
    a.len() == b.len() && a.iter().all(|x| b.contains(&identity(x)))
}

fn to_rr(u: &UpdateRr) -> Rr {
    Rr {
        name: u.name.clone(),
        ttl: u.ttl,
        rtype: u.rtype,
        rdata: u.rdata.clone(),
    }
}

/// RFC 2136 §3.2.5 prerequisite checks, in order.
fn check_prerequisites<Z: ZoneView>(zone: &Z, req: &UpdateRequest) -> Result<(), Rcode> {
    let zname = zone.origin();
    // temp<name, type> collects the value-dependent prerequisites (§3.2.3).
    let mut temp: BTreeMap<(Name, u16), Vec<Rr>> = BTreeMap::new();
    for rr in &req.prerequisites {
        // "if (rr.ttl != 0) return (FORMERR)"
        if rr.ttl != 0 {
            return Err(Rcode::FormErr);
        }
        // "if (zone_of(rr.name) != ZNAME) return (NOTZONE);"
        if !zname.zone_of(&rr.name) {
            return Err(Rcode::NotZone);
        }
        let present = zone.rrs_at(&rr.name);
        match rr.class {
            CLASS_ANY => {
                if !rr.rdata.as_bytes().is_empty() {
                    return Err(Rcode::FormErr);
                }
                if rr.rtype == RecordType::ANY {
                    // §2.4.4 Name Is In Use.
                    if present.is_empty() {
                        return Err(Rcode::NxDomain);
                    }
                } else if !present.iter().any(|z| z.rtype == rr.rtype) {
                    // §2.4.1 RRset Exists (Value Independent).
                    return Err(Rcode::NxRrset);
                }
            }
            CLASS_NONE => {
                if !rr.rdata.as_bytes().is_empty() {
                    return Err(Rcode::FormErr);
                }
                if rr.rtype == RecordType::ANY {
                    // §2.4.5 Name Is Not In Use.
                    if !present.is_empty() {
                        return Err(Rcode::YxDomain);
                    }
                } else if present.iter().any(|z| z.rtype == rr.rtype) {
                    // §2.4.3 RRset Does Not Exist.
                    return Err(Rcode::YxRrset);
                }
            }
            c if c == req.zone_class => {
                // §2.4.2 RRset Exists (Value Dependent).
                temp.entry((rr.name.clone(), u16::from(rr.rtype)))
                    .or_default()
                    .push(to_rr(rr));
            }
            _ => return Err(Rcode::FormErr),
        }
    }
    // "for rrset in temp: if (zone_rrset<rrset.name, rrset.type> != rrset)
    //  return (NXRRSET)"
    for ((name, rtype), wanted) in &temp {
        let present = zone.rrs_at(name);
        let zone_set: Vec<&Rr> = present
            .iter()
            .filter(|z| u16::from(z.rtype) == *rtype)
            .collect();
        let mut seen = HashSet::new();
        let unique: Vec<&Rr> = wanted.iter().filter(|w| seen.insert(identity(w))).collect();
        if !same_set(&zone_set, &unique) {
            return Err(Rcode::NxRrset);
        }
    }
    Ok(())
}

/// RFC 2136 §3.4.1.3 prescan of the update section.
fn prescan(zname: &Name, req: &UpdateRequest) -> Result<(), Rcode> {
    for rr in &req.updates {
        if !zname.zone_of(&rr.name) {
            return Err(Rcode::NotZone);
        }
        let empty = rr.rdata.as_bytes().is_empty();
        match rr.class {
            c if c == req.zone_class => {
                if is_meta_for_add(rr.rtype) || u16::from(rr.rtype) == 41 {
                    return Err(Rcode::FormErr);
                }
            }
            CLASS_ANY => {
                if rr.ttl != 0 || !empty || is_meta_for_delete(rr.rtype) {
                    return Err(Rcode::FormErr);
                }
            }
            CLASS_NONE => {
                if rr.ttl != 0 || rr.rtype == RecordType::ANY || is_meta_for_delete(rr.rtype) {
                    return Err(Rcode::FormErr);
                }
            }
            _ => return Err(Rcode::FormErr),
        }
    }
    Ok(())
}

/// Is any RR at `at` of a type other than CNAME (and the DNSSEC types that
/// may sit beside one, RFC 2181 §10.1 / RFC 4035 §2.5)?
fn has_non_cname(at: &[Rr]) -> bool {
    at.iter().any(|z| {
        !matches!(
            z.rtype,
            RecordType::CNAME | RecordType::RRSIG | RecordType::NSEC
        )
    })
}

/// RFC 2136 §3.4.2.7: applies the updates to the working copy.
fn apply_updates<Z: ZoneView>(work: &mut Working<'_, Z>, req: &UpdateRequest) {
    let zname = work.zone.origin().clone();
    for u in &req.updates {
        let at = work.at(&u.name);
        match u.class {
            c if c == req.zone_class => add(at, u),
            CLASS_ANY if u.rtype == RecordType::ANY => {
                // "if (rr.name == zname) zone_rrset<rr.name, ~(SOA|NS)> = Nil
                //  else zone_rrset<rr.name, *> = Nil"
                if u.name == zname {
                    at.retain(|z| matches!(z.rtype, RecordType::SOA | RecordType::NS));
                } else {
                    at.clear();
                }
            }
            CLASS_ANY => {
                // "elsif (rr.name == zname && (rr.type == SOA || rr.type == NS)) next [rr]"
                if u.name == zname && matches!(u.rtype, RecordType::SOA | RecordType::NS) {
                    continue;
                }
                at.retain(|z| z.rtype != u.rtype);
            }
            _ => {
                // CLASS_NONE: delete one RR. "if (rr.type == SOA) next [rr]"
                if u.rtype == RecordType::SOA {
                    continue;
                }
                let target = to_rr(u);
                // "if (rr.type == NS && zone_rrset<rr.name, NS> == rr) next [rr]":
                // the last apex NS is never deleted (§3.4.2.4).
                if u.rtype == RecordType::NS && u.name == zname {
                    let ns: Vec<&Rr> = at.iter().filter(|z| z.rtype == RecordType::NS).collect();
                    if ns.len() == 1 && ns.iter().all(|z| same_data(z, &target)) {
                        continue;
                    }
                }
                at.retain(|z| !same_data(z, &target));
            }
        }
    }
}

/// One add (class = zone class), RFC 2136 §3.4.2.2 and RFC 2181 §5.2.
fn add(at: &mut Vec<Rr>, u: &UpdateRr) {
    let rr = to_rr(u);
    if u.rtype == RecordType::CNAME {
        // "if (zone_rrset<rr.name, ~CNAME>) next [rr]"
        if has_non_cname(at) {
            return;
        }
    } else if at.iter().any(|z| z.rtype == RecordType::CNAME)
        && !matches!(u.rtype, RecordType::RRSIG | RecordType::NSEC)
    {
        // "elsif (zone_rrset<rr.name, CNAME>) next [rr]"
        return;
    }
    if u.rtype == RecordType::SOA {
        // SOA changes belong to the store's serial policy; grants never
        // allow SOA, so this is only reached by direct callers.
        return;
    }
    if u.rtype == RecordType::CNAME {
        // "zrr = rr": a CNAME replaces the one there.
        at.retain(|z| z.rtype != RecordType::CNAME);
        at.push(rr);
        return;
    }
    // RFC 2181 §5.2: the RRset's TTL follows the newest add.
    for z in at.iter_mut().filter(|z| z.rtype == u.rtype) {
        z.ttl = u.ttl;
    }
    // Duplicates are ignored ("rr.rdata == zrr.rdata ... zrr = rr").
    if !at.iter().any(|z| same_data(z, &rr)) {
        at.push(rr);
    }
}

/// Evaluates an UPDATE against a zone snapshot: prerequisites, prescan,
/// updates. Returns the change set (empty when nothing changes).
pub fn evaluate<Z: ZoneView>(zone: &Z, req: &UpdateRequest) -> Result<ChangeSet, Rcode> {
    // §3.1.1: the zone must be one we serve, in its class.
    if req.zone_class != CLASS_IN || &req.zone != zone.origin() {
        return Err(Rcode::NotAuth);
    }
    check_prerequisites(zone, req)?;
    prescan(zone.origin(), req)?;
    let mut work = Working {
        zone,
        names: BTreeMap::new(),
    };
    apply_updates(&mut work, req);
    Ok(diff(zone, &work.names))
}

/// The change set that turns the snapshot into the working copy. An RR
/// whose TTL changed is removed and added again.
fn diff<Z: ZoneView>(zone: &Z, names: &BTreeMap<Name, Vec<Rr>>) -> ChangeSet {
    let mut changes = ChangeSet::default();
    // Every RR of one entry has that entry's owner: same RR and same TTL
    // is the same (type, canonical RDATA, TTL). Sets keep this linear.
    let key = |r: &Rr| (identity(r), r.ttl);
    for (name, after) in names {
        let before = zone.rrs_at(name);
        let after_keys: HashSet<_> = after.iter().map(key).collect();
        let before_keys: HashSet<_> = before.iter().map(key).collect();
        for b in &before {
            if !after_keys.contains(&key(b)) {
                changes.remove.push(b.clone());
            }
        }
        for a in after {
            if !before_keys.contains(&key(a)) {
                changes.add.push(a.clone());
            }
        }
    }
    changes
}

#[cfg(test)]
mod tests;
