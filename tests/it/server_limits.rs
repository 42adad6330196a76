//! Connection limits over real TCP: header-read and idle timeouts, the connection cap, and a
//! bounded shutdown (SPEC "Details that clients rely on").
//!
//! These limits are about real time on real sockets, so these tests wait in real time (short,
//! test-configured timeouts of 1 to 3 s); the manual clock does not govern sockets.
#![allow(clippy::disallowed_methods)]

use std::time::Duration;

use tokio::{
    io::{AsyncReadExt, AsyncWriteExt},
    net::TcpStream,
    time::{sleep, timeout, Instant},
};

use crate::common::TestApp;

fn addr(base: &str) -> String {
    base.trim_start_matches("http://").to_string()
}

async fn connect(base: &str) -> TcpStream {
    TcpStream::connect(addr(base)).await.expect("connect")
}

const HALF_HEADERS: &[u8] = b"GET /healthz HTTP/1.1\r\nHost: logi\r\nX-Slow: ";

/// Sends `GET /healthz` on `stream` and reads the response; `None` if none came within `limit`.
async fn healthz(stream: &mut TcpStream, limit: Duration) -> Option<String> {
    stream
        .write_all(b"GET /healthz HTTP/1.1\r\nHost: logi\r\n\r\n")
        .await
        .ok()?;
    let mut got = Vec::new();
    let read = async {
        let mut buf = [0u8; 1024];
        loop {
            let n = stream.read(&mut buf).await.ok()?;
            if n == 0 {
                return None;
            }
            got.extend_from_slice(&buf[..n]);
            let text = String::from_utf8_lossy(&got);
            if let Some((head, body)) = text.split_once("\r\n\r\n") {
                if body == "ok" {
                    return Some(head.lines().next().unwrap_or_default().to_string());
                }
            }
        }
    };
    timeout(limit, read).await.ok().flatten()
}

/// How long until the server closes `stream` (EOF or reset), or `None` within `limit`.
async fn closed_within(stream: &mut TcpStream, limit: Duration) -> Option<Duration> {
    let start = Instant::now();
    let mut buf = [0u8; 256];
    loop {
        let left = limit.checked_sub(start.elapsed())?;
        match timeout(left, stream.read(&mut buf)).await {
            Ok(Ok(0)) | Ok(Err(_)) => return Some(start.elapsed()),
            Ok(Ok(_)) => continue,
            Err(_) => return None,
        }
    }
}

#[tokio::test]
async fn a_connection_that_sends_half_its_headers_is_closed_after_the_header_timeout() {
    let app = TestApp::spawn_with(|c| {
        c.header_read_timeout_seconds = 1;
        c.idle_timeout_seconds = 30;
    })
    .await;
    let mut stalled = connect(&app.base).await;
    stalled.write_all(HALF_HEADERS).await.unwrap();
    let closed = closed_within(&mut stalled, Duration::from_secs(5))
        .await
        .expect("a connection stuck in its headers is closed");
    assert!(
        closed >= Duration::from_millis(700),
        "closed too early: {closed:?}"
    );

    // Trickling one byte at a time does not extend the deadline.
    let mut trickle = connect(&app.base).await;
    trickle.write_all(HALF_HEADERS).await.unwrap();
    let (mut read_half, mut write_half) = trickle.into_split();
    let writer = tokio::spawn(async move {
        for _ in 0..40 {
            sleep(Duration::from_millis(100)).await;
            if write_half.write_all(b"a").await.is_err() {
                break;
            }
        }
    });
    let start = Instant::now();
    let mut buf = [0u8; 64];
    let read = timeout(Duration::from_secs(3), read_half.read(&mut buf)).await;
    assert!(
        matches!(read, Ok(Ok(0)) | Ok(Err(_))),
        "a trickling connection is closed at the deadline: {read:?} after {:?}",
        start.elapsed()
    );
    writer.abort();

    // A connection that sends nothing at all is closed too, and the server still answers.
    let mut silent = connect(&app.base).await;
    assert!(closed_within(&mut silent, Duration::from_secs(5))
        .await
        .is_some());
    let mut fresh = connect(&app.base).await;
    assert_eq!(
        healthz(&mut fresh, Duration::from_secs(2)).await.as_deref(),
        Some("HTTP/1.1 200 OK")
    );
}

#[tokio::test]
async fn an_idle_keep_alive_connection_is_closed_after_the_idle_timeout() {
    let app = TestApp::spawn_with(|c| {
        c.header_read_timeout_seconds = 1;
        c.idle_timeout_seconds = 2;
    })
    .await;
    let mut conn = connect(&app.base).await;
    assert_eq!(
        healthz(&mut conn, Duration::from_secs(2)).await.as_deref(),
        Some("HTTP/1.1 200 OK")
    );
    // Idle for longer than the header timeout but within the idle timeout: still usable.
    sleep(Duration::from_millis(1500)).await;
    assert_eq!(
        healthz(&mut conn, Duration::from_secs(2)).await.as_deref(),
        Some("HTTP/1.1 200 OK"),
        "the idle timeout, not the header timeout, governs a connection between requests"
    );
    let closed = closed_within(&mut conn, Duration::from_secs(6))
        .await
        .expect("an idle keep-alive connection is closed");
    assert!(
        closed >= Duration::from_millis(1500),
        "closed too early: {closed:?}"
    );
}

#[tokio::test]
async fn stalled_connections_up_to_the_cap_do_not_stop_healthz() {
    const CAP: usize = 20;
    let app = TestApp::spawn_with(|c| {
        c.max_connections = CAP;
        c.header_read_timeout_seconds = 3;
        c.idle_timeout_seconds = 30;
    })
    .await;
    // A keep-alive connection opened before the flood.
    let mut existing = connect(&app.base).await;
    assert!(healthz(&mut existing, Duration::from_secs(2))
        .await
        .is_some());

    let mut stalled = Vec::new();
    for _ in 0..CAP - 3 {
        let mut s = connect(&app.base).await;
        s.write_all(HALF_HEADERS).await.unwrap();
        stalled.push(s);
    }
    // Below the cap, a new connection is answered at once.
    let mut fresh = connect(&app.base).await;
    assert_eq!(
        healthz(&mut fresh, Duration::from_secs(1)).await.as_deref(),
        Some("HTTP/1.1 200 OK")
    );
    drop(fresh);

    // Fill the cap (and then some): new connections wait, open ones keep working.
    for _ in 0..10 {
        let mut s = connect(&app.base).await;
        s.write_all(HALF_HEADERS).await.unwrap();
        stalled.push(s);
    }
    sleep(Duration::from_millis(200)).await;
    assert_eq!(
        healthz(&mut existing, Duration::from_secs(1))
            .await
            .as_deref(),
        Some("HTTP/1.1 200 OK"),
        "an open connection keeps working when the cap is reached"
    );
    let start = Instant::now();
    let mut waiting = connect(&app.base).await;
    let answer = healthz(&mut waiting, Duration::from_secs(10)).await;
    let waited = start.elapsed();
    assert_eq!(
        answer.as_deref(),
        Some("HTTP/1.1 200 OK"),
        "answered once stalled connections time out"
    );
    assert!(
        waited >= Duration::from_millis(1500),
        "a connection beyond the cap waits for a free slot (answered after {waited:?})"
    );
}

#[tokio::test]
async fn shutdown_finishes_within_its_bound_while_a_connection_stalls() {
    let app = TestApp::spawn_with(|c| {
        c.header_read_timeout_seconds = 60;
        c.idle_timeout_seconds = 60;
        c.shutdown_timeout_seconds = 1;
    })
    .await;
    // A second server on the same state, whose shutdown this test controls.
    let listener = logi::server::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    let served = tokio::spawn(logi::server::serve(app.state.clone(), listener, async {
        let _ = rx.await;
    }));

    let mut idle = connect(&base).await;
    assert!(healthz(&mut idle, Duration::from_secs(2)).await.is_some());
    let mut stalled = connect(&base).await;
    stalled.write_all(HALF_HEADERS).await.unwrap();
    sleep(Duration::from_millis(100)).await;

    let start = Instant::now();
    tx.send(()).unwrap();
    // The idle keep-alive connection is closed at once.
    assert!(closed_within(&mut idle, Duration::from_millis(900))
        .await
        .is_some());
    let finished = timeout(Duration::from_secs(5), served).await;
    let took = start.elapsed();
    assert!(
        matches!(finished, Ok(Ok(Ok(())))),
        "serve resolves within the shutdown bound despite a stalled client: {finished:?}"
    );
    assert!(took < Duration::from_secs(3), "shutdown took {took:?}");
    assert!(
        closed_within(&mut stalled, Duration::from_secs(1))
            .await
            .is_some(),
        "the stalled connection is closed when the bound passes"
    );
    assert!(
        TcpStream::connect(addr(&base)).await.is_err(),
        "no new connections after shutdown"
    );
}
