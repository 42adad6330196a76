//! A command-line tool that signs in with logi's device flow (RFC 8628): it shows a code, the
//! user allows it in any browser (another device is fine), and the CLI gets DPoP-bound tokens
//! (RFC 9449). The refresh token and its DPoP key live in a 0600 file.
//!
//! ```sh
//! export LOGI_ISSUER=http://127.0.0.1:8080 CLIENT_ID=...
//! logi-example-cli-device login    # device flow, then "Signed in as …"
//! logi-example-cli-device whoami   # refreshes (rotation) and calls userinfo
//! logi-example-cli-device logout   # revokes the refresh token, deletes the file
//! ```

mod credentials;
mod dpop;
mod logi;

use std::process::ExitCode;

use credentials::Credentials;
use dpop::DpopKey;
use logi::Logi;

pub type Error = Box<dyn std::error::Error + Send + Sync>;

const SCOPE: &str = "openid profile email offline_access";

#[tokio::main]
async fn main() -> ExitCode {
    // reqwest's rustls uses the process-wide provider: aws-lc-rs.
    let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
    let command = std::env::args().nth(1).unwrap_or_default();
    let result = match command.as_str() {
        "login" => login().await,
        "whoami" => whoami().await,
        "logout" => logout().await,
        _ => Err("usage: logi-example-cli-device login | whoami | logout".into()),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}

fn env(name: &str) -> Result<String, Error> {
    std::env::var(name).map_err(|_| format!("set {name}").into())
}

async fn login() -> Result<(), Error> {
    let issuer = env("LOGI_ISSUER")?.trim_end_matches('/').to_string();
    let logi = Logi::discover(&issuer, env("CLIENT_ID")?, DpopKey::generate()?).await?;
    let device = logi.start_device_flow(SCOPE).await?;
    println!("To sign in, visit {}", device.verification_uri);
    println!("and enter the code {}", device.user_code);
    if let Some(complete) = &device.verification_uri_complete {
        println!("(or open {complete})");
    }
    println!("Waiting for you to allow access…");
    let tokens = logi.poll(&device).await?;
    let refresh_token = tokens
        .refresh_token
        .clone()
        .ok_or("no refresh token: is the refresh_token grant registered?")?;
    credentials::save(&Credentials {
        issuer,
        client_id: logi.client_id.clone(),
        refresh_token,
        dpop_key: Credentials::encode_key(logi.dpop.pkcs8()),
    })?;
    show_user(&logi, &tokens).await?;
    println!("Credentials saved to {}", credentials::path()?.display());
    Ok(())
}

/// Signed-in commands start here: the stored refresh token buys a fresh access token, and its
/// successor replaces it in the file at once (the old one is dead after rotation).
async fn session() -> Result<(Logi, logi::Tokens), Error> {
    let stored = credentials::load()?.ok_or("not signed in: run `login` first")?;
    let key = DpopKey::from_pkcs8(&stored.dpop_key_pkcs8()?)?;
    let logi = Logi::discover(&stored.issuer, stored.client_id.clone(), key).await?;
    let tokens = logi.refresh(&stored.refresh_token).await?;
    let rotated = tokens
        .refresh_token
        .clone()
        .ok_or("logi returned no new refresh token")?;
    credentials::save(&Credentials {
        refresh_token: rotated,
        ..stored
    })?;
    Ok((logi, tokens))
}

async fn whoami() -> Result<(), Error> {
    let (logi, tokens) = session().await?;
    show_user(&logi, &tokens).await
}

async fn show_user(logi: &Logi, tokens: &logi::Tokens) -> Result<(), Error> {
    let user = logi.userinfo(&tokens.access_token).await?;
    println!(
        "Signed in as {} (token_type {})",
        user["email"].as_str().unwrap_or("(no email)"),
        tokens.token_type
    );
    Ok(())
}

async fn logout() -> Result<(), Error> {
    let Some(stored) = credentials::load()? else {
        println!("Not signed in.");
        return Ok(());
    };
    let key = DpopKey::from_pkcs8(&stored.dpop_key_pkcs8()?)?;
    let logi = Logi::discover(&stored.issuer, stored.client_id.clone(), key).await?;
    logi.revoke(&stored.refresh_token).await?;
    credentials::remove()?;
    println!("Signed out: the refresh token is revoked and the credentials file deleted.");
    Ok(())
}
