//! The scenarios: one request of each kind, and running groups of connections for a fixed time.

use std::{
    fmt::Debug,
    future::Future,
    net::SocketAddr,
    sync::{
        atomic::{AtomicBool, Ordering},
        Arc,
    },
    time::{Duration, Instant},
};

use hyper::{header, StatusCode};
use serde_json::Value;

use crate::{
    fixture::{code_flow, Fixture, TotpUser, PASSWORD},
    http::{bodyless, form, tail, Conn, Target},
    report::ms,
    server::{cpu_seconds, rss_kib},
    Settings,
};

const WARM_UP: Duration = Duration::from_secs(1);

#[derive(Clone, Copy, Debug)]
pub(crate) enum Kind {
    ClientCredentials,
    /// `client_credentials` with `resource` (RFC 8707): the token's `aud` is an API.
    ClientCredentialsResource,
    /// `client_credentials` authenticated with `private_key_jwt` (an ES256 client assertion).
    ClientCredentialsKeyJwt,
    Refresh,
    AuthorizationCode,
    Userinfo,
    Introspect,
    Login,
    /// A password login followed by the TOTP step (`/login/mfa`), each connection cycling
    /// through its own accounts (a TOTP code is accepted once per account and time step).
    LoginTotp,
}

/// What a scenario drives: logi through its [`Fixture`], or the peer (`crate::peer`).
pub(crate) trait Subject: Send + Sync + 'static {
    type Kind: Copy + Debug + Send + 'static;

    fn addr(&self) -> SocketAddr;

    /// Prepares one connection, on that connection, before the clock starts (the peer keeps
    /// its state in the memory of the worker that serves the connection). Nothing for logi,
    /// whose state every process shares.
    fn setup(
        &self,
        _kind: Self::Kind,
        _conn: &mut Conn,
        _own: &mut Own,
    ) -> impl Future<Output = Result<(), String>> + Send {
        async { Ok(()) }
    }

    /// One request (one full flow for the authorization-code kinds).
    fn step(
        &self,
        kind: Self::Kind,
        conn: &mut Conn,
        own: &mut Own,
    ) -> impl Future<Output = Result<(), String>> + Send;
}

impl Subject for Fixture {
    type Kind = Kind;

    fn addr(&self) -> SocketAddr {
        self.target.addr
    }

    async fn step(&self, kind: Kind, conn: &mut Conn, own: &mut Own) -> Result<(), String> {
        step(kind, conn, self, own).await
    }
}

/// The processes whose CPU and memory a scenario reports (their sum).
pub(crate) trait Observed {
    fn pids(&self) -> Vec<u32>;
}

/// A set of connections running one kind of request; `tokens` holds each connection's token
/// (refresh chain or access token), empty for the stateless kinds; `accounts` each
/// connection's accounts with TOTP (for [`Kind::LoginTotp`]).
pub(crate) struct Group<K = Kind> {
    kind: K,
    connections: usize,
    tokens: Vec<String>,
    accounts: Vec<Arc<Vec<TotpUser>>>,
}

impl<K> Group<K> {
    pub(crate) fn stateless(kind: K, connections: usize) -> Group<K> {
        Group {
            kind,
            connections,
            tokens: Vec::new(),
            accounts: Vec::new(),
        }
    }
}

impl Group {
    /// TOTP logins on `connections` connections sharing out `users` between them.
    pub(crate) fn totp_logins(users: Vec<TotpUser>, connections: usize) -> Group {
        let mut shares: Vec<Vec<TotpUser>> = (0..connections).map(|_| Vec::new()).collect();
        for (i, user) in users.into_iter().enumerate() {
            shares[i % connections].push(user);
        }
        Group {
            kind: Kind::LoginTotp,
            connections,
            tokens: Vec::new(),
            accounts: shares.into_iter().map(Arc::new).collect(),
        }
    }

    pub(crate) fn with(kind: Kind, tokens: Vec<String>) -> Group {
        Group {
            kind,
            connections: tokens.len(),
            tokens,
            accounts: Vec::new(),
        }
    }
}

/// A connection's own state: its token, or its accounts and which one signs in next, or its
/// cookies (the peer's browser session).
#[derive(Default)]
pub(crate) struct Own {
    pub(crate) token: String,
    accounts: Arc<Vec<TotpUser>>,
    next: usize,
    pub(crate) cookies: String,
}

/// `client_credentials` with `client_secret_basic` (`basic` is the `Authorization` value).
pub(crate) async fn client_credentials(
    conn: &mut Conn,
    target: &Target,
    basic: &str,
) -> Result<(), String> {
    conn.send(form(
        target
            .post("/oauth/token")
            .header(header::AUTHORIZATION, basic),
        &[("grant_type", "client_credentials")],
    ))
    .await?
    .expect(StatusCode::OK, "client_credentials")?;
    Ok(())
}

/// Redeems the refresh token `token` and replaces it with the new one of the response.
pub(crate) async fn refresh(
    conn: &mut Conn,
    target: &Target,
    basic: &str,
    token: &mut String,
) -> Result<(), String> {
    let reply = conn
        .send(form(
            target
                .post("/oauth/token")
                .header(header::AUTHORIZATION, basic),
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
    Ok(())
}

/// One request (one full flow for `AuthorizationCode`, both steps for `LoginTotp`).
async fn step(kind: Kind, conn: &mut Conn, fx: &Fixture, own: &mut Own) -> Result<(), String> {
    let token = &mut own.token;
    let target = &fx.target;
    match kind {
        Kind::ClientCredentials => client_credentials(conn, target, &fx.basic).await?,
        Kind::ClientCredentialsResource => {
            conn.send(form(
                target
                    .post("/oauth/token")
                    .header(header::AUTHORIZATION, fx.basic_api.as_str()),
                &[
                    ("grant_type", "client_credentials"),
                    ("resource", fx.resource.as_str()),
                ],
            ))
            .await?
            .expect(StatusCode::OK, "client_credentials with resource")?;
        }
        Kind::ClientCredentialsKeyJwt => {
            let assertion = fx.client_assertion();
            conn.send(form(
                target.post("/oauth/token"),
                &[
                    ("grant_type", "client_credentials"),
                    (
                        "client_assertion_type",
                        "urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
                    ),
                    ("client_assertion", assertion.as_str()),
                ],
            ))
            .await?
            .expect(StatusCode::OK, "client_credentials with private_key_jwt")?;
        }
        Kind::Refresh => refresh(conn, target, &fx.basic, token).await?,
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
        Kind::LoginTotp => {
            let user = own
                .accounts
                .get(own.next % own.accounts.len().max(1))
                .ok_or("no TOTP accounts for this connection")?;
            own.next += 1;
            let first = conn
                .send(form(
                    target
                        .post("/login")
                        .header(header::COOKIE, fx.csrf_cookie.as_str()),
                    &[
                        ("email", user.email.as_str()),
                        ("password", PASSWORD),
                        ("csrf_token", fx.csrf_token.as_str()),
                    ],
                ))
                .await?
                .expect(StatusCode::SEE_OTHER, "login (password step)")?;
            let pending = first
                .cookie("logi_mfa")
                .ok_or("the password step set no logi_mfa cookie")?;
            // The code of the next time step (within the accepted drift): the enrolment, just
            // before the run, spent the current one.
            let step = logi::accounts::totp::step_at(logi::clock::system_now()) + 1;
            let code = logi::accounts::totp::code_at(&user.secret, step);
            let done = conn
                .send(form(
                    target
                        .post("/login/mfa")
                        .header(header::COOKIE, format!("{}; {pending}", fx.csrf_cookie)),
                    &[
                        ("csrf_token", fx.csrf_token.as_str()),
                        ("code", code.as_str()),
                    ],
                ))
                .await?
                .expect(StatusCode::SEE_OTHER, "login (TOTP step)")?;
            if done.cookie("logi_session").is_none() {
                return Err("the TOTP step set no session cookie".into());
            }
        }
    }
    Ok(())
}

/// What one group measured.
pub(crate) struct GroupResult {
    /// Successful requests that started after the warm-up, latencies in µs, sorted.
    latencies_us: Vec<u64>,
    /// Failures over the whole run, warm-up included.
    pub(crate) errors: u64,
    pub(crate) first_error: Option<String>,
    seconds: f64,
}

impl GroupResult {
    pub(crate) fn rate(&self) -> f64 {
        self.latencies_us.len() as f64 / self.seconds
    }

    pub(crate) fn percentile(&self, p: f64) -> u64 {
        if self.latencies_us.is_empty() {
            return 0;
        }
        let rank = (p / 100.0 * (self.latencies_us.len() - 1) as f64).round() as usize;
        self.latencies_us[rank.min(self.latencies_us.len() - 1)]
    }
}

pub(crate) struct ScenarioResult {
    pub(crate) groups: Vec<GroupResult>,
    pub(crate) peak_rss_kib: u64,
    /// Server CPU seconds (user + system) from the end of the warm-up to the end of the run.
    server_cpu_seconds: f64,
}

impl ScenarioResult {
    /// Server CPU milliseconds per successful request in the measured window.
    pub(crate) fn cpu_ms_per_request(&self) -> f64 {
        let requests: usize = self.groups.iter().map(|g| g.latencies_us.len()).sum();
        1000.0 * self.server_cpu_seconds / requests.max(1) as f64
    }

    /// `label X.XXX ms`: [`Self::cpu_ms_per_request`] for the report's notes.
    pub(crate) fn cpu_per_request(&self, label: &str) -> String {
        format!("{label} {:.3} ms", self.cpu_ms_per_request())
    }
}

struct WorkerResult {
    latencies_us: Vec<u64>,
    errors: u64,
    first_error: Option<String>,
}

/// The sum over `pids` of `read` (`None` when a process is gone).
fn summed(pids: &[u32], read: impl Fn(u32) -> Option<f64>) -> Option<f64> {
    pids.iter().map(|&pid| read(pid)).sum()
}

/// Runs `groups` against `subject` for the warm-up and the measured time; `observed` names the
/// server processes whose CPU and memory are reported. Every connection is prepared first
/// ([`Subject::setup`], on the connection itself); the clock starts when all are ready.
pub(crate) async fn run_scenario<S: Subject>(
    subject: &Arc<S>,
    observed: &impl Observed,
    settings: &Settings,
    groups: Vec<Group<S::Kind>>,
) -> ScenarioResult {
    let label: Vec<String> = groups
        .iter()
        .map(|g| format!("{:?}×{}", g.kind, g.connections))
        .collect();
    println!("running {} ...", label.join(" + "));
    let (ready_tx, mut ready_rx) = tokio::sync::mpsc::unbounded_channel::<()>();
    let (start_tx, start_rx) = tokio::sync::watch::channel::<Option<Instant>>(None);

    let mut handles = Vec::new();
    for group in &groups {
        let mut workers = Vec::with_capacity(group.connections);
        for i in 0..group.connections {
            let subject = subject.clone();
            let kind = group.kind;
            let mut own = Own {
                token: group.tokens.get(i).cloned().unwrap_or_default(),
                accounts: group.accounts.get(i).cloned().unwrap_or_default(),
                ..Own::default()
            };
            let ready = ready_tx.clone();
            let mut start = start_rx.clone();
            let measure = settings.measure;
            workers.push(tokio::spawn(async move {
                let mut conn = Conn::new(subject.addr());
                let mut out = WorkerResult {
                    latencies_us: Vec::with_capacity(4096),
                    errors: 0,
                    first_error: None,
                };
                let prepared = subject.setup(kind, &mut conn, &mut own).await;
                let _ = ready.send(());
                drop(ready);
                let started = match start.wait_for(Option::is_some).await {
                    Ok(at) => at.unwrap_or_else(Instant::now),
                    Err(_) => return out,
                };
                if let Err(e) = prepared {
                    out.errors += 1;
                    out.first_error = Some(format!("connection set-up: {e}"));
                    return out;
                }
                let measured_from = started + WARM_UP;
                let end = measured_from + measure;
                loop {
                    let began = Instant::now();
                    if began >= end {
                        break;
                    }
                    let result = subject.step(kind, &mut conn, &mut own).await;
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
    drop(ready_tx);
    // Every worker reports once, set up or not; then the clock starts for all of them.
    let set_up = Instant::now();
    while ready_rx.recv().await.is_some() {}
    let setup_seconds = set_up.elapsed().as_secs_f64();
    if setup_seconds >= 0.1 {
        println!("  connections set up in {setup_seconds:.1} s (not measured)");
    }
    let start = Instant::now();
    let measured_from = start + WARM_UP;
    let _ = start_tx.send(Some(start));

    let stop_sampling = Arc::new(AtomicBool::new(false));
    let sampler = {
        let stop = stop_sampling.clone();
        let pids = observed.pids();
        tokio::spawn(async move {
            let mut peak = 0;
            let mut cpu_from = None;
            let mut tick = tokio::time::interval(Duration::from_millis(100));
            let rss = |pids: &[u32]| summed(pids, |pid| rss_kib(pid).map(|k| k as f64));
            while !stop.load(Ordering::Relaxed) {
                tick.tick().await;
                peak = peak.max(rss(&pids).unwrap_or(0.0) as u64);
                if cpu_from.is_none() && Instant::now() >= measured_from {
                    cpu_from = summed(&pids, cpu_seconds);
                }
            }
            let cpu = match (cpu_from, summed(&pids, cpu_seconds)) {
                (Some(from), Some(to)) => to - from,
                _ => 0.0,
            };
            (peak, cpu)
        })
    };
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
