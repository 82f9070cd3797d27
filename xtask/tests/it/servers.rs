//! The real servers the image tests use, started once per test run on free
//! loopback ports: Debian's docker-registry with htpasswd auth that accepts
//! the password moto's ECR tokens carry, and moto_server for ECR. A watchdog
//! stops them when the test process ends.

use std::net::{TcpListener, TcpStream};
use std::process::{Child, Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use crate::tools::{need, tool};

/// What moto's ECR token decodes to: `AWS:<password>`.
pub const ECR_USER: &str = "AWS";
pub const ECR_PASSWORD: &str = "123456789012-auth-token";

pub struct Servers {
    pub registry_port: u16,
    pub moto_port: u16,
    /// Kept so the processes stay ours; the watchdog ends them.
    _processes: Vec<Child>,
    _dir: tempfile::TempDir,
}

pub fn servers() -> &'static Servers {
    static SERVERS: OnceLock<Servers> = OnceLock::new();
    SERVERS.get_or_init(start)
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

fn start() -> Servers {
    let registry = need("docker-registry");
    let htpasswd = need("htpasswd");
    need("moto_server");
    need("busybox");
    need("docker");

    let dir = tempfile::tempdir().unwrap();
    let credentials = Command::new(htpasswd).args(["-Bbn", ECR_USER, ECR_PASSWORD]).output().unwrap();
    assert!(credentials.status.success());
    std::fs::write(dir.path().join("htpasswd"), credentials.stdout).unwrap();
    let registry_port = free_port();
    std::fs::write(
        dir.path().join("config.yml"),
        format!(
            "version: 0.1\nlog:\n  level: error\nstorage:\n  filesystem:\n    rootdirectory: {data}\n\
             http:\n  addr: 127.0.0.1:{registry_port}\nauth:\n  htpasswd:\n    realm: tests\n    path: {htpasswd}\n",
            data = dir.path().join("data").display(),
            htpasswd = dir.path().join("htpasswd").display()
        ),
    )
    .unwrap();
    let moto_port = free_port();

    let mut processes = Vec::new();
    let mut serve_registry = Command::new(registry);
    serve_registry.arg("serve").arg(dir.path().join("config.yml"));
    for mut command in [
        serve_registry,
        // Services created on this server come up complete with one task running.
        moto_command(moto_port, &[("MOTO_ECS_SERVICE_RUNNING", "1")]),
    ] {
        let child = command
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::from(
                std::fs::File::create(dir.path().join(format!("server-{}.log", processes.len()))).unwrap(),
            ))
            .spawn()
            .unwrap();
        processes.push(child);
    }
    let pids: Vec<String> = processes.iter().map(|c| c.id().to_string()).collect();
    // The servers outlive no test run: a watchdog stops them once this process is gone.
    let watchdog = Command::new("sh")
        .args([
            "-c",
            &format!(
                "while kill -0 {me} 2>/dev/null; do sleep 0.5; done; kill {pids} 2>/dev/null",
                me = std::process::id(),
                pids = pids.join(" ")
            ),
        ])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    processes.push(watchdog);
    for port in [registry_port, moto_port] {
        let deadline = Instant::now() + Duration::from_secs(30);
        while TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(
                Instant::now() < deadline,
                "a test server did not listen on port {port}; see {}",
                dir.path().display()
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }
    Servers { registry_port, moto_port, _processes: processes, _dir: dir }
}

/// moto_server as `ecs_today.py` runs it: ECS task definitions are answered
/// the way today's ECS answers them (what it fills in, tags kept apart),
/// which moto alone does not do; the script says what it emulates.
fn moto_command(port: u16, vars: &[(&str, &str)]) -> Command {
    let mut command = tool("python3");
    command
        .arg(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/it/ecs_today.py"))
        .args(["-H", "127.0.0.1", "-p", &port.to_string()])
        .envs(vars.iter().copied());
    command
}

/// A moto_server of one test's own, for behaviour fixed by the server's
/// environment (how ECS rollouts go); stopped when dropped.
pub struct Moto {
    pub port: u16,
    child: Child,
}

impl Moto {
    pub fn start(vars: &[(&str, &str)]) -> Moto {
        need("moto_server");
        let port = free_port();
        let child = moto_command(port, vars)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let deadline = Instant::now() + Duration::from_secs(30);
        while TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(Instant::now() < deadline, "moto_server did not listen on port {port}");
            std::thread::sleep(Duration::from_millis(100));
        }
        Moto { port, child }
    }
}

impl Moto {
    /// Sends a signal (`STOP`, `CONT`) to the server process.
    pub fn signal(&self, signal: &str) {
        let sent = Command::new("kill").arg(format!("-{signal}")).arg(self.child.id().to_string()).status();
        assert!(sent.unwrap().success(), "kill -{signal} moto");
    }
}

impl Drop for Moto {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// One call to moto's AWS API over plain HTTP, answered in a few
/// milliseconds where the AWS CLI takes most of a second to start. Moto does
/// not check signatures; the Authorization header only names the service,
/// the region and the account.
fn call(port: u16, service: &str, headers: &[(&str, &str)], body: &str) -> (u16, String) {
    use std::io::{Read, Write};
    let mut stream = TcpStream::connect(("127.0.0.1", port)).unwrap();
    let mut request = format!(
        "POST / HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nConnection: close\r\nContent-Length: {}\r\n\
         Authorization: AWS4-HMAC-SHA256 Credential=testing/20260101/us-east-1/{service}/aws4_request, \
         SignedHeaders=host, Signature=0\r\n",
        body.len()
    );
    for (name, value) in headers {
        request += &format!("{name}: {value}\r\n");
    }
    request += "\r\n";
    request += body;
    stream.write_all(request.as_bytes()).unwrap();
    let mut answer = String::new();
    stream.read_to_string(&mut answer).unwrap();
    let status = answer.split(' ').nth(1).and_then(|code| code.parse().ok()).unwrap_or(0);
    let body = answer.split_once("\r\n\r\n").map_or("", |(_, body)| body);
    // Chunked answers are not expected from moto for these calls.
    (status, body.to_string())
}

/// An ECS action (`"DescribeServices"`) with a JSON request, its answer parsed.
pub fn ecs(port: u16, action: &str, request: serde_json::Value) -> serde_json::Value {
    json_call(port, "ecs", "AmazonEC2ContainerServiceV20141113", action, request)
}

/// An ECR action (`"DescribeRepositories"`) with a JSON request, its answer parsed.
pub fn ecr(port: u16, action: &str, request: serde_json::Value) -> serde_json::Value {
    json_call(port, "ecr", "AmazonEC2ContainerRegistry_V20150921", action, request)
}

/// A CloudWatch Logs action (`"PutLogEvents"`) with a JSON request, its answer parsed.
pub fn logs(port: u16, action: &str, request: serde_json::Value) -> serde_json::Value {
    json_call(port, "logs", "Logs_20140328", action, request)
}

/// One call of an AWS JSON-protocol service, `Null` for an answer with no
/// body (CloudWatch's CreateLogGroup has none).
fn json_call(
    port: u16,
    service: &str,
    prefix: &str,
    action: &str,
    request: serde_json::Value,
) -> serde_json::Value {
    let target = format!("{prefix}.{action}");
    let headers = [("X-Amz-Target", target.as_str()), ("Content-Type", "application/x-amz-json-1.1")];
    let (status, body) = call(port, service, &headers, &request.to_string());
    assert_eq!(status, 200, "{service} {action}: {body}");
    if body.trim().is_empty() {
        return serde_json::Value::Null;
    }
    serde_json::from_str(&body).unwrap()
}

/// The first value of an EC2 query action's answer between `<tag>` and `</tag>`.
fn ec2_first(port: u16, action: &str, tag: &str) -> String {
    let headers = [("Content-Type", "application/x-www-form-urlencoded")];
    let (status, body) = call(port, "ec2", &headers, &format!("Action={action}&Version=2016-11-15"));
    assert_eq!(status, 200, "EC2 {action}: {body}");
    let start =
        body.find(&format!("<{tag}>")).unwrap_or_else(|| panic!("no {tag} in {body}")) + tag.len() + 2;
    body[start..].split('<').next().unwrap().to_string()
}

/// The cluster, and for each service a bootstrap task definition (revision
/// 1 of the family `<cluster>-<service>`) and a Fargate service with one task
/// running it, on moto's default subnet and security group: what
/// infrastructure code creates before the first release.
pub fn create_ecs(port: u16, cluster: &str, services: &[&str]) {
    ecs(port, "CreateCluster", serde_json::json!({ "clusterName": cluster }));
    for service in services {
        create_service(port, cluster, service, None, false);
    }
}

/// One such service, with a task role and ECS Exec enabled when asked.
pub fn create_service(port: u16, cluster: &str, service: &str, task_role: Option<&str>, exec: bool) {
    let subnet = ec2_first(port, "DescribeSubnets", "subnetId");
    let group = ec2_first(port, "DescribeSecurityGroups", "groupId");
    let family = format!("{cluster}-{service}");
    let mut definition = serde_json::json!({
        "family": family,
        "requiresCompatibilities": ["FARGATE"],
        "networkMode": "awsvpc",
        "cpu": "256",
        "memory": "512",
        "containerDefinitions": [{ "name": service, "image": "bootstrap:1" }]
    });
    if let Some(role) = task_role {
        definition["taskRoleArn"] = role.into();
    }
    ecs(port, "RegisterTaskDefinition", definition);
    ecs(
        port,
        "CreateService",
        serde_json::json!({
            "cluster": cluster,
            "serviceName": service,
            "taskDefinition": family,
            "desiredCount": 1,
            "launchType": "FARGATE",
            "enableExecuteCommand": exec,
            "networkConfiguration": {
                "awsvpcConfiguration": { "subnets": [subnet], "securityGroups": [group] }
            }
        }),
    );
}

/// An IAM action (`"CreateRole"`) with its parameters, answered as XML text.
pub fn iam(port: u16, action: &str, params: &[(&str, &str)]) -> String {
    let mut form = url::form_urlencoded::Serializer::new(String::new());
    form.append_pair("Action", action).append_pair("Version", "2010-05-08");
    for (key, value) in params {
        form.append_pair(key, value);
    }
    let headers = [("Content-Type", "application/x-www-form-urlencoded")];
    let (status, body) = call(port, "iam", &headers, &form.finish());
    assert_eq!(status, 200, "IAM {action}: {body}");
    body
}
