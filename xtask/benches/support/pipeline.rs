//! What the benchmarks against the engine, the registry and moto share:
//! fresh content per round, the CLI baseline's login and commands, running
//! the tool, and the table of timings.

use std::fs;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

use super::git;

/// The environment the tool and the AWS CLI get: moto as the endpoint.
pub fn aws_env(moto_port: u16) -> Vec<(String, String)> {
    vec![
        ("AWS_ENDPOINT_URL".into(), format!("http://127.0.0.1:{moto_port}")),
        ("AWS_ACCESS_KEY_ID".into(), "bench".into()),
        ("AWS_SECRET_ACCESS_KEY".into(), "bench".into()),
        ("AWS_DEFAULT_REGION".into(), "us-east-1".into()),
        ("AWS_EC2_METADATA_DISABLED".into(), "true".into()),
    ]
}

/// Logs the docker CLI in the way the replaced scripts do, into a throw-away
/// config directory so no real docker config is touched.
pub fn docker_login(registry_port: u16, user: &str, password: &str) -> tempfile::TempDir {
    let config = tempfile::tempdir().unwrap();
    let mut login = Command::new("docker")
        .args(["--config", config.path().to_str().unwrap(), "login", "--username", user])
        .args(["--password-stdin", &format!("127.0.0.1:{registry_port}")])
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    std::io::Write::write_all(login.stdin.as_mut().unwrap(), password.as_bytes()).unwrap();
    drop(login.stdin.take());
    assert!(login.wait().unwrap().success(), "docker login to the bench registry");
    config
}

/// Gives every service 2 MiB of content no image has yet, and commits it.
pub fn refresh_payloads(root: &Path, services: &[&str], salt: &str) {
    for service in services {
        let mut payload = Vec::with_capacity(2 << 20);
        let mut state = salt
            .bytes()
            .chain(service.bytes())
            .fold(0x9e37_79b9_7f4a_7c15u64, |h, b| (h ^ b as u64).wrapping_mul(0x100_0000_01b3));
        while payload.len() < 2 << 20 {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            payload.extend_from_slice(&state.to_le_bytes());
        }
        fs::write(root.join(format!("services/{service}/payload")), payload).unwrap();
    }
    git(root, &["add", "-A"]);
    git(root, &["commit", "-q", "-m", salt]);
}

/// Runs the tool, failing loudly.
pub fn run(binary: &str, root: &Path, args: &[&str], env: &[(String, String)]) {
    run_measured(binary, root, args, env);
}

/// One run of the tool: its wall time and the CPU time it used.
#[derive(Clone, Copy)]
pub struct Measured {
    pub wall: Duration,
    pub cpu: Duration,
}

pub struct MeasuredRun {
    pub measured: Measured,
    pub stdout: String,
}

/// Runs the tool like [`run`], measuring its wall time and its CPU time
/// (user and system, its own threads and any process it waited for).
pub fn run_measured(binary: &str, root: &Path, args: &[&str], env: &[(String, String)]) -> MeasuredRun {
    let cpu_before = children_cpu();
    let start = std::time::Instant::now();
    let out = Command::new(binary)
        .args(args)
        .current_dir(root)
        .envs(env.iter().map(|(k, v)| (k, v)))
        .output()
        .unwrap();
    let wall = start.elapsed();
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(out.status.success(), "xtask {args:?}: {stdout}{}", String::from_utf8_lossy(&out.stderr));
    MeasuredRun { measured: Measured { wall, cpu: children_cpu() - cpu_before }, stdout }
}

/// The CPU time of the children this process has waited for, from
/// `/proc/self/stat` (`cutime` and `cstime`, in clock ticks of 10 ms: Linux
/// fixes USER_HZ at 100).
fn children_cpu() -> Duration {
    let stat = fs::read_to_string("/proc/self/stat").expect("read /proc/self/stat");
    // Fields after the command name, which is in parentheses and may hold spaces.
    let fields: Vec<&str> = stat[stat.rfind(')').unwrap() + 2..].split(' ').collect();
    let ticks = |i: usize| fields[i].parse::<u64>().expect("a clock-tick count");
    // cutime and cstime are fields 16 and 17 of the file; field 3 is the first here.
    Duration::from_millis((ticks(16 - 3) + ticks(17 - 3)) * 10)
}

/// Runs the docker CLI (with the login's config) or the AWS CLI the way a
/// script does, failing loudly.
pub fn command(program: &str, docker_config: &Path, args: &[&str], root: &Path, env: &[(String, String)]) {
    let mut command = Command::new(program);
    if program == "docker" {
        command.arg("--config").arg(docker_config);
    }
    let out = command.args(args).current_dir(root).envs(env.iter().map(|(k, v)| (k, v))).output().unwrap();
    assert!(out.status.success(), "{program} {args:?}: {}", String::from_utf8_lossy(&out.stderr));
}

pub fn median(times: &[Duration]) -> Duration {
    let mut sorted = times.to_vec();
    sorted.sort();
    sorted[sorted.len() / 2]
}

pub fn header() {
    println!("{:<60} {:>6} {:>10} {:>10} {:>10}", "case", "runs", "median", "min", "max");
}

pub fn row(case: &str, times: &[Duration]) {
    let mut sorted = times.to_vec();
    sorted.sort();
    let ms = |d: Duration| format!("{:.0} ms", d.as_secs_f64() * 1e3);
    println!(
        "{case:<60} {:>6} {:>10} {:>10} {:>10}",
        times.len(),
        ms(median(times)),
        ms(sorted[0]),
        ms(sorted[sorted.len() - 1])
    );
}
