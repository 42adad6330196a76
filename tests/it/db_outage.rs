//! A real PostgreSQL outage: logi's own cluster (never the shared server) is stopped mid-test.
//! Requests that need the database answer `503 temporarily_unavailable` with `Retry-After`
//! within about a second each, and succeed again once the cluster is back, with no restart;
//! refresh chains rotating through the outage are all intact afterwards.
//!
//! Runs on both test runs (it brings its own cluster); without the PostgreSQL binaries it prints
//! a note and returns. Timing is real (the pool's acquire timeout), hence real waits here.
#![allow(clippy::disallowed_methods)]

use std::{
    path::{Path, PathBuf},
    process::Command,
    sync::{
        atomic::{AtomicBool, Ordering},
        Arc,
    },
    time::Duration,
};

use reqwest::{header, StatusCode};
use serde_json::{json, Value};
use tokio::time::{sleep, timeout, Instant};

use crate::common::TestApp;

/// A throwaway PostgreSQL cluster in a temporary folder; stopped and removed on drop, also when
/// the test fails.
struct Cluster {
    bin: PathBuf,
    dir: PathBuf,
    port: u16,
    /// Root cannot run PostgreSQL: the `postgres` account's uid and gid then.
    run_as: Option<(u32, u32)>,
}

fn postgres_bin() -> Option<PathBuf> {
    let mut found: Vec<PathBuf> = std::fs::read_dir("/usr/lib/postgresql")
        .ok()?
        .filter_map(|e| e.ok())
        .map(|e| e.path().join("bin"))
        .filter(|bin| bin.join("initdb").is_file() && bin.join("pg_ctl").is_file())
        .collect();
    found.sort();
    found.pop()
}

fn id_of(flag: &str) -> Option<u32> {
    let out = Command::new("id").args([flag, "postgres"]).output().ok()?;
    String::from_utf8(out.stdout).ok()?.trim().parse().ok()
}

impl Cluster {
    fn command(&self, program: &str) -> Command {
        use std::os::unix::process::CommandExt;
        let mut c = Command::new(self.bin.join(program));
        if let Some((uid, gid)) = self.run_as {
            c.uid(uid).gid(gid);
        }
        c
    }

    fn data(&self) -> PathBuf {
        self.dir.join("data")
    }

    /// `None` (after a note) when PostgreSQL is not installed here.
    fn create() -> Option<Cluster> {
        let Some(bin) = postgres_bin() else {
            println!("note: no PostgreSQL binaries under /usr/lib/postgresql: outage test skipped");
            return None;
        };
        let root = unsafe { libc::geteuid() } == 0;
        let run_as = if root {
            Some((
                id_of("-u").expect("running as root needs a `postgres` account"),
                id_of("-g").expect("gid of postgres"),
            ))
        } else {
            None
        };
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("a free port")
            .port();
        let dir = std::env::temp_dir().join(format!(
            "logi-pg-{}-{}",
            std::process::id(),
            logi::crypto::random_token(6).replace(['-', '_'], "x")
        ));
        std::fs::create_dir_all(&dir).expect("temp dir");
        if let Some((uid, gid)) = run_as {
            std::os::unix::fs::chown(&dir, Some(uid), Some(gid)).expect("chown temp dir");
        }
        let cluster = Cluster {
            bin,
            dir,
            port,
            run_as,
        };
        let out = cluster
            .command("initdb")
            .args(["-U", "postgres", "-A", "trust", "--no-sync", "-D"])
            .arg(cluster.data())
            .output()
            .expect("run initdb");
        assert!(
            out.status.success(),
            "initdb: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        cluster.start();
        Some(cluster)
    }

    fn start(&self) {
        let options = format!(
            "-p {} -k {} -c listen_addresses=127.0.0.1 -c fsync=off",
            self.port,
            self.dir.display()
        );
        let out = self
            .command("pg_ctl")
            .args(["-w", "-t", "30", "-o", &options, "-l"])
            .arg(self.dir.join("log"))
            .arg("-D")
            .arg(self.data())
            .arg("start")
            .output()
            .expect("run pg_ctl start");
        assert!(
            out.status.success(),
            "pg_ctl start: {}{}",
            String::from_utf8_lossy(&out.stdout),
            std::fs::read_to_string(self.dir.join("log")).unwrap_or_default()
        );
    }

    fn stop(&self) -> bool {
        self.command("pg_ctl")
            .args(["-w", "-m", "immediate", "-D"])
            .arg(self.data())
            .arg("stop")
            .output()
            .map(|o| o.status.success())
            .unwrap_or(false)
    }

    fn url(&self) -> String {
        format!("postgres://postgres@127.0.0.1:{}/postgres", self.port)
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        if self.data().join("postmaster.pid").exists() {
            self.stop();
        }
        let _ = std::fs::remove_dir_all(&self.dir);
        assert_dir_gone(&self.dir);
    }
}

fn assert_dir_gone(dir: &Path) {
    if dir.exists() && !std::thread::panicking() {
        panic!("{} was not removed", dir.display());
    }
}

/// The requests of the test, each needing the database: a developer-token login (JSON), the
/// token endpoint with an unknown client (JSON), an authorization request for an unknown client
/// (HTML page), readiness.
async fn probe(app: &TestApp) -> Vec<(&'static str, reqwest::Response)> {
    let api = app.api();
    let mut out = Vec::new();
    let r = api
        .post(app.url("/developer/tokens"))
        .json(&json!({ "email": "nobody@example.com", "password": "wrong password", "name": "x" }))
        .send()
        .await
        .expect("developer token");
    out.push(("developer token", r));
    let r = api
        .post(app.url("/oauth/token"))
        .form(&[
            ("grant_type", "client_credentials"),
            ("client_id", "no-such-client"),
            ("client_secret", "x"),
        ])
        .send()
        .await
        .expect("token");
    out.push(("token", r));
    let r = api
        .get(app.url(
            "/oauth/authorize?client_id=no-such-client&response_type=code&redirect_uri=https%3A%2F%2Frp.example%2Fcb",
        ))
        .send()
        .await
        .expect("authorize");
    out.push(("authorize page", r));
    let r = api.get(app.url("/readyz")).send().await.expect("readyz");
    out.push(("readyz", r));
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_database_outage_fails_fast_with_retry_after_and_logi_recovers() {
    let Some(cluster) = Cluster::create() else {
        return;
    };
    let url = cluster.url();
    let app = TestApp::spawn_with(move |c| {
        c.database_url = url;
        c.database_max_connections = 4;
        c.database_acquire_timeout_ms = 1000;
    })
    .await;

    let run = async {
        let expected_up = [
            StatusCode::UNAUTHORIZED,
            StatusCode::UNAUTHORIZED,
            StatusCode::BAD_REQUEST,
            StatusCode::OK,
        ];
        for ((what, r), want) in probe(&app).await.into_iter().zip(expected_up) {
            assert_eq!(r.status(), want, "{what} while the database is up");
        }

        // Refresh chains under load while the database goes away and comes back.
        let rp = app
            .rp(json!({"client_type": "confidential",
                "grant_types": ["authorization_code", "refresh_token"],
                "scope": "openid offline_access",
                // A retry after a swallowed answer gets the same successor (SPEC "Tokens").
                "refresh_token_reuse_interval_seconds": 30}))
            .await;
        let mut held = Vec::new();
        for _ in 0..4 {
            let tokens = app.tokens(&rp, "openid offline_access").await;
            held.push(tokens["refresh_token"].as_str().unwrap().to_string());
        }
        let rp = Arc::new(rp);
        let stop = Arc::new(AtomicBool::new(false));
        let mut chains = Vec::new();
        for token in held {
            let (rp, stop, base) = (rp.clone(), stop.clone(), app.base.clone());
            chains.push(tokio::spawn(async move {
                let mut token = token;
                let (mut ok, mut unavailable) = (0u32, 0u32);
                while !stop.load(Ordering::Relaxed) {
                    match crate::faults::refresh(&base, &rp, &token).await {
                        Ok((StatusCode::OK, body)) => {
                            token = body["refresh_token"].as_str().unwrap().to_string();
                            ok += 1;
                        }
                        Ok((StatusCode::SERVICE_UNAVAILABLE, _)) | Err(_) => {
                            unavailable += 1;
                            sleep(Duration::from_millis(50)).await;
                        }
                        // The reuse interval makes a retry after a swallowed answer safe; a
                        // refusal here would be a lost chain.
                        Ok((status, body)) => panic!("refresh during the outage: {status} {body}"),
                    }
                }
                (token, ok, unavailable)
            }));
        }
        sleep(Duration::from_millis(300)).await;

        assert!(cluster.stop(), "pg_ctl stop");
        for round in 0..2 {
            let start = Instant::now();
            for (what, r) in probe(&app).await {
                assert_eq!(
                    r.status(),
                    StatusCode::SERVICE_UNAVAILABLE,
                    "{what} while the database is down (round {round})"
                );
                if what != "readyz" {
                    let retry = r
                        .headers()
                        .get(header::RETRY_AFTER)
                        .unwrap_or_else(|| panic!("{what}: a 503 carries Retry-After"));
                    let secs: u64 = retry.to_str().unwrap().parse().unwrap();
                    assert!((1..=5).contains(&secs), "{what}: Retry-After {secs}");
                    let html = r
                        .headers()
                        .get(header::CONTENT_TYPE)
                        .is_some_and(|v| v.to_str().unwrap_or("").starts_with("text/html"));
                    if what == "authorize page" {
                        assert!(html, "the authorization endpoint answers a page");
                    } else {
                        let body: Value = r.json().await.expect("json");
                        assert_eq!(body["error"], "temporarily_unavailable", "{what}");
                    }
                }
            }
            // Four requests, each within about the acquire timeout.
            let took = start.elapsed();
            assert!(
                took < Duration::from_millis(4 * 1600),
                "four requests took {took:?} while the database was down"
            );
        }
        // One request alone: within ~1.5 s.
        let start = Instant::now();
        let r = app
            .api()
            .post(app.url("/oauth/token"))
            .form(&[
                ("grant_type", "client_credentials"),
                ("client_id", "another-client"),
                ("client_secret", "x"),
            ])
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::SERVICE_UNAVAILABLE);
        let took = start.elapsed();
        assert!(
            took < Duration::from_millis(1600),
            "one request took {took:?}"
        );

        cluster.start();
        // Recovers by itself: no restart of logi.
        let deadline = Instant::now() + Duration::from_secs(15);
        loop {
            let r = app.api().get(app.url("/readyz")).send().await.unwrap();
            if r.status() == StatusCode::OK {
                break;
            }
            assert!(Instant::now() < deadline, "logi did not recover");
            sleep(Duration::from_millis(200)).await;
        }
        let expected_up = [
            StatusCode::UNAUTHORIZED,
            StatusCode::UNAUTHORIZED,
            StatusCode::BAD_REQUEST,
            StatusCode::OK,
        ];
        for ((what, r), want) in probe(&app).await.into_iter().zip(expected_up) {
            assert_eq!(r.status(), want, "{what} after the database came back");
        }

        // The chains ran on through the outage; none is lost.
        sleep(Duration::from_millis(300)).await;
        stop.store(true, Ordering::Relaxed);
        let mut held = Vec::new();
        let (mut ok, mut unavailable) = (0, 0);
        for chain in chains {
            let (token, o, u) = chain.await.expect("a chain task");
            held.push(token);
            ok += o;
            unavailable += u;
        }
        assert!(
            ok > 0 && unavailable > 0,
            "load before, during and after: {ok} ok, {unavailable} unavailable"
        );
        let lost = crate::faults::check_chains(&app, &rp, &held).await;
        eprintln!(
            "{ok} rotations, {unavailable} unavailable answers, {lost} lost responses recovered"
        );
    };
    timeout(Duration::from_secs(90), run)
        .await
        .expect("the outage test finishes within 90 s");
    drop(app);
    drop(cluster);
}
