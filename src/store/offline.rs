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
//! that records to git. A note whose serial is not the file's (the file
//! changed again before the server read it) is ignored and removed: the
//! commit is then an `external change` by the configured committer.

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
        write_note(&note, new, author)
            .map_err(|e| format!("cannot write {}: {e}", note.display()))?;
    }
    for (file, text) in &rendered.files {
        fsio::replace_atomically(Path::new(file), text)
            .map_err(|e| format!("cannot write {file}: {e}"))?;
    }
    Ok((old, new))
}

fn write_note(path: &Path, serial: u32, author: &str) -> std::io::Result<()> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)?;
    }
    let author: String = author.chars().filter(|c| !c.is_control()).collect();
    let mut tmp = tempfile::NamedTempFile::new_in(path.parent().unwrap_or(Path::new(".")))?;
    writeln!(tmp, "serial {serial}\nauthor {author}")?;
    tmp.as_file().sync_all()?;
    tmp.persist(path).map_err(|e| e.error)?;
    Ok(())
}

/// The person `zonewright edit` noted for `zone` at `serial`, if any (the
/// note is removed either way once the file's serial has been read).
pub fn person_for(zones_dir: &Path, zone: &Name, serial: u32) -> Option<String> {
    let path = note_file(zones_dir, zone)?;
    let text = std::fs::read_to_string(&path).ok()?;
    let _ = std::fs::remove_file(&path);
    let mut noted = None;
    let mut author = None;
    for line in text.lines() {
        match line.split_once(' ') {
            Some(("serial", s)) => noted = s.trim().parse::<u32>().ok(),
            Some(("author", a)) => author = Some(a.trim().to_string()),
            _ => {}
        }
    }
    let author = author.filter(|a| !a.is_empty() && !a.contains(['<', '>']))?;
    (noted == Some(serial)).then_some(author)
}
