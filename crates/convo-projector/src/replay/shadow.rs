//! Shadow tables: a model's tables are rebuilt in the schema `convo_shadow`, beside the live ones,
//! and swapped in by moving schemas in one transaction. Names of tables, constraints and indexes
//! stay the same (they live in another schema), so the swapped-in tables are indistinguishable
//! from the ones the migrations made.

use sqlx::{Connection, PgConnection};

/// Where tables are rebuilt.
pub(crate) const SHADOW: &str = "convo_shadow";
/// Where swapped-out tables wait to be dropped.
const RETIRED: &str = "convo_retired";

/// The schema the live tables are in (the connection's first schema on its search path).
pub(crate) async fn live_schema(conn: &mut PgConnection) -> Result<String, sqlx::Error> {
    sqlx::query_scalar!(r#"SELECT current_schema() AS "schema!""#)
        .fetch_one(conn)
        .await
}

/// Creates empty copies of `tables` in the shadow schema, with their primary keys and unique
/// constraints (the writes need them); leftovers of an earlier, interrupted replay are dropped.
/// They are unlogged while loading (a crash loses nothing that matters: the rebuild starts
/// over), and logged by [`index`].
pub(crate) async fn create(
    conn: &mut PgConnection,
    live: &str,
    tables: &[&str],
) -> Result<(), sqlx::Error> {
    drop_all(conn).await?;
    run(conn, &format!("CREATE SCHEMA {SHADOW}")).await?;
    for table in tables {
        run(
            conn,
            &format!(
                "CREATE UNLOGGED TABLE {SHADOW}.{table} (LIKE {live}.{table} INCLUDING DEFAULTS \
                 INCLUDING CONSTRAINTS INCLUDING GENERATED INCLUDING IDENTITY)"
            ),
        )
        .await?;
        let keys: Vec<(String, String)> = sqlx::query_as(
            "SELECT conname::text, pg_get_constraintdef(oid) FROM pg_constraint
             WHERE conrelid = $1::regclass AND contype IN ('p', 'u') ORDER BY conname",
        )
        .bind(format!("{live}.{table}"))
        .fetch_all(&mut *conn)
        .await?;
        for (name, definition) in keys {
            run(
                conn,
                &format!("ALTER TABLE {SHADOW}.{table} ADD CONSTRAINT \"{name}\" {definition}"),
            )
            .await?;
        }
    }
    Ok(())
}

/// Creates the other indexes of `tables` (after loading: building an index once is faster than
/// keeping it up to date row by row), and makes the tables logged.
pub(crate) async fn index(
    conn: &mut PgConnection,
    live: &str,
    tables: &[&str],
) -> Result<(), sqlx::Error> {
    for table in tables {
        let definitions: Vec<String> = sqlx::query_scalar(
            "SELECT pg_get_indexdef(i.indexrelid) FROM pg_index i
             WHERE i.indrelid = $1::regclass
               AND NOT EXISTS (SELECT 1 FROM pg_constraint c WHERE c.conindid = i.indexrelid)
             ORDER BY 1",
        )
        .bind(format!("{live}.{table}"))
        .fetch_all(&mut *conn)
        .await?;
        for definition in definitions {
            let shadowed = definition.replacen(
                &format!(" ON {live}.{table} "),
                &format!(" ON {SHADOW}.{table} "),
                1,
            );
            run(conn, &shadowed).await?;
        }
        // Written to the WAL once, whole, instead of row by row while loading.
        run(conn, &format!("ALTER TABLE {SHADOW}.{table} SET LOGGED")).await?;
        run(conn, &format!("ANALYZE {SHADOW}.{table}")).await?;
    }
    Ok(())
}

/// Moves the live `tables` out and the shadow ones in, in the caller's transaction (which holds
/// the live tables' locks).
pub(crate) async fn swap(
    conn: &mut PgConnection,
    live: &str,
    tables: &[&str],
) -> Result<(), sqlx::Error> {
    run(conn, &format!("CREATE SCHEMA {RETIRED}")).await?;
    for table in tables {
        run(
            conn,
            &format!("ALTER TABLE {live}.{table} SET SCHEMA {RETIRED}"),
        )
        .await?;
        run(
            conn,
            &format!("ALTER TABLE {SHADOW}.{table} SET SCHEMA {live}"),
        )
        .await?;
    }
    Ok(())
}

/// Takes the live tables' exclusive locks: readers and the projector wait until the caller's
/// transaction ends.
pub(crate) async fn lock_live(
    conn: &mut PgConnection,
    live: &str,
    tables: &[&str],
) -> Result<(), sqlx::Error> {
    let list: Vec<String> = tables.iter().map(|t| format!("{live}.{t}")).collect();
    run(
        conn,
        &format!("LOCK TABLE {} IN ACCESS EXCLUSIVE MODE", list.join(", ")),
    )
    .await
}

/// Drops the shadow and retired schemas, if there are any.
pub(crate) async fn drop_all(conn: &mut PgConnection) -> Result<(), sqlx::Error> {
    run(conn, &format!("DROP SCHEMA IF EXISTS {SHADOW} CASCADE")).await?;
    run(conn, &format!("DROP SCHEMA IF EXISTS {RETIRED} CASCADE")).await
}

/// Rows that differ between the live and the shadow copy of `table`.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct TableDiff {
    pub table: String,
    /// Rows of the live table that the rebuild does not have (changed or gone).
    pub only_live: i64,
    /// Rows of the rebuild that the live table does not have (changed or new).
    pub only_rebuilt: i64,
}

/// Compares the live and shadow copies of `tables`, row by row.
pub(crate) async fn diff(
    conn: &mut PgConnection,
    live: &str,
    tables: &[&str],
) -> Result<Vec<TableDiff>, sqlx::Error> {
    let mut diffs = Vec::new();
    for table in tables {
        let count = |a: &str, b: &str| {
            format!(
                "SELECT count(*) FROM (SELECT * FROM {a}.{table} EXCEPT ALL SELECT * FROM {b}.{table}) d"
            )
        };
        let only_live: i64 = sqlx::query_scalar(&count(live, SHADOW))
            .fetch_one(&mut *conn)
            .await?;
        let only_rebuilt: i64 = sqlx::query_scalar(&count(SHADOW, live))
            .fetch_one(&mut *conn)
            .await?;
        diffs.push(TableDiff {
            table: (*table).to_owned(),
            only_live,
            only_rebuilt,
        });
    }
    Ok(diffs)
}

/// Points the connection's unqualified table names at the shadow tables (other tables, such as
/// the events, are still found in the live schema).
pub(crate) async fn write_to_shadow(
    conn: &mut PgConnection,
    live: &str,
) -> Result<(), sqlx::Error> {
    run(conn, &format!("SET search_path TO {SHADOW}, {live}")).await
}

/// Runs one statement without parameters (and without preparing it: most are one-off DDL).
pub(crate) async fn run(conn: &mut PgConnection, statement: &str) -> Result<(), sqlx::Error> {
    sqlx::Executor::execute(conn, sqlx::raw_sql(statement))
        .await
        .map(|_| ())
}

/// Opens a connection of its own (not from the pool: its search path changes).
pub(crate) async fn connect(pool: &sqlx::PgPool) -> Result<PgConnection, sqlx::Error> {
    PgConnection::connect_with(&pool.connect_options()).await
}
