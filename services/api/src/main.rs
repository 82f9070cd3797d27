//! The example API: a small HTTP/1.1 server on the standard library alone, so
//! it links statically and its image needs nothing but the binary.
//!
//! Routes:
//! - `GET /api/health-check`: `{"status":"ok","version":"<GIT_SHA>"}`, what
//!   the load balancer and `docker compose` probe;
//! - `GET /api/info`: the environment it runs in and which settings it has.
//!
//! `demo-api --health-check` asks the server running beside it (on `PORT`)
//! for its health and exits 0 when it answers 200: the image has no shell
//! and no curl, so this is what a container health check runs.

use std::io::{BufRead, BufReader, Write};
use std::net::{TcpListener, TcpStream};
use std::time::Duration;

struct Settings {
    port: u16,
    app_env: String,
    version: String,
    log_level: String,
    database_configured: bool,
    tracing_configured: bool,
}

impl Settings {
    fn from_env() -> Settings {
        let var = |name: &str| std::env::var(name).unwrap_or_default();
        Settings {
            port: var("PORT").parse().unwrap_or(8000),
            app_env: var("APP_ENV"),
            version: var("GIT_SHA"),
            log_level: var("LOG_LEVEL"),
            database_configured: !var("DATABASE_URL").is_empty(),
            tracing_configured: !var("HONEYCOMB_API_KEY").is_empty(),
        }
    }
}

fn main() {
    let settings = Settings::from_env();
    if std::env::args().nth(1).as_deref() == Some("--health-check") {
        std::process::exit(if healthy(settings.port) { 0 } else { 1 });
    }
    let listener = match TcpListener::bind(("0.0.0.0", settings.port)) {
        Ok(listener) => listener,
        Err(e) => {
            eprintln!("demo-api: cannot listen on port {}: {e}", settings.port);
            std::process::exit(1);
        }
    };
    eprintln!("demo-api {} ({}) listening on :{}", settings.version, settings.app_env, settings.port);
    for stream in listener.incoming().flatten() {
        // One request per connection keeps the server simple; a slow client
        // is cut off rather than holding the only thread.
        let _ = stream.set_read_timeout(Some(Duration::from_secs(5)));
        if let Err(e) = serve(stream, &settings) {
            if settings.log_level == "debug" {
                eprintln!("demo-api: {e}");
            }
        }
    }
}

/// Whether the server on `port` of this machine answers its health check with 200.
fn healthy(port: u16) -> bool {
    let asked = (|| -> std::io::Result<String> {
        let mut stream = TcpStream::connect(("127.0.0.1", port))?;
        stream.set_read_timeout(Some(Duration::from_secs(2)))?;
        stream
            .write_all(b"GET /api/health-check HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")?;
        let mut status = String::new();
        BufReader::new(stream).read_line(&mut status)?;
        Ok(status)
    })();
    match asked {
        Ok(status) if status.starts_with("HTTP/1.1 200 ") => true,
        Ok(status) => {
            eprintln!("demo-api: the health check answered {}", status.trim());
            false
        }
        Err(e) => {
            eprintln!("demo-api: no answer on port {port}: {e}");
            false
        }
    }
}

fn serve(stream: TcpStream, settings: &Settings) -> std::io::Result<()> {
    let mut reader = BufReader::new(&stream);
    let mut request_line = String::new();
    reader.read_line(&mut request_line)?;
    // Headers are read to the blank line and ignored: no route needs them.
    let mut header = String::new();
    while reader.read_line(&mut header)? > 2 {
        header.clear();
    }
    let (status, body) = respond(&request_line, settings);
    let mut stream = &stream;
    write!(
        stream,
        "HTTP/1.1 {status}\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\
         Access-Control-Allow-Origin: *\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )
}

fn respond(request_line: &str, settings: &Settings) -> (&'static str, String) {
    let mut parts = request_line.split_whitespace();
    let (method, path) = (parts.next().unwrap_or(""), parts.next().unwrap_or(""));
    match (method, path) {
        ("GET", "/api/health-check") => {
            ("200 OK", format!(r#"{{"status":"ok","version":"{}"}}"#, json_escape(&settings.version)))
        }
        ("GET", "/api/info") => (
            "200 OK",
            format!(
                r#"{{"environment":"{}","version":"{}","database":{},"tracing":{}}}"#,
                json_escape(&settings.app_env),
                json_escape(&settings.version),
                settings.database_configured,
                settings.tracing_configured
            ),
        ),
        (_, "/api/health-check" | "/api/info") => {
            ("405 Method Not Allowed", r#"{"error":"method not allowed"}"#.to_string())
        }
        _ => ("404 Not Found", r#"{"error":"not found"}"#.to_string()),
    }
}

fn json_escape(text: &str) -> String {
    text.chars()
        .flat_map(|c| match c {
            '"' => vec!['\\', '"'],
            '\\' => vec!['\\', '\\'],
            c if c.is_control() => format!("\\u{:04x}", c as u32).chars().collect(),
            c => vec![c],
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings() -> Settings {
        Settings {
            port: 0,
            app_env: "dev".into(),
            version: "abc\"123".into(),
            log_level: "info".into(),
            database_configured: true,
            tracing_configured: false,
        }
    }

    #[test]
    fn health_check_reports_the_version() {
        let (status, body) = respond("GET /api/health-check HTTP/1.1\r\n", &settings());
        assert_eq!(status, "200 OK");
        assert_eq!(body, r#"{"status":"ok","version":"abc\"123"}"#);
    }

    #[test]
    fn the_health_check_asks_the_server_beside_it() {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let server = std::thread::spawn(move || {
            let (stream, _) = listener.accept().unwrap();
            // The check reads the status line and hangs up, so writing the
            // rest of the answer may find the connection reset: not the point here.
            let _ = serve(stream, &settings());
        });
        assert!(healthy(port));
        server.join().unwrap();
        // Nothing listens there any more.
        assert!(!healthy(port));
    }

    #[test]
    fn unknown_paths_and_methods_are_refused() {
        assert_eq!(respond("GET /nope HTTP/1.1", &settings()).0, "404 Not Found");
        assert_eq!(respond("POST /api/info HTTP/1.1", &settings()).0, "405 Method Not Allowed");
    }

    #[test]
    fn serves_over_a_real_socket() {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let address = listener.local_addr().unwrap();
        let server = std::thread::spawn(move || {
            let (stream, _) = listener.accept().unwrap();
            // The check reads the status line and hangs up, so writing the
            // rest of the answer may find the connection reset: not the point here.
            let _ = serve(stream, &settings());
        });
        let mut client = TcpStream::connect(address).unwrap();
        client.write_all(b"GET /api/info HTTP/1.1\r\nHost: x\r\n\r\n").unwrap();
        let mut response = String::new();
        std::io::Read::read_to_string(&mut client, &mut response).unwrap();
        server.join().unwrap();
        assert!(response.starts_with("HTTP/1.1 200 OK\r\n"), "{response}");
        assert!(response.ends_with(r#""database":true,"tracing":false}"#), "{response}");
    }
}
