//! PURE: the commit message that records one write in `git log`.
//!
//! ```text
//! example.com: +1 -0 TXT _acme-challenge.example.com, serial 2611220003
//!
//! + _acme-challenge.example.com. 60 IN TXT "token-1"
//!
//! Actor: acme-key
//! Client: 127.0.0.1:40522
//! Via: rfc2136
//! Serial: 2611220002 -> 2611220003
//! ```

use std::net::SocketAddr;

use crate::git::Message;
use crate::rdata;
use crate::rr::{ChangeSet, Name, Rr};

/// How many owner names the summary line lists before "and N more".
const SUMMARY_NAMES: usize = 3;

/// A name as commit messages give it: absolute, without the final dot
/// (the root stays `.`), escaped as zone files are (RFC 1035 decimal
/// `\DDD`, as [`rr_line`]; round 60: subjects printed hickory's octal).
pub fn plain(name: &Name) -> String {
    let s = rdata::name_to_text(name, None);
    match s.strip_suffix('.') {
        Some(t) if !t.is_empty() => t.to_owned(),
        _ => s,
    }
}

/// One RR in zone-file syntax, owner absolute: a line the zone-file parser
/// reads back as the same RR (the write log is replayed from these lines).
/// The owner goes through the one name printer (RFC 1035 §5.1: "\DDD where
/// each D is a digit is the octet corresponding to the decimal number"),
/// not hickory's `to_ascii`, which escapes in octal (`\012` for a line
/// feed, read back as 12) and turns UTF-8 labels into punycode (round 59:
/// a recovered write added a name nobody wrote, or was lost).
pub fn rr_line(rr: &Rr) -> String {
    format!(
        "{} {} IN {} {}",
        rdata::name_to_text(&rr.name, None),
        rr.ttl,
        rdata::type_to_text(rr.rtype),
        rdata::to_text(rr.rtype, &rr.rdata, None)
    )
}

fn distinct<T: Eq + std::hash::Hash + Clone>(items: impl Iterator<Item = T>) -> Vec<T> {
    // A set beside the list: a change of 200,000 names was quadratic here
    // (a 200k-record pull spent 25 s building its commit message).
    let mut seen = std::collections::HashSet::new();
    items.filter(|i| seen.insert(i.clone())).collect()
}

/// Who made a change, from where, through which writer.
#[derive(Clone, Debug)]
pub struct Provenance<'a> {
    pub actor: &'a str,
    /// Where the requests came from (several for a group commit).
    pub clients: Vec<SocketAddr>,
    /// How many requests this commit records (more than one for a group commit).
    pub requests: usize,
    pub via: &'a str,
}

/// The commit message for `changes` to `zone`, serial `old` -> `new`.
pub fn message(
    zone: &Name,
    changes: &ChangeSet,
    old: u32,
    new: u32,
    who: &Provenance<'_>,
) -> Message {
    let all = changes.add.iter().chain(&changes.remove);
    let types = distinct(all.clone().map(|r| rdata::type_to_text(r.rtype))).join(",");
    let names = distinct(all.map(|r| plain(&r.name)));
    let mut listed = names
        .iter()
        .take(SUMMARY_NAMES)
        .cloned()
        .collect::<Vec<_>>()
        .join(" ");
    if names.len() > SUMMARY_NAMES {
        listed.push_str(&format!(" and {} more", names.len() - SUMMARY_NAMES));
    }
    let summary = if who.via == crate::expire::VIA {
        // The sweep only removes; say why, since no person asked for it.
        format!(
            "{}: expire stale ACME challenges: -{} {} {}, serial {}",
            plain(zone),
            changes.remove.len(),
            types,
            listed,
            new
        )
    } else {
        format!(
            "{}: +{} -{} {} {}, serial {}",
            plain(zone),
            changes.add.len(),
            changes.remove.len(),
            types,
            listed,
            new
        )
    };
    Message {
        summary,
        added: changes.add.iter().map(rr_line).collect(),
        removed: changes.remove.iter().map(rr_line).collect(),
        trailers: trailers(who, old, new),
    }
}

/// The message for a file changed outside zonewright: committed as found
/// (`old == new`, `reapplied` empty), or with its serial raised from `old`
/// to `new` and the records of `writes` writes it lacked re-applied
/// (`reapplied`, listed as `+`/`-` lines; see `store::recent`).
pub fn external_message(
    zone: &Name,
    (old, new): (u32, u32),
    reapplied: &ChangeSet,
    writes: usize,
    who: &Provenance<'_>,
) -> Message {
    let serial = if old == new {
        new.to_string()
    } else {
        format!("{old} -> {new} (raised by zonewright)")
    };
    let mut summary = format!("{}: external change, serial {serial}", plain(zone));
    if !reapplied.is_empty() {
        summary.push_str(&format!(
            "; re-applied {writes} write{} the saved file lacked",
            if writes == 1 { "" } else { "s" }
        ));
    }
    let mut trailers = vec![
        ("Actor", who.actor.to_owned()),
        ("Via", who.via.to_owned()),
        ("Serial", serial),
    ];
    if !reapplied.is_empty() {
        trailers.push(("Reapplied", writes.to_string()));
    }
    Message {
        summary,
        added: reapplied.add.iter().map(rr_line).collect(),
        removed: reapplied.remove.iter().map(rr_line).collect(),
        trailers,
    }
}

/// The message of the server's commit that records again file versions
/// the branch lacks (see `git::OnTop`): `lost` holds each file (as in the
/// repository) and the commit that had recorded that version, whose
/// author `git show` gives while the commit is kept (the reflog keeps a
/// commit a reset dropped).
pub fn restored_message(lost: &[(String, String)], actor: &str) -> Message {
    let short = |c: &str| c.chars().take(12).collect::<String>();
    let summary = match lost {
        [(file, commit)] => format!(
            "{file}: external change: the branch lacked the version of commit {}, which the file holds; recorded again",
            short(commit)
        ),
        _ => format!(
            "external change: the branch lacked {} versions the files hold; recorded again",
            lost.len()
        ),
    };
    let mut trailers = vec![("Actor", actor.to_owned()), ("Via", "external".to_owned())];
    for (file, commit) in lost {
        trailers.push(("Restores", format!("{commit} {file}")));
    }
    Message {
        summary,
        added: Vec::new(),
        removed: Vec::new(),
        trailers,
    }
}

fn trailers(who: &Provenance<'_>, old: u32, new: u32) -> Vec<(&'static str, String)> {
    let mut t = vec![("Actor", who.actor.to_owned())];
    // A write of zonewright's own (the expiry sweep) has no client.
    for c in who.clients.iter().filter(|c| !c.ip().is_unspecified()) {
        t.push(("Client", c.to_string()));
    }
    if who.requests > 1 {
        t.push(("Requests", who.requests.to_string()));
    }
    t.push(("Via", who.via.to_owned()));
    t.push(("Serial", format!("{old} -> {new}")));
    t
}

/// The message of the commit recording `done` (what
/// [`crate::git::commit_paths`] found to record of `job`'s changes): one
/// zone's as `ZONE: external change: FILE deleted` (or `... is a symbolic
/// link to TARGET`); several zones' as a count and a line each.
pub fn paths_message(
    job: &super::committer::Paths,
    done: &[(usize, crate::git::PathDone)],
) -> String {
    let name = |i: usize| {
        job.changes.get(i).map_or_else(String::new, |(p, _)| {
            p.file_name().map_or_else(
                || p.display().to_string(),
                |n| n.to_string_lossy().into_owned(),
            )
        })
    };
    let zone = |i: usize| job.owners.get(i).map(plain).unwrap_or_default();
    let line = |(i, d): &(usize, crate::git::PathDone)| match d {
        crate::git::PathDone::Deleted => format!("deleted: {} (zone {})", name(*i), zone(*i)),
        crate::git::PathDone::Link(to) => {
            format!("symbolic link: {} -> {to} (zone {})", name(*i), zone(*i))
        }
    };
    let subject = match done {
        [(i, crate::git::PathDone::Deleted)] => {
            format!("{}: external change: {} deleted", zone(*i), name(*i))
        }
        [(i, crate::git::PathDone::Link(to))] => format!(
            "{}: external change: {} is a symbolic link to {to}",
            zone(*i),
            name(*i)
        ),
        _ => {
            let deleted = done
                .iter()
                .filter(|(_, d)| *d == crate::git::PathDone::Deleted)
                .count();
            format!(
                "{} zone files: external changes {} ({deleted} deleted, {} symbolic links)",
                done.len(),
                job.what,
                done.len() - deleted
            )
        }
    };
    let lines: Vec<String> = done.iter().map(line).collect();
    format!(
        "{subject}\n\n{}\n\nActor: {}\nVia: {}\n",
        lines.join("\n"),
        super::committer::EXTERNAL_ACTOR,
        super::committer::EXTERNAL
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rr::{Rdata, RecordType};

    fn txt(name: &str, v: &str) -> Rr {
        let mut w = vec![v.len() as u8];
        w.extend_from_slice(v.as_bytes());
        Rr {
            name: Name::from_ascii(name).expect("name"),
            ttl: 60,
            rtype: RecordType::TXT,
            rdata: Rdata::new(w),
        }
    }

    fn who() -> Provenance<'static> {
        Provenance {
            actor: "acme-key",
            clients: vec!["127.0.0.1:40522".parse().expect("addr")],
            requests: 1,
            via: "rfc2136",
        }
    }

    #[test]
    fn one_added_txt() {
        let changes = ChangeSet {
            add: vec![txt("_acme-challenge.example.com.", "token-1")],
            ..ChangeSet::default()
        };
        let zone = Name::from_ascii("example.com.").expect("zone");
        let m = message(&zone, &changes, 2611220002, 2611220003, &who());
        assert_eq!(
            m.to_string(),
            "example.com: +1 -0 TXT _acme-challenge.example.com, serial 2611220003\n\n\
             + _acme-challenge.example.com. 60 IN TXT \"token-1\"\n\n\
             Actor: acme-key\nClient: 127.0.0.1:40522\nVia: rfc2136\n\
             Serial: 2611220002 -> 2611220003\n"
        );
    }

    #[test]
    fn many_names_are_summarised() {
        let changes = ChangeSet {
            add: (0..5)
                .map(|i| txt(&format!("h{i}.example.com."), "x"))
                .collect(),
            remove: vec![txt("h0.example.com.", "y")],
            serial: None,
        };
        let zone = Name::from_ascii("example.com.").expect("zone");
        let m = message(&zone, &changes, 1, 2, &who());
        assert_eq!(
            m.summary,
            "example.com: +5 -1 TXT h0.example.com h1.example.com h2.example.com and 2 more, serial 2"
        );
        assert_eq!(
            m.removed,
            vec!["h0.example.com. 60 IN TXT \"y\"".to_owned()]
        );
    }
    #[test]
    fn the_expiry_sweep_says_why_and_has_no_client() {
        let changes = ChangeSet {
            remove: vec![
                txt("_acme-challenge.example.com.", "a"),
                txt("_acme-challenge.example.com.", "b"),
            ],
            ..ChangeSet::default()
        };
        let zone = Name::from_ascii("example.com.").expect("zone");
        let sweep = Provenance {
            actor: crate::expire::ACTOR,
            clients: vec!["0.0.0.0:0".parse().expect("addr")],
            requests: 1,
            via: crate::expire::VIA,
        };
        let m = message(&zone, &changes, 7, 8, &sweep);
        assert_eq!(
            m.to_string(),
            "example.com: expire stale ACME challenges: -2 TXT _acme-challenge.example.com, serial 8\n\n\
             - _acme-challenge.example.com. 60 IN TXT \"a\"\n\
             - _acme-challenge.example.com. 60 IN TXT \"b\"\n\n\
             Actor: acme-expiry\nVia: expiry\nSerial: 7 -> 8\n"
        );
    }

    /// The sweep reads back who wrote a line from these messages
    /// ([`crate::expire::Writer::of_commit`]): the two must agree.
    #[test]
    fn the_sweep_reads_the_writer_back() {
        use crate::expire::Writer;
        let changes = ChangeSet {
            add: vec![txt("_acme-challenge.example.com.", "Via: rest\nActor: x")],
            ..ChangeSet::default()
        };
        let zone = Name::from_ascii("example.com.").expect("zone");
        let text = |via| {
            let who = Provenance { via, ..who() };
            message(&zone, &changes, 1, 2, &who).to_string()
        };
        assert_eq!(
            Writer::of_commit("acme-key", &text("rfc2136")),
            Writer::Key("acme-key".into())
        );
        assert_eq!(
            Writer::of_commit("acme-key", &text("rest")),
            Writer::Token("acme-key".into())
        );
        assert_eq!(
            Writer::of_commit("acme-key", &text("expiry")),
            Writer::Other
        );
        let ext = external_message(
            &zone,
            (3, 3),
            &ChangeSet::default(),
            0,
            &Provenance {
                actor: "external change",
                via: "external",
                ..who()
            },
        );
        assert_eq!(
            Writer::of_commit("zonewright", &ext.to_string()),
            Writer::Other
        );
    }
}
