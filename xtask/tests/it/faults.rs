//! A release of 20 services through fault-injecting proxies in front of the
//! registry and of moto: a fraction of requests get a 5xx answer, a cut
//! connection, throttling or an expired registry token, and the release
//! still completes, with every service built, pushed once and deployed.

use crate::ecs_project::project_of;
use crate::proxy::{Fault, Proxy};
use crate::servers::{servers, ECR_PASSWORD, ECR_USER};

const SERVICES: usize = 20;

#[test]
fn a_release_of_20_services_survives_injected_faults() {
    let s = servers();
    let registry = Proxy::start(s.registry_port);
    let aws_proxy = Proxy::start(s.moto_port);
    let names: Vec<String> = (0..SERVICES).map(|i| format!("s{i:02}")).collect();
    let services: Vec<&str> = names.iter().map(String::as_str).collect();
    let p = project_of(&services, registry.port);
    p.create_ecs(s.moto_port, &services);
    let (repo, prefix) = (&p.repo, &p.prefix);

    // The registry: manifest and blob PUTs answered 503, lookups cut, and
    // upload starts refused with ECR's expired-token answer.
    registry.inject_every(
        "PUT /v2/",
        5,
        8,
        Fault::Respond { status: "503 Service Unavailable", body: "{}".into() },
    );
    registry.inject_every("HEAD /v2/", 6, 8, Fault::Cut);
    let expired = r#"{"errors":[{"code":"DENIED","message":"Your authorization token has expired. Reauthenticate and try again."}]}"#;
    registry.inject_every(
        "POST /v2/",
        9,
        2,
        Fault::Respond { status: "403 Forbidden", body: expired.into() },
    );
    // AWS: ECS answers 500, throttles, or cuts the connection now and then.
    let ecs = "AmazonEC2ContainerServiceV20141113";
    aws_proxy.inject_every(
        ecs,
        7,
        6,
        Fault::Respond {
            status: "500 Internal Server Error",
            body: r#"{"__type":"ServerException","message":"injected"}"#.into(),
        },
    );
    aws_proxy.inject_every(ecs, 11, 6, Fault::aws_error("ThrottlingException", "Rate exceeded"));
    aws_proxy.inject_every(ecs, 13, 4, Fault::Cut);

    let run = repo.xtask_aws_with(
        &["release", "--env", "dev", "--poll-interval", "100ms", "--timeout", "60s"],
        aws_proxy.port,
        &[],
    );
    println!(
        "faults injected and survived: {} at the registry, {} at AWS\n{}{}",
        registry.injected(),
        aws_proxy.injected(),
        run.stdout,
        run.stderr
    );
    let run = run.success();
    assert!(registry.injected() >= 10, "only {} registry faults were injected", registry.injected());
    assert!(aws_proxy.injected() >= 10, "only {} AWS faults were injected", aws_proxy.injected());

    for name in &services {
        // Pushed once each (a retried push still prints one line), nothing skipped.
        let pushed: Vec<&str> = run
            .stdout
            .lines()
            .filter(|l| l.starts_with(&format!("push {name} ")) && l.contains(" pushed "))
            .collect();
        assert_eq!(pushed.len(), 1, "{name}: {pushed:?}");
        // What the registry holds, reached directly, is what the tool printed.
        let image = format!("docker://127.0.0.1:{}/{prefix}/{name}:{}", s.registry_port, repo.short_sha());
        let creds = format!("{ECR_USER}:{ECR_PASSWORD}");
        let out = crate::tools::tool("skopeo")
            .args(["inspect", "--tls-verify=false", "--creds", &creds, &image])
            .output()
            .unwrap();
        assert!(out.status.success(), "{image}: {}", String::from_utf8_lossy(&out.stderr));
        let digest = serde_json::from_slice::<serde_json::Value>(&out.stdout).unwrap()["Digest"].clone();
        assert!(pushed[0].contains(digest.as_str().unwrap()), "{name}: {} is not {digest}", pushed[0]);
        // Every service runs the new revision.
        let found = crate::servers::ecs(
            s.moto_port,
            "DescribeServices",
            serde_json::json!({ "cluster": prefix, "services": [name] }),
        );
        let running = found["services"][0]["taskDefinition"].as_str().unwrap().to_string();
        assert!(running.ends_with(&format!("{prefix}-{name}:2")), "{name} runs {running}");
    }
}
