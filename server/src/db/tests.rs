//! Unit tests of the database: runs and their events on SQLite and
//! PostgreSQL, reopening, and URLs in messages.

use super::{redact, sqlite_url, testing, Backend, Db};
use engine::run::{RunStatus, RunSummary, StoredEvent, Verdict};
use engine::store::{RunFilter, RunStore, StoreError};

async fn exercise(db: &Db) {
    assert!(db
        .list_runs(&RunFilter::default())
        .await
        .unwrap()
        .is_empty());
    let a = testing::new_run(db, "step3", "staging").await;
    assert_eq!(a.status, RunStatus::Queued);
    assert_eq!(a.started_at_ms, None);
    let b = testing::new_run(db, "smoke", "staging").await;

    let running = db
        .set_status(&a.id, RunStatus::Running, None)
        .await
        .unwrap();
    assert!(running.started_at_ms.is_some());
    let done = db
        .set_status(&a.id, RunStatus::Finished, Some(Verdict::Go))
        .await
        .unwrap();
    assert_eq!(done.verdict, Some(Verdict::Go));
    assert_eq!(done.started_at_ms, running.started_at_ms);
    assert!(done.duration_ms().unwrap() >= 0);

    let counts = db.runs_by_status().await.unwrap();
    assert_eq!(
        counts,
        vec![
            (RunStatus::Queued, 1),
            (RunStatus::Running, 0),
            (RunStatus::Finished, 1),
            (RunStatus::Aborted, 0),
            (RunStatus::Interrupted, 0),
        ]
    );

    let all = db.list_runs(&RunFilter::default()).await.unwrap();
    assert_eq!(all.len(), 2);
    let go = db
        .list_runs(&RunFilter {
            verdict: Some(Verdict::Go),
            ..RunFilter::default()
        })
        .await
        .unwrap();
    assert_eq!(go.iter().map(|r| &r.id).collect::<Vec<_>>(), vec![&a.id]);
    let smoke = db
        .list_runs(&RunFilter {
            plan: Some("smoke".into()),
            environment: Some("staging".into()),
            verdict: None,
        })
        .await
        .unwrap();
    assert_eq!(smoke.iter().map(|r| &r.id).collect::<Vec<_>>(), vec![&b.id]);

    assert!(matches!(
        db.get_run("no-such-run").await,
        Err(StoreError::NotFound(_))
    ));
    assert!(matches!(
        db.set_status("no-such-run", RunStatus::Aborted, None).await,
        Err(StoreError::NotFound(_))
    ));
    db.ping().await.unwrap();

    // A headless run is recorded with its own id and times, once.
    let headless = RunSummary {
        id: "cli-run-1".into(),
        plan: "step3".into(),
        environment: "ci".into(),
        status: RunStatus::Finished,
        verdict: Some(Verdict::NoGo),
        created_at_ms: 10,
        started_at_ms: Some(10),
        finished_at_ms: Some(25),
        error: None,
    };
    db.import_run(&headless).await.unwrap();
    db.import_run(&headless).await.unwrap();
    assert_eq!(db.get_run("cli-run-1").await.unwrap(), headless);

    // The evidence a run is bound to.
    assert_eq!(db.evidence_of("cli-run-1").await.unwrap(), None);
    db.record_evidence("cli-run-1", 2, "ab12").await.unwrap();
    assert_eq!(
        db.evidence_of("cli-run-1").await.unwrap(),
        Some((2, "ab12".to_owned()))
    );
    assert!(db.record_evidence("nope", 1, "x").await.is_err());

    // Events: in order, resumable from any sequence number, never twice.
    let event = |seq: i64| StoredEvent {
        seq,
        at_ms: 1_000 + seq,
        kind: "log".into(),
        data: format!("{{\"n\":{seq}}}"),
    };
    db.append_events(&b.id, &[event(1), event(2)])
        .await
        .unwrap();
    db.append_events(&b.id, &[event(3)]).await.unwrap();
    // A retried batch (its commit's answer lost) stores nothing twice;
    // another event under a stored number is refused.
    db.append_events(&b.id, &[event(2), event(3)])
        .await
        .unwrap();
    let mut other = event(3);
    other.data = "{\"n\":99}".into();
    assert!(matches!(
        db.append_events(&b.id, &[other]).await,
        Err(StoreError::Conflict(_))
    ));
    let all = db.events_after(&b.id, 0, 100).await.unwrap();
    assert_eq!(all.iter().map(|e| e.seq).collect::<Vec<_>>(), vec![1, 2, 3]);
    assert_eq!(all[2], event(3));
    let rest = db.events_after(&b.id, 1, 1).await.unwrap();
    assert_eq!(rest, vec![event(2)]);

    // A restart finds b still queued and a finished: only b is interrupted.
    let interrupted = db.interrupt_unfinished("server restarted").await.unwrap();
    assert_eq!(interrupted.len(), 1);
    assert_eq!(interrupted[0].id, b.id);
    assert_eq!(interrupted[0].status, RunStatus::Interrupted);
    assert_eq!(interrupted[0].error.as_deref(), Some("server restarted"));
    assert!(interrupted[0].finished_at_ms.is_some());
    assert_eq!(db.get_run(&a.id).await.unwrap().status, RunStatus::Finished);
    assert!(db.interrupt_unfinished("again").await.unwrap().is_empty());
}

#[tokio::test]
async fn runs_are_stored_in_sqlite() {
    let (db, _dir) = testing::sqlite().await;
    assert_eq!(db.backend(), Backend::Sqlite);
    exercise(&db).await;
}

#[tokio::test]
async fn runs_are_stored_in_postgres() {
    if let Some(db) = testing::postgres().await {
        assert_eq!(db.backend(), Backend::Postgres);
        exercise(&db).await;
    }
}

#[tokio::test]
async fn reopening_keeps_what_is_stored() {
    let (db, dir) = testing::sqlite().await;
    let run = testing::new_run(&db, "p", "e").await;
    drop(db);
    let again = Db::open(&sqlite_url(dir.path())).await.unwrap();
    assert_eq!(again.get_run(&run.id).await.unwrap(), run);
}

#[test]
fn passwords_never_reach_messages() {
    assert_eq!(
        redact("postgres://app:s3cret@db.internal:5432/shakedown"),
        "postgres://app:***@db.internal:5432/shakedown"
    );
    assert_eq!(
        redact("sqlite:///tmp/x.db?mode=rwc"),
        "sqlite:///tmp/x.db?mode=rwc"
    );
}

#[tokio::test]
async fn unsupported_and_unreachable_urls_are_named() {
    let err = Db::open("mysql://root:pw@127.0.0.1/x").await.unwrap_err();
    assert_eq!(
        err.to_string(),
        "database URL mysql://root:***@127.0.0.1/x is not sqlite: or postgres://"
    );
    let err = Db::open("postgres://app:pw@127.0.0.1:1/x")
        .await
        .unwrap_err()
        .to_string();
    assert!(
        err.starts_with("cannot reach database postgres://app:***@127.0.0.1:1/x: "),
        "{err}"
    );
    assert!(!err.contains("pw@"));
}
