//! SIGTERM to `shakedown serve` during a run (SQLite, 127.0.0.1 only): the
//! server refuses new runs at once, gives the running one its grace period,
//! then stops it; the run ends `interrupted` with the time and the reason,
//! its events (numbered without gaps) and its evidence pack are kept, and
//! the process exits cleanly.

mod common;

use common::free_port;
use common::server::{
    assert_gap_free, load_plan, plans_dir, read_db, read_events, ServeOptions, Server, Sut,
};
use nix::sys::signal::Signal;
use std::time::{Duration, Instant};

#[test]
fn sigterm_refuses_new_runs_and_interrupts_the_running_one_after_the_grace() {
    let sut = Sut::start();
    let dir = tempfile::Builder::new()
        .prefix("shutdown-")
        .tempdir()
        .unwrap();
    // 120 s of load: far longer than the test waits, so only the shutdown
    // can end it.
    let plans = plans_dir(dir.path(), "long.toml", &load_plan(&sut.base, 120));
    let options = ServeOptions {
        port: free_port(),
        data_dir: dir.path().join("data"),
        plans_dir: plans,
        database_url: None,
        extra: vec!["--shutdown-grace-s".into(), "3".into()],
    };
    std::fs::create_dir_all(&options.data_dir).unwrap();
    let mut server = Server::start(&options);
    let id = server.start_run("long.toml").unwrap();

    // Let it measure: wait for two per-second windows.
    let started = Instant::now();
    loop {
        let events = read_events(&server.base, &id, None, 1.0);
        if events.iter().filter(|e| e.kind == "window").count() >= 2 {
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "no windows: {events:?}\n{}",
            server.log_text()
        );
    }

    server.signal(Signal::SIGTERM);
    let term = Instant::now();
    std::thread::sleep(Duration::from_millis(300));
    // During the grace period the server still answers, but starts nothing.
    let refused = server.start_run("long.toml");
    assert!(
        refused
            .as_ref()
            .is_err_and(|m| m.contains("server is shutting down")),
        "{refused:?}\n{}",
        server.log_text()
    );
    let status = server
        .wait_exit(Duration::from_secs(40))
        .unwrap_or_else(|| panic!("still running 40 s after SIGTERM:\n{}", server.log_text()));
    let took = term.elapsed();
    assert!(status.success(), "{status}\n{}", server.log_text());
    assert!(
        took >= Duration::from_secs(3),
        "exited after {took:?}, before the grace period ended"
    );

    let (run, events) = read_db(&options.database_url(), &id);
    assert_eq!(run.status, "interrupted", "{run:?}");
    assert_eq!(run.verdict, None);
    assert_eq!(
        run.error.as_deref(),
        Some("server shut down (SIGTERM) before the run finished")
    );
    assert!(run.finished_at_ms.is_some());
    assert!(run.evidence_version.is_some(), "no evidence pack: {run:?}");
    let seqs: Vec<i64> = events.iter().map(|(s, _)| *s).collect();
    assert_gap_free(&seqs, "stored events");
    let kinds: Vec<&str> = events.iter().map(|(_, k)| k.as_str()).collect();
    assert!(
        kinds.iter().filter(|k| **k == "window").count() >= 2,
        "{kinds:?}"
    );
    assert_eq!(kinds.last(), Some(&"end"), "{kinds:?}");
    // Exactly one run: the refused start created none.
    assert_eq!(count_runs(&options.database_url()), 1);

    // The evidence pack says so too.
    let version = run.evidence_version.unwrap();
    let results = options
        .data_dir
        .join(format!("evidence/runs/{id}/v{version}/results.json"));
    let results: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&results).unwrap()).unwrap();
    assert_eq!(results["status"], "interrupted");
    assert_eq!(
        results["error"],
        "server shut down (SIGTERM) before the run finished"
    );
    assert!(results["tests"][0]["metrics"].is_object(), "{results}");

    // The command line says so as well.
    let listed = std::process::Command::new(env!("CARGO_BIN_EXE_shakedown"))
        .args(["runs", "--status", "interrupted", "--data-dir"])
        .arg(&options.data_dir)
        .env_remove("DATABASE_URL")
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&listed.stdout);
    assert!(listed.status.success(), "{listed:?}");
    assert!(text.contains(&id), "{text}");
    assert!(
        text.contains("interrupted: server shut down (SIGTERM) before the run finished"),
        "{text}"
    );
}

fn count_runs(url: &str) -> i64 {
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        sqlx::any::install_default_drivers();
        let pool = sqlx::AnyPool::connect(url).await.unwrap();
        let row = sqlx::query("SELECT COUNT(*) AS n FROM runs")
            .fetch_one(&pool)
            .await
            .unwrap();
        sqlx::Row::get::<i64, _>(&row, "n")
    })
}
