//! What a step hands to the steps that depend on it, passed along the
//! plan's edges by the scheduler: a step reads only what the steps before it
//! in the graph produced, never a shared board.

use std::collections::HashSet;
use std::rc::Rc;

/// One step's output.
pub(crate) enum StepOutput {
    Nothing,
    /// Where this commit's image is already (`exists`, `is in the
    /// registry`), or `None` to build it: a prebuild's finding, which the
    /// build after it reuses instead of asking again.
    Reusable(Option<&'static str>),
    /// An image of this run in the registry (a push or a locate), by its
    /// tagged reference, and the digest and commit a task definition pins.
    Image {
        reference: String,
        digest: String,
        commit: String,
    },
    /// The task definition the service is to run (register; a
    /// `before_deploy` step passes it on).
    TaskDefinition(String),
    /// A deploy: the revision the service is to run, and the deployment it
    /// started (`None` when the service ran that revision already).
    Deployment {
        target: String,
        started: Option<Started>,
    },
}

/// A deployment this run started, and what the service ran before it.
pub(crate) struct Started {
    pub(crate) id: String,
    pub(crate) before: String,
    pub(crate) seen_events: HashSet<String>,
}

/// The outputs of a step's dependencies.
#[derive(Clone, Copy)]
pub(crate) struct Inputs<'a>(pub(crate) &'a [Rc<StepOutput>]);

impl<'a> Inputs<'a> {
    /// What a prebuild found, when the step depends on one.
    pub(crate) fn reusable(self) -> Option<Option<&'static str>> {
        self.0.iter().find_map(|output| match **output {
            StepOutput::Reusable(found) => Some(found),
            _ => None,
        })
    }

    /// The images pushed or located before the step: reference, digest, commit.
    pub(crate) fn images(self) -> impl Iterator<Item = (&'a str, &'a str, &'a str)> {
        self.0.iter().filter_map(|output| match &**output {
            StepOutput::Image { reference, digest, commit } => {
                Some((reference.as_str(), digest.as_str(), commit.as_str()))
            }
            _ => None,
        })
    }

    /// The task definition registered (or found unchanged) before the step.
    pub(crate) fn task_definition(self) -> Option<&'a str> {
        self.0.iter().find_map(|output| match &**output {
            StepOutput::TaskDefinition(arn) => Some(arn.as_str()),
            _ => None,
        })
    }

    /// The deploy before the step: its target and the deployment it started.
    pub(crate) fn deployment(self) -> Option<(&'a str, Option<&'a Started>)> {
        self.0.iter().find_map(|output| match &**output {
            StepOutput::Deployment { target, started } => Some((target.as_str(), started.as_ref())),
            _ => None,
        })
    }
}
