//! The exit codes a pipeline can tell apart (a rollout rolled back by the
//! tool or by ECS, a `before_deploy` command that failed), and the error
//! that carries one up to `main`.

use std::fmt;

/// Exit code when a rollout failed or timed out and the tool rolled back.
pub(crate) const ROLLED_BACK: u8 = 3;
/// Exit code when ECS itself rolled the deployment back (circuit breaker).
pub(crate) const ECS_ROLLED_BACK: u8 = 4;
/// A service's `before_deploy` command failed (or its task could not start):
/// nothing was deployed.
pub(crate) const BEFORE_DEPLOY: u8 = 5;

/// A deployment that did not come up healthy; carries the process exit code.
#[derive(Debug)]
pub(crate) struct Failed {
    pub(crate) code: u8,
    pub(crate) message: String,
}

impl fmt::Display for Failed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for Failed {}
