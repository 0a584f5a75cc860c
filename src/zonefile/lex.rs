//! The zone-file lexer: text -> entries (logical lines) of tokens with spans.
//!
//! RFC 1035 §5.1:
//!
//! > The format of these files is a sequence of entries.  Entries are
//! > predominantly line-oriented, though parentheses can be used to continue
//! > a list of items across a line boundary, and text literals can contain
//! > CRLF within the text.  Any combination of tabs and spaces act as a
//! > delimiter between the separate items that make up an entry.  The end of
//! > any line in the master file can end with a comment.  The comment starts
//! > with a ";" (semicolon).
//!
//! Every entry covers whole physical lines (its span runs from the start of
//! its first line to just after the newline of its last line), so the
//! document is exactly the concatenation of its entries' spans. Tokens keep
//! their escapes (`\X`, `\DDD`) as written; a quoted token's text excludes
//! the quotes. Deviation: a quoted string may not span lines (as in BIND);
//! an unterminated quote is an error at the opening quote.

/// One token: a word or a quoted string.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LexToken {
    /// Byte span of the token as written (including quotes).
    pub start: usize,
    pub end: usize,
    /// Byte span of the token's text (without quotes).
    pub text_start: usize,
    pub text_end: usize,
    pub quoted: bool,
    /// 1-based line and column (in characters) of the token's first byte.
    pub line: u32,
    pub col: u32,
}

/// A lexical error with its 1-based line and column.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LexError {
    pub line: u32,
    pub col: u32,
    pub message: String,
}

/// One logical line: whole physical lines joined by open parentheses.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LexEntry {
    /// Byte span: from the start of the first line to after the last newline
    /// (or the end of the text).
    pub start: usize,
    pub end: usize,
    pub first_line: u32,
    pub last_line: u32,
    pub tokens: Vec<LexToken>,
    /// Whether the entry has a `;` comment anywhere.
    pub has_comment: bool,
    /// Whether the entry's first byte is a space or tab (RFC 1035 §5.1:
    /// "If the line begins with a blank, then the owner is assumed to be the
    /// same as that of the previous RR").
    pub leading_blank: bool,
    /// Lexical errors inside this entry.
    pub errors: Vec<LexError>,
}

impl LexEntry {
    /// The token's text (without quotes) within `text`.
    pub fn text<'t>(&self, text: &'t str, i: usize) -> &'t str {
        match self.tokens.get(i) {
            Some(t) => text.get(t.text_start..t.text_end).unwrap_or(""),
            None => "",
        }
    }
}

fn is_delim(b: u8) -> bool {
    matches!(b, b' ' | b'\t' | b'\r' | b'\n' | b';' | b'(' | b')' | b'"')
}

/// Splits `text` into entries. Never panics; every byte of `text` belongs to
/// exactly one entry, in order.
pub fn lex(text: &str) -> Vec<LexEntry> {
    let mut lexer = Lexer {
        text,
        bytes: text.as_bytes(),
        pos: 0,
        line: 1,
        line_start: 0,
    };
    let mut entries = Vec::new();
    while lexer.pos < lexer.bytes.len() {
        entries.push(lexer.entry());
    }
    entries
}

/// Where the lexer is in the text.
struct Lexer<'t> {
    text: &'t str,
    bytes: &'t [u8],
    pos: usize,
    /// 1-based number of the current line.
    line: u32,
    /// Byte offset of the start of the current line.
    line_start: usize,
}

impl Lexer<'_> {
    /// 1-based column, in characters, of byte `at` of the current line.
    fn col(&self, at: usize) -> u32 {
        let chars = self
            .text
            .get(self.line_start..at)
            .map_or(0, |s| s.chars().count());
        u32::try_from(chars).unwrap_or(u32::MAX).saturating_add(1)
    }

    /// One entry from `pos`: up to and including the first newline outside
    /// parentheses (or the end of the text).
    fn entry(&mut self) -> LexEntry {
        let mut entry = LexEntry {
            start: self.pos,
            end: self.pos,
            first_line: self.line,
            last_line: self.line,
            tokens: Vec::new(),
            has_comment: false,
            leading_blank: matches!(self.bytes.get(self.pos), Some(b' ' | b'\t')),
            errors: Vec::new(),
        };
        // Open parentheses: (line, col) of each, for the error at EOF.
        let mut open: Vec<(u32, u32)> = Vec::new();
        while let Some(&b) = self.bytes.get(self.pos) {
            match b {
                b'\n' => {
                    self.pos += 1;
                    entry.last_line = self.line;
                    self.line = self.line.saturating_add(1);
                    self.line_start = self.pos;
                    if open.is_empty() {
                        break;
                    }
                }
                b' ' | b'\t' | b'\r' => self.pos += 1,
                b';' => {
                    entry.has_comment = true;
                    self.skip_comment();
                }
                b'(' => {
                    open.push((self.line, self.col(self.pos)));
                    self.pos += 1;
                }
                b')' => {
                    if open.pop().is_none() {
                        entry.errors.push(LexError {
                            line: self.line,
                            col: self.col(self.pos),
                            message: "unbalanced ')'".into(),
                        });
                    }
                    self.pos += 1;
                }
                b'"' => self.quoted(&mut entry),
                _ => entry.tokens.push(self.word()),
            }
            // A quoted string's escape may stop inside a multi-byte character.
            self.skip_to_char_boundary();
        }
        self.finish(&mut entry, open);
        entry
    }

    /// A `;` comment, up to the newline (not included).
    fn skip_comment(&mut self) {
        while self.pos < self.bytes.len() && self.bytes[self.pos] != b'\n' {
            self.pos += 1;
        }
    }

    /// A quoted string at `pos` (its opening quote), to the closing quote;
    /// an unterminated one is an error at the opening quote.
    fn quoted(&mut self, entry: &mut LexEntry) {
        let start = self.pos;
        let col = self.col(self.pos);
        self.pos += 1;
        let mut closed = false;
        while let Some(&c) = self.bytes.get(self.pos) {
            match c {
                b'"' => {
                    closed = true;
                    break;
                }
                b'\n' => break,
                b'\\' => self.skip_escape(),
                _ => self.pos += 1,
            }
        }
        // `pos` is at the closing quote, a newline or the end.
        let text_end = self.pos.min(self.bytes.len());
        if closed {
            self.pos += 1;
        } else {
            entry.errors.push(LexError {
                line: self.line,
                col,
                message: "unterminated quoted string (a quoted string cannot span lines)".into(),
            });
        }
        entry.tokens.push(LexToken {
            start,
            end: self.pos,
            text_start: start + 1,
            text_end,
            quoted: true,
            line: self.line,
            col,
        });
    }

    /// A word at `pos`, to the next delimiter.
    fn word(&mut self) -> LexToken {
        let start = self.pos;
        let col = self.col(self.pos);
        while let Some(&c) = self.bytes.get(self.pos) {
            if c == b'\\' {
                self.skip_escape();
            } else if is_delim(c) {
                break;
            } else {
                self.pos += 1;
            }
        }
        // Keep spans on character boundaries (escapes of multi-byte
        // characters end in the middle of one).
        self.skip_to_char_boundary();
        LexToken {
            start,
            end: self.pos,
            text_start: start,
            text_end: self.pos,
            quoted: false,
            line: self.line,
            col,
        }
    }

    /// A backslash at `pos` and the character it escapes, unless it ends
    /// the line.
    fn skip_escape(&mut self) {
        self.pos += 1;
        if self.bytes.get(self.pos).is_some_and(|&c| c != b'\n') {
            self.pos += 1;
        }
    }

    /// Moves `pos` forward to a character boundary.
    fn skip_to_char_boundary(&mut self) {
        while self.pos < self.bytes.len() && !self.text.is_char_boundary(self.pos) {
            self.pos += 1;
        }
    }

    /// The entry's end and last line, and an error for each parenthesis
    /// still open at the end of the text.
    fn finish(&self, entry: &mut LexEntry, open: Vec<(u32, u32)>) {
        let pos = self.pos;
        if pos >= self.bytes.len() {
            entry.last_line = self.line;
            if pos > entry.start && self.bytes[pos - 1] == b'\n' {
                entry.last_line = self.line.saturating_sub(1).max(entry.first_line);
            }
        }
        for (l, c) in open {
            entry.errors.push(LexError {
                line: l,
                col: c,
                message: "unbalanced '(': no matching ')' before the end of the file".into(),
            });
        }
        entry.end = pos.min(self.bytes.len());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn words(text: &str) -> Vec<Vec<(String, bool)>> {
        lex(text)
            .iter()
            .map(|e| {
                (0..e.tokens.len())
                    .map(|i| (e.text(text, i).to_string(), e.tokens[i].quoted))
                    .collect()
            })
            .collect()
    }

    #[test]
    fn entries_cover_the_text() {
        let text = "a A 1\n\n; c\n b ( x\n y ) ; z\nlast";
        let es = lex(text);
        assert_eq!(es.len(), 5);
        let mut at = 0;
        for e in &es {
            assert_eq!(e.start, at);
            at = e.end;
        }
        assert_eq!(at, text.len());
        assert_eq!((es[3].first_line, es[3].last_line), (4, 5));
        assert!(es[3].has_comment && es[3].leading_blank);
        assert_eq!((es[4].first_line, es[4].last_line), (6, 6));
    }

    #[test]
    fn quoted_strings_keep_escapes() {
        let text = "x TXT \"a \\\" b\" c\\ d \"\\065\"\n";
        let w = words(text);
        assert_eq!(
            w[0],
            vec![
                ("x".into(), false),
                ("TXT".into(), false),
                ("a \\\" b".into(), true),
                ("c\\ d".into(), false),
                ("\\065".into(), true),
            ]
        );
    }

    #[test]
    fn delimiters_and_comments() {
        let text = "a(b)c;d\ne";
        let w = words(text);
        assert_eq!(w[0].len(), 3);
        assert_eq!(w[1], vec![("e".into(), false)]);
        let es = lex(text);
        assert_eq!((es[0].tokens[2].line, es[0].tokens[2].col), (1, 5));
    }

    #[test]
    fn lex_errors_have_positions() {
        let es = lex("a \"open\nb )\n c (\n");
        assert_eq!(es[0].errors[0].line, 1);
        assert_eq!(es[0].errors[0].col, 3);
        assert!(es[0].errors[0].message.contains("unterminated"));
        assert_eq!((es[1].errors[0].line, es[1].errors[0].col), (2, 3));
        assert_eq!((es[2].errors[0].line, es[2].errors[0].col), (3, 4));
        assert!(es[2].errors[0].message.contains("unbalanced '('"));
    }

    #[test]
    fn columns_count_characters() {
        let es = lex("é x\n");
        assert_eq!(es[0].tokens[1].col, 3);
    }

    #[test]
    fn crlf_is_whitespace() {
        let text = "a A 1\r\nb A 2\r\n";
        let w = words(text);
        assert_eq!(w.len(), 2);
        assert_eq!(w[0].len(), 3);
    }
}
