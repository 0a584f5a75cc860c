//! Small binary-to-text codecs used by the presentation formats: base16
//! (hex), base64 (RFC 4648 §4) and base32hex (RFC 4648 §7).
//!
//! Decoders take the already-concatenated text of one or more tokens and
//! ignore ASCII whitespace, since zone files may split these fields over
//! several tokens (RFC 4034 §2.2: "The Public Key field ... MAY include
//! whitespace"). Errors are short human-readable strings; the caller adds
//! the field and token context.

/// Upper-case hex, as BIND and Knot print it.
pub(super) fn hex_encode(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789ABCDEF";
    let mut out = String::with_capacity(bytes.len() * 2);
    for &b in bytes {
        out.push(char::from(DIGITS[usize::from(b >> 4)]));
        out.push(char::from(DIGITS[usize::from(b & 0x0f)]));
    }
    out
}

fn hex_value(c: u8) -> Option<u8> {
    match c {
        b'0'..=b'9' => Some(c - b'0'),
        b'a'..=b'f' => Some(c - b'a' + 10),
        b'A'..=b'F' => Some(c - b'A' + 10),
        _ => None,
    }
}

/// Hex digits (either case) to bytes; whitespace ignored, odd length rejected.
pub(super) fn hex_decode(text: &str) -> Result<Vec<u8>, String> {
    let mut out = Vec::with_capacity(text.len() / 2);
    let mut high: Option<u8> = None;
    for c in text.bytes() {
        if c.is_ascii_whitespace() {
            continue;
        }
        let v = hex_value(c).ok_or_else(|| format!("invalid hex digit {:?}", char::from(c)))?;
        match high.take() {
            None => high = Some(v),
            Some(h) => out.push((h << 4) | v),
        }
    }
    if high.is_some() {
        return Err("odd number of hex digits".to_string());
    }
    Ok(out)
}

const B64: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

/// RFC 4648 §4 base64 with `=` padding.
pub(super) fn base64_encode(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for chunk in bytes.chunks(3) {
        let b0 = chunk.first().copied().unwrap_or(0);
        let b1 = chunk.get(1).copied().unwrap_or(0);
        let b2 = chunk.get(2).copied().unwrap_or(0);
        let n = (u32::from(b0) << 16) | (u32::from(b1) << 8) | u32::from(b2);
        let sextet = |shift: u32| char::from(B64[((n >> shift) & 0x3f) as usize]);
        out.push(sextet(18));
        out.push(sextet(12));
        out.push(if chunk.len() > 1 { sextet(6) } else { '=' });
        out.push(if chunk.len() > 2 { sextet(0) } else { '=' });
    }
    out
}

fn base64_value(c: u8) -> Option<u32> {
    match c {
        b'A'..=b'Z' => Some(u32::from(c - b'A')),
        b'a'..=b'z' => Some(u32::from(c - b'a') + 26),
        b'0'..=b'9' => Some(u32::from(c - b'0') + 52),
        b'+' => Some(62),
        b'/' => Some(63),
        _ => None,
    }
}

/// RFC 4648 §4 base64; whitespace ignored; padding required (as in
/// RFC 4648 §3.2: "implementations MUST include appropriate pad characters").
pub(super) fn base64_decode(text: &str) -> Result<Vec<u8>, String> {
    let chars: Vec<u8> = text.bytes().filter(|c| !c.is_ascii_whitespace()).collect();
    if !chars.len().is_multiple_of(4) {
        return Err("base64 length is not a multiple of 4".to_string());
    }
    let mut out = Vec::with_capacity(chars.len() / 4 * 3);
    let groups = chars.len() / 4;
    for (i, group) in chars.chunks(4).enumerate() {
        let last = i + 1 == groups;
        let pad = group.iter().rev().take_while(|&&c| c == b'=').count();
        if pad > 2 || (pad > 0 && !last) {
            return Err("misplaced base64 padding".to_string());
        }
        let mut n: u32 = 0;
        for &c in group.iter().take(4 - pad) {
            let v = base64_value(c)
                .ok_or_else(|| format!("invalid base64 character {:?}", char::from(c)))?;
            n = (n << 6) | v;
        }
        n <<= 6 * pad as u32;
        let bytes = [(n >> 16) as u8, (n >> 8) as u8, n as u8];
        out.extend_from_slice(bytes.get(..3 - pad).unwrap_or(&[]));
    }
    Ok(out)
}

const B32HEX: &[u8; 32] = b"0123456789ABCDEFGHIJKLMNOPQRSTUV";

/// RFC 4648 §7 base32hex, upper case, without padding (RFC 5155 §3.3:
/// "The Next Hashed Owner Name field is represented as an unpadded
/// sequence of case-insensitive base32 digits").
pub(super) fn base32hex_encode(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len().div_ceil(5) * 8);
    let mut acc: u64 = 0;
    let mut bits: u32 = 0;
    for &b in bytes {
        acc = (acc << 8) | u64::from(b);
        bits += 8;
        while bits >= 5 {
            bits -= 5;
            out.push(char::from(B32HEX[((acc >> bits) & 0x1f) as usize]));
        }
    }
    if bits > 0 {
        out.push(char::from(B32HEX[((acc << (5 - bits)) & 0x1f) as usize]));
    }
    out
}

fn base32hex_value(c: u8) -> Option<u64> {
    match c {
        b'0'..=b'9' => Some(u64::from(c - b'0')),
        b'A'..=b'V' => Some(u64::from(c - b'A') + 10),
        b'a'..=b'v' => Some(u64::from(c - b'a') + 10),
        _ => None,
    }
}

/// RFC 4648 §7 base32hex, case-insensitive, padding optional.
pub(super) fn base32hex_decode(text: &str) -> Result<Vec<u8>, String> {
    let trimmed = text.trim_end_matches('=');
    let mut out = Vec::with_capacity(trimmed.len() * 5 / 8);
    let mut acc: u64 = 0;
    let mut bits: u32 = 0;
    let mut count = 0usize;
    for c in trimmed.bytes() {
        if c.is_ascii_whitespace() {
            continue;
        }
        let v = base32hex_value(c)
            .ok_or_else(|| format!("invalid base32hex character {:?}", char::from(c)))?;
        acc = ((acc << 5) | v) & 0xffff;
        bits += 5;
        count += 1;
        if bits >= 8 {
            bits -= 8;
            out.push((acc >> bits) as u8);
        }
    }
    // Only 0, 2, 4, 5 or 7 digits may remain after the last full 8-digit group.
    if matches!(count % 8, 1 | 3 | 6) {
        return Err("invalid base32hex length".to_string());
    }
    if bits > 0 && acc & ((1u64 << bits) - 1) != 0 {
        return Err("non-zero trailing bits in base32hex".to_string());
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hex_round_trip_and_errors() {
        assert_eq!(hex_encode(&[0x0a, 0xff, 0x00]), "0AFF00");
        assert_eq!(hex_decode("0aFf 00"), Ok(vec![0x0a, 0xff, 0x00]));
        assert!(hex_decode("abc").is_err());
        assert!(hex_decode("zz").is_err());
        assert_eq!(hex_decode(""), Ok(vec![]));
    }

    #[test]
    fn base64_rfc4648_vectors() {
        // RFC 4648 §10 test vectors.
        let vectors = [
            ("", ""),
            ("f", "Zg=="),
            ("fo", "Zm8="),
            ("foo", "Zm9v"),
            ("foob", "Zm9vYg=="),
            ("fooba", "Zm9vYmE="),
            ("foobar", "Zm9vYmFy"),
        ];
        for (plain, enc) in vectors {
            assert_eq!(base64_encode(plain.as_bytes()), enc);
            assert_eq!(base64_decode(enc).as_deref(), Ok(plain.as_bytes()));
        }
        assert_eq!(base64_decode("Zm9v YmFy").as_deref(), Ok(&b"foobar"[..]));
        assert!(base64_decode("Zm9").is_err());
        assert!(base64_decode("Zg==Zm8=").is_err());
        assert!(base64_decode("Z===").is_err());
        assert!(base64_decode("Zm9*").is_err());
    }

    #[test]
    fn base32hex_rfc4648_vectors() {
        // RFC 4648 §10 test vectors (base32hex, padding removed).
        let vectors = [
            ("", ""),
            ("f", "CO"),
            ("fo", "CPNG"),
            ("foo", "CPNMU"),
            ("foob", "CPNMUOG"),
            ("fooba", "CPNMUOJ1"),
            ("foobar", "CPNMUOJ1E8"),
        ];
        for (plain, enc) in vectors {
            assert_eq!(base32hex_encode(plain.as_bytes()), enc);
            assert_eq!(base32hex_decode(enc).as_deref(), Ok(plain.as_bytes()));
            assert_eq!(
                base32hex_decode(&enc.to_ascii_lowercase()).as_deref(),
                Ok(plain.as_bytes())
            );
        }
        assert_eq!(base32hex_decode("CO======").as_deref(), Ok(&b"f"[..]));
        assert!(base32hex_decode("C").is_err());
        assert!(base32hex_decode("CW").is_err());
        assert!(base32hex_decode("CP").is_err());
    }
}
