//! `cargo xtask diff`: rendered task definitions against the registered ones.

use std::collections::BTreeMap;

use anyhow::{bail, Context, Result};
use serde::Serialize;

use crate::docker::Engine;
use crate::ecr::Ecr;
use crate::ecs::Ecs;
use crate::image_ref::ImageRef;
use crate::render::{registry_host, Scope, Secrets};
use crate::report::Reporter;
use crate::taskdef::{self, short_name, Change, Pin};
use crate::tasks::{plural, runtime, Workspace};

/// `diff --json`: each compared service, in the order asked.
#[derive(Serialize)]
struct Report<'a> {
    env: &'a str,
    services: Vec<Compared>,
}

/// One service's rendered task definition against its family's latest revision.
#[derive(Serialize)]
struct Compared {
    name: String,
    family: String,
    /// The latest ACTIVE revision (`family:N`); `None` when the family has none yet.
    registered: Option<String>,
    /// This commit's image of the service.
    image: String,
    /// Whether the image is compared by its digest (it is in the registry) or by its tag.
    image_compared_by: &'static str,
    /// Whether a release would register a new revision.
    differs: bool,
    changes: Vec<Change>,
}

pub(crate) fn run(flags: crate::flags::Diff, out: &Reporter) -> Result<()> {
    let workspace = Workspace::load(&flags.env)?;
    let chosen = workspace.project.select(&flags.services.names)?;
    let services: Vec<_> = chosen.into_iter().filter(|s| s.task_definition_template.is_some()).collect();
    let rendered = workspace.render(&services, Scope::Release, Secrets::Redact)?;
    let environment = &workspace.environment;
    let registry = registry_host(environment);
    let compared = runtime()?.block_on(async {
        let mut compared = Vec::new();
        let session = Ecs::connect(&environment.region, &environment.cluster).await;
        let pushed = pushed_digests(&workspace, &registry).await;
        for (service, outputs) in &rendered {
            let definition = outputs.task_definition.as_ref().context("a task definition was rendered")?;
            let mut json = definition.json().clone();
            let image = ImageRef::of(&registry, service, &workspace.revision).to_string();
            let by_digest = pushed[&image].digest.is_some();
            taskdef::pin_images(&mut json, &pushed);
            let family = definition.family().to_string();
            let ecs = session.in_cluster(service.cluster(environment));
            let latest = ecs.task_definition(&family).await?;
            let registered = latest
                .as_ref()
                .map(|l| short_name(l["taskDefinitionArn"].as_str().unwrap_or("?")).to_string());
            let changes = latest.as_ref().map_or_else(Vec::new, |latest| taskdef::changes(latest, &json));
            let one = Compared {
                name: service.name.clone(),
                family,
                differs: registered.is_none() || !changes.is_empty(),
                registered,
                image,
                image_compared_by: if by_digest { "digest" } else { "tag" },
                changes,
            };
            if !flags.json {
                out.text(text_of(&one));
            }
            compared.push(one);
        }
        anyhow::Ok(compared)
    })?;
    let differing: Vec<String> = compared.iter().filter(|c| c.differs).map(|c| c.name.clone()).collect();
    if flags.json {
        crate::json::print(out, "diff", &Report { env: &environment.name, services: compared });
    }
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

/// The lines a compared service gets in plain output.
fn text_of(compared: &Compared) -> String {
    let Compared { name, family, image, .. } = compared;
    let note = if compared.image_compared_by == "digest" {
        String::new()
    } else {
        format!(" ({image} is not in the registry, so its tag is compared, not its digest)")
    };
    let Some(registered) = &compared.registered else {
        return format!("{name}: family {family} has no revision yet; a release registers it{note}\n");
    };
    if compared.changes.is_empty() {
        return format!("{name}: no changes from {registered}{note}\n");
    }
    let n = compared.changes.len();
    let verb = if n == 1 { "differs" } else { "differ" };
    let mut out = format!("{name}: {n} field{} {verb} from {registered}{note}\n", plural(n));
    for change in &compared.changes {
        let path = &change.path;
        match (&change.registered, &change.rendered) {
            (Some(old), Some(new)) => out += &format!("  ~ {path}: {old:?} -> {new:?}\n"),
            (None, Some(new)) => out += &format!("  + {path}: {new:?}\n"),
            (Some(old), None) => out += &format!("  - {path}: {old:?}\n"),
            (None, None) => {}
        }
    }
    out
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
            (
                ImageRef::of(registry, s, &workspace.revision).to_string(),
                Pin { digest: None, commit: Some(commit) },
            )
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
