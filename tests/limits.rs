//! Server limits against slow and hostile clients, over raw TCP so that half-sent heads and
//! bodies can be sent: at most `max_connections` connections are open at once, yet slow or
//! silent clients holding all of them do not keep a real request waiting; heads time out
//! after `header_timeout`, idle keep-alive connections after `idle_timeout`, and neither cuts a
//! request being served; pushes are refused from their head, before their body is read;
//! oversized heads get JSON errors.

mod support;

use std::io::{ErrorKind, Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use support::Deployment;

fn address(server: &support::Server) -> String {
    server.base.trim_start_matches("http://").to_owned()
}

fn send(address: &str, bytes: &[u8]) -> TcpStream {
    let mut stream = TcpStream::connect(address).unwrap();
    stream.write_all(bytes).unwrap();
    stream
}

/// Everything the server sends until it closes the connection or `patience` passes.
fn read_answer(stream: &mut TcpStream, patience: Duration) -> std::io::Result<String> {
    stream.set_read_timeout(Some(patience)).unwrap();
    let mut answer = Vec::new();
    stream.read_to_end(&mut answer)?;
    Ok(String::from_utf8_lossy(&answer).into_owned())
}

/// How long until the server closes `stream` (reads EOF or a reset), at most `patience`.
fn time_until_closed(stream: &mut TcpStream, patience: Duration) -> Option<Duration> {
    let started = Instant::now();
    stream.set_read_timeout(Some(patience)).unwrap();
    let mut buffer = [0u8; 4096];
    loop {
        match stream.read(&mut buffer) {
            Ok(0) => return Some(started.elapsed()),
            Ok(_) => continue,
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {
                return None;
            }
            Err(_) => return Some(started.elapsed()),
        }
    }
}

const HEALTHZ_CLOSE: &[u8] = b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n";
const HALF_HEAD: &[u8] = b"GET /healthz HTTP/1.1\r\nHost: x\r\n";

#[test]
fn a_normal_request_is_answered_while_slow_clients_hold_every_connection() {
    let deployment = Deployment::with_env(&[("CDP_AUTH_MAX_CONNECTIONS", "4")]);
    let server = deployment.serve();
    let address = address(&server);
    // Three times the cap: half-sent heads, and connections that send nothing at all.
    let mut held: Vec<TcpStream> = (0..8).map(|_| send(&address, HALF_HEAD)).collect();
    held.extend((0..4).map(|_| TcpStream::connect(&address).unwrap()));
    std::thread::sleep(Duration::from_millis(200));

    let started = Instant::now();
    let mut normal = send(&address, HEALTHZ_CLOSE);
    let answer = read_answer(&mut normal, Duration::from_secs(5)).unwrap();
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "a normal request waited {:?} behind slow clients",
        started.elapsed()
    );
}

#[test]
fn a_half_sent_head_is_closed_after_the_header_timeout() {
    let deployment = Deployment::with_env(&[
        ("CDP_AUTH_HEADER_TIMEOUT", "1s"),
        ("CDP_AUTH_IDLE_TIMEOUT", "30s"),
    ]);
    let server = deployment.serve();
    let address = address(&server);
    let opened = Instant::now();
    let mut half = send(&address, HALF_HEAD);
    let mut silent = TcpStream::connect(&address).unwrap();
    for (what, stream) in [
        ("a half-sent head", &mut half),
        ("a silent client", &mut silent),
    ] {
        time_until_closed(stream, Duration::from_secs(5))
            .unwrap_or_else(|| panic!("{what} was still open after 5 s"));
        let held = opened.elapsed();
        assert!(
            held >= Duration::from_millis(800),
            "{what} was closed after {held:?}, before its timeout"
        );
    }
}

#[test]
fn an_idle_keep_alive_connection_lasts_the_idle_timeout_not_the_header_timeout() {
    let deployment = Deployment::with_env(&[
        ("CDP_AUTH_HEADER_TIMEOUT", "1s"),
        ("CDP_AUTH_IDLE_TIMEOUT", "3s"),
    ]);
    let server = deployment.serve();
    let address = address(&server);
    let mut stream = send(&address, b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n");
    let mut first = [0u8; 12];
    stream.read_exact(&mut first).unwrap();
    assert_eq!(&first, b"HTTP/1.1 200");
    // Past the header timeout, the connection still takes a request.
    std::thread::sleep(Duration::from_millis(1800));
    stream.write_all(HEALTHZ_CLOSE).unwrap();
    let answer = read_answer(&mut stream, Duration::from_secs(2)).unwrap();
    assert!(
        answer.contains("HTTP/1.1 200"),
        "the idle connection was closed before idle_timeout: {answer:?}"
    );

    let mut idle = send(&address, b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n");
    let started = Instant::now();
    let mut first = [0u8; 12];
    idle.read_exact(&mut first).unwrap();
    time_until_closed(&mut idle, Duration::from_secs(8))
        .expect("an idle keep-alive connection was never closed");
    let held = started.elapsed();
    assert!(
        held >= Duration::from_millis(2500),
        "the idle connection was closed after {held:?}, before idle_timeout"
    );
}

/// A form body for `/oauth/token` that arrives in two halves.
const SLOW_TOKEN_HEAD: &[u8] = b"POST /oauth/token HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\
Content-Type: application/x-www-form-urlencoded\r\nContent-Length: 29\r\n\r\ngrant_type=";

#[test]
fn a_slow_body_is_bounded_by_the_request_timeout_not_the_header_timeout() {
    let deployment = Deployment::with_env(&[
        ("CDP_AUTH_HEADER_TIMEOUT", "1s"),
        ("CDP_AUTH_IDLE_TIMEOUT", "1s"),
    ]);
    let server = deployment.serve();
    let mut stream = send(&address(&server), SLOW_TOKEN_HEAD);
    std::thread::sleep(Duration::from_millis(2500));
    stream.write_all(b"client_credentials").unwrap();
    let answer = read_answer(&mut stream, Duration::from_secs(5)).unwrap();
    // No client credentials were sent: the request was read to its end and answered.
    assert!(answer.starts_with("HTTP/1.1 401"), "{answer}");
    assert!(answer.contains("invalid_client"), "{answer}");
}

#[test]
fn connections_being_served_are_not_closed_to_make_room() {
    let deployment = Deployment::with_env(&[("CDP_AUTH_MAX_CONNECTIONS", "2")]);
    let server = deployment.serve();
    let address = address(&server);
    let mut served: Vec<TcpStream> = (0..2).map(|_| send(&address, SLOW_TOKEN_HEAD)).collect();
    std::thread::sleep(Duration::from_millis(200));

    let mut third = send(&address, HEALTHZ_CLOSE);
    let early = read_answer(&mut third, Duration::from_millis(700));
    assert!(
        early.is_err(),
        "a third connection was served while two requests were being served: {early:?}"
    );
    for stream in &mut served {
        stream.write_all(b"client_credentials").unwrap();
        let answer = read_answer(stream, Duration::from_secs(5)).unwrap();
        assert!(answer.starts_with("HTTP/1.1 401"), "{answer}");
    }
    let answer = read_answer(&mut third, Duration::from_secs(5)).unwrap();
    assert!(answer.contains("HTTP/1.1 200"), "{answer}");
}

#[test]
fn pushes_without_good_credentials_are_refused_before_their_body_is_sent() {
    let deployment = Deployment::new();
    let tenant = deployment.tenant("Acme", "prod");
    let tenant_id = tenant["id"].to_string();
    let server = deployment.serve();
    let address = address(&server);
    let heads = [
        (
            "no token",
            format!("POST /v2/{tenant_id}/dw/tracker?scheme=a1user HTTP/1.1\r\n"),
            "",
        ),
        (
            "a bogus token",
            format!("POST /v2/{tenant_id}/dw/tracker?scheme=a1user HTTP/1.1\r\n"),
            "Authorization: Bearer 0123456789abcdef0123456789abcdef\r\n",
        ),
        (
            "a bogus WebTag key",
            format!("POST /v2/{tenant_id}/dw/tracker?scheme=a1webtag&accessKey=nope HTTP/1.1\r\n"),
            "Origin: https://shop.example\r\n",
        ),
    ];
    for (what, request_line, credentials) in heads {
        let head = format!(
            "{request_line}Host: x\r\n{credentials}Content-Type: application/json\r\n\
             Content-Length: 9000000\r\n\r\n["
        );
        let started = Instant::now();
        let mut stream = send(&address, head.as_bytes());
        let mut answer = [0u8; 12];
        stream
            .set_read_timeout(Some(Duration::from_secs(3)))
            .unwrap();
        stream
            .read_exact(&mut answer)
            .unwrap_or_else(|e| panic!("a push with {what} got no answer before its body: {e}"));
        assert_eq!(&answer, b"HTTP/1.1 401", "a push with {what}");
        assert!(
            started.elapsed() < Duration::from_secs(2),
            "a push with {what}"
        );
    }
}

#[test]
fn oversized_request_targets_and_headers_are_json_errors() {
    let deployment = Deployment::new();
    let server = deployment.serve();
    let address = address(&server);
    let long_target = format!(
        "GET /healthz?{} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
        "a".repeat(9000)
    );
    let many_headers = format!(
        "GET /healthz HTTP/1.1\r\nHost: x\r\n{}Connection: close\r\n\r\n",
        (0..120)
            .map(|i| format!("X-{i}: y\r\n"))
            .collect::<String>()
    );
    let large_header = format!(
        "GET /healthz HTTP/1.1\r\nHost: x\r\nX-Big: {}\r\nConnection: close\r\n\r\n",
        "b".repeat(40_000)
    );
    for (what, request, status) in [
        ("a 9 KB target", long_target, "414"),
        ("120 header fields", many_headers, "431"),
        ("a 40 KB header", large_header, "431"),
    ] {
        let mut stream = send(&address, request.as_bytes());
        let answer = read_answer(&mut stream, Duration::from_secs(5)).unwrap();
        assert!(
            answer.starts_with(&format!("HTTP/1.1 {status}")),
            "{what}: {answer}"
        );
        assert!(
            answer.contains("content-type: application/json"),
            "{what}: {answer}"
        );
        assert!(
            answer.contains(r#""error":"invalid_request""#),
            "{what}: {answer}"
        );
    }
}
