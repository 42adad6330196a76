//! Data preparation over HTTP: the end user, a developer token, a confidential application,
//! remembered consent, token chains and the PKCE authorization-code flow.

use std::sync::Arc;

use base64::{
    engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD},
    Engine,
};
use hyper::{header, Request, StatusCode};
use serde_json::{json, Value};
use sha2::Digest;

use crate::helpers::{form_value, ClientKey};
use crate::http::{bodyless, form, json_body, urlencode, Body, Conn, Target};

pub(crate) const PASSWORD: &str = "correct horse battery staple";
pub(crate) const REDIRECT_URI: &str = "https://rp.example/cb";
const APP_SCOPE: &str = "openid profile email offline_access api";

/// What every scenario needs: a signed-in browser, a confidential client, the login form's CSRF.
pub(crate) struct Fixture {
    pub(crate) target: Arc<Target>,
    pub(crate) email: String,
    client_id: String,
    pub(crate) basic: String,
    /// A second client, for `client_credentials` with `resource` (RFC 8707): its scope is the
    /// scope of the API `resource`, which its developer registered.
    pub(crate) basic_api: String,
    pub(crate) resource: String,
    /// A `private_key_jwt` client (RFC 7523) and the key it signs its assertions with.
    pub(crate) key_client_id: String,
    pub(crate) client_key: ClientKey,
    session_cookie: String,
    pub(crate) csrf_cookie: String,
    pub(crate) csrf_token: String,
}

impl Fixture {
    /// The `Cookie` header of the signed-in browser.
    fn browser_cookies(&self) -> String {
        format!("{}; {}", self.session_cookie, self.csrf_cookie)
    }
}

/// Signs up a user and registers an application whose ID tokens use `id_token_alg` (the
/// server's default, RS256, when `None`).
pub(crate) async fn prepare(target: &Arc<Target>, id_token_alg: Option<&str>) -> Fixture {
    let mut conn = Conn::new(target.addr);
    let email = format!(
        "bench-{}-{}@example.com",
        std::process::id(),
        id_token_alg.unwrap_or("default").to_ascii_lowercase()
    );

    // The end user (also the developer).
    let (session_cookie, csrf_cookie, csrf_token) =
        sign_up(&mut conn, target, &email, "Bench User").await;

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
    let basic = basic_header(&client_id, client_secret);

    // A protected API and a machine client that calls it.
    let resource = format!(
        "https://bench.example.com/{}",
        id_token_alg.unwrap_or("default").to_ascii_lowercase()
    );
    let api = json!({
        "name": "Bench API",
        "identifier": resource,
        "scopes": [{"name": format!("bench.read.{}", id_token_alg.unwrap_or("default")), "description": "Read bench data"}],
    });
    conn.send(json_body(
        target
            .post("/developer/apis")
            .header(header::AUTHORIZATION, format!("Bearer {dev_token}")),
        &api,
    ))
    .await
    .and_then(|r| r.expect(StatusCode::CREATED, "POST /developer/apis"))
    .expect("API registration");
    let machine = conn
        .send(json_body(
            target
                .post("/developer/applications")
                .header(header::AUTHORIZATION, format!("Bearer {dev_token}")),
            &json!({
                "client_name": "Bench machine client",
                "client_type": "confidential",
                "grant_types": ["client_credentials"],
                "scope": api["scopes"][0]["name"],
            }),
        ))
        .await
        .and_then(|r| {
            r.expect(
                StatusCode::CREATED,
                "POST /developer/applications (machine)",
            )
        })
        .and_then(|r| r.json("machine application"))
        .expect("machine application registration");
    let basic_api = basic_header(
        machine["client_id"].as_str().expect("client_id"),
        machine["client_secret"].as_str().expect("client_secret"),
    );

    // A machine client that authenticates with private_key_jwt (ES256).
    let client_key = ClientKey::es256();
    let key_client = conn
        .send(json_body(
            target
                .post("/developer/applications")
                .header(header::AUTHORIZATION, format!("Bearer {dev_token}")),
            &json!({
                "client_name": "Bench key client",
                "client_type": "confidential",
                "token_endpoint_auth_method": "private_key_jwt",
                "jwks": {"keys": [client_key.jwk("bench-1")]},
                "grant_types": ["client_credentials"],
                "scope": "api",
            }),
        ))
        .await
        .and_then(|r| {
            r.expect(
                StatusCode::CREATED,
                "POST /developer/applications (key client)",
            )
        })
        .and_then(|r| r.json("key client"))
        .expect("private_key_jwt client registration");
    let key_client_id = key_client["client_id"]
        .as_str()
        .expect("client_id")
        .to_string();

    let fx = Fixture {
        target: target.clone(),
        email,
        client_id,
        basic,
        basic_api,
        resource,
        key_client_id,
        client_key,
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
pub(crate) async fn obtain_tokens(
    fx: &Arc<Fixture>,
    count: usize,
    scope: &str,
    field: &str,
) -> Vec<String> {
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

pub(crate) fn pkce_pair() -> (String, String) {
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
pub(crate) async fn code_flow(conn: &mut Conn, fx: &Fixture, scope: &str) -> Result<Value, String> {
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

/// `Authorization: Basic` for a client (RFC 6749 §2.3.1: form-encoded id and secret).
fn basic_header(client_id: &str, client_secret: &str) -> String {
    format!(
        "Basic {}",
        STANDARD.encode(format!(
            "{}:{}",
            urlencode(client_id),
            urlencode(client_secret)
        ))
    )
}

impl Fixture {
    /// A fresh client assertion (RFC 7523 §3) of the key client for the token endpoint: a new
    /// `jti` each time (logi refuses a replay), valid for a minute.
    pub(crate) fn client_assertion(&self) -> String {
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_secs() as i64)
            .unwrap_or(0);
        let jti = URL_SAFE_NO_PAD.encode(rand_bytes());
        self.client_key.sign(
            &json!({"alg": "ES256", "kid": "bench-1", "typ": "JWT"}),
            &json!({"iss": self.key_client_id, "sub": self.key_client_id,
                    "aud": format!("http://{}", self.target.addr), "iat": now, "exp": now + 60,
                    "jti": jti}),
        )
    }
}

fn rand_bytes() -> [u8; 16] {
    let mut b = [0u8; 16];
    aws_lc_rs::rand::fill(&mut b).expect("system randomness");
    b
}

/// An account with TOTP enrolled (the second step of its logins).
pub(crate) struct TotpUser {
    pub(crate) email: String,
    pub(crate) secret: Vec<u8>,
}

/// `count` accounts, each signed up and with TOTP enrolled over HTTP as a person would (the
/// enrolment page, then its form with a code), created on `parallel` connections at once.
pub(crate) async fn totp_users(
    target: &Arc<Target>,
    tag: &str,
    count: usize,
    parallel: usize,
) -> Vec<TotpUser> {
    let mut tasks = Vec::new();
    for worker in 0..parallel.max(1) {
        let target = target.clone();
        let tag = tag.to_string();
        let share = (worker..count).step_by(parallel.max(1)).collect::<Vec<_>>();
        tasks.push(tokio::spawn(async move {
            let mut conn = Conn::new(target.addr);
            let mut users = Vec::with_capacity(share.len());
            for i in share {
                let email = format!("bench-totp-{}-{tag}-{i}@example.com", std::process::id());
                users.push(totp_user(&mut conn, &target, email).await);
            }
            users
        }));
    }
    let mut users = Vec::with_capacity(count);
    for task in tasks {
        users.extend(task.await.expect("a TOTP enrolment task panicked"));
    }
    users
}

/// Signs up `email` through the sign-up page and its form; returns the session cookie and the
/// CSRF pair (cookie, form token) of this browser.
async fn sign_up(
    conn: &mut Conn,
    target: &Target,
    email: &str,
    name: &str,
) -> (String, String, String) {
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
                ("email", email),
                ("password", PASSWORD),
                ("name", name),
                ("csrf_token", csrf_token.as_str()),
            ],
        ))
        .await
        .and_then(|r| r.expect(StatusCode::SEE_OTHER, "POST /signup"))
        .expect("sign-up");
    let session = signed_up
        .cookie("logi_session")
        .expect("sign-up sets the logi_session cookie");
    (session, csrf_cookie, csrf_token)
}

async fn totp_user(conn: &mut Conn, target: &Target, email: String) -> TotpUser {
    let (session, csrf_cookie, _) = sign_up(conn, target, &email, "").await;
    let cookies = format!("{session}; {csrf_cookie}");
    let page = conn
        .send(bodyless(
            target
                .get("/account/totp")
                .header(header::COOKIE, cookies.as_str()),
        ))
        .await
        .and_then(|r| r.expect(StatusCode::OK, "GET /account/totp"))
        .expect("the TOTP enrolment page");
    let html = page.text();
    let uri = html
        .split("data-otpauth-uri>")
        .nth(1)
        .and_then(|rest| rest.split('<').next())
        .expect("the otpauth URI on the enrolment page")
        .replace("&#x2f;", "/")
        .replace("&#x3d;", "=")
        .replace("&amp;", "&");
    let secret = url::Url::parse(&uri)
        .ok()
        .and_then(|u| {
            u.query_pairs()
                .find(|(k, _)| k == "secret")
                .map(|(_, v)| v.into_owned())
        })
        .and_then(|s| logi::accounts::totp::from_base32(&s))
        .expect("a base32 secret in the otpauth URI");
    let now = logi::clock::system_now();
    let code = logi::accounts::totp::code_at(&secret, logi::accounts::totp::step_at(now));
    conn.send(form(
        target
            .post("/account/totp")
            .header(header::COOKIE, cookies.as_str()),
        &[
            (
                "csrf_token",
                form_value(&html, "csrf_token").expect("csrf").as_str(),
            ),
            (
                "enrolment",
                form_value(&html, "enrolment").expect("enrolment").as_str(),
            ),
            ("code", code.as_str()),
        ],
    ))
    .await
    .and_then(|r| r.expect(StatusCode::OK, "POST /account/totp"))
    .expect("TOTP enrolment");
    TotpUser { email, secret }
}
