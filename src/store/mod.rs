//! The store: one query layer that serves both PostgreSQL and SQLite.
//!
//! Why one layer rather than a trait with two implementations: logi's queries are plain SQL that
//! both engines understand, so writing each feature's queries twice would only create room for
//! the two backends to drift apart. Every query goes through sqlx's `Any` driver and follows a few
//! portable conventions, which the migrations in `migrations/` (one set, used by both) respect:
//!
//! - placeholders are `$1, $2, …` (SQLite reads `$N` as positional);
//! - identifiers are random `TEXT`; times are `BIGINT` Unix seconds; flags are `BIGINT` 0/1;
//!   lists are JSON arrays in `TEXT` columns; only `BIGINT` and `TEXT` cross the boundary;
//! - concurrency-sensitive steps are a single conditional `UPDATE … WHERE …` whose affected-row
//!   count decides who won, or `INSERT … ON CONFLICT … DO UPDATE … RETURNING`, both atomic on
//!   both engines (no read-then-write);
//! - SQLite runs in WAL mode with one pooled connection that writes (one writer, as SQLite
//!   wants), so its transactions never deadlock on lock upgrades, and a few connections that only
//!   read (`PRAGMA query_only`), which WAL lets run beside the writer: single reads that need no
//!   transaction use them ([`Store::reader`]), so the writer is not queued behind reads. PostgreSQL gets one pool of several connections for both.
//! - the hot statements of a refresh and a code flow skip sqlx's pool: on PostgreSQL they run on
//!   a [`lane`] of connections held outside it; on SQLite they run on the request's own thread
//!   ([`local`], through rusqlite), with their own writer and readers beside sqlx's. Both
//!   engines read those rows with one decoder per row type ([`FromColumns`]) and bind the same
//!   arguments ([`Arg`]); every SQLite transaction that writes begins `IMMEDIATE`
//!   ([`Store::begin_write`]), since there are two writing connections in a process (and more
//!   across processes).
//!
//! Each aggregate has its own submodule with free functions taking `&Store`.

pub mod apis;
pub mod applications;
pub mod cache;
pub mod developer_tokens;
pub mod device;
pub mod email_tokens;
pub mod keys;
pub mod lane;
pub(crate) mod local;
pub mod oauth;
pub mod outbox;
pub mod second_factors;
pub mod sessions;
pub mod throttle;
pub mod users;

use std::{path::Path, str::FromStr, time::Duration};

use sqlx::{
    any::{AnyConnectOptions, AnyPoolOptions},
    AnyPool, ConnectOptions, Executor,
};

/// The caches of one process (design: see [`cache`]).
pub type Caches = cache::Caches<applications::Application, users::User, Vec<apis::Api>>;

/// The migrations, embedded at compile time.
pub static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations");

/// At most this many SQLite connections only read, beside the one writer (see the module
/// documentation); `max_connections` − 1 when that is fewer.
const SQLITE_READERS: u32 = 4;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

#[derive(Clone, Debug)]
pub struct Store {
    /// Private to the store: every query, and every transaction, is a store function.
    pool: AnyPool,
    /// For single reads that need no transaction and tolerate seeing the latest commit rather
    /// than a write in flight: on SQLite, read-only connections beside the writer; on
    /// PostgreSQL, `pool` itself.
    reader: AnyPool,
    pub backend: Backend,
    /// PostgreSQL: connections for the hot statements, outside sqlx's pool ([`lane`]).
    hot: Option<std::sync::Arc<lane::Lane>>,
    /// SQLite: the hot statements, run on the request's thread ([`local`]).
    local: Option<std::sync::Arc<local::Local>>,
    /// What this process keeps in memory (see [`cache`]).
    pub caches: std::sync::Arc<Caches>,
    /// Rung when this process queues a delivery, so that its worker starts at once
    /// ([`outbox::queued`]).
    outbox_signal: std::sync::Arc<tokio::sync::Notify>,
}

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("database: {0}")]
    Database(#[from] sqlx::Error),
    #[error("migrations: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    #[error("database_url: {0}")]
    Url(String),
    #[error("stored data is corrupt: {0}")]
    Corrupt(String),
    #[error("database: {0}")]
    Sqlite(#[from] rusqlite::Error),
    /// SQLite's write lock stayed held by another connection for [`local::BUSY_TIMEOUT`].
    #[error("database: the write lock stayed busy")]
    Busy,
}

impl StoreError {
    /// A unique-constraint violation (e.g. a duplicate email).
    pub fn is_unique_violation(&self) -> bool {
        match self {
            StoreError::Database(e) => e
                .as_database_error()
                .map(|d| d.is_unique_violation())
                .unwrap_or(false),
            StoreError::Sqlite(e) => matches!(
                e,
                rusqlite::Error::SqliteFailure(f, _)
                    if f.extended_code == rusqlite::ffi::SQLITE_CONSTRAINT_UNIQUE
                        || f.extended_code == rusqlite::ffi::SQLITE_CONSTRAINT_PRIMARYKEY
            ),
            _ => false,
        }
    }

    /// The database could not be reached (as opposed to a query failing).
    pub fn is_unavailable(&self) -> bool {
        match self {
            StoreError::Database(sqlx::Error::PoolTimedOut) => true,
            StoreError::Database(e) => connection_lost(e),
            StoreError::Busy => true,
            StoreError::Sqlite(e) => matches!(
                e.sqlite_error_code(),
                Some(rusqlite::ErrorCode::CannotOpen | rusqlite::ErrorCode::SystemIoFailure)
            ),
            _ => false,
        }
    }
}

pub type Result<T, E = StoreError> = std::result::Result<T, E>;

/// Errors that say the connection, not the statement, failed: I/O, TLS and protocol errors, a
/// closed pool, and PostgreSQL's SQLSTATE classes 08 (connection exception) and 57 (operator
/// intervention: the server shutting down, or starting up and refusing connections).
pub(crate) fn connection_lost(e: &sqlx::Error) -> bool {
    match e {
        sqlx::Error::Io(_)
        | sqlx::Error::Tls(_)
        | sqlx::Error::Protocol(_)
        | sqlx::Error::WorkerCrashed
        | sqlx::Error::PoolClosed => true,
        sqlx::Error::Database(d) => d
            .code()
            .is_some_and(|code| code.starts_with("08") || code.starts_with("57")),
        _ => false,
    }
}

/// A connection for one hot PostgreSQL statement ([`Store::hot_conn`]).
pub(crate) enum Hot<'a> {
    Lane(lane::LaneConnection<'a>),
    Pooled(sqlx::pool::PoolConnection<sqlx::Any>),
}

impl Hot<'_> {
    pub(crate) fn conn(&mut self) -> Result<&mut sqlx::AnyConnection> {
        match self {
            Hot::Lane(c) => c.conn(),
            Hot::Pooled(c) => Ok(&mut **c),
        }
    }

    /// The statement's outcome, after retiring a lane connection that it found broken.
    pub(crate) fn settle<T>(&mut self, outcome: sqlx::Result<T>) -> Result<T> {
        match self {
            Hot::Lane(c) => c.settle(outcome),
            Hot::Pooled(_) => Ok(outcome?),
        }
    }
}

/// An argument of a statement that runs on either engine (the hot statements: [`Store::hot_row`],
/// [`local`]): only `BIGINT` and `TEXT` cross the boundary (see the module documentation).
#[derive(Clone, Copy, Debug)]
pub(crate) enum Arg<'a> {
    Int(i64),
    Text(&'a str),
    OptText(Option<&'a str>),
}

/// Binds `args`, in order, to a sqlx query (`$1` is the first).
pub(crate) fn bind_args<'q>(mut query: AnyQuery<'q>, args: &[Arg<'q>]) -> AnyQuery<'q> {
    for arg in args {
        query = match *arg {
            Arg::Int(i) => query.bind(i),
            Arg::Text(s) => query.bind(s),
            Arg::OptText(s) => query.bind(s),
        };
    }
    query
}

/// A row's columns by name, as both drivers give them: a row type decodes itself once, with
/// [`FromColumns`], whichever engine read it.
pub(crate) trait Columns {
    type Error;
    fn text(&self, name: &str) -> Result<String, Self::Error>;
    fn opt_text(&self, name: &str) -> Result<Option<String>, Self::Error>;
    fn int(&self, name: &str) -> Result<i64, Self::Error>;
    fn opt_int(&self, name: &str) -> Result<Option<i64>, Self::Error>;
    /// The statement selected a column of this name.
    fn has(&self, name: &str) -> bool;

    /// [`Columns::text`], or empty when the statement did not select the column.
    fn text_or_empty(&self, name: &str) -> Result<String, Self::Error> {
        if self.has(name) {
            self.text(name)
        } else {
            Ok(String::new())
        }
    }

    /// [`Columns::int`], or 0 when the statement did not select the column.
    fn int_or_zero(&self, name: &str) -> Result<i64, Self::Error> {
        if self.has(name) {
            self.int(name)
        } else {
            Ok(0)
        }
    }
}

pub(crate) trait FromColumns: Sized {
    fn from_columns<C: Columns>(c: &C) -> Result<Self, C::Error>;
}

/// A row's existence.
impl FromColumns for () {
    fn from_columns<C: Columns>(_: &C) -> Result<(), C::Error> {
        Ok(())
    }
}

/// Two row types read from the same row (a token and its grant).
impl<A: FromColumns, B: FromColumns> FromColumns for (A, B) {
    fn from_columns<C: Columns>(c: &C) -> Result<Self, C::Error> {
        Ok((A::from_columns(c)?, B::from_columns(c)?))
    }
}

impl Columns for sqlx::any::AnyRow {
    type Error = sqlx::Error;

    fn text(&self, name: &str) -> sqlx::Result<String> {
        sqlx::Row::try_get(self, name)
    }
    fn opt_text(&self, name: &str) -> sqlx::Result<Option<String>> {
        sqlx::Row::try_get(self, name)
    }
    fn int(&self, name: &str) -> sqlx::Result<i64> {
        sqlx::Row::try_get(self, name)
    }
    fn opt_int(&self, name: &str) -> sqlx::Result<Option<i64>> {
        sqlx::Row::try_get(self, name)
    }
    fn has(&self, name: &str) -> bool {
        sqlx::Row::try_column(self, name).is_ok()
    }
}

/// `sqlx::FromRow` for row types that implement [`FromColumns`], so that the store's other
/// queries keep decoding them with `query_as`.
macro_rules! any_row_from_columns {
    ($($t:ty),+ $(,)?) => {
        $(impl<'r> sqlx::FromRow<'r, sqlx::any::AnyRow> for $t {
            fn from_row(row: &'r sqlx::any::AnyRow) -> sqlx::Result<Self> {
                <$t as $crate::store::FromColumns>::from_columns(row)
            }
        })+
    };
}
pub(crate) use any_row_from_columns;

/// A query with its arguments, as bind helpers pass it along.
pub(crate) type AnyQuery<'q> = sqlx::query::Query<'q, sqlx::Any, sqlx::any::AnyArguments<'q>>;

/// `sql` with every placeholder `$N` renumbered `$(N + by)`: a statement's SQL reused after
/// another's placeholders in one combined statement.
pub(crate) fn shift_placeholders(sql: &str, by: usize) -> String {
    let mut out = String::with_capacity(sql.len() + 16);
    let mut chars = sql.chars().peekable();
    while let Some(c) = chars.next() {
        out.push(c);
        if c != '$' {
            continue;
        }
        let mut digits = String::new();
        while let Some(d) = chars.peek().filter(|d| d.is_ascii_digit()) {
            digits.push(*d);
            chars.next();
        }
        match digits.parse::<usize>() {
            Ok(n) => out.push_str(&(n + by).to_string()),
            Err(_) => out.push_str(&digits),
        }
    }
    out
}

/// Pool options shared by every pool: sqlx tests a connection with a round trip (a `ping`)
/// each time it is handed out, on top of the ping each time it comes back (which sqlx always
/// does, and which catches a broken connection before the next request). That first ping is
/// one more database round trip for every query (SQLite: one more hop to the connection's
/// thread): the profile of issue 16 put pings at a sixth of the server's CPU on a refresh.
/// A connection that broke while idle fails the one query that finds it, which the request
/// reports as a database error (503), and the pool replaces it.
fn pool_options() -> AnyPoolOptions {
    AnyPoolOptions::new().test_before_acquire(false)
}

impl Store {
    /// Opens the database named by `url`, creating the SQLite file (and its folder) if needed.
    /// PostgreSQL: a request waits at most `acquire_timeout` for a connection (while the server
    /// is unreachable, requests fail that fast and the pool reconnects by itself).
    pub async fn connect(
        url: &str,
        max_connections: u32,
        acquire_timeout: Duration,
    ) -> Result<Store> {
        sqlx::any::install_default_drivers();
        let backend = if url.starts_with("sqlite:") {
            Backend::Sqlite
        } else if url.starts_with("postgres:") || url.starts_with("postgresql:") {
            Backend::Postgres
        } else {
            return Err(StoreError::Url(
                "must start with sqlite:// or postgres://".into(),
            ));
        };
        let mut lane = None;
        let mut local = None;
        let (pool, reader) = match backend {
            Backend::Sqlite => {
                let (url, file) = sqlite_url_with_create(url)?;
                let options = AnyConnectOptions::from_str(&url)?.disable_statement_logging();
                let writer = pool_options()
                    .max_connections(1)
                    .min_connections(1)
                    .acquire_timeout(Duration::from_secs(10))
                    .after_connect(|conn, _| {
                        Box::pin(async move {
                            for pragma in [
                                "PRAGMA journal_mode = WAL",
                                "PRAGMA synchronous = NORMAL",
                                "PRAGMA foreign_keys = ON",
                                "PRAGMA busy_timeout = 5000",
                            ] {
                                conn.execute(pragma).await?;
                            }
                            Ok(())
                        })
                    })
                    .connect_with(options.clone())
                    .await?;
                // A store asked for one connection has only the writer.
                let readers = max_connections.saturating_sub(1).min(SQLITE_READERS);
                let reader = if readers == 0 {
                    writer.clone()
                } else {
                    pool_options()
                        .max_connections(readers)
                        .min_connections(0)
                        .acquire_timeout(Duration::from_secs(10))
                        .after_connect(|conn, _| {
                            Box::pin(async move {
                                for pragma in
                                    ["PRAGMA query_only = ON", "PRAGMA busy_timeout = 5000"]
                                {
                                    conn.execute(pragma).await?;
                                }
                                Ok(())
                            })
                        })
                        .connect_with(options)
                        .await?
                };
                // After the writer: it created the file and put it in WAL mode.
                local = Some(std::sync::Arc::new(local::Local::open(
                    &file,
                    readers as usize,
                )?));
                (writer, reader)
            }
            Backend::Postgres => {
                let options = AnyConnectOptions::from_str(url)?.disable_statement_logging();
                // Half the connections serve the hot statements (see `lane`), the rest
                // everything else: `database_max_connections` stays the total. Each hot
                // statement that writes waits for its commit's WAL flush, so more of them in
                // flight share a flush: 8 of the default 16 instead of a quarter (4) gave the
                // benchmark's code flows 9-12 % more (refresh 0-5 %, two interleaved pairs).
                // Below 4 there is no lane.
                let hot = if max_connections >= 4 {
                    (max_connections / 2) as usize
                } else {
                    0
                };
                if hot > 0 {
                    lane = Some(std::sync::Arc::new(lane::Lane::new(
                        options.clone(),
                        hot,
                        acquire_timeout,
                    )));
                }
                let pool = pool_options()
                    .max_connections(max_connections - hot as u32)
                    .acquire_timeout(acquire_timeout)
                    .connect_with(options)
                    .await?;
                (pool.clone(), pool)
            }
        };
        Ok(Store {
            pool,
            reader,
            backend,
            hot: lane,
            local,
            caches: Default::default(),
            outbox_signal: Default::default(),
        })
    }

    pub async fn migrate(&self) -> Result<()> {
        MIGRATOR.run(&self.pool).await?;
        Ok(())
    }

    /// Closes every connection; later queries fail as when the database is unreachable.
    pub async fn close(&self) {
        if let Some(lane) = &self.hot {
            lane.close().await;
        }
        if let Some(local) = &self.local {
            local.close();
        }
        self.pool.close().await;
        self.reader.close().await;
    }

    /// One hot read of at most one row: on the lane (PostgreSQL), or on the request's thread
    /// (SQLite, [`local`]).
    pub(crate) async fn hot_row<T: FromColumns>(
        &self,
        sql: &str,
        args: &[Arg<'_>],
    ) -> Result<Option<T>> {
        if let Some(local) = &self.local {
            return local.read(|c| local::row(c, sql, args)).await;
        }
        let mut hot = self.hot_conn().await?;
        let found = bind_args(sqlx::query(sql), args)
            .fetch_optional(hot.conn()?)
            .await;
        match hot.settle(found)? {
            Some(row) => Ok(Some(T::from_columns(&row)?)),
            None => Ok(None),
        }
    }

    /// A transaction that writes. SQLite: `BEGIN IMMEDIATE`, the write lock taken first, so
    /// that another connection's commit (the hot statements' writer, [`local`], or another
    /// process) cannot come between a read of the transaction and its first write, which SQLite
    /// would refuse (`SQLITE_BUSY_SNAPSHOT`) rather than wait for.
    pub(crate) async fn begin_write(&self) -> Result<sqlx::Transaction<'static, sqlx::Any>> {
        Ok(match self.backend {
            Backend::Sqlite => self.pool.begin_with("BEGIN IMMEDIATE").await?,
            Backend::Postgres => self.pool.begin().await?,
        })
    }

    /// SQLite's connections for hot statements ([`local`]); `None` on PostgreSQL.
    pub(crate) fn local(&self) -> Option<&local::Local> {
        self.local.as_deref()
    }

    /// A connection for a hot PostgreSQL statement, read or write: the lane's, or the pool's
    /// when the lane has no connections (`database_max_connections` below 4). SQLite's hot
    /// statements run on [`local`] instead.
    pub(crate) async fn hot_conn(&self) -> Result<Hot<'_>> {
        match &self.hot {
            Some(lane) => Ok(Hot::Lane(lane.get().await?)),
            None => Ok(Hot::Pooled(self.pool.acquire().await?)),
        }
    }

    /// Readiness: a round trip to the database.
    pub async fn ping(&self) -> Result<()> {
        sqlx::query("SELECT 1").execute(&self.pool).await?;
        Ok(())
    }
}

/// Housekeeping: drops rows that can no longer matter (expired sessions and the applications
/// that saw them, finished deliveries, pending authorization
/// requests, old codes, DPoP `jti`s past their window, revocations of expired tokens, device
/// codes, attempt counters whose window has ended). Run every ten minutes by the server.
pub async fn delete_expired(store: &Store, now: i64) -> Result<()> {
    sessions::delete_expired(store, now).await?;
    // Delivered or given-up deliveries are kept a week for whoever looks into one.
    outbox::delete_finished(store, now - 7 * 24 * 3600).await?;
    oauth::delete_expired_pending(store, now).await?;
    oauth::delete_expired_lifecycle(store, now).await?;
    throttle::delete_expired(store, now).await?;
    email_tokens::delete_expired(store, now).await?;
    Ok(())
}

/// The file of a SQLite `url` when it does not exist yet (connecting would create it); `None`
/// for PostgreSQL, in-memory databases and files that exist.
pub fn new_sqlite_file(url: &str) -> Option<std::path::PathBuf> {
    if !url.starts_with("sqlite:") {
        return None;
    }
    let rest = url
        .trim_start_matches("sqlite://")
        .trim_start_matches("sqlite:");
    let path = rest.split_once('?').map_or(rest, |(p, _)| p);
    if path.is_empty() || path == ":memory:" || Path::new(path).exists() {
        return None;
    }
    Some(std::path::absolute(path).unwrap_or_else(|_| Path::new(path).to_path_buf()))
}

/// `sqlite://data/logi.db` → `sqlite://data/logi.db?mode=rwc`, creating `data/`; with the
/// file's path. An in-memory database is refused: SQLite makes one per connection, and logi's
/// connections (sqlx's and [`local`]'s) must all see the same data.
fn sqlite_url_with_create(url: &str) -> Result<(String, std::path::PathBuf)> {
    let rest = url
        .trim_start_matches("sqlite://")
        .trim_start_matches("sqlite:");
    let (path, query) = rest.split_once('?').unwrap_or((rest, ""));
    if path == ":memory:" || path.is_empty() || query.contains("mode=memory") {
        return Err(StoreError::Url(
            "an in-memory SQLite database is not shared between connections: name a file".into(),
        ));
    }
    if let Some(dir) = Path::new(path).parent() {
        crate::crypto::create_private_dir(dir)
            .map_err(|e| StoreError::Url(format!("cannot create {}: {e}", dir.display())))?;
    }
    create_private_file(Path::new(path))
        .map_err(|e| StoreError::Url(format!("cannot create {path}: {e}")))?;
    let file = Path::new(path).to_path_buf();
    let url = if query.contains("mode=") {
        url.to_string()
    } else if query.is_empty() {
        format!("sqlite://{path}?mode=rwc")
    } else {
        format!("sqlite://{path}?{query}&mode=rwc")
    };
    Ok((url, file))
}

/// Creates an empty database file readable by the owner only (0600) unless it exists: SQLite
/// then creates its `-wal` and `-shm` files with the same mode.
fn create_private_file(path: &Path) -> std::io::Result<()> {
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    match options.open(path) {
        Ok(_) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Ok(()),
        Err(e) => Err(e),
    }
}

/// Lists are stored as JSON arrays in TEXT columns.
pub(crate) fn to_json_list(items: &[String]) -> String {
    serde_json::to_string(items).unwrap_or_else(|_| "[]".into())
}

pub(crate) fn from_json_list(text: &str) -> Result<Vec<String>> {
    serde_json::from_str(text).map_err(|e| StoreError::Corrupt(format!("list column: {e}")))
}

#[cfg(test)]
mod tests {
    #[test]
    fn placeholders_shift_by_whole_numbers() {
        assert_eq!(
            super::shift_placeholders("VALUES ($1, $2, NULL, $12) -- $x $", 9),
            "VALUES ($10, $11, NULL, $21) -- $x $"
        );
        assert_eq!(super::shift_placeholders("a = $3", 0), "a = $3");
    }
}
