//! Load benchmark: `cargo bench --bench load`.
//!
//! Builds the release server, measures raw argon2 hashes/s in-process, then for SQLite and
//! PostgreSQL starts `logi serve` as a child process on a free loopback port with a fresh
//! database, prepares an end user, a developer token, a confidential application, a browser
//! session with remembered consent and refresh-token chains over HTTP, and drives every scenario
//! with keep-alive HTTP/1.1 connections for a fixed time (after a 1 s warm-up that is not
//! counted). The Markdown table is printed and written to `docs/performance-results.md`.
//!
//! In the same run: raw RS256 and ES256 signatures per second on one core (aws-lc-rs, in this
//! process, before any server starts), and the peer, node-oidc-provider (`benches/oidc-provider/`,
//! see `peer.rs`), on the same `client_credentials`, refresh and code-flow scenarios with the
//! same connections and times, with logi ÷ peer ratios in the notes. Without `node` (or `npm`,
//! when `benches/oidc-provider/node_modules` is missing) the peer is skipped with a note.
//!
//! Environment (all optional):
//! - `LOGI_BENCH_SECONDS` (6): measured seconds per scenario.
//! - `LOGI_BENCH_CONNECTIONS` (64): connections for the token, userinfo and introspect scenarios.
//! - `LOGI_BENCH_LOGIN_CONNECTIONS` (8): connections doing password logins.
//! - `LOGI_BENCH_CLIENT_THREADS` (1): threads of the load generator (it shares the CPUs with the
//!   server, so one thread leaves the most for the server).
//! - `LOGI_BENCH_BACKENDS` (`sqlite,postgres`): the servers measured; `none` starts no server
//!   (and builds none): with `LOGI_BENCH_PEER=0` only the in-process rows are measured.
//! - `LOGI_BENCH_PEER` (1): 0 leaves node-oidc-provider out.
//! - `LOGI_BENCH_DRIVERS` (1): 0 leaves out the in-process comparison of sqlx's `Any` driver
//!   with the native `SqlitePool` / `PgPool` on logi's hot queries (refresh read, rotation,
//!   grant user read; see `drivers.rs`), run right after the raw signatures, before any server.
//! - `LOGI_BENCH_DRIVERS_BACKENDS` (the `LOGI_BENCH_BACKENDS` list; `sqlite,postgres` when that
//!   is `none`): the backends of that comparison. A quick run of it alone:
//!   `LOGI_BENCH_BACKENDS=none LOGI_BENCH_PEER=0 cargo bench --bench load`.
//! - (not a setting) refresh and authorization-code flows run twice: with the default RS256 ID
//!   tokens and with an application registered for ES256 ID tokens (an RSA signature dominates
//!   those requests).
//! - `LOGI_BENCH_POSTGRES_URL` (`postgres://postgres@127.0.0.1:5432/postgres`): an administrative
//!   connection on which `logi_bench_<pid>` (and `logi_bench_drivers_<pid>` for the drivers part)
//!   is created and finally dropped. When PostgreSQL is unreachable that backend is skipped with
//!   a note.

// A benchmark measures wall time and waits for servers: the clock rule of `clippy.toml` is for
// the server.
#![allow(clippy::disallowed_methods)]

mod drivers;
mod fixture;
#[path = "../../tests/support/helpers.rs"]
mod helpers;
mod http;
mod peer;
mod report;
mod scenarios;
mod server;

use std::{
    path::Path,
    sync::Arc,
    time::{Duration, Instant},
};

use argon2::password_hash::{PasswordHasher, SaltString};

use fixture::{obtain_tokens, prepare, PASSWORD};
use http::Target;
use peer::{PeerKind, PeerServer, PEER_WORKERS};
use report::{ms, Report, Row};
use scenarios::{run_scenario, Group, Kind, Observed};
use server::{build_server, load_average, rss_kib, sqlite_version, PgDatabase, Server};

/// Raw argon2 is measured with as many threads as the server hashes on (one fewer than the
/// cores): the comparison is at the same parallelism.
fn argon2_threads() -> usize {
    logi::accounts::passwords::PasswordHasherPool::default_threads()
}
const ARGON2_SECONDS: u64 = 3;
const SIGNATURE_SECONDS: u64 = 2;
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
    /// The servers measured; empty for `LOGI_BENCH_BACKENDS=none`.
    backends: Vec<Backend>,
    postgres_url: String,
    peer: bool,
    /// `LOGI_BENCH_DRIVERS`: whether `drivers.rs` runs.
    drivers: bool,
    /// The backends of `drivers.rs` (`LOGI_BENCH_DRIVERS_BACKENDS`).
    driver_backends: Vec<Backend>,
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

/// A comma-separated list of backends from `name`, or `None` when `name` is unset; `none` is
/// the empty list.
fn env_backends(name: &str) -> Option<Vec<Backend>> {
    let list = std::env::var(name).ok()?;
    if list.trim().eq_ignore_ascii_case("none") {
        return Some(Vec::new());
    }
    Some(
        list.split(',')
            .map(|b| match b.trim().to_ascii_lowercase().as_str() {
                "sqlite" => Backend::Sqlite,
                "postgres" | "postgresql" => Backend::Postgres,
                other => panic!("{name}: unknown backend {other:?}"),
            })
            .collect(),
    )
}

fn env_flag(name: &str) -> bool {
    match std::env::var(name).as_deref().map(str::trim) {
        Err(_) | Ok("1") => true,
        Ok("0") => false,
        Ok(other) => panic!("{name} must be 0 or 1, got {other:?}"),
    }
}

impl Settings {
    fn from_env() -> Settings {
        let both = vec![Backend::Sqlite, Backend::Postgres];
        let backends = env_backends("LOGI_BENCH_BACKENDS").unwrap_or_else(|| both.clone());
        let driver_backends = env_backends("LOGI_BENCH_DRIVERS_BACKENDS").unwrap_or_else(|| {
            if backends.is_empty() {
                both
            } else {
                backends.clone()
            }
        });
        Settings {
            measure: Duration::from_secs(env_number("LOGI_BENCH_SECONDS", 6)),
            connections: env_number("LOGI_BENCH_CONNECTIONS", 64) as usize,
            login_connections: env_number("LOGI_BENCH_LOGIN_CONNECTIONS", 8) as usize,
            client_threads: env_number("LOGI_BENCH_CLIENT_THREADS", 1) as usize,
            backends,
            postgres_url: std::env::var("LOGI_BENCH_POSTGRES_URL")
                .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".into()),
            peer: env_flag("LOGI_BENCH_PEER"),
            drivers: env_flag("LOGI_BENCH_DRIVERS"),
            driver_backends,
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Entry point

fn main() {
    let settings = Settings::from_env();
    // No server to start: nothing to build.
    let server_bin = (!settings.backends.is_empty()).then(build_server);
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

    let mut report = runtime.block_on(run_all(&settings, server_bin.as_deref()));
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

/// The scenarios measured on logi and on the peer alike (their row labels).
const CLIENT_CREDENTIALS: &str = "client_credentials";
const REFRESH_RS256: &str = "refresh_token (rotating, RS256 ID token)";
const CODE_FLOW_RS256: &str = "authorization_code flow (RS256 ID token)";
const REFRESH_ES256: &str = "refresh_token (rotating, ES256 ID token)";
const CODE_FLOW_ES256: &str = "authorization_code flow (ES256 ID token)";

#[derive(Clone, Copy, Debug)]
enum SignatureAlg {
    Rs256,
    Es256,
}

/// Raw signatures per second on one thread with aws-lc-rs, signing a JWS-sized input with a
/// fresh key (RSA-2048 PKCS#1 v1.5 SHA-256 or ECDSA P-256 SHA-256, as logi's keys).
fn measure_signatures(alg: SignatureAlg, duration: Duration) -> f64 {
    use aws_lc_rs::{
        rand::SystemRandom,
        rsa::KeySize,
        signature::{EcdsaKeyPair, RsaKeyPair, ECDSA_P256_SHA256_FIXED_SIGNING, RSA_PKCS1_SHA256},
    };
    let rng = SystemRandom::new();
    // About the size of an ID token's header and claims, base64url-encoded.
    let message = [b'e'; 400];
    let mut signatures = 0u64;
    match alg {
        SignatureAlg::Rs256 => {
            let key = RsaKeyPair::generate(KeySize::Rsa2048).expect("an RSA-2048 key");
            let mut signature = vec![0; key.public_modulus_len()];
            let start = Instant::now();
            while start.elapsed() < duration {
                key.sign(&RSA_PKCS1_SHA256, &rng, &message, &mut signature)
                    .expect("an RS256 signature");
                signatures += 1;
            }
            signatures as f64 / start.elapsed().as_secs_f64()
        }
        SignatureAlg::Es256 => {
            let pkcs8 = EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &rng)
                .expect("a P-256 key");
            let key = EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, pkcs8.as_ref())
                .expect("the P-256 key just made");
            let start = Instant::now();
            while start.elapsed() < duration {
                key.sign(&rng, &message).expect("an ES256 signature");
                signatures += 1;
            }
            signatures as f64 / start.elapsed().as_secs_f64()
        }
    }
}

/// The raw signature rows and their note, measured while no server runs.
async fn bench_signatures(report: &mut Report) {
    let mut rates = Vec::new();
    for (alg, label) in [
        (SignatureAlg::Rs256, "RS256 (RSA-2048)"),
        (SignatureAlg::Es256, "ES256 (P-256)"),
    ] {
        println!("signatures: {label} in-process on 1 thread for {SIGNATURE_SECONDS} s");
        let rate = tokio::task::spawn_blocking(move || {
            measure_signatures(alg, Duration::from_secs(SIGNATURE_SECONDS))
        })
        .await
        .expect("the signature measurement panicked");
        println!("  {rate:.0} signatures/s");
        report.rows.push(Row {
            backend: "in-process (aws-lc-rs)".into(),
            scenario: format!("raw {label} signatures, 1 thread"),
            load: Some((rate, None, None, None)),
            rss_kib: None,
            cpu_ms: None,
        });
        rates.push(format!(
            "{label} {rate:.0}/s = {:.3} ms each",
            1000.0 / rate.max(f64::MIN_POSITIVE)
        ));
    }
    report.notes.push(format!(
        "raw signatures per core (aws-lc-rs, one thread, {SIGNATURE_SECONDS} s each): {}",
        rates.join("; ")
    ));
}

async fn run_all(settings: &Settings, server_bin: Option<&Path>) -> Report {
    sqlx::any::install_default_drivers();
    let mut report = Report {
        rows: Vec::new(),
        notes: Vec::new(),
        versions: Vec::new(),
        load_before: String::new(),
    };
    bench_signatures(&mut report).await;
    if settings.drivers {
        drivers::bench_drivers(settings, &mut report).await;
    } else {
        report
            .notes
            .push("sqlx Any vs native drivers not measured (LOGI_BENCH_DRIVERS=0)".into());
    }
    let mut logi_backends = Vec::new();
    for &backend in &settings.backends {
        // Built exactly when there are backends.
        let Some(server_bin) = server_bin else { break };
        let database = match backend {
            Backend::Sqlite => None,
            Backend::Postgres => match PgDatabase::create(
                &settings.postgres_url,
                &format!("logi_bench_{}", std::process::id()),
            )
            .await
            {
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
        // The drivers part may have named it already.
        if !report.versions.contains(&version) {
            report.versions.push(version);
        }
        logi_backends.push(backend.name());
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
    budget_notes(&mut report, &logi_backends);
    if settings.peer {
        if let Some(peer) = bench_peer(settings, &mut report).await {
            ratio_notes(&mut report, &logi_backends, &peer);
        }
    } else {
        report
            .notes
            .push("node-oidc-provider not measured (LOGI_BENCH_PEER=0)".into());
    }
    report
}

// ---------------------------------------------------------------------------------------------
// The peer

/// node-oidc-provider on the three shared scenarios; returns its backend label, or `None`
/// (with a note) when it cannot run here.
async fn bench_peer(settings: &Settings, report: &mut Report) -> Option<String> {
    let dir = std::env::temp_dir().join(format!("logi-bench-{}-peer", std::process::id()));
    println!("\n== node-oidc-provider: starting benches/oidc-provider/server.mjs");
    let started = PeerServer::start(&dir);
    let mut peer = match started {
        Ok(peer) => peer,
        Err(e) => {
            let note = format!("node-oidc-provider skipped: {e}");
            println!("{note}");
            report.notes.push(note);
            return None;
        }
    };
    let target = Arc::new(Target::new(peer.addr));
    if let Err(e) = peer.wait_ready(&target).await {
        let note = format!("node-oidc-provider skipped: {e}");
        println!("{note}");
        report.notes.push(note);
        return None;
    }
    let name = peer.name.clone();
    report.versions.push(format!(
        "{name} on Node.js {} ({PEER_WORKERS} cluster workers, in-memory store)",
        peer.node
    ));
    tokio::time::sleep(Duration::from_millis(500)).await;
    let idle: u64 = peer.pids().into_iter().filter_map(rss_kib).sum();
    report.rows.push(Row::rss_only(
        &name,
        "idle RSS after start-up (primary + workers)",
        idle,
    ));

    let subject = Arc::new(peer.subject(target));
    let n = settings.connections;
    let mut cpu = Vec::new();
    for (kind, label) in [
        (PeerKind::ClientCredentials, CLIENT_CREDENTIALS),
        (PeerKind::Refresh, REFRESH_RS256),
        (PeerKind::AuthorizationCode, CODE_FLOW_RS256),
    ] {
        let result = run_scenario(&subject, &peer, settings, vec![Group::stateless(kind, n)]).await;
        report.push(&name, label, &result, 0);
        cpu.push(result.cpu_per_request(label));
    }
    report.notes.push(format!(
        "{name}: server CPU per request (user+system of the primary and its {PEER_WORKERS} \
         workers, measured window): {}",
        cpu.join(", ")
    ));
    drop(peer);
    println!("== node-oidc-provider: done");
    Some(name)
}

/// Issue 16's budgets: logi's CPU per request beyond its signatures (each refresh and code flow
/// signs one ES256 access token and one ID token) at most 0.25 ms per refresh and 0.5 ms per
/// code flow, from the server's CPU per request and the raw signature rows of the same run.
fn budget_notes(report: &mut Report, logi_backends: &[&str]) {
    let raw_ms = |label: &str| {
        report
            .row(
                "in-process (aws-lc-rs)",
                &format!("raw {label} signatures, 1 thread"),
            )
            .and_then(|r| r.load)
            .map(|l| 1000.0 / l.0.max(f64::MIN_POSITIVE))
    };
    let (Some(rs256), Some(es256)) = (raw_ms("RS256 (RSA-2048)"), raw_ms("ES256 (P-256)")) else {
        return;
    };
    for backend in logi_backends {
        let mut parts = Vec::new();
        for (scenario, id_token_ms, budget) in [
            (REFRESH_RS256, rs256, 0.25),
            (REFRESH_ES256, es256, 0.25),
            (CODE_FLOW_RS256, rs256, 0.5),
            (CODE_FLOW_ES256, es256, 0.5),
        ] {
            let Some(cpu) = report.row(backend, scenario).and_then(|r| r.cpu_ms) else {
                continue;
            };
            let signatures = id_token_ms + es256;
            let beyond = cpu - signatures;
            parts.push(format!(
                "{scenario} {cpu:.3} − {signatures:.3} = {beyond:.3} ms (budget ≤ {budget} ms: {})",
                if beyond <= budget { "met" } else { "missed" }
            ));
        }
        if !parts.is_empty() {
            let note = format!(
                "{backend}: server CPU per request beyond its signatures (one ES256 access token \
                 and one ID token, at this run's raw rates): {}",
                parts.join("; ")
            );
            println!("{note}");
            report.notes.push(note);
        }
    }
}

/// logi ÷ peer for each logi backend on each shared scenario: throughput and CPU per request.
fn ratio_notes(report: &mut Report, logi_backends: &[&str], peer: &str) {
    for backend in logi_backends {
        let mut parts = Vec::new();
        for scenario in [CLIENT_CREDENTIALS, REFRESH_RS256, CODE_FLOW_RS256] {
            let (Some(ours), Some(theirs)) =
                (report.row(backend, scenario), report.row(peer, scenario))
            else {
                continue;
            };
            let rate = |row: &Row| row.load.map_or(0.0, |l| l.0);
            let mut part = format!(
                "{scenario} {:.2}× the requests/s",
                rate(ours) / rate(theirs).max(f64::MIN_POSITIVE)
            );
            if let (Some(a), Some(b)) = (ours.cpu_ms, theirs.cpu_ms) {
                part.push_str(&format!(
                    ", {:.2}× the server CPU per request ({a:.3} vs {b:.3} ms)",
                    a / b.max(f64::MIN_POSITIVE)
                ));
            }
            parts.push(part);
        }
        if !parts.is_empty() {
            let note = format!("same run, logi on {backend} ÷ {peer}: {}", parts.join("; "));
            println!("{note}");
            report.notes.push(note);
        }
    }
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
    report.push(name, CLIENT_CREDENTIALS, &cc, 0);

    // a') client_credentials for a protected API (RFC 8707 `resource`): should match (a).
    let ccr = run_scenario(
        &fx,
        &server,
        settings,
        vec![Group::stateless(Kind::ClientCredentialsResource, n)],
    )
    .await;
    cpu.push(ccr.cpu_per_request("client_credentials with resource"));
    report.push(
        name,
        "client_credentials with resource (API audience)",
        &ccr,
        0,
    );
    println!(
        "{name}: client_credentials with resource at {:.2}× the plain rate (target ≥ 0.90×)",
        ccr.groups[0].rate() / cc.groups[0].rate().max(f64::MIN_POSITIVE)
    );

    // a'') client_credentials with private_key_jwt: the assertion check (one ES256 verify and
    // the shared jti cache) beside client_secret_basic (one HMAC).
    let cck = run_scenario(
        &fx,
        &server,
        settings,
        vec![Group::stateless(Kind::ClientCredentialsKeyJwt, n)],
    )
    .await;
    cpu.push(cck.cpu_per_request("client_credentials with private_key_jwt"));
    report.push(name, "client_credentials with private_key_jwt", &cck, 0);
    println!(
        "{name}: client_credentials with private_key_jwt at {:.2}× the client_secret_basic rate",
        cck.groups[0].rate() / cc.groups[0].rate().max(f64::MIN_POSITIVE)
    );

    // b) refresh_token: one chain per connection, each request presents the latest token.
    let chains = obtain_tokens(&fx, n, "openid offline_access", "refresh_token").await;
    let rt = run_scenario(
        &fx,
        &server,
        settings,
        vec![Group::with(Kind::Refresh, chains)],
    )
    .await;
    report.push(name, REFRESH_RS256, &rt, 0);
    cpu.push(rt.cpu_per_request("refresh_token (RS256 ID token)"));
    let chains = obtain_tokens(&fx_es, n, "openid offline_access", "refresh_token").await;
    let rt = run_scenario(
        &fx_es,
        &server,
        settings,
        vec![Group::with(Kind::Refresh, chains)],
    )
    .await;
    report.push(name, REFRESH_ES256, &rt, 0);
    cpu.push(rt.cpu_per_request("refresh_token (ES256 ID token)"));

    // c) authorization-code flows with session and remembered consent, PKCE S256.
    let ac = run_scenario(
        &fx,
        &server,
        settings,
        vec![Group::stateless(Kind::AuthorizationCode, n)],
    )
    .await;
    report.push(name, CODE_FLOW_RS256, &ac, 0);
    cpu.push(ac.cpu_per_request("authorization-code flow (RS256 ID token)"));
    let ac = run_scenario(
        &fx_es,
        &server,
        settings,
        vec![Group::stateless(Kind::AuthorizationCode, n)],
    )
    .await;
    report.push(name, CODE_FLOW_ES256, &ac, 0);
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
        cpu_ms: None,
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

    // f') logins with a second step (TOTP): the password, then a code at `/login/mfa`. Each
    // account takes one code per 30 s step, so every connection gets enough accounts for the
    // whole run.
    let per_connection = (settings.measure.as_secs() as usize + 1) * 12 + 8;
    let users = fixture::totp_users(
        &target,
        &name.to_ascii_lowercase(),
        per_connection * logins,
        logins,
    )
    .await;
    println!("prepared: {} accounts with TOTP", users.len());
    // Their sign-ups queued as many verification mails: let the outbox worker write them out
    // before the clock starts, so that the logins do not share the CPU with it.
    tokio::time::sleep(Duration::from_secs(3)).await;
    let lt = run_scenario(
        &fx,
        &server,
        settings,
        vec![Group::totp_logins(users, logins)],
    )
    .await;
    report.push(
        name,
        &format!("password + TOTP login ({logins} conns)"),
        &lt,
        0,
    );
    cpu.push(lt.cpu_per_request("login with TOTP"));
    report.notes.push(format!(
        "{name}: logins with TOTP {:.1}/s vs password-only {login_rate:.1}/s = {:.0}% (target ≥ 95%)",
        lt.groups[0].rate(),
        100.0 * lt.groups[0].rate() / login_rate.max(f64::MIN_POSITIVE)
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
