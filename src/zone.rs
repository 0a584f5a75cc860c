//! PURE: a validated zone (apex, RRsets, delegations) and the set of zones served.
//!
//! # Design
//!
//! A [`Zone`] is built once (validated, indexed) and then only read, so the
//! query path takes no locks: the server shares zones behind `Arc` and swaps
//! whole snapshots. Nodes (one per owner name) live in a `Vec` sorted in
//! canonical order (RFC 4034 §6.1, which also gives AXFR a stable order);
//! a hash map from the **lower-cased uncompressed wire form** of a name to
//! the same node finds them. Nodes are `Arc`-shared between the two and the
//! map is split into `Arc`-shared shards, so [`Zone::with_changes`] (in
//! `zone/incr.rs`) makes an edited zone by copying pointers and rebuilding
//! only the changed names, instead of [`Zone::build`] from every record. Lower-cased wire keys have a useful property:
//! every ancestor's key is a suffix of the name's key, so a lookup walks
//! ancestors by slicing one stack buffer ([`NameKey`]) without allocating.
//!
//! Every empty non-terminal between the apex and an owner is inserted as an
//! empty node (RFC 4592 §2.2.2: an empty non-terminal blocks wildcards and
//! answers NODATA). Because of that, "no node for this ancestor" means "no
//! name at or below it", and the descent in [`Zone::lookup`] finds the
//! closest encloser (RFC 4592 §3.3.1) on the way down, meeting zone cuts and
//! DNAMEs in the order RFC 1034 §4.3.2 step 3 requires.
//!
//! Targets of CNAME, DNAME, NS, MX, SRV and SVCB/HTTPS records are decoded
//! once at build time, so chasing them per query allocates nothing.
//!
//! [`ZoneSet`] maps origin keys to zones; [`ZoneSet::find`] tries qname and
//! then each ancestor, so the first hit is the longest match.

use std::collections::{HashMap, HashSet};
use std::hash::{BuildHasherDefault, Hasher};
use std::sync::Arc;

use crate::rr::{Location, Name, RecordType, Rr, SoaTimers, soa_timers, target_name};
use crate::zonefile::ZoneError;

mod incr;
#[cfg(test)]
mod incr_tests;

pub use incr::MAX_INCREMENTAL;

/// A small multiplicative hasher (FxHash-style) for lower-cased name keys.
/// Keys come from zone files (trusted), lookups from queries; lookups can't
/// degrade the table, so a fast non-keyed hash is appropriate here.
#[derive(Default, Clone, Copy)]
pub struct KeyHasher(u64);

impl Hasher for KeyHasher {
    fn write(&mut self, bytes: &[u8]) {
        const K: u64 = 0x517c_c1b7_2722_0a95;
        let mut h = self.0;
        let mut chunks = bytes.chunks_exact(8);
        for c in &mut chunks {
            let mut w = [0u8; 8];
            w.copy_from_slice(c);
            h = (h.rotate_left(5) ^ u64::from_le_bytes(w)).wrapping_mul(K);
        }
        for &b in chunks.remainder() {
            h = (h.rotate_left(5) ^ u64::from(b)).wrapping_mul(K);
        }
        self.0 = h;
    }

    fn finish(&self) -> u64 {
        self.0
    }
}

type KeyMap<V> = HashMap<Box<[u8]>, V, BuildHasherDefault<KeyHasher>>;

type ShardMap<V> = HashMap<ShardKey, V, BuildHasherDefault<KeyHasher>>;

/// Longest key kept inline in a [`ShardKey`].
const INLINE_KEY: usize = 30;

/// A name key as a shard stores it: a short one (most names: the wire
/// form of `www.example.com` is 17 bytes) inside the table's slot, so a
/// lookup confirms its match without following a pointer, and no key
/// needs an allocation of its own (5,000 zones: 2.3 MB less); a longer
/// one shared on the heap. Hashes and compares as the bytes
/// (`Borrow<[u8]>`).
#[derive(Clone, Debug)]
enum ShardKey {
    Inline { len: u8, bytes: [u8; INLINE_KEY] },
    Heap(Arc<[u8]>),
}

impl ShardKey {
    fn as_bytes(&self) -> &[u8] {
        match self {
            ShardKey::Inline { len, bytes } => bytes.get(..usize::from(*len)).unwrap_or(bytes),
            ShardKey::Heap(b) => b,
        }
    }
}

impl From<&[u8]> for ShardKey {
    fn from(key: &[u8]) -> ShardKey {
        match (u8::try_from(key.len()), key.len() <= INLINE_KEY) {
            (Ok(len), true) => {
                let mut bytes = [0u8; INLINE_KEY];
                bytes[..key.len()].copy_from_slice(key);
                ShardKey::Inline { len, bytes }
            }
            _ => ShardKey::Heap(Arc::from(key)),
        }
    }
}

impl From<Box<[u8]>> for ShardKey {
    fn from(key: Box<[u8]>) -> ShardKey {
        ShardKey::from(&*key)
    }
}

impl std::borrow::Borrow<[u8]> for ShardKey {
    fn borrow(&self) -> &[u8] {
        self.as_bytes()
    }
}

impl PartialEq for ShardKey {
    fn eq(&self, other: &ShardKey) -> bool {
        self.as_bytes() == other.as_bytes()
    }
}

impl Eq for ShardKey {}

impl std::hash::Hash for ShardKey {
    /// As `[u8]` hashes, so a lookup by `&[u8]` finds it.
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.as_bytes().hash(state);
    }
}

/// Most shards of a [`Sharded`] map (a power of two).
const SHARDS: usize = 256;
/// Entries per shard a map is built for: a zone of 24 records has one
/// shard, not 256 empty ones (16 KB each zone: 90 MB over 5,000 zones).
const PER_SHARD: usize = 256;

/// A map from name keys split by hash into shared shards, so a changed
/// copy ([`Zone::with_changes`], a snapshot with one zone replaced)
/// copies 256 pointers and then only the shards it changes (a shard of a
/// 100,000-node zone holds ~400 entries; cloning one 100,000-entry map
/// took ~8 ms, and rebuilding the 5,000-zone set on every write cost
/// most of an UPDATE's time).
///
/// A map small enough for one shard (most zones) keeps that shard's
/// table inline ([`Shards::One`]): a query's lookup then goes from the
/// zone's cache line straight to the table's control bytes. Through a
/// list of shared shards it first read the list and then the shard's
/// `Arc` header, two more memory accesses that missed the caches for
/// nearly every query over 5,000 zones (`perf annotate`: about a third of
/// the lookup's time). A write copies a one-shard map whole, as it did
/// before (the old snapshot held the only shard, so `Arc::make_mut`
/// cloned it).
#[derive(Debug, Clone)]
struct Sharded<V> {
    shards: Shards<V>,
}

#[derive(Debug, Clone)]
enum Shards<V> {
    /// The only shard, inline.
    One(ShardMap<V>),
    /// A power of two of shared shards, picked by [`Sharded::shard_of`].
    Many(Vec<Arc<ShardMap<V>>>),
}

/// The node index of a zone.
type NodeIndex = Sharded<Arc<Node>>;

impl<V: Clone> Sharded<V> {
    /// Bits 40..48 of the key hash: independent of the bits each shard's
    /// table uses (the low bits for the bucket, the top 7 for the tag).
    fn shard_of(key: &[u8], shards: usize) -> usize {
        let mut h = KeyHasher::default();
        h.write(key);
        (h.finish() >> 40) as usize & (shards - 1)
    }

    fn get(&self, key: &[u8]) -> Option<&V> {
        match &self.shards {
            Shards::One(m) => m.get(key),
            Shards::Many(s) => s.get(Self::shard_of(key, s.len()))?.get(key),
        }
    }

    fn insert(&mut self, key: impl Into<ShardKey>, value: V) {
        let key = key.into();
        let (len, count) = match &mut self.shards {
            Shards::One(m) => {
                m.insert(key, value);
                (m.len(), 1)
            }
            Shards::Many(shards) => {
                let count = shards.len();
                let Some(s) = shards.get_mut(Self::shard_of(key.as_bytes(), count)) else {
                    return;
                };
                let s = Arc::make_mut(s);
                s.insert(key, value);
                (s.len(), count)
            }
        };
        // A map built small and grown by writes is split again (each
        // doubling once), so a copy never clones a huge shard.
        if len > 4 * PER_SHARD && count < SHARDS {
            let entries: Vec<(ShardKey, V)> = self
                .tables()
                .flat_map(|s| s.iter().map(|(k, v)| (k.clone(), v.clone())))
                .collect();
            *self = entries.into_iter().collect();
        }
    }

    fn remove(&mut self, key: &[u8]) {
        match &mut self.shards {
            Shards::One(m) => {
                m.remove(key);
            }
            Shards::Many(shards) => {
                let i = Self::shard_of(key, shards.len());
                if let Some(s) = shards.get_mut(i)
                    && s.contains_key(key)
                {
                    Arc::make_mut(s).remove(key);
                }
            }
        }
    }

    /// Each shard's table.
    fn tables(&self) -> impl Iterator<Item = &ShardMap<V>> {
        let (one, many) = match &self.shards {
            Shards::One(m) => (Some(m), &[][..]),
            Shards::Many(s) => (None, &s[..]),
        };
        one.into_iter().chain(many.iter().map(|s| &**s))
    }

    fn values(&self) -> impl Iterator<Item = &V> {
        self.tables().flat_map(|s| s.values())
    }

    fn len(&self) -> usize {
        self.tables().map(|s| s.len()).sum()
    }
}

impl<V> Default for Sharded<V> {
    /// Empty, with the most shards (the zone set, which grows).
    fn default() -> Self {
        Sharded {
            shards: Shards::Many((0..SHARDS).map(|_| Arc::new(ShardMap::default())).collect()),
        }
    }
}

impl<K: Into<ShardKey>, V: Clone> FromIterator<(K, V)> for Sharded<V> {
    /// As many shards as the entries need at [`PER_SHARD`] each (a power
    /// of two, at most [`SHARDS`]); a map that grows later keeps them.
    fn from_iter<I: IntoIterator<Item = (K, V)>>(iter: I) -> Self {
        let entries: Vec<(ShardKey, V)> = iter.into_iter().map(|(k, v)| (k.into(), v)).collect();
        let count = (entries.len() / PER_SHARD)
            .next_power_of_two()
            .clamp(1, SHARDS);
        let mut shards: Vec<ShardMap<V>> = (0..count).map(|_| ShardMap::default()).collect();
        for (k, v) in entries {
            if let Some(s) = shards.get_mut(Self::shard_of(k.as_bytes(), count)) {
                s.insert(k, v);
            }
        }
        let shards = match (count, shards.pop()) {
            (1, Some(only)) => Shards::One(only),
            (_, last) => Shards::Many(shards.into_iter().chain(last).map(Arc::new).collect()),
        };
        Sharded { shards }
    }
}

/// The lower-cased uncompressed wire form of a name in a stack buffer, with
/// the offset of each label so ancestors are suffixes (no allocation).
#[derive(Clone)]
pub struct NameKey {
    buf: [u8; 256],
    len: usize,
    starts: [u8; 128],
    labels: usize,
}

impl NameKey {
    pub fn new(name: &Name) -> NameKey {
        let mut k = NameKey {
            buf: [0; 256],
            len: 0,
            starts: [0; 128],
            labels: 0,
        };
        for label in name.iter() {
            // A `Name` is at most 255 octets, so this never truncates.
            if k.len + 1 + label.len() >= 255 || k.labels >= 127 {
                break;
            }
            k.starts[k.labels] = k.len as u8;
            k.labels += 1;
            k.buf[k.len] = label.len() as u8;
            k.len += 1;
            for &b in label {
                k.buf[k.len] = b.to_ascii_lowercase();
                k.len += 1;
            }
        }
        k.buf[k.len] = 0;
        k.len += 1;
        k
    }

    /// The whole key.
    pub fn as_bytes(&self) -> &[u8] {
        &self.buf[..self.len]
    }

    /// Number of labels, the root not counted.
    pub fn labels(&self) -> usize {
        self.labels
    }

    /// The key of the ancestor with `strip` leading labels removed.
    pub fn suffix(&self, strip: usize) -> &[u8] {
        let start = if strip >= self.labels {
            self.len - 1
        } else {
            usize::from(self.starts[strip])
        };
        &self.buf[start..self.len]
    }
}

/// Bounds on one zone (`[server] max_zone_records`, `max_rrset_records`):
/// checked when a zone is loaded and after every write, so neither a file
/// nor a key holder can make a zone cost memory and time without bound.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Limits {
    pub max_zone_records: usize,
    pub max_rrset_records: usize,
}

impl Default for Limits {
    fn default() -> Limits {
        Limits {
            max_zone_records: 2_000_000,
            max_rrset_records: 10_000,
        }
    }
}

impl Limits {
    fn zone(&self, records: usize) -> Result<(), String> {
        if records > self.max_zone_records {
            return Err(format!(
                "the zone would hold {records} records, more than [server] max_zone_records ({})",
                self.max_zone_records
            ));
        }
        Ok(())
    }

    fn rrset(&self, name: &Name, rtype: RecordType, len: usize) -> Result<(), String> {
        if len > self.max_rrset_records {
            return Err(format!(
                "the {name} {rtype} RRset would hold {len} records, more than \
                 [server] max_rrset_records ({})",
                self.max_rrset_records
            ));
        }
        Ok(())
    }
}

/// One RRset at a node.
#[derive(Debug, Clone)]
pub struct RrSet {
    pub rtype: RecordType,
    pub rrs: Vec<Rr>,
    /// Decoded targets (CNAME/DNAME/NS/MX/SRV/SVCB/HTTPS), parallel to `rrs`;
    /// empty for other types.
    pub targets: Vec<Option<Name>>,
}

impl RrSet {
    /// The RRset of `rrs`, its targets decoded.
    fn new(rtype: RecordType, rrs: Vec<Rr>) -> RrSet {
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
    }
}

/// One owner name and its RRsets (none for an empty non-terminal).
#[derive(Debug, Clone)]
pub struct Node {
    /// The owner as first written (an ENT takes the case of its descendant).
    pub name: Name,
    /// Sorted by type code.
    pub rrsets: Vec<RrSet>,
    /// Non-apex node with NS: a delegation point (RFC 1034 §4.2.1).
    pub cut: bool,
    /// Has a DNAME (RFC 6672): names below are redirected.
    pub dname: bool,
    /// At or below a delegation point: glue/occluded, not authoritative.
    pub glue: bool,
}

impl Node {
    pub fn rrset(&self, rtype: RecordType) -> Option<&RrSet> {
        self.rrsets.iter().find(|s| s.rtype == rtype)
    }

    /// An empty non-terminal (or otherwise empty node).
    pub fn is_empty(&self) -> bool {
        self.rrsets.is_empty()
    }
}

/// What the descent from the apex found for a name (RFC 1034 §4.3.2 step 3).
#[derive(Debug, Clone, Copy)]
pub enum Lookup<'z> {
    /// The name exists (possibly as an empty non-terminal). Also returned
    /// for a DS query at a delegation point (answered from the parent side).
    Exact(&'z Node),
    /// The name does not exist; the wildcard at its closest encloser does.
    Wildcard(&'z Node),
    /// The name is at or below this delegation point.
    Referral(&'z Node),
    /// The name is below this DNAME owner.
    Dname(&'z Node),
    /// Neither the name nor a matching wildcard exists.
    NxDomain,
}

/// One zone, validated and indexed for lookups. Immutable once built.
#[derive(Debug)]
pub struct Zone {
    /// What every query reads, on one cache line of its own.
    hot: Hot,
    origin: Name,
    origin_key: Box<[u8]>,
    soa: Rr,
    /// The apex SOA at TTL min(SOA TTL, MINIMUM), for negative answers
    /// (RFC 2308 §3).
    negative_soa: Rr,
    timers: SoaTimers,
    /// Canonical order; shared with `index` (see [`Zone::with_changes`]).
    nodes: imbl::Vector<Arc<Node>>,
    apex: usize,
    record_count: usize,
}

/// The fields of a [`Zone`] a query reads, together: a query for a name in
/// one of 5,000 zones finds none of them in the CPU's caches, and each
/// separate line (the zone, its apex node for the DNAME check) cost a
/// memory access of its own.
#[derive(Debug)]
#[repr(C, align(64))]
struct Hot {
    index: NodeIndex,
    /// `nodes[apex]`, at hand: every query starts there, and a lookup in
    /// the persistent vector is a walk down its tree.
    apex_node: Option<Arc<Node>>,
    /// The origin as text, shared (the metrics' `zone` label).
    label: Arc<str>,
    /// Labels of the origin (at most 127: RFC 1035 §2.3.4), in a byte so
    /// that the whole struct fits one line (a test holds it there).
    origin_labels: u8,
    /// The apex owns a DNAME (copied from `apex_node`).
    apex_dname: bool,
}

fn err(location: &Location, message: impl Into<String>) -> ZoneError {
    ZoneError {
        location: location.clone(),
        message: message.into(),
    }
}

fn has_target(rtype: RecordType) -> bool {
    matches!(
        rtype,
        RecordType::CNAME
            | RecordType::DNAME
            | RecordType::NS
            | RecordType::MX
            | RecordType::SRV
            | RecordType::SVCB
            | RecordType::HTTPS
    )
}

/// Key of an owner, stored.
fn boxed_key(name: &Name) -> Box<[u8]> {
    NameKey::new(name).as_bytes().into()
}

struct Pending {
    name: Name,
    rrsets: Vec<(RecordType, Vec<(Rr, Location)>)>,
}

/// Owners in first-seen order, each with its RRsets, and the position of
/// each owner's key in that list.
type Grouped = (Vec<Pending>, KeyMap<usize>);

/// Groups `records` by owner, then type; folds duplicates (RFC 2181 §5:
/// the same RR) and aligns TTLs within an RRset (RFC 2181 §5.2, with a
/// warning). The canonical RDATA of every RRset's members are kept in a
/// set, so folding is linear in the RRset's size, not quadratic. A record
/// outside the zone is an error.
fn group(
    origin: &Name,
    records: Vec<(Rr, Location)>,
    errors: &mut Vec<ZoneError>,
    warnings: &mut Vec<ZoneError>,
) -> Grouped {
    let mut pending: Vec<Pending> = Vec::new();
    let mut by_key: KeyMap<usize> = KeyMap::default();
    let mut members: HashMap<(usize, RecordType), HashSet<Vec<u8>>> = HashMap::new();
    for (rr, loc) in records {
        if !origin.zone_of(&rr.name) {
            errors.push(err(
                &loc,
                format!("{} is outside the zone {}", rr.name, origin),
            ));
            continue;
        }
        let key = boxed_key(&rr.name);
        let idx = match by_key.get(&key) {
            Some(&i) => i,
            None => {
                pending.push(Pending {
                    name: rr.name.clone(),
                    rrsets: Vec::new(),
                });
                by_key.insert(key, pending.len() - 1);
                pending.len() - 1
            }
        };
        let Some(p) = pending.get_mut(idx) else {
            continue;
        };
        // The node's owner is the RR's (names compared without case), so
        // two RRs of the set are the same RR (RFC 2181 §5) exactly when
        // their canonical RDATA are equal.
        let canonical = crate::rr::canonical(rr.rtype, &rr.rdata).into_owned();
        if !members
            .entry((idx, rr.rtype))
            .or_default()
            .insert(canonical)
        {
            // RFC 2181 §5: duplicates are the same RR; fold silently.
            continue;
        }
        match p.rrsets.iter_mut().find(|(t, _)| *t == rr.rtype) {
            None => p.rrsets.push((rr.rtype, vec![(rr, loc)])),
            Some((_, set)) => {
                let first_ttl = set.first().map(|(r, _)| r.ttl).unwrap_or(rr.ttl);
                let mut rr = rr;
                if rr.ttl != first_ttl {
                    // RFC 2181 §5.2: "the TTLs of all RRs in an RRSet must be the same".
                    warnings.push(err(
                        &loc,
                        format!(
                            "TTL {} differs from {} in the {} {} RRset; using {}",
                            rr.ttl, first_ttl, rr.name, rr.rtype, first_ttl
                        ),
                    ));
                    rr.ttl = first_ttl;
                }
                set.push((rr, loc));
            }
        }
    }
    (pending, by_key)
}

/// The per-node rules: the SOA only at the apex, once, well formed; one
/// CNAME and no other data beside it; one DNAME. Returns the apex SOA.
fn node_rules(origin: &Name, pending: &[Pending], errors: &mut Vec<ZoneError>) -> Option<Rr> {
    let mut soa: Option<Rr> = None;
    for p in pending {
        let at_apex = p.name == *origin;
        let other_data = p
            .rrsets
            .iter()
            .any(|(t, _)| !matches!(*t, RecordType::CNAME | RecordType::RRSIG | RecordType::NSEC));
        for (rtype, set) in &p.rrsets {
            match *rtype {
                RecordType::SOA => {
                    for (rr, loc) in set {
                        if !at_apex {
                            errors.push(err(
                                loc,
                                format!("SOA at {} is not at the apex {}", rr.name, origin),
                            ));
                        } else if soa.is_some() {
                            errors.push(err(loc, "more than one SOA at the apex"));
                        } else if soa_timers(&rr.rdata).is_none() {
                            errors.push(err(loc, "SOA RDATA is too short"));
                        } else {
                            soa = Some(rr.clone());
                        }
                    }
                }
                RecordType::CNAME => {
                    // RFC 2181 §10.1: "there may be only one such RR for a given
                    // name" and no other data beside it (except DNSSEC RRs).
                    if let Some((_, loc)) = set.get(1) {
                        errors.push(err(loc, format!("more than one CNAME at {}", p.name)));
                    }
                    if other_data && let Some((_, loc)) = set.first() {
                        errors.push(err(
                            loc,
                            format!("CNAME at {} beside other data (RFC 2181 §10.1)", p.name),
                        ));
                    }
                }
                RecordType::DNAME => {
                    // RFC 6672 §2.4: "There MUST NOT be more than one DNAME RR per owner".
                    if let Some((_, loc)) = set.get(1) {
                        errors.push(err(loc, format!("more than one DNAME at {}", p.name)));
                    }
                }
                _ => {}
            }
        }
    }
    soa
}

/// DNAME owners: data below them is an error (RFC 6672 §2.4: "resource
/// records MUST NOT exist at any subdomain of the owner of a DNAME RR").
fn below_dname(pending: &[Pending], origin_labels: usize, errors: &mut Vec<ZoneError>) {
    let dname_keys: Vec<Box<[u8]>> = pending
        .iter()
        .filter(|p| p.rrsets.iter().any(|(t, _)| *t == RecordType::DNAME))
        .map(|p| boxed_key(&p.name))
        .collect();
    if dname_keys.is_empty() {
        return;
    }
    for p in pending {
        let key = NameKey::new(&p.name);
        for strip in 1..=key.labels().saturating_sub(origin_labels) {
            if dname_keys.iter().any(|d| &**d == key.suffix(strip)) {
                if let Some((_, loc)) = p.rrsets.first().and_then(|(_, s)| s.first()) {
                    errors.push(err(
                        loc,
                        format!("{} is below a DNAME (RFC 6672 §2.4)", p.name),
                    ));
                }
                break;
            }
        }
    }
}

/// Every owner, the empty non-terminals between the apex and each owner,
/// and the apex, sorted in canonical order.
fn all_names(origin: &Name, origin_labels: usize, grouped: &mut Grouped) -> Vec<Name> {
    let (pending, by_key) = grouped;
    let mut names: Vec<Name> = pending.iter().map(|p| p.name.clone()).collect();
    for p in pending.iter() {
        let mut n = p.name.base_name();
        // (`Name::num_labels` discounts a leading `*`: count labels directly.)
        while n.iter().len() > origin_labels {
            let key = boxed_key(&n);
            if by_key.contains_key(&key) {
                break;
            }
            by_key.insert(key, usize::MAX);
            names.push(n.clone());
            n = n.base_name();
        }
    }
    if !by_key.contains_key(&*boxed_key(origin)) {
        names.push(origin.clone());
    }
    names.sort();
    names
}

/// The node of each name (in the order given, duplicates skipped), with
/// its RRsets, the key of each, and the number of records in them.
fn make_nodes(
    origin: &Name,
    pending: Vec<Pending>,
    names: Vec<Name>,
) -> (Vec<Node>, Vec<Box<[u8]>>, usize) {
    let mut pending_by_key: KeyMap<Pending> = pending
        .into_iter()
        .map(|p| (boxed_key(&p.name), p))
        .collect();
    let mut nodes = Vec::with_capacity(names.len());
    let mut keys: Vec<Box<[u8]>> = Vec::with_capacity(names.len());
    let mut seen: KeyMap<()> = KeyMap::default();
    let mut record_count = 0;
    for name in names {
        let key = boxed_key(&name);
        if seen.insert(key.clone(), ()).is_some() {
            continue;
        }
        let at_apex = name == *origin;
        let mut rrsets: Vec<RrSet> = match pending_by_key.remove(&key) {
            None => Vec::new(),
            Some(p) => p
                .rrsets
                .into_iter()
                .map(|(rtype, set)| RrSet::new(rtype, set.into_iter().map(|(rr, _)| rr).collect()))
                .collect(),
        };
        rrsets.sort_by_key(|s| u16::from(s.rtype));
        record_count += rrsets.iter().map(|s| s.rrs.len()).sum::<usize>();
        let cut = !at_apex && rrsets.iter().any(|s| s.rtype == RecordType::NS);
        let dname = rrsets.iter().any(|s| s.rtype == RecordType::DNAME);
        keys.push(key);
        nodes.push(Node {
            name,
            rrsets,
            cut,
            dname,
            glue: false,
        });
    }
    (nodes, keys, record_count)
}

/// Marks the nodes at or below a cut (occluded: glue, not authoritative).
fn mark_glue(nodes: &mut [Node], origin_labels: usize) {
    let cut_keys: Vec<Box<[u8]>> = nodes
        .iter()
        .filter(|n| n.cut)
        .map(|n| boxed_key(&n.name))
        .collect();
    if cut_keys.is_empty() {
        return;
    }
    for node in nodes.iter_mut() {
        let key = NameKey::new(&node.name);
        let depth = key.labels().saturating_sub(origin_labels);
        node.glue = (0..depth).any(|s| cut_keys.iter().any(|c| &**c == key.suffix(s)));
    }
}

impl Zone {
    /// Validates and indexes the records of one zone (RFC 1035 §5.2,
    /// RFC 2181 §5.2 and §10.1). Returns the zone and warnings, or every error.
    pub fn build(
        origin: Name,
        records: Vec<(Rr, Location)>,
    ) -> Result<(Zone, Vec<ZoneError>), Vec<ZoneError>> {
        let mut errors = Vec::new();
        let mut warnings = Vec::new();
        let origin_key = NameKey::new(&origin);
        let origin_labels = origin_key.labels();
        let origin_loc = records.first().map(|(_, l)| l.clone()).unwrap_or(Location {
            file: Arc::from(""),
            line: 0,
            col: 0,
        });
        let mut grouped = group(&origin, records, &mut errors, &mut warnings);
        let soa = node_rules(&origin, &grouped.0, &mut errors);
        let has_apex_ns = grouped
            .1
            .get(origin_key.as_bytes())
            .and_then(|&i| grouped.0.get(i))
            .is_some_and(|p| p.rrsets.iter().any(|(t, _)| *t == RecordType::NS));
        if !has_apex_ns {
            errors.push(err(
                &origin_loc,
                format!("no NS records at the apex {origin}"),
            ));
        }
        let Some(soa) = soa else {
            errors.push(err(
                &origin_loc,
                format!("no SOA record at the apex {origin}"),
            ));
            return Err(errors);
        };
        below_dname(&grouped.0, origin_labels, &mut errors);
        if !errors.is_empty() {
            return Err(errors);
        }
        let names = all_names(&origin, origin_labels, &mut grouped);
        let (mut nodes, keys, record_count) = make_nodes(&origin, grouped.0, names);
        mark_glue(&mut nodes, origin_labels);
        let nodes: imbl::Vector<Arc<Node>> = nodes.into_iter().map(Arc::new).collect();
        let index: NodeIndex = keys.into_iter().zip(nodes.iter().cloned()).collect();
        // The apex SOA is counted in `record_count` but not in `records()`.
        let record_count = record_count.saturating_sub(1);
        let zone = Zone::assemble(origin, soa, nodes, index, record_count);
        Ok((zone, warnings))
    }

    /// A zone of `origin` from its SOA and nodes in canonical order (the
    /// apex's position and the negative-answer SOA derived from them).
    fn assemble(
        origin: Name,
        soa: Rr,
        nodes: imbl::Vector<Arc<Node>>,
        index: NodeIndex,
        record_count: usize,
    ) -> Zone {
        let origin_key = NameKey::new(&origin);
        let apex = nodes.binary_search_by(|n| n.name.cmp(&origin)).unwrap_or(0);
        let timers = soa_timers(&soa.rdata).unwrap_or(SoaTimers {
            serial: 0,
            refresh: 0,
            retry: 0,
            expire: 0,
            minimum: 0,
        });
        let mut negative_soa = soa.clone();
        // RFC 2308 §3: "the TTL of this record is set from the minimum of the
        // MINIMUM field of the SOA record and the TTL of the SOA itself".
        negative_soa.ttl = soa.ttl.min(timers.minimum);
        let apex_node = nodes.get(apex).cloned();
        Zone {
            hot: Hot {
                index,
                apex_dname: apex_node.as_ref().is_some_and(|n| n.dname),
                apex_node,
                label: origin.to_ascii().into(),
                origin_labels: u8::try_from(origin_key.labels()).unwrap_or(u8::MAX),
            },
            origin_key: origin_key.as_bytes().into(),
            origin,
            soa,
            negative_soa,
            timers,
            nodes,
            apex,
            record_count,
        }
    }

    pub fn origin(&self) -> &Name {
        &self.origin
    }

    /// Number of labels of the origin, the root not counted.
    fn origin_labels(&self) -> usize {
        usize::from(self.hot.origin_labels)
    }

    /// The origin as text (`example.com.`), cheap to clone.
    pub fn label(&self) -> &Arc<str> {
        &self.hot.label
    }

    /// The apex SOA record.
    pub fn soa(&self) -> &Rr {
        &self.soa
    }

    /// The apex SOA with TTL min(SOA TTL, MINIMUM), for negative answers.
    pub fn negative_soa(&self) -> &Rr {
        &self.negative_soa
    }

    pub fn serial(&self) -> u32 {
        self.timers.serial
    }

    /// Refresh, retry, expire, minimum and serial of the apex SOA.
    pub fn timers(&self) -> SoaTimers {
        self.timers
    }

    /// Every RR except the apex SOA, in a stable order (for AXFR).
    pub fn records(&self) -> impl Iterator<Item = &Rr> {
        let apex = self.apex;
        self.nodes.iter().enumerate().flat_map(move |(i, n)| {
            n.rrsets
                .iter()
                .filter(move |s| !(i == apex && s.rtype == RecordType::SOA))
                .flat_map(|s| s.rrs.iter())
        })
    }

    /// Whether the zone stays within `limits`: the whole zone at load.
    pub fn check_limits(&self, limits: &Limits) -> Result<(), String> {
        limits.zone(self.record_count)?;
        for n in &self.nodes {
            for s in &n.rrsets {
                limits.rrset(&n.name, s.rtype, s.rrs.len())?;
            }
        }
        Ok(())
    }

    /// Whether the zone stays within `limits`, looking only at the size of
    /// the zone and the RRsets of `added`: after a write.
    pub fn check_limits_of<'a>(
        &self,
        limits: &Limits,
        added: impl IntoIterator<Item = &'a Rr>,
    ) -> Result<(), String> {
        limits.zone(self.record_count)?;
        for rr in added {
            limits.rrset(&rr.name, rr.rtype, self.rrset(&rr.name, rr.rtype).len())?;
        }
        Ok(())
    }

    /// Number of RRs in [`Zone::records`] (the apex SOA not counted).
    pub fn record_count(&self) -> usize {
        self.record_count
    }

    /// The apex node.
    pub fn apex(&self) -> Option<&Node> {
        self.hot.apex_node.as_deref()
    }

    /// The node with exactly this key (including empty non-terminals and
    /// occluded names below cuts).
    pub fn node_by_key(&self, key: &[u8]) -> Option<&Node> {
        self.hot.index.get(key).map(|n| &**n)
    }

    /// The node with exactly this name.
    pub fn node(&self, name: &Name) -> Option<&Node> {
        self.node_by_key(NameKey::new(name).as_bytes())
    }

    /// The records of one RRset by exact name (empty if none).
    pub fn rrset(&self, name: &Name, rtype: RecordType) -> &[Rr] {
        self.node(name)
            .and_then(|n| n.rrset(rtype))
            .map(|s| s.rrs.as_slice())
            .unwrap_or(&[])
    }

    /// Whether `name` is at or below the origin.
    pub fn contains(&self, name: &Name) -> bool {
        self.origin.zone_of(name)
    }

    /// The descent of RFC 1034 §4.3.2 step 3 for a name in this zone: zone
    /// cuts and DNAMEs above the name win, then an exact match, then the
    /// wildcard at the closest encloser (RFC 4592 §3.3.1). `qtype` matters
    /// only for DS at a cut, which the parent side answers (RFC 4035 §3.1.4.1).
    pub fn lookup(&self, key: &NameKey, qtype: RecordType) -> Lookup<'_> {
        let Some(apex) = self.apex() else {
            return Lookup::NxDomain;
        };
        let Some(depth) = key.labels().checked_sub(self.origin_labels()) else {
            return Lookup::NxDomain;
        };
        if depth > 0 && self.hot.apex_dname {
            return Lookup::Dname(apex);
        }
        let mut found = apex;
        for strip in (0..depth).rev() {
            match self.node_by_key(key.suffix(strip)) {
                None => {
                    // RFC 4592 §3.3.1: the source of synthesis is "*" prepended
                    // to the closest encloser, if it exists.
                    let parent = key.suffix(strip + 1);
                    let mut wild = [0u8; 256];
                    let Some(dst) = wild.get_mut(..parent.len() + 2) else {
                        return Lookup::NxDomain;
                    };
                    dst[0] = 1;
                    dst[1] = b'*';
                    dst[2..].copy_from_slice(parent);
                    return match self.node_by_key(dst) {
                        Some(w) => Lookup::Wildcard(w),
                        None => Lookup::NxDomain,
                    };
                }
                Some(n) => {
                    if n.cut {
                        if strip == 0 && qtype == RecordType::DS {
                            return Lookup::Exact(n);
                        }
                        return Lookup::Referral(n);
                    }
                    if n.dname && strip > 0 {
                        return Lookup::Dname(n);
                    }
                    found = n;
                }
            }
        }
        Lookup::Exact(found)
    }

    /// Whether the name whose key this is lies at or below the origin.
    pub fn contains_key(&self, key: &NameKey) -> bool {
        key.labels() >= self.origin_labels()
            && key.suffix(key.labels() - self.origin_labels()) == &*self.origin_key
    }
}

/// The zones served, for longest-match selection. Sharded like a zone's
/// node index: [`ZoneSet::with`] makes the next snapshot with one zone
/// changed in O(1) of the number of zones.
#[derive(Debug, Default, Clone)]
pub struct ZoneSet {
    by_origin: Sharded<Arc<Zone>>,
    /// How many origins have each number of labels: the longest match
    /// probes only the suffixes some zone could have (a query for
    /// `www.example.com` over zones of two labels looks up one key, not
    /// three).
    depths: Arc<Vec<u32>>,
}

/// Label counts a name can have (RFC 1035 §2.3.4: 255 octets, so at most
/// 127 labels), plus one.
const DEPTHS: usize = 128;

/// Adds `by` to the count of origins with `labels` labels.
fn count_depth(depths: &mut Vec<u32>, labels: usize, by: i32) {
    if labels < DEPTHS && depths.len() <= labels {
        depths.resize(labels + 1, 0);
    }
    if let Some(n) = depths.get_mut(labels) {
        *n = n.saturating_add_signed(by);
    }
}

impl ZoneSet {
    /// The set of `zones`; of two with one origin, the first is kept.
    pub fn new(zones: Vec<Arc<Zone>>) -> Self {
        let mut seen: KeyMap<()> = KeyMap::default();
        let mut depths = Vec::new();
        let by_origin = zones
            .into_iter()
            .filter_map(|z| {
                let key = boxed_key(z.origin());
                seen.insert(key.clone(), ()).is_none().then(|| {
                    count_depth(&mut depths, z.origin_labels(), 1);
                    (key, z)
                })
            })
            .collect();
        ZoneSet {
            by_origin,
            depths: Arc::new(depths),
        }
    }

    /// This set with each of `put` served (replacing the zone of its
    /// origin) and each origin of `removed` gone.
    pub fn with(&self, put: Vec<Arc<Zone>>, removed: &[Name]) -> ZoneSet {
        let mut next = self.clone();
        for origin in removed {
            let key = NameKey::new(origin);
            if next.by_origin.get(key.as_bytes()).is_some() {
                next.by_origin.remove(key.as_bytes());
                count_depth(Arc::make_mut(&mut next.depths), key.labels(), -1);
            }
        }
        for z in put {
            let key = boxed_key(z.origin());
            if next.by_origin.get(&key).is_none() {
                count_depth(Arc::make_mut(&mut next.depths), z.origin_labels(), 1);
            }
            next.by_origin.insert(key, z);
        }
        next
    }

    /// The zone with the longest origin that is `qname` or an ancestor of it.
    pub fn find(&self, qname: &Name) -> Option<&Arc<Zone>> {
        self.find_key(&NameKey::new(qname), 0)
    }

    /// Longest match for a key, skipping the first `skip` labels (`skip = 1`
    /// finds the zone of the parent, e.g. for DS at a child apex).
    pub fn find_key(&self, key: &NameKey, skip: usize) -> Option<&Arc<Zone>> {
        let labels = key.labels();
        (skip..=labels)
            .filter(|s| {
                // No origin that long (or none counted): no probe.
                self.depths.get(labels - s).is_some_and(|&n| n > 0)
            })
            .find_map(|s| self.by_origin.get(key.suffix(s)))
    }

    /// The zone whose origin is exactly `origin`.
    pub fn get(&self, origin: &Name) -> Option<&Arc<Zone>> {
        self.by_origin.get(NameKey::new(origin).as_bytes())
    }

    /// Every zone, in no particular order.
    pub fn iter(&self) -> impl Iterator<Item = &Arc<Zone>> {
        self.by_origin.values()
    }

    pub fn len(&self) -> usize {
        self.by_origin.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
pub(crate) mod testutil {
    //! Records from wire bytes, without the zone-file parser or RDATA codec.

    use super::*;

    pub fn n(s: &str) -> Name {
        Name::from_ascii(s).unwrap_or_else(|e| panic!("test name {s}: {e}"))
    }

    /// Uncompressed wire form of a name, case kept.
    pub fn wire(s: &str) -> Vec<u8> {
        let name = n(s);
        let mut out = Vec::new();
        for l in name.iter() {
            out.push(l.len() as u8);
            out.extend_from_slice(l);
        }
        out.push(0);
        out
    }

    pub fn rr(name: &str, ttl: u32, rtype: RecordType, rdata: &[u8]) -> Rr {
        Rr {
            name: n(name),
            ttl,
            rtype,
            rdata: crate::rr::Rdata::new(rdata.to_vec()),
        }
    }

    pub fn soa(name: &str, ttl: u32, minimum: u32) -> Rr {
        let mut rd = wire(&format!("ns.{name}"));
        rd.extend(wire(&format!("hostmaster.{name}")));
        for v in [2026_1122u32, 3600, 600, 86400, minimum] {
            rd.extend_from_slice(&v.to_be_bytes());
        }
        rr(name, ttl, RecordType::SOA, &rd)
    }

    pub fn ns(name: &str, target: &str) -> Rr {
        rr(name, 3600, RecordType::NS, &wire(target))
    }

    pub fn a(name: &str, last: u8) -> Rr {
        rr(name, 300, RecordType::A, &[192, 0, 2, last])
    }

    pub fn aaaa(name: &str, last: u8) -> Rr {
        let mut rd = vec![0x20, 0x01, 0x0d, 0xb8];
        rd.extend_from_slice(&[0; 11]);
        rd.push(last);
        rr(name, 300, RecordType::AAAA, &rd)
    }

    pub fn cname(name: &str, target: &str) -> Rr {
        rr(name, 300, RecordType::CNAME, &wire(target))
    }

    pub fn mx(name: &str, pref: u16, target: &str) -> Rr {
        let mut rd = pref.to_be_bytes().to_vec();
        rd.extend(wire(target));
        rr(name, 3600, RecordType::MX, &rd)
    }

    pub fn txt(name: &str, text: &str) -> Rr {
        let mut rd = vec![text.len() as u8];
        rd.extend_from_slice(text.as_bytes());
        rr(name, 3600, RecordType::TXT, &rd)
    }

    pub fn srv(name: &str, target: &str) -> Rr {
        let mut rd = vec![0, 10, 0, 5, 0, 22];
        rd.extend(wire(target));
        rr(name, 3600, RecordType::SRV, &rd)
    }

    pub fn loc(line: u32) -> Location {
        Location {
            file: Arc::from("test.zone"),
            line,
            col: 1,
        }
    }

    pub fn with_locs(rrs: Vec<Rr>) -> Vec<(Rr, Location)> {
        rrs.into_iter()
            .enumerate()
            .map(|(i, r)| (r, loc(i as u32 + 1)))
            .collect()
    }

    pub fn zone(origin: &str, rrs: Vec<Rr>) -> Zone {
        match Zone::build(n(origin), with_locs(rrs)) {
            Ok((z, _)) => z,
            Err(e) => panic!("zone {origin}: {e:?}"),
        }
    }

    /// A minimal valid zone: SOA, NS, plus `more`.
    pub fn basic(origin: &str, more: Vec<Rr>) -> Zone {
        let mut rrs = vec![soa(origin, 3600, 300), ns(origin, &format!("ns.{origin}"))];
        rrs.push(a(&format!("ns.{origin}"), 53));
        rrs.extend(more);
        zone(origin, rrs)
    }
}

#[cfg(test)]
mod tests {
    use super::testutil::*;
    use super::*;

    fn build_err(origin: &str, rrs: Vec<Rr>) -> Vec<ZoneError> {
        match Zone::build(n(origin), with_locs(rrs)) {
            Ok(_) => panic!("expected errors"),
            Err(e) => e,
        }
    }

    #[test]
    fn rfc1035_5_2_exactly_one_soa_at_apex() {
        let e = build_err("example.", vec![ns("example.", "ns.example.")]);
        assert!(e.iter().any(|e| e.message.contains("no SOA")));
        let e = build_err(
            "example.",
            vec![
                soa("example.", 3600, 300),
                soa("sub.example.", 3600, 300),
                ns("example.", "ns.example."),
            ],
        );
        assert!(e.iter().any(|e| e.message.contains("not at the apex")));
        assert_eq!(e[0].location.line, 2);
        let mut other = soa("example.", 3600, 300);
        other.rdata = crate::rr::Rdata::new({
            let mut v = other.rdata.as_bytes().to_vec();
            let last = v.len() - 1;
            v[last] ^= 1;
            v
        });
        let e = build_err(
            "example.",
            vec![
                soa("example.", 3600, 300),
                other,
                ns("example.", "ns.example."),
            ],
        );
        assert!(e.iter().any(|e| e.message.contains("more than one SOA")));
    }

    #[test]
    fn every_error_reported() {
        let e = build_err(
            "example.",
            vec![
                soa("example.", 3600, 300),
                a("www.example.org.", 1),
                cname("c.example.", "x.example."),
                txt("c.example.", "x"),
            ],
        );
        assert_eq!(e.len(), 3, "{e:?}");
    }

    #[test]
    fn apex_ns_required() {
        let e = build_err("example.", vec![soa("example.", 3600, 300)]);
        assert!(e.iter().any(|e| e.message.contains("no NS")));
    }

    #[test]
    fn out_of_zone_refused() {
        let e = build_err(
            "example.",
            vec![
                soa("example.", 3600, 300),
                ns("example.", "ns.example."),
                a("www.example.com.", 1),
            ],
        );
        assert_eq!(e.len(), 1);
        assert_eq!(e[0].location.line, 3);
        assert!(e[0].message.contains("outside"));
    }

    #[test]
    fn rfc2181_10_1_cname_and_other_data() {
        let e = build_err(
            "example.",
            vec![
                soa("example.", 3600, 300),
                ns("example.", "ns.example."),
                cname("www.example.", "a.example."),
                a("WWW.example.", 1),
            ],
        );
        assert!(e.iter().any(|e| e.message.contains("beside other data")));
        let e = build_err(
            "example.",
            vec![
                soa("example.", 3600, 300),
                ns("example.", "ns.example."),
                cname("www.example.", "a.example."),
                cname("www.example.", "b.example."),
            ],
        );
        assert!(e.iter().any(|e| e.message.contains("more than one CNAME")));
        // RRSIG/NSEC may coexist.
        basic(
            "example.",
            vec![
                cname("www.example.", "a.example."),
                rr("www.example.", 300, RecordType::NSEC, &wire("z.example.")),
            ],
        );
        // Apex CNAME is beside the SOA.
        let e = build_err(
            "example.",
            vec![
                soa("example.", 3600, 300),
                ns("example.", "ns.example."),
                cname("example.", "a.example."),
            ],
        );
        assert!(e.iter().any(|e| e.message.contains("beside other data")));
    }

    #[test]
    fn rfc2181_5_2_duplicates_folded_ttls_aligned() {
        let mut a2 = a("www.example.", 1);
        a2.ttl = 60;
        let mut b = a("www.example.", 2);
        b.ttl = 999;
        let mut dup = a("WWW.EXAMPLE.", 1);
        dup.ttl = 300;
        let (z, warnings) = Zone::build(
            n("example."),
            with_locs(vec![
                soa("example.", 3600, 300),
                ns("example.", "ns.example."),
                a("www.example.", 1),
                dup,
                b,
                a2,
            ]),
        )
        .unwrap_or_else(|e| panic!("{e:?}"));
        let set = z.rrset(&n("www.example."), RecordType::A);
        assert_eq!(set.len(), 2);
        assert!(set.iter().all(|r| r.ttl == 300));
        assert_eq!(warnings.len(), 1);
        assert_eq!(warnings[0].location.line, 5);
    }

    #[test]
    fn rfc6672_2_4_data_below_dname() {
        let e = build_err(
            "example.",
            vec![
                soa("example.", 3600, 300),
                ns("example.", "ns.example."),
                rr("d.example.", 300, RecordType::DNAME, &wire("target.net.")),
                a("x.y.d.example.", 1),
            ],
        );
        assert!(e.iter().any(|e| e.message.contains("below a DNAME")));
        basic(
            "example.",
            vec![rr(
                "d.example.",
                300,
                RecordType::DNAME,
                &wire("target.net."),
            )],
        );
    }

    #[test]
    fn ents_and_glue_indexed() {
        let z = basic(
            "example.",
            vec![
                a("a.b.c.example.", 1),
                ns("sub.example.", "ns.sub.example."),
                a("ns.sub.example.", 2),
            ],
        );
        let ent = z.node(&n("b.c.example.")).map(|n| n.is_empty());
        assert_eq!(ent, Some(true));
        assert!(z.node(&n("C.example.")).is_some());
        let cut = z.node(&n("sub.example.")).map(|n| (n.cut, n.glue));
        assert_eq!(cut, Some((true, true)));
        let glue = z.node(&n("ns.sub.example.")).map(|n| n.glue);
        assert_eq!(glue, Some(true));
        assert_eq!(z.node(&n("example.")).map(|n| n.cut), Some(false));
        // SOA, NS, ns A, a.b.c A, sub NS, glue A: records() skips the SOA.
        assert_eq!(z.records().count(), 5);
        assert_eq!(z.record_count(), 5);
        assert_eq!(z.serial(), 2026_1122);
        assert_eq!(z.negative_soa().ttl, 300);
    }

    #[test]
    fn zoneset_longest_match() {
        let parent = Arc::new(basic(
            "example.",
            vec![ns("child.example.", "ns.child.example.")],
        ));
        let child = Arc::new(basic("child.example.", vec![]));
        let set = ZoneSet::new(vec![parent, child]);
        let origin = |q: &str| set.find(&n(q)).map(|z| z.origin().to_ascii());
        assert_eq!(origin("www.Child.Example."), Some("child.example.".into()));
        assert_eq!(origin("child.example."), Some("child.example.".into()));
        assert_eq!(origin("www.example."), Some("example.".into()));
        assert_eq!(origin("example."), Some("example.".into()));
        assert_eq!(origin("example.com."), None);
        assert_eq!(origin("."), None);
        assert!(set.get(&n("CHILD.example.")).is_some());
        assert_eq!(set.iter().count(), 2);
    }

    /// The longest match probes only the depths some origin has; the
    /// counts follow zones added, replaced and removed (a zone of a new
    /// depth included).
    #[test]
    fn zoneset_longest_match_follows_the_depths_served() {
        let set = ZoneSet::new(vec![Arc::new(basic("a.b.example.", vec![]))]);
        let origin = |s: &ZoneSet, q: &str| s.find(&n(q)).map(|z| z.origin().to_ascii());
        assert_eq!(
            origin(&set, "x.y.a.b.example."),
            Some("a.b.example.".into())
        );
        assert_eq!(origin(&set, "b.example."), None);
        let more = set.with(
            vec![
                Arc::new(basic("example.", vec![])),
                Arc::new(basic("net.", vec![])),
            ],
            &[],
        );
        assert_eq!(origin(&more, "b.example."), Some("example.".into()));
        assert_eq!(origin(&more, "www.net."), Some("net.".into()));
        assert_eq!(origin(&more, "org."), None);
        assert_eq!(origin(&more, "x.a.b.example."), Some("a.b.example.".into()));
        // Replaced: still counted once; removed: no longer found, and the
        // depth it held is probed no more.
        let replaced = more.with(vec![Arc::new(basic("a.b.example.", vec![]))], &[]);
        let fewer = replaced.with(vec![], &[n("a.b.example."), n("not.served.")]);
        assert_eq!(origin(&fewer, "x.a.b.example."), Some("example.".into()));
        assert_eq!(fewer.depths.get(3), Some(&0));
        assert_eq!(replaced.depths.get(3), Some(&1));
        assert_eq!(origin(&ZoneSet::default(), "example."), None);
    }

    /// The next snapshot after a write: one zone replaced, one removed,
    /// the rest shared with the previous set (which is unchanged).
    #[test]
    fn zoneset_with_replaces_and_removes_without_touching_the_old_set() {
        let zones: Vec<Arc<Zone>> = (0..600)
            .map(|i| Arc::new(basic(&format!("z{i}.test."), vec![])))
            .collect();
        let set = ZoneSet::new(zones);
        assert_eq!(set.len(), 600);
        let newer = Arc::new(basic("z7.test.", vec![ns("z7.test.", "ns.other.test.")]));
        let next = set.with(vec![newer.clone()], &[n("z8.test.")]);
        assert_eq!(next.len(), 599);
        assert!(Arc::ptr_eq(next.get(&n("Z7.test.")).expect("z7"), &newer));
        assert!(next.get(&n("z8.test.")).is_none());
        assert!(next.find(&n("www.z9.test.")).is_some());
        assert_eq!(set.len(), 600, "the old snapshot is untouched");
        assert!(!Arc::ptr_eq(set.get(&n("z7.test.")).expect("z7"), &newer));
        assert!(set.get(&n("z8.test.")).is_some());
    }

    /// What a query reads of a zone stays on one cache line.
    #[test]
    fn the_fields_a_query_reads_fit_one_cache_line() {
        assert_eq!(std::mem::size_of::<Hot>(), 64);
    }

    /// A map built small (one shard) and grown by inserts is split again,
    /// so copying it for a write never clones one huge shard.
    #[test]
    fn a_sharded_map_grown_by_inserts_is_split_again() {
        let mut m: Sharded<u32> = std::iter::empty::<(&[u8], u32)>().collect();
        assert!(matches!(m.shards, Shards::One(_)));
        for i in 0..20_000u32 {
            m.insert(&i.to_be_bytes()[..], i);
        }
        assert_eq!(m.len(), 20_000);
        assert!(m.tables().count() >= 16, "{} shards", m.tables().count());
        assert!(m.tables().all(|s| s.len() <= 4 * PER_SHARD + 1));
        for i in (0..20_000u32).step_by(997) {
            assert_eq!(m.get(&i.to_be_bytes()), Some(&i));
        }
        m.remove(&5u32.to_be_bytes());
        assert_eq!(m.get(&5u32.to_be_bytes()), None);
    }

    /// Keys up to 30 bytes are kept inline, longer ones on the heap; both
    /// are found by their bytes, and equal keys of either kind are equal.
    #[test]
    fn shard_keys_inline_and_on_the_heap_are_found_by_their_bytes() {
        let short: Vec<u8> = (0..INLINE_KEY as u8).collect();
        let long: Vec<u8> = (0..=INLINE_KEY as u8).collect();
        assert!(matches!(
            ShardKey::from(&short[..]),
            ShardKey::Inline { .. }
        ));
        assert!(matches!(ShardKey::from(&long[..]), ShardKey::Heap(_)));
        assert_eq!(ShardKey::from(&short[..]).as_bytes(), &short[..]);
        assert_eq!(ShardKey::from(&long[..]).as_bytes(), &long[..]);
        assert_eq!(ShardKey::from(&b""[..]).as_bytes(), b"");
        assert_eq!(
            ShardKey::Heap(Arc::from(&short[..])),
            ShardKey::from(&short[..])
        );
        let m: Sharded<u8> = [(&short[..], 1), (&long[..], 2), (&b"\x03www"[..], 3)]
            .into_iter()
            .collect();
        assert_eq!(m.get(&short), Some(&1));
        assert_eq!(m.get(&long), Some(&2));
        assert_eq!(m.get(b"\x03www"), Some(&3));
        assert_eq!(m.get(b"\x03ww"), None);
    }
}
