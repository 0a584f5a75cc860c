//! Resource records as zonewright holds them.
//!
//! Every record is class IN (the only class a zone file may use here), and
//! its RDATA is kept in **uncompressed wire form** ([`Rdata`]). One
//! representation serves every type, known or not (RFC 3597 §3: unknown
//! types are opaque octets), is written to a response without re-encoding,
//! and is compared byte-for-byte once names are lower-cased
//! ([`canonical`], RFC 4034 §6.2).
//!
//! Text conversion (zone-file presentation form <-> wire) lives in
//! [`crate::rdata`], which builds on this module; this module only defines
//! the types, their canonical form, the wire cursor both use (`wire`) and
//! the few accessors the answer engine needs. It imports nothing else from
//! the crate: `rr` is the lowest layer.

use std::fmt;
use std::sync::Arc;

pub use hickory_proto::rr::{Name, RecordType};
use hickory_proto::serialize::binary::{BinDecodable, BinDecoder};

mod canonical;
pub(crate) mod wire;

pub use canonical::canonical;

/// RFC 2181 §8: a TTL is an unsigned number between 0 and 2^31 - 1. The
/// zone-file parser, the REST API and its config all cap TTLs with it.
pub const MAX_TTL: u32 = 0x7FFF_FFFF;

/// RDATA in uncompressed wire form.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Rdata(pub Box<[u8]>);

impl Rdata {
    pub fn new(bytes: impl Into<Box<[u8]>>) -> Self {
        Rdata(bytes.into())
    }

    pub fn as_bytes(&self) -> &[u8] {
        &self.0
    }
}

impl fmt::Debug for Rdata {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Rdata(")?;
        for b in self.0.iter() {
            write!(f, "{b:02x}")?;
        }
        write!(f, ")")
    }
}

/// One resource record, class IN.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Rr {
    /// Absolute owner name, case as written.
    pub name: Name,
    pub ttl: u32,
    pub rtype: RecordType,
    pub rdata: Rdata,
}

impl Rr {
    /// RFC 2136 §1.1 / RFC 2181 §5: two RRs are the same RR when owner,
    /// type, class and RDATA match, names compared without regard to case.
    pub fn same_rr(&self, other: &Rr) -> bool {
        self.rtype == other.rtype
            && self.name == other.name
            && canonical(self.rtype, &self.rdata) == canonical(other.rtype, &other.rdata)
    }
}

/// Where a record or directive came from: file, 1-based line and column.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Location {
    pub file: Arc<str>,
    pub line: u32,
    pub col: u32,
}

impl fmt::Display for Location {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Line 0: the file as a whole (an empty one has no apex SOA).
        if self.line == 0 {
            return write!(f, "{}", self.file);
        }
        write!(f, "{}:{}:{}", self.file, self.line, self.col)
    }
}

/// Reads one domain name at `at` in uncompressed RDATA.
fn name_at(rdata: &[u8], at: usize) -> Option<Name> {
    let bytes = rdata.get(at..)?;
    let mut decoder = BinDecoder::new(bytes);
    Name::read(&mut decoder).ok()
}

/// The name an RR points at, for CNAME/DNAME chasing and additional-section
/// processing (RFC 1034 §3.6.2, RFC 1035 §3.3, RFC 2782, RFC 9460 §4).
/// `None` for types without one, or for SVCB/HTTPS with target ".".
pub fn target_name(rtype: RecordType, rdata: &Rdata) -> Option<Name> {
    let bytes = rdata.as_bytes();
    match rtype {
        RecordType::CNAME | RecordType::NS | RecordType::PTR | RecordType::DNAME => {
            name_at(bytes, 0)
        }
        RecordType::MX => name_at(bytes, 2),
        RecordType::SRV => name_at(bytes, 6),
        RecordType::SVCB | RecordType::HTTPS => name_at(bytes, 2).filter(|n| !n.is_root()),
        _ => None,
    }
}

/// SOA fields needed by the query side and the serial logic (RFC 1035 §3.3.13).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SoaTimers {
    pub serial: u32,
    pub refresh: u32,
    pub retry: u32,
    pub expire: u32,
    pub minimum: u32,
}

/// Reads the five 32-bit fields that end SOA RDATA.
pub fn soa_timers(rdata: &Rdata) -> Option<SoaTimers> {
    let b = rdata.as_bytes();
    if b.len() < 20 {
        return None;
    }
    let tail = &b[b.len() - 20..];
    let word = |i: usize| u32::from_be_bytes([tail[i], tail[i + 1], tail[i + 2], tail[i + 3]]);
    Some(SoaTimers {
        serial: word(0),
        refresh: word(4),
        retry: word(8),
        expire: word(12),
        minimum: word(16),
    })
}

/// SOA RDATA with its serial replaced.
pub fn soa_with_serial(rdata: &Rdata, serial: u32) -> Option<Rdata> {
    let mut b = rdata.as_bytes().to_vec();
    if b.len() < 20 {
        return None;
    }
    let at = b.len() - 20;
    b[at..at + 4].copy_from_slice(&serial.to_be_bytes());
    Some(Rdata::new(b))
}

/// A set of record changes to one zone: what every writer hands the store
/// and what the zone-file editor applies to the text.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ChangeSet {
    /// RRs to remove (matched with [`Rr::same_rr`]).
    pub remove: Vec<Rr>,
    /// RRs to add.
    pub add: Vec<Rr>,
    /// New SOA serial, replaced in place in the SOA record.
    pub serial: Option<u32>,
}

impl ChangeSet {
    pub fn is_empty(&self) -> bool {
        self.remove.is_empty() && self.add.is_empty() && self.serial.is_none()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn n(s: &str) -> Name {
        Name::from_ascii(s).expect("test name")
    }

    #[test]
    fn target_of_mx_skips_preference() {
        let mut wire = vec![0, 10];
        wire.extend_from_slice(b"\x04mail\x07example\x03com\x00");
        let rd = Rdata::new(wire);
        assert_eq!(
            target_name(RecordType::MX, &rd),
            Some(n("mail.example.com."))
        );
    }

    #[test]
    fn svcb_root_target_is_none() {
        let rd = Rdata::new(vec![0, 1, 0]);
        assert_eq!(target_name(RecordType::HTTPS, &rd), None);
    }

    #[test]
    fn soa_serial_round_trip() {
        let mut wire = b"\x02ns\x00\x05admin\x00".to_vec();
        for v in [7u32, 3600, 600, 86400, 300] {
            wire.extend_from_slice(&v.to_be_bytes());
        }
        let rd = Rdata::new(wire);
        assert_eq!(soa_timers(&rd).map(|t| t.serial), Some(7));
        let bumped = soa_with_serial(&rd, 2611220001).expect("soa");
        let t = soa_timers(&bumped).expect("soa");
        assert_eq!((t.serial, t.minimum), (2611220001, 300));
    }

    #[test]
    fn truncated_rdata_has_no_target() {
        assert_eq!(target_name(RecordType::SRV, &Rdata::new(vec![0, 1])), None);
        assert!(soa_timers(&Rdata::new(vec![0; 5])).is_none());
    }
}
