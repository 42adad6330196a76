//! Wiring: open the store, migrate, build the app, serve until a shutdown signal.

pub mod conn;
pub mod outbox;

use std::{future::Future, time::Duration};

use tokio::net::TcpListener;

use crate::{
    clock::{self, Clock},
    config::Config,
    crypto::ServerKeys,
    http::{self, AppState},
    store::Store,
};

#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error(transparent)]
    Store(#[from] crate::store::StoreError),
    #[error(transparent)]
    Keys(#[from] crate::keys::KeyError),
    #[error(transparent)]
    MasterKey(#[from] crate::crypto::MasterKeyError),
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        addr: String,
        source: std::io::Error,
    },
    #[error("server: {0}")]
    Serve(std::io::Error),
    #[error("{0}")]
    Outbound(String),
    #[error(transparent)]
    Config(#[from] crate::config::ConfigError),
}

/// Opens the database, applies migrations and builds the shared state, on the system clock.
pub async fn prepare(config: Config) -> Result<AppState, StartError> {
    prepare_with_clock(config, Clock::system()).await
}

/// [`prepare`] with a given clock (tests pass a manual one).
pub async fn prepare_with_clock(config: Config, clock: Clock) -> Result<AppState, StartError> {
    // The logo is read here, once (`Config::load` checked it already when logi started).
    let brand = crate::config::brand::Brand::load(&config)?;
    let store = Store::connect(
        &config.database_url,
        config.database_max_connections,
        Duration::from_millis(config.database_acquire_timeout_ms),
    )
    .await?;
    store.migrate().await?;
    // A master key is generated only for a database without signing keys, and must decrypt
    // every key the database holds.
    let has_keys = !crate::store::keys::all(&store).await?.is_empty();
    let keys = ServerKeys::load(&config, !has_keys)?;
    crate::keys::check_master_key(&store, &keys).await?;
    let keyring = crate::keys::KeyRing::load(&store, &keys, clock.now()).await?;
    let outbound = crate::outbound::Outbound::new(&config).map_err(StartError::Outbound)?;
    Ok(AppState::new(
        config,
        store,
        keys,
        std::sync::Arc::new(keyring),
        clock,
        outbound,
        brand,
    ))
}

/// Serves `state` on `listener` until `shutdown` resolves, then finishes in-flight requests for
/// at most `shutdown_timeout_seconds` (see [`conn`] for the connection limits).
pub async fn serve(
    state: AppState,
    listener: TcpListener,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), StartError> {
    spawn_housekeeping(state.clone());
    spawn_key_refresh(state.clone());
    if state.store.backend == crate::store::Backend::Postgres {
        spawn_change_listener(state.clone());
    }
    let config = &state.config;
    let limits = conn::Limits {
        header_read_timeout: Duration::from_secs(config.header_read_timeout_seconds),
        idle_timeout: Duration::from_secs(config.idle_timeout_seconds),
        max_connections: match config.max_connections {
            0 => conn::default_max_connections(config.database_max_connections),
            n => n,
        },
        shutdown_timeout: Duration::from_secs(config.shutdown_timeout_seconds),
    };
    tracing::debug!(?limits, "connection limits");
    // The outbox worker stops with the server: it finishes the batch in hand (each delivery
    // bounded by `outbound_timeout_ms`), and whatever it had not claimed waits in the database.
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let worker = outbox::spawn(state.clone(), stop_rx);
    let shutdown = async move {
        shutdown.await;
        let _ = stop_tx.send(true);
    };
    let shutdown_timeout = limits.shutdown_timeout;
    conn::serve_with_limits(http::router(state), listener, limits, shutdown).await;
    tokio::select! {
        _ = worker => {},
        _ = clock::pause(shutdown_timeout) => tracing::warn!("the outbox worker did not stop in time"),
    }
    Ok(())
}

pub async fn bind(addr: &str) -> Result<TcpListener, StartError> {
    TcpListener::bind(addr)
        .await
        .map_err(|source| StartError::Bind {
            addr: addr.to_string(),
            source,
        })
}

/// Resolves on SIGTERM or Ctrl-C.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! { _ = ctrl_c => {}, _ = term => {} }
    tracing::info!("shutdown signal received: finishing in-flight requests");
}

/// Follows key rotations made by any process (or `logi keys rotate`) within seconds, and starts
/// the automatic rotation when it is due.
fn spawn_key_refresh(state: AppState) {
    tokio::spawn(async move {
        let period = std::time::Duration::from_secs(state.config.key_refresh_interval_seconds);
        let mut tick = tokio::time::interval(period);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut last_rotation_check = 0i64;
        // Checked once a minute, or more often when the period itself is shorter.
        let rotation_check_every = (state.config.key_rotation_period_seconds as i64).clamp(1, 60);
        loop {
            tick.tick().await;
            let now = state.clock.now();
            if now - last_rotation_check >= rotation_check_every {
                last_rotation_check = now;
                if let Err(e) =
                    crate::keys::rotate_if_due(&state.store, &state.keys, &state.config, now).await
                {
                    tracing::warn!(error = %e, "automatic key rotation failed");
                }
            }
            if let Err(e) = state.keyring.refresh(&state.store, &state.keys, now).await {
                tracing::warn!(error = %e, "key refresh failed");
            }
            if let Err(e) = crate::store::cache::check_version(&state.store).await {
                tracing::warn!(error = %e, "cache version check failed");
            }
        }
    });
}

/// PostgreSQL: clears the application cache as soon as another process changes an application.
fn spawn_change_listener(state: AppState) {
    tokio::spawn(async move {
        loop {
            let listener = async {
                let mut l = sqlx::postgres::PgListener::connect(&state.config.database_url).await?;
                l.listen(crate::store::cache::CHANNEL).await?;
                Ok::<_, sqlx::Error>(l)
            };
            match listener.await {
                Ok(mut l) => {
                    // A (re)connected listener may have missed notifications: start clean.
                    state.store.caches.clear();
                    loop {
                        match l.try_recv().await {
                            Ok(Some(n)) => state.store.caches.apply_notification(n.payload()),
                            Ok(None) => state.store.caches.clear(), // connection lost, reconnected
                            Err(e) => {
                                tracing::warn!(error = %e, "change listener failed");
                                break;
                            }
                        }
                    }
                }
                Err(e) => tracing::warn!(error = %e, "cannot listen for changes"),
            }
            state.store.caches.clear();
            clock::pause(std::time::Duration::from_secs(1)).await;
        }
    });
}

/// Periodic cleanup of expired rows.
fn spawn_housekeeping(state: AppState) {
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(std::time::Duration::from_secs(600));
        loop {
            tick.tick().await;
            if let Err(e) = crate::store::delete_expired(&state.store, state.clock.now()).await {
                tracing::warn!(error = %e, "housekeeping failed");
            }
        }
    });
}
