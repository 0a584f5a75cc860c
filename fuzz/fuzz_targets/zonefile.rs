//! The zone-file parser (`Document::parse`, every directive and RDATA
//! type), with `$INCLUDE` served from memory: `inc.zone` exists (and
//! includes itself, a loop the parser must refuse), anything else does
//! not. A file that parses is also loaded as a zone (`Zone::build`), as
//! the server does. Nothing may panic.
#![no_main]

use libfuzzer_sys::fuzz_target;
use zonewright::rr::Name;
use zonewright::zone::Zone;
use zonewright::zonefile::{Document, IncludeLoader};

/// `$INCLUDE` from memory, no file system.
struct Memory;

const INCLUDED: &str = "included 60 IN TXT \"from inc.zone\"\n$INCLUDE inc.zone\n";

impl IncludeLoader for Memory {
    fn load(&self, _from: &str, path: &str) -> Result<(String, String), String> {
        match path {
            "inc.zone" => Ok(("inc.zone".to_owned(), INCLUDED.to_owned())),
            _ => Err(format!("{path}: no such file")),
        }
    }
}

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let origin = Name::from_ascii("example.com.").unwrap_or_else(|_| Name::root());
    let Ok(doc) = Document::parse("fuzz.zone", &text, &origin, &Memory) else {
        return;
    };
    let records = doc.records().map(|(r, l)| (r.clone(), l.clone())).collect();
    let _ = Zone::build(origin, records);
});
