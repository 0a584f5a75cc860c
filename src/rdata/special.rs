//! Types whose presentation form is not a flat field list: LOC (RFC 1876),
//! IPSECKEY (RFC 4025), HIP (RFC 8005) and SVCB/HTTPS (RFC 9460).

use std::net::{Ipv4Addr, Ipv6Addr};

use hickory_proto::rr::{RData, RecordType};
use hickory_proto::serialize::binary::{BinEncodable, BinEncoder, NameEncoding};

use super::codec::{base64_decode, base64_encode, hex_decode, hex_encode};
use super::{Reader, Res, Token, err, name_text, parse_decimal, wire_name};
use crate::rr::Name;

pub(super) fn from_text(
    code: u16,
    name: &str,
    tokens: &[Token<'_>],
    origin: &Name,
) -> Res<Vec<u8>> {
    match code {
        29 => loc_from_text(tokens),
        45 => ipseckey_from_text(tokens, origin),
        55 => hip_from_text(tokens, origin),
        64 | 65 => svcb_from_text(code, name, tokens, origin),
        _ => Err(err(0, format!("{name}: no presentation format"))),
    }
}

pub(super) fn to_text(code: u16, wire: &[u8], origin: Option<&Name>) -> Option<String> {
    match code {
        29 => loc_to_text(wire),
        45 => ipseckey_to_text(wire, origin),
        55 => hip_to_text(wire, origin),
        64 | 65 => svcb_to_text(code, wire, origin),
        _ => None,
    }
}

/// Whether `\#` data for one of these types has a valid structure.
pub(super) fn is_valid(code: u16, wire: &[u8]) -> bool {
    match code {
        29 => loc_to_text(wire).is_some(),
        45 => ipseckey_to_text(wire, None).is_some(),
        55 => hip_to_text(wire, None).is_some(),
        64 | 65 => svcb_params(wire).is_some(),
        _ => true,
    }
}

fn u8_field(tok: Option<&Token<'_>>, i: usize, what: &str) -> Res<u8> {
    let text = tok.map_or("", |t| t.text);
    parse_decimal(text)
        .and_then(|v| u8::try_from(v).ok())
        .ok_or_else(|| {
            err(
                i,
                format!("{what}: invalid number \"{text}\" (must be 0..=255)"),
            )
        })
}

fn missing(tokens: &[Token<'_>], what: &str) -> super::RdataError {
    err(
        tokens.len().saturating_sub(1),
        format!("{what}, found {}", tokens.len()),
    )
}

// ---------------------------------------------------------------------------
// LOC, RFC 1876
// ---------------------------------------------------------------------------

const LOC_EXPECTED: &str = "LOC: expected d1 [m1 [s1]] N|S d2 [m2 [s2]] E|W alt[m] \
                            [siz[m] [hp[m] [vp[m]]]]";

/// Parses `[-]digits[.digits]` with at most `frac` fraction digits, scaled
/// by 10^frac. Returns (negative, magnitude).
fn parse_fixed(text: &str, frac: u32) -> Option<(bool, u64)> {
    let (neg, body) = match text.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, text),
    };
    let (int, fraction) = match body.split_once('.') {
        Some((i, f)) => (i, f),
        None => (body, ""),
    };
    if int.is_empty() || fraction.len() > frac as usize {
        return None;
    }
    let int = parse_decimal(int)?;
    let mut f = if fraction.is_empty() {
        0
    } else {
        parse_decimal(fraction)?
    };
    for _ in fraction.len()..frac as usize {
        f = f.checked_mul(10)?;
    }
    let scaled = int.checked_mul(10u64.checked_pow(frac)?)?.checked_add(f)?;
    Some((neg, scaled))
}

/// One coordinate: "d [m [s]] H". Returns thousandths of arc seconds with
/// sign, and the next token index.
fn loc_coord(
    tokens: &[Token<'_>],
    mut i: usize,
    max_deg: u64,
    pos: &str,
    neg: &str,
) -> Res<(i64, usize)> {
    let what = if max_deg == 90 {
        "latitude"
    } else {
        "longitude"
    };
    let mut parts: Vec<u64> = Vec::with_capacity(3);
    loop {
        let tok = tokens.get(i).ok_or_else(|| missing(tokens, LOC_EXPECTED))?;
        let t = tok.text;
        if t.eq_ignore_ascii_case(pos) || t.eq_ignore_ascii_case(neg) {
            if parts.is_empty() {
                return Err(err(
                    i,
                    format!("LOC: {what} degrees missing before \"{t}\""),
                ));
            }
            let (d, m, s) = (
                parts.first().copied().unwrap_or(0),
                parts.get(1).copied().unwrap_or(0),
                parts.get(2).copied().unwrap_or(0),
            );
            // RFC 1876 §3: "d1: [0 .. 90] (degrees latitude)", "m1, m2:
            // [0 .. 59] (minutes)", "s1, s2: [0 .. 59.999] (seconds)".
            if d > max_deg || m > 59 || s > 59_999 {
                return Err(err(i, format!("LOC: {what} out of range")));
            }
            let total = d * 3_600_000 + m * 60_000 + s;
            if total > max_deg * 3_600_000 {
                return Err(err(i, format!("LOC: {what} beyond {max_deg} degrees")));
            }
            let total = i64::try_from(total).map_err(|_| err(i, "LOC: overflow"))?;
            let signed = if t.eq_ignore_ascii_case(neg) {
                -total
            } else {
                total
            };
            return Ok((signed, i + 1));
        }
        let v = match parts.len() {
            0 | 1 => parse_decimal(t),
            2 => parse_fixed(t, 3).filter(|(n, _)| !n).map(|(_, v)| v),
            _ => None,
        }
        .ok_or_else(|| {
            err(
                i,
                format!("LOC: invalid {what} component \"{t}\" (expected number or {pos}/{neg})"),
            )
        })?;
        parts.push(v);
        i += 1;
    }
}

/// RFC 1876 §2: sizes are "expressed as a pair of four-bit unsigned
/// integers, each ranging from zero to nine, with the most significant
/// four bits representing the base and the second number representing the
/// power of ten by which to multiply the base" (in centimetres).
fn loc_size_encode(cm: u64) -> u8 {
    let mut exp = 0u8;
    let mut man = cm;
    while man >= 10 && exp < 9 {
        man /= 10;
        exp += 1;
    }
    ((man.min(9) as u8) << 4) | exp
}

fn loc_size_decode(b: u8) -> Option<u64> {
    let (man, exp) = (b >> 4, b & 0x0f);
    if man > 9 || exp > 9 {
        return None;
    }
    Some(u64::from(man) * 10u64.pow(u32::from(exp)))
}

fn loc_meters(text: &str) -> &str {
    text.strip_suffix('m')
        .or_else(|| text.strip_suffix('M'))
        .unwrap_or(text)
}

fn loc_from_text(tokens: &[Token<'_>]) -> Res<Vec<u8>> {
    let (lat, i) = loc_coord(tokens, 0, 90, "N", "S")?;
    let (lon, mut i) = loc_coord(tokens, i, 180, "E", "W")?;
    let alt_tok = tokens.get(i).ok_or_else(|| missing(tokens, LOC_EXPECTED))?;
    // RFC 1876 §3: "alt: [-100000.00 .. 42849672.95] BY .01 (altitude in meters)".
    let alt = parse_fixed(loc_meters(alt_tok.text), 2)
        .and_then(|(neg, v)| {
            let v = i64::try_from(v).ok()?;
            let cm = if neg { -v } else { v };
            u32::try_from(cm.checked_add(10_000_000)?).ok()
        })
        .ok_or_else(|| {
            err(
                i,
                format!(
                    "LOC: invalid altitude \"{}\" (-100000.00..42849672.95 m)",
                    alt_tok.text
                ),
            )
        })?;
    i += 1;
    // RFC 1876 §3: "siz, hp, vp: [0 .. 90000000.00] (size/precision in
    // meters)"; defaults 1m, 10000m, 10m.
    let mut sizes = [100u64, 1_000_000, 1_000];
    for (k, slot) in sizes.iter_mut().enumerate() {
        let Some(tok) = tokens.get(i) else { break };
        let what = ["size", "horizontal precision", "vertical precision"]
            .get(k)
            .copied()
            .unwrap_or("size");
        *slot = parse_fixed(loc_meters(tok.text), 2)
            .filter(|&(neg, v)| !neg && v <= 9_000_000_000)
            .map(|(_, v)| v)
            .ok_or_else(|| {
                err(
                    i,
                    format!("LOC: invalid {what} \"{}\" (0..90000000.00 m)", tok.text),
                )
            })?;
        i += 1;
    }
    if i < tokens.len() {
        return Err(err(
            i,
            format!(
                "{LOC_EXPECTED}, found extra \"{}\"",
                tokens.get(i).map_or("", |t| t.text)
            ),
        ));
    }
    let base: i64 = 1 << 31;
    let enc = |v: i64| u32::try_from(base + v).map_err(|_| err(0, "LOC: coordinate overflow"));
    let mut out = Vec::with_capacity(16);
    out.push(0); // VERSION
    for s in sizes {
        out.push(loc_size_encode(s));
    }
    out.extend_from_slice(&enc(lat)?.to_be_bytes());
    out.extend_from_slice(&enc(lon)?.to_be_bytes());
    out.extend_from_slice(&alt.to_be_bytes());
    Ok(out)
}

fn loc_cm_text(cm: u64) -> String {
    if cm.is_multiple_of(100) {
        format!("{}m", cm / 100)
    } else {
        format!("{}.{:02}m", cm / 100, cm % 100)
    }
}

fn loc_to_text(wire: &[u8]) -> Option<String> {
    let mut r = Reader::new(wire);
    // RFC 1876 §2: "VERSION ... MUST be zero".
    if r.u8()? != 0 {
        return None;
    }
    let size = loc_size_decode(r.u8()?)?;
    let hp = loc_size_decode(r.u8()?)?;
    let vp = loc_size_decode(r.u8()?)?;
    let lat = i64::from(r.u32()?) - (1 << 31);
    let lon = i64::from(r.u32()?) - (1 << 31);
    let alt = i64::from(r.u32()?) - 10_000_000;
    if !r.done() || lat.abs() > 90 * 3_600_000 || lon.abs() > 180 * 3_600_000 {
        return None;
    }
    let coord = |v: i64, pos: char, neg: char| {
        let a = v.unsigned_abs();
        format!(
            "{} {} {}.{:03} {}",
            a / 3_600_000,
            a % 3_600_000 / 60_000,
            a % 60_000 / 1000,
            a % 1000,
            if v < 0 { neg } else { pos }
        )
    };
    let alt_abs = alt.unsigned_abs();
    Some(format!(
        "{} {} {}{}.{:02}m {} {} {}",
        coord(lat, 'N', 'S'),
        coord(lon, 'E', 'W'),
        if alt < 0 { "-" } else { "" },
        alt_abs / 100,
        alt_abs % 100,
        loc_cm_text(size),
        loc_cm_text(hp),
        loc_cm_text(vp)
    ))
}

// ---------------------------------------------------------------------------
// IPSECKEY, RFC 4025
// ---------------------------------------------------------------------------

const IPSECKEY_EXPECTED: &str =
    "IPSECKEY: expected at least 4 fields (precedence gateway-type algorithm gateway [public-key])";

/// RFC 4025 §3.1: "IN IPSECKEY ( precedence gateway-type algorithm gateway
/// base64-encoded-public-key )"; gateway type 0 is written ".", 1 an IPv4
/// address, 2 an IPv6 address, 3 a domain name. The key may be absent.
fn ipseckey_from_text(tokens: &[Token<'_>], origin: &Name) -> Res<Vec<u8>> {
    if tokens.len() < 4 {
        return Err(missing(tokens, IPSECKEY_EXPECTED));
    }
    let precedence = u8_field(tokens.first(), 0, "IPSECKEY precedence")?;
    let gw_type = u8_field(tokens.get(1), 1, "IPSECKEY gateway-type")?;
    let alg = u8_field(tokens.get(2), 2, "IPSECKEY algorithm")?;
    let gw = tokens.get(3).map_or("", |t| t.text);
    let mut out = vec![precedence, gw_type, alg];
    match gw_type {
        0 if gw == "." => {}
        0 => return Err(err(3, "IPSECKEY: gateway type 0 needs gateway \".\"")),
        1 => {
            let a: Ipv4Addr = gw
                .parse()
                .map_err(|_| err(3, format!("invalid IPv4 address \"{gw}\"")))?;
            out.extend_from_slice(&a.octets());
        }
        2 => {
            let a: Ipv6Addr = gw
                .parse()
                .map_err(|_| err(3, format!("invalid IPv6 address \"{gw}\"")))?;
            out.extend_from_slice(&a.octets());
        }
        3 => out.extend_from_slice(&wire_name(gw, origin, 3)?),
        _ => {
            return Err(err(
                1,
                format!("IPSECKEY: unknown gateway type {gw_type} (0..=3); use \\# form"),
            ));
        }
    }
    let mut key = String::new();
    for t in tokens.get(4..).unwrap_or(&[]) {
        key.push_str(t.text);
    }
    let key = base64_decode(&key).map_err(|e| {
        err(
            tokens.len().saturating_sub(1),
            format!("IPSECKEY public-key: {e}"),
        )
    })?;
    out.extend_from_slice(&key);
    Ok(out)
}

fn ipseckey_to_text(wire: &[u8], origin: Option<&Name>) -> Option<String> {
    let mut r = Reader::new(wire);
    let (precedence, gw_type, alg) = (r.u8()?, r.u8()?, r.u8()?);
    let gw = match gw_type {
        0 => ".".to_string(),
        1 => Ipv4Addr::from(<[u8; 4]>::try_from(r.take(4)?).ok()?).to_string(),
        2 => Ipv6Addr::from(<[u8; 16]>::try_from(r.take(16)?).ok()?).to_string(),
        3 => name_text(&r.name()?, origin),
        _ => return None,
    };
    let key = r.rest();
    let mut out = format!("{precedence} {gw_type} {alg} {gw}");
    if !key.is_empty() {
        out.push(' ');
        out.push_str(&base64_encode(key));
    }
    Some(out)
}

// ---------------------------------------------------------------------------
// HIP, RFC 8005
// ---------------------------------------------------------------------------

const HIP_EXPECTED: &str =
    "HIP: expected at least 3 fields (pk-algorithm hit public-key [rendezvous-servers...])";

/// RFC 8005 §5: "IN HIP ( pk-algorithm base16-encoded-hit
/// base64-encoded-public-key rendezvous-server[1] ... )". Wire: HIT length,
/// PK algorithm, PK length, HIT, public key, rendezvous servers.
fn hip_from_text(tokens: &[Token<'_>], origin: &Name) -> Res<Vec<u8>> {
    if tokens.len() < 3 {
        return Err(missing(tokens, HIP_EXPECTED));
    }
    let alg = u8_field(tokens.first(), 0, "HIP pk-algorithm")?;
    let hit_text = tokens.get(1).map_or("", |t| t.text);
    let hit = hex_decode(hit_text).map_err(|e| err(1, format!("HIP hit: {e}")))?;
    let hit_len = u8::try_from(hit.len())
        .ok()
        .filter(|&l| l > 0)
        .ok_or_else(|| err(1, "HIP hit: must be 1 to 255 octets"))?;
    let pk = base64_decode(tokens.get(2).map_or("", |t| t.text))
        .map_err(|e| err(2, format!("HIP public-key: {e}")))?;
    let pk_len = u16::try_from(pk.len())
        .ok()
        .filter(|&l| l > 0)
        .ok_or_else(|| err(2, "HIP public-key: must be 1 to 65535 octets"))?;
    let mut out = vec![hit_len, alg];
    out.extend_from_slice(&pk_len.to_be_bytes());
    out.extend_from_slice(&hit);
    out.extend_from_slice(&pk);
    for (i, t) in tokens.iter().enumerate().skip(3) {
        out.extend_from_slice(&wire_name(t.text, origin, i)?);
    }
    Ok(out)
}

fn hip_to_text(wire: &[u8], origin: Option<&Name>) -> Option<String> {
    let mut r = Reader::new(wire);
    let hit_len = usize::from(r.u8()?);
    let alg = r.u8()?;
    let pk_len = usize::from(r.u16()?);
    let hit = r.take(hit_len)?;
    let pk = r.take(pk_len)?;
    if hit.is_empty() || pk.is_empty() {
        return None;
    }
    let mut out = format!("{alg} {} {}", hex_encode(hit), base64_encode(pk));
    while !r.done() {
        out.push(' ');
        out.push_str(&name_text(&r.name()?, origin));
    }
    Some(out)
}

// ---------------------------------------------------------------------------
// SVCB / HTTPS, RFC 9460
// ---------------------------------------------------------------------------

/// Splits SVCB wire form into priority, target end offset and params
/// (key, value); `None` unless keys are strictly increasing (RFC 9460
/// §2.2: "SvcParamKeys SHALL appear in increasing numeric order").
/// SvcParams as (key, value) pairs in wire order.
type SvcParams<'b> = Vec<(u16, &'b [u8])>;

fn svcb_params(wire: &[u8]) -> Option<(u16, usize, SvcParams<'_>)> {
    let mut r = Reader::new(wire);
    let prio = r.u16()?;
    r.name()?;
    let target_end = r.pos;
    let mut params = Vec::new();
    let mut last: Option<u16> = None;
    while !r.done() {
        let key = r.u16()?;
        let len = usize::from(r.u16()?);
        if last.is_some_and(|l| l >= key) {
            return None;
        }
        last = Some(key);
        params.push((key, r.take(len)?));
    }
    Some((prio, target_end, params))
}

/// Presentation -> wire via hickory's SVCB parser. The target name is
/// parsed here (relative names, escapes) and spliced into hickory's output,
/// and the params are sorted into wire order.
fn svcb_from_text(code: u16, ty: &str, tokens: &[Token<'_>], origin: &Name) -> Res<Vec<u8>> {
    let (prio, target) = svcb_head(ty, tokens, origin)?;
    let params = svcb_param_texts(ty, tokens)?;
    let (encoded, last) = svcb_encode_params(code, ty, prio, &params)?;
    let params = svcb_split_params(ty, &encoded, last)?;
    let mut out = prio.to_be_bytes().to_vec();
    out.extend_from_slice(&target);
    for (key, value) in params {
        // RFC 9460 §8 (mandatory): "the keys are represented by their numeric
        // values in network byte order, concatenated in strictly increasing
        // numeric order" -- hickory keeps the order as written.
        let sorted;
        let value = if key == 0 {
            sorted = sorted_mandatory(ty, value, last)?;
            &sorted[..]
        } else {
            value
        };
        out.extend_from_slice(&key.to_be_bytes());
        let len = u16::try_from(value.len())
            .map_err(|_| err(last, format!("{ty}: parameter too long")))?;
        out.extend_from_slice(&len.to_be_bytes());
        out.extend_from_slice(value);
    }
    Ok(out)
}

/// The priority and the target name (wire form).
fn svcb_head(ty: &str, tokens: &[Token<'_>], origin: &Name) -> Res<(u16, Vec<u8>)> {
    if tokens.len() < 2 {
        return Err(missing(
            tokens,
            &format!("{ty}: expected at least 2 fields (priority target [params...])"),
        ));
    }
    let prio_text = tokens.first().map_or("", |t| t.text);
    let prio = parse_decimal(prio_text)
        .and_then(|v| u16::try_from(v).ok())
        .ok_or_else(|| {
            err(
                0,
                format!("{ty} priority: invalid number \"{prio_text}\" (must be 0..=65535)"),
            )
        })?;
    let target = wire_name(tokens.get(1).map_or("", |t| t.text), origin, 1)?;
    Ok((prio, target))
}

/// One SvcParam as text for hickory: (key number, `u32::MAX` when unknown;
/// the index of its token; `key=value`).
type ParamText = (u32, usize, String);

/// Rebuilds the params as text for hickory's lexer: `key=value`, with a
/// quoted value re-quoted; `key=` followed by a quoted token is joined.
/// RFC 9460 §2.1: "SvcParams in presentation format MAY appear in any
/// order, but keys MUST NOT be repeated"; hickory wants wire order, so
/// they are sorted by key number.
fn svcb_param_texts(ty: &str, tokens: &[Token<'_>]) -> Res<Vec<ParamText>> {
    let mut params: Vec<ParamText> = Vec::new();
    let mut i = 2;
    while let Some(tok) = tokens.get(i) {
        if tok.quoted {
            return Err(err(
                i,
                format!("{ty}: unexpected quoted string \"{}\"", tok.text),
            ));
        }
        let at = i;
        let mut param = tok.text.to_string();
        if tok.text.ends_with('=')
            && let Some(next) = tokens.get(i + 1).filter(|n| n.quoted)
        {
            param.push('"');
            param.push_str(next.text);
            param.push('"');
            i += 1;
        }
        // hickory passes escapes in unknown-key values through literally
        // and its value-list unescaping is not RFC 9460 Appendix A.1
        // complete: refuse rather than store the wrong octets.
        if param.contains('\\') {
            return Err(err(
                i,
                format!(
                    "{ty}: escapes in SvcParam values are not supported; use the RFC 3597 \
                     form \\# <length> <hex>"
                ),
            ));
        }
        let key_text = param.split('=').next().unwrap_or("");
        // Unknown key names sort last; hickory reports them.
        let key = svc_key_code(key_text).map_or(u32::MAX, u32::from);
        if key != u32::MAX && params.iter().any(|(k, _, _)| *k == key) {
            return Err(err(
                at,
                format!("{ty}: SvcParamKey {key_text} appears more than once"),
            ));
        }
        params.push((key, at, param));
        i += 1;
    }
    params.sort_by_key(|(k, _, _)| *k);
    Ok(params)
}

/// The params parsed and encoded by hickory (with a root target), as wire
/// SvcParams; and the token index its errors point at (the first unknown
/// key, else the last param).
fn svcb_encode_params(
    code: u16,
    ty: &str,
    prio: u16,
    params: &[ParamText],
) -> Res<(Vec<u8>, usize)> {
    let mut text = format!("{prio} .");
    for (_, _, p) in params {
        text.push(' ');
        text.push_str(p);
    }
    let last = params.last().map_or(1, |(_, at, _)| *at);
    let last = params
        .iter()
        .find(|(k, _, _)| *k == u32::MAX)
        .map_or(last, |(_, at, _)| *at);
    let rtype = if code == 64 {
        RecordType::SVCB
    } else {
        RecordType::HTTPS
    };
    let rdata = RData::try_from_str(rtype, &text)
        .map_err(|e| err(last, format!("{ty}: invalid parameters: {e}")))?;
    let mut buf = Vec::new();
    {
        let mut encoder = BinEncoder::new(&mut buf);
        encoder.set_name_encoding(NameEncoding::Uncompressed);
        let emitted = match &rdata {
            RData::SVCB(s) => s.emit(&mut encoder),
            RData::HTTPS(h) => h.0.emit(&mut encoder),
            _ => return Err(err(0, format!("{ty}: unexpected parser result"))),
        };
        emitted.map_err(|e| err(last, format!("{ty}: cannot encode: {e}")))?;
    }
    // hickory wrote priority, the root name, then the params.
    let params_wire = buf
        .get(3..)
        .ok_or_else(|| err(last, format!("{ty}: unexpected encoder output")))?;
    Ok((params_wire.to_vec(), last))
}

/// Wire SvcParams -> (key, value) pairs sorted by key, each key once.
fn svcb_split_params<'w>(ty: &str, wire: &'w [u8], last: usize) -> Res<SvcParams<'w>> {
    let mut params: SvcParams<'w> = Vec::new();
    let mut r = Reader::new(wire);
    while !r.done() {
        let parsed = (|| {
            let key = r.u16()?;
            let len = usize::from(r.u16()?);
            Some((key, r.take(len)?))
        })();
        params.push(parsed.ok_or_else(|| err(last, format!("{ty}: unexpected encoder output")))?);
    }
    params.sort_by_key(|(k, _)| *k);
    if params.windows(2).any(|w| matches!(w, [a, b] if a.0 == b.0)) {
        return Err(err(
            last,
            format!("{ty}: a SvcParamKey appears more than once"),
        ));
    }
    Ok(params)
}

/// A `mandatory` value with its keys in increasing order, each once.
fn sorted_mandatory(ty: &str, value: &[u8], last: usize) -> Res<Vec<u8>> {
    let mut keys: Vec<u16> = value
        .chunks(2)
        .map(|c| match c {
            [a, b] => Ok(u16::from_be_bytes([*a, *b])),
            _ => Err(err(last, format!("{ty}: malformed mandatory list"))),
        })
        .collect::<Res<_>>()?;
    keys.sort_unstable();
    if keys.windows(2).any(|w| matches!(w, [a, b] if a == b)) {
        return Err(err(last, format!("{ty}: mandatory lists a key twice")));
    }
    Ok(keys.iter().flat_map(|k| k.to_be_bytes()).collect())
}

const SVC_KEYS: &[&str] = &[
    "mandatory",
    "alpn",
    "no-default-alpn",
    "port",
    "ipv4hint",
    "ech",
    "ipv6hint",
];

fn svc_key_code(text: &str) -> Option<u16> {
    if let Some(pos) = SVC_KEYS.iter().position(|k| *k == text) {
        return u16::try_from(pos).ok();
    }
    parse_decimal(text.strip_prefix("key")?).and_then(|v| u16::try_from(v).ok())
}

fn svc_key_text(key: u16) -> String {
    match SVC_KEYS.get(usize::from(key)) {
        Some(k) => (*k).to_string(),
        None => format!("key{key}"),
    }
}

/// Characters that need no escaping or quoting inside a value list.
fn svc_safe(s: &[u8]) -> bool {
    !s.is_empty()
        && s.iter().all(|&c| {
            c.is_ascii_graphic() && !matches!(c, b'"' | b'\\' | b',' | b';' | b'(' | b')')
        })
}

/// RFC 9460 Appendix A presentation of the params. Values that would need
/// escaping are not attempted (the caller falls back to `\#`), and the
/// result is accepted only if it parses back to the same wire form.
fn svcb_to_text(code: u16, wire: &[u8], origin: Option<&Name>) -> Option<String> {
    let (prio, target_end, params) = svcb_params(wire)?;
    let mut r = Reader::new(wire);
    r.take(2)?;
    let target = r.name()?;
    if r.pos != target_end {
        return None;
    }
    let mut out = format!("{prio} {}", name_text(&target, origin));
    for (key, value) in params {
        out.push(' ');
        out.push_str(&svc_key_text(key));
        let mut v = Reader::new(value);
        let text = match key {
            0 => {
                let mut keys = Vec::new();
                while !v.done() {
                    keys.push(svc_key_text(v.u16()?));
                }
                keys.join(",")
            }
            1 => {
                let mut ids = Vec::new();
                while !v.done() {
                    let id = v.string()?;
                    if !svc_safe(id) {
                        return None;
                    }
                    ids.push(String::from_utf8_lossy(id).into_owned());
                }
                ids.join(",")
            }
            2 => {
                if !value.is_empty() {
                    return None;
                }
                continue;
            }
            3 => {
                let port = v.u16()?;
                port.to_string()
            }
            4 => {
                let mut addrs = Vec::new();
                while !v.done() {
                    addrs.push(Ipv4Addr::from(<[u8; 4]>::try_from(v.take(4)?).ok()?).to_string());
                }
                addrs.join(",")
            }
            5 => base64_encode(value),
            6 => {
                let mut addrs = Vec::new();
                while !v.done() {
                    addrs.push(Ipv6Addr::from(<[u8; 16]>::try_from(v.take(16)?).ok()?).to_string());
                }
                addrs.join(",")
            }
            _ => {
                if value.is_empty() {
                    continue;
                }
                if !svc_safe(value) {
                    return None;
                }
                String::from_utf8_lossy(value).into_owned()
            }
        };
        if key != 5 && text.is_empty() {
            return None;
        }
        out.push('=');
        out.push_str(&text);
    }
    // Self-check: only print what parses back to exactly these octets.
    let root = Name::root();
    let parse_origin = origin.unwrap_or(&root);
    let tokens: Vec<Token<'_>> = out
        .split(' ')
        .map(|text| Token {
            text,
            quoted: false,
        })
        .collect();
    let name = super::type_to_text(RecordType::from(code));
    let again = svcb_from_text(code, &name, &tokens, parse_origin).ok()?;
    (again == wire).then_some(out)
}
