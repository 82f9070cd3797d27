//! A fault-injecting HTTP proxy for the tests: it forwards each request to an
//! upstream server, except that requests whose head contains a chosen text
//! get a canned answer or a cut connection, a chosen number of times.

use std::io::{Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::thread;

pub enum Fault {
    /// Answer with this status line and JSON body, then close.
    Respond { status: &'static str, body: String },
    /// Close the connection without answering.
    Cut,
    /// Hold the connection open without answering for this long, like a
    /// stopped process or a black-holed route, then close it.
    Hang(std::time::Duration),
    /// Pass the request on, then cut the connection instead of relaying the
    /// answer: the server did the work, the client never hears of it.
    CutAfterForward,
    /// Pass the request on after this long: a slow but working server.
    Delay(std::time::Duration),
}

impl Fault {
    /// What an AWS JSON API answers for an error of `kind` (its `__type`).
    pub fn aws_error(kind: &str, message: &str) -> Fault {
        Fault::Respond {
            status: "400 Bad Request",
            body: serde_json::json!({ "__type": kind, "message": message }).to_string(),
        }
    }
}

struct Rule {
    needle: String,
    /// Matching requests let through before the fault starts.
    skip: usize,
    /// After `skip`, one matching request in this many gets the fault.
    period: usize,
    /// Matching requests seen since `skip` ran out.
    seen: usize,
    remaining: usize,
    fault: Arc<Fault>,
}

#[derive(Clone)]
pub struct Proxy {
    pub port: u16,
    rules: Arc<Mutex<Vec<Rule>>>,
    injected: Arc<AtomicUsize>,
}

impl Proxy {
    pub fn start(upstream_port: u16) -> Proxy {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let proxy = Proxy {
            port: listener.local_addr().unwrap().port(),
            rules: Arc::default(),
            injected: Arc::default(),
        };
        let shared = proxy.clone();
        thread::spawn(move || {
            for client in listener.incoming().flatten() {
                let proxy = shared.clone();
                thread::spawn(move || proxy.serve(client, upstream_port));
            }
        });
        proxy
    }

    /// The next `times` requests whose head contains `needle` get `fault`.
    pub fn inject(&self, needle: &str, times: usize, fault: Fault) {
        self.inject_after(needle, 0, times, fault);
    }

    /// Like [`Proxy::inject`], after letting `skip` matching requests through.
    pub fn inject_after(&self, needle: &str, skip: usize, times: usize, fault: Fault) {
        self.rules.lock().unwrap().push(Rule {
            needle: needle.to_string(),
            skip,
            period: 1,
            seen: 0,
            remaining: times,
            fault: Arc::new(fault),
        });
    }

    /// One request in `period` whose head contains `needle` gets `fault`,
    /// `times` times in all: a fraction of the traffic, the same on every run.
    pub fn inject_every(&self, needle: &str, period: usize, times: usize, fault: Fault) {
        self.rules.lock().unwrap().push(Rule {
            needle: needle.to_string(),
            skip: 0,
            period,
            seen: 0,
            remaining: times,
            fault: Arc::new(fault),
        });
    }

    /// How many faults were injected so far.
    pub fn injected(&self) -> usize {
        self.injected.load(Ordering::SeqCst)
    }

    fn serve(&self, mut client: TcpStream, upstream_port: u16) {
        let Some((head, rest)) = read_head(&mut client) else { return };
        let fault = {
            let mut rules = self.rules.lock().unwrap();
            rules.iter_mut().filter(|r| r.remaining > 0 && head.contains(&r.needle)).find_map(|rule| {
                if rule.skip > 0 {
                    rule.skip -= 1;
                    return None;
                }
                rule.seen += 1;
                if rule.seen % rule.period != 0 {
                    return None;
                }
                rule.remaining -= 1;
                Some(Arc::clone(&rule.fault))
            })
        };
        let swallow_answer = matches!(fault.as_deref(), Some(Fault::CutAfterForward));
        if let Some(Fault::Delay(delay)) = fault.as_deref() {
            self.injected.fetch_add(1, Ordering::SeqCst);
            thread::sleep(*delay);
        }
        let passes = swallow_answer || matches!(fault.as_deref(), Some(Fault::Delay(_)));
        if let Some(fault) = fault.filter(|_| !passes) {
            self.injected.fetch_add(1, Ordering::SeqCst);
            if let Fault::Hang(duration) = &*fault {
                thread::sleep(*duration);
            }
            if let Fault::Respond { status, body } = &*fault {
                let _ = write!(
                    client,
                    "HTTP/1.1 {status}\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\
                     Connection: close\r\n\r\n{body}",
                    body.len()
                );
            }
            let _ = client.shutdown(Shutdown::Both);
            return;
        }
        let Ok(mut upstream) = TcpStream::connect(("127.0.0.1", upstream_port)) else { return };
        // One request per connection, so that every request passes the rules.
        let head: String = head
            .split("\r\n")
            .filter(|line| !line.to_ascii_lowercase().starts_with("connection:"))
            .collect::<Vec<_>>()
            .join("\r\n");
        let head = head.trim_end_matches("\r\n").to_string() + "\r\nConnection: close\r\n\r\n";
        if upstream.write_all(head.as_bytes()).and_then(|_| upstream.write_all(&rest)).is_err() {
            return;
        }
        let (mut client_reader, mut upstream_writer) =
            (client.try_clone().unwrap(), upstream.try_clone().unwrap());
        let uploads = thread::spawn(move || {
            let _ = std::io::copy(&mut client_reader, &mut upstream_writer);
            let _ = upstream_writer.shutdown(Shutdown::Write);
        });
        if swallow_answer {
            self.injected.fetch_add(1, Ordering::SeqCst);
            let _ = std::io::copy(&mut upstream, &mut std::io::sink());
        } else {
            let _ = std::io::copy(&mut upstream, &mut client);
        }
        let _ = client.shutdown(Shutdown::Both);
        let _ = uploads.join();
    }
}

/// Reads up to the end of the request head; returns it and whatever body
/// bytes came with it.
fn read_head(client: &mut TcpStream) -> Option<(String, Vec<u8>)> {
    let mut buffer = Vec::new();
    let mut chunk = [0u8; 8192];
    loop {
        let n = client.read(&mut chunk).ok()?;
        if n == 0 {
            return None;
        }
        buffer.extend_from_slice(&chunk[..n]);
        // A TLS handshake: the engine tries HTTPS before plain HTTP on a
        // loopback registry. Refusing at once lets it fall back at once.
        if buffer[0] == 0x16 {
            return None;
        }
        if let Some(end) = buffer.windows(4).position(|w| w == b"\r\n\r\n") {
            let head = String::from_utf8_lossy(&buffer[..end + 4]).into_owned();
            return Some((head, buffer[end + 4..].to_vec()));
        }
    }
}

/// What the relay in front of the engine does with a build request.
#[derive(Clone, Copy, PartialEq)]
pub enum EngineMode {
    /// Pass everything through.
    Relay,
    /// Hold a build forever once it starts: the build is certainly under
    /// way when a test interrupts it.
    StallBuilds,
    /// Answer a BuildKit build (`version=2`) with a client error naming
    /// BuildKit, as an engine without it does (the words vary by engine;
    /// these are made up), and pass classic builds through.
    NoBuildKit,
}

/// The engine's socket on a loopback TCP port, as docker-in-docker exposes
/// its engine in CI; counts the connections made through it and the builds
/// it held or refused.
pub struct EngineOnTcp {
    pub port: u16,
    pub connections: Arc<AtomicUsize>,
    pub stalled_builds: Arc<AtomicUsize>,
}

impl EngineOnTcp {
    pub fn start(mode: EngineMode) -> EngineOnTcp {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let connections = Arc::new(AtomicUsize::new(0));
        let stalled_builds = Arc::new(AtomicUsize::new(0));
        let (counted, stalled) = (connections.clone(), stalled_builds.clone());
        std::thread::spawn(move || {
            for client in listener.incoming().flatten() {
                counted.fetch_add(1, Ordering::SeqCst);
                let Ok(engine) = std::os::unix::net::UnixStream::connect("/var/run/docker.sock") else {
                    continue;
                };
                relay(client, engine, mode, stalled.clone());
            }
        });
        EngineOnTcp { port, connections, stalled_builds }
    }
}

/// Copies bytes both ways until each side closes (BuildKit's session is an
/// upgraded connection, so this is a plain byte relay), acting on a build
/// request as `mode` says.
fn relay(
    client: std::net::TcpStream,
    engine: std::os::unix::net::UnixStream,
    mode: EngineMode,
    acted: Arc<AtomicUsize>,
) {
    let (mut client_in, mut engine_out) = (client.try_clone().unwrap(), engine.try_clone().unwrap());
    let mut client_answer = client.try_clone().unwrap();
    std::thread::spawn(move || {
        let mut buffer = vec![0u8; 64 * 1024];
        while let Ok(n @ 1..) = client_in.read(&mut buffer) {
            let chunk = &buffer[..n];
            let has = |needle: &[u8]| chunk.windows(needle.len()).any(|w| w == needle);
            let build = has(b"/build?");
            if build && mode == EngineMode::StallBuilds {
                acted.fetch_add(1, Ordering::SeqCst);
                loop {
                    std::thread::sleep(std::time::Duration::from_secs(3600));
                }
            }
            if build && mode == EngineMode::NoBuildKit && has(b"version=2") {
                acted.fetch_add(1, Ordering::SeqCst);
                let body = r#"{"message":"buildkit not supported by daemon"}"#;
                let answer = format!(
                    "HTTP/1.1 400 Bad Request\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\
                     Connection: close\r\n\r\n{body}",
                    body.len()
                );
                let _ = client_answer.write_all(answer.as_bytes());
                let _ = client_answer.shutdown(Shutdown::Both);
                break;
            }
            if engine_out.write_all(chunk).is_err() {
                break;
            }
        }
        let _ = engine_out.shutdown(Shutdown::Write);
    });
    let (mut engine_in, mut client_out) = (engine, client);
    std::thread::spawn(move || {
        let _ = std::io::copy(&mut engine_in, &mut client_out);
        let _ = client_out.shutdown(Shutdown::Write);
    });
}
