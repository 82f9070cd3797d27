//! The builder against the real engine: BuildKit features, a private base
//! image pulled with the tool's own credentials, Docker's context rules, an
//! engine reached over TCP, and the previous image as a cache source.

use std::io::Read;
use std::process::Command;
use std::sync::atomic::Ordering;

use crate::harness::Repo;
use crate::images::{docker, images};
use crate::proxy::EngineOnTcp;
use crate::servers::{servers, ECR_PASSWORD, ECR_USER};

/// `tar -tv`-style listing (mode, owner, path) of a folder in an image.
fn listing(image: &str, path: &str) -> Vec<String> {
    let container = docker(&["create", image, "none"]);
    let out =
        crate::tools::tool("docker").args(["cp", &format!("{container}:{path}"), "-"]).output().unwrap();
    docker(&["rm", &container]);
    let mut archive = tar::Archive::new(&out.stdout[..]);
    let mut lines: Vec<String> = archive
        .entries()
        .unwrap()
        .map(|e| {
            let mut e = e.unwrap();
            let h = e.header().clone();
            let kind = match h.entry_type() {
                tar::EntryType::Directory => 'd',
                tar::EntryType::Fifo => 'p',
                tar::EntryType::Link => 'h',
                _ => '-',
            };
            let mut text = String::new();
            let _ = e.read_to_string(&mut text);
            format!(
                "{kind}{:o} {}:{} {}",
                h.mode().unwrap() & 0o7777,
                h.uid().unwrap(),
                h.gid().unwrap(),
                e.path().unwrap().display()
            )
        })
        .collect();
    lines.sort();
    lines
}

#[test]
fn buildkit_builds_modern_dockerfiles_for_arm64_through_an_engine_on_tcp() {
    let s = servers();
    let engine = EngineOnTcp::start(crate::proxy::EngineMode::Relay);
    let repo = Repo::with_registry(s.registry_port);
    let name = format!("bk{}", std::process::id());
    repo.write(
        "services/tool/service.toml",
        &format!("repository = \"{name}/tool\"\nplatform = \"linux/arm64\"\n"),
    );
    // No RUN: nothing of arm64 has to execute here. The first stage runs on
    // the machine's own platform, the usual cross-compile set-up.
    repo.write(
        "services/tool/Dockerfile",
        "FROM --platform=$BUILDPLATFORM scratch AS build\nARG TARGETARCH\nCOPY --chmod=755 tool.sh /tool.sh\n\
         FROM scratch\nARG TARGETARCH\nARG TARGETPLATFORM\nCOPY --from=build /tool.sh /tool.sh\n\
         LABEL arch=$TARGETARCH platform=$TARGETPLATFORM\n",
    );
    repo.write("services/tool/tool.sh", "echo hi\n");
    repo.commit();
    let image = format!("127.0.0.1:{}/{name}/tool:{}", s.registry_port, repo.short_sha());
    let docker_host = format!("tcp://127.0.0.1:{}", engine.port);
    let run = repo.xtask_with(&["build"], &[("DOCKER_HOST", &docker_host)]).success();
    assert!(run.stdout.contains(&format!("build tool         built {image} (")), "{}", run.stdout);
    assert!(engine.connections.load(Ordering::SeqCst) > 0, "the build did not go through DOCKER_HOST");
    // The classic builder refuses `COPY --chmod`; BuildKit sets TARGETARCH for the platform asked.
    assert_eq!(docker(&["image", "inspect", "--format", "{{.Architecture}}", &image]), "arm64");
    let labels: serde_json::Value =
        serde_json::from_str(&docker(&["image", "inspect", "--format", "{{json .Config.Labels}}", &image]))
            .unwrap();
    assert_eq!((&labels["arch"], &labels["platform"]), (&"arm64".into(), &"linux/arm64".into()));
    assert_eq!(listing(&image, "/tool.sh"), ["-755 0:0 tool.sh"]);

    // Doctor names the engine it reached, and where the address came from.
    let doctor = repo.xtask_with(&["doctor"], &[("DOCKER_HOST", &docker_host)]);
    assert!(
        doctor.stdout.contains(&format!(" at {docker_host} (from DOCKER_HOST)")),
        "{}{}",
        doctor.stdout,
        doctor.stderr
    );
    // An address it cannot use is refused, not replaced by the local socket.
    let wrong = repo.xtask_with(&["build", "--force"], &[("DOCKER_HOST", "127.0.0.1:2375")]).failure();
    assert!(
        wrong.stderr.contains(
            "the Docker Engine address `127.0.0.1:2375` from DOCKER_HOST is not one this tool can use"
        ),
        "{}",
        wrong.stderr
    );
}

#[test]
fn contexts_are_sent_as_the_docker_cli_sends_them() {
    let s = servers();
    let repo = Repo::with_registry(s.registry_port);
    repo.write(".gitignore", "/services/*/*.env\n/services/ctx/pipe\n/services/ctx/sock\n");
    let name = format!("cx{}", std::process::id());
    // The Dockerfile sits in a folder the ignore file leaves out: it is sent
    // all the same, since the engine reads it from the context.
    repo.write(
        "services/ctx/service.toml",
        &format!("repository = \"{name}/ctx\"\ndockerfile = \"svc/Dockerfile\"\n"),
    );
    repo.write("services/ctx/svc/Dockerfile", "FROM scratch\nCOPY . /ctx/\n");
    repo.write("services/ctx/svc/app.py", "ignored with its folder\n");
    repo.write("services/ctx/.dockerignore", "svc\n[a-c].txt\n**.tmp\n");
    for file in ["a.txt", "x.txt", "b.tmp", "dir/c.tmp", "keep/me"] {
        repo.write(&format!("services/ctx/{file}"), &format!("{file}\n"));
    }
    let dir = repo.path().join("services/ctx");
    std::fs::hard_link(dir.join("x.txt"), dir.join("x2.txt")).unwrap();
    repo.commit();
    // A FIFO and a socket, as a running dev server leaves them: the socket
    // is not sent (as with Docker) and neither stops the build.
    assert!(Command::new("mkfifo").arg(dir.join("pipe")).status().unwrap().success());
    let _socket = std::os::unix::net::UnixListener::bind(dir.join("sock")).unwrap();
    let run = repo.xtask(&["build"]).success();
    let image = format!("127.0.0.1:{}/{name}/ctx:{}", s.registry_port, repo.short_sha());
    assert!(run.stdout.contains(&format!("built {image} (")), "{}", run.stdout);
    assert_eq!(
        listing(&image, "/ctx"),
        [
            "-644 0:0 ctx/.dockerignore",
            "-644 0:0 ctx/keep/me",
            "-644 0:0 ctx/service.toml",
            // Where BuildKit through the engine's API differs from the docker
            // CLI: an ignored Dockerfile is in the context COPY sees (the
            // CLI's classic path drops it, buildx never sends it).
            "-644 0:0 ctx/svc/Dockerfile",
            "-644 0:0 ctx/x.txt",
            "d755 0:0 ctx/",
            "d755 0:0 ctx/dir/",
            "d755 0:0 ctx/keep/",
            "d755 0:0 ctx/svc/",
            // A second name of a file goes as a hard link, as Docker sends it.
            "h644 0:0 ctx/x2.txt",
        ]
    );
}

#[test]
fn a_private_base_image_is_pulled_with_the_tools_credentials_by_either_builder() {
    let s = servers();
    let project = images(s.registry_port);
    project.xtask(&["push", "--env", "dev", "--service", "base"], s.moto_port).success();
    let base = project.image("base", s.registry_port);
    // Nothing of the base is left on the engine, and the CLI holds no login:
    // only the tool's own token can fetch it.
    docker(&["rmi", &base]);
    let _ = crate::tools::tool("docker").args(["logout", &format!("127.0.0.1:{}", s.registry_port)]).output();
    project
        .repo
        .write("services/mirror/service.toml", &format!("repository = \"{}/mirror\"\n", project.prefix));
    project.repo.write("services/mirror/Dockerfile", &format!("FROM {base}\nCOPY note.txt /\n"));
    project.repo.write("services/mirror/note.txt", "on a private base\n");
    project.repo.commit();
    let run = project.xtask(&["build", "--service", "mirror"], s.moto_port).success();
    assert!(run.stdout.contains("build mirror       built "), "{}", run.stdout);
    let mirror = project.image("mirror", s.registry_port);
    assert!(
        listing(&mirror, "/bin").iter().any(|l| l.ends_with("bin/busybox")),
        "the base's files are in the image"
    );
    // The classic builder (kept for engines without BuildKit) sends the token
    // in X-Registry-Config.
    let classic = project.repo.xtask_aws_with(
        &["build", "--service", "mirror", "--force"],
        s.moto_port,
        &[("XTASK_BUILDER", "classic")],
    );
    let classic = classic.success();
    assert!(classic.stdout.contains("build mirror       built "), "{}", classic.stdout);
}

#[test]
fn a_changed_image_is_built_with_its_previous_image_as_cache_source() {
    let s = servers();
    let project = images(s.registry_port);
    project.xtask(&["push", "--env", "dev"], s.moto_port).success();
    let before = project.image("app", s.registry_port);
    project.repo.write("services/app/hello.txt", "hello again\n");
    project.repo.commit();
    let run = project.xtask(&["push", "--env", "dev", "--service", "app"], s.moto_port).success();
    assert!(run.stdout.contains(&format!(", cache from {before})\n")), "{}", run.stdout);
    // The pushed image carries BuildKit's inline cache metadata for the next build.
    let built = run.stdout.lines().find(|l| l.starts_with("build app ")).unwrap();
    let after = built.split(" built ").nth(1).unwrap().split_whitespace().next().unwrap();
    let config = crate::tools::tool("skopeo")
        .args([
            "inspect",
            "--config",
            "--raw",
            "--tls-verify=false",
            "--creds",
            &format!("{ECR_USER}:{ECR_PASSWORD}"),
        ])
        .arg(format!("docker://{after}"))
        .output()
        .unwrap();
    let config = String::from_utf8_lossy(&config.stdout);
    assert!(config.contains("\"moby.buildkit.cache.v0\""), "{config}");
}

#[test]
fn ci_matrix_lists_the_services_whose_images_the_registry_lacks() {
    let s = servers();
    let project = images(s.registry_port);
    let matrix = |project: &crate::images::Images| {
        project.xtask(&["ci", "matrix", "--env", "dev"], s.moto_port).success().stdout
    };
    assert_eq!(matrix(&project), "{\"include\":[{\"service\":\"app\"},{\"service\":\"base\"}]}\n");
    // One parallel job publishes the base image; the matrix shrinks by it.
    project.xtask(&["ci", "publish", "--env", "dev", "--service", "base"], s.moto_port).success();
    assert_eq!(matrix(&project), "{\"include\":[{\"service\":\"app\"}]}\n");
    project.xtask(&["ci", "publish", "--env", "dev", "--service", "app"], s.moto_port).success();
    // In GitHub Actions the matrix is also the step's output.
    let outputs = project.repo.path().join(".github-output");
    std::fs::write(&outputs, "earlier=1\n").unwrap();
    let run = project.repo.xtask_aws_with(
        &["ci", "matrix", "--env", "dev"],
        s.moto_port,
        &[("GITHUB_OUTPUT", outputs.to_str().unwrap())],
    );
    assert_eq!(run.success().stdout, "{\"include\":[]}\n");
    assert_eq!(std::fs::read_to_string(&outputs).unwrap(), "earlier=1\nmatrix={\"include\":[]}\n");
    std::fs::remove_file(&outputs).unwrap();
    // Uncommitted changes to a service's inputs: its image is published
    // again (under its -dirty tag); the others' images are still good.
    project.repo.write("services/app/hello.txt", "changed\n");
    assert_eq!(matrix(&project), "{\"include\":[{\"service\":\"app\"}]}\n");
}

#[test]
fn the_status_line_fits_the_terminal_it_is_drawn_on() {
    let s = servers();
    let repo = Repo::with_registry(s.registry_port);
    // Two prebuilds that take a while side by side, so the status line is
    // drawn several times and, with both on it, is wider than the terminal.
    let prefix = format!("tty{}", std::process::id());
    for service in ["frontend-application", "backend-application"] {
        repo.write(
            &format!("services/{service}/service.toml"),
            &format!("repository = \"{prefix}/{service}\"\nprebuild = [\"sleep\", \"1.5\"]\n"),
        );
        repo.write(&format!("services/{service}/Dockerfile"), "FROM scratch\nCOPY service.toml /\n");
    }
    repo.commit();
    // `script` gives the run a terminal of its own, 50 columns wide; COLUMNS
    // says otherwise (set after the shell, which would correct it), and must
    // not be believed.
    let command =
        format!("stty cols 50 rows 20; exec env COLUMNS=200 '{}' build", env!("CARGO_BIN_EXE_xtask"));
    let out = crate::tools::tool("script")
        .args(["-qec", &command, "/dev/null"])
        .current_dir(repo.path())
        .env("HOME", repo.path().join(".home"))
        .env("GIT_CONFIG_GLOBAL", "/dev/null")
        .env_remove("CI")
        .env_remove("GITHUB_ACTIONS")
        .output()
        .unwrap();
    let screen = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{screen}");
    // Every redraw is `\r`, an erase, the line, and no newline (the next
    // redraw or a printed line erases it); a printed line is followed by the
    // terminal's `\r\n`. No redraw may be wider than the terminal.
    let parts: Vec<&str> = screen.split('\r').collect();
    let drawn: Vec<&str> = parts
        .windows(2)
        .filter(|pair| !pair[1].starts_with('\n'))
        .filter_map(|pair| pair[0].strip_prefix("\x1b[K"))
        .filter(|line| !line.is_empty())
        .collect();
    assert!(
        drawn.iter().any(|line| line.starts_with("prebuild backend-application") && line.contains(" | ")),
        "no status line was drawn:\n{screen:?}"
    );
    for line in &drawn {
        assert!(
            line.chars().count() < 50,
            "a status line of {} columns in 50: {line:?}",
            line.chars().count()
        );
    }
}

#[test]
fn an_engine_without_buildkit_gets_the_classic_builder_and_it_is_said_once() {
    let s = servers();
    let engine = EngineOnTcp::start(crate::proxy::EngineMode::NoBuildKit);
    let repo = Repo::with_registry(s.registry_port);
    let prefix = format!("nobk{}", std::process::id());
    for service in ["one", "two"] {
        repo.write(
            &format!("services/{service}/service.toml"),
            &format!("repository = \"{prefix}/{service}\"\n"),
        );
        repo.write(&format!("services/{service}/Dockerfile"), "FROM scratch\nCOPY service.toml /\n");
    }
    repo.commit();
    let host = format!("tcp://127.0.0.1:{}", engine.port);
    let run = repo.xtask_with(&["build"], &[("DOCKER_HOST", &host)]).success();
    assert!(engine.stalled_builds.load(Ordering::SeqCst) >= 1, "no BuildKit build was tried");
    assert_eq!(
        run.stdout.matches("note: the Docker Engine has no BuildKit (buildkit not supported by daemon); the classic builder is used\n").count(),
        1,
        "{}",
        run.stdout
    );
    for service in ["one", "two"] {
        assert!(run.stdout.contains(&format!("build {service:<13}built ")), "{}", run.stdout);
    }
}
