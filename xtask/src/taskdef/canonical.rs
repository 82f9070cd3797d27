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
use crate::secrets::{looks_secret, REDACTED};

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

mod defaults;

pub(crate) use defaults::{Filled, ECS_DEFAULTS};

#[cfg(test)]
mod tests;
