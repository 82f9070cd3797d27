//! `.dockerignore` as Docker reads and matches it.
//!
//! Reading follows the CLI's ignore-file rules (moby/patternmatcher's
//! `ignorefile`): a UTF-8 byte order mark is dropped, a `#` in the first column
//! starts a comment, whitespace around a pattern and after a leading `!` is
//! trimmed, and each pattern is cleaned like Go's `filepath.Clean` with one
//! leading `/` removed. Matching follows patternmatcher: a pattern becomes an
//! exact name, a prefix (`dir/**`), a suffix (`**/name`) or a regular
//! expression built the same way Docker builds it, so odd patterns such as
//! `[!x]` (a class of `!` and `x`: Go has no `!` negation) or `a**b` behave as
//! they do with `docker build`. The regular expressions run on regex-lite,
//! whose searches take time linear in the path for a given pattern.

use std::fmt;
use std::path::Path;

use anyhow::{bail, Result};

/// The patterns of one ignore file, in order: the last that matches decides.
#[derive(Debug, Default)]
pub(crate) struct Patterns {
    patterns: Vec<Pattern>,
}

#[derive(Debug)]
pub(crate) struct Pattern {
    /// The cleaned pattern, without its `!`.
    text: String,
    exclusion: bool,
    matcher: Matcher,
}

#[derive(Debug)]
enum Matcher {
    Exact,
    /// `dir/**`: anything starting with the text before the `**`.
    Prefix(String),
    /// `**/name` or `**name`: anything ending with the text after the `**`.
    Suffix(String),
    Regex(regex_lite::Regex),
}

/// Which patterns matched a folder, handed down to what is inside it:
/// Docker does not match a pattern again below a folder it matched.
#[derive(Clone, Debug, Default)]
pub(crate) struct ParentMatches(Vec<bool>);

/// A pattern Docker would refuse, with where it came from.
#[derive(Debug)]
pub(crate) struct PatternError {
    pub(crate) line: usize,
    pub(crate) pattern: String,
    pub(crate) reason: &'static str,
}

impl fmt::Display for PatternError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "line {}: `{}`: {}", self.line, self.pattern, self.reason)
    }
}

impl Patterns {
    /// Reads an ignore file's text; `file` only names it in errors.
    pub(crate) fn read(text: &[u8], file: &Path) -> Result<Patterns> {
        match Patterns::parse(text) {
            Ok(patterns) => Ok(patterns),
            Err(e) => bail!(
                "{}: {e}; Docker refuses this pattern too: fix it, or escape the character with `\\`",
                file.display()
            ),
        }
    }

    pub(crate) fn parse(text: &[u8]) -> Result<Patterns, PatternError> {
        let text = text.strip_prefix(b"\xef\xbb\xbf").unwrap_or(text);
        let text = String::from_utf8_lossy(text);
        let mut patterns = Vec::new();
        // Go's line scanner: lines end at \n, and a \r before it is dropped.
        for (index, raw) in text.split('\n').enumerate() {
            let line = raw.strip_suffix('\r').unwrap_or(raw);
            if line.starts_with('#') {
                continue;
            }
            let trimmed = line.trim();
            if trimmed.is_empty() {
                continue;
            }
            let (exclusion, rest) = match trimmed.strip_prefix('!') {
                Some(rest) => (true, rest.trim()),
                None => (false, trimmed),
            };
            let error = |reason| PatternError { line: index + 1, pattern: trimmed.to_string(), reason };
            if rest.is_empty() {
                if exclusion {
                    return Err(error("a `!` needs a pattern after it"));
                }
                continue;
            }
            let mut cleaned = clean(rest);
            if cleaned.len() > 1 && cleaned.starts_with('/') {
                cleaned.remove(0);
            }
            check_syntax(&cleaned).map_err(error)?;
            let matcher = compile(&cleaned).map_err(error)?;
            patterns.push(Pattern { text: cleaned, exclusion, matcher });
        }
        Ok(Patterns { patterns })
    }

    /// Adds `!path` so that a file Docker always needs (the Dockerfile, the
    /// ignore file) is sent even when a pattern ignores it, as the CLI does.
    pub(crate) fn keep(&mut self, path: &str) {
        if self.matches_or_parent(path) {
            self.patterns.push(Pattern { text: path.to_string(), exclusion: true, matcher: Matcher::Exact });
        }
    }

    pub(crate) fn has_exclusions(&self) -> bool {
        self.patterns.iter().any(|p| p.exclusion)
    }

    /// Whether an ignored folder must still be walked: only when an
    /// exclusion pattern starts, as text, with the folder's path. A glob such
    /// as `!**/keep.txt` does not reach into it (Docker's rule).
    pub(crate) fn reaches_into(&self, folder: &str) -> bool {
        let folder = format!("{folder}/");
        self.patterns.iter().any(|p| p.exclusion && format!("{}/", p.text).starts_with(&folder))
    }

    /// Whether `path` (slash-separated, relative to the context) is ignored,
    /// given what matched its folder; returns what to hand to its children.
    pub(crate) fn matches(&self, path: &str, parent: &ParentMatches) -> (bool, ParentMatches) {
        let mut ignored = false;
        let mut hits = vec![false; self.patterns.len()];
        for (i, pattern) in self.patterns.iter().enumerate() {
            let mut hit = parent.0.get(i).copied().unwrap_or(false);
            if !hit {
                if pattern.exclusion != ignored {
                    continue;
                }
                hit = pattern.is_match(path);
                // Without what the folders matched (a path at the top, or
                // one looked at alone), its folders are tried one by one.
                if !hit && parent.0.is_empty() {
                    hit = ancestors(path).any(|folder| pattern.is_match(folder));
                }
            }
            hits[i] = hit;
            if hit {
                ignored = !pattern.exclusion;
            }
        }
        (ignored, ParentMatches(hits))
    }

    /// Whether a path looked at on its own is ignored.
    pub(crate) fn matches_or_parent(&self, path: &str) -> bool {
        self.matches(path, &ParentMatches::default()).0
    }
}

impl Pattern {
    fn is_match(&self, path: &str) -> bool {
        match &self.matcher {
            Matcher::Exact => path == self.text,
            Matcher::Prefix(prefix) => path.starts_with(prefix.as_str()),
            Matcher::Suffix(suffix) => {
                path.ends_with(suffix.as_str()) || suffix.strip_prefix('/').is_some_and(|rest| path == rest)
            }
            Matcher::Regex(regex) => regex.is_match(path),
        }
    }
}

/// `a`, `a/b`, ... for `a/b/c`: the folders above a path, outermost first.
fn ancestors(path: &str) -> impl Iterator<Item = &str> {
    path.match_indices('/').map(move |(at, _)| &path[..at])
}

/// Go's `filepath.Clean` on a slash-separated path.
pub(crate) fn clean(path: &str) -> String {
    let rooted = path.starts_with('/');
    let mut parts: Vec<&str> = Vec::new();
    for part in path.split('/') {
        match part {
            "" | "." => {}
            ".." => {
                if parts.last().is_some_and(|last| *last != "..") {
                    parts.pop();
                } else if !rooted {
                    parts.push("..");
                }
            }
            other => parts.push(other),
        }
    }
    let joined = parts.join("/");
    match (rooted, joined.is_empty()) {
        (true, _) => format!("/{joined}"),
        (false, true) => ".".to_string(),
        (false, false) => joined,
    }
}

/// patternmatcher's translation of a pattern, kept step for step: `**`
/// spans folders, `*` and `?` stay within one, brackets pass through to the
/// regular expression as they are, and some regex characters are escaped.
/// The kind of match is whatever the last step decided, as in Docker: a
/// leading `**` makes a suffix match even when plain text follows it.
fn compile(pattern: &str) -> Result<Matcher, &'static str> {
    #[derive(PartialEq)]
    enum Kind {
        Exact,
        Prefix,
        Suffix,
        Regex,
    }
    let chars: Vec<char> = pattern.chars().collect();
    let mut regex = String::from("^");
    let mut kind = Kind::Exact;
    let mut i = 0;
    let mut first = true;
    while i < chars.len() {
        let c = chars[i];
        i += 1;
        match c {
            '*' if chars.get(i) == Some(&'*') => {
                i += 1;
                if chars.get(i) == Some(&'/') {
                    i += 1;
                }
                if i == chars.len() {
                    if kind == Kind::Exact {
                        kind = Kind::Prefix;
                    } else {
                        regex.push_str(".*");
                        kind = Kind::Regex;
                    }
                } else {
                    regex.push_str("(.*/)?");
                    kind = Kind::Regex;
                }
                if first {
                    kind = Kind::Suffix;
                }
            }
            '*' => {
                regex.push_str("[^/]*");
                kind = Kind::Regex;
            }
            '?' => {
                regex.push_str("[^/]");
                kind = Kind::Regex;
            }
            '.' | '+' | '(' | ')' | '|' | '{' | '}' | '$' => {
                regex.push('\\');
                regex.push(c);
            }
            '\\' => match chars.get(i) {
                Some(&next) => {
                    i += 1;
                    regex.push('\\');
                    regex.push(next);
                    kind = Kind::Regex;
                }
                None => regex.push('\\'),
            },
            '[' | ']' => {
                regex.push(c);
                kind = Kind::Regex;
            }
            other => regex.push(other),
        }
        first = false;
    }
    match kind {
        Kind::Exact => Ok(Matcher::Exact),
        Kind::Prefix => Ok(Matcher::Prefix(pattern[..pattern.len() - 2].to_string())),
        Kind::Suffix => Ok(Matcher::Suffix(pattern[2..].to_string())),
        Kind::Regex => {
            regex.push('$');
            regex_lite::Regex::new(&for_regex_lite(&regex))
                .map(Matcher::Regex)
                .map_err(|_| "not a pattern Docker can compile (check the brackets and escapes)")
        }
    }
}

/// Rewrites a Go (RE2) expression for regex-lite where the two read the same
/// text differently: inside a class, Go takes `[` as a plain character
/// (unless it opens `[:name:]`), regex-lite as a nested class; and an escaped
/// punctuation character is written as its code so any of them is accepted.
fn for_regex_lite(go: &str) -> String {
    let chars: Vec<char> = go.chars().collect();
    let mut out = String::with_capacity(go.len());
    let mut in_class = false;
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        match c {
            '\\' if i + 1 < chars.len() => {
                let next = chars[i + 1];
                if next.is_ascii_alphanumeric() {
                    out.push('\\');
                    out.push(next);
                } else {
                    out.push_str(&format!("\\x{{{:X}}}", next as u32));
                }
                i += 2;
                continue;
            }
            '[' if in_class => {
                let rest: String = chars[i..].iter().collect();
                if let Some(end) = rest.strip_prefix("[:").and_then(|r| r.find(":]")) {
                    out.push_str(&rest[..end + 4]);
                    i += rest[..end + 4].chars().count();
                    continue;
                }
                out.push_str("\\x{5B}");
            }
            '[' => {
                in_class = true;
                out.push('[');
                if chars.get(i + 1) == Some(&'^') {
                    out.push('^');
                    i += 1;
                }
            }
            ']' if in_class => {
                in_class = false;
                out.push(']');
            }
            '&' | '~' if in_class => out.push_str(&format!("\\x{{{:X}}}", c as u32)),
            other => out.push(other),
        }
        i += 1;
    }
    out
}

mod syntax;

use syntax::check_syntax;

#[cfg(test)]
mod tests;
