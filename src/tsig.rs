//! PURE: TSIG (RFC 8945) verification and signing over raw message bytes.
//!
//! The MAC covers the bytes exactly as they travelled, so verification works
//! on the received buffer, never on a re-encoded message: the TSIG RR is
//! found by walking the sections, the digest input is rebuilt from the
//! bytes before it (with the original ID restored and ARCOUNT less one,
//! RFC 8945 §4.3.3) plus the TSIG variables. Signing works the same way on a
//! response already encoded: compute the MAC, then append the TSIG RR and
//! bump ARCOUNT.
//!
//! The clock is an argument (`now`, seconds since the epoch), so tests
//! control it; nothing here reads the time or does I/O.
//!
//! Processing order follows RFC 8945 §5.2, with the MAC length decided
//! before any MAC is computed:
//!
//! ```text
//!  TSIG RR unreadable / not last ────────────────────────► FORMERR  (§5.1)
//!  algorithm unknown ────────────────────────────────────► BADKEY   (§5.2.1)
//!  MAC size > output, or < max(10, output/2) ────────────► FORMERR  (§5.2.2.1, before the MAC)
//!  key unknown, or configured with another algorithm ───► BADKEY   (§5.2.1)
//!  MAC truncated and the key does not allow truncation ─► BADTRUNC (§5.2.2.1, before the MAC)
//!  MAC (full, constant time) does not verify ───────────► BADSIG   (§5.2.2)
//!  time outside the fudge ───────────────────────────────► BADTIME  (§5.2.3, after the MAC)
//! ```
//!
//! Every wrong MAC of an acceptable length gets the same answer (BADSIG)
//! after the same work (the whole HMAC is computed and compared without an
//! early exit), so no answer tells how much of a guessed MAC was right.
//! "The MAC check MUST be done before the time check" so an attacker cannot
//! learn the server's clock from unsigned probes.

use std::fmt;

use hickory_proto::rr::Name;
use hickory_proto::serialize::binary::{BinDecodable, BinDecoder};
use hmac::{Hmac, KeyInit, Mac};
use subtle::ConstantTimeEq;

use crate::rcode::Rcode;
use crate::request::{read_rr, skip_name};
use crate::rr::wire::u16_at;

/// TSIG RR type (RFC 8945 §4.2).
pub const TSIG_TYPE: u16 = 250;
/// CLASS ANY, the only class a TSIG RR may carry (RFC 8945 §4.2).
const CLASS_ANY: u16 = 255;

/// The MAC algorithms of RFC 8945 §6 that zonewright accepts.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Algorithm {
    HmacMd5,
    HmacSha1,
    HmacSha224,
    HmacSha256,
    HmacSha384,
    HmacSha512,
}

impl Algorithm {
    pub const ALL: [Algorithm; 6] = [
        Algorithm::HmacMd5,
        Algorithm::HmacSha1,
        Algorithm::HmacSha224,
        Algorithm::HmacSha256,
        Algorithm::HmacSha384,
        Algorithm::HmacSha512,
    ];

    /// The algorithm's name as it appears on the wire (RFC 8945 §6 table).
    pub fn wire_name(self) -> &'static str {
        match self {
            Algorithm::HmacMd5 => "hmac-md5.sig-alg.reg.int.",
            Algorithm::HmacSha1 => "hmac-sha1.",
            Algorithm::HmacSha224 => "hmac-sha224.",
            Algorithm::HmacSha256 => "hmac-sha256.",
            Algorithm::HmacSha384 => "hmac-sha384.",
            Algorithm::HmacSha512 => "hmac-sha512.",
        }
    }

    /// The short name used in configuration (`hmac-sha256`).
    pub fn config_name(self) -> &'static str {
        match self {
            Algorithm::HmacMd5 => "hmac-md5",
            Algorithm::HmacSha1 => "hmac-sha1",
            Algorithm::HmacSha224 => "hmac-sha224",
            Algorithm::HmacSha256 => "hmac-sha256",
            Algorithm::HmacSha384 => "hmac-sha384",
            Algorithm::HmacSha512 => "hmac-sha512",
        }
    }

    /// Parses a name case-insensitively, with or without the trailing dot;
    /// `hmac-md5` also matches its long wire name.
    pub fn from_name(name: &str) -> Option<Algorithm> {
        let lower = name.trim_end_matches('.').to_ascii_lowercase();
        Algorithm::ALL
            .into_iter()
            .find(|a| lower == a.config_name() || lower == a.wire_name().trim_end_matches('.'))
    }

    /// Length of the full MAC, in octets.
    pub fn output_len(self) -> usize {
        match self {
            Algorithm::HmacMd5 => 16,
            Algorithm::HmacSha1 => 20,
            Algorithm::HmacSha224 => 28,
            Algorithm::HmacSha256 => 32,
            Algorithm::HmacSha384 => 48,
            Algorithm::HmacSha512 => 64,
        }
    }

    /// RFC 8945 §5.2.2.1: a truncated MAC "MUST NOT be less than half the
    /// length of the hash function output, or less than 10 octets,
    /// whichever is greater".
    pub fn min_mac_len(self) -> usize {
        (self.output_len() / 2).max(10)
    }

    fn mac(self, secret: &[u8], parts: &[&[u8]]) -> Vec<u8> {
        fn run<M: Mac + KeyInit>(secret: &[u8], parts: &[&[u8]]) -> Vec<u8> {
            // HMAC accepts keys of any length (RFC 2104 §2), so this cannot fail.
            let Ok(mut mac) = <M as KeyInit>::new_from_slice(secret) else {
                return Vec::new();
            };
            for p in parts {
                mac.update(p);
            }
            mac.finalize().into_bytes().to_vec()
        }
        match self {
            Algorithm::HmacMd5 => run::<Hmac<md5::Md5>>(secret, parts),
            Algorithm::HmacSha1 => run::<Hmac<sha1::Sha1>>(secret, parts),
            Algorithm::HmacSha224 => run::<Hmac<sha2::Sha224>>(secret, parts),
            Algorithm::HmacSha256 => run::<Hmac<sha2::Sha256>>(secret, parts),
            Algorithm::HmacSha384 => run::<Hmac<sha2::Sha384>>(secret, parts),
            Algorithm::HmacSha512 => run::<Hmac<sha2::Sha512>>(secret, parts),
        }
    }
}

impl fmt::Display for Algorithm {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.config_name())
    }
}

/// A shared secret. `Debug` never shows the secret.
#[derive(Clone, PartialEq, Eq)]
pub struct Key {
    pub name: Name,
    pub algorithm: Algorithm,
    secret: Vec<u8>,
    /// Whether requests may carry a MAC truncated to at least
    /// [`Algorithm::min_mac_len`] octets (RFC 8945 §5.2.2.1). Off unless a
    /// key's configuration says `allow_truncated_mac = true`: a full MAC is
    /// "local policy" by default, and truncation buys nothing over TCP.
    pub allow_truncated: bool,
}

impl Key {
    pub fn new(name: Name, algorithm: Algorithm, secret: Vec<u8>) -> Key {
        Key {
            name,
            algorithm,
            secret,
            allow_truncated: false,
        }
    }

    /// The same key, accepting truncated MACs (or not).
    pub fn with_truncation(mut self, allow: bool) -> Key {
        self.allow_truncated = allow;
        self
    }

    /// The raw secret, for `zonewright keygen` re-printing a configured key.
    pub fn secret(&self) -> &[u8] {
        &self.secret
    }
}

impl fmt::Debug for Key {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Key")
            .field("name", &self.name)
            .field("algorithm", &self.algorithm)
            .field("secret", &"<redacted>")
            .field("allow_truncated", &self.allow_truncated)
            .finish()
    }
}

/// The fields of a TSIG RR (RFC 8945 §4.2).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Tsig {
    pub key_name: Name,
    pub algorithm: Name,
    /// 48-bit seconds since the epoch.
    pub time_signed: u64,
    pub fudge: u16,
    pub mac: Vec<u8>,
    pub original_id: u16,
    pub error: u16,
    pub other: Vec<u8>,
}

/// A TSIG RR found at the end of a message.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Found {
    pub tsig: Tsig,
    /// Offset of the TSIG RR: the signed message is `msg[..start]`.
    pub start: usize,
}

/// The message is malformed where TSIG is concerned (RFC 8945 §5.1: a TSIG
/// RR not last in the additional section, or more than one, is FORMERR).
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("malformed TSIG: {0}")]
pub struct FormatError(pub &'static str);

/// Finds the TSIG RR, if any. It must be the last RR of the additional
/// section (RFC 8945 §5.1); one anywhere else is a format error.
pub fn find(msg: &[u8]) -> Result<Option<Found>, FormatError> {
    let count = |i| u16_at(msg, i).ok_or(FormatError("message shorter than its header"));
    let qd = count(4)?;
    let rrs = usize::from(count(6)?) + usize::from(count(8)?) + usize::from(count(10)?);
    let mut pos = 12;
    for _ in 0..qd {
        pos = skip_name(msg, pos)
            .ok_or(FormatError("bad question name"))?
            .0
            + 4;
    }
    let mut last = None;
    for i in 0..rrs {
        let rr = read_rr(msg, pos).ok_or(FormatError("truncated record"))?;
        let (rtype, end) = (rr.rtype, rr.rdata_end);
        if rtype == TSIG_TYPE {
            if i + 1 != rrs {
                return Err(FormatError("TSIG record is not the last record"));
            }
            last = Some(pos);
        }
        pos = end;
    }
    let Some(start) = last else {
        return Ok(None);
    };
    // The TSIG RR ends the message, and its RDLENGTH is exactly its fields.
    if pos != msg.len() {
        return Err(FormatError("bytes after the TSIG record"));
    }
    let tsig = parse_tsig_rr(msg, start, pos).ok_or(FormatError("bad TSIG record"))?;
    Ok(Some(Found { tsig, start }))
}

/// The TSIG RR at `start`, which RDLENGTH says ends at `end`: its fields
/// must fill the RDATA exactly.
fn parse_tsig_rr(msg: &[u8], start: usize, end: usize) -> Option<Tsig> {
    let mut d = BinDecoder::new(msg.get(start..end)?);
    let key_name = Name::read(&mut d).ok()?;
    let fixed = d.read_slice(10).ok()?.unverified();
    let class = u16::from_be_bytes([fixed[2], fixed[3]]);
    if class != CLASS_ANY {
        return None;
    }
    let algorithm = Name::read(&mut d).ok()?;
    let t = d.read_slice(6).ok()?.unverified();
    let time_signed = t.iter().fold(0u64, |acc, b| (acc << 8) | u64::from(*b));
    let fudge = d.read_u16().ok()?.unverified();
    let mac_len = d.read_u16().ok()?.unverified();
    let mac = d
        .read_slice(usize::from(mac_len))
        .ok()?
        .unverified()
        .to_vec();
    let original_id = d.read_u16().ok()?.unverified();
    let error = d.read_u16().ok()?.unverified();
    let other_len = d.read_u16().ok()?.unverified();
    let other = d
        .read_slice(usize::from(other_len))
        .ok()?
        .unverified()
        .to_vec();
    if !d.is_empty() {
        return None;
    }
    Some(Tsig {
        key_name,
        algorithm,
        time_signed,
        fudge,
        mac,
        original_id,
        error,
        other,
    })
}

/// A name in canonical wire form: lower case, uncompressed (RFC 8945 §4.3.3).
fn canonical_name(name: &Name) -> Vec<u8> {
    let mut out = Vec::with_capacity(name.len() + 2);
    for label in name.iter() {
        out.push(label.len() as u8);
        out.extend(label.iter().map(u8::to_ascii_lowercase));
    }
    out.push(0);
    out
}

fn time48(t: u64) -> [u8; 6] {
    let b = t.to_be_bytes();
    [b[2], b[3], b[4], b[5], b[6], b[7]]
}

/// RFC 8945 §4.3.3 "TSIG Variables": key name, class, TTL, algorithm,
/// time signed, fudge, error, other len, other data.
fn variables(key: &Key, time: u64, fudge: u16, error: u16, other: &[u8]) -> Vec<u8> {
    let mut v = canonical_name(&key.name);
    v.extend_from_slice(&CLASS_ANY.to_be_bytes());
    v.extend_from_slice(&0u32.to_be_bytes());
    v.extend(canonical_name(&algorithm_name(key.algorithm)));
    v.extend_from_slice(&time48(time));
    v.extend_from_slice(&fudge.to_be_bytes());
    v.extend_from_slice(&error.to_be_bytes());
    v.extend_from_slice(&(other.len() as u16).to_be_bytes());
    v.extend_from_slice(other);
    v
}

fn algorithm_name(a: Algorithm) -> Name {
    Name::from_ascii(a.wire_name()).unwrap_or_else(|_| Name::root())
}

/// `msg` as the MAC saw it before the TSIG was added: original ID restored
/// and ARCOUNT decremented (RFC 8945 §4.3.3, §5.4.1).
fn unsigned_view(msg: &[u8], start: usize, original_id: u16) -> Option<Vec<u8>> {
    let mut m = msg.get(..start)?.to_vec();
    let ar = u16_at(&m, 10)?.checked_sub(1)?;
    m.get_mut(0..2)?.copy_from_slice(&original_id.to_be_bytes());
    m.get_mut(10..12)?.copy_from_slice(&ar.to_be_bytes());
    Some(m)
}

/// Why a signed request was rejected, with what the response needs.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Rejection {
    /// RFC 8945 §5.2.1: unknown key or algorithm. Unsigned NOTAUTH/BADKEY.
    BadKey,
    /// RFC 8945 §5.2.2: the MAC does not verify. Unsigned NOTAUTH/BADSIG.
    BadSig,
    /// RFC 8945 §5.2.2.1: a truncated MAC (of an allowed length) for a key
    /// whose policy requires the full MAC. Decided from the length alone,
    /// before the MAC is computed. Unsigned NOTAUTH/BADTRUNC.
    BadTrunc,
    /// RFC 8945 §5.2.3: the time is outside the fudge. Signed NOTAUTH/BADTIME.
    BadTime { key: Box<Key>, request_mac: Vec<u8> },
    /// A TSIG RR that cannot be read, or one not last: FORMERR.
    Malformed(FormatError),
}

impl Rejection {
    /// The TSIG error code the response carries.
    pub fn error_code(&self) -> u16 {
        match self {
            Rejection::BadKey => Rcode::BadKey.code(),
            Rejection::BadSig | Rejection::Malformed(_) => Rcode::BADSIG.code(),
            Rejection::BadTrunc => Rcode::BadTrunc.code(),
            Rejection::BadTime { .. } => Rcode::BadTime.code(),
        }
    }
}

impl fmt::Display for Rejection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Rejection::BadKey => f.write_str("unknown TSIG key or algorithm (BADKEY)"),
            Rejection::BadSig => f.write_str("TSIG signature does not verify (BADSIG)"),
            Rejection::BadTrunc => {
                f.write_str("truncated TSIG MAC, and the key requires the full MAC (BADTRUNC)")
            }
            Rejection::BadTime { .. } => f.write_str("TSIG time outside the fudge (BADTIME)"),
            Rejection::Malformed(e) => e.fmt(f),
        }
    }
}

/// A request whose TSIG verified.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Verified {
    pub key: Key,
    /// The TSIG RR as received; `tsig.mac` is the MAC the request carried
    /// (maybe truncated), which a response's MAC covers (§4.3.1).
    pub tsig: Tsig,
    /// The full MAC computed over the request: the same whatever length the
    /// client sent, so a replay cache keyed on it cannot be dodged by
    /// re-sending a request with its MAC cut shorter.
    pub full_mac: Vec<u8>,
    /// Offset of the TSIG RR in the request: the request less its TSIG is `msg[..start]`.
    pub start: usize,
}

/// Verifies the TSIG of a request (RFC 8945 §5.2). `Ok(None)` when the
/// message is unsigned; `lookup` finds a configured key by name (names
/// compare case-insensitively, as `Name` does). The time window is the
/// request's fudge, capped at `max_fudge` (the server's `[tsig] fudge`), so
/// a client cannot widen the window in which its request can be replayed.
pub fn verify_request<'k>(
    msg: &[u8],
    lookup: impl Fn(&Name) -> Option<&'k Key>,
    now: u64,
    max_fudge: u16,
) -> Result<Option<Verified>, Rejection> {
    let Some(found) = find(msg).map_err(Rejection::Malformed)? else {
        return Ok(None);
    };
    let tsig = &found.tsig;
    // §5.2.1: "If a non-forwarding server does not recognize the key or
    // algorithm used by the client ... BADKEY".
    let alg = Algorithm::from_name(&tsig.algorithm.to_ascii()).ok_or(Rejection::BadKey)?;
    check_mac_len(alg, tsig.mac.len())?;
    let key = lookup(&tsig.key_name)
        .filter(|k| k.algorithm == alg)
        .ok_or(Rejection::BadKey)?;
    // §5.2.2.1 rule 4: "When local policy is set to require a full MAC and
    // a message with a truncated MAC is received, the server returns
    // BADTRUNC." Decided from the length, before any MAC is computed.
    if tsig.mac.len() < alg.output_len() && !key.allow_truncated {
        return Err(Rejection::BadTrunc);
    }
    let full_mac = check_mac_and_time(msg, &found, key, alg, &[], now, max_fudge)?;
    Ok(Some(Verified {
        key: key.clone(),
        tsig: found.tsig,
        full_mac,
        start: found.start,
    }))
}

/// Verifies the TSIG of a response to our request signed with `key`
/// whose MAC was `request_mac` (RFC 8945 §5.3: the response's MAC covers
/// the request's MAC, then the response). An unsigned response, another
/// key or algorithm, a TSIG error, a MAC that does not verify or a time
/// outside the fudge are all rejections: the answer is not to be trusted.
pub fn verify_response(
    msg: &[u8],
    key: &Key,
    request_mac: &[u8],
    now: u64,
    max_fudge: u16,
) -> Result<(), Rejection> {
    let found = find(msg)
        .map_err(Rejection::Malformed)?
        .ok_or(Rejection::Malformed(FormatError(
            "the answer is not signed",
        )))?;
    let tsig = &found.tsig;
    let alg = Algorithm::from_name(&tsig.algorithm.to_ascii()).ok_or(Rejection::BadKey)?;
    if alg != key.algorithm || tsig.key_name != key.name {
        return Err(Rejection::BadKey);
    }
    if tsig.error != 0 {
        // BADKEY, BADSIG, BADTIME from the other side: it did not accept
        // our signature, so its answer says nothing we can trust.
        return Err(Rejection::BadSig);
    }
    check_mac_len(alg, tsig.mac.len())?;
    let prefix = mac_prefix(request_mac);
    check_mac_and_time(msg, &found, key, alg, &prefix, now, max_fudge).map(|_| ())
}

/// The MAC of `msg` (its TSIG `found`) under `key`, after `prefix` (the
/// request's MAC, for a response), compared with the one it carries, and
/// its time with the fudge: the full MAC we computed, or why not.
fn check_mac_and_time(
    msg: &[u8],
    found: &Found,
    key: &Key,
    alg: Algorithm,
    prefix: &[u8],
    now: u64,
    max_fudge: u16,
) -> Result<Vec<u8>, Rejection> {
    let tsig = &found.tsig;
    let body = unsigned_view(msg, found.start, tsig.original_id)
        .ok_or(Rejection::Malformed(FormatError("bad ARCOUNT")))?;
    let vars = variables(key, tsig.time_signed, tsig.fudge, tsig.error, &tsig.other);
    let full_mac = alg.mac(&key.secret, &[prefix, &body, &vars]);
    // §5.2.2.1 rule 4: "the locally held MAC SHOULD be truncated in the
    // same way as the truncated MAC in the message". The length is already
    // at least the minimum, so a prefix match proves knowledge of the key.
    if !constant_time_eq(full_mac.get(..tsig.mac.len()).unwrap_or(&[]), &tsig.mac) {
        return Err(Rejection::BadSig);
    }
    // §5.2.3: "If the time signed ... is outside the range specified by the
    // fudge, the receiver SHOULD ... return BADTIME".
    if now.abs_diff(tsig.time_signed) > u64::from(tsig.fudge.min(max_fudge)) {
        return Err(Rejection::BadTime {
            key: Box::new(key.clone()),
            request_mac: tsig.mac.clone(),
        });
    }
    Ok(full_mac)
}

/// RFC 8945 §5.2.2.1, the MAC size rules that need no key:
///
/// 1. "If the "MAC Size" field is greater than the keyed hash output
///    length: This case MUST NOT be generated and, if received, MUST cause
///    the DNS message to be dropped and RCODE 1 (FORMERR) to be returned."
/// 3. "If the "MAC Size" field is less than the larger of 10 (octets) and
///    half the length of the hash function in use: With the exception of
///    certain TSIG error messages described in Section 5.3.2, where it is
///    permitted that the "MAC Size" be zero, this case MUST NOT be
///    generated and, if received, MUST cause the DNS message to be dropped
///    and RCODE 1 (FORMERR) to be returned."
///
/// A request is never one of those error messages, so an empty MAC is
/// FORMERR too. Checking this first is what keeps a short guess from
/// being compared with anything.
fn check_mac_len(alg: Algorithm, len: usize) -> Result<(), Rejection> {
    if len > alg.output_len() {
        return Err(Rejection::Malformed(FormatError(
            "MAC longer than the algorithm's output",
        )));
    }
    if len < alg.min_mac_len() {
        return Err(Rejection::Malformed(FormatError(
            "MAC shorter than the algorithm's minimum (RFC 8945 §5.2.2.1)",
        )));
    }
    Ok(())
}

/// Compares two MACs without an early exit on the first differing octet
/// (subtle's `ct_eq`; lengths, which are public, may differ and never match).
fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.ct_eq(b).into()
}

/// What a signature covers besides the message itself.
#[derive(Clone, Copy, Debug)]
pub enum Context<'a> {
    /// A request: nothing before the message.
    Request,
    /// A response, or the first message of a multi-message response: the
    /// request's MAC comes first (RFC 8945 §4.3.1).
    Response { request_mac: &'a [u8] },
    /// A later message of a multi-message response (AXFR, IXFR): the
    /// previous message's MAC first, and only the timers after (§5.3.1).
    Continuation { prior_mac: &'a [u8] },
}

/// The parameters of a signature to append.
#[derive(Clone, Copy, Debug)]
pub struct SignParams<'a> {
    pub time: u64,
    pub fudge: u16,
    pub error: u16,
    pub other: &'a [u8],
}

fn mac_prefix(mac: &[u8]) -> Vec<u8> {
    let mut v = (mac.len() as u16).to_be_bytes().to_vec();
    v.extend_from_slice(mac);
    v
}

/// Signs `msg` (a complete message without TSIG) in place: appends the TSIG
/// RR and increments ARCOUNT. Returns the MAC, for chaining.
pub fn sign(msg: &mut Vec<u8>, key: &Key, ctx: Context<'_>, p: SignParams<'_>) -> Vec<u8> {
    let prefix = match ctx {
        Context::Request => Vec::new(),
        Context::Response { request_mac } => mac_prefix(request_mac),
        Context::Continuation { prior_mac } => mac_prefix(prior_mac),
    };
    let tail = match ctx {
        // §5.3.1: "the TSIG timers" — time signed and fudge only.
        Context::Continuation { .. } => {
            let mut t = time48(p.time).to_vec();
            t.extend_from_slice(&p.fudge.to_be_bytes());
            t
        }
        _ => variables(key, p.time, p.fudge, p.error, p.other),
    };
    let mac = key.algorithm.mac(&key.secret, &[&prefix, msg, &tail]);
    append_tsig(msg, key, &mac, p);
    mac
}

/// Appends a TSIG RR with an empty MAC: the unsigned error responses of
/// RFC 8945 §5.2.1 (BADKEY) and §5.2.2 (BADSIG).
pub fn append_unsigned(msg: &mut Vec<u8>, key_name: &Name, algorithm: &Name, p: SignParams<'_>) {
    let original_id = u16_at(msg, 0).unwrap_or(0);
    msg.extend(canonical_name(key_name));
    push_tsig_rdata(msg, &canonical_name(algorithm), &[], original_id, p);
    bump_arcount(msg);
}

fn append_tsig(msg: &mut Vec<u8>, key: &Key, mac: &[u8], p: SignParams<'_>) {
    let original_id = u16_at(msg, 0).unwrap_or(0);
    msg.extend(canonical_name(&key.name));
    push_tsig_rdata(
        msg,
        &canonical_name(&algorithm_name(key.algorithm)),
        mac,
        original_id,
        p,
    );
    bump_arcount(msg);
}

fn push_tsig_rdata(msg: &mut Vec<u8>, alg: &[u8], mac: &[u8], id: u16, p: SignParams<'_>) {
    let mut rdata = alg.to_vec();
    rdata.extend_from_slice(&time48(p.time));
    rdata.extend_from_slice(&p.fudge.to_be_bytes());
    rdata.extend_from_slice(&(mac.len() as u16).to_be_bytes());
    rdata.extend_from_slice(mac);
    rdata.extend_from_slice(&id.to_be_bytes());
    rdata.extend_from_slice(&p.error.to_be_bytes());
    rdata.extend_from_slice(&(p.other.len() as u16).to_be_bytes());
    rdata.extend_from_slice(p.other);
    msg.extend_from_slice(&TSIG_TYPE.to_be_bytes());
    msg.extend_from_slice(&CLASS_ANY.to_be_bytes());
    msg.extend_from_slice(&0u32.to_be_bytes());
    msg.extend_from_slice(&(rdata.len() as u16).to_be_bytes());
    msg.extend(rdata);
}

fn bump_arcount(msg: &mut [u8]) {
    if let (Some(ar), true) = (u16_at(msg, 10), msg.len() >= 12) {
        msg[10..12].copy_from_slice(&ar.wrapping_add(1).to_be_bytes());
    }
}

/// The Other Data of a BADTIME response: the server's time (§5.2.3).
pub fn badtime_other(now: u64) -> [u8; 6] {
    time48(now)
}

#[cfg(test)]
mod tests;
