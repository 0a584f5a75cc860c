//! PURE: [`Zone::with_changes`], a zone edited in time proportional to the
//! change instead of rebuilt from every record.
//!
//! # Design
//!
//! Nodes are shared (`Arc<Node>`) between the canonical-order vector and the
//! hash index, so the new zone starts as a copy of pointers; only the nodes
//! of the changed owner names are rebuilt, plus empty non-terminals that
//! appear (between a new owner and its closest existing ancestor) or
//! disappear (an emptied node, then each empty ancestor, that no longer has
//! a name below it). Descendants of a name follow it in canonical order, so
//! "has a name below it" is read from the old vector next to the name.
//!
//! Only the changed names are validated again (out-of-zone owners, one
//! CNAME and no other data beside it, one DNAME, no data below a DNAME, TTL
//! alignment within the touched RRsets): the old zone was valid, and with
//! the fallbacks below no other name's verdict can change.
//!
//! # Fallback to a full [`Zone::build`]
//!
//! The result is then the same, only slower (with `location` for every
//! record, the old locations being gone):
//! - any SOA record removed or added (a serial change alone is incremental);
//! - any NS record at the apex removed or added;
//! - a zone cut appearing or disappearing (NS added at a name without one,
//!   or the last NS removed at a delegation point): the glue status of every
//!   name below changes. NS changes at a cut that stays a cut are incremental;
//! - a DNAME appearing or disappearing (the names below become errors, or
//!   the apex of a redirect changes);
//! - more than [`MAX_INCREMENTAL`] records in the change set.

use std::collections::{BinaryHeap, HashSet};
use std::sync::Arc;

use super::{KeyMap, Node, NodeIndex, RrSet, Zone, boxed_key, err};
use crate::rr::{ChangeSet, Location, Name, RecordType, Rr, soa_with_serial};
use crate::zonefile::ZoneError;

/// An RR's RDATA in canonical form (names without case): what tells two
/// RRs of one owner and type apart.
fn canonical(rr: &Rr) -> Vec<u8> {
    crate::rr::canonical(rr.rtype, &rr.rdata).into_owned()
}

/// Change sets larger than this are applied with a full [`Zone::build`]
/// (emptied owners are checked against every touched owner, quadratic in
/// the size of the change).
pub const MAX_INCREMENTAL: usize = 1_000;

/// Whether the name with key `below` is a proper descendant of `key`.
fn is_below(key: &[u8], below: &[u8]) -> bool {
    below.len() > key.len() && below.ends_with(key) && {
        // The suffix must start at a label boundary: walk the labels.
        let mut at = 0usize;
        let target = below.len() - key.len();
        while at < target {
            match below.get(at) {
                Some(&l) => at += usize::from(l) + 1,
                None => return false,
            }
        }
        at == target
    }
}

/// Number of labels in a key (the root not counted).
fn key_labels(key: &[u8]) -> usize {
    let mut at = 0usize;
    let mut n = 0;
    while let Some(&l) = key.get(at) {
        if l == 0 {
            break;
        }
        n += 1;
        at += usize::from(l) + 1;
    }
    n
}

/// The key of the parent (one label stripped), if any.
fn parent_key(key: &[u8]) -> Option<&[u8]> {
    let first = usize::from(*key.first()?);
    if first == 0 {
        return None;
    }
    key.get(first + 1..)
}

/// The new state of one touched owner: `None` once removed.
type State = KeyMap<Option<Node>>;

struct Edit<'z> {
    zone: &'z Zone,
    state: State,
}

impl Edit<'_> {
    /// The node with this key in the zone being made.
    fn look(&self, key: &[u8]) -> Option<&Node> {
        match self.state.get(key) {
            Some(s) => s.as_ref(),
            None => self.zone.hot.index.get(key).map(|n| &**n),
        }
    }

    /// Whether any name lies below `key` (whose old node is `old`) in the
    /// zone being made.
    fn has_descendant(&self, key: &[u8], old: Option<&Node>) -> bool {
        // New or changed names below.
        if self
            .state
            .iter()
            .any(|(k, s)| s.is_some() && is_below(key, k))
        {
            return true;
        }
        // Old names below: they follow `old` in canonical order.
        let Some(old) = old else {
            return false;
        };
        let Ok(pos) = self.zone.nodes.binary_search_by(|n| n.name.cmp(&old.name)) else {
            return false;
        };
        for n in self.zone.nodes.skip(pos + 1).iter() {
            let k = boxed_key(&n.name);
            if !is_below(key, &k) {
                return false;
            }
            if !matches!(self.state.get(&k), Some(None)) {
                return true;
            }
        }
        false
    }
}

impl Zone {
    /// The records [`Zone::with_changes`] makes a zone of: the apex SOA and
    /// [`Zone::records`], less every RR [`Rr::same_rr`] as one in
    /// `changes.remove`, then `changes.add`, with the serial of the first
    /// apex SOA replaced when `changes.serial` is set.
    pub fn records_after(&self, changes: &ChangeSet) -> Vec<Rr> {
        // Per owner, the (type, canonical RDATA) of the RRs to remove: a
        // set, so removing many RRs from a big RRset stays linear.
        let mut removes: KeyMap<HashSet<(RecordType, Vec<u8>)>> = KeyMap::default();
        for r in &changes.remove {
            removes
                .entry(boxed_key(&r.name))
                .or_default()
                .insert((r.rtype, canonical(r)));
        }
        let kept = |r: &Rr, rm: Option<&HashSet<(RecordType, Vec<u8>)>>| {
            rm.is_none_or(|v| !v.contains(&(r.rtype, canonical(r))))
        };
        let mut out = Vec::with_capacity(self.record_count + 1 + changes.add.len());
        if kept(&self.soa, removes.get(&*self.origin_key)) {
            out.push(self.soa.clone());
        }
        for (i, node) in self.nodes.iter().enumerate() {
            let rm = if removes.is_empty() {
                None
            } else {
                removes.get(&*boxed_key(&node.name))
            };
            for set in &node.rrsets {
                if i == self.apex && set.rtype == RecordType::SOA {
                    continue;
                }
                out.extend(set.rrs.iter().filter(|r| kept(r, rm)).cloned());
            }
        }
        out.extend(changes.add.iter().cloned());
        if let Some(serial) = changes.serial
            && let Some(soa) = out
                .iter_mut()
                .find(|r| r.rtype == RecordType::SOA && r.name == self.origin)
            && let Some(rd) = soa_with_serial(&soa.rdata, serial)
        {
            soa.rdata = rd;
        }
        out
    }

    /// The zone [`Zone::build`] would make of [`Zone::records_after`]
    /// (`changes`), with its warnings, or every error; in time proportional
    /// to the change (see the module documentation of `zone::incr` for the
    /// changes that fall back to a full build). `location` is the location
    /// of every added record, for messages.
    pub fn with_changes(
        &self,
        changes: &ChangeSet,
        location: &Location,
    ) -> Result<(Zone, Vec<ZoneError>), Vec<ZoneError>> {
        match self.incremental(changes, location) {
            Some(result) => result,
            None => Zone::build(
                self.origin.clone(),
                self.records_after(changes)
                    .into_iter()
                    .map(|r| (r, location.clone()))
                    .collect(),
            ),
        }
    }

    /// `None`: fall back to a full build. The steps, each a function
    /// below: group the changes by owner, make each touched owner's node,
    /// add the empty non-terminals above new owners, drop emptied owners,
    /// give new owners their glue status, then merge the touched nodes
    /// into the shared ones.
    #[allow(clippy::type_complexity)]
    pub(super) fn incremental(
        &self,
        changes: &ChangeSet,
        location: &Location,
    ) -> Option<Result<(Zone, Vec<ZoneError>), Vec<ZoneError>>> {
        if self.needs_full_build(changes) {
            return None;
        }
        let mut errors = Vec::new();
        let mut warnings = Vec::new();
        let (order, touched) = self.group_by_owner(changes, location, &mut errors);
        let mut soa = self.soa.clone();
        if let Some(serial) = changes.serial
            && let Some(rd) = soa_with_serial(&soa.rdata, serial)
        {
            soa.rdata = rd;
        }
        let mut edit = Edit {
            zone: self,
            state: KeyMap::default(),
        };
        let mut tally = Tally::default();
        for key in order {
            let Some((removes, adds)) = touched.get(&key) else {
                continue;
            };
            let made = edit.make_node(key, removes, adds, &soa, location, &mut tally);
            let (mut problems, mut notes) = made?;
            errors.append(&mut problems);
            warnings.append(&mut notes);
        }
        let new_keys = edit.add_ancestors(&tally.created, location, &mut errors);
        if !errors.is_empty() {
            return Some(Err(errors));
        }
        edit.drop_emptied(tally.emptied);
        edit.set_glue(&new_keys);
        let (nodes, index) = edit.merge();
        let record_count = (self.record_count + tally.count_new).saturating_sub(tally.count_old);
        let zone = Zone::assemble(self.origin.clone(), soa, nodes, index, record_count);
        Some(Ok((zone, warnings)))
    }

    /// The changes the incremental path does not handle (see the module
    /// docs): too many, any SOA record, or an apex NS record.
    fn needs_full_build(&self, changes: &ChangeSet) -> bool {
        changes.remove.len() + changes.add.len() > MAX_INCREMENTAL
            || changes.remove.iter().chain(&changes.add).any(|r| {
                r.rtype == RecordType::SOA
                    || (r.rtype == RecordType::NS && *boxed_key(&r.name) == *self.origin_key)
            })
    }

    /// The changes by owner (removals, additions), owners in first-seen
    /// order; the apex is touched when the serial changes. An addition
    /// outside the zone is an error; a removal there is ignored.
    fn group_by_owner<'c>(
        &self,
        changes: &'c ChangeSet,
        location: &Location,
        errors: &mut Vec<ZoneError>,
    ) -> (Vec<Box<[u8]>>, Touched<'c>) {
        let mut order: Vec<Box<[u8]>> = Vec::new();
        let mut touched: Touched<'c> = KeyMap::default();
        // `add`: None touches the owner only; Some(false) a removal,
        // Some(true) an addition.
        let mut touch = |key: Box<[u8]>, rr: Option<(&'c Rr, bool)>| {
            let e = touched.entry(key).or_insert_with_key(|k| {
                order.push(k.clone());
                (Vec::new(), Vec::new())
            });
            match rr {
                Some((r, false)) => e.0.push(r),
                Some((r, true)) => e.1.push(r),
                None => {}
            }
        };
        for r in &changes.remove {
            if self.origin.zone_of(&r.name) {
                touch(boxed_key(&r.name), Some((r, false)));
            }
        }
        for r in &changes.add {
            if !self.origin.zone_of(&r.name) {
                errors.push(err(
                    location,
                    format!("{} is outside the zone {}", r.name, self.origin),
                ));
                continue;
            }
            touch(boxed_key(&r.name), Some((r, true)));
        }
        if changes.serial.is_some() {
            touch(self.origin_key.clone(), None);
        }
        (order, touched)
    }
}

/// Each touched owner's (removals, additions).
type Touched<'c> = KeyMap<(Vec<&'c Rr>, Vec<&'c Rr>)>;

/// What making the touched nodes found: records before and after, owners
/// created and emptied.
#[derive(Default)]
struct Tally {
    count_old: usize,
    count_new: usize,
    created: Vec<Box<[u8]>>,
    emptied: Vec<Box<[u8]>>,
}

impl Edit<'_> {
    /// Makes the node of the owner `key` after its removals and additions
    /// (the apex keeps `soa` as its SOA). Returns the errors and warnings
    /// of the per-node rules, or `None` when a zone cut or a DNAME appears
    /// or disappears (a full build is needed).
    fn make_node(
        &mut self,
        key: Box<[u8]>,
        removes: &[&Rr],
        adds: &[&Rr],
        soa: &Rr,
        location: &Location,
        tally: &mut Tally,
    ) -> Option<(Vec<ZoneError>, Vec<ZoneError>)> {
        let zone = self.zone;
        let at_apex = *key == *zone.origin_key;
        let old = zone.hot.index.get(&key).map(|n| &**n);
        if let Some(old) = old {
            tally.count_old += old.rrsets.iter().map(|s| s.rrs.len()).sum::<usize>();
        }
        let mut warnings = Vec::new();
        let sets = merged_sets(old, at_apex, soa, removes, adds, location, &mut warnings);
        tally.count_new += sets.iter().map(|(_, s)| s.len()).sum::<usize>();
        let name = match (sets.first().and_then(|(_, s)| s.first()), old) {
            (_, Some(old)) if at_apex => old.name.clone(),
            (Some(first), _) => first.name.clone(),
            (None, Some(old)) => old.name.clone(),
            (None, None) => return Some((Vec::new(), warnings)),
        };
        let errors = node_rules(&name, &sets, location);
        let mut rrsets: Vec<RrSet> = sets
            .into_iter()
            .map(|(rtype, rrs)| RrSet::new(rtype, rrs))
            .collect();
        rrsets.sort_by_key(|s| u16::from(s.rtype));
        let cut = !at_apex && rrsets.iter().any(|s| s.rtype == RecordType::NS);
        let dname = rrsets.iter().any(|s| s.rtype == RecordType::DNAME);
        match old {
            // A cut or DNAME appears or disappears: see the module docs.
            Some(o) if o.cut != cut || o.dname != dname => return None,
            None if cut || dname => return None,
            _ => {}
        }
        if rrsets.is_empty() {
            tally.emptied.push(key.clone());
        } else if old.is_none() {
            tally.created.push(key.clone());
        }
        let glue = old.is_some_and(|o| o.glue);
        self.state.insert(
            key,
            Some(Node {
                name,
                rrsets,
                cut,
                dname,
                glue,
            }),
        );
        Some((errors, warnings))
    }

    /// New owners: no data below a DNAME (RFC 6672 §2.4), and empty
    /// non-terminals up to the closest existing ancestor. Returns the keys
    /// of every new node (owners and non-terminals).
    fn add_ancestors(
        &mut self,
        created: &[Box<[u8]>],
        location: &Location,
        errors: &mut Vec<ZoneError>,
    ) -> Vec<Box<[u8]>> {
        let origin_key: &[u8] = &self.zone.origin_key;
        let mut new_keys: Vec<Box<[u8]>> = Vec::new();
        for key in created {
            let Some(name) = self.look(key).map(|n| n.name.clone()) else {
                continue;
            };
            let mut k: &[u8] = key;
            while let Some(p) = parent_key(k) {
                if p.len() < origin_key.len() {
                    break;
                }
                if self.look(p).is_some_and(|n| n.dname) {
                    errors.push(err(
                        location,
                        format!("{name} is below a DNAME (RFC 6672 §2.4)"),
                    ));
                    break;
                }
                k = p;
            }
            let mut n = name.base_name();
            while n.iter().len() > self.zone.origin_labels() {
                let k = boxed_key(&n);
                if self.look(&k).is_some() {
                    break;
                }
                self.state.insert(
                    k.clone(),
                    Some(Node {
                        name: n.clone(),
                        rrsets: Vec::new(),
                        cut: false,
                        dname: false,
                        glue: false,
                    }),
                );
                new_keys.push(k);
                n = n.base_name();
            }
            new_keys.push(key.clone());
        }
        new_keys
    }

    /// Emptied owners, deepest first: gone unless a name lies below; an
    /// owner gone may leave its parent an empty leaf in turn.
    fn drop_emptied(&mut self, emptied: Vec<Box<[u8]>>) {
        let zone = self.zone;
        let origin_key: &[u8] = &zone.origin_key;
        let mut heap: BinaryHeap<(usize, Box<[u8]>)> =
            emptied.into_iter().map(|k| (key_labels(&k), k)).collect();
        let mut seen: HashSet<Box<[u8]>> = HashSet::new();
        while let Some((_, key)) = heap.pop() {
            if *key == *origin_key || !seen.insert(key.clone()) {
                continue;
            }
            let old = zone.hot.index.get(&key).map(|n| &**n);
            if self.has_descendant(&key, old) {
                continue;
            }
            if old.is_some() {
                self.state.insert(key.clone(), None);
            } else {
                self.state.remove(&key);
            }
            if let Some(p) = parent_key(&key)
                && p.len() > origin_key.len()
                && self.look(p).is_some_and(Node::is_empty)
            {
                heap.push((key_labels(p), p.into()));
            }
        }
    }

    /// Glue status of the new owners (cuts are unchanged): below a cut.
    fn set_glue(&mut self, new_keys: &[Box<[u8]>]) {
        let origin_key: &[u8] = &self.zone.origin_key;
        for key in new_keys {
            let mut glue = false;
            let mut k: &[u8] = key;
            loop {
                if self.look(k).is_some_and(|n| n.cut) {
                    glue = true;
                    break;
                }
                match parent_key(k) {
                    Some(p) if p.len() > origin_key.len() => k = p,
                    _ => break,
                }
            }
            if let Some(Some(n)) = self.state.get_mut(key) {
                n.glue = glue;
            }
        }
    }

    /// The zone's nodes in canonical order and its index: the untouched
    /// nodes shared with the old zone, the touched ones merged in order.
    fn merge(self) -> (imbl::Vector<Arc<Node>>, NodeIndex) {
        let zone = self.zone;
        // (owner, key, new node or None when removed)
        type Op = (Name, Box<[u8]>, Option<Arc<Node>>);
        let mut ops: Vec<Op> = Vec::new();
        for (key, s) in self.state {
            match s {
                Some(n) => ops.push((n.name.clone(), key, Some(Arc::new(n)))),
                None => {
                    if let Some(old) = zone.hot.index.get(&key) {
                        ops.push((old.name.clone(), key, None));
                    }
                }
            }
        }
        let mut index: NodeIndex = zone.hot.index.clone();
        // A persistent vector: the copy shares every chunk, and each op
        // copies only the O(log n) chunks on its path.
        let mut nodes = zone.nodes.clone();
        for (name, key, node) in ops {
            let at = nodes.binary_search_by(|n| n.name.cmp(&name));
            match (at, node) {
                (Ok(p), Some(n)) => {
                    nodes.set(p, n.clone());
                    index.insert(key, n);
                }
                (Err(p), Some(n)) => {
                    nodes.insert(p, n.clone());
                    index.insert(key, n);
                }
                (Ok(p), None) => {
                    nodes.remove(p);
                    index.remove(&key);
                }
                (Err(_), None) => {
                    index.remove(&key);
                }
            }
        }
        (nodes, index)
    }
}

/// The RRsets of one owner after its removals and additions: the old
/// node's sets less what is removed (the apex's SOA replaced by `soa`),
/// then each addition not already present, in the TTL of its RRset's
/// first record (a warning when it differed).
fn merged_sets(
    old: Option<&Node>,
    at_apex: bool,
    soa: &Rr,
    removes: &[&Rr],
    adds: &[&Rr],
    location: &Location,
    warnings: &mut Vec<ZoneError>,
) -> Vec<(RecordType, Vec<Rr>)> {
    let mut sets: Vec<(RecordType, Vec<Rr>)> = Vec::new();
    // Every RR here has this node's owner, so "the same RR" (RFC 2181 §5)
    // is the same type and canonical RDATA: sets of those keep removing
    // and adding linear in the RRset's size.
    let removed: HashSet<(RecordType, Vec<u8>)> =
        removes.iter().map(|x| (x.rtype, canonical(x))).collect();
    let mut present: HashSet<(RecordType, Vec<u8>)> = HashSet::new();
    for s in old.map_or(&[][..], |o| &o.rrsets) {
        let rrs: Vec<Rr> = if at_apex && s.rtype == RecordType::SOA {
            vec![soa.clone()]
        } else {
            s.rrs
                .iter()
                .filter(|r| !removed.contains(&(r.rtype, canonical(r))))
                .cloned()
                .collect()
        };
        present.extend(rrs.iter().map(|r| (r.rtype, canonical(r))));
        if !rrs.is_empty() {
            sets.push((s.rtype, rrs));
        }
    }
    for &rr in adds {
        if !present.insert((rr.rtype, canonical(rr))) {
            continue;
        }
        match sets.iter_mut().find(|(t, _)| *t == rr.rtype) {
            None => sets.push((rr.rtype, vec![rr.clone()])),
            Some((_, set)) => {
                let first_ttl = set.first().map(|r| r.ttl).unwrap_or(rr.ttl);
                let mut rr = rr.clone();
                if rr.ttl != first_ttl {
                    warnings.push(err(
                        location,
                        format!(
                            "TTL {} differs from {} in the {} {} RRset; using {}",
                            rr.ttl, first_ttl, rr.name, rr.rtype, first_ttl
                        ),
                    ));
                    rr.ttl = first_ttl;
                }
                set.push(rr);
            }
        }
    }
    sets
}

/// The per-node rules of `Zone::build`: one CNAME and nothing beside it
/// (RFC 2181 §10.1), one DNAME.
fn node_rules(name: &Name, sets: &[(RecordType, Vec<Rr>)], location: &Location) -> Vec<ZoneError> {
    let mut errors = Vec::new();
    let other_data = sets
        .iter()
        .any(|(t, _)| !matches!(*t, RecordType::CNAME | RecordType::RRSIG | RecordType::NSEC));
    for (rtype, set) in sets {
        match *rtype {
            RecordType::CNAME => {
                if set.len() > 1 {
                    errors.push(err(location, format!("more than one CNAME at {name}")));
                }
                if other_data {
                    errors.push(err(
                        location,
                        format!("CNAME at {name} beside other data (RFC 2181 §10.1)"),
                    ));
                }
            }
            RecordType::DNAME if set.len() > 1 => {
                errors.push(err(location, format!("more than one DNAME at {name}")));
            }
            _ => {}
        }
    }
    errors
}
