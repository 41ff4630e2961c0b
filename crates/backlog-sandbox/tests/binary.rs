//! The binary: prints `listening on ADDR` first, serves there, and with `--exit-with-stdin`
//! exits once its stdin closes (so a killed test run leaves no orphan).

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

#[test]
fn prints_its_address_serves_and_exits_when_stdin_closes() {
    let mut child = Command::new(env!("CARGO_BIN_EXE_backlog-sandbox"))
        .args([
            "--listen",
            "127.0.0.1:0",
            "--api-key",
            "k",
            "--exit-with-stdin",
        ])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let addr = line
        .trim()
        .strip_prefix("listening on ")
        .expect("the first line names the address");
    let addr: std::net::SocketAddr = addr.parse().unwrap();
    assert!(addr.ip().is_loopback() && addr.port() != 0);
    std::net::TcpStream::connect(addr).expect("it serves on that address");

    drop(child.stdin.take());
    // A guard against hanging forever, not a timing assertion.
    let deadline = Instant::now() + Duration::from_secs(20);
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("the sandbox did not exit after its stdin closed");
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    assert!(status.success(), "{status}");
}
