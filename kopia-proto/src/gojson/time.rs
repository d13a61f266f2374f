//! Kopia timestamps: int64 nanoseconds since the Unix epoch, written like Go's
//! `time.Time.MarshalJSON` in UTC (RFC 3339 with 0–9 fraction digits, trailing zeros trimmed)
//! and read like Go's strict RFC 3339 parser (any offset, converted to UTC).

const NANOS_PER_SEC: i64 = 1_000_000_000;
const SECS_PER_DAY: i64 = 86_400;

/// Why a timestamp string could not be parsed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid RFC 3339 timestamp {input:?}: {reason}")]
pub struct TimeError {
    /// The offending input (truncated to 64 characters).
    pub input: String,
    /// What is wrong with it.
    pub reason: &'static str,
}

/// Days since 1970-01-01 of a proleptic Gregorian date.
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// Proleptic Gregorian date of a day count since 1970-01-01.
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y, m, d)
}

fn push2(out: &mut Vec<u8>, v: u32) {
    out.push(b'0' + (v / 10) as u8);
    out.push(b'0' + (v % 10) as u8);
}

/// Appends `ns` (nanoseconds since the Unix epoch) as a quoted RFC 3339 UTC timestamp,
/// exactly as kopia writes it, e.g. `"2023-11-14T22:13:20.12Z"`.
///
/// Every `i64` maps to a year between 1677 and 2262, so this cannot fail.
pub fn write_time(out: &mut Vec<u8>, ns: i64) {
    let secs = ns.div_euclid(NANOS_PER_SEC);
    let frac = ns.rem_euclid(NANOS_PER_SEC) as u32;
    let days = secs.div_euclid(SECS_PER_DAY);
    let sod = secs.rem_euclid(SECS_PER_DAY) as u32;
    let (y, m, d) = civil_from_days(days);
    let y = y as u32; // 1677..=2262
    out.push(b'"');
    push2(out, y / 100);
    push2(out, y % 100);
    out.push(b'-');
    push2(out, m);
    out.push(b'-');
    push2(out, d);
    out.push(b'T');
    push2(out, sod / 3600);
    out.push(b':');
    push2(out, sod / 60 % 60);
    out.push(b':');
    push2(out, sod % 60);
    if frac != 0 {
        let mut digits = [0u8; 9];
        let mut f = frac;
        for slot in digits.iter_mut().rev() {
            *slot = b'0' + (f % 10) as u8;
            f /= 10;
        }
        let mut len = 9;
        while len > 0 && digits[len - 1] == b'0' {
            len -= 1;
        }
        out.push(b'.');
        out.extend_from_slice(&digits[..len]);
    }
    out.extend_from_slice(b"Z\"");
}

/// Formats `ns` as an unquoted RFC 3339 UTC timestamp (for labels, display and tests).
pub fn format_time(ns: i64) -> String {
    let mut v = Vec::with_capacity(32);
    write_time(&mut v, ns);
    // write_time only emits ASCII; the slice drops the quotes.
    String::from_utf8_lossy(&v[1..v.len() - 1]).into_owned()
}

fn digits(s: &[u8], at: usize, n: usize) -> Option<i64> {
    let part = s.get(at..at + n)?;
    let mut v = 0i64;
    for &c in part {
        if !c.is_ascii_digit() {
            return None;
        }
        v = v * 10 + i64::from(c - b'0');
    }
    Some(v)
}

fn is_leap(y: i64) -> bool {
    y % 4 == 0 && (y % 100 != 0 || y % 400 == 0)
}

fn days_in_month(y: i64, m: i64) -> i64 {
    match m {
        2 if is_leap(y) => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// Parses an unquoted RFC 3339 timestamp (`YYYY-MM-DDTHH:MM:SS[.frac](Z|±hh:mm)`) into
/// nanoseconds since the Unix epoch, accepting what Go's `time.Time.UnmarshalJSON` accepts.
///
/// Fraction digits beyond the ninth are ignored (Go truncates). Times outside the `i64`
/// nanosecond range (years 1677–2262) are rejected.
pub fn parse_time(s: &str) -> Result<i64, TimeError> {
    let err = |reason| TimeError {
        input: s.chars().take(64).collect(),
        reason,
    };
    let b = s.as_bytes();
    let sep = |i: usize, c: u8| b.get(i) == Some(&c);
    if !(sep(4, b'-') && sep(7, b'-') && sep(10, b'T') && sep(13, b':') && sep(16, b':')) {
        return Err(err("expected YYYY-MM-DDTHH:MM:SS"));
    }
    let num = |at, n| digits(b, at, n).ok_or_else(|| err("expected digits"));
    let (year, month, day) = (num(0, 4)?, num(5, 2)?, num(8, 2)?);
    let (hour, min, sec) = (num(11, 2)?, num(14, 2)?, num(17, 2)?);
    if !(1..=12).contains(&month) {
        return Err(err("month out of range"));
    }
    if day < 1 || day > days_in_month(year, month) {
        return Err(err("day out of range"));
    }
    if hour > 23 || min > 59 || sec > 59 {
        return Err(err("time of day out of range"));
    }
    let mut i = 19;
    let mut frac = 0i64;
    if sep(i, b'.') {
        i += 1;
        let start = i;
        while b.get(i).is_some_and(u8::is_ascii_digit) {
            if i - start < 9 {
                frac = frac * 10 + i64::from(b[i] - b'0');
            }
            i += 1;
        }
        let n = i - start;
        if n == 0 {
            return Err(err("empty fraction"));
        }
        for _ in n..9 {
            frac *= 10;
        }
    }
    let offset = match b.get(i) {
        Some(b'Z') if b.len() == i + 1 => 0,
        Some(&c @ (b'+' | b'-')) if b.len() == i + 6 && sep(i + 3, b':') => {
            let (oh, om) = (num(i + 1, 2)?, num(i + 4, 2)?);
            if oh > 23 || om > 59 {
                return Err(err("zone offset out of range"));
            }
            let o = oh * 3600 + om * 60;
            if c == b'-' { -o } else { o }
        }
        _ => return Err(err("expected Z or ±hh:mm zone offset at the end")),
    };
    let secs =
        days_from_civil(year, month, day) * SECS_PER_DAY + hour * 3600 + min * 60 + sec - offset;
    secs.checked_mul(NANOS_PER_SEC)
        .and_then(|n| n.checked_add(frac))
        .ok_or_else(|| err("outside the representable range (years 1677-2262)"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_examples() {
        assert_eq!(format_time(0), "1970-01-01T00:00:00Z");
        assert_eq!(format_time(-1), "1969-12-31T23:59:59.999999999Z");
        assert_eq!(format_time(1_500_000_000), "1970-01-01T00:00:01.5Z");
        assert_eq!(
            format_time(1_700_000_000_123_456_789),
            "2023-11-14T22:13:20.123456789Z"
        );
        assert_eq!(format_time(i64::MIN), "1677-09-21T00:12:43.145224192Z");
        assert_eq!(format_time(i64::MAX), "2262-04-11T23:47:16.854775807Z");
        assert_eq!(
            format_time(951_782_400 * NANOS_PER_SEC),
            "2000-02-29T00:00:00Z"
        );
    }

    #[test]
    fn parses_offsets_and_fractions() {
        assert_eq!(parse_time("1970-01-01T00:00:00Z"), Ok(0));
        assert_eq!(parse_time("1970-01-01T01:00:00+01:00"), Ok(0));
        assert_eq!(parse_time("1969-12-31T19:30:00-04:30"), Ok(0));
        assert_eq!(parse_time("1970-01-01T00:00:01.5Z"), Ok(1_500_000_000));
        assert_eq!(parse_time("1970-01-01T00:00:00.0000000019Z"), Ok(1));
        assert_eq!(parse_time("1969-12-31T23:59:59.999999999Z"), Ok(-1));
        assert_eq!(parse_time("2262-04-11T23:47:16.854775807Z"), Ok(i64::MAX));
    }

    #[test]
    fn round_trips_many_values() {
        let mut x: u64 = 0x1234_5678_9abc_def0;
        for _ in 0..10_000 {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            let ns = x as i64;
            assert_eq!(parse_time(&format_time(ns)), Ok(ns), "{ns}");
        }
    }

    #[test]
    fn rejects_malformed() {
        for bad in [
            "",
            "1970-01-01",
            "1970-01-01 00:00:00Z",
            "1970-01-01T00:00:00",
            "1970-01-01T00:00:00z",
            "1970-01-01T00:00:00.Z",
            "1970-13-01T00:00:00Z",
            "1970-02-30T00:00:00Z",
            "1970-01-01T24:00:00Z",
            "1970-01-01T00:00:60Z",
            "1970-01-01T00:00:00+0100",
            "1970-01-01T00:00:00+24:00",
            "1970-01-01T00:00:00Zjunk",
            "197a-01-01T00:00:00Z",
            "1600-01-01T00:00:00Z",
            "2300-01-01T00:00:00Z",
            "1970-01-01T00:00:00+01:0é",
        ] {
            assert!(parse_time(bad).is_err(), "{bad:?} must be rejected");
        }
    }
}
