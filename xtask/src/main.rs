//! `cargo xtask`: the release tool. Parses flags and dispatches; nothing else.

mod context;
mod docker;
mod ecr;
mod exec;
mod files;
mod flags;
mod git;
mod plan;
mod project;
mod render;
mod tasks;

use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    let cli = flags::Cli::parse();
    let result = match cli.command {
        flags::Command::DevEnv(flags) => tasks::dev_env::run(flags),
        flags::Command::Render(flags) => tasks::render::run(flags),
        flags::Command::Build(flags) => tasks::build::run(flags),
        flags::Command::Push(flags) => tasks::push::run(flags),
        flags::Command::Release(flags) => tasks::release::run(flags),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            // `{:#}` prints the chain of contexts on one line and, unlike
            // `Debug`, never a backtrace, even with RUST_BACKTRACE set.
            eprintln!("error: {error:#}");
            ExitCode::FAILURE
        }
    }
}
