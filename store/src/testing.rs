//! Helpers for tests that need a database of their own. A PostgreSQL test
//! gets a fresh database on the server named by `REEL_TEST_POSTGRES_URL`; a
//! missing variable or server fails the test rather than skipping it.

use rand::Rng;

/// The server every PostgreSQL test uses.
pub fn postgres_server_url() -> String {
    std::env::var("REEL_TEST_POSTGRES_URL").unwrap_or_else(|_| {
        panic!(
            "REEL_TEST_POSTGRES_URL is not set: PostgreSQL tests need a server \
             (e.g. postgres://postgres@127.0.0.1:5432/test); .ci/run sets it"
        )
    })
}

/// Creates an empty database for one test and returns its URL.
pub async fn fresh_postgres_database() -> String {
    use sqlx::{Connection, Executor};
    let server = postgres_server_url();
    let name = format!("reel_test_{:016x}", rand::thread_rng().gen::<u64>());
    let mut conn = sqlx::PgConnection::connect(&server)
        .await
        .unwrap_or_else(|e| panic!("cannot reach PostgreSQL at {server}: {e}"));
    conn.execute(format!("CREATE DATABASE {name}").as_str())
        .await
        .unwrap_or_else(|e| panic!("cannot create test database {name}: {e}"));
    let mut url = url::Url::parse(&server).expect("REEL_TEST_POSTGRES_URL is not a URL");
    url.set_path(&name);
    url.to_string()
}

/// A SQLite URL for a file inside `dir`.
pub fn sqlite_url_in(dir: &std::path::Path) -> String {
    format!("sqlite://{}/reel.db", dir.display())
}
