//! `up` and `down` on the example project, against the real engine and
//! docker compose: the API's health check passes and the web front end
//! answers; a front end that cannot start fails `up` with its log lines.

use std::io::{Read, Write};
use std::net::TcpStream;

use crate::example::example;
use crate::harness::{Repo, Run};

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// Stops the stack whatever the test's end, so no container outlives it.
struct Stack<'r> {
    repo: &'r Repo,
    ports: [(String, String); 2],
}

impl Stack<'_> {
    /// Runs the tool with the stack's ports and the toolchain the API's
    /// prebuild compiles with (the harness gives each run a HOME of its own).
    fn xtask(&self, args: &[&str]) -> Run {
        let home = std::env::var("HOME").unwrap();
        let rustup = std::env::var("RUSTUP_HOME").unwrap_or(format!("{home}/.rustup"));
        let cargo = std::env::var("CARGO_HOME").unwrap_or(format!("{home}/.cargo"));
        let mut vars: Vec<(&str, &str)> = vec![("RUSTUP_HOME", &rustup), ("CARGO_HOME", &cargo)];
        vars.extend(self.ports.iter().map(|(k, v)| (k.as_str(), v.as_str())));
        self.repo.xtask_with(args, &vars)
    }
}

impl Drop for Stack<'_> {
    fn drop(&mut self) {
        let _ = self.xtask(&["down"]);
    }
}

fn get(port: u16, path: &str) -> String {
    let mut stream = TcpStream::connect(("127.0.0.1", port)).unwrap();
    write!(stream, "GET {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n").unwrap();
    let mut answer = String::new();
    stream.read_to_string(&mut answer).unwrap();
    answer
}

#[test]
fn up_starts_the_example_healthy_and_down_stops_it_and_a_broken_service_shows_its_logs() {
    let repo = example();
    // The copy has no xtask/: its workspace is the API alone, locked afresh
    // (the API has no dependencies, so nothing is fetched).
    repo.write("Cargo.toml", "[workspace]\nmembers = [\"services/api\"]\nresolver = \"2\"\n");
    let locked = std::process::Command::new(env!("CARGO"))
        .args(["generate-lockfile", "--offline"])
        .current_dir(repo.path())
        .output()
        .unwrap();
    assert!(locked.status.success(), "{}", String::from_utf8_lossy(&locked.stderr));
    repo.commit();
    let (api, web) = (free_port(), free_port());
    let stack = Stack {
        repo: &repo,
        ports: [("API_PORT".into(), api.to_string()), ("WEB_PORT".into(), web.to_string())],
    };
    let run = stack.xtask(&["up"]).success();
    assert!(
        run.stdout.contains(&format!("\napi        healthy    http://127.0.0.1:{api}\n")),
        "{}",
        run.stdout
    );
    assert!(
        run.stdout.contains(&format!("\nweb        healthy    http://127.0.0.1:{web}\n")),
        "{}",
        run.stdout
    );
    assert!(
        run.stdout.ends_with("up: 2 containers ready; `cargo xtask down` stops them\n"),
        "{}",
        run.stdout
    );
    // The images are those of the commit, named by the override the tool wrote.
    let sha = repo.short_sha();
    let written = repo.read("docker-compose.override.yml");
    assert!(
        written.contains(&format!("  api:\n    image: \"127.0.0.1:5000/demo/api:{sha}\"\n")),
        "{written}"
    );
    let health = get(api, "/api/health-check");
    assert!(health.starts_with("HTTP/1.1 200 OK"), "{health}");
    assert!(health.ends_with(&format!(r#"{{"status":"ok","version":"{sha}"}}"#)), "{health}");
    assert!(get(web, "/config.js").contains("environment: \"dev\""));
    stack.xtask(&["down"]).success();
    assert!(TcpStream::connect(("127.0.0.1", api)).is_err(), "the API still answers after down");

    // A front end whose entrypoint stops on a missing setting.
    let compose = repo.read("docker-compose.yml");
    repo.write(
        "docker-compose.yml",
        &compose.replace(
            "    env_file: services/web/dev.env\n",
            "    env_file: services/web/dev.env\n    environment: {API_URL: \"\"}\n",
        ),
    );
    let broken = stack.xtask(&["up", "--timeout", "1m"]).failure();
    assert!(
        broken.stderr.ends_with(
            "error: the stack did not come up:\nweb exited with code 2; its last log lines:\n  /entrypoint.sh: line \
             5: API_URL: API_URL is not set\n`cargo xtask down` stops what did start\n"
        ),
        "{}",
        broken.stderr
    );
}
