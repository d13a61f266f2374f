//! A syntax-checking JSON scanner that finds value boundaries without decoding, so that
//! embedded JSON (such as a manifest's `data` payload) can be kept byte-for-byte.

use super::JsonError;

fn syntax(offset: usize, reason: &'static str) -> JsonError {
    JsonError::Syntax { offset, reason }
}

/// Index of the first non-whitespace byte at or after `i`.
pub fn skip_ws(s: &[u8], mut i: usize) -> usize {
    while matches!(s.get(i), Some(b' ' | b'\t' | b'\n' | b'\r')) {
        i += 1;
    }
    i
}

fn string_end(s: &[u8], start: usize) -> Result<usize, JsonError> {
    if s.get(start) != Some(&b'"') {
        return Err(syntax(start, "expected a string"));
    }
    let mut i = start + 1;
    loop {
        match s.get(i) {
            None => return Err(syntax(i, "unterminated string")),
            Some(b'"') => return Ok(i + 1),
            Some(b'\\') => match s.get(i + 1) {
                Some(b'"' | b'\\' | b'/' | b'b' | b'f' | b'n' | b'r' | b't') => i += 2,
                Some(b'u') => {
                    let hex = s
                        .get(i + 2..i + 6)
                        .ok_or_else(|| syntax(i, "truncated \\u escape"))?;
                    if !hex.iter().all(u8::is_ascii_hexdigit) {
                        return Err(syntax(i, "invalid \\u escape"));
                    }
                    i += 6;
                }
                _ => return Err(syntax(i, "invalid escape")),
            },
            Some(&c) if c < 0x20 => return Err(syntax(i, "control character in string")),
            Some(_) => i += 1,
        }
    }
}

fn digits_end(s: &[u8], mut i: usize) -> usize {
    while s.get(i).is_some_and(u8::is_ascii_digit) {
        i += 1;
    }
    i
}

fn number_end(s: &[u8], start: usize) -> Result<usize, JsonError> {
    let mut i = start;
    if s.get(i) == Some(&b'-') {
        i += 1;
    }
    match s.get(i) {
        Some(b'0') => i += 1,
        Some(b'1'..=b'9') => i = digits_end(s, i),
        _ => return Err(syntax(i, "invalid number")),
    }
    if s.get(i) == Some(&b'.') {
        let j = digits_end(s, i + 1);
        if j == i + 1 {
            return Err(syntax(j, "invalid number fraction"));
        }
        i = j;
    }
    if matches!(s.get(i), Some(b'e' | b'E')) {
        i += 1;
        if matches!(s.get(i), Some(b'+' | b'-')) {
            i += 1;
        }
        let j = digits_end(s, i);
        if j == i {
            return Err(syntax(j, "invalid number exponent"));
        }
        i = j;
    }
    Ok(i)
}

/// Expects `"key"` then `:` at `i` (after whitespace); returns the index after the colon.
fn key_colon(s: &[u8], i: usize) -> Result<usize, JsonError> {
    let i = string_end(s, skip_ws(s, i))?;
    let i = skip_ws(s, i);
    if s.get(i) != Some(&b':') {
        return Err(syntax(i, "expected ':' after object key"));
    }
    Ok(i + 1)
}

/// Validates one JSON value starting at `start` (leading whitespace allowed) and returns the
/// index just past it. Iterative, so deeply nested input cannot overflow the stack.
pub fn value_end(s: &[u8], start: usize) -> Result<usize, JsonError> {
    let mut stack: Vec<u8> = Vec::new();
    let mut i = start;
    loop {
        i = skip_ws(s, i);
        match s.get(i) {
            Some(b'{') => {
                let j = skip_ws(s, i + 1);
                if s.get(j) == Some(&b'}') {
                    i = j + 1;
                } else {
                    stack.push(b'{');
                    i = key_colon(s, j)?;
                    continue;
                }
            }
            Some(b'[') => {
                let j = skip_ws(s, i + 1);
                if s.get(j) == Some(&b']') {
                    i = j + 1;
                } else {
                    stack.push(b'[');
                    i = j;
                    continue;
                }
            }
            Some(b'"') => i = string_end(s, i)?,
            Some(b't') if s[i..].starts_with(b"true") => i += 4,
            Some(b'f') if s[i..].starts_with(b"false") => i += 5,
            Some(b'n') if s[i..].starts_with(b"null") => i += 4,
            Some(b'-' | b'0'..=b'9') => i = number_end(s, i)?,
            None => return Err(syntax(i, "unexpected end of input, expected a value")),
            Some(_) => return Err(syntax(i, "expected a value")),
        }
        // A value is complete: close containers or move to the next element.
        loop {
            let Some(&top) = stack.last() else {
                return Ok(i);
            };
            i = skip_ws(s, i);
            match s.get(i) {
                Some(b',') if top == b'{' => {
                    i = key_colon(s, i + 1)?;
                    break;
                }
                Some(b',') => {
                    i += 1;
                    break;
                }
                Some(b'}') if top == b'{' => {
                    stack.pop();
                    i += 1;
                }
                Some(b']') if top == b'[' => {
                    stack.pop();
                    i += 1;
                }
                None => return Err(syntax(i, "unexpected end of input inside a container")),
                Some(_) => return Err(syntax(i, "expected ',' or a closing bracket")),
            }
        }
    }
}

/// Object members as `(decoded key, raw value bytes)`, in input order.
pub type Members<'a> = Vec<(String, &'a [u8])>;

/// Splits the JSON object at `start` into `(decoded key, raw value bytes)` pairs, in input
/// order, and returns them with the index just past the object.
pub fn object_members(s: &[u8], start: usize) -> Result<(Members<'_>, usize), JsonError> {
    let mut i = skip_ws(s, start);
    if s.get(i) != Some(&b'{') {
        return Err(syntax(i, "expected an object"));
    }
    i = skip_ws(s, i + 1);
    let mut members = Vec::new();
    if s.get(i) == Some(&b'}') {
        return Ok((members, i + 1));
    }
    loop {
        let kstart = skip_ws(s, i);
        let kend = string_end(s, kstart)?;
        let key: String = serde_json::from_slice(&s[kstart..kend])?;
        let colon = skip_ws(s, kend);
        if s.get(colon) != Some(&b':') {
            return Err(syntax(colon, "expected ':' after object key"));
        }
        let vstart = skip_ws(s, colon + 1);
        let vend = value_end(s, vstart)?;
        members.push((key, &s[vstart..vend]));
        i = skip_ws(s, vend);
        match s.get(i) {
            Some(b',') => i += 1,
            Some(b'}') => return Ok((members, i + 1)),
            None => return Err(syntax(i, "unexpected end of input inside an object")),
            Some(_) => return Err(syntax(i, "expected ',' or '}'")),
        }
    }
}

/// Splits the JSON array `s` (the whole slice, surrounding whitespace allowed) into the raw
/// bytes of its elements.
pub fn array_elements(s: &[u8]) -> Result<Vec<&[u8]>, JsonError> {
    let mut i = skip_ws(s, 0);
    if s.get(i) != Some(&b'[') {
        return Err(syntax(i, "expected an array"));
    }
    i = skip_ws(s, i + 1);
    let mut out = Vec::new();
    if s.get(i) == Some(&b']') {
        return Ok(out);
    }
    loop {
        let vstart = skip_ws(s, i);
        let vend = value_end(s, vstart)?;
        out.push(&s[vstart..vend]);
        i = skip_ws(s, vend);
        match s.get(i) {
            Some(b',') => i += 1,
            Some(b']') => return Ok(out),
            None => return Err(syntax(i, "unexpected end of input inside an array")),
            Some(_) => return Err(syntax(i, "expected ',' or ']'")),
        }
    }
}

/// Removes insignificant whitespace and applies Go's HTML-safe string escapes (`<`, `>`,
/// `&`, U+2028, U+2029), like Go's `json.Compact` as used when marshalling a
/// `json.RawMessage`. The input must already be valid JSON (see [`value_end`]).
pub fn compact(s: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(s.len());
    let mut in_string = false;
    let mut i = 0;
    while i < s.len() {
        let c = s[i];
        if in_string {
            match c {
                b'\\' => {
                    out.extend_from_slice(s.get(i..i + 2).unwrap_or(&s[i..]));
                    i += 2;
                    continue;
                }
                b'"' => in_string = false,
                b'<' | b'>' | b'&' => {
                    out.extend_from_slice(match c {
                        b'<' => b"\\u003c",
                        b'>' => b"\\u003e",
                        _ => b"\\u0026",
                    });
                    i += 1;
                    continue;
                }
                0xE2 if s.get(i + 1) == Some(&0x80)
                    && matches!(s.get(i + 2), Some(0xA8 | 0xA9)) =>
                {
                    out.extend_from_slice(if s[i + 2] == 0xA8 {
                        b"\\u2028"
                    } else {
                        b"\\u2029"
                    });
                    i += 3;
                    continue;
                }
                _ => {}
            }
            out.push(c);
        } else {
            match c {
                b' ' | b'\t' | b'\n' | b'\r' => {}
                b'"' => {
                    in_string = true;
                    out.push(c);
                }
                _ => out.push(c),
            }
        }
        i += 1;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_value_ends() {
        let s = br#" {"a":[1,-2.5e+3,"x\"\u00e9",true,false,null,{}],"b":{"c":[]}} tail"#;
        let end = value_end(s, 0).unwrap();
        assert_eq!(&s[end..], b" tail");
        assert_eq!(value_end(b"0", 0).unwrap(), 1);
        assert_eq!(value_end(b"\"\"", 0).unwrap(), 2);
    }

    #[test]
    fn rejects_malformed() {
        for bad in [
            &b""[..],
            b"{",
            b"[1,]",
            b"{\"a\"}",
            b"{\"a\":}",
            b"{1:2}",
            b"[01]",
            b"1.",
            b"1e",
            b"-",
            b"\"\\x\"",
            b"\"\\u12\"",
            b"\"a\nb\"",
            b"tru",
            b"[1 2]",
            b"{\"a\":1]",
            b"\"unterminated",
        ] {
            assert!(
                value_end(bad, 0).is_err(),
                "{:?}",
                String::from_utf8_lossy(bad)
            );
        }
    }

    #[test]
    fn compacts_like_go() {
        let s = "{ \"a\" : [ 1 , \"x y<\\\" \u{2028}\" ] ,\n \"b\":{}}".as_bytes();
        assert_eq!(compact(s), br#"{"a":[1,"x y\u003c\" \u2028"],"b":{}}"#);
    }

    #[test]
    fn deep_nesting_does_not_overflow() {
        let mut s = vec![b'['; 200_000];
        s.extend(vec![b']'; 200_000]);
        assert_eq!(value_end(&s, 0).unwrap(), s.len());
        assert!(value_end(&s[..s.len() - 1], 0).is_err());
    }

    #[test]
    fn splits_objects_and_arrays() {
        let (m, end) = object_members(br#"{"k\u0041":{"x":[1]} , "b":null}!"#, 0).unwrap();
        assert_eq!(m.len(), 2);
        assert_eq!(m[0].0, "kA");
        assert_eq!(m[0].1, br#"{"x":[1]}"#);
        assert_eq!(m[1].1, b"null");
        assert_eq!(end, 32);
        let a = array_elements(b" [ 1 , {\"a\":2} ] ").unwrap();
        assert_eq!(a, vec![&b"1"[..], &b"{\"a\":2}"[..]]);
        assert!(array_elements(b"[1").is_err());
        assert!(object_members(b"[]", 0).is_err());
        assert!(object_members(b"{\"a\":1", 0).is_err());
    }
}
