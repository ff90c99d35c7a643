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

use common::network::{assert_database_down_ridden_out, assert_database_latency_felt};
use common::plans::{chaos, example, failed_criteria, keep, run_plan, test, text_on_port};
use common::{build_sut, free_port};
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

    // N1: the latency was felt through the database link.
    assert_database_latency_felt(&results, "N1", "sut_postgres", LATENCY_MS as u64);

    // N2: the link was down (the proxy disabled) while the four runs were
    // in flight; reads failed then and not after; every run ended, none
    // twice; readiness passed again after the link came back.
    let n2 = assert_database_down_ridden_out(&results, "N2");
    assert!(
        n2.connections_cut.is_some_and(|c| c > 0),
        "the API's and worker's open database connections were cut: {n2:?}"
    );
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
