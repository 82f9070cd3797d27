//! `cargo xtask`: the release tool. Parses flags, dispatches, and reports
//! how the command ended; nothing else.

mod aws;
mod backend;
mod ci;
mod clock;
mod compose;
mod context;
mod docker;
mod dockerignore;
mod duration;
mod ecr;
mod ecs;
mod envfile;
mod executor;
mod exit;
mod files;
mod findings;
mod flags;
mod git;
mod history;
mod iam;
mod identity;
mod image_ref;
mod json;
mod lock;
mod logs;
mod net;
mod plan;
mod preview;
mod program;
mod project;
mod render;
mod report;
#[cfg(test)]
mod robustness;
mod rollout;
mod secrets;
mod taskdef;
mod tasks;
mod workspace;

use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    // A reader that goes away (`cargo xtask status | head`) ends the tool
    // quietly, as it ends any Unix tool, instead of a panic at the next print.
    // SAFETY: restoring a signal's default action before any thread exists.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
    }
    let cli = flags::Cli::parse();
    let out = report::Reporter::new(match (cli.quiet, cli.verbose) {
        (true, _) => report::Level::Quiet,
        (_, true) => report::Level::Verbose,
        _ => report::Level::Normal,
    });
    let out = &out;
    let started = std::time::Instant::now();
    let result = match cli.command {
        flags::Command::DevEnv(flags) => tasks::dev_env::run(flags, out),
        flags::Command::Render(flags) => tasks::render::run(flags, out),
        flags::Command::Build(flags) => tasks::build::run(flags, out),
        flags::Command::Push(flags) => tasks::push::run(flags, out),
        flags::Command::Release(flags) => tasks::release::run(flags, out),
        flags::Command::Deploy(flags) => tasks::deploy::run(flags, out),
        flags::Command::Diff(flags) => tasks::diff::run(flags, out),
        flags::Command::Status(flags) => tasks::status::run(flags, out),
        flags::Command::Rollback(flags) => tasks::rollback::run(flags, out),
        flags::Command::History(flags) => tasks::history::run(flags, out),
        flags::Command::Ci(flags) => tasks::ci::run(flags, out),
        flags::Command::PrePush(flags) => tasks::pre_push::run(flags, out),
        flags::Command::Hooks(flags) => tasks::hooks::run(flags, out),
        flags::Command::Doctor(flags) => tasks::doctor::run(flags, out),
        flags::Command::Run(flags) => tasks::run::run(flags, out),
        flags::Command::Exec(flags) => tasks::exec::run(flags, out),
        flags::Command::Logs(flags) => tasks::logs::run(flags, out),
        flags::Command::Up(flags) => tasks::up::up(flags, out),
        flags::Command::Down(flags) => tasks::up::down(flags, out),
        flags::Command::Test(flags) => tasks::test::run(flags, out),
        flags::Command::Completions(flags) => tasks::completions::run(flags, out),
        flags::Command::Docs(flags) => tasks::docs::run(flags, out),
    };
    // In CI the outcome is also reported where the CI system shows it.
    let title = format!("cargo xtask {}", command_words());
    let message = result.as_ref().err().map(|e| format!("{e:#}"));
    if let Err(e) = ci::write_summary(&title, started.elapsed(), message.as_deref(), &out.take_rows()) {
        out.warn(format_args!("warning: {e:#}"));
    }
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            // `{:#}` prints the chain of contexts on one line and, unlike
            // `Debug`, never a backtrace, even with RUST_BACKTRACE set.
            out.warn(format_args!("error: {error:#}"));
            ci::annotate(out, &title, &format!("{error:#}"));
            // A deployment that failed and was rolled back has its own code,
            // so a pipeline can tell it from a tool that could not start.
            match error.downcast_ref::<crate::exit::Failed>() {
                Some(failed) => ExitCode::from(failed.code),
                None => ExitCode::FAILURE,
            }
        }
    }
}

/// The command as typed, flags left out (`ci build`), to title annotations
/// and summaries.
fn command_words() -> String {
    std::env::args().skip(1).take_while(|a| !a.starts_with('-')).collect::<Vec<_>>().join(" ")
}
