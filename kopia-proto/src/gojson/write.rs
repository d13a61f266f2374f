//! Writers that produce exactly the bytes Go's `encoding/json` produces (HTML-safe mode).

const HEX: &[u8; 16] = b"0123456789abcdef";

/// `true` for ASCII bytes Go copies verbatim into a JSON string.
const fn ascii_safe_table() -> [bool; 128] {
    let mut t = [true; 128];
    let mut i = 0;
    while i < 0x20 {
        t[i] = false;
        i += 1;
    }
    t[b'"' as usize] = false;
    t[b'\\' as usize] = false;
    t[b'<' as usize] = false;
    t[b'>' as usize] = false;
    t[b'&' as usize] = false;
    t
}

static ASCII_SAFE: [bool; 128] = ascii_safe_table();

#[inline]
fn is_cont(b: Option<&u8>) -> bool {
    matches!(b, Some(&c) if (0x80..=0xBF).contains(&c))
}

#[inline]
fn in_range(b: Option<&u8>, lo: u8, hi: u8) -> bool {
    matches!(b, Some(&c) if (lo..=hi).contains(&c))
}

/// Length of the valid UTF-8 sequence starting at `s[0]` (a byte >= 0x80), or `None` when
/// Go's `utf8.DecodeRune` would report an error (then exactly one byte is consumed).
#[inline]
fn utf8_len(s: &[u8]) -> Option<usize> {
    let b0 = *s.first()?;
    let (len, lo, hi) = match b0 {
        0xC2..=0xDF => (2, 0x80, 0xBF),
        0xE0 => (3, 0xA0, 0xBF),
        0xE1..=0xEC | 0xEE..=0xEF => (3, 0x80, 0xBF),
        0xED => (3, 0x80, 0x9F),
        0xF0 => (4, 0x90, 0xBF),
        0xF1..=0xF3 => (4, 0x80, 0xBF),
        0xF4 => (4, 0x80, 0x8F),
        _ => return None,
    };
    if !in_range(s.get(1), lo, hi) {
        return None;
    }
    if len >= 3 && !is_cont(s.get(2)) {
        return None;
    }
    if len == 4 && !is_cont(s.get(3)) {
        return None;
    }
    Some(len)
}

/// Appends `s` (raw bytes, normally but not necessarily UTF-8) as a quoted JSON string,
/// escaped exactly like Go's `encoding/json` with HTML escaping on.
///
/// Invalid UTF-8 bytes are replaced one by one with `\ufffd`, as Go does.
pub fn write_string(out: &mut Vec<u8>, s: &[u8]) {
    out.reserve(s.len() + 2);
    out.push(b'"');
    let mut start = 0;
    let mut i = 0;
    while i < s.len() {
        let b = s[i];
        if b < 0x80 {
            if ASCII_SAFE[b as usize] {
                i += 1;
                continue;
            }
            out.extend_from_slice(&s[start..i]);
            match b {
                b'"' => out.extend_from_slice(b"\\\""),
                b'\\' => out.extend_from_slice(b"\\\\"),
                0x08 => out.extend_from_slice(b"\\b"),
                0x0C => out.extend_from_slice(b"\\f"),
                b'\n' => out.extend_from_slice(b"\\n"),
                b'\r' => out.extend_from_slice(b"\\r"),
                b'\t' => out.extend_from_slice(b"\\t"),
                _ => out.extend_from_slice(&[
                    b'\\',
                    b'u',
                    b'0',
                    b'0',
                    HEX[(b >> 4) as usize],
                    HEX[(b & 0xF) as usize],
                ]),
            }
            i += 1;
            start = i;
            continue;
        }
        match utf8_len(&s[i..]) {
            None => {
                out.extend_from_slice(&s[start..i]);
                out.extend_from_slice(b"\\ufffd");
                i += 1;
                start = i;
            }
            Some(3)
                if b == 0xE2
                    && s.get(i + 1) == Some(&0x80)
                    && matches!(s.get(i + 2), Some(0xA8 | 0xA9)) =>
            {
                out.extend_from_slice(&s[start..i]);
                out.extend_from_slice(if s.get(i + 2) == Some(&0xA8) {
                    b"\\u2028"
                } else {
                    b"\\u2029"
                });
                i += 3;
                start = i;
            }
            Some(n) => i += n,
        }
    }
    out.extend_from_slice(&s[start..]);
    out.push(b'"');
}

/// Appends a signed integer in plain decimal.
pub fn write_i64(out: &mut Vec<u8>, v: i64) {
    if v < 0 {
        out.push(b'-');
    }
    write_u64(out, v.unsigned_abs());
}

/// Appends an unsigned integer in plain decimal.
pub fn write_u64(out: &mut Vec<u8>, mut v: u64) {
    let mut buf = [0u8; 20];
    let mut pos = buf.len();
    loop {
        pos -= 1;
        buf[pos] = b'0' + (v % 10) as u8;
        v /= 10;
        if v == 0 {
            break;
        }
    }
    out.extend_from_slice(&buf[pos..]);
}

/// Appends `true` or `false`.
pub fn write_bool(out: &mut Vec<u8>, v: bool) {
    out.extend_from_slice(if v { b"true" } else { b"false" });
}

/// Writes one JSON object member by member, handling commas, in the caller's key order.
///
/// Keys must be plain ASCII struct tags (they are written without escaping). The `*_omitempty`
/// methods skip the member when the value is Go's zero value, like the `omitempty` tag option.
pub struct ObjectWriter<'a> {
    out: &'a mut Vec<u8>,
    first: bool,
}

impl<'a> ObjectWriter<'a> {
    /// Starts an object (writes `{`).
    pub fn new(out: &'a mut Vec<u8>) -> Self {
        out.push(b'{');
        ObjectWriter { out, first: true }
    }

    /// Writes the separator and `"key":`, returning the buffer for the caller to write the value.
    pub fn key(&mut self, key: &str) -> &mut Vec<u8> {
        debug_assert!(
            key.bytes()
                .all(|b| ASCII_SAFE.get(b as usize) == Some(&true))
        );
        if !self.first {
            self.out.push(b',');
        }
        self.first = false;
        self.out.push(b'"');
        self.out.extend_from_slice(key.as_bytes());
        self.out.extend_from_slice(b"\":");
        self.out
    }

    /// A string member (always written).
    pub fn str(&mut self, key: &str, v: &str) {
        self.bytes(key, v.as_bytes());
    }

    /// A byte-string member (always written; invalid UTF-8 becomes `\ufffd`).
    pub fn bytes(&mut self, key: &str, v: &[u8]) {
        write_string(self.key(key), v);
    }

    /// A string member omitted when empty.
    pub fn str_omitempty(&mut self, key: &str, v: &str) {
        self.bytes_omitempty(key, v.as_bytes());
    }

    /// A byte-string member omitted when empty.
    pub fn bytes_omitempty(&mut self, key: &str, v: &[u8]) {
        if !v.is_empty() {
            self.bytes(key, v);
        }
    }

    /// An integer member (always written).
    pub fn i64(&mut self, key: &str, v: i64) {
        write_i64(self.key(key), v);
    }

    /// An integer member omitted when zero.
    pub fn i64_omitempty(&mut self, key: &str, v: i64) {
        if v != 0 {
            self.i64(key, v);
        }
    }

    /// An optional integer (Go pointer): written when set, even if zero.
    pub fn opt_i64(&mut self, key: &str, v: Option<i64>) {
        if let Some(v) = v {
            self.i64(key, v);
        }
    }

    /// A boolean member (always written).
    pub fn bool(&mut self, key: &str, v: bool) {
        write_bool(self.key(key), v);
    }

    /// A boolean member omitted when false.
    pub fn bool_omitempty(&mut self, key: &str, v: bool) {
        if v {
            self.bool(key, v);
        }
    }

    /// An optional boolean (Go pointer): written when set, even if false.
    pub fn opt_bool(&mut self, key: &str, v: Option<bool>) {
        if let Some(v) = v {
            self.bool(key, v);
        }
    }

    /// A timestamp member (nanoseconds since the Unix epoch), always written.
    pub fn time(&mut self, key: &str, ns: i64) {
        super::write_time(self.key(key), ns);
    }

    /// A list of strings omitted when empty.
    pub fn strings_omitempty(&mut self, key: &str, v: &[String]) {
        if !v.is_empty() {
            let out = self.key(key);
            out.push(b'[');
            for (i, s) in v.iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                write_string(out, s.as_bytes());
            }
            out.push(b']');
        }
    }

    /// A string→string map with keys in sorted order, `null` when `None`.
    pub fn string_map<'m, I>(&mut self, key: &str, map: Option<I>)
    where
        I: IntoIterator<Item = (&'m String, &'m String)>,
    {
        let out = self.key(key);
        match map {
            None => out.extend_from_slice(b"null"),
            Some(m) => write_string_map(out, m),
        }
    }

    /// Already-encoded JSON written verbatim as the member value.
    pub fn raw(&mut self, key: &str, json: &[u8]) {
        self.key(key).extend_from_slice(json);
    }

    /// Ends the object (writes `}`).
    pub fn finish(self) {
        self.out.push(b'}');
    }
}

/// Appends a string→string map as a JSON object; the iterator must yield keys in sorted
/// order (as a `BTreeMap` does), matching Go's sorted map keys.
pub(crate) fn write_string_map<'m, I>(out: &mut Vec<u8>, map: I)
where
    I: IntoIterator<Item = (&'m String, &'m String)>,
{
    out.push(b'{');
    for (i, (k, v)) in map.into_iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        write_string(out, k.as_bytes());
        out.push(b':');
        write_string(out, v.as_bytes());
    }
    out.push(b'}');
}

#[cfg(test)]
mod tests {
    use super::*;

    fn enc(s: &[u8]) -> String {
        let mut v = Vec::new();
        write_string(&mut v, s);
        String::from_utf8(v).unwrap()
    }

    #[test]
    fn escapes_like_go() {
        assert_eq!(enc(b"a<b>&c"), r#""a\u003cb\u003e\u0026c""#);
        assert_eq!(enc(b"\x00\x1f\x7f"), "\"\\u0000\\u001f\x7f\"");
        assert_eq!(enc(b"\x08\x0c\n\r\t\"\\"), r#""\b\f\n\r\t\"\\""#);
        assert_eq!(
            enc("\u{2028}\u{2029}\u{2027}".as_bytes()),
            "\"\\u2028\\u2029\u{2027}\""
        );
        assert_eq!(enc("é漢😀".as_bytes()), "\"é漢😀\"");
    }

    #[test]
    fn invalid_utf8_each_byte_replaced() {
        assert_eq!(enc(b"\xff"), r#""\ufffd""#);
        // Truncated 3-byte sequence: two invalid bytes, then a valid ASCII byte.
        assert_eq!(enc(b"\xe2\x80A"), r#""\ufffd\ufffdA""#);
        // UTF-8-encoded surrogate: invalid in Go, three replacements.
        assert_eq!(enc(b"\xed\xa0\x80"), r#""\ufffd\ufffd\ufffd""#);
        // Overlong encoding and truncated input at the end.
        assert_eq!(enc(b"\xc0\xaf"), r#""\ufffd\ufffd""#);
        assert_eq!(enc(b"x\xf0\x9f\x98"), r#""x\ufffd\ufffd\ufffd""#);
        // A literal, valid U+FFFD is copied verbatim.
        assert_eq!(enc("\u{fffd}".as_bytes()), "\"\u{fffd}\"");
    }

    #[test]
    fn integers() {
        let mut v = Vec::new();
        write_i64(&mut v, i64::MIN);
        v.push(b' ');
        write_i64(&mut v, 0);
        v.push(b' ');
        write_u64(&mut v, u64::MAX);
        assert_eq!(v, b"-9223372036854775808 0 18446744073709551615");
    }

    #[test]
    fn object_writer_omits_and_orders() {
        let mut v = Vec::new();
        let mut o = ObjectWriter::new(&mut v);
        o.str_omitempty("a", "");
        o.i64("b", 1);
        o.opt_bool("c", Some(false));
        o.opt_i64("d", None);
        o.strings_omitempty("e", &["x<".to_string()]);
        o.string_map::<std::collections::btree_map::Iter<'_, String, String>>("f", None);
        o.finish();
        assert_eq!(v, br#"{"b":1,"c":false,"e":["x\u003c"],"f":null}"#);
    }
}
