//! RDATA presentation format (zone-file text) <-> uncompressed wire form.
//!
//! # Design
//!
//! There is **one representation** of RDATA: uncompressed wire form
//! ([`Rdata`]), for every type, known or not (RFC 3597 §3). This module only
//! converts between that and the zone-file presentation form:
//!
//! - [`from_text`] turns the RDATA tokens of one zone-file record into wire
//!   bytes. Most types are described by a **per-type field list** (see
//!   `fields_of`): a sequence of field kinds such as "16-bit number",
//!   "domain name", "character-string", "base64 to the end". One
//!   interpreter parses the tokens against that list; another formats wire
//!   bytes against the same list ([`to_text`]), so the two directions cannot
//!   drift apart. The few types whose text form is not a flat field list
//!   (LOC, SVCB/HTTPS, IPSECKEY, HIP) have dedicated functions.
//! - The RFC 3597 generic form `\# LEN HEX` is accepted for every type; for
//!   known types the octets must decode as that type.
//! - [`to_text`] falls back to `\# LEN HEX` whenever the wire form cannot be
//!   decoded or has no text form, so `from_text(to_text(x)) == x` always.
//! - [`crate::rr::canonical`] lower-cases the names embedded in RDATA for
//!   the types listed in RFC 4034 §6.2 (as corrected by RFC 6840 §5.1). It
//!   lives in `rr`, which needs it for `Rr::same_rr`, with the wire cursor
//!   this module reads with (`rr::wire`): imports go `rdata` -> `rr`
//!   only. Its table test stays here, as it builds its cases with
//!   [`from_text`].
//!
//! Types are dispatched on their numeric code (`u16::from(rtype)`), so
//! `RecordType::Unknown(1)` behaves like `RecordType::A`.
//!
//! Also public: [`is_valid_wire`] (is wire RDATA well-formed for its type,
//! i.e. will its text form be accepted back), and the one parser and
//! printer of names in presentation form (`name.rs`): [`name_from_text`],
//! [`name_to_text`] and [`owner_to_text`], which the zone-file reader and
//! editor use for owner names and `$ORIGIN` too.
//!
//! No text form (RFC 3597 `\#` only): NULL, WKS, X25, ISDN, NSAP, GPOS,
//! NXT, A6, APL, TKEY/TSIG and unassigned codes. SVCB/HTTPS values with
//! backslash escapes are refused on input (hickory mishandles them), and
//! printed as `\#` when a value would need escaping.
//!
//! Errors carry the index of the offending token; when a token is *missing*
//! the index is that of the last token (or 0 when there are none), so it is
//! always a valid index for a non-empty token list.

mod codec;
mod name;
mod special;

use std::fmt::Write as _;
use std::net::{Ipv4Addr, Ipv6Addr};

use crate::rr::wire::Reader;
use crate::rr::{Name, Rdata, RecordType};

pub use name::{NameError, name_from_text, name_to_text, owner_to_text};

use codec::{
    base32hex_decode, base32hex_encode, base64_decode, base64_encode, hex_decode, hex_encode,
};
#[cfg(test)]
use name::name_to_wire;
use name::{EscapeError, name_text};

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

type Res<T> = Result<T, RdataError>;

fn err(token: usize, message: impl Into<String>) -> RdataError {
    RdataError {
        token,
        message: message.into(),
    }
}

// ---------------------------------------------------------------------------
// Type mnemonics
// ---------------------------------------------------------------------------

/// IANA "Resource Record (RR) TYPEs" mnemonics we know by name.
const TYPE_NAMES: &[(u16, &str)] = &[
    (1, "A"),
    (2, "NS"),
    (3, "MD"),
    (4, "MF"),
    (5, "CNAME"),
    (6, "SOA"),
    (7, "MB"),
    (8, "MG"),
    (9, "MR"),
    (10, "NULL"),
    (11, "WKS"),
    (12, "PTR"),
    (13, "HINFO"),
    (14, "MINFO"),
    (15, "MX"),
    (16, "TXT"),
    (17, "RP"),
    (18, "AFSDB"),
    (19, "X25"),
    (20, "ISDN"),
    (21, "RT"),
    (22, "NSAP"),
    (23, "NSAP-PTR"),
    (24, "SIG"),
    (25, "KEY"),
    (26, "PX"),
    (27, "GPOS"),
    (28, "AAAA"),
    (29, "LOC"),
    (30, "NXT"),
    (33, "SRV"),
    (35, "NAPTR"),
    (36, "KX"),
    (37, "CERT"),
    (38, "A6"),
    (39, "DNAME"),
    (41, "OPT"),
    (42, "APL"),
    (43, "DS"),
    (44, "SSHFP"),
    (45, "IPSECKEY"),
    (46, "RRSIG"),
    (47, "NSEC"),
    (48, "DNSKEY"),
    (49, "DHCID"),
    (50, "NSEC3"),
    (51, "NSEC3PARAM"),
    (52, "TLSA"),
    (53, "SMIMEA"),
    (55, "HIP"),
    (59, "CDS"),
    (60, "CDNSKEY"),
    (61, "OPENPGPKEY"),
    (62, "CSYNC"),
    (63, "ZONEMD"),
    (64, "SVCB"),
    (65, "HTTPS"),
    (99, "SPF"),
    (108, "EUI48"),
    (109, "EUI64"),
    (249, "TKEY"),
    (250, "TSIG"),
    (251, "IXFR"),
    (252, "AXFR"),
    (253, "MAILB"),
    (254, "MAILA"),
    (255, "ANY"),
    (256, "URI"),
    (257, "CAA"),
    (32769, "DLV"),
];

/// Parses a type mnemonic or RFC 3597 `TYPEnnn`, case-insensitively.
///
/// The result is always `RecordType::from(code)`, so it compares equal to
/// what hickory produces when decoding the same code from the wire (types
/// hickory has no variant for, e.g. LOC, become `RecordType::Unknown(29)`).
pub fn parse_type(text: &str) -> Option<RecordType> {
    type_code(text).map(RecordType::from)
}

fn type_code(text: &str) -> Option<u16> {
    if let Some(&(code, _)) = TYPE_NAMES
        .iter()
        .find(|(_, name)| name.eq_ignore_ascii_case(text))
    {
        return Some(code);
    }
    // RFC 3597 §5: "TYPE" immediately followed by the decimal type number.
    let prefix = text.get(..4)?;
    if !prefix.eq_ignore_ascii_case("TYPE") {
        return None;
    }
    parse_decimal(text.get(4..)?).and_then(|v| u16::try_from(v).ok())
}

/// The mnemonic for a type, or `TYPEnnn` (RFC 3597 §5).
///
/// Works on the numeric code, so hickory's private `ANAME` (65305) prints as
/// `TYPE65305` and parses back to the same value.
pub fn type_to_text(rtype: RecordType) -> String {
    let code = u16::from(rtype);
    match TYPE_NAMES.iter().find(|(c, _)| *c == code) {
        Some((_, name)) => (*name).to_string(),
        None => format!("TYPE{code}"),
    }
}

fn code_to_text(code: u16) -> String {
    type_to_text(RecordType::from(code))
}

// ---------------------------------------------------------------------------
// Field lists
// ---------------------------------------------------------------------------

/// Kinds of presentation fields. "Tail" kinds consume every remaining token
/// (and, on the wire, every remaining octet) and must come last.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum K {
    U8,
    U16,
    U32,
    /// 32-bit period; text may use TTL units (`1h30m`, RFC 2308 §4 / BIND).
    Period,
    /// Uncompressed domain name.
    Name,
    /// One `<character-string>` (RFC 1035 §3.3): length octet + octets.
    Str,
    /// Tail: one or more character-strings (TXT, SPF).
    Strs,
    Ipv4,
    Ipv6,
    /// Tail: hex, may be split over tokens, at least one token.
    Hex,
    /// Tail: base64, may be split over tokens, at least one token.
    Base64,
    /// DNSSEC algorithm number or mnemonic (RFC 4034 Appendix A.1).
    Alg,
    /// A type mnemonic as a 16-bit number (RRSIG "type covered").
    Type,
    /// RRSIG/SIG time: YYYYMMDDHHmmSS or a decimal integer (RFC 4034 §3.2).
    Time,
    /// Tail: NSEC type bitmap (RFC 4034 §4.1.2), possibly empty.
    Bitmap,
    /// CERT type number or mnemonic (RFC 4398 §2.1).
    CertType,
    Eui48,
    Eui64,
    /// NSEC3 next hashed owner: base32hex, length octet on the wire.
    B32,
    /// NSEC3 salt: hex or `-`, length octet on the wire.
    Salt,
    /// Tail: one string that runs to the end of RDATA, no length octet
    /// (URI target, CAA value). Always printed quoted.
    Raw,
    /// CAA tag: length octet + letters/digits.
    CaaTag,
}

impl K {
    fn is_tail(self) -> bool {
        matches!(self, K::Strs | K::Hex | K::Base64 | K::Bitmap | K::Raw)
    }
}

type Fields = &'static [(K, &'static str)];

const F_NAME: Fields = &[(K::Name, "target")];
const F_A: Fields = &[(K::Ipv4, "address")];
const F_AAAA: Fields = &[(K::Ipv6, "address")];
const F_SOA: Fields = &[
    (K::Name, "mname"),
    (K::Name, "rname"),
    (K::U32, "serial"),
    (K::Period, "refresh"),
    (K::Period, "retry"),
    (K::Period, "expire"),
    (K::Period, "minimum"),
];
const F_MX: Fields = &[(K::U16, "preference"), (K::Name, "exchange")];
const F_AFSDB: Fields = &[(K::U16, "subtype"), (K::Name, "hostname")];
const F_RT: Fields = &[(K::U16, "preference"), (K::Name, "intermediate-host")];
const F_KX: Fields = &[(K::U16, "preference"), (K::Name, "exchanger")];
const F_PX: Fields = &[
    (K::U16, "preference"),
    (K::Name, "map822"),
    (K::Name, "mapx400"),
];
const F_TXT: Fields = &[(K::Strs, "text")];
const F_HINFO: Fields = &[(K::Str, "cpu"), (K::Str, "os")];
const F_MINFO: Fields = &[(K::Name, "rmailbx"), (K::Name, "emailbx")];
const F_RP: Fields = &[(K::Name, "mbox"), (K::Name, "txt-domain")];
const F_SRV: Fields = &[
    (K::U16, "priority"),
    (K::U16, "weight"),
    (K::U16, "port"),
    (K::Name, "target"),
];
const F_NAPTR: Fields = &[
    (K::U16, "order"),
    (K::U16, "preference"),
    (K::Str, "flags"),
    (K::Str, "services"),
    (K::Str, "regexp"),
    (K::Name, "replacement"),
];
const F_CAA: Fields = &[(K::U8, "flags"), (K::CaaTag, "tag"), (K::Raw, "value")];
const F_URI: Fields = &[(K::U16, "priority"), (K::U16, "weight"), (K::Raw, "target")];
const F_SSHFP: Fields = &[
    (K::U8, "algorithm"),
    (K::U8, "fp-type"),
    (K::Hex, "fingerprint"),
];
const F_TLSA: Fields = &[
    (K::U8, "usage"),
    (K::U8, "selector"),
    (K::U8, "matching-type"),
    (K::Hex, "certificate-data"),
];
const F_DS: Fields = &[
    (K::U16, "key-tag"),
    (K::Alg, "algorithm"),
    (K::U8, "digest-type"),
    (K::Hex, "digest"),
];
const F_DNSKEY: Fields = &[
    (K::U16, "flags"),
    (K::U8, "protocol"),
    (K::Alg, "algorithm"),
    (K::Base64, "public-key"),
];
const F_RRSIG: Fields = &[
    (K::Type, "type-covered"),
    (K::Alg, "algorithm"),
    (K::U8, "labels"),
    (K::Period, "original-ttl"),
    (K::Time, "expiration"),
    (K::Time, "inception"),
    (K::U16, "key-tag"),
    (K::Name, "signer"),
    (K::Base64, "signature"),
];
const F_NSEC: Fields = &[(K::Name, "next-domain"), (K::Bitmap, "types")];
const F_NSEC3: Fields = &[
    (K::U8, "hash-algorithm"),
    (K::U8, "flags"),
    (K::U16, "iterations"),
    (K::Salt, "salt"),
    (K::B32, "next-hashed-owner"),
    (K::Bitmap, "types"),
];
const F_NSEC3PARAM: Fields = &[
    (K::U8, "hash-algorithm"),
    (K::U8, "flags"),
    (K::U16, "iterations"),
    (K::Salt, "salt"),
];
const F_BASE64: Fields = &[(K::Base64, "data")];
const F_CERT: Fields = &[
    (K::CertType, "type"),
    (K::U16, "key-tag"),
    (K::Alg, "algorithm"),
    (K::Base64, "certificate"),
];
const F_CSYNC: Fields = &[(K::U32, "serial"), (K::U16, "flags"), (K::Bitmap, "types")];
const F_ZONEMD: Fields = &[
    (K::U32, "serial"),
    (K::U8, "scheme"),
    (K::U8, "hash-algorithm"),
    (K::Hex, "digest"),
];
const F_EUI48: Fields = &[(K::Eui48, "address")];
const F_EUI64: Fields = &[(K::Eui64, "address")];

/// The field list of a type whose text form is a flat sequence of fields.
fn fields_of(code: u16) -> Option<Fields> {
    Some(match code {
        // NS, MD, MF, CNAME, MB, MG, MR, PTR, DNAME: a single domain name.
        2 | 3 | 4 | 5 | 7 | 8 | 9 | 12 | 39 => F_NAME,
        1 => F_A,
        6 => F_SOA,
        13 => F_HINFO,
        14 => F_MINFO,
        15 => F_MX,
        16 | 99 => F_TXT,
        17 => F_RP,
        18 => F_AFSDB,
        21 => F_RT,
        24 | 46 => F_RRSIG,
        25 | 48 | 60 => F_DNSKEY,
        26 => F_PX,
        28 => F_AAAA,
        33 => F_SRV,
        35 => F_NAPTR,
        36 => F_KX,
        37 => F_CERT,
        43 | 59 | 32769 => F_DS,
        44 => F_SSHFP,
        47 => F_NSEC,
        49 | 61 => F_BASE64,
        50 => F_NSEC3,
        51 => F_NSEC3PARAM,
        52 | 53 => F_TLSA,
        62 => F_CSYNC,
        63 => F_ZONEMD,
        108 => F_EUI48,
        109 => F_EUI64,
        256 => F_URI,
        257 => F_CAA,
        _ => return None,
    })
}

/// Types with a dedicated (non-field-list) text form.
fn has_special_form(code: u16) -> bool {
    matches!(code, 29 | 45 | 55 | 64 | 65)
}

/// RFC 6895 §3.1: OPT (41) and the range 128-255 are meta-types / QTYPEs,
/// which never appear in zone data.
fn is_meta(code: u16) -> bool {
    code == 41 || (128..=255).contains(&code)
}

fn describe(name: &str, fields: Fields) -> String {
    let tail = fields.last().is_some_and(|(k, _)| k.is_tail());
    let min = if fields.last().is_some_and(|(k, _)| *k == K::Bitmap) {
        fields.len() - 1
    } else {
        fields.len()
    };
    let list: Vec<&str> = fields.iter().map(|(_, n)| *n).collect();
    format!(
        "{name}: expected {}{} field{} ({})",
        if tail { "at least " } else { "" },
        min,
        if min == 1 { "" } else { "s" },
        list.join(" ")
    )
}

// ---------------------------------------------------------------------------
// Text -> wire
// ---------------------------------------------------------------------------

/// Presentation form -> wire. Relative names are completed with `origin`;
/// `@` is the origin. Handles the RFC 3597 generic form `\# LEN HEX` for any type.
pub fn from_text(
    rtype: RecordType,
    tokens: &[Token<'_>],
    origin: &Name,
) -> Result<Rdata, RdataError> {
    let code = u16::from(rtype);
    let name = type_to_text(rtype);
    if is_meta(code) {
        return Err(err(
            0,
            format!("{name} is a meta-type and cannot appear in zone data"),
        ));
    }
    let wire = if tokens.first().is_some_and(|t| !t.quoted && t.text == "\\#") {
        generic_from_text(code, &name, tokens)?
    } else if let Some(fields) = fields_of(code) {
        fields_from_text(&name, fields, tokens, origin)?
    } else if has_special_form(code) {
        special::from_text(code, &name, tokens, origin)?
    } else {
        return Err(err(
            0,
            format!(
                "{name} has no supported presentation format; use the RFC 3597 generic form \
                 \\# <length> <hex>"
            ),
        ));
    };
    if wire.len() > usize::from(u16::MAX) {
        return Err(err(
            tokens.len().saturating_sub(1),
            format!("{name}: RDATA is {} octets, more than 65535", wire.len()),
        ));
    }
    Ok(Rdata::new(wire))
}

/// RFC 3597 §5: "\# <length> <hex>...": "The RDATA is ... the \# token,
/// ... an unsigned decimal integer specifying the RDATA length in octets,
/// and ... the data encoded as hexadecimal, possibly split into several
/// whitespace-separated words."
fn generic_from_text(code: u16, name: &str, tokens: &[Token<'_>]) -> Res<Vec<u8>> {
    let len_tok = tokens.get(1).ok_or_else(|| {
        err(
            0,
            format!("{name}: \\# must be followed by the RDATA length and hex data"),
        )
    })?;
    let len = parse_decimal(len_tok.text)
        .filter(|&v| v <= u64::from(u16::MAX))
        .ok_or_else(|| {
            err(
                1,
                format!(
                    "{name}: invalid \\# length \"{}\" (must be 0..=65535)",
                    len_tok.text
                ),
            )
        })?;
    let mut data = Vec::new();
    for (i, tok) in tokens.iter().enumerate().skip(2) {
        let bytes = hex_decode(tok.text)
            .map_err(|e| err(i, format!("{name}: \\# data \"{}\": {e}", tok.text)))?;
        data.extend_from_slice(&bytes);
    }
    if data.len() as u64 != len {
        return Err(err(
            tokens.len().saturating_sub(1),
            format!(
                "{name}: \\# length {len} does not match the {} octets of hex data",
                data.len()
            ),
        ));
    }
    if len == 0 && tokens.len() > 2 {
        return Err(err(
            2,
            format!("{name}: \\# 0 must not be followed by data"),
        ));
    }
    if !wire_is_valid(code, &data) {
        return Err(err(
            tokens.len().saturating_sub(1),
            format!("{name}: \\# data is not valid {name} RDATA"),
        ));
    }
    Ok(data)
}

/// Whether wire RDATA is well-formed for its type: what [`from_text`]
/// requires of `\#` data for known types. Types without a known structure
/// (NULL, unknown codes) accept any octets; meta-types none.
///
/// [`to_text`] of RDATA that is *not* valid yields a `\#` form that
/// [`from_text`] rejects, so callers holding RDATA from the network (e.g.
/// an UPDATE) should check this before writing it to a zone file.
pub fn is_valid_wire(rtype: RecordType, rdata: &Rdata) -> bool {
    let code = u16::from(rtype);
    !is_meta(code)
        && rdata.as_bytes().len() <= usize::from(u16::MAX)
        && wire_is_valid(code, rdata.as_bytes())
}

/// Whether wire RDATA decodes as its type (always true for types without a
/// known structure).
fn wire_is_valid(code: u16, wire: &[u8]) -> bool {
    if let Some(fields) = fields_of(code) {
        return fields_to_text(fields, wire, None, true).is_some();
    }
    if has_special_form(code) {
        return special::is_valid(code, wire);
    }
    true
}

fn fields_from_text(
    name: &str,
    fields: Fields,
    tokens: &[Token<'_>],
    origin: &Name,
) -> Res<Vec<u8>> {
    let mut out = Vec::new();
    let mut i = 0usize;
    let last = tokens.len().saturating_sub(1);
    let missing = || {
        err(
            last,
            format!("{}, found {}", describe(name, fields), tokens.len()),
        )
    };
    for &(kind, field) in fields {
        if kind.is_tail() {
            let rest = tokens.get(i..).unwrap_or(&[]);
            if rest.is_empty() && kind != K::Bitmap {
                return Err(missing());
            }
            parse_tail(kind, name, field, rest, i, &mut out)?;
            i = tokens.len();
            continue;
        }
        let tok = tokens.get(i).ok_or_else(missing)?;
        parse_field(kind, name, field, tok, i, origin, &mut out)?;
        i += 1;
    }
    if i < tokens.len() {
        return Err(err(
            i,
            format!("{}, found {}", describe(name, fields), tokens.len()),
        ));
    }
    Ok(out)
}

fn parse_tail(
    kind: K,
    ty: &str,
    field: &str,
    rest: &[Token<'_>],
    first: usize,
    out: &mut Vec<u8>,
) -> Res<()> {
    let last = first + rest.len().saturating_sub(1);
    match kind {
        K::Strs => {
            for (j, tok) in rest.iter().enumerate() {
                let s = parse_char_string(tok.text, first + j)?;
                push_str(out, &s, first + j)?;
            }
        }
        K::Hex | K::Base64 => {
            let mut text = String::new();
            for tok in rest {
                text.push_str(tok.text);
            }
            let bytes = if kind == K::Hex {
                hex_decode(&text)
            } else {
                base64_decode(&text)
            }
            .map_err(|e| err(last, format!("{ty} {field}: {e}")))?;
            if bytes.is_empty() {
                return Err(err(last, format!("{ty} {field}: must not be empty")));
            }
            out.extend_from_slice(&bytes);
        }
        K::Bitmap => {
            let mut types = Vec::with_capacity(rest.len());
            for (j, tok) in rest.iter().enumerate() {
                let code = type_code(tok.text).ok_or_else(|| {
                    err(
                        first + j,
                        format!("{ty} {field}: unknown type \"{}\"", tok.text),
                    )
                })?;
                types.push(code);
            }
            out.extend_from_slice(&encode_bitmap(&types));
        }
        K::Raw => {
            if rest.len() > 1 {
                return Err(err(
                    first + 1,
                    format!("{ty}: {field} must be a single (quoted) string"),
                ));
            }
            if let Some(tok) = rest.first() {
                out.extend_from_slice(&unescape(tok.text, first)?);
            }
        }
        _ => {}
    }
    Ok(())
}

fn parse_field(
    kind: K,
    ty: &str,
    field: &str,
    tok: &Token<'_>,
    i: usize,
    origin: &Name,
    out: &mut Vec<u8>,
) -> Res<()> {
    let text = tok.text;
    let bad = |what: &str| err(i, format!("{ty} {field}: invalid {what} \"{text}\""));
    match kind {
        K::U8 => out.push(parse_uint(text, u8::MAX.into(), ty, field, i)? as u8),
        K::U16 => out.extend_from_slice(
            &(parse_uint(text, u16::MAX.into(), ty, field, i)? as u16).to_be_bytes(),
        ),
        K::U32 => out.extend_from_slice(
            &(parse_uint(text, u32::MAX.into(), ty, field, i)? as u32).to_be_bytes(),
        ),
        K::Period => {
            let v = parse_period(text).ok_or_else(|| bad("period"))?;
            out.extend_from_slice(&v.to_be_bytes());
        }
        K::Name => out.extend_from_slice(&wire_name(text, origin, i)?),
        K::Str => {
            let s = parse_char_string(text, i)?;
            push_str(out, &s, i)?;
        }
        K::Ipv4 => {
            let a: Ipv4Addr = text
                .parse()
                .map_err(|_| err(i, format!("invalid IPv4 address \"{text}\"")))?;
            out.extend_from_slice(&a.octets());
        }
        K::Ipv6 => {
            let a: Ipv6Addr = text
                .parse()
                .map_err(|_| err(i, format!("invalid IPv6 address \"{text}\"")))?;
            out.extend_from_slice(&a.octets());
        }
        K::Alg => {
            let v = match alg_code(text) {
                Some(v) => v,
                None => parse_uint(text, u8::MAX.into(), ty, field, i)? as u8,
            };
            out.push(v);
        }
        K::Type => {
            let v = type_code(text).ok_or_else(|| bad("type"))?;
            out.extend_from_slice(&v.to_be_bytes());
        }
        K::Time => {
            let v = parse_time(text).ok_or_else(|| {
                err(
                    i,
                    format!(
                        "{ty} {field}: invalid time \"{text}\" (expected YYYYMMDDHHmmSS \
                         between 1970 and 2106, or seconds since 1970)"
                    ),
                )
            })?;
            out.extend_from_slice(&v.to_be_bytes());
        }
        K::CertType => {
            let v = match cert_type_code(text) {
                Some(v) => v,
                None => parse_uint(text, u16::MAX.into(), ty, field, i)? as u16,
            };
            out.extend_from_slice(&v.to_be_bytes());
        }
        K::Eui48 | K::Eui64 => {
            let n = if kind == K::Eui48 { 6 } else { 8 };
            out.extend_from_slice(&parse_eui(text, n).ok_or_else(|| bad("EUI address"))?);
        }
        K::B32 => out.extend_from_slice(&parse_b32(ty, field, text, i)?),
        K::Salt => out.extend_from_slice(&parse_salt(ty, field, text, i)?),
        K::CaaTag => out.extend_from_slice(&parse_caa_tag(text, i)?),
        K::Strs | K::Hex | K::Base64 | K::Bitmap | K::Raw => {}
    }
    Ok(())
}

/// NSEC3 next hashed owner: base32hex, as a length-prefixed string.
fn parse_b32(ty: &str, field: &str, text: &str, i: usize) -> Res<Vec<u8>> {
    let bytes = base32hex_decode(text).map_err(|e| err(i, format!("{ty} {field}: {e}")))?;
    let len = u8::try_from(bytes.len())
        .ok()
        .filter(|&l| l > 0)
        .ok_or_else(|| err(i, format!("{ty} {field}: must be 1 to 255 octets")))?;
    let mut out = vec![len];
    out.extend_from_slice(&bytes);
    Ok(out)
}

/// NSEC3(PARAM) salt: hex, or "-" for none, as a length-prefixed string.
/// RFC 5155 §3.3: "The Salt field is represented as "-" if the Salt Length
/// field has a value of 0."
fn parse_salt(ty: &str, field: &str, text: &str, i: usize) -> Res<Vec<u8>> {
    let bytes = if text == "-" {
        Vec::new()
    } else {
        hex_decode(text).map_err(|e| err(i, format!("{ty} {field}: {e}")))?
    };
    if bytes.is_empty() && text != "-" {
        return Err(err(
            i,
            format!("{ty} {field}: empty salt must be written \"-\""),
        ));
    }
    let len = u8::try_from(bytes.len())
        .map_err(|_| err(i, format!("{ty} {field}: longer than 255 octets")))?;
    let mut out = vec![len];
    out.extend_from_slice(&bytes);
    Ok(out)
}

/// A CAA tag as a length-prefixed string. RFC 8659 §4.1: "The tag length
/// MUST be at least 1"; tags "MAY contain ASCII characters "a" through
/// "z", "A" through "Z", and the numbers 0 through 9".
fn parse_caa_tag(text: &str, i: usize) -> Res<Vec<u8>> {
    if text.is_empty() || text.len() > 255 || !text.bytes().all(|c| c.is_ascii_alphanumeric()) {
        return Err(err(
            i,
            format!("CAA tag \"{text}\" must be 1 to 255 ASCII letters and digits"),
        ));
    }
    let mut out = vec![text.len() as u8];
    out.extend_from_slice(text.as_bytes());
    Ok(out)
}

fn push_str(out: &mut Vec<u8>, s: &[u8], i: usize) -> Res<()> {
    let len = u8::try_from(s.len()).map_err(|_| {
        err(
            i,
            format!(
                "character-string is {} octets, more than 255 (RFC 1035 §3.3)",
                s.len()
            ),
        )
    })?;
    out.push(len);
    out.extend_from_slice(s);
    Ok(())
}

/// Unsigned decimal digits only (no sign, no spaces), at most u64.
fn parse_decimal(text: &str) -> Option<u64> {
    if text.is_empty() || !text.bytes().all(|c| c.is_ascii_digit()) {
        return None;
    }
    text.parse().ok()
}

fn parse_uint(text: &str, max: u64, ty: &str, field: &str, i: usize) -> Res<u64> {
    parse_decimal(text).filter(|&v| v <= max).ok_or_else(|| {
        err(
            i,
            format!("{ty} {field}: invalid number \"{text}\" (must be 0..={max})"),
        )
    })
}

/// A period in seconds: a plain number, or BIND-style units
/// (`1w2d3h4m5s`, case-insensitive; a trailing bare number is seconds).
pub(crate) fn parse_period(text: &str) -> Option<u32> {
    if let Some(v) = parse_decimal(text) {
        return u32::try_from(v).ok();
    }
    let mut total: u64 = 0;
    let mut num: Option<u64> = None;
    for c in text.bytes() {
        if c.is_ascii_digit() {
            let d = u64::from(c - b'0');
            num = Some(num.unwrap_or(0).checked_mul(10)?.checked_add(d)?);
            continue;
        }
        let mult: u64 = match c.to_ascii_lowercase() {
            b's' => 1,
            b'm' => 60,
            b'h' => 3600,
            b'd' => 86_400,
            b'w' => 604_800,
            _ => return None,
        };
        total = total.checked_add(num.take()?.checked_mul(mult)?)?;
    }
    if let Some(n) = num {
        total = total.checked_add(n)?;
    }
    if text.is_empty() {
        return None;
    }
    u32::try_from(total).ok()
}

/// Removes `\X` and `\DDD` escapes (RFC 1035 §5.1): "\X where X is any
/// character other than a digit (0-9), is used to quote that character";
/// "\DDD where each D is a digit is the octet corresponding to the decimal
/// number described by DDD".
fn unescape(text: &str, i: usize) -> Res<Vec<u8>> {
    let b = text.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut k = 0usize;
    while let Some(&c) = b.get(k) {
        if c != b'\\' {
            out.push(c);
            k += 1;
            continue;
        }
        let (octet, len) = name::escape_at(b, k).map_err(|e| {
            let why = match e {
                EscapeError::Dangling => format!("dangling backslash at the end of \"{text}\""),
                EscapeError::ShortDecimal => {
                    format!("escape \\DDD needs three digits in \"{text}\"")
                }
                EscapeError::Over255(v) => format!("escape \\{v} is more than 255 in \"{text}\""),
            };
            err(i, why)
        })?;
        out.push(octet);
        k += len;
    }
    Ok(out)
}

/// A `<character-string>`: RFC 1035 §5.1 "either as a contiguous set of
/// characters without interior spaces, or as a string beginning with a "
/// and ending with a "", at most 255 octets once unescaped.
fn parse_char_string(text: &str, i: usize) -> Res<Vec<u8>> {
    let s = unescape(text, i)?;
    if s.len() > 255 {
        return Err(err(
            i,
            format!(
                "character-string is {} octets, more than 255 (RFC 1035 §3.3)",
                s.len()
            ),
        ));
    }
    Ok(s)
}

/// A domain name in RDATA (token `i`) -> uncompressed wire form.
fn wire_name(text: &str, origin: &Name, i: usize) -> Res<Vec<u8>> {
    name::name_wire(text, origin)
        .map_err(|why| err(i, format!("invalid domain name \"{text}\": {why}")))
}

/// DNSSEC algorithm mnemonics (IANA "DNS Security Algorithm Numbers").
const ALGS: &[(u8, &str)] = &[
    (1, "RSAMD5"),
    (2, "DH"),
    (3, "DSA"),
    (5, "RSASHA1"),
    (6, "DSA-NSEC3-SHA1"),
    (7, "RSASHA1-NSEC3-SHA1"),
    (8, "RSASHA256"),
    (10, "RSASHA512"),
    (12, "ECC-GOST"),
    (13, "ECDSAP256SHA256"),
    (14, "ECDSAP384SHA384"),
    (15, "ED25519"),
    (16, "ED448"),
    (252, "INDIRECT"),
    (253, "PRIVATEDNS"),
    (254, "PRIVATEOID"),
];

fn alg_code(text: &str) -> Option<u8> {
    ALGS.iter()
        .find(|(_, n)| n.eq_ignore_ascii_case(text))
        .map(|(c, _)| *c)
}

/// RFC 4398 §2.1 certificate type mnemonics.
const CERT_TYPES: &[(u16, &str)] = &[
    (1, "PKIX"),
    (2, "SPKI"),
    (3, "PGP"),
    (4, "IPKIX"),
    (5, "ISPKI"),
    (6, "IPGP"),
    (7, "ACPKIX"),
    (8, "IACPKIX"),
    (253, "URI"),
    (254, "OID"),
];

fn cert_type_code(text: &str) -> Option<u16> {
    CERT_TYPES
        .iter()
        .find(|(_, n)| n.eq_ignore_ascii_case(text))
        .map(|(c, _)| *c)
}

/// RFC 7043 §3.2/§4.2: "six/eight two-digit hexadecimal numbers separated
/// by hyphens".
fn parse_eui(text: &str, n: usize) -> Option<Vec<u8>> {
    let parts: Vec<&str> = text.split('-').collect();
    if parts.len() != n {
        return None;
    }
    let mut out = Vec::with_capacity(n);
    for p in parts {
        if p.len() != 2 {
            return None;
        }
        out.extend(hex_decode(p).ok()?);
    }
    Some(out)
}

/// Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's
/// `days_from_civil`).
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

fn civil_from_days(z: i64) -> (i64, i64, i64) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y, m, d)
}

/// RFC 4034 §3.2: "The Signature Expiration Time and Inception Time field
/// values MUST be represented either as an unsigned decimal integer
/// indicating seconds since 1 January 1970 00:00:00 UTC, or in the form
/// YYYYMMDDHHmmSS in UTC."
fn parse_time(text: &str) -> Option<u32> {
    if text.len() != 14 {
        return parse_decimal(text).and_then(|v| u32::try_from(v).ok());
    }
    if !text.bytes().all(|c| c.is_ascii_digit()) {
        return None;
    }
    let num = |a: usize, b: usize| text.get(a..b).and_then(|s| s.parse::<i64>().ok());
    let (y, mo, d) = (num(0, 4)?, num(4, 6)?, num(6, 8)?);
    let (h, mi, s) = (num(8, 10)?, num(10, 12)?, num(12, 14)?);
    if !(1..=12).contains(&mo) || d < 1 || h > 23 || mi > 59 || s > 59 {
        return None;
    }
    // Reject day overflow (e.g. Feb 30) by round-tripping the date.
    let days = days_from_civil(y, mo, d);
    if civil_from_days(days) != (y, mo, d) {
        return None;
    }
    let secs = days * 86_400 + h * 3600 + mi * 60 + s;
    u32::try_from(secs).ok()
}

fn format_time(v: u32) -> String {
    let v = i64::from(v);
    let (y, m, d) = civil_from_days(v.div_euclid(86_400));
    let rem = v.rem_euclid(86_400);
    format!(
        "{y:04}{m:02}{d:02}{:02}{:02}{:02}",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

/// RFC 4034 §4.1.2: "The RR type space is split into 256 window blocks ...
/// Each bitmap is encoded as a window number followed by a single octet
/// bitmap length followed by up to 32 octets"; "Blocks with no types
/// present MUST NOT be included. Trailing zero octets in the bitmap MUST
/// be omitted."
fn encode_bitmap(types: &[u16]) -> Vec<u8> {
    let mut windows = [[0u8; 32]; 256];
    let mut used = [false; 256];
    for &t in types {
        let w = usize::from(t >> 8);
        let lo = usize::from(t & 0xff);
        if let (Some(win), Some(u)) = (windows.get_mut(w), used.get_mut(w)) {
            if let Some(byte) = win.get_mut(lo / 8) {
                *byte |= 0x80 >> (lo % 8);
            }
            *u = true;
        }
    }
    let mut out = Vec::new();
    for (w, win) in windows.iter().enumerate() {
        if !used.get(w).copied().unwrap_or(false) {
            continue;
        }
        let len = win.iter().rposition(|&b| b != 0).map_or(0, |p| p + 1);
        out.push(w as u8);
        out.push(len as u8);
        out.extend_from_slice(win.get(..len).unwrap_or(&[]));
    }
    out
}

/// Types in a wire bitmap; `None` unless it is in the strict form that
/// [`encode_bitmap`] produces (so text round-trips exactly).
fn decode_bitmap(b: &[u8]) -> Option<Vec<u16>> {
    let mut types = Vec::new();
    let mut pos = 0usize;
    let mut prev: Option<u8> = None;
    while pos < b.len() {
        let w = *b.get(pos)?;
        let len = usize::from(*b.get(pos + 1)?);
        if prev.is_some_and(|p| p >= w) || !(1..=32).contains(&len) {
            return None;
        }
        let bits = b.get(pos + 2..pos + 2 + len)?;
        if bits.last() == Some(&0) {
            return None;
        }
        for (byte_i, &byte) in bits.iter().enumerate() {
            for bit in 0..8 {
                if byte & (0x80 >> bit) != 0 {
                    types.push((u16::from(w) << 8) | (byte_i * 8 + bit) as u16);
                }
            }
        }
        prev = Some(w);
        pos += 2 + len;
    }
    Some(types)
}

// ---------------------------------------------------------------------------
// Wire -> text
// ---------------------------------------------------------------------------

/// A quoted character-string: `"` and `\` escaped, bytes outside
/// printable ASCII as `\DDD`.
fn quoted(s: &[u8]) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for &c in s {
        match c {
            b'"' | b'\\' => {
                out.push('\\');
                out.push(char::from(c));
            }
            0x20..=0x7e => out.push(char::from(c)),
            _ => {
                let _ = write!(out, "\\{c:03}");
            }
        }
    }
    out.push('"');
    out
}

/// Wire -> presentation form. Names under `origin` (when given) are written
/// relative to it. Types without a known text form use `\# LEN HEX`.
pub fn to_text(rtype: RecordType, rdata: &Rdata, origin: Option<&Name>) -> String {
    let code = u16::from(rtype);
    let wire = rdata.as_bytes();
    let text = if is_meta(code) {
        None
    } else if let Some(fields) = fields_of(code) {
        fields_to_text(fields, wire, origin, false)
    } else if has_special_form(code) {
        special::to_text(code, wire, origin)
    } else {
        None
    };
    text.unwrap_or_else(|| generic_to_text(wire))
}

/// RFC 3597 §5 generic form.
fn generic_to_text(wire: &[u8]) -> String {
    if wire.is_empty() {
        "\\# 0".to_string()
    } else {
        format!("\\# {} {}", wire.len(), hex_encode(wire))
    }
}

/// Formats wire bytes against a field list; `None` if they do not decode
/// exactly (or, when `check_only`, just validates).
fn fields_to_text(
    fields: Fields,
    wire: &[u8],
    origin: Option<&Name>,
    check_only: bool,
) -> Option<String> {
    let mut r = Reader::new(wire);
    let mut parts: Vec<String> = Vec::with_capacity(fields.len());
    for &(kind, _) in fields {
        match kind {
            K::U8 => parts.push(r.u8()?.to_string()),
            K::U16 => parts.push(r.u16()?.to_string()),
            K::U32 | K::Period => parts.push(r.u32()?.to_string()),
            K::Name => {
                let labels = r.name()?;
                parts.push(if check_only {
                    String::new()
                } else {
                    name_text(&labels, origin)
                });
            }
            K::Str => parts.push(quoted(r.string()?)),
            K::Strs => {
                if r.done() {
                    return None;
                }
                while !r.done() {
                    parts.push(quoted(r.string()?));
                }
            }
            K::Ipv4 => {
                let o: [u8; 4] = r.take(4)?.try_into().ok()?;
                parts.push(Ipv4Addr::from(o).to_string());
            }
            K::Ipv6 => {
                let o: [u8; 16] = r.take(16)?.try_into().ok()?;
                parts.push(Ipv6Addr::from(o).to_string());
            }
            K::Hex => parts.push(rest_text(&mut r, hex_encode)?),
            K::Base64 => parts.push(rest_text(&mut r, base64_encode)?),
            K::Alg => parts.push(r.u8()?.to_string()),
            K::Type => parts.push(code_to_text(r.u16()?)),
            K::Time => parts.push(format_time(r.u32()?)),
            K::Bitmap => {
                for t in decode_bitmap(r.rest())? {
                    parts.push(code_to_text(t));
                }
            }
            K::CertType => parts.push(cert_type_text(r.u16()?)),
            K::Eui48 => parts.push(eui_text(r.take(6)?)),
            K::Eui64 => parts.push(eui_text(r.take(8)?)),
            K::B32 => parts.push(b32_text(r.string()?)?),
            K::Salt => parts.push(salt_text(r.string()?)),
            K::Raw => parts.push(quoted(r.rest())),
            K::CaaTag => parts.push(caa_tag_text(r.string()?)?),
        }
    }
    if !r.done() {
        return None;
    }
    Some(parts.join(" "))
}

/// The rest of the RDATA (hex or base64), which may not be empty.
fn rest_text(r: &mut Reader<'_>, encode: fn(&[u8]) -> String) -> Option<String> {
    let rest = r.rest();
    (!rest.is_empty()).then(|| encode(rest))
}

/// A certificate type: its mnemonic, else its number.
fn cert_type_text(v: u16) -> String {
    match CERT_TYPES.iter().find(|(c, _)| *c == v) {
        Some((_, n)) => (*n).to_string(),
        None => v.to_string(),
    }
}

/// An EUI-48 or EUI-64 address: hex pairs joined by '-'.
fn eui_text(bytes: &[u8]) -> String {
    let hex: Vec<String> = bytes.iter().map(|b| format!("{b:02x}")).collect();
    hex.join("-")
}

/// NSEC3 next hashed owner (not empty), in base32hex.
fn b32_text(s: &[u8]) -> Option<String> {
    (!s.is_empty()).then(|| base32hex_encode(s))
}

/// NSEC3(PARAM) salt: hex, or "-" for none.
fn salt_text(s: &[u8]) -> String {
    if s.is_empty() {
        "-".to_string()
    } else {
        hex_encode(s)
    }
}

/// A CAA tag: 1 or more ASCII letters and digits.
fn caa_tag_text(s: &[u8]) -> Option<String> {
    (!s.is_empty() && s.iter().all(u8::is_ascii_alphanumeric))
        .then(|| String::from_utf8_lossy(s).into_owned())
}

#[cfg(test)]
mod tests;
