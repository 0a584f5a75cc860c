//! The TSIG verifier (RFC 8945 §5.2) with one fixed key, at a fixed time:
//! the input as received, and the input signed with the key (so the
//! fuzzer also reaches the checks after the MAC: time, truncation). Neither
//! may panic.
#![no_main]

use libfuzzer_sys::fuzz_target;
use zonewright::rr::Name;
use zonewright::tsig::{self, Algorithm, Context, Key, SignParams};

/// The time the seed UPDATEs were signed at, about (the fuzzer mutates it).
const NOW: u64 = 1_764_600_000;

fn key() -> Key {
    let name = Name::from_ascii("acme-key.").unwrap_or_else(|_| Name::root());
    Key::new(name, Algorithm::HmacSha256, (1..=32).collect())
}

fuzz_target!(|data: &[u8]| {
    let key = key();
    let lookup = |n: &Name| (n == &key.name).then_some(&key);
    let _ = tsig::verify_request(data, lookup, NOW, 300);
    // A request the key signed: the body as the fuzzer made it.
    if data.len() >= 12 {
        let mut signed = data.to_vec();
        let params = SignParams {
            time: NOW,
            fudge: 300,
            error: 0,
            other: &[],
        };
        tsig::sign(&mut signed, &key, Context::Request, params);
        let _ = tsig::verify_request(&signed, lookup, NOW, 300);
    }
});
