//! A Backend-for-Frontend for logi (docs/guides/bff.md): a confidential client that signs the
//! browser in with the authorization code flow + PKCE, keeps logi's tokens on the server and
//! gives the browser only an HttpOnly session cookie.
//!
//! Routes: `/` (the frontend), `/login` → logi → `/callback`, and the frontend's API
//! `/api/me`, `/api/userinfo` (refreshes on demand), `/api/refresh`, `/api/logout`.

mod logi;
mod sessions;

use std::{collections::HashMap, sync::Arc, time::Duration};

use axum::{
    extract::{Query, State},
    http::{header::SET_COOKIE, HeaderMap, StatusCode},
    response::{AppendHeaders, Html, IntoResponse, Redirect, Response},
    routing::{get, post},
    Json, Router,
};
use serde_json::{json, Value};

use crate::{
    logi::{fingerprint, Logi},
    sessions::{cookie, set_cookie, PendingLogin, Session, SharedSession, Store},
};

/// The frontend's API calls carry this header. A cross-site form cannot send it, and a
/// cross-site `fetch` that tries needs a CORS preflight this server never grants: together
/// with `SameSite=Lax` this is the BFF's CSRF defence.
const CSRF_HEADER: &str = "x-bff-csrf";
/// Refresh when the access token has less than this left.
const REFRESH_MARGIN: Duration = Duration::from_secs(60);

struct Config {
    issuer: String,
    client_id: String,
    client_secret: String,
    /// Where browsers reach this BFF, e.g. `https://app.example.com`.
    public_url: String,
    bind: String,
}

impl Config {
    fn from_env() -> Result<Self, String> {
        let var = |name: &str| std::env::var(name).map_err(|_| format!("set {name}"));
        let public_url = std::env::var("PUBLIC_URL")
            .unwrap_or_else(|_| "http://localhost:3000".into())
            .trim_end_matches('/')
            .to_string();
        Ok(Config {
            issuer: var("LOGI_ISSUER")?.trim_end_matches('/').to_string(),
            client_id: var("CLIENT_ID")?,
            client_secret: var("CLIENT_SECRET")?,
            bind: std::env::var("BIND").unwrap_or_else(|_| "127.0.0.1:3000".into()),
            public_url,
        })
    }
}

struct App {
    logi: Logi,
    store: Store,
    public_url: String,
    /// `Secure` cookies with the `__Host-` prefix when served over https.
    https: bool,
}

impl App {
    fn session_cookie(&self) -> &'static str {
        if self.https {
            "__Host-bff_session"
        } else {
            "bff_session"
        }
    }

    fn login_cookie(&self) -> &'static str {
        if self.https {
            "__Secure-bff_login"
        } else {
            "bff_login"
        }
    }
}

type Shared = State<Arc<App>>;

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    // reqwest's rustls uses the process-wide provider: aws-lc-rs.
    let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
    let config = Config::from_env()?;
    let logi = Logi::discover(
        &config.issuer,
        config.client_id,
        config.client_secret,
        format!("{}/callback", config.public_url),
    )
    .await?;
    let app = Arc::new(App {
        logi,
        store: Store::default(),
        https: config.public_url.starts_with("https://"),
        public_url: config.public_url,
    });
    let router = Router::new()
        .route("/", get(index))
        .route("/login", get(login))
        .route("/callback", get(callback))
        .route("/api/me", get(me))
        .route("/api/userinfo", get(userinfo))
        .route("/api/refresh", post(refresh))
        .route("/api/logout", post(logout))
        .with_state(app.clone());
    let listener = tokio::net::TcpListener::bind(&config.bind).await?;
    println!(
        "BFF listening on {} (open {})",
        listener.local_addr()?,
        app.public_url
    );
    axum::serve(listener, router)
        .with_graceful_shutdown(async {
            let _ = tokio::signal::ctrl_c().await;
        })
        .await?;
    Ok(())
}

async fn index() -> Html<&'static str> {
    Html(include_str!("../static/index.html"))
}

/// Starts a sign-in: PKCE verifier, state and nonce stay here; the browser gets a cookie naming
/// them and goes to logi.
async fn login(State(app): Shared) -> Response {
    let pending = PendingLogin::new();
    let url = app
        .logi
        .authorization_url(&pending.state, &pending.nonce, &pending.code_verifier);
    let id = app.store.begin_login(pending);
    let max_age = sessions::LOGIN_TIMEOUT.as_secs();
    let cookie = set_cookie(app.login_cookie(), &id, "/callback", max_age, app.https);
    (AppendHeaders([(SET_COOKIE, cookie)]), Redirect::to(&url)).into_response()
}

/// logi sends the browser back here with `code`, `state` and `iss` (or an `error`).
async fn callback(
    State(app): Shared,
    headers: HeaderMap,
    Query(query): Query<HashMap<String, String>>,
) -> Response {
    let pending = cookie(&headers, app.login_cookie()).and_then(|id| app.store.finish_login(id));
    let clear = set_cookie(app.login_cookie(), "", "/callback", 0, app.https);
    match complete_login(&app, pending, &query).await {
        Ok(session_id) => {
            let max_age = 12 * 3600;
            let session = set_cookie(app.session_cookie(), &session_id, "/", max_age, app.https);
            (
                AppendHeaders([(SET_COOKIE, clear), (SET_COOKIE, session)]),
                Redirect::to("/"),
            )
                .into_response()
        }
        Err(message) => {
            eprintln!("sign-in failed: {message}");
            let page = format!(
                "<!doctype html><title>Sign-in failed</title><h1>Sign-in failed</h1>\
                 <p id=\"error\">{}</p><p><a href=\"/\">Back</a></p>",
                html_escape(&message)
            );
            (
                StatusCode::BAD_REQUEST,
                AppendHeaders([(SET_COOKIE, clear)]),
                Html(page),
            )
                .into_response()
        }
    }
}

async fn complete_login(
    app: &App,
    pending: Option<PendingLogin>,
    query: &HashMap<String, String>,
) -> Result<String, String> {
    let pending = pending.ok_or("this sign-in was not started here, or took too long")?;
    if query.get("state") != Some(&pending.state) {
        return Err("the state does not match this sign-in".into());
    }
    // RFC 9207: the answer names who sent it, so a mix-up with another server shows.
    if query.get("iss") != Some(&app.logi.metadata.issuer) {
        return Err("the answer does not come from our issuer".into());
    }
    if let Some(error) = query.get("error") {
        let description = query.get("error_description").cloned().unwrap_or_default();
        return Err(format!("logi answered {error}: {description}"));
    }
    let code = query.get("code").ok_or("no code in the answer")?;
    let tokens = app
        .logi
        .exchange_code(code, &pending.code_verifier)
        .await
        .map_err(|e| format!("code exchange: {e}"))?;
    let id_token = tokens.id_token.clone().ok_or("no ID token")?;
    let user = app
        .logi
        .verify_id_token(&id_token, Some(&pending.nonce))
        .await
        .map_err(|e| e.to_string())?;
    Ok(app.store.create(Session::new(user, tokens, id_token)))
}

/// An API error as JSON; `401` tells the frontend to show "Sign in".
struct ApiError(StatusCode, String);

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        (self.0, Json(json!({ "error": self.1 }))).into_response()
    }
}

fn unauthorized() -> ApiError {
    ApiError(StatusCode::UNAUTHORIZED, "not signed in".into())
}

/// The session of an API call, after the CSRF check.
fn session_of(app: &App, headers: &HeaderMap) -> Result<(String, SharedSession), ApiError> {
    if headers.get(CSRF_HEADER).is_none() {
        return Err(ApiError(
            StatusCode::FORBIDDEN,
            format!("missing {CSRF_HEADER} header"),
        ));
    }
    let id = cookie(headers, app.session_cookie()).ok_or_else(unauthorized)?;
    let session = app.store.get(id).ok_or_else(unauthorized)?;
    Ok((id.to_string(), session))
}

fn describe(session: &Session) -> Value {
    let expires_in = session
        .access_token_expires
        .saturating_duration_since(std::time::Instant::now())
        .as_secs();
    json!({
        "user": session.user,
        "access_token_fingerprint": fingerprint(&session.access_token),
        "access_token_expires_in": expires_in,
        "has_refresh_token": session.refresh_token.is_some(),
        "refreshes": session.refreshes,
    })
}

async fn me(State(app): Shared, headers: HeaderMap) -> Result<Json<Value>, ApiError> {
    let (_, session) = session_of(&app, &headers)?;
    let session = session.lock().await;
    Ok(Json(describe(&session)))
}

/// Refreshes the session's tokens with logi (rotation: the new refresh token replaces the old).
/// A dead refresh token ends the session.
async fn refresh_session(app: &App, id: &str, session: &mut Session) -> Result<(), ApiError> {
    let Some(refresh_token) = session.refresh_token.clone() else {
        app.store.remove(id);
        return Err(unauthorized());
    };
    match app.logi.refresh(&refresh_token).await {
        Ok(tokens) => {
            if let Some(id_token) = &tokens.id_token {
                let user = app
                    .logi
                    .verify_id_token(id_token, None)
                    .await
                    .map_err(|e| ApiError(StatusCode::BAD_GATEWAY, e.to_string()))?;
                if user.sub != session.user.sub {
                    return Err(ApiError(StatusCode::BAD_GATEWAY, "subject changed".into()));
                }
            }
            session.refreshed(tokens);
            Ok(())
        }
        Err(e) if e.is_invalid_grant() => {
            app.store.remove(id);
            Err(unauthorized())
        }
        Err(e) => Err(ApiError(StatusCode::BAD_GATEWAY, e.to_string())),
    }
}

/// Calls logi's userinfo with the session's access token, refreshing it first when it is about
/// to expire: the browser never sees either token.
async fn userinfo(State(app): Shared, headers: HeaderMap) -> Result<Json<Value>, ApiError> {
    let (id, session) = session_of(&app, &headers)?;
    let mut session = session.lock().await;
    if session.expires_within(REFRESH_MARGIN) {
        refresh_session(&app, &id, &mut session).await?;
    }
    let claims = app
        .logi
        .userinfo(&session.access_token)
        .await
        .map_err(|e| ApiError(StatusCode::BAD_GATEWAY, e.to_string()))?;
    Ok(Json(
        json!({ "userinfo": claims, "session": describe(&session) }),
    ))
}

async fn refresh(State(app): Shared, headers: HeaderMap) -> Result<Json<Value>, ApiError> {
    let (id, session) = session_of(&app, &headers)?;
    let mut session = session.lock().await;
    refresh_session(&app, &id, &mut session).await?;
    Ok(Json(describe(&session)))
}

/// Ends the session here, revokes its refresh token at logi, and hands the frontend the URL
/// that ends the logi session too (RP-initiated logout) and comes back to `/`.
async fn logout(State(app): Shared, headers: HeaderMap) -> Result<Response, ApiError> {
    let (id, session) = session_of(&app, &headers)?;
    app.store.remove(&id);
    let session = session.lock().await;
    if let Some(refresh_token) = &session.refresh_token {
        if let Err(e) = app.logi.revoke(refresh_token).await {
            eprintln!("revocation failed: {e}");
        }
    }
    let home = format!("{}/", app.public_url);
    let logout_url = app.logi.end_session_url(&session.id_token, &home);
    let clear = set_cookie(app.session_cookie(), "", "/", 0, app.https);
    Ok((
        AppendHeaders([(SET_COOKIE, clear)]),
        Json(json!({ "logout_url": logout_url })),
    )
        .into_response())
}

fn html_escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}
