//! Property tests of everything that reads user input: the project model
//! (environment and service files), templates, `.dockerignore` rules,
//! durations and env files. Whatever the input, loading and rendering end
//! in a value or an error that names a file, never a panic.
//!
//! `PROPTEST_CASES` sets how many inputs each property tries (256 by
//! default); README's "Robust parsing" gives the long run's result.

use std::fs;
use std::path::Path;

use proptest::prelude::*;

use crate::git::{ImageRevision, Revision};
use crate::project::Project;
use crate::render::{render_all, Scope, Secrets};

/// Fragments an environment or service file is made of, so that inputs get
/// past the TOML parser into the model's own checks.
fn toml_line() -> impl Strategy<Value = String> {
    let key = prop_oneof![
        Just("region"),
        Just("account_id"),
        Just("cluster"),
        Just("registry"),
        Just("protected"),
        Just("repository"),
        Just("context"),
        Just("dockerfile"),
        Just("platform"),
        Just("after"),
        Just("prebuild"),
        Just("env_template"),
        Just("task_definition_template"),
        Just("ecs_service"),
        Just("immutable_tags"),
        Just("inputs"),
        Just("clustr"),
    ];
    let value = prop_oneof![
        Just("\"eu-west-1\"".to_string()),
        Just("\"123456789012\"".to_string()),
        Just("\"1234\"".to_string()),
        Just("true".to_string()),
        Just("42".to_string()),
        Just("[]".to_string()),
        Just("[\"api\"]".to_string()),
        Just("[\"web\", \"api\"]".to_string()),
        Just("\"linux/arm64\"".to_string()),
        Just("\"../x\"".to_string()),
        Just("\"Dockerfile\"".to_string()),
        Just("[\"sh\"]".to_string()),
        "\"[^\"\\\\\n]{0,12}\"".prop_map(|s| s),
        "[ -~]{0,12}".prop_map(|s| s),
    ];
    prop_oneof![
        4 => (key, value).prop_map(|(k, v)| format!("{k} = {v}")),
        1 => Just("[values]".to_string()),
        1 => Just("[build_args]".to_string()),
        1 => "[a-z_]{1,8} = \"\\{\\{ [a-z_.]{0,16} \\}\\}\"".prop_map(|s| s),
        1 => "[ -~]{0,30}".prop_map(|s| s),
    ]
}

fn toml_file() -> impl Strategy<Value = String> {
    prop::collection::vec(toml_line(), 0..8).prop_map(|lines| lines.join("\n"))
}

/// Template text: minijinja syntax, names the context has and has not, and noise.
fn template() -> impl Strategy<Value = String> {
    let piece = prop_oneof![
        Just("{{ values.x }}".to_string()),
        Just("{{ environment.name }}".to_string()),
        Just("{{ image }}".to_string()),
        Just("{{ images.api }}".to_string()),
        Just("{{ git.sha }}".to_string()),
        Just("{{ service.commit[:12] }}".to_string()),
        Just("{{ env(\"HOME\") }}".to_string()),
        Just("{{ env(\"XTASK_NOT_SET\") }}".to_string()),
        Just("{{ secret(\"XTASK_NOT_SET\", default=\"s\") }}".to_string()),
        Just("{{ service_env | tojson }}".to_string()),
        Just("{% if target == \"ecs\" %}".to_string()),
        Just("{% endif %}".to_string()),
        Just("{% for x in values %}{{ x }}{% endfor %}".to_string()),
        Just("{{".to_string()),
        Just("}}".to_string()),
        Just("{%".to_string()),
        Just("\n".to_string()),
        Just(
            "{\"family\": \"f\", \"containerDefinitions\": [{\"name\": \"c\", \"image\": \"{{ image }}\"}]}"
                .to_string()
        ),
        "[ -~]{0,16}".prop_map(|s| s),
    ];
    prop::collection::vec(piece, 0..10).prop_map(|pieces| pieces.concat())
}

fn write(root: &Path, rel: &str, text: &str) {
    let path = root.join(rel);
    fs::create_dir_all(path.parent().unwrap()).unwrap();
    fs::write(path, text).unwrap();
}

fn revision(project: &Project) -> Revision {
    let sha = "0123456789abcdef0123456789abcdef01234567".to_string();
    let images = project
        .services
        .iter()
        .map(|s| {
            let image = ImageRevision {
                commit: sha.clone(),
                dirty: false,
                image_tag: sha[..12].to_string(),
                commit_time: 0,
                build_args_digest: None,
            };
            (s.name.clone(), image)
        })
        .collect();
    Revision {
        short_sha: sha[..12].to_string(),
        image_tag: sha[..12].to_string(),
        sha,
        dirty: false,
        tags: Vec::new(),
        source: None,
        images,
        tags_for_environment: None,
    }
}

proptest! {
    #[test]
    fn any_project_files_load_and_render_or_fail_with_a_located_error(
        environment in toml_file(),
        api in toml_file(),
        web in toml_file(),
        env_template in template(),
        task_template in template(),
    ) {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        write(root, "env/dev.toml", &environment);
        write(root, "services/api/Dockerfile", "FROM scratch\n");
        write(root, "services/api/service.toml", &api);
        write(root, "services/web/Dockerfile", "FROM scratch\n");
        write(root, "services/web/service.toml", &web);
        write(root, "templates/api.env.j2", &env_template);
        write(root, "templates/api.task.json.j2", &task_template);
        let project = match Project::load(root.to_path_buf()) {
            Ok(project) => project,
            Err(e) => {
                let message = format!("{e:#}");
                prop_assert!(message.contains("services/"), "an error that names no file: {message}");
                return Ok(());
            }
        };
        for service in &project.services {
            let _ = project.image_inputs(service);
        }
        let environment = match project.environment("dev") {
            Ok(environment) => environment,
            Err(e) => {
                prop_assert!(format!("{e:#}").contains("env/dev.toml"), "{e:#}");
                return Ok(());
            }
        };
        let _ = crate::plan::release(&project.services.iter().collect::<Vec<_>>(), &[]).stages();
        let revision = crate::identity::for_environment(&project, &environment, &revision(&project));
        let services: Vec<_> = project.services.iter().collect();
        for secrets in [Secrets::Redact, Secrets::Reveal] {
            let report = render_all(&project, &environment, &revision, &services, Scope::All, secrets);
            for problem in report.problems.iter().chain(&report.missing_problems) {
                prop_assert!(
                    problem.contains("templates/") || problem.contains("service.toml"),
                    "a problem that names no file: {problem}"
                );
            }
        }
    }

    #[test]
    fn dockerignore_rules_match_any_path_without_panicking(
        rules in "([!*?/a-z.\\\\\n\\[\\]^-]|\\*\\*){0,40}",
        path in "[a-z*?./\\[\\]]{0,30}",
    ) {
        if let Ok(patterns) = crate::dockerignore::Patterns::parse(rules.as_bytes()) {
            let _ = patterns.matches_or_parent(&path);
        }
    }

    #[test]
    fn durations_parse_or_are_refused(text in "[ -~]{0,24}") {
        let _ = crate::duration::parse(&text);
    }

    #[test]
    fn env_files_parse_whatever_they_hold(text in "[ -~\n=#]{0,200}") {
        for variable in crate::render::parse_env_file(&text) {
            prop_assert!(!variable.name.contains('\n'));
        }
    }
}
