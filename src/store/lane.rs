//! PostgreSQL connections for the hot statements, held outside sqlx's pool.
//!
//! Why: sqlx 0.8 pings every connection its pool takes back (a round trip to the server) before
//! another task may use it, and that cannot be switched off. The statements of a refresh and of
//! a code flow are one round trip each, so the ping doubled their round trips and was a sixth
//! of the server's CPU on a refresh (profile in `docs/performance.md`). A [`Lane`] is a few
//! connections behind locks: a statement takes a free one (or waits for one), runs, and gives it
//! back as it is.
//!
//! What the ping did, done here instead: a connection whose statement failed because the
//! connection did (`store::connection_lost`: I/O, protocol, the server shutting down) is dropped, and the next statement on that slot opens a new one (so while the
//! server is down every statement fails fast, and they succeed again once it is back). A
//! statement abandoned half-way (its request cancelled) leaves its connection to be used as it
//! is: sqlx's PostgreSQL connection finishes reading the abandoned answer before it sends the
//! next statement, and rolls back a transaction that was dropped unfinished.

use std::{
    sync::atomic::{AtomicBool, AtomicUsize, Ordering},
    time::Duration,
};

use sqlx::{any::AnyConnectOptions, AnyConnection, Connection};
use tokio::sync::{Mutex, MutexGuard};

use super::{Result, StoreError};

/// Run on every lane connection when it opens. Every hot statement finds its rows through a
/// primary key or another index, but PostgreSQL plans a prepared statement once per connection
/// and keeps that plan: prepared while a table was small (a fresh database, the first minutes
/// of a benchmark scenario), the plan scans the whole table, and keeps scanning it as the table
/// grows until the next `ANALYZE`. Seen in the benchmark: with the code exchange's `UPDATE`
/// joining `grants` (planned over a small table as a hash join of two sequential scans), the
/// code flow fell to a third (ES256) and two thirds (RS256) of its rate. With
/// sequential scans priced out the plan uses the indexes whatever the statistics say; a
/// statement with no usable index still runs (the setting only makes a scan look expensive).
const INDEX_LOOKUPS_ONLY: &str = "SET enable_seqscan = off";

pub struct Lane {
    slots: Vec<Mutex<Option<AnyConnection>>>,
    options: AnyConnectOptions,
    /// How long a statement waits for a free connection, and for a new one to open.
    acquire_timeout: Duration,
    next: AtomicUsize,
    closed: AtomicBool,
}

impl std::fmt::Debug for Lane {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Lane")
            .field("connections", &self.slots.len())
            .finish()
    }
}

/// One connection of a [`Lane`], for one statement (or one transaction).
pub struct LaneConnection<'a> {
    slot: MutexGuard<'a, Option<AnyConnection>>,
}

impl Lane {
    /// A lane of `connections` connections, opened when first needed.
    pub fn new(options: AnyConnectOptions, connections: usize, acquire_timeout: Duration) -> Lane {
        Lane {
            slots: (0..connections.max(1)).map(|_| Mutex::new(None)).collect(),
            options,
            acquire_timeout,
            next: AtomicUsize::new(0),
            closed: AtomicBool::new(false),
        }
    }

    /// A free connection, opening it if its slot is empty; waits at most the acquire timeout.
    pub async fn get(&self) -> Result<LaneConnection<'_>> {
        if self.closed.load(Ordering::Acquire) {
            return Err(sqlx::Error::PoolClosed.into());
        }
        let n = self.slots.len();
        let start = self.next.fetch_add(1, Ordering::Relaxed);
        let free = (0..n).find_map(|i| self.slots[(start + i) % n].try_lock().ok());
        let mut slot = match free {
            Some(slot) => slot,
            None => tokio::time::timeout(self.acquire_timeout, self.slots[start % n].lock())
                .await
                .map_err(|_| StoreError::Database(sqlx::Error::PoolTimedOut))?,
        };
        if slot.is_none() {
            let opened = tokio::time::timeout(self.acquire_timeout, async {
                let mut conn = AnyConnection::connect_with(&self.options).await?;
                sqlx::query(INDEX_LOOKUPS_ONLY).execute(&mut conn).await?;
                Ok::<_, sqlx::Error>(conn)
            })
            .await
            .map_err(|_| StoreError::Database(sqlx::Error::PoolTimedOut))??;
            *slot = Some(opened);
        }
        Ok(LaneConnection { slot })
    }

    /// Closes every connection; later statements fail as when the database is unreachable.
    pub async fn close(&self) {
        self.closed.store(true, Ordering::Release);
        for slot in &self.slots {
            if let Some(conn) = slot.lock().await.take() {
                let _ = conn.close().await;
            }
        }
    }
}

impl LaneConnection<'_> {
    /// The connection. `None` only after [`LaneConnection::settle`] dropped a broken one.
    pub fn conn(&mut self) -> Result<&mut AnyConnection> {
        self.slot
            .as_mut()
            .ok_or(StoreError::Database(sqlx::Error::PoolClosed))
    }

    /// Looks at a statement's outcome: a connection that an I/O or protocol error broke is
    /// dropped, so that the slot opens a new one next time. Returns the outcome.
    pub fn settle<T>(&mut self, outcome: sqlx::Result<T>) -> Result<T> {
        if let Err(e) = &outcome {
            if super::connection_lost(e) {
                self.slot.take();
            }
        }
        Ok(outcome?)
    }
}

#[cfg(test)]
mod tests {
    use std::{str::FromStr, time::Duration};

    use sqlx::{any::AnyConnectOptions, Row};

    use super::Lane;
    use crate::store::connection_lost;

    /// With `LOGI_TEST_DATABASE_URL` naming PostgreSQL (as in CI): a lane connection opens with
    /// sequential scans priced out, so its plans use the indexes (`INDEX_LOOKUPS_ONLY`).
    #[tokio::test]
    async fn lane_connections_plan_index_lookups_whatever_the_statistics() {
        let Some(url) = std::env::var("LOGI_TEST_DATABASE_URL")
            .ok()
            .filter(|u| u.starts_with("postgres"))
        else {
            return;
        };
        sqlx::any::install_default_drivers();
        let options = AnyConnectOptions::from_str(&url).unwrap();
        let lane = Lane::new(options, 1, Duration::from_secs(5));
        let mut conn = lane.get().await.unwrap();
        let row = sqlx::query("SHOW enable_seqscan")
            .fetch_one(conn.conn().unwrap())
            .await
            .unwrap();
        assert_eq!(row.get::<String, _>(0), "off");
        drop(conn);
        lane.close().await;
    }

    #[test]
    fn only_connection_level_errors_retire_a_connection() {
        assert!(connection_lost(&sqlx::Error::Io(std::io::Error::other(
            "reset"
        ))));
        assert!(connection_lost(&sqlx::Error::Protocol(
            "unexpected message".into()
        )));
        assert!(!connection_lost(&sqlx::Error::RowNotFound));
        assert!(!connection_lost(&sqlx::Error::ColumnNotFound("x".into())));
    }
}
