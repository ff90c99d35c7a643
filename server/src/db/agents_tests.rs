//! Load agents' storage on SQLite and PostgreSQL: agents claiming at once
//! never get the same shard, leases lapse into loss (running) or a new
//! offer (claimed), snapshots are stored once, and only a running shard
//! takes them; only a running run's shards are claimed, and a run that
//! ends, aborts or is interrupted withdraws its shards; a shard offered
//! again is its new holder's alone.

use super::SnapshotStored;
use crate::db::{testing, Db};
use engine::agents::{ShardOffer, ShardState};
use engine::run::RunStatus;
use engine::store::RunStore;
use std::collections::BTreeSet;

const TTL: i64 = 5_000;

fn offer(segment: &str) -> ShardOffer {
    ShardOffer {
        segment: segment.to_owned(),
        sequence: "0,1/3,2/3,1".to_owned(),
        spec: serde_json::json!({ "path": "/" }),
        target: serde_json::json!({}),
    }
}

/// Offers `n` shards of a new running run; the run's id and the shards'
/// ids.
async fn offered(db: &Db, n: usize) -> (String, Vec<i64>) {
    let (run, ids) = offered_queued(db, n).await;
    db.set_status(&run, RunStatus::Running, None).await.unwrap();
    (run, ids)
}

/// Offers `n` shards of a new queued run.
async fn offered_queued(db: &Db, n: usize) -> (String, Vec<i64>) {
    let run = testing::new_run(db, "agents", "local").await;
    let offers: Vec<ShardOffer> = (0..n).map(|i| offer(&format!("{i}/{n}:1"))).collect();
    let ids = db
        .offer_shards(&run.id, "L1", &offers, 1_000)
        .await
        .unwrap();
    (run.id, ids)
}

async fn claims_never_collide(db: &Db) {
    let (_, ids) = offered(db, 6).await;
    let mut agents = Vec::new();
    for i in 0..8 {
        agents.push(
            db.register_agent(&format!("a{i}"), "ops", 1_000)
                .await
                .unwrap(),
        );
    }
    // Eight agents claim at once, each as often as it can.
    let mut claimers = tokio::task::JoinSet::new();
    for agent in agents {
        let db = db.clone();
        claimers.spawn(async move {
            let mut got = Vec::new();
            while let Some(shard) = db.claim_shard(agent, 2_000, TTL).await.unwrap() {
                assert_eq!(shard.agent_id, Some(agent));
                assert_eq!(shard.state, ShardState::Claimed);
                got.push(shard.id);
            }
            got
        });
    }
    let mut claimed = Vec::new();
    while let Some(got) = claimers.join_next().await {
        claimed.extend(got.unwrap());
    }
    let distinct: BTreeSet<i64> = claimed.iter().copied().collect();
    assert_eq!(
        claimed.len(),
        ids.len(),
        "every shard claimed once: {claimed:?}"
    );
    assert_eq!(distinct, ids.iter().copied().collect::<BTreeSet<i64>>());
    assert_eq!(db.waiting_shards().await.unwrap(), 0);
}

async fn leases_lapse(db: &Db) {
    let (run, ids) = offered(db, 2).await;
    let a = db.register_agent("a", "ops", 1_000).await.unwrap();
    let b = db.register_agent("b", "ops", 1_000).await.unwrap();
    let first = db.claim_shard(a, 1_000, TTL).await.unwrap().unwrap();
    let second = db.claim_shard(b, 1_000, TTL).await.unwrap().unwrap();
    assert_eq!((first.id, second.id), (ids[0], ids[1]));
    assert!(db
        .move_shard(first.id, a, ShardState::Claimed, ShardState::Ready)
        .await
        .unwrap());
    assert!(db.start_shard(first.id, 3_000).await.unwrap());
    // A snapshot before the start is refused; a running one's is stored
    // once however often it is sent.
    assert_eq!(
        db.add_snapshot(second.id, b, 0, "{}").await.unwrap(),
        SnapshotStored::NotRunning(ShardState::Claimed)
    );
    for _ in 0..2 {
        assert_eq!(
            db.add_snapshot(first.id, a, 0, "{\"seq\":0}")
                .await
                .unwrap(),
            SnapshotStored::Stored
        );
    }
    assert_eq!(db.shard_snapshots(first.id, -1).await.unwrap().len(), 1);
    assert!(db.shard_snapshots(first.id, 0).await.unwrap().is_empty());
    // Merged at the test's end, they are deleted (only this shard's).
    db.add_snapshot(first.id, a, 1, "{\"seq\":1}")
        .await
        .unwrap();
    db.delete_shard_snapshots(second.id).await.unwrap();
    assert_eq!(db.shard_snapshots(first.id, -1).await.unwrap().len(), 2);
    db.delete_shard_snapshots(first.id).await.unwrap();
    assert!(db.shard_snapshots(first.id, -1).await.unwrap().is_empty());
    // Agent a beats until 4 000; b never does.
    assert!(db
        .agent_heartbeat(a, Some(first.id), 4_000, TTL)
        .await
        .unwrap());
    db.settle_leases(&run, 8_000, TTL).await.unwrap();
    assert_eq!(
        db.shard(first.id).await.unwrap().unwrap().state,
        ShardState::Running
    );
    let offered_again = db.shard(second.id).await.unwrap().unwrap();
    assert_eq!(offered_again.state, ShardState::Waiting);
    assert_eq!(offered_again.agent_id, None);
    db.settle_leases(&run, 9_001, TTL).await.unwrap();
    let lost = db.shard(first.id).await.unwrap().unwrap();
    assert_eq!(lost.state, ShardState::Lost);
    assert_eq!(
        lost.ended_at_ms,
        Some(4_000),
        "lost as of its last heartbeat"
    );
    assert_eq!(
        db.add_snapshot(first.id, a, 1, "{}").await.unwrap(),
        SnapshotStored::NotRunning(ShardState::Lost)
    );
    assert!(!db.finish_shard(first.id, a, "{}", 9_500).await.unwrap());
    db.withdraw_shard(second.id, 9_600).await.unwrap();
    assert_eq!(
        db.shard(second.id).await.unwrap().unwrap().state,
        ShardState::Cancelled
    );
    assert_eq!(db.shard_holder(second.id).await.unwrap(), Some(None));
    assert_eq!(db.shard_holder(first.id).await.unwrap(), Some(Some(a)));
    assert_eq!(db.shard_holder(first.id + 100).await.unwrap(), None);
}

#[tokio::test]
async fn agents_claiming_at_once_get_different_shards_sqlite() {
    let (db, _dir) = testing::sqlite().await;
    claims_never_collide(&db).await;
}

#[tokio::test]
async fn agents_claiming_at_once_get_different_shards_postgres() {
    if let Some(db) = testing::postgres().await {
        claims_never_collide(&db).await;
    }
}

#[tokio::test]
async fn lapsed_leases_lose_running_shards_and_offer_claimed_ones_again_sqlite() {
    let (db, _dir) = testing::sqlite().await;
    leases_lapse(&db).await;
}

#[tokio::test]
async fn lapsed_leases_lose_running_shards_and_offer_claimed_ones_again_postgres() {
    if let Some(db) = testing::postgres().await {
        leases_lapse(&db).await;
    }
}

async fn stale_shards_are_withdrawn(db: &Db) {
    let agent = db.register_agent("a", "ops", 1_000).await.unwrap();
    let state = |id: i64| async move { db.shard(id).await.unwrap().unwrap().state };
    // A run that does not run (yet) hands nothing out.
    let (run, ids) = offered_queued(db, 2).await;
    assert_eq!(db.waiting_shards().await.unwrap(), 0);
    assert!(db.claim_shard(agent, 1_000, TTL).await.unwrap().is_none());
    db.set_status(&run, RunStatus::Running, None).await.unwrap();
    assert_eq!(db.waiting_shards().await.unwrap(), 2);
    let claimed = db.claim_shard(agent, 1_000, TTL).await.unwrap().unwrap();
    assert_eq!(claimed.id, ids[0]);
    // Its end (here an abort) withdraws the claimed and the waiting one.
    db.set_status(&run, RunStatus::Aborted, None).await.unwrap();
    assert_eq!(state(ids[0]).await, ShardState::Cancelled);
    assert_eq!(state(ids[1]).await, ShardState::Cancelled);
    assert!(db.claim_shard(agent, 1_000, TTL).await.unwrap().is_none());

    // A run whose owner's lease lapsed, sealed by another replica.
    let (run, ids) = offered(db, 1).await;
    db.claim_shard(agent, 1_000, TTL).await.unwrap().unwrap();
    let sealed = db.interrupt_lapsed(&run, "owner gone", 2_000, None).await;
    assert!(sealed.unwrap().is_some());
    assert_eq!(state(ids[0]).await, ShardState::Cancelled);

    // Runs a restarted server finds unfinished.
    let (_, ids) = offered(db, 1).await;
    db.interrupt_unfinished("server restarted").await.unwrap();
    assert_eq!(state(ids[0]).await, ShardState::Cancelled);
    assert!(db.claim_shard(agent, 1_000, TTL).await.unwrap().is_none());
}

#[tokio::test]
async fn only_running_runs_shards_are_claimed_and_ended_runs_withdraw_theirs_sqlite() {
    let (db, _dir) = testing::sqlite().await;
    stale_shards_are_withdrawn(&db).await;
}

#[tokio::test]
async fn only_running_runs_shards_are_claimed_and_ended_runs_withdraw_theirs_postgres() {
    if let Some(db) = testing::postgres().await {
        stale_shards_are_withdrawn(&db).await;
    }
}

async fn heartbeats_renew_only_the_shard_worked_on(db: &Db) {
    let (run, ids) = offered(db, 2).await;
    let a = db.register_agent("a", "ops", 1_000).await.unwrap();
    let state = |id: i64| async move { db.shard(id).await.unwrap().unwrap().state };
    let first = db.claim_shard(a, 1_000, TTL).await.unwrap().unwrap();
    let given_up = db.claim_shard(a, 1_000, TTL).await.unwrap().unwrap();
    assert_eq!((first.id, given_up.id), (ids[0], ids[1]));
    // The agent works on the first: the one it gave up on lapses.
    assert!(db
        .agent_heartbeat(a, Some(first.id), 4_000, TTL)
        .await
        .unwrap());
    db.settle_leases(&run, 8_000, TTL).await.unwrap();
    assert_eq!(state(first.id).await, ShardState::Claimed);
    assert_eq!(state(given_up.id).await, ShardState::Waiting);
    // An idle agent's heartbeat renews nothing.
    assert!(db.agent_heartbeat(a, None, 8_500, TTL).await.unwrap());
    db.settle_leases(&run, 9_500, TTL).await.unwrap();
    assert_eq!(state(first.id).await, ShardState::Waiting);
    // Another agent's shard is not renewed by naming it.
    let b = db.register_agent("b", "ops", 9_500).await.unwrap();
    let taken = db.claim_shard(b, 9_500, TTL).await.unwrap().unwrap();
    assert!(db
        .agent_heartbeat(a, Some(taken.id), 14_000, TTL)
        .await
        .unwrap());
    db.settle_leases(&run, 14_501, TTL).await.unwrap();
    assert_eq!(state(taken.id).await, ShardState::Waiting);
    assert!(!db
        .agent_heartbeat(b + 100, None, 15_000, TTL)
        .await
        .unwrap());
}

#[tokio::test]
async fn heartbeats_renew_only_the_shard_worked_on_sqlite() {
    let (db, _dir) = testing::sqlite().await;
    heartbeats_renew_only_the_shard_worked_on(&db).await;
}

#[tokio::test]
async fn heartbeats_renew_only_the_shard_worked_on_postgres() {
    if let Some(db) = testing::postgres().await {
        heartbeats_renew_only_the_shard_worked_on(&db).await;
    }
}

/// A shard offered again after its first agent's lease lapsed belongs to
/// its new holder: the first agent's late calls move, store and end
/// nothing.
async fn late_calls_of_a_former_holder(db: &Db) {
    let (run, ids) = offered(db, 1).await;
    let a = db.register_agent("a", "ops", 1_000).await.unwrap();
    let b = db.register_agent("b", "ops", 1_000).await.unwrap();
    assert_eq!(
        db.claim_shard(a, 1_000, TTL).await.unwrap().unwrap().id,
        ids[0]
    );
    db.settle_leases(&run, 1_000 + TTL + 1, TTL).await.unwrap();
    let again = db.claim_shard(b, 7_000, TTL).await.unwrap().unwrap();
    assert_eq!(again.id, ids[0]);
    assert!(!db
        .move_shard(ids[0], a, ShardState::Claimed, ShardState::Ready)
        .await
        .unwrap());
    assert!(db
        .move_shard(ids[0], b, ShardState::Claimed, ShardState::Ready)
        .await
        .unwrap());
    assert!(db.start_shard(ids[0], 8_000).await.unwrap());
    assert_eq!(
        db.add_snapshot(ids[0], a, 0, "{}").await.unwrap(),
        SnapshotStored::NotHeld
    );
    assert!(db.shard_snapshots(ids[0], -1).await.unwrap().is_empty());
    assert!(!db.finish_shard(ids[0], a, "{}", 9_000).await.unwrap());
    assert!(db.finish_shard(ids[0], b, "{}", 9_000).await.unwrap());
}

#[tokio::test]
async fn a_former_holder_cannot_act_on_a_shard_offered_again_sqlite() {
    let (db, _dir) = testing::sqlite().await;
    late_calls_of_a_former_holder(&db).await;
}

#[tokio::test]
async fn a_former_holder_cannot_act_on_a_shard_offered_again_postgres() {
    if let Some(db) = testing::postgres().await {
        late_calls_of_a_former_holder(&db).await;
    }
}

/// An aborted run's running shard is asked to stop: its agent still holds
/// it (its heartbeat renews it), and its last snapshot and its end are
/// taken; a lapse loses it; a shard not running is not stopped.
async fn a_stopped_shard_takes_its_last_snapshot(db: &Db) {
    let (run, ids) = offered(db, 2).await;
    let a = db.register_agent("a", "ops", 1_000).await.unwrap();
    let state = |id: i64| async move { db.shard(id).await.unwrap().unwrap().state };
    for &id in &ids {
        assert_eq!(db.claim_shard(a, 1_000, TTL).await.unwrap().unwrap().id, id);
    }
    assert!(db
        .move_shard(ids[0], a, ShardState::Claimed, ShardState::Ready)
        .await
        .unwrap());
    assert!(db.start_shard(ids[0], 2_000).await.unwrap());
    db.stop_shard(ids[0]).await.unwrap();
    db.stop_shard(ids[1]).await.unwrap();
    assert_eq!(state(ids[0]).await, ShardState::Stopping);
    assert_eq!(state(ids[1]).await, ShardState::Claimed, "not running");
    let held: Vec<i64> = db
        .held_shards(a)
        .await
        .unwrap()
        .iter()
        .map(|s| s.id)
        .collect();
    assert_eq!(held, ids, "a stopping shard is still its agent's");
    assert!(db
        .agent_heartbeat(a, Some(ids[0]), 4_000, TTL)
        .await
        .unwrap());
    db.settle_leases(&run, 8_000, TTL).await.unwrap();
    assert_eq!(state(ids[0]).await, ShardState::Stopping, "renewed");
    assert_eq!(
        db.add_snapshot(ids[0], a, 3, "{\"seq\":3}").await.unwrap(),
        SnapshotStored::Stored
    );
    assert!(db.finish_shard(ids[0], a, "{}", 8_500).await.unwrap());
    assert_eq!(state(ids[0]).await, ShardState::Done);
    assert_eq!(db.shard_snapshots(ids[0], -1).await.unwrap().len(), 1);
    db.withdraw_shard(ids[1], 8_600).await.unwrap();
    // One whose agent stops beating while it stops is lost.
    let (run, ids) = offered(db, 1).await;
    db.claim_shard(a, 10_000, TTL).await.unwrap().unwrap();
    assert!(db
        .move_shard(ids[0], a, ShardState::Claimed, ShardState::Ready)
        .await
        .unwrap());
    assert!(db.start_shard(ids[0], 11_000).await.unwrap());
    db.stop_shard(ids[0]).await.unwrap();
    db.settle_leases(&run, 10_000 + TTL + 1, TTL).await.unwrap();
    assert_eq!(state(ids[0]).await, ShardState::Lost);
}

#[tokio::test]
async fn a_shard_asked_to_stop_still_takes_its_last_snapshot_sqlite() {
    let (db, _dir) = testing::sqlite().await;
    a_stopped_shard_takes_its_last_snapshot(&db).await;
}

#[tokio::test]
async fn a_shard_asked_to_stop_still_takes_its_last_snapshot_postgres() {
    if let Some(db) = testing::postgres().await {
        a_stopped_shard_takes_its_last_snapshot(&db).await;
    }
}

/// Makes every later change to a shard fail, as a database that fails
/// between two statements would.
async fn refuse_shard_updates(db: &Db) {
    let statements: &[&str] = match db.backend() {
        crate::db::Backend::Sqlite => &[
            "CREATE TRIGGER refuse_shards BEFORE UPDATE ON agent_shards \
             BEGIN SELECT RAISE(ABORT, 'shards refused'); END",
        ],
        crate::db::Backend::Postgres => &[
            "CREATE FUNCTION refuse_shards() RETURNS trigger AS $$ \
             BEGIN RAISE EXCEPTION 'shards refused'; END $$ LANGUAGE plpgsql",
            "CREATE TRIGGER refuse_shards BEFORE UPDATE ON agent_shards \
             FOR EACH ROW EXECUTE FUNCTION refuse_shards()",
        ],
    };
    for sql in statements {
        sqlx::query(sql).execute(&db.pool).await.unwrap();
    }
}

/// A run's end and its shards' withdrawal are one transaction: when the
/// withdrawal fails, the run has not ended either (and can end later),
/// rather than ending with shards its agents still run.
async fn a_runs_end_and_its_shards_withdrawal_are_one(db: &Db) {
    let (run, ids) = offered(db, 1).await;
    let (other, other_ids) = offered(db, 1).await;
    refuse_shard_updates(db).await;
    assert!(db
        .set_status(&run, RunStatus::Finished, None)
        .await
        .is_err());
    assert!(db.interrupt_unfinished("restarted").await.is_err());
    for id in [&run, &other] {
        assert_eq!(db.get_run(id).await.unwrap().status, RunStatus::Running);
    }
    let drop_trigger = match db.backend() {
        crate::db::Backend::Sqlite => "DROP TRIGGER refuse_shards",
        crate::db::Backend::Postgres => "DROP TRIGGER refuse_shards ON agent_shards",
    };
    sqlx::query(drop_trigger).execute(&db.pool).await.unwrap();
    db.set_status(&run, RunStatus::Finished, None)
        .await
        .unwrap();
    db.interrupt_unfinished("restarted").await.unwrap();
    assert_eq!(
        db.get_run(&other).await.unwrap().status,
        RunStatus::Interrupted
    );
    for id in [ids[0], other_ids[0]] {
        let shard = db.shard(id).await.unwrap().unwrap();
        assert_eq!(shard.state, ShardState::Cancelled);
    }
}

#[tokio::test]
async fn a_runs_end_and_its_shards_withdrawal_are_one_transaction_sqlite() {
    let (db, _dir) = testing::sqlite().await;
    a_runs_end_and_its_shards_withdrawal_are_one(&db).await;
}

#[tokio::test]
async fn a_runs_end_and_its_shards_withdrawal_are_one_transaction_postgres() {
    if let Some(db) = testing::postgres().await {
        a_runs_end_and_its_shards_withdrawal_are_one(&db).await;
    }
}

/// A running run with one running shard of agent `agent` that sent a
/// snapshot; the run's and the shard's ids.
async fn running_with_a_snapshot(db: &Db, agent: i64) -> (String, i64) {
    let (run, ids) = offered(db, 1).await;
    assert_eq!(
        db.claim_shard(agent, 1_000, TTL).await.unwrap().unwrap().id,
        ids[0]
    );
    assert!(db
        .move_shard(ids[0], agent, ShardState::Claimed, ShardState::Ready)
        .await
        .unwrap());
    assert!(db.start_shard(ids[0], 2_000).await.unwrap());
    let stored = db.add_snapshot(ids[0], agent, 0, "{}").await.unwrap();
    assert_eq!(stored, SnapshotStored::Stored);
    (run, ids[0])
}

/// A test cut off by a server crash never merged and pruned its
/// snapshots: when its run is sealed (at start-up, or by another
/// replica's sweep) they go and its shards end cancelled; a run still
/// running keeps its own.
async fn a_cut_off_runs_snapshots_are_pruned(db: &Db) {
    let a = db.register_agent("a", "ops", 1_000).await.unwrap();
    let state = |id: i64| async move { db.shard(id).await.unwrap().unwrap().state };
    let snapshots = |id: i64| async move { db.shard_snapshots(id, -1).await.unwrap().len() };
    let (_, crashed) = running_with_a_snapshot(db, a).await;
    db.interrupt_unfinished("server restarted").await.unwrap();
    assert_eq!(state(crashed).await, ShardState::Cancelled);
    assert_eq!(snapshots(crashed).await, 0, "pruned at start-up");

    let (lapsed, sealed) = running_with_a_snapshot(db, a).await;
    let (_, alive) = running_with_a_snapshot(db, a).await;
    let done = db
        .interrupt_lapsed(&lapsed, "owner gone", 9_000, None)
        .await;
    assert!(done.unwrap().is_some());
    assert_eq!(state(sealed).await, ShardState::Cancelled);
    assert_eq!(snapshots(sealed).await, 0, "pruned by the sweep");
    assert_eq!(state(alive).await, ShardState::Running);
    assert_eq!(snapshots(alive).await, 1, "a running run keeps its own");
}

#[tokio::test]
async fn a_cut_off_runs_snapshots_are_pruned_when_it_is_sealed_sqlite() {
    let (db, _dir) = testing::sqlite().await;
    a_cut_off_runs_snapshots_are_pruned(&db).await;
}

#[tokio::test]
async fn a_cut_off_runs_snapshots_are_pruned_when_it_is_sealed_postgres() {
    if let Some(db) = testing::postgres().await {
        a_cut_off_runs_snapshots_are_pruned(&db).await;
    }
}
