//! The universe graph: nodes and edges in the database. Expanding a node
//! does a configurable amount of hashing per child, then adds the children
//! and the edges to them in one transaction. Integrity counts edges whose
//! ends do not exist, nodes whose parent does not exist, and children
//! without the edge from their parent.

use crate::db::{now_ms, Db, DbError};
use serde::Serialize;
use sha2::{Digest, Sha256};
use sqlx::Row;

/// What one expansion added.
#[derive(Debug, Clone, Serialize)]
pub struct Expansion {
    pub node_id: String,
    pub depth: i64,
    pub children: Vec<String>,
    pub edges_added: usize,
    pub work_rounds: u64,
}

/// A node id: 1–200 characters of `[A-Za-z0-9._-]`.
pub fn check_node_id(id: &str) -> bool {
    !id.is_empty()
        && id.len() <= 200
        && id
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'))
}

/// The per-child work: `rounds` chained SHA-256 over the parent, the
/// child's index and a nonce. Its digest names the child.
pub fn child_digests(node_id: &str, children: u32, rounds: u32) -> Vec<String> {
    let nonce = uuid::Uuid::new_v4();
    (0..children)
        .map(|i| {
            let mut d: [u8; 32] = Sha256::new()
                .chain_update(node_id.as_bytes())
                .chain_update(i.to_be_bytes())
                .chain_update(nonce.as_bytes())
                .finalize()
                .into();
            for _ in 0..rounds {
                d = Sha256::digest(d).into();
            }
            hex::encode(d)
        })
        .collect()
}

/// Adds the children (named by `digests`) of `node_id`, creating the node
/// as a root if it does not exist yet. With `leave_dangling` (the
/// `graph-corruption` fault) the last child's edge is written but the child
/// itself is not.
pub async fn expand(
    db: &Db,
    node_id: &str,
    digests: &[String],
    rounds: u64,
    leave_dangling: bool,
) -> Result<Expansion, DbError> {
    let now = now_ms();
    let mut tx = db.pool.begin().await?;
    let root_digest = crate::work::sha256_hex(node_id.as_bytes());
    sqlx::query(
        "INSERT INTO universe_nodes (id, parent_id, depth, digest, created_at_ms) \
         VALUES ($1, NULL, 0, $2, $3) ON CONFLICT (id) DO NOTHING",
    )
    .bind(node_id)
    .bind(&root_digest)
    .bind(now)
    .execute(&mut *tx)
    .await?;
    let depth: i64 = sqlx::query("SELECT depth FROM universe_nodes WHERE id = $1")
        .bind(node_id)
        .fetch_one(&mut *tx)
        .await?
        .try_get("depth")?;
    let mut children = Vec::with_capacity(digests.len());
    for (i, digest) in digests.iter().enumerate() {
        let child = format!("n-{}", &digest[..16.min(digest.len())]);
        let skip_node = leave_dangling && i + 1 == digests.len();
        if !skip_node {
            sqlx::query(
                "INSERT INTO universe_nodes (id, parent_id, depth, digest, created_at_ms) \
                 VALUES ($1, $2, $3, $4, $5)",
            )
            .bind(&child)
            .bind(node_id)
            .bind(depth + 1)
            .bind(digest)
            .bind(now)
            .execute(&mut *tx)
            .await?;
        }
        sqlx::query(
            "INSERT INTO universe_edges (from_id, to_id, created_at_ms) VALUES ($1, $2, $3)",
        )
        .bind(node_id)
        .bind(&child)
        .bind(now)
        .execute(&mut *tx)
        .await?;
        children.push(child);
    }
    tx.commit().await?;
    Ok(Expansion {
        node_id: node_id.to_owned(),
        depth,
        edges_added: children.len(),
        children,
        work_rounds: rounds,
    })
}

/// An edge one of whose ends is missing.
#[derive(Debug, Clone, Serialize)]
pub struct DanglingEdge {
    pub from_id: String,
    pub to_id: String,
}

/// The graph's counts and integrity errors.
#[derive(Debug, Clone, Serialize)]
pub struct Integrity {
    pub status: &'static str,
    pub nodes: i64,
    pub edges: i64,
    pub dangling_edges: i64,
    pub orphan_nodes: i64,
    pub missing_edges: i64,
    /// dangling_edges + orphan_nodes + missing_edges.
    pub integrity_errors: i64,
    /// Up to ten dangling edges, for the report.
    pub dangling_examples: Vec<DanglingEdge>,
}

/// Counts nodes, edges and integrity errors.
pub async fn integrity(db: &Db) -> Result<Integrity, DbError> {
    let count = |sql: &'static str| async move {
        let row = sqlx::query(sql).fetch_one(&db.pool).await?;
        Ok::<i64, DbError>(row.try_get("n")?)
    };
    let nodes = count("SELECT COUNT(*) AS n FROM universe_nodes").await?;
    let edges = count("SELECT COUNT(*) AS n FROM universe_edges").await?;
    let dangling_edges = count(
        "SELECT COUNT(*) AS n FROM universe_edges e WHERE \
         NOT EXISTS (SELECT 1 FROM universe_nodes a WHERE a.id = e.from_id) OR \
         NOT EXISTS (SELECT 1 FROM universe_nodes b WHERE b.id = e.to_id)",
    )
    .await?;
    let orphan_nodes = count(
        "SELECT COUNT(*) AS n FROM universe_nodes c WHERE c.parent_id IS NOT NULL AND \
         NOT EXISTS (SELECT 1 FROM universe_nodes p WHERE p.id = c.parent_id)",
    )
    .await?;
    let missing_edges = count(
        "SELECT COUNT(*) AS n FROM universe_nodes c WHERE c.parent_id IS NOT NULL AND \
         NOT EXISTS (SELECT 1 FROM universe_edges e WHERE e.from_id = c.parent_id AND e.to_id = c.id)",
    )
    .await?;
    let rows = sqlx::query(
        "SELECT e.from_id, e.to_id FROM universe_edges e WHERE \
         NOT EXISTS (SELECT 1 FROM universe_nodes a WHERE a.id = e.from_id) OR \
         NOT EXISTS (SELECT 1 FROM universe_nodes b WHERE b.id = e.to_id) ORDER BY e.id LIMIT 10",
    )
    .fetch_all(&db.pool)
    .await?;
    let dangling_examples = rows
        .iter()
        .map(|r| {
            Ok(DanglingEdge {
                from_id: r.try_get("from_id")?,
                to_id: r.try_get("to_id")?,
            })
        })
        .collect::<Result<Vec<_>, DbError>>()?;
    let integrity_errors = dangling_edges + orphan_nodes + missing_edges;
    Ok(Integrity {
        status: if integrity_errors == 0 {
            "ok"
        } else {
            "corrupt"
        },
        nodes,
        edges,
        dangling_edges,
        orphan_nodes,
        missing_edges,
        integrity_errors,
        dangling_examples,
    })
}
