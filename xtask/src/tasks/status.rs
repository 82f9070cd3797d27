//! `cargo xtask status`: what each service of an environment runs.

use anyhow::Result;

use crate::ecs::{self, Ecs};
use crate::taskdef::{self, short_name};
use crate::tasks::{runtime, Workspace};

pub(crate) fn run(flags: crate::flags::Status) -> Result<()> {
    let workspace = Workspace::load(&flags.env)?;
    let chosen = workspace.project.select(&flags.services.names)?;
    let services: Vec<_> = chosen.into_iter().filter(|s| s.task_definition_template.is_some()).collect();
    let environment = &workspace.environment;
    runtime()?.block_on(async {
        let session = Ecs::connect(&environment.region, &environment.cluster).await;
        println!("env {}, cluster {}, region {}", environment.name, environment.cluster, environment.region);
        for service in services {
            let ecs = session.in_cluster(service.cluster(environment));
            let state = match ecs.service(&service.ecs_service).await {
                Ok(state) => state,
                Err(e) => {
                    println!("{}: {e:#}", service.name);
                    continue;
                }
            };
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
            match &service.cluster {
                Some(cluster) => {
                    println!("{} (ECS service {}, cluster {cluster})", service.name, service.ecs_service)
                }
                None => println!("{} (ECS service {})", service.name, service.ecs_service),
            }
            println!("  revision  {}", short_name(&state.task_definition));
            println!("  commit    {commit}");
            println!("  image     {images}");
            println!("  rollout   {rollout}, {}/{} tasks running", state.running, state.desired);
            let tags = ecs.tags(&state.arn).await?;
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
        }
        Ok(())
    })
}
