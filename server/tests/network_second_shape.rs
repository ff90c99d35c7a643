//! Network faults against the demo target in its second shape
//! (`shakedown-sut api --shape tasks`): examples/second-shape-network.toml's
//! N1 (2 s of latency on the database link for 10 s, under background
//! reads) and N2 (the database link down for 5 s while four tasks run),
//! with no `--demo`: the plan starts the built-in proxy, the tasks API and
//! the worker itself, both on PostgreSQL through the proxy (a fresh
//! database of the test's own, see `common::pg`). The clean target is GO
//! with the latency felt by the reads and the outage felt and recovered;
//! the `lose-on-db-error` switch (through `SUT_FAULTS`, which the programs
//! inherit) turns N2 NO-GO naming the tasks it lost, which the target's own
//! database shows still `running`, never taken back; tasks on SQLite never
//! use the link, so N1 is an error (the fault took no effect) and the run
//! NO-GO, never a pass.
//! Figures come from the results, never from the wall clock of the test
//! itself.
//!
//! One run at a time: a latency measured beside another run's load on a
//! small machine measures that load too.

mod common;

use common::network::{
    assert_database_down_ridden_out, assert_database_latency_felt, load, network,
};
use common::pg::TestDatabase;
use common::plans::{chaos, chaos_table, example, failed_criteria, keep, run_plan_with, test};
use common::{build_sut, free_port, root};
use engine::results::RunResults;
use engine::run::Verdict;

/// The plan, and the proxies file its proxy program reads (a path relative
/// to the working folder, as a user runs it from the repository root).
const PLAN: &str = "second-shape-network.toml";
const PROXIES: &str = "examples/second-shape-network-proxies.json";

/// The example's addresses, which each test moves: the tasks API, the
/// proxy's API, the proxy in front of PostgreSQL, PostgreSQL, and the URL
/// the tasks programs reach their database by.
const API: &str = "127.0.0.1:8091";
const PROXY_API: &str = "127.0.0.1:8475";
const LINK: &str = "127.0.0.1:15433";
const POSTGRES: &str = "127.0.0.1:5433";
const SUT_DATABASE: &str = "postgres://postgres@127.0.0.1:15433/postgres";

/// Held while a plan runs (see the module's doc).
static ONE_RUN: std::sync::Mutex<()> = std::sync::Mutex::new(());

/// `text` with `from` replaced; the example must still say `from`.
fn moved(text: &str, from: &str, to: &str) -> String {
    assert!(text.contains(from), "the example no longer says {from}");
    text.replace(from, to)
}

/// The example plan with only the tests named (and their criteria), on
/// free ports and `db`; and its proxies file, on the same. With no `db`
/// the tasks programs keep their own SQLite file (the proxy in front of
/// PostgreSQL still starts, with nothing behind it and nobody using it).
fn plan_on(ids: &[&str], db: Option<&TestDatabase>) -> (String, String) {
    let mut plan = example(PLAN);
    keep(&mut plan, ids);
    if db.is_none() {
        on_sqlite(&mut plan);
    }
    let link = free_port();
    let plan = toml::to_string(&plan).unwrap();
    let plan = match db {
        Some(db) => moved(&plan, SUT_DATABASE, &db.url_through(link)),
        None => plan,
    };
    let plan = moved(&plan, API, &format!("127.0.0.1:{}", free_port()));
    let proxy_api = format!("127.0.0.1:{}", free_port());
    let plan = moved(&plan, PROXY_API, &proxy_api);
    let proxies = std::fs::read_to_string(root().join(PROXIES)).unwrap();
    let proxies = moved(&proxies, LINK, &format!("127.0.0.1:{link}"));
    let postgres = db.map_or_else(|| format!("127.0.0.1:{}", free_port()), |db| db.address());
    let proxies = moved(&proxies, POSTGRES, &postgres);
    (plan, proxies)
}

/// Drops `--database-url URL` from every program of the plan (both tasks
/// programs have it).
fn on_sqlite(plan: &mut toml::Table) {
    let mut dropped = 0;
    for (_, service) in plan["services"].as_table_mut().unwrap().iter_mut() {
        let process = service["restart"]["process"].as_table_mut().unwrap();
        let Some(args) = process.get_mut("args").and_then(|a| a.as_array_mut()) else {
            continue;
        };
        if let Some(at) = args
            .iter()
            .position(|a| a.as_str() == Some("--database-url"))
        {
            args.drain(at..at + 2);
            dropped += 1;
        }
    }
    assert_eq!(
        dropped, 2,
        "the example's tasks programs no longer name their database"
    );
}

/// Runs a plan with its proxies file where the plan's proxy program reads
/// it and the target's fault switches set; returns its results and a log.
fn run(plan: &str, proxies: &str, faults: &str, tag: &str) -> (RunResults, String) {
    build_sut();
    let run = run_plan_with(plan, None, &format!("netshape-{tag}"), |cmd, dir| {
        let file = dir.join(PROXIES);
        std::fs::create_dir_all(file.parent().unwrap()).unwrap();
        std::fs::write(&file, proxies).unwrap();
        cmd.current_dir(dir).env("SUT_FAULTS", faults);
    });
    (
        run.results(),
        format!("{}\n{}\n{}", run.stdout, run.stderr, run.json),
    )
}

/// The latency the example's N1 injects, in milliseconds.
fn planned_latency_ms() -> u64 {
    let mut plan = example(PLAN);
    let ms = chaos_table(&mut plan, "N1")["fault"]["network"]["latency_ms"]
        .as_integer()
        .unwrap();
    u64::try_from(ms).unwrap()
}

/// The status and number of claims of task `id` in the target's database.
fn task_in_database(db: &TestDatabase, id: &str) -> (String, i64) {
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        let pool = sqlx::PgPool::connect(&db.url).await.unwrap();
        let row: (String, i64) = sqlx::query_as("SELECT status, attempts FROM runs WHERE id = $1")
            .bind(id)
            .fetch_one(&pool)
            .await
            .unwrap_or_else(|e| panic!("task {id} is not in the target's database: {e}"));
        pool.close().await;
        row
    })
}

#[test]
fn clean_tasks_target_is_go_through_database_latency_and_a_database_link_down() {
    let _one = ONE_RUN.lock().unwrap_or_else(|e| e.into_inner());
    let db = TestDatabase::new("netshape_clean");
    let (plan, proxies) = plan_on(&["N1", "N2"], Some(&db));
    let (results, log) = run(&plan, &proxies, "", "clean");
    assert_eq!(
        results.verdict,
        Some(Verdict::Go),
        "failed: {:?}\n{log}",
        failed_criteria(&results)
    );

    // N1: the latency the plan asked for was felt through the link.
    assert_database_latency_felt(&results, "N1", "tasks_postgres", planned_latency_ms());

    // N2: the link was down (the proxy disabled) while the four tasks were
    // in flight; reads failed then and not after; every task ended, none
    // twice; readiness passed again after the link came back.
    let n2 = assert_database_down_ridden_out(&results, "N2");
    assert_eq!(
        (n2.link.as_str(), n2.proxy.as_str()),
        ("database", "tasks_postgres")
    );
}

#[test]
fn a_worker_that_drops_tasks_on_a_database_error_turns_n2_no_go_naming_them() {
    let _one = ONE_RUN.lock().unwrap_or_else(|e| e.into_inner());
    let db = TestDatabase::new("netshape_lose");
    let (plan, proxies) = plan_on(&["N2"], Some(&db));
    let (results, log) = run(&plan, &proxies, "lose-on-db-error", "lose");
    assert_eq!(results.verdict, Some(Verdict::NoGo), "{log}");
    let t = test(&results, "N2");
    assert_eq!(t.error, None, "the fault itself went as planned: {log}");
    assert!(network(&results, "N2").removal_verified, "{log}");
    let m = chaos(&results, "N2");
    assert_eq!(m.jobs_in_flight_at_fault, 4, "{m:?}");
    assert!(m.stuck > 0, "{m:?}");
    assert!(
        failed_criteria(&results).contains(&"N2.stuck".to_owned()),
        "{log}"
    );
    // Each lost task is named by the id the target gave it (from its
    // Location header), and the target's database still has it `running`,
    // claimed once: dropped, never taken back.
    let named: Vec<&str> = t
        .warnings
        .iter()
        .filter_map(|w| {
            w.strip_prefix("run ")?
                .strip_suffix(" not terminal by the deadline")
        })
        .collect();
    assert_eq!(named.len() as u64, m.stuck, "{:?}", t.warnings);
    for id in named {
        assert_eq!(
            task_in_database(&db, id),
            ("running".to_owned(), 1),
            "task {id}"
        );
    }
}

#[test]
fn tasks_on_sqlite_never_use_the_database_link_so_n1_is_not_felt_and_no_go() {
    let _one = ONE_RUN.lock().unwrap_or_else(|e| e.into_inner());
    let (plan, proxies) = plan_on(&["N1"], None);
    let (results, log) = run(&plan, &proxies, "", "sqlite");
    assert_eq!(results.verdict, Some(Verdict::NoGo), "{log}");
    // The latency was put on the proxy and taken off again, but no
    // connection went through it: the test is an error saying so, the
    // reads never waited, and the criterion that the fault was felt fails.
    let error = test(&results, "N1").error.clone().unwrap_or_default();
    assert!(error.contains("took no effect"), "{error}\n{log}");
    assert!(error.contains("nothing used link database"), "{error}");
    let n1 = network(&results, "N1");
    assert_eq!(n1.connections_affected, Some(0), "{n1:?}");
    assert!(n1.removal_verified, "{n1:?}");
    let l1 = load(&results, "N1");
    assert!(l1.during.count > 0, "{l1:?}");
    assert!(
        (l1.during.p95_ms as u64) < planned_latency_ms(),
        "reads waited a latency nobody put on their path: {l1:?}"
    );
    assert!(
        failed_criteria(&results).contains(&"N1.during.p95_ms".to_owned()),
        "{log}"
    );
}
