//! Unit tests of `project.rs`.

use super::*;

fn project(files: &[(&str, &str)]) -> (tempfile::TempDir, Result<Project>) {
    let dir = tempfile::tempdir().unwrap();
    for (path, contents) in files {
        let path = dir.path().join(path);
        fs::create_dir_all(path.parent().unwrap()).unwrap();
        fs::write(path, contents).unwrap();
    }
    let loaded = Project::load(dir.path().to_path_buf());
    (dir, loaded)
}

const PROD: &str = "region = \"eu-west-1\"\naccount_id = \"123456789012\"\ncluster = \"main\"\n";

#[test]
fn conventions_fill_in_what_service_toml_leaves_out() {
    let (_dir, project) = project(&[
        ("env/prod.toml", PROD),
        ("services/api/Dockerfile", "FROM scratch\n"),
        ("templates/api.env.j2", "A=1\n"),
    ]);
    let project = project.unwrap();
    let api = &project.services[0];
    assert_eq!(api.repository, "api");
    assert_eq!(api.platform, "linux/amd64");
    assert_eq!(api.dockerfile, PathBuf::from("services/api/Dockerfile"));
    assert_eq!(api.env_template.as_deref(), Some("api.env.j2"));
    assert_eq!(api.task_definition_template, None);
    assert_eq!(api.ecs_service, "api");
}

#[test]
fn unknown_key_names_file_line_and_key() {
    let (_dir, project) = project(&[("env/prod.toml", PROD), ("services/api/Dockerfile", "FROM scratch\n")]);
    let project = project.unwrap();
    std::fs::write(project.root.join("env/prod.toml"), format!("{PROD}\nclustr = \"x\"\n")).unwrap();
    let err = project.environment("prod").unwrap_err().to_string();
    assert!(err.starts_with("env/prod.toml:5: unknown key `clustr`, expected one of `region`"), "{err}");
}

#[test]
fn after_must_name_a_service() {
    let (_dir, project) = project(&[
        ("services/api/Dockerfile", "FROM scratch\n"),
        ("services/api/service.toml", "\nafter = [\"bsae\"]\n"),
    ]);
    let err = project.err().unwrap().to_string();
    assert_eq!(err, "services/api/service.toml:2: `after` names unknown service `bsae`; services here: api");
}

#[test]
fn account_id_must_have_twelve_digits() {
    let (_dir, project) = project(&[
        ("env/prod.toml", "region = \"eu-west-1\"\naccount_id = \"1234\"\ncluster = \"c\"\n"),
        ("services/api/Dockerfile", "FROM scratch\n"),
    ]);
    let err = project.unwrap().environment("prod").unwrap_err().to_string();
    assert_eq!(err, "env/prod.toml:2: `account_id` must be the 12-digit AWS account id, not \"1234\"");
}

#[test]
fn build_args_name_the_images_they_read_in_any_form() {
    let read = |template| images_read_by(template).map(|names| names.join(","));
    assert_eq!(read("plain").as_deref(), Some(""));
    assert_eq!(read("{{ images.base }}").as_deref(), Some("base"));
    assert_eq!(read("x-{{images.base}}-{{ images.tools }}").as_deref(), Some("base,tools"));
    // Hyphenated names, which `images.web-base` cannot reach (it is a subtraction).
    assert_eq!(read("{{ images['web-base'] }}").as_deref(), Some("web-base"));
    assert_eq!(read("{{ images[\"web-base\"] | lower }}").as_deref(), Some("web-base"));
    assert_eq!(
        read("{% if values.slim %}{{ images.slim }}{% else %}{{ images.full }}{% endif %}").as_deref(),
        Some("full")
    );
    // Other reads are the digest's business, not the inputs'.
    assert_eq!(read("{{ values.api_url }}").as_deref(), Some(""));
    assert_eq!(read("{{ env(\"TOKEN\") }}-{{ images.base }}").as_deref(), Some("base"));
    assert_eq!(read("{{ unclosed"), None);
}

#[test]
fn image_inputs_take_in_the_services_an_image_is_built_from() {
    let (_dir, project) = project(&[
        ("Cargo.lock", ""),
        ("services/base/Dockerfile", "FROM scratch\n"),
        ("services/web/Dockerfile", "ARG BASE\nFROM $BASE\n"),
        (
            "services/web/service.toml",
            "after = [\"base\"]\ninputs = [\"Cargo.lock\"]\n[build_args]\nBASE = \"{{ images.base }}\"\n",
        ),
        ("services/job/Dockerfile", "FROM scratch\n"),
        ("services/job/service.toml", "[build_args]\nURL = \"{{ values.url }}\"\n"),
    ]);
    let project = project.unwrap();
    let web = project.service("web").unwrap();
    let inputs: Vec<_> =
        project.image_inputs(web).unwrap().iter().map(|p| p.to_string_lossy().into_owned()).collect();
    assert_eq!(
        inputs,
        [
            "Cargo.lock",
            "services/base",
            "services/base/Dockerfile",
            "services/web",
            "services/web/Dockerfile"
        ]
    );
    // A build argument reading the environment leaves the image tied to
    // its files; the value goes into the tag's digest instead.
    let job: Vec<_> = project
        .image_inputs(project.service("job").unwrap())
        .unwrap()
        .iter()
        .map(|p| p.to_string_lossy().into_owned())
        .collect();
    assert_eq!(job, ["services/job", "services/job/Dockerfile"]);
}

#[test]
fn a_context_above_the_service_folder_is_resolved_against_the_root() {
    assert_eq!(within_root(Path::new("services/api/../..")), Some(PathBuf::new()));
    assert_eq!(within_root(Path::new("services/api/../lib/./x")), Some(PathBuf::from("services/lib/x")));
    assert_eq!(within_root(Path::new("services/api/../../..")), None);
}

#[test]
fn inputs_must_exist_inside_the_project() {
    for given in ["\"Cargo.lok\"", "\"../elsewhere\""] {
        let (_dir, project) = project(&[
            ("Cargo.lock", ""),
            ("services/api/Dockerfile", "FROM scratch\n"),
            ("services/api/service.toml", &format!("\ninputs = [{given}]\n")),
        ]);
        let err = project.err().unwrap().to_string();
        assert!(err.starts_with("services/api/service.toml:2: `inputs` names "), "{err}");
        assert!(err.ends_with("which is not a file or folder of the project; give paths relative to the project root, such as \"Cargo.lock\" or \"libs/common\""), "{err}");
    }
}

#[test]
fn line_of_counts_from_one() {
    assert_eq!(line_of("a\nb\nc", 0), 1);
    assert_eq!(line_of("a\nb\nc", 2), 2);
    assert_eq!(line_of("a\nb\nc", 99), 3);
}
