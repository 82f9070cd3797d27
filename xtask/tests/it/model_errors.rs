//! Bad input gets an error that names the file, the line and the key, and
//! nothing is written.

use crate::harness::{Repo, DEV_TOML};

/// Runs xtask, expects exit 1 with exactly `stderr`, and checks that not a
/// single file appeared, vanished or changed.
#[track_caller]
fn fails_with(repo: &Repo, args: &[&str], stderr: &str) {
    let before = repo.snapshot();
    let run = repo.xtask(args).failure();
    assert_eq!(run.stderr, stderr);
    assert_eq!(run.stdout, "");
    assert!(repo.snapshot() == before, "the failed run changed files");
}

#[test]
fn malformed_toml() {
    let repo = Repo::project();
    repo.write("env/dev.toml", "region = \"us-east-1\"\naccount_id = \"000000000000\ncluster = \"x\"\n");
    fails_with(&repo, &["dev-env"], "error: env/dev.toml:2: invalid basic string, expected `\"`\n");
}

#[test]
fn unknown_key() {
    let repo = Repo::project();
    repo.write("env/dev.toml", &DEV_TOML.replace("cluster =", "clustr ="));
    fails_with(
        &repo,
        &["dev-env"],
        "error: env/dev.toml:3: unknown key `clustr`, expected one of `region`, `account_id`, `cluster`, \
         `registry`, `protected`, `values`\n",
    );
}

#[test]
fn wrong_type() {
    let repo = Repo::project();
    repo.write("services/web/service.toml", "repository = \"web\"\nafter = \"api\"\n");
    fails_with(
        &repo,
        &["dev-env"],
        "error: services/web/service.toml:2: invalid type: string \"api\", expected a sequence\n",
    );
}

#[test]
fn missing_template() {
    let repo = Repo::project();
    repo.write("services/web/service.toml", "\nenv_template = \"web-env.j2\"\n");
    fails_with(
        &repo,
        &["dev-env"],
        "error: services/web/service.toml:2: `env_template` names templates/web-env.j2, which does not exist\n",
    );
}

#[test]
fn template_syntax_error() {
    let repo = Repo::project();
    repo.write("templates/web.env.j2", "A=1\nB={{ values.greeting \n");
    fails_with(
        &repo,
        &["dev-env"],
        "error: 1 template problem found, nothing was written:\n  \
         templates/web.env.j2:2: syntax error: unexpected end of input, expected end of variable block\n",
    );
}

#[test]
fn service_without_dockerfile() {
    let repo = Repo::project();
    repo.write("services/worker/README.md", "todo\n");
    fails_with(
        &repo,
        &["dev-env"],
        "error: services/worker: no Dockerfile at services/worker/Dockerfile; add one, or set `dockerfile` \
         (relative to the build context) in services/worker/service.toml\n",
    );
}

#[test]
fn unknown_environment_lists_the_known_ones() {
    let repo = Repo::project();
    repo.write("env/prod.toml", DEV_TOML);
    fails_with(
        &repo,
        &["dev-env", "--env", "stagin"],
        "error: unknown environment `stagin`: there is no env/stagin.toml; environments here: dev, prod\n",
    );
}

#[test]
fn unknown_service_lists_the_known_ones() {
    let repo = Repo::project();
    fails_with(
        &repo,
        &["render", "--env", "dev", "--service", "apl"],
        "error: unknown service `apl`: there is no services/apl/; services here: api, web\n",
    );
}

#[test]
fn outside_a_project() {
    let repo = Repo::empty();
    let run = repo.xtask(&["dev-env"]).failure();
    assert!(
        run.stderr.starts_with("error: no project found: neither ")
            && run.stderr.ends_with(
                " nor any parent directory has both `env/` and `services/`; run cargo xtask from inside the project\n"
            ),
        "{}",
        run.stderr
    );
}

#[test]
fn outside_a_git_repository() {
    let repo = Repo::project();
    std::fs::remove_dir_all(repo.path().join(".git")).unwrap();
    let run = repo.xtask(&["dev-env"]).failure();
    assert!(
        run.stderr.ends_with(
            " is not inside a git repository; image tags and release records come from git, so run \
             `git init` and commit first\n"
        ),
        "{}",
        run.stderr
    );
    assert!(!repo.exists("services/api/dev.env"));
}

#[test]
fn repository_without_commits() {
    let repo = Repo::empty();
    repo.write("env/dev.toml", DEV_TOML);
    repo.write("services/api/Dockerfile", "FROM scratch\n");
    fails_with(
        &repo,
        &["dev-env"],
        "error: the git repository has no commit yet; commit first: image tags are derived from the commit\n",
    );
}

#[test]
fn a_detached_head_is_not_an_error() {
    // CI systems check out a commit, not a branch: images are tagged by commit either way.
    let repo = Repo::project();
    repo.git(&["checkout", "-q", "--detach"]);
    let sha = repo.short_sha();
    let plan = repo.xtask(&["release", "--env", "dev", "--dry-run"]).success();
    assert!(plan.stdout.starts_with(&format!("release plan: env dev, commit {sha}, ")), "{}", plan.stdout);
    let doctor = repo.xtask(&["doctor"]);
    assert!(
        doctor.stdout.contains(&format!("ok    git               detached HEAD at {sha}, tree clean\n")),
        "{}",
        doctor.stdout
    );
}

#[test]
fn a_reader_that_goes_away_ends_the_tool_quietly() {
    // `cargo xtask render --env dev | head -1`, with head gone before the first line.
    use std::os::unix::process::ExitStatusExt;
    let repo = Repo::project();
    let (reader, writer) = std::io::pipe().unwrap();
    drop(reader);
    let out = repo.xtask_aws_command(&["render", "--env", "dev"], 1).stdout(writer).output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.signal(), Some(13), "not ended by SIGPIPE: {:?} {stderr}", out.status);
    assert_eq!(stderr, "");
}
