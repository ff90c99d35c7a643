//! Two `shakedown serve` replicas on one PostgreSQL database (#17): a run
//! launched on replica A streams live on replica B, every event once and in
//! order, with the ids the events table holds, and `Last-Event-ID` resumes
//! on either replica; then A is killed (SIGKILL) mid-run and B marks its
//! run interrupted, naming A as the server that stopped heartbeating, within
//! 30 s of the kill, and closes the run's stream.

mod common;

use common::free_port;
use common::pg::TestDatabase;
use common::server::{
    assert_gap_free, get, load_plan, plans_dir, read_db, read_events, wait_until, ServeOptions,
    Server, Sut,
};
use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

fn replica(dir: &Path, name: &str, plans: &Path, url: &str) -> (ServeOptions, Server) {
    let options = ServeOptions {
        port: free_port(),
        data_dir: dir.join(name),
        plans_dir: plans.to_owned(),
        database_url: Some(url.to_owned()),
        extra: Vec::new(),
    };
    std::fs::create_dir_all(&options.data_dir).unwrap();
    let server = Server::start(&options);
    (options, server)
}

/// A run as `GET /api/runs/{id}` answers it.
fn run_json(base: &str, id: &str) -> serde_json::Value {
    let (code, body) = get(&format!("{base}/api/runs/{id}"), &[], 10.0);
    assert_eq!(code, 200, "{body}");
    serde_json::from_str(&body).unwrap()
}

/// Follows `/api/runs/{id}/events` on `base` as a browser does, one message
/// at a time: calls `each` with every message's id and kind as it arrives,
/// until the stream ends (or `max_time_s`, the hang guard).
fn follow(base: &str, id: &str, max_time_s: u32, mut each: impl FnMut(i64, &str)) {
    let mut child = Command::new("curl")
        .args(["-s", "-N", "--max-time", &max_time_s.to_string()])
        .arg(format!("{base}/api/runs/{id}/events"))
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let reader = BufReader::new(child.stdout.take().unwrap());
    let mut current = None;
    for line in reader.lines() {
        let line = line.unwrap();
        if let Some(v) = line.strip_prefix("id:") {
            current = v.trim().parse::<i64>().ok();
        } else if let Some(v) = line.strip_prefix("data:") {
            let stored: serde_json::Value = serde_json::from_str(v.trim()).unwrap();
            let sse_id = current.take().expect("every message has an id");
            assert_eq!(
                stored["seq"].as_i64(),
                Some(sse_id),
                "the SSE id is the event's"
            );
            each(sse_id, stored["kind"].as_str().unwrap());
        }
    }
    child.wait().unwrap();
}

#[test]
fn a_run_streams_live_on_another_replica_and_a_killed_replicas_run_is_interrupted() {
    let db = TestDatabase::new("replicas");
    let sut = Sut::start();
    let dir = tempfile::Builder::new()
        .prefix("replicas-")
        .tempdir()
        .unwrap();
    let plans = plans_dir(dir.path(), "short.toml", &load_plan(&sut.base, 12));
    std::fs::write(plans.join("long.toml"), load_plan(&sut.base, 120)).unwrap();
    let (a_options, mut a) = replica(dir.path(), "a", &plans, &db.url);
    let (_, b) = replica(dir.path(), "b", &plans, &db.url);

    // A run launched on A, followed on B from its start to its end.
    let id = a.start_run("short.toml").unwrap();
    let mut seen: Vec<(i64, String)> = Vec::new();
    let mut status_while_live = None;
    follow(&b.base, &id, 90, |n, kind| {
        seen.push((n, kind.to_owned()));
        // The first measurement window: the run is still going on A, so
        // B is streaming it live, not replaying a finished run.
        if kind == "window" && status_while_live.is_none() {
            status_while_live = Some(read_db(&db.url, &id).0.status);
        }
    });
    assert_eq!(
        status_while_live.as_deref(),
        Some("running"),
        "B streamed the run while A ran it: {seen:?}"
    );
    let ids: Vec<i64> = seen.iter().map(|(n, _)| *n).collect();
    assert_gap_free(&ids, "B's stream of A's run");
    assert_eq!(seen.last().map(|(_, k)| k.as_str()), Some("end"));
    // None missing compared with the table, none repeated.
    let (run, stored) = read_db(&db.url, &id);
    assert_eq!(run.status, "finished", "{run:?}");
    assert_eq!(seen, stored, "B's stream is the events table");
    // Last-Event-ID resumes after that id on either replica.
    let middle = ids[ids.len() / 2];
    for base in [&a.base, &b.base] {
        let rest: Vec<i64> = read_events(base, &id, Some(middle), 30.0)
            .iter()
            .map(|e| e.id)
            .collect();
        assert_eq!(
            rest,
            (middle + 1..=*ids.last().unwrap()).collect::<Vec<_>>()
        );
    }
    assert_eq!(run_json(&b.base, &id)["status"], "finished");

    // A second run on A, followed on B; A is killed mid-run.
    let id = a.start_run("long.toml").unwrap();
    let mut before_kill = Vec::new();
    wait_until(
        "two windows of the run on B",
        Duration::from_secs(60),
        || {
            before_kill = read_events(&b.base, &id, None, 1.5);
            before_kill.iter().filter(|e| e.kind == "window").count() >= 2
        },
    );
    let before_ids: Vec<i64> = before_kill.iter().map(|e| e.id).collect();
    assert_gap_free(&before_ids, "B's stream before the kill");
    assert_eq!(run_json(&b.base, &id)["status"], "running");
    let killed_at_ms = engine::run::now_ms();
    a.signal(nix::sys::signal::Signal::SIGKILL);
    assert!(a.wait_exit(Duration::from_secs(10)).is_some());

    // B marks it interrupted (the 60 s limit only guards against a hang).
    let mut answer = serde_json::Value::Null;
    wait_until(
        "B marks the run interrupted",
        Duration::from_secs(60),
        || {
            answer = run_json(&b.base, &id);
            answer["status"] == "interrupted"
        },
    );
    let hostname = std::fs::read_to_string("/proc/sys/kernel/hostname").unwrap();
    let owner = format!("{}:{}", hostname.trim(), a_options.port);
    let error = answer["error"].as_str().unwrap_or_default();
    assert!(
        error.starts_with(&format!(
            "the server that ran it ({owner}) stopped heartbeating at "
        )) && error.ends_with("; what it measured until then is kept"),
        "{answer}"
    );
    // Within 30 s of the kill, by the time B recorded.
    let finished_at_ms = answer["finished_at_ms"].as_i64().unwrap();
    assert!(
        finished_at_ms - killed_at_ms <= 30_000,
        "marked {} ms after the kill",
        finished_at_ms - killed_at_ms
    );
    // The run's stream, resumed on B, ends with the interrupted status and
    // the end event, and nothing is lost or repeated.
    let last_seen = *before_ids.last().unwrap();
    let rest = read_events(&b.base, &id, Some(last_seen), 30.0);
    let mut all = before_ids.clone();
    all.extend(rest.iter().map(|e| e.id));
    let (run, stored) = read_db(&db.url, &id);
    assert_eq!(run.status, "interrupted");
    assert_eq!(all, stored.iter().map(|(n, _)| *n).collect::<Vec<_>>());
    let status = rest.iter().rev().find(|e| e.kind == "status").unwrap();
    assert!(
        status.data.contains("interrupted") && status.data.contains(&owner),
        "{status:?}"
    );
    assert_eq!(rest.last().map(|e| e.kind.as_str()), Some("end"));
    assert!(
        b.log_text().contains("marked interrupted"),
        "{}",
        b.log_text()
    );
    // B was woken by PostgreSQL notifications all along (the 250 ms poll
    // is only the fallback).
    assert!(
        !b.log_text().contains("event notifications"),
        "{}",
        b.log_text()
    );
}
