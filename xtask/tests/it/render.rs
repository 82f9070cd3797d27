use crate::harness::Repo;

#[test]
fn prints_env_files_and_task_definitions_with_secrets_redacted() {
    let repo = Repo::project();
    repo.write(
        "templates/api.task.json.j2",
        "{\"family\": \"api\", \"image\": \"{{ image }}\", \"environment\": {{ service_env | tojson }}}\n",
    );
    repo.write(
        "templates/api.env.j2",
        "GREETING={{ values.greeting }}\nAPI_TOKEN={{ env(\"API_TOKEN\") }}\n",
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
             [{{\"name\": \"GREETING\", \"value\": \"hello\"}}, {{\"name\": \"API_TOKEN\", \"value\": \
             \"\\u003credacted\\u003e\"}}]}}\n",
            repo.short_sha()
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
