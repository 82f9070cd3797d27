//! Why a connection fails: does the name resolve, does the port refuse or
//! stay silent. A silent port is the classic cloud failure (a security
//! group, a private database), and saying so saves an afternoon.

use std::net::{SocketAddr, TcpStream, ToSocketAddrs};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use crate::findings::Finding;

/// An endpoint as given (`postgres://user:pw@db:5432/x`, `https://host`,
/// `host:port`), split into what a connection needs. The user part never
/// leaves this struct: it may hold a password.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct Endpoint {
    pub(crate) host: String,
    pub(crate) port: u16,
    /// How it is shown: scheme, host and port, with any credentials dropped.
    pub(crate) shown: String,
}

/// Ports of the usual schemes, for URLs that do not say.
const DEFAULT_PORTS: &[(&str, u16)] = &[
    ("http", 80),
    ("https", 443),
    ("postgres", 5432),
    ("postgresql", 5432),
    ("mysql", 3306),
    ("redis", 6379),
    ("rediss", 6379),
    ("amqp", 5672),
    ("amqps", 5671),
    ("mongodb", 27017),
];

impl Endpoint {
    pub(crate) fn parse(text: &str) -> Result<Endpoint, String> {
        let (scheme, rest) = match text.split_once("://") {
            Some((scheme, rest)) => (Some(scheme.to_ascii_lowercase()), rest),
            None => (None, text),
        };
        let authority = rest.split(['/', '?', '#']).next().unwrap_or_default();
        // Credentials end at the last `@`; passwords may contain `@` themselves.
        let host_port = authority.rsplit_once('@').map_or(authority, |(_, h)| h);
        let (host, port) = match host_port.strip_prefix('[') {
            // An IPv6 literal: `[::1]:5432`.
            Some(inner) => {
                let (host, after) = inner.split_once(']').ok_or_else(|| format!("{text}: unclosed `[`"))?;
                (host.to_string(), after.strip_prefix(':'))
            }
            None => match host_port.rsplit_once(':') {
                Some((host, port)) => (host.to_string(), Some(port)),
                None => (host_port.to_string(), None),
            },
        };
        let port = match port {
            Some(port) => {
                port.parse().map_err(|_| format!("{}: the port `{port}` is not a number", redact(text)))?
            }
            None => {
                let scheme = scheme.as_deref().unwrap_or_default();
                DEFAULT_PORTS.iter().find(|(s, _)| *s == scheme).map(|(_, p)| *p).ok_or_else(|| {
                    format!("{}: no port given, and none is usual for this scheme; add `:PORT`", redact(text))
                })?
            }
        };
        if host.is_empty() {
            return Err(format!("{}: no host name", redact(text)));
        }
        let shown = match &scheme {
            Some(scheme) => format!("{scheme}://{host}:{port}"),
            None => format!("{host}:{port}"),
        };
        Ok(Endpoint { host, port, shown })
    }
}

/// The text with any `user:password@` part of a URL removed, for messages.
fn redact(text: &str) -> String {
    match text.split_once("://") {
        Some((scheme, rest)) => {
            let end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
            match rest[..end].rsplit_once('@') {
                Some((_, host)) => format!("{scheme}://{host}{}", &rest[end..]),
                None => text.to_string(),
            }
        }
        None => text.to_string(),
    }
}

/// What trying to connect found.
#[derive(Debug)]
pub(crate) enum Reach {
    Answered { address: SocketAddr, took: Duration },
    NotResolved(String),
    Refused(SocketAddr),
    Silent(Vec<SocketAddr>),
    Failed(SocketAddr, String),
}

/// Resolves the host and tries each address in turn, each for at most `timeout`.
pub(crate) fn probe(endpoint: &Endpoint, timeout: Duration) -> Reach {
    // Name resolution blocks without a limit of its own; a thread gives it one.
    let (sender, receiver) = mpsc::channel();
    let target = (endpoint.host.clone(), endpoint.port);
    std::thread::spawn(move || {
        let _ = sender.send(target.to_socket_addrs().map(|a| a.collect::<Vec<_>>()));
    });
    let addresses = match receiver.recv_timeout(timeout) {
        Ok(Ok(addresses)) if !addresses.is_empty() => addresses,
        Ok(Ok(_)) => return Reach::NotResolved("no address".to_string()),
        Ok(Err(e)) => return Reach::NotResolved(e.to_string()),
        Err(_) => return Reach::NotResolved(format!("no answer from DNS within {}s", timeout.as_secs_f64())),
    };
    let mut silent = Vec::new();
    let mut refused = None;
    for address in addresses {
        let started = Instant::now();
        match TcpStream::connect_timeout(&address, timeout) {
            Ok(_) => return Reach::Answered { address, took: started.elapsed() },
            Err(e) if e.kind() == std::io::ErrorKind::ConnectionRefused => refused = Some(address),
            Err(e) if matches!(e.kind(), std::io::ErrorKind::TimedOut | std::io::ErrorKind::WouldBlock) => {
                silent.push(address)
            }
            Err(e) => return Reach::Failed(address, e.to_string()),
        }
    }
    match refused {
        Some(address) => Reach::Refused(address),
        None => Reach::Silent(silent),
    }
}

/// The finding for one endpoint: what happened and the usual causes.
pub(crate) fn diagnose(check: &'static str, endpoint: &Endpoint, timeout: Duration) -> Finding {
    let shown = &endpoint.shown;
    match probe(endpoint, timeout) {
        Reach::Answered { address, took } => {
            Finding::ok(check, format!("{shown} answers ({address}, {} ms)", took.as_millis()))
        }
        Reach::NotResolved(why) => Finding::fail(
            check,
            format!("{shown}: the name {} does not resolve ({why})", endpoint.host),
            "check the host name for typos; a private name (an RDS endpoint in a VPC, a compose service name) \
             resolves only inside its network: connect through the VPN or a bastion host",
        ),
        Reach::Refused(address) => Finding::fail(
            check,
            format!("{shown}: {address} refused the connection: nothing listens on port {}", endpoint.port),
            "check the port (PostgreSQL 5432, MySQL 3306, Redis 6379, HTTPS 443), and that the server runs and \
             listens on this interface, not only on its own loopback",
        ),
        Reach::Silent(addresses) => {
            let list: Vec<String> = addresses.iter().map(|a| a.to_string()).collect();
            Finding::fail(
                check,
                format!(
                    "{shown}: the name resolves ({}) but nothing answered within {}s",
                    list.join(", "),
                    timeout.as_secs_f64()
                ),
                "usual causes: a security group whose inbound rules do not admit this address on that port; a \
                 database that is not publicly accessible or sits in a private subnet (RDS `PubliclyAccessible`); \
                 a wrong port; a firewall or VPN in between",
            )
        }
        Reach::Failed(address, why) => Finding::fail(
            check,
            format!("{shown}: connecting to {address} failed: {why}"),
            "check the network route to that address (VPN, proxy, routing table)",
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn endpoints_parse_and_never_show_credentials() {
        let db = Endpoint::parse("postgres://demo:s3cr@t@db.example.com/demo").unwrap();
        assert_eq!(
            db,
            Endpoint {
                host: "db.example.com".into(),
                port: 5432,
                shown: "postgres://db.example.com:5432".into()
            }
        );
        assert_eq!(Endpoint::parse("127.0.0.1:5000").unwrap().shown, "127.0.0.1:5000");
        assert_eq!(Endpoint::parse("https://api.example.com/v1").unwrap().port, 443);
        assert_eq!(Endpoint::parse("[::1]:8080").unwrap().host, "::1");
        let error = Endpoint::parse("postgres://u:hunter22@db:port/x").unwrap_err();
        assert!(!error.contains("hunter22"), "{error}");
        assert!(Endpoint::parse("db.example.com").is_err());
    }

    #[test]
    fn a_closed_port_is_refused_and_an_open_one_answers() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let open = listener.local_addr().unwrap();
        let endpoint = Endpoint::parse(&open.to_string()).unwrap();
        assert!(matches!(probe(&endpoint, Duration::from_secs(2)), Reach::Answered { .. }));
        drop(listener);
        assert!(matches!(probe(&endpoint, Duration::from_secs(2)), Reach::Refused(_)));
    }
}
