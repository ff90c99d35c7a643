//! Accounts and sign-off from the terminal: `shakedown user add` reads the
//! password from standard input (never an argument) and refuses short ones
//! and taken names; `shakedown token add` prints a token once; `shakedown
//! signoff` signs a recorded run through a running server with an
//! approver's token, and is refused with a viewer's.

mod common;

use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

fn shakedown(args: &[&str], data: &Path, stdin: Option<&str>) -> Output {
    let mut child = Command::new(env!("CARGO_BIN_EXE_shakedown"))
        .args(args)
        .arg("--data-dir")
        .arg(data)
        .env_remove("DATABASE_URL")
        .env_remove("SHAKEDOWN_TOKEN")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // The child may exit before reading (a refused role): feed_stdin
    // ignores the broken pipe, and the tests judge the exit status and
    // output.
    match stdin {
        Some(input) => common::feed_stdin(&mut child, input.as_bytes()),
        None => drop(child.stdin.take()),
    }
    child.wait_with_output().unwrap()
}

fn text(o: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

#[test]
fn users_are_added_with_a_password_from_stdin_only() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path();
    let out = shakedown(
        &["user", "add", "ann", "--role", "approver"],
        data,
        Some("a long enough password\n"),
    );
    assert!(out.status.success(), "{}", text(&out));
    assert!(text(&out).contains("user ann added with role approver"));
    let again = shakedown(
        &["user", "add", "ann", "--role", "viewer"],
        data,
        Some("another long password\n"),
    );
    assert_eq!(again.status.code(), Some(2));
    assert!(text(&again).contains("already exists"), "{}", text(&again));
    let short = shakedown(
        &["user", "add", "bob", "--role", "viewer"],
        data,
        Some("short\n"),
    );
    assert_eq!(short.status.code(), Some(2));
    assert!(
        text(&short).contains("at least 12 characters"),
        "{}",
        text(&short)
    );
    let as_arg = shakedown(
        &["user", "add", "carl", "--role", "viewer", "--password", "x"],
        data,
        None,
    );
    assert_eq!(as_arg.status.code(), Some(2), "no password argument exists");
    let bad_role = shakedown(
        &["user", "add", "dora", "--role", "root"],
        data,
        Some("x\n"),
    );
    assert!(
        text(&bad_role).contains("unknown role"),
        "{}",
        text(&bad_role)
    );
    let list = shakedown(&["user", "list"], data, None);
    let listing = text(&list);
    assert!(
        listing.contains("ann") && listing.contains("approver"),
        "{listing}"
    );
    assert!(!listing.contains("bob") && !listing.contains("carl"));
    // The password is stored hashed.
    let db = std::fs::read(data.join("shakedown.db")).unwrap();
    let needle = b"a long enough password";
    assert!(!db.windows(needle.len()).any(|w| w == needle));
}

#[tokio::test(flavor = "multi_thread")]
async fn signoff_signs_through_the_api_with_an_approvers_token() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    std::fs::create_dir_all(&data).unwrap();
    // A target and a recorded, finished run.
    let app = axum::Router::new().route("/ping", axum::routing::get(|| async { "pong" }));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    let plan = dir.path().join("p.toml");
    std::fs::write(
        &plan,
        format!(
            "[plan]\nname = \"p\"\ndefault_environment = \"e\"\n[environments.e]\nbase_url = \"http://{addr}\"\n\
             allowed_hosts = [\"127.0.0.1\"]\n[[tests]]\nid = \"L1\"\ntitle = \"ping\"\n[tests.http_load]\n\
             path = \"/ping\"\nconcurrency = 1\nrounds = 5\n[[criteria]]\nexpr = \"L1.fail == 0\"\n"
        ),
    )
    .unwrap();
    let out_dir = dir.path().join("out");
    let run = shakedown(
        &[
            "run",
            plan.to_str().unwrap(),
            "--out",
            out_dir.to_str().unwrap(),
        ],
        &data,
        None,
    );
    assert!(run.status.success(), "{}", text(&run));
    let output = text(&run);
    let run_id = output
        .split(|c: char| !(c.is_ascii_hexdigit() || c == '-'))
        .find(|w| w.len() == 36)
        .unwrap_or_else(|| panic!("no run id in {output}"))
        .to_owned();
    for (name, role) in [("ann", "approver"), ("vic", "viewer")] {
        let out = shakedown(
            &["user", "add", name, "--role", role],
            &data,
            Some("a long enough password\n"),
        );
        assert!(out.status.success(), "{}", text(&out));
    }
    let token = |user: &str| {
        let out = shakedown(
            &["token", "add", "--user", user, "--label", "ci"],
            &data,
            None,
        );
        assert!(out.status.success(), "{}", text(&out));
        String::from_utf8_lossy(&out.stdout).trim().to_owned()
    };
    let (approver, viewer) = (token("ann"), token("vic"));
    assert_eq!(approver.len(), 43);

    let port = common::free_port();
    let mut server = Command::new(env!("CARGO_BIN_EXE_shakedown"))
        .args(["serve", "--addr", &format!("127.0.0.1:{port}")])
        .arg("--data-dir")
        .arg(&data)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let web = format!("http://127.0.0.1:{port}");
    let deadline = Instant::now() + Duration::from_secs(30);
    while reqwest::get(format!("{web}/readyz"))
        .await
        .map(|r| r.status().is_success())
        .ok()
        != Some(true)
    {
        assert!(Instant::now() < deadline, "server did not start");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let signoff = |token: Option<&str>, decision: &str| {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_shakedown"));
        cmd.args([
            "signoff",
            &run_id,
            "--decision",
            decision,
            "--comment",
            "from CI",
            "--server",
            &web,
        ])
        .env_remove("SHAKEDOWN_TOKEN");
        if let Some(t) = token {
            cmd.env("SHAKEDOWN_TOKEN", t);
        }
        cmd.output().unwrap()
    };
    let refused = signoff(Some(&viewer), "go");
    assert_eq!(refused.status.code(), Some(1), "{}", text(&refused));
    assert!(
        text(&refused).contains("approver role"),
        "{}",
        text(&refused)
    );
    let missing = signoff(None, "go");
    assert_eq!(missing.status.code(), Some(2));
    assert!(
        text(&missing).contains("SHAKEDOWN_TOKEN"),
        "{}",
        text(&missing)
    );
    let signed = signoff(Some(&approver), "go");
    assert_eq!(signed.status.code(), Some(0), "{}", text(&signed));
    assert!(
        text(&signed).contains("final decision: GO: 1 of 1"),
        "{}",
        text(&signed)
    );
    let blocked = signoff(Some(&approver), "no-go");
    assert!(
        text(&blocked).contains("final decision: NO-GO: blocked by ann"),
        "{}",
        text(&blocked)
    );
    let _ = Command::new("kill").arg(server.id().to_string()).status();
    let _ = server.wait();
}
