//! RDATA presentation format (zone-file text) <-> uncompressed wire form.
//!
//! STUB: interface only; implementation to follow.

use std::borrow::Cow;

use crate::rr::{Name, Rdata, RecordType};

/// One token of RDATA as the zone-file lexer delivers it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Token<'a> {
    /// The token's text as written, without surrounding quotes; `\X` and
    /// `\DDD` escapes are still in it (names and strings unescape differently).
    pub text: &'a str,
    /// Whether the token was a quoted string.
    pub quoted: bool,
}

/// Why RDATA text could not be converted; `token` indexes the token at fault.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct RdataError {
    pub token: usize,
    pub message: String,
}

/// Parses a type mnemonic or RFC 3597 `TYPEnnn`, case-insensitively.
pub fn parse_type(text: &str) -> Option<RecordType> {
    let _ = text;
    todo!()
}

/// The mnemonic for a type, or `TYPEnnn` (RFC 3597 §5).
pub fn type_to_text(rtype: RecordType) -> String {
    let _ = rtype;
    todo!()
}

/// Presentation form -> wire. Relative names are completed with `origin`;
/// `@` is the origin. Handles the RFC 3597 generic form `\# LEN HEX` for any type.
pub fn from_text(
    rtype: RecordType,
    tokens: &[Token<'_>],
    origin: &Name,
) -> Result<Rdata, RdataError> {
    let _ = (rtype, tokens, origin);
    todo!()
}

/// Wire -> presentation form. Names under `origin` (when given) are written
/// relative to it. Types without a known text form use `\# LEN HEX`.
pub fn to_text(rtype: RecordType, rdata: &Rdata, origin: Option<&Name>) -> String {
    let _ = (rtype, rdata, origin);
    todo!()
}

/// Canonical form for comparing RRs (RFC 4034 §6.2): names embedded in the
/// RDATA of the listed types lower-cased; other types unchanged.
pub fn canonical(rtype: RecordType, rdata: &Rdata) -> Cow<'_, [u8]> {
    let _ = rtype;
    Cow::Borrowed(rdata.as_bytes())
}
