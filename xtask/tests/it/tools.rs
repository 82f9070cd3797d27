//! The programs the tests run besides the tool, looked up in the list that
//! `cargo xtask test` installs from (`xtask/tests/tools.toml`): a missing one
//! fails its test with the line that installs it, never a bare OS error.

use std::ffi::OsStr;
use std::path::PathBuf;
use std::process::Command;

/// The program's path, or a panic naming how to install it.
pub fn need(program: &str) -> PathBuf {
    lookup(program, &std::env::var_os("PATH").unwrap_or_default()).unwrap_or_else(|e| panic!("{e}"))
}

/// A command for a program the tests need (see [`need`]).
pub fn tool(program: &str) -> Command {
    Command::new(need(program))
}

fn lookup(program: &str, path: &OsStr) -> Result<PathBuf, String> {
    let list: toml::Table =
        toml::from_str(include_str!("../tools.toml")).expect("xtask/tests/tools.toml parses");
    let entry =
        list["tool"].as_array().unwrap().iter().find(|t| t["program"].as_str() == Some(program)).ok_or_else(
            || format!("`{program}` is not in xtask/tests/tools.toml; add it with its package"),
        )?;
    let install = match (entry.get("apt"), entry.get("pip")) {
        (Some(apt), _) => format!("apt-get install {}", apt.as_str().unwrap()),
        (None, Some(pip)) => format!("pip install '{}'", pip.as_str().unwrap()),
        (None, None) => unreachable!("every entry names a package"),
    };
    let found = if program.contains('/') {
        Some(PathBuf::from(program)).filter(|p| p.exists())
    } else {
        std::env::split_paths(path).map(|folder| folder.join(program)).find(|p| p.is_file())
    };
    found.ok_or_else(|| {
        format!(
            "this test needs `{program}`: install it with `{install}`, or run `cargo xtask test`, which does"
        )
    })
}

#[test]
fn a_missing_program_is_named_with_its_install_line() {
    let empty = tempfile::tempdir().unwrap();
    assert_eq!(
        lookup("skopeo", empty.path().as_os_str()).unwrap_err(),
        "this test needs `skopeo`: install it with `apt-get install skopeo`, or run `cargo xtask test`, which does"
    );
    assert_eq!(
        lookup("moto_server", empty.path().as_os_str()).unwrap_err(),
        "this test needs `moto_server`: install it with `pip install 'moto[server]'`, or run `cargo xtask test`, \
         which does"
    );
    assert_eq!(
        lookup("curl", empty.path().as_os_str()).unwrap_err(),
        "`curl` is not in xtask/tests/tools.toml; add it with its package"
    );
    std::fs::write(empty.path().join("skopeo"), "").unwrap();
    assert_eq!(lookup("skopeo", empty.path().as_os_str()).unwrap(), empty.path().join("skopeo"));
}
