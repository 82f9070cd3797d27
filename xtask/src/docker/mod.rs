//! The Docker Engine, through its API (bollard): build with a streamed
//! context, inspect, and push with credentials passed per request. Nothing
//! here runs `docker login` or writes a credential anywhere.

use anyhow::{anyhow, Context as _, Result};
use bollard::auth::DockerCredentials;
use bollard::query_parameters::PushImageOptionsBuilder;
use bollard::Docker;
use futures_util::StreamExt;

pub(crate) mod build;
pub(crate) mod containers;
pub(crate) mod host;

pub(crate) struct Engine {
    docker: Docker,
    /// Where the engine is, for messages.
    pub(crate) host: host::EngineHost,
    /// Set once the engine has refused a BuildKit session (or XTASK_BUILDER
    /// asks for it): builds go to the classic builder.
    classic_only: std::sync::atomic::AtomicBool,
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

/// How long one engine request may take before bollard gives up on it. A
/// build's answer streams for as long as the build runs, so this is long;
/// registry calls through the engine have their own, shorter bounds.
const ENGINE_REQUEST_SECONDS: u64 = 3 * 3600;

impl Engine {
    /// Connects as the docker CLI would (`DOCKER_HOST`, the current docker
    /// context, else the local socket) and agrees on an API version.
    pub(crate) async fn connect() -> Result<Engine> {
        let host = host::from_environment()?;
        let unreachable = |e: &dyn std::fmt::Display| {
            let remedy = if host.url.starts_with("unix://") {
                "start it (for example `sudo systemctl start docker`) or point DOCKER_HOST at it"
            } else {
                "check that it runs there and that this machine may reach it, or unset DOCKER_HOST and run \
                 `docker context use default` for the local engine"
            };
            anyhow!("cannot reach the Docker Engine at {host}: {e}; {remedy}")
        };
        let docker = connect_to(&host).map_err(|e| unreachable(&e))?;
        // Requests may stream for hours (a build), so the client's own limit
        // is long; an engine that does not even answer a ping is found here.
        let limit = crate::aws::call_timeout();
        let answered = tokio::time::timeout(limit, async {
            let docker = docker.negotiate_version().await.map_err(|e| unreachable(&e))?;
            docker.ping().await.map_err(|e| unreachable(&e))?;
            anyhow::Ok(docker)
        })
        .await;
        let docker = match answered {
            Ok(docker) => docker?,
            Err(_) => {
                return Err(unreachable(&format!("no answer within {}", crate::duration::human(limit))))
            }
        };
        let classic_only = std::env::var("XTASK_BUILDER").is_ok_and(|v| v == "classic");
        Ok(Engine { docker, host, classic_only: classic_only.into() })
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
                message: format!("no answer from the registry within {}", crate::duration::human(limit)),
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
                    message: format!("the push made no progress for {}", crate::duration::human(silence)),
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

/// A client for the engine at `host`; TLS with the CLI's certificate files.
fn connect_to(host: &host::EngineHost) -> Result<Docker, bollard::errors::Error> {
    let version = bollard::API_DEFAULT_VERSION;
    let docker = match (&host.tls, host.url.as_str()) {
        (Some(tls), url) if !url.starts_with("ssh://") && !url.starts_with("unix://") => {
            let dir = &tls.certificates;
            Docker::connect_with_ssl(
                url,
                &dir.join("key.pem"),
                &dir.join("cert.pem"),
                &dir.join("ca.pem"),
                ENGINE_REQUEST_SECONDS,
                version,
            )?
        }
        (_, url) if url.starts_with("unix://") => {
            Docker::connect_with_unix(url, ENGINE_REQUEST_SECONDS, version)?
        }
        (_, url) if url.starts_with("ssh://") => {
            Docker::connect_with_ssh(url, ENGINE_REQUEST_SECONDS, version, None)?
        }
        (_, url) => Docker::connect_with_http(url, ENGINE_REQUEST_SECONDS, version)?,
    };
    Ok(docker)
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
