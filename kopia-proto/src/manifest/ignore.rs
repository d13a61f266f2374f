//! `.gitignore`-style ignore rules exactly as kopia v0.23.1 evaluates them
//! (`internal/wcmatch`, used by `fs/ignorefs` for `files.ignore` policy rules and
//! `.kopiaignore` files; object-format §9.5).
//!
//! Kopia's matcher has quirks that decide which files end up in a snapshot, so they are
//! reproduced rather than "fixed": a single `*` may cross one `/` in some positions,
//! `[[:class:]]` is only recognised near the start of a pattern, patterns of up to two
//! bytes are not trimmed, and paths and patterns are compared as Go runes (every invalid
//! UTF-8 byte becomes U+FFFD). Matching is case-sensitive, as kopia always uses it.
//!
//! A rule is created relative to the directory that defines it ([`IgnoreRule::new`] with
//! the directory's path from the snapshot root, `""` for the root, `/a/b` below it) and
//! matched against paths of the form `/a/b/name`.

use unicode_general_category::{GeneralCategory as Gc, get_general_category};

/// Why an ignore pattern cannot be parsed (kopia rejects the whole rule source).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum IgnoreError {
    /// A `\` at the end of the pattern (or of a `[...]` sequence).
    #[error(
        "invalid pattern {0:?}: end of line found after '\\' character; use '\\\\' for a literal backslash"
    )]
    EscapeAtEnd(String),
    /// A `[` without its closing `]`.
    #[error("invalid pattern {0:?}: unterminated sequence, expected ']'")]
    Unterminated(String),
    /// `[[:name:]]` with a class kopia does not know.
    #[error("invalid pattern {pattern:?}: unrecognized character class [:{class}:]")]
    UnknownClass {
        /// The pattern.
        pattern: String,
        /// The class name found.
        class: String,
    },
}

/// Decodes bytes into characters like Go's `[]rune(string)`: every byte that is not part
/// of a valid UTF-8 sequence becomes one U+FFFD.
pub fn go_runes(bytes: &[u8]) -> Vec<char> {
    let mut out = Vec::with_capacity(bytes.len());
    for chunk in bytes.utf8_chunks() {
        out.extend(chunk.valid().chars());
        out.extend(chunk.invalid().iter().map(|_| char::REPLACEMENT_CHARACTER));
    }
    out
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Class {
    Alnum,
    Alpha,
    Ascii,
    Blank,
    Cntrl,
    Digit,
    Graph,
    Lower,
    Print,
    Punct,
    Space,
    Upper,
    Xdigit,
}

fn is_letter(c: char) -> bool {
    matches!(
        get_general_category(c),
        Gc::UppercaseLetter
            | Gc::LowercaseLetter
            | Gc::TitlecaseLetter
            | Gc::ModifierLetter
            | Gc::OtherLetter
    )
}

fn is_digit(c: char) -> bool {
    get_general_category(c) == Gc::DecimalNumber
}

fn is_punct_or_symbol(c: char) -> bool {
    use Gc::*;
    matches!(
        get_general_category(c),
        ConnectorPunctuation
            | DashPunctuation
            | OpenPunctuation
            | ClosePunctuation
            | InitialPunctuation
            | FinalPunctuation
            | OtherPunctuation
            | MathSymbol
            | CurrencySymbol
            | ModifierSymbol
            | OtherSymbol
    )
}

/// Go's `unicode.IsGraphic` without Zs (letters, marks, numbers, punctuation, symbols).
fn is_lmnps(c: char) -> bool {
    use Gc::*;
    is_letter(c)
        || is_punct_or_symbol(c)
        || matches!(
            get_general_category(c),
            NonspacingMark
                | SpacingMark
                | EnclosingMark
                | DecimalNumber
                | LetterNumber
                | OtherNumber
        )
}

impl Class {
    fn from_name(name: &str) -> Option<Class> {
        Some(match name {
            "alnum" => Class::Alnum,
            "alpha" => Class::Alpha,
            "ascii" => Class::Ascii,
            "blank" => Class::Blank,
            "cntrl" => Class::Cntrl,
            "digit" => Class::Digit,
            "graph" => Class::Graph,
            "lower" => Class::Lower,
            "print" => Class::Print,
            "punct" => Class::Punct,
            "space" => Class::Space,
            "upper" => Class::Upper,
            "xdigit" => Class::Xdigit,
            _ => return None,
        })
    }

    /// The Go `unicode` predicate kopia uses for the class.
    fn matches(self, c: char) -> bool {
        match self {
            Class::Alnum => is_letter(c) || is_digit(c),
            Class::Alpha => is_letter(c),
            Class::Ascii => (c as u32) <= 127,
            Class::Blank => c == '\t' || get_general_category(c) == Gc::SpaceSeparator,
            Class::Cntrl => c.is_control(),
            Class::Digit => is_digit(c),
            Class::Graph => is_lmnps(c) || get_general_category(c) == Gc::SpaceSeparator,
            Class::Lower => get_general_category(c) == Gc::LowercaseLetter,
            Class::Print => is_lmnps(c) || c == ' ',
            Class::Punct => is_punct_or_symbol(c),
            Class::Space => c.is_whitespace(),
            Class::Upper => get_general_category(c) == Gc::UppercaseLetter,
            Class::Xdigit => c.is_ascii_hexdigit() || is_digit(c),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum SeqItem {
    Rune(char),
    Range(char, char),
    Class(Class),
}

impl SeqItem {
    fn matches(&self, c: char) -> bool {
        match *self {
            SeqItem::Rune(r) => c == r,
            SeqItem::Range(a, b) => c >= a && c <= b,
            SeqItem::Class(k) => k.matches(c),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Token {
    Rune(char),
    DirSep,
    AnyChar,
    Star { double: bool },
    Seq { items: Vec<SeqItem>, negated: bool },
}

/// A cursor over runes with Go `runeScanner` semantics: out-of-range peeks and NUL
/// both read as `'\0'`, which also stops [`Scanner::read`] from advancing.
struct Scanner<'a> {
    text: &'a [char],
    pos: isize,
}

impl Scanner<'_> {
    fn peek(&self, i: isize) -> char {
        let at = self.pos + i;
        if at < 0 {
            return '\0';
        }
        self.text.get(at as usize).copied().unwrap_or('\0')
    }

    fn read(&mut self) -> char {
        let c = self.peek(0);
        if c != '\0' {
            self.pos += 1;
        }
        c
    }

    fn eos(&self) -> bool {
        self.pos >= self.text.len() as isize
    }

    fn rest(&self) -> &[char] {
        let start = usize::try_from(self.pos).unwrap_or(0);
        self.text.get(start..).unwrap_or(&[])
    }

    /// Index of `ch` relative to the current position, -1 when absent.
    fn index_of(&self, ch: char) -> isize {
        if self.eos() {
            return -1;
        }
        index_of(self.rest(), ch)
    }
}

fn index_of(s: &[char], ch: char) -> isize {
    s.iter().position(|&c| c == ch).map_or(-1, |i| i as isize)
}

/// One ignore rule (a line of a `.kopiaignore` file or an entry of `files.ignore`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IgnoreRule {
    pattern: String,
    tokens: Vec<Token>,
    dir_only: bool,
    negated: bool,
}

impl IgnoreRule {
    /// Parses `pattern` defined in the directory `base_dir` (path from the snapshot root:
    /// `""` for the root, `/a/b` below it), as kopia's `NewWildcardMatcher`.
    pub fn new(pattern: &[u8], base_dir: &[u8]) -> Result<Self, IgnoreError> {
        let mut pat = pattern;
        if pat.len() > 2 && pat[pat.len() - 2] != b'\\' {
            pat = trim_space(pat);
        }
        let pattern_string = String::from_utf8_lossy(pat).into_owned();
        let mut base = base_dir;
        if base.len() > 1 && base.ends_with(b"/") {
            base = &base[..base.len() - 1];
        }
        let mut text = go_runes(pat);
        let mut tokens = Vec::new();
        let mut p = Scanner {
            text: &text,
            pos: 0,
        };
        while p.peek(0).is_whitespace() {
            p.read();
        }
        let negated = p.peek(0) == '!';
        if negated {
            p.read();
        }
        let rooted = p.peek(0) == '/';
        if !base.is_empty() && !pat.is_empty() {
            for ch in go_runes(base) {
                tokens.push(if ch == '/' {
                    Token::DirSep
                } else {
                    Token::Rune(ch)
                });
            }
            if !rooted {
                tokens.push(Token::DirSep);
            }
        }
        let first_slash = p.index_of('/');
        if !rooted && pat != b"**" && !pat.is_empty() {
            if first_slash == -1 || first_slash == text.len() as isize - 1 - p.pos {
                tokens.push(Token::Star { double: true });
                tokens.push(Token::DirSep);
            } else if base.is_empty() {
                tokens.push(Token::DirSep);
            }
        }
        let pos = p.pos;
        let dir_only = text.last() == Some(&'/');
        if dir_only {
            text.pop();
        }
        let mut p = Scanner { text: &text, pos };
        let err_escape = || IgnoreError::EscapeAtEnd(pattern_string.clone());
        let err_unterminated = || IgnoreError::Unterminated(pattern_string.clone());
        loop {
            let ch = p.read();
            match ch {
                '\0' => break,
                '\\' => {
                    if p.eos() {
                        return Err(err_escape());
                    }
                    tokens.push(Token::Rune(p.read()));
                }
                '?' => tokens.push(Token::AnyChar),
                '/' => tokens.push(Token::DirSep),
                '*' => {
                    if p.peek(0) == '*' {
                        let prev = p.peek(-2);
                        while p.peek(0) == '*' {
                            p.read();
                        }
                        if prev == '\0' || (prev == '/' && (p.peek(0) == '/' || p.eos())) {
                            tokens.push(Token::Star { double: true });
                            continue;
                        }
                    }
                    tokens.push(Token::Star { double: false });
                }
                '[' => {
                    let mut ch = p.read();
                    let negated_seq = ch == '!';
                    if negated_seq {
                        ch = p.read();
                    }
                    let mut items = Vec::new();
                    while ch != ']' && ch != '\0' {
                        if ch == '\\' {
                            ch = p.read();
                            if ch == '\0' {
                                return Err(err_escape());
                            }
                        }
                        if p.peek(0) == '-' && p.peek(1) != ']' && p.peek(1) != '\0' {
                            p.read();
                            let mut end = p.read();
                            if end == '\\' {
                                end = p.read();
                                if end == '\0' {
                                    return Err(err_escape());
                                }
                            }
                            items.push(SeqItem::Range(ch, end));
                        } else if ch == '[' && p.peek(0) == ':' {
                            let close = p.index_of(']');
                            if close == -1 {
                                return Err(err_unterminated());
                            }
                            // Kopia compares the relative index with the absolute position
                            // here, so classes are only recognised near the pattern start.
                            if close - 1 <= p.pos || p.peek(close - 1) != ':' {
                                items.push(SeqItem::Rune(ch));
                            } else {
                                let from = (p.pos + 1) as usize;
                                let to = (p.pos + close - 1) as usize;
                                let name: String = text
                                    .get(from..to)
                                    .unwrap_or(&[])
                                    .iter()
                                    .flat_map(|c| c.to_lowercase())
                                    .collect();
                                p.pos += close + 1;
                                let class = Class::from_name(&name).ok_or_else(|| {
                                    IgnoreError::UnknownClass {
                                        pattern: pattern_string.clone(),
                                        class: name.clone(),
                                    }
                                })?;
                                items.push(SeqItem::Class(class));
                            }
                        } else {
                            items.push(SeqItem::Rune(ch));
                        }
                        ch = p.read();
                    }
                    if ch != ']' {
                        return Err(err_unterminated());
                    }
                    tokens.push(Token::Seq {
                        items,
                        negated: negated_seq,
                    });
                }
                other => tokens.push(Token::Rune(other)),
            }
        }
        Ok(IgnoreRule {
            pattern: pattern_string,
            tokens,
            dir_only,
            negated,
        })
    }

    /// The pattern as parsed (after kopia's whitespace trimming).
    pub fn pattern(&self) -> &str {
        &self.pattern
    }

    /// True for a rule starting with `!` (re-includes what earlier rules excluded).
    pub fn negated(&self) -> bool {
        self.negated
    }

    /// True for a rule ending with `/` (applies to directories only).
    pub fn dir_only(&self) -> bool {
        self.dir_only
    }

    /// Kopia's `Match`: for a normal rule, whether `path` (runes of `/dir/name`) is
    /// excluded by it; for a negated rule, whether it stays excluded (false = re-included).
    pub fn matches(&self, path: &[char], is_dir: bool) -> bool {
        if self.dir_only && !is_dir {
            return self.negated;
        }
        (do_match(&self.tokens, path) == MatchResult::Match) != self.negated
    }
}

fn trim_space(b: &[u8]) -> &[u8] {
    // Go's strings.TrimSpace: Unicode White_Space at both ends; an invalid UTF-8 byte
    // (U+FFFD) is not space and stops the trimming.
    let first_char = |s: &[u8]| -> Option<(char, usize)> {
        let chunk = s.utf8_chunks().next()?;
        let c = chunk.valid().chars().next()?;
        Some((c, c.len_utf8()))
    };
    let last_char = |s: &[u8]| -> Option<(char, usize)> {
        (1..=4.min(s.len())).find_map(|k| {
            let tail = std::str::from_utf8(&s[s.len() - k..]).ok()?;
            let mut cs = tail.chars();
            let c = cs.next()?;
            cs.next().is_none().then_some((c, k))
        })
    };
    let mut start = 0;
    while let Some((c, n)) = first_char(&b[start..]) {
        if !c.is_whitespace() {
            break;
        }
        start += n;
    }
    let mut end = b.len();
    while end > start {
        match last_char(&b[start..end]) {
            Some((c, n)) if c.is_whitespace() => end -= n,
            _ => break,
        }
    }
    &b[start..end]
}

/// Applies `rules` in order to an entry whose state so far is `ignored` (the verdict of
/// the enclosing directories' rules), as kopia's `shouldIncludeByName`: once excluded
/// only negated rules are consulted and vice versa; the last applicable rule decides.
pub fn apply_rules<'a, I>(mut ignored: bool, rules: I, path: &[char], is_dir: bool) -> bool
where
    I: IntoIterator<Item = &'a IgnoreRule>,
{
    for r in rules {
        if ignored == r.negated {
            ignored = r.matches(path, is_dir);
        }
    }
    ignored
}

/// Parses a dot-ignore file (`.kopiaignore`) found in `base_dir` like kopia: lines split
/// at `\n` (a trailing `\r` dropped), lines starting with `#` and blank lines skipped.
/// As in kopia, reading stops silently at a line longer than 64 KiB.
pub fn parse_ignore_file(data: &[u8], base_dir: &[u8]) -> Result<Vec<IgnoreRule>, IgnoreError> {
    const MAX_LINE: usize = 64 * 1024 - 1;
    let mut rules = Vec::new();
    let mut rest = data;
    while !rest.is_empty() {
        let (mut line, next) = match rest.iter().position(|&c| c == b'\n') {
            Some(i) => (&rest[..i], &rest[i + 1..]),
            None => (rest, &[][..]),
        };
        rest = next;
        if line.len() > MAX_LINE {
            break;
        }
        if let [head @ .., b'\r'] = line {
            line = head;
        }
        if line.starts_with(b"#") || trim_space(line).is_empty() {
            continue;
        }
        rules.push(IgnoreRule::new(line, base_dir)?);
    }
    Ok(rules)
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum MatchResult {
    Match,
    NoMatch,
    AbortAll,
    AbortToDoubleStar,
}

fn do_match(tokens: &[Token], text: &[char]) -> MatchResult {
    let mut t = Scanner { text, pos: 0 };
    let mut pi = 0;
    while pi < tokens.len() {
        let tch = t.peek(0);
        let token = &tokens[pi];
        let is_star = matches!(token, Token::Star { .. });
        if t.eos() && !is_star {
            return MatchResult::AbortAll;
        }
        match token {
            Token::Rune(c) => {
                if tch != *c {
                    return MatchResult::NoMatch;
                }
            }
            Token::DirSep => {
                if tch != '/' {
                    return MatchResult::NoMatch;
                }
            }
            Token::AnyChar => {
                if tch == '/' {
                    return MatchResult::NoMatch;
                }
            }
            Token::Star { double } => {
                let double = *double;
                if pi == tokens.len() - 1 {
                    if !double && index_of(t.rest(), '/') != -1 {
                        return MatchResult::NoMatch;
                    }
                    return MatchResult::Match;
                }
                let next_is_sep = matches!(tokens.get(pi + 1), Some(Token::DirSep));
                if double
                    && pi + 2 < tokens.len()
                    && next_is_sep
                    && do_match(&tokens[pi + 2..], t.rest()) == MatchResult::Match
                {
                    return MatchResult::Match;
                }
                if !double && next_is_sep {
                    let slash = index_of(t.rest(), '/');
                    if slash == -1 {
                        return MatchResult::NoMatch;
                    }
                    t.pos += slash - 1;
                } else {
                    let mut tch = tch;
                    while !t.eos() {
                        let r = do_match(&tokens[pi + 1..], t.rest());
                        if r != MatchResult::NoMatch {
                            if !double || r != MatchResult::AbortToDoubleStar {
                                return r;
                            }
                        } else if !double && tch == '/' {
                            return MatchResult::AbortToDoubleStar;
                        }
                        tch = t.read();
                    }
                    return MatchResult::AbortAll;
                }
            }
            Token::Seq { items, negated } => {
                let hit = items.iter().any(|i| i.matches(tch));
                if hit == *negated {
                    return MatchResult::NoMatch;
                }
            }
        }
        pi += 1;
        t.read();
    }
    if t.eos() {
        MatchResult::Match
    } else {
        MatchResult::NoMatch
    }
}

#[cfg(test)]
#[path = "ignore_tests.rs"]
mod tests;
