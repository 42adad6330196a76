//! The outbox worker: delivers what `store::outbox` holds (back-channel logout tokens, end-user
//! mail), in every process, until the server stops.
//!
//! Each round claims due rows with a lease (so processes sharing a database never deliver one
//! row at the same time), delivers the batch concurrently (each delivery bounded by
//! `outbound_timeout_ms`), and settles every row: delivered on 2xx; otherwise retried after
//! a delay that doubles from [`FIRST_RETRY_SECONDS`] up to `outbox_max_backoff_seconds`, until
//! `outbox_max_attempts` attempts, after which it is given up and recorded as such. A new
//! batch is claimed only when the previous one is settled, so within one process a lease can
//! never run out under a delivery still in flight.
//!
//! The worker wakes when this process queues something, and otherwise every
//! `outbox_poll_interval_ms` (for rows due later, or queued by other processes). On shutdown
//! it finishes the batch in hand and stops; rows it had not claimed wait for the next process.
//! Time decisions (what is due, when to retry) read the application's [`crate::clock::Clock`],
//! so tests move it instead of waiting; only the poll interval is real time.

use std::time::Duration;

use tokio::{sync::watch, task::JoinSet};

use crate::{
    accounts::{mail, sessions::SESSION_ENDED},
    clock,
    crypto::random_token,
    http::AppState,
    oidc::backchannel::{self, Outcome},
    store::{self, outbox::Item},
};

/// The first wait after a failed attempt; each further failure doubles it.
pub const FIRST_RETRY_SECONDS: i64 = 10;
/// Rows claimed (and delivered concurrently) per round.
const BATCH: i64 = 16;

/// The wait after the `attempts`-th failed attempt: 10 s, 20 s, 40 s, … at most `cap`.
pub fn retry_delay(attempts: i64, cap: u64) -> i64 {
    let cap = i64::try_from(cap).unwrap_or(i64::MAX);
    let doublings = u32::try_from(attempts.saturating_sub(1).clamp(0, 40)).unwrap_or(40);
    FIRST_RETRY_SECONDS
        .saturating_mul(1i64 << doublings)
        .min(cap)
        .max(1)
}

/// Starts the worker; it returns once `stop` turns true (or its sender is gone).
pub(super) fn spawn(
    state: AppState,
    mut stop: watch::Receiver<bool>,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let owner = random_token(12);
        let poll = Duration::from_millis(state.config.outbox_poll_interval_ms);
        loop {
            if *stop.borrow() {
                break;
            }
            drain(&state, &owner, &stop).await;
            tokio::select! {
                changed = stop.changed() => if changed.is_err() { break },
                _ = store::outbox::queued(&state.store) => {},
                _ = clock::pause(poll) => {},
            }
        }
    })
}

/// Claims and delivers batches until nothing is due (or the server stops).
async fn drain(state: &AppState, owner: &str, stop: &watch::Receiver<bool>) {
    // Longer than any delivery can take, so a lease outlives the attempt it covers.
    let lease = i64::try_from(state.config.outbound_timeout_ms / 1000).unwrap_or(0) + 60;
    loop {
        let now = state.clock.now();
        let items = match store::outbox::claim(&state.store, owner, now, lease, BATCH).await {
            Ok(items) => items,
            Err(e) => {
                tracing::warn!(error = %e, "outbox: cannot claim deliveries");
                return;
            }
        };
        let full = items.len() as i64 == BATCH;
        let mut batch = JoinSet::new();
        for item in items {
            let (state, owner) = (state.clone(), owner.to_string());
            batch.spawn(async move { attempt(&state, &owner, item).await });
        }
        while batch.join_next().await.is_some() {}
        if !full || *stop.borrow() {
            return;
        }
    }
}

/// One attempt of one claimed row, and its settlement.
async fn attempt(state: &AppState, owner: &str, item: Item) {
    let max_attempts = i64::from(state.config.outbox_max_attempts);
    let last_attempt = item.attempts >= max_attempts;
    let outcome = match item.kind.as_str() {
        SESSION_ENDED => {
            let ctx = backchannel::Delivery {
                store: &state.store,
                keyring: &state.keyring,
                outbound: &state.outbound,
                issuer: &state.config.issuer,
                now: state.clock.now(),
            };
            backchannel::deliver(&ctx, &item.payload, last_attempt).await
        }
        mail::KIND => match state.mailer.deliver(&state.keys, &item.payload).await {
            mail::Sent::Delivered => Outcome::Delivered,
            mail::Sent::Failed(e) => Outcome::Failed(e),
            mail::Sent::Undeliverable(e) => Outcome::Obsolete(e),
        },
        other => Outcome::Obsolete(format!("unknown kind {other}")),
    };
    let now = state.clock.now();
    let result = match &outcome {
        Outcome::Delivered => "delivered",
        Outcome::Failed(_) if !last_attempt => "failed",
        Outcome::Failed(_) => "gave_up",
        Outcome::Obsolete(_) => "obsolete",
    };
    metrics::counter!("logi_outbox_attempts_total", "kind" => item.kind.clone(), "result" => result)
        .increment(1);
    let settled = match outcome {
        Outcome::Delivered => store::outbox::delivered(&state.store, &item.id, owner, now).await,
        Outcome::Failed(error) => {
            let retry_at = (!last_attempt).then(|| {
                now.saturating_add(retry_delay(
                    item.attempts,
                    state.config.outbox_max_backoff_seconds,
                ))
            });
            if retry_at.is_none() {
                tracing::warn!(id = %item.id, kind = %item.kind, attempts = item.attempts, %error, "outbox: delivery given up");
            }
            store::outbox::failed(&state.store, &item.id, owner, now, &error, retry_at).await
        }
        Outcome::Obsolete(why) => {
            store::outbox::failed(&state.store, &item.id, owner, now, &why, None).await
        }
    };
    match settled {
        Ok(true) => {}
        Ok(false) => {
            tracing::warn!(id = %item.id, "outbox: the lease ran out before the delivery was settled")
        }
        Err(e) => tracing::warn!(id = %item.id, error = %e, "outbox: cannot settle a delivery"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_retry_delay_doubles_up_to_the_cap() {
        let delays: Vec<i64> = (1..=8).map(|n| retry_delay(n, 3600)).collect();
        assert_eq!(delays, [10, 20, 40, 80, 160, 320, 640, 1280]);
        assert_eq!(retry_delay(9, 3600), 2560);
        assert_eq!(retry_delay(10, 3600), 3600);
        assert_eq!(retry_delay(1_000, 3600), 3600);
        assert_eq!(retry_delay(i64::MAX, u64::MAX), 10 << 40);
        assert_eq!(retry_delay(0, 3600), 10);
        assert_eq!(retry_delay(3, 15), 15);
    }
}
