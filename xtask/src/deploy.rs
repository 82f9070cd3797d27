//! Following a deployment to its real outcome, and going back to the last
//! release that came up healthy when it fails.
//!
//! ECS's own waiter polls every 15 s and only says "stable" or "timed out";
//! this loop polls at the configured interval, prints the service's events as
//! they arrive, tells a failed rollout from a slow one, and notices when ECS
//! (the deployment circuit breaker) rolled the service back by itself.

use std::collections::HashSet;
use std::fmt;
use std::time::{Duration, Instant};

use anyhow::{bail, Context as _, Result};

use crate::backend::EcsApi;
use crate::ecs::{self, ServiceState};
use crate::taskdef::short_name;

/// Exit code when a rollout failed or timed out and the tool rolled back.
pub(crate) const EXIT_ROLLED_BACK: u8 = 3;
/// Exit code when ECS itself rolled the deployment back (circuit breaker).
pub(crate) const EXIT_ECS_ROLLED_BACK: u8 = 4;
/// A service's `before_deploy` command failed (or its task could not start):
/// nothing was deployed.
pub(crate) const EXIT_BEFORE_DEPLOY: u8 = 5;

#[derive(Debug, Clone, Copy)]
pub(crate) struct WaitOptions {
    pub(crate) timeout: Duration,
    pub(crate) poll: Duration,
}

/// A deployment that did not come up healthy; carries the process exit code.
#[derive(Debug)]
pub(crate) struct Failed {
    pub(crate) code: u8,
    pub(crate) message: String,
}

impl fmt::Display for Failed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for Failed {}

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
            code: EXIT_ROLLED_BACK,
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
    bail!(Failed { code: EXIT_ROLLED_BACK, message: format!("{message}; {verdict}") })
}

/// A duration a process variable sets (`XTASK_AWS_TIMEOUT=30s`), if it is
/// set to one.
pub(crate) fn duration_from_env(variable: &str) -> Option<Duration> {
    std::env::var(variable).ok().and_then(|text| parse_duration(&text).ok())
}

/// "10m", "90s", "1h", "500ms", or a bare number of seconds.
pub(crate) fn parse_duration(text: &str) -> Result<Duration, String> {
    let text = text.trim();
    let not_a_duration = || format!("`{text}` is not a duration like 90s, 10m, 1h30m or 500ms");
    // A bare number is seconds.
    let seconds = match text.parse::<f64>() {
        Ok(seconds) => seconds,
        Err(_) => {
            // Parts from the largest unit down, each once: `1h30m`, `2m10s`, `1.5h`.
            let (mut total, mut rest, mut smallest_so_far) = (0.0, text, None);
            while !rest.is_empty() {
                let digits =
                    rest.find(|c: char| !c.is_ascii_digit() && c != '.').ok_or_else(not_a_duration)?;
                let (number, after) = rest.split_at(digits);
                let number: f64 = number.parse().map_err(|_| not_a_duration())?;
                let letters = after.find(|c: char| c.is_ascii_digit() || c == '.').unwrap_or(after.len());
                let (unit, next) = after.split_at(letters);
                let (factor, rank) = match unit {
                    "h" => (3600.0, 0),
                    "m" => (60.0, 1),
                    "s" => (1.0, 2),
                    "ms" => (0.001, 3),
                    _ => return Err(format!("`{text}`: unknown unit `{unit}`; use h, m, s or ms")),
                };
                if smallest_so_far.is_some_and(|smallest| rank <= smallest) {
                    return Err(format!("`{text}`: write the units from hours down, each once, as in 1h30m"));
                }
                smallest_so_far = Some(rank);
                total += number * factor;
                rest = next;
            }
            if smallest_so_far.is_none() {
                return Err(not_a_duration());
            }
            total
        }
    };
    if seconds.is_nan() || seconds < 0.0 {
        return Err(not_a_duration());
    }
    Duration::try_from_secs_f64(seconds).map_err(|_| format!("`{text}` is too long a duration"))
}

pub(crate) fn human(duration: Duration) -> String {
    let seconds = duration.as_secs_f64();
    if seconds >= 60.0 && seconds % 60.0 == 0.0 {
        format!("{}m", seconds / 60.0)
    } else {
        format!("{seconds}s")
    }
}

#[cfg(test)]
mod tests;
