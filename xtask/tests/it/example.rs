//! The example application shipped in this repository stays valid: copied
//! into a fresh repository, every command works on it.

use std::fs;
use std::path::Path;

use crate::harness::Repo;

/// Copies the example project, leaving out what its build and `dev-env` produce.
pub(crate) fn example() -> Repo {
    let source = Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap();
    let repo = Repo::empty();
    fn copy(from: &Path, to: &Path) {
        for entry in fs::read_dir(from).unwrap() {
            let path = entry.unwrap().path();
            let name = path.file_name().unwrap().to_str().unwrap();
            if matches!(name, "rootfs" | "bin" | "target") || name.ends_with(".env") {
                continue;
            }
            if path.is_dir() {
                fs::create_dir_all(to.join(name)).unwrap();
                copy(&path, &to.join(name));
            } else {
                fs::copy(&path, to.join(name)).unwrap();
            }
        }
    }
    for dir in ["env", "services", "templates"] {
        fs::create_dir_all(repo.path().join(dir)).unwrap();
        copy(&source.join(dir), &repo.path().join(dir));
    }
    for file in [".gitignore", "docker-compose.yml", "Cargo.toml", "Cargo.lock"] {
        fs::copy(source.join(file), repo.path().join(file)).unwrap();
    }
    repo.commit();
    repo
}

#[test]
fn dev_env_works_on_a_fresh_clone_without_any_variable_set() {
    let repo = example();
    let run = repo.xtask(&["dev-env"]).success();
    assert!(run.stdout.starts_with("wrote     services/api/dev.env\nwrote     services/web/dev.env\n"));
    assert_eq!(repo.mode("services/api/dev.env"), 0o600);
    // Every env file docker-compose.yml names exists now.
    let compose = repo.read("docker-compose.yml");
    for line in compose.lines().filter_map(|l| l.trim().strip_prefix("env_file: ")) {
        assert!(repo.exists(line), "docker-compose.yml reads {line}, which dev-env did not write");
    }
}

#[test]
fn prod_task_definitions_pin_the_commit_and_reference_secrets() {
    let repo = example();
    let run =
        repo.xtask_with(&["render", "--env", "prod"], &[("HONEYCOMB_API_KEY", "hc-live-123")]).success();
    assert!(!run.stdout.contains("hc-live-123"));
    let start = run.stdout.find("==> api task definition").unwrap();
    let json_text: String =
        run.stdout[start..].lines().skip(1).take_while(|l| !l.starts_with("==>")).collect();
    let task: serde_json::Value = serde_json::from_str(&json_text).unwrap();
    let container = &task["containerDefinitions"][0];
    assert_eq!(
        container["image"],
        format!("123456789012.dkr.ecr.eu-west-1.amazonaws.com/demo/api:{}", repo.short_sha())
    );
    assert_eq!(task["runtimePlatform"]["cpuArchitecture"], "X86_64");
    let names: Vec<&str> =
        container["environment"].as_array().unwrap().iter().map(|v| v["name"].as_str().unwrap()).collect();
    assert_eq!(names, ["APP_ENV", "PORT", "LOG_LEVEL", "GIT_SHA"]);
    // The database URL (with a password, in dev) reaches ECS as a reference.
    let secrets: Vec<&str> =
        container["secrets"].as_array().unwrap().iter().map(|v| v["name"].as_str().unwrap()).collect();
    assert_eq!(secrets, ["DATABASE_URL", "HONEYCOMB_API_KEY"]);
    for secret in container["secrets"].as_array().unwrap() {
        assert!(secret["valueFrom"].as_str().unwrap().starts_with("arn:aws:ssm:eu-west-1:"), "{secret}");
    }
}

#[test]
fn prod_release_plan_is_printed() {
    let repo = example();
    let run = repo.xtask(&["release", "--env", "prod", "--dry-run"]).success();
    assert!(run.stdout.contains("  build web "));
    assert!(run.stdout.contains("--build-arg BASE_IMAGE"));
    assert!(
        run.stdout.contains(
            "  deploy api        ECS service api in cluster demo-prod, unless it runs the revision already\n"
        ),
        "{}",
        run.stdout
    );
    assert!(!run.stdout.contains("deploy base"));
}
