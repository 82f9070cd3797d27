//! `cargo xtask up` and `down`: the stack on a laptop, from the images of the
//! current commit, waited for until every health check passes.

use std::time::{Duration, Instant};

use anyhow::{bail, Result};

use crate::compose::{Compose, OVERRIDE_FILE};
use crate::docker::containers::Container;
use crate::docker::Engine;
use crate::flags::{Down, DryRun, RunFlags, Up};
use crate::image_ref::ImageRef;
use crate::render::registry_host;
use crate::report::{say, show, Reporter};
use crate::tasks::{dev_env, plural, runtime, Workspace};

/// How many of a failed container's last log lines are shown.
const LOG_LINES: usize = 20;

pub(crate) fn up(flags: Up, out: &Reporter) -> Result<()> {
    let workspace = Workspace::load(&flags.env)?;
    let compose = Compose::find(&workspace.project.root)?;
    // Compose reads the env files the stack names, so they come first.
    dev_env::write(&workspace, false, out)?;
    // The stack's own services are built here; any other (a database from a
    // public image, say) is left to compose.
    let stack: Vec<String> =
        compose.services()?.into_iter().filter(|s| workspace.project.service(s).is_some()).collect();
    if stack.is_empty() {
        bail!(
            "no service of docker-compose.yml is a service of this project (a folder under services/): name \
             compose's services after them"
        );
    }
    let run = RunFlags { jobs: 4, force: false };
    workspace.images(&stack, &run, false, &DryRun { dry_run: false, json: false }, out)?;
    let registry = registry_host(&workspace.environment);
    let images: Vec<(String, String, String)> = stack
        .iter()
        .filter_map(|name| workspace.project.service(name))
        .map(|service| {
            let image = ImageRef::of(&registry, service, &workspace.revision).to_string();
            let commit = workspace.revision.image(&service.name).commit.chars().take(12).collect();
            (service.name.clone(), image, commit)
        })
        .collect();
    compose.write_images(&images)?;
    say!(out, "wrote     {OVERRIDE_FILE} ({} image{})", images.len(), plural(images.len()));
    compose.up()?;
    let containers = compose.containers()?;
    let ready = runtime()?.block_on(wait_until_healthy(&containers, flags.timeout))?;
    for container in &ready {
        let health = container.health.as_deref().unwrap_or("running, no health check");
        let urls: Vec<String> =
            container.ports.iter().map(|(outside, _)| format!("http://127.0.0.1:{outside}")).collect();
        show!(out, "{:<10} {health:<10} {}", container.service, urls.join(" "));
    }
    say!(out, "up: {} container{} ready; `cargo xtask down` stops them", ready.len(), plural(ready.len()));
    Ok(())
}

pub(crate) fn down(_flags: Down, out: &Reporter) -> Result<()> {
    let root = crate::project::Project::discover()?.root;
    let compose = Compose::find(&root)?;
    compose.down()?;
    say!(out, "down: the stack is stopped");
    Ok(())
}

/// Follows the containers until every one runs and passes its health check;
/// fails with the last log lines of each that exits or turns unhealthy, or
/// that is not ready within `timeout`.
async fn wait_until_healthy(ids: &[String], timeout: Duration) -> Result<Vec<Container>> {
    let engine = Engine::connect().await?;
    let started = Instant::now();
    loop {
        let mut containers = Vec::new();
        for id in ids {
            containers.push((id, engine.container(id).await?));
        }
        let failed: Vec<&(&String, Container)> = containers.iter().filter(|(_, c)| has_failed(c)).collect();
        let waiting: Vec<&(&String, Container)> =
            containers.iter().filter(|(_, c)| !has_failed(c) && !is_ready(c)).collect();
        let late = started.elapsed() >= timeout;
        if failed.is_empty() && waiting.is_empty() {
            return Ok(containers.into_iter().map(|(_, c)| c).collect());
        }
        if !failed.is_empty() || late {
            let mut message = String::new();
            for (id, container) in failed.iter().chain(if late { waiting.iter() } else { [].iter() }) {
                let how = match (container.state.as_str(), container.health.as_deref()) {
                    ("exited" | "dead", _) => format!("exited with code {}", container.exit_code),
                    (_, Some("unhealthy")) => "failed its health check".to_string(),
                    (state, health) => {
                        format!(
                            "is not ready after {} ({state}, {})",
                            crate::duration::human(timeout),
                            health.unwrap_or("no health check")
                        )
                    }
                };
                message += &format!("\n{} {how}; its last log lines:", container.service);
                let lines = engine.last_log_lines(id, LOG_LINES).await?;
                if lines.is_empty() {
                    message += "\n  (none)";
                }
                for line in lines {
                    message += &format!("\n  {line}");
                }
            }
            bail!("the stack did not come up:{message}\n`cargo xtask down` stops what did start");
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

fn has_failed(container: &Container) -> bool {
    matches!(container.state.as_str(), "exited" | "dead") || container.health.as_deref() == Some("unhealthy")
}

fn is_ready(container: &Container) -> bool {
    container.state == "running" && matches!(container.health.as_deref(), None | Some("healthy"))
}
