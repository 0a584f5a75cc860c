//! Canonical form of RDATA for comparing RRs (RFC 4034 §6.2). It lives in
//! `rr` because [`crate::rr::Rr::same_rr`] needs it and `rr` is the lowest
//! module: `rdata` (text <-> wire) imports `rr`, never the reverse.

use std::borrow::Cow;

use super::wire::Reader;
use super::{Rdata, RecordType};

#[derive(Clone, Copy)]
enum Step {
    Skip(usize),
    Name,
    Str,
    Rest,
}

/// Where the names are in the RDATA of the types RFC 4034 §6.2 lists.
fn canonical_layout(code: u16) -> Option<&'static [Step]> {
    use Step::*;
    Some(match code {
        // NS, MD, MF, CNAME, MB, MG, MR, PTR, DNAME
        2 | 3 | 4 | 5 | 7 | 8 | 9 | 12 | 39 => &[Name],
        6 => &[Name, Name, Rest],
        // MINFO, RP
        14 | 17 => &[Name, Name],
        // MX, AFSDB, RT, KX
        15 | 18 | 21 | 36 => &[Skip(2), Name],
        26 => &[Skip(2), Name, Name],
        33 => &[Skip(6), Name],
        35 => &[Skip(4), Str, Str, Str, Name],
        // SIG, RRSIG: 18 octets of fixed fields, signer's name, signature.
        24 | 46 => &[Skip(18), Name, Rest],
        // NXT
        30 => &[Name, Rest],
        _ => return None,
    })
}

/// Canonical form for comparing RRs (RFC 4034 §6.2): names embedded in the
/// RDATA of the listed types lower-cased; other types unchanged.
///
/// RFC 4034 §6.2 item 3: "if the type of the RR is NS, MD, MF, CNAME, SOA,
/// MB, MG, MR, PTR, HINFO, MINFO, MX, HINFO, RP, AFSDB, RT, SIG, PX, NXT,
/// NAPTR, KX, SRV, DNAME, A6, RRSIG, or NSEC, all uppercase US-ASCII letters
/// in the DNS names contained within the RDATA are replaced by the
/// corresponding lowercase US-ASCII letters". RFC 6840 §5.1 removes NSEC
/// ("there is no need to downcase a domain name in the RDATA of NSEC
/// records"); HINFO contains no names. Malformed RDATA is left unchanged.
pub fn canonical(rtype: RecordType, rdata: &Rdata) -> Cow<'_, [u8]> {
    let wire = rdata.as_bytes();
    let code = u16::from(rtype);
    let names = if code == 38 {
        a6_name_range(wire)
    } else {
        canonical_layout(code).and_then(|steps| name_ranges(steps, wire))
    };
    let Some(ranges) = names else {
        return Cow::Borrowed(wire);
    };
    let needs = ranges.iter().any(|r| {
        wire.get(r.clone())
            .is_some_and(|s| s.iter().any(u8::is_ascii_uppercase))
    });
    if !needs {
        return Cow::Borrowed(wire);
    }
    let mut out = wire.to_vec();
    for r in ranges {
        if let Some(s) = out.get_mut(r) {
            // Length octets are at most 63, so never ASCII letters.
            s.make_ascii_lowercase();
        }
    }
    Cow::Owned(out)
}

fn name_ranges(steps: &[Step], wire: &[u8]) -> Option<Vec<std::ops::Range<usize>>> {
    let mut r = Reader::new(wire);
    let mut ranges = Vec::new();
    for step in steps {
        match step {
            Step::Skip(n) => {
                r.take(*n)?;
            }
            Step::Name => {
                let start = r.pos;
                r.name()?;
                ranges.push(start..r.pos);
            }
            Step::Str => {
                r.string()?;
            }
            Step::Rest => {
                r.rest();
            }
        }
    }
    r.done().then_some(ranges)
}

/// RFC 2874 §3.1 A6: prefix length, address suffix, prefix name.
fn a6_name_range(wire: &[u8]) -> Option<Vec<std::ops::Range<usize>>> {
    let mut r = Reader::new(wire);
    let plen = r.u8()?;
    if plen > 128 {
        return None;
    }
    r.take(usize::from(128 - plen).div_ceil(8))?;
    let mut ranges = Vec::new();
    if plen > 0 {
        let start = r.pos;
        r.name()?;
        ranges.push(start..r.pos);
    }
    r.done().then_some(ranges)
}
