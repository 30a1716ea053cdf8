//! Throwaway databases for tests: a fresh PostgreSQL database on the local server, or a
//! SQLite file in a temporary directory.

use sqlx::Connection;

/// The server tests use; `TURNOUT_TEST_POSTGRES` overrides.
fn server_url() -> String {
    std::env::var("TURNOUT_TEST_POSTGRES")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".to_owned())
}

/// A new, empty database on the local PostgreSQL, or `None` (with the reason on stderr) when
/// none is reachable outside CI. Under `CI` an unreachable server is a failure, not a skip.
pub async fn postgres() -> Option<String> {
    let server = server_url();
    let mut conn = match sqlx::PgConnection::connect(&server).await {
        Ok(c) => c,
        Err(e) => {
            assert!(
                std::env::var_os("CI").is_none(),
                "CI is set but PostgreSQL at {server} is unreachable: {e}"
            );
            eprintln!("skipping the PostgreSQL variant: {server} is unreachable ({e})");
            return None;
        }
    };
    let name = format!("turnout_test_{}", hex::encode(rand::random::<[u8; 6]>()));
    if let Err(e) = sqlx::query(&format!("CREATE DATABASE {name}"))
        .execute(&mut conn)
        .await
    {
        assert!(
            std::env::var_os("CI").is_none(),
            "CI is set but cannot create a test database: {e}"
        );
        eprintln!("skipping the PostgreSQL variant: cannot create a database ({e})");
        return None;
    }
    let _ = conn.close().await;
    let base = server.rsplit_once('/').map_or(server.as_str(), |(b, _)| b);
    Some(format!("{base}/{name}"))
}

/// A SQLite URL in `dir`.
pub fn sqlite(dir: &std::path::Path) -> String {
    format!("sqlite://{}", dir.join("turnout.db").display())
}
