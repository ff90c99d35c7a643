//! The history benchmark `bench/history` runs (ignored by default: its
//! figures depend on the machine and it asserts nothing about them). For
//! 100 and then 10,000 stored runs of one plan and environment, generated
//! straight into a SQLite database and a local evidence folder (no load is
//! run), it prints the median time of the newest run's report page (the
//! whole router, in process: the page, its run and its verified pack) and
//! of the previous-run look-up a finished run makes, and the ratio of the
//! two sizes, which should be near 1 when costs follow the work rather than
//! the history.

use async_trait::async_trait;
use axum::body::Body;
use axum::http::{Request, StatusCode};
use engine::run::{RunStatus, RunSummary, Verdict};
use engine::store::RunStore;
use http_body_util::BodyExt;
use server::auth::AuthArgs;
use server::evidence::store::{LocalStore, ObjectStore};
use server::evidence::{index, pack, testing, EvidenceError};
use server::web::{router, AppState};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tower::ServiceExt;

/// Writes the local store's layout without syncing each file (the real
/// store syncs: generating 10,000 packs through it takes minutes). Reads
/// go through a real [`LocalStore`] on the same folder.
struct Unsynced {
    root: PathBuf,
    reader: LocalStore,
}

#[async_trait]
impl ObjectStore for Unsynced {
    async fn put(&self, key: &str, bytes: Vec<u8>) -> Result<(), EvidenceError> {
        let path = self.root.join(key);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).map_err(|e| io(&path, e))?;
        }
        std::fs::write(&path, bytes).map_err(|e| io(&path, e))
    }
    async fn put_new(&self, key: &str, bytes: Vec<u8>) -> Result<bool, EvidenceError> {
        if self.reader.get(key).await?.is_some() {
            return Ok(false);
        }
        self.put(key, bytes).await.map(|()| true)
    }
    async fn get(&self, key: &str) -> Result<Option<Vec<u8>>, EvidenceError> {
        self.reader.get(key).await
    }
    async fn list(&self, prefix: &str) -> Result<Vec<String>, EvidenceError> {
        self.reader.list(prefix).await
    }
    fn describe(&self) -> String {
        self.reader.describe()
    }
    async fn probe(&self) -> Result<(), EvidenceError> {
        self.reader.probe().await
    }
}

fn io(path: &std::path::Path, e: std::io::Error) -> EvidenceError {
    EvidenceError::Store {
        store: "bench".into(),
        reason: format!("{}: {e}", path.display()),
    }
}

const PLAN: &str = "history-bench";
const ENV: &str = "staging";
const T0: i64 = 1_700_000_000_000;
/// Samples per figure.
const SAMPLES: usize = 25;

/// The median of `SAMPLES` timings of `f`.
async fn median<F, Fut>(mut f: F) -> Duration
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = ()>,
{
    let mut times = Vec::with_capacity(SAMPLES);
    for _ in 0..SAMPLES {
        let start = Instant::now();
        f().await;
        times.push(start.elapsed());
    }
    times.sort();
    times[SAMPLES / 2]
}

struct Figures {
    report_page: Duration,
    previous_run: Duration,
    fill: Duration,
}

/// Fills a fresh database and store with `runs` finished runs and times
/// the newest one's report page and previous-run look-up.
async fn measure(runs: usize) -> Figures {
    let (db, dir) = server::db::testing::sqlite().await;
    let evidence = dir.path().join("evidence");
    std::fs::create_dir_all(&evidence).unwrap();
    let writer = Unsynced {
        root: evidence.clone(),
        reader: LocalStore::new(&evidence),
    };
    let fill = Instant::now();
    let mut newest = None;
    for i in 0..runs {
        let id = format!("bench-{i:06}");
        let started = T0 + i as i64 * 60_000;
        let results = testing::results(&id, PLAN, ENV, started);
        let files = server::report::pack_files(&results, None).unwrap();
        let written = pack::write_pack(&writer, &id, files, started)
            .await
            .unwrap();
        index::record(&writer, &results).await.unwrap();
        db.import_run(&RunSummary {
            id: id.clone(),
            plan: PLAN.into(),
            environment: ENV.into(),
            status: RunStatus::Finished,
            verdict: Some(Verdict::Go),
            created_at_ms: started,
            started_at_ms: Some(started),
            finished_at_ms: Some(started + 10_000),
            error: None,
        })
        .await
        .unwrap();
        db.record_evidence(&id, written.version, &written.manifest_digest)
            .await
            .unwrap();
        newest = Some(results);
    }
    // The index is complete: no first look-up rebuilds it.
    writer.put("index/built-v1", b"1".to_vec()).await.unwrap();
    let fill = fill.elapsed();
    let newest = newest.unwrap();

    let store: Arc<dyn ObjectStore> = Arc::new(LocalStore::new(&evidence));
    let state = AppState::new(
        db.clone(),
        store.clone(),
        dir.path().join("site"),
        dir.path().join("plans"),
        AuthArgs {
            local_mode: true,
            ..AuthArgs::default()
        },
    );
    let app = router(state);
    let path = format!("/runs/{}/report", newest.run_id);
    let report_page = median(|| {
        let app = app.clone();
        let path = path.clone();
        async move {
            let res = app
                .oneshot(Request::get(&path).body(Body::empty()).unwrap())
                .await
                .unwrap();
            assert_eq!(res.status(), StatusCode::OK);
            let body = res.into_body().collect().await.unwrap().to_bytes();
            assert!(!body.is_empty());
        }
    })
    .await;
    // The look-up the newest run's evidence made when it was stored.
    let previous_run = median(|| {
        let store = store.clone();
        let newest = &newest;
        async move {
            let found = server::evidence::record::previous_run(store.as_ref(), newest)
                .await
                .unwrap();
            assert_eq!(found.plan.name, PLAN);
        }
    })
    .await;
    Figures {
        report_page,
        previous_run,
        fill,
    }
}

fn ms(d: Duration) -> String {
    format!("{:.3} ms", d.as_secs_f64() * 1e3)
}

#[tokio::test]
#[ignore = "a benchmark: run by bench/history"]
async fn history_costs_follow_the_work() {
    let sizes: Vec<usize> = std::env::var("SHAKEDOWN_BENCH_HISTORY_RUNS")
        .ok()
        .map(|v| v.split(',').filter_map(|n| n.trim().parse().ok()).collect())
        .filter(|v: &Vec<usize>| v.len() == 2)
        .unwrap_or_else(|| vec![100, 10_000]);
    let small = measure(sizes[0]).await;
    let large = measure(sizes[1]).await;
    println!();
    println!("history benchmark: medians of {SAMPLES} samples, one plan and environment");
    println!(
        "{:<28} {:>14} {:>14} {:>8}",
        "",
        format!("{} runs", sizes[0]),
        format!("{} runs", sizes[1]),
        "ratio"
    );
    for (what, a, b) in [
        (
            "report page (GET, in process)",
            small.report_page,
            large.report_page,
        ),
        (
            "previous-run look-up",
            small.previous_run,
            large.previous_run,
        ),
    ] {
        println!(
            "{what:<28} {:>14} {:>14} {:>8.2}",
            ms(a),
            ms(b),
            b.as_secs_f64() / a.as_secs_f64()
        );
    }
    println!(
        "(generating the stores took {:.1} s and {:.1} s)",
        small.fill.as_secs_f64(),
        large.fill.as_secs_f64()
    );
}
