//! Windows path rules as pure functions: which entry names Windows cannot store
//! as they are, and how kopia spells a Windows snapshot source path.
//!
//! They are compiled on every platform so that they are unit-tested everywhere;
//! only the Windows restore and snapshot code paths use them.

use crate::browse;

/// Device names that Windows resolves regardless of directory or extension.
const RESERVED: [&str; 6] = ["CON", "PRN", "AUX", "NUL", "CONIN$", "CONOUT$"];

/// Why `name` cannot be created under that exact name on Windows, or `None`.
///
/// Refused: everything [`browse::name_problem`] refuses, names that are not
/// UTF-8 (Windows names are Unicode), control characters, `< > : " | ? *`
/// (`:` would address a drive or an alternate data stream), a trailing `.` or
/// space (Windows strips them, so the entry would land under another name), and
/// device names such as `CON`, `nul.txt`, `COM1` or `LPT²` (any case, any
/// extension), which would open a device instead of a file.
pub fn name_problem(name: &[u8]) -> Option<&'static str> {
    if let Some(p) = browse::name_problem(name) {
        return Some(p);
    }
    let Ok(s) = std::str::from_utf8(name) else {
        return Some("is not valid UTF-8");
    };
    if s.contains(':') {
        return Some("contains ':' (a drive or an alternate data stream on Windows)");
    }
    if s.chars().any(|c| c < ' ' || "<>\"|?*".contains(c)) {
        return Some(
            "contains a character that Windows does not allow (< > \" | ? * or a control character)",
        );
    }
    if s.ends_with('.') || s.ends_with(' ') {
        return Some("ends with '.' or ' ' (Windows would drop it)");
    }
    if is_device_name(s) {
        return Some("is a reserved Windows device name");
    }
    None
}

/// True for `CON`, `aux.txt`, `Com1 .log`, `LPT³` and the like.
fn is_device_name(s: &str) -> bool {
    let stem = s.split('.').next().unwrap_or("").trim_end_matches(' ');
    let upper = stem.to_ascii_uppercase();
    if RESERVED.contains(&upper.as_str()) {
        return true;
    }
    let Some(num) = upper
        .strip_prefix("COM")
        .or_else(|| upper.strip_prefix("LPT"))
    else {
        return false;
    };
    let mut chars = num.chars();
    matches!(
        (chars.next(), chars.next()),
        (Some('0'..='9' | '¹' | '²' | '³'), None)
    )
}

/// kopia's form of an absolute Windows source path (Go's `filepath.Clean`):
/// `\` separators, no repeated separators, `.` and `..` resolved lexically, no
/// trailing separator except at the root (`C:\`). Verbatim `\\?\` paths are
/// kept as they are.
pub fn clean_source_path(path: &str) -> String {
    if path.starts_with(r"\\?\") {
        return path.to_string();
    }
    let p = path.replace('/', "\\");
    let (volume, rest) = split_volume(&p);
    let rooted = rest.starts_with('\\');
    let mut parts: Vec<&str> = Vec::new();
    for c in rest.split('\\') {
        match c {
            "" | "." => {}
            ".." => {
                if parts.last().is_some_and(|l| *l != "..") {
                    parts.pop();
                } else if !rooted {
                    parts.push("..");
                }
            }
            c => parts.push(c),
        }
    }
    let mut out = volume.to_string();
    if rooted {
        out.push('\\');
    }
    out.push_str(&parts.join("\\"));
    if out.is_empty() { ".".to_string() } else { out }
}

/// Splits off a drive (`C:`) or UNC (`\\server\share`) volume.
fn split_volume(p: &str) -> (&str, &str) {
    let b = p.as_bytes();
    if b.len() >= 2 && b[1] == b':' && b[0].is_ascii_alphabetic() {
        return p.split_at(2);
    }
    if let Some(unc) = p.strip_prefix(r"\\") {
        let server_end = unc.find('\\').map_or(unc.len(), |i| i + 1);
        let share_end = unc[server_end..]
            .find('\\')
            .map_or(unc.len(), |i| server_end + i);
        return p.split_at(2 + share_end);
    }
    ("", p)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hostile_names_are_refused() {
        for bad in [
            &b"a:b"[..],
            b"C:",
            b"file:stream",
            b"a*",
            b"a?",
            b"a<b",
            b"a>b",
            b"a|b",
            b"a\"b",
            b"tab\tname",
            b"\x01",
            b"dot.",
            b"space ",
            b"..",
            b".",
            b"",
            b"a\\b",
            b"a/b",
            b"nul\0",
            b"\xff\xfe",
            b"CON",
            b"con",
            b"Con.txt",
            b"nul.tar.gz",
            b"AUX ",
            b"aux .txt",
            b"PRN",
            b"COM1",
            b"com9.log",
            b"LPT0",
            b"lpt5.x",
            b"COM\xc2\xb9", // COM¹
            b"LPT\xc2\xb3.txt",
            b"CONIN$",
            b"conout$.log",
        ] {
            assert!(
                name_problem(bad).is_some(),
                "{:?} should be refused",
                String::from_utf8_lossy(bad)
            );
        }
    }

    #[test]
    fn ordinary_names_are_accepted() {
        for good in [
            &b"file.txt"[..],
            b".hidden",
            b"..x",
            b"CONSOLE",
            b"COM10",
            b"LPT",
            b"xCON",
            b"con_x.txt",
            b"COMx",
            b"a b",
            b" leading",
            b"caf\xc3\xa9",
            b"emoji \xf0\x9f\x98\x80",
            b".vmdp-restore-0011223344556677.tmp",
        ] {
            assert_eq!(
                name_problem(good),
                None,
                "{:?} should be accepted",
                String::from_utf8_lossy(good)
            );
        }
    }

    #[test]
    fn problems_say_why() {
        assert!(name_problem(b"x:y").unwrap().contains("':'"));
        assert!(name_problem(b"lpt1").unwrap().contains("device"));
        assert!(name_problem(b"a.").unwrap().contains("ends with"));
    }

    #[test]
    fn source_paths_are_cleaned_like_go() {
        let c = clean_source_path;
        assert_eq!(c(r"C:\Users\alice"), r"C:\Users\alice");
        assert_eq!(c(r"C:\Users\alice\"), r"C:\Users\alice");
        assert_eq!(c("C:/Users//alice/./docs/../pics"), r"C:\Users\alice\pics");
        assert_eq!(c(r"C:\"), r"C:\");
        assert_eq!(c("C:/"), r"C:\");
        assert_eq!(c(r"C:\.."), r"C:\");
        assert_eq!(c(r"\\server\share\dir\"), r"\\server\share\dir");
        assert_eq!(c(r"\\server\share"), r"\\server\share");
        assert_eq!(c(r"\\?\C:\x\..\y"), r"\\?\C:\x\..\y");
        assert_eq!(c(""), ".");
    }
}
