//! `cargo xtask test`: the README's test command. Checks every program the
//! tests need (the list in `xtask/tests/tools.toml`, which the tests read
//! too), installs what is missing through apt-get and pip when it can, and
//! names the install line when it cannot; then runs `cargo test --workspace`.

use std::path::Path;

use anyhow::{bail, Context, Result};
use serde::Deserialize;
use xshell::{cmd, Shell};

use crate::flags::Test;
use crate::report::{show, Reporter};
use crate::workspace::find_program;

/// The list, compiled in so the command works from any folder.
const TOOLS: &str = include_str!("../../tests/tools.toml");

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Tools {
    tool: Vec<Tool>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Tool {
    /// A command name looked up in PATH, or an absolute path.
    program: String,
    /// The Debian package that has it.
    apt: Option<String>,
    /// The PyPI package that has it.
    pip: Option<String>,
    /// Must be a statically linked executable (it runs in images built FROM scratch).
    #[serde(default, rename = "static")]
    statically_linked: bool,
    why: String,
}

impl Tool {
    fn install_line(&self) -> String {
        match (&self.apt, &self.pip) {
            (Some(apt), _) => format!("apt-get install {apt}"),
            (None, Some(pip)) => format!("pip install '{pip}'"),
            (None, None) => format!("install {}", self.program),
        }
    }

    /// Whether the program is there, and of the kind the tests need.
    fn present(&self) -> bool {
        match find_program(&self.program) {
            Some(path) => !self.statically_linked || is_static(&path),
            None => false,
        }
    }
}

fn tools() -> Vec<Tool> {
    // The list is compiled in and checked by a unit test, so it parses.
    toml::from_str::<Tools>(TOOLS).expect("xtask/tests/tools.toml is a valid list").tool
}

pub(crate) fn run(flags: Test, out: &Reporter) -> Result<()> {
    let tools = tools();
    let missing: Vec<&Tool> = tools.iter().filter(|t| !t.present()).collect();
    if !missing.is_empty() {
        let lines: Vec<String> =
            missing.iter().map(|t| format!("  {:<16} {} ({})", t.program, t.install_line(), t.why)).collect();
        if flags.no_install {
            bail!("the tests need programs this machine lacks:\n{}", lines.join("\n"));
        }
        show!(out, "test: installing what the tests need:\n{}", lines.join("\n"));
        install(&missing)?;
        let still: Vec<String> = missing
            .iter()
            .filter(|t| !t.present())
            .map(|t| format!("{} ({})", t.program, t.install_line()))
            .collect();
        if !still.is_empty() {
            bail!("still missing after installing: {}", still.join(", "));
        }
    }
    let sh = Shell::new()?;
    let format = "{{.ServerVersion}}";
    let engine =
        cmd!(sh, "docker info --format {format}").quiet().ignore_status().ignore_stderr().output()?;
    if !engine.status.success() {
        bail!(
            "the Docker Engine does not answer (`docker info` failed): start it (`sudo systemctl start docker`), \
             or set DOCKER_HOST to one that runs; the image tests build and run images"
        );
    }
    show!(
        out,
        "test: {} programs present, Docker Engine {}",
        tools.len(),
        String::from_utf8_lossy(&engine.stdout).trim()
    );
    let cargo = super::pre_push::cargo();
    let args = &flags.args;
    cmd!(sh, "{cargo} test --workspace {args...}")
        .quiet()
        .run()
        .context("the tests failed (their output is above)")?;
    Ok(())
}

/// Installs the missing packages: apt-get needs root (or sudo without a
/// password); pip installs for the Python on PATH.
fn install(missing: &[&Tool]) -> Result<()> {
    let sh = Shell::new()?;
    let apt: Vec<&str> = missing.iter().filter_map(|t| t.apt.as_deref()).collect();
    let pip: Vec<&str> =
        missing.iter().filter(|t| t.apt.is_none()).filter_map(|t| t.pip.as_deref()).collect();
    if !apt.is_empty() {
        // SAFETY: geteuid has no preconditions and cannot fail.
        let root = unsafe { libc::geteuid() } == 0;
        // apt-get itself, or `sudo apt-get`.
        let apt_get: Vec<&str> = if root {
            vec!["apt-get"]
        } else if cmd!(sh, "sudo -n true").quiet().ignore_stderr().run().is_ok() {
            vec!["sudo", "apt-get"]
        } else {
            bail!(
                "installing Debian packages needs root: run `sudo apt-get install {}`, then this command again",
                apt.join(" ")
            );
        };
        let _frontend = sh.push_env("DEBIAN_FRONTEND", "noninteractive");
        let apt_packages = &apt;
        let (program, sudo_args) = apt_get.split_first().expect("a command");
        cmd!(sh, "{program} {sudo_args...} update -qq").quiet().run().context("apt-get update")?;
        cmd!(sh, "{program} {sudo_args...} install -y -qq {apt_packages...}")
            .quiet()
            .run()
            .with_context(|| format!("apt-get install {}", apt.join(" ")))?;
    }
    if !pip.is_empty() {
        let pip_packages = &pip;
        cmd!(sh, "python3 -m pip install --quiet {pip_packages...}")
            .quiet()
            .run()
            .with_context(|| format!("pip install {}", pip.join(" ")))?;
        // Under pyenv, new commands are reached through shims made by a rehash.
        if find_program("pyenv").is_some() {
            cmd!(sh, "pyenv rehash").quiet().run().context("pyenv rehash")?;
        }
    }
    Ok(())
}

/// Whether an ELF executable is statically linked: it has no program header
/// of type PT_INTERP (the dynamic loader it would ask for).
fn is_static(path: &Path) -> bool {
    let Ok(bytes) = std::fs::read(path) else { return false };
    elf_has_interpreter(&bytes) == Some(false)
}

/// `Some(true)` when a 64-bit little-endian ELF file names an interpreter,
/// `None` when the bytes are not such a file.
fn elf_has_interpreter(bytes: &[u8]) -> Option<bool> {
    const PT_INTERP: u32 = 3;
    if bytes.get(..6)? != b"\x7fELF\x02\x01" {
        return None;
    }
    let u16_at = |at: usize| Some(u16::from_le_bytes(bytes.get(at..at + 2)?.try_into().ok()?));
    let u64_at = |at: usize| Some(u64::from_le_bytes(bytes.get(at..at + 8)?.try_into().ok()?));
    let table = usize::try_from(u64_at(0x20)?).ok()?;
    let (size, count) = (usize::from(u16_at(0x36)?), usize::from(u16_at(0x38)?));
    for header in 0..count {
        let at = table.checked_add(header.checked_mul(size)?)?;
        let kind = u32::from_le_bytes(bytes.get(at..at + 4)?.try_into().ok()?);
        if kind == PT_INTERP {
            return Some(true);
        }
    }
    Some(false)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_list_parses_and_says_how_to_install_each() {
        let tools = tools();
        assert!(tools.len() >= 10);
        for tool in &tools {
            assert!(tool.apt.is_some() || tool.pip.is_some(), "{} has no package", tool.program);
            assert!(!tool.why.is_empty());
        }
        let busybox = tools.iter().find(|t| t.program == "busybox").unwrap();
        assert!(busybox.statically_linked);
        assert_eq!(busybox.install_line(), "apt-get install busybox-static");
        let moto = tools.iter().find(|t| t.program == "moto_server").unwrap();
        assert_eq!(moto.install_line(), "pip install 'moto[server]'");
    }

    #[test]
    fn a_dynamic_executable_names_its_interpreter() {
        // The test binary itself is linked dynamically against the C library.
        let me = std::fs::read(std::env::current_exe().unwrap()).unwrap();
        assert_eq!(elf_has_interpreter(&me), Some(true));
        assert_eq!(elf_has_interpreter(b"#!/bin/sh\n"), None);
        assert_eq!(elf_has_interpreter(b"\x7fELF\x02\x01"), None, "a cut header is not read past its end");
        // A header with no program headers has no interpreter.
        let mut bare = vec![0u8; 64];
        bare[..6].copy_from_slice(b"\x7fELF\x02\x01");
        assert_eq!(elf_has_interpreter(&bare), Some(false));
    }
}
