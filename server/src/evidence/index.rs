//! The store's index of runs by plan and environment, newest first: one
//! small object per run under `index/by-start/<plan+environment>/`, named
//! so that keys sort from the newest start to the oldest. The name's rank
//! (`i64::MAX - started_at_ms`, 19 digits) is cut into folders (9 digits,
//! then five of 2), so no folder holds more than 100 entries below the
//! first level and a local folder is read a few small directories deep
//! rather than whole. Finding the run before another reads a page of that
//! index and the candidates' packs, never the rest of the store. Stores
//! written before the index existed are indexed once, on the first look-up
//! (`index/built-v2` marks it done).

use super::pack;
use super::store::ObjectStore;
use super::EvidenceError;
use engine::results::RunResults;
use serde::{Deserialize, Serialize};

/// Where the index lives.
const ROOT: &str = "index/by-start/";
/// Present once every pack written before the index existed is indexed.
const BUILT: &str = "index/built-v2";
/// How many index keys one look-up reads at a time.
const PAGE: usize = 16;

/// What an index entry holds (its key already says when and which run).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Entry {
    pub run_id: String,
    pub plan: String,
    pub environment: String,
    pub started_at_ms: i64,
}

/// The folder of one plan and environment: a digest, since names may hold
/// any character.
fn folder(plan: &str, environment: &str) -> String {
    let digest = pack::sha256_hex(format!("{plan}\n{environment}").as_bytes());
    format!("{ROOT}{}/", &digest[..32])
}

/// Later starts sort first: the key holds `i64::MAX - started_at_ms`, as
/// 19 digits cut into folders (`DDDDDDDDD/DD/DD/DD/DD/DD`); every cut is
/// at a fixed place, so keys still sort as the numbers do.
fn rank(started_at_ms: i64) -> String {
    let digits = format!("{:019}", i64::MAX.saturating_sub(started_at_ms.max(0)));
    let mut out = String::with_capacity(24);
    for (i, c) in digits.chars().enumerate() {
        if i >= 9 && (i - 9) % 2 == 0 {
            out.push('/');
        }
        out.push(c);
    }
    out
}

fn key(plan: &str, environment: &str, started_at_ms: i64, run_id: &str) -> String {
    format!(
        "{}{}-{run_id}",
        folder(plan, environment),
        rank(started_at_ms)
    )
}

/// Adds (or rewrites, identically) a run's entry.
pub async fn record(store: &dyn ObjectStore, results: &RunResults) -> Result<(), EvidenceError> {
    let entry = Entry {
        run_id: results.run_id.clone(),
        plan: results.plan.name.clone(),
        environment: results.environment.name.clone(),
        started_at_ms: results.started_at_ms,
    };
    let bytes = serde_json::to_vec(&entry).map_err(|e| EvidenceError::Store {
        store: store.describe(),
        reason: format!("cannot serialise an index entry: {e}"),
    })?;
    store
        .put(
            &key(
                &entry.plan,
                &entry.environment,
                entry.started_at_ms,
                &entry.run_id,
            ),
            bytes,
        )
        .await
}

/// Indexes every pack written before the index existed, once per store.
/// Only this first look-up reads every run's newest pack.
async fn build_once(store: &dyn ObjectStore) -> Result<(), EvidenceError> {
    if store.get(BUILT).await?.is_some() {
        return Ok(());
    }
    let keys = store.list("runs/").await?;
    let mut runs: Vec<&str> = keys
        .iter()
        .filter(|k| k.ends_with(pack::MANIFEST))
        .filter_map(|k| k.strip_prefix("runs/")?.split('/').next())
        .collect();
    runs.dedup();
    for run in runs {
        let Ok(p) = pack::read_pack(store, run, None).await else {
            continue;
        };
        if let Some(results) = p
            .file("results.json")
            .and_then(|b| crate::report::parse_results(b).ok())
        {
            record(store, &results).await?;
        }
    }
    store.put(BUILT, b"1".to_vec()).await
}

/// The newest run of the same plan and environment that started before
/// `current` and whose newest pack is intact, with its results. Reads the
/// index from `current`'s start on and the candidates' packs in order,
/// usually one.
pub async fn previous(
    store: &dyn ObjectStore,
    current: &RunResults,
) -> Result<Option<RunResults>, EvidenceError> {
    build_once(store).await?;
    let plan = &current.plan.name;
    let environment = &current.environment.name;
    let dir = folder(plan, environment);
    let own_rank = rank(current.started_at_ms);
    // Keys of runs that started in the same millisecond sort right after
    // this one; they are skipped below by their rank.
    let mut after = format!("{dir}{own_rank}");
    loop {
        let page = store.list_after(&dir, &after, PAGE).await?;
        let Some(last) = page.last() else {
            return Ok(None);
        };
        after = last.clone();
        for key in &page {
            let Some((rank_part, run_id)) =
                key.strip_prefix(&dir).and_then(|name| name.split_once('-'))
            else {
                continue;
            };
            if rank_part <= own_rank.as_str() || run_id == current.run_id {
                continue;
            }
            let Ok(p) = pack::read_pack(store, run_id, None).await else {
                continue;
            };
            if !p.intact() {
                continue;
            }
            let Some(results) = p
                .file("results.json")
                .and_then(|b| crate::report::parse_results(b).ok())
            else {
                continue;
            };
            if &results.plan.name == plan
                && &results.environment.name == environment
                && results.started_at_ms < current.started_at_ms
            {
                return Ok(Some(results));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::evidence::record::{previous_run, store_run};
    use crate::evidence::store::{LocalStore, S3Settings, S3Store};
    use crate::evidence::testing::{results, Access, Recording};
    use std::sync::Arc;

    #[test]
    fn later_starts_sort_first() {
        assert!(rank(2_000) < rank(1_000));
        assert!(rank(1_700_000_000_000) < rank(0));
        assert_eq!(rank(0), "922337203/68/54/77/58/07");
        assert_eq!(rank(1_700_000_000_000).len(), 24);
        let k = key("p", "e", 5, "r1");
        assert!(k.starts_with(ROOT) && k.ends_with("-r1"), "{k}");
        assert_ne!(folder("p", "e"), folder("p\ne", ""));
    }

    /// Every key a look-up read or listed lies in the index folder of its
    /// plan and environment or in one of the `allowed` runs' folders.
    fn only_touched(seen: &[Access], folder: &str, allowed: &[&str]) {
        assert!(!seen.is_empty());
        for access in seen {
            let key = match access {
                Access::Get(k) | Access::List(k) => k,
                Access::Put(k) => panic!("a look-up wrote {k}"),
            };
            let ok = key == BUILT
                || key.starts_with(folder)
                || allowed
                    .iter()
                    .any(|run| key.starts_with(&format!("runs/{run}/")));
            assert!(ok, "the look-up touched {key}: {seen:?}");
        }
    }

    /// Stores runs of two plans and two environments, breaks an unrelated
    /// pack, and finds a run's previous one reading only that run's pack
    /// and its own index folder; a broken newest candidate is passed over
    /// for the one before, as a full scan would.
    async fn finds_the_previous_run_reading_its_pack_only(inner: Arc<dyn ObjectStore>) {
        let tag = uuid::Uuid::new_v4().simple().to_string();
        let run = |n: &str| format!("{n}-{tag}");
        let store = Recording::new(inner.clone());
        let t0 = 1_700_000_000_000_i64;
        for (id, plan, env, at) in [
            ("a1", "checkout", "staging", t0),
            ("a2", "checkout", "staging", t0 + 2_000),
            ("b1", "checkout", "prod", t0 + 2_500),
            ("b2", "search", "staging", t0 + 2_600),
            ("b3", "search", "staging", t0 + 2_700),
        ] {
            store_run(&store, &results(&run(id), plan, env, at), None)
                .await
                .unwrap();
        }
        // Break an unrelated pack: were it read, it would not verify.
        inner
            .put(
                &format!("runs/{}/v1/results.json", run("b3")),
                b"{}".to_vec(),
            )
            .await
            .unwrap();
        store.take();

        let current = results(&run("c"), "checkout", "staging", t0 + 3_000);
        let found = previous_run(&store, &current).await.unwrap();
        assert_eq!(found.run_id, run("a2"));
        let dir = folder("checkout", "staging");
        only_touched(&store.take(), &dir, &[&run("a2")]);

        // The newest candidate broken: the one before it, reading both.
        inner
            .put(&format!("runs/{}/v1/report.md", run("a2")), b"x".to_vec())
            .await
            .unwrap();
        let found = previous_run(&store, &current).await.unwrap();
        assert_eq!(found.run_id, run("a1"));
        only_touched(&store.take(), &dir, &[&run("a1"), &run("a2")]);

        // Nothing before the first run; the run itself is never its own
        // previous one.
        let first = results(&run("a1"), "checkout", "staging", t0);
        assert!(previous_run(&store, &first).await.is_none());
        let other = results(&run("b2"), "search", "staging", t0 + 2_600);
        assert!(previous_run(&store, &other).await.is_none());
    }

    #[tokio::test]
    async fn a_local_store_finds_the_previous_run_reading_its_pack_only() {
        let dir = tempfile::tempdir().unwrap();
        finds_the_previous_run_reading_its_pack_only(Arc::new(LocalStore::new(dir.path()))).await;
    }

    #[tokio::test]
    async fn an_s3_store_finds_the_previous_run_reading_its_pack_only() {
        let Ok(endpoint) = std::env::var("SHAKEDOWN_TEST_S3_ENDPOINT") else {
            assert!(
                std::env::var("SHAKEDOWN_TEST_REQUIRE_S3").as_deref() != Ok("1"),
                "SHAKEDOWN_TEST_REQUIRE_S3=1 but SHAKEDOWN_TEST_S3_ENDPOINT is not set"
            );
            eprintln!("SHAKEDOWN_TEST_S3_ENDPOINT not set: S3 part skipped");
            return;
        };
        let store = S3Store::new(S3Settings {
            endpoint,
            region: "us-east-1".into(),
            bucket: "shakedown-evidence-test".into(),
            prefix: format!("t-{}/", uuid::Uuid::new_v4().simple()),
            access_key_env: "SHAKEDOWN_TEST_S3_KEY".into(),
            secret_key_env: "SHAKEDOWN_TEST_S3_SECRET".into(),
        })
        .unwrap();
        store.ensure_bucket().await.unwrap();
        finds_the_previous_run_reading_its_pack_only(Arc::new(store)).await;
    }

    /// A store written before the index existed is indexed on the first
    /// look-up, which then finds the same run a full scan did.
    #[tokio::test]
    async fn packs_written_before_the_index_are_indexed_once() {
        let dir = tempfile::tempdir().unwrap();
        let store = Recording::new(Arc::new(LocalStore::new(dir.path())));
        let t0 = 1_700_000_000_000_i64;
        for (id, at) in [("old1", t0), ("old2", t0 + 1_000)] {
            let files = crate::report::pack_files(&results(id, "p", "e", at), None).unwrap();
            pack::write_pack(&store, id, files, 0).await.unwrap();
        }
        assert!(store.get(BUILT).await.unwrap().is_none());
        let current = results("new", "p", "e", t0 + 5_000);
        store.take();
        let found = previous_run(&store, &current).await.unwrap();
        assert_eq!(found.run_id, "old2");
        let seen = store.take();
        assert!(seen.contains(&Access::Put(BUILT.to_owned())), "{seen:?}");
        assert!(seen.contains(&Access::List("runs/".to_owned())), "{seen:?}");
        // Later look-ups read the index only.
        let found = previous_run(&store, &current).await.unwrap();
        assert_eq!(found.run_id, "old2");
        only_touched(&store.take(), &folder("p", "e"), &["old2"]);
    }
}
