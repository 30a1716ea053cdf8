//! Persistence for accounts: keys, the append-only ledger — credits in `ledger`, charges as
//! the generation records themselves (one row per served request, written once) — on
//! SQLite (the embedded default) or PostgreSQL, behind one [`Store`]. The SQL is written once
//! for both (sqlx's `Any` driver, `$N` placeholders); only the migrations differ.

pub mod clock;
pub mod dashboard;
pub mod keys;
mod migrate;
pub mod money;
pub mod records;
pub mod scratch;
pub mod status;

use std::str::FromStr;
use std::time::Duration;

use sqlx::any::{AnyPoolOptions, AnyRow};
use sqlx::{AnyPool, Row};

pub use clock::LimitReset;
pub use dashboard::{DashboardSession, GenerationFilter, GenerationSample, SpendBucket};
pub use money::Nanos;
pub use records::*;
pub use status::{DayCounts, StatusTransition, StoredIncident};

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("unsupported database URL {0:?}: use sqlite://PATH, sqlite::memory: or postgres://…")]
    UnsupportedUrl(String),
    #[error("database: {0}")]
    Database(#[from] sqlx::Error),
    #[error("migrations: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    #[error("stored data is invalid: {0}")]
    Corrupt(String),
    #[error("account {0:?} does not exist")]
    NoSuchAccount(String),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

#[derive(Debug, Clone)]
pub struct Store {
    pool: AnyPool,
    backend: Backend,
    /// The multi-row INSERTs of the writer, built once per row count.
    inserts: std::sync::Arc<Inserts>,
}

#[derive(Debug)]
struct Inserts {
    /// (rows, generations INSERT), for each of [`STATEMENT_ROWS`].
    by_rows: Vec<(usize, String)>,
}

impl Inserts {
    fn new(backend: Backend) -> Inserts {
        let by_rows = STATEMENT_ROWS
            .iter()
            .map(|&rows| {
                let generations = format!(
                    "INSERT INTO generations ({GENERATION_COLUMNS}) VALUES {} ON CONFLICT (id) DO NOTHING",
                    values(backend, rows, 25, "")
                );
                (rows, generations)
            })
            .collect();
        Inserts { by_rows }
    }

    fn for_rows(&self, rows: usize) -> Option<&str> {
        self.by_rows
            .iter()
            .find(|(n, _)| *n == rows)
            .map(|(_, sql)| sql.as_str())
    }
}

const KEY_COLUMNS: &str = "hash, account, name, label, is_management, disabled, limit_nanos, \
    limit_reset, expires_at_ms, allowed_models, rpm, tpm, created_at_ms, updated_at_ms, \
    changed_at_ms, deleted_at_ms";

const GENERATION_COLUMNS: &str = "id, account, key_hash, created_at_ms, model, provider_name, \
    provider_slug, upstream_model, upstream_id, streamed, cancelled, finish_reason, \
    native_finish_reason, tokens_prompt, tokens_completion, tokens_cached, tokens_reasoning, \
    cost_nanos, latency_ms, generation_time_ms, session_id, http_referer, app_title, user_agent, \
    attempts";

impl Store {
    /// Opens (creating a SQLite file if missing) and migrates.
    pub async fn open(url: &str) -> Result<Store, StoreError> {
        let store = Store::connect(url).await?;
        store.migrate().await?;
        Ok(store)
    }

    /// Opens without migrating.
    pub async fn connect(url: &str) -> Result<Store, StoreError> {
        sqlx::any::install_default_drivers();
        let backend = if url.starts_with("sqlite:") {
            Backend::Sqlite
        } else if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            Backend::Postgres
        } else {
            return Err(StoreError::UnsupportedUrl(url.to_owned()));
        };
        let pool = match backend {
            Backend::Sqlite => {
                let memory = url.contains(":memory:") || url.contains("mode=memory");
                // Validates the URL and creates the file on first start.
                let opts = sqlx::sqlite::SqliteConnectOptions::from_str(url)?
                    .create_if_missing(true)
                    .journal_mode(sqlx::sqlite::SqliteJournalMode::Wal)
                    .synchronous(sqlx::sqlite::SqliteSynchronous::Normal)
                    .busy_timeout(Duration::from_secs(5));
                // Creating the file (and switching it to WAL once) through the native driver;
                // the pool below reuses it.
                if !memory {
                    use sqlx::ConnectOptions;
                    let conn = opts.connect().await?;
                    drop(conn);
                }
                // An in-memory database lives in one connection: keep exactly one, forever.
                let pool_opts = if memory {
                    AnyPoolOptions::new()
                        .max_connections(1)
                        .min_connections(1)
                        .idle_timeout(None)
                        .max_lifetime(None)
                } else {
                    AnyPoolOptions::new().max_connections(4)
                };
                pool_opts
                    .after_connect(|conn, _| {
                        Box::pin(async move {
                            sqlx::query("PRAGMA busy_timeout = 5000")
                                .execute(&mut *conn)
                                .await?;
                            sqlx::query("PRAGMA synchronous = NORMAL")
                                .execute(&mut *conn)
                                .await?;
                            sqlx::query("PRAGMA foreign_keys = ON")
                                .execute(&mut *conn)
                                .await?;
                            Ok(())
                        })
                    })
                    .connect(url)
                    .await?
            }
            Backend::Postgres => {
                AnyPoolOptions::new()
                    .max_connections(8)
                    .connect(url)
                    .await?
            }
        };
        Ok(Store {
            pool,
            backend,
            inserts: std::sync::Arc::new(Inserts::new(backend)),
        })
    }

    pub fn backend(&self) -> Backend {
        self.backend
    }

    pub async fn migrate(&self) -> Result<(), StoreError> {
        migrate::run(&self.pool, self.backend).await
    }

    pub async fn close(&self) {
        self.pool.close().await;
    }

    /// A random id fixed at first use, naming this ledger wherever its state is shared.
    pub async fn ledger_id(&self) -> Result<String, StoreError> {
        let fresh = hex::encode(rand::random::<[u8; 8]>());
        sqlx::query(
            "INSERT INTO meta (name, value) VALUES ('ledger_id', $1) ON CONFLICT (name) DO NOTHING",
        )
        .bind(fresh)
        .execute(&self.pool)
        .await?;
        let row = sqlx::query("SELECT value FROM meta WHERE name = 'ledger_id'")
            .fetch_one(&self.pool)
            .await?;
        Ok(row.try_get("value")?)
    }

    // ---- accounts ----

    pub async fn ensure_account(&self, name: &str) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO accounts (name, created_at_ms) VALUES ($1, $2) ON CONFLICT (name) DO NOTHING",
        )
        .bind(name)
        .bind(clock::now_ms())
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    pub async fn account_exists(&self, name: &str) -> Result<bool, StoreError> {
        let row = sqlx::query("SELECT name FROM accounts WHERE name = $1")
            .bind(name)
            .fetch_optional(&self.pool)
            .await?;
        Ok(row.is_some())
    }

    /// Appends a credit to the ledger; returns its sequence number.
    pub async fn add_credits(
        &self,
        account: &str,
        amount: Nanos,
        note: Option<&str>,
    ) -> Result<i64, StoreError> {
        if !self.account_exists(account).await? {
            return Err(StoreError::NoSuchAccount(account.to_owned()));
        }
        let row = sqlx::query(
            "INSERT INTO ledger (account, kind, amount_nanos, note, created_at_ms) \
             VALUES ($1, 'credit', $2, $3, $4) RETURNING seq",
        )
        .bind(account)
        .bind(amount.0)
        .bind(note)
        .bind(clock::now_ms())
        .fetch_one(&self.pool)
        .await?;
        Ok(row.try_get::<i64, _>("seq")?)
    }

    /// Credits recorded at or after `since_ms`, in ledger order. Followers (a running
    /// gateway seeing `credits add`) re-read a window of the past and skip the sequence
    /// numbers they applied: on PostgreSQL a credit can commit after one with a higher
    /// number, so "everything after the last number seen" could miss it.
    pub async fn credits_since(&self, since_ms: i64) -> Result<Vec<CreditEntry>, StoreError> {
        let rows = sqlx::query(
            "SELECT seq, account, amount_nanos, created_at_ms FROM ledger \
             WHERE kind = 'credit' AND created_at_ms >= $1 ORDER BY seq",
        )
        .bind(since_ms)
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(credit_from_row).collect()
    }

    /// One consistent snapshot: every account's credits and settled usage, and the credits
    /// recorded since `recent_since_ms` that these sums already include (so a follower
    /// starting from the snapshot does not apply them again).
    pub async fn account_totals(
        &self,
        recent_since_ms: i64,
    ) -> Result<(Vec<AccountTotals>, Vec<CreditEntry>), StoreError> {
        let mut tx = self.pool.begin().await?;
        if self.backend == Backend::Postgres {
            sqlx::query("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ")
                .execute(&mut *tx)
                .await?;
        }
        let rows = sqlx::query(
            "SELECT a.name AS account, \
               (SELECT CAST(COALESCE(SUM(l.amount_nanos), 0) AS BIGINT) FROM ledger l \
                  WHERE l.account = a.name AND l.kind = 'credit') AS credits, \
               (SELECT COUNT(*) FROM ledger l \
                  WHERE l.account = a.name AND l.kind = 'credit') AS credit_rows, \
               (SELECT CAST(COALESCE(SUM(g.cost_nanos), 0) AS BIGINT) FROM generations g \
                  WHERE g.account = a.name) AS usage \
             FROM accounts a",
        )
        .fetch_all(&mut *tx)
        .await?;
        let recent = sqlx::query(
            "SELECT seq, account, amount_nanos, created_at_ms FROM ledger \
             WHERE kind = 'credit' AND created_at_ms >= $1 ORDER BY seq",
        )
        .bind(recent_since_ms)
        .fetch_all(&mut *tx)
        .await?;
        tx.commit().await?;
        let totals = rows
            .iter()
            .map(|r| {
                Ok(AccountTotals {
                    account: r.try_get("account")?,
                    credits: Nanos(r.try_get("credits")?),
                    usage: Nanos(r.try_get("usage")?),
                    metered: r.try_get::<i64, _>("credit_rows")? > 0,
                })
            })
            .collect::<Result<Vec<_>, StoreError>>()?;
        let recent = recent
            .iter()
            .map(credit_from_row)
            .collect::<Result<Vec<_>, StoreError>>()?;
        Ok((totals, recent))
    }

    /// Charges per key: all time, and since the given window starts.
    pub async fn key_usage(
        &self,
        day_start_ms: i64,
        week_start_ms: i64,
        month_start_ms: i64,
    ) -> Result<Vec<(String, KeyUsage)>, StoreError> {
        let rows = sqlx::query(
            "SELECT key_hash, \
               CAST(COALESCE(SUM(cost_nanos), 0) AS BIGINT) AS total, \
               CAST(COALESCE(SUM(CASE WHEN created_at_ms >= $1 THEN cost_nanos ELSE 0 END), 0) AS BIGINT) AS daily, \
               CAST(COALESCE(SUM(CASE WHEN created_at_ms >= $2 THEN cost_nanos ELSE 0 END), 0) AS BIGINT) AS weekly, \
               CAST(COALESCE(SUM(CASE WHEN created_at_ms >= $3 THEN cost_nanos ELSE 0 END), 0) AS BIGINT) AS monthly \
             FROM generations WHERE key_hash IS NOT NULL GROUP BY key_hash",
        )
        .bind(day_start_ms)
        .bind(week_start_ms)
        .bind(month_start_ms)
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|r| {
                Ok((
                    r.try_get("key_hash")?,
                    KeyUsage {
                        total: Nanos(r.try_get("total")?),
                        daily: Nanos(r.try_get("daily")?),
                        weekly: Nanos(r.try_get("weekly")?),
                        monthly: Nanos(r.try_get("monthly")?),
                    },
                ))
            })
            .collect()
    }

    // ---- keys ----

    /// Stores a new key for `secret` (only its hash and label are kept).
    pub async fn create_key(&self, secret: &str, new: &NewKey) -> Result<KeyRecord, StoreError> {
        if !self.account_exists(&new.account).await? {
            return Err(StoreError::NoSuchAccount(new.account.clone()));
        }
        let now = clock::now_ms();
        let record = KeyRecord {
            hash: keys::hash(secret),
            account: new.account.clone(),
            name: new.name.clone(),
            label: keys::label(secret),
            is_management: new.is_management,
            disabled: false,
            limit: new.limit,
            limit_reset: new.limit_reset,
            expires_at_ms: new.expires_at_ms,
            allowed_models: new.allowed_models.clone(),
            rate_limit: new.rate_limit,
            created_at_ms: now,
            updated_at_ms: None,
            changed_at_ms: now,
            deleted_at_ms: None,
        };
        self.insert_key(&record).await?;
        Ok(record)
    }

    async fn insert_key(&self, k: &KeyRecord) -> Result<(), StoreError> {
        let allowed = k
            .allowed_models
            .as_ref()
            .map(serde_json::to_string)
            .transpose()
            .map_err(|e| StoreError::Corrupt(e.to_string()))?;
        let sql = format!(
            "INSERT INTO api_keys ({KEY_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, \
             $13, $14, $15, $16)"
        );
        sqlx::query(&sql)
            .bind(&k.hash)
            .bind(&k.account)
            .bind(&k.name)
            .bind(&k.label)
            .bind(i64::from(k.is_management))
            .bind(i64::from(k.disabled))
            .bind(k.limit.map(|n| n.0))
            .bind(k.limit_reset.map(LimitReset::as_str))
            .bind(k.expires_at_ms)
            .bind(allowed)
            .bind(k.rate_limit.requests_per_minute.map(i64::from))
            .bind(k.rate_limit.tokens_per_minute.map(to_i64))
            .bind(k.created_at_ms)
            .bind(k.updated_at_ms)
            .bind(k.changed_at_ms)
            .bind(k.deleted_at_ms)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// A key by hash, deleted ones included (callers decide what a deleted key means).
    pub async fn key(&self, hash: &str) -> Result<Option<KeyRecord>, StoreError> {
        let sql = format!("SELECT {KEY_COLUMNS} FROM api_keys WHERE hash = $1");
        let row = sqlx::query(&sql)
            .bind(hash)
            .fetch_optional(&self.pool)
            .await?;
        row.as_ref().map(key_from_row).transpose()
    }

    /// Live (not deleted) keys, oldest first; `account = None` lists every account's.
    pub async fn list_keys(
        &self,
        account: Option<&str>,
        include_disabled: bool,
        offset: u32,
        limit: u32,
    ) -> Result<Vec<KeyRecord>, StoreError> {
        let sql = format!(
            "SELECT {KEY_COLUMNS} FROM api_keys WHERE deleted_at_ms IS NULL \
             AND ($1 IS NULL OR account = $1) AND ($2 = 1 OR disabled = 0) \
             ORDER BY created_at_ms, hash LIMIT $3 OFFSET $4"
        );
        let rows = sqlx::query(&sql)
            .bind(account)
            .bind(i64::from(include_disabled))
            .bind(i64::from(limit))
            .bind(i64::from(offset))
            .fetch_all(&self.pool)
            .await?;
        rows.iter().map(key_from_row).collect()
    }

    /// Keys changed at or after `since_ms`, deleted ones included: how other processes follow
    /// revocations within a second.
    pub async fn keys_changed_since(&self, since_ms: i64) -> Result<Vec<KeyRecord>, StoreError> {
        let sql = format!("SELECT {KEY_COLUMNS} FROM api_keys WHERE changed_at_ms >= $1");
        let rows = sqlx::query(&sql)
            .bind(since_ms)
            .fetch_all(&self.pool)
            .await?;
        rows.iter().map(key_from_row).collect()
    }

    /// Applies `patch`; `None` when no live key has that hash.
    pub async fn update_key(
        &self,
        hash: &str,
        patch: &KeyPatch,
    ) -> Result<Option<KeyRecord>, StoreError> {
        let Some(mut k) = self.key(hash).await?.filter(|k| k.deleted_at_ms.is_none()) else {
            return Ok(None);
        };
        if let Some(name) = &patch.name {
            k.name.clone_from(name);
        }
        if let Some(d) = patch.disabled {
            k.disabled = d;
        }
        if let Some(l) = patch.limit {
            k.limit = l;
        }
        if let Some(r) = patch.limit_reset {
            k.limit_reset = r;
        }
        if let Some(e) = patch.expires_at_ms {
            k.expires_at_ms = e;
        }
        if let Some(m) = &patch.allowed_models {
            k.allowed_models.clone_from(m);
        }
        if let Some(r) = patch.rate_limit {
            k.rate_limit = r;
        }
        let now = clock::now_ms().max(k.changed_at_ms + 1);
        k.updated_at_ms = Some(now);
        k.changed_at_ms = now;
        self.replace_key(&k).await?;
        Ok(Some(k))
    }

    /// Soft delete: the key stops working, its generations keep their owner.
    pub async fn delete_key(&self, hash: &str) -> Result<bool, StoreError> {
        let now = clock::now_ms();
        let done = sqlx::query(
            "UPDATE api_keys SET deleted_at_ms = $1, changed_at_ms = $1 \
             WHERE hash = $2 AND deleted_at_ms IS NULL",
        )
        .bind(now)
        .bind(hash)
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected() > 0)
    }

    async fn replace_key(&self, k: &KeyRecord) -> Result<(), StoreError> {
        let allowed = k
            .allowed_models
            .as_ref()
            .map(serde_json::to_string)
            .transpose()
            .map_err(|e| StoreError::Corrupt(e.to_string()))?;
        sqlx::query(
            "UPDATE api_keys SET name = $1, disabled = $2, limit_nanos = $3, limit_reset = $4, \
             expires_at_ms = $5, allowed_models = $6, rpm = $7, tpm = $8, updated_at_ms = $9, \
             changed_at_ms = $10 WHERE hash = $11",
        )
        .bind(&k.name)
        .bind(i64::from(k.disabled))
        .bind(k.limit.map(|n| n.0))
        .bind(k.limit_reset.map(LimitReset::as_str))
        .bind(k.expires_at_ms)
        .bind(allowed)
        .bind(k.rate_limit.requests_per_minute.map(i64::from))
        .bind(k.rate_limit.tokens_per_minute.map(to_i64))
        .bind(k.updated_at_ms)
        .bind(k.changed_at_ms)
        .bind(&k.hash)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    // ---- generations and charges ----

    /// Writes generation records — each one the charge of its request — in one transaction
    /// (group commit), many rows per statement. A generation already written is skipped (its
    /// id is the key), so a retried batch never charges twice. Returns how many were new.
    pub async fn write_generations(&self, batch: &[Generation]) -> Result<usize, StoreError> {
        if batch.is_empty() {
            return Ok(0);
        }
        let mut tx = self.pool.begin().await?;
        let mut written = 0;
        for rows in statement_chunks(batch) {
            let Some(sql) = self.inserts.for_rows(rows.len()) else {
                continue;
            };
            // Text is bound borrowed: an owned `String` is copied again by sqlx's `Any`
            // encoder, so each row would cost two copies of every text column.
            let attempts = rows
                .iter()
                .map(|g| serde_json::to_string(&g.attempts))
                .collect::<Result<Vec<String>, _>>()
                .map_err(|e| StoreError::Corrupt(e.to_string()))?;
            let mut q = sqlx::query(sql);
            for (g, attempts) in rows.iter().zip(&attempts) {
                q = q
                    .bind(g.id.as_str())
                    .bind(g.account.as_str())
                    .bind(g.key_hash.as_deref())
                    .bind(g.created_at_ms)
                    .bind(g.model.as_str())
                    .bind(g.provider_name.as_str())
                    .bind(g.provider_slug.as_str())
                    .bind(g.upstream_model.as_str())
                    .bind(g.upstream_id.as_deref())
                    .bind(i64::from(g.streamed))
                    .bind(i64::from(g.cancelled))
                    .bind(g.finish_reason.as_deref())
                    .bind(g.native_finish_reason.as_deref())
                    .bind(to_i64(g.tokens_prompt))
                    .bind(to_i64(g.tokens_completion))
                    .bind(to_i64(g.tokens_cached))
                    .bind(to_i64(g.tokens_reasoning))
                    .bind(g.cost.0)
                    .bind(g.latency_ms.map(to_i64))
                    .bind(g.generation_time_ms.map(to_i64))
                    .bind(g.session_id.as_deref())
                    .bind(g.http_referer.as_deref())
                    .bind(g.app_title.as_deref())
                    .bind(g.user_agent.as_deref())
                    .bind(attempts.as_str());
            }
            written += q.execute(&mut *tx).await?.rows_affected() as usize;
        }
        tx.commit().await?;
        Ok(written)
    }

    pub async fn generation(&self, id: &str) -> Result<Option<Generation>, StoreError> {
        let sql = format!("SELECT {GENERATION_COLUMNS} FROM generations WHERE id = $1");
        let row = sqlx::query(&sql)
            .bind(id)
            .fetch_optional(&self.pool)
            .await?;
        row.as_ref().map(generation_from_row).transpose()
    }

    /// Recent generations of an account, newest first.
    pub async fn recent_generations(
        &self,
        account: &str,
        limit: u32,
    ) -> Result<Vec<Generation>, StoreError> {
        self.find_generations(account, &GenerationFilter::default(), limit)
            .await
    }

    /// Requests, spend and tokens per UTC day, model and provider since `since_ms`.
    pub async fn activity(
        &self,
        account: &str,
        since_ms: i64,
        key_hash: Option<&str>,
    ) -> Result<Vec<ActivityRow>, StoreError> {
        let rows = sqlx::query(
            "SELECT created_at_ms / 86400000 AS day, model, provider_name, \
               COUNT(*) AS requests, CAST(COALESCE(SUM(cost_nanos), 0) AS BIGINT) AS usage, \
               CAST(COALESCE(SUM(tokens_prompt), 0) AS BIGINT) AS prompt_tokens, \
               CAST(COALESCE(SUM(tokens_completion), 0) AS BIGINT) AS completion_tokens, \
               CAST(COALESCE(SUM(tokens_reasoning), 0) AS BIGINT) AS reasoning_tokens, \
               CAST(COALESCE(SUM(tokens_cached), 0) AS BIGINT) AS cached_tokens \
             FROM generations WHERE account = $1 AND created_at_ms >= $2 \
               AND ($3 IS NULL OR key_hash = $3) \
             GROUP BY created_at_ms / 86400000, model, provider_name \
             ORDER BY day DESC, usage DESC, model, provider_name",
        )
        .bind(account)
        .bind(since_ms)
        .bind(key_hash)
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|r| {
                let day: i64 = r.try_get("day")?;
                Ok(ActivityRow {
                    date: clock::day(day * 86_400_000),
                    model: r.try_get("model")?,
                    provider_name: r.try_get("provider_name")?,
                    requests: to_u64(r.try_get("requests")?),
                    usage: Nanos(r.try_get("usage")?),
                    prompt_tokens: to_u64(r.try_get("prompt_tokens")?),
                    completion_tokens: to_u64(r.try_get("completion_tokens")?),
                    reasoning_tokens: to_u64(r.try_get("reasoning_tokens")?),
                    cached_tokens: to_u64(r.try_get("cached_tokens")?),
                })
            })
            .collect()
    }
}

/// Rows per multi-row INSERT, largest first. A few fixed sizes keep the number of distinct
/// statements (each prepared once and cached) small; 25 columns × 128 rows stays far below
/// both backends' limits on bound parameters (SQLite 32,766; PostgreSQL 65,535).
const STATEMENT_ROWS: [usize; 4] = [128, 16, 4, 1];

/// Splits `batch` into runs of the sizes in [`STATEMENT_ROWS`].
fn statement_chunks<T>(mut batch: &[T]) -> Vec<&[T]> {
    let mut out = Vec::new();
    for size in STATEMENT_ROWS {
        while batch.len() >= size {
            let (head, rest) = batch.split_at(size);
            out.push(head);
            batch = rest;
        }
    }
    out
}

/// `(p, …, p{tail}), (…), …`: `rows` groups of `cols` parameters. SQLite gets anonymous `?`:
/// sqlx looks every named parameter up by name, which SQLite does in linear time, so
/// thousands of `$N` in one statement cost quadratic time.
fn values(backend: Backend, rows: usize, cols: usize, tail: &str) -> String {
    let group = |first: usize| -> String {
        let params: Vec<String> = match backend {
            Backend::Sqlite => vec!["?".to_owned(); cols],
            Backend::Postgres => (first..first + cols).map(|n| format!("${n}")).collect(),
        };
        format!("({}{tail})", params.join(", "))
    };
    (0..rows)
        .map(|r| group(r * cols + 1))
        .collect::<Vec<_>>()
        .join(", ")
}

fn to_i64(v: u64) -> i64 {
    i64::try_from(v).unwrap_or(i64::MAX)
}

fn to_u64(v: i64) -> u64 {
    u64::try_from(v).unwrap_or(0)
}

fn credit_from_row(r: &AnyRow) -> Result<CreditEntry, StoreError> {
    Ok(CreditEntry {
        seq: r.try_get("seq")?,
        account: r.try_get("account")?,
        amount: Nanos(r.try_get("amount_nanos")?),
        created_at_ms: r.try_get("created_at_ms")?,
    })
}

fn key_from_row(r: &AnyRow) -> Result<KeyRecord, StoreError> {
    let allowed: Option<String> = r.try_get("allowed_models")?;
    let allowed_models = allowed
        .map(|s| serde_json::from_str::<Vec<String>>(&s))
        .transpose()
        .map_err(|e| StoreError::Corrupt(format!("api_keys.allowed_models: {e}")))?;
    let limit_reset: Option<String> = r.try_get("limit_reset")?;
    let limit_reset = match limit_reset {
        None => None,
        Some(s) => Some(
            LimitReset::parse(&s)
                .ok_or_else(|| StoreError::Corrupt(format!("api_keys.limit_reset {s:?}")))?,
        ),
    };
    let rpm: Option<i64> = r.try_get("rpm")?;
    let tpm: Option<i64> = r.try_get("tpm")?;
    Ok(KeyRecord {
        hash: r.try_get("hash")?,
        account: r.try_get("account")?,
        name: r.try_get("name")?,
        label: r.try_get("label")?,
        is_management: r.try_get::<i64, _>("is_management")? != 0,
        disabled: r.try_get::<i64, _>("disabled")? != 0,
        limit: r.try_get::<Option<i64>, _>("limit_nanos")?.map(Nanos),
        limit_reset,
        expires_at_ms: r.try_get("expires_at_ms")?,
        allowed_models,
        rate_limit: RateLimit {
            requests_per_minute: rpm.map(|v| u32::try_from(v).unwrap_or(u32::MAX)),
            tokens_per_minute: tpm.map(to_u64),
        },
        created_at_ms: r.try_get("created_at_ms")?,
        updated_at_ms: r.try_get("updated_at_ms")?,
        changed_at_ms: r.try_get("changed_at_ms")?,
        deleted_at_ms: r.try_get("deleted_at_ms")?,
    })
}

fn generation_from_row(r: &AnyRow) -> Result<Generation, StoreError> {
    let attempts: String = r.try_get("attempts")?;
    let opt_u64 = |name: &str| -> Result<Option<u64>, StoreError> {
        Ok(r.try_get::<Option<i64>, _>(name)?.map(to_u64))
    };
    Ok(Generation {
        id: r.try_get("id")?,
        account: r.try_get("account")?,
        key_hash: r.try_get("key_hash")?,
        created_at_ms: r.try_get("created_at_ms")?,
        model: r.try_get("model")?,
        provider_name: r.try_get("provider_name")?,
        provider_slug: r.try_get("provider_slug")?,
        upstream_model: r.try_get("upstream_model")?,
        upstream_id: r.try_get("upstream_id")?,
        streamed: r.try_get::<i64, _>("streamed")? != 0,
        cancelled: r.try_get::<i64, _>("cancelled")? != 0,
        finish_reason: r.try_get("finish_reason")?,
        native_finish_reason: r.try_get("native_finish_reason")?,
        tokens_prompt: to_u64(r.try_get("tokens_prompt")?),
        tokens_completion: to_u64(r.try_get("tokens_completion")?),
        tokens_cached: to_u64(r.try_get("tokens_cached")?),
        tokens_reasoning: to_u64(r.try_get("tokens_reasoning")?),
        cost: Nanos(r.try_get("cost_nanos")?),
        latency_ms: opt_u64("latency_ms")?,
        generation_time_ms: opt_u64("generation_time_ms")?,
        session_id: r.try_get("session_id")?,
        http_referer: r.try_get("http_referer")?,
        app_title: r.try_get("app_title")?,
        user_agent: r.try_get("user_agent")?,
        attempts: serde_json::from_str(&attempts)
            .map_err(|e| StoreError::Corrupt(format!("generations.attempts: {e}")))?,
    })
}
