//! `cargo xtask hooks install|uninstall`: the git pre-push hook that runs
//! `cargo xtask pre-push`. A hook the tool did not write is never replaced
//! or removed; the user is told how to chain the two instead.

use std::fs;
use std::path::Path;

use anyhow::{bail, Context, Result};

use crate::files::write_atomic;
use crate::flags::{Hooks, HooksAction};
use crate::git::Git;
use crate::project::Project;
use crate::report::{say, Reporter};

/// The line that marks a hook as the tool's own: what `uninstall` looks for.
const MARKER: &str = "# installed by `cargo xtask hooks install`";

/// Hooks run from the top of the work tree, so `cargo xtask` finds the
/// project there; `exec` passes git's arguments and stdin (the refs being
/// pushed) straight through.
const PRE_PUSH: &str = "#!/bin/sh\n\
# installed by `cargo xtask hooks install`; remove it with `cargo xtask hooks uninstall`.\n\
# Runs the fast offline checks before anything is pushed; `git push --no-verify` skips them.\n\
exec cargo xtask pre-push\n";

pub(crate) fn run(flags: Hooks, out: &Reporter) -> Result<()> {
    let project = Project::discover()?;
    let git = Git::open(&project.root)?;
    let dir = git.hooks_dir()?;
    let hook = dir.join("pre-push");
    let shown = hook.strip_prefix(git.workdir()).unwrap_or(&hook).display().to_string();
    match flags.action {
        HooksAction::Install => install(&dir, &hook, &shown, out),
        HooksAction::Uninstall => uninstall(&hook, &shown, out),
    }
}

fn install(dir: &Path, hook: &Path, shown: &str, out: &Reporter) -> Result<()> {
    match fs::read_to_string(hook) {
        Ok(text) if text == PRE_PUSH => {
            say!(out, "{shown} is installed already: `git push` runs `cargo xtask pre-push`");
            return Ok(());
        }
        Ok(text) if text.contains(MARKER) => {} // An older version of ours: replaced below.
        Ok(_) => bail!(
            "{shown} exists and was not installed by cargo xtask, so it was left as it is; to run both, add \
             the line `cargo xtask pre-push || exit 1` near the top of it, or move it away and run \
             `cargo xtask hooks install` again"
        ),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(e).with_context(|| format!("read {shown}")),
    }
    fs::create_dir_all(dir).with_context(|| format!("create {}", dir.display()))?;
    write_atomic(hook, PRE_PUSH.as_bytes(), 0o755)?;
    say!(out, "installed {shown}: `git push` now runs `cargo xtask pre-push` first");
    Ok(())
}

fn uninstall(hook: &Path, shown: &str, out: &Reporter) -> Result<()> {
    match fs::read_to_string(hook) {
        Ok(text) if text.contains(MARKER) => {
            fs::remove_file(hook).with_context(|| format!("remove {shown}"))?;
            say!(out, "removed {shown}");
            Ok(())
        }
        Ok(_) => bail!(
            "{shown} was not installed by cargo xtask, so it was left as it is; if it calls `cargo xtask \
             pre-push`, remove that line by hand"
        ),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            say!(out, "no pre-push hook at {shown}: nothing to remove");
            Ok(())
        }
        Err(e) => Err(e).with_context(|| format!("read {shown}")),
    }
}
