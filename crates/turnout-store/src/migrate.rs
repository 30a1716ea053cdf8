//! Migrations, one set per backend, embedded in the binary (`turnout migrate`, and on start).

use std::borrow::Cow;

use sqlx::AnyPool;
use sqlx::error::BoxDynError;
use sqlx::migrate::{Migration, MigrationSource, MigrationType, Migrator};

use crate::{Backend, StoreError};

/// (version, description, SQL); versions only ever grow.
type Embedded = &'static [(i64, &'static str, &'static str)];

const SQLITE: Embedded = &[
    (
        1,
        "accounts",
        include_str!("../migrations/sqlite/0001_accounts.sql"),
    ),
    (
        2,
        "meta",
        include_str!("../migrations/sqlite/0002_meta.sql"),
    ),
    (
        3,
        "status history",
        include_str!("../migrations/sqlite/0003_status_history.sql"),
    ),
    (
        4,
        "dashboard sessions",
        include_str!("../migrations/sqlite/0004_dashboard_sessions.sql"),
    ),
    (
        5,
        "status maintenances",
        include_str!("../migrations/sqlite/0005_status_maintenances.sql"),
    ),
];

const POSTGRES: Embedded = &[
    (
        1,
        "accounts",
        include_str!("../migrations/postgres/0001_accounts.sql"),
    ),
    (
        2,
        "meta",
        include_str!("../migrations/postgres/0002_meta.sql"),
    ),
    (
        3,
        "status history",
        include_str!("../migrations/postgres/0003_status_history.sql"),
    ),
    (
        4,
        "dashboard sessions",
        include_str!("../migrations/postgres/0004_dashboard_sessions.sql"),
    ),
    (
        5,
        "status maintenances",
        include_str!("../migrations/postgres/0005_status_maintenances.sql"),
    ),
];

#[derive(Debug)]
struct Source(Embedded);

impl<'s> MigrationSource<'s> for Source {
    fn resolve(self) -> futures_util::future::BoxFuture<'s, Result<Vec<Migration>, BoxDynError>> {
        Box::pin(async move {
            Ok(self
                .0
                .iter()
                .map(|(version, description, sql)| {
                    Migration::new(
                        *version,
                        Cow::Borrowed(*description),
                        MigrationType::Simple,
                        Cow::Borrowed(*sql),
                        false,
                    )
                })
                .collect())
        })
    }
}

pub async fn run(pool: &AnyPool, backend: Backend) -> Result<(), StoreError> {
    let source = match backend {
        Backend::Sqlite => Source(SQLITE),
        Backend::Postgres => Source(POSTGRES),
    };
    let migrator = Migrator::new(source).await?;
    migrator.run(pool).await?;
    Ok(())
}
