//! `docs/errors.md` and the tests agree: every row of the error catalogue
//! names a test that exists and checks the words the row quotes.

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
        // `a::b::tests::name` is in xtask/src/a/b.rs (or a/b/mod.rs).
        [modules @ .., "tests", name] if !modules.is_empty() => {
            let base = root.join("xtask/src").join(modules.join("/"));
            let file = base.with_extension("rs");
            (if file.exists() { file } else { base.join("mod.rs") }, *name)
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
            Ok(body) if body.contains(words) => {}
            Ok(_) => problems.push(format!("{situation}: `{test}` does not check the words {words:?}")),
            Err(e) => problems.push(format!("{situation}: {e}")),
        }
    }
    assert!(problems.is_empty(), "docs/errors.md disagrees with the tests:\n{}", problems.join("\n"));
    assert!(rows >= 30, "only {rows} rows were read from docs/errors.md");
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
