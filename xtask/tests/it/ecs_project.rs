//! The project the release tests deploy: services that are tiny images
//! FROM scratch with an env file and a Fargate task definition, named
//! uniquely per test so tests share the servers; and how a test reads what
//! landed in the registry and ECS.

use std::sync::atomic::{AtomicUsize, Ordering};

use serde_json::{json, Value};

use crate::harness::{Repo, Run};
use crate::servers::{create_ecs, ecs, servers, ECR_PASSWORD, ECR_USER};

/// A project of deployable services, each a tiny image FROM scratch with an
/// env file and a Fargate task definition. Names (repositories, families,
/// cluster) are unique per test, so tests share the servers.
pub struct Project {
    pub repo: Repo,
    pub prefix: String,
    pub registry_port: u16,
}

pub const TASK_TEMPLATE: &str = r#"{
  "family": "{{ values.prefix }}-{{ service.name }}",
  "networkMode": "awsvpc",
  "requiresCompatibilities": ["FARGATE"],
  "cpu": "256",
  "memory": "512",
  "containerDefinitions": [{
    "name": "{{ service.name }}",
    "image": "{{ image }}",
    "environment": {{ service_env | tojson }},
    "secrets": [{ "name": "API_KEY", "valueFrom": "arn:aws:ssm:us-east-1:123456789012:parameter/{{ values.prefix }}/api-key" }]
  }]
}
"#;

/// Two services, `app` and `worker`, pushed straight to the test registry.
pub fn project() -> Project {
    project_of(&["app", "worker"], servers().registry_port)
}

/// The services named, pushed to the registry at `registry_port` (a proxy's, say).
pub fn project_of(services: &[&str], registry_port: u16) -> Project {
    let services: Vec<(&str, &str)> = services.iter().map(|s| (*s, TASK_TEMPLATE)).collect();
    project_with(&services, registry_port)
}

/// Services each with their own task-definition template.
pub fn project_with(services: &[(&str, &str)], registry_port: u16) -> Project {
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    let prefix = format!("d{}-{}", std::process::id(), NEXT.fetch_add(1, Ordering::SeqCst));
    let repo = Repo::empty();
    repo.write(".gitignore", "/services/*/*.env\n");
    repo.write(
        "env/dev.toml",
        &format!(
            "region = \"us-east-1\"\naccount_id = \"123456789012\"\ncluster = \"{prefix}\"\n\
             registry = \"127.0.0.1:{registry_port}\"\n\n[values]\nprefix = \"{prefix}\"\ngreeting = \"hello\"\n"
        ),
    );
    for (service, task_template) in services {
        repo.write(
            &format!("services/{service}/service.toml"),
            &format!("repository = \"{prefix}/{service}\"\n"),
        );
        repo.write(&format!("services/{service}/Dockerfile"), "FROM scratch\nCOPY hello.txt /\n");
        repo.write(&format!("services/{service}/hello.txt"), &format!("{service}\n"));
        repo.write(&format!("templates/{service}.env.j2"), "GREETING={{ values.greeting }}\n");
        repo.write(&format!("templates/{service}.task.json.j2"), task_template);
    }
    repo.commit();
    Project { repo, prefix, registry_port }
}

impl Project {
    pub fn xtask(&self, args: &[&str], aws_port: u16) -> Run {
        self.repo.xtask_aws(args, aws_port)
    }

    pub fn xtask_with(&self, args: &[&str], aws_port: u16, vars: &[(&str, &str)]) -> Run {
        self.repo.xtask_aws_with(args, aws_port, vars)
    }

    pub fn family(&self, service: &str) -> String {
        format!("{}-{service}", self.prefix)
    }

    pub fn create_ecs(&self, aws_port: u16, services: &[&str]) {
        create_ecs(aws_port, &self.prefix, services);
    }

    pub fn service(&self, aws_port: u16, service: &str) -> Value {
        let found =
            ecs(aws_port, "DescribeServices", json!({ "cluster": self.prefix, "services": [service] }));
        found["services"][0].clone()
    }

    /// The revision number the service runs.
    pub fn running_revision(&self, aws_port: u16, service: &str) -> u32 {
        let arn = self.service(aws_port, service)["taskDefinition"].as_str().unwrap().to_string();
        arn.rsplit(':').next().unwrap().parse().unwrap()
    }

    pub fn revisions(&self, aws_port: u16, service: &str) -> usize {
        let listed = ecs(aws_port, "ListTaskDefinitions", json!({ "familyPrefix": self.family(service) }));
        listed["taskDefinitionArns"].as_array().unwrap().len()
    }

    pub fn sha(&self) -> String {
        String::from_utf8(self.repo.git(&["rev-parse", "HEAD"]).stdout).unwrap().trim().to_string()
    }

    pub fn image(&self, service: &str) -> String {
        format!("127.0.0.1:{}/{}/{service}", self.registry_port, self.prefix)
    }
}

pub fn registry_digest(image: &str) -> String {
    let out = crate::tools::tool("skopeo")
        .args(["inspect", "--tls-verify=false", "--creds", &format!("{ECR_USER}:{ECR_PASSWORD}")])
        .arg(format!("docker://{image}"))
        .output()
        .unwrap();
    assert!(out.status.success(), "skopeo inspect {image}: {}", String::from_utf8_lossy(&out.stderr));
    let json: Value = serde_json::from_slice(&out.stdout).unwrap();
    json["Digest"].as_str().unwrap().to_string()
}

/// The harness's task definition with the awslogs driver, as Fargate tasks have.
pub fn with_logs() -> String {
    TASK_TEMPLATE.replace(
        "    \"image\": \"{{ image }}\",\n",
        "    \"image\": \"{{ image }}\",\n    \"logConfiguration\": { \"logDriver\": \"awslogs\", \"options\": { \
         \"awslogs-group\": \"/ecs/{{ values.prefix }}/{{ service.name }}\", \"awslogs-region\": \"us-east-1\", \
         \"awslogs-stream-prefix\": \"{{ service.name }}\" } },\n",
    )
}
