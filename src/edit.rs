//! `zonewright edit ZONE`: edit a zone by hand while the server keeps
//! taking dynamic writes, like `visudo` or `crontab -e`.
//!
//! # Design
//!
//! ```text
//!  read the zone file (valid) ─► copy in a private temp file
//!  $VISUAL / $EDITOR on the copy   (no lock held: UPDATEs go on)
//!  saved unchanged? ─► "no changes", nothing written
//!  parse + validate the copy ─► errors: file:line:col, "edit again? [Y/n]"
//!  the person's change = record diff (copy as read -> copy as saved)
//!  store::offline::apply: under the zone's file lock, on the file as it
//!    is NOW (with the writes made meanwhile), minimal diff, next serial,
//!    a note naming the author ─► the server commits it as theirs, Via: edit
//! ```
//!
//! Only records are taken from the copy: comments and layout the person
//! changed in the copy are not carried over (the change is applied to the
//! current file by the store's editor, which keeps the file's own text),
//! and the SOA's timers are edited in the file itself. The process never
//! commits to git: the server does (see [`crate::store::offline`]).

use std::io::{BufRead, IsTerminal, Write};
use std::path::Path;
use std::process::Command;

use anyhow::{Context, bail};

use crate::config::Config;
use crate::loader::{self, FileRules};
use crate::rr::{ChangeSet, Name, RecordType};
use crate::zone::Zone;
use crate::zonefile::Document;

/// At most this many rounds of "edit again" before giving up.
const MAX_ROUNDS: usize = 20;

/// What `run` did.
#[derive(Debug, PartialEq, Eq)]
pub enum Outcome {
    /// The copy was saved unchanged (or with no record changed).
    Unchanged,
    /// The change was written: serials (old, new) and counts (added, removed).
    Written {
        serials: (u32, u32),
        added: usize,
        removed: usize,
    },
}

/// Edits `zone` of `config` with `editor` (a shell command; the copy's
/// path is appended), as `author`. Asks on stdin whether to edit again
/// after errors (not a terminal: no).
pub fn run(config: &Config, zone: &str, editor: &str, author: &str) -> anyhow::Result<Outcome> {
    check_author(config, author)?;
    let origin = Name::from_ascii(format!("{}.", zone.trim_end_matches('.')))
        .map_err(|e| anyhow::anyhow!("{zone:?} is not a zone name: {e}"))?;
    let sources = loader::sources(config).map_err(|p| anyhow::anyhow!("{p}"))?;
    let Some(source) = sources.zones.get(&origin) else {
        bail!(
            "zone {origin} is not served by {} (zones_dir {})",
            config.path.display(),
            config.zones_dir.display()
        );
    };
    let rules = FileRules::new(config);
    let before = loader::load_zone(source, &rules).map_err(|f| {
        let problems: Vec<String> = f.problems.iter().map(ToString::to_string).collect();
        anyhow::anyhow!(
            "the zone file has errors; fix them in the file first:\n{}",
            problems.join("\n")
        )
    })?;
    let file_name = source.path.display().to_string();
    let text = before.document.main_text().to_owned();
    let copy = tempfile::Builder::new()
        .prefix("zonewright-edit-")
        .suffix(".zone")
        .tempfile()
        .context("cannot make the temp copy")?;
    std::fs::write(copy.path(), &text).context("cannot write the temp copy")?;
    let includes = loader::FsIncludes::new(&rules);
    let mut after = None;
    for _ in 0..MAX_ROUNDS {
        open_editor(editor, copy.path())?;
        let saved = std::fs::read_to_string(copy.path()).context("cannot read the copy back")?;
        if saved == text {
            return Ok(Outcome::Unchanged);
        }
        match parse(&file_name, &saved, &origin, &includes) {
            Ok((z, warnings)) => {
                // As the server logs them when it loads the file (an
                // RRset's TTLs made equal, say): the person sees what the
                // file will be read as before it is written.
                if !warnings.is_empty() {
                    eprintln!(
                        "your edit is taken, with warnings (line numbers are those of your \
                         copy, {}):",
                        copy.path().display()
                    );
                    for w in &warnings {
                        eprintln!("  warning: {w}");
                    }
                }
                after = Some(z);
                break;
            }
            Err(errors) => {
                eprintln!(
                    "your edit has errors (line numbers are those of your copy, {}):",
                    copy.path().display()
                );
                for e in &errors {
                    eprintln!("  {e}");
                }
                if !ask("edit again? [Y/n] ") {
                    bail!("nothing changed");
                }
            }
        }
    }
    let Some(after) = after else {
        bail!("gave up after {MAX_ROUNDS} rounds; nothing changed");
    };
    let changes = record_changes(&before.zone, &after);
    if changes.add.is_empty() && changes.remove.is_empty() {
        if before.zone.soa().rdata != after.soa().rdata {
            eprintln!(
                "the SOA is the server's (its serial comes from [serial] policy); to change its \
                 timers or names, edit the zone file itself"
            );
        }
        return Ok(Outcome::Unchanged);
    }
    let (added, removed) = (changes.add.len(), changes.remove.len());
    let serials = crate::store::offline::apply(config, source, changes, author)
        .map_err(|e| anyhow::anyhow!("{e}; nothing changed"))?;
    Ok(Outcome::Written {
        serials,
        added,
        removed,
    })
}

/// The author must be a person's name git can carry, and not the name
/// of a key or REST token (whose commits the ACME sweep and the audit
/// read as the key's).
fn check_author(config: &Config, author: &str) -> anyhow::Result<()> {
    let a = author.trim();
    if a.is_empty() || a.contains(['<', '>']) || a.chars().any(char::is_control) {
        bail!("--author {author:?}: a name without '<', '>' or control characters");
    }
    let plain = |n: &str| n.trim_end_matches('.').to_ascii_lowercase();
    let keys = config.keys.iter().map(|k| plain(&k.key.name.to_ascii()));
    let tokens = config
        .rest
        .iter()
        .flat_map(|r| r.tokens.iter().map(|t| plain(&t.name)));
    // And the names zonewright commits under itself.
    let own = [plain(&config.git.name), plain(crate::expire::ACTOR)];
    if keys.chain(tokens).chain(own).any(|k| k == plain(a)) {
        bail!(
            "--author {author:?} is the name of a key, a REST token or zonewright itself; \
             commits under it would read as that writer's: give a person's name"
        );
    }
    Ok(())
}

/// Runs `editor` (through `sh -c`, so `code -w` or `vim -n` work) on `path`.
fn open_editor(editor: &str, path: &Path) -> anyhow::Result<()> {
    let status = Command::new("sh")
        .arg("-c")
        .arg(format!("{editor} \"$1\""))
        .arg("sh")
        .arg(path)
        .status()
        .with_context(|| format!("cannot run the editor {editor:?}"))?;
    if !status.success() {
        bail!("the editor {editor:?} exited with {status}; nothing changed");
    }
    Ok(())
}

/// The copy parsed and validated as the zone file it is a copy of, with
/// its warnings.
fn parse(
    file_name: &str,
    text: &str,
    origin: &Name,
    includes: &loader::FsIncludes,
) -> Result<(Zone, Vec<String>), Vec<String>> {
    let strings = |errs: Vec<crate::zonefile::ZoneError>| {
        errs.iter().map(ToString::to_string).collect::<Vec<_>>()
    };
    let document = Document::parse(file_name, text, origin, includes).map_err(strings)?;
    let records = document
        .records()
        .map(|(rr, loc)| (rr.clone(), loc.clone()))
        .collect();
    Zone::build(origin.clone(), records)
        .map(|(zone, warnings)| (zone, strings(warnings)))
        .map_err(strings)
}

/// The records the person removed and added (the SOA left to the server:
/// its serial comes from `[serial] policy`).
fn record_changes(before: &Zone, after: &Zone) -> ChangeSet {
    let records = |z: &Zone| {
        z.records()
            .filter(|r| r.rtype != RecordType::SOA)
            .cloned()
            .collect::<Vec<_>>()
    };
    let diff = crate::ixfr::diff(&records(before), &records(after));
    ChangeSet {
        remove: diff.deleted,
        add: diff.added,
        serial: None,
    }
}

/// Asks `question` on stderr; true unless the answer starts with n (or
/// stdin is no terminal, or closed).
fn ask(question: &str) -> bool {
    let stdin = std::io::stdin();
    if !stdin.is_terminal() {
        return false;
    }
    eprint!("{question}");
    let _ = std::io::stderr().flush();
    let mut line = String::new();
    match stdin.lock().read_line(&mut line) {
        Ok(0) | Err(_) => false,
        Ok(_) => !line.trim_start().to_ascii_lowercase().starts_with('n'),
    }
}
