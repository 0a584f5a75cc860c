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

use super::{KeyMap, Node, NodeIndex, RrSet, Zone, boxed_key, err, has_target};
use crate::rr::{
    ChangeSet, Location, Name, RecordType, Rr, SoaTimers, soa_timers, soa_with_serial, target_name,
};
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
            None => self.zone.index.get(key).map(|n| &**n),
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
        for n in self.zone.nodes.iter().skip(pos + 1) {
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

    /// `None`: fall back to a full build.
    #[allow(clippy::type_complexity)]
    pub(super) fn incremental(
        &self,
        changes: &ChangeSet,
        location: &Location,
    ) -> Option<Result<(Zone, Vec<ZoneError>), Vec<ZoneError>>> {
        if changes.remove.len() + changes.add.len() > MAX_INCREMENTAL {
            return None;
        }
        let origin_key: &[u8] = &self.origin_key;
        for r in changes.remove.iter().chain(&changes.add) {
            if r.rtype == RecordType::SOA
                || (r.rtype == RecordType::NS && *boxed_key(&r.name) == *origin_key)
            {
                return None;
            }
        }
        let mut errors = Vec::new();
        let mut warnings = Vec::new();

        // Group the changes by owner, keeping first-seen order.
        let mut order: Vec<Box<[u8]>> = Vec::new();
        let mut touched: Touched<'_> = KeyMap::default();
        type Touched<'c> = KeyMap<(Vec<&'c Rr>, Vec<&'c Rr>)>;
        fn entry<'t, 'c>(
            touched: &'t mut Touched<'c>,
            order: &mut Vec<Box<[u8]>>,
            key: Box<[u8]>,
        ) -> &'t mut (Vec<&'c Rr>, Vec<&'c Rr>) {
            touched.entry(key).or_insert_with_key(|k| {
                order.push(k.clone());
                (Vec::new(), Vec::new())
            })
        }
        for r in &changes.remove {
            if self.origin.zone_of(&r.name) {
                entry(&mut touched, &mut order, boxed_key(&r.name))
                    .0
                    .push(r);
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
            entry(&mut touched, &mut order, boxed_key(&r.name))
                .1
                .push(r);
        }
        let mut soa = self.soa.clone();
        if let Some(serial) = changes.serial {
            if let Some(rd) = soa_with_serial(&soa.rdata, serial) {
                soa.rdata = rd;
            }
            entry(&mut touched, &mut order, origin_key.into());
        }

        // The new node of each touched owner.
        let mut edit = Edit {
            zone: self,
            state: KeyMap::default(),
        };
        let (mut count_old, mut count_new) = (0usize, 0usize);
        let mut created: Vec<Box<[u8]>> = Vec::new();
        let mut emptied: Vec<Box<[u8]>> = Vec::new();
        for key in order {
            let Some((removes, adds)) = touched.get(&key) else {
                continue;
            };
            let at_apex = *key == *origin_key;
            let old = self.index.get(&key).map(|n| &**n);
            let mut sets: Vec<(RecordType, Vec<Rr>)> = Vec::new();
            // Every RR here has this node's owner, so "the same RR" (RFC
            // 2181 §5) is the same type and canonical RDATA: sets of those
            // keep removing and adding linear in the RRset's size.
            let removed: HashSet<(RecordType, Vec<u8>)> =
                removes.iter().map(|x| (x.rtype, canonical(x))).collect();
            let mut present: HashSet<(RecordType, Vec<u8>)> = HashSet::new();
            if let Some(old) = old {
                count_old += old.rrsets.iter().map(|s| s.rrs.len()).sum::<usize>();
                for s in &old.rrsets {
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
            count_new += sets.iter().map(|(_, s)| s.len()).sum::<usize>();

            let name = match (sets.first().and_then(|(_, s)| s.first()), old) {
                (_, Some(old)) if at_apex => old.name.clone(),
                (Some(first), _) => first.name.clone(),
                (None, Some(old)) => old.name.clone(),
                (None, None) => continue,
            };
            // Per-node rules, as in `Zone::build`.
            let other_data = sets.iter().any(|(t, _)| {
                !matches!(*t, RecordType::CNAME | RecordType::RRSIG | RecordType::NSEC)
            });
            for (rtype, set) in &sets {
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
            let mut rrsets: Vec<RrSet> = sets
                .into_iter()
                .map(|(rtype, rrs)| {
                    let targets = if has_target(rtype) {
                        rrs.iter().map(|r| target_name(rtype, &r.rdata)).collect()
                    } else {
                        Vec::new()
                    };
                    RrSet {
                        rtype,
                        rrs,
                        targets,
                    }
                })
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
                emptied.push(key.clone());
            } else if old.is_none() {
                created.push(key.clone());
            }
            let glue = old.is_some_and(|o| o.glue);
            edit.state.insert(
                key,
                Some(Node {
                    name,
                    rrsets,
                    cut,
                    dname,
                    glue,
                }),
            );
        }

        // New owners: no data below a DNAME (RFC 6672 §2.4), and empty
        // non-terminals up to the closest existing ancestor.
        let mut new_keys: Vec<Box<[u8]>> = Vec::new();
        for key in &created {
            let Some(name) = edit.look(key).map(|n| n.name.clone()) else {
                continue;
            };
            let mut k: &[u8] = key;
            while let Some(p) = parent_key(k) {
                if p.len() < origin_key.len() {
                    break;
                }
                if edit.look(p).is_some_and(|n| n.dname) {
                    errors.push(err(
                        location,
                        format!("{name} is below a DNAME (RFC 6672 §2.4)"),
                    ));
                    break;
                }
                k = p;
            }
            let mut n = name.base_name();
            while n.iter().len() > self.origin_labels {
                let k = boxed_key(&n);
                if edit.look(&k).is_some() {
                    break;
                }
                edit.state.insert(
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
        if !errors.is_empty() {
            return Some(Err(errors));
        }

        // Emptied owners, deepest first: gone unless a name lies below; an
        // owner gone may leave its parent an empty leaf in turn.
        let mut heap: BinaryHeap<(usize, Box<[u8]>)> =
            emptied.into_iter().map(|k| (key_labels(&k), k)).collect();
        let mut seen: HashSet<Box<[u8]>> = HashSet::new();
        while let Some((_, key)) = heap.pop() {
            if *key == *origin_key || !seen.insert(key.clone()) {
                continue;
            }
            let old = self.index.get(&key).map(|n| &**n);
            if edit.has_descendant(&key, old) {
                continue;
            }
            if old.is_some() {
                edit.state.insert(key.clone(), None);
            } else {
                edit.state.remove(&key);
            }
            if let Some(p) = parent_key(&key)
                && p.len() > origin_key.len()
                && edit.look(p).is_some_and(Node::is_empty)
            {
                heap.push((key_labels(p), p.into()));
            }
        }

        // Glue status of the new owners (cuts are unchanged).
        for key in &new_keys {
            let mut glue = false;
            let mut k: &[u8] = key;
            loop {
                if edit.look(k).is_some_and(|n| n.cut) {
                    glue = true;
                    break;
                }
                match parent_key(k) {
                    Some(p) if p.len() > origin_key.len() => k = p,
                    _ => break,
                }
            }
            if let Some(Some(n)) = edit.state.get_mut(key) {
                n.glue = glue;
            }
        }

        // Share the untouched nodes; merge the touched ones in order.
        let mut ops: Vec<(Name, Box<[u8]>, Option<Arc<Node>>)> = Vec::new();
        for (key, s) in edit.state {
            match s {
                Some(n) => ops.push((n.name.clone(), key, Some(Arc::new(n)))),
                None => {
                    if let Some(old) = self.index.get(&key) {
                        ops.push((old.name.clone(), key, None));
                    }
                }
            }
        }
        ops.sort_by(|a, b| a.0.cmp(&b.0));
        let mut index: NodeIndex = self.index.clone();
        let mut nodes: Vec<Arc<Node>> = Vec::with_capacity(self.nodes.len() + ops.len());
        let mut rest: &[Arc<Node>] = &self.nodes;
        for (name, key, node) in ops {
            let (before, after) = match rest.binary_search_by(|n| n.name.cmp(&name)) {
                Ok(p) => (
                    rest.get(..p).unwrap_or(&[]),
                    rest.get(p + 1..).unwrap_or(&[]),
                ),
                Err(p) => (rest.get(..p).unwrap_or(&[]), rest.get(p..).unwrap_or(&[])),
            };
            nodes.extend_from_slice(before);
            rest = after;
            match node {
                Some(n) => {
                    nodes.push(n.clone());
                    index.insert(Arc::from(key), n);
                }
                None => {
                    index.remove(&key);
                }
            }
        }
        nodes.extend_from_slice(rest);

        let apex = nodes
            .binary_search_by(|n| n.name.cmp(&self.origin))
            .unwrap_or(0);
        let timers = soa_timers(&soa.rdata).unwrap_or(SoaTimers {
            serial: 0,
            refresh: 0,
            retry: 0,
            expire: 0,
            minimum: 0,
        });
        let mut negative_soa = soa.clone();
        negative_soa.ttl = soa.ttl.min(timers.minimum);
        let record_count = (self.record_count + count_new).saturating_sub(count_old);
        Some(Ok((
            Zone {
                origin: self.origin.clone(),
                origin_labels: self.origin_labels,
                origin_key: self.origin_key.clone(),
                soa,
                negative_soa,
                timers,
                nodes,
                index,
                apex,
                record_count,
            },
            warnings,
        )))
    }
}
