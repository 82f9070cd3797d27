use std::collections::BTreeSet;
use std::fs;

use proptest::prelude::*;
use serde::Deserialize;

use super::*;
use crate::context::Builder;

/// Cases whose expected file sets were taken from the real docker CLI (see
/// xtask/tests/dockerignore/record.py for how).
const CASES: &str = include_str!("../../tests/dockerignore/cases.json");

#[derive(Deserialize)]
struct Recorded {
    tree: Vec<String>,
    cases: Vec<Case>,
}

#[derive(Deserialize)]
struct Case {
    name: String,
    patterns: String,
    #[serde(default)]
    bom: bool,
    dockerfile: Option<String>,
    ignore_file: Option<String>,
    files: Option<Vec<String>>,
    error: Option<String>,
}

/// What `COPY . /ctx/` sees of a context. For the classic builder: what
/// is sent, less the Dockerfile and the ignore file when a pattern ignores
/// them (its engine side reads them, then drops them). For BuildKit through
/// the API: what is sent.
fn copied(root: &Path, dockerfile: &str, builder: Builder) -> anyhow::Result<BTreeSet<String>> {
    let selection = crate::context::select(root, dockerfile, builder)?;
    let ignore = crate::context::ignore_file(root, dockerfile);
    let patterns = match &ignore {
        Some(path) => Patterns::parse(&fs::read(path)?).unwrap(),
        None => Patterns::default(),
    };
    Ok(selection
        .entries
        .iter()
        .filter(|p| root.join(p).is_file())
        .map(|p| p.to_string_lossy().into_owned())
        .filter(|p| {
            builder == Builder::BuildKit
                || !((p == dockerfile || p == ".dockerignore") && patterns.matches_or_parent(p))
        })
        .collect())
}

#[test]
fn contexts_hold_what_the_docker_cli_sends() {
    let recorded: Recorded = serde_json::from_str(CASES).unwrap();
    assert!(recorded.cases.len() >= 25);
    let mut failures = Vec::new();
    for case in &recorded.cases {
        let dir = tempfile::tempdir().unwrap();
        for path in &recorded.tree {
            let full = dir.path().join(path);
            fs::create_dir_all(full.parent().unwrap()).unwrap();
            fs::write(full, format!("{path}\n")).unwrap();
        }
        let dockerfile = case.dockerfile.as_deref().unwrap_or("Dockerfile");
        fs::write(dir.path().join(dockerfile), "FROM scratch\nCOPY . /ctx/\n").unwrap();
        let mut bytes = case.patterns.as_bytes().to_vec();
        if case.bom {
            bytes.splice(0..0, *b"\xef\xbb\xbf");
        }
        // As recorded: the classic CLI read .dockerignore; BuildKit reads
        // `<Dockerfile>.dockerignore` instead, holding the same patterns here,
        // beside a .dockerignore that ignores nothing.
        match &case.ignore_file {
            Some(file) => {
                fs::write(dir.path().join(file), &bytes).unwrap();
                fs::write(dir.path().join(".dockerignore"), "# nothing\n").unwrap();
            }
            None => fs::write(dir.path().join(".dockerignore"), &bytes).unwrap(),
        }
        for builder in [Builder::Classic, Builder::BuildKit] {
            let got = copied(dir.path(), dockerfile, builder);
            match (&case.files, &case.error, got) {
                (Some(files), _, Ok(got)) => {
                    let mut want: BTreeSet<String> = files.iter().cloned().collect();
                    if case.ignore_file.is_some() {
                        // The classic CLI sent the patterns' own .dockerignore;
                        // here that file is the one that ignores nothing.
                        want.insert(".dockerignore".to_string());
                    }
                    if builder == Builder::BuildKit && !want.contains(dockerfile) {
                        // The one difference: BuildKit through the API sees the Dockerfile.
                        want.insert(dockerfile.to_string());
                    }
                    if got != want {
                        let missing: Vec<_> = want.difference(&got).collect();
                        let extra: Vec<_> = got.difference(&want).collect();
                        failures.push(format!(
                            "{} ({builder:?}): missing {missing:?}, extra {extra:?}",
                            case.name
                        ));
                    }
                }
                (None, Some(_), Err(_)) => {}
                (_, error, got) => {
                    failures.push(format!("{} ({builder:?}): docker said {error:?}, here {got:?}", case.name))
                }
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn patterns_are_read_as_the_cli_reads_them() {
    let patterns =
        Patterns::parse(b"\xef\xbb\xbf# comment\n  #not-a-comment  \n! keep\n/src/../build/\n").unwrap();
    let texts: Vec<(&str, bool)> = patterns.patterns.iter().map(|p| (p.text.as_str(), p.exclusion)).collect();
    assert_eq!(texts, [("#not-a-comment", false), ("keep", true), ("build", false)]);
    let err = Patterns::parse(b"a\n!\n").unwrap_err();
    assert_eq!((err.line, err.pattern.as_str()), (2, "!"));
    assert_eq!(clean("./a/../../b/"), "../b");
    assert_eq!(clean("/../a"), "/a");
    assert_eq!(clean(""), ".");
}

#[test]
fn regex_lite_reads_the_expressions_as_go_does() {
    assert_eq!(for_regex_lite(r"^[[^/]*]$"), r"^[\x{5B}^/]*]$");
    assert_eq!(for_regex_lite(r"^\!\.txt$"), r"^\x{21}\x{2E}txt$");
    assert_eq!(for_regex_lite(r"^[[:alpha:]&&x]$"), r"^[[:alpha:]\x{26}\x{26}x]$");
    let star_in_brackets = Patterns::parse(b"[*].txt\n").unwrap();
    // Go reads `[[^/]*]` as a class of `[`, `^`, `/` repeated, then `]`.
    assert!(star_in_brackets.matches_or_parent("[^].txt"));
    assert!(!star_in_brackets.matches_or_parent("a.txt"));
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 24, ..ProptestConfig::default() })]

    /// Matching a path as the walk does (its folder's results in hand)
    /// costs at most pattern x path steps (regex-lite's bound; the exact
    /// kinds do one comparison): a 20,000-character path against any
    /// pattern of up to 40 characters takes a moment, where exponential
    /// backtracking (`*a*a*a*a*b` on a run of `a`) would not finish.
    #[test]
    fn matching_takes_linear_time(
        pattern in "([a*?/]|\\*\\*|\\[a-c\\]){1,40}",
        unit in "[ab/]{1,3}",
    ) {
        if let Ok(patterns) = Patterns::parse(pattern.as_bytes()) {
            let path = unit.repeat(20_000 / unit.len());
            let started = std::time::Instant::now();
            let folder_results = ParentMatches(vec![false; patterns.patterns.len()]);
            let _ = patterns.matches(&path, &folder_results);
            prop_assert!(started.elapsed() < std::time::Duration::from_secs(5), "{pattern} took {:?}", started.elapsed());
        }
    }
}
