//! A file's entries in fixed-size chunks, shared between versions.
//!
//! # Design
//!
//! An edit of a 100,000-record zone used to copy the whole entry list,
//! and with it take and later drop a reference to every record: one
//! cache miss per record, twice, most of a write's time. Here the list is
//! [`CHUNK`]-entry chunks behind `Arc`s; every chunk but the last is full,
//! so entry `i` is in chunk `i / CHUNK` whatever the history. The edit
//! ([`super::edit`]) shares each chunk that lies wholly before the file's
//! first change (its entries keep their byte offsets and lines, which are
//! absolute) and rebuilds the rest. Records an ACME client adds at a new
//! owner go at the end of the main file, so such an edit shares all but
//! the last chunk. An edit near the top of the file still rebuilds
//! everything after it; the entries after an edit would need relative
//! offsets to be shared too.

use std::sync::Arc;

use super::parse::{Entry, EntryKind};

/// Entries per chunk. Four in the crate's own tests, so the edit's
/// property tests (`zonefile::proptests`, small documents checked against
/// a full re-parse) share and rebuild chunks on every edit.
pub const CHUNK: usize = if cfg!(test) { 4 } else { 256 };

/// Up to [`CHUNK`] entries, with what an edit that shares them needs to
/// know without visiting each: where its records are, and whether it has
/// directives (which change the parser's state).
#[derive(Clone, Debug)]
pub struct Chunk {
    entries: Vec<Entry>,
    /// Index in the chunk of each record entry, in order.
    records: Vec<u16>,
    /// Whether an entry is `$ORIGIN`, `$TTL` or `$INCLUDE`.
    directives: bool,
}

impl Chunk {
    fn new(entries: Vec<Entry>) -> Chunk {
        let mut records = Vec::new();
        let mut directives = false;
        for (i, e) in entries.iter().enumerate() {
            match e.kind {
                EntryKind::Record(_) => records.push(u16::try_from(i).unwrap_or(u16::MAX)),
                EntryKind::Origin(_) | EntryKind::Ttl(_) | EntryKind::Include { .. } => {
                    directives = true;
                }
                EntryKind::Blank | EntryKind::Comment => {}
            }
        }
        records.shrink_to_fit();
        Chunk {
            entries,
            records,
            directives,
        }
    }

    pub fn entries(&self) -> &[Entry] {
        &self.entries
    }

    /// Index in the chunk of each record entry, in order.
    pub fn records(&self) -> &[u16] {
        &self.records
    }

    /// Whether an entry is a directive (`$ORIGIN`, `$TTL`, `$INCLUDE`).
    pub fn has_directives(&self) -> bool {
        self.directives
    }
}

/// The entries of one file, in order (see the module doc).
#[derive(Clone, Debug, Default)]
pub struct Entries {
    /// Full chunks, then possibly one partial chunk (never empty).
    chunks: Vec<Arc<Chunk>>,
    len: usize,
}

impl PartialEq for Entries {
    fn eq(&self, other: &Self) -> bool {
        self.len == other.len && self.iter().eq(other.iter())
    }
}

impl Eq for Entries {}

impl From<Vec<Entry>> for Entries {
    fn from(entries: Vec<Entry>) -> Entries {
        let mut b = Builder::with_capacity(entries.len());
        for e in entries {
            b.push(e);
        }
        b.finish()
    }
}

impl Entries {
    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    pub fn get(&self, i: usize) -> Option<&Entry> {
        self.chunks.get(i / CHUNK)?.entries.get(i % CHUNK)
    }

    pub fn iter(&self) -> impl DoubleEndedIterator<Item = &Entry> + Clone {
        self.chunks.iter().flat_map(|c| c.entries.iter())
    }

    pub fn last(&self) -> Option<&Entry> {
        self.chunks.last()?.entries.last()
    }

    /// The chunks, in order: all full but the last.
    pub fn chunks(&self) -> &[Arc<Chunk>] {
        &self.chunks
    }
}

impl std::ops::Index<usize> for Entries {
    type Output = Entry;

    /// Entry `i`; out of range is a bug in the caller, as for a `Vec`.
    fn index(&self, i: usize) -> &Entry {
        match self.get(i) {
            Some(e) => e,
            None => panic!("entry {i} of {}", self.len),
        }
    }
}

/// Builds [`Entries`] entry by entry, or a full chunk at a time.
#[derive(Debug, Default)]
pub struct Builder {
    chunks: Vec<Arc<Chunk>>,
    open: Vec<Entry>,
}

impl Builder {
    pub fn with_capacity(entries: usize) -> Builder {
        Builder {
            chunks: Vec::with_capacity(entries / CHUNK + 1),
            open: Vec::with_capacity(CHUNK.min(entries)),
        }
    }

    pub fn len(&self) -> usize {
        self.chunks.len() * CHUNK + self.open.len()
    }

    pub fn is_empty(&self) -> bool {
        self.chunks.is_empty() && self.open.is_empty()
    }

    pub fn push(&mut self, e: Entry) {
        self.open.push(e);
        if self.open.len() == CHUNK {
            let full = std::mem::replace(&mut self.open, Vec::with_capacity(CHUNK));
            self.chunks.push(Arc::new(Chunk::new(full)));
        }
    }

    /// Appends a full chunk of another version, shared. `false` (and
    /// nothing appended) unless the chunk is full and the builder is at a
    /// chunk boundary.
    pub fn share(&mut self, chunk: &Arc<Chunk>) -> bool {
        if chunk.entries.len() != CHUNK || !self.open.is_empty() {
            return false;
        }
        self.chunks.push(chunk.clone());
        true
    }

    /// The last entry, to change its span (a shared chunk is copied
    /// first); its kind must stay (the chunk's summary counts on it).
    pub fn last_mut(&mut self) -> Option<&mut Entry> {
        if !self.open.is_empty() {
            return self.open.last_mut();
        }
        Arc::make_mut(self.chunks.last_mut()?).entries.last_mut()
    }

    pub fn finish(mut self) -> Entries {
        let len = self.len();
        if !self.open.is_empty() {
            self.open.shrink_to_fit();
            self.chunks.push(Arc::new(Chunk::new(self.open)));
        }
        self.chunks.shrink_to_fit();
        Entries {
            chunks: self.chunks,
            len,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::zonefile::parse::EntryKind;

    fn entry(i: usize) -> Entry {
        Entry {
            start: i,
            end: i + 1,
            first_line: 1,
            last_line: 1,
            kind: EntryKind::Blank,
        }
    }

    #[test]
    fn every_chunk_but_the_last_is_full_and_shared_ones_are_kept() {
        let n = CHUNK * 2 + 3;
        let all: Entries = (0..n).map(entry).collect::<Vec<_>>().into();
        assert_eq!(all.len(), n);
        assert_eq!(all.chunks().len(), 3);
        assert_eq!(all.get(CHUNK + 1).map(|e| e.start), Some(CHUNK + 1));
        assert!(all.get(n).is_none());
        assert_eq!(all.iter().count(), n);
        // The same entries through a shared first chunk: equal, and the
        // chunk is the same allocation.
        let mut b = Builder::default();
        assert!(b.share(&all.chunks()[0]));
        for i in CHUNK..n {
            b.push(entry(i));
        }
        assert!(!b.share(&all.chunks()[1]), "not at a chunk boundary");
        let again = b.finish();
        assert_eq!(again, all);
        assert!(Arc::ptr_eq(&again.chunks()[0], &all.chunks()[0]));
        // Changing the last entry of a shared chunk copies it.
        let mut b = Builder::default();
        assert!(b.share(&all.chunks()[0]));
        if let Some(last) = b.last_mut() {
            last.end += 1;
        }
        let changed = b.finish();
        assert_eq!(all[CHUNK - 1].end, CHUNK);
        assert_eq!(changed[CHUNK - 1].end, CHUNK + 1);
        assert!(Entries::default().is_empty());
    }
}
