//! The whole command line. Doc comments are the `--help` text.

use clap::{Args, Parser, Subcommand};

/// Release tool for services shipped to AWS ECS/Fargate.
///
/// Renders env files and task definitions from `templates/`, builds each
/// service under `services/` tagged with the git commit, and releases them to
/// the environments described in `env/*.toml`.
#[derive(Debug, Parser)]
#[command(name = "cargo xtask", bin_name = "cargo xtask", version)]
pub(crate) struct Cli {
    #[command(subcommand)]
    pub(crate) command: Command,
}

#[derive(Debug, Subcommand)]
pub(crate) enum Command {
    DevEnv(DevEnv),
    Render(Render),
    Build(Build),
    Push(Push),
    Release(Release),
}

/// Write each service's env file for local docker compose.
///
/// Every service with an env template (`templates/<service>.env.j2`, or the
/// `env_template` key of its `service.toml`) gets `services/<service>/<env>.env`,
/// mode 0600, starting with a "generated, do not edit" line. Nothing is written
/// unless every template renders and every output path is ignored by git.
#[derive(Debug, Args)]
#[command(after_help = "Examples:\n  cargo xtask dev-env\n  cargo xtask dev-env --env staging --check")]
pub(crate) struct DevEnv {
    /// Environment to render, a file under `env/`.
    #[arg(long, default_value = "dev", value_name = "ENV")]
    pub(crate) env: String,
    /// Write nothing; exit non-zero if a generated file is missing or stale.
    #[arg(long)]
    pub(crate) check: bool,
}

/// Print the env files and task definitions an environment would get.
///
/// Values from `secret(...)` and process variables whose names look secret
/// are redacted. Nothing is written.
#[derive(Debug, Args)]
#[command(
    after_help = "Examples:\n  cargo xtask render --env prod\n  cargo xtask render --env prod --service api"
)]
pub(crate) struct Render {
    /// Environment to render, a file under `env/`.
    #[arg(long, value_name = "ENV")]
    pub(crate) env: String,
    #[command(flatten)]
    pub(crate) services: ServiceFilter,
}

/// Build each service's image, tagged with the git commit.
///
/// Runs each service's `prebuild` host command, then builds through the
/// Docker Engine API: the context streamed as a tar that honours
/// `.dockerignore`, build arguments from `service.toml`, the target platform,
/// and OCI labels (revision, source, created). Images are tagged
/// `<registry>/<repository>:<commit>`, with `-dirty` appended for a dirty tree.
/// Base images build before the images built FROM them, independent ones in
/// parallel. An image that exists for this commit is reused.
#[derive(Debug, Args)]
#[command(
    after_help = "Examples:\n  cargo xtask build\n  cargo xtask build --env prod --service api --force"
)]
pub(crate) struct Build {
    /// Environment whose registry names the images, a file under `env/`.
    #[arg(long, default_value = "dev", value_name = "ENV")]
    pub(crate) env: String,
    #[command(flatten)]
    pub(crate) services: ServiceFilter,
    #[command(flatten)]
    pub(crate) run: RunFlags,
}

/// Build each service's image if needed, then push it to the environment's registry.
///
/// Logs in to ECR per request (never `docker login`): the token is kept in
/// memory, renewed before it expires and when the registry says it has.
/// Creates missing ECR repositories (scan on push), skips images the registry
/// already has, retries passing failures with backoff, and prints each
/// pushed image's digest.
#[derive(Debug, Args)]
#[command(
    after_help = "Examples:\n  cargo xtask push --env prod\n  cargo xtask push --env prod --service api --jobs 1"
)]
pub(crate) struct Push {
    /// Environment to push to, a file under `env/`.
    #[arg(long, value_name = "ENV")]
    pub(crate) env: String,
    #[command(flatten)]
    pub(crate) services: ServiceFilter,
    #[command(flatten)]
    pub(crate) run: RunFlags,
    /// Push images of a tree with uncommitted changes (tagged `-dirty`).
    #[arg(long)]
    pub(crate) allow_dirty: bool,
}

/// How steps run.
#[derive(Debug, Args)]
pub(crate) struct RunFlags {
    /// How many steps may run at once.
    #[arg(long, short = 'j', default_value_t = 4, value_name = "N")]
    pub(crate) jobs: usize,
    /// Rebuild (and push) even if this commit's image exists.
    #[arg(long)]
    pub(crate) force: bool,
    /// Show every build step and push status line.
    #[arg(long, short = 'v')]
    pub(crate) verbose: bool,
}

/// Release every service to an environment, in dependency order.
///
/// The plan runs: revision, render, build, push, register, deploy and wait.
/// `--dry-run` prints the plan and changes nothing.
#[derive(Debug, Args)]
#[command(
    after_help = "Examples:\n  cargo xtask release --env prod --dry-run\n  cargo xtask release --env prod --service api --dry-run"
)]
pub(crate) struct Release {
    /// Environment to release to, a file under `env/`.
    #[arg(long, value_name = "ENV")]
    pub(crate) env: String,
    #[command(flatten)]
    pub(crate) services: ServiceFilter,
    /// Print the plan and stop before the first change.
    #[arg(long)]
    pub(crate) dry_run: bool,
}

/// Which services a command applies to.
#[derive(Debug, Args)]
pub(crate) struct ServiceFilter {
    /// Only this service (repeatable). A release also builds the services it is built after.
    #[arg(long = "service", value_name = "SERVICE")]
    pub(crate) names: Vec<String>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn cli_is_well_formed() {
        Cli::command().debug_assert();
    }
}
