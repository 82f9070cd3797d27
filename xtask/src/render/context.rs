//! What templates see: the environment, the values, git, the images, and
//! the service being rendered.

use std::collections::BTreeMap;

use serde::Serialize;

use super::EnvVar;
use crate::git::Revision;

#[derive(Serialize, Clone)]
pub(super) struct BaseContext {
    pub(super) environment: EnvironmentView,
    pub(super) values: toml::Table,
    pub(super) git: Revision,
    pub(super) images: BTreeMap<String, String>,
}

#[derive(Serialize, Clone)]
pub(super) struct EnvironmentView {
    pub(super) name: String,
    pub(super) region: String,
    pub(super) account_id: String,
    pub(super) cluster: String,
    pub(super) registry: String,
}

#[derive(Serialize)]
pub(super) struct ServiceView<'a> {
    pub(super) name: &'a str,
    pub(super) repository: &'a str,
    pub(super) platform: &'a str,
    pub(super) os: &'a str,
    pub(super) arch: &'a str,
    pub(super) ecs_service: &'a str,
    /// The ECS cluster it runs in (its own `cluster`, else the environment's).
    pub(super) cluster: &'a str,
    /// The commit the service's image is built from.
    pub(super) commit: &'a str,
    pub(super) image_tag: &'a str,
}

#[derive(Serialize)]
pub(super) struct TemplateContext<'a> {
    #[serde(flatten)]
    pub(super) base: &'a BaseContext,
    pub(super) service: ServiceView<'a>,
    pub(super) image: &'a str,
    pub(super) target: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(super) service_env: Option<Vec<EnvVar>>,
}
