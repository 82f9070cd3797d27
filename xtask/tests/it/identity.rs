//! Image identity: the same inputs give the same tag in every environment
//! and on every machine; different rendered build arguments give different
//! tags; hyphenated service names are followed in the form minijinja reads.

use std::process::Command;

use crate::harness::Repo;
use crate::images::docker;
use crate::servers::servers;

/// Three environments sharing one registry: dev and qa render the same
/// backend URL, staging another. `web` bakes the URL in (a React build).
fn shared_registry(registry_port: u16, name: &str) -> Repo {
    let repo = Repo::empty();
    repo.write(".gitignore", "/services/*/*.env\n");
    for (env, url) in [
        ("dev", "https://api.dev.example.com"),
        ("qa", "https://api.dev.example.com"),
        ("staging", "https://api.staging.example.com"),
    ] {
        repo.write(
            &format!("env/{env}.toml"),
            &format!(
                "region = \"us-east-1\"\naccount_id = \"123456789012\"\ncluster = \"c\"\n\
                 registry = \"127.0.0.1:{registry_port}\"\n\n[values]\napi_url = \"{url}\"\n"
            ),
        );
    }
    repo.write(
        "services/web/service.toml",
        &format!("repository = \"{name}/web\"\n\n[build_args]\nBACKEND_URL = \"{{{{ values.api_url }}}}\"\n"),
    );
    repo.write(
        "services/web/Dockerfile",
        "FROM scratch\nARG BACKEND_URL\nCOPY index.html /\nLABEL backend=$BACKEND_URL\n",
    );
    repo.write("services/web/index.html", "<div id=root></div>\n");
    repo.write("services/api/service.toml", &format!("repository = \"{name}/api\"\n"));
    repo.write("services/api/Dockerfile", "FROM scratch\nCOPY app.py /\n");
    repo.write("services/api/app.py", "print('api')\n");
    repo.commit();
    repo
}

/// The image reference a build line names for a service.
fn built_image(stdout: &str, service: &str) -> String {
    let line = stdout
        .lines()
        .find(|l| l.starts_with(&format!("build {service} ")))
        .unwrap_or_else(|| panic!("no build line for {service}:\n{stdout}"));
    let after = line.split(" built ").nth(1).or_else(|| line.split("skipped: ").nth(1)).unwrap();
    after.split_whitespace().next().unwrap().to_string()
}

fn label(image: &str, name: &str) -> String {
    docker(&["image", "inspect", "--format", &format!("{{{{index .Config.Labels \"{name}\"}}}}"), image])
}

#[test]
fn environments_sharing_a_registry_share_an_image_only_when_they_render_the_same_build_arguments() {
    let s = servers();
    let name = format!("id{}", std::process::id());
    let repo = shared_registry(s.registry_port, &name);
    let sha = repo.short_sha();
    let dev = repo.xtask(&["build", "--env", "dev"]).success();
    let dev_web = built_image(&dev.stdout, "web");
    let staging = repo.xtask(&["build", "--env", "staging"]).success();
    let staging_web = built_image(&staging.stdout, "web");
    // The commit, then the digest of the rendered arguments.
    let prefix = format!("127.0.0.1:{}/{name}/web:{sha}-", s.registry_port);
    assert!(dev_web.starts_with(&prefix) && staging_web.starts_with(&prefix), "{dev_web} {staging_web}");
    assert_ne!(dev_web, staging_web, "staging must not run dev's image");
    assert!(
        staging.stdout.contains(&format!("build web          built {staging_web} (")),
        "{}",
        staging.stdout
    );
    assert_eq!(label(&dev_web, "backend"), "https://api.dev.example.com");
    assert_eq!(label(&staging_web, "backend"), "https://api.staging.example.com");
    assert_eq!(label(&dev_web, "dev.xtask.build-args.digest"), dev_web.rsplit('-').next().unwrap());
    assert_eq!(label(&dev_web, "dev.xtask.inputs"), "services/web,services/web/Dockerfile");
    // A service without build arguments keeps the plain commit tag, shared by all.
    assert_eq!(built_image(&dev.stdout, "api"), format!("127.0.0.1:{}/{name}/api:{sha}", s.registry_port));
    assert!(staging.stdout.contains("build api          skipped: "), "{}", staging.stdout);
    // `status` shows the image this commit wants and its digest.
    let status = repo.xtask_aws(&["status", "--env", "staging", "--service", "web"], s.moto_port).success();
    let digest = staging_web.rsplit('-').next().unwrap();
    assert!(
        status.stdout.contains(&format!(
            "  image     {staging_web}, not in the registry yet (build arguments' digest {digest})\n"
        )),
        "{}",
        status.stdout
    );
    // qa renders what dev renders: the same image, already there.
    let qa = repo.xtask(&["build", "--env", "qa"]).success();
    assert!(qa.stdout.contains(&format!("build web          skipped: {dev_web} exists")), "{}", qa.stdout);

    // `created` is the commit's time, so a rebuild gives the same config.
    let commit_time = String::from_utf8(repo.git(&["show", "-s", "--format=%ct", "HEAD"]).stdout).unwrap();
    let expected = Command::new("date")
        .args(["-u", "-d", &format!("@{}", commit_time.trim()), "+%Y-%m-%dT%H:%M:%SZ"])
        .output()
        .unwrap();
    assert_eq!(
        label(&dev_web, "org.opencontainers.image.created"),
        String::from_utf8(expected.stdout).unwrap().trim()
    );
    // A rebuild of the same inputs gives the same labels. (The config's own
    // `created` is the build's time on this engine: its BuildKit predates
    // SOURCE_DATE_EPOCH, which the tool passes for engines that honour it.)
    let labels = |image: &str| docker(&["image", "inspect", "--format", "{{json .Config.Labels}}", image]);
    let labels_before = labels(&dev_web);
    repo.xtask(&["build", "--env", "dev", "--service", "web", "--force"]).success();
    assert_eq!(labels(&dev_web), labels_before, "a rebuild changed the labels");

    // A commit that touches only the api leaves web's tag (and image) alone,
    // although web's build argument reads the environment.
    repo.write("services/api/app.py", "print('api v2')\n");
    repo.commit();
    let next = repo.xtask(&["build", "--env", "staging"]).success();
    assert!(
        next.stdout.contains(&format!("build web          skipped: {staging_web} exists")),
        "{}",
        next.stdout
    );
    assert!(next.stdout.contains("build api          built "), "{}", next.stdout);

    // A second machine (a fresh clone, nothing of these images on its
    // engine) computes the same tags.
    let clone = Repo::empty();
    let cloned = Command::new("git")
        .args(["clone", "-q", repo.path().to_str().unwrap(), clone.path().join("copy").to_str().unwrap()])
        .status()
        .unwrap();
    assert!(cloned.success());
    for image in [&dev_web, &staging_web] {
        docker(&["image", "rm", image]);
    }
    let fresh = Command::new(env!("CARGO_BIN_EXE_xtask"))
        .args(["build", "--env", "staging"])
        .current_dir(clone.path().join("copy"))
        .env("HOME", clone.path())
        .output()
        .unwrap();
    let fresh_out = String::from_utf8_lossy(&fresh.stdout);
    assert!(fresh.status.success(), "{fresh_out}{}", String::from_utf8_lossy(&fresh.stderr));
    assert_eq!(built_image(&fresh_out, "web"), staging_web, "{fresh_out}");
}

#[test]
fn hyphenated_services_are_followed_in_the_form_minijinja_reads() {
    let s = servers();
    let name = format!("hy{}", std::process::id());
    let repo = Repo::with_registry(s.registry_port);
    repo.write("services/web-base/service.toml", &format!("repository = \"{name}/web-base\"\n"));
    repo.write("services/web-base/Dockerfile", "FROM scratch\nCOPY base.txt /\n");
    repo.write("services/web-base/base.txt", "base\n");
    repo.write(
        "services/web/service.toml",
        &format!(
            "repository = \"{name}/web\"\nafter = [\"web-base\"]\n\n[build_args]\nBASE = \"{{{{ images['web-base'] }}}}\"\n"
        ),
    );
    repo.write("services/web/Dockerfile", "ARG BASE\nFROM ${BASE}\nCOPY web.txt /\n");
    repo.write("services/web/web.txt", "web\n");
    repo.write("README.md", "one\n");
    repo.commit();
    let first = repo.xtask(&["build"]).success();
    let web = built_image(&first.stdout, "web");
    // A commit elsewhere: web is still the image of the same inputs.
    repo.write("README.md", "two\n");
    repo.commit();
    let second = repo.xtask(&["build"]).success();
    assert!(
        second.stdout.contains(&format!("build web          skipped: {web} exists")),
        "{}",
        second.stdout
    );
    // A change to the base gives web a new tag too (its argument names the base's new tag).
    repo.write("services/web-base/base.txt", "base v2\n");
    repo.commit();
    let third = repo.xtask(&["build"]).success();
    assert!(third.stdout.contains("build web-base     built "), "{}", third.stdout);
    assert_ne!(built_image(&third.stdout, "web"), web, "{}", third.stdout);

    // `images.web-base` is a subtraction to minijinja: refused with the form that works.
    repo.write(
        "services/web/service.toml",
        &format!("repository = \"{name}/web\"\nafter = [\"web-base\"]\n\n[build_args]\nBASE = \"{{{{ images.web-base }}}}\"\n"),
    );
    let wrong = repo.xtask(&["build"]).failure();
    assert!(wrong.stderr.contains("services/web/service.toml: build_args.BASE"), "{}", wrong.stderr);
    assert!(
        wrong
            .stderr
            .contains("minijinja reads `images.web-base` as a subtraction: write `images['web-base']` "),
        "{}",
        wrong.stderr
    );
}

/// The tag `release --dry-run` plans for a service's build.
fn planned_tag(repo: &Repo, service: &str) -> String {
    let plan = repo.xtask(&["release", "--env", "dev", "--dry-run"]).success().stdout;
    let line = plan
        .lines()
        .find(|l| l.trim_start().starts_with(&format!("build {service} ")))
        .unwrap_or_else(|| panic!("no build {service} in:\n{plan}"));
    line.rsplit(':').next().unwrap().to_string()
}

fn two_services(repo: &Repo) {
    repo.write("env/dev.toml", crate::harness::DEV_TOML);
    for service in ["old", "busy"] {
        repo.write(&format!("services/{service}/Dockerfile"), "FROM scratch\nCOPY . /\n");
    }
}

#[test]
fn a_service_unchanged_for_longer_than_any_window_keeps_the_commit_that_changed_it() {
    // 12,000 commits (more than the 10,000 the history walk used to stop
    // at), written by git fast-import: `old` changed in the first only.
    let repo = Repo::empty();
    let mut stream = String::new();
    for i in 0..12_000 {
        stream.push_str(&format!(
            "commit refs/heads/main\nmark :{}\ncommitter t <t@example.com> {} +0000\ndata 2\nc\n",
            i + 1,
            1_700_000_000 + i
        ));
        if i == 0 {
            let env = crate::harness::DEV_TOML;
            for (path, text) in [
                ("env/dev.toml", env),
                ("services/old/Dockerfile", "FROM scratch\nCOPY . /\n"),
                ("services/busy/Dockerfile", "FROM scratch\nCOPY . /\n"),
            ] {
                stream.push_str(&format!("M 100644 inline {path}\ndata {}\n{text}\n", text.len()));
            }
        } else {
            stream.push_str(&format!("from :{i}\n"));
            let text = format!("{i}\n");
            stream.push_str(&format!("M 100644 inline services/busy/n.txt\ndata {}\n{text}\n", text.len()));
        }
    }
    let import = crate::harness::fed(
        Command::new("git").args(["fast-import", "--quiet"]).current_dir(repo.path()),
        stream.as_bytes(),
    );
    assert!(import.status.success(), "git fast-import: {}", String::from_utf8_lossy(&import.stderr));
    repo.git(&["reset", "-q", "--hard", "main"]);
    let first = String::from_utf8(repo.git(&["rev-list", "--max-parents=0", "HEAD"]).stdout).unwrap();
    assert_eq!(planned_tag(&repo, "old"), first.trim()[..12]);
    assert_eq!(planned_tag(&repo, "busy"), repo.short_sha());
    // Another commit to the busy service moves nothing of the old one.
    repo.write("services/busy/n.txt", "more\n");
    repo.commit();
    assert_eq!(planned_tag(&repo, "old"), first.trim()[..12]);
}

#[test]
fn reftable_and_sha256_repositories_are_read() {
    for format in ["--ref-format=reftable", "--object-format=sha256"] {
        let repo = Repo::empty();
        std::fs::remove_dir_all(repo.path().join(".git")).unwrap();
        repo.git(&["init", "-q", "-b", "main", format]);
        two_services(&repo);
        repo.commit();
        repo.write("services/busy/n.txt", "1\n");
        repo.commit();
        let old = String::from_utf8(repo.git(&["rev-parse", "HEAD~1"]).stdout).unwrap();
        if format.contains("sha256") {
            assert_eq!(old.trim().len(), 64, "{format}: a SHA-256 object id");
        }
        assert_eq!(planned_tag(&repo, "old"), old.trim()[..12], "{format}");
        assert_eq!(planned_tag(&repo, "busy"), repo.short_sha(), "{format}");
    }
}
