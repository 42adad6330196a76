//! SQLite's hot statements, run on the request's own thread.
//!
//! Why: sqlx runs each SQLite connection on a thread of its own and hands every statement to it
//! and its answer back, and on this path those hand-offs cost more than SQLite itself (the
//! profile of issue 16 in `docs/performance.md`: kernel wake-ups and context switches were a
//! quarter of a refresh's CPU, SQLite's own code a sixth). SQLite is a library, and a statement
//! of a refresh or a code flow runs in a few microseconds, so [`Local`] runs it where the request
//! is, on connections behind plain locks: one that writes and a few that only read (WAL lets
//! readers run beside the writer).
//!
//! The rule that keeps this safe on an async runtime: **nothing here ever waits for SQLite's
//! locks while holding a thread.** The connections have no busy timeout, so a statement that
//! meets another connection's write lock (sqlx's writer in this process, or another process on
//! the same file) fails at once with `SQLITE_BUSY`; the lock on the connection is released, the
//! task sleeps asynchronously, and the whole attempt is run again (it left nothing behind: a
//! write is one transaction, rolled back when it fails), for at most [`BUSY_TIMEOUT`], like
//! the busy timeout of sqlx's connections. A connection's own lock is held only while SQLite
//! runs, so waiting for it is waiting for a few microseconds of work.

use std::{
    path::Path,
    sync::{
        atomic::{AtomicBool, AtomicUsize, Ordering},
        Mutex, MutexGuard, PoisonError,
    },
    time::Duration,
};

use rusqlite::{types::ToSqlOutput, Connection, OpenFlags};

use super::{Arg, Columns, FromColumns, Result, StoreError};
use crate::clock::Stopwatch;

/// How long an attempt is retried while another connection holds SQLite's write lock (sqlx's
/// connections wait as long: `busy_timeout = 5000`).
pub const BUSY_TIMEOUT: Duration = Duration::from_secs(5);

/// Prepared statements kept per connection (the hot statements, with room to spare).
const STATEMENT_CACHE: usize = 64;

pub struct Local {
    writer: Mutex<Connection>,
    readers: Vec<Mutex<Connection>>,
    next: AtomicUsize,
    closed: AtomicBool,
}

impl std::fmt::Debug for Local {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Local")
            .field("readers", &self.readers.len())
            .finish()
    }
}

impl Local {
    /// Opens one writing and `readers` reading connections to the SQLite file at `path`, which
    /// exists and is in WAL mode (sqlx's writer opened it first).
    pub fn open(path: &Path, readers: usize) -> Result<Local> {
        let open = |read_only: bool| -> rusqlite::Result<Connection> {
            let conn = Connection::open_with_flags(
                path,
                OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX,
            )?;
            // Never wait for a lock inside SQLite (see the module documentation).
            conn.busy_timeout(Duration::ZERO)?;
            conn.set_prepared_statement_cache_capacity(STATEMENT_CACHE);
            // As sqlx's writer: the durability of `docs/performance.md` ("Durability").
            conn.pragma_update(None, "synchronous", "NORMAL")?;
            conn.pragma_update(None, "foreign_keys", "ON")?;
            if read_only {
                conn.pragma_update(None, "query_only", "ON")?;
            }
            Ok(conn)
        };
        Ok(Local {
            writer: Mutex::new(open(false)?),
            readers: (0..readers.max(1))
                .map(|_| open(true).map(Mutex::new))
                .collect::<rusqlite::Result<_>>()?,
            next: AtomicUsize::new(0),
            closed: AtomicBool::new(false),
        })
    }

    /// Runs `f` on a reading connection (a free one if there is one).
    pub async fn read<T>(
        &self,
        mut f: impl FnMut(&Connection) -> rusqlite::Result<T>,
    ) -> Result<T> {
        self.retry(|| {
            let n = self.readers.len();
            let start = self.next.fetch_add(1, Ordering::Relaxed);
            let conn = (0..n)
                .find_map(|i| self.readers[(start + i) % n].try_lock().ok())
                .unwrap_or_else(|| lock(&self.readers[start % n]));
            f(&conn)
        })
        .await
    }

    /// Runs `f` on the writing connection. `f` opens its own transaction
    /// (`TransactionBehavior::Immediate`, so that the write lock is taken before anything is
    /// read) and must leave nothing behind when it fails: dropped uncommitted, a rusqlite
    /// transaction rolls back.
    pub async fn write<T>(
        &self,
        mut f: impl FnMut(&mut Connection) -> rusqlite::Result<T>,
    ) -> Result<T> {
        self.retry(|| f(&mut lock(&self.writer))).await
    }

    /// Later statements fail as when the database is unreachable.
    pub fn close(&self) {
        self.closed.store(true, Ordering::Release);
    }

    async fn retry<T>(&self, mut attempt: impl FnMut() -> rusqlite::Result<T>) -> Result<T> {
        let mut waiting: Option<Stopwatch> = None;
        let mut pause = Duration::from_micros(200);
        loop {
            if self.closed.load(Ordering::Acquire) {
                return Err(StoreError::Database(sqlx::Error::PoolClosed));
            }
            match attempt() {
                Err(e) if busy(&e) => {
                    // What SQLite's busy timeout does inside a connection, done without holding
                    // the thread.
                    if waiting.get_or_insert_with(Stopwatch::start).elapsed() >= BUSY_TIMEOUT {
                        return Err(StoreError::Busy);
                    }
                    crate::clock::pause(pause).await;
                    pause = (pause * 2).min(Duration::from_millis(10));
                }
                other => return other.map_err(StoreError::from),
            }
        }
    }
}

fn lock(m: &Mutex<Connection>) -> MutexGuard<'_, Connection> {
    // A panic while the lock was held left no transaction open (rusqlite rolls back the one it
    // drops), so the connection is as good as before.
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Another connection holds a lock this statement needs.
fn busy(e: &rusqlite::Error) -> bool {
    matches!(
        e.sqlite_error_code(),
        Some(rusqlite::ErrorCode::DatabaseBusy | rusqlite::ErrorCode::DatabaseLocked)
    )
}

impl rusqlite::ToSql for Arg<'_> {
    fn to_sql(&self) -> rusqlite::Result<ToSqlOutput<'_>> {
        Ok(match *self {
            Arg::Int(i) => ToSqlOutput::from(i),
            Arg::Text(s) | Arg::OptText(Some(s)) => ToSqlOutput::from(s),
            Arg::OptText(None) => ToSqlOutput::from(rusqlite::types::Null),
        })
    }
}

/// Binds `args` to a statement written with the store's `$N` placeholders: SQLite numbers its
/// parameters in order of first appearance, so each is looked up by its name.
fn bind(stmt: &mut rusqlite::Statement<'_>, args: &[Arg<'_>]) -> rusqlite::Result<()> {
    for i in 1..=stmt.parameter_count() {
        let arg = stmt
            .parameter_name(i)
            .and_then(|name| name.strip_prefix('$'))
            .and_then(|n| n.parse::<usize>().ok())
            .and_then(|n| n.checked_sub(1))
            .and_then(|n| args.get(n))
            .copied()
            .ok_or_else(|| {
                rusqlite::Error::InvalidParameterName(
                    stmt.parameter_name(i).unwrap_or("?").to_owned(),
                )
            })?;
        stmt.raw_bind_parameter(i, arg)?;
    }
    Ok(())
}

/// Debug builds (so every test run): the first time a hot statement runs, its plan must find
/// every row through an index. A `SCAN` of a table is a pass over all of it on every request,
/// which no test notices while its tables are small (a non-correlated `IN (SELECT …)` over
/// `grants` did that once, and the benchmark's code flow fell to a tenth).
#[cfg(debug_assertions)]
fn assert_indexed(conn: &Connection, sql: &str, args: &[Arg<'_>]) {
    static CHECKED: Mutex<std::collections::BTreeSet<String>> =
        Mutex::new(std::collections::BTreeSet::new());
    if !CHECKED
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .insert(sql.to_owned())
    {
        return;
    }
    // A statement that cannot be planned fails when it runs, with its own error.
    let Ok(plan) = conn
        .prepare(&format!("EXPLAIN QUERY PLAN {sql}"))
        .and_then(|mut stmt| {
            bind(&mut stmt, args)?;
            let mut rows = stmt.raw_query();
            let mut steps = Vec::new();
            while let Some(row) = rows.next()? {
                steps.push(row.get::<_, String>(3)?);
            }
            Ok(steps)
        })
    else {
        return;
    };
    let scans: Vec<&String> = plan
        .iter()
        .filter(|step| step.starts_with("SCAN ") && !step.starts_with("SCAN CONSTANT ROW"))
        .collect();
    assert!(
        scans.is_empty(),
        "a hot statement scans a table ({scans:?}): {sql}"
    );
}

/// Runs one statement; the number of rows it changed.
pub(crate) fn execute(conn: &Connection, sql: &str, args: &[Arg<'_>]) -> rusqlite::Result<usize> {
    #[cfg(debug_assertions)]
    assert_indexed(conn, sql, args);
    let mut stmt = conn.prepare_cached(sql)?;
    bind(&mut stmt, args)?;
    stmt.raw_execute()
}

/// The first row of one statement, if any.
pub(crate) fn row<T: FromColumns>(
    conn: &Connection,
    sql: &str,
    args: &[Arg<'_>],
) -> rusqlite::Result<Option<T>> {
    #[cfg(debug_assertions)]
    assert_indexed(conn, sql, args);
    let mut stmt = conn.prepare_cached(sql)?;
    bind(&mut stmt, args)?;
    let mut rows = stmt.raw_query();
    match rows.next()? {
        Some(row) => T::from_columns(row).map(Some),
        None => Ok(None),
    }
}

impl Columns for rusqlite::Row<'_> {
    type Error = rusqlite::Error;

    fn text(&self, name: &str) -> rusqlite::Result<String> {
        self.get(name)
    }
    fn opt_text(&self, name: &str) -> rusqlite::Result<Option<String>> {
        self.get(name)
    }
    fn int(&self, name: &str) -> rusqlite::Result<i64> {
        self.get(name)
    }
    fn opt_int(&self, name: &str) -> rusqlite::Result<Option<i64>> {
        self.get(name)
    }
    fn has(&self, name: &str) -> bool {
        self.as_ref().column_index(name).is_ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn temp_db() -> (tempfile_dir::Dir, std::path::PathBuf) {
        let dir = tempfile_dir::Dir::new();
        let path = dir.0.join("t.db");
        let conn = Connection::open(&path).unwrap();
        conn.pragma_update(None, "journal_mode", "WAL").unwrap();
        conn.execute_batch("CREATE TABLE t (k TEXT PRIMARY KEY, v BIGINT, o TEXT)")
            .unwrap();
        (dir, path)
    }

    /// A folder under the system's temp folder, removed when dropped.
    mod tempfile_dir {
        pub struct Dir(pub std::path::PathBuf);
        impl Dir {
            pub fn new() -> Dir {
                let mut bytes = [0u8; 8];
                aws_lc_rs::rand::fill(&mut bytes).unwrap();
                let name: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
                let path = std::env::temp_dir().join(format!("logi-local-{name}"));
                std::fs::create_dir_all(&path).unwrap();
                Dir(path)
            }
        }
        impl Drop for Dir {
            fn drop(&mut self) {
                let _ = std::fs::remove_dir_all(&self.0);
            }
        }
    }

    struct KV(String, i64, Option<String>);
    impl FromColumns for KV {
        fn from_columns<C: Columns>(c: &C) -> Result<Self, C::Error> {
            Ok(KV(c.text("k")?, c.int("v")?, c.opt_text("o")?))
        }
    }

    #[test]
    fn placeholders_bind_by_number_whatever_their_order() {
        let (_dir, path) = temp_db();
        let local = Local::open(&path, 1).unwrap();
        let conn = lock(&local.writer);
        // `$3` appears first: SQLite numbers it 1.
        let n = execute(
            &conn,
            "INSERT INTO t (o, k, v) VALUES ($3, $1, $2)",
            &[Arg::Text("a"), Arg::Int(7), Arg::OptText(None)],
        )
        .unwrap();
        assert_eq!(n, 1);
        let got: KV = row(
            &conn,
            "SELECT * FROM t WHERE v = $2 AND k = $1",
            &[Arg::Text("a"), Arg::Int(7)],
        )
        .unwrap()
        .unwrap();
        assert_eq!((got.0.as_str(), got.1, got.2), ("a", 7, None));
        // A placeholder without an argument is an error, not a NULL.
        assert!(row::<KV>(&conn, "SELECT * FROM t WHERE k = $2", &[Arg::Text("a")]).is_err());
    }

    #[tokio::test]
    async fn a_write_waits_for_another_connections_write_lock_without_holding_the_thread() {
        let (_dir, path) = temp_db();
        let local = std::sync::Arc::new(Local::open(&path, 1).unwrap());
        // Another connection (as sqlx's writer, or another process) holds the write lock.
        let other = Connection::open(&path).unwrap();
        other.execute_batch("BEGIN IMMEDIATE").unwrap();
        let writer = local.clone();
        let write = tokio::spawn(async move {
            writer
                .write(|c| {
                    let tx =
                        c.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
                    execute(
                        &tx,
                        "INSERT INTO t (k, v) VALUES ($1, $2)",
                        &[Arg::Text("b"), Arg::Int(1)],
                    )?;
                    tx.commit()
                })
                .await
        });
        // The runtime has one thread: this runs only if the write yields while it waits.
        crate::clock::pause(Duration::from_millis(30)).await;
        assert!(!write.is_finished());
        let seen: Option<KV> = local
            .read(|c| row(c, "SELECT * FROM t WHERE k = $1", &[Arg::Text("b")]))
            .await
            .unwrap();
        assert!(seen.is_none());
        other.execute_batch("COMMIT").unwrap();
        write.await.unwrap().unwrap();
        let seen: Option<KV> = local
            .read(|c| row(c, "SELECT * FROM t WHERE k = $1", &[Arg::Text("b")]))
            .await
            .unwrap();
        assert_eq!(seen.map(|r| r.1), Some(1));
    }

    #[tokio::test]
    async fn a_closed_local_fails_as_an_unreachable_database() {
        let (_dir, path) = temp_db();
        let local = Local::open(&path, 1).unwrap();
        local.close();
        let e = local
            .read(|c| row::<KV>(c, "SELECT * FROM t", &[]))
            .await
            .err()
            .unwrap();
        assert!(e.is_unavailable());
    }
}
