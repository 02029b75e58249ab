//! systemd readiness without systemd: the test listens on a datagram
//! socket as systemd does and gives the daemon its path in NOTIFY_SOCKET.
//! The daemon asks for time while it recovers, says READY=1 only once its
//! listeners are bound, feeds the watchdog while healthy, and says
//! STOPPING=1 when it stops.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // tests fail by panicking

mod common;

use std::net::TcpStream;
use std::os::unix::net::UnixDatagram;
use std::time::{Duration, Instant};

use common::Daemon;

/// Every notification until `until` says so, or the deadline.
fn receive_until(sock: &UnixDatagram, mut until: impl FnMut(&str) -> bool) -> Vec<String> {
    let deadline = Instant::now() + Duration::from_secs(30);
    let mut got = Vec::new();
    let mut buf = [0u8; 4096];
    while Instant::now() < deadline {
        sock.set_read_timeout(Some(Duration::from_millis(500)))
            .unwrap();
        if let Ok(n) = sock.recv(&mut buf) {
            let m = String::from_utf8_lossy(&buf[..n]).into_owned();
            let done = until(&m);
            got.push(m);
            if done {
                return got;
            }
        }
    }
    panic!("the awaited notification never came; got {got:?}");
}

#[test]
fn ready_after_binding_watchdog_while_healthy_stopping_at_stop() {
    let mut d = Daemon::start();
    d.kill9();
    let sock_path = d.root.path().join("notify.sock");
    let sock = UnixDatagram::bind(&sock_path).unwrap();
    d.start_again_with_env(&[
        ("NOTIFY_SOCKET", sock_path.to_str().unwrap()),
        ("WATCHDOG_USEC", "1000000"),
    ]);
    let before_ready = receive_until(&sock, |m| m.contains("READY=1"));
    let ready = before_ready.last().unwrap();
    // Recovery asked for time first; READY came with a status line.
    assert!(
        before_ready[0].starts_with("EXTEND_TIMEOUT_USEC="),
        "{before_ready:?}"
    );
    assert!(
        ready.contains("STATUS=serving 2 municipalities on 127.0.0.1:"),
        "{ready}"
    );
    // When READY=1 arrives the listener is bound: connecting works.
    let listen = ready
        .split("on ")
        .nth(1)
        .and_then(|s| s.split([',', '\n']).next())
        .unwrap()
        .trim()
        .to_string();
    TcpStream::connect(&listen).expect("the listener answers once READY=1 is sent");
    // The watchdog is fed (every WATCHDOG_USEC / 2).
    let mut fed = 0;
    receive_until(&sock, |m| {
        if m == "WATCHDOG=1" {
            fed += 1;
        }
        fed >= 3
    });
    assert!(d.stop().success());
    let last = receive_until(&sock, |m| m.contains("STOPPING=1"));
    assert!(
        last.last().unwrap().contains("STATUS=stopping (SIGTERM)"),
        "{last:?}"
    );
}

#[test]
fn a_watchdog_for_another_process_is_not_fed() {
    let mut d = Daemon::start();
    d.kill9();
    let sock_path = d.root.path().join("notify.sock");
    let sock = UnixDatagram::bind(&sock_path).unwrap();
    // WATCHDOG_PID names another process (systemd sets it to the main
    // pid): this daemon is not the one being watched.
    d.start_again_with_env(&[
        ("NOTIFY_SOCKET", sock_path.to_str().unwrap()),
        ("WATCHDOG_USEC", "200000"),
        ("WATCHDOG_PID", "1"),
    ]);
    receive_until(&sock, |m| m.contains("READY=1"));
    // Nothing but its own status lines until it stops.
    assert!(d.stop().success());
    let rest = receive_until(&sock, |m| m.contains("STOPPING=1"));
    assert!(!rest.iter().any(|m| m == "WATCHDOG=1"), "{rest:?}");
}
