use crate::harness::Repo;

#[test]
fn help_lists_every_command_with_a_line_each() {
    let run = Repo::empty().xtask(&["--help"]).success();
    for line in [
        "  dev-env   Write each service's env file for local docker compose\n",
        "  render    Print the env files and task definitions an environment would get\n",
        "  build     Build each service's image, tagged with the git commit\n",
        "  push      Build each service's image if needed, then push it to the environment's registry\n",
        "  release   Release to an environment: the whole graph, in dependency order\n",
        "  deploy    Deploy this commit's pushed images: register, update the services, wait\n",
        "  diff      Show how the rendered task definitions differ from the registered ones\n",
        "  status    Show what each service runs: revision, image, commit, rollout, tasks\n",
        "  rollback  Put a service back on its last good release, and wait for it\n",
        "  history   Show a service's release history: each release, newest first\n",
        "  ci        Run a CI pipeline stage: the same code a developer runs locally\n",
        "  pre-push  Run the fast offline checks that the git pre-push hook runs\n",
        "  hooks     Install or remove the git pre-push hook that runs `cargo xtask pre-push`\n",
        "  doctor    Check the set-up and say how to fix whatever is wrong\n",
    ] {
        assert!(run.stdout.contains(line), "missing {line:?} in:\n{}", run.stdout);
    }
}

#[test]
fn every_command_shows_examples_even_in_short_help() {
    let repo = Repo::empty();
    for command in [
        "dev-env", "render", "build", "push", "release", "deploy", "diff", "status", "rollback", "history",
        "ci", "pre-push", "hooks", "doctor",
    ] {
        let run = repo.xtask(&[command, "-h"]).success();
        assert!(
            run.stdout.contains(&format!("Examples:\n  cargo xtask {command}")),
            "{command} -h:\n{}",
            run.stdout
        );
    }
}

#[test]
fn a_misspelt_command_is_a_usage_error_with_a_suggestion() {
    let run = Repo::empty().xtask(&["relase"]);
    assert_eq!(run.code, 2);
    assert!(run.stderr.contains("tip: a similar subcommand exists: 'release'"), "{}", run.stderr);
}
