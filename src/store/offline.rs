//! The write of `zonewright edit`, made from its own process: a person's
//! change applied to the zone file as it is now, and a note that names
//! the person for the commit the server makes.
//!
//! # Design
//!
//! ```text
//!  zonewright edit ZONE: the person edits a copy (no lock held, so the
//!  server goes on taking UPDATEs for the minutes that takes), then
//!  apply(their record changes):
//!    flock .<file>.lock             (the server's writes take it too)
//!    read the zone file as it is now (with every write made meanwhile)
//!    Document::apply(changes, next serial)  (minimal diff)
//!    note <git dir>/zonewright/edits/<zone>: serial, author   (fsynced)
//!    write the file atomically      (temp, fsync, rename, dir fsync)
//!  the server finds the file changed (reloader or next write) and takes
//!  it in like any edit (store::recent finds nothing missing: it was
//!  applied on the current file); the commit is authored by the person the
//!  note names, `Via: edit` (person_for). Not running: its start-up
//!  commits it the same way.
//! ```
//!
//! The process never commits: the server's committer is the one place
//! that records to git. A note whose serial and SHA-256 are not the
//! file's (the file changed again before the server read it: someone
//! else's edit is in it) is ignored and removed: the commit is then an
//! `external change` by the configured committer. A second edit while the
//! first's note waits (server stopped) is refused, so neither takes the
//! other's credit.

use std::io::Write;
use std::path::{Path, PathBuf};

use crate::config::Config;
use crate::loader::{self, FileRules, ZoneSource};
use crate::rr::{ChangeSet, Name};

use super::fsio;

/// The `Via:` of a commit made for `zonewright edit`.
pub use super::committer::EDIT as VIA;

/// The folder of the notes, in the repository's git directory (never in
/// the work tree, where `git add -A` would commit it).
fn notes_dir(zones_dir: &Path) -> Option<PathBuf> {
    let repo = git2::Repository::discover(zones_dir).ok()?;
    Some(repo.path().join("zonewright").join("edits"))
}

fn note_file(zones_dir: &Path, zone: &Name) -> Option<PathBuf> {
    let name = zone.to_ascii().to_lowercase();
    let name = name.trim_end_matches('.');
    // A zone name has no '/': it cannot leave the folder.
    (!name.is_empty() && !name.contains('/') && !name.starts_with('.'))
        .then(|| notes_dir(zones_dir).map(|d| d.join(name)))
        .flatten()
}

/// Applies `changes` (records only) to `zone`'s file as it is now, with
/// the next serial of `[serial] policy`, under the zone's file lock, and
/// notes `author` for the commit. Returns the serials (old, new).
pub fn apply(
    config: &Config,
    source: &ZoneSource,
    mut changes: ChangeSet,
    author: &str,
) -> Result<(u32, u32), String> {
    let _lock = fsio::ZoneFileLock::acquire(&source.path)
        .map_err(|e| format!("cannot lock {}: {e}", source.path.display()))?;
    // Changes in the file not committed yet (someone's edit the server has
    // not taken in, or made while it is stopped) would be committed as
    // this person's: they must be the server's to record first.
    if let Ok(repo) = git2::Repository::discover(&config.zones_dir)
        && crate::git::is_dirty(&repo, &source.path).unwrap_or(false)
    {
        return Err(format!(
            "{} has changes not committed yet (an edit the server has not taken in, or made \
             while it is stopped): start the server, or wait a moment for it, then edit again",
            source.path.display()
        ));
    }
    let rules = FileRules::new(config);
    let current = loader::load_zone(source, &rules).map_err(|f| {
        let first = f
            .problems
            .first()
            .map(ToString::to_string)
            .unwrap_or_default();
        format!("the zone file on disk has errors now: {first}")
    })?;
    let old = current.zone.serial();
    let new = config.serial_policy.next(old, chrono::Utc::now());
    changes.serial = Some(new);
    let (_, rendered) = current
        .document
        .get()?
        .apply(&changes)
        .map_err(|e| format!("your change no longer applies: {}", e.message))?;
    let location = crate::rr::Location {
        file: "(your edit)".into(),
        line: 0,
        col: 0,
    };
    current
        .zone
        .with_changes(&changes, &location)
        .map_err(|errs| {
            let msgs: Vec<String> = errs.iter().map(|e| e.message.clone()).collect();
            format!(
                "your change and the writes made meanwhile do not make a valid zone: {}",
                msgs.join("; ")
            )
        })?;
    for (file, _) in &rendered.files {
        if loader::in_repository(&config.zones_dir, Path::new(file)).is_none() {
            return Err(format!(
                "the change would edit {file}, outside zones_dir {}: git could not record it",
                config.zones_dir.display()
            ));
        }
    }
    if let Some(note) = note_file(&config.zones_dir, &source.origin) {
        // A note the server has not taken yet names the last edit, which
        // is still in the file uncommitted: this edit would take its
        // credit (or it ours). The server takes it within a second when
        // running; stopped, it must run first.
        if let Some((serial, by, _)) = read_note(&note)
            && serial == old
        {
            return Err(format!(
                "an earlier `zonewright edit` of {} (by {by}, serial {serial}) is not committed \
                 yet: start the server (or wait a moment for it to take the file in), then edit \
                 again",
                source.origin
            ));
        }
        let main = rendered.files.first().map_or("", |(_, t)| t.as_str());
        write_note(&note, new, author, &digest(main))
            .map_err(|e| format!("cannot write {}: {e}", note.display()))?;
    }
    for (file, text) in &rendered.files {
        fsio::replace_atomically(Path::new(file), text)
            .map_err(|e| format!("cannot write {file}: {e}"))?;
    }
    Ok((old, new))
}

/// The SHA-256 of the zone file's text as the edit wrote it, in hex.
fn digest(text: &str) -> String {
    use sha2::Digest;
    sha2::Sha256::digest(text.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

fn write_note(path: &Path, serial: u32, author: &str, digest: &str) -> std::io::Result<()> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)?;
    }
    let author: String = author.chars().filter(|c| !c.is_control()).collect();
    let mut tmp = tempfile::NamedTempFile::new_in(path.parent().unwrap_or(Path::new(".")))?;
    writeln!(tmp, "serial {serial}\nauthor {author}\nsha256 {digest}")?;
    tmp.as_file().sync_all()?;
    tmp.persist(path).map_err(|e| e.error)?;
    Ok(())
}

/// A note's serial, author and digest.
fn read_note(path: &Path) -> Option<(u32, String, String)> {
    let text = std::fs::read_to_string(path).ok()?;
    let (mut serial, mut author, mut digest) = (None, None, None);
    for line in text.lines() {
        match line.split_once(' ') {
            Some(("serial", s)) => serial = s.trim().parse::<u32>().ok(),
            Some(("author", a)) => author = Some(a.trim().to_string()),
            Some(("sha256", d)) => digest = Some(d.trim().to_string()),
            _ => {}
        }
    }
    Some((serial?, author?, digest?))
}

/// The person `zonewright edit` noted for `zone`, if the file as found
/// (`text`, its main file) is exactly what that edit wrote, at `serial`
/// (anything changed since, by a person or a script, is not theirs: the
/// commit is then the committer's). The note is removed either way.
pub fn person_for(zones_dir: &Path, zone: &Name, serial: u32, text: &str) -> Option<String> {
    let path = note_file(zones_dir, zone)?;
    let noted = read_note(&path);
    let _ = std::fs::remove_file(&path);
    let (noted_serial, author, noted_digest) = noted?;
    let valid = !author.is_empty() && !author.contains(['<', '>']);
    (valid && noted_serial == serial && noted_digest == digest(text)).then_some(author)
}
