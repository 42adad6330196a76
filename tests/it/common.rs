//! Test harness: every test spawns the real server on a free port with its own database.
//!
//! The backend comes from `LOGI_TEST_DATABASE_URL`: unset means a fresh SQLite file per test;
//! a `postgres://…` URL names a server on which each test creates (and finally drops) its own
//! database. CI runs the whole suite once per backend.

use std::sync::atomic::{AtomicU32, Ordering};

use logi::{clock::Clock, config::Config, crypto::random_token, server};
use reqwest::{redirect, Client, StatusCode};
use serde_json::{json, Value};
use sqlx::Connection;

pub use crate::helpers::{form_value, with_database};

pub const PASSWORD: &str = "correct horse battery staple";

pub struct TestApp {
    pub base: String,
    pub state: logi::http::AppState,
    /// The test's own connection to the server's database, to look at rows as an operator
    /// would (the server's pool is private to its store).
    pub db: sqlx::AnyPool,
    shutdown: Option<tokio::sync::oneshot::Sender<()>>,
    /// The task serving this instance: it ends once the server and its background workers
    /// that stop with it (the outbox worker) have stopped.
    served: Option<tokio::task::JoinHandle<()>>,
    pg_database: Option<(String, String)>,
    data_dir: std::path::PathBuf,
}

static COUNTER: AtomicU32 = AtomicU32::new(0);

pub fn backend_url() -> Option<String> {
    std::env::var("LOGI_TEST_DATABASE_URL")
        .ok()
        .filter(|u| u.starts_with("postgres"))
}

impl TestApp {
    pub async fn spawn() -> TestApp {
        Self::spawn_with(|_| {}).await
    }

    /// A second logi process on the same database and master key as `self` (same issuer).
    pub async fn spawn_sibling(&self, tweak: impl FnOnce(&mut Config)) -> TestApp {
        let mut config = (*self.state.config).clone();
        tweak(&mut config);
        let unused = std::env::temp_dir().join("logi-test-sibling-unused");
        Self::start(config, false, None, unused, self.state.clock.clone()).await
    }

    /// The server's clock: it stands still unless a test moves it.
    pub fn now(&self) -> i64 {
        self.state.clock.now()
    }

    /// Moves the clock of this server (and of its siblings) forward: tests let codes, sessions
    /// and locks expire this way instead of sleeping.
    pub fn advance(&self, seconds: i64) {
        assert!(
            self.state.clock.advance(seconds),
            "tests run on a manual clock"
        );
    }

    /// Serves `config` on a free port; `own_issuer` makes the issuer that port's URL.
    async fn start(
        mut config: Config,
        own_issuer: bool,
        pg_database: Option<(String, String)>,
        data_dir: std::path::PathBuf,
        clock: Clock,
    ) -> TestApp {
        let listener = server::bind("127.0.0.1:0").await.expect("bind");
        let port = listener.local_addr().expect("addr").port();
        let base = format!("http://127.0.0.1:{port}");
        if own_issuer {
            config.issuer = base.clone();
        }
        config.bind = format!("127.0.0.1:{port}");
        let state = server::prepare_with_clock(config, clock)
            .await
            .expect("server starts");
        let db = sqlx::any::AnyPoolOptions::new()
            .max_connections(2)
            .connect(&state.config.database_url)
            .await
            .expect("the test's own database connection");
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        let serving = state.clone();
        let served = tokio::spawn(async move {
            let _ = server::serve(serving, listener, async move {
                let _ = rx.await;
            })
            .await;
        });
        TestApp {
            base,
            state,
            db,
            shutdown: Some(tx),
            served: Some(served),
            pg_database,
            data_dir,
        }
    }

    pub async fn spawn_with(tweak: impl FnOnce(&mut Config)) -> TestApp {
        sqlx::any::install_default_drivers();
        let n = COUNTER.fetch_add(1, Ordering::SeqCst);
        let tag = format!(
            "{}_{}_{}",
            std::process::id(),
            n,
            random_token(4).to_lowercase().replace(['-', '_'], "x")
        );
        let data_dir = std::env::temp_dir().join(format!("logi-test-{tag}"));
        std::fs::create_dir_all(&data_dir).expect("temp dir");
        let mut config = Config::default();
        let mut pg_database = None;
        config.database_url = match backend_url() {
            Some(admin) => {
                let name = format!("logi_t_{tag}");
                let mut conn = sqlx::AnyConnection::connect(&admin)
                    .await
                    .expect("connect to PostgreSQL");
                sqlx::query(&format!("CREATE DATABASE {name}"))
                    .execute(&mut conn)
                    .await
                    .expect("create test database");
                let url = with_database(&admin, &name);
                pg_database = Some((admin, name));
                config.database_max_connections = 8;
                url
            }
            None => format!("sqlite://{}", data_dir.join("logi.db").display()),
        };
        config.data_dir = data_dir.clone();
        config.master_key = logi::config::Secret(random_token(32));
        // The suite signs up many users from 127.0.0.1; tests of the limit turn it on.
        config.signup_max_per_ip_per_hour = 0;
        config.developer_tokens_max_per_ip_per_hour = 0;
        tweak(&mut config);
        let clock = Clock::manual(logi::clock::system_now());
        Self::start(config, true, pg_database, data_dir, clock).await
    }

    /// Stops this instance as SIGTERM would and waits until it has stopped (its outbox worker
    /// included); its database stays, for a sibling started afterwards ([`Self::spawn_sibling`]).
    pub async fn stop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        if let Some(served) = self.served.take() {
            let _ = served.await;
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.base, path)
    }

    /// A browser-like client: keeps cookies, does not follow redirects (tests look at them).
    pub fn browser(&self) -> Client {
        Client::builder()
            .cookie_store(true)
            .redirect(redirect::Policy::none())
            .build()
            .expect("client")
    }

    /// A plain API client.
    pub fn api(&self) -> Client {
        Client::builder()
            .redirect(redirect::Policy::none())
            .build()
            .expect("client")
    }

    /// Fetches `path` and returns the CSRF token of its form.
    pub async fn csrf(&self, browser: &Client, path: &str) -> String {
        let page = browser
            .get(self.url(path))
            .send()
            .await
            .expect("get")
            .text()
            .await
            .expect("body");
        form_value(&page, "csrf_token").expect("page has a csrf_token")
    }

    /// Signs up a new account in `browser` (which ends up signed in).
    pub async fn signup(&self, browser: &Client, email: &str, password: &str) -> reqwest::Response {
        let csrf = self.csrf(browser, "/signup").await;
        browser
            .post(self.url("/signup"))
            .form(&[
                ("email", email),
                ("password", password),
                ("name", "Test User"),
                ("csrf_token", &csrf),
            ])
            .send()
            .await
            .expect("signup")
    }

    pub async fn login(&self, browser: &Client, email: &str, password: &str) -> reqwest::Response {
        let csrf = self.csrf(browser, "/login").await;
        browser
            .post(self.url("/login"))
            .form(&[
                ("email", email),
                ("password", password),
                ("csrf_token", &csrf),
            ])
            .send()
            .await
            .expect("login")
    }

    /// A new account with a developer token; returns the token.
    pub async fn developer(&self, email: &str) -> String {
        let browser = self.browser();
        let r = self.signup(&browser, email, PASSWORD).await;
        assert_eq!(r.status(), StatusCode::SEE_OTHER, "signup redirects");
        let r = self
            .api()
            .post(self.url("/developer/tokens"))
            .json(&json!({ "email": email, "password": PASSWORD, "name": "tests" }))
            .send()
            .await
            .expect("mint");
        assert_eq!(r.status(), StatusCode::CREATED);
        let body: Value = r.json().await.expect("json");
        body["token"].as_str().expect("token").to_string()
    }

    /// Registers an application; panics unless it is created.
    pub async fn register(&self, token: &str, metadata: Value) -> Value {
        let r = self.post_app(token, &metadata).await;
        let status = r.status();
        let body: Value = r.json().await.expect("json");
        assert_eq!(status, StatusCode::CREATED, "registration failed: {body}");
        body
    }

    /// What an operator's `logi apps verify` / `unverify` does, through the server's own store
    /// (which tells every cache).
    pub async fn set_verified(&self, client_id: &str, verified: bool) {
        let store = &self.state.store;
        let found = logi::store::applications::set_verified(store, client_id, verified, self.now())
            .await
            .expect("set_verified");
        assert!(found, "no application {client_id}");
    }

    pub async fn post_app(&self, token: &str, metadata: &Value) -> reqwest::Response {
        self.api()
            .post(self.url("/developer/applications"))
            .bearer_auth(token)
            .json(metadata)
            .send()
            .await
            .expect("register")
    }
}

impl Drop for TestApp {
    fn drop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        let _ = std::fs::remove_dir_all(&self.data_dir);
        if let Some((admin, name)) = self.pg_database.take() {
            // Drop the per-test database from a separate thread with its own runtime.
            let _ = std::thread::spawn(move || {
                let rt = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .expect("rt");
                rt.block_on(async move {
                    if let Ok(mut conn) = sqlx::AnyConnection::connect(&admin).await {
                        let _ =
                            sqlx::query(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
                                .execute(&mut conn)
                                .await;
                    }
                });
            })
            .join();
        }
    }
}

pub fn unique_email(prefix: &str) -> String {
    format!(
        "{prefix}-{}@example.com",
        random_token(6).to_lowercase().replace(['-', '_'], "x")
    )
}

/// A PKCE pair (verifier, S256 challenge).
pub fn pkce_pair() -> (String, String) {
    use base64::{engine::general_purpose::URL_SAFE_NO_PAD, Engine};
    use sha2::Digest;
    let verifier = random_token(32);
    let challenge = URL_SAFE_NO_PAD.encode(sha2::Sha256::digest(verifier.as_bytes()));
    (verifier, challenge)
}

/// The query parameters of a redirect `Location`.
pub fn location_params(r: &reqwest::Response) -> std::collections::HashMap<String, String> {
    let location = r
        .headers()
        .get(reqwest::header::LOCATION)
        .expect("a redirect")
        .to_str()
        .expect("ascii");
    let url = reqwest::Url::parse(location).expect("absolute redirect");
    url.query_pairs()
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect()
}

/// An OAuth client registered by a fresh developer, and a signed-in end user.
pub struct Rp {
    pub client_id: String,
    pub client_secret: Option<String>,
    pub redirect_uri: String,
    pub app_id: String,
    pub dev_token: String,
    pub user: Client,
    pub user_email: String,
}

impl TestApp {
    /// Registers `metadata` (plus a redirect URI when it has none) and signs up an end user.
    pub async fn rp(&self, metadata: Value) -> Rp {
        let dev_token = self.developer(&unique_email("dev")).await;
        let mut metadata = metadata;
        if metadata.get("redirect_uris").is_none() {
            metadata["redirect_uris"] = json!(["https://rp.example/cb"]);
        }
        if metadata.get("client_name").is_none() {
            metadata["client_name"] = json!("Test RP");
        }
        let created = self.register(&dev_token, metadata).await;
        let user = self.browser();
        let user_email = unique_email("user");
        let r = self.signup(&user, &user_email, PASSWORD).await;
        assert_eq!(r.status(), StatusCode::SEE_OTHER);
        Rp {
            client_id: created["client_id"].as_str().unwrap().to_string(),
            client_secret: created["client_secret"].as_str().map(String::from),
            redirect_uri: created["redirect_uris"][0]
                .as_str()
                .unwrap_or_default()
                .to_string(),
            app_id: created["id"].as_str().unwrap().to_string(),
            dev_token,
            user,
            user_email,
        }
    }

    /// GET /oauth/authorize with `extra` parameters on top of client_id, redirect_uri and
    /// response_type=code.
    pub async fn authorize(&self, rp: &Rp, extra: &[(&str, &str)]) -> reqwest::Response {
        let mut q: Vec<(&str, &str)> = vec![
            ("client_id", &rp.client_id),
            ("redirect_uri", &rp.redirect_uri),
            ("response_type", "code"),
        ];
        q.extend_from_slice(extra);
        rp.user
            .get(self.url("/oauth/authorize"))
            .query(&q)
            .send()
            .await
            .expect("authorize")
    }

    /// Answers the consent page in `r` with `decision`; returns the redirect to the client.
    pub async fn decide(
        &self,
        rp: &Rp,
        consent_page: reqwest::Response,
        decision: &str,
    ) -> reqwest::Response {
        assert_eq!(
            consent_page.status(),
            StatusCode::OK,
            "expected the consent page"
        );
        let page = consent_page.text().await.unwrap();
        let csrf = form_value(&page, "csrf_token").expect("csrf");
        let request_id = form_value(&page, "request_id").expect("request_id");
        rp.user
            .post(self.url("/oauth/consent"))
            .form(&[
                ("csrf_token", csrf.as_str()),
                ("request_id", request_id.as_str()),
                ("decision", decision),
            ])
            .send()
            .await
            .expect("consent")
    }

    /// Runs authorize → consent (when asked) → code with PKCE; returns (code, verifier).
    pub async fn code(&self, rp: &Rp, scope: &str) -> (String, String) {
        let (verifier, challenge) = pkce_pair();
        let mut r = self
            .authorize(
                rp,
                &[
                    ("scope", scope),
                    ("state", "st4te"),
                    ("code_challenge", &challenge),
                    ("code_challenge_method", "S256"),
                ],
            )
            .await;
        if r.status() == StatusCode::OK {
            r = self.decide(rp, r, "allow").await;
        }
        assert_eq!(r.status(), StatusCode::SEE_OTHER);
        let params = location_params(&r);
        assert_eq!(params.get("state").map(String::as_str), Some("st4te"));
        assert_eq!(params.get("iss"), Some(&self.base));
        (
            params.get("code").expect("code in redirect").clone(),
            verifier,
        )
    }

    /// POST /oauth/token as `rp` (its secret by its registered method, Basic by default).
    pub async fn token(&self, rp: &Rp, form: &[(&str, &str)]) -> reqwest::Response {
        let mut form: Vec<(&str, &str)> = form.to_vec();
        let req = self.api().post(self.url("/oauth/token"));
        let req = match &rp.client_secret {
            Some(secret) => req.basic_auth(&rp.client_id, Some(secret)),
            None => {
                form.push(("client_id", &rp.client_id));
                req
            }
        };
        req.form(&form).send().await.expect("token")
    }
}

/// A client-side DPoP key (ES256) that makes proofs (RFC 9449 §4.2).
pub struct DpopKey {
    pkcs8: Vec<u8>,
    pub jwk: Value,
}

impl DpopKey {
    pub fn new() -> DpopKey {
        use aws_lc_rs::signature::{EcdsaKeyPair, KeyPair, ECDSA_P256_SHA256_FIXED_SIGNING};
        use base64::{engine::general_purpose::URL_SAFE_NO_PAD, Engine};
        let rng = aws_lc_rs::rand::SystemRandom::new();
        let pkcs8 = EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &rng).unwrap();
        let pair =
            EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, pkcs8.as_ref()).unwrap();
        let point = pair.public_key().as_ref().to_vec();
        let jwk = json!({"kty": "EC", "crv": "P-256", "x": URL_SAFE_NO_PAD.encode(&point[1..33]), "y": URL_SAFE_NO_PAD.encode(&point[33..65])});
        DpopKey {
            pkcs8: pkcs8.as_ref().to_vec(),
            jwk,
        }
    }

    /// RFC 7638 thumbprint: what `cnf.jkt` must be.
    pub fn thumbprint(&self) -> String {
        logi::oauth::dpop::thumbprint(&self.jwk).unwrap()
    }

    /// A proof with the given claims (jti, iat filled in unless given).
    pub fn proof_with(&self, mut claims: Value) -> String {
        if claims.get("jti").is_none() {
            claims["jti"] = json!(random_token(12));
        }
        if claims.get("iat").is_none() {
            // The servers' manual clocks start at the system time and move by seconds.
            claims["iat"] = json!(logi::clock::system_now());
        }
        let mut header = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::ES256);
        header.typ = Some("dpop+jwt".into());
        header.jwk = Some(serde_json::from_value(self.jwk.clone()).unwrap());
        jsonwebtoken::encode(
            &header,
            &claims,
            &jsonwebtoken::EncodingKey::from_ec_der(&self.pkcs8),
        )
        .unwrap()
    }

    pub fn proof(&self, method: &str, url: &str, access_token: Option<&str>) -> String {
        let mut claims = json!({"htm": method, "htu": url});
        if let Some(token) = access_token {
            use base64::{engine::general_purpose::URL_SAFE_NO_PAD, Engine};
            use sha2::Digest;
            claims["ath"] = json!(URL_SAFE_NO_PAD.encode(sha2::Sha256::digest(token.as_bytes())));
        }
        self.proof_with(claims)
    }
}

impl TestApp {
    /// authorize → consent → code → token with PKCE for `rp`; panics unless the exchange
    /// succeeds, and returns the token response.
    pub async fn tokens(&self, rp: &Rp, scope: &str) -> Value {
        let (code, verifier) = self.code(rp, scope).await;
        let r = self
            .token(
                rp,
                &[
                    ("grant_type", "authorization_code"),
                    ("code", &code),
                    ("redirect_uri", &rp.redirect_uri),
                    ("code_verifier", &verifier),
                ],
            )
            .await;
        let status = r.status();
        let body: Value = r.json().await.expect("JSON token response");
        assert_eq!(status, StatusCode::OK, "code exchange failed: {body}");
        body
    }
}

/// Waits in real time, only for a background task of the server (key refresh, change
/// notifications between processes) to run: never for something to expire, for which tests
/// move the clock ([`TestApp::advance`]).
#[allow(clippy::disallowed_methods)]
pub async fn pause_ms(ms: u64) {
    tokio::time::sleep(std::time::Duration::from_millis(ms)).await;
}

/// The status and JSON body of a response; panics (naming the body) when it is not JSON.
pub async fn json_of(r: reqwest::Response) -> (StatusCode, Value) {
    let status = r.status();
    let body = r.text().await.expect("body");
    let value = serde_json::from_str(&body)
        .unwrap_or_else(|_| panic!("expected a JSON body, got {status}: {body}"));
    (status, value)
}

/// The status and JSON body of a response, `null` when the body is not JSON (empty answers).
pub async fn json_or_null(r: reqwest::Response) -> (StatusCode, Value) {
    let status = r.status();
    (status, r.json().await.unwrap_or(Value::Null))
}

/// Serves `router` on a free loopback port, as a relying party's own server would (a JWK Set
/// at a `jwks_uri`, a back-channel logout receiver); returns its base URL. It runs until the
/// test ends.
pub async fn serve_loopback(router: axum::Router) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind a loopback port");
    let base = format!("http://{}", listener.local_addr().expect("addr"));
    tokio::spawn(async move {
        let _ = axum::serve(listener, router).await;
    });
    base
}

/// The claims of a JWT, read without verifying it (the tests check what logi put in).
pub fn jwt_claims(token: &str) -> Value {
    use base64::{engine::general_purpose::URL_SAFE_NO_PAD, Engine};
    let payload = token.split('.').nth(1).expect("a JWT has a payload");
    serde_json::from_slice(&URL_SAFE_NO_PAD.decode(payload).expect("base64url")).expect("JSON")
}
