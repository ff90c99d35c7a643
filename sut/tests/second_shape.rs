//! The `tasks` shape (`--shape tasks` / `SUT_SHAPE=tasks`) over the same
//! worker: 202 + `Location` creation with header-only idempotency, numeric
//! phases, the outputs array, the watch stream (opaque ids, an id-less
//! `end` event, resume by opaque id, `no-stream-resume`), the boot id
//! across an API restart, the readiness object, the backlog, files whose
//! sha256 matches the digest, and every fault switch showing through it.
//! APIs listen on a port the system picks; every wait is a bounded poll.

mod common;

use common::{read_sse_from, sha256_hex, SseEvent, Stack};
use serde_json::{json, Value};
use std::collections::HashSet;
use std::time::{Duration, Instant};

const TASKS: &[&str] = &["--shape", "tasks"];
const FAST: &[&str] = &["--step-ms", "40", "--run-steps", "3", "--poll-ms", "50"];
const LEASE: &[&str] = &[
    "--lease-ms",
    "1200",
    "--worker-concurrency",
    "4",
    "--poll-ms",
    "50",
];

/// `POST /api/v2/tasks`: (status, Location header, body).
async fn submit(
    stack: &Stack,
    kind: &str,
    input: Value,
    key: Option<&str>,
) -> (u16, Option<String>, Value) {
    let mut req = stack
        .http
        .post(format!("{}/api/v2/tasks", stack.base()))
        .json(&json!({ "type": kind, "input": input }));
    if let Some(key) = key {
        req = req.header("idempotency-key", key);
    }
    let r = req.send().await.unwrap();
    let status = r.status().as_u16();
    let location = r
        .headers()
        .get("location")
        .map(|v| v.to_str().unwrap().to_owned());
    (status, location, r.json().await.unwrap_or(Value::Null))
}

/// Submits a task that must be accepted; returns its id (from `Location`).
async fn create(stack: &Stack, kind: &str, input: Value) -> String {
    let (status, location, body) = submit(stack, kind, input, None).await;
    assert_eq!(status, 202, "{body}");
    id_of(&location.expect("Location header"))
}

/// The task id at the end of a `Location`.
fn id_of(location: &str) -> String {
    let id = location
        .strip_prefix("/api/v2/tasks/")
        .unwrap_or_else(|| panic!("Location {location} is not a task"));
    assert!(uuid::Uuid::parse_str(id).is_ok(), "{location}");
    id.to_owned()
}

/// `GET /api/v2/tasks/{id}`'s `task` object.
async fn task(stack: &Stack, id: &str) -> Value {
    let (status, body) = stack.get_json(&format!("/api/v2/tasks/{id}")).await;
    assert_eq!(status, 200, "task {id}: {body}");
    body["task"].clone()
}

/// Polls until every task is done; asserts phases only move forward.
async fn wait_done(stack: &Stack, ids: &[String], within: Duration) -> Vec<Value> {
    let deadline = Instant::now() + within;
    let mut seen = vec![0; ids.len()];
    loop {
        let mut tasks = Vec::new();
        for (i, id) in ids.iter().enumerate() {
            let t = task(stack, id).await;
            let phase = t["phase"].as_i64().unwrap();
            assert!((0..=3).contains(&phase), "{t}");
            assert!(phase >= seen[i], "phase went back: {t}");
            seen[i] = phase;
            assert_eq!(t["done"], phase >= 2, "{t}");
            tasks.push(t);
        }
        if tasks.iter().all(|t| t["done"] == true) {
            return tasks;
        }
        if Instant::now() >= deadline {
            panic!(
                "tasks not done within {within:?}: {tasks:?}\n{}",
                stack.logs_text()
            );
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// `GET /api/v2/tasks/{id}/outputs`'s items.
async fn outputs(stack: &Stack, id: &str) -> Vec<Value> {
    let (status, body) = stack.get_json(&format!("/api/v2/tasks/{id}/outputs")).await;
    assert_eq!(status, 200, "outputs of {id}: {body}");
    assert_eq!(body.as_object().unwrap().len(), 1, "only items: {body}");
    body["items"].as_array().unwrap().clone()
}

/// Reads the watch stream (bounded by time and count).
async fn watch(
    stack: &Stack,
    id: &str,
    last: Option<&str>,
    within: Duration,
    max: Option<usize>,
) -> Vec<SseEvent> {
    read_sse_from(
        &stack.http,
        &format!("{}/api/v2/tasks/{id}/watch", stack.base()),
        last,
        within,
        max,
    )
    .await
    .unwrap_or_else(|e| panic!("watch {id}: {e}\n{}", stack.logs_text()))
}

/// Reads the stream until `n` progress events have come (they follow
/// `queued` and `claimed`).
async fn wait_progress(stack: &Stack, id: &str, n: usize) {
    let events = watch(stack, id, None, Duration::from_secs(20), Some(2 + n)).await;
    let progress = events.iter().filter(|e| e.event == "progress").count();
    assert_eq!(progress, n, "task {id}: {events:?}\n{}", stack.logs_text());
}

/// `GET /api/v2/files/{key}`: the stored bytes.
async fn file(stack: &Stack, key: &str) -> Vec<u8> {
    let r = stack
        .http
        .get(format!("{}/api/v2/files/{key}", stack.base()))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200, "file {key}");
    r.bytes().await.unwrap().to_vec()
}

/// The `n` of an event's data.
fn n(e: &SseEvent) -> i64 {
    e.data["n"].as_i64().unwrap()
}

/// Checks a finished stream: opaque unique ids on every event but the
/// last, which is the id-less `end`; returns the events before it.
fn check_ended(events: &[SseEvent], id: &str, phase: i64) -> Vec<SseEvent> {
    let (end, rest) = events.split_last().expect("events");
    assert_eq!(end.event, "end", "{events:?}");
    assert_eq!(end.raw_id, None, "the end event has no id");
    assert_eq!(end.data, json!({ "task": id, "phase": phase }));
    let mut ids = HashSet::new();
    for e in rest {
        let raw = e.raw_id.as_deref().expect("every event but end has an id");
        assert!(raw.starts_with("ev-") && raw.len() > 3, "{raw}");
        assert!(e.id.is_none(), "id {raw} is a number");
        assert!(ids.insert(raw.to_owned()), "repeated id {raw}");
        assert_eq!(e.data["task"], id);
        assert_eq!(e.data["kind"], e.event.as_str());
        assert!(e.data.get("final").is_none(), "{:?}", e.data);
        assert_ne!(e.event, "end");
    }
    rest.to_vec()
}

fn raw_ids(events: &[SseEvent]) -> Vec<String> {
    events.iter().filter_map(|e| e.raw_id.clone()).collect()
}

#[tokio::test]
async fn creation_answers_202_with_a_location_and_is_idempotent_by_header() {
    let mut stack = Stack::new(&[]);
    stack.start_api_any_port(TASKS).await;
    let (status, location, body) = submit(&stack, "simulation", json!({ "seed": 1 }), None).await;
    assert_eq!(status, 202);
    assert_eq!(body, json!({ "accepted": true }), "no id in the body");
    let location = location.expect("Location header");
    let id = id_of(&location);
    let (_, got) = stack.get_json(&location).await;
    assert_eq!(
        got,
        json!({ "task": {
            "ref": id, "type": "simulation", "phase": 0, "done": false, "ok": null,
            "attempts": 0, "error": null,
            "output": { "file": null, "digest": { "sha256": null }, "store": null },
        }})
    );
    // The same key and body: 202 again, the same task.
    let (first, a, _) = submit(&stack, "export", json!({ "seed": 2 }), Some("once")).await;
    let (second, b, body) = submit(&stack, "export", json!({ "seed": 2 }), Some("once")).await;
    assert_eq!((first, second), (202, 202));
    assert_eq!(a, b);
    assert_eq!(body, json!({ "accepted": true }));
    // The same key with another body is a conflict.
    let (status, _, _) = submit(&stack, "export", json!({ "seed": 3 }), Some("once")).await;
    assert_eq!(status, 409);
    let (status, _, _) = submit(&stack, "calibration", json!({ "seed": 2 }), Some("once")).await;
    assert_eq!(status, 409);
    // Concurrent creations with one key: one task.
    let mut handles = Vec::new();
    for _ in 0..8 {
        let http = stack.http.clone();
        let url = format!("{}/api/v2/tasks", stack.base());
        handles.push(tokio::spawn(async move {
            let r = http
                .post(url)
                .header("idempotency-key", "burst")
                .json(&json!({ "type": "export" }))
                .send()
                .await
                .unwrap();
            assert_eq!(r.status(), 202);
            r.headers()["location"].to_str().unwrap().to_owned()
        }));
    }
    let mut locations = HashSet::new();
    for h in handles {
        locations.insert(h.await.unwrap());
    }
    assert_eq!(locations.len(), 1, "{locations:?}");
    // Without a key every request is a new task.
    let x = create(&stack, "export", json!({})).await;
    let y = create(&stack, "export", json!({})).await;
    assert_ne!(x, y);
    // The key is a header only; bad bodies and unknown tasks are refused.
    let (status, _) = stack
        .post_json(
            "/api/v2/tasks",
            &json!({ "type": "export", "input": {}, "idempotency_key": "k" }),
        )
        .await;
    assert_eq!(status, 400);
    let (status, _, _) = submit(&stack, "nope", json!({}), None).await;
    assert_eq!(status, 400);
    let (status, _, _) = submit(&stack, "export", json!({ "steps": 0 }), None).await;
    assert_eq!(status, 400);
    let (status, _, _) = submit(&stack, "export", json!({}), Some("")).await;
    assert_eq!(status, 400);
    for path in [
        "/api/v2/tasks/nope",
        "/api/v2/tasks/nope/outputs",
        "/api/v2/tasks/nope/watch",
        "/api/v2/files/reps/nope.json",
    ] {
        let (status, _) = stack.get_json(path).await;
        assert_eq!(status, 404, "{path}");
    }
    // The other shape's routes are not served.
    for path in ["/health", "/health/ready", "/metrics/queue", "/runs/nope"] {
        let (status, _) = stack.get_json(path).await;
        assert_eq!(status, 404, "{path}");
    }
    let (status, _) = stack.post_json("/runs", &json!({ "kind": "export" })).await;
    assert_eq!(status, 404);
}

#[tokio::test]
async fn tasks_reach_phase_2_with_one_output_and_a_file_matching_its_digest() {
    let mut stack = Stack::new(&["--step-ms", "60", "--run-steps", "4", "--poll-ms", "50"]);
    // The shape from the environment this time.
    stack.env.push(("SUT_SHAPE".into(), "tasks".into()));
    stack.start_api_any_port(&[]).await;
    // No worker yet: not ready, and the readiness object says why.
    let (status, ready) = stack.get_json("/api/v2/ready").await;
    assert_eq!(status, 503, "{ready}");
    assert_eq!(ready["ready"], false);
    let checks = &ready["checks"];
    assert_eq!(checks["db"]["ok"], true);
    assert!(checks["db"]["took_ms"].as_f64().is_some());
    assert_eq!(checks["store"]["ok"], true);
    assert_eq!(checks["store"]["bucket"], "shakedown-staging-artifacts");
    let dir = stack.bucket_dir("shakedown-staging-artifacts");
    assert_eq!(checks["store"]["dir"], dir.display().to_string());
    assert_eq!(checks["workers"]["ok"], false);
    assert_eq!(checks["workers"]["alive"], 0);
    assert!(checks["workers"]["newest"].is_null(), "{ready}");
    // Queued before any worker runs: the backlog counts them all waiting.
    let mut ids = Vec::new();
    for (i, kind) in ["simulation", "calibration", "auto_tune", "export"]
        .iter()
        .enumerate()
    {
        ids.push(create(&stack, kind, json!({ "seed": i })).await);
    }
    let (status, backlog) = stack.get_json("/api/v2/backlog").await;
    assert_eq!(status, 200);
    let stats = &backlog["stats"];
    assert_eq!(stats["waiting"], 4, "{backlog}");
    assert_eq!(stats["active"], 0);
    assert!(stats["oldest_waiting_ms"].as_i64().is_some(), "{backlog}");

    stack.start_worker(&[]);
    let deadline = Instant::now() + Duration::from_secs(20);
    let ready = loop {
        let (status, ready) = stack.get_json("/api/v2/ready").await;
        if status == 200 {
            break ready;
        }
        assert!(Instant::now() < deadline, "not ready: {ready}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert_eq!(ready["ready"], true);
    let workers = &ready["checks"]["workers"];
    assert_eq!(workers["ok"], true);
    assert_eq!(workers["alive"], 1);
    assert!(workers["took_ms"].as_f64().is_some());
    assert!(workers["newest"]["worker"].as_str().is_some(), "{ready}");
    assert!(workers["newest"]["since_ms"].as_i64().is_some(), "{ready}");

    for t in wait_done(&stack, &ids, Duration::from_secs(60)).await {
        assert_eq!(t["phase"], 2, "{t}");
        assert_eq!(t["ok"], true);
        assert_eq!(t["attempts"], 1);
        assert!(t["error"].is_null());
        let id = t["ref"].as_str().unwrap();
        let output = &t["output"];
        assert_eq!(output["store"], "shakedown-staging-artifacts");
        let key = output["file"].as_str().unwrap();
        let bytes = file(&stack, key).await;
        assert_eq!(
            sha256_hex(&bytes),
            output["digest"]["sha256"].as_str().unwrap()
        );
        assert_eq!(std::fs::read(dir.join(key)).unwrap(), bytes);
        let items = outputs(&stack, id).await;
        assert_eq!(items.len(), 1, "{items:?}");
        assert_eq!(items[0]["task"], id);
        assert_eq!(items[0]["attempt"], 1);
        let rep: Value = serde_json::from_slice(&bytes).unwrap();
        assert_eq!(items[0]["value"], rep["result"]);
    }
    let (_, backlog) = stack.get_json("/api/v2/backlog").await;
    assert_eq!(
        backlog,
        json!({ "stats": {
            "waiting": 0, "active": 0, "finished": 4, "crashed": 0, "oldest_waiting_ms": null,
        }})
    );
}

#[tokio::test]
async fn watch_sends_opaque_ids_an_id_less_end_and_resumes_after_an_id() {
    let mut stack = Stack::new(FAST);
    stack.start_api_any_port(TASKS).await;
    stack.start_worker(&[]);
    let id = create(&stack, "export", json!({ "steps": 4 })).await;
    wait_done(&stack, std::slice::from_ref(&id), Duration::from_secs(30)).await;
    let all = watch(&stack, &id, None, Duration::from_secs(10), None).await;
    let events = check_ended(&all, &id, 2);
    let kinds: Vec<&str> = events.iter().map(|e| e.event.as_str()).collect();
    assert_eq!(
        kinds,
        [
            "queued",
            "claimed",
            "progress",
            "progress",
            "progress",
            "progress",
            "completed"
        ]
    );
    let ns: Vec<i64> = events.iter().map(n).collect();
    assert_eq!(ns, (1..=7).collect::<Vec<_>>());
    // The same ids on every connection.
    let again = watch(&stack, &id, None, Duration::from_secs(10), None).await;
    assert_eq!(raw_ids(&again), raw_ids(&all));
    // After the third event: the fourth on, no repeat, then end.
    let third = events[2].raw_id.clone().unwrap();
    let rest = watch(&stack, &id, Some(&third), Duration::from_secs(10), None).await;
    let rest_events = check_ended(&rest, &id, 2);
    assert_eq!(raw_ids(&rest_events), raw_ids(&events[3..]));
    assert_eq!(n(&rest_events[0]), 4);
    // After the last event: only the end.
    let last = events[6].raw_id.clone().unwrap();
    let tail = watch(&stack, &id, Some(&last), Duration::from_secs(10), None).await;
    assert!(check_ended(&tail, &id, 2).is_empty(), "{tail:?}");
    // An id this task never sent: from the beginning.
    let other = create(&stack, "export", json!({ "steps": 2 })).await;
    wait_done(
        &stack,
        std::slice::from_ref(&other),
        Duration::from_secs(30),
    )
    .await;
    let foreign = watch(&stack, &other, None, Duration::from_secs(10), None).await;
    let foreign_id = foreign[0].raw_id.clone().unwrap();
    for unknown in [foreign_id.as_str(), "ev-0000000000000000", "7"] {
        let replay = watch(&stack, &id, Some(unknown), Duration::from_secs(10), None).await;
        assert_eq!(raw_ids(&replay), raw_ids(&all), "after {unknown}");
    }
}

#[tokio::test]
async fn watch_resumes_across_an_api_restart_and_the_boot_id_changes() {
    let mut stack = Stack::new(&["--poll-ms", "50"]);
    stack.start_api_any_port(TASKS).await;
    let (status, about) = stack.get_json("/api/v2/about").await;
    assert_eq!(status, 200);
    assert_eq!(about["service"], "tasks-api");
    let boot = about["boot"].as_str().unwrap().to_owned();
    assert!(uuid::Uuid::parse_str(&boot).is_ok(), "{about}");
    let up_since = about["up_since"].as_str().unwrap();
    assert!(up_since.contains('T') && up_since.ends_with('Z'), "{about}");
    assert_eq!(about.as_object().unwrap().len(), 3, "no pid: {about}");
    stack.start_worker(&[]);
    let id = create(&stack, "simulation", json!({ "steps": 12, "step_ms": 150 })).await;
    let before = watch(&stack, &id, None, Duration::from_secs(20), Some(4)).await;
    assert_eq!(before.len(), 4, "{before:?}");
    stack.kill_api().await;
    stack.start_api_any_port(TASKS).await;
    let (_, about) = stack.get_json("/api/v2/about").await;
    assert_ne!(about["boot"].as_str().unwrap(), boot, "a new process");
    let last = before[3].raw_id.clone().unwrap();
    let after = watch(&stack, &id, Some(&last), Duration::from_secs(30), None).await;
    let events = check_ended(&after, &id, 2);
    let ns: Vec<i64> = events.iter().map(n).collect();
    assert_eq!(ns.first(), Some(&(n(&before[3]) + 1)), "no gap, no repeat");
    assert_eq!(
        ns,
        (ns[0]..ns[0] + ns.len() as i64).collect::<Vec<_>>(),
        "consecutive"
    );
    assert_eq!(events.last().unwrap().event, "completed");
    let seen: HashSet<String> = raw_ids(&before).into_iter().collect();
    assert!(raw_ids(&events).iter().all(|i| !seen.contains(i)));
}

#[tokio::test]
async fn no_stream_resume_replays_from_the_first_event() {
    let mut stack = Stack::new(&["--poll-ms", "50"]);
    stack
        .start_api_any_port(&["--shape", "tasks", "--fault", "no-stream-resume"])
        .await;
    stack.start_worker(&[]);
    let id = create(&stack, "simulation", json!({ "steps": 8, "step_ms": 100 })).await;
    let before = watch(&stack, &id, None, Duration::from_secs(20), Some(3)).await;
    assert_eq!(before.len(), 3, "{before:?}");
    let last = before[2].raw_id.clone().unwrap();
    let after = watch(&stack, &id, Some(&last), Duration::from_secs(30), None).await;
    let events = check_ended(&after, &id, 2);
    assert_eq!(
        events[0].raw_id, before[0].raw_id,
        "restarted from the first"
    );
    assert_eq!(n(&events[0]), 1);
    assert_eq!(raw_ids(&events[..3]), raw_ids(&before), "repeated events");
}

#[tokio::test]
async fn sigterm_stops_the_api_while_a_watch_is_open() {
    use futures_util::StreamExt;
    let mut stack = Stack::new(&["--poll-ms", "50"]);
    stack.start_api_any_port(TASKS).await;
    stack.start_worker(&[]);
    let id = create(&stack, "export", json!({ "steps": 200, "step_ms": 200 })).await;
    let resp = stack
        .http
        .get(format!("{}/api/v2/tasks/{id}/watch", stack.base()))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let mut body = resp.bytes_stream();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    let mut first = String::new();
    while !first.contains("\n\n") {
        let chunk = tokio::time::timeout_at(deadline, body.next())
            .await
            .expect("a first event within 10 s")
            .expect("stream open")
            .unwrap();
        first.push_str(&String::from_utf8_lossy(&chunk));
    }
    assert!(first.starts_with("id: ev-"), "{first:?}");
    // The stream is open and the task runs for 40 s: the API still stops.
    let status = stack.term_api(Duration::from_secs(15)).await;
    assert!(status.success(), "{status:?}");
    drop(body);
}

#[tokio::test]
async fn corrupt_artifact_and_wrong_bucket_show_through_the_tasks_shape() {
    let mut stack = Stack::new(
        &[
            FAST,
            &[
                "--bucket",
                "acme-staging-artifacts",
                "--fault",
                "wrong-bucket",
            ],
        ]
        .concat(),
    );
    stack.start_api_any_port(TASKS).await;
    stack.start_worker(&["--fault", "corrupt-artifact"]);
    let (_, ready) = stack.get_json("/api/v2/ready").await;
    assert_eq!(
        ready["checks"]["store"]["bucket"],
        "acme-production-artifacts"
    );
    assert_eq!(
        ready["checks"]["store"]["dir"],
        stack
            .bucket_dir("acme-production-artifacts")
            .display()
            .to_string()
    );
    let mut ids = Vec::new();
    for i in 0..3 {
        ids.push(create(&stack, "export", json!({ "seed": i })).await);
    }
    for t in wait_done(&stack, &ids, Duration::from_secs(30)).await {
        assert_eq!(t["phase"], 2, "{t}");
        let output = &t["output"];
        assert_eq!(output["store"], "acme-production-artifacts");
        let key = output["file"].as_str().unwrap();
        assert!(!stack
            .bucket_dir("acme-staging-artifacts")
            .join(key)
            .exists());
        let bytes = file(&stack, key).await;
        assert_ne!(
            sha256_hex(&bytes),
            output["digest"]["sha256"].as_str().unwrap()
        );
        assert_eq!(outputs(&stack, t["ref"].as_str().unwrap()).await.len(), 1);
    }
}

/// Starts the tasks API and a worker, submits `n` tasks of 6×250 ms,
/// SIGKILLs the worker once the first is half-way, and starts a new
/// worker with `faults`; returns the tasks that were running then.
async fn kill_worker_mid_task(faults: &[&str], n: usize) -> (Stack, Vec<String>, Vec<String>) {
    let mut stack = Stack::new(LEASE);
    stack.start_api_any_port(TASKS).await;
    stack.start_worker(faults);
    let mut ids = Vec::new();
    for i in 0..n {
        ids.push(
            create(
                &stack,
                "calibration",
                json!({ "seed": i, "steps": 6, "step_ms": 250 }),
            )
            .await,
        );
    }
    wait_progress(&stack, &ids[0], 2).await;
    stack.kill_worker(0).await;
    let mut running = Vec::new();
    for id in &ids {
        if task(&stack, id).await["phase"] == 1 {
            running.push(id.clone());
        }
    }
    assert!(
        !running.is_empty(),
        "no task in flight when the worker died"
    );
    stack.start_worker(faults);
    (stack, ids, running)
}

#[tokio::test]
async fn duplicate_results_show_as_more_output_items() {
    let (stack, ids, _) = kill_worker_mid_task(&["--fault", "duplicate-results"], 4).await;
    let mut duplicated = 0;
    for t in wait_done(&stack, &ids, Duration::from_secs(60)).await {
        assert_eq!(t["phase"], 2, "{t}");
        let items = outputs(&stack, t["ref"].as_str().unwrap()).await;
        assert_eq!(items.len() as i64, t["attempts"].as_i64().unwrap(), "{t}");
        let attempts: Vec<i64> = items
            .iter()
            .map(|i| i["attempt"].as_i64().unwrap())
            .collect();
        assert_eq!(attempts, (1..=attempts.len() as i64).collect::<Vec<_>>());
        if items.len() > 1 {
            duplicated += 1;
        }
    }
    assert!(duplicated >= 1, "no duplicate output");
}

#[tokio::test]
async fn lose_on_restart_leaves_tasks_in_phase_1() {
    let (stack, ids, running) = kill_worker_mid_task(&["--fault", "lose-on-restart"], 2).await;
    // A task that runs longer than the lease outlives the dead worker's
    // leases; one submitted after it is claimed after they expired, and a
    // healthy worker claims an expired task before a newer one.
    let outlast = create(&stack, "export", json!({ "steps": 6, "step_ms": 250 })).await;
    wait_done(&stack, &[outlast], Duration::from_secs(30)).await;
    let marker = create(&stack, "export", json!({ "steps": 2, "step_ms": 10 })).await;
    wait_done(&stack, &[marker], Duration::from_secs(30)).await;
    for id in &ids {
        let t = task(&stack, id).await;
        if running.contains(id) {
            assert_eq!(t["phase"], 1, "stuck: {t}");
            assert_eq!(t["attempts"], 1, "never claimed again: {t}");
            assert_eq!(t["done"], false);
            assert!(t["ok"].is_null());
        } else {
            assert_eq!(t["phase"], 2, "{t}");
        }
    }
    let (_, backlog) = stack.get_json("/api/v2/backlog").await;
    assert_eq!(
        backlog["stats"]["active"],
        running.len() as i64,
        "{backlog}"
    );
}

#[tokio::test]
async fn graph_switches_act_on_the_tasks_routes() {
    let mut stack = Stack::new(&[
        "--fault",
        "graph-corruption,slow",
        "--graph-corruption-every",
        "3",
        "--slow-ms",
        "10",
    ]);
    stack.start_api_any_port(TASKS).await;
    for i in 0..6 {
        let (status, body) = stack
            .post_json(&format!("/api/v2/nodes/node-{i}/expand"), &json!({}))
            .await;
        assert_eq!(status, 200, "{body}");
        assert_eq!(body["children"].as_array().unwrap().len(), 3, "{body}");
    }
    let (status, check) = stack.get_json("/api/v2/graph/check").await;
    assert_eq!(status, 200);
    assert_eq!(check["dangling_edges"], 2, "{check}");
    assert_eq!(check["integrity_errors"], 2);
    assert_eq!(check["status"], "corrupt");
    let (status, _) = stack
        .post_json("/api/v2/nodes/bad%20id/expand", &json!({}))
        .await;
    assert_eq!(status, 400);
}
