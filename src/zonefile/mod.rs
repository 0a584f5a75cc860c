//! PURE: lossless document model of an RFC 1035 §5 master file.
//!
//! # Design
//!
//! Zone files are the single source of truth and people edit them by hand,
//! so every program writer (dynamic updates, serial bumps, tooling) must
//! change them the way a careful person would: touch only the lines that
//! change and keep everything else byte for byte. The model is therefore
//! *lossless*: a [`Document`] keeps the exact text of the main file and of
//! every `$INCLUDE`d file, split into entries ([`parse::Entry`]) whose byte
//! spans tile the text. An entry is a blank line, a comment line, a
//! directive (`$ORIGIN`, `$TTL`, `$INCLUDE`) or a record, possibly spanning
//! several lines inside parentheses. A record entry knows its absolute
//! [`Rr`], its [`Location`], whether its owner and TTL were written, the
//! `$ORIGIN` in effect, and (for an SOA) the byte span of the serial.
//!
//! Layers: [`lex`] (text -> entries of tokens with spans; never fails, it
//! reports errors per entry), [`parse`] (entries -> directives and records,
//! every error as `file:line:col: message`, at most
//! [`parse::MAX_ERRORS`]), [`edit`] (apply a [`ChangeSet`]).
//!
//! Parsing choices: a record without a TTL takes `$TTL`, else the previous
//! record's TTL, else it is the error "no TTL and no $TTL" (the SOA MINIMUM
//! is *not* used). Only class IN is accepted. `$INCLUDE` nests at most
//! [`parse::MAX_INCLUDE_DEPTH`] deep and loops are errors; an included file
//! starts with no previous owner and the includer's TTL state, and the
//! includer's state is restored after it. Quoted strings cannot span lines.
//!
//! # Edit rules ([`Document::apply`])
//!
//! - Lines of untouched records stay byte-identical, as do comments, blank
//!   lines, directives and indentation.
//! - Each removed RR must match at least one record ([`Rr::same_rr`]); every
//!   matching record's lines go, with any comment on them. Removing the SOA
//!   is an error. A later record that relied on a removed one for its owner
//!   (blank owner) gets an explicit owner, relative to its `$ORIGIN`; one
//!   that relied on it for its TTL (no `$TTL`) gets an explicit TTL.
//! - An added RR already present with the same TTL is skipped; present with
//!   another TTL is an error (changing a TTL is remove + add). It goes after
//!   the last remaining record with the same owner, in that record's file
//!   (else where the last removed record with that owner was, else at the
//!   end of the main file), written as `owner TTL IN TYPE RDATA` with the
//!   owner relative to the `$ORIGIN` in effect there (`@` for the origin)
//!   and names in the RDATA relative to it too, separated by tabs or by
//!   spaces, whichever the file's records mostly use.
//! - A new SOA serial replaces only the serial token's bytes, whatever the
//!   SOA's layout.
//! - The result lists the new text of each changed file, and the new
//!   document. It is built without re-parsing the whole text: untouched
//!   entries are reused with their spans and lines moved (records whose
//!   lines do not move are shared), files that did not change keep their
//!   model, and only the new text (added lines, lines given an owner or a
//!   TTL, the SOA whose serial changed) is parsed, with the `$ORIGIN`, TTL
//!   and previous owner in effect there ([`parse::parse_region`]). Those
//!   freshly parsed records are checked to be exactly the expected ones;
//!   a property test checks the whole result equals a full re-parse.
//!   A file `$INCLUDE`d more than once cannot be edited.

use std::fmt;

use crate::rr::{ChangeSet, Location, Name, Rr};

pub mod edit;
pub mod entries;
pub mod lex;
pub mod parse;
pub mod stored;

#[cfg(test)]
mod proptests;
#[cfg(test)]
mod tests;

/// A problem in a zone file, with where it is. Displayed as
/// `file:line:col: message`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ZoneError {
    pub location: Location,
    pub message: String,
}

impl fmt::Display for ZoneError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.location, self.message)
    }
}

impl std::error::Error for ZoneError {}

/// Supplies the text of `$INCLUDE`d files, so the parser stays free of I/O.
/// `path` is as written in the directive; `from` is the including file's
/// name. Returns the name to record for the included file and its text.
pub trait IncludeLoader {
    fn load(&self, from: &str, path: &str) -> Result<(String, String), String>;
}

/// A loader for text that has no `$INCLUDE`s: every include is an error.
pub struct NoIncludes;

impl IncludeLoader for NoIncludes {
    fn load(&self, _from: &str, path: &str) -> Result<(String, String), String> {
        Err(format!("$INCLUDE {path}: includes are not available here"))
    }
}

/// A parsed zone file (and the files it includes), keeping every byte.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Document {
    origin: Name,
    files: Vec<parse::FileDoc>,
    /// (file, entry) of each record in reading order.
    records: Vec<(usize, usize)>,
    /// Beside `records`, what an edit's passes over every record need to
    /// know of each one, in one small array (no pointer to follow per
    /// record).
    meta: Vec<edit::RecMeta>,
}

/// The result of [`Document::apply`]: new text for each file that changed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Rendered {
    /// (file name as in [`Location::file`], new full text), changed files only.
    pub files: Vec<(String, std::sync::Arc<String>)>,
}

impl Document {
    /// Parses `text` (the file named `file`) with `origin` as the initial
    /// `$ORIGIN`. All errors are returned, each with file:line:col.
    pub fn parse(
        file: &str,
        text: &str,
        origin: &Name,
        includes: &dyn IncludeLoader,
    ) -> Result<Document, Vec<ZoneError>> {
        let parsed = parse::parse(file, text, origin, includes);
        if !parsed.errors.is_empty() {
            return Err(parsed.errors);
        }
        let mut doc = Document {
            origin: origin.clone(),
            files: parsed.files,
            records: parsed.records,
            meta: Vec::new(),
        };
        doc.meta = doc.record_entries().map(edit::RecMeta::of).collect();
        doc.meta.shrink_to_fit();
        Ok(doc)
    }

    /// Every RR in file order, with where it is written.
    pub fn records(&self) -> impl Iterator<Item = (&Rr, Location)> {
        self.records_in_entries()
            .map(|(e, r)| (&r.rr, r.location_in(e)))
    }

    /// Every record entry in reading order (included files at their
    /// `$INCLUDE`).
    pub fn record_entries(&self) -> impl Iterator<Item = &parse::RecordEntry> {
        self.records_in_entries().map(|(_, r)| r)
    }

    /// [`Document::record_entries`], each with the entry that holds it
    /// (for its line: [`parse::RecordEntry::location_in`]).
    pub fn records_in_entries(&self) -> impl Iterator<Item = (&parse::Entry, &parse::RecordEntry)> {
        self.records.iter().filter_map(|&(f, e)| {
            let entry = self.files.get(f)?.entries.get(e)?;
            match &entry.kind {
                parse::EntryKind::Record(r) => Some((entry, &**r)),
                _ => None,
            }
        })
    }

    /// The origin the main file was parsed with.
    pub fn origin(&self) -> &Name {
        &self.origin
    }

    /// The main file (first) and each included file, with text and entries.
    pub fn files(&self) -> &[parse::FileDoc] {
        &self.files
    }

    /// Applies a change set with a minimal diff (see the module docs).
    pub fn apply(&self, changes: &ChangeSet) -> Result<(Document, Rendered), ZoneError> {
        edit::apply(self, changes)
    }
}
