//! sqlx's `Any` driver against the native drivers on logi's hot queries (issue 16: "does `Any`
//! cost more than 10 %?"), in this process, before any server starts.
//!
//! For each backend: a fresh database with logi's migrations (through `Store`, then closed),
//! seeded with plain SQL (one user, one application, one grant, [`SEED_TOKENS`] refresh tokens);
//! then, on that database, the same SQL text through an `AnyPool` and through a native
//! `SqlitePool` / `PgPool` with the same pool options as the server (no ping on acquire; SQLite:
//! one writer connection with the server's pragmas and up to four `query_only` readers;
//! PostgreSQL: one pool of [`PG_CONNECTIONS`]). [`TASKS`] tokio tasks run one query in a loop; after [`WARM_UP`] the
//! operations and this process's CPU time (user + system, `getrusage`) are counted for
//! [`WINDOW`]. Each query runs Any, native, Any, native, … ([`ROUNDS`] windows each), so that a
//! drift of the host favours neither side, and each driver's windows are pooled (operations ÷
//! seconds and CPU ÷ operations over all of them: the time-weighted mean). Its best window (the
//! highest operations/s, the lowest CPU per operation) is given beside it as a cross-check: on
//! a shared 2-core host, three runs gave pooled Any ÷ native CPU ratios within ±5 % of each
//! other, while the ratios of the best windows swung by ±15 %.
//!
//! The query code is one generic function per query, instantiated for `Any`, `Sqlite` and
//! `Postgres`: both sides run exactly the same statements, binds and `FromRow` decoding, and
//! differ only in the driver under them. The SQL is copied from `src/store/oauth.rs` (each
//! constant names the function it mirrors): keep them in step when those queries change.
//!
//! On PostgreSQL the CPU counted is the benchmark process's only (the client side, where the
//! drivers differ); the database server's own work is the same for both.

use std::{
    str::FromStr,
    sync::{
        atomic::{AtomicBool, AtomicU64, Ordering},
        Arc, Mutex,
    },
    time::{Duration, Instant},
};

use sqlx::{
    any::{AnyConnectOptions, AnyQueryResult},
    pool::PoolOptions,
    postgres::{PgConnectOptions, PgQueryResult},
    sqlite::{SqliteConnectOptions, SqliteQueryResult},
    Any, ConnectOptions, Connection, Database, Encode, Executor, FromRow, IntoArguments, Pool,
    Postgres, Sqlite, Type,
};

use crate::{
    report::{Report, Row},
    server::{sqlite_version, PgDatabase},
    Backend, Settings,
};

/// Concurrent tokio tasks, each running one query after the other.
const TASKS: usize = 16;
/// Not counted: fills the pools and the statement caches.
const WARM_UP: Duration = Duration::from_millis(250);
/// Counted, per window. Short windows, many rounds: on a shared host a burst of other work
/// spoils a few windows of both drivers rather than one driver's whole measurement.
const WINDOW: Duration = Duration::from_secs(1);
/// Windows per driver and query (Any, native, Any, native, …).
const ROUNDS: usize = 6;
/// Refresh tokens seeded: the reads spread over them, and each rotation window starts its
/// tasks' chains from unused ones.
const SEED_TOKENS: usize = 20_000;
/// The server's default `database_max_connections` (src/config.rs): PostgreSQL's one pool.
const PG_CONNECTIONS: u32 = 16;
/// SQLite readers beside the writer, as `Store::connect` with the default 16 connections.
const SQLITE_READERS: u32 = 4;
const ACQUIRE_TIMEOUT: Duration = Duration::from_secs(10);
/// How the rows of this part begin (their backend column), and what the report says of them.
pub(crate) const ROW_PREFIX: &str = "in-process (sqlx ";
pub(crate) fn footnote() -> String {
    format!(
        "Hot-query rows (`{ROW_PREFIX}…`): logi's refresh read, refresh-token rotation and \
         grant-user read (SQL copied from src/store/oauth.rs) through sqlx's `Any` driver and \
         through the native driver on the same fresh database, in the benchmark process before \
         any server starts, {TASKS} tokio tasks, {ROUNDS} alternating windows of {} s per driver, \
         pooled; req/s is operations/s; CPU per operation (this process) is in the \
         notes.\n",
        WINDOW.as_secs()
    )
}
/// The threshold for "Any costs too much".
const THRESHOLD_PERCENT: f64 = 10.0;
/// How often to look again when another benchmark or server runs.
const BUSY_POLL: Duration = Duration::from_secs(30);

/// The pragmas of `Store::connect`'s SQLite writer and readers (src/store/mod.rs).
const WRITER_PRAGMAS: [&str; 4] = [
    "PRAGMA journal_mode = WAL",
    "PRAGMA synchronous = NORMAL",
    "PRAGMA foreign_keys = ON",
    "PRAGMA busy_timeout = 5000",
];
const READER_PRAGMAS: [&str; 2] = ["PRAGMA query_only = ON", "PRAGMA busy_timeout = 5000"];

const USER_ID: &str = "bench-drivers-user";
const APPLICATION_ID: &str = "bench-drivers-application";
const GRANT_ID: &str = "bench-drivers-grant";
const SCOPE: &str = "openid offline_access";
const REFRESH_TTL: i64 = 30 * 24 * 3600;

// ---------------------------------------------------------------------------------------------
// The queries, copied from src/store/oauth.rs

/// Mirrors `store::oauth::refresh_and_grant` (`SELECT r.*, {GRANT_COLUMNS} …`).
const REFRESH_READ: &str = concat!(
    "SELECT r.*, ",
    "g.id AS g_id, g.application_id AS g_application_id, g.user_id AS g_user_id, ",
    "g.scope AS g_scope, g.auth_time AS g_auth_time, g.created_at AS g_created_at, ",
    "g.revoked_at AS g_revoked_at, g.sid AS g_sid, g.resources AS g_resources, g.amr AS g_amr",
    " FROM refresh_tokens r JOIN grants g ON g.id = r.grant_id WHERE r.token_hash = $1"
);

/// Mirrors `store::oauth::rotate_into` on PostgreSQL: one data-modifying CTE.
const ROTATE_POSTGRES: &str = "WITH rotated AS ( \
       UPDATE refresh_tokens SET used_at = $2, successor_enc = $10 \
       WHERE token_hash = $1 AND used_at IS NULL \
       AND grant_id IN (SELECT id FROM grants WHERE revoked_at IS NULL) RETURNING grant_id) \
     INSERT INTO refresh_tokens (token_hash, grant_id, application_id, scope, created_at, \
       expires_at, used_at, dpop_jkt) \
     SELECT $3, $4, $5, $6, $7, $8, NULL, $9 FROM rotated WHERE rotated.grant_id = $4";

/// Mirrors `store::oauth::rotate_refresh`, the first statement of `rotate_into` on SQLite.
const ROTATE_SQLITE_UPDATE: &str =
    "UPDATE refresh_tokens SET used_at = $2, successor_enc = $3 WHERE token_hash = $1 \
     AND used_at IS NULL AND grant_id IN (SELECT id FROM grants WHERE revoked_at IS NULL)";

/// Mirrors `store::oauth::insert_refresh`, the second statement of `rotate_into` on SQLite.
const ROTATE_SQLITE_INSERT: &str =
    "INSERT INTO refresh_tokens (token_hash, grant_id, application_id, scope, created_at, expires_at, used_at, dpop_jkt) \
     VALUES ($1, $2, $3, $4, $5, $6, NULL, $7)";

/// Mirrors `store::oauth::active_grant_user` (without its cache: the query is what is measured).
const GRANT_USER_READ: &str = "SELECT u.* FROM grants g JOIN users u ON u.id = g.user_id \
     WHERE g.id = $1 AND g.revoked_at IS NULL AND u.disabled = 0";

/// The grant columns under their `g_` prefix, as `store::oauth`'s private `PrefixedGrant`.
#[derive(sqlx::FromRow)]
#[allow(dead_code)] // decoded to be measured, never read
struct PrefixedGrant {
    g_id: String,
    g_application_id: String,
    g_user_id: Option<String>,
    g_scope: String,
    g_auth_time: i64,
    g_created_at: i64,
    g_revoked_at: Option<i64>,
    g_sid: Option<String>,
    g_resources: String,
    g_amr: String,
}

/// The columns of `store::oauth::RefreshToken` (which decodes itself through the store's own
/// column trait, for sqlx's `Any` rows and rusqlite's: here each driver's own rows are decoded).
#[derive(sqlx::FromRow)]
#[allow(dead_code)] // decoded to be measured, never read
struct RefreshToken {
    token_hash: String,
    grant_id: String,
    application_id: String,
    scope: String,
    created_at: i64,
    expires_at: i64,
    used_at: Option<i64>,
    dpop_jkt: Option<String>,
    successor_enc: Option<String>,
}

/// The columns of `store::users::User`, as [`RefreshToken`].
#[derive(sqlx::FromRow)]
#[allow(dead_code)] // decoded to be measured, never read
struct User {
    id: String,
    email: String,
    password_hash: String,
    name: String,
    created_at: i64,
    updated_at: i64,
    email_verified: i64,
    disabled: i64,
}

/// As `store::oauth`'s `refresh_and_grant` reads it: the token and the grant.
#[derive(sqlx::FromRow)]
#[allow(dead_code)] // decoded to be measured, never read
struct RefreshWithGrant {
    #[sqlx(flatten)]
    token: RefreshToken,
    #[sqlx(flatten)]
    grant: PrefixedGrant,
}

/// `rows_affected`, which sqlx has on each driver's result but in no trait.
trait RowsAffected {
    fn rows(&self) -> u64;
}

impl RowsAffected for AnyQueryResult {
    fn rows(&self) -> u64 {
        self.rows_affected()
    }
}

impl RowsAffected for SqliteQueryResult {
    fn rows(&self) -> u64 {
        self.rows_affected()
    }
}

impl RowsAffected for PgQueryResult {
    fn rows(&self) -> u64 {
        self.rows_affected()
    }
}

/// One driver's pools on the database. The functions below are generic over the driver
/// (`Any`, `Sqlite`, `Postgres`); Rust has no trait aliases, so each spells out its bounds.
struct Pools<DB: Database> {
    /// Writes (SQLite: the one writer connection; PostgreSQL: the pool).
    writer: Pool<DB>,
    /// Single reads (SQLite: the `query_only` connections; PostgreSQL: the same pool).
    reader: Pool<DB>,
}

impl<DB: Database> Pools<DB> {
    async fn close(&self) {
        self.writer.close().await;
        self.reader.close().await;
    }
}

/// The pools `Store::connect` would open on `backend`, with its options and pragmas.
async fn open<DB>(
    backend: Backend,
    options: <DB::Connection as Connection>::Options,
) -> Result<Pools<DB>, sqlx::Error>
where
    DB: Database,
    for<'c> &'c mut DB::Connection: Executor<'c, Database = DB>,
{
    match backend {
        Backend::Sqlite => {
            let writer = PoolOptions::<DB>::new()
                .test_before_acquire(false)
                .max_connections(1)
                .min_connections(1)
                .acquire_timeout(ACQUIRE_TIMEOUT)
                .after_connect(|conn, _| {
                    Box::pin(async move {
                        for pragma in WRITER_PRAGMAS {
                            conn.execute(pragma).await?;
                        }
                        Ok(())
                    })
                })
                .connect_with(options.clone())
                .await?;
            let reader = PoolOptions::<DB>::new()
                .test_before_acquire(false)
                .max_connections(SQLITE_READERS)
                .min_connections(0)
                .acquire_timeout(ACQUIRE_TIMEOUT)
                .after_connect(|conn, _| {
                    Box::pin(async move {
                        for pragma in READER_PRAGMAS {
                            conn.execute(pragma).await?;
                        }
                        Ok(())
                    })
                })
                .connect_with(options)
                .await?;
            Ok(Pools { writer, reader })
        }
        Backend::Postgres => {
            let pool = PoolOptions::<DB>::new()
                .test_before_acquire(false)
                .max_connections(PG_CONNECTIONS)
                .acquire_timeout(ACQUIRE_TIMEOUT)
                .connect_with(options)
                .await?;
            Ok(Pools {
                writer: pool.clone(),
                reader: pool,
            })
        }
    }
}

/// One refresh read; false when the token is missing (which the seeding rules out).
async fn refresh_read<DB>(pool: &Pool<DB>, token_hash: &str) -> Result<bool, sqlx::Error>
where
    DB: Database,
    for<'c> &'c mut DB::Connection: Executor<'c, Database = DB>,
    for<'q> DB::Arguments<'q>: IntoArguments<'q, DB>,
    for<'q> &'q str: Encode<'q, DB> + Type<DB>,
    for<'r> RefreshWithGrant: FromRow<'r, DB::Row>,
{
    let row: Option<RefreshWithGrant> = sqlx::query_as(REFRESH_READ)
        .bind(token_hash)
        .fetch_optional(pool)
        .await?;
    Ok(std::hint::black_box(row).is_some())
}

/// One grant-user read; false when the grant or its user is missing.
async fn grant_user_read<DB>(pool: &Pool<DB>) -> Result<bool, sqlx::Error>
where
    DB: Database,
    for<'c> &'c mut DB::Connection: Executor<'c, Database = DB>,
    for<'q> DB::Arguments<'q>: IntoArguments<'q, DB>,
    for<'q> &'q str: Encode<'q, DB> + Type<DB>,
    for<'r> User: FromRow<'r, DB::Row>,
{
    let user: Option<User> = sqlx::query_as(GRANT_USER_READ)
        .bind(GRANT_ID)
        .fetch_optional(pool)
        .await?;
    Ok(std::hint::black_box(user).is_some())
}

/// Rotates `old` into `next` as `store::oauth::rotate_into` does on `backend` (no DPoP key, no
/// reuse interval: both NULL, bound as logi binds them); false when `old` was not rotatable.
async fn rotate<DB>(
    pool: &Pool<DB>,
    backend: Backend,
    old: &str,
    next: &str,
    now: i64,
) -> Result<bool, sqlx::Error>
where
    DB: Database,
    DB::QueryResult: RowsAffected,
    for<'c> &'c mut DB::Connection: Executor<'c, Database = DB>,
    for<'q> DB::Arguments<'q>: IntoArguments<'q, DB>,
    for<'q> &'q str: Encode<'q, DB> + Type<DB>,
    for<'q> Option<&'q str>: Encode<'q, DB> + Type<DB>,
    for<'q> i64: Encode<'q, DB> + Type<DB>,
{
    let none: Option<&str> = None;
    match backend {
        Backend::Postgres => {
            let done = sqlx::query(ROTATE_POSTGRES)
                .bind(old)
                .bind(now)
                .bind(next)
                .bind(GRANT_ID)
                .bind(APPLICATION_ID)
                .bind(SCOPE)
                .bind(now)
                .bind(now + REFRESH_TTL)
                .bind(none)
                .bind(none)
                .execute(pool)
                .await?;
            Ok(done.rows() == 1)
        }
        Backend::Sqlite => {
            let mut tx = pool.begin().await?;
            let done = sqlx::query(ROTATE_SQLITE_UPDATE)
                .bind(old)
                .bind(now)
                .bind(none)
                .execute(&mut *tx)
                .await?;
            if done.rows() != 1 {
                return Ok(false);
            }
            sqlx::query(ROTATE_SQLITE_INSERT)
                .bind(next)
                .bind(GRANT_ID)
                .bind(APPLICATION_ID)
                .bind(SCOPE)
                .bind(now)
                .bind(now + REFRESH_TTL)
                .bind(none)
                .execute(&mut *tx)
                .await?;
            tx.commit().await?;
            Ok(true)
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Measuring

#[derive(Clone, Copy, Debug, PartialEq)]
enum Query {
    RefreshRead,
    Rotation,
    GrantUserRead,
}

impl Query {
    fn label(self) -> &'static str {
        match self {
            Query::RefreshRead => "refresh read",
            Query::Rotation => "rotation",
            Query::GrantUserRead => "grant user read",
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq)]
enum Driver {
    Any,
    Native,
}

impl Driver {
    fn label(self) -> &'static str {
        match self {
            Driver::Any => "Any",
            Driver::Native => "native",
        }
    }
}

/// What every task of every window shares on one database.
struct Seeded {
    backend: Backend,
    /// The seeded tokens' hashes (`seed-1` …).
    tokens: Vec<String>,
    now: i64,
    /// Numbers the successors of rotations (unique across windows and drivers).
    next_successor: AtomicU64,
}

impl Seeded {
    fn successor(&self) -> String {
        let n = self.next_successor.fetch_add(1, Ordering::Relaxed);
        // 43 characters, as a base64url SHA-256 in logi.
        format!("rotated-{n:035}")
    }
}

#[derive(Default)]
struct Counters {
    ops: AtomicU64,
    errors: AtomicU64,
    stop: AtomicBool,
    first_error: Mutex<Option<String>>,
}

impl Counters {
    fn fail(&self, error: String) {
        self.errors.fetch_add(1, Ordering::Relaxed);
        if let Ok(mut first) = self.first_error.lock() {
            first.get_or_insert(error);
        }
    }
}

/// Counted over one or more windows.
#[derive(Clone, Debug, Default)]
struct Tally {
    ops: u64,
    errors: u64,
    seconds: f64,
    cpu_seconds: f64,
    first_error: Option<String>,
}

impl Tally {
    fn add(&mut self, w: &Tally) {
        self.ops += w.ops;
        self.errors += w.errors;
        self.seconds += w.seconds;
        self.cpu_seconds += w.cpu_seconds;
        if self.first_error.is_none() {
            self.first_error.clone_from(&w.first_error);
        }
    }

    fn rate(&self) -> f64 {
        self.ops as f64 / self.seconds.max(f64::MIN_POSITIVE)
    }

    /// CPU microseconds per operation.
    fn cpu_us(&self) -> f64 {
        1e6 * self.cpu_seconds / (self.ops.max(1) as f64)
    }
}

/// One driver's windows on one query: the best of them, and all pooled.
struct Summary {
    best_rate: f64,
    best_cpu_us: f64,
    pooled: Tally,
}

impl Summary {
    fn new() -> Summary {
        Summary {
            best_rate: 0.0,
            best_cpu_us: f64::INFINITY,
            pooled: Tally::default(),
        }
    }

    fn keep(&mut self, w: &Tally) {
        self.best_rate = self.best_rate.max(w.rate());
        self.best_cpu_us = self.best_cpu_us.min(w.cpu_us());
        self.pooled.add(w);
    }
}

/// User + system CPU seconds of this process, all threads (sqlx's SQLite workers included).
fn process_cpu_seconds() -> f64 {
    // SAFETY: `rusage` is plain integers, so all-zero is a valid value, and `getrusage` only
    // writes into the struct it is handed.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    let rc = unsafe { libc::getrusage(libc::RUSAGE_SELF, &mut usage) };
    if rc != 0 {
        return crate::server::cpu_seconds(std::process::id()).unwrap_or(0.0);
    }
    let seconds = |t: libc::timeval| t.tv_sec as f64 + t.tv_usec as f64 / 1e6;
    seconds(usage.ru_utime) + seconds(usage.ru_stime)
}

/// One window: [`TASKS`] tasks run `query` through `pools`; rotation chains start at the seeded
/// tokens `first_seed..first_seed + TASKS`, which no other window uses.
async fn window<DB>(
    pools: Arc<Pools<DB>>,
    seeded: Arc<Seeded>,
    query: Query,
    first_seed: usize,
) -> Tally
where
    DB: Database,
    DB::QueryResult: RowsAffected,
    for<'c> &'c mut DB::Connection: Executor<'c, Database = DB>,
    for<'q> DB::Arguments<'q>: IntoArguments<'q, DB>,
    for<'q> &'q str: Encode<'q, DB> + Type<DB>,
    for<'q> Option<&'q str>: Encode<'q, DB> + Type<DB>,
    for<'q> i64: Encode<'q, DB> + Type<DB>,
    for<'r> RefreshWithGrant: FromRow<'r, DB::Row>,
    for<'r> User: FromRow<'r, DB::Row>,
{
    let counters = Arc::new(Counters::default());
    let tasks: Vec<_> = (0..TASKS)
        .map(|t| {
            let (pools, seeded, counters) = (pools.clone(), seeded.clone(), counters.clone());
            tokio::spawn(async move {
                let mut chain = seeded.tokens[(first_seed + t) % seeded.tokens.len()].clone();
                let mut next_read = t;
                while !counters.stop.load(Ordering::Relaxed) {
                    let done = match query {
                        Query::RefreshRead => {
                            let token = &seeded.tokens[next_read % seeded.tokens.len()];
                            next_read += TASKS;
                            refresh_read(&pools.reader, token).await
                        }
                        Query::Rotation => {
                            let next = seeded.successor();
                            let done =
                                rotate(&pools.writer, seeded.backend, &chain, &next, seeded.now)
                                    .await;
                            if let Ok(true) = done {
                                chain = next;
                            }
                            done
                        }
                        Query::GrantUserRead => grant_user_read(&pools.reader).await,
                    };
                    match done {
                        Ok(true) => {
                            counters.ops.fetch_add(1, Ordering::Relaxed);
                        }
                        Ok(false) => counters.fail(format!("{}: no row", query.label())),
                        Err(e) => counters.fail(format!("{}: {e}", query.label())),
                    }
                }
            })
        })
        .collect();
    tokio::time::sleep(WARM_UP).await;
    let start = (
        Instant::now(),
        process_cpu_seconds(),
        counters.ops.load(Ordering::Relaxed),
        counters.errors.load(Ordering::Relaxed),
    );
    tokio::time::sleep(WINDOW).await;
    let end = (
        Instant::now(),
        process_cpu_seconds(),
        counters.ops.load(Ordering::Relaxed),
        counters.errors.load(Ordering::Relaxed),
    );
    counters.stop.store(true, Ordering::Relaxed);
    for task in tasks {
        if let Err(e) = task.await {
            counters.fail(format!("{}: task failed: {e}", query.label()));
        }
    }
    let first_error = counters.first_error.lock().ok().and_then(|e| e.clone());
    Tally {
        ops: end.2 - start.2,
        errors: end.3 - start.3,
        seconds: (end.0 - start.0).as_secs_f64(),
        cpu_seconds: end.1 - start.1,
        first_error,
    }
}

/// Other load on the machine: another benchmark or a `logi serve` (the lead profiles here, and
/// two loads at once spoil both measurements). Lines of `pgrep -fa`, this process left out.
fn other_load() -> Vec<String> {
    let own = std::process::id().to_string();
    let output = std::process::Command::new("pgrep")
        .args(["-fa", "logi serve|target/release/deps/load-"])
        .output();
    match output {
        Ok(out) => String::from_utf8_lossy(&out.stdout)
            .lines()
            .filter(|l| l.split_whitespace().next() != Some(own.as_str()))
            .map(String::from)
            .collect(),
        // Without pgrep there is nothing to wait for.
        Err(_) => Vec::new(),
    }
}

/// Waits, polling every [`BUSY_POLL`], until [`other_load`] finds nothing.
async fn wait_for_quiet() {
    loop {
        let others = other_load();
        if others.is_empty() {
            return;
        }
        println!(
            "drivers: waiting {} s, other load running:\n  {}",
            BUSY_POLL.as_secs(),
            others.join("\n  ")
        );
        tokio::time::sleep(BUSY_POLL).await;
    }
}

/// Any, native, Any, native … for each query; returns each (query, driver)'s summary.
async fn compare(
    any: Arc<Pools<Any>>,
    native: NativePools,
    seeded: Arc<Seeded>,
) -> Vec<(Query, Driver, Summary)> {
    let mut results = Vec::new();
    let mut first_seed = 0;
    for query in [Query::RefreshRead, Query::Rotation, Query::GrantUserRead] {
        let mut tallies = [Summary::new(), Summary::new()];
        for round in 0..ROUNDS {
            for (i, driver) in [Driver::Any, Driver::Native].into_iter().enumerate() {
                wait_for_quiet().await;
                let w = match (driver, &native) {
                    (Driver::Any, _) => {
                        window(any.clone(), seeded.clone(), query, first_seed).await
                    }
                    (Driver::Native, NativePools::Sqlite(p)) => {
                        window(p.clone(), seeded.clone(), query, first_seed).await
                    }
                    (Driver::Native, NativePools::Postgres(p)) => {
                        window(p.clone(), seeded.clone(), query, first_seed).await
                    }
                };
                first_seed += TASKS;
                println!(
                    "  {} / {} round {}: {:.0} ops/s, {:.1} µs CPU/op, {} errors",
                    query.label(),
                    driver.label(),
                    round + 1,
                    w.rate(),
                    w.cpu_us(),
                    w.errors
                );
                tallies[i].keep(&w);
            }
        }
        let [a, n] = tallies;
        results.push((query, Driver::Any, a));
        results.push((query, Driver::Native, n));
    }
    results
}

enum NativePools {
    Sqlite(Arc<Pools<Sqlite>>),
    Postgres(Arc<Pools<Postgres>>),
}

// ---------------------------------------------------------------------------------------------
// Seeding

/// One user, one application, one grant of that user, [`SEED_TOKENS`] refresh tokens of it
/// (`seed-1` …, generated by a recursive CTE that both engines run), in plain SQL.
async fn seed(url: &str, backend: Backend, now: i64) -> Result<Vec<String>, String> {
    let options = AnyConnectOptions::from_str(url)
        .map_err(|e| e.to_string())?
        .disable_statement_logging();
    let mut conn = sqlx::AnyConnection::connect_with(&options)
        .await
        .map_err(|e| format!("connect: {e}"))?;
    let statements = [
        format!(
            "INSERT INTO users (id, email, password_hash, name, created_at, updated_at, \
             email_verified) VALUES ('{USER_ID}', 'drivers@bench.invalid', 'unused', 'Bench', \
             {now}, {now}, 1)"
        ),
        format!(
            "INSERT INTO applications (id, client_id, owner_id, client_name, client_type, \
             token_endpoint_auth_method, secret_hash, redirect_uris, post_logout_redirect_uris, \
             grant_types, scope, id_token_signed_response_alg, dpop_bound_access_tokens, \
             created_at, updated_at) VALUES ('{APPLICATION_ID}', 'bench-drivers', '{USER_ID}', \
             'Bench', 'confidential', 'client_secret_basic', 'unused', \
             '[\"https://bench.invalid/cb\"]', '[]', '[\"authorization_code\",\"refresh_token\"]', \
             '{SCOPE}', 'RS256', 0, {now}, {now})"
        ),
        format!(
            "INSERT INTO grants (id, application_id, user_id, scope, auth_time, created_at, \
             revoked_at, sid, resources, amr) VALUES ('{GRANT_ID}', '{APPLICATION_ID}', \
             '{USER_ID}', '{SCOPE}', {now}, {now}, NULL, NULL, '', 'pwd')"
        ),
        format!(
            "WITH RECURSIVE n (i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < {SEED_TOKENS}) \
             INSERT INTO refresh_tokens (token_hash, grant_id, application_id, scope, created_at, \
             expires_at, used_at, dpop_jkt) \
             SELECT 'seed-' || i, '{GRANT_ID}', '{APPLICATION_ID}', '{SCOPE}', {now}, {}, NULL, NULL \
             FROM n",
            now + REFRESH_TTL
        ),
    ];
    for sql in &statements {
        conn.execute(sql.as_str())
            .await
            .map_err(|e| format!("{sql}: {e}"))?;
    }
    if backend == Backend::Postgres {
        conn.execute("ANALYZE")
            .await
            .map_err(|e| format!("ANALYZE: {e}"))?;
    }
    let _ = conn.close().await;
    Ok((1..=SEED_TOKENS).map(|i| format!("seed-{i}")).collect())
}

// ---------------------------------------------------------------------------------------------
// Entry point

/// The rows and notes of the drivers part (see the module documentation).
pub(crate) async fn bench_drivers(settings: &Settings, report: &mut Report) {
    for &backend in &settings.driver_backends {
        let name = backend.name();
        println!("\n== drivers: sqlx Any vs native on {name}");
        match bench_backend(settings, backend, report).await {
            Ok(results) => summarise(report, backend, &results),
            Err(e) => {
                let note = format!("drivers on {name} skipped: {e}");
                println!("{note}");
                report.notes.push(note);
            }
        }
    }
}

async fn bench_backend(
    settings: &Settings,
    backend: Backend,
    report: &mut Report,
) -> Result<Vec<(Query, Driver, Summary)>, String> {
    // SQLite: a file in a folder of this run; PostgreSQL: a database of this run. Both go away
    // with their guards at the end of this function.
    let dir = std::env::temp_dir().join(format!("logi-bench-{}-drivers", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    let _dir = RemoveDir(dir.clone());
    let (url, database) = match backend {
        Backend::Sqlite => (
            format!("sqlite://{}", dir.join("drivers.db").display()),
            None,
        ),
        Backend::Postgres => {
            let name = format!("logi_bench_drivers_{}", std::process::id());
            let db = PgDatabase::create(&settings.postgres_url, &name)
                .await
                .map_err(|e| {
                    format!("{} is unreachable or refused ({e})", settings.postgres_url)
                })?;
            (db.url.clone(), Some(db))
        }
    };
    let version = match &database {
        Some(db) => format!("PostgreSQL {}", db.version),
        None => format!("SQLite {}", sqlite_version().await),
    };
    if !report.versions.contains(&version) {
        report.versions.push(version);
    }

    let store = logi::store::Store::connect(&url, 1, ACQUIRE_TIMEOUT)
        .await
        .map_err(|e| format!("Store::connect: {e}"))?;
    store
        .migrate()
        .await
        .map_err(|e| format!("migrations: {e}"))?;
    store.close().await;
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0);
    let tokens = seed(&url, backend, now).await?;
    println!("seeded: 1 user, 1 application, 1 grant, {SEED_TOKENS} refresh tokens");
    let seeded = Arc::new(Seeded {
        backend,
        tokens,
        now,
        next_successor: AtomicU64::new(0),
    });

    let any_options = AnyConnectOptions::from_str(&url)
        .map_err(|e| e.to_string())?
        .disable_statement_logging();
    let any = Arc::new(
        open::<Any>(backend, any_options)
            .await
            .map_err(|e| format!("Any pools: {e}"))?,
    );
    let native = match backend {
        Backend::Sqlite => {
            let options = SqliteConnectOptions::from_str(&url)
                .map_err(|e| e.to_string())?
                .disable_statement_logging();
            NativePools::Sqlite(Arc::new(
                open::<Sqlite>(backend, options)
                    .await
                    .map_err(|e| format!("SqlitePool: {e}"))?,
            ))
        }
        Backend::Postgres => {
            let options = PgConnectOptions::from_str(&url)
                .map_err(|e| e.to_string())?
                .disable_statement_logging();
            NativePools::Postgres(Arc::new(
                open::<Postgres>(backend, options)
                    .await
                    .map_err(|e| format!("PgPool: {e}"))?,
            ))
        }
    };
    let results = compare(any.clone(), native.clone_pools(), seeded).await;
    any.close().await;
    match native {
        NativePools::Sqlite(p) => p.close().await,
        NativePools::Postgres(p) => p.close().await,
    }
    // `database` is dropped here, after its pools closed.
    drop(database);
    Ok(results)
}

impl NativePools {
    fn clone_pools(&self) -> NativePools {
        match self {
            NativePools::Sqlite(p) => NativePools::Sqlite(p.clone()),
            NativePools::Postgres(p) => NativePools::Postgres(p.clone()),
        }
    }
}

/// Removes this run's folder, whatever happened in it.
struct RemoveDir(std::path::PathBuf);

impl Drop for RemoveDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// The rows of one backend, its ratio note and its verdict.
fn summarise(report: &mut Report, backend: Backend, results: &[(Query, Driver, Summary)]) {
    let name = backend.name();
    for (query, driver, summary) in results {
        report.rows.push(Row {
            backend: format!("{ROW_PREFIX}{}, {name})", driver.label()),
            scenario: format!("hot query: {} ({TASKS} tasks)", query.label()),
            load: Some((
                summary.pooled.rate(),
                None,
                None,
                Some(summary.pooled.errors),
            )),
            rss_kib: None,
            cpu_ms: Some(summary.pooled.cpu_us() / 1000.0),
        });
        if let Some(e) = &summary.pooled.first_error {
            report.notes.push(format!(
                "{name} / sqlx {} / {}: first failure: {e}",
                driver.label(),
                query.label()
            ));
        }
    }
    let mut ratios = Vec::new();
    let mut verdicts = Vec::new();
    for query in [Query::RefreshRead, Query::Rotation, Query::GrantUserRead] {
        let find = |d: Driver| {
            results
                .iter()
                .find(|(q, driver, _)| *q == query && *driver == d)
                .map(|(_, _, t)| t)
        };
        let (Some(a), Some(n)) = (find(Driver::Any), find(Driver::Native)) else {
            continue;
        };
        let (pa, pn) = (&a.pooled, &n.pooled);
        let cpu_ratio = pa.cpu_us() / pn.cpu_us().max(f64::MIN_POSITIVE);
        ratios.push(format!(
            "{}: Any {:.0} ops/s at {:.1} µs CPU/op, native {:.0} ops/s at {:.1} µs CPU/op, \
             native ÷ Any {:.2}× the ops/s, Any ÷ native {:.2}× the CPU/op (best windows: \
             {:.2}× and {:.2}×)",
            query.label(),
            pa.rate(),
            pa.cpu_us(),
            pn.rate(),
            pn.cpu_us(),
            pn.rate() / pa.rate().max(f64::MIN_POSITIVE),
            cpu_ratio,
            n.best_rate / a.best_rate.max(f64::MIN_POSITIVE),
            a.best_cpu_us / n.best_cpu_us.max(f64::MIN_POSITIVE),
        ));
        let percent = 100.0 * (cpu_ratio - 1.0);
        let side = if percent > THRESHOLD_PERCENT {
            "above"
        } else {
            "within"
        };
        verdicts.push(if percent >= 0.0 {
            format!(
                "Any costs {percent:.0} % more CPU per operation than native on {} \
                 ({side} the {THRESHOLD_PERCENT:.0} % threshold)",
                query.label()
            )
        } else {
            format!(
                "Any costs {:.0} % less CPU per operation than native on {} \
                 (within the {THRESHOLD_PERCENT:.0} % threshold)",
                -percent,
                query.label()
            )
        });
    }
    let pool = match backend {
        Backend::Sqlite => format!("1 writer + {SQLITE_READERS} readers"),
        Backend::Postgres => format!("{PG_CONNECTIONS} connections"),
    };
    let note = format!(
        "{name}, sqlx Any vs native on the same database ({pool}, {TASKS} tasks, {ROUNDS} \
         alternating windows of {} s per driver, pooled; CPU = this process, \
         user+system): {}",
        WINDOW.as_secs(),
        ratios.join("; ")
    );
    println!("{note}");
    report.notes.push(note);
    let verdict = format!("{name} verdict: {}", verdicts.join("; "));
    println!("{verdict}");
    report.notes.push(verdict);
}
