//! `cargo xtask push`: build what is missing, then push to the environment's registry.

use anyhow::{bail, Result};

use crate::flags::Push;
use crate::tasks::Workspace;

pub(crate) fn run(flags: Push) -> Result<()> {
    let workspace = Workspace::load(&flags.env)?;
    if workspace.revision.dirty && !flags.allow_dirty {
        bail!(
            "the working tree has uncommitted changes, so its images would carry the tag {} that no commit \
             explains; commit or stash them, or pass --allow-dirty",
            workspace.revision.image_tag
        );
    }
    workspace.images(&flags.services.names, &flags.run, true)
}
