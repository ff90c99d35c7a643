//! API tokens against a real `shakedown serve`: `shakedown token list`
//! shows ids, users and labels (never the tokens), `shakedown token revoke
//! ID` stops one at once, and a new password or disabling the user ends
//! every token of theirs (enabling again does not bring them back).

mod common;

use sha2::Digest;
use std::io::BufRead;
use std::path::Path;
use std::process::{Child, Command, Output, Stdio};
use std::time::Duration;

fn shakedown(args: &[&str], data: &Path, stdin: Option<&str>) -> Output {
    let mut child = Command::new(env!("CARGO_BIN_EXE_shakedown"))
        .args(args)
        .arg("--data-dir")
        .arg(data)
        .env_remove("DATABASE_URL")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
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

fn ok(args: &[&str], data: &Path, stdin: Option<&str>) -> String {
    let out = shakedown(args, data, stdin);
    assert!(out.status.success(), "{args:?}: {}", text(&out));
    text(&out)
}

fn new_token(data: &Path, label: &str) -> String {
    let out = shakedown(
        &["token", "add", "--user", "tia", "--label", label],
        data,
        None,
    );
    assert!(out.status.success(), "{}", text(&out));
    String::from_utf8_lossy(&out.stdout).trim().to_owned()
}

/// The id `token list` shows for a token.
fn id_of(secret: &str) -> String {
    hex::encode(sha2::Sha256::digest(secret.as_bytes()))[..12].to_owned()
}

/// `shakedown serve` on a port of its choosing; returns it and its base URL.
fn serve(data: &Path, plans: &Path) -> (Child, String) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_shakedown"))
        .args(["serve", "--addr", "127.0.0.1:0"])
        .arg("--data-dir")
        .arg(data)
        .arg("--plans-dir")
        .arg(plans)
        .env_remove("DATABASE_URL")
        .env_remove("SHAKEDOWN_LOCAL_MODE")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in std::io::BufReader::new(stdout).lines() {
            let Ok(line) = line else { break };
            if let Some(at) = line.find("http://") {
                let _ = tx.send(line[at..].trim().to_owned());
            }
        }
    });
    let base = rx
        .recv_timeout(Duration::from_secs(60))
        .expect("serve prints the address it serves");
    (child, base)
}

async fn status(base: &str, secret: &str) -> u16 {
    reqwest::Client::new()
        .get(format!("{base}/api/runs/no-such-run"))
        .bearer_auth(secret)
        .send()
        .await
        .unwrap()
        .status()
        .as_u16()
}

#[tokio::test(flavor = "multi_thread")]
async fn tokens_are_listed_revoked_and_ended_by_a_new_password_or_disabling() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let plans = dir.path().join("plans");
    std::fs::create_dir_all(&data).unwrap();
    std::fs::create_dir_all(&plans).unwrap();
    ok(
        &["user", "add", "tia", "--role", "operator"],
        &data,
        Some("a long enough password\n"),
    );
    let (first, second) = (new_token(&data, "ci"), new_token(&data, "laptop"));

    let listing = ok(&["token", "list"], &data, None);
    for (secret, label) in [(&first, "ci"), (&second, "laptop")] {
        let row = listing
            .lines()
            .find(|l| l.starts_with(&id_of(secret)))
            .unwrap_or_else(|| panic!("no row for {label}: {listing}"));
        assert!(row.contains("tia") && row.contains(label), "{row}");
        assert!(
            !listing.contains(secret.as_str()),
            "a token is never shown again"
        );
    }
    let none = ok(&["token", "list", "--user", "nobody"], &data, None);
    assert!(none.contains("no API tokens for nobody"), "{none}");

    let (mut server, base) = serve(&data, &plans);
    // Accepted: the run does not exist (404), rather than 401.
    assert_eq!(status(&base, &first).await, 404);
    assert_eq!(status(&base, &second).await, 404);

    // Revoked by id: stops at once; the other one keeps working.
    let revoked = ok(&["token", "revoke", &id_of(&first)], &data, None);
    assert!(revoked.contains("revoked"), "{revoked}");
    assert_eq!(status(&base, &first).await, 401);
    assert_eq!(status(&base, &second).await, 404);
    let again = shakedown(&["token", "revoke", &id_of(&first)], &data, None);
    assert_eq!(again.status.code(), Some(2), "{}", text(&again));
    assert!(text(&again).contains("no API token"), "{}", text(&again));

    // A new password ends the user's tokens.
    ok(
        &["user", "passwd", "tia"],
        &data,
        Some("another long password\n"),
    );
    assert_eq!(status(&base, &second).await, 401);

    // So does disabling, for good.
    let third = new_token(&data, "again");
    assert_eq!(status(&base, &third).await, 404);
    ok(&["user", "disable", "tia"], &data, None);
    ok(&["user", "enable", "tia"], &data, None);
    assert_eq!(status(&base, &third).await, 401);
    let listing = ok(&["token", "list", "--user", "tia"], &data, None);
    assert!(listing.contains("no API tokens for tia"), "{listing}");
    let _ = server.kill();
    let _ = server.wait();
}
