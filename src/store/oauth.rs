//! OAuth state: grants, consents, pending authorization requests, codes and refresh tokens.
//!
//! Every write that spans several statements is one public function here that runs them in one
//! transaction (or one statement): [`insert_grant_with_code`], [`redeem`], [`rotate_into`]. The
//! single-statement helpers that take an executor are private to the store, so the protocol
//! never opens a transaction itself.

use sqlx::{Any, Executor};

use rusqlite::TransactionBehavior;

use super::{any_row_from_columns, bind_args, local, Arg, Columns, FromColumns, Result, Store};

any_row_from_columns!(RefreshToken, Code);

#[derive(Clone, Debug, sqlx::FromRow)]
pub struct Grant {
    pub id: String,
    pub application_id: String,
    pub user_id: Option<String>,
    pub scope: String,
    pub auth_time: i64,
    pub created_at: i64,
    pub revoked_at: Option<i64>,
    /// The browser session that granted it (OIDC `sid`), if any.
    pub sid: Option<String>,
    /// The protected APIs (identifiers, RFC 8707) it covers; empty: tokens for logi itself.
    pub resources: Vec<String>,
    /// How the user authenticated (RFC 8176 values, space-separated), copied from the session
    /// that made it; empty when there is no user.
    pub amr: String,
}

const GRANT_INSERT: &str =
    "INSERT INTO grants (id, application_id, user_id, scope, auth_time, created_at, revoked_at, sid, resources, amr) \
     VALUES ($1, $2, $3, $4, $5, $6, NULL, $7, $8, $9)";
/// The placeholders of [`GRANT_INSERT`].
const GRANT_INSERT_BINDS: usize = 9;

/// The arguments of [`GRANT_INSERT`]; `resources`: `g.resources` joined by spaces.
fn grant_args<'a>(g: &'a Grant, resources: &'a str) -> [Arg<'a>; GRANT_INSERT_BINDS] {
    [
        Arg::Text(&g.id),
        Arg::Text(&g.application_id),
        Arg::OptText(g.user_id.as_deref()),
        Arg::Text(&g.scope),
        Arg::Int(g.auth_time),
        Arg::Int(g.created_at),
        Arg::OptText(g.sid.as_deref()),
        Arg::Text(resources),
        Arg::Text(&g.amr),
    ]
}

async fn insert_grant<'e, E: Executor<'e, Database = Any>>(ex: E, g: &Grant) -> Result<()> {
    let resources = g.resources.join(" ");
    bind_args(sqlx::query(GRANT_INSERT), &grant_args(g, &resources))
        .execute(ex)
        .await?;
    Ok(())
}

/// Revokes a grant: every code, refresh token and access token pointing to it dies with it,
/// in every process (see [`super::cache`]).
pub async fn revoke_grant(store: &Store, grant_id: &str, now: i64) -> Result<()> {
    sqlx::query("UPDATE grants SET revoked_at = $2 WHERE id = $1 AND revoked_at IS NULL")
        .bind(grant_id)
        .bind(now)
        .execute(&store.pool)
        .await?;
    super::cache::announce(store, super::cache::Change::GrantRevoked(grant_id)).await
}

/// The user of an unrevoked grant: one round trip (or none, from the cache) answers both "is
/// it revoked?" and "whose?".
pub async fn active_grant_user(
    store: &Store,
    grant_id: &str,
) -> Result<Option<std::sync::Arc<super::users::User>>> {
    if let Some(user) = store.caches.grant_user(grant_id) {
        return Ok(Some(user));
    }
    let generation = store.caches.generation();
    let user: Option<super::users::User> = store
        .hot_row(
            "SELECT u.* FROM grants g JOIN users u ON u.id = g.user_id \
             WHERE g.id = $1 AND g.revoked_at IS NULL AND u.disabled = 0",
            &[Arg::Text(grant_id)],
        )
        .await?;
    Ok(user.map(|u| {
        let u = std::sync::Arc::new(u);
        store.caches.remember_grant(grant_id, u.clone(), generation);
        u
    }))
}

/// Remembers `user` as the user of the grant just created for them, with the generation taken
/// before `user` was read (a change announced since then wins; see `store::cache`).
pub fn remember_grant_user(
    store: &Store,
    grant_id: &str,
    user: &super::users::User,
    generation: i64,
) {
    store
        .caches
        .remember_grant(grant_id, std::sync::Arc::new(user.clone()), generation);
}

pub async fn remember_consent(
    store: &Store,
    user_id: &str,
    application_id: &str,
    scope: &str,
    now: i64,
) -> Result<()> {
    sqlx::query(
        "INSERT INTO consents (user_id, application_id, scope, created_at) VALUES ($1, $2, $3, $4) \
         ON CONFLICT (user_id, application_id, scope) DO NOTHING",
    )
    .bind(user_id)
    .bind(application_id)
    .bind(scope)
    .bind(now)
    .execute(&store.pool)
    .await?;
    Ok(())
}

/// Revokes every grant of a user, or only those of one application (`application_id`), and
/// forgets the remembered consents they came with: every code, refresh token and access token
/// of those grants dies at once, in every process (one [`super::cache::Change::User`]).
/// Returns the number of grants revoked.
pub async fn revoke_user_grants(
    store: &Store,
    user_id: &str,
    application_id: Option<&str>,
    now: i64,
) -> Result<u64> {
    let mut tx = store.begin_write().await?;
    let revoked = match application_id {
        Some(app) => sqlx::query(
            "UPDATE grants SET revoked_at = $2 \
             WHERE user_id = $1 AND application_id = $3 AND revoked_at IS NULL",
        )
        .bind(user_id)
        .bind(now)
        .bind(app),
        None => sqlx::query(
            "UPDATE grants SET revoked_at = $2 WHERE user_id = $1 AND revoked_at IS NULL",
        )
        .bind(user_id)
        .bind(now),
    }
    .execute(&mut *tx)
    .await?
    .rows_affected();
    match application_id {
        Some(app) => sqlx::query("DELETE FROM consents WHERE user_id = $1 AND application_id = $2")
            .bind(user_id)
            .bind(app),
        None => sqlx::query("DELETE FROM consents WHERE user_id = $1").bind(user_id),
    }
    .execute(&mut *tx)
    .await?;
    tx.commit().await?;
    super::cache::announce(store, super::cache::Change::User(user_id)).await?;
    Ok(revoked)
}

/// A live grant of a user with its application, for the account page.
#[derive(Clone, Debug, sqlx::FromRow)]
pub struct UserGrant {
    pub application_id: String,
    pub client_id: String,
    pub client_name: String,
    pub owner_id: String,
    pub scope: String,
    pub resources: String,
    pub created_at: i64,
}

/// The unrevoked grants of a user, by application name.
pub async fn user_grants(store: &Store, user_id: &str) -> Result<Vec<UserGrant>> {
    Ok(sqlx::query_as(
        "SELECT g.application_id, a.client_id, a.client_name, a.owner_id, g.scope, g.resources, \
         g.created_at FROM grants g JOIN applications a ON a.id = g.application_id \
         WHERE g.user_id = $1 AND g.revoked_at IS NULL ORDER BY a.client_name, a.client_id, g.created_at",
    )
    .bind(user_id)
    .fetch_all(&store.pool)
    .await?)
}

#[derive(Clone, Debug, sqlx::FromRow)]
pub struct PendingRequest {
    pub id: String,
    pub application_id: String,
    pub params: String,
    pub user_id: Option<String>,
    pub created_at: i64,
    pub expires_at: i64,
}

pub async fn insert_pending(store: &Store, p: &PendingRequest) -> Result<()> {
    sqlx::query(
        "INSERT INTO authorization_requests (id, application_id, params, user_id, created_at, expires_at) \
         VALUES ($1, $2, $3, $4, $5, $6)",
    )
    .bind(&p.id)
    .bind(&p.application_id)
    .bind(&p.params)
    .bind(&p.user_id)
    .bind(p.created_at)
    .bind(p.expires_at)
    .execute(&store.pool)
    .await?;
    Ok(())
}

/// Takes a pending request for a consent decision: only once, and only by the user it was shown to.
pub async fn take_pending(
    store: &Store,
    id: &str,
    user_id: &str,
    now: i64,
) -> Result<Option<PendingRequest>> {
    let found: Option<PendingRequest> = sqlx::query_as(
        "SELECT * FROM authorization_requests WHERE id = $1 AND user_id = $2 AND expires_at > $3",
    )
    .bind(id)
    .bind(user_id)
    .bind(now)
    .fetch_optional(&store.pool)
    .await?;
    if found.is_none() {
        return Ok(None);
    }
    let deleted = sqlx::query("DELETE FROM authorization_requests WHERE id = $1")
        .bind(id)
        .execute(&store.pool)
        .await?;
    Ok(if deleted.rows_affected() == 1 {
        found
    } else {
        None
    })
}

pub async fn delete_expired_pending(store: &Store, now: i64) -> Result<()> {
    for table in ["authorization_requests", "pushed_requests"] {
        sqlx::query(&format!("DELETE FROM {table} WHERE expires_at <= $1"))
            .bind(now)
            .execute(&store.pool)
            .await?;
    }
    sqlx::query("DELETE FROM authorization_codes WHERE expires_at <= $1")
        .bind(now - 3600)
        .execute(&store.pool)
        .await?;
    Ok(())
}

#[derive(Clone, Debug)]
pub struct Code {
    pub code_hash: String,
    pub grant_id: String,
    pub application_id: String,
    pub user_id: String,
    pub redirect_uri: String,
    pub code_challenge: Option<String>,
    /// RFC 9449 §10: the DPoP key (thumbprint) the code may only be redeemed with.
    pub dpop_jkt: Option<String>,
    pub nonce: Option<String>,
    pub scope: String,
    pub auth_time: i64,
    pub created_at: i64,
    pub expires_at: i64,
    pub used_at: Option<i64>,
}

impl FromColumns for Code {
    fn from_columns<C: Columns>(c: &C) -> Result<Self, C::Error> {
        Ok(Code {
            code_hash: c.text("code_hash")?,
            grant_id: c.text("grant_id")?,
            application_id: c.text("application_id")?,
            user_id: c.text("user_id")?,
            redirect_uri: c.text("redirect_uri")?,
            code_challenge: c.opt_text("code_challenge")?,
            dpop_jkt: c.opt_text("dpop_jkt")?,
            nonce: c.opt_text("nonce")?,
            scope: c.text("scope")?,
            auth_time: c.int("auth_time")?,
            created_at: c.int("created_at")?,
            expires_at: c.int("expires_at")?,
            used_at: c.opt_int("used_at")?,
        })
    }
}

const CODE_INSERT: &str =
    "INSERT INTO authorization_codes (code_hash, grant_id, application_id, user_id, redirect_uri, \
     code_challenge, nonce, scope, auth_time, created_at, expires_at, used_at, dpop_jkt) \
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, NULL, $12)";

/// The arguments of [`CODE_INSERT`].
fn code_args(c: &Code) -> [Arg<'_>; 12] {
    [
        Arg::Text(&c.code_hash),
        Arg::Text(&c.grant_id),
        Arg::Text(&c.application_id),
        Arg::Text(&c.user_id),
        Arg::Text(&c.redirect_uri),
        Arg::OptText(c.code_challenge.as_deref()),
        Arg::OptText(c.nonce.as_deref()),
        Arg::Text(&c.scope),
        Arg::Int(c.auth_time),
        Arg::Int(c.created_at),
        Arg::Int(c.expires_at),
        Arg::OptText(c.dpop_jkt.as_deref()),
    ]
}

/// Creates a grant and its authorization code together: a code never exists without its grant.
/// PostgreSQL: one statement (the grant inserted in a CTE), so one round trip instead of four;
/// SQLite: one transaction on the request's thread ([`super::local`]).
pub async fn insert_grant_with_code(store: &Store, grant: &Grant, code: &Code) -> Result<()> {
    let resources = grant.resources.join(" ");
    let grant_args = grant_args(grant, &resources);
    let code_args = code_args(code);
    if let Some(local) = store.local() {
        // SQLite, on the request's thread: the two inserts in one transaction.
        return local
            .write(|c| {
                let tx = c.transaction_with_behavior(TransactionBehavior::Immediate)?;
                local::execute(&tx, GRANT_INSERT, &grant_args)?;
                local::execute(&tx, CODE_INSERT, &code_args)?;
                tx.commit()
            })
            .await;
    }
    static SQL: std::sync::LazyLock<String> = std::sync::LazyLock::new(|| {
        format!(
            "WITH g AS ({GRANT_INSERT}) {}",
            super::shift_placeholders(CODE_INSERT, GRANT_INSERT_BINDS)
        )
    });
    let args: Vec<Arg<'_>> = grant_args.into_iter().chain(code_args).collect();
    let mut hot = store.hot_conn().await?;
    let done = bind_args(sqlx::query(SQL.as_str()), &args)
        .execute(hot.conn()?)
        .await;
    hot.settle(done)?;
    Ok(())
}

/// A one-time credential that a token request consumes to obtain a grant's first tokens.
pub enum Redemption<'a> {
    /// An authorization code (its grant exists since the code was issued).
    Code { code_hash: &'a str },
    /// An approved device code, whose grant is created now.
    DeviceCode {
        device_code_hash: &'a str,
        grant: &'a Grant,
    },
}

/// Consumes `what` and stores the grant's first refresh token, all or nothing. `false` when the
/// credential was already consumed (a concurrent request won: exactly one of N sees `true`), in
/// which case nothing is written. `id_token_in_session`: the client gets an ID token in that
/// browser session, which remembers it for back-channel logout in the same transaction.
pub async fn redeem(
    store: &Store,
    what: Redemption<'_>,
    refresh: Option<&RefreshToken>,
    id_token_in_session: Option<&super::sessions::SessionClient>,
    now: i64,
) -> Result<bool> {
    let (device_code_hash, grant) = match what {
        Redemption::Code { code_hash } => {
            return redeem_code_in_one(store, code_hash, refresh, id_token_in_session, now).await;
        }
        Redemption::DeviceCode {
            device_code_hash,
            grant,
        } => (device_code_hash, grant),
    };
    let mut tx = store.begin_write().await?;
    let won = super::device::redeem(&mut *tx, device_code_hash).await?;
    if won {
        insert_grant(&mut *tx, grant).await?;
    }
    if !won {
        // Dropping the transaction rolls it back.
        return Ok(false);
    }
    if let Some(row) = refresh {
        insert_refresh(&mut *tx, row).await?;
    }
    if let Some(client) = id_token_in_session {
        super::sessions::record_client(&mut *tx, client, now).await?;
    }
    tx.commit().await?;
    Ok(true)
}

/// [`redeem`] of a code in one round trip. PostgreSQL: one statement, the conditional `UPDATE`
/// of the code (whose row count decides the winner, as in a transaction) feeding the inserts of
/// the refresh token and the session's client through CTEs, which therefore write nothing when
/// it matched no row. SQLite: one transaction on the request's thread ([`super::local`]), the
/// conditional `UPDATE` first and the inserts only when it won.
async fn redeem_code_in_one(
    store: &Store,
    code_hash: &str,
    refresh: Option<&RefreshToken>,
    id_token_in_session: Option<&super::sessions::SessionClient>,
    now: i64,
) -> Result<bool> {
    const USE_CODE: &str = "UPDATE authorization_codes SET used_at = $2 \
                            WHERE code_hash = $1 AND used_at IS NULL";
    let code_args = [Arg::Text(code_hash), Arg::Int(now)];
    let token_args = refresh.map(refresh_args);
    let client_args = id_token_in_session.map(|c| super::sessions::client_args(c, now));
    if let Some(local) = store.local() {
        return local
            .write(|c| {
                let tx = c.transaction_with_behavior(TransactionBehavior::Immediate)?;
                if local::execute(&tx, USE_CODE, &code_args)? != 1 {
                    // Already used: dropped, the transaction rolls back (it wrote nothing).
                    return Ok(false);
                }
                if let Some(args) = &token_args {
                    local::execute(&tx, REFRESH_INSERT, args)?;
                }
                if let Some(args) = &client_args {
                    local::execute(&tx, super::sessions::CLIENT_INSERT, args)?;
                }
                tx.commit()?;
                Ok(true)
            })
            .await;
    }
    let mut sql = format!("WITH won AS ({USE_CODE} RETURNING grant_id)");
    let mut args = code_args.to_vec();
    // Each insert as a CTE that selects from `won`, its placeholders after those before it.
    let steps = [
        token_args
            .as_ref()
            .map(|a| (REFRESH_INSERT_FROM_WON, a.as_slice())),
        client_args
            .as_ref()
            .map(|a| (super::sessions::CLIENT_INSERT_FROM_WON, a.as_slice())),
    ];
    for (i, (step, step_args)) in steps.into_iter().flatten().enumerate() {
        let step = super::shift_placeholders(step, args.len());
        sql.push_str(&format!(", s{i} AS ({step})"));
        args.extend_from_slice(step_args);
    }
    sql.push_str(" SELECT COUNT(*) AS won FROM won");
    let mut hot = store.hot_conn().await?;
    let done = bind_args(sqlx::query(&sql), &args)
        .fetch_one(hot.conn()?)
        .await;
    let row = hot.settle(done)?;
    Ok(sqlx::Row::try_get::<i64, _>(&row, "won")? == 1)
}

#[derive(Clone, Debug)]
pub struct RefreshToken {
    pub token_hash: String,
    pub grant_id: String,
    pub application_id: String,
    pub scope: String,
    pub created_at: i64,
    pub expires_at: i64,
    pub used_at: Option<i64>,
    /// DPoP key thumbprint the token is bound to (public clients).
    pub dpop_jkt: Option<String>,
    /// On a rotated token of an application with a reuse interval: its successor, sealed under
    /// a key derived from this token (`crypto::seal_successor`). Never written on insert.
    pub successor_enc: Option<String>,
}

impl FromColumns for RefreshToken {
    fn from_columns<C: Columns>(c: &C) -> Result<Self, C::Error> {
        Ok(RefreshToken {
            token_hash: c.text("token_hash")?,
            grant_id: c.text("grant_id")?,
            application_id: c.text("application_id")?,
            scope: c.text("scope")?,
            created_at: c.int("created_at")?,
            expires_at: c.int("expires_at")?,
            used_at: c.opt_int("used_at")?,
            dpop_jkt: c.opt_text("dpop_jkt")?,
            successor_enc: c.opt_text("successor_enc")?,
        })
    }
}

/// The head of every insert of a refresh token: a `VALUES` or a `SELECT` of its 8 columns
/// follows.
macro_rules! refresh_insert_into {
    () => {
        "INSERT INTO refresh_tokens (token_hash, grant_id, application_id, scope, created_at, \
         expires_at, used_at, dpop_jkt) "
    };
}
/// The condition that the grant of the row being updated (`$table.grant_id`) satisfies `$cond`
/// (on the alias `g`). Written as a correlated subquery so that both engines look the grant up
/// by its primary key, whatever they think of the table's size: SQLite computes a
/// non-correlated `grant_id IN (SELECT id FROM grants WHERE …)` in full (every live grant) on
/// each run of the statement, and PostgreSQL may plan it as a hash join over `grants`.
macro_rules! grant_holds {
    ($table:literal, $cond:literal) => {
        concat!(
            "(SELECT COUNT(*) FROM grants g WHERE g.id = ",
            $table,
            ".grant_id AND ",
            $cond,
            ") = 1"
        )
    };
}

const REFRESH_INSERT_INTO: &str = refresh_insert_into!();

const REFRESH_INSERT: &str = concat!(
    refresh_insert_into!(),
    "VALUES ($1, $2, $3, $4, $5, $6, NULL, $7)"
);

/// [`REFRESH_INSERT`] in a statement whose CTE `won` (the redeemed code) has a row exactly
/// when the token is to be stored.
const REFRESH_INSERT_FROM_WON: &str = concat!(
    refresh_insert_into!(),
    "SELECT $1, $2, $3, $4, $5, $6, NULL, $7 FROM won"
);

/// The arguments of [`REFRESH_INSERT`].
fn refresh_args(t: &RefreshToken) -> [Arg<'_>; 7] {
    [
        Arg::Text(&t.token_hash),
        Arg::Text(&t.grant_id),
        Arg::Text(&t.application_id),
        Arg::Text(&t.scope),
        Arg::Int(t.created_at),
        Arg::Int(t.expires_at),
        Arg::OptText(t.dpop_jkt.as_deref()),
    ]
}

async fn insert_refresh<'e, E: Executor<'e, Database = Any>>(
    ex: E,
    t: &RefreshToken,
) -> Result<()> {
    bind_args(sqlx::query(REFRESH_INSERT), &refresh_args(t))
        .execute(ex)
        .await?;
    Ok(())
}

pub async fn refresh(store: &Store, token_hash: &str) -> Result<Option<RefreshToken>> {
    Ok(
        sqlx::query_as("SELECT * FROM refresh_tokens WHERE token_hash = $1")
            .bind(token_hash)
            .fetch_optional(&store.pool)
            .await?,
    )
}

/// Marks a refresh token rotated; false when it already was. One conditional update: of N
/// concurrent requests with the same token exactly one sees `true`.
async fn rotate_refresh<'e, E: Executor<'e, Database = Any>>(
    ex: E,
    token_hash: &str,
    now: i64,
    successor_enc: Option<&str>,
) -> Result<bool> {
    let done = sqlx::query(concat!(
        "UPDATE refresh_tokens SET used_at = $2, successor_enc = $3 WHERE token_hash = $1 \
         AND used_at IS NULL AND ",
        grant_holds!("refresh_tokens", "g.revoked_at IS NULL")
    ))
    .bind(token_hash)
    .bind(now)
    .bind(successor_enc)
    .execute(ex)
    .await?;
    Ok(done.rows_affected() == 1)
}

/// Rotates `old_hash` into `next` atomically: the conditional update that marks the presented
/// token used and the insert of its successor commit together or not at all, and of N
/// concurrent rotations of one token exactly one returns `true`.
///
/// The one place where the two engines get different SQL, because it is the hottest write
/// path: PostgreSQL runs it as one statement (a data-modifying CTE: one round trip instead of
/// four); SQLite, which has no data-modifying CTEs but no network round trips either, runs the
/// same two statements inside a transaction.
///
/// `successor_enc` (the successor sealed under the presented token, for applications with a
/// reuse interval) is written by the same update onto the presented row.
pub async fn rotate_into(
    store: &Store,
    old_hash: &str,
    next: &RefreshToken,
    now: i64,
    successor_enc: Option<&str>,
) -> Result<bool> {
    match store.backend {
        super::Backend::Postgres => {
            let done = sqlx::query(concat!(
                "WITH rotated AS ( \
                   UPDATE refresh_tokens SET used_at = $2, successor_enc = $10 \
                   WHERE token_hash = $1 AND used_at IS NULL AND ",
                grant_holds!("refresh_tokens", "g.revoked_at IS NULL"),
                " RETURNING grant_id) \
                 INSERT INTO refresh_tokens (token_hash, grant_id, application_id, scope, created_at, \
                   expires_at, used_at, dpop_jkt) \
                 SELECT $3, $4, $5, $6, $7, $8, NULL, $9 FROM rotated WHERE rotated.grant_id = $4",
            ))
            .bind(old_hash)
            .bind(now)
            .bind(&next.token_hash)
            .bind(&next.grant_id)
            .bind(&next.application_id)
            .bind(&next.scope)
            .bind(next.created_at)
            .bind(next.expires_at)
            .bind(&next.dpop_jkt)
            .bind(successor_enc)
            .execute(&store.pool)
            .await?;
            Ok(done.rows_affected() == 1)
        }
        super::Backend::Sqlite => {
            let mut tx = store.begin_write().await?;
            if !rotate_refresh(&mut *tx, old_hash, now, successor_enc).await? {
                return Ok(false);
            }
            insert_refresh(&mut *tx, next).await?;
            tx.commit().await?;
            Ok(true)
        }
    }
}

/// Records a single-use key (a DPoP proof or a client assertion `jti`, namespaced by the caller)
/// until `expires_at`; false when it was seen before (a replay). Shared by every process.
pub async fn remember_jti(store: &Store, key: &str, expires_at: i64) -> Result<bool> {
    let done = sqlx::query(
        "INSERT INTO dpop_proofs (key, expires_at) VALUES ($1, $2) ON CONFLICT (key) DO NOTHING",
    )
    .bind(key)
    .bind(expires_at)
    .execute(&store.pool)
    .await?;
    Ok(done.rows_affected() == 1)
}

pub async fn revoke_access_token(store: &Store, jti: &str, expires_at: i64) -> Result<()> {
    sqlx::query("INSERT INTO revoked_access_tokens (jti, expires_at) VALUES ($1, $2) ON CONFLICT (jti) DO NOTHING")
        .bind(jti)
        .bind(expires_at)
        .execute(&store.pool)
        .await?;
    Ok(())
}

pub async fn access_token_revoked(store: &Store, jti: &str) -> Result<bool> {
    let found: Option<()> = store
        .hot_row(
            "SELECT 1 FROM revoked_access_tokens WHERE jti = $1",
            &[Arg::Text(jti)],
        )
        .await?;
    Ok(found.is_some())
}

/// Housekeeping for the short-lived lifecycle tables.
pub async fn delete_expired_lifecycle(store: &Store, now: i64) -> Result<()> {
    for table in ["dpop_proofs", "revoked_access_tokens", "device_codes"] {
        sqlx::query(&format!("DELETE FROM {table} WHERE expires_at <= $1"))
            .bind(now - 60)
            .execute(&store.pool)
            .await?;
    }
    // Sealed successors are only needed during their application's reuse interval (at most
    // 60 seconds, `developer::applications::MAX_REFRESH_TOKEN_REUSE_INTERVAL`).
    sqlx::query(
        "UPDATE refresh_tokens SET successor_enc = NULL WHERE successor_enc IS NOT NULL AND used_at < $1",
    )
    .bind(now - 60)
    .execute(&store.pool)
    .await?;
    Ok(())
}

/// Grant columns selected under a `g_` prefix next to another table's columns.
const GRANT_COLUMNS: &str =
    "g.id AS g_id, g.application_id AS g_application_id, g.user_id AS g_user_id, \
     g.scope AS g_scope, g.auth_time AS g_auth_time, g.created_at AS g_created_at, \
     g.revoked_at AS g_revoked_at, g.sid AS g_sid, g.resources AS g_resources, g.amr AS g_amr";

/// A grant read under [`GRANT_COLUMNS`]' prefix.
struct PrefixedGrant(Grant);

impl FromColumns for PrefixedGrant {
    fn from_columns<C: Columns>(c: &C) -> Result<Self, C::Error> {
        Ok(PrefixedGrant(Grant {
            id: c.text("g_id")?,
            application_id: c.text("g_application_id")?,
            user_id: c.opt_text("g_user_id")?,
            scope: c.text("g_scope")?,
            auth_time: c.int("g_auth_time")?,
            created_at: c.int("g_created_at")?,
            revoked_at: c.opt_int("g_revoked_at")?,
            sid: c.opt_text("g_sid")?,
            resources: c
                .text("g_resources")?
                .split(' ')
                .filter(|r| !r.is_empty())
                .map(String::from)
                .collect(),
            amr: c.text("g_amr")?,
        }))
    }
}

/// The refresh token `$1` with its grant under [`GRANT_COLUMNS`]' prefix: the read of
/// [`refresh_and_grant`], and the row [`refresh_and_rotate`] reads, rotates from and returns.
static REFRESH_WITH_GRANT: std::sync::LazyLock<String> = std::sync::LazyLock::new(|| {
    format!(
        "SELECT r.*, {GRANT_COLUMNS} FROM refresh_tokens r JOIN grants g ON g.id = r.grant_id \
         WHERE r.token_hash = $1"
    )
});

/// A refresh token and its grant, in one round trip.
pub async fn refresh_and_grant(
    store: &Store,
    token_hash: &str,
) -> Result<Option<(RefreshToken, Grant)>> {
    let found: Option<(RefreshToken, PrefixedGrant)> = store
        .hot_row(&REFRESH_WITH_GRANT, &[Arg::Text(token_hash)])
        .await?;
    Ok(found.map(|(token, PrefixedGrant(grant))| (token, grant)))
}

/// What [`refresh_and_rotate`] is allowed to assume about a refresh request, so that it can
/// rotate the presented token without reading it first.
pub struct Rotation<'a> {
    /// HMAC of the presented token.
    pub token_hash: &'a str,
    /// The authenticated client's application.
    pub application_id: &'a str,
    /// The thumbprint of the request's DPoP key, if it sent a proof.
    pub dpop_jkt: Option<&'a str>,
    /// The scopes the application is registered for now.
    pub registered_scopes: &'a [String],
    pub now: i64,
    /// `refresh_token_ttl_seconds` and `refresh_token_absolute_ttl_seconds`.
    pub ttl: u64,
    pub absolute_ttl: u64,
    /// HMAC of the successor, and the successor sealed under the presented token (applications
    /// with a reuse interval).
    pub next_hash: &'a str,
    pub successor_enc: Option<&'a str>,
}

/// The presented token and its grant as [`refresh_and_rotate`] found them, and whether it
/// rotated the token.
pub struct Rotated {
    pub token: RefreshToken,
    pub grant: Grant,
    /// The successor is stored: see [`refresh_and_rotate`].
    pub rotated: bool,
}

/// Above this many registered scopes the scope test of [`refresh_and_rotate`] is not built (the
/// statement grows with it); such a refresh reads first.
pub const ROTATION_MAX_REGISTERED_SCOPES: usize = 32;

/// The refresh of a request without `scope` or `resource` in one round trip (PostgreSQL: one
/// statement; SQLite: one write transaction on the request's thread, [`super::local`]): the
/// presented token is rotated into `r.next_hash` when everything a refresh checks holds for it
/// — unused, this application's, unexpired, bound to no DPoP key or to the request's, its grant
/// unrevoked, within the family's absolute lifetime and for no API, and every scope it carries
/// still registered — and the successor keeps its grant, scope and DPoP key and expires after
/// `ttl`, never after the family's end (exactly what `TokenContext::refresh_token` computes).
/// The conditional `UPDATE` decides the winner as in [`rotate_into`]: of N concurrent requests
/// with one token at most one sees `rotated`.
///
/// When any condition fails nothing is written and the row comes back as it was, for the
/// caller's precise answer (and the usual read-then-rotate path). `None`: no such token.
pub async fn refresh_and_rotate(store: &Store, r: &Rotation<'_>) -> Result<Option<Rotated>> {
    // Every granted scope is registered: removing each registered scope from the space-padded
    // granted ones leaves only spaces (scopes are unique and single-space separated). Written
    // with `replace` and `trim`, which both engines have.
    let mut granted_left = String::from("(' ' || scope || ' ')");
    for i in 0..r.registered_scopes.len() {
        granted_left = format!("replace({granted_left}, ${}, ' ')", 9 + i);
    }
    let condition = format!(
        "token_hash = $1 AND used_at IS NULL AND application_id = $4 AND expires_at > $2 \
         AND (dpop_jkt IS NULL OR dpop_jkt = $5) \
         AND {} AND trim({granted_left}) = ''",
        grant_holds!(
            "refresh_tokens",
            "g.revoked_at IS NULL AND g.resources = '' AND g.created_at + $6 > $2"
        )
    );
    let clamp = |seconds: u64| i64::try_from(seconds).unwrap_or(i64::MAX).min(MAX_SECONDS);
    let padded: Vec<String> = r
        .registered_scopes
        .iter()
        .map(|s| format!(" {s} "))
        .collect();
    let mut args = vec![
        Arg::Text(r.token_hash),
        Arg::Int(r.now),
        Arg::OptText(r.successor_enc),
        Arg::Text(r.application_id),
        Arg::OptText(r.dpop_jkt),
        Arg::Int(clamp(r.absolute_ttl)),
        Arg::Text(r.next_hash),
        Arg::Int(r.now.saturating_add(clamp(r.ttl))),
    ];
    args.extend(padded.iter().map(|s| Arg::Text(s)));
    let update =
        format!("UPDATE refresh_tokens SET used_at = $2, successor_enc = $3 WHERE {condition}");
    let found = if let Some(local) = store.local() {
        // SQLite, on the request's thread: the same steps as statements of one transaction.
        static INSERT: std::sync::LazyLock<String> = std::sync::LazyLock::new(|| {
            format!(
                "{REFRESH_INSERT_INTO} SELECT $7, grant_id, application_id, scope, $2, \
                 {ROTATION_EXPIRES}, NULL, dpop_jkt FROM ({})",
                *REFRESH_WITH_GRANT
            )
        });
        local
            .write(|c| {
                let tx = c.transaction_with_behavior(TransactionBehavior::Immediate)?;
                let rotated = local::execute(&tx, &update, &args)? == 1;
                if rotated {
                    local::execute(&tx, &INSERT, &args)?;
                }
                let row: Option<(RefreshToken, PrefixedGrant)> =
                    local::row(&tx, &REFRESH_WITH_GRANT, &args)?;
                tx.commit()?;
                Ok(row.map(|(token, grant)| (token, grant, rotated)))
            })
            .await?
    } else {
        let sql = format!(
            "WITH cur AS ({}), \
             rotated AS ({update} RETURNING grant_id), \
             ins AS ({REFRESH_INSERT_INTO} SELECT $7, cur.grant_id, cur.application_id, cur.scope, \
               $2, {ROTATION_EXPIRES}, NULL, cur.dpop_jkt \
               FROM cur JOIN rotated ON rotated.grant_id = cur.grant_id) \
             SELECT cur.*, (SELECT COUNT(*) FROM rotated) AS rotated FROM cur",
            *REFRESH_WITH_GRANT
        );
        let mut hot = store.hot_conn().await?;
        let done = bind_args(sqlx::query(&sql), &args)
            .fetch_optional(hot.conn()?)
            .await;
        match hot.settle(done)? {
            Some(row) => {
                let (token, grant) = <(RefreshToken, PrefixedGrant)>::from_columns(&row)?;
                Some((token, grant, row.int("rotated")? == 1))
            }
            None => None,
        }
    };
    Ok(found.map(|(mut token, PrefixedGrant(grant), rotated)| {
        if rotated {
            // As it was before the update (SQLite reads it after).
            token.used_at = None;
            token.successor_enc = None;
        }
        Rotated {
            token,
            grant,
            rotated,
        }
    }))
}

/// The successor's expiry in [`refresh_and_rotate`]: `refresh_expires_at` (`now + ttl`, capped
/// by the family's end), from the grant's creation `g_created_at`.
const ROTATION_EXPIRES: &str =
    "CASE WHEN g_created_at + $6 < $8 THEN g_created_at + $6 ELSE $8 END";

/// Durations are clamped to this many seconds (about 146 billion years) so that adding them to
/// a timestamp cannot overflow in SQL.
const MAX_SECONDS: i64 = i64::MAX / 4;

/// The authorization code `$1` with its grant under [`GRANT_COLUMNS`]' prefix: the read of
/// [`code_and_grant`], and the row [`code_and_redeem`] reads, redeems and returns.
static CODE_WITH_GRANT: std::sync::LazyLock<String> = std::sync::LazyLock::new(|| {
    format!(
        "SELECT c.*, {GRANT_COLUMNS} FROM authorization_codes c \
         JOIN grants g ON g.id = c.grant_id WHERE c.code_hash = $1"
    )
});

/// An authorization code and its grant, in one round trip.
pub async fn code_and_grant(store: &Store, code_hash: &str) -> Result<Option<(Code, Grant)>> {
    let found: Option<(Code, PrefixedGrant)> = store
        .hot_row(&CODE_WITH_GRANT, &[Arg::Text(code_hash)])
        .await?;
    Ok(found.map(|(code, PrefixedGrant(grant))| (code, grant)))
}

/// What [`code_and_redeem`] may assume about a code exchange, so that it can redeem the code
/// without reading it first.
pub struct CodeExchange<'a> {
    /// HMAC of the presented code.
    pub code_hash: &'a str,
    /// The authenticated client's application.
    pub application_id: &'a str,
    /// The request's `redirect_uri`.
    pub redirect_uri: &'a str,
    /// `BASE64URL(SHA256(code_verifier))` of a well-formed verifier; `None` without one.
    pub code_challenge: Option<&'a str>,
    /// The thumbprint of the request's DPoP key, if it sent a proof.
    pub dpop_jkt: Option<&'a str>,
    pub now: i64,
    /// The first refresh token when the application may refresh; stored only if the code
    /// carries [`FirstRefresh::scope`].
    pub refresh: Option<FirstRefresh<'a>>,
}

/// The first refresh token of [`CodeExchange`]: it gets the code's grant, client and scope.
pub struct FirstRefresh<'a> {
    /// HMAC of the new token.
    pub token_hash: &'a str,
    /// `refresh_token_ttl_seconds` and `refresh_token_absolute_ttl_seconds`.
    pub ttl: u64,
    pub absolute_ttl: u64,
    /// The DPoP key it is bound to (`policy::refresh_token_binding`).
    pub dpop_jkt: Option<&'a str>,
    /// The scope the code must carry for the token to be stored
    /// (`policy::REFRESH_TOKEN_SCOPE`).
    pub scope: &'a str,
}

/// The code and its grant as [`code_and_redeem`] found them, and what it stored.
pub struct Exchanged {
    pub code: Code,
    pub grant: Grant,
    /// The code is redeemed: see [`code_and_redeem`].
    pub redeemed: bool,
    /// The first refresh token is stored.
    pub refreshed: bool,
}

/// The code exchange without `resource` in one round trip (PostgreSQL: one statement, SQLite:
/// one write transaction on the request's thread, [`super::local`]): the code is redeemed when
/// everything the exchange checks holds for it — unused, this application's, unexpired, issued
/// for `redirect_uri`, its `code_challenge` equal to the verifier's (or neither present), bound
/// to no DPoP key or to the request's, its grant unrevoked, with a user and for no API. The
/// redemption stores what [`redeem`] stores: the first refresh token when the application may
/// refresh and the code carries the scope it needs (expiring as `TokenContext::refresh_token`
/// computes), and, for a code carrying `openid` whose grant came from a browser session, that
/// session's new client (back-channel logout). The conditional `UPDATE` decides the winner as
/// in [`redeem`]: of N concurrent exchanges of one code at most one sees `redeemed`.
///
/// When any condition fails nothing is written and the row comes back as it was, for the
/// caller's precise answer. `None`: no such code.
pub async fn code_and_redeem(store: &Store, x: &CodeExchange<'_>) -> Result<Option<Exchanged>> {
    // `scope` holds the scope that the SQL text `word` gives (scopes are single-space
    // separated), in terms both engines have.
    fn carries(word: &str) -> String {
        format!(
            "replace(' ' || cur.scope || ' ', ' ' || {word} || ' ', ' ') <> ' ' || cur.scope || ' '"
        )
    }
    const CONDITION: &str = concat!(
        "code_hash = $1 AND used_at IS NULL AND application_id = $3 \
         AND expires_at > $2 AND redirect_uri = $4 AND code_challenge IS NOT DISTINCT FROM $5 \
         AND (dpop_jkt IS NULL OR dpop_jkt = $6) AND ",
        grant_holds!(
            "authorization_codes",
            "g.revoked_at IS NULL AND g.resources = '' AND g.user_id IS NOT NULL"
        )
    );
    static REFRESH: std::sync::LazyLock<String> = std::sync::LazyLock::new(|| {
        format!(
            "{REFRESH_INSERT_INTO} SELECT $7, cur.grant_id, cur.application_id, cur.scope, $2, \
             CASE WHEN cur.g_created_at + $9 < $8 THEN cur.g_created_at + $9 ELSE $8 END, \
             NULL, $10 FROM cur WHERE {}",
            carries("$11")
        )
    });
    // SQLite needs the WHERE in an INSERT … SELECT … ON CONFLICT (it reads the ON otherwise).
    static CLIENT: std::sync::LazyLock<String> = std::sync::LazyLock::new(|| {
        format!(
            "INSERT INTO session_clients (sid, application_id, user_id, created_at, expires_at) \
             SELECT cur.g_sid, cur.application_id, cur.g_user_id, $2, s.expires_at \
             FROM cur JOIN sessions s ON s.sid = cur.g_sid AND s.user_id = cur.g_user_id \
             WHERE {} LIMIT 1 ON CONFLICT (sid, application_id) DO NOTHING",
            carries("'openid'")
        )
    });
    let clamp = |seconds: u64| i64::try_from(seconds).unwrap_or(i64::MAX).min(MAX_SECONDS);
    let mut args = vec![
        Arg::Text(x.code_hash),
        Arg::Int(x.now),
        Arg::Text(x.application_id),
        Arg::Text(x.redirect_uri),
        Arg::OptText(x.code_challenge),
        Arg::OptText(x.dpop_jkt),
    ];
    if let Some(r) = &x.refresh {
        args.extend([
            Arg::Text(r.token_hash),
            Arg::Int(x.now.saturating_add(clamp(r.ttl))),
            Arg::Int(clamp(r.absolute_ttl)),
            Arg::OptText(r.dpop_jkt),
            Arg::Text(r.scope),
        ]);
    }
    static UPDATE: std::sync::LazyLock<String> = std::sync::LazyLock::new(|| {
        format!("UPDATE authorization_codes SET used_at = $2 WHERE {CONDITION}")
    });
    let found = if let Some(local) = store.local() {
        // SQLite, on the request's thread: the same steps as statements of one transaction,
        // the inserts reading the code and grant as `cur`.
        static FROM_CUR: std::sync::LazyLock<(String, String)> = std::sync::LazyLock::new(|| {
            let cur = format!("WITH cur AS ({}) ", *CODE_WITH_GRANT);
            (format!("{cur}{}", *REFRESH), format!("{cur}{}", *CLIENT))
        });
        let refresh = x.refresh.is_some();
        local
            .write(|c| {
                let tx = c.transaction_with_behavior(TransactionBehavior::Immediate)?;
                let redeemed = local::execute(&tx, &UPDATE, &args)? == 1;
                let mut refreshed = false;
                if redeemed {
                    if refresh {
                        refreshed = local::execute(&tx, &FROM_CUR.0, &args)? == 1;
                    }
                    local::execute(&tx, &FROM_CUR.1, &args)?;
                }
                let row: Option<(Code, PrefixedGrant)> = local::row(&tx, &CODE_WITH_GRANT, &args)?;
                tx.commit()?;
                Ok(row.map(|(code, grant)| (code, grant, redeemed, refreshed)))
            })
            .await?
    } else {
        // PostgreSQL: `cur` is read before the update (one snapshot); the inserts select from
        // it joined with `won`, so they write nothing when the update matched no row. Two
        // statements: with and without the refresh token's insert.
        static SQL: std::sync::LazyLock<[String; 2]> = std::sync::LazyLock::new(|| {
            let from_won = "FROM cur JOIN won ON won.grant_id = cur.grant_id";
            let head = format!(
                "WITH cur AS ({}), won AS ({} RETURNING grant_id), s AS ({})",
                *CODE_WITH_GRANT,
                *UPDATE,
                CLIENT.replacen("FROM cur", from_won, 1)
            );
            let tail = "SELECT cur.*, (SELECT COUNT(*) FROM won) AS won";
            [
                format!("{head} {tail}, CAST(0 AS BIGINT) AS refreshed FROM cur"),
                format!(
                    "{head}, r AS ({} RETURNING 1) {tail}, (SELECT COUNT(*) FROM r) AS refreshed \
                     FROM cur",
                    REFRESH.replacen("FROM cur", from_won, 1)
                ),
            ]
        });
        let sql = &SQL[usize::from(x.refresh.is_some())];
        let mut hot = store.hot_conn().await?;
        let done = bind_args(sqlx::query(sql), &args)
            .fetch_optional(hot.conn()?)
            .await;
        match hot.settle(done)? {
            Some(row) => {
                let (code, grant) = <(Code, PrefixedGrant)>::from_columns(&row)?;
                Some((
                    code,
                    grant,
                    row.int("won")? == 1,
                    row.int("refreshed")? == 1,
                ))
            }
            None => None,
        }
    };
    Ok(
        found.map(|(mut code, PrefixedGrant(grant), redeemed, refreshed)| {
            if redeemed {
                // As it was before the update (SQLite reads it after).
                code.used_at = None;
            }
            Exchanged {
                code,
                grant,
                redeemed,
                refreshed,
            }
        }),
    )
}

/// Stores a pushed authorization request (RFC 9126) under the HMAC of its `request_uri`.
pub async fn insert_pushed(
    store: &Store,
    uri_hash: &str,
    application_id: &str,
    params: &str,
    expires_at: i64,
) -> Result<()> {
    sqlx::query(
        "INSERT INTO pushed_requests (uri_hash, application_id, params, expires_at) \
         VALUES ($1, $2, $3, $4)",
    )
    .bind(uri_hash)
    .bind(application_id)
    .bind(params)
    .bind(expires_at)
    .execute(&store.pool)
    .await?;
    Ok(())
}

/// Takes a pushed request for the application it was pushed by: once (one statement deletes and
/// returns it, so of two concurrent uses exactly one gets it), and only before it expires.
pub async fn take_pushed(
    store: &Store,
    uri_hash: &str,
    application_id: &str,
    now: i64,
) -> Result<Option<String>> {
    let row: Option<(String,)> = sqlx::query_as(
        "DELETE FROM pushed_requests WHERE uri_hash = $1 AND application_id = $2 \
         AND expires_at > $3 RETURNING params",
    )
    .bind(uri_hash)
    .bind(application_id)
    .bind(now)
    .fetch_optional(&store.pool)
    .await?;
    Ok(row.map(|(params,)| params))
}
