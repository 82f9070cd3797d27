//! `cargo xtask diff`: rendered task definitions against the registered ones.

use std::collections::BTreeMap;

use anyhow::{bail, Context, Result};

use crate::docker::Engine;
use crate::ecr::Ecr;
use crate::ecs::Ecs;
use crate::render::{image_reference, registry_host, Scope, Secrets};
use crate::taskdef::{self, short_name, Pin};
use crate::tasks::{plural, runtime, Workspace};

pub(crate) fn run(flags: crate::flags::Diff) -> Result<()> {
    let workspace = Workspace::load(&flags.env)?;
    let chosen = workspace.project.select(&flags.services.names)?;
    let services: Vec<_> = chosen.into_iter().filter(|s| s.task_definition_template.is_some()).collect();
    let rendered = workspace.render(&services, Scope::Release, Secrets::Redact)?;
    let environment = &workspace.environment;
    let registry = registry_host(environment);
    let differing = runtime()?.block_on(async {
        let mut differing = Vec::new();
        let session = Ecs::connect(&environment.region, &environment.cluster).await;
        let pushed = pushed_digests(&workspace, &registry).await;
        for (service, outputs) in &rendered {
            let text = outputs.task_definition.as_deref().context("a task definition was rendered")?;
            let mut json: serde_json::Value = serde_json::from_str(text)?;
            let image = image_reference(&registry, service, &workspace.revision);
            let note = if pushed[&image].digest.is_some() {
                String::new()
            } else {
                format!(" ({image} is not in the registry, so its tag is compared, not its digest)")
            };
            taskdef::pin_images(&mut json, &pushed);
            let family = json.get("family").and_then(|f| f.as_str()).unwrap_or("?").to_string();
            let ecs = session.in_cluster(service.cluster(environment));
            let Some(latest) = ecs.task_definition(&family).await? else {
                println!(
                    "{}: family {family} has no revision yet; a release registers it{note}",
                    service.name
                );
                differing.push(service.name.as_str());
                continue;
            };
            let registered = short_name(latest["taskDefinitionArn"].as_str().unwrap_or("?")).to_string();
            let changes = taskdef::changes(&latest, &json);
            if changes.is_empty() {
                println!("{}: no changes from {registered}{note}", service.name);
                continue;
            }
            differing.push(service.name.as_str());
            let n = changes.len();
            let verb = if n == 1 { "differs" } else { "differ" };
            println!("{}: {n} field{} {verb} from {registered}{note}", service.name, plural(n));
            for change in changes {
                match (change.registered, change.rendered) {
                    (Some(old), Some(new)) => println!("  ~ {}: {old:?} -> {new:?}", change.path),
                    (None, Some(new)) => println!("  + {}: {new:?}", change.path),
                    (Some(old), None) => println!("  - {}: {old:?}", change.path),
                    (None, None) => {}
                }
            }
        }
        anyhow::Ok(differing)
    })?;
    if flags.exit_code && !differing.is_empty() {
        let n = differing.len();
        bail!(
            "{n} service{} differ{} from what is registered: {}",
            plural(n),
            if n == 1 { "s" } else { "" },
            differing.join(", ")
        );
    }
    Ok(())
}

/// This commit's image of every service, with its digest when the registry
/// has it. Best effort: without the engine or a registry token, the
/// comparison falls back to tags.
async fn pushed_digests(workspace: &Workspace, registry: &str) -> BTreeMap<String, Pin> {
    let mut found: BTreeMap<String, Pin> = workspace
        .project
        .services
        .iter()
        .map(|s| {
            let commit = workspace.revision.image(&s.name).commit.clone();
            (image_reference(registry, s, &workspace.revision), Pin { digest: None, commit: Some(commit) })
        })
        .collect();
    let Ok(engine) = Engine::connect().await else { return found };
    let ecr = Ecr::connect(&workspace.environment.region, registry).await;
    let Ok(credentials) = ecr.credentials().await else { return found };
    for (image, pin) in &mut found {
        if let Ok(Some(digest)) = engine.registry_has(image, &credentials).await {
            pin.digest = Some(digest);
        }
    }
    found
}
