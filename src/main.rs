//! The `logi` binary: parse the command line, load configuration, set up logging, run.

use std::{io::BufRead, process::ExitCode};

use clap::{Parser, Subcommand};
use logi::{accounts, config::Config, crypto, server, store};

#[derive(Parser)]
#[command(
    name = "logi",
    version,
    about = "An OAuth 2.0 / OpenID Connect authorization server"
)]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Subcommand)]
enum Command {
    /// Serve HTTP (the default): applies migrations first.
    Serve,
    /// Apply database migrations and exit.
    Migrate,
    /// Manage end-user accounts.
    User {
        #[command(subcommand)]
        command: UserCommand,
    },
    /// Manage signing keys.
    Keys {
        #[command(subcommand)]
        command: KeysCommand,
    },
    /// Review registered applications (operators).
    Apps {
        #[command(subcommand)]
        command: AppsCommand,
    },
}

#[derive(Subcommand)]
enum AppsCommand {
    /// List every application: client_id, name, owner email, verified (tab-separated).
    List,
    /// Mark an application verified: its authorization errors are then redirected to it even
    /// before anyone signs in (RFC 9700 §4.11.2).
    Verify {
        /// A client_id may start with `-` (it is base64url): taken as the value, not a flag.
        #[arg(allow_hyphen_values = true)]
        client_id: String,
    },
    /// Withdraw the verification.
    Unverify {
        #[arg(allow_hyphen_values = true)]
        client_id: String,
    },
}

#[derive(Subcommand)]
enum KeysCommand {
    /// Start a rotation: publish the next key of every algorithm now; it signs after
    /// `key_activation_delay_seconds`, and the old one leaves the JWKS once its tokens expired.
    Rotate,
    /// List signing keys and their state (next, current, retired, expired).
    List,
}

#[derive(Subcommand)]
enum UserCommand {
    /// Create an account. The password is read from LOGI_USER_PASSWORD or the first line of stdin.
    Create {
        /// The account's email address (what the person signs in with).
        #[arg(long)]
        email: String,
        /// The person's name (optional; shown in ID tokens as `name`).
        #[arg(long, default_value = "")]
        name: String,
    },
    /// List every account: id, email, name, flags (disabled), created (tab-separated).
    List,
    /// Disable an account: it cannot sign in, its sessions end and its tokens stop working.
    Disable {
        #[arg(long)]
        email: String,
    },
    /// Enable a disabled account again (sign-in only: old sessions and tokens stay revoked).
    Enable {
        #[arg(long)]
        email: String,
    },
    /// Lift the failed-login lockout of an account.
    Unlock {
        #[arg(long)]
        email: String,
    },
    /// Remove every second factor of an account (TOTP, recovery codes, passkeys), e.g. after a
    /// lost phone: sign-in asks for the password only until the person adds one again.
    ResetMfa {
        #[arg(long)]
        email: String,
    },
    /// Delete an account, ending its sessions and revoking its tokens.
    Delete {
        #[arg(long)]
        email: String,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let config = match Config::load() {
        Ok(c) => c,
        Err(e) => {
            eprintln!("logi: {e}");
            return ExitCode::from(2);
        }
    };
    init_tracing(&config);
    for warning in config.warnings() {
        tracing::warn!("{warning}");
    }
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            eprintln!("logi: cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let result = runtime.block_on(run(cli.command.unwrap_or(Command::Serve), config));
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            // Once: to stderr (the log, when serving, goes there too).
            eprintln!("logi: {e}");
            ExitCode::FAILURE
        }
    }
}

async fn run(command: Command, config: Config) -> Result<(), Box<dyn std::error::Error>> {
    match command {
        Command::Serve => {
            let bind = config.bind.clone();
            let issuer = config.issuer.clone();
            let state = server::prepare(config).await?;
            let listener = server::bind(&bind).await?;
            tracing::info!(%bind, %issuer, backend = ?state.store.backend, "logi is serving");
            server::serve(state, listener, server::shutdown_signal()).await?;
        }
        Command::Migrate => {
            let acquire = std::time::Duration::from_millis(config.database_acquire_timeout_ms);
            let store = store::Store::connect(&config.database_url, 1, acquire).await?;
            store.migrate().await?;
            println!("migrations applied");
        }
        Command::Keys { command } => {
            let state = server::prepare(config).await?;
            let now = logi::clock::system_now();
            if let KeysCommand::Rotate = command {
                for row in logi::keys::rotate(&state.store, &state.keys, &state.config, now).await?
                {
                    println!(
                        "published {} {} (signs from {})",
                        row.alg, row.kid, row.activates_at
                    );
                }
            }
            println!(
                "{:<18} {:<6} {:<8} {:>12} {:>12} {:>12}",
                "kid", "alg", "state", "created", "activates", "expires"
            );
            for k in logi::keys::list(&state.store, now).await? {
                let expires = k
                    .expires_at
                    .map(|e| e.to_string())
                    .unwrap_or_else(|| "-".into());
                println!(
                    "{:<18} {:<6} {:<8} {:>12} {:>12} {:>12}",
                    k.kid, k.alg, k.state, k.created_at, k.activates_at, expires
                );
            }
        }
        Command::Apps { command } => apps(command, &config).await?,
        Command::User {
            command: UserCommand::Create { email, name },
        } => create_user(email, name, config).await?,
        Command::User { command } => user(command, config).await?,
    }
    Ok(())
}

async fn create_user(
    email: String,
    name: String,
    config: Config,
) -> Result<(), Box<dyn std::error::Error>> {
    let email = accounts::parse_email(&email).ok_or("not a valid email address")?;
    let password = match std::env::var("LOGI_USER_PASSWORD") {
        Ok(p) => p,
        Err(_) => {
            eprintln!("password (one line on stdin):");
            let mut line = String::new();
            std::io::stdin().lock().read_line(&mut line)?;
            line.trim_end_matches(['\r', '\n']).to_string()
        }
    };
    accounts::check_new_password(&password)?;
    // Run in another folder, the default ./data would be a new, empty logi: say so.
    if let Some(path) = store::new_sqlite_file(&config.database_url) {
        eprintln!(
            "logi: warning: there is no database at {} yet; creating a new one (with its \
             own master key). If your logi runs elsewhere, run this command in its \
             folder or set LOGI_DATABASE_URL.",
            path.display()
        );
    }
    let state = server::prepare(config).await?;
    let hash = state.hasher.hash(password).await?;
    let t = logi::clock::system_now();
    let user = store::users::User {
        id: format!("usr_{}", crypto::random_token(16)),
        email,
        password_hash: hash,
        name,
        created_at: t,
        updated_at: t,
        email_verified: 0,
        disabled: 0,
    };
    store::users::insert(&state.store, &user)
        .await
        .map_err(|e| {
            if e.is_unique_violation() {
                "an account with this email already exists".to_string()
            } else {
                e.to_string()
            }
        })?;
    println!("{}", user.id);
    Ok(())
}

/// `logi user list|disable|enable|unlock|reset-mfa|delete`: through the store, whose writes tell
/// every serving process (see `store::cache`); notices go to the mail outbox, which a serving
/// logi delivers.
async fn user(command: UserCommand, config: Config) -> Result<(), Box<dyn std::error::Error>> {
    let state = server::prepare(config).await?;
    let store = &state.store;
    let now = logi::clock::system_now();
    let (email, verb) = match command {
        UserCommand::List => {
            println!("id\temail\tname\tflags\tcreated");
            for u in store::users::list_all(store).await? {
                let flags = if u.disabled != 0 { "disabled" } else { "-" };
                println!(
                    "{}\t{}\t{}\t{flags}\t{}",
                    u.id, u.email, u.name, u.created_at
                );
            }
            return Ok(());
        }
        UserCommand::Create { .. } => return Err("create is handled elsewhere".into()),
        UserCommand::Disable { email } => (email, "disabled"),
        UserCommand::Enable { email } => (email, "enabled"),
        UserCommand::Unlock { email } => (email, "unlocked"),
        UserCommand::ResetMfa { email } => (email, "second factors removed"),
        UserCommand::Delete { email } => (email, "deleted"),
    };
    let email = accounts::parse_email(&email).ok_or("not a valid email address")?;
    let user = store::users::by_email(store, &email)
        .await?
        .ok_or_else(|| format!("no account has the email {email}"))?;
    let mailing = accounts::manage::Mailing {
        keys: &state.keys,
        issuer: &state.config.issuer,
    };
    match verb {
        "disabled" => {
            accounts::manage::disable(store, mailing, &user, now).await?;
        }
        "enabled" => {
            accounts::manage::enable(store, &user.id, now).await?;
        }
        "unlocked" => {
            accounts::manage::unlock(store, &email).await?;
        }
        "second factors removed" => {
            accounts::manage::reset_second_factors(store, mailing, &user, now).await?;
        }
        _ => {
            accounts::manage::delete(store, mailing, &user, now).await?;
        }
    }
    println!("{email} {verb}");
    Ok(())
}

async fn apps(command: AppsCommand, config: &Config) -> Result<(), Box<dyn std::error::Error>> {
    let acquire = std::time::Duration::from_millis(config.database_acquire_timeout_ms);
    let store = store::Store::connect(&config.database_url, 1, acquire).await?;
    store.migrate().await?;
    let (client_id, verified) = match command {
        AppsCommand::List => {
            println!("client_id\tname\towner_email\tverified");
            for a in store::applications::list_all(&store).await? {
                let verified = if a.verified { "yes" } else { "no" };
                println!(
                    "{}\t{}\t{}\t{verified}",
                    a.client_id, a.client_name, a.owner_email
                );
            }
            return Ok(());
        }
        AppsCommand::Verify { client_id } => (client_id, true),
        AppsCommand::Unverify { client_id } => (client_id, false),
    };
    let now = logi::clock::system_now();
    if !store::applications::set_verified(&store, &client_id, verified, now).await? {
        return Err(format!("no application has client_id {client_id}").into());
    }
    tracing::info!(target: "logi::security", %client_id, verified, "application verification changed");
    println!(
        "{client_id} {}",
        if verified { "verified" } else { "unverified" }
    );
    Ok(())
}

fn init_tracing(config: &Config) {
    use tracing_subscriber::{fmt, EnvFilter};
    let filter =
        EnvFilter::try_from_env("LOGI_LOG").unwrap_or_else(|_| EnvFilter::new("info,sqlx=warn"));
    if config.log_format == "json" {
        fmt()
            .json()
            .with_writer(std::io::stderr)
            .with_env_filter(filter)
            .with_current_span(true)
            .init();
    } else {
        fmt()
            .with_writer(std::io::stderr)
            .with_env_filter(filter)
            .init();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_client_id_that_starts_with_a_hyphen_is_a_value() {
        for verb in ["verify", "unverify"] {
            let cli = Cli::try_parse_from(["logi", "apps", verb, "-Xy_z"]).expect("parses");
            match cli.command {
                Some(Command::Apps {
                    command: AppsCommand::Verify { client_id } | AppsCommand::Unverify { client_id },
                }) => assert_eq!(client_id, "-Xy_z"),
                _ => panic!("{verb}: not an apps command"),
            }
        }
    }
}
