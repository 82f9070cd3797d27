//! A registry that fails a push: expired tokens, 5xx answers and cut
//! connections through the fault-injecting proxy, a registry that is down or
//! never answers, and an answer cut after the registry took the image.

use crate::proxy::{Fault, Proxy};
use crate::servers::servers;

/// A project with a base image (busybox laid out by a prebuild step) and an
/// app built FROM it, pushing to `registry_port`. Repository names are unique
/// per test, so tests sharing the registry never see each other's images.
use crate::images::*;

#[test]
fn an_expired_registry_token_is_renewed_and_the_push_retried() {
    let s = servers();
    let proxy = Proxy::start(s.registry_port);
    proxy.inject(
        "POST /v2/",
        1,
        Fault::Respond {
            status: "403 Forbidden",
            body: r#"{"errors":[{"code":"DENIED","message":"Your authorization token has expired. Reauthenticate and try again."}]}"#.into(),
        },
    );
    let project = images(proxy.port);
    let run = project.xtask(&["push", "--env", "dev", "--jobs", "1"], s.moto_port).success();
    println!("faults injected and survived: {}\n{}", proxy.injected(), run.stdout);
    assert_eq!(proxy.injected(), 1);
    assert!(run.stdout.contains("registry token expired; renewing it and trying again\n"), "{}", run.stdout);
    for service in ["base", "app"] {
        // The same registry, reached directly rather than through the proxy.
        let inspected = skopeo_inspect(&project.image(service, s.registry_port));
        assert_eq!(inspected["Digest"], printed_digest(&run.stdout, service));
    }
}

#[test]
fn server_errors_and_cut_connections_are_retried_with_backoff() {
    let s = servers();
    let proxy = Proxy::start(s.registry_port);
    let project = images(proxy.port);
    // The engine retries layer uploads itself; a failed manifest upload and a
    // cut lookup reach the tool.
    let manifest = format!("PUT /v2/{}/app/manifests/", project.prefix);
    proxy.inject(&manifest, 1, Fault::Respond { status: "503 Service Unavailable", body: "{}".into() });
    proxy.inject(&format!("HEAD /v2/{}/base/manifests/", project.prefix), 1, Fault::Cut);
    let run = project.xtask(&["push", "--env", "dev", "--jobs", "1"], s.moto_port).success();
    println!("faults injected and survived: {}\n{}", proxy.injected(), run.stdout);
    assert_eq!(proxy.injected(), 2, "both faults were injected");
    // Backoff with jitter: the pause is drawn from the upper half of the first one (1s).
    let retry = run.stdout.lines().find(|l| l.contains("; try 2 in ")).unwrap_or_default();
    let pause: f64 =
        retry.split("; try 2 in ").nth(1).and_then(|r| r.split('s').next()).unwrap().parse().unwrap();
    assert!((0.5..=1.0).contains(&pause), "{retry}");
    assert!(retry.ends_with("s (retrying for up to 1m)"), "{retry}");
    let app = project.image("app", s.registry_port);
    assert_eq!(skopeo_inspect(&app)["Digest"], printed_digest(&run.stdout, "app"));
}

#[test]
fn an_unreachable_registry_is_found_before_anything_is_built() {
    let s = servers();
    // A port nothing listens on.
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let project = images(closed);
    let run = project.xtask(&["push", "--env", "dev", "--service", "base"], s.moto_port).failure();
    assert_eq!(run.stdout, "");
    let prefix = format!(
        "error: cannot start, nothing was changed:\n  the registry 127.0.0.1:{closed} cannot be reached: "
    );
    assert!(run.stderr.starts_with(&prefix), "{}", run.stderr);
    assert!(run.stderr.contains("connection refused"), "{}", run.stderr);
    assert!(
        run.stderr.ends_with(
            "; check that it runs and that this machine reaches it (the address is `registry` in env/dev.toml, or \
             the account's ECR)\n"
        ),
        "{}",
        run.stderr
    );
    // Nothing was built: the prebuild did not even run.
    assert!(!project.repo.exists("services/base/rootfs"), "the prebuild ran");
}

#[test]
fn a_registry_that_never_answers_is_found_before_anything_is_built_within_its_timeout() {
    let s = servers();
    let proxy = Proxy::start(s.registry_port);
    proxy.inject("/v2/", 1000, Fault::Hang(std::time::Duration::from_secs(30)));
    let project = images(proxy.port);
    let started = std::time::Instant::now();
    let run = project
        .repo
        .xtask_aws_with(&["push", "--env", "dev"], s.moto_port, &[("XTASK_AWS_TIMEOUT", "1s")])
        .failure();
    assert_eq!(
        run.stderr,
        format!(
            "error: cannot start, nothing was changed:\n  the registry 127.0.0.1:{} cannot be reached: no answer from \
             the registry within 1s; check that it runs and that this machine reaches it (the address is `registry` \
             in env/dev.toml, or the account's ECR)\n",
            proxy.port
        )
    );
    // Three looks of a second each, and their pauses.
    assert!(started.elapsed() < std::time::Duration::from_secs(10), "it took {:?}", started.elapsed());
}

#[test]
fn a_push_whose_answer_is_cut_after_the_registry_took_it_is_not_blamed_on_the_registry() {
    let s = servers();
    let proxy = Proxy::start(s.registry_port);
    let project = images(proxy.port);
    // The manifest lands; its answer is lost on the way back.
    let manifest = format!("PUT /v2/{}/base/manifests/", project.prefix);
    proxy.inject(&manifest, 1, Fault::CutAfterForward);
    let run = project.xtask(&["push", "--env", "dev", "--service", "base"], s.moto_port).success();
    assert_eq!(proxy.injected(), 1, "the fault was injected");
    let line = run.stdout.lines().find(|l| l.starts_with("push base          pushed ")).unwrap_or_default();
    assert!(line.contains("the registry had taken an earlier one"), "{}", run.stdout);
    let base = project.image("base", s.registry_port);
    assert_eq!(skopeo_inspect(&base)["Digest"], printed_digest(&run.stdout, "base"));
}
