use super::*;
use std::borrow::Cow;

use crate::fixture::{self, Case};
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

// ------------------------------------------------------- fixture tables
//
// The tables of cases live in tests/fixtures/rdata/, one case per line;
// each file's header says its columns.

const BASIC: &str = include_str!("../../tests/fixtures/rdata/basic.txt");
const ESCAPES: &str = include_str!("../../tests/fixtures/rdata/escapes.txt");
const SPECIAL: &str = include_str!("../../tests/fixtures/rdata/special.txt");
const PRINT: &str = include_str!("../../tests/fixtures/rdata/print.txt");
const GENERIC: &str = include_str!("../../tests/fixtures/rdata/generic.txt");
const ERRORS: &str = include_str!("../../tests/fixtures/rdata/errors.txt");
const CANONICAL: &str = include_str!("../../tests/fixtures/rdata/canonical.txt");

/// The type named in field `i` of a case.
fn case_type(c: &Case<'_>, i: usize) -> RecordType {
    parse_type(c.field(i)).unwrap_or_else(|| panic!("{c}: unknown type {:?}", c.field(i)))
}

/// The text in field `i` parsed as RDATA of type `ty` (origin example.com.).
fn case_rdata(c: &Case<'_>, ty: RecordType, i: usize) -> Rdata {
    let text = c.field(i);
    from_text(ty, &toks(text), &origin()).unwrap_or_else(|e| panic!("{c}: {text:?}: {e}"))
}

/// Runs `TYPE | presentation | wire hex` cases: the text gives the octets,
/// which print (with and without the origin) and parse back to themselves;
/// with `own_form`, never printed in the generic `\#` form.
fn check_wire_cases(file: &'static str, text: &'static str, own_form: bool) {
    let cases = fixture::cases(file, text, 3);
    for c in &cases {
        let ty = case_type(c, 0);
        let got = case_rdata(c, ty, 1);
        assert_eq!(hex(&got), clean(c.field(2)), "{c}: {}", c.field(1));
        for o in [None, Some(origin())] {
            let t = to_text(ty, &got, o.as_ref());
            assert!(
                !own_form || !t.starts_with("\\#"),
                "{c}: printed generically: {t}"
            );
            let again = from_text(ty, &toks(&t), &origin())
                .unwrap_or_else(|e| panic!("{c}: printed as {t:?}, which does not parse: {e}"));
            assert_eq!(again, got, "{c}: printed as {t:?}");
        }
    }
}

fn clean(h: &str) -> String {
    h.chars()
        .filter(|c| !c.is_whitespace())
        .collect::<String>()
        .to_ascii_uppercase()
}

#[test]
fn basic_text_to_wire_and_back() {
    check_wire_cases("rdata/basic.txt", BASIC, false);
}

#[test]
fn escapes_text_to_wire_and_back() {
    check_wire_cases("rdata/escapes.txt", ESCAPES, false);
}

#[test]
fn special_types_text_to_wire_and_back() {
    check_wire_cases("rdata/special.txt", SPECIAL, true);
}

#[test]
fn printed_text() {
    for c in fixture::cases("rdata/print.txt", PRINT, 4) {
        let ty = case_type(&c, 0);
        let o = match c.field(1) {
            "-" => None,
            o => Some(Name::from_ascii(o).unwrap_or_else(|e| panic!("{c}: origin: {e:?}"))),
        };
        let rd = case_rdata(&c, ty, 2);
        assert_eq!(to_text(ty, &rd, o.as_ref()), c.field(3), "{c}");
    }
}

#[test]
fn invalid_wire_prints_generically_and_is_refused() {
    for c in fixture::cases("rdata/generic.txt", GENERIC, 3) {
        let ty = case_type(&c, 0);
        let octets = hex_decode(c.field(1)).unwrap_or_else(|e| panic!("{c}: hex: {e}"));
        let t = to_text(ty, &Rdata::new(octets), None);
        assert_eq!(t, c.field(2), "{c}");
        assert!(
            from_text(ty, &toks(&t), &origin()).is_err(),
            "{c}: {t} parsed"
        );
    }
}

#[test]
fn errors() {
    for c in fixture::cases("rdata/errors.txt", ERRORS, 4) {
        let ty = case_type(&c, 0);
        let want: usize = c
            .field(2)
            .parse()
            .unwrap_or_else(|e| panic!("{c}: token: {e}"));
        let e = match from_text(ty, &toks(c.field(1)), &origin()) {
            Ok(rd) => panic!("{c}: parsed as {rd:?}"),
            Err(e) => e,
        };
        assert_eq!(e.token, want, "{c}: {}", e.message);
        assert!(
            e.message.contains(c.field(3)),
            "{c}: {:?} lacks {:?}",
            e.message,
            c.field(3)
        );
    }
}

#[test]
fn canonical_lowercases_listed_types_only() {
    for c in fixture::cases("rdata/canonical.txt", CANONICAL, 3) {
        let ty = case_type(&c, 0);
        let rd = case_rdata(&c, ty, 1);
        let got = canonical(ty, &rd);
        if c.field(2) == "=" {
            assert!(matches!(got, Cow::Borrowed(_)), "{c}: copied");
            assert_eq!(got.as_ref(), rd.as_bytes(), "{c}");
        } else {
            assert_eq!(got.as_ref(), case_rdata(&c, ty, 2).as_bytes(), "{c}");
        }
    }
    // Malformed: unchanged.
    let junk = Rdata::new(b"\x00\x01\x05ABC".to_vec());
    assert_eq!(canonical(RecordType::MX, &junk).as_ref(), junk.as_bytes());
}

// ------------------------------------------------------- one-off checks

/// Lengths too long to write in a fixture line.
#[test]
fn length_limits() {
    let long = "x".repeat(255);
    assert_eq!(wire("TXT", &long).expect("255").as_bytes().len(), 256);
    let e = bad("TXT", &format!("ok {}", "x".repeat(256)));
    assert_eq!(e.token, 1);
    assert!(e.message.contains("255"), "{}", e.message);
    // 64 `\255` escapes = 64 octets, fine; 256 escaped octets are too long.
    let e = bad("TXT", &"\\065".repeat(256));
    assert!(e.message.contains("256 octets"));
    let e = bad("NS", &format!("{}.", "a".repeat(64)));
    assert_eq!(e.token, 0);
    assert!(e.message.contains("63"), "{}", e.message);
    let e = bad("NS", &format!("{}.", ["a"; 128].join(".")));
    assert_eq!(e.token, 0);
    assert!(e.message.contains("255"), "{}", e.message);
}

fn bad(ty: &str, text: &str) -> RdataError {
    match wire(ty, text) {
        Ok(rd) => panic!("{ty} {text:?} parsed as {rd:?}"),
        Err(e) => e,
    }
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
