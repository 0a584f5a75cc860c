//! The request decoder: every byte string a client can send over UDP or
//! TCP goes through `message::parse_request` (queries, AXFR, IXFR and the
//! replies for other opcodes), `tsig::find` (the TSIG RR, when there is
//! one) and, for UPDATE, `update::wire::parse` on the bytes before the
//! TSIG RR, as the server does. None of them may panic.
#![no_main]

use libfuzzer_sys::fuzz_target;
use zonewright::{message, tsig, update};

fuzz_target!(|data: &[u8]| {
    let _ = message::parse_request(data);
    let (end, tsig_count) = match tsig::find(data) {
        Ok(Some(found)) => (found.start, 1),
        Ok(None) => (data.len(), 0),
        Err(_) => return,
    };
    let _ = update::wire::parse(data, end, tsig_count);
});
