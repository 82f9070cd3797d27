//! `cargo xtask doctor`: every check of the set-up at once, each finding
//! with its fix. A check that cannot run because an earlier one failed says
//! so instead of failing a second time for the same reason.

use std::future::Future;
use std::time::{Duration, SystemTime};

use anyhow::{anyhow, Result};

use crate::aws;
use crate::docker::Engine;
use crate::ecr::Ecr;
use crate::ecs::Ecs;
use crate::files::GENERATED_MARKER;
use crate::findings::{self, Finding};
use crate::flags::Doctor;
use crate::git::{Git, Revision};
use crate::net::{self, Endpoint};
use crate::project::{Environment, Project, Service};
use crate::render::{registry_host, render_all, Scope, Secrets};
use crate::report::{say, Reporter};
use crate::tasks::{dev_env, plural, pre_push, runtime};

/// The longest any one AWS or engine check may take; the SDK retries
/// within it.
const CALL_LIMIT: Duration = Duration::from_secs(30);

pub(crate) fn run(flags: Doctor, out: &Reporter) -> Result<()> {
    let mut found = Vec::new();
    let mut push = |finding: Finding| {
        if flags.json {
            out.record(finding.check, &finding.summary);
        } else {
            findings::print(out, &finding);
        }
        found.push(finding);
    };
    let rt = runtime()?;

    let project = match Project::discover() {
        Ok(project) => {
            push(Finding::ok(
                "project",
                format!(
                    "{}: {} service{}",
                    project.root.display(),
                    project.services.len(),
                    plural(project.services.len())
                ),
            ));
            Some(project)
        }
        Err(e) => {
            push(failed("project", &e, "run cargo xtask inside the project"));
            None
        }
    };

    let repository = project.as_ref().and_then(|project| {
        let (finding, repository) = git(project);
        push(finding);
        repository
    });

    push(rt.block_on(docker()));

    let mut environment = None;
    if let Some(project) = &project {
        let (environments, finding) = pre_push::environments(project);
        push(finding);
        if let Some(name) = &flags.env {
            match environments.into_iter().find(|e| &e.name == name) {
                Some(found) => environment = Some(found),
                None if project.root.join("env").join(format!("{name}.toml")).is_file() => {
                    // Invalid, and reported with the others above.
                }
                None => push(Finding::fail(
                    "environment",
                    format!("there is no env/{name}.toml"),
                    "pass --env with one of the environments listed above, or create the file",
                )),
            }
        }
    }

    match (&project, &environment, &repository) {
        (Some(project), Some(environment), Some((git, revision))) => {
            for finding in templates(project, environment, git, revision) {
                push(finding);
            }
            for finding in rt.block_on(aws_checks(project, environment, flags.connect_timeout)) {
                push(finding);
            }
        }
        _ if flags.env.is_none() => push(Finding::skip(
            "aws",
            "pass --env ENV to check the templates' variables, AWS credentials, ECR and ECS for an environment",
        )),
        _ => push(Finding::skip("aws", "needs the project, its git revision and a valid environment (see above)")),
    }

    for text in &flags.reach {
        push(match Endpoint::parse(text) {
            Ok(endpoint) => net::diagnose("reach", &endpoint, flags.connect_timeout),
            Err(problem) => Finding::fail("reach", problem, "give a URL (postgres://host:5432) or host:port"),
        });
    }

    if flags.json {
        let failed = found.iter().any(|f| f.status == findings::Status::Fail);
        crate::json::print(out, "doctor", &Report { ok: !failed, findings: &found });
        findings::verdict("doctor", &found)?;
        return Ok(());
    }
    let n = findings::verdict("doctor", &found)?;
    let warnings = found.iter().filter(|f| f.status == findings::Status::Warn).count();
    say!(
        out,
        "doctor: {n} checks, no problem found{}",
        if warnings > 0 { " (see the warnings)" } else { "" }
    );
    Ok(())
}

/// `doctor --json`: whether every check passed (warnings allowed), and each finding.
#[derive(serde::Serialize)]
struct Report<'a> {
    ok: bool,
    findings: &'a [Finding],
}

/// Splits one of the tool's errors, worded "what went wrong; how to fix
/// it", into the two.
fn split_fix(message: &str, fallback: &str) -> (String, String) {
    match message.split_once("; ") {
        Some((what, fix)) => (what.to_string(), fix.to_string()),
        None => (message.to_string(), fallback.to_string()),
    }
}

fn failed(check: &'static str, error: &anyhow::Error, fallback: &str) -> Finding {
    let (summary, fix) = split_fix(&format!("{error:#}"), fallback);
    Finding::fail(check, summary, fix)
}

/// Which images uncommitted changes would reach, and the tag they would get.
fn dirty_images(revision: &Revision) -> String {
    let dirty: Vec<&str> =
        revision.images.iter().filter(|(_, image)| image.dirty).map(|(name, _)| name.as_str()).collect();
    if dirty.is_empty() {
        "no image is built from them".to_string()
    } else {
        format!("the images of {} would be tagged {}", dirty.join(", "), revision.image_tag)
    }
}

/// The repository and its revision, which the later checks use, and the
/// finding about them.
fn git(project: &Project) -> (Finding, Option<(Git, Revision)>) {
    let git = match Git::open(&project.root) {
        Ok(git) => git,
        Err(e) => return (failed("git", &e, "run `git init` and commit"), None),
    };
    let revision = match git.revision(project) {
        Ok(revision) => revision,
        Err(e) => return (failed("git", &e, "commit first"), None),
    };
    let at = match git.branch() {
        Some(branch) => format!("branch {branch} at {}", revision.short_sha),
        None => format!("detached HEAD at {}", revision.short_sha),
    };
    let finding = if revision.dirty {
        Finding::warn(
            "git",
            format!("{at}, uncommitted changes: {}", dirty_images(&revision)),
            "commit or stash before `push` or `release`, or pass --allow-dirty",
        )
    } else {
        Finding::ok("git", format!("{at}, tree clean"))
    };
    (finding, Some((git, revision)))
}

async fn docker() -> Finding {
    let checked = limit(async {
        let engine = Engine::connect().await?;
        let (version, api) = engine.version().await?;
        // Said only when it is not the local socket, where everyone expects it.
        let at = match engine.host.url.as_str() {
            crate::docker::host::LOCAL_SOCKET => String::new(),
            _ => format!(" at {}", engine.host),
        };
        anyhow::Ok((version, api, at))
    });
    match checked.await {
        Ok((version, api, at)) => Finding::ok("docker", format!("Docker Engine {version}, API {api}{at}")),
        Err(e) => failed("docker", &e, "start the Docker Engine, or point DOCKER_HOST at it"),
    }
}

/// The templates render for the environment, the process variables they
/// need are set, and their generated files are kept out of git.
fn templates(project: &Project, environment: &Environment, git: &Git, revision: &Revision) -> Vec<Finding> {
    let name = &environment.name;
    let services: Vec<_> = project.services.iter().collect();
    let revision = &crate::identity::for_environment(project, environment, revision);
    let report = render_all(project, environment, revision, &services, Scope::All, Secrets::Redact);
    let mut found = vec![if report.problems.is_empty() {
        Finding::ok("templates", format!("every template renders for env {name}"))
    } else {
        Finding::fail(
            "templates",
            format!(
                "{} problem{} rendering env {name}",
                report.problems.len(),
                plural(report.problems.len())
            ),
            "correct the templates at the lines named above",
        )
        .with_details(report.problems)
    }];
    found.push(if report.missing.is_empty() {
        Finding::ok("variables", format!("every process variable env {name} needs is set"))
    } else {
        Finding::fail(
            "variables",
            format!("not set: {}", report.missing.join(", ")),
            "export them (in CI, as the pipeline's secrets or variables), or give the templates a default: \
             env(\"NAME\", default=\"...\")",
        )
    });

    let mut wrong = Vec::new();
    let mut checked = 0;
    for service in project.services.iter().filter(|s| s.env_template.is_some()) {
        checked += 1;
        wrong.extend(pre_push::exposure(git, &project.root, &dev_env::output_path(service, name)));
    }
    if let Ok(tracked) = git.tracked_generated_env_files(GENERATED_MARKER) {
        wrong.extend(
            tracked.iter().map(|p| format!("{} is a generated env file, tracked by git", p.display())),
        );
    }
    found.push(if wrong.is_empty() {
        Finding::ok(
            "generated files",
            format!("git ignores the {checked} env file{} of env {name}", plural(checked)),
        )
    } else {
        Finding::fail(
            "generated files",
            format!("{} generated file{} could be committed", wrong.len(), plural(wrong.len())),
            "add `/services/*/*.env` to .gitignore, and `git rm --cached` any that is tracked",
        )
        .with_details(wrong)
    });
    found
}

/// Credentials, then the endpoints, then what needs both: the ECR token and
/// the ECS cluster and services. Each later check is skipped when an
/// earlier one it needs has failed, rather than failing again.
async fn aws_checks(project: &Project, environment: &Environment, timeout: Duration) -> Vec<Finding> {
    let mut found = Vec::new();
    let region = &environment.region;
    match limit(aws::session_expiry(region)).await {
        Ok(None) => found.push(Finding::ok("aws credentials", "found (long-lived keys)")),
        Ok(Some(expiry)) => {
            let left = expiry.duration_since(SystemTime::now()).unwrap_or_default();
            found.push(Finding::ok(
                "aws credentials",
                format!("found, temporary: {} min left", left.as_secs() / 60),
            ));
        }
        Err(e) => {
            found.push(failed("aws credentials", &e, "renew the AWS session"));
            found.push(Finding::skip("ecr, ecs", "need AWS credentials"));
            return found;
        }
    }

    // The endpoints the commands' clients use, resolved the same way
    // (service-specific variables and profile settings included).
    let config = aws::config(region).await;
    let ecs_endpoint = aws::endpoint(&config, "ECS", &format!("ecs.{region}.amazonaws.com"));
    let ecr_endpoint = aws::endpoint(&config, "ECR", &format!("api.ecr.{region}.amazonaws.com"));
    let mut aws_ok = true;
    for (name, url) in [("aws endpoint", &ecs_endpoint), ("ecr endpoint", &ecr_endpoint)] {
        if name == "ecr endpoint" && url == &ecs_endpoint {
            continue;
        }
        let reach = match Endpoint::parse(url) {
            Ok(endpoint) => net::diagnose(name, &endpoint, timeout),
            Err(problem) => {
                Finding::fail(name, problem, "correct AWS_ENDPOINT_URL (or the profile's `endpoint_url`)")
            }
        };
        aws_ok &= reach.status == findings::Status::Ok;
        found.push(reach);
    }

    let registry = registry_host(environment);
    let reach_registry =
        match Endpoint::parse(&registry).or_else(|_| Endpoint::parse(&format!("https://{registry}"))) {
            Ok(endpoint) => net::diagnose("registry", &endpoint, timeout),
            Err(problem) => Finding::fail("registry", problem, "correct `registry` in the environment file"),
        };
    found.push(reach_registry);
    if !aws_ok {
        found.push(Finding::skip("ecr, ecs", "need the AWS endpoint to answer"));
        return found;
    }

    match limit(aws::account(region)).await {
        Ok(account) => match aws::check_account(environment, &account) {
            Ok(()) => found.push(Finding::ok(
                "aws account",
                format!("{account}, as env/{}.toml says", environment.name),
            )),
            Err(e) => {
                found.push(failed("aws account", &e, "use the session of the environment's account"));
                found.push(Finding::skip("ecr, ecs", "need a session of the environment's account"));
                return found;
            }
        },
        Err(e) => found.push(failed("aws account", &e, "check the session")),
    }

    let ecr = Ecr::connect(region, &registry).await;
    found.push(match limit(ecr.credentials()).await {
        Ok(_) => Finding::ok("ecr", format!("token for {registry} obtained (kept in memory only)")),
        Err(e) => failed("ecr", &e, "check the role's ecr:GetAuthorizationToken permission"),
    });

    let session = Ecs::connect(region, &environment.cluster).await;
    let deployable: Vec<&Service> =
        project.services.iter().filter(|s| s.task_definition_template.is_some()).collect();
    // The environment's cluster, and any a service runs in instead.
    let mut clusters: Vec<&str> = deployable.iter().map(|s| s.cluster(environment)).collect();
    clusters.push(&environment.cluster);
    clusters.sort();
    clusters.dedup();
    let mut usable = Vec::new();
    for cluster in clusters {
        match limit(session.in_cluster(cluster).cluster()).await {
            Ok(Some(status)) => {
                usable.push(cluster);
                found.push(Finding::ok("ecs cluster", format!("{cluster} in {region}: {status}")))
            }
            Ok(None) => found.push(Finding::fail(
                "ecs cluster",
                format!("{cluster} does not exist in {region}"),
                format!(
                    "create it with your infrastructure code, or correct `cluster` (and `region`) in env/{}.toml \
                     or the service's service.toml",
                    environment.name
                ),
            )),
            Err(e) => found.push(failed("ecs cluster", &e, "check the role's ecs:DescribeClusters permission")),
        }
    }
    if usable.is_empty() {
        return found;
    }
    let in_usable: Vec<&Service> =
        deployable.into_iter().filter(|s| usable.contains(&s.cluster(environment))).collect();
    let deployed: Vec<&str> = in_usable.iter().map(|s| s.ecs_service.as_str()).collect();
    let sessions: Vec<Ecs> = in_usable.iter().map(|s| session.in_cluster(s.cluster(environment))).collect();
    let looked_up =
        futures_util::future::join_all(sessions.iter().zip(&deployed).map(|(ecs, s)| limit(ecs.service(s))))
            .await;
    let mut missing = Vec::new();
    for (name, result) in deployed.iter().zip(looked_up) {
        if let Err(e) = result {
            missing.push(format!("{name}: {}", split_fix(&format!("{e:#}"), "").0));
        }
    }
    found.push(if missing.is_empty() {
        Finding::ok("ecs services", format!("{} found: {}", deployed.len(), deployed.join(", ")))
    } else {
        Finding::fail(
            "ecs services",
            format!("{} of {} not found", missing.len(), deployed.len()),
            "create them with your infrastructure code, or set `ecs_service` in the service's service.toml",
        )
        .with_details(missing)
    });
    found
}

/// Runs a check for at most [`CALL_LIMIT`].
async fn limit<T>(check: impl Future<Output = Result<T>>) -> Result<T> {
    tokio::time::timeout(CALL_LIMIT, check)
        .await
        .map_err(|_| anyhow!("no answer within {}s", CALL_LIMIT.as_secs()))?
}
