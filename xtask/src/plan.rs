//! The release as a typed task graph: steps, the steps each depends on, a
//! stable order, and cycle detection that reports the path.
//!
//! Planning is pure: it reads the project model and returns data. Executors
//! walk [`Plan::stages`]; `--dry-run` prints them.

use std::collections::BTreeSet;
use std::fmt;

use anyhow::{bail, Result};

use crate::project::{Project, Service};

#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum Step {
    /// Run the service's declared host command before its image build.
    Prebuild(String),
    /// Build the service's image, tagged with the commit.
    Build(String),
    /// Get a registry token, once per run, refreshed as it expires.
    RegistryAuth,
    /// Create the image repository if it is missing.
    EnsureRepository(String),
    /// Push the image unless the registry has the tag already.
    Push(String),
    /// Find the commit's image in the registry (a deploy that pushes nothing).
    Locate(String),
    /// Register the task definition unless the latest revision is identical.
    Register(String),
    /// Run the service's `before_deploy` command as a one-off task of the
    /// registered task definition; a failure stops the deploy.
    BeforeDeploy(String),
    /// Run a one-off task (`cargo xtask run`).
    RunTask(String),
    /// Point the ECS service at the new revision.
    Deploy(String),
    /// Wait until the deployment is stable, or roll back.
    Wait(String),
}

impl Step {
    pub(crate) fn verb(&self) -> &'static str {
        match self {
            Step::Prebuild(_) => "prebuild",
            Step::Build(_) => "build",
            Step::RegistryAuth => "registry-auth",
            Step::EnsureRepository(_) => "ensure-repo",
            Step::Push(_) => "push",
            Step::Locate(_) => "locate",
            Step::Register(_) => "register",
            Step::BeforeDeploy(_) => "before-deploy",
            Step::RunTask(_) => "run",
            Step::Deploy(_) => "deploy",
            Step::Wait(_) => "wait",
        }
    }

    /// Whether a step that did its work changed something outside this
    /// process; a run where none did had nothing to do.
    pub(crate) fn changes_something(&self) -> bool {
        !matches!(self, Step::RegistryAuth | Step::Locate(_))
    }

    pub(crate) fn service(&self) -> Option<&str> {
        match self {
            Step::RegistryAuth => None,
            Step::Prebuild(s)
            | Step::Build(s)
            | Step::EnsureRepository(s)
            | Step::Push(s)
            | Step::Locate(s)
            | Step::Register(s)
            | Step::BeforeDeploy(s)
            | Step::RunTask(s)
            | Step::Deploy(s)
            | Step::Wait(s) => Some(s),
        }
    }
}

impl fmt::Display for Step {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.service() {
            Some(service) => write!(f, "{} {service}", self.verb()),
            None => f.write_str(self.verb()),
        }
    }
}

#[derive(Debug, Clone)]
pub(crate) struct Node {
    pub(crate) step: Step,
    /// Indices of the nodes this one waits for.
    pub(crate) deps: Vec<usize>,
}

#[derive(Debug, Default, Clone)]
pub(crate) struct Plan {
    pub(crate) nodes: Vec<Node>,
}

impl Plan {
    /// Adds a step once; asking for it again returns the same node.
    pub(crate) fn add(&mut self, step: Step, deps: &[usize]) -> usize {
        if let Some(i) = self.index(&step) {
            return i;
        }
        self.nodes.push(Node { step, deps: deps.to_vec() });
        self.nodes.len() - 1
    }

    pub(crate) fn index(&self, step: &Step) -> Option<usize> {
        self.nodes.iter().position(|n| &n.step == step)
    }

    pub(crate) fn depend(&mut self, node: usize, on: usize) {
        if !self.nodes[node].deps.contains(&on) {
            self.nodes[node].deps.push(on);
        }
    }

    /// Groups the steps into stages: every step runs after all of its
    /// dependencies, which sit in earlier stages, and the steps of one stage
    /// are independent of each other. Within a stage, steps keep the order in
    /// which they were added, so the output is stable.
    ///
    /// A cycle is an error that spells out its path.
    pub(crate) fn stages(&self) -> Result<Vec<Vec<usize>>> {
        if let Some(cycle) = self.find_cycle() {
            let path: Vec<String> = cycle.iter().map(|&i| self.nodes[i].step.to_string()).collect();
            bail!("dependency cycle: {}; check `after` in the services' service.toml", path.join(" -> "));
        }
        let mut depth = vec![None::<usize>; self.nodes.len()];
        fn depth_of(plan: &Plan, i: usize, depth: &mut Vec<Option<usize>>) -> usize {
            if let Some(d) = depth[i] {
                return d;
            }
            let d = plan.nodes[i].deps.iter().map(|&dep| depth_of(plan, dep, depth) + 1).max().unwrap_or(0);
            depth[i] = Some(d);
            d
        }
        let mut stages: Vec<Vec<usize>> = Vec::new();
        for i in 0..self.nodes.len() {
            let d = depth_of(self, i, &mut depth);
            if stages.len() <= d {
                stages.resize(d + 1, Vec::new());
            }
            stages[d].push(i);
        }
        Ok(stages)
    }

    /// A cycle as the list of nodes along it, the first repeated at the end.
    fn find_cycle(&self) -> Option<Vec<usize>> {
        #[derive(Clone, Copy, PartialEq)]
        enum Mark {
            New,
            OnPath,
            Done,
        }
        fn visit(plan: &Plan, i: usize, marks: &mut [Mark], path: &mut Vec<usize>) -> Option<Vec<usize>> {
            match marks[i] {
                Mark::Done => return None,
                Mark::OnPath => {
                    let start = path.iter().position(|&p| p == i).unwrap();
                    let mut cycle = path[start..].to_vec();
                    cycle.push(i);
                    return Some(cycle);
                }
                Mark::New => {}
            }
            marks[i] = Mark::OnPath;
            path.push(i);
            for &dep in &plan.nodes[i].deps {
                if let Some(cycle) = visit(plan, dep, marks, path) {
                    return Some(cycle);
                }
            }
            path.pop();
            marks[i] = Mark::Done;
            None
        }
        let mut marks = vec![Mark::New; self.nodes.len()];
        (0..self.nodes.len()).find_map(|i| visit(self, i, &mut marks, &mut Vec::new()))
    }
}

/// The services a selection needs: the chosen ones and, transitively, the
/// services they are built after. Returned in project order.
pub(crate) fn with_build_dependencies<'p>(project: &'p Project, chosen: &[&'p Service]) -> Vec<&'p Service> {
    let mut needed: BTreeSet<&str> = BTreeSet::new();
    let mut queue: Vec<&str> = chosen.iter().map(|s| s.name.as_str()).collect();
    while let Some(name) = queue.pop() {
        if needed.insert(name) {
            if let Some(service) = project.service(name) {
                queue.extend(service.after.iter().map(String::as_str));
            }
        }
    }
    project.services.iter().filter(|s| needed.contains(s.name.as_str())).collect()
}

/// The graph that builds the images of `services` (as returned by
/// [`with_build_dependencies`]).
pub(crate) fn build(services: &[&Service]) -> Plan {
    let mut plan = Plan::default();
    add_builds(&mut plan, services);
    plan
}

/// The graph that builds and pushes the images of `services`.
pub(crate) fn push(services: &[&Service]) -> Plan {
    let mut plan = build(services);
    add_pushes(&mut plan, services);
    plan
}

/// The graph of a release of `services` (as returned by
/// [`with_build_dependencies`]); `deployable` are those chosen by the user,
/// which are the only ones registered and deployed.
pub(crate) fn release(services: &[&Service], deployable: &[&Service]) -> Plan {
    let mut plan = Plan::default();
    add_builds(&mut plan, services);
    add_pushes(&mut plan, services);
    add_deploys(&mut plan, deployable, |service| Step::Push(service.name.clone()));
    plan
}

/// A rollback: the service is updated to a revision ECS has already, and
/// followed until its rollout ends.
pub(crate) fn rollback(service: &Service) -> Plan {
    let mut plan = Plan::default();
    let deploy = plan.add(Step::Deploy(service.name.clone()), &[]);
    plan.add(Step::Wait(service.name.clone()), &[deploy]);
    plan
}

/// A one-off task of the service: of the revision it runs (`current`), or
/// of this commit's task definition, registered first as a deploy would.
pub(crate) fn one_off(service: &Service, current: bool) -> Plan {
    let mut plan = Plan::default();
    let name = service.name.clone();
    if current {
        plan.add(Step::RunTask(name), &[]);
        return plan;
    }
    let auth = plan.add(Step::RegistryAuth, &[]);
    let locate = plan.add(Step::Locate(name.clone()), &[auth]);
    let register = plan.add(Step::Register(name.clone()), &[locate]);
    plan.add(Step::RunTask(name), &[register]);
    plan
}

/// The graph of a deploy of images pushed before: each service's image is
/// looked up in the registry, then registered, deployed and waited for.
pub(crate) fn deploy(services: &[&Service]) -> Plan {
    let mut plan = Plan::default();
    let auth = plan.add(Step::RegistryAuth, &[]);
    for service in services.iter().filter(|s| s.task_definition_template.is_some()) {
        plan.add(Step::Locate(service.name.clone()), &[auth]);
    }
    add_deploys(&mut plan, services, |service| Step::Locate(service.name.clone()));
    plan
}

/// Register, deploy and wait for each service with a task definition, the
/// register step after its render step and after `image_ready`.
fn add_deploys(plan: &mut Plan, services: &[&Service], image_ready: impl Fn(&Service) -> Step) {
    for service in services {
        if service.task_definition_template.is_none() {
            continue;
        }
        let ready = plan.index(&image_ready(service)).unwrap();
        let register = plan.add(Step::Register(service.name.clone()), &[ready]);
        // Migrations run on the new task definition before any task of it serves.
        let before = match service.before_deploy {
            Some(_) => plan.add(Step::BeforeDeploy(service.name.clone()), &[register]),
            None => register,
        };
        let deploy = plan.add(Step::Deploy(service.name.clone()), &[before]);
        plan.add(Step::Wait(service.name.clone()), &[deploy]);
    }
}

/// Host prebuild steps, then image builds, each after its prebuild and after
/// the builds of the images it is built `FROM`.
fn add_builds(plan: &mut Plan, services: &[&Service]) {
    for service in services {
        if service.prebuild.is_some() {
            plan.add(Step::Prebuild(service.name.clone()), &[]);
        }
    }
    for service in services {
        let build = plan.add(Step::Build(service.name.clone()), &[]);
        if let Some(prebuild) = plan.index(&Step::Prebuild(service.name.clone())) {
            plan.depend(build, prebuild);
        }
    }
    // Edges between builds are added once every build node exists, so a
    // service may name one that sorts after it.
    for service in services {
        let build = plan.index(&Step::Build(service.name.clone())).unwrap();
        for base in &service.after {
            if let Some(base_build) = plan.index(&Step::Build(base.clone())) {
                plan.depend(build, base_build);
            }
        }
    }
}

/// One registry token, then per service: its repository, and the push, which
/// can only follow the build: pushing an image never built is impossible.
fn add_pushes(plan: &mut Plan, services: &[&Service]) {
    let auth = plan.add(Step::RegistryAuth, &[]);
    for service in services {
        let ensure = plan.add(Step::EnsureRepository(service.name.clone()), &[auth]);
        let build = plan.index(&Step::Build(service.name.clone())).unwrap();
        plan.add(Step::Push(service.name.clone()), &[build, ensure]);
    }
}

#[cfg(test)]
pub(crate) mod tests;
