//! `http_load` against an `https://` target on 127.0.0.1 whose certificate
//! is signed by a throwaway CA: refused (TLS errors counted, nothing OK)
//! until the environment's `ca_file` names that CA, then every request is
//! OK over reused TLS connections; a `ca_file` that is missing or holds no
//! certificate is named in a clear error.

mod common;

use common::{context_for, environment};
use engine::kinds::http_load;
use engine::metrics::TestMetrics;
use engine::plan::{HttpLoadSpec, HttpMethod, Positive};
use engine::runner::target::Target;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use std::collections::BTreeMap;
use std::sync::Arc;

/// A CA (PEM) and an HTTPS server on 127.0.0.1 with a certificate it signed.
async fn tls_server() -> (String, String) {
    let ca_key = rcgen::KeyPair::generate().unwrap();
    let mut ca_params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
    ca_params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    ca_params
        .distinguished_name
        .push(rcgen::DnType::CommonName, "Shakedown test CA");
    let ca = ca_params.self_signed(&ca_key).unwrap();
    let leaf_key = rcgen::KeyPair::generate().unwrap();
    let leaf = rcgen::CertificateParams::new(vec!["127.0.0.1".to_owned()])
        .unwrap()
        .signed_by(&leaf_key, &ca, &ca_key)
        .unwrap();
    let config = rustls::ServerConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .unwrap()
    .with_no_client_auth()
    .with_single_cert(
        vec![CertificateDer::from(leaf.der().to_vec())],
        PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(leaf_key.serialize_der())),
    )
    .unwrap();
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((tcp, _)) = listener.accept().await {
            let acceptor = acceptor.clone();
            tokio::spawn(async move {
                let Ok(tls) = acceptor.accept(tcp).await else {
                    return;
                };
                let service = hyper::service::service_fn(|_req| async {
                    Ok::<_, std::convert::Infallible>(hyper::Response::new(
                        http_body_util::Full::new(bytes::Bytes::from_static(b"ok")),
                    ))
                });
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(hyper_util::rt::TokioIo::new(tls), service)
                    .await;
            });
        }
    });
    (format!("https://127.0.0.1:{}", addr.port()), ca.pem())
}

fn spec() -> HttpLoadSpec {
    HttpLoadSpec {
        method: HttpMethod::Get,
        path: "/".to_owned(),
        headers: BTreeMap::new(),
        body: None,
        json: None,
        expect_status: Vec::new(),
        checks: Vec::new(),
        concurrency: Positive::new(2),
        rounds: Positive::new(10),
        duration_s: None,
        rate: None,
        new_connection_per_request: false,
        timeout_ms: Positive::new(5000),
        stages: Vec::new(),
        think_time_ms: None,
        data_file: None,
        agents: None,
        allow_agent_loss: false,
        data: None,
    }
}

#[tokio::test]
async fn https_targets_are_trusted_through_the_environments_ca_file() {
    let (base, ca_pem) = tls_server().await;
    let dir = tempfile_dir();
    let ca_path = dir.join("ca.pem");
    std::fs::write(&ca_path, ca_pem).unwrap();

    // Unknown CA: every request fails, none is OK.
    let (ctx, _) = context_for(&environment(&base), "T1");
    let outcome = http_load::run(&spec(), &ctx).await;
    let TestMetrics::HttpLoad(m) = &outcome.metrics else {
        panic!("{outcome:?}")
    };
    assert_eq!((m.ok, m.fail), (0, 20), "{m:?}");

    // Trusted through ca_file: all OK.
    let mut env = environment(&base);
    env.ca_file = Some(ca_path.display().to_string());
    let (ctx, _) = context_for(&env, "T2");
    let outcome = http_load::run(&spec(), &ctx).await;
    let TestMetrics::HttpLoad(m) = &outcome.metrics else {
        panic!("{outcome:?}")
    };
    assert_eq!((m.requests, m.ok, m.fail), (20, 20, 0), "{m:?}");

    // A ca_file that cannot be used is named.
    env.ca_file = Some(dir.join("missing.pem").display().to_string());
    let err = Target::new("local", &env).unwrap_err().to_string();
    assert!(
        err.starts_with("ca_file ") && err.contains("missing.pem"),
        "{err}"
    );
    std::fs::write(dir.join("empty.pem"), "not a certificate\n").unwrap();
    env.ca_file = Some(dir.join("empty.pem").display().to_string());
    let err = Target::new("local", &env).unwrap_err().to_string();
    assert!(err.contains("empty.pem"), "{err}");
    let _ = std::fs::remove_dir_all(&dir);
}

fn tempfile_dir() -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("shakedown-tls-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}
