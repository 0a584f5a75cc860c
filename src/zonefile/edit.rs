//! Applying a [`ChangeSet`] to a [`Document`] with a minimal diff.
//!
//! The edit is a list of byte-range replacements per file, computed from the
//! entry spans: delete a removed record's entry, insert added records at an
//! entry boundary, replace the SOA serial token, and insert an owner or a
//! TTL where a surviving record relied on a removed neighbour for one. The
//! rules are in the module docs of [`super`].

use std::collections::HashMap;
use std::sync::Arc;

use crate::rdata;
use crate::rr::{ChangeSet, Location, Name, RecordType, Rr, soa_with_serial};

use super::entries;
use super::parse::{self, Entry, EntryKind, FileDoc, RecordEntry, Shared, State};
use super::{Document, Rendered, ZoneError};

/// Identity of an RR for [`Rr::same_rr`]: lower-cased owner, type, canonical
/// RDATA.
type Key = (String, u16, Vec<u8>);

fn key(rr: &Rr) -> Key {
    (
        rr.name.to_lowercase().to_ascii(),
        u16::from(rr.rtype),
        crate::rr::canonical(rr.rtype, &rr.rdata).into_owned(),
    )
}

/// A hash of the lower-cased owner, equal for names equal under
/// [`owner_key`], computed without allocating.
fn owner_hash(name: &Name) -> u64 {
    // FNV-1a over the lower-cased labels, each preceded by its length.
    const PRIME: u64 = 0x0100_0000_01b3;
    let mut h: u64 = 0xcbf2_9ce4_8422_2325 ^ u64::from(name.is_fqdn());
    for label in name.iter() {
        h = (h ^ label.len() as u64).wrapping_mul(PRIME);
        for b in label {
            h = (h ^ u64::from(b.to_ascii_lowercase())).wrapping_mul(PRIME);
        }
    }
    h
}

/// What the edit's passes over every record need of one record, kept in
/// [`Document`] beside its record list so those passes read a small array
/// instead of following a pointer per record.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RecMeta {
    /// [`owner_hash`] of the owner.
    owner: u64,
    ttl: u32,
    explicit_owner: bool,
    explicit_ttl: bool,
}

impl RecMeta {
    pub fn of(r: &RecordEntry) -> RecMeta {
        RecMeta {
            owner: owner_hash(&r.rr.name),
            ttl: r.rr.ttl,
            explicit_owner: r.explicit_owner,
            explicit_ttl: r.explicit_ttl,
        }
    }
}

fn owner_key(name: &Name) -> String {
    name.to_lowercase().to_ascii()
}

impl Document {
    /// For each RRset (name, type) of `wanted`, the TTL a load of this
    /// document serves it at: its first record's in reading order
    /// (`zone::group` aligns the others to it, RFC 2181 §5.2); `None` when
    /// there is no such record. One pass over the records' owner hashes,
    /// reading only the records whose owner hash is wanted.
    pub fn rrset_ttls(&self, wanted: &[(&Name, RecordType)]) -> Vec<Option<u32>> {
        let mut by_hash: HashMap<u64, Vec<usize>> = HashMap::new();
        for (i, (name, _)) in wanted.iter().enumerate() {
            by_hash.entry(owner_hash(name)).or_default().push(i);
        }
        let mut out = vec![None; wanted.len()];
        for (k, m) in self.meta.iter().enumerate() {
            let Some(ids) = by_hash.get(&m.owner) else {
                continue;
            };
            let Some(&(f, e)) = self.records.get(k) else {
                continue;
            };
            let Some(EntryKind::Record(r)) = self
                .files
                .get(f)
                .and_then(|f| f.entries.get(e))
                .map(|e| &e.kind)
            else {
                continue;
            };
            for &i in ids {
                if let (Some(slot @ None), Some((name, rtype))) = (out.get_mut(i), wanted.get(i))
                    && r.rr.rtype == *rtype
                    && r.rr.name == **name
                {
                    *slot = Some(m.ttl);
                }
            }
        }
        out
    }
}

/// An RR in presentation form, for messages.
pub fn rr_text(rr: &Rr) -> String {
    format!(
        "{} {} IN {} {}",
        rr.name,
        rr.ttl,
        rdata::type_to_text(rr.rtype),
        rdata::to_text(rr.rtype, &rr.rdata, None)
    )
}

fn error_at(location: Location, message: String) -> ZoneError {
    ZoneError { location, message }
}

/// One replacement of `start..end` in a file; an insertion when empty.
#[derive(Debug)]
struct Edit {
    start: usize,
    end: usize,
    text: String,
    /// Inserted record lines need to start on a fresh line.
    fresh_line: bool,
}

/// Where added records go: a file and a byte offset at an entry boundary.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
struct Spot {
    file: usize,
    pos: usize,
}

/// Running state of the walk that finds records needing an owner or a TTL.
#[derive(Clone)]
struct Sim<'d> {
    /// The previous owner and its [`owner_hash`].
    last_owner: Option<(&'d Name, u64)>,
    default_ttl: Option<u32>,
    last_ttl: Option<u32>,
}

struct Walk<'d> {
    doc: &'d Document,
    meta: &'d [RecMeta],
    removed: &'d [bool],
    /// Record index of the next record entry the walk meets (it reads in
    /// the order of [`Document::records`]).
    next: usize,
    inserts: &'d HashMap<Spot, (Name, Vec<Rr>)>,
    edits: Vec<Vec<Edit>>,
}

impl<'d> Walk<'d> {
    /// Records inserted at `pos` of `file` become the previous record.
    /// `spots` are the file's insertion offsets, ascending (the walk meets
    /// offsets in order, so it looks up only where one is).
    /// Returns whether records were inserted there.
    fn inserted(&self, file: usize, pos: usize, spots: &[usize], sim: &mut Sim<'d>) -> bool {
        if spots.binary_search(&pos).is_err() {
            return false;
        }
        let Some((_, rrs)) = self.inserts.get(&Spot { file, pos }) else {
            return false;
        };
        for rr in rrs {
            sim.last_owner = Some((&rr.name, owner_hash(&rr.name)));
            sim.last_ttl = Some(rr.ttl);
        }
        !rrs.is_empty()
    }

    /// Passes over `chunk` (its records starting at record `self.next`)
    /// when the walk can know its outcome without visiting each entry:
    /// the state coming in is the old document's (`clean`), and nothing in
    /// the chunk changes it differently: no directive, no removed record,
    /// no records inserted before any of its entries. Its records then
    /// rely on the same neighbours as before and need no fix; the state
    /// going out is its last record's. Returns whether it did.
    fn skip_chunk(
        &mut self,
        chunk: &'d entries::Chunk,
        spots: &[usize],
        sim: &mut Sim<'d>,
    ) -> bool {
        let all = chunk.entries();
        let (Some(first), Some(last)) = (all.first(), all.last()) else {
            return false;
        };
        let records = chunk.records();
        let range = self.next..self.next + records.len();
        let untouched = self
            .removed
            .get(range.clone())
            .is_some_and(|r| !r.contains(&true));
        let at = spots.partition_point(|&p| p < first.start);
        let no_insert = spots.get(at).is_none_or(|&p| p >= last.end);
        if chunk.has_directives() || !untouched || !no_insert {
            return false;
        }
        if let Some(&i) = records.last()
            && let Some(EntryKind::Record(r)) = all.get(usize::from(i)).map(|e| &e.kind)
        {
            let k = range.end - 1;
            let m = self.meta.get(k).copied().unwrap_or_else(|| RecMeta::of(r));
            sim.last_owner = Some((&r.rr.name, m.owner));
            sim.last_ttl = Some(m.ttl);
        }
        self.next = range.end;
        true
    }

    /// Walks file `file` from the state `sim`; `clean`: that state is the
    /// old document's there (see below).
    fn walk(&mut self, file: usize, mut sim: Sim<'d>, clean: bool) {
        let doc = self.doc;
        let mut spots: Vec<usize> = self
            .inserts
            .keys()
            .filter(|s| s.file == file)
            .map(|s| s.pos)
            .collect();
        spots.sort_unstable();
        let Some(f) = doc.files.get(file) else {
            return;
        };
        // Whether the state is the old document's at this point: it is at
        // the start of the main file (and of an included file reached in
        // such a state), and again after any record kept (the state is then
        // that record's); a removed record or an insertion changes it.
        let mut clean = clean;
        let mut i = 0usize;
        // Bounded: each turn takes one entry, or a chunk of them.
        while let Some(entry) = f.entries.get(i) {
            if clean
                && i.is_multiple_of(entries::CHUNK)
                && let Some(chunk) = f.entries.chunks().get(i / entries::CHUNK)
                && self.skip_chunk(chunk, &spots, &mut sim)
            {
                i += chunk.entries().len();
                continue;
            }
            i += 1;
            if self.inserted(file, entry.start, &spots, &mut sim) {
                clean = false;
            }
            match &entry.kind {
                EntryKind::Ttl(t) => sim.default_ttl = Some(*t),
                EntryKind::Include { file: child, .. } => {
                    let child_sim = Sim {
                        last_owner: None,
                        ..sim.clone()
                    };
                    self.walk(*child, child_sim, clean);
                }
                EntryKind::Record(r) => {
                    let k = self.next;
                    self.next += 1;
                    if self.removed.get(k).copied().unwrap_or(false) {
                        clean = false;
                        continue;
                    }
                    clean = true;
                    // The record itself is read only where it may need an
                    // owner or a TTL written.
                    let m = self.meta.get(k).copied().unwrap_or_else(|| RecMeta::of(r));
                    if !m.explicit_owner {
                        let same = sim
                            .last_owner
                            .is_some_and(|(n, h)| h == m.owner && *n == r.rr.name);
                        if !same {
                            self.edits[file].push(owner_fix(&f.text, entry.start, r));
                        }
                    }
                    sim.last_owner = Some((&r.rr.name, m.owner));
                    if !m.explicit_ttl && sim.default_ttl.or(sim.last_ttl) != Some(m.ttl) {
                        self.edits[file].push(Edit {
                            start: entry.start + r.after_owner,
                            end: entry.start + r.after_owner,
                            text: format!("{} ", m.ttl),
                            fresh_line: false,
                        });
                    }
                    sim.last_ttl = Some(m.ttl);
                }
                _ => {}
            }
        }
        self.inserted(file, f.text.len(), &spots, &mut sim);
    }
}

/// Writes the owner into a blank-owner record's leading whitespace, keeping
/// the columns where it can: tabs stay after the owner, spaces shrink.
fn owner_fix(text: &str, start: usize, r: &RecordEntry) -> Edit {
    let ws_len = text.get(start..).map_or(0, |s| {
        s.bytes().take_while(|b| *b == b' ' || *b == b'\t').count()
    });
    let ws = text.get(start..start + ws_len).unwrap_or("");
    let owner = rdata::owner_to_text(&r.rr.name, &r.origin);
    let sep = if ws.contains('\t') {
        ws.to_string()
    } else if ws.len() > owner.len() {
        " ".repeat(ws.len() - owner.len())
    } else {
        " ".to_string()
    };
    Edit {
        start,
        end: start + ws_len,
        text: format!("{owner}{sep}"),
        fresh_line: false,
    }
}

/// How many records with a written owner [`separator`] looks at.
const SEPARATOR_SAMPLE: usize = 256;

/// The separator the file's records mostly use after the owner, judged by
/// its first [`SEPARATOR_SAMPLE`] records that write one (a full count
/// would read every record of a large zone on every edit).
fn separator(doc: &Document, file: usize) -> &'static str {
    let Some(f) = doc.files.get(file) else {
        return "\t";
    };
    let (mut tabs, mut spaces) = (0usize, 0usize);
    for e in f.entries.iter() {
        if tabs + spaces >= SEPARATOR_SAMPLE {
            break;
        }
        if let EntryKind::Record(r) = &e.kind
            && r.explicit_owner
            && r.after_owner > r.first_token
        {
            let between = f
                .text
                .as_bytes()
                .get(e.start + r.first_token..e.start + r.after_owner)
                .unwrap_or(&[]);
            if between.contains(&b'\t') {
                tabs += 1;
            } else {
                spaces += 1;
            }
        }
    }
    if spaces > tabs { " " } else { "\t" }
}

fn record_line(rr: &Rr, origin: &Name, sep: &str) -> String {
    format!(
        "{owner}{sep}{ttl}{sep}IN{sep}{ty}{sep}{rd}\n",
        owner = rdata::owner_to_text(&rr.name, origin),
        ttl = rr.ttl,
        ty = rdata::type_to_text(rr.rtype),
        rd = rdata::to_text(rr.rtype, &rr.rdata, Some(origin)),
    )
}

/// Applies `changes` to `doc`: the steps below, in order. The edited
/// document is checked to hold exactly the expected records before it is
/// returned.
pub(super) fn apply(
    doc: &Document,
    changes: &ChangeSet,
) -> Result<(Document, Rendered), ZoneError> {
    let count = doc.records.len();
    let computed: Vec<RecMeta>;
    let meta: &[RecMeta] = if doc.meta.len() == count {
        &doc.meta
    } else {
        computed = doc.record_entries().map(RecMeta::of).collect();
        &computed
    };
    let main_name: Arc<str> = doc
        .files
        .first()
        .map_or_else(|| Arc::from(""), |f| f.name.clone());
    let cx = Cx {
        doc,
        count,
        meta,
        top: Location {
            file: main_name,
            line: 1,
            col: 1,
        },
    };
    let found = cx.find_owners(changes);
    let removed = cx.removals(changes, &found)?;
    let (inserts, accepted) = cx.placements(changes, &found, &removed)?;
    let mut edits: Vec<Vec<Edit>> = doc.files.iter().map(|_| Vec::new()).collect();
    let new_soa = match changes.serial {
        Some(serial) => Some(cx.serial_edit(serial, &mut edits)?),
        None => None,
    };
    cx.line_edits(&removed, &inserts, &mut edits);
    let edits = cx.neighbour_fixes(&removed, &inserts, edits);
    let (new_doc, dirty, fresh) = cx.rebuild(&edits, accepted.len())?;
    let rendered = cx.render(&new_doc)?;
    cx.check(&new_doc, &dirty, &fresh, new_soa.as_ref(), &accepted)?;
    Ok((new_doc, rendered))
}

/// What every step of [`apply`] reads: the document, its record entries in
/// reading order with their [`RecMeta`], and the location of messages that
/// name no record.
struct Cx<'d> {
    doc: &'d Document,
    /// How many records the document has (`doc.records`); record `k` is
    /// found through it ([`Cx::rec`]), not copied into a list on every
    /// edit.
    count: usize,
    meta: &'d [RecMeta],
    top: Location,
}

/// The records whose owner the change set names, by RR identity and by
/// owner (record indexes).
struct Found {
    by_key: HashMap<Key, Vec<usize>>,
    by_owner: HashMap<String, Vec<usize>>,
}

/// The records added at each spot (with the origin in effect there), and
/// every RR added, in change-set order.
type Placed = (HashMap<Spot, (Name, Vec<Rr>)>, Vec<Rr>);

impl<'d> Cx<'d> {
    /// Record `k` (in reading order) and the entry that holds it.
    fn rec(&self, k: usize) -> Option<(&'d Entry, &'d RecordEntry)> {
        let doc: &'d Document = self.doc;
        let &(f, e) = doc.records.get(k)?;
        let entry = doc.files.get(f)?.entries.get(e)?;
        match &entry.kind {
            EntryKind::Record(r) => Some((entry, &**r)),
            _ => None,
        }
    }

    /// Record `k`, which the caller found in the document.
    fn record(&self, k: usize) -> Result<&'d RecordEntry, ZoneError> {
        self.rec(k).map(|(_, r)| r).ok_or_else(|| {
            error_at(
                self.top.clone(),
                format!("internal: record {k} of {} is not there", self.count),
            )
        })
    }

    /// Where record `k` is written.
    fn location(&self, k: usize) -> Location {
        match self.rec(k) {
            Some((e, r)) => r.location_in(e),
            None => self.top.clone(),
        }
    }

    /// Only records whose owner is one the change set names can match it:
    /// a cheap owner hash picks them, and only they get full keys.
    fn find_owners(&self, changes: &ChangeSet) -> Found {
        let mut wanted: Vec<u64> = changes
            .remove
            .iter()
            .chain(&changes.add)
            .map(|rr| owner_hash(&rr.name))
            .collect();
        wanted.sort_unstable();
        wanted.dedup();
        let mut found = Found {
            by_key: HashMap::new(),
            by_owner: HashMap::new(),
        };
        for (k, m) in self.meta.iter().enumerate() {
            if wanted.binary_search(&m.owner).is_err() {
                continue;
            }
            let Some((_, r)) = self.rec(k) else {
                continue;
            };
            found.by_key.entry(key(&r.rr)).or_default().push(k);
            found
                .by_owner
                .entry(owner_key(&r.rr.name))
                .or_default()
                .push(k);
        }
        found
    }

    /// Removals: every record that is the same RR goes. An RR not there,
    /// or the SOA, is an error.
    fn removals(&self, changes: &ChangeSet, found: &Found) -> Result<Vec<bool>, ZoneError> {
        let mut removed = vec![false; self.count];
        for rr in &changes.remove {
            let Some(ks) = found.by_key.get(&key(rr)) else {
                return Err(error_at(
                    self.top.clone(),
                    format!("cannot remove {}: no such record", rr_text(rr)),
                ));
            };
            for &k in ks {
                if self.record(k)?.rr.rtype == RecordType::SOA {
                    return Err(error_at(
                        self.location(k),
                        "cannot remove the SOA record (change its serial instead)".into(),
                    ));
                }
                removed[k] = true;
            }
        }
        Ok(removed)
    }

    /// Additions: RRs already there are skipped (an error when only the
    /// TTL differs); the rest go after the last surviving record of their
    /// owner, else after its last record, else at the end of the main file.
    fn placements(
        &self,
        changes: &ChangeSet,
        found: &Found,
        removed: &[bool],
    ) -> Result<Placed, ZoneError> {
        let doc = self.doc;
        let mut inserts: HashMap<Spot, (Name, Vec<Rr>)> = HashMap::new();
        let mut added: HashMap<Key, u32> = HashMap::new();
        let mut accepted: Vec<Rr> = Vec::new();
        for rr in &changes.add {
            let kk = key(rr);
            let kept = found
                .by_key
                .get(&kk)
                .into_iter()
                .flatten()
                .find(|&&k| !removed[k]);
            let present = match kept {
                Some(&k) => Some((self.record(k)?.rr.ttl, Some(self.location(k)))),
                None => added.get(&kk).map(|&t| (t, None)),
            };
            if let Some((ttl, loc)) = present {
                if ttl == rr.ttl {
                    continue;
                }
                return Err(error_at(
                    loc.unwrap_or_else(|| self.top.clone()),
                    format!(
                        "cannot add {}: present with TTL {ttl} (remove it to change the TTL)",
                        rr_text(rr)
                    ),
                ));
            }
            added.insert(kk, rr.ttl);
            let same_owner = found.by_owner.get(&owner_key(&rr.name));
            let anchor = same_owner
                .and_then(|ks| ks.iter().rev().find(|&&k| !removed[k]))
                .or_else(|| same_owner.and_then(|ks| ks.last()));
            let (spot, origin) = match anchor {
                Some(&k) => {
                    let (f, e) = doc.records[k];
                    let end = doc.files[f].entries[e].end;
                    (
                        Spot { file: f, pos: end },
                        (*self.record(k)?.origin).clone(),
                    )
                }
                None => match doc.files.first() {
                    Some(f) => (
                        Spot {
                            file: 0,
                            pos: f.text.len(),
                        },
                        f.final_origin.clone(),
                    ),
                    None => (Spot { file: 0, pos: 0 }, doc.origin.clone()),
                },
            };
            inserts
                .entry(spot)
                .or_insert_with(|| (origin, Vec::new()))
                .1
                .push(rr.clone());
            accepted.push(rr.clone());
        }
        Ok((inserts, accepted))
    }

    /// Serial: only the serial token's bytes change. Returns the SOA's
    /// record index and the SOA with the new serial.
    fn serial_edit(&self, serial: u32, edits: &mut [Vec<Edit>]) -> Result<(usize, Rr), ZoneError> {
        let doc = self.doc;
        let soa_at = |apex: bool| {
            (0..self.count).find(|&k| {
                self.rec(k).is_some_and(|(_, r)| {
                    r.rr.rtype == RecordType::SOA && (!apex || r.rr.name == doc.origin)
                })
            })
        };
        let soa = soa_at(true).or_else(|| soa_at(false));
        let Some(k) = soa else {
            return Err(error_at(
                self.top.clone(),
                "cannot set the serial: no SOA record".into(),
            ));
        };
        let r = self.record(k)?;
        let Some((s, e)) = r.serial else {
            return Err(error_at(
                self.location(k),
                "cannot set the serial of an SOA written in the RFC 3597 generic form".into(),
            ));
        };
        let (file, entry) = doc.records[k];
        let at = doc.files[file].entries[entry].start;
        edits[file].push(Edit {
            start: at + s,
            end: at + e,
            text: serial.to_string(),
            fresh_line: false,
        });
        let Some(rd) = soa_with_serial(&r.rr.rdata, serial) else {
            return Err(error_at(self.location(k), "malformed SOA RDATA".into()));
        };
        Ok((
            k,
            Rr {
                rdata: rd,
                ..r.rr.clone()
            },
        ))
    }

    /// Deletions of removed records' entries and the inserted lines (in
    /// the separator the file mostly uses).
    fn line_edits(
        &self,
        removed: &[bool],
        inserts: &HashMap<Spot, (Name, Vec<Rr>)>,
        edits: &mut [Vec<Edit>],
    ) {
        let doc = self.doc;
        for (k, &gone) in removed.iter().enumerate() {
            if gone {
                let (f, e) = doc.records[k];
                let entry = &doc.files[f].entries[e];
                edits[f].push(Edit {
                    start: entry.start,
                    end: entry.end,
                    text: String::new(),
                    fresh_line: false,
                });
            }
        }
        let mut seps: HashMap<usize, &'static str> = HashMap::new();
        for (spot, (origin, rrs)) in inserts {
            let sep = *seps
                .entry(spot.file)
                .or_insert_with(|| separator(doc, spot.file));
            for rr in rrs {
                edits[spot.file].push(Edit {
                    start: spot.pos,
                    end: spot.pos,
                    text: record_line(rr, origin, sep),
                    fresh_line: true,
                });
            }
        }
    }

    /// Owners and TTLs that relied on a removed or displaced neighbour
    /// (see [`Walk`]); the edits of each file sorted (stably: insertions
    /// at one spot keep their order).
    fn neighbour_fixes(
        &self,
        removed: &[bool],
        inserts: &HashMap<Spot, (Name, Vec<Rr>)>,
        edits: Vec<Vec<Edit>>,
    ) -> Vec<Vec<Edit>> {
        let mut walk = Walk {
            doc: self.doc,
            meta: self.meta,
            removed,
            next: 0,
            inserts,
            edits,
        };
        walk.walk(
            0,
            Sim {
                last_owner: None,
                default_ttl: None,
                last_ttl: None,
            },
            true,
        );
        let mut edits = walk.edits;
        for es in &mut edits {
            es.sort_by_key(|e| (e.start, e.end));
        }
        edits
    }

    /// The new document: untouched entries moved, new text parsed (see
    /// [`Rebuild`]). Also returns the old entries that were re-read and
    /// the new entries parsed, for [`Cx::check`].
    #[allow(clippy::type_complexity)]
    fn rebuild(
        &self,
        edits: &[Vec<Edit>],
        added: usize,
    ) -> Result<(Document, Vec<(usize, usize)>, Vec<(usize, usize)>), ZoneError> {
        let doc = self.doc;
        let changed: Vec<bool> = edits.iter().map(|es| !es.is_empty()).collect();
        let mut rb = Rebuild {
            doc,
            old_meta: self.meta,
            old_record: 0,
            edits,
            changed: &changed,
            files: doc.files.iter().map(|_| None).collect(),
            records: Vec::with_capacity(doc.records.len() + added),
            meta: Vec::with_capacity(doc.records.len() + added),
            dirty: Vec::new(),
            fresh: Vec::new(),
        };
        rb.file(
            0,
            State {
                origin: doc.origin.clone(),
                shared: Shared::default(),
                last_owner: None,
                default_ttl: None,
                last_ttl: None,
            },
        )?;
        let Rebuild {
            files: new_files,
            mut records,
            mut meta,
            dirty,
            fresh,
            ..
        } = rb;
        shrink_small(&mut records);
        shrink_small(&mut meta);
        // A file that is not read (cannot happen) keeps its old model.
        let files = doc
            .files
            .iter()
            .zip(new_files)
            .map(|(f, nf)| nf.unwrap_or_else(|| f.clone()))
            .collect();
        let new_doc = Document {
            origin: doc.origin.clone(),
            files,
            records,
            meta,
        };
        Ok((new_doc, dirty, fresh))
    }

    /// The new text of each file that changed; a file `$INCLUDE`d more
    /// than once cannot be edited.
    fn render(&self, new_doc: &Document) -> Result<Rendered, ZoneError> {
        let doc = self.doc;
        let mut rendered = Rendered { files: Vec::new() };
        for (old, new) in doc.files.iter().zip(&new_doc.files) {
            if Arc::ptr_eq(&old.text, &new.text) || old.text == new.text {
                continue;
            }
            if doc.files.iter().filter(|g| g.name == old.name).count() > 1 {
                return Err(error_at(
                    self.top.clone(),
                    format!("cannot edit {}: it is $INCLUDEd more than once", old.name),
                ));
            }
            rendered
                .files
                .push((old.name.to_string(), new.text.clone()));
        }
        Ok(rendered)
    }

    /// Checks that the parsed new text holds exactly the expected records:
    /// the additions, and the re-parsed records as they were (the SOA with
    /// its new serial). Untouched records were moved, not re-read.
    fn check(
        &self,
        new_doc: &Document,
        dirty: &[(usize, usize)],
        fresh: &[(usize, usize)],
        new_soa: Option<&(usize, Rr)>,
        accepted: &[Rr],
    ) -> Result<(), ZoneError> {
        let mut want: HashMap<(Key, u32), isize> = HashMap::new();
        let dirty_index: Vec<usize> = self
            .doc
            .records
            .iter()
            .enumerate()
            .filter(|(_, fe)| dirty.contains(fe))
            .map(|(k, _)| k)
            .collect();
        if dirty_index.len() != dirty.len() {
            return Err(error_at(
                self.top.clone(),
                "internal: an edited entry is not a record".into(),
            ));
        }
        for &k in &dirty_index {
            let rr = match new_soa {
                Some((s, soa)) if *s == k => soa,
                _ => &self.record(k)?.rr,
            };
            *want.entry((key(rr), rr.ttl)).or_default() += 1;
        }
        for rr in accepted {
            *want.entry((key(rr), rr.ttl)).or_default() += 1;
        }
        for &(f, e) in fresh {
            let Some(entry) = new_doc.files.get(f).and_then(|f| f.entries.get(e)) else {
                continue;
            };
            let EntryKind::Record(r) = &entry.kind else {
                continue;
            };
            let slot = want.entry((key(&r.rr), r.rr.ttl)).or_default();
            *slot -= 1;
            if *slot < 0 {
                return Err(error_at(
                    r.location_in(entry),
                    format!(
                        "internal: the edited text has an unexpected record {}",
                        rr_text(&r.rr)
                    ),
                ));
            }
        }
        if want.values().any(|&v| v != 0) {
            return Err(error_at(
                self.top.clone(),
                "internal: the edited text lacks an expected record".into(),
            ));
        }
        Ok(())
    }
}

/// Builds the edited document without re-parsing it: untouched entries are
/// copied with their spans and lines shifted, and only the text that is new
/// (inserted lines and entries with an edit inside) is parsed, with the
/// parser state in effect there. Files are visited in reading order, so the
/// records list and the state handed to included files are as a full parse
/// would have them.
struct Rebuild<'a> {
    doc: &'a Document,
    /// The old document's [`RecMeta`]s, and the index of the next old
    /// record the rebuild meets (it reads in the order of the records).
    old_meta: &'a [RecMeta],
    old_record: usize,
    /// Sorted edits of each file.
    edits: &'a [Vec<Edit>],
    changed: &'a [bool],
    files: Vec<Option<FileDoc>>,
    records: Vec<(usize, usize)>,
    /// The new document's [`RecMeta`]s, beside `records`.
    meta: Vec<RecMeta>,
    /// Old (file, entry) of each record entry that was re-parsed.
    dirty: Vec<(usize, usize)>,
    /// New (file, entry) of each record parsed from new text.
    fresh: Vec<(usize, usize)>,
}

fn internal(file: &Arc<str>, line: u32, message: &str) -> ZoneError {
    error_at(
        Location {
            file: file.clone(),
            line,
            col: 1,
        },
        format!("internal: {message}"),
    )
}

fn shift(v: usize, by: isize) -> usize {
    v.checked_add_signed(by).unwrap_or(v)
}

fn shift_line(v: u32, by: i64) -> u32 {
    u32::try_from(i64::from(v) + by).unwrap_or(v)
}

/// An untouched entry moved by `by` bytes and `lines` lines. Its record is
/// shared, never copied: the record's offsets and its line are relative to
/// the entry ([`RecordEntry::location_in`]). Copying every record after an
/// added line took most of an edit's time in a 100,000-record zone.
fn moved(e: &Entry, by: isize, lines: i64) -> Entry {
    Entry {
        start: shift(e.start, by),
        end: shift(e.end, by),
        first_line: shift_line(e.first_line, lines),
        last_line: shift_line(e.last_line, lines),
        kind: e.kind.clone(),
    }
}

fn newlines(s: &str) -> u32 {
    u32::try_from(s.bytes().filter(|&b| b == b'\n').count()).unwrap_or(u32::MAX)
}

/// The new text of one changed file as it is built, and the parser state
/// at its end.
struct Out {
    text: String,
    entries: entries::Builder,
    /// Line number at the end of `text` (which is at a line start, or at
    /// the end of a last line without a newline).
    line: u32,
    /// Start (byte, line) of new text not parsed yet.
    region: Option<(usize, u32)>,
    st: State,
    /// Old entry index of the last untouched record, whose owner is the
    /// previous owner (cloned into `st` only when new text is parsed).
    last_owner_at: Option<usize>,
}

impl Out {
    fn open_region(&mut self) {
        if self.region.is_none() {
            self.region = Some((self.text.len(), self.line));
        }
    }

    fn push_new(&mut self, s: &str) {
        self.text.push_str(s);
        self.line = self.line.saturating_add(newlines(s));
    }

    /// An inserted record line, which starts on a fresh line.
    fn insert_line(&mut self, s: &str) {
        if !self.text.is_empty() && !self.text.ends_with('\n') {
            if self.region.is_none()
                && let Some(last) = self.entries.last_mut()
                && last.end == self.text.len()
            {
                // The newline ends the last untouched entry's line.
                last.end += 1;
            }
            self.push_new("\n");
        }
        self.open_region();
        self.push_new(s);
    }
}

impl Rebuild<'_> {
    /// The next old record's [`RecMeta`] (computed from the record should
    /// the array not cover it).
    fn next_old_meta(&mut self, r: &RecordEntry) -> RecMeta {
        let m = self.old_meta.get(self.old_record).copied();
        self.old_record += 1;
        m.unwrap_or_else(|| RecMeta::of(r))
    }

    /// Rebuilds file `fi` (read with the state `st`) and the files it
    /// includes.
    fn file(&mut self, fi: usize, st: State) -> Result<(), ZoneError> {
        let doc = self.doc;
        let Some(f) = doc.files.get(fi) else {
            return Ok(());
        };
        if self.changed.get(fi).copied().unwrap_or(false) {
            self.changed_file(fi, f, st)
        } else {
            self.unchanged_file(fi, f, st)
        }
    }

    /// A file without edits: kept as it is, its records counted.
    fn unchanged_file(&mut self, fi: usize, f: &FileDoc, mut st: State) -> Result<(), ZoneError> {
        for (ei, e) in f.entries.iter().enumerate() {
            match &e.kind {
                EntryKind::Origin(o) => st.origin = (**o).clone(),
                EntryKind::Ttl(t) => st.default_ttl = Some(*t),
                EntryKind::Record(r) => {
                    let m = self.next_old_meta(r);
                    self.records.push((fi, ei));
                    self.meta.push(m);
                    st.last_ttl = Some(m.ttl);
                }
                EntryKind::Include { origin, file, .. } => {
                    self.file(*file, child_state(origin, &st))?;
                }
                EntryKind::Blank | EntryKind::Comment => {}
            }
        }
        if let Some(slot) = self.files.get_mut(fi) {
            *slot = Some(f.clone());
        }
        Ok(())
    }

    /// A file with edits: its entries in order, each kept (moved), deleted
    /// or edited, with the lines inserted before them; new text is parsed
    /// as it ends.
    fn changed_file(&mut self, fi: usize, f: &FileDoc, st: State) -> Result<(), ZoneError> {
        let es: &[Edit] = self.edits.get(fi).map_or(&[], Vec::as_slice);
        let mut out = Out {
            text: String::with_capacity(f.text.len() + 256),
            entries: entries::Builder::with_capacity(f.entries.len() + 8),
            line: 1,
            region: None,
            st,
            last_owner_at: None,
        };
        let mut k = 0usize;
        let mut oi = 0usize;
        // Bounded: each turn takes one entry, or a chunk of them.
        while let Some(entry) = f.entries.get(oi) {
            let next_edit = es.get(k).map_or(usize::MAX, |e| e.start);
            if oi.is_multiple_of(entries::CHUNK)
                && self.share_chunk(fi, f, &mut out, oi, next_edit)?
            {
                oi += entries::CHUNK;
                continue;
            }
            while let Some(e) = es.get(k)
                && e.fresh_line
                && e.start <= entry.start
            {
                out.insert_line(&e.text);
                k += 1;
            }
            let first = k;
            while es.get(k).is_some_and(|e| e.start < entry.end) {
                k += 1;
            }
            // Every old record is met once, in order, whatever becomes of it.
            let old = match &entry.kind {
                EntryKind::Record(r) => Some(self.next_old_meta(r)),
                _ => None,
            };
            let inside = es.get(first..k).unwrap_or(&[]);
            if inside.is_empty() {
                self.keep_entry(fi, f, &mut out, oi, old)?;
            } else {
                self.edit_entry(fi, f, &mut out, oi, inside)?;
            }
            oi += 1;
        }
        while let Some(e) = es.get(k) {
            if !e.fresh_line {
                return Err(internal(&f.name, out.line, "edit past the end"));
            }
            out.insert_line(&e.text);
            k += 1;
        }
        self.flush(fi, &mut out)?;
        if let Some(slot) = self.files.get_mut(fi) {
            *slot = Some(FileDoc {
                name: f.name.clone(),
                text: Arc::new(out.text),
                entries: out.entries.finish(),
                final_origin: out.st.origin,
            });
        }
        Ok(())
    }

    /// Untouched entry `oi` of a changed file, moved to the end of `out`
    /// (after the pending new text is parsed); `old` is its record's meta.
    fn keep_entry(
        &mut self,
        fi: usize,
        f: &FileDoc,
        out: &mut Out,
        oi: usize,
        old: Option<RecMeta>,
    ) -> Result<(), ZoneError> {
        let Some(entry) = f.entries.get(oi) else {
            return Ok(());
        };
        self.flush(fi, out)?;
        let by = out.text.len() as isize - entry.start as isize;
        let lines = i64::from(out.line) - i64::from(entry.first_line);
        let m = moved(entry, by, lines);
        let body = f.text.get(entry.start..entry.end).unwrap_or("");
        out.text.push_str(body);
        out.line = shift_line(entry.last_line, lines);
        if body.ends_with('\n') {
            out.line = out.line.saturating_add(1);
        }
        let at = out.entries.len();
        self.account(fi, out, oi, at, &m.kind, old)?;
        out.entries.push(m);
        Ok(())
    }

    /// What keeping old entry `oi` (of kind `kind`, its record's meta
    /// `old`) as new entry `at` means for the parser state, the records
    /// list and the files it includes.
    fn account(
        &mut self,
        fi: usize,
        out: &mut Out,
        oi: usize,
        at: usize,
        kind: &EntryKind,
        old: Option<RecMeta>,
    ) -> Result<(), ZoneError> {
        match kind {
            EntryKind::Origin(o) => out.st.origin = (**o).clone(),
            EntryKind::Ttl(t) => out.st.default_ttl = Some(*t),
            EntryKind::Record(r) => {
                let m = old.unwrap_or_else(|| RecMeta::of(r));
                self.records.push((fi, at));
                self.meta.push(m);
                out.st.last_ttl = Some(m.ttl);
                out.last_owner_at = Some(oi);
            }
            EntryKind::Include { origin, file, .. } => {
                let child = child_state(origin, &out.st);
                self.file(*file, child)?;
            }
            EntryKind::Blank | EntryKind::Comment => {}
        }
        Ok(())
    }

    /// Keeps the chunk of old entries that starts at entry `oi` as it is,
    /// shared with the old document rather than copied (see [`entries`]),
    /// when nothing about it changes: it is full, ends before the next
    /// edit (strictly: an insertion right after its last entry may need to
    /// end that entry's line, `Out::insert_line`), and its entries keep
    /// their index, byte offsets and lines (the edits before it, such as
    /// the SOA's new serial of the same length, moved nothing). Its text
    /// is copied in one piece. Returns whether it did.
    fn share_chunk(
        &mut self,
        fi: usize,
        f: &FileDoc,
        out: &mut Out,
        oi: usize,
        next_edit: usize,
    ) -> Result<bool, ZoneError> {
        let Some(chunk) = f.entries.chunks().get(oi / entries::CHUNK) else {
            return Ok(false);
        };
        let all = chunk.entries();
        let (Some(first), Some(last)) = (all.first(), all.last()) else {
            return Ok(false);
        };
        if all.len() != entries::CHUNK || last.end >= next_edit {
            return Ok(false);
        }
        // Its first entry is kept in any case, which parses the new text
        // before it first.
        self.flush(fi, out)?;
        let unmoved = out.entries.len() == oi
            && out.text.len() == first.start
            && out.line == first.first_line;
        if !unmoved || !out.entries.share(chunk) {
            return Ok(false);
        }
        let records = chunk.records();
        let metas = self
            .old_meta
            .get(self.old_record..self.old_record + records.len());
        match metas {
            // Only records, blanks and comments: what keeping them means
            // for the records list and the state, without a visit each.
            Some(metas) if !chunk.has_directives() => {
                self.old_record += records.len();
                self.meta.extend_from_slice(metas);
                self.records
                    .extend(records.iter().map(|&i| (fi, oi + usize::from(i))));
                if let (Some(&i), Some(m)) = (records.last(), metas.last()) {
                    out.st.last_ttl = Some(m.ttl);
                    out.last_owner_at = Some(oi + usize::from(i));
                }
            }
            _ => {
                for (i, entry) in all.iter().enumerate() {
                    let old = match &entry.kind {
                        EntryKind::Record(r) => Some(self.next_old_meta(r)),
                        _ => None,
                    };
                    self.account(fi, out, oi + i, oi + i, &entry.kind, old)?;
                }
            }
        }
        let text = f.text.get(first.start..last.end).unwrap_or("");
        out.text.push_str(text);
        out.line = last.last_line;
        if text.ends_with('\n') {
            out.line = out.line.saturating_add(1);
        }
        Ok(true)
    }

    /// Entry `oi` of a changed file with the edits `inside` it: deleted
    /// whole, or its text with the edits applied, as new text to parse.
    fn edit_entry(
        &mut self,
        fi: usize,
        f: &FileDoc,
        out: &mut Out,
        oi: usize,
        inside: &[Edit],
    ) -> Result<(), ZoneError> {
        let Some(entry) = f.entries.get(oi) else {
            return Ok(());
        };
        let deleted = matches!(inside, [e] if !e.fresh_line
            && e.start == entry.start
            && e.end == entry.end
            && e.text.is_empty());
        if deleted {
            return Ok(());
        }
        if !matches!(entry.kind, EntryKind::Record(_)) {
            return Err(internal(&f.name, entry.first_line, "edit outside a record"));
        }
        self.dirty.push((fi, oi));
        out.open_region();
        let mut at = entry.start;
        for e in inside {
            if e.start < at || e.end > entry.end {
                return Err(internal(&f.name, entry.first_line, "overlapping edits"));
            }
            out.push_new(f.text.get(at..e.start).unwrap_or(""));
            if e.fresh_line {
                out.insert_line(&e.text);
            } else {
                out.push_new(&e.text);
            }
            at = e.end;
        }
        out.push_new(f.text.get(at..entry.end).unwrap_or(""));
        Ok(())
    }

    /// Parses the pending new text of a changed file.
    fn flush(&mut self, fi: usize, out: &mut Out) -> Result<(), ZoneError> {
        let Some((start, line)) = out.region.take() else {
            return Ok(());
        };
        let Some(f) = self.doc.files.get(fi) else {
            return Ok(());
        };
        if let Some(oi) = out.last_owner_at.take()
            && let Some(EntryKind::Record(r)) = f.entries.get(oi).map(|e| &e.kind)
        {
            out.st.last_owner = Some(r.rr.name.clone());
        }
        let parsed =
            parse::parse_region(&f.name, &out.text, start, line, &mut out.st).map_err(|e| {
                error_at(
                    e.location,
                    format!("internal: the edited text does not parse: {}", e.message),
                )
            })?;
        for e in parsed {
            if let EntryKind::Record(r) = &e.kind {
                self.records.push((fi, out.entries.len()));
                self.meta.push(RecMeta::of(r));
                self.fresh.push((fi, out.entries.len()));
            }
            out.entries.push(e);
        }
        Ok(())
    }
}

fn child_state(origin: &Name, st: &State) -> State {
    State {
        origin: origin.clone(),
        shared: Shared::default(),
        last_owner: None,
        default_ttl: st.default_ttl,
        last_ttl: st.last_ttl,
    }
}

/// Drops the spare capacity of a small zone's list (kept for as long as
/// the zone is served: thousands of small zones add it up). A large
/// zone's is left alone: copying it on every write would cost more than
/// the memory.
fn shrink_small<T>(v: &mut Vec<T>) {
    const SMALL: usize = 4096;
    if v.len() < SMALL {
        v.shrink_to_fit();
    }
}
