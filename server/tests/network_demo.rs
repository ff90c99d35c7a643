//! Network faults against the demo target (127.0.0.1 only): examples/
//! step3.toml's N1 (2 s of latency on the database link for 10 s, under
//! background load) and N2 (the database link down for 5 s mid-workload),
//! through the built-in proxy the demo puts between its API and worker and
//! PostgreSQL. The clean target is GO and N1's load waits the latency; the
//! `lose-on-db-error` switch turns N2 NO-GO naming the runs it lost; a demo
//! on SQLite has no database link, so N1 is an error, never a pass.
//! Figures come from the results (the load's windows, the proxy's counters
//! in the evidence), never from the wall clock of the test itself.
//!
//! One demo runs at a time: a latency measured beside another demo's load
//! on a small machine measures that load too.

mod common;

use common::plans::{chaos, example, failed_criteria, keep, run_plan, test, text_on_port};
use common::{build_sut, free_port};
use engine::metrics::resilience::NetworkFaultEvidence;
use engine::metrics::windows::LoadThroughFault;
use engine::results::RunResults;
use engine::run::Verdict;
use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};

/// The latency N1 puts on the database link, as step3.toml says.
const LATENCY_MS: f64 = 2000.0;

/// Held while a demo runs (see the module's doc).
static ONE_DEMO: std::sync::Mutex<()> = std::sync::Mutex::new(());

/// The example plan with only the tests named (and their criteria), the
/// target and the proxy's API on the ports given.
fn step3_part(ids: &[&str], sut_port: u16, proxy_port: u16) -> String {
    let mut plan = example("step3.toml");
    keep(&mut plan, ids);
    text_on_port(&plan, 8080, sut_port)
        .replace("127.0.0.1:8474", &format!("127.0.0.1:{proxy_port}"))
}

/// Runs a plan text with `shakedown run`, with `--demo` and the fault
/// switches when `demo`; returns the results and a log for failure
/// messages.
fn run(plan: &str, demo: Option<&[&str]>, tag: &str) -> (RunResults, String) {
    let run = run_plan(plan, demo, &format!("netdemo-{tag}"));
    (
        run.results(),
        format!("{}\n{}\n{}", run.stdout, run.stderr, run.json),
    )
}

fn load(results: &RunResults, id: &str) -> LoadThroughFault {
    *chaos(results, id)
        .load
        .unwrap_or_else(|| panic!("{id} has no load through the fault"))
}

fn network(results: &RunResults, id: &str) -> NetworkFaultEvidence {
    let t = test(results, id);
    assert_eq!(t.faults.len(), 1, "{id}: {t:?}");
    t.faults[0]
        .network
        .clone()
        .unwrap_or_else(|| panic!("{id}: no network evidence"))
}

#[test]
fn clean_demo_is_go_through_database_latency_and_a_database_link_down() {
    let _one = ONE_DEMO.lock().unwrap_or_else(|e| e.into_inner());
    build_sut();
    let plan = step3_part(&["N1", "N2"], free_port(), free_port());
    let (results, log) = run(&plan, Some(&[]), "clean");
    assert_eq!(
        results.verdict,
        Some(Verdict::Go),
        "failed: {:?}\n{log}",
        failed_criteria(&results)
    );

    // N1: the latency sat on the database link, the proxy counted the
    // connections it delayed, and it was removed.
    let n1 = network(&results, "N1");
    assert_eq!(
        (n1.link.as_str(), n1.proxy.as_str()),
        ("database", "sut_postgres")
    );
    assert_eq!(n1.toxic, "latency");
    assert_eq!(n1.attributes.get("latency"), Some(&2000));
    assert!(n1.connections_affected.unwrap_or(0) > 0, "{n1:?}");
    assert!(n1.removal_verified, "{n1:?}");
    // Every read during the window waits the latency at least once (a
    // read makes two or three round trips to PostgreSQL, each delayed):
    // the window's p95 holds it and stands above the baseline's by most of
    // it. A busy machine only adds to a latency, so no upper bound.
    let l1 = load(&results, "N1");
    eprintln!(
        "N1 reads p95: before {:.0} ms, during {:.0} ms, after {:.0} ms",
        l1.before.p95_ms, l1.during.p95_ms, l1.after.p95_ms
    );
    assert!(
        l1.before.count > 0 && l1.during.count > 0 && l1.after.count > 0,
        "{l1:?}"
    );
    assert!(
        l1.during.p95_ms >= LATENCY_MS * 0.9,
        "N1 p95 during the fault {} ms for {LATENCY_MS} ms of latency: {l1:?}",
        l1.during.p95_ms
    );
    let rise = l1.during.p95_ms - l1.before.p95_ms;
    assert!(
        rise >= LATENCY_MS * 0.5,
        "N1 p95 rose by {rise} ms for {LATENCY_MS} ms of latency: {l1:?}"
    );
    assert_eq!(l1.during.fail, 0, "slow, not failing: {l1:?}");
    assert!(
        l1.after.p95_ms < l1.during.p95_ms,
        "still slow after removal: {l1:?}"
    );
    let m1 = chaos(&results, "N1");
    assert_eq!(
        (m1.runs_completed, m1.stuck, m1.duplicates),
        (2, 0, 0),
        "{m1:?}"
    );

    // N2: the link was down (the proxy disabled) while the four runs were
    // in flight; reads failed then and not after; every run ended, none
    // twice; readiness passed again after the link came back.
    let n2 = network(&results, "N2");
    assert_eq!(n2.toxic, "down");
    assert!(n2.seen_at_proxy.contains("enabled=false"), "{n2:?}");
    assert!(
        n2.connections_cut.is_some_and(|c| c > 0),
        "the API's and worker's open database connections were cut: {n2:?}"
    );
    assert!(n2.removal_verified, "{n2:?}");
    let m2 = chaos(&results, "N2");
    assert_eq!(
        m2.jobs_in_flight_at_fault, 4,
        "the fault landed mid-run: {m2:?}"
    );
    assert_eq!(m2.runs_completed + m2.runs_failed, 4, "{m2:?}");
    assert_eq!((m2.stuck, m2.duplicates), (0, 0), "{m2:?}");
    let fault = &test(&results, "N2").faults[0];
    assert!(
        m2.recovery_ms >= n2.planned_ms as f64,
        "recovery is measured from the fault, past its window: {m2:?}"
    );
    assert!(fault.timeline.iter().any(|p| !p.healthy), "{fault:?}");
    assert!(
        fault.timeline.last().is_some_and(|p| p.healthy),
        "{fault:?}"
    );
    let l2 = load(&results, "N2");
    assert!(
        l2.during.fail > 0,
        "no read failed while the link was down: {l2:?}"
    );
    assert!(l2.after.count > 0 && l2.after.fail == 0, "{l2:?}");
}

#[test]
fn a_worker_that_drops_runs_on_a_database_error_turns_n2_no_go_naming_them() {
    let _one = ONE_DEMO.lock().unwrap_or_else(|e| e.into_inner());
    build_sut();
    let plan = step3_part(&["N2"], free_port(), free_port());
    let (results, log) = run(&plan, Some(&["lose-on-db-error"]), "lose");
    assert_eq!(results.verdict, Some(Verdict::NoGo), "{log}");
    let t = test(&results, "N2");
    assert_eq!(t.error, None, "the fault itself went as planned: {log}");
    let m = chaos(&results, "N2");
    assert_eq!(m.jobs_in_flight_at_fault, 4, "{m:?}");
    assert!(m.stuck > 0, "{m:?}");
    assert!(
        failed_criteria(&results).contains(&"N2.stuck".to_owned()),
        "{log}"
    );
    // Each lost run is named, by the id the target gave it.
    let named: Vec<&String> = t
        .warnings
        .iter()
        .filter(|w| w.starts_with("run ") && w.ends_with("not terminal by the deadline"))
        .collect();
    assert_eq!(named.len() as u64, m.stuck, "{:?}", t.warnings);
    assert!(named
        .iter()
        .all(|w| w.split(' ').nth(1).is_some_and(|id| !id.is_empty())));
}

/// `shakedown demo` on SQLite, killed when dropped.
struct SqliteDemo(std::process::Child);

impl Drop for SqliteDemo {
    fn drop(&mut self) {
        let _ = nix::sys::signal::kill(
            nix::unistd::Pid::from_raw(self.0.id() as i32),
            nix::sys::signal::Signal::SIGINT,
        );
        let _ = self.0.wait();
    }
}

#[test]
fn on_sqlite_there_is_no_database_link_and_n1_is_an_error_not_a_pass() {
    let _one = ONE_DEMO.lock().unwrap_or_else(|e| e.into_inner());
    build_sut();
    let (web, sut, proxy) = (free_port(), free_port(), free_port());
    let mut child = Command::new(env!("CARGO_BIN_EXE_shakedown"))
        .args([
            "demo",
            "--no-postgres",
            "--addr",
            &format!("127.0.0.1:{web}"),
        ])
        .args(["--sut-port", &sut.to_string()])
        .args(["--proxy-port", &proxy.to_string()])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let demo = SqliteDemo(child);
    let mut banner = Vec::new();
    for line in BufReader::new(stdout).lines().map_while(Result::ok) {
        let up = line.starts_with("Press Ctrl-C");
        banner.push(line);
        if up {
            break;
        }
    }
    let banner = banner.join("\n");
    assert!(
        banner.contains("Press Ctrl-C"),
        "the demo did not come up: {banner}"
    );
    assert!(
        banner.contains(&format!("proxy API     http://127.0.0.1:{proxy}")),
        "{banner}"
    );
    assert!(banner.contains("database link none"), "{banner}");

    let (results, log) = run(&step3_part(&["N1"], sut, proxy), None, "sqlite");
    drop(demo);
    assert_eq!(results.verdict, Some(Verdict::NoGo), "{log}");
    let t = test(&results, "N1");
    let error = t.error.clone().unwrap_or_default();
    assert!(error.contains("no proxy named \"sut_postgres\""), "{error}");
    assert!(error.contains("nothing was injected"), "{error}");
    assert!(t.faults.is_empty(), "{t:?}");
}
