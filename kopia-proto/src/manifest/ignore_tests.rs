use super::*;

/// Matches `path` (a trailing `/` marks a directory) against `pattern` defined at `base`.
fn m(pattern: &str, base: &str, path: &str) -> bool {
    let (path, is_dir) = match path.strip_suffix('/') {
        Some(p) if path.len() > 1 => (p, true),
        _ => (path, false),
    };
    let rule = IgnoreRule::new(pattern.as_bytes(), base.as_bytes())
        .unwrap_or_else(|e| panic!("{pattern:?}: {e}"));
    rule.matches(&go_runes(path.as_bytes()), is_dir)
}

fn check(cases: &[(&str, &str, bool)]) {
    for &(pattern, path, want) in cases {
        assert_eq!(
            m(pattern, "", path),
            want,
            "pattern {pattern:?} path {path:?}"
        );
    }
}

#[test]
fn basics_and_sequences() {
    check(&[
        ("", "", true),
        ("*", "", true),
        ("**", "", true),
        ("b", "a", false),
        ("*.*", "foo.txt", true),
        ("foo\\.txt", "foo.txt", true),
        ("*/", ".git/", true),
        ("ab[cd]", "abc", true),
        ("ab[!de]", "abc", true),
        ("ab[!c]", "abc", false),
        ("[\\\\]", "\\", true),
        ("[!\\\\]", "\\", false),
        ("[-abc]", "-", true),
        ("[abc-]", "-", true),
        ("[[]", "[", true),
        ("[a-z]", "q", true),
        ("[a-\\z]", "q", true),
        ("[a-d]", "e", false),
        ("[a\\-c]", "-", true),
        ("[a\\-c]", "b", false),
        ("[[:]", ":", true),
        ("[[:ab]", "[", true),
        ("[[:ab]", "c", false),
        ("[![:digit:]ab]", "3", false),
        ("[![:digit:]ab]", "c", true),
        ("abc", "AbC", false),
        ("[A-F]", "c", false),
    ]);
}

#[test]
fn wildcards() {
    check(&[
        ("ab*", "abcd", true),
        ("ab*cd", "abxxxcd", true),
        ("ab***cd", "abcd", true),
        ("ab*", "ab/cd", false),
        ("ab**", "ab/cd", false),
        ("?*?", "abc", true),
        ("*???", "abc", true),
        ("??", "a", false),
        ("**", "foo/bar", true),
        ("/a/**/b/foo.txt", "/a/b/c/d/foo.txt", false),
        ("/a/**/b/foo.txt", "/a/b/c/b/foo.txt", true),
        ("/a/**/b/foo.txt", "/a/b/c/b/foo.txt/other", false),
        ("foo/**", "/foo/bar/a/b/c.txt", true),
        ("/foo/**/bar/**/p.txt", "/foo/bar/p.txt", true),
        ("/foo/**/bar/**/p.txt", "/foo/x/x/bar/x/y/p.txt", true),
        ("**/bar/a.txt", "/foo/x/x/bar/a.txt", true),
        ("/users/*/logs", "/users/user1/logs", true),
        ("/users/user?/logs", "/users/user1/logs", true),
    ]);
}

#[test]
fn anchoring_directories_negation_and_trimming() {
    check(&[
        ("bar/a.txt", "/foo/bar/a.txt", false),
        ("bar/a.txt", "/bar/a.txt", true),
        ("*.txt", "/foo/bar/a.txt", true),
        ("/*.txt", "/foo/bar/a.txt", false),
        ("foo/", "/foo", false),
        ("foo/", "/foo/", true),
        ("foo/", "/bar/foo/", true),
        ("foo/", "/foo/bar/", false),
        ("foo/**/bar/", "/foo/xx/yy/bar/", true),
        ("**/", "/foo", false),
        ("**/", "/foo/", true),
        // Negated rules return "still ignored".
        ("!foo", "/bar", true),
        ("!foo", "foo/", false),
        ("!*/", "/foo/bar/", false),
        ("!foo/bar", "/car/foo/bar", true),
        ("  \tfoo", "foo", true),
        ("  foo  ", "foo", true),
        (" foo\\ ", "/foo ", true),
    ]);
}

#[test]
fn base_directory() {
    let cases = [
        ("", "/base/", "", true),
        ("*", "/base", "/foo", false),
        ("**", "/base/", "/foo", false),
        ("*", "/base/", "/base/foo", true),
        ("**", "/base", "/base/foo", true),
        ("*.txt", "/base/", "/other/foo.txt", false),
        ("/src/file.txt", "/base", "/base/src/file.txt", true),
        ("/src/file.txt", "/base", "/other/src/file.txt", false),
        ("**/src/file.txt", "/base", "/base/foo/src/file.txt", true),
        ("src/file.txt", "/base", "/base/foo/src/file.txt", false),
        ("file.txt", "/base", "/base/foo/src/file.txt", true),
        ("file.txt", "/base", "/other/foo/src/file.txt", false),
    ];
    for (pattern, base, path, want) in cases {
        assert_eq!(
            m(pattern, base, path),
            want,
            "{pattern:?} at {base:?} vs {path:?}"
        );
    }
}

#[test]
fn character_classes() {
    check(&[
        ("[[:alnum:]]", "Б", true),
        ("[[:alnum:]]", ".", false),
        ("[[:alpha:]]", "3", false),
        ("[[:ascii:]]", "Б", false),
        ("[[:blank:]]", "\t", true),
        ("[[:blank:]]", "\n", false),
        ("[[:cntrl:]]", "\u{7f}", true),
        ("[[:digit:]]", "٣", true),
        ("[[:graph:]]", " ", true),
        ("[[:print:]]", "\u{a0}", false),
        ("[[:lower:]]", "б", true),
        ("[[:upper:]]", "б", false),
        ("[[:punct:]]", "+", true),
        ("[[:space:]]", "\u{2028}", true),
        ("[[:xdigit:]]", "f", true),
        ("[[:xdigit:]]", "g", false),
        ("[[:ALPHA:]]", "x", true),
    ]);
}

/// Behaviour kopia v0.23.1 has that a textbook `.gitignore` matcher would not.
#[test]
fn kopia_quirks() {
    // A single `*` may cross one directory separator (its `/` check lags a character).
    check(&[("/x*b", "/xa/b", true), ("/x*b", "/xa/c/b", false)]);
    // `[[:class:]]` is only recognised close to the start of the pattern: later it is the
    // literal sequence `[`, `:`, `d`, `i`, `g`, `t`, `:` followed by a literal `]`.
    check(&[
        ("/some/long/path/[[:digit:]]", "/some/long/path/7", false),
        ("/some/long/path/[[:digit:]]", "/some/long/path/d]", true),
    ]);
    // Patterns of at most two bytes are not trimmed.
    assert!(!m("a ", "", "/a"));
    assert!(m("a ", "", "/a "));
    // A trailing escaped space is kept.
    assert!(m("ab\\ ", "", "/ab "));
}

#[test]
fn rule_chains() {
    let rules: Vec<IgnoreRule> = ["*.log", "!keep.log", "tmp/"]
        .iter()
        .map(|p| IgnoreRule::new(p.as_bytes(), b"").unwrap())
        .collect();
    let eval = |path: &str, dir: bool| apply_rules(false, &rules, &go_runes(path.as_bytes()), dir);
    assert!(eval("/a/x.log", false));
    assert!(!eval("/a/keep.log", false));
    assert!(eval("/tmp", true));
    assert!(!eval("/tmp", false));
    assert!(!eval("/a.txt", false));
    // A parent's exclusion is the starting state; a later negation re-includes.
    let neg = [IgnoreRule::new(b"!x.log", b"/a").unwrap()];
    assert!(!apply_rules(true, &neg, &go_runes(b"/a/x.log"), false));
    assert!(apply_rules(true, &neg, &go_runes(b"/b/x.log"), false));
}

#[test]
fn ignore_files() {
    let data = b"# comment\r\n\r\n  \n*.tmp\r\n!/keep.tmp\nsub/\n  spaced  ";
    let rules = parse_ignore_file(data, b"/d").unwrap();
    let pats: Vec<&str> = rules.iter().map(IgnoreRule::pattern).collect();
    assert_eq!(pats, vec!["*.tmp", "!/keep.tmp", "sub/", "spaced"]);
    assert!(rules[0].matches(&go_runes(b"/d/x/y.tmp"), false));
    assert!(!rules[0].matches(&go_runes(b"/e/y.tmp"), false));
    assert!(rules[2].dir_only() && rules[1].negated());
    // A line longer than 64 KiB stops reading, as in kopia.
    let mut long = b"a\n".to_vec();
    long.extend(std::iter::repeat_n(b'x', 70_000));
    long.extend_from_slice(b"\nb\n");
    assert_eq!(parse_ignore_file(&long, b"").unwrap().len(), 1);
    assert!(parse_ignore_file(b"ok\n[bad\n", b"").is_err());
}

#[test]
fn invalid_patterns_are_errors() {
    for bad in [
        "[a",
        "[a-",
        "\\",
        "[\\",
        "[a-\\",
        "[[:alnum",
        "[[:alnum:]",
        "x\\/",
    ] {
        assert!(IgnoreRule::new(bad.as_bytes(), b"").is_err(), "{bad:?}");
    }
    assert!(matches!(
        IgnoreRule::new(b"[[:foobar:]]", b""),
        Err(IgnoreError::UnknownClass { class, .. }) if class == "foobar"
    ));
}

#[test]
fn go_rune_decoding() {
    assert_eq!(
        go_runes(b"a\xF0\x9F\x98b"),
        vec!['a', '\u{fffd}', '\u{fffd}', '\u{fffd}', 'b']
    );
    assert_eq!(go_runes("ä😀".as_bytes()), vec!['ä', '😀']);
    // Invalid UTF-8 in names is matched as U+FFFD.
    assert!(m("bad?name", "", "/bad\u{fffd}name"));
    let rule = IgnoreRule::new(b"bad?name", b"").unwrap();
    assert!(rule.matches(&go_runes(b"/bad\xffname"), false));
}

#[test]
fn hostile_patterns_do_not_panic() {
    for p in [
        "[", "]", "*/", "/", "!", "!/", "**/**/", "[!]", "[]]", "[[:", "[[::]]", "\0a", "a\0",
    ] {
        if let Ok(r) = IgnoreRule::new(p.as_bytes(), b"/b/") {
            for path in ["", "/", "//", "/b", "/b/x", "/b/x/"] {
                let _ = r.matches(&go_runes(path.as_bytes()), true);
                let _ = r.matches(&go_runes(path.as_bytes()), false);
            }
        }
    }
}
