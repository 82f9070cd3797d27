//! The flags of the day-2 commands: a service's logs, and the stack on a laptop.

use clap::Args;

/// Print a service's log lines from CloudWatch Logs.
///
/// Reads the log group, region and stream prefix from the task definition
/// the service runs (its containers' `awslogs` options), and prints each
/// line with its time, task (the first 8 characters of its id) and
/// container, oldest first. `--follow` keeps printing new lines until
/// Ctrl-C.
#[derive(Debug, Args)]
#[command(name = "logs")]
#[command(after_help = "Examples:\n  cargo xtask logs --env prod --service api\n  \
                        cargo xtask logs --env prod --service api --since 1h --follow\n  \
                        cargo xtask logs --env prod --service api --task 0f1e2d3c4b5a")]
pub(crate) struct LogsFlags {
    /// Environment, a file under `env/`.
    #[arg(long, value_name = "ENV")]
    pub(crate) env: String,
    /// The service whose logs to print.
    #[arg(long, value_name = "SERVICE")]
    pub(crate) service: String,
    /// How far back to start.
    #[arg(long, default_value = "10m", value_name = "DURATION", value_parser = crate::duration::parse)]
    pub(crate) since: std::time::Duration,
    /// Keep printing new lines as they arrive, until Ctrl-C.
    #[arg(long, short = 'f')]
    pub(crate) follow: bool,
    /// Only this task's lines (its id, or the start of it).
    #[arg(long, value_name = "ID")]
    pub(crate) task: Option<String>,
}

/// Start the stack on this machine from the images of the current commit.
///
/// Writes the env files (as `dev-env`), builds the images of the services in
/// `docker-compose.yml` (as `build`), writes `docker-compose.override.yml`
/// with each service's image (tagged with the commit that last changed it),
/// runs `docker compose up --detach` (the v2 plugin, else `docker-compose`),
/// and waits until every container runs and passes its health check; then
/// prints each one's URLs. A container that exits or fails its health check
/// is shown with its last log lines, and the command exits 1.
#[derive(Debug, Args)]
#[command(after_help = "Examples:\n  cargo xtask up\n  cargo xtask up --timeout 5m\n  \
                        API_PORT=18000 WEB_PORT=18080 cargo xtask up")]
pub(crate) struct Up {
    /// Environment whose values the env files take, a file under `env/`.
    #[arg(long, default_value = "dev", value_name = "ENV")]
    pub(crate) env: String,
    /// How long the containers may take to pass their health checks.
    #[arg(long, default_value = "2m", value_name = "DURATION", value_parser = crate::duration::parse)]
    pub(crate) timeout: std::time::Duration,
}

/// Stop the stack `cargo xtask up` started (`docker compose down`).
#[derive(Debug, Args)]
#[command(after_help = "Examples:\n  cargo xtask down")]
pub(crate) struct Down {}

/// Run a one-off task of a service and print its output.
///
/// Starts one task of the task definition this commit would release (its
/// image must be pushed; the revision is registered unless ECS has it), or
/// with `--current` of the revision the service runs, with the service's own
/// network configuration and capacity provider or launch type, and the
/// command after `--` in place of the container's. Follows the task until it
/// stops, prints its log lines (from CloudWatch Logs), and exits with the
/// container's exit code. A task that cannot start says why (the stopped
/// reason and the container's, e.g. CannotPullContainerError).
#[derive(Debug, Args)]
#[command(name = "run")]
#[command(
    after_help = "Examples:\n  cargo xtask run --env staging --service api -- python manage.py migrate\n  \
                        cargo xtask run --env prod --service api --current --yes -- python manage.py shell -c 'print(1)'"
)]
pub(crate) struct RunTaskFlags {
    /// Environment, a file under `env/`.
    #[arg(long, value_name = "ENV")]
    pub(crate) env: String,
    /// The service whose task definition the task runs.
    #[arg(long, value_name = "SERVICE")]
    pub(crate) service: String,
    /// Run the revision the service runs now, instead of this commit's.
    #[arg(long)]
    pub(crate) current: bool,
    /// The container the command replaces the command of (default: the first essential one).
    #[arg(long, value_name = "CONTAINER")]
    pub(crate) container: Option<String>,
    /// How long the task may run before the command gives up following it.
    #[arg(long, default_value = "30m", value_name = "DURATION", value_parser = crate::duration::parse)]
    pub(crate) timeout: std::time::Duration,
    /// How often the task is asked whether it stopped.
    #[arg(long, default_value = "2s", value_name = "DURATION", value_parser = crate::duration::parse)]
    pub(crate) poll_interval: std::time::Duration,
    #[command(flatten)]
    pub(crate) confirm: super::Confirm,
    #[command(flatten)]
    pub(crate) preview: super::DryRun,
    /// The command and its arguments (default: the container's own).
    #[arg(last = true, value_name = "COMMAND")]
    pub(crate) command: Vec<String>,
}

/// Open a shell (or run a command) in a running task of a service, through ECS Exec.
///
/// Checks first, and reports together with the fix for each: that the
/// service has ECS Exec enabled (`enableExecuteCommand`), that a running task
/// has the ExecuteCommandAgent running in the container, that the task role
/// is allowed the `ssmmessages` actions, and that the AWS CLI and the Session
/// Manager plugin are on PATH. Then hands the terminal to `aws ecs
/// execute-command --interactive` (with `--dry-run`, prints that command).
#[derive(Debug, Args)]
#[command(name = "exec")]
#[command(after_help = "Examples:\n  cargo xtask exec --env staging --service api\n  \
                        cargo xtask exec --env prod --service api --container api -- python manage.py shell\n  \
                        cargo xtask exec --env prod --service api --dry-run")]
pub(crate) struct ExecFlags {
    /// Environment, a file under `env/`.
    #[arg(long, value_name = "ENV")]
    pub(crate) env: String,
    /// The service whose running task to open.
    #[arg(long, value_name = "SERVICE")]
    pub(crate) service: String,
    /// The container (default: the task's first).
    #[arg(long, value_name = "CONTAINER")]
    pub(crate) container: Option<String>,
    /// The task (its id, or the start of it; default: the first that can be opened).
    #[arg(long, value_name = "ID")]
    pub(crate) task: Option<String>,
    /// Check, and print the command that would open the session, without opening it.
    #[arg(long)]
    pub(crate) dry_run: bool,
    /// The command to run (default: /bin/sh).
    #[arg(last = true, value_name = "COMMAND")]
    pub(crate) command: Vec<String>,
}
