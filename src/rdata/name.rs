//! Domain names in presentation form, both ways: the one parser and the one
//! printer of names, for names inside RDATA and for the zone file's owner
//! names and `$ORIGIN` (which `zonefile` reads and writes through these).
//!
//! RFC 1035 §5.1: "Domain names that end in a dot are called absolute, and
//! are taken as complete. Domain names which do not end in a dot are called
//! relative; the actual domain name is the concatenation of the relative
//! part with an origin"; "@" denotes the current origin; "\X where X is any
//! character other than a digit (0-9), is used to quote that character so
//! that its special meaning does not apply"; "\DDD where each D is a digit
//! is the octet corresponding to the decimal number described by DDD".

use std::fmt::Write as _;

use crate::rr::Name;

/// Why a presentation-form name is refused. Displays as the reason alone
/// (`empty label`); callers put the name and their own prefix around it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum NameError {
    #[error("empty")]
    Empty,
    #[error("empty label")]
    EmptyLabel,
    #[error("label longer than 63 octets")]
    LabelTooLong,
    /// RFC 1035 §2.3.4: "names 255 octets or less".
    #[error("longer than 255 octets")]
    TooLong,
    #[error("dangling backslash")]
    DanglingBackslash,
    #[error("\\DDD needs three digits")]
    ShortDecimal,
    #[error("\\DDD more than 255")]
    DecimalOver255,
}

/// A malformed escape (see [`escape_at`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum EscapeError {
    /// A backslash at the end of the text.
    Dangling,
    /// `\D` or `\DD` not followed by a third digit.
    ShortDecimal,
    /// `\DDD` above 255: the value.
    Over255(u32),
}

/// The one decoder of `\X` and `\DDD` (names and character-strings): the
/// octet the escape starting at `b[k]` (a backslash) stands for, and how
/// many bytes the escape takes.
pub(super) fn escape_at(b: &[u8], k: usize) -> Result<(u8, usize), EscapeError> {
    let Some(&next) = b.get(k + 1) else {
        return Err(EscapeError::Dangling);
    };
    if !next.is_ascii_digit() {
        return Ok((next, 2));
    }
    let d = b
        .get(k + 1..k + 4)
        .filter(|d| d.iter().all(u8::is_ascii_digit))
        .ok_or(EscapeError::ShortDecimal)?;
    let v = d
        .iter()
        .fold(0u32, |acc, &x| acc * 10 + u32::from(x - b'0'));
    let v = u8::try_from(v).map_err(|_| EscapeError::Over255(v))?;
    Ok((v, 4))
}

/// A domain name in presentation form -> uncompressed wire form: `@` is
/// `origin`, a name ending in an unescaped `.` is absolute, others are
/// completed with `origin`; escapes decoded, case preserved.
pub(super) fn name_wire(text: &str, origin: &Name) -> Result<Vec<u8>, NameError> {
    match text {
        "@" => return Ok(name_to_wire(origin)),
        "." => return Ok(vec![0]),
        "" => return Err(NameError::Empty),
        _ => {}
    }
    let b = text.as_bytes();
    let mut out = Vec::with_capacity(b.len() + 2);
    let mut label: Vec<u8> = Vec::new();
    let mut absolute = false;
    let mut k = 0usize;
    while let Some(&c) = b.get(k) {
        match c {
            b'.' => {
                push_wire_label(&mut out, &mut label)?;
                k += 1;
                absolute = k == b.len();
            }
            b'\\' => {
                let (octet, len) = escape_at(b, k).map_err(|e| match e {
                    EscapeError::Dangling => NameError::DanglingBackslash,
                    EscapeError::ShortDecimal => NameError::ShortDecimal,
                    EscapeError::Over255(_) => NameError::DecimalOver255,
                })?;
                label.push(octet);
                k += len;
            }
            _ => {
                label.push(c);
                k += 1;
            }
        }
    }
    if absolute {
        out.push(0);
    } else {
        push_wire_label(&mut out, &mut label)?;
        out.extend_from_slice(&name_to_wire(origin));
    }
    if out.len() > 255 {
        return Err(NameError::TooLong);
    }
    Ok(out)
}

/// Appends `label` (emptied) to the wire name `out`.
fn push_wire_label(out: &mut Vec<u8>, label: &mut Vec<u8>) -> Result<(), NameError> {
    let len = match u8::try_from(label.len()) {
        Ok(0) => return Err(NameError::EmptyLabel),
        Ok(n @ 1..=63) => n,
        _ => return Err(NameError::LabelTooLong),
    };
    out.push(len);
    out.append(label);
    Ok(())
}

/// Parses a domain name in presentation form (owner names, `$ORIGIN`,
/// names in RDATA): `@`, relative names completed with `origin`, `\.`,
/// `\X` and `\DDD` escapes, case preserved.
///
/// Prefer this to hickory's `Name::parse`, which (0.26.3) decodes `\DDD`
/// wrongly (`\065bc` -> `5bc`), lower-cases, rejects `@` and `\ `, and
/// accepts a dangling backslash.
pub fn name_from_text(text: &str, origin: &Name) -> Result<Name, NameError> {
    let wire = name_wire(text, origin)?;
    let mut decoder = hickory_proto::serialize::binary::BinDecoder::new(&wire);
    // The wire form is well formed (labels of 1..=63 octets, 255 in all),
    // which is all hickory checks; a refusal would be one of those.
    <Name as hickory_proto::serialize::binary::BinDecodable>::read(&mut decoder)
        .map_err(|_| NameError::TooLong)
}

/// Uncompressed wire form of a hickory name (treated as absolute).
pub(super) fn name_to_wire(name: &Name) -> Vec<u8> {
    let mut out = Vec::new();
    for label in name.iter() {
        out.push(label.len() as u8);
        out.extend_from_slice(label);
    }
    out.push(0);
    out
}

/// When a name at or below the origin is written relative to it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Relative {
    /// Only when its trailing labels are spelled exactly like the origin's,
    /// so that completing it again reproduces the same octets (RDATA).
    SameSpelling,
    /// Whatever the case (owner names, which compare without case).
    AnyCase,
}

/// Escapes one label for presentation (RFC 1035 §5.1 / RFC 4343 §2.1).
fn push_label(out: &mut String, label: &[u8]) {
    for &c in label {
        match c {
            b'.' | b'\\' | b'"' | b'(' | b')' | b';' | b'@' | b'$' => {
                out.push('\\');
                out.push(char::from(c));
            }
            0x21..=0x7e => out.push(char::from(c)),
            _ => {
                let _ = write!(out, "\\{c:03}");
            }
        }
    }
}

/// The one printer of names: absolute with a trailing dot, or relative to
/// `origin` (`@` for the origin itself) when it is at or below it as
/// `relative` says. A root origin gives absolute names.
fn labels_text(labels: &[&[u8]], origin: Option<&Name>, relative: Relative) -> String {
    if let Some(origin) = origin.filter(|o| !o.is_root()) {
        let olabels: Vec<&[u8]> = origin.iter().collect();
        if let Some(split) = labels.len().checked_sub(olabels.len()) {
            let (head, tail) = labels.split_at(split);
            let same = |(a, b): (&&[u8], &&[u8])| match relative {
                Relative::SameSpelling => a == b,
                Relative::AnyCase => a.eq_ignore_ascii_case(b),
            };
            if tail.iter().zip(&olabels).all(same) {
                return relative_text(head);
            }
        }
    }
    if labels.is_empty() {
        return ".".to_string();
    }
    let mut out = String::new();
    for l in labels {
        push_label(&mut out, l);
        out.push('.');
    }
    out
}

/// The labels of a name below the origin (none: `@`).
fn relative_text(head: &[&[u8]]) -> String {
    if head.is_empty() {
        return "@".to_string();
    }
    let mut out = String::new();
    for (i, l) in head.iter().enumerate() {
        if i > 0 {
            out.push('.');
        }
        push_label(&mut out, l);
    }
    out
}

/// A name in presentation form, as [`super::to_text`] writes names in
/// RDATA: relative to `origin` (`@` for the origin) when below it with the
/// same spelling, otherwise absolute with a trailing dot; special
/// characters escaped so that [`name_from_text`] reads it back exactly.
pub fn name_to_text(name: &Name, origin: Option<&Name>) -> String {
    let labels: Vec<&[u8]> = name.iter().collect();
    labels_text(&labels, origin, Relative::SameSpelling)
}

/// [`name_to_text`] of a name read from RDATA (as labels).
pub(super) fn name_text(labels: &[&[u8]], origin: Option<&Name>) -> String {
    labels_text(labels, origin, Relative::SameSpelling)
}

/// An owner name as written in a zone file whose origin is `origin`: `@`,
/// relative labels, or absolute with a trailing dot. Unlike
/// [`name_to_text`], an owner is written relative whenever it is at or
/// below the origin, whatever its case: that is how people write zone
/// files, and owners compare without case.
pub fn owner_to_text(name: &Name, origin: &Name) -> String {
    let labels: Vec<&[u8]> = name.iter().collect();
    labels_text(&labels, Some(origin), Relative::AnyCase)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn n(s: &str) -> Name {
        Name::from_ascii(s).expect("name")
    }

    #[test]
    fn escapes() {
        assert_eq!(escape_at(b"\\.", 0), Ok((b'.', 2)));
        assert_eq!(escape_at(b"a\\065b", 1), Ok((b'A', 4)));
        assert_eq!(escape_at(b"\\", 0), Err(EscapeError::Dangling));
        assert_eq!(escape_at(b"\\1", 0), Err(EscapeError::ShortDecimal));
        assert_eq!(escape_at(b"\\12x", 0), Err(EscapeError::ShortDecimal));
        assert_eq!(escape_at(b"\\256", 0), Err(EscapeError::Over255(256)));
    }

    #[test]
    fn each_refusal_has_its_reason() {
        let o = n("example.com.");
        let long = vec!["abcdefghij"; 30].join(".");
        for (text, why) in [
            ("", NameError::Empty),
            ("a..b", NameError::EmptyLabel),
            (".a", NameError::EmptyLabel),
            ("a\\", NameError::DanglingBackslash),
            ("\\1", NameError::ShortDecimal),
            ("\\256", NameError::DecimalOver255),
            (&"a".repeat(64), NameError::LabelTooLong),
            (&long, NameError::TooLong),
        ] {
            assert_eq!(name_from_text(text, &o), Err(why), "{text:?}");
        }
        // 63-octet labels are fine; a relative name counts the origin too.
        let ok = vec!["a".repeat(63); 3].join(".");
        assert!(name_from_text(&ok, &o).is_ok());
        let over = vec!["a".repeat(63); 4].join(".");
        assert_eq!(name_from_text(&over, &o), Err(NameError::TooLong));
    }

    #[test]
    fn escaped_trailing_dot_is_relative() {
        let o = n("example.com.");
        let name = name_from_text("a\\.", &o).expect("name");
        assert_eq!(name.iter().next(), Some(&b"a."[..]));
        assert_eq!(name.num_labels(), 3);
    }

    #[test]
    fn owners_are_relative_whatever_their_case_rdata_names_only_when_spelled_alike() {
        let o = n("example.com.");
        let www = n("WWW.Example.COM.");
        assert_eq!(owner_to_text(&www, &o), "WWW");
        assert_eq!(name_to_text(&www, Some(&o)), "WWW.Example.COM.");
        assert_eq!(owner_to_text(&n("x.org."), &o), "x.org.");
        assert_eq!(owner_to_text(&n("a.b."), &Name::root()), "a.b.");
    }
}
