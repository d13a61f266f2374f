//! Serde helpers (`#[serde(deserialize_with = ...)]`) that decode JSON values as tolerantly
//! as Go's `encoding/json`: `null` leaves a field at its zero value, times accept any RFC 3339
//! offset, and strings can be kept as raw bytes.

use serde::de::{self, Deserialize, Deserializer, Visitor};
use std::fmt;

/// Decodes a value, treating JSON `null` as the type's default (Go leaves the field unchanged).
pub fn null_default<'de, D, T>(d: D) -> Result<T, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de> + Default,
{
    Ok(Option::<T>::deserialize(d)?.unwrap_or_default())
}

/// Decodes an RFC 3339 timestamp string into nanoseconds since the Unix epoch (`null` → 0).
pub fn time<'de, D: Deserializer<'de>>(d: D) -> Result<i64, D::Error> {
    struct TimeVisitor;
    impl Visitor<'_> for TimeVisitor {
        type Value = i64;
        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("an RFC 3339 timestamp string")
        }
        fn visit_str<E: de::Error>(self, v: &str) -> Result<i64, E> {
            super::parse_time(v).map_err(E::custom)
        }
        fn visit_unit<E: de::Error>(self) -> Result<i64, E> {
            Ok(0)
        }
    }
    struct OptTime;
    impl<'de> Visitor<'de> for OptTime {
        type Value = i64;
        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("an RFC 3339 timestamp string or null")
        }
        fn visit_none<E: de::Error>(self) -> Result<i64, E> {
            Ok(0)
        }
        fn visit_unit<E: de::Error>(self) -> Result<i64, E> {
            Ok(0)
        }
        fn visit_some<D2: Deserializer<'de>>(self, d: D2) -> Result<i64, D2::Error> {
            d.deserialize_str(TimeVisitor)
        }
    }
    d.deserialize_option(OptTime)
}

/// Decodes a JSON string into raw bytes (`null` → empty), for names that are byte strings.
pub fn bytes<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<u8>, D::Error> {
    struct BytesVisitor;
    impl Visitor<'_> for BytesVisitor {
        type Value = Vec<u8>;
        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("a string")
        }
        fn visit_str<E: de::Error>(self, v: &str) -> Result<Vec<u8>, E> {
            Ok(v.as_bytes().to_vec())
        }
        fn visit_string<E: de::Error>(self, v: String) -> Result<Vec<u8>, E> {
            Ok(v.into_bytes())
        }
    }
    struct OptBytes;
    impl<'de> Visitor<'de> for OptBytes {
        type Value = Vec<u8>;
        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("a string or null")
        }
        fn visit_none<E: de::Error>(self) -> Result<Vec<u8>, E> {
            Ok(Vec::new())
        }
        fn visit_unit<E: de::Error>(self) -> Result<Vec<u8>, E> {
            Ok(Vec::new())
        }
        fn visit_some<D2: Deserializer<'de>>(self, d: D2) -> Result<Vec<u8>, D2::Error> {
            d.deserialize_string(BytesVisitor)
        }
    }
    d.deserialize_option(OptBytes)
}

/// Decodes standard padded base64 (Go's `[]byte` JSON form) into bytes (`null` → empty).
pub fn base64_bytes<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<u8>, D::Error> {
    use base64::Engine as _;
    let s: Option<String> = Option::deserialize(d)?;
    match s {
        None => Ok(Vec::new()),
        Some(s) => base64::engine::general_purpose::STANDARD
            .decode(s.as_bytes())
            .map_err(|e| de::Error::custom(format!("invalid base64 in byte field: {e}"))),
    }
}

/// Decodes the first JSON value of `input` like Go's `json.Decoder.Decode` (trailing data
/// after the value is ignored).
pub fn from_slice_first<'a, T: Deserialize<'a>>(input: &'a [u8]) -> Result<T, serde_json::Error> {
    let mut it = serde_json::Deserializer::from_slice(input).into_iter::<T>();
    match it.next() {
        Some(r) => r,
        None => Err(de::Error::custom("empty input: expected a JSON value")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(serde::Deserialize, Default, Debug)]
    #[serde(default)]
    struct T {
        #[serde(deserialize_with = "time")]
        t: i64,
        #[serde(deserialize_with = "bytes")]
        b: Vec<u8>,
        #[serde(deserialize_with = "null_default")]
        n: i32,
        #[serde(deserialize_with = "base64_bytes")]
        h: Vec<u8>,
    }

    #[test]
    fn tolerant_decoding() {
        let t: T = serde_json::from_str(
            r#"{"t":"1970-01-01T01:00:00.5+01:00","b":"a\u003c","n":null,"h":"AAE="}"#,
        )
        .unwrap();
        assert_eq!(
            (t.t, t.b.as_slice(), t.n, t.h.as_slice()),
            (500_000_000, &b"a<"[..], 0, &[0u8, 1][..])
        );
        let t: T = serde_json::from_str(r#"{"t":null,"b":null,"x":[1,{"y":2}],"h":null}"#).unwrap();
        assert_eq!((t.t, t.b.len(), t.n, t.h.len()), (0, 0, 0, 0));
    }

    #[test]
    fn rejects_wrong_types() {
        assert!(serde_json::from_str::<T>(r#"{"t":"yesterday"}"#).is_err());
        assert!(serde_json::from_str::<T>(r#"{"t":5}"#).is_err());
        assert!(serde_json::from_str::<T>(r#"{"b":5}"#).is_err());
        assert!(serde_json::from_str::<T>(r#"{"h":"!!"}"#).is_err());
        assert!(from_slice_first::<T>(b"").is_err());
        assert!(from_slice_first::<T>(b"{\"n\":1}\ngarbage").is_ok());
    }
}
