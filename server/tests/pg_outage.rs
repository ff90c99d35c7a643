//! Shakedown on PostgreSQL surviving what it inflicts on others (all on
//! 127.0.0.1, every load bounded in time):
//! - PostgreSQL goes away for a few seconds during a run: the run keeps
//!   measuring, holds its events and writes them when the database is
//!   back; it finishes GO with every event numbered once, without gaps.
//! - The server is SIGKILLed mid-run by Shakedown's own supervisor and
//!   restarted: no run is left running, the interrupted run keeps what it
//!   measured, and an event stream resumed with `Last-Event-ID` continues
//!   without gap or repeat; then PostgreSQL restarts during a second run,
//!   which finishes with complete data.
//!
//! Needs the cluster the test command starts (`SHAKEDOWN_TEST_PG_URL`,
//! `SHAKEDOWN_TEST_PG_DATADIR`); skipped with a message without it, unless
//! `SHAKEDOWN_TEST_REQUIRE_PG=1`.

mod common;

use common::free_port;
use common::server::{
    assert_gap_free, get, load_plan, plans_dir, read_db, read_events, shakedown_bin, start_run,
    wait_until, ServeOptions, Server, SseEvent, Sut,
};
use engine::supervisor::{HealthCheck, ProcessSpec, StopSignal, Supervisor};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// The tests restart the one shared cluster: one at a time.
static CLUSTER: Mutex<()> = Mutex::new(());

/// The test cluster: a fresh database's URL and the cluster's data folder.
fn cluster() -> Option<(String, PathBuf)> {
    let (Ok(url), Ok(datadir)) = (
        std::env::var("SHAKEDOWN_TEST_PG_URL"),
        std::env::var("SHAKEDOWN_TEST_PG_DATADIR"),
    ) else {
        assert!(
            std::env::var("SHAKEDOWN_TEST_REQUIRE_PG").as_deref() != Ok("1"),
            "SHAKEDOWN_TEST_REQUIRE_PG=1 but SHAKEDOWN_TEST_PG_URL / _DATADIR are not set"
        );
        eprintln!(
            "SHAKEDOWN_TEST_PG_URL / SHAKEDOWN_TEST_PG_DATADIR not set: PostgreSQL test skipped"
        );
        return None;
    };
    let name = format!("shakedown_outage_{}", uuid::Uuid::new_v4().simple());
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        sqlx::any::install_default_drivers();
        let admin = sqlx::AnyPool::connect(&url).await.unwrap();
        sqlx::query(&format!("CREATE DATABASE {name}"))
            .execute(&admin)
            .await
            .unwrap();
        admin.close().await;
    });
    let mut db_url = url::Url::parse(&url).unwrap();
    db_url.set_path(&format!("/{name}"));
    Some((db_url.to_string(), PathBuf::from(datadir)))
}

/// Runs a PostgreSQL tool as the cluster's owner (`postgres` when root).
fn as_postgres(argv: &[&str]) -> std::process::Output {
    let mut cmd = if nix::unistd::Uid::effective().is_root() {
        let mut c = Command::new("runuser");
        c.args(["-u", "postgres", "--"]).args(argv);
        c
    } else {
        let mut c = Command::new(argv[0]);
        c.args(&argv[1..]);
        c
    };
    cmd.stdin(std::process::Stdio::null()).output().unwrap()
}

/// Stops PostgreSQL (fast), keeps it down for `down`, starts it again with
/// the options it ran with (from `postmaster.opts`).
fn restart_postgres(datadir: &Path, down: Duration) {
    let opts = std::fs::read_to_string(datadir.join("postmaster.opts")).unwrap();
    // `/usr/lib/…/postgres "-D" "/dir" "-p" "5432" …`: keep what follows -D DIR.
    let args: Vec<&str> = opts.split('"').skip(1).step_by(2).collect();
    let mut rest = Vec::new();
    let mut skip_next = false;
    for arg in args {
        if skip_next {
            skip_next = false;
        } else if arg == "-D" {
            skip_next = true;
        } else {
            rest.push(arg);
        }
    }
    let dir = datadir.display().to_string();
    let out = as_postgres(&["pg_ctl", "-D", &dir, "-m", "fast", "-w", "-t", "30", "stop"]);
    assert!(out.status.success(), "pg_ctl stop: {out:?}");
    std::thread::sleep(down);
    let log = datadir
        .parent()
        .unwrap()
        .join("pg.log")
        .display()
        .to_string();
    let options = rest.join(" ");
    let out = as_postgres(&[
        "pg_ctl", "-D", &dir, "-l", &log, "-w", "-t", "30", "-o", &options, "start",
    ]);
    assert!(out.status.success(), "pg_ctl start -o {options}: {out:?}");
}

/// Waits until the run is no longer queued or running; its row.
fn wait_finished(url: &str, id: &str, limit: Duration) -> common::server::StoredRun {
    let start = Instant::now();
    loop {
        let (run, _) = read_db(url, id);
        if run.status != "queued" && run.status != "running" {
            return run;
        }
        assert!(start.elapsed() < limit, "run {id} still {}", run.status);
        std::thread::sleep(Duration::from_millis(250));
    }
}

/// Reads the run's stream until at least `windows` per-second windows came.
fn wait_windows(base: &str, id: &str, windows: usize) -> Vec<SseEvent> {
    let start = Instant::now();
    loop {
        let events = read_events(base, id, None, 1.5);
        if events.iter().filter(|e| e.kind == "window").count() >= windows {
            return events;
        }
        assert!(
            start.elapsed() < Duration::from_secs(40),
            "no windows: {events:?}"
        );
    }
}

/// PostgreSQL down for 8 s (longer than the pool's 5 s wait for a
/// connection, so writes really fail) in the middle of a 20 s run against
/// `base`; the run must finish GO with every event stored once and in order.
fn run_through_a_postgres_restart(base: &str, url: &str, datadir: &Path, log: impl Fn() -> String) {
    let id = start_run(base, "short.toml").unwrap();
    wait_windows(base, &id, 2);
    let down_at = Instant::now();
    restart_postgres(datadir, Duration::from_secs(8));
    let outage = down_at.elapsed();
    let run = wait_finished(url, &id, Duration::from_secs(90));
    assert_eq!(run.status, "finished", "{run:?}\n{}", log());
    assert_eq!(run.verdict.as_deref(), Some("GO"), "{run:?}");
    assert_eq!(run.error, None);
    // The writer's end (the `end` event) may trail the status by a moment.
    let mut events = Vec::new();
    wait_until("the end event", Duration::from_secs(30), || {
        events = read_db(url, &id).1;
        events.last().is_some_and(|(_, k)| k == "end")
    });
    let seqs: Vec<i64> = events.iter().map(|(s, _)| *s).collect();
    assert_gap_free(&seqs, "events stored through the outage");
    let windows = events.iter().filter(|(_, k)| k == "window").count();
    // 20 s of load, one window a second: the outage lost none of them.
    assert!(windows >= 18, "{windows} windows: {events:?}");
    assert!(
        events.iter().any(|(_, k)| k == "run_finished"),
        "{events:?}"
    );
    // The outage really hit the writer, and it really recovered.
    let text = log();
    assert!(
        text.contains(&format!("run {id}: storing events failed")),
        "the outage ({outage:?}) did not reach the event writer:\n{text}"
    );
    assert!(
        text.contains(&format!("run {id}: the database answers again")),
        "{text}"
    );
    // A client reading the stream now gets exactly the stored events.
    let streamed = read_events(base, &id, None, 10.0);
    let ids: Vec<i64> = streamed.iter().map(|e| e.id).collect();
    assert_eq!(ids, seqs);
    assert_eq!(ids, streamed.iter().map(|e| e.seq).collect::<Vec<_>>());
}

#[test]
fn a_postgres_restart_mid_run_loses_and_repeats_no_event() {
    let _one = CLUSTER.lock().unwrap_or_else(|p| p.into_inner());
    let Some((url, datadir)) = cluster() else {
        return;
    };
    let sut = Sut::start();
    let dir = tempfile::Builder::new()
        .prefix("pg-outage-")
        .tempdir()
        .unwrap();
    let options = ServeOptions {
        port: free_port(),
        data_dir: dir.path().join("data"),
        plans_dir: plans_dir(dir.path(), "short.toml", &load_plan(&sut.base, 20)),
        database_url: Some(url.clone()),
        extra: Vec::new(),
    };
    std::fs::create_dir_all(&options.data_dir).unwrap();
    let server = Server::start(&options);
    run_through_a_postgres_restart(&server.base, &url, &datadir, || server.log_text());
    // Ready again: the probe reaches the database.
    assert_eq!(get(&format!("{}/readyz", server.base), &[], 5.0).0, 200);
}

#[test]
fn a_sigkilled_server_leaves_no_run_running_and_its_stream_resumes_without_gaps() {
    let _one = CLUSTER.lock().unwrap_or_else(|p| p.into_inner());
    let Some((url, datadir)) = cluster() else {
        return;
    };
    let sut = Sut::start();
    let dir = tempfile::Builder::new()
        .prefix("self-restart-")
        .tempdir()
        .unwrap();
    let plans = plans_dir(dir.path(), "long.toml", &load_plan(&sut.base, 120));
    std::fs::write(plans.join("short.toml"), load_plan(&sut.base, 20)).unwrap();
    let options = ServeOptions {
        port: free_port(),
        data_dir: dir.path().join("data"),
        plans_dir: plans,
        database_url: Some(url.clone()),
        extra: Vec::new(),
    };
    std::fs::create_dir_all(&options.data_dir).unwrap();
    let base = options.base();
    let log = dir.path().join("serve.log");
    let log_text = || std::fs::read_to_string(&log).unwrap_or_default();

    // Shakedown's own supervisor runs the server, as it runs a target.
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let supervisor = Supervisor::new();
    let mut argv = vec![shakedown_bin().display().to_string()];
    argv.extend(options.argv());
    rt.block_on(supervisor.start(ProcessSpec {
        name: "shakedown".into(),
        argv,
        env: vec![("RUST_LOG".into(), "info,sqlx=warn".into())],
        cwd: None,
        user: None,
        stop_signal: StopSignal::Sigterm,
        grace: Duration::from_secs(10),
        start_timeout: Duration::from_secs(60),
        health: HealthCheck::Http {
            url: format!("{base}/readyz"),
        },
        log: Some(log.clone()),
    }))
    .unwrap();

    let id = start_run(&base, "long.toml").unwrap();
    // A client follows the run's stream from the start: three windows.
    let seen = wait_windows(&base, &id, 3);
    let seen_ids: Vec<i64> = seen.iter().map(|e| e.id).collect();
    assert_gap_free(&seen_ids, "the stream before the kill");
    let last_seen = *seen_ids.last().unwrap();

    let proof = rt
        .block_on(supervisor.restart("shakedown", Some(StopSignal::Sigkill)))
        .unwrap();
    assert!(
        proof.observed() && proof.old_exit.contains("SIGKILL"),
        "{proof:?}"
    );

    // No run is left running.
    assert_eq!(unfinished_runs(&url), 0);
    let (run, events) = read_db(&url, &id);
    assert_eq!(run.status, "interrupted", "{run:?}\n{}", log_text());
    assert_eq!(
        run.error.as_deref(),
        Some(
            "Shakedown stopped while this run was in progress; what it measured until then is kept"
        )
    );
    assert!(run.finished_at_ms.is_some());
    // What it measured until the kill is intact: every event the client
    // saw is stored under its number, and the numbers have no gap.
    let seqs: Vec<i64> = events.iter().map(|(s, _)| *s).collect();
    assert_gap_free(&seqs, "stored events after the kill");
    for event in &seen {
        assert_eq!(
            events.get(event.seq as usize - 1),
            Some(&(event.seq, event.kind.clone())),
            "event {} as the client saw it",
            event.seq
        );
    }
    assert_eq!(events.last().map(|(_, k)| k.as_str()), Some("end"));

    // The client reconnects to the new server with Last-Event-ID: it gets
    // exactly the rest, ending with the interrupted status and the end.
    let resumed = read_events(&base, &id, Some(last_seen), 10.0);
    let resumed_ids: Vec<i64> = resumed.iter().map(|e| e.id).collect();
    let mut all = seen_ids.clone();
    all.extend(&resumed_ids);
    assert_eq!(all, seqs, "the stream resumed at {last_seen}");
    let status = resumed
        .iter()
        .rev()
        .find(|e| e.kind == "status")
        .expect("a final status");
    assert!(status.data.contains("\"interrupted\""), "{status:?}");
    assert_eq!(resumed.last().map(|e| e.kind.as_str()), Some("end"));
    // The run's page says so.
    let (code, page) = get(&format!("{base}/runs/{id}"), &[], 10.0);
    assert_eq!(code, 200);
    assert!(
        page.contains("interrupted") && page.contains("Shakedown stopped while this run"),
        "{page}"
    );

    // Then PostgreSQL restarts during a second run of the same server.
    run_through_a_postgres_restart(&base, &url, &datadir, log_text);
    assert_eq!(unfinished_runs(&url), 0);
    rt.block_on(supervisor.stop_all());
}

/// Runs still queued or running.
fn unfinished_runs(url: &str) -> i64 {
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        sqlx::any::install_default_drivers();
        let pool = sqlx::AnyPool::connect(url).await.unwrap();
        let row =
            sqlx::query("SELECT COUNT(*) AS n FROM runs WHERE status IN ('queued', 'running')")
                .fetch_one(&pool)
                .await
                .unwrap();
        pool.close().await;
        sqlx::Row::get::<i64, _>(&row, "n")
    })
}
