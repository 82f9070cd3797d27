//! The flags of the commands that check and maintain rather than release:
//! the CI stages, the pre-push hook, doctor, the tests, completions and the
//! README's reference.

use clap::{Args, Subcommand};

use super::{Build, Deploy, Push, ServiceFilter};

/// Run a CI pipeline stage: the same code a developer runs locally.
///
/// `check` runs the pre-push checks, then clippy and the tests; `build`,
/// `publish` and `deploy` are `cargo xtask build`, `push` and `deploy`.
/// In CI (CI=true) output is plain lines, every error is also printed as a
/// GitHub Actions annotation (`::error file=...,line=...::`, on the line of
/// the file it names), and when GITHUB_STEP_SUMMARY is set a Markdown
/// summary of the steps is appended to it. Any command does this in CI; the
/// stages name what a pipeline calls.
#[derive(Debug, Args)]
#[command(after_help = "Examples:\n  cargo xtask ci check\n  cargo xtask ci build --env prod\n  \
                        cargo xtask ci publish --env prod\n  cargo xtask ci deploy --env prod")]
pub(crate) struct Ci {
    #[command(subcommand)]
    pub(crate) stage: CiStage,
}

#[derive(Debug, Subcommand)]
pub(crate) enum CiStage {
    /// The pre-push checks, then `cargo clippy -D warnings` and `cargo test` over the workspace.
    Check(CiCheck),
    /// Build the images for the commit (`cargo xtask build`).
    Build(Build),
    /// Print, as a GitHub Actions matrix, the services whose images are not in the registry yet.
    Matrix(CiMatrix),
    /// Push the commit's images to the environment's registry (`cargo xtask push`).
    Publish(Push),
    /// Register, deploy and wait for the commit's pushed images (`cargo xtask deploy`).
    Deploy(Deploy),
}

/// The services a release still has to build and push, for parallel jobs.
///
/// Prints one line of JSON, `{"include":[{"service":"api"},...]}`, listing the
/// services whose image for this commit is not in the environment's registry
/// (all of them on a tree with uncommitted changes); nothing else goes to
/// stdout; in GitHub Actions it is also written to `$GITHUB_OUTPUT` as the
/// step output `matrix`. A workflow feeds it to `strategy.matrix` (through `fromJSON`), runs
/// `ci publish --service S` in each job, then one job releases. Needs the
/// Docker Engine and an AWS session (the registry is asked through both).
#[derive(Debug, Args)]
#[command(after_help = "Examples:\n  cargo xtask ci matrix --env prod\n  \
                        cargo xtask ci matrix --env prod --service api --service web")]
pub(crate) struct CiMatrix {
    /// Environment whose registry is asked, a file under `env/`.
    #[arg(long, value_name = "ENV")]
    pub(crate) env: String,
    #[command(flatten)]
    pub(crate) services: ServiceFilter,
}

/// What `ci check` runs.
#[derive(Debug, Args)]
#[command(after_help = "Examples:\n  cargo xtask ci check\n  cargo xtask ci check --no-tests")]
pub(crate) struct CiCheck {
    /// Leave out `cargo test` (for a pipeline that runs the tests in a job of their own).
    #[arg(long)]
    pub(crate) no_tests: bool,
}

/// Run the fast offline checks that the git pre-push hook runs.
///
/// Every environment file loads; every template renders for every
/// environment; task definitions have only the keys and types
/// RegisterTaskDefinition takes, no secret in `environment` (by name, by
/// value or by the shape of a credential), secrets
/// referenced by SSM parameter name or ARN or Secrets Manager ARN, and images
/// by commit, version tag or digest; generated env files are up to date, 0600
/// and ignored by git;
/// no generated env file is tracked; `cargo fmt --check`. No network, no
/// Docker Engine and no AWS session needed. Process variables that only
/// the release has (CI secrets) may be missing.
#[derive(Debug, Args)]
#[command(after_help = "Examples:\n  cargo xtask pre-push\n  cargo xtask hooks install")]
pub(crate) struct PrePush {}

/// Install or remove the git pre-push hook that runs `cargo xtask pre-push`.
///
/// The hook goes where git looks for it (`core.hooksPath`, else
/// `.git/hooks`). An existing hook that the tool did not install is never
/// replaced or removed: the command refuses and says how to chain the two.
#[derive(Debug, Args)]
#[command(after_help = "Examples:\n  cargo xtask hooks install\n  cargo xtask hooks uninstall")]
pub(crate) struct Hooks {
    #[command(subcommand)]
    pub(crate) action: HooksAction,
}

#[derive(Debug, Subcommand)]
pub(crate) enum HooksAction {
    /// Install the pre-push hook (refuses to replace a hook of someone else's).
    Install,
    /// Remove the pre-push hook, if cargo xtask installed it.
    Uninstall,
}

/// Check the set-up and say how to fix whatever is wrong.
///
/// Checks everything at once and prints each finding with its fix: the git
/// repository and tree; the Docker Engine and its API version; the
/// environment files; and with `--env`, the templates and the process
/// variables they need, that generated files are ignored by git, AWS
/// credentials (present, not expired), the AWS endpoint and the registry
/// reachable, an ECR token, the ECS cluster and services. `--reach` checks
/// other endpoints (a database, an API); a connection that fails is
/// diagnosed: does the name resolve, is the port closed or silent, and the
/// usual causes. Exits 1 when a check fails.
#[derive(Debug, Args)]
#[command(after_help = "Examples:\n  cargo xtask doctor\n  cargo xtask doctor --env prod\n  \
                        cargo xtask doctor --env prod --reach postgres://db.internal.example.com:5432")]
pub(crate) struct Doctor {
    /// Also check this environment's AWS account, registry, cluster and services (a file under `env/`).
    #[arg(long, value_name = "ENV")]
    pub(crate) env: Option<String>,
    /// Also check that this endpoint answers (repeatable): a URL or `host:port`.
    #[arg(long, value_name = "URL")]
    pub(crate) reach: Vec<String>,
    /// How long a connection may take before it counts as unanswered.
    #[arg(long, default_value = "3s", value_name = "DURATION", value_parser = crate::duration::parse)]
    pub(crate) connect_timeout: std::time::Duration,
    /// Print one JSON document (its shape: docs/json.md) instead of lines.
    #[arg(long)]
    pub(crate) json: bool,
}

/// Run the tests, installing first the programs they need.
///
/// Checks each program the tests use besides Rust (the list, with the
/// package of each, is `xtask/tests/tools.toml`), installs the missing ones
/// with apt-get (as root or through `sudo -n`) and pip, checks that the Docker
/// Engine answers, then runs `cargo test --workspace` with the arguments given
/// after `--`. Without a way to install, it names the install line of each
/// missing program and runs nothing.
#[derive(Debug, Args)]
#[command(after_help = "Examples:\n  cargo xtask test\n  cargo xtask test --no-install\n  \
                        cargo xtask test -- -p xtask --test it builder")]
pub(crate) struct Test {
    /// Only check; name what is missing instead of installing it.
    #[arg(long)]
    pub(crate) no_install: bool,
    /// Arguments for `cargo test --workspace` (after `--`).
    #[arg(last = true, value_name = "CARGO TEST ARGS")]
    pub(crate) args: Vec<String>,
}

/// Print a shell completion script for `cargo xtask`.
///
/// The script completes `cargo` command lines whose first word is `xtask`,
/// and hands any other cargo command line to cargo's own completion when the
/// shell has it. Write it to a file once and load that file at shell start.
#[derive(Debug, Args)]
#[command(after_help = "Examples:\n  cargo xtask completions bash > ~/.cargo-xtask.bash  \
                        # in ~/.bashrc: source ~/.cargo-xtask.bash\n  \
                        cargo xtask completions zsh > ~/.cargo-xtask.zsh  # in ~/.zshrc, after compinit\n  \
                        cargo xtask completions fish > ~/.config/fish/conf.d/cargo-xtask.fish")]
pub(crate) struct Completions {
    /// The shell the script is for.
    #[arg(value_name = "SHELL")]
    pub(crate) shell: clap_complete::Shell,
}

/// Write the README's command reference from each command's --help.
///
/// Replaces what stands between the README's two command-reference marker
/// lines with the short help of every command; the rest of the README is
/// left alone. `--check` writes nothing and fails when the reference is
/// stale (CI runs it), so a new command or flag cannot be missing.
#[derive(Debug, Args)]
#[command(after_help = "Examples:\n  cargo xtask docs\n  cargo xtask docs --check")]
pub(crate) struct Docs {
    /// Write nothing; fail if the README's reference differs from --help.
    #[arg(long)]
    pub(crate) check: bool,
}
