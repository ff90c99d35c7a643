//! Every request Shakedown makes stays inside the environment's allowed
//! hosts on every hop: a target that redirects outside them, or to the
//! cloud metadata address, is refused; a redirect to another allowed host
//! is not followed when the environment's headers carry secrets, so the
//! secret never reaches a host the plan did not name for it. Servers on
//! 127.0.0.1 only; the metadata address is refused before any connection.

mod common;

use axum::http::{header, HeaderMap, StatusCode};
use axum::response::IntoResponse;
use axum::routing::get;
use axum::Router;
use common::{environment, serve};
use engine::runner::target::Target;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

fn redirect(to: String) -> impl IntoResponse {
    (StatusCode::FOUND, [(header::LOCATION, to)], "")
}

/// A server that counts the requests it gets and those that carried the
/// secret header.
async fn landing() -> (common::Server, Arc<AtomicUsize>, Arc<AtomicUsize>) {
    let (hits, secrets) = (Arc::new(AtomicUsize::new(0)), Arc::new(AtomicUsize::new(0)));
    let (h, s) = (hits.clone(), secrets.clone());
    let server = serve(Router::new().route(
        "/landed",
        get(move |headers: HeaderMap| {
            let (h, s) = (h.clone(), s.clone());
            async move {
                h.fetch_add(1, Ordering::SeqCst);
                if headers.contains_key("x-api-key") {
                    s.fetch_add(1, Ordering::SeqCst);
                }
                "landed"
            }
        }),
    ))
    .await;
    (server, hits, secrets)
}

/// The target: redirects to the landing server by another name, to the
/// metadata address, and to itself.
async fn redirector(landing_port: u16) -> common::Server {
    serve(
        Router::new()
            .route(
                "/elsewhere",
                get(move || async move {
                    redirect(format!("http://localhost:{landing_port}/landed"))
                }),
            )
            .route(
                "/metadata",
                get(|| async { redirect("http://169.254.169.254/latest/meta-data/".to_owned()) }),
            )
            .route("/self", get(|| async { redirect("/here".to_owned()) }))
            .route("/here", get(|| async { "here" })),
    )
    .await
}

async fn get_text(target: &Target, path: &str) -> Result<String, String> {
    let response = target
        .client
        .get(target.url(path).map_err(|e| e.to_string())?)
        .headers(target.headers.clone())
        .send()
        .await
        .map_err(|e| format!("{e:?}"))?;
    response.text().await.map_err(|e| e.to_string())
}

#[tokio::test]
async fn redirects_outside_the_allowed_hosts_and_to_metadata_are_refused() {
    let (landing, hits, _) = landing().await;
    let target_server = redirector(landing.addr.port()).await;
    let env = environment(&target_server.base_url());
    let target = Target::new("local", &env).unwrap();

    let e = get_text(&target, "/elsewhere").await.unwrap_err();
    assert!(e.contains("outside the environment's allowed_hosts"), "{e}");
    let e = get_text(&target, "/metadata").await.unwrap_err();
    assert!(e.contains("169.254.169.254"), "{e}");
    assert_eq!(
        hits.load(Ordering::SeqCst),
        0,
        "nothing reached another host"
    );

    assert_eq!(get_text(&target, "/self").await.unwrap(), "here");
}

#[tokio::test]
async fn a_secret_header_never_follows_a_redirect_to_another_host() {
    let (landing, hits, secrets) = landing().await;
    let target_server = redirector(landing.addr.port()).await;
    let mut env = environment(&target_server.base_url());
    env.allowed_hosts = vec!["127.0.0.1".to_owned(), "localhost".to_owned()];
    let var = "SHAKEDOWN_TEST_REDIRECT_SECRET";
    std::env::set_var(var, "s3cr3t-value");
    env.secrets.insert("key".to_owned(), var.to_owned());
    env.headers
        .insert("X-Api-Key".to_owned(), "${secret.key}".to_owned());
    let target = Target::new("local", &env).unwrap();

    let e = get_text(&target, "/elsewhere").await.unwrap_err();
    assert!(e.contains("carry secrets"), "{e}");
    assert_eq!(secrets.load(Ordering::SeqCst), 0);
    assert_eq!(hits.load(Ordering::SeqCst), 0);

    // The same redirect without secrets, to an allowed host, is followed.
    env.secrets.clear();
    env.headers.clear();
    let target = Target::new("local", &env).unwrap();
    assert_eq!(get_text(&target, "/elsewhere").await.unwrap(), "landed");
    assert_eq!(hits.load(Ordering::SeqCst), 1);
}
