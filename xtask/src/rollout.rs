//! Following a deployment to its real outcome, and going back to the last
//! release that came up healthy when it fails.
//!
//! ECS's own waiter polls every 15 s and only says "stable" or "timed out";
//! this loop polls at the configured interval, prints the service's events as
//! they arrive, tells a failed rollout from a slow one, and notices when ECS
//! (the deployment circuit breaker) rolled the service back by itself.

use std::collections::HashSet;
use std::time::{Duration, Instant};

use anyhow::{bail, Context as _, Result};

use crate::backend::EcsApi;
use crate::duration::human;
use crate::ecs::{self, ServiceState};
use crate::exit::{Failed, ROLLED_BACK};
use crate::taskdef::short_name;

#[derive(Debug, Clone, Copy)]
pub(crate) struct WaitOptions {
    pub(crate) timeout: Duration,
    pub(crate) poll: Duration,
}

/// How a wait ended.
pub(crate) enum Outcome {
    Stable(ServiceState),
    /// The rollout failed (ECS said so) and the service still runs it.
    Failed(String),
    /// ECS replaced the deployment with another, on its own.
    ReplacedByEcs(String),
    TimedOut(String),
}

/// Follows deployment `id` of `service` until it completes with every task
/// running, fails, disappears or `options.timeout` passes. New service
/// events are handed to `event`, the state of each poll to `status`.
pub(crate) async fn wait(
    ecs: &impl EcsApi,
    service: &str,
    id: &str,
    seen_events: &mut HashSet<String>,
    options: WaitOptions,
    mut event: impl FnMut(&str),
    mut status: impl FnMut(&str),
) -> Result<Outcome> {
    let started = Instant::now();
    loop {
        let state = ecs.service(service).await?;
        // ECS lists events newest first; they are shown oldest first.
        for e in state.events.iter().rev() {
            if seen_events.insert(e.id.clone()) {
                event(&e.message);
            }
        }
        let progress = match judge(&state, id) {
            Verdict::Stable => return Ok(Outcome::Stable(state)),
            Verdict::Failed(why) => return Ok(Outcome::Failed(why)),
            Verdict::ReplacedByEcs(why) => return Ok(Outcome::ReplacedByEcs(why)),
            Verdict::Rolling(progress) => progress,
        };
        status(&progress);
        if started.elapsed() >= options.timeout {
            return Ok(Outcome::TimedOut(format!("not stable after {}: {progress}", human(options.timeout))));
        }
        tokio::time::sleep(options.poll.min(options.timeout.saturating_sub(started.elapsed()))).await;
    }
}

enum Verdict {
    Stable,
    Failed(String),
    ReplacedByEcs(String),
    /// Still rolling out; how far, in words.
    Rolling(String),
}

/// Where deployment `id` stands in one reading of the service.
fn judge(state: &ServiceState, id: &str) -> Verdict {
    let primary = state.primary();
    let Some(ours) = state.deployments.iter().find(|d| d.id == id) else {
        let now = primary.map_or("nothing".to_string(), |p| short_name(&p.task_definition).to_string());
        return Verdict::ReplacedByEcs(format!(
            "deployment {id} is gone and the service now runs {now}; ECS (the deployment circuit breaker) or \
             another deploy replaced it"
        ));
    };
    let rollout = ours.rollout_state.as_deref();
    if rollout == Some("FAILED") {
        let reason = ours.rollout_reason.clone().unwrap_or_else(|| "rollout failed".to_string());
        return match primary {
            Some(p) if p.id != id => Verdict::ReplacedByEcs(format!(
                "{reason}; ECS rolled the service back to {}",
                short_name(&p.task_definition)
            )),
            _ => Verdict::Failed(reason),
        };
    }
    // Without a rollout state (other deployment controllers), a lone
    // deployment with every task running is as done as it gets.
    let completed = match rollout {
        Some(rollout) => rollout == "COMPLETED",
        None => state.deployments.len() == 1,
    };
    if completed && ours.running >= ours.desired {
        return Verdict::Stable;
    }
    Verdict::Rolling(format!(
        "rollout {}, {}/{} tasks running{}",
        rollout.unwrap_or("in progress").to_lowercase().replace('_', " "),
        ours.running,
        ours.desired,
        if ours.failed_tasks > 0 { format!(", {} failed", ours.failed_tasks) } else { String::new() }
    ))
}

/// The release a failed deployment of `failed` goes back to: the last one
/// recorded as healthy, else what the service ran before.
pub(crate) fn rollback_target(
    tags: &std::collections::BTreeMap<String, String>,
    failed: &str,
    before: Option<&str>,
) -> Option<String> {
    let differs = |arn: &&str| short_name(arn) != short_name(failed);
    tags.get(ecs::LAST_GOOD_TAG)
        .map(String::as_str)
        .filter(differs)
        .or_else(|| tags.get(ecs::PREVIOUS_GOOD_TAG).map(String::as_str).filter(differs))
        .or(before.filter(differs))
        .map(str::to_string)
}

/// Records `task_definition` (built from `commit`) as the service's last good
/// release, keeping the one it replaces as the previous.
pub(crate) async fn record_good(
    ecs: &impl EcsApi,
    state: &ServiceState,
    task_definition: &str,
    commit: &str,
) -> Result<()> {
    let tags = ecs.tags(&state.arn).await?;
    let last = tags.get(ecs::LAST_GOOD_TAG);
    if last.is_some_and(|arn| short_name(arn) == short_name(task_definition)) {
        return Ok(());
    }
    let mut new_tags = vec![(ecs::LAST_GOOD_TAG, task_definition), (ecs::LAST_GOOD_COMMIT_TAG, commit)];
    if let Some(last) = last {
        new_tags.push((ecs::PREVIOUS_GOOD_TAG, last.as_str()));
        let last_commit = tags.get(ecs::LAST_GOOD_COMMIT_TAG).map_or("", String::as_str);
        new_tags.push((ecs::PREVIOUS_GOOD_COMMIT_TAG, last_commit));
    }
    ecs.tag(&state.arn, &new_tags).await
}

/// After a failed deployment of `failed`: what went wrong, and the rollback.
/// Never succeeds: the error is [`Failed`], or, when the rollback itself
/// cannot be done, what stopped it after what had failed.
#[allow(clippy::too_many_arguments)]
pub(crate) async fn fail_and_roll_back(
    ecs: &impl EcsApi,
    service: &str,
    failed: &str,
    commit: &str,
    before: Option<&str>,
    why: String,
    seen_events: &mut HashSet<String>,
    options: WaitOptions,
    mut event: impl FnMut(&str),
) -> Result<std::convert::Infallible> {
    let mut message = format!("{} did not come up healthy: {why}", short_name(failed));
    match ecs.stopped_reasons(service).await {
        Ok(reasons) if !reasons.is_empty() => message += &format!("; stopped tasks: {}", reasons.join("; ")),
        Ok(_) => {}
        Err(e) => message += &format!("; (could not read stopped tasks: {e:#})"),
    }
    let cannot = || format!("{message}; and it could not be rolled back");
    let state = ecs.service(service).await.with_context(cannot)?;
    crate::history::record(ecs, &state.arn, failed, commit, crate::history::Outcome::Failed)
        .await
        .with_context(cannot)?;
    let tags = ecs.tags(&state.arn).await.with_context(cannot)?;
    let Some(target) = rollback_target(&tags, failed, before) else {
        bail!(Failed {
            code: ROLLED_BACK,
            message: format!(
                "{message}; there is no earlier release to roll back to, so it was left as it is"
            ),
        });
    };
    let after = ecs.update(service, &target, false).await.with_context(cannot)?;
    let id = after.primary().map(|p| p.id.clone()).unwrap_or_default();
    let verdict =
        match wait(ecs, service, &id, seen_events, options, &mut event, |_| {}).await.with_context(cannot)? {
            Outcome::Stable(_) => {
                let definition = ecs.task_definition(&target).await.with_context(cannot)?;
                let target_commit =
                    definition.as_ref().and_then(crate::taskdef::commit_of).unwrap_or_default();
                crate::history::record(
                    ecs,
                    &state.arn,
                    &target,
                    target_commit,
                    crate::history::Outcome::Rollback,
                )
                .await
                .with_context(cannot)?;
                format!("rolled back to {}, which is running", short_name(&target))
            }
            Outcome::Failed(why) | Outcome::ReplacedByEcs(why) | Outcome::TimedOut(why) => {
                format!("rolled back to {}, which is not healthy either: {why}", short_name(&target))
            }
        };
    bail!(Failed { code: ROLLED_BACK, message: format!("{message}; {verdict}") })
}

#[cfg(test)]
mod tests;
