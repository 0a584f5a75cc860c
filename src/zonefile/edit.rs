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

use super::parse::{EntryKind, RecordEntry, name_text};
use super::{Document, IncludeLoader, Rendered, ZoneError};

/// Identity of an RR for [`Rr::same_rr`]: lower-cased owner, type, canonical
/// RDATA.
type Key = (String, u16, Vec<u8>);

fn key(rr: &Rr) -> Key {
    (
        rr.name.to_lowercase().to_ascii(),
        u16::from(rr.rtype),
        rdata::canonical(rr.rtype, &rr.rdata).into_owned(),
    )
}

fn owner_key(name: &Name) -> String {
    name.to_lowercase().to_ascii()
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

/// Returns the included-file text for the re-parse from the rendered texts.
struct MapLoader {
    map: HashMap<(String, String), (String, String)>,
}

impl IncludeLoader for MapLoader {
    fn load(&self, from: &str, path: &str) -> Result<(String, String), String> {
        self.map
            .get(&(from.to_string(), path.to_string()))
            .cloned()
            .ok_or_else(|| format!("{path}: not part of the edited document"))
    }
}

/// Running state of the walk that finds records needing an owner or a TTL.
#[derive(Clone)]
struct Sim {
    last_owner: Option<Name>,
    default_ttl: Option<u32>,
    last_ttl: Option<u32>,
}

struct Walk<'d> {
    doc: &'d Document,
    removed: &'d [bool],
    /// Record index of each (file, entry).
    index: HashMap<(usize, usize), usize>,
    inserts: &'d HashMap<Spot, (Name, Vec<Rr>)>,
    edits: Vec<Vec<Edit>>,
}

impl Walk<'_> {
    fn inserted(&self, file: usize, pos: usize, sim: &mut Sim) {
        if let Some((_, rrs)) = self.inserts.get(&Spot { file, pos }) {
            for rr in rrs {
                sim.last_owner = Some(rr.name.clone());
                sim.last_ttl = Some(rr.ttl);
            }
        }
    }

    fn walk(&mut self, file: usize, mut sim: Sim) {
        let doc = self.doc;
        let Some(f) = doc.files.get(file) else {
            return;
        };
        for (ei, entry) in f.entries.iter().enumerate() {
            self.inserted(file, entry.start, &mut sim);
            match &entry.kind {
                EntryKind::Ttl(t) => sim.default_ttl = Some(*t),
                EntryKind::Include { file: child, .. } => {
                    let child_sim = Sim {
                        last_owner: None,
                        ..sim.clone()
                    };
                    self.walk(*child, child_sim);
                }
                EntryKind::Record(r) => {
                    let Some(&k) = self.index.get(&(file, ei)) else {
                        continue;
                    };
                    if self.removed.get(k).copied().unwrap_or(false) {
                        continue;
                    }
                    if !r.explicit_owner && sim.last_owner.as_ref() != Some(&r.rr.name) {
                        self.edits[file].push(owner_fix(&f.text, entry.start, r));
                    }
                    sim.last_owner = Some(r.rr.name.clone());
                    if !r.explicit_ttl && sim.default_ttl.or(sim.last_ttl) != Some(r.rr.ttl) {
                        self.edits[file].push(Edit {
                            start: r.after_owner,
                            end: r.after_owner,
                            text: format!("{} ", r.rr.ttl),
                            fresh_line: false,
                        });
                    }
                    sim.last_ttl = Some(r.rr.ttl);
                }
                _ => {}
            }
        }
        self.inserted(file, f.text.len(), &mut sim);
    }
}

/// Writes the owner into a blank-owner record's leading whitespace, keeping
/// the columns where it can: tabs stay after the owner, spaces shrink.
fn owner_fix(text: &str, start: usize, r: &RecordEntry) -> Edit {
    let ws_len = text.get(start..).map_or(0, |s| {
        s.bytes().take_while(|b| *b == b' ' || *b == b'\t').count()
    });
    let ws = text.get(start..start + ws_len).unwrap_or("");
    let owner = name_text(&r.rr.name, &r.origin);
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

/// The separator the file's records mostly use after the owner.
fn separator(doc: &Document, file: usize) -> &'static str {
    let Some(f) = doc.files.get(file) else {
        return "\t";
    };
    let (mut tabs, mut spaces) = (0usize, 0usize);
    for e in &f.entries {
        if let EntryKind::Record(r) = &e.kind
            && r.explicit_owner
            && r.after_owner > r.first_token
        {
            let between = f.text.get(r.first_token..r.after_owner).unwrap_or("");
            if between.contains('\t') {
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
        owner = name_text(&rr.name, origin),
        ttl = rr.ttl,
        ty = rdata::type_to_text(rr.rtype),
        rd = rdata::to_text(rr.rtype, &rr.rdata, Some(origin)),
    )
}

pub(super) fn apply(
    doc: &Document,
    changes: &ChangeSet,
) -> Result<(Document, Rendered), ZoneError> {
    let recs: Vec<&RecordEntry> = doc.record_entries().collect();
    let main_name: Arc<str> = doc
        .files
        .first()
        .map_or_else(|| Arc::from(""), |f| f.name.clone());
    let top = Location {
        file: main_name,
        line: 1,
        col: 1,
    };

    let mut by_key: HashMap<Key, Vec<usize>> = HashMap::new();
    let mut by_owner: HashMap<String, Vec<usize>> = HashMap::new();
    for (k, r) in recs.iter().enumerate() {
        by_key.entry(key(&r.rr)).or_default().push(k);
        by_owner.entry(owner_key(&r.rr.name)).or_default().push(k);
    }

    // Removals: every record that is the same RR goes.
    let mut removed = vec![false; recs.len()];
    for rr in &changes.remove {
        let Some(ks) = by_key.get(&key(rr)) else {
            return Err(error_at(
                top.clone(),
                format!("cannot remove {}: no such record", rr_text(rr)),
            ));
        };
        for &k in ks {
            if recs[k].rr.rtype == RecordType::SOA {
                return Err(error_at(
                    recs[k].location.clone(),
                    "cannot remove the SOA record (change its serial instead)".into(),
                ));
            }
            removed[k] = true;
        }
    }

    // Additions: skip RRs already there, place the rest.
    let mut inserts: HashMap<Spot, (Name, Vec<Rr>)> = HashMap::new();
    let mut added: HashMap<Key, u32> = HashMap::new();
    let mut accepted: Vec<Rr> = Vec::new();
    for rr in &changes.add {
        let kk = key(rr);
        let present = by_key
            .get(&kk)
            .into_iter()
            .flatten()
            .find(|&&k| !removed[k])
            .map(|&k| (recs[k].rr.ttl, Some(recs[k].location.clone())))
            .or_else(|| added.get(&kk).map(|&t| (t, None)));
        if let Some((ttl, loc)) = present {
            if ttl == rr.ttl {
                continue;
            }
            return Err(error_at(
                loc.unwrap_or_else(|| top.clone()),
                format!(
                    "cannot add {}: present with TTL {ttl} (remove it to change the TTL)",
                    rr_text(rr)
                ),
            ));
        }
        added.insert(kk, rr.ttl);
        let same_owner = by_owner.get(&owner_key(&rr.name));
        let anchor = same_owner
            .and_then(|ks| ks.iter().rev().find(|&&k| !removed[k]))
            .or_else(|| same_owner.and_then(|ks| ks.last()));
        let (spot, origin) = match anchor {
            Some(&k) => {
                let (f, e) = doc.records[k];
                let end = doc.files[f].entries[e].end;
                (Spot { file: f, pos: end }, recs[k].origin.clone())
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

    let mut edits: Vec<Vec<Edit>> = doc.files.iter().map(|_| Vec::new()).collect();

    // Serial: only the serial token's bytes.
    let mut new_soa: Option<(usize, Rr)> = None;
    if let Some(serial) = changes.serial {
        let soa = recs
            .iter()
            .position(|r| r.rr.rtype == RecordType::SOA && r.rr.name == doc.origin)
            .or_else(|| recs.iter().position(|r| r.rr.rtype == RecordType::SOA));
        let Some(k) = soa else {
            return Err(error_at(
                top.clone(),
                "cannot set the serial: no SOA record".into(),
            ));
        };
        let r = recs[k];
        let Some((s, e)) = r.serial else {
            return Err(error_at(
                r.location.clone(),
                "cannot set the serial of an SOA written in the RFC 3597 generic form".into(),
            ));
        };
        let file = doc.records[k].0;
        edits[file].push(Edit {
            start: s,
            end: e,
            text: serial.to_string(),
            fresh_line: false,
        });
        let Some(rd) = soa_with_serial(&r.rr.rdata, serial) else {
            return Err(error_at(r.location.clone(), "malformed SOA RDATA".into()));
        };
        new_soa = Some((
            k,
            Rr {
                rdata: rd,
                ..r.rr.clone()
            },
        ));
    }

    // Deletions and inserted lines.
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
    for (spot, (origin, rrs)) in &inserts {
        let sep = separator(doc, spot.file);
        for rr in rrs {
            edits[spot.file].push(Edit {
                start: spot.pos,
                end: spot.pos,
                text: record_line(rr, origin, sep),
                fresh_line: true,
            });
        }
    }

    // Owners and TTLs that relied on a removed or displaced neighbour.
    let mut walk = Walk {
        doc,
        removed: &removed,
        index: doc
            .records
            .iter()
            .enumerate()
            .map(|(k, &fe)| (fe, k))
            .collect(),
        inserts: &inserts,
        edits,
    };
    walk.walk(
        0,
        Sim {
            last_owner: None,
            default_ttl: None,
            last_ttl: None,
        },
    );
    let edits = walk.edits;

    // Render.
    let mut texts: Vec<String> = Vec::with_capacity(doc.files.len());
    let mut changed: Vec<bool> = Vec::with_capacity(doc.files.len());
    for (f, mut es) in doc.files.iter().zip(edits) {
        // Stable: insertions at one spot keep their order.
        es.sort_by_key(|e| (e.start, e.end));
        let mut out = String::with_capacity(f.text.len() + 64);
        let mut at = 0usize;
        for e in &es {
            if e.start < at {
                return Err(error_at(
                    top.clone(),
                    format!("internal: overlapping edits in {}", f.name),
                ));
            }
            out.push_str(f.text.get(at..e.start).unwrap_or(""));
            if e.fresh_line && !out.is_empty() && !out.ends_with('\n') {
                out.push('\n');
            }
            out.push_str(&e.text);
            at = e.end;
        }
        out.push_str(f.text.get(at..).unwrap_or(""));
        changed.push(out != f.text);
        texts.push(out);
    }
    let mut rendered = Rendered { files: Vec::new() };
    for (i, f) in doc.files.iter().enumerate() {
        if !changed[i] {
            continue;
        }
        if doc.files.iter().filter(|g| g.name == f.name).count() > 1 {
            return Err(error_at(
                top.clone(),
                format!("cannot edit {}: it is $INCLUDEd more than once", f.name),
            ));
        }
        rendered.files.push((f.name.to_string(), texts[i].clone()));
    }

    // Re-parse the new text and check it holds exactly the expected records.
    let mut map = HashMap::new();
    for f in &doc.files {
        for e in &f.entries {
            if let EntryKind::Include { path, file, .. } = &e.kind {
                map.insert(
                    (f.name.to_string(), path.clone()),
                    (doc.files[*file].name.to_string(), texts[*file].clone()),
                );
            }
        }
    }
    let loader = MapLoader { map };
    let main_text = texts.first().cloned().unwrap_or_default();
    let main_file = doc.files.first().map_or("", |f| &f.name);
    let new_doc = Document::parse(main_file, &main_text, &doc.origin, &loader).map_err(|es| {
        let first = es.into_iter().next();
        match first {
            Some(e) => error_at(
                e.location,
                format!("internal: the edited text does not parse: {}", e.message),
            ),
            None => error_at(
                top.clone(),
                "internal: the edited text does not parse".into(),
            ),
        }
    })?;
    let mut want: HashMap<(Key, u32), isize> = HashMap::new();
    for (k, r) in recs.iter().enumerate() {
        if removed[k] {
            continue;
        }
        let rr = match &new_soa {
            Some((s, soa)) if *s == k => soa,
            _ => &r.rr,
        };
        *want.entry((key(rr), rr.ttl)).or_default() += 1;
    }
    for rr in &accepted {
        *want.entry((key(rr), rr.ttl)).or_default() += 1;
    }
    for (rr, loc) in new_doc.records() {
        let slot = want.entry((key(rr), rr.ttl)).or_default();
        *slot -= 1;
        if *slot < 0 {
            return Err(error_at(
                loc.clone(),
                format!(
                    "internal: the edited text has an unexpected record {}",
                    rr_text(rr)
                ),
            ));
        }
    }
    if want.values().any(|&v| v != 0) {
        return Err(error_at(
            top,
            "internal: the edited text lacks an expected record".into(),
        ));
    }
    Ok((new_doc, rendered))
}
