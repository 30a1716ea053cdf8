//! What the operator's dashboard keeps and reads: its sessions (by token hash), per-account
//! settings, and the views of generation records its pages show (filtered listings, sums per
//! time bucket, samples for percentiles, when an endpoint last served).

use sqlx::Row;

use crate::money::Nanos;
use crate::records::AttemptRecord;
use crate::{Store, StoreError, to_u64};

/// A signed-in dashboard session. The token itself is never stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DashboardSession {
    /// SHA-256 hex of the session token the browser holds.
    pub token_hash: String,
    pub account: String,
    /// The management key that opened the session.
    pub key_hash: String,
    pub csrf_token: String,
    pub created_at_ms: i64,
    pub expires_at_ms: i64,
}

/// Which of an account's generations a listing shows (every field optional).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct GenerationFilter {
    pub model: Option<String>,
    pub provider_slug: Option<String>,
    pub key_hash: Option<String>,
    /// Only generations older than this (created_at_ms, id): the next page of a listing.
    pub before: Option<(i64, String)>,
}

/// Requests and spend of one time bucket, summed exactly by the database.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SpendBucket {
    /// Unix milliseconds at the bucket's start.
    pub start_ms: i64,
    pub requests: u64,
    pub cost: Nanos,
}

/// The timing and outcome columns of one generation, for percentiles and error rates.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GenerationSample {
    pub created_at_ms: i64,
    pub streamed: bool,
    pub finish_reason: Option<String>,
    pub latency_ms: Option<u64>,
    pub generation_time_ms: Option<u64>,
    pub attempts: Vec<AttemptRecord>,
}

impl Store {
    pub async fn create_session(&self, s: &DashboardSession) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO dashboard_sessions (token_hash, account, key_hash, csrf_token, \
             created_at_ms, expires_at_ms) VALUES ($1, $2, $3, $4, $5, $6)",
        )
        .bind(&s.token_hash)
        .bind(&s.account)
        .bind(&s.key_hash)
        .bind(&s.csrf_token)
        .bind(s.created_at_ms)
        .bind(s.expires_at_ms)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// The session with this token hash, unless it expired by `now_ms`.
    pub async fn session(
        &self,
        token_hash: &str,
        now_ms: i64,
    ) -> Result<Option<DashboardSession>, StoreError> {
        let row = sqlx::query(
            "SELECT token_hash, account, key_hash, csrf_token, created_at_ms, expires_at_ms \
             FROM dashboard_sessions WHERE token_hash = $1 AND expires_at_ms > $2",
        )
        .bind(token_hash)
        .bind(now_ms)
        .fetch_optional(&self.pool)
        .await?;
        row.map(|r| {
            Ok(DashboardSession {
                token_hash: r.try_get("token_hash")?,
                account: r.try_get("account")?,
                key_hash: r.try_get("key_hash")?,
                csrf_token: r.try_get("csrf_token")?,
                created_at_ms: r.try_get("created_at_ms")?,
                expires_at_ms: r.try_get("expires_at_ms")?,
            })
        })
        .transpose()
    }

    pub async fn delete_session(&self, token_hash: &str) -> Result<bool, StoreError> {
        let done = sqlx::query("DELETE FROM dashboard_sessions WHERE token_hash = $1")
            .bind(token_hash)
            .execute(&self.pool)
            .await?;
        Ok(done.rows_affected() > 0)
    }

    /// Forgets sessions that expired by `now_ms`; returns how many.
    pub async fn delete_expired_sessions(&self, now_ms: i64) -> Result<u64, StoreError> {
        let done = sqlx::query("DELETE FROM dashboard_sessions WHERE expires_at_ms <= $1")
            .bind(now_ms)
            .execute(&self.pool)
            .await?;
        Ok(done.rows_affected())
    }

    /// The balance below which the dashboard warns, if the account set one.
    pub async fn low_balance_alert(&self, account: &str) -> Result<Option<Nanos>, StoreError> {
        let row = sqlx::query("SELECT low_balance_nanos FROM account_settings WHERE account = $1")
            .bind(account)
            .fetch_optional(&self.pool)
            .await?;
        Ok(row
            .map(|r| r.try_get::<Option<i64>, _>("low_balance_nanos"))
            .transpose()?
            .flatten()
            .map(Nanos))
    }

    /// Every account's low-balance alert that is set.
    pub async fn low_balance_alerts(&self) -> Result<Vec<(String, Nanos)>, StoreError> {
        let rows = sqlx::query(
            "SELECT account, low_balance_nanos FROM account_settings \
             WHERE low_balance_nanos IS NOT NULL ORDER BY account",
        )
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|r| {
                Ok((
                    r.try_get::<String, _>("account")?,
                    Nanos(r.try_get::<i64, _>("low_balance_nanos")?),
                ))
            })
            .collect()
    }

    /// Sets (or, with `None`, clears) the account's low-balance alert.
    pub async fn set_low_balance_alert(
        &self,
        account: &str,
        threshold: Option<Nanos>,
    ) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO account_settings (account, low_balance_nanos, updated_at_ms) \
             VALUES ($1, $2, $3) ON CONFLICT (account) DO UPDATE SET \
             low_balance_nanos = excluded.low_balance_nanos, updated_at_ms = excluded.updated_at_ms",
        )
        .bind(account)
        .bind(threshold.map(|n| n.0))
        .bind(crate::clock::now_ms())
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// An account's generations matching `filter`, newest first.
    pub async fn find_generations(
        &self,
        account: &str,
        filter: &GenerationFilter,
        limit: u32,
    ) -> Result<Vec<crate::Generation>, StoreError> {
        let (before_ms, before_id) = match &filter.before {
            Some((ms, id)) => (Some(*ms), Some(id.as_str())),
            None => (None, None),
        };
        let sql = format!(
            "SELECT {} FROM generations WHERE account = $1 \
             AND ($2 IS NULL OR model = $2) AND ($3 IS NULL OR provider_slug = $3) \
             AND ($4 IS NULL OR key_hash = $4) \
             AND ($5 IS NULL OR created_at_ms < $5 OR (created_at_ms = $5 AND id < $6)) \
             ORDER BY created_at_ms DESC, id DESC LIMIT $7",
            crate::GENERATION_COLUMNS
        );
        let rows = sqlx::query(&sql)
            .bind(account)
            .bind(filter.model.as_deref())
            .bind(filter.provider_slug.as_deref())
            .bind(filter.key_hash.as_deref())
            .bind(before_ms)
            .bind(before_id)
            .bind(i64::from(limit))
            .fetch_all(&self.pool)
            .await?;
        rows.iter().map(crate::generation_from_row).collect()
    }

    /// Requests and spend of an account since `since_ms`, per bucket of `bucket_ms` aligned
    /// to the Unix epoch; empty buckets are left out.
    pub async fn spend_buckets(
        &self,
        account: &str,
        since_ms: i64,
        bucket_ms: i64,
    ) -> Result<Vec<SpendBucket>, StoreError> {
        let bucket_ms = bucket_ms.max(1);
        // An integer from the caller, not input: inlined so both backends group by the same
        // expression they select.
        let sql = format!(
            "SELECT created_at_ms / {bucket_ms} AS bucket, COUNT(*) AS requests, \
               CAST(COALESCE(SUM(cost_nanos), 0) AS BIGINT) AS cost \
             FROM generations WHERE account = $1 AND created_at_ms >= $2 \
             GROUP BY created_at_ms / {bucket_ms} ORDER BY bucket"
        );
        let rows = sqlx::query(&sql)
            .bind(account)
            .bind(since_ms)
            .fetch_all(&self.pool)
            .await?;
        rows.iter()
            .map(|r| {
                Ok(SpendBucket {
                    start_ms: r.try_get::<i64, _>("bucket")? * bucket_ms,
                    requests: to_u64(r.try_get("requests")?),
                    cost: Nanos(r.try_get("cost")?),
                })
            })
            .collect()
    }

    /// The newest `limit` generations of an account since `since_ms`, newest first, with
    /// only what percentiles and error rates need.
    pub async fn generation_samples(
        &self,
        account: &str,
        since_ms: i64,
        limit: u32,
    ) -> Result<Vec<GenerationSample>, StoreError> {
        let rows = sqlx::query(
            "SELECT created_at_ms, streamed, finish_reason, latency_ms, generation_time_ms, \
             attempts FROM generations WHERE account = $1 AND created_at_ms >= $2 \
             ORDER BY created_at_ms DESC LIMIT $3",
        )
        .bind(account)
        .bind(since_ms)
        .bind(i64::from(limit))
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|r| {
                let attempts: String = r.try_get("attempts")?;
                Ok(GenerationSample {
                    created_at_ms: r.try_get("created_at_ms")?,
                    streamed: r.try_get::<i64, _>("streamed")? != 0,
                    finish_reason: r.try_get("finish_reason")?,
                    latency_ms: r.try_get::<Option<i64>, _>("latency_ms")?.map(to_u64),
                    generation_time_ms: r
                        .try_get::<Option<i64>, _>("generation_time_ms")?
                        .map(to_u64),
                    attempts: serde_json::from_str(&attempts)
                        .map_err(|e| StoreError::Corrupt(format!("generations.attempts: {e}")))?,
                })
            })
            .collect()
    }

    /// When the endpoint (provider × model id) last served, for any account.
    pub async fn last_served(
        &self,
        provider_slug: &str,
        model: &str,
    ) -> Result<Option<i64>, StoreError> {
        let row = sqlx::query(
            "SELECT MAX(created_at_ms) AS at FROM generations \
             WHERE provider_slug = $1 AND model = $2",
        )
        .bind(provider_slug)
        .bind(model)
        .fetch_one(&self.pool)
        .await?;
        Ok(row.try_get::<Option<i64>, _>("at")?)
    }
}
