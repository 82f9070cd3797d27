//! The push step: this commit's image to the environment's registry, by the
//! engine with the session's ECR token, under the retry rules of `retry`.

use std::time::{Duration, Instant};

use anyhow::Result;
use bollard::auth::DockerCredentials;

use super::handoff::StepOutput;
use super::scheduler::Finished;
use super::{Executor, Outcome};
use crate::backend::{Backend, EngineApi, RegistryApi};
use crate::docker::PushError;
use crate::image_ref::ImageRef;
use crate::project::Service;
use crate::report::show;

pub(crate) mod retry;
use retry::{How, Policy, Pushed, Registry};

/// The pause before the second try of a push; it doubles each time, up to
/// [`LONGEST_BACKOFF`].
const FIRST_BACKOFF: Duration = Duration::from_secs(1);
const LONGEST_BACKOFF: Duration = Duration::from_secs(16);

/// How long a push keeps retrying a registry that fails in passing:
/// `XTASK_PUSH_BUDGET` (a duration), else a minute, enough to ride out a
/// registry restart or a load balancer's blip.
fn push_budget() -> Duration {
    crate::duration::from_env("XTASK_PUSH_BUDGET").unwrap_or(Duration::from_secs(60))
}

/// The registry as a push sees it: the engine pushes and looks up, with the
/// session's ECR token.
struct EngineRegistry<'a, B: Backend> {
    executor: &'a Executor<'a, B>,
    ecr: &'a B::Registry,
    reference: &'a str,
    repository: &'a str,
    tag: &'a str,
    service: &'a str,
}

impl<B: Backend> Registry for EngineRegistry<'_, B> {
    type Token = DockerCredentials;

    async fn token(&self) -> Result<DockerCredentials> {
        self.ecr.credentials().await
    }

    async fn renew(&self, stale: &DockerCredentials) -> Result<()> {
        self.ecr.renew(stale).await.map(drop)
    }

    async fn has(&self, token: &DockerCredentials) -> Result<Option<String>, PushError> {
        self.executor.engine().registry_has(self.reference, token).await
    }

    async fn upload(&self, token: &DockerCredentials) -> Result<String, PushError> {
        let verbose = self.executor.progress.out().verbose();
        let progress = &self.executor.progress;
        let name = self.service;
        self.executor
            .engine()
            .push(self.repository, self.tag, token, |status, transient| {
                if verbose && !transient {
                    show!(progress.out(), "push {name} | {status}");
                }
                progress.update(&format!("push {name}"), status);
            })
            .await
    }
}

impl<B: Backend> Executor<'_, B> {
    pub(super) async fn push(&self, service: &Service, image: &ImageRef) -> Result<Finished<StepOutput>> {
        let (reference, repository) = (image.to_string(), image.repository());
        let dirty = self.workspace.revision.image(&service.name).dirty;
        let registry = EngineRegistry {
            executor: self,
            ecr: self.ecr(),
            reference: &reference,
            repository: &repository,
            tag: image.tag(),
            service: &service.name,
        };
        let policy = Policy {
            budget: push_budget(),
            first_backoff: FIRST_BACKOFF,
            longest_backoff: LONGEST_BACKOFF,
            trust_registry: !dirty,
            skip_present: !self.options.force,
        };
        let started = Instant::now();
        let step = format!("push {}", service.name);
        let pushed = retry::push(&registry, &policy, &reference, |line| {
            show!(self.progress.out(), "{step:<18} {line}")
        })
        .await?;
        let took = started.elapsed().as_secs_f64();
        let (digest, outcome) = match pushed {
            Pushed::Present(digest) => {
                let why = format!("{reference} is in the registry ({digest})");
                (digest, Outcome::Skipped(why))
            }
            Pushed::Done { digest, tries, how } => {
                let what = match how {
                    How::Answered if tries > 1 => format!("({took:.1}s, {tries} tries)"),
                    How::Answered => format!("({took:.1}s)"),
                    How::EarlierTryLanded => {
                        format!("({took:.1}s, {tries} tries; the registry had taken an earlier one)")
                    }
                    How::FoundDespite(said) => {
                        format!("({took:.1}s; the registry has it although the push reported: {said})")
                    }
                };
                let done = Outcome::Done(format!("pushed {repository}@{digest} {what}"));
                (digest, done)
            }
        };
        Ok(Finished { outcome, output: self.in_registry(service, reference, digest) })
    }
}
