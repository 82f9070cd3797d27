//! The form in which a rendered task definition and a registered one compare
//! equal exactly when ECS would run the same thing.
//!
//! What the template sets must equal what ECS stores; a key the template
//! omits is a change only when ECS keeps a value other than the one it fills
//! in by itself. Both sides are therefore reduced alike: projected onto the
//! RegisterTaskDefinition input (what ECS adds about a revision goes), units
//! written out as ECS stores them, every documented default dropped, empty
//! lists and objects dropped (ECS treats them as absent), and lists whose
//! order means nothing sorted.

use std::collections::{BTreeMap, BTreeSet};

use serde_json::{Map, Value};

#[cfg(test)]
use super::schema::fields_at;
use super::schema::{Field, Kind};
use crate::render::{looks_secret, REDACTED};

/// A value ECS fills in when a definition leaves the key out.
pub(crate) struct EcsDefault {
    /// Keys from the top, `.`-separated; list items are stepped through.
    pub(crate) path: &'static str,
    pub(crate) value: Filled,
    /// Where this is documented or was seen (shown in docs/task-definitions.md).
    #[cfg_attr(not(test), allow(dead_code))]
    pub(crate) source: &'static str,
}

pub(crate) enum Filled {
    /// This JSON value.
    Json(&'static str),
    /// The port mapping's own `containerPort` in network modes awsvpc and
    /// host; 0 (a port ECS picks) in bridge mode.
    HostPort,
}

/// What ECS fills in, each with its source. The ECS API reference
/// (RegisterTaskDefinition, ContainerDefinition, PortMapping, HealthCheck,
/// EFSVolumeConfiguration) gives most rows; ecspresso's diff, which compares
/// real answers, confirms the units and host ports.
pub(crate) const ECS_DEFAULTS: &[EcsDefault] = &[
    EcsDefault {
        path: "enableFaultInjection",
        value: Filled::Json("false"),
        source: "RegisterTaskDefinition: default false; DescribeTaskDefinition returns it on every revision since January 2025",
    },
    EcsDefault {
        path: "networkMode",
        value: Filled::Json("\"bridge\""),
        source: "RegisterTaskDefinition networkMode: if no network mode is specified, the default is bridge",
    },
    EcsDefault {
        path: "containerDefinitions.cpu",
        value: Filled::Json("0"),
        source: "ContainerDefinition cpu: omitted, the container gets 0 units; DescribeTaskDefinition returns \"cpu\": 0",
    },
    EcsDefault {
        path: "containerDefinitions.essential",
        value: Filled::Json("true"),
        source: "ContainerDefinition essential: if the parameter isn't specified, the default value is true",
    },
    EcsDefault {
        path: "containerDefinitions.privileged",
        value: Filled::Json("false"),
        source: "ContainerDefinition privileged: elevated privileges only when true",
    },
    EcsDefault {
        path: "containerDefinitions.disableNetworking",
        value: Filled::Json("false"),
        source: "ContainerDefinition disableNetworking: networking is off only when true",
    },
    EcsDefault {
        path: "containerDefinitions.readonlyRootFilesystem",
        value: Filled::Json("false"),
        source: "ContainerDefinition readonlyRootFilesystem: read-only only when true",
    },
    EcsDefault {
        path: "containerDefinitions.interactive",
        value: Filled::Json("false"),
        source: "ContainerDefinition interactive: off unless true",
    },
    EcsDefault {
        path: "containerDefinitions.pseudoTerminal",
        value: Filled::Json("false"),
        source: "ContainerDefinition pseudoTerminal: no TTY unless true",
    },
    EcsDefault {
        path: "containerDefinitions.linuxParameters.initProcessEnabled",
        value: Filled::Json("false"),
        source: "LinuxParameters initProcessEnabled: no init process unless true",
    },
    EcsDefault {
        path: "containerDefinitions.portMappings.protocol",
        value: Filled::Json("\"tcp\""),
        source: "PortMapping protocol: if a protocol isn't specified, the default is tcp",
    },
    EcsDefault {
        path: "containerDefinitions.portMappings.hostPort",
        value: Filled::HostPort,
        source: "PortMapping hostPort: with awsvpc or host networking it is the container port (ecspresso fills it the same way); in bridge mode, omitted or 0, ECS picks one",
    },
    EcsDefault {
        path: "containerDefinitions.mountPoints.readOnly",
        value: Filled::Json("false"),
        source: "MountPoint readOnly: the default value is false",
    },
    EcsDefault {
        path: "containerDefinitions.volumesFrom.readOnly",
        value: Filled::Json("false"),
        source: "VolumeFrom readOnly: the default value is false",
    },
    EcsDefault {
        path: "containerDefinitions.healthCheck.interval",
        value: Filled::Json("30"),
        source: "HealthCheck interval: the default value is 30 seconds",
    },
    EcsDefault {
        path: "containerDefinitions.healthCheck.timeout",
        value: Filled::Json("5"),
        source: "HealthCheck timeout: the default value is 5 seconds",
    },
    EcsDefault {
        path: "containerDefinitions.healthCheck.retries",
        value: Filled::Json("3"),
        source: "HealthCheck retries: the default value is 3",
    },
    EcsDefault {
        path: "containerDefinitions.versionConsistency",
        value: Filled::Json("\"enabled\""),
        source: "ContainerDefinition versionConsistency: if not specified, the default value is enabled",
    },
    EcsDefault {
        path: "volumes.efsVolumeConfiguration.rootDirectory",
        value: Filled::Json("\"/\""),
        source: "EFSVolumeConfiguration rootDirectory: if this parameter is omitted, the root of the Amazon EFS volume is used (DescribeTaskDefinition returns \"/\")",
    },
    EcsDefault {
        path: "volumes.efsVolumeConfiguration.transitEncryption",
        value: Filled::Json("\"DISABLED\""),
        source: "EFSVolumeConfiguration transitEncryption: if this parameter is omitted, the default value of DISABLED is used",
    },
    EcsDefault {
        path: "volumes.efsVolumeConfiguration.authorizationConfig.iam",
        value: Filled::Json("\"DISABLED\""),
        source: "EFSAuthorizationConfig iam: if this parameter is omitted, the default value of DISABLED is used",
    },
    EcsDefault {
        path: "volumes.configuredAtLaunch",
        value: Filled::Json("false"),
        source: "TaskDefinition volumes: configuredAtLaunch is false unless set (terraform-provider-aws #46132 saw it returned)",
    },
    EcsDefault {
        path: "volumes.dockerVolumeConfiguration.autoprovision",
        value: Filled::Json("false"),
        source: "DockerVolumeConfiguration autoprovision: by default, false",
    },
];

/// Lists whose order ECS ignores, sorted so that reordering is no change.
/// Everything else (commands, DNS servers, containers' `links`) keeps its order.
const UNORDERED: &[&str] = &[
    "containerDefinitions",
    "containerDefinitions.portMappings",
    "containerDefinitions.environment",
    "containerDefinitions.environmentFiles",
    "containerDefinitions.mountPoints",
    "containerDefinitions.volumesFrom",
    "containerDefinitions.secrets",
    "containerDefinitions.dependsOn",
    "containerDefinitions.extraHosts",
    "containerDefinitions.ulimits",
    "containerDefinitions.systemControls",
    "containerDefinitions.resourceRequirements",
    "containerDefinitions.logConfiguration.secretOptions",
    "containerDefinitions.linuxParameters.capabilities.add",
    "containerDefinitions.linuxParameters.capabilities.drop",
    "volumes",
    "placementConstraints",
    "requiresCompatibilities",
    "tags",
    "proxyConfiguration.properties",
    "inferenceAccelerators",
];

/// Tags under this prefix are AWS's own (CloudFormation's, for one); a
/// template cannot set them.
const AWS_TAG_PREFIX: &str = "aws:";

/// The canonical form of a definition, rendered or as ECS returned it (with
/// its tags under `tags`, as RegisterTaskDefinition takes them).
pub(crate) fn canonical(json: &Value) -> Value {
    let mut json = project(json, super::schema::TASK_DEFINITION);
    if let Some(top) = json.as_object_mut() {
        for key in ["cpu", "memory"] {
            if let Some(value) = top.get_mut(key) {
                *value = Value::String(in_ecs_units(key, value));
            }
        }
        if let Some(tags) = top.get_mut("tags").and_then(Value::as_array_mut) {
            tags.retain(|tag| {
                !tag.get("key").and_then(Value::as_str).is_some_and(|k| k.starts_with(AWS_TAG_PREFIX))
            });
        }
    }
    let network_mode = json.get("networkMode").and_then(Value::as_str).unwrap_or("bridge").to_string();
    for default in ECS_DEFAULTS {
        let path: Vec<&str> = default.path.split('.').collect();
        let (key, parents) = path.split_last().expect("a default has a path");
        // Parsed once per default, not once per object it applies to.
        let fixed: Option<Value> = match default.value {
            Filled::Json(text) => Some(serde_json::from_str(text).expect("a default is JSON")),
            Filled::HostPort => None,
        };
        for_each_object(&mut json, parents, &mut |object| {
            let filled = match &fixed {
                Some(value) => value.clone(),
                None if network_mode == "bridge" => Value::from(0),
                None => match object.get("containerPort") {
                    Some(port) => port.clone(),
                    None => return,
                },
            };
            if object.get(*key) == Some(&filled) {
                object.remove(*key);
            }
        });
    }
    prune_empty(&mut json);
    for list in UNORDERED {
        let path: Vec<&str> = list.split('.').collect();
        let (key, parents) = path.split_last().expect("a list has a path");
        for_each_object(&mut json, parents, &mut |object| {
            if let Some(items) = object.get_mut(*key).and_then(Value::as_array_mut) {
                items.sort_by_cached_key(|item| item.to_string());
            }
        });
    }
    json
}

/// Keeps only what the input model holds, at every depth. Maps of free keys
/// (`dockerLabels`, `options`) are kept whole.
fn project(json: &Value, fields: &[Field]) -> Value {
    let Some(map) = json.as_object() else { return json.clone() };
    let mut kept = Map::new();
    for (key, value) in map {
        let Some((_, kind)) = fields.iter().find(|(name, _)| name == key) else { continue };
        let value = match (kind, value) {
            (Kind::Obj(inner), Value::Object(_)) => project(value, inner),
            (Kind::List(inner), Value::Array(items)) => {
                Value::Array(items.iter().map(|item| project(item, inner)).collect())
            }
            _ => value.clone(),
        };
        kept.insert(key.clone(), value);
    }
    Value::Object(kept)
}

/// Task-level `cpu` and `memory` as ECS stores them: "0.25 vCPU" is "256",
/// "1 GB" is "1024" (RegisterTaskDefinition takes either form).
fn in_ecs_units(key: &str, value: &Value) -> String {
    let text = match value {
        Value::String(s) => s.trim().to_string(),
        other => other.to_string(),
    };
    let unit = if key == "cpu" { "vcpu" } else { "gb" };
    let lower = text.to_ascii_lowercase();
    match lower.strip_suffix(unit).map(str::trim).and_then(|n| n.parse::<f64>().ok()) {
        Some(n) => format!("{}", (n * 1024.0).round() as u64),
        None => text,
    }
}

/// Calls `f` on every object reached by `path` from the top, stepping
/// through list items.
fn for_each_object(json: &mut Value, path: &[&str], f: &mut dyn FnMut(&mut Map<String, Value>)) {
    match json {
        Value::Array(items) => items.iter_mut().for_each(|item| for_each_object(item, path, f)),
        Value::Object(map) => match path.split_first() {
            None => f(map),
            Some((key, rest)) => {
                if let Some(child) = map.get_mut(*key) {
                    for_each_object(child, rest, f);
                }
            }
        },
        _ => {}
    }
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
#[derive(Debug, PartialEq, Eq, serde::Serialize)]
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
    let paths: BTreeSet<&String> = old.keys().chain(new.keys()).collect();
    paths
        .into_iter()
        .filter(|path| old.get(*path) != new.get(*path))
        .map(|path| {
            let shown = |value: Option<&String>| {
                value.map(
                    |v| if is_secret_path(path) { REDACTED.to_string() } else { crate::secrets::redact(v) },
                )
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
/// (containers, variables, secrets) or a `key` (tags) are addressed by it,
/// so that inserting one does not make every later item look changed.
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
                let key = ["name", "key"]
                    .iter()
                    .find_map(|k| item.get(*k).and_then(Value::as_str))
                    .map_or(i.to_string(), str::to_string);
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

/// Every default's path names a key of the input model, and its value has
/// the key's type: a row that names nothing would silently do nothing.
#[cfg(test)]
pub(crate) fn default_rows_name_real_keys() -> Vec<String> {
    let mut wrong = Vec::new();
    for default in ECS_DEFAULTS {
        let path: Vec<&str> = default.path.split('.').collect();
        let (key, parents) = path.split_last().unwrap();
        let kind = fields_at(parents).and_then(|fields| fields.iter().find(|(name, _)| name == key));
        let Some((_, kind)) = kind else {
            wrong.push(format!("{}: not in the input model", default.path));
            continue;
        };
        if let Filled::Json(text) = default.value {
            let problems = super::schema::check(&wrap(&path, serde_json::from_str(text).unwrap()));
            if !problems.is_empty() {
                wrong.push(format!("{}: {text} is not a {kind:?}: {problems:?}", default.path));
            }
        }
    }
    for list in UNORDERED {
        let path: Vec<&str> = list.split('.').collect();
        let (key, parents) = path.split_last().unwrap();
        if !fields_at(parents).is_some_and(|fields| fields.iter().any(|(name, _)| name == key)) {
            wrong.push(format!("{list}: not in the input model"));
        }
    }
    wrong
}

/// `value` placed at `path` in an otherwise empty definition, lists made of one item.
#[cfg(test)]
fn wrap(path: &[&str], value: Value) -> Value {
    let mut json = value;
    for (depth, key) in path.iter().enumerate().rev() {
        let in_list = fields_at(&path[..depth])
            .and_then(|fields| fields.iter().find(|(name, _)| name == key))
            .is_some_and(|(_, kind)| matches!(kind, Kind::List(_)));
        let inner = if in_list && depth + 1 < path.len() { Value::Array(vec![json]) } else { json };
        json = Value::Object(Map::from_iter([(key.to_string(), inner)]));
    }
    json
}

/// The table of defaults as docs/task-definitions.md shows it.
#[cfg(test)]
fn defaults_table() -> String {
    let mut table = String::from("| field | ECS fills in | source |\n|---|---|---|\n");
    for default in ECS_DEFAULTS {
        let value = match default.value {
            Filled::Json(text) => format!("`{text}`"),
            Filled::HostPort => "the `containerPort` (awsvpc, host); `0` (bridge)".to_string(),
        };
        table += &format!("| `{}` | {value} | {} |\n", default.path, default.source);
    }
    table
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn the_defaults_table_in_the_docs_is_current() {
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../docs/task-definitions.md");
        let docs = std::fs::read_to_string(path).unwrap();
        assert!(
            docs.contains(&defaults_table()),
            "docs/task-definitions.md lacks the current table of ECS defaults; put this in it:\n{}",
            defaults_table()
        );
    }

    fn rendered() -> Value {
        json!({
            "family": "shop-api",
            "networkMode": "awsvpc",
            "cpu": "0.25 vCPU",
            "memory": "1 GB",
            "containerDefinitions": [{
                "name": "api",
                "image": "127.0.0.1:5000/shop/api:1a2b3c4d5e6f",
                "portMappings": [{ "containerPort": 8000 }],
                "environment": [{ "name": "B", "value": "2" }, { "name": "A", "value": "1" }],
                "secrets": [{ "name": "API_KEY", "valueFrom": "arn:aws:ssm:eu-west-1:1:parameter/k" }],
                "healthCheck": { "command": ["CMD-SHELL", "curl -f localhost:8000/health"] }
            }],
            "volumes": [{ "name": "data", "efsVolumeConfiguration": { "fileSystemId": "fs-1" } }],
            "tags": [{ "key": "team", "value": "shop" }]
        })
    }

    /// What ECS answers for `rendered()`: what it adds about the revision,
    /// every default filled in, units as numbers, tags beside (merged here).
    fn as_ecs_keeps_it() -> Value {
        json!({
            "taskDefinitionArn": "arn:aws:ecs:eu-west-1:1:task-definition/shop-api:7",
            "revision": 7,
            "status": "ACTIVE",
            "family": "shop-api",
            "networkMode": "awsvpc",
            "cpu": "256",
            "memory": "1024",
            "enableFaultInjection": false,
            "containerDefinitions": [{
                "name": "api",
                "image": "127.0.0.1:5000/shop/api:1a2b3c4d5e6f",
                "cpu": 0,
                "essential": true,
                "portMappings": [{ "containerPort": 8000, "hostPort": 8000, "protocol": "tcp" }],
                "environment": [{ "name": "A", "value": "1" }, { "name": "B", "value": "2" }],
                "environmentFiles": [],
                "mountPoints": [],
                "volumesFrom": [],
                "systemControls": [],
                "secrets": [{ "name": "API_KEY", "valueFrom": "arn:aws:ssm:eu-west-1:1:parameter/k" }],
                "healthCheck": {
                    "command": ["CMD-SHELL", "curl -f localhost:8000/health"],
                    "interval": 30, "timeout": 5, "retries": 3
                }
            }],
            "volumes": [{
                "name": "data",
                "efsVolumeConfiguration": { "fileSystemId": "fs-1", "rootDirectory": "/" }
            }],
            "placementConstraints": [],
            "compatibilities": ["EC2", "FARGATE"],
            "requiresAttributes": [{ "name": "ecs.capability.secrets.ssm.environment-variables" }],
            "registeredAt": "2026-11-23T10:00:00Z",
            "registeredBy": "arn:aws:sts::1:assumed-role/deploy/ci",
            "tags": [{ "key": "team", "value": "shop" }, { "key": "aws:cloudformation:stack-name", "value": "s" }],
            "someFieldEcsAddsOneDay": { "x": 1 }
        })
    }

    #[test]
    fn what_ecs_fills_in_does_not_count_as_a_change() {
        assert_eq!(changes(&as_ecs_keeps_it(), &rendered()), []);
    }

    #[test]
    fn a_default_written_out_in_the_template_is_no_change_either() {
        let mut explicit = rendered();
        explicit["enableFaultInjection"] = json!(false);
        explicit["cpu"] = json!("256");
        explicit["containerDefinitions"][0]["essential"] = json!(true);
        explicit["containerDefinitions"][0]["healthCheck"]["retries"] = json!(3);
        assert_eq!(changes(&as_ecs_keeps_it(), &explicit), []);
    }

    #[test]
    fn a_key_the_template_omits_is_a_change_when_ecs_keeps_another_value() {
        let mut registered = as_ecs_keeps_it();
        registered["enableFaultInjection"] = json!(true);
        registered["containerDefinitions"][0]["healthCheck"]["retries"] = json!(5);
        registered["tags"][0]["value"] = json!("books");
        let paths: Vec<String> = changes(&registered, &rendered()).into_iter().map(|c| c.path).collect();
        assert_eq!(
            paths,
            ["containerDefinitions[api].healthCheck.retries", "enableFaultInjection", "tags[team].value"]
        );
    }

    #[test]
    fn a_removed_tag_is_a_change() {
        let mut without = rendered();
        without["tags"] = json!([]);
        assert_eq!(
            changes(&as_ecs_keeps_it(), &without),
            [
                Change { path: "tags[team].key".into(), registered: Some("team".into()), rendered: None },
                Change { path: "tags[team].value".into(), registered: Some("shop".into()), rendered: None },
            ]
        );
    }

    #[test]
    fn host_ports_default_to_the_container_port_only_outside_bridge_mode() {
        let mut bridge = rendered();
        bridge["networkMode"] = json!("bridge");
        let mut registered = as_ecs_keeps_it();
        registered["networkMode"] = json!("bridge");
        let paths: Vec<String> = changes(&registered, &bridge).into_iter().map(|c| c.path).collect();
        assert_eq!(paths, ["containerDefinitions[api].portMappings[0].hostPort"]);
        registered["containerDefinitions"][0]["portMappings"][0]["hostPort"] = json!(0);
        assert_eq!(changes(&registered, &bridge), []);
    }

    #[test]
    fn units_are_written_as_ecs_stores_them() {
        for (key, given, stored) in [
            ("cpu", "0.25 vCPU", "256"),
            ("cpu", "1vcpu", "1024"),
            ("cpu", "512", "512"),
            ("memory", "1 GB", "1024"),
            ("memory", "0.5GB", "512"),
            ("memory", "2048", "2048"),
        ] {
            assert_eq!(in_ecs_units(key, &json!(given)), stored, "{key} {given}");
        }
    }

    #[test]
    fn changes_are_named_by_path_and_secret_values_redacted() {
        let mut registered = as_ecs_keeps_it();
        registered["containerDefinitions"][0]["environment"] = json!([
            { "name": "A", "value": "0" },
            { "name": "B", "value": "2" },
            { "name": "DB_PASSWORD", "value": "hunter22" }
        ]);
        assert_eq!(
            changes(&registered, &rendered()),
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
    fn every_default_and_unordered_list_names_a_key_of_the_input_model() {
        assert_eq!(default_rows_name_real_keys(), Vec::<String>::new());
    }

    /// The corpus of task definitions the integration tests register
    /// (`tests/it/corpus`), each with what today's ECS kept of it there
    /// (`<name>.ecs.json`, written by that test): the template with its
    /// placeholders filled as that test fills them, and the family left out
    /// on both sides (it carries the test's unique prefix).
    fn corpus() -> Vec<(String, Value, Value)> {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/it/corpus");
        let mut found = Vec::new();
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            let Some(name) = path.file_name().unwrap().to_str().unwrap().strip_suffix(".json.j2") else {
                continue;
            };
            let text = std::fs::read_to_string(&path)
                .unwrap()
                .replace("{{ image }}", "IMAGE")
                .replace("{{ environment.region }}", "us-east-1")
                .replace("{{ environment.account_id }}", "123456789012")
                .replace("{{ environment.name }}", "dev")
                .replace("{{ environment.cluster }}-{{ service.name }}", "family");
            let mut rendered: Value = serde_json::from_str(&text).unwrap();
            rendered.as_object_mut().unwrap().remove("family");
            let kept = std::fs::read_to_string(dir.join(format!("{name}.ecs.json"))).unwrap();
            found.push((name.to_string(), rendered, serde_json::from_str(&kept).unwrap()));
        }
        found.sort_by(|a, b| a.0.cmp(&b.0));
        found
    }

    /// JSON pointers to every scalar in a document.
    fn leaves(json: &Value, pointer: String, out: &mut Vec<String>) {
        match json {
            Value::Object(map) => map.iter().for_each(|(k, v)| leaves(v, format!("{pointer}/{k}"), out)),
            Value::Array(items) => {
                items.iter().enumerate().for_each(|(i, v)| leaves(v, format!("{pointer}/{i}"), out))
            }
            _ => out.push(pointer),
        }
    }

    /// Whether the scalar at `pointer` is what ECS fills in there anyway,
    /// by the table: removing it then changes nothing.
    fn is_ecs_default(doc: &Value, pointer: &str) -> bool {
        let value = doc.pointer(pointer).unwrap();
        let keys: Vec<&str> = pointer.split('/').skip(1).filter(|k| k.parse::<usize>().is_err()).collect();
        let path = keys.join(".");
        ECS_DEFAULTS.iter().filter(|d| d.path == path).any(|d| match d.value {
            Filled::Json(text) => *value == serde_json::from_str::<Value>(text).unwrap(),
            Filled::HostPort => {
                let parent = &pointer[..pointer.rfind('/').unwrap()];
                let bridge = doc.get("networkMode").and_then(Value::as_str).unwrap_or("bridge") == "bridge";
                let filled = if bridge {
                    json!(0)
                } else {
                    doc.pointer(&format!("{parent}/containerPort")).unwrap().clone()
                };
                *value == filled
            }
        })
    }

    fn remove(doc: &mut Value, pointer: &str) {
        let (parent, key) = pointer.rsplit_once('/').unwrap();
        match doc.pointer_mut(parent).unwrap() {
            Value::Object(map) => {
                map.remove(key);
            }
            Value::Array(items) => {
                items.remove(key.parse::<usize>().unwrap());
            }
            _ => unreachable!(),
        }
    }

    #[test]
    fn every_corpus_definition_equals_what_ecs_kept_and_every_field_altered_or_removed_is_a_change() {
        let corpus = corpus();
        assert!(corpus.len() >= 10, "{} definitions in the corpus", corpus.len());
        let mut unseen = Vec::new();
        let mut checked = 0;
        for (name, rendered, kept) in &corpus {
            assert_eq!(changes(kept, rendered), [], "{name}: the template differs from what ECS kept of it");
            let mut pointers = Vec::new();
            leaves(rendered, String::new(), &mut pointers);
            for pointer in &pointers {
                let mut altered = rendered.clone();
                let leaf = altered.pointer_mut(pointer).unwrap();
                *leaf = match leaf.take() {
                    Value::String(s) => Value::String(format!("{s}-x")),
                    Value::Number(n) => json!(n.as_i64().unwrap() + 1),
                    Value::Bool(b) => Value::Bool(!b),
                    other => panic!("{name}{pointer}: {other}"),
                };
                if changes(kept, &altered).is_empty() {
                    unseen.push(format!("{name}: {pointer} altered"));
                }
                let mut removed = rendered.clone();
                remove(&mut removed, pointer);
                let seen = !changes(kept, &removed).is_empty();
                if seen == is_ecs_default(rendered, pointer) {
                    unseen.push(format!(
                        "{name}: {pointer} removed ({})",
                        if seen { "seen, but it is ECS's default" } else { "not seen" }
                    ));
                }
                checked += 2;
            }
            // Whole tags, one at a time.
            for (i, _) in rendered.get("tags").and_then(Value::as_array).into_iter().flatten().enumerate() {
                let mut removed = rendered.clone();
                remove(&mut removed, &format!("/tags/{i}"));
                if changes(kept, &removed).is_empty() {
                    unseen.push(format!("{name}: tag {i} removed"));
                }
            }
        }
        assert!(
            unseen.is_empty(),
            "{} of {checked} single-field changes were not told right:\n{}",
            unseen.len(),
            unseen.join("\n")
        );
    }

    /// The corpus uses every key of the input model, at the top and in a
    /// container (and every nested key), so that no key goes uncompared.
    #[test]
    fn the_corpus_covers_every_key_of_the_input_model() {
        fn keys(json: &Value, path: &str, out: &mut BTreeSet<String>) {
            match json {
                Value::Object(map) => {
                    for (k, v) in map {
                        let at = if path.is_empty() { k.clone() } else { format!("{path}.{k}") };
                        out.insert(at.clone());
                        keys(v, &at, out);
                    }
                }
                Value::Array(items) => items.iter().for_each(|v| keys(v, path, out)),
                _ => {}
            }
        }
        fn model(fields: &[Field], path: &str, out: &mut Vec<String>) {
            for (name, kind) in fields {
                let at = if path.is_empty() { name.to_string() } else { format!("{path}.{name}") };
                out.push(at.clone());
                if let Kind::Obj(inner) | Kind::List(inner) = kind {
                    model(inner, &at, out);
                }
            }
        }
        let mut used = BTreeSet::new();
        for (_, rendered, _) in corpus() {
            keys(&rendered, "", &mut used);
        }
        used.insert("family".to_string());
        let mut all = Vec::new();
        model(super::super::schema::TASK_DEFINITION, "", &mut all);
        let missing: Vec<&String> = all.iter().filter(|k| !used.contains(*k)).collect();
        assert!(missing.is_empty(), "keys no corpus definition sets: {missing:?}");
    }
}
