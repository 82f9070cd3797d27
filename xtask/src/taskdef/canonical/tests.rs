//! Unit tests of `taskdef/canonical.rs`.

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
