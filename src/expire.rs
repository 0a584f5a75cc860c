//! PURE: which ACME DNS-01 challenge records are stale (`[acme] expire_after`).
//!
//! # Design
//!
//! An ACME client writes `_acme-challenge` TXT records when it asks for a
//! certificate and deletes them when the CA has looked (RFC 8555 §8.4). A
//! client that crashes in between leaves its token in the zone for good. The
//! sweep removes such leftovers:
//!
//! ```text
//! every sweep_interval (and once at start-up), per served zone:
//!   candidates(document, delegated)  TXT at _acme-challenge[.*] names, and
//!                                    TXT at the targets of _acme-challenge
//!                                    CNAMEs (the delegated pattern, RFC 8555
//!                                    §8.4 allows the CNAME to be followed)
//!   age of each candidate's line     git blame of the committed file (edge):
//!                                    the history, not process memory, so a
//!                                    restart forgets nothing
//!   stale(candidates, ages, now)     older than expire_after
//!   store.write(removal)             one commit per zone, Via: expiry
//! ```
//!
//! The age of a record is the time of the commit that last wrote its line.
//! A line the file has but HEAD does not (an edit not yet committed) has no
//! age yet and is never stale; the next sweep sees it committed.

use std::collections::HashSet;
use std::time::Duration;

use crate::rr::{ChangeSet, Location, Name, RecordType, Rr, target_name};
use crate::zone::{NameKey, Zone};
use crate::zonefile::Document;

/// The `Via:` trailer (and [`crate::store::WriteRequest::via`]) of the sweep's
/// commits.
pub const VIA: &str = "expiry";
/// The author of the sweep's commits.
pub const ACTOR: &str = "acme-expiry";

/// The owner label that marks a DNS-01 challenge (RFC 8555 §8.4).
pub const CHALLENGE_LABEL: &[u8] = b"_acme-challenge";

/// Lower-cased wire forms of the names delegated challenges point at.
pub type Delegated = HashSet<Box<[u8]>>;

/// Whether `name`'s first label is `_acme-challenge` (any case).
pub fn is_challenge_owner(name: &Name) -> bool {
    name.iter()
        .next()
        .is_some_and(|l| l.eq_ignore_ascii_case(CHALLENGE_LABEL))
}

/// The names that `_acme-challenge` CNAMEs in `zones` point at: where a
/// delegated client (lego follows the CNAME) writes its TXT records.
pub fn delegated_targets<'z>(zones: impl IntoIterator<Item = &'z Zone>) -> Delegated {
    zones
        .into_iter()
        .flat_map(|z| z.records())
        .filter(|rr| rr.rtype == RecordType::CNAME && is_challenge_owner(&rr.name))
        .filter_map(|rr| target_name(rr.rtype, &rr.rdata))
        .map(|t| NameKey::new(&t).as_bytes().into())
        .collect()
}

/// The challenge TXT records of `doc`, with where each is written.
pub fn candidates<'d>(doc: &'d Document, delegated: &Delegated) -> Vec<(&'d Rr, &'d Location)> {
    doc.records()
        .filter(|(rr, _)| rr.rtype == RecordType::TXT)
        .filter(|(rr, _)| {
            is_challenge_owner(&rr.name) || delegated.contains(NameKey::new(&rr.name).as_bytes())
        })
        .collect()
}

/// The records among `aged` (each with the Unix time its line was
/// committed, `None` when not committed yet) that are older than `after`
/// at `now`.
pub fn stale(aged: &[(Rr, Option<i64>)], now: i64, after: Duration) -> Vec<Rr> {
    let after = i64::try_from(after.as_secs()).unwrap_or(i64::MAX);
    aged.iter()
        .filter(|(_, t)| t.is_some_and(|t| now.saturating_sub(t) >= after))
        .map(|(rr, _)| rr.clone())
        .collect()
}

/// The change that removes those of `stale` that `zone` still holds (a
/// client may have cleaned up meanwhile; removing nothing writes nothing).
pub fn removal(zone: &Zone, stale: &[Rr]) -> ChangeSet {
    let remove = stale
        .iter()
        .filter(|s| {
            zone.rrset(&s.name, s.rtype)
                .iter()
                .any(|have| have.same_rr(s))
        })
        .cloned()
        .collect();
    ChangeSet {
        remove,
        ..ChangeSet::default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::zone::testutil::{cname, n, txt};
    use crate::zonefile::NoIncludes;

    const ZONE: &str = "$ORIGIN example.com.\n$TTL 300\n\
        @ SOA ns1 hostmaster 1 7200 3600 1209600 300\n\
        @ NS ns1\n\
        ns1 A 192.0.2.1\n\
        _acme-challenge TXT \"old\"\n\
        _acme-challenge TXT \"new\"\n\
        _ACME-Challenge.www TXT \"upper\"\n\
        info TXT \"not a challenge\"\n\
        _acme-challenge.shop CNAME shop.auth.example.net.\n";

    fn doc() -> Document {
        Document::parse("example.com.zone", ZONE, &n("example.com."), &NoIncludes).expect("parses")
    }

    fn zone_of(doc: &Document) -> Zone {
        let records = doc.records().map(|(r, l)| (r.clone(), l.clone())).collect();
        Zone::build(n("example.com."), records).expect("valid").0
    }

    #[test]
    fn challenge_owner_is_the_first_label_in_any_case() {
        assert!(is_challenge_owner(&n("_acme-challenge.example.com.")));
        assert!(is_challenge_owner(&n("_ACME-CHALLENGE.www.example.com.")));
        assert!(!is_challenge_owner(&n("www._acme-challenge.example.com.")));
        assert!(!is_challenge_owner(&n("example.com.")));
        assert!(!is_challenge_owner(&Name::root()));
    }

    #[test]
    fn candidates_are_challenge_txt_with_their_lines() {
        let d = doc();
        let got: Vec<_> = candidates(&d, &HashSet::new())
            .into_iter()
            .map(|(rr, loc)| (rr.name.to_ascii().to_lowercase(), loc.line))
            .collect();
        assert_eq!(
            got,
            [
                ("_acme-challenge.example.com.".to_string(), 6),
                ("_acme-challenge.example.com.".to_string(), 7),
                ("_acme-challenge.www.example.com.".to_string(), 8),
            ]
        );
    }

    #[test]
    fn delegated_targets_follow_challenge_cnames_across_zones() {
        let d = doc();
        let targets = delegated_targets([&zone_of(&d)]);
        assert_eq!(targets.len(), 1);
        assert!(targets.contains(NameKey::new(&n("SHOP.auth.example.net.")).as_bytes()));

        let auth = "$ORIGIN auth.example.net.\n\
            @ 300 SOA ns1 h 1 2 3 4 5\n@ 300 NS ns1\nns1 300 A 192.0.2.9\n\
            shop 60 TXT \"delegated token\"\nother 60 TXT \"kept\"\n";
        let ad =
            Document::parse("auth", auth, &n("auth.example.net."), &NoIncludes).expect("parses");
        let got: Vec<_> = candidates(&ad, &targets)
            .into_iter()
            .map(|(rr, _)| rr.name.to_ascii())
            .collect();
        assert_eq!(got, ["shop.auth.example.net."]);
    }

    #[test]
    fn stale_means_committed_at_least_expire_after_ago() {
        let day = Duration::from_secs(86_400);
        let now = 1_000_000;
        let old = txt("_acme-challenge.example.com.", "old");
        let edge = txt("_acme-challenge.example.com.", "edge");
        let fresh = txt("_acme-challenge.example.com.", "fresh");
        let uncommitted = txt("_acme-challenge.example.com.", "uncommitted");
        let aged = [
            (old.clone(), Some(now - 86_401)),
            (edge.clone(), Some(now - 86_400)),
            (fresh, Some(now - 86_399)),
            (uncommitted, None),
        ];
        assert_eq!(stale(&aged, now, day), [old, edge]);
        // A commit time in the future (clock skew) is not stale.
        assert!(stale(&[(cname("a.", "b."), Some(now + 5))], now, day).is_empty());
    }

    #[test]
    fn removal_skips_records_already_gone() {
        let d = doc();
        let z = zone_of(&d);
        let present = txt("_acme-challenge.example.com.", "old");
        let gone = txt("_acme-challenge.example.com.", "cleaned up meanwhile");
        let c = removal(&z, &[present.clone(), gone]);
        assert_eq!(c.remove, [present]);
        assert!(c.add.is_empty());
        assert!(removal(&z, &[]).is_empty());
    }
}
