//! PURE: lossless document model of an RFC 1035 §5 master file.
//!
//! STUB: interface only; implementation to follow.

use std::fmt;

use crate::rr::{ChangeSet, Location, Name, Rr};

pub mod edit;
pub mod lex;
pub mod parse;

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
#[derive(Clone, Debug)]
pub struct Document {}

/// The result of [`Document::apply`]: new text for each file that changed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Rendered {
    /// (file name as in [`Location::file`], new full text), changed files only.
    pub files: Vec<(String, String)>,
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
        let _ = (file, text, origin, includes);
        todo!()
    }

    /// Every RR in file order, with where it was written.
    pub fn records(&self) -> impl Iterator<Item = (&Rr, &Location)> {
        std::iter::empty()
    }

    /// Applies a change set with a minimal diff (see `edit`).
    pub fn apply(&self, changes: &ChangeSet) -> Result<(Document, Rendered), ZoneError> {
        let _ = changes;
        todo!()
    }
}
