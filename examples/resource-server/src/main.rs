//! A protected API (resource server) for logi's access tokens: every request's token is
//! validated offline against logi's JWKS (RFC 9068), its audience must be this API's
//! identifier, its scope must hold the scope the API requires, and a DPoP-bound token must come
//! with a proof from its key (RFC 9449). logi is asked nothing per request.
//!
//! ```sh
//! LOGI_ISSUER=http://127.0.0.1:8080 API_AUDIENCE=https://notes.example.com \
//! REQUIRED_SCOPE=notes:read PUBLIC_URL=http://127.0.0.1:4000 cargo run -p logi-example-resource-server
//! ```

mod access_token;
mod dpop;
mod problem;

use std::{sync::Arc, time::Duration};

use axum::{
    extract::State,
    http::{header::AUTHORIZATION, HeaderMap, Method},
    routing::get,
    Json, Router,
};
use serde::Deserialize;
use serde_json::{json, Value};

use access_token::{AccessClaims, Validator};
use dpop::ReplayCache;
use problem::Problem;

struct Api {
    validator: Validator,
    replays: ReplayCache,
    /// Where clients reach this API: the `htu` of their DPoP proofs starts with it.
    public_url: String,
    required_scope: String,
}

#[derive(Deserialize)]
struct Discovery {
    issuer: String,
    jwks_uri: String,
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    // reqwest's rustls uses the process-wide provider: aws-lc-rs.
    let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
    let var = |name: &str| std::env::var(name).map_err(|_| format!("set {name}"));
    let issuer = var("LOGI_ISSUER")?.trim_end_matches('/').to_string();
    // The API's identifier as registered with logi: the `aud` of the tokens meant for it.
    let audience = var("API_AUDIENCE")?;
    let required_scope = std::env::var("REQUIRED_SCOPE").unwrap_or_else(|_| "notes:read".into());
    let bind = std::env::var("BIND").unwrap_or_else(|_| "127.0.0.1:4000".into());
    let public_url = std::env::var("PUBLIC_URL")
        .unwrap_or_else(|_| format!("http://{bind}"))
        .trim_end_matches('/')
        .to_string();

    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .build()?;
    let discovery: Discovery = http
        .get(format!("{issuer}/.well-known/openid-configuration"))
        .send()
        .await?
        .error_for_status()?
        .json()
        .await?;
    if discovery.issuer != issuer {
        return Err(format!("discovery names issuer {}", discovery.issuer).into());
    }
    let validator = Validator::new(http, issuer, audience, discovery.jwks_uri).await?;
    let api = Arc::new(Api {
        validator,
        replays: ReplayCache::default(),
        public_url,
        required_scope,
    });
    let router = Router::new()
        .route("/notes", get(notes))
        .route("/healthz", get(|| async { "ok" }))
        .with_state(api.clone());
    let listener = tokio::net::TcpListener::bind(&bind).await?;
    println!(
        "API listening on {} ({})",
        listener.local_addr()?,
        api.public_url
    );
    axum::serve(listener, router)
        .with_graceful_shutdown(async {
            let _ = tokio::signal::ctrl_c().await;
        })
        .await?;
    Ok(())
}

/// The protected resource.
async fn notes(
    State(api): State<Arc<Api>>,
    method: Method,
    headers: HeaderMap,
) -> Result<Json<Value>, Problem> {
    let (claims, scheme) = authorize(&api, &method, &headers, "/notes").await?;
    Ok(Json(json!({
        "sub": claims.sub,
        "client_id": claims.client_id,
        "scope": claims.scope,
        "token_jti": claims.jti,
        "scheme": scheme,
        "notes": ["Buy milk", "Rotate the client secret"],
    })))
}

/// The request's access token, validated, with the scheme it came with.
async fn authorize(
    api: &Api,
    method: &Method,
    headers: &HeaderMap,
    path: &str,
) -> Result<(AccessClaims, &'static str), Problem> {
    let authorization = headers
        .get(AUTHORIZATION)
        .ok_or_else(Problem::missing)?
        .to_str()
        .map_err(|_| Problem::invalid_request("unreadable Authorization header"))?;
    let (scheme, token) = authorization
        .split_once(' ')
        .ok_or_else(|| Problem::invalid_request("expected Authorization: DPoP or Bearer"))?;
    let token = token.trim();
    let proofs: Vec<&str> = headers
        .get_all("dpop")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .collect();
    let (claims, scheme) = if scheme.eq_ignore_ascii_case("dpop") {
        let [proof] = proofs[..] else {
            return Err(Problem::invalid_dpop_proof("send exactly one DPoP proof"));
        };
        let claims = api.validator.validate(token).await?;
        let url = format!("{}{path}", api.public_url);
        let jkt = dpop::verify(proof, method.as_str(), &url, token, &api.replays)?;
        match &claims.cnf {
            Some(cnf) if cnf.jkt == jkt => {}
            Some(_) => return Err(Problem::invalid_token("the token is bound to another key")),
            None => {
                return Err(Problem::invalid_token(
                    "not DPoP-bound: present it as Bearer",
                ))
            }
        }
        (claims, "DPoP")
    } else if scheme.eq_ignore_ascii_case("bearer") {
        let claims = api.validator.validate(token).await?;
        // RFC 9449 §7.2: a bound token presented as a plain bearer token is refused.
        if claims.cnf.is_some() {
            return Err(Problem::invalid_token(
                "this token is DPoP-bound: present it with Authorization: DPoP and a proof",
            ));
        }
        (claims, "Bearer")
    } else {
        return Err(Problem::invalid_request(
            "expected Authorization: DPoP or Bearer",
        ));
    };
    if !claims.has_scope(&api.required_scope) {
        return Err(Problem::insufficient_scope(&api.required_scope));
    }
    Ok((claims, scheme))
}
