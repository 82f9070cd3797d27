//! A service's log lines in CloudWatch Logs, found where its task
//! definition sends them (the `awslogs` driver's group, region and stream
//! prefix), so nothing is configured twice. Streams of the awslogs driver
//! are named `<prefix>/<container>/<task id>`.

use anyhow::{bail, Result};
use serde_json::Value;

use crate::aws::{self, aws_error};

/// Where one container of a task definition sends its output.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Source {
    pub(crate) container: String,
    pub(crate) group: String,
    pub(crate) region: Option<String>,
    pub(crate) stream_prefix: String,
}

/// One log line, with where it came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Line {
    /// Milliseconds since 1970.
    pub(crate) timestamp: i64,
    pub(crate) task: String,
    pub(crate) container: String,
    pub(crate) message: String,
    /// CloudWatch's id of the event, to skip it when a later read returns it again.
    pub(crate) id: String,
}

impl Line {
    /// `2026-11-29T15:42:43Z 1a2b3c4d api | the message`.
    pub(crate) fn shown(&self) -> String {
        let time = aws_smithy_types::DateTime::from_millis(self.timestamp)
            .fmt(aws_smithy_types::date_time::Format::DateTime)
            .unwrap_or_default();
        let time = time.split('.').next().unwrap_or(&time).trim_end_matches('Z');
        let task: String = self.task.chars().take(8).collect();
        format!("{time}Z {task} {} | {}", self.container, self.message.trim_end())
    }
}

/// The awslogs sources of a task definition's containers; an error naming
/// what to set when none sends its output to CloudWatch Logs.
pub(crate) fn sources(task_definition: &Value, revision: &str) -> Result<Vec<Source>> {
    let mut found = Vec::new();
    for container in task_definition["containerDefinitions"].as_array().into_iter().flatten() {
        let config = &container["logConfiguration"];
        if config["logDriver"] != "awslogs" {
            continue;
        }
        let option = |key: &str| config["options"][key].as_str().map(str::to_string);
        let (Some(group), Some(stream_prefix)) = (option("awslogs-group"), option("awslogs-stream-prefix"))
        else {
            continue;
        };
        found.push(Source {
            container: container["name"].as_str().unwrap_or_default().to_string(),
            group,
            region: option("awslogs-region"),
            stream_prefix,
        });
    }
    if found.is_empty() {
        bail!(
            "{revision} sends no container's output to CloudWatch Logs: give a container a `logConfiguration` \
             with `\"logDriver\": \"awslogs\"` and the options `awslogs-group`, `awslogs-region` and \
             `awslogs-stream-prefix` (Fargate needs them anyway to keep any output)"
        );
    }
    Ok(found)
}

/// How many pages one read follows at most (each holds up to 10,000 lines).
const MAX_PAGES: usize = 100;

/// Whether the answer's token moves on (a server that repeats its token would loop).
fn next_differs(
    answer: &aws_sdk_cloudwatchlogs::operation::filter_log_events::FilterLogEventsOutput,
    last: &Option<String>,
) -> bool {
    answer.next_token() != last.as_deref()
}

pub(crate) struct Logs {
    client: aws_sdk_cloudwatchlogs::Client,
    endpoint: String,
}

impl Logs {
    pub(crate) async fn connect(region: &str) -> Logs {
        let config = aws::config(region).await;
        Logs {
            client: aws_sdk_cloudwatchlogs::Client::new(&config),
            endpoint: aws::endpoint(&config, "CloudWatch Logs", &format!("logs.{region}.amazonaws.com")),
        }
    }

    /// The source's lines from `since` (milliseconds since 1970) on, oldest
    /// first; with `task`, only that task's.
    pub(crate) async fn lines(&self, source: &Source, since: i64, task: Option<&str>) -> Result<Vec<Line>> {
        let prefix = format!("{}/{}/{}", source.stream_prefix, source.container, task.unwrap_or_default());
        let mut lines = Vec::new();
        let mut next: Option<String> = None;
        let (mut pages, mut last_token) = (0, None::<String>);
        loop {
            let answer = self
                .client
                .filter_log_events()
                .log_group_name(&source.group)
                .log_stream_name_prefix(&prefix)
                .start_time(since)
                .set_next_token(next.take())
                .send()
                .await;
            let answer = match answer {
                Ok(answer) => answer,
                Err(e) => {
                    use aws_sdk_cloudwatchlogs::error::ProvideErrorMetadata;
                    if e.code() == Some("ResourceNotFoundException") {
                        bail!(
                            "the log group {} does not exist (the awslogs-group of container {}): create it, or \
                             set `\"awslogs-create-group\": \"true\"` in the container's logConfiguration options \
                             (the task role then needs logs:CreateLogGroup)",
                            source.group,
                            source.container
                        );
                    }
                    return Err(aws_error(
                        e,
                        &format!("read the log group {}", source.group),
                        &self.endpoint,
                    ));
                }
            };
            for event in answer.events() {
                let stream = event.log_stream_name().unwrap_or_default();
                // CloudWatch applies the prefix itself; moto (the tests' stand-in) does not.
                if !stream.starts_with(&prefix) {
                    continue;
                }
                lines.push(Line {
                    timestamp: event.timestamp().unwrap_or_default(),
                    task: stream.rsplit('/').next().unwrap_or_default().to_string(),
                    container: source.container.clone(),
                    message: event.message().unwrap_or_default().to_string(),
                    id: event.event_id().unwrap_or_default().to_string(),
                });
            }
            // A page may be empty while CloudWatch is still searching: follow the
            // token, within a bound, rather than stop at the first empty page.
            pages += 1;
            match answer.next_token() {
                Some(token) if pages < MAX_PAGES && next_differs(&answer, &last_token) => {
                    last_token = Some(token.to_string());
                    next = Some(token.to_string());
                }
                _ => break,
            }
        }
        lines.sort_by_key(|l| l.timestamp);
        Ok(lines)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sources_come_from_the_awslogs_containers() {
        let definition = serde_json::json!({ "containerDefinitions": [
            { "name": "api", "logConfiguration": { "logDriver": "awslogs", "options": {
                "awslogs-group": "/ecs/demo/api", "awslogs-region": "eu-west-1", "awslogs-stream-prefix": "api" } } },
            { "name": "xray", "logConfiguration": { "logDriver": "json-file" } }
        ] });
        assert_eq!(
            sources(&definition, "demo-api:3").unwrap(),
            [Source {
                container: "api".into(),
                group: "/ecs/demo/api".into(),
                region: Some("eu-west-1".into()),
                stream_prefix: "api".into()
            }]
        );
        let none = serde_json::json!({ "containerDefinitions": [{ "name": "api" }] });
        let error = sources(&none, "demo-api:3").unwrap_err().to_string();
        assert!(
            error.starts_with("demo-api:3 sends no container's output to CloudWatch Logs: give a container")
        );
    }

    #[test]
    fn a_line_shows_its_time_task_and_container() {
        let line = Line {
            timestamp: 1_764_431_000_123,
            task: "0123456789abcdef".into(),
            container: "api".into(),
            message: "listening on :8000\n".into(),
            id: "1".into(),
        };
        assert_eq!(line.shown(), "2025-11-29T15:43:20Z 01234567 api | listening on :8000");
    }
}
