//! Status history: published transitions, per-day live-traffic counts and incidents of the
//! status page's components. Statuses are stored as Statuspage's words
//! (`operational`, `partial_outage`, …); the gateway owns their meaning.

use sqlx::Row;

use crate::{Store, StoreError};

/// One published status change of a component.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StatusTransition {
    pub component_id: String,
    pub at_ms: i64,
    pub old_status: String,
    pub new_status: String,
    pub reason: String,
}

/// Live-traffic outcomes of a component on one UTC day (days since the Unix epoch).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct DayCounts {
    pub ok: i64,
    pub errors: i64,
    pub rate_limited: i64,
}

/// An incident as stored: its JSON document, as the gateway renders it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredIncident {
    pub id: String,
    pub created_at_ms: i64,
    pub updated_at_ms: i64,
    pub resolved_at_ms: Option<i64>,
    pub doc: String,
}

impl Store {
    /// Records transitions; one already recorded (same component, time and status) is kept.
    pub async fn record_transitions(&self, rows: &[StatusTransition]) -> Result<(), StoreError> {
        if rows.is_empty() {
            return Ok(());
        }
        let mut tx = self.pool.begin().await?;
        for t in rows {
            sqlx::query(
                "INSERT INTO status_transitions (component_id, at_ms, old_status, new_status, reason) \
                 VALUES ($1, $2, $3, $4, $5) ON CONFLICT (component_id, at_ms, new_status) DO NOTHING",
            )
            .bind(&t.component_id)
            .bind(t.at_ms)
            .bind(&t.old_status)
            .bind(&t.new_status)
            .bind(&t.reason)
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await?;
        Ok(())
    }

    /// Every transition at or after `since_ms`, plus each component's last one before it (the
    /// status it entered the window with), oldest first.
    pub async fn transitions_since(
        &self,
        since_ms: i64,
    ) -> Result<Vec<StatusTransition>, StoreError> {
        let rows = sqlx::query(
            "SELECT component_id, at_ms, old_status, new_status, reason FROM status_transitions t \
             WHERE at_ms >= $1 \
                OR at_ms = (SELECT MAX(u.at_ms) FROM status_transitions u \
                            WHERE u.component_id = t.component_id AND u.at_ms < $1) \
             ORDER BY at_ms, component_id",
        )
        .bind(since_ms)
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|r| {
                Ok(StatusTransition {
                    component_id: r.try_get("component_id")?,
                    at_ms: r.try_get("at_ms")?,
                    old_status: r.try_get("old_status")?,
                    new_status: r.try_get("new_status")?,
                    reason: r.try_get("reason")?,
                })
            })
            .collect()
    }

    /// Adds live-traffic counts to components' days (several instances add to the same rows).
    pub async fn add_day_counts(
        &self,
        rows: &[(String, i64, DayCounts)],
    ) -> Result<(), StoreError> {
        if rows.is_empty() {
            return Ok(());
        }
        let mut tx = self.pool.begin().await?;
        for (component, day, c) in rows {
            sqlx::query(
                "INSERT INTO status_days (component_id, day, ok, errors, rate_limited) \
                 VALUES ($1, $2, $3, $4, $5) ON CONFLICT (component_id, day) DO UPDATE SET \
                 ok = status_days.ok + excluded.ok, errors = status_days.errors + excluded.errors, \
                 rate_limited = status_days.rate_limited + excluded.rate_limited",
            )
            .bind(component)
            .bind(*day)
            .bind(c.ok)
            .bind(c.errors)
            .bind(c.rate_limited)
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await?;
        Ok(())
    }

    /// (component id, day, counts) for days at or after `since_day`.
    pub async fn day_counts_since(
        &self,
        since_day: i64,
    ) -> Result<Vec<(String, i64, DayCounts)>, StoreError> {
        let rows = sqlx::query(
            "SELECT component_id, day, ok, errors, rate_limited FROM status_days \
             WHERE day >= $1 ORDER BY component_id, day",
        )
        .bind(since_day)
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|r| {
                Ok((
                    r.try_get("component_id")?,
                    r.try_get("day")?,
                    DayCounts {
                        ok: r.try_get("ok")?,
                        errors: r.try_get("errors")?,
                        rate_limited: r.try_get("rate_limited")?,
                    },
                ))
            })
            .collect()
    }

    /// Inserts or replaces incidents.
    pub async fn save_incidents(&self, incidents: &[StoredIncident]) -> Result<(), StoreError> {
        if incidents.is_empty() {
            return Ok(());
        }
        let mut tx = self.pool.begin().await?;
        for i in incidents {
            sqlx::query(
                "INSERT INTO status_incidents (id, created_at_ms, updated_at_ms, resolved_at_ms, doc) \
                 VALUES ($1, $2, $3, $4, $5) ON CONFLICT (id) DO UPDATE SET \
                 updated_at_ms = excluded.updated_at_ms, resolved_at_ms = excluded.resolved_at_ms, \
                 doc = excluded.doc",
            )
            .bind(&i.id)
            .bind(i.created_at_ms)
            .bind(i.updated_at_ms)
            .bind(i.resolved_at_ms)
            .bind(&i.doc)
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await?;
        Ok(())
    }

    /// The newest `limit` incidents, newest first.
    pub async fn recent_incidents(&self, limit: i64) -> Result<Vec<StoredIncident>, StoreError> {
        let rows = sqlx::query(
            "SELECT id, created_at_ms, updated_at_ms, resolved_at_ms, doc FROM status_incidents \
             ORDER BY created_at_ms DESC, id DESC LIMIT $1",
        )
        .bind(limit)
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|r| {
                Ok(StoredIncident {
                    id: r.try_get("id")?,
                    created_at_ms: r.try_get("created_at_ms")?,
                    updated_at_ms: r.try_get("updated_at_ms")?,
                    resolved_at_ms: r.try_get("resolved_at_ms")?,
                    doc: r.try_get("doc")?,
                })
            })
            .collect()
    }

    /// Keeps an admin-API maintenance window (`doc`: the request that made it).
    pub async fn save_maintenance(
        &self,
        id: &str,
        created_at_ms: i64,
        doc: &str,
    ) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO status_maintenances (id, created_at_ms, doc) VALUES ($1, $2, $3) \
             ON CONFLICT (id) DO UPDATE SET doc = excluded.doc",
        )
        .bind(id)
        .bind(created_at_ms)
        .bind(doc)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    pub async fn delete_maintenance(&self, id: &str) -> Result<(), StoreError> {
        sqlx::query("DELETE FROM status_maintenances WHERE id = $1")
            .bind(id)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// Every kept window: (id, created at, doc), oldest first.
    pub async fn maintenances(&self) -> Result<Vec<(String, i64, String)>, StoreError> {
        let rows = sqlx::query(
            "SELECT id, created_at_ms, doc FROM status_maintenances ORDER BY created_at_ms, id",
        )
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|r| {
                Ok((
                    r.try_get("id")?,
                    r.try_get("created_at_ms")?,
                    r.try_get("doc")?,
                ))
            })
            .collect()
    }

    /// Drops history older than `before_ms` (transitions keep each component's last one, so
    /// the status a component entered the kept window with is still known).
    pub async fn prune_status_history(&self, before_ms: i64) -> Result<(), StoreError> {
        sqlx::query(
            "DELETE FROM status_transitions WHERE at_ms < $1 AND at_ms < \
             (SELECT MAX(u.at_ms) FROM status_transitions u \
              WHERE u.component_id = status_transitions.component_id AND u.at_ms < $1)",
        )
        .bind(before_ms)
        .execute(&self.pool)
        .await?;
        sqlx::query("DELETE FROM status_days WHERE day < $1")
            .bind(before_ms.div_euclid(86_400_000))
            .execute(&self.pool)
            .await?;
        sqlx::query(
            "DELETE FROM status_incidents WHERE resolved_at_ms IS NOT NULL AND resolved_at_ms < $1",
        )
        .bind(before_ms)
        .execute(&self.pool)
        .await?;
        Ok(())
    }
}
