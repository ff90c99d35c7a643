//! Attacks on the login endpoint and the HTTP surface, performed against
//! the whole router in process (issue 15): a burst of parallel guesses for
//! one account, password checks piling up, a 1 MB user name, a locked
//! address hammering the audit log, `next` leading off the site, API tokens
//! outliving a password change or a disabled account, pages without
//! security headers, `/readyz` telling strangers about paths and errors,
//! and the events and evidence handlers trusting the gate alone. Each test
//! fails on the code before the fix.

use axum::body::Body;
use axum::extract::connect_info::ConnectInfo;
use axum::http::{header, Request, StatusCode};
use axum::Router;
use engine::access::{Principal, Role};
use engine::access_store::AccessStore;
use engine::run::now_ms;
use engine::store::RunStore;
use http_body_util::BodyExt;
use server::auth::login::client_address;
use server::auth::{password, token, Auth, AuthArgs, SESSION_COOKIE};
use server::db::{testing, Db};
use server::web::{router, AppState};
use std::net::SocketAddr;
use std::sync::Arc;
use tower::ServiceExt;

const PASSWORD: &str = "correct horse battery staple";
const HOST: &str = "shakedown.test:3000";
const ORIGIN: &str = "http://shakedown.test:3000";

struct Site {
    app: Router,
    state: AppState,
    auth: Arc<Auth>,
    db: Db,
    dir: tempfile::TempDir,
}

async fn site() -> Site {
    let (db, dir) = testing::sqlite().await;
    let evidence = dir.path().join("evidence");
    std::fs::create_dir_all(&evidence).unwrap();
    let state = AppState::new(
        db.clone(),
        Arc::new(server::evidence::store::LocalStore::new(&evidence)),
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
        app: router(state.clone()),
        auth: state.auth.clone(),
        state,
        db,
        dir,
    }
}

struct Answer {
    status: StatusCode,
    headers: axum::http::HeaderMap,
    body: String,
}

impl Answer {
    fn header(&self, name: impl header::AsHeaderName) -> &str {
        self.headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
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

fn get(path: &str, cookie: Option<&str>) -> Request<Body> {
    let mut b = Request::get(path).header(header::HOST, HOST);
    if let Some(c) = cookie {
        b = b.header(header::COOKIE, format!("{SESSION_COOKIE}={c}"));
    }
    b.body(Body::empty()).unwrap()
}

/// A login form post, as a browser on this site sends it; `from` is the
/// client's address as the server sees it (connection info).
fn login_request(body: impl Into<Body>, from: Option<&str>) -> Request<Body> {
    let mut req = Request::post("/auth/login")
        .header(header::HOST, HOST)
        .header(header::ORIGIN, ORIGIN)
        .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
        .body(body.into())
        .unwrap();
    if let Some(ip) = from {
        let addr: SocketAddr = format!("{ip}:40000").parse().unwrap();
        req.extensions_mut().insert(ConnectInfo(addr));
        assert!(client_address(req.extensions()).is_some());
    }
    req
}

fn form(name: &str, pass: &str, next: &str) -> String {
    form_urlencoded::Serializer::new(String::new())
        .append_pair("name", name)
        .append_pair("password", pass)
        .append_pair("next", next)
        .finish()
}

async fn login(app: &Router, name: &str, pass: &str) -> Answer {
    send(app, login_request(form(name, pass, "/"), None)).await
}

async fn session(app: &Router, name: &str) -> String {
    let a = login(app, name, PASSWORD).await;
    let cookie = a.header(header::SET_COOKIE);
    assert!(
        !cookie.is_empty(),
        "{name} could not log in: {:?}",
        a.headers
    );
    let value = cookie.split(';').next().unwrap();
    value.split_once('=').unwrap().1.to_owned()
}

async fn audit_actions(db: &Db, action: &str) -> Vec<engine::access::AuditEntry> {
    db.audit_log(10_000)
        .await
        .unwrap()
        .into_iter()
        .filter(|e| e.action == action)
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_burst_of_50_parallel_guesses_gets_at_most_5_password_checks() {
    let site = site().await;
    let attempts: Vec<_> = (0..50)
        .map(|n| {
            let app = site.app.clone();
            tokio::spawn(async move { login(&app, "approver", &format!("guess number {n}")).await })
        })
        .collect();
    let mut locked = 0;
    for attempt in attempts {
        let a = attempt.await.unwrap();
        assert_eq!(a.status, StatusCode::SEE_OTHER);
        assert!(a.headers.get(header::SET_COOKIE).is_none());
        if a.header(header::LOCATION).contains("error=locked") {
            locked += 1;
        }
    }
    assert!(
        site.auth.verifier.runs() <= 5,
        "{} argon2 verifications for one account",
        site.auth.verifier.runs()
    );
    assert_eq!(locked, 50 - site.auth.verifier.runs());
    // The right password is refused now too, without another check.
    let a = login(&site.app, "approver", PASSWORD).await;
    assert!(a.header(header::LOCATION).contains("error=locked"));
    assert!(site.auth.verifier.runs() <= 5);
    // 45 refusals and more, one audit row for the lockout.
    assert_eq!(audit_actions(&site.db, "login_locked").await.len(), 1);
    assert_eq!(
        audit_actions(&site.db, "login_failed").await.len() as u64,
        site.auth.verifier.runs()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn password_checks_run_at_most_two_at_a_time() {
    let site = site().await;
    let attempts: Vec<_> = (0..12)
        .map(|n| {
            let app = site.app.clone();
            tokio::spawn(
                async move { login(&app, &format!("someone{n}"), "a wrong password").await },
            )
        })
        .collect();
    for attempt in attempts {
        attempt.await.unwrap();
    }
    assert_eq!(site.auth.verifier.runs(), 12, "each name is checked once");
    assert!(
        site.auth.verifier.peak() <= server::auth::PASSWORD_CHECKS_AT_ONCE,
        "{} checks at once",
        site.auth.verifier.peak()
    );
}

#[tokio::test]
async fn a_one_megabyte_user_name_is_refused_unread_and_not_audited() {
    let site = site().await;
    let huge = "a".repeat(1_000_000);
    let a = send(&site.app, login_request(form(&huge, PASSWORD, "/"), None)).await;
    assert_eq!(a.status, StatusCode::SEE_OTHER, "{}", a.body);
    assert!(a.headers.get(header::SET_COOKIE).is_none());
    assert!(a.header(header::LOCATION).starts_with("/login?error="));
    assert_eq!(site.auth.verifier.runs(), 0, "no argon2 for it");
    assert!(site.db.audit_log(100).await.unwrap().is_empty());

    // A name over 64 bytes in a small form: the same answer as a wrong
    // password, no argon2, and what is audited is clipped.
    let long = format!("{}\u{1b}[31m", "b".repeat(300));
    let a = send(&site.app, login_request(form(&long, PASSWORD, "/"), None)).await;
    let wrong = login(&site.app, "viewer", "not the password").await;
    assert_eq!(
        a.header(header::LOCATION),
        wrong.header(header::LOCATION),
        "one answer for both"
    );
    assert_eq!(
        site.auth.verifier.runs(),
        1,
        "only the real name was checked"
    );
    for entry in site.db.audit_log(100).await.unwrap() {
        assert!(entry.target.len() <= 70, "{:?}", entry.target);
        assert!(!entry.target.contains('\u{1b}'), "{:?}", entry.target);
    }
}

#[tokio::test]
async fn a_locked_address_is_audited_once_per_window_and_rotating_names_do_not_help() {
    let site = site().await;
    let attacker = Some("203.0.113.7");
    for n in 0..60 {
        let a = send(
            &site.app,
            login_request(form(&format!("guess{n}"), "some password", "/"), attacker),
        )
        .await;
        assert!(a.headers.get(header::SET_COOKIE).is_none());
    }
    assert_eq!(site.auth.verifier.runs(), 20, "the address limit is 20");
    let locked = audit_actions(&site.db, "login_locked").await;
    assert_eq!(locked.len(), 1, "{locked:?}");
    assert_eq!(locked[0].target, "203.0.113.7");
    // Someone else, from another address, still logs in.
    let a = send(
        &site.app,
        login_request(form("viewer", PASSWORD, "/"), Some("198.51.100.1")),
    )
    .await;
    assert!(a.headers.get(header::SET_COOKIE).is_some());
}

#[tokio::test]
async fn next_after_login_never_leaves_the_site() {
    let site = site().await;
    for (next, expected) in [
        ("/%09/evil.example", "/"),
        ("/\t/evil.example", "/"),
        ("//evil.example", "/"),
        ("/\\evil.example", "/"),
        ("https://evil.example/", "/"),
        ("/runs/abc?x=1", "/runs/abc?x=1"),
    ] {
        let a = send(
            &site.app,
            login_request(form("operator", PASSWORD, next), None),
        )
        .await;
        assert!(a.headers.get(header::SET_COOKIE).is_some(), "{next:?}");
        assert_eq!(a.header(header::LOCATION), expected, "{next:?}");
    }
    // A failed login carries only the safe value back to the form.
    let a = send(
        &site.app,
        login_request(
            form("operator", "wrong password", "/%09/evil.example"),
            None,
        ),
    )
    .await;
    assert!(
        !a.header(header::LOCATION).contains("evil"),
        "{:?}",
        a.headers
    );
}

#[tokio::test]
async fn api_tokens_end_with_a_new_password_or_a_disabled_account() {
    let site = site().await;
    let admin = session(&site.app, "admin").await;
    let bearer = |secret: &str| {
        Request::get("/api/runs/no-such-run")
            .header(header::AUTHORIZATION, format!("Bearer {secret}"))
            .body(Body::empty())
            .unwrap()
    };
    let add = |user: &'static str| {
        let db = site.db.clone();
        async move {
            let secret = token::generate();
            db.add_api_token(&token::digest(&secret), user, "ci", now_ms(), i64::MAX)
                .await
                .unwrap();
            secret
        }
    };
    let secret = add("operator").await;
    assert_eq!(
        send(&site.app, bearer(&secret)).await.status,
        StatusCode::NOT_FOUND
    );
    // A new password (as `shakedown user passwd` sets it).
    let hash = password::hash("another long password").unwrap();
    site.db
        .update_user("operator", None, Some(&hash), None)
        .await
        .unwrap();
    let a = send(&site.app, bearer(&secret)).await;
    assert_eq!(a.status, StatusCode::UNAUTHORIZED, "{}", a.body);

    // Disabled from the Users page, then enabled again: the token is gone.
    let secret = add("viewer").await;
    assert_eq!(
        send(&site.app, bearer(&secret)).await.status,
        StatusCode::NOT_FOUND
    );
    for disabled in [true, false] {
        let a = send(
            &site.app,
            Request::post("/api/change_user")
                .header(header::HOST, HOST)
                .header(header::ORIGIN, ORIGIN)
                .header(header::COOKIE, format!("{SESSION_COOKIE}={admin}"))
                .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
                .body(Body::from(format!(
                    "name=viewer&role=viewer&disabled={disabled}"
                )))
                .unwrap(),
        )
        .await;
        assert_eq!(a.status, StatusCode::OK, "{}", a.body);
    }
    let a = send(&site.app, bearer(&secret)).await;
    assert_eq!(a.status, StatusCode::UNAUTHORIZED, "{}", a.body);
    assert!(site.db.api_tokens(None).await.unwrap().is_empty());
}

/// The nonce of a page's policy.
fn nonce_of(policy: &str) -> String {
    let start = policy.find("'nonce-").expect("a nonce in the policy") + "'nonce-".len();
    let end = policy[start..].find('\'').unwrap() + start;
    policy[start..end].to_owned()
}

fn assert_common_headers(a: &Answer, what: &str) {
    let policy = a.header(header::CONTENT_SECURITY_POLICY);
    assert!(
        policy.contains("frame-ancestors 'none'"),
        "{what}: {policy:?}"
    );
    assert_eq!(a.header(header::REFERRER_POLICY), "no-referrer", "{what}");
    assert_eq!(
        a.header(header::X_CONTENT_TYPE_OPTIONS),
        "nosniff",
        "{what}"
    );
}

#[tokio::test]
async fn pages_and_api_answers_carry_security_headers() {
    let site = site().await;
    let viewer = session(&site.app, "viewer").await;

    // Pages: only this site's scripts, and the inline ones Leptos writes
    // carry this answer's nonce (a fresh one each time).
    let mut nonces = Vec::new();
    for (path, cookie) in [
        ("/login", None),
        ("/", Some(viewer.as_str())),
        ("/nowhere", Some(viewer.as_str())),
    ] {
        let a = send(&site.app, get(path, cookie)).await;
        assert!(
            a.header(header::CONTENT_TYPE).starts_with("text/html"),
            "{path}"
        );
        assert_common_headers(&a, path);
        let policy = a.header(header::CONTENT_SECURITY_POLICY);
        assert!(
            policy.contains("script-src 'self' 'nonce-") && policy.contains("'wasm-unsafe-eval'"),
            "{policy}"
        );
        let scripts_policy = policy
            .split(';')
            .find(|d| d.trim().starts_with("script-src"))
            .unwrap();
        assert!(!scripts_policy.contains("unsafe-inline"), "{policy}");
        assert!(policy.contains("object-src 'none'") && policy.contains("base-uri 'none'"));
        let nonce = nonce_of(policy);
        let scripts: Vec<&str> = a.body.split("<script").skip(1).collect();
        assert!(
            !scripts.is_empty(),
            "{path}: the hydration script is inline"
        );
        for script in scripts {
            let tag = &script[..script.find('>').unwrap()];
            assert!(
                tag.contains(&format!("nonce=\"{nonce}\"")),
                "{path}: a script without this answer's nonce: <script{tag}>"
            );
        }
        nonces.push(nonce);
    }
    nonces.sort();
    nonces.dedup();
    assert_eq!(nonces.len(), 3, "one nonce per answer");

    // API answers, refusals and redirects.
    for (path, cookie, status) in [
        (
            "/api/runs/no-such-run",
            Some(viewer.as_str()),
            StatusCode::NOT_FOUND,
        ),
        ("/api/runs/no-such-run", None, StatusCode::UNAUTHORIZED),
        ("/healthz", None, StatusCode::OK),
        ("/", None, StatusCode::SEE_OTHER),
    ] {
        let a = send(&site.app, get(path, cookie)).await;
        assert_eq!(a.status, status, "{path}: {}", a.body);
        assert_common_headers(&a, path);
        if !a.header(header::CONTENT_TYPE).starts_with("text/html") {
            assert!(
                a.header(header::CONTENT_SECURITY_POLICY)
                    .starts_with("default-src 'none'"),
                "{path}"
            );
        }
    }
    let a = send(
        &site.app,
        login_request(form("viewer", PASSWORD, "/"), None),
    )
    .await;
    assert_common_headers(&a, "login");

    // Evidence files keep their own sandbox.
    let run = run_with_pack(&site).await;
    let a = send(
        &site.app,
        get(
            &format!("/api/runs/{run}/evidence/report.html?inline=1"),
            Some(&viewer),
        ),
    )
    .await;
    assert_eq!(a.status, StatusCode::OK);
    assert!(a
        .header(header::CONTENT_SECURITY_POLICY)
        .starts_with("sandbox;"));
    assert_eq!(a.header(header::REFERRER_POLICY), "no-referrer");
    assert!(
        a.headers.get(header::X_FRAME_OPTIONS).is_none(),
        "the report page frames it"
    );
}

/// A run with a two-file evidence pack.
async fn run_with_pack(site: &Site) -> String {
    let run = site
        .db
        .create_run(engine::store::NewRun {
            plan: "p".into(),
            environment: "e".into(),
        })
        .await
        .unwrap();
    let store = server::evidence::store::LocalStore::new(site.dir.path().join("evidence"));
    server::evidence::pack::write_pack(
        &store,
        &run.id,
        vec![
            ("report.md".into(), b"# report".to_vec()),
            ("report.html".into(), b"<h1>report</h1>".to_vec()),
        ],
        now_ms(),
    )
    .await
    .unwrap();
    run.id
}

#[tokio::test]
async fn readyz_tells_strangers_only_ready_or_not() {
    let site = site().await;
    let evidence = site.dir.path().join("evidence");
    std::fs::remove_dir_all(&evidence).unwrap();
    let a = send(&site.app, get("/readyz", None)).await;
    assert_eq!(a.status, StatusCode::SERVICE_UNAVAILABLE);
    let body: serde_json::Value = serde_json::from_str(&a.body).unwrap();
    assert_eq!(body["status"], "not_ready");
    assert_eq!(body["dependencies"][0]["name"], "database");
    assert_eq!(body["dependencies"][0]["status"], "ok");
    assert_eq!(body["dependencies"][1]["name"], "evidence");
    assert_eq!(body["dependencies"][1]["status"], "failing");
    let folder = evidence.display().to_string();
    for leak in [folder.as_str(), "sqlite", "cannot", "detail", "error"] {
        assert!(!a.body.contains(leak), "{leak:?} in {}", a.body);
    }
    // A viewer is no admin.
    let viewer = session(&site.app, "viewer").await;
    let a = send(&site.app, get("/readyz", Some(&viewer))).await;
    assert!(
        !a.body.contains(&folder) && !a.body.contains("error"),
        "{}",
        a.body
    );
    // An admin gets the details.
    let admin = session(&site.app, "admin").await;
    let a = send(&site.app, get("/readyz", Some(&admin))).await;
    let body: serde_json::Value = serde_json::from_str(&a.body).unwrap();
    assert_eq!(body["dependencies"][0]["detail"], "sqlite");
    assert!(body["dependencies"][1]["error"]
        .as_str()
        .unwrap()
        .starts_with("cannot write"));
}

#[tokio::test]
async fn events_and_evidence_check_the_role_themselves() {
    let site = site().await;
    let run = run_with_pack(&site).await;
    // The handlers alone, without the login gate in front (as if a route
    // were ever left public by mistake).
    let bare = Router::new()
        .route(
            "/api/runs/{id}/events",
            axum::routing::get(server::web::api::events::events),
        )
        .route(
            "/api/runs/{id}/evidence",
            axum::routing::get(server::web::api::evidence::list),
        )
        .route(
            "/api/runs/{id}/evidence/{file}",
            axum::routing::get(server::web::api::evidence::download),
        )
        .with_state(site.state.clone());
    let paths = [
        format!("/api/runs/{run}/events"),
        format!("/api/runs/{run}/evidence"),
        format!("/api/runs/{run}/evidence/report.md"),
    ];
    for path in &paths {
        let a = send(&bare, get(path, None)).await;
        assert_eq!(a.status, StatusCode::UNAUTHORIZED, "{path}: {}", a.body);
    }
    // A viewer's principal (what the gate establishes) is enough.
    for path in &paths[1..] {
        let mut req = get(path, None);
        req.extensions_mut().insert(Principal {
            name: "viewer".into(),
            role: Role::Viewer,
            local: false,
        });
        let a = send(&bare, req).await;
        assert_eq!(a.status, StatusCode::OK, "{path}: {}", a.body);
    }
    // Share links keep opening their run's files without an account.
    let secret = token::generate();
    site.db
        .add_share(&run, &token::digest(&secret), "operator", 0, i64::MAX)
        .await
        .unwrap();
    let a = send(
        &site.app,
        get(&format!("/api/share/{secret}/evidence/report.md"), None),
    )
    .await;
    assert_eq!(a.status, StatusCode::OK, "{}", a.body);
    assert_eq!(a.body, "# report");
}
