use crate::harness::Repo;

#[test]
fn prints_env_files_and_task_definitions_with_secrets_redacted() {
    let repo = Repo::project();
    repo.write(
        "templates/api.task.json.j2",
        "{\"family\": \"api\", \"image\": \"{{ image }}\", \"environment\": {{ service_env | tojson }}}\n",
    );
    // The token is for docker compose only; ECS gets it as a secret reference.
    repo.write(
        "templates/api.env.j2",
        "GREETING={{ values.greeting }}\n{% if target == \"compose\" %}API_TOKEN={{ env(\"API_TOKEN\") }}\n{% endif %}",
    );
    repo.commit();
    let run =
        repo.xtask_with(&["render", "--env", "dev", "--service", "api"], &[("API_TOKEN", "s3cr3t-value")]);
    let run = run.success();
    assert_eq!(
        run.stdout,
        format!(
            "==> api env file (templates/api.env.j2, env dev)\nGREETING=hello\nAPI_TOKEN=<redacted>\n\n\
             ==> api task definition (templates/api.task.json.j2, env dev)\n\
             {{\"family\": \"api\", \"image\": \"127.0.0.1:5000/api:{}\", \"environment\": \
             [{{\"name\": \"GREETING\", \"value\": \"hello\"}}]}}\n",
            // The last commit changed templates only, so the image keeps the tag of the one before.
            repo.short_sha_of("HEAD~1")
        )
    );
    assert!(!run.stdout.contains("s3cr3t-value") && !run.stderr.contains("s3cr3t-value"));
    assert!(!repo.exists("services/api/dev.env"), "render writes nothing");
}

#[test]
fn invalid_json_quotes_the_line() {
    let repo = Repo::project();
    repo.write(
        "templates/api.task.json.j2",
        "{\n  \"family\": \"{{ values.greeting }}\"\n  \"cpu\": \"256\"\n}\n",
    );
    let run = repo.xtask(&["render", "--env", "dev"]).failure();
    assert_eq!(
        run.stderr,
        "error: 1 template problem found, nothing was written:\n  \
         templates/api.task.json.j2: rendered text is not valid JSON (expected `,` or `}`) at rendered line 3 \
         column 3: \"cpu\": \"256\"\n"
    );
}

#[test]
fn task_definitions_that_leak_secrets_hide_the_image_or_mismatch_the_platform_are_refused() {
    let repo = Repo::project();
    repo.write("services/api/service.toml", "platform = \"linux/arm64\"\n");
    repo.write(
        "templates/api.task.json.j2",
        r#"{"family": "api", "runtimePlatform": {"cpuArchitecture": "X86_64"},
 "containerDefinitions": [{"name": "api", "image": "shop/api:latest",
   "environment": [{"name": "DB_PASSWORD", "value": "x"}, {"name": "LOG_LEVEL", "value": "info"}]}]}
"#,
    );
    let run = repo.xtask(&["render", "--env", "dev"]).failure();
    assert_eq!(
        run.stderr,
        "error: 3 template problems found, nothing was written:\n  \
         templates/api.task.json.j2: container `api` puts DB_PASSWORD in `environment`, where anyone who can \
         describe the task definition reads it; reference it under `secrets` instead, with `valueFrom` an SSM \
         parameter or Secrets Manager ARN\n  \
         templates/api.task.json.j2: container `api` runs image `shop/api:latest`, which does not say what runs; \
         use `{{ image }}` (tagged with the commit)\n  \
         templates/api.task.json.j2: runtimePlatform.cpuArchitecture is X86_64, but api builds its image for \
         linux/arm64; make them agree (`platform` in services/api/service.toml)\n"
    );
}

#[test]
fn a_secret_value_under_an_innocent_name_is_refused_too() {
    let repo = Repo::project();
    repo.write("templates/api.env.j2", "CONFIG={{ env(\"API_TOKEN\") }}\n");
    repo.write(
        "templates/api.task.json.j2",
        "{\"family\": \"api\", \"containerDefinitions\": [{\"name\": \"api\", \"image\": \"{{ image }}\", \
         \"environment\": {{ service_env | tojson }}}]}\n",
    );
    let expected = "error: 1 template problem found, nothing was written:\n  \
         templates/api.task.json.j2: the value of API_TOKEN, a secret, is written into the task definition; \
         reference it under `secrets` instead, with `valueFrom` an SSM parameter or Secrets Manager ARN\n";
    // Whether the value is shown redacted (render) or for real (what a release registers).
    let run = repo.xtask_with(&["render", "--env", "dev"], &[("API_TOKEN", "tok-9f8e7d6c")]).failure();
    assert_eq!(run.stderr, expected);
    let run = repo
        .xtask_with(&["release", "--env", "dev", "--dry-run"], &[("API_TOKEN", "tok-9f8e7d6c")])
        .failure();
    assert_eq!(run.stderr, expected);
    assert!(!run.stderr.contains("tok-9f8e7d6c"));
}
