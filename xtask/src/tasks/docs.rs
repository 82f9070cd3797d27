//! `cargo xtask docs`: the README's command reference, written from the
//! commands' own `--help`, so the two cannot drift; `--check` (run by CI)
//! fails when the README's copy is stale.

use std::path::PathBuf;

use anyhow::{bail, Context, Result};
use clap::CommandFactory;

use crate::flags::{Cli, Docs};
use crate::report::{say, Reporter};

/// The lines between which the reference stands; everything else in the README is left alone.
const BEGIN: &str =
    "<!-- command reference: written by `cargo xtask docs` from --help; do not edit by hand -->";
const END: &str = "<!-- end of command reference -->";

pub(crate) fn run(flags: Docs, out: &Reporter) -> Result<()> {
    let readme = readme()?;
    let text = std::fs::read_to_string(&readme).with_context(|| format!("read {}", readme.display()))?;
    let updated = with_reference(&text, &reference())
        .with_context(|| format!("{} has no command reference to keep up to date", readme.display()))?;
    if updated == text {
        say!(out, "{}: the command reference is up to date", readme.display());
        return Ok(());
    }
    if flags.check {
        bail!(
            "{}: the command reference differs from the commands' --help; run `cargo xtask docs` and commit the \
             result",
            readme.display()
        );
    }
    crate::files::write_atomic(&readme, updated.as_bytes(), 0o644)?;
    say!(out, "{}: command reference written", readme.display());
    Ok(())
}

/// The README beside the `xtask/` folder, looked for from the current folder up.
fn readme() -> Result<PathBuf> {
    let here = std::env::current_dir()?;
    here.ancestors()
        .find(|dir| dir.join("xtask/Cargo.toml").is_file() && dir.join("README.md").is_file())
        .map(|dir| dir.join("README.md"))
        .with_context(|| {
            format!(
                "neither {} nor any parent folder has both xtask/Cargo.toml and README.md",
                here.display()
            )
        })
}

/// `text` with the part between the markers replaced by `reference`.
fn with_reference(text: &str, reference: &str) -> Result<String> {
    let begin = text.find(BEGIN).with_context(|| format!("no line {BEGIN:?}"))?;
    let end =
        text[begin..].find(END).map(|at| begin + at).with_context(|| format!("no line {END:?} after it"))?;
    Ok(format!("{}{BEGIN}\n{reference}{}", &text[..begin], &text[end..]))
}

/// Each command's short help (`-h`), the top level first, as Markdown.
fn reference() -> String {
    let mut cli = Cli::command();
    // Building gives each subcommand its full name (`cargo xtask build`) in its usage line.
    cli.build();
    let mut out = String::from("\n");
    section(&mut out, "cargo xtask", &mut cli);
    // clap's own `help` subcommands only repeat the others.
    for command in cli.get_subcommands_mut().filter(|c| c.get_name() != "help") {
        let name = format!("cargo xtask {}", command.get_name());
        section(&mut out, &name, command);
        let nested: Vec<String> = command
            .get_subcommands()
            .map(|c| c.get_name().to_string())
            .filter(|name| name != "help")
            .collect();
        for sub in nested {
            let sub_command = command.find_subcommand_mut(&sub).expect("listed just now");
            section(&mut out, &format!("{name} {sub}"), sub_command);
        }
    }
    out
}

fn section(out: &mut String, title: &str, command: &mut clap::Command) {
    // Plain text: `StyledStr`'s Display leaves styles out.
    let help = command.render_help().to_string();
    let help: Vec<&str> = help.lines().map(str::trim_end).collect();
    *out += &format!("#### `{title}`\n\n```text\n{}\n```\n\n", help.join("\n").trim_end());
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_command_and_stage_has_a_section() {
        let reference = reference();
        let mut cli = Cli::command();
        cli.build();
        for command in cli.get_subcommands().filter(|c| c.get_name() != "help") {
            let title = format!("#### `cargo xtask {}`", command.get_name());
            assert!(reference.contains(&title), "no {title}");
            for sub in command.get_subcommands().filter(|c| c.get_name() != "help") {
                let title = format!("#### `cargo xtask {} {}`", command.get_name(), sub.get_name());
                assert!(reference.contains(&title), "no {title}");
            }
        }
        assert!(reference.contains("Usage: cargo xtask build [OPTIONS]"), "{reference}");
        assert!(!reference.contains('\x1b'), "no terminal styles");
        assert!(!reference.contains("#### `cargo xtask help"), "clap's help command repeats the others");
    }

    #[test]
    fn only_the_part_between_the_markers_changes() {
        let (begin, end) = (BEGIN, END);
        let text = format!("# Title\n\nbefore\n{begin}\nold\n{end}\nafter\n");
        assert_eq!(
            with_reference(&text, "new\n").unwrap(),
            format!("# Title\n\nbefore\n{begin}\nnew\n{end}\nafter\n")
        );
        assert!(with_reference("no markers", "new").is_err());
        let text = format!("{begin}\nold\n");
        assert_eq!(with_reference(&text, "x").unwrap_err().to_string(), format!("no line {end:?} after it"));
    }
}
