//! `ci check` run for real on a small Cargo workspace, GitHub annotations
//! and the step summary in CI, and the repository's workflows under
//! actionlint. `ci build|publish|deploy` against the servers are in
//! `deploy.rs`, beside the project they release.

use std::path::{Path, PathBuf};

use crate::harness::Repo;

/// The harness project, made a Cargo workspace of one small library.
fn rust_project() -> Repo {
    let repo = Repo::project();
    repo.write(
        "Cargo.toml",
        "[package]\nname = \"demo\"\nversion = \"0.1.0\"\nedition = \"2021\"\n\n[workspace]\n",
    );
    repo.write(
        "src/lib.rs",
        "pub fn double(x: u32) -> u32 {\n    x * 2\n}\n\n#[test]\nfn doubles() {\n    assert_eq!(double(2), 4);\n}\n",
    );
    repo.write(".gitignore", "/services/*/*.env\n/target\n");
    repo.commit();
    repo
}

fn summary_path(repo: &Repo) -> PathBuf {
    repo.path().join(".home/step-summary.md")
}

fn ci_vars(summary: &Path) -> [(&'static str, String); 2] {
    [("CI", "true".to_string()), ("GITHUB_STEP_SUMMARY", summary.display().to_string())]
}

#[test]
fn ci_check_runs_the_checks_clippy_and_tests_and_annotates_what_fails() {
    let repo = rust_project();
    let summary = summary_path(&repo);
    std::fs::create_dir_all(summary.parent().unwrap()).unwrap();
    let vars = ci_vars(&summary);
    let vars: Vec<(&str, &str)> = vars.iter().map(|(k, v)| (*k, v.as_str())).collect();

    let run = repo.xtask_with(&["ci", "check"], &vars).success();
    for line in [
        "ok    fmt               cargo fmt --check: formatted\n",
        "ok    clippy            no warnings\n",
        "ok    tests             cargo test --workspace passed\n",
    ] {
        assert!(run.stdout.contains(line), "missing {line:?} in\n{}", run.stdout);
    }
    assert!(run.stdout.contains("\nci check: 8 checks passed in "), "{}", run.stdout);
    // Clippy's verdict is printed before the tests start, not after them.
    let clippy = run.stdout.find("ok    clippy ").unwrap();
    assert!(clippy < run.stdout.find("running cargo test").unwrap(), "{}", run.stdout);
    let text = std::fs::read_to_string(&summary).unwrap();
    assert!(text.starts_with("### `cargo xtask ci check`: passed in "), "{text}");
    assert!(text.contains("| clippy | no warnings |\n| tests | cargo test --workspace passed |\n"), "{text}");

    // A lint: the stage fails, and the annotation lands on the line.
    repo.write("src/lib.rs", "pub fn double(x: u32) -> u32 {\n    let unused = 1;\n    x * 2\n}\n");
    let run = repo.xtask_with(&["ci", "check", "--no-tests"], &vars).failure();
    assert!(run.stdout.contains("FAIL  clippy            cargo clippy found problems\n"), "{}", run.stdout);
    let annotation = run
        .stdout
        .lines()
        .find(|l| l.starts_with("::error file=src/lib.rs,line=2,col=9,title=cargo xtask ci check::"))
        .unwrap_or_else(|| panic!("no annotation on src/lib.rs:2 in\n{}", run.stdout));
    assert!(annotation.contains("unused variable: `unused`"), "{annotation}");
    assert!(!run.stdout.contains("tests "), "--no-tests ran the tests:\n{}", run.stdout);
    let text = std::fs::read_to_string(&summary).unwrap();
    assert!(text.contains("### `cargo xtask ci check`: failed in "), "{text}");
    assert!(text.contains("error: ci check: 1 of 7 checks failed:"), "{text}");

    // A failing test fails the stage too.
    repo.write(
        "src/lib.rs",
        "pub fn double(x: u32) -> u32 {\n    x * 3\n}\n\n#[test]\nfn doubles() {\n    assert_eq!(double(2), 4);\n}\n",
    );
    let run = repo.xtask(&["ci", "check"]).failure();
    assert!(run.stdout.contains("FAIL  tests             cargo test --workspace failed\n"), "{}", run.stdout);
    assert!(!run.stdout.contains("::error"), "annotations outside CI:\n{}", run.stdout);
}

#[test]
fn in_ci_a_located_error_is_annotated_on_its_line() {
    let repo = Repo::project();
    repo.write("templates/web.env.j2", "API_IMAGE={{ images.api }}\nMODE={{ values.mode }}\n");
    let plain = repo.xtask(&["render", "--env", "dev"]).failure();
    assert_eq!(plain.stdout, "");
    let run = repo.xtask_with(&["render", "--env", "dev"], &[("CI", "true")]).failure();
    assert_eq!(run.stderr, plain.stderr, "CI changes what is printed to stderr");
    assert_eq!(
        run.stdout,
        "::error file=templates/web.env.j2,line=2,title=cargo xtask render::undefined value: `values.mode` is \
         undefined\n\
         ::error title=cargo xtask render::1 template problem found, nothing was written:%0A  \
         templates/web.env.j2:2: undefined value: `values.mode` is undefined\n"
    );
}

/// The repository's own workflows, where the tool is developed.
fn workflows() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../.github/workflows")
}

#[test]
fn the_workflows_pass_actionlint() {
    let out = crate::tools::tool("actionlint")
        .current_dir(workflows().join("../.."))
        .arg("-no-color")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "actionlint:\n{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn the_release_workflow_uses_oidc_one_deploy_at_a_time_and_only_xtask() {
    let text = std::fs::read_to_string(workflows().join("release.yml")).unwrap();
    for needed in [
        "  id-token: write",
        "on:\n  workflow_run:\n    workflows: [ci]\n    types: [completed]\n",
        "      github.event.workflow_run.conclusion == 'success' &&\n",
        "          ref: ${{ github.event.workflow_run.head_sha }}\n",
        "role-to-assume: ${{ vars.AWS_DEPLOY_ROLE_ARN }}",
        "concurrency:\n  group: deploy-prod\n  cancel-in-progress: false\n",
        "      - id: matrix\n        run: cargo xtask ci matrix --env prod\n",
        "    strategy:\n      matrix: ${{ fromJSON(needs.plan.outputs.matrix) }}\n",
        "      - run: cargo xtask ci publish --env prod --service ${{ matrix.service }}\n",
        "    needs: [plan, publish]\n",
        "      - run: cargo xtask ci deploy --env prod\n",
    ] {
        assert!(text.contains(needed), "release.yml lacks {needed:?}");
    }
    for long_lived in ["aws-access-key-id", "aws-secret-access-key", "AWS_SECRET_ACCESS_KEY"] {
        assert!(!text.contains(long_lived), "release.yml uses long-lived keys ({long_lived})");
    }
    for file in ["ci.yml", "release.yml"] {
        let text = std::fs::read_to_string(workflows().join(file)).unwrap();
        // Every step that runs a command runs `cargo xtask`, apart from
        // installing what the runner lacks.
        // One-line commands, with or without a step name before them.
        let one_line = |l: &&str| {
            let l = l.trim_start();
            (l.starts_with("- run: ") || l.starts_with("run: ")) && !l.ends_with('|')
        };
        for line in text.lines().filter(one_line) {
            let command = line.trim_start().trim_start_matches("- ").trim_start_matches("run: ");
            assert!(
                command.starts_with("cargo xtask ") || command.starts_with("sudo apt-get install "),
                "{file}: a step runs `{command}`"
            );
        }
    }
}
