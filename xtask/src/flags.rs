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
    /// Print only what the command was asked to show, warnings and errors: no progress lines.
    #[arg(long, short = 'q', global = true, conflicts_with = "verbose")]
    pub(crate) quiet: bool,
    /// Also print every build step's output and every push status line.
    #[arg(long, short = 'v', global = true)]
    pub(crate) verbose: bool,
}

#[derive(Debug, Subcommand)]
pub(crate) enum Command {
    DevEnv(DevEnv),
    Render(Render),
    Build(Build),
    Push(Push),
    Release(Release),
    Deploy(Deploy),
    Diff(Diff),
    Status(Status),
    Rollback(Rollback),
    History(History),
    Ci(Ci),
    PrePush(PrePush),
    Hooks(Hooks),
    Doctor(Doctor),
    Run(RunTaskFlags),
    Exec(ExecFlags),
    Logs(LogsFlags),
    Up(Up),
    Down(Down),
    Test(Test),
    Completions(Completions),
    Docs(Docs),
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
#[command(after_help = "Examples:\n  cargo xtask build\n  cargo xtask build --dry-run\n  \
                  cargo xtask build --env prod --service api --force")]
pub(crate) struct Build {
    /// Environment whose registry names the images, a file under `env/`.
    #[arg(long, default_value = "dev", value_name = "ENV")]
    pub(crate) env: String,
    #[command(flatten)]
    pub(crate) services: ServiceFilter,
    #[command(flatten)]
    pub(crate) run: RunFlags,
    #[command(flatten)]
    pub(crate) preview: DryRun,
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
    after_help = "Examples:\n  cargo xtask push --env prod\n  cargo xtask push --env prod --dry-run\n  \
                  cargo xtask push --env prod --service api --jobs 1"
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
    #[command(flatten)]
    pub(crate) preview: DryRun,
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
}

/// Release to an environment: the whole graph, in dependency order.
///
/// Build, push, register, deploy and wait, independent
/// services in parallel. A step whose work is done already skips itself: an
/// image the registry has is not pushed, a task definition identical to the
/// latest revision is not registered, a service that runs it is not
/// redeployed. A deployment that does not become stable within `--timeout`
/// (or whose rollout fails) is rolled back to the last release that was
/// healthy; the exit code is then 3, and 4 when ECS rolled it back itself
/// (deployment circuit breaker). A protected environment needs `--yes` (or
/// CI=true).
#[derive(Debug, Args)]
#[command(
    after_help = "Examples:\n  cargo xtask release --env prod --dry-run\n  cargo xtask release --env prod --yes\n  \
                        cargo xtask release --env staging --service api --timeout 5m"
)]
pub(crate) struct Release {
    /// Environment to release to, a file under `env/`.
    #[arg(long, value_name = "ENV")]
    pub(crate) env: String,
    #[command(flatten)]
    pub(crate) services: ServiceFilter,
    #[command(flatten)]
    pub(crate) preview: DryRun,
    #[command(flatten)]
    pub(crate) confirm: Confirm,
    /// Release a tree with uncommitted changes (images tagged `-dirty`).
    #[arg(long)]
    pub(crate) allow_dirty: bool,
    #[command(flatten)]
    pub(crate) run: RunFlags,
    #[command(flatten)]
    pub(crate) deploy: DeployFlags,
}

/// Deploy this commit's pushed images: register, update the services, wait.
///
/// Like `release` without building or pushing: each service's image for this
/// commit must be in the registry already (`cargo xtask push`). Registers the
/// task definition unless the latest revision is identical, updates the
/// service unless it runs that revision already (`--force-new-deployment`
/// restarts it anyway), and waits for the rollout, rolling back on failure.
#[derive(Debug, Args)]
#[command(after_help = "Examples:\n  cargo xtask deploy --env staging\n  \
                        cargo xtask deploy --env staging --dry-run --json\n  \
                        cargo xtask deploy --env prod --service api --force-new-deployment --yes")]
pub(crate) struct Deploy {
    /// Environment to deploy to, a file under `env/`.
    #[arg(long, value_name = "ENV")]
    pub(crate) env: String,
    #[command(flatten)]
    pub(crate) services: ServiceFilter,
    #[command(flatten)]
    pub(crate) confirm: Confirm,
    /// Deploy a tree with uncommitted changes (images tagged `-dirty`).
    #[arg(long)]
    pub(crate) allow_dirty: bool,
    /// How many steps may run at once.
    #[arg(long, short = 'j', default_value_t = 4, value_name = "N")]
    pub(crate) jobs: usize,
    #[command(flatten)]
    pub(crate) deploy: DeployFlags,
    #[command(flatten)]
    pub(crate) preview: DryRun,
}

/// Show how the rendered task definitions differ from the registered ones.
///
/// Compares each service's rendered task definition (its image pinned to the
/// digest in the registry, when pushed) with the family's latest ACTIVE
/// revision as ECS keeps it (its defaults, units and tags understood; see
/// docs/task-definitions.md), and prints the fields that differ. Values of
/// secret-looking variables are redacted. Changes nothing.
#[derive(Debug, Args)]
#[command(
    after_help = "Examples:\n  cargo xtask diff --env prod\n  cargo xtask diff --env prod --service api\n  \
                        cargo xtask diff --env prod --exit-code"
)]
pub(crate) struct Diff {
    /// Environment to compare with, a file under `env/`.
    #[arg(long, value_name = "ENV")]
    pub(crate) env: String,
    #[command(flatten)]
    pub(crate) services: ServiceFilter,
    /// Exit with 1 when any service differs (or has no revision yet), as `git diff --exit-code` does.
    #[arg(long)]
    pub(crate) exit_code: bool,
    /// Print one JSON document (its shape: docs/json.md) instead of lines.
    #[arg(long)]
    pub(crate) json: bool,
}

/// Show what each service runs: revision, image, commit, rollout, tasks.
///
/// A service that is only built (no task definition template) shows whether
/// this commit's image is in the registry. Exits 1 when a service cannot be
/// read.
#[derive(Debug, Args)]
#[command(after_help = "Examples:\n  cargo xtask status --env prod")]
pub(crate) struct Status {
    /// Environment to look at, a file under `env/`.
    #[arg(long, value_name = "ENV")]
    pub(crate) env: String,
    #[command(flatten)]
    pub(crate) services: ServiceFilter,
    /// Print one JSON document (its shape: docs/json.md) instead of lines.
    #[arg(long)]
    pub(crate) json: bool,
}

/// Show a service's release history: each release, newest first.
///
/// Every deploy, failed deploy and rollback is recorded in the ECS service's
/// tags (the last 20), so the whole team reads the same history: the
/// revision, the commit its image was built from, when, and how it went.
#[derive(Debug, Args)]
#[command(after_help = "Examples:\n  cargo xtask history --env prod --service api")]
pub(crate) struct History {
    /// Environment, a file under `env/`.
    #[arg(long, value_name = "ENV")]
    pub(crate) env: String,
    /// The service whose releases to show.
    #[arg(long, value_name = "SERVICE")]
    pub(crate) service: String,
}

/// Put a service back on its last good release, and wait for it.
///
/// Without `--to`, goes back to the newest good release older than the one
/// running now, from the release history every deploy records in the ECS
/// service's tags (`cargo xtask history` shows it): a second rollback goes
/// further back, never forward. The target's images must be in their
/// registry (`--force` skips the check). `--to` takes a revision number of
/// the family, or a commit (a prefix of 7 characters or more is enough).
#[derive(Debug, Args)]
#[command(after_help = "Examples:\n  cargo xtask rollback --env prod --service api --dry-run\n  \
                        cargo xtask rollback --env prod --service api --yes\n  \
                        cargo xtask rollback --env prod --service api --to 41 --yes\n  \
                        cargo xtask rollback --env staging --service api --to 1a2b3c4")]
pub(crate) struct Rollback {
    /// Environment, a file under `env/`.
    #[arg(long, value_name = "ENV")]
    pub(crate) env: String,
    /// The service to roll back.
    #[arg(long, value_name = "SERVICE")]
    pub(crate) service: String,
    /// A revision number of the task definition family (up to 6 digits), or a commit (7 characters or more).
    #[arg(long, value_name = "REVISION|COMMIT")]
    pub(crate) to: Option<String>,
    /// Roll back even when the target's images cannot be found in their registry.
    #[arg(long)]
    pub(crate) force: bool,
    #[command(flatten)]
    pub(crate) preview: DryRun,
    #[command(flatten)]
    pub(crate) confirm: Confirm,
    #[command(flatten)]
    pub(crate) deploy: DeployFlags,
}

/// Showing the plan instead of running it.
#[derive(Debug, Args)]
pub(crate) struct DryRun {
    /// Print the plan and stop before the first change.
    #[arg(long)]
    pub(crate) dry_run: bool,
    /// With --dry-run, print the plan as one JSON document (its shape: docs/json.md).
    #[arg(long, requires = "dry_run")]
    pub(crate) json: bool,
}

/// Consent to change a protected environment.
#[derive(Debug, Args)]
pub(crate) struct Confirm {
    /// Go ahead on a protected environment (CI=true counts as yes).
    #[arg(long, short = 'y')]
    pub(crate) yes: bool,
}

/// How a deployment is carried out and followed.
#[derive(Debug, Args)]
pub(crate) struct DeployFlags {
    /// Start a new deployment even when the service runs the revision already (a restart).
    #[arg(long)]
    pub(crate) force_new_deployment: bool,
    /// How long a deployment may take to become stable before it is rolled back.
    #[arg(long, default_value = "10m", value_name = "DURATION", value_parser = crate::duration::parse)]
    pub(crate) timeout: std::time::Duration,
    /// How often the service is polled while waiting.
    #[arg(long, default_value = "5s", value_name = "DURATION", value_parser = crate::duration::parse)]
    pub(crate) poll_interval: std::time::Duration,
    /// How long to wait for another release, deploy or rollback of the same cluster on this machine
    /// to end; without it, such a run is refused at once, naming the run that holds the cluster.
    #[arg(long, default_value = "0s", value_name = "DURATION", value_parser = crate::duration::parse)]
    pub(crate) wait_for_lock: std::time::Duration,
}

/// Which services a command applies to.
#[derive(Debug, Args)]
pub(crate) struct ServiceFilter {
    /// Only this service (repeatable). A release also builds the services it is built after.
    #[arg(long = "service", value_name = "SERVICE")]
    pub(crate) names: Vec<String>,
}

mod checks;
mod operations;

pub(crate) use checks::*;
pub(crate) use operations::*;

#[cfg(test)]
mod tests;
