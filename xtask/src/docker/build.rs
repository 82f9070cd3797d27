//! Image builds: BuildKit through the engine's API (a session carries the
//! registry credentials), the classic builder only for an engine that has
//! no BuildKit. The context is streamed as a tar either way.

use std::collections::HashMap;
use std::path::Path;
use std::sync::atomic::Ordering;

use anyhow::{bail, Result};
use bollard::auth::DockerCredentials;
use bollard::models::BuildInfoAux;
use bollard::query_parameters::{BuildImageOptionsBuilder, BuilderVersion};
use futures_util::StreamExt;

use super::{engine_message, Engine};
use crate::context::{self, Builder};

/// How many lines of the failing step's output an error shows.
const FAILURE_LINES: usize = 20;

pub(crate) struct BuildRequest<'a> {
    pub(crate) context: &'a Path,
    /// Relative to the context.
    pub(crate) dockerfile: &'a str,
    pub(crate) tag: &'a str,
    pub(crate) platform: &'a str,
    pub(crate) build_args: HashMap<String, String>,
    pub(crate) labels: HashMap<String, String>,
    /// Registry host to credentials, for `FROM` images and cache sources in
    /// private registries. Sent per build, never stored.
    pub(crate) credentials: HashMap<String, DockerCredentials>,
    /// Images in a registry whose inline cache the build may reuse.
    pub(crate) cache_from: Vec<String>,
    /// The commit's time (seconds since 1970), as SOURCE_DATE_EPOCH: BuildKit
    /// 0.11 and later date the image by it, so a rebuild gives the same image.
    pub(crate) source_date_epoch: i64,
}

/// What a finished build says about itself.
pub(crate) struct Built {
    /// Set when this build found that the engine has no BuildKit and used
    /// the classic builder: the reason, to be said once.
    pub(crate) fell_back: Option<String>,
}

enum Failure {
    /// The engine cannot run BuildKit sessions; the classic builder can still build.
    NoBuildKit(String),
    Failed(anyhow::Error),
}

impl Engine {
    /// Builds an image; `progress` gets each step as it starts. On failure
    /// the error names the failing step and its last lines of output, and
    /// no tag is left behind (both builders tag only a finished image).
    pub(crate) async fn build(
        &self,
        request: BuildRequest<'_>,
        mut progress: impl FnMut(&str),
    ) -> Result<Built> {
        let mut fell_back = None;
        if !self.classic_only.load(Ordering::Relaxed) {
            let selection = context::select(request.context, request.dockerfile, Builder::BuildKit)?;
            match self.build_with(true, &request, selection, &mut progress).await {
                Ok(()) => return Ok(Built { fell_back }),
                Err(Failure::Failed(e)) => return Err(e),
                Err(Failure::NoBuildKit(reason)) => {
                    // Builds running side by side may all find it out; one says so.
                    let first = !self.classic_only.swap(true, Ordering::Relaxed);
                    fell_back = first.then_some(reason);
                }
            }
        }
        let selection = context::select(request.context, request.dockerfile, Builder::Classic)?;
        match self.build_with(false, &request, selection, &mut progress).await {
            Ok(()) => Ok(Built { fell_back }),
            Err(Failure::Failed(e)) => Err(e),
            Err(Failure::NoBuildKit(reason)) => bail!("{reason}"),
        }
    }

    async fn build_with(
        &self,
        buildkit: bool,
        request: &BuildRequest<'_>,
        selection: context::Selection,
        progress: &mut impl FnMut(&str),
    ) -> Result<(), Failure> {
        let (chunks, writer) = context::stream(request.context.to_path_buf(), selection);
        let body = futures_util::stream::unfold(chunks, |mut chunks| async move {
            chunks.recv().await.map(|chunk| (chunk, chunks))
        });
        let mut build_args = request.build_args.clone();
        let mut options = BuildImageOptionsBuilder::default()
            .dockerfile(request.dockerfile)
            .t(request.tag)
            .platform(request.platform)
            .labels(&request.labels)
            .rm(true)
            .forcerm(true);
        if buildkit {
            // The pushed image carries its own cache metadata, so the next
            // build on an empty engine can reuse its unchanged layers.
            build_args.insert("BUILDKIT_INLINE_CACHE".to_string(), "1".to_string());
            build_args.insert("SOURCE_DATE_EPOCH".to_string(), request.source_date_epoch.to_string());
            options = options
                .version(BuilderVersion::BuilderBuildKit)
                .session(&session_id())
                .cachefrom(&request.cache_from);
        }
        let options = options.buildargs(&build_args).build();
        let credentials = Some(request.credentials.clone()).filter(|c| !c.is_empty());
        let mut stream = self.docker.build_image(options, credentials, Some(bollard::body_try_stream(body)));
        let mut log = Log::default();
        let mut failure = None;
        while let Some(item) = stream.next().await {
            match item {
                Ok(info) => {
                    if let Some(BuildInfoAux::BuildKit(status)) = info.aux {
                        log.buildkit(status, progress);
                    }
                    if let Some(text) = info.stream.as_deref() {
                        log.classic(text, progress);
                    }
                    if let Some(detail) = info.error_detail.and_then(|d| d.message) {
                        failure = Some(detail);
                    }
                }
                Err(e) => {
                    let unsupported = buildkit.then(|| no_buildkit(&e)).flatten();
                    if let Some(reason) = unsupported {
                        writer.abort();
                        return Err(Failure::NoBuildKit(reason));
                    }
                    failure = Some(engine_message(e));
                    break;
                }
            }
        }
        let written = match writer.await {
            Ok(written) => written,
            Err(e) => return Err(Failure::Failed(anyhow::anyhow!("the build-context writer stopped: {e}"))),
        };
        if let Some(failure) = failure {
            // A context that could not be read is the cause, not the engine's complaint about it.
            written.map_err(Failure::Failed)?;
            return Err(Failure::Failed(anyhow::anyhow!("{}", log.explain(failure.trim()))));
        }
        written.map_err(Failure::Failed)?;
        Ok(())
    }
}

/// A BuildKit session id: unique per build, as the CLI makes them.
fn session_id() -> String {
    use std::hash::{BuildHasher, Hasher};
    let random = std::collections::hash_map::RandomState::new().build_hasher().finish();
    format!("xtask-{}-{random:016x}", std::process::id())
}

/// Whether an error means the engine has no BuildKit (rather than that the
/// build failed), and why. Engines without it answer the session upgrade or
/// a `version=2` build with a client error naming BuildKit or the session.
fn no_buildkit(error: &bollard::errors::Error) -> Option<String> {
    let (status, message) = match error {
        bollard::errors::Error::DockerResponseServerError { status_code, message } => {
            (*status_code, message.as_str())
        }
        bollard::errors::Error::MissingSessionBuildkitError {} => (400, "no BuildKit session"),
        _ => return None,
    };
    let lower = message.to_ascii_lowercase();
    let names_it =
        lower.contains("buildkit") || lower.contains("session") || lower.contains("builder version");
    ((400..500).contains(&status) && names_it).then(|| {
        format!("the Docker Engine has no BuildKit ({}); the classic builder is used", message.trim())
    })
}

/// The build's output, kept in the order it came, and per BuildKit step so
/// that a failure can show the failing step's own lines.
#[derive(Default)]
struct Log {
    text: String,
    /// BuildKit steps by digest: their number, name and output lines.
    steps: HashMap<String, Step>,
    failed: Option<String>,
}

struct Step {
    number: usize,
    name: String,
    started: bool,
    lines: Vec<String>,
}

impl Log {
    fn buildkit(
        &mut self,
        status: bollard::moby::buildkit::v1::StatusResponse,
        progress: &mut impl FnMut(&str),
    ) {
        for vertex in status.vertexes {
            let next = self.steps.len() + 1;
            let step = self.steps.entry(vertex.digest.clone()).or_insert_with(|| Step {
                number: next,
                name: vertex.name.clone(),
                started: false,
                lines: Vec::new(),
            });
            if vertex.started.is_some() && !step.started {
                step.started = true;
                self.text.push_str(&format!("#{} {}\n", step.number, step.name));
                // Internal steps ("[internal] load .dockerignore") are not the user's.
                if !step.name.starts_with("[internal]") {
                    progress(&step.name);
                }
            }
            if vertex.cached && vertex.completed.is_some() {
                self.text.push_str(&format!("#{} CACHED\n", step.number));
            }
            if !vertex.error.is_empty() {
                self.text.push_str(&format!("#{} ERROR: {}\n", step.number, vertex.error));
                self.failed.get_or_insert(vertex.digest.clone());
            }
        }
        for entry in status.logs {
            let Some(step) = self.steps.get_mut(&entry.vertex) else { continue };
            for line in String::from_utf8_lossy(&entry.msg).lines() {
                self.text.push_str(&format!("#{} {line}\n", step.number));
                step.lines.push(line.to_string());
            }
        }
    }

    fn classic(&mut self, text: &str, progress: &mut impl FnMut(&str)) {
        self.text.push_str(text);
        for line in text.lines().filter(|l| l.starts_with("Step ")) {
            progress(line);
        }
    }

    /// The failure with the failing step and its last lines, or the last
    /// lines of the whole log when no step is known to have failed.
    fn explain(&self, failure: &str) -> String {
        let failed = self.failed.as_ref().and_then(|digest| self.steps.get(digest));
        let (heading, lines): (String, Vec<&str>) = match failed {
            Some(step) => {
                (format!("the failing step: {}", step.name), step.lines.iter().map(String::as_str).collect())
            }
            None => ("build log".to_string(), self.text.lines().collect()),
        };
        let tail = &lines[lines.len().saturating_sub(FAILURE_LINES)..];
        if tail.is_empty() {
            return format!("{failure}\n--- {heading} ---");
        }
        format!("{failure}\n--- {heading} ---\n{}", tail.join("\n"))
    }
}

/// The registry host of an image reference, when it names one (`host:port/`
/// or a host with a dot, as Docker decides).
pub(crate) fn registry_of(image: &str) -> Option<&str> {
    let (first, _) = image.split_once('/')?;
    (first.contains('.') || first.contains(':') || first == "localhost").then_some(first)
}

/// The images a Dockerfile's `FROM` lines name, build stages left out.
pub(crate) fn base_images(dockerfile: &str) -> Vec<String> {
    let mut stages = Vec::new();
    let mut images = Vec::new();
    for line in dockerfile.lines() {
        let words: Vec<&str> = line.split_whitespace().collect();
        if !words.first().is_some_and(|w| w.eq_ignore_ascii_case("FROM")) {
            continue;
        }
        let mut rest = words[1..].iter().filter(|w| !w.starts_with("--"));
        let Some(image) = rest.next() else { continue };
        if !stages.iter().any(|s: &String| s.eq_ignore_ascii_case(image)) && *image != "scratch" {
            images.push(image.to_string());
        }
        if let (Some(as_), Some(name)) = (rest.next(), rest.next()) {
            if as_.eq_ignore_ascii_case("AS") {
                stages.push(name.to_string());
            }
        }
    }
    images
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base_images_leave_out_stages_and_scratch() {
        let dockerfile = "FROM --platform=$BUILDPLATFORM 123.dkr.ecr.eu-west-1.amazonaws.com/base:1 AS build\n\
                          from build as test\nFROM scratch\nCOPY --from=build /x /x\nFROM localhost:5000/run:2\n";
        assert_eq!(
            base_images(dockerfile),
            ["123.dkr.ecr.eu-west-1.amazonaws.com/base:1", "localhost:5000/run:2"]
        );
        assert_eq!(
            registry_of("123.dkr.ecr.eu-west-1.amazonaws.com/base:1"),
            Some("123.dkr.ecr.eu-west-1.amazonaws.com")
        );
        assert_eq!(registry_of("127.0.0.1:5000/base"), Some("127.0.0.1:5000"));
        assert_eq!(registry_of("library/python:3"), None);
        assert_eq!(registry_of("python:3"), None);
    }

    #[test]
    fn only_client_errors_naming_buildkit_mean_there_is_none() {
        let answer = |status_code, message: &str| bollard::errors::Error::DockerResponseServerError {
            status_code,
            message: message.to_string(),
        };
        assert!(no_buildkit(&answer(400, "buildkit not supported by daemon")).is_some());
        assert!(no_buildkit(&answer(404, "page not found: /session")).is_some());
        assert!(no_buildkit(&answer(500, "buildkit: failed to solve")).is_none());
        assert!(
            no_buildkit(&answer(400, "dockerfile parse error line 2: unknown instruction: RUNN")).is_none()
        );
    }

    #[test]
    fn a_failure_shows_the_failing_step_and_its_last_lines() {
        let mut log = Log::default();
        log.steps.insert(
            "d".into(),
            Step {
                number: 3,
                name: "[2/2] RUN make".into(),
                started: true,
                lines: (1..=25).map(|n| format!("line {n}")).collect(),
            },
        );
        log.failed = Some("d".into());
        let text = log.explain("exit code: 2");
        assert!(
            text.starts_with("exit code: 2\n--- the failing step: [2/2] RUN make ---\nline 6\n"),
            "{text}"
        );
        assert!(text.ends_with("line 25"), "{text}");
    }
}
