//! Browser sessions. Only the SHA-256 of the cookie value is stored.
//!
//! A session also remembers the applications that received an ID token in it
//! (`session_clients`, by its public `sid`), so that its end can be told to each of them
//! (OIDC Back-Channel Logout 1.0): [`end`] deletes sessions and queues those notices in one
//! transaction.

use sqlx::{Any, Executor};

use super::{
    any_row_from_columns, bind_args, outbox, users::User, Arg, Columns, FromColumns, Result, Store,
};

#[derive(Clone, Debug)]
pub struct Session {
    pub id_hash: String,
    pub user_id: String,
    pub auth_time: i64,
    pub created_at: i64,
    pub expires_at: i64,
    /// Public session identifier (OIDC `sid`), unrelated to the cookie value.
    pub sid: Option<String>,
    /// How it was authenticated: RFC 8176 method values, space-separated
    /// (`accounts::amr::Amr` reads them).
    pub amr: String,
    /// The browser's `User-Agent` (trimmed) and client IP, as the account page shows them.
    pub user_agent: String,
    pub ip: String,
    /// When the session was last used (kept to the minute: see [`touch`]).
    pub last_seen_at: i64,
}

impl FromColumns for Session {
    fn from_columns<C: Columns>(c: &C) -> Result<Self, C::Error> {
        Ok(Session {
            id_hash: c.text("id_hash")?,
            user_id: c.text("user_id")?,
            auth_time: c.int("auth_time")?,
            created_at: c.int("created_at")?,
            expires_at: c.int("expires_at")?,
            sid: c.opt_text("sid")?,
            amr: c.text("amr")?,
            user_agent: c.text_or_empty("user_agent")?,
            ip: c.text_or_empty("ip")?,
            last_seen_at: c.int_or_zero("last_seen_at")?,
        })
    }
}

any_row_from_columns!(Session);

pub async fn insert(store: &Store, s: &Session) -> Result<()> {
    sqlx::query(
        "INSERT INTO sessions (id_hash, user_id, auth_time, created_at, expires_at, sid, amr, \
         user_agent, ip, last_seen_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
    )
    .bind(&s.id_hash)
    .bind(&s.user_id)
    .bind(s.auth_time)
    .bind(s.created_at)
    .bind(s.expires_at)
    .bind(&s.sid)
    .bind(&s.amr)
    .bind(&s.user_agent)
    .bind(&s.ip)
    .bind(s.last_seen_at)
    .execute(&store.pool)
    .await?;
    Ok(())
}

/// A second step on a live session: records the methods and the time of the latest factor, and
/// moves the session to a new id (the old cookie stops working: a session id seen before the
/// step never carries its result). `false` when the session is gone or belongs to someone else.
pub async fn elevate(
    store: &Store,
    id_hash: &str,
    user_id: &str,
    new_id_hash: &str,
    amr: &str,
    now: i64,
) -> Result<bool> {
    let done = sqlx::query(
        "UPDATE sessions SET id_hash = $3, amr = $4, auth_time = $5 \
         WHERE id_hash = $1 AND user_id = $2 AND expires_at > $5",
    )
    .bind(id_hash)
    .bind(user_id)
    .bind(new_id_hash)
    .bind(amr)
    .bind(now)
    .execute(&store.pool)
    .await?;
    Ok(done.rows_affected() == 1)
}

/// Housekeeping: drops expired sessions, and the record of who saw them.
pub async fn delete_expired(store: &Store, now: i64) -> Result<u64> {
    sqlx::query("DELETE FROM session_clients WHERE expires_at <= $1")
        .bind(now)
        .execute(&store.pool)
        .await?;
    Ok(sqlx::query("DELETE FROM sessions WHERE expires_at <= $1")
        .bind(now)
        .execute(&store.pool)
        .await?
        .rows_affected())
}

/// An application that received an ID token in the session `sid`, for the user `user_id`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SessionClient {
    pub sid: String,
    pub application_id: String,
    pub user_id: String,
}

/// Records, within the caller's transaction, that `client` received an ID token in its
/// session; nothing when the session no longer exists (it ended while the code was in flight:
/// there is nothing left to end).
pub(super) async fn record_client<'e, E: Executor<'e, Database = Any>>(
    ex: E,
    client: &SessionClient,
    now: i64,
) -> Result<()> {
    bind_args(sqlx::query(CLIENT_INSERT), &client_args(client, now))
        .execute(ex)
        .await?;
    Ok(())
}

/// Remembers a client of a session (see [`record_client`]); its arguments: [`client_args`].
/// SQLite needs the WHERE in an INSERT … SELECT … ON CONFLICT (it reads the ON otherwise).
pub(super) const CLIENT_INSERT: &str =
    "INSERT INTO session_clients (sid, application_id, user_id, created_at, expires_at) \
     SELECT $1, $2, $3, $4, expires_at FROM sessions WHERE sid = $1 AND user_id = $3 LIMIT 1 \
     ON CONFLICT (sid, application_id) DO NOTHING";

/// [`CLIENT_INSERT`] in a statement whose CTE `won` has a row exactly when it is to be stored.
pub(super) const CLIENT_INSERT_FROM_WON: &str =
    "INSERT INTO session_clients (sid, application_id, user_id, created_at, expires_at) \
     SELECT $1, $2, $3, $4, s.expires_at FROM sessions s, won \
     WHERE s.sid = $1 AND s.user_id = $3 LIMIT 1 \
     ON CONFLICT (sid, application_id) DO NOTHING";

pub(super) fn client_args(client: &SessionClient, now: i64) -> [Arg<'_>; 4] {
    [
        Arg::Text(&client.sid),
        Arg::Text(&client.application_id),
        Arg::Text(&client.user_id),
        Arg::Int(now),
    ]
}

/// The applications that received an ID token in the session `sid`.
pub async fn clients_of(store: &Store, sid: &str) -> Result<Vec<SessionClient>> {
    let rows: Vec<(String, String)> = sqlx::query_as(
        "SELECT application_id, user_id FROM session_clients WHERE sid = $1 ORDER BY application_id",
    )
    .bind(sid)
    .fetch_all(&store.pool)
    .await?;
    Ok(rows
        .into_iter()
        .map(|(application_id, user_id)| SessionClient {
            sid: sid.to_string(),
            application_id,
            user_id,
        })
        .collect())
}

/// Which sessions end.
#[derive(Clone, Copy, Debug)]
pub enum Which<'a> {
    /// The one whose cookie hashes to this.
    IdHash(&'a str),
    /// One session of a user, by its `sid` (the account page's sign-out of a session).
    Sid { user_id: &'a str, sid: &'a str },
    /// Every session of a user (password reset, operator disable, account deletion).
    AllOf { user_id: &'a str },
    /// Every session of a user but one (a password change keeps the session that made it).
    AllOfExcept { user_id: &'a str, keep_sid: &'a str },
}

/// Ends sessions: deletes them and, in the same transaction, queues `notice(client)` for every
/// application that received an ID token in one of them and registered a
/// `backchannel_logout_uri`. Returns how many notices were queued (the caller's process starts
/// delivering them at once; other processes when they next look).
///
/// Each `DELETE … RETURNING` names exactly the rows it removed, so a session (or an
/// application's record in it) is notified once however many ends race.
pub async fn end(
    store: &Store,
    which: Which<'_>,
    now: i64,
    notice: &(dyn Fn(&SessionClient) -> outbox::NewItem + Sync),
) -> Result<usize> {
    let mut tx = store.begin_write().await?;
    let query = match which {
        Which::IdHash(hash) => {
            sqlx::query_as("DELETE FROM sessions WHERE id_hash = $1 RETURNING sid").bind(hash)
        }
        Which::Sid { user_id, sid } => {
            sqlx::query_as("DELETE FROM sessions WHERE user_id = $1 AND sid = $2 RETURNING sid")
                .bind(user_id)
                .bind(sid)
        }
        Which::AllOf { user_id } => {
            sqlx::query_as("DELETE FROM sessions WHERE user_id = $1 RETURNING sid").bind(user_id)
        }
        Which::AllOfExcept { user_id, keep_sid } => sqlx::query_as(
            "DELETE FROM sessions WHERE user_id = $1 AND (sid IS NULL OR sid <> $2) RETURNING sid",
        )
        .bind(user_id)
        .bind(keep_sid),
    };
    let ended: Vec<(Option<String>,)> = query.fetch_all(&mut *tx).await?;
    let mut queued = 0;
    for sid in ended.into_iter().filter_map(|(sid,)| sid) {
        let seen: Vec<(String, String)> = sqlx::query_as(
            "DELETE FROM session_clients WHERE sid = $1 RETURNING application_id, user_id",
        )
        .bind(&sid)
        .fetch_all(&mut *tx)
        .await?;
        for (application_id, user_id) in seen {
            let listens: Option<(String,)> = sqlx::query_as(
                "SELECT id FROM applications WHERE id = $1 AND backchannel_logout_uri IS NOT NULL",
            )
            .bind(&application_id)
            .fetch_optional(&mut *tx)
            .await?;
            if listens.is_none() {
                continue;
            }
            let client = SessionClient {
                sid: sid.clone(),
                application_id,
                user_id,
            };
            outbox::insert(&mut *tx, &notice(&client), now).await?;
            queued += 1;
        }
    }
    tx.commit().await?;
    if queued > 0 {
        outbox::wake(store);
    }
    Ok(queued)
}

/// A live session with its (enabled) user, under a `u_` prefix, and whether the user consented
/// to what [`active_with_user`] was asked about.
struct SessionWithUser(Session, User, bool);

impl FromColumns for SessionWithUser {
    fn from_columns<C: Columns>(c: &C) -> Result<Self, C::Error> {
        let session = Session::from_columns(c)?;
        let user = User {
            id: session.user_id.clone(),
            email: c.text("u_email")?,
            password_hash: c.text("u_password_hash")?,
            name: c.text("u_name")?,
            created_at: c.int("u_created_at")?,
            updated_at: c.int("u_updated_at")?,
            email_verified: c.int("u_email_verified")?,
            // The statement keeps only enabled accounts.
            disabled: 0,
        };
        let consented = c.int_or_zero("consented")? == 1;
        Ok(SessionWithUser(session, user, consented))
    }
}

/// A remembered consent to look for beside a session ([`active_with_user`]).
pub struct ConsentQuery<'a> {
    pub application_id: &'a str,
    /// The consent's key (`oauth::audience::consent_key`).
    pub scope: &'a str,
}

/// The live session with this id hash and its user, in one round trip; with `consent`, also
/// whether that user remembered that consent (`store::oauth::remember_consent`), in the same round
/// trip (`/oauth/authorize` needs both).
pub async fn active_with_user(
    store: &Store,
    id_hash: &str,
    now: i64,
    consent: Option<ConsentQuery<'_>>,
) -> Result<Option<(Session, User, bool)>> {
    const SELECT: &str = "SELECT s.*, u.email AS u_email, u.password_hash AS u_password_hash, \
         u.name AS u_name, u.created_at AS u_created_at, u.updated_at AS u_updated_at, \
         u.email_verified AS u_email_verified";
    const FROM: &str = "FROM sessions s JOIN users u ON u.id = s.user_id \
         WHERE s.id_hash = $1 AND s.expires_at > $2 AND u.disabled = 0";
    static PLAIN: std::sync::LazyLock<String> =
        std::sync::LazyLock::new(|| format!("{SELECT} {FROM}"));
    static WITH_CONSENT: std::sync::LazyLock<String> = std::sync::LazyLock::new(|| {
        format!(
            // COUNT: a BIGINT on both engines (a consent is unique per user, application
            // and scope, so 0 or 1).
            "{SELECT}, (SELECT COUNT(*) FROM consents c WHERE c.user_id = s.user_id \
             AND c.application_id = $3 AND c.scope = $4) AS consented {FROM}"
        )
    });
    let found: Option<SessionWithUser> = match consent {
        None => {
            store
                .hot_row(&PLAIN, &[Arg::Text(id_hash), Arg::Int(now)])
                .await?
        }
        Some(q) => {
            store
                .hot_row(
                    &WITH_CONSENT,
                    &[
                        Arg::Text(id_hash),
                        Arg::Int(now),
                        Arg::Text(q.application_id),
                        Arg::Text(q.scope),
                    ],
                )
                .await?
        }
    };
    Ok(found.map(|SessionWithUser(session, user, consented)| (session, user, consented)))
}

/// Records a use of the session: `last_seen_at` and the client IP. Callers skip it when the
/// session was seen less than a minute ago, so a busy browser costs one write a minute.
pub async fn touch(store: &Store, id_hash: &str, ip: &str, now: i64) -> Result<()> {
    sqlx::query("UPDATE sessions SET last_seen_at = $2, ip = $3 WHERE id_hash = $1")
        .bind(id_hash)
        .bind(now)
        .bind(ip)
        .execute(&store.pool)
        .await?;
    Ok(())
}

/// The live sessions of a user, most recently used first (the account page).
pub async fn list_of_user(store: &Store, user_id: &str, now: i64) -> Result<Vec<Session>> {
    Ok(sqlx::query_as(
        "SELECT * FROM sessions WHERE user_id = $1 AND expires_at > $2 \
         ORDER BY last_seen_at DESC, created_at DESC",
    )
    .bind(user_id)
    .bind(now)
    .fetch_all(&store.pool)
    .await?)
}
