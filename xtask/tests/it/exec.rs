//! `exec`'s checks against moto, which the test server makes answer as ECS
//! does for ECS Exec (ecs_today.py says how: the service's
//! enableExecuteCommand, its tasks and their ExecuteCommandAgent), and IAM
//! roles in moto's IAM. The interactive session itself cannot run here:
//! `--dry-run` prints the command that would open it.

use crate::ecs_project::*;
use crate::servers::{create_service, ecs, iam, servers};

/// A PATH whose first folder holds a stand-in `session-manager-plugin`
/// (only its presence is checked before the session).
fn path_with_plugin(dir: &std::path::Path) -> String {
    use std::os::unix::fs::PermissionsExt;
    let plugin = dir.join("session-manager-plugin");
    std::fs::write(&plugin, "#!/bin/sh\nexit 0\n").unwrap();
    std::fs::set_permissions(&plugin, std::fs::Permissions::from_mode(0o755)).unwrap();
    format!("{}:{}", dir.display(), std::env::var("PATH").unwrap())
}

/// A role whose one inline policy allows `actions`; answers its ARN.
fn role(moto: u16, name: &str, actions: &str) -> String {
    let trust = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"Service":"ecs-tasks.amazonaws.com"},"Action":"sts:AssumeRole"}]}"#;
    iam(moto, "CreateRole", &[("RoleName", name), ("AssumeRolePolicyDocument", trust)]);
    let policy = format!(
        r#"{{"Version":"2012-10-17","Statement":[{{"Effect":"Allow","Action":{actions},"Resource":"*"}}]}}"#
    );
    iam(moto, "PutRolePolicy", &[("RoleName", name), ("PolicyName", "exec"), ("PolicyDocument", &policy)]);
    format!("arn:aws:iam::123456789012:role/{name}")
}

#[test]
fn every_exec_precondition_that_fails_is_reported_with_its_fix() {
    let moto = servers().moto_port;
    let p = project_of(&["app"], servers().registry_port);
    p.create_ecs(moto, &["app"]);
    // The machine's PATH without any folder that holds a session-manager-plugin.
    let path = std::env::var("PATH").unwrap();
    let path: Vec<&str> = path
        .split(':')
        .filter(|dir| !std::path::Path::new(dir).join("session-manager-plugin").exists())
        .collect();
    let path = path.join(":");
    let run = p
        .xtask_with(&["exec", "--env", "dev", "--service", "app", "--dry-run"], moto, &[("PATH", &path)])
        .failure();
    let lines: Vec<&str> = run.stdout.lines().filter(|l| !l.starts_with(' ')).collect();
    assert_eq!(lines.len(), 5, "{}{}", run.stdout, run.stderr);
    assert_eq!(
        lines[0],
        "FAIL  service           app does not have ECS Exec enabled (enableExecuteCommand is false)"
    );
    assert!(lines[1].starts_with("FAIL  task              container app of task "), "{}", lines[1]);
    assert!(lines[1].ends_with(" has no ExecuteCommandAgent"), "{}", lines[1]);
    assert_eq!(
        lines[2],
        "FAIL  task role         the task definition has no taskRoleArn, and ECS Exec runs as the task role"
    );
    assert_eq!(lines[3], "ok    tools             aws is on PATH");
    assert_eq!(lines[4], "FAIL  tools             session-manager-plugin is not on PATH");
    assert!(run.stdout.contains(&format!(
        "fix: enable it where the service is defined (Terraform `enable_execute_command = true`, CloudFormation \
         `EnableExecuteCommand: true`), or `aws ecs update-service --cluster {} --service app --enable-execute-command`",
        p.prefix
    )));
    assert!(run.stdout.contains(
        "fix: tasks started before ECS Exec was enabled have no agent: `cargo xtask deploy --env dev --service app \
         --force-new-deployment` replaces them"
    ));
    assert!(run.stderr.starts_with("error: exec: 4 of 5 checks failed:\n"), "{}", run.stderr);
}

#[test]
fn exec_opens_a_running_task_whose_role_may_and_says_what_it_would_run() {
    let moto = servers().moto_port;
    let p = project_of(&["app", "worker"], servers().registry_port);
    ecs(moto, "CreateCluster", serde_json::json!({ "clusterName": p.prefix }));
    let allowed = role(moto, &format!("{}-exec", p.prefix), r#""ssmmessages:*""#);
    let denied = role(moto, &format!("{}-s3", p.prefix), r#"["s3:GetObject"]"#);
    create_service(moto, &p.prefix, "app", Some(&allowed), true);
    create_service(moto, &p.prefix, "worker", Some(&denied), true);
    let plugin = tempfile::tempdir().unwrap();
    let path = path_with_plugin(plugin.path());
    let vars = [("PATH", path.as_str())];
    let args =
        ["exec", "--env", "dev", "--service", "app", "--dry-run", "--", "python", "manage.py", "shell"];
    let run = p.xtask_with(&args, moto, &vars).success();
    let task = ecs(moto, "ListTasks", serde_json::json!({ "cluster": p.prefix, "serviceName": "app" }))
        ["taskArns"][0]
        .as_str()
        .unwrap()
        .to_string();
    let id: String = task.rsplit('/').next().unwrap().chars().take(8).collect();
    assert_eq!(
        run.stdout,
        format!(
            "ok    service           app has ECS Exec enabled (enableExecuteCommand)\n\
             ok    task              task {id}, container app: ExecuteCommandAgent RUNNING\n\
             ok    task role         {allowed} may open ECS Exec sessions (ssmmessages:*)\n\
             ok    tools             aws is on PATH\n\
             ok    tools             session-manager-plugin is on PATH\n\
             would run: aws ecs execute-command --region us-east-1 --cluster {} --task {task} --container app \
             --interactive --command 'python manage.py shell'\n",
            p.prefix
        )
    );
    // A role without the ssmmessages actions is named, with what it lacks.
    let worker =
        p.xtask_with(&["exec", "--env", "dev", "--service", "worker", "--dry-run"], moto, &vars).failure();
    assert!(
        worker.stdout.contains(&format!(
            "FAIL  task role         {denied} is not allowed ssmmessages:CreateControlChannel, \
             ssmmessages:CreateDataChannel, ssmmessages:OpenControlChannel, ssmmessages:OpenDataChannel\n"
        )),
        "{}",
        worker.stdout
    );
}
