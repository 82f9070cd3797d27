//! No secret in anything a command prints or writes, and no Rust Debug dump
//! in an error.

use crate::ecs_project::*;
use crate::proxy::{Fault, Proxy};
use crate::servers::{servers, ECR_PASSWORD};

/// Every file below `root` (`.git` left out) with its contents, except the
/// generated env files, which are meant to hold secrets and are 0600.
fn files_outside_env_files(root: &std::path::Path) -> Vec<(std::path::PathBuf, String)> {
    use std::os::unix::fs::PermissionsExt;
    let mut out = Vec::new();
    let mut stack = vec![root.to_path_buf()];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            if path.file_name().unwrap() == ".git" {
                continue;
            }
            if path.is_dir() {
                stack.push(path);
                continue;
            }
            let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
            if path.extension().is_some_and(|e| e == "env") && mode == 0o600 {
                continue;
            }
            out.push((path.clone(), String::from_utf8_lossy(&std::fs::read(&path).unwrap()).into_owned()));
        }
    }
    out
}

#[test]
fn secrets_never_appear_in_what_any_command_prints_or_writes() {
    let moto = servers().moto_port;
    let p = project();
    p.create_ecs(moto, &["app", "worker"]);
    // A local-only secret in the compose env file, kept out of ECS as the README says.
    p.repo.write(
        "templates/app.env.j2",
        "GREETING={{ values.greeting }}\n{% if target == \"compose\" %}STRIPE_SECRET={{ secret(\"STRIPE_SECRET\") }}\n{% endif %}",
    );
    p.repo.commit();
    let secret = "zq-stripe-secret-4242";
    // The AWS secret key the harness passes, and the ECR password moto's token carries.
    // And a database password holding the characters that end a URL's host.
    let url_password = "pw-9f8e7d";
    let watched = [secret, "testing-secret-value", ECR_PASSWORD, url_password];
    let outside = tempfile::tempdir().unwrap();
    let summary = outside.path().join("summary.md");
    let summary_var = summary.display().to_string();
    let vars = [("STRIPE_SECRET", secret), ("CI", "true"), ("GITHUB_STEP_SUMMARY", summary_var.as_str())];
    let fast = ["--poll-interval", "100ms", "--timeout", "30s"];

    let mut runs = Vec::new();
    let mut run_at = |args: &[&str], port: u16| runs.push((args.join(" "), p.xtask_with(args, port, &vars)));
    let mut run = |args: &[&str]| run_at(args, moto);
    run(&["dev-env"]);
    run(&["render", "--env", "dev"]);
    run(&["release", "--env", "dev", "--dry-run"]);
    run(&["pre-push"]);
    run(&["doctor", "--env", "dev"]);
    run(&[&["release", "--env", "dev"][..], &fast].concat());
    run(&["diff", "--env", "dev"]);
    run(&["status", "--env", "dev"]);
    run(&[&["ci", "deploy", "--env", "dev", "--force-new-deployment"][..], &fast].concat());
    run(&[&["rollback", "--env", "dev", "--service", "app", "--to", "1", "--force"][..], &fast].concat());
    // Failing paths: a release refused by another run's lock, an expired AWS
    // session on push, an unreachable engine, a template error beside the
    // secret, and a service that does not exist.
    let lock_path =
        std::env::temp_dir().join(format!("xtask-locks/123456789012-us-east-1-{}.lock", p.prefix));
    let held = std::fs::File::open(&lock_path).unwrap();
    held.lock().unwrap();
    run(&["release", "--env", "dev"]);
    drop(held);
    let proxy = Proxy::start(moto);
    proxy.inject("GetAuthorizationToken", 1, Fault::aws_error("ExpiredTokenException", "expired"));
    run_at(&["push", "--env", "dev", "--force"], proxy.port);
    let no_engine = [&vars[..], &[("DOCKER_HOST", "unix:///nonexistent/docker.sock")]].concat();
    runs.push(("build --env dev".to_string(), p.xtask_with(&["build", "--env", "dev"], moto, &no_engine)));
    let mut run = |args: &[&str]| runs.push((args.join(" "), p.xtask_with(args, moto, &vars)));
    p.repo.write("templates/worker.env.j2", "GREETING={{ values.nope }}\n");
    run(&["render", "--env", "dev"]);
    run(&["release", "--env", "dev"]);
    run(&["deploy", "--env", "dev", "--service", "nope"]);
    // An AWS endpoint where nothing listens, and one that never answers.
    let dead =
        [&vars[..], &[("AWS_ENDPOINT_URL", "http://127.0.0.1:9"), ("XTASK_AWS_TIMEOUT", "1s")]].concat();
    runs.push(("status (dead endpoint)".to_string(), p.xtask_with(&["status", "--env", "dev"], moto, &dead)));
    let hang = Proxy::start(moto);
    hang.inject("AmazonEC2ContainerServiceV20141113", 100, Fault::Hang(std::time::Duration::from_secs(10)));
    let slow = [&vars[..], &[("XTASK_AWS_TIMEOUT", "1s")]].concat();
    runs.push((
        "diff (hanging endpoint)".to_string(),
        p.xtask_with(&["diff", "--env", "dev"], hang.port, &slow),
    ));
    let mut run = |args: &[&str]| runs.push((args.join(" "), p.xtask_with(args, moto, &vars)));
    // Passwords with `#`, `?` and `/` (not percent-encoded), shown nowhere,
    // CI annotations included; an encoded one parses and is dropped.
    for url in [
        format!("postgres://admin:a#{url_password}@127.0.0.1:1/db"),
        format!("postgres://admin:a?{url_password}@127.0.0.1:1/db"),
        format!("postgres://admin:a/{url_password}@127.0.0.1:1/db"),
        format!("postgres://admin:a%23{url_password}@127.0.0.1:1/db"),
    ] {
        run(&["doctor", "--reach", &url]);
    }

    let dev_env = p.repo.read("services/app/dev.env");
    assert!(dev_env.contains(&format!("STRIPE_SECRET={secret}")), "the secret did not reach the env file");
    for (command, r) in runs.iter().take(10) {
        assert_eq!(r.code, 0, "`{command}` failed: {}{}", r.stdout, r.stderr);
    }
    assert!(runs.iter().skip(10).all(|(_, r)| r.code != 0), "a failing path succeeded");
    for (command, r) in &runs {
        for value in watched {
            assert!(!r.stdout.contains(value) && !r.stderr.contains(value), "`{command}` printed {value:?}");
        }
        // Errors are sentences, never a Rust Debug dump of an SDK's error.
        let dump = r.stderr.lines().chain(r.stdout.lines()).find(|line| looks_like_debug(line));
        assert!(dump.is_none(), "`{command}` printed a Debug dump: {}", dump.unwrap_or_default());
    }
    let mut written = files_outside_env_files(p.repo.path());
    written.push((summary.clone(), std::fs::read_to_string(&summary).unwrap()));
    written.push((lock_path.clone(), std::fs::read_to_string(&lock_path).unwrap()));
    for (path, text) in &written {
        for value in watched {
            assert!(!text.contains(value), "{} holds {value:?}", path.display());
        }
    }
    assert!(written.len() > 10, "too few files were scanned: {}", written.len());
}

/// Whether a line shows Rust's Debug formatting: `Error(`, `Some(`, or a
/// struct such as `DispatchFailure { source: ConnectorError {`.
fn looks_like_debug(line: &str) -> bool {
    if ["Error(", "Some(", "Ok(", "Err("].iter().any(|p| line.contains(p)) {
        return true;
    }
    line.match_indices(" { ").any(|(at, _)| {
        let before = line[..at].chars().last().is_some_and(|c| c.is_ascii_alphanumeric());
        let field = line[at + 3..].split(' ').next().unwrap_or_default();
        before
            && field.len() > 1
            && field.ends_with(':')
            && field[..field.len() - 1].chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
    })
}

#[test]
fn debug_dumps_are_recognised() {
    assert!(looks_like_debug("DispatchFailure(DispatchFailure { source: ConnectorError { kind: Io"));
    assert!(looks_like_debug("error: ConnectorError { kind: Timeout, source: hyper::Error(Connect) }"));
    assert!(!looks_like_debug("use `{{ image }}` (or `{{ images.<service> }}`), tagged with the commit"));
    assert!(!looks_like_debug("{ \"name\": \"API_KEY\", \"valueFrom\": \"arn:aws:ssm:...\" }"));
}
