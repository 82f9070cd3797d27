//! `cargo xtask status`: what each service of an environment runs.

use anyhow::{bail, Result};

use crate::docker::Engine;
use crate::ecr::Ecr;
use crate::ecs::{self, Ecs};
use crate::project::Service;
use crate::render::{image_reference, registry_host};
use crate::taskdef::{self, short_name};
use crate::tasks::{plural, runtime, Workspace};

pub(crate) fn run(flags: crate::flags::Status) -> Result<()> {
    let workspace = Workspace::load(&flags.env)?;
    let services = workspace.project.select(&flags.services.names)?;
    let environment = &workspace.environment;
    let unreadable = runtime()?.block_on(async {
        let session = Ecs::connect(&environment.region, &environment.cluster).await;
        println!("env {}, cluster {}, region {}", environment.name, environment.cluster, environment.region);
        let mut unreadable = Vec::new();
        for service in &services {
            let shown = match service.task_definition_template {
                Some(_) => {
                    deployed(&workspace, &session.in_cluster(service.cluster(environment)), service).await
                }
                None => built(&workspace, service).await,
            };
            if let Err(e) = shown {
                println!("{}: {e:#}", service.name);
                unreadable.push(service.name.as_str());
            }
        }
        unreadable
    });
    if !unreadable.is_empty() {
        let n = unreadable.len();
        bail!(
            "could not read {n} of {} service{}: {}; see the reasons above",
            services.len(),
            plural(services.len()),
            unreadable.join(", ")
        );
    }
    Ok(())
}

/// A deployed service: what its ECS service runs, and its recorded releases.
async fn deployed(workspace: &Workspace, ecs: &Ecs, service: &Service) -> Result<()> {
    let state = ecs.service(&service.ecs_service).await?;
    let definition = ecs.task_definition(&state.task_definition).await?;
    let (images, commit) = match &definition {
        Some(json) => (
            taskdef::images_of(json).join(", "),
            taskdef::commit_of(json).map_or("unknown".to_string(), |c| c.chars().take(12).collect()),
        ),
        None => ("unknown".to_string(), "unknown".to_string()),
    };
    let rollout = state
        .primary()
        .map(|p| p.rollout_state.clone().unwrap_or_else(|| p.status.clone()))
        .unwrap_or_else(|| "no deployment".to_string());
    let tags = ecs.tags(&state.arn).await?;
    match &service.cluster {
        Some(cluster) => {
            println!("{} (ECS service {}, cluster {cluster})", service.name, service.ecs_service)
        }
        None => println!("{} (ECS service {})", service.name, service.ecs_service),
    }
    println!("  revision  {}", short_name(&state.task_definition));
    println!("  commit    {commit}");
    println!("  image     {images}");
    // What a release of this commit would run, and why it is tagged so.
    let wanted = image_reference(&registry_host(&workspace.environment), service, &workspace.revision);
    println!("  this commit's image {wanted}{}", identity_note(workspace, service));
    println!("  rollout   {rollout}, {}/{} tasks running", state.running, state.desired);
    let record = |arn: &str, commit: &str| {
        format!("{} ({})", short_name(arn), commit.chars().take(12).collect::<String>())
    };
    if let Some(last) = tags.get(ecs::LAST_GOOD_TAG) {
        let commit = tags.get(ecs::LAST_GOOD_COMMIT_TAG).map_or("", String::as_str);
        print!("  last good {}", record(last, commit));
        if let Some(previous) = tags.get(ecs::PREVIOUS_GOOD_TAG) {
            let commit = tags.get(ecs::PREVIOUS_GOOD_COMMIT_TAG).map_or("", String::as_str);
            print!(", before it {}", record(previous, commit));
        }
        println!();
    } else {
        println!("  last good none recorded yet");
    }
    Ok(())
}

/// A service that is only built (others are built FROM it): whether this
/// commit's image is in the registry.
async fn built(workspace: &Workspace, service: &Service) -> Result<()> {
    let registry = registry_host(&workspace.environment);
    let image = image_reference(&registry, service, &workspace.revision);
    let engine = Engine::connect().await?;
    let credentials = Ecr::connect(&workspace.environment.region, &registry).await.credentials().await?;
    let found = match engine.registry_has(&image, &credentials).await {
        Ok(Some(digest)) => format!("in the registry ({digest})"),
        Ok(None) => "not in the registry yet".to_string(),
        Err(e) => bail!("look up {image}: {}", e.message.trim()),
    };
    println!("{} (built, not deployed: no task definition template)", service.name);
    println!("  image     {image}, {found}{}", identity_note(workspace, service));
    Ok(())
}

/// ` (build arguments' digest 1a2b3c4d)` when the tag carries one.
fn identity_note(workspace: &Workspace, service: &Service) -> String {
    match &workspace.revision.image(&service.name).build_args_digest {
        Some(digest) => format!(" (build arguments' digest {digest})"),
        None => String::new(),
    }
}
