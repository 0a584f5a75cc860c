//! Hand-built UPDATE messages and TSIG for the attack tests: bytes exactly
//! as chosen (a MAC of any length, any RDLENGTH), signed with the library's
//! own signer when a right MAC is wanted.

use std::time::{SystemTime, UNIX_EPOCH};

use hickory_proto::rr::Name;
use zonewright::tsig::{self, Algorithm, Context, Key, SignParams};

/// base64 of 0x00..=0x1f: the secret of [`key`].
pub const SECRET_B64: &str = "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=";

/// An hmac-sha256 key named `name` with the secret [`SECRET_B64`].
pub fn key(name: &str) -> Key {
    Key::new(
        Name::from_ascii(name).unwrap(),
        Algorithm::HmacSha256,
        (0u8..32).collect(),
    )
}

pub fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

/// Appends `n` in uncompressed wire form.
pub fn name(out: &mut Vec<u8>, n: &str) {
    for l in n.trim_end_matches('.').split('.') {
        out.push(l.len() as u8);
        out.extend_from_slice(l.as_bytes());
    }
    out.push(0);
}

/// An unsigned UPDATE of `zone` with one TXT RR in the update section at
/// `owner`, of `class` (1: add; 255: delete the RRset), and optionally a
/// prerequisite "RRset exists (value independent)" (RFC 2136 §2.4.1).
pub fn update(
    id: u16,
    zone: &str,
    prereq: Option<&str>,
    owner: &str,
    class: u16,
    txt: Option<&str>,
) -> Vec<u8> {
    let mut m = id.to_be_bytes().to_vec();
    let pr = u16::from(prereq.is_some());
    m.extend_from_slice(&[0x28, 0, 0, 1]);
    m.extend_from_slice(&pr.to_be_bytes());
    m.extend_from_slice(&[0, 1, 0, 0]);
    name(&mut m, zone);
    m.extend_from_slice(&[0, 6, 0, 1]);
    if let Some(p) = prereq {
        name(&mut m, p);
        m.extend_from_slice(&[0, 16, 0, 255, 0, 0, 0, 0, 0, 0]);
    }
    name(&mut m, owner);
    m.extend_from_slice(&16u16.to_be_bytes());
    m.extend_from_slice(&class.to_be_bytes());
    let ttl: u32 = if class == 1 { 60 } else { 0 };
    m.extend_from_slice(&ttl.to_be_bytes());
    match txt {
        Some(t) => {
            m.extend_from_slice(&((t.len() + 1) as u16).to_be_bytes());
            m.push(t.len() as u8);
            m.extend_from_slice(t.as_bytes());
        }
        None => m.extend_from_slice(&[0, 0]),
    }
    m
}

/// `msg` signed by `k` at `time`: the bytes and the full MAC.
pub fn signed(msg: &[u8], k: &Key, time: u64) -> (Vec<u8>, Vec<u8>) {
    let mut m = msg.to_vec();
    let p = SignParams {
        time,
        fudge: 300,
        error: 0,
        other: &[],
    };
    let mac = tsig::sign(&mut m, k, Context::Request, p);
    (m, mac)
}
