//! Protected APIs (resource servers): an identifier that becomes the `aud` of the access tokens
//! issued for it, and scopes with the words the consent page shows.

use std::sync::Arc;

use super::{
    cache::{announce, Change},
    Result, Store,
};

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Api {
    pub id: String,
    pub owner_id: String,
    pub name: String,
    /// RFC 8707 resource indicator: an absolute URI, unique across logi.
    pub identifier: String,
    pub scopes: Vec<ApiScope>,
    /// Lifetime of this API's access tokens; `None`: the server's `access_token_ttl_seconds`.
    pub access_token_ttl_seconds: Option<i64>,
    pub created_at: i64,
    pub updated_at: i64,
}

#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct ApiScope {
    pub name: String,
    pub description: String,
}

impl Api {
    pub fn has_scope(&self, name: &str) -> bool {
        self.scopes.iter().any(|s| s.name == name)
    }
}

#[derive(sqlx::FromRow)]
struct Row {
    id: String,
    owner_id: String,
    name: String,
    identifier: String,
    access_token_ttl_seconds: Option<i64>,
    created_at: i64,
    updated_at: i64,
}

#[derive(sqlx::FromRow)]
struct ScopeRow {
    api_id: String,
    name: String,
    description: String,
}

/// Joins rows with their scopes (both ordered), keeping the order of `rows`.
fn assemble(rows: Vec<Row>, scopes: Vec<ScopeRow>) -> Vec<Api> {
    rows.into_iter()
        .map(|r| Api {
            scopes: scopes
                .iter()
                .filter(|s| s.api_id == r.id)
                .map(|s| ApiScope {
                    name: s.name.clone(),
                    description: s.description.clone(),
                })
                .collect(),
            id: r.id,
            owner_id: r.owner_id,
            name: r.name,
            identifier: r.identifier,
            access_token_ttl_seconds: r.access_token_ttl_seconds,
            created_at: r.created_at,
            updated_at: r.updated_at,
        })
        .collect()
}

/// Every API of `owner_id`, oldest first, read from the database.
pub async fn list_owned(store: &Store, owner_id: &str) -> Result<Vec<Api>> {
    let rows: Vec<Row> =
        sqlx::query_as("SELECT * FROM apis WHERE owner_id = $1 ORDER BY created_at, id")
            .bind(owner_id)
            .fetch_all(&store.pool)
            .await?;
    let scopes: Vec<ScopeRow> = sqlx::query_as(
        "SELECT api_id, name, description FROM api_scopes WHERE owner_id = $1 \
         ORDER BY api_id, position",
    )
    .bind(owner_id)
    .fetch_all(&store.pool)
    .await?;
    Ok(assemble(rows, scopes))
}

/// The APIs of `owner_id` from the in-memory cache when possible (every token request of the
/// owner's applications resolves its audience against them; any change to an API forgets them
/// in every process, see [`super::cache`]).
pub async fn for_owner(store: &Store, owner_id: &str) -> Result<Arc<Vec<Api>>> {
    if let Some(apis) = store.caches.apis(owner_id) {
        return Ok(apis);
    }
    let generation = store.caches.generation();
    let apis = Arc::new(list_owned(store, owner_id).await?);
    store
        .caches
        .remember_apis(owner_id, apis.clone(), generation);
    Ok(apis)
}

pub async fn owned(store: &Store, owner_id: &str, id: &str) -> Result<Option<Api>> {
    Ok(list_owned(store, owner_id)
        .await?
        .into_iter()
        .find(|a| a.id == id))
}

async fn insert_scopes(tx: &mut sqlx::Transaction<'_, sqlx::Any>, api: &Api) -> Result<()> {
    for (position, scope) in api.scopes.iter().enumerate() {
        sqlx::query(
            "INSERT INTO api_scopes (api_id, owner_id, position, name, description) \
             VALUES ($1, $2, $3, $4, $5)",
        )
        .bind(&api.id)
        .bind(&api.owner_id)
        .bind(position as i64)
        .bind(&scope.name)
        .bind(&scope.description)
        .execute(&mut **tx)
        .await?;
    }
    Ok(())
}

/// Inserts the API and its scopes in one transaction. A taken `identifier` is a unique
/// violation ([`super::StoreError::is_unique_violation`]).
pub async fn insert(store: &Store, api: &Api) -> Result<()> {
    let mut tx = store.begin_write().await?;
    sqlx::query(
        "INSERT INTO apis (id, owner_id, name, identifier, access_token_ttl_seconds, created_at, \
         updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7)",
    )
    .bind(&api.id)
    .bind(&api.owner_id)
    .bind(&api.name)
    .bind(&api.identifier)
    .bind(api.access_token_ttl_seconds)
    .bind(api.created_at)
    .bind(api.updated_at)
    .execute(&mut *tx)
    .await?;
    insert_scopes(&mut tx, api).await?;
    tx.commit().await?;
    announce(store, Change::Applications).await
}

/// Replaces the API's fields and scopes in one transaction; `false` when it is not the owner's.
pub async fn update(store: &Store, api: &Api) -> Result<bool> {
    let mut tx = store.begin_write().await?;
    let done = sqlx::query(
        "UPDATE apis SET name = $3, identifier = $4, access_token_ttl_seconds = $5, \
         updated_at = $6 WHERE id = $1 AND owner_id = $2",
    )
    .bind(&api.id)
    .bind(&api.owner_id)
    .bind(&api.name)
    .bind(&api.identifier)
    .bind(api.access_token_ttl_seconds)
    .bind(api.updated_at)
    .execute(&mut *tx)
    .await?;
    if done.rows_affected() != 1 {
        return Ok(false);
    }
    sqlx::query("DELETE FROM api_scopes WHERE api_id = $1")
        .bind(&api.id)
        .execute(&mut *tx)
        .await?;
    insert_scopes(&mut tx, api).await?;
    tx.commit().await?;
    announce(store, Change::Applications).await?;
    Ok(true)
}

pub async fn delete_owned(store: &Store, owner_id: &str, id: &str) -> Result<bool> {
    let done = sqlx::query("DELETE FROM apis WHERE id = $1 AND owner_id = $2")
        .bind(id)
        .bind(owner_id)
        .execute(&store.pool)
        .await?;
    announce(store, Change::Applications).await?;
    Ok(done.rows_affected() == 1)
}

/// Which of `names` are scopes of an API that another developer than `owner_id` owns and that
/// `owner_id`'s own APIs do not define (SPEC: such a scope in an application's `scope` is
/// `invalid_client_metadata`).
pub async fn foreign_scopes(
    store: &Store,
    owner_id: &str,
    names: &[String],
) -> Result<Vec<String>> {
    if names.is_empty() {
        return Ok(Vec::new());
    }
    // One round trip: who owns each of the names (an application has at most a few dozen).
    let placeholders: Vec<String> = (1..=names.len()).map(|i| format!("${i}")).collect();
    let sql = format!(
        "SELECT DISTINCT name, owner_id FROM api_scopes WHERE name IN ({})",
        placeholders.join(", ")
    );
    let mut query = sqlx::query_as::<_, (String, String)>(&sql);
    for name in names {
        query = query.bind(name);
    }
    let owned = query.fetch_all(&store.pool).await?;
    let mut out = Vec::new();
    for name in names {
        let owners: Vec<&String> = owned
            .iter()
            .filter(|(n, _)| n == name)
            .map(|(_, o)| o)
            .collect();
        if !owners.is_empty() && !owners.iter().any(|o| *o == owner_id) {
            out.push(name.clone());
        }
    }
    Ok(out)
}
