//! Task definitions as today's ECS keeps them: a corpus of realistic
//! definitions (`corpus/*.json.j2`, written for this project and covering
//! every key of RegisterTaskDefinition) released against moto behind
//! `ecs_today.py`, which answers the way real ECS does (defaults filled in,
//! units as numbers, `enableFaultInjection`, tags apart; moto alone does none
//! of it). Each definition registers once, a second release registers
//! nothing, and a change to one is seen. What ECS kept of each is compared
//! with `corpus/<name>.ecs.json`, which the unit tests use to alter and
//! remove every single field (`XTASK_UPDATE_CORPUS=1` rewrites those files).

use std::path::PathBuf;

use serde_json::{json, Value};

use crate::ecs_project::project_with;
use crate::servers::{ecs, servers};

fn corpus_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/it/corpus")
}

/// The corpus: each definition's name and template.
fn corpus() -> Vec<(String, String)> {
    let mut found: Vec<(String, String)> = std::fs::read_dir(corpus_dir())
        .unwrap()
        .filter_map(|entry| {
            let path = entry.unwrap().path();
            let name = path.file_name()?.to_str()?.strip_suffix(".json.j2")?.to_string();
            Some((name, std::fs::read_to_string(&path).unwrap()))
        })
        .collect();
    found.sort();
    found
}

/// What ECS keeps of a revision, without what changes from run to run: the
/// ARN, revision and time, and this project's images (pinned to digests of
/// this run's builds) with the labels that record their tag and commit.
fn stable_part(mut definition: Value) -> Value {
    let top = definition.as_object_mut().unwrap();
    for key in ["taskDefinitionArn", "revision", "registeredAt", "family"] {
        top.remove(key);
    }
    for container in top["containerDefinitions"].as_array_mut().unwrap() {
        if container["image"].as_str().unwrap().starts_with("127.0.0.1:") {
            container["image"] = json!("IMAGE");
            let labels = container["dockerLabels"].as_object_mut().unwrap();
            labels.remove("xtask.image.tag");
            labels.remove("org.opencontainers.image.revision");
            if labels.is_empty() {
                container.as_object_mut().unwrap().remove("dockerLabels");
            }
        }
    }
    definition
}

#[test]
fn every_corpus_definition_registers_once_then_compares_equal_and_a_change_is_seen() {
    let s = servers();
    let corpus = corpus();
    assert!(corpus.len() >= 10, "the corpus has {} definitions, fewer than 10", corpus.len());
    let services: Vec<(&str, &str)> = corpus.iter().map(|(n, t)| (n.as_str(), t.as_str())).collect();
    let names: Vec<&str> = services.iter().map(|(n, _)| *n).collect();
    let p = project_with(&services, s.registry_port);
    p.create_ecs(s.moto_port, &names);

    let first =
        p.xtask(&["release", "--env", "dev", "--jobs", "4", "--timeout", "60s"], s.moto_port).success();
    for name in &names {
        assert_eq!(p.revisions(s.moto_port, name), 2, "{name}: bootstrap and one release\n{}", first.stdout);
    }

    // What ECS kept of each definition, next to the corpus for the unit tests.
    let mut drifted = Vec::new();
    for name in &names {
        let family = format!("{}-{name}", p.prefix);
        let described = ecs(
            s.moto_port,
            "DescribeTaskDefinition",
            json!({ "taskDefinition": family, "include": ["TAGS"] }),
        );
        let mut kept = described["taskDefinition"].clone();
        if let Some(tags) = described.get("tags").filter(|t| !t.as_array().unwrap().is_empty()) {
            kept["tags"] = tags.clone();
        }
        let kept = serde_json::to_string_pretty(&stable_part(kept)).unwrap() + "\n";
        let path = corpus_dir().join(format!("{name}.ecs.json"));
        if std::env::var_os("XTASK_UPDATE_CORPUS").is_some() {
            std::fs::write(&path, &kept).unwrap();
        } else if std::fs::read_to_string(&path).ok().as_deref() != Some(kept.as_str()) {
            drifted.push(format!("{}:\n{kept}", path.display()));
        }
    }
    assert!(
        drifted.is_empty(),
        "what ECS keeps differs from (run with XTASK_UPDATE_CORPUS=1):\n{}",
        drifted.join("\n")
    );

    let second = p.xtask(&["release", "--env", "dev", "--jobs", "4"], s.moto_port).success();
    for name in &names {
        assert_eq!(p.revisions(s.moto_port, name), 2, "{name} registered again:\n{}", second.stdout);
        let register = second.stdout.lines().find(|l| l.starts_with(&format!("register {name} "))).unwrap();
        assert!(register.contains(&format!("skipped: {}-{name}:2 is identical", p.prefix)), "{register}");
    }
    assert!(
        second
            .stdout
            .contains(&format!("nothing to do: {} services deployed as this commit wants them", names.len())),
        "{}",
        second.stdout
    );
    let diff = p.xtask(&["diff", "--env", "dev", "--exit-code"], s.moto_port).success();
    let mut expected: Vec<String> =
        names.iter().map(|name| format!("{name}: no changes from {}-{name}:2", p.prefix)).collect();
    expected.sort();
    let mut lines: Vec<&str> = diff.stdout.lines().collect();
    lines.sort();
    assert_eq!(lines, expected);

    // A removed tag and a changed health check are seen, and only those two register.
    let flask = p.repo.read("templates/flask-api.task.json.j2");
    let flask = flask.replace(",\n    { \"key\": \"team\", \"value\": \"backend\" }", "");
    p.repo.write("templates/flask-api.task.json.j2", &flask);
    let web = p.repo.read("templates/react-web.task.json.j2").replace("\"retries\": 5", "\"retries\": 3");
    p.repo.write("templates/react-web.task.json.j2", &web);
    p.repo.commit();
    let only = ["--service", "flask-api", "--service", "react-web"];
    let diff =
        p.xtask(&[&["diff", "--env", "dev", "--exit-code"][..], &only].concat(), s.moto_port).failure();
    assert_eq!(diff.stderr, "error: 2 services differ from what is registered: flask-api, react-web\n");
    assert_eq!(
        diff.stdout,
        format!(
            "flask-api: 2 fields differ from {prefix}-flask-api:2\n  - tags[team].key: \"team\"\n  - tags[team].value: \"backend\"\n\
             react-web: 1 field differs from {prefix}-react-web:2\n  - containerDefinitions[frontend-react-js].healthCheck.retries: \"5\"\n",
            prefix = p.prefix
        )
    );
    let third = p.xtask(&["release", "--env", "dev", "--jobs", "4"], s.moto_port).success();
    for name in &names {
        let wanted = if ["flask-api", "react-web"].contains(name) { 3 } else { 2 };
        assert_eq!(p.revisions(s.moto_port, name), wanted, "{name}:\n{}", third.stdout);
    }
}
