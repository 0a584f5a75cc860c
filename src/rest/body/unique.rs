//! JSON read into a [`serde_json::Value`] with every object's keys checked
//! for duplicates (PURE).
//!
//! RFC 8259 §4: "The names within an object SHOULD be unique", and when
//! they are not "the behavior of software that receives such an object is
//! unpredictable": serde_json keeps the last, another parser the first.
//! A body whose `zone` is given twice could pass the check with one value
//! and be read with the other, and `{"records":[],"records":[...]}` would
//! say two things at once. So a duplicate key is refused, naming the key
//! and where it is. serde_json still does the parsing (and its depth
//! limit); only the building of objects is ours.

use std::collections::HashSet;
use std::fmt;

use serde::de::{self, DeserializeSeed, Deserializer, MapAccess, SeqAccess, Visitor};
use serde_json::{Map, Number, Value};

/// `text` as a JSON value; a duplicate key anywhere is a data error
/// (`serde_json::Error::is_data`) saying which key and where.
pub fn from_slice(text: &[u8]) -> serde_json::Result<Value> {
    let mut de = serde_json::Deserializer::from_slice(text);
    let value = Seed(&Path::Root).deserialize(&mut de)?;
    de.end()?;
    Ok(value)
}

/// Where a value is, rendered only for a message: `services.valkey`,
/// `services.valkey.records[1]`.
enum Path<'a> {
    Root,
    Key(&'a Path<'a>, &'a str),
    Index(&'a Path<'a>, usize),
}

impl fmt::Display for Path<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Path::Root => f.write_str("the body"),
            Path::Key(Path::Root, k) => f.write_str(&super::quoted(k)),
            Path::Key(up, k) => write!(f, "{up}.{}", super::quoted(k)),
            Path::Index(up, i) => write!(f, "{up}[{i}]"),
        }
    }
}

/// Reads the value at a path.
struct Seed<'a>(&'a Path<'a>);

impl<'de> DeserializeSeed<'de> for Seed<'_> {
    type Value = Value;

    fn deserialize<D: Deserializer<'de>>(self, de: D) -> Result<Value, D::Error> {
        de.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for Seed<'_> {
    type Value = Value;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any JSON value")
    }

    fn visit_bool<E>(self, b: bool) -> Result<Value, E> {
        Ok(Value::Bool(b))
    }

    fn visit_i64<E>(self, n: i64) -> Result<Value, E> {
        Ok(Value::Number(n.into()))
    }

    fn visit_u64<E>(self, n: u64) -> Result<Value, E> {
        Ok(Value::Number(n.into()))
    }

    fn visit_f64<E>(self, n: f64) -> Result<Value, E> {
        // As serde_json's own Value does (JSON has no NaN or infinity).
        Ok(Number::from_f64(n).map_or(Value::Null, Value::Number))
    }

    fn visit_str<E>(self, s: &str) -> Result<Value, E> {
        Ok(Value::String(s.to_owned()))
    }

    fn visit_string<E>(self, s: String) -> Result<Value, E> {
        Ok(Value::String(s))
    }

    fn visit_unit<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }

    fn visit_none<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Value, A::Error> {
        let mut out = Vec::with_capacity(seq.size_hint().unwrap_or(0).min(4096));
        loop {
            let at = Path::Index(self.0, out.len());
            match seq.next_element_seed(Seed(&at))? {
                Some(v) => out.push(v),
                None => return Ok(Value::Array(out)),
            }
        }
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Value, A::Error> {
        let mut out = Map::new();
        let mut seen: HashSet<String> = HashSet::new();
        while let Some(key) = map.next_key::<String>()? {
            if !seen.insert(key.clone()) {
                return Err(de::Error::custom(format!(
                    "duplicate key {:?} in {} (give each key once)",
                    super::quoted(&key),
                    self.0
                )));
            }
            let at = Path::Key(self.0, &key);
            let value = map.next_value_seed(Seed(&at))?;
            out.insert(key, value);
        }
        Ok(Value::Object(out))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dup(text: &str) -> String {
        match from_slice(text.as_bytes()) {
            Err(e) if e.is_data() => e.to_string(),
            other => panic!("{text}: a duplicate-key error expected, got {other:?}"),
        }
    }

    #[test]
    fn the_same_values_as_serde_json() {
        for text in [
            r#"{"a":1,"b":[true,null,-2,1.5,"x\u00e9"],"c":{"a":{}},"d":[]}"#,
            r#"[{"a":1},{"a":2}]"#,
            "18446744073709551615",
            "-9223372036854775808",
            r#""\ud83d\ude00""#,
            " null ",
        ] {
            let ours = from_slice(text.as_bytes()).expect(text);
            let theirs: Value = serde_json::from_str(text).expect(text);
            assert_eq!(ours, theirs, "{text}");
        }
    }

    #[test]
    fn a_duplicate_key_is_named_with_where_it_is() {
        let m = dup(r#"{"zone":"example.com","zone":"service.local"}"#);
        assert!(
            m.starts_with("duplicate key \"zone\" in the body (give each key once) at line 1"),
            "{m}"
        );
        let m = dup(r#"{"services":{"valkey":{"records":[],"records":["10.0.0.1"]}}}"#);
        assert!(
            m.starts_with("duplicate key \"records\" in services.valkey "),
            "{m}"
        );
        let m = dup(r#"{"services":{"a":{},"a":{}}}"#);
        assert!(m.starts_with("duplicate key \"a\" in services "), "{m}");
        let m = dup(r#"[{"x":1},{"y":[{"k":1,"k":1}]}]"#);
        assert!(
            m.starts_with("duplicate key \"k\" in the body[1].y[0] "),
            "{m}"
        );
        // Keys differing only in case or escaping: the same key once decoded.
        let m = dup(r#"{"zone":1,"zo\u006ee":2}"#);
        assert!(m.starts_with("duplicate key \"zone\""), "{m}");
        assert!(from_slice(br#"{"zone":1,"Zone":2}"#).is_ok());
    }

    #[test]
    fn syntax_errors_and_depth_stay_serde_json_s() {
        for text in ["{", "{\"a\":1,}", "[1] [2]", "nul"] {
            let e = from_slice(text.as_bytes()).expect_err(text);
            assert!(!e.is_data(), "{text}: {e}");
        }
        let deep = format!("{}{}", "[".repeat(10_000), "]".repeat(10_000));
        let e = from_slice(deep.as_bytes()).expect_err("too deep");
        assert!(e.to_string().contains("recursion limit"), "{e}");
    }
}
