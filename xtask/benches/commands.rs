//! Wall time of the built binary on the commands people run most, measured
//! from outside like a user would: `cargo bench --bench commands`.
//!
//! Cases: `--help` start-up; `dev-env` rendering 20 services (first run
//! writes every file, later runs find them unchanged); `pre-push` on those
//! 20 services, and on this repository itself, where it also runs
//! `cargo fmt --check` (budget: under 3 s warm). Each case reports the
//! median, minimum and maximum over many runs. `-- --quick` runs a few
//! iterations only, to prove the benchmark still works.

use std::fs;
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use support::git;

#[path = "support/mod.rs"]
mod support;

const SERVICES: usize = 20;

fn main() {
    let quick = std::env::args().any(|a| a == "--quick");
    let runs = if quick { 3 } else { 50 };
    let binary = env!("CARGO_BIN_EXE_xtask");
    let dir = tempfile::tempdir().expect("create a temporary directory");
    project(dir.path(), SERVICES);

    println!("{:<38} {:>6} {:>9} {:>9} {:>9}", "case", "runs", "median", "min", "max");
    report("xtask --help", runs, || run(binary, dir.path(), &["--help"]));
    report(&format!("dev-env, {SERVICES} services, all unchanged"), runs, || {
        run(binary, dir.path(), &["dev-env"])
    });
    report(&format!("dev-env, {SERVICES} services, all written"), runs, || {
        for i in 0..SERVICES {
            let _ = fs::remove_file(dir.path().join(format!("services/svc{i:02}/dev.env")));
        }
        run(binary, dir.path(), &["dev-env"])
    });
    report(&format!("pre-push, {SERVICES} services"), runs, || run(binary, dir.path(), &["pre-push"]));
    let repository = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let runs = if quick { 1 } else { 10 };
    report("pre-push, this repository (with fmt)", runs, || run(binary, &repository, &["pre-push"]));
}

/// A committed project with `n` services, each with an env template that
/// reads environment values, a process variable and the image references.
fn project(root: &Path, n: usize) {
    let write = |rel: String, text: String| {
        let path = root.join(rel);
        fs::create_dir_all(path.parent().unwrap()).unwrap();
        fs::write(path, text).unwrap();
    };
    write(".gitignore".into(), "/services/*/*.env\n".into());
    write(
        "env/dev.toml".into(),
        "region = \"us-east-1\"\naccount_id = \"000000000000\"\ncluster = \"bench\"\n\
         registry = \"127.0.0.1:5000\"\n\n[values]\nlog_level = \"debug\"\nport = 8000\n"
            .into(),
    );
    for i in 0..n {
        write(format!("services/svc{i:02}/Dockerfile"), "FROM scratch\n".into());
        write(
            format!("templates/svc{i:02}.env.j2"),
            "APP_ENV={{ environment.name }}\nPORT={{ values.port }}\nLOG_LEVEL={{ values.log_level }}\n\
             USER_NAME={{ env(\"USER\", default=\"dev\") }}\nTOKEN={{ secret(\"BENCH_TOKEN\", default=\"\") }}\n\
             {% for name, image in images | items %}IMAGE_{{ loop.index }}={{ image }}\n{% endfor %}"
                .into(),
        );
    }
    for args in [&["init", "-q"][..], &["add", "-A"], &["commit", "-q", "-m", "bench"]] {
        git(root, args);
    }
}

fn run(binary: &str, dir: &Path, args: &[&str]) -> Duration {
    let start = Instant::now();
    let out = Command::new(binary).args(args).current_dir(dir).output().expect("run xtask");
    let elapsed = start.elapsed();
    assert!(out.status.success(), "xtask {args:?} failed: {}", String::from_utf8_lossy(&out.stderr));
    elapsed
}

fn report(case: &str, runs: usize, mut once: impl FnMut() -> Duration) {
    once(); // warm the page cache
    let mut times: Vec<Duration> = (0..runs).map(|_| once()).collect();
    times.sort();
    let ms = |d: Duration| format!("{:.2} ms", d.as_secs_f64() * 1e3);
    println!(
        "{case:<38} {runs:>6} {:>9} {:>9} {:>9}",
        ms(times[times.len() / 2]),
        ms(times[0]),
        ms(times[times.len() - 1])
    );
}
