//! The shape of the tool's source: modules that only look down (no cycle
//! between the top-level modules, and none but `main` using the commands in
//! `tasks`), and no source file over 400 lines.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

fn sources(dir: &Path, found: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            sources(&path, found);
        } else if path.extension().is_some_and(|e| e == "rs") {
            found.push(path);
        }
    }
}

fn src() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("src")
}

/// Test code may reach anywhere: files of tests and test doubles, and
/// inline `mod tests` blocks, are left out.
fn is_test_code(relative: &Path) -> bool {
    let name = relative.file_name().unwrap().to_string_lossy();
    name == "tests.rs" || name == "fake.rs" || relative.components().any(|c| c.as_os_str() == "tests")
}

/// Which top-level modules each top-level module names (`crate::x`).
fn uses() -> BTreeMap<String, BTreeSet<String>> {
    let mut files = Vec::new();
    sources(&src(), &mut files);
    let mut uses: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for file in files {
        let relative = file.strip_prefix(src()).unwrap().to_path_buf();
        if is_test_code(&relative) {
            continue;
        }
        let first = relative.components().next().unwrap().as_os_str().to_string_lossy().to_string();
        let module = first.trim_end_matches(".rs").to_string();
        let text = std::fs::read_to_string(&file).unwrap();
        let code = match text.find("#[cfg(test)]\nmod tests {") {
            Some(at) => &text[..at],
            None => &text,
        };
        let named = uses.entry(module.clone()).or_default();
        for (at, _) in code.match_indices("crate::") {
            let rest = &code[at + "crate::".len()..];
            let name: String = rest.chars().take_while(|c| c.is_ascii_lowercase() || *c == '_').collect();
            if !name.is_empty() && name != module {
                named.insert(name);
            }
        }
    }
    uses
}

/// A cycle through `from`, as a path of modules, if there is one.
fn cycle_from(uses: &BTreeMap<String, BTreeSet<String>>, from: &str) -> Option<Vec<String>> {
    fn walk(
        uses: &BTreeMap<String, BTreeSet<String>>,
        path: &mut Vec<String>,
        seen: &mut BTreeSet<String>,
        from: &str,
    ) -> bool {
        let last = path.last().unwrap().clone();
        for next in uses.get(&last).into_iter().flatten() {
            if next == from {
                path.push(next.clone());
                return true;
            }
            if seen.insert(next.clone()) {
                path.push(next.clone());
                if walk(uses, path, seen, from) {
                    return true;
                }
                path.pop();
            }
        }
        false
    }
    let mut path = vec![from.to_string()];
    walk(uses, &mut path, &mut BTreeSet::new(), from).then_some(path)
}

#[test]
fn modules_only_look_down() {
    let uses = uses();
    assert!(uses.len() > 30, "the source was read: {uses:?}");
    for module in uses.keys() {
        if let Some(cycle) = cycle_from(&uses, module) {
            panic!("import cycle: {}", cycle.join(" -> "));
        }
    }
    let using_tasks: Vec<&String> =
        uses.iter().filter(|(_, named)| named.contains("tasks")).map(|(m, _)| m).collect();
    assert_eq!(using_tasks, Vec::<&String>::new(), "only main.rs runs the commands");
    // The check itself finds a cycle when there is one.
    let mut with_cycle = uses.clone();
    with_cycle.entry("plan".to_string()).or_default().insert("executor".to_string());
    assert!(cycle_from(&with_cycle, "plan").is_some());
}

#[test]
fn no_source_file_is_over_400_lines() {
    let mut files = Vec::new();
    sources(&src(), &mut files);
    let long: Vec<String> = files
        .iter()
        .filter_map(|file| {
            let lines = std::fs::read_to_string(file).unwrap().lines().count();
            (lines > 400).then(|| format!("{} ({lines} lines)", file.display()))
        })
        .collect();
    assert!(files.len() > 50, "the source was read");
    assert_eq!(long, Vec::<String>::new());
}
