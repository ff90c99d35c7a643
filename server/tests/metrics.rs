//! `GET /metrics` on the whole router, in process: refused without a
//! viewer's credentials; with a viewer's API token it reports runs by
//! status from the database, a running run's latest second of load and its
//! totals as its event writer passes its events on (gone once the run's
//! stream ends), the events held while the database refuses writes, and
//! the load agents whose heartbeat is recent.

use async_trait::async_trait;
use axum::body::Body;
use axum::http::{header, Request, StatusCode};
use axum::Router;
use engine::access::Role;
use engine::access_store::AccessStore;
use engine::events::{ProgressEvent, Sink};
use engine::run::{now_ms, RunStatus, RunSummary, StoredEvent, Verdict};
use engine::store::{NewRun, RunFilter, RunStore, StoreError};
use http_body_util::BodyExt;
use server::auth::{token, AuthArgs};
use server::db::{testing, Db};
use server::runs::event_writer::{self, WriterConfig};
use server::web::{router, AppState};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;
use tower::ServiceExt;

/// The database, except that event writes fail while `down`.
struct Outage {
    db: Db,
    down: AtomicBool,
}

#[async_trait]
impl RunStore for Outage {
    async fn create_run(&self, run: NewRun) -> Result<RunSummary, StoreError> {
        self.db.create_run(run).await
    }
    async fn set_status(
        &self,
        id: &str,
        status: RunStatus,
        verdict: Option<Verdict>,
    ) -> Result<RunSummary, StoreError> {
        self.db.set_status(id, status, verdict).await
    }
    async fn import_run(&self, run: &RunSummary) -> Result<(), StoreError> {
        self.db.import_run(run).await
    }
    async fn get_run(&self, id: &str) -> Result<RunSummary, StoreError> {
        self.db.get_run(id).await
    }
    async fn list_runs(&self, filter: &RunFilter) -> Result<Vec<RunSummary>, StoreError> {
        self.db.list_runs(filter).await
    }
    async fn record_evidence(
        &self,
        id: &str,
        version: u32,
        manifest_sha256: &str,
    ) -> Result<(), StoreError> {
        self.db.record_evidence(id, version, manifest_sha256).await
    }
    async fn evidence_of(&self, id: &str) -> Result<Option<(u32, String)>, StoreError> {
        self.db.evidence_of(id).await
    }
    async fn record_error(&self, id: &str, error: &str) -> Result<(), StoreError> {
        self.db.record_error(id, error).await
    }
    async fn append_events(&self, run_id: &str, events: &[StoredEvent]) -> Result<(), StoreError> {
        if self.down.load(Ordering::SeqCst) {
            return Err(StoreError::Database("connection refused".into()));
        }
        self.db.append_events(run_id, events).await
    }
    async fn events_after(
        &self,
        run_id: &str,
        after: i64,
        limit: i64,
    ) -> Result<Vec<StoredEvent>, StoreError> {
        self.db.events_after(run_id, after, limit).await
    }
    async fn interrupt_unfinished(&self, reason: &str) -> Result<Vec<RunSummary>, StoreError> {
        self.db.interrupt_unfinished(reason).await
    }
    async fn pinned_baseline(
        &self,
        plan: &str,
        environment: &str,
    ) -> Result<Option<(String, String)>, StoreError> {
        self.db.pinned_baseline(plan, environment).await
    }
}

async fn scrape(app: &Router, bearer: Option<&str>) -> (StatusCode, String, String) {
    let mut req = Request::get("/metrics").header(header::ACCEPT, "text/plain");
    if let Some(token) = bearer {
        req = req.header(header::AUTHORIZATION, format!("Bearer {token}"));
    }
    let res = app
        .clone()
        .oneshot(req.body(Body::empty()).unwrap())
        .await
        .unwrap();
    let status = res.status();
    let content_type = res
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    let body = res.into_body().collect().await.unwrap().to_bytes();
    (
        status,
        content_type,
        String::from_utf8_lossy(&body).into_owned(),
    )
}

fn has_line(text: &str, line: &str) -> bool {
    text.lines().any(|l| l == line)
}

/// Scrapes until `check` holds (the writer works on its own task); panics
/// after 10 s.
async fn scrape_until(app: &Router, token: &str, what: &str, check: impl Fn(&str) -> bool) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        let (_, _, body) = scrape(app, Some(token)).await;
        if check(&body) {
            return;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "{what} never showed:\n{body}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

fn window(count: u64, errors: u64) -> engine::metrics::Window {
    serde_json::from_value(serde_json::json!({
        "second": 0, "count": count, "errors": errors,
        "p50_ms": 1.0, "p95_ms": 2.0, "p99_ms": 3.0, "max_ms": 4.0
    }))
    .unwrap()
}

#[tokio::test]
async fn viewers_scrape_runs_live_load_and_the_event_backlog() {
    let (db, dir) = testing::sqlite().await;
    let evidence = dir.path().join("evidence");
    std::fs::create_dir_all(&evidence).unwrap();
    let state = AppState::new(
        db.clone(),
        Arc::new(server::evidence::store::LocalStore::new(&evidence)),
        dir.path().join("site"),
        dir.path().join("plans"),
        AuthArgs::default(),
    );
    let app = router(state);
    let hash = server::auth::password::hash("correct horse battery staple").unwrap();
    db.add_user("viewer", Role::Viewer, &hash, now_ms())
        .await
        .unwrap();
    let secret = token::generate();
    db.add_api_token(&token::digest(&secret), "viewer", "prometheus", 0, i64::MAX)
        .await
        .unwrap();

    // Nobody without credentials, nor with a bad token.
    let (status, _, body) = scrape(&app, None).await;
    assert!(
        status == StatusCode::UNAUTHORIZED || status.is_redirection(),
        "{status} {body}"
    );
    assert!(!body.contains("shakedown_runs"), "{body}");
    let (status, _, _) = scrape(&app, Some("not-a-token")).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);

    // Runs by status, from the database.
    let queued = testing::new_run(&db, "secret-plan-name", "staging").await;
    let running = testing::new_run(&db, "secret-plan-name", "staging").await;
    db.set_status(&running.id, RunStatus::Running, None)
        .await
        .unwrap();
    let (status, content_type, body) = scrape(&app, Some(&secret)).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert!(content_type.starts_with("text/plain; version=0.0.4"));
    for line in [
        "shakedown_runs{status=\"queued\"} 1",
        "shakedown_runs{status=\"running\"} 1",
        "shakedown_runs{status=\"finished\"} 0",
        "shakedown_event_writer_backlog 0",
        "shakedown_agents_connected 0",
    ] {
        assert!(has_line(&body, line), "{line}\n{body}");
    }
    // Load agents connected: one beating (stamped a minute ahead, so a
    // slow machine between the scrapes cannot age it past the lease), and
    // one last heard from a minute ago (past a shard's lease), counted
    // once it beats again.
    let now = now_ms();
    db.register_agent("agent-0", "viewer", now + 60_000)
        .await
        .unwrap();
    let stale = db
        .register_agent("agent-1", "viewer", now - 60_000)
        .await
        .unwrap();
    let (_, _, body) = scrape(&app, Some(&secret)).await;
    assert!(has_line(&body, "shakedown_agents_connected 1"), "{body}");
    assert!(db
        .agent_heartbeat(stale, None, now_ms(), 5_000)
        .await
        .unwrap());
    let (_, _, body) = scrape(&app, Some(&secret)).await;
    assert!(has_line(&body, "shakedown_agents_connected 2"), "{body}");
    // Neither plan names nor environments are in it.
    assert!(!body.contains("secret-plan-name") && !body.contains("staging"));
    assert!(!body.contains(&queued.id));

    // A running run's load, through its event writer, while the database
    // refuses its events: they are held, and counted as the backlog.
    let store = Arc::new(Outage {
        db: db.clone(),
        down: AtomicBool::new(true),
    });
    let (live, _) = tokio::sync::broadcast::channel(64);
    let (sink, writer) = event_writer::start(
        store.clone(),
        &running.id,
        live,
        WriterConfig::with_bound(1_000),
        |_| {},
        tokio_util::sync::CancellationToken::new(),
    );
    // Each window event carries the test's totals so far.
    for (count, errors, done, failed) in [(100, 1, 100, 1), (120, 3, 220, 4)] {
        sink.emit(&ProgressEvent::Window {
            test_id: "L1".into(),
            window: window(count, errors),
            done,
            failed,
        });
    }
    let id = running.id.clone();
    scrape_until(&app, &secret, "the held events", |body| {
        has_line(body, "shakedown_event_writer_backlog 2")
    })
    .await;
    let (_, _, body) = scrape(&app, Some(&secret)).await;
    for line in [
        format!("shakedown_run_requests_per_second{{run_id=\"{id}\",load=\"L1\"}} 120"),
        format!("shakedown_run_errors_per_second{{run_id=\"{id}\",load=\"L1\"}} 3"),
        format!("shakedown_run_requests{{run_id=\"{id}\",load=\"L1\"}} 220"),
        format!("shakedown_run_errors{{run_id=\"{id}\",load=\"L1\"}} 4"),
    ] {
        assert!(has_line(&body, &line), "{line}\n{body}");
    }

    // The database is back: the backlog drains; the stream's end removes
    // the run's load.
    store.down.store(false, Ordering::SeqCst);
    sink.end();
    drop(sink);
    writer.finish().await;
    let (_, _, body) = scrape(&app, Some(&secret)).await;
    assert!(
        has_line(&body, "shakedown_event_writer_backlog 0"),
        "{body}"
    );
    assert!(!body.contains(&id), "{body}");
    assert_eq!(
        db.events_after(&id, 0, 100).await.unwrap().len(),
        3,
        "both windows and the end were stored"
    );
}
