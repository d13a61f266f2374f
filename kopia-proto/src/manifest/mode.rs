//! Entry permission words: Go `os.FileMode` bits (not POSIX `st_mode` bits), written as
//! `"0"` + octal and parsed with Go `strconv.ParseInt(s, 0, 32)` base auto-detection.

use super::ManifestError;
use serde::de::{Deserialize, Deserializer};

/// Permission bits of a directory entry as kopia stores them (`mode` key).
///
/// Holds Go `os.FileMode` bits masked with permissions | setuid | setgid | sticky: setuid is
/// `1<<23`, setgid `1<<22`, sticky `1<<20`. `0` means "not stored" (key omitted).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Permissions(pub i32);

impl Permissions {
    /// Go's `os.ModeSetuid`.
    pub const SETUID: i32 = 1 << 23;
    /// Go's `os.ModeSetgid`.
    pub const SETGID: i32 = 1 << 22;
    /// Go's `os.ModeSticky`.
    pub const STICKY: i32 = 1 << 20;
    /// Bits kopia keeps (`fs.ModBits`): permissions | setuid | setgid | sticky.
    pub const MOD_BITS: i32 = 0o777 | Self::SETUID | Self::SETGID | Self::STICKY;

    /// Converts POSIX `st_mode` permission bits (`0o7777` range) to kopia's representation.
    pub fn from_posix(st_mode: u32) -> Self {
        let mut v = (st_mode & 0o777) as i32;
        if st_mode & 0o4000 != 0 {
            v |= Self::SETUID;
        }
        if st_mode & 0o2000 != 0 {
            v |= Self::SETGID;
        }
        if st_mode & 0o1000 != 0 {
            v |= Self::STICKY;
        }
        Permissions(v)
    }

    /// Converts back to POSIX permission bits (`0o7777` range), e.g. for restore.
    pub fn to_posix(self) -> u32 {
        let v = self.0;
        let mut m = (v & 0o777) as u32;
        if v & Self::SETUID != 0 {
            m |= 0o4000;
        }
        if v & Self::SETGID != 0 {
            m |= 0o2000;
        }
        if v & Self::STICKY != 0 {
            m |= 0o1000;
        }
        m
    }

    /// The textual form kopia writes (`"0"` followed by octal digits), without quotes.
    pub fn to_go_string(self) -> String {
        let v = i64::from(self.0);
        if v < 0 {
            format!("0-{:o}", v.unsigned_abs())
        } else {
            format!("0{v:o}")
        }
    }

    /// Parses a mode string like Go `strconv.ParseInt(s, 0, 32)`: `0x`/`0o`/`0b` prefixes,
    /// a leading `0` for octal, otherwise decimal; optional sign; `_` digit separators.
    pub fn parse(s: &str) -> Result<Self, ManifestError> {
        parse_go_int32(s).map(Permissions).ok_or_else(|| {
            ManifestError::invalid("permission string", format!("{s:?} is not an integer"))
        })
    }

    /// Appends the quoted JSON value (caller omits the key when the value is 0).
    pub(crate) fn write_json(self, out: &mut Vec<u8>) {
        out.push(b'"');
        out.extend_from_slice(self.to_go_string().as_bytes());
        out.push(b'"');
    }
}

impl<'de> Deserialize<'de> for Permissions {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        // Go unmarshals the value as a string (a JSON number is an error); null leaves 0.
        let s: Option<String> = Option::deserialize(d)?;
        match s {
            None => Ok(Permissions(0)),
            Some(s) => Permissions::parse(&s).map_err(serde::de::Error::custom),
        }
    }
}

/// Go's `underscoreOK`: underscores only between digits (a base prefix counts as a digit).
fn underscore_ok(s: &[u8]) -> bool {
    let mut saw = b'^';
    let mut i = 0;
    let hex = s.len() >= 2 && s[0] == b'0' && s[1].eq_ignore_ascii_case(&b'x');
    if s.len() >= 2 && s[0] == b'0' && matches!(s[1].to_ascii_lowercase(), b'b' | b'o' | b'x') {
        i = 2;
        saw = b'0';
    }
    while i < s.len() {
        let c = s[i];
        if c.is_ascii_digit() || (hex && c.is_ascii_hexdigit()) {
            saw = b'0';
        } else if c == b'_' {
            if saw != b'0' {
                return false;
            }
            saw = b'_';
        } else {
            if saw == b'_' {
                return false;
            }
            saw = b'!';
        }
        i += 1;
    }
    saw != b'_'
}

/// `strconv.ParseInt(s, 0, 32)`.
fn parse_go_int32(s: &str) -> Option<i32> {
    let b = s.as_bytes();
    let (neg, digits) = match b.first()? {
        b'-' => (true, &b[1..]),
        b'+' => (false, &b[1..]),
        _ => (false, b),
    };
    if digits.is_empty() {
        return None;
    }
    let (base, body): (u32, &[u8]) = if digits[0] == b'0' {
        match digits.get(1).map(u8::to_ascii_lowercase) {
            Some(b'b') if digits.len() >= 3 => (2, &digits[2..]),
            Some(b'o') if digits.len() >= 3 => (8, &digits[2..]),
            Some(b'x') if digits.len() >= 3 => (16, &digits[2..]),
            _ => (8, &digits[1..]),
        }
    } else {
        (10, digits)
    };
    let mut v: u64 = 0;
    let mut underscores = false;
    for &c in body {
        if c == b'_' {
            underscores = true;
            continue;
        }
        let d = (c as char).to_digit(base)?;
        v = v.checked_mul(u64::from(base))?.checked_add(u64::from(d))?;
        if v > 1 << 31 {
            return None;
        }
    }
    if underscores && !underscore_ok(digits) {
        return None;
    }
    let v = if neg { -(v as i64) } else { v as i64 };
    i32::try_from(v).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn posix_conversion() {
        assert_eq!(Permissions::from_posix(0o4755).0, 8_389_101);
        assert_eq!(Permissions::from_posix(0o2755).0, 4_194_797);
        assert_eq!(Permissions::from_posix(0o1777).0, 1_049_087);
        assert_eq!(Permissions::from_posix(0o100644).0, 0o644);
        for m in [0o4755, 0o2755, 0o1777, 0o644, 0o7777, 0] {
            assert_eq!(Permissions::from_posix(m).to_posix(), m);
        }
    }

    #[test]
    fn formats_like_go() {
        assert_eq!(Permissions(0o644).to_go_string(), "0644");
        assert_eq!(Permissions(8_389_101).to_go_string(), "040000755");
        assert_eq!(Permissions(-5).to_go_string(), "0-5");
    }

    #[test]
    fn parses_like_go_parse_int_base0() {
        let ok = [
            ("0644", 0o644),
            ("0o644", 0o644),
            ("0O644", 0o644),
            ("420", 420),
            ("0x1a4", 420),
            ("0b110100100", 420),
            ("0", 0),
            ("+0644", 0o644),
            ("-0644", -0o644),
            ("040000755", 8_389_101),
            ("0_644", 0o644),
            ("0x_1a4", 420),
            ("2147483647", i32::MAX),
            ("-2147483648", i32::MIN),
        ];
        for (s, v) in ok {
            assert_eq!(Permissions::parse(s).unwrap().0, v, "{s}");
        }
        for bad in [
            "",
            "-",
            "0x",
            "0o",
            "089",
            "12a",
            "0644_",
            "_644",
            "1__2",
            "2147483648",
            "0x1g",
            " 644",
            "644 ",
        ] {
            assert!(Permissions::parse(bad).is_err(), "{bad:?} must be rejected");
        }
    }

    #[test]
    fn json_value_must_be_string() {
        assert_eq!(
            serde_json::from_str::<Permissions>("\"0755\"").unwrap().0,
            0o755
        );
        assert_eq!(serde_json::from_str::<Permissions>("null").unwrap().0, 0);
        assert!(serde_json::from_str::<Permissions>("493").is_err());
    }
}
