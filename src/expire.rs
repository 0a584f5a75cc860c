//! PURE: which ACME DNS-01 challenge records are stale (`[acme] expire_after`),
//! and which of them the sweep may remove on whose behalf.
//!
//! # Design
//!
//! An ACME client writes `_acme-challenge` TXT records when it asks for a
//! certificate and deletes them when the CA has looked (RFC 8555 §8.4). A
//! client that crashes in between leaves its token in the zone for good. The
//! sweep removes such leftovers:
//!
//! ```text
//! every sweep_interval (and once at start-up), over all served zones:
//!   challenge_cnames(doc)           CNAMEs at _acme-challenge[.*] names: the
//!                                   delegated pattern (RFC 8555 §8.4 lets a
//!                                   client follow the CNAME)
//!   candidates(doc, targets)        TXT at _acme-challenge[.*] names, and TXT
//!                                   at the targets of those CNAMEs
//!   who wrote each line, and when   git blame of the committed file (edge):
//!                                   the commit's time, author and Via:
//!                                   trailer; the history, not process
//!                                   memory, so a restart forgets nothing
//!   stale(txt, cnames, may, now)    the rule below, and older than
//!                                   expire_after
//!   store.write(removal)            one commit per zone, Via: expiry
//! ```
//!
//! # Who the sweep acts for (design invariant 6)
//!
//! The sweep writes as `acme-expiry`, but every removal is one that the
//! writer of the record could have made itself: a key must never cause,
//! through the server, a change outside its grants. So a TXT line is
//! removed only when it is stale and
//!
//! - it was last written by a dynamic writer (the commit that last wrote the
//!   line says `Via: rfc2136` or `Via: rest`; its author, the same as its
//!   `Actor:` trailer, names the key or token; and its message lists the
//!   record as added, [`Writer::of_line`]), and that key or token may
//!   still write TXT at that owner in that zone (its grants in the config);
//!   and
//! - either its owner is an `_acme-challenge` name, or it is the target of an
//!   `_acme-challenge` CNAME that a person wrote (the operator's delegation,
//!   the usual lego setup: the commit that last wrote the CNAME line is not
//!   a key's or token's), or whose line was last written by the *same* key
//!   or token through a dynamic writer, which may still write that CNAME.
//!
//! Everything else stays: records a person wrote (or an `external change`
//! commit, or a commit without those trailers), records whose writer has no
//! grant for them any more (a removed key included), and the TXT at the
//! target of a CNAME another key or token wrote. (A person who rewrites a
//! key's CNAME line by hand makes it theirs, and so an operator's
//! delegation.) An attacker's
//! `_acme-challenge.evil CNAME example.com.` therefore removes nothing of
//! `example.com`'s.
//!
//! The age of a record is the time of the commit that last wrote its line.
//! A line the file has but HEAD does not (an edit not yet committed) has no
//! age yet and is never stale; the next sweep sees it committed.

use std::collections::{HashMap, HashSet};
use std::time::Duration;

use crate::rr::{ChangeSet, Name, RecordType, Rr, target_name};
use crate::zone::{NameKey, Zone};
use crate::zonefile::Document;

/// The `Via:` trailer (and [`crate::store::WriteRequest::via`]) of the sweep's
/// commits.
pub const VIA: &str = "expiry";
/// The author of the sweep's commits.
pub const ACTOR: &str = "acme-expiry";

/// The `Via:` of RFC 2136 UPDATE commits (`server/updater.rs`).
pub const VIA_RFC2136: &str = "rfc2136";
/// The `Via:` of REST API commits (`rest/http.rs`).
pub const VIA_REST: &str = "rest";

/// The owner label that marks a DNS-01 challenge (RFC 8555 §8.4).
pub const CHALLENGE_LABEL: &[u8] = b"_acme-challenge";

/// Lower-cased wire forms of the names delegated challenges point at.
pub type Delegated = HashSet<Box<[u8]>>;

/// Who last wrote a line: read from the commit `git blame` gives it.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Writer {
    /// A TSIG key through RFC 2136 UPDATE: the key name as the commit's
    /// author (no trailing dot).
    Key(String),
    /// A REST token, by its name.
    Token(String),
    /// Anyone else: a person, an `external change`, the sweep itself, a
    /// commit without zonewright's trailers. Never swept.
    Other,
}

impl Writer {
    /// The writer of a commit with `author` and `message`: a key or token
    /// only when the message's trailers say `Via: rfc2136` or `Via: rest`
    /// and `Actor:` is the author, as `store::audit` writes them.
    pub fn of_commit(author: &str, message: &str) -> Writer {
        let (Some(via), Some(actor)) = (trailer(message, "Via"), trailer(message, "Actor")) else {
            return Writer::Other;
        };
        if actor != author || author.is_empty() {
            return Writer::Other;
        }
        match via {
            VIA_RFC2136 => Writer::Key(author.to_owned()),
            VIA_REST => Writer::Token(author.to_owned()),
            _ => Writer::Other,
        }
    }

    /// The writer of one record's line, whose commit (by `author`, with
    /// `message`) `git blame` gives: [`Writer::of_commit`] when the message
    /// lists the record as added (`+ ` then `added`, the record in
    /// `store::audit::rr_line` form: owner, TTL, `IN`, type, RDATA) and
    /// not also as removed with another TTL; else [`Writer::Other`]. (A
    /// removal at the same TTL is the writer's own: a group commit of an
    /// add, a delete and an add again lists both.)
    ///
    /// A write can rewrite a line it did not add: RFC 2181 §5.2 gives an
    /// RRset one TTL, so adding a record with another TTL rewrites the TTL
    /// of every record already at that name and type, a person's included.
    /// The commit lists such a record as removed and added again (IXFR
    /// needs both), and `git blame` names the commit for the line; the line
    /// is still not the key's. A commit whose message does not list all
    /// its records (past `git::MAX_MESSAGE_RRS`) proves nothing either:
    /// the sweep only removes what it can tie to its writer.
    pub fn of_line(author: &str, message: &str, added: &str) -> Writer {
        let writer = Writer::of_commit(author, message);
        if !writer.is_dynamic() {
            return writer;
        }
        // "owner TTL rest": the record without its TTL.
        let untimed = |line: &str| {
            let mut parts = line.splitn(3, ' ');
            let owner = parts.next()?;
            parts.next()?;
            Some((owner.to_owned(), parts.next()?.to_owned()))
        };
        let record = untimed(added);
        let mut listed = false;
        for line in message.lines() {
            if line.starts_with("... and ") {
                return Writer::Other;
            }
            if line.strip_prefix("+ ") == Some(added) {
                listed = true;
            } else if let Some(removed) = line.strip_prefix("- ")
                && removed != added
                && record.is_some()
                && untimed(removed) == record
            {
                // Removed with another TTL: re-TTLed, not written.
                return Writer::Other;
            }
        }
        if listed { writer } else { Writer::Other }
    }

    fn is_dynamic(&self) -> bool {
        !matches!(self, Writer::Other)
    }
}

/// The value of trailer `key` in `message`: a `Key: value` line of its last
/// paragraph, when every line there is a trailer (as git reads them).
fn trailer<'m>(message: &'m str, key: &str) -> Option<&'m str> {
    let last = message.trim_end().rsplit("\n\n").next()?;
    let mut found = None;
    for line in last.lines() {
        let (k, v) = line.split_once(": ")?;
        if k.is_empty() || !k.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-') {
            return None;
        }
        if k == key && found.is_none() {
            found = Some(v.trim());
        }
    }
    found
}

/// When a line was last written and by whom.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Written {
    /// Unix time of the commit.
    pub time: i64,
    pub by: Writer,
}

/// A record of a served zone with who last wrote its line (`None`: not
/// committed yet).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Line {
    pub zone: Name,
    pub rr: Rr,
    pub written: Option<Written>,
}

/// Whether `writer` may change `rtype` at `owner` in `zone` (its grants in
/// the config; the edge answers it).
pub trait MayWrite {
    fn may_write(&self, writer: &Writer, zone: &Name, owner: &Name, rtype: RecordType) -> bool;
}

impl<F: Fn(&Writer, &Name, &Name, RecordType) -> bool> MayWrite for F {
    fn may_write(&self, writer: &Writer, zone: &Name, owner: &Name, rtype: RecordType) -> bool {
        self(writer, zone, owner, rtype)
    }
}

/// Whether `name`'s first label is `_acme-challenge` (any case).
pub fn is_challenge_owner(name: &Name) -> bool {
    name.iter()
        .next()
        .is_some_and(|l| l.eq_ignore_ascii_case(CHALLENGE_LABEL))
}

fn key(name: &Name) -> Box<[u8]> {
    NameKey::new(name).as_bytes().into()
}

/// The CNAMEs at `_acme-challenge` names of `doc`, with where each is
/// written.
pub fn challenge_cnames(doc: &Document) -> Vec<(&Rr, crate::rr::Location)> {
    doc.records()
        .filter(|(rr, _)| rr.rtype == RecordType::CNAME && is_challenge_owner(&rr.name))
        .collect()
}

/// The names that `cnames` point at: where a delegated client (lego
/// follows the CNAME) writes its TXT records.
pub fn delegated_targets<'r>(cnames: impl IntoIterator<Item = &'r Rr>) -> Delegated {
    cnames
        .into_iter()
        .filter_map(|rr| target_name(rr.rtype, &rr.rdata))
        .map(|t| key(&t))
        .collect()
}

/// The challenge TXT records of `doc`, with where each is written.
pub fn candidates<'d>(
    doc: &'d Document,
    delegated: &Delegated,
) -> Vec<(&'d Rr, crate::rr::Location)> {
    doc.records()
        .filter(|(rr, _)| rr.rtype == RecordType::TXT)
        .filter(|(rr, _)| {
            is_challenge_owner(&rr.name) || delegated.contains(NameKey::new(&rr.name).as_bytes())
        })
        .collect()
}

/// The TXT records among `txt` to remove at `now`: written by a key or
/// token that may write them, at a challenge name or at the target of a
/// challenge CNAME (among `cnames`) the same writer wrote and may write
/// (see the module docs), and committed at least `after` ago. Each with
/// its zone.
pub fn stale(
    txt: &[Line],
    cnames: &[Line],
    may: &impl MayWrite,
    now: i64,
    after: Duration,
) -> Vec<(Name, Rr)> {
    let after = i64::try_from(after.as_secs()).unwrap_or(i64::MAX);
    // Who may have designated each target as a challenge: the writers of
    // the CNAMEs pointing at it, where they may write those CNAMEs; a CNAME
    // a person wrote (the operator's delegation) designates it for anyone.
    let mut designated: HashMap<Box<[u8]>, Vec<&Writer>> = HashMap::new();
    let mut by_person: HashSet<Box<[u8]>> = HashSet::new();
    for c in cnames {
        let Some(w) = &c.written else { continue };
        let Some(target) = target_name(c.rr.rtype, &c.rr.rdata) else {
            continue;
        };
        if c.rr.rtype != RecordType::CNAME || !is_challenge_owner(&c.rr.name) {
            continue;
        }
        if !w.by.is_dynamic() {
            by_person.insert(key(&target));
        } else if may.may_write(&w.by, &c.zone, &c.rr.name, RecordType::CNAME) {
            designated.entry(key(&target)).or_default().push(&w.by);
        }
    }
    txt.iter()
        .filter(|l| l.rr.rtype == RecordType::TXT)
        .filter_map(|l| Some((l, l.written.as_ref()?)))
        .filter(|(_, w)| now.saturating_sub(w.time) >= after)
        .filter(|(l, w)| {
            w.by.is_dynamic() && may.may_write(&w.by, &l.zone, &l.rr.name, RecordType::TXT)
        })
        .filter(|(l, w)| {
            is_challenge_owner(&l.rr.name)
                || by_person.contains(&key(&l.rr.name))
                || designated
                    .get(&key(&l.rr.name))
                    .is_some_and(|by| by.contains(&&w.by))
        })
        .map(|(l, _)| (l.zone.clone(), l.rr.clone()))
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

    const NOW: i64 = 1_000_000;
    const DAY: Duration = Duration::from_secs(86_400);

    fn doc() -> Document {
        Document::parse("example.com.zone", ZONE, &n("example.com."), &NoIncludes).expect("parses")
    }

    fn zone_of(doc: &Document) -> Zone {
        let records = doc.records().map(|(r, l)| (r.clone(), l.clone())).collect();
        Zone::build(n("example.com."), records).expect("valid").0
    }

    fn key_w(name: &str) -> Writer {
        Writer::Key(name.to_owned())
    }

    fn line(zone: &str, rr: Rr, by: Writer, time: i64) -> Line {
        Line {
            zone: n(zone),
            rr,
            written: Some(Written { time, by }),
        }
    }

    /// The grants of the scenario: `acme-key` may write TXT at challenge
    /// names of example.com; `auth-key` anything in auth.example.com;
    /// `lego-key` the CNAME at `_acme-challenge.www.example.com` and TXT in
    /// acme.example.net; `site-key` TXT at example.com's apex; token `web`
    /// TXT anywhere in example.com.
    fn grants(w: &Writer, zone: &Name, owner: &Name, rtype: RecordType) -> bool {
        let z = |s: &str| zone == &n(s);
        match w {
            Writer::Key(k) => match k.as_str() {
                "acme-key" => {
                    z("example.com.") && is_challenge_owner(owner) && rtype == RecordType::TXT
                }
                "auth-key" => z("auth.example.com.") && owner.zone_of(&n("auth.example.com.")),
                "lego-key" => {
                    (z("example.com.")
                        && owner == &n("_acme-challenge.www.example.com.")
                        && rtype == RecordType::CNAME)
                        || (z("acme.example.net.") && rtype == RecordType::TXT)
                }
                "site-key" => {
                    z("example.com.") && owner == &n("example.com.") && rtype == RecordType::TXT
                }
                _ => false,
            },
            Writer::Token(t) => t == "web" && z("example.com.") && rtype == RecordType::TXT,
            Writer::Other => false,
        }
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
        let cnames = challenge_cnames(&d);
        assert_eq!(cnames.len(), 1);
        assert_eq!(cnames[0].1.line, 10);
        let targets = delegated_targets(cnames.iter().map(|&(rr, _)| rr));
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
    fn a_line_is_its_writers_only_when_the_commit_lists_it_as_added() {
        let msg = "example.com: +1 -0 TXT _acme-challenge.c, serial 2\n\n\
                   + _acme-challenge.c.example.com. 60 IN TXT \"k\"\n\n\
                   Actor: acme-key\nClient: 127.0.0.1:5353\nVia: rfc2136\nSerial: 1 -> 2\n";
        let key = "_acme-challenge.c.example.com. 60 IN TXT \"k\"";
        assert_eq!(Writer::of_line("acme-key", msg, key), key_w("acme-key"));
        // The hand line whose TTL this commit rewrote for the RRset.
        let hand = "_acme-challenge.c.example.com. 60 IN TXT \"hand\"";
        assert_eq!(Writer::of_line("acme-key", msg, hand), Writer::Other);
        // What the commit really wrote: the key's token added, the hand
        // record removed and added again with the RRset's new TTL.
        let retimed = msg.replace(
            "\"k\"\n\n",
            "\"k\"\n+ _acme-challenge.c.example.com. 60 IN TXT \"hand\"\n\
             - _acme-challenge.c.example.com. 300 IN TXT \"hand\"\n\n",
        );
        assert_eq!(
            Writer::of_line("acme-key", &retimed, key),
            key_w("acme-key")
        );
        assert_eq!(Writer::of_line("acme-key", &retimed, hand), Writer::Other);
        // One group commit of three requests: add, delete, add again.
        let again = msg.replace(
            "\"k\"\n\n",
            "\"k\"\n+ _acme-challenge.c.example.com. 60 IN TXT \"k\"\n\
             - _acme-challenge.c.example.com. 60 IN TXT \"k\"\n\n",
        );
        assert_eq!(Writer::of_line("acme-key", &again, key), key_w("acme-key"));
        // A message cut short may leave out the removal.
        let cut = msg.replace(
            "\"k\"\n\n",
            "\"k\"\n... and 3 more (the commit's diff has every one)\n\n",
        );
        assert_eq!(Writer::of_line("acme-key", &cut, key), Writer::Other);
        // A removal listed as `- ` is no claim on a line either.
        let removed = msg.replace("+ _acme", "- _acme");
        assert_eq!(Writer::of_line("acme-key", &removed, key), Writer::Other);
        // Nobody's commit stays nobody's.
        assert_eq!(
            Writer::of_line("alice", "by hand\n\n+ x\n", "x"),
            Writer::Other
        );
    }

    #[test]
    fn writer_is_read_from_zonewrights_trailers() {
        let msg = |via: &str, actor: &str| {
            format!(
                "example.com: +1 -0 TXT x, serial 2\n\n+ x. 60 IN TXT \"t\"\n\n\
                 Actor: {actor}\nClient: 127.0.0.1:5353\nVia: {via}\nSerial: 1 -> 2\n"
            )
        };
        assert_eq!(
            Writer::of_commit("acme-key", &msg("rfc2136", "acme-key")),
            key_w("acme-key")
        );
        assert_eq!(
            Writer::of_commit("web", &msg("rest", "web")),
            Writer::Token("web".into())
        );
        // The sweep, an external change, a person's commit: nobody's key.
        assert_eq!(
            Writer::of_commit("acme-expiry", &msg("expiry", "acme-expiry")),
            Writer::Other
        );
        assert_eq!(
            Writer::of_commit(
                "zonewright",
                "example.com: external change, serial 3\n\n\
                Actor: external change\nVia: external\nSerial: 3\n"
            ),
            Writer::Other
        );
        assert_eq!(
            Writer::of_commit("alice", "fix the SPF record\n"),
            Writer::Other
        );
        // Author and Actor disagree: not trusted as either.
        assert_eq!(
            Writer::of_commit("alice", &msg("rfc2136", "acme-key")),
            Writer::Other
        );
        // "Via: rfc2136" outside the trailer paragraph does not count.
        assert_eq!(
            Writer::of_commit(
                "acme-key",
                "Via: rfc2136\nActor: acme-key\n\nnotes: by hand, really\n"
            ),
            Writer::Other
        );
    }

    #[test]
    fn stale_means_committed_at_least_expire_after_ago() {
        let t = |v: &str| txt("_acme-challenge.example.com.", v);
        let at = |v: &str, time| line("example.com.", t(v), key_w("acme-key"), time);
        let uncommitted = Line {
            written: None,
            ..at("uncommitted", 0)
        };
        let lines = [
            at("old", NOW - 86_401),
            at("edge", NOW - 86_400),
            at("fresh", NOW - 86_399),
            uncommitted,
            // A commit time in the future (clock skew) is not stale.
            at("future", NOW + 5),
        ];
        let got = stale(&lines, &[], &grants, NOW, DAY);
        let zone = n("example.com.");
        assert_eq!(got, [(zone.clone(), t("old")), (zone, t("edge"))]);
    }

    #[test]
    fn only_challenges_a_key_or_token_wrote_within_its_grants_are_stale() {
        let old = NOW - 2 * 86_400;
        let ch = |v: &str| txt("_acme-challenge.example.com.", v);
        let lines = [
            line("example.com.", ch("by acme-key"), key_w("acme-key"), old),
            line(
                "example.com.",
                ch("by token"),
                Writer::Token("web".into()),
                old,
            ),
            // Hand-written (or an external change, or the sweep): never.
            line("example.com.", ch("by hand"), Writer::Other, old),
            // A key that may not write there (or was removed from the config).
            line("example.com.", ch("by auth-key"), key_w("auth-key"), old),
            line("example.com.", ch("by a removed key"), key_w("gone"), old),
            // Not a challenge name, not a delegated target.
            line(
                "example.com.",
                txt("info.example.com.", "x"),
                key_w("site-key"),
                old,
            ),
        ];
        let got: Vec<Rr> = stale(&lines, &[], &grants, NOW, DAY)
            .into_iter()
            .map(|(_, rr)| rr)
            .collect();
        assert_eq!(got, [ch("by acme-key"), ch("by token")]);
    }

    /// Issue 11 item 3: a key granted only auth.example.com points a
    /// challenge CNAME at example.com's apex; the apex TXT, hand-written or
    /// written by another key, stays.
    #[test]
    fn a_cname_from_another_key_designates_nothing() {
        let old = NOW - 2 * 86_400;
        let evil = line(
            "auth.example.com.",
            cname("_acme-challenge.evil.auth.example.com.", "example.com."),
            key_w("auth-key"),
            old,
        );
        let apex = [
            line(
                "example.com.",
                txt("example.com.", "v=spf1 -all"),
                key_w("site-key"),
                old,
            ),
            line(
                "example.com.",
                txt("example.com.", "hand"),
                Writer::Other,
                old,
            ),
        ];
        assert!(stale(&apex, std::slice::from_ref(&evil), &grants, NOW, DAY).is_empty());
        // Not even when the CNAME's writer may write the target's zone but
        // someone else wrote the TXT: the TXT must be the CNAME writer's own.
        let mine = |w: &Writer, zone: &Name, owner: &Name, rtype| {
            grants(w, zone, owner, rtype) || (w == &key_w("auth-key") && zone == &n("example.com."))
        };
        assert!(stale(&apex, &[evil], &mine, NOW, DAY).is_empty());
    }

    #[test]
    fn a_delegated_challenge_the_key_wrote_on_both_ends_is_stale() {
        let old = NOW - 2 * 86_400;
        let target = "www.acme.example.net.";
        let cn = |by: Writer| {
            line(
                "example.com.",
                cname("_acme-challenge.www.example.com.", target),
                by,
                old,
            )
        };
        let token = txt(target, "token");
        let tl = [line(
            "acme.example.net.",
            token.clone(),
            key_w("lego-key"),
            old,
        )];
        assert_eq!(
            stale(&tl, &[cn(key_w("lego-key"))], &grants, NOW, DAY),
            [(n("acme.example.net."), token)]
        );
        // The CNAME by hand: the operator's delegation, for whoever may
        // write the target's TXT.
        assert_eq!(
            stale(&tl, &[cn(Writer::Other)], &grants, NOW, DAY),
            [(n("acme.example.net."), txt(target, "token"))]
        );
        // By another key, or not committed: kept.
        assert!(stale(&tl, &[cn(key_w("acme-key"))], &grants, NOW, DAY).is_empty());
        let uncommitted = Line {
            written: None,
            ..cn(key_w("lego-key"))
        };
        assert!(stale(&tl, &[uncommitted], &grants, NOW, DAY).is_empty());
        // No CNAME at all: a TXT the key wrote at a non-challenge name stays.
        assert!(stale(&tl, &[], &grants, NOW, DAY).is_empty());
        // A CNAME the key may not write (its grant was narrowed): kept.
        let narrowed = |w: &Writer, zone: &Name, owner: &Name, rtype| {
            rtype != RecordType::CNAME && grants(w, zone, owner, rtype)
        };
        assert!(stale(&tl, &[cn(key_w("lego-key"))], &narrowed, NOW, DAY).is_empty());
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
