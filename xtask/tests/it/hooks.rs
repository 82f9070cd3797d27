//! `pre-push` and `hooks install|uninstall`: the checks themselves, and a
//! real `git push` to a local bare repository that the installed hook
//! blocks or lets through.

use std::fs;
use std::os::unix::fs::PermissionsExt;

use crate::harness::Repo;

const TASK_TEMPLATE: &str = r#"{
  "family": "demo-{{ service.name }}",
  "containerDefinitions": [{
    "name": "{{ service.name }}",
    "image": "{{ image }}",
    "secrets": [{ "name": "API_TOKEN", "valueFrom": "arn:aws:ssm:us-east-1:000000000000:parameter/api-token" }]
  }]
}
"#;

/// The harness project, with a task definition for `api` and a second
/// environment, and a local bare repository as `origin`.
fn project() -> (Repo, tempfile::TempDir) {
    let repo = Repo::project();
    repo.write("templates/api.task.json.j2", TASK_TEMPLATE);
    repo.write(
        "env/prod.toml",
        &crate::harness::DEV_TOML.replace("cluster = \"local\"", "cluster = \"prod\""),
    );
    repo.commit();
    let remote = tempfile::tempdir().unwrap();
    let out =
        std::process::Command::new("git").args(["init", "-q", "--bare"]).arg(remote.path()).output().unwrap();
    assert!(out.status.success());
    repo.git(&["remote", "add", "origin", remote.path().to_str().unwrap()]);
    (repo, remote)
}

fn remote_head(remote: &tempfile::TempDir) -> Option<String> {
    let out = std::process::Command::new("git")
        .args(["rev-parse", "--verify", "-q", "refs/heads/main"])
        .current_dir(remote.path())
        .output()
        .unwrap();
    out.status.success().then(|| String::from_utf8(out.stdout).unwrap().trim().to_string())
}

fn head(repo: &Repo) -> String {
    String::from_utf8(repo.git(&["rev-parse", "HEAD"]).stdout).unwrap().trim().to_string()
}

#[test]
fn pre_push_passes_on_a_sound_project_without_release_secrets() {
    let (repo, _remote) = project();
    let run = repo.xtask(&["pre-push"]).success();
    let lines: Vec<&str> = run.stdout.lines().collect();
    assert_eq!(
        lines[..6],
        [
            "ok    environments      2 valid: dev, prod",
            "ok    templates         2 environments x 2 services render",
            "ok    task definitions  2 valid: RegisterTaskDefinition's keys and types; no secret in `environment` \
             (by name, by value or by shape), `secrets` referenced by SSM name or ARN or Secrets Manager ARN; images \
             by commit, version tag or digest",
            "ok    env files         none generated yet: nothing to compare",
            "ok    committed secrets no generated env file is tracked",
            "skip  fmt               no Cargo.toml at the project root",
        ]
    );
    assert!(lines[6].starts_with("pre-push: 6 checks passed in "), "{}", run.stdout);
    assert_eq!(run.stderr, "");
    // -q: checks that pass say nothing.
    assert_eq!(repo.xtask(&["pre-push", "-q"]).success().stdout, "");
}

#[test]
fn pre_push_names_each_broken_thing_and_changes_nothing() {
    let (repo, _remote) = project();
    repo.xtask(&["dev-env"]).success();
    // A stale env file, a template with an undefined value, and a secret
    // written into a task definition: three checks fail, each on its own line.
    repo.write("env/dev.toml", &crate::harness::DEV_TOML.replace("hello", "bonjour"));
    repo.write("templates/web.env.j2", "API_IMAGE={{ images.api }}\nMODE={{ values.mode }}\n");
    repo.write(
        "templates/api.task.json.j2",
        r#"{"family": "demo-api", "containerDefinitions": [{"name": "api", "image": "{{ image }}",
            "command": ["serve", "--token", "{{ secret('API_TOKEN') }}"]}]}"#,
    );
    let before = repo.snapshot();
    let run = repo.xtask_with(&["pre-push"], &[("API_TOKEN", "tok-very-secret-1")]).failure();
    assert!(repo.snapshot() == before, "pre-push changed files");
    // -q leaves out the checks that pass, never one that fails.
    let quiet = repo.xtask_with(&["pre-push", "-q"], &[("API_TOKEN", "tok-very-secret-1")]).failure();
    let failing: Vec<&str> =
        run.stdout.lines().filter(|l| !l.starts_with("ok ") && !l.starts_with("skip ")).collect();
    assert_eq!(quiet.stdout.lines().collect::<Vec<_>>(), failing);
    assert!(quiet.stdout.contains("FAIL  env files"), "{}", quiet.stdout);
    assert_eq!(quiet.stderr, run.stderr);
    for expected in [
        "FAIL  templates         2 problems\n\
         \x20                      templates/web.env.j2:2: undefined value: `values.mode` is undefined (env dev)\n\
         \x20                      templates/web.env.j2:2: undefined value: `values.mode` is undefined (env prod)\n",
        "FAIL  task definitions  2 problems\n\
         \x20                      templates/api.task.json.j2: the value of API_TOKEN, a secret, is written into the \
         task definition; reference it under `secrets` instead, with `valueFrom` an SSM parameter or Secrets Manager \
         ARN (env dev)\n",
        "FAIL  env files         1 problem\n\
         \x20                      services/api/dev.env is stale: run `cargo xtask dev-env --env dev`\n",
    ] {
        assert!(run.stdout.contains(expected), "missing\n{expected}\nin\n{}", run.stdout);
    }
    assert!(run.stderr.starts_with("error: pre-push: 3 of 6 checks failed:\n"), "{}", run.stderr);
    assert!(run.stderr.ends_with("(`git push --no-verify` skips these checks, at your own risk)\n"));
    for output in [&run.stdout, &run.stderr] {
        assert!(!output.contains("tok-very-secret-1"), "a secret was printed:\n{output}");
    }
}

#[test]
fn the_hook_blocks_a_failing_push_and_lets_a_sound_one_through() {
    let (repo, remote) = project();
    let run = repo.xtask(&["hooks", "install"]).success();
    assert_eq!(
        run.stdout,
        "installed .git/hooks/pre-push: `git push` now runs `cargo xtask pre-push` first\n"
    );
    let hook = repo.path().join(".git/hooks/pre-push");
    assert_eq!(fs::metadata(&hook).unwrap().permissions().mode() & 0o777, 0o755);
    assert!(repo.read(".git/hooks/pre-push").contains("exec cargo xtask pre-push\n"));

    let pushed = repo.git_with_xtask(&["push", "-q", "origin", "main"]);
    assert_eq!(pushed.code, 0, "{}", pushed.stderr);
    assert!(pushed.stdout.contains("pre-push: 6 checks passed"), "{}", pushed.stdout);
    assert_eq!(remote_head(&remote), Some(head(&repo)));
    let good = head(&repo);

    // A broken template is committed: the push stops before anything is sent.
    repo.write("templates/web.env.j2", "API_IMAGE={{ images.apii }}\n");
    repo.commit();
    let blocked = repo.git_with_xtask(&["push", "-q", "origin", "main"]);
    assert_ne!(blocked.code, 0, "the push went through:\n{}", blocked.stdout);
    assert!(
        blocked
            .stdout
            .contains("templates/web.env.j2:1: undefined value: `images.apii` is undefined (env dev)"),
        "{}",
        blocked.stdout
    );
    assert!(blocked.stderr.contains("error: pre-push: 1 of 6 checks failed"), "{}", blocked.stderr);
    assert_eq!(remote_head(&remote), Some(good.clone()));

    // So is a generated env file forced into git.
    repo.write("templates/web.env.j2", "API_IMAGE={{ images.api }}\n");
    repo.xtask(&["dev-env"]).success();
    repo.git(&["add", "-A"]);
    repo.git(&["add", "-f", "services/api/dev.env"]);
    repo.git(&["commit", "-q", "-m", "oops"]);
    let blocked = repo.git_with_xtask(&["push", "-q", "origin", "main"]);
    assert_ne!(blocked.code, 0);
    assert!(
        blocked.stdout.contains(
            "FAIL  committed secrets 1 generated env file tracked by git\n\
             \x20                      services/api/dev.env\n"
        ),
        "{}",
        blocked.stdout
    );
    assert_eq!(remote_head(&remote), Some(good));

    // Once mended, the push goes through. The web env file names the
    // commit's image, so it is regenerated for the new commit first.
    repo.git(&["rm", "-q", "--cached", "services/api/dev.env"]);
    repo.git(&["commit", "-q", "-m", "mend"]);
    repo.xtask(&["dev-env"]).success();
    let pushed = repo.git_with_xtask(&["push", "-q", "origin", "main"]);
    assert_eq!(pushed.code, 0, "{}\n{}", pushed.stdout, pushed.stderr);
    assert_eq!(remote_head(&remote), Some(head(&repo)));
}

#[test]
fn a_hook_of_someone_elses_is_never_replaced_nor_removed() {
    let (repo, _remote) = project();
    let theirs = "#!/bin/sh\necho their checks\n";
    repo.write(".git/hooks/pre-push", theirs);
    let run = repo.xtask(&["hooks", "install"]).failure();
    assert_eq!(
        run.stderr,
        "error: .git/hooks/pre-push exists and was not installed by cargo xtask, so it was left as it is; to \
         run both, add the line `cargo xtask pre-push || exit 1` near the top of it, or move it away and run \
         `cargo xtask hooks install` again\n"
    );
    let run = repo.xtask(&["hooks", "uninstall"]).failure();
    assert!(run.stderr.starts_with("error: .git/hooks/pre-push was not installed by cargo xtask"));
    assert_eq!(repo.read(".git/hooks/pre-push"), theirs);
}

#[test]
fn uninstall_removes_only_its_own_hook_and_core_hooks_path_is_honoured() {
    let (repo, _remote) = project();
    repo.git(&["config", "core.hooksPath", ".githooks"]);
    repo.xtask(&["hooks", "install"]).success();
    assert!(repo.exists(".githooks/pre-push"));
    assert!(!repo.exists(".git/hooks/pre-push"));
    let again = repo.xtask(&["hooks", "install"]).success();
    assert_eq!(
        again.stdout,
        ".githooks/pre-push is installed already: `git push` runs `cargo xtask pre-push`\n"
    );
    let run = repo.xtask(&["hooks", "uninstall"]).success();
    assert_eq!(run.stdout, "removed .githooks/pre-push\n");
    assert!(!repo.exists(".githooks/pre-push"));
    let run = repo.xtask(&["hooks", "uninstall"]).success();
    assert_eq!(run.stdout, "no pre-push hook at .githooks/pre-push: nothing to remove\n");
}

#[test]
fn pre_push_refuses_a_definition_ecs_would_not_take_and_says_what_it_checked() {
    let (repo, _remote) = project();
    repo.write(
        "templates/api.task.json.j2",
        &TASK_TEMPLATE.replace("\"family\"", "\"cpu\": 256,\n  \"family\""),
    );
    let run = repo.xtask(&["pre-push"]).failure();
    let expected = "FAIL  task definitions  2 problems\n\
         \x20                      templates/api.task.json.j2: cpu: ECS wants a string, not a number; write it as a \
         string: \"256\" (env dev)\n\
         \x20                      templates/api.task.json.j2: cpu: ECS wants a string, not a number; write it as a \
         string: \"256\" (env prod)\n\
         \x20                      fix: correct the task-definition templates at the fields named above \
         (docs/task-definitions.md)\n";
    assert!(run.stdout.contains(expected), "missing\n{expected}\nin\n{}", run.stdout);
}
