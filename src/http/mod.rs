//! The HTTP layer: axum only. One module per endpoint group, each with `router()`; shared
//! extractors in `extract`, errors in `error`, page rendering and CSRF in `pages`.

pub mod account;
pub mod account_page;
pub mod accounts;
pub mod console;
pub mod cors;
pub mod developer_api;
pub mod developer_apis;
pub mod device;
pub mod error;
pub mod extract;
pub mod forms;
pub mod mfa;
pub mod oauth;
pub mod oidc;
pub mod ops;
pub mod pages;
pub mod recovery;
pub mod render;

use std::{sync::Arc, time::Duration};

use axum::{
    extract::State,
    http::{header, HeaderName, HeaderValue, Request, StatusCode},
    response::{IntoResponse, Response},
    routing::get,
    Router,
};
use metrics_exporter_prometheus::PrometheusHandle;
use tower_http::{
    limit::RequestBodyLimitLayer,
    request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer},
    timeout::TimeoutLayer,
    trace::TraceLayer,
};

use crate::{
    accounts::{passkeys::Passkeys, passwords::PasswordHasherPool},
    clock::Clock,
    config::{brand::Brand, Config},
    crypto::ServerKeys,
    oauth::client_keys::KeySets,
    outbound::Outbound,
    store::Store,
};

/// Everything a handler may use. One `Arc`: axum clones the state for every request.
#[derive(Clone)]
pub struct AppState(Arc<Shared>);

pub struct Shared {
    pub config: Arc<Config>,
    pub store: Store,
    pub keys: Arc<ServerKeys>,
    pub hasher: PasswordHasherPool,
    pub metrics: PrometheusHandle,
    /// The signing keys, refreshed from the database every few seconds.
    pub keyring: Arc<crate::keys::KeyRing>,
    /// Where every handler reads "now" (the system clock, or a manual one in tests).
    pub clock: Clock,
    /// The HTTP client logi calls out with (back-channel logout deliveries, `jwks_uri`).
    pub outbound: Outbound,
    /// Key sets fetched from `private_key_jwt` clients' `jwks_uri`s, cached in this process.
    pub key_sets: KeySets,
    /// The WebAuthn relying party (off when the issuer's host is not a domain name).
    pub passkeys: Passkeys,
    /// Where the outbox worker sends mail (SMTP, or `.eml` files without `smtp_url`).
    pub mailer: crate::accounts::mail::Mailer,
    /// The product name, logo and accent stylesheet (`brand_*`), loaded once at start.
    pub brand: Brand,
    /// What the pages link to of `brand`.
    pub page_brand: Arc<render::PageBrand>,
}

impl std::ops::Deref for AppState {
    type Target = Shared;
    fn deref(&self) -> &Shared {
        &self.0
    }
}

impl AppState {
    /// What account notices need (`accounts::manage::notify`).
    pub fn mailing(&self) -> crate::accounts::manage::Mailing<'_> {
        crate::accounts::manage::Mailing {
            keys: &self.keys,
            issuer: &self.config.issuer,
        }
    }

    /// Queues an account notice mail to `user` now (`accounts::manage::notify`).
    pub async fn notify(
        &self,
        user: &crate::store::users::User,
        notice: crate::accounts::manage::Notice,
    ) -> crate::store::Result<()> {
        let now = self.clock.now();
        crate::accounts::manage::notify(&self.store, self.mailing(), user, notice, now).await
    }

    pub fn new(
        config: Config,
        store: Store,
        keys: ServerKeys,
        keyring: Arc<crate::keys::KeyRing>,
        clock: Clock,
        outbound: Outbound,
        brand: Brand,
    ) -> Self {
        // The configuration was validated at start, so this fails only for a hand-built
        // `Config`; mail then goes to files, which is the development behaviour.
        let mailer = crate::accounts::mail::Mailer::new(&config).unwrap_or_else(|e| {
            tracing::error!(error = %e, "mail: falling back to .eml files in data_dir/outbox");
            let fallback = Config {
                smtp_url: Default::default(),
                mail_from: Config::default().mail_from,
                ..config.clone()
            };
            crate::accounts::mail::Mailer::new(&fallback)
                .expect("the default mail settings are valid")
        });
        AppState(Arc::new(Shared {
            passkeys: Passkeys::from_config(&config),
            config: Arc::new(config),
            store,
            keys: Arc::new(keys),
            hasher: PasswordHasherPool::new(PasswordHasherPool::default_threads()),
            metrics: ops::prometheus(),
            keyring,
            clock,
            key_sets: KeySets::new(outbound.clone()),
            outbound,
            mailer,
            page_brand: Arc::new(render::PageBrand::of(&brand)),
            brand,
        }))
    }
}

const REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

/// The whole application with its middleware.
pub fn router(state: AppState) -> Router {
    let max_body = state.config.max_body_bytes;
    let timeout = Duration::from_secs(state.config.request_timeout_seconds);
    Router::new()
        .merge(accounts::router())
        .merge(account::router())
        .merge(mfa::router())
        .merge(recovery::router())
        .merge(account_page::router())
        .merge(developer_api::router())
        .merge(developer_apis::router())
        .merge(console::router())
        .merge(oauth::router())
        .merge(oidc::router())
        .merge(device::router())
        .merge(ops::router())
        .route("/assets/logi.css", get(pages::stylesheet))
        .route("/assets/passkeys.js", get(pages::passkey_script))
        .route("/assets/console.js", get(pages::console_script))
        .route("/favicon.ico", get(pages::favicon))
        .route(render::BRAND_STYLESHEET_PATH, get(brand_stylesheet))
        .route(render::BRAND_LOGO_PATH, get(brand_logo))
        .fallback(not_found)
        .route_layer(axum::middleware::from_fn(ops::track))
        .layer(axum::extract::DefaultBodyLimit::max(max_body))
        .layer(RequestBodyLimitLayer::new(max_body))
        .layer(TimeoutLayer::with_status_code(StatusCode::REQUEST_TIMEOUT, timeout))
        .layer(axum::middleware::from_fn_with_state(state.clone(), page_scope))
        .layer(PropagateRequestIdLayer::new(REQUEST_ID))
        .layer(TraceLayer::new_for_http().make_span_with(|req: &Request<_>| {
            let id = req.headers().get(&REQUEST_ID).and_then(|v| v.to_str().ok()).unwrap_or("-");
            tracing::info_span!("request", method = %req.method(), path = %req.uri().path(), request_id = %id)
        }))
        .layer(SetRequestIdLayer::new(REQUEST_ID, MakeRequestUuid))
        .with_state(state)
}

/// Middleware (one for both, as it runs on every request): the pages of this request show this
/// server's brand, and its error pages the request id (set by the outer `SetRequestIdLayer`).
async fn page_scope(
    State(state): State<AppState>,
    request: axum::extract::Request,
    next: axum::middleware::Next,
) -> Response {
    let id = request
        .headers()
        .get(&REQUEST_ID)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("-")
        .to_string();
    render::scoped(state.page_brand.clone(), id, next.run(request)).await
}

/// A brand asset: the pages link it with `?v=<hash of its content>`, so it may be cached for a
/// year. Its own CSP keeps an SVG opened directly from running scripts in logi's origin.
fn brand_asset(body: Vec<u8>, content_type: &'static str) -> Response {
    let mut r = body.into_response();
    let h = r.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    h.insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("public, max-age=31536000, immutable"),
    );
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static("default-src 'none'; style-src 'unsafe-inline'; sandbox"),
    );
    r
}

/// `/assets/brand.css`: the accent override (`brand_accent`); 404 without one.
async fn brand_stylesheet(State(state): State<AppState>) -> Result<Response, error::PageError> {
    match &state.brand.stylesheet {
        Some(sheet) => Ok(brand_asset(
            sheet.css.clone().into_bytes(),
            "text/css; charset=utf-8",
        )),
        None => Err(not_found().await),
    }
}

/// `/assets/brand-logo`: the file of `brand_logo_path`, read at start; 404 without one.
async fn brand_logo(State(state): State<AppState>) -> Result<Response, error::PageError> {
    match &state.brand.logo {
        Some(logo) => Ok(brand_asset(logo.bytes.clone(), logo.content_type)),
        None => Err(not_found().await),
    }
}

async fn not_found() -> error::PageError {
    error::PageError::new(
        StatusCode::NOT_FOUND,
        "Not found",
        "There is no page at this address.",
    )
}
