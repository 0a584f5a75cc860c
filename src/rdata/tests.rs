use super::*;
use std::borrow::Cow;

use crate::rr::canonical;

fn origin() -> Name {
    Name::from_ascii("example.com.").expect("origin")
}

fn toks(s: &str) -> Vec<Token<'_>> {
    // Minimal test lexer: whitespace-separated, "..." quoted (with \" inside).
    let mut out = Vec::new();
    let b = s.as_bytes();
    let mut i = 0;
    while i < b.len() {
        if b[i].is_ascii_whitespace() {
            i += 1;
            continue;
        }
        if b[i] == b'"' {
            let start = i + 1;
            let mut j = start;
            while j < b.len() && b[j] != b'"' {
                if b[j] == b'\\' {
                    j += 1;
                }
                j += 1;
            }
            out.push(Token {
                text: &s[start..j],
                quoted: true,
            });
            i = j + 1;
        } else {
            let start = i;
            while i < b.len() && !b[i].is_ascii_whitespace() {
                if b[i] == b'\\' {
                    i += 1;
                }
                i += 1;
            }
            i = i.min(b.len());
            out.push(Token {
                text: &s[start..i],
                quoted: false,
            });
        }
    }
    out
}

fn rt(s: &str) -> RecordType {
    parse_type(s).expect("type")
}

fn wire(ty: &str, text: &str) -> Result<Rdata, RdataError> {
    from_text(rt(ty), &toks(text), &origin())
}

fn hex(rd: &Rdata) -> String {
    hex_encode(rd.as_bytes())
}

/// (type, presentation text, expected wire hex)
const TABLE: &[(&str, &str, &str)] = &[
    ("A", "10.0.0.1", "0A000001"),
    ("AAAA", "2001:db8::1", "20010DB8000000000000000000000001"),
    ("NS", "ns1", "036E7331076578616D706C6503636F6D00"),
    (
        "NS",
        "ns1.example.net.",
        "036E7331076578616D706C65036E657400",
    ),
    ("CNAME", "@", "076578616D706C6503636F6D00"),
    ("DNAME", ".", "00"),
    ("PTR", "a\\.b.c.", "03612E62016300"),
    (
        "SOA",
        "ns. host. 2024010101 1h 15m 2w 300",
        "026E730004686F7374 0078A3F175 00000E10 00000384 00127500 0000012C",
    ),
    (
        "MX",
        "10 mail.example.net.",
        "000A046D61696C076578616D706C65036E657400",
    ),
    ("TXT", "\"hello world\"", "0B68656C6C6F20776F726C64"),
    ("TXT", "a \"b c\"", "0161036220 63"),
    ("SPF", "\"v=spf1 -all\"", "0B763D73706631202D616C6C"),
    ("HINFO", "\"PC\" Linux", "025043054C696E7578"),
    (
        "RP",
        "admin.example.net. .",
        "0561646D696E076578616D706C65036E65740000",
    ),
    (
        "AFSDB",
        "1 afs.example.net.",
        "000103616673076578616D706C65036E657400",
    ),
    (
        "KX",
        "5 kx.example.net.",
        "0005026B78076578616D706C65036E657400",
    ),
    (
        "SRV",
        "0 5 5060 sip.example.net.",
        "0000000513C4037369 70076578616D706C65036E657400",
    ),
    (
        "NAPTR",
        "100 10 \"S\" \"SIP+D2U\" \"\" _sip._udp.example.net.",
        "0064000A0153075349502B4432550004 5F736970045F756470076578616D706C65036E657400",
    ),
    (
        "CAA",
        "0 issue \"letsencrypt.org\"",
        "00056973737565 6C657473656E63727970742E6F7267",
    ),
    ("CAA", "128 tbs Unknown", "800374627 3556E6B6E6F776E"),
    ("CAA", "0 issue \";\"", "0005697373756 53B"),
    (
        "URI",
        "10 1 \"ftp://ftp1.example.com/public\"",
        "000A0001 6674703A2F2F667470312E6578616D706C652E636F6D2F7075626C6963",
    ),
    (
        "SSHFP",
        "2 1 123456789abcdef67890123456789abcdef67890",
        "0201123456789ABCDEF67890123456789ABCDEF67890",
    ),
    ("TLSA", "3 1 1 0102 0304", "03010101020304"),
    ("SMIMEA", "3 0 1 AABB", "030001AABB"),
    // RFC 4034 §5.4 example.
    (
        "DS",
        "60485 5 1 2BB183AF5F22588179A53B0A 98631FAD1A292118",
        "EC45050 12BB183AF5F22588179A53B0A98631FAD1A292118",
    ),
    ("CDS", "0 0 0 00", "0000000000"),
    ("DS", "1 RSASHA256 2 AB", "0001080 2AB"),
    ("DNSKEY", "256 3 8 AwEA AQID", "01000308 03010001 0203"),
    ("CDNSKEY", "0 3 0 AA==", "0000030000"),
    ("KEY", "256 3 ED25519 AQID", "0100030F010203"),
    (
        "RRSIG",
        "A 5 3 86400 20030322173103 20030220173103 2642 example.com. AQID",
        "0001050300015180 3E7C9DD7 3E5510D7 0A52 076578616D706C6503636F6D00 010203",
    ),
    (
        "RRSIG",
        "TYPE1234 13 2 3600 1700000000 1600000000 1 . AQID",
        "04D20D0200000E10 6553F100 5F5E1000 0001 00 010203",
    ),
    // RFC 4034 §4.3 example.
    (
        "NSEC",
        "host.example.com. A MX RRSIG NSEC TYPE1234",
        "04686F7374076578616D706C6503636F6D00 0006400100000003 041B 0000000000000000000000000000000000000000000000000000 20",
    ),
    ("NSEC", "@", "076578616D706C6503636F6D00"),
    // RFC 5155 Appendix A.
    (
        "NSEC3",
        "1 1 12 aabbccdd 2t7b4g4vsa5smi47k61mv5bv1a22bojr MX DNSKEY NS SOA NSEC3PARAM RRSIG",
        "0101000C04AABBCCDD14 174EB2409FE28BCB4887A1836F957F0A8425E27B 000722010000000290",
    ),
    ("NSEC3", "1 0 0 - CPNMUOG", "010000000004666F6F62"),
    ("NSEC3PARAM", "1 0 10 -", "0100000A00"),
    ("NSEC3PARAM", "1 0 0 AB", "01000000 01AB"),
    ("OPENPGPKEY", "AQID BA==", "01020304"),
    (
        "DHCID",
        "AAIBY2/AuCccgoJbsaxcQc9TUapptP69lOjxfNuVAA2kjEA=",
        "000201636FC0B8271C82825BB1AC5C41CF5351AA69B4FEBD94E8F17CDB95000DA48C40",
    ),
    ("CERT", "PGP 0 0 AQID", "00030000 00010203"),
    ("CERT", "65000 1 RSASHA256 AQID", "FDE80001 08010203"),
    ("CSYNC", "66 3 A NS AAAA", "00000042 0003 000460000008"),
    (
        "ZONEMD",
        "2018031900 1 1 FEBE3D4CE2EC2FFA",
        "7848B91C 01 01 FEBE3D4CE2EC2FFA",
    ),
    ("EUI48", "00-00-5e-00-53-2a", "00005E00532A"),
    ("EUI64", "00-00-5E-EF-10-00-00-2A", "00005EEF1000002A"),
    // RFC 3597 §5 examples.
    ("A", "\\# 4 0A000001", "0A000001"),
    ("TYPE731", "\\# 6 abcd ef012345", "ABCDEF012345"),
    ("TYPE62347", "\\# 0", ""),
    ("NULL", "\\# 3 010203", "010203"),
    ("MX", "\\# 3 000A 00", "000A00"),
];

fn clean(h: &str) -> String {
    h.chars()
        .filter(|c| !c.is_whitespace())
        .collect::<String>()
        .to_ascii_uppercase()
}

#[test]
fn table_text_to_wire() {
    for (ty, text, want) in TABLE {
        let got = wire(ty, text).unwrap_or_else(|e| panic!("{ty} {text}: {e}"));
        assert_eq!(hex(&got), clean(want), "{ty} {text}");
    }
}

#[test]
fn table_round_trips() {
    for (ty, text, _) in TABLE {
        let rd = wire(ty, text).expect("parse");
        for o in [None, Some(origin())] {
            let t = to_text(rt(ty), &rd, o.as_ref());
            let again = from_text(rt(ty), &toks(&t), &origin())
                .unwrap_or_else(|e| panic!("{ty} {text} -> {t}: {e}"));
            assert_eq!(again, rd, "{ty} {text} -> {t}");
        }
    }
}

#[test]
fn to_text_style() {
    let o = origin();
    let cases: &[(&str, &str, Option<&Name>, &str)] = &[
        ("MX", "10 mail", None, "10 mail.example.com."),
        ("MX", "10 mail", Some(&o), "10 mail"),
        ("CNAME", "@", Some(&o), "@"),
        ("NS", "ns.example.net.", Some(&o), "ns.example.net."),
        // Relative only when the origin labels match exactly (case kept).
        ("NS", "NS.Example.COM.", Some(&o), "NS.Example.COM."),
        ("NS", "NS.example.com.", Some(&o), "NS"),
        ("NS", "example.com.", Some(&Name::root()), "example.com."),
        (
            "TXT",
            "a\\\"b \\255 \\065",
            None,
            "\"a\\\"b\" \"\\255\" \"A\"",
        ),
        ("TXT", "\"x\\\\y\"", None, "\"x\\\\y\""),
        ("A", "10.0.0.1", None, "10.0.0.1"),
        (
            "SOA",
            "ns hostmaster 1 1h 10m 1w 5m",
            Some(&o),
            "ns hostmaster 1 3600 600 604800 300",
        ),
        (
            "CAA",
            "0 issue letsencrypt.org",
            None,
            "0 issue \"letsencrypt.org\"",
        ),
        ("NSEC3PARAM", "1 0 0 -", None, "1 0 0 -"),
        ("DS", "60485 5 1 2bb183af", None, "60485 5 1 2BB183AF"),
        (
            "RRSIG",
            "A 5 3 86400 20030322173103 20030220173103 2642 example.com. AQID",
            None,
            "A 5 3 86400 20030322173103 20030220173103 2642 example.com. AQID",
        ),
        ("NULL", "\\# 1 ff", None, "\\# 1 FF"),
        ("TYPE65534", "\\# 0", None, "\\# 0"),
        ("PTR", "a\\.b\\032c.", None, "a\\.b\\032c."),
        ("PTR", "\\@x.", None, "\\@x."),
    ];
    for (ty, text, o, want) in cases {
        let rd = wire(ty, text).unwrap_or_else(|e| panic!("{ty} {text}: {e}"));
        assert_eq!(to_text(rt(ty), &rd, *o), *want, "{ty} {text}");
    }
}

#[test]
fn undecodable_wire_is_generic() {
    let rd = Rdata::new(vec![1, 2, 3]);
    assert_eq!(to_text(RecordType::A, &rd, None), "\\# 3 010203");
    let rd = Rdata::new(vec![0, 10, 0xc0, 0x0c]);
    assert_eq!(to_text(RecordType::MX, &rd, None), "\\# 4 000AC00C");
    assert_eq!(to_text(RecordType::TXT, &Rdata::new(vec![]), None), "\\# 0");
    assert_eq!(
        to_text(RecordType::TXT, &Rdata::new(vec![5, b'a']), None),
        "\\# 2 0561"
    );
}

#[test]
fn types_parse_and_print() {
    for (code, name) in TYPE_NAMES {
        let t = parse_type(name).expect("known");
        assert_eq!(t, RecordType::from(*code));
        assert_eq!(type_to_text(t), *name);
        assert_eq!(parse_type(&name.to_ascii_lowercase()), Some(t));
    }
    assert_eq!(type_to_text(RecordType::from(29)), "LOC");
    assert_eq!(parse_type("loc"), Some(RecordType::Unknown(29)));
    assert_eq!(parse_type("TYPE29"), Some(RecordType::Unknown(29)));
    assert_eq!(parse_type("type1"), Some(RecordType::A));
    assert_eq!(type_to_text(RecordType::from(65534)), "TYPE65534");
    assert_eq!(parse_type("TYPE65534"), Some(RecordType::from(65534)));
    assert_eq!(type_to_text(RecordType::ANAME), "TYPE65305");
    assert_eq!(parse_type("TYPE65305"), Some(RecordType::ANAME));
    assert_eq!(type_to_text(RecordType::ZERO), "TYPE0");
    for bad in [
        "",
        "TYPE",
        "TYPE65536",
        "TYPE-1",
        "TYPE+1",
        "FOO",
        "ANAME",
        "TYPÉ1",
    ] {
        assert_eq!(parse_type(bad), None, "{bad}");
    }
    assert_eq!(type_to_text(RecordType::Unknown(1)), "A");
}

#[test]
fn unknown_type_code_dispatches_by_number() {
    let rd = from_text(RecordType::Unknown(1), &toks("10.0.0.1"), &origin()).expect("A");
    assert_eq!(rd.as_bytes(), &[10, 0, 0, 1]);
}

#[test]
fn escapes() {
    let cases: &[(&str, &[u8])] = &[
        ("\"a\\\"b\"", b"\x03a\"b"),
        ("\\065", b"\x01A"),
        ("\\255", b"\x01\xff"),
        ("\"\\000\"", b"\x01\x00"),
        ("a\\ b", b"\x03a b"),
        ("\"\"", b"\x00"),
        ("\"caf\u{e9}\"", b"\x05caf\xc3\xa9"),
    ];
    for (text, want) in cases {
        let rd = wire("TXT", text).unwrap_or_else(|e| panic!("{text}: {e}"));
        assert_eq!(rd.as_bytes(), *want, "{text}");
    }
    let long = "x".repeat(255);
    assert_eq!(wire("TXT", &long).expect("255").as_bytes().len(), 256);
    let e = wire("TXT", &format!("ok {}", "x".repeat(256))).expect_err("256");
    assert_eq!(e.token, 1);
    assert!(e.message.contains("255"), "{}", e.message);
    // 64 `\255` escapes = 64 octets, fine; 256 escaped octets are too long.
    let e = wire("TXT", &"\\065".repeat(256)).expect_err("escaped 256");
    assert!(e.message.contains("256 octets"));
}

#[test]
fn name_escapes() {
    let rd = wire("PTR", "a\\.b.example.").expect("escaped dot");
    assert_eq!(rd.as_bytes(), b"\x03a.b\x07example\x00");
    let rd = wire("PTR", "\\097\\066c").expect("ddd");
    assert_eq!(rd.as_bytes(), b"\x03aBc\x07example\x03com\x00");
    let rd = wire("PTR", "host").expect("relative");
    assert_eq!(rd.as_bytes(), b"\x04host\x07example\x03com\x00");
}

fn bad(ty: &str, text: &str) -> RdataError {
    match wire(ty, text) {
        Ok(rd) => panic!("{ty} {text:?} parsed as {rd:?}"),
        Err(e) => e,
    }
}

#[test]
fn errors() {
    let cases: &[(&str, &str, usize, &str)] = &[
        ("A", "1.2.3", 0, "invalid IPv4 address \"1.2.3\""),
        ("A", "", 0, "A: expected 1 field (address), found 0"),
        (
            "A",
            "1.2.3.4 5",
            1,
            "A: expected 1 field (address), found 2",
        ),
        ("AAAA", "1.2.3.4", 0, "invalid IPv6 address"),
        (
            "MX",
            "10",
            0,
            "MX: expected 2 fields (preference exchange), found 1",
        ),
        ("MX", "65536 a.", 0, "must be 0..=65535"),
        ("MX", "-1 a.", 0, "invalid number"),
        ("MX", "10 a..b", 1, "empty label"),
        ("MX", "10 a\\", 1, "dangling backslash"),
        ("MX", "10 \\256", 1, "more than 255"),
        ("NS", &format!("{}.", "a".repeat(64)), 0, "63"),
        ("NS", &format!("{}.", ["a"; 128].join(".")), 0, "255"),
        ("SOA", "ns. h. 1 2 3 4", 5, "SOA: expected 7 fields"),
        ("SOA", "ns. h. 4294967296 2 3 4 5", 2, "0..=4294967295"),
        ("SOA", "ns. h. 1 2 3 4 1x", 6, "invalid period"),
        ("SOA", "ns. h. 1 2 3 4 9999999999", 6, "invalid period"),
        ("TXT", "", 0, "TXT: expected at least 1 field"),
        ("TXT", "a\\25", 0, "three digits"),
        ("TXT", "\\999", 0, "more than 255"),
        ("CAA", "0 is-sue x", 1, "CAA tag"),
        ("CAA", "0 issue a b", 3, "single"),
        ("CAA", "256 issue a", 0, "0..=255"),
        ("DS", "1 2 3", 2, "DS: expected at least 4 fields"),
        ("DS", "1 2 3 abc", 3, "odd number"),
        ("DS", "1 NOPE 3 ab", 1, "invalid number"),
        ("DNSKEY", "256 3 8 AwE", 3, "base64"),
        (
            "RRSIG",
            "A 5 3 86400 20031322173103 20030220173103 2642 . AQID",
            4,
            "invalid time",
        ),
        ("RRSIG", "FOO 5 3 86400 1 2 3 . AQID", 0, "invalid type"),
        ("NSEC", "a. A BOGUS", 2, "unknown type"),
        ("NSEC3PARAM", "1 0 0", 2, "expected 4 fields"),
        ("NSEC3", "1 0 0 - ZZZ", 4, "base32hex"),
        ("EUI48", "00-00-5e-00-53", 0, "EUI"),
        ("A", "\\# 3 0A0000", 2, "not valid A RDATA"),
        ("A", "\\# 5 0A000001", 2, "does not match"),
        ("A", "\\# x 0A000001", 1, "invalid \\# length"),
        ("A", "\\#", 0, "must be followed"),
        ("TYPE999", "\\# 1 0g", 2, "hex"),
        ("TYPE999", "1 2", 0, "RFC 3597"),
        ("NULL", "abc", 0, "\\# <length> <hex>"),
        ("ANY", "\\# 0", 0, "meta-type"),
        ("TYPE41", "\\# 0", 0, "meta-type"),
    ];
    for (ty, text, token, msg) in cases {
        let e = bad(ty, text);
        assert_eq!(e.token, *token, "{ty} {text}: {}", e.message);
        assert!(
            e.message.contains(msg),
            "{ty} {text}: {:?} lacks {msg:?}",
            e.message
        );
    }
}

#[test]
fn periods() {
    assert_eq!(parse_period("0"), Some(0));
    assert_eq!(parse_period("1h30m"), Some(5400));
    assert_eq!(parse_period("2W"), Some(1_209_600));
    assert_eq!(parse_period("1d1"), Some(86_401));
    assert_eq!(parse_period("4294967295"), Some(u32::MAX));
    assert_eq!(parse_period("4294967296"), None);
    assert_eq!(parse_period("7102w"), None);
    assert_eq!(parse_period("h"), None);
    assert_eq!(parse_period(""), None);
    assert_eq!(parse_period("1y"), None);
}

#[test]
fn times() {
    assert_eq!(parse_time("19700101000000"), Some(0));
    assert_eq!(parse_time("21060207062815"), Some(u32::MAX));
    assert_eq!(parse_time("21060207062816"), None);
    assert_eq!(parse_time("20240230000000"), None);
    assert_eq!(
        parse_time("20240229000000").map(format_time).as_deref(),
        Some("20240229000000")
    );
    assert_eq!(format_time(u32::MAX), "21060207062815");
    assert_eq!(parse_time("1234"), Some(1234));
}

#[test]
fn canonical_lowercases_listed_types_only() {
    let mx = wire("MX", "10 MAIL.Example.NET.").expect("mx");
    assert_eq!(
        canonical(RecordType::MX, &mx).as_ref(),
        wire("MX", "10 mail.example.net.").expect("mx").as_bytes()
    );
    let lower = wire("MX", "10 mail.example.net.").expect("mx");
    assert!(matches!(
        canonical(RecordType::MX, &lower),
        Cow::Borrowed(_)
    ));
    let txt = wire("TXT", "ABC").expect("txt");
    assert!(matches!(canonical(RecordType::TXT, &txt), Cow::Borrowed(_)));
    let soa = wire("SOA", "NS. Host.X. 1 2 3 4 5").expect("soa");
    assert_eq!(
        canonical(RecordType::SOA, &soa).as_ref(),
        wire("SOA", "ns. host.x. 1 2 3 4 5")
            .expect("soa")
            .as_bytes()
    );
    // Serial 0x41424344 ("ABCD") must not be touched.
    let soa = wire("SOA", "NS. h. 1094861636 2 3 4 5").expect("soa");
    assert_eq!(
        canonical(RecordType::SOA, &soa).as_ref(),
        wire("SOA", "ns. h. 1094861636 2 3 4 5")
            .expect("soa")
            .as_bytes()
    );
    let naptr = wire("NAPTR", "1 2 \"S\" \"SIP\" \"\" X.Y.").expect("naptr");
    assert_eq!(
        canonical(RecordType::NAPTR, &naptr).as_ref(),
        wire("NAPTR", "1 2 \"S\" \"SIP\" \"\" x.y.")
            .expect("naptr")
            .as_bytes()
    );
    let srv = wire("SRV", "1 2 3 SRV.X.").expect("srv");
    assert_eq!(
        canonical(RecordType::SRV, &srv).as_ref(),
        wire("SRV", "1 2 3 srv.x.").expect("srv").as_bytes()
    );
    let rrsig = wire("RRSIG", "A 8 2 60 1 2 3 EXAMPLE. QUJD").expect("rrsig");
    assert_eq!(
        canonical(RecordType::RRSIG, &rrsig).as_ref(),
        wire("RRSIG", "A 8 2 60 1 2 3 example. QUJD")
            .expect("rrsig")
            .as_bytes()
    );
    // RFC 6840 §5.1: NSEC is no longer downcased.
    let nsec = wire("NSEC", "UP.X. A").expect("nsec");
    assert!(matches!(
        canonical(RecordType::NSEC, &nsec),
        Cow::Borrowed(_)
    ));
    // Malformed: unchanged.
    let junk = Rdata::new(b"\x00\x01\x05ABC".to_vec());
    assert_eq!(canonical(RecordType::MX, &junk).as_ref(), junk.as_bytes());
}

/// Types with dedicated parsers: (type, text, expected wire hex).
const SPECIAL: &[(&str, &str, &str)] = &[
    // RFC 1876 §4 examples.
    (
        "LOC",
        "42 21 54 N 71 06 18 W -24m 30m",
        "0033161389172DD070BE15F000988D20",
    ),
    (
        "LOC",
        "42 21 43.952 N 71 5 6.344 W -24m 1m 200m",
        "001224138917069070BF2DD800988D20",
    ),
    ("LOC", "0 N 0 E 0", "00121613 80000000 80000000 00989680"),
    (
        "LOC",
        "90 S 180 W 42849672.95m 90000000m 0.01m 0m",
        "00 99 10 00 6CB02700 59604E00 FFFFFFFF",
    ),
    // RFC 4025 §3.3 examples (shortened keys).
    (
        "IPSECKEY",
        "10 1 2 192.0.2.38 AQNRU3mG",
        "0A0102 C0000226 010351537986",
    ),
    ("IPSECKEY", "10 0 2 . AQNRU3mG", "0A0002 010351537986"),
    (
        "IPSECKEY",
        "10 3 2 mygateway.example.com. AQNRU3mG",
        "0A0302 096D7967617465776179076578616D706C6503636F6D00 010351537986",
    ),
    (
        "IPSECKEY",
        "10 2 2 2001:0DB8:0:8002::2000:1 AQNRU3mG",
        "0A0202 20010DB8000080020000000020000001 010351537986",
    ),
    ("IPSECKEY", "10 1 0 192.0.2.38", "0A0100 C0000226"),
    // RFC 8005 §5 style.
    (
        "HIP",
        "2 200100107B1A74DF365639CC39F1D578 AwEAAQ== rvs.example.com.",
        "10 02 0004 200100107B1A74DF365639CC39F1D578 03010001 03727673076578616D706C6503636F6D00",
    ),
    ("HIP", "2 AB AQID", "01020003AB010203"),
    // RFC 9460 Appendix D test vectors.
    (
        "SVCB",
        "0 foo.example.com.",
        "0000 03666F6F076578616D706C6503636F6D00",
    ),
    ("SVCB", "1 .", "000100"),
    (
        "SVCB",
        "16 foo.example.com. port=53",
        "0010 03666F6F076578616D706C6503636F6D00 000300020035",
    ),
    (
        "SVCB",
        "1 foo.example.com. key667=hello",
        "0001 03666F6F076578616D706C6503636F6D00 029B000568656C6C6F",
    ),
    (
        "SVCB",
        "1 foo.example.com. ipv6hint=\"2001:db8::1,2001:db8::53:1\"",
        "0001 03666F6F076578616D706C6503636F6D00 0006002020010DB800000000000000000000000120010DB8000000000000000000530001",
    ),
    (
        "SVCB",
        "16 foo.example.org. alpn=h2,h3-19 mandatory=ipv4hint,alpn ipv4hint=192.0.2.1",
        "0010 03666F6F076578616D706C65036F726700 000000040001000400010009026832056833 2D3139 00040004C0000201",
    ),
    (
        "HTTPS",
        "1 . alpn=h2 no-default-alpn ech=AQID",
        "0001 00 00010003026832 00020000 00050003010203",
    ),
    (
        "HTTPS",
        "1 svc alpn= \"h3\"",
        "0001 03737663076578616D706C6503636F6D00 00010003026833",
    ),
];

#[test]
fn special_types_text_to_wire_and_back() {
    for (ty, text, want) in SPECIAL {
        let got = wire(ty, text).unwrap_or_else(|e| panic!("{ty} {text}: {e}"));
        assert_eq!(hex(&got), clean(want), "{ty} {text}");
        for o in [None, Some(origin())] {
            let t = to_text(rt(ty), &got, o.as_ref());
            assert!(
                !t.starts_with("\\#"),
                "{ty} {text} printed generically: {t}"
            );
            let again = from_text(rt(ty), &toks(&t), &origin())
                .unwrap_or_else(|e| panic!("{ty} {text} -> {t}: {e}"));
            assert_eq!(again, got, "{ty} {text} -> {t}");
        }
    }
}

#[test]
fn special_to_text_style() {
    let o = origin();
    let cases: &[(&str, &str, Option<&Name>, &str)] = &[
        (
            "LOC",
            "42 21 54 N 71 06 18 W -24m 30m",
            None,
            "42 21 54.000 N 71 6 18.000 W -24.00m 30m 10000m 10m",
        ),
        (
            "LOC",
            "52 22 23 N 4 53 32 E -2.5 0.5",
            None,
            "52 22 23.000 N 4 53 32.000 E -2.50m 0.50m 10000m 10m",
        ),
        (
            "SVCB",
            "16 foo.example.org. alpn=h2,h3-19 mandatory=ipv4hint,alpn ipv4hint=192.0.2.1",
            None,
            "16 foo.example.org. mandatory=alpn,ipv4hint alpn=h2,h3-19 ipv4hint=192.0.2.1",
        ),
        ("HTTPS", "1 svc port=443", Some(&o), "1 svc port=443"),
        (
            "IPSECKEY",
            "10 3 2 gw AQNRU3mG",
            Some(&o),
            "10 3 2 gw AQNRU3mG",
        ),
    ];
    for (ty, text, o, want) in cases {
        let rd = wire(ty, text).unwrap_or_else(|e| panic!("{ty} {text}: {e}"));
        assert_eq!(to_text(rt(ty), &rd, *o), *want, "{ty} {text}");
    }
}

#[test]
fn special_errors() {
    let cases: &[(&str, &str, usize, &str)] = &[
        ("LOC", "91 N 0 E 0", 1, "out of range"),
        ("LOC", "90 1 N 0 E 0", 2, "beyond 90"),
        ("LOC", "1 60 N 0 E 0", 2, "out of range"),
        ("LOC", "1 2 3.4567 N 0 E 0", 2, "invalid latitude"),
        ("LOC", "1 N 181 E 0", 3, "out of range"),
        ("LOC", "1 N 1 E", 3, "LOC: expected"),
        ("LOC", "1 N 1 E -100000.01m", 4, "altitude"),
        ("LOC", "1 N 1 E 0 90000000.01m", 5, "size"),
        ("LOC", "1 N 1 E 0 1 1 1 1", 8, "extra"),
        ("LOC", "N 1 E 0", 0, "degrees missing"),
        ("IPSECKEY", "10 4 2 x", 1, "gateway type"),
        ("IPSECKEY", "10 1 2 x.y", 3, "IPv4"),
        ("IPSECKEY", "10 0 2 x.y", 3, "\".\""),
        ("IPSECKEY", "10 1 2", 2, "at least 4"),
        ("HIP", "2 XYZ AQID", 1, "hex"),
        ("HIP", "2 AB", 1, "at least 3"),
        ("SVCB", "1", 0, "at least 2"),
        ("SVCB", "70000 .", 0, "0..=65535"),
        ("SVCB", "1 . port=x", 2, "invalid parameters"),
        ("SVCB", "1 . port=1 port=2", 3, "more than once"),
        ("SVCB", "1 . bogus=1", 2, "invalid parameters"),
        ("SVCB", "1 . \"alpn\"", 2, "quoted"),
        ("SVCB", "1 . key667=hello\\210qoo", 2, "escapes"),
        ("SVCB", "1 . alpn= \"h2\\,x\"", 3, "escapes"),
    ];
    for (ty, text, token, msg) in cases {
        let e = bad(ty, text);
        assert_eq!(e.token, *token, "{ty} {text}: {}", e.message);
        assert!(
            e.message.contains(msg),
            "{ty} {text}: {:?} lacks {msg:?}",
            e.message
        );
    }
}

#[test]
fn special_malformed_wire_is_generic() {
    // LOC version 1, SVCB with keys out of order, IPSECKEY gateway type 9.
    let cases: &[(&str, &str)] = &[
        ("LOC", "01121613800000008000000000989680"),
        ("SVCB", "000100 0003 0002 0035 0001 0003 026832"),
        ("IPSECKEY", "0A0902"),
        ("HIP", "0002000001"),
    ];
    for (ty, h) in cases {
        let rd = Rdata::new(hex_decode(h).expect("hex"));
        let t = to_text(rt(ty), &rd, None);
        assert!(t.starts_with("\\#"), "{ty}: {t}");
        // And the \# form of malformed data is rejected as that type.
        assert!(from_text(rt(ty), &toks(&t), &origin()).is_err(), "{ty}");
    }
}

/// Every type code with a presentation form here, plus a few without.
const ALL_CODES: &[u16] = &[
    1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 12, 13, 14, 15, 16, 17, 18, 21, 24, 25, 26, 28, 29, 33, 35, 36,
    37, 39, 43, 44, 45, 46, 47, 48, 49, 50, 51, 52, 53, 55, 59, 60, 61, 62, 63, 64, 65, 99, 108,
    109, 256, 257, 32769, 65534,
];

/// Splits presentation text into tokens the way a zone-file lexer would
/// for text that `to_text` produced (quoted strings contain no raw `"`).
fn round_trip(code: u16, rd: &Rdata, o: Option<&Name>) -> Result<(), String> {
    let ty = RecordType::from(code);
    let text = to_text(ty, rd, o);
    let parse_origin = origin();
    let parsed = from_text(ty, &toks(&text), o.unwrap_or(&parse_origin));
    if !is_valid_wire(ty, rd) {
        // Invalid octets print as `\#` and are refused on the way back in.
        return match (text.starts_with("\\#"), parsed) {
            (true, Err(_)) => Ok(()),
            (_, r) => Err(format!("{code}: invalid {rd:?} -> {text} -> {r:?}")),
        };
    }
    match parsed {
        Ok(again) if again == *rd => Ok(()),
        Ok(again) => Err(format!("{code}: {rd:?} -> {text} -> {again:?}")),
        Err(e) => Err(format!("{code}: {rd:?} -> {text}: {e}")),
    }
}

proptest::proptest! {
    // No regression files: they would land outside this module's directory.
    #![proptest_config(proptest::prelude::ProptestConfig {
        failure_persistence: None,
        ..proptest::prelude::ProptestConfig::with_cases(2000)
    })]

    /// Arbitrary octets: printing never panics, and what is printed parses
    /// back to the same octets (specific form or `\#`).
    #[test]
    fn prop_random_wire_round_trips(
        idx in 0..ALL_CODES.len(),
        bytes in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..64),
        relative in proptest::prelude::any::<bool>(),
    ) {
        let code = ALL_CODES[idx];
        let rd = Rdata::new(bytes);
        let o = origin();
        let _ = canonical(RecordType::from(code), &rd);
        round_trip(code, &rd, relative.then_some(&o)).map_err(proptest::test_runner::TestCaseError::fail)?;
    }

    /// Structured wire data for name-bearing types, so the specific text
    /// forms (not just `\#`) are exercised.
    #[test]
    fn prop_structured_round_trips(
        pref in proptest::prelude::any::<u16>(),
        labels in proptest::collection::vec(
            proptest::collection::vec(proptest::prelude::any::<u8>(), 1..6), 0..4),
        under_origin in proptest::prelude::any::<bool>(),
        strings in proptest::collection::vec(
            proptest::collection::vec(proptest::prelude::any::<u8>(), 0..8), 1..4),
    ) {
        let mut name = Vec::new();
        for l in &labels {
            name.push(l.len() as u8);
            name.extend_from_slice(l);
        }
        if under_origin {
            name.extend_from_slice(if pref % 2 == 0 {
                b"\x07EXAMPLE\x03com"
            } else {
                b"\x07example\x03com"
            });
        }
        name.push(0);
        let o = origin();
        let mut mx = pref.to_be_bytes().to_vec();
        mx.extend_from_slice(&name);
        let mut txt = Vec::new();
        for s in &strings {
            txt.push(s.len() as u8);
            txt.extend_from_slice(s);
        }
        let mut caa = vec![0u8, 5];
        caa.extend_from_slice(b"issue");
        caa.extend(strings.concat());
        for (code, wire) in [(15u16, mx), (2, name.clone()), (16, txt), (257, caa), (47, {
            let mut n = name.clone();
            n.extend_from_slice(&[0, 1, 0x40]);
            n
        })] {
            let rd = Rdata::new(wire);
            for oo in [None, Some(&o)] {
                let text = to_text(RecordType::from(code), &rd, oo);
                proptest::prop_assert!(!text.starts_with("\\#"), "{code}: {text}");
                round_trip(code, &rd, oo).map_err(proptest::test_runner::TestCaseError::fail)?;
            }
        }
    }
}

#[test]
fn wire_validity() {
    assert!(is_valid_wire(RecordType::A, &Rdata::new(vec![1, 2, 3, 4])));
    assert!(!is_valid_wire(RecordType::A, &Rdata::new(vec![1, 2, 3])));
    assert!(!is_valid_wire(
        RecordType::MX,
        &Rdata::new(vec![0, 1, 0xc0, 0x0c])
    ));
    assert!(is_valid_wire(RecordType::NULL, &Rdata::new(vec![])));
    assert!(is_valid_wire(RecordType::from(65534), &Rdata::new(vec![7])));
    assert!(!is_valid_wire(RecordType::OPT, &Rdata::new(vec![])));
    // NSEC bitmap with a trailing zero octet (RFC 4034 §4.1.2 forbids it).
    assert!(!is_valid_wire(
        RecordType::NSEC,
        &Rdata::new(vec![0, 0, 2, 0x40, 0])
    ));
    assert!(is_valid_wire(
        RecordType::NSEC,
        &Rdata::new(vec![0, 0, 1, 0x40])
    ));
}

proptest::proptest! {
    #![proptest_config(proptest::prelude::ProptestConfig {
        failure_persistence: None,
        ..proptest::prelude::ProptestConfig::with_cases(2000)
    })]

    /// Arbitrary tokens never panic, and whatever parses prints and parses
    /// back to the same octets.
    #[test]
    fn prop_random_tokens_never_panic(
        idx in 0..ALL_CODES.len(),
        words in proptest::collection::vec(
            proptest::prop_oneof![
                "[0-9]{1,6}",
                "[a-zA-Z0-9.@\\\\=,:-]{0,12}",
                "\\\\[0-9]{1,3}",
                proptest::prelude::any::<String>(),
                proptest::strategy::Just("\\#".to_string()),
                proptest::strategy::Just("N".to_string()),
                proptest::strategy::Just("E".to_string()),
                proptest::strategy::Just("alpn=h2".to_string()),
                proptest::strategy::Just("port=".to_string()),
            ],
            0..9),
        quoted in proptest::collection::vec(proptest::prelude::any::<bool>(), 9),
    ) {
        let code = ALL_CODES[idx];
        let tokens: Vec<Token<'_>> = words
            .iter()
            .zip(&quoted)
            .map(|(w, q)| Token { text: w, quoted: *q })
            .collect();
        let o = origin();
        if let Ok(rd) = from_text(RecordType::from(code), &tokens, &o) {
            proptest::prop_assert!(is_valid_wire(RecordType::from(code), &rd), "{code} {words:?}");
            round_trip(code, &rd, Some(&o)).map_err(proptest::test_runner::TestCaseError::fail)?;
            round_trip(code, &rd, None).map_err(proptest::test_runner::TestCaseError::fail)?;
        }
    }
}

#[test]
fn public_name_helpers() {
    let o = origin();
    let n = name_from_text("Www", &o).expect("relative");
    assert_eq!(name_to_wire(&n), b"\x03Www\x07example\x03com\x00");
    assert_eq!(name_to_text(&n, Some(&o)), "Www");
    assert_eq!(name_to_text(&n, None), "Www.example.com.");
    let n = name_from_text("\\065\\.b\\ c.", &o).expect("escapes");
    assert_eq!(name_to_wire(&n), b"\x05A.b c\x00");
    assert_eq!(name_to_text(&n, None), "A\\.b\\032c.");
    assert_eq!(name_from_text("@", &o).expect("@"), o);
    assert_eq!(name_to_text(&o, Some(&o)), "@");
    assert_eq!(name_to_text(&Name::root(), None), ".");
    assert!(name_from_text("a..b", &o).is_err());
    assert!(name_from_text("x\\", &o).is_err());
}

#[test]
fn empty_binary_fields_rejected() {
    let e = bad("OPENPGPKEY", "\"\"");
    assert!(e.message.contains("must not be empty"), "{}", e.message);
    let e = bad("DS", "1 8 2 \"\"");
    assert!(e.message.contains("must not be empty"), "{}", e.message);
}
