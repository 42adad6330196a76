//! Load benchmark: `cargo bench --bench load`.
//!
//! Builds the release server, measures raw argon2 hashes/s in-process, then for SQLite and
//! PostgreSQL starts `logi serve` as a child process on a free loopback port with a fresh
//! database, prepares an end user, a developer token, a confidential application, a browser
//! session with remembered consent and refresh-token chains over HTTP, and drives every scenario
//! with keep-alive HTTP/1.1 connections for a fixed time (after a 1 s warm-up that is not
//! counted). The Markdown table is printed and written to `docs/performance-results.md`.
//!
//! Environment (all optional):
//! - `LOGI_BENCH_SECONDS` (6): measured seconds per scenario.
//! - `LOGI_BENCH_CONNECTIONS` (64): connections for the token, userinfo and introspect scenarios.
//! - `LOGI_BENCH_LOGIN_CONNECTIONS` (8): connections doing password logins.
//! - `LOGI_BENCH_CLIENT_THREADS` (1): threads of the load generator (it shares the CPUs with the
//!   server, so one thread leaves the most for the server).
//! - `LOGI_BENCH_BACKENDS` (`sqlite,postgres`).
//! - (not a setting) refresh and authorization-code flows run twice: with the default RS256 ID
//!   tokens and with an application registered for ES256 ID tokens (an RSA signature dominates
//!   those requests).
//! - `LOGI_BENCH_POSTGRES_URL` (`postgres://postgres@127.0.0.1:5432/postgres`): an administrative
//!   connection on which `logi_bench_<pid>` is created and finally dropped. When PostgreSQL is
//!   unreachable that backend is skipped with a note.

// A benchmark measures wall time and waits for servers: the clock rule of `clippy.toml` is for
// the server.
#![allow(clippy::disallowed_methods)]

use std::{
    net::{SocketAddr, TcpListener},
    path::{Path, PathBuf},
    process::{Child, Command, Stdio},
    sync::{
        atomic::{AtomicBool, Ordering},
        Arc,
    },
    time::{Duration, Instant, SystemTime, UNIX_EPOCH},
};

use argon2::password_hash::{PasswordHasher, SaltString};
use base64::{
    engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD},
    Engine,
};
use http_body_util::{BodyExt, Full};
use hyper::{
    body::Bytes, client::conn::http1, header, http::request::Builder, HeaderMap, Method, Request,
    StatusCode,
};
use hyper_util::rt::TokioIo;
use serde_json::{json, Value};
use sha2::Digest;
use sqlx::Connection;

const PASSWORD: &str = "correct horse battery staple";
const REDIRECT_URI: &str = "https://rp.example/cb";
const APP_SCOPE: &str = "openid profile email offline_access api";
const WARM_UP: Duration = Duration::from_secs(1);
/// Upper bound for one HTTP exchange: a stuck server cannot keep the benchmark running.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);
const READY_TIMEOUT: Duration = Duration::from_secs(60);
/// Raw argon2 is measured with as many threads as the server hashes on (one fewer than the
/// cores): the comparison is at the same parallelism.
fn argon2_threads() -> usize {
    logi::accounts::passwords::PasswordHasherPool::default_threads()
}
const ARGON2_SECONDS: u64 = 3;
const RESULTS_FILE: &str = "docs/performance-results.md";

// ---------------------------------------------------------------------------------------------
// Settings

#[derive(Clone, Copy, Debug, PartialEq)]
enum Backend {
    Sqlite,
    Postgres,
}

impl Backend {
    fn name(self) -> &'static str {
        match self {
            Backend::Sqlite => "SQLite",
            Backend::Postgres => "PostgreSQL",
        }
    }
}

struct Settings {
    measure: Duration,
    connections: usize,
    login_connections: usize,
    client_threads: usize,
    backends: Vec<Backend>,
    postgres_url: String,
}

fn env_number(name: &str, default: u64) -> u64 {
    match std::env::var(name) {
        Ok(v) => match v.trim().parse::<u64>() {
            Ok(n) if n > 0 => n,
            _ => panic!("{name} must be a positive integer, got {v:?}"),
        },
        Err(_) => default,
    }
}

impl Settings {
    fn from_env() -> Settings {
        let backends = std::env::var("LOGI_BENCH_BACKENDS")
            .unwrap_or_else(|_| "sqlite,postgres".into())
            .split(',')
            .map(|b| match b.trim().to_ascii_lowercase().as_str() {
                "sqlite" => Backend::Sqlite,
                "postgres" | "postgresql" => Backend::Postgres,
                other => panic!("LOGI_BENCH_BACKENDS: unknown backend {other:?}"),
            })
            .collect();
        Settings {
            measure: Duration::from_secs(env_number("LOGI_BENCH_SECONDS", 6)),
            connections: env_number("LOGI_BENCH_CONNECTIONS", 64) as usize,
            login_connections: env_number("LOGI_BENCH_LOGIN_CONNECTIONS", 8) as usize,
            client_threads: env_number("LOGI_BENCH_CLIENT_THREADS", 1) as usize,
            backends,
            postgres_url: std::env::var("LOGI_BENCH_POSTGRES_URL")
                .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".into()),
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Entry point

fn main() {
    let settings = Settings::from_env();
    let server_bin = build_server();
    let load_before = load_average();

    let runtime = if settings.client_threads == 1 {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
    } else {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(settings.client_threads)
            .enable_all()
            .build()
    }
    .expect("cannot start the load generator's tokio runtime");

    let mut report = runtime.block_on(run_all(&settings, &server_bin));
    report.load_before = load_before;
    let markdown = report.markdown(&settings);
    println!("\n{markdown}");
    let out = Path::new(env!("CARGO_MANIFEST_DIR")).join(RESULTS_FILE);
    if let Some(dir) = out.parent() {
        std::fs::create_dir_all(dir).expect("cannot create docs/");
    }
    std::fs::write(&out, &markdown)
        .unwrap_or_else(|e| panic!("cannot write {}: {e}", out.display()));
    println!("written to {}", out.display());
}

/// `$CARGO build --release --bin logi`; returns the path of the binary.
fn build_server() -> PathBuf {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let manifest_dir = Path::new(env!("CARGO_MANIFEST_DIR"));
    println!("building: {cargo} build --release --bin logi");
    let status = Command::new(&cargo)
        .args(["build", "--release", "--bin", "logi"])
        .current_dir(manifest_dir)
        .status()
        .unwrap_or_else(|e| panic!("cannot run {cargo}: {e}"));
    assert!(
        status.success(),
        "`{cargo} build --release --bin logi` failed ({status})"
    );
    let target_dir = match std::env::var_os("CARGO_TARGET_DIR") {
        Some(dir) => manifest_dir.join(dir),
        None => manifest_dir.join("target"),
    };
    let bin = target_dir.join("release").join("logi");
    assert!(
        bin.is_file(),
        "the release build did not produce {}",
        bin.display()
    );
    bin
}

/// Raw argon2 hashes per second with the server's parameters, `threads` hashing in parallel.
fn measure_argon2(threads: usize, duration: Duration) -> f64 {
    let start = Instant::now();
    let workers: Vec<_> = (0..threads)
        .map(|_| {
            std::thread::spawn(move || {
                let argon2 = logi::accounts::passwords::argon2();
                let salt = SaltString::encode_b64(&logi::crypto::random_bytes(16))
                    .expect("argon2 salt from 16 random bytes");
                let mut hashes = 0u64;
                while start.elapsed() < duration {
                    argon2
                        .hash_password(PASSWORD.as_bytes(), &salt)
                        .expect("argon2 hash with the server's parameters");
                    hashes += 1;
                }
                hashes
            })
        })
        .collect();
    let total: u64 = workers
        .into_iter()
        .map(|w| w.join().expect("argon2 thread panicked"))
        .sum();
    total as f64 / start.elapsed().as_secs_f64()
}

async fn run_all(settings: &Settings, server_bin: &Path) -> Report {
    sqlx::any::install_default_drivers();
    let mut report = Report {
        rows: Vec::new(),
        notes: Vec::new(),
        versions: Vec::new(),
        load_before: String::new(),
    };
    for &backend in &settings.backends {
        let database = match backend {
            Backend::Sqlite => None,
            Backend::Postgres => match PgDatabase::create(&settings.postgres_url).await {
                Ok(db) => Some(db),
                Err(e) => {
                    let note = format!(
                        "PostgreSQL skipped: {} is unreachable or refused ({e})",
                        settings.postgres_url
                    );
                    println!("{note}");
                    report.notes.push(note);
                    continue;
                }
            },
        };
        let version = match &database {
            Some(db) => format!("PostgreSQL {}", db.version),
            None => format!("SQLite {}", sqlite_version().await),
        };
        report.versions.push(version);
        bench_backend(
            settings,
            server_bin,
            backend,
            database.as_ref(),
            &mut report,
        )
        .await;
        // The server is stopped by now; `database` is dropped here.
    }
    report
}

// ---------------------------------------------------------------------------------------------
// One backend

async fn bench_backend(
    settings: &Settings,
    server_bin: &Path,
    backend: Backend,
    database: Option<&PgDatabase>,
    report: &mut Report,
) {
    let name = backend.name();
    let dir = std::env::temp_dir().join(format!(
        "logi-bench-{}-{}",
        std::process::id(),
        name.to_ascii_lowercase()
    ));
    let database_url = match database {
        Some(db) => db.url.clone(),
        None => format!("sqlite://{}", dir.join("bench.db").display()),
    };
    println!("\n== {name}: starting {}", server_bin.display());
    let mut server = Server::start(server_bin, &dir, &database_url);
    let target = Arc::new(Target::new(server.addr));
    server.wait_ready(&target).await;
    // Let the start-up work (migrations, key generation) settle before reading idle RSS.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let idle = rss_kib(server.pid).unwrap_or(0);
    report
        .rows
        .push(Row::rss_only(name, "idle RSS after start-up", idle));

    let fx = Arc::new(prepare(&target, None).await);
    // The same flows with ES256 ID tokens: RS256 (the default) costs an RSA signature each.
    let fx_es = Arc::new(prepare(&target, Some("ES256")).await);
    let n = settings.connections;
    let logins = settings.login_connections;

    // a) client_credentials
    let cc = run_scenario(
        &fx,
        &server,
        settings,
        vec![Group::stateless(Kind::ClientCredentials, n)],
    )
    .await;
    let cc_p99 = cc.groups[0].percentile(99.0);
    let mut cpu = vec![cc.cpu_per_request("client_credentials")];
    report.push(name, "client_credentials", &cc, 0);

    // b) refresh_token: one chain per connection, each request presents the latest token.
    let chains = obtain_tokens(&fx, n, "openid offline_access", "refresh_token").await;
    let rt = run_scenario(
        &fx,
        &server,
        settings,
        vec![Group::with(Kind::Refresh, chains)],
    )
    .await;
    report.push(name, "refresh_token (rotating, RS256 ID token)", &rt, 0);
    cpu.push(rt.cpu_per_request("refresh_token (RS256 ID token)"));
    let chains = obtain_tokens(&fx_es, n, "openid offline_access", "refresh_token").await;
    let rt = run_scenario(
        &fx_es,
        &server,
        settings,
        vec![Group::with(Kind::Refresh, chains)],
    )
    .await;
    report.push(name, "refresh_token (rotating, ES256 ID token)", &rt, 0);
    cpu.push(rt.cpu_per_request("refresh_token (ES256 ID token)"));

    // c) authorization-code flows with session and remembered consent, PKCE S256.
    let ac = run_scenario(
        &fx,
        &server,
        settings,
        vec![Group::stateless(Kind::AuthorizationCode, n)],
    )
    .await;
    report.push(name, "authorization_code flow (RS256 ID token)", &ac, 0);
    cpu.push(ac.cpu_per_request("authorization-code flow (RS256 ID token)"));
    let ac = run_scenario(
        &fx_es,
        &server,
        settings,
        vec![Group::stateless(Kind::AuthorizationCode, n)],
    )
    .await;
    report.push(name, "authorization_code flow (ES256 ID token)", &ac, 0);
    cpu.push(ac.cpu_per_request("authorization-code flow (ES256 ID token)"));

    // d) userinfo and e) introspect, with access tokens from fresh code flows.
    let tokens = obtain_tokens(&fx, n, "openid", "access_token").await;
    let ui = run_scenario(
        &fx,
        &server,
        settings,
        vec![Group::with(Kind::Userinfo, tokens.clone())],
    )
    .await;
    report.push(name, "userinfo", &ui, 0);
    cpu.push(ui.cpu_per_request("userinfo"));
    let is = run_scenario(
        &fx,
        &server,
        settings,
        vec![Group::with(Kind::Introspect, tokens)],
    )
    .await;
    report.push(name, "introspect", &is, 0);
    cpu.push(is.cpu_per_request("introspect"));

    // f) password logins, beside raw argon2 measured just before (the server idles meanwhile).
    let argon2_threads = argon2_threads();
    println!(
        "argon2: hashing in-process on {argon2_threads} threads for {ARGON2_SECONDS} s \
         (the server's parameters)"
    );
    let argon2_rate = tokio::task::spawn_blocking(move || {
        measure_argon2(argon2_threads, Duration::from_secs(ARGON2_SECONDS))
    })
    .await
    .expect("the argon2 measurement panicked");
    println!("  {argon2_rate:.1} hashes/s");
    report.rows.push(Row {
        backend: name.into(),
        scenario: format!("raw argon2 hashes, in-process ({argon2_threads} threads)"),
        load: Some((argon2_rate, None, None, None)),
        rss_kib: None,
    });
    let lg = run_scenario(
        &fx,
        &server,
        settings,
        vec![Group::stateless(Kind::Login, logins)],
    )
    .await;
    report.push(name, &format!("password login ({logins} conns)"), &lg, 0);
    cpu.push(lg.cpu_per_request("login"));
    let login_rate = lg.groups[0].rate();
    report.notes.push(format!(
        "{name}: logins {login_rate:.1}/s ÷ raw argon2 {argon2_rate:.1} hashes/s \
         ({argon2_threads} threads) = {:.0}% (target ≥ 80%)",
        100.0 * login_rate / argon2_rate
    ));

    // g) mixed: client_credentials while logins run.
    let mx = run_scenario(
        &fx,
        &server,
        settings,
        vec![
            Group::stateless(Kind::ClientCredentials, n),
            Group::stateless(Kind::Login, logins),
        ],
    )
    .await;
    report.push(name, "mixed: client_credentials", &mx, 0);
    report.push(
        name,
        &format!("mixed: password login ({logins} conns)"),
        &mx,
        1,
    );
    let mixed_p99 = mx.groups[0].percentile(99.0);
    report.notes.push(format!(
        "{name}: client_credentials p99 {} ms with logins vs {} ms without = {:.2}× (target ≤ 2×)",
        ms(mixed_p99),
        ms(cc_p99),
        mixed_p99 as f64 / cc_p99.max(1) as f64
    ));

    report.notes.push(format!(
        "{name}: server CPU per request (user+system, measured window): {}",
        cpu.join(", ")
    ));
    drop(server);
    println!("== {name}: done");
}

// ---------------------------------------------------------------------------------------------
// The server process

struct Server {
    child: Child,
    pid: u32,
    addr: SocketAddr,
    dir: PathBuf,
    log: PathBuf,
}

impl Server {
    fn start(bin: &Path, dir: &Path, database_url: &str) -> Server {
        let _ = std::fs::remove_dir_all(dir);
        std::fs::create_dir_all(dir)
            .unwrap_or_else(|e| panic!("cannot create {}: {e}", dir.display()));
        let port = free_port();
        let addr: SocketAddr = ([127, 0, 0, 1], port).into();
        let log = dir.join("server.log");
        let log_file = std::fs::File::create(&log)
            .unwrap_or_else(|e| panic!("cannot create {}: {e}", log.display()));
        let child = Command::new(bin)
            .arg("serve")
            .current_dir(dir)
            .env("LOGI_BIND", addr.to_string())
            .env("LOGI_ISSUER", format!("http://{addr}"))
            .env("LOGI_DATABASE_URL", database_url)
            .env("LOGI_DATA_DIR", dir)
            .env(
                "LOGI_MASTER_KEY",
                STANDARD.encode(logi::crypto::random_bytes(32)),
            )
            .env("LOGI_LOG", "warn")
            .env("LOGI_LOGIN_MAX_FAILURES_PER_IP", "1000000")
            .env("LOGI_KEY_ROTATION_PERIOD_SECONDS", "0")
            .env_remove("LOGI_CONFIG")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log_file)
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {}: {e}", bin.display()));
        Server {
            pid: child.id(),
            child,
            addr,
            dir: dir.to_path_buf(),
            log,
        }
    }

    fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Polls `GET /readyz`; panics (the guard stops the child) when the server dies or is late.
    async fn wait_ready(&mut self, target: &Target) {
        let start = Instant::now();
        loop {
            if let Ok(Some(status)) = self.child.try_wait() {
                panic!(
                    "logi exited during start-up ({status}); its log:\n{}",
                    self.log_text()
                );
            }
            let mut conn = Conn::new(target.addr);
            if let Ok(reply) = conn.send(bodyless(target.get("/readyz"))).await {
                if reply.status == StatusCode::OK {
                    println!("ready after {:.1} s", start.elapsed().as_secs_f64());
                    return;
                }
            }
            assert!(
                start.elapsed() < READY_TIMEOUT,
                "logi not ready after {READY_TIMEOUT:?}; its log:\n{}",
                self.log_text()
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let log = self.log_text();
        if !log.trim().is_empty() {
            println!("server log (warnings and errors):\n{}", tail(&log, 4000));
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("cannot find a free port on 127.0.0.1")
}

/// User + system CPU seconds of `pid` (`/proc/<pid>/stat`, fields 14 and 15, in clock ticks
/// of 1/100 s: USER_HZ is 100 on every Linux architecture this runs on).
fn cpu_seconds(pid: u32) -> Option<f64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name (field 2) may contain spaces: count fields after its closing parenthesis.
    let mut fields = stat.rsplit_once(')')?.1.split_whitespace().skip(11);
    let utime: u64 = fields.next()?.parse().ok()?;
    let stime: u64 = fields.next()?.parse().ok()?;
    Some((utime + stime) as f64 / 100.0)
}

/// `/proc/loadavg`'s 1, 5 and 15 minute load averages.
fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .ok()
        .map(|l| l.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_else(|| "unknown".into())
}

/// Resident set size of `pid` in KiB (`VmRSS` of `/proc/<pid>/status`).
fn rss_kib(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
}

// ---------------------------------------------------------------------------------------------
// Databases

/// A fresh PostgreSQL database, dropped (with its connections) when this guard goes.
struct PgDatabase {
    admin_url: String,
    name: String,
    url: String,
    version: String,
}

impl PgDatabase {
    async fn create(admin_url: &str) -> Result<PgDatabase, String> {
        let mut conn = tokio::time::timeout(
            Duration::from_secs(5),
            sqlx::AnyConnection::connect(admin_url),
        )
        .await
        .map_err(|_| "connection timed out".to_string())?
        .map_err(|e| e.to_string())?;
        let version: String = sqlx::query_scalar("SHOW server_version")
            .fetch_one(&mut conn)
            .await
            .map_err(|e| format!("SHOW server_version: {e}"))?;
        let name = format!("logi_bench_{}", std::process::id());
        for sql in [
            format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"),
            format!("CREATE DATABASE {name}"),
        ] {
            sqlx::query(&sql)
                .execute(&mut conn)
                .await
                .map_err(|e| format!("{sql}: {e}"))?;
        }
        let _ = conn.close().await;
        Ok(PgDatabase {
            admin_url: admin_url.to_string(),
            url: with_database(admin_url, &name),
            name,
            version,
        })
    }
}

impl Drop for PgDatabase {
    fn drop(&mut self) {
        let admin = self.admin_url.clone();
        let sql = format!("DROP DATABASE IF EXISTS {} WITH (FORCE)", self.name);
        // Drop runs inside the generator's runtime: use a thread with a runtime of its own.
        let dropped = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .map_err(|e| e.to_string())?;
            rt.block_on(async move {
                let mut conn = sqlx::AnyConnection::connect(&admin)
                    .await
                    .map_err(|e| e.to_string())?;
                sqlx::query(&sql)
                    .execute(&mut conn)
                    .await
                    .map_err(|e| e.to_string())?;
                Ok::<(), String>(())
            })
        })
        .join();
        match dropped {
            Ok(Ok(())) => {}
            Ok(Err(e)) => eprintln!("could not drop database {}: {e}", self.name),
            Err(_) => eprintln!("could not drop database {}: thread panicked", self.name),
        }
    }
}

/// `postgres://host/db?x` → `postgres://host/{name}?x`.
fn with_database(url: &str, name: &str) -> String {
    let (head, query) = url
        .split_once('?')
        .map(|(h, q)| (h, format!("?{q}")))
        .unwrap_or((url, String::new()));
    let base = match head.rsplit_once('/') {
        Some((b, _)) if b.contains("//") && !b.ends_with('/') => b.to_string(),
        _ => head.trim_end_matches('/').to_string(),
    };
    format!("{base}/{name}{query}")
}

/// The SQLite library version linked by sqlx, which is the one the server uses.
async fn sqlite_version() -> String {
    let version = async {
        let mut conn = sqlx::AnyConnection::connect("sqlite::memory:").await?;
        sqlx::query_scalar::<_, String>("SELECT sqlite_version()")
            .fetch_one(&mut conn)
            .await
    };
    version.await.unwrap_or_else(|e| format!("(unknown: {e})"))
}

// ---------------------------------------------------------------------------------------------
// HTTP client: one keep-alive HTTP/1.1 connection per worker

struct Target {
    addr: SocketAddr,
    host: String,
}

impl Target {
    fn new(addr: SocketAddr) -> Target {
        Target {
            addr,
            host: addr.to_string(),
        }
    }

    fn request(&self, method: Method, path: &str) -> Builder {
        Request::builder()
            .method(method)
            .uri(path)
            .header(header::HOST, &self.host)
    }

    fn get(&self, path: &str) -> Builder {
        self.request(Method::GET, path)
    }

    fn post(&self, path: &str) -> Builder {
        self.request(Method::POST, path)
    }
}

type Body = Full<Bytes>;

fn empty() -> Body {
    Full::new(Bytes::new())
}

/// Sets a form body on `builder`.
fn form(builder: Builder, pairs: &[(&str, &str)]) -> Request<Body> {
    let body = form_urlencoded::Serializer::new(String::new())
        .extend_pairs(pairs)
        .finish();
    builder
        .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
        .body(Full::new(Bytes::from(body)))
        .expect("a valid form request")
}

/// Sets a JSON body on `builder`.
fn json_body(builder: Builder, value: &Value) -> Request<Body> {
    builder
        .header(header::CONTENT_TYPE, "application/json")
        .body(Full::new(Bytes::from(value.to_string())))
        .expect("a valid JSON request")
}

/// Finishes `builder` without a body.
fn bodyless(builder: Builder) -> Request<Body> {
    builder.body(empty()).expect("a valid request")
}

struct Reply {
    status: StatusCode,
    headers: HeaderMap,
    body: Bytes,
}

impl Reply {
    /// `Ok(self)` when the status is `expected`, else a description for the error report.
    fn expect(self, expected: StatusCode, what: &str) -> Result<Reply, String> {
        if self.status == expected {
            Ok(self)
        } else {
            Err(format!(
                "{what}: status {} (expected {expected}), body: {}",
                self.status,
                tail(&String::from_utf8_lossy(&self.body), 300)
            ))
        }
    }

    fn json(&self, what: &str) -> Result<Value, String> {
        serde_json::from_slice(&self.body).map_err(|e| format!("{what}: not JSON ({e})"))
    }

    fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    /// `name=value` of the `Set-Cookie` for `name`.
    fn cookie(&self, name: &str) -> Option<String> {
        let prefix = format!("{name}=");
        self.headers
            .get_all(header::SET_COOKIE)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .filter_map(|v| v.split(';').next())
            .find(|pair| pair.starts_with(&prefix))
            .map(String::from)
    }

    /// The query parameter `name` of the `Location` header.
    fn location_param(&self, name: &str) -> Option<String> {
        let location = self.headers.get(header::LOCATION)?.to_str().ok()?;
        let url = url::Url::parse(location).ok()?;
        url.query_pairs()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.into_owned())
    }
}

struct Conn {
    addr: SocketAddr,
    sender: Option<http1::SendRequest<Body>>,
}

impl Conn {
    fn new(addr: SocketAddr) -> Conn {
        Conn { addr, sender: None }
    }

    async fn connect(addr: SocketAddr) -> Result<http1::SendRequest<Body>, String> {
        let stream = tokio::net::TcpStream::connect(addr)
            .await
            .map_err(|e| format!("connect {addr}: {e}"))?;
        stream
            .set_nodelay(true)
            .map_err(|e| format!("TCP_NODELAY: {e}"))?;
        let (sender, connection) = http1::handshake(TokioIo::new(stream))
            .await
            .map_err(|e| format!("HTTP handshake: {e}"))?;
        tokio::spawn(async move {
            // Ends when the sender is dropped or the server closes the connection.
            let _ = connection.await;
        });
        Ok(sender)
    }

    /// Sends `request` on the kept-alive connection (reconnecting when the server closed it)
    /// and reads the whole response, within `REQUEST_TIMEOUT`.
    async fn send(&mut self, request: Request<Body>) -> Result<Reply, String> {
        if self.sender.as_ref().is_some_and(|s| s.is_closed()) {
            self.sender = None;
        }
        let addr = self.addr;
        let slot = &mut self.sender;
        let exchange = async move {
            let sender = match slot {
                Some(sender) => sender,
                None => slot.insert(Self::connect(addr).await?),
            };
            sender
                .ready()
                .await
                .map_err(|e| format!("connection: {e}"))?;
            let response = sender
                .send_request(request)
                .await
                .map_err(|e| format!("request: {e}"))?;
            let (parts, body) = response.into_parts();
            let body = body
                .collect()
                .await
                .map_err(|e| format!("response body: {e}"))?
                .to_bytes();
            Ok::<Reply, String>(Reply {
                status: parts.status,
                headers: parts.headers,
                body,
            })
        };
        let result = tokio::time::timeout(REQUEST_TIMEOUT, exchange)
            .await
            .unwrap_or_else(|_| Err(format!("no response within {REQUEST_TIMEOUT:?}")));
        if result.is_err() {
            self.sender = None;
        }
        result
    }
}

// ---------------------------------------------------------------------------------------------
// Data preparation over HTTP

/// What every scenario needs: a signed-in browser, a confidential client, the login form's CSRF.
struct Fixture {
    target: Arc<Target>,
    email: String,
    client_id: String,
    basic: String,
    session_cookie: String,
    csrf_cookie: String,
    csrf_token: String,
}

impl Fixture {
    /// The `Cookie` header of the signed-in browser.
    fn browser_cookies(&self) -> String {
        format!("{}; {}", self.session_cookie, self.csrf_cookie)
    }
}

/// Signs up a user and registers an application whose ID tokens use `id_token_alg` (the
/// server's default, RS256, when `None`).
async fn prepare(target: &Arc<Target>, id_token_alg: Option<&str>) -> Fixture {
    let mut conn = Conn::new(target.addr);
    let email = format!(
        "bench-{}-{}@example.com",
        std::process::id(),
        id_token_alg.unwrap_or("default").to_ascii_lowercase()
    );

    // The end user (also the developer): sign-up page, then the form with its CSRF pair.
    let page = conn
        .send(bodyless(target.get("/signup")))
        .await
        .and_then(|r| r.expect(StatusCode::OK, "GET /signup"))
        .expect("sign-up page");
    let csrf_cookie = page
        .cookie("logi_csrf")
        .expect("GET /signup sets the logi_csrf cookie");
    let csrf_token =
        form_value(&page.text(), "csrf_token").expect("the sign-up form has a csrf_token");
    let signed_up = conn
        .send(form(
            target
                .post("/signup")
                .header(header::COOKIE, csrf_cookie.as_str()),
            &[
                ("email", email.as_str()),
                ("password", PASSWORD),
                ("name", "Bench User"),
                ("csrf_token", csrf_token.as_str()),
            ],
        ))
        .await
        .and_then(|r| r.expect(StatusCode::SEE_OTHER, "POST /signup"))
        .expect("sign-up");
    let session_cookie = signed_up
        .cookie("logi_session")
        .expect("sign-up sets the logi_session cookie");

    // A developer token and a confidential application.
    let minted = conn
        .send(json_body(
            target.post("/developer/tokens"),
            &json!({ "email": email, "password": PASSWORD, "name": "bench" }),
        ))
        .await
        .and_then(|r| r.expect(StatusCode::CREATED, "POST /developer/tokens"))
        .and_then(|r| r.json("developer token"))
        .expect("developer token");
    let dev_token = minted["token"]
        .as_str()
        .expect("the developer token response has a token");
    let mut metadata = json!({
        "client_name": "Bench RP",
        "client_type": "confidential",
        "redirect_uris": [REDIRECT_URI],
        "grant_types": ["authorization_code", "refresh_token", "client_credentials"],
        "scope": APP_SCOPE,
    });
    if let Some(alg) = id_token_alg {
        metadata["id_token_signed_response_alg"] = json!(alg);
    }
    let app = conn
        .send(json_body(
            target
                .post("/developer/applications")
                .header(header::AUTHORIZATION, format!("Bearer {dev_token}")),
            &metadata,
        ))
        .await
        .and_then(|r| r.expect(StatusCode::CREATED, "POST /developer/applications"))
        .and_then(|r| r.json("application"))
        .expect("application registration");
    let client_id = app["client_id"]
        .as_str()
        .expect("the registration has a client_id")
        .to_string();
    let client_secret = app["client_secret"]
        .as_str()
        .expect("a confidential registration has a client_secret");
    let basic = format!(
        "Basic {}",
        STANDARD.encode(format!(
            "{}:{}",
            urlencode(&client_id),
            urlencode(client_secret)
        ))
    );

    let fx = Fixture {
        target: target.clone(),
        email,
        client_id,
        basic,
        session_cookie,
        csrf_cookie,
        csrf_token,
    };
    // Consent is remembered per scope set: give it once for each set the scenarios use.
    for scope in ["openid", "openid offline_access"] {
        give_consent(&mut conn, &fx, scope).await;
    }
    println!("prepared: user, developer token, application, session, consent");
    fx
}

fn urlencode(s: &str) -> String {
    form_urlencoded::byte_serialize(s.as_bytes()).collect()
}

/// authorize → consent page → allow; checks the redirect carries a code.
async fn give_consent(conn: &mut Conn, fx: &Fixture, scope: &str) {
    let (_, challenge) = pkce_pair();
    let page = conn
        .send(authorize_request(fx, scope, &challenge))
        .await
        .and_then(|r| r.expect(StatusCode::OK, "GET /oauth/authorize (consent page)"))
        .expect("the first authorization shows the consent page");
    let html = page.text();
    let csrf = form_value(&html, "csrf_token").expect("the consent form has a csrf_token");
    let request_id = form_value(&html, "request_id").expect("the consent form has a request_id");
    let mut cookies = fx.browser_cookies();
    if let Some(fresh) = page.cookie("logi_csrf") {
        cookies = format!("{}; {fresh}", fx.session_cookie);
    }
    let allowed = conn
        .send(form(
            fx.target
                .post("/oauth/consent")
                .header(header::COOKIE, cookies),
            &[
                ("csrf_token", csrf.as_str()),
                ("request_id", request_id.as_str()),
                ("decision", "allow"),
            ],
        ))
        .await
        .and_then(|r| r.expect(StatusCode::SEE_OTHER, "POST /oauth/consent"))
        .expect("consent");
    assert!(
        allowed.location_param("code").is_some(),
        "consent for {scope:?} did not redirect with a code"
    );
}

/// `count` tokens (`field` of the token response) from as many code flows with `scope`.
async fn obtain_tokens(fx: &Arc<Fixture>, count: usize, scope: &str, field: &str) -> Vec<String> {
    let mut conn = Conn::new(fx.target.addr);
    let mut tokens = Vec::with_capacity(count);
    for _ in 0..count {
        let response = code_flow(&mut conn, fx, scope)
            .await
            .unwrap_or_else(|e| panic!("code flow for {scope:?}: {e}"));
        let token = response[field]
            .as_str()
            .unwrap_or_else(|| panic!("the token response for {scope:?} has no {field}"));
        tokens.push(token.to_string());
    }
    tokens
}

fn pkce_pair() -> (String, String) {
    let verifier = logi::crypto::random_token(32);
    let challenge = URL_SAFE_NO_PAD.encode(sha2::Sha256::digest(verifier.as_bytes()));
    (verifier, challenge)
}

fn authorize_request(fx: &Fixture, scope: &str, challenge: &str) -> Request<Body> {
    let query = form_urlencoded::Serializer::new(String::new())
        .extend_pairs([
            ("response_type", "code"),
            ("client_id", fx.client_id.as_str()),
            ("redirect_uri", REDIRECT_URI),
            ("scope", scope),
            ("state", "bench"),
            ("code_challenge", challenge),
            ("code_challenge_method", "S256"),
        ])
        .finish();
    bodyless(
        fx.target
            .get(&format!("/oauth/authorize?{query}"))
            .header(header::COOKIE, fx.browser_cookies()),
    )
}

/// One full flow: authorize (session + remembered consent → 303 with a code) → token.
async fn code_flow(conn: &mut Conn, fx: &Fixture, scope: &str) -> Result<Value, String> {
    let (verifier, challenge) = pkce_pair();
    let redirect = conn
        .send(authorize_request(fx, scope, &challenge))
        .await?
        .expect(StatusCode::SEE_OTHER, "GET /oauth/authorize")?;
    if redirect.location_param("state").as_deref() != Some("bench") {
        return Err("authorize redirect without our state".into());
    }
    let code = redirect
        .location_param("code")
        .ok_or("authorize redirect without a code")?;
    conn.send(form(
        fx.target
            .post("/oauth/token")
            .header(header::AUTHORIZATION, fx.basic.as_str()),
        &[
            ("grant_type", "authorization_code"),
            ("code", code.as_str()),
            ("redirect_uri", REDIRECT_URI),
            ("code_verifier", verifier.as_str()),
        ],
    ))
    .await?
    .expect(StatusCode::OK, "POST /oauth/token (authorization_code)")?
    .json("token response")
}

/// The `value` of the form input named `name` in an HTML page (as in tests/common).
fn form_value(html: &str, name: &str) -> Option<String> {
    let marker = format!("name=\"{name}\" value=\"");
    let start = html.find(&marker)? + marker.len();
    let end = html[start..].find('"')? + start;
    Some(
        html[start..end]
            .replace("&amp;", "&")
            .replace("&#x2f;", "/")
            .replace("&#x3d;", "="),
    )
}

// ---------------------------------------------------------------------------------------------
// Scenarios

#[derive(Clone, Copy, Debug)]
enum Kind {
    ClientCredentials,
    Refresh,
    AuthorizationCode,
    Userinfo,
    Introspect,
    Login,
}

/// A set of connections running one kind of request; `tokens` holds each connection's token
/// (refresh chain or access token), empty for the stateless kinds.
struct Group {
    kind: Kind,
    connections: usize,
    tokens: Vec<String>,
}

impl Group {
    fn stateless(kind: Kind, connections: usize) -> Group {
        Group {
            kind,
            connections,
            tokens: Vec::new(),
        }
    }

    fn with(kind: Kind, tokens: Vec<String>) -> Group {
        Group {
            kind,
            connections: tokens.len(),
            tokens,
        }
    }
}

/// One request (one full flow for `AuthorizationCode`); `token` is the connection's token.
async fn step(kind: Kind, conn: &mut Conn, fx: &Fixture, token: &mut String) -> Result<(), String> {
    let target = &fx.target;
    match kind {
        Kind::ClientCredentials => {
            conn.send(form(
                target
                    .post("/oauth/token")
                    .header(header::AUTHORIZATION, fx.basic.as_str()),
                &[("grant_type", "client_credentials")],
            ))
            .await?
            .expect(StatusCode::OK, "client_credentials")?;
        }
        Kind::Refresh => {
            let reply = conn
                .send(form(
                    target
                        .post("/oauth/token")
                        .header(header::AUTHORIZATION, fx.basic.as_str()),
                    &[
                        ("grant_type", "refresh_token"),
                        ("refresh_token", token.as_str()),
                    ],
                ))
                .await?
                .expect(StatusCode::OK, "refresh_token")?;
            let body = reply.json("refresh_token response")?;
            *token = body["refresh_token"]
                .as_str()
                .ok_or("refresh_token response without a new refresh_token")?
                .to_string();
        }
        Kind::AuthorizationCode => {
            code_flow(conn, fx, "openid").await?;
        }
        Kind::Userinfo => {
            conn.send(bodyless(
                target
                    .get("/oauth/userinfo")
                    .header(header::AUTHORIZATION, format!("Bearer {token}")),
            ))
            .await?
            .expect(StatusCode::OK, "userinfo")?;
        }
        Kind::Introspect => {
            let reply = conn
                .send(form(
                    target
                        .post("/oauth/introspect")
                        .header(header::AUTHORIZATION, fx.basic.as_str()),
                    &[("token", token.as_str())],
                ))
                .await?
                .expect(StatusCode::OK, "introspect")?;
            if reply.json("introspection")?["active"] != Value::Bool(true) {
                return Err(format!(
                    "introspect: token not active: {}",
                    tail(&reply.text(), 300)
                ));
            }
        }
        Kind::Login => {
            conn.send(form(
                target
                    .post("/login")
                    .header(header::COOKIE, fx.csrf_cookie.as_str()),
                &[
                    ("email", fx.email.as_str()),
                    ("password", PASSWORD),
                    ("csrf_token", fx.csrf_token.as_str()),
                ],
            ))
            .await?
            .expect(StatusCode::SEE_OTHER, "login")?;
        }
    }
    Ok(())
}

/// What one group measured.
struct GroupResult {
    /// Successful requests that started after the warm-up, latencies in µs, sorted.
    latencies_us: Vec<u64>,
    /// Failures over the whole run, warm-up included.
    errors: u64,
    first_error: Option<String>,
    seconds: f64,
}

impl GroupResult {
    fn rate(&self) -> f64 {
        self.latencies_us.len() as f64 / self.seconds
    }

    fn percentile(&self, p: f64) -> u64 {
        if self.latencies_us.is_empty() {
            return 0;
        }
        let rank = (p / 100.0 * (self.latencies_us.len() - 1) as f64).round() as usize;
        self.latencies_us[rank.min(self.latencies_us.len() - 1)]
    }
}

struct ScenarioResult {
    groups: Vec<GroupResult>,
    peak_rss_kib: u64,
    /// Server CPU seconds (user + system) from the end of the warm-up to the end of the run.
    server_cpu_seconds: f64,
}

impl ScenarioResult {
    /// `label X.XX ms`: server CPU time per successful request in the measured window.
    fn cpu_per_request(&self, label: &str) -> String {
        let requests: usize = self.groups.iter().map(|g| g.latencies_us.len()).sum();
        format!(
            "{label} {:.3} ms",
            1000.0 * self.server_cpu_seconds / requests.max(1) as f64
        )
    }
}

struct WorkerResult {
    latencies_us: Vec<u64>,
    errors: u64,
    first_error: Option<String>,
}

async fn run_scenario(
    fx: &Arc<Fixture>,
    server: &Server,
    settings: &Settings,
    groups: Vec<Group>,
) -> ScenarioResult {
    let label: Vec<String> = groups
        .iter()
        .map(|g| format!("{:?}×{}", g.kind, g.connections))
        .collect();
    println!("running {} ...", label.join(" + "));
    let start = Instant::now();
    let measured_from = start + WARM_UP;
    let end = measured_from + settings.measure;

    let stop_sampling = Arc::new(AtomicBool::new(false));
    let sampler = {
        let stop = stop_sampling.clone();
        let pid = server.pid;
        tokio::spawn(async move {
            let mut peak = 0;
            let mut cpu_from = None;
            let mut tick = tokio::time::interval(Duration::from_millis(100));
            while !stop.load(Ordering::Relaxed) {
                tick.tick().await;
                peak = peak.max(rss_kib(pid).unwrap_or(0));
                if cpu_from.is_none() && Instant::now() >= measured_from {
                    cpu_from = cpu_seconds(pid);
                }
            }
            let cpu = match (cpu_from, cpu_seconds(pid)) {
                (Some(from), Some(to)) => to - from,
                _ => 0.0,
            };
            (peak, cpu)
        })
    };

    let mut handles = Vec::new();
    for group in &groups {
        let mut workers = Vec::with_capacity(group.connections);
        for i in 0..group.connections {
            let fx = fx.clone();
            let kind = group.kind;
            let mut token = group.tokens.get(i).cloned().unwrap_or_default();
            workers.push(tokio::spawn(async move {
                let mut conn = Conn::new(fx.target.addr);
                let mut out = WorkerResult {
                    latencies_us: Vec::with_capacity(4096),
                    errors: 0,
                    first_error: None,
                };
                loop {
                    let began = Instant::now();
                    if began >= end {
                        break;
                    }
                    let result = step(kind, &mut conn, &fx, &mut token).await;
                    match result {
                        Ok(()) if began >= measured_from => {
                            out.latencies_us.push(began.elapsed().as_micros() as u64)
                        }
                        Ok(()) => {}
                        Err(e) => {
                            out.errors += 1;
                            out.first_error.get_or_insert(e);
                        }
                    }
                }
                out
            }));
        }
        handles.push(workers);
    }

    let mut results = Vec::new();
    for workers in handles {
        let mut merged = GroupResult {
            latencies_us: Vec::new(),
            errors: 0,
            first_error: None,
            seconds: settings.measure.as_secs_f64(),
        };
        for worker in workers {
            let w = worker.await.expect("a load worker panicked");
            merged.latencies_us.extend(w.latencies_us);
            merged.errors += w.errors;
            if merged.first_error.is_none() {
                merged.first_error = w.first_error;
            }
        }
        merged.latencies_us.sort_unstable();
        results.push(merged);
    }
    stop_sampling.store(true, Ordering::Relaxed);
    let (peak_rss_kib, server_cpu_seconds) = sampler.await.expect("the RSS sampler panicked");
    for (name, g) in label.iter().zip(&results) {
        println!(
            "  {name}: {:.1} req/s, p50 {} ms, p99 {} ms, {} errors",
            g.rate(),
            ms(g.percentile(50.0)),
            ms(g.percentile(99.0)),
            g.errors
        );
        if let Some(e) = &g.first_error {
            println!("  first failure: {e}");
        }
    }
    ScenarioResult {
        groups: results,
        peak_rss_kib,
        server_cpu_seconds,
    }
}

// ---------------------------------------------------------------------------------------------
// Report

/// (req/s, p50 µs, p99 µs, errors): the parts a row may leave empty are `None`.
type Load = (f64, Option<u64>, Option<u64>, Option<u64>);

struct Row {
    backend: String,
    scenario: String,
    load: Option<Load>,
    rss_kib: Option<u64>,
}

impl Row {
    fn rss_only(backend: &str, scenario: &str, rss_kib: u64) -> Row {
        Row {
            backend: backend.into(),
            scenario: scenario.into(),
            load: None,
            rss_kib: Some(rss_kib),
        }
    }
}

struct Report {
    rows: Vec<Row>,
    notes: Vec<String>,
    versions: Vec<String>,
    /// `/proc/loadavg` before the run: other work on the machine skews every number.
    load_before: String,
}

impl Report {
    fn push(&mut self, backend: &str, scenario: &str, result: &ScenarioResult, group: usize) {
        let g = &result.groups[group];
        self.rows.push(Row {
            backend: backend.into(),
            scenario: scenario.into(),
            load: Some((
                g.rate(),
                Some(g.percentile(50.0)),
                Some(g.percentile(99.0)),
                Some(g.errors),
            )),
            rss_kib: Some(result.peak_rss_kib),
        });
        if let Some(e) = &g.first_error {
            self.notes
                .push(format!("{backend} / {scenario}: first failure: {e}"));
        }
    }

    fn markdown(&self, settings: &Settings) -> String {
        let mut out = String::new();
        out.push_str(&format!(
            "Load benchmark of {} on {}: {}; {} connections ({} for logins), {} s measured per \
             scenario after 1 s warm-up, generator on {} thread(s), load average before the \
             run {}. Produced by `cargo bench --bench load`.\n\n",
            logi_revision(),
            utc_now(),
            if self.versions.is_empty() {
                "no backend".to_string()
            } else {
                self.versions.join(", ")
            },
            settings.connections,
            settings.login_connections,
            settings.measure.as_secs(),
            settings.client_threads,
            self.load_before,
        ));
        out.push_str("| backend | scenario | req/s | p50 ms | p99 ms | errors | peak RSS MiB |\n");
        out.push_str("|---|---|---:|---:|---:|---:|---:|\n");
        let dash = || "–".to_string();
        for row in &self.rows {
            let (rate, p50, p99, errors) = match row.load {
                Some((rate, p50, p99, errors)) => (
                    if rate >= 100.0 {
                        format!("{rate:.0}")
                    } else {
                        format!("{rate:.1}")
                    },
                    p50.map(ms).unwrap_or_else(dash),
                    p99.map(ms).unwrap_or_else(dash),
                    errors.map(|e| e.to_string()).unwrap_or_else(dash),
                ),
                None => (dash(), dash(), dash(), dash()),
            };
            let rss = row
                .rss_kib
                .map(|kib| format!("{:.1}", kib as f64 / 1024.0))
                .unwrap_or_else(dash);
            out.push_str(&format!(
                "| {} | {} | {rate} | {p50} | {p99} | {errors} | {rss} |\n",
                row.backend, row.scenario
            ));
        }
        out.push_str(&format!(
            "\nRaw argon2 rows: argon2id with the server's parameters (m = {} KiB, t = {}, p = {}) \
             hashed in the benchmark process while the server idles; req/s is hashes/s.\n",
            logi::accounts::passwords::MEMORY_KIB,
            logi::accounts::passwords::ITERATIONS,
            logi::accounts::passwords::PARALLELISM,
        ));
        if !self.notes.is_empty() {
            out.push('\n');
            for note in &self.notes {
                out.push_str(&format!("- {note}\n"));
            }
        }
        out
    }
}

/// Milliseconds with two decimals from microseconds.
fn ms(us: u64) -> String {
    format!("{:.2}", us as f64 / 1000.0)
}

/// The last `max` bytes of `s` (on a character boundary).
fn tail(s: &str, max: usize) -> &str {
    let mut start = s.len().saturating_sub(max);
    while !s.is_char_boundary(start) {
        start += 1;
    }
    &s[start..]
}

fn logi_revision() -> String {
    let described = Command::new("git")
        .args(["describe", "--always", "--dirty"])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .ok()
        .filter(|o| o.status.success())
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string());
    match described {
        Some(rev) if !rev.is_empty() => format!("logi {} ({rev})", env!("CARGO_PKG_VERSION")),
        _ => format!("logi {}", env!("CARGO_PKG_VERSION")),
    }
}

/// `YYYY-MM-DD HH:MM UTC` without a date crate (civil-from-days, H. Hinnant).
fn utc_now() -> String {
    let secs = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    let (days, rem) = ((secs / 86_400) as i64, secs % 86_400);
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02} {:02}:{:02} UTC",
        rem / 3600,
        rem % 3600 / 60
    )
}
