//! `cargo xtask status`: what each service of an environment runs.

use anyhow::{bail, Result};
use serde::Serialize;

use crate::docker::Engine;
use crate::ecr::Ecr;
use crate::ecs::{self, Ecs};
use crate::image_ref::ImageRef;
use crate::project::Service;
use crate::render::registry_host;
use crate::report::{show, Reporter};
use crate::taskdef::{self, short_name};
use crate::tasks::{plural, runtime, Workspace};

/// `status --json`: the environment and each service, in the order asked.
#[derive(Serialize)]
struct Report<'a> {
    env: &'a str,
    cluster: &'a str,
    region: &'a str,
    services: Vec<Shown>,
}

/// One service as `status` shows it.
#[derive(Serialize)]
struct Shown {
    name: String,
    #[serde(flatten)]
    state: State,
}

#[derive(Serialize)]
#[serde(tag = "kind", rename_all = "lowercase")]
enum State {
    /// An ECS service: what it runs and its recorded releases.
    Deployed(Box<Deployed>),
    /// Built only (others are built FROM it): whether this commit's image is in the registry.
    Built { image: String, digest: Option<String>, build_args_digest: Option<String> },
    /// Could not be read; the reason.
    Unreadable { error: String },
}

#[derive(Serialize)]
struct Deployed {
    ecs_service: String,
    /// Set when the service is in a cluster other than the environment's.
    cluster: Option<String>,
    /// `family:revision`.
    revision: String,
    task_definition_arn: String,
    /// The commit its images were built from (12 characters), when its labels say.
    commit: Option<String>,
    images: Vec<String>,
    /// The image a release of this commit would run.
    this_commit_image: String,
    build_args_digest: Option<String>,
    /// The primary deployment's rollout state (`COMPLETED`, `IN_PROGRESS`, `FAILED`).
    rollout: Option<String>,
    running: i32,
    desired: i32,
    last_good: Option<Release>,
    previous_good: Option<Release>,
}

#[derive(Serialize)]
struct Release {
    revision: String,
    commit: String,
}

pub(crate) fn run(flags: crate::flags::Status, out: &Reporter) -> Result<()> {
    let workspace = Workspace::load(&flags.env)?;
    let services = workspace.project.select(&flags.services.names)?;
    let environment = &workspace.environment;
    if !flags.json {
        show!(
            out,
            "env {}, cluster {}, region {}",
            environment.name,
            environment.cluster,
            environment.region
        );
    }
    let shown = runtime()?.block_on(async {
        let session = Ecs::connect(&environment.region, &environment.cluster).await;
        let mut shown = Vec::new();
        for service in &services {
            let state = match service.task_definition_template {
                Some(_) => deployed(&workspace, &session.in_cluster(service.cluster(environment)), service)
                    .await
                    .map(|d| State::Deployed(Box::new(d))),
                None => built(&workspace, service).await,
            };
            let state = state.unwrap_or_else(|e| State::Unreadable { error: format!("{e:#}") });
            let service = Shown { name: service.name.clone(), state };
            if !flags.json {
                out.text(text(&service));
            }
            shown.push(service);
        }
        shown
    });
    let unreadable: Vec<String> = shown
        .iter()
        .filter(|s| matches!(s.state, State::Unreadable { .. }))
        .map(|s| s.name.clone())
        .collect();
    if flags.json {
        let (env, cluster, region) = (&environment.name, &environment.cluster, &environment.region);
        crate::json::print(out, "status", &Report { env, cluster, region, services: shown });
    }
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
async fn deployed(workspace: &Workspace, ecs: &Ecs, service: &Service) -> Result<Deployed> {
    let state = ecs.service(&service.ecs_service).await?;
    let definition = ecs.task_definition(&state.task_definition).await?;
    let (images, commit) = match &definition {
        Some(json) => (
            taskdef::images_of(json).into_iter().map(str::to_string).collect(),
            taskdef::commit_of(json).map(|c| c.chars().take(12).collect()),
        ),
        None => (Vec::new(), None),
    };
    let rollout = state.primary().map(|p| p.rollout_state.clone().unwrap_or_else(|| p.status.clone()));
    let tags = ecs.tags(&state.arn).await?;
    let release = |revision_tag: &str, commit_tag: &str| {
        tags.get(revision_tag).map(|arn| Release {
            revision: short_name(arn).to_string(),
            commit: tags.get(commit_tag).map_or("", String::as_str).chars().take(12).collect(),
        })
    };
    Ok(Deployed {
        ecs_service: service.ecs_service.clone(),
        cluster: service.cluster.clone(),
        revision: short_name(&state.task_definition).to_string(),
        task_definition_arn: state.task_definition.clone(),
        commit,
        images,
        // What a release of this commit would run, and why it is tagged so.
        this_commit_image: ImageRef::of(&registry_host(&workspace.environment), service, &workspace.revision)
            .to_string(),
        build_args_digest: workspace.revision.image(&service.name).build_args_digest.clone(),
        rollout,
        running: state.running,
        desired: state.desired,
        last_good: release(ecs::LAST_GOOD_TAG, ecs::LAST_GOOD_COMMIT_TAG),
        previous_good: release(ecs::PREVIOUS_GOOD_TAG, ecs::PREVIOUS_GOOD_COMMIT_TAG),
    })
}

/// A service that is only built (others are built FROM it): whether this
/// commit's image is in the registry.
async fn built(workspace: &Workspace, service: &Service) -> Result<State> {
    let registry = registry_host(&workspace.environment);
    let image = ImageRef::of(&registry, service, &workspace.revision).to_string();
    let engine = Engine::connect().await?;
    let credentials = Ecr::connect(&workspace.environment.region, &registry).await.credentials().await?;
    let digest = match engine.registry_has(&image, &credentials).await {
        Ok(digest) => digest,
        Err(e) => bail!("look up {image}: {}", e.message.trim()),
    };
    let build_args_digest = workspace.revision.image(&service.name).build_args_digest.clone();
    Ok(State::Built { image, digest, build_args_digest })
}

/// The lines a service gets in plain output.
fn text(service: &Shown) -> String {
    let name = &service.name;
    let digest_note = |digest: &Option<String>| match digest {
        Some(digest) => format!(" (build arguments' digest {digest})"),
        None => String::new(),
    };
    match &service.state {
        State::Unreadable { error } => format!("{name}: {error}\n"),
        State::Built { image, digest, build_args_digest } => {
            let found = match digest {
                Some(digest) => format!("in the registry ({digest})"),
                None => "not in the registry yet".to_string(),
            };
            format!(
                "{name} (built, not deployed: no task definition template)\n  image     {image}, {found}{}\n",
                digest_note(build_args_digest)
            )
        }
        State::Deployed(d) => {
            let mut out = match &d.cluster {
                Some(cluster) => format!("{name} (ECS service {}, cluster {cluster})\n", d.ecs_service),
                None => format!("{name} (ECS service {})\n", d.ecs_service),
            };
            let images = if d.images.is_empty() { "unknown".to_string() } else { d.images.join(", ") };
            out += &format!("  revision  {}\n", d.revision);
            out += &format!("  commit    {}\n", d.commit.as_deref().unwrap_or("unknown"));
            out += &format!("  image     {images}\n");
            out += &format!(
                "  this commit's image {}{}\n",
                d.this_commit_image,
                digest_note(&d.build_args_digest)
            );
            out += &format!(
                "  rollout   {}, {}/{} tasks running\n",
                d.rollout.as_deref().unwrap_or("no deployment"),
                d.running,
                d.desired
            );
            let record = |r: &Release| format!("{} ({})", r.revision, r.commit);
            match (&d.last_good, &d.previous_good) {
                (Some(last), Some(previous)) => {
                    out += &format!("  last good {}, before it {}\n", record(last), record(previous))
                }
                (Some(last), None) => out += &format!("  last good {}\n", record(last)),
                (None, _) => out += "  last good none recorded yet\n",
            }
            out
        }
    }
}
