//! Unit tests of `taskdef/schema.rs`.

use super::*;
use serde_json::json;

#[test]
fn a_sound_definition_passes() {
    let json = json!({
        "family": "shop-api",
        "cpu": "256",
        "memory": "0.5 GB",
        "containerDefinitions": [{
            "name": "api", "image": "x:1", "cpu": 0, "essential": true,
            "portMappings": [{ "containerPort": 8000 }],
            "dockerLabels": { "team": "shop" },
            "healthCheck": { "command": ["CMD", "true"], "interval": 30 }
        }],
        "tags": [{ "key": "team", "value": "shop" }],
        "enableFaultInjection": false
    });
    assert_eq!(check(&json), Vec::<String>::new());
}

#[test]
fn wrong_types_unknown_and_output_only_keys_are_named_by_path_with_the_fix() {
    let json = json!({
        "family": "shop-api",
        "cpu": 256,
        "status": "ACTIVE",
        "requiresCompatibilites": ["FARGATE"],
        "containerDefinitions": [{
            "name": "api",
            "image": "x:1",
            "memory": "512",
            "command": "serve",
            "essentail": true,
            "dockerLabels": { "n": 1 },
            "portMappings": [{ "containerPort": "8000" }]
        }]
    });
    assert_eq!(
            check(&json),
            [
                "containerDefinitions[api].command: ECS wants a list, not a string; write it as a list: [\"serve\"]",
                "containerDefinitions[api].dockerLabels.n: ECS wants a string, not a number; write it as a string: \"1\"",
                "containerDefinitions[api].essentail: ECS knows no such key; did you mean `essential`?",
                "containerDefinitions[api].memory: ECS wants a whole number, not a string; write it as a number without quotes: 512",
                "containerDefinitions[api].portMappings[0].containerPort: ECS wants a whole number, not a string; write it as a number without quotes: 8000",
                "cpu: ECS wants a string, not a number; write it as a string: \"256\"",
                "requiresCompatibilites: ECS knows no such key; did you mean `requiresCompatibilities`?",
                "status: ECS returns this key about a registered revision but does not take it; remove it (a definition copied from `describe-task-definition` carries it)",
            ]
        );
}

/// The model as `path type` lines, in botocore's words.
fn leaves(fields: &[Field], path: &str, out: &mut Vec<String>) {
    for (name, kind) in fields {
        let at = if path.is_empty() { name.to_string() } else { format!("{path}.{name}") };
        match kind {
            Str => out.push(format!("{at} string")),
            Int => out.push(format!("{at} integer")),
            Bool => out.push(format!("{at} boolean")),
            Strs => out.push(format!("{at}.[] string")),
            Ints => out.push(format!("{at}.[] integer")),
            StrMap => out.push(format!("{at} map")),
            Obj(inner) => leaves(inner, &at, out),
            List(inner) => leaves(inner, &format!("{at}.[]"), out),
        }
    }
}

/// The SDK's model cannot be read at run time, but botocore (installed
/// with moto, which the tests need anyway) ships the same service model
/// as JSON: every key and type here must be in it.
#[test]
fn every_key_and_type_is_in_the_aws_service_model() {
    const DUMP: &str = r#"
import botocore.session
shape = botocore.session.get_session().get_service_model("ecs").operation_model("RegisterTaskDefinition").input_shape
def walk(shape, path):
    if shape.type_name == "structure":
        for key, member in shape.members.items():
            walk(member, path + [key])
    elif shape.type_name == "list":
        walk(shape.member, path + ["[]"])
    else:
        print(".".join(path), "integer" if shape.type_name == "long" else shape.type_name)
walk(shape, [])
"#;
    let output = std::process::Command::new("python3").args(["-c", DUMP]).output();
    let output = output.expect("this test needs python3 with botocore: pip install 'moto[server]'");
    assert!(
        output.status.success(),
        "this test needs botocore: pip install 'moto[server]' ({})",
        String::from_utf8_lossy(&output.stderr)
    );
    let aws: std::collections::BTreeSet<String> =
        String::from_utf8(output.stdout).unwrap().lines().map(str::to_string).collect();
    let mut ours = Vec::new();
    leaves(TASK_DEFINITION, "", &mut ours);
    let wrong: Vec<&String> = ours.iter().filter(|line| !aws.contains(*line)).collect();
    assert!(wrong.is_empty(), "not in the ECS service model (key or type): {wrong:#?}");
    // A key AWS added since is refused in templates until it is added
    // here; it is shown, not failed, so a new botocore does not break CI.
    let new: Vec<&String> = aws.iter().filter(|line| !ours.contains(line)).collect();
    if !new.is_empty() {
        eprintln!("keys in botocore's ECS model that the input model lacks: {new:#?}");
    }
}

#[test]
fn fields_are_found_by_path() {
    assert!(fields_at(&["containerDefinitions", "healthCheck"]).is_some_and(|f| f.len() == 5));
    assert!(fields_at(&["containerDefinitions", "image"]).is_none());
    assert!(fields_at(&["nothing"]).is_none());
}
