//! The one loader of secrets: a `[[key]]`'s TSIG secret and a
//! `[[rest.token]]`'s bearer token.
//!
//! Both are given as exactly one of an inline value (`secret = "..."`,
//! `token = "..."`) and a file (`secret_file`, `token_file`). An inline
//! value `"$VAR"` is read from the environment variable `VAR`; the older
//! token form `"{env.VAR}"` is accepted as the same thing. A file is read
//! only if it is a regular file of at most [`MAX_SECRET_FILE`] bytes, and
//! one that group or others may read is a WARN.
//!
//! Messages name the config file (line), the key or token (`key[1].secret`,
//! `rest.token[2].token_file`) and, for files, the path: never the value.

use std::ops::Range;
use std::path::Path;

use toml::Spanned;

use super::{Checker, join_clean};

/// Largest secret or token file read.
pub(super) const MAX_SECRET_FILE: u64 = 64 * 1024;

/// Where `$ENV_VAR` secrets come from (the process environment, or a map in tests).
pub(super) type Env<'a> = &'a dyn Fn(&str) -> Option<String>;

/// What is loaded: the TOML field names and the hint for a value that is
/// not a string.
pub(super) struct Kind {
    /// The inline field, `secret` or `token`.
    pub inline: &'static str,
    /// The file field, `secret_file` or `token_file`.
    pub file: &'static str,
    /// What a string may be, for "must be a string (...)".
    pub forms: &'static str,
}

/// The raw fields of one secret, as read from the TOML.
pub(super) struct Raw<'a> {
    pub inline: Option<&'a Spanned<toml::Value>>,
    pub file: Option<&'a Spanned<String>>,
    /// The whole `[[key]]` or `[[rest.token]]` table, for "missing".
    pub table: Range<usize>,
}

/// A secret's text, untrimmed, and where it was given.
pub(super) struct Loaded {
    pub text: String,
    /// The span of the field it came from.
    pub at: Range<usize>,
    /// That field's name (`secret`, `token_file`...).
    pub field: &'static str,
}

/// Exactly one of the inline value and the file, read. `key` turns a field
/// name into the message's key (`key[1].secret`). Every problem is pushed
/// to `c` (a readable file is a warning), never quoting the value.
pub(super) fn load(
    c: &mut Checker<'_>,
    kind: &Kind,
    raw: Raw<'_>,
    key: &dyn Fn(&str) -> String,
    base: &Path,
    env: Env<'_>,
) -> Option<Loaded> {
    match (raw.inline, raw.file) {
        (Some(_), Some(f)) => {
            let msg = format!("give either {} or {}, not both", kind.inline, kind.file);
            c.push(f.span(), key(kind.file), msg);
            None
        }
        (None, None) => {
            let msg = format!("missing: give {} or {}", kind.inline, kind.file);
            c.push(raw.table, key(kind.inline), msg);
            None
        }
        (Some(s), None) => load_inline(c, kind, s, key, env),
        (None, Some(f)) => load_file(c, kind, f, key, base),
    }
}

/// `"VALUE"`, or `"$VAR"` / `"{env.VAR}"` read from the environment.
fn load_inline(
    c: &mut Checker<'_>,
    kind: &Kind,
    s: &Spanned<toml::Value>,
    key: &dyn Fn(&str) -> String,
    env: Env<'_>,
) -> Option<Loaded> {
    let Some(text) = s.get_ref().as_str() else {
        let msg = format!("must be a string ({})", kind.forms);
        c.push(s.span(), key(kind.inline), msg);
        return None;
    };
    let text = match env_var(text) {
        Some(var) => match env(var) {
            Some(v) => v,
            None => {
                let msg = format!("environment variable {var:?} is not set");
                c.push(s.span(), key(kind.inline), msg);
                return None;
            }
        },
        None => text.to_string(),
    };
    Some(Loaded {
        text,
        at: s.span(),
        field: kind.inline,
    })
}

/// The variable an inline value names: `$VAR`, or the older `{env.VAR}`.
fn env_var(text: &str) -> Option<&str> {
    text.strip_prefix('$')
        .or_else(|| text.strip_prefix("{env.")?.strip_suffix('}'))
}

/// The file's text, relative to the config's folder.
fn load_file(
    c: &mut Checker<'_>,
    kind: &Kind,
    f: &Spanned<String>,
    key: &dyn Fn(&str) -> String,
    base: &Path,
) -> Option<Loaded> {
    let path = join_clean(base, Path::new(f.get_ref()));
    match read_private_file(&path, MAX_SECRET_FILE) {
        Ok((text, mode)) => {
            if let Some(msg) = exposed(&path, mode) {
                c.warn(f.span(), key(kind.file), msg);
            }
            Some(Loaded {
                text,
                at: f.span(),
                field: kind.file,
            })
        }
        Err(e) => {
            let msg = format!("cannot read {}: {e}", path.display());
            c.push(f.span(), key(kind.file), msg);
            None
        }
    }
}

/// A secret or token file: its text and permission bits. Only a regular
/// file is read (a FIFO or a device would block or never end; the open
/// does not wait for a FIFO's writer), and at most `max` bytes of it.
fn read_private_file(path: &Path, max: u64) -> std::io::Result<(String, u32)> {
    use std::io::Read;
    use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
    let file = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NONBLOCK)
        .open(path)?;
    let meta = file.metadata()?;
    if !meta.is_file() {
        return Err(std::io::Error::other("not a regular file"));
    }
    let too_big = || std::io::Error::other(format!("larger than {max} bytes"));
    if meta.len() > max {
        return Err(too_big());
    }
    let mut text = String::new();
    file.take(max + 1).read_to_string(&mut text)?;
    if text.len() as u64 > max {
        return Err(too_big());
    }
    Ok((text, meta.permissions().mode()))
}

/// The warning for a secret file that group or others may read.
fn exposed(path: &Path, mode: u32) -> Option<String> {
    (mode & 0o044 != 0).then(|| {
        format!(
            "{} is readable by group or others (mode {:o}); chmod 600 it",
            path.display(),
            mode & 0o777
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn env_var_forms() {
        assert_eq!(env_var("$ZW_SECRET"), Some("ZW_SECRET"));
        assert_eq!(env_var("{env.ZW_SECRET}"), Some("ZW_SECRET"));
        assert_eq!(env_var("{env.ZW_SECRET"), None);
        assert_eq!(env_var("c2VjcmV0"), None);
    }

    #[test]
    fn a_file_over_the_limit_is_refused_unread() {
        let dir = tempfile::tempdir().expect("dir");
        let path = dir.path().join("big.key");
        std::fs::write(&path, "x".repeat(17)).expect("w");
        let e = read_private_file(&path, 16).expect_err("too big");
        assert_eq!(e.to_string(), "larger than 16 bytes");
        let (text, _) = read_private_file(&path, 17).expect("fits");
        assert_eq!(text.len(), 17);
    }

    #[test]
    fn only_group_or_other_read_bits_are_exposed() {
        let p = Path::new("/k");
        assert_eq!(exposed(p, 0o100600), None);
        assert_eq!(exposed(p, 0o100400), None);
        let w = exposed(p, 0o100640).expect("group");
        assert_eq!(
            w,
            "/k is readable by group or others (mode 640); chmod 600 it"
        );
        assert!(exposed(p, 0o100604).is_some());
    }
}
