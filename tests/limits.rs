//! Server limits: at most `max_connections` connections are open at once; more wait.

mod support;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;

use support::Deployment;

fn healthz_over(stream: &mut TcpStream) -> std::io::Result<String> {
    stream.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")?;
    let mut answer = String::new();
    stream.read_to_string(&mut answer)?;
    Ok(answer)
}

#[test]
fn connections_beyond_the_cap_wait_for_a_free_slot() {
    let deployment = Deployment::with_env(&[("CDP_AUTH_MAX_CONNECTIONS", "2")]);
    let server = deployment.serve();
    let address = server.base.trim_start_matches("http://").to_owned();
    let held: Vec<TcpStream> = (0..2)
        .map(|_| TcpStream::connect(&address).unwrap())
        .collect();
    std::thread::sleep(Duration::from_millis(100));

    let mut third = TcpStream::connect(&address).unwrap();
    third
        .set_read_timeout(Some(Duration::from_millis(500)))
        .unwrap();
    assert!(
        healthz_over(&mut third).is_err(),
        "a third connection was served while two were open"
    );

    drop(held);
    let mut fourth = TcpStream::connect(&address).unwrap();
    fourth
        .set_read_timeout(Some(Duration::from_secs(5)))
        .unwrap();
    let answer = healthz_over(&mut fourth).unwrap();
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
}
