use crate::harness::Repo;

#[test]
fn help_lists_every_command_with_a_line_each() {
    let run = Repo::empty().xtask(&["--help"]).success();
    let listed: Vec<&str> = run
        .stdout
        .split("Commands:\n")
        .nth(1)
        .unwrap()
        .lines()
        .take_while(|l| l.starts_with("  "))
        .map(|l| l.split_whitespace().next().unwrap())
        .collect();
    // COMMANDS is what the tests of every command go through: none may be left out.
    assert_eq!(listed, [&COMMANDS[..], &["help"]].concat());
    assert!(run
        .stdout
        .contains("  release      Release to an environment: the whole graph, in dependency order\n"));
}

/// The README's command reference is every command's help as it is now: a
/// snapshot that `cargo xtask docs` rewrites and CI checks, so a new command
/// or flag cannot be missing from it.
#[test]
fn the_readme_command_reference_is_current() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_xtask"))
        .args(["docs", "--check"])
        .current_dir(root)
        .env_remove("CI")
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        format!("{}/README.md: the command reference is up to date\n", root.display())
    );
}

/// Every command, as `--help` lists them.
pub(crate) const COMMANDS: [&str; 22] = [
    "dev-env",
    "render",
    "build",
    "push",
    "release",
    "deploy",
    "diff",
    "status",
    "rollback",
    "history",
    "ci",
    "pre-push",
    "hooks",
    "doctor",
    "run",
    "exec",
    "logs",
    "up",
    "down",
    "test",
    "completions",
    "docs",
];

#[test]
fn every_command_shows_examples_even_in_short_help() {
    let repo = Repo::empty();
    for command in COMMANDS {
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

#[test]
fn colour_only_on_a_terminal_and_never_with_no_color() {
    // `script` gives the command a terminal; piped, it has none.
    let on_terminal = |no_color: bool| {
        let mut command = crate::tools::tool("script");
        command.args(["-qec", &format!("'{}' bogus", env!("CARGO_BIN_EXE_xtask")), "/dev/null"]);
        // The terminal's type, as a terminal emulator sets it (CI runners may set none).
        command.env_remove("NO_COLOR").env_remove("CLICOLOR_FORCE").env("TERM", "xterm-256color");
        if no_color {
            command.env("NO_COLOR", "1");
        }
        String::from_utf8(command.output().unwrap().stdout).unwrap()
    };
    let coloured = on_terminal(false);
    assert!(coloured.contains("\x1b[1m\x1b[31merror:\x1b[0m unrecognized subcommand"), "{coloured:?}");
    let plain = on_terminal(true);
    assert!(plain.starts_with("error: unrecognized subcommand 'bogus'"), "{plain:?}");
    assert!(!plain.contains('\x1b'), "{plain:?}");
    let piped = std::process::Command::new(env!("CARGO_BIN_EXE_xtask"))
        .arg("bogus")
        .env_remove("CLICOLOR_FORCE")
        .output()
        .unwrap();
    assert!(!String::from_utf8_lossy(&piped.stderr).contains('\x1b'));
}

#[test]
fn quiet_and_verbose_are_taken_by_every_command() {
    let repo = Repo::empty();
    for command in crate::help::COMMANDS {
        let run = repo.xtask(&[command, "--help"]).success();
        for flag in ["-q, --quiet ", "-v, --verbose "] {
            let found = run.stdout.lines().any(|l| format!("{} ", l.trim()).starts_with(flag));
            assert!(found, "{command} --help lacks {flag:?}:\n{}", run.stdout);
        }
    }
    let both = repo.xtask(&["dev-env", "-q", "-v"]).exit(2);
    assert!(
        both.stderr.contains("the argument '--quiet' cannot be used with '--verbose'"),
        "{}",
        both.stderr
    );
}

#[test]
fn quiet_leaves_out_progress_but_not_what_was_asked_for() {
    let repo = Repo::project();
    let run = repo.xtask(&["dev-env", "-q"]).success();
    assert_eq!((run.stdout.as_str(), run.stderr.as_str()), ("", ""));
    assert!(repo.exists("services/api/dev.env"), "-q still does the work");
    // A dry run was asked to show the plan: -q drops only the closing line.
    let plan = repo.xtask(&["release", "--env", "dev", "--dry-run"]).success().stdout;
    let quiet = repo.xtask(&["release", "--env", "dev", "--dry-run", "--quiet"]).success().stdout;
    assert_eq!(plan, format!("{quiet}dry run: nothing was changed\n"));
    assert!(quiet.starts_with("release plan: env dev, commit "), "{quiet}");
}

/// Completion scripts, loaded by the shells themselves: bash and fish
/// complete real command lines; zsh (whose completion needs its line
/// editor) parses the script and registers it for `cargo`.
#[test]
fn completions_complete_cargo_xtask_command_lines() {
    let repo = Repo::empty();
    let dir = tempfile::tempdir().unwrap();
    let script = |shell: &str| {
        let path = dir.path().join(shell);
        std::fs::write(&path, repo.xtask(&["completions", shell]).success().stdout).unwrap();
        path
    };
    let bash = script("bash");
    let complete = |words: &str| {
        let out = crate::tools::tool("bash")
            .arg("-c")
            .arg(format!(
                "source {}; COMP_WORDS=({words}); COMP_CWORD=$((${{#COMP_WORDS[@]}}-1)); \
                 _cargo_xtask_or_cargo cargo \"${{COMP_WORDS[COMP_CWORD]}}\" \"${{COMP_WORDS[COMP_CWORD-1]}}\"; \
                 echo \"${{COMPREPLY[*]}}\"",
                bash.display()
            ))
            .output()
            .unwrap();
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        String::from_utf8(out.stdout).unwrap().trim().to_string()
    };
    assert_eq!(complete("cargo xtask re"), "render release");
    assert_eq!(complete("cargo xtask release --e"), "--env");
    assert_eq!(complete("cargo xtask completions z"), "zsh");
    assert_eq!(complete("cargo xt"), "xtask");

    let fish = script("fish");
    let out = crate::tools::tool("fish")
        .arg("-c")
        .arg(format!(
            "source {}; complete -C'cargo xtask rel'; complete -C'cargo xtask status --j'",
            fish.display()
        ))
        .output()
        .unwrap();
    assert_eq!(
        String::from_utf8(out.stdout).unwrap(),
        "release\tRelease to an environment: the whole graph, in dependency order\n\
         --json\tPrint one JSON document (its shape: docs/json.md) instead of lines\n"
    );

    let zsh = script("zsh");
    let out = crate::tools::tool("zsh")
        .arg("-c")
        .arg(format!(
            "autoload -U compinit; compinit -u -D; source {}; print -r -- $_comps[cargo]",
            zsh.display()
        ))
        .env("HOME", dir.path())
        .output()
        .unwrap();
    assert_eq!(String::from_utf8(out.stdout).unwrap(), "_cargo_xtask_or_cargo\n");
    assert!(crate::tools::tool("zsh").arg("-n").arg(&zsh).status().unwrap().success());
}
