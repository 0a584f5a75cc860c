//! Entries -> the document model: directives, records, and every error with
//! its file:line:col.
//!
//! Choices where RFC 1035 leaves room (all documented in the module docs):
//! - a record without a TTL takes `$TTL` (RFC 2308 §4), else the TTL of the
//!   previous record (RFC 1035 §5.1 "the last explicitly stated value"),
//!   else it is an error ("no TTL and no $TTL"); the SOA MINIMUM is never
//!   used as a default;
//! - an `$INCLUDE`d file starts with the including file's `$TTL` and last
//!   TTL, the directive's origin (or the current one), and no previous owner;
//!   when it ends, the including file's origin, owner and TTL state are
//!   restored (RFC 1035 §5.1 says this of the origin; zonewright extends it
//!   to the rest so that each file reads the same wherever it is included);
//! - only class IN is accepted.

use std::sync::Arc;

use crate::rdata::{self, Token};
use crate::rr::{Location, MAX_TTL, Name, Rdata, RecordType, Rr};

use super::lex::{self, LexEntry};
use super::{IncludeLoader, ZoneError};

/// Most errors collected before the parser stops.
pub const MAX_ERRORS: usize = 100;
/// Deepest `$INCLUDE` nesting accepted (the main file is depth 0).
pub const MAX_INCLUDE_DEPTH: usize = 8;

/// One file of the document: its name, exact text and entries.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FileDoc {
    pub name: Arc<str>,
    /// Shared with the [`super::Rendered`] text of the edit that made it
    /// and the commit that records it (a 100,000-record file is 4 MB).
    pub text: Arc<String>,
    /// Entries in order; their spans tile `text` exactly.
    pub entries: super::entries::Entries,
    /// The origin in effect at the end of this file.
    pub final_origin: Name,
}

/// One entry (logical line) with its byte span and 1-based line range.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Entry {
    pub start: usize,
    pub end: usize,
    pub first_line: u32,
    pub last_line: u32,
    pub kind: EntryKind,
}

/// What an entry is.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum EntryKind {
    /// Only whitespace.
    Blank,
    /// Only a comment (and whitespace).
    Comment,
    /// `$ORIGIN <domain-name>`, the new origin (absolute). Boxed, like
    /// the include's fields, so an entry stays small (most are records).
    Origin(Box<Name>),
    /// `$TTL <ttl>` (RFC 2308 §4).
    Ttl(u32),
    /// `$INCLUDE <file-name> [<domain-name>]`; `file` indexes the document's
    /// files.
    Include {
        path: Box<str>,
        origin: Box<Name>,
        file: usize,
    },
    /// Shared: an edit that does not move a record's lines reuses it.
    Record(Arc<RecordEntry>),
}

/// A resource record as written.
#[derive(Clone, Debug, Eq)]
pub struct RecordEntry {
    pub rr: Rr,
    /// Where the record was written when it was parsed. A record is shared
    /// by the versions of the document an edit makes, and an edit that
    /// moves its lines moves its [`Entry`] only: read the line through
    /// [`RecordEntry::location_in`].
    pub location: Location,
    /// The first line of its entry when it was parsed.
    pub entry_line: u32,
    /// The `$ORIGIN` in effect for this record (shared by the records
    /// under one `$ORIGIN`).
    pub origin: Arc<Name>,
    /// Whether the owner was written (false: blank owner, previous owner).
    pub explicit_owner: bool,
    /// Whether the TTL was written (false: `$TTL` or the previous TTL).
    pub explicit_ttl: bool,
    /// Byte offset of the entry's first token (the owner, when written),
    /// from the start of the entry (so that a record moved by an edit keeps
    /// it).
    pub first_token: usize,
    /// Byte offset of the first token after the owner, from the start of
    /// the entry.
    pub after_owner: usize,
    /// Byte span of the SOA serial token, for SOA records, from the start of
    /// the entry.
    pub serial: Option<(usize, usize)>,
}

/// The parser's running state within one file.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct State {
    pub origin: Name,
    /// `origin`, shared by the records read under it (see [`Shared`]).
    pub shared: Shared,
    pub last_owner: Option<Name>,
    pub default_ttl: Option<u32>,
    pub last_ttl: Option<u32>,
}

/// The last origin handed to a record, so the records under one
/// `$ORIGIN` share one copy (a `Name` is 80 bytes; most zones have one
/// origin for all their records). A cache: never part of a state's
/// equality.
#[derive(Clone, Debug, Default)]
pub struct Shared(Option<Arc<Name>>);

impl Shared {
    fn of(&mut self, origin: &Name) -> Arc<Name> {
        match &self.0 {
            Some(o) if **o == *origin => o.clone(),
            _ => {
                let o = Arc::new(origin.clone());
                self.0 = Some(o.clone());
                o
            }
        }
    }
}

impl PartialEq for Shared {
    fn eq(&self, _: &Shared) -> bool {
        true
    }
}

impl Eq for Shared {}

/// The result of parsing a main file and its includes.
#[derive(Clone, Debug)]
pub struct Parsed {
    pub files: Vec<FileDoc>,
    /// (file, entry) of every record, in reading order.
    pub records: Vec<(usize, usize)>,
    pub errors: Vec<ZoneError>,
}

/// Parses a file and everything it includes.
pub fn parse(file: &str, text: &str, origin: &Name, loader: &dyn IncludeLoader) -> Parsed {
    let mut p = Parser {
        loader,
        files: Vec::new(),
        records: Vec::new(),
        errors: Vec::new(),
        stack: Vec::new(),
    };
    let state = State {
        origin: origin.clone(),
        shared: Shared::default(),
        last_owner: None,
        default_ttl: None,
        last_ttl: None,
    };
    p.parse_file(Arc::from(file), text.to_string(), state);
    if p.errors.len() > MAX_ERRORS {
        p.errors.truncate(MAX_ERRORS);
    }
    // Kept for as long as the zone is served: no spare capacity.
    p.files.shrink_to_fit();
    p.records.shrink_to_fit();
    Parsed {
        files: p.files,
        records: p.records,
        errors: p.errors,
    }
}

struct Parser<'l> {
    loader: &'l dyn IncludeLoader,
    files: Vec<FileDoc>,
    records: Vec<(usize, usize)>,
    errors: Vec<ZoneError>,
    /// Names of the files being read, outermost first.
    stack: Vec<Arc<str>>,
}

fn err(file: &Arc<str>, line: u32, col: u32, message: impl Into<String>) -> ZoneError {
    ZoneError {
        location: Location {
            file: file.clone(),
            line,
            col,
        },
        message: message.into(),
    }
}

impl Parser<'_> {
    fn full(&self) -> bool {
        self.errors.len() >= MAX_ERRORS
    }

    fn parse_file(&mut self, name: Arc<str>, text: String, mut st: State) -> usize {
        let index = self.files.len();
        self.files.push(FileDoc {
            name: name.clone(),
            text: Arc::default(),
            entries: Default::default(),
            final_origin: st.origin.clone(),
        });
        self.stack.push(name.clone());
        let mut entries = Vec::new();
        for le in lex::lex(&text) {
            let kind = if self.full() {
                EntryKind::Blank
            } else if !le.errors.is_empty() {
                for e in le.errors.iter().take(MAX_ERRORS - self.errors.len()) {
                    self.errors
                        .push(err(&name, e.line, e.col, e.message.clone()));
                }
                EntryKind::Blank
            } else if le.tokens.is_empty() {
                if le.has_comment {
                    EntryKind::Comment
                } else {
                    EntryKind::Blank
                }
            } else if !le.tokens[0].quoted && le.text(&text, 0).starts_with('$') {
                match self.directive(&name, &text, &le, &mut st) {
                    Ok(k) => k,
                    Err(e) => {
                        self.errors.push(e);
                        EntryKind::Blank
                    }
                }
            } else {
                match record(&name, &text, &le, &mut st) {
                    Ok(r) => {
                        self.records.push((index, entries.len()));
                        EntryKind::Record(Arc::new(r))
                    }
                    Err(e) => {
                        self.errors.push(e);
                        EntryKind::Blank
                    }
                }
            };
            entries.push(Entry {
                start: le.start,
                end: le.end,
                first_line: le.first_line,
                last_line: le.last_line,
                kind,
            });
        }
        self.stack.pop();
        if let Some(f) = self.files.get_mut(index) {
            f.text = Arc::new(text);
            f.entries = entries.into();
            f.final_origin = st.origin;
        }
        index
    }

    fn directive(
        &mut self,
        file: &Arc<str>,
        text: &str,
        le: &LexEntry,
        st: &mut State,
    ) -> Result<EntryKind, ZoneError> {
        let at = |i: usize| {
            let t = &le.tokens[i.min(le.tokens.len() - 1)];
            (t.line, t.col)
        };
        let e = |i: usize, m: String| {
            let (l, c) = at(i);
            err(file, l, c, m)
        };
        let word = le.text(text, 0);
        let nargs = le.tokens.len() - 1;
        match word.to_ascii_uppercase().as_str() {
            // RFC 1035 §5.1: "$ORIGIN <domain-name> [<comment>]"
            "$ORIGIN" => {
                if nargs == 0 {
                    return Err(e(0, "$ORIGIN needs a domain name".into()));
                }
                if nargs > 1 {
                    return Err(e(2, "unexpected text after the $ORIGIN domain name".into()));
                }
                let origin = parse_name(le.text(text, 1), &st.origin).map_err(|m| e(1, m))?;
                st.origin = origin.clone();
                Ok(EntryKind::Origin(Box::new(origin)))
            }
            // RFC 2308 §4: "$TTL <TTL> [comment]"
            "$TTL" => {
                if nargs == 0 {
                    return Err(e(0, "$TTL needs a TTL".into()));
                }
                if nargs > 1 {
                    return Err(e(2, "unexpected text after the $TTL value".into()));
                }
                let ttl = parse_ttl(le.text(text, 1)).map_err(|m| e(1, m))?;
                st.default_ttl = Some(ttl);
                Ok(EntryKind::Ttl(ttl))
            }
            // RFC 1035 §5.1: "$INCLUDE <file-name> [<domain-name>] [<comment>]"
            "$INCLUDE" => {
                if nargs == 0 {
                    return Err(e(0, "$INCLUDE needs a file name".into()));
                }
                if nargs > 2 {
                    return Err(e(3, "unexpected text after the $INCLUDE origin".into()));
                }
                let path = le.text(text, 1).to_string();
                let origin = if nargs == 2 {
                    parse_name(le.text(text, 2), &st.origin).map_err(|m| e(2, m))?
                } else {
                    st.origin.clone()
                };
                if self.stack.len() > MAX_INCLUDE_DEPTH {
                    return Err(e(
                        1,
                        format!("$INCLUDE {path}: nested more than {MAX_INCLUDE_DEPTH} deep"),
                    ));
                }
                let (name, body) = self.loader.load(file, &path).map_err(|m| {
                    if m.starts_with("$INCLUDE") {
                        e(1, m)
                    } else {
                        e(1, format!("$INCLUDE {path}: {m}"))
                    }
                })?;
                if self.stack.iter().any(|f| **f == *name) {
                    return Err(e(
                        1,
                        format!("$INCLUDE {path}: include loop ({name} is already being read)"),
                    ));
                }
                // RFC 1035 §5.1: "The $INCLUDE entry never changes the
                // relative origin of the parent file, regardless of changes
                // to the relative origin made within the included file."
                let child = State {
                    origin: origin.clone(),
                    shared: Shared::default(),
                    last_owner: None,
                    default_ttl: st.default_ttl,
                    last_ttl: st.last_ttl,
                };
                let index = self.parse_file(Arc::from(name.as_str()), body, child);
                Ok(EntryKind::Include {
                    path: path.into(),
                    origin: Box::new(origin),
                    file: index,
                })
            }
            "$GENERATE" => Err(e(0, "$GENERATE is not supported".into())),
            _ => Err(e(0, format!("unknown directive {word}"))),
        }
    }
}

/// Parses the entries of `text[start..]` (which starts at a line boundary on
/// line `first_line` of the file `file`) with the running state `st`, as the
/// whole-file parser would at that point: the way [`Document::apply`] reads
/// the lines it wrote without re-parsing the untouched rest. Spans and lines
/// are those in `text`. Only blank lines, comments and records are expected
/// (the editor writes nothing else); a directive or any error is returned
/// as the first error.
///
/// [`Document::apply`]: super::Document::apply
pub fn parse_region(
    file: &Arc<str>,
    text: &str,
    start: usize,
    first_line: u32,
    st: &mut State,
) -> Result<Vec<Entry>, ZoneError> {
    let Some(region) = text.get(start..) else {
        return Err(err(file, first_line, 1, "region outside the text"));
    };
    let shift_line = |l: u32| l.saturating_add(first_line.saturating_sub(1));
    let mut out = Vec::new();
    for mut le in lex::lex(region) {
        if let Some(e) = le.errors.first() {
            return Err(err(file, shift_line(e.line), e.col, e.message.clone()));
        }
        le.start += start;
        le.end += start;
        le.first_line = shift_line(le.first_line);
        le.last_line = shift_line(le.last_line);
        for t in &mut le.tokens {
            t.start += start;
            t.end += start;
            t.text_start += start;
            t.text_end += start;
            t.line = shift_line(t.line);
        }
        let kind = if le.tokens.is_empty() {
            if le.has_comment {
                EntryKind::Comment
            } else {
                EntryKind::Blank
            }
        } else if !le.tokens[0].quoted && le.text(text, 0).starts_with('$') {
            let t = &le.tokens[0];
            return Err(err(file, t.line, t.col, "unexpected directive"));
        } else {
            EntryKind::Record(Arc::new(record(file, text, &le, st)?))
        };
        out.push(Entry {
            start: le.start,
            end: le.end,
            first_line: le.first_line,
            last_line: le.last_line,
            kind,
        });
    }
    Ok(out)
}

fn is_class(word: &str) -> bool {
    let w = word.to_ascii_uppercase();
    matches!(w.as_str(), "IN" | "CH" | "CS" | "HS" | "NONE" | "ANY")
        || (w.len() > 5 && w.starts_with("CLASS") && w[5..].bytes().all(|b| b.is_ascii_digit()))
}

/// Equal when written the same way at the same place of their entries:
/// the line parsed ([`RecordEntry::location`]) is compared relative to the
/// entry's first line at parse time, so a record moved by an edit equals
/// the same record read from the edited text.
impl PartialEq for RecordEntry {
    fn eq(&self, other: &Self) -> bool {
        let within = |r: &RecordEntry| r.location.line.wrapping_sub(r.entry_line);
        self.rr == other.rr
            && self.location.file == other.location.file
            && self.location.col == other.location.col
            && within(self) == within(other)
            && self.origin == other.origin
            && self.explicit_owner == other.explicit_owner
            && self.explicit_ttl == other.explicit_ttl
            && self.first_token == other.first_token
            && self.after_owner == other.after_owner
            && self.serial == other.serial
    }
}

impl RecordEntry {
    /// Where the record is written, in `entry` (the entry that holds it in
    /// the document read): the entry's first line plus the record's line
    /// within it, which no edit changes.
    pub fn location_in(&self, entry: &Entry) -> Location {
        let within = self.location.line.saturating_sub(self.entry_line);
        Location {
            file: self.location.file.clone(),
            line: entry.first_line.saturating_add(within),
            col: self.location.col,
        }
    }
}

/// RFC 1035 §5.1:
///
/// > `<domain-name><rr> [<comment>]`
/// > `<blank><rr> [<comment>]`
/// >
/// > `<rr>` contents take one of the following forms:
/// >
/// > `[<TTL>] [<class>] <type> <RDATA>`
/// > `[<class>] [<TTL>] <type> <RDATA>`
fn record(
    file: &Arc<str>,
    text: &str,
    le: &LexEntry,
    st: &mut State,
) -> Result<RecordEntry, ZoneError> {
    let at = RecordText { file, text, le };
    let toks = &le.tokens;
    let (owner, explicit_owner) = record_owner(&at, st)?;
    let first = usize::from(explicit_owner);
    let after_owner = toks.get(first).map_or(le.end, |t| t.start);
    let (ttl, i) = ttl_and_class(&at, first)?;
    let rtype = record_type(&at, i)?;
    let explicit_ttl = ttl.is_some();
    let ttl = record_ttl(&at, i, ttl, st)?;
    let rd = record_rdata(&at, i, rtype, &st.origin)?;
    Ok(RecordEntry {
        rr: Rr {
            name: owner,
            ttl,
            rtype,
            rdata: rd,
        },
        location: Location {
            file: file.clone(),
            line: toks[0].line,
            col: toks[0].col,
        },
        entry_line: le.first_line,
        origin: st.shared.of(&st.origin),
        explicit_owner,
        explicit_ttl,
        first_token: toks[0].start - le.start,
        after_owner: after_owner - le.start,
        serial: soa_serial(&at, i + 1, rtype),
    })
}

/// A record's entry (with at least one token) in its file, for its words
/// and for errors at a token.
struct RecordText<'a> {
    file: &'a Arc<str>,
    text: &'a str,
    le: &'a LexEntry,
}

impl RecordText<'_> {
    /// The error at token `i` (the last one when `i` is past the end).
    fn err(&self, i: usize, m: String) -> ZoneError {
        let toks = &self.le.tokens;
        let t = &toks[i.min(toks.len() - 1)];
        err(self.file, t.line, t.col, m)
    }

    /// Token `i`'s text, without quotes.
    fn word(&self, i: usize) -> &str {
        self.le.text(self.text, i)
    }
}

/// The owner, and whether it was written. "If the line begins with a
/// blank, then the owner is assumed to be the same as that of the previous
/// RR."
fn record_owner(at: &RecordText<'_>, st: &mut State) -> Result<(Name, bool), ZoneError> {
    let le = at.le;
    let explicit_owner = !le.leading_blank && le.tokens[0].start == le.start;
    if !explicit_owner {
        return match &st.last_owner {
            Some(o) => Ok((o.clone(), false)),
            None => Err(at.err(
                0,
                "blank owner name, but there is no previous record in this file".into(),
            )),
        };
    }
    if le.tokens[0].quoted {
        return Err(at.err(0, "an owner name cannot be a quoted string".into()));
    }
    let owner = parse_name(at.word(0), &st.origin).map_err(|m| at.err(0, m))?;
    st.last_owner = Some(owner.clone());
    Ok((owner, true))
}

/// "[<TTL>] [<class>]" in either order from token `i`: the TTL, if written,
/// and the index of the token after them (the type).
fn ttl_and_class(at: &RecordText<'_>, mut i: usize) -> Result<(Option<u32>, usize), ZoneError> {
    let mut ttl = None;
    let mut class_seen = false;
    while let Some(t) = at.le.tokens.get(i) {
        let w = at.word(i);
        if t.quoted {
            break;
        }
        if w.as_bytes().first().is_some_and(|b| b.is_ascii_digit()) {
            if ttl.is_some() {
                return Err(at.err(i, format!("a second TTL '{w}' (type expected)")));
            }
            ttl = Some(parse_ttl(w).map_err(|m| at.err(i, m))?);
        } else if is_class(w) {
            if class_seen {
                return Err(at.err(i, format!("a second class '{w}' (type expected)")));
            }
            if !w.eq_ignore_ascii_case("IN") && !w.eq_ignore_ascii_case("CLASS1") {
                return Err(at.err(
                    i,
                    format!("class {w} is not supported: zone files here hold class IN only"),
                ));
            }
            class_seen = true;
        } else {
            break;
        }
        i += 1;
    }
    Ok((ttl, i))
}

/// The record type at token `i`.
fn record_type(at: &RecordText<'_>, i: usize) -> Result<RecordType, ZoneError> {
    let Some(type_tok) = at.le.tokens.get(i) else {
        return Err(at.err(i, "missing record type".into()));
    };
    let tw = at.word(i);
    let rtype = if type_tok.quoted {
        None
    } else {
        rdata::parse_type(tw)
    };
    rtype.ok_or_else(|| at.err(i, format!("unknown record type '{tw}'")))
}

/// The record's TTL: as written, else RFC 2308 §4 ($TTL), then RFC 1035
/// §5.1: "Omitted class and TTL values are default to the last explicitly
/// stated values."
fn record_ttl(
    at: &RecordText<'_>,
    i: usize,
    written: Option<u32>,
    st: &mut State,
) -> Result<u32, ZoneError> {
    if let Some(t) = written {
        st.last_ttl = Some(t);
    }
    let ttl = match written.or(st.default_ttl).or(st.last_ttl) {
        Some(t) => t,
        None => return Err(at.err(i, "no TTL and no $TTL".into())),
    };
    st.last_ttl = Some(ttl);
    Ok(ttl)
}

/// The RDATA tokens after the type (token `i`).
fn rdata_tokens<'t>(at: &RecordText<'t>, i: usize) -> Vec<Token<'t>> {
    let le = at.le;
    (i + 1..le.tokens.len())
        .map(|k| Token {
            text: le.text(at.text, k),
            quoted: le.tokens[k].quoted,
        })
        .collect()
}

/// The RDATA after the type (token `i`), its errors at the token at fault.
fn record_rdata(
    at: &RecordText<'_>,
    i: usize,
    rtype: RecordType,
    origin: &Name,
) -> Result<Rdata, ZoneError> {
    let tokens = rdata_tokens(at, i);
    rdata::from_text(rtype, &tokens, origin).map_err(|re| {
        let k = if tokens.is_empty() {
            i
        } else {
            i + 1 + re.token.min(tokens.len() - 1)
        };
        at.err(
            k,
            format!("bad {} RDATA: {}", rdata::type_to_text(rtype), re.message),
        )
    })
}

/// The span of an SOA's serial (its third RDATA token, from
/// `first_rdata`), from the start of the entry; none for other types or
/// the generic `\#` form.
fn soa_serial(
    at: &RecordText<'_>,
    first_rdata: usize,
    rtype: RecordType,
) -> Option<(usize, usize)> {
    let le = at.le;
    let rd = le.tokens.get(first_rdata..)?;
    let generic = rd
        .first()
        .is_some_and(|t| !t.quoted && at.word(first_rdata) == "\\#");
    let first_quoted = rd.first().is_some_and(|t| t.quoted);
    if rtype != RecordType::SOA || rd.len() < 3 || first_quoted || generic {
        return None;
    }
    rd.get(2).map(|t| (t.start - le.start, t.end - le.start))
}

/// A TTL: decimal seconds, or units as in BIND (`1h30m`, `2w`; s m h d w,
/// any case). At most 2^31 - 1 (RFC 2181 §8).
pub fn parse_ttl(text: &str) -> Result<u32, String> {
    let bad = || format!("bad TTL '{text}'");
    if text.is_empty() || !text.as_bytes()[0].is_ascii_digit() {
        return Err(bad());
    }
    let mut total: u64 = 0;
    let mut num: Option<u64> = None;
    for b in text.bytes() {
        if b.is_ascii_digit() {
            let n = num.unwrap_or(0) * 10 + u64::from(b - b'0');
            if n > u64::from(u32::MAX) {
                return Err(format!("TTL '{text}' is out of range (max {MAX_TTL})"));
            }
            num = Some(n);
        } else {
            let mult: u64 = match b.to_ascii_lowercase() {
                b's' => 1,
                b'm' => 60,
                b'h' => 3600,
                b'd' => 86400,
                b'w' => 604_800,
                _ => return Err(bad()),
            };
            let Some(n) = num.take() else {
                return Err(bad());
            };
            total += n * mult;
            if total > u64::from(MAX_TTL) {
                return Err(format!("TTL '{text}' is out of range (max {MAX_TTL})"));
            }
        }
    }
    total += num.unwrap_or(0);
    u32::try_from(total)
        .ok()
        .filter(|t| *t <= MAX_TTL)
        .ok_or_else(|| format!("TTL '{text}' is out of range (max {MAX_TTL})"))
}

/// A domain name in master-file form (owners, `$ORIGIN`): `@` is the
/// origin, a name ending in an unescaped `.` is absolute, others are
/// relative to `origin`; `\X` and `\DDD` escapes (RFC 1035 §5.1). Read by
/// [`rdata::name_from_text`], like names in RDATA.
pub fn parse_name(text: &str, origin: &Name) -> Result<Name, String> {
    rdata::name_from_text(text, origin).map_err(|why| format!("bad domain name '{text}': {why}"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fixture;

    fn n(s: &str) -> Name {
        Name::from_ascii(s).expect("name")
    }

    const TTLS: &str = include_str!("../../tests/fixtures/zonefile/ttls.txt");

    #[test]
    fn ttl_units() {
        for c in fixture::cases("zonefile/ttls.txt", TTLS, 2) {
            let got = parse_ttl(c.field(0));
            match (c.field(1).strip_prefix("error: "), got) {
                (None, Ok(secs)) => assert_eq!(secs.to_string(), c.field(1), "{c}"),
                (Some(want), Err(e)) => assert!(e.contains(want), "{c}: {e:?} lacks {want:?}"),
                (_, got) => panic!("{c}: {got:?}"),
            }
        }
    }

    #[test]
    fn names() {
        let o = n("example.com.");
        assert_eq!(parse_name("@", &o), Ok(o.clone()));
        assert_eq!(parse_name("www", &o), Ok(n("www.example.com.")));
        assert_eq!(parse_name("www.other.", &o), Ok(n("www.other.")));
        assert_eq!(parse_name(".", &o), Ok(Name::root()));
        let dot = parse_name("a\\.b", &o).expect("escaped dot");
        assert_eq!(dot.iter().next(), Some(&b"a.b"[..]));
        let dec = parse_name("\\065", &o).expect("decimal escape");
        assert_eq!(dec.iter().next(), Some(&b"A"[..]));
        assert!(parse_name("a..b", &o).is_err());
        assert!(parse_name("\\256", &o).is_err());
        assert!(parse_name("\\1", &o).is_err());
        assert!(parse_name(&"a".repeat(64), &o).is_err());
        let long = vec!["abcdefghij"; 30].join(".");
        assert!(parse_name(&long, &o).is_err());
    }

    #[test]
    fn names_back_to_text() {
        use crate::rdata::owner_to_text as name_text;
        let o = n("example.com.");
        assert_eq!(name_text(&o, &o), "@");
        assert_eq!(name_text(&n("a.b.example.com."), &o), "a.b");
        assert_eq!(name_text(&n("WWW.Example.COM."), &o), "WWW");
        assert_eq!(name_text(&n("x.org."), &o), "x.org.");
        assert_eq!(name_text(&Name::root(), &o), ".");
        let odd = parse_name("a\\.b\\032c", &o).expect("odd");
        assert_eq!(name_text(&odd, &o), "a\\.b\\032c");
        assert_eq!(parse_name(&name_text(&odd, &o), &o), Ok(odd));
    }
}
