//! `cargo xtask pre-push`: the fast, offline checks a git pre-push hook
//! runs, so a broken template or a committed secret never leaves the
//! machine. No network, no engine, no AWS: it must finish in seconds.

use std::path::Path;
use std::time::Instant;

use anyhow::{anyhow, Result};
use xshell::{cmd, Shell};

use crate::files::{is_generated, GENERATED_MARKER};
use crate::findings::{self, Finding};
use crate::flags::PrePush;
use crate::git::{Git, PathState};
use crate::project::{Environment, Project};
use crate::render::{render_all, Scope, Secrets};
use crate::report::{say, Reporter};
use crate::tasks::dev_env::{self, FileState};
use crate::tasks::plural;

pub(crate) fn run(_flags: PrePush, out: &Reporter) -> Result<()> {
    let started = Instant::now();
    let project = Project::discover()?;
    let found = checks(&project, out);
    match findings::verdict("pre-push", &found) {
        Ok(n) => {
            say!(out, "pre-push: {n} checks passed in {:.1}s", started.elapsed().as_secs_f64());
            Ok(())
        }
        Err(e) => Err(anyhow!(
            "{e:#}\nfix what failed and push again (`git push --no-verify` skips these checks, at your own risk)"
        )),
    }
}

/// Every offline check, each printed as soon as it is done; `cargo fmt
/// --check` is one of them when the project is a Cargo workspace.
pub(crate) fn checks(project: &Project, out: &Reporter) -> Vec<Finding> {
    let mut found = Vec::new();
    let mut push = |finding: Finding| {
        findings::print(out, &finding);
        found.push(finding);
    };

    let git = match Git::open(&project.root)
        .and_then(|git| git.revision(project).map(|revision| (git, revision)))
    {
        Ok(pair) => Some(pair),
        Err(e) => {
            push(Finding::fail("git", format!("{e:#}"), "run the checks inside the project's git checkout"));
            None
        }
    };

    let (environments, finding) = environments(project);
    push(finding);

    let Some((git, revision)) = git else { return found };
    let task_templates: Vec<&str> =
        project.services.iter().filter_map(|s| s.task_definition_template.as_deref()).collect();
    let services: Vec<_> = project.services.iter().collect();
    let (mut template_problems, mut task_problems, mut missing) = (Vec::new(), Vec::new(), Vec::new());
    let mut task_definitions = 0;
    let mut env_file_findings = Vec::new();
    let mut env_files = 0;
    for environment in &environments {
        // The tags this environment gives the images.
        let revision = crate::identity::for_environment(project, environment, &revision);
        let report = render_all(project, environment, &revision, &services, Scope::All, Secrets::Redact);
        task_definitions += report.rendered.iter().filter(|(_, r)| r.task_definition.is_some()).count();
        for problem in report.problems {
            // The environment goes last, so the line still starts with its file and line.
            let problem = format!("{problem} (env {})", environment.name);
            if task_templates.iter().any(|t| problem.contains(&format!("templates/{t}"))) {
                task_problems.push(problem);
            } else {
                template_problems.push(problem);
            }
        }
        for variable in &report.missing {
            if !missing.contains(variable) {
                missing.push(variable.clone());
            }
        }
        env_files += check_env_files(project, &git, environment, &revision, &mut env_file_findings);
    }

    let mut templates = if template_problems.is_empty() {
        Finding::ok(
            "templates",
            format!(
                "{} environment{} x {} service{} render",
                environments.len(),
                plural(environments.len()),
                services.len(),
                plural(services.len())
            ),
        )
    } else {
        Finding::problems("templates", template_problems, "correct the templates at the lines named above")
    };
    if !missing.is_empty() {
        // Release-time variables (CI secrets) are not expected on a laptop.
        templates.details.push(format!("not set here, needed at release time: {}", missing.join(", ")));
    }
    push(templates);

    push(if task_problems.is_empty() {
        Finding::ok(
            "task definitions",
            format!(
                "{task_definitions} valid: RegisterTaskDefinition's keys and types; no secret in `environment` (by \
                 name, by value or by shape), `secrets` referenced by SSM name or ARN or Secrets Manager ARN; images \
                 by commit, version tag or digest"
            ),
        )
    } else {
        Finding::problems(
            "task definitions",
            task_problems,
            "correct the task-definition templates at the fields named above (docs/task-definitions.md)",
        )
    });

    push(if env_files == 0 {
        Finding::ok("env files", "none generated yet: nothing to compare")
    } else if env_file_findings.is_empty() {
        Finding::ok("env files", format!("{env_files} generated, up to date, mode 0600, ignored by git"))
    } else {
        Finding::problems(
            "env files",
            env_file_findings,
            "run `cargo xtask dev-env --env <env>` for stale files; keep generated files out of git",
        )
    });

    push(match git.tracked_generated_env_files(GENERATED_MARKER) {
        Ok(tracked) if tracked.is_empty() => {
            Finding::ok("committed secrets", "no generated env file is tracked")
        }
        Ok(tracked) => {
            let shown: Vec<String> = tracked.iter().map(|p| p.display().to_string()).collect();
            Finding::fail(
                "committed secrets",
                format!("{} generated env file{} tracked by git", tracked.len(), plural(tracked.len())),
                format!(
                    "run `git rm --cached {}`, add `/services/*/*.env` to .gitignore, and rotate any secret \
                     they held if they were ever pushed",
                    shown.join(" ")
                ),
            )
            .with_details(shown)
        }
        Err(e) => Finding::fail("committed secrets", format!("{e:#}"), "repair the git index (`git status`)"),
    });

    push(fmt_check(&project.root));
    found
}

/// Every environment file that loads, and the finding: their names, or a
/// problem for each file that does not load.
pub(crate) fn environments(project: &Project) -> (Vec<Environment>, Finding) {
    let mut loaded = Vec::new();
    let mut problems = Vec::new();
    match project.environment_names() {
        Ok(names) if names.is_empty() => {
            problems.push("env/ holds no environment file (env/<name>.toml)".to_string())
        }
        Ok(names) => {
            for name in names {
                match project.environment(&name) {
                    Ok(environment) => loaded.push(environment),
                    Err(e) => problems.push(format!("{e:#}")),
                }
            }
        }
        Err(e) => problems.push(format!("{e:#}")),
    }
    let finding = if problems.is_empty() {
        let names: Vec<&str> = loaded.iter().map(|e| e.name.as_str()).collect();
        Finding::ok("environments", format!("{} valid: {}", names.len(), names.join(", ")))
    } else {
        Finding::problems("environments", problems, "correct the file and key named above")
    };
    (loaded, finding)
}

/// Checks the env files `dev-env` generated for one environment: not
/// tracked, ignored, owner-only, and not stale. Files never generated are
/// fine: not every developer runs every environment. Returns how many files
/// were looked at.
fn check_env_files(
    project: &Project,
    git: &Git,
    environment: &Environment,
    revision: &crate::git::Revision,
    problems: &mut Vec<String>,
) -> usize {
    let services: Vec<_> = project
        .services
        .iter()
        .filter(|s| s.env_template.is_some())
        .filter(|s| project.root.join(dev_env::output_path(s, &environment.name)).exists())
        .collect();
    if services.is_empty() {
        return 0;
    }
    for service in &services {
        problems.extend(exposure(git, &project.root, &dev_env::output_path(service, &environment.name)));
    }
    let report = render_all(project, environment, revision, &services, Scope::EnvFiles, Secrets::Reveal);
    // A file rendered without its variables would look stale for no reason.
    // A service whose template fails is reported by the templates check.
    if !report.missing.is_empty() {
        return services.len();
    }
    for output in dev_env::outputs(report.rendered, &environment.name) {
        let absolute = project.root.join(&output.path);
        if !is_generated(&absolute).unwrap_or(false) {
            continue; // A hand-written file: dev-env never touches it, nor does this check.
        }
        let shown = output.path.display();
        match dev_env::current_state(&absolute, &output.contents) {
            FileState::UpToDate => {}
            FileState::Missing => {}
            FileState::Stale => problems
                .push(format!("{shown} is stale: run `cargo xtask dev-env --env {}`", environment.name)),
            FileState::WrongMode(mode) => {
                problems.push(format!("{shown} has mode {mode:04o}, expected 0600"))
            }
        }
    }
    services.len()
}

/// How a generated file (a path relative to the root) could end up in git:
/// tracked already, or not ignored; `None` when git ignores it.
pub(crate) fn exposure(git: &Git, root: &Path, relative: &Path) -> Option<String> {
    let shown = relative.display();
    match git.path_state(&root.join(relative)) {
        Ok(PathState::Ignored) => None,
        Ok(PathState::Tracked) => Some(format!("{shown} is tracked by git")),
        Ok(PathState::Unignored) => Some(format!("{shown} is not ignored by git")),
        Err(e) => Some(format!("{shown}: {e:#}")),
    }
}

/// `cargo fmt --check` over the workspace, naming the files it would change.
fn fmt_check(root: &Path) -> Finding {
    if !root.join("Cargo.toml").is_file() {
        return Finding::skip("fmt", "no Cargo.toml at the project root");
    }
    let result = (|| -> Result<(bool, String, String)> {
        let sh = Shell::new()?;
        sh.change_dir(root);
        let cargo = cargo();
        let out =
            cmd!(sh, "{cargo} fmt --all --check --message-format short").quiet().ignore_status().output()?;
        Ok((
            out.status.success(),
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        ))
    })();
    match result {
        Ok((true, _, _)) => Finding::ok("fmt", "cargo fmt --check: formatted"),
        Ok((false, stdout, stderr)) => {
            let files: Vec<String> = stdout
                .lines()
                .filter(|l| !l.trim().is_empty())
                .map(|l| {
                    Path::new(l.trim())
                        .strip_prefix(root)
                        .map(|p| p.display().to_string())
                        .unwrap_or(l.into())
                })
                .collect();
            if files.is_empty() {
                Finding::fail("fmt", "cargo fmt failed", "run `cargo fmt --all` and read its error")
                    .with_details(stderr.lines().map(str::to_string).collect())
            } else {
                Finding::fail(
                    "fmt",
                    format!("{} file{} not formatted", files.len(), plural(files.len())),
                    "run `cargo fmt --all` and commit the result",
                )
                .with_details(files)
            }
        }
        Err(e) => Finding::fail(
            "fmt",
            format!("cannot run cargo fmt: {e:#}"),
            "install rustfmt: `rustup component add rustfmt`",
        ),
    }
}

/// The cargo that started this process (`cargo xtask` sets `CARGO`), so the
/// checks use the same toolchain; plain `cargo` otherwise.
pub(crate) fn cargo() -> String {
    std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_string())
}
