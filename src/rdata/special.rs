//! Types whose presentation form is not a flat field list: LOC, IPSECKEY,
//! HIP, SVCB/HTTPS.

use super::{Res, Token, err};
use crate::rr::Name;

pub(super) fn from_text(
    code: u16,
    name: &str,
    tokens: &[Token<'_>],
    origin: &Name,
) -> Res<Vec<u8>> {
    let _ = (code, tokens, origin);
    Err(err(
        0,
        format!("{name}: presentation format not implemented yet; use \\# <length> <hex>"),
    ))
}

pub(super) fn to_text(code: u16, wire: &[u8], origin: Option<&Name>) -> Option<String> {
    let _ = (code, wire, origin);
    None
}

pub(super) fn is_valid(code: u16, wire: &[u8]) -> bool {
    let _ = (code, wire);
    true
}
