//! Go `encoding/json`-compatible JSON encoding, as used by every JSON document kopia writes.
//!
//! `serde_json` escapes strings differently from Go (Go is "HTML-safe": `<`, `>`, `&`,
//! U+2028 and U+2029 are escaped, invalid UTF-8 bytes become `\ufffd`), and kopia's
//! timestamps, modes and manifest envelopes have their own textual forms. This module holds
//! the small, allocation-free writers ([`write_string`], [`write_time`], [`ObjectWriter`]),
//! a strict RFC 3339 parser that accepts whatever Go accepts ([`parse_time`]), serde helpers
//! that decode JSON as tolerantly as Go does ([`de`]), and a syntax-checking value scanner
//! that lets callers keep embedded JSON verbatim ([`raw`]).

pub mod de;
pub mod raw;
mod time;
mod write;

pub use time::{TimeError, format_time, parse_time, write_time};
pub use write::{ObjectWriter, write_bool, write_i64, write_string, write_u64};

/// Errors from decoding JSON in Go's dialect.
#[derive(Debug, thiserror::Error)]
pub enum JsonError {
    /// The input is not well-formed JSON.
    #[error("malformed JSON at byte {offset}: {reason}")]
    Syntax {
        /// Byte offset in the input where the problem was found.
        offset: usize,
        /// What was expected.
        reason: &'static str,
    },
    /// A value has the wrong JSON type or an invalid content.
    #[error("invalid JSON value: {0}")]
    Value(#[from] serde_json::Error),
}
