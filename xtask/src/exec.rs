//! Running a plan: every step starts once the steps it depends on are done,
//! at most `jobs` at a time, and the side effects of each kind of step live in
//! one `match`. A failed step stops only what depends on it; everything else
//! finishes, so a rerun continues from there (finished steps skip themselves).

use std::collections::{BTreeMap, HashMap, HashSet};
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicU8, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use anyhow::{bail, Context as _, Result};
use futures_util::stream::{FuturesUnordered, StreamExt};
use tokio::sync::Mutex;

use crate::deploy::{self, WaitOptions};
use crate::docker::build::BuildRequest;
use crate::docker::{Engine, PushError, RegistryFailure};
use crate::ecr::Ecr;
use crate::ecs::Ecs;
use crate::history;
use crate::plan::{Plan, Step};
use crate::project::Service;
use crate::render::{image_reference, registry_host, Rendered};
use crate::taskdef::{self, short_name};
use crate::tasks::{plural, Workspace};

/// The pause before the second try of a push; it doubles each time, up to
/// [`LONGEST_BACKOFF`], and each pause is drawn at random from its upper
/// half so that parallel pushes do not retry in lockstep.
const FIRST_BACKOFF: Duration = Duration::from_secs(1);
const LONGEST_BACKOFF: Duration = Duration::from_secs(16);

/// How long a push keeps retrying a registry that fails in passing:
/// `XTASK_PUSH_BUDGET` (a duration), else a minute, enough to ride out a
/// registry restart or a load balancer's blip.
fn push_budget() -> Duration {
    deploy::duration_from_env("XTASK_PUSH_BUDGET").unwrap_or(Duration::from_secs(60))
}

/// A pause between half of `backoff` and all of it.
fn jittered(backoff: Duration) -> Duration {
    use std::hash::{BuildHasher, Hasher};
    // RandomState is seeded from the operating system's randomness.
    let random = std::collections::hash_map::RandomState::new().build_hasher().finish();
    backoff.mul_f64(0.5 + (random % 1000) as f64 / 2000.0)
}

#[derive(Debug, Clone, Copy)]
pub(crate) struct Options {
    pub(crate) jobs: usize,
    pub(crate) force: bool,
    pub(crate) verbose: bool,
    /// Start a new deployment even when the service runs the revision already.
    pub(crate) force_deploy: bool,
    pub(crate) wait: WaitOptions,
}

/// What a run needs besides the engine, checked before anything changes.
pub(crate) struct Needs {
    /// A registry session (ECR token).
    pub(crate) registry: bool,
    /// ECS services that will be deployed, which must exist, each with its cluster.
    pub(crate) ecs_services: Vec<(String, String)>,
}

/// How a run went, for the command's last line.
pub(crate) struct Summary {
    /// Steps that changed something (built, pushed, registered, deployed...).
    pub(crate) changed: usize,
}

/// What a step did.
pub(crate) enum Outcome {
    Done(String),
    Skipped(String),
}

pub(crate) struct Executor<'w> {
    workspace: &'w Workspace,
    rendered: HashMap<String, Rendered>,
    options: Options,
    registry: String,
    engine: Engine,
    ecr: Option<Ecr>,
    ecs: Option<Ecs>,
    /// The task definition each ECS service ran when the run started, by
    /// cluster and ECS service.
    running: BTreeMap<(String, String), String>,
    /// Digests of the registry's images that task definitions run and this
    /// run does not build, by image reference, found before it started.
    located: BTreeMap<String, String>,
    /// Digests of the images pushed (or found in the registry) this run, by service.
    digests: Mutex<BTreeMap<String, String>>,
    /// Where each service's image was found already, by service, once asked:
    /// its prebuild and its build ask the same question.
    reusable: Mutex<BTreeMap<String, Option<&'static str>>>,
    /// The task definition ARN each service is to run, once registered (or found unchanged).
    registered: Mutex<BTreeMap<String, String>>,
    /// Deployments started this run, by service.
    deployments: Mutex<BTreeMap<String, Started>>,
    changed: AtomicUsize,
    /// The highest exit code a failed deployment asked for.
    exit_code: AtomicU8,
    progress: Progress,
}

/// A deployment this run started, and what the service ran before it.
struct Started {
    id: String,
    before: String,
    seen_events: HashSet<String>,
}

impl<'w> Executor<'w> {
    /// Checks every precondition before the first side effect and reports
    /// all that fail together: the engine, and for a push the AWS session.
    pub(crate) async fn prepare(
        workspace: &'w Workspace,
        rendered: Vec<(&Service, Rendered)>,
        options: Options,
        needs: Needs,
    ) -> Result<Executor<'w>> {
        let environment = &workspace.environment;
        let registry = registry_host(environment);
        let engine = Engine::connect().await;
        let ecr = if needs.registry {
            let ecr = Ecr::connect(&environment.region, &registry).await;
            Some(ecr.credentials().await.map(|_| ecr))
        } else {
            None
        };
        let mut problems = Vec::new();
        if let Err(e) = &engine {
            problems.push(format!("{e:#}"));
        }
        if let Some(Err(e)) = &ecr {
            problems.push(format!("{e:#}"));
        }
        // A session of another account would change the wrong services, or
        // none: refused before anything else is asked of AWS. An expired
        // session was reported above already; one line says it.
        let uses_aws = needs.registry || !needs.ecs_services.is_empty();
        let mut session_usable = !matches!(ecr, Some(Err(_)));
        if uses_aws && session_usable {
            let account = crate::aws::account(&environment.region).await;
            if let Err(e) = account.and_then(|account| crate::aws::check_account(environment, &account)) {
                problems.push(format!("{e:#}"));
                session_usable = false;
            }
        }
        let mut running = BTreeMap::new();
        let ecs = if needs.ecs_services.is_empty() {
            None
        } else {
            let ecs = Ecs::connect(&environment.region, &environment.cluster).await;
            if session_usable {
                let sessions: Vec<Ecs> =
                    needs.ecs_services.iter().map(|(cluster, _)| ecs.in_cluster(cluster)).collect();
                let found = futures_util::future::join_all(
                    sessions
                        .iter()
                        .zip(&needs.ecs_services)
                        .map(|(session, (_, name))| session.service(name)),
                )
                .await;
                let mut missing = Vec::new();
                for (key, state) in needs.ecs_services.iter().zip(found) {
                    match state {
                        Ok(state) => {
                            running.insert(key.clone(), state.task_definition);
                        }
                        Err(e) => missing.push(format!("{e:#}")),
                    }
                }
                missing.dedup();
                problems.extend(missing);
            }
            Some(ecs)
        };
        let located = match (&engine, &ecr, session_usable) {
            (Ok(engine), Some(Ok(ecr)), true) => {
                // A registry that is down or refuses the token is found now,
                // not after every image is built.
                let probe = rendered.first().map(|(s, _)| image_reference(&registry, s, &workspace.revision));
                if let Some(reference) = probe {
                    if let Err(problem) =
                        probe_registry(engine, ecr, &registry, &reference, environment).await
                    {
                        problems.push(problem);
                    }
                }
                locate_foreign_images(engine, ecr, &registry, workspace, &rendered, &mut problems).await?
            }
            _ => BTreeMap::new(),
        };
        if !problems.is_empty() {
            bail!("cannot start, nothing was changed:\n  {}", problems.join("\n  "));
        }
        Ok(Executor {
            workspace,
            rendered: rendered.into_iter().map(|(s, r)| (s.name.clone(), r)).collect(),
            options,
            registry,
            engine: engine?,
            ecr: ecr.transpose()?,
            ecs,
            running,
            located,
            digests: Mutex::new(BTreeMap::new()),
            reusable: Mutex::new(BTreeMap::new()),
            registered: Mutex::new(BTreeMap::new()),
            deployments: Mutex::new(BTreeMap::new()),
            changed: AtomicUsize::new(0),
            exit_code: AtomicU8::new(0),
            progress: Progress::new(),
        })
    }

    /// Runs every step of the plan; returns an error naming the steps that
    /// failed or could not start.
    pub(crate) async fn run(&self, plan: &Plan) -> Result<Summary> {
        let started = Instant::now();
        let mut state = vec![State::Waiting; plan.nodes.len()];
        let mut running: FuturesUnordered<RunningStep<'_>> = FuturesUnordered::new();
        let mut interrupt = Interrupt::listen()?;
        loop {
            // Start what is ready, in plan order, up to the bound.
            for i in 0..plan.nodes.len() {
                if running.len() >= self.options.jobs.max(1) {
                    break;
                }
                if state[i] != State::Waiting {
                    continue;
                }
                let deps = &plan.nodes[i].deps;
                if deps.iter().any(|&d| matches!(state[d], State::Failed | State::Blocked)) {
                    state[i] = State::Blocked;
                    continue;
                }
                if deps.iter().all(|&d| state[d] == State::Succeeded) {
                    state[i] = State::Running;
                    let step = plan.nodes[i].step.clone();
                    self.progress.start(&step);
                    running.push(Box::pin(async move { (i, self.step(&step).await) }));
                }
            }
            if running.is_empty() {
                break;
            }
            // The status line ticks while steps run, so a long build shows its age.
            let mut tick = tokio::time::interval(Duration::from_millis(250));
            let (i, result) = loop {
                tokio::select! {
                    finished = running.next() => break finished.expect("a step is running"),
                    _ = tick.tick() => {
                        self.progress.draw();
                        self.progress.beat();
                    }
                    signal = interrupt.recv() => {
                        // Dropping the running steps cancels them, and no
                        // step after them starts. A registry takes a tag only
                        // with all its layers, so a cancelled push leaves no
                        // tag pointing at a partial image.
                        drop(running);
                        self.progress.erase();
                        return Err(interrupted(plan, &state, signal));
                    }
                }
            };
            let step = &plan.nodes[i].step;
            let name = step.to_string();
            let took = self.progress.age(step);
            let (what, failed) = match result {
                Ok(Outcome::Done(what)) => {
                    state[i] = State::Succeeded;
                    if step.changes_something() {
                        self.changed.fetch_add(1, Ordering::SeqCst);
                    }
                    // Builds, pushes, prebuilds and waits say their time themselves.
                    let timed =
                        matches!(step, Step::Prebuild(_) | Step::Build(_) | Step::Push(_) | Step::Wait(_));
                    if !timed && took >= Duration::from_secs(1) {
                        (format!("{what} ({:.1}s)", took.as_secs_f64()), false)
                    } else {
                        (what, false)
                    }
                }
                Ok(Outcome::Skipped(why)) if took >= Duration::from_secs(1) => {
                    state[i] = State::Succeeded;
                    (format!("skipped: {why} ({:.1}s)", took.as_secs_f64()), false)
                }
                Ok(Outcome::Skipped(why)) => {
                    state[i] = State::Succeeded;
                    (format!("skipped: {why}"), false)
                }
                Err(e) => {
                    state[i] = State::Failed;
                    if let Some(failed) = e.downcast_ref::<deploy::Failed>() {
                        self.exit_code.fetch_max(failed.code, Ordering::SeqCst);
                    }
                    (format!("FAILED: {e:#}"), true)
                }
            };
            crate::ci::record(&name, &what);
            self.progress.finish(step, &format!("{name:<18} {what}"), failed);
        }
        self.progress.erase();
        // Anything still waiting sits behind a failure.
        for s in state.iter_mut().filter(|s| **s == State::Waiting) {
            *s = State::Blocked;
        }
        let names = |wanted: State| -> Vec<String> {
            plan.nodes
                .iter()
                .zip(&state)
                .filter(|(_, s)| **s == wanted)
                .map(|(n, _)| n.step.to_string())
                .collect()
        };
        let (failed, blocked) = (names(State::Failed), names(State::Blocked));
        if failed.is_empty() {
            crate::output::say!("{} steps done in {:.1}s", plan.nodes.len(), started.elapsed().as_secs_f64());
            return Ok(Summary { changed: self.changed.load(Ordering::SeqCst) });
        }
        let mut message = format!("{} failed", failed.join(", "));
        if !blocked.is_empty() {
            message += &format!("; not started because of it: {}", blocked.join(", "));
        }
        match self.exit_code.load(Ordering::SeqCst) {
            0 => bail!("{message}; the other steps finished, and a rerun continues from where this one stopped"),
            // A rerun would deploy the same bad revision again.
            code => Err(deploy::Failed {
                code,
                message: format!(
                    "{message}; the other steps finished. The failed release is recorded in the service's history; \
                     fix the cause, commit and release again, or stay where the rollback left it (`cargo xtask \
                     history` shows the releases)"
                ),
            }
            .into()),
        }
    }

    async fn step(&self, step: &Step) -> Result<Outcome> {
        let service = step.service().and_then(|name| self.workspace.project.service(name));
        match (step, service) {
            (Step::Revision, _) => Ok(Outcome::Done(format!("commit {}", self.workspace.revision.sha))),
            (Step::Prebuild(_), Some(service)) => self.prebuild(service).await,
            (Step::Build(_), Some(service)) => self.build(service).await,
            (Step::RegistryAuth, _) => {
                self.ecr()?.credentials().await?;
                Ok(Outcome::Done(format!("token for {}", self.registry)))
            }
            (Step::EnsureRepository(_), Some(service)) => {
                let created =
                    self.ecr()?.ensure_repository(&service.repository, service.immutable_tags).await?;
                Ok(if created {
                    Outcome::Done(format!("created repository {}", service.repository))
                } else {
                    Outcome::Skipped(format!("repository {} exists", service.repository))
                })
            }
            (Step::Push(_), Some(service)) => self.push(service).await,
            (Step::Render(_), Some(service)) => {
                let rendered = &self.rendered[&service.name];
                let mut what = Vec::new();
                if let Some(env_file) = &rendered.env_file {
                    what.push(format!("{} variables", crate::render::parse_env_file(env_file).len()));
                }
                if rendered.task_definition.is_some() {
                    what.push("task definition".to_string());
                }
                Ok(Outcome::Done(format!("rendered {}", what.join(" and "))))
            }
            (Step::Locate(_), Some(service)) => self.locate(service).await,
            (Step::Register(_), Some(service)) => self.register(service).await,
            (Step::Deploy(_), Some(service)) => self.deploy(service).await,
            (Step::Wait(_), Some(service)) => self.wait(service).await,
            (step, None) => bail!("{step}: no such service in the project"),
        }
    }

    fn ecr(&self) -> Result<&Ecr> {
        self.ecr.as_ref().context("no registry session was prepared for this command")
    }

    /// The ECS session, in the cluster the service runs in.
    fn ecs(&self, service: &Service) -> Result<Ecs> {
        let ecs = self.ecs.as_ref().context("no ECS session was prepared for this command")?;
        Ok(ecs.in_cluster(service.cluster(&self.workspace.environment)))
    }

    fn image(&self, service: &Service) -> String {
        image_reference(&self.registry, service, &self.workspace.revision)
    }

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
        let reference = format!("{}/{}:{tag}", self.registry, service.repository);
        let credentials = ecr.credentials().await.ok()?;
        match self.engine.registry_has(&reference, &credentials).await {
            Ok(Some(_)) => Some(reference),
            _ => None,
        }
    }

    /// Where the image of the commit it is built from is already, when it
    /// may be reused: on the engine, or (when this run pushes) in the
    /// registry, so a fresh CI machine does not rebuild what was pushed.
    /// Never for uncommitted changes, whose tag does not say what is in it.
    async fn reusable_image(&self, service: &Service) -> Result<Option<&'static str>> {
        if let Some(found) = self.reusable.lock().await.get(&service.name) {
            return Ok(*found);
        }
        let found = self.find_reusable_image(service).await?;
        self.reusable.lock().await.insert(service.name.clone(), found);
        Ok(found)
    }

    async fn find_reusable_image(&self, service: &Service) -> Result<Option<&'static str>> {
        if self.options.force || self.workspace.revision.image(&service.name).dirty {
            return Ok(None);
        }
        let image = self.image(service);
        if self.engine.has_image(&image).await? {
            return Ok(Some("exists"));
        }
        // An image others are built FROM must be on the engine for their builds.
        let base_of_others = self.workspace.project.services.iter().any(|s| s.after.contains(&service.name));
        if let (Some(ecr), false) = (&self.ecr, base_of_others) {
            let credentials = ecr.credentials().await?;
            if let Ok(Some(_)) = self.engine.registry_has(&image, &credentials).await {
                return Ok(Some("is in the registry"));
            }
        }
        Ok(None)
    }

    async fn prebuild(&self, service: &Service) -> Result<Outcome> {
        if let Some(where_) = self.reusable_image(service).await? {
            return Ok(Outcome::Skipped(format!("{} {where_}", self.image(service))));
        }
        let argv = service.prebuild.clone().unwrap_or_default();
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
        let command = service.prebuild.as_deref().unwrap_or_default().join(" ");
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

    async fn build(&self, service: &Service) -> Result<Outcome> {
        let tag = self.image(service);
        if let Some(where_) = self.reusable_image(service).await? {
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
            ("org.opencontainers.image.created".to_string(), rfc3339(image.commit_time)),
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
        let build_args = self.rendered[&service.name].build_args.clone().into_iter().collect();
        // The registry's token goes with the build, for a `FROM` on a private
        // image there and for the previous image's cache.
        let mut credentials = HashMap::new();
        if let Some(ecr) = &self.ecr {
            credentials.insert(self.registry.clone(), ecr.credentials().await?);
        }
        let cache_source = self.cache_source(service).await;
        let cache_from = cache_source.iter().cloned().collect();
        let started = Instant::now();
        let verbose = self.options.verbose;
        let name = service.name.as_str();
        let built = self
            .engine
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
                        println!("build {name} | {line}");
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

    async fn push(&self, service: &Service) -> Result<Outcome> {
        let ecr = self.ecr()?;
        let reference = self.image(service);
        let repository = format!("{}/{}", self.registry, service.repository);
        let image_revision = self.workspace.revision.image(&service.name);
        let tag = &image_revision.image_tag;
        let started = Instant::now();
        let mut renewed = false;
        let mut backoff = FIRST_BACKOFF;
        let budget = push_budget();
        let mut attempt = 1;
        loop {
            // From the cache each try: it renews a token close to expiry, and
            // holds the one a refused push renewed.
            let credentials = ecr.credentials().await?;
            // A dirty tag may hold other content than what is in the registry: always push it.
            let existing = if image_revision.dirty || self.options.force {
                Ok(None)
            } else {
                self.engine.registry_has(&reference, &credentials).await
            };
            let result = match existing {
                Ok(Some(digest)) => {
                    self.digests.lock().await.insert(service.name.clone(), digest.clone());
                    if attempt > 1 {
                        // An earlier try had landed before its answer was lost.
                        return Ok(Outcome::Done(format!(
                            "pushed {repository}@{digest} ({:.1}s, {attempt} tries; the registry had taken an \
                             earlier one)",
                            started.elapsed().as_secs_f64()
                        )));
                    }
                    return Ok(Outcome::Skipped(format!("{reference} is in the registry ({digest})")));
                }
                Ok(None) => {
                    let verbose = self.options.verbose;
                    let name = service.name.as_str();
                    self.engine
                        .push(&repository, tag, &credentials, |status, transient| {
                            if verbose && !transient {
                                println!("push {name} | {status}");
                            }
                            self.progress.update(&format!("push {name}"), status);
                        })
                        .await
                }
                Err(e) => Err(e),
            };
            match result {
                Ok(digest) => {
                    self.digests.lock().await.insert(service.name.clone(), digest.clone());
                    let retries = if attempt > 1 { format!(", {} tries", attempt) } else { String::new() };
                    return Ok(Outcome::Done(format!(
                        "pushed {repository}@{digest} ({:.1}s{retries})",
                        started.elapsed().as_secs_f64()
                    )));
                }
                // One renewal per push: a registry that refuses a brand-new
                // token will refuse the next one too.
                Err(PushError { kind: RegistryFailure::TokenExpired, .. }) if !renewed => {
                    println!(
                        "{:<18} registry token expired; renewing it and trying again",
                        format!("push {}", service.name)
                    );
                    ecr.renew(&credentials).await?;
                    renewed = true;
                }
                Err(PushError { kind: RegistryFailure::Transient, message })
                    if started.elapsed() + backoff.mul_f64(0.5) < budget =>
                {
                    let wait = jittered(backoff).min(budget.saturating_sub(started.elapsed()));
                    println!(
                        "{:<18} {}; try {} in {:.1}s (retrying for up to {})",
                        format!("push {}", service.name),
                        message.trim(),
                        attempt + 1,
                        wait.as_secs_f64(),
                        deploy::human(budget)
                    );
                    tokio::time::sleep(wait).await;
                    backoff = (backoff * 2).min(LONGEST_BACKOFF);
                    attempt += 1;
                }
                Err(PushError { message, kind }) => {
                    // A push can fail after the registry took the tag (a
                    // stream cut after the manifest landed): look before
                    // blaming the registry. A dirty tag may name other
                    // content, so only a clean one is trusted.
                    if !image_revision.dirty && kind != RegistryFailure::TokenExpired {
                        if let Ok(Some(digest)) = self.engine.registry_has(&reference, &credentials).await {
                            self.digests.lock().await.insert(service.name.clone(), digest.clone());
                            return Ok(Outcome::Done(format!(
                                "pushed {repository}@{digest} ({:.1}s; the registry has it although the push \
                                 reported: {})",
                                started.elapsed().as_secs_f64(),
                                message.trim()
                            )));
                        }
                    }
                    let hint = match kind {
                        RegistryFailure::TokenExpired => {
                            "the registry refused a freshly renewed token; check that the AWS role may push to \
                             this repository"
                        }
                        RegistryFailure::Transient => {
                            "the registry kept failing; check that it is reachable, then rerun"
                        }
                        RegistryFailure::Permanent => {
                            "check the registry address in the environment file and the role's ECR permissions"
                        }
                    };
                    let tried = if attempt > 1 {
                        format!(" ({attempt} tries in {:.0}s)", started.elapsed().as_secs_f64())
                    } else {
                        String::new()
                    };
                    bail!("push {reference}: {}{tried}; {hint}", message.trim());
                }
            }
        }
    }

    /// Finds this commit's image in the registry, for a deploy without a push.
    async fn locate(&self, service: &Service) -> Result<Outcome> {
        let reference = self.image(service);
        let credentials = self.ecr()?.credentials().await?;
        match self.engine.registry_has(&reference, &credentials).await {
            Ok(Some(digest)) => {
                self.digests.lock().await.insert(service.name.clone(), digest.clone());
                Ok(Outcome::Done(format!("{reference} is {digest}")))
            }
            Ok(None) => bail!(
                "{reference} is not in the registry; push it first: cargo xtask push --env {} --service {}",
                self.workspace.environment.name,
                service.name
            ),
            Err(PushError { message, .. }) => bail!("look up {reference}: {}", message.trim()),
        }
    }

    /// The rendered task definition with this run's images pinned to their
    /// digests; refuses one that runs an image of the registry that was not
    /// pushed, which would leave the service pointing at nothing.
    async fn task_definition(&self, service: &Service) -> Result<serde_json::Value> {
        let text = self.rendered[&service.name]
            .task_definition
            .as_deref()
            .with_context(|| format!("{} has no task definition template", service.name))?;
        let mut json: serde_json::Value =
            serde_json::from_str(text).context("parse the rendered task definition")?;
        let digests = self.digests.lock().await;
        let mut pushed: BTreeMap<String, taskdef::Pin> = self
            .workspace
            .project
            .services
            .iter()
            .filter_map(|s| {
                let digest = Some(digests.get(&s.name)?.clone());
                let commit = Some(self.workspace.revision.image(&s.name).commit.clone());
                Some((self.image(s), taskdef::Pin { digest, commit }))
            })
            .collect();
        for (image, digest) in &self.located {
            pushed.insert(image.clone(), taskdef::Pin { digest: Some(digest.clone()), commit: None });
        }
        taskdef::pin_images(&mut json, &pushed);
        // The preflight located every other image of the registry; one left
        // unpinned is this run's own, whose push failed or did not happen.
        let prefix = format!("{}/", self.registry);
        if let Some(image) =
            taskdef::images_of(&json).into_iter().find(|i| i.starts_with(&prefix) && !i.contains('@'))
        {
            bail!(
                "the task definition of {} runs {image}, which this release did not push; release the service \
                 that builds it too, or refer to a pushed image",
                service.name
            );
        }
        Ok(json)
    }

    async fn register(&self, service: &Service) -> Result<Outcome> {
        let ecs = &self.ecs(service)?;
        let json = self.task_definition(service).await?;
        let family =
            json.get("family").and_then(|f| f.as_str()).context("the task definition has no `family`")?;
        let latest = ecs.task_definition(family).await?;
        let newest = latest.as_ref().and_then(|l| l["taskDefinitionArn"].as_str()).unwrap_or_default();
        let changed = latest.as_ref().map(|latest| taskdef::changes(latest, &json).len());
        if changed == Some(0) {
            let why = format!("{} is identical", short_name(newest));
            self.registered.lock().await.insert(service.name.clone(), newest.to_string());
            return Ok(Outcome::Skipped(why));
        }
        // After a rollback the service runs an older revision than the
        // newest: releasing what it runs must not register a duplicate.
        let key = (ecs.cluster.clone(), service.ecs_service.clone());
        let running = self.running.get(&key).cloned().unwrap_or_default();
        let same_family = short_name(&running).rsplit_once(':').is_some_and(|(f, _)| f == family);
        if same_family && short_name(&running) != short_name(newest) {
            if let Some(current) = ecs.task_definition(&running).await? {
                if taskdef::changes(&current, &json).is_empty() {
                    let why = format!("{} is identical and runs already", short_name(&running));
                    self.registered.lock().await.insert(service.name.clone(), running);
                    return Ok(Outcome::Skipped(why));
                }
            }
        }
        let arn = ecs.register(&json).await?;
        let outcome = Outcome::Done(match changed {
            Some(n) => format!("registered {} ({n} field{} changed)", short_name(&arn), plural(n)),
            None => format!("registered {} (a new family)", short_name(&arn)),
        });
        self.registered.lock().await.insert(service.name.clone(), arn);
        Ok(outcome)
    }

    async fn deploy(&self, service: &Service) -> Result<Outcome> {
        let ecs = &self.ecs(service)?;
        let target =
            self.registered.lock().await.get(&service.name).cloned().context("nothing was registered")?;
        let before = ecs.service(&service.ecs_service).await?;
        if short_name(&before.task_definition) == short_name(&target) && !self.options.force_deploy {
            return Ok(Outcome::Skipped(format!(
                "{} runs {} already",
                service.ecs_service,
                short_name(&target)
            )));
        }
        let seen_events = before.events.iter().map(|e| e.id.clone()).collect();
        let after = ecs.update(&service.ecs_service, &target, self.options.force_deploy).await?;
        let id = after.primary().map(|p| p.id.clone()).context("ECS started no PRIMARY deployment")?;
        let what = format!(
            "{} {} -> {} (deployment {id})",
            service.ecs_service,
            short_name(&before.task_definition),
            short_name(&target)
        );
        self.deployments
            .lock()
            .await
            .insert(service.name.clone(), Started { id, before: before.task_definition, seen_events });
        Ok(Outcome::Done(what))
    }

    async fn wait(&self, service: &Service) -> Result<Outcome> {
        let ecs = &self.ecs(service)?;
        let name = service.ecs_service.as_str();
        let target =
            self.registered.lock().await.get(&service.name).cloned().context("nothing was registered")?;
        let started = self.deployments.lock().await.remove(&service.name);
        let (id, before, mut seen_events, fresh) = match started {
            Some(s) => (s.id, Some(s.before), s.seen_events, true),
            // Not deployed this run: follow what runs, which an interrupted
            // release may have left rolling out.
            None => {
                let state = ecs.service(name).await?;
                let id = state.primary().map(|p| p.id.clone()).unwrap_or_default();
                (id, None, state.events.iter().map(|e| e.id.clone()).collect(), false)
            }
        };
        let begun = Instant::now();
        let step = format!("wait {}", service.name);
        let outcome = deploy::wait(
            ecs,
            name,
            &id,
            &mut seen_events,
            self.options.wait,
            |event| self.progress.line(&format!("{step:<18} event: {event}")),
            |status| self.progress.update(&step, status),
        )
        .await?;
        let why = match outcome {
            deploy::Outcome::Stable(state) => {
                let commit = &self.workspace.revision.image(&service.name).commit;
                deploy::record_good(ecs, &state, &target, commit).await?;
                // Only a deployment this run made is a new release in the history.
                if fresh {
                    history::record(ecs, &state.arn, &target, commit, history::Outcome::Good).await?;
                }
                let what = format!(
                    "{name} runs {} with {}/{} tasks",
                    short_name(&target),
                    state.running,
                    state.desired
                );
                return Ok(if fresh {
                    Outcome::Done(format!("{what} ({:.1}s)", begun.elapsed().as_secs_f64()))
                } else {
                    Outcome::Skipped(format!("{what}, stable"))
                });
            }
            deploy::Outcome::ReplacedByEcs(why) => {
                let commit = &self.workspace.revision.image(&service.name).commit;
                let arn = ecs.service(name).await?.arn;
                history::record(ecs, &arn, &target, commit, history::Outcome::Failed).await?;
                bail!(deploy::Failed {
                    code: deploy::EXIT_ECS_ROLLED_BACK,
                    message: format!("{name}: the deployment of {} failed: {why}", short_name(&target)),
                })
            }
            deploy::Outcome::Failed(why) | deploy::Outcome::TimedOut(why) => why,
        };
        let commit = &self.workspace.revision.image(&service.name).commit;
        let Err(failed) = deploy::fail_and_roll_back(
            ecs,
            name,
            &target,
            commit,
            before.as_deref(),
            why,
            &mut seen_events,
            self.options.wait,
            |event| self.progress.line(&format!("{step:<18} event: {event}")),
        )
        .await;
        Err(failed)
    }
}

/// One status line at the bottom of a terminal, redrawn in place, saying
/// what each running step is doing. Off when stderr is not a terminal or in
/// CI, where output stays plain lines; there, a step still running prints a
/// heartbeat line every `heartbeat`, so a long build is never silent.
struct Progress {
    live: bool,
    /// `-q`: no status line, heartbeat or line per finished step; failures still print.
    quiet: bool,
    heartbeat: Duration,
    steps: std::sync::Mutex<BTreeMap<String, Running>>,
}

/// A step under way, as the status line and the heartbeat show it.
struct Running {
    since: Instant,
    status: String,
    last_beat: Instant,
}

/// How often a step still running says so in plain output:
/// `XTASK_HEARTBEAT` (a duration), else every 30 s.
fn heartbeat() -> Duration {
    deploy::duration_from_env("XTASK_HEARTBEAT").filter(|d| !d.is_zero()).unwrap_or(Duration::from_secs(30))
}

/// `2m10s`, `45s`: how long a step has run.
fn elapsed(duration: Duration) -> String {
    let seconds = duration.as_secs();
    if seconds >= 60 {
        format!("{}m{:02}s", seconds / 60, seconds % 60)
    } else {
        format!("{seconds}s")
    }
}

/// What a step is doing while it runs, from its verb.
fn doing(step: &str) -> &'static str {
    match step.split(' ').next().unwrap_or_default() {
        "prebuild" => "running its prebuild",
        "build" => "building",
        "push" => "pushing",
        "locate" => "looking for the image",
        "register" => "registering",
        "deploy" => "deploying",
        "wait" => "waiting for the rollout",
        _ => "running",
    }
}

impl Progress {
    fn new() -> Progress {
        use std::io::IsTerminal;
        Progress {
            live: std::io::stderr().is_terminal() && !crate::ci::active() && !crate::output::quiet(),
            quiet: crate::output::quiet(),
            heartbeat: heartbeat(),
            steps: Default::default(),
        }
    }

    fn start(&self, step: &Step) {
        let now = Instant::now();
        self.steps
            .lock()
            .unwrap()
            .insert(step.to_string(), Running { since: now, status: String::new(), last_beat: now });
    }

    /// How long a running step has run.
    fn age(&self, step: &Step) -> Duration {
        self.steps.lock().unwrap().get(&step.to_string()).map_or(Duration::ZERO, |r| r.since.elapsed())
    }

    fn update(&self, step: &str, status: &str) {
        if let Some(entry) = self.steps.lock().unwrap().get_mut(step) {
            entry.status = status.to_string();
        }
    }

    /// In plain output, a line for each step that has run a heartbeat
    /// longer since it last said anything: `build web  still building (2m10s)`.
    fn beat(&self) {
        if self.live || self.quiet {
            return;
        }
        let mut steps = self.steps.lock().unwrap();
        for (step, running) in steps.iter_mut() {
            if running.last_beat.elapsed() >= self.heartbeat {
                running.last_beat = Instant::now();
                let status =
                    if running.status.is_empty() { String::new() } else { format!(": {}", running.status) };
                println!("{step:<18} still {}{status} ({})", doing(step), elapsed(running.since.elapsed()));
            }
        }
    }

    /// Prints a finished step's line above the status line.
    fn finish(&self, step: &Step, line: &str, failed: bool) {
        self.steps.lock().unwrap().remove(&step.to_string());
        self.erase();
        if failed {
            eprintln!("{line}");
        } else if !self.quiet {
            println!("{line}");
        }
        self.draw();
    }

    /// Prints a line above the status line.
    fn line(&self, line: &str) {
        self.erase();
        println!("{line}");
        self.draw();
    }

    fn erase(&self) {
        if self.live {
            eprint!("\r\x1b[K");
        }
    }

    fn draw(&self) {
        if !self.live {
            return;
        }
        let steps = self.steps.lock().unwrap();
        let parts: Vec<String> = steps
            .iter()
            .map(|(step, running)| {
                let status: String = running.status.chars().take(40).collect();
                let status = if status.is_empty() { String::new() } else { format!(": {status}") };
                format!("{step}{status} ({}s)", running.since.elapsed().as_secs())
            })
            .collect();
        // A line wider than the terminal wraps, and `\r` would then redraw
        // only its tail, leaving the rest behind as garbage lines.
        let width = terminal_width().unwrap_or(80);
        let line: String = parts.join(" | ").chars().take(width.saturating_sub(1)).collect();
        eprint!("\r\x1b[K{line}");
    }
}

/// The width of the terminal stderr is on, from the terminal itself (the
/// shell's `COLUMNS` is not exported to programs, and is stale after a resize).
fn terminal_width() -> Option<usize> {
    // SAFETY: TIOCGWINSZ writes one `winsize` into the struct passed, and
    // fails without writing when stderr is not a terminal.
    let mut size: libc::winsize = unsafe { std::mem::zeroed() };
    let answered = unsafe { libc::ioctl(libc::STDERR_FILENO, libc::TIOCGWINSZ, &mut size) };
    (answered == 0 && size.ws_col > 0).then_some(usize::from(size.ws_col))
}

/// Whether the registry answers and takes the token, by looking up one
/// image (whether it is there does not matter). A failure in passing is
/// tried again twice; each look is bounded by the AWS call timeout.
async fn probe_registry(
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
            Err(_) => last = format!("no answer within {}", deploy::human(limit)),
        }
        if attempt < 3 {
            tokio::time::sleep(jittered(Duration::from_millis(500) * attempt)).await;
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
async fn locate_foreign_images(
    engine: &Engine,
    ecr: &Ecr,
    registry: &str,
    workspace: &Workspace,
    rendered: &[(&Service, Rendered)],
    problems: &mut Vec<String>,
) -> Result<BTreeMap<String, String>> {
    let ours: HashSet<String> =
        rendered.iter().map(|(s, _)| image_reference(registry, s, &workspace.revision)).collect();
    let mut located = BTreeMap::new();
    for (service, outputs) in rendered {
        let Some(text) = &outputs.task_definition else { continue };
        let Ok(json) = serde_json::from_str::<serde_json::Value>(text) else { continue };
        for image in taskdef::images_of(&json) {
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

/// A step under way, answering with its index in the plan.
type RunningStep<'a> = Pin<Box<dyn Future<Output = (usize, Result<Outcome>)> + 'a>>;

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum State {
    Waiting,
    Running,
    Succeeded,
    Failed,
    /// Never started: something it depends on failed.
    Blocked,
}

/// SIGINT (Ctrl-C) and SIGTERM (what CI runners and `kill` send), caught
/// while a plan runs so that it stops between steps and says where it stopped.
struct Interrupt {
    int: tokio::signal::unix::Signal,
    term: tokio::signal::unix::Signal,
}

impl Interrupt {
    fn listen() -> Result<Interrupt> {
        use tokio::signal::unix::{signal, SignalKind};
        Ok(Interrupt {
            int: signal(SignalKind::interrupt()).context("listen for Ctrl-C")?,
            term: signal(SignalKind::terminate()).context("listen for SIGTERM")?,
        })
    }

    /// Waits for either signal; returns its name and the exit code a shell
    /// gives a process it ended (128 + the signal number).
    async fn recv(&mut self) -> (&'static str, u8) {
        tokio::select! {
            _ = self.int.recv() => ("SIGINT", 130),
            _ = self.term.recv() => ("SIGTERM", 143),
        }
    }
}

/// The error an interrupted run ends with: what was done, what was stopped,
/// and what a rerun does.
fn interrupted(plan: &Plan, state: &[State], (signal, code): (&'static str, u8)) -> anyhow::Error {
    let steps = |wanted: State| -> Vec<&Step> {
        plan.nodes.iter().zip(state).filter(|(_, s)| **s == wanted).map(|(n, _)| &n.step).collect()
    };
    let stopped = steps(State::Running);
    let done = steps(State::Succeeded).len();
    let waiting = steps(State::Waiting).len() + steps(State::Blocked).len();
    let list = |steps: &[&Step]| steps.iter().map(|s| s.to_string()).collect::<Vec<_>>().join(", ");
    let mut message = format!("interrupted by {signal}: {done} step{} had finished", plural(done));
    if !stopped.is_empty() {
        message += &format!("; stopped: {}", list(&stopped));
    }
    if waiting > 0 {
        message += &format!("; {waiting} not started");
    }
    let rollouts: Vec<&Step> = stopped.iter().copied().filter(|s| matches!(s, Step::Wait(_))).collect();
    if !rollouts.is_empty() {
        message += &format!(
            ". The rollouts of {} go on in ECS without being watched",
            list(&rollouts).replace("wait ", "")
        );
    }
    message += ". No service was pointed at an image that was not fully pushed; run the same command again: \
                it skips what is done and finishes the rest";
    deploy::Failed { code, message }.into()
}

/// The time now as RFC 3339 in UTC, for the lock's holder line and the history.
pub(crate) fn now_rfc3339() -> String {
    aws_smithy_types::DateTime::from(std::time::SystemTime::now())
        .fmt(aws_smithy_types::date_time::Format::DateTime)
        .unwrap_or_default()
}

/// A time in seconds since 1970 as RFC 3339 in UTC.
pub(crate) fn rfc3339(seconds: i64) -> String {
    aws_smithy_types::DateTime::from_secs(seconds)
        .fmt(aws_smithy_types::date_time::Format::DateTime)
        .unwrap_or_default()
}
