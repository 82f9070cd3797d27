//! `cargo xtask logs`: a service's log lines from CloudWatch Logs, read
//! where the task definition it runs sends them.

use std::collections::HashSet;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use anyhow::{bail, Context, Result};

use crate::ecs::Ecs;
use crate::executor::scheduler::{Signals, Stop};
use crate::flags::LogsFlags;
use crate::logs::{self, Line, Logs, Source};
use crate::report::{show, Reporter};
use crate::taskdef::short_name;
use crate::tasks::{runtime, Workspace};

/// How often `--follow` asks for new lines.
const FOLLOW_EVERY: Duration = Duration::from_secs(2);

pub(crate) fn run(flags: LogsFlags, out: &Reporter) -> Result<()> {
    let workspace = Workspace::load(&flags.env)?;
    let service = workspace.project.select(std::slice::from_ref(&flags.service))?[0];
    if service.task_definition_template.is_none() {
        bail!(
            "{} is built but never deployed (it has no task definition template), so it writes no logs of its own",
            service.name
        );
    }
    let environment = &workspace.environment;
    runtime()?.block_on(async {
        let ecs = Ecs::connect(&environment.region, service.cluster(environment)).await;
        let state = ecs.service(&service.ecs_service).await?;
        let revision = short_name(&state.task_definition).to_string();
        let definition = ecs
            .task_definition(&state.task_definition)
            .await?
            .with_context(|| format!("{revision} vanished"))?;
        let sources = logs::sources(&definition, &revision)?;
        let mut clients = Vec::new();
        for source in &sources {
            let region = source.region.as_deref().unwrap_or(&environment.region);
            clients.push((Logs::connect(region).await, source));
        }
        let now = SystemTime::now().duration_since(UNIX_EPOCH).unwrap_or_default();
        let mut since = i64::try_from(now.saturating_sub(flags.since).as_millis()).unwrap_or(0);
        let mut seen = HashSet::new();
        since = show_new_lines(out, &clients, since, flags.task.as_deref(), &mut seen).await?;
        if !flags.follow {
            return Ok(());
        }
        // Ctrl-C (or SIGTERM) is how following ends: not a failure.
        let mut stop = Signals::listen()?;
        loop {
            tokio::select! {
                _ = tokio::time::sleep(FOLLOW_EVERY) => {
                    since = show_new_lines(out, &clients, since, flags.task.as_deref(), &mut seen).await?;
                }
                _ = stop.recv() => return Ok(()),
            }
        }
    })
}

/// Prints the lines from `since` on that were not printed before; answers
/// the time to ask from next (the newest line's: lines of the same
/// millisecond may still arrive, and `seen` skips those shown).
async fn show_new_lines(
    out: &Reporter,
    clients: &[(Logs, &Source)],
    since: i64,
    task: Option<&str>,
    seen: &mut HashSet<String>,
) -> Result<i64> {
    let mut lines: Vec<Line> = Vec::new();
    for (client, source) in clients {
        lines.extend(client.lines(source, since, task).await?);
    }
    lines.sort_by_key(|l| l.timestamp);
    let mut newest = since;
    for line in lines {
        newest = newest.max(line.timestamp);
        if seen.insert(line.id.clone()) {
            show!(out, "{}", line.shown());
        }
    }
    Ok(newest)
}
