//! The Docker Engine, through its API (bollard): build with a streamed
//! context, inspect, and push with credentials passed per request. Nothing
//! here runs `docker login` or writes a credential anywhere.

use std::collections::HashMap;
use std::path::Path;

use anyhow::{anyhow, bail, Context as _, Result};
use bollard::auth::DockerCredentials;
use bollard::query_parameters::{BuildImageOptionsBuilder, PushImageOptionsBuilder};
use bollard::Docker;
use futures_util::StreamExt;

use crate::context;

pub(crate) struct Engine {
    docker: Docker,
}

/// What went wrong talking to a registry, as far as a retry is concerned.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum RegistryFailure {
    /// The registry says the token expired: get a new one and try again.
    TokenExpired,
    /// A 5xx, a reset or cut connection: worth another try after a pause.
    Transient,
    /// Anything else: retrying will not help.
    Permanent,
}

pub(crate) struct PushError {
    pub(crate) kind: RegistryFailure,
    pub(crate) message: String,
}

pub(crate) struct BuildRequest<'a> {
    pub(crate) context: &'a Path,
    /// Relative to the context.
    pub(crate) dockerfile: &'a str,
    pub(crate) tag: &'a str,
    pub(crate) platform: &'a str,
    pub(crate) build_args: HashMap<String, String>,
    pub(crate) labels: HashMap<String, String>,
}

impl Engine {
    /// Connects as the docker CLI would (`DOCKER_HOST`, else the local
    /// socket) and agrees on an API version the engine speaks.
    pub(crate) async fn connect() -> Result<Engine> {
        let host = std::env::var("DOCKER_HOST").unwrap_or_else(|_| "unix:///var/run/docker.sock".to_string());
        let unreachable = |e: &dyn std::fmt::Display| {
            anyhow!(
                "cannot reach the Docker Engine at {host}: {e}; start it (for example `sudo systemctl start docker`) \
                 or point DOCKER_HOST at it"
            )
        };
        let docker = Docker::connect_with_local_defaults().map_err(|e| unreachable(&e))?;
        let docker = docker.negotiate_version().await.map_err(|e| unreachable(&e))?;
        docker.ping().await.map_err(|e| unreachable(&e))?;
        Ok(Engine { docker })
    }

    /// The engine's version and the API version agreed on, for `doctor`.
    pub(crate) async fn version(&self) -> Result<(String, String)> {
        let version = self.docker.version().await.context("ask the Docker Engine for its version")?;
        Ok((version.version.unwrap_or_default(), self.docker.client_version().to_string()))
    }

    pub(crate) async fn has_image(&self, reference: &str) -> Result<bool> {
        match self.docker.inspect_image(reference).await {
            Ok(_) => Ok(true),
            Err(bollard::errors::Error::DockerResponseServerError { status_code: 404, .. }) => Ok(false),
            Err(e) => Err(e).with_context(|| format!("inspect image {reference}")),
        }
    }

    /// Builds an image; returns the build log. On failure the error carries
    /// the whole log, so the user sees why without running anything again.
    pub(crate) async fn build(
        &self,
        request: BuildRequest<'_>,
        mut progress: impl FnMut(&str),
    ) -> Result<String> {
        let files = context::files(request.context, request.dockerfile)?;
        let (chunks, writer) = context::stream(request.context.to_path_buf(), files);
        let body = futures_util::stream::unfold(chunks, |mut chunks| async move {
            chunks.recv().await.map(|chunk| (chunk, chunks))
        });
        let options = BuildImageOptionsBuilder::default()
            .dockerfile(request.dockerfile)
            .t(request.tag)
            .platform(request.platform)
            .buildargs(&request.build_args)
            .labels(&request.labels)
            .rm(true)
            .forcerm(true)
            .build();
        let mut stream = self.docker.build_image(options, None, Some(bollard::body_try_stream(body)));
        let mut log = String::new();
        let mut failure = None;
        while let Some(item) = stream.next().await {
            match item {
                Ok(info) => {
                    if let Some(text) = info.stream.as_deref().or(info.status.as_deref()) {
                        log.push_str(text);
                        for line in text.lines().filter(|l| l.starts_with("Step ")) {
                            progress(line);
                        }
                    }
                    if let Some(detail) = info.error_detail.and_then(|d| d.message) {
                        failure = Some(detail);
                    }
                }
                Err(e) => {
                    failure = Some(engine_message(e));
                    break;
                }
            }
        }
        let written = writer.await.context("the build-context writer stopped")?;
        if let Some(failure) = failure {
            // A context that could not be read is the cause, not the engine's complaint about it.
            written?;
            bail!("{}\n--- build log ---\n{}", failure.trim(), log.trim_end());
        }
        written?;
        Ok(log)
    }

    /// Whether the registry has the reference: asked through the engine, so
    /// the credentials go with the one request.
    pub(crate) async fn registry_has(
        &self,
        reference: &str,
        credentials: &DockerCredentials,
    ) -> Result<Option<String>, PushError> {
        // Bounded like an AWS call: a registry that never answers is a failure in passing.
        let limit = crate::aws::call_timeout();
        let Ok(answer) = tokio::time::timeout(
            limit,
            self.docker.inspect_registry_image(reference, Some(credentials.clone())),
        )
        .await
        else {
            return Err(PushError {
                kind: RegistryFailure::Transient,
                message: format!("no answer from the registry within {}", crate::deploy::human(limit)),
            });
        };
        match answer {
            Ok(found) => Ok(Some(found.descriptor.digest.unwrap_or_default())),
            Err(e) => {
                let message = engine_message(e);
                let kind = classify(&message);
                // The engine reports a missing manifest or repository in several
                // ways, depending on the registry; none of them is a failure here.
                let lower = message.to_ascii_lowercase();
                if kind == RegistryFailure::Permanent
                    && (lower.contains("manifest unknown")
                        || lower.contains("not found")
                        || lower.contains("name unknown")
                        || lower.contains("no such"))
                {
                    return Ok(None);
                }
                Err(PushError { kind, message })
            }
        }
    }

    /// Pushes `repository:tag` and returns the digest the registry stored.
    /// `progress` gets each status, and whether it is only a transient byte count.
    pub(crate) async fn push(
        &self,
        repository: &str,
        tag: &str,
        credentials: &DockerCredentials,
        mut progress: impl FnMut(&str, bool),
    ) -> Result<String, PushError> {
        let options = PushImageOptionsBuilder::default().tag(tag).build();
        let mut stream = self.docker.push_image(repository, Some(options), Some(credentials.clone()));
        let mut digest = None;
        // A push may take long, but never long without a word: the engine
        // reports progress at least every layer, so silence means a stall.
        let silence = crate::aws::call_timeout() * 3;
        loop {
            let Ok(next) = tokio::time::timeout(silence, stream.next()).await else {
                return Err(PushError {
                    kind: RegistryFailure::Transient,
                    message: format!("the push made no progress for {}", crate::deploy::human(silence)),
                });
            };
            let Some(item) = next else { break };
            match item {
                Ok(info) => {
                    if let Some(detail) = info.error_detail.and_then(|d| d.message) {
                        return Err(PushError { kind: classify(&detail), message: detail });
                    }
                    if let Some(status) = info.status.as_deref() {
                        // The last message reads "<tag>: digest: sha256:... size: N".
                        if let Some(rest) = status.split("digest: ").nth(1) {
                            digest = rest.split_whitespace().next().map(str::to_string);
                        } else {
                            let bytes = info.progress_detail.and_then(|d| Some((d.current?, d.total?)));
                            match bytes {
                                Some((current, total)) => progress(
                                    &format!(
                                        "{status} {:.1}/{:.1} MB",
                                        current as f64 / 1e6,
                                        total as f64 / 1e6
                                    ),
                                    true,
                                ),
                                None => progress(status, false),
                            }
                        }
                    }
                }
                Err(e) => {
                    let message = engine_message(e);
                    return Err(PushError { kind: classify(&message), message });
                }
            }
        }
        digest.ok_or_else(|| PushError {
            kind: RegistryFailure::Transient,
            message: "the engine finished the push without reporting a digest".to_string(),
        })
    }
}

/// The engine's own words, without bollard's wrapping.
fn engine_message(error: bollard::errors::Error) -> String {
    match error {
        bollard::errors::Error::DockerStreamError { error } => error,
        other => other.to_string(),
    }
}

/// Sorts a registry error by what a retry can do about it.
pub(crate) fn classify(message: &str) -> RegistryFailure {
    let lower = message.to_ascii_lowercase();
    if lower.contains("token has expired") || lower.contains("token expired") {
        RegistryFailure::TokenExpired
    } else if [
        "500 internal server error",
        "502 bad gateway",
        "503 service unavailable",
        "504 gateway",
        "status: 50",
        "status code 50",
        "connection reset",
        "broken pipe",
        "unexpected eof",
        "eof",
        // A stream cut in the middle of a layer or a manifest.
        "bytes remaining on stream",
        "connection closed",
        "connection refused",
        "timeout",
        "timed out",
    ]
    .iter()
    .any(|needle| lower.contains(needle))
    {
        RegistryFailure::Transient
    } else {
        RegistryFailure::Permanent
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn registry_errors_are_sorted_by_what_a_retry_can_do() {
        assert_eq!(
            classify("denied: Your authorization token has expired. Reauthenticate and try again."),
            RegistryFailure::TokenExpired
        );
        assert_eq!(
            classify("received unexpected HTTP status: 503 Service Unavailable"),
            RegistryFailure::Transient
        );
        assert_eq!(
            classify("Put \"http://r/v2/x\": read: connection reset by peer"),
            RegistryFailure::Transient
        );
        assert_eq!(
            classify("denied: requested access to the resource is denied"),
            RegistryFailure::Permanent
        );
    }
}
