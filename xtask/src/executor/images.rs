//! The image steps: a service's prebuild command and its build, skipped
//! when the image of its commit is on the engine or in the registry already.

use std::collections::{BTreeMap, HashMap};
use std::time::Instant;

use anyhow::{bail, Context as _, Result};

use super::handoff::{Inputs, StepOutput};
use super::scheduler::Finished;
use super::{Executor, Outcome};
use crate::backend::{Backend, EngineApi, RegistryApi};
use crate::docker::build::BuildRequest;
use crate::image_ref::ImageRef;
use crate::project::Service;
use crate::report::show;
use crate::taskdef;

impl<B: Backend> Executor<'_, B> {
    /// The service's previous image in the registry, whose inline cache lets
    /// an engine with an empty cache build only the layers that changed: the
    /// image of the commit that changed the service's inputs before this one
    /// (for uncommitted changes, the image of HEAD), with the build arguments
    /// of this build. None when this run has
    /// no registry session or the registry does not have that image.
    async fn cache_source(&self, service: &Service) -> Option<String> {
        let ecr = self.ecr.as_ref()?;
        let inputs = self.workspace.project.image_inputs(service)?;
        let image = self.workspace.revision.image(&service.name);
        let before = if image.dirty { "HEAD".to_string() } else { format!("{}^", image.commit) };
        let commit = self.workspace.git.image_commit_at(&before, inputs)?;
        // The same build arguments as now: usually what the previous image was built with.
        let tag = crate::identity::tag(&commit, image.build_args_digest.as_deref(), false);
        let reference = ImageRef::tagged(self.registry, service, &tag).to_string();
        let credentials = ecr.credentials().await.ok()?;
        match self.engine().registry_has(&reference, &credentials).await {
            Ok(Some(_)) => Some(reference),
            _ => None,
        }
    }

    /// Where the image of the commit it is built from is already, when it
    /// may be reused: on the engine, or (when this run pushes) in the
    /// registry, so a fresh CI machine does not rebuild what was pushed.
    /// Never for uncommitted changes, whose tag does not say what is in it.
    async fn reusable_image(&self, service: &Service, image: &ImageRef) -> Result<Option<&'static str>> {
        if self.options.force || self.workspace.revision.image(&service.name).dirty {
            return Ok(None);
        }
        if self.engine().has_image(&image.to_string()).await? {
            return Ok(Some("exists"));
        }
        // An image others are built FROM must be on the engine for their builds.
        let base_of_others = self.workspace.project.services.iter().any(|s| s.after.contains(&service.name));
        if let (Some(ecr), false) = (&self.ecr, base_of_others) {
            let credentials = ecr.credentials().await?;
            if let Ok(Some(_)) = self.engine().registry_has(&image.to_string(), &credentials).await {
                return Ok(Some("is in the registry"));
            }
        }
        Ok(None)
    }

    /// The prebuild command; hands on where the image is already, so the
    /// build after it does not ask again.
    pub(super) async fn prebuild(
        &self,
        service: &Service,
        command: &[String],
        image: &ImageRef,
    ) -> Result<Finished<StepOutput>> {
        let found = self.reusable_image(service, image).await?;
        let outcome = match found {
            Some(where_) => Outcome::Skipped(format!("{image} {where_}")),
            None => self.run_prebuild(service, command).await?,
        };
        Ok(Finished { outcome, output: StepOutput::Reusable(found) })
    }

    async fn run_prebuild(&self, service: &Service, argv: &[String]) -> Result<Outcome> {
        let command = argv.join(" ");
        let argv = argv.to_vec();
        let dir = self.workspace.project.root.join(&service.dir);
        let started = Instant::now();
        let output = tokio::task::spawn_blocking(move || {
            let sh = xshell::Shell::new()?;
            sh.change_dir(&dir);
            let (program, args) = argv.split_first().expect("prebuild is checked to be non-empty");
            xshell::cmd!(sh, "{program} {args...}").quiet().ignore_status().output()
        })
        .await
        .context("the prebuild thread stopped")?
        .with_context(|| format!("run the prebuild command of {}", service.name))?;
        if !output.status.success() {
            bail!(
                "`{command}` in {} exited with {}:\n{}{}",
                service.dir.display(),
                output.status,
                String::from_utf8_lossy(&output.stdout),
                String::from_utf8_lossy(&output.stderr).trim_end()
            );
        }
        Ok(Outcome::Done(format!("ran `{command}` ({:.1}s)", started.elapsed().as_secs_f64())))
    }

    pub(super) async fn build(
        &self,
        service: &Service,
        image_ref: &ImageRef,
        build_args: &BTreeMap<String, String>,
        inputs: Inputs<'_>,
    ) -> Result<Outcome> {
        let tag = image_ref.to_string();
        let found = match inputs.reusable() {
            Some(found) => found,
            None => self.reusable_image(service, image_ref).await?,
        };
        if let Some(where_) = found {
            return Ok(Outcome::Skipped(format!("{tag} {where_} (--force rebuilds it)")));
        }
        let root = &self.workspace.project.root;
        let context = root.join(&service.context);
        let dockerfile = service.dockerfile.strip_prefix(&service.context).unwrap_or(&service.dockerfile);
        let dockerfile = dockerfile.to_string_lossy();
        let revision = &self.workspace.revision;
        let image = revision.image(&service.name);
        // The commit's time, not the clock's: the same inputs give the same image config.
        let mut labels = HashMap::from([
            (taskdef::REVISION_LABEL.to_string(), image.commit.clone()),
            ("org.opencontainers.image.created".to_string(), crate::clock::rfc3339(image.commit_time)),
        ]);
        if let Some(digest) = &image.build_args_digest {
            labels.insert(crate::identity::BUILD_ARGS_LABEL.to_string(), digest.clone());
        }
        // The paths whose last commit is the tag's commit.
        if let Some(inputs) = self.workspace.project.image_inputs(service) {
            let inputs: Vec<String> = inputs
                .iter()
                .map(|p| if p.as_os_str().is_empty() { ".".to_string() } else { p.display().to_string() })
                .collect();
            labels.insert(crate::identity::INPUTS_LABEL.to_string(), inputs.join(","));
        }
        if let Some(source) = &revision.source {
            labels.insert("org.opencontainers.image.source".to_string(), source.clone());
        }
        let build_args = build_args.clone().into_iter().collect();
        // The registry's token goes with the build, for a `FROM` on a private
        // image there and for the previous image's cache.
        let mut credentials = HashMap::new();
        if let Some(ecr) = &self.ecr {
            credentials.insert(self.registry.to_string(), ecr.credentials().await?);
        }
        let cache_source = self.cache_source(service).await;
        let cache_from = cache_source.iter().cloned().collect();
        let started = Instant::now();
        let verbose = self.progress.out().verbose();
        let name = service.name.as_str();
        let built = self
            .engine()
            .build(
                BuildRequest {
                    context: &context,
                    dockerfile: &dockerfile,
                    tag: &tag,
                    platform: &service.platform,
                    build_args,
                    labels,
                    credentials,
                    cache_from,
                    source_date_epoch: image.commit_time,
                },
                |line| {
                    if verbose {
                        show!(self.progress.out(), "build {name} | {line}");
                    }
                    // "Step 3/5 : COPY . /app" shows as "Step 3/5".
                    self.progress.update(&format!("build {name}"), line.split(" : ").next().unwrap_or(line));
                },
            )
            .await
            .with_context(|| format!("build {tag} from {}", service.dockerfile.display()))?;
        if let Some(reason) = built.fell_back {
            self.progress.line(&format!("note: {reason}"));
        }
        let took = started.elapsed().as_secs_f64();
        Ok(Outcome::Done(match cache_source {
            Some(source) => format!("built {tag} ({took:.1}s, cache from {source})"),
            None => format!("built {tag} ({took:.1}s)"),
        }))
    }
}
