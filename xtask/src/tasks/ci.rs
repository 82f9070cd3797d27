//! `cargo xtask ci <stage>`: what a pipeline calls. Each stage is the code a
//! developer runs locally; `check` adds clippy and the tests to the pre-push
//! checks. Annotations and the step summary are written by `main` for every
//! command, so they are not repeated here.

use std::path::Path;
use std::time::Instant;

use anyhow::{Context as _, Result};
use xshell::{cmd, Shell};

use crate::findings::{self, Finding};
use crate::flags::{Ci, CiCheck, CiMatrix, CiStage};
use crate::project::Project;
use crate::report::{say, show, Reporter};
use crate::tasks::pre_push::{self, cargo};
use crate::tasks::{self, plural};

pub(crate) fn run(flags: Ci, out: &Reporter) -> Result<()> {
    match flags.stage {
        CiStage::Check(check_flags) => check(check_flags, out),
        CiStage::Build(build) => tasks::build::run(build, out),
        CiStage::Matrix(matrix) => self::matrix(matrix, out),
        CiStage::Publish(push) => tasks::push::run(push, out),
        CiStage::Deploy(deploy) => tasks::deploy::run(deploy, out),
    }
}

/// Prints the services whose images this commit still needs in the registry.
fn matrix(flags: CiMatrix, out: &Reporter) -> Result<()> {
    let workspace = tasks::Workspace::load(&flags.env)?;
    let services = workspace.project.select(&flags.services.names)?;
    let registry = crate::image_ref::registry_host(&workspace.environment);
    let missing = tasks::runtime()?.block_on(async {
        let (engine, ecr) = futures_util::join!(
            crate::docker::Engine::connect(),
            crate::ecr::Ecr::connect(&workspace.environment.region, &registry)
        );
        let engine = engine?;
        let credentials = ecr.credentials().await?;
        let mut missing = Vec::new();
        for service in services {
            let image = crate::image_ref::ImageRef::of(&registry, service, &workspace.revision).to_string();
            // An uncommitted tree's tag does not say what is in it: always publish.
            let dirty = workspace.revision.image(&service.name).dirty;
            let found = if dirty {
                None
            } else {
                engine
                    .registry_has(&image, &credentials)
                    .await
                    .map_err(|e| anyhow::anyhow!("ask the registry {registry} for {image}: {}", e.message))?
            };
            if found.is_none() {
                missing.push(serde_json::json!({ "service": service.name }));
            }
        }
        anyhow::Ok(missing)
    })?;
    let matrix = serde_json::json!({ "include": missing }).to_string();
    show!(out, "{matrix}");
    // In GitHub Actions, also the step's output `matrix`, for `fromJSON`.
    if let Some(path) = std::env::var_os("GITHUB_OUTPUT").filter(|p| !p.is_empty()) {
        use std::io::Write as _;
        let mut file = std::fs::OpenOptions::new()
            .append(true)
            .create(true)
            .open(&path)
            .with_context(|| format!("open GITHUB_OUTPUT ({})", Path::new(&path).display()))?;
        writeln!(file, "matrix={matrix}").context("write the matrix to GITHUB_OUTPUT")?;
    }
    Ok(())
}

fn check(flags: CiCheck, out: &Reporter) -> Result<()> {
    let started = Instant::now();
    let project = Project::discover()?;
    let mut found = pre_push::checks(&project, out);
    let mut push = |finding: Finding| {
        findings::print(out, &finding);
        found.push(finding);
    };
    // Each finding is printed as soon as it is known: clippy's before the
    // tests start, so its verdict is not buried under their output.
    if project.root.join("Cargo.toml").is_file() {
        push(clippy(&project.root, out));
        if !flags.no_tests {
            push(tests(&project.root, out));
        }
    }
    let n = findings::verdict("ci check", &found)?;
    say!(out, "ci check: {n} check{} passed in {:.1}s", plural(n), started.elapsed().as_secs_f64());
    Ok(())
}

/// Clippy with warnings as errors. Its messages are kept in the short
/// `file:line:col: message` form, so each becomes an annotation on its line.
fn clippy(root: &Path, out: &Reporter) -> Finding {
    say!(out, "      clippy            running cargo clippy --workspace --all-targets -- -D warnings");
    let result = (|| -> Result<(bool, String)> {
        let sh = Shell::new()?;
        sh.change_dir(root);
        let cargo = cargo();
        let locked = locked(root);
        let out = cmd!(
            sh,
            "{cargo} clippy --workspace --all-targets {locked...} --message-format short -- -D warnings"
        )
        .quiet()
        .ignore_status()
        .output()?;
        Ok((out.status.success(), String::from_utf8_lossy(&out.stderr).into_owned()))
    })();
    match result {
        Ok((true, _)) => Finding::ok("clippy", "no warnings"),
        Ok((false, log)) => {
            let located: Vec<String> =
                log.lines().filter(|l| crate::ci::locate(l).is_some()).map(str::to_string).collect();
            let details = if located.is_empty() {
                // Not a lint but a failure to build: its log says why.
                log.lines().rev().take(20).collect::<Vec<_>>().into_iter().rev().map(str::to_string).collect()
            } else {
                located
            };
            Finding::fail("clippy", "cargo clippy found problems", "correct the lines named above")
                .with_details(details)
        }
        Err(e) => Finding::fail(
            "clippy",
            format!("cannot run cargo clippy: {e:#}"),
            "install it: `rustup component add clippy`",
        ),
    }
}

/// The workspace's tests, their output shown as it comes.
fn tests(root: &Path, out: &Reporter) -> Finding {
    say!(out, "      tests             running cargo test --workspace");
    let result = (|| -> Result<()> {
        let sh = Shell::new()?;
        sh.change_dir(root);
        let cargo = cargo();
        let locked = locked(root);
        cmd!(sh, "{cargo} test --workspace {locked...}").quiet().run()?;
        Ok(())
    })();
    match result {
        Ok(()) => Finding::ok("tests", "cargo test --workspace passed"),
        Err(_) => {
            Finding::fail("tests", "cargo test --workspace failed", "read the failing tests' output above")
        }
    }
}

/// `--locked` when the lock file is committed: CI must build what was reviewed.
fn locked(root: &Path) -> Option<&'static str> {
    root.join("Cargo.lock").is_file().then_some("--locked")
}
