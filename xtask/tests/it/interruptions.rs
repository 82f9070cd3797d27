//! Two releases of one cluster, and a release stopped by a signal.

use std::process::Command;

use crate::ecs_project::*;
use crate::servers::{servers, ECR_PASSWORD, ECR_USER};

/// A release started in the background, its output collected as it comes.
struct Background {
    child: std::process::Child,
    stdout: std::sync::Arc<std::sync::Mutex<String>>,
}

impl Background {
    fn start(p: &Project, aws_port: u16, args: &[&str]) -> Background {
        Background::start_with(p, aws_port, args, &[])
    }

    fn start_with(p: &Project, aws_port: u16, args: &[&str], vars: &[(&str, &str)]) -> Background {
        let mut child = p
            .repo
            .xtask_aws_command(args, aws_port)
            .envs(vars.iter().copied())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        let stdout = std::sync::Arc::new(std::sync::Mutex::new(String::new()));
        let mut pipe = child.stdout.take().unwrap();
        let sink = std::sync::Arc::clone(&stdout);
        std::thread::spawn(move || {
            let mut buffer = [0u8; 4096];
            while let Ok(n @ 1..) = std::io::Read::read(&mut pipe, &mut buffer) {
                sink.lock().unwrap().push_str(&String::from_utf8_lossy(&buffer[..n]));
            }
        });
        Background { child, stdout }
    }

    /// Waits until a line of its output starts with `prefix`.
    fn wait_for_line(&self, prefix: &str) {
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
        while !self.stdout.lock().unwrap().lines().any(|l| l.starts_with(prefix)) {
            assert!(
                std::time::Instant::now() < deadline,
                "no line `{prefix}`:\n{}",
                self.stdout.lock().unwrap()
            );
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
    }

    fn signal(&self, signal: &str) {
        let sent = Command::new("kill").args([signal, &self.child.id().to_string()]).status().unwrap();
        assert!(sent.success());
    }

    fn finish(mut self) -> (Option<i32>, String, String) {
        let status = self.child.wait().unwrap();
        let mut stderr = String::new();
        std::io::Read::read_to_string(self.child.stderr.as_mut().unwrap(), &mut stderr).unwrap();
        std::thread::sleep(std::time::Duration::from_millis(50));
        let stdout = self.stdout.lock().unwrap().clone();
        (status.code(), stdout, stderr)
    }
}

#[test]
fn concurrent_releases_are_refused_interruptions_stop_cleanly_and_a_rerun_finishes() {
    let moto = servers().moto_port;
    let p = project();
    p.create_ecs(moto, &["app", "worker"]);
    let release = ["release", "--env", "dev", "--verbose", "--poll-interval", "100ms", "--timeout", "30s"];

    // Interrupted (Ctrl-C) while the app's image builds: the engine is
    // reached through a relay that holds every build once it has started.
    let engine = crate::proxy::EngineOnTcp::start(crate::proxy::EngineMode::StallBuilds);
    let docker_host = format!("tcp://127.0.0.1:{}", engine.port);
    let first = Background::start_with(&p, moto, &release, &[("DOCKER_HOST", &docker_host)]);
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    while engine.stalled_builds.load(std::sync::atomic::Ordering::SeqCst) == 0 {
        assert!(std::time::Instant::now() < deadline, "no build started:\n{}", first.stdout.lock().unwrap());
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    // Meanwhile a second release of the same cluster is refused, naming the first.
    let second = p.xtask(&release, moto).failure();
    assert!(
        second.stderr.contains(&format!(
            "cluster {} (env dev) is being changed by another run: pid {} (`cargo xtask release --env dev",
            p.prefix,
            first.child.id()
        )),
        "{}",
        second.stderr
    );
    assert!(second.stderr.contains("or pass --wait-for-lock 10m to wait"), "{}", second.stderr);
    first.signal("-INT");
    let (code, _, stderr) = first.finish();
    assert_eq!(code, Some(130), "{stderr}");
    assert!(stderr.contains("error: interrupted by SIGINT: "), "{stderr}");
    assert!(stderr.contains("; stopped: build app"), "{stderr}");
    assert!(
        stderr.contains(
            "No service was pointed at an image that was not fully pushed; run the same command again"
        ),
        "{stderr}"
    );
    // Nothing was deployed, and the app's image did not reach the registry.
    assert_eq!((p.running_revision(moto, "app"), p.running_revision(moto, "worker")), (1, 1));
    let image = format!("docker://{}:{}", p.image("app"), p.repo.short_sha());
    let creds = format!("{ECR_USER}:{ECR_PASSWORD}");
    let inspect = crate::tools::tool("skopeo")
        .args(["inspect", "--tls-verify=false", "--creds", &creds, &image])
        .output();
    assert!(!inspect.unwrap().status.success(), "the interrupted push left {image} in the registry");

    // SIGTERM (what CI runners send) stops it the same way.
    let second = Background::start(&p, moto, &release);
    second.wait_for_line("registry-auth ");
    second.signal("-TERM");
    let (code, _, stderr) = second.finish();
    assert_eq!(code, Some(143), "{stderr}");
    assert!(stderr.contains("error: interrupted by SIGTERM: "), "{stderr}");

    // A run killed outright leaves its lock file behind but not its lock:
    // the next run takes it, says so, and finishes the job.
    let third = Background::start(&p, moto, &release);
    third.wait_for_line("registry-auth ");
    let killed = third.child.id();
    third.signal("-KILL");
    assert_eq!(third.finish().0, None);
    let rerun = p.xtask(&release, moto).success();
    assert!(
        rerun
            .stdout
            .contains(&format!("note: an earlier run did not finish (pid {killed} (`cargo xtask release")),
        "{}",
        rerun.stdout
    );
    assert_eq!((p.running_revision(moto, "app"), p.running_revision(moto, "worker")), (2, 2));
}
