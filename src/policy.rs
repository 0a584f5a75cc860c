//! PURE: which key (or token) may change which names and types.
//!
//! A grant names one zone, owner-name patterns and record types, in the
//! spirit of BIND's `update-policy` and Knot's `update-owner`:
//!
//! ```toml
//! grant = [ { zone = "example.com", names = ["_acme-challenge", "_acme-challenge.**"], types = ["TXT"] } ]
//! ```
//!
//! Names are relative to the zone unless they end in a dot; `@` is the
//! apex; a `*` label matches exactly one label and a `**` label one or more.
//! A `*` does not match the label `*` itself (a wildcard owner, RFC 4592,
//! which answers for names at any depth below): only `\*` names it. A name
//! below a `*` label is granted only when that wildcard owner is too (the
//! name makes it exist, as an empty non-terminal at least).
//! `types = ["*"]` means every type except SOA, which no grant can name: the
//! serial belongs to the store. A key without grants may change nothing.
//!
//! Writers ask [`Grants::allows`] for every (owner, type) their request
//! would touch; one refusal refuses the whole request.

use std::fmt;

use crate::rr::{Name, RecordType};

/// One label of a pattern.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Label {
    /// A literal label, lower-cased.
    Literal(Vec<u8>),
    /// `*`: exactly one label.
    One,
    /// `**`: one or more labels.
    Many,
}

/// An owner-name pattern, absolute, labels from the leftmost.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Pattern {
    labels: Vec<Label>,
    text: String,
}

impl fmt::Display for Pattern {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

/// Which types a grant covers.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Types {
    /// `["*"]`: every type but SOA.
    AllButSoa,
    /// The listed types.
    Only(Vec<RecordType>),
}

/// One grant: a zone, owner patterns within it, and types.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Grant {
    pub zone: Name,
    pub names: Vec<Pattern>,
    pub types: Types,
    /// `zone`'s hash (case-insensitive, as names compare): a key with a
    /// grant for each of 5,000 zones is checked by comparing one number per
    /// grant, not 5,000 names label by label.
    zone_hash: u64,
}

/// A name's hash, equal for names that compare equal (any case).
fn name_hash(name: &Name) -> u64 {
    use std::hash::{Hash, Hasher};
    let mut h = std::collections::hash_map::DefaultHasher::new();
    name.hash(&mut h);
    h.finish()
}

/// A grant that cannot be used as written; `field` names the key at fault.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{field}: {message}")]
pub struct GrantError {
    pub field: &'static str,
    pub message: String,
    /// Set when the name parsed but lies where no name of the zone can.
    misplaced: Option<Misplaced>,
}

/// Why a grant name that parsed names nothing in its zone.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Misplaced {
    /// Absolute, and not at or below the zone.
    Outside,
    /// Relative, and ending in the zone's own name.
    RepeatsZone,
}

fn err(field: &'static str, message: impl Into<String>) -> GrantError {
    GrantError {
        field,
        message: message.into(),
        misplaced: None,
    }
}

impl GrantError {
    fn misplaced(mut self, why: Misplaced) -> GrantError {
        self.misplaced = Some(why);
        self
    }
}

impl Pattern {
    /// Parses a pattern relative to `zone` (absolute when it ends in a dot).
    pub fn parse(text: &str, zone: &Name) -> Result<Pattern, GrantError> {
        let trimmed = text.trim();
        if trimmed.is_empty() {
            return Err(err("names", "empty name pattern"));
        }
        let (relative, absolute) = match trimmed {
            "@" => ("", false),
            t if t.ends_with('.') => (t.trim_end_matches('.'), true),
            t => (t, false),
        };
        let mut labels = Vec::new();
        // A relative name ending in the zone's name names a name below the
        // zone's name twice (round 51: "x.a.test" in a grant for a.test is
        // x.a.test.a.test., and writes to x.a.test. were refused).
        let zone_text = zone.to_ascii().trim_end_matches('.').to_ascii_lowercase();
        let lower = relative.to_ascii_lowercase();
        if !absolute
            && !zone_text.is_empty()
            && (lower == zone_text || lower.ends_with(&format!(".{zone_text}")))
        {
            return Err(err(
                "names",
                format!(
                    "{text:?} is relative to the zone, so it names {relative}.{zone_text}.; \
                     write it without the zone's name, or with a trailing dot ({relative}.)"
                ),
            )
            .misplaced(Misplaced::RepeatsZone));
        }
        if !relative.is_empty() {
            for part in relative.split('.') {
                labels.push(match part {
                    "" => return Err(err("names", format!("empty label in {text:?}"))),
                    // `@` is the apex only alone (round 51: "x.@" was a
                    // literal `@` label, which no name written has).
                    "@" => {
                        return Err(err(
                            "names",
                            format!(
                                "\"@\" in {text:?}: @ (the zone's apex) stands alone; \
                                 names below the apex are written without it"
                            ),
                        ));
                    }
                    "*" => Label::One,
                    "**" => Label::Many,
                    // The wildcard owner itself (RFC 4592 §2.1.1), only
                    // when the pattern names it.
                    "\\*" => Label::Literal(b"*".to_vec()),
                    p if p.len() > 63 => {
                        return Err(err(
                            "names",
                            format!("label longer than 63 octets in {text:?}"),
                        ));
                    }
                    // `\*` inside a label (`a\*b`): the escape is the one
                    // allowed, the place is not (round 50 L6: "takes no
                    // escapes but \*" read as a contradiction).
                    p if p.contains("\\*") && !p.contains("\\\\") => {
                        return Err(err(
                            "names",
                            format!(
                                "{part:?} in {text:?}: \\* (the wildcard owner) is a whole label, \
                                 not part of one; a name with * inside a label cannot be granted \
                                 by name, only by * or ** over it"
                            ),
                        ));
                    }
                    // A zone-file escape (`\042`, `\.`) would be taken
                    // byte for byte and match nothing (round 48): only
                    // `\*` is one.
                    p if p.contains('\\') => {
                        return Err(err(
                            "names",
                            format!(
                                "escape in {part:?} of {text:?}: a grant name takes no escapes \
                                 but \\* (the wildcard owner)"
                            ),
                        ));
                    }
                    p if p.bytes().all(|b| b.is_ascii_graphic() && b != b'*') => {
                        Label::Literal(p.to_ascii_lowercase().into_bytes())
                    }
                    // Not a glob (`_acme*` would read as one), and rare as a
                    // literal: refused, saying what `*` may be (round 47).
                    p if p.contains('*') => {
                        return Err(err(
                            "names",
                            format!(
                                "{part:?} in {text:?}: a * in a grant name is a whole label, \
                                 not part of one: * (one label), ** (any labels below) or \
                                 \\* (the wildcard owner); a name with * inside a label cannot \
                                 be granted by name, only by * or ** over it"
                            ),
                        ));
                    }
                    _ => return Err(err("names", format!("bad label {part:?} in {text:?}"))),
                });
            }
        }
        if !absolute {
            for l in zone.iter() {
                labels.push(Label::Literal(l.to_ascii_lowercase()));
            }
        } else if !may_be_in(&labels, zone) {
            // Round 50 L5: such a grant was accepted and matched nothing.
            return Err(err(
                "names",
                format!(
                    "{text:?} is not in the zone {zone}: it can never match a name a write \
                     to this zone changes; write names relative to the zone (\"x\" for \
                     x.{zone}) or end them with \"{zone}\""
                ),
            )
            .misplaced(Misplaced::Outside));
        }
        Ok(Pattern {
            labels,
            text: trimmed.to_owned(),
        })
    }

    /// Whether `name` matches, case-insensitively.
    pub fn matches(&self, name: &Name) -> bool {
        let labels: Vec<&[u8]> = name.iter().collect();
        match_labels(&self.labels, &labels)
    }

    /// Whether the name of `labels` matches.
    fn matches_labels(&self, labels: &[&[u8]]) -> bool {
        match_labels(&self.labels, labels)
    }
}

/// Whether the grant name `text` is relative and repeats `zone`'s name
/// (`x.a.test` for zone a.test: x.a.test.a.test.), which a grant refuses.
pub fn repeats_zone(text: &str, zone: &Name) -> bool {
    let trimmed = text.trim();
    !trimmed.ends_with('.')
        && matches!(Pattern::parse(trimmed, zone), Err(e) if e.misplaced == Some(Misplaced::RepeatsZone))
}

/// Whether the grant name `text` is absolute and can never match a name at
/// or below `zone` (a name that does not parse is not: its error is
/// [`Grant::parse`]'s to give).
pub fn outside_zone(text: &str, zone: &Name) -> bool {
    let trimmed = text.trim();
    trimmed.ends_with('.')
        && trimmed != "."
        && matches!(Pattern::parse(trimmed, zone), Err(e) if e.misplaced == Some(Misplaced::Outside))
}

/// Whether a name matching `labels` (an absolute pattern) can be at or
/// below `zone`: its last labels can be the zone's. A `**` anywhere may
/// stand for them.
fn may_be_in(labels: &[Label], zone: &Name) -> bool {
    if labels.iter().any(|l| matches!(l, Label::Many)) {
        return true;
    }
    let zone: Vec<Vec<u8>> = zone.iter().map(|l| l.to_ascii_lowercase()).collect();
    let Some(tail) = labels.len().checked_sub(zone.len()).map(|at| &labels[at..]) else {
        return false;
    };
    tail.iter().zip(&zone).all(|(l, z)| match l {
        Label::Literal(b) => b == z,
        Label::One => z.as_slice() != b"*",
        Label::Many => true,
    })
}

/// Matches pattern labels against name labels, left to right. `**` tries
/// each possible length; both inputs are at most 127 labels long, and a
/// pattern with k `**` labels costs at most O(n^k) steps, with k small in
/// any real configuration.
fn match_labels(pattern: &[Label], name: &[&[u8]]) -> bool {
    match pattern.split_first() {
        None => name.is_empty(),
        Some((Label::Literal(l), rest)) => match name.split_first() {
            Some((n, tail)) => n.eq_ignore_ascii_case(l) && match_labels(rest, tail),
            None => false,
        },
        // A `*` label in a name is a wildcard owner (RFC 4592 §2.1.1): it
        // answers for every name below, so a key granted `*.dyn` (one
        // label) may not create `*.dyn` unless the pattern says `\*`.
        Some((Label::One, rest)) => match name.split_first() {
            Some((n, tail)) => *n != b"*" && match_labels(rest, tail),
            None => false,
        },
        Some((Label::Many, rest)) => (1..=name.len()).any(|k| match_labels(rest, &name[k..])),
    }
}

impl Types {
    /// Parses `types`: mnemonics, `TYPEnnn`, or `["*"]`. SOA is refused.
    pub fn parse(list: &[String]) -> Result<Types, GrantError> {
        if list.is_empty() {
            return Err(err(
                "types",
                "no types listed (use [\"*\"] for every type but SOA)",
            ));
        }
        if list.iter().any(|t| t == "*") {
            if list.len() > 1 {
                return Err(err("types", "\"*\" stands alone"));
            }
            return Ok(Types::AllButSoa);
        }
        let mut types = Vec::new();
        for t in list {
            let rtype = crate::rdata::parse_type(t)
                .ok_or_else(|| err("types", format!("unknown record type {t:?}")))?;
            if rtype == RecordType::SOA {
                return Err(err(
                    "types",
                    "SOA cannot be granted: the serial belongs to the server",
                ));
            }
            // Query and meta types (RFC 6895 §3.1): no zone holds them, so
            // such a grant grants nothing (round 51: `ANY` read as "every
            // type" and refused every write).
            if matches!(u16::from(rtype), 0 | 41 | 128..=255) {
                return Err(err(
                    "types",
                    format!(
                        "{t:?} is a query or meta type, not a type of record a zone holds: it \
                         grants nothing (use [\"*\"] for every type but SOA)"
                    ),
                ));
            }
            types.push(rtype);
        }
        Ok(Types::Only(types))
    }

    fn covers(&self, rtype: RecordType) -> bool {
        match self {
            Types::AllButSoa => rtype != RecordType::SOA,
            Types::Only(list) => list.contains(&rtype),
        }
    }
}

impl Grant {
    /// Builds a grant from its configuration fields.
    pub fn parse(zone: &str, names: &[String], types: &[String]) -> Result<Grant, GrantError> {
        let zone = Name::from_ascii(zone)
            .map(|mut z| {
                z.set_fqdn(true);
                z
            })
            .map_err(|e| err("zone", format!("invalid zone name {zone:?}: {e}")))?;
        if names.is_empty() {
            return Err(err(
                "names",
                "no names listed (use [\"@\", \"**\"] for the whole zone)",
            ));
        }
        let names = names
            .iter()
            .map(|n| Pattern::parse(n, &zone))
            .collect::<Result<_, _>>()?;
        Ok(Grant {
            zone_hash: name_hash(&zone),
            zone,
            names,
            types: Types::parse(types)?,
        })
    }

    /// Whether this grant lets its holder change `rtype` at `owner` in `zone`.
    /// `RecordType::ANY` (RFC 2136 §2.5.3 "delete all RRsets from a name")
    /// needs a grant of every type.
    pub fn allows(&self, zone: &Name, owner: &Name, rtype: RecordType) -> bool {
        let types_ok = match rtype {
            RecordType::ANY => self.types == Types::AllButSoa,
            t => self.types.covers(t),
        };
        types_ok
            && &self.zone == zone
            && self.names.iter().any(|p| p.matches(owner))
            && self.grants_wildcards_above(owner)
            && (!reaches_below(zone, owner, rtype) || self.grants_all_below(owner))
    }

    /// Whether the grant names every name below `owner`: a name one and
    /// two labels below it, each label one no literal can be (a NUL
    /// octet), is matched, so a `*`/`**` pattern covers that subtree.
    fn grants_all_below(&self, owner: &Name) -> bool {
        const PROBE: &[u8] = b"\0";
        let labels: Vec<&[u8]> = owner.iter().collect();
        [1, 2].iter().all(|&depth| {
            let below: Vec<&[u8]> = std::iter::repeat_n(PROBE, depth)
                .chain(labels.iter().copied())
                .collect();
            self.names.iter().any(|p| p.matches_labels(&below))
        })
    }

    /// A name below a wildcard label (`_acme-challenge.*.example.com`)
    /// makes that wildcard owner exist, as an empty non-terminal at least,
    /// and an existing wildcard answers for every name below it that the
    /// zone lacks (RFC 4592 §2.2.2: NXDOMAIN becomes NODATA). So such a
    /// name is granted only when the wildcard owner (`*.example.com`) is
    /// too: `["@", "**"]` (the whole zone) grants both, `_acme-challenge.**`
    /// not the wildcard (round 46).
    fn grants_wildcards_above(&self, owner: &Name) -> bool {
        let labels: Vec<&[u8]> = owner.iter().collect();
        (1..labels.len())
            .filter(|&i| labels.get(i).is_some_and(|l| *l == b"*"))
            .all(|i| {
                let above = labels.get(i..).unwrap_or_default();
                self.names.iter().any(|p| p.matches_labels(above))
            })
    }
}

/// Whether a change of `rtype` at `owner` changes what names below it
/// answer: an NS below the apex is a delegation (RFC 1034 §4.2.1: the names
/// below become a referral to whatever nameserver it names), a DNAME
/// redirects every name below it (RFC 6672), and a delete of all RRsets
/// (ANY) may remove either. Granted only with every name below (round 48:
/// a key granted `dyn` delegated `dyn` to its own nameserver and took
/// `host.dyn` over).
fn reaches_below(zone: &Name, owner: &Name, rtype: RecordType) -> bool {
    match rtype {
        RecordType::NS => owner != zone,
        RecordType::DNAME | RecordType::ANY => true,
        _ => false,
    }
}

/// All grants of one key or token, in the configuration's order, with an
/// index by zone: a key granted in 5,000 zones looks at the grants of the
/// one zone a change touches, not at all 5,000 (the cost of a check does
/// not grow with the zones a key may write).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Grants {
    list: Vec<Grant>,
    /// (zone hash, position in `list`), sorted.
    by_zone: Vec<(u64, u32)>,
}

impl From<Vec<Grant>> for Grants {
    fn from(list: Vec<Grant>) -> Grants {
        let mut by_zone: Vec<(u64, u32)> = list
            .iter()
            .enumerate()
            .map(|(i, g)| (g.zone_hash, u32::try_from(i).unwrap_or(u32::MAX)))
            .collect();
        by_zone.sort_unstable();
        Grants { list, by_zone }
    }
}

impl Grants {
    /// Every grant, in the configuration's order.
    pub fn list(&self) -> &[Grant] {
        &self.list
    }

    /// The grants naming `zone` (and, rarely, another zone of the same
    /// hash: callers compare the zone).
    fn of_zone(&self, zone: &Name) -> impl Iterator<Item = &Grant> {
        let h = name_hash(zone);
        let start = self.by_zone.partition_point(|(k, _)| *k < h);
        self.by_zone[start..]
            .iter()
            .take_while(move |(k, _)| *k == h)
            .filter_map(|(_, i)| self.list.get(*i as usize))
    }

    /// Whether any grant covers the change. An empty set allows nothing.
    pub fn allows(&self, zone: &Name, owner: &Name, rtype: RecordType) -> bool {
        self.of_zone(zone).any(|g| g.allows(zone, owner, rtype))
    }

    /// Whether any grant names `zone` at all (for transfers and NOTAUTH).
    pub fn covers_zone(&self, zone: &Name) -> bool {
        self.of_zone(zone).any(|g| &g.zone == zone)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn n(s: &str) -> Name {
        Name::from_ascii(s).expect("name")
    }

    fn strings(v: &[&str]) -> Vec<String> {
        v.iter().map(|s| s.to_string()).collect()
    }

    fn acme() -> Grants {
        Grants::from(vec![
            Grant::parse(
                "example.com",
                &strings(&["_acme-challenge", "_acme-challenge.**"]),
                &strings(&["TXT"]),
            )
            .expect("grant"),
        ])
    }

    #[test]
    fn zone_compares_in_any_case_among_many_grants() {
        let grants = Grants::from(
            (0..200)
                .map(|i| {
                    Grant::parse(
                        &format!("z{i}.example"),
                        &strings(&["**"]),
                        &strings(&["TXT"]),
                    )
                    .expect("grant")
                })
                .collect::<Vec<_>>(),
        );
        let z = n("Z17.EXAMPLE.");
        assert!(grants.allows(&z, &n("a.z17.example."), RecordType::TXT));
        assert!(grants.covers_zone(&n("z199.Example.")));
        assert!(!grants.allows(&n("z200.example."), &n("a.z200.example."), RecordType::TXT));
        assert!(!grants.covers_zone(&n("z17.example.com.")));
    }

    #[test]
    fn acme_grant_allows_challenge_txt_at_apex_and_below() {
        let z = n("example.com.");
        let g = acme();
        assert!(g.allows(&z, &n("_acme-challenge.example.com."), RecordType::TXT));
        assert!(g.allows(&z, &n("_ACME-Challenge.Example.COM."), RecordType::TXT));
        assert!(g.allows(&z, &n("_acme-challenge.www.example.com."), RecordType::TXT));
        assert!(g.allows(&z, &n("_acme-challenge.a.b.example.com."), RecordType::TXT));
    }

    #[test]
    fn acme_grant_refuses_everything_else() {
        let z = n("example.com.");
        let g = acme();
        assert!(!g.allows(&z, &n("_acme-challenge.example.com."), RecordType::A));
        assert!(!g.allows(&z, &n("www.example.com."), RecordType::TXT));
        assert!(!g.allows(&z, &n("example.com."), RecordType::TXT));
        assert!(!g.allows(&z, &n("x._acme-challenge.example.com."), RecordType::TXT));
        assert!(!g.allows(
            &n("example.org."),
            &n("_acme-challenge.example.org."),
            RecordType::TXT
        ));
        assert!(!g.allows(&z, &n("_acme-challenge.example.com."), RecordType::ANY));
    }

    #[test]
    fn one_star_is_exactly_one_label() {
        let g = Grants::from(vec![
            Grant::parse(
                "example.com",
                &strings(&["*.dyn"]),
                &strings(&["A", "AAAA"]),
            )
            .expect("g"),
        ]);
        let z = n("example.com.");
        assert!(g.allows(&z, &n("host.dyn.example.com."), RecordType::AAAA));
        assert!(!g.allows(&z, &n("dyn.example.com."), RecordType::A));
        assert!(!g.allows(&z, &n("a.b.dyn.example.com."), RecordType::A));
        // The wildcard owner answers for a.b.dyn too: not granted by `*`.
        assert!(!g.allows(&z, &n("*.dyn.example.com."), RecordType::A));
    }

    /// A name below a `*` label makes that wildcard owner exist (an empty
    /// non-terminal), which answers for every name below it (RFC 4592
    /// §2.2.2: NXDOMAIN becomes NODATA): granted only where the wildcard
    /// owner is granted too.
    #[test]
    fn rfc4592_a_name_below_a_wildcard_label_needs_the_wildcard_granted() {
        let g = acme();
        let z = n("example.com.");
        assert!(g.allows(&z, &n("_acme-challenge.a.b.example.com."), RecordType::TXT));
        for name in [
            "_acme-challenge.*.example.com.",
            "_acme-challenge.a.*.example.com.",
            "_acme-challenge.*.b.example.com.",
        ] {
            assert!(!g.allows(&z, &n(name), RecordType::TXT), "{name}");
        }
        // The whole zone: wildcards and names below them (external-dns
        // writes `*.apps` and its registry TXT records).
        let all = Grants::from(vec![
            Grant::parse("example.com", &strings(&["@", "**"]), &strings(&["*"])).expect("g"),
        ]);
        assert!(all.allows(&z, &n("*.apps.example.com."), RecordType::A));
        assert!(all.allows(&z, &n("a-wild.*.apps.example.com."), RecordType::TXT));
        // Below an escaped, granted wildcard owner.
        let escaped = Grants::from(vec![
            Grant::parse(
                "example.com",
                &strings(&["\\*.dyn", "x.**.\\*.dyn"]),
                &strings(&["A"]),
            )
            .expect("g"),
        ]);
        assert!(escaped.allows(&z, &n("x.a.*.dyn.example.com."), RecordType::A));
        assert!(!escaped.allows(&z, &n("x.*.a.*.dyn.example.com."), RecordType::A));
    }

    /// NS below the apex (a delegation), DNAME, and a delete of every
    /// RRset change the answers for every name below: granted only with
    /// all of them (round 48).
    #[test]
    fn rfc1034_a_delegation_or_redirect_needs_every_name_below_granted() {
        let z = n("example.com.");
        let one = Grants::from(vec![
            Grant::parse("example.com", &strings(&["dyn"]), &strings(&["*"])).expect("g"),
        ]);
        assert!(one.allows(&z, &n("dyn.example.com."), RecordType::A));
        for t in [RecordType::NS, RecordType::DNAME, RecordType::ANY] {
            assert!(!one.allows(&z, &n("dyn.example.com."), t), "{t}");
        }
        // One level below is not every name below.
        let level = Grants::from(vec![
            Grant::parse("example.com", &strings(&["dyn", "*.dyn"]), &strings(&["*"])).expect("g"),
        ]);
        assert!(!level.allows(&z, &n("dyn.example.com."), RecordType::NS));
        let subtree = Grants::from(vec![
            Grant::parse(
                "example.com",
                &strings(&["dyn", "**.dyn"]),
                &strings(&["*"]),
            )
            .expect("g"),
        ]);
        for t in [RecordType::NS, RecordType::DNAME, RecordType::ANY] {
            assert!(subtree.allows(&z, &n("dyn.example.com."), t), "{t}");
        }
        // The apex NS is no delegation; a whole-zone grant may do all.
        let apex = Grants::from(vec![
            Grant::parse("example.com", &strings(&["@"]), &strings(&["NS", "MX"])).expect("g"),
        ]);
        assert!(apex.allows(&z, &z, RecordType::NS));
        let all = Grants::from(vec![
            Grant::parse("example.com", &strings(&["@", "**"]), &strings(&["*"])).expect("g"),
        ]);
        assert!(all.allows(&z, &n("sub.example.com."), RecordType::NS));
        assert!(all.allows(&z, &z, RecordType::ANY));
    }

    /// Round 48 LOW: `\042` was taken byte for byte (it matched no name)
    /// and `check` accepted it.
    #[test]
    fn a_grant_name_with_an_escape_other_than_star_is_an_error() {
        let z = n("example.com.");
        for bad in ["\\042.e", "a\\.b", "\\\\*.p"] {
            let e = Pattern::parse(bad, &z).expect_err(bad);
            assert!(e.to_string().contains("takes no escapes"), "{bad}: {e}");
        }
        assert!(Pattern::parse("\\*.dyn", &z).is_ok());
    }

    /// Round 47 LOW: `_acme*` read as a glob was refused as a "bad label";
    /// the error now says what a `*` may be.
    #[test]
    fn a_star_inside_a_label_is_refused_saying_what_a_star_may_be() {
        let z = n("example.com.");
        for bad in ["a*b", "_acme*", "*x.dyn", "**a"] {
            let e = Pattern::parse(bad, &z).expect_err(bad).to_string();
            assert!(
                e.contains("is a whole label, not part of one"),
                "{bad}: {e}"
            );
        }
        // Round 50 L6: `\*` inside a label is told the same, not "no
        // escapes but \*".
        for bad in ["a\\*b", "\\*x.dyn", "x\\*"] {
            let e = Pattern::parse(bad, &z).expect_err(bad).to_string();
            assert!(
                e.contains("\\* (the wildcard owner) is a whole label, not part of one"),
                "{bad}: {e}"
            );
            assert!(!e.contains("takes no escapes"), "{bad}: {e}");
        }
    }

    /// Round 51: grants that check accepted and that grant nothing, or
    /// something else than written: a query or meta type, `@` inside a
    /// name, a relative name that repeats the zone's name.
    #[test]
    fn grants_that_grant_nothing_are_errors() {
        for t in ["ANY", "TSIG", "OPT", "AXFR", "IXFR", "TKEY", "TYPE0"] {
            let e = Types::parse(&[t.to_owned()]).expect_err(t).to_string();
            assert!(e.contains("is a query or meta type"), "{t}: {e}");
        }
        assert!(Types::parse(&["TXT".to_owned(), "CAA".to_owned()]).is_ok());
        let z = n("a.test.");
        for bad in ["x.@", "@.x"] {
            let e = Pattern::parse(bad, &z).expect_err(bad).to_string();
            assert!(e.contains("@ (the zone's apex) stands alone"), "{bad}: {e}");
        }
        for bad in ["x.a.test", "a.test", "X.A.Test"] {
            let e = Pattern::parse(bad, &z).expect_err(bad).to_string();
            assert!(
                e.contains("is relative to the zone, so it names"),
                "{bad}: {e}"
            );
        }
        for good in ["@", "x", "x.a.test.", "a.test.", "x.test", "**"] {
            assert!(Pattern::parse(good, &z).is_ok(), "{good}");
        }
    }

    /// Round 50 L5: an absolute grant name outside its zone matched
    /// nothing and passed `check`.
    #[test]
    fn a_grant_name_outside_its_zone_is_an_error() {
        let z = n("example.com.");
        for bad in ["x.other.org.", "com.", "example.com.org.", "x.*.org."] {
            let e = Pattern::parse(bad, &z).expect_err(bad).to_string();
            assert!(e.contains("is not in the zone example.com."), "{bad}: {e}");
        }
        for good in [
            "x.example.com.",
            "example.com.",
            "*.example.com.",
            "x.*.com.",
            "**.",
            "x.**.",
            "EXAMPLE.Com.",
        ] {
            assert!(Pattern::parse(good, &z).is_ok(), "{good}");
        }
    }

    #[test]
    fn rfc4592_a_wildcard_owner_needs_an_escaped_star() {
        let g = Grants::from(vec![
            Grant::parse("example.com", &strings(&["\\*.dyn"]), &strings(&["A"])).expect("g"),
        ]);
        let z = n("example.com.");
        assert!(g.allows(&z, &n("*.dyn.example.com."), RecordType::A));
        assert!(!g.allows(&z, &n("host.dyn.example.com."), RecordType::A));
    }

    #[test]
    fn apex_and_absolute_names() {
        let g = Grants::from(vec![
            Grant::parse(
                "example.com.",
                &strings(&["@", "mail.example.com."]),
                &strings(&["*"]),
            )
            .expect("g"),
        ]);
        let z = n("example.com.");
        assert!(g.allows(&z, &n("example.com."), RecordType::MX));
        assert!(g.allows(&z, &n("mail.example.com."), RecordType::A));
        // Deleting every RRset could remove a delegation or a DNAME there,
        // which answers for the names below: not granted by `mail` alone.
        assert!(!g.allows(&z, &n("mail.example.com."), RecordType::ANY));
        assert!(!g.allows(&z, &n("example.com."), RecordType::SOA));
        assert!(!g.allows(&z, &n("www.example.com."), RecordType::A));
    }

    #[test]
    fn empty_grants_allow_nothing() {
        let g = Grants::default();
        assert!(!g.allows(&n("example.com."), &n("example.com."), RecordType::TXT));
        assert!(!g.covers_zone(&n("example.com.")));
        assert!(acme().covers_zone(&n("EXAMPLE.com.")));
    }

    #[test]
    fn bad_grants_name_the_field() {
        let e =
            Grant::parse("example.com", &strings(&["a..b"]), &strings(&["TXT"])).expect_err("bad");
        assert_eq!(e.field, "names");
        let e = Grant::parse("example.com", &strings(&["x"]), &strings(&["SOA"])).expect_err("soa");
        assert_eq!(e.field, "types");
        assert!(e.to_string().contains("SOA"), "{e}");
        let e = Grant::parse("example.com", &strings(&["x"]), &strings(&["BOGUS"])).expect_err("t");
        assert!(e.to_string().contains("BOGUS"), "{e}");
        let e = Grant::parse("example.com", &[], &strings(&["TXT"])).expect_err("empty");
        assert_eq!(e.field, "names");
        let e =
            Grant::parse("example.com", &strings(&["x"]), &strings(&["*", "A"])).expect_err("mix");
        assert_eq!(e.field, "types");
    }

    #[test]
    fn many_star_matching_is_bounded_on_long_names() {
        let g = Grants::from(vec![
            Grant::parse("example.com", &strings(&["**.**.**.x"]), &strings(&["*"])).expect("g"),
        ]);
        let long = (0..60)
            .map(|i| format!("l{i}"))
            .collect::<Vec<_>>()
            .join(".");
        let name = n(&format!("{long}.example.com."));
        assert!(!g.allows(&n("example.com."), &name, RecordType::A));
    }
}
