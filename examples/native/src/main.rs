//! A native (desktop or terminal) app that signs its user in with logi as RFC 8252 says: the
//! system browser, a loopback redirect on a port chosen at random for this sign-in, PKCE S256.
//! A public client: it has no secret, because any secret shipped inside an app is public.
//!
//! ```sh
//! LOGI_ISSUER=http://127.0.0.1:8080 CLIENT_ID=... cargo run -p logi-example-native
//! ```

mod oidc;

use std::{collections::HashMap, process::ExitCode, time::Duration};

use axum::{extract::Query, response::Html, routing::get, Router};
use tokio::{
    net::TcpListener,
    sync::{mpsc, oneshot},
};

use oidc::{random_string, Client, Error};

/// How long the user has to finish signing in in the browser.
const SIGN_IN_TIMEOUT: Duration = Duration::from_secs(300);

#[tokio::main]
async fn main() -> ExitCode {
    // reqwest's rustls uses the process-wide provider: aws-lc-rs.
    let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
    match sign_in().await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}

async fn sign_in() -> Result<(), Error> {
    let issuer = std::env::var("LOGI_ISSUER").map_err(|_| "set LOGI_ISSUER")?;
    let client_id = std::env::var("CLIENT_ID").map_err(|_| "set CLIENT_ID")?;
    let client = Client::discover(issuer.trim_end_matches('/'), client_id).await?;

    // RFC 8252 §7.3: listen on the loopback IP, on any free port. The application registers
    // `http://127.0.0.1/callback`; logi accepts any port of a loopback IP redirect URI.
    let listener = TcpListener::bind("127.0.0.1:0").await?;
    let redirect_uri = format!(
        "http://127.0.0.1:{}/callback",
        listener.local_addr()?.port()
    );
    let (state, nonce, code_verifier) = (random_string(), random_string(), random_string());
    let url = client.authorization_url(&redirect_uri, &state, &nonce, &code_verifier);

    println!("Opening your browser to sign in with logi. If it does not open, visit:\n\n  {url}\n");
    if let Err(e) = webbrowser::open(&url) {
        eprintln!("(could not open a browser: {e})");
    }
    let answer = tokio::time::timeout(SIGN_IN_TIMEOUT, receive_redirect(listener))
        .await
        .map_err(|_| "timed out waiting for the browser")??;

    if answer.get("state") != Some(&state) {
        return Err("the state does not match this sign-in".into());
    }
    // RFC 9207: the answer must come from the issuer we sent the user to.
    if answer.get("iss") != Some(&client.metadata.issuer) {
        return Err("the answer does not come from our issuer".into());
    }
    if let Some(error) = answer.get("error") {
        let description = answer.get("error_description").cloned().unwrap_or_default();
        return Err(format!("sign-in refused: {error}: {description}").into());
    }
    let code = answer.get("code").ok_or("no code in the answer")?;
    let tokens = client
        .exchange_code(code, &redirect_uri, &code_verifier)
        .await?;
    let id_token = tokens.id_token.as_deref().ok_or("no ID token")?;
    let claims = client.verify_id_token(id_token, &nonce).await?;
    let userinfo = client.userinfo(&tokens.access_token).await?;

    let email = userinfo["email"].as_str().unwrap_or("(no email)");
    println!("Signed in as {email} (sub {})", claims.sub);
    println!(
        "token_type {}, access token valid for {} s, refresh token: {}",
        tokens.token_type,
        tokens.expires_in,
        if tokens.refresh_token.is_some() {
            "yes (keep it in the OS keychain)"
        } else {
            "no"
        }
    );
    Ok(())
}

/// Serves `/callback` on the loopback listener until the browser arrives there once, and
/// returns the query it brought (`code`, `state`, `iss`, or `error`).
async fn receive_redirect(listener: TcpListener) -> Result<HashMap<String, String>, Error> {
    let (answer_tx, mut answer_rx) = mpsc::channel::<HashMap<String, String>>(1);
    let router = Router::new().route(
        "/callback",
        get(move |Query(query): Query<HashMap<String, String>>| {
            let answer_tx = answer_tx.clone();
            async move {
                let _ = answer_tx.try_send(query);
                Html(
                    "<!doctype html><title>Signed in</title>\
                     <h1>Back to the app</h1><p>You can close this window.</p>",
                )
            }
        }),
    );
    let (stop_tx, stop_rx) = oneshot::channel::<()>();
    let server = tokio::spawn(async move {
        axum::serve(listener, router)
            .with_graceful_shutdown(async {
                let _ = stop_rx.await;
            })
            .await
    });
    let answer = answer_rx
        .recv()
        .await
        .ok_or("the callback server stopped")?;
    // Stop listening: the port is single-use. In-flight responses (the page above) finish.
    let _ = stop_tx.send(());
    let _ = tokio::time::timeout(Duration::from_secs(5), server).await;
    Ok(answer)
}
