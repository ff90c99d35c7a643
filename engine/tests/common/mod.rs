//! Helpers shared by the engine's integration tests: local servers on
//! 127.0.0.1 port 0 and contexts pointing at them. Traffic never leaves
//! loopback.
#![allow(dead_code)]

use axum::serve::ListenerExt;
use axum::Router;
use engine::events::{ProgressEvent, Sink};
use engine::plan::Environment;
use engine::runner::context::TestContext;
use engine::runner::target::Target;
use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use tokio_util::sync::CancellationToken;

/// A server running in the test's runtime.
pub struct Server {
    pub addr: SocketAddr,
    pub connections: Arc<AtomicUsize>,
}

impl Server {
    pub fn base_url(&self) -> String {
        format!("http://{}", self.addr)
    }
}

pub async fn serve(router: Router) -> Server {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let connections = Arc::new(AtomicUsize::new(0));
    let counter = connections.clone();
    let listener = listener.tap_io(move |_| {
        counter.fetch_add(1, Ordering::Relaxed);
    });
    tokio::spawn(async move {
        axum::serve(listener, router).await.unwrap();
    });
    Server { addr, connections }
}

/// A port on 127.0.0.1 with nothing listening.
pub async fn closed_port() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.local_addr().unwrap().port()
}

pub fn environment(base_url: &str) -> Environment {
    Environment {
        base_url: base_url.to_owned(),
        allowed_hosts: vec!["127.0.0.1".to_owned()],
        health_path: None,
        readiness_path: None,
        expected_bucket: None,
        secrets: BTreeMap::new(),
        headers: BTreeMap::new(),
        description: None,
        required_approvals: None,
        ca_file: None,
        bucket: None,
        project_id: None,
        network: None,
    }
}

/// Collects every event.
#[derive(Default)]
pub struct Collect(pub Mutex<Vec<ProgressEvent>>);

impl Sink for Collect {
    fn emit(&self, event: &ProgressEvent) {
        self.0.lock().unwrap().push(event.clone());
    }
}

pub fn context(base_url: &str, id: &str) -> (TestContext, Arc<Collect>) {
    context_for(&environment(base_url), id)
}

/// A test's context against an environment of the test's own.
pub fn context_for(env: &Environment, id: &str) -> (TestContext, Arc<Collect>) {
    let env = env.clone();
    let sink = Arc::new(Collect::default());
    let ctx = TestContext {
        test_id: id.to_owned(),
        target: Arc::new(Target::new("local", &env).unwrap()),
        cancel: CancellationToken::new(),
        sink: sink.clone(),
        jobs: None,
        services: Default::default(),
        supervisor: None,
        agents: None,
    };
    (ctx, sink)
}
