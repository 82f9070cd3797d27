//! Engines on other machines, as CI set-ups reach them: behind TLS with
//! client certificates (`DOCKER_TLS_VERIFY`, `DOCKER_CERT_PATH`) and over
//! ssh (`DOCKER_HOST=ssh://`, through the `ssh` binary and `docker system
//! dial-stdio` on the far side). Both stand-ins relay to this machine's
//! engine: a TLS relay (tls_engine.py) and Debian's sshd on a loopback port.

use std::io::{BufRead, BufReader};
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::{Child, Command, Stdio};

use crate::harness::Repo;

/// A project of one service whose build needs BuildKit (`COPY --chmod`),
/// so the session has to work through the remote transport too.
fn project(name: &str) -> (Repo, String) {
    // Nothing is pushed: the registry only names the images.
    let repo = Repo::with_registry(5999);
    repo.write("services/tool/service.toml", &format!("repository = \"{name}/tool\"\n"));
    repo.write("services/tool/Dockerfile", "FROM scratch\nCOPY --chmod=755 tool.sh /tool.sh\n");
    repo.write("services/tool/tool.sh", &format!("echo {name}\n"));
    repo.commit();
    let image = format!("127.0.0.1:5999/{name}/tool:{}", repo.short_sha());
    (repo, image)
}

/// Kills a helper process when the test ends, however it ends.
struct Killed(Child);

impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[test]
fn an_engine_behind_tls_is_reached_with_the_cli_certificate_files() {
    let certs = tempfile::tempdir().unwrap();
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/it/tls_engine.py");
    let mut relay = crate::tools::tool("python3")
        .arg(&script)
        .arg(certs.path())
        .stdout(Stdio::piped())
        .spawn()
        .expect("run python3 (with cryptography, which moto installs)");
    let mut port = String::new();
    BufReader::new(relay.stdout.take().unwrap()).read_line(&mut port).unwrap();
    let _relay = Killed(relay);
    let host = format!("tcp://127.0.0.1:{}", port.trim());
    let (repo, image) = project(&format!("tls{}", std::process::id()));
    let cert_path = certs.path().to_str().unwrap();
    let run = repo.xtask_with(
        &["build"],
        &[("DOCKER_HOST", &host), ("DOCKER_TLS_VERIFY", "1"), ("DOCKER_CERT_PATH", cert_path)],
    );
    let run = run.success();
    assert!(run.stdout.contains(&format!("build tool         built {image} (")), "{}", run.stdout);
    // The same address without TLS is not an engine the tool can talk to.
    let plain = repo.xtask_with(&["build", "--force"], &[("DOCKER_HOST", &host)]).failure();
    assert!(
        plain.stderr.contains(&format!("cannot reach the Docker Engine at {host} (from DOCKER_HOST)")),
        "{}",
        plain.stderr
    );
}

#[test]
fn an_engine_over_ssh_is_reached_through_the_ssh_binary() {
    let sshd = crate::tools::need("/usr/sbin/sshd");
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    for key in ["host_key", "user_key"] {
        let made = crate::tools::tool("ssh-keygen")
            .args(["-q", "-t", "ed25519", "-N", "", "-f"])
            .arg(d.join(key))
            .status();
        assert!(made.unwrap().success(), "ssh-keygen");
    }
    std::fs::copy(d.join("user_key.pub"), d.join("authorized_keys")).unwrap();
    // sshd insists on its privilege separation folder.
    std::fs::create_dir_all("/run/sshd").unwrap();
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let d_text = d.display();
    std::fs::write(
        d.join("sshd_config"),
        format!(
            "Port {port}\nListenAddress 127.0.0.1\nHostKey {d_text}/host_key\nAuthorizedKeysFile {d_text}/authorized_keys\n\
             PasswordAuthentication no\nKbdInteractiveAuthentication no\nUsePAM no\nStrictModes no\n\
             PermitRootLogin prohibit-password\nPidFile {d_text}/sshd.pid\n"
        ),
    )
    .unwrap();
    let daemon = Command::new(sshd)
        // The log goes to a file: a pipe would stay open for as long as any
        // session sshd forked lives, and reading it to its end could wait forever.
        .arg("-D")
        .arg("-E")
        .arg(d.join("sshd.log"))
        .arg("-f")
        .arg(d.join("sshd_config"))
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut daemon = Killed(daemon);
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(std::time::Instant::now() < deadline, "sshd did not start");
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    // The ssh the tool runs is the first on PATH: this one reads the test's
    // ssh configuration, where a Host entry names the port (as users name
    // theirs) and the test's keys, leaving the machine's ~/.ssh alone.
    std::fs::write(
        d.join("ssh_config"),
        format!(
            "Host engine-host\n  HostName 127.0.0.1\n  Port {port}\n  User root\n  IdentityFile {d_text}/user_key\n  \
             IdentitiesOnly yes\n  UserKnownHostsFile {d_text}/known_hosts\n  StrictHostKeyChecking no\n"
        ),
    )
    .unwrap();
    let bin = d.join("bin");
    std::fs::create_dir(&bin).unwrap();
    std::fs::write(bin.join("ssh"), format!("#!/bin/sh\nexec /usr/bin/ssh -F {d_text}/ssh_config \"$@\"\n"))
        .unwrap();
    std::fs::set_permissions(bin.join("ssh"), std::fs::Permissions::from_mode(0o755)).unwrap();
    let path = format!("{}:{}", bin.display(), std::env::var("PATH").unwrap());
    let (repo, image) = project(&format!("ssh{}", std::process::id()));
    let run = repo.xtask_with(&["build"], &[("DOCKER_HOST", "ssh://engine-host"), ("PATH", &path)]).success();
    assert!(run.stdout.contains(&format!("build tool         built {image} (")), "{}", run.stdout);
    // A port in the address is refused with the way to give it.
    let host = format!("ssh://root@127.0.0.1:{port}");
    let refused =
        repo.xtask_with(&["build", "--force"], &[("DOCKER_HOST", &host), ("PATH", &path)]).failure();
    assert!(
        refused.stderr.contains(&format!("`{host}` from DOCKER_HOST names an ssh port"))
            && refused.stderr.contains("add `Host 127.0.0.1` with `Port ")
            && refused.stderr.contains("use ssh://root@127.0.0.1\n"),
        "{}",
        refused.stderr
    );
    // sshd saw the tool's key: the build went over ssh, not to the local socket.
    let _ = daemon.0.kill();
    let log = std::fs::read_to_string(d.join("sshd.log")).unwrap();
    assert!(log.contains("Accepted publickey for root"), "{log}");
}
