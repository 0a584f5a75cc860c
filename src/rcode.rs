//! PURE: the one RCODE type, for the header, the OPT RR's extended bits and
//! TSIG's error field.
//!
//! # Design
//!
//! RFC 1035 §4.1.1 gives RCODE four bits of the header; RFC 6891 §6.1.3
//! adds eight more in the OPT RR ("EXTENDED-RCODE ... Forms the upper 8
//! bits of extended 12-bit RCODE"), and RFC 8945 §4.3 puts the same
//! registry's values, 16 bits wide, in a TSIG RR's Error field. One enum
//! covers every value zonewright sends; [`Rcode::header_bits`] and
//! [`Rcode::extended_bits`] split it for the wire. Value 16 has two names:
//! BADVERS in an OPT (RFC 6891 §9), BADSIG in a TSIG error field (RFC 8945
//! §5.2.2); it is one variant, [`Rcode::BadVers`], with [`Rcode::BADSIG`]
//! as its TSIG name.

use std::fmt;

/// An RCODE (IANA "DNS RCODEs" registry), extended values included.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
#[repr(u16)]
pub enum Rcode {
    /// RFC 1035 §4.1.1.
    #[default]
    NoError = 0,
    FormErr = 1,
    ServFail = 2,
    NxDomain = 3,
    NotImp = 4,
    Refused = 5,
    /// RFC 2136 §2.2.
    YxDomain = 6,
    YxRrset = 7,
    NxRrset = 8,
    NotAuth = 9,
    NotZone = 10,
    /// RFC 6891 §9 (in an OPT); BADSIG in a TSIG error field (RFC 8945).
    BadVers = 16,
    /// RFC 8945 §5.2.1: the key or algorithm is unknown.
    BadKey = 17,
    /// RFC 8945 §5.2.3: the time is outside the fudge.
    BadTime = 18,
    /// RFC 8945 §5.2.2.1: the MAC is truncated beyond what is allowed.
    BadTrunc = 22,
}

impl Rcode {
    /// RFC 8945 §5.2.2: value 16 in a TSIG error field.
    pub const BADSIG: Rcode = Rcode::BadVers;

    /// The whole value (12 bits with EDNS, 16 in a TSIG error field).
    pub const fn code(self) -> u16 {
        self as u16
    }

    /// The four bits that go in the header.
    pub const fn header_bits(self) -> u16 {
        self.code() & 0xF
    }

    /// The upper eight of twelve bits, for the OPT RR's EXTENDED-RCODE.
    pub const fn extended_bits(self) -> u8 {
        ((self.code() >> 4) & 0xFF) as u8
    }

    /// Whether the value needs an OPT RR to be sent (above 15).
    pub const fn is_extended(self) -> bool {
        self.code() > 15
    }

    /// The registry's mnemonic (16 as BADVERS; see [`Rcode::BADSIG`]).
    pub const fn mnemonic(self) -> &'static str {
        match self {
            Rcode::NoError => "NOERROR",
            Rcode::FormErr => "FORMERR",
            Rcode::ServFail => "SERVFAIL",
            Rcode::NxDomain => "NXDOMAIN",
            Rcode::NotImp => "NOTIMP",
            Rcode::Refused => "REFUSED",
            Rcode::YxDomain => "YXDOMAIN",
            Rcode::YxRrset => "YXRRSET",
            Rcode::NxRrset => "NXRRSET",
            Rcode::NotAuth => "NOTAUTH",
            Rcode::NotZone => "NOTZONE",
            Rcode::BadVers => "BADVERS",
            Rcode::BadKey => "BADKEY",
            Rcode::BadTime => "BADTIME",
            Rcode::BadTrunc => "BADTRUNC",
        }
    }
}

impl fmt::Display for Rcode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.mnemonic())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc6891_6_1_3_extended_rcode_splits_into_header_and_opt_bits() {
        assert_eq!(Rcode::BadVers.header_bits(), 0);
        assert_eq!(Rcode::BadVers.extended_bits(), 1);
        assert_eq!(Rcode::BadTrunc.header_bits(), 6);
        assert_eq!(Rcode::BadTrunc.extended_bits(), 1);
        assert_eq!(Rcode::NotZone.header_bits(), 10);
        assert_eq!(Rcode::NotZone.extended_bits(), 0);
        assert!(!Rcode::NotZone.is_extended() && Rcode::BadKey.is_extended());
        assert_eq!(Rcode::BADSIG.code(), 16);
    }
}
