use crate::harness::Repo;

#[test]
fn prints_env_files_and_task_definitions_with_secrets_redacted() {
    let repo = Repo::project();
    repo.write(
        "templates/api.task.json.j2",
        "{\"family\": \"api\", \"containerDefinitions\": [{\"name\": \"api\", \"image\": \"{{ image }}\", \
         \"environment\": {{ service_env | tojson }}}]}\n",
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
             {{\"family\": \"api\", \"containerDefinitions\": [{{\"name\": \"api\", \"image\": \
             \"127.0.0.1:5000/api:{}\", \"environment\": [{{\"name\": \"GREETING\", \"value\": \"hello\"}}]}}]}}\n",
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
    // The project's own image behind `latest`, a sidecar with no tag, a
    // credential under `environment`, and a value pasted where a secret's
    // reference goes; the other secrets are references ECS takes.
    repo.write(
        "templates/api.task.json.j2",
        r#"{"family": "api", "runtimePlatform": {"cpuArchitecture": "X86_64"},
 "containerDefinitions": [
  {"name": "api", "image": "127.0.0.1:5000/api:latest",
   "environment": [{"name": "DB_PASSWORD", "value": "x"}, {"name": "LOG_LEVEL", "value": "info"},
                   {"name": "AWS_ACCESS_KEY_ID", "value": "x"}, {"name": "SENTRY_DSN", "value": "x"},
                   {"name": "DB_CONNECTION_STRING", "value": "x"}],
   "secrets": [{"name": "A", "valueFrom": "arn:aws:ssm:us-east-1:000000000000:parameter/shop/a"},
               {"name": "B", "valueFrom": "/shop/b"},
               {"name": "C", "valueFrom": "shop-c"},
               {"name": "D", "valueFrom": "arn:aws:secretsmanager:us-east-1:000000000000:secret:shop/d-AbC:password::"},
               {"name": "E", "valueFrom": "pa55 word!"}]},
  {"name": "xray", "image": "amazon/aws-xray-daemon", "essential": false},
  {"name": "envoy", "image": "envoyproxy/envoy:v1.29.1", "essential": false}]}
"#,
    );
    let run = repo.xtask(&["render", "--env", "dev"]).failure();
    assert_eq!(
        run.stderr,
        "error: 8 template problems found, nothing was written:\n  \
         templates/api.task.json.j2: containerDefinitions[api].environment[DB_PASSWORD]: a secret-looking name in \
         `environment`, where anyone who can describe the task definition reads it; move it under `secrets`, with \
         `valueFrom` an SSM parameter (name or ARN) or a Secrets Manager ARN\n  \
         templates/api.task.json.j2: containerDefinitions[api].environment[AWS_ACCESS_KEY_ID]: a secret-looking name \
         in `environment`, where anyone who can describe the task definition reads it; move it under `secrets`, with \
         `valueFrom` an SSM parameter (name or ARN) or a Secrets Manager ARN\n  \
         templates/api.task.json.j2: containerDefinitions[api].environment[SENTRY_DSN]: a secret-looking name in \
         `environment`, where anyone who can describe the task definition reads it; move it under `secrets`, with \
         `valueFrom` an SSM parameter (name or ARN) or a Secrets Manager ARN\n  \
         templates/api.task.json.j2: containerDefinitions[api].environment[DB_CONNECTION_STRING]: a secret-looking \
         name in `environment`, where anyone who can describe the task definition reads it; move it under `secrets`, \
         with `valueFrom` an SSM parameter (name or ARN) or a Secrets Manager ARN\n  \
         templates/api.task.json.j2: containerDefinitions[api].secrets[E].valueFrom is neither an SSM parameter or \
         Secrets Manager ARN nor an SSM parameter name (letters, digits, `_.-/`); write the reference there, never \
         the value\n  \
         templates/api.task.json.j2: containerDefinitions[api].image: `127.0.0.1:5000/api:latest` is tagged \
         `latest`, which does not say what runs; use `{{ image }}` (or `{{ images.<service> }}`), tagged with the \
         commit\n  \
         templates/api.task.json.j2: containerDefinitions[xray].image: `amazon/aws-xray-daemon` has no tag, which \
         does not say what runs; pin a version tag or a digest (`amazon/aws-xray-daemon:<version>` or \
         `amazon/aws-xray-daemon@sha256:<digest>`)\n  \
         templates/api.task.json.j2: runtimePlatform.cpuArchitecture is X86_64, but api builds its image for \
         linux/arm64; make them agree (`platform` in services/api/service.toml)\n"
    );
}

#[test]
fn a_definition_ecs_would_not_take_is_refused_with_the_field_and_the_fix() {
    let repo = Repo::project();
    // Copied from `describe-task-definition` output and edited by hand: a
    // number where ECS wants a string, keys that only describe a revision,
    // a misspelled key and a string where a number goes.
    repo.write(
        "templates/api.task.json.j2",
        r#"{"family": "api", "cpu": 256, "memory": "512", "revision": 3, "status": "ACTIVE",
 "taskDefinitionArn": "arn:aws:ecs:us-east-1:000000000000:task-definition/api:3",
 "registeredAt": "2026-11-01T10:00:00Z",
 "containerDefinitions": [{"name": "api", "image": "{{ image }}", "essentail": true,
   "portMappings": [{"containerPort": "8000"}]}]}
"#,
    );
    let expected = "error: 7 template problems found, nothing was written:\n  \
         templates/api.task.json.j2: containerDefinitions[api].essentail: ECS knows no such key; did you mean \
         `essential`?\n  \
         templates/api.task.json.j2: containerDefinitions[api].portMappings[0].containerPort: ECS wants a whole \
         number, not a string; write it as a number without quotes: 8000\n  \
         templates/api.task.json.j2: cpu: ECS wants a string, not a number; write it as a string: \"256\"\n  \
         templates/api.task.json.j2: registeredAt: ECS returns this key about a registered revision but does not \
         take it; remove it (a definition copied from `describe-task-definition` carries it)\n  \
         templates/api.task.json.j2: revision: ECS returns this key about a registered revision but does not take \
         it; remove it (a definition copied from `describe-task-definition` carries it)\n  \
         templates/api.task.json.j2: status: ECS returns this key about a registered revision but does not take it; \
         remove it (a definition copied from `describe-task-definition` carries it)\n  \
         templates/api.task.json.j2: taskDefinitionArn: ECS returns this key about a registered revision but does \
         not take it; remove it (a definition copied from `describe-task-definition` carries it)\n";
    assert_eq!(repo.xtask(&["render", "--env", "dev"]).failure().stderr, expected);
    // Before anything is built: a release stops at the same place.
    let run = repo.xtask(&["release", "--env", "dev", "--dry-run"]).failure();
    assert_eq!((run.stdout.as_str(), run.stderr.as_str()), ("", expected));
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

#[test]
fn credentials_under_harmless_names_are_refused_in_ecs_and_redacted_everywhere() {
    let repo = Repo::project();
    // Each shape of credential, under a name that does not look secret.
    let values = [
        ("PAYMENTS", "sk_live_4eC39HqLyjWDarjtT1zdp7dc"),
        ("UPLOADER", "AKIAIOSFODNN7EXAMPLE"),
        ("BOT", "ghp_1234567890abcdefghijklmnopqrstuvwxyz"),
        ("CHAT", "xoxb-1234567890-abcdefghij"),
        ("CERT", "-----BEGIN RSA PRIVATE KEY-----MIIEow-----END RSA PRIVATE KEY-----"),
        ("DATABASE_URL", "postgres://admin:S3cret-db-pw@db.internal:5432/app"),
    ];
    let env: String = values.iter().map(|(name, value)| format!("{name}={value}\n")).collect();
    repo.write("templates/api.env.j2", &env);
    repo.write(
        "templates/api.task.json.j2",
        "{\"family\": \"api\", \"containerDefinitions\": [{\"name\": \"api\", \"image\": \"{{ image }}\", \
         \"environment\": {{ service_env | tojson }}}]}\n",
    );
    repo.commit();
    let run = repo.xtask(&["render", "--env", "dev"]).failure();
    let refusal = |name: &str, shape: &str| {
        format!(
            "  templates/api.task.json.j2: containerDefinitions[api].environment[{name}]: the value looks like \
             {shape} in `environment`, where anyone who can describe the task definition reads it; move it under \
             `secrets`, with `valueFrom` an SSM parameter (name or ARN) or a Secrets Manager ARN\n"
        )
    };
    assert_eq!(
        run.stderr,
        [
            "error: 6 template problems found, nothing was written:\n".to_string(),
            refusal("PAYMENTS", "a Stripe live secret key"),
            refusal("UPLOADER", "an AWS access key id"),
            refusal("BOT", "a GitHub token"),
            refusal("CHAT", "a Slack token"),
            refusal("CERT", "a PEM private key"),
            refusal("DATABASE_URL", "a URL with a password"),
        ]
        .concat()
    );
    // Shown for compose only, every value is redacted; the file written keeps them.
    repo.write("templates/api.task.json.j2", "{\"family\": \"api\", \"containerDefinitions\": [{\"name\": \"api\", \"image\": \"{{ image }}\"}]}\n");
    repo.commit();
    let run = repo.xtask(&["render", "--env", "dev", "--service", "api"]).success();
    assert!(
        run.stdout.contains(
            "PAYMENTS=<redacted>\nUPLOADER=<redacted>\nBOT=<redacted>\nCHAT=<redacted>\nCERT=<redacted>\n\
             DATABASE_URL=postgres://admin:<redacted>@db.internal:5432/app\n"
        ),
        "{}",
        run.stdout
    );
    for (_, value) in values {
        assert!(!run.stdout.contains(value) && !run.stderr.contains(value), "{value} was shown");
    }
    repo.xtask(&["dev-env"]).success();
    assert!(repo.read("services/api/dev.env").contains("PAYMENTS=sk_live_4eC39HqLyjWDarjtT1zdp7dc\n"));
}
