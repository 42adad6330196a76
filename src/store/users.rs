//! End-user accounts.

use super::{Result, Store};

#[derive(Clone, Debug, sqlx::FromRow)]
pub struct User {
    pub id: String,
    pub email: String,
    pub password_hash: String,
    pub name: String,
    pub created_at: i64,
    pub updated_at: i64,
}

pub async fn insert(store: &Store, user: &User) -> Result<()> {
    sqlx::query(
        "INSERT INTO users (id, email, password_hash, name, created_at, updated_at) \
         VALUES ($1, $2, $3, $4, $5, $6)",
    )
    .bind(&user.id)
    .bind(&user.email)
    .bind(&user.password_hash)
    .bind(&user.name)
    .bind(user.created_at)
    .bind(user.updated_at)
    .execute(&store.pool)
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
