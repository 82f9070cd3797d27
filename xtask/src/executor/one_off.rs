//! One-off tasks of a service's task definition: its `before_deploy`
//! command in a release (migrations), and `cargo xtask run`. The task runs
//! the way the service runs its own (network, capacity), is followed until
//! it stops, and its output is read from CloudWatch Logs.

use std::collections::HashSet;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use anyhow::{bail, Context as _, Result};

use super::handoff::Inputs;
use super::{Executor, Outcome};
use crate::backend::{Backend, EcsApi, LogsApi};
use crate::ecs::tasks::Stopped;
use crate::exit;
use crate::logs::{self, Source};
use crate::plan::Step;
use crate::project::Service;
use crate::taskdef::short_name;

/// How many of a failed task's last lines its error repeats.
const LAST_LINES: usize = 10;

/// `cargo xtask run`: the command (empty: the container's own), and in which
/// container (`None`: the first essential one).
pub(crate) struct OneOff {
    pub(crate) command: Vec<String>,
    pub(crate) container: Option<String>,
}

impl<B: Backend> Executor<'_, B> {
    pub(super) async fn one_off(
        &self,
        service: &Service,
        step: &Step,
        command: &[String],
        inputs: Inputs<'_>,
    ) -> Result<Outcome> {
        let ecs = self.ecs(service.cluster(&self.workspace.environment));
        let before_deploy = matches!(step, Step::BeforeDeploy(_));
        // `cargo xtask run --container` picks the container; else the first essential one.
        let container =
            self.one_off.as_ref().filter(|_| !before_deploy).and_then(|run| run.container.clone());
        let target = match inputs.task_definition() {
            Some(registered) => registered.to_string(),
            // `run --current`: the revision the service runs, read before the run started.
            None => self
                .running
                .get(&(ecs.cluster().to_string(), service.ecs_service.clone()))
                .cloned()
                .context("the revision the service runs was not read before the run")?,
        };
        let definition = ecs.task_definition(&target).await?.with_context(|| format!("{target} vanished"))?;
        let container = match container {
            Some(name) => name,
            None => first_essential_container(&definition)
                .with_context(|| format!("{} has no container", short_name(&target)))?,
        };
        let shown = if command.is_empty() {
            "its own command".to_string()
        } else {
            format!("`{}`", command.join(" "))
        };
        let name = step.to_string();
        let since =
            SystemTime::now().duration_since(UNIX_EPOCH).unwrap_or_default().as_millis() as i64 - 1000;
        let started = Instant::now();
        let task = ecs.run_task(&service.ecs_service, &target, &container, command).await?;
        let id = task.rsplit('/').next().unwrap_or(&task).to_string();
        let short_id: String = id.chars().take(8).collect();
        // Its output is printed as it arrives, each line once (best effort: a
        // task whose logs cannot be read still ends as it ended).
        let mut output = Output { lines: Vec::new(), seen: HashSet::new(), reader: None, unreadable: false };
        // Where the container logs is read once; each look only asks for new lines.
        match self.log_source(&definition, &container).await {
            Ok(reader) => output.reader = reader,
            Err(e) => {
                self.progress.line(&format!("{name:<18} note: its output cannot be read: {e:#}"));
                output.unreadable = true;
            }
        }
        let stopped = loop {
            let (status, stopped) = ecs.task(&task, &container).await?;
            self.print_new_lines(&mut output, &id, since, &name).await;
            if let Some(stopped) = stopped {
                break stopped;
            }
            if started.elapsed() >= self.options.wait.timeout {
                bail!(
                    "task {short_id} ({shown} in {container} of {}) is still {status} after {}; it goes on in ECS: \
                     `aws ecs stop-task --cluster {} --task {id}` stops it",
                    short_name(&target),
                    crate::duration::human(self.options.wait.timeout),
                    ecs.cluster()
                );
            }
            self.progress.update(&name, &status.to_ascii_lowercase());
            tokio::time::sleep(self.options.wait.poll.max(Duration::from_millis(100))).await;
        };
        // CloudWatch takes a moment to show a stopped task's last lines.
        self.print_new_lines(&mut output, &id, since, &name).await;
        let lines = output.lines;
        let took = started.elapsed().as_secs_f64();
        let last = |lines: &[String]| -> String {
            let tail = &lines[lines.len().saturating_sub(LAST_LINES)..];
            if tail.is_empty() {
                String::new()
            } else {
                format!("; its last lines:\n  {}", tail.join("\n  "))
            }
        };
        let Stopped { exit_code, stopped_reason, container_reason } = stopped;
        match exit_code {
            Some(0) => Ok(Outcome::Done(format!("{shown} exited 0 ({took:.1}s, task {short_id})"))),
            Some(code) => {
                let nothing = if before_deploy { ", so nothing was deployed" } else { "" };
                Err(exit::Failed {
                    code: if before_deploy {
                        exit::BEFORE_DEPLOY
                    } else {
                        u8::try_from(code).unwrap_or(1).max(1)
                    },
                    message: format!("{shown} exited with {code} (task {short_id}){nothing}{}", last(&lines)),
                }
                .into())
            }
            None => {
                let why = match container_reason {
                    Some(reason) if !reason.is_empty() => format!("{stopped_reason}: {reason}"),
                    _ => stopped_reason,
                };
                Err(exit::Failed {
                    code: if before_deploy { exit::BEFORE_DEPLOY } else { 1 },
                    message: format!(
                        "task {short_id} of {} could not start {shown}: {why}{}",
                        short_name(&target),
                        if before_deploy { "; nothing was deployed" } else { "" }
                    ),
                }
                .into())
            }
        }
    }

    /// Prints the task's lines not printed yet, and keeps them for the end.
    async fn print_new_lines(&self, output: &mut Output<B::Logs>, task: &str, since: i64, step: &str) {
        let Some((logs, source)) = output.reader.as_ref().filter(|_| !output.unreadable) else { return };
        match logs.lines(source, since, Some(task)).await {
            Ok(lines) => {
                for line in lines.into_iter().filter(|l| output.seen.insert(l.id.clone())) {
                    let message = line.message.trim_end().to_string();
                    self.progress.line(&format!("{step:<18} | {message}"));
                    output.lines.push(message);
                }
            }
            Err(e) => {
                self.progress.line(&format!("{step:<18} note: its output cannot be read: {e:#}"));
                output.unreadable = true;
            }
        }
    }

    /// Where the container's output goes in CloudWatch Logs, with a client
    /// for its region; `None` when the container does not log there.
    async fn log_source(
        &self,
        definition: &serde_json::Value,
        container: &str,
    ) -> Result<Option<(B::Logs, Source)>> {
        let revision = definition["taskDefinitionArn"].as_str().unwrap_or("the task definition");
        let sources = logs::sources(definition, short_name(revision))?;
        let Some(source) = sources.into_iter().find(|s| s.container == container) else {
            return Ok(None);
        };
        let region = source.region.clone().unwrap_or_else(|| self.workspace.environment.region.clone());
        Ok(Some((self.backend.logs(&region).await, source)))
    }
}

/// What a one-off task printed so far.
struct Output<L> {
    lines: Vec<String>,
    /// CloudWatch's ids of the lines printed.
    seen: HashSet<String>,
    /// The container's log source and a client for it.
    reader: Option<(L, Source)>,
    /// Set once reading failed, so the reason is said once.
    unreadable: bool,
}

/// The container a one-off task runs the command in when none is named.
fn first_essential_container(definition: &serde_json::Value) -> Option<String> {
    let containers = definition["containerDefinitions"].as_array()?;
    containers
        .iter()
        .find(|c| c["essential"].as_bool() != Some(false))
        .or(containers.first())
        .and_then(|c| c["name"].as_str())
        .map(str::to_string)
}
