//! Reading JSON request bodies strictly: an object that names one key twice
//! (`{"a":1,"a":2}`), at any depth, is refused instead of silently keeping the last value, so
//! that two readers of one body (a proxy and us, say) cannot see two different requests.
//!
//! serde_json has no switch for this, so [`value_from_slice`] builds the `Value` with its own
//! visitor, which checks each key as it inserts it: the check is the map insert that building
//! a `Value` does anyway, so parsing costs the same.

use std::cell::RefCell;
use std::fmt;

use serde::de::DeserializeOwned;
use serde::de::{self, DeserializeSeed, Deserializer, MapAccess, SeqAccess, Visitor};
use serde_json::map::Entry;
use serde_json::{Map, Number, Value};

/// Longest duplicate key quoted back in an error message.
const MAX_QUOTED_KEY_CHARS: usize = 64;

/// Why a body is not the JSON asked for.
#[derive(Debug)]
pub enum JsonError {
    /// An object names `key` twice; `at` says where (`line 1 column 14`).
    DuplicateKey {
        /// The key, shortened if it is very long.
        key: String,
        /// Where the second one ends.
        at: String,
    },
    /// Not JSON at all, or not the shape asked for.
    Invalid(serde_json::Error),
}

impl fmt::Display for JsonError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            JsonError::DuplicateKey { key, at } => {
                write!(f, "the key {key:?} appears twice in one object ({at})")
            }
            JsonError::Invalid(error) => error.fmt(f),
        }
    }
}

impl std::error::Error for JsonError {}

/// Parses one JSON value, refusing an object with a duplicate key at any depth.
pub fn value_from_slice(bytes: &[u8]) -> Result<Value, JsonError> {
    let duplicate = RefCell::new(None);
    let mut deserializer = serde_json::Deserializer::from_slice(bytes);
    let parsed = Strict(&duplicate)
        .deserialize(&mut deserializer)
        .and_then(|value| deserializer.end().map(|()| value));
    parsed.map_err(|error| classify(error, duplicate.into_inner()))
}

/// [`value_from_slice`] for text.
pub fn value_from_str(text: &str) -> Result<Value, JsonError> {
    value_from_slice(text.as_bytes())
}

/// Parses a body into `T` (a request struct), refusing duplicate keys anywhere in it, also
/// inside fields that hold free JSON.
pub fn from_slice<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, JsonError> {
    let value = value_from_slice(bytes)?;
    T::deserialize(value).map_err(JsonError::Invalid)
}

fn classify(error: serde_json::Error, duplicate: Option<String>) -> JsonError {
    match duplicate {
        Some(key) => JsonError::DuplicateKey {
            key,
            at: format!("at line {} column {}", error.line(), error.column()),
        },
        None => JsonError::Invalid(error),
    }
}

/// Builds a `Value` like serde_json's own visitor, and records the first duplicate key in
/// the cell it shares with the caller (a serde error can only carry text).
#[derive(Clone, Copy)]
struct Strict<'a>(&'a RefCell<Option<String>>);

impl<'de> DeserializeSeed<'de> for Strict<'_> {
    type Value = Value;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<Value, D::Error> {
        deserializer.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for Strict<'_> {
    type Value = Value;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any JSON value")
    }

    fn visit_bool<E>(self, v: bool) -> Result<Value, E> {
        Ok(Value::Bool(v))
    }

    fn visit_i64<E>(self, v: i64) -> Result<Value, E> {
        Ok(Value::Number(v.into()))
    }

    fn visit_u64<E>(self, v: u64) -> Result<Value, E> {
        Ok(Value::Number(v.into()))
    }

    fn visit_f64<E>(self, v: f64) -> Result<Value, E> {
        Ok(Number::from_f64(v).map_or(Value::Null, Value::Number))
    }

    fn visit_str<E>(self, v: &str) -> Result<Value, E> {
        Ok(Value::String(v.to_owned()))
    }

    fn visit_string<E>(self, v: String) -> Result<Value, E> {
        Ok(Value::String(v))
    }

    fn visit_unit<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }

    fn visit_none<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }

    fn visit_some<D: Deserializer<'de>>(self, deserializer: D) -> Result<Value, D::Error> {
        self.deserialize(deserializer)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Value, A::Error> {
        let mut values = Vec::with_capacity(seq.size_hint().unwrap_or(0));
        while let Some(value) = seq.next_element_seed(self)? {
            values.push(value);
        }
        Ok(Value::Array(values))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Value, A::Error> {
        let mut values = Map::new();
        while let Some(key) = map.next_key::<String>()? {
            let value = map.next_value_seed(self)?;
            match values.entry(key) {
                Entry::Vacant(slot) => {
                    slot.insert(value);
                }
                Entry::Occupied(slot) => {
                    let key = quoted(slot.key());
                    let message = format!("duplicate key {key:?}");
                    self.0.borrow_mut().get_or_insert(key);
                    return Err(de::Error::custom(message));
                }
            }
        }
        Ok(Value::Object(values))
    }
}

/// The key as an error message may quote it.
fn quoted(key: &str) -> String {
    if key.chars().count() <= MAX_QUOTED_KEY_CHARS {
        key.to_owned()
    } else {
        let mut short: String = key.chars().take(MAX_QUOTED_KEY_CHARS).collect();
        short.push('…');
        short
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn duplicate(text: &str) -> Option<String> {
        match value_from_str(text) {
            Err(JsonError::DuplicateKey { key, .. }) => Some(key),
            _ => None,
        }
    }

    #[test]
    fn duplicate_keys_are_refused_at_any_depth() {
        assert_eq!(duplicate(r#"{"a":1,"a":2}"#).as_deref(), Some("a"));
        assert_eq!(
            duplicate(r#"[{"x":{"b":[{"c":1,"c":1}]}}]"#).as_deref(),
            Some("c")
        );
        assert_eq!(duplicate(r#"{"\u0061":1,"a":2}"#).as_deref(), Some("a"));
        let error = value_from_str("{\n\"a\":1,\n\"a\":2}").unwrap_err();
        assert_eq!(
            error.to_string(),
            "the key \"a\" appears twice in one object (at line 3 column 6)"
        );
    }

    #[test]
    fn everything_else_reads_as_serde_json_reads_it() {
        for text in [
            r#"{"a":1,"b":{"a":2},"c":[{"a":3},{"a":4}]}"#,
            r#"[1, -2, 3.5, 1e300, 18446744073709551615, "x", null, true, false, {}]"#,
            r#""just a string""#,
            r#"{"A":1,"a":2}"#,
        ] {
            let expected: Value = serde_json::from_str(text).unwrap();
            assert_eq!(value_from_str(text).unwrap(), expected, "{text}");
        }
        // Key order is kept, as serde_json's preserve_order keeps it.
        let value = value_from_str(r#"{"z":1,"a":2}"#).unwrap();
        let keys: Vec<&String> = value.as_object().unwrap().keys().collect();
        assert_eq!(keys, ["z", "a"]);
    }

    #[test]
    fn invalid_json_and_trailing_text_are_invalid() {
        for text in ["", "{", r#"{"a":1} x"#, r#"{"a":1}{"a":1}"#, "[1,]"] {
            assert!(
                matches!(value_from_str(text), Err(JsonError::Invalid(_))),
                "{text}"
            );
        }
    }

    #[test]
    fn typed_bodies_refuse_duplicates_inside_free_json_fields() {
        #[derive(serde::Deserialize, Debug)]
        struct Body {
            #[allow(dead_code)]
            rule: Value,
        }
        assert!(from_slice::<Body>(br#"{"rule":{"a":1}}"#).is_ok());
        assert!(matches!(
            from_slice::<Body>(br#"{"rule":{"a":1,"a":1}}"#),
            Err(JsonError::DuplicateKey { .. })
        ));
        assert!(matches!(
            from_slice::<Body>(br#"{"rule":1,"rule":2}"#),
            Err(JsonError::DuplicateKey { .. })
        ));
        assert!(matches!(
            from_slice::<Body>(br#"{"other":1}"#),
            Err(JsonError::Invalid(_))
        ));
    }
}
