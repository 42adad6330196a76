//! End-user accounts.

use sqlx::{Any, Executor};

use super::{
    any_row_from_columns,
    cache::{announce, CachedUser, Change},
    Columns, FromColumns, Result, Store,
};

#[derive(Clone, Debug)]
pub struct User {
    pub id: String,
    pub email: String,
    pub password_hash: String,
    pub name: String,
    pub created_at: i64,
    pub updated_at: i64,
    /// 1 when the current address was proven by a verification link.
    pub email_verified: i64,
    /// 1 when an operator disabled the account (`logi user disable`).
    pub disabled: i64,
}

impl FromColumns for User {
    fn from_columns<C: Columns>(c: &C) -> Result<Self, C::Error> {
        Ok(User {
            id: c.text("id")?,
            email: c.text("email")?,
            password_hash: c.text("password_hash")?,
            name: c.text("name")?,
            created_at: c.int("created_at")?,
            updated_at: c.int("updated_at")?,
            email_verified: c.int("email_verified")?,
            // 0 when the statement did not select it.
            disabled: c.int_or_zero("disabled")?,
        })
    }
}

any_row_from_columns!(User);

impl CachedUser for User {
    fn user_id(&self) -> &str {
        &self.id
    }
}

pub async fn insert(store: &Store, user: &User) -> Result<()> {
    insert_in(&store.pool, user).await
}

pub(super) async fn insert_in<'e, E: Executor<'e, Database = Any>>(
    ex: E,
    user: &User,
) -> Result<()> {
    sqlx::query(
        "INSERT INTO users (id, email, password_hash, name, created_at, updated_at, email_verified) \
         VALUES ($1, $2, $3, $4, $5, $6, $7)",
    )
    .bind(&user.id)
    .bind(&user.email)
    .bind(&user.password_hash)
    .bind(&user.name)
    .bind(user.created_at)
    .bind(user.updated_at)
    .bind(user.email_verified)
    .execute(ex)
    .await?;
    Ok(())
}

pub async fn by_email(store: &Store, email: &str) -> Result<Option<User>> {
    Ok(sqlx::query_as("SELECT * FROM users WHERE email = $1")
        .bind(email)
        .fetch_optional(&store.pool)
        .await?)
}

pub async fn by_id(store: &Store, id: &str) -> Result<Option<User>> {
    Ok(sqlx::query_as("SELECT * FROM users WHERE id = $1")
        .bind(id)
        .fetch_optional(&store.pool)
        .await?)
}

/// Changes the profile name; every process forgets the cached copies of this user.
pub async fn update_name(store: &Store, id: &str, name: &str, now: i64) -> Result<bool> {
    let done = sqlx::query("UPDATE users SET name = $2, updated_at = $3 WHERE id = $1")
        .bind(id)
        .bind(name)
        .bind(now)
        .execute(&store.pool)
        .await?;
    announce(store, Change::User(id)).await?;
    Ok(done.rows_affected() == 1)
}

/// Deletes the account; its sessions, grants, tokens and consents go with it (`ON DELETE
/// CASCADE`), and every process forgets the cached copies of this user.
pub async fn delete(store: &Store, id: &str) -> Result<bool> {
    let done = sqlx::query("DELETE FROM users WHERE id = $1")
        .bind(id)
        .execute(&store.pool)
        .await?;
    announce(store, Change::User(id)).await?;
    Ok(done.rows_affected() == 1)
}

/// Disables or enables the account; every process forgets the cached copies of this user (a
/// disabled user's grants are refused wherever they are read). Returns false when no such
/// account exists.
pub async fn set_disabled(store: &Store, id: &str, disabled: bool, now: i64) -> Result<bool> {
    let done = sqlx::query("UPDATE users SET disabled = $2, updated_at = $3 WHERE id = $1")
        .bind(id)
        .bind(i64::from(disabled))
        .bind(now)
        .execute(&store.pool)
        .await?;
    announce(store, Change::User(id)).await?;
    Ok(done.rows_affected() == 1)
}

/// Sets a new password hash.
pub async fn set_password_hash(store: &Store, id: &str, hash: &str, now: i64) -> Result<bool> {
    let done = sqlx::query("UPDATE users SET password_hash = $2, updated_at = $3 WHERE id = $1")
        .bind(id)
        .bind(hash)
        .bind(now)
        .execute(&store.pool)
        .await?;
    Ok(done.rows_affected() == 1)
}

/// One row of `logi user list`.
#[derive(Clone, Debug, sqlx::FromRow)]
pub struct Listed {
    pub id: String,
    pub email: String,
    pub name: String,
    pub disabled: i64,
    pub created_at: i64,
}

/// Every account, oldest first (operators).
pub async fn list_all(store: &Store) -> Result<Vec<Listed>> {
    Ok(sqlx::query_as(
        "SELECT id, email, name, disabled, created_at FROM users ORDER BY created_at, email",
    )
    .fetch_all(&store.pool)
    .await?)
}
