//! `doctor` with things broken on purpose, each giving its own finding.
//! With every server in place it is tested in `deploy.rs`.

use std::net::{TcpListener, TcpStream};
use std::time::Duration;

use crate::harness::{Repo, DEV_TOML};

#[test]
fn a_stopped_daemon_is_a_finding_with_its_fix_and_the_rest_still_runs() {
    let repo = Repo::project();
    let socket = repo.path().join(".home/no-docker.sock");
    let host = format!("unix://{}", socket.display());
    let run = repo.xtask_with(&["doctor"], &[("DOCKER_HOST", &host)]).failure();
    let expected =
        format!("FAIL  docker            cannot reach the Docker Engine at {host} (from DOCKER_HOST): ");
    assert!(run.stdout.contains(&expected), "missing {expected:?} in\n{}", run.stdout);
    assert!(
        run.stdout.contains(
            "fix: start it (for example `sudo systemctl start docker`) or point DOCKER_HOST at it\n"
        ),
        "{}",
        run.stdout
    );
    // The other checks ran and passed.
    assert!(run.stdout.contains("ok    git               branch main at "), "{}", run.stdout);
    assert!(run.stdout.contains("ok    environments      1 valid: dev\n"), "{}", run.stdout);
    assert!(run.stdout.contains(
        "skip  aws               pass --env ENV to check the templates' variables, AWS credentials, ECR and ECS \
         for an environment\n"
    ));
    assert!(
        run.stderr.starts_with("error: doctor: 1 of 5 checks failed:\n  docker: cannot reach"),
        "{}",
        run.stderr
    );
}

#[test]
fn missing_credentials_are_a_finding_and_what_needs_them_is_skipped() {
    let repo = Repo::project();
    let config = repo.path().join(".home/none");
    let config = config.to_str().unwrap();
    let run = repo
        .xtask_with(
            &["doctor", "--env", "dev"],
            &[
                ("AWS_EC2_METADATA_DISABLED", "true"),
                ("AWS_CONFIG_FILE", config),
                ("AWS_SHARED_CREDENTIALS_FILE", config),
            ],
        )
        .failure();
    assert!(
        run.stdout.contains(
            "FAIL  aws credentials   no usable AWS credentials found (none in the environment, the AWS config files, \
             SSO or instance metadata)\n\
             \x20                      fix: run `aws sso login` or `aws configure`, export AWS_PROFILE, or set \
             AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY\n\
             skip  ecr, ecs          need AWS credentials\n"
        ),
        "{}",
        run.stdout
    );
    // The templates need API_TOKEN only with a default, so nothing is missing.
    assert!(run.stdout.contains("ok    variables         every process variable env dev needs is set\n"));
}

#[test]
fn an_expired_session_is_a_finding_that_says_how_to_renew_it() {
    // `credential_process` hands out a session that expired in 2020, as an
    // SSO or MFA session does once its hours are up.
    let repo = Repo::project();
    repo.write(
        ".home/creds.sh",
        "#!/bin/sh\necho '{\"Version\": 1, \"AccessKeyId\": \"AKIAEXAMPLE\", \"SecretAccessKey\": \
         \"expired-secret-value\", \"SessionToken\": \"t\", \"Expiration\": \"2020-01-01T00:00:00Z\"}'\n",
    );
    let script = repo.path().join(".home/creds.sh");
    std::fs::set_permissions(&script, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    repo.write(".home/aws-config", &format!("[default]\ncredential_process = {}\n", script.display()));
    let config = repo.path().join(".home/aws-config");
    let missing = repo.path().join(".home/none");
    let run = repo
        .xtask_with(
            &["doctor", "--env", "dev"],
            &[
                ("AWS_EC2_METADATA_DISABLED", "true"),
                ("AWS_CONFIG_FILE", config.to_str().unwrap()),
                ("AWS_SHARED_CREDENTIALS_FILE", missing.to_str().unwrap()),
            ],
        )
        .failure();
    assert!(
        run.stdout.contains(
            "FAIL  aws credentials   the AWS session has expired\n\
             \x20                      fix: renew it: `aws sso login` (with the right AWS_PROFILE exported), or \
             fresh MFA credentials\n\
             skip  ecr, ecs          need AWS credentials\n"
        ),
        "{}",
        run.stdout
    );
    assert!(!run.stdout.contains("expired-secret-value") && !run.stderr.contains("expired-secret-value"));
}

#[test]
fn a_bad_environment_file_and_a_missing_variable_are_findings_of_their_own() {
    let repo = Repo::project();
    repo.write("env/dev.toml", "region = \"us-east-1\"\naccount_id = \"000000000000\ncluster = \"x\"\n");
    repo.write("env/staging.toml", DEV_TOML);
    repo.write("templates/web.env.j2", "API_IMAGE={{ images.api }}\nSTRIPE={{ env(\"STRIPE_KEY\") }}\n");
    let before = repo.snapshot();
    let run = repo.xtask(&["doctor", "--env", "dev"]).failure();
    assert!(
        run.stdout.contains(
            "FAIL  environments      1 problem\n\
             \x20                      env/dev.toml:2: invalid basic string, expected `\"`\n"
        ),
        "{}",
        run.stdout
    );
    assert!(run.stdout.contains(
        "skip  aws               needs the project, its git revision and a valid environment (see above)\n"
    ));
    // The same findings as one JSON document (docs/json.md), and the same exit code.
    let json = repo.xtask(&["doctor", "--env", "dev", "--json"]).failure();
    let report: serde_json::Value = serde_json::from_str(&json.stdout).unwrap();
    assert_eq!((report["version"].as_u64(), report["command"].as_str()), (Some(1), Some("doctor")));
    assert_eq!(report["ok"], false);
    let findings = report["findings"].as_array().unwrap();
    let environments = findings.iter().find(|f| f["check"] == "environments").unwrap();
    assert_eq!(environments["status"], "fail");
    assert_eq!(environments["summary"], "1 problem");
    assert_eq!(
        environments["details"],
        serde_json::json!(["env/dev.toml:2: invalid basic string, expected `\"`"])
    );
    let aws = findings.iter().find(|f| f["check"] == "aws").unwrap();
    assert_eq!(aws["status"], "skip");
    assert_eq!(aws["fix"], serde_json::Value::Null);
    // Text and JSON tell the same checks, in the same order.
    let checks: Vec<&str> = findings.iter().map(|f| f["check"].as_str().unwrap()).collect();
    let text_checks: Vec<&str> = run
        .stdout
        .lines()
        .filter(|l| !l.starts_with(' '))
        .filter_map(|l| l.split_whitespace().nth(1))
        .collect();
    assert_eq!(checks, text_checks);
    assert!(json.stderr.starts_with("error: doctor: 1 of "), "{}", json.stderr);
    let run = repo.xtask(&["doctor", "--env", "staging"]).failure();
    assert!(
        run.stdout.contains(
            "FAIL  variables         not set: STRIPE_KEY\n\
             \x20                      fix: export them (in CI, as the pipeline's secrets or variables), or give \
             the templates a default: env(\"NAME\", default=\"...\")\n"
        ),
        "{}",
        run.stdout
    );
    let run = repo.xtask(&["doctor", "--env", "nope"]).failure();
    assert!(run.stdout.contains("FAIL  environment       there is no env/nope.toml\n"), "{}", run.stdout);
    assert!(repo.snapshot() == before, "doctor changed files");
}

/// A port that accepts no more connections and drops new ones unanswered,
/// the way a security group does: a listener whose accept queue is full.
/// Returns the port and what keeps it so.
fn silent_port() -> (u16, TcpListener, Vec<TcpStream>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let address = listener.local_addr().unwrap();
    let mut held = Vec::new();
    for _ in 0..1024 {
        match TcpStream::connect_timeout(&address, Duration::from_millis(200)) {
            Ok(stream) => held.push(stream),
            Err(_) => return (address.port(), listener, held),
        }
    }
    panic!("the accept queue never filled");
}

#[test]
fn an_endpoint_that_does_not_answer_is_diagnosed_with_the_usual_causes() {
    let repo = Repo::project();
    let (port, _listener, _held) = silent_port();
    let closed = TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let silent = format!("postgres://app:hunter2@127.0.0.1:{port}/app");
    let refused = format!("127.0.0.1:{closed}");
    let run = repo
        .xtask(&[
            "doctor",
            "--reach",
            &silent,
            "--reach",
            &refused,
            "--reach",
            "db.invalid:5432",
            "--connect-timeout",
            "1s",
        ])
        .failure();
    for expected in [
        format!(
            "FAIL  reach             postgres://127.0.0.1:{port}: the name resolves (127.0.0.1:{port}) but nothing \
             answered within 1s\n\
             \x20                      fix: usual causes: a security group whose inbound rules do not admit this \
             address on that port; a database that is not publicly accessible or sits in a private subnet (RDS \
             `PubliclyAccessible`); a wrong port; a firewall or VPN in between\n"
        ),
        format!("FAIL  reach             127.0.0.1:{closed}: 127.0.0.1:{closed} refused the connection: nothing listens on port {closed}\n"),
        "FAIL  reach             db.invalid:5432: the name db.invalid does not resolve (".to_string(),
    ] {
        assert!(run.stdout.contains(&expected), "missing\n{expected}\nin\n{}", run.stdout);
    }
    assert!(!run.stdout.contains("hunter2") && !run.stderr.contains("hunter2"), "a password was printed");
}

#[test]
fn status_exits_1_when_a_service_cannot_be_read_and_a_build_only_service_cannot_be_rolled_back() {
    let repo = Repo::project();
    repo.write("templates/api.task.json.j2", &crate::harness::minimal_task_definition("api"));
    repo.commit();
    let config = repo.path().join(".home/none");
    let config = config.to_str().unwrap();
    let no_credentials = [
        ("AWS_EC2_METADATA_DISABLED", "true"),
        ("AWS_CONFIG_FILE", config),
        ("AWS_SHARED_CREDENTIALS_FILE", config),
    ];
    let run = repo.xtask_with(&["status", "--env", "dev"], &no_credentials).failure();
    let remedy =
        "no AWS credentials found; run `aws sso login` or `aws configure`, export AWS_PROFILE, or set \
                  AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY";
    assert_eq!(
        run.stdout,
        format!(
            "env dev, cluster local, region us-east-1\napi: cannot describe ECS service api: {remedy}\n\
             web: cannot get an ECR token: {remedy}\n"
        )
    );
    assert_eq!(run.stderr, "error: could not read 2 of 2 services: api, web; see the reasons above\n");

    // `web` has no task definition: it is built, never deployed.
    let run = repo.xtask_with(&["rollback", "--env", "dev", "--service", "web"], &no_credentials).failure();
    assert_eq!(
        run.stderr,
        "error: web is built but never deployed (it has no task definition template), so there is nothing to roll \
         back; roll back the services that run its image instead\n"
    );
}
