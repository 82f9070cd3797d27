//! What is asked of the registry before anything changes: does it answer and
//! take the token, and are the images that task definitions run (but this
//! run does not build) there.

use std::collections::{BTreeMap, HashSet};
use std::time::Duration;

use anyhow::Result;

use crate::docker::{Engine, PushError, RegistryFailure};
use crate::ecr::Ecr;
use crate::image_ref::ImageRef;
use crate::project::Service;
use crate::render::Rendered;
use crate::taskdef;
use crate::workspace::Workspace;

/// Whether the registry answers and takes the token, by looking up one
/// image (whether it is there does not matter). A failure in passing is
/// tried again twice; each look is bounded by the AWS call timeout.
pub(super) async fn probe_registry(
    engine: &Engine,
    ecr: &Ecr,
    registry: &str,
    reference: &str,
    environment: &crate::project::Environment,
) -> Result<(), String> {
    let mut last = String::new();
    for attempt in 1..=3 {
        let credentials = ecr.credentials().await.map_err(|e| format!("{e:#}"))?;
        let limit = crate::aws::call_timeout();
        match tokio::time::timeout(limit, engine.registry_has(reference, &credentials)).await {
            Ok(Ok(_)) => return Ok(()),
            Ok(Err(PushError { kind: RegistryFailure::Transient, message })) => last = message,
            Ok(Err(PushError { message, .. })) => {
                return Err(format!(
                    "the registry {registry} refused to answer with this run's credentials: {}; check the \
                     role's ECR permissions (or the registry's accounts)",
                    message.trim()
                ))
            }
            Err(_) => last = format!("no answer within {}", crate::duration::human(limit)),
        }
        if attempt < 3 {
            tokio::time::sleep(super::push::retry::jittered(Duration::from_millis(500) * attempt)).await;
        }
    }
    Err(format!(
        "the registry {registry} cannot be reached: {}; check that it runs and that this machine reaches it (the \
         address is `registry` in env/{}.toml, or the account's ECR)",
        last.trim(),
        environment.name
    ))
}

/// Images of the environment's registry that task definitions run but this
/// run neither builds nor locates (a mirrored base image, another service's
/// image), looked up before anything changes, so a missing one stops the run
/// before anything is built; found, its digest pins it. Returns the digests
/// by image reference; what is missing goes to `problems`.
pub(super) async fn locate_foreign_images(
    engine: &Engine,
    ecr: &Ecr,
    registry: &str,
    workspace: &Workspace,
    rendered: &[(&Service, Rendered)],
    problems: &mut Vec<String>,
) -> Result<BTreeMap<String, String>> {
    let ours: HashSet<String> =
        rendered.iter().map(|(s, _)| ImageRef::of(registry, s, &workspace.revision).to_string()).collect();
    let mut located = BTreeMap::new();
    for (service, outputs) in rendered {
        let Some(definition) = &outputs.task_definition else { continue };
        for image in taskdef::images_of(definition.json()) {
            let in_registry = image.starts_with(&format!("{registry}/")) && !image.contains('@');
            if !in_registry || ours.contains(image) || located.contains_key(image) {
                continue;
            }
            match engine.registry_has(image, &ecr.credentials().await?).await {
                Ok(Some(digest)) => {
                    located.insert(image.to_string(), digest);
                }
                Ok(None) => problems.push(format!(
                    "the task definition of {} runs {image}, which is not in the registry and which this run \
                     does not build; push it first, or release the service that builds it too",
                    service.name
                )),
                Err(e) => problems.push(format!("look up {image}: {}", e.message.trim())),
            }
        }
    }
    Ok(located)
}
