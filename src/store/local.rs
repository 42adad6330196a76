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
        mpsc, Arc, Mutex, MutexGuard, PoisonError, Weak,
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

/// When and how the WAL is copied back into the database file (a checkpoint), off the request
/// path.
///
/// Why: SQLite's default runs a checkpoint inside the commit that takes the WAL past 1,000
/// pages, so under load one write in a few hundred stalled its request's thread for two
/// `fsync`s while holding the writer, and every request that wanted the writer stalled behind
/// it (issue 16: the scheduler's trace of the ES256 refresh and code flows found the cores idle
/// a fifth of the time, in `fsync` and in waits for the writer). Here the writer never
/// checkpoints. A thread of its own does, every [`Checkpoints::every`], on its own connection
/// and without holding the writer, which goes on committing meanwhile. Such a checkpoint
/// cannot catch up with a writer that never pauses, and SQLite only starts the WAL again from
/// its beginning once all of it is copied; so when the WAL has grown past
/// [`Checkpoints::wal_frames`] the thread takes the writer and copies the rest; the next write
/// then starts the WAL again. It first shuts a [`Gate`], so that the writes that come while it
/// copies (two `fsync`s) wait as tasks and leave the request threads to other work, rather than
/// queue on the writer's lock and idle the cores as before; and so that they cannot keep it
/// from the writer.
#[derive(Clone, Copy, Debug)]
pub struct Checkpoints {
    /// Also the longest a commit waits to be synced to disk ("Durability" in
    /// `docs/performance.md`).
    pub every: Duration,
    pub wal_frames: i64,
}

impl Checkpoints {
    /// Every 100 ms; the writer is held when the WAL passes 4,096 pages (16 MiB of 4 KiB
    /// pages).
    pub const DEFAULT: Checkpoints = Checkpoints {
        every: Duration::from_millis(100),
        wal_frames: 4096,
    };
}

pub struct Local {
    writer: Arc<Mutex<Connection>>,
    /// Shut while the checkpoint thread waits for the writer or holds it.
    gate: Arc<Gate>,
    readers: Vec<Mutex<Connection>>,
    next: AtomicUsize,
    closed: AtomicBool,
    /// The thread of [`Checkpoints`] and what stops it (dropping the sender), for `Drop`.
    checkpoints: Option<(mpsc::Sender<()>, std::thread::JoinHandle<()>)>,
}

impl Drop for Local {
    /// Stops the checkpoint thread and waits for it, so that no connection to the file
    /// outlives its `Local`.
    fn drop(&mut self) {
        if let Some((stop, thread)) = self.checkpoints.take() {
            drop(stop);
            let _ = thread.join();
        }
    }
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
    /// exists and is in WAL mode (sqlx's writer opened it first), and starts its checkpoints
    /// ([`Checkpoints::DEFAULT`]).
    pub fn open(path: &Path, readers: usize) -> Result<Local> {
        Local::open_with(path, readers, Checkpoints::DEFAULT)
    }

    /// [`Local::open`] with its own [`Checkpoints`].
    pub fn open_with(path: &Path, readers: usize, checkpoints: Checkpoints) -> Result<Local> {
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
        let writer = open(false)?;
        // The checkpoint thread copies the WAL back (see [`Checkpoints`]), never a commit.
        writer.pragma_update(None, "wal_autocheckpoint", 0)?;
        let writer = Arc::new(Mutex::new(writer));
        let gate = Arc::new(Gate::default());
        let checkpoints = spawn_checkpoints(
            open(false)?,
            Arc::downgrade(&writer),
            gate.clone(),
            checkpoints,
        )?;
        Ok(Local {
            writer,
            gate,
            readers: (0..readers.max(1))
                .map(|_| open(true).map(Mutex::new))
                .collect::<rusqlite::Result<_>>()?,
            next: AtomicUsize::new(0),
            closed: AtomicBool::new(false),
            checkpoints: Some(checkpoints),
        })
    }

    /// Runs `f` on a reading connection (a free one if there is one).
    pub async fn read<T>(
        &self,
        mut f: impl FnMut(&Connection) -> rusqlite::Result<T>,
    ) -> Result<T> {
        let mut busy = Busy::default();
        loop {
            self.usable()?;
            let n = self.readers.len();
            let start = self.next.fetch_add(1, Ordering::Relaxed);
            let result = {
                let conn = (0..n)
                    .find_map(|i| self.readers[(start + i) % n].try_lock().ok())
                    .unwrap_or_else(|| lock(&self.readers[start % n]));
                f(&conn)
            };
            if let std::ops::ControlFlow::Break(value) = busy.check(result).await? {
                return Ok(value);
            }
        }
    }

    /// Runs `f` on the writing connection. `f` opens its own transaction
    /// (`TransactionBehavior::Immediate`, so that the write lock is taken before anything is
    /// read) and must leave nothing behind when it fails: dropped uncommitted, a rusqlite
    /// transaction rolls back.
    pub async fn write<T>(
        &self,
        mut f: impl FnMut(&mut Connection) -> rusqlite::Result<T>,
    ) -> Result<T> {
        let mut busy = Busy::default();
        loop {
            self.usable()?;
            self.gate.pass().await;
            let result = f(&mut lock(&self.writer));
            if let std::ops::ControlFlow::Break(value) = busy.check(result).await? {
                return Ok(value);
            }
        }
    }

    /// Later statements fail as when the database is unreachable.
    pub fn close(&self) {
        self.closed.store(true, Ordering::Release);
    }

    fn usable(&self) -> Result<()> {
        if self.closed.load(Ordering::Acquire) {
            return Err(StoreError::Database(sqlx::Error::PoolClosed));
        }
        Ok(())
    }
}

/// What SQLite's busy timeout does inside a connection, done without holding the thread: an
/// attempt that met another connection's lock is run again after a pause, for at most
/// [`BUSY_TIMEOUT`].
struct Busy {
    waiting: Option<Stopwatch>,
    pause: Duration,
}

impl Default for Busy {
    fn default() -> Busy {
        Busy {
            waiting: None,
            pause: Duration::from_micros(200),
        }
    }
}

impl Busy {
    /// `Ok(Break(value))`, or the error, of an attempt's `result`; `Ok(Continue)` after the
    /// pause when it was busy: the caller tries again.
    async fn check<T>(&mut self, result: rusqlite::Result<T>) -> Result<std::ops::ControlFlow<T>> {
        match result {
            Err(e) if busy(&e) => {
                if self.waiting.get_or_insert_with(Stopwatch::start).elapsed() >= BUSY_TIMEOUT {
                    return Err(StoreError::Busy);
                }
                crate::clock::pause(self.pause).await;
                self.pause = (self.pause * 2).min(Duration::from_millis(10));
                Ok(std::ops::ControlFlow::Continue(()))
            }
            other => other
                .map(std::ops::ControlFlow::Break)
                .map_err(StoreError::from),
        }
    }
}

/// Starts the thread of [`Checkpoints`] on its own connection `conn`; it ends when the
/// returned sender is dropped.
fn spawn_checkpoints(
    conn: Connection,
    writer: Weak<Mutex<Connection>>,
    gate: Arc<Gate>,
    c: Checkpoints,
) -> Result<(mpsc::Sender<()>, std::thread::JoinHandle<()>)> {
    // The WAL's frames when the checkpoint began. A checkpoint that meets another one (sqlx's
    // writer, another process) just returns.
    let checkpoint = |conn: &Connection| {
        conn.query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |r| r.get::<_, i64>(1))
    };
    let (stop, stopped) = mpsc::channel::<()>();
    let thread = std::thread::Builder::new()
        .name("logi-sqlite-checkpoints".into())
        .spawn(move || {
            while let Err(mpsc::RecvTimeoutError::Timeout) = stopped.recv_timeout(c.every) {
                // The writer went on meanwhile: even when all of `log` was copied, its new
                // frames were not, and the WAL goes on growing until the writer waits once.
                let Ok(log) = checkpoint(&conn) else {
                    continue;
                };
                if log >= c.wal_frames {
                    let Some(writer) = writer.upgrade() else {
                        return;
                    };
                    let _shut = gate.shut();
                    let _writer = lock(&writer);
                    let _ = checkpoint(&conn);
                }
            }
        })
        .map_err(|e| StoreError::Database(sqlx::Error::Io(e)))?;
    Ok((stop, thread))
}

/// What keeps new writes away from the writer while the checkpoint thread waits for it or holds
/// it: they wait as tasks, leaving the request threads to other work, and a plain lock, which
/// promises no turn to anyone, cannot keep the thread out.
#[derive(Default)]
struct Gate {
    shut: AtomicBool,
    opened: tokio::sync::Notify,
}

impl Gate {
    /// Returns at once unless the gate is shut; then waits, without holding the thread, until
    /// it opens.
    async fn pass(&self) {
        while self.shut.load(Ordering::Acquire) {
            // Registered before the second look, so an opening in between is not missed.
            let opened = self.opened.notified();
            if !self.shut.load(Ordering::Acquire) {
                return;
            }
            opened.await;
        }
    }

    /// Shuts the gate until the returned guard is dropped.
    fn shut(&self) -> impl Drop + '_ {
        struct Shut<'a>(&'a Gate);
        impl Drop for Shut<'_> {
            fn drop(&mut self) {
                self.0.shut.store(false, Ordering::Release);
                self.0.opened.notify_waiters();
            }
        }
        self.shut.store(true, Ordering::Release);
        Shut(self)
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

    /// Inserts row `i` with a value of 4,000 bytes, a page of its own.
    fn insert_page(conn: &Connection, i: i64) -> rusqlite::Result<usize> {
        let (k, page) = (format!("k{i}"), "x".repeat(4000));
        execute(
            conn,
            "INSERT INTO t (k, v, o) VALUES ($1, $2, $3)",
            &[Arg::Text(&k), Arg::Int(i), Arg::Text(&page)],
        )
    }

    /// Frames in the WAL file of `db` (its size: the file is reused, never shrunk, so its size
    /// is the most the WAL ever held).
    fn wal_frames(db: &Path) -> u64 {
        let wal = db.with_extension("db-wal");
        let bytes = std::fs::metadata(wal).map(|m| m.len()).unwrap_or(0);
        // A 32-byte header, then frames of a 24-byte header and a 4 KiB page.
        bytes.saturating_sub(32) / (24 + 4096)
    }

    /// How many times the WAL of `db` started again from its beginning: the checkpoint sequence
    /// number of its header (bytes 12-15, big-endian), which each restart increments.
    fn wal_restarts(db: &Path) -> u32 {
        use std::io::Read;
        let mut header = [0u8; 16];
        match std::fs::File::open(db.with_extension("db-wal"))
            .and_then(|mut f| f.read_exact(&mut header))
        {
            Ok(()) => u32::from_be_bytes([header[12], header[13], header[14], header[15]]),
            Err(_) => 0,
        }
    }

    #[tokio::test]
    async fn the_wal_starts_again_under_writes_that_never_pause() {
        let (_dir, path) = temp_db();
        let checkpoints = Checkpoints {
            every: Duration::from_millis(5),
            wal_frames: 64,
        };
        let local = Local::open_with(&path, 1, checkpoints).unwrap();
        let mut rows = 0;
        // Each row writes about four pages (its own, the key's index, their parents): 20,000
        // rows, 80,000 pages, give the checkpoint thread every chance even on a busy machine.
        // Without its turn at the writer the WAL never starts again: checkpoints that run beside
        // a writer that never pauses copy all but the newest pages, and after 3,000 rows it
        // held all 12,537 of them.
        // The WAL's header is read between batches only: reading it between two writes would
        // be a pause.
        while (rows % 500 != 0 || wal_restarts(&path) < 3) && rows < 20_000 {
            local.write(|c| insert_page(c, rows)).await.unwrap();
            rows += 1;
        }
        assert!(
            wal_restarts(&path) >= 3,
            "the WAL never started again in {rows} rows ({} frames)",
            wal_frames(&path)
        );
        let n: i64 = local
            .read(|c| c.query_row("SELECT COUNT(*) FROM t", [], |r| r.get(0)))
            .await
            .unwrap();
        assert_eq!(n, rows);
    }

    #[test]
    fn the_writer_never_checkpoints_and_a_dropped_local_leaves_no_connection() {
        let (_dir, path) = temp_db();
        let checkpoints = Checkpoints {
            every: Duration::from_secs(3600),
            wal_frames: 64,
        };
        let local = Local::open_with(&path, 1, checkpoints).unwrap();
        for i in 0..1500 {
            insert_page(&lock(&local.writer), i).unwrap();
        }
        // Past SQLite's default of 1,000 pages, and nothing was copied back.
        assert!(wal_frames(&path) >= 1500);
        // The last connection to close copies the WAL back and removes it: so the checkpoint
        // thread's connection is closed too once `drop` returns.
        drop(local);
        assert!(!path.with_extension("db-wal").exists());
        let conn = Connection::open(&path).unwrap();
        let n: i64 = conn
            .query_row("SELECT COUNT(*) FROM t", [], |r| r.get(0))
            .unwrap();
        assert_eq!(n, 1500);
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
