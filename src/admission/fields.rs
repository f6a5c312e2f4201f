//! The names of a JSON object's top-level fields, its values skipped unread: what the audit
//! records of a write's body, and of a GraphQL request's `variables`.
//!
//! Owns: [`top_level_names`] and the [`Names`] deserializer. Linear in the body; never copies a
//! value. Must never: keep, return or log a value; return a name that is not a plain identifier
//! (`[_A-Za-z][_0-9A-Za-z]*`, at most 64 bytes) or more than [`MAX_NAMES`] of them.

use serde::Deserialize;

/// At most this many names are kept.
pub const MAX_NAMES: usize = 32;

/// The top-level field names of `body` when it is a JSON object; `None` when it is not one
/// (empty, not JSON, an array...).
pub fn top_level_names(body: &[u8]) -> Option<Vec<String>> {
    let mut de = serde_json::Deserializer::from_slice(body);
    let names = Names::deserialize(&mut de).ok()?;
    de.end().ok()?;
    names.object.then_some(names.names)
}

/// A plain identifier: safe to write in a log line or an audit record.
pub fn is_name(text: &str) -> bool {
    let mut chars = text.chars();
    chars.next().is_some_and(|c| c == '_' || c.is_ascii_alphabetic())
        && chars.all(|c| c == '_' || c.is_ascii_alphanumeric())
        && text.len() <= 64
}

/// The names of an object's members (values skipped), also of an object sent as a JSON-encoded
/// string (GraphQL's `variables` may be); `null` is no names.
pub struct Names {
    pub names: Vec<String>,
    /// It was an object (not `null`).
    pub object: bool,
}

impl<'de> Deserialize<'de> for Names {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Visit;
        impl<'de> serde::de::Visitor<'de> for Visit {
            type Value = Names;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("an object")
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(self, mut map: A) -> Result<Names, A::Error> {
                let mut names = Vec::new();
                while let Some(name) = map.next_key::<std::borrow::Cow<'de, str>>()? {
                    map.next_value::<serde::de::IgnoredAny>()?;
                    if is_name(&name) && names.len() < MAX_NAMES {
                        names.push(name.into_owned());
                    }
                }
                Ok(Names { names, object: true })
            }
            fn visit_str<E: serde::de::Error>(self, text: &str) -> Result<Names, E> {
                let mut de = serde_json::Deserializer::from_str(text);
                serde::Deserializer::deserialize_map(&mut de, Visit).map_err(E::custom)
            }
            fn visit_unit<E>(self) -> Result<Names, E> {
                Ok(Names { names: Vec::new(), object: false })
            }
        }
        deserializer.deserialize_any(Visit)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_without_values() {
        let names = |body: &str| top_level_names(body.as_bytes());
        let owned = |v: &[&str]| Some(v.iter().map(|s| s.to_string()).collect::<Vec<_>>());
        assert_eq!(
            names(r#"{"title": "t", "body": {"nested": 1}, "labels": ["a"]}"#),
            owned(&["title", "body", "labels"])
        );
        assert_eq!(names("{}"), owned(&[]));
        // Not plain names: left out (a name could carry anything, a token among it).
        assert_eq!(names(r#"{"ghp_secret value": 1, "ok": 2}"#), owned(&["ok"]));
        for not_an_object in ["", "[1]", "\"text\"", "null", "{\"a\": 1} trailing", "{\"a\": "] {
            assert_eq!(names(not_an_object), None, "{not_an_object}");
        }
        let many: String = (0..100).map(|i| format!("\"f{i}\": {i}")).collect::<Vec<_>>().join(",");
        assert_eq!(names(&format!("{{{many}}}")).map(|n| n.len()), Some(MAX_NAMES));
    }
}
