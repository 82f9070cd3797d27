//! ECS: task definitions read and registered as the JSON the templates
//! render, services described, updated and tagged with their last good
//! release.
//!
//! The SDK's task-definition types have no serde, and converting the JSON
//! field by field would drop whatever the conversion forgot. So a definition
//! is registered by sending the rendered JSON as the request body, and read
//! back as the raw JSON of the response; everything else uses the SDK's types.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use anyhow::{anyhow, bail, Context as _, Result};
use aws_sdk_ecs::config::interceptors::AfterDeserializationInterceptorContextRef;
use aws_sdk_ecs::config::{ConfigBag, Intercept, RuntimeComponents};
use aws_sdk_ecs::error::{BoxError, ProvideErrorMetadata};
use aws_sdk_ecs::types::{
    ContainerDefinition, DesiredStatus, SortOrder, TaskDefinitionField, TaskDefinitionStatus,
};
use aws_smithy_types::body::SdkBody;
use serde_json::Value;

use crate::aws::{self, aws_error};

/// Service tags that record the last release that came up healthy, and the
/// one before it: what `rollback` and a failed deploy go back to.
pub(crate) const LAST_GOOD_TAG: &str = "xtask:last-good";
pub(crate) const LAST_GOOD_COMMIT_TAG: &str = "xtask:last-good-commit";
pub(crate) const PREVIOUS_GOOD_TAG: &str = "xtask:previous-good";
pub(crate) const PREVIOUS_GOOD_COMMIT_TAG: &str = "xtask:previous-good-commit";

pub(crate) struct Ecs {
    client: aws_sdk_ecs::Client,
    pub(crate) cluster: String,
    /// Where the calls go, for errors that say so.
    endpoint: String,
}

impl Ecs {
    pub(crate) async fn connect(region: &str, cluster: &str) -> Ecs {
        let config = aws::config(region).await;
        Ecs {
            client: aws_sdk_ecs::Client::new(&config),
            cluster: cluster.to_string(),
            endpoint: aws::endpoint(&config, "ECS", &format!("ecs.{region}.amazonaws.com")),
        }
    }

    /// The same session, for services of another cluster.
    pub(crate) fn in_cluster(&self, cluster: &str) -> Ecs {
        Ecs { client: self.client.clone(), cluster: cluster.to_string(), endpoint: self.endpoint.clone() }
    }

    /// The latest ACTIVE revision of a family (or the given `family:revision`
    /// or ARN) as ECS returns it, or `None` when there is none. Its tags,
    /// which ECS returns only when asked and beside the definition, are put
    /// under `tags` as RegisterTaskDefinition takes them, so that a tag
    /// added or removed in a template counts as a change.
    pub(crate) async fn task_definition(&self, name: &str) -> Result<Option<Value>> {
        let body = RawBody::default();
        let result = self
            .client
            .describe_task_definition()
            .task_definition(name)
            .include(TaskDefinitionField::Tags)
            .customize()
            .interceptor(body.clone())
            .send()
            .await;
        match result {
            Ok(_) => {
                let mut json = body.json().with_context(|| format!("read task definition {name}"))?;
                let tags = json.get_mut("tags").map(Value::take);
                let mut definition = json.get_mut("taskDefinition").map(Value::take);
                if let (Some(Value::Object(definition)), Some(tags)) = (&mut definition, tags) {
                    definition.insert("tags".to_string(), tags);
                }
                Ok(definition)
            }
            // ECS answers an unknown family with a ClientException, not a "not found".
            Err(e) if e.code() == Some("ClientException") => Ok(None),
            Err(e) => Err(aws_error(e, &format!("describe task definition {name}"), &self.endpoint)),
        }
    }

    /// Registers the definition exactly as given; returns the new revision's ARN.
    pub(crate) async fn register(&self, family: &str, json: &Value) -> Result<String> {
        let body = serde_json::to_vec(json).context("serialize the task definition")?;
        let output = self
            .client
            .register_task_definition()
            // Placeholders that satisfy the builder; the body below replaces the whole request.
            .family(family)
            .container_definitions(ContainerDefinition::builder().build())
            .customize()
            .mutate_request(move |request| {
                request.headers_mut().insert("content-length", body.len().to_string());
                *request.body_mut() = SdkBody::from(body.clone());
            })
            .send()
            .await
            .map_err(|e| {
                if e.code() == Some("ClientException") || e.code() == Some("InvalidParameterException") {
                    anyhow!(
                        "ECS refused task definition {family}: {}; fix the template and rerun",
                        e.message().unwrap_or("no reason given")
                    )
                } else {
                    aws_error(e, &format!("register task definition {family}"), &self.endpoint)
                }
            })?;
        output
            .task_definition()
            .and_then(|t| t.task_definition_arn())
            .map(str::to_string)
            .context("ECS registered the task definition but returned no ARN")
    }

    /// ARNs of a family's ACTIVE revisions, newest first.
    pub(crate) async fn revisions(&self, family: &str) -> Result<Vec<String>> {
        let mut arns = Vec::new();
        let mut pages = self
            .client
            .list_task_definitions()
            .family_prefix(family)
            .status(TaskDefinitionStatus::Active)
            .sort(SortOrder::Desc)
            .into_paginator()
            .send();
        while let Some(page) = pages.next().await {
            let page =
                page.map_err(|e| aws_error(e, &format!("list revisions of {family}"), &self.endpoint))?;
            // A prefix also matches longer family names.
            arns.extend(
                page.task_definition_arns()
                    .iter()
                    .filter(|arn| {
                        crate::taskdef::short_name(arn).rsplit_once(':').map(|(f, _)| f) == Some(family)
                    })
                    .cloned(),
            );
        }
        // Newest first, whatever order the endpoint kept (moto ignores `sort`).
        let number = |arn: &String| arn.rsplit(':').next().and_then(|n| n.parse::<u64>().ok()).unwrap_or(0);
        arns.sort_by_key(|arn| std::cmp::Reverse(number(arn)));
        Ok(arns)
    }

    /// The cluster's status (`ACTIVE`, `PROVISIONING`...), or `None` when
    /// there is no such cluster.
    pub(crate) async fn cluster(&self) -> Result<Option<String>> {
        let output =
            self.client.describe_clusters().clusters(&self.cluster).send().await.map_err(|e| {
                aws_error(e, &format!("describe ECS cluster {}", self.cluster), &self.endpoint)
            })?;
        Ok(output
            .clusters()
            .iter()
            .find(|c| c.status() != Some("INACTIVE"))
            .map(|c| c.status().unwrap_or("?").to_string()))
    }

    pub(crate) async fn service(&self, name: &str) -> Result<ServiceState> {
        Ok(state_of(&self.described(name).await?))
    }

    /// The service as ECS describes it (its active one), or an error saying
    /// it does not exist and how to create it.
    async fn described(&self, name: &str) -> Result<aws_sdk_ecs::types::Service> {
        let output = self
            .client
            .describe_services()
            .cluster(&self.cluster)
            .services(name)
            .send()
            .await
            .map_err(|e| self.service_error(e, name, "describe"))?;
        let Some(service) = output.services().iter().find(|s| s.status() != Some("INACTIVE")) else {
            bail!(
                "ECS service {name} does not exist in cluster {}; create it with your infrastructure code \
                 (Terraform, CloudFormation, CDK), or set `ecs_service` in the service's service.toml to its name",
                self.cluster
            );
        };
        Ok(service.clone())
    }

    /// Points the service at a task definition; returns the service as ECS
    /// answered the update, whose PRIMARY deployment is the one it started.
    pub(crate) async fn update(
        &self,
        service: &str,
        task_definition: &str,
        force: bool,
    ) -> Result<ServiceState> {
        let output = self
            .client
            .update_service()
            .cluster(&self.cluster)
            .service(service)
            .task_definition(task_definition)
            .force_new_deployment(force)
            .send()
            .await
            .map_err(|e| self.service_error(e, service, "update"))?;
        output.service().map(state_of).context("ECS answered the update without the service")
    }

    pub(crate) async fn tags(&self, service_arn: &str) -> Result<BTreeMap<String, String>> {
        let output = self
            .client
            .list_tags_for_resource()
            .resource_arn(service_arn)
            .send()
            .await
            .map_err(|e| aws_error(e, &format!("read the tags of {service_arn}"), &self.endpoint))?;
        Ok(output
            .tags()
            .iter()
            .filter_map(|t| Some((t.key()?.to_string(), t.value()?.to_string())))
            .collect())
    }

    pub(crate) async fn tag(&self, service_arn: &str, tags: &[(&str, &str)]) -> Result<()> {
        let tags = tags
            .iter()
            .map(|(key, value)| aws_sdk_ecs::types::Tag::builder().key(*key).value(*value).build())
            .collect();
        self.client
            .tag_resource()
            .resource_arn(service_arn)
            .set_tags(Some(tags))
            .send()
            .await
            .map_err(|e| aws_error(e, &format!("record the release on {service_arn}"), &self.endpoint))?;
        Ok(())
    }

    pub(crate) async fn untag(&self, service_arn: &str, keys: &[String]) -> Result<()> {
        self.client
            .untag_resource()
            .resource_arn(service_arn)
            .set_tag_keys(Some(keys.to_vec()))
            .send()
            .await
            .map_err(|e| {
                aws_error(e, &format!("drop old release records from {service_arn}"), &self.endpoint)
            })?;
        Ok(())
    }

    /// Why the service's recently stopped tasks stopped, one line per task.
    pub(crate) async fn stopped_reasons(&self, service: &str) -> Result<Vec<String>> {
        let tasks = self.tasks_of(service, DesiredStatus::Stopped, Some(10)).await?;
        Ok(tasks
            .iter()
            .map(|task| {
                let id = task.task_arn().unwrap_or_default().rsplit('/').next().unwrap_or_default();
                let mut line = format!("task {id}: {}", task.stopped_reason().unwrap_or("stopped"));
                for container in task.containers() {
                    if let Some(reason) = container.reason() {
                        line += &format!("; {}: {reason}", container.name().unwrap_or("container"));
                    }
                }
                line
            })
            .collect())
    }

    /// The service's tasks of a desired status (at most `limit`), as ECS describes them.
    pub(crate) async fn tasks_of(
        &self,
        service: &str,
        status: DesiredStatus,
        limit: Option<i32>,
    ) -> Result<Vec<aws_sdk_ecs::types::Task>> {
        let which = status.as_str().to_ascii_lowercase();
        let listed = self
            .client
            .list_tasks()
            .cluster(&self.cluster)
            .service_name(service)
            .desired_status(status)
            .set_max_results(limit)
            .send()
            .await
            .map_err(|e| aws_error(e, &format!("list the {which} tasks of {service}"), &self.endpoint))?;
        if listed.task_arns().is_empty() {
            return Ok(Vec::new());
        }
        let described = self
            .client
            .describe_tasks()
            .cluster(&self.cluster)
            .set_tasks(Some(listed.task_arns().to_vec()))
            .send()
            .await
            .map_err(|e| aws_error(e, &format!("describe the {which} tasks of {service}"), &self.endpoint))?;
        Ok(described.tasks().to_vec())
    }

    fn service_error<E, R>(
        &self,
        e: aws_sdk_ecs::error::SdkError<E, R>,
        service: &str,
        verb: &str,
    ) -> anyhow::Error
    where
        E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
        R: std::fmt::Debug + Send + Sync + 'static,
    {
        match e.code() {
            Some("ClusterNotFoundException") => anyhow!(
                "ECS cluster {} does not exist (in this account and region); check `cluster` in the environment \
                 file (or the service's service.toml), the region, and AWS_PROFILE",
                self.cluster
            ),
            Some("ServiceNotFoundException") | Some("ServiceNotActiveException") => anyhow!(
                "ECS service {service} does not exist in cluster {}; create it with your infrastructure code, \
                 or set `ecs_service` in the service's service.toml to its name",
                self.cluster
            ),
            _ => aws_error(e, &format!("{verb} ECS service {service}"), &self.endpoint),
        }
    }
}

/// Keeps the raw body of the response to one call.
#[derive(Clone, Default, Debug)]
struct RawBody(Arc<Mutex<Option<bytes::Bytes>>>);

impl RawBody {
    fn json(&self) -> Result<Value> {
        let bytes = self.0.lock().unwrap().take().context("ECS returned no body")?;
        serde_json::from_slice(&bytes).context("ECS returned a body that is not JSON")
    }
}

impl Intercept for RawBody {
    fn name(&self) -> &'static str {
        "RawBody"
    }

    fn read_after_deserialization(
        &self,
        context: &AfterDeserializationInterceptorContextRef<'_>,
        _: &RuntimeComponents,
        _: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        if let Some(bytes) = context.response().body().bytes() {
            *self.0.lock().unwrap() = Some(bytes::Bytes::copy_from_slice(bytes));
        }
        Ok(())
    }
}

pub(crate) mod exec;
mod state;
pub(crate) mod tasks;

use state::state_of;
#[cfg(test)]
pub(crate) use state::DeploymentState;
#[cfg(test)]
pub(crate) use state::Event;
pub(crate) use state::ServiceState;
