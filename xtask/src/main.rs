//! `cargo xtask`: the release tool. Parses flags and dispatches; nothing else.

mod aws;
mod context;
mod deploy;
mod docker;
mod ecr;
mod ecs;
mod exec;
mod files;
mod flags;
mod git;
mod plan;
mod project;
mod render;
mod taskdef;
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
        flags::Command::Deploy(flags) => tasks::deploy::run(flags),
        flags::Command::Diff(flags) => tasks::diff::run(flags),
        flags::Command::Status(flags) => tasks::status::run(flags),
        flags::Command::Rollback(flags) => tasks::rollback::run(flags),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            // `{:#}` prints the chain of contexts on one line and, unlike
            // `Debug`, never a backtrace, even with RUST_BACKTRACE set.
            eprintln!("error: {error:#}");
            // A deployment that failed and was rolled back has its own code,
            // so a pipeline can tell it from a tool that could not start.
            match error.downcast_ref::<deploy::Failed>() {
                Some(failed) => ExitCode::from(failed.code),
                None => ExitCode::FAILURE,
            }
        }
    }
}
