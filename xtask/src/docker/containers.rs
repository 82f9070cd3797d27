//! Running containers as `up` watches them: their state, health check and
//! published ports, and their last log lines when one fails.

use anyhow::{Context, Result};
use futures_util::StreamExt;

use super::Engine;

/// A container as `docker inspect` describes it, reduced to what `up` reports.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Container {
    /// The compose service it runs, else its own name.
    pub(crate) service: String,
    /// `created`, `running`, `restarting`, `exited`...
    pub(crate) state: String,
    pub(crate) exit_code: i64,
    /// `starting`, `healthy`, `unhealthy`; `None` without a health check.
    pub(crate) health: Option<String>,
    /// Published ports: (port on this machine, port in the container).
    pub(crate) ports: Vec<(u16, u16)>,
}

impl Engine {
    pub(crate) async fn container(&self, id: &str) -> Result<Container> {
        let inspected = self
            .docker
            .inspect_container(id, None)
            .await
            .with_context(|| format!("inspect container {id}"))?;
        // Read through JSON: the field names are Docker's own, and the stub
        // types' enums add nothing here.
        Ok(from_inspect(&serde_json::to_value(&inspected)?, id))
    }

    /// The last `n` lines the container wrote, stdout and stderr together.
    pub(crate) async fn last_log_lines(&self, id: &str, n: usize) -> Result<Vec<String>> {
        let options = bollard::query_parameters::LogsOptions {
            stdout: true,
            stderr: true,
            tail: n.to_string(),
            ..Default::default()
        };
        let mut stream = self.docker.logs(id, Some(options));
        let mut text = String::new();
        while let Some(chunk) = stream.next().await {
            text += &chunk.with_context(|| format!("read the logs of container {id}"))?.to_string();
        }
        Ok(text.lines().map(str::to_string).collect())
    }
}

fn from_inspect(json: &serde_json::Value, id: &str) -> Container {
    let text = |value: &serde_json::Value| value.as_str().unwrap_or_default().to_string();
    let service = json["Config"]["Labels"]["com.docker.compose.service"]
        .as_str()
        .map(str::to_string)
        .unwrap_or_else(|| text(&json["Name"]).trim_start_matches('/').to_string());
    let health = json["State"]["Health"]["Status"].as_str().filter(|h| !h.is_empty() && *h != "none");
    let mut ports: Vec<(u16, u16)> = json["NetworkSettings"]["Ports"]
        .as_object()
        .into_iter()
        .flatten()
        .filter_map(|(inside, bindings)| {
            let inside: u16 = inside.split('/').next()?.parse().ok()?;
            let outside: u16 = bindings.as_array()?.first()?["HostPort"].as_str()?.parse().ok()?;
            Some((outside, inside))
        })
        .collect();
    ports.sort();
    Container {
        service: if service.is_empty() { id.to_string() } else { service },
        state: text(&json["State"]["Status"]),
        exit_code: json["State"]["ExitCode"].as_i64().unwrap_or_default(),
        health: health.map(str::to_string),
        ports,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn inspect_output_reduces_to_service_state_health_and_ports() {
        let json = serde_json::json!({
            "Name": "/shop_api_1",
            "Config": { "Labels": { "com.docker.compose.service": "api" } },
            "State": { "Status": "running", "ExitCode": 0, "Health": { "Status": "healthy" } },
            "NetworkSettings": { "Ports": {
                "8000/tcp": [{ "HostIp": "0.0.0.0", "HostPort": "18000" }],
                "9000/tcp": null
            } }
        });
        let container = from_inspect(&json, "abc");
        assert_eq!(
            container,
            Container {
                service: "api".into(),
                state: "running".into(),
                exit_code: 0,
                health: Some("healthy".into()),
                ports: vec![(18000, 8000)],
            }
        );
        let bare = serde_json::json!({ "Name": "/x", "State": { "Status": "exited", "ExitCode": 3 } });
        let container = from_inspect(&bare, "abc");
        assert_eq!((container.service.as_str(), container.exit_code, container.health), ("x", 3, None));
    }
}
