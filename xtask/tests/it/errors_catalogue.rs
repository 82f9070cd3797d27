//! `docs/errors.md` and the tests agree: every row of the error catalogue
//! names a test that exists and asserts the words the row quotes: they must
//! stand in an assertion (or in a variable an assertion reads), not merely
//! somewhere in the test's text.

use std::fs;
use std::path::Path;

/// The first code span of a Markdown table cell (`x` or ``x with `ticks` ``).
fn code_span(cell: &str) -> Option<&str> {
    let start = cell.find('`')?;
    let ticks = cell[start..].len() - cell[start..].trim_start_matches('`').len();
    let fence = "`".repeat(ticks);
    let rest = &cell[start + ticks..];
    let end = rest.find(&fence)?;
    Some(rest[..end].trim())
}

/// The source of a test function, found by its path: `file::name` for an
/// integration test, `module::tests::name` for a unit test.
fn test_body(root: &Path, path: &str) -> Result<String, String> {
    let parts: Vec<&str> = path.split("::").collect();
    let (file, name) = match parts.as_slice() {
        [file, name] => (root.join(format!("xtask/tests/it/{file}.rs")), *name),
        // `a::b::tests::name` is in xtask/src/a/b/tests.rs, or inline in a/b.rs (or a/b/mod.rs).
        [modules @ .., "tests", name] if !modules.is_empty() => {
            let base = root.join("xtask/src").join(modules.join("/"));
            let candidates = [base.join("tests.rs"), base.with_extension("rs"), base.join("mod.rs")];
            let file = candidates.iter().find(|f| f.exists()).unwrap_or(&candidates[0]).clone();
            (file, *name)
        }
        _ => return Err(format!("`{path}` is not `file::test` nor `module::tests::test`")),
    };
    let source = fs::read_to_string(&file).map_err(|e| format!("{}: {e}", file.display()))?;
    let signature = format!("fn {name}() {{");
    let start = source.find(&signature).ok_or_else(|| format!("no test `{name}` in {}", file.display()))?;
    let end = source[start..].find("\n}\n").map_or(source.len(), |e| start + e);
    let preceding = &source[..start];
    if !preceding.trim_end().ends_with("#[test]") {
        return Err(format!("`{name}` in {} is not a #[test]", file.display()));
    }
    Ok(source[start..end].to_string())
}

/// What checks a run's output: the assertion macros, and the harness's
/// `fails_with` (which asserts the exact error).
const ASSERTIONS: [&str; 4] = ["assert!(", "assert_eq!(", "assert_ne!(", "fails_with("];

/// Where the statement holding byte `at` begins: rustfmt puts each
/// statement on lines of its own, so it starts after a line ending in `;`,
/// `{` or `}`, or after a comment or a blank line.
fn statement_start(body: &str, at: usize) -> usize {
    let mut start = body[..at].rfind('\n').map_or(0, |i| i + 1);
    while start > 0 {
        let previous_start = body[..start - 1].rfind('\n').map_or(0, |i| i + 1);
        let previous = body[previous_start..start - 1].trim();
        if previous.is_empty() || previous.starts_with("//") || previous.ends_with([';', '{', '}']) {
            break;
        }
        start = previous_start;
    }
    start
}

/// Whether `words` stand in an assertion of `body`: inside the statement
/// of an assertion, or in the text a `let` binds (a literal, a `format!`, or
/// a closure that makes it) whose name a later assertion reads.
fn asserted(body: &str, words: &str) -> bool {
    let in_assertion = |text: &str, at: usize| {
        let line_start = text[..at].rfind('\n').map_or(0, |i| i + 1);
        if text[line_start..at].trim_start().starts_with("//") {
            return false;
        }
        // Commented-out lines assert nothing.
        let statement: Vec<&str> = text[statement_start(text, at)..at]
            .lines()
            .filter(|l| !l.trim_start().starts_with("//"))
            .collect();
        ASSERTIONS.iter().any(|a| statement.iter().any(|l| l.contains(a)))
    };
    body.match_indices(words).any(|(at, _)| {
        if in_assertion(body, at) {
            return true;
        }
        let Some(name) = binding(body, statement_start(body, at)) else { return false };
        let after = &body[at..];
        after.match_indices(name.as_str()).any(|(use_at, _)| in_assertion(after, use_at))
    })
}

/// The name a statement starting at `start` binds the expected text to:
/// `let expected = "..."` or `= format!(...)`, or, for a statement inside a
/// closure, `let refusal = |...| {` on the line before.
fn binding(body: &str, start: usize) -> Option<String> {
    let name_of = |line: &str| -> Option<(String, String)> {
        let rest = line.trim_start().strip_prefix("let ")?;
        let name: String = rest.chars().take_while(|c| c.is_alphanumeric() || *c == '_').collect();
        let value = rest.split_once('=')?.1.trim_start().to_string();
        (!name.is_empty()).then_some((name, value))
    };
    let line = &body[start..body[start..].find('\n').map_or(body.len(), |e| start + e)];
    if let Some((name, value)) = name_of(line) {
        let literal =
            ["\"", "r#\"", "format!(", "&format!(", "concat!("].iter().any(|p| value.starts_with(p));
        return literal.then_some(name);
    }
    let previous_start = body[..start.checked_sub(1)?].rfind('\n').map_or(0, |i| i + 1);
    let previous = body[previous_start..start - 1].trim();
    let (name, value) = name_of(previous)?;
    (value.starts_with('|') && previous.ends_with('{')).then_some(name)
}

#[test]
fn every_row_is_checked_by_its_test() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap();
    let catalogue = fs::read_to_string(root.join("docs/errors.md")).unwrap();
    let mut rows = 0;
    let mut problems = Vec::new();
    for line in catalogue.lines().filter(|l| l.starts_with("| ") && !l.starts_with("| situation")) {
        let cells: Vec<&str> = line.trim_matches('|').split(" | ").map(str::trim).collect();
        let [situation, says, _remedy, test] = cells[..] else {
            problems.push(format!("not a four-column row: {line}"));
            continue;
        };
        rows += 1;
        let (Some(words), Some(test)) = (code_span(says), code_span(test)) else {
            problems.push(format!("{situation}: the message and the test must be in backticks"));
            continue;
        };
        match test_body(root, test) {
            Ok(body) if asserted(&body, words) => {}
            Ok(body) if body.contains(words) => problems
                .push(format!("{situation}: `{test}` has the words {words:?} but no assertion checks them")),
            Ok(_) => problems.push(format!("{situation}: `{test}` does not check the words {words:?}")),
            Err(e) => problems.push(format!("{situation}: {e}")),
        }
    }
    assert!(problems.is_empty(), "docs/errors.md disagrees with the tests:\n{}", problems.join("\n"));
    assert!(rows >= 30, "only {rows} rows were read from docs/errors.md");
}

#[test]
fn words_count_only_inside_an_assertion() {
    let body = "fn t() {\n    let run = repo.xtask(&[\"go-now\"]).failure();\n    // no such thing: a comment\n    \
                assert!(\n        run.stderr.contains(\"a wrong port\"),\n        \"{}\",\n        run.stderr\n    );\n    \
                let expected = \"kept for later\";\n    other(1);\n    assert_eq!(run.stdout, expected);\n    \
                let unused = \"never read\";\n    fails_with(&repo, &[\"x\"], \"the exact error\\n\");\n}";
    assert!(asserted(body, "a wrong port"));
    assert!(asserted(body, "kept for later"));
    assert!(asserted(body, "the exact error"));
    assert!(!asserted(body, "no such thing"), "a comment asserts nothing");
    assert!(!asserted(body, "never read"), "a variable no assertion reads");
    assert!(!asserted(body, "go-now"), "an argument of the run, whose output is asserted");
    let commented = "fn t() {\n    // assert!(run.stderr.contains(\"was checked once\"));\n}";
    assert!(!asserted(commented, "was checked once"), "an assertion commented out");
    let closure = "fn t() {\n    let refusal = |name: &str| {\n        format!(\n            \"{name}: looks like a key\"\n        \
                   )\n    };\n    assert!(run.stderr.contains(&refusal(\"A\")));\n}";
    assert!(asserted(closure, "looks like a key"));
}

#[test]
fn the_checker_reads_code_spans_and_finds_tests() {
    assert_eq!(code_span("`a b`"), Some("a b"));
    assert_eq!(code_span("``unknown key `x`, expected`` "), Some("unknown key `x`, expected"));
    assert_eq!(code_span("not an error: `note: x` here"), Some("note: x"));
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap();
    assert!(test_body(root, "model_errors::no_such_test").is_err());
    assert!(test_body(root, "errors_catalogue::code_span").is_err(), "a helper is not a test");
    assert!(test_body(root, "model_errors::malformed_toml").unwrap().contains("invalid basic string"));
    assert!(test_body(root, "taskdef::schema::tests::a_sound_definition_passes").is_ok());
    assert!(test_body(root, "taskdef::tests::tags_are_stripped_after_the_last_slash_only").is_ok());
}
