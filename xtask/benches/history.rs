//! Every service's identity in a large repository: `cargo bench --bench
//! history` (`-- --quick` for a smoke run on a smaller one).
//!
//! A repository of 100,000 commits and 50 services, written by `git
//! fast-import`: each commit changes one service, and `s00` last changed
//! 60,000 commits ago. The case is `xtask release --env dev --dry-run`,
//! which works out every service's tag (the commit that last changed its
//! inputs) and prints the plan, first without a commit-graph (a fresh
//! clone), then after `git commit-graph write --changed-paths`. Beside it,
//! the shell way: a loop of `git log -1 -- services/<name>`, one service
//! after the other. Every run checks that `s00` got the right commit.

#[path = "support/mod.rs"]
mod support;

use std::fmt::Write as _;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use support::git;

const SERVICES: usize = 50;

fn main() {
    let quick = std::env::args().any(|a| a == "--quick");
    let commits = if quick { 10_000 } else { 100_000 };
    let runs = if quick { 1 } else { 5 };
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    let started = Instant::now();
    let expected = generate(root, commits);
    println!("generated {commits} commits in {:.1}s", started.elapsed().as_secs_f64());

    let binary = env!("CARGO_BIN_EXE_xtask");
    let tool = |label: &str| {
        let times: Vec<Duration> = (0..runs)
            .map(|_| {
                let start = Instant::now();
                let out = Command::new(binary)
                    .args(["release", "--env", "dev", "--dry-run"])
                    .current_dir(root)
                    .output()
                    .unwrap();
                let took = start.elapsed();
                let plan = String::from_utf8_lossy(&out.stdout);
                assert!(out.status.success(), "{plan}{}", String::from_utf8_lossy(&out.stderr));
                assert!(
                    plan.contains(&format!("/s00:{}\n", &expected[..12])),
                    "{label}: s00 got the wrong commit:\n{plan}"
                );
                took
            })
            .collect();
        row(&format!("xtask release --dry-run, 50 services, {label}"), &times);
    };
    let shell = |label: &str| {
        let script = "for s in services/*; do git log -1 --first-parent --format=%H -- \"$s\"; done";
        let times: Vec<Duration> = (0..runs)
            .map(|_| {
                let start = Instant::now();
                let out = Command::new("sh").args(["-c", script]).current_dir(root).output().unwrap();
                let took = start.elapsed();
                assert!(
                    String::from_utf8_lossy(&out.stdout).starts_with(&expected),
                    "the loop found another commit for s00"
                );
                took
            })
            .collect();
        row(&format!("git log loop, 50 services, {label}"), &times);
    };
    println!("| case | runs | median | min | max |\n|---|---|---|---|---|");
    tool("no commit-graph");
    shell("no commit-graph");
    let start = Instant::now();
    git(root, &["commit-graph", "write", "--reachable", "--changed-paths"]);
    println!("(commit-graph with changed paths written in {:.1}s)", start.elapsed().as_secs_f64());
    tool("commit-graph with changed paths");
    shell("commit-graph with changed paths");
}

/// Writes the repository; returns the id of the commit that last changed `s00`.
fn generate(root: &Path, commits: usize) -> String {
    git(root, &["init", "-q", "-b", "main"]);
    let last_s00 = commits * 2 / 5 - 50;
    let mut stream = String::new();
    for i in 0..commits {
        let _ = write!(
            stream,
            "commit refs/heads/main\nmark :{}\ncommitter b <b@example.com> {} +0000\ndata 2\nc\n",
            i + 1,
            1_700_000_000 + i
        );
        if i == 0 {
            let env = "region = \"us-east-1\"\naccount_id = \"123456789012\"\ncluster = \"c\"\nregistry = \"127.0.0.1:5000\"\n";
            let _ = write!(stream, "M 100644 inline env/dev.toml\ndata {}\n{env}\n", env.len());
            let _ = write!(stream, "M 100644 inline .gitignore\ndata 17\n/services/*/*.env\n");
            for k in 0..SERVICES {
                let dockerfile = "FROM scratch\nCOPY . /\n";
                let _ = write!(
                    stream,
                    "M 100644 inline services/s{k:02}/Dockerfile\ndata {}\n{dockerfile}\n",
                    dockerfile.len()
                );
            }
            continue;
        }
        let _ = writeln!(stream, "from :{i}");
        // s00 changes every 50th commit until its last change; the others take turns.
        let service = if i <= last_s00 && i % 50 == 0 { 0 } else { 1 + i % (SERVICES - 1) };
        let text = format!("{i}\n");
        let _ =
            write!(stream, "M 100644 inline services/s{service:02}/data.txt\ndata {}\n{text}\n", text.len());
    }
    let mut import = Command::new("git")
        .args(["fast-import", "--quiet"])
        .current_dir(root)
        .env("GIT_CONFIG_GLOBAL", "/dev/null")
        .stdin(Stdio::piped())
        .spawn()
        .unwrap();
    std::io::Write::write_all(import.stdin.as_mut().unwrap(), stream.as_bytes()).unwrap();
    drop(import.stdin.take());
    assert!(import.wait().unwrap().success(), "git fast-import");
    git(root, &["reset", "-q", "--hard", "main"]);
    let expected = git(root, &["log", "-1", "--first-parent", "--format=%H", "--", "services/s00"]);
    let behind = git(root, &["rev-list", "--count", &format!("{expected}..HEAD")]);
    println!("s00 last changed {behind} commits ago");
    expected
}

fn row(case: &str, times: &[Duration]) {
    let mut sorted = times.to_vec();
    sorted.sort();
    let ms = |d: Duration| format!("{:.0} ms", d.as_secs_f64() * 1000.0);
    println!(
        "| {case} | {} | {} | {} | {} |",
        times.len(),
        ms(sorted[sorted.len() / 2]),
        ms(sorted[0]),
        ms(sorted[sorted.len() - 1])
    );
}
