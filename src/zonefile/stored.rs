//! A document as a served zone keeps it: whole, or, for a small zone,
//! only its text, parsed again whenever a writer needs the document.
//!
//! The parsed document (every entry, record and span, for minimal-diff
//! edits) takes about 12 times the file's size in memory. A server with
//! thousands of small zones writes to few of them at a time, so keeping
//! every document parsed cost most of its memory (5,000 zones of 24
//! records: ~40 MB of 128). A small zone ([`SMALL`] records or fewer)
//! keeps its files' texts instead, and [`Stored::get`] parses them again
//! (tens of microseconds for such a zone): the same bytes, so the same
//! document. A large zone keeps its document, whose parse would cost a
//! write far more than the memory saves.

use std::sync::Arc;

use super::parse::EntryKind;
use super::{Document, IncludeLoader, ZoneError};
use crate::rr::Name;

/// Zones of at most this many records keep only their text.
pub const SMALL: usize = 1000;

/// A served zone's document.
#[derive(Clone, Debug)]
pub struct Stored(Kept);

#[derive(Clone, Debug)]
enum Kept {
    Parsed(Arc<Document>),
    Text(Arc<Texts>),
}

/// What parses back into the document: its origin, the main file, and
/// each included file under the path its `$INCLUDE` wrote.
#[derive(Debug)]
struct Texts {
    origin: Name,
    main: (Arc<str>, Arc<String>),
    includes: Vec<Included>,
}

#[derive(Debug)]
struct Included {
    /// The file that includes it, and the path as its `$INCLUDE` wrote it.
    from: Arc<str>,
    path: Box<str>,
    name: String,
    text: Arc<String>,
}

impl IncludeLoader for Texts {
    fn load(&self, from: &str, path: &str) -> Result<(String, String), String> {
        self.includes
            .iter()
            .find(|i| &*i.from == from && &*i.path == path)
            .map(|i| (i.name.clone(), (*i.text).clone()))
            .ok_or_else(|| format!("$INCLUDE {path}: not read with the zone"))
    }
}

impl Stored {
    /// `document` as a served zone keeps it: a small one as its text.
    pub fn keep(document: Arc<Document>) -> Stored {
        if document.records.len() > SMALL {
            return Stored(Kept::Parsed(document));
        }
        let files = document.files();
        let Some(main) = files.first() else {
            return Stored(Kept::Parsed(document));
        };
        let mut includes = Vec::new();
        for f in files {
            for e in f.entries.iter() {
                if let EntryKind::Include { path, file, .. } = &e.kind
                    && let Some(inc) = files.get(*file)
                {
                    includes.push(Included {
                        from: f.name.clone(),
                        path: path.clone(),
                        name: inc.name.to_string(),
                        text: inc.text.clone(),
                    });
                }
            }
        }
        Stored(Kept::Text(Arc::new(Texts {
            origin: document.origin().clone(),
            main: (main.name.clone(), main.text.clone()),
            includes,
        })))
    }

    /// The document, parsed again from its text when kept as text (not
    /// cached: the zone stays small in memory). An error cannot happen
    /// for text that parsed before, but is reported rather than assumed.
    pub fn get(&self) -> Result<Arc<Document>, String> {
        match &self.0 {
            Kept::Parsed(d) => Ok(d.clone()),
            Kept::Text(t) => Document::parse(&t.main.0, &t.main.1, &t.origin, &**t)
                .map(Arc::new)
                .map_err(|errs: Vec<ZoneError>| {
                    let first = errs.first().map(ToString::to_string).unwrap_or_default();
                    format!(
                        "{}: the zone's kept text no longer parses ({first})",
                        t.main.0
                    )
                }),
        }
    }

    /// This document kept as a served zone keeps it (see [`Stored::keep`]).
    pub fn lighten(self) -> Stored {
        match self.0 {
            Kept::Parsed(d) => Stored::keep(d),
            text => Stored(text),
        }
    }

    /// Each file's name and text, the main file first (each once), without
    /// parsing.
    pub fn texts(&self) -> Vec<(&str, &str)> {
        self.files()
            .into_iter()
            .map(|(n, t)| (n, t.as_str()))
            .collect()
    }

    /// [`Stored::texts`], each text shared rather than copied (a commit
    /// of it, the versions the committer keeps).
    pub fn shared_texts(&self) -> Vec<(&str, Arc<String>)> {
        self.files()
            .into_iter()
            .map(|(n, t)| (n, t.clone()))
            .collect()
    }

    fn files(&self) -> Vec<(&str, &Arc<String>)> {
        match &self.0 {
            Kept::Parsed(d) => d
                .files()
                .iter()
                .map(|f| (f.name.as_ref(), &f.text))
                .collect(),
            Kept::Text(t) => {
                let mut out = vec![(t.main.0.as_ref(), &t.main.1)];
                for i in &t.includes {
                    if !out.iter().any(|(n, _)| *n == i.name) {
                        out.push((i.name.as_str(), &i.text));
                    }
                }
                out
            }
        }
    }

    /// The main file's text, without parsing.
    pub fn main_text(&self) -> &str {
        match &self.0 {
            Kept::Parsed(d) => d.files().first().map_or("", |f| f.text.as_str()),
            Kept::Text(t) => &t.main.1,
        }
    }
}

impl From<Arc<Document>> for Stored {
    /// Kept parsed (a document just read or written, handed on whole).
    fn from(document: Arc<Document>) -> Stored {
        Stored(Kept::Parsed(document))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Inc;
    impl IncludeLoader for Inc {
        fn load(&self, _from: &str, path: &str) -> Result<(String, String), String> {
            match path {
                "hosts.inc" => Ok((
                    "/z/hosts.inc".into(),
                    "h1 IN A 192.0.2.1\nh2 IN A 192.0.2.2\n".into(),
                )),
                _ => Err(format!("no {path}")),
            }
        }
    }

    /// A small zone kept as text parses back into the same document,
    /// includes and all; a large one stays parsed.
    #[test]
    fn a_small_zone_kept_as_text_parses_back_the_same() {
        let origin = Name::from_ascii("example.com.").expect("origin");
        let text = "$ORIGIN example.com.\n$TTL 300\n@ IN SOA ns1 hostmaster 1 2 3 4 5\n\
                    ; a comment kept\n  IN NS ns1\n$INCLUDE hosts.inc\nns1 IN A 192.0.2.53\n";
        let doc =
            Arc::new(Document::parse("/z/example.com.zone", text, &origin, &Inc).expect("parse"));
        let kept = Stored::keep(doc.clone());
        assert!(matches!(kept.0, Kept::Text(_)));
        assert_eq!(kept.main_text(), text);
        assert_eq!(*kept.get().expect("parses back"), *doc);
        let mut big = String::from(
            "$ORIGIN big.test.\n$TTL 60\n@ IN SOA ns1 hostmaster 1 2 3 4 5\n@ IN NS ns1\n",
        );
        for i in 0..=SMALL {
            big.push_str(&format!("h{i} 60 IN A 192.0.2.1\n"));
        }
        let big_origin = Name::from_ascii("big.test.").expect("origin");
        let doc =
            Arc::new(Document::parse("/z/big.test.zone", &big, &big_origin, &Inc).expect("parse"));
        let kept = Stored::keep(doc.clone());
        assert!(matches!(kept.0, Kept::Parsed(_)));
        assert!(Arc::ptr_eq(&kept.get().expect("doc"), &doc));
    }
}
