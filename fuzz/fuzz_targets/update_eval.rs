//! The UPDATE evaluator on a fixed small zone, as the one write path runs
//! it: decode (`tsig::find`, `request::update::parse`), the grants' view of it
//! (`update::touched`), RFC 2136 prerequisites and updates
//! (`update::evaluate`), then the minimal-diff edit (`Document::apply`) and
//! the served zone's incremental rebuild (`Zone::with_changes`). Nothing
//! may panic, and an edit that both accept must be a file that parses back
//! to the records the served zone holds (what a reload would serve).
#![no_main]

use std::sync::{Arc, OnceLock};

use libfuzzer_sys::fuzz_target;
use zonewright::rr::{Location, Name, Rr};
use zonewright::zone::Zone;
use zonewright::zonefile::{Document, NoIncludes};
use zonewright::{request, tsig, update};

const FILE: &str = "example.com.zone";
const ZONE: &str = "$ORIGIN example.com.\n$TTL 300\n\
@ IN SOA ns1 hostmaster ( 2024010101 7200 3600 1209600 300 )\n\
@ IN NS ns1\n\
@ IN MX 10 mail\n\
@ IN TXT \"v=spf1 -all\" ; hand-written\n\
ns1 IN A 192.0.2.1\n\
mail IN A 192.0.2.2\n\
www IN A 192.0.2.3\n\
    IN AAAA 2001:db8::3\n\
alias IN CNAME www\n\
*.wild IN TXT \"wildcard\"\n\
sub IN NS ns.sub\n\
ns.sub IN A 192.0.2.4\n\
_acme-challenge 60 IN TXT \"token-1\"\n\
_acme-challenge.www 60 IN TXT \"token-2\"\n";

struct Fixture {
    doc: Document,
    zone: Zone,
}

fn origin() -> Name {
    Name::from_ascii("example.com.").unwrap_or_else(|_| Name::root())
}

fn fixture() -> Option<&'static Fixture> {
    static F: OnceLock<Option<Fixture>> = OnceLock::new();
    F.get_or_init(|| {
        let doc = Document::parse(FILE, ZONE, &origin(), &NoIncludes).ok()?;
        let records = doc.records().map(|(r, l)| (r.clone(), l.clone())).collect();
        let zone = Zone::build(origin(), records).ok()?.0;
        Some(Fixture { doc, zone })
    })
    .as_ref()
}

/// A zone's records in one order, names compared without case.
fn sorted(rrs: impl Iterator<Item = Rr>) -> Vec<(String, u16, Vec<u8>, u32)> {
    let mut v: Vec<_> = rrs
        .map(|r| {
            (
                r.name.to_ascii().to_ascii_lowercase(),
                u16::from(r.rtype),
                r.rdata.as_bytes().to_vec(),
                r.ttl,
            )
        })
        .collect();
    v.sort();
    v
}

fuzz_target!(|data: &[u8]| {
    let Some(f) = fixture() else {
        panic!("the fixed zone does not load");
    };
    // As the server does: the UPDATE is the message before its TSIG RR
    // (the signature itself is the tsig_verify target's).
    let (end, tsig_count) = match tsig::find(data) {
        Ok(Some(found)) => (found.start, 1),
        Ok(None) => (data.len(), 0),
        Err(_) => return,
    };
    let Ok(req) = request::update::parse(data, end, tsig_count) else {
        return;
    };
    let _ = update::touched(&req);
    let Ok(mut changes) = update::evaluate(&f.zone, &req) else {
        return;
    };
    if changes.is_empty() {
        return;
    }
    changes.serial = Some(f.zone.serial().wrapping_add(1));
    let Ok((_, rendered)) = f.doc.apply(&changes) else {
        return;
    };
    let here = Location {
        file: Arc::from("(this write)"),
        line: 0,
        col: 0,
    };
    let Ok((zone, _)) = f.zone.with_changes(&changes, &here) else {
        return;
    };
    let text = rendered
        .files
        .iter()
        .find(|(name, _)| name == FILE)
        .map_or(ZONE, |(_, t)| t.as_str());
    let reloaded = match Document::parse(FILE, text, &origin(), &NoIncludes) {
        Ok(d) => d,
        Err(e) => panic!("the edited file does not parse: {e:?}\n{text}"),
    };
    let records = reloaded
        .records()
        .map(|(r, l)| (r.clone(), l.clone()))
        .collect();
    let rebuilt = match Zone::build(origin(), records) {
        Ok((z, _)) => z,
        Err(e) => panic!("the edited file does not load: {e:?}\n{text}"),
    };
    assert_eq!(
        sorted(rebuilt.records().cloned()),
        sorted(zone.records().cloned()),
        "a reload would serve other records than the write published\n{text}"
    );
});
