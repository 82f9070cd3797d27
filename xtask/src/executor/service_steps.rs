//! The steps that put an image in service: find it in the registry, register
//! the task definition (unless ECS has it already), update the ECS service,
//! and follow the rollout to the end, rolling back when it fails.

use std::collections::BTreeMap;
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use anyhow::{bail, Context as _, Result};

use super::handoff::{Inputs, Started, StepOutput};
use super::scheduler::Finished;
use super::{Executor, Outcome};
use crate::backend::{Backend, EcsApi, EngineApi, LogsApi, RegistryApi};
use crate::docker::PushError;
use crate::exit;
use crate::history;
use crate::image_ref::ImageRef;
use crate::project::Service;
use crate::rollout;
use crate::taskdef::{self, short_name, TaskDef};
use crate::workspace::plural;

impl<B: Backend> Executor<'_, B> {
    /// Finds this commit's image in the registry, for a deploy without a push.
    pub(super) async fn locate(&self, service: &Service, image: &ImageRef) -> Result<Finished<StepOutput>> {
        let reference = image.to_string();
        let credentials = self.ecr().credentials().await?;
        match self.engine().registry_has(&reference, &credentials).await {
            Ok(Some(digest)) => Ok(Finished {
                outcome: Outcome::Done(format!("{reference} is {digest}")),
                output: self.in_registry(service, reference, digest),
            }),
            Ok(None) => bail!(
                "{reference} is not in the registry; push it first: cargo xtask push --env {} --service {}",
                self.workspace.environment.name,
                service.name
            ),
            Err(PushError { message, .. }) => bail!("look up {reference}: {}", message.trim()),
        }
    }

    /// The rendered task definition with this run's images (handed on by the
    /// pushes or locates before it) pinned to their digests; refuses one that
    /// runs an image of the registry that was not pushed, which would leave
    /// the service pointing at nothing.
    fn task_definition(
        &self,
        service: &Service,
        definition: &TaskDef,
        inputs: Inputs<'_>,
    ) -> Result<serde_json::Value> {
        let mut json = definition.json().clone();
        let mut pushed: BTreeMap<String, taskdef::Pin> = inputs
            .images()
            .map(|(reference, digest, commit)| {
                let pin = taskdef::Pin { digest: Some(digest.to_string()), commit: Some(commit.to_string()) };
                (reference.to_string(), pin)
            })
            .collect();
        for (image, digest) in &self.located {
            pushed.insert(image.clone(), taskdef::Pin { digest: Some(digest.clone()), commit: None });
        }
        taskdef::pin_images(&mut json, &pushed);
        // The preflight located every other image of the registry; one left
        // unpinned is this run's own, whose push failed or did not happen.
        let prefix = format!("{}/", self.registry);
        if let Some(image) =
            taskdef::images_of(&json).into_iter().find(|i| i.starts_with(&prefix) && !i.contains('@'))
        {
            bail!(
                "the task definition of {} runs {image}, which this release did not push; release the service \
                 that builds it too, or refer to a pushed image",
                service.name
            );
        }
        Ok(json)
    }

    /// Registers the task definition unless ECS has it already; hands on
    /// the one the service is to run.
    pub(super) async fn register(
        &self,
        service: &Service,
        definition: &TaskDef,
        inputs: Inputs<'_>,
    ) -> Result<Finished<StepOutput>> {
        let ecs = &self.ecs(service.cluster(&self.workspace.environment));
        let json = self.task_definition(service, definition, inputs)?;
        let handing_on =
            |outcome, arn: &str| Finished { outcome, output: StepOutput::TaskDefinition(arn.to_string()) };
        let family = definition.family();
        let latest = ecs.task_definition(family).await?;
        let newest = latest.as_ref().and_then(|l| l["taskDefinitionArn"].as_str()).unwrap_or_default();
        let changed = latest.as_ref().map(|latest| taskdef::changes(latest, &json).len());
        if changed == Some(0) {
            let why = format!("{} is identical", short_name(newest));
            return Ok(handing_on(Outcome::Skipped(why), newest));
        }
        // After a rollback the service runs an older revision than the
        // newest: releasing what it runs must not register a duplicate.
        let key = (ecs.cluster().to_string(), service.ecs_service.clone());
        let running = self.running.get(&key).cloned().unwrap_or_default();
        let same_family = short_name(&running).rsplit_once(':').is_some_and(|(f, _)| f == family);
        if same_family && short_name(&running) != short_name(newest) {
            if let Some(current) = ecs.task_definition(&running).await? {
                if taskdef::changes(&current, &json).is_empty() {
                    let why = format!("{} is identical and runs already", short_name(&running));
                    return Ok(handing_on(Outcome::Skipped(why), &running));
                }
            }
        }
        let arn = ecs.register(family, &json).await?;
        let outcome = Outcome::Done(match changed {
            Some(n) => format!("registered {} ({n} field{} changed)", short_name(&arn), plural(n)),
            None => format!("registered {} (a new family)", short_name(&arn)),
        });
        Ok(handing_on(outcome, &arn))
    }

    /// Points the service at the task definition registered before it (or
    /// a rollback's revision); hands on the deployment it started.
    pub(super) async fn deploy(
        &self,
        service: &Service,
        cluster: &str,
        inputs: Inputs<'_>,
    ) -> Result<Finished<StepOutput>> {
        let ecs = &self.ecs(cluster);
        let rollback = self.program.rollback_of(service);
        let target = match (inputs.task_definition(), rollback) {
            (Some(registered), _) => registered.to_string(),
            (None, Some(to)) => to.revision.clone(),
            (None, None) => bail!("deploy {}: the plan registers no task definition before it", service.name),
        };
        let before = ecs.service(&service.ecs_service).await?;
        if short_name(&before.task_definition) == short_name(&target) && !self.options.force_deploy {
            let why = format!("{} runs {} already", service.ecs_service, short_name(&target));
            return Ok(Finished {
                outcome: Outcome::Skipped(why),
                output: StepOutput::Deployment { target, started: None },
            });
        }
        let seen_events = before.events.iter().map(|e| e.id.clone()).collect();
        let after = ecs.update(&service.ecs_service, &target, self.options.force_deploy).await?;
        let id = after.primary().map(|p| p.id.clone()).context("ECS started no PRIMARY deployment")?;
        let what = format!(
            "{} {} -> {} (deployment {id})",
            service.ecs_service,
            short_name(&before.task_definition),
            short_name(&target)
        );
        let started = Started { id, before: before.task_definition, seen_events };
        Ok(Finished {
            outcome: Outcome::Done(what),
            output: StepOutput::Deployment { target, started: Some(started) },
        })
    }

    pub(super) async fn wait(&self, service: &Service, cluster: &str, inputs: Inputs<'_>) -> Result<Outcome> {
        let ecs = &self.ecs(cluster);
        let name = service.ecs_service.as_str();
        let Some((target, started)) = inputs.deployment() else {
            bail!("wait {}: the plan deploys nothing before it", service.name)
        };
        let target = target.to_string();
        let (id, before, mut seen_events, fresh) = match started {
            Some(s) => (s.id.clone(), Some(s.before.clone()), s.seen_events.clone(), true),
            // Not deployed this run: follow what runs, which an interrupted
            // release may have left rolling out.
            None => {
                let state = ecs.service(name).await?;
                let id = state.primary().map(|p| p.id.clone()).unwrap_or_default();
                (id, None, state.events.iter().map(|e| e.id.clone()).collect(), false)
            }
        };
        let begun = Instant::now();
        let step = format!("wait {}", service.name);
        let outcome = rollout::wait(
            ecs,
            name,
            &id,
            &mut seen_events,
            self.options.wait,
            |event| self.progress.line(&format!("{step:<18} event: {event}")),
            |status| self.progress.update(&step, status),
        )
        .await?;
        // A rollback records the commit of the revision it goes back to, and
        // a rollback that fails is not rolled back in turn.
        let rollback = self.program.rollback_of(service);
        let commit = match rollback {
            Some(to) => &to.commit,
            None => &self.workspace.revision.image(&service.name).commit,
        };
        let why = match outcome {
            rollout::Outcome::Stable(state) => {
                rollout::record_good(ecs, &state, &target, commit).await?;
                // Only a deployment this run made is a new release in the history.
                if fresh {
                    let kind =
                        if rollback.is_some() { history::Outcome::Rollback } else { history::Outcome::Good };
                    history::record(ecs, &state.arn, &target, commit, kind).await?;
                }
                let what = format!(
                    "{name} runs {} with {}/{} tasks",
                    short_name(&target),
                    state.running,
                    state.desired
                );
                return Ok(if fresh {
                    Outcome::Done(format!("{what} ({:.1}s)", begun.elapsed().as_secs_f64()))
                } else {
                    Outcome::Skipped(format!("{what}, stable"))
                });
            }
            rollout::Outcome::Failed(why)
            | rollout::Outcome::ReplacedByEcs(why)
            | rollout::Outcome::TimedOut(why)
                if rollback.is_some() =>
            {
                bail!(exit::Failed {
                    code: exit::ROLLED_BACK,
                    message: format!(
                        "the rollback of {name} to {} did not come up healthy: {why}",
                        short_name(&target)
                    ),
                })
            }
            rollout::Outcome::ReplacedByEcs(why) => {
                let arn = ecs.service(name).await?.arn;
                history::record(ecs, &arn, &target, commit, history::Outcome::Failed).await?;
                bail!(exit::Failed {
                    code: exit::ECS_ROLLED_BACK,
                    message: format!("{name}: the deployment of {} failed: {why}", short_name(&target)),
                })
            }
            rollout::Outcome::Failed(why) | rollout::Outcome::TimedOut(why) => why,
        };
        // What the new tasks said before they failed, read before the rollback replaces them.
        let since =
            SystemTime::now().duration_since(UNIX_EPOCH).unwrap_or_default().saturating_sub(begun.elapsed());
        let last_lines = self.last_lines(ecs, &target, since.as_millis() as i64 - 10_000).await;
        let Err(failed) = rollout::fail_and_roll_back(
            ecs,
            name,
            &target,
            commit,
            before.as_deref(),
            why,
            &mut seen_events,
            self.options.wait,
            |event| self.progress.line(&format!("{step:<18} event: {event}")),
        )
        .await;
        match (failed.downcast_ref::<exit::Failed>(), last_lines.is_empty()) {
            (Some(f), false) => Err(exit::Failed {
                code: f.code,
                message: format!(
                    "{}; the last log lines of {}:\n  {}",
                    f.message,
                    short_name(&target),
                    last_lines.join("\n  ")
                ),
            }
            .into()),
            _ => Err(failed),
        }
    }

    /// The last lines the tasks of a revision wrote since `since`
    /// (milliseconds since 1970), as `task container | message`; none when
    /// its containers do not log to CloudWatch or the logs cannot be read.
    async fn last_lines(&self, ecs: &B::Ecs, revision: &str, since: i64) -> Vec<String> {
        const SHOWN: usize = 10;
        let Ok(Some(definition)) = ecs.task_definition(revision).await else { return Vec::new() };
        let Ok(sources) = crate::logs::sources(&definition, short_name(revision)) else { return Vec::new() };
        let mut lines = Vec::new();
        for source in &sources {
            let region = source.region.as_deref().unwrap_or(&self.workspace.environment.region);
            if let Ok(found) = self.backend.logs(region).await.lines(source, since, None).await {
                lines.extend(found);
            }
        }
        lines.sort_by_key(|l| l.timestamp);
        let shown: Vec<String> = lines
            .iter()
            .map(|l| {
                format!(
                    "{} {} | {}",
                    l.task.chars().take(8).collect::<String>(),
                    l.container,
                    l.message.trim_end()
                )
            })
            .collect();
        shown[shown.len().saturating_sub(SHOWN)..].to_vec()
    }
}
