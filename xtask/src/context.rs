//! The build context: the files `.dockerignore` lets through, sent to the
//! engine as a tar stream that is produced while it is sent, so a context of
//! any size costs a few chunks of memory.

use std::fs;
use std::io::{self, Write};
use std::path::{Path, PathBuf};

use anyhow::{Context as _, Result};
use bytes::Bytes;
use tokio::sync::mpsc;

/// Size of one chunk on its way to the engine, and how many may wait.
const CHUNK: usize = 256 * 1024;
const CHUNKS_IN_FLIGHT: usize = 4;

/// `.dockerignore` rules, matched the way the docker CLI does: the last rule
/// that matches a path (or one of its parent folders) decides, and `!` rules
/// let a path back in.
#[derive(Debug, Default)]
pub(crate) struct Ignore {
    rules: Vec<Rule>,
}

#[derive(Debug)]
struct Rule {
    segments: Vec<String>,
    include: bool,
}

impl Ignore {
    pub(crate) fn load(context: &Path) -> Result<Ignore> {
        let path = context.join(".dockerignore");
        match fs::read_to_string(&path) {
            Ok(text) => Ok(Ignore::parse(&text)),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(Ignore::default()),
            Err(e) => Err(e).with_context(|| format!("read {}", path.display())),
        }
    }

    pub(crate) fn parse(text: &str) -> Ignore {
        let rules = text
            .lines()
            .map(str::trim)
            .filter(|line| !line.is_empty() && !line.starts_with('#'))
            .map(|line| {
                let (include, pattern) = match line.strip_prefix('!') {
                    Some(rest) => (true, rest.trim()),
                    None => (false, line),
                };
                let segments =
                    pattern.split('/').filter(|s| !s.is_empty() && *s != ".").map(str::to_string).collect();
                Rule { segments, include }
            })
            .filter(|rule: &Rule| !rule.segments.is_empty())
            .collect();
        Ignore { rules }
    }

    /// Whether a path relative to the context is left out.
    pub(crate) fn excludes(&self, relative: &str) -> bool {
        let parts: Vec<&str> = relative.split('/').collect();
        let mut excluded = false;
        for rule in &self.rules {
            // A rule matches the path itself or any folder above it.
            let hit = (1..=parts.len()).any(|n| matches(&rule.segments, &parts[..n]));
            if hit {
                excluded = !rule.include;
            }
        }
        excluded
    }

    /// Whether a folder may be skipped without looking inside: it is
    /// excluded and no `!` rule could let something below it back in.
    fn prunes(&self, relative: &str) -> bool {
        let parts: Vec<&str> = relative.split('/').collect();
        self.excludes(relative)
            && !self.rules.iter().any(|rule| rule.include && could_match_below(&rule.segments, &parts))
    }
}

/// Matches path segments against pattern segments; `**` spans any number of
/// segments, and `*`, `?` work within one segment.
fn matches(pattern: &[String], path: &[&str]) -> bool {
    wildcard(
        pattern,
        path,
        |segment| segment == "**",
        |segment, part| glob(segment.as_bytes(), part.as_bytes()),
    )
}

/// Whether a pattern could match some path inside the folder `dir`.
fn could_match_below(pattern: &[String], dir: &[&str]) -> bool {
    match (pattern.split_first(), dir.split_first()) {
        (Some((first, _)), _) if first == "**" => true,
        (Some((first, rest)), Some((part, dir_rest))) => {
            glob(first.as_bytes(), part.as_bytes()) && could_match_below(rest, dir_rest)
        }
        // The folder is deeper than the pattern: nothing below it matches.
        (None, Some(_)) => false,
        // The pattern goes deeper than the folder: it may match inside.
        (_, None) => true,
    }
}

/// One unit of a segment pattern: `*`, `?`, or a byte (`\\x` is `x` itself).
#[derive(Clone, Copy, PartialEq)]
enum Token {
    Star,
    Any,
    Byte(u8),
}

fn glob(pattern: &[u8], text: &[u8]) -> bool {
    let mut tokens = Vec::with_capacity(pattern.len());
    let mut i = 0;
    while i < pattern.len() {
        tokens.push(match pattern[i] {
            b'*' => Token::Star,
            b'?' => Token::Any,
            b'\\' if i + 1 < pattern.len() => {
                i += 1;
                Token::Byte(pattern[i])
            }
            byte => Token::Byte(byte),
        });
        i += 1;
    }
    wildcard(&tokens, text, |t| *t == Token::Star, |t, byte| *t == Token::Any || *t == Token::Byte(*byte))
}

/// Wildcard matching where a star spans any run of units and every other
/// token matches one unit. Greedy, going back only to the last star seen,
/// so it takes at most pattern x text steps: a rule like `*a*a*a*a*b` in a
/// `.dockerignore` cannot stall a build, as naive backtracking would.
fn wildcard<P, T>(
    pattern: &[P],
    text: &[T],
    is_star: impl Fn(&P) -> bool,
    one: impl Fn(&P, &T) -> bool,
) -> bool {
    let (mut p, mut t) = (0, 0);
    // Where to resume after the last star: its pattern position and the text it has eaten up to.
    let mut resume: Option<(usize, usize)> = None;
    while t < text.len() {
        if p < pattern.len() && is_star(&pattern[p]) {
            resume = Some((p + 1, t));
            p += 1;
        } else if p < pattern.len() && one(&pattern[p], &text[t]) {
            p += 1;
            t += 1;
        } else if let Some((after_star, eaten)) = resume {
            // Let the star eat one more unit and try again from there.
            resume = Some((after_star, eaten + 1));
            p = after_star;
            t = eaten + 1;
        } else {
            return false;
        }
    }
    pattern[p..].iter().all(is_star)
}

/// The files of a context, relative to it and sorted, that the build sees.
/// The Dockerfile and `.dockerignore` always go, as with the docker CLI.
pub(crate) fn files(context: &Path, dockerfile: &str) -> Result<Vec<PathBuf>> {
    let ignore = Ignore::load(context)?;
    let mut out = Vec::new();
    walk(context, Path::new(""), &ignore, dockerfile, &mut out)?;
    out.sort();
    Ok(out)
}

fn walk(
    root: &Path,
    relative: &Path,
    ignore: &Ignore,
    dockerfile: &str,
    out: &mut Vec<PathBuf>,
) -> Result<()> {
    let dir = root.join(relative);
    let entries =
        fs::read_dir(&dir).with_context(|| format!("read build context folder {}", dir.display()))?;
    for entry in entries {
        let entry = entry?;
        let path = relative.join(entry.file_name());
        let name = path.to_string_lossy();
        let kind = entry.file_type()?;
        if kind.is_dir() {
            if !ignore.prunes(&name) {
                if !ignore.excludes(&name) {
                    out.push(path.clone());
                }
                walk(root, &path, ignore, dockerfile, out)?;
            }
        } else if !ignore.excludes(&name) || name == dockerfile || name == ".dockerignore" {
            out.push(path);
        }
    }
    Ok(())
}

/// Starts writing the context as a tar on a blocking thread and returns the
/// chunks as they come, plus the writer's result.
pub(crate) fn stream(
    context: PathBuf,
    files: Vec<PathBuf>,
) -> (mpsc::Receiver<io::Result<Bytes>>, tokio::task::JoinHandle<Result<u64>>) {
    let (sender, receiver) = mpsc::channel(CHUNKS_IN_FLIGHT);
    let writer = tokio::task::spawn_blocking(move || {
        let mut sink = ChunkSender { sender: sender.clone(), buffer: Vec::with_capacity(CHUNK), sent: 0 };
        let result = write_tar(&context, &files, &mut sink);
        if let Err(e) = &result {
            // The engine must see the stream fail, not a short but valid tar.
            let _ = sender.blocking_send(Err(io::Error::other(format!("{e:#}"))));
        }
        result.map(|()| sink.sent)
    });
    (receiver, writer)
}

fn write_tar(context: &Path, files: &[PathBuf], sink: &mut ChunkSender) -> Result<()> {
    let mut tar = tar::Builder::new(&mut *sink);
    // Symbolic links go in as links (the base image's applets are links).
    tar.follow_symlinks(false);
    for file in files {
        let full = context.join(file);
        tar.append_path_with_name(&full, file)
            .with_context(|| format!("add {} to the build context", full.display()))?;
    }
    tar.finish().context("finish the build context")?;
    drop(tar);
    sink.flush().context("send the build context")?;
    Ok(())
}

struct ChunkSender {
    sender: mpsc::Sender<io::Result<Bytes>>,
    buffer: Vec<u8>,
    sent: u64,
}

impl Write for ChunkSender {
    fn write(&mut self, data: &[u8]) -> io::Result<usize> {
        self.buffer.extend_from_slice(data);
        if self.buffer.len() >= CHUNK {
            self.flush()?;
        }
        Ok(data.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        if self.buffer.is_empty() {
            return Ok(());
        }
        let chunk = std::mem::replace(&mut self.buffer, Vec::with_capacity(CHUNK));
        self.sent += chunk.len() as u64;
        self.sender.blocking_send(Ok(Bytes::from(chunk))).map_err(|_| {
            io::Error::new(io::ErrorKind::BrokenPipe, "the engine stopped reading the build context")
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn last_matching_rule_wins_and_parents_count() {
        let ignore = Ignore::parse("*\n!bin/\n# comment\n");
        assert!(ignore.excludes("src"));
        assert!(ignore.excludes("src/main.rs"));
        assert!(!ignore.excludes("bin"));
        assert!(!ignore.excludes("bin/demo-api"));
    }

    #[test]
    fn double_star_spans_folders() {
        let ignore = Ignore::parse("**/*.log\nnode_modules\n!keep.log\n");
        assert!(ignore.excludes("a/b/c.log"));
        assert!(ignore.excludes("c.log"));
        assert!(!ignore.excludes("keep.log"));
        assert!(ignore.excludes("node_modules/x/index.js"));
        assert!(!ignore.excludes("src/node_modules.rs"));
    }

    #[test]
    fn globs_match_like_docker_and_never_backtrack_without_end() {
        assert!(glob(b"*.log", b"a.log"));
        assert!(!glob(b"*.log", b"a.lo"));
        assert!(glob(b"a?c", b"abc"));
        assert!(glob(b"a\\*c", b"a*c"));
        assert!(!glob(b"a\\*c", b"abc"));
        assert!(glob(b"*", b""));
        assert!(glob(b"a*b*c", b"aXbYbZc"));
        // Found by the property tests: naive backtracking took exponential time here.
        let rule = "*a".repeat(20) + "b";
        assert!(!glob(rule.as_bytes(), "a".repeat(60).as_bytes()));
        let ignore = Ignore::parse(&("**/a/".repeat(15) + "b"));
        assert!(!ignore.excludes(&"a/".repeat(40)));
        assert!(Ignore::parse("**/a/**/b").excludes("x/a/y/z/b"));
    }

    #[test]
    fn excluded_folders_are_pruned_unless_a_rule_reaches_inside() {
        let ignore = Ignore::parse("*\n!bin/\n!web/dist/**\n");
        assert!(ignore.prunes("target"));
        assert!(!ignore.prunes("web"));
        assert!(ignore.prunes("web/node_modules"));
    }

    #[test]
    fn files_honour_dockerignore_but_keep_the_dockerfile() {
        let dir = tempfile::tempdir().unwrap();
        for (path, text) in [
            ("Dockerfile", "FROM scratch\n"),
            (".dockerignore", "*\n!bin/\n"),
            ("bin/app", "x"),
            ("src/main.rs", ""),
        ] {
            let full = dir.path().join(path);
            fs::create_dir_all(full.parent().unwrap()).unwrap();
            fs::write(full, text).unwrap();
        }
        let files = files(dir.path(), "Dockerfile").unwrap();
        let names: Vec<_> = files.iter().map(|p| p.to_string_lossy().into_owned()).collect();
        assert_eq!(names, [".dockerignore", "Dockerfile", "bin", "bin/app"]);
    }
}
