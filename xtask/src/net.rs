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
    /// Parses with the `url` crate (WHATWG URL rules). Nothing of the text is
    /// ever echoed: only the scheme, host and port are shown, and a text that
    /// does not parse is not shown at all, since it may hold a password.
    pub(crate) fn parse(text: &str) -> Result<Endpoint, String> {
        let text = text.trim();
        let (scheme, rest) = match text.split_once("://") {
            Some((scheme, rest)) => (Some(scheme.to_ascii_lowercase()), rest),
            None => (None, text),
        };
        // URL syntax ends the host at the first `#`, `?` or `/`, so a
        // password holding one leaves an `@` after the host.
        let (authority, after_host) = rest.split_at(rest.find(['/', '?', '#']).unwrap_or(rest.len()));
        if after_host.contains('@') && !authority.contains('@') {
            return Err(
                "a URL with `@` after its host; it is not shown, since that is how a password holding `#`, \
                        `?` or `/` reads: percent-encode them in the password (`%23`, `%3F`, `%2F`)"
                    .to_string(),
            );
        }
        let url = url::Url::parse(&format!("{}://{rest}", scheme.as_deref().unwrap_or("tcp"))).map_err(|e| {
            format!(
                "a URL that does not parse ({e}); it is not shown, since it may hold a password: percent-encode \
                 `#`, `?`, `/` and `@` in a user name or password (`%23`, `%3F`, `%2F`, `%40`)"
            )
        })?;
        let host =
            url.host_str().unwrap_or_default().trim_start_matches('[').trim_end_matches(']').to_string();
        let shown_scheme = scheme.as_deref().map_or(String::new(), |s| format!("{s}://"));
        if host.is_empty() {
            return Err(format!("{shown_scheme}...: no host name"));
        }
        let known = || {
            let scheme = scheme.as_deref().unwrap_or_default();
            DEFAULT_PORTS.iter().find(|(s, _)| *s == scheme).map(|(_, p)| *p)
        };
        let port = url.port().or_else(known).ok_or_else(|| {
            format!("{shown_scheme}{host}: no port given, and none is usual for this scheme; add `:PORT`")
        })?;
        let shown = if host.contains(':') {
            format!("{shown_scheme}[{host}]:{port}")
        } else {
            format!("{shown_scheme}{host}:{port}")
        };
        Ok(Endpoint { host, port, shown })
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
        assert_eq!(
            Endpoint::parse("db.example.com").unwrap_err(),
            "db.example.com: no port given, and none is usual for this scheme; add `:PORT`"
        );
        assert_eq!(Endpoint::parse("postgres://u:p%23w@db/x").unwrap().shown, "postgres://db:5432");
        assert_eq!(Endpoint::parse("redis://[::1]").unwrap().shown, "redis://[::1]:6379");
    }

    #[test]
    fn a_password_holding_url_delimiters_is_never_shown() {
        // `#`, `?` and `/` end the host in URL syntax: the password's tail
        // and the real host are read as a fragment, query or path.
        for text in [
            "postgres://admin:pa#ss-9f8e7d@db.internal/app",
            "postgres://admin:pa?ss-9f8e7d@db.internal/app",
            "postgres://admin:pa/ss-9f8e7d@db.internal/app",
            "postgres://admin:12#ss-9f8e7d@db.internal:5432/app",
            "mysql://root:x/y#ss-9f8e7d@10.0.0.5",
        ] {
            let error = Endpoint::parse(text).unwrap_err();
            assert!(!error.contains("ss-9f8e7d") && !error.contains("admin"), "{text}: {error}");
        }
        assert_eq!(
            Endpoint::parse("postgres://admin:pa#ss@db.internal/app").unwrap_err(),
            "a URL with `@` after its host; it is not shown, since that is how a password holding `#`, `?` or `/` \
             reads: percent-encode them in the password (`%23`, `%3F`, `%2F`)"
        );
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
