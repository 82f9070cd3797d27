//! `cargo xtask push`: build what is missing, then push to the environment's registry.

use anyhow::Result;

use crate::flags::Push;
use crate::report::Reporter;
use crate::tasks::Workspace;

pub(crate) fn run(flags: Push, out: &Reporter) -> Result<()> {
    let workspace = Workspace::load(&flags.env)?;
    if !flags.preview.dry_run {
        workspace.require_clean(flags.allow_dirty)?;
    }
    workspace.images(&flags.services.names, &flags.run, true, &flags.preview, out)
}
