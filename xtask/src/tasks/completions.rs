//! `cargo xtask completions <shell>`: a completion script for `cargo xtask`.
//!
//! The tool is typed as two words, so the script completes the command
//! `cargo` when its first word is `xtask`: clap_complete writes it for a
//! `cargo` command whose one subcommand is the tool, and its functions are
//! renamed so they do not replace cargo's own completion. Any other `cargo`
//! command line goes on to cargo's own completion (`_cargo`, from rustup)
//! when the shell has loaded it.

use anyhow::Result;
use clap::CommandFactory;
use clap_complete::Shell;

use crate::flags::{Cli, Completions};
use crate::report::Reporter;

pub(crate) fn run(flags: Completions, out: &Reporter) -> Result<()> {
    out.text(script(flags.shell)?);
    Ok(())
}

/// What the bash and zsh scripts end with instead of registering `_cargo`.
const BASH_DISPATCH: &str = r#"
# `cargo xtask ...` is completed here; any other cargo command line by
# cargo's own completion (`_cargo`), when one is loaded.
_cargo_xtask_or_cargo() {
    if [[ ${COMP_WORDS[1]} == xtask ]] || ! declare -F _cargo >/dev/null; then
        _cargo_xtask "$@"
    else
        _cargo "$@"
    fi
}
complete -F _cargo_xtask_or_cargo -o bashdefault -o default cargo
"#;

const ZSH_DISPATCH: &str = r#"
# `cargo xtask ...` is completed here; any other cargo command line by
# cargo's own completion (`_cargo`), when one is loaded.
_cargo_xtask_or_cargo() {
    if [[ $words[2] == xtask ]] || (( ! $+functions[_cargo] )); then
        _cargo_xtask "$@"
    else
        _cargo "$@"
    fi
}
compdef _cargo_xtask_or_cargo cargo
"#;

pub(crate) fn script(shell: Shell) -> Result<String> {
    let mut cargo = clap::Command::new("cargo")
        .disable_help_flag(true)
        .disable_help_subcommand(true)
        .disable_version_flag(true)
        .subcommand(Cli::command().name("xtask").bin_name("cargo xtask"));
    let mut out = Vec::new();
    clap_complete::generate(shell, &mut cargo, "cargo", &mut out);
    let generated = String::from_utf8(out)?;
    let header = format!("# Completion for `cargo xtask`, written by `cargo xtask completions {shell}`.\n");
    Ok(match shell {
        Shell::Bash => {
            let body = cut_at(&generated, "\nif [[ \"${BASH_VERSINFO[0]}\" -eq 4")?;
            header + &rename(body, "_cargo()", "_cargo_xtask()")? + BASH_DISPATCH
        }
        Shell::Zsh => {
            let body = cut_at(&generated, "\nif [ \"$funcstack[1]\" = \"_cargo\" ]; then")?;
            // `#compdef cargo` would make compinit take the file as cargo's completion.
            let body = body.strip_prefix("#compdef cargo\n").unwrap_or(body);
            header + &rename_words(body, "_cargo", "_cargo_xtask") + ZSH_DISPATCH
        }
        Shell::Fish => header + &generated.replace("__fish_cargo_", "__fish_cargo_xtask_"),
        // PowerShell and Elvish scripts register a completer for `cargo` as a whole.
        _ => header + &generated,
    })
}

/// The text before `marker`; an error if clap_complete no longer writes it.
fn cut_at<'a>(text: &'a str, marker: &str) -> Result<&'a str> {
    match text.find(marker) {
        Some(at) => Ok(&text[..at + 1]),
        None => anyhow::bail!("clap_complete's script no longer holds {marker:?}; update completions.rs"),
    }
}

fn rename(text: &str, from: &str, to: &str) -> Result<String> {
    anyhow::ensure!(
        text.contains(from),
        "clap_complete's script no longer holds {from:?}; update completions.rs"
    );
    Ok(text.replace(from, to))
}

/// Replaces `from` where it starts a word (`_cargo`, `_cargo_commands`), not
/// inside one (`x_cargo`).
fn rename_words(text: &str, from: &str, to: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut copied = 0;
    for (at, _) in text.match_indices(from) {
        let starts_word = text[..at].chars().last().is_none_or(|c| !(c.is_alphanumeric() || c == '_'));
        out += &text[copied..at];
        out += if starts_word { to } else { from };
        copied = at + from.len();
    }
    out + &text[copied..]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn words_are_renamed_where_they_start() {
        assert_eq!(
            rename_words("_cargo() { _cargo_commands; x_cargo }", "_cargo", "_cargo_xtask"),
            "_cargo_xtask() { _cargo_xtask_commands; x_cargo }"
        );
    }

    #[test]
    fn no_script_registers_cargo_s_own_function_names() {
        for shell in [Shell::Bash, Shell::Zsh, Shell::Fish] {
            let text = script(shell).unwrap();
            assert!(!text.lines().any(|l| l.starts_with("_cargo()")), "{shell} defines _cargo");
            assert!(!text.contains("function __fish_cargo_needs"), "{shell}");
            assert!(text.contains("release"), "{shell}");
        }
    }
}
