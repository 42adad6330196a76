//! OAuth state: grants, consents, pending authorization requests, codes and refresh tokens.
//!
//! Every write that spans several statements is one public function here that runs them in one
//! transaction (or one statement): [`insert_grant_with_code`], [`redeem`], [`rotate_into`]. The
//! single-statement helpers that take an executor are private to the store, so the protocol
//! never opens a transaction itself.

use sqlx::{Any, Executor};

use super::{AnyQuery, Result, Store};

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

fn bind_grant<'q>(query: AnyQuery<'q>, g: &'q Grant) -> AnyQuery<'q> {
    query
        .bind(&g.id)
        .bind(&g.application_id)
        .bind(&g.user_id)
        .bind(&g.scope)
        .bind(g.auth_time)
        .bind(g.created_at)
        .bind(&g.sid)
        .bind(g.resources.join(" "))
        .bind(&g.amr)
}

async fn insert_grant<'e, E: Executor<'e, Database = Any>>(ex: E, g: &Grant) -> Result<()> {
    bind_grant(sqlx::query(GRANT_INSERT), g).execute(ex).await?;
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
    let mut hot = store.hot_reader().await?;
    let found = sqlx::query_as::<_, super::users::User>(
        "SELECT u.* FROM grants g JOIN users u ON u.id = g.user_id \
         WHERE g.id = $1 AND g.revoked_at IS NULL AND u.disabled = 0",
    )
    .bind(grant_id)
    .fetch_optional(hot.conn()?)
    .await;
    let user = hot.settle(found)?;
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

pub async fn has_consent(
    store: &Store,
    user_id: &str,
    application_id: &str,
    scope: &str,
) -> Result<bool> {
    let mut hot = store.hot_reader().await?;
    let found = sqlx::query_as::<_, (String,)>(
        "SELECT scope FROM consents WHERE user_id = $1 AND application_id = $2 AND scope = $3",
    )
    .bind(user_id)
    .bind(application_id)
    .bind(scope)
    .fetch_optional(hot.conn()?)
    .await;
    Ok(hot.settle(found)?.is_some())
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
    let mut tx = store.pool.begin().await?;
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

#[derive(Clone, Debug, sqlx::FromRow)]
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

const CODE_INSERT: &str =
    "INSERT INTO authorization_codes (code_hash, grant_id, application_id, user_id, redirect_uri, \
     code_challenge, nonce, scope, auth_time, created_at, expires_at, used_at, dpop_jkt) \
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, NULL, $12)";

fn bind_code<'q>(query: AnyQuery<'q>, c: &'q Code) -> AnyQuery<'q> {
    query
        .bind(&c.code_hash)
        .bind(&c.grant_id)
        .bind(&c.application_id)
        .bind(&c.user_id)
        .bind(&c.redirect_uri)
        .bind(&c.code_challenge)
        .bind(&c.nonce)
        .bind(&c.scope)
        .bind(c.auth_time)
        .bind(c.created_at)
        .bind(c.expires_at)
        .bind(&c.dpop_jkt)
}

/// Creates a grant and its authorization code together: a code never exists without its grant.
/// PostgreSQL: one statement (the grant inserted in a CTE), so one round trip instead of four.
pub async fn insert_grant_with_code(store: &Store, grant: &Grant, code: &Code) -> Result<()> {
    if store.backend == super::Backend::Postgres {
        static SQL: std::sync::LazyLock<String> = std::sync::LazyLock::new(|| {
            format!(
                "WITH g AS ({GRANT_INSERT}) {}",
                super::shift_placeholders(CODE_INSERT, GRANT_INSERT_BINDS)
            )
        });
        let mut hot = store.hot_writer().await?;
        let done = bind_code(bind_grant(sqlx::query(SQL.as_str()), grant), code)
            .execute(hot.conn()?)
            .await;
        hot.settle(done)?;
        return Ok(());
    }
    // SQLite: the two inserts as one batch in a transaction (three round trips to the
    // connection's thread instead of four).
    static BATCH: std::sync::LazyLock<String> = std::sync::LazyLock::new(|| {
        format!(
            "{GRANT_INSERT}; {}",
            super::shift_placeholders(CODE_INSERT, GRANT_INSERT_BINDS)
        )
    });
    let mut tx = store.pool.begin().await?;
    bind_code(bind_grant(sqlx::query(BATCH.as_str()), grant), code)
        .execute(&mut *tx)
        .await?;
    tx.commit().await?;
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
    let mut tx = store.pool.begin().await?;
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
/// it matched no row. SQLite (no data-modifying CTEs): one batch in a `BEGIN IMMEDIATE`
/// transaction, the inserts conditional on the code being unused and the conditional `UPDATE`
/// last; the write lock held from `BEGIN IMMEDIATE` to `COMMIT` lets nothing in between, so the
/// inserts happen exactly when the update wins. One round trip (PostgreSQL) or three (SQLite)
/// instead of five.
async fn redeem_code_in_one(
    store: &Store,
    code_hash: &str,
    refresh: Option<&RefreshToken>,
    id_token_in_session: Option<&super::sessions::SessionClient>,
    now: i64,
) -> Result<bool> {
    let postgres = store.backend == super::Backend::Postgres;
    // The code's row, as each engine can refer to it from an insert.
    let (won, mut sql) = if postgres {
        (
            "won",
            String::from(
                "WITH won AS (UPDATE authorization_codes SET used_at = $2 \
                 WHERE code_hash = $1 AND used_at IS NULL RETURNING grant_id)",
            ),
        )
    } else {
        (
            "(SELECT 1 FROM authorization_codes WHERE code_hash = $1 AND used_at IS NULL) won",
            String::new(),
        )
    };
    let mut steps = Vec::new();
    if refresh.is_some() {
        steps.push(format!(
            "INSERT INTO refresh_tokens (token_hash, grant_id, application_id, scope, \
             created_at, expires_at, used_at, dpop_jkt) \
             SELECT $3, $4, $5, $6, $7, $8, NULL, $9 FROM {won} WHERE true"
        ));
    }
    if id_token_in_session.is_some() {
        // Shifted before `won` goes in: its `$1` is the code's.
        let client = super::shift_placeholders(
            "INSERT INTO session_clients (sid, application_id, user_id, created_at, \
             expires_at) SELECT $1, $2, $3, $4, s.expires_at FROM sessions s, WON \
             WHERE s.sid = $1 AND s.user_id = $3 LIMIT 1 \
             ON CONFLICT (sid, application_id) DO NOTHING",
            if refresh.is_some() { 9 } else { 2 },
        );
        steps.push(client.replace("WON", won));
    }
    if postgres {
        for (i, step) in steps.iter().enumerate() {
            sql.push_str(&format!(", s{i} AS ({step})"));
        }
        sql.push_str(" SELECT COUNT(*) FROM won");
    } else {
        for step in &steps {
            sql.push_str(step);
            sql.push_str("; ");
        }
        sql.push_str(
            "UPDATE authorization_codes SET used_at = $2 \
             WHERE code_hash = $1 AND used_at IS NULL RETURNING 1",
        );
    }
    let mut query = sqlx::query_as::<_, (i64,)>(&sql).bind(code_hash).bind(now);
    if let Some(t) = refresh {
        query = query
            .bind(&t.token_hash)
            .bind(&t.grant_id)
            .bind(&t.application_id)
            .bind(&t.scope)
            .bind(t.created_at)
            .bind(t.expires_at)
            .bind(&t.dpop_jkt);
    }
    if let Some(c) = id_token_in_session {
        query = query
            .bind(&c.sid)
            .bind(&c.application_id)
            .bind(&c.user_id)
            .bind(now);
    }
    let rows = if postgres {
        let mut hot = store.hot_writer().await?;
        let done = query.fetch_all(hot.conn()?).await;
        hot.settle(done)?
    } else {
        // The write lock first, so that no other process writes between the checks and the
        // update (busy_timeout waits for it); dropped unfinished, the transaction rolls back.
        let mut tx = store.pool.begin_with("BEGIN IMMEDIATE").await?;
        let rows = query.fetch_all(&mut *tx).await?;
        tx.commit().await?;
        rows
    };
    Ok(rows.first().map(|r| r.0) == Some(1))
}

#[derive(Clone, Debug, sqlx::FromRow)]
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

async fn insert_refresh<'e, E: Executor<'e, Database = Any>>(
    ex: E,
    t: &RefreshToken,
) -> Result<()> {
    sqlx::query(
        "INSERT INTO refresh_tokens (token_hash, grant_id, application_id, scope, created_at, expires_at, used_at, dpop_jkt) \
         VALUES ($1, $2, $3, $4, $5, $6, NULL, $7)",
    )
    .bind(&t.token_hash)
    .bind(&t.grant_id)
    .bind(&t.application_id)
    .bind(&t.scope)
    .bind(t.created_at)
    .bind(t.expires_at)
    .bind(&t.dpop_jkt)
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
    let done = sqlx::query(
        "UPDATE refresh_tokens SET used_at = $2, successor_enc = $3 WHERE token_hash = $1 \
         AND used_at IS NULL AND grant_id IN (SELECT id FROM grants WHERE revoked_at IS NULL)",
    )
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
            let done = sqlx::query(
                "WITH rotated AS ( \
                   UPDATE refresh_tokens SET used_at = $2, successor_enc = $10 \
                   WHERE token_hash = $1 AND used_at IS NULL \
                   AND grant_id IN (SELECT id FROM grants WHERE revoked_at IS NULL) RETURNING grant_id) \
                 INSERT INTO refresh_tokens (token_hash, grant_id, application_id, scope, created_at, \
                   expires_at, used_at, dpop_jkt) \
                 SELECT $3, $4, $5, $6, $7, $8, NULL, $9 FROM rotated WHERE rotated.grant_id = $4",
            )
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
            let mut tx = store.pool.begin().await?;
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
    let mut hot = store.hot_reader().await?;
    let found =
        sqlx::query_as::<_, (String,)>("SELECT jti FROM revoked_access_tokens WHERE jti = $1")
            .bind(jti)
            .fetch_optional(hot.conn()?)
            .await;
    Ok(hot.settle(found)?.is_some())
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

#[derive(sqlx::FromRow)]
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

impl From<PrefixedGrant> for Grant {
    fn from(g: PrefixedGrant) -> Grant {
        Grant {
            id: g.g_id,
            application_id: g.g_application_id,
            user_id: g.g_user_id,
            scope: g.g_scope,
            auth_time: g.g_auth_time,
            created_at: g.g_created_at,
            revoked_at: g.g_revoked_at,
            sid: g.g_sid,
            resources: g
                .g_resources
                .split(' ')
                .filter(|r| !r.is_empty())
                .map(String::from)
                .collect(),
            amr: g.g_amr,
        }
    }
}

#[derive(sqlx::FromRow)]
struct RefreshWithGrant {
    #[sqlx(flatten)]
    token: RefreshToken,
    #[sqlx(flatten)]
    grant: PrefixedGrant,
}

/// A refresh token and its grant, in one round trip.
pub async fn refresh_and_grant(
    store: &Store,
    token_hash: &str,
) -> Result<Option<(RefreshToken, Grant)>> {
    let mut hot = store.hot_reader().await?;
    let found = sqlx::query_as::<_, RefreshWithGrant>(&format!(
        "SELECT r.*, {GRANT_COLUMNS} FROM refresh_tokens r JOIN grants g ON g.id = r.grant_id WHERE r.token_hash = $1"
    ))
    .bind(token_hash)
    .fetch_optional(hot.conn()?)
    .await;
    let row = hot.settle(found)?;
    Ok(row.map(|r| (r.token, r.grant.into())))
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
/// statement; SQLite: one write transaction of BEGIN IMMEDIATE, one batch, COMMIT): the
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
         AND grant_id IN (SELECT id FROM grants WHERE revoked_at IS NULL AND resources = '' \
           AND created_at + $6 > $2) \
         AND trim({granted_left}) = ''"
    );
    // The successor's expiry: `refresh_expires_at` (`now + ttl`, capped by the family's end).
    let expires = "CASE WHEN g_created_at + $6 < $8 THEN g_created_at + $6 ELSE $8 END";
    let insert = "INSERT INTO refresh_tokens (token_hash, grant_id, application_id, scope, \
                  created_at, expires_at, used_at, dpop_jkt)";
    let sql = match store.backend {
        super::Backend::Postgres => format!(
            "WITH cur AS (SELECT r.*, {GRANT_COLUMNS} FROM refresh_tokens r \
               JOIN grants g ON g.id = r.grant_id WHERE r.token_hash = $1), \
             rotated AS (UPDATE refresh_tokens SET used_at = $2, successor_enc = $3 \
               WHERE {condition} RETURNING grant_id), \
             ins AS ({insert} SELECT $7, cur.grant_id, cur.application_id, cur.scope, $2, \
               {expires}, NULL, cur.dpop_jkt FROM cur JOIN rotated ON rotated.grant_id = cur.grant_id) \
             SELECT cur.*, (SELECT COUNT(*) FROM rotated) AS rotated FROM cur"
        ),
        // No data-modifying CTEs: the same steps as statements of one batch, the insert
        // conditional on the update having changed a row (`changes()`), the read last (so it
        // shows `used_at` as written: the caller only looks at it when nothing was rotated).
        super::Backend::Sqlite => format!(
            "UPDATE refresh_tokens SET used_at = $2, successor_enc = $3 WHERE {condition}; \
             {insert} SELECT $7, grant_id, application_id, scope, $2, {expires}, NULL, dpop_jkt \
               FROM (SELECT r.*, g.created_at AS g_created_at FROM refresh_tokens r \
               JOIN grants g ON g.id = r.grant_id WHERE r.token_hash = $1) WHERE changes() = 1; \
             SELECT r.*, {GRANT_COLUMNS}, \
               (SELECT COUNT(*) FROM refresh_tokens WHERE token_hash = $7) AS rotated \
               FROM refresh_tokens r JOIN grants g ON g.id = r.grant_id WHERE r.token_hash = $1"
        ),
    };
    let clamp = |seconds: u64| i64::try_from(seconds).unwrap_or(i64::MAX).min(MAX_SECONDS);
    let padded: Vec<String> = r
        .registered_scopes
        .iter()
        .map(|s| format!(" {s} "))
        .collect();
    let mut query = sqlx::query_as::<_, RefreshWithGrantRotated>(&sql)
        .bind(r.token_hash)
        .bind(r.now)
        .bind(r.successor_enc)
        .bind(r.application_id)
        .bind(r.dpop_jkt)
        .bind(clamp(r.absolute_ttl))
        .bind(r.next_hash)
        .bind(r.now.saturating_add(clamp(r.ttl)));
    for scope in &padded {
        query = query.bind(scope.as_str());
    }
    let row = match store.backend {
        super::Backend::Postgres => {
            let mut hot = store.hot_writer().await?;
            let done = query.fetch_optional(hot.conn()?).await;
            hot.settle(done)?
        }
        super::Backend::Sqlite => {
            // IMMEDIATE: the write lock first, so another process's commit cannot come between
            // (busy_timeout waits for it instead). The transaction rolls back if dropped.
            let mut tx = store.pool.begin_with("BEGIN IMMEDIATE").await?;
            let rows = query.fetch_all(&mut *tx).await?;
            tx.commit().await?;
            rows.into_iter().next()
        }
    };
    Ok(row.map(|row| {
        let rotated = row.rotated == 1;
        let mut token = row.token;
        if rotated {
            // As it was before this statement (SQLite reads it after the update).
            token.used_at = None;
            token.successor_enc = None;
        }
        Rotated {
            token,
            grant: row.grant.into(),
            rotated,
        }
    }))
}

/// Durations are clamped to this many seconds (about 146 billion years) so that adding them to
/// a timestamp cannot overflow in SQL.
const MAX_SECONDS: i64 = i64::MAX / 4;

#[derive(sqlx::FromRow)]
struct RefreshWithGrantRotated {
    #[sqlx(flatten)]
    token: RefreshToken,
    #[sqlx(flatten)]
    grant: PrefixedGrant,
    rotated: i64,
}

#[derive(sqlx::FromRow)]
struct CodeWithGrant {
    #[sqlx(flatten)]
    code: Code,
    #[sqlx(flatten)]
    grant: PrefixedGrant,
}

/// An authorization code and its grant, in one round trip.
pub async fn code_and_grant(store: &Store, code_hash: &str) -> Result<Option<(Code, Grant)>> {
    let mut hot = store.hot_reader().await?;
    let found = sqlx::query_as::<_, CodeWithGrant>(&format!(
        "SELECT c.*, {GRANT_COLUMNS} FROM authorization_codes c JOIN grants g ON g.id = c.grant_id WHERE c.code_hash = $1"
    ))
    .bind(code_hash)
    .fetch_optional(hot.conn()?)
    .await;
    let row = hot.settle(found)?;
    Ok(row.map(|r| (r.code, r.grant.into())))
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
