//! Task definitions as JSON: pinning images to digests (here), the input
//! model ECS takes (`schema`), and the canonical form in which a rendered
//! definition and a registered one compare equal when they mean the same,
//! with a field-by-field difference for people (`canonical`).
//!
//! Pure functions on `serde_json::Value`; the ECS calls live in `ecs.rs`.

mod canonical;
mod schema;

pub(crate) use canonical::{changes, Change};
pub(crate) use schema::check as check_schema;

use std::collections::BTreeMap;

use serde_json::{Map, Value};

/// The label that records the commit an image was built from, on the image
/// and on the container that runs it.
pub(crate) const REVISION_LABEL: &str = "org.opencontainers.image.revision";
/// The label that keeps the commit tag once the image is pinned to its digest.
pub(crate) const TAG_LABEL: &str = "xtask.image.tag";

/// A rendered task definition. Rendering checks it against what
/// RegisterTaskDefinition takes, so it has a `family`: read here, once.
#[derive(Debug, Clone)]
pub(crate) struct TaskDef {
    text: String,
    json: Value,
    family: String,
}

impl TaskDef {
    /// From rendered text; an error says what is missing when it is not a
    /// task definition with a family.
    pub(crate) fn parse(text: String) -> Result<TaskDef, String> {
        let json: Value = serde_json::from_str(&text).map_err(|e| format!("not JSON: {e}"))?;
        let family = json.get("family").and_then(Value::as_str).ok_or("it has no `family`")?.to_string();
        Ok(TaskDef { text, json, family })
    }

    /// The text as rendered (with secrets redacted when rendered for showing).
    pub(crate) fn text(&self) -> &str {
        &self.text
    }

    pub(crate) fn json(&self) -> &Value {
        &self.json
    }

    pub(crate) fn family(&self) -> &str {
        &self.family
    }
}

/// One image of a release, by its tagged reference: its digest once the
/// registry has it, and the commit it is built from (`None` for an image
/// this project does not build).
pub(crate) struct Pin {
    pub(crate) digest: Option<String>,
    pub(crate) commit: Option<String>,
}

/// Replaces each container image that was pushed by `repository@digest`, so
/// a task always runs exactly the bytes that were pushed, and keeps the tag
/// and the image's commit as container labels. An image without a digest
/// (not pushed yet, shown by `diff`) gets the labels and keeps its tag.
/// Returns the references pinned.
pub(crate) fn pin_images(json: &mut Value, pushed: &BTreeMap<String, Pin>) -> Vec<String> {
    let mut pinned = Vec::new();
    let Some(containers) = json.get_mut("containerDefinitions").and_then(Value::as_array_mut) else {
        return pinned;
    };
    for container in containers {
        let Some(image) = container.get("image").and_then(Value::as_str).map(str::to_string) else {
            continue;
        };
        let Some(pin) = pushed.get(&image) else { continue };
        if let Some(digest) = &pin.digest {
            container["image"] = Value::String(format!("{}@{digest}", strip_tag(&image)));
            pinned.push(image.clone());
        }
        let labels = container
            .as_object_mut()
            .expect("a container with an image is an object")
            .entry("dockerLabels")
            .or_insert_with(|| Value::Object(Map::new()));
        if let Some(labels) = labels.as_object_mut() {
            labels.insert(TAG_LABEL.to_string(), Value::String(image.clone()));
            if let Some(commit) = &pin.commit {
                labels.insert(REVISION_LABEL.to_string(), Value::String(commit.clone()));
            }
        }
    }
    pinned
}

/// `host:port/repo:tag` without its tag (a port's colon comes before the last slash).
fn strip_tag(image: &str) -> &str {
    let last_slash = image.rfind('/').map_or(0, |i| i + 1);
    match image[last_slash..].find(':') {
        Some(colon) => &image[..last_slash + colon],
        None => image,
    }
}

/// `family:revision` from a task definition ARN (or from `family:revision` itself).
pub(crate) fn short_name(arn: &str) -> &str {
    arn.rsplit('/').next().unwrap_or(arn)
}

/// The commit the first pinned container was built from, from its labels.
pub(crate) fn commit_of(json: &Value) -> Option<&str> {
    json.get("containerDefinitions")?
        .as_array()?
        .iter()
        .find_map(|c| c.pointer(&format!("/dockerLabels/{}", REVISION_LABEL.replace('/', "~1")))?.as_str())
}

/// The images the containers run.
pub(crate) fn images_of(json: &Value) -> Vec<&str> {
    json.get("containerDefinitions")
        .and_then(Value::as_array)
        .map(|containers| containers.iter().filter_map(|c| c.get("image")?.as_str()).collect())
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn rendered() -> Value {
        json!({
            "family": "shop-api",
            "networkMode": "awsvpc",
            "cpu": "256",
            "containerDefinitions": [{
                "name": "api",
                "image": "127.0.0.1:5000/shop/api:1a2b3c4d5e6f",
                "essential": true,
                "portMappings": [{ "containerPort": 8000, "protocol": "tcp" }],
                "environment": [{ "name": "B", "value": "2" }, { "name": "A", "value": "1" }],
                "secrets": [{ "name": "API_KEY", "valueFrom": "arn:aws:ssm:eu-west-1:1:parameter/k" }]
            }]
        })
    }

    #[test]
    fn pinning_uses_the_digest_and_keeps_tag_and_commit_as_labels() {
        let mut json = rendered();
        let commit = "1a2b3c4d5e6f7890".to_string();
        let pushed = BTreeMap::from([
            (
                "127.0.0.1:5000/shop/api:1a2b3c4d5e6f".to_string(),
                Pin { digest: Some("sha256:abc".to_string()), commit: Some(commit.clone()) },
            ),
            ("127.0.0.1:5000/shop/web:1a2b3c4d5e6f".to_string(), Pin { digest: None, commit: Some(commit) }),
        ]);
        let pinned = pin_images(&mut json, &pushed);
        assert_eq!(pinned, ["127.0.0.1:5000/shop/api:1a2b3c4d5e6f"]);
        assert_eq!(json["containerDefinitions"][0]["image"], "127.0.0.1:5000/shop/api@sha256:abc");
        assert_eq!(commit_of(&json), Some("1a2b3c4d5e6f7890"));
        assert_eq!(
            json["containerDefinitions"][0]["dockerLabels"][TAG_LABEL],
            "127.0.0.1:5000/shop/api:1a2b3c4d5e6f"
        );
    }

    #[test]
    fn tags_are_stripped_after_the_last_slash_only() {
        assert_eq!(strip_tag("127.0.0.1:5000/shop/api:abc"), "127.0.0.1:5000/shop/api");
        assert_eq!(
            strip_tag("1.dkr.ecr.eu-west-1.amazonaws.com/api"),
            "1.dkr.ecr.eu-west-1.amazonaws.com/api"
        );
        assert_eq!(short_name("arn:aws:ecs:eu-west-1:1:task-definition/shop-api:7"), "shop-api:7");
        assert_eq!(short_name("shop-api:7"), "shop-api:7");
    }
}
