//! What a plan will do, worked out once from the plan and the rendered
//! templates: printed before a release runs and by every `--dry-run`
//! (`Display`), and as one JSON document by `--dry-run --json`
//! (docs/json.md).

use std::collections::BTreeMap;
use std::fmt;

use anyhow::Result;
use serde::Serialize;

use crate::image_ref::ImageRef;
use crate::program::Program;
use crate::report::{say, Reporter};
use crate::workspace::plural;

/// A plan as a user reads it. Field by field, it is the `--json` document.
#[derive(Serialize)]
pub(crate) struct Preview {
    /// The command whose plan this is: `release`, `build`, `push`, `deploy`, `run`, `rollback`.
    #[serde(skip)]
    command: &'static str,
    dry_run: bool,
    env: String,
    commit: String,
    #[serde(skip)]
    short_commit: String,
    /// The git tags on the commit.
    tags: Vec<String>,
    dirty: bool,
    region: String,
    cluster: String,
    registry: String,
    protected: bool,
    services: Vec<String>,
    /// Each service's image for this commit (tagged with the commit that last changed it).
    images: BTreeMap<String, String>,
    /// Steps of a stage may run in parallel; a stage starts when the steps it waits for are done.
    stages: Vec<Vec<PlannedStep>>,
}

#[derive(Serialize)]
struct PlannedStep {
    /// As the plain plan names it: `build api`.
    step: String,
    verb: &'static str,
    service: Option<String>,
    /// The steps it waits for.
    after: Vec<String>,
    /// What it will do, as the plain plan says it.
    detail: String,
}

impl Preview {
    /// The program as a user reads it: every step's detail is its action's
    /// `Display`, the same values the executor runs.
    pub(crate) fn new(command: &'static str, program: &Program<'_>) -> Result<Preview> {
        let workspace = program.workspace;
        let environment = &workspace.environment;
        let plan = &program.plan;
        let mut stages = Vec::new();
        for stage in plan.stages()? {
            let mut steps = Vec::new();
            for i in stage {
                let node = &plan.nodes[i];
                steps.push(PlannedStep {
                    step: node.step.to_string(),
                    verb: node.step.verb(),
                    service: node.step.service().map(str::to_string),
                    after: node.deps.iter().map(|&d| plan.nodes[d].step.to_string()).collect(),
                    detail: program.detail(i).to_string(),
                });
            }
            stages.push(steps);
        }
        let services = program.services();
        Ok(Preview {
            command,
            dry_run: true,
            env: environment.name.clone(),
            commit: workspace.revision.sha.clone(),
            short_commit: workspace.revision.short_sha.clone(),
            tags: workspace.revision.tags.clone(),
            dirty: workspace.revision.dirty,
            region: environment.region.clone(),
            cluster: environment.cluster.clone(),
            protected: environment.protected,
            services: services.iter().map(|s| s.name.clone()).collect(),
            // The images this commit's templates name (a rollback renders none).
            images: program
                .rendered
                .iter()
                .map(|(s, _)| {
                    (s.name.clone(), ImageRef::of(&program.registry, s, &workspace.revision).to_string())
                })
                .collect(),
            stages,
            registry: program.registry.clone(),
        })
    }

    /// What `--dry-run` prints: the plan (as JSON with `--json`), and that
    /// nothing changed.
    pub(crate) fn print_dry_run(&self, out: &Reporter, json: bool) {
        if json {
            crate::json::print(out, self.command, self);
        } else {
            out.text(self);
            say!(out, "dry run: nothing was changed");
        }
    }
}

impl fmt::Display for Preview {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let n = self.services.len();
        writeln!(
            f,
            "{} plan: env {}, commit {}{}{}, {n} service{}: {}",
            self.command,
            self.env,
            self.short_commit,
            if self.tags.is_empty() { String::new() } else { format!(" (tags {})", self.tags.join(", ")) },
            if self.dirty { " (dirty tree)" } else { "" },
            plural(n),
            self.services.join(", ")
        )?;
        writeln!(
            f,
            "region {}, cluster {}, registry {}{}",
            self.region,
            self.cluster,
            self.registry,
            if self.protected { ", protected" } else { "" }
        )?;
        let width = self.stages.iter().flatten().map(|s| s.step.len()).max().unwrap_or(0);
        for (number, stage) in self.stages.iter().enumerate() {
            let parallel =
                if stage.len() > 1 { format!(" ({} in parallel)", stage.len()) } else { String::new() };
            writeln!(f, "stage {}{parallel}", number + 1)?;
            for step in stage {
                writeln!(f, "  {:width$}  {}", step.step, step.detail)?;
            }
        }
        Ok(())
    }
}
