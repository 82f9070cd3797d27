//! `cargo xtask history`: a service's releases, newest first.

use anyhow::{bail, Result};

use crate::ecs::Ecs;
use crate::flags::History;
use crate::history;
use crate::report::{show, Reporter};
use crate::taskdef::short_name;
use crate::tasks::{plural, runtime, Workspace};

pub(crate) fn run(flags: History, out: &Reporter) -> Result<()> {
    let workspace = Workspace::load(&flags.env)?;
    let service = workspace.project.select(std::slice::from_ref(&flags.service))?[0];
    if service.task_definition_template.is_none() {
        bail!(
            "{} is built but never deployed (it has no task definition template), so it has no releases",
            service.name
        );
    }
    let environment = &workspace.environment;
    let cluster = service.cluster(environment);
    runtime()?.block_on(async {
        let ecs = Ecs::connect(&environment.region, cluster).await;
        let state = ecs.service(&service.ecs_service).await?;
        let entries = history::read(&ecs.tags(&state.arn).await?);
        let n = entries.len();
        show!(
            out,
            "{} (ECS service {}, cluster {cluster}): {n} release{} recorded, newest first",
            service.name,
            service.ecs_service,
            plural(n)
        );
        let running = short_name(&state.task_definition);
        // The newest entry of what runs is the one that put it there.
        let current = entries.iter().rposition(|e| e.revision == running);
        for (i, entry) in entries.iter().enumerate().rev() {
            let commit: String = entry.commit.chars().take(12).collect();
            let commit = if commit.is_empty() { "-".to_string() } else { commit };
            let now = if Some(i) == current { "  <- runs now" } else { "" };
            show!(
                out,
                "  #{:<3} {}  {:<24} {commit:<12}  {}{now}",
                entry.number,
                entry.time,
                entry.revision,
                entry.outcome.as_str()
            );
        }
        if current.is_none() {
            show!(out, "  (it runs {running}, which no recorded release deployed)");
        }
        Ok(())
    })
}
