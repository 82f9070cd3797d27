//! `logs` against moto's CloudWatch Logs: lines put where the awslogs driver
//! puts them (the test writes them, as a container would), read back by the
//! group, region and stream prefix of the task definition the service runs.

use std::io::Read;
use std::process::Stdio;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde_json::json;

use crate::ecs_project::*;
use crate::servers::{ecs, logs, servers};

fn now_ms() -> i64 {
    SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_millis() as i64
}

/// A time as the tool prints it, to the second in UTC, worked out by `date`.
fn shown(ms: i64) -> String {
    let out = std::process::Command::new("date")
        .args(["-u", "-d", &format!("@{}", ms / 1000), "+%Y-%m-%dT%H:%M:%SZ"])
        .output()
        .unwrap();
    String::from_utf8(out.stdout).unwrap().trim().to_string()
}

#[test]
fn logs_are_read_where_the_task_definition_sends_them_and_follow_ends_on_ctrl_c() {
    let moto = servers().moto_port;
    let p = project_of(&["app"], servers().registry_port);
    p.create_ecs(moto, &["app"]);
    // The bootstrap revision sends its output nowhere: the error says what to set.
    let nowhere = p.xtask(&["logs", "--env", "dev", "--service", "app"], moto).failure();
    assert!(
        nowhere.stderr.starts_with(&format!(
            "error: {}:1 sends no container's output to CloudWatch Logs: give a container a `logConfiguration`",
            p.family("app")
        )),
        "{}",
        nowhere.stderr
    );
    // A revision with the awslogs driver, as a release would register it.
    let group = format!("/ecs/{}/app", p.prefix);
    let registered = ecs(
        moto,
        "RegisterTaskDefinition",
        json!({ "family": p.family("app"), "containerDefinitions": [{
            "name": "app", "image": "bootstrap:1", "memory": 512,
            "logConfiguration": { "logDriver": "awslogs", "options": {
                "awslogs-group": group, "awslogs-region": "us-east-1", "awslogs-stream-prefix": "app" } }
        }] }),
    );
    let arn = registered["taskDefinition"]["taskDefinitionArn"].as_str().unwrap();
    ecs(moto, "UpdateService", json!({ "cluster": p.prefix, "service": "app", "taskDefinition": arn }));
    let missing = p.xtask(&["logs", "--env", "dev", "--service", "app"], moto).failure();
    assert!(
        missing.stderr.starts_with(&format!(
            "error: the log group {group} does not exist (the awslogs-group of container app): create it"
        )),
        "{}",
        missing.stderr
    );

    logs(moto, "CreateLogGroup", json!({ "logGroupName": group }));
    // The awslogs driver's streams: <prefix>/<container>/<task id>.
    for task in ["aaaaaaaa1111", "bbbbbbbb2222"] {
        logs(
            moto,
            "CreateLogStream",
            json!({ "logGroupName": group, "logStreamName": format!("app/app/{task}") }),
        );
    }
    let put = |task: &str, messages: &[(i64, &str)]| {
        let stream = format!("app/app/{task}");
        let events: Vec<_> = messages.iter().map(|(t, m)| json!({ "timestamp": t, "message": m })).collect();
        logs(
            moto,
            "PutLogEvents",
            json!({ "logGroupName": group, "logStreamName": stream, "logEvents": events }),
        );
    };
    let t = now_ms();
    put("aaaaaaaa1111", &[(t - 3_600_000 * 2, "two hours ago"), (t - 2000, "listening on :8000")]);
    put("bbbbbbbb2222", &[(t - 1000, "GET /api/health-check 200")]);
    let run = p.xtask(&["logs", "--env", "dev", "--service", "app"], moto).success();
    assert_eq!(
        run.stdout,
        format!(
            "{} aaaaaaaa app | listening on :8000\n{} bbbbbbbb app | GET /api/health-check 200\n",
            shown(t - 2000),
            shown(t - 1000)
        )
    );
    let older =
        p.xtask(&["logs", "--env", "dev", "--service", "app", "--since", "3h", "--task", "aaaa"], moto);
    assert_eq!(
        older.success().stdout,
        format!(
            "{} aaaaaaaa app | two hours ago\n{} aaaaaaaa app | listening on :8000\n",
            shown(t - 7_200_000),
            shown(t - 2000)
        )
    );

    // --follow prints what arrives, and Ctrl-C ends it without an error.
    let mut follow =
        p.repo.xtask_aws_command(&["logs", "--env", "dev", "--service", "app", "--follow"], moto);
    let mut child = follow.stdout(Stdio::piped()).spawn().unwrap();
    let mut stdout = child.stdout.take().unwrap();
    let reader = std::thread::spawn(move || {
        let mut text = String::new();
        let _ = stdout.read_to_string(&mut text);
        text
    });
    std::thread::sleep(Duration::from_millis(1000));
    put("bbbbbbbb2222", &[(now_ms(), "a line written while following")]);
    // The tool asks every 2 s: the line is printed within two rounds.
    std::thread::sleep(Duration::from_millis(4500));
    let interrupted = std::process::Command::new("kill").args(["-INT", &child.id().to_string()]).status();
    assert!(interrupted.unwrap().success());
    let status = child.wait().unwrap();
    let text = reader.join().unwrap();
    assert!(status.success(), "--follow ended on Ctrl-C with {status}");
    assert!(text.ends_with(" bbbbbbbb app | a line written while following\n"), "{text}");
    assert_eq!(text.matches("listening on :8000").count(), 1, "a line is printed once: {text}");
}
