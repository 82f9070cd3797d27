//! A changed service built on an engine with an empty cache (a fresh CI
//! runner), with and without its previous image as BuildKit's cache source:
//! `cargo bench --bench cache` (`-- --quick` for a smoke run).
//!
//! The service is a realistic two-stage Dockerfile on a base image kept in
//! the registry: a dependency stage that takes seconds (standing in for
//! `pip install`: a pause and 32 MiB written) from a lock file that does not
//! change, then the application's sources, which change every round. Each
//! round, after a commit that changes only the sources:
//! 1. with cache-from: `xtask build` of the service, whose previous image
//!    (pushed with inline cache metadata) is in the registry;
//! 2. without: the same build for a twin service whose repository holds no
//!    earlier image, so there is nothing to take the cache from.
//!
//! Before each timed build the engine's build cache is emptied (`docker
//! builder prune -af`) and the images are removed, as on a fresh runner; the
//! base image is pulled from the registry with the tool's token both times.
//! This benchmark empties the engine's whole build cache: run it alone.

#[allow(dead_code)]
#[path = "support/pipeline.rs"]
mod pipeline;
#[allow(dead_code)]
#[path = "../tests/it/servers.rs"]
mod servers;
#[path = "support/mod.rs"]
mod support;
#[path = "../tests/it/tools.rs"]
mod tools;

use std::fs;
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use pipeline::{aws_env, header, median, row, run};
use support::git;

fn main() {
    let quick = std::env::args().any(|a| a == "--quick");
    let rounds = if quick { 1 } else { 3 };
    let s = servers::servers();
    let binary = env!("CARGO_BIN_EXE_xtask");
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    let prefix = format!("cache{}", std::process::id());
    let env = aws_env(s.moto_port);
    let registry = format!("127.0.0.1:{}", s.registry_port);
    project(root, &registry, &prefix);
    run(binary, root, &["push", "--env", "dev", "--service", "base"], &env);
    let base_image = format!("{registry}/{prefix}/base:{}", git(root, &["rev-parse", "--short=12", "HEAD"]));
    for service in ["app", "twin"] {
        fs::write(
            root.join(format!("services/{service}/Dockerfile")),
            format!(
                "FROM {base_image} AS deps\nCOPY requirements.txt /\n\
                 RUN sleep 4 && dd if=/dev/zero of=/deps bs=1M count=32 2>/dev/null\n\
                 FROM {base_image}\nCOPY --from=deps /deps /deps\nCOPY src/ /app/\n"
            ),
        )
        .unwrap();
    }
    git(root, &["add", "-A"]);
    git(root, &["commit", "-q", "-m", "app on the pushed base"]);
    // The previous image of `app`, with its cache metadata, is in the registry.
    run(binary, root, &["push", "--env", "dev", "--service", "app"], &env);

    let (mut with, mut without) = (Vec::new(), Vec::new());
    for round in 0..rounds {
        for service in ["app", "twin"] {
            fs::write(root.join(format!("services/{service}/src/main.py")), format!("print({round})\n"))
                .unwrap();
        }
        git(root, &["add", "-A"]);
        git(root, &["commit", "-q", "-m", &format!("round {round}")]);
        empty_engine(&registry, &prefix);
        with.push(timed(binary, root, "app", &env, true));
        empty_engine(&registry, &prefix);
        without.push(timed(binary, root, "twin", &env, false));
        // The next round's previous image.
        run(binary, root, &["push", "--env", "dev", "--service", "app"], &env);
    }
    header();
    row("changed sources, empty engine, cache from the previous image", &with);
    row("changed sources, empty engine, no earlier image", &without);
    println!("with / without: {:.2}", median(&with).as_secs_f64() / median(&without).as_secs_f64());
}

/// Times `xtask build` of one service, checking whether it took its cache
/// from the registry as expected.
fn timed(binary: &str, root: &Path, service: &str, env: &[(String, String)], cached: bool) -> Duration {
    let start = Instant::now();
    let out = Command::new(binary)
        .args(["build", "--env", "dev", "--service", service])
        .current_dir(root)
        .envs(env.iter().map(|(k, v)| (k, v)))
        .output()
        .unwrap();
    let took = start.elapsed();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{stdout}{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(stdout.contains(", cache from "), cached, "{stdout}");
    took
}

/// What a fresh CI runner has: no build cache, none of these images.
fn empty_engine(registry: &str, prefix: &str) {
    let out = Command::new("docker").args(["builder", "prune", "-af"]).output().unwrap();
    assert!(out.status.success(), "docker builder prune: {}", String::from_utf8_lossy(&out.stderr));
    let images = Command::new("docker")
        .args(["image", "ls", "--format", "{{.Repository}}:{{.Tag}}"])
        .output()
        .unwrap();
    let ours: Vec<String> = String::from_utf8_lossy(&images.stdout)
        .lines()
        .filter(|l| l.starts_with(&format!("{registry}/{prefix}/")))
        .map(str::to_string)
        .collect();
    if !ours.is_empty() {
        let _ = Command::new("docker").args(["image", "rm", "-f"]).args(&ours).output();
    }
}

/// A project whose base image (busybox, laid out by a prebuild) is pushed
/// first; `app` and `twin` are written once the base's tag is known.
fn project(root: &Path, registry: &str, prefix: &str) {
    let write = |rel: &str, text: &str| {
        let path = root.join(rel);
        fs::create_dir_all(path.parent().unwrap()).unwrap();
        fs::write(path, text).unwrap();
    };
    write(".gitignore", "/services/base/rootfs/\n");
    write(
        "env/dev.toml",
        &format!("region = \"us-east-1\"\naccount_id = \"123456789012\"\ncluster = \"bench\"\nregistry = \"{registry}\"\n"),
    );
    write(
        "services/base/service.toml",
        &format!("repository = \"{prefix}/base\"\nprebuild = [\"sh\", \"rootfs.sh\"]\n"),
    );
    write(
        "services/base/rootfs.sh",
        "set -eu\nrm -rf rootfs\nmkdir -p rootfs/bin\ncp \"$(command -v busybox)\" rootfs/bin/busybox\n\
         for applet in sh sleep dd; do ln -s busybox rootfs/bin/$applet; done\n",
    );
    write("services/base/Dockerfile", "FROM scratch\nCOPY rootfs/ /\n");
    for service in ["app", "twin"] {
        write(&format!("services/{service}/service.toml"), &format!("repository = \"{prefix}/{service}\"\n"));
        write(&format!("services/{service}/Dockerfile"), "FROM scratch\n");
        write(&format!("services/{service}/requirements.txt"), "flask==3.1.0\n");
        write(&format!("services/{service}/src/main.py"), "print()\n");
    }
    git(root, &["init", "-q"]);
    git(root, &["add", "-A"]);
    git(root, &["commit", "-q", "-m", "base"]);
}
