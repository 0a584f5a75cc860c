//! Tests of the document model and editor. The tables of cases are in
//! tests/fixtures/zonefile/, one case per line: records.txt (text -> the
//! records it holds), errors.txt (each directive and error kind, with its
//! position) and edits.txt (serial layouts, owner fixes, placement of
//! additions, refused changes). Here: the example zone, includes, error
//! collection and editing at scale.

use super::*;
use crate::fixture::{self, Case};
use crate::rdata::{self, Token};
use crate::rr::RecordType;

const EXAMPLE: &str = include_str!("../../tests/fixtures/zonefile/example.zone");
const HOSTS: &str = include_str!("../../tests/fixtures/zonefile/hosts.inc");

/// Included files from a fixed list: `path` -> (`path`, text).
pub(super) struct Files(pub Vec<(&'static str, String)>);

impl IncludeLoader for Files {
    fn load(&self, _from: &str, path: &str) -> Result<(String, String), String> {
        self.0
            .iter()
            .find(|(p, _)| *p == path)
            .map(|(p, t)| (p.to_string(), t.clone()))
            .ok_or_else(|| "no such file".to_string())
    }
}

fn n(s: &str) -> Name {
    Name::from_ascii(s).expect("test name")
}

fn origin() -> Name {
    n("example.com.")
}

fn rr(name: &str, ttl: u32, ty: &str, rd: &str) -> Rr {
    let rtype = rdata::parse_type(ty).expect("type");
    let toks: Vec<Token<'_>> = rd
        .split_whitespace()
        .map(|t| Token {
            text: t,
            quoted: false,
        })
        .collect();
    Rr {
        name: n(name),
        ttl,
        rtype,
        rdata: rdata::from_text(rtype, &toks, &origin()).expect("rdata"),
    }
}

fn parse(text: &str) -> Document {
    match Document::parse("z.zone", text, &origin(), &NoIncludes) {
        Ok(d) => d,
        Err(es) => panic!("parse failed: {es:?}"),
    }
}

fn errors(text: &str) -> Vec<String> {
    match Document::parse("z.zone", text, &origin(), &NoIncludes) {
        Ok(_) => Vec::new(),
        Err(es) => es.iter().map(ToString::to_string).collect(),
    }
}

fn first_error(text: &str) -> String {
    errors(text).into_iter().next().unwrap_or_default()
}

/// Reads included files from the edited texts (else the old ones).
struct NewTexts(Vec<(String, String, String)>);

impl IncludeLoader for NewTexts {
    fn load(&self, _from: &str, path: &str) -> Result<(String, String), String> {
        self.0
            .iter()
            .find(|(p, _, _)| p == path)
            .map(|(_, n, t)| (n.clone(), t.clone()))
            .ok_or_else(|| "no such file".to_string())
    }
}

/// The document `apply` built incrementally is the one a full parse of the
/// edited text gives: same records (RR and location) in order, same files,
/// entries, spans and lines.
pub(super) fn assert_same_as_reparse(old: &Document, new: &Document, r: &Rendered) {
    let text_of = |f: &parse::FileDoc| {
        r.files
            .iter()
            .find(|(n, _)| *n == *f.name)
            .map_or_else(|| f.text.to_string(), |(_, t)| t.to_string())
    };
    let mut incs = Vec::new();
    for f in old.files() {
        for e in f.entries.iter() {
            if let parse::EntryKind::Include { path, file, .. } = &e.kind {
                let g = &old.files()[*file];
                incs.push((path.to_string(), g.name.to_string(), text_of(g)));
            }
        }
    }
    let main = &old.files()[0];
    let reparsed = match Document::parse(&main.name, &text_of(main), old.origin(), &NewTexts(incs))
    {
        Ok(d) => d,
        Err(es) => panic!("edited text does not parse: {es:?}"),
    };
    let a: Vec<_> = new.records().collect();
    let b: Vec<_> = reparsed.records().collect();
    assert_eq!(a, b);
    assert_eq!(new, &reparsed);
}

fn serial_of(doc: &Document) -> Option<u32> {
    doc.records()
        .find(|(r, _)| r.rtype == RecordType::SOA)
        .and_then(|(r, _)| crate::rr::soa_timers(&r.rdata))
        .map(|t| t.serial)
}

fn example() -> Document {
    let files = Files(vec![("hosts.inc", HOSTS.to_string())]);
    match Document::parse("example.zone", EXAMPLE, &origin(), &files) {
        Ok(d) => d,
        Err(es) => panic!("parse failed: {es:?}"),
    }
}

// ---------------------------------------------------------------- parsing

// Tables of cases, one per line, in tests/fixtures/zonefile/; each file's
// header says its columns.
const RECORDS: &str = include_str!("../../tests/fixtures/zonefile/records.txt");
const ERRORS: &str = include_str!("../../tests/fixtures/zonefile/errors.txt");
const EDITS: &str = include_str!("../../tests/fixtures/zonefile/edits.txt");

/// The zone text in field `i` of a case, parsed as z.zone.
fn case_doc(c: &Case<'_>, i: usize) -> Document {
    let text = fixture::unescape_lines(c.field(i));
    match Document::parse("z.zone", &text, &origin(), &NoIncludes) {
        Ok(d) => d,
        Err(es) => panic!("{c}: parse failed: {es:?}"),
    }
}

/// `got` is the message `want` names: exactly, or its start when `want`
/// ends in "...".
fn assert_message(c: &Case<'_>, got: &str, want: &str) {
    match want.strip_suffix("...") {
        Some(start) => assert!(
            got.starts_with(start),
            "{c}: {got:?} does not start with {start:?}"
        ),
        None => assert_eq!(got, want, "{c}"),
    }
}

#[test]
fn records_of_fixture_texts() {
    for c in fixture::cases("zonefile/records.txt", RECORDS, 2) {
        let got: Vec<String> = case_doc(&c, 0)
            .records()
            .map(|(r, _)| {
                format!(
                    "{} {} IN {} {}",
                    r.name.to_ascii(),
                    r.ttl,
                    rdata::type_to_text(r.rtype),
                    rdata::to_text(r.rtype, &r.rdata, None)
                )
            })
            .collect();
        assert_eq!(got.join("\n"), fixture::unescape_lines(c.field(1)), "{c}");
    }
}

#[test]
fn error_positions() {
    for c in fixture::cases("zonefile/errors.txt", ERRORS, 2) {
        let got = first_error(&fixture::unescape_lines(c.field(0)));
        match c.field(1) {
            "ok" => assert_eq!(got, "", "{c}"),
            want => assert_message(&c, &got, want),
        }
    }
}

#[test]
fn fixture_records_in_file_order() {
    let doc = example();
    let got: Vec<(String, u32, String, String, u32)> = doc
        .records()
        .map(|(r, l)| {
            (
                r.name.to_ascii(),
                r.ttl,
                rdata::type_to_text(r.rtype),
                l.file.to_string(),
                l.line,
            )
        })
        .collect();
    let want: Vec<(&str, u32, &str, &str, u32)> = vec![
        ("example.com.", 3600, "SOA", "example.zone", 3),
        ("example.com.", 3600, "NS", "example.zone", 10),
        ("example.com.", 3600, "NS", "example.zone", 11),
        ("example.com.", 3600, "MX", "example.zone", 12),
        ("ns1.example.com.", 3600, "A", "example.zone", 14),
        ("www.example.com.", 300, "A", "example.zone", 15),
        ("www.example.com.", 300, "A", "example.zone", 16),
        ("www.example.com.", 3600, "AAAA", "example.zone", 17),
        ("mail.example.com.", 3600, "A", "example.zone", 18),
        ("host1.lab.example.com.", 3600, "A", "example.zone", 21),
        ("host2.lab.example.com.", 7200, "A", "example.zone", 22),
        ("host2.lab.example.com.", 3600, "TXT", "example.zone", 23),
        ("host3.lab.example.com.", 3600, "A", "hosts.inc", 2),
        ("host3.lab.example.com.", 3600, "A", "hosts.inc", 3),
        ("txt.example.com.", 3600, "TXT", "example.zone", 26),
    ];
    let want: Vec<(String, u32, String, String, u32)> = want
        .into_iter()
        .map(|(a, b, c, d, e)| (a.to_string(), b, c.to_string(), d.to_string(), e))
        .collect();
    assert_eq!(got, want);
    assert_eq!(serial_of(&doc), Some(2024010101));
    let soa = doc.records().next().map(|(r, _)| r.clone());
    let timers = soa.and_then(|r| crate::rr::soa_timers(&r.rdata));
    assert_eq!(
        timers.map(|t| (t.refresh, t.retry, t.expire, t.minimum)),
        Some((10800, 900, 604800, 300))
    );
    // Blank-owner column: the first field's column.
    let loc = doc.records().nth(1).map(|(_, l)| l.col);
    assert_eq!(loc, Some(2));
}

#[test]
fn entries_tile_the_text_and_classify_lines() {
    let doc = example();
    let main = &doc.files()[0];
    let mut at = 0;
    for e in main.entries.iter() {
        assert_eq!(e.start, at);
        at = e.end;
    }
    assert_eq!(at, main.text.len());
    assert!(matches!(main.entries[0].kind, parse::EntryKind::Comment));
    assert!(matches!(main.entries[1].kind, parse::EntryKind::Ttl(3600)));
    let soa = &main.entries[2];
    assert_eq!((soa.first_line, soa.last_line), (3, 8));
    assert!(matches!(main.entries[3].kind, parse::EntryKind::Blank));
    assert_eq!(doc.files()[1].name.as_ref(), "hosts.inc");
}

#[test]
fn all_errors_are_collected_and_capped() {
    let es = errors("$TTL 1\na FOO 1\nb A 1\n$BAR\nc A 192.0.2.1\n");
    assert_eq!(es.len(), 3, "{es:?}");
    assert!(es[0].starts_with("z.zone:2:3"));
    assert!(es[1].starts_with("z.zone:3:5"));
    assert!(es[2].starts_with("z.zone:4:1"));
    let many = "x FOO 1\n".repeat(500);
    assert_eq!(errors(&format!("$TTL 1\n{many}")).len(), parse::MAX_ERRORS);
}

#[test]
fn include_origin_location_and_state() {
    let files = Files(vec![(
        "a.inc",
        "x A 192.0.2.1\n$ORIGIN other.\ny A 192.0.2.2\n".into(),
    )]);
    let text = "$TTL 5\n$INCLUDE a.inc sub\nz A 192.0.2.3\n";
    let doc = match Document::parse("main", text, &origin(), &files) {
        Ok(d) => d,
        Err(es) => panic!("{es:?}"),
    };
    let got: Vec<(String, String)> = doc
        .records()
        .map(|(r, l)| (r.name.to_ascii(), l.to_string()))
        .collect();
    assert_eq!(
        got,
        vec![
            ("x.sub.example.com.".to_string(), "a.inc:1:1".to_string()),
            ("y.other.".to_string(), "a.inc:3:1".to_string()),
            // RFC 1035: the include never changes the parent's origin.
            ("z.example.com.".to_string(), "main:3:1".to_string()),
        ]
    );
}

#[test]
fn include_loops_and_depth() {
    let files = Files(vec![("self.inc", "$INCLUDE self.inc\n".into())]);
    let es = match Document::parse("main", "$INCLUDE self.inc\n", &origin(), &files) {
        Ok(_) => Vec::new(),
        Err(es) => es,
    };
    assert_eq!(es.len(), 1);
    assert_eq!(
        es[0].to_string(),
        "self.inc:1:10: $INCLUDE self.inc: include loop (self.inc is already being read)"
    );
    // A chain of 12 distinct files exceeds the depth limit.
    let chain: Vec<(&'static str, String)> = (0..12)
        .map(|i| {
            let name: &'static str = Box::leak(format!("f{i}").into_boxed_str());
            (name, format!("$INCLUDE f{}\n", i + 1))
        })
        .collect();
    let es = match Document::parse("main", "$INCLUDE f0\n", &origin(), &Files(chain)) {
        Ok(_) => Vec::new(),
        Err(es) => es,
    };
    assert_eq!(es.len(), 1, "{es:?}");
    assert!(
        es[0].message.contains("nested more than 8 deep"),
        "{}",
        es[0]
    );
}

// ---------------------------------------------------------------- editing

/// One record written as a zone-file line (with its TTL) in a case.
fn case_rr(c: &Case<'_>, line: &str) -> Rr {
    let doc = match Document::parse("change", &format!("{line}\n"), &origin(), &NoIncludes) {
        Ok(d) => d,
        Err(es) => panic!("{c}: {line:?}: {es:?}"),
    };
    let mut records = doc.records();
    match (records.next(), records.next()) {
        (Some((r, _)), None) => r.clone(),
        _ => panic!("{c}: {line:?} is not one record"),
    }
}

/// The changes in field 1 of an edits.txt case.
fn case_changes(c: &Case<'_>) -> ChangeSet {
    let mut cs = ChangeSet::default();
    for line in fixture::unescape_lines(c.field(1)).lines() {
        if let Some(s) = line.strip_prefix("serial ") {
            cs.serial = Some(s.parse().unwrap_or_else(|e| panic!("{c}: serial: {e}")));
        } else if let Some(r) = line.strip_prefix('+') {
            cs.add.push(case_rr(c, r));
        } else if let Some(r) = line.strip_prefix('-') {
            cs.remove.push(case_rr(c, r));
        } else {
            panic!("{c}: a change is +RR, -RR or serial N, not {line:?}");
        }
    }
    cs
}

/// An edit that succeeded: the text written, and the new document is what
/// a full re-parse of it gives, with the changes in it.
fn check_edit(c: &Case<'_>, old: &Document, cs: &ChangeSet, new: &Document, r: &Rendered) {
    let same = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        assert_same_as_reparse(old, new, r);
    }));
    assert!(same.is_ok(), "{c}: the edited document is not a re-parse");
    match c.field(2) {
        "=" => assert!(r.files.is_empty(), "{c}: wrote {:?}", r.files),
        want => {
            let texts: Vec<&str> = r.files.iter().map(|(_, t)| t.as_str()).collect();
            assert_eq!(texts, [fixture::unescape_lines(want)], "{c}");
        }
    }
    if let Some(s) = cs.serial {
        assert_eq!(serial_of(new), Some(s), "{c}");
    }
    for a in &cs.add {
        let there = new.records().any(|(g, _)| g.same_rr(a) && g.ttl == a.ttl);
        assert!(there, "{c}: {a:?} not added");
    }
    for d in cs
        .remove
        .iter()
        .filter(|d| !cs.add.iter().any(|a| a.same_rr(d)))
    {
        assert!(!new.records().any(|(g, _)| g.same_rr(d)), "{c}: {d:?} left");
    }
}

#[test]
fn edits_of_fixture_texts() {
    for c in fixture::cases("zonefile/edits.txt", EDITS, 3) {
        let doc = case_doc(&c, 0);
        let cs = case_changes(&c);
        match (doc.apply(&cs), c.field(2).strip_prefix("error: ")) {
            (Ok((new, r)), None) => check_edit(&c, &doc, &cs, &new, &r),
            (Ok((_, r)), Some(_)) => panic!("{c}: applied, wrote {:?}", r.files),
            (Err(e), Some(want)) => assert_message(&c, &e.to_string(), want),
            (Err(e), None) => panic!("{c}: apply failed: {e}"),
        }
    }
}

fn serial_only(s: u32) -> ChangeSet {
    ChangeSet {
        serial: Some(s),
        ..ChangeSet::default()
    }
}

#[test]
fn serial_in_place_in_the_example() {
    let ex = example();
    let (new, r) = ex.apply(&serial_only(2024010102)).expect("apply");
    assert_same_as_reparse(&ex, &new, &r);
    assert_eq!(serial_of(&new), Some(2024010102));
    assert_eq!(r.files.len(), 1);
    assert_eq!(r.files[0].0, "example.zone");
    assert_eq!(*r.files[0].1, EXAMPLE.replace("2024010101", "2024010102"));
}

#[test]
fn add_after_same_owner_and_at_end() {
    let doc = example();
    let cs = ChangeSet {
        add: vec![
            rr("www.example.com.", 300, "A", "192.0.2.12"),
            rr("host2.lab.example.com.", 60, "A", "192.0.2.200"),
            rr("new.example.com.", 60, "A", "192.0.2.201"),
            rr("host3.lab.example.com.", 60, "A", "192.0.2.105"),
        ],
        ..ChangeSet::default()
    };
    let (new, r) = doc.apply(&cs).expect("apply");
    assert_same_as_reparse(&doc, &new, &r);
    assert_eq!(r.files.len(), 2);
    let main = &r.files[0].1;
    assert!(
        main.contains(
            "\tIN\tAAAA\t2001:db8::10\nwww\t300\tIN\tA\t192.0.2.12\nmail\tIN\tA\t192.0.2.25\n"
        ),
        "{main}"
    );
    assert!(
        main.contains("\t\"rack 4\" \"row \\\"B\\\"\"\nhost2\t60\tIN\tA\t192.0.2.200\n$INCLUDE"),
        "{main}"
    );
    assert!(
        main.ends_with("; split over lines\nnew\t60\tIN\tA\t192.0.2.201\n"),
        "{main}"
    );
    assert_eq!(r.files[1].0, "hosts.inc");
    assert_eq!(
        *r.files[1].1,
        format!("{HOSTS}host3\t60\tIN\tA\t192.0.2.105\n")
    );
    assert_eq!(new.records().count(), doc.records().count() + 4);
    let loc = new
        .records()
        .find(|(r, _)| r.name == n("host3.lab.example.com.") && r.ttl == 60)
        .map(|(_, l)| l.to_string());
    assert_eq!(loc.as_deref(), Some("hosts.inc:4:1"));
}

#[test]
fn untouched_text_is_byte_identical() {
    let doc = example();
    let cs = ChangeSet {
        remove: vec![rr("www.example.com.", 300, "A", "192.0.2.10")],
        ..ChangeSet::default()
    };
    let (new, r) = doc.apply(&cs).expect("apply");
    assert_same_as_reparse(&doc, &new, &r);
    // The removed line goes with its comment; its blank-owner successor
    // relied on it for its owner, so it gets `www` written.
    let want = EXAMPLE.replace(
        "www\t300\tIN\tA\t192.0.2.10 ; front end\n\tIN\t300\tA\t192.0.2.11\n",
        "www\tIN\t300\tA\t192.0.2.11\n",
    );
    assert_eq!(
        r.files,
        vec![("example.zone".to_string(), std::sync::Arc::new(want))]
    );
    assert_eq!(new.records().count(), doc.records().count() - 1);
}

// ---------------------------------------------------------------- scale

/// A zone of `n` records: hosts with one or two A records (the second with a
/// blank owner), some comments and blank lines.
pub(super) fn big_zone(n: usize) -> String {
    let mut t = String::with_capacity(n * 32);
    t.push_str("$TTL 1h\n@ 3600 IN SOA ns1 hostmaster 100 7200 900 604800 300\n");
    t.push_str("@ NS ns1\nns1 A 192.0.2.1\n");
    let mut k = 3usize;
    let mut h = 0usize;
    while k < n {
        if h.is_multiple_of(100) {
            t.push_str(&format!("; block {h}\n\n"));
        }
        t.push_str(&format!("h{h} A 10.{}.{}.1\n", (h >> 8) & 255, h & 255));
        k += 1;
        if h.is_multiple_of(3) && k < n {
            t.push_str(&format!("   300 A 10.{}.{}.2\n", (h >> 8) & 255, h & 255));
            k += 1;
        }
        h += 1;
    }
    t
}

/// A typical dynamic update on a big zone: remove a record (whose blank-owner
/// successor then needs its owner), add two, bump the serial.
fn big_update(h: usize) -> ChangeSet {
    ChangeSet {
        remove: vec![rr(
            &format!("h{h}.example.com."),
            3600,
            "A",
            &format!("10.{}.{}.1", (h >> 8) & 255, h & 255),
        )],
        add: vec![
            rr(&format!("h{}.example.com.", h + 1), 60, "A", "198.51.100.7"),
            rr("brand-new.example.com.", 60, "TXT", "hello"),
        ],
        serial: Some(101),
    }
}

#[test]
fn apply_on_a_20k_record_zone() {
    let text = big_zone(20_000);
    let doc = parse(&text);
    assert_eq!(doc.records().count(), 20_000);
    let (new_doc, rendered) = match doc.apply(&big_update(3000)) {
        Ok(x) => x,
        Err(e) => panic!("apply failed: {e}"),
    };
    assert_eq!(new_doc.records().count(), 20_001);
    assert_eq!(serial_of(&new_doc), Some(101));
    assert_same_as_reparse(&doc, &new_doc, &rendered);
}

#[test]
#[ignore = "timing; run with --release -- --ignored --nocapture"]
fn apply_time_on_a_100k_record_zone() {
    let text = big_zone(100_000);
    let doc = parse(&text);
    let runs = 10;
    let mut total = std::time::Duration::ZERO;
    for i in 0..runs {
        let t0 = std::time::Instant::now();
        let out = doc.apply(&big_update(10_000 + 999 * i));
        total += t0.elapsed();
        // Dropped outside the timing, as a server drops the old document.
        if let Err(e) = out {
            panic!("apply failed: {e}");
        }
    }
    let per = total / u32::try_from(runs).unwrap_or(1);
    println!("apply on a 100,000-record zone: {per:?} per write");
}
