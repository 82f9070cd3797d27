//! `cargo xtask build`: each service's image, tagged with the commit.

use anyhow::Result;

use crate::flags::Build;
use crate::report::Reporter;
use crate::tasks::Workspace;

pub(crate) fn run(flags: Build, out: &Reporter) -> Result<()> {
    let workspace = Workspace::load(&flags.env)?;
    workspace.images(&flags.services.names, &flags.run, false, &flags.preview, out)
}
