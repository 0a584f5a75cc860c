//! Test fixture tables (test builds only): files under `tests/fixtures/`
//! with one case per line, fields separated by `|`, read with
//! `include_str!` so the unit tests run from any directory.
//!
//! Blank lines and lines starting with `#` are skipped. Fields are trimmed
//! of surrounding whitespace, so a field cannot contain `|` or start or end
//! with whitespace; presentation text can write `|` as the escape `\124`.

use std::fmt;

/// One case: where it is written and its fields.
pub struct Case<'a> {
    pub file: &'static str,
    pub line: usize,
    pub fields: Vec<&'a str>,
}

impl Case<'_> {
    /// Field `i` (the caller checked the count).
    pub fn field(&self, i: usize) -> &str {
        self.fields[i]
    }
}

impl fmt::Display for Case<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "tests/fixtures/{}:{}", self.file, self.line)
    }
}

/// The cases in `text` (the contents of `tests/fixtures/<file>`), each with
/// `fields` fields; panics naming the line on a malformed one, and if the
/// file holds no case at all.
pub fn cases(file: &'static str, text: &'static str, fields: usize) -> Vec<Case<'static>> {
    let cases: Vec<Case<'static>> = text
        .lines()
        .enumerate()
        .filter(|(_, l)| !l.trim().is_empty() && !l.trim_start().starts_with('#'))
        .map(|(i, l)| {
            let case = Case {
                file,
                line: i + 1,
                fields: l.split('|').map(str::trim).collect(),
            };
            assert_eq!(
                case.fields.len(),
                fields,
                "{case}: expected {fields} fields separated by '|': {l:?}"
            );
            case
        })
        .collect();
    assert!(!cases.is_empty(), "tests/fixtures/{file}: no cases");
    cases
}

/// Zone-file text written on one line: `\n` is a line break and `\t` a tab;
/// every other backslash is kept as written. A backslash before `n` or `t`
/// is always read so: write a zone-file escape of the letter `n` or `t`, or
/// a backslash before one, as `\110`, `\116` or `\092`.
pub fn unescape_lines(s: &str) -> String {
    s.replace("\\n", "\n").replace("\\t", "\t")
}
