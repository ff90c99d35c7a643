//! Leases and the sealing of runs whose owner stopped heartbeating, on
//! SQLite and (when the test command gives a cluster) PostgreSQL.

use super::*;
use crate::db::testing;
use engine::run::{RunStatus, StoredEvent};
use engine::run_event::RunEvent;

const TTL: i64 = 15_000;

async fn leases(db: &Db) {
    let t0 = now_ms();
    let run = testing::new_run(db, "p", "e").await;
    db.claim_lease(&run.id, "a", t0, TTL).await.unwrap();
    // Alive: no one takes it, whoever looks.
    assert!(db
        .lapsed_runs(t0 + TTL, t0 - 1, None)
        .await
        .unwrap()
        .is_empty());
    assert_eq!(
        db.interrupt_lapsed(&run.id, "x", t0 + TTL, None)
            .await
            .unwrap(),
        None
    );
    // The owner renews; another replica cannot.
    assert!(db
        .renew_lease(&run.id, "a", t0 + 10_000, TTL)
        .await
        .unwrap());
    assert!(!db
        .renew_lease(&run.id, "b", t0 + 10_000, TTL)
        .await
        .unwrap());
    assert!(db
        .lapsed_runs(t0 + 20_000, t0 - 1, None)
        .await
        .unwrap()
        .is_empty());
    // No heartbeat for longer than the lease: lapsed, owner and last beat named.
    let lapsed = db.lapsed_runs(t0 + 25_001, t0 - 1, None).await.unwrap();
    assert_eq!(
        lapsed,
        vec![LapsedRun {
            run_id: run.id.clone(),
            owner: Some("a".into()),
            heartbeat_at_ms: Some(t0 + 10_000),
        }]
    );
    // Of two replicas marking it, one does; the lease is gone with it, so
    // a late heartbeat of the old owner learns it lost the run.
    let marked = db
        .interrupt_lapsed(&run.id, "gone", t0 + 25_001, None)
        .await
        .unwrap()
        .expect("marked");
    assert_eq!(marked.status, RunStatus::Interrupted);
    assert_eq!(marked.error.as_deref(), Some("gone"));
    assert_eq!(
        db.interrupt_lapsed(&run.id, "again", t0 + 25_001, None)
            .await
            .unwrap(),
        None
    );
    assert!(!db
        .renew_lease(&run.id, "a", t0 + 26_000, TTL)
        .await
        .unwrap());

    // A run without a lease is taken only once it is older than a lease.
    let unleased = testing::new_run(db, "p", "e").await;
    let now = now_ms();
    assert!(db
        .lapsed_runs(now, unleased.created_at_ms, None)
        .await
        .unwrap()
        .is_empty());
    let found = db
        .lapsed_runs(now, unleased.created_at_ms + 1, None)
        .await
        .unwrap();
    assert_eq!(found.len(), 1);
    assert_eq!(found[0].owner, None);
    db.release_lease(&run.id, "a").await.unwrap();
    db.set_status(&unleased.id, RunStatus::Aborted, None)
        .await
        .unwrap();

    // At its start, a replica takes back the runs it held in its previous
    // life, lease alive or not, but not those another replica holds.
    let mine = testing::new_run(db, "p", "e").await;
    let theirs = testing::new_run(db, "p", "e").await;
    let now = now_ms();
    db.claim_lease(&mine.id, "a", now, TTL).await.unwrap();
    db.claim_lease(&theirs.id, "b", now, TTL).await.unwrap();
    let found = db.lapsed_runs(now, now - TTL, Some("a")).await.unwrap();
    assert_eq!(
        found.iter().map(|r| r.run_id.as_str()).collect::<Vec<_>>(),
        [mine.id.as_str()]
    );
    assert_eq!(
        db.interrupt_lapsed(&theirs.id, "x", now, Some("a"))
            .await
            .unwrap(),
        None
    );
    assert!(db
        .interrupt_lapsed(&mine.id, "restarted", now, Some("a"))
        .await
        .unwrap()
        .is_some());
    db.release_lease(&theirs.id, "b").await.unwrap();
    db.set_status(&theirs.id, RunStatus::Aborted, None)
        .await
        .unwrap();
}

async fn sealing(db: &Db) {
    let now = now_ms();
    let dead = testing::new_run(db, "p", "e").await;
    let alive = testing::new_run(db, "p", "e").await;
    let here = testing::new_run(db, "p", "e").await;
    let started: Vec<StoredEvent> = (1..=3)
        .map(|n| RunEvent::status(&dead.id, RunStatus::Running, None, None).stored(n, now))
        .collect();
    db.append_events(&dead.id, &started).await.unwrap();
    let last_beat = now - 60_000;
    db.claim_lease(&dead.id, "replica-a", last_beat, TTL)
        .await
        .unwrap();
    db.claim_lease(&alive.id, "replica-c", now, TTL)
        .await
        .unwrap();
    // `here` runs in the sweeping process, whose own beat is late.
    db.claim_lease(&here.id, "replica-b", last_beat, TTL)
        .await
        .unwrap();

    // No watch: a lapsed lease is sealed at the first sweep that sees it
    // (the watch has a test of its own).
    let b = Ownership::with_times(db.clone(), "replica-b".into(), LEASE_TTL, Duration::ZERO);
    let running_here: HashSet<String> = [here.id.clone()].into();
    let sealed = b.seal_lapsed(db, false, &running_here).await.unwrap();
    assert_eq!(
        sealed.iter().map(|r| r.id.as_str()).collect::<Vec<_>>(),
        [dead.id.as_str()]
    );
    let reason = format!(
        "the server that ran it (replica-a) stopped heartbeating at {}; \
         what it measured until then is kept",
        engine::results::rfc3339(last_beat)
    );
    let run = db.get_run(&dead.id).await.unwrap();
    assert_eq!(run.status, RunStatus::Interrupted);
    assert_eq!(run.error.as_deref(), Some(reason.as_str()));
    // Its stream is closed after what it stored: final status, then end.
    let events = db.events_after(&dead.id, 0, 100).await.unwrap();
    assert_eq!(
        events.iter().map(|e| e.seq).collect::<Vec<_>>(),
        [1, 2, 3, 4, 5]
    );
    assert_eq!(
        events[3].event().unwrap(),
        RunEvent::status(&dead.id, RunStatus::Interrupted, None, Some(reason))
    );
    assert!(events[4].is_end());
    for id in [&alive.id, &here.id] {
        assert_eq!(db.get_run(id).await.unwrap().status, RunStatus::Queued);
    }
    // Nothing more to do on the next sweep.
    assert!(b
        .seal_lapsed(db, false, &running_here)
        .await
        .unwrap()
        .is_empty());
    // Restarted under its name, replica-c takes back its run at once.
    let c = Ownership::new(db.clone(), "replica-c".into());
    let sealed = c.seal_lapsed(db, true, &HashSet::new()).await.unwrap();
    let ids: Vec<&str> = sealed.iter().map(|r| r.id.as_str()).collect();
    assert!(ids.contains(&alive.id.as_str()), "{ids:?}");
    assert_eq!(
        db.get_run(&alive.id).await.unwrap().error.as_deref(),
        Some(RESTART_REASON)
    );
}

/// A lapsed lease is sealed only once its heartbeat has stayed unchanged
/// for the watch: an owner that beats again (after a database outage, or
/// with a clock behind) keeps its run.
async fn watching(db: &Db) {
    let watch = Duration::from_millis(300);
    let b = Ownership::with_times(db.clone(), "replica-b".into(), LEASE_TTL, watch);
    let here = HashSet::new();
    let run = testing::new_run(db, "p", "e").await;
    let old = now_ms() - 60_000;
    db.claim_lease(&run.id, "replica-a", old, TTL)
        .await
        .unwrap();
    let sealed_now = |sealed: Vec<RunSummary>| sealed.iter().any(|r| r.id == run.id);
    assert!(
        !sealed_now(b.seal_lapsed(db, false, &here).await.unwrap()),
        "first look"
    );
    // The owner beats again, still late by the clocks: watched afresh.
    db.renew_lease(&run.id, "replica-a", old + 1_000, TTL)
        .await
        .unwrap();
    tokio::time::sleep(watch + Duration::from_millis(50)).await;
    assert!(
        !sealed_now(b.seal_lapsed(db, false, &here).await.unwrap()),
        "sealed although its heartbeat moved"
    );
    assert_eq!(db.get_run(&run.id).await.unwrap().status, RunStatus::Queued);
    // Then nothing more for the whole watch: sealed.
    tokio::time::sleep(watch + Duration::from_millis(50)).await;
    assert!(sealed_now(b.seal_lapsed(db, false, &here).await.unwrap()));
    assert_eq!(
        db.get_run(&run.id).await.unwrap().status,
        RunStatus::Interrupted
    );
}

#[tokio::test]
async fn leases_on_sqlite() {
    let (db, _dir) = testing::sqlite().await;
    leases(&db).await;
    sealing(&db).await;
    watching(&db).await;
}

#[tokio::test]
async fn leases_on_postgres() {
    if let Some(db) = testing::postgres().await {
        leases(&db).await;
        sealing(&db).await;
        watching(&db).await;
    }
}

#[test]
fn a_replica_is_named_by_its_host_and_port_unless_told() {
    let addr: SocketAddr = "127.0.0.1:3123".parse().unwrap();
    let id = replica_id(addr);
    if std::env::var("SHAKEDOWN_REPLICA_ID").is_err() {
        assert!(id.ends_with(":3123") && id.len() > 5, "{id}");
    }
}
