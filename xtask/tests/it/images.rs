//! `build` and `push` against the real Docker Engine, a real registry with
//! htpasswd auth, and moto for ECR, with a proxy injecting faults.

use std::process::Command;
use std::sync::atomic::{AtomicUsize, Ordering};

use crate::harness::{Repo, Run};
use crate::proxy::{Fault, Proxy};
use crate::servers::{servers, ECR_PASSWORD, ECR_USER};

/// A project with a base image (busybox laid out by a prebuild step) and an
/// app built FROM it, pushing to `registry_port`. Repository names are unique
/// per test, so tests sharing the registry never see each other's images.
pub(crate) struct Images {
    pub(crate) repo: Repo,
    pub(crate) prefix: String,
    /// The port env/dev.toml names (a proxy's, in some tests): the tags are made from it.
    registry_port: u16,
}

pub(crate) fn images(registry_port: u16) -> Images {
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    let prefix = format!("t{}-{}", std::process::id(), NEXT.fetch_add(1, Ordering::SeqCst));
    let repo = Repo::with_registry(registry_port);
    repo.write(".gitignore", "/services/*/*.env\n/services/base/rootfs/\n");
    repo.write(
        "services/base/service.toml",
        &format!(
            "repository = \"{prefix}/base\"\nprebuild = [\"sh\", \"rootfs.sh\"]\nimmutable_tags = true\n"
        ),
    );
    repo.write(
        "services/base/rootfs.sh",
        "set -eu\nrm -rf rootfs\nmkdir -p rootfs/bin\ncp \"$(command -v busybox)\" rootfs/bin/busybox\n\
         ln -s busybox rootfs/bin/sh\n",
    );
    repo.write("services/base/Dockerfile", "FROM scratch\nCOPY rootfs/ /\n");
    repo.write("services/base/.dockerignore", "*\n!rootfs/\n");
    repo.write(
        "services/app/service.toml",
        &format!("repository = \"{prefix}/app\"\nafter = [\"base\"]\n\n[build_args]\nBASE = \"{{{{ images.base }}}}\"\n"),
    );
    repo.write("services/app/Dockerfile", "ARG BASE\nFROM ${BASE}\nCOPY . /ctx/\nCMD [\"/bin/sh\"]\n");
    repo.write("services/app/.dockerignore", "secret.txt\n**/*.log\n");
    repo.write("services/app/hello.txt", "hello\n");
    repo.write("services/app/secret.txt", "do not ship\n");
    repo.write("services/app/logs/debug.log", "noise\n");
    repo.git(&["remote", "add", "origin", "https://example.com/shop.git"]);
    repo.commit();
    Images { repo, prefix, registry_port }
}

impl Images {
    /// A service's image at HEAD, as reached through `port`.
    pub(crate) fn image(&self, service: &str, port: u16) -> String {
        format!("127.0.0.1:{port}/{}/{service}:{}", self.prefix, self.tag(service))
    }

    /// A service's tag at HEAD: the app is built FROM the base, so its tag
    /// carries the digest of that argument, as the project names the base.
    pub(crate) fn tag(&self, service: &str) -> String {
        let sha = self.repo.short_sha();
        match service {
            "app" => Repo::tag_with_args(&sha, &[("BASE", &self.image("base", self.registry_port))]),
            _ => sha,
        }
    }

    pub(crate) fn xtask(&self, args: &[&str], aws_port: u16) -> Run {
        self.repo.xtask_aws(args, aws_port)
    }
}

pub(crate) fn docker(args: &[&str]) -> String {
    let out = crate::tools::tool("docker").args(args).output().unwrap();
    assert!(out.status.success(), "docker {args:?}: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8(out.stdout).unwrap().trim().to_string()
}

/// `skopeo inspect` of an image in the test registry, as JSON.
pub(crate) fn skopeo_inspect(image: &str) -> serde_json::Value {
    let out = crate::tools::tool("skopeo")
        .args(["inspect", "--tls-verify=false", "--creds", &format!("{ECR_USER}:{ECR_PASSWORD}")])
        .arg(format!("docker://{image}"))
        .output()
        .expect("run skopeo (apt-get install skopeo)");
    assert!(out.status.success(), "skopeo inspect {image}: {}", String::from_utf8_lossy(&out.stderr));
    serde_json::from_slice(&out.stdout).unwrap()
}

/// The digest `push` printed for a service.
pub(crate) fn printed_digest(stdout: &str, service: &str) -> String {
    let line = stdout
        .lines()
        .find(|l| l.starts_with(&format!("push {service} ")) && l.contains("@sha256:"))
        .unwrap_or_else(|| panic!("no pushed line for {service} in:\n{stdout}"));
    line.split('@').nth(1).unwrap().split_whitespace().next().unwrap().to_string()
}

#[test]
fn build_tags_labels_honours_dockerignore_and_reuses_images() {
    let s = servers();
    let project = images(s.registry_port);
    let run = project.xtask(&["build"], s.moto_port).success();
    let (base, app) = (project.image("base", s.registry_port), project.image("app", s.registry_port));
    // The base image was built before the image FROM it, and both exist.
    let base_at = run.stdout.find("build base ").unwrap();
    let app_at = run.stdout.find("build app ").unwrap();
    assert!(base_at < app_at, "{}", run.stdout);
    assert!(run.stdout.contains(&format!("built {app} (")), "{}", run.stdout);

    let sha = String::from_utf8(project.repo.git(&["rev-parse", "HEAD"]).stdout).unwrap();
    let labels: serde_json::Value =
        serde_json::from_str(&docker(&["image", "inspect", "--format", "{{json .Config.Labels}}", &app]))
            .unwrap();
    assert_eq!(labels["org.opencontainers.image.revision"], sha.trim());
    assert_eq!(labels["org.opencontainers.image.source"], "https://example.com/shop.git");
    assert!(labels["org.opencontainers.image.created"].as_str().unwrap().starts_with("20"));
    assert_eq!(docker(&["image", "inspect", "--format", "{{.Architecture}}", &base]), "amd64");

    // What the build saw of the context: .dockerignore left out the secret and the logs.
    let container = docker(&["create", &app]);
    let listing = Command::new("sh")
        .args(["-c", &format!("docker cp {container}:/ctx - | tar -t | sort")])
        .output()
        .unwrap();
    docker(&["rm", &container]);
    let listing = String::from_utf8(listing.stdout).unwrap();
    assert_eq!(
        listing, "ctx/\nctx/.dockerignore\nctx/Dockerfile\nctx/hello.txt\nctx/logs/\nctx/service.toml\n",
        "build context as the image saw it"
    );

    // Nothing changed: nothing is rebuilt, and no prebuild runs.
    let again = project.xtask(&["build"], s.moto_port).success();
    assert!(again
        .stdout
        .contains(&format!("build app          skipped: {app} exists (--force rebuilds it)\n")));
    assert!(again.stdout.contains("prebuild base      skipped: "), "{}", again.stdout);
    let forced = project.xtask(&["build", "--force", "--service", "base"], s.moto_port).success();
    assert!(forced.stdout.contains(&format!("build base         built {base} (")), "{}", forced.stdout);
    assert!(!forced.stdout.contains("build app"), "--service base must not build app");
    // -q: the same run without a line of progress; -v: every build step's output as well.
    assert_eq!(project.xtask(&["build", "-q"], s.moto_port).success().stdout, "");
    let verbose = project.xtask(&["build", "--force", "--service", "base", "-v"], s.moto_port).success();
    assert!(verbose.stdout.contains("build base | "), "{}", verbose.stdout);
    assert!(!forced.stdout.contains("build base | "), "{}", forced.stdout);
}

#[test]
fn push_lands_in_the_registry_with_the_printed_digest_and_a_rerun_pushes_nothing() {
    let s = servers();
    let project = images(s.registry_port);
    let run = project.xtask(&["push", "--env", "dev"], s.moto_port).success();
    // The images' commit is the repository's first: there is no image before
    // it to take a cache from, and nothing else to say about it.
    assert_eq!(run.stderr, "");
    for service in ["base", "app"] {
        let image = project.image(service, s.registry_port);
        let inspected = skopeo_inspect(&image);
        assert_eq!(inspected["Digest"], printed_digest(&run.stdout, service), "{image}");
        assert!(run.stdout.contains(&format!(
            "ensure-repo {service:<6} created repository {}/{service}\n",
            project.prefix
        )));
    }
    let app = skopeo_inspect(&project.image("app", s.registry_port));
    assert_eq!(app["Labels"]["org.opencontainers.image.source"], "https://example.com/shop.git");

    // The repositories exist in ECR, scanned on push.
    let repositories = crate::servers::ecr(s.moto_port, "DescribeRepositories", serde_json::json!({}));
    let app_repository = repositories["repositories"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["repositoryName"] == format!("{}/app", project.prefix))
        .expect("the app repository was created in ECR");
    assert_eq!(app_repository["imageScanningConfiguration"]["scanOnPush"], true);
    assert_eq!(app_repository["imageTagMutability"], "MUTABLE");
    let base_repository = repositories["repositories"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["repositoryName"] == format!("{}/base", project.prefix))
        .expect("the base repository was created in ECR");
    assert_eq!(base_repository["imageTagMutability"], "IMMUTABLE", "immutable_tags = true in service.toml");

    let again = project.xtask(&["push", "--env", "dev"], s.moto_port).success();
    assert!(!again.stdout.contains("pushed"), "{}", again.stdout);
    assert!(again.stdout.contains(&format!(
        "push app           skipped: {} is in the registry ({})\n",
        project.image("app", s.registry_port),
        printed_digest(&run.stdout, "app")
    )));
    for secret in [ECR_PASSWORD, "testing-secret-value"] {
        assert!(!run.stdout.contains(secret) && !run.stderr.contains(secret), "a credential was printed");
    }
}

#[test]
fn an_expired_aws_session_stops_before_any_build() {
    let s = servers();
    let aws = Proxy::start(s.moto_port);
    aws.inject(
        "GetAuthorizationToken",
        1,
        Fault::aws_error("ExpiredTokenException", "The security token included in the request is expired"),
    );
    let project = images(s.registry_port);
    let run = project.xtask(&["push", "--env", "dev"], aws.port).failure();
    assert_eq!(run.stdout, "");
    assert_eq!(
        run.stderr,
        "error: cannot start, nothing was changed:\n  cannot get an ECR token: the AWS session has expired (The \
         security token included in the request is expired); renew the AWS session: `aws sso login` (with the \
         right AWS_PROFILE exported), or fresh MFA credentials\n"
    );
    assert!(!project.repo.exists("services/base/rootfs"), "the prebuild must not have run");
}

#[test]
fn engine_and_aws_problems_are_reported_together() {
    let s = servers();
    let aws = Proxy::start(s.moto_port);
    aws.inject(
        "GetAuthorizationToken",
        1,
        Fault::aws_error(
            "UnrecognizedClientException",
            "The security token included in the request is invalid.",
        ),
    );
    let project = images(s.registry_port);
    let endpoint = format!("http://127.0.0.1:{}", aws.port);
    let run = project
        .repo
        .xtask_with(
            &["push", "--env", "dev"],
            &[
                ("DOCKER_HOST", "unix:///nonexistent/docker.sock"),
                ("AWS_ENDPOINT_URL", &endpoint),
                ("AWS_ACCESS_KEY_ID", "testing"),
                ("AWS_SECRET_ACCESS_KEY", "testing"),
            ],
        )
        .failure();
    assert!(
        run.stderr.starts_with(
            "error: cannot start, nothing was changed:\n  cannot reach the Docker Engine at \
             unix:///nonexistent/docker.sock (from DOCKER_HOST): "
        ),
        "{}",
        run.stderr
    );
    assert!(run.stderr.ends_with(
        "; start it (for example `sudo systemctl start docker`) or point DOCKER_HOST at it\n  cannot get an ECR \
         token: AWS does not accept these credentials (The security token included in the request is invalid.); \
         renew the AWS session: `aws sso login` (with the right AWS_PROFILE exported), or fresh MFA credentials, \
         and check AWS_PROFILE\n"
    ));
}

#[test]
fn a_failed_build_shows_its_log_and_keeps_the_other_work() {
    let s = servers();
    let project = images(s.registry_port);
    project.repo.write("services/lonely/Dockerfile", "FROM scratch\nCOPY missing.txt /\n");
    project.repo.write(
        "services/broken/service.toml",
        &format!("repository = \"{}/broken\"\nafter = [\"base\"]\n\n[build_args]\nBASE = \"{{{{ images.base }}}}\"\n", project.prefix),
    );
    project.repo.write(
        "services/broken/Dockerfile",
        "ARG BASE\nFROM ${BASE}\nRUN echo compiling; echo 'error: oops' >&2; exit 3\n",
    );
    project.repo.commit();
    let run = project.xtask(&["build"], s.moto_port).failure();
    // Each failure names the failing instruction and shows its last lines.
    assert!(run.stderr.contains("build lonely       FAILED: build 127.0.0.1:"), "{}", run.stderr);
    assert!(
        run.stderr.contains(
            ": \"/missing.txt\" not found: not found\n--- the failing step: [1/1] COPY missing.txt / ---\n"
        ),
        "{}",
        run.stderr
    );
    // The step's output, its two streams in whatever order they arrived.
    let heading =
        "exit code: 3\n--- the failing step: [2/2] RUN echo compiling; echo 'error: oops' >&2; exit 3 ---\n";
    let shown =
        &run.stderr[run.stderr.find(heading).unwrap_or_else(|| panic!("{}", run.stderr)) + heading.len()..];
    let shown: Vec<&str> = shown.lines().take(2).collect();
    assert!(shown.contains(&"compiling") && shown.contains(&"error: oops"), "{}", run.stderr);
    assert!(run.stderr.ends_with(
        "error: build broken, build lonely failed; the other steps finished, and a rerun continues from where this one stopped\n"
    ), "{}", run.stderr);
    // A failed build leaves no tag behind.
    let broken = project.image("broken", s.registry_port);
    assert!(!crate::tools::tool("docker")
        .args(["image", "inspect", &broken])
        .output()
        .unwrap()
        .status
        .success());
    // The other services' images were built and are reused by the next run.
    assert!(run.stdout.contains("build app          built 127.0.0.1:"), "{}", run.stdout);
    std::fs::remove_dir_all(project.repo.path().join("services/broken")).unwrap();
    project.repo.write("services/lonely/missing.txt", "found\n");
    project.repo.git(&["add", "-A"]);
    project.repo.git(&["commit", "-q", "--amend", "--no-edit"]);
    let rerun = project.xtask(&["build"], s.moto_port).success();
    assert!(rerun.stdout.contains("build lonely       built "), "{}", rerun.stdout);
}

#[test]
fn repository_creation_denied_names_the_service() {
    let s = servers();
    let aws = Proxy::start(s.moto_port);
    aws.inject(
        "CreateRepository",
        2,
        Fault::aws_error("AccessDeniedException", "not authorized to perform: ecr:CreateRepository"),
    );
    let project = images(s.registry_port);
    let run = project.xtask(&["push", "--env", "dev", "--service", "base"], aws.port).failure();
    assert!(
        run.stderr.contains("ensure-repo base   FAILED: cannot create ECR repository "),
        "{}",
        run.stderr
    );
    assert!(run.stderr.contains(
        ": access denied (not authorized to perform: ecr:CreateRepository); the role in use needs the permission \
         for this; ask whoever manages the account's IAM policies\n"
    ));
    assert!(run.stderr.ends_with(
        "error: ensure-repo base failed; not started because of it: push base; the other steps finished, and a \
         rerun continues from where this one stopped\n"
    ), "{}", run.stderr);
}

#[test]
fn push_refuses_a_dirty_tree_unless_allowed() {
    let s = servers();
    let project = images(s.registry_port);
    project.repo.write("services/app/hello.txt", "changed\n");
    let run = project.xtask(&["push", "--env", "dev"], s.moto_port).failure();
    assert_eq!(
        run.stderr,
        format!(
            "error: the working tree has uncommitted changes that reach the image of app ({}-dirty), tagged with no \
             commit that explains them; commit or stash them, or pass --allow-dirty\n",
            project.tag("app")
        )
    );
}
