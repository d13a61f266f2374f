//! Pack blob IDs (spec §6.1) and write-session IDs and markers (spec §7.9,
//! kopia `repo/content/sessions.go`).

use rand::RngCore;

use super::PackError;
use crate::ids::ContentId;

/// Prefix of packs holding data contents (content IDs without prefix).
pub const PACK_PREFIX_DATA: char = 'p';
/// Prefix of packs holding metadata contents (content IDs with a prefix letter).
pub const PACK_PREFIX_METADATA: char = 'q';

/// 2000-01-01T00:00:00Z in Unix seconds: origin of the session "month" counter.
const SESSION_EPOCH_UNIX: i64 = 946_684_800;
/// Length of one session "month" (30 days) in seconds.
const SESSION_MONTH_SECONDS: i64 = 30 * 24 * 3600;

/// The pack prefix a content goes to: `q` for prefixed (metadata) IDs, `p` otherwise.
pub fn pack_prefix_for(id: &ContentId) -> char {
    if id.has_prefix() {
        PACK_PREFIX_METADATA
    } else {
        PACK_PREFIX_DATA
    }
}

/// Pack blob ID from its parts: `prefix ‖ hex(random16) ‖ "-" ‖ session_id`.
pub fn pack_id(prefix: char, random: &[u8; 16], session_id: &str) -> String {
    let mut s = String::with_capacity(1 + 32 + 1 + session_id.len());
    s.push(prefix);
    s.push_str(&hex::encode(random));
    s.push('-');
    s.push_str(session_id);
    s
}

/// A new pack blob ID for contents like `id`, with 16 bytes from `rng`.
pub fn generate_pack_id<R: RngCore + ?Sized>(
    rng: &mut R,
    id: &ContentId,
    session_id: &str,
) -> String {
    let mut r = [0u8; 16];
    rng.fill_bytes(&mut r);
    pack_id(pack_prefix_for(id), &r, session_id)
}

/// The parts of a pack blob ID.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PackIdParts<'a> {
    /// `p` or `q`.
    pub prefix: char,
    /// The 32 hex characters after the prefix, decoded.
    pub random: [u8; 16],
    /// The writer session, if the ID has a `-` suffix.
    pub session_id: Option<&'a str>,
}

fn bad_pack(id: &str, reason: &'static str) -> PackError {
    PackError::BadId {
        what: "pack blob ID",
        id: id.to_string(),
        reason,
    }
}

/// Parses `p|q ‖ 32 lower-case hex [‖ "-" ‖ sessionID]`.
pub fn parse_pack_id(id: &str) -> Result<PackIdParts<'_>, PackError> {
    let prefix = match id.as_bytes().first() {
        Some(b'p') => PACK_PREFIX_DATA,
        Some(b'q') => PACK_PREFIX_METADATA,
        _ => return Err(bad_pack(id, "must start with 'p' or 'q'")),
    };
    let rest = &id[1..];
    let (hexpart, session) = match rest.split_once('-') {
        Some((h, s)) => (h, Some(s)),
        None => (rest, None),
    };
    if hexpart.len() != 32
        || !hexpart
            .bytes()
            .all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
    {
        return Err(bad_pack(
            id,
            "expected 32 lower-case hex digits after the prefix",
        ));
    }
    let mut random = [0u8; 16];
    hex::decode_to_slice(hexpart, &mut random)
        .map_err(|_| bad_pack(id, "expected 32 lower-case hex digits after the prefix"))?;
    if let Some(s) = session {
        check_session_id(s).map_err(|_| bad_pack(id, "session part is not a session ID"))?;
    }
    Ok(PackIdParts {
        prefix,
        random,
        session_id: session,
    })
}

/// The session "month" of a Unix time: whole 30-day periods since 2000-01-01 (Go truncates
/// toward zero, as Rust's `/` does).
pub fn session_month(unix_seconds: i64) -> i64 {
    (unix_seconds - SESSION_EPOCH_UNIX) / SESSION_MONTH_SECONDS
}

/// Session ID from its parts: `"s" ‖ hex(random8) ‖ hex(month)` (month unpadded, written
/// like Go's `%x`, i.e. with a leading `-` if negative).
pub fn session_id(random: &[u8; 8], unix_seconds: i64) -> String {
    let m = session_month(unix_seconds);
    let sign = if m < 0 { "-" } else { "" };
    format!("s{}{sign}{:x}", hex::encode(random), m.unsigned_abs())
}

/// A new session ID for a session starting at `unix_seconds`, with 8 bytes from `rng`.
pub fn generate_session_id<R: RngCore + ?Sized>(rng: &mut R, unix_seconds: i64) -> String {
    let mut r = [0u8; 8];
    rng.fill_bytes(&mut r);
    session_id(&r, unix_seconds)
}

/// Checks the shape kopia produces: `s` followed by at least 17 lower-case hex digits.
fn check_session_id(s: &str) -> Result<(), PackError> {
    let ok = s.len() >= 18
        && s.starts_with('s')
        && s[1..]
            .bytes()
            .all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'));
    if ok {
        Ok(())
    } else {
        Err(PackError::BadId {
            what: "session ID",
            id: s.to_string(),
            reason: "expected 's' followed by at least 17 lower-case hex digits",
        })
    }
}

/// Plaintext of a session marker blob `s<hash>-<sessionID>` (kopia `SessionInfo`).
///
/// Times are kept as the RFC 3339 strings Go writes (formatting them is the caller's job).
/// The blob itself is written with blob crypto (prefix `s`, suffix = session ID).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct SessionInfo {
    /// The session ID.
    pub id: String,
    /// When the session started.
    #[serde(rename = "startTime")]
    pub start_time: String,
    /// Last checkpoint of the session (GC keeps its packs for 96 h after this).
    #[serde(rename = "checkpointTime")]
    pub checkpoint_time: String,
    /// User name of the writer.
    pub username: String,
    /// Host name of the writer.
    pub hostname: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pack_ids_round_trip() {
        let r = [
            0x96, 0x20, 0x36, 0x04, 0x62, 0xea, 0x7f, 0x08, 0xda, 0x6e, 0x99, 0x6c, 0xf0, 0xfc,
            0xb6, 0xc7,
        ];
        let id = pack_id('p', &r, "s12889c210644806f130");
        assert_eq!(id, "p9620360462ea7f08da6e996cf0fcb6c7-s12889c210644806f130");
        let parts = parse_pack_id(&id).unwrap();
        assert_eq!(parts.prefix, 'p');
        assert_eq!(parts.random, r);
        assert_eq!(parts.session_id, Some("s12889c210644806f130"));
        let legacy = parse_pack_id("q9620360462ea7f08da6e996cf0fcb6c7").unwrap();
        assert_eq!(legacy.session_id, None);
    }

    #[test]
    fn malformed_pack_ids_are_errors() {
        for bad in [
            "",
            "x9620360462ea7f08da6e996cf0fcb6c7-s12889c210644806f130",
            "p9620360462ea7f08da6e996cf0fcb6c-s12889c210644806f130",
            "p9620360462ea7f08da6e996cf0fcb6C7-s12889c210644806f130",
            "p9620360462ea7f08da6e996cf0fcb6c7-",
            "p9620360462ea7f08da6e996cf0fcb6c7-x12889c210644806f130",
            "pé620360462ea7f08da6e996cf0fcb6c7",
        ] {
            assert!(parse_pack_id(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn prefix_by_content_id() {
        assert_eq!(pack_prefix_for(&"00ff".parse().unwrap()), 'p');
        assert_eq!(pack_prefix_for(&"k00ff".parse().unwrap()), 'q');
    }

    #[test]
    fn session_month_truncates_like_go() {
        assert_eq!(session_month(1_735_689_600), 0x130);
        assert_eq!(
            session_id(&[0; 8], SESSION_EPOCH_UNIX),
            "s00000000000000000"
        );
        assert_eq!(
            session_id(&[0; 8], SESSION_EPOCH_UNIX - 31 * 86_400),
            "s0000000000000000-1"
        );
        assert_eq!(session_month(SESSION_EPOCH_UNIX - 1), 0);
    }

    #[test]
    fn generated_ids_have_the_right_shape() {
        let mut rng = rand::rng();
        let s = generate_session_id(&mut rng, 1_735_689_600);
        assert!(s.ends_with("130") && s.len() == 20);
        let p = generate_pack_id(&mut rng, &"m00ff".parse().unwrap(), &s);
        let parts = parse_pack_id(&p).unwrap();
        assert_eq!((parts.prefix, parts.session_id), ('q', Some(s.as_str())));
    }
}
