//! The request decoder: every byte string a client can send over UDP or
//! TCP goes through `tsig::find` (the TSIG RR, when there is one) and
//! `request::decode` up to it, as the server does (queries, AXFR, IXFR,
//! UPDATE sections, the refusals for other opcodes); and unsigned, as a
//! query is. None of them may panic.
#![no_main]

use libfuzzer_sys::fuzz_target;
use zonewright::{request, tsig};

fuzz_target!(|data: &[u8]| {
    let _ = request::decode(data, None);
    if let Ok(Some(found)) = tsig::find(data) {
        let _ = request::decode(data, Some(found.start));
    }
});
