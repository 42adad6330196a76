//! Fault tests: a `logi` process killed with SIGKILL in the middle of refresh-token load, then
//! a consistency check of every token the clients hold.
//!
//! A second `logi serve` (the real binary, as a child process) shares the test server's
//! database and master key. Clients rotate their refresh tokens against the child until it is
//! killed. Afterwards every chain must be in one of two states, checked in the database
//! before anything is presented again:
//! - the token the client holds is unused: it still refreshes (its grant is intact);
//! - it is used (the child committed the rotation and died before answering): its grant then
//!   holds exactly one unused successor, so nothing is half-written.
//!
//! Real time is what this module is about (load runs, then a process dies), so it may wait.
#![allow(clippy::disallowed_methods)]

use std::{
    process::{Child, Command, Stdio},
    sync::{
        atomic::{AtomicBool, Ordering},
        Arc,
    },
    time::Duration,
};

use reqwest::StatusCode;
use serde_json::{json, Value};

use crate::common::{Rp, TestApp};

const CHAINS: usize = 8;

/// `logi serve` as a child process on the test server's database; killed when dropped.
struct ChildServer {
    child: Child,
    base: String,
}

impl ChildServer {
    async fn start(app: &TestApp) -> ChildServer {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .map(|a| a.port())
            .expect("a free port");
        let base = format!("http://127.0.0.1:{port}");
        let config = &app.state.config;
        let mut command = Command::new(env!("CARGO_BIN_EXE_logi"));
        for (k, _) in std::env::vars() {
            if k.starts_with("LOGI_") {
                command.env_remove(k);
            }
        }
        let child = command
            .arg("serve")
            .env("LOGI_DATABASE_URL", &config.database_url)
            .env("LOGI_MASTER_KEY", &config.master_key.0)
            .env("LOGI_ISSUER", &app.base)
            .env("LOGI_BIND", format!("127.0.0.1:{port}"))
            .env("LOGI_DATA_DIR", &config.data_dir)
            .env("LOGI_LOG", "warn")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("logi serve starts");
        let server = ChildServer { child, base };
        let client = reqwest::Client::new();
        for _ in 0..200 {
            if let Ok(r) = client.get(format!("{}/healthz", server.base)).send().await {
                if r.status() == StatusCode::OK {
                    return server;
                }
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("the child logi did not answer /healthz within 10 s");
    }

    fn kill(&mut self) {
        let _ = self.child.kill(); // SIGKILL on Unix
        let _ = self.child.wait();
    }
}

impl Drop for ChildServer {
    fn drop(&mut self) {
        self.kill();
    }
}

pub(crate) async fn refresh(
    base: &str,
    rp: &Rp,
    token: &str,
) -> Result<(StatusCode, Value), reqwest::Error> {
    let r = reqwest::Client::new()
        .post(format!("{base}/oauth/token"))
        .basic_auth(&rp.client_id, rp.client_secret.as_ref())
        .form(&[("grant_type", "refresh_token"), ("refresh_token", token)])
        .timeout(Duration::from_secs(10))
        .send()
        .await?;
    let status = r.status();
    Ok((status, r.json().await.unwrap_or_default()))
}

#[tokio::test]
async fn sigkill_mid_load_leaves_every_refresh_chain_consistent() {
    let app = TestApp::spawn().await;
    let rp = app
        .rp(json!({"client_type": "confidential",
            "grant_types": ["authorization_code", "refresh_token"],
            "scope": "openid offline_access",
            // A client whose answer was lost retries safely (SPEC "Tokens").
            "refresh_token_reuse_interval_seconds": 30}))
        .await;
    let mut held = Vec::new();
    for _ in 0..CHAINS {
        let tokens = app.tokens(&rp, "openid offline_access").await;
        held.push(
            tokens["refresh_token"]
                .as_str()
                .expect("a refresh token")
                .to_string(),
        );
    }
    let mut child = ChildServer::start(&app).await;

    // Each chain rotates as fast as it can against the child until the child dies.
    let rp = Arc::new(rp);
    let stop = Arc::new(AtomicBool::new(false));
    let mut tasks = Vec::new();
    for token in held {
        let (rp, stop, base) = (rp.clone(), stop.clone(), child.base.clone());
        tasks.push(tokio::spawn(async move {
            let mut token = token;
            let mut rotations = 0u32;
            while !stop.load(Ordering::Relaxed) {
                match refresh(&base, &rp, &token).await {
                    Ok((StatusCode::OK, body)) => {
                        token = body["refresh_token"].as_str().expect("rotated").to_string();
                        rotations += 1;
                    }
                    Ok((status, body)) => panic!("refresh refused under load: {status} {body}"),
                    Err(_) => break, // the child is gone
                }
            }
            (token, rotations)
        }));
    }
    tokio::time::sleep(Duration::from_millis(1500)).await;
    child.kill();
    stop.store(true, Ordering::Relaxed);
    // PostgreSQL finishes (and commits) a statement whose client died; let it settle. And the
    // child ran on the system clock: the test server's clock catches up with it.
    tokio::time::sleep(Duration::from_millis(500)).await;
    app.state.clock.set(logi::clock::system_now());
    let mut chains = Vec::new();
    for t in tasks {
        chains.push(t.await.expect("a chain task"));
    }
    assert!(
        chains.iter().map(|(_, n)| n).sum::<u32>() >= CHAINS as u32,
        "the load ran before the kill: {chains:?}"
    );

    // The consistency check, in the database first, then over HTTP (on the test server).
    let held: Vec<String> = chains.iter().map(|(token, _)| token.clone()).collect();
    let lost = check_chains(&app, &rp, &held).await;
    // Lost responses are possible; with a reuse interval the client's retry recovers them
    // (checked above). They are reported, not hidden.
    let rotations: u32 = chains.iter().map(|(_, n)| n).sum();
    eprintln!(
        "{rotations} rotations; {lost} of {CHAINS} chains lost the response to their last one"
    );
}

/// Checks every refresh chain a client holds after a fault, in the database before anything is
/// presented again, then over HTTP: exactly one live token per chain (nothing half-written), no
/// grant revoked by the fault, and a held token that is still unused refreshes. A chain that
/// lost the response to its last rotation (the fault struck between commit and answer: the
/// client holds the used predecessor of the live token) recovers by retrying within the
/// application's `refresh_token_reuse_interval_seconds`. Returns how many chains lost one.
pub(crate) async fn check_chains(app: &TestApp, rp: &Rp, held: &[String]) -> usize {
    let mut lost = 0;
    for token in held {
        let hash = app.state.keys.hash_secret(token);
        let (grant_id, used_at): (String, Option<i64>) =
            sqlx::query_as("SELECT grant_id, used_at FROM refresh_tokens WHERE token_hash = $1")
                .bind(&hash)
                .fetch_one(&app.db)
                .await
                .expect("every token a client holds was stored");
        let (unused,): (i64,) = sqlx::query_as(
            "SELECT COUNT(*) FROM refresh_tokens WHERE grant_id = $1 AND used_at IS NULL",
        )
        .bind(&grant_id)
        .fetch_one(&app.db)
        .await
        .unwrap();
        let (revoked,): (Option<i64>,) =
            sqlx::query_as("SELECT revoked_at FROM grants WHERE id = $1")
                .bind(&grant_id)
                .fetch_one(&app.db)
                .await
                .unwrap();
        assert_eq!(revoked, None, "no grant was revoked by the fault");
        assert_eq!(
            unused, 1,
            "exactly one live refresh token per chain (no half-write)"
        );
        match used_at {
            None => {
                let (status, body) = refresh(&app.base, rp, token).await.expect("the server");
                assert_eq!(status, StatusCode::OK, "an intact chain refreshes: {body}");
            }
            // Committed, then the answer was lost. The application allows a retry within its
            // reuse interval: the held token gets the live successor back.
            Some(_) => {
                lost += 1;
                let (status, body) = refresh(&app.base, rp, token).await.expect("the server");
                assert_eq!(status, StatusCode::OK, "a lost answer is recovered: {body}");
            }
        }
    }
    lost
}
