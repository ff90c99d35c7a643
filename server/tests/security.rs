//! Security tests on the whole router, in process: every state-changing
//! endpoint refused without a session, with a viewer's session and from a
//! foreign Origin (and nothing changed); login answers alike for wrong
//! passwords and unknown users and locks out after repeated failures;
//! sessions are HttpOnly/SameSite=Strict and end at logout; sign-offs follow
//! their rules and go void when the evidence changes; share links open the
//! report without an account until revoked or expired.

use axum::body::Body;
use axum::http::{header, Request, StatusCode};
use axum::Router;
use engine::access::Role;
use engine::access_store::AccessStore;
use engine::results::{
    CriterionResult, EnvironmentInfo, PlanInfo, RunResults, ToolInfo, SCHEMA_VERSION,
};
use engine::run::{now_ms, RunStatus, RunSummary, Verdict};
use engine::store::RunStore;
use http_body_util::BodyExt;
use serde_json::{json, Value};
use server::auth::{password, token, AuthArgs};
use server::db::{testing, Db};
use server::web::{router, AppState};
use tower::ServiceExt;

const PASSWORD: &str = "correct horse battery staple";
const HOST: &str = "shakedown.test:3000";
const ORIGIN: &str = "http://shakedown.test:3000";

struct Site {
    app: Router,
    db: Db,
    _dir: tempfile::TempDir,
    evidence: std::path::PathBuf,
}

async fn site() -> Site {
    let (db, dir) = testing::sqlite().await;
    let evidence = dir.path().join("evidence");
    std::fs::create_dir_all(&evidence).unwrap();
    let state = AppState::new(
        db.clone(),
        std::sync::Arc::new(server::evidence::store::LocalStore::new(&evidence)),
        dir.path().join("site"),
        dir.path().join("plans"),
        AuthArgs::default(),
    );
    let hash = password::hash(PASSWORD).unwrap();
    for role in Role::ALL {
        db.add_user(role.as_str(), role, &hash, now_ms())
            .await
            .unwrap();
    }
    Site {
        app: router(state),
        db,
        _dir: dir,
        evidence,
    }
}

struct Answer {
    status: StatusCode,
    headers: axum::http::HeaderMap,
    body: String,
}

impl Answer {
    fn json(&self) -> Value {
        serde_json::from_str(&self.body).unwrap_or(Value::Null)
    }
}

async fn send(app: &Router, req: Request<Body>) -> Answer {
    let res = app.clone().oneshot(req).await.unwrap();
    let status = res.status();
    let headers = res.headers().clone();
    let body = res.into_body().collect().await.unwrap().to_bytes();
    Answer {
        status,
        headers,
        body: String::from_utf8_lossy(&body).into_owned(),
    }
}

/// A request as a browser on this site sends it.
fn req(
    method: &str,
    path: &str,
    cookie: Option<&str>,
    origin: Option<&str>,
) -> axum::http::request::Builder {
    let mut b = Request::builder()
        .method(method)
        .uri(path)
        .header(header::HOST, HOST);
    if let Some(c) = cookie {
        b = b.header(
            header::COOKIE,
            format!("{}={c}", server::auth::SESSION_COOKIE),
        );
    }
    if let Some(o) = origin {
        b = b.header(header::ORIGIN, o);
    }
    b
}

async fn login_as(app: &Router, name: &str, pass: &str) -> Answer {
    let body = format!(
        "name={name}&password={}&next=%2Fruns",
        pass.replace(' ', "+")
    );
    send(
        app,
        req("POST", "/auth/login", None, Some(ORIGIN))
            .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
            .body(Body::from(body))
            .unwrap(),
    )
    .await
}

/// Logs in and returns the session token from the cookie.
async fn session(app: &Router, name: &str) -> String {
    let answer = login_as(app, name, PASSWORD).await;
    assert_eq!(answer.status, StatusCode::SEE_OTHER, "{}", answer.body);
    let cookie = answer.headers[header::SET_COOKIE]
        .to_str()
        .unwrap()
        .to_owned();
    let value = cookie.split(';').next().unwrap();
    value.split_once('=').unwrap().1.to_owned()
}

/// A finished run with a written, recorded evidence pack; `failed` criteria
/// fail.
async fn finished_run(site: &Site, failed: bool) -> String {
    finished_run_leaving_out(site, failed, &[]).await
}

/// A finished run of which the launcher left out the tests `left_out`.
async fn finished_run_leaving_out(site: &Site, failed: bool, left_out: &[&str]) -> String {
    let run = site
        .db
        .create_run(engine::store::NewRun {
            plan: "p".into(),
            environment: "e".into(),
        })
        .await
        .unwrap();
    let verdict = if failed { Verdict::NoGo } else { Verdict::Go };
    site.db
        .set_status(&run.id, RunStatus::Running, None)
        .await
        .unwrap();
    let summary: RunSummary = site
        .db
        .set_status(&run.id, RunStatus::Finished, Some(verdict))
        .await
        .unwrap();
    let results = RunResults {
        schema_version: SCHEMA_VERSION,
        tool: ToolInfo::current(),
        run_id: run.id.clone(),
        plan: PlanInfo {
            name: "p".into(),
            title: None,
            file: "p.toml".into(),
            sha256: "00".into(),
            origin: None,
            text: None,
            deselected_tests: left_out.iter().map(|t| t.to_string()).collect(),
        },
        environment: EnvironmentInfo {
            name: "e".into(),
            base_url: "http://127.0.0.1:9".into(),
            expected_bucket: None,
            required_approvals: 1,
            project_id: None,
            urls: vec![],
        },
        status: RunStatus::Finished,
        verdict: Some(verdict),
        started_at_ms: summary.started_at_ms.unwrap_or(0),
        finished_at_ms: summary.finished_at_ms.unwrap_or(0),
        started_at: String::new(),
        finished_at: String::new(),
        tests: vec![],
        criteria: vec![CriterionResult {
            expr: "L1.fail == 0".into(),
            group: None,
            label: None,
            test: "L1".into(),
            metric: "fail".into(),
            actual: Some(if failed { 3.0 } else { 0.0 }),
            passed: !failed,
            note: None,
            outcome: None,
            actual_text: None,
            expected: None,
            warn_expr: None,
        }],
        error: None,
        tester: None,
        signoff: None,
        unplanned_exits: vec![],
        baseline: None,
    };
    let store = server::evidence::store::LocalStore::new(&site.evidence);
    let written = server::evidence::record::store_run(&store, &results, None)
        .await
        .unwrap();
    site.db
        .record_evidence(&run.id, written.version, &written.manifest_digest)
        .await
        .unwrap();
    run.id
}

fn sign_body(run: &str, decision: &str, comment: &str, reason: Option<&str>) -> String {
    json!({ "id": run, "request": { "decision": decision, "comment": comment, "override_reason": reason } })
        .to_string()
}

/// Every state-changing call, as (method, path, content type, body).
fn state_changing(run: &str, link: i64) -> Vec<(&'static str, String, &'static str, String)> {
    let form = "application/x-www-form-urlencoded";
    let json_type = "application/json";
    vec![
        (
            "POST",
            "/api/start_run".into(),
            json_type,
            json!({ "request": { "plan": { "File": "p.toml" }, "environment": null, "tests": null,
                "concurrency": null, "rounds": null, "duration_s": null } })
            .to_string(),
        ),
        ("POST", "/api/abort_run".into(), form, format!("id={run}")),
        (
            "POST",
            "/api/sign_run".into(),
            json_type,
            sign_body(run, "go", "fine", None),
        ),
        (
            "POST",
            "/api/create_share_link".into(),
            form,
            format!("id={run}&days=3"),
        ),
        (
            "POST",
            "/api/revoke_share_link".into(),
            form,
            format!("id={run}&link={link}"),
        ),
        (
            "POST",
            "/api/change_user".into(),
            form,
            "name=operator&role=admin&disabled=false".into(),
        ),
        (
            "POST",
            format!("/api/runs/{run}/signoffs"),
            json_type,
            json!({ "decision": "go", "comment": "fine" }).to_string(),
        ),
    ]
}

#[tokio::test]
async fn every_state_change_is_refused_without_a_session_with_a_viewer_and_cross_site() {
    let site = site().await;
    let run = finished_run(&site, false).await;
    let admin = session(&site.app, "admin").await;
    let viewer = session(&site.app, "viewer").await;
    let link = site
        .db
        .add_share(&run, &token::digest("x"), "admin", 0, i64::MAX)
        .await
        .unwrap();
    let runs_before = site.db.list_runs(&Default::default()).await.unwrap().len();
    for (method, path, kind, body) in state_changing(&run, link.id) {
        // Without a session (from this site).
        let a = send(
            &site.app,
            req(method, &path, None, Some(ORIGIN))
                .header(header::CONTENT_TYPE, kind)
                .body(Body::from(body.clone()))
                .unwrap(),
        )
        .await;
        assert_eq!(
            a.status,
            StatusCode::UNAUTHORIZED,
            "{path} without session: {}",
            a.body
        );
        // With a viewer's session.
        let a = send(
            &site.app,
            req(method, &path, Some(&viewer), Some(ORIGIN))
                .header(header::CONTENT_TYPE, kind)
                .body(Body::from(body.clone()))
                .unwrap(),
        )
        .await;
        assert_eq!(
            a.status,
            StatusCode::FORBIDDEN,
            "{path} as viewer: {}",
            a.body
        );
        // With an admin's session, but from another site.
        for origin in [Some("http://evil.example"), Some("null"), None] {
            let a = send(
                &site.app,
                req(method, &path, Some(&admin), origin)
                    .header(header::CONTENT_TYPE, kind)
                    .body(Body::from(body.clone()))
                    .unwrap(),
            )
            .await;
            assert_eq!(
                a.status,
                StatusCode::FORBIDDEN,
                "{path} from {origin:?}: {}",
                a.body
            );
            assert!(a.body.contains("cross-site"), "{}", a.body);
        }
    }
    // Nothing happened.
    assert!(site.db.signoffs(&run).await.unwrap().is_empty());
    let operator = site.db.credentials("operator").await.unwrap().unwrap().user;
    assert_eq!(operator.role, Role::Operator);
    let links = site.db.shares(&run).await.unwrap();
    assert_eq!(links.len(), 1);
    assert_eq!(links[0].revoked_at_ms, None);
    assert_eq!(
        site.db.list_runs(&Default::default()).await.unwrap().len(),
        runs_before
    );

    // The same admin session from this site is accepted (the refusals were
    // about who and where, not a broken endpoint).
    let a = send(
        &site.app,
        req("POST", "/api/create_share_link", Some(&admin), Some(ORIGIN))
            .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
            .body(Body::from(format!("id={run}&days=3")))
            .unwrap(),
    )
    .await;
    assert_eq!(a.status, StatusCode::OK, "{}", a.body);
}

#[tokio::test]
async fn pages_and_reads_need_a_login() {
    let site = site().await;
    let run = finished_run(&site, false).await;
    let a = send(
        &site.app,
        req("GET", "/", None, None)
            .header(header::ACCEPT, "text/html")
            .body(Body::empty())
            .unwrap(),
    )
    .await;
    assert_eq!(a.status, StatusCode::SEE_OTHER);
    assert_eq!(a.headers[header::LOCATION], "/login?next=%2F");
    for path in [
        format!("/api/runs/{run}"),
        format!("/api/runs/{run}/events"),
        format!("/api/runs/{run}/evidence"),
        format!("/api/runs/{run}/evidence/results.json"),
        format!("/api/runs/{run}/signoffs"),
        "/api/audit.jsonl".to_owned(),
    ] {
        let a = send(
            &site.app,
            req("GET", &path, None, None).body(Body::empty()).unwrap(),
        )
        .await;
        assert_eq!(a.status, StatusCode::UNAUTHORIZED, "{path}");
    }
    let viewer = session(&site.app, "viewer").await;
    let a = send(
        &site.app,
        req(
            "GET",
            &format!("/api/runs/{run}/evidence"),
            Some(&viewer),
            None,
        )
        .body(Body::empty())
        .unwrap(),
    )
    .await;
    assert_eq!(a.status, StatusCode::OK, "{}", a.body);
    let a = send(
        &site.app,
        req("GET", "/api/audit.jsonl", Some(&viewer), None)
            .body(Body::empty())
            .unwrap(),
    )
    .await;
    assert_eq!(a.status, StatusCode::FORBIDDEN);
    // Probes and the login page stay open.
    for path in ["/healthz", "/login"] {
        let a = send(
            &site.app,
            req("GET", path, None, None).body(Body::empty()).unwrap(),
        )
        .await;
        assert_eq!(a.status, StatusCode::OK, "{path}");
    }
}

#[tokio::test]
async fn login_sets_a_strict_cookie_and_logout_ends_the_session() {
    let site = site().await;
    let answer = login_as(&site.app, "operator", PASSWORD).await;
    assert_eq!(answer.status, StatusCode::SEE_OTHER);
    assert_eq!(answer.headers[header::LOCATION], "/runs");
    let cookie = answer.headers[header::SET_COOKIE].to_str().unwrap();
    assert!(cookie.contains("HttpOnly"), "{cookie}");
    assert!(cookie.contains("SameSite=Strict"), "{cookie}");
    assert!(cookie.contains("Path=/"), "{cookie}");
    assert!(!cookie.contains("Secure"), "plain HTTP: {cookie}");
    let behind_tls = send(
        &site.app,
        req("POST", "/auth/login", None, Some(ORIGIN))
            .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
            .header("x-forwarded-proto", "https")
            .body(Body::from(format!(
                "name=operator&password={}",
                PASSWORD.replace(' ', "+")
            )))
            .unwrap(),
    )
    .await;
    let tls_cookie = behind_tls.headers[header::SET_COOKIE].to_str().unwrap();
    assert!(tls_cookie.contains("; Secure"), "{tls_cookie}");
    let token = cookie
        .split(';')
        .next()
        .unwrap()
        .split_once('=')
        .unwrap()
        .1
        .to_owned();
    // Stored hashed only.
    let hashed = token::digest(&token);
    assert!(site
        .db
        .session_user(&hashed, now_ms())
        .await
        .unwrap()
        .is_some());

    let a = send(
        &site.app,
        req("POST", "/api/whoami", Some(&token), Some(ORIGIN))
            .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
            .body(Body::empty())
            .unwrap(),
    )
    .await;
    assert!(a.body.contains("\"operator\""), "{}", a.body);
    let a = send(
        &site.app,
        req("POST", "/auth/logout", Some(&token), Some(ORIGIN))
            .body(Body::empty())
            .unwrap(),
    )
    .await;
    assert_eq!(a.status, StatusCode::SEE_OTHER);
    assert!(a.headers[header::SET_COOKIE]
        .to_str()
        .unwrap()
        .contains("Max-Age=0"));
    assert!(site
        .db
        .session_user(&hashed, now_ms())
        .await
        .unwrap()
        .is_none());
    let a = send(
        &site.app,
        req("GET", "/api/runs/x/signoffs", Some(&token), None)
            .body(Body::empty())
            .unwrap(),
    )
    .await;
    assert_eq!(a.status, StatusCode::UNAUTHORIZED);

    let log = site.db.audit_log(10).await.unwrap();
    let actions: Vec<&str> = log.iter().map(|e| e.action.as_str()).collect();
    assert_eq!(actions, ["logout", "login", "login"]);
}

#[tokio::test]
async fn a_failed_login_does_not_say_whether_the_user_exists_and_repeated_failures_lock() {
    let site = site().await;
    let wrong = login_as(&site.app, "approver", "not the password at all").await;
    let unknown = login_as(&site.app, "nobody", "not the password at all").await;
    assert_eq!(wrong.status, unknown.status);
    assert_eq!(
        wrong.headers[header::LOCATION]
            .to_str()
            .unwrap()
            .replace("approver", ""),
        unknown.headers[header::LOCATION]
            .to_str()
            .unwrap()
            .replace("nobody", "")
    );
    assert!(wrong.headers.get(header::SET_COOKIE).is_none());
    // Five failures in all lock the account: even the right password is refused.
    for _ in 0..4 {
        login_as(&site.app, "approver", "still not the password").await;
    }
    let locked = login_as(&site.app, "approver", PASSWORD).await;
    assert!(
        locked.headers.get(header::SET_COOKIE).is_none(),
        "locked account logged in"
    );
    assert!(
        locked.headers[header::LOCATION]
            .to_str()
            .unwrap()
            .contains("error=locked"),
        "{:?}",
        locked.headers
    );
    // Another account is not affected.
    let other = login_as(&site.app, "viewer", PASSWORD).await;
    assert!(other.headers.get(header::SET_COOKIE).is_some());
    // Unknown names lock the same way.
    for _ in 0..5 {
        login_as(&site.app, "ghost", "guess guess guess").await;
    }
    let ghost = login_as(&site.app, "ghost", "guess guess guess").await;
    assert!(ghost.headers[header::LOCATION]
        .to_str()
        .unwrap()
        .contains("error=locked"));
}

#[tokio::test]
async fn a_partial_run_is_marked_and_gets_go_only_with_an_override_reason() {
    let site = site().await;
    let run = finished_run_leaving_out(&site, false, &["C1", "C2"]).await;
    let approver = session(&site.app, "approver").await;
    let sign = |reason: Option<&'static str>| {
        let (app, run, approver) = (site.app.clone(), run.clone(), approver.clone());
        async move {
            send(
                &app,
                req("POST", "/api/sign_run", Some(&approver), Some(ORIGIN))
                    .header(header::CONTENT_TYPE, "application/json")
                    .body(Body::from(sign_body(&run, "go", "all green", reason)))
                    .unwrap(),
            )
            .await
        }
    };
    let refused = sign(None).await;
    assert_eq!(
        refused.json()["Err"]["field"],
        "override_reason",
        "{}",
        refused.body
    );
    assert!(
        refused
            .body
            .contains("a partial run (tests C1, C2 left out)"),
        "{}",
        refused.body
    );
    assert!(site.db.signoffs(&run).await.unwrap().is_empty());
    let signed = sign(Some("chaos runs tomorrow on the full plan")).await;
    let state = &signed.json()["Ok"];
    assert_eq!(
        state["left_out_tests"],
        json!(["C1", "C2"]),
        "{}",
        signed.body
    );
    assert_eq!(state["decision"]["state"], "go");
    let v2 =
        std::fs::read_to_string(site.evidence.join(format!("runs/{run}/v2/report.md"))).unwrap();
    assert!(
        v2.contains("Partial run: tests C1, C2 of the plan were left out"),
        "{v2}"
    );
}

#[tokio::test]
async fn an_approver_cannot_sign_off_a_run_they_launched() {
    let site = site().await;
    let run = finished_run(&site, false).await;
    // As start_run records it when the approver launched the run.
    site.db
        .audit("approver", "run_launched", &run, "p.toml on e", now_ms())
        .await
        .unwrap();
    let sign = |who: String| {
        let app = site.app.clone();
        let run = run.clone();
        async move {
            send(
                &app,
                req("POST", "/api/sign_run", Some(&who), Some(ORIGIN))
                    .header(header::CONTENT_TYPE, "application/json")
                    .body(Body::from(sign_body(&run, "go", "looks good", None)))
                    .unwrap(),
            )
            .await
        }
    };
    let own = sign(session(&site.app, "approver").await).await;
    assert!(
        own.body
            .contains("approver launched this run: another approver must sign it off"),
        "{}",
        own.body
    );
    assert!(site.db.signoffs(&run).await.unwrap().is_empty());
    let other = sign(session(&site.app, "admin").await).await;
    assert_eq!(
        other.json()["Ok"]["decision"]["state"],
        "go",
        "{}",
        other.body
    );

    // Nor pin it as the baseline later runs compare with: not through the
    // API, not through the report page's button; another approver may.
    let pin = |who: String, path: String| {
        let app = site.app.clone();
        let body = format!("id={run}");
        async move {
            send(
                &app,
                req("POST", &path, Some(&who), Some(ORIGIN))
                    .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
                    .body(Body::from(body))
                    .unwrap(),
            )
            .await
        }
    };
    let approver = session(&site.app, "approver").await;
    let api = pin(approver.clone(), format!("/api/runs/{run}/baseline")).await;
    assert_eq!(api.status, 403, "{}", api.body);
    assert!(
        api.body
            .contains("approver launched this run: another approver must pin it as a baseline"),
        "{}",
        api.body
    );
    let button = pin(approver, "/api/pin_baseline".to_owned()).await;
    assert!(button.status.as_u16() >= 400, "{}", button.body);
    assert!(
        button.body.contains("pin it as a baseline"),
        "{}",
        button.body
    );
    assert_eq!(site.db.baseline_pin("p", "e").await.unwrap(), None);
    let admin = pin(
        session(&site.app, "admin").await,
        format!("/api/runs/{run}/baseline"),
    )
    .await;
    assert_eq!(admin.status, 200, "{}", admin.body);
    assert_eq!(admin.json()["pinned_by"], "admin", "{}", admin.body);
}

#[tokio::test]
async fn signoffs_are_bound_to_the_evidence_and_follow_the_rules() {
    let site = site().await;
    let failed_run = finished_run(&site, true).await;
    let approver = session(&site.app, "approver").await;
    let post_sign = |run: String,
                     decision: &'static str,
                     comment: &'static str,
                     reason: Option<&'static str>| {
        let approver = approver.clone();
        let app = site.app.clone();
        async move {
            send(
                &app,
                req("POST", "/api/sign_run", Some(&approver), Some(ORIGIN))
                    .header(header::CONTENT_TYPE, "application/json")
                    .body(Body::from(sign_body(&run, decision, comment, reason)))
                    .unwrap(),
            )
            .await
        }
    };
    // GO over failed criteria needs a reason; an empty comment is refused.
    let a = post_sign(failed_run.clone(), "go", "ship it", None).await;
    assert_eq!(a.status, StatusCode::OK);
    assert_eq!(a.json()["Err"]["field"], "override_reason", "{}", a.body);
    let a = post_sign(failed_run.clone(), "no-go", "  ", None).await;
    assert_eq!(a.json()["Err"]["field"], "comment", "{}", a.body);
    assert!(site.db.signoffs(&failed_run).await.unwrap().is_empty());
    let a = post_sign(
        failed_run.clone(),
        "go",
        "ship it",
        Some("the 3 failures are a known flaky probe"),
    )
    .await;
    let state = &a.json()["Ok"];
    assert_eq!(state["decision"]["state"], "go", "{}", a.body);
    assert_eq!(state["signoffs"][0]["signoff"]["approver"], "approver");
    assert_eq!(
        state["signoffs"][0]["signoff"]["override_reason"],
        "the 3 failures are a known flaky probe"
    );
    // A new pack version carries the sign-off block.
    let versions = server::evidence::pack::versions(
        &server::evidence::store::LocalStore::new(&site.evidence),
        &failed_run,
    )
    .await
    .unwrap();
    assert_eq!(versions, [1, 2]);
    let v2 = std::fs::read_to_string(
        site.evidence
            .join(format!("runs/{failed_run}/v2/report.md")),
    )
    .unwrap();
    assert!(
        v2.contains("the 3 failures are a known flaky probe"),
        "{v2}"
    );
    assert!(v2.contains("Final decision: **GO"), "{v2}");

    // Altering the signed evidence voids the sign-off, says so, and blocks signing.
    let signed = site
        .evidence
        .join(format!("runs/{failed_run}/v1/results.json"));
    let mut bytes = std::fs::read(&signed).unwrap();
    bytes.push(b' ');
    std::fs::write(&signed, bytes).unwrap();
    let a = send(
        &site.app,
        req(
            "GET",
            &format!("/api/runs/{failed_run}/signoffs"),
            Some(&approver),
            None,
        )
        .body(Body::empty())
        .unwrap(),
    )
    .await;
    let state = a.json();
    assert_eq!(state["signoffs"][0]["void"], true, "{}", a.body);
    assert_eq!(state["evidence_intact"], false);
    assert_eq!(state["decision"]["state"], "pending");
    let a = post_sign(failed_run.clone(), "no-go", "evidence changed", None).await;
    assert!(a.body.contains("no longer matches"), "{}", a.body);

    // An API token signs like a session, from outside a browser (no Origin).
    let good_run = finished_run(&site, false).await;
    let secret = token::generate();
    site.db
        .add_api_token(&token::digest(&secret), "approver", "ci", 0, i64::MAX)
        .await
        .unwrap();
    let a = send(
        &site.app,
        Request::post(format!("/api/runs/{good_run}/signoffs"))
            .header(header::AUTHORIZATION, format!("Bearer {secret}"))
            .header(header::CONTENT_TYPE, "application/json")
            .body(Body::from(
                json!({ "decision": "no-go", "comment": "not this week" }).to_string(),
            ))
            .unwrap(),
    )
    .await;
    assert_eq!(a.status, StatusCode::OK, "{}", a.body);
    assert_eq!(a.json()["decision"]["state"], "no-go");
    let a = send(
        &site.app,
        Request::post(format!("/api/runs/{good_run}/signoffs"))
            .header(header::AUTHORIZATION, "Bearer not-a-token")
            .header(header::CONTENT_TYPE, "application/json")
            .body(Body::from(
                json!({ "decision": "go", "comment": "x" }).to_string(),
            ))
            .unwrap(),
    )
    .await;
    assert_eq!(a.status, StatusCode::UNAUTHORIZED);
    let audit: Vec<String> = site
        .db
        .audit_log(50)
        .await
        .unwrap()
        .into_iter()
        .map(|e| e.action)
        .collect();
    assert_eq!(
        audit.iter().filter(|a| *a == "signoff").count(),
        2,
        "{audit:?}"
    );
}

#[tokio::test]
async fn share_links_open_the_report_without_an_account_until_revoked_or_expired() {
    let site = site().await;
    let run = finished_run(&site, false).await;
    let operator = session(&site.app, "operator").await;
    let a = send(
        &site.app,
        req(
            "POST",
            "/api/create_share_link",
            Some(&operator),
            Some(ORIGIN),
        )
        .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
        .body(Body::from(format!("id={run}&days=30")))
        .unwrap(),
    )
    .await;
    assert_eq!(a.status, StatusCode::OK, "{}", a.body);
    let created = a.json();
    let path = created["path"].as_str().unwrap().to_owned();
    let secret = path.strip_prefix("/share/").unwrap().to_owned();
    assert!(secret.len() >= 43, "at least 128 bits: {secret}");
    let expires = created["link"]["expires_at_ms"].as_i64().unwrap();
    let days = (expires - created["link"]["created_at_ms"].as_i64().unwrap()) / 86_400_000;
    assert_eq!(days, 30);
    // Stored only hashed.
    let db_file = std::fs::read(site._dir.path().join("shakedown.db")).unwrap();
    assert!(!String::from_utf8_lossy(&db_file).contains(&secret));

    let open = |secret: String| {
        let app = site.app.clone();
        async move {
            send(
                &app,
                req("POST", "/api/shared_report", None, Some(ORIGIN))
                    .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
                    .body(Body::from(format!("token={secret}")))
                    .unwrap(),
            )
            .await
        }
    };
    let a = open(secret.clone()).await;
    assert_eq!(a.status, StatusCode::OK, "{}", a.body);
    assert_eq!(a.json()["run_id"], run.as_str());
    assert_eq!(a.json()["me"], Value::Null);
    let a = send(
        &site.app,
        req(
            "GET",
            &format!("/api/share/{secret}/evidence/report.md"),
            None,
            None,
        )
        .body(Body::empty())
        .unwrap(),
    )
    .await;
    assert_eq!(a.status, StatusCode::OK);
    let a = send(
        &site.app,
        req("GET", &format!("/share/{secret}"), None, None)
            .body(Body::empty())
            .unwrap(),
    )
    .await;
    assert_eq!(
        a.status,
        StatusCode::OK,
        "the share page itself needs no login"
    );
    // A share token is not a session.
    let a = send(
        &site.app,
        req(
            "GET",
            &format!("/api/runs/{run}/evidence"),
            Some(&secret),
            None,
        )
        .body(Body::empty())
        .unwrap(),
    )
    .await;
    assert_eq!(a.status, StatusCode::UNAUTHORIZED);
    assert_eq!(open("made-up".into()).await.status, StatusCode::NOT_FOUND);

    let id = created["link"]["id"].as_i64().unwrap();
    let a = send(
        &site.app,
        req(
            "POST",
            "/api/revoke_share_link",
            Some(&operator),
            Some(ORIGIN),
        )
        .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
        .body(Body::from(format!("id={run}&link={id}")))
        .unwrap(),
    )
    .await;
    assert_eq!(a.status, StatusCode::OK, "{}", a.body);
    let a = open(secret.clone()).await;
    assert_eq!(a.status, StatusCode::GONE);
    assert!(a.body.contains("revoked"), "{}", a.body);
    let a = send(
        &site.app,
        req(
            "GET",
            &format!("/api/share/{secret}/evidence/report.md"),
            None,
            None,
        )
        .body(Body::empty())
        .unwrap(),
    )
    .await;
    assert_eq!(a.status, StatusCode::GONE);

    let old = token::generate();
    site.db
        .add_share(&run, &token::digest(&old), "operator", 0, now_ms() - 1)
        .await
        .unwrap();
    let a = open(old).await;
    assert_eq!(a.status, StatusCode::GONE);
    assert!(a.body.contains("expired"), "{}", a.body);
}

#[tokio::test]
async fn admins_change_roles_and_disable_accounts_but_not_their_own() {
    let site = site().await;
    let admin = session(&site.app, "admin").await;
    let viewer = session(&site.app, "viewer").await;
    let change = |body: &'static str| {
        let app = site.app.clone();
        let admin = admin.clone();
        async move {
            send(
                &app,
                req("POST", "/api/change_user", Some(&admin), Some(ORIGIN))
                    .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
                    .body(Body::from(body))
                    .unwrap(),
            )
            .await
        }
    };
    let a = change("name=viewer&role=operator&disabled=true").await;
    assert_eq!(a.status, StatusCode::OK, "{}", a.body);
    assert_eq!(a.json()["role"], "operator");
    // Disabling ended the viewer's session.
    let a = send(
        &site.app,
        req("GET", "/api/audit.jsonl", Some(&viewer), None)
            .body(Body::empty())
            .unwrap(),
    )
    .await;
    assert_eq!(a.status, StatusCode::UNAUTHORIZED);
    let locked_out = login_as(&site.app, "viewer", PASSWORD).await;
    assert!(locked_out.headers.get(header::SET_COOKIE).is_none());
    let a = change("name=admin&role=viewer&disabled=false").await;
    assert_ne!(a.status, StatusCode::OK);
    assert!(a.body.contains("your own account"), "{}", a.body);
    let log = site.db.audit_log(10).await.unwrap();
    let changed: Vec<_> = log.iter().filter(|e| e.action == "user_changed").collect();
    assert_eq!(changed.len(), 1, "{log:?}");
    assert_eq!(changed[0].detail, "role viewer -> operator, disabled");
    assert_eq!(changed[0].actor, "admin");
    // The export is JSON lines, oldest first.
    let a = send(
        &site.app,
        req("GET", "/api/audit.jsonl", Some(&admin), None)
            .body(Body::empty())
            .unwrap(),
    )
    .await;
    assert_eq!(a.status, StatusCode::OK);
    let lines: Vec<Value> = a
        .body
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.first().unwrap()["action"], "login");
    assert!(lines.iter().any(|l| l["action"] == "user_changed"));
}

#[tokio::test]
async fn the_run_api_answers_viewers_with_the_summary_and_the_state_of_its_evidence() {
    let site = site().await;
    let run = finished_run(&site, false).await;
    let path = format!("/api/runs/{run}");
    let a = send(
        &site.app,
        req("GET", &path, None, None).body(Body::empty()).unwrap(),
    )
    .await;
    assert_eq!(a.status, StatusCode::UNAUTHORIZED, "{}", a.body);
    let a = send(
        &site.app,
        Request::get(&path)
            .header(header::AUTHORIZATION, "Bearer not-a-token")
            .body(Body::empty())
            .unwrap(),
    )
    .await;
    assert_eq!(a.status, StatusCode::UNAUTHORIZED, "{}", a.body);

    // A viewer's API token reads it, with no Origin (a plan's job protocol).
    let secret = token::generate();
    site.db
        .add_api_token(&token::digest(&secret), "viewer", "self-check", 0, i64::MAX)
        .await
        .unwrap();
    let bearer = format!("Bearer {secret}");
    let get = |path: String| {
        Request::get(path)
            .header(header::AUTHORIZATION, bearer.clone())
            .body(Body::empty())
            .unwrap()
    };
    let a = send(&site.app, get(path.clone())).await;
    assert_eq!(a.status, StatusCode::OK, "{}", a.body);
    let answer = a.json();
    assert_eq!(answer["id"], run.as_str());
    assert_eq!(answer["status"], "finished");
    assert_eq!(answer["verdict"], "GO", "{}", a.body);
    assert!(answer["finished_at_ms"].as_i64().unwrap() > 0);
    let evidence = &answer["evidence"];
    assert_eq!(evidence["intact"], true, "{}", a.body);
    assert_eq!(evidence["version"], 1);
    assert_eq!(
        evidence["results_key"],
        format!("{run}/evidence/results.json")
    );
    // The sha256 named is that of the file served.
    let served = send(
        &site.app,
        get(format!(
            "/api/runs/{}",
            evidence["results_key"].as_str().unwrap()
        )),
    )
    .await;
    assert_eq!(served.status, StatusCode::OK);
    let digest = {
        use sha2::Digest;
        hex::encode(sha2::Sha256::digest(served.body.as_bytes()))
    };
    assert_eq!(evidence["results_sha256"], digest.as_str());

    // An altered pack is reported so, and its file is no longer served.
    let file = site.evidence.join(format!("runs/{run}/v1/results.json"));
    let mut bytes = std::fs::read(&file).unwrap();
    bytes.push(b' ');
    std::fs::write(&file, bytes).unwrap();
    let a = send(&site.app, get(path.clone())).await;
    assert_eq!(a.status, StatusCode::OK);
    assert_eq!(a.json()["evidence"]["intact"], false, "{}", a.body);
    assert!(a.body.contains("results.json"), "{}", a.body);
    let served = send(&site.app, get(format!("{path}/evidence/results.json"))).await;
    assert_eq!(served.status, StatusCode::CONFLICT);

    // A running run has no evidence yet; an unknown id is a JSON 404.
    let live = site
        .db
        .create_run(engine::store::NewRun {
            plan: "p".into(),
            environment: "e".into(),
        })
        .await
        .unwrap();
    site.db
        .set_status(&live.id, RunStatus::Running, None)
        .await
        .unwrap();
    let a = send(&site.app, get(format!("/api/runs/{}", live.id))).await;
    assert_eq!(a.status, StatusCode::OK);
    assert_eq!(a.json()["status"], "running");
    assert_eq!(a.json()["evidence"], Value::Null);
    let a = send(&site.app, get("/api/runs/no-such-run".to_owned())).await;
    assert_eq!(a.status, StatusCode::NOT_FOUND);
    assert_eq!(a.json()["error"], "no run with id no-such-run");
}
