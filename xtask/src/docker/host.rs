//! Where the Docker Engine is, found the way the docker CLI finds it:
//! `DOCKER_HOST`, else the context named by `DOCKER_CONTEXT` or by
//! `currentContext` in the CLI's config.json, else the local socket.

use std::fmt;
use std::path::{Path, PathBuf};

use anyhow::{bail, Context as _, Result};
use sha2::Digest as _;

pub(crate) const LOCAL_SOCKET: &str = "unix:///var/run/docker.sock";

/// An engine address and, for TLS, where its certificates are.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct EngineHost {
    pub(crate) url: String,
    /// Where the address came from, for messages ("DOCKER_HOST", "docker context ci").
    pub(crate) source: String,
    pub(crate) tls: Option<Tls>,
}

#[derive(Debug, PartialEq, Eq)]
pub(crate) struct Tls {
    /// Folder holding ca.pem, cert.pem and key.pem.
    pub(crate) certificates: PathBuf,
}

impl fmt::Display for EngineHost {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} (from {})", self.url, self.source)
    }
}

/// The process variables and files the CLI reads, passed in so that tests
/// need not change the process's environment.
pub(crate) struct Settings<'a> {
    pub(crate) docker_host: Option<String>,
    pub(crate) docker_context: Option<String>,
    pub(crate) tls_verify: bool,
    pub(crate) cert_path: Option<PathBuf>,
    /// `DOCKER_CONFIG`, else `~/.docker`.
    pub(crate) config_dir: &'a Path,
}

pub(crate) fn config_dir() -> PathBuf {
    match std::env::var_os("DOCKER_CONFIG") {
        Some(dir) if !dir.is_empty() => PathBuf::from(dir),
        _ => std::env::var_os("HOME").map(PathBuf::from).unwrap_or_default().join(".docker"),
    }
}

/// Finds the engine from this process's environment.
pub(crate) fn from_environment() -> Result<EngineHost> {
    let var = |name| std::env::var(name).ok().filter(|v| !v.is_empty());
    let config = config_dir();
    resolve(&Settings {
        docker_host: var("DOCKER_HOST"),
        docker_context: var("DOCKER_CONTEXT"),
        tls_verify: var("DOCKER_TLS_VERIFY").is_some(),
        cert_path: var("DOCKER_CERT_PATH").map(PathBuf::from),
        config_dir: &config,
    })
}

pub(crate) fn resolve(settings: &Settings<'_>) -> Result<EngineHost> {
    if let Some(url) = &settings.docker_host {
        let tls = (settings.tls_verify || url.starts_with("https://")).then(|| Tls {
            certificates: settings.cert_path.clone().unwrap_or_else(|| settings.config_dir.to_path_buf()),
        });
        return checked(EngineHost { url: url.clone(), source: "DOCKER_HOST".to_string(), tls });
    }
    let context = match &settings.docker_context {
        Some(name) => Some(name.clone()),
        None => current_context(settings.config_dir)?,
    };
    match context.as_deref() {
        None | Some("default") => Ok(EngineHost {
            url: LOCAL_SOCKET.to_string(),
            source: "the default local socket".to_string(),
            tls: None,
        }),
        Some(name) => from_context(settings.config_dir, name),
    }
}

fn checked(host: EngineHost) -> Result<EngineHost> {
    let known = ["unix://", "tcp://", "http://", "https://", "ssh://"];
    if !known.iter().any(|scheme| host.url.starts_with(scheme)) {
        bail!(
            "the Docker Engine address `{}` from {} is not one this tool can use: write unix:///path, \
             tcp://host:port, https://host:port or ssh://user@host",
            host.url,
            host.source
        );
    }
    // bollard hands `host:port` to ssh as the host name, which ssh cannot
    // resolve; a Host entry of the ssh configuration carries the port instead.
    if let Some(authority) = host.url.strip_prefix("ssh://") {
        let machine = authority.rsplit_once('@').map_or(authority, |(_, machine)| machine);
        if let Some((name, port)) = machine.rsplit_once(':').filter(|(_, port)| port.parse::<u16>().is_ok()) {
            bail!(
                "the Docker Engine address `{}` from {} names an ssh port, which this tool cannot pass to ssh; \
                 add `Host {name}` with `Port {port}` to ~/.ssh/config and use ssh://{}",
                host.url,
                host.source,
                authority.trim_end_matches(&format!(":{port}"))
            );
        }
    }
    Ok(host)
}

fn current_context(config_dir: &Path) -> Result<Option<String>> {
    let path = config_dir.join("config.json");
    let text = match std::fs::read_to_string(&path) {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(e).with_context(|| format!("read {}", path.display())),
    };
    let config: serde_json::Value =
        serde_json::from_str(&text).with_context(|| format!("{} is not valid JSON", path.display()))?;
    Ok(config.get("currentContext").and_then(|v| v.as_str()).filter(|v| !v.is_empty()).map(str::to_string))
}

/// A docker context's endpoint, from `contexts/meta/<sha256 of name>/meta.json`.
fn from_context(config_dir: &Path, name: &str) -> Result<EngineHost> {
    let id = hex(&sha2::Sha256::digest(name.as_bytes()));
    let meta = config_dir.join("contexts/meta").join(&id).join("meta.json");
    let text = std::fs::read_to_string(&meta).with_context(|| {
        format!(
            "the docker context `{name}` is selected, but {} cannot be read; run `docker context ls` \
             to see the contexts, or set DOCKER_HOST",
            meta.display()
        )
    })?;
    let parsed: serde_json::Value =
        serde_json::from_str(&text).with_context(|| format!("{} is not valid JSON", meta.display()))?;
    let endpoint = &parsed["Endpoints"]["docker"];
    let Some(url) = endpoint["Host"].as_str() else {
        bail!("the docker context `{name}` ({}) has no Endpoints.docker.Host", meta.display());
    };
    let certificates = config_dir.join("contexts/tls").join(&id).join("docker");
    let tls = certificates.join("ca.pem").exists().then_some(Tls { certificates });
    checked(EngineHost { url: url.to_string(), source: format!("docker context {name}"), tls })
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings(config_dir: &Path) -> Settings<'_> {
        Settings { docker_host: None, docker_context: None, tls_verify: false, cert_path: None, config_dir }
    }

    #[test]
    fn docker_host_wins_and_tls_takes_the_cli_certificate_folder() {
        let dir = tempfile::tempdir().unwrap();
        let host = resolve(&Settings {
            docker_host: Some("tcp://10.0.0.5:2376".into()),
            tls_verify: true,
            ..settings(dir.path())
        })
        .unwrap();
        assert_eq!(host.url, "tcp://10.0.0.5:2376");
        assert_eq!(host.tls, Some(Tls { certificates: dir.path().to_path_buf() }));
        let err = resolve(&Settings { docker_host: Some("10.0.0.5:2376".into()), ..settings(dir.path()) })
            .unwrap_err();
        assert!(format!("{err}").contains("`10.0.0.5:2376` from DOCKER_HOST is not one"), "{err}");
        let err =
            resolve(&Settings { docker_host: Some("ssh://ci@builder:2222".into()), ..settings(dir.path()) })
                .unwrap_err();
        assert!(
            format!("{err}")
                .ends_with("add `Host builder` with `Port 2222` to ~/.ssh/config and use ssh://ci@builder"),
            "{err}"
        );
    }

    #[test]
    fn the_current_context_is_read_from_the_cli_config() {
        let dir = tempfile::tempdir().unwrap();
        assert_eq!(resolve(&settings(dir.path())).unwrap().url, LOCAL_SOCKET);
        std::fs::write(dir.path().join("config.json"), r#"{"currentContext": "ci"}"#).unwrap();
        let err = resolve(&settings(dir.path())).unwrap_err();
        assert!(format!("{err:#}").contains("the docker context `ci` is selected"), "{err:#}");
        // The folder name is the SHA-256 of the context name, as the CLI writes it.
        let id_of_ci = hex(&sha2::Sha256::digest(b"ci"));
        assert_eq!(
            id_of_ci, "1b158839f8aa339e89bb50b1603e90ec68e0fd5565fe10a7cb32729fddf7070a",
            "`echo -n ci | sha256sum`"
        );
        let meta = dir.path().join("contexts/meta").join(&id_of_ci);
        std::fs::create_dir_all(&meta).unwrap();
        std::fs::write(
            meta.join("meta.json"),
            r#"{"Name":"ci","Endpoints":{"docker":{"Host":"ssh://ci@builder"}}}"#,
        )
        .unwrap();
        let host = resolve(&settings(dir.path())).unwrap();
        assert_eq!((host.url.as_str(), host.source.as_str()), ("ssh://ci@builder", "docker context ci"));
        // DOCKER_CONTEXT overrides the config, and `default` is the local socket.
        let host =
            resolve(&Settings { docker_context: Some("default".into()), ..settings(dir.path()) }).unwrap();
        assert_eq!(host.url, LOCAL_SOCKET);
    }
}
