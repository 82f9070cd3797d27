//! Task definitions as JSON: pinning images to digests, the canonical form
//! in which a rendered definition and a registered one compare equal when
//! they mean the same, and a field-by-field difference for people.
//!
//! Pure functions on `serde_json::Value`; the ECS calls live in `ecs.rs`.

use std::collections::BTreeMap;

use serde_json::{Map, Value};

use crate::render::{looks_secret, REDACTED};

/// The label that records the commit an image was built from, on the image
/// and on the container that runs it.
pub(crate) const REVISION_LABEL: &str = "org.opencontainers.image.revision";
/// The label that keeps the commit tag once the image is pinned to its digest.
pub(crate) const TAG_LABEL: &str = "xtask.image.tag";

/// Fields ECS adds to a registered definition, which a template never sets.
const ADDED_BY_ECS: &[&str] = &[
    "taskDefinitionArn",
    "revision",
    "status",
    "requiresAttributes",
    "compatibilities",
    "registeredAt",
    "registeredBy",
    "deregisteredAt",
    "deleteRequestedAt",
];

/// One image of a release, by its tagged reference: its digest once the
/// registry has it, and the commit it is built from.
pub(crate) struct Pin {
    pub(crate) digest: Option<String>,
    pub(crate) commit: String,
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
            labels.insert(REVISION_LABEL.to_string(), Value::String(pin.commit.clone()));
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

/// The form in which two definitions compare equal exactly when ECS would run
/// the same thing: what ECS adds is dropped, defaults it fills in are
/// dropped, empty lists and objects are dropped, and lists whose order means
/// nothing (environment, secrets, labels) are sorted.
pub(crate) fn canonical(json: &Value) -> Value {
    let mut json = json.clone();
    if let Some(top) = json.as_object_mut() {
        for key in ADDED_BY_ECS {
            top.remove(*key);
        }
        if let Some(containers) = top.get_mut("containerDefinitions").and_then(Value::as_array_mut) {
            for container in containers.iter_mut().filter_map(Value::as_object_mut) {
                drop_default(container, "cpu", &Value::from(0));
                drop_default(container, "essential", &Value::Bool(true));
                for key in ["environment", "secrets"] {
                    if let Some(list) = container.get_mut(key).and_then(Value::as_array_mut) {
                        list.sort_by_key(name_of);
                    }
                }
                if let Some(ports) = container.get_mut("portMappings").and_then(Value::as_array_mut) {
                    for port in ports.iter_mut().filter_map(Value::as_object_mut) {
                        // In awsvpc mode ECS sets the host port to the container port.
                        if let Some(container_port) = port.get("containerPort").cloned() {
                            drop_default(port, "hostPort", &container_port);
                        }
                        drop_default(port, "protocol", &Value::from("tcp"));
                    }
                }
            }
        }
    }
    prune_empty(&mut json);
    json
}

fn drop_default(object: &mut Map<String, Value>, key: &str, default: &Value) {
    if object.get(key) == Some(default) {
        object.remove(key);
    }
}

fn name_of(item: &Value) -> String {
    item.get("name").and_then(Value::as_str).unwrap_or_default().to_string()
}

/// Removes nulls, empty lists and empty objects, which ECS treats as absent.
fn prune_empty(json: &mut Value) {
    match json {
        Value::Object(map) => {
            map.values_mut().for_each(prune_empty);
            map.retain(|_, v| !is_empty(v));
        }
        Value::Array(items) => items.iter_mut().for_each(prune_empty),
        _ => {}
    }
}

fn is_empty(value: &Value) -> bool {
    match value {
        Value::Null => true,
        Value::Array(items) => items.is_empty(),
        Value::Object(map) => map.is_empty(),
        _ => false,
    }
}

/// One field that differs between the registered and the rendered definition.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct Change {
    /// Where, like `containerDefinitions[api].environment[LOG_LEVEL].value`.
    pub(crate) path: String,
    /// The value ECS has (`None`: the field is new).
    pub(crate) registered: Option<String>,
    /// The value the template renders (`None`: the field goes away).
    pub(crate) rendered: Option<String>,
}

/// The fields that differ between two definitions, after both are made
/// canonical; values of secret-looking variables are redacted.
pub(crate) fn changes(registered: &Value, rendered: &Value) -> Vec<Change> {
    let (mut old, mut new) = (BTreeMap::new(), BTreeMap::new());
    flatten(&canonical(registered), String::new(), &mut old);
    flatten(&canonical(rendered), String::new(), &mut new);
    let paths: std::collections::BTreeSet<&String> = old.keys().chain(new.keys()).collect();
    paths
        .into_iter()
        .filter(|path| old.get(*path) != new.get(*path))
        .map(|path| {
            let shown = |value: Option<&String>| {
                value.map(|v| if is_secret_path(path) { REDACTED.to_string() } else { v.clone() })
            };
            Change { path: path.clone(), registered: shown(old.get(path)), rendered: shown(new.get(path)) }
        })
        .collect()
}

/// `environment[DB_PASSWORD].value` and the like: a credential someone put
/// in plain sight, which a diff must not repeat.
fn is_secret_path(path: &str) -> bool {
    path.split("environment[").skip(1).any(|rest| rest.split(']').next().is_some_and(looks_secret))
}

/// Leaves of a JSON document by path. Items of a list that have a `name`
/// (containers, variables, secrets) are addressed by it, so that inserting
/// one does not make every later item look changed.
fn flatten(json: &Value, path: String, out: &mut BTreeMap<String, String>) {
    match json {
        Value::Object(map) => {
            for (key, value) in map {
                let child = if path.is_empty() { key.clone() } else { format!("{path}.{key}") };
                flatten(value, child, out);
            }
        }
        Value::Array(items) => {
            for (i, item) in items.iter().enumerate() {
                let key = item.get("name").and_then(Value::as_str).map_or(i.to_string(), str::to_string);
                flatten(item, format!("{path}[{key}]"), out);
            }
        }
        Value::String(s) => {
            out.insert(path, s.clone());
        }
        other => {
            out.insert(path, other.to_string());
        }
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
                Pin { digest: Some("sha256:abc".to_string()), commit: commit.clone() },
            ),
            ("127.0.0.1:5000/shop/web:1a2b3c4d5e6f".to_string(), Pin { digest: None, commit }),
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
    fn what_ecs_adds_does_not_count_as_a_change() {
        let mut registered = rendered();
        let container = &mut registered["containerDefinitions"][0];
        container["cpu"] = json!(0);
        container["mountPoints"] = json!([]);
        container["volumesFrom"] = json!([]);
        container["portMappings"][0]["hostPort"] = json!(8000);
        container["environment"] = json!([{ "name": "A", "value": "1" }, { "name": "B", "value": "2" }]);
        let top = registered.as_object_mut().unwrap();
        top.insert("taskDefinitionArn".into(), json!("arn:aws:ecs:eu-west-1:1:task-definition/shop-api:7"));
        top.insert("revision".into(), json!(7));
        top.insert("status".into(), json!("ACTIVE"));
        top.insert("volumes".into(), json!([]));
        top.insert("placementConstraints".into(), json!([]));
        top.insert("compatibilities".into(), json!(["EC2", "FARGATE"]));
        top.insert(
            "requiresAttributes".into(),
            json!([{ "name": "ecs.capability.secrets.ssm.environment-variables" }]),
        );
        top.insert("registeredAt".into(), json!("2026-11-23T10:00:00Z"));
        assert_eq!(changes(&registered, &rendered()), []);
    }

    #[test]
    fn changes_are_named_by_path_and_secret_values_redacted() {
        let mut registered = rendered();
        registered["containerDefinitions"][0]["environment"] = json!([
            { "name": "A", "value": "0" },
            { "name": "B", "value": "2" },
            { "name": "DB_PASSWORD", "value": "hunter22" }
        ]);
        let found = changes(&registered, &rendered());
        assert_eq!(
            found,
            [
                Change {
                    path: "containerDefinitions[api].environment[A].value".into(),
                    registered: Some("0".into()),
                    rendered: Some("1".into()),
                },
                Change {
                    path: "containerDefinitions[api].environment[DB_PASSWORD].name".into(),
                    registered: Some(REDACTED.into()),
                    rendered: None,
                },
                Change {
                    path: "containerDefinitions[api].environment[DB_PASSWORD].value".into(),
                    registered: Some(REDACTED.into()),
                    rendered: None,
                },
            ]
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
