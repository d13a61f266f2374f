//! Default identity (`user@host`) like kopia: the OS user name and the host name
//! lower-cased and cut at the first dot.

use crate::{Error, Result};

/// The OS user name (Windows: without the domain part); `nobody` when unknown.
pub fn default_username() -> String {
    let name = whoami::fallible::username()
        .ok()
        .filter(|u| !u.is_empty())
        .or_else(|| std::env::var("USER").ok().filter(|u| !u.is_empty()))
        .unwrap_or_else(|| "nobody".to_owned());
    match name.rfind('\\') {
        Some(p) => name[p + 1..].to_owned(),
        None => name,
    }
}

/// The host name, lower-cased and truncated at the first `.`; `nohost` when unknown.
pub fn default_hostname() -> String {
    whoami::fallible::hostname()
        .ok()
        .map(|h| normalize_hostname(&h))
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "nohost".to_owned())
}

/// Kopia's host name normalisation: lower-case, up to the first dot.
pub fn normalize_hostname(h: &str) -> String {
    h.split('.').next().unwrap_or("").to_lowercase()
}

/// Checks a user or host name the way kopia's account names are restricted:
/// lower-case letters, digits, `-`, `_` and `.` (spec §2.3 and §9, issues #993/#587).
pub fn validate_identity_part(what: &str, value: &str) -> Result<()> {
    if value.is_empty() {
        return Err(Error::InvalidInput(format!("{what} must not be empty")));
    }
    if let Some(c) = value
        .chars()
        .find(|c| !matches!(c, 'a'..='z' | '0'..='9' | '-' | '_' | '.'))
    {
        return Err(Error::InvalidInput(format!(
            "{what} {value:?} contains {c:?}: kopia server accounts only allow lower-case \
             letters, digits, '-', '_' and '.'"
        )));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hostname_is_normalized_like_kopia() {
        assert_eq!(normalize_hostname("MyHost.Example.COM"), "myhost");
        assert_eq!(normalize_hostname("vm1"), "vm1");
        assert_eq!(normalize_hostname(".x"), "");
    }

    #[test]
    fn defaults_are_valid_names() {
        assert!(!default_username().is_empty());
        let h = default_hostname();
        assert!(
            !h.is_empty() && !h.contains('.') && h == h.to_lowercase(),
            "{h}"
        );
    }

    #[test]
    fn identity_parts_are_checked() {
        assert!(validate_identity_part("username", "alice-1_x.y").is_ok());
        for bad in ["", "Alice", "al ice", "a@b", "ü"] {
            let e = validate_identity_part("username", bad).unwrap_err();
            assert!(matches!(e, Error::InvalidInput(_)), "{bad}");
        }
    }
}
