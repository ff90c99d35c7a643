//! Network faults in chaos tests, end to end on 127.0.0.1: a local HTTP
//! target behind the built-in proxy, its Toxiproxy API served by the
//! server's `proxy_api`, and a plan whose chaos test puts a toxic on the
//! link while background load runs through it. Figures are computed from
//! the results (the windows the load was split into, the proxy's counters
//! in the evidence), never from the wall clock of the test itself.

use axum::response::IntoResponse;
use axum::routing::get;
use axum::Router;
use engine::events::NullSink;
use engine::metrics::resilience::{FaultEvidence, NetworkFaultEvidence};
use engine::metrics::windows::LoadThroughFault;
use engine::metrics::TestMetrics;
use engine::netfault::{NetFaultOptions, ProxyRegistry};
use engine::results::{RunResults, TestResult};
use serde_json::json;
use std::net::SocketAddr;
use std::sync::Arc;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

async fn serve(router: Router) -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        let _ = axum::serve(listener, router).await;
    });
    addr
}

/// The target, the built-in proxy in front of it (proxy `sut_api`), and the
/// proxy's API: (registry, proxy address, API address).
async fn setup() -> (Arc<ProxyRegistry>, SocketAddr, SocketAddr) {
    let target = serve(
        Router::new()
            .route("/ok", get(|| async { "ok" }))
            .route("/health", get(|| async { "{\"ok\":true}" })),
    )
    .await;
    in_front_of(target).await
}

/// The built-in proxy `sut_api` in front of `target`, and its API:
/// (registry, proxy address, API address).
async fn in_front_of(target: SocketAddr) -> (Arc<ProxyRegistry>, SocketAddr, SocketAddr) {
    let registry = Arc::new(ProxyRegistry::new(NetFaultOptions {
        seed: 19,
        ..NetFaultOptions::default()
    }));
    let view = registry
        .create(
            &json!({"name": "sut_api", "listen": "127.0.0.1:0", "upstream": target.to_string()}),
        )
        .unwrap();
    let api = serve(server::proxy_api::router(registry.clone(), true)).await;
    (registry, view.listen.parse().unwrap(), api)
}

fn plan(proxy: SocketAddr, api: &str, fault: &str) -> String {
    format!(
        r#"
[plan]
name = "network faults"

[environments.local]
base_url = "http://{proxy}"
allowed_hosts = ["127.0.0.1"]
network = {{ api = "{api}", links = {{ api = "sut_api" }} }}

[services.api]
health = "/health"
restart.http = {{ url = "http://{proxy}/restart" }}

[[tests]]
id = "N1"
[tests.chaos]
service = "api"
deadline_s = 20
baseline_s = 2
after_s = 2
background_load = [{{ path = "/ok", rate = 20, concurrency = 20, timeout_ms = 3000 }}]
fault.network = {fault}
"#
    )
}

async fn run(text: &str) -> RunResults {
    let loaded = engine::plan::load_str(text, "network.toml").unwrap();
    engine::runner::run_plan(&loaded, None, CancellationToken::new(), Arc::new(NullSink))
        .await
        .unwrap()
}

fn test(results: &RunResults) -> &TestResult {
    results.tests.iter().find(|t| t.id == "N1").unwrap()
}

fn load(t: &TestResult) -> LoadThroughFault {
    match &t.metrics {
        Some(TestMetrics::Chaos(m)) => *m.load.clone().expect("load through the fault"),
        other => panic!("not chaos metrics: {other:?}"),
    }
}

fn network(t: &TestResult) -> (&FaultEvidence, &NetworkFaultEvidence) {
    let f = t.faults.first().expect("fault evidence");
    (f, f.network.as_ref().expect("network evidence"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn latency_on_the_link_raises_the_loads_p95_by_about_the_latency() {
    let (registry, proxy, api) = setup().await;
    let latency = 400.0;
    let results = run(&plan(
        proxy,
        &format!("http://{api}"),
        r#"{ link = "api", toxic = "latency", latency_ms = 400, duration_s = 3 }"#,
    ))
    .await;
    let t = test(&results);
    assert_eq!(t.error, None, "{t:?}");
    let l = load(t);
    assert!(
        l.before.count > 0 && l.during.count > 0 && l.after.count > 0,
        "{l:?}"
    );
    // Every answer during the window waits the latency once (downstream):
    // the window's p95 holds it, and stands above the baseline's by most
    // of it. A busy machine only adds to a latency, so no upper bound.
    assert!(
        l.during.p95_ms >= latency * 0.9,
        "p95 during the fault {} ms for {latency} ms of latency: {l:?}",
        l.during.p95_ms
    );
    let rise = l.during.p95_ms - l.before.p95_ms;
    assert!(
        rise >= latency * 0.5,
        "p95 rose by {rise} ms for {latency} ms of latency: {l:?}"
    );
    // Once removed, answers no longer wait it.
    assert!(
        l.after.p95_ms < l.during.p95_ms,
        "still slow after removal: {l:?}"
    );
    let (fault, n) = network(t);
    assert_eq!(fault.method, "network");
    assert_eq!(n.toxic, "latency");
    assert_eq!(n.direction, "downstream");
    assert_eq!(n.attributes.get("latency"), Some(&400));
    assert!(n.connections_affected.unwrap_or(0) > 0, "{n:?}");
    assert!(n.bytes_downstream.unwrap_or(0) > 0, "{n:?}");
    assert!(n.removal_verified, "{n:?}");
    assert!(n.removed_at_ms.unwrap() >= n.injected_at_ms + 3000, "{n:?}");
    // Nothing left on the proxy.
    assert!(registry.toxics("sut_api").unwrap().is_empty());
    // The recovery is measured: the watched service's health after removal.
    assert!(fault.recovery_ms.unwrap() >= 3000, "{fault:?}");
    assert!(!fault.timeline.is_empty());
    // The report shows it like a restart: a row of the restarts table, and
    // its proof with the injected parameters and the counters.
    let files = server::report::pack_files(&results, None).unwrap();
    let md = files
        .iter()
        .find(|(name, _)| name == "report.md")
        .map(|(_, b)| String::from_utf8_lossy(b).into_owned())
        .unwrap();
    assert!(md.contains("Restarts Performed"), "{md}");
    assert!(
        md.contains("latency on downstream of sut_api (link api)"),
        "{md}"
    );
    assert!(md.contains("removed (verified)"), "{md}");
    assert!(
        md.contains("**Network Fault Proof (api, observed):**"),
        "{md}"
    );
    assert!(md.contains("connections affected"), "{md}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_link_down_fails_requests_during_the_window_and_recovers_after() {
    let (registry, proxy, api) = setup().await;
    let results = run(&plan(
        proxy,
        &format!("http://{api}"),
        r#"{ link = "api", toxic = "down", duration_s = 2 }"#,
    ))
    .await;
    let t = test(&results);
    assert_eq!(t.error, None, "{t:?}");
    let l = load(t);
    assert_eq!(l.before.fail, 0, "{l:?}");
    assert!(
        l.during.fail > 0,
        "no errors while the link was down: {l:?}"
    );
    assert!(
        l.after.count > 0 && l.after.fail == 0,
        "not recovered: {l:?}"
    );
    let (fault, n) = network(t);
    assert!(n.seen_at_proxy.contains("enabled=false"), "{n:?}");
    assert!(n.removal_verified, "{n:?}");
    assert!(registry.get("sut_api").unwrap().enabled);
    // The health probes through the link failed during the window and
    // passed again after it.
    assert!(fault.timeline.iter().any(|p| !p.healthy), "{fault:?}");
    assert!(
        fault.timeline.last().is_some_and(|p| p.healthy),
        "{fault:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unreachable_proxy_api_is_an_error_and_nothing_is_injected() {
    let (registry, proxy, _api) = setup().await;
    // A port nothing listens on.
    let closed = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let dead = closed.local_addr().unwrap();
    drop(closed);
    let results = run(&plan(
        proxy,
        &format!("http://{dead}"),
        r#"{ link = "api", toxic = "latency", latency_ms = 100, duration_s = 2 }"#,
    ))
    .await;
    let t = test(&results);
    let error = t.error.clone().unwrap_or_default();
    assert!(error.contains("unreachable"), "{error}");
    assert!(error.contains("nothing was injected"), "{error}");
    assert!(t.faults.is_empty());
    assert_eq!(results.verdict, Some(engine::run::Verdict::NoGo));
    assert!(registry.toxics("sut_api").unwrap().is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_toxic_applied_behind_a_failed_answer_is_undone_at_once() {
    let (registry, proxy, _) = setup().await;
    // An API that applies the toxic, then answers 500 (a proxy that timed
    // out its own answer): whether it took effect is unknown to the run.
    let api = serve(server::proxy_api::router(registry.clone(), true).layer(
        axum::middleware::from_fn(
            |req: axum::extract::Request, next: axum::middleware::Next| async move {
                let adds_toxic = req.method() == axum::http::Method::POST
                    && req.uri().path().ends_with("/toxics");
                let answer = next.run(req).await;
                if adds_toxic {
                    return axum::http::StatusCode::INTERNAL_SERVER_ERROR.into_response();
                }
                answer
            },
        ),
    ))
    .await;
    let results = run(&plan(
        proxy,
        &format!("http://{api}"),
        r#"{ link = "api", toxic = "latency", latency_ms = 100, duration_s = 2 }"#,
    ))
    .await;
    let t = test(&results);
    let error = t.error.clone().unwrap_or_default();
    assert!(error.contains("answered 500"), "{error}");
    assert!(error.contains("so it was undone"), "{error}");
    assert!(!error.contains("nothing was injected"), "{error}");
    assert_eq!(results.verdict, Some(engine::run::Verdict::NoGo));
    assert!(registry.toxics("sut_api").unwrap().is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_aborted_run_removes_its_toxic_and_proves_it() {
    let (registry, proxy, api) = setup().await;
    let text = plan(
        proxy,
        &format!("http://{api}"),
        r#"{ link = "api", toxic = "timeout", duration_s = 15 }"#,
    );
    let loaded = engine::plan::load_str(&text, "network.toml").unwrap();
    let cancel = CancellationToken::new();
    let run = tokio::spawn({
        let cancel = cancel.clone();
        async move {
            engine::runner::run_plan(&loaded, None, cancel, Arc::new(NullSink))
                .await
                .unwrap()
        }
    });
    // Abort once the toxic is in place (a hang guard only).
    let mut polls = 0;
    while registry.toxics("sut_api").unwrap().is_empty() {
        polls += 1;
        assert!(polls < 1200, "the toxic never came");
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    cancel.cancel();
    let results = run.await.unwrap();
    assert!(registry.toxics("sut_api").unwrap().is_empty());
    let t = test(&results);
    let (_, n) = network(t);
    assert_eq!(n.toxic, "timeout");
    assert!(n.removal_verified, "{n:?}");
    assert!(
        n.removed_at_ms.unwrap() < n.injected_at_ms + 15_000,
        "held its whole window despite the abort: {n:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_toxic_the_api_accepted_but_never_applied_is_an_error_not_a_pass() {
    let (registry, proxy, _) = setup().await;
    // An API that answers "added" without adding the toxic, and, like a
    // real Toxiproxy, counts nothing: only asking for the toxic back during
    // the window shows that it was never in place.
    let api = serve(server::proxy_api::router(registry.clone(), true).layer(
        axum::middleware::from_fn(
            |req: axum::extract::Request, next: axum::middleware::Next| async move {
                if req.method() == axum::http::Method::POST && req.uri().path().ends_with("/toxics")
                {
                    let body = axum::body::to_bytes(req.into_body(), 1 << 16)
                        .await
                        .unwrap();
                    let toxic: serde_json::Value = serde_json::from_slice(&body).unwrap();
                    return axum::Json(toxic).into_response();
                }
                let answer = next.run(req).await;
                let (parts, body) = answer.into_parts();
                let body = axum::body::to_bytes(body, 1 << 20).await.unwrap();
                let mut value: serde_json::Value = match serde_json::from_slice(&body) {
                    Ok(v) => v,
                    Err(_) => return axum::response::Response::from_parts(parts, body.into()),
                };
                if let Some(proxy) = value.as_object_mut() {
                    proxy.remove("stats");
                }
                if let Some(proxies) = value.as_object_mut() {
                    for p in proxies.values_mut() {
                        if let Some(p) = p.as_object_mut() {
                            p.remove("stats");
                        }
                    }
                }
                (parts.status, axum::Json(value)).into_response()
            },
        ),
    ))
    .await;
    let results = run(&plan(
        proxy,
        &format!("http://{api}"),
        r#"{ link = "api", toxic = "latency", latency_ms = 300, duration_s = 2 }"#,
    ))
    .await;
    let t = test(&results);
    let (fault, n) = network(t);
    assert_eq!(n.connections_affected, None, "{n:?}");
    assert_eq!(n.seen_in_effect, Some(false), "{n:?}");
    assert!(!fault.proven());
    let error = t.error.clone().unwrap_or_default();
    assert!(error.contains("not in place during its window"), "{error}");
    assert!(error.contains("did not list toxic"), "{error}");
    assert_eq!(results.verdict, Some(engine::run::Verdict::NoGo));
    assert!(registry.toxics("sut_api").unwrap().is_empty());
}

/// A job service behind the built-in proxy whose runs stay `running` until
/// the test lets them finish: (registry, proxy address, API address, the
/// switch that finishes them).
async fn setup_jobs() -> (
    Arc<ProxyRegistry>,
    SocketAddr,
    SocketAddr,
    Arc<std::sync::atomic::AtomicBool>,
) {
    use axum::extract::{Path, State};
    use axum::routing::post;
    use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
    let done = Arc::new(AtomicBool::new(false));
    let next = Arc::new(AtomicU64::new(0));
    let target = serve(
        Router::new()
            .route("/health", get(|| async { "{\"ok\":true}" }))
            .route(
                "/jobs",
                post(
                    |State((_, next)): State<(Arc<AtomicBool>, Arc<AtomicU64>)>| async move {
                        let id = next.fetch_add(1, Ordering::SeqCst);
                        axum::Json(json!({ "id": format!("j{id}") }))
                    },
                ),
            )
            .route(
                "/jobs/{id}",
                get(
                    |State((done, _)): State<(Arc<AtomicBool>, Arc<AtomicU64>)>,
                     Path(id): Path<String>| async move {
                        let status = if done.load(Ordering::SeqCst) {
                            "done"
                        } else {
                            "running"
                        };
                        axum::Json(json!({ "id": id, "state": status }))
                    },
                ),
            )
            .with_state((done.clone(), next)),
    )
    .await;
    let (registry, proxy, api) = in_front_of(target).await;
    (registry, proxy, api, done)
}

/// A chaos test with two runs in flight and a latency held until they
/// settle, its deadline `deadline_s`.
fn until_plan(proxy: SocketAddr, api: SocketAddr, deadline_s: u32) -> String {
    format!(
        r#"
[plan]
name = "held until the runs settle"

[environments.local]
base_url = "http://{proxy}"
allowed_hosts = ["127.0.0.1"]
network = {{ api = "http://{api}", links = {{ api = "sut_api" }} }}

[jobs]
create_path = "/jobs"
create_body = {{ kind = "{{{{kind}}}}" }}
id_pointer = "/id"
status_path = "/jobs/{{id}}"
status_pointer = "/state"
in_flight_statuses = ["running"]
terminal_statuses = ["done"]
success_statuses = ["done"]
poll_interval_ms = 100

[[tests]]
id = "N1"
[tests.chaos]
jobs = {{ kind = "slow", count = 2 }}
fault_after_started = 2
deadline_s = {deadline_s}
fault.network = {{ link = "api", toxic = "latency", latency_ms = 20, until = "runs_settled" }}

[[criteria]]
expr = "N1.stuck == 0"
group = "Chaos"
label = "no run stuck"
"#
    )
}

/// Spawns the run of `text`; returns it once the toxic is in place.
async fn run_until_toxic(
    registry: &ProxyRegistry,
    text: String,
) -> tokio::task::JoinHandle<RunResults> {
    let run = tokio::spawn(async move { run(&text).await });
    // A hang guard only: the toxic comes once both runs are in flight.
    let mut polls = 0;
    while registry.toxics("sut_api").unwrap().is_empty() {
        polls += 1;
        assert!(polls < 1200, "the toxic never came");
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    run
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_fault_held_until_the_runs_settle_stays_until_they_do() {
    let (registry, proxy, api, done) = setup_jobs().await;
    let run = run_until_toxic(&registry, until_plan(proxy, api, 30)).await;
    // The runs are still going, so the fault holds whatever the time: it
    // is still in place after several reads of their status.
    let client = reqwest::Client::new();
    for _ in 0..5 {
        let status: serde_json::Value = client
            .get(format!("http://{proxy}/jobs/j0"))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert_eq!(status["state"], "running");
        assert_eq!(registry.toxics("sut_api").unwrap().len(), 1);
    }
    let finished_at_ms = engine::run::now_ms();
    done.store(true, std::sync::atomic::Ordering::SeqCst);
    let results = run.await.unwrap();
    assert!(registry.toxics("sut_api").unwrap().is_empty());
    let t = test(&results);
    assert_eq!(t.error, None, "{t:?}");
    let (fault, n) = network(t);
    assert_eq!(n.until.as_deref(), Some("runs_settled"), "{n:?}");
    assert_eq!(n.until_met, Some(true), "{n:?}");
    assert_eq!(n.planned_ms, 30_000, "the bound is the deadline: {n:?}");
    assert!(
        n.removed_at_ms.is_some_and(|at| at >= finished_at_ms),
        "removed before the runs finished: {n:?}"
    );
    assert!(n.removal_verified, "{n:?}");
    assert!(
        fault.observation.contains("held until runs_settled: met"),
        "{}",
        fault.observation
    );
    let Some(TestMetrics::Chaos(m)) = &t.metrics else {
        panic!("{t:?}")
    };
    assert_eq!((m.runs_completed, m.stuck), (2, 0), "{m:?}");
    assert_eq!(results.verdict, Some(engine::run::Verdict::Go));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn runs_that_never_settle_end_the_hold_at_the_deadline_and_are_stuck() {
    let (registry, proxy, api, _never) = setup_jobs().await;
    let run = run_until_toxic(&registry, until_plan(proxy, api, 3)).await;
    let results = run.await.unwrap();
    assert!(registry.toxics("sut_api").unwrap().is_empty());
    let t = test(&results);
    let (_, n) = network(t);
    assert_eq!(n.until_met, Some(false), "{n:?}");
    assert!(n.removal_verified, "{n:?}");
    assert!(
        t.warnings
            .iter()
            .any(|w| w.contains("held until runs_settled, which was not met within 3 s")),
        "{:?}",
        t.warnings
    );
    let Some(TestMetrics::Chaos(m)) = &t.metrics else {
        panic!("{t:?}")
    };
    assert_eq!(m.stuck, 2, "{m:?}");
    assert_eq!(results.verdict, Some(engine::run::Verdict::NoGo));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn held_until_runs_settle_with_no_run_submitted_is_an_error_and_injects_nothing() {
    let (registry, proxy, api, _) = setup_jobs().await;
    // Every submission is refused (no such path), so there is nothing to
    // wait for: holding "until the runs settle" would end at once.
    let text = until_plan(proxy, api, 10)
        .replace("create_path = \"/jobs\"", "create_path = \"/no-jobs-here\"")
        .replace("fault_after_started = 2", "fault_after_ms = 100");
    let results = run(&text).await;
    let t = test(&results);
    let error = t.error.as_deref().unwrap_or_default();
    assert!(
        error.contains("none was submitted (2 refused); no fault was injected"),
        "{t:?}"
    );
    assert!(registry.toxics("sut_api").unwrap().is_empty());
    assert_ne!(results.verdict, Some(engine::run::Verdict::Go));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_down_on_a_proxy_already_disabled_is_an_error_and_leaves_it_as_it_was() {
    let (registry, proxy, api) = setup().await;
    // A second link, to a proxy someone took down before the run.
    registry
        .create(&json!({
            "name": "sut_cache", "listen": "127.0.0.1:0",
            "upstream": proxy.to_string(), "enabled": false
        }))
        .unwrap();
    let text = plan(
        proxy,
        &format!("http://{api}"),
        r#"{ link = "cache", toxic = "down", duration_s = 2 }"#,
    )
    .replace(
        "links = { api = \"sut_api\" }",
        "links = { api = \"sut_api\", cache = \"sut_cache\" }",
    );
    let results = run(&text).await;
    let error = test(&results).error.clone().unwrap_or_default();
    assert!(
        error.contains("proxy \"sut_cache\" of link \"cache\" is already disabled")
            && error.contains("nothing was injected"),
        "{error}"
    );
    assert!(
        !registry.get("sut_cache").unwrap().enabled,
        "someone else's down was undone"
    );
}
