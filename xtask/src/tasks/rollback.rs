//! `cargo xtask rollback`: back to the last good release, or a chosen one.

use anyhow::{bail, Context, Result};
use bollard::auth::DockerCredentials;

use crate::docker::Engine;
use crate::ecr::Ecr;
use crate::ecs::Ecs;
use crate::executor::Options;
use crate::flags::Rollback;
use crate::history;
use crate::plan;
use crate::preview::Preview;
use crate::program::{Program, RollbackTo};
use crate::render::registry_host;
use crate::report::{say, Reporter};
use crate::taskdef::{self, short_name};
use crate::tasks::{runtime, Workspace};

/// How many revisions back `--to COMMIT` looks.
const SEARCHED_REVISIONS: usize = 50;

pub(crate) fn run(flags: Rollback, out: &Reporter) -> Result<()> {
    let workspace = Workspace::load(&flags.env)?;
    let service = workspace.project.select(std::slice::from_ref(&flags.service))?[0];
    if service.task_definition_template.is_none() {
        bail!(
            "{} is built but never deployed (it has no task definition template), so there is nothing to roll \
             back; roll back the services that run its image instead",
            service.name
        );
    }
    // A dry run changes nothing, so it needs neither consent nor the lock.
    let dry_run = flags.preview.dry_run;
    if !dry_run {
        workspace.require_consent(&flags.confirm)?;
    }
    let environment = &workspace.environment;
    let cluster = service.cluster(environment);
    let _locks = match dry_run {
        true => None,
        false => Some(crate::lock::acquire(out, environment, &[cluster], flags.deploy.wait_for_lock)?),
    };
    let name = service.ecs_service.as_str();
    // Which revision to go back to, worked out before anything changes;
    // `None` when there is nothing to do.
    let decided = runtime()?.block_on(async {
        let ecs = Ecs::connect(&environment.region, cluster).await;
        let state = ecs.service(name).await?;
        let current = state.task_definition.clone();
        let family = short_name(&current).rsplit_once(':').map(|(f, _)| f.to_string()).unwrap_or_default();
        let target = match &flags.to {
            None => {
                let tags = ecs.tags(&state.arn).await?;
                // The release history goes back, never forward; the last-good
                // records serve a service deployed before the history began.
                match history::rollback_target(&history::read(&tags), &current) {
                    Ok(Some(entry)) => entry.revision.clone(),
                    Ok(None) => {
                        let target = crate::rollout::rollback_target(&tags, &current, None).with_context(|| {
                            format!(
                                "no earlier healthy release of {name} is recorded (a successful release records \
                                 one); pass --to with a revision number of {family} or a commit"
                            )
                        })?;
                        // The last-good records know no order of releases; a
                        // revision registered after the running one is forward.
                        let number = |arn: &str| arn.rsplit(':').next().and_then(|n| n.parse::<u64>().ok());
                        if number(&target) > number(&current) {
                            bail!(
                                "{name}: the release recorded as good before {} is {}, a later revision: a \
                                 rollback never goes forward; pass --to with the revision or commit to go to",
                                short_name(&current),
                                short_name(&target)
                            );
                        }
                        target
                    }
                    Err(nothing_older) => bail!("{name}: {nothing_older}"),
                }
            }
            // Git abbreviates commits to at least 7 characters, so shorter numbers are revisions.
            Some(revision) if revision.len() < 7 && revision.chars().all(|c| c.is_ascii_digit()) => {
                let wanted = format!("{family}:{revision}");
                ecs.task_definition(&wanted)
                    .await?
                    .with_context(|| {
                    format!(
                        "{wanted} does not exist; `aws ecs list-task-definitions --family-prefix \
                         {family}` lists the revisions"
                    )
                })?;
                wanted
            }
            Some(commit) => {
                // At a commit that left the service alone, it ran the image
                // of the commit that last changed it, and that is what its
                // revisions record.
                let image_commit = workspace
                    .project
                    .image_inputs(service)
                    .and_then(|inputs| workspace.git.image_commit_at(commit, inputs));
                find_commit(&ecs, &family, image_commit.as_deref().unwrap_or(commit)).await?
            }
        };
        let force = flags.deploy.force_new_deployment;
        if short_name(&target) == short_name(&current) && !force {
            say!(out, "{name} runs {} already: nothing to do", short_name(&target));
            return Ok(None);
        }
        let definition = ecs.task_definition(&target).await?.context("the target revision vanished")?;
        let commit = taskdef::commit_of(&definition).unwrap_or("").to_string();
        if !flags.force {
            images_are_there(&workspace, &definition, &target).await?;
        }
        if !dry_run {
            say!(out, "rolling {name} back: {} -> {}", short_name(&current), short_name(&target));
        }
        let images_checked = !flags.force;
        Ok(Some(RollbackTo { service: service.name.clone(), from: current, revision: target, commit, images_checked }))
    })?;
    let Some(to) = decided else { return Ok(()) };
    // The plan a dry run prints is the program the run carries out.
    let program = Program::rollback(&plan::rollback(service), &workspace, to)?;
    if dry_run {
        Preview::new("rollback", &program)?.print_dry_run(out, flags.preview.json);
        return Ok(());
    }
    // The same executor as a release: the status line, the CI summary, and a
    // clean stop on Ctrl-C or SIGTERM.
    let options = Options {
        jobs: 1,
        force: false,
        force_deploy: flags.deploy.force_new_deployment,
        wait: flags.deploy.wait_options(),
    };
    workspace.roll_back(&program, options, out)?;
    Ok(())
}

/// Refuses a revision whose images cannot be found where its tasks would
/// pull them from: its tasks would never start.
async fn images_are_there(workspace: &Workspace, definition: &serde_json::Value, target: &str) -> Result<()> {
    let registry = registry_host(&workspace.environment);
    let engine = Engine::connect().await?;
    let ours = Ecr::connect(&workspace.environment.region, &registry).await.credentials().await?;
    for image in taskdef::images_of(definition) {
        // The environment's registry takes the ECR token; others are asked anonymously.
        let credentials = if image.starts_with(&format!("{registry}/")) {
            ours.clone()
        } else {
            DockerCredentials::default()
        };
        let found = matches!(engine.registry_has(image, &credentials).await, Ok(Some(_)));
        if !found {
            bail!(
                "{} runs {image}, which cannot be found in its registry, so its tasks could not start; pass \
                 --force to roll back to it anyway",
                short_name(target)
            );
        }
    }
    Ok(())
}

/// The newest revision of `family` whose image was built from a commit
/// starting with `commit`.
async fn find_commit(ecs: &Ecs, family: &str, commit: &str) -> Result<String> {
    for arn in ecs.revisions(family).await?.into_iter().take(SEARCHED_REVISIONS) {
        let Some(json) = ecs.task_definition(&arn).await? else { continue };
        if taskdef::commit_of(&json).is_some_and(|c| c.starts_with(commit)) {
            return Ok(arn);
        }
    }
    bail!(
        "no revision among the latest {SEARCHED_REVISIONS} of {family} runs commit {commit}; pass a revision \
         number instead"
    )
}
