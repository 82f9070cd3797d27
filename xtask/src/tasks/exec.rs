//! `cargo xtask exec`: a shell (or a command) in a running task of a
//! service, through ECS Exec. Everything ECS Exec needs is checked first and
//! reported together, each with its fix; then the terminal is handed to
//! `aws ecs execute-command --interactive`.

use anyhow::{bail, Context, Result};
use xshell::{cmd, Shell};

use crate::ecs::exec::RunningTask;
use crate::ecs::Ecs;
use crate::findings::{self, Finding};
use crate::flags::ExecFlags;
use crate::report::{show, Reporter};
use crate::tasks::{runtime, Workspace};

pub(crate) fn run(flags: ExecFlags, out: &Reporter) -> Result<()> {
    let workspace = Workspace::load(&flags.env)?;
    let service = workspace.project.select(std::slice::from_ref(&flags.service))?[0];
    if service.task_definition_template.is_none() {
        bail!(
            "{} is built but never deployed (it has no task definition template), so no task of it runs",
            service.name
        );
    }
    let environment = &workspace.environment;
    let cluster = service.cluster(environment).to_string();
    let name = service.ecs_service.clone();
    let (mut found, target, role) = runtime()?.block_on(async {
        let ecs = Ecs::connect(&environment.region, &cluster).await;
        let mut found = Vec::new();
        found.push(match ecs.exec_enabled(&name).await? {
            true => Finding::ok("service", format!("{name} has ECS Exec enabled (enableExecuteCommand)")),
            false => Finding::fail(
                "service",
                format!("{name} does not have ECS Exec enabled (enableExecuteCommand is false)"),
                format!(
                    "enable it where the service is defined (Terraform `enable_execute_command = true`, CloudFormation \
                     `EnableExecuteCommand: true`), or `aws ecs update-service --cluster {cluster} --service {name} \
                     --enable-execute-command`; then start new tasks: `cargo xtask deploy --env {} --service {} \
                     --force-new-deployment`",
                    environment.name, service.name
                ),
            ),
        });
        let tasks = ecs.running_tasks(&name).await?;
        let (finding, target) =
            choose(&tasks, flags.task.as_deref(), flags.container.as_deref(), &environment.name, &service.name);
        found.push(finding);
        // The role of the task to open, else of any running task: its check is worth seeing either way.
        let mut role = None;
        if let Some(task) = target.as_ref().map(|(t, _)| t).or(tasks.first()) {
            let definition =
                ecs.task_definition(&task.task_definition).await?.context("the task's definition vanished")?;
            role = Some(definition["taskRoleArn"].as_str().map(str::to_string));
        }
        anyhow::Ok((found, target, role))
    })?;
    // Its policies are read with the AWS CLI, outside the async runtime.
    if let Some(role) = role {
        found.push(role_check(role.as_deref()));
    }
    found.push(on_path("aws", "the AWS CLI runs the session: `pip install awscli` (or AWS CLI v2)"));
    found.push(on_path(
        "session-manager-plugin",
        "install the Session Manager plugin for the AWS CLI: \
         https://docs.aws.amazon.com/systems-manager/latest/userguide/session-manager-working-with-install-plugin.html",
    ));
    for finding in &found {
        findings::print(out, finding);
    }
    findings::verdict("exec", &found)?;
    let (task, container) = target.context("a task was chosen when every check passed")?;
    let command = if flags.command.is_empty() { "/bin/sh".to_string() } else { shell_words(&flags.command) };
    let args = [
        "ecs",
        "execute-command",
        "--region",
        &environment.region,
        "--cluster",
        &cluster,
        "--task",
        &task.arn,
        "--container",
        &container,
        "--interactive",
        "--command",
        &command,
    ];
    if flags.dry_run {
        show!(out, "would run: aws {}", shell_words(&args.map(str::to_string)));
        return Ok(());
    }
    let sh = Shell::new()?;
    cmd!(sh, "aws {args...}")
        .quiet()
        .run()
        .context("the ECS Exec session ended with an error (shown above)")?;
    Ok(())
}

/// The task (and container) to open the session in, and the finding about it.
fn choose(
    tasks: &[RunningTask],
    wanted_task: Option<&str>,
    wanted_container: Option<&str>,
    env: &str,
    service: &str,
) -> (Finding, Option<(RunningTask, String)>) {
    let restart = format!(
        "tasks started before ECS Exec was enabled have no agent: `cargo xtask deploy --env {env} --service {service} \
         --force-new-deployment` replaces them"
    );
    let candidates: Vec<&RunningTask> =
        tasks.iter().filter(|t| wanted_task.is_none_or(|w| t.id().starts_with(w) || t.arn == w)).collect();
    if candidates.is_empty() {
        let what = wanted_task.map_or("no task".to_string(), |t| format!("no task {t}"));
        return (
            Finding::fail(
                "task",
                format!("{what} of {service} is running"),
                "start it, or name a running task with --task",
            ),
            None,
        );
    }
    for task in &candidates {
        let container = match wanted_container {
            Some(name) => task.containers.iter().find(|(n, _)| n == name),
            None => task.containers.first(),
        };
        if let Some((name, Some(status))) = container {
            if status == "RUNNING" {
                let id: String = task.id().chars().take(8).collect();
                let finding =
                    Finding::ok("task", format!("task {id}, container {name}: ExecuteCommandAgent RUNNING"));
                return (finding, Some(((*task).clone(), name.clone())));
            }
        }
    }
    let task = candidates[0];
    let id: String = task.id().chars().take(8).collect();
    let container =
        wanted_container.map(str::to_string).or_else(|| task.containers.first().map(|(n, _)| n.clone()));
    let status =
        task.containers.iter().find(|(n, _)| Some(n) == container.as_ref()).and_then(|(_, s)| s.clone());
    let said = match (&container, status) {
        (None, _) => format!("task {id} has no container"),
        (Some(c), None) => format!("container {c} of task {id} has no ExecuteCommandAgent"),
        (Some(c), Some(s)) => {
            format!("the ExecuteCommandAgent of container {c} in task {id} is {s}, not RUNNING")
        }
    };
    (Finding::fail("task", said, restart), None)
}

fn role_check(role: Option<&str>) -> Finding {
    let Some(role) = role else {
        return Finding::fail(
            "task role",
            "the task definition has no taskRoleArn, and ECS Exec runs as the task role",
            format!("give it a task role whose policy allows {}", crate::iam::SSM_MESSAGES.join(", ")),
        );
    };
    match crate::iam::missing_ssm_messages(role) {
        Ok(missing) if missing.is_empty() => {
            Finding::ok("task role", format!("{role} may open ECS Exec sessions (ssmmessages:*)"))
        }
        Ok(missing) => Finding::fail(
            "task role",
            format!("{role} is not allowed {}", missing.join(", ")),
            "add them to the role's policy (Resource \"*\")",
        ),
        Err(e) => Finding::warn(
            "task role",
            format!("its policies could not be read: {e:#}"),
            "check iam:GetRolePolicy and iam:ListAttachedRolePolicies for your session",
        ),
    }
}

fn on_path(program: &str, fix: &str) -> Finding {
    match crate::workspace::find_program(program).is_some() {
        true => Finding::ok("tools", format!("{program} is on PATH")),
        false => Finding::fail("tools", format!("{program} is not on PATH"), fix),
    }
}

/// Words as a shell reads them back: each quoted when it holds anything but
/// plain characters.
fn shell_words(words: &[String]) -> String {
    let quoted = |w: &String| {
        if !w.is_empty() && w.chars().all(|c| c.is_ascii_alphanumeric() || "-_./:=@%+,".contains(c)) {
            w.clone()
        } else {
            format!("'{}'", w.replace('\'', "'\\''"))
        }
    };
    words.iter().map(quoted).collect::<Vec<_>>().join(" ")
}
