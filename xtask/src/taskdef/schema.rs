//! The input of ECS RegisterTaskDefinition as data: every key a task
//! definition may set and the JSON type ECS wants for it.
//!
//! The SDK's types carry this model but cannot read JSON (they have no serde),
//! so it is restated here, from the RegisterTaskDefinition API reference; a
//! test checks every key and type against the service model botocore ships.
//! It serves twice: a rendered definition is checked against it before
//! anything is built, and definitions are compared only on what it holds, so
//! that a key ECS starts to return one day cannot make every release differ.

use serde_json::Value;

/// The JSON type of one key.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Kind {
    Str,
    Int,
    Bool,
    /// A list of strings.
    Strs,
    /// A list of integers.
    Ints,
    /// An object of string values under any keys (`dockerLabels`, `options`).
    StrMap,
    Obj(&'static [Field]),
    List(&'static [Field]),
}

pub(crate) type Field = (&'static str, Kind);

use Kind::*;

/// Keys ECS returns about a registered revision, which describe it and are
/// never part of what is registered.
pub(crate) const OUTPUT_ONLY: &[&str] = &[
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

const NAME_VALUE: &[Field] = &[("name", Str), ("value", Str)];
const SECRET: &[Field] = &[("name", Str), ("valueFrom", Str)];

const PORT_MAPPING: &[Field] = &[
    ("containerPort", Int),
    ("hostPort", Int),
    ("protocol", Str),
    ("name", Str),
    ("appProtocol", Str),
    ("containerPortRange", Str),
];

const LINUX_PARAMETERS: &[Field] = &[
    ("capabilities", Obj(&[("add", Strs), ("drop", Strs)])),
    ("devices", List(&[("hostPath", Str), ("containerPath", Str), ("permissions", Strs)])),
    ("initProcessEnabled", Bool),
    ("sharedMemorySize", Int),
    ("tmpfs", List(&[("containerPath", Str), ("size", Int), ("mountOptions", Strs)])),
    ("maxSwap", Int),
    ("swappiness", Int),
];

const CONTAINER: &[Field] = &[
    ("name", Str),
    ("image", Str),
    ("repositoryCredentials", Obj(&[("credentialsParameter", Str)])),
    ("cpu", Int),
    ("memory", Int),
    ("memoryReservation", Int),
    ("links", Strs),
    ("portMappings", List(PORT_MAPPING)),
    ("essential", Bool),
    ("restartPolicy", Obj(&[("enabled", Bool), ("ignoredExitCodes", Ints), ("restartAttemptPeriod", Int)])),
    ("entryPoint", Strs),
    ("command", Strs),
    ("environment", List(NAME_VALUE)),
    ("environmentFiles", List(&[("value", Str), ("type", Str)])),
    ("mountPoints", List(&[("sourceVolume", Str), ("containerPath", Str), ("readOnly", Bool)])),
    ("volumesFrom", List(&[("sourceContainer", Str), ("readOnly", Bool)])),
    ("linuxParameters", Obj(LINUX_PARAMETERS)),
    ("secrets", List(SECRET)),
    ("dependsOn", List(&[("containerName", Str), ("condition", Str)])),
    ("startTimeout", Int),
    ("stopTimeout", Int),
    ("versionConsistency", Str),
    ("hostname", Str),
    ("user", Str),
    ("workingDirectory", Str),
    ("disableNetworking", Bool),
    ("privileged", Bool),
    ("readonlyRootFilesystem", Bool),
    ("dnsServers", Strs),
    ("dnsSearchDomains", Strs),
    ("extraHosts", List(&[("hostname", Str), ("ipAddress", Str)])),
    ("dockerSecurityOptions", Strs),
    ("interactive", Bool),
    ("pseudoTerminal", Bool),
    ("dockerLabels", StrMap),
    ("ulimits", List(&[("name", Str), ("softLimit", Int), ("hardLimit", Int)])),
    ("logConfiguration", Obj(&[("logDriver", Str), ("options", StrMap), ("secretOptions", List(SECRET))])),
    (
        "healthCheck",
        Obj(&[
            ("command", Strs),
            ("interval", Int),
            ("timeout", Int),
            ("retries", Int),
            ("startPeriod", Int),
        ]),
    ),
    ("systemControls", List(&[("namespace", Str), ("value", Str)])),
    ("resourceRequirements", List(&[("value", Str), ("type", Str)])),
    ("firelensConfiguration", Obj(&[("type", Str), ("options", StrMap)])),
    ("credentialSpecs", Strs),
];

const VOLUME: &[Field] = &[
    ("name", Str),
    ("host", Obj(&[("sourcePath", Str)])),
    (
        "dockerVolumeConfiguration",
        Obj(&[
            ("scope", Str),
            ("autoprovision", Bool),
            ("driver", Str),
            ("driverOpts", StrMap),
            ("labels", StrMap),
        ]),
    ),
    (
        "efsVolumeConfiguration",
        Obj(&[
            ("fileSystemId", Str),
            ("rootDirectory", Str),
            ("transitEncryption", Str),
            ("transitEncryptionPort", Int),
            ("authorizationConfig", Obj(&[("accessPointId", Str), ("iam", Str)])),
        ]),
    ),
    (
        "s3filesVolumeConfiguration",
        Obj(&[
            ("fileSystemArn", Str),
            ("rootDirectory", Str),
            ("transitEncryptionPort", Int),
            ("accessPointArn", Str),
        ]),
    ),
    (
        "fsxWindowsFileServerVolumeConfiguration",
        Obj(&[
            ("fileSystemId", Str),
            ("rootDirectory", Str),
            ("authorizationConfig", Obj(&[("credentialsParameter", Str), ("domain", Str)])),
        ]),
    ),
    ("configuredAtLaunch", Bool),
];

/// RegisterTaskDefinition's request.
pub(crate) const TASK_DEFINITION: &[Field] = &[
    ("family", Str),
    ("taskRoleArn", Str),
    ("executionRoleArn", Str),
    ("networkMode", Str),
    ("containerDefinitions", List(CONTAINER)),
    ("volumes", List(VOLUME)),
    ("placementConstraints", List(&[("type", Str), ("expression", Str)])),
    ("requiresCompatibilities", Strs),
    ("cpu", Str),
    ("memory", Str),
    ("tags", List(&[("key", Str), ("value", Str)])),
    ("pidMode", Str),
    ("ipcMode", Str),
    ("proxyConfiguration", Obj(&[("type", Str), ("containerName", Str), ("properties", List(NAME_VALUE))])),
    ("inferenceAccelerators", List(&[("deviceName", Str), ("deviceType", Str)])),
    ("ephemeralStorage", Obj(&[("sizeInGiB", Int)])),
    ("runtimePlatform", Obj(&[("cpuArchitecture", Str), ("operatingSystemFamily", Str)])),
    ("enableFaultInjection", Bool),
];

/// Every place a rendered definition departs from the input model, as
/// `path: what is wrong; the fix`. A null counts as absent, as ECS takes it.
pub(crate) fn check(json: &Value) -> Vec<String> {
    let mut problems = Vec::new();
    match json {
        Value::Object(_) => check_object(json, TASK_DEFINITION, "", &mut problems),
        other => problems.push(format!("the task definition is {}, not an object", type_name(other))),
    }
    problems
}

fn check_object(json: &Value, fields: &[Field], path: &str, problems: &mut Vec<String>) {
    let Some(map) = json.as_object() else { return };
    for (key, value) in map {
        let at = if path.is_empty() { key.clone() } else { format!("{path}.{key}") };
        let Some((_, kind)) = fields.iter().find(|(name, _)| name == key) else {
            problems.push(unknown_key(&at, key, fields, path.is_empty()));
            continue;
        };
        check_value(value, *kind, &at, problems);
    }
}

fn check_value(value: &Value, kind: Kind, at: &str, problems: &mut Vec<String>) {
    if value.is_null() {
        return;
    }
    let mut wrong = |wanted: &str| {
        let fix = match (kind, value) {
            (Str, Value::Number(n)) => format!("; write it as a string: \"{n}\""),
            (Int, Value::String(s)) if s.trim().parse::<i64>().is_ok() => {
                format!("; write it as a number without quotes: {}", s.trim())
            }
            (Strs, Value::String(s)) => format!("; write it as a list: [{}]", Value::from(s.as_str())),
            _ => String::new(),
        };
        problems.push(format!("{at}: ECS wants {wanted}, not {}{fix}", type_name(value)));
    };
    match kind {
        Str if !value.is_string() => wrong("a string"),
        Int if !(value.is_i64() || value.is_u64()) => wrong("a whole number"),
        Bool if !value.is_boolean() => wrong("true or false"),
        Strs | Ints => {
            let Some(items) = value.as_array() else { return wrong("a list") };
            let item_kind = if matches!(kind, Strs) { Str } else { Int };
            for (i, item) in items.iter().enumerate() {
                check_value(item, item_kind, &format!("{at}[{i}]"), problems);
            }
        }
        StrMap => {
            let Some(map) = value.as_object() else { return wrong("an object of strings") };
            for (key, item) in map {
                check_value(item, Str, &format!("{at}.{key}"), problems);
            }
        }
        Obj(fields) => {
            if !value.is_object() {
                return wrong("an object");
            }
            check_object(value, fields, at, problems);
        }
        List(fields) => {
            let Some(items) = value.as_array() else { return wrong("a list") };
            for (i, item) in items.iter().enumerate() {
                let label = item.get("name").and_then(Value::as_str).map_or(i.to_string(), str::to_string);
                let at = format!("{at}[{label}]");
                if item.is_object() {
                    check_object(item, fields, &at, problems);
                } else {
                    problems.push(format!("{at}: ECS wants an object, not {}", type_name(item)));
                }
            }
        }
        _ => {}
    }
}

fn unknown_key(at: &str, key: &str, fields: &[Field], top: bool) -> String {
    if top && OUTPUT_ONLY.contains(&key) {
        return format!(
            "{at}: ECS returns this key about a registered revision but does not take it; remove it \
             (a definition copied from `describe-task-definition` carries it)"
        );
    }
    let closest = fields.iter().map(|(name, _)| *name).min_by_key(|name| distance(key, name));
    match closest.filter(|name| distance(key, name) <= 2.max(key.len() / 4)) {
        Some(name) => format!("{at}: ECS knows no such key; did you mean `{name}`?"),
        None => {
            format!("{at}: ECS knows no such key; the RegisterTaskDefinition API reference lists the keys")
        }
    }
}

/// Levenshtein distance, case-insensitive, for "did you mean".
fn distance(a: &str, b: &str) -> usize {
    let (a, b): (Vec<char>, Vec<char>) =
        (a.to_lowercase().chars().collect(), b.to_lowercase().chars().collect());
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.iter().enumerate() {
        let mut diagonal = row[0];
        row[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let above = row[j + 1];
            row[j + 1] = (diagonal + usize::from(ca != cb)).min(row[j] + 1).min(above + 1);
            diagonal = above;
        }
    }
    row[b.len()]
}

fn type_name(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "true or false",
        Value::Number(n) if n.is_f64() => "a fractional number",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "a list",
        Value::Object(_) => "an object",
    }
}

/// The fields of the object at `path` (keys joined by `.`, list items
/// stepped through), or `None` where the model has no such object.
#[cfg(test)]
pub(crate) fn fields_at(path: &[&str]) -> Option<&'static [Field]> {
    let mut fields = TASK_DEFINITION;
    for key in path {
        fields = match fields.iter().find(|(name, _)| name == key)?.1 {
            Obj(inner) | List(inner) => inner,
            _ => return None,
        };
    }
    Some(fields)
}

#[cfg(test)]
mod tests;
